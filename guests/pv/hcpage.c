/* A guest that asks for a hypercall page (HYPERCALL_PAGE note) and makes its hypercalls through it,
 * as older PV kernels do. */
#include "pv.h"

extern char hypercall_page[];
__asm__(".pushsection .text\n.balign 4096\n.globl hypercall_page\nhypercall_page: .skip 4096, 0\n.popsection\n"
	".pushsection .note.Xen, \"a\", @note\n.balign 4\n.long 4, 1f - 0f, 2\n.asciz \"Xen\"\n.balign 4\n0:\n"
#if defined(__x86_64__)
	".quad hypercall_page\n"
#else
	".long hypercall_page\n"
#endif
	"1:\n.balign 4\n.popsection\n");

static long hcall3(int nr, long a1, long a2, long a3)
{
	long ret;
	void *entry = hypercall_page + nr * 32;
#if defined(__x86_64__)
	__asm__ volatile("call *%[e]" : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3) : [e] "r"(entry) : "memory", "r10", "r8", "rcx", "r11");
#else
	__asm__ volatile("call *%[e]" : "=a"(ret), "+b"(a1), "+c"(a2), "+d"(a3) : [e] "r"(entry) : "memory");
#endif
	return ret;
}

int pv_main(void)
{
	long v = hcall3(__HYPERVISOR_xen_version, 0, 0, 0);
	CHECK(v == 0x40013, "xen_version through the hypercall page (%lx)", v);
	static const char msg[] = "console_io through the hypercall page\n";
	CHECK(hcall3(__HYPERVISOR_console_io, CONSOLEIO_write, sizeof(msg) - 1, (long)msg) == 0, "console_io");
	printf("hcpage: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
