/* The domain watchdog (SCHEDOP_watchdog, sched.h; Xen's domain_watchdog): id 0 sets one of the domain's two
 * watchdogs and answers its id, a third -ENOSPC; id N with a timeout pokes watchdog N, with 0 frees it;
 * an id above 2 or one not in use -EINVAL. Then watchdog 1, set to 1 s, is poked every 200 ms for 3 s
 * (the domain runs on), and then no more: it fires and the domain is shut down with SHUTDOWN_watchdog
 * (what the host checks). Prints "ok:"/"FAIL:" lines and "wdog: PASSED" before it stops poking. */
#include "pv.h"

#define SCHEDOP_watchdog 6
#define ENOSPC 28

struct sched_watchdog { uint32_t id, timeout; };

static long wd(uint32_t id, uint32_t timeout)
{
	struct sched_watchdog w = { id, timeout };
	return HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_watchdog, &w, 0);
}

static void sleep_ms(unsigned ms)
{
	uint64_t t = pv_system_time() + (uint64_t)ms * 1000000;
	while (pv_system_time() < t) pv_nap();
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	struct bind_virq bv = { VIRQ_TIMER, 0, 0 }; /* pv_nap's timer wakes us */
	CHECK(pv_evtchn_op(EVTCHNOP_bind_virq, &bv) == 0, "VIRQ_TIMER bound");
	pv_events_enable();
	CHECK(wd(3, 10) == -EINVAL, "watchdog 3 (a domain has 2) -> -EINVAL");
	CHECK(wd(~0u, 0) == -EINVAL, "id ~0 (how Linux's xen_wdt probes for the watchdog) -> -EINVAL");
	CHECK(wd(1, 10) == -EINVAL, "poking watchdog 1 before it is set -> -EINVAL");
	long a = wd(0, 10), b = wd(0, 10);
	CHECK(a == 1 && b == 2, "two watchdogs set: ids %ld, %ld", a, b);
	CHECK(wd(0, 10) == -ENOSPC, "a third -> -ENOSPC");
	CHECK(wd(2, 0) == 0 && wd(2, 5) == -EINVAL, "watchdog 2 freed (timeout 0), then not in use -> -EINVAL");
	CHECK(wd(0, 10) == 2 && wd(2, 0) == 0, "set again (id 2) and freed");
	CHECK(HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_watchdog, (void *)0x10, 0) == -EFAULT, "a bad argument -> -EFAULT");
	CHECK(wd(1, 1) == 0, "watchdog 1 poked with a timeout of 1 s");
	uint64_t t0 = pv_system_time();
	int pokes = 0;
	while (pv_system_time() - t0 < 3000000000ull) {
		sleep_ms(200);
		if (wd(1, 1) == 0) pokes++;
	}
	CHECK(pokes >= 10, "poked %d times over 3 s: the domain runs on", pokes);
	printf("wdog: %s, no more pokes\n", pv_fail_count ? "FAILED" : "PASSED");
	pv_console_flush();
	for (;;) pv_nap();
}
