// Accessors for the running vCPU's state block (layout in ../memmap.ts) and the few values derived
// from it that the hot path keeps in wasm globals (mode, operand defaults, flat-segment mask).
import {
  CPU_STATE, CPU_RIP, CPU_RFLAGS, CPU_SEG, SEG_SIZE, SEG_CS, SEG_SS, CPU_CR0, CPU_CR4, CPU_EFER,
  CPU_CPL, CPU_MODE, MODE_PROT16, MODE_PROT32, MODE_LONG64, MODE_COMPAT16, MODE_COMPAT32, MODE_REAL,
} from "../memmap";
import { CR0_PE, CR0_PG, EFER_LMA } from "../bits";
import { userAcc, paging } from "../mmu/ctx";
import { setAcMode } from "../mmu/tlb";

// Register numbers (encoding order).
export const RAX = 0; export const RCX = 1; export const RDX = 2; export const RBX = 3;
export const RSP = 4; export const RBP = 5; export const RSI = 6; export const RDI = 7;

// RFLAGS bits.
export const F_CF: u64 = 1 << 0;
export const F_PF: u64 = 1 << 2;
export const F_AF: u64 = 1 << 4;
export const F_ZF: u64 = 1 << 6;
export const F_SF: u64 = 1 << 7;
export const F_TF: u64 = 1 << 8;
export const F_IF: u64 = 1 << 9;
export const F_DF: u64 = 1 << 10;
export const F_OF: u64 = 1 << 11;
export const F_IOPL: u64 = 3 << 12;
export const F_NT: u64 = 1 << 14;
export const F_RF: u64 = 1 << 16;
export const F_VM: u64 = 1 << 17;
export const F_AC: u64 = 1 << 18;
export const F_VIF: u64 = 1 << 19;
export const F_VIP: u64 = 1 << 20;
export const F_ID: u64 = 1 << 21;
export const F_ARITH: u64 = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;

// Segment attribute bits (CPU_SEG slot, u16 at +2).
export const SA_TYPE = 0x0f; export const SA_A = 0x01; export const SA_W = 0x02; // data: writable
export const SA_R = 0x02; // code: readable
export const SA_E = 0x04; // data: expand-down; code: conforming
export const SA_CODE = 0x08; export const SA_S = 0x10; export const SA_DPL = 0x60;
export const SA_P = 0x80; export const SA_AVL = 0x1000; export const SA_L = 0x2000;
export const SA_DB = 0x4000; export const SA_G = 0x8000;

// ---- registers ----
@inline export function reg64(r: i32): u64 { return load<u64>(CPU_STATE + (r << 3)); }
@inline export function setReg64(r: i32, v: u64): void { store<u64>(CPU_STATE + (r << 3), v); }
@inline export function reg32(r: i32): u32 { return load<u32>(CPU_STATE + (r << 3)); }
@inline export function setReg32(r: i32, v: u32): void { store<u64>(CPU_STATE + (r << 3), v as u64); }
@inline export function reg16(r: i32): u32 { return load<u16>(CPU_STATE + (r << 3)); }
@inline export function setReg16(r: i32, v: u32): void { store<u16>(CPU_STATE + (r << 3), v as u16); }
// 8-bit registers are addressed by byte offset in the state block: see reg8off().
@inline export function reg8off(r: i32, rex: bool): i32 {
  return rex || r < 4 ? r << 3 : ((r - 4) << 3) + 1;
}
@inline export function reg8(off: i32): u32 { return load<u8>(CPU_STATE + off); }
@inline export function setReg8(off: i32, v: u32): void { store<u8>(CPU_STATE + off, v as u8); }

// Register of `size` bytes (1 uses the byte offset form, others the register number).
@inline export function getReg(r: i32, size: i32): u64 {
  if (size == 4) return reg32(r) as u64;
  if (size == 8) return reg64(r);
  return reg16(r) as u64;
}
@inline export function setReg(r: i32, size: i32, v: u64): void {
  if (size == 4) setReg32(r, v as u32);
  else if (size == 8) setReg64(r, v);
  else setReg16(r, v as u32);
}

@inline export function rip(): u64 { return load<u64>(CPU_STATE + CPU_RIP); }
@inline export function setRip(v: u64): void { store<u64>(CPU_STATE + CPU_RIP, v); }

// ---- segments ----
@inline export function segSel(s: i32): u32 { return load<u16>(CPU_STATE + CPU_SEG + s * SEG_SIZE); }
@inline export function segAttr(s: i32): u32 { return load<u16>(CPU_STATE + CPU_SEG + s * SEG_SIZE, 2); }
@inline export function segLimit(s: i32): u32 { return load<u32>(CPU_STATE + CPU_SEG + s * SEG_SIZE, 4); }
@inline export function segBase(s: i32): u64 { return load<u64>(CPU_STATE + CPU_SEG + s * SEG_SIZE, 8); }
export function setSeg(s: i32, sel: u32, base: u64, limit: u32, attr: u32): void {
  const p = CPU_STATE + CPU_SEG + s * SEG_SIZE;
  store<u16>(p, sel as u16);
  store<u16>(p, attr as u16, 2);
  store<u32>(p, limit, 4);
  store<u64>(p, base, 8);
  cpuStateChanged();
}

@inline export function cr0(): u64 { return load<u64>(CPU_STATE + CPU_CR0); }
@inline export function cr4(): u64 { return load<u64>(CPU_STATE + CPU_CR4); }
@inline export function efer(): u64 { return load<u64>(CPU_STATE + CPU_EFER); }
@inline export function cpl(): i32 { return load<i32>(CPU_STATE + CPU_CPL); }

// ---- derived state, kept in globals for the hot path ----
export let mode: i32 = MODE_PROT32; // MODE_*
export let is64: bool = false; // 64-bit code segment in long mode
export let defOp32: bool = true; // default operand size 32 (CS.D or long mode); false: 16
export let defAd: i32 = 4; // default address size in bytes: 2, 4 or 8
export let stackSize: i32 = 4; // SS.B: 4, else 2 (8 in 64-bit mode)
export let flatMask: i32 = 0; // bit s set: segment s has base 0, limit 4 GiB, expand-up, present (no checks)

// Recompute everything derived from CR0, EFER, CS, SS and the segment caches. Call after any change
// to those (segment loads, mode switches, CR writes, CPL changes).
export function cpuStateChanged(): void {
  const c0 = cr0();
  const ef = efer();
  const csA = segAttr(SEG_CS);
  paging = (c0 & CR0_PG) != 0;
  if ((c0 & CR0_PE) == 0) {
    mode = MODE_REAL;
  } else if ((ef & EFER_LMA) != 0) {
    if ((csA & SA_L) != 0) mode = MODE_LONG64;
    else mode = (csA & SA_DB) != 0 ? MODE_COMPAT32 : MODE_COMPAT16;
  } else {
    mode = (csA & SA_DB) != 0 ? MODE_PROT32 : MODE_PROT16;
  }
  store<i32>(CPU_STATE + CPU_MODE, mode);
  is64 = mode == MODE_LONG64;
  defOp32 = is64 || (csA & SA_DB) != 0;
  defAd = is64 ? 8 : ((csA & SA_DB) != 0 ? 4 : 2);
  stackSize = is64 ? 8 : ((segAttr(SEG_SS) & SA_DB) != 0 ? 4 : 2);
  userAcc = cpl() == 3 ? 1 : 0;
  let m = 0;
  for (let s = 0; s < 6; s++) {
    const a = segAttr(s);
    // Flat: no checks needed for any access the fast paths make (CS: fetch and read; others: read
    // and write, so a read-only or expand-down data segment is never flat).
    const kindOk =
      s == SEG_CS ? (a & SA_CODE) != 0 && (a & SA_R) != 0 : ((a & SA_CODE) == 0 && (a & SA_E) == 0 && (a & SA_W) != 0);
    const flat = (a & SA_P) != 0 && segBase(s) == 0 && segLimit(s) == 0xffffffff && kindOk;
    if (flat) m |= 1 << s;
  }
  flatMask = m;
  acUpdate();
}

// #AC checking is on with CR0.AM, RFLAGS.AC and CPL 3 (called when any of them may change).
export function acUpdate(): void {
  setAcMode((load<u64>(CPU_STATE + CPU_CR0) & (1 << 18)) != 0 &&
    (load<u64>(CPU_STATE + CPU_RFLAGS) & (1 << 18)) != 0 && load<i32>(CPU_STATE + CPU_CPL) == 3);
}

@inline export function setCpl(n: i32): void {
  store<i32>(CPU_STATE + CPU_CPL, n);
  userAcc = n == 3 ? 1 : 0;
}

// Where execution continues after the current instruction. The run loop sets it to the next
// instruction before executing (to the faulting one before delivering an exception); control
// transfers assign it; the run loop then writes it to RIP. Nothing else writes RIP during run().
export let nextIp: u64 = 0;
@inline export function jumpTo(v: u64): void { nextIp = v; }
