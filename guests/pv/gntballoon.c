/* Ballooning out frames another domain maps (issue 12), as Xen's guest_remove_page does it: the granter's
 * allocation of the frame goes at once, but the frame stays the granter's (counted in its reservation,
 * handed to no one) until the last mapping goes; then it returns to the pool, scrubbed.
 * "role=a" (the granter) fills frames A and B, grants A writable and B read-only to "role=b" (the
 * mapper), which maps both; the granter gives both back (decrease_reservation: 2 extents done, again
 * for A: done without effect) while they are mapped, checks its reservation did not fall, and takes
 * and gives back fresh frames, none of them A or B; the mapper still reads both frames' contents and
 * writes through A, then unmaps A: the granter's reservation falls by one, A is no longer its own (it
 * does not map), and a new frame it is given holds zeros only; then B likewise.
 * Last, the same with the host as the mapper (a backend): the granter grants frame C to dom0, waits
 * until GTF_writing shows the host's mapping, gives C back, prints "given back", and waits until the
 * host unmapped it (tests/gntballoon.test.ts checks the host still reads C's contents, and that C
 * returns to the pool only at the unmap). In lockstep through an event channel; prints "ok:"/"FAIL:"
 * lines and a verdict. */
#include "pv.h"
#include "pt.h"

#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTMAP_host_map 2
#define GNTMAP_readonly 4
#define GTF_reading 8
#define GTF_writing 16
#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_current_reservation 3
#define REF_A 8
#define REF_B 9
#define REF_C 10
#define FRESH 8

struct gnttab_map_grant_ref {
	uint64_t host_addr; uint32_t flags, ref; uint16_t dom; int16_t status; uint32_t handle; uint64_t dev_bus_addr;
};
struct gnttab_unmap_grant_ref { uint64_t host_addr, dev_bus_addr; uint32_t handle; int16_t status; uint16_t pad; };
struct reservation {
	xen_ulong_t extent_start; xen_ulong_t nr_extents; uint32_t extent_order, mem_flags; uint16_t domid;
};

static long memop(int cmd, void *arg) { return HYPERVISOR(__HYPERVISOR_memory_op, cmd, arg, 0); }
static long gnttab(int cmd, void *op, int n) { return HYPERVISOR(__HYPERVISOR_grant_table_op, cmd, op, n); }
static void yield(void) { HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0); }
static long reservation(void) { uint16_t self = DOMID_SELF; return memop(XENMEM_current_reservation, &self); }
static long give_back(xen_ulong_t *mfns, unsigned n)
{
	struct reservation r = { (xen_ulong_t)mfns, n, 0, 0, DOMID_SELF };
	return memop(XENMEM_decrease_reservation, &r);
}
static long take(xen_ulong_t *mfns, unsigned n)
{
	struct reservation r = { (xen_ulong_t)mfns, n, 0, 0, DOMID_SELF };
	return memop(XENMEM_increase_reservation, &r);
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 14 && pv_try_write_fixup(f)) return;
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}


/* Word i of frame `tag`'s pattern. */
static uint32_t pat(uint32_t tag, unsigned i) { return tag * 0x01000193u ^ (i * 2654435761u); }
static int has_pattern(unsigned long va, uint32_t tag)
{
	for (unsigned i = 0; i < 1024; i++) if (((volatile uint32_t *)va)[i] != pat(tag, i)) return 0;
	return 1;
}
static void fill(unsigned long va, xen_ulong_t mfn, uint32_t tag)
{
	pv_map(va, (uint64_t)mfn << 12, 3);
	for (unsigned i = 0; i < 1024; i++) ((volatile uint32_t *)va)[i] = pat(tag, i);
	pv_map(va, 0, 0);
}
static int zeroed(unsigned long va, xen_ulong_t mfn)
{
	if (pv_map(va, (uint64_t)mfn << 12, 1) != 0) return 0;
	int z = 1;
	for (unsigned i = 0; i < 1024; i++) if (((volatile uint32_t *)va)[i] != 0) z = 0;
	pv_map(va, 0, 0);
	return z;
}

static int granter(int peer)
{
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	volatile struct grant_entry *gt = (volatile struct grant_entry *)pv_free_va(1);
	xen_ulong_t gframe = pv_grant_table_setup();
	CHECK(gframe && pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3) == 0, "grant table mapped");
	unsigned long va = pv_free_va(2);
	xen_ulong_t a = p2m[n - 1], b = p2m[n - 2], c = p2m[n - 3];
	fill(va, a, 0xa); fill(va, b, 0xb); fill(va, c, 0xc);
	pv_grant(gt, REF_A, peer, n - 1, 0);
	pv_grant(gt, REF_B, peer, n - 2, 1);
	struct alloc_unbound au = { DOMID_SELF, peer, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "a port for the peer (%u)", au.port);
	pv_events_enable();
	pv_wait_count(au.port, 1); /* the peer mapped A and B */
	CHECK((gt[REF_A].flags & GTF_writing) && (gt[REF_B].flags & (GTF_reading | GTF_writing)) == GTF_reading,
	      "A mapped writable and B read-only by the peer (flags %x %x)", gt[REF_A].flags, gt[REF_B].flags);

	long r0 = reservation();
	xen_ulong_t ab[2] = { a, b };
	long rc = give_back(ab, 2);
	CHECK(rc == 2, "A and B given back while the peer maps them: 2 extents done (%ld)", rc);
	CHECK(reservation() == r0, "both still counted in our reservation while mapped (%ld, was %ld)", reservation(), r0);
	rc = give_back(&a, 1);
	CHECK(rc == 1 && reservation() == r0, "A given back again: done, nothing changes (%ld, reservation %ld)", rc,
	      reservation());
	xen_ulong_t fresh[FRESH];
	rc = take(fresh, FRESH);
	int other = rc == FRESH;
	for (int i = 0; i < FRESH && other; i++) if (fresh[i] == a || fresh[i] == b) other = 0;
	CHECK(other, "%d fresh frames taken: none is A or B (%ld)", FRESH, rc);
	CHECK(give_back(fresh, FRESH) == FRESH && reservation() == r0, "and given back: unmapped, they go at once"
	      " (reservation %ld)", reservation());
	pv_send(au.port);

	pv_wait_count(au.port, 2); /* the peer unmapped A */
	CHECK(reservation() == r0 - 1, "A left our reservation at the peer's unmap (%ld, was %ld)", reservation(), r0);
	CHECK(pv_map(va, (uint64_t)a << 12, 1) < 0, "A is not ours any more: it does not map");
	xen_ulong_t got = 0;
	CHECK(take(&got, 1) == 1 && got != b, "a new frame (%lx), not B", (unsigned long)got);
	CHECK(zeroed(va, got), "it holds zeros only: nothing of A's contents or the peer's write");
	CHECK(give_back(&got, 1) == 1 && reservation() == r0 - 1, "given back again");
	pv_send(au.port);

	pv_wait_count(au.port, 3); /* the peer unmapped B */
	CHECK(reservation() == r0 - 2, "B left our reservation at the peer's unmap (%ld, was %ld)", reservation(), r0);
	CHECK(pv_map(va, (uint64_t)b << 12, 1) < 0, "B is not ours any more: it does not map");
	CHECK((gt[REF_A].flags & (GTF_reading | GTF_writing)) == 0 && (gt[REF_B].flags & (GTF_reading | GTF_writing)) == 0,
	      "neither entry in use (flags %x %x)", gt[REF_A].flags, gt[REF_B].flags);

	/* The host as the mapper (a backend): C granted to dom0. */
	pv_grant(gt, REF_C, 0, n - 3, 0);
	printf("granted C %lx ref %d\n", (unsigned long)c, REF_C);
	long spins = 0;
	while (!(gt[REF_C].flags & GTF_writing) && spins++ < 1000000) yield();
	CHECK(gt[REF_C].flags & GTF_writing, "the host mapped C writable");
	long r1 = reservation();
	CHECK(give_back(&c, 1) == 1, "C given back while the host maps it");
	CHECK(reservation() == r1, "C still counted while the host maps it");
	printf("given back C\n");
	spins = 0;
	while ((gt[REF_C].flags & GTF_writing) && spins++ < 1000000) yield();
	CHECK(!(gt[REF_C].flags & GTF_writing), "the host unmapped C");
	CHECK(reservation() == r1 - 1, "C left our reservation at the host's unmap (%ld, was %ld)", reservation(), r1);
	CHECK(pv_map(va, (uint64_t)c << 12, 1) < 0, "C is not ours any more: it does not map");
	return 0;
}

static int mapper(int peer)
{
	struct bind_interdomain bi = { peer, 0, 3, 0 };
	int tries = 0;
	while (pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) != 0 && tries++ < 100000) yield();
	CHECK(bi.local_port > 0, "bound to the peer's port (local %u)", bi.local_port);
	pv_events_enable();
	pv_wait_count(bi.local_port, 1); /* the bind marks the new port pending (as Xen): that one first */
	unsigned long va = pv_free_va(3), vb = pv_free_va(4);
	pv_map(va, 0, 0); pv_map(vb, 0, 0);
	struct gnttab_map_grant_ref m[2] = {
		{ va, GNTMAP_host_map, REF_A, (uint16_t)peer, 99, 0, 0 },
		{ vb, GNTMAP_host_map | GNTMAP_readonly, REF_B, (uint16_t)peer, 99, 0, 0 },
	};
	CHECK(gnttab(GNTTABOP_map_grant_ref, m, 2) == 0 && m[0].status == 0 && m[1].status == 0,
	      "A mapped writable, B read-only (%d %d)", m[0].status, m[1].status);
	CHECK(has_pattern(va, 0xa) && has_pattern(vb, 0xb), "A's and B's contents read");
	pv_send(bi.local_port);

	pv_wait_count(bi.local_port, 2); /* the granter gave both back */
	CHECK(has_pattern(va, 0xa) && has_pattern(vb, 0xb), "given back by their owner, A and B still read the same");
	CHECK(pv_try_write(va, 0x600d) == 0 && *(volatile uint32_t *)va == 0x600d, "A still written through");
	struct gnttab_unmap_grant_ref u = { va, 0, m[0].handle, 99, 0 };
	CHECK(gnttab(GNTTABOP_unmap_grant_ref, &u, 1) == 0 && u.status == 0, "A unmapped (%d)", u.status);
	CHECK(pv_try_write(va, 1) == 1, "the VA maps nothing");
	pv_send(bi.local_port);

	pv_wait_count(bi.local_port, 3);
	CHECK(has_pattern(vb, 0xb), "B still reads the same after A went");
	u = (struct gnttab_unmap_grant_ref){ vb, 0, m[1].handle, 99, 0 };
	CHECK(gnttab(GNTTABOP_unmap_grant_ref, &u, 1) == 0 && u.status == 0, "B unmapped (%d)", u.status);
	pv_send(bi.local_port);
	return 0;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	int peer = pv_arg("peer", -1);
	char r = pv_role('?');
	if (r == 'a') granter(peer); else if (r == 'b') mapper(peer);
	else { printf("FAIL: no role on the command line\n"); pv_fail_count++; }
	printf("gntballoon-%c: %s\n", r, pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
