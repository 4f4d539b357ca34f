/* 64-bit PV guest user mode: separate user page tables (NEW_USER_BASEPTR), the iret hypercall into
 * ring-3 user code, SYSCALL from user mode delivered to the kernel's syscall callback with Xen's
 * frame, the return to user mode, SYSENTER (#GP(0) with no callback, then the sysenter callback, both
 * with Xen's frame: RIP/RSP 0, CS 3), 200 system calls in a loop that writes the user stack, and a user-mode #PF
 * (kernel memory is not in the user tables, though the kernel just ran on it)
 * bounced to the kernel with the user bit in the error code. Prints "ok:"/"FAIL:" and a verdict. */
#include "pv.h"

#define VIRT_BASE 0xffffffff80000000UL
#define USER_CODE 0x400000UL
#define USER_STACK 0x401000UL

extern char pv_user_code[], pv_user_code_end[], pv_syscall_entry[];
void pv_enter_user(unsigned long rip, unsigned long rsp) __attribute__((noreturn));
static xen_ulong_t *p2m;
static uint64_t ma_of_pfn(unsigned long pfn) { return (uint64_t)p2m[pfn] << 12; }
static unsigned long sys1_arg, sys3_arg, pf_err, pf_cr2, pf_cs;
static int nsys, nloop, kernel_mode_in_handler;
static unsigned long se_gp, se_gp_err, se_gp_frame, se_cb, se_cb_frame, se_cb_rbx, se_kernel;
extern char pv_vec0x81[];

/* Xen's frame for SYSENTER: RIP 0, CS 3, RSP 0, SS the flat user data selector. */
static int sysenter_frame(struct pv_frame *f) { return f->rip == 0 && (f->cs & 0xffff) == 3 && f->rsp == 0 && f->ss == 0xe02b; }
/* Back to user mode after a SYSENTER: at RDX on the stack in RCX. */
static void sysexit_frame(struct pv_frame *f)
{
	f->rip = f->rdx;
	f->cs = (f->cs & ~0xffffUL) | 0xe033;
	f->rsp = f->rcx;
	f->ss = 0xe02b;
}
static uint8_t kstack[16384] __attribute__((aligned(16)));
static void finish(void) __attribute__((noreturn));

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 0x100) { /* a system call from user mode */
		if (f->rax == 4) { nloop++; return; }
		nsys++;
		if (f->rax == 1) sys1_arg = f->rdi;
		else if (f->rax == 2) f->rax = 77;
		else if (f->rax == 3) sys3_arg = f->rdi;
		return; /* back to user mode through iret (CS RPL 3) */
	}
	if (f->vector == 13 && f->rip == 0 && (f->cs & 0xffff) == 3) {
		/* SYSENTER with no callback: register one and go on. */
		se_gp++;
		se_gp_err = f->error;
		se_gp_frame = sysenter_frame(f);
		struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { 5 /* sysenter */, 0, 0, (uint64_t)pv_vec0x81 };
		HYPERVISOR(__HYPERVISOR_callback_op, 0, &cb, 0);
		sysexit_frame(f);
		return;
	}
	if (f->vector == 0x81) {
		unsigned long cr3;
		__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
		se_kernel = cr3 != 0;
		se_cb++;
		se_cb_frame = sysenter_frame(f);
		se_cb_rbx = f->rbx;
		sysexit_frame(f);
		return;
	}
	if (f->vector == 14 && (f->cs & 3) == 3) {
		pf_err = f->error;
		pf_cs = f->cs;
		pf_cr2 = *(volatile uint64_t *)(pv_shared_info + 16);
		unsigned long cr3;
		__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
		kernel_mode_in_handler = cr3 != 0;
		/* End the user program: continue in the kernel at finish(), on a fresh kernel stack. */
		f->rip = (unsigned long)finish;
		f->cs = 0xe030;
		f->rsp = (unsigned long)(kstack + sizeof(kstack) - 64);
		return;
	}
	printf("unexpected trap %u at %lx err %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

static void fill(unsigned long wva, unsigned long pfn, uint64_t e0, int idx)
{
	pv_map(wva, ma_of_pfn(pfn), 3);
	uint64_t *t = (uint64_t *)wva;
	for (int i = 0; i < 512; i++) t[i] = 0;
	t[idx] = e0;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	unsigned long L4 = n - 2, L3 = n - 3, L2 = n - 4, L1 = n - 5, CODE = n - 6, STK = n - 7, SCRATCH = n - 8;
	unsigned long wva = pv_free_va(3);
	/* The user program's page. */
	pv_map(wva, ma_of_pfn(CODE), 3);
	memcpy((void *)wva, pv_user_code, pv_user_code_end - pv_user_code);
	/* User page tables: VA 0x400000 -> code (read-only), 0x401000 -> stack. */
	fill(wva, L1, ma_of_pfn(CODE) | 5, (USER_CODE >> 12) & 511);
	((uint64_t *)wva)[(USER_STACK >> 12) & 511] = ma_of_pfn(STK) | 7;
	fill(wva, L2, ma_of_pfn(L1) | 7, (USER_CODE >> 21) & 511);
	fill(wva, L3, ma_of_pfn(L2) | 7, 0);
	fill(wva, L4, ma_of_pfn(L3) | 7, 0);
	pv_map(wva, ma_of_pfn(SCRATCH), 3); /* no writable mapping of the tables is left */
	struct mmuext_op pin = { MMUEXT_PIN_L4_TABLE, p2m[L4], 0 };
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&pin, 1, 0, DOMID_SELF, 0) == 0, "user L4 validated and pinned");
	struct mmuext_op bad = { 15 /* NEW_USER_BASEPTR */, p2m[SCRATCH], 0 };
	pv_map(wva, ma_of_pfn(SCRATCH), 3);
	for (int i = 0; i < 512; i++) ((uint64_t *)wva)[i] = 0x100000 | 7;
	pv_map(wva, ma_of_pfn(CODE), 1);
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&bad, 1, 0, DOMID_SELF, 0) < 0, "NEW_USER_BASEPTR with a garbage table is refused");
	struct mmuext_op ub = { 15, p2m[L4], 0 };
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&ub, 1, 0, DOMID_SELF, 0) == 0, "NEW_USER_BASEPTR");
	/* Where user-mode events land: the kernel stack and the syscall callback. */
	HYPERVISOR(__HYPERVISOR_stack_switch, 0xe02b, kstack + sizeof(kstack), 0);
	struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { 2 /* syscall */, 0, 0, (uint64_t)pv_syscall_entry };
	CHECK(HYPERVISOR(__HYPERVISOR_callback_op, 0, &cb, 0) == 0, "syscall callback registered");
	pv_console_flush();
	pv_enter_user(USER_CODE, USER_STACK + 4096);
}

static void finish(void)
{
	CHECK(nsys == 3, "three system calls arrived (%d)", nsys);
	CHECK(nloop == 200, "200 more in a loop, each back to user mode (%d)", nloop);
	CHECK(sys1_arg == 0x1234, "syscall 1 saw the user's RDI (%lx)", sys1_arg);
	CHECK(sys3_arg == 77, "the return value of syscall 2 reached user mode (%lu)", sys3_arg);
	CHECK(se_gp == 1 && se_gp_err == 0, "SYSENTER with no callback -> #GP(0) (%lu, error %lx)", se_gp, se_gp_err);
	CHECK(se_gp_frame, "... with Xen's sysenter frame (RIP 0, CS 3, RSP 0, SS 0xe02b)");
	CHECK(se_cb == 1 && se_cb_rbx == 0x5e2, "SYSENTER -> the sysenter callback in kernel mode, user registers intact (%lu, RBX %lx)", se_cb, se_cb_rbx);
	CHECK(se_cb_frame && se_kernel, "... with Xen's sysenter frame, on the kernel page tables");
	CHECK(pf_err == 4, "user-mode #PF on kernel memory: error code 4 (user, read, not present) (%lx)", pf_err);
	CHECK(pf_cr2 == 0xffffffff80100000UL, "CR2 = the kernel address (%lx)", pf_cr2);
	CHECK((pf_cs & 3) == 3, "the frame says user mode (CS %lx)", pf_cs);
	CHECK(*(volatile uint32_t *)0xffffffff80100000UL != 0, "back in the kernel with the kernel page tables");
	printf("user: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	exit(pv_fail_count ? 1 : 0);
}
