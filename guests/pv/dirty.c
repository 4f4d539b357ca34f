/* A guest that dirties its memory at a set rate, for bench/migrate: `dirty=KiB/s` (0: idle) spread
 * over a 32 MiB area, one write per page, paced by Xen system time and sleeping (SCHEDOP_block with a
 * one-shot timer) between 1 ms ticks. It prints "count N" every 100 ms and answers the PV suspend
 * protocol (control/shutdown = "suspend"); after a resume in a new domain it binds VIRQ_TIMER again,
 * as a kernel must (event channels do not survive a migration). */
#include "pv.h"

static volatile uint8_t area[32 << 20] __attribute__((aligned(4096))); /* volatile: the stores are the point */

static void bind_timer(void)
{
	struct bind_virq bv = { VIRQ_TIMER, 0, 0 };
	pv_evtchn_op(EVTCHNOP_bind_virq, &bv);
}

static void timer_at(uint64_t dl)
{
#if defined(__x86_64__)
	HYPERVISOR(__HYPERVISOR_set_timer_op, dl, 0, 0);
#else
	HYPERVISOR(__HYPERVISOR_set_timer_op, (uint32_t)dl, (uint32_t)(dl >> 32), 0);
#endif
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	bind_timer();
	pv_events_enable();
	xs_init(pv_free_va(5));
	const uint64_t kib_s = (uint64_t)pv_arg("dirty", 0);
	const uint64_t npages = sizeof(area) / 4096;
	uint64_t t0 = pv_system_time(), done = 0, next_line = t0 + 100000000;
	unsigned line = 0;
	char buf[32];
	printf("dirty: %lu KiB/s over %lu pages\n", (unsigned long)kib_s, (unsigned long)npages);
	for (;;) {
		uint64_t now = pv_system_time();
		uint64_t want = (now - t0) * kib_s / 4 / 1000000000ULL;
		for (; done < want; done++) area[(done % npages) * 4096] = (uint8_t)(done + 1);
		if (now >= next_line) {
			printf("count %u (%lu pages written)\n", ++line, (unsigned long)done);
			next_line += 100000000;
			if (xs_read("control/shutdown", buf, sizeof(buf)) > 0 && !strcmp(buf, "suspend")) {
				xs_write("control/shutdown", "");
				uint32_t reason = 2; /* SHUTDOWN_suspend */
				pv_console_flush();
				long r = HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &reason, 0);
				if (r == 0) bind_timer();
				printf("resumed (%ld)\n", r);
			}
		}
		timer_at(now + 1000000);
		pv_block();
	}
	return 0;
}
