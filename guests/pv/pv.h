/* A small Xen PV runtime for our own test guests, 64-bit (kernel in ring 3, hypercalls by SYSCALL)
 * and 32-bit PAE (kernel in ring 1, hypercalls by INT $0x82). Constants and layouts from Xen's public
 * headers (see docs/PV-ABI.md). */
#ifndef PV_H
#define PV_H
#include <stdint.h>
#include <stddef.h>
#include "rt.h"

#define __HYPERVISOR_set_trap_table 0
#define __HYPERVISOR_mmu_update 1
#define __HYPERVISOR_set_gdt 2
#define __HYPERVISOR_stack_switch 3
#define __HYPERVISOR_set_callbacks 4
#define __HYPERVISOR_fpu_taskswitch 5
#define __HYPERVISOR_update_descriptor 10
#define __HYPERVISOR_memory_op 12
#define __HYPERVISOR_multicall 13
#define __HYPERVISOR_update_va_mapping 14
#define __HYPERVISOR_set_timer_op 15
#define __HYPERVISOR_xen_version 17
#define __HYPERVISOR_console_io 18
#define __HYPERVISOR_grant_table_op 20
#define __HYPERVISOR_vm_assist 21
#define __HYPERVISOR_iret 23
#define __HYPERVISOR_vcpu_op 24
#define __HYPERVISOR_set_segment_base 25
#define __HYPERVISOR_mmuext_op 26
#define __HYPERVISOR_sched_op 29
#define __HYPERVISOR_callback_op 30
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_physdev_op 33

#define CONSOLEIO_write 0
#define SCHEDOP_yield 0
#define SCHEDOP_block 1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll 3
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot 1
#define SHUTDOWN_suspend 2
#define SHUTDOWN_crash 3
#define XENVER_version 0
#define XENVER_get_features 6
#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_status 5
#define EVTCHNOP_close 3
#define EVTCHNOP_send 4
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_unmask 9
#define VIRQ_TIMER 0
#define MMU_NORMAL_PT_UPDATE 0
#define MMU_MACHPHYS_UPDATE 1
#define MMUEXT_PIN_L1_TABLE 0
#define MMUEXT_PIN_L2_TABLE 1
#define MMUEXT_PIN_L3_TABLE 2
#define MMUEXT_PIN_L4_TABLE 3
#define MMUEXT_UNPIN_TABLE 4
#define MMUEXT_NEW_BASEPTR 5
#define MMUEXT_TLB_FLUSH_LOCAL 6
#define UVMF_INVLPG 2
#define VCPUOP_set_singleshot_timer 8
#define DOMID_SELF 0x7ff0

#define EPERM 1
#define ESRCH 3
#define EFAULT 14
#define EBUSY 16
#define EINVAL 22
#define ENOSYS 38

#if defined(__x86_64__)
typedef uint64_t xen_ulong_t;
#define PV_VCPU_INFO_SIZE 64
#define PV_SI_PENDING 2048
#define PV_SI_MASK 2560
static inline long hypercall5(long nr, long a1, long a2, long a3, long a4, long a5)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
			 : "0"(nr)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
typedef uint32_t xen_ulong_t;
#define PV_VCPU_INFO_SIZE 48
#define PV_SI_PENDING 1536
#define PV_SI_MASK 1664
static inline long hypercall5(long nr, long a1, long a2, long a3, long a4, long a5)
{
	long ret;
	__asm__ volatile("int $0x82"
			 : "=a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5)
			 : "0"(nr)
			 : "memory");
	return ret;
}
#endif
#define HYPERVISOR(nr, a1, a2, a3) hypercall5(nr, (long)(a1), (long)(a2), (long)(a3), 0, 0)

struct start_info {
	char magic[32];
	xen_ulong_t nr_pages;
	xen_ulong_t shared_info;
	uint32_t flags;
	xen_ulong_t store_mfn;
	uint32_t store_evtchn;
	xen_ulong_t console_mfn;
	uint32_t console_evtchn;
	xen_ulong_t pt_base;
	xen_ulong_t nr_pt_frames;
	xen_ulong_t mfn_list;
	xen_ulong_t mod_start;
	xen_ulong_t mod_len;
	char cmd_line[1024];
};

struct trap_info {
	uint8_t vector;
	uint8_t flags;
	uint16_t cs;
	xen_ulong_t address;
};

struct mmu_update { uint64_t ptr, val; };
/* event_channel_op arguments (event_channel.h) */
struct bind_virq { uint32_t virq, vcpu, port; };
struct alloc_unbound { uint16_t dom, remote_dom; uint32_t port; };
struct bind_interdomain { uint16_t remote_dom; uint16_t pad; uint32_t remote_port, local_port; };
struct port_op { uint32_t port; };
/* grant tables (grant_table.h, v1 entries) */
struct gnttab_setup_table {
	uint16_t dom; uint16_t pad; uint32_t nr_frames; int16_t status; uint16_t pad2;
#if defined(__x86_64__)
	uint32_t pad3;
#endif
	xen_ulong_t frame_list;
};
struct grant_entry { uint16_t flags, domid; uint32_t frame; };
#define GNTTABOP_setup_table 2
#define GTF_permit_access 1
#define GTF_readonly 4
/* GNTTABOP_setup_table for one frame: its machine frame number, or 0 when refused. */
xen_ulong_t pv_grant_table_setup(void);
/* Grant `domid` access to our page `pfn` through entry `ref` (read-only if `ro`); flags written last. */
void pv_grant(volatile struct grant_entry *gt, int ref, uint16_t domid, unsigned long pfn, int ro);
struct mmuext_op { uint32_t cmd; xen_ulong_t arg1; xen_ulong_t arg2; };

extern struct start_info *start_info;
void pv_console_flush(void);
void pv_shutdown(unsigned reason) __attribute__((noreturn));
/* Each test guest defines this; it returns the exit status (0 = poweroff, else crash). */
int pv_main(void);
#endif

/* The frame pv_trap() gets (trap64.S / trap32.S). */
#if defined(__x86_64__)
struct pv_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
#else
struct pv_frame {
	uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, rax;
#define rdi edi
	uint32_t vector, error, rip, cs, rflags;
};
#endif
void pv_trap(struct pv_frame *f);
/* Install pv_vec* for vectors 0 1 3 4 6 7 13 14 0x80 (0x80 callable from any ring). */
void pv_install_traps(void);
extern volatile int pv_fail_count;
#define CHECK(cond, ...) do { if (cond) printf("ok: " __VA_ARGS__); else { pv_fail_count++; printf("FAIL: " __VA_ARGS__); } printf("\n"); } while (0)
/* Map the machine frame `ma` at `va` (which must already have an L1) with flags. */
long pv_map(unsigned long va, uint64_t ma, unsigned flags);
/* The first VA free for pv_map: two pages after the boot stack (still inside the mapped region). */
unsigned long pv_free_va(int i);

/* Events: map shared_info, register the upcall, and count deliveries per port. */
extern volatile uint8_t *pv_shared_info;
extern volatile unsigned pv_event_count[1024];
extern volatile unsigned pv_upcalls;
void pv_events_init(void);                 /* maps shared_info at pv_free_va(0), registers pv_upcall */
void pv_event(void);                       /* called for vector 0xff: scans and clears pending ports */
volatile uint8_t *pv_vcpu_info(void);
static inline void pv_events_enable(void) { pv_vcpu_info()[1] = 0; }
static inline void pv_events_disable(void) { pv_vcpu_info()[1] = 1; }
uint64_t pv_system_time(void);             /* ns, from vcpu_time_info and RDTSC */
long pv_evtchn_op(int cmd, void *arg);
long pv_block(void);
/* The single-shot timer at system time `t` (ns); pv_nap: sleep until an event or about 1 ms passes. */
void pv_set_timer(uint64_t t);
void pv_nap(void);
/* The command line: the number after " KEY=" (or at its start), else `dflt`; the letter after "role=". */
int pv_arg(const char *key, int dflt);
char pv_role(char dflt);
/* Building xenstore paths and values: append `s` / the decimal `v` at `d` (NUL-terminated; returns the
 * end); pv_to_int: a decimal at `s`, or -1 if it does not start with a digit. */
char *pv_put_str(char *d, const char *s);
char *pv_put_num(char *d, unsigned long v);
int pv_to_int(const char *s);
/* Sleep until pv_event_count[port] differs from `seen`, with no lost wake-up: events are masked while
 * the count is checked, and SCHEDOP_block unmasks them and sleeps only if nothing is pending. */
void pv_wait_event(unsigned port, unsigned seen);
/* Sleep (pv_wait_event) until `count` events in all have arrived on `port`. */
void pv_wait_count(unsigned port, unsigned count);
/* EVTCHNOP_send on `port`: 0 or -errno. */
long pv_send(unsigned port);
long pv_try_write(unsigned long addr, unsigned long val);
/* In a pv_trap handler: true (and the fault is handled) when it was pv_try_write's store. */
int pv_try_write_fixup(struct pv_frame *f);

/* A minimal xenstore client (xs.c): the ring at start_info->store_mfn mapped at `va`, requests one at
 * a time. Paths without a leading '/' are relative to /local/domain/<domid>. xs_read returns the
 * value's length (buf NUL-terminated, truncated to len-1) or -1; xs_write returns 0 or -1;
 * xs_last_error() names the error ("ENOENT", "EACCES", ...). Call pv_events_init() first to wait by
 * blocking rather than yielding. */
int xs_init(unsigned long va);
int xs_read(const char *path, char *buf, int len);
int xs_write(const char *path, const char *value);
const char *xs_last_error(void);
/* XS_WATCH: xenstored sends a watch event for `path` (now and at each change) as a message on the ring,
 * with the store event channel notified; the next request skips it. xs_pending: a message is unread. */
int xs_watch(const char *path, const char *token);
int xs_pending(void);
/* The same for the node `key` under the directory `dir` (paths up to 160 bytes), a number as decimal. */
int xs_read_at(const char *dir, const char *key, char *buf, int len);
int xs_write_at(const char *dir, const char *key, const char *value);
int xs_write_num_at(const char *dir, const char *key, unsigned long v);
/* Xenbus: the device state under `dir` (-1 if unreadable); waiting for `want`, napping (pv_nap) at most
 * `naps` times: returns the last state read. */
int xs_state(const char *dir);
int xs_wait_state(const char *dir, int want, int naps);
