/* Hypervisor micro-benchmarks, measured inside the guest with its own clock (vcpu_time_info + RDTSC):
 * a null hypercall, one PTE update by update_va_mapping and by mmu_update, a fault bounced to the guest and back (ud2 + iret),
 * and (role=a with a role=b peer) an event-channel notification to the upcall in another domain and
 * back. Also the guest's own CPU speed, to express each figure in instructions' worth.
 * Prints "bench <name>=<value*100>" lines (hundredths of ns / of MIPS). */
#include "pv.h"

extern char at_bench_ud2[], after_bench_ud2[];
static volatile unsigned bounces;

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 6 && f->rip == (unsigned long)at_bench_ud2) { bounces++; f->rip = (unsigned long)after_bench_ud2; return; }
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

static int quiet;
static void report(const char *name, uint64_t total_ns, unsigned long n)
{
	unsigned long v = (unsigned long)(total_ns * 100 / n);
	if (!quiet) printf("bench %s=%lu\n", name, v);
}

/* The event callback: the runtime's (pv_upcall, through pv_trap and the C pv_event) or, 64-bit, the lean
 * one in assembly (pv_fast_upcall), which measures the hypervisor's path rather than our C runtime's. */
static void set_upcall(int lean)
{
#if defined(__x86_64__)
	extern char pv_fast_upcall[], pv_upcall[];
	struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { 0, 1, 0, (uint64_t)(lean ? pv_fast_upcall : pv_upcall) };
	HYPERVISOR(__HYPERVISOR_callback_op, 0, &cb, 0);
#else
	(void)lean;
#endif
}

#if defined(__x86_64__)
/* The lean ping-pong (64-bit), in assembly so that the figure is the hypervisor's path and not our C
 * runtime's: `send` notifies the peer, then the vCPU waits for `port`'s count to move past `seen`
 * (events masked while it checks; SCHEDOP_block unmasks them and sleeps only if none is pending; an
 * upcall left pending by the unmask is taken with a null hypercall). `first_wait`: wait, then send
 * (the responder). Runs `n` rounds (a send and a wait each). */
static void pingpong(unsigned port, unsigned long n, int first_wait)
{
	struct port_op so = { port };
	volatile unsigned *cnt = &pv_event_count[port];
	volatile uint8_t *vi = pv_vcpu_info();
	__asm__ volatile(
		"	movl (%[cnt]), %%ebx\n"
		"	testl %[fw], %[fw]\n"
		"	jnz 2f\n"
		"1:	movl (%[cnt]), %%ebx\n"	/* the count before the send */
		"	movl $4, %%edi\n"	/* EVTCHNOP_send */
		"	movq %[so], %%rsi\n"
		"	movl $32, %%eax\n"	/* __HYPERVISOR_event_channel_op */
		"	syscall\n"
		"2:	movb $1, 1(%[vi])\n"	/* evtchn_upcall_mask */
		"	cmpl (%[cnt]), %%ebx\n"
		"	jne 3f\n"
		"	movl $1, %%edi\n"	/* SCHEDOP_block */
		"	movl $29, %%eax\n"	/* __HYPERVISOR_sched_op */
		"	syscall\n"
		"	jmp 2b\n"
		"3:	movb $0, 1(%[vi])\n"
		"	cmpb $0, (%[vi])\n"	/* evtchn_upcall_pending */
		"	je 4f\n"
		"	xorl %%edi, %%edi\n"
		"	movl $17, %%eax\n"	/* __HYPERVISOR_xen_version */
		"	syscall\n"
		"4:	decq %[n]\n"
		"	jnz 1b\n"
		: [n] "+r"(n)
		: [cnt] "r"(cnt), [vi] "r"(vi), [so] "r"(&so), [fw] "r"(first_wait)
		: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r10", "r11", "memory");
}
#endif

static void responder(int peer)
{
	struct bind_interdomain bi = { peer, 0, 3, 0 };
	while (pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) != 0) HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
	set_upcall(1);
	pv_events_enable();
#if defined(__x86_64__)
	for (;;) pingpong(bi.local_port, ~0UL, 1);
#endif
	struct port_op so = { bi.local_port };
	unsigned seen = 0;
	for (;;) {
		pv_wait_event(bi.local_port, seen);
		seen = pv_event_count[bi.local_port];
		pv_evtchn_op(EVTCHNOP_send, &so);
	}
}

static void run(int final, int peer);

#include "pt.h"

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	int peer = pv_arg("peer", -1);
	if (start_info->cmd_line[0] && !memcmp(start_info->cmd_line, "role=b", 6)) responder(peer);
	run(0, peer); /* warm-up: the host's JIT tiers the core up while this runs */
	int reps = pv_arg("reps", -1) > 0 ? pv_arg("reps", -1) : 1; /* measured passes (the host takes medians) */
	for (int r = 0; r < reps; r++) run(1, peer);
	printf("bench done\n");
	return 0;
}

static void run(int final, int peer)
{
	quiet = !final;
	uint64_t t0, dt;
	/* CPU speed: a loop of 2 instructions per iteration. */
	unsigned long iters = 5000000;
	t0 = pv_system_time();
	__asm__ volatile("1: dec %0; jnz 1b" : "+r"(iters));
	dt = pv_system_time() - t0;
	unsigned long mips100 = (unsigned long)(10000000ULL * 100 * 1000 / dt); /* 1e7 instructions */
	if (!quiet) printf("bench guest_mips=%lu\n", mips100);

	unsigned long n = 200000;
	t0 = pv_system_time();
	for (unsigned long i = 0; i < n; i++) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	report("null_hypercall_ns", pv_system_time() - t0, n);

	/* One PTE flipped between two frames, 50000 times: by update_va_mapping (with UVMF_INVLPG), then by
	 * mmu_update (one MMU_NORMAL_PT_UPDATE request naming the L1 entry's machine address; no flush). */
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long va = pv_free_va(3), np = start_info->nr_pages;
	pv_map(va, (uint64_t)p2m[np - 1] << 12, 3);
	n = 50000;
	t0 = pv_system_time();
	for (unsigned long i = 0; i < n; i++) pv_map(va, (uint64_t)p2m[np - 1 - (i & 1)] << 12, 3);
	report("update_va_mapping_ns", pv_system_time() - t0, n);
	{
		uint64_t e = l1e_ma(va);
		struct mmu_update u;
		uint32_t done = 0;
		t0 = pv_system_time();
		for (unsigned long i = 0; i < n; i++) {
			u.ptr = e | MMU_NORMAL_PT_UPDATE;
			u.val = ((uint64_t)p2m[np - 1 - (i & 1)] << 12) | 3;
			if (hypercall5(__HYPERVISOR_mmu_update, (long)&u, 1, (long)&done, DOMID_SELF, 0) != 0 || done != 1) {
				printf("mmu_update of the L1 entry at %lx failed\n", (unsigned long)e);
				pv_shutdown(SHUTDOWN_crash);
			}
		}
		report("mmu_update_ns", pv_system_time() - t0, n);
		pv_map(va, (uint64_t)p2m[np - 1] << 12, 3); /* and the TLB agrees again */
	}

	n = 50000;
	t0 = pv_system_time();
	for (unsigned long i = 0; i < n; i++)
		__asm__ volatile(".globl at_bench_ud2\nat_bench_ud2: ud2\n.globl after_bench_ud2\nafter_bench_ud2:" ::: "memory");
	report("fault_bounce_c_ns", pv_system_time() - t0, n);

	/* A page fault bounced to a minimal handler (skip the 2-byte load, iret): the PV round trip. */
	{
		extern char pv_fast_pf[];
#if defined(__x86_64__)
		static struct trap_info t[] = { { 14, 0, 0xe033, 0 }, { 0, 0, 0, 0 } };
		unsigned long bad = 0xffffffffc0000000UL;
#else
		static struct trap_info t[] = { { 14, 0, 0xe019, 0 }, { 0, 0, 0, 0 } };
		unsigned long bad = 0xe0000000UL;
#endif
		t[0].address = (xen_ulong_t)pv_fast_pf;
		HYPERVISOR(__HYPERVISOR_set_trap_table, t, 0, 0);
		n = 50000;
		t0 = pv_system_time();
		for (unsigned long i = 0; i < n; i++) __asm__ volatile(".byte 0x8a, 0x03" : : "b"(bad) : "eax", "memory"); /* mov (%rbx/%ebx), %al */
		report("fault_bounce_ns", pv_system_time() - t0, n);
		pv_install_traps();
	}

	static struct alloc_unbound au = { DOMID_SELF, 0, 0 };
	if (peer > 0) {
		if (au.port == 0) { au.remote_dom = peer; pv_evtchn_op(EVTCHNOP_alloc_unbound, &au); }
		pv_events_enable();
		struct port_op so = { au.port };
		/* Wait until the peer is bound: its first echo. */
		unsigned seen = pv_event_count[au.port];
		while (pv_event_count[au.port] == seen) { pv_evtchn_op(EVTCHNOP_send, &so); HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0); }
		/* Round trips (notify=N for profiling); one way is half of one. The peer's upcall is the lean
		 * one; ours is the C runtime's for evtchn_notify_c_ns, then the lean one (64-bit). */
		n = pv_arg("notify", -1) > 0 ? (unsigned long)pv_arg("notify", -1) : 20000;
		t0 = pv_system_time();
		for (unsigned long i = 0; i < n; i++) {
			seen = pv_event_count[au.port];
			pv_evtchn_op(EVTCHNOP_send, &so);
			pv_wait_event(au.port, seen);
		}
		report("evtchn_notify_c_ns", (pv_system_time() - t0) / 2, n);
#if defined(__x86_64__)
		set_upcall(1);
		t0 = pv_system_time();
		pingpong(au.port, n, 0);
		report("evtchn_notify_ns", (pv_system_time() - t0) / 2, n);
		set_upcall(0);
#endif
	}
}
