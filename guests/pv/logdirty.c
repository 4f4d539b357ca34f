/* Log-dirty test guest (tests/logdirty.test.ts). It owns NPAGES page-aligned "area" pages, writes each
 * once at start (so their page-table entries have A and D set), prints "page <i> mfn <hex>" for each and
 * "ready", then polls xenstore's ld/cmd for "<seq> <op> <args>" and answers "done <seq>" on the console
 * after doing, once per new seq:
 *   w i,j,..  write one byte into each listed area page
 *   r i,j,..  read the listed pages (no write)
 *   p i       mmu_update: rewrite the L1 entry mapping page i (AVL bit 9 toggled); prints "l1 <mfn>"
 *   h i       the hypervisor writes page i (xen_version(XENVER_extraversion) into it)
 *   c i       MMUEXT_CLEAR_PAGE of page i (by mfn)
 *   g i,j     GNTTABOP_copy of 64 bytes from page i to page j (our own frames, by mfn)
 *   G i       grant page i to dom0 (writable, ref 8); prints "granted 8"
 *   m         increase_reservation of 2 frames A and B, then B given back; prints "alloc A freed B"
 *   q         power off
 * Between commands it only polls (its stack, the xenstore ring and its buffers, the printf buffer are
 * written; no area page is): it prints those frames as "noise <what> <mfn>" lines before "ready". */
#include "pv.h"

#include "pt.h"

#define NPAGES 64
#define MMUEXT_CLEAR_PAGE 16
#define GNTTABOP_copy 5
#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1

static volatile uint8_t area[NPAGES][4096] __attribute__((aligned(4096)));
static xen_ulong_t *p2m;

struct gnttab_copy_ptr { xen_ulong_t u; uint16_t domid, offset; };
struct gnttab_copy { struct gnttab_copy_ptr source, dest; uint16_t len, flags; int16_t status; };
struct reservation { xen_ulong_t extent_start; xen_ulong_t nr_extents; uint32_t extent_order, mem_flags; uint16_t domid; };

static unsigned long pfn_of(const volatile void *p) { return ((unsigned long)p - VIRT_BASE) >> 12; }
static unsigned long mfn_of_page(int i) { return p2m[pfn_of(area[i])]; }


static volatile struct grant_entry *gt;
static xen_ulong_t gframe;
extern char _data[], _end[];

static void grant_setup(void)
{
	gframe = pv_grant_table_setup();
	if (gframe == 0) { printf("setup_table failed\n"); return; }
	gt = (volatile struct grant_entry *)pv_free_va(2);
	if (pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3) != 0) { printf("grant table not mapped\n"); gt = 0; }
}

/* "i,j,k" -> up to 8 page numbers; returns how many. */
static int parse_list(const char *s, int *out)
{
	int n = 0;
	while (*s && n < 8) {
		int v = 0, any = 0;
		while (*s >= '0' && *s <= '9') { v = v * 10 + (*s++ - '0'); any = 1; }
		if (any && v < NPAGES) out[n++] = v;
		if (*s == ',') s++; else break;
	}
	return n;
}

static void command(char op, const char *args)
{
	int p[8];
	int n = parse_list(args, p);
	switch (op) {
	case 'w':
		for (int k = 0; k < n; k++) area[p[k]][100]++;
		break;
	case 'r': {
		unsigned sum = 0;
		for (int k = 0; k < n; k++) sum += area[p[k]][100] + area[p[k]][4000];
		printf("sum %u\n", sum);
		break;
	}
	case 'p': {
		if (n < 1) break;
		uint64_t ma = l1e_ma((unsigned long)area[p[0]]);
		volatile uint64_t *e = (volatile uint64_t *)(va_of_pfn(M2P[ma >> 12]) + (unsigned long)(ma & 0xfff));
		struct mmu_update u = { ma, *e ^ 0x200 };
		uint32_t done = 0;
		long rc = hypercall5(__HYPERVISOR_mmu_update, (long)&u, 1, (long)&done, DOMID_SELF, 0);
		printf("l1 %lx rc %ld\n", (unsigned long)(ma >> 12), rc);
		break;
	}
	case 'h':
		if (n >= 1) HYPERVISOR(__HYPERVISOR_xen_version, 1 /* XENVER_extraversion */, (void *)&area[p[0]][200], 0);
		break;
	case 'c': {
		if (n < 1) break;
		struct mmuext_op op = { MMUEXT_CLEAR_PAGE, mfn_of_page(p[0]), 0 };
		long rc = hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, 0, DOMID_SELF, 0);
		printf("clear rc %ld\n", rc);
		break;
	}
	case 'g': {
		if (n < 2) break;
		struct gnttab_copy c = { { mfn_of_page(p[0]), DOMID_SELF, 0 }, { mfn_of_page(p[1]), DOMID_SELF, 512 }, 64, 0, 0 };
		long rc = HYPERVISOR(__HYPERVISOR_grant_table_op, GNTTABOP_copy, &c, 1);
		printf("copy rc %ld status %d\n", rc, c.status);
		break;
	}
	case 'G':
		if (n < 1 || !gt) break;
		gt[8].frame = (uint32_t)mfn_of_page(p[0]);
		gt[8].domid = 0;
		__atomic_store_n(&gt[8].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
		printf("granted 8\n");
		break;
	case 'm': {
		xen_ulong_t got[2] = { 0, 0 };
		struct reservation r = { (xen_ulong_t)got, 2, 0, 0, DOMID_SELF };
		long a = HYPERVISOR(__HYPERVISOR_memory_op, XENMEM_increase_reservation, &r, 0);
		struct reservation d = { (xen_ulong_t)&got[1], 1, 0, 0, DOMID_SELF };
		long f = HYPERVISOR(__HYPERVISOR_memory_op, XENMEM_decrease_reservation, &d, 0);
		printf("alloc %lx freed %lx (%ld %ld)\n", (unsigned long)got[0], (unsigned long)got[1], a, f);
		break;
	}
	}
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	xs_init(pv_free_va(5));
	grant_setup();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	for (int i = 0; i < NPAGES; i++) { area[i][0] = (uint8_t)i; area[i][4000] = 1; }
	for (int i = 0; i < NPAGES; i++) printf("page %d mfn %lx\n", i, mfn_of_page(i));
	/* Frames this loop itself may write (or the hypervisor and host write for it): our writable image
	 * outside the area (runtime, xenstore and printf buffers), the stack around here, shared_info, the
	 * xenstore ring, the grant table. */
	unsigned long a0 = pfn_of(area[0]), a1 = pfn_of(area[NPAGES - 1]);
	for (unsigned long pfn = pfn_of(_data); pfn < ((unsigned long)_end - VIRT_BASE + 4095) >> 12; pfn++)
		if (pfn < a0 || pfn > a1) printf("noise data %lx\n", (unsigned long)p2m[pfn]);
	unsigned long sp = pfn_of(&a0);
	for (unsigned long pfn = sp - 1; pfn <= sp + 1; pfn++) printf("noise stack %lx\n", (unsigned long)p2m[pfn]);
	printf("noise shared %lx\n", (unsigned long)(start_info->shared_info >> 12));
	printf("noise store %lx\n", (unsigned long)start_info->store_mfn);
	printf("noise gnttab %lx\n", (unsigned long)gframe);
	printf("ready\n");
	char buf[64];
	int last = 0;
	for (;;) {
		if (xs_read("ld/cmd", buf, sizeof(buf)) <= 0) continue;
		const char *s = buf;
		int seq = 0;
		while (*s >= '0' && *s <= '9') seq = seq * 10 + (*s++ - '0');
		if (seq == last || *s != ' ') continue;
		last = seq;
		char op = s[1];
		if (op == 'q') { printf("done %d\n", seq); return 0; }
		command(op, s[1] ? s + 2 + (s[2] == ' ') : s + 1);
		printf("done %d\n", seq);
	}
}
