/* Exceptions of a PV kernel: bounced through its trap table with Xen's frames, privileged
 * instructions emulated or refused with #GP, the forced-emulation CPUID prefix, and #PF with CR2 in
 * vcpu_info. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"

static volatile unsigned long last_vec, last_err, last_rip, skip_to;
static volatile int traps_seen;

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	traps_seen++;
	last_vec = f->vector;
	last_err = f->error;
	last_rip = f->rip;
	if (skip_to) { f->rip = skip_to; skip_to = 0; }
}

#define TRAP_AT(label) __asm__ volatile(".globl " #label "\n" #label ":")
extern char after_ud2[], after_div[], after_pf[], after_hlt[], at_ud2[], at_div[], at_pf[], at_hlt[];

static void cpuid_fe(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("ud2; .ascii \"xen\"; cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "0"(leaf), "2"(0));
}

int pv_main(void)
{
	pv_install_traps();

	/* int3: a trap, the frame's RIP is after the instruction. */
	__asm__ volatile("int3");
	CHECK(last_vec == 3 && traps_seen == 1, "int3 bounced to vector 3 (vec %lu)", last_vec);

	/* ud2: a fault at the instruction; the handler moves RIP past it. */
	skip_to = (unsigned long)after_ud2;
	__asm__ volatile(".globl at_ud2\nat_ud2: ud2\n.globl after_ud2\nafter_ud2:");
	CHECK(last_vec == 6 && last_rip == (unsigned long)at_ud2, "ud2 -> #UD at the instruction");

	/* Divide by zero. */
	skip_to = (unsigned long)after_div;
	__asm__ volatile("xor %%ecx, %%ecx\n.globl at_div\nat_div: divl %%ecx\n.globl after_div\nafter_div:" : : "a"(1), "d"(0) : "ecx");
	CHECK(last_vec == 0 && last_rip == (unsigned long)at_div, "divide by zero -> #DE");

	/* #PF on an unmapped address: error code 0 (kernel read, not present), CR2 in vcpu_info. */
	unsigned long si_va = pv_free_va(0);
	long rc = pv_map(si_va, start_info->shared_info, 3);
	CHECK(rc == 0, "shared_info mapped with update_va_mapping (rc %ld)", rc);
	volatile uint8_t *si = (volatile uint8_t *)si_va;
#if defined(__x86_64__)
	unsigned long bad = 0xffffffffc0000000UL;
	volatile uint64_t *cr2 = (volatile uint64_t *)(si + 16);
#else
	unsigned long bad = 0xe0000000UL;
	volatile uint32_t *cr2 = (volatile uint32_t *)(si + 8);
#endif
	skip_to = (unsigned long)after_pf;
	__asm__ volatile(".globl at_pf\nat_pf: mov (%0), %%al\n.globl after_pf\nafter_pf:" : : "r"(bad) : "eax", "memory");
	CHECK(last_vec == 14 && last_err == 0 && last_rip == (unsigned long)at_pf, "#PF bounced with error code 0 (err %lx)", last_err);
	CHECK(*cr2 == bad, "CR2 in vcpu_info (%lx)", (unsigned long)*cr2);

	/* A privileged instruction the hypervisor does not emulate: #GP(0). */
	skip_to = (unsigned long)after_hlt;
	__asm__ volatile(".globl at_hlt\nat_hlt: hlt\n.globl after_hlt\nafter_hlt:");
	CHECK(last_vec == 13 && last_err == 0 && last_rip == (unsigned long)at_hlt, "hlt -> #GP(0)");

	/* Emulated: reading CR3 gives the machine address of the top-level page table. */
	unsigned long cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long top_pfn = (start_info->pt_base - (start_info->mfn_list & ~0xfffffffUL)) >> 12;
	(void)top_pfn;
	CHECK((cr3 & 0xfff) == 0 && cr3 != 0, "mov %%cr3 emulated (%lx)", cr3);
	int found = 0;
	for (unsigned long i = 0; i < start_info->nr_pages; i++) if (p2m[i] == (cr3 >> 12)) found = 1;
	CHECK(found, "CR3 is one of our frames");

	/* Forced-emulation CPUID: Xen's signature at 0x40000000. */
	uint32_t r[4];
	cpuid_fe(0x40000000, r);
	CHECK(r[1] == 0x566e6558 && r[2] == 0x65584d4d && r[3] == 0x4d4d566e, "forced CPUID leaf 0x40000000 says XenVMMXenVMM");
	cpuid_fe(0x40000001, r);
	CHECK(r[0] == 0x40013, "forced CPUID leaf 0x40000001: version 4.19 (%x)", r[0]);
	/* Xen's PV policy passes BMI1 and BMI2 (leaf 7.0 EBX bits 3, 8); no AVX2 (bit 5), no AVX (leaf 1 ECX 28). */
	cpuid_fe(7, r);
	CHECK((r[1] & 0x128) == 0x108, "forced CPUID leaf 7.0: BMI1 and BMI2, no AVX2 (ebx %x)", r[1]);
	cpuid_fe(1, r);
	CHECK(!(r[2] & (1u << 28)), "forced CPUID leaf 1: no AVX (ecx %x)", r[2]);
	/* and the kernel runs them: ANDN, BLSR, PEXT, TZCNT */
	{
		unsigned long a = 0xf0f0, b = 0xff00, x, y, z, t;
		__asm__ volatile("andn %2, %3, %0\n\tblsr %2, %1" : "=&r"(x), "=&r"(y) : "r"(b), "r"(a));
		__asm__ volatile("pext %2, %3, %0\n\ttzcnt %2, %1" : "=&r"(z), "=&r"(t) : "r"(b), "r"(a));
		CHECK(x == 0x0f00 && y == 0xfe00 && z == 0xf0 && t == 8, "BMI in the PV kernel (%lx %lx %lx %lx)", x, y, z, t);
	}

	/* INT 0x80 through a trap-table entry with DPL 3. */
	int before = traps_seen;
	__asm__ volatile("int $0x80");
	CHECK(traps_seen == before + 1 && last_vec == 0x80, "int $0x80 reached its handler");

#if defined(__x86_64__)
	/* WRMSR to GS_BASE from the ring-3 kernel is emulated. */
	static uint64_t gsval = 0x1234567890abcdefULL;
	uint64_t base = (uint64_t)&gsval, got;
	__asm__ volatile("wrmsr" : : "c"(0xc0000101), "a"((uint32_t)base), "d"((uint32_t)(base >> 32)));
	__asm__ volatile("mov %%gs:0, %0" : "=r"(got));
	CHECK(got == gsval, "wrmsr GS_BASE emulated");
#endif
	printf("traps: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
