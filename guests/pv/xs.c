/* A minimal xenstore client for the PV test guests (io/xs_wire.h): one request at a time over the
 * shared ring page (start_info->store_mfn) and its event channel (start_info->store_evtchn). Paths
 * without a leading '/' are relative to the domain's home, /local/domain/<domid> (xenstored resolves
 * them). Replies are waited for by blocking on events when pv_events_init() has run, else by yielding;
 * watch events that arrive in between are skipped. */
#include "pv.h"

#define XS_READ 2
#define XS_WATCH 4
#define XS_WRITE 11
#define XS_WATCH_EVENT 15
#define XS_ERROR 16
#define XS_RING 1024

struct xsd_sockmsg { uint32_t type, req_id, tx_id, len; };
struct xs_iface {
	char req[XS_RING];
	char rsp[XS_RING];
	uint32_t req_cons, req_prod, rsp_cons, rsp_prod;
};
static volatile struct xs_iface *xs;
static uint32_t xs_next_id = 1;
static char xs_err[16];

const char *xs_last_error(void) { return xs_err; }

int xs_init(unsigned long va)
{
	if (pv_map(va, (uint64_t)start_info->store_mfn << 12, 3) != 0) return -1;
	xs = (volatile struct xs_iface *)va;
	return 0;
}

static void xs_notify(void)
{
	uint32_t port = start_info->store_evtchn;
	pv_evtchn_op(EVTCHNOP_send, &port);
}

/* Wait for something to change: block (events re-enabled atomically) or yield. */
static void xs_wait(void)
{
	if (pv_shared_info) {
		pv_events_disable();
		if (xs->rsp_prod != xs->rsp_cons || (xs->req_prod - xs->req_cons) != 0) { pv_events_enable(); HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0); return; }
		pv_block(); /* also re-enables delivery */
	} else HYPERVISOR(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
}

static int xs_put(const void *p, uint32_t n)
{
	const char *s = p;
	int spins = 0;
	while (n) {
		uint32_t used = xs->req_prod - xs->req_cons;
		if (used >= XS_RING) { xs_notify(); if (spins++ > 100000) return -1; xs_wait(); continue; }
		uint32_t prod = xs->req_prod;
		xs->req[prod & (XS_RING - 1)] = *s++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		xs->req_prod = prod + 1;
		n--;
	}
	return 0;
}

static int xs_get(void *p, uint32_t n)
{
	char *d = p;
	int spins = 0;
	while (n) {
		if (xs->rsp_prod == xs->rsp_cons) { if (spins++ > 100000) return -1; xs_wait(); continue; }
		uint32_t cons = xs->rsp_cons;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (d) *d++ = xs->rsp[cons & (XS_RING - 1)];
		xs->rsp_cons = cons + 1;
		n--;
	}
	xs_notify();
	return 0;
}

/* One request/reply; the reply's payload goes to buf (up to len bytes, the rest is skipped).
 * Returns the payload length, or -1 (xs_last_error() says why). */
static int xs_talk(uint32_t type, const char *a, uint32_t alen, const char *b, uint32_t blen, char *buf, int len)
{
	if (!xs) { strcpy(xs_err, "ENOXS"); return -1; }
	struct xsd_sockmsg m = { type, xs_next_id++, 0, alen + blen };
	if (xs_put(&m, sizeof m) || xs_put(a, alen) || (blen && xs_put(b, blen))) { strcpy(xs_err, "EIO"); return -1; }
	xs_notify();
	for (;;) {
		struct xsd_sockmsg r;
		if (xs_get(&r, sizeof r)) { strcpy(xs_err, "ETIMEDOUT"); return -1; }
		uint32_t keep = r.len < (uint32_t)len ? r.len : (uint32_t)len;
		if (r.type == XS_WATCH_EVENT || r.req_id != m.req_id) { xs_get(0, r.len); continue; }
		if (xs_get(buf, keep) || xs_get(0, r.len - keep)) { strcpy(xs_err, "ETIMEDOUT"); return -1; }
		if (r.type == XS_ERROR) {
			uint32_t k = keep < sizeof xs_err - 1 ? keep : sizeof xs_err - 1;
			memcpy(xs_err, buf, k);
			xs_err[k] = 0;
			return -1;
		}
		return (int)r.len;
	}
}

int xs_read(const char *path, char *buf, int len)
{
	if (len < 1) return -1;
	int n = xs_talk(XS_READ, path, strlen(path) + 1, 0, 0, buf, len - 1);
	if (n < 0) { buf[0] = 0; return -1; }
	buf[n < len - 1 ? n : len - 1] = 0;
	return n;
}

int xs_write(const char *path, const char *value)
{
	char ok[8];
	return xs_talk(XS_WRITE, path, strlen(path) + 1, value, strlen(value), ok, sizeof ok) < 0 ? -1 : 0;
}

int xs_watch(const char *path, const char *token)
{
	char ok[8];
	return xs_talk(XS_WATCH, path, strlen(path) + 1, token, strlen(token) + 1, ok, sizeof ok) < 0 ? -1 : 0;
}

int xs_pending(void) { return xs && xs->rsp_prod != xs->rsp_cons; }

int xs_read_at(const char *dir, const char *key, char *buf, int len)
{
	char path[160];
	pv_put_str(pv_put_str(pv_put_str(path, dir), "/"), key);
	return xs_read(path, buf, len);
}
int xs_write_at(const char *dir, const char *key, const char *value)
{
	char path[160];
	pv_put_str(pv_put_str(pv_put_str(path, dir), "/"), key);
	return xs_write(path, value);
}
int xs_write_num_at(const char *dir, const char *key, unsigned long v) { char b[24]; pv_put_num(b, v); return xs_write_at(dir, key, b); }
int xs_state(const char *dir) { char b[16]; return xs_read_at(dir, "state", b, sizeof b) < 0 ? -1 : pv_to_int(b); }
int xs_wait_state(const char *dir, int want, int naps)
{
	int st = -1;
	for (int i = 0; i < naps && (st = xs_state(dir)) != want; i++) pv_nap();
	return st;
}
