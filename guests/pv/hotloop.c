/* A hot loop (xorshift steps, loads and stores into a table) that the JIT compiles, interrupted by
 * VIRQ_TIMER upcalls: the loop re-arms the one-shot timer each time it sees the upcall count move
 * (a word the upcall handler writes), so events land in the middle of compiled code over and over.
 * The sum depends only on the loop, never on when the events came: it must be the same interpreted
 * and compiled. Prints "hotloop: sum=... iters=... upcalls=... seen=..." and "hotloop: done".
 * `iters=N`: N thousand iterations (default 2000). */
#include "pv.h"

static volatile uint32_t table[1024];

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	struct bind_virq bv = { VIRQ_TIMER, 0, 0 };
	if (pv_evtchn_op(EVTCHNOP_bind_virq, &bv) != 0) { printf("hotloop: FAIL: bind VIRQ_TIMER\n"); return 1; }
	pv_events_enable();
	uint64_t iters = (uint64_t)pv_arg("iters", 2000) * 1000;
	uint64_t x = 88172645463325252ULL, sum = 0;
	unsigned last = pv_upcalls, seen = 0;
	pv_set_timer(pv_system_time() + 50000);
	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		table[x & 1023] += (uint32_t)x;
		sum += table[(x >> 10) & 1023] ^ (uint32_t)(x >> 32);
		unsigned u = pv_upcalls;
		if (u != last) { last = u; seen++; pv_set_timer(pv_system_time() + 50000); }
	}
	printf("hotloop: sum=%llx iters=%llu upcalls=%u seen=%u\n", (unsigned long long)sum, (unsigned long long)iters,
		pv_upcalls, seen);
	printf("hotloop: done\n");
	return 0;
}
