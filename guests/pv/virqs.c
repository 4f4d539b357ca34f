/* VIRQs beyond the timer: VIRQ_DEBUG (per vCPU, sent by the 'q' debug key), VIRQ_DOM_EXC and
 * VIRQ_CONSOLE (global: only their handler domain may bind them, on vCPU 0), and CONSOLEIO_read.
 *
 * "role=handler": binds VIRQ_DEBUG, then VIRQ_DOM_EXC and VIRQ_CONSOLE as soon as the toolstack has made
 * it their handler (it retries while the binding answers -EBUSY), checks Xen's binding rules, prints
 * "virqs: ready", then prints each VIRQ as it arrives (reading the console's input on VIRQ_CONSOLE) and
 * powers off with its verdict once it has seen all three.
 * "role=plain": checks that it may not bind the global VIRQs nor read the console, then crashes on
 * purpose (the handler is told by VIRQ_DOM_EXC). */
#include "pv.h"

#define VIRQ_DEBUG 1
#define VIRQ_CONSOLE 2
#define VIRQ_DOM_EXC 3
#define VIRQ_TBUF 4
#define NR_VIRQS 24
#define EVTCHNOP_bind_vcpu 8
#define CONSOLEIO_read 1
#define ENOENT 2
#define E2BIG 7
#define EEXIST 17

struct bind_vcpu { uint32_t port, vcpu; };
struct status { uint16_t dom; uint16_t pad; uint32_t port, status, vcpu, a, b; };

static long bind(uint32_t virq, uint32_t vcpu, uint32_t *port)
{
	struct bind_virq b = { virq, vcpu, 0 };
	long rc = pv_evtchn_op(EVTCHNOP_bind_virq, &b);
	if (port) *port = b.port;
	return rc;
}

static long console_read(char *buf, unsigned long n)
{
	return HYPERVISOR(__HYPERVISOR_console_io, CONSOLEIO_read, n, buf);
}

static void timer_in(uint64_t ns) { pv_set_timer(pv_system_time() + ns); }

static int plain(void)
{
	uint32_t p;
	CHECK(bind(VIRQ_DOM_EXC, 0, &p) == -EBUSY, "a domain that does not handle VIRQ_DOM_EXC may not bind it (-EBUSY)");
	CHECK(bind(VIRQ_CONSOLE, 0, &p) == -EBUSY, "nor VIRQ_CONSOLE (-EBUSY)");
	char c;
	CHECK(console_read(&c, 1) == -EPERM, "nor read the hypervisor console (-EPERM)");
	CHECK(bind(VIRQ_DEBUG, 0, &p) == 0, "VIRQ_DEBUG is anyone's (port %u)", p);
	printf("virqs: plain %s, crashing on purpose\n", pv_fail_count ? "FAILED" : "PASSED");
	pv_shutdown(SHUTDOWN_crash);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	pv_events_enable();
	struct { uint32_t virq, vcpu, port; } tb = { 0 /* VIRQ_TIMER: our timers wake us from SCHEDOP_block */, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_virq, &tb) == 0, "bind VIRQ_TIMER -> port %u", tb.port);
	if (pv_role(0) == 'p') return plain();

	uint32_t dbg, p;
	CHECK(bind(VIRQ_DEBUG, 0, &dbg) == 0, "bind VIRQ_DEBUG -> port %u", dbg);
	CHECK(bind(VIRQ_DEBUG, 0, &p) == -EEXIST, "binding it twice -> -EEXIST");
	CHECK(bind(NR_VIRQS, 0, &p) == -EINVAL, "VIRQ out of range -> -EINVAL");
	CHECK(bind(VIRQ_DEBUG, 1, &p) == -ENOENT, "VIRQ_DEBUG on a vCPU that does not exist -> -ENOENT");
	CHECK(bind(VIRQ_DOM_EXC, 1, &p) == -EINVAL, "a global VIRQ on vCPU 1 -> -EINVAL");
	CHECK(bind(VIRQ_CONSOLE, 5, &p) == -EINVAL, "VIRQ_CONSOLE on vCPU 5 -> -EINVAL");
	struct bind_vcpu bvc = { dbg, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_vcpu, &bvc) == -EINVAL, "a per-vCPU VIRQ's port cannot move (bind_vcpu -> -EINVAL)");

	/* The global ones: bound once the toolstack has made us their handler. */
	uint32_t exc = 0, con = 0;
	long rc1 = -1, rc2 = -1;
	int tries = 0;
	for (; tries < 2000; tries++) {
		if (rc1 != 0) rc1 = bind(VIRQ_DOM_EXC, 0, &exc);
		if (rc2 != 0) rc2 = bind(VIRQ_CONSOLE, 0, &con);
		if (rc1 == 0 && rc2 == 0) break;
		if ((rc1 != 0 && rc1 != -EBUSY) || (rc2 != 0 && rc2 != -EBUSY)) break;
		timer_in(5000000);
		pv_block();
	}
	CHECK(rc1 == 0, "bind VIRQ_DOM_EXC once we handle it -> port %u (rc %ld, %d tries)", exc, rc1, tries);
	CHECK(rc2 == 0, "bind VIRQ_CONSOLE once we handle it -> port %u (rc %ld)", con, rc2);
	CHECK(bind(VIRQ_DOM_EXC, 0, &p) == -EEXIST, "binding VIRQ_DOM_EXC twice -> -EEXIST");
	CHECK(bind(VIRQ_TBUF, 0, &p) == -EBUSY, "a global VIRQ we do not handle (VIRQ_TBUF) -> -EBUSY");
	struct status st = { DOMID_SELF, 0, exc, 0, 0, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_status, &st) == 0 && st.status == 4 && st.a == VIRQ_DOM_EXC && st.vcpu == 0,
	      "status: virq %u on vCPU %u", st.a, st.vcpu);
	bvc.port = exc;
	CHECK(pv_evtchn_op(EVTCHNOP_bind_vcpu, &bvc) == 0, "a global VIRQ's port may be bound to a vCPU (bind_vcpu -> 0)");
	/* Closing and binding again gives a working port. */
	struct port_op cl = { con };
	CHECK(pv_evtchn_op(EVTCHNOP_close, &cl) == 0 && bind(VIRQ_CONSOLE, 0, &con) == 0, "closed and bound again -> port %u", con);
	char buf[200];
	CHECK(console_read(buf, sizeof(buf)) == 0, "CONSOLEIO_read with no input -> 0");
#if defined(__x86_64__)
	CHECK(console_read(buf, 0x80000000UL) == -E2BIG, "CONSOLEIO_read of more than INT_MAX -> -E2BIG");
#endif
	pv_console_flush();
	printf("virqs: ready\n");

	unsigned seen_dbg = 0, seen_exc = 0, seen_con = 0;
	int got_line = 0, nread = 0;
	for (int i = 0; i < 4000 && !(seen_dbg && seen_exc && got_line); i++) {
		timer_in(5000000);
		pv_block();
		if (pv_event_count[dbg] != seen_dbg) {
			seen_dbg = pv_event_count[dbg];
			printf("VIRQ_DEBUG arrived (%u)\n", seen_dbg);
		}
		if (pv_event_count[exc] != seen_exc) {
			seen_exc = pv_event_count[exc];
			printf("VIRQ_DOM_EXC arrived (%u)\n", seen_exc);
		}
		if (pv_event_count[con] != seen_con) {
			seen_con = pv_event_count[con];
			long n;
			while ((n = console_read(buf + nread, sizeof(buf) - 1 - nread)) > 0) nread += n;
			buf[nread] = 0;
			printf("VIRQ_CONSOLE arrived (%u): read \"%s\"\n", seen_con, buf);
			for (int k = 0; k < nread; k++) if (buf[k] == '\n') got_line = 1;
			CHECK(console_read((char *)0x10, 1) == 0, "the ring is empty again");
		}
	}
	CHECK(seen_dbg > 0, "VIRQ_DEBUG delivered");
	CHECK(seen_exc > 0, "VIRQ_DOM_EXC delivered");
	CHECK(got_line, "VIRQ_CONSOLE delivered and the input read");
	printf("virqs: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
