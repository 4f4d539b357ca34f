/* Batches of up to 10^6 entries (issue 12: "a multicall or mmu_update batch of 10^6 entries cannot stall
 * the other domains' slices"): one mmu_update of n MMU_MACHPHYS_UPDATE entries, one multicall of n
 * entries (mostly one-entry mmu_updates, with xen_version and unknown hypercalls among them: each
 * entry's result checked), one GNTTABOP_copy of n 4-byte copies (some with a bad length: each status
 * checked, every byte copied). n is "n=" on the command line (at most 1000000). Each batch is announced
 * ("phase X: start", "phase X: end") so that tests/bigbatch.test.ts and bench/bigbatch.ts can check that
 * a second domain kept running between the batch's continuations. Run it with 128 MiB: its arrays take
 * 84 MB (64-bit). Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"
#include "pt.h"

#define MMU_MACHPHYS_UPDATE 1
#define NMAX 1000000
#define NFR 256 /* frames whose M2P entries the batches rewrite, in turn */
#define NDST 1024 /* destination frames of the copies: 4 MiB, 4 bytes per copy */

struct multicall_entry { xen_ulong_t op, result, args[6]; };
struct gcopy { struct { xen_ulong_t u; uint16_t domid, offset; } src, dst; uint16_t len, flags; int16_t status; };

static struct mmu_update reqs[NMAX];
static union { struct multicall_entry mc[NMAX]; struct gcopy gc[NMAX]; } big;
static uint8_t dst[NDST * 4096] __attribute__((aligned(4096)));
static uint8_t srcpg[4096] __attribute__((aligned(4096)));
static xen_ulong_t *p2m;

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

static long mmu_update(struct mmu_update *r, unsigned long n, uint32_t *done)
{
	return hypercall5(__HYPERVISOR_mmu_update, (long)r, (long)n, (long)done, DOMID_SELF, 0);
}
static xen_ulong_t mfn_of(const void *p) { return p2m[((unsigned long)p - VIRT_BASE) >> 12]; }

static void phase(const char *what)
{
	printf("phase %s\n", what);
	pv_console_flush();
}

/* The multicall's entry k: every 1000th one xen_version(0), every 4096th (from 17) an unknown
 * hypercall (-ENOSYS), the others mmu_update(&reqs[k], 1, NULL, DOMID_SELF). */
static int mc_kind(unsigned long k) { return k % 1000 == 999 ? 1 : k % 4096 == 17 ? 2 : 0; }

/* Every M2P entry of the NFR frames holds the last value the first n requests (those `skip` leaves)
 * wrote to it. */
static int m2p_written(unsigned long n, int multicall)
{
	int bad = 0;
	for (unsigned f = 0; f < NFR && f < n; f++) {
		long k = (long)((n - 1 - f) / NFR) * NFR + f;
		while (k >= 0 && multicall && mc_kind((unsigned long)k) != 0) k -= NFR;
		if (k >= 0 && M2P[p2m[16 + f]] != reqs[k].val) bad++;
	}
	return bad;
}
static void m2p_restore(void)
{
	static struct mmu_update r[NFR];
	for (unsigned f = 0; f < NFR; f++) {
		r[f].ptr = ((uint64_t)p2m[16 + f] << 12) | MMU_MACHPHYS_UPDATE;
		r[f].val = 16 + f;
	}
	uint32_t done = 0;
	CHECK(mmu_update(r, NFR, &done) == 0 && done == NFR, "M2P restored");
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = (unsigned long)pv_arg("n", 200000);
	if (n > NMAX || n < 4096) { printf("FAIL: n=%lu out of range\n", n); return 1; }
	long ver = HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);

	/* 1. mmu_update of n entries. */
	for (unsigned long k = 0; k < n; k++) {
		reqs[k].ptr = ((uint64_t)p2m[16 + k % NFR] << 12) | MMU_MACHPHYS_UPDATE;
		reqs[k].val = 0x100000 + k;
	}
	uint32_t done = 0;
	phase("mmu: start");
	long rc = mmu_update(reqs, n, &done);
	phase("mmu: end");
	CHECK(rc == 0 && done == n, "mmu_update of %lu entries: rc %ld, done %u", n, rc, (unsigned)done);
	CHECK(m2p_written(n, 0) == 0, "every M2P entry holds the batch's last value for it");
	m2p_restore();

	/* 2. A multicall of n entries. */
	struct multicall_entry *mc = big.mc;
	for (unsigned long k = 0; k < n; k++) {
		mc[k].result = 0x55;
		switch (mc_kind(k)) {
		case 1: mc[k].op = __HYPERVISOR_xen_version; mc[k].args[0] = 0; mc[k].args[1] = 0; break;
		case 2: mc[k].op = 60; break;
		default:
			mc[k].op = __HYPERVISOR_mmu_update; mc[k].args[0] = (xen_ulong_t)&reqs[k]; mc[k].args[1] = 1;
			mc[k].args[2] = 0; mc[k].args[3] = DOMID_SELF;
		}
	}
	phase("multicall: start");
	rc = HYPERVISOR(__HYPERVISOR_multicall, mc, n, 0);
	phase("multicall: end");
	unsigned long wrong = 0, first = n;
	for (unsigned long k = 0; k < n; k++) {
		int kind = mc_kind(k);
		xen_ulong_t want = kind == 1 ? (xen_ulong_t)ver : kind == 2 ? (xen_ulong_t)-ENOSYS : 0;
		if (mc[k].result != want) { wrong++; if (first == n) first = k; }
	}
	CHECK(rc == 0 && wrong == 0, "multicall of %lu entries: rc %ld, %lu results wrong (the first at %lu)",
	      n, rc, wrong, first);
	CHECK(m2p_written(n, 1) == 0, "its mmu_updates all done, in order");
	m2p_restore();

	/* 3. GNTTABOP_copy of n copies of 4 bytes (our own frames by machine number): copy k takes srcpg's
	 * bytes at (k * 4) % 4096 to dst at k * 4; every 100000th (from 5) has a length past the page. */
	for (unsigned i = 0; i < 4096; i++) srcpg[i] = (uint8_t)(i * 7 + 3);
	memset(dst, 0, sizeof(dst));
	struct gcopy *gc = big.gc;
	xen_ulong_t src_mfn = mfn_of(srcpg);
	for (unsigned long k = 0; k < n; k++) {
		unsigned long at = (k * 4) % sizeof(dst);
		gc[k].src.u = src_mfn; gc[k].src.domid = DOMID_SELF; gc[k].src.offset = (uint16_t)((k * 4) % 4096);
		gc[k].dst.u = mfn_of(dst + at); gc[k].dst.domid = DOMID_SELF; gc[k].dst.offset = (uint16_t)(at % 4096);
		gc[k].len = k % 100000 == 5 ? 4093 : 4; gc[k].flags = 0; gc[k].status = 99;
	}
	phase("copy: start");
	rc = HYPERVISOR(__HYPERVISOR_grant_table_op, 5 /* GNTTABOP_copy */, gc, n);
	phase("copy: end");
	wrong = 0; first = n;
	for (unsigned long k = 0; k < n; k++) {
		int want = k % 100000 == 5 ? -10 /* GNTST_bad_copy_arg */ : 0;
		if (gc[k].status != want) { wrong++; if (first == n) first = k; }
	}
	CHECK(rc == 0 && wrong == 0, "grant copy batch of %lu: rc %ld, %lu statuses wrong (the first at %lu)",
	      n, rc, wrong, first);
	unsigned long bytes = n * 4 < sizeof(dst) ? n * 4 : sizeof(dst), badb = 0;
	for (unsigned long i = 0; i < bytes; i++) {
		unsigned long k = i / 4; /* the last copy to write byte i was k + j * NDST * 1024 for the largest j */
		while (k + NDST * 1024 < n) k += NDST * 1024;
		uint8_t want = k % 100000 == 5 ? 0 : srcpg[(k * 4 + i % 4) % 4096];
		if (k % 100000 == 5) { /* a refused copy: the earlier one at this place stands, if any */
			if (k >= NDST * 1024) want = srcpg[((k - NDST * 1024) * 4 + i % 4) % 4096];
		}
		if (dst[i] != want) badb++;
	}
	CHECK(badb == 0, "every copied byte arrived (%lu wrong of %lu)", badb, bytes);
	printf("bigbatch: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
