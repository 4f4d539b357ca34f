/* memory_op: reservations (current, maximum, increase, decrease, populate_physmap), the memory map,
 * the M2P mapping. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"

#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_current_reservation 3
#define XENMEM_maximum_reservation 4
#define XENMEM_populate_physmap 6
#define XENMEM_memory_map 9
#define XENMEM_machphys_mapping 12

struct reservation {
	xen_ulong_t extent_start;
	xen_ulong_t nr_extents;
	uint32_t extent_order, mem_flags;
	uint16_t domid;
};

static long memop(int cmd, void *arg) { return HYPERVISOR(__HYPERVISOR_memory_op, cmd, arg, 0); }

int pv_main(void)
{
	pv_install_traps();
	uint16_t self = DOMID_SELF;
	long cur = memop(XENMEM_current_reservation, &self);
	long max = memop(XENMEM_maximum_reservation, &self);
	CHECK(cur >= (long)start_info->nr_pages && max >= cur, "reservation %ld of max %ld pages", cur, max);

	xen_ulong_t got[4] = { 0, 0, 0, 0 };
	struct reservation r = { (xen_ulong_t)got, 2, 0, 0, DOMID_SELF };
	CHECK(memop(XENMEM_increase_reservation, &r) == 2 && got[0] && got[1], "increase_reservation gave 2 frames (%lx %lx)", (unsigned long)got[0], (unsigned long)got[1]);
	CHECK(memop(XENMEM_current_reservation, &self) == cur + 2, "the reservation grew by 2");
	unsigned long va = pv_free_va(3);
	CHECK(pv_map(va, (uint64_t)got[0] << 12, 3) == 0, "the new frame is ours: it maps");
	*(volatile uint32_t *)va = 42;
	CHECK(*(volatile uint32_t *)va == 42, "and holds data");
	struct reservation d = { (xen_ulong_t)got, 1, 0, 0, DOMID_SELF };
	/* As Xen's guest_remove_page: given back while we still map it, the frame stays ours (counted, its
	 * contents kept) until that last mapping goes. */
	CHECK(memop(XENMEM_decrease_reservation, &d) == 1, "a frame still mapped is given back (1 extent done)");
	CHECK(memop(XENMEM_current_reservation, &self) == cur + 2, "but still counted while mapped");
	CHECK(*(volatile uint32_t *)va == 42, "and still holds its data");
	CHECK(memop(XENMEM_decrease_reservation, &d) == 1, "given back again: done, without effect");
	CHECK(memop(XENMEM_current_reservation, &self) == cur + 2, "still counted");
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	pv_map(va, (uint64_t)p2m[start_info->nr_pages - 1] << 12, 3);
	CHECK(memop(XENMEM_current_reservation, &self) == cur + 1, "unmapped, it is gone: the reservation shrank by 1");
	CHECK(pv_map(va, (uint64_t)got[0] << 12, 3) < 0, "the frame given back cannot be mapped any more");
	CHECK(memop(XENMEM_decrease_reservation, &d) == 0, "nor given back (not ours: 0 extents done)");
	/* A pinned page table given back stays until it is unpinned. */
	struct reservation d2 = { (xen_ulong_t)&got[1], 1, 0, 0, DOMID_SELF };
	pv_map(va, (uint64_t)got[1] << 12, 3);
	memset((void *)va, 0, 4096);
	pv_map(va, (uint64_t)p2m[start_info->nr_pages - 1] << 12, 3);
	struct mmuext_op pin = { MMUEXT_PIN_L1_TABLE, got[1], 0 };
	uint32_t done = 0;
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&pin, 1, (long)&done, DOMID_SELF, 0) == 0, "a new frame pinned as an L1");
	CHECK(memop(XENMEM_decrease_reservation, &d2) == 1 && memop(XENMEM_current_reservation, &self) == cur + 1,
	      "given back while pinned: done, still counted");
	pin.cmd = MMUEXT_UNPIN_TABLE;
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&pin, 1, (long)&done, DOMID_SELF, 0) == 0, "unpinned");
	CHECK(memop(XENMEM_current_reservation, &self) == cur, "then it is gone: the reservation shrank by 1");

	xen_ulong_t pf[1] = { 123456 };
	struct reservation pp = { (xen_ulong_t)pf, 1, 0, 0, DOMID_SELF };
	CHECK(memop(XENMEM_populate_physmap, &pp) == 1 && pf[0] != 123456, "populate_physmap returned a frame (%lx)", (unsigned long)pf[0]);
	struct reservation bad = { 0x1000, 1, 0, 0, DOMID_SELF };
	CHECK(memop(XENMEM_increase_reservation, &bad) == -EFAULT, "a bad extent pointer -> -EFAULT");
	struct reservation other = { (xen_ulong_t)got, 1, 0, 0, 0 };
	CHECK(memop(XENMEM_increase_reservation, &other) == -EPERM, "another domain's reservation -> -EPERM");
	struct reservation big = { (xen_ulong_t)got, 1, 9, 0, DOMID_SELF };
	CHECK(memop(XENMEM_increase_reservation, &big) < 0, "superpage extents are not offered");

	struct { uint64_t addr, size; uint32_t type; } __attribute__((packed)) e820[4];
	struct { uint32_t nr; uint32_t pad; xen_ulong_t buf; } mm = { 4, 0, (xen_ulong_t)e820 };
#if !defined(__x86_64__)
	struct { uint32_t nr; uint32_t buf; } mm32 = { 4, (uint32_t)e820 };
	long mr = memop(XENMEM_memory_map, &mm32);
	uint32_t nr = mm32.nr;
	(void)mm;
#else
	long mr = memop(XENMEM_memory_map, &mm);
	uint32_t nr = mm.nr;
#endif
	CHECK(mr == 0 && nr == 1 && e820[0].type == 1 && e820[0].size >= (uint64_t)start_info->nr_pages * 4096, "memory_map: one RAM range of %lu KiB", (unsigned long)(e820[0].size >> 10));
	xen_ulong_t mp[3];
	CHECK(memop(XENMEM_machphys_mapping, mp) == 0, "machphys_mapping");
#if defined(__x86_64__)
	CHECK(mp[0] == 0xffff800000000000UL && mp[1] > mp[0], "the M2P is at 0xffff800000000000");
#else
	CHECK(mp[0] == 0xf5800000UL && mp[1] > mp[0], "the M2P is at 0xf5800000");
#endif
	/* Every frame the machine may ever hand out has its M2P entry below max_mfn + 1 (Linux reads none
	 * above: a balloon that grew us with a new frame would see it as having no pfn). As Xen: max_mfn
	 * is the last entry the area holds. */
	long top = HYPERVISOR(__HYPERVISOR_memory_op, 2 /* XENMEM_maximum_ram_page */, 0, 0);
	CHECK(mp[2] == (mp[1] - mp[0]) / sizeof(xen_ulong_t) - 1 && top > 0 && (unsigned long)top <= mp[2] + 1,
	      "machphys_mapping: max_mfn %lx is the area's last entry, the machine's frames end at %lx", (unsigned long)mp[2], (unsigned long)top);
	printf("memory: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
