/* Writes to our own L1 page table (mapped read-only) by ordinary instructions: a 64-bit kernel's are
 * emulated by the hypervisor (its instruction emulator, validated as mmu_update would: MOV, MOV imm,
 * XCHG, CMPXCHG of whole entries, AND/OR of part of one), including forms a byte parser gets wrong
 * (OR from AH; a REX prefix that a later prefix cancels); refused ones (a partial MOV, a misaligned
 * operand, an entry that fails validation) give the guest its #PF with the entry unchanged. A 32-bit
 * kernel's writes are not emulated: they fault. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"
#include "pt.h"

static volatile int faults;
#if defined(__x86_64__)
extern char ptw_begin[], ptw_end[], ptw_refused[];
#endif

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 14 && pv_try_write_fixup(f)) { faults++; return; }
#if defined(__x86_64__)
	if (f->vector == 14 && f->rip >= (unsigned long)ptw_begin && f->rip < (unsigned long)ptw_end) {
		f->rip = (unsigned long)ptw_refused;
		faults++;
		return;
	}
#endif
	printf("unexpected trap %u at %lx error %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

#define ADDR 0x000ffffffffff000ULL
static xen_ulong_t *p2m;
static uint64_t ma_of_pfn(unsigned long pfn) { return (uint64_t)p2m[pfn] << 12; }
static volatile uint64_t *pte;
/* The entry maps frame `ma` with RW = `rw` (the hypervisor adds bits of its own: U, accessed ...). */
static __attribute__((unused)) int is(uint64_t ma, uint64_t rw) { return (*pte & ADDR) == ma && (*pte & 2) == rw && (*pte & 1); }
static __attribute__((unused)) void flush(void)
{
	struct mmuext_op op = { MMUEXT_TLB_FLUSH_LOCAL, 0, 0 };
	hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, 0, DOMID_SELF, 0);
}

#if defined(__x86_64__)
/* Each ptw_* makes one write to (%rdi) as its first instruction and returns 0; when that write
 * faults, pv_trap resumes at ptw_refused, which returns 1. */
long ptw_movl(volatile uint64_t *p, uint64_t v);
long ptw_rex_ds(volatile uint64_t *p, uint64_t v);
long ptw_orl_misaligned(volatile uint64_t *p, uint64_t v);
long ptw_movq(volatile uint64_t *p, uint64_t v);
__asm__(".text\n"
	"ptw_begin:\n"
	".globl ptw_movl\nptw_movl: movl %esi, (%rdi)\n xor %eax, %eax\n ret\n"
	/* REX.W, then DS: the REX is not the last prefix, so the CPU ignores it: a 32-bit MOV. */
	".globl ptw_rex_ds\nptw_rex_ds: .byte 0x48, 0x3e, 0x89, 0x37\n xor %eax, %eax\n ret\n"
	".globl ptw_orl_misaligned\nptw_orl_misaligned: orl $0, 2(%rdi)\n xor %eax, %eax\n ret\n"
	".globl ptw_movq\nptw_movq: movq %rsi, (%rdi)\n xor %eax, %eax\n ret\n"
	"ptw_end:\n"
	"ptw_refused: mov $1, %eax\n ret\n");
#endif

int pv_main(void)
{
	pv_install_traps();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	/* Two data frames A and B with a word each, and a VA whose L1 entry we rewrite. */
	unsigned long va = pv_free_va(4);
	uint64_t A = ma_of_pfn(n - 1), B = ma_of_pfn(n - 2);
	pv_map(va, A, 3); *(volatile uint32_t *)va = 0xaaaa0001;
	pv_map(va, B, 3); *(volatile uint32_t *)va = 0xbbbb0002;
	CHECK(pv_map(va, A, 1) == 0, "VA mapped to frame A, read-only");
	uint64_t e = l1e_ma(va);
	pte = (volatile uint64_t *)(va_of_pfn(M2P[e >> 12]) + (unsigned long)(e & 0xfff));
	CHECK((*pte & ADDR) == A && *(volatile uint32_t *)va == 0xaaaa0001, "its L1 entry found (%llx)", (unsigned long long)*pte);
	/* pv_try_write: a plain MOV of a whole entry. */
	long r = pv_try_write((unsigned long)pte, B | 1);
#if defined(__x86_64__)
	CHECK(r == 0 && faults == 0 && (*pte & ADDR) == B, "MOV of a whole entry: emulated (%llx r=%ld)", (unsigned long long)*pte, r);

	uint64_t v = A | 3, old, cur;
	__asm__ volatile("movq %1, (%0)" : : "r"(pte), "r"(v) : "memory");
	CHECK(is(A, 2), "MOV r64 to the entry (%llx)", (unsigned long long)*pte);
	__asm__ volatile("movq $%c1, (%0)" : : "r"(pte), "i"(0) : "memory");
	CHECK(*pte == 0, "MOV imm32 (sign-extended) to the entry");
	v = B | 1;
	__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(pte) : "memory");
	old = A | 3;
	__asm__ volatile("xchgq %0, (%1)" : "+r"(old) : "r"(pte) : "memory");
	CHECK((old & ADDR) == B && is(A, 2), "XCHG: the old entry returned, the new one written");
	flush();
	CHECK(*(volatile uint32_t *)va == 0xaaaa0001, "and the VA maps frame A (reads through it)");
	/* CMPXCHG: a mismatch loads RAX and leaves the entry; a match writes it. */
	uint8_t zf;
	uint64_t was = *pte;
	cur = B | 1; v = B | 3;
	__asm__ volatile("lock cmpxchgq %3, (%2); setz %1" : "+a"(cur), "=q"(zf) : "r"(pte), "r"(v) : "memory", "cc");
	CHECK(!zf && cur == was && *pte == was, "LOCK CMPXCHG, no match: ZF clear, RAX = the entry");
	__asm__ volatile("lock cmpxchgq %3, (%2); setz %1" : "+a"(cur), "=q"(zf) : "r"(pte), "r"(v) : "memory", "cc");
	CHECK(zf && is(B, 2), "LOCK CMPXCHG, match: ZF set, entry written");
	/* AND/OR of part of an entry (Linux's clear_bit/set_bit on PTE flags). */
	__asm__ volatile("lock andb $0xfd, (%0)" : : "r"(pte) : "memory", "cc");
	CHECK(is(B, 0), "LOCK AND of a byte: RW cleared");
	__asm__ volatile("lock orb $2, (%0)" : : "r"(pte) : "memory", "cc");
	CHECK(is(B, 2), "LOCK OR of a byte: RW set");
	uint32_t m32 = ~2u;
	__asm__ volatile("andl %1, (%0)" : : "r"(pte), "r"(m32) : "memory", "cc");
	CHECK(is(B, 0), "AND of a dword from a register");
	uint64_t two = 2;
	__asm__ volatile("orq %1, (%0)" : : "r"(pte), "r"(two) : "memory", "cc");
	CHECK(is(B, 2), "OR of a qword from a register");
	__asm__ volatile("andq $-3, (%0)" : : "r"(pte) : "memory", "cc");
	CHECK(is(B, 0), "AND of a qword with imm8 (sign-extended)");
	/* OR from AH (ModRM.reg 4 without REX: AH, not SPL). */
	__asm__ volatile("movl $0x200, %%eax; orb %%ah, (%0)" : : "r"(pte) : "rax", "memory", "cc");
	CHECK(is(B, 2), "OR of a byte from AH (%llx)", (unsigned long long)*pte);
	/* The flags of OR: CF OF AF clear, ZF SF PF from the (nonzero, positive) result. */
	uint64_t fl;
	__asm__ volatile("orq $0, (%1); pushfq; popq %0" : "=r"(fl) : "r"(pte) : "memory", "cc");
	uint64_t want = 0;
	for (uint64_t b = *pte & 0xff; b; b >>= 1) want ^= b & 1;
	want = want ? 0 : 4;
	CHECK((fl & 0x8d5) == want, "OR: flags %llx (want %llx)", (unsigned long long)(fl & 0x8d5), (unsigned long long)want);
	flush();
	CHECK(*(volatile uint32_t *)va == 0xbbbb0002, "the VA maps frame B");

	/* Refused: the guest gets its #PF and the entry stays. */
	int f0 = faults;
	uint64_t keep = *pte;
	CHECK(ptw_movl(pte, A | 1) == 1 && faults == f0 + 1 && *pte == keep, "a 32-bit MOV to half an entry: #PF");
	CHECK(ptw_rex_ds(pte, A | 1) == 1 && faults == f0 + 2 && *pte == keep, "REX.W then DS (REX ignored: 32-bit): #PF");
	CHECK(ptw_orl_misaligned(pte, 0) == 1 && faults == f0 + 3 && *pte == keep, "a misaligned OR: #PF");
	CHECK(ptw_movq(pte, (e & ~0xfffULL) | 3) == 1 && faults == f0 + 4 && *pte == keep, "an entry mapping our L1 writable: #PF");
	CHECK(ptw_movq(pte, 0x100000 | 1) == 1 && faults == f0 + 5 && *pte == keep, "an entry mapping hypervisor memory: #PF");
	CHECK(ptw_movq(pte, A | 3) == 0 && faults == f0 + 5 && is(A, 2), "(and a good one still emulated)");
#else
	CHECK(r == 1 && faults == 1 && (*pte & ADDR) == A, "32-bit guests: a write to an L1 entry faults, entry unchanged");
#endif
	printf("ptwr: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
