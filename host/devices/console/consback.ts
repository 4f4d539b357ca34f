// The PV console backend (io/console.h), xenconsoled's part for a domain's primary console: the
// ring page and the channel come from the domain builder (start_info's console.domU, also written
// as console/ring-ref and console/port by the toolstack: ../xenstore/domain.ts), so there is no
// xenbus handshake: the backend is connected from the start and owns dom0's end of the channel
// (released with the domain). Output: what the guest put in `out` is handed to `output` and the
// guest notified; input: bytes typed are put in `in`. The ring's indexes are the guest's and
// distrusted: an impossible output index is skipped over, never followed.
import type { XenStore } from "../xenstore/store";
import { XenbusBackend, type XenbusCore } from "../xenbus/backend";

// xencons_interface: in[1024] @0, out[2048] @1024, in_cons @3072, in_prod @3076, out_cons @3080, out_prod @3084.
const IN_SIZE = 1024, OUT = 1024, OUT_SIZE = 2048, IN_CONS = 3072, IN_PROD = 3076, OUT_CONS = 3080, OUT_PROD = 3084;

/** The console's device parameters: the ring's machine address and dom0's end of its channel (bound
 * by the domain builder, or anew for a restored domain). */
export interface ConsoleSpec { ringMa: number; hostPort: number }

export class ConsoleBack extends XenbusBackend {
  private readonly ringMa: number;
  private readonly hostPort: number;

  /** `output` gets what the guest writes. */
  constructor(
    core: XenbusCore, store: XenStore, domid: number, spec: ConsoleSpec,
    private readonly output: (bytes: Uint8Array) => void
  ) {
    super(core, store, domid, "console", 0, `${store.getDomainPath(domid)}/console`);
    this.ringMa = spec.ringMa;
    this.hostPort = spec.hostPort;
    this.adoptChannel(spec.hostPort);
    this.connected = true;
  }

  /** The primary console has no handshake: its frontend's state is not followed. */
  protected follow(): boolean { return false; }
  protected connectRings(): string | undefined { return "the primary console is connected by the domain builder"; }

  /** Hand out what the guest wrote; true if there was anything. */
  protected serve(): boolean {
    const v = this.core.view();
    const base = this.ringMa;
    const cons = v.getUint32(base + OUT_CONS, true), prod = v.getUint32(base + OUT_PROD, true);
    const n = (prod - cons) >>> 0;
    if (n === 0 || n > OUT_SIZE) { if (n > OUT_SIZE) v.setUint32(base + OUT_CONS, prod, true); return false; }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = v.getUint8(base + OUT + ((cons + i) & (OUT_SIZE - 1)));
    v.setUint32(base + OUT_CONS, prod, true);
    this.output(out);
    this.core.x.hv_evtchn_send(this.hostPort);
    return true;
  }

  /** Type into the console (the ring's input side); returns the bytes taken. */
  input(bytes: Uint8Array): number {
    if (!this.connected) return 0;
    const v = this.core.view();
    const base = this.ringMa;
    const cons = v.getUint32(base + IN_CONS, true);
    let prod = v.getUint32(base + IN_PROD, true);
    let n = 0;
    while (n < bytes.length && ((prod - cons) >>> 0) < IN_SIZE) {
      v.setUint8(base + (prod & (IN_SIZE - 1)), bytes[n++]);
      prod = (prod + 1) >>> 0;
    }
    v.setUint32(base + IN_PROD, prod, true);
    if (n > 0) this.core.x.hv_evtchn_send(this.hostPort);
    return n;
  }
}
