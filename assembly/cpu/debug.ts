// Debug-register breakpoints and the #DB conditions they raise (SDM vol. 3, ch. 18), for bare
// machines and PV guests alike (a PV guest's DR0-DR7 live in its vCPU's state block, CPU_DR).
//
// Cost when nothing is armed: none on the hot paths. `dbgArmed` is true while DR7 enables an
// instruction or data breakpoint, or a #DB is held back by a MOV SS/POP SS shadow; the run loop then
// takes `dbgStep` (cpu/run.ts) for every instruction: no fast loop, no JIT regions. Data breakpoints
// work through the TLB: a linear page holding an enabled data breakpoint gets no TLB tags
// (`dbgPage`, checked by tlbFill), so every access to it reaches `xlate`, which reports it
// (`dbgAccess`; both in cpu/dbgdata.ts); the hits of one instruction become a #DB trap after it.
import { CPU_STATE, CPU_DBG_PENDING, CPU_DR6 } from "../memmap";
import { tlbFlushAll } from "../mmu/tlb";
import { dbgData, dr7, dr, enabled, rwOf } from "./dbgdata";

export const DR6_BS: u32 = 0x4000; // single-step
export const DR6_DEFAULT: u32 = 0xffff0ff0; // reserved bits that read as 1
export const DR6_ZEROS: u32 = 0x1000; // reserved bit that reads as 0
// DR7 bits forced to 0: 12, 14, 15 and (no RTM in our CPUID) 11; bit 10 reads as 1.
export const DR7_ZEROS: u32 = 0xd800;
export const DR7_DEFAULT: u32 = 0x400;
export const DR7_GD: u32 = 0x2000;
export const DR7_ACTIVE: u32 = 0xff; // L0 G0 .. L3 G3

export let dbgArmed: bool = false;
export let dbgExec: bool = false; // an enabled instruction breakpoint (RW = 00)
// #DB conditions held back by a MOV SS / POP SS shadow until after the next instruction.
export function dbgHold(bits: u32): void {
  store<u32>(CPU_STATE + CPU_DBG_PENDING, bits);
  if (bits != 0) dbgArmed = true;
}

// DR7 or DR0-3 changed, or another vCPU's state was loaded: recompute what is armed. A change in the
// data breakpoints flushes the TLB (their pages must lose, or may regain, their tags).
export function dbgRecompute(): void {
  const d7 = dr7();
  let data = false, exec = false;
  for (let i = 0; i < 4; i++) {
    if (!enabled(d7, i)) continue;
    const rw = rwOf(d7, i);
    if (rw == 0) exec = true;
    else if (rw != 2) data = true; // RW = 10 (I/O) is not a memory breakpoint
  }
  const flush = data || dbgData;
  dbgData = data;
  dbgExec = exec;
  dbgArmed = data || exec || load<u32>(CPU_STATE + CPU_DBG_PENDING) != 0;
  if (flush) tlbFlushAll();
}

// The instruction breakpoints that match an instruction starting at linear address `lin` (B0-B3).
export function dbgExecMatch(lin: u64): u32 {
  const d7 = dr7();
  let hits: u32 = 0;
  for (let i = 0; i < 4; i++) {
    if (!enabled(d7, i) || rwOf(d7, i) != 0) continue;
    if (dr(i) == lin) hits |= (1 << i) as u32;
  }
  return hits;
}

// Record a #DB's conditions in DR6 as Xen merges them (x86_merge_dr6): B0-B3 say which breakpoints
// this #DB is for, the other condition bits (BD, BS, BT) accumulate until software clears them.
export function dbgMergeDr6(bits: u32): void {
  let d6 = (load<u64>(CPU_STATE + CPU_DR6) as u32) ^ DR6_DEFAULT; // positive polarity
  d6 = (d6 & ~(0xf as u32)) | bits;
  d6 = ((d6 ^ DR6_DEFAULT) | DR6_DEFAULT) & ~DR6_ZEROS;
  store<u64>(CPU_STATE + CPU_DR6, d6 as u64);
}

// DR6 and DR7 as written (MOV DR or set_debugreg), reserved bits forced.
export function dr6Adjust(v: u32): u32 { return (v | DR6_DEFAULT) & ~DR6_ZEROS; }
export function dr7Adjust(v: u32): u32 { return (v & ~DR7_ZEROS) | DR7_DEFAULT; }
