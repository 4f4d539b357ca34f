// A learning Ethernet bridge (what Xen's vif-bridge script puts the backend interfaces on, xenbr0):
// every vif of every domain is a port; source MACs are learnt with the port they came in on and age
// out; frames to a known unicast address go to that port only, broadcast, multicast and unknown
// unicast flood to every other port; no frame ever goes back out of the port it came in on. One port
// may be the host's uplink (a later NAT or TAP: here only the interface, `attachHost`).
import { completeChecksum } from "./csum";

/** One Ethernet frame (destination MAC first, no FCS) with the offload state it travels with. */
export interface Frame {
  data: Uint8Array;
  /** The L4 checksum field holds only the pseudo-header sum (Linux CHECKSUM_PARTIAL, NETTXF_csum_blank). */
  csumBlank?: boolean;
  /** The sender vouches for the checksums (NETTXF_data_validated). */
  validated?: boolean;
}

/** What sits on a bridge port: a vif's backend, or the host's uplink. */
export interface BridgeEndpoint {
  readonly name: string;
  /** Take a frame leaving the bridge through this port. Must not keep or modify `f.data`. */
  deliver(f: Frame): void;
  /** True if this endpoint cannot take frames with blank checksums (they are completed first). */
  readonly noCsumBlank?: boolean;
}

export interface PortStats { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number }

export class BridgePort {
  readonly stats: PortStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
  attached = true;
  constructor(
    private readonly bridge: Bridge, readonly id: number, readonly endpoint: BridgeEndpoint, readonly host: boolean
  ) {}
  get name(): string { return this.endpoint.name; }
  /** A frame entering the bridge from this port. */
  input(f: Frame): void { this.bridge.input(this, f); }
  detach(): void { this.bridge.detach(this); }
}

export interface BridgeOptions {
  /** How long a learnt address stays without being seen again (Linux's default: 300 s). */
  ageingMs?: number;
  /** At most this many learnt addresses; beyond it new ones are not learnt (their frames flood). */
  maxEntries?: number;
  /** The clock (ms), for tests. */
  now?: () => number;
}

export interface BridgeStats { forwarded: number; flooded: number; filtered: number; dropped: number; learned: number }

export const ETH_HLEN = 14;

/** "00:16:3e:12:34:56" for the six bytes at `off`. */
export function macString(b: Uint8Array, off = 0): string {
  let s = "";
  for (let i = 0; i < 6; i++) s += (i ? ":" : "") + (b[off + i] ?? 0).toString(16).padStart(2, "0");
  return s;
}

/** The six bytes of "00:16:3e:12:34:56". */
export function macBytes(mac: string): Uint8Array {
  const p = mac.split(":");
  if (p.length !== 6) throw new Error(`bad MAC address ${mac}`);
  return new Uint8Array(p.map((o) => parseInt(o, 16)));
}

/** The 48-bit address at `off` as a number (a map key). */
function macKey(b: Uint8Array, off: number): number {
  return b[off] * 2 ** 40 + b[off + 1] * 2 ** 32 + ((b[off + 2] << 24) >>> 0) + (b[off + 3] << 16) + (b[off + 4] << 8)
    + b[off + 5];
}

interface FdbEntry { port: BridgePort; seen: number }

export class Bridge {
  readonly stats: BridgeStats = { forwarded: 0, flooded: 0, filtered: 0, dropped: 0, learned: 0 };
  private readonly ports = new Map<number, BridgePort>();
  private readonly fdb = new Map<number, FdbEntry>();
  private nextId = 1;
  private hostPort?: BridgePort;
  readonly ageingMs: number;
  readonly maxEntries: number;
  private readonly now: () => number;

  constructor(readonly name = "xenbr0", o: BridgeOptions = {}) {
    this.ageingMs = o.ageingMs ?? 300_000;
    this.maxEntries = o.maxEntries ?? 4096;
    this.now = o.now ?? Date.now;
  }

  /** Add a port for `ep` (a vif). */
  attach(ep: BridgeEndpoint): BridgePort {
    const p = new BridgePort(this, this.nextId++, ep, false);
    this.ports.set(p.id, p);
    return p;
  }

  /** Add the host's uplink (NAT or TAP, later): one per bridge. */
  attachHost(ep: BridgeEndpoint): BridgePort {
    if (this.hostPort?.attached) throw new Error(`bridge ${this.name} already has a host port (${this.hostPort.name})`);
    const p = new BridgePort(this, this.nextId++, ep, true);
    this.ports.set(p.id, p);
    this.hostPort = p;
    return p;
  }

  get host(): BridgePort | undefined { return this.hostPort?.attached ? this.hostPort : undefined; }

  /** Remove a port and forget every address learnt on it. */
  detach(p: BridgePort): void {
    if (!p.attached) return;
    p.attached = false;
    this.ports.delete(p.id);
    for (const [k, e] of this.fdb) if (e.port === p) this.fdb.delete(k);
    if (this.hostPort === p) this.hostPort = undefined;
  }

  portList(): BridgePort[] { return [...this.ports.values()]; }

  /** The port an address was learnt on (if it has not aged out). */
  lookup(mac: string): BridgePort | undefined {
    const e = this.fdb.get(macKey(macBytes(mac), 0));
    return e && this.now() - e.seen <= this.ageingMs ? e.port : undefined;
  }

  /** The forwarding table, as `brctl showmacs` shows it. */
  table(): { mac: string; port: number; name: string; ageMs: number }[] {
    const now = this.now();
    const out: { mac: string; port: number; name: string; ageMs: number }[] = [];
    for (const [k, e] of this.fdb) {
      if (now - e.seen > this.ageingMs) continue;
      const b = new Uint8Array(6);
      let v = k;
      for (let i = 5; i >= 0; i--) { b[i] = v % 256; v = Math.floor(v / 256); }
      out.push({ mac: macString(b), port: e.port.id, name: e.port.name, ageMs: now - e.seen });
    }
    return out;
  }

  /** Drop every learnt address older than the ageing time. */
  expire(): void {
    const now = this.now();
    for (const [k, e] of this.fdb) if (now - e.seen > this.ageingMs) this.fdb.delete(k);
  }

  /** A frame entering from port `src`. */
  input(src: BridgePort, f: Frame): void {
    const d = f.data;
    if (!src.attached || d.length < ETH_HLEN) { this.stats.dropped++; return; }
    src.stats.rxFrames++;
    src.stats.rxBytes += d.length;
    // A multicast or all-zero source is invalid: such frames are dropped, as Linux's bridge does.
    if ((d[6] & 1) !== 0 || macKey(d, 6) === 0) { this.stats.dropped++; return; }
    const now = this.now();
    const sk = macKey(d, 6);
    const known = this.fdb.get(sk);
    if (known) { known.port = src; known.seen = now; }
    else {
      if (this.fdb.size >= this.maxEntries) this.expire();
      if (this.fdb.size < this.maxEntries) { this.fdb.set(sk, { port: src, seen: now }); this.stats.learned++; }
    }
    if ((d[0] & 1) === 0) {
      const e = this.fdb.get(macKey(d, 0));
      if (e && now - e.seen <= this.ageingMs) {
        if (e.port === src) { this.stats.filtered++; return; } // the destination is on the source's side
        this.stats.forwarded++;
        this.out(e.port, f);
        return;
      }
    }
    this.stats.flooded++;
    for (const p of [...this.ports.values()]) if (p !== src && p.attached) this.out(p, f);
  }

  private completed?: { from: Frame; to: Frame };
  private out(p: BridgePort, f: Frame): void {
    let g = f;
    if (f.csumBlank && p.endpoint.noCsumBlank) {
      // Fill in the checksum once per frame, on a copy (the sender's frame is shared).
      if (this.completed?.from !== f) {
        const data = f.data.slice();
        completeChecksum(data);
        this.completed = { from: f, to: { data, validated: true } };
      }
      g = this.completed.to;
    }
    p.stats.txFrames++;
    p.stats.txBytes += g.data.length;
    try { p.endpoint.deliver(g); } catch { this.stats.dropped++; }
  }
}
