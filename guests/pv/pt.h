/* Our own page tables, seen from a PV guest: where the kernel maps pseudo-physical memory (VIRT_BASE), the
 * hypervisor's read-only M2P table, and the machine address of the L1 entry of a virtual address, found by
 * walking the tables through those mappings (both widths: 4 levels, or 3-level PAE). */
#ifndef PV_PT_H
#define PV_PT_H
#include <stdint.h>

#if defined(__x86_64__)
#define VIRT_BASE 0xffffffff80000000UL
#define M2P ((volatile uint64_t *)0xffff800000000000UL)
#else
#define VIRT_BASE 0xc0000000UL
#define M2P ((volatile uint32_t *)0xf5800000UL)
#endif

static inline unsigned long va_of_pfn(unsigned long pfn) { return VIRT_BASE + (pfn << 12); }

static inline uint64_t l1e_ma(unsigned long va)
{
	unsigned long cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t t = cr3 & ~0xfffUL;
#if defined(__x86_64__)
	for (int lvl = 4; lvl >= 2; lvl--) {
		uint64_t *tv = (uint64_t *)va_of_pfn(M2P[t >> 12]);
		t = tv[(va >> (12 + 9 * (lvl - 1))) & 511] & 0x000ffffffffff000ULL;
	}
#else
	uint64_t *l3 = (uint64_t *)va_of_pfn(M2P[t >> 12]);
	uint64_t e3 = l3[(va >> 30) & 3];
	uint64_t *l2 = (uint64_t *)va_of_pfn(M2P[(e3 & 0xffffff000ULL) >> 12]);
	t = l2[(va >> 21) & 511] & 0xffffff000ULL;
#endif
	return t + ((va >> 12) & 511) * 8;
}
#endif
