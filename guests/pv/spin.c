/* A guest that never yields: it prints one line and spins forever. The scheduler must still run
 * everyone else. */
#include "pv.h"

int pv_main(void)
{
	printf("spinning\n");
	pv_console_flush();
	for (;;) __asm__ volatile("" ::: "memory");
}
