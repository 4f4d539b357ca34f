// The store daemon: connections, request dispatch, domains (introduce/release) and watches.
// Pure and synchronous: the host feeds complete requests to Connection.handle and every reply or
// watch event leaves through the connections' `send` callbacks.
import * as ops from "./ops";
import type { Quota } from "./ops";
import { Transaction, type View } from "./transaction";
import {
  canonicalize, domainPath, DOMID_ANY, makeNode, parsePerm, Tree,
  type Node, type Perm, type Who,
} from "./tree";
import { fireWatches, removeWatch, type Match, type Watch, type Watcher } from "./watch";
import {
  bytesToStr, encode, errorPayload, HEADER_SIZE, oneArg, readHeader, splitStrings, strToBytes, XS,
  XsError, XENSTORE_PAYLOAD_MAX, XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_WATCHDEPTH,
  XENSTORE_SERVER_FEATURE_DOMID_ANY, XENSTORE_REL_PATH_MAX, type XsErrno,
} from "./wire";

export type { Quota } from "./ops";

/** xenstored's defaults (tools/xenstored/domain.c). */
export const DEFAULT_QUOTA: Quota = {
  nodes: 1000,
  nodeSize: 2048,
  watches: 128,
  transactions: 10,
  outstanding: 20,
  permissions: 5,
  pathMax: XENSTORE_REL_PATH_MAX,
};

/** Features this daemon offers (written to the ring page's server_features). */
export const SERVER_FEATURES =
  XENSTORE_SERVER_FEATURE_ERROR | XENSTORE_SERVER_FEATURE_WATCHDEPTH | XENSTORE_SERVER_FEATURE_DOMID_ANY;

const DOMID_FIRST_RESERVED = 0x7ff0;
const DOMID_SELF = 0x7ff0;

export interface XenStoreOptions {
  quota?: Partial<Quota>;
  /** XS_INTRODUCE from dom0 tools: the host should map the page / bind the port and connect. */
  onIntroduce?: (domid: number, gfn: number, evtchn: number) => void;
  /** The domain was released (XS_RELEASE or XenStore.release): the host drops its ring. */
  onRelease?: (domid: number) => void;
}

interface DomainInfo { gfn: number; evtchn: number; shutdown: boolean }

type Value = Uint8Array | string;
const asBytes = (v: Value) => (typeof v === "string" ? strToBytes(v) : v);

function parseDomid(s: string | null, allowSelf = false): number {
  if (s === null || !/^[0-9]{1,10}$/.test(s)) throw new XsError("EINVAL");
  const d = Number(s);
  if (d === DOMID_SELF && allowSelf) return d;
  if (d >= DOMID_FIRST_RESERVED) throw new XsError("EINVAL");
  return d;
}

export class Connection implements Watcher {
  /** Framing garbage or a protocol violation: the caller should drop this connection. */
  broken = false;
  /** Released or closed: requests are ignored, nothing is sent. */
  closed = false;
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  private nextTx = 1;

  constructor(readonly store: XenStore, readonly domid: number, private readonly send: (msg: Uint8Array) => void) {}

  get privileged(): boolean { return this.domid === 0; }

  get who(): Who {
    return { domid: this.domid, privileged: this.privileged, target: this.store.targets.get(this.domid) };
  }

  /** Processes one complete request (header + payload). Never throws. */
  handle(msg: Uint8Array): void {
    if (this.broken || this.closed) return;
    try {
      if (!(msg instanceof Uint8Array) || msg.length < HEADER_SIZE) { this.broken = true; return; }
      const h = readHeader(msg);
      if (h.len > XENSTORE_PAYLOAD_MAX || h.len !== msg.length - HEADER_SIZE) { this.broken = true; return; }
      let reply: Value;
      let type = h.type;
      try {
        reply = this.dispatch(h.type, h.txId, msg.subarray(HEADER_SIZE));
        if (reply.length > XENSTORE_PAYLOAD_MAX) throw new XsError("E2BIG");
      } catch (e) {
        const errno: XsErrno = e instanceof XsError ? e.errno : "EIO";
        reply = errorPayload(errno);
        type = XS.ERROR;
      }
      this.out(encode(type, h.reqId, h.txId, reply));
      this.flushDeferred();
    } catch {
      this.broken = true;
    }
  }

  private deferred: Array<() => void> = [];

  private out(msg: Uint8Array): void {
    if (this.closed) return;
    this.send(msg);
  }

  private flushDeferred(): void {
    const d = this.deferred;
    this.deferred = [];
    for (const f of d) f();
  }

  sendEvent(path: string, token: string): void {
    const payload = path + "\0" + token + "\0";
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    this.out(encode(XS.WATCH_EVENT, 0, 0, payload));
  }

  /** Drops watches and transactions (RESET_WATCHES, ring reconnect). */
  reset(): void {
    this.watches.length = 0;
    this.transactions.clear();
  }

  /** Removes the connection from the store. */
  close(): void {
    this.reset();
    this.closed = true;
    this.store.conns.delete(this);
  }

  private view(txId: number): View {
    if (txId === 0) return this.store.live;
    const t = this.transactions.get(txId);
    if (!t) throw new XsError("ENOENT");
    return t;
  }

  private path(p: string | null, special = false): string {
    return canonicalize(p, this.who, special, this.store.quota.pathMax);
  }

  private dispatch(type: number, txId: number, p: Uint8Array): Value {
    const s = this.store;
    const q = s.quota;
    const PRIV = [XS.CONTROL, XS.INTRODUCE, XS.RELEASE, XS.IS_DOMAIN_INTRODUCED, XS.RESUME, XS.SET_TARGET] as number[];
    if (PRIV.includes(type) && !this.privileged) throw new XsError("EACCES");
    switch (type) {
      case XS.READ: return ops.read(this.view(txId), this.who, this.path(oneArg(p)));
      case XS.DIRECTORY: return ops.directory(this.view(txId), this.who, this.path(oneArg(p)));
      case XS.DIRECTORY_PART: {
        const a = splitStrings(p);
        if (a.length !== 2) throw new XsError("EINVAL");
        const v = this.view(txId);
        return ops.directoryPart(v, this.who, this.path(a[0]), parseInt(a[1], 10) || 0);
      }
      case XS.GET_PERMS: return ops.getPerms(this.view(txId), this.who, this.path(oneArg(p), true));
      case XS.WRITE: {
        const nul = p.indexOf(0);
        if (nul < 0) throw new XsError("EINVAL");
        const v = this.view(txId);
        ops.write(v, this.who, q, this.path(bytesToStr(p.subarray(0, nul))), p.slice(nul + 1));
        return "OK\0";
      }
      case XS.MKDIR: ops.mkdir(this.view(txId), this.who, q, this.path(oneArg(p))); return "OK\0";
      case XS.RM: ops.rm(this.view(txId), this.who, this.path(oneArg(p))); return "OK\0";
      case XS.SET_PERMS: {
        const a = splitStrings(p);
        if (a.length < 2) throw new XsError("EINVAL");
        const v = this.view(txId);
        ops.setPerms(v, this.who, q, this.path(a[0], true), a.slice(1));
        return "OK\0";
      }
      case XS.WATCH: {
        const a = splitStrings(p);
        let depth = -1;
        if (a.length === 3) {
          depth = parseInt(a[2], 10) || 0;
          if (depth < 0) throw new XsError("EINVAL");
        } else if (a.length !== 2) throw new XsError("EINVAL");
        const relative = a[0].length > 0 && a[0][0] !== "/" && a[0][0] !== "@";
        const path = this.path(a[0], true);
        const token = a[1];
        if (this.watches.some((w) => w.path === path && w.token === token)) throw new XsError("EEXIST");
        if (!this.privileged && q.watches > 0 && s.watchCount(this.domid) >= q.watches) throw new XsError("ENOSPC");
        const w: Watch = { path, token, depth, prefixLen: relative ? domainPath(this.domid).length + 1 : 0 };
        this.watches.push(w);
        // The reply goes first, then the initial event.
        this.deferred.push(() => { if (this.watches.includes(w)) this.sendEvent(path.slice(w.prefixLen), token); });
        return "OK\0";
      }
      case XS.UNWATCH: {
        const a = splitStrings(p);
        if (a.length !== 2) throw new XsError("EINVAL");
        removeWatch(this.watches, this.path(a[0], true), a[1]);
        return "OK\0";
      }
      case XS.TRANSACTION_START: {
        if (txId !== 0) { this.view(txId); throw new XsError("EBUSY"); }
        if (!this.privileged && q.transactions > 0 && s.transactionCount(this.domid) >= q.transactions)
          throw new XsError("ENOSPC");
        let id = this.nextTx;
        while (id === 0 || this.transactions.has(id)) id = (id + 1) >>> 0;
        this.nextTx = (id + 1) >>> 0;
        this.transactions.set(id, new Transaction(id, s.tree, () => ++s.generation));
        return `${id}\0`;
      }
      case XS.TRANSACTION_END: {
        const arg = oneArg(p);
        if (arg !== "T" && arg !== "F") throw new XsError("EINVAL");
        const t = txId === 0 ? undefined : this.transactions.get(txId);
        if (!t) throw new XsError("ENOENT");
        this.transactions.delete(txId);
        if (arg === "T") {
          t.commit(s.tree);
          for (const e of t.events) s.fire(e.name, e.node, e.match, e.oldPerms);
        }
        return "OK\0";
      }
      case XS.GET_DOMAIN_PATH: return domainPath(parseDomid(oneArg(p))) + "\0";
      case XS.INTRODUCE: {
        const a = splitStrings(p);
        if (a.length < 3) throw new XsError("EINVAL");
        const domid = parseDomid(a[0]);
        const gfn = parseInt(a[1], 10) || 0;
        const port = parseInt(a[2], 10) || 0;
        if (port <= 0 || domid === 0) throw new XsError("EINVAL");
        this.view(txId);
        s.introduce(domid, { gfn, evtchn: port });
        s.options.onIntroduce?.(domid, gfn, port);
        return "OK\0";
      }
      case XS.RELEASE: {
        const domid = s.connectedDomain(oneArg(p));
        this.view(txId);
        s.release(domid);
        return "OK\0";
      }
      case XS.RESUME: {
        const domid = s.connectedDomain(oneArg(p));
        this.view(txId);
        s.resume(domid);
        return "OK\0";
      }
      case XS.IS_DOMAIN_INTRODUCED: {
        const domid = parseDomid(oneArg(p), true);
        return (domid === DOMID_SELF || s.isIntroduced(domid) ? "T" : "F") + "\0";
      }
      case XS.SET_TARGET: {
        const a = splitStrings(p);
        if (a.length < 2) throw new XsError("EINVAL");
        const domid = parseDomid(a[0]), tdomid = parseDomid(a[1]);
        for (const d of [domid, tdomid]) if (!s.isIntroduced(d)) throw new XsError("ENOENT");
        this.view(txId);
        s.targets.set(domid, tdomid);
        return "OK\0";
      }
      case XS.RESET_WATCHES: this.reset(); return "OK\0";
      case XS.CONTROL: {
        const a = splitStrings(p);
        if (a[0] === "check" || a[0] === "print") return "OK\0";
        if (a[0] === "help") return "check\nhelp\nprint\n\0";
        throw new XsError("EINVAL");
      }
      default: throw new XsError("ENOSYS");
    }
  }
}

export class XenStore {
  readonly tree = new Tree();
  generation = 0;
  readonly quota: Quota;
  readonly conns = new Set<Connection>();
  readonly targets = new Map<number, number>();
  private readonly domains = new Map<number, DomainInfo>();
  /** Operations on the live tree: changes apply and fire watches at once. */
  readonly live: View;
  /** dom0's identity, for the host-side helpers below. */
  readonly dom0: Who = { domid: 0, privileged: true };

  constructor(readonly options: XenStoreOptions = {}) {
    this.quota = { ...DEFAULT_QUOTA, ...options.quota };
    const tree = this.tree;
    this.live = {
      tree,
      get: (p) => tree.get(p),
      set: (p, n) => tree.set(p, { ...n, gen: ++this.generation }),
      delete: (p) => tree.delete(p),
      count: (d) => tree.count(d),
      fire: (name, node, match, oldPerms) => this.fire(name, node, match, oldPerms),
    };
    // xenstored's setup_structure, plus what xen-init-dom0 writes.
    const n0: Perm[] = [{ domid: 0, perm: "n" }];
    tree.set("/", makeNode(n0, undefined, ["tool"]));
    tree.set("/tool", makeNode(n0, undefined, ["xenstored"]));
    tree.set("/tool/xenstored", makeNode(n0));
    tree.set("@releaseDomain", makeNode([{ domid: 0, perm: "n" }, { domid: DOMID_ANY, perm: "r" }]));
    tree.set("@introduceDomain", makeNode(n0));
    this.domains.set(0, { gfn: 0, evtchn: 0, shutdown: false });
    this.write("/local/domain/0/name", "Domain-0");
    this.write("/local/domain/0/domid", "0");
  }

  /** A connection for a domain's ring (or, with domid 0, for dom0 tools). */
  connect(domid: number, send: (msg: Uint8Array) => void): Connection {
    const c = new Connection(this, domid, send);
    this.conns.add(c);
    return c;
  }

  getDomainPath(domid: number): string { return domainPath(domid); }

  isIntroduced(domid: number): boolean { return this.domains.has(domid); }

  /** Marks a domain as connected to the store and fires @introduceDomain (once). */
  introduce(domid: number, info: { gfn?: number; evtchn?: number } = {}): void {
    const d = this.domains.get(domid);
    if (d) { if (info.evtchn) d.evtchn = info.evtchn; return; }
    this.domains.set(domid, { gfn: info.gfn ?? 0, evtchn: info.evtchn ?? 0, shutdown: false });
    if (domid !== 0) this.fireSpecial("@introduceDomain", domid, true, true);
  }

  /**
   * Disconnects a domain: its connections (with their watches and transactions) go away, nodes it
   * owned pass to dom0, permission entries naming it are dropped, and @releaseDomain fires.
   */
  release(domid: number): void {
    if (domid === 0) return;
    for (const c of [...this.conns]) if (c.domid === domid) c.close();
    for (const p of this.tree.naming(domid)) {
      const n = this.tree.get(p)!;
      let perms = n.perms.filter((x, i) => i === 0 || x.domid !== domid);
      if (perms[0]?.domid === domid) perms = [{ domid: 0, perm: perms[0].perm }, ...perms.slice(1)];
      if (perms.length !== n.perms.length || perms[0] !== n.perms[0]) this.tree.set(p, { ...n, perms });
    }
    this.targets.delete(domid);
    for (const [d, t] of [...this.targets]) if (t === domid) this.targets.delete(d);
    const was = this.domains.delete(domid);
    if (was) this.fireSpecial("@releaseDomain", domid, true, true);
    if (was) this.options.onRelease?.(domid);
  }

  /** The domain shut down (or crashed): @releaseDomain/<domid> watchers hear it once. */
  shutdown(domid: number): void {
    const d = this.domains.get(domid);
    if (!d || d.shutdown) return;
    d.shutdown = true;
    this.fireSpecial("@releaseDomain", domid, false, true);
  }

  resume(domid: number): void {
    const d = this.domains.get(domid);
    if (d) d.shutdown = false;
  }

  /** For RELEASE/RESUME: a real, connected domain other than dom0. */
  connectedDomain(s: string | null): number {
    const domid = parseDomid(s);
    if (domid === 0) throw new XsError("EINVAL");
    if (!this.domains.has(domid)) throw new XsError("ENOENT");
    return domid;
  }

  watchCount(domid: number): number {
    let n = 0;
    for (const c of this.conns) if (c.domid === domid) n += c.watches.length;
    return n;
  }

  transactionCount(domid: number): number {
    let n = 0;
    for (const c of this.conns) if (c.domid === domid) n += c.transactions.size;
    return n;
  }

  fire(name: string, node: Node | undefined, match: Match, oldPerms?: readonly Perm[]): void {
    fireWatches(this.conns, this.tree, name, node, match, oldPerms);
  }

  private fireSpecial(name: string, domid: number, nodom: boolean, dom: boolean): void {
    const node = this.tree.get(name);
    if (!node) return;
    if (nodom) this.fire(name, node, "nodepth");
    if (dom) this.fire(`${name}/${domid}`, node, "depth");
  }

  // --- Host-side helpers: dom0 operations on the live tree (watches fire as usual). ---

  read(path: string): Uint8Array | undefined { return this.tree.get(path)?.value; }

  readString(path: string): string | undefined {
    const v = this.read(path);
    return v === undefined ? undefined : bytesToStr(v);
  }

  directory(path: string): string[] { return [...(this.tree.get(path)?.children ?? [])]; }

  /** Writes a value (creating parents, which inherit perms); optionally sets the node's perms. */
  write(path: string, value: Value, perms?: Perm[]): void {
    ops.write(this.live, this.dom0, this.quota, canonicalize(path, this.dom0, false, 0), asBytes(value));
    if (perms) this.setPerms(path, perms);
  }

  mkdir(path: string, perms?: Perm[]): void {
    ops.mkdir(this.live, this.dom0, this.quota, canonicalize(path, this.dom0, false, 0));
    if (perms) this.setPerms(path, perms);
  }

  rm(path: string): void { ops.rm(this.live, this.dom0, canonicalize(path, this.dom0, false, 0)); }

  setPerms(path: string, perms: Perm[]): void {
    ops.setPerms(
      this.live, this.dom0, this.quota, canonicalize(path, this.dom0, true, 0), perms.map((p) => p.perm + p.domid)
    );
  }

  getPerms(path: string): Perm[] | undefined { return this.tree.get(path)?.perms.map((p) => ({ ...p })); }
}

export { parsePerm };
