// A fake core for the device backends (host/devices/xenbus/backend.ts XenbusCore): guest memory of 32
// pages (frame k at k*4096), a grant table (ref -> frame, read-only?) and the event channels the
// guest `domid` offers (dom0's end of remote port p is 100 + p).
import type { XenbusCore } from "../../host/devices/xenbus/backend";

export class FakeCore implements XenbusCore {
  mem = new Uint8Array(32 * 4096);
  grants = new Map<number, { mfn: number; ro: boolean }>();
  /** Live grant mappings: handle -> frame. */
  live = new Map<number, number>();
  sends: number[] = [];
  /** The guest's unbound ports a backend may bind. */
  ports = new Set([3, 4]);
  /** dom0's ports closed. */
  closed: number[] = [];
  private nextHandle = 1;
  constructor(readonly domid: number) {}
  bytes(): Uint8Array { return this.mem; }
  view(): DataView { return new DataView(this.mem.buffer); }
  x = {
    hv_gnt_map: (g: number, ref: number, ro: number): number => {
      const e = this.grants.get(ref);
      if (g !== this.domid) return -2;
      if (!e) return -3;
      if (e.ro && !ro) return -8;
      const h = this.nextHandle++;
      this.live.set(h, e.mfn);
      return h;
    },
    hv_gnt_mfn: (h: number): number => this.live.get(h) ?? -1,
    hv_gnt_unmap: (h: number): number => (this.live.delete(h) ? 0 : -4),
    hv_evtchn_bind: (remote: number, rport: number): number =>
      (remote === this.domid && this.ports.has(rport) ? 100 + rport : -22),
    hv_evtchn_send: (p: number): number => { this.sends.push(p); return 0; },
    hv_evtchn_take: (_p: number): number => 0,
    hv_evtchn_close: (p: number): number => { this.closed.push(p); return 0; },
  };
}
