/* 32-bit PV guest user mode (ring 3): user mappings added through mmu_update (a new L2 under L3
 * slot 1), the iret hypercall to ring 3, INT $0x80 system calls bounced to the ring-1 kernel on its
 * stack_switch stack, SYSENTER (#GP(0) with no callback, then the sysenter callback, both with Xen's
 * frame: EIP/ESP 0, CS 3), a #GP for a privileged instruction and a #PF on supervisor-only memory.
 * Prints "ok:"/"FAIL:" and a verdict. */
#include "pv.h"

#define VIRT_BASE 0xc0000000UL
#define M2P ((volatile uint32_t *)0xf5800000UL)
#define USER_CODE 0x40000000UL
#define USER_STACK 0x40001000UL

extern char pv_user32_code[], pv_user32_code_end[];
void pv_enter_user32(unsigned long eip, unsigned long esp) __attribute__((noreturn));
static xen_ulong_t *p2m;
static uint64_t ma_of_pfn(unsigned long pfn) { return (uint64_t)p2m[pfn] << 12; }
static unsigned long sys1, sys3, gp_err, pf_err, pf_cr2, nsys, user_cs;
static unsigned long se_gp, se_gp_err, se_gp_frame, se_cb, se_cb_frame, se_cb_ebx, se_masked;
extern char pv_vec0x81[];

/* Back to ring 3 after a SYSENTER: at EDX on the stack in ECX (as SYSEXIT would). */
static void sysexit_frame(struct pv_frame *f)
{
	uint32_t *up = &f->rflags + 1; /* the ESP and SS words of a frame from ring 3 */
	f->rip = f->edx;
	f->cs = (f->cs & ~0xffffu) | 0xe02b;
	up[0] = f->ecx;
	up[1] = 0xe033;
}
/* Xen's frame for SYSENTER: EIP 0, CS 3, ESP 0, SS the flat ring-3 data selector. */
static int sysenter_frame(struct pv_frame *f)
{
	uint32_t *up = &f->rflags + 1;
	return f->rip == 0 && (f->cs & 0xffff) == 3 && up[0] == 0 && up[1] == 0xe033;
}
static uint8_t kstack[16384] __attribute__((aligned(16)));
static void finish(void) __attribute__((noreturn));

struct frame3 { uint32_t eip, cs, eflags, esp, ss; };

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 0x80) {
		nsys++;
		user_cs = f->cs;
		if (f->rax == 1) sys1 = f->ebx;
		else if (f->rax == 2) f->rax = 77;
		else if (f->rax == 3) sys3 = f->ebx;
		return;
	}
	if (f->vector == 13 && f->rip == 0 && (f->cs & 0xffff) == 3) {
		/* SYSENTER with no callback: register one (events masked in it) and go on. */
		se_gp++;
		se_gp_err = f->error;
		se_gp_frame = sysenter_frame(f);
		struct { uint16_t type, flags; uint32_t cs, eip; } cb = { 5 /* sysenter */, 1, 0xe019, (uint32_t)pv_vec0x81 };
		HYPERVISOR(__HYPERVISOR_callback_op, 0, &cb, 0);
		sysexit_frame(f);
		return;
	}
	if (f->vector == 0x81) {
		se_cb++;
		se_cb_frame = sysenter_frame(f);
		se_cb_ebx = f->ebx;
		se_masked = pv_vcpu_info()[1];
		sysexit_frame(f);
		return;
	}
	if (f->vector == 13 && (f->cs & 3) == 3) { gp_err = f->error; f->rip += 1; return; } /* skip cli */
	if (f->vector == 14 && (f->cs & 3) == 3) {
		pf_err = f->error;
		pf_cr2 = *(volatile uint32_t *)(pv_shared_info + 8);
		/* Back to the kernel: a ring-1 frame (no ESP/SS words are popped for ring 1). */
		f->rip = (unsigned long)finish;
		f->cs = 0xe019;
		return;
	}
	printf("unexpected trap %u at %lx err %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

static long mmu_update(uint64_t ptr, uint64_t val)
{
	struct mmu_update u = { ptr, val };
	return hypercall5(__HYPERVISOR_mmu_update, (long)&u, 1, 0, DOMID_SELF, 0);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	unsigned long L2 = n - 2, L1 = n - 3, CODE = n - 4, STK = n - 5, SCR = n - 6;
	unsigned long wva = pv_free_va(3);
	pv_map(wva, ma_of_pfn(CODE), 3);
	memcpy((void *)wva, pv_user32_code, pv_user32_code_end - pv_user32_code);
	pv_map(wva, ma_of_pfn(L1), 3);
	uint64_t *t = (uint64_t *)wva;
	for (int i = 0; i < 512; i++) t[i] = 0;
	t[(USER_CODE >> 12) & 511] = ma_of_pfn(CODE) | 5;
	t[(USER_STACK >> 12) & 511] = ma_of_pfn(STK) | 7;
	pv_map(wva, ma_of_pfn(L2), 3);
	for (int i = 0; i < 512; i++) t[i] = 0;
	t[(USER_CODE >> 21) & 511] = ma_of_pfn(L1) | 7;
	pv_map(wva, ma_of_pfn(SCR), 3);
	unsigned long cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	CHECK(mmu_update((cr3 & ~0xfffUL) + 1 * 8, ma_of_pfn(L2) | 1) == 0, "new L2 validated and installed in L3 slot 1");
	HYPERVISOR(__HYPERVISOR_stack_switch, 0xe021, kstack + sizeof(kstack), 0);
	pv_console_flush();
	pv_enter_user32(USER_CODE, USER_STACK + 4096);
}

static void finish(void)
{
	CHECK(nsys == 3 && (user_cs & 3) == 3, "three INT $0x80 calls from ring 3 (%lu)", nsys);
	CHECK(sys1 == 0x1234, "the kernel saw the user's EBX");
	CHECK(sys3 == 77, "the result of call 2 reached ring 3 (%lu)", sys3);
	CHECK(se_gp == 1 && se_gp_err == 0, "SYSENTER with no callback -> #GP(0) (%lu, error %lx)", se_gp, se_gp_err);
	CHECK(se_gp_frame, "... with Xen's sysenter frame (EIP 0, CS 3, ESP 0, SS 0xe033)");
	CHECK(se_cb == 1 && se_cb_ebx == 0x5e2, "SYSENTER -> the sysenter callback, user registers intact (%lu, EBX %lx)", se_cb, se_cb_ebx);
	CHECK(se_cb_frame, "... with Xen's sysenter frame");
	CHECK(se_masked == 1, "events masked in a callback registered with CALLBACKF_mask_events");
	CHECK(gp_err == 0, "cli in ring 3 -> #GP(0)");
	CHECK(pf_err == 5, "user read of supervisor memory -> #PF error 5 (%lx)", pf_err);
	CHECK(pf_cr2 == 0xc0100000UL, "CR2 (%lx)", pf_cr2);
	printf("user32: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	exit(pv_fail_count ? 1 : 0);
}
