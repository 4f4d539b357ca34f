// The PV network backend (io/netif.h): one vif of a guest, a port on the host's bridge. The xenbus
// handshake is the common one (../xenbus/backend.ts) with Xen's netback's keys: the backend
// advertises its features and waits (InitWait); the frontend writes tx-ring-ref, rx-ring-ref,
// event-channel (or event-channel-tx/-rx), request-rx-copy=1 and goes Connected; the backend maps the
// two rings, binds the channel(s) and goes Connected; Closing/Closed from the frontend close it.
//
// Transmit: each packet is one tx request (NETTXF_more_data chains more slots when it spans pages,
// NETTXF_extra_info adds extra-info slots); its bytes are copied out of the granted pages (mapped
// read-only), every slot gets a response (extra-info slots NETIF_RSP_NULL), the frame goes to the
// bridge. Receive (rx-copy, the only mode): each frame takes one rx request per page it needs, is
// copied into the granted pages (mapped writable), and gets responses with offset 0 and the length as
// status. A frame finding too few rx buffers is dropped and counted.
//
// The rings live in the guest's memory and are distrusted: a bad grant, a slot beyond the page or an
// undersized packet is answered NETIF_RSP_ERROR; an impossible ring index (more requests than the ring
// holds) or an endless slot chain disconnects the vif (state Closing), like Linux's fatal tx errors.
import type { XenStore } from "../xenstore/store";
import { XenbusBackend, uintKey, type XenbusCore } from "../xenbus/backend";
import { Bridge, BridgePort, Frame, ETH_HLEN, macString } from "./bridge";

/** The part of Core the backend uses (so tests can give it a fake one). */
export type NetCore = XenbusCore;

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;
export const NETTXF_csum_blank = 1, NETTXF_data_validated = 2, NETTXF_more_data = 4, NETTXF_extra_info = 8;
export const NETRXF_data_validated = 1, NETRXF_csum_blank = 2, NETRXF_more_data = 4, NETRXF_extra_info = 8;
export const XEN_NETIF_EXTRA_FLAG_MORE = 1;
export const XEN_NETIF_EXTRA_TYPE_MAX = 5;
/** Ring layout (io/ring.h): req_prod @0, req_event @4, rsp_prod @8, rsp_event @12, entries @64. */
export const RING_HDR = 64;
/** netif_tx_request {gref u32, offset u16, flags u16, id u16, size u16}: 12 bytes; (4096-64)/12 → 256 slots. */
export const TX_SLOT = 12;
/** netif_rx_request {id u16, pad, gref u32} / netif_rx_response {id, offset, flags, status i16}: 8 bytes → 256. */
export const RX_SLOT = 8;
export const RING_SIZE = 256;
const PAGE = 4096;
/** Slots one packet may use (XEN_NETIF_NR_SLOTS_MIN); more is an error, an unterminated chain fatal. */
export const MAX_TX_SLOTS = 18;
const FATAL_TX_SLOTS = 20;

export interface NetStats {
  txPackets: number; txBytes: number; txErrors: number;
  rxPackets: number; rxBytes: number; rxErrors: number;
  /** Frames for this vif dropped because it was not connected or had no rx buffers. */
  rxDropped: number;
}

export interface VifOptions { mac: string; bridgeName?: string }

/** A vif of a new domain (the net backend's device parameters): its MAC (random if none) and devid
 * (the next free one if none; a hot-plugged vif keeps its devid across save/restore, migration and
 * reboot). */
export interface VifSpec { mac?: string; devid?: number }

export class NetBack extends XenbusBackend {
  readonly mac: string;
  readonly stats: NetStats =
    { txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxErrors: 0, rxDropped: 0 };
  private txMa = 0;
  private rxMa = 0;
  private txPort = -1;
  private rxPort = -1;
  private txReqCons = 0;
  private txRspProd = 0;
  private rxReqCons = 0;
  private rxRspProd = 0;
  private rxSg = false;
  private rxCsumBlank = true;
  private readonly port: BridgePort;

  constructor(core: NetCore, store: XenStore, domid: number, devid: number, bridge: Bridge, o: VifOptions) {
    super(core, store, domid, "vif", devid);
    this.mac = o.mac;
    // What libxl writes for a vif, then what netback adds when it probes.
    this.publish([["handle", String(devid)], ["mac", this.mac], ["mtu", "1500"]], [
      ["handle", String(devid)], ["mac", this.mac], ["bridge", o.bridgeName ?? bridge.name], ["type", "vif"],
      ["mtu", "1500"],
      ["feature-sg", "1"], ["feature-gso-tcpv4", "0"], ["feature-gso-tcpv6", "0"], ["feature-ipv6-csum-offload", "1"],
      ["feature-rx-copy", "1"], ["feature-rx-flip", "0"], ["feature-split-event-channels", "1"],
      ["multi-queue-max-queues", "1"], ["feature-ctrl-ring", "0"],
      ["hotplug-status", "connected"], // what vif-bridge reports once the port is on the bridge
    ]);
    const self = this;
    this.port = bridge.attach({
      name: `vif${domid}.${devid}`,
      deliver: (f: Frame) => self.deliver(f),
      get noCsumBlank() { return !self.rxCsumBlank; },
    });
  }

  get name(): string { return this.port.name; }

  protected serve(): boolean {
    const x = this.core.x;
    const pending = x.hv_evtchn_take(this.txPort) === 1;
    if (this.rxPort !== this.txPort) x.hv_evtchn_take(this.rxPort);
    const did = this.serveTx();
    return pending || did;
  }

  protected connectRings(): string | undefined {
    const num = (k: string): number => uintKey(this.feRead(k));
    const txRef = num("tx-ring-ref"), rxRef = num("rx-ring-ref");
    let txEv = num("event-channel"), rxEv = txEv;
    if (txEv < 0) { txEv = num("event-channel-tx"); rxEv = num("event-channel-rx"); }
    if (txRef < 0 || rxRef < 0) return "reading tx-ring-ref/rx-ring-ref";
    if (txEv < 0 || rxEv < 0) return "reading event-channel";
    if (num("request-rx-copy") !== 1) return "the frontend does not request rx-copy (rx-flip is not supported)";
    if (this.feRead("multi-queue-num-queues") !== undefined && num("multi-queue-num-queues") > 1)
      return "multi-queue is not supported";
    this.rxSg = num("feature-sg") === 1;
    this.rxCsumBlank = num("feature-no-csum-offload") !== 1;
    this.txMa = this.mapRing(txRef);
    if (this.txMa < 0) return `mapping tx-ring-ref ${txRef}`;
    this.rxMa = this.mapRing(rxRef);
    if (this.rxMa < 0) return `mapping rx-ring-ref ${rxRef}`;
    const tp = this.bindChannel(txEv);
    const rp = rxEv === txEv ? tp : tp < 0 ? -1 : this.bindChannel(rxEv);
    if (tp < 0 || rp < 0) return `binding event channel ${txEv}/${rxEv}`;
    this.txPort = tp; this.rxPort = rp;
    const v = this.core.view();
    // Start where the frontend's rings stand (fresh rings: all zero).
    this.txReqCons = this.txRspProd = v.getUint32(this.txMa + 8, true);
    this.rxReqCons = this.rxRspProd = v.getUint32(this.rxMa + 8, true);
    return undefined;
  }

  /** Leave the bridge (the domain or the vif goes away). Until then a disconnected vif stays on the
   * bridge and frames for it are dropped. */
  protected closeDevice(): void { this.port.detach(); }

  // ---- transmit (guest → bridge) ----

  private serveTx(): boolean {
    let v = this.core.view();
    const r = this.txMa;
    const prod = v.getUint32(r, true);
    const avail = (prod - this.txReqCons) >>> 0;
    if (avail > RING_SIZE) {
      this.fail(`impossible tx ring state: req_prod ${prod}, req_cons ${this.txReqCons}`); return true;
    }
    if (avail === 0) return false;
    const oldRsp = this.txRspProd;
    let cons = this.txReqCons;
    while (((prod - cons) >>> 0) > 0) {
      // Gather one packet: its first slot, extra-info slots, then the chained data slots.
      const slot = (i: number) => r + RING_HDR + ((i >>> 0) % RING_SIZE) * TX_SLOT;
      const first = slot(cons);
      const req = (e: number) => ({
        gref: v.getUint32(e, true), offset: v.getUint16(e + 4, true), flags: v.getUint16(e + 6, true),
        id: v.getUint16(e + 8, true), size: v.getUint16(e + 10, true)
      });
      const head = req(first);
      let i = (cons + 1) >>> 0;
      const extras: number[] = [];
      let incomplete = false, fatal = "";
      if (head.flags & NETTXF_extra_info) {
        for (;;) {
          if (i === prod) { incomplete = true; break; }
          const e = slot(i);
          extras.push(i);
          i = (i + 1) >>> 0;
          if (extras.length > XEN_NETIF_EXTRA_TYPE_MAX) { fatal = "too many extra-info slots"; break; }
          if (!(v.getUint8(e + 1) & XEN_NETIF_EXTRA_FLAG_MORE)) break;
        }
      }
      const frags: ReturnType<typeof req>[] = [];
      let flags = head.flags;
      while (!incomplete && !fatal && (flags & NETTXF_more_data)) {
        if (i === prod) { incomplete = true; break; }
        const f = req(slot(i));
        i = (i + 1) >>> 0;
        frags.push(f);
        flags = f.flags;
        if (frags.length + 1 >= FATAL_TX_SLOTS) { fatal = `a packet of more than ${FATAL_TX_SLOTS} slots`; break; }
      }
      if (fatal) { this.fail(fatal); return true; }
      if (incomplete) {
        // The rest of the packet is not posted yet; wait for it, unless the ring is already full.
        if (((prod - cons) >>> 0) >= RING_SIZE) { this.fail("a packet that never ends"); return true; }
        break;
      }
      const status = this.transmit(head, frags);
      v = this.core.view();
      // One response per slot, in slot order: the packet's, NULL for extra info, then its fragments'.
      this.txResponse(v, head.id, status);
      for (let k = 0; k < extras.length; k++) this.txResponse(v, 0, NETIF_RSP_NULL);
      for (const f of frags) this.txResponse(v, f.id, status);
      cons = i;
    }
    this.txReqCons = cons;
    v = this.core.view();
    v.setUint32(r + 8, this.txRspProd, true);
    // RING_FINAL_CHECK_FOR_REQUESTS: ask to be told about the next request.
    v.setUint32(r + 4, (this.txReqCons + 1) >>> 0, true);
    if (this.txRspProd !== oldRsp && this.notifyNeeded(v, r, oldRsp, this.txRspProd))
      this.core.x.hv_evtchn_send(this.txPort);
    return true;
  }

  private txResponse(v: DataView, id: number, status: number): void {
    const e = this.txMa + RING_HDR + (this.txRspProd % RING_SIZE) * TX_SLOT;
    v.setUint16(e, id, true);
    v.setInt16(e + 2, status, true);
    this.txRspProd = (this.txRspProd + 1) >>> 0;
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY. */
  private notifyNeeded(v: DataView, r: number, oldProd: number, newProd: number): boolean {
    const ev = v.getUint32(r + 12, true);
    return ((newProd - ev) >>> 0) < ((newProd - oldProd) >>> 0);
  }

  /** Copy one packet out of the guest's pages and hand it to the bridge; returns the status. */
  private transmit(
    head: { gref: number; offset: number; flags: number; size: number },
    frags: { gref: number; offset: number; size: number }[]
  ): number {
    const err = (): number => { this.stats.txErrors++; return NETIF_RSP_ERROR; };
    if (frags.length + 1 > MAX_TX_SLOTS) return err();
    let rest = 0;
    for (const f of frags) rest += f.size;
    const total = head.size;
    const firstLen = total - rest;
    if (total < ETH_HLEN || firstLen < 0) return err();
    const pieces = [{ gref: head.gref, offset: head.offset, size: firstLen }, ...frags];
    const data = new Uint8Array(total);
    let at = 0;
    const x = this.core.x;
    for (const p of pieces) {
      if (p.size === 0) continue;
      if (p.offset + p.size > PAGE) return err();
      const h = x.hv_gnt_map(this.domid, p.gref, 1);
      if (h <= 0) return err();
      const mfn = x.hv_gnt_mfn(h);
      if (mfn < 0) { x.hv_gnt_unmap(h); return err(); }
      const ma = mfn * PAGE + p.offset;
      data.set(this.core.bytes().subarray(ma, ma + p.size), at);
      x.hv_gnt_unmap(h);
      at += p.size;
    }
    this.stats.txPackets++;
    this.stats.txBytes += total;
    this.port.input({
      data, csumBlank: (head.flags & NETTXF_csum_blank) !== 0, validated: (head.flags & NETTXF_data_validated) !== 0
    });
    return NETIF_RSP_OKAY;
  }

  // ---- receive (bridge → guest) ----

  /** A frame from the bridge for this vif: into the guest's posted rx buffers, or dropped. Never throws. */
  deliver(f: Frame): void {
    try { this.receive(f); } catch (e) { this.stats.rxDropped++; this.fail(`internal error: ${(e as Error).message}`); }
  }

  private receive(f: Frame): void {
    if (!this.connected) { this.stats.rxDropped++; return; }
    const len = f.data.length;
    if (len > PAGE && !this.rxSg) { this.stats.rxDropped++; return; }
    const need = Math.max(1, Math.ceil(len / PAGE));
    let v = this.core.view();
    const r = this.rxMa;
    const prod = v.getUint32(r, true);
    const avail = (prod - this.rxReqCons) >>> 0;
    if (avail > RING_SIZE) {
      this.fail(`impossible rx ring state: req_prod ${prod}, req_cons ${this.rxReqCons}`); this.stats.rxDropped++;
      return;
    }
    if (avail < need) { this.stats.rxDropped++; return; }
    const oldRsp = this.rxRspProd;
    const x = this.core.x;
    let ok = true;
    for (let k = 0; k < need; k++) {
      const e = r + RING_HDR + (this.rxReqCons % RING_SIZE) * RX_SLOT;
      const id = v.getUint16(e, true), gref = v.getUint32(e + 4, true);
      this.rxReqCons = (this.rxReqCons + 1) >>> 0;
      const n = Math.min(PAGE, len - k * PAGE);
      let status = n;
      const h = x.hv_gnt_map(this.domid, gref, 0);
      const mfn = h > 0 ? x.hv_gnt_mfn(h) : -1;
      if (mfn < 0) { status = NETIF_RSP_ERROR; ok = false; }
      else this.core.bytes().set(f.data.subarray(k * PAGE, k * PAGE + n), mfn * PAGE);
      if (h > 0) x.hv_gnt_unmap(h);
      let flags = k + 1 < need ? NETRXF_more_data : 0;
      if (k === 0)
        flags |= f.csumBlank ? NETRXF_csum_blank | NETRXF_data_validated : f.validated ? NETRXF_data_validated : 0;
      v = this.core.view();
      // The response goes in the slot of the request it answers (rsp_prod trails req_cons).
      const re = r + RING_HDR + (this.rxRspProd % RING_SIZE) * RX_SLOT;
      v.setUint16(re, id, true);
      v.setUint16(re + 2, 0, true);
      v.setUint16(re + 4, flags, true);
      v.setInt16(re + 6, status, true);
      this.rxRspProd = (this.rxRspProd + 1) >>> 0;
    }
    if (ok) { this.stats.rxPackets++; this.stats.rxBytes += len; } else this.stats.rxErrors++;
    v.setUint32(r + 8, this.rxRspProd, true);
    v.setUint32(r + 4, (this.rxReqCons + 1) >>> 0, true);
    if (this.notifyNeeded(v, r, oldRsp, this.rxRspProd)) this.core.x.hv_evtchn_send(this.rxPort);
  }

  /** For `xm network-list`-like views. */
  info(): { devid: number; mac: string; state: number; name: string; stats: NetStats; fault?: string } {
    return {
      devid: this.devid, mac: this.mac, state: this.beState(), name: this.name, stats: { ...this.stats },
      fault: this.fault
    };
  }
}

export { macString };
