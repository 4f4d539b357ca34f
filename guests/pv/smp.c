/* SMP: vCPU 0 finds how many vCPUs the domain has (VCPUOP_is_up until -ENOENT), checks that contexts
 * Xen refuses are refused (VCPUOP_initialise: bad addresses, LDT, GDT, page tables, vCPU ids; up
 * without a context), then gives vCPUs 1..n-1 a context of their own (entry, stack, argument, trap
 * table, callbacks, 64-bit: kernel GS base) and brings them up. Each counts in a loop and sends IPIs
 * (EVTCHNOP_bind_ipi ports) to the next vCPU round the ring; vCPU 0 checks they all run, get their
 * IPIs, share the CPU fairly, that a vCPU taken down (VCPUOP_down) stops and one brought up again goes
 * on, and lets each take itself down. Then vCPU 0, the last one online, goes down too: Xen powers the
 * domain off. Each vCPU's runstate as Xen keeps it: offline from its creation, its area (registered by
 * vCPU 0, as Linux does before bringing a CPU up) written at once, runnable once up, offline as soon
 * as another vCPU takes it down, blocked in SCHEDOP_block and runnable as soon as an IPI wakes it.
 * Only vCPU 0 prints. "vcpus=N" on the command line: the count the toolstack gave. */
#include "pv.h"
#include "pt.h"

#define VCPUOP_initialise 0
#define VCPUOP_up 1
#define VCPUOP_down 2
#define VCPUOP_is_up 3
#define VCPUOP_get_runstate_info 4
#define VCPUOP_register_runstate_memory_area 5
#define VCPUOP_stop_singleshot_timer 9
#define ENOENT 2
#define EEXIST 17
#define VGCF_in_kernel 4
#define VGCF_online 32
#define MAXV 8
#define STACK 8192
#define MAGIC 0x5a000000

#if defined(__x86_64__)
struct cpu_user_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi;
	uint32_t error_code, entry_vector;
	uint64_t rip;
	uint16_t cs, pad0;
	uint8_t saved_upcall_mask, pad1[3];
	uint64_t rflags, rsp;
	uint16_t ss, pad2[3], es, pad3[3], ds, pad4[3], fs, pad5[3], gs, pad6[3];
};
#define KCS 0xe033
#define KSS 0xe02b
#define KDS 0
#else
struct cpu_user_regs {
	uint32_t ebx, ecx, edx, esi, edi, ebp, eax;
	uint16_t error_code, entry_vector;
	uint32_t eip;
	uint16_t cs;
	uint8_t saved_upcall_mask, pad0;
	uint32_t eflags, esp;
	uint16_t ss, pad1, es, pad2, ds, pad3, fs, pad4, gs, pad5;
};
#define KCS 0xe019
#define KSS 0xe021
#define KDS 0xe021
#endif

struct vcpu_guest_context {
	uint8_t fpu_ctxt[512];
	xen_ulong_t flags;
	struct cpu_user_regs user_regs;
	struct trap_info trap_ctxt[256];
	xen_ulong_t ldt_base, ldt_ents;
	xen_ulong_t gdt_frames[16], gdt_ents;
	xen_ulong_t kernel_ss, kernel_sp;
	xen_ulong_t ctrlreg[8];
	xen_ulong_t debugreg[8];
#if defined(__x86_64__)
	uint64_t event_callback_eip, failsafe_callback_eip, syscall_callback_eip;
#else
	uint32_t event_callback_cs, event_callback_eip, failsafe_callback_cs, failsafe_callback_eip;
#endif
	xen_ulong_t vm_assist;
#if defined(__x86_64__)
	uint64_t fs_base, gs_base_kernel, gs_base_user;
#endif
};
#if defined(__x86_64__)
_Static_assert(sizeof(struct vcpu_guest_context) == 5168, "64-bit vcpu_guest_context");
#else
_Static_assert(sizeof(struct vcpu_guest_context) == 2800, "32-bit vcpu_guest_context");
#endif

static char stacks[MAXV][STACK] __attribute__((aligned(4096)));
static struct vcpu_guest_context ctx;
#if defined(__x86_64__)
static struct { unsigned long id, pad[7]; } percpu[MAXV]; /* each vCPU's kernel GS base */
#endif
static volatile unsigned long counter[MAXV], got[MAXV], sent[MAXV], started[MAXV], arg_ok[MAXV], gs_ok[MAXV];
static volatile unsigned ipi[MAXV], timer_port[MAXV], timer_hits[MAXV], timer_rc[MAXV];
static volatile uint8_t owner[1024]; /* the vCPU each port notifies */
static volatile int nv, stop, park;
static volatile int parked[MAXV];

/* vcpu_runstate_info: state, state_entry_time, time[4] (running, runnable, blocked, offline). */
#if defined(__x86_64__)
struct runstate { uint32_t state, pad; uint64_t entry; uint64_t time[4]; };
#else
struct runstate { uint32_t state; uint64_t entry; uint64_t time[4]; } __attribute__((packed));
#endif
#define RS_RUNNABLE 1
#define RS_BLOCKED 2
#define RS_OFFLINE 3
static volatile struct runstate rs_area[MAXV];

extern char pv_vec0[], pv_vec1[], pv_vec3[], pv_vec4[], pv_vec6[], pv_vec7[], pv_vec13[], pv_vec14[], pv_upcall[];

static long vcpu_op(int cmd, int id, void *arg) { return HYPERVISOR(__HYPERVISOR_vcpu_op, cmd, id, arg); }
static void yield(void) { HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0); }
static struct runstate rs_of(int id)
{
	struct runstate r;
	__builtin_memset(&r, 0xff, sizeof(r));
	if (vcpu_op(VCPUOP_get_runstate_info, id, &r) != 0) r.state = 99;
	return r;
}

/* Which vCPU runs this: from the stack in use (vCPU 0 runs on the boot stack). */
static int my_id(void)
{
	unsigned long a = (unsigned long)__builtin_frame_address(0);
	unsigned long b = (unsigned long)stacks;
	if (a > b && a <= b + sizeof(stacks)) return (int)((a - b - 1) / STACK);
	return 0;
}

static volatile uint8_t *vcpu_info(int id) { return pv_shared_info + id * PV_VCPU_INFO_SIZE; }

/* The upcall on vCPU `id`: its selector word, then the ports pending and unmasked in the flagged
 * words; another vCPU's IPI port is left for that vCPU (the bitmaps are shared). */
static void smp_event(int id)
{
	volatile uint8_t *vi = vcpu_info(id);
	vi[0] = 0;
#if defined(__x86_64__)
	volatile uint64_t *selp = (volatile uint64_t *)(vi + 8);
	const int wb = 64;
#else
	volatile uint32_t *selp = (volatile uint32_t *)(vi + 4);
	const int wb = 32;
#endif
	volatile xen_ulong_t *pend = (volatile xen_ulong_t *)(pv_shared_info + PV_SI_PENDING);
	volatile xen_ulong_t *mask = (volatile xen_ulong_t *)(pv_shared_info + PV_SI_MASK);
	xen_ulong_t sel = __atomic_exchange_n(selp, 0, __ATOMIC_SEQ_CST);
	while (sel) {
		int w = __builtin_ctzl(sel);
		sel &= sel - 1;
		xen_ulong_t bits = pend[w] & ~mask[w];
		while (bits) {
			int b = __builtin_ctzl(bits);
			bits &= bits - 1;
			unsigned port = w * wb + b;
			if (port >= 1024 || owner[port] != id) continue;
			__atomic_fetch_and(&pend[w], ~((xen_ulong_t)1 << b), __ATOMIC_SEQ_CST);
			if (port == ipi[id]) got[id]++;
			else if (id && port == timer_port[id]) timer_hits[id]++;
			else pv_event_count[port]++;
		}
	}
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { smp_event(my_id()); return; }
	if (pv_try_write_fixup(f)) return;
	if (my_id() == 0) printf("unexpected trap %u at %lx error %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

static void send_ipi(int to) { struct port_op s = { ipi[to] }; pv_evtchn_op(EVTCHNOP_send, &s); }

/* A secondary vCPU's entry (from its context: the stack, and its id as the argument). */
static __attribute__((noreturn, used)) void secondary(unsigned long arg)
{
	int id = my_id();
	arg_ok[id] = arg == (unsigned long)(MAGIC + id);
#if defined(__x86_64__)
	unsigned long g;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(g));
	gs_ok[id] = g == (unsigned long)id;
#else
	gs_ok[id] = 1;
#endif
	/* Its own timer: VIRQ_TIMER bound on this vCPU, a single-shot timer 1 ms ahead, blocked until it fires. */
	struct bind_virq bv = { VIRQ_TIMER, id, 0 };
	if (pv_evtchn_op(EVTCHNOP_bind_virq, &bv) == 0) {
		owner[bv.port] = id;
		timer_port[id] = bv.port;
		struct { uint64_t t; uint32_t flags, pad; } st = { pv_system_time() + 1000000, 0, 0 };
		timer_rc[id] = 1 + vcpu_op(VCPUOP_set_singleshot_timer, id, &st);
		for (int i = 0; i < 100 && !timer_hits[id]; i++) {
			vcpu_info(id)[1] = 1;
			if (!timer_hits[id]) pv_block(); /* unmasks; wakes for the timer */
		}
	}
	started[id] = 1;
	vcpu_info(id)[1] = 0; /* events on */
	for (;;) {
		while (!stop) {
			if (park) { /* blocked until an IPI, as long as vCPU 0 wants */
				parked[id] = 1;
				while (park) pv_block();
				parked[id] = 0;
				continue;
			}
			counter[id]++;
			if ((counter[id] & 0x3ff) == 0) { send_ipi((id + 1) % nv); sent[id]++; }
		}
		vcpu_op(VCPUOP_down, id, 0); /* returns if brought up again */
	}
}

/* role=d: vCPU 1's failsafe callback (its initial DS does not load): noted, then it idles. */
static volatile int failsafe_seen;
static __attribute__((noreturn, used)) void failsafe_hit(void)
{
	failsafe_seen = my_id();
	for (;;) yield();
}

#if !defined(__x86_64__)
/* 32-bit: the failsafe callback runs with the selector that failed loaded as null: DS/ES first. */
__asm__(".text\n.globl smp_failsafe32\nsmp_failsafe32:\n\tmovw $0xe021, %ax\n\tmovw %ax, %ds\n\tmovw %ax, %es\n\tjmp failsafe_hit\n");
extern char smp_failsafe32[];
#endif

static unsigned long p2m_of(unsigned long va) { return ((xen_ulong_t *)start_info->mfn_list)[(va - VIRT_BASE) >> 12]; }

static xen_ulong_t cr3_of(unsigned long mfn)
{
#if defined(__x86_64__)
	return mfn << 12;
#else
	return (mfn << 12) | (mfn >> 20);
#endif
}

/* A good context for vCPU `id`. */
static void make_ctx(int id)
{
	__builtin_memset(&ctx, 0, sizeof(ctx));
	ctx.flags = VGCF_in_kernel;
	unsigned long top = (unsigned long)stacks[id] + STACK;
	ctx.user_regs.cs = KCS;
	ctx.user_regs.ss = KSS;
	ctx.user_regs.ds = ctx.user_regs.es = KDS;
#if defined(__x86_64__)
	ctx.user_regs.rip = (unsigned long)secondary;
	ctx.user_regs.rsp = top - 8;
	ctx.user_regs.rdi = MAGIC + id;
	ctx.user_regs.rflags = 0x1000; /* IOPL 1, as Linux passes it: virtualised */
	ctx.event_callback_eip = (unsigned long)pv_upcall;
	ctx.failsafe_callback_eip = (unsigned long)pv_upcall;
	percpu[id].id = id;
	ctx.gs_base_kernel = (unsigned long)&percpu[id];
#else
	ctx.user_regs.eip = (unsigned long)secondary;
	((unsigned long *)top)[-1] = MAGIC + id; /* the argument */
	ctx.user_regs.esp = top - 8;            /* below it, the (never used) return address */
	ctx.user_regs.eflags = 0x1000;
	ctx.event_callback_cs = ctx.failsafe_callback_cs = KCS;
	ctx.event_callback_eip = ctx.failsafe_callback_eip = (unsigned long)pv_upcall;
#endif
	ctx.kernel_ss = KSS;
	ctx.kernel_sp = top - 64;
	ctx.ctrlreg[3] = cr3_of(p2m_of(start_info->pt_base));
	char *h[] = { pv_vec0, pv_vec1, pv_vec3, pv_vec4, pv_vec6, pv_vec7, pv_vec13, pv_vec14 };
	const uint8_t vec[] = { 0, 1, 3, 4, 6, 7, 13, 14 };
	for (int i = 0; i < 8; i++) {
		struct trap_info *t = &ctx.trap_ctxt[vec[i]];
		t->vector = vec[i]; t->flags = vec[i] == 3 || vec[i] == 4 ? 3 : 0; t->cs = KCS; t->address = (xen_ulong_t)h[i];
	}
}

static int wait_until(volatile unsigned long *v, unsigned long want, int rounds)
{
	for (int i = 0; i < rounds; i++) { if (*v >= want) return 1; yield(); }
	return *v >= want;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	int want = pv_arg("vcpus", 1);
	int n = 0;
	while (n < MAXV + 1 && vcpu_op(VCPUOP_is_up, n, 0) >= 0) n++;
	CHECK(n == want, "the domain has %d vCPUs (VCPUOP_is_up answers -ENOENT beyond them)", n);
	if (n > MAXV) n = MAXV;
	nv = n;
	CHECK(vcpu_op(VCPUOP_is_up, 0, 0) == 1, "vCPU 0 is up");
	for (int i = 1; i < n; i++) CHECK(vcpu_op(VCPUOP_is_up, i, 0) == 0, "vCPU %d is down at boot", i);
	for (int i = 1; i < n; i++) {
		struct runstate r = rs_of(i);
		CHECK(r.state == RS_OFFLINE && r.entry != 0 && r.time[0] == 0,
		      "vCPU %d is RUNSTATE_offline since its creation (state %u, entered at %llu)", i, r.state,
		      (unsigned long long)r.entry);
		__builtin_memset((void *)&rs_area[i], 0xff, sizeof(rs_area[i]));
		xen_ulong_t va = (xen_ulong_t)&rs_area[i];
		CHECK(vcpu_op(VCPUOP_register_runstate_memory_area, i, &va) == 0 && rs_area[i].state == RS_OFFLINE
		      && rs_area[i].entry == r.entry, "vCPU 0 registers vCPU %d's runstate area: written at once (state %u)", i,
		      rs_area[i].state);
	}
	struct { uint32_t vcpu, port; } bi;
	for (int i = 0; i < n; i++) {
		bi.vcpu = i; bi.port = 0;
		CHECK(pv_evtchn_op(EVTCHNOP_bind_ipi, &bi) == 0, "bind_ipi on vCPU %d -> port %u", i, bi.port);
		ipi[i] = bi.port;
		owner[bi.port] = i;
	}
	bi.vcpu = n;
	CHECK(pv_evtchn_op(EVTCHNOP_bind_ipi, &bi) == -ENOENT, "bind_ipi on a vCPU that does not exist -> -ENOENT");

	/* Contexts Xen refuses (on vCPU 1 when there is one). */
	make_ctx(0);
	CHECK(vcpu_op(VCPUOP_initialise, 0, &ctx) == -EEXIST, "initialise vCPU 0 (it has a context) -> -EEXIST");
	CHECK(vcpu_op(VCPUOP_initialise, n, &ctx) == -ENOENT, "initialise vCPU %d (none) -> -ENOENT", n);
	CHECK(vcpu_op(VCPUOP_up, n, 0) == -ENOENT, "up vCPU %d (none) -> -ENOENT", n);
	if (n > 1) {
		struct { uint64_t t; uint32_t flags, pad; } st = { pv_system_time() + 1000000, 0, 0 };
		CHECK(vcpu_op(VCPUOP_set_singleshot_timer, 1, &st) == -EINVAL && vcpu_op(VCPUOP_stop_singleshot_timer, 1, 0) == -EINVAL,
		      "another vCPU's single-shot timer -> -EINVAL");
		CHECK(vcpu_op(VCPUOP_up, 1, 0) == -EINVAL, "up a vCPU with no context -> -EINVAL");
		CHECK(vcpu_op(VCPUOP_initialise, 1, (void *)0x1000) == -EFAULT, "a context at an unmapped address -> -EFAULT");
		make_ctx(1); ctx.ldt_base = VIRT_BASE + 8; ctx.ldt_ents = 1;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "an LDT base not page aligned -> -EINVAL");
		make_ctx(1); ctx.ldt_ents = 8193;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "an LDT of 8193 entries -> -EINVAL");
		make_ctx(1); ctx.gdt_ents = 14 * 512 + 1;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a GDT reaching into Xen's entries -> -EINVAL");
		make_ctx(1); ctx.gdt_ents = 1; ctx.gdt_frames[0] = 1;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a GDT frame that is not ours -> -EINVAL");
		make_ctx(1); ctx.gdt_ents = 1; ctx.gdt_frames[0] = p2m_of((unsigned long)&ctx);
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a GDT frame we map writable -> -EINVAL");
		make_ctx(1); ctx.ctrlreg[3] = cr3_of(p2m_of((unsigned long)&counter));
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "CR3 a data page, not a page table -> -EINVAL");
		make_ctx(1); ctx.ctrlreg[3] = cr3_of(0xfff00);
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "CR3 a frame that is not ours -> -EINVAL");
#if defined(__x86_64__)
		make_ctx(1); ctx.user_regs.rip = 0x0000800000000000UL;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a non-canonical RIP -> -EINVAL");
		make_ctx(1); ctx.trap_ctxt[13].address = 0x8000000000000000UL;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a non-canonical trap handler -> -EINVAL");
		make_ctx(1); ctx.gs_base_kernel = 0x0001000000000000UL;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "a non-canonical GS base -> -EINVAL");
		make_ctx(1); ctx.flags = 0;
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == -EINVAL, "user mode without user page tables -> -EINVAL");
#endif
		CHECK(vcpu_op(VCPUOP_is_up, 1, 0) == 0 && vcpu_op(VCPUOP_up, 1, 0) == -EINVAL, "after all that vCPU 1 still has no context");
	}

	/* role=c: a code selector that does not load (Xen takes the context; the first IRET into it
	 * fails): the domain is crashed when vCPU 1 first runs. role=d: a data selector that does not
	 * load: vCPU 1 starts in its failsafe callback. */
	char role = pv_role('n');
	if (n > 1 && (role == 'c' || role == 'd')) {
		make_ctx(1);
#if defined(__x86_64__)
		if (role == 'c') ctx.user_regs.cs = 0x1233; else ctx.user_regs.ds = 0x123b;
		ctx.failsafe_callback_eip = (unsigned long)failsafe_hit;
#else
		if (role == 'c') ctx.user_regs.cs = 0x1231; else ctx.user_regs.ds = 0x1239;
		ctx.failsafe_callback_eip = (unsigned long)smp_failsafe32;
#endif
		CHECK(vcpu_op(VCPUOP_initialise, 1, &ctx) == 0 && vcpu_op(VCPUOP_up, 1, 0) == 0, "initialise and up vCPU 1 with a selector outside the GDT");
		if (role == 'c') { printf("smp: vCPU 1 runs next: expecting the domain to be crashed\n"); pv_console_flush(); }
		for (int r = 0; r < 1000 && !failsafe_seen; r++) yield();
		CHECK(role == 'd' && failsafe_seen == 1, "vCPU 1 went to its failsafe callback");
		vcpu_op(VCPUOP_down, 1, 0);
		printf("smp: %s\n", pv_fail_count ? "FAILED" : "PASSED");
		return pv_fail_count ? 1 : 0;
	}

	/* The real contexts; the last vCPU (of 3 or more) starts online by its flags, without VCPUOP_up. */
	for (int i = 1; i < n; i++) {
		make_ctx(i);
		int online = n >= 3 && i == n - 1;
		if (online) ctx.flags |= VGCF_online;
		CHECK(vcpu_op(VCPUOP_initialise, i, &ctx) == 0, "initialise vCPU %d%s", i, online ? " (VGCF_online)" : "");
		CHECK(vcpu_op(VCPUOP_initialise, i, &ctx) == -EEXIST, "initialise it again -> -EEXIST");
		CHECK(vcpu_op(VCPUOP_is_up, i, 0) == online, "is_up before VCPUOP_up: %d", online);
		CHECK(vcpu_op(VCPUOP_up, i, 0) == 0 && vcpu_op(VCPUOP_is_up, i, 0) == 1, "up vCPU %d", i);
	}
	for (int i = 1; i < n; i++) {
		struct runstate r = rs_of(i);
		CHECK(r.state != RS_OFFLINE && r.time[3] > 0, "vCPU %d is no longer offline once up (state %u, %llu ns offline)", i,
		      r.state, (unsigned long long)r.time[3]);
	}
	for (int i = 1; i < n; i++) {
		CHECK(wait_until(&started[i], 1, 10000), "vCPU %d runs", i);
		CHECK(arg_ok[i] && gs_ok[i], "vCPU %d: its argument%s as its context gave them", i, sizeof(long) == 8 ? " and kernel GS base" : "");
		CHECK(timer_rc[i] == 1 && timer_hits[i] >= 1, "vCPU %d: its own VIRQ_TIMER (port %u) woke it from SCHEDOP_block", i, timer_port[i]);
	}
	/* Every vCPU gets IPIs from the one before it (vCPU 0 from the last). */
	for (int i = 1; i < n; i++) CHECK(wait_until(&got[(i + 1) % n], 5, 20000), "vCPU %d got %lu IPIs from vCPU %d", (i + 1) % n, got[(i + 1) % n], i);
	if (n > 1) {
		/* vCPU 0 sends too, to each of the others. */
		unsigned long g0[MAXV];
		for (int i = 1; i < n; i++) { g0[i] = got[i]; send_ipi(i); }
		for (int i = 1; i < n; i++) CHECK(wait_until(&got[i], g0[i] + 1, 10000), "vCPU %d got vCPU 0's IPI", i);
		/* A fair share each: over 40 rounds (vCPU 0 yields after each), the counters move alike. */
		unsigned long c0[MAXV], lo = ~0UL, hi = 0;
		for (int i = 1; i < n; i++) c0[i] = counter[i];
		for (int r = 0; r < 40; r++) yield();
		for (int i = 1; i < n; i++) { unsigned long dlt = counter[i] - c0[i]; if (dlt < lo) lo = dlt; if (dlt > hi) hi = dlt; }
		CHECK(lo > 0 && lo * 2 >= hi, "the running vCPUs share the CPU: counted %lu..%lu in 40 rounds", lo, hi);
		for (int i = 1; i < n; i++) {
			struct runstate r = rs_of(i);
			CHECK(r.time[0] > 0 && r.time[1] > 0 && rs_area[i].time[0] > 0, "vCPU %d's runstate: %llu us running, %llu us "
			      "runnable; its area kept up to date (%llu us running)", i, (unsigned long long)(r.time[0] / 1000),
			      (unsigned long long)(r.time[1] / 1000), (unsigned long long)(rs_area[i].time[0] / 1000));
		}
		/* Blocked, then woken by an IPI: runnable until it runs (vCPU 0 does not yield in between;
		 * tried again should a slice end just there and vCPU 1 run and block again). */
		park = 1;
		for (int i = 1; i < n; i++) {
			int r = 0;
			while ((!parked[i] || rs_of(i).state != RS_BLOCKED) && r++ < 1000) yield();
		}
		struct runstate b = rs_of(1);
		CHECK(b.state == RS_BLOCKED, "vCPU 1 in SCHEDOP_block: RUNSTATE_blocked (%u)", b.state);
		park = 0;
		struct runstate w;
		for (int t = 0; t < 5; t++) {
			while (rs_of(1).state != RS_BLOCKED && parked[1]) yield();
			send_ipi(1);
			w = rs_of(1);
			if (w.state == RS_RUNNABLE) break;
		}
		CHECK(w.state == RS_RUNNABLE && w.time[2] > b.time[2], "woken by an IPI: RUNSTATE_runnable (%u), its blocked time "
		      "accounted (%llu us)", w.state, (unsigned long long)(w.time[2] / 1000));
		for (int i = 2; i < n; i++) send_ipi(i);
		for (int i = 1; i < n; i++) {
			int r = 0;
			while (parked[i] && r++ < 1000) yield();
			CHECK(!parked[i], "vCPU %d runs again", i);
		}
		/* Down from outside: it stops; up again: it goes on. */
		int k = n - 1;
		CHECK(vcpu_op(VCPUOP_down, k, 0) == 0 && vcpu_op(VCPUOP_is_up, k, 0) == 0, "down vCPU %d", k);
		struct runstate d0 = rs_of(k);
		CHECK(d0.state == RS_OFFLINE, "it is RUNSTATE_offline at once (%u)", d0.state);
		unsigned long ck = counter[k];
		for (int r = 0; r < 20; r++) yield();
		CHECK(counter[k] == ck, "a vCPU that is down does not run");
		struct runstate d1 = rs_of(k);
		CHECK(d1.state == RS_OFFLINE && d1.entry == d0.entry && d1.time[0] == d0.time[0] && d1.time[3] > d0.time[3],
		      "still offline, its offline time grows (%llu us), no running time added",
		      (unsigned long long)((d1.time[3] - d0.time[3]) / 1000));
		CHECK(vcpu_op(VCPUOP_up, k, 0) == 0 && vcpu_op(VCPUOP_is_up, k, 0) == 1, "up vCPU %d again", k);
		CHECK(wait_until(&counter[k], ck + 1000, 1000), "it goes on counting");
		/* Each takes itself down. */
		stop = 1;
		for (int i = 1; i < n; i++) {
			int r = 0;
			while (vcpu_op(VCPUOP_is_up, i, 0) != 0 && r++ < 1000) yield();
			CHECK(vcpu_op(VCPUOP_is_up, i, 0) == 0, "vCPU %d took itself down", i);
		}
	}
	printf("smp: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	pv_console_flush();
	/* The last vCPU online going down: the domain is powered off (and never comes back here). */
	vcpu_op(VCPUOP_down, 0, 0);
	printf("FAIL: still running after the last vCPU went down\n");
	return 1;
}
