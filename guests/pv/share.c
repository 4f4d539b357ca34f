/* Two domains sharing memory through grant tables and signalling through an interdomain event
 * channel. The command line says the role: "role=a peer=N" grants a page and waits; "role=b peer=N"
 * maps it, answers, and tries what it must not be able to do (foreign grants, writable maps of
 * read-only grants, bad references, domains and handles). Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"

struct gnttab_map_grant_ref { uint64_t host_addr; uint32_t flags, ref; uint16_t dom; int16_t status; uint32_t handle; uint64_t dev_bus_addr; };
struct gnttab_unmap_grant_ref { uint64_t host_addr, dev_bus_addr; uint32_t handle; int16_t status; uint16_t pad; };
struct gnttab_copy_ptr { xen_ulong_t u; uint16_t domid, offset; };
struct gnttab_copy { struct gnttab_copy_ptr source, dest; uint16_t len, flags; int16_t status; };

#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTTABOP_copy 5
#define GNTMAP_host_map 2
#define GNTMAP_readonly 4

static long gnttab(int cmd, void *op, int n) { return HYPERVISOR(__HYPERVISOR_grant_table_op, cmd, op, n); }
static xen_ulong_t *p2m;
static uint64_t ma_of_pfn(unsigned long pfn) { return (uint64_t)p2m[pfn] << 12; }

static int granter(int peer)
{
	unsigned long n = start_info->nr_pages;
	xen_ulong_t gframe = pv_grant_table_setup();
	CHECK(gframe != 0, "setup_table gave frame %lx", (unsigned long)gframe);
	volatile struct grant_entry *gt = (volatile struct grant_entry *)pv_free_va(1);
	CHECK(pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3) == 0, "grant table mapped");
	char *page = (char *)pv_free_va(2);
	pv_map((unsigned long)page, ma_of_pfn(n - 1), 3);
	strcpy(page, "hello from A");
	gt[8].frame = p2m[n - 1]; gt[8].domid = peer; __atomic_store_n(&gt[8].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
	gt[9].frame = p2m[n - 1]; gt[9].domid = peer; __atomic_store_n(&gt[9].flags, GTF_permit_access | GTF_readonly, __ATOMIC_SEQ_CST);
	gt[10].frame = p2m[n - 1]; gt[10].domid = 77; __atomic_store_n(&gt[10].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
	struct alloc_unbound au = { DOMID_SELF, peer, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0 && au.port == 3, "alloc_unbound for the peer -> port %u", au.port);
	pv_events_enable();
	int spins = 0;
	while (pv_event_count[au.port] == 0 && spins++ < 10000) pv_block();
	CHECK(pv_event_count[au.port] > 0, "the peer signalled");
	CHECK(!strcmp(page, "reply from B"), "the peer wrote through its grant mapping (%s)", page);
	CHECK((gt[8].flags & 0x18) == 0, "no mapping left: GTF_reading/writing clear (%x)", gt[8].flags);
	return 0;
}

/* Transitive grants (v2, one level): our own table switched to v2; entry 20 passes the peer's
 * grant 8 (to us) on to ourselves, so a copy through it reads the peer's page; entry 21 passes its
 * read-only grant 9, so a copy into it is refused. */
struct gnt_v2 { uint16_t flags, domid; uint16_t trans_domid, pad; uint32_t gref, hi; };
static void transitive(int peer)
{
	unsigned long n = start_info->nr_pages;
	struct alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	struct { uint16_t dom, pad; uint32_t port, status, vcpu, a, b; } es = { DOMID_SELF, 0, 0, 0, 0, 0, 0 };
	pv_evtchn_op(EVTCHNOP_alloc_unbound, &au);
	es.port = au.port;
	pv_evtchn_op(EVTCHNOP_status, &es);
	struct port_op cl = { au.port };
	pv_evtchn_op(EVTCHNOP_close, &cl);
	uint16_t me = (uint16_t)es.a;
	xen_ulong_t gframe = pv_grant_table_setup();
	volatile struct gnt_v2 *gt = (volatile struct gnt_v2 *)pv_free_va(6);
	pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3);
	uint32_t v = 2;
	CHECK(gnttab(8 /* set_version */, &v, 1) == 0 && v == 2, "our table switched to v2");
	gt[20].domid = me; gt[20].trans_domid = peer; gt[20].gref = 8; gt[20].hi = 0;
	__atomic_store_n(&gt[20].flags, 3 /* GTF_transitive */, __ATOMIC_SEQ_CST);
	gt[21].domid = me; gt[21].trans_domid = peer; gt[21].gref = 9; gt[21].hi = 0;
	__atomic_store_n(&gt[21].flags, 3, __ATOMIC_SEQ_CST);
	char *mine = (char *)pv_free_va(7);
	pv_map((unsigned long)mine, ma_of_pfn(n - 2), 3);
	memset(mine, 0, 64);
	struct gnttab_copy c = { { 20, DOMID_SELF, 0 }, { p2m[n - 2], DOMID_SELF, 0 }, 13, 1, 99 };
	gnttab(GNTTABOP_copy, &c, 1);
	CHECK(c.status == 0 && !strcmp(mine, "hello from A"), "copy through our transitive grant of the peer's grant (status %d): %s", c.status, mine);
	struct gnttab_copy c2 = { { p2m[n - 2], DOMID_SELF, 0 }, { 21, DOMID_SELF, 0 }, 4, 2, 99 };
	gnttab(GNTTABOP_copy, &c2, 1);
	CHECK(c2.status == -1, "copy into a transitive grant of a read-only grant -> general_error (%d)", c2.status);
	struct gnttab_map_grant_ref m = { pv_free_va(8), GNTMAP_host_map | GNTMAP_readonly, 20, me, 0, 0, 0 };
	pv_map(pv_free_va(8), 0, 0);
	gnttab(GNTTABOP_map_grant_ref, &m, 1);
	CHECK(m.status == -1, "a transitive grant cannot be mapped -> general_error (%d)", m.status);
}

static int mapper(int peer)
{
	unsigned long n = start_info->nr_pages;
	struct bind_interdomain bi = { peer, 0, 3, 0 };
	int tries = 0;
	while (pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) != 0 && tries++ < 100000) HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
	CHECK(bi.local_port > 0, "bound to the peer's port (local %u)", bi.local_port);
	unsigned long va = pv_free_va(3);
	pv_map(va, 0, 0); /* an empty slot for the grant mapping */
	struct gnttab_map_grant_ref m = { va, GNTMAP_host_map, 8, peer, 0, 0, 0 };
	tries = 0;
	do { gnttab(GNTTABOP_map_grant_ref, &m, 1); } while (m.status != 0 && tries++ < 100000 && (HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0), 1));
	CHECK(m.status == 0, "map_grant_ref of the peer's page (status %d)", m.status);
	CHECK(!strcmp((char *)va, "hello from A"), "read the peer's data: %s", (char *)va);

	/* What must be refused. */
	unsigned long va2 = pv_free_va(4);
	pv_map(va2, 0, 0);
	struct gnttab_map_grant_ref bad = { va2, GNTMAP_host_map, 10, peer, 0, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &bad, 1);
	CHECK(bad.status == -1, "a grant for another domain -> general_error, as Xen (%d)", bad.status);
	bad = (struct gnttab_map_grant_ref){ va2, GNTMAP_host_map, 9, peer, 0, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &bad, 1);
	CHECK(bad.status == -1, "a read-only grant mapped writable -> general_error, as Xen (%d)", bad.status);
	bad = (struct gnttab_map_grant_ref){ va2, GNTMAP_host_map, 5000, peer, 0, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &bad, 1);
	CHECK(bad.status == -3, "a reference beyond the table -> bad_gntref (%d)", bad.status);
	bad = (struct gnttab_map_grant_ref){ va2, GNTMAP_host_map, 8, 999, 0, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &bad, 1);
	CHECK(bad.status == -2, "a domain that does not exist -> bad_domain (%d)", bad.status);
	struct gnttab_map_grant_ref rom = { va2, GNTMAP_host_map | GNTMAP_readonly, 9, peer, 0, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &rom, 1);
	CHECK(rom.status == 0 && !strcmp((char *)va2, "hello from A"), "the read-only grant mapped read-only");
	CHECK(pv_try_write(va2, 1) == 1, "and writing through it faults");
	struct gnttab_unmap_grant_ref ur = { va2, 0, rom.handle, 0, 0 };
	gnttab(GNTTABOP_unmap_grant_ref, &ur, 1);
	CHECK(ur.status == 0, "unmapped");
	struct gnttab_unmap_grant_ref ub = { va2, 0, 4000, 0, 0 };
	gnttab(GNTTABOP_unmap_grant_ref, &ub, 1);
	CHECK(ub.status == -4, "unmapping a bad handle -> bad_handle (%d)", ub.status);

	/* Grant copy: from the peer's page into one of ours, and (refused) into a read-only grant. */
	char *mine = (char *)pv_free_va(5);
	pv_map((unsigned long)mine, ma_of_pfn(n - 1), 3);
	memset(mine, 0, 64);
	struct gnttab_copy c = { { 8, peer, 0 }, { p2m[n - 1], DOMID_SELF, 0 }, 13, 1 /* source_gref */, 99 };
	gnttab(GNTTABOP_copy, &c, 1);
	CHECK(c.status == 0 && !strcmp(mine, "hello from A"), "grant copy from the peer (status %d)", c.status);
	struct gnttab_copy c2 = { { p2m[n - 1], DOMID_SELF, 0 }, { 9, peer, 0 }, 4, 2 /* dest_gref */, 99 };
	gnttab(GNTTABOP_copy, &c2, 1);
	CHECK(c2.status == -1, "grant copy into a read-only grant -> general_error, as Xen (%d)", c2.status);
	transitive(peer);

	strcpy((char *)va, "reply from B");
	struct gnttab_unmap_grant_ref u = { va, 0, m.handle, 0, 0 };
	gnttab(GNTTABOP_unmap_grant_ref, &u, 1);
	CHECK(u.status == 0, "unmapped the peer's page");
	CHECK(pv_try_write(va, 1) == 1, "it is gone from our address space");
	struct port_op so = { bi.local_port };
	CHECK(pv_evtchn_op(EVTCHNOP_send, &so) == 0, "signalled the peer");
	struct port_op bogus = { 200 };
	CHECK(pv_evtchn_op(EVTCHNOP_send, &bogus) == -EINVAL, "sending on a port we do not have -> -EINVAL");
	return 0;
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 14 && pv_try_write_fixup(f)) return;
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	int peer = pv_arg("peer", -1);
	char r = pv_role('?');
	if (r == 'a') granter(peer); else if (r == 'b') mapper(peer);
	else { printf("FAIL: no role on the command line\n"); pv_fail_count++; }
	printf("share-%c: %s\n", r, pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
