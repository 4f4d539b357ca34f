// The core's exports: numbers only. The host reads and writes the vCPU state block (CPU_STATE, see
// memmap.ts) directly in linear memory, then calls cpu_state_changed().
import { jitString } from "./cpu/string";
import { dbgRecompute } from "./cpu/debug";
import {
  CPU_STATE, CPU_STATE_SIZE, CPU_CPL, CPU_FXSAVE, CPU_CR0, CPU_CR4, CPU_EFER, CPU_RFLAGS, CPU_IDTR_LIMIT,
  CPU_GDTR_LIMIT,
  SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_TR, SEG_LDTR, MODE_LONG64, CPU_DR6, CPU_DR7,
} from "./memmap";
import { setSeg, cpuStateChanged, setCpl } from "./cpu/state";
import { CR0_PE, CR0_PG, CR0_ET, CR0_NE, CR4_PAE, EFER_LME, EFER_LMA } from "./bits";
import { setFlags, flagsSync, lfOp, LF_NONE, LF_INC, LF_DEC, setLazy, cond, getFlags } from "./cpu/flags";
import {
  jitConfig, jitFlush, jitSetEntries, jitInstall, jitRegions, jitCurrent, jitReserve, pageGen, jitMode
} from "./cpu/jit";
import { jitDecode } from "./cpu/decode";
import { tlbInit, tlbFlushAll, setPhysWindow, probeFill } from "./mmu/tlb";
import { dcacheFlush, dcacheCheck } from "./cpu/dcache";
import { run as cpuRun, jitExec } from "./cpu/run";
import { optableInit } from "./cpu/optable";
import { trapFlagChanged } from "./cpu/control";
import { CORE_ABI_VERSION } from "./records";
import { perfGet } from "./perf";

// The core's performance counters (perf.ts PC_*).
export function perf_counter(k: i32): u64 { return perfGet(k); }

// The interface version (records.ts): the host refuses a core whose version is not its own (host/core.ts).
export function core_abi_version(): i32 { return CORE_ABI_VERSION; }

export function init(): void {
  memory.fill(CPU_STATE, 0, CPU_STATE_SIZE);
  tlbInit();
  // (Not dcacheFlush(): a new instance's memory is zero, which is the empty cache and index. Zeroing its 10 MiB
  // touched every page of it at start: 30 ms and 10 MiB of resident memory for every core, used or not.)
  optableInit();
}

// Bytes of linear memory in use by static data and the stub heap (must stay below 1 MiB).
export function heap_end(): i32 { return __heap_base as i32; }

// A flat machine for bare programs and tests: all segments base 0, limit 4 GiB, at privilege `cpl`.
// mode: MODE_PROT32 (paging off) or MODE_LONG64 (the host must also provide page tables and set
// CR3 and CR0.PG; with PG clear the core treats long mode as identity-mapped below 4 GiB).
export function cpu_reset_flat(mode: i32, cpl: i32): void {
  memory.fill(CPU_STATE, 0, CPU_STATE_SIZE);
  const long = mode == MODE_LONG64;
  const dpl = (cpl & 3) << 5;
  const code = 0x9b | dpl | (long ? 0x2000 : 0x4000) | 0x8000; // P S code R A, L or D, G
  const data = 0x93 | dpl | 0x4000 | 0x8000; // P S data W A, B, G
  setSeg(SEG_CS, 0x08 | cpl, 0, 0xffffffff, code);
  setSeg(SEG_SS, 0x10 | cpl, 0, 0xffffffff, data);
  setSeg(SEG_DS, 0x10 | cpl, 0, 0xffffffff, data);
  setSeg(SEG_ES, 0x10 | cpl, 0, 0xffffffff, data);
  setSeg(SEG_FS, 0x10 | cpl, 0, 0xffffffff, data);
  setSeg(SEG_GS, 0x10 | cpl, 0, 0xffffffff, data);
  setSeg(SEG_TR, 0, 0, 0xffff, 0x8b);
  setSeg(SEG_LDTR, 0, 0, 0xffff, 0x82);
  store<u32>(CPU_STATE + CPU_GDTR_LIMIT, 0xffff);
  store<u32>(CPU_STATE + CPU_IDTR_LIMIT, 0);
  store<u64>(CPU_STATE + CPU_CR0, CR0_PE | CR0_ET | CR0_NE);
  if (long) {
    store<u64>(CPU_STATE + CPU_CR4, CR4_PAE);
    store<u64>(CPU_STATE + CPU_EFER, EFER_LME | EFER_LMA);
  }
  // x87/SSE as after reset (FNINIT): FCW 0x37F, MXCSR 0x1F80.
  store<u16>(CPU_STATE + CPU_FXSAVE, 0x37f);
  store<u32>(CPU_STATE + CPU_FXSAVE + 24, 0x1f80);
  store<u64>(CPU_STATE + CPU_DR6, 0xffff0ff0); // DR6, DR7 as after reset
  store<u64>(CPU_STATE + CPU_DR7, 0x400);
  setFlags(2);
  trapFlagChanged();
  setCpl(cpl);
  cpuStateChanged();
  tlbFlushAll();
  dbgRecompute();
}

// After the host wrote the state block: RFLAGS is taken as stored, derived state recomputed, and the
// TLB flushed.
export function cpu_state_changed(): void {
  setFlags(load<u64>(CPU_STATE + CPU_RFLAGS));
  trapFlagChanged();
  setCpl(load<i32>(CPU_STATE + CPU_CPL));
  cpuStateChanged();
  tlbFlushAll();
  dbgRecompute(); // the host may have written the debug registers
}

// Guest-physical window of a bare machine: phys p lives at linear p + base, for p < limit.
export function set_phys_window(base: u32, limit: u32): void {
  setPhysWindow(base as u64, limit as u64);
}

export function tlb_flush(): void { tlbFlushAll(); }
export function dcache_flush(): void { dcacheFlush(); jitFlush(); } // (the host rewrote memory: compiled code too)
// Tests: live decoded-cache entries that the index does not name (cpu/dcache.ts dcacheCheck; 0 when consistent).
export function dcache_check(): i32 { return dcacheCheck(); }
export function flags_sync(): void { flagsSync(); }

// Execute up to `budget` instructions; returns EXIT_* (memmap.ts).
export function run(budget: i32): i32 { return cpuRun(budget); }

// ---- the hypervisor (issue 3) ----
export * from "./hv/api";
export * from "./hv/migrate";

// ---- The JIT tier (cpu/jit.ts; the compiler is the host's: host/jit/) ----
export function jit_config(mode: i32, threshold: i32): void { jitConfig(mode, threshold); }
export function jit_flush(): void { jitFlush(); }
export function jit_entries(on: i32): void { jitSetEntries(on != 0); }
export function jit_decode(lin: u64, host: i32): i32 { return jitDecode(lin, host); }
export function jit_install(host: i32, mode: i32, idx: i32, gen: u32, lo: i32, hi: i32): i32 {
  return jitInstall(host, mode, idx, gen, lo, hi) ? 1 : 0;
}
export function jit_regions(): i32 { return jitRegions(); }
export function jit_current(host: i32, mode: i32): bool { return jitCurrent(host, mode); }
export function jit_reserve(host: i32, lo: i32, hi: i32): void { jitReserve(host, lo, hi); }
export function jit_page_gen(host: i32): u32 { return pageGen(host); }
export function jit_mode(): i32 { return jitMode; }
// Compiled code's slow helpers: a condition code, or CF, of a lazy-flag state held in its locals
// (for INC/DEC states CF is `cf`, which the region keeps in a local).
export function jit_cond(cc: i32, op: i32, size: i32, a: u64, b: u64, res: u64, cf: i32): i32 {
  if (op == LF_INC || op == LF_DEC) {
    const f = load<u64>(CPU_STATE + CPU_RFLAGS);
    store<u64>(CPU_STATE + CPU_RFLAGS, cf != 0 ? f | 1 : f & ~(<u64>1));
  }
  setLazy(op, size, a, b, res);
  return cond(cc) ? 1 : 0;
}
// RFLAGS with the arithmetic flags of a lazy-flag state held in a region's locals (for rotates, which keep
// all but CF and OF): the region stores it back and goes on with the flags in RFLAGS (LF_NONE).
export function jit_flags(op: i32, size: i32, a: u64, b: u64, res: u64, cf: i32): u64 {
  if (op == LF_INC || op == LF_DEC) {
    const f = load<u64>(CPU_STATE + CPU_RFLAGS);
    store<u64>(CPU_STATE + CPU_RFLAGS, cf != 0 ? f | 1 : f & ~(<u64>1));
  }
  setLazy(op, size, a, b, res);
  return getFlags();
}
// Compiled code's TLB misses: the host address of `size` bytes at `lin` for a read (write), the TLB filled
// if a walk allows the access without a fault, else 0 (the region then exits before the instruction and the
// interpreter does the access: faults, code pages, log-dirty, page-crossing accesses).
export function jit_rd(lin: u64, size: i32): i32 { return probeFill(lin, size, false); }
export function jit_wr(lin: u64, size: i32): i32 { return probeFill(lin, size, true); }
// One step of REP MOVS / REP STOS for compiled code (cpu/string.ts jitString: 0 nothing done, 1 more, 2 done).
export function jit_str(kind: i32): i32 { return jitString(kind); }
// An SSE/MMX register-form instruction run for compiled code (cpu/run.ts jitExec: 1 ran, 0 nothing done).
export function jit_exec(lin: u64, host: i32): i32 { return jitExec(lin, host); }
