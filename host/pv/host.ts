// A private in-process Xen host: the core with its hypervisor, dom0 as this process, and the loop that
// runs the domains, prints their console output (console_io writes and the PV console ring), sleeps
// when every vCPU is blocked, and reports shutdowns. Platform-neutral (host/platform.ts): the NAT is
// given to it by the Node entry points (devices/net/nat.ts enableNat), disks come as BlockDevices.
import { Core, MM, jitFigures, type CoreSource } from "../core";
import { ElfSource, parseXenElf } from "./xenelf";
import { buildDomain, BuiltDomain, BuildOptions } from "./builder";
import { KERNEL_MAX_BYTES, kernelSource, kernelSourceAsync, withKernel, withKernelAsync } from "./image";
import { env, yieldToEventLoop } from "../platform";
import { XenStore, Connection } from "../devices/xenstore/store";
import { XsRing } from "../devices/xenstore/ring";
import { populateDomain, writeVcpuAvailability } from "../devices/xenstore/domain";
import { BlkBack, DiskSpec } from "../devices/block/blkback";
import { checkDiskShared } from "./diskshare";
import { NetBack, type VifSpec } from "../devices/net/netback";
import { ConsoleBack } from "../devices/console/consback";
import { Bridge } from "../devices/net/bridge";
import { randomMac, validateMac, normalizeMac } from "../xend/mac";
import { VF_ONLINE } from "../../assembly/records";

/** The bridge's way out to the host's network, what XenHost and its users call of it (the user-mode
 * NAT, devices/net/nat.ts, plugged in by the Node entry points: enableNat). */
export interface Uplink {
  setupVif(mac: string, v: { ip?: string; forward?: string[] }, warn: (msg: string) => void, retryMs?: number): void;
  release(mac: string): void;
  close(): void;
}

export const SHUTDOWN_NAMES = ["poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset"];

export interface DomainHandle extends BuiltDomain {
  name: string;
  xsRing?: XsRing;
  xsConn?: Connection;
  /** The primary console's backend (the ring of console_io's output is the hypervisor's: drainConsoles). */
  console: ConsoleBack;
  disks: BlkBack[];
  vifs: NetBack[];
  /** Called with console bytes (console_io and ring). */
  onConsole?: (bytes: Uint8Array) => void;
}

export type { VifSpec };

/** What adoptDomain needs to know of a domain the hypervisor holds already. */
export interface AdoptSpec {
  domid: number; bits: 32 | 64; name: string; memoryMiB: number; vcpus: number;
  consoleMa: number; consolePort: number; storeMa: number; storePort: number;
  /** xenstore nodes under the domain's home (relative paths) written for it, owned by it. */
  nodes: [string, string][];
  disks?: DiskSpec[]; vifs?: VifSpec[];
}

export class XenHost {
  readonly core: Core;
  readonly domains = new Map<number, DomainHandle>();
  readonly store = new XenStore();
  /** The bridge every vif is a port of (xenbr0). */
  readonly bridge = new Bridge("xenbr0");
  /** The user-mode NAT on xenbr0 (devices/net/nat.ts enableNat, Node only), if the host has one: the
   * guests' way out to the host's network. */
  nat?: Uplink;
  /** Called when frames reach a domain from outside a run slice (the NAT's sockets): wakes a sleeping run loop. */
  onWake?: () => void;
  private kick?: () => void;
  machineMiB = 0;
  private constructor(core: Core) {
    this.core = core;
    this.store.write("/local/domain/0/name", "Domain-0");
    this.store.write("/local/domain/0/domid", "0");
  }

  /** A host with `machineMiB` of machine memory; `core`: the core's code (default: see Core.create);
   * `timeNs`: the clock the hypervisor reads (default: performance.now()), e.g. a test's own. */
  static async create(machineMiB = 1024,
    o: { core?: CoreSource | Promise<CoreSource>; timeNs?: () => number } = {}): Promise<XenHost> {
    const hooks = { ioIn: () => -1, ioOut: () => false, ...(o.timeNs ? { timeNs: o.timeNs } : {}) };
    const core = await Core.create(hooks, o.core !== undefined ? { core: o.core } : {});
    // The host's run loop yields to the event loop between slices: compiles can go to V8's threads
    // (not with force, whose point is that code runs compiled from its first instruction).
    // (XENWASM_JIT_SYNC=1: compiles on the main thread here too, for measurements.)
    if (core.jit && core.jit.mode === "on" && env("XENWASM_JIT_SYNC") !== "1") core.jit.async = true;
    if (core.x.hv_init(machineMiB) < 0) throw new Error(`hypervisor init failed (${machineMiB} MiB of machine memory)`);
    const now = Date.now();
    core.x.hv_set_wallclock(BigInt(Math.floor(now / 1000)), (now % 1000) * 1e6);
    const h = new XenHost(core);
    h.machineMiB = machineMiB;
    return h;
  }

  /** Cut the idle sleep of the run loop short (runUntil's, and xend's through onWake). */
  wake(): void { this.kick?.(); this.onWake?.(); }

  /** Build a domain from a kernel image (ELF or bzImage: gzip, xz or zstd), decompressing without
   * holding the event loop. */
  async createDomainAsync(
    name: string, kernel: Uint8Array, o: BuildOptions & { disks?: DiskSpec[]; vifs?: VifSpec[] }
  ): Promise<DomainHandle> {
    const limit = o.memoryMiB * 1048576;
    return withKernelAsync(
      await kernelSourceAsync(kernel, limit), kernel, limit, (src) => this.buildFrom(name, src, o)
    );
  }

  /** Build a domain from a kernel image (ELF, or a bzImage with a gzip, xz or zstd payload). */
  createDomain(
    name: string, kernel: Uint8Array, o: BuildOptions & { disks?: DiskSpec[]; vifs?: VifSpec[] }
  ): DomainHandle {
    return withKernel(kernelSource(kernel), kernel, KERNEL_MAX_BYTES, (src) => this.buildFrom(name, src, o));
  }

  /** Build a domain from a kernel's ELF (image.ts kernelSource; a kept one is checked by the builder: see
   * withKernel for building again when it is found damaged). */
  buildFrom(name: string, src: ElfSource, o: BuildOptions & { disks?: DiskSpec[]; vifs?: VifSpec[] }): DomainHandle {
    const img = parseXenElf(src);
    const b = buildDomain(this.core, img, o);
    const h: DomainHandle =
      { ...b, name, console: this.consoleBack(b.domid, b.consoleMa, b.consoleHostPort), disks: [], vifs: [] };
    // xenstore: the domain's nodes and its ring.
    this.store.introduce(b.domid);
    populateDomain(this.store, b.domid, name, {
      memoryKb: o.memoryMiB * 1024, maxMemKb: o.memoryMiB * 1024, vcpus: o.vcpus ?? 1,
      // (xl's maxvcpus: `vcpus` vCPUs built, the first `vcpusOnline` of them available to the guest.)
      vcpuOnline: Array.from({ length: o.vcpus ?? 1 }, (_, i) => i < (o.vcpusOnline ?? o.vcpus ?? 1)),
      storeMfn: b.storeMa / 4096, storePort: b.storePort, consoleRef: b.consoleMa / 4096, consolePort: b.consolePort,
    });
    const base = b.storeMa;
    const ring = new XsRing(() => this.core.bytes().subarray(base, base + 4096));
    ring.init();
    h.xsRing = ring;
    h.xsConn = this.store.connect(b.domid, ring.send);
    this.attachDevices(h, o.disks ?? [], o.vifs ?? []);
    this.domains.set(b.domid, h);
    return h;
  }

  /** The primary console's backend of domain `d` (its output goes to the handle's onConsole). */
  private consoleBack(d: number, ringMa: number, hostPort: number): ConsoleBack {
    return new ConsoleBack(
      this.core, this.store, d, { ringMa, hostPort }, (bytes) => this.domains.get(d)?.onConsole?.(bytes)
    );
  }

  /** The backends of a new domain's disks and vifs; on failure everything is undone and the domain destroyed. */
  private attachDevices(h: DomainHandle, disks: DiskSpec[], vifs: VifSpec[]): void {
    try {
      // A writable image in one domain only (xm create, restore and migration, as block-attach).
      disks.forEach((d, i) => checkDiskShared(this, h.domid, d, disks.slice(0, i)));
      for (const d of disks) h.disks.push(new BlkBack(this.core, this.store, h.domid, d));
      for (const v of vifs) {
        const devid = v.devid ?? h.vifs.reduce((n, x) => Math.max(n, x.devid + 1), 0);
        h.vifs.push(new NetBack(this.core, this.store, h.domid, devid, this.bridge, { mac: this.vifMac(v.mac, h) }));
      }
    } catch (e) {
      for (const b of [h.console, ...h.disks, ...h.vifs]) b.close();
      h.xsConn?.close();
      this.store.release(h.domid);
      this.removeDomainNodes(h.domid);
      this.core.x.hv_domain_destroy(h.domid);
      throw e;
    }
  }

  /** A vif's MAC: the one given (checked, unique on this host) or a random 00:16:3e:XX:YY:ZZ. */
  vifMac(mac: string | undefined, h: DomainHandle): string {
    const used = new Set<string>();
    for (const d of [...this.domains.values(), h]) for (const v of d.vifs) used.add(v.mac);
    if (mac === undefined) return randomMac(used);
    const bad = validateMac(mac.trim());
    if (bad) throw new Error(`vif mac=${mac}: ${bad}`);
    const m = normalizeMac(mac);
    if (used.has(m)) throw new Error(`vif mac=${mac}: already used by another interface on this host`);
    return m;
  }

  /** Type into a domain's PV console (the ring's input side); returns the bytes taken. */
  consoleInput(d: number, bytes: Uint8Array): number { return this.domains.get(d)?.console.input(bytes) ?? 0; }

  /** Take over a domain the hypervisor already holds (a restored one): channels, xenstore, console, devices. */
  adoptDomain(a: AdoptSpec): DomainHandle {
    const x = this.core.x;
    const { domid: d, name, memoryMiB, vcpus, consoleMa, consolePort, storeMa, storePort } = a;
    const consoleHostPort = x.hv_evtchn_bind(d, consolePort);
    const storeHostPort = x.hv_evtchn_bind(d, storePort);
    const h: DomainHandle = {
      domid: d, bits: a.bits, nrPages: memoryMiB * 256, consoleMa, consolePort, consoleHostPort,
      storeMa, storePort, storeHostPort, startInfoVa: 0n, name,
      console: this.consoleBack(d, consoleMa, consoleHostPort), disks: [], vifs: [],
    };
    this.store.introduce(d);
    populateDomain(this.store, d, name, {
      memoryKb: memoryMiB * 1024, maxMemKb: memoryMiB * 1024, vcpus,
      // Each vCPU's availability as the guest left it (a vCPU taken down by `xm vcpu-set` stays down).
      vcpuOnline: this.vcpusUp(d),
      storeMfn: storeMa / 4096, storePort, consoleRef: consoleMa / 4096, consolePort,
    });
    for (const [p, v] of a.nodes) this.store.write(`/local/domain/${d}/${p}`, v, [{ domid: d, perm: "n" }]);
    const ring = new XsRing(() => this.core.bytes().subarray(storeMa, storeMa + 4096));
    h.xsRing = ring;
    h.xsConn = this.store.connect(d, ring.send);
    this.attachDevices(h, a.disks ?? [], a.vifs ?? []);
    this.domains.set(d, h);
    x.hv_evtchn_send(storeHostPort);
    return h;
  }

  /** `xm vcpu-set`: vCPUs 0..n-1 of domain `d` available to it, the others not (its xenstore cpu/N/availability);
   * n from 1 to its number of vCPUs (xl's maxvcpus, here the `vcpus` it was built with). */
  setVcpusOnline(d: number, n: number): void {
    const h = this.domains.get(d);
    if (!h) throw new Error(`no domain ${d}`);
    const max = this.core.x.hv_domain_vcpus(d);
    if (!(Number.isInteger(n) && n >= 1 && n <= max))
      throw new Error(`${h.name} has ${max} vCPU${max === 1 ? "" : "s"}: the count must be 1 to ${max}`);
    writeVcpuAvailability(this.store, d, Array.from({ length: max }, (_, i) => i < n));
  }

  /** Each vCPU of domain `d`: whether it is up in the hypervisor (VF_ONLINE; not taken down, or never brought up, by
   *  the guest). */
  vcpusUp(d: number): boolean[] {
    const x = this.core.x;
    return Array.from({ length: x.hv_domain_vcpus(d) }, (_, i) => (x.hv_vcpu_flags(d, i) & VF_ONLINE) !== 0);
  }

  /** Serve xenstore rings and backends after a run slice. */
  serviceDevices(): void {
    const x = this.core.x;
    for (const d of this.domains.values()) {
      if (d.xsRing && d.xsConn) {
        const ev = x.hv_evtchn_take(d.storeHostPort) === 1;
        if (ev || d.xsRing.queued > 0) {
          if (d.xsRing.pump(d.xsConn)) x.hv_evtchn_send(d.storeHostPort);
        }
      }
      for (const b of d.disks) b.poll();
      for (const v of d.vifs) v.poll();
    }
  }

  /** Destroy a domain and release its devices and xenstore connection. */
  destroyDomain(d: number): void {
    const h = this.domains.get(d);
    if (h) {
      for (const b of [h.console, ...h.disks, ...h.vifs]) b.close();
      for (const v of h.vifs) this.nat?.release(v.mac);
      h.xsConn?.close();
      this.store.release(d);
      this.removeDomainNodes(d);
      this.domains.delete(d);
      // The host's end of the xenstore channel, as the console's above (else each domain ever made
      // holds two of dom0's ports, and after enough of them no domain can be built).
      if (h.storeHostPort > 0) this.core.x.hv_evtchn_close(h.storeHostPort);
    }
    this.core.x.hv_domain_destroy(d);
  }

  /** What libxl removes when a domain dies: its home, /vm and /libxl entries and its devices' backend
   * directories, so that a later domain given the same id starts with none of its nodes. */
  private removeDomainNodes(d: number): void {
    const rm = (p: string) => { try { this.store.rm(p); } catch { /* not there */ } };
    const vm = this.store.readString(`/local/domain/${d}/vm`);
    rm(`/local/domain/${d}`);
    if (vm && /^\/vm\/[^/]+$/.test(vm)) rm(vm);
    rm(`/libxl/${d}`);
    for (const type of this.store.directory("/local/domain/0/backend")) rm(`/local/domain/0/backend/${type}/${d}`);
  }

  /** Where `xm dmesg -c` cleared the log (a count of bytes ever written). */
  private dmesgFrom = 0;

  /** A line of the toolstack's into the hypervisor's log (domain created, shut down, ...), as Xen's printk. */
  logLine(s: string): void {
    const v = this.core.view();
    let head = v.getUint32(MM.HV_LOG_HEAD, true);
    for (const b of new TextEncoder().encode(`(XEN) ${s}\n`)) {
      v.setUint8(MM.HV_LOG + (head & (MM.HV_LOG_SIZE - 1)), b); head = (head + 1) >>> 0;
    }
    v.setUint32(MM.HV_LOG_HEAD, head, true);
  }

  /** The hypervisor's log (`xm dmesg`); `clear` empties it after reading (`xm dmesg -c`). */
  dmesg(clear = false): string {
    const v = this.core.view();
    const head = v.getUint32(MM.HV_LOG_HEAD, true);
    const n = Math.min(head, MM.HV_LOG_SIZE, (head - this.dmesgFrom) >>> 0);
    if (clear) this.dmesgFrom = head;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = v.getUint8(MM.HV_LOG + ((head - n + i) & (MM.HV_LOG_SIZE - 1)));
    return new TextDecoder().decode(out);
  }

  /** Keys typed at the hypervisor (`xm debug-keys`): output in the log; returns the keys that had a handler.
   *  'j' is the host's own (the JIT tier lives here): the JIT's figures since the core started, one JSON line. */
  debugKeys(keys: string): string {
    let done = "";
    for (const k of keys) {
      if (k === "j") {
        this.logLine(`'j' pressed -> JIT figures: ${JSON.stringify(jitFigures(this.core))}`);
        done += k;
      } else if (k.charCodeAt(0) < 128 && this.core.x.hv_debug_key(k.charCodeAt(0)) === 1) {
        done += k;
        if (k === "h") this.logLine(" key 'j' (ascii '6a') => dump the JIT tier's figures");
      }
    }
    return done;
  }

  /** Bytes typed into the hypervisor's console: for the VIRQ_CONSOLE handler (CONSOLEIO_read). Returns the bytes
   *  queued. */
  hvConsoleInput(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, MM.MAILBOX_SIZE);
    this.core.bytes().set(bytes.subarray(0, n), MM.MAILBOX);
    return this.core.x.hv_console_input(n);
  }

  /** Make domain `d` the handler of global VIRQ `virq` (0 = the host again): 0 or -errno. */
  setVirqHandler(virq: number, d: number): number { return this.core.x.hv_set_virq_handler(virq, d); }

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
    for (const d of this.domains.values()) d.console.poll();
  }

  /**
   * Run until `done()` says stop or no domain can run. Yields to the event loop between slices and
   * sleeps while every vCPU is blocked.
   */
  async runUntil(done: () => boolean, sliceInsns = 5_000_000): Promise<void> {
    // Runs cut short for the host (events to dom0, console output) come back at once, but not for
    // ever: a guest that notifies dom0 in a loop would otherwise keep this process from its event
    // loop (timers, sockets, xend's requests) for as long as it floods.
    let eager = 0;
    for (;;) {
      // While compiles are in flight, back to the event loop sooner: their regions are installed there.
      // (200k rather than 1M: of Debian's boot, 184M instead of 248M instructions interpreted while
      // their compiles were in flight, counted with an instrumented core on a loaded machine.)
      this.core.jit?.poll(); // regions the translator thread finished: installed before the slice
      const r = this.core.x.hv_run(this.core.jit?.busy ? Math.min(sliceInsns, 200_000) : sliceInsns);
      this.drainConsoles();
      this.serviceDevices();
      if (done()) return;
      if (r === MM.HVX_NONE) return;
      if (r === MM.HVX_IDLE) {
        const ns = Number(this.core.x.hv_idle_ns());
        const ms = ns === 0 ? 50 : Math.min(50, Math.max(0, ns / 1e6));
        await new Promise<void>(
          (res) => { const t = setTimeout(res, ms); this.kick = () => { clearTimeout(t); res(); }; }
        );
        this.kick = undefined;
        eager = 0;
      } else if (r === MM.HVX_BUDGET || ++eager >= 32) {
        eager = 0;
        await yieldToEventLoop();
      }
    }
  }
}

export { parseXenElf };
