/* Xen's known classes of PV attack, each refused with Xen's error code (issue 12): page-type
 * confusion (pin a page mapped writable; map a pinned L1 or the top-level table writable), the M2P
 * (a mapping at its VA, its frames mapped), event ports of another domain (status, alloc_unbound,
 * reset, binding a port that is not offered), descriptor tricks (DPL 0 code raised to the guest
 * kernel's ring, system descriptors and gates to Xen's selectors refused, 64-bit code in a 32-bit
 * guest refused) and, 64-bit, the iret hypercall to a non-canonical RIP (as an IRET, also by the
 * SYSRET path: the failsafe callback, as Xen's faulting IRETQ). "peer=N": another domain's id. */
#include "pv.h"
#include "pt.h"

#define MMUEXT_PIN_L1_TABLE_ 0
#define EVTCHNOP_reset 10
#define EVTCHNOP_bind_vcpu 8
#define CALLBACKOP_register 0
#define CALLBACKTYPE_failsafe 1

static uint8_t pages[2][4096] __attribute__((aligned(4096)));
static xen_ulong_t *p2m;

static unsigned long pfn_of(const void *p) { return ((unsigned long)p - VIRT_BASE) >> 12; }
static uint64_t ma_of(const void *p) { return (uint64_t)p2m[pfn_of(p)] << 12; }
static long mmuext(unsigned cmd, unsigned long arg)
{
	struct mmuext_op op = { cmd, arg, 0 };
	return hypercall5(__HYPERVISOR_mmuext_op, (long)&op, 1, 0, DOMID_SELF, 0);
}
static long uva(unsigned long va, uint64_t val)
{
#if defined(__x86_64__)
	return HYPERVISOR(__HYPERVISOR_update_va_mapping, va, val, UVMF_INVLPG);
#else
	return hypercall5(__HYPERVISOR_update_va_mapping, (long)va, (long)(uint32_t)val, (long)(uint32_t)(val >> 32), UVMF_INVLPG, 0);
#endif
}

#if defined(__x86_64__)
volatile uint64_t nc_rip, nc_count;
/* Failsafe callback: note the frame's RIP (RCX R11 DS ES FS GS RIP ...), then go on at nc_back. */
__asm__(".text\n.globl nc_failsafe\nnc_failsafe:\n"
	"	movq 48(%rsp), %rax\n"
	"	movq %rax, nc_rip(%rip)\n"
	"	incq nc_count(%rip)\n"
	"	popq %rcx\n popq %r11\n addq $32, %rsp\n" /* RIP CS RFLAGS RSP SS remain */
	"	leaq nc_back(%rip), %rax\n movq %rax, (%rsp)\n movq $0xe030, 8(%rsp)\n"
	"	pushq $0\n pushq %rcx\n pushq %r11\n pushq %rax\n movl $23, %eax\n syscall\n");
extern char nc_failsafe[];
/* The iret hypercall to `rip` (flags: VGCF_in_syscall = 256 takes Xen's SYSRET path). */
__attribute__((noinline)) static void iret_to(uint64_t rip, uint64_t flags)
{
	__asm__ volatile(
		"movq %%rsp, %%rdx\n"
		"pushq $0xe02b\n pushq %%rdx\n pushfq\n pushq $0xe030\n pushq %0\n"
		"pushq %1\n pushq $0\n pushq $0\n pushq $0\n"
		"movl $23, %%eax\n syscall\n"
		".globl nc_back\nnc_back:\n"
		: : "r"(rip), "r"(flags) : "rax", "rcx", "rdx", "r11", "memory");
}
#endif

int pv_main(void)
{
	int peer = pv_arg("peer", 0);
	long rc;
	p2m = (xen_ulong_t *)start_info->mfn_list;
	uint64_t pte = 0x67; /* present, writable, user, accessed, dirty */

	/* Page-type confusion. */
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE_, ma_of(pages[0]) >> 12) == -EINVAL, "pin as L1 a page mapped writable: -EINVAL");
	for (int i = 0; i < 4096; i++) pages[0][i] = 0;
	uint64_t ma0 = ma_of(pages[0]);
	CHECK(uva((unsigned long)pages[0], 0) == 0, "its mapping removed");
	CHECK(mmuext(MMUEXT_PIN_L1_TABLE_, ma0 >> 12) == 0, "then it pins as an L1");
	CHECK(uva((unsigned long)pages[0], ma0 | pte) == -EBUSY, "a writable mapping of a pinned L1: -EBUSY");
	CHECK(uva((unsigned long)pages[0], ma0 | (pte & ~2ULL)) == 0, "a read-only one: allowed");
	CHECK(mmuext(MMUEXT_UNPIN_TABLE, ma0 >> 12) == 0, "unpinned");
	CHECK(uva((unsigned long)pages[0], ma0 | pte) == 0 && (pages[0][5] = 1), "writable again once it is no page table");
	uint64_t top = (uint64_t)p2m[pfn_of((void *)start_info->pt_base)] << 12;
	CHECK(uva((unsigned long)pages[1], top | pte) == -EBUSY, "a writable mapping of the top-level table: -EBUSY");
	CHECK(uva((unsigned long)pages[1], ma_of(pages[1]) | pte) == 0, "(the page mapped back)");

	/* The M2P: its VAs are Xen's, its frames are not the guest's. */
	CHECK(uva((unsigned long)M2P, ma_of(pages[1]) | (pte & ~2ULL)) == -EINVAL, "update_va_mapping at the M2P's VA: -EINVAL");
#if defined(__x86_64__)
	uint64_t m2pf = ((volatile uint64_t *)start_info->pt_base)[256] & 0x000ffffffffff000ULL;
#else
	uint64_t e3 = ((volatile uint64_t *)start_info->pt_base)[3];
	volatile uint64_t *l2 = (volatile uint64_t *)va_of_pfn(M2P[(e3 & 0xffffff000ULL) >> 12]);
	uint64_t m2pf = l2[428] & 0xffffff000ULL;
#endif
	CHECK(m2pf != 0 && uva((unsigned long)pages[1], m2pf | pte) == -EBUSY, "an M2P frame (%llx) mapped writable: -EBUSY", (unsigned long long)m2pf);
	CHECK(uva((unsigned long)pages[1], m2pf | (pte & ~2ULL)) == -EBUSY, "... or read-only: -EBUSY");
	CHECK(pages[1][0] == 0 && uva((unsigned long)pages[1], ma_of(pages[1]) | pte) == 0, "(the page still ours)");

	/* Another domain's page tables. */
	struct mmuext_op fl = { MMUEXT_TLB_FLUSH_LOCAL, 0, 0 };
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&fl, 1, 0, peer, 0) == -EPERM, "mmuext_op for another domain: -EPERM");
	CHECK(hypercall5(__HYPERVISOR_mmuext_op, (long)&fl, 1, 0, 0x7f00, 0) == -ESRCH, "... for one that does not exist: -ESRCH");
	struct mmu_update mu = { ma_of(pages[1]) | MMU_MACHPHYS_UPDATE, pfn_of(pages[1]) };
	CHECK(hypercall5(__HYPERVISOR_mmu_update, (long)&mu, 1, 0, peer, 0) == -EPERM, "mmu_update for another domain: -EPERM");
	CHECK(hypercall5(__HYPERVISOR_mmu_update, (long)&mu, 1, 0, 0x7ff2, 0) == -EPERM, "... for DOMID_XEN: -EPERM");
	CHECK(hypercall5(__HYPERVISOR_mmu_update, (long)&mu, 1, 0, 0x7f00, 0) == -ESRCH, "... for one that does not exist: -ESRCH");

	/* Another domain's event channels. */
	struct { uint16_t dom; uint16_t pad; uint32_t port, status, vcpu; uint32_t u[2]; } st = { (uint16_t)peer, 0, 1, 0, 0, { 0, 0 } };
	CHECK(pv_evtchn_op(EVTCHNOP_status, &st) == -EPERM, "status of another domain's port: -EPERM");
	struct alloc_unbound au = { (uint16_t)peer, DOMID_SELF, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == -EPERM, "alloc_unbound in another domain: -EPERM");
	struct { uint16_t dom; } rs = { (uint16_t)peer };
	CHECK(pv_evtchn_op(EVTCHNOP_reset, &rs) == -EPERM, "reset of another domain's ports: -EPERM");
	rs.dom = 0x7f00;
	CHECK(pv_evtchn_op(EVTCHNOP_reset, &rs) == -ESRCH, "reset of a domain that does not exist: -ESRCH");
	struct bind_interdomain bi = { (uint16_t)peer, 0, 1, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) == -EINVAL, "binding another domain's port it did not offer: -EINVAL");
	struct port_op po = { 1000 };
	CHECK(pv_evtchn_op(EVTCHNOP_close, &po) == -EINVAL && pv_evtchn_op(EVTCHNOP_send, &po) == -EINVAL, "close/send of a port not ours: -EINVAL");
	struct { uint32_t port, vcpu; } bv = { 1000, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_vcpu, &bv) == -EINVAL, "bind_vcpu of a port not ours: -EINVAL");

	/* Descriptor tables: a GDT frame must hold safe descriptors (checked, DPL fixed up), and may have
	 * no writable mapping. */
	volatile uint64_t *g = (volatile uint64_t *)pages[0];
	for (int i = 0; i < 512; i++) g[i] = 0;
	g[1] = 0x00cf9a000000ffffULL; /* flat 32-bit code, DPL 0 */
	uint64_t gma = ma_of(pages[0]);
	xen_ulong_t frame = (xen_ulong_t)(gma >> 12);
	rc = HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 16, 0);
	CHECK(rc == -EINVAL, "set_gdt of a frame mapped writable: -EINVAL (%ld)", rc);
	CHECK(uva((unsigned long)pages[0], gma | (pte & ~2ULL)) == 0, "the frame mapped read-only");
	CHECK(HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 16, 0) == 0, "set_gdt with a DPL 0 code descriptor: accepted");
#if defined(__x86_64__)
	CHECK(((g[1] >> 45) & 3) == 3, "... its DPL raised to 3 (%llx)", (unsigned long long)g[1]);
#else
	CHECK(((g[1] >> 45) & 3) == 1, "... its DPL raised to 1 (%llx)", (unsigned long long)g[1]);
#endif
	CHECK(HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 0, 0) == 0, "an empty GDT again");
	CHECK(uva((unsigned long)pages[0], gma | pte) == 0, "the frame writable again");
	g[1] = 0x00008b000000ffffULL; /* an available 64-bit TSS / 32-bit TSS */
	CHECK(uva((unsigned long)pages[0], gma | (pte & ~2ULL)) == 0 && HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 16, 0) == -EINVAL,
	      "set_gdt with a TSS descriptor: -EINVAL");
	uva((unsigned long)pages[0], gma | pte);
	g[1] = 0x0000ec00e0080000ULL; /* a call gate to Xen's selector 0xe008 */
	CHECK(uva((unsigned long)pages[0], gma | (pte & ~2ULL)) == 0 && HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 16, 0) == -EINVAL,
	      "set_gdt with a call gate to Xen's code: -EINVAL");
	uva((unsigned long)pages[0], gma | pte);
#if !defined(__x86_64__)
	g[1] = 0x00af9a000000ffffULL; /* 64-bit code (L) */
	CHECK(uva((unsigned long)pages[0], gma | (pte & ~2ULL)) == 0 && HYPERVISOR(__HYPERVISOR_set_gdt, &frame, 16, 0) == -EINVAL,
	      "set_gdt with 64-bit code in a 32-bit guest: -EINVAL");
	uva((unsigned long)pages[0], gma | pte);
#endif

#if defined(__x86_64__)
	/* IRET / SYSRET to a non-canonical address: Xen's IRETQ faults: the failsafe callback. */
	struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { CALLBACKTYPE_failsafe, 0, 0, (uint64_t)nc_failsafe };
	CHECK(HYPERVISOR(__HYPERVISOR_callback_op, CALLBACKOP_register, &cb, 0) == 0, "failsafe callback registered");
	iret_to(0x0000800000000000ULL, 0);
	CHECK(nc_count == 1 && nc_rip == 0x0000800000000000ULL, "iret to a non-canonical RIP: the failsafe callback (%lu, rip %lx)", (unsigned long)nc_count, (unsigned long)nc_rip);
	iret_to(0xfffe000000001000ULL, 256);
	CHECK(nc_count == 2 && nc_rip == 0xfffe000000001000ULL, "the same by the SYSRET path (VGCF_in_syscall)");
#endif

	printf("attack: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
