// xend: the one process per host that owns the core (the hypervisor and all domains) and dom0's
// devices. It runs the domains continuously and answers `xm` over a unix socket (mode 0600, in a
// 0700 directory) with the typed protocol of protocol.ts. Each domain keeps a bounded console log;
// `xm console` attaches to it (raw bytes both ways after the response line).
import { createServer, Server, Socket } from "node:net";
import { mkdirSync, chmodSync, rmSync, existsSync, lstatSync } from "node:fs";
import { dirname, resolve as resolvePath, isAbsolute } from "node:path";
import { hostname, release as osRelease } from "node:os";
import { XenHost, DomainHandle, SHUTDOWN_NAMES } from "../pv/host";
import { MM } from "../core";
import { saveDomain, restoreDomain, openStream } from "../save/save";
import { migrate, DEFAULT_RELOCATION_PORT } from "../migrate/send";
import { startRelocation, RelocationOptions, isLoopback as isLoopbackHost } from "../migrate/receive";
import type { DiskSpec } from "../devices/block/blkback";
import type { VifSpec } from "../devices/net/netback";
import { open, rename, rm, unlink } from "node:fs/promises";
import { constants } from "node:fs";
import {
  Request, Response, DomainRow, HostInfo, VcpuRow, LineReader, socketPath, xendFiles, parseRequest
} from "./protocol";
import { takeLock, LockHeld } from "./lock";
import { parseConfig, DomainConfig, MEMORY_MAX_MIB, deviceSpecs } from "./config";
import { Framer } from "../devices/xenstore/wire";
import { hotplugRequest, HotplugRequest } from "./hotplug";
import { suspendTimeoutMs } from "./env";
import {
  DS_RUNNING, DS_SHUTDOWN, SHUTDOWN_reboot, SHUTDOWN_suspend, SHUTDOWN_crash, VF_ONLINE, VF_BLOCKED, VF_POLLING
} from "../../assembly/records";
import { readRegular } from "./files";
import { validateToolstack, checkPaths, ToolstackRecord } from "./incoming";
import { saveMac, secretForLoopback } from "./secret";
import { StreamWriter, REC } from "../save/stream";
import { timingSafeEqual } from "node:crypto";
import { kernelSourceAsync, withKernelAsync } from "../pv/image";

const CONSOLE_LOG_BYTES = 64 * 1024;
/** The global VIRQs a domain can be made the handler of (xen.h numbers). */
const GLOBAL_VIRQS: Record<string, number> = { console: 2, dom_exc: 3 };


interface Dom {
  handle: DomainHandle;
  cfg: DomainConfig;
  log: Uint8Array[];
  logBytes: number;
  consoles: Set<Socket>;
  waiters: (() => void)[];
  created: number;
  weight: number;
  cap: number;
  restarts: number;
  /** Its shutdown has been acted on (a preserved domain stays, and is not reported again). */
  reaped?: boolean;
}

export class Xend {
  readonly host: XenHost;
  private readonly doms = new Map<number, Dom>();
  /** Names whose domain is between two lives (reap: on_* = restart), with the restart under way. */
  private readonly restarting = new Map<string, Promise<unknown>>();
  private server?: Server;
  private stopping = false;
  private releaseLock?: () => void;
  private socketFile?: string;
  private xsFile?: string;
  private kick?: () => void;
  private readonly started = Date.now();
  /** Called after every run slice (suspend waits on them). */
  private readonly sliceWatchers = new Set<(now: number) => void>();
  private relocation?: Server;
  /** The relocation secret (host/xend/secret.ts): incoming migrations prove they know it; our save files carry its MAC.
   *  */
  secret?: string;

  constructor(host: XenHost) { this.host = host; host.onWake = () => this.wake(); }

  static async create(machineMiB = 2048): Promise<Xend> { return new Xend(await XenHost.create(machineMiB)); }

  // ---- the run loop ----
  async loop(): Promise<void> {
    const x = this.host.core.x;
    while (!this.stopping) {
      // Regions the JIT's translator thread finished are installed before the slice; while compiles are in
      // flight, shorter slices (as XenHost.runUntil).
      const jit = this.host.core.jit;
      jit?.poll();
      const r = x.hv_run(jit?.busy ? 200_000 : 2_000_000);
      if (this.sliceWatchers.size) { const now = performance.now(); for (const w of [...this.sliceWatchers]) w(now); }
      this.host.drainConsoles();
      this.host.serviceDevices();
      this.reap();
      if (r === MM.HVX_IDLE || r === MM.HVX_NONE) {
        const ns = r === MM.HVX_IDLE ? Number(x.hv_idle_ns()) : 0;
        const ms = ns === 0 ? 100 : Math.min(100, ns / 1e6);
        await new Promise<void>(
          (res) => { const t = setTimeout(res, ms); this.kick = () => { clearTimeout(t); res(); }; }
        );
        this.kick = undefined;
      } else {
        await new Promise((res) => setImmediate(res));
      }
    }
  }

  wake(): void { this.kick?.(); }

  // Domains that shut down: their on_poweroff / on_reboot / on_crash action.
  private reap(): void {
    for (const [id, d] of this.doms) {
      if (this.host.state(id) !== DS_SHUTDOWN) continue;
      const reason = this.host.shutdownReason(id);
      if (reason === SHUTDOWN_suspend) continue; // the saver (or migration) takes it from here
      if (d.reaped) continue;
      d.reaped = true;
      const action =
        reason === SHUTDOWN_reboot ? d.cfg.on_reboot : reason === SHUTDOWN_crash ? d.cfg.on_crash : d.cfg.on_poweroff;
      this.logLine(d, `[xend] domain ${d.cfg.name} (${id}) shut down: ${SHUTDOWN_NAMES[reason] ?? reason}; ${action}`);
      this.host.logLine(
        `d${id}: domain ${d.cfg.name} shut down: ` + `${SHUTDOWN_NAMES[reason] ?? reason}; `
          + `on_${reason === SHUTDOWN_reboot ? "reboot" : reason === SHUTDOWN_crash ? "crash" : "poweroff"} `
          + `= ${action}`
      );
      if (action === "preserve") { d.waiters.splice(0).forEach((w) => w()); continue; }
      this.destroy(id);
      if (action !== "restart" && action !== "rename-restart" && action !== "coredump-restart") continue;
      // A loop is stopped (as Xen's xend refuses to restart a domain too fast): after 10 restarts in a row
      // each less than a minute after the last; a domain that ran a minute or more starts the count again.
      const restarts = Date.now() - d.created < 60000 ? d.restarts + 1 : 1;
      if (restarts > 10)
        this.host.logLine(`d${id}: domain ${d.cfg.name} not restarted: ${restarts - 1} restarts in a row, each within `
          + "a minute (a loop)");
      else {
        // Between the two lives (the kernel read again) the name stays taken, and a request naming it
        // waits for the new domain (handle): `xm destroy` then destroys the new one instead of failing.
        const name = d.cfg.name;
        const p = this.start(d.cfg, restarts)
          .catch((e) => this.host.logLine(`d${id}: domain ${name} not restarted: ${(e as Error).message}`))
          .finally(() => this.restarting.delete(name));
        this.restarting.set(name, p);
      }
    }
  }

  private logLine(d: Dom, s: string): void { this.appendLog(d, new TextEncoder().encode(`\r\n${s}\r\n`)); }

  private appendLog(d: Dom, b: Uint8Array): void {
    d.log.push(b);
    d.logBytes += b.length;
    while (d.logBytes > CONSOLE_LOG_BYTES && d.log.length > 1) d.logBytes -= d.log.shift()!.length;
    for (const s of d.consoles) s.write(b);
  }

  // ---- domains ----
  /** Start a domain from its config. The kernel and ramdisk are read and decompressed without blocking
   * the event loop, each at most the domain's memory (it must hold them). */
  async start(cfg: DomainConfig, restarts = 0, paused = false, attach?: (id: number) => void): Promise<number> {
    const nameFree = () => {
      if (this.nameInUse(cfg.name, restarts > 0)) throw new Error(`a domain named ${cfg.name} already exists`);
    };
    nameFree();
    const limit = cfg.memory * 1048576;
    if (!cfg.kernel) throw new Error(`${cfg.name} has no kernel`);
    const image = await readRegular(cfg.kernel, limit, "kernel");
    const badKernel = (e: Error) => {
      throw new Error(e.message.startsWith("bzImage") ? `kernel ${cfg.kernel}: ${e.message}` : e.message);
    };
    // (A kept kernel is read into the domain's memory as it is built, and checked then: kernelSourceAsync.)
    const kernel = await kernelSourceAsync(image, limit).catch(badKernel);
    let h: DomainHandle;
    try {
      const ramdisk = cfg.ramdisk ? await readRegular(cfg.ramdisk, limit, "ramdisk") : undefined;
      if (kernel.length + (ramdisk?.length ?? 0) > limit)
        throw new Error(`${cfg.name}: its kernel and ramdisk do not fit in its ${cfg.memory} MiB`);
      nameFree(); // again: another request may have taken the name while we read
      const o = {
        memoryMiB: cfg.memory, vcpus: cfg.maxvcpus ?? cfg.vcpus, vcpusOnline: cfg.vcpus, cmdline: cfg.cmdline, ramdisk,
        ...deviceSpecs(cfg)
      };
      h = await withKernelAsync(kernel, image, limit, (src) => this.host.buildFrom(cfg.name, src, o));
    } finally { kernel.close(); }
    if (cfg.maxmem > cfg.memory) this.host.core.x.hv_domain_set_max_pages(h.domid, cfg.maxmem * 256 + 64);
    this.host.core.x.hv_domain_sched(h.domid, cfg.cpu_weight ?? 256, cfg.cpu_cap ?? 0);
    if (paused) this.host.core.x.hv_domain_pause(h.domid, 1);
    const d: Dom = {
      handle: h, cfg, log: [], logBytes: 0, consoles: new Set(), waiters: [], created: Date.now(),
      weight: cfg.cpu_weight ?? 256, cap: cfg.cpu_cap ?? 0, restarts
    };
    h.onConsole = (b) => this.appendLog(d, b);
    this.doms.set(h.domid, d);
    this.host.logLine(
      `d${h.domid}: domain ${cfg.name} created (${cfg.memory} MiB, `
        + `${cfg.vcpus} vCPU${cfg.vcpus === 1 ? "" : "s"}, kernel `
        + `${cfg.kernel})${restarts ? `, restart ${restarts}` : ""}${paused ? ", paused" : ""}`
    );
    this.netSetup(d);
    attach?.(h.domid); // before it runs: a console attached here sees all its output
    this.wake();
    return h.domid;
  }

  /** The NAT's part of a domain's vifs: `ip=` as its DHCP address, `forward=` as port forwards. A
   * restored or migrated-in domain (`adopted`) waits up to 30 s for a forward's port still held by its
   * source (a migration within this machine: the sending xend closes it when it destroys the source). */
  private netSetup(d: Dom, adopted = false): void {
    const nat = this.host.nat;
    d.handle.vifs.forEach((v, i) => {
      const c = d.cfg.vifs[i];
      if (!c) return;
      if (nat) nat.setupVif(v.mac, c, (m) => this.logLine(d, `[xend] ${m}`), adopted ? 30000 : 0);
      else if (c.forward?.length)
        this.logLine(d, `[xend] vif ${v.mac}: forward= needs the NAT (xend runs with XEND_NAT=no)`);
    });
  }

  destroy(id: number): void {
    const d = this.doms.get(id);
    if (!d) return;
    for (const s of d.consoles) s.end();
    this.host.destroyDomain(id);
    this.host.logLine(`d${id}: domain ${d.cfg.name} destroyed`);
    this.doms.delete(id);
    d.waiters.splice(0).forEach((w) => w());
  }

  private find(spec: string): number {
    if (/^\d+$/.test(spec)) {
      const id = Number(spec);
      if (id === 0) throw new Error("Domain-0 is the host itself: not allowed here");
      if (this.doms.has(id)) return id;
    }
    for (const [id, d] of this.doms) if (d.cfg.name === spec) return id;
    throw new Error(`no such domain: ${spec}`);
  }

  /** The vCPUs of domain `id` that are up (not taken down, or never brought up, by the guest): `xm list`'s VCPUs
   *  column, as xl's (libxl's vcpu_online); `xm vcpu-list` shows each, `xm list -l` the domain's maximum. */
  private vcpusUp(id: number): number {
    return this.host.vcpusUp(id).filter((up) => up).length;
  }

  private stateLetters(id: number): string {
    const x = this.host.core.x;
    const st = this.host.state(id);
    const r = st === DS_RUNNING && !x.hv_domain_blocked(id) && !x.hv_domain_paused(id) ? "r" : "-";
    const b = st === DS_RUNNING && x.hv_domain_blocked(id) && !x.hv_domain_paused(id) ? "b" : "-";
    const p = x.hv_domain_paused(id) ? "p" : "-";
    const s = st === DS_SHUTDOWN ? "s" : "-";
    const c = st === DS_SHUTDOWN && this.host.shutdownReason(id) === SHUTDOWN_crash ? "c" : "-";
    return r + b + p + s + c + "-";
  }

  rows(): DomainRow[] {
    const x = this.host.core.x;
    const rows: DomainRow[] = [{
      name: "Domain-0", id: 0, memMiB: Math.round(process.memoryUsage().rss / 1048576), vcpus: 1, state: "r-----",
      cpuSeconds: process.cpuUsage().user / 1e6, maxMiB: 0, weight: 256, cap: 0, disks: [],
      uptime: (Date.now() - this.started) / 1000,
    }];
    for (const [id, d] of [...this.doms].sort((a, b) => a[0] - b[0])) {
      rows.push({
        name: d.cfg.name, id, memMiB: Math.round(x.hv_domain_pages(id) / 256), vcpus: this.vcpusUp(id),
        state: this.stateLetters(id), cpuSeconds: Number(x.hv_domain_cpu_ns(id)) / 1e9,
        maxMiB: d.cfg.maxmem, weight: d.weight, cap: d.cap, disks: d.cfg.disks.map((k) => `${k.vdev}:${k.target}`),
        uptime: (Date.now() - d.created) / 1000,
        vifs: d.handle.vifs.map((v) => ({ devid: v.devid, mac: v.mac, bridge: this.host.bridge.name })),
        config: (
          ({ warnings: _w, ...c }) => ({
            ...c, vifs: c.vifs.map(
              (v, i) => ({ ...v, mac: d.handle.vifs[i]?.mac ?? v.mac, devid: d.handle.vifs[i]?.devid ?? v.devid })
            )
          })
        )(d.cfg),
        ...(
          this.host.state(id) === DS_SHUTDOWN
            ? { shutdownReason: SHUTDOWN_NAMES[this.host.shutdownReason(id)] ?? String(this.host.shutdownReason(id)) }
            : {}
        ),
      });
    }
    return rows;
  }

  info(): HostInfo {
    const x = this.host.core.x;
    let hc = 0;
    for (let i = 0; i < 64; i++) hc += x.hv_hypercall_count(i);
    const totalMiB = Math.round(this.host.machineMiB), freeMiB = Math.round(x.hv_frames_free() / 256);
    const up = (Date.now() - this.started) / 1000;
    // xl info's names and order (tools/xl/xl_info.c): what a script greps for is where it expects it.
    const xl: [string, string | number][] = [
      ["host", hostname()], ["release", osRelease()], ["version", "#1"], ["machine", "x86_64"],
      ["nr_cpus", 1], ["max_cpu_id", 0], ["nr_nodes", 1], ["cores_per_socket", 1], ["threads_per_core", 1],
      ["cpu_mhz", 0], ["hw_caps", "0"], ["virt_caps", "pv"],
      ["total_memory", totalMiB], ["free_memory", freeMiB], ["sharing_freed_memory", 0], ["sharing_used_memory", 0],
      ["outstanding_claims", 0], ["free_cpus", 0],
      ["xen_major", 4], ["xen_minor", 19], ["xen_extra", "-xenwasm"], ["xen_version", "4.19-xenwasm"],
      ["xen_caps", "xen-3.0-x86_64 xen-3.0-x86_32p"], ["xen_scheduler", "credit"], ["xen_pagesize", 4096],
      ["platform_params", "virt_start=0xffff800000000000"], ["xen_changeset", "xenwasm 0.1"], ["xen_commandline", ""],
      ["cc_compiler", "AssemblyScript"], ["cc_compile_by", "xenwasm"], ["cc_compile_domain", ""],
      ["cc_compile_date", ""],
      ["build_id", ""], ["xend_config_format", 4],
      ["nr_domains", this.doms.size], ["xend_pid", process.pid], ["uptime", `${up.toFixed(0)} s`], ["hypercalls", hc],
    ];
    return {
      version: "xenwasm 0.1 (Xen interface 0x00041300)", totalMiB, freeMiB,
      domains: this.doms.size, pid: process.pid, uptime: up, hypercalls: hc, mips: 0, xl,
    };
  }

  // ---- save and restore ----
  /** Ask a domain to suspend itself (control/shutdown = "suspend") and wait until it has; resolves
   * with the time (performance.now()) right after the run slice in which it suspended. */
  async suspend(id: number, timeoutMs = suspendTimeoutMs()): Promise<number> {
    const d = this.doms.get(id)!;
    const x = this.host.core.x;
    if (this.host.state(id) !== DS_RUNNING) throw new Error(`${d.cfg.name} is not running`);
    if (x.hv_domain_paused(id))
      throw new Error(`${d.cfg.name} is paused: unpause it first (its kernel must answer the suspend request)`);
    this.host.store.write(`/local/domain/${id}/control/shutdown`, "suspend");
    this.wake();
    const t = await new Promise<number | undefined>((res) => {
      const timer = setTimeout(() => { this.sliceWatchers.delete(w); res(undefined); }, timeoutMs);
      const w = (now: number) => {
        if (this.host.state(id) !== DS_SHUTDOWN) return;
        this.sliceWatchers.delete(w);
        clearTimeout(timer);
        res(now);
      };
      this.sliceWatchers.add(w);
    });
    if (t === undefined) {
      this.host.store.write(`/local/domain/${id}/control/shutdown`, "");
      throw new Error(
        `${d.cfg.name} did not suspend within ${timeoutMs / 1000} s (does its kernel support PV suspend?)`
      );
    }
    if (this.host.shutdownReason(id) !== SHUTDOWN_suspend) throw new Error(
      `${d.cfg.name} shut down (${SHUTDOWN_NAMES[this.host.shutdownReason(id)]}) instead of suspending`
    );
    return t;
  }

  /** A suspended domain runs on (its suspend hypercall returns 1: "cancelled"). */
  resumeCancelled(id: number): void {
    if (this.host.core.x.hv_resume_cancelled(id) === 0) this.wake();
  }

  toolstackRecord(id: number): ToolstackRecord {
    const d = this.doms.get(id)!;
    const vifs = d.cfg.vifs.map((v, i) => ({ ...v, mac: d.handle.vifs[i]?.mac ?? v.mac }));
    return { config: { ...d.cfg, vifs }, weight: d.weight, cap: d.cap };
  }

  async save(
    id: number, file: string, progress: (phase: string, done: number, total: number) => void
  ): Promise<number> {
    const d = this.doms.get(id)!;
    progress("suspending", 0, 1);
    await this.suspend(id);
    const part = `${file}.part`;
    let size = 0, created = false;
    try {
      const bytes = saveDomain(this.host, id, this.toolstackRecord(id));
      // Our MAC goes last before END (REC.AUTH), so that a restore here knows the file for its own.
      const body = bytes.subarray(0, bytes.length - 16);
      const w = new StreamWriter();
      if (this.secret) w.record(REC.AUTH, saveMac(this.secret, body), 0);
      const tail = w.bytes().subarray(12); // without its stream header: AUTH (if any) and END
      size = body.length + tail.length;
      // FILE.part is ours alone: a stale one (or a symlink planted there) is unlinked, not followed,
      // and the new one is created exclusively, never through a symlink, mode 0600.
      await unlink(part).catch((e: NodeJS.ErrnoException) => { if (e.code !== "ENOENT") throw e; });
      const fh =
        await open(part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      created = true;
      try {
        const CHUNK = 4 << 20;
        for (let o = 0; o < body.length; o += CHUNK) {
          await fh.write(body, o, Math.min(CHUNK, body.length - o));
          progress("writing", Math.min(o + CHUNK, body.length), size);
        }
        await fh.write(tail);
        await fh.sync();
      } finally { await fh.close(); }
      await rename(part, file);
    } catch (e) {
      // The domain runs on first: nothing in the cleanup may stand between a failed save and that.
      this.resumeCancelled(id);
      if (created) await rm(part, { force: true }).catch(() => { /* gone already */ });
      throw new Error(`save of ${d.cfg.name} failed, it runs on: ${writeError(e, file)}`);
    }
    this.logLine(d, `[xend] domain ${d.cfg.name} (${id}) saved to ${file}`);
    this.destroy(id);
    return size;
  }

  /** Whether a save file carries this xend's MAC (it was written by a xend holding our secret). */
  private ownSaveFile(bytes: Uint8Array): boolean {
    if (!this.secret || bytes.length < 12 + 48 + 16) return false;
    const a = bytes.length - 16 - 48;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (
      dv.getUint32(a, true) !== REC.AUTH || dv.getUint32(a + 8, true) !== 32
        || dv.getUint32(bytes.length - 16, true) !== REC.END
    ) return false;
    return timingSafeEqual(bytes.subarray(a + 12, a + 44), saveMac(this.secret, bytes.subarray(0, a)));
  }

  async restore(
    file: string, paused: boolean, progress: (phase: string, done: number, total: number) => void
  ): Promise<{ id: number; name: string }> {
    // A save holds at most the host's memory and its records: a larger file is not one of ours.
    const bytes = await readRegular(file, this.host.machineMiB * 1048576 + (64 << 20), "save file");
    progress("checking", 0, bytes.length);
    const s = openStream(bytes);
    progress("checking", bytes.length, bytes.length);
    const where = `save file ${file}`;
    const ts = validateToolstack(s.toolstack, where, s.info);
    const notes = checkPaths(ts.config, this.ownSaveFile(bytes), where);
    if (this.nameInUse(ts.config.name)) throw new Error(`a domain named ${ts.config.name} already exists`);
    const h = restoreDomain(this.host, s, this.devices(ts), paused);
    progress("restoring", bytes.length, bytes.length);
    this.adopt(h, ts);
    const d = this.doms.get(h.domid)!;
    for (const n of notes) this.logLine(d, `[xend] ${n}`);
    this.logLine(d, `[xend] domain ${ts.config.name} (${h.domid}) restored from ${file}`);
    return { id: h.domid, name: ts.config.name };
  }

  // ---- migration (host/migrate/) ----
  name(id: number): string { return this.doms.get(id)!.cfg.name; }
  /** Whether a domain has NAME, or is restarting under it (unless `restart`: that restart asks). */
  nameInUse(name: string, restart = false): boolean {
    if (!restart && this.restarting.has(name)) return true;
    for (const d of this.doms.values()) if (d.cfg.name === name) return true;
    return false;
  }
  log(s: string): void { console.error(`xend: ${s}`); }

  devices(ts: ToolstackRecord): { disks: DiskSpec[]; vifs: VifSpec[] } { return deviceSpecs(ts.config); }

  /** An incoming migration's toolstack record, validated as a config file and its paths checked
   * (the connection proved it knows our secret); throws a one-line Error. */
  admit(
    toolstack: unknown, info: { name: string; memoryMiB: number; vcpus: number }
  ): { ts: ToolstackRecord; notes: string[] } {
    const ts = validateToolstack(toolstack, "the migration stream", info);
    return { ts, notes: checkPaths(ts.config, true, "the migration stream") };
  }

  /** A restored or migrated-in domain joins the toolstack, with its (validated) config, weight and cap. */
  adopt(h: DomainHandle, ts: ToolstackRecord, notes: string[] = []): void {
    const x = this.host.core.x;
    const cfg = ts.config;
    if (cfg.maxmem > cfg.memory) x.hv_domain_set_max_pages(h.domid, cfg.maxmem * 256 + 64);
    const weight = ts.weight, cap = ts.cap;
    x.hv_domain_sched(h.domid, weight, cap);
    const d: Dom = {
      handle: h, cfg, log: [], logBytes: 0, consoles: new Set(), waiters: [], created: Date.now(), weight, cap,
      restarts: 0
    };
    h.onConsole = (b) => this.appendLog(d, b);
    this.doms.set(h.domid, d);
    for (const n of notes) this.logLine(d, `[xend] ${n}`);
    this.netSetup(d, true);
    this.wake();
  }

  /** Listen for incoming migrations (XEND_RELOCATION_*; loopback:8002 by default). */
  async listenRelocation(o: RelocationOptions): Promise<void> {
    this.relocation = await startRelocation(this, o);
  }

  // ---- requests ----
  async handle(req: Request, sock: Socket): Promise<Response | "console"> {
    const between = "dom" in req && req.dom !== undefined ? this.restarting.get(req.dom) : undefined;
    if (between) await between;
    switch (req.op) {
      case "ping": return { ok: true, data: { pid: process.pid } };
      case "stop": setImmediate(() => this.stop()); return { ok: true };
      case "create": {
        const cfg = parseConfig(req.text + "\n" + req.overrides.join("\n"), req.file);
        // Relative paths are xm's, as xl opens them itself: resolved against xm's working directory.
        if (req.cwd !== undefined) {
          if (!isAbsolute(req.cwd)) throw new Error(`bad working directory ${req.cwd}`);
          const abs = (p: string) => resolvePath(req.cwd!, p);
          cfg.kernel = abs(cfg.kernel);
          if (cfg.ramdisk) cfg.ramdisk = abs(cfg.ramdisk);
          for (const k of cfg.disks) k.target = abs(k.target);
        }
        // With console, attached before the domain first runs: a guest that is gone at once still shows its output.
        const attach = req.console ? (id: number) =>
          this.attach(id, sock, { id, name: cfg.name, warnings: cfg.warnings }) : undefined;
        const id = await this.start(cfg, 0, !!req.paused, attach);
        return req.console ? "console" : { ok: true, data: { id, name: cfg.name, warnings: cfg.warnings } };
      }
      case "rename": {
        const id = this.find(req.dom);
        const d = this.doms.get(id)!;
        const name = parseConfig(`name = ${JSON.stringify(req.name)}\nkernel = "/"\n`, "rename").name;
        if (name !== d.cfg.name && this.nameInUse(name)) throw new Error(`a domain named ${name} already exists`);
        this.host.logLine(`d${id}: domain ${d.cfg.name} renamed ${name}`);
        d.cfg.name = name;
        this.host.store.write(`/local/domain/${id}/name`, name);
        const vm = this.host.store.readString(`/local/domain/${id}/vm`);
        if (vm && /^\/vm\/[^/]+$/.test(vm)) this.host.store.write(`${vm}/name`, name);
        return { ok: true };
      }
      case "list": return { ok: true, data: this.rows() };
      case "info": return { ok: true, data: this.info() };
      case "dmesg": return { ok: true, data: this.host.dmesg(!!req.clear) };
      case "destroy": this.destroy(this.find(req.dom)); return { ok: true };
      case "pause": this.host.core.x.hv_domain_pause(this.find(req.dom), 1); return { ok: true };
      case "unpause": {
        const id = this.find(req.dom);
        if (!this.host.core.x.hv_domain_paused(id)) throw new Error(`${req.dom} is not paused`);
        this.host.core.x.hv_domain_pause(id, 0); this.wake(); return { ok: true };
      }
      case "shutdown": {
        const id = this.find(req.dom);
        this.host.store.write(`/local/domain/${id}/control/shutdown`, req.reboot ? "reboot" : "poweroff");
        this.wake();
        return { ok: true };
      }
      case "state": {
        const id = this.find(req.dom);
        return { ok: true, data: { state: this.host.state(id), reason: this.host.shutdownReason(id) } };
      }
      case "vcpu-list": {
        const x = this.host.core.x;
        const out: VcpuRow[] = [];
        const ids = req.dom ? [this.find(req.dom)] : [...this.doms.keys()];
        for (const id of ids) {
          const d = this.doms.get(id)!;
          // xl's letters per vCPU: r (runnable), b (blocked), p (offline, or its domain paused).
          const dst = this.stateLetters(id);
          for (let v = 0; v < x.hv_domain_vcpus(id); v++) {
            const f = x.hv_vcpu_flags(id, v), live = this.host.state(id) === DS_RUNNING;
            const online = (f & VF_ONLINE) !== 0, blocked = (f & (VF_BLOCKED | VF_POLLING)) !== 0;
            const state = (live && online && !blocked && dst[2] !== "p" ? "r" : "-")
              + (live && online && blocked ? "b" : "-") + (!online || dst[2] === "p" ? "p" : "-");
            out.push({ name: d.cfg.name, id, vcpu: v, state, cpuSeconds: Number(x.hv_vcpu_running_ns(id, v)) / 1e9 });
          }
        }
        return { ok: true, data: out };
      }
      case "vcpu-set": {
        // As xl vcpu-set for a PV domain: each vCPU's xenstore cpu/N/availability; the guest takes the
        // others down (and brings them back when its user space onlines them).
        const id = this.find(req.dom);
        this.host.setVcpusOnline(id, req.count);
        this.wake();
        return { ok: true };
      }
      case "mem-set": case "mem-max": {
        const id = this.find(req.dom);
        const d = this.doms.get(id)!;
        if (!(Number.isInteger(req.mib) && req.mib > 0 && req.mib <= MEMORY_MAX_MIB))
          throw new Error(`bad memory size ${req.mib} MiB (1 to ${MEMORY_MAX_MIB} MiB)`);
        if (req.op === "mem-max") {
          if (req.mib < Math.ceil(this.host.core.x.hv_domain_pages(id) / 256))
            throw new Error(`${d.cfg.name} uses more than ${req.mib} MiB`);
          this.host.core.x.hv_domain_set_max_pages(id, req.mib * 256 + 64);
          d.cfg.maxmem = req.mib;
          this.host.store.write(`/local/domain/${id}/memory/static-max`, String(req.mib * 1024));
        } else {
          if (req.mib > d.cfg.maxmem)
            throw new Error(`${req.mib} MiB is above ${d.cfg.name}'s maximum (${d.cfg.maxmem} MiB)`);
          this.host.store.write(`/local/domain/${id}/memory/target`, String(req.mib * 1024));
        }
        return { ok: true };
      }
      case "sched-credit": {
        if (!req.dom)
          return { ok: true, data: this.rows().map((r) => ({ name: r.name, id: r.id, weight: r.weight, cap: r.cap })) };
        const id = this.find(req.dom);
        const d = this.doms.get(id)!;
        if (req.weight !== undefined) {
          if (!(Number.isInteger(req.weight) && req.weight >= 1 && req.weight <= 65535))
            throw new Error("weight must be 1..65535"); d.weight = req.weight;
        }
        if (req.cap !== undefined) {
          if (!(Number.isInteger(req.cap) && req.cap >= 0 && req.cap <= 100 * d.cfg.vcpus))
            throw new Error(`cap must be 0..${100 * d.cfg.vcpus}`); d.cap = req.cap;
        }
        this.host.core.x.hv_domain_sched(id, d.weight, d.cap);
        return { ok: true, data: [{ name: d.cfg.name, id, weight: d.weight, cap: d.cap }] };
      }
      case "block-attach":
      case "block-detach": case "block-list": case "network-attach": case "network-detach": case "network-list": {
        const id = this.find(req.dom);
        const env = {
          host: this.host, wake: () => this.wake(), sliceWatchers: this.sliceWatchers, log: (s: string) => this.log(s)
        };
        return { ok: true, data: await hotplugRequest(env, id, this.doms.get(id)!.cfg, req as HotplugRequest) };
      }
      case "sysrq": {
        const id = this.find(req.dom);
        if (!/^[a-zA-Z0-9]$/.test(req.key)) throw new Error("sysrq: one letter or digit");
        this.host.store.write(`/local/domain/${id}/control/sysrq`, req.key);
        return { ok: true };
      }
      case "debug-keys": {
        // Keys typed at the hypervisor: their output goes to the log (xm dmesg); 'q' also sends VIRQ_DEBUG.
        const done = this.host.debugKeys(req.keys);
        this.wake();
        return { ok: true, data: { handled: done } };
      }
      case "virq-handler": return { ok: true, data: this.virqHandler(req.virq, req.dom) };
      case "console-input": {
        const n = this.host.hvConsoleInput(new TextEncoder().encode(req.text));
        this.wake();
        return { ok: true, data: { queued: n } };
      }
      case "save": {
        const id = this.find(req.dom);
        const size = await this.save(id, req.file, progressTo(sock));
        return { ok: true, data: { bytes: size } };
      }
      case "migrate": {
        const id = this.find(req.dom);
        const port = req.port ?? DEFAULT_RELOCATION_PORT;
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}: 1 to 65535`);
        const secret = isLoopbackHost(req.host) ? secretForLoopback(port, this.secret) : this.secret;
        const sum =
          await migrate(this, id, { host: req.host, port, live: !!req.live, secret, progress: progressTo(sock) });
        return { ok: true, data: sum };
      }
      case "restore": return { ok: true, data: await this.restore(req.file, !!req.paused, progressTo(sock)) };
      case "console": {
        this.attach(this.find(req.dom), sock);
        return "console";
      }
      default: return { ok: false, error: `unknown request ${(req as { op: string }).op}` };
    }
  }

  /** Switch an xm connection to the domain's console: the response line, what it printed so far, then raw bytes. */
  private attach(id: number, sock: Socket, data?: unknown): void {
    const d = this.doms.get(id);
    if (!d) throw new Error(`no such domain: ${id}`);
    sock.write(JSON.stringify({ ok: true, data }) + "\n");
    for (const b of d.log) sock.write(b);
    d.consoles.add(sock);
    sock.on("data", (b: Buffer) => { this.host.consoleInput(id, new Uint8Array(b)); this.wake(); });
    sock.on("close", () => d.consoles.delete(sock));
  }

  /** Show the global VIRQs' handlers, or make DOMAIN (0 / Domain-0: the host) the handler of VIRQ. */
  private virqHandler(virq?: string, dom?: string): { virq: string; nr: number; handler: string; id: number }[] {
    const x = this.host.core.x;
    const nameOf = (id: number) => id === 0 ? "Domain-0" : this.doms.get(id)?.cfg.name ?? String(id);
    if (virq !== undefined && dom !== undefined) {
      const nr = GLOBAL_VIRQS[virq.toLowerCase().replace(/^virq_/, "")] ?? (/^\d+$/.test(virq) ? Number(virq) : -1);
      const id = dom === "0" || dom === "Domain-0" ? 0 : this.find(dom);
      const rc = nr < 0 ? -22 : x.hv_set_virq_handler(nr, id);
      if (rc === -22) throw new Error(`${virq}: not a global VIRQ (use dom_exc, console or a number)`);
      if (rc === -16)
        throw new Error(`${virq}: its current handler ${nameOf(x.hv_virq_handler(nr))} still has it bound`);
      if (rc < 0) throw new Error(`${virq}: error ${rc}`);
    }
    return Object.entries(GLOBAL_VIRQS)
      .map(([name, nr]) => ({ virq: name, nr, handler: nameOf(x.hv_virq_handler(nr)), id: x.hv_virq_handler(nr) }));
  }

  // ---- the socket ----
  listen(path = socketPath()): Promise<void> {
    const files = xendFiles(path);
    prepareSocketDir(files.dir);
    try { this.releaseLock = takeLock(files.lock); } catch (e) {
      throw new Error(e instanceof LockHeld ? `already running (pid ${e.pid}, socket ${path})` : (e as Error).message);
    }
    this.socketFile = path;
    // We hold the lock: a socket left there is a dead xend's.
    if (existsSync(path)) rmSync(path);
    this.server = createServer((sock) => {
      let consoleMode = false;
      const lr = new LineReader(async (line) => {
        if (consoleMode) return;
        let res: Response | "console";
        try {
          const req = parseRequest(line);
          res = await this.handle(req, sock);
        } catch (e) {
          res = { ok: false, error: (e as Error).message.split("\n")[0] };
        }
        if (res === "console") { consoleMode = true; return; }
        sock.write(JSON.stringify(res) + "\n");
      });
      sock.on("data", (b) => { if (!consoleMode) { try { lr.push(b); } catch { sock.destroy(); } } });
      sock.on("error", () => {});
    });
    return new Promise((res, rej) => {
      // Bound 0600 from the start (the directory may be readable by others).
      const umask = process.umask(0o077);
      this.server!.once("error", (e) => { process.umask(umask); rej(e); });
      this.server!.listen(path, () => { process.umask(umask); chmodSync(path, 0o600); res(); });
    });
  }

  // xenstored's socket for dom0 tools: raw xs_wire messages (mode 0600, beside xend's socket).
  private xsServer?: Server;
  listenXenstore(path: string): Promise<void> {
    if (!this.releaseLock) throw new Error("listenXenstore: listen first (the lock)");
    if (existsSync(path)) rmSync(path);
    this.xsFile = path;
    this.xsServer = createServer((sock) => {
      const framer = new Framer();
      const conn = this.host.store.connect(0, (msg) => { if (!sock.destroyed) sock.write(msg); });
      sock.on("data", (b: Buffer) => {
        let buf = new Uint8Array(b);
        while (buf.length) {
          const { used, done } = framer.feed(buf);
          if (framer.error) { sock.destroy(); return; }
          buf = buf.subarray(used);
          if (done) { conn.handle(done); this.wake(); if (conn.broken) { sock.destroy(); return; } }
          if (used === 0 && !done) break;
        }
      });
      sock.on("close", () => conn.close());
      sock.on("error", () => {});
    });
    return new Promise((res, rej) => {
      const umask = process.umask(0o077);
      this.xsServer!.once("error", (e) => { process.umask(umask); rej(e); });
      this.xsServer!.listen(path, () => { process.umask(umask); chmodSync(path, 0o600); res(); });
    });
  }

  stop(): void {
    this.stopping = true;
    this.wake();
    this.server?.close();
    this.xsServer?.close();
    this.relocation?.close();
    if (this.doms.size)
      this.log(`stopping: destroying ${[...this.doms].map(([id, d]) => `${d.cfg.name} (${id})`).join(", ")}`);
    for (const id of [...this.doms.keys()]) this.destroy(id);
    // Only our own files, and only while we hold the lock (a second xend that never got it removes nothing).
    if (this.releaseLock) {
      for (const f of [this.socketFile, this.xsFile]) if (f) { try { rmSync(f); } catch { /* gone */ } }
      this.releaseLock();
      this.releaseLock = undefined;
    }
  }
}

/**
 * The directory of xend's socket: one xend makes is 0700; one that exists is left as it is, but must be
 * its user's (one made by another user could have its socket swapped) and writable by nobody else (such
 * as /tmp, where another user could plant the log or the lock).
 */
export function prepareSocketDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const me = typeof process.getuid === "function" ? process.getuid() : st.uid;
  if (!st.isDirectory() || st.uid !== me)
    throw new Error(`${dir} is not a directory of ours (uid ${me}): refusing to put xend's socket there`);
  if (st.mode & 0o022) throw new Error(
    `${dir} is writable by others (mode ` + `${(st.mode & 0o7777).toString(8)}): refusing to put xend's `
      + `socket there (set XEND_SOCKET to a path in a directory of ` + `your own)`
  );
}

/** Progress lines to an xm connection (at most every 50 ms, and the last one). */
function progressTo(sock: Socket): (phase: string, done: number, total: number) => void {
  let last = 0;
  return (phase, done, total) => {
    const now = Date.now();
    if (done < total && now - last < 50) return;
    last = now;
    if (!sock.destroyed) sock.write(JSON.stringify({ progress: { phase, done, total } }) + "\n");
  };
}

/** A failed write of `file` (or its FILE.part) in words, not as Node's errno text. */
function writeError(e: unknown, file: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOENT: "its directory does not exist", ENOTDIR: "a part of its path is not a directory",
    EACCES: "permission denied", EPERM: "permission denied", EROFS: "the file system is read-only",
    ENOSPC: "no space left on the device", EDQUOT: "the disk quota is exhausted", EISDIR: "it is a directory",
    ELOOP: "a symbolic link is in the way", EEXIST: "a file is in the way", ENAMETOOLONG: "the name is too long",
  };
  return code && why[code] ? `cannot write ${file}: ${why[code]}` : (e as Error).message;
}
