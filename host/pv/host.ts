// A private in-process Xen host: the core with its hypervisor, dom0 as this process, and the loop that
// runs the domains, prints their console output (console_io writes and the PV console ring), sleeps
// when every vCPU is blocked, and reports shutdowns.
import { Core, MM } from "../core";
import { parseXenElf } from "./xenelf";
import { buildDomain, BuiltDomain, BuildOptions } from "./builder";
import { loadKernelImage } from "./image";

export const SHUTDOWN_NAMES = ["poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset"];

export interface DomainHandle extends BuiltDomain {
  name: string;
  /** Called with console bytes (console_io and ring). */
  onConsole?: (bytes: Uint8Array) => void;
}

// xencons_interface: in[1024] @0, out[2048] @1024, in_cons @3072, in_prod @3076, out_cons @3080, out_prod @3084.
const OUT = 1024, OUT_SIZE = 2048, OUT_CONS = 3080, OUT_PROD = 3084;

export class XenHost {
  readonly core: Core;
  readonly domains = new Map<number, DomainHandle>();
  private constructor(core: Core) { this.core = core; }

  static async create(machineMiB = 1024): Promise<XenHost> {
    const core = await Core.create({ ioIn: () => -1, ioOut: () => false });
    if (core.x.hv_init(machineMiB) < 0) throw new Error(`hypervisor init failed (${machineMiB} MiB of machine memory)`);
    const now = Date.now();
    core.x.hv_set_wallclock(BigInt(Math.floor(now / 1000)), (now % 1000) * 1e6);
    return new XenHost(core);
  }

  /** Build a domain from a kernel image (ELF or bzImage). */
  createDomain(name: string, kernel: Uint8Array, o: BuildOptions): DomainHandle {
    const img = parseXenElf(loadKernelImage(kernel));
    const b = buildDomain(this.core, img, o);
    const h: DomainHandle = { ...b, name };
    this.domains.set(b.domid, h);
    return h;
  }

  /** The hypervisor's log (`xm dmesg`). */
  dmesg(): string {
    const v = this.core.view();
    const head = v.getUint32(MM.HV_LOG_HEAD, true);
    const n = Math.min(head, MM.HV_LOG_SIZE);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = v.getUint8(MM.HV_LOG + ((head - n + i) & (MM.HV_LOG_SIZE - 1)));
    return new TextDecoder().decode(out);
  }

  state(d: number): number { return this.core.x.hv_domain_state(d); }
  shutdownReason(d: number): number { return this.core.x.hv_domain_shutdown_reason(d); }

  /** Hand out console output collected by the hypervisor and from the console rings. */
  drainConsoles(): void {
    const v = this.core.view();
    const len = v.getUint32(MM.HV_OUT_LEN, true);
    let p = 0;
    while (p + 8 <= len) {
      const dom = v.getUint32(MM.HV_OUT + p, true), n = v.getUint32(MM.HV_OUT + p + 4, true);
      const bytes = this.core.bytes().slice(MM.HV_OUT + p + 8, MM.HV_OUT + p + 8 + n);
      this.domains.get(dom)?.onConsole?.(bytes);
      p += 8 + ((n + 3) & ~3);
    }
    v.setUint32(MM.HV_OUT_LEN, 0, true);
    for (const d of this.domains.values()) this.drainRing(d);
  }

  private drainRing(d: DomainHandle): void {
    const v = this.core.view();
    const base = d.consoleMa;
    const cons = v.getUint32(base + OUT_CONS, true), prod = v.getUint32(base + OUT_PROD, true);
    const n = (prod - cons) >>> 0;
    if (n === 0 || n > OUT_SIZE) { if (n > OUT_SIZE) v.setUint32(base + OUT_CONS, prod, true); return; }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = v.getUint8(base + OUT + ((cons + i) & (OUT_SIZE - 1)));
    v.setUint32(base + OUT_CONS, prod, true);
    d.onConsole?.(out);
    this.core.x.hv_evtchn_send(d.consoleHostPort);
  }

  /**
   * Run until `done()` says stop or no domain can run. Yields to the event loop between slices and
   * sleeps while every vCPU is blocked.
   */
  async runUntil(done: () => boolean, sliceInsns = 5_000_000): Promise<void> {
    for (;;) {
      const r = this.core.x.hv_run(sliceInsns);
      this.drainConsoles();
      if (done()) return;
      if (r === MM.HVX_NONE) return;
      if (r === MM.HVX_IDLE) {
        const ns = Number(this.core.x.hv_idle_ns());
        const ms = ns === 0 ? 50 : Math.min(50, Math.max(0, ns / 1e6));
        await new Promise((res) => setTimeout(res, ms));
      } else if (r === MM.HVX_BUDGET) {
        await new Promise((res) => setImmediate(res));
      }
    }
  }
}

export { parseXenElf };
