// The xenbus backend every PV device of dom0 is built on (block, net, console), after Linux's
// xenbus backend drivers and libxl's device nodes. A device has two xenstore directories: the
// frontend's, /local/domain/<domid>/device/<type>/<devid> (the guest's, readable by the backend),
// and the backend's, /local/domain/0/backend/<type>/<domid>/<devid> (dom0's, readable by the
// guest). `publish` writes both as the toolstack does (backend, backend-id, frontend, frontend-id,
// online = 1, the device's own keys) and puts the backend in InitWait. `poll` follows the
// frontend's state: Initialised or Connected → `connectRings` (the device reads the frontend's keys,
// maps its rings and binds its channels through mapRing/bindChannel) and Connected; Closing/Closed
// → everything released and the same state answered; Closed after the backend's Closing → Closed;
// a frontend starting over (Initialising) after Closed → InitWait. While connected, `serve` does the
// device's protocol. A bad frontend (untrusted input: a missing or malformed key, a grant or
// channel that does not map) gets `fail`: nothing of its stays mapped, the reason in the backend's
// `error` node, state Closing, and no retry until the frontend starts over. Hot-unplug
// (libxl__initiate_device_generic_remove): requestClose (online 0, Closing), frontendReleased,
// remove (both directories gone).
import type { XenStore } from "../xenstore/store";

/** enum xenbus_state (io/xenbus.h). */
export const XenbusState =
  { Unknown: 0, Initialising: 1, InitWait: 2, Initialised: 3, Connected: 4, Closing: 5, Closed: 6 } as const;
const XB = XenbusState;

/** The part of the core a backend uses (so tests can give it a fake one). */
export interface XenbusCore {
  bytes(): Uint8Array;
  view(): DataView;
  x: {
    hv_gnt_map(g: number, ref: number, readonly: number): number;
    hv_gnt_mfn(h: number): number;
    hv_gnt_unmap(h: number): number;
    hv_evtchn_bind(remote: number, rport: number): number;
    hv_evtchn_send(p: number): number;
    hv_evtchn_take(p: number): number;
    hv_evtchn_close?(p: number): number;
  };
}

/** A frontend's unsigned decimal key (as xenbus_scanf's %u), or -1 when missing or malformed. */
export function uintKey(s: string | undefined): number {
  return s !== undefined && /^\d{1,10}$/.test(s.trim()) ? Number(s) : -1;
}

export abstract class XenbusBackend {
  readonly feDir: string;
  readonly beDir: string;
  connected = false;
  /** Why the backend gave up on the frontend (a hostile or broken one), if it did. */
  fault?: string;
  private failed = false;
  private closed = false;
  /** What connectRings took: grant handles and dom0's ends of event channels, released together. */
  private grants: number[] = [];
  private ports: number[] = [];

  /** `type`: the device class in xenstore (vbd, vif, console); `feDir` when it is not device/<type>/<devid>. */
  constructor(protected readonly core: XenbusCore, protected readonly store: XenStore, readonly domid: number,
    readonly type: string, readonly devid: number, feDir?: string) {
    this.feDir = feDir ?? `/local/domain/${domid}/device/${type}/${devid}`;
    this.beDir = `/local/domain/0/backend/${type}/${domid}/${devid}`;
  }

  /** Write both directories as libxl does, with the device's own keys, and wait for the frontend (InitWait). */
  protected publish(fe: [string, string][], be: [string, string][]): void {
    const s = this.store, d = this.domid;
    s.mkdir(this.feDir, [{ domid: d, perm: "n" }, { domid: 0, perm: "r" }]);
    s.write(`${this.feDir}/backend`, this.beDir);
    s.write(`${this.feDir}/backend-id`, "0");
    for (const [k, v] of fe) s.write(`${this.feDir}/${k}`, v);
    s.write(`${this.feDir}/state`, String(XB.Initialising));
    s.mkdir(this.beDir, [{ domid: 0, perm: "n" }, { domid: d, perm: "r" }]);
    s.write(`${this.beDir}/frontend`, this.feDir);
    s.write(`${this.beDir}/frontend-id`, String(d));
    s.write(`${this.beDir}/online`, "1");
    for (const [k, v] of be) s.write(`${this.beDir}/${k}`, v);
    s.write(`${this.beDir}/state`, String(XB.InitWait));
  }

  protected feRead(key: string): string | undefined { return this.store.readString(`${this.feDir}/${key}`); }
  protected feState(): number { return Number(this.feRead("state") ?? 0); }
  protected beState(): number { return Number(this.store.readString(`${this.beDir}/state`) ?? 0); }
  protected setState(st: number): void {
    try { this.store.write(`${this.beDir}/state`, String(st)); } catch { /* removed */ }
  }

  /** Follow the frontend's state and serve the device; returns true if it did anything. Never throws. */
  poll(): boolean {
    try {
      if (this.closed) return false;
      if (this.follow()) return true;
      return this.connected ? this.serve() : false;
    } catch (e) { this.fail(`internal error: ${(e as Error).message}`); return true; }
  }

  /** The backend's half of the state machine; true when it closed the connection. */
  protected follow(): boolean {
    const fe = this.feState();
    if (!this.connected && !this.failed && (fe === XB.Initialised || fe === XB.Connected)) this.connect();
    // As Linux's backends: the frontend's Closing is answered with Closing (a frontend shutting down,
    // e.g. Linux's xenbus_frontend_dev_shutdown at poweroff, waits for exactly that), its Closed with Closed.
    else if (this.connected && (fe === XB.Closing || fe === XB.Closed)) {
      this.disconnect(); this.setState(fe); return true;
    }
    else if (!this.connected && fe === XB.Closed && this.beState() === XB.Closing) this.setState(XB.Closed);
    else if (!this.connected && (fe === XB.Initialising || fe === XB.Unknown) && this.beState() === XB.Closed) {
      this.failed = false; this.fault = undefined; this.setState(XB.InitWait); // the frontend starts over
    }
    return false;
  }

  private connect(): void {
    const err = this.connectRings();
    if (err !== undefined) { this.fail(err); return; }
    this.connected = true;
    this.setState(XB.Connected);
  }

  /** Read the frontend's keys, map its rings and bind its channels; an error message when it cannot. */
  protected abstract connectRings(): string | undefined;
  /** Serve the rings (connected); true if anything was done. */
  protected abstract serve(): boolean;
  /** The device's own resources at close (its image, its bridge port). */
  protected closeDevice(): void { /* none */ }

  /** Map the frontend's grant `ref` writable (a ring page): its machine address, or -1. */
  protected mapRing(ref: number): number {
    const x = this.core.x;
    const h = x.hv_gnt_map(this.domid, ref, 0);
    if (h <= 0) return -1;
    this.grants.push(h);
    const mfn = x.hv_gnt_mfn(h);
    return mfn < 0 ? -1 : mfn * 4096;
  }

  /** Bind dom0's end of the frontend's channel `port`: dom0's port, or -1. */
  protected bindChannel(port: number): number {
    const p = this.core.x.hv_evtchn_bind(this.domid, port);
    if (p < 0) return -1;
    this.ports.push(p);
    return p;
  }

  /** A channel bound elsewhere (the domain builder's) that this backend now owns. */
  protected adoptChannel(port: number): void { if (port > 0) this.ports.push(port); }

  /** Give up on the frontend: released, the reason in `error`, Closing until it starts over. */
  fail(why: string): void {
    this.fault = why;
    this.failed = true;
    this.disconnect();
    this.setState(XB.Closing);
    try { this.store.write(`${this.beDir}/error`, why); } catch { /* removed */ }
  }

  /** Unmap the rings and close the channels (the guest's ends become unbound; a reconnect binds anew). */
  disconnect(): void {
    this.connected = false;
    for (const h of this.grants) this.core.x.hv_gnt_unmap(h);
    for (const p of this.ports) this.core.x.hv_evtchn_close?.(p);
    this.grants = [];
    this.ports = [];
  }

  /** Disconnect, release the device and remove the backend directory (the device or its domain goes away). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disconnect();
    this.closeDevice();
    this.rm(this.beDir);
    this.rmEmpty(`/local/domain/0/backend/${this.type}/${this.domid}`);
  }

  // ---- hot-unplug ----

  /** Step 1 of a detach: the backend asks the frontend to close (state Closing, online 0). */
  requestClose(): void {
    this.store.write(`${this.beDir}/online`, "0");
    this.store.write(`${this.beDir}/state`, String(XB.Closing));
  }

  /** A detach that timed out: the backend stands where it stood (the frontend kept the device). */
  cancelClose(): void {
    try {
      this.store.write(`${this.beDir}/online`, "1");
      this.store.write(`${this.beDir}/state`, String(this.connected ? XB.Connected : XB.InitWait));
    } catch { /* removed meanwhile */ }
  }

  /** Has the frontend let go? Closing or Closed (or its directory is gone), or it never connected (no
   * driver, or one that has not got as far as mapping the ring: nothing of the guest's is in use). */
  frontendReleased(): boolean {
    const s = this.feRead("state");
    const fe = s === undefined ? undefined : Number(s);
    if (fe === undefined || fe === XB.Closing || fe === XB.Closed) return true;
    return !this.connected && fe !== XB.Initialised && fe !== XB.Connected;
  }

  /** The last step of a detach: released, backend Closed, both directories removed (the guest's
   * xenbus unregisters the device). */
  remove(): void {
    this.disconnect();
    this.setState(XB.Closed);
    this.close();
    this.rm(this.feDir);
    this.rmEmpty(`/local/domain/${this.domid}/device/${this.type}`);
  }

  private rm(p: string): void { try { this.store.rm(p); } catch { /* gone */ } }
  private rmEmpty(p: string): void {
    try {
      if (this.store.readString(p) !== undefined && this.store.directory(p).length === 0) this.store.rm(p);
    } catch { /* gone */ }
  }
}
