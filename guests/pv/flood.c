/* Event floods (issue 12): the hypervisor must deliver pending events without losing any and serve
 * every port while others flood. "role=s": 32 ports of our own (IPIs and loopback interdomain pairs)
 * flooded unmasked (each send delivered at once), in masked bursts (coalesced: one delivery per port
 * and burst, none lost) and with half the ports masked. "role=a peer=N": floods port 3 of domain N
 * without end. "role=b peer=N": port 3 for the flooder and port 4 shared with dom0 (the host), whose
 * `struct shared` (machine address printed) says what each side sent and saw: we flood the host with
 * `flood=N` sends, then the host floods us; both sides check the last number sent was seen. Prints
 * "ok:"/"FAIL:" lines and a verdict. */
#include "pv.h"
#include "pt.h"

#define NP 32
static unsigned ports[NP];
static volatile unsigned prod[1024], seen[1024], deliv[1024];
static volatile unsigned upcalls;

/* What dom0 and we share (one page, the host reads and writes it by machine address). */
static struct shared {
	volatile uint32_t magic, gprod, hprod, hdone, gdone, hseen;
} sh __attribute__((aligned(4096)));

static void on_event(void)
{
	volatile uint8_t *vi = pv_vcpu_info();
	upcalls++;
	vi[0] = 0;
#if defined(__x86_64__)
	volatile uint64_t *selp = (volatile uint64_t *)(vi + 8);
	volatile uint64_t *pend = (volatile uint64_t *)(pv_shared_info + PV_SI_PENDING);
	volatile uint64_t *mask = (volatile uint64_t *)(pv_shared_info + PV_SI_MASK);
	const int wb = 64;
#else
	volatile uint32_t *selp = (volatile uint32_t *)(vi + 4);
	volatile uint32_t *pend = (volatile uint32_t *)(pv_shared_info + PV_SI_PENDING);
	volatile uint32_t *mask = (volatile uint32_t *)(pv_shared_info + PV_SI_MASK);
	const int wb = 32;
#endif
	xen_ulong_t sel = __atomic_exchange_n(selp, 0, __ATOMIC_SEQ_CST);
	while (sel) {
		int w = __builtin_ctzl(sel);
		sel &= sel - 1;
		xen_ulong_t bits = pend[w] & ~mask[w];
		while (bits) {
			int b = __builtin_ctzl(bits);
			bits &= bits - 1;
			__atomic_fetch_and(&pend[w], ~((xen_ulong_t)1 << b), __ATOMIC_SEQ_CST);
			unsigned p = w * wb + b;
			if (p >= 1024) continue;
			deliv[p]++;
			seen[p] = prod[p];
			if (p == 4) sh.hseen = sh.hprod; /* the host's number, read after the bit was cleared */
		}
	}
}

void pv_trap(struct pv_frame *f)
{
	if (f->vector == 0xff) { on_event(); return; }
	printf("unexpected trap %u at %lx error %lx\n", (unsigned)f->vector, (unsigned long)f->rip, (unsigned long)f->error);
	pv_shutdown(SHUTDOWN_crash);
}

static void set_mask(unsigned port, int on)
{
	volatile xen_ulong_t *mask = (volatile xen_ulong_t *)(pv_shared_info + PV_SI_MASK);
	const unsigned wb = sizeof(xen_ulong_t) * 8;
	if (on) __atomic_fetch_or(&mask[port / wb], (xen_ulong_t)1 << (port % wb), __ATOMIC_SEQ_CST);
	else __atomic_fetch_and(&mask[port / wb], ~((xen_ulong_t)1 << (port % wb)), __ATOMIC_SEQ_CST);
}

static int lost(void)
{
	int n = 0;
	for (int i = 0; i < NP; i++) if (seen[ports[i]] != prod[ports[i]]) n++;
	return n;
}

static void self_flood(void)
{
	struct bind_ipi { uint32_t vcpu, port; };
	for (int i = 0; i < NP; i += 2) {
		if (i < NP / 2) {
			struct bind_ipi a = { 0, 0 }, b = { 0, 0 };
			pv_evtchn_op(EVTCHNOP_bind_ipi, &a);
			pv_evtchn_op(EVTCHNOP_bind_ipi, &b);
			ports[i] = a.port; ports[i + 1] = b.port;
		} else {
			/* A loopback pair: sending on one end notifies the other. We send on the end we do not
			 * count (ports[i] is the receiving end, ports[i + 1] the one we send on). */
			struct alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
			pv_evtchn_op(EVTCHNOP_alloc_unbound, &au);
			struct bind_interdomain bi = { DOMID_SELF, 0, au.port, 0 };
			pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi);
			ports[i] = au.port; ports[i + 1] = bi.local_port;
		}
	}
	int bound = 1;
	for (int i = 0; i < NP; i++) if (ports[i] == 0) bound = 0;
	CHECK(bound, "%d ports bound (%u..%u)", NP, ports[0], ports[NP - 1]);
	/* For a loopback pair the event lands on the other end: send on `tx`, count on `rx`. */
#define RX(i) (ports[(i)] )
#define TX(i) ((i) >= NP / 2 ? ports[(i) ^ 1] : ports[(i)])
	pv_events_enable();
	/* Binding a loopback pair marks its new end pending: take those first. */
	HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
	for (int i = 0; i < NP; i++) seen[ports[i]] = prod[ports[i]] = 0, deliv[ports[i]] = 0;

	/* Unmasked: every send is delivered before the hypercall returns. */
	int bad = 0;
	const int N1 = pv_arg("n", 20000);
	for (int k = 0; k < N1; k++) {
		int i = (k * 7) % NP;
		unsigned r = RX(i), d0 = deliv[r];
		prod[r]++;
		pv_send(TX(i));
		if (deliv[r] != d0 + 1 || seen[r] != prod[r]) bad++;
	}
	CHECK(bad == 0, "unmasked flood: %d sends, each delivered once at once (%d not)", N1, bad);

	/* Masked bursts: 8 sends per port, coalesced into one delivery per port, the last one seen. */
	unsigned dbefore[NP];
	int miss = 0, lostn = 0;
	const int R = pv_arg("rounds", 200);
	for (int r = 0; r < R; r++) {
		for (int i = 0; i < NP; i++) dbefore[i] = deliv[RX(i)];
		pv_events_disable();
		for (int j = 0; j < NP * 8; j++) {
			int i = (j * 13 + r) % NP;
			prod[RX(i)]++;
			pv_send(TX(i));
		}
		pv_events_enable();
		HYPERVISOR(__HYPERVISOR_xen_version, 0, 0, 0);
		for (int i = 0; i < NP; i++) if (deliv[RX(i)] != dbefore[i] + 1) miss++;
		lostn += lost();
	}
	CHECK(miss == 0 && lostn == 0, "masked bursts: %d x %d sends, every port served once per burst (%d not), none lost (%d)", R, NP * 8, miss, lostn);

	/* Half the ports masked: they stay pending through the flood, the others are served; unmasking
	 * delivers each masked one. */
	for (int i = 0; i < NP; i += 2) set_mask(RX(i), 1);
	for (int i = 0; i < NP; i++) dbefore[i] = deliv[RX(i)];
	for (int k = 0; k < NP * 50; k++) { int i = k % NP; prod[RX(i)]++; pv_send(TX(i)); }
	int early = 0, served = 0;
	for (int i = 0; i < NP; i++) {
		if (i % 2 == 0 && deliv[RX(i)] != dbefore[i]) early++;
		if (i % 2 == 1 && deliv[RX(i)] == dbefore[i] + 50 && seen[RX(i)] == prod[RX(i)]) served++;
	}
	CHECK(early == 0 && served == NP / 2, "masked ports wait (%d delivered early), the others are served (%d of %d)", early, served, NP / 2);
	for (int i = 0; i < NP; i += 2) { struct port_op um = { RX(i) }; pv_evtchn_op(EVTCHNOP_unmask, &um); set_mask(RX(i), 0); }
	CHECK(lost() == 0, "EVTCHNOP_unmask delivered every masked port's last event (%d lost)", lost());

	/* dom0 flooded through the console channel (the host drains the ring; nothing to lose). */
	const int N2 = pv_arg("dom0", 50000);
	printf("flooding dom0\n");
	pv_console_flush();
	int err = 0;
	for (int k = 0; k < N2; k++) if (pv_send(start_info->console_evtchn) != 0) err++;
	printf("flooded dom0\n");
	CHECK(err == 0, "%d sends to dom0's console port (%d refused)", N2, err);
}

static uint64_t ma_of(const void *p)
{
	const xen_ulong_t *p2m = (const xen_ulong_t *)start_info->mfn_list;
	return ((uint64_t)p2m[((unsigned long)p - VIRT_BASE) >> 12] << 12) | ((unsigned long)p & 4095);
}

static void bind_timer(void) { struct bind_virq bv = { VIRQ_TIMER, 0, 0 }; pv_evtchn_op(EVTCHNOP_bind_virq, &bv); } /* pv_nap's wake-up */

static void flooder(int peer)
{
	struct bind_interdomain bi = { (uint16_t)peer, 0, 3, 0 };
	int tries = 0;
	while (pv_evtchn_op(EVTCHNOP_bind_interdomain, &bi) != 0 && tries++ < 100000) pv_nap();
	printf("flooding d%d port 3 from port %u\n", peer, bi.local_port);
	pv_console_flush();
	for (unsigned long n = 1;; n++) {
		pv_send(bi.local_port);
		if ((n & 0xfffff) == 0) { printf("sent %lu\n", n); }
	}
}

static void receiver(int peer)
{
	struct alloc_unbound au = { DOMID_SELF, (uint16_t)peer, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0 && au.port == 3, "port %u for the flooder", au.port);
	struct alloc_unbound ah = { DOMID_SELF, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &ah) == 0 && ah.port == 4, "port %u for dom0", ah.port);
	bind_timer();
	sh.magic = 0x466c6f64;
	printf("dom0 port 4 shared at 0x%lx\n", (unsigned long)ma_of(&sh));
	pv_console_flush();
	pv_events_enable();
	/* Wait for the flooder and the host (both connected: port 3 busy, the host's hprod 1). */
	for (int k = 0; k < 20000 && (deliv[3] < 100 || sh.hprod == 0); k++) pv_nap();
	CHECK(deliv[3] >= 100, "the flooder's events arrive (%u deliveries)", deliv[3]);
	/* We flood the host: each number written, then a send; the flooder must keep running meanwhile. */
	const unsigned N = (unsigned)pv_arg("flood", 100000);
	unsigned d3 = deliv[3];
	printf("flooding dom0\n");
	pv_console_flush();
	for (unsigned n = 1; n <= N; n++) { sh.gprod = n; pv_send(4); }
	sh.gdone = 1;
	pv_send(4);
	printf("flooded dom0\n");
	pv_console_flush();
	CHECK(deliv[3] > d3, "the flooder kept running while we flooded dom0 (%u deliveries on port 3)", deliv[3] - d3);
	/* The host floods us meanwhile and after (hprod, then a send), and says when it is done: its last
	 * number must be seen here through a delivery on port 4, while port 3 keeps flooding. */
	for (int k = 0; k < 200000 && !(sh.hdone && sh.hseen == sh.hprod); k++) pv_nap();
	CHECK(sh.hdone && sh.hseen == sh.hprod, "dom0's events: its last (%u) seen (%u) through %u deliveries on port 4", sh.hprod, sh.hseen, deliv[4]);
	CHECK(deliv[4] > 0 && deliv[3] > 0, "both ports served: %u and %u deliveries", deliv[3], deliv[4]);
}

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	char role = pv_role('s');
	int peer = pv_arg("peer", 0);
	if (role == 'a') bind_timer();
	if (role == 's') self_flood();
	else if (role == 'a') flooder(peer);
	else receiver(peer);
	printf("flood: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
