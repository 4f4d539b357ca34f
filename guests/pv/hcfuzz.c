/* A hostile guest: seeded random and edge-case hypercalls (issue 12). Call i of seed S is a function
 * of (S, i) alone, so the host can restart the guest after call i killed it ("start=" i+1) and the run
 * stays reproducible. Before each call the guest writes i at start_info->cmd_line[1016] (the host reads
 * it there). Arguments come from pools of edge values: 0, small numbers, -1, huge counts, random
 * words, pointers to a buffer of such words (whole, at a page end), NULL-page pointers, Xen's area,
 * non-canonical addresses, the guest's own page tables and the M2P (mapped read-only), unmapped VAs,
 * its own machine frames and others' (near its own, and random), domain ids. Calls that end or
 * stop the caller by design (SCHEDOP_shutdown/block/poll, iret, VCPUOP_down) are not made; any other
 * call may kill the guest, which is its own business.
 * Command line: seed=S start=K count=N (calls K .. N-1), verbose=1 (print each call first). Prints
 * "hcfuzz: done" and powers off. */
#include "pv.h"

#define PROGRESS_OFF 1016

static uint64_t rs;
static uint64_t rnd(void)
{
	rs += 0x9e3779b97f4a7c15ULL;
	uint64_t z = rs;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static unsigned rndn(unsigned n) { return (uint32_t)(rnd() >> 32) % n; }

static uint8_t buf[3 * 4096] __attribute__((aligned(4096)));
static xen_ulong_t *p2m;
static unsigned long nr_pages;

#if defined(__x86_64__)
#define XEN_AREA 0xffff800000000000UL
#define M2P_VA 0xffff800000000000UL
#define NONCANON 0x0000800000000000UL
#define UNMAPPED 0xffffffffc0000000UL
#else
#define XEN_AREA 0xf5800000UL
#define M2P_VA 0xf5800000UL
#define NONCANON 0xfffff000UL
#define UNMAPPED 0xe0000000UL
#endif

static unsigned long own_mfn(void) { return p2m[rndn(nr_pages)]; }

static unsigned long arg(int small)
{
	unsigned k = rndn(small ? 6 : 19);
	switch (k) {
	case 0: return 0;
	case 1: return rndn(8);
	case 2: return rndn(40);
	case 3: return (unsigned long)-1L;
	case 4: return (unsigned long)rnd();
	case 5: { static const unsigned long huge[] = { 0x7fffffffUL, 0x80000000UL, 0xffffffffUL, 1UL << 20, 4096, 4097, 0xffff, 0x10000 }; return huge[rndn(8)]; }
	case 6: return (unsigned long)buf + rndn(2 * 4096);
	case 7: return (unsigned long)buf + 4096 - 1 - rndn(16); /* fields cross into the next page */
	case 8: return rndn(4096); /* the NULL page */
	case 9: return XEN_AREA + (rnd() & 0x7ffffff8UL);
	case 10: return NONCANON + (rnd() & 0xffff8UL);
	case 11: return start_info->pt_base + rndn(start_info->nr_pt_frames ? start_info->nr_pt_frames : 1) * 4096 + rndn(4096);
	case 12: return M2P_VA + (rnd() & 0xfffff8UL);
	case 13: return UNMAPPED + (rnd() & 0xffff8UL);
	case 14: return own_mfn() << (rndn(2) ? 12 : 0) | (rndn(2) ? rndn(8) * 8 : 0);
	case 15: { unsigned long m = own_mfn() + rndn(64) - 32; return rndn(2) ? m : (m << 12) | 1; } /* neighbours: others' frames */
	case 16: return rndn(0x40000); /* any frame */
	case 17: { static const unsigned long ids[] = { 0, 1, 2, 3, 0x7ff0, 0x7ff1, 0x7ff2, 0x7ff4, 0x7fff, 0xffff }; return ids[rndn(10)]; }
	default: return (unsigned long)start_info + rndn(4096);
	}
}

/* The buffer: words of the same pools (structures get plausible pointers, counts and frames). All of
 * it at the start; before each call, the words where the call's pointers land and a few others. */
static void fill_words(unsigned long *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) w[i] = rndn(4) ? arg(rndn(2)) : (unsigned long)rnd();
}
static void fill(const unsigned long *a)
{
	unsigned long *w = (unsigned long *)buf;
	const unsigned nw = 2 * 4096 / sizeof(unsigned long);
	for (int j = 0; j < 5; j++) {
		if (a[j] < (unsigned long)buf || a[j] >= (unsigned long)buf + 2 * 4096) continue;
		unsigned k = (unsigned)((a[j] - (unsigned long)buf) / sizeof(unsigned long));
		fill_words(w + k, k + 24 <= nw ? 24 : nw - k);
	}
	for (unsigned i = 0; i < 16; i++) fill_words(w + rndn(nw), 1);
	/* Some 16- and 32-bit fields too (domid_t, ports, flags). */
	for (unsigned i = 0; i < 8; i++) ((uint16_t *)buf)[rndn(4096)] = (uint16_t)arg(1);
}

static long call(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8) : "0"(nr) : "rcx", "r11", "r9", "memory");
	return ret;
#else
	long ret;
	__asm__ volatile("int $0x82" : "=a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5) : "0"(nr) : "memory");
	return ret;
#endif
}

int pv_main(void)
{
	unsigned long seed = (unsigned long)pv_arg("seed", 1);
	unsigned long start = (unsigned long)pv_arg("start", 0);
	unsigned long count = (unsigned long)pv_arg("count", 1000);
	volatile uint32_t *progress = (volatile uint32_t *)(start_info->cmd_line + PROGRESS_OFF);
	p2m = (xen_ulong_t *)start_info->mfn_list;
	nr_pages = start_info->nr_pages;
	int verbose = pv_arg("verbose", 0);
	unsigned long errors = 0, zero = 0;
	rs = seed;
	fill_words((unsigned long *)buf, 2 * 4096 / sizeof(unsigned long));
	for (unsigned long i = start; i < count; i++) {
		*progress = (uint32_t)i;
		rs = seed * 0x2545f4914f6cdd1dULL ^ (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		rnd();
		unsigned long nr;
		unsigned k = rndn(10);
		if (k < 7) nr = rndn(42);
		else if (k < 9) nr = rndn(64);
		else { static const unsigned long beyond[] = { 64, 65, 100, 127, 128, 255, 0xffffffffUL, (unsigned long)-1L, 0x80000000UL }; nr = beyond[rndn(9)]; }
		unsigned long a[5];
		a[0] = arg(rndn(3) != 0); /* mostly a small command / sub-op */
		for (int j = 1; j < 5; j++) a[j] = arg(0);
		fill(a);
		/* Calls that end or stop the caller by design. */
		if (nr == __HYPERVISOR_iret) continue;
		if (nr == __HYPERVISOR_sched_op && (a[0] == SCHEDOP_block || a[0] == SCHEDOP_shutdown || a[0] == SCHEDOP_poll)) continue;
		if (nr == __HYPERVISOR_vcpu_op && (uint32_t)a[0] == 2 /* VCPUOP_down */) continue;
		/* The old sched_op (6) may block or shut down too, and so may a multicall's entries: in a
		 * multicall no word of the buffer (where its list may point) names sched_op or vcpu_op. */
		if (nr == 6 && (a[0] == 1 || a[0] == 2)) continue;
		if (nr == __HYPERVISOR_multicall) {
			xen_ulong_t *e = (xen_ulong_t *)buf;
			for (unsigned j = 0; j < 2 * 4096 / sizeof(xen_ulong_t); j++)
				if (e[j] == __HYPERVISOR_sched_op || e[j] == 6 || e[j] == __HYPERVISOR_vcpu_op) e[j] = __HYPERVISOR_xen_version;
		}
		if (verbose) { printf("call %lu: %lx(%lx, %lx, %lx, %lx, %lx)\n", i, nr, a[0], a[1], a[2], a[3], a[4]); pv_console_flush(); }
		long r = call(nr, a[0], a[1], a[2], a[3], a[4]);
		if (r < 0) errors++; else zero++;
	}
	*progress = (uint32_t)count;
	printf("hcfuzz: done %lu %lu %lu\n", start, errors, zero);
	return 0;
}
