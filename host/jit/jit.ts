// The JIT tier's host side: compiles the core's queued requests (assembly/cpu/jit.ts) into one
// WebAssembly module per batch, puts its functions into the core's function table and tells the core
// where they are. Standard WebAssembly JS API only (Module, Instance, Table, the core's Memory).
import * as MM from "../../assembly/memmap";
import { chainModule, hasTailCalls, T_I32 } from "./wasm";
import { discover, stack32, worthCompiling, readInsn, REGION_PARAMS, type Insn } from "./translate";
import { translateBatch, type Batch, type RegionJob, type Translator } from "./batch";
import { platform } from "../platform";

export type JitMode = "off" | "on" | "force";
export const JIT_MODES: Record<JitMode, number> = { off: 0, on: 1, force: 2 };

/** XENWASM_JIT (off|on|force; default on) and XENWASM_JIT_THRESHOLD, where the runtime has an environment. */
export function jitSettings(): { mode: JitMode; threshold: number } {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  const m = (env.XENWASM_JIT ?? "on").toLowerCase();
  if (m !== "off" && m !== "on" && m !== "force")
    throw new Error(`XENWASM_JIT=${env.XENWASM_JIT}: expected off, on or force`);
  const t = env.XENWASM_JIT_THRESHOLD === undefined ? 1000 : /^\d{1,5}$/.test(env.XENWASM_JIT_THRESHOLD)
    ? Number(env.XENWASM_JIT_THRESHOLD) : NaN;
  if (!Number.isInteger(t) || t < 0 || t > 65535)
    throw new Error(`XENWASM_JIT_THRESHOLD=${env.XENWASM_JIT_THRESHOLD}: expected 0..65535`);
  return { mode: m, threshold: t };
}

interface JitCore {
  memory: WebAssembly.Memory;
  jit_decode(lin: bigint, host: number): number;
  jit_install(host: number, mode: number, idx: number, gen: number, lo: number, hi: number): number;
  jit_flush(): void;
  jit_regions(): number;
  jit_current(host: number, mode: number): number;
  jit_reserve(host: number, lo: number, hi: number): void;
  jit_rd: (lin: bigint, size: number) => number;
  jit_wr: (lin: bigint, size: number) => number;
  jit_cond: (...a: (number | bigint)[]) => number;
  jit_str: (kind: number) => number;
  jit_exec: (lin: bigint, host: number) => number;
  jit_flags: (...a: (number | bigint)[]) => bigint;
}

export interface JitStats {
  compile_ms: number; translate_ms: number; thread_batches: number; regions: number; modules: number;
  code_cache_kib: number; flushes: number;
  insns: number; steps: number; chains: number; entries: number; requests: number; invalidations: number;
  insn_in_jit_pct?: number;
  exits: { branch: number; unsupported: number; memory: number; budget: number; slowform: number };
}

interface Req { lin: bigint; host: number; gen: number }
interface Meta { host: number; gen: number; lo: number; hi: number; lin: bigint }

// With chaining, a region of any size is worth compiling (measured on Debian's boot: at least 1, 4 or 8
// instructions gave 8.9, 9.0 and 9.1 s, 91%, 90% and 88% of the instructions compiled).
const MIN_CHAINED = 1;
export const MAX_REGIONS = 16384; // table slots in use before the code cache is flushed whole
/** WebAssembly bytes of the regions in use before the code cache is flushed whole (V8's machine code for them
 *  grows with it: Debian's boot makes about 15 MiB of them, with about 23 MiB of machine code in all). */
export const MAX_CODE_BYTES = 32 << 20;
/** Modules in use before the code cache is flushed whole. Before the chain dispatcher (wasm.ts chainModule), every
 *  region module imported the chain table, and each instance of a module that imports a table keeps (in V8 up to at
 *  least 11.3, Node 20) its own copy of that table's entries: about 24 bytes per slot, 400 KiB per module at 16k
 *  slots, instantiation time to match (XENWASM_JIT=force, a module per region, grew Debian's boot past 9 GiB). Now
 *  only the dispatcher imports it; the bound stays for what V8 keeps per module. */
export const MAX_MODULES = 1024;
const MAX_IN_FLIGHT = 2; // background compiles at once
const MAX_MAP_RECORDS = (MM.JIT_MAP_ENTRIES >> 1) - MM.JIT_REQ_MAX; // the core's map takes at most half its size

export class Jit {
  private next: number;
  /** Time the JIT took on the core's thread (discovery, translation when done here, instantiation). */
  compileMs = 0;
  /** Time spent translating (on whichever thread did it). */
  translateMs = 0;
  /** Batches translated on the platform's translator thread. */
  threadBatches = 0;
  modules = 0;
  regions = 0;
  codeBytes = 0;
  flushes = 0;
  /** The code cache's bound in WebAssembly bytes (MAX_CODE_BYTES; tests lower it). */
  maxCodeBytes = MAX_CODE_BYTES;
  /** The code cache's bound in modules (MAX_MODULES; tests lower it). */
  maxModules = MAX_MODULES;
  /** Modules installed since the last flush (one alone may be larger than the bound). */
  cachedModules = 0;

  constructor(private x: JitCore, private table: WebAssembly.Table, readonly mode: JitMode) {
    this.next = table.length;
    this.base = table.length;
    this.chainTable = new WebAssembly.Table({ initial: table.length, element: "anyfunc" });
    this.chainFn = this.dispatcher();
  }
  /** The table the regions chain through (the core's table's region slots, same indices), imported by the chain
   *  dispatcher alone (wasm.ts chainModule): a new one at each flush, so that the instances of flushed modules,
   *  which V8 keeps alive as long as the table holds their functions, are freed with it. (The core enters
   *  regions through its own table.) */
  chainTable: WebAssembly.Table;
  /** The dispatcher's `chain` export over chainTable, imported by every region module (env.chain). */
  private chainFn: WebAssembly.ImportValue;
  private dispatcher(): WebAssembly.ImportValue {
    // (without tail calls regions never chain: a function of the import's type that is never called)
    if (!this.chain) return () => 0;
    const m = new WebAssembly.Module(chainModule(REGION_PARAMS, [T_I32]));
    return new WebAssembly.Instance(m, { env: { table: this.chainTable } }).exports.chain;
  }
  private base: number;
  /** Regions chain into each other through tail calls where the runtime has them (XENWASM_JIT_CHAIN=0: never). */
  readonly chain = hasTailCalls() &&
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.XENWASM_JIT_CHAIN !== "0";
  /** Compile in the background (WebAssembly.compile) and install between slices: for hosts whose run loop
   *  yields to the event loop (XenHost, xend). Otherwise (bare machines, tests, force) compiles are synchronous. */
  async = false;
  private inFlight = 0;
  private pending = new Set<string>();
  /** Background compiles not yet installed (the run loop returns to the event loop sooner meanwhile).
   *  (It takes the translator thread's answers that are ready first.) */
  get busy(): boolean { this.poll(); return this.inFlight > 0; }
  private tr: Translator | null | undefined;
  private translator(): Translator | null {
    if (this.tr === undefined) this.tr = this.offThread ? platform.jitTranslator?.() ?? null : null;
    return this.tr;
  }
  /** Between run slices: install the regions whose translation (and compile) the translator thread finished. */
  poll(): void { if (!this.held) this.tr?.poll(); }
  /** Tests: while true, the translator thread's answers are left waiting (a background compile stays in
   *  flight however fast the thread is), so a test can order a compile's completion against guest code. */
  held = false;
  /** Background batches are translated on the platform's translator thread when it has one
   *  (XENWASM_JIT_THREAD=0: on this thread, as synchronous compiles always are). */
  readonly offThread =
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.XENWASM_JIT_THREAD !== "0";
  /** XENWASM_JIT_DEBUG=1: what ends blocks (opcode, form), counted per compiled block. */
  debug: Map<string, number> | null =
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.XENWASM_JIT_DEBUG
      ? new Map() : null;

  /** Compiles the `n` queued requests; returns how many regions were installed, or -1 when the
   *  background compiler is busy: the core then keeps its queue (more requests join the next batch).
   *  (Compiling at once, on this thread, a request that came back while its background compile was in
   *  flight, i.e. a long loop, put 2% more of Debian's boot in compiled code and cost as much in
   *  compile time: measured, not kept.) */
  compile(n: number): number {
    if (this.async && this.inFlight >= MAX_IN_FLIGHT) return -1;
    const dv = new DataView(this.x.memory.buffer);
    const curMode = dv.getInt32(MM.CPU_STATE + MM.CPU_MODE, true);
    const later: Req[] = [];
    for (let q = 0; q < n && q < MM.JIT_REQ_MAX; q++) {
      const r = MM.JIT_REQ + 32 + q * 32;
      const host = dv.getInt32(r + 8, true);
      if (dv.getInt32(r + 16, true) !== curMode || this.x.jit_current(host, curMode)) continue;
      if (this.pending.has(`${host}:${curMode}`)) continue; // (queued again while its compile was in flight)
      later.push({ lin: dv.getBigUint64(r, true), host, gen: dv.getUint32(r + 12, true) });
    }
    if (!this.async) {
      const t0 = performance.now();
      const d = this.discoverAll(later, curMode);
      let installed = 0;
      if (d) {
        platform.jitRecord?.(d.batch);
        const r = translateBatch(d.batch);
        this.translateMs += r.translateMs;
        installed = this.install(new WebAssembly.Module(r.bytes), d.meta, curMode, r.bytes.length);
      }
      this.compileMs += performance.now() - t0;
      return installed;
    }
    if (!later.length) return 0;
    // In the background: the regions are discovered here (the decoder reads the core's memory), translated
    // on the platform's translator thread where it has one (else here), and compiled by V8 on its own
    // threads, while the guest runs on (interpreted there); at most MAX_IN_FLIGHT batches at once (while
    // both are busy the core's queue waits, see above). The result is installed between slices; a region
    // whose page was written meanwhile is refused by the core.
    const t0 = performance.now();
    const d = this.discoverAll(later, curMode);
    if (!d) { this.compileMs += performance.now() - t0; return 0; }
    platform.jitRecord?.(d.batch);
    const keys = d.meta.map((m) => `${m.host}:${curMode}`);
    for (const k of keys) this.pending.add(k);
    this.inFlight++;
    const finish = () => { this.inFlight--; for (const k of keys) this.pending.delete(k); };
    const installNow = (mod: WebAssembly.Module, size: number) => {
      const t1 = performance.now();
      this.install(mod, d.meta, curMode, size);
      this.compileMs += performance.now() - t1;
    };
    const compileBytes = (b: Uint8Array<ArrayBuffer>) => {
      WebAssembly.compile(b).then((mod) => installNow(mod, b.length),
        (e) => { if (this.debug) console.error(`jit: compile failed: ${(e as Error).message}`); }).finally(finish);
    };
    const tr = this.translator();
    if (tr) {
      tr.submit(d.batch, (r) => {
        this.translateMs += r.translateMs;
        if (r.module) { this.threadBatches++; try { installNow(r.module, r.size); } finally { finish(); } }
        else if (r.bytes) { this.threadBatches++; compileBytes(r.bytes); }
        // (later batches: translated here)
        else { if (this.debug) console.error(`jit: ${r.error}`); this.tr = null; finish(); }
      });
    } else {
      const r = translateBatch(d.batch);
      this.translateMs += r.translateMs;
      compileBytes(r.bytes);
    }
    this.compileMs += performance.now() - t0;
    return 0;
  }

  /** Discovers the regions of `reqs` (in mode `curMode`): their blocks for the translator, and what the
   *  install needs. Requests with nothing worth compiling are answered here (not asked again). */
  private discoverAll(reqs: Req[], curMode: number): { batch: Batch; meta: Meta[] } | null {
    const is64 = curMode === MM.MODE_LONG64;
    const regions: RegionJob[] = [];
    const meta: Meta[] = [];
    for (const { lin, host, gen } of reqs) {
      const page = host & ~0xfff, entry = host & 0xfff, linPage = lin - BigInt(entry);
      const decode = (off: number): Insn | null => {
        const e = this.x.jit_decode(linPage + BigInt(off), page + off);
        if (!e) return null;
        return stack32(is64, readInsn(this.x.memory.buffer, e, off, is64));
      };
      const blocks = discover(decode, entry, is64);
      if (this.debug) {
        for (const b of blocks) {
          const l = b.insns[b.insns.length - 1];
          if (l.form === -1) {
            const d = decode(l.off);
            const k = d ? `op ${d.op?.toString(16)} form ${d.form} pfx ${d.pfx}` : "undecodable";
            this.debug.set(k, (this.debug.get(k) ?? 0) + 1);
          }
        }
      }
      const first = blocks.find((b) => b.start === entry);
      // Without chaining, a short region without a loop costs about as much to enter and leave through the
      // run loop as interpreting it; with chaining, regions are entered from each other and all are worth it.
      // nothing to gain: not asked again
      if (
        !first || first.insns[0].form === -1
          || (this.mode !== "force" && !worthCompiling(blocks, this.chain ? MIN_CHAINED : undefined))
      ) {
        this.x.jit_install(host, curMode, -1, gen, 0, 0);
        continue;
      }
      if (this.debug) console.error(
        `jit: [${this.stats().steps}] region at ${lin.toString(16)} ` + `(mode ${curMode}): ${blocks.length} blocks, `
          + `${blocks.reduce((a, b) => a + b.insns.length, 0)} ` + `instructions`
      );
      regions.push({ blocks, entry, page });
      let lo = 0x1000, hi = 0;
      for (const b of blocks)
        for (const i of b.insns) { lo = Math.min(lo, i.off); hi = Math.max(hi, i.off + Math.max(i.len, 1)); }
      // Written from now on, these bytes make the install refuse the region (the core's page generation).
      this.x.jit_reserve(host, lo, Math.min(hi, 0x1000));
      meta.push({ host, gen, lo, hi: Math.min(hi, 0x1000), lin });
    }
    return regions.length ? { batch: { is64, mode: curMode, chain: this.chain, regions }, meta } : null;
  }

  private install(mod: WebAssembly.Module, meta: Meta[], mode: number, size: number): number {
    if (this.next + meta.length > this.base + MAX_REGIONS || this.x.jit_regions() > MAX_MAP_RECORDS ||
      this.codeBytes + size > this.maxCodeBytes || this.cachedModules >= this.maxModules) this.flush();
    const inst = new WebAssembly.Instance(mod, {
      env: { memory: this.x.memory, rd: this.x.jit_rd, wr: this.x.jit_wr, cond: this.x.jit_cond,
        str: this.x.jit_str, flags: this.x.jit_flags, ex: this.x.jit_exec, chain: this.chainFn },
    });
    this.modules++;
    this.cachedModules++;
    this.codeBytes += size;
    const need = this.next + meta.length - this.table.length;
    if (need > 0) this.table.grow(Math.max(need, 256));
    // (the chain table as long as its slots in use: each instance's copy is as long as it)
    const needC = this.next + meta.length - this.chainTable.length;
    if (needC > 0) this.chainTable.grow(Math.max(needC, 256));
    let installed = 0;
    meta.forEach((m, i) => {
      if (this.x.jit_current(m.host, mode)) return; // compiled meanwhile (at once, see compile())
      const idx = this.next++;
      const f = inst.exports["f" + i] as WebAssembly.ExportValue as never;
      this.table.set(idx, f);
      this.chainTable.set(idx, f);
      if (this.debug) console.error(`jit: [${this.stats().steps}] install ${m.lin.toString(16)}`);
      if (this.x.jit_install(m.host, mode, idx, m.gen, m.lo, m.hi)) { installed++; this.regions++; }
      else if (this.debug)
        console.error(`jit: region at ${m.lin.toString(16)} refused (its page was written, or the map is full)`);
    });
    return installed;
  }

  /** Drops every region (the table's slots are reused). */
  flush(): void {
    this.x.jit_flush();
    // The flushed regions' functions out of the core's table too (they hold their instances, which hold the
    // chain table they imported).
    for (let i = this.base; i < this.next; i++) this.table.set(i, null);
    this.chainTable = new WebAssembly.Table({ initial: this.base, element: "anyfunc" });
    this.chainFn = this.dispatcher();
    this.next = this.base;
    this.codeBytes = 0;
    this.cachedModules = 0;
    this.flushes++;
  }

  stats(): JitStats {
    const dv = new DataView(this.x.memory.buffer);
    const s = (k: number) => Number(dv.getBigUint64(MM.JIT_IO + MM.JIO_STATS + k * 8, true));
    const e = (k: number) => s(MM.JSTAT_EXIT0 + k);
    return {
      compile_ms: Math.round(this.compileMs * 10) / 10, translate_ms: Math.round(this.translateMs * 10) / 10,
      thread_batches: this.threadBatches, regions: this.regions, modules: this.modules,
      code_cache_kib: Math.round(this.codeBytes / 1024), flushes: this.flushes,
      insns: s(MM.JSTAT_INSNS), steps: s(MM.JSTAT_STEPS), chains: s(MM.JSTAT_CHAINS), entries: s(MM.JSTAT_ENTRIES),
      requests: s(MM.JSTAT_REQUESTS),
      invalidations: s(MM.JSTAT_INVALIDATIONS),
      ...(s(MM.JSTAT_STEPS) ? { insn_in_jit_pct: Math.round(1000 * s(MM.JSTAT_INSNS) / s(MM.JSTAT_STEPS)) / 10 } : {}),
      exits: { branch: e(MM.JEXIT_BRANCH), unsupported: e(MM.JEXIT_UNSUPPORTED), memory: e(MM.JEXIT_MEMORY),
        budget: e(MM.JEXIT_BUDGET), slowform: e(MM.JEXIT_SLOWFORM) },
    };
  }
}
