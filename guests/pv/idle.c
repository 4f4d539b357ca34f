/* A guest that says it is ready and then sleeps (blocked, events masked off: nothing wakes it). */
#include "pv.h"

int pv_main(void)
{
	printf("ready\n");
	pv_console_flush();
	for (;;) HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0);
}
