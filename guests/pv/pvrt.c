/* Console through console_io (line-buffered), exit through SCHEDOP_shutdown. */
#include "pv.h"

struct start_info *start_info;
static char cbuf[256];
static unsigned clen;

void pv_console_flush(void)
{
	if (clen) HYPERVISOR(__HYPERVISOR_console_io, CONSOLEIO_write, clen, cbuf);
	clen = 0;
}

int putchar(int c)
{
	cbuf[clen++] = (char)c;
	if (c == '\n' || clen == sizeof(cbuf)) pv_console_flush();
	return (unsigned char)c;
}

void pv_shutdown(unsigned reason)
{
	pv_console_flush();
	HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &reason, 0);
	for (;;) HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
}

void exit(int status)
{
	pv_shutdown(status == 0 ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}

void pv_start(struct start_info *si)
{
	start_info = si;
	exit(pv_main());
}
