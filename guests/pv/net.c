/* A netfront for tests (io/netif.h): finds its vif in xenstore (device/vif/0), shares a tx and an rx
 * ring and its buffers with the backend (dom0) through grants, connects, then
 *  - "role=a peer=N" / "role=b peer=N": broadcasts Ethernet frames carrying its MAC and domid until it
 *    has received the peer's frame and the peer has said it received one of ours (role b uses split
 *    event channels, role a one channel);
 *  - "hostile=1": after the error cases every guest tries (bad grant references, slots beyond the
 *    page, runt packets: each answered NETIF_RSP_ERROR), breaks the tx ring's producer index and
 *    expects the backend to give up on the vif (Closing), then closes.
 * Prints "ok:"/"FAIL:" lines and "net: PASSED" (or FAILED), then powers off. */
#include "pv.h"

#define FE "device/vif/0" /* our device directory in xenstore */

/* io/ring.h + io/netif.h */
struct sring_hdr { uint32_t req_prod, req_event, rsp_prod, rsp_event; uint8_t pad[48]; };
struct tx_req { uint32_t gref; uint16_t offset, flags, id, size; };
struct tx_rsp { uint16_t id; int16_t status; };
union tx_ent { struct tx_req req; struct tx_rsp rsp; };
struct tx_sring { struct sring_hdr h; union tx_ent ring[256]; };
struct rx_req { uint16_t id, pad; uint32_t gref; };
struct rx_rsp { uint16_t id, offset, flags; int16_t status; };
union rx_ent { struct rx_req req; struct rx_rsp rsp; };
struct rx_sring { struct sring_hdr h; union rx_ent ring[256]; };
#define RING 256
#define NETIF_RSP_ERROR (-1)
#define NETIF_RSP_OKAY 0
_Static_assert(sizeof(union tx_ent) == 12 && sizeof(union rx_ent) == 8 && sizeof(struct sring_hdr) == 64, "netif layout");

#define NRX 8
#define GREF_TXRING 8
#define GREF_RXRING 9
#define GREF_TXBUF 10
#define GREF_RXBUF 11 /* .. 11+NRX-1 */
#define ETHERTYPE 0x88b5 /* IEEE local experimental */

static volatile struct grant_entry *gt;
/* With "gntv2=1": a v2 grant table (full-page entries: header, pad, the frame as two halves). */
struct gnt_v2 { uint16_t flags, domid; uint32_t pad, lo, hi; };
static int v2;
static void grant(int ref, unsigned long pfn, int ro)
{
	if (!v2) { pv_grant(gt, ref, 0, pfn, ro); return; }
	volatile struct gnt_v2 *e = (volatile struct gnt_v2 *)gt + ref;
	e->domid = 0; e->pad = 0; e->lo = ((xen_ulong_t *)start_info->mfn_list)[pfn]; e->hi = 0;
	__atomic_store_n(&e->flags, GTF_permit_access | (ro ? GTF_readonly : 0), __ATOMIC_SEQ_CST);
}
static volatile struct tx_sring *tx;
static volatile struct rx_sring *rx;
static uint8_t *txbuf;
static uint8_t *rxbuf[NRX];
static uint32_t tx_cons, rx_cons;
static uint32_t evtx, evrx;
static int16_t tx_status[RING];
static int tx_done[RING];
static uint16_t tx_next_id;
static uint8_t mymac[6];
static int mydom = -1;

static int hexv(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }
static int parse_mac(const char *s, uint8_t *m)
{
	for (int i = 0; i < 6; i++) {
		int a = hexv(s[i * 3]), b = hexv(s[i * 3 + 1]);
		if (a < 0 || b < 0 || (i < 5 && s[i * 3 + 2] != ':')) return -1;
		m[i] = a * 16 + b;
	}
	return s[17] == 0 ? 0 : -1;
}
static void mac_str(const uint8_t *m, char *out)
{
	const char *h = "0123456789abcdef";
	for (int i = 0; i < 6; i++) { out[i * 3] = h[m[i] >> 4]; out[i * 3 + 1] = h[m[i] & 15]; out[i * 3 + 2] = i < 5 ? ':' : 0; }
}

static void notify(uint32_t port) { pv_evtchn_op(EVTCHNOP_send, &port); }

static char bepath[96];

/* Tx: post one request (id chosen here); returns the id. */
static uint16_t tx_post(uint32_t gref, uint16_t offset, uint16_t flags, uint16_t size)
{
	uint32_t p = tx->h.req_prod;
	uint16_t id = tx_next_id++ % RING;
	tx_done[id] = 0;
	volatile struct tx_req *r = &tx->ring[p % RING].req;
	r->gref = gref; r->offset = offset; r->flags = flags; r->id = id; r->size = size;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	tx->h.req_prod = p + 1;
	notify(evtx);
	return id;
}
static void tx_reap(void)
{
	for (;;) {
		uint32_t prod = tx->h.rsp_prod;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		while (tx_cons != prod) {
			volatile struct tx_rsp *r = &tx->ring[tx_cons % RING].rsp;
			if (r->status != 1 /* NETIF_RSP_NULL */) { tx_status[r->id % RING] = r->status; tx_done[r->id % RING] = 1; }
			tx_cons++;
		}
		tx->h.rsp_event = tx_cons + 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (tx->h.rsp_prod == tx_cons) return;
	}
}
static int tx_wait(uint16_t id, int naps)
{
	for (int i = 0; i < naps; i++) { tx_reap(); if (tx_done[id]) return tx_status[id]; pv_nap(); }
	return -100;
}

static void rx_post(uint16_t id)
{
	uint32_t p = rx->h.req_prod;
	rx->ring[p % RING].req.id = id;
	rx->ring[p % RING].req.gref = GREF_RXBUF + id;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rx->h.req_prod = p + 1;
}

/* The exchange's state. */
static int peer = -1, got_peer, peer_acked, from_self, rx_errors, rx_frames;
static char peer_mac[20];

static void check_frame(const uint8_t *f, int len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	rx_frames++;
	if (len < 14 + 12 || memcmp(f, bcast, 6) || ((f[12] << 8) | f[13]) != ETHERTYPE) { printf("FAIL: a stray frame (%d bytes)\n", len); pv_fail_count++; return; }
	if (!memcmp(f + 6, mymac, 6)) { from_self++; return; }
	const char *p = (const char *)f + 14;
	if (memcmp(p, "xenwasm-net from=", 17)) { printf("FAIL: a frame without our payload\n"); pv_fail_count++; return; }
	int from = pv_to_int(p + 17);
	const char *g = p + 17;
	while (*g && *g != ' ' && g < (const char *)f + len) g++;
	int acked = !memcmp(g, " got=1", 6);
	if (from != peer) { printf("FAIL: a frame from dom %d, not the peer %d\n", from, peer); pv_fail_count++; return; }
	if (!got_peer) {
		mac_str(f + 6, peer_mac);
		CHECK(f[6] == 0x00 && f[7] == 0x16 && f[8] == 0x3e && f[9] < 0x80, "received the peer's broadcast: dom %d from %s (%d bytes)", from, peer_mac, len);
	}
	got_peer = 1;
	if (acked) peer_acked = 1;
}
static void rx_reap(void)
{
	for (;;) {
		uint32_t prod = rx->h.rsp_prod;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		int posted = 0;
		while (rx_cons != prod) {
			volatile struct rx_rsp *r = &rx->ring[rx_cons % RING].rsp;
			uint16_t id = r->id % NRX;
			if (r->status < 0) rx_errors++;
			else if (r->offset + r->status <= 4096) check_frame(rxbuf[id] + r->offset, r->status);
			rx_cons++;
			rx_post(id);
			posted = 1;
		}
		if (posted) notify(evrx);
		rx->h.rsp_event = rx_cons + 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (rx->h.rsp_prod == rx_cons) return;
	}
}

static int send_hello(int seq)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	memset(txbuf, 0, 64);
	memcpy(txbuf, bcast, 6);
	memcpy(txbuf + 6, mymac, 6);
	txbuf[12] = ETHERTYPE >> 8; txbuf[13] = ETHERTYPE & 0xff;
	char *p = (char *)txbuf + 14;
	p = pv_put_num(pv_put_str(p, "xenwasm-net from="), mydom);
	p = pv_put_num(pv_put_str(p, got_peer ? " got=1 seq=" : " got=0 seq="), seq);
	int len = (uint8_t *)p - txbuf + 1;
	if (len < 60) len = 60;
	return tx_post(GREF_TXBUF, 0, 0, len);
}

static xen_ulong_t *p2m;

int pv_main(void)
{
	pv_install_traps();
	pv_events_init();
	struct bind_virq bv = { 0 /* VIRQ_TIMER */, 0, 0 };
	pv_evtchn_op(EVTCHNOP_bind_virq, &bv);
	pv_events_enable();
	p2m = (xen_ulong_t *)start_info->mfn_list;
	unsigned long n = start_info->nr_pages;
	char r = pv_role('?');
	int hostile = pv_arg("hostile", -1) == 1;
	peer = pv_arg("peer", -1);

	CHECK(xs_init(pv_free_va(2)) == 0, "xenstore ring mapped");
	char buf[128];
	CHECK(xs_read("domid", buf, sizeof buf) > 0, "xenstore: domid = %s", buf);
	mydom = pv_to_int(buf);
	CHECK(xs_read("device/vif/0/backend-id", buf, sizeof buf) > 0 && !strcmp(buf, "0"), "backend-id %s", buf);
	CHECK(xs_read("device/vif/0/backend", bepath, sizeof bepath) > 0, "backend at %s", bepath);
	CHECK(xs_read("device/vif/0/mac", buf, sizeof buf) == 17 && parse_mac(buf, mymac) == 0, "mac %s", buf);
	CHECK(mymac[0] == 0 && mymac[1] == 0x16 && mymac[2] == 0x3e && mymac[3] < 0x80, "a Xen OUI address with the fourth byte below 0x80");
	printf("net: dom %d mac %s\n", mydom, buf);
	CHECK(xs_read("device/vif/0/nonexistent", buf, sizeof buf) < 0 && !strcmp(xs_last_error(), "ENOENT"), "reading a missing node -> ENOENT");
	CHECK(xs_read_at(bepath, "feature-rx-copy", buf, sizeof buf) > 0 && !strcmp(buf, "1"), "feature-rx-copy = 1");
	CHECK(xs_wait_state(bepath, 2, 1000) == 2, "backend in InitWait");
	CHECK(xs_write("/local/domain/0/backend/vif/x", "1") < 0 && !strcmp(xs_last_error(), "EACCES"), "writing dom0's tree -> EACCES");

	/* Grant table, rings and buffers (top of our memory), shared with dom0. */
	xen_ulong_t gframe = pv_grant_table_setup();
	CHECK(gframe != 0, "grant table set up");
	gt = (volatile struct grant_entry *)pv_free_va(1);
	pv_map((unsigned long)gt, (uint64_t)gframe << 12, 3);
	v2 = pv_arg("gntv2", 0);
	if (v2) {
		uint32_t ver = 2;
		CHECK(HYPERVISOR(__HYPERVISOR_grant_table_op, 8 /* set_version */, &ver, 1) == 0 && ver == 2, "grant table version 2");
	}
	tx = (volatile struct tx_sring *)pv_free_va(3);
	rx = (volatile struct rx_sring *)pv_free_va(4);
	txbuf = (uint8_t *)pv_free_va(5);
	pv_map((unsigned long)tx, (uint64_t)p2m[n - 1] << 12, 3);
	pv_map((unsigned long)rx, (uint64_t)p2m[n - 2] << 12, 3);
	pv_map((unsigned long)txbuf, (uint64_t)p2m[n - 3] << 12, 3);
	memset((void *)tx, 0, 4096);
	memset((void *)rx, 0, 4096);
	tx->h.req_event = tx->h.rsp_event = 1; /* SHARED_RING_INIT */
	rx->h.req_event = rx->h.rsp_event = 1;
	grant(GREF_TXRING, n - 1, 0);
	grant(GREF_RXRING, n - 2, 0);
	grant(GREF_TXBUF, n - 3, 1);
	for (int i = 0; i < NRX; i++) {
		rxbuf[i] = (uint8_t *)pv_free_va(6 + i);
		pv_map((unsigned long)rxbuf[i], (uint64_t)p2m[n - 4 - i] << 12, 3);
		grant(GREF_RXBUF + i, n - 4 - i, 0);
		rx_post(i);
	}
	struct alloc_unbound au = { DOMID_SELF, 0, 0 };
	CHECK(pv_evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "event channel for dom0: port %u", au.port);
	evtx = evrx = au.port;
	int split = r == 'b';
	if (split) {
		struct alloc_unbound au2 = { DOMID_SELF, 0, 0 };
		pv_evtchn_op(EVTCHNOP_alloc_unbound, &au2);
		evrx = au2.port;
	}
	int w = xs_write_num_at(FE, "tx-ring-ref", GREF_TXRING) | xs_write_num_at(FE, "rx-ring-ref", GREF_RXRING);
	if (split) w |= xs_write_num_at(FE, "event-channel-tx", evtx) | xs_write_num_at(FE, "event-channel-rx", evrx);
	else w |= xs_write_num_at(FE, "event-channel", evtx);
	w |= xs_write_at(FE, "request-rx-copy", "1") | xs_write_at(FE, "feature-rx-notify", "1") | xs_write_at(FE, "feature-sg", "1");
	w |= xs_write_at(FE, "state", "4");
	CHECK(w == 0, "frontend keys written (%s), state Connected", split ? "split event channels" : "one event channel");
	CHECK(xs_wait_state(bepath, 4, 1000) == 4, "backend Connected");

	/* What a backend must refuse without falling over. */
	int id = tx_post(5000, 0, 0, 60);
	CHECK(tx_wait(id, 1000) == NETIF_RSP_ERROR, "tx with a grant reference beyond the table -> NETIF_RSP_ERROR");
	id = tx_post(7, 0, 0, 60);
	CHECK(tx_wait(id, 1000) == NETIF_RSP_ERROR, "tx with an unused grant entry -> NETIF_RSP_ERROR");
	id = tx_post(GREF_TXBUF, 4000, 0, 200);
	CHECK(tx_wait(id, 1000) == NETIF_RSP_ERROR, "tx running past the end of the page -> NETIF_RSP_ERROR");
	id = tx_post(GREF_TXBUF, 0, 0, 10);
	CHECK(tx_wait(id, 1000) == NETIF_RSP_ERROR, "a runt tx packet (10 bytes) -> NETIF_RSP_ERROR");
	id = tx_post(GREF_RXRING + 100, 0, 0, 60);
	CHECK(tx_wait(id, 1000) == NETIF_RSP_ERROR, "tx with a reference granted to nobody -> NETIF_RSP_ERROR");
	CHECK(xs_state(bepath) == 4, "and the vif stays connected");

	if (hostile) {
		tx->h.req_prod = tx->h.req_prod + 1000;
		notify(evtx);
		CHECK(xs_wait_state(bepath, 5, 1000) == 5, "a garbage tx producer index: the backend gives up on the vif (Closing)");
		CHECK(xs_read_at(bepath, "error", buf, sizeof buf) > 0, "and says why: %s", buf);
		xs_write_at(FE, "state", "6");
		CHECK(xs_wait_state(bepath, 6, 1000) == 6, "frontend Closed -> backend Closed");
	} else if (r == 'a' || r == 'b') {
		uint64_t deadline = pv_system_time() + 15000000000ULL, next = 0;
		int seq = 0, outstanding = -1, sent = 0;
		while (!(got_peer && peer_acked) && pv_system_time() < deadline) {
			tx_reap();
			if (outstanding >= 0 && tx_done[outstanding]) {
				if (tx_status[outstanding] != NETIF_RSP_OKAY) { printf("FAIL: tx status %d\n", tx_status[outstanding]); pv_fail_count++; }
				outstanding = -1;
			}
			uint64_t now = pv_system_time();
			if (outstanding < 0 && now >= next) { outstanding = send_hello(seq++); sent++; next = now + 2000000; }
			rx_reap();
			if (!(got_peer && peer_acked)) pv_nap();
		}
		CHECK(got_peer, "heard the peer (dom %d) through the bridge", peer);
		CHECK(peer_acked, "and the peer heard us");
		if (outstanding >= 0) tx_wait(outstanding, 1000);
		id = send_hello(seq++); /* the last word: got=1, so the peer can finish too */
		CHECK(tx_wait(id, 1000) == NETIF_RSP_OKAY, "sent %d frames, all answered NETIF_RSP_OKAY", sent + 1);
		CHECK(from_self == 0, "none of our own frames came back (%d)", from_self);
		CHECK(rx_errors == 0, "no rx errors (%d)", rx_errors);
		printf("net: received %d frames; peer mac %s\n", rx_frames, peer_mac);
	} else { printf("FAIL: no role on the command line\n"); pv_fail_count++; }
	printf("net: %s\n", pv_fail_count ? "FAILED" : "PASSED");
	return pv_fail_count ? 1 : 0;
}
