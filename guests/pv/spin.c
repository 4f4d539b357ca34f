/* A guest that never yields: it prints one line and spins forever. The scheduler must still run
 * everyone else. With `report=K` on its command line it counts its own loop iterations and prints
 * "spun N" after every 2^K of them (N in units of 2^K): a measure of the CPU it got that does not
 * come from the hypervisor's accounting (bench:sched). */
#include "pv.h"

int pv_main(void)
{
	printf("spinning\n");
	pv_console_flush();
	int k = pv_arg("report", 0);
	if (k <= 0 || k > 40)
		for (;;) __asm__ volatile("" ::: "memory");
	unsigned long mask = (1UL << k) - 1, n = 0;
	for (;;) {
		n++;
		__asm__ volatile("" : "+r"(n));
		if ((n & mask) == 0) { printf("spun %lu\n", n >> k); pv_console_flush(); }
	}
}
