// Test helpers for the xenstore daemon: a direct client (messages straight into Connection.handle)
// and the guest side of a shared xenstore page.
import {
  bytesToStr, Connection, encode, Framer, readHeader, RING, XenStore, XS, XENSTORE_RING_SIZE,
} from "../../host/devices/xenstore";

export interface Msg { type: number; reqId: number; txId: number; body: string }

export function decode(m: Uint8Array): Msg {
  const h = readHeader(m);
  return { type: h.type, reqId: h.reqId, txId: h.txId, body: bytesToStr(m.subarray(16)) };
}

export class Client {
  readonly conn: Connection;
  readonly inbox: Msg[] = [];
  private reqId = 1;

  constructor(readonly store: XenStore, readonly domid: number) {
    this.conn = store.connect(domid, (m) => this.inbox.push(decode(m)));
  }

  /** Sends one request; returns its reply (events that arrive stay in `events`). */
  req(type: number, body: string, tx = 0): Msg {
    const id = this.reqId++;
    this.conn.handle(encode(type, id, tx, body));
    const i = this.inbox.findIndex((m) => m.type !== XS.WATCH_EVENT && m.reqId === id);
    if (i < 0) throw new Error(`no reply to request ${id}`);
    return this.inbox.splice(i, 1)[0];
  }

  /** "OK", the value, or "ERR:<errno>". */
  r(type: number, body: string, tx = 0): string {
    const m = this.req(type, body, tx);
    return m.type === XS.ERROR ? `ERR:${m.body.replace(/\0$/, "")}` : m.body;
  }

  read(p: string, tx = 0) { return this.r(XS.READ, p + "\0", tx); }
  write(p: string, v: string, tx = 0) { return this.r(XS.WRITE, p + "\0" + v, tx); }
  mkdir(p: string, tx = 0) { return this.r(XS.MKDIR, p + "\0", tx); }
  rm(p: string, tx = 0) { return this.r(XS.RM, p + "\0", tx); }
  dir(p: string, tx = 0) { return this.r(XS.DIRECTORY, p + "\0", tx); }
  getPerms(p: string) { return this.r(XS.GET_PERMS, p + "\0"); }
  setPerms(p: string, ...perms: string[]) { return this.r(XS.SET_PERMS, [p, ...perms].map((s) => s + "\0").join("")); }
  watch(p: string, tok: string) { return this.r(XS.WATCH, `${p}\0${tok}\0`); }
  unwatch(p: string, tok: string) { return this.r(XS.UNWATCH, `${p}\0${tok}\0`); }
  txStart(): number { return Number(this.r(XS.TRANSACTION_START, "\0").replace(/\0$/, "")); }
  txEnd(tx: number, commit: boolean) { return this.r(XS.TRANSACTION_END, commit ? "T\0" : "F\0", tx); }

  /** Watch events received so far as "path|token", then forgotten. */
  events(): string[] {
    const ev = this.inbox.filter((m) => m.type === XS.WATCH_EVENT).map((m) => m.body.split("\0").slice(0, 2).join("|"));
    this.inbox.length = 0;
    return ev;
  }
}

/** The guest's half of a xenstore page. */
export class GuestSide {
  readonly dv: DataView;
  private framer = new Framer();

  constructor(readonly page: Uint8Array) {
    this.dv = new DataView(page.buffer, page.byteOffset, page.length);
  }

  u32(off: number): number { return this.dv.getUint32(off, true); }
  set(off: number, v: number): void { this.dv.setUint32(off, v >>> 0, true); }

  /** Writes as much of `bytes` as fits into req; returns the count written. */
  put(bytes: Uint8Array): number {
    let prod = this.u32(RING.REQ_PROD);
    const cons = this.u32(RING.REQ_CONS);
    const space = XENSTORE_RING_SIZE - ((prod - cons) >>> 0);
    const n = Math.min(space, bytes.length);
    for (let i = 0; i < n; i++) {
      this.page[RING.REQ + (prod & (XENSTORE_RING_SIZE - 1))] = bytes[i]; prod = (prod + 1) >>> 0;
    }
    this.set(RING.REQ_PROD, prod);
    return n;
  }

  /** Reads everything available in rsp; returns the complete messages seen. */
  take(): Msg[] {
    let cons = this.u32(RING.RSP_CONS);
    const prod = this.u32(RING.RSP_PROD);
    const bytes: number[] = [];
    while (cons !== prod) {
      bytes.push(this.page[RING.RSP + (cons & (XENSTORE_RING_SIZE - 1))]); cons = (cons + 1) >>> 0;
    }
    this.set(RING.RSP_CONS, cons);
    return this.framer.push(new Uint8Array(bytes)).map(decode);
  }
}
