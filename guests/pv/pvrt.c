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

volatile int pv_fail_count;

extern char pv_vec0[], pv_vec1[], pv_vec3[], pv_vec4[], pv_vec6[], pv_vec7[], pv_vec13[], pv_vec14[], pv_vec128[];
__asm__(".set pv_vec128, pv_vec0x80");

void pv_install_traps(void)
{
#if defined(__x86_64__)
	const uint16_t cs = 0xe033;
#else
	const uint16_t cs = 0xe019;
#endif
	static struct trap_info t[] = {
		{ 0, 0, 0, 0 }, { 1, 0, 0, 0 }, { 3, 3, 0, 0 }, { 4, 3, 0, 0 }, { 6, 0, 0, 0 }, { 7, 0, 0, 0 },
		{ 13, 0, 0, 0 }, { 14, 0, 0, 0 }, { 0x80, 3, 0, 0 }, { 0, 0, 0, 0 },
	};
	char *h[] = { pv_vec0, pv_vec1, pv_vec3, pv_vec4, pv_vec6, pv_vec7, pv_vec13, pv_vec14, pv_vec128 };
	for (int i = 0; i < 9; i++) { t[i].cs = cs; t[i].address = (xen_ulong_t)h[i]; }
	HYPERVISOR(__HYPERVISOR_set_trap_table, t, 0, 0);
}

long pv_map(unsigned long va, uint64_t ma, unsigned flags)
{
#if defined(__x86_64__)
	return HYPERVISOR(__HYPERVISOR_update_va_mapping, va, ma | flags, UVMF_INVLPG);
#else
	uint64_t v = ma | flags;
	return hypercall5(__HYPERVISOR_update_va_mapping, (long)va, (long)(uint32_t)v, (long)(uint32_t)(v >> 32), UVMF_INVLPG, 0);
#endif
}

unsigned long pv_free_va(int i)
{
	return start_info->pt_base + (start_info->nr_pt_frames + 2 + i) * 4096UL;
}

__attribute__((weak)) void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { pv_event(); return; }
	if (pv_try_write_fixup(f)) return;
	printf("unexpected trap %u at %lx error %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

volatile uint8_t *pv_shared_info;
volatile unsigned pv_event_count[1024];
volatile unsigned pv_upcalls;
extern char pv_upcall[];

volatile uint8_t *pv_vcpu_info(void) { return pv_shared_info; }

long pv_evtchn_op(int cmd, void *arg) { return HYPERVISOR(__HYPERVISOR_event_channel_op, cmd, arg, 0); }
long pv_block(void) { return HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0); }

void pv_set_timer(uint64_t t)
{
#if defined(__x86_64__)
	HYPERVISOR(__HYPERVISOR_set_timer_op, t, 0, 0);
#else
	HYPERVISOR(__HYPERVISOR_set_timer_op, (uint32_t)t, (uint32_t)(t >> 32), 0);
#endif
}
void pv_nap(void) { pv_set_timer(pv_system_time() + 1000000); pv_block(); }

int pv_arg(const char *key, int dflt)
{
	const char *s = start_info->cmd_line;
	size_t k = strlen(key);
	for (; *s; s++)
		if ((s == start_info->cmd_line || s[-1] == ' ') && !memcmp(s, key, k) && s[k] == '=') {
			int v = 0;
			for (s += k + 1; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
			return v;
		}
	return dflt;
}
char pv_role(char dflt)
{
	const char *s = start_info->cmd_line;
	for (; *s; s++) if (!memcmp(s, "role=", 5)) return s[5];
	return dflt;
}

char *pv_put_str(char *d, const char *s) { while (*s) *d++ = *s++; *d = 0; return d; }
char *pv_put_num(char *d, unsigned long v)
{
	char t[24]; int n = 0;
	do { t[n++] = '0' + v % 10; v /= 10; } while (v);
	while (n) *d++ = t[--n];
	*d = 0;
	return d;
}
xen_ulong_t pv_grant_table_setup(void)
{
	xen_ulong_t frame = 0;
	struct gnttab_setup_table st = { DOMID_SELF, 0, 1, 0, 0,
#if defined(__x86_64__)
		0,
#endif
		(xen_ulong_t)&frame };
	if (HYPERVISOR(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table, &st, 1) != 0 || st.status != 0) return 0;
	return frame;
}
void pv_grant(volatile struct grant_entry *gt, int ref, uint16_t domid, unsigned long pfn, int ro)
{
	gt[ref].frame = ((xen_ulong_t *)start_info->mfn_list)[pfn];
	gt[ref].domid = domid;
	__atomic_store_n(&gt[ref].flags, GTF_permit_access | (ro ? GTF_readonly : 0), __ATOMIC_SEQ_CST);
}

int pv_to_int(const char *s) { int v = 0; if (*s < '0' || *s > '9') return -1; while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0'); return v; }

void pv_wait_event(unsigned port, unsigned seen)
{
	volatile uint8_t *vi = pv_vcpu_info();
	for (;;) {
		vi[1] = 1; /* evtchn_upcall_mask */
		if (pv_event_count[port] != seen) break;
		pv_block(); /* unmasks; an upcall pending now is delivered on its return */
	}
	vi[1] = 0;
	if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0); /* pending while masked: take it now */
}

void pv_wait_count(unsigned port, unsigned count)
{
	while (pv_event_count[port] < count) pv_wait_event(port, pv_event_count[port]);
}

long pv_send(unsigned port) { struct port_op so = { port }; return pv_evtchn_op(EVTCHNOP_send, &so); }

void pv_events_init(void)
{
	unsigned long va = pv_free_va(0);
	pv_map(va, start_info->shared_info, 3);
	pv_shared_info = (volatile uint8_t *)va;
#if defined(__x86_64__)
	struct { uint16_t type, flags; uint32_t pad; uint64_t address; } cb = { 0, 1, 0, (uint64_t)pv_upcall };
	HYPERVISOR(__HYPERVISOR_callback_op, 0, &cb, 0);
#else
	hypercall5(__HYPERVISOR_set_callbacks, 0xe019, (long)pv_upcall, 0xe019, (long)pv_upcall, 0);
#endif
}

void pv_event(void)
{
	volatile uint8_t *vi = pv_vcpu_info();
	pv_upcalls++;
	vi[0] = 0; /* evtchn_upcall_pending */
#if defined(__x86_64__)
	volatile uint64_t *selp = (volatile uint64_t *)(vi + 8);
	volatile uint64_t *pend = (volatile uint64_t *)(pv_shared_info + PV_SI_PENDING);
	volatile uint64_t *mask = (volatile uint64_t *)(pv_shared_info + PV_SI_MASK);
	uint64_t sel = __atomic_exchange_n(selp, 0, __ATOMIC_SEQ_CST);
	const int wb = 64;
#else
	volatile uint32_t *selp = (volatile uint32_t *)(vi + 4);
	volatile uint32_t *pend = (volatile uint32_t *)(pv_shared_info + PV_SI_PENDING);
	volatile uint32_t *mask = (volatile uint32_t *)(pv_shared_info + PV_SI_MASK);
	uint32_t sel = __atomic_exchange_n(selp, 0, __ATOMIC_SEQ_CST);
	const int wb = 32;
#endif
	while (sel) {
		int w = __builtin_ctzl(sel);
		sel &= sel - 1;
		xen_ulong_t bits = pend[w] & ~mask[w];
		while (bits) {
			int b = __builtin_ctzl(bits);
			bits &= bits - 1;
			__atomic_fetch_and(&pend[w], ~((xen_ulong_t)1 << b), __ATOMIC_SEQ_CST);
			unsigned port = w * wb + b;
			if (port < 1024) pv_event_count[port]++;
		}
	}
}

uint64_t pv_system_time(void)
{
#if defined(__x86_64__)
	volatile uint8_t *t = pv_vcpu_info() + 32;
#else
	volatile uint8_t *t = pv_vcpu_info() + 16;
#endif
	uint32_t ver;
	uint64_t ts, st, tsc;
	uint32_t mul;
	int8_t shift;
	do {
		ver = *(volatile uint32_t *)t;
		__asm__ volatile("" ::: "memory");
		ts = *(volatile uint64_t *)(t + 8);
		st = *(volatile uint64_t *)(t + 16);
		mul = *(volatile uint32_t *)(t + 24);
		shift = *(volatile int8_t *)(t + 28);
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		tsc = ((uint64_t)hi << 32) | lo;
		__asm__ volatile("" ::: "memory");
	} while ((ver & 1) || ver != *(volatile uint32_t *)t);
	uint64_t d = tsc - ts;
	if (shift >= 0) d <<= shift; else d >>= -shift;
	/* (d * mul) >> 32 without 128-bit arithmetic */
	uint64_t lo = (d & 0xffffffffULL) * mul, hi = (d >> 32) * mul;
	return st + (hi + (lo >> 32));
}

extern char pv_tw_insn[], pv_tw_resume[];
int pv_try_write_fixup(struct pv_frame *f)
{
	if (f->rip != (unsigned long)pv_tw_insn) return 0;
	f->rip = (unsigned long)pv_tw_resume;
	f->rax = 1;
	return 1;
}
