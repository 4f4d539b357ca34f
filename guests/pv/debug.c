/* Debug registers and #DB of a PV kernel, as Xen gives them: set_debugreg/get_debugreg with Xen's
 * checks and errors, the emulated MOV to/from %drN, instruction breakpoints (a fault, RF), data
 * breakpoints (write, read/write; LEN 1/2/4/8), single-step, the MOV SS shadow (the trap waits one
 * instruction; a #DB that would land on the first instruction of a hypercall or INT entry is dropped
 * as Xen's handle_DB drops a #DB in its own context, DR6 unchanged), I/O breakpoints under CR4.DE;
 * the hypervisor's own reads and writes of guest memory (hypercall arguments: copy_from_guest,
 * copy_to_guest) hit no breakpoint, as on Xen, while the guest's own access to the same bytes does. Prints "ok:"/"FAIL:" lines. */
#include "pv.h"

#define __HYPERVISOR_set_debugreg 8
#define __HYPERVISOR_get_debugreg 9
#define ENODEV 19
#define PHYSDEVOP_set_iopl 6
#if defined(__x86_64__)
#define SP_REG "rsp"
#else
#define SP_REG "esp"
#endif

static long setdr(long reg, unsigned long v) { return HYPERVISOR(__HYPERVISOR_set_debugreg, reg, v, 0); }
static unsigned long getdr(long reg) { return (unsigned long)HYPERVISOR(__HYPERVISOR_get_debugreg, reg, 0, 0); }

static volatile unsigned long db_count, db_rip, db_dr6, other_vec, other_rip, steps_left;
static volatile unsigned long step_rips[8];
static volatile int db_set_rf, db_disable;

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector != 1) {
		other_vec = f->vector;
		other_rip = f->rip;
		if (f->vector == 6 || f->vector == 13) f->rip += 3; /* the MOV %drN (0f 2x /r) that faulted */
		return;
	}
	if (db_count < 8) step_rips[db_count] = f->rip;
	db_count++;
	db_rip = f->rip;
	db_dr6 = getdr(6);
	setdr(6, 0);
	if (db_set_rf) f->rflags |= 0x10000; /* RF: the instruction breakpoint lets the instruction run once */
	if (db_disable) setdr(7, 0);
	if (steps_left && --steps_left == 0) f->rflags &= ~0x100UL;
}

static void reset(void) { db_count = 0; db_rip = 0; db_dr6 = 0; other_vec = ~0UL; db_set_rf = 0; db_disable = 0; }

extern char ibp_at[], wr_at[], wr_after[], rd_after[], st_a[], st_b[], st_c[], ss_after1[], ss_after2[], ssd_after[], io_after[];
static volatile uint32_t watched[4] __attribute__((aligned(16)));
static volatile uint16_t ss_store;
/* Hypercall arguments under a read/write breakpoint: what the hypervisor reads and writes there. */
static char hvbuf[64] __attribute__((aligned(64)));

__attribute__((noinline)) static void ibp_func(void) { __asm__ volatile(".globl ibp_at\nibp_at: nop"); }

#define DR7_L(i) (1UL << ((i) * 2))
#define DR7_RW(i, rw) ((unsigned long)(rw) << (16 + (i) * 4))
#define DR7_LEN(i, len) ((unsigned long)(len) << (18 + (i) * 4))

int pv_main(void)
{
	pv_install_traps();
	reset();

	/* Start-of-day values and the reserved bits. */
	CHECK(getdr(6) == 0xffff0ff0UL && getdr(7) == 0x400, "DR6 %lx DR7 %lx at start", getdr(6), getdr(7));
	CHECK(setdr(6, 0) == 0 && getdr(6) == 0xffff0ff0UL, "DR6 reserved bits read as 1 (%lx)", getdr(6));
	CHECK(setdr(6, 0xffffffffUL) == 0 && getdr(6) == 0xffffefffUL, "DR6 bit 12 reads as 0 (%lx)", getdr(6));
	setdr(6, 0);
	for (int i = 0; i < 4; i++) setdr(i, 0);
	CHECK(setdr(7, 0xffffdfffUL) == 0 && getdr(7) == 0xffff07ffUL, "DR7 bits 11, 12, 14, 15 read as 0 (%lx)", getdr(7));
	setdr(7, 0);
	CHECK(getdr(7) == 0x400, "DR7 bit 10 reads as 1");

	/* Xen's refusals. */
	CHECK(setdr(7, 0x2000) == -EPERM, "DR7.GD: -EPERM");
	CHECK(setdr(7, DR7_L(0) | DR7_RW(0, 2)) == -EPERM, "an I/O breakpoint without CR4.DE: -EPERM");
	CHECK(setdr(8, 0) == -ENODEV && setdr(-1, 0) == -ENODEV, "set_debugreg(8 / -1): -ENODEV");
	CHECK((long)getdr(8) == -ENODEV, "get_debugreg(8): -ENODEV");
	CHECK(setdr(4, 0) == 0 && getdr(4) == 0xffff0ff0UL, "DR4 is DR6 without CR4.DE");
	CHECK(setdr(5, 0) == 0 && getdr(5) == 0x400, "DR5 is DR7 without CR4.DE");
#if defined(__x86_64__)
	CHECK(setdr(0, 0xffff800000000000UL) == -EPERM, "DR0 in Xen's area: -EPERM");
	CHECK(setdr(1, 0xffff87ffffffffffUL) == -EPERM, "DR1 at the end of Xen's area: -EPERM");
	CHECK(setdr(2, 0x0000800000000000UL) == -EPERM, "DR2 non-canonical: -EPERM");
	CHECK(setdr(3, 0xffff880000000000UL) == 0 && getdr(3) == 0xffff880000000000UL, "DR3 above Xen's area: accepted");
	CHECK(setdr(6, 1UL << 32) == -EINVAL && setdr(7, 1UL << 32) == -EINVAL, "DR6/DR7 upper half: -EINVAL");
	setdr(3, 0);
#else
	CHECK(setdr(0, 0xf5800000UL) == 0, "DR0 in the compat M2P area: accepted (as 64-bit Xen)");
	setdr(0, 0);
#endif

	/* MOV to/from %drN, emulated; refused values fault as Xen's emulator makes them. */
	unsigned long v = (unsigned long)watched;
	__asm__ volatile("mov %0, %%dr1" : : "r"(v));
	CHECK(getdr(1) == v, "mov %%dr1 emulated (%lx)", getdr(1));
	unsigned long r;
	__asm__ volatile("mov %%dr1, %0" : "=r"(r));
	CHECK(r == v, "mov from %%dr1 emulated");
	__asm__ volatile("mov %%dr7, %0" : "=r"(r));
	CHECK(r == 0x400, "mov from %%dr7: %lx", r);
	other_vec = ~0UL;
	__asm__ volatile("mov %0, %%dr7" : : "a"(0x2000UL));
	CHECK(other_vec == 13, "mov %%dr7 with GD: #GP (vec %lu)", other_vec);

	/* CR4.DE: DR4/DR5 fault with #UD, I/O breakpoints are allowed. */
	unsigned long cr4;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | 8));
	CHECK(setdr(4, 0) == -ENODEV && (long)getdr(5) == -ENODEV, "DR4/DR5 with CR4.DE: -ENODEV");
	other_vec = ~0UL;
	__asm__ volatile("mov %%dr4, %0" : "=a"(r));
	CHECK(other_vec == 6, "mov from %%dr4 with CR4.DE: #UD (vec %lu)", other_vec);
	CHECK(setdr(2, 0x80) == 0 && setdr(7, DR7_L(2) | DR7_RW(2, 2)) == 0, "an I/O breakpoint with CR4.DE: accepted");
	CHECK(getdr(7) == (0x400 | DR7_L(2) | DR7_RW(2, 2)), "DR7 reads back with its I/O breakpoint (%lx)", getdr(7));
	static uint32_t iopl = 1;
	long rc = HYPERVISOR(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, &iopl, 0);
	reset();
	__asm__ volatile("outb %%al, $0x80\n.globl io_after\nio_after:" : : "a"(0));
	CHECK(rc == 0 && db_count == 1 && db_rip == (unsigned long)io_after && (db_dr6 & 0xf) == 4,
	      "outb to the port: #DB after it, B2 (count %lu dr6 %lx)", db_count, db_dr6);
	reset();
	__asm__ volatile("outb %%al, $0x81" : : "a"(0));
	CHECK(db_count == 0, "outb to another port: no #DB");
	setdr(7, 0);
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 & ~8UL));

	/* Instruction breakpoint: a fault at the instruction; RF lets it run once. */
	reset();
	setdr(0, (unsigned long)ibp_at);
	setdr(7, DR7_L(0));
	db_set_rf = 1;
	ibp_func();
	CHECK(db_count == 1 && db_rip == (unsigned long)ibp_at && (db_dr6 & 0xf) == 1 && !(db_dr6 & 0x4000),
	      "instruction breakpoint: #DB at the instruction, B0 (count %lu rip %lx dr6 %lx)", db_count, db_rip, db_dr6);
	ibp_func();
	CHECK(db_count == 2, "RF covers one instruction: hit again (%lu)", db_count);
	db_set_rf = 0; db_disable = 1;
	ibp_func();
	ibp_func();
	CHECK(db_count == 3, "disabled from the handler: no more hits (%lu)", db_count);
	/* G0 enables as L0 does. */
	reset();
	setdr(7, 2);
	db_disable = 1;
	ibp_func();
	CHECK(db_count == 1 && (db_dr6 & 0xf) == 1, "G0 enables it too");

	/* Data breakpoints. */
	reset();
	setdr(1, (unsigned long)&watched[1]);
	setdr(7, DR7_L(1) | DR7_RW(1, 1) | DR7_LEN(1, 3)); /* write, 4 bytes */
	(void)watched[1];
	CHECK(db_count == 0, "a read does not hit a write breakpoint");
	watched[0] = 1;
	watched[2] = 1;
	CHECK(db_count == 0, "neighbours do not hit");
	__asm__ volatile(".globl wr_at\nwr_at: movl $5, %0\n.globl wr_after\nwr_after:" : "=m"(watched[1]));
	CHECK(db_count == 1 && db_rip == (unsigned long)wr_after && (db_dr6 & 0xf) == 2 && watched[1] == 5,
	      "write breakpoint: #DB after the store, B1 (count %lu rip %lx dr6 %lx)", db_count, db_rip, db_dr6);
	reset();
	setdr(7, DR7_L(1) | DR7_RW(1, 3) | DR7_LEN(1, 3)); /* read/write */
	__asm__ volatile("movl %0, %%eax\n.globl rd_after\nrd_after:" : : "m"(watched[1]) : "eax");
	CHECK(db_count == 1 && db_rip == (unsigned long)rd_after && (db_dr6 & 0xf) == 2, "read/write breakpoint: a read hits");
	reset();
	setdr(1, (unsigned long)&watched[1] + 2);
	setdr(7, DR7_L(1) | DR7_RW(1, 1) | DR7_LEN(1, 1)); /* write, 2 bytes */
	((volatile uint8_t *)watched)[4] = 1;
	CHECK(db_count == 0, "LEN 2: a byte below it does not hit");
	((volatile uint8_t *)watched)[7] = 1;
	CHECK(db_count == 1, "LEN 2: its second byte hits");
	reset();
	setdr(1, (unsigned long)&watched[1] + 3);
	setdr(7, DR7_L(1) | DR7_RW(1, 1) | DR7_LEN(1, 0)); /* write, 1 byte */
	((volatile uint8_t *)watched)[6] = 1;
	CHECK(db_count == 0, "LEN 1: the byte before does not hit");
	watched[1] = 7; /* a 4-byte store covering it */
	CHECK(db_count == 1, "LEN 1: a wider store covering it hits");
	reset();
	setdr(1, (unsigned long)&watched[2]);
	setdr(7, DR7_L(1) | DR7_RW(1, 1) | DR7_LEN(1, 2)); /* write, 8 bytes */
	watched[3] = 1;
	CHECK(db_count == 1, "LEN 8: the second word hits");
	/* Two at once: one #DB, both bits. */
	reset();
	setdr(0, (unsigned long)&watched[0]);
	setdr(1, (unsigned long)&watched[1]);
	setdr(7, DR7_L(0) | DR7_RW(0, 1) | DR7_LEN(0, 3) | DR7_L(1) | DR7_RW(1, 1) | DR7_LEN(1, 3));
	__asm__ volatile("movl $0, %0" : "=m"(*(volatile uint32_t *)((volatile uint8_t *)watched + 2))); /* bytes 2-5 */
	CHECK(db_count == 1 && (db_dr6 & 0xf) == 3, "one store over two breakpoints: one #DB, B0|B1 (%lx)", db_dr6);
	setdr(7, 0);

	/* Single-step: a trap after each instruction once TF is set; DR6.BS. */
	reset();
	steps_left = 3;
	__asm__ volatile("pushf\n orl $0x100, (%%" SP_REG ")\n popf\n nop\n.globl st_a\nst_a: nop\n.globl st_b\nst_b: nop\n.globl st_c\nst_c: nop" : : : "memory", "cc");
	CHECK(db_count == 3 && step_rips[0] == (unsigned long)st_a && step_rips[1] == (unsigned long)st_b && step_rips[2] == (unsigned long)st_c &&
	      (db_dr6 & 0x4000), "single-step: three traps, each after its instruction, BS (count %lu)", db_count);

	/* MOV SS shadow: the trap after `mov ss` waits for the next instruction. */
	reset();
	steps_left = 1;
	__asm__ volatile("mov %%ss, %%ax\n pushf\n orl $0x100, (%%" SP_REG ")\n popf\n mov %%ax, %%ss\n nop\n.globl ss_after1\nss_after1:" : : : "eax", "memory", "cc");
	CHECK(db_count == 1 && db_rip == (unsigned long)ss_after1, "single-step over mov ss: one trap, after the next instruction (rip %lx)", db_rip);
	/* ... and a data breakpoint on the selector it loads. */
	reset();
	__asm__ volatile("mov %%ss, %0" : "=m"(ss_store));
	setdr(0, (unsigned long)&ss_store);
	setdr(7, DR7_L(0) | DR7_RW(0, 3) | DR7_LEN(0, 1));
	__asm__ volatile("mov %0, %%ss\n nop\n.globl ss_after2\nss_after2:" : : "m"(ss_store));
	CHECK(db_count == 1 && db_rip == (unsigned long)ss_after2 && (db_dr6 & 0xf) == 1, "mov ss from a watched word: #DB after the next instruction, B0");
	/* The instruction in the shadow enters the hypervisor (a hypercall) or an INT handler: the #DB
	 * would be raised on the entry's first instruction, which is Xen's: Xen's handle_DB drops a #DB
	 * taken in its own context (it resets the real DR6 and merges nothing into the guest's): not
	 * delivered, and DR6 as the guest left it (B1 set here, to see that it is kept, not cleared). */
	reset();
	setdr(6, 2);
#if defined(__x86_64__)
	__asm__ volatile("mov %1, %%ss\n syscall" : "=a"(rc) : "m"(ss_store), "0"((long)__HYPERVISOR_xen_version), "D"(0L), "S"(0L) : "rcx", "r11", "rdx", "r8", "r10", "memory");
#else
	__asm__ volatile("mov %1, %%ss\n int $0x82" : "=a"(rc) : "m"(ss_store), "a"((long)__HYPERVISOR_xen_version), "b"(0L), "c"(0L) : "memory");
#endif
	r = getdr(6);
	CHECK(db_count == 0 && (r & 0xf) == 2 && rc > 0, "mov ss; hypercall: no #DB, DR6 unchanged (%lx), the hypercall ran (%lx)",
	      r, rc);
	reset();
	setdr(6, 2);
	other_vec = ~0UL;
	__asm__ volatile("mov %0, %%ss\n int $0x80\n.globl ssd_after\nssd_after:" : : "m"(ss_store) : "memory");
	r = getdr(6);
	CHECK(db_count == 0 && other_vec == 0x80 && (r & 0xf) == 2, "mov ss; int $0x80: the handler runs, no #DB, DR6 unchanged (%lx)",
	      r);
	setdr(7, 0);
	setdr(6, 0);

	/* The hypervisor's accesses to guest memory are its own: no #DB, nothing in DR6 (Xen's
	 * copy_from_guest/copy_to_guest run with the guest's breakpoints not in force). Read/write
	 * breakpoints on two words of the buffer the arguments live in. */
	reset();
	setdr(0, (unsigned long)&hvbuf[8]);
	setdr(1, (unsigned long)&hvbuf[32]);
	setdr(7, DR7_L(0) | DR7_RW(0, 3) | DR7_LEN(0, 3) | DR7_L(1) | DR7_RW(1, 3) | DR7_LEN(1, 3));
	setdr(6, 0);
	{
		/* console_io reads the string (copy_from_guest). */
		static const char msg[] = "debug: read by the hypervisor, watched\n";
		setdr(7, 0);
		memcpy(hvbuf, msg, sizeof(msg) - 1 < sizeof(hvbuf) ? sizeof(msg) - 1 : sizeof(hvbuf));
		setdr(7, DR7_L(0) | DR7_RW(0, 3) | DR7_LEN(0, 3) | DR7_L(1) | DR7_RW(1, 3) | DR7_LEN(1, 3));
		pv_console_flush();
		rc = HYPERVISOR(__HYPERVISOR_console_io, CONSOLEIO_write, sizeof(msg) - 1, hvbuf);
		CHECK(rc == 0 && db_count == 0 && (getdr(6) & 0xf) == 0, "console_io reading a watched buffer: no #DB, DR6 %lx (rc %ld)", getdr(6), rc);
		/* xen_version(extraversion) writes 16 bytes into it (copy_to_guest). */
		rc = HYPERVISOR(__HYPERVISOR_xen_version, 1, &hvbuf[24], 0);
		CHECK(rc == 0 && db_count == 0 && (getdr(6) & 0xf) == 0, "xen_version writing into a watched buffer: no #DB, DR6 %lx (rc %ld)", getdr(6), rc);
		/* An argument structure read and written in place (alloc_unbound's port). */
		struct alloc_unbound *au = (struct alloc_unbound *)&hvbuf[32];
		setdr(7, 0);
		au->dom = DOMID_SELF; au->remote_dom = 0; au->port = 0;
		setdr(7, DR7_L(0) | DR7_RW(0, 3) | DR7_LEN(0, 3) | DR7_L(1) | DR7_RW(1, 3) | DR7_LEN(1, 3));
		rc = pv_evtchn_op(EVTCHNOP_alloc_unbound, au);
		CHECK(rc == 0 && db_count == 0 && (getdr(6) & 0xf) == 0, "alloc_unbound with its argument watched: no #DB, DR6 %lx (rc %ld)", getdr(6), rc);
		setdr(7, 0);
		struct port_op cl = { au->port };
		pv_evtchn_op(EVTCHNOP_close, &cl);
		setdr(7, DR7_L(0) | DR7_RW(0, 3) | DR7_LEN(0, 3) | DR7_L(1) | DR7_RW(1, 3) | DR7_LEN(1, 3));
		/* The guest's own read of the same bytes does hit. */
		(void)*(volatile uint32_t *)&hvbuf[32];
		CHECK(db_count == 1 && (db_dr6 & 0xf) == 2, "the guest's own read of them: #DB, B1 (count %lu dr6 %lx)", db_count, db_dr6);
	}
	setdr(7, 0);
	setdr(6, 0);

	printf("debug: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
