/* Hypervisor micro-benchmarks, measured inside the guest with its own clock (vcpu_time_info + RDTSC):
 * a null hypercall, one PTE update by mmu_update, a fault bounced to the guest and back (ud2 + iret),
 * and (role=a with a role=b peer) an event-channel notification to the upcall in another domain and
 * back. Also the guest's own CPU speed, to express each figure in instructions' worth.
 * Prints "bench <name>=<value*100>" lines (hundredths of ns / of MIPS). */
#include "pv.h"

struct alloc_unbound { uint16_t dom, remote_dom; uint32_t port; };
struct bind_interdomain { uint16_t remote_dom; uint16_t pad; uint32_t remote_port, local_port; };
struct port_op { uint32_t port; };
extern char at_bench_ud2[], after_bench_ud2[];
static volatile unsigned bounces;

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (f->vector == 6 && f->rip == (unsigned long)at_bench_ud2) { bounces++; f->rip = (unsigned long)after_bench_ud2; return; }
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

static int arg(const char *key)
{
	const char *s = start_info->cmd_line;
	size_t k = strlen(key);
	for (; *s; s++)
		if ((s == start_info->cmd_line || s[-1] == ' ') && !memcmp(s, key, k) && s[k] == '=') {
			int v = 0;
			for (s += k + 1; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
			return v;
		}
	return -1;
}

static int quiet;
static void report(const char *name, uint64_t total_ns, unsigned long n)
{
	unsigned long v = (unsigned long)(total_ns * 100 / n);
	if (!quiet) printf("bench %s=%lu\n", name, v);
}

static void responder(int peer)
{
	struct bind_interdomain bi = { peer, 0, 3, 0 };
	while (pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) != 0) HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
	pv_events_enable();
	struct port_op so = { bi.local_port };
	unsigned seen = 0;
	for (;;) {
		while (pv_event_count[bi.local_port] == seen) pv_block();
		seen = pv_event_count[bi.local_port];
		pv_evtchn_op(EVTCHNOP_send, &so);
	}
}

static void run(int final, int peer);

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	int peer = arg("peer");
	if (start_info->cmd_line[0] && !memcmp(start_info->cmd_line, "role=b", 6)) responder(peer);
	run(0, peer); /* warm-up: the host's JIT tiers the core up while this runs */
	run(1, peer);
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

	/* mmu_update: flip one L1 entry between two frames. */
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long va = pv_free_va(3), np = start_info->nr_pages;
	pv_map(va, (uint64_t)p2m[np - 1] << 12, 3);
	/* Find the L1 entry's machine address: update_va_mapping is the same mechanism; time that too. */
	n = 50000;
	t0 = pv_system_time();
	for (unsigned long i = 0; i < n; i++) pv_map(va, (uint64_t)p2m[np - 1 - (i & 1)] << 12, 3);
	report("mmu_update_ns", pv_system_time() - t0, n);

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
		n = 2000;
		t0 = pv_system_time();
		for (unsigned long i = 0; i < n; i++) {
			seen = pv_event_count[au.port];
			pv_evtchn_op(EVTCHNOP_send, &so);
			while (pv_event_count[au.port] == seen) pv_block();
		}
		report("evtchn_notify_ns", (pv_system_time() - t0) / 2, n); /* one way = half the round trip */
	}
}
