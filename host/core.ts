// Loads the core (build/xenwasm.wasm) and gives typed access to its exports and to the vCPU state block.
// Numbers only cross the boundary (u64 exports arrive as BigInt). The module comes from the caller
// (a WebAssembly.Module, its bytes, or a fetch Response: `Core.create(hooks, { core })`) or from the
// runtime (host/platform.ts: the Node entry points read build/xenwasm.wasm), and is instantiated with
// WebAssembly.instantiate (no synchronous compile: browsers refuse large ones on their main thread).
import * as MM from "../assembly/memmap";
import { platform } from "./platform";
import { CORE_ABI_VERSION } from "../assembly/records";
import { Jit, jitSettings, JIT_MODES, type JitMode } from "./jit/jit";

export { MM };

// The core's ABI, declared once: CoreExports types each export for TypeScript; CORE_EXPORTS gives its
// wasm signature, which tests/abi.test.ts compares with the module's own exports (both ways), and which
// tsc checks against CoreExports (SigsMatch below); assembly/records.ts holds the record layouts and
// numbers both sides use, and CORE_ABI_VERSION, which Core checks against core_abi_version().
export interface CoreExports {
  memory: WebAssembly.Memory;
  core_abi_version(): number;
  init(): void;
  heap_end(): number;
  cpu_reset_flat(mode: number, cpl: number): void;
  cpu_state_changed(): void;
  set_phys_window(base: number, limit: number): void;
  tlb_flush(): void;
  dcache_flush(): void;
  /** Tests: live decoded-cache entries the index does not name (0 when consistent: assembly/cpu/dcache.ts). */
  dcache_check(): number;
  flags_sync(): void;
  run(budget: number): number;
  jit_config(mode: number, threshold: number): void;
  /** Tests: the first instruction of each run() is a block start (under force: compiled before it runs). */
  jit_entries(on: number): void;
  // The JIT tier (assembly/cpu/jit.ts; host/jit/): the region table, decoding for the translator, and
  // the slow helpers compiled code calls.
  jit_flush(): void;
  jit_decode(lin: bigint, host: number): number;
  jit_install(host: number, mode: number, idx: number, gen: number, lo: number, hi: number): number;
  jit_regions(): number;
  jit_current(host: number, mode: number): number;
  jit_reserve(host: number, lo: number, hi: number): void;
  jit_page_gen(host: number): number;
  jit_mode(): number;
  jit_cond(cc: number, op: number, size: number, a: bigint, b: bigint, res: bigint, cf: number): number;
  jit_rd(lin: bigint, size: number): number;
  jit_wr(lin: bigint, size: number): number;
  jit_str(kind: number): number;
  jit_exec(lin: bigint, host: number): number;
  jit_flags(op: number, size: number, a: bigint, b: bigint, res: bigint, cf: number): bigint;
  // The hypervisor (assembly/hv/api.ts). u64 parameters take BigInt, u64 results are BigInt.
  hv_init(machineMiB: number): number;
  hv_domain_create(width: number, vcpus: number, maxPages: number): number;
  hv_domain_destroy(d: number): number;
  hv_domain_state(d: number): number;
  hv_domain_shutdown_reason(d: number): number;
  hv_domain_shutdown(d: number, reason: number): void;
  hv_domain_pages(d: number): number;
  hv_domain_pause(d: number, on: number): void;
  hv_domain_insns(d: number): bigint;
  hv_frames_free(): number;
  hv_frames_owned(d: number): number;
  /** Frames on d's own list (-1: the list is broken); equals hv_frames_owned. */
  hv_frames_listed(d: number): number;
  hv_domain_core_bytes(d: number, what: number): bigint;
  hv_alloc_frame(d: number): number;
  hv_set_m2p(mfn: number, pfn: bigint): void;
  hv_setup_shared_info(d: number): number;
  hv_set_domain_info(
    d: number, startInfo: number, consoleMfn: number, consoleEvtchn: number, storeMfn: number, storeEvtchn: number
  ): void;
  hv_vm_assist(d: number, bits: number): void;
  hv_pin(d: number, mfn: number, level: number): number;
  hv_vcpu_boot(d: number, vc: number, rip: bigint, rsp: bigint, rsi: bigint, topMfn: number): number;
  hv_run(budget: number): number;
  hv_idle_ns(): bigint;
  hv_set_wallclock(sec: bigint, nsec: number): void;
  hv_evtchn_bind(remote: number, rport: number): number;
  hv_evtchn_alloc_unbound(d: number, remote: number): number;
  hv_evtchn_send(p: number): number;
  hv_evtchn_close(p: number): number;
  hv_evtchn_take(p: number): number;
  hv_hypercall_count(nr: number): number;
  hv_hc_continuations(domid: number): number;
  hv_gnt_map(g: number, ref: number, readonly: number): number;
  hv_gnt_mfn(h: number): number;
  hv_gnt_unmap(h: number): number;
  hv_domain_cpu_ns(d: number): bigint;
  hv_domain_max_pages(d: number): number;
  hv_domain_set_max_pages(d: number, n: number): void;
  hv_domain_vcpus(d: number): number;
  hv_vcpu_flags(d: number, vc: number): number;
  hv_vcpu_running_ns(d: number, vc: number): bigint;
  hv_domain_paused(d: number): number;
  hv_domain_blocked(d: number): number;
  hv_domain_sched(d: number, weight: number, cap: number): number;
  hv_trace(on: number): void;
  hv_alloc_frames(d: number, n: number, first: number): number;
  hv_domain_time(d: number): bigint;
  hv_domain_set_time(d: number, t: bigint): void;
  hv_save_frames(d: number, fromMfn: number): number;
  hv_domain_addr(d: number): number;
  hv_vcpu_addr(d: number, vc: number): number;
  hv_restore_fixup(d: number, count: number): number;
  // The typed save records (assembly/saverec.ts; host/save/records.ts): written at MM.MAILBOX, their
  // size or -1; the records at MM.RESTORE_BLOBS checked before a domain exists (0 or -(SRE_* | (vCPU + 1) << 8)).
  hv_save_domain_record(d: number): number;
  hv_save_vcpu_record(d: number, k: number): number;
  hv_restore_check(width: number, nvcpus: number, maxPages: number): number;
  hv_restored_ports(): number;
  hv_resume_cancelled(d: number): number;
  hv_free_frame(d: number, mfn: number): number;
  hv_restore_begin(bound: number): void;
  hv_restore_frames(d: number, n: number): number;
  hv_frames_typed(d: number, fromMfn: number): number;
  hv_frame_owner(mfn: number): number;
  // Log-dirty for live migration (docs/SAVE-RESTORE.md): on/off (0, or -1 for a bad domid); collect
  // (peek and clean: mfns as u32 at MM.MAILBOX from fromMfn on; call again from the last + 1 until 0);
  // the frames to resend in the last round anyway (u32 mfns at MM.MAILBOX); the host wrote a frame.
  hv_logdirty(d: number, on: number): number;
  hv_logdirty_collect(d: number, fromMfn: number): number;
  hv_logdirty_always(d: number): number;
  hv_mark_dirty(mfn: number): void;
  // Global VIRQs' handler domains (0 = the host), debug keys, the hypervisor console's input (bytes at
  // MM.MAILBOX): assembly/hv/virq.ts.
  hv_set_virq_handler(virq: number, d: number): number;
  hv_virq_handler(virq: number): number;
  hv_debug_key(key: number): number;
  hv_console_input(n: number): number;
  hv_console_queued(): number;
  /** The core's performance counters (assembly/perf.ts PC_*; tests/lib/perf.ts names them). */
  perf_counter(k: number): bigint;
}

/** Each export's wasm signature: parameters, '>', result; i = i32, I = i64 (BigInt), f = f32, d = f64. */
export const CORE_EXPORTS = {
  core_abi_version: ">i", init: ">", heap_end: ">i", cpu_reset_flat: "ii>", cpu_state_changed: ">",
  set_phys_window: "ii>",
  tlb_flush: ">", dcache_flush: ">", dcache_check: ">i", flags_sync: ">", run: "i>i", jit_config: "ii>",
  jit_entries: "i>",
  jit_flush: ">", jit_decode: "Ii>i", jit_install: "iiiiii>i", jit_regions: ">i", jit_current: "ii>i",
  jit_reserve: "iii>",
  jit_page_gen: "i>i", jit_mode: ">i", jit_cond: "iiiIIIi>i", jit_rd: "Ii>i", jit_wr: "Ii>i", jit_str: "i>i",
  jit_exec: "Ii>i", jit_flags: "iiIIIi>I",
  hv_init: "i>i", hv_domain_create: "iii>i", hv_domain_destroy: "i>i", hv_domain_state: "i>i",
  hv_domain_shutdown_reason: "i>i",
  hv_domain_shutdown: "ii>", hv_domain_pages: "i>i", hv_domain_pause: "ii>", hv_domain_insns: "i>I",
  hv_frames_free: ">i",
  hv_frames_owned: "i>i", hv_frames_listed: "i>i", hv_domain_core_bytes: "ii>I", hv_alloc_frame: "i>i",
  hv_set_m2p: "iI>", hv_setup_shared_info: "i>i",
  hv_set_domain_info: "iiiiii>", hv_vm_assist: "ii>", hv_pin: "iii>i", hv_vcpu_boot: "iiIIIi>i", hv_run: "i>i",
  hv_idle_ns: ">I",
  hv_set_wallclock: "Ii>", hv_evtchn_bind: "ii>i", hv_evtchn_alloc_unbound: "ii>i", hv_evtchn_send: "i>i",
  hv_evtchn_close: "i>i",
  hv_evtchn_take: "i>i", hv_hypercall_count: "i>i", hv_hc_continuations: "i>i", hv_gnt_map: "iii>i", hv_gnt_mfn: "i>i",
  hv_gnt_unmap: "i>i",
  hv_domain_cpu_ns: "i>I", hv_domain_max_pages: "i>i", hv_domain_set_max_pages: "ii>", hv_domain_vcpus: "i>i",
  hv_vcpu_flags: "ii>i", hv_vcpu_running_ns: "ii>I",
  hv_domain_paused: "i>i", hv_domain_blocked: "i>i", hv_domain_sched: "iii>i", hv_trace: "i>", hv_alloc_frames: "iii>i",
  hv_domain_time: "i>I", hv_domain_set_time: "iI>", hv_save_frames: "ii>i", hv_domain_addr: "i>i", hv_vcpu_addr: "ii>i",
  hv_restore_fixup: "ii>i", hv_save_domain_record: "i>i", hv_save_vcpu_record: "ii>i", hv_restore_check: "iii>i",
  hv_restored_ports: ">i", hv_resume_cancelled: "i>i", hv_free_frame: "ii>i", hv_restore_begin: "i>",
  hv_restore_frames: "ii>i", hv_frames_typed: "ii>i", hv_frame_owner: "i>i",
  hv_logdirty: "ii>i", hv_logdirty_collect: "ii>i", hv_logdirty_always: "i>i", hv_mark_dirty: "i>",
  hv_set_virq_handler: "ii>i", hv_virq_handler: "i>i", hv_debug_key: "i>i", hv_console_input: "i>i",
  hv_console_queued: ">i", perf_counter: "i>I",
} as const satisfies { [K in Exclude<keyof CoreExports, "memory">]: string };

// tsc (npm test's type check) fails here, naming the export, when a signature above and its type in
// CoreExports disagree.
type WasmVal<C extends string> = C extends "i" | "f" | "d" ? number : C extends "I" ? bigint : never;
type WasmParams<S extends string> = S extends `${infer C}${infer R}` ? [WasmVal<C>, ...WasmParams<R>] : [];
type WasmFn<S extends string> = S extends `${infer P}>${infer R}` ? (...a: WasmParams<P>) =>
  (R extends "" ? void : WasmVal<R>) : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SigsMatch = { [K in keyof typeof CORE_EXPORTS]: Same<WasmFn<(typeof CORE_EXPORTS)[K]>, CoreExports[K]> };
export const SIGS_MATCH: { [K in keyof typeof CORE_EXPORTS]: true } = {} as SigsMatch;

/** A core (build/xenwasm.wasm) this host cannot drive: built from other sources. */
export class CoreAbiError extends Error {}

/** The module's exports against CORE_EXPORTS (missing ones), then its interface version against ours. */
function checkCoreAbi(mod: WebAssembly.Module, x: CoreExports): void {
  const have = new Set(WebAssembly.Module.exports(mod).filter((e) => e.kind === "function").map((e) => e.name));
  const rebuild = "rebuild it from these sources (`npm run asbuild`, or `npm run build`)";
  const missing = Object.keys(CORE_EXPORTS).filter((n) => !have.has(n));
  if (missing.includes("core_abi_version"))
    throw new CoreAbiError(`the core (build/xenwasm.wasm) has no interface version: ${rebuild}`);
  const v = x.core_abi_version();
  if (v !== CORE_ABI_VERSION) throw new CoreAbiError(
    `the core (build/xenwasm.wasm) has interface version ${v}, this host ${CORE_ABI_VERSION}: ${rebuild}`
  );
  if (missing.length) throw new CoreAbiError(
    `the core (build/xenwasm.wasm) lacks ` + `${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}: `
      + `${rebuild}`
  );
}

export interface CoreHooks {
  ioIn?(port: number, size: number): number;
  /** Return true to make run() return EXIT_HOST. */
  ioOut?(port: number, size: number, value: number): boolean | void;
  timeNs?(): number;
}

/** The core's code: a compiled module, the bytes of build/xenwasm.wasm, or a fetch() Response for it. */
export type CoreSource = WebAssembly.Module | BufferSource | Response;

/** The JIT tier's settings for one core (default: XENWASM_JIT and XENWASM_JIT_THRESHOLD), and the core's
 * code (default: the one given to setCoreModule, else the runtime's: build/xenwasm.wasm under Node). */
export interface CoreOptions { mode?: JitMode; threshold?: number; core?: CoreSource | Promise<CoreSource> }

/** Compile a CoreSource (a Module as it is). */
export async function compileCore(src: CoreSource | Promise<CoreSource>): Promise<WebAssembly.Module> {
  const s = await src;
  if (s instanceof WebAssembly.Module) return s;
  // Bytes first: naming the global Response makes Node load its fetch implementation (undici: 0.1 s of xm's start).
  if (s instanceof ArrayBuffer || ArrayBuffer.isView(s)) return WebAssembly.compile(s);
  if (typeof Response !== "undefined" && s instanceof Response) {
    if (!s.ok) throw new Error(`the core (${s.url || "xenwasm.wasm"}): HTTP ${s.status}`);
    // compileStreaming wants application/wasm; a static server may say otherwise: then the bytes.
    if (
      typeof WebAssembly.compileStreaming === "function"
        && s.headers.get("content-type")?.startsWith("application/wasm")
    ) return WebAssembly.compileStreaming(s);
    return WebAssembly.compile(await s.arrayBuffer());
  }
  return WebAssembly.compile(s as unknown as BufferSource); // (anything else: compile's own error)
}

let defaultModule: Promise<WebAssembly.Module> | null = null;

/** The core every Core.create without `core` uses from now on (a page: `setCoreModule(fetch(url))`). */
export function setCoreModule(src: CoreSource | Promise<CoreSource>): Promise<WebAssembly.Module> {
  defaultModule = compileCore(src);
  defaultModule.catch(() => { defaultModule = null; }); // (a failed load is tried again next time)
  return defaultModule;
}

function coreModule(): Promise<WebAssembly.Module> {
  if (defaultModule) return defaultModule;
  if (!platform.loadCore) {
    return Promise.reject(
      new Error(
        "no core module: pass { core } (a WebAssembly.Module, the "
          + "bytes of build/xenwasm.wasm or a fetch Response) or call "
          + "setCoreModule() first (under Node, Bun and Deno the " + "package's node entry reads build/xenwasm.wasm)"
      )
    );
  }
  return setCoreModule(platform.loadCore());
}
const perf: { now(): number } = globalThis.performance;

/** The JIT tier's counters (Jit.stats(); mode "off" without one) and the decoded-instruction cache's fills
 *  (assembly/perf.ts PC_DCACHE_FILL), since the core started: `xm run --jit-stats`, `xm debug-keys j`. */
export function jitFigures(core: Core): Record<string, unknown> {
  const j = core.jit;
  return { mode: j ? j.mode : "off", ...(j ? j.stats() : {}), dcache_fills: Number(core.x.perf_counter(0)) };
}

export class Core {
  readonly x: CoreExports;
  private hooks: CoreHooks;
  /** The JIT tier (null when XENWASM_JIT=off). */
  jit: Jit | null = null;

  private constructor(x: CoreExports, hooks: CoreHooks) {
    this.x = x;
    this.hooks = hooks;
  }

  /** A new core (its own memory and state), instantiated asynchronously. */
  static async create(hooks: CoreHooks = {}, opts: CoreOptions = {}): Promise<Core> {
    const mod = opts.core !== undefined ? await compileCore(opts.core) : await coreModule();
    const c = Core.imports(hooks);
    return c.finish(mod, await WebAssembly.instantiate(mod, c.imports), opts);
  }

  /** A new core from a compiled module, instantiated synchronously (where the runtime allows it). */
  static fromModule(mod: WebAssembly.Module, hooks: CoreHooks = {}, opts: CoreOptions = {}): Core {
    const c = Core.imports(hooks);
    return c.finish(mod, new WebAssembly.Instance(mod, c.imports), opts);
  }

  private static imports(hooks: CoreHooks): {
    imports: WebAssembly.Imports; finish(mod: WebAssembly.Module, inst: WebAssembly.Instance, opts: CoreOptions): Core
  } {
    let core: Core;
    // The core's function table: its own entries (the callbacks of its instruction emulator,
    // assembly/cpu/emul.ts: a few dozen), then the JIT's compiled regions (host/jit/), from its length on.
    const table = new WebAssembly.Table({ initial: 64, element: "anyfunc" });
    const env = {
      table,
      jit_compile: (n: number) => (core.jit ? core.jit.compile(n) : 0),
      io_in: (port: number, size: number) => (core.hooks.ioIn ? core.hooks.ioIn(port, size) : -1) | 0,
      io_out: (port: number, size: number, value: number) =>
        core.hooks.ioOut && core.hooks.ioOut(port, size, value >>> 0) ? 1 : 0,
      // performance.now(): monotonic, sub-microsecond, and no BigInt to allocate on each of the clock
      // reads the hypervisor makes per vCPU turn.
      // The `performance` object is looked up once: in Node its global is a lazy getter.
      time_ns: () => (core.hooks.timeNs ? core.hooks.timeNs() : perf.now() * 1e6),
    };
    return {
      imports: { env },
      finish(mod, inst, opts) {
        core = new Core(inst.exports as unknown as CoreExports, hooks);
        checkCoreAbi(mod, core.x);
        core.x.init();
        const js = {
          ...jitSettings(), ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
          ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {})
        };
        if (js.mode !== "off") core.jit = new Jit(core.x as never, table, js.mode);
        core.x.jit_config(JIT_MODES[js.mode], js.threshold);
        return core;
      },
    };
  }

  setHooks(h: CoreHooks): void { this.hooks = h; }

  get mem(): WebAssembly.Memory { return this.x.memory; }
  /** A fresh DataView (views detach after memory.grow). */
  view(): DataView { return new DataView(this.x.memory.buffer); }
  bytes(): Uint8Array { return new Uint8Array(this.x.memory.buffer); }

  /** Make sure linear memory covers [0, end). */
  ensureMemory(end: number): void {
    const have = this.x.memory.buffer.byteLength;
    if (end > have) this.x.memory.grow(Math.ceil((end - have) / MM.WASM_PAGE));
  }

  reg(r: number): bigint { return this.view().getBigUint64(MM.CPU_STATE + MM.CPU_REGS + r * 8, true); }
  setReg(r: number, v: bigint): void {
    this.view().setBigUint64(MM.CPU_STATE + MM.CPU_REGS + r * 8, BigInt.asUintN(64, v), true);
  }
  get rip(): bigint { return this.view().getBigUint64(MM.CPU_STATE + MM.CPU_RIP, true); }
  set rip(v: bigint) { this.view().setBigUint64(MM.CPU_STATE + MM.CPU_RIP, BigInt.asUintN(64, v), true); }
  get rflags(): bigint { return this.view().getBigUint64(MM.CPU_STATE + MM.CPU_RFLAGS, true); }
  set rflags(v: bigint) { this.view().setBigUint64(MM.CPU_STATE + MM.CPU_RFLAGS, BigInt.asUintN(64, v), true); }
  u32(off: number): number { return this.view().getUint32(MM.CPU_STATE + off, true); }
  u64(off: number): bigint { return this.view().getBigUint64(MM.CPU_STATE + off, true); }
  setU32(off: number, v: number): void { this.view().setUint32(MM.CPU_STATE + off, v >>> 0, true); }
  setU64(off: number, v: bigint): void { this.view().setBigUint64(MM.CPU_STATE + off, BigInt.asUintN(64, v), true); }
  get exitVector(): number { return this.view().getInt32(MM.CPU_STATE + MM.CPU_EXIT_VECTOR, true); }
  get exitError(): number { return this.view().getInt32(MM.CPU_STATE + MM.CPU_EXIT_ERROR, true); }

  run(budget: number): number { return this.x.run(budget); }
}
