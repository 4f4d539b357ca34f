/* A blkfront for tests (io/blkif.h): finds its disk in xenstore (device/vbd/51712, xvda), shares a ring
 * and data pages with the backend (dom0) through grants, connects with this width's ABI, then sends
 * good requests (a read of one segment, an indirect read of two, an indirect write) and malformed ones
 * (bad segment counts, bad grants, sectors outside a page or the disk, an unknown operation), each of
 * which must be answered with an error while the disk stays connected. The disk holds byte
 * (offset / 512) & 0xff at each offset (the test writes it so).
 * With "gntv2=1" on the command line the grant table is switched to version 2 first (v2 entries; the
 * backend's mappings show in the status frame, not in the entries, and keep the table from going back
 * to v1). Prints "ok:"/"FAIL:" lines and "blk: PASSED" (or FAILED), then powers off.
 * With "count=1" it does none of that and counts its boots on the disk instead (a disk that persists:
 * the web page's, tests/web.test.ts): sector 0 holds COUNT_MAGIC and a u32 count at byte 16 (a disk
 * without the magic counts as 0); it prints "blk: the disk's count was N", writes N + 1 to sector 0 alone,
 * flushes, reads it back and prints "blk: the disk's count is now N + 1" (or FAIL lines). */
#include "pv.h"

#define FE "device/vbd/51712" /* our device directory in xenstore */

/* io/ring.h + io/blkif.h: the natural layout of each width is its ABI (uint64_t is 4-aligned on i386). */
struct sring_hdr { uint32_t req_prod, req_event, rsp_prod, rsp_event; uint8_t pad[48]; };
struct seg { uint32_t gref; uint8_t first, last; uint16_t pad; };
struct req { uint8_t op, nseg; uint16_t handle; uint64_t id, sector; struct seg seg[11]; };
struct ireq { uint8_t op, iop; uint16_t nseg; uint64_t id, sector; uint16_t handle, pad; uint32_t igref[8]; };
struct rsp { uint64_t id; uint8_t op; int16_t status; };
union ent { struct req req; struct ireq ireq; struct rsp rsp; };
struct sring { struct sring_hdr h; union ent ring[32]; };
#define RING 32
#define OP_READ 0
#define OP_WRITE 1
#define OP_INDIRECT 6
#define RSP_OKAY 0
#define RSP_ERROR (-1)
#define RSP_EOPNOTSUPP (-2)
#define OP_FLUSH 3
#define COUNT_MAGIC "xenwasm-count\n"

#define GREF_RING 8
#define GREF_DATA 9 /* 9, 10: data pages */
#define GREF_IND 11 /* the indirect segment page */

static volatile struct grant_entry *gt;
/* grant_entry_v2, full page: header, pad, the 64-bit frame as two halves. */
struct gnt_v2 { uint16_t flags, domid; uint32_t pad, lo, hi; };
static volatile struct gnt_v2 *gt2;
static int v2;
static void grant(int ref, unsigned long pfn, int ro)
{
	if (!v2) { pv_grant(gt, ref, 0, pfn, ro); return; }
	gt2[ref].domid = 0; gt2[ref].pad = 0; gt2[ref].lo = ((xen_ulong_t *)start_info->mfn_list)[pfn]; gt2[ref].hi = 0;
	__atomic_store_n(&gt2[ref].flags, GTF_permit_access | (ro ? GTF_readonly : 0), __ATOMIC_SEQ_CST);
}
static volatile struct sring *ring;
static uint8_t *data[2];
static struct seg *ind;
static uint32_t evt, rsp_cons;
static uint64_t next_id = 1;
static xen_ulong_t *p2m;
static char bepath[96];

/* Post the request prepared in `e` (its id set here) and wait for its response: the status, or -99. */
static int submit(union ent *e)
{
	uint64_t id = next_id++;
	uint32_t p = ring->h.req_prod;
	volatile union ent *slot = &ring->ring[p % RING];
	if (e->req.op == OP_INDIRECT) e->ireq.id = id; else e->req.id = id;
	memcpy((void *)slot, e, sizeof *e);
	__atomic_store_n(&ring->h.req_prod, p + 1, __ATOMIC_SEQ_CST);
	pv_evtchn_op(EVTCHNOP_send, &evt);
	for (int i = 0; i < 1000; i++) {
		while (rsp_cons != ring->h.rsp_prod) {
			volatile struct rsp *r = &ring->ring[rsp_cons % RING].rsp;
			rsp_cons++;
			if (r->id == id) return r->status;
		}
		pv_nap();
	}
	return -99;
}
static void rw(union ent *e, int op, uint64_t sector, int nseg)
{
	memset(e, 0, sizeof *e);
	e->req.op = op; e->req.nseg = nseg; e->req.handle = 51712; e->req.sector = sector;
	for (int i = 0; i < nseg && i < 11; i++) { e->req.seg[i].gref = GREF_DATA + (i & 1); e->req.seg[i].first = 0; e->req.seg[i].last = 7; }
}
static void indirect(union ent *e, int iop, uint64_t sector, int nseg)
{
	memset(e, 0, sizeof *e);
	e->ireq.op = OP_INDIRECT; e->ireq.iop = iop; e->ireq.nseg = nseg; e->ireq.handle = 51712; e->ireq.sector = sector;
	e->ireq.igref[0] = GREF_IND;
	for (int i = 0; i < 2; i++) { ind[i].gref = GREF_DATA + i; ind[i].first = 0; ind[i].last = 7; }
}
/* Does data page `k` hold sectors from `sector` on, as the disk's pattern says? */
static int pattern_ok(int k, unsigned sector)
{
	for (int i = 0; i < 4096; i++) if (data[k][i] != (uint8_t)(sector + i / 512)) return 0;
	return 1;
}

/* count=1: the boot counter in sector 0 (see the top). */
static int boot_count(void)
{
	union ent e;
	rw(&e, OP_READ, 0, 1);
	e.req.seg[0].last = 0; /* (a disk of one sector will do) */
	CHECK(submit(&e) == RSP_OKAY, "read sector 0");
	uint32_t n = 0;
	if (memcmp(data[0], COUNT_MAGIC, sizeof COUNT_MAGIC - 1) == 0) memcpy(&n, data[0] + 16, 4);
	printf("blk: the disk's count was %u\n", n);
	memset(data[0], 0, 512);
	memcpy(data[0], COUNT_MAGIC, sizeof COUNT_MAGIC - 1);
	n++;
	memcpy(data[0] + 16, &n, 4);
	rw(&e, OP_WRITE, 0, 1);
	e.req.seg[0].last = 0; /* sector 0 alone: the rest of the disk stays as it was */
	CHECK(submit(&e) == RSP_OKAY, "wrote sector 0");
	memset(&e, 0, sizeof e);
	e.req.op = OP_FLUSH; e.req.handle = 51712;
	CHECK(submit(&e) == RSP_OKAY, "flushed");
	memset(data[0], 0, 4096);
	rw(&e, OP_READ, 0, 1);
	e.req.seg[0].last = 0;
	uint32_t back = 0;
	CHECK(submit(&e) == RSP_OKAY && (memcpy(&back, data[0] + 16, 4), back == n), "read back: %u", back);
	if (pv_fail_count == 0) printf("blk: the disk's count is now %u\n", n);
	return pv_fail_count ? 1 : 0;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	struct bind_virq bv = { 0 /* VIRQ_TIMER */, 0, 0 };
	pv_evtchn_op(EVTCHNOP_bind_virq, &bv);
	pv_events_enable();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	char buf[96];

	CHECK(xs_init(pv_free_va(2)) == 0, "xenstore ring mapped");
	CHECK(xs_read("device/vbd/51712/backend", bepath, sizeof bepath) > 0, "backend at %s", bepath);
	CHECK(xs_read_at(bepath, "feature-max-indirect-segments", buf, sizeof buf) > 0 && pv_to_int(buf) >= 2, "feature-max-indirect-segments = %s", buf);
	CHECK(xs_wait_state(bepath, 2, 1000) == 2, "backend in InitWait");

	xen_ulong_t gframe = pv_grant_table_setup();
	CHECK(gframe != 0, "grant table set up");
	gt = (volatile struct grant_entry *)pv_free_va(1);
	pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3);
	gt2 = (volatile struct gnt_v2 *)gt;
	v2 = pv_arg("gntv2", 0);
	volatile uint16_t *status = 0;
	if (v2) {
		uint32_t ver = 2;
		CHECK(HYPERVISOR(__HYPERVISOR_grant_table_op, 8 /* set_version */, &ver, 1) == 0 && ver == 2, "grant table version 2");
		uint64_t sf = 0;
		struct { uint32_t nr; uint16_t dom; int16_t status; xen_ulong_t list; } gs = { 1, DOMID_SELF, 99, (xen_ulong_t)&sf };
		CHECK(HYPERVISOR(__HYPERVISOR_grant_table_op, 9 /* get_status_frames */, &gs, 1) == 0 && gs.status == 0, "its status frame: %lx", (unsigned long)sf);
		status = (volatile uint16_t *)pv_free_va(7);
		pv_map((unsigned long)status, sf << 12, 1);
	}
	ring = (volatile struct sring *)pv_free_va(3);
	data[0] = (uint8_t *)pv_free_va(4);
	data[1] = (uint8_t *)pv_free_va(5);
	ind = (struct seg *)pv_free_va(6);
	pv_map((unsigned long)ring, (uint64_t)p2m[n - 1] << 12, 3);
	pv_map((unsigned long)data[0], (uint64_t)p2m[n - 2] << 12, 3);
	pv_map((unsigned long)data[1], (uint64_t)p2m[n - 3] << 12, 3);
	pv_map((unsigned long)ind, (uint64_t)p2m[n - 4] << 12, 3);
	memset((void *)ring, 0, 4096);
	ring->h.req_event = ring->h.rsp_event = 1;
	grant(GREF_RING, n - 1, 0);
	grant(GREF_DATA, n - 2, 0);
	grant(GREF_DATA + 1, n - 3, 0);
	grant(GREF_IND, n - 4, 1);
	struct alloc_unbound au = { DOMID_SELF, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "event channel for dom0: port %u", au.port);
	evt = au.port;
#if defined(__x86_64__)
	const char *proto = "x86_64-abi";
#else
	const char *proto = "x86_32-abi";
#endif
	int w = xs_write_num_at(FE, "ring-ref", GREF_RING) | xs_write_num_at(FE, "event-channel", evt) | xs_write_at(FE, "protocol", proto) | xs_write_at(FE, "state", "4");
	CHECK(w == 0, "frontend keys written (%s), state Connected", proto);
	CHECK(xs_wait_state(bepath, 4, 1000) == 4, "backend Connected");
	if (v2) {
		CHECK(status[GREF_RING] == 0x18 && gt2[GREF_RING].flags == GTF_permit_access, "the backend maps the ring: status %x, entry flags %x", status[GREF_RING], gt2[GREF_RING].flags);
		uint32_t ver = 1;
		CHECK(HYPERVISOR(__HYPERVISOR_grant_table_op, 8, &ver, 1) == -EBUSY && ver == 2, "back to v1 while the backend maps our ring -> -EBUSY");
	}

	if (pv_arg("count", 0)) return boot_count();

	union ent e;
	rw(&e, OP_READ, 8, 1);
	CHECK(submit(&e) == RSP_OKAY && pattern_ok(0, 8), "read of one segment (sectors 8-15)");
	memset(data[0], 0, 4096); memset(data[1], 0, 4096);
	indirect(&e, OP_READ, 16, 2);
	int s = submit(&e);
	CHECK(s == RSP_OKAY && pattern_ok(0, 16) && pattern_ok(1, 24), "indirect read of two segments (sectors 16-31): %d", s);
	for (int i = 0; i < 4096; i++) { data[0][i] = (uint8_t)(200 + i / 512); data[1][i] = (uint8_t)(208 + i / 512); }
	indirect(&e, OP_WRITE, 64, 2);
	s = submit(&e);
	CHECK(s == RSP_OKAY, "indirect write of two segments (sectors 64-79): %d", s);
	memset(data[0], 0, 4096);
	rw(&e, OP_READ, 64, 1);
	CHECK(submit(&e) == RSP_OKAY && pattern_ok(0, 200), "read back what the indirect write wrote");

	/* What the backend must refuse, without falling over. */
	indirect(&e, OP_READ, 16, 0);
	CHECK(submit(&e) == RSP_ERROR, "indirect with no segments -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 16, 5000);
	CHECK(submit(&e) == RSP_ERROR, "indirect with 5000 segments -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 16, 2);
	e.ireq.igref[0] = 5000;
	CHECK(submit(&e) == RSP_ERROR, "indirect page with a grant reference beyond the table -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 16, 2);
	ind[1].last = 9;
	CHECK(submit(&e) == RSP_ERROR, "indirect segment past the end of its page (last_sect 9) -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 16, 2);
	ind[1].first = 5; ind[1].last = 4;
	CHECK(submit(&e) == RSP_ERROR, "indirect segment with first_sect > last_sect -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 16, 2);
	ind[0].gref = 7;
	CHECK(submit(&e) == RSP_ERROR, "indirect segment with an unused grant entry -> BLKIF_RSP_ERROR");
	indirect(&e, OP_READ, 0xfffffff0ULL, 2);
	CHECK(submit(&e) == RSP_ERROR, "indirect read beyond the disk -> BLKIF_RSP_ERROR");
	rw(&e, OP_READ, 0, 12);
	CHECK(submit(&e) == RSP_ERROR, "12 segments in the ring -> BLKIF_RSP_ERROR");
	rw(&e, 9, 0, 1);
	CHECK(submit(&e) == RSP_EOPNOTSUPP, "an unknown operation -> BLKIF_RSP_EOPNOTSUPP");
	CHECK(xs_state(bepath) == 4, "the disk stays connected");
	memset(data[0], 0, 4096);
	rw(&e, OP_READ, 40, 1);
	CHECK(submit(&e) == RSP_OKAY && pattern_ok(0, 40), "and reads go on");

	if (v2) CHECK(status[GREF_DATA] == 0 && status[GREF_DATA + 1] == 0 && status[GREF_IND] == 0, "data and indirect grants unmapped after each request (status words clear)");
	printf("blk: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
