/* A guest that keeps counting, in memory and on its console, and supports the PV suspend protocol:
 * when xenstore's control/shutdown says "suspend" it clears it and suspends itself
 * (SCHEDOP_shutdown(SHUTDOWN_suspend), start_info's mfn as the third argument); the hypercall returns
 * 0 when it resumes in a restored domain and 1 when the suspend was cancelled. It stops after
 * `steps=N` console lines (command line), checking that its memory pattern survived. As Linux does, it
 * also obeys control/shutdown = "poweroff" / "halt" (powers off) and "reboot" (`xm shutdown`, `xm reboot`). */
#include "pv.h"

static uint64_t pattern[512];
static uint64_t big[128 * 1024]; /* 1 MiB of pseudo-random data, checksummed before and after */

static uint64_t memsum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++) h = (h ^ big[i]) * 0x100000001b3ULL;
	return h;
}

static long suspend(void)
{
	uint32_t reason = 2; /* SHUTDOWN_suspend */
	pv_console_flush();
	return HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &reason, 0);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	xs_init(pv_free_va(5));
	int steps = pv_arg("steps", 40);
	int every = pv_arg("every", 100000);
	uint64_t x = 88172645463325252ULL;
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; big[i] = x; }
	uint64_t n = 0;
	unsigned line = 0;
	char buf[32];
	for (;;) {
		n++;
		pattern[n % 512] = n * 0x9e3779b97f4a7c15ULL;
		if (n % (uint64_t)every == 0) {
			printf("count %u\n", ++line);
			if (line >= (unsigned)steps) break;
			if (xs_read("control/shutdown", buf, sizeof(buf)) > 0 && (!strcmp(buf, "poweroff") || !strcmp(buf, "halt") || !strcmp(buf, "reboot"))) {
				xs_write("control/shutdown", "");
				printf("counter: %s requested\n", buf);
				pv_console_flush();
				pv_shutdown(!strcmp(buf, "reboot") ? SHUTDOWN_reboot : SHUTDOWN_poweroff);
			}
			if (xs_read("control/shutdown", buf, sizeof(buf)) > 0 && !strcmp(buf, "suspend")) {
				xs_write("control/shutdown", "");
				printf("memsum %lx\n", (unsigned long)memsum());
				long r = suspend();
				printf("resumed (%ld)\n", r);
				printf("memsum %lx\n", (unsigned long)memsum());
			}
		}
	}
	int bad = 0;
	for (uint64_t k = n - 511; k <= n; k++) if (pattern[k % 512] != k * 0x9e3779b97f4a7c15ULL) bad++;
	printf("pattern %s\n", bad ? "BROKEN" : "ok");
	printf("counter: done\n");
	return bad ? 1 : 0;
}
