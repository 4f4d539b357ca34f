/* The simplest PV guest: prints through console_io, asks the hypervisor's version, powers off. */
#include "pv.h"

int pv_main(void)
{
	long ver = HYPERVISOR(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
	printf("Hello from a xenwasm PV guest (%d-bit)\n", (int)(sizeof(long) * 8));
	printf("Xen %ld.%ld, magic %s, %lu pages\n", ver >> 16, ver & 0xffff, start_info->magic,
	       (unsigned long)start_info->nr_pages);
	return 0;
}
