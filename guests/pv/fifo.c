/* FIFO event channels (event_channel.h, Xen's event_fifo.c rules), consumed the way Linux's
 * events_fifo.c does: EVTCHNOP_init_control, expand_array and set_priority with their refusals (before
 * FIFO, bad vCPU, offset, gfn, twice, a priority above 15); an event pending under the 2-level ABI
 * carried into FIFO; priorities (the highest, 0, delivered first); FIFO order and no loss in a burst
 * of 200 ports; events raised while the queue is being consumed (linked behind the tail); masking;
 * a flood (as flood.c's under 2-level: 32 ports at four priorities sent `flood=N` times unmasked, each
 * delivered once at once; masked bursts coalesced into one delivery per port and burst, in priority
 * order and within a priority in the order first sent, none lost; half the ports masked waiting while
 * the others are served, each delivered once when unmasked); EVTCHNOP_reset back to 2-level, and
 * FIFO again. Prints "ok:"/"FAIL:" lines and "fifo: PASSED". */
#include "pv.h"
#include "pt.h"

#define EVTCHNOP_reset 10
#define EVTCHNOP_init_control 11
#define EVTCHNOP_expand_array 12
#define EVTCHNOP_set_priority 13
#define EOPNOTSUPP 95
#define ENOSPC 28
#define ENOENT 2
#define PENDING (1u << 31)
#define MASKED (1u << 30)
#define LINKED (1u << 29)
#define BUSY (1u << 28)
#define LINK_MASK ((1u << 17) - 1)

struct init_control { uint64_t control_gfn; uint32_t offset, vcpu; uint8_t link_bits, pad[7]; };
struct expand_array { uint64_t array_gfn; };
struct set_priority { uint32_t port, priority; };

static volatile uint32_t *cb_ready, *cb_head, *words;
static uint32_t qhead[16];
static int fifo;
static unsigned order[600];
static volatile unsigned norder;
static unsigned chain[100];
static volatile unsigned chain_seen;
/* The flood's counts per port: sent (prod), delivered, and the count seen at the last delivery. */
static volatile unsigned fprod[1024], fseen[1024], fdeliv[1024];

static long evop(int cmd, void *arg) { return pv_evtchn_op(cmd, arg); }
static unsigned bind_ipi(void)
{
	struct { uint32_t vcpu, port; } b = { 0, 0 };
	return evop(EVTCHNOP_bind_ipi, &b) == 0 ? b.port : 0;
}
static void send(unsigned port) { struct port_op s = { port }; evop(EVTCHNOP_send, &s); }
static long set_prio(unsigned port, unsigned prio) { struct set_priority sp = { port, prio }; return evop(EVTCHNOP_set_priority, &sp); }
/* As Linux's evtchn_fifo_unmask: clear MASKED ourselves, and ask Xen when the event is pending. */
static void unmask(unsigned port)
{
	__atomic_fetch_and(&words[port], ~MASKED, __ATOMIC_SEQ_CST);
	if (words[port] & PENDING) { struct port_op u = { port }; evop(EVTCHNOP_unmask, &u); }
}

static void handle(unsigned port)
{
	if (norder < 600) order[norder++] = port;
	if (port < 1024) { fdeliv[port]++; fseen[port] = fprod[port]; }
	for (int i = 0; i < 99; i++)
		if (port == chain[i]) { chain_seen++; send(chain[i + 1]); return; }
	if (port == chain[99]) chain_seen++;
}

/* One pass over the ready queues, as Linux's evtchn_fifo_handle_events / consume_one_event. */
static void fifo_consume(void)
{
	pv_vcpu_info()[0] = 0; /* evtchn_upcall_pending */
	uint32_t ready = __atomic_exchange_n(cb_ready, 0, __ATOMIC_SEQ_CST);
	while (ready) {
		int q = __builtin_ctz(ready);
		uint32_t port = qhead[q];
		if (port == 0) port = cb_head[q];
		if (port == 0) { ready &= ~(1u << q); continue; }
		uint32_t w = words[port], nw;
		do { nw = w & ~(LINKED | LINK_MASK); } while (!__atomic_compare_exchange_n(&words[port], &w, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
		uint32_t next = w & LINK_MASK;
		if (next == 0) ready &= ~(1u << q);
		if ((w & PENDING) && !(w & MASKED)) {
			__atomic_fetch_and(&words[port], ~PENDING, __ATOMIC_SEQ_CST);
			handle(port);
		}
		qhead[q] = next;
		ready |= __atomic_exchange_n(cb_ready, 0, __ATOMIC_SEQ_CST);
	}
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { if (fifo) fifo_consume(); else pv_event(); return; }
	printf("unexpected trap %u at %lx\n", (unsigned)f->vector, (unsigned long)f->rip);
	pv_shutdown(SHUTDOWN_crash);
}

/* Let pending upcalls in: unmask, and take one that is pending at once. */
static void events_on(void)
{
	volatile uint8_t *vi = pv_vcpu_info();
	vi[1] = 0;
	if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
}
/* The recorded ports that are in `set` (n of them), in order: do they equal `want`? */
static int order_is(const unsigned *want, int n)
{
	int k = 0;
	for (unsigned i = 0; i < norder; i++) {
		int in = 0;
		for (int j = 0; j < n; j++) if (order[i] == want[j]) in = 1;
		if (!in) continue;
		if (k >= n || order[i] != want[k]) return 0;
		k++;
	}
	return k == n;
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	xen_ulong_t *p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	volatile uint8_t *vi = pv_vcpu_info();

	/* Under the 2-level ABI. */
	struct expand_array ea = { p2m[n - 2] };
	CHECK(evop(EVTCHNOP_expand_array, &ea) == -EOPNOTSUPP, "expand_array before init_control -> -EOPNOTSUPP");
	unsigned pa = bind_ipi();
	CHECK(pa > 0 && set_prio(pa, 0) == -ENOSYS, "set_priority under the 2-level ABI -> -ENOSYS");
	vi[1] = 1;
	send(pa); /* pending (2-level) when the ABI changes */

	/* init_control: what is refused. */
	uint8_t *cbpage = (uint8_t *)pv_free_va(1);
	pv_map((unsigned long)cbpage, (uint64_t)p2m[n - 1] << 12, 3);
	memset(cbpage, 0, 4096);
	struct init_control ic = { p2m[n - 1], 64, 1, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -ENOENT, "init_control for a vCPU we do not have -> -ENOENT");
	ic = (struct init_control){ p2m[n - 1], 4096 - 64, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "a control block crossing the page (offset 4032) -> -EINVAL");
	ic = (struct init_control){ p2m[n - 1], 12, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "an offset not 8-byte aligned -> -EINVAL");
	ic = (struct init_control){ 0xfffffffffULL, 64, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "a gfn beyond memory -> -EINVAL");
	ic = (struct init_control){ 0, 64, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "a frame that is not ours -> -EINVAL");
	ic = (struct init_control){ p2m[(start_info->pt_base - VIRT_BASE) >> 12], 64, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "our top-level page table -> -EINVAL (not writable)");
	CHECK(evop(EVTCHNOP_expand_array, &ea) == -EOPNOTSUPP, "still 2-level after the refusals");

	/* init_control, then the event array. */
	ic = (struct init_control){ p2m[n - 1], 64, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == 0 && ic.link_bits == 17, "init_control -> 0, link_bits %u", ic.link_bits);
	fifo = 1;
	cb_ready = (volatile uint32_t *)(cbpage + 64);
	cb_head = cb_ready + 2;
	ic = (struct init_control){ p2m[n - 1], 128, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == -EINVAL, "init_control twice for one vCPU -> -EINVAL");
	CHECK(set_prio(5000, 0) == -EINVAL, "set_priority of a port out of range -> -EINVAL");
	CHECK(set_prio(pa, 16) == -EINVAL, "set_priority 16 -> -EINVAL");
	words = (volatile uint32_t *)pv_free_va(2);
	pv_map((unsigned long)words, (uint64_t)p2m[n - 2] << 12, 3);
	for (int i = 0; i < 1024; i++) words[i] = MASKED; /* as Linux: every event masked to begin with */
	ea = (struct expand_array){ 0 };
	CHECK(evop(EVTCHNOP_expand_array, &ea) == -EINVAL, "expand_array with a frame that is not ours -> -EINVAL");
	ea = (struct expand_array){ p2m[n - 2] };
	CHECK(evop(EVTCHNOP_expand_array, &ea) == 0, "expand_array -> 0");
	CHECK(words[pa] == (PENDING | MASKED), "the 2-level pending event is pending in its word (%x)", words[pa]);
	ea = (struct expand_array){ p2m[n - 3] };
	CHECK(evop(EVTCHNOP_expand_array, &ea) == -ENOSPC, "a second page (every port fits one) -> -ENOSPC");
	unmask(pa);
	events_on();
	CHECK(norder == 1 && order[0] == pa, "the carried event delivered through the FIFO queue (%u events)", norder);

	/* Priorities: 0 is the highest. */
	unsigned p1 = bind_ipi(), p2 = bind_ipi(), p3 = bind_ipi();
	unmask(p1); unmask(p2); unmask(p3);
	CHECK(set_prio(p1, 15) == 0 && set_prio(p2, 0) == 0 && set_prio(p3, 7) == 0, "priorities 15, 0, 7 set");
	norder = 0;
	vi[1] = 1;
	send(p1); send(p3); send(p2);
	CHECK((cb_ready[0] & 0x8081) == 0x8081 && cb_head[0] == p2 && cb_head[15] == p1, "queues 0, 7, 15 ready (%x), heads set", cb_ready[0]);
	events_on();
	unsigned want3[3] = { p2, p3, p1 };
	CHECK(order_is(want3, 3), "sent 15, 7, 0: delivered 0, 7, 15 (%u %u %u)", order[0], order[1], order[2]);

	/* A burst: 200 ports of one priority, sent in a scrambled order, delivered once each in that order. */
	static unsigned burst[200], sent[200];
	for (int i = 0; i < 200; i++) { burst[i] = bind_ipi(); unmask(burst[i]); }
	CHECK(burst[199] > 0, "200 more ports bound (last %u)", burst[199]);
	for (int i = 0; i < 200; i++) sent[i] = burst[(i * 73) % 200];
	norder = 0;
	vi[1] = 1;
	for (int i = 0; i < 200; i++) send(sent[i]);
	for (int i = 0; i < 200; i++) send(sent[i]); /* again while pending: no second delivery */
	events_on();
	CHECK(order_is(sent, 200) && norder == 200, "200 events delivered once each, in the order sent (%u delivered)", norder);

	/* Events raised while their queue is consumed: each handler sends the next (linked behind the tail). */
	for (int i = 0; i < 100; i++) { chain[i] = bind_ipi(); unmask(chain[i]); }
	norder = 0; chain_seen = 0;
	send(chain[0]);
	if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	CHECK(chain_seen == 100 && order_is(chain, 100), "a chain of 100 events each raised by the previous one's handler (%u)", chain_seen);

	/* Masked: pending but not delivered; unmasking (EVTCHNOP_unmask) delivers it once. */
	__atomic_fetch_or(&words[p3], MASKED, __ATOMIC_SEQ_CST);
	norder = 0;
	send(p3);
	CHECK(norder == 0 && (words[p3] & (PENDING | LINKED)) == PENDING, "a masked event stays pending, unlinked (%x)", words[p3]);
	unmask(p3);
	if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	CHECK(norder == 1 && order[0] == p3, "unmasked: delivered once");

	/* A flood, as guests/pv/flood.c's under the 2-level ABI. */
	{
		enum { NP = 32 };
		static unsigned fl[NP], first[NP];
		static const unsigned prio[4] = { 1, 5, 9, 14 };
		for (int i = 0; i < NP; i++) { fl[i] = bind_ipi(); unmask(fl[i]); set_prio(fl[i], prio[i % 4]); }
		CHECK(fl[NP - 1] > 0, "%d flood ports bound at priorities 1, 5, 9, 14", NP);
		vi[1] = 0;
		const int N1 = pv_arg("flood", 20000);
		int bad = 0;
		for (int k = 0; k < N1; k++) {
			unsigned p = fl[(k * 7) % NP], d0 = fdeliv[p];
			fprod[p]++;
			send(p);
			if (fdeliv[p] != d0 + 1 || fseen[p] != fprod[p]) bad++;
		}
		CHECK(bad == 0, "unmasked flood: %d sends, each delivered once at once (%d not)", N1, bad);
		/* Masked bursts: 8 sends per port; one delivery per port and burst, the highest priority first,
		 * within a priority in the order first sent; none lost. */
		unsigned dbefore[NP];
		int miss = 0, lostn = 0, misorder = 0;
		const int R = pv_arg("rounds", 100);
		for (int r = 0; r < R; r++) {
			for (int i = 0; i < NP; i++) dbefore[i] = fdeliv[fl[i]];
			vi[1] = 1;
			int nf = 0;
			for (int j = 0; j < NP * 8; j++) {
				unsigned p = fl[(j * 13 + r) % NP];
				int again = 0;
				for (int t = 0; t < nf; t++) if (first[t] == p) again = 1;
				if (!again) first[nf++] = p;
				fprod[p]++;
				send(p);
			}
			norder = 0;
			events_on();
			for (int i = 0; i < NP; i++) if (fdeliv[fl[i]] != dbefore[i] + 1) miss++;
			for (int i = 0; i < NP; i++) if (fseen[fl[i]] != fprod[fl[i]]) lostn++;
			/* The expected order: by priority, then first-sent order. */
			unsigned want[NP];
			int k = 0;
			for (int q = 0; q < 4; q++)
				for (int t = 0; t < nf; t++) {
					int i = 0;
					while (fl[i] != first[t]) i++;
					if (i % 4 == q) want[k++] = first[t];
				}
			if (norder != NP || !order_is(want, NP)) misorder++;
		}
		CHECK(miss == 0 && lostn == 0 && misorder == 0, "masked bursts: %d x %d sends, each port once per burst (%d not), none lost (%d), priority then FIFO order (%d bursts not)", R, NP * 8, miss, lostn, misorder);
		/* Half the ports masked in their event words: they wait through the flood, the others are
		 * served; unmasking delivers each once with its last count. */
		for (int i = 0; i < NP; i += 2) __atomic_fetch_or(&words[fl[i]], MASKED, __ATOMIC_SEQ_CST);
		for (int i = 0; i < NP; i++) dbefore[i] = fdeliv[fl[i]];
		for (int k = 0; k < NP * 50; k++) { unsigned p = fl[k % NP]; fprod[p]++; send(p); }
		int early = 0, served = 0;
		for (int i = 0; i < NP; i++) {
			if (i % 2 == 0 && fdeliv[fl[i]] != dbefore[i]) early++;
			if (i % 2 == 1 && fdeliv[fl[i]] == dbefore[i] + 50 && fseen[fl[i]] == fprod[fl[i]]) served++;
		}
		CHECK(early == 0 && served == NP / 2, "masked ports wait (%d delivered early), the others are served (%d of %d)", early, served, NP / 2);
		for (int i = 0; i < NP; i += 2) unmask(fl[i]);
		if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
		int once = 0;
		lostn = 0;
		for (int i = 0; i < NP; i++) {
			if (i % 2 == 0 && fdeliv[fl[i]] == dbefore[i] + 1) once++;
			if (fseen[fl[i]] != fprod[fl[i]]) lostn++;
		}
		CHECK(once == NP / 2 && lostn == 0, "unmasked: each masked port delivered once (%d of %d), none lost (%d)", once, NP / 2, lostn);
	}

	/* SCHEDOP_poll sees a FIFO event pending. */
	vi[1] = 1;
	send(p1);
	struct { xen_ulong_t ports; uint32_t nr; uint64_t timeout; } poll = { 0, 1, 0 };
	uint32_t pp = p1;
	poll.ports = (xen_ulong_t)&pp;
	CHECK(HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_poll, &poll, 0) == 0, "SCHEDOP_poll returns for a pending FIFO event");
	events_on();
	/* ... and wakes for one that becomes pending while it waits, masked as it is (no timeout: if the
	 * wake were lost this would never return). */
	struct bind_virq bv = { VIRQ_TIMER, 0, 0 };
	CHECK(evop(EVTCHNOP_bind_virq, &bv) == 0 && (words[bv.port] & MASKED), "VIRQ_TIMER bound to port %u, left masked", bv.port);
	pv_set_timer(pv_system_time() + 2000000);
	pp = bv.port;
	poll.timeout = 0;
	CHECK(HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_poll, &poll, 0) == 0 && (words[bv.port] & (PENDING | LINKED)) == PENDING, "SCHEDOP_poll woken by the masked timer event (%x)", words[bv.port]);

	/* EVTCHNOP_reset: every port closed, back to 2-level; FIFO can be set up again. */
	struct { uint16_t dom; } rs = { DOMID_SELF };
	CHECK(evop(EVTCHNOP_reset, &rs) == 0, "EVTCHNOP_reset -> 0");
	fifo = 0;
	ea = (struct expand_array){ p2m[n - 2] };
	CHECK(evop(EVTCHNOP_expand_array, &ea) == -EOPNOTSUPP, "2-level again after the reset");
	unsigned q = bind_ipi();
	unsigned before = pv_event_count[q];
	send(q);
	if (vi[0]) HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	CHECK(pv_event_count[q] == before + 1, "a 2-level event delivered after the reset");
	memset(cbpage, 0, 4096);
	ic = (struct init_control){ p2m[n - 1], 0, 0, 0, { 0 } };
	CHECK(evop(EVTCHNOP_init_control, &ic) == 0, "init_control again after the reset -> 0");
	CHECK(evop(EVTCHNOP_expand_array, &ea) == 0, "and expand_array with the same page");
	evop(EVTCHNOP_reset, &rs);

	printf("fifo: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
