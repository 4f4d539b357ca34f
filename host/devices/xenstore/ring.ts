// The shared-page transport (struct xenstore_domain_interface, io/xs_wire.h): two 1 KiB byte
// rings with free-running u32 indexes. The guest produces requests into req and consumes replies
// from rsp; we do the opposite. The page belongs to the guest, so every index is distrusted.
import type { Connection } from "./store";
import { SERVER_FEATURES } from "./store";
import {
  Framer, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT,
} from "./wire";

export const XENSTORE_RING_SIZE = 1024;
export const RING = {
  REQ: 0,
  RSP: 1024,
  REQ_CONS: 2048,
  REQ_PROD: 2052,
  RSP_CONS: 2056,
  RSP_PROD: 2060,
  SERVER_FEATURES: 2064,
  CONNECTION: 2068,
  ERROR: 2072,
  EVTCHN_PORT: 2076,
  SIZE: 2080,
} as const;

const MASK = XENSTORE_RING_SIZE - 1;

export interface XsRingOptions {
  /**
   * Called when a reply or event is queued for this ring: the host should pump it (preferably
   * soon rather than synchronously; a synchronous pump is tolerated) and notify the guest.
   */
  onOutput?: () => void;
  /** Stop reading requests while this many messages wait for rsp space (xenstored's "outstanding"). */
  maxQueued?: number;
}

export class XsRing {
  private readonly framer = new Framer();
  private readonly outq: Uint8Array[] = [];
  private outOff = 0;
  private readonly getPage: () => Uint8Array;

  /**
   * `page` is the 4 KiB xenstore page, or a function returning a fresh view of it (use that when
   * the view can be detached, e.g. by WebAssembly memory growth).
   */
  constructor(page: Uint8Array | (() => Uint8Array), private readonly opts: XsRingOptions = {}) {
    this.getPage = typeof page === "function" ? page : () => page;
  }

  /** The `send` to give XenStore.connect: queues a message for the rsp ring. */
  readonly send = (msg: Uint8Array): void => {
    this.outq.push(msg);
    this.opts.onOutput?.();
  };

  /** Messages (or parts) waiting for room in rsp. */
  get queued(): number { return this.outq.length; }

  private view(): DataView | null {
    const p = this.getPage();
    if (!(p instanceof Uint8Array) || p.length < RING.SIZE) return null;
    return new DataView(p.buffer, p.byteOffset, p.length);
  }

  /** Server side initialisation of a fresh page: indexes zero, features advertised, connected. */
  init(features = SERVER_FEATURES): void {
    const dv = this.view();
    if (!dv) return;
    for (const o of [RING.REQ_CONS, RING.REQ_PROD, RING.RSP_CONS, RING.RSP_PROD, RING.CONNECTION, RING.ERROR])
      dv.setUint32(o, 0, true);
    dv.setUint32(RING.SERVER_FEATURES, features, true);
    this.framer.reset();
    this.outq.length = 0;
    this.outOff = 0;
  }

  private fail(dv: DataView, conn: Connection, error: number): void {
    conn.broken = true;
    dv.setUint32(RING.ERROR, error, true);
  }

  /** Writes queued output into rsp; returns true if it wrote anything. */
  private flush(dv: DataView, page: Uint8Array, conn: Connection): boolean {
    if (this.outq.length === 0) return false;
    const cons = dv.getUint32(RING.RSP_CONS, true);
    let prod = dv.getUint32(RING.RSP_PROD, true);
    const used = (prod - cons) >>> 0;
    if (used > XENSTORE_RING_SIZE) { this.fail(dv, conn, XENSTORE_ERROR_RINGIDX); return false; }
    let space = XENSTORE_RING_SIZE - used;
    let wrote = false;
    while (space > 0 && this.outq.length > 0) {
      const msg = this.outq[0];
      const n = Math.min(space, msg.length - this.outOff, XENSTORE_RING_SIZE - (prod & MASK));
      page.set(msg.subarray(this.outOff, this.outOff + n), RING.RSP + (prod & MASK));
      prod = (prod + n) >>> 0;
      space -= n;
      this.outOff += n;
      wrote = true;
      if (this.outOff === msg.length) { this.outq.shift(); this.outOff = 0; }
    }
    if (wrote) dv.setUint32(RING.RSP_PROD, prod, true);
    return wrote;
  }

  /**
   * Moves data both ways: replies/events into rsp, complete requests from req to conn.handle.
   * Returns true if it consumed or produced anything (the host should then notify the guest).
   * A hostile page (impossible indexes, oversized messages) marks the connection broken and sets
   * the page's error field; it never throws or spins.
   */
  pump(conn: Connection): boolean {
    // Re-entrant calls (an onOutput that pumps synchronously, from inside a request) are deferred
    // to the outer call, which runs again.
    if (this.busy) { this.again = true; return false; }
    this.busy = true;
    let progress = false;
    try {
      for (let i = 0; i < 8; i++) {
        this.again = false;
        if (this.pumpOnce(conn)) progress = true;
        if (!this.again) break;
      }
    } finally {
      this.busy = false;
    }
    return progress;
  }

  private busy = false;
  private again = false;

  private pumpOnce(conn: Connection): boolean {
    const dv = this.view();
    if (!dv || conn.broken || conn.closed) return false;
    const page = this.getPage();
    let progress = false;
    try {
      if (dv.getUint32(RING.CONNECTION, true) === XENSTORE_RECONNECT) {
        conn.reset();
        this.init(dv.getUint32(RING.SERVER_FEATURES, true));
        dv.setUint32(RING.CONNECTION, XENSTORE_CONNECTED, true);
        return true;
      }
      const maxQueued = this.opts.maxQueued ?? conn.store.quota.outstanding;
      for (let round = 0; round < 4 * XENSTORE_RING_SIZE; round++) {
        if (this.flush(dv, page, conn)) progress = true;
        if (conn.broken) break;
        if (conn.privileged === false && maxQueued > 0 && this.outq.length >= maxQueued) break;
        const cons = dv.getUint32(RING.REQ_CONS, true);
        const prod = dv.getUint32(RING.REQ_PROD, true);
        const avail = (prod - cons) >>> 0;
        if (avail > XENSTORE_RING_SIZE) { this.fail(dv, conn, XENSTORE_ERROR_RINGIDX); break; }
        if (avail === 0) break;
        const off = cons & MASK;
        const n = Math.min(avail, XENSTORE_RING_SIZE - off, this.framer.wanted);
        const r = this.framer.feed(page.subarray(RING.REQ + off, RING.REQ + off + n));
        dv.setUint32(RING.REQ_CONS, (cons + r.used) >>> 0, true);
        progress = true;
        if (this.framer.error) { this.fail(dv, conn, XENSTORE_ERROR_PROTO); break; }
        if (r.done) {
          conn.handle(r.done);
          if (conn.broken) { this.fail(dv, conn, XENSTORE_ERROR_PROTO); break; }
        }
        if (r.used === 0) break;
      }
      if (!conn.broken && this.flush(dv, page, conn)) progress = true;
    } catch {
      conn.broken = true;
    }
    return progress;
  }

  /** Clears the error field and local state after the host has dealt with a broken connection. */
  clearError(): void {
    const dv = this.view();
    if (dv) dv.setUint32(RING.ERROR, XENSTORE_ERROR_NONE, true);
    this.framer.reset();
  }
}
