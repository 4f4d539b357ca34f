/* Page-table safety: the hypervisor validates every page-table update. Legitimate updates work
 * (remapping, building and pinning a new L1, M2P updates, clear/copy page); hostile ones are refused
 * with Xen's error codes and leave nothing half-done: mapping frames we do not own (the hypervisor's,
 * the M2P's), writable mappings of our own page tables, an L1 that maps itself writable, the
 * hypervisor's page-table slots, foreign M2P updates, bad pointers. Direct writes to page tables and
 * to the M2P fault. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"
#include "pt.h"

#if defined(__x86_64__)
#define XEN_SLOT_PTR(l4ma) ((l4ma) + 256 * 8)
#define NO_L1_VA 0xffff900000000000UL
#else
#define NO_L1_VA 0x80000000UL
#endif

static volatile int faults;
void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 14 && pv_try_write_fixup(f)) { faults++; return; }
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

static xen_ulong_t *p2m;
static uint64_t ma_of_pfn(unsigned long pfn) { return (uint64_t)p2m[pfn] << 12; }

static long mmu_update(uint64_t ptr, uint64_t val)
{
	struct mmu_update u = { ptr, val };
	uint32_t done = 99;
	long rc = hypercall5(__HYPERVISOR_mmu_update, (long)&u, 1, (long)&done, DOMID_SELF, 0);
	if (rc == 0 && done != 1) return -1000;
	return rc;
}
static long mmuext(uint32_t cmd, xen_ulong_t a1)
{
	struct mmuext_op op = { cmd, a1, 0 };
	return hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, 0, DOMID_SELF, 0);
}


int pv_main(void)
{
	pv_install_traps();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	unsigned long pt_pfn = (start_info->pt_base - VIRT_BASE) >> 12;

	/* The M2P is mapped read-only: it inverts the p2m. */
	CHECK(M2P[p2m[5]] == 5 && M2P[p2m[n - 1]] == n - 1, "M2P readable and consistent with the p2m");
	CHECK(pv_try_write((unsigned long)&M2P[p2m[5]], 7) == 1 && faults == 1 && M2P[p2m[5]] == 5, "writing the M2P faults");

	/* Remap a free VA to the last page of our memory; write through it. */
	unsigned long va = pv_free_va(4);
	unsigned long last = n - 1;
	CHECK(pv_map(va, ma_of_pfn(last), 3) == 0, "update_va_mapping to our own frame");
	*(volatile uint32_t *)va = 0xfeedf00d;
	/* ... read back through a second mapping. */
	unsigned long va2 = pv_free_va(5);
	pv_map(va2, ma_of_pfn(last), 1);
	CHECK(*(volatile uint32_t *)va2 == 0xfeedf00d, "a second (read-only) mapping sees the data");
	CHECK(pv_try_write(va2, 1) == 1 && faults == 2, "writing through the read-only mapping faults");

	/* Hostile mappings are refused, and the entry is unchanged after each. */
	uint64_t e = l1e_ma(va);
	CHECK(pv_map(va, 0x100000, 3) < 0, "mapping hypervisor memory (the CPU state) is refused");
	CHECK(pv_map(va, 0x2000000, 1) < 0, "mapping an M2P frame directly is refused");
	CHECK(pv_map(va, ma_of_pfn(pt_pfn), 3) < 0, "a writable mapping of our own top-level table is refused");
	CHECK(pv_map(va, ma_of_pfn(pt_pfn), 1) == 0, "a read-only one is fine");
	CHECK(mmu_update(e, ma_of_pfn(pt_pfn + 1) | 3) < 0, "mmu_update: writable mapping of a page table refused");
	CHECK(pv_map(va, 0xfffff000, 3) < 0, "a frame beyond machine memory is refused");
	CHECK(pv_map(va, ma_of_pfn(last), 3 | 0x10) == -EINVAL, "cache-attribute bits (PCD) in an L1 entry -> -EINVAL");
	CHECK(pv_map(va, ma_of_pfn(last), 3) == 0 && *(volatile uint32_t *)va == 0xfeedf00d, "the mapping still works after the refusals");
	CHECK(pv_map(NO_L1_VA, ma_of_pfn(last), 3) == -EINVAL, "update_va_mapping where no L1 exists -> -EINVAL");

	/* Writing to our page tables directly faults (they are mapped read-only). */
	CHECK(pv_try_write(start_info->pt_base, 0) == 1 && faults == 3, "a direct write to the top-level table faults");

	/* The hypervisor's slots cannot be written. */
	unsigned long cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
#if defined(__x86_64__)
	CHECK(mmu_update(XEN_SLOT_PTR(cr3 & ~0xfffUL), ma_of_pfn(last) | 7) == -EINVAL, "L4 slot 256 (hypervisor area) -> -EINVAL");
#else
	uint64_t *l3 = (uint64_t *)va_of_pfn(M2P[cr3 >> 12]);
	uint64_t l2ma = l3[3] & 0xffffff000ULL;
	CHECK(mmu_update(l2ma + 428 * 8, ma_of_pfn(last) | 7) == -EPERM, "L2 slot 428 (hypervisor area) -> -EPERM");
	CHECK(mmu_update((cr3 & ~0xfffUL) + 3 * 8, 0) == -EINVAL, "L3 slot 3 cannot change -> -EINVAL");
#endif

	/* Build a new L1 in a free frame, pin it, hook it into our tables. */
	unsigned long l1pfn = n - 2, datapfn = n - 3;
	unsigned long wva = pv_free_va(6);
	pv_map(wva, ma_of_pfn(l1pfn), 3);
	uint64_t *l1 = (uint64_t *)wva;
	for (int i = 0; i < 512; i++) l1[i] = 0;
	l1[7] = ma_of_pfn(datapfn) | 3;
	pv_map(wva, ma_of_pfn(datapfn), 3); /* drop our writable mapping of the future L1 */
	*(volatile uint32_t *)wva = 0xabcd1234;
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE, p2m[l1pfn]) == 0, "pin a new L1");
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE, p2m[l1pfn]) == -EINVAL, "pinning it twice -> -EINVAL");
	CHECK(pv_map(wva, ma_of_pfn(l1pfn), 3) < 0, "the pinned L1 cannot be mapped writable");
	CHECK(mmuext(MMUEXT_UNPIN_TABLE, p2m[l1pfn]) == 0, "unpin it");
	CHECK(mmuext(MMUEXT_UNPIN_TABLE, p2m[l1pfn]) == -EINVAL, "unpin again -> -EINVAL");
	/* An L1 that maps itself writable never validates. */
	pv_map(wva, ma_of_pfn(l1pfn), 3);
	l1[8] = ma_of_pfn(l1pfn) | 3;
	pv_map(wva, ma_of_pfn(datapfn), 3);
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE, p2m[l1pfn]) < 0, "an L1 mapping itself writable is refused");
	/* An L1 mapping hypervisor memory never validates either. */
	pv_map(wva, ma_of_pfn(l1pfn), 3);
	l1[8] = 0x100000 | 1;
	pv_map(wva, ma_of_pfn(datapfn), 3);
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE, p2m[l1pfn]) < 0, "an L1 mapping hypervisor memory is refused");
	/* A data page full of garbage cannot become our top-level table. */
	pv_map(wva, ma_of_pfn(l1pfn), 3);
	for (int i = 0; i < 512; i++) l1[i] = 0x100000 | 7;
	pv_map(wva, ma_of_pfn(datapfn), 3);
	CHECK(mmuext(MMUEXT_NEW_BASEPTR, p2m[l1pfn]) < 0, "NEW_BASEPTR with a garbage table is refused");
	unsigned long cr3b;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3b));
	CHECK(cr3b == cr3, "and CR3 is unchanged");

	/* M2P updates: our own frames only. */
	CHECK(mmu_update(ma_of_pfn(datapfn) | MMU_MACHPHYS_UPDATE, datapfn) == 0, "MMU_MACHPHYS_UPDATE of our frame");
	CHECK(mmu_update(0x100000 | MMU_MACHPHYS_UPDATE, 1) == -EINVAL, "... of a frame that is not ours -> -EINVAL");

	/* Clear/copy page. */
	struct mmuext_op cp = { 17 /* COPY_PAGE */, p2m[l1pfn], p2m[datapfn] };
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&cp, 1, 0, DOMID_SELF, 0) == 0, "COPY_PAGE");
	pv_map(wva, ma_of_pfn(l1pfn), 1);
	CHECK(*(volatile uint32_t *)wva == 0xabcd1234, "copied");
	struct mmuext_op cl = { 16 /* CLEAR_PAGE */, p2m[l1pfn], 0 };
	hypercall5(__HYPERVISOR_mmuext_op, (long)&cl, 1, 0, DOMID_SELF, 0);
	CHECK(*(volatile uint32_t *)wva == 0, "CLEAR_PAGE");
	struct mmuext_op bad = { 16, 0x100, 0 };
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&bad, 1, 0, DOMID_SELF, 0) == -EINVAL, "CLEAR_PAGE of hypervisor memory -> -EINVAL");

	/* Bad pointers and unknown operations. */
	CHECK(hypercall5(__HYPERVISOR_mmu_update, 0x1000, 1, 0, DOMID_SELF, 0) == -EFAULT, "mmu_update with a bad pointer -> -EFAULT");
	CHECK(mmuext(99, 0) == -ENOSYS, "unknown mmuext command -> -ENOSYS");
	CHECK(hypercall5(63, 0, 0, 0, 0, 0) == -ENOSYS, "unknown hypercall -> -ENOSYS");
	CHECK(HYPERVISOR(__HYPERVISOR_console_io, CONSOLEIO_write, 10, 0x1000) == -EFAULT, "console_io with a bad buffer -> -EFAULT");
	CHECK(hypercall5(__HYPERVISOR_mmu_update, (long)&cp, 1, 0, 5, 0) < 0, "mmu_update on a foreign domain (not privileged) is refused");

	printf("mmu: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
