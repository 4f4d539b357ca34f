/* The simplest PV guest: prints through console_io, asks the hypervisor's version, powers off.
 * With "stay=1" on its command line it stays up instead, asleep, and obeys the toolstack as Linux does:
 * it watches xenstore's control/shutdown (XS_WATCH; woken by the store event channel) and on
 * "poweroff"/"halt" powers off, on "reboot" reboots (SCHEDOP_shutdown with that reason: `xm shutdown`,
 * `xm reboot`), on "suspend" suspends itself (`xm save`, `xm migrate`) and, resumed, watches again. */
#include "pv.h"

static void stay(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	if (xs_init(pv_free_va(5)) || xs_watch("control/shutdown", "shutdown")) {
		printf("hello: no xenstore (%s)\n", xs_last_error());
		return;
	}
	printf("hello: staying up (xm shutdown, xm reboot, xm save)\n");
	pv_console_flush();
	char buf[16];
	for (;;) {
		int n = xs_read("control/shutdown", buf, sizeof buf);
		unsigned port = start_info->store_evtchn % 1024;
		unsigned seen = pv_event_count[port];
		if (n > 0 && (!strcmp(buf, "poweroff") || !strcmp(buf, "halt") || !strcmp(buf, "reboot"))) {
			xs_write("control/shutdown", "");
			printf("hello: %s requested\n", buf);
			pv_shutdown(!strcmp(buf, "reboot") ? SHUTDOWN_reboot : SHUTDOWN_poweroff);
		}
		if (n > 0 && !strcmp(buf, "suspend")) {
			xs_write("control/shutdown", "");
			pv_console_flush();
			uint32_t reason = SHUTDOWN_suspend;
			long r = HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &reason, 0);
			printf("hello: %s\n", r == 0 ? "resumed" : "suspend cancelled");
			pv_console_flush();
			if (r == 0 && xs_watch("control/shutdown", "shutdown")) printf("hello: no watch after resume (%s)\n", xs_last_error());
			continue;
		}
		if (!xs_pending()) pv_wait_event(port, seen);
	}
}

int pv_main(void)
{
	long ver = HYPERVISOR(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
	printf("Hello from a xenwasm PV guest (%d-bit)\n", (int)(sizeof(long) * 8));
	printf("Xen %ld.%ld, magic %s, %lu pages\n", ver >> 16, ver & 0xffff, start_info->magic,
	       (unsigned long)start_info->nr_pages);
	if (pv_arg("stay", 0)) stay();
	return 0;
}
