/* Long hypercalls are preempted by continuations (as Xen's hypercall_preempt_check): one mmu_update of
 * 200000 MMU_MACHPHYS_UPDATE entries (the done count accumulated through done_out across the
 * continuations, the values written checked in the read-only M2P), the same batch failing at entry
 * 150000 (done = 150000), a decrease_reservation then a populate_physmap of 3000 extents (the
 * start_extent encoding in memory_op's cmd), and a multicall whose first entry is a preempted
 * mmu_update of 5000 entries; last, the same batch again, whose count register and done count the guest
 * rewrites in an event handler while it is preempted. The test (tests/preempt.test.ts) runs a counter beside it and checks the
 * hypervisor made continuations and ran the counter in between. Prints "ok:"/"FAIL:" lines and a verdict.
 * Run it with 32 MiB: the request list alone is 3.2 MB. */
#include "pv.h"
#include "pt.h"

#define XENMEM_decrease_reservation 1
#define XENMEM_current_reservation 3
#define XENMEM_populate_physmap 6
#define MMU_MACHPHYS_UPDATE 1
#define NREQ 200000
#define NFR 256 /* frames whose M2P entries the batch rewrites, in turn */
#define NEXT 3000
#define MMUEXT_COPY_PAGE 17
#define NXOP 2000
#define NGC 3000

struct reservation {
	xen_ulong_t extent_start;
	xen_ulong_t nr_extents;
	uint32_t extent_order, mem_flags;
	uint16_t domid;
};
struct multicall_entry { xen_ulong_t op, result, args[6]; };

static struct mmu_update reqs[NREQ];
static volatile int armed, tampered;
static volatile uint32_t tdone;
static unsigned tport;

/* An event from the host on `tport` while the last batch is preempted: the handler, which runs before
 * the hypercall is made again, rewrites what the continuation left (the count register, keeping the
 * preempted bit, and the done count in memory). The hypervisor must take both as the guest's word. */
void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) {
		unsigned before = pv_event_count[tport];
		pv_event();
		if (armed && pv_event_count[tport] != before) {
			armed = 0;
#if defined(__x86_64__)
			if (f->rax == __HYPERVISOR_mmu_update && (f->rsi & 0x80000000UL)) { f->rsi = 2 | 0x80000000UL; tdone = 1000000; tampered = 1; }
#else
			if (f->rax == __HYPERVISOR_mmu_update && (f->ecx & 0x80000000UL)) { f->ecx = 2 | 0x80000000UL; tdone = 1000000; tampered = 1; }
#endif
		}
		return;
	}
	if (pv_try_write_fixup(f)) return;
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}
static xen_ulong_t ext[NEXT];
static struct mmuext_op xops[NXOP];
static uint8_t srcpg[4096] __attribute__((aligned(4096)));
static xen_ulong_t *p2m;

static long mmu_update(struct mmu_update *r, unsigned long n, uint32_t *done)
{
	return hypercall5(__HYPERVISOR_mmu_update, (long)r, (long)n, (long)done, DOMID_SELF, 0);
}
static long memop(int cmd, void *arg) { return HYPERVISOR(__HYPERVISOR_memory_op, cmd, arg, 0); }

/* The M2P entries of the NFR frames (pfns 16..16+NFR-1) back to their pfns. */
static long m2p_restore(void)
{
	static struct mmu_update r[NFR];
	for (unsigned f = 0; f < NFR; f++) { r[f].ptr = ((uint64_t)p2m[16 + f] << 12) | MMU_MACHPHYS_UPDATE; r[f].val = 16 + f; }
	uint32_t done = 0;
	long rc = mmu_update(r, NFR, &done);
	return rc == 0 && done == NFR ? 0 : -1;
}

/* Every M2P entry as the batch's last write to it left it. */
static int m2p_written(unsigned long n)
{
	int bad = 0;
	for (unsigned f = 0; f < NFR; f++) {
		unsigned long last = ((n - 1 - f) / NFR) * NFR + f; /* the last k < n with k % NFR == f */
		if (M2P[p2m[16 + f]] != 0x100000 + last) bad++;
	}
	return bad;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	struct alloc_unbound au = { DOMID_SELF, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "a port for the host");
	tport = au.port;
	printf("tamper port %u\n", tport);
	pv_console_flush();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long nr = start_info->nr_pages;

	for (unsigned long k = 0; k < NREQ; k++) {
		reqs[k].ptr = ((uint64_t)p2m[16 + k % NFR] << 12) | MMU_MACHPHYS_UPDATE;
		reqs[k].val = 0x100000 + k;
	}
	uint32_t done = 7; /* not read: the first call is not a preempted one */
	printf("batch: start\n");
	long rc = mmu_update(reqs, NREQ, &done);
	CHECK(rc == 0 && done == NREQ, "mmu_update of %u entries: rc %ld, done %u", NREQ, rc, (unsigned)done);
	CHECK(m2p_written(NREQ) == 0, "every M2P entry holds the batch's last value for it");
	CHECK(m2p_restore() == 0 && M2P[p2m[16]] == 16, "M2P restored");

	/* A bad entry at 150000: the batch stops there, done counts the entries before it (accumulated over
	 * the continuations), the ones after it are not done. */
	uint64_t keep = reqs[150000].ptr;
	reqs[150000].ptr = (0xffff0ULL << 12) | MMU_MACHPHYS_UPDATE;
	done = 0;
	rc = mmu_update(reqs, NREQ, &done);
	CHECK(rc == -EINVAL && done == 150000, "a bad entry at 150000: rc %ld, done %u", rc, (unsigned)done);
	CHECK(m2p_written(150000) == 0, "the entries before it were done, none after");
	reqs[150000].ptr = keep;
	CHECK(m2p_restore() == 0, "M2P restored");

	/* decrease_reservation of NEXT frames (the top of our memory, outside the initial mapping), then
	 * populate_physmap of as many. */
	uint16_t self = DOMID_SELF;
	long cur = memop(XENMEM_current_reservation, &self);
	for (unsigned i = 0; i < NEXT; i++) ext[i] = p2m[nr - NEXT + i];
	struct reservation r = { (xen_ulong_t)ext, NEXT, 0, 0, DOMID_SELF };
	rc = memop(XENMEM_decrease_reservation, &r);
	CHECK(rc == NEXT, "decrease_reservation of %u extents returned %ld", NEXT, rc);
	CHECK(memop(XENMEM_current_reservation, &self) == cur - NEXT, "the reservation shrank by %u", NEXT);
	for (unsigned i = 0; i < NEXT; i++) ext[i] = nr - NEXT + i;
	rc = memop(XENMEM_populate_physmap, &r);
	CHECK(rc == NEXT, "populate_physmap of %u extents returned %ld", NEXT, rc);
	int bad = 0;
	for (unsigned i = 0; i < NEXT; i++) {
		if (M2P[ext[i]] != nr - NEXT + i) bad++;
		else p2m[nr - NEXT + i] = ext[i];
	}
	CHECK(bad == 0, "each populated extent is a frame whose M2P entry is its pfn (%d wrong)", bad);
	CHECK(memop(XENMEM_current_reservation, &self) == cur, "the reservation is back to %ld", cur);
	/* A resumed call whose start_extent is past the end does nothing and returns it. */
	CHECK(memop(XENMEM_populate_physmap | (NEXT << 6), &r) == NEXT, "start_extent past the end returns it");

	/* mmuext_op: NXOP page copies from srcpg into 8 of the populated frames (the done count carried
	 * through the continuation as for mmu_update). */
	for (unsigned i = 0; i < 4096; i++) srcpg[i] = (uint8_t)(i * 7 + 3);
	xen_ulong_t src_mfn = p2m[((unsigned long)srcpg - VIRT_BASE) >> 12];
	for (unsigned i = 0; i < NXOP; i++) { xops[i].cmd = MMUEXT_COPY_PAGE; xops[i].arg1 = ext[i % 8]; xops[i].arg2 = src_mfn; }
	done = 0;
	rc = hypercall5(__HYPERVISOR_mmuext_op, (long)xops, NXOP, (long)&done, DOMID_SELF, 0);
	CHECK(rc == 0 && done == NXOP, "mmuext_op of %u copies: rc %ld, done %u", NXOP, rc, (unsigned)done);
	unsigned long va = pv_free_va(3);
	int same = 1;
	for (unsigned k = 0; k < 8; k += 7) {
		CHECK(pv_map(va, (uint64_t)ext[k] << 12, 3) == 0, "a copied frame maps");
		for (unsigned i = 0; i < 4096; i++) if (((volatile uint8_t *)va)[i] != srcpg[i]) same = 0;
	}
	CHECK(same, "the copies hold the source page");

	/* grant_table_op: NGC copies of 64 bytes (own frames by machine number) in one batch: continued
	 * with the handle moved on and the count reduced, every status written, every byte copied. */
	{
		static struct gcopy { struct { xen_ulong_t u; uint16_t domid, offset; } src, dst; uint16_t len, flags; int16_t status; } gc[NGC];
		for (unsigned i = 0; i < NGC; i++) {
			unsigned off = (i * 64) % 4096;
			gc[i].src.u = src_mfn; gc[i].src.domid = DOMID_SELF; gc[i].src.offset = (uint16_t)off;
			gc[i].dst.u = ext[8 + (i / 64) % 8]; gc[i].dst.domid = DOMID_SELF; gc[i].dst.offset = (uint16_t)off;
			gc[i].len = 64; gc[i].flags = 0; gc[i].status = 99;
		}
		rc = HYPERVISOR(__HYPERVISOR_grant_table_op, 5 /* GNTTABOP_copy */, gc, NGC);
		int st = 0;
		for (unsigned i = 0; i < NGC; i++) if (gc[i].status != 0) st++;
		CHECK(rc == 0 && st == 0, "grant copy batch of %u: rc %ld, %d statuses not 0", NGC, rc, st);
		int gsame = 1;
		pv_map(va, (uint64_t)ext[8] << 12, 3);
		for (unsigned i = 0; i < 4096; i++) if (((volatile uint8_t *)va)[i] != srcpg[i]) gsame = 0;
		CHECK(gsame, "the grant copies hold the source bytes");
	}

	/* A multicall: its first entry (mmu_update of 5000) is preempted; the multicall continues from it. */
	struct multicall_entry mc[2];
	uint32_t done3 = 0;
	mc[0].op = __HYPERVISOR_mmu_update; mc[0].result = 99;
	mc[0].args[0] = (xen_ulong_t)reqs; mc[0].args[1] = 5000; mc[0].args[2] = (xen_ulong_t)&done3; mc[0].args[3] = DOMID_SELF;
	mc[1].op = __HYPERVISOR_xen_version; mc[1].result = 99; mc[1].args[0] = 0; mc[1].args[1] = 0;
	rc = HYPERVISOR(__HYPERVISOR_multicall, mc, 2, 0);
	long ver = HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	CHECK(rc == 0 && mc[0].result == 0 && done3 == 5000, "multicall: mmu_update of 5000 done (rc %ld, result %ld, done %u)", rc, (long)mc[0].result, (unsigned)done3);
	CHECK(m2p_written(5000) == 0, "its M2P values written");
	CHECK(mc[1].result == (xen_ulong_t)ver, "the multicall's next entry ran after it");
	CHECK(m2p_restore() == 0, "M2P restored");
	/* The same batch, changed by the guest while it is preempted (the host sends the event once the
	 * batch has made a continuation after this line): the resumed call does the 2 entries it is now
	 * asked for and adds them to the done count the guest wrote. */
	CHECK(m2p_restore() == 0, "M2P restored");
	printf("tamper: start\n");
	pv_console_flush();
	armed = 1;
	rc = mmu_update(reqs, NREQ, (uint32_t *)&tdone);
	armed = 0;
	CHECK(tampered && rc == 0 && tdone == 1000002, "arguments changed while preempted: taken as given (tampered %d, rc %ld, done %u)", tampered, rc, (unsigned)tdone);
	CHECK(m2p_restore() == 0, "M2P restored");
	printf("batch: end\n");
	printf("preempt: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
