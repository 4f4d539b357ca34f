// The SSE state and operand helpers that sse.ts (SSE/SSE2, MMX) and sse4.ts (SSE3..SSE4.2) share: a module
// of their own, so that neither imports the other's helpers (sse.ts dispatches into sse4.ts).
import { CPU_STATE, CPU_FXSAVE, CPU_CR0, CPU_CR4 } from "../memmap";
import { CR0_EM, CR0_TS, CR4_OSFXSR } from "../bits";
import { fault, raiseUD, raiseGP, raiseNM } from "./fault";
import { dPfx, dMod, dRm } from "./decode";
import { P_OPSZ, P_REP, P_REPNE } from "./optable";
import { memLin } from "./ea";
import { rdN, wrN, rdBlock, wrBlock } from "../mmu/tlb";
import { fpFlags } from "./softfp";

export const FX: i32 = CPU_STATE + CPU_FXSAVE;
export const FX_MXCSR: i32 = FX + 24;
export const FX_XMM: i32 = FX + 160;
export const MXCSR_MASK: u32 = 0xffff; // DAZ supported
export const MXCSR_DEFAULT: u32 = 0x1f80;

export const SRC: i32 = memory.data(16, 16) as i32; // memory source operand
export const TMP: i32 = memory.data(16, 16) as i32; // results built before the destination is written

@inline export function xr(n: i32): i32 { return FX_XMM + (n << 4); }
@inline export function mxcsr(): u32 { return load<u32>(FX_MXCSR); }

// 0: no prefix, 1: 66, 2: F3, 3: F2 (F2/F3 take precedence over 66; the last of F2/F3 counts).
@inline export function sel(): i32 {
  const p = dPfx();
  if ((p & P_REP) != 0) return 2;
  if ((p & P_REPNE) != 0) return 3;
  return (p & P_OPSZ) != 0 ? 1 : 0;
}

// #UD / #NM rules of SSE instructions; false after raising one.
export function sseAvail(): bool {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if ((c0 & CR0_EM) != 0 || (load<u64>(CPU_STATE + CPU_CR4) & CR4_OSFXSR) == 0) { raiseUD(); return false; }
  if ((c0 & CR0_TS) != 0) { raiseNM(); return false; }
  return true;
}

// ---- operands ----
// Address of the 16-byte source operand (register, or memory read into SRC); 0 after a fault.
export function src128(align: bool): i32 {
  if (dMod() == 3) return xr(dRm());
  const lin = memLin(16, false);
  if (fault) return 0;
  if (align && (lin & 15) != 0) { raiseGP(0); return 0; }
  if (!rdBlock(lin, SRC, 16)) return 0;
  return SRC;
}
// Source of `size` (4 or 8) bytes: the register's low bytes, or memory read into SRC.
export function srcN(size: i32): i32 {
  if (dMod() == 3) return xr(dRm());
  const lin = memLin(size, false);
  if (fault) return 0;
  const v = rdN(lin, size);
  if (fault) return 0;
  store<u64>(SRC, v);
  store<u64>(SRC, 0, 8);
  return SRC;
}
// Store 16 bytes at `p` to the r/m operand.
export function dst128(p: i32, align: bool): void {
  if (dMod() == 3) { memory.copy(xr(dRm()), p, 16); return; }
  const lin = memLin(16, true);
  if (fault) return;
  if (align && (lin & 15) != 0) { raiseGP(0); return; }
  wrBlock(lin, p, 16);
}
// Store `size` bytes to memory (the r/m operand is memory).
export function dstMem(size: i32, v: u64): void {
  const lin = memLin(size, true);
  if (fault) return;
  wrN(lin, size, v);
}

@inline export function fpEnd(): void { store<u32>(FX_MXCSR, mxcsr() | fpFlags); }

export const MA: i32 = memory.data(16, 16) as i32; // operands widened to 16 bytes
export const MB: i32 = memory.data(16, 16) as i32;
@inline export function mm(i: i32): i32 { return FX + 32 + ((i & 7) << 4); }
export function mmWrite(i: i32, v: u64): void { store<u64>(mm(i), v); store<u16>(mm(i), 0xffff, 8); }
