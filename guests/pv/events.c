/* Event channels and time: VIRQ_TIMER from set_timer_op and from a periodic timer while blocked,
 * upcalls through the registered callback, loopback interdomain channels, IPIs, masking, polling,
 * closing, and system time from vcpu_time_info. Prints "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"

struct bind_ipi { uint32_t vcpu, port; };
struct status { uint16_t dom; uint16_t pad; uint32_t port, status, vcpu, a, b; };

static void set_mask(unsigned port, int on)
{
	volatile xen_ulong_t *mask = (volatile xen_ulong_t *)(pv_shared_info + PV_SI_MASK);
	const unsigned wb = sizeof(xen_ulong_t) * 8;
	if (on) __atomic_fetch_or(&mask[port / wb], (xen_ulong_t)1 << (port % wb), __ATOMIC_SEQ_CST);
	else __atomic_fetch_and(&mask[port / wb], ~((xen_ulong_t)1 << (port % wb)), __ATOMIC_SEQ_CST);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();

	uint64_t t0 = pv_system_time(), t1 = pv_system_time();
	CHECK(t0 > 0 && t1 >= t0, "system time runs (%lu ns)", (unsigned long)t0);

	struct bind_virq bv = { VIRQ_TIMER, 0, 0 };
	long rc = pv_evtchn_op(EVTCHNOP_bind_virq, &bv);
	CHECK(rc == 0 && bv.port > 0, "bind VIRQ_TIMER -> port %u", bv.port);
	struct bind_virq bv2 = { VIRQ_TIMER, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_virq, &bv2) < 0, "binding VIRQ_TIMER twice is refused");
	pv_events_enable();

	/* One-shot timer 2 ms ahead, then block until it fires. */
	uint64_t start = pv_system_time();
#if defined(__x86_64__)
	HYPERVISOR(__HYPERVISOR_set_timer_op, start + 2000000, 0, 0);
#else
	uint64_t dl = start + 2000000;
	HYPERVISOR(__HYPERVISOR_set_timer_op, (uint32_t)dl, (uint32_t)(dl >> 32), 0);
#endif
	int spins = 0;
	while (pv_event_count[bv.port] == 0 && spins++ < 100) pv_block();
	uint64_t waited = pv_system_time() - start;
	CHECK(pv_event_count[bv.port] == 1, "the timer fired once while blocked (%u)", pv_event_count[bv.port]);
	CHECK(waited >= 2000000, "and not early (%lu us)", (unsigned long)(waited / 1000));

	/* Periodic timer: three ticks. */
	struct { uint64_t period; } per = { 1000000 };
	rc = HYPERVISOR(__HYPERVISOR_vcpu_op, 6 /* set_periodic_timer */, 0, &per);
	CHECK(rc == 0, "periodic timer set (rc %ld)", rc);
	unsigned base = pv_event_count[bv.port];
	spins = 0;
	while (pv_event_count[bv.port] < base + 3 && spins++ < 1000) pv_block();
	CHECK(pv_event_count[bv.port] >= base + 3, "periodic ticks arrive (%u)", pv_event_count[bv.port] - base);
	HYPERVISOR(__HYPERVISOR_vcpu_op, 7 /* stop_periodic_timer */, 0, 0);

	/* A loopback interdomain channel. */
	struct alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	rc = pv_evtchn_op(EVTCHNOP_alloc_unbound, &au);
	CHECK(rc == 0, "alloc_unbound -> port %u", au.port);
	struct bind_interdomain bi = { DOMID_SELF, 0, au.port, 0 };
	rc = pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi);
	CHECK(rc == 0 && bi.local_port != au.port, "bind_interdomain -> port %u", bi.local_port);
	unsigned ca = pv_event_count[au.port];
	struct port_op so = { bi.local_port };
	CHECK(pv_evtchn_op(EVTCHNOP_send, &so) == 0, "send");
	CHECK(pv_event_count[au.port] == ca + 1, "the other end got the event through an upcall");
	struct status st = { DOMID_SELF, 0, au.port, 0, 0, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_status, &st) == 0 && st.status == 2 && st.b == bi.local_port, "status: interdomain, connected to %u", st.b);

	/* Masked: the event stays pending; EVTCHNOP_unmask delivers it. */
	set_mask(au.port, 1);
	ca = pv_event_count[au.port];
	pv_evtchn_op(EVTCHNOP_send, &so);
	CHECK(pv_event_count[au.port] == ca, "a masked port gets no upcall");
	struct port_op um = { au.port };
	pv_evtchn_op(EVTCHNOP_unmask, &um);
	CHECK(pv_event_count[au.port] == ca + 1, "unmask delivers the pending event");

	/* IPI to ourselves. */
	struct bind_ipi ipi = { 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_bind_ipi, &ipi) == 0, "bind_ipi -> port %u", ipi.port);
	struct port_op is = { ipi.port };
	pv_evtchn_op(EVTCHNOP_send, &is);
	CHECK(pv_event_count[ipi.port] == 1, "IPI delivered");

	/* Upcalls disabled: nothing is delivered until they are enabled again. */
	pv_events_disable();
	pv_evtchn_op(EVTCHNOP_send, &is);
	CHECK(pv_event_count[ipi.port] == 1, "no upcall while evtchn_upcall_mask is set");
	pv_events_enable();
	HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0); /* any hypercall returns through the upcall check */
	CHECK(pv_event_count[ipi.port] == 2, "delivered once the mask is cleared");

	/* SCHEDOP_poll with a timeout on a port that stays quiet. */
	struct { xen_ulong_t ports; uint32_t nr; uint32_t pad; uint64_t timeout; } __attribute__((packed)) dummy;
	(void)dummy;
	uint32_t pport = au.port;
	/* (the timeout is p0 + 1 ms: a host that deschedules this vCPU between two clock reads cannot make the
	 * poll look early) */
	uint64_t p0 = pv_system_time();
#if defined(__x86_64__)
	struct { uint64_t ports; uint32_t nr; uint32_t pad; uint64_t timeout; } poll = { (uint64_t)&pport, 1, 0, p0 + 1000000 };
#else
	struct { uint32_t ports; uint32_t nr; uint64_t timeout; } __attribute__((packed)) poll = { (uint32_t)&pport, 1, p0 + 1000000 };
#endif
	rc = HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_poll, &poll, 0);
	CHECK(rc == 0 && pv_system_time() - p0 >= 1000000, "poll with a timeout returns after it (%lu us)", (unsigned long)((pv_system_time() - p0) / 1000));

	/* Close; sending on a closed port is refused. */
	struct port_op cl = { bi.local_port };
	CHECK(pv_evtchn_op(EVTCHNOP_close, &cl) == 0, "close");
	CHECK(pv_evtchn_op(EVTCHNOP_send, &so) == -EINVAL, "send on a closed port -> -EINVAL");
	struct port_op bad = { 5000 };
	CHECK(pv_evtchn_op(EVTCHNOP_send, &bad) == -EINVAL, "send on a port out of range -> -EINVAL");
	CHECK(pv_evtchn_op(EVTCHNOP_send, (void *)0x10) == -EFAULT, "bad argument pointer -> -EFAULT");

	/* The runstate area: registered, then kept up to date by the hypervisor. */
#if defined(__x86_64__)
	static struct { uint32_t state; uint32_t pad; uint64_t entry; uint64_t time[4]; } rs;
#else
	static struct { uint32_t state; uint64_t entry; uint64_t time[4]; } __attribute__((packed)) rs;
#endif
	xen_ulong_t rsva = (xen_ulong_t)&rs;
	CHECK(HYPERVISOR(__HYPERVISOR_vcpu_op, 5, 0, &rsva) == 0, "runstate area registered");
	CHECK(rs.state == 0 && rs.entry > 0, "it says running (state %u)", rs.state);
	{
		uint64_t dl = pv_system_time() + 1000000; /* blocked for a while, woken by a one-shot timer */
#if defined(__x86_64__)
		HYPERVISOR(__HYPERVISOR_set_timer_op, dl, 0, 0);
#else
		HYPERVISOR(__HYPERVISOR_set_timer_op, (uint32_t)dl, (uint32_t)(dl >> 32), 0);
#endif
		unsigned before = pv_event_count[bv.port];
		for (int k = 0; k < 100 && pv_event_count[bv.port] == before; k++) pv_block();
	}
	CHECK(rs.time[2] > 0, "blocked time accounted (%lu us)", (unsigned long)(rs.time[2] / 1000));
	CHECK(rs.time[0] > 0, "running time accounted (%lu us)", (unsigned long)(rs.time[0] / 1000));
	typeof(rs) info;
	CHECK(HYPERVISOR(__HYPERVISOR_vcpu_op, 4, 0, &info) == 0 && info.state == 0 && info.time[0] >= rs.time[0], "get_runstate_info");

	printf("events: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
