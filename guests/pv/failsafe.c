/* The failsafe callback: the hypervisor reloads a vCPU's DS/ES/FS/GS from its descriptor tables when
 * it is scheduled in after another vCPU ran (Xen's load_segments), and a selector that no longer
 * loads goes to the failsafe callback with Xen's frame (64-bit: RCX R11 DS ES FS GS RIP CS RFLAGS RSP SS;
 * 32-bit: DS ES FS GS EIP CS EFLAGS), the bad register zeroed.
 *
 * The guest loads DS and ES from its own LDT (set up with update_descriptor and MMUEXT_SET_LDT), then
 * 1. removes DS's descriptor (update_descriptor with an empty one) and blocks while another domain
 *    runs (the test runs a spinning guest beside it): the failsafe callback must see the frame;
 * 2. installs an empty LDT (ES's selector now points nowhere) and blocks again: a second callback;
 * 3. returns with the iret hypercall to a code selector in that empty LDT: a third callback.
 * "role=none": no failsafe callback registered: the domain must be crashed on the first reload. */
#include "pv.h"

#if defined(__x86_64__)
#define VIRT_BASE 0xffffffff80000000UL
#define KRPL 3
#define SEL_DS (0 << 3 | 4 | KRPL) /* LDT entry 0 */
#define SEL_ES (1 << 3 | 4 | KRPL) /* LDT entry 1 */
#define KCS 0xe030 /* the saved CS of kernel mode: RPL cleared */
#define KSS 0xe02b
#define FLAT_DS 0
#define FRAME_WORDS 11
#else
#define VIRT_BASE 0xc0000000UL
#define KRPL 1
#define SEL_DS (0 << 3 | 4 | KRPL)
#define SEL_ES (1 << 3 | 4 | KRPL)
#define KCS 0xe019
#define FLAT_DS 0xe021
#define FRAME_WORDS 7
#endif
#define MMUEXT_SET_LDT 13
#define CALLBACKOP_register 0
#define CALLBACKTYPE_failsafe 1
#define CALLBACKF_mask_events 1

/* What the failsafe handler saw (filled by the assembly below). */
volatile xen_ulong_t fs_frame[FRAME_WORDS];
volatile uint32_t fs_live_ds, fs_live_es, fs_mask, fs_count;

#if defined(__x86_64__)
__asm__(
	".text\n"
	".globl pv_failsafe\n"
	"pv_failsafe:\n"
	"	pushq %rax\n"
	"	movl %ds, %eax\n"
	"	movl %eax, fs_live_ds(%rip)\n"
	"	movl %es, %eax\n"
	"	movl %eax, fs_live_es(%rip)\n"
	"	movq pv_shared_info(%rip), %rax\n"
	"	movzbl 1(%rax), %eax\n"
	"	movl %eax, fs_mask(%rip)\n"
	"	.irp i, 0,1,2,3,4,5,6,7,8,9,10\n"
	"	movq 8+8*\\i(%rsp), %rax\n"
	"	movq %rax, fs_frame+8*\\i(%rip)\n"
	"	.endr\n"
	"	lock incl fs_count(%rip)\n"
	"	popq %rax\n"
	"	popq %rcx\n"
	"	popq %r11\n"
	"	cmpw $0x0c, 40(%rsp)\n" /* the iret to a bad CS (step 3): go on in kernel mode instead */
	"	jne 1f\n"
	"	movw $0xe030, 40(%rsp)\n"
	"1:	addq $32, %rsp\n" /* DS ES FS GS: RIP CS RFLAGS RSP SS remain */
	"	pushq $0\n"
	"	pushq %rcx\n"
	"	pushq %r11\n"
	"	pushq %rax\n"
	"	movl $23, %eax\n"
	"	syscall\n");
#else
__asm__(
	".text\n"
	".globl pv_failsafe\n"
	"pv_failsafe:\n"
	"	pushl %eax\n"
	"	movl %ds, %eax\n"
	"	pushl %eax\n"
	"	movl $0xe021, %eax\n" /* DS may be null here: flat data again before touching memory */
	"	movl %eax, %ds\n"
	"	popl %eax\n"
	"	movl %eax, fs_live_ds\n"
	"	movl %es, %eax\n"
	"	movl %eax, fs_live_es\n"
	"	movl $0xe021, %eax\n"
	"	movl %eax, %es\n"
	"	movl pv_shared_info, %eax\n"
	"	movzbl 1(%eax), %eax\n"
	"	movl %eax, fs_mask\n"
	"	.irp i, 0,1,2,3,4,5,6\n"
	"	movl 4+4*\\i(%esp), %eax\n"
	"	movl %eax, fs_frame+4*\\i\n"
	"	.endr\n"
	"	lock incl fs_count\n"
	"	popl %eax\n"
	"	cmpw $0x0d, 20(%esp)\n" /* the iret to a bad CS (step 3): go on in ring 1 instead */
	"	jne 1f\n"
	"	movw $0xe019, 20(%esp)\n"
	"1:	addl $16, %esp\n" /* DS ES FS GS: EIP CS EFLAGS remain */
	"	pushl %eax\n"
	"	movl $23, %eax\n"
	"	int $0x82\n");
#endif
extern char pv_failsafe[], _start[], _data[];

static long register_failsafe(unsigned long addr)
{
#if defined(__x86_64__)
	struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { CALLBACKTYPE_failsafe, CALLBACKF_mask_events, 0, addr };
#else
	struct { uint16_t type, flags; uint32_t cs, eip; } cb = { CALLBACKTYPE_failsafe, CALLBACKF_mask_events, 0xe019, addr };
#endif
	return HYPERVISOR(__HYPERVISOR_callback_op, CALLBACKOP_register, &cb, 0);
}

static long update_descriptor(uint64_t ma, uint64_t d)
{
#if defined(__x86_64__)
	return HYPERVISOR(__HYPERVISOR_update_descriptor, ma, d, 0);
#else
	return hypercall5(__HYPERVISOR_update_descriptor, (long)(uint32_t)ma, (long)(uint32_t)(ma >> 32), (long)(uint32_t)d, (long)(uint32_t)(d >> 32), 0);
#endif
}

static long set_ldt(unsigned long va, unsigned ents)
{
	struct mmuext_op op = { MMUEXT_SET_LDT, va, ents };
	return hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, 0, DOMID_SELF, 0);
}

static void timer_in(uint64_t ns) { pv_set_timer(pv_system_time() + ns); }

/* Block (a timer wakes us) until the failsafe count reaches `n`, another domain running meanwhile. */
static int wait_failsafe(unsigned n)
{
	int i = 0;
	for (; i < 500 && fs_count < n; i++) { timer_in(2000000); pv_block(); }
	return i;
}

/* The iret hypercall to a code selector that does not load (LDT entry 1 of an empty LDT): Xen's IRET
 * to the guest faults and goes to the failsafe callback, the frame holding the return that did not
 * happen. The callback (above) continues at the label in kernel mode. */
volatile unsigned long iret_target, iret_sp;
static void iret_bad_cs(void)
{
#if defined(__x86_64__)
	__asm__ volatile(
		"	leaq 1f(%%rip), %%rax\n"
		"	movq %%rax, iret_target(%%rip)\n"
		"	movq %%rsp, %%rdx\n"
		"	movq %%rdx, iret_sp(%%rip)\n"
		"	pushq $0xe02b\n"	/* SS */
		"	pushq %%rdx\n"		/* RSP */
		"	pushq $0x202\n"	/* RFLAGS */
		"	pushq $0x0c\n"		/* CS: LDT entry 1 (loaded with RPL 3: 0x0f) */
		"	pushq %%rax\n"		/* RIP */
		"	pushq $0\n"		/* flags */
		"	pushq %%rcx\n"
		"	pushq %%r11\n"
		"	pushq %%rax\n"
		"	movl $23, %%eax\n"	/* __HYPERVISOR_iret */
		"	syscall\n"
		"1:\n" ::: "rax", "rcx", "rdx", "r11", "memory");
#else
	__asm__ volatile(
		"	movl $1f, iret_target\n"
		"	movl %%esp, iret_sp\n"
		"	pushl $0x202\n"	/* EFLAGS */
		"	pushl $0x0d\n"		/* CS: LDT entry 1, RPL 1 */
		"	pushl $1f\n"		/* EIP */
		"	pushl %%eax\n"
		"	movl $23, %%eax\n"
		"	int $0x82\n"
		"1:\n" ::: "eax", "memory");
#endif
}

static inline unsigned sel_ds(void) { unsigned v; __asm__ volatile("mov %%ds, %0" : "=r"(v)); return v & 0xffff; }
static inline unsigned sel_es(void) { unsigned v; __asm__ volatile("mov %%es, %0" : "=r"(v)); return v & 0xffff; }

static void check_frame(const char *what, unsigned ds, unsigned es)
{
	CHECK(fs_frame[FRAME_WORDS == 11 ? 2 : 0] == ds && fs_frame[FRAME_WORDS == 11 ? 3 : 1] == es,
	      "%s: the frame holds the saved selectors ds %lx es %lx", what,
	      (unsigned long)fs_frame[FRAME_WORDS == 11 ? 2 : 0], (unsigned long)fs_frame[FRAME_WORDS == 11 ? 3 : 1]);
#if defined(__x86_64__)
	unsigned long rip = fs_frame[6], cs = fs_frame[7], rfl = fs_frame[8], rsp = fs_frame[9], ss = fs_frame[10];
	CHECK(fs_frame[4] == 0 && fs_frame[5] == 0, "%s: fs %lx gs %lx", what, (unsigned long)fs_frame[4], (unsigned long)fs_frame[5]);
	CHECK(rsp > (unsigned long)_data && ss == KSS, "%s: rsp %lx ss %lx", what, rsp, ss);
#else
	unsigned long rip = fs_frame[4], cs = fs_frame[5], rfl = fs_frame[6];
	CHECK(fs_frame[2] == FLAT_DS && fs_frame[3] == FLAT_DS, "%s: fs %lx gs %lx", what, (unsigned long)fs_frame[2], (unsigned long)fs_frame[3]);
#endif
	CHECK(rip >= (unsigned long)_start && rip < (unsigned long)_data, "%s: interrupted at %lx, in our code", what, rip);
	CHECK((cs & 0xffff) == KCS, "%s: CS %lx (kernel mode)", what, cs & 0xffff);
	CHECK((cs >> (FRAME_WORDS == 11 ? 32 : 16)) == 0 && (rfl & 0x200), "%s: saved upcall mask 0, IF set in the frame", what);
	CHECK(fs_mask == 1, "%s: events masked in the callback (registered with mask_events)", what);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	struct { uint32_t virq, vcpu, port; } tb = { 0 /* VIRQ_TIMER: our timers wake us from SCHEDOP_block */, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_virq, &tb) == 0, "bind VIRQ_TIMER -> port %u", tb.port);
	char r = pv_role(0);
	CHECK(register_failsafe(r == 'n' ? 0 : (unsigned long)pv_failsafe) == 0, "failsafe callback %s", r == 'n' ? "cleared" : "registered");

	/* A two-entry LDT in one of our pages: flat data descriptors at the kernel's privilege. */
	static uint8_t ldt[4096] __attribute__((aligned(4096)));
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	uint64_t ma = (uint64_t)p2m[((unsigned long)ldt - VIRT_BASE) >> 12] << 12;
	const uint64_t flat = 0x00cf92000000ffffULL | ((uint64_t)KRPL << 45);
	CHECK(update_descriptor(ma, flat) == 0 && update_descriptor(ma + 8, flat) == 0, "two LDT descriptors written");
	CHECK(set_ldt((unsigned long)ldt, 2) == 0, "MMUEXT_SET_LDT");
	__asm__ volatile("mov %0, %%ds\n\tmov %1, %%es" : : "r"(SEL_DS), "r"(SEL_ES) : "memory");
	CHECK(sel_ds() == SEL_DS && sel_es() == SEL_ES, "DS %x and ES %x loaded from the LDT", sel_ds(), sel_es());

	/* 1. DS's descriptor goes away; DS still works from its cache until the next reload. */
	CHECK(update_descriptor(ma, 0) == 0, "DS's descriptor removed");
	CHECK(fs_count == 0 && sel_ds() == SEL_DS, "no callback yet; DS still %x", sel_ds());
	pv_console_flush();
	if (r == 'n') {
		printf("failsafe: waiting for the reload (no callback)\n");
		pv_console_flush();
		wait_failsafe(1);
		printf("FAIL: still running after a bad DS reload with no failsafe callback\n");
		return 1;
	}
	int n = wait_failsafe(1);
	CHECK(fs_count == 1, "the failsafe callback ran once (after %d blocks)", n);
	check_frame("bad DS", SEL_DS, SEL_ES);
	CHECK(fs_live_ds == 0 && fs_live_es == SEL_ES, "in the callback DS was zeroed (%x), ES reloaded (%x)", fs_live_ds, fs_live_es);

	/* 2. A new LDT with no entries: ES's selector no longer loads. */
	__asm__ volatile("mov %0, %%es" : : "r"(SEL_ES) : "memory");
	CHECK(set_ldt(0, 0) == 0, "an empty LDT installed");
	n = wait_failsafe(2);
	CHECK(fs_count == 2, "the failsafe callback ran again (after %d blocks)", n);
	check_frame("no LDT", FLAT_DS, SEL_ES);
	CHECK(fs_live_ds == FLAT_DS && fs_live_es == 0, "in the callback DS was reloaded (%x), ES zeroed (%x)", fs_live_ds, fs_live_es);

	/* Valid selectors are reloaded without a callback. */
	for (n = 0; n < 20; n++) { timer_in(2000000); pv_block(); }
	CHECK(fs_count == 2, "no callback when every selector loads (%d more blocks)", n);

	/* 3. The iret hypercall to a code selector that does not load. */
	iret_bad_cs();
	CHECK(fs_count == 3, "iret to a bad CS: the failsafe callback ran (%u)", fs_count);
#if defined(__x86_64__)
	/* A frame for kernel mode has CS's RPL cleared, as every 64-bit bounce to the kernel. */
	CHECK(fs_frame[6] == iret_target && (fs_frame[7] & 0xffff) == 0x0c && fs_frame[9] == iret_sp && fs_frame[10] == 0xe02b,
	      "iret to a bad CS: the frame holds the return that did not happen (rip %lx cs %lx rsp %lx ss %lx)",
	      (unsigned long)fs_frame[6], (unsigned long)fs_frame[7], (unsigned long)fs_frame[9], (unsigned long)fs_frame[10]);
#else
	CHECK(fs_frame[4] == iret_target && (fs_frame[5] & 0xffff) == 0x0d,
	      "iret to a bad CS: the frame holds the return that did not happen (eip %lx cs %lx)",
	      (unsigned long)fs_frame[4], (unsigned long)fs_frame[5]);
#endif
	printf("failsafe: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
