/* Grant tables v2 (grant_table.h), one domain granting to itself: get/set_version and its rules (only
 * 1 or 2; refused with -EBUSY while a grant is mapped; the reserved entries 0-7 carried across a
 * switch, the rest cleared), status frames (get_status_frames, GTF_reading/GTF_writing kept there and
 * not in the entries, -EBUSY going back to v1 while a status frame is mapped), the v2 entry layouts
 * (full page, sub-page: copy only and only inside its window, transitive: refused when it names its own
 * domain or none, never mappable), bad references and domains, and XENMEM_add_to_physmap refused for a
 * PV domain. With "suspend=1" it then switches to v2 again and suspends itself (SHUTDOWN_suspend):
 * resumed in a new domain (restore), its table is still v2 and its status frame still the one it
 * mapped before. Prints "ok:"/"FAIL:" lines and "gntv2: PASSED" (or FAILED), then powers off. */
#include "pv.h"

struct gnttab_map_grant_ref { uint64_t host_addr; uint32_t flags, ref; uint16_t dom; int16_t status; uint32_t handle; uint64_t dev_bus_addr; };
struct gnttab_unmap_grant_ref { uint64_t host_addr, dev_bus_addr; uint32_t handle; int16_t status; uint16_t pad; };
struct gnttab_copy_ptr { xen_ulong_t u; uint16_t domid, offset; };
struct gnttab_copy { struct gnttab_copy_ptr source, dest; uint16_t len, flags; int16_t status; };
struct gnttab_set_version { uint32_t version; };
struct gnttab_get_version { uint16_t dom, pad; uint32_t version; };
struct gnttab_get_status_frames { uint32_t nr_frames; uint16_t dom; int16_t status; xen_ulong_t frame_list; };
struct xen_add_to_physmap { uint16_t domid, size; uint32_t space; xen_ulong_t idx, gpfn; };
/* union grant_entry_v2: header, then full_page { pad; frame }, sub_page { page_off, length; frame },
 * transitive { trans_domid, pad; gref }; the 64-bit frame written as two halves (both widths). */
struct gnt_v2 { uint16_t flags, domid; uint16_t a, b; uint32_t lo, hi; };

#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTTABOP_copy 5
#define GNTTABOP_set_version 8
#define GNTTABOP_get_status_frames 9
#define GNTTABOP_get_version 10
#define GNTMAP_host_map 2
#define GNTMAP_readonly 4
#define GNTCOPY_source_gref 1
#define GNTCOPY_dest_gref 2
#define GTF_transitive 3
#define GTF_reading 8
#define GTF_writing 16
#define GTF_sub_page (1 << 8)
#define XENMEM_current_reservation 3
#define XENMEM_add_to_physmap 7
#define XENMAPSPACE_grant_table 1
#define XENMAPIDX_grant_table_status 0x80000000U
#define EACCES 13
#define GNTST_general_error (-1)
#define GNTST_bad_domain (-2)
#define GNTST_bad_gntref (-3)
#define GNTST_permission_denied (-8)
#define GNTST_bad_copy_arg (-10)

static long gnttab(int cmd, void *op, int n) { return HYPERVISOR(__HYPERVISOR_grant_table_op, cmd, op, n); }
static xen_ulong_t *p2m;

static long set_version(uint32_t v, uint32_t *out)
{
	struct gnttab_set_version sv = { v };
	long rc = gnttab(GNTTABOP_set_version, &sv, 1);
	*out = sv.version;
	return rc;
}
static uint32_t get_version(void)
{
	struct gnttab_get_version gv = { DOMID_SELF, 0, 99 };
	return gnttab(GNTTABOP_get_version, &gv, 1) == 0 ? gv.version : 99;
}
/* XENMEM_decrease_reservation of one frame: the number of extents given back. */
static long give_back(xen_ulong_t mfn)
{
	xen_ulong_t fr = mfn;
	struct { xen_ulong_t start, nr; uint32_t order, flags; uint16_t dom; } r = { (xen_ulong_t)&fr, 1, 0, 0, DOMID_SELF };
	return HYPERVISOR(__HYPERVISOR_memory_op, 1 /* XENMEM_decrease_reservation */, &r, 0);
}
static int16_t swap(uint32_t a, uint32_t b)
{
	struct { uint32_t a, b; int16_t status; uint16_t pad; } sw = { a, b, 99, 0 };
	return gnttab(11 /* GNTTABOP_swap_grant_ref */, &sw, 1) == 0 ? sw.status : 99;
}
static long reservation(void)
{
	uint16_t dom = DOMID_SELF;
	return HYPERVISOR(__HYPERVISOR_memory_op, XENMEM_current_reservation, &dom, 0);
}
static void grant2(volatile struct gnt_v2 *e, uint16_t flags, uint16_t domid, uint16_t a, uint16_t b, uint64_t frame)
{
	e->domid = domid; e->a = a; e->b = b; e->lo = (uint32_t)frame; e->hi = (uint32_t)(frame >> 32);
	__atomic_store_n(&e->flags, flags, __ATOMIC_SEQ_CST);
}
static int16_t map(unsigned long va, uint32_t ref, uint16_t dom, int ro, uint32_t *handle)
{
	struct gnttab_map_grant_ref m = { va, GNTMAP_host_map | (ro ? GNTMAP_readonly : 0), ref, dom, 99, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &m, 1);
	if (handle) *handle = m.handle;
	return m.status;
}
static int16_t unmap(unsigned long va, uint32_t handle)
{
	struct gnttab_unmap_grant_ref u = { va, 0, handle, 99, 0 };
	gnttab(GNTTABOP_unmap_grant_ref, &u, 1);
	return u.status;
}
static int16_t copy(xen_ulong_t su, uint16_t sdom, uint16_t soff, xen_ulong_t du, uint16_t ddom, uint16_t doff, uint16_t len, uint16_t flags)
{
	struct gnttab_copy c = { { su, sdom, soff }, { du, ddom, doff }, len, flags, 99 };
	gnttab(GNTTABOP_copy, &c, 1);
	return c.status;
}

/* Our own domain id: an unbound port for DOMID_SELF reports it as its remote end. */
static uint16_t my_domid(void)
{
	struct alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	struct { uint16_t dom, pad; uint32_t port, status, vcpu, a, b; } es = { DOMID_SELF, 0, 0, 0, 0, 0, 0 };
	pv_evtchn_op(EVTCHNOP_alloc_unbound, &au);
	es.port = au.port;
	pv_evtchn_op(EVTCHNOP_status, &es);
	struct port_op cl = { au.port };
	pv_evtchn_op(EVTCHNOP_close, &cl);
	return (uint16_t)es.a;
}

int pv_main(void)
{
	pv_install_traps();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	uint32_t ver, h;

	uint16_t me = my_domid();
	CHECK(me > 0 && me < DOMID_SELF, "our domain id: %u", me);

	/* Versions. */
	CHECK(get_version() == 1, "a new table is version 1");
	CHECK(set_version(3, &ver) == -EINVAL && ver == 1, "set_version(3) -> -EINVAL, version stays 1");
	CHECK(set_version(0, &ver) == -EINVAL && ver == 1, "set_version(0) -> -EINVAL");
	CHECK(set_version(1, &ver) == 0 && ver == 1, "set_version(1) on a v1 table -> 0");
	xen_ulong_t gframe = pv_grant_table_setup();
	CHECK(gframe != 0, "setup_table: frame %lx", (unsigned long)gframe);
	volatile struct grant_entry *gt1 = (volatile struct grant_entry *)pv_free_va(1);
	volatile struct gnt_v2 *gt2 = (volatile struct gnt_v2 *)gt1;
	CHECK(pv_map((unsigned long)gt1, (uint64_t)gframe << 12, 3) == 0, "grant table mapped");
	uint64_t sframe = 0;
	struct gnttab_get_status_frames gs = { 1, DOMID_SELF, 99, (xen_ulong_t)&sframe };
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_general_error, "get_status_frames on a v1 table -> general_error (%d)", gs.status);

	/* v1 -> v2: reserved entry 2 carried over into the v2 layout, entry 9 cleared. */
	long resv0 = reservation();
	pv_grant(gt1, 2, me, n - 1, 0);
	pv_grant(gt1, 9, me, n - 2, 0);
	CHECK(set_version(2, &ver) == 0 && ver == 2, "set_version(2) -> 0, version 2");
	CHECK(get_version() == 2, "get_version says 2");
	CHECK(reservation() == resv0 + 1, "one status frame allocated to the domain (%ld -> %ld pages)", resv0, reservation());
	CHECK(gt2[2].flags == GTF_permit_access && gt2[2].domid == me && gt2[2].lo == p2m[n - 1] && gt2[2].hi == 0,
	      "reserved entry 2 kept in the v2 layout (flags %x domid %u frame %x)", gt2[2].flags, gt2[2].domid, gt2[2].lo);
	CHECK(gt2[4].flags == 0 && gt2[4].lo == 0 && gt2[4].hi == 0 && gt2[9].flags == 0, "the other entries cleared");

	/* Status frames. */
	gs = (struct gnttab_get_status_frames){ 2, DOMID_SELF, 99, (xen_ulong_t)&sframe };
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_general_error, "two status frames asked of a one-frame table -> general_error");
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 2) == -EINVAL, "get_status_frames with count 2 -> -EINVAL");
	gs = (struct gnttab_get_status_frames){ 1, DOMID_SELF, 99, (xen_ulong_t)&sframe };
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == 0 && sframe != 0, "get_status_frames -> frame %lx", (unsigned long)sframe);
	gs = (struct gnttab_get_status_frames){ 1, 999, 99, (xen_ulong_t)&sframe };
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_bad_domain, "get_status_frames of a domain that does not exist -> bad_domain");
	volatile uint16_t *status = (volatile uint16_t *)pv_free_va(2);
	CHECK(pv_map((unsigned long)status, sframe << 12, 1) == 0, "status frame mapped read-only");
	struct xen_add_to_physmap xatp = { DOMID_SELF, 0, XENMAPSPACE_grant_table, XENMAPIDX_grant_table_status | 0, n - 5 };
	CHECK(HYPERVISOR(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &xatp, 0) == -EACCES, "XENMEM_add_to_physmap (status frame) -> -EACCES for a PV domain");

	/* A full-page v2 grant, mapped: the status word says reading|writing, the entry's flags do not. */
	char *page = (char *)pv_free_va(3);
	pv_map((unsigned long)page, (uint64_t)p2m[n - 1] << 12, 3);
	memset(page, 0, 4096);
	strcpy(page, "v2 full page");
	grant2(&gt2[10], GTF_permit_access, me, 0, 0, p2m[n - 1]);
	unsigned long va = pv_free_va(4);
	pv_map(va, 0, 0);
	CHECK(map(va, 10, me, 0, &h) == 0 && !strcmp((char *)va, "v2 full page"), "a v2 full-page grant mapped and read");
	CHECK(status[10] == (GTF_reading | GTF_writing) && gt2[10].flags == GTF_permit_access, "status[10] = %x, entry flags %x", status[10], gt2[10].flags);
	CHECK(set_version(1, &ver) == -EBUSY && ver == 2, "set_version(1) while the grant is mapped -> -EBUSY, version stays 2");
	CHECK(unmap(va, h) == 0 && status[10] == 0, "unmapped: status[10] = %x", status[10]);
	grant2(&gt2[11], GTF_permit_access | GTF_readonly, me, 0, 0, p2m[n - 1]);
	CHECK(map(va, 11, me, 0, 0) == GNTST_general_error, "a read-only v2 grant mapped writable -> general_error");
	CHECK(map(va, 11, me, 1, &h) == 0 && status[11] == GTF_reading, "mapped read-only: status[11] = %x", status[11]);
	CHECK(unmap(va, h) == 0 && status[11] == 0, "unmapped");
	CHECK(map(va, 300, me, 1, 0) == GNTST_bad_gntref, "ref 300 (in a one-frame v1 table, beyond a v2 one) -> bad_gntref");
	CHECK(map(va, 10, 999, 1, 0) == GNTST_bad_domain, "a domain that does not exist -> bad_domain");

	/* swap_grant_ref: entries and status words change places; refused while one is mapped. */
	grant2(&gt2[20], GTF_permit_access, me, 0, 0, p2m[n - 1]);
	grant2(&gt2[21], GTF_permit_access | GTF_readonly, me, 0, 0, p2m[n - 2]);
	CHECK(swap(20, 21) == 0 && gt2[20].flags == (GTF_permit_access | GTF_readonly) && gt2[20].lo == p2m[n - 2] && gt2[21].flags == GTF_permit_access && gt2[21].lo == p2m[n - 1], "swap_grant_ref swaps two v2 entries");
	CHECK(swap(20, 20) == 0 && swap(20, 5000) == GNTST_bad_gntref, "swapping an entry with itself -> 0, with one beyond the table -> bad_gntref");
	CHECK(map(va, 21, me, 1, &h) == 0 && swap(21, 20) == -12 && status[21] == GTF_reading, "swapping a mapped entry -> GNTST_eagain");
	CHECK(unmap(va, h) == 0, "unmapped");

	/* Sub-page grants: copy only, inside [page_off, page_off + length). */
	strcpy(page + 256, "sub-page window");
	grant2(&gt2[12], GTF_permit_access | GTF_sub_page, me, 256, 128, p2m[n - 1]);
	CHECK(map(va, 12, me, 1, 0) == GNTST_general_error, "a sub-page grant cannot be mapped -> general_error");
	char *dst = (char *)pv_free_va(5);
	pv_map((unsigned long)dst, (uint64_t)p2m[n - 2] << 12, 3);
	memset(dst, 0, 4096);
	CHECK(copy(12, DOMID_SELF, 256, p2m[n - 2], DOMID_SELF, 0, 16, GNTCOPY_source_gref) == 0 && !strcmp(dst, "sub-page window"), "copy from the sub-page grant's window: %s", dst);
	CHECK(copy(12, DOMID_SELF, 200, p2m[n - 2], DOMID_SELF, 0, 16, GNTCOPY_source_gref) == GNTST_general_error, "copy from before the window -> general_error");
	CHECK(copy(12, DOMID_SELF, 300, p2m[n - 2], DOMID_SELF, 0, 100, GNTCOPY_source_gref) == GNTST_general_error, "copy past the window's end -> general_error");
	CHECK(copy(12, DOMID_SELF, 4090, p2m[n - 2], DOMID_SELF, 0, 16, GNTCOPY_source_gref) == GNTST_bad_copy_arg, "copy past the page -> bad_copy_arg");
	memset(dst, 0, 64);
	strcpy(dst, "written by copy");
	CHECK(copy(p2m[n - 2], DOMID_SELF, 0, 10, DOMID_SELF, 2048, 16, GNTCOPY_dest_gref) == 0 && !strcmp(page + 2048, "written by copy"), "copy into a full-page v2 grant");
	CHECK(copy(p2m[n - 2], DOMID_SELF, 0, 11, DOMID_SELF, 0, 16, GNTCOPY_dest_gref) == GNTST_general_error, "copy into a read-only v2 grant -> general_error");

	/* Transitive grants: never mapped; one naming its own domain or no domain is refused. */
	grant2(&gt2[13], GTF_transitive, me, me, 0, 10);
	CHECK(copy(13, DOMID_SELF, 0, p2m[n - 2], DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_general_error, "a transitive grant to our own domain -> general_error");
	grant2(&gt2[14], GTF_transitive, me, 999, 0, 10);
	CHECK(copy(14, DOMID_SELF, 0, p2m[n - 2], DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_general_error, "a transitive grant to a domain that does not exist -> general_error");
	CHECK(map(va, 13, me, 1, 0) == GNTST_general_error, "mapping a transitive grant -> general_error");

	/* Copy edge cases. */
	CHECK(copy(p2m[n - 1], me, 0, p2m[n - 2], DOMID_SELF, 0, 8, 0) == GNTST_permission_denied, "a frame named with our domain id rather than DOMID_SELF -> permission_denied");
	CHECK(copy(10, 999, 0, p2m[n - 2], DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_bad_domain, "a grant of a domain that does not exist -> bad_domain");
	CHECK(copy(5000, DOMID_SELF, 0, p2m[n - 2], DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_bad_gntref, "a reference beyond the table -> bad_gntref");
	CHECK(copy(7, DOMID_SELF, 0, p2m[n - 2], DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_general_error, "an unused entry -> general_error");

	/* Back to v1: refused while the status frame is mapped; then the reserved entry comes back. */
	CHECK(set_version(1, &ver) == -EBUSY && ver == 2, "set_version(1) while the status frame is mapped -> -EBUSY");
	pv_map((unsigned long)status, 0, 0);
	long resv2 = reservation();
	CHECK(give_back(sframe) == 1 && reservation() == resv2, "the status frame given back (decrease_reservation:"
	      " done) stays, counted, while the hypervisor holds it (%ld pages)", reservation());
	CHECK(set_version(1, &ver) == 0 && ver == 1, "set_version(1) -> 0");
	CHECK(reservation() == resv0, "the status frame given back (%ld pages)", reservation());
	CHECK(gt1[2].flags == GTF_permit_access && gt1[2].domid == me && gt1[2].frame == p2m[n - 1], "reserved entry 2 back in the v1 layout");
	CHECK(gt1[10].flags == 0 && gt1[5].flags == 0, "the other entries cleared");
	gs = (struct gnttab_get_status_frames){ 1, DOMID_SELF, 99, (xen_ulong_t)&sframe };
	CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_general_error, "no status frames in v1");
	pv_grant(gt1, 10, me, n - 1, 0);
	CHECK(map(va, 10, me, 0, &h) == 0 && (gt1[10].flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing), "v1 again: GTF_reading|writing in the entry");
	CHECK(unmap(va, h) == 0 && (gt1[10].flags & (GTF_reading | GTF_writing)) == 0, "unmapped");
	pv_map((unsigned long)gt1, 0, 0);
	long resv3 = reservation();
	CHECK(give_back(gframe) == 1 && reservation() == resv3, "the grant-table frame given back stays too, counted,"
	      " while the hypervisor holds it");
	pv_map((unsigned long)gt1, (uint64_t)gframe << 12, 3);

	if (pv_arg("suspend", 0)) {
		CHECK(set_version(2, &ver) == 0 && ver == 2, "v2 again before suspending");
		gs = (struct gnttab_get_status_frames){ 1, DOMID_SELF, 99, (xen_ulong_t)&sframe };
		gnttab(GNTTABOP_get_status_frames, &gs, 1);
		pv_map((unsigned long)status, sframe << 12, 1);
		grant2(&gt2[3], GTF_permit_access | GTF_readonly, me, 0, 0, 0x1234);
		uint32_t reason = 2; /* SHUTDOWN_suspend */
		pv_console_flush();
		long r = HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &reason, 0);
		CHECK(r == 0, "resumed in a new domain (%ld)", r);
		p2m = (xen_ulong_t *)start_info->mfn_list;
		uint16_t was = me;
		me = my_domid();
		CHECK(get_version() == 2, "the table is still v2 (domain %u, was %u)", me, was);
		CHECK(gt2[3].flags == (GTF_permit_access | GTF_readonly) && gt2[3].lo == 0x1234, "its entries came along");
		uint64_t sf2 = 0;
		gs = (struct gnttab_get_status_frames){ 1, DOMID_SELF, 99, (xen_ulong_t)&sf2 };
		CHECK(gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == 0, "get_status_frames: %lx (was %lx)", (unsigned long)sf2, (unsigned long)sframe);
		pv_map((unsigned long)page, (uint64_t)p2m[n - 1] << 12, 3);
		strcpy(page, "after the restore");
		grant2(&gt2[10], GTF_permit_access, me, 0, 0, p2m[n - 1]);
		CHECK(map(va, 10, me, 0, &h) == 0 && !strcmp((char *)va, "after the restore"), "a v2 grant mapped in the new domain");
		CHECK(status[10] == (GTF_reading | GTF_writing), "seen through the status frame mapped before the suspend (%x)", status[10]);
		CHECK(unmap(va, h) == 0 && status[10] == 0, "unmapped");
	}
	printf("gntv2: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
