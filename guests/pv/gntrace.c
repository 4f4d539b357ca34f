/* Grant map/unmap races between two domains whose vCPUs run in alternating scheduler slices (issue 12):
 * "role=b" maps the peer's grant 8 writable, writes through it and unmaps it, ITER times in a tight
 * loop (yielding now and then so that the slices interleave at varied points), and every 61st time
 * first clears the mapping's PTE behind the hypervisor's back (update_va_mapping to 0): the unmap then
 * answers GNTST_general_error and the mapping stays, as Xen's replace_grant_pv_mapping ("PTE doesn't
 * match grant"). Meanwhile "role=a", the granter, which does not map the frame itself, keeps attacking
 * the entry: rewriting its flags (blindly, and as Linux's end_foreign_access does, with cmpxchg), its
 * frame (to another of its frames, to one not its own) and its domid, pinning the granted frame as an
 * L1 page table, ballooning it out. Every result must be one Xen gives: map GNTST_okay, general_error
 * (revoked, another domid, the frame a page table) or bad_page (a frame not the granter's); pin 0 or
 * -EINVAL; the balloon done, mapped or not, the frame kept for the mapper until it unmaps (Xen's
 * guest_remove_page); no fault through a mapping the hypervisor said was made.
 * Last, in lockstep: the granter maps its frame writable itself, the mapper maps the grant, clears the
 * PTE, unmaps (general_error); the frame must still be typed writable for the granter's own mapping
 * (pin as L1 refused) and the entry still GTF_writing. tests/gntrace.test.ts runs the pair beside a
 * third domain whose memory it hashes. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"
#include "pt.h"

#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTMAP_host_map 2
#define GTF_reading 8
#define GTF_writing 16
#define XENMEM_decrease_reservation 1
#define XENMEM_populate_physmap 6
#define MMUEXT_UNPIN_TABLE 4
#define REF 8
#define ITER 3000

struct gnttab_map_grant_ref {
	uint64_t host_addr; uint32_t flags, ref; uint16_t dom; int16_t status; uint32_t handle; uint64_t dev_bus_addr;
};
struct gnttab_unmap_grant_ref { uint64_t host_addr, dev_bus_addr; uint32_t handle; int16_t status; uint16_t pad; };
struct reservation {
	xen_ulong_t extent_start; xen_ulong_t nr_extents; uint32_t extent_order, mem_flags; uint16_t domid;
};

static long gnttab(int cmd, void *op, int n) { return HYPERVISOR(__HYPERVISOR_grant_table_op, cmd, op, n); }
static long mmuext(unsigned cmd, xen_ulong_t mfn)
{
	struct mmuext_op op = { cmd, mfn, 0 };
	uint32_t done = 0;
	return hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, (long)&done, DOMID_SELF, 0);
}
static long memop(int cmd, void *arg) { return HYPERVISOR(__HYPERVISOR_memory_op, cmd, arg, 0); }
static void yield(void) { HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0); }
static xen_ulong_t *p2m;
static uint32_t rng = 12345;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static void yield(void);
/* Inside an attack's window: now and then the peer's turn, so that its map meets the rewritten entry. */
static void pause(void)
{
	if ((rnd() & 7) == 0) { yield(); return; }
	for (volatile unsigned i = 0, n = rnd() % 64; i < n; i++) ;
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 14 && pv_try_write_fixup(f)) return;
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}


static int granter(int peer)
{
	unsigned long n = start_info->nr_pages;
	xen_ulong_t gframe = pv_grant_table_setup();
	volatile struct grant_entry *gt = (volatile struct grant_entry *)pv_free_va(1);
	CHECK(pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3) == 0, "grant table mapped");
	/* Frame A (the granted one, pfn n-1) and B (n-2): zeroed through a mapping that is then removed, so
	 * that only the peer's grant mappings reference A while the loop runs. */
	unsigned long va = pv_free_va(2);
	for (unsigned long pfn = n - 2; pfn < n; pfn++) {
		pv_map(va, (uint64_t)p2m[pfn] << 12, 3);
		memset((void *)va, 0, 4096);
	}
	pv_map(va, 0, 0);
	gt[REF].frame = p2m[n - 1]; gt[REF].domid = peer;
	__atomic_store_n(&gt[REF].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
	struct alloc_unbound au = { DOMID_SELF, peer, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "a port for the peer (%u)", au.port);
	pv_events_enable();
	unsigned long ops = 0, inuse = 0, ended = 0, pins = 0, pinref = 0, balloon_mapped = 0, balloon_done = 0;
	unsigned long bad = 0;
	while (pv_event_count[au.port] == 0) {
		xen_ulong_t a = p2m[n - 1];
		unsigned op = rnd() % 7;
		ops++;
		switch (op) {
		case 0: /* revoke blindly, then grant again */
			__atomic_store_n(&gt[REF].flags, 0, __ATOMIC_SEQ_CST);
			pause();
			__atomic_store_n(&gt[REF].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
			break;
		case 1: { /* end access as Linux does: only if neither GTF_reading nor GTF_writing */
			uint16_t f = gt[REF].flags;
			if (f & (GTF_reading | GTF_writing)) { inuse++; break; }
			if (__atomic_compare_exchange_n(&gt[REF].flags, &f, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				ended++;
				pause();
				__atomic_store_n(&gt[REF].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
			}
			break;
		}
		case 2: gt[REF].frame = p2m[n - 2]; pause(); gt[REF].frame = a; break;
		case 3: gt[REF].frame = 0xffff0; pause(); gt[REF].frame = a; break;
		case 4: gt[REF].domid = 77; pause(); gt[REF].domid = peer; break;
		case 5: { /* A as a page table: refused while a writable mapping of it exists */
			long rc = mmuext(MMUEXT_PIN_L1_TABLE, a);
			if (rc == 0) {
				pins++;
				pause();
				if (mmuext(MMUEXT_UNPIN_TABLE, a) != 0) { bad++; printf("FAIL: unpin of A\n"); }
			} else if (rc == -EINVAL) pinref++;
			else { bad++; printf("FAIL: pin of A: %ld\n", rc); }
			break;
		}
		case 6: { /* balloon A out: done, mapped or not (Xen's guest_remove_page) */
			xen_ulong_t ext = a;
			struct reservation r = { (xen_ulong_t)&ext, 1, 0, 0, DOMID_SELF };
			int mapped = (gt[REF].flags & (GTF_reading | GTF_writing)) != 0;
			long rc = memop(XENMEM_decrease_reservation, &r);
			if (rc != 1) { bad++; printf("FAIL: decrease_reservation of A: %ld\n", rc); break; }
			/* A is no longer ours: if the peer maps it, it stays (counted in our reservation) until the
			 * peer's last mapping of it goes, a mapping whose PTE the peer cleared only when the peer is
			 * destroyed: at most ITER / 61 of those, below the 64 pages our reservation may grow beyond
			 * its start. A new frame for the pfn, granted in its place. */
			if (mapped) balloon_mapped++; else balloon_done++;
			ext = n - 1;
			if (memop(XENMEM_populate_physmap, &r) != 1) { bad++; printf("FAIL: populate_physmap\n"); break; }
			p2m[n - 1] = ext;
			pv_map(va, (uint64_t)ext << 12, 3);
			memset((void *)va, 0, 4096);
			pv_map(va, 0, 0);
			gt[REF].frame = ext;
			break;
		}
		}
		if ((rnd() & 3) == 0) yield();
	}
	CHECK(bad == 0, "%lu attacks on the entry and frame while the peer mapped it, every result one Xen gives"
	      " (in use %lu, ended %lu, pinned %lu, pin refused %lu, ballooned out while mapped %lu, while unmapped %lu)",
	      ops, inuse, ended, pins, pinref, balloon_mapped, balloon_done);
	CHECK(pinref + balloon_mapped + inuse > 0, "the peer's mappings were met (pin refused %lu, ballooned out"
	      " while mapped %lu, in use %lu)", pinref, balloon_mapped, inuse);

	/* Lockstep: our own writable mapping of A, then the peer maps it, clears its PTE and unmaps. */
	xen_ulong_t a = p2m[n - 1];
	gt[REF].frame = a; gt[REF].domid = peer;
	__atomic_store_n(&gt[REF].flags, GTF_permit_access, __ATOMIC_SEQ_CST);
	CHECK(pv_map(va, (uint64_t)a << 12, 3) == 0, "A mapped writable by ourselves");
	pv_send(au.port);
	pv_wait_count(au.port, 2);
	CHECK(gt[REF].flags & GTF_writing, "the peer's mapping whose PTE it cleared stays: GTF_writing (%x)", gt[REF].flags);
	long rc = mmuext(MMUEXT_PIN_L1_TABLE, a);
	CHECK(rc == -EINVAL, "A, mapped writable by us, cannot become a page table (pin: %ld)", rc);
	if (rc == 0) mmuext(MMUEXT_UNPIN_TABLE, a);
	*(volatile uint32_t *)va = 0x600d;
	CHECK(*(volatile uint32_t *)va == 0x600d, "our own mapping of A still works");
	pv_send(au.port);
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
	unsigned long va = pv_free_va(3);
	pv_map(va, 0, 0); /* an empty slot (its L1 exists) */
	unsigned long ok = 0, revoked = 0, badpage = 0, cleared = 0, bad = 0;
	for (unsigned i = 0; i < ITER; i++) {
		struct gnttab_map_grant_ref m = { va, GNTMAP_host_map, REF, (uint16_t)peer, 99, 0, 0 };
		long rc = gnttab(GNTTABOP_map_grant_ref, &m, 1);
		if (rc != 0) { bad++; printf("FAIL: map_grant_ref returned %ld\n", rc); continue; }
		if (m.status == -1) { revoked++; goto next; }
		if (m.status == -9) { badpage++; goto next; }
		if (m.status != 0) { bad++; printf("FAIL: map status %d\n", m.status); goto next; }
		ok++;
		if (pv_try_write(va, 0x5a5a0000u + i) != 0 || *(volatile uint32_t *)va != 0x5a5a0000u + i) {
			bad++;
			printf("FAIL: writing through the mapping\n");
		}
		*(volatile uint32_t *)va = 0;
		if ((rnd() & 3) == 0) yield(); /* the granter's turn while we hold the mapping */
		struct gnttab_unmap_grant_ref u = { va, 0, m.handle, 99, 0 };
		if (ok % 61 == 0) {
			/* Behind the hypervisor's back: the PTE cleared, then the unmap refused, the mapping kept. */
			if (pv_map(va, 0, 0) != 0) { bad++; printf("FAIL: clearing the PTE\n"); }
			gnttab(GNTTABOP_unmap_grant_ref, &u, 1);
			if (u.status != -1) { bad++; printf("FAIL: unmap after the PTE was cleared: %d\n", u.status); }
			cleared++;
		} else {
			gnttab(GNTTABOP_unmap_grant_ref, &u, 1);
			if (u.status != 0) { bad++; printf("FAIL: unmap status %d\n", u.status); }
		}
		if (pv_try_write(va, 1) != 1) { bad++; printf("FAIL: the VA still maps after the unmap\n"); }
	next:
		if ((rnd() & 7) == 0) yield();
	}
	CHECK(bad == 0, "%u map/unmap of the peer's grant while it attacked it, every status one Xen gives"
	      " (mapped %lu, general_error %lu, bad_page %lu, PTE cleared first %lu)", ITER, ok, revoked, badpage, cleared);
	CHECK(ok > 0 && revoked + badpage > 0 && cleared > 0, "the attacks were met (mapped %lu, refused %lu)", ok,
	      revoked + badpage);
	/* Lockstep, one event each way in turn (two sends before the peer looks would count as one). */
	pv_send(bi.local_port);
	pv_wait_count(bi.local_port, 2);
	struct gnttab_map_grant_ref m = { va, GNTMAP_host_map, REF, (uint16_t)peer, 99, 0, 0 };
	gnttab(GNTTABOP_map_grant_ref, &m, 1);
	CHECK(m.status == 0, "mapped the grant writable beside the granter's own mapping (%d)", m.status);
	CHECK(pv_map(va, 0, 0) == 0, "its PTE cleared behind the hypervisor's back");
	struct gnttab_unmap_grant_ref u = { va, 0, m.handle, 99, 0 };
	gnttab(GNTTABOP_unmap_grant_ref, &u, 1);
	CHECK(u.status == -1, "the unmap is refused: GNTST_general_error (%d)", u.status);
	pv_send(bi.local_port);
	pv_wait_count(bi.local_port, 3);
	return 0;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	int peer = pv_arg("peer", -1);
	char r = pv_role('?');
	rng += (uint32_t)r * 7919;
	if (r == 'a') granter(peer); else if (r == 'b') mapper(peer);
	else { printf("FAIL: no role on the command line\n"); pv_fail_count++; }
	printf("gntrace-%c: %s\n", r, pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
