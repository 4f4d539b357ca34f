// SSE/SSE2 and MMX (mmxOp): the XMM registers, MXCSR, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, data movement,
// SSE2 integer operations and the SSE/SSE2 floating-point instructions (arithmetic in softfp.ts).
//
// State lives in its FXSAVE image at CPU_STATE + CPU_FXSAVE (memmap.ts), so that FXSAVE/FXRSTOR are
// copies: FCW +0, FSW +2, abridged FTW +4, FOP +6, FIP +8, FDP +16, MXCSR +24, ST0-7 +32 (16 bytes
// each), XMM0-15 +160 (16 bytes each).
//
// Availability (checked first by every instruction here): CR0.EM=1 or CR4.OSFXSR=0 -> #UD, then
// CR0.TS=1 -> #NM. The mandatory prefix (none / 66 / F3 / F2) selects the form. Legacy-SSE 16-byte
// memory operands must be 16-byte aligned (#GP(0)) except for the MOVU* forms. SSE3, SSSE3, SSE4.1,
// SSE4.2 and CRC32 are in sse4.ts.
import { CPU_STATE, CPU_FXSAVE, CPU_CR0, CPU_CR4, SEG_DS } from "../memmap";
import { F_ARITH, F_ZF, F_PF, F_CF, getReg, setReg, is64, RDI } from "./state";
import { CR0_EM, CR0_TS, CR4_OSFXSR } from "../bits";
import { fpTopZero, fpPendingMF } from "./x87";
import { getFlags, setFlags } from "./flags";
import { fault, raiseUD, raiseGP, raiseNM } from "./fault";
import { dPfx, dMod, dReg, dRm, dRex, dImm, dAs, dSeg, P_OPSZ, P_REP, P_REPNE } from "./decode";
import { memLin, rmRead, rmWrite, linear, maskAs } from "./ea";
import { rdN, wrN, rdBlock, wrBlock, probeWrite } from "../mmu/tlb";
import { sse3Op, sse4Op } from "./sse4";
import {
  FX, FX_MXCSR, FX_XMM, MXCSR_MASK, MXCSR_DEFAULT, TMP, xr, mxcsr, sel, sseAvail, src128, srcN, dst128, dstMem, fpEnd,
  MA, MB, mm, mmWrite, SRC
} from "./ssebase";
export {
  FX, FX_MXCSR, FX_XMM, MXCSR_MASK, MXCSR_DEFAULT, TMP, xr, mxcsr, sel, sseAvail, src128, srcN, dst128, dstMem, fpEnd,
  MA, MB, mm, mmWrite
};
import {
  fpBegin, fpFlags, fadd, fmul, fdiv, fsqrt, fminmax, fcmp, f2i, i2f, f2d, d2f, FE_I,
} from "./softfp";


const IMG: i32 = memory.data(512, 16) as i32; // FXSAVE/FXRSTOR image


// ---- FXSAVE / FXRSTOR / LDMXCSR / STMXCSR (0F AE /0-/3, memory forms) ----
export function group15Mem(k: i32): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if (k <= 1) { // FXSAVE FXRSTOR: #NM if CR0.EM or CR0.TS
    if ((c0 & (CR0_EM | CR0_TS)) != 0) { raiseNM(); return; }
    const lin = memLin(512, k == 0);
    if (fault) return;
    if ((lin & 15) != 0) { raiseGP(0); return; }
    const nx = is64 ? 16 : 8; // XMM registers saved/restored
    if (k == 0) {
      memory.copy(IMG, FX, 160 + nx * 16);
      store<u32>(IMG, MXCSR_MASK, 28);
      if ((dRex() & 8) == 0) { // 32-bit format: FIP, FCS, FDP, FDS
        store<u32>(IMG, 0, 12);
        store<u32>(IMG, 0, 20);
      }
      if (!probeWrite(lin, 512)) return;
      wrBlock(lin, IMG, 160 + nx * 16); // bytes 464-511 are software's; 416-463 are left alone too
      return;
    }
    if (!rdBlock(lin, IMG, 512)) return;
    if ((load<u32>(IMG, 24) & ~MXCSR_MASK) != 0) { raiseGP(0); return; }
    if ((dRex() & 8) == 0) { store<u32>(IMG, 0, 12); store<u32>(IMG, 0, 20); }
    store<u32>(IMG, 0, 28);
    // ST padding
    for (let i = 0; i < 8; i++) { store<u16>(IMG + 32 + i * 16, 0, 10); store<u32>(IMG + 32 + i * 16, 0, 12); }
    memory.copy(FX, IMG, 160 + nx * 16);
    const cw = load<u16>(FX) as u32, sw = load<u16>(FX, 2) as u32; // FSW.ES/B from pending exceptions
    store<u16>(FX, ((sw & ~0x8080) | ((sw & ~cw & 0x3f) != 0 ? 0x8080 : 0)) as u16, 2);
    return;
  }
  // LDMXCSR STMXCSR
  if (!sseAvail()) return;
  if (k == 2) {
    const lin = memLin(4, false);
    if (fault) return;
    const v = rdN(lin, 4) as u32;
    if (fault) return;
    if ((v & ~MXCSR_MASK) != 0) { raiseGP(0); return; }
    store<u32>(FX_MXCSR, v);
    return;
  }
  dstMem(4, mxcsr() as u64);
}

// ---- helpers of the integer operations ----
@inline function sat8s(v: i32): i32 { return v < -128 ? -128 : (v > 127 ? 127 : v); }
@inline function sat8u(v: i32): i32 { return v < 0 ? 0 : (v > 255 ? 255 : v); }
@inline function sat16s(v: i32): i32 { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }
@inline function sat16u(v: i32): i32 { return v < 0 ? 0 : (v > 65535 ? 65535 : v); }

// Interleave the low (hi = false) or high halves of d and s, elements of `es` bytes, into d.
function unpack(d: i32, s: i32, es: i32, hi: bool): void {
  const base = hi ? 8 : 0;
  for (let i = 0; i < 8; i += es) {
    memory.copy(TMP + 2 * i, d + base + i, es);
    memory.copy(TMP + 2 * i + es, s + base + i, es);
  }
  memory.copy(d, TMP, 16);
}

// Byte-lane and word-lane binary operations of 0F 60-FF with 66.
function intOp(op: i32, d: i32, s: i32): void {
  switch (op) {
    case 0x60: unpack(d, s, 1, false); return;
    case 0x61: unpack(d, s, 2, false); return;
    case 0x62: unpack(d, s, 4, false); return;
    case 0x6c: unpack(d, s, 8, false); return;
    case 0x68: unpack(d, s, 1, true); return;
    case 0x69: unpack(d, s, 2, true); return;
    case 0x6a: unpack(d, s, 4, true); return;
    case 0x6d: unpack(d, s, 8, true); return;
    case 0x63: case 0x67: { // PACKSSWB PACKUSWB
      for (let i = 0; i < 8; i++) {
        const a = load<i16>(d + 2 * i) as i32, b = load<i16>(s + 2 * i) as i32;
        store<u8>(TMP + i, (op == 0x63 ? sat8s(a) : sat8u(a)) as u8);
        store<u8>(TMP + 8 + i, (op == 0x63 ? sat8s(b) : sat8u(b)) as u8);
      }
      memory.copy(d, TMP, 16); return;
    }
    case 0x6b: { // PACKSSDW
      for (let i = 0; i < 4; i++) {
        const a = load<i32>(d + 4 * i), b = load<i32>(s + 4 * i);
        store<u16>(TMP + 2 * i, sat16s(a) as u16);
        store<u16>(TMP + 8 + 2 * i, sat16s(b) as u16);
      }
      memory.copy(d, TMP, 16); return;
    }
    case 0x64: for (let i = 0; i < 16; i++) store<u8>(d + i, load<i8>(d + i) > load<i8>(s + i) ? 0xff : 0); return;
    case 0x65: for (let i = 0; i < 16; i += 2) store<u16>(d + i, load<i16>(d + i) > load<i16>(s + i) ? 0xffff : 0);
      return;
    case 0x66: for (let i = 0; i < 16; i += 4) store<u32>(d + i, load<i32>(d + i) > load<i32>(s + i) ? 0xffffffff : 0);
      return;
    case 0x74: for (let i = 0; i < 16; i++) store<u8>(d + i, load<u8>(d + i) == load<u8>(s + i) ? 0xff : 0); return;
    case 0x75: for (let i = 0; i < 16; i += 2) store<u16>(d + i, load<u16>(d + i) == load<u16>(s + i) ? 0xffff : 0);
      return;
    case 0x76: for (let i = 0; i < 16; i += 4) store<u32>(d + i, load<u32>(d + i) == load<u32>(s + i) ? 0xffffffff : 0);
      return;
    case 0xd4: for (let i = 0; i < 16; i += 8) store<u64>(d + i, load<u64>(d + i) + load<u64>(s + i)); return;
    case 0xfb: for (let i = 0; i < 16; i += 8) store<u64>(d + i, load<u64>(d + i) - load<u64>(s + i)); return;
    case 0xfe: for (let i = 0; i < 16; i += 4) store<u32>(d + i, load<u32>(d + i) + load<u32>(s + i)); return;
    case 0xfa: for (let i = 0; i < 16; i += 4) store<u32>(d + i, load<u32>(d + i) - load<u32>(s + i)); return;
    case 0xfd: for (let i = 0; i < 16; i += 2) store<u16>(d + i, (load<u16>(d + i) + load<u16>(s + i)) as u16); return;
    case 0xf9: for (let i = 0; i < 16; i += 2) store<u16>(d + i, (load<u16>(d + i) - load<u16>(s + i)) as u16); return;
    case 0xfc: for (let i = 0; i < 16; i++) store<u8>(d + i, (load<u8>(d + i) + load<u8>(s + i)) as u8); return;
    case 0xf8: for (let i = 0; i < 16; i++) store<u8>(d + i, (load<u8>(d + i) - load<u8>(s + i)) as u8); return;
    case 0xec: for (let i = 0; i < 16; i++)
      store<u8>(d + i, sat8s((load<i8>(d + i) as i32) + (load<i8>(s + i) as i32)) as u8); return;
    case 0xe8: for (let i = 0; i < 16; i++)
      store<u8>(d + i, sat8s((load<i8>(d + i) as i32) - (load<i8>(s + i) as i32)) as u8); return;
    case 0xdc: for (let i = 0; i < 16; i++)
      store<u8>(d + i, sat8u((load<u8>(d + i) as i32) + (load<u8>(s + i) as i32)) as u8); return;
    case 0xd8: for (let i = 0; i < 16; i++)
      store<u8>(d + i, sat8u((load<u8>(d + i) as i32) - (load<u8>(s + i) as i32)) as u8); return;
    case 0xed: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, sat16s((load<i16>(d + i) as i32) + (load<i16>(s + i) as i32)) as u16); return;
    case 0xe9: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, sat16s((load<i16>(d + i) as i32) - (load<i16>(s + i) as i32)) as u16); return;
    case 0xdd: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, sat16u((load<u16>(d + i) as i32) + (load<u16>(s + i) as i32)) as u16); return;
    case 0xd9: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, sat16u((load<u16>(d + i) as i32) - (load<u16>(s + i) as i32)) as u16); return;
    case 0xda: for (let i = 0; i < 16; i++) {
      const a = load<u8>(d + i), b = load<u8>(s + i); store<u8>(d + i, a < b ? a : b);
    } return;
    case 0xde: for (let i = 0; i < 16; i++) {
      const a = load<u8>(d + i), b = load<u8>(s + i); store<u8>(d + i, a > b ? a : b);
    } return;
    case 0xea: for (let i = 0; i < 16; i += 2) {
      const a = load<i16>(d + i), b = load<i16>(s + i); store<i16>(d + i, a < b ? a : b);
    } return;
    case 0xee: for (let i = 0; i < 16; i += 2) {
      const a = load<i16>(d + i), b = load<i16>(s + i); store<i16>(d + i, a > b ? a : b);
    } return;
    case 0xdb: case 0x54: for (let i = 0; i < 16; i += 8) store<u64>(d + i, load<u64>(d + i) & load<u64>(s + i));
      return;
    case 0xdf: case 0x55: for (let i = 0; i < 16; i += 8) store<u64>(d + i, ~load<u64>(d + i) & load<u64>(s + i));
      return;
    case 0xeb: case 0x56: for (let i = 0; i < 16; i += 8) store<u64>(d + i, load<u64>(d + i) | load<u64>(s + i));
      return;
    case 0xef: case 0x57: for (let i = 0; i < 16; i += 8) store<u64>(d + i, load<u64>(d + i) ^ load<u64>(s + i));
      return;
    case 0xe0: for (let i = 0; i < 16; i++)
      store<u8>(d + i, ((load<u8>(d + i) as u32) + (load<u8>(s + i) as u32) + 1) >> 1); return;
    case 0xe3: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, ((load<u16>(d + i) as u32) + (load<u16>(s + i) as u32) + 1) >> 1); return;
    case 0xd5: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, ((load<i16>(d + i) as i32) * (load<i16>(s + i) as i32)) as u16); return;
    case 0xe5: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, (((load<i16>(d + i) as i32) * (load<i16>(s + i) as i32)) >> 16) as u16); return;
    case 0xe4: for (let i = 0; i < 16; i += 2)
      store<u16>(d + i, (((load<u16>(d + i) as u32) * (load<u16>(s + i) as u32)) >> 16) as u16); return;
    case 0xf4: for (let i = 0; i < 16; i += 8) store<u64>(d + i, (load<u32>(d + i) as u64) * (load<u32>(s + i) as u64));
      return;
    case 0xf5: // PMADDWD
      for (let i = 0; i < 16; i += 4) {
        const p0 = (load<i16>(d + i) as i32) * (load<i16>(s + i) as i32);
        const p1 = (load<i16>(d + i + 2) as i32) * (load<i16>(s + i + 2) as i32);
        store<i32>(d + i, p0 + p1);
      }
      return;
    case 0xf6: // PSADBW
      for (let i = 0; i < 16; i += 8) {
        let sum: u32 = 0;
        for (let j = 0; j < 8; j++) {
          const a = load<u8>(d + i + j) as i32, b = load<u8>(s + i + j) as i32;
          sum += (a > b ? a - b : b - a) as u32;
        }
        store<u64>(d + i, sum as u64);
      }
      return;
    default: raiseUD(); return;
  }
}

// Shifts by `n` (PSRL/PSRA/PSLL W D Q): kind 0 right logical, 1 right arithmetic, 2 left.
function shiftOp(d: i32, es: i32, kind: i32, n: u64): void {
  const bits = (es << 3) as u64;
  if (n >= bits) {
    if (kind != 1) { store<u64>(d, 0); store<u64>(d, 0, 8); return; }
    n = bits - 1;
  }
  for (let i = 0; i < 16; i += es) {
    if (es == 2) {
      const v = load<u16>(d + i) as u32;
      store<u16>(
        d + i,
        (kind == 0 ? v >> (n as u32) : kind == 1 ? ((v as i16 as i32) >> (n as i32)) as u32 : v << (n as u32)) as u16
      );
    } else if (es == 4) {
      const v = load<u32>(d + i);
      store<u32>(d + i, kind == 0 ? v >> (n as u32) : kind == 1 ? ((v as i32) >> (n as i32)) as u32 : v << (n as u32));
    } else {
      const v = load<u64>(d + i);
      store<u64>(d + i, kind == 0 ? v >> n : v << n);
    }
  }
}

// Shift the 16 bytes at d by n bytes (left: towards higher addresses).
function byteShift(d: i32, n: i32, left: bool): void {
  if (n > 16) n = 16;
  memory.fill(TMP, 0, 16);
  if (left) memory.copy(TMP + n, d, 16 - n);
  else memory.copy(TMP, d + n, 16 - n);
  memory.copy(d, TMP, 16);
}

// ---- floating point ----

// One lane of ADD MUL SUB MIN DIV MAX SQRT (low opcode byte `op`).
function fpLane(op: i32, a: u64, b: u64, dbl: bool): u64 {
  switch (op) {
    case 0x58: return fadd(a, b, dbl, false);
    case 0x59: return fmul(a, b, dbl);
    case 0x5c: return fadd(a, b, dbl, true);
    case 0x5d: return fminmax(a, b, dbl, false);
    case 0x5e: return fdiv(a, b, dbl);
    case 0x5f: return fminmax(a, b, dbl, true);
    default: return fsqrt(b, dbl); // 0x51
  }
}

// CMPPS/PD/SS/SD predicate (imm8 bits 0-2) on one lane.
function cmpLane(a: u64, b: u64, dbl: bool, pred: i32): bool {
  const sig = pred == 1 || pred == 2 || pred == 5 || pred == 6;
  const c = fcmp(a, b, dbl, sig); // 0 less 1 equal 2 greater 3 unordered
  switch (pred) {
    case 0: return c == 1;
    case 1: return c == 0;
    case 2: return c <= 1;
    case 3: return c == 3;
    case 4: return c != 1;
    case 5: return c != 0;
    case 6: return c > 1;
    default: return c != 3;
  }
}

// Packed/scalar FP arithmetic and compares: 0F 51, 58-5F (op), 0F C2 (CMP).
function fpArith(op: i32, s: i32): void {
  const dbl = (s & 1) != 0; // PD, SD
  const scalar = s >= 2;
  const src = scalar ? srcN(dbl ? 8 : 4) : src128(true);
  if (src == 0) return;
  const d = xr(dReg());
  fpBegin(mxcsr());
  const n = scalar ? 1 : (dbl ? 2 : 4);
  const pred = (dImm() & 7) as i32;
  memory.copy(TMP, d, 16);
  for (let i = 0; i < n; i++) {
    if (dbl) {
      const a = load<u64>(d + 8 * i), b = load<u64>(src + 8 * i);
      const r = op == 0xc2 ? (cmpLane(a, b, true, pred) ? 0xffffffffffffffff : 0) : fpLane(op, a, b, true);
      store<u64>(TMP + 8 * i, r);
    } else {
      const a = load<u32>(d + 4 * i) as u64, b = load<u32>(src + 4 * i) as u64;
      const r = op == 0xc2 ? (cmpLane(a, b, false, pred) ? 0xffffffff : 0) : fpLane(op, a, b, false);
      store<u32>(TMP + 4 * i, r as u32);
    }
  }
  memory.copy(d, TMP, 16);
  fpEnd();
}

// COMISS COMISD UCOMISS UCOMISD: ZF PF CF, OF SF AF cleared.
function comis(dbl: bool, signalQ: bool): void {
  const src = srcN(dbl ? 8 : 4);
  if (src == 0) return;
  const d = xr(dReg());
  fpBegin(mxcsr());
  const c = dbl ? fcmp(load<u64>(d), load<u64>(src), true, signalQ)
    : fcmp(load<u32>(d) as u64, load<u32>(src) as u64, false, signalQ);
  const f: u64 = c == 3 ? F_ZF | F_PF | F_CF : c == 0 ? F_CF : c == 1 ? F_ZF : 0;
  setFlags((getFlags() & ~F_ARITH) | f);
  fpEnd();
}

// 0F 5A: CVTPS2PD CVTPD2PS CVTSS2SD CVTSD2SS.
function cvt5a(s: i32): void {
  const src = s == 0 || s == 3 ? srcN(8) : s == 1 ? src128(true) : srcN(4);
  if (src == 0) return;
  const d = xr(dReg());
  fpBegin(mxcsr());
  if (s == 0) {
    const a = load<u32>(src) as u64, b = load<u32>(src, 4) as u64;
    store<u64>(TMP, f2d(a)); store<u64>(TMP, f2d(b), 8);
    memory.copy(d, TMP, 16);
  } else if (s == 1) {
    const a = d2f(load<u64>(src)), b = d2f(load<u64>(src, 8));
    store<u32>(d, a as u32); store<u32>(d, b as u32, 4); store<u64>(d, 0, 8);
  } else if (s == 2) {
    store<u64>(d, f2d(load<u32>(src) as u64));
  } else {
    store<u32>(d, d2f(load<u64>(src)) as u32);
  }
  fpEnd();
}

// 0F 5B: CVTDQ2PS (none) CVTPS2DQ (66) CVTTPS2DQ (F3).
function cvt5b(s: i32): void {
  if (s == 3) { raiseUD(); return; }
  const src = src128(true);
  if (src == 0) return;
  const d = xr(dReg());
  fpBegin(mxcsr());
  for (let i = 0; i < 16; i += 4) {
    const v = load<u32>(src + i);
    store<u32>(TMP + i, (s == 0 ? i2f(v as i32 as i64, false) : f2i(v as u64, false, false, s == 2)) as u32);
  }
  memory.copy(d, TMP, 16);
  fpEnd();
}

// 0F E6: CVTTPD2DQ (66) CVTDQ2PD (F3) CVTPD2DQ (F2).
function cvte6(s: i32): void {
  if (s == 0) { raiseUD(); return; }
  const src = s == 2 ? srcN(8) : src128(true);
  if (src == 0) return;
  const d = xr(dReg());
  fpBegin(mxcsr());
  if (s == 2) {
    const a = load<i32>(src), b = load<i32>(src, 4);
    store<u64>(d, i2f(a as i64, true)); store<u64>(d, i2f(b as i64, true), 8);
  } else {
    const a = f2i(load<u64>(src), true, false, s == 1), b = f2i(load<u64>(src, 8), true, false, s == 1);
    store<u32>(d, a as u32); store<u32>(d, b as u32, 4); store<u64>(d, 0, 8);
  }
  fpEnd();
}

// RCPPS/RCPSS and RSQRTPS/RSQRTSS: approximations (the SDM asks for a relative error <= 1.5 * 2^-12;
// this gives the correctly rounded value, which no real CPU does bit for bit). Denormal inputs count
// as zero, tiny results are flushed to zero, no MXCSR flags.
function approx(v: u32, rsq: bool): u32 {
  const s = v & 0x80000000, e = (v >> 23) & 0xff, f = v & 0x7fffff;
  if (e == 0xff && f != 0) return v | 0x400000; // NaN: quieted
  if (e == 0) return s | 0x7f800000; // zero or denormal: infinity of its sign
  if (rsq && s != 0) return 0xffc00000; // negative: QNaN indefinite
  if (e == 0xff) return s; // infinity: zero of its sign
  const x = reinterpret<f32>(v) as f64;
  const r = reinterpret<u32>((rsq ? 1.0 / Math.sqrt(x) : 1.0 / x) as f32);
  return ((r >> 23) & 0xff) == 0 ? r & 0x80000000 : r;
}

// MASKMOVDQU xmm1, xmm2: the bytes of xmm1 whose xmm2 mask byte has bit 7 set go to DS:[rDI].
function maskmov(): void {
  if (dMod() != 3) { raiseUD(); return; }
  const as = dAs();
  const off = maskAs(getReg(RDI, 8), as);
  const lin = linear(dSeg() >= 0 ? dSeg() : SEG_DS, off, 16, true);
  if (fault) return;
  if (!probeWrite(lin, 16)) return;
  const d = xr(dReg()), m = xr(dRm());
  for (let i = 0; i < 16; i++) {
    if ((load<u8>(m + i) & 0x80) != 0)
      wrN(is64 ? lin + (i as u64) : (lin + (i as u64)) & 0xffffffff, 1, load<u8>(d + i) as u64);
  }
}

// ---- MMX (0F xx without a mandatory prefix) ----
// MMX register i is the significand of physical x87 register Ri; every MMX instruction but EMMS
// sets TOP = 0 (the slots then hold R0..R7: x87.ts) and all tags valid (EMMS: TOP = 0 and all tags
// empty), and a write sets the register's exponent field to 0xFFFF. CR0.EM -> #UD, CR0.TS -> #NM,
// then a pending x87 exception -> #MF (CR0.NE). The MMX forms of the SSE/SSE2 integer instructions (PAVGB,
// PMINUB, PSHUFW, PINSRW, PEXTRW, PMOVMSKB, MOVNTQ, MASKMOVQ, PSADBW, PMULHUW, PADDQ, PSUBQ, PMULUDQ)
// compute as their XMM forms on the low half. CVTPI2PS/CVTPS2PI/CVTTPS2PI/CVTPI2PD/CVTPD2PI/
// CVTTPD2PI and MOVQ2DQ/MOVDQ2Q are not implemented (#UD).
function isMmx(lo: i32): bool {
  if (lo >= 0x60 && lo <= 0x6b) return true;
  if (lo == 0x6e || lo == 0x6f || lo == 0x7e || lo == 0x7f || lo == 0xc4 || lo == 0xc5) return true;
  if (lo >= 0x70 && lo <= 0x77) return true;
  if (lo >= 0xd1 && lo <= 0xfe) return lo != 0xd6 && lo != 0xe6 && lo != 0xf0;
  return false;
}

function mmxOp(lo: i32): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if ((c0 & CR0_EM) != 0) { raiseUD(); return; }
  if ((c0 & CR0_TS) != 0) { raiseNM(); return; }
  if (fpPendingMF()) return;
  if (lo == 0x77) { fpTopZero(); store<u8>(FX, 0, 4); return; } // EMMS: TOP = 0 too (SDM table 9-2; measured)
  const reg = dMod() == 3;
  // operands that can fault come first: the MMX state changes only once nothing can fault
  let src: u64 = 0;
  switch (lo) {
    case 0x7e: case 0x7f: case 0xe7: case 0xc5: case 0xd7: break; // stores, reads into a GPR
    case 0x6e: case 0xc4: { // MOVD/MOVQ mm, r/m; PINSRW mm, r32/m16
      const w = lo == 0xc4 ? (reg ? 4 : 2) : ((dRex() & 8) != 0 ? 8 : 4);
      src = reg ? getReg(dRm(), w) : rmRead(w);
      if (fault) return;
      break;
    }
    case 0x71: case 0x72: case 0x73: if (!reg) { raiseUD(); return; } break;
    case 0xf7: if (!reg) { raiseUD(); return; } break;
    default:
      if (!reg) {
        const lin = memLin(8, false);
        if (fault) return;
        src = rdN(lin, 8);
        if (fault) return;
      }
      break;
  }
  if (lo == 0x7f || lo == 0xe7) { // MOVQ m64/mm, mm; MOVNTQ m64, mm
    if (lo == 0xe7 && reg) { raiseUD(); return; }
    if (!reg) {
      const lin = memLin(8, true);
      if (fault) return;
      if (!probeWrite(lin, 8)) return;
      fpTopZero(); store<u8>(FX, 0xff, 4);
      wrN(lin, 8, load<u64>(mm(dReg())));
      return;
    }
  }
  if (lo == 0x7e) { // MOVD/MOVQ r/m, mm
    const w = (dRex() & 8) != 0 ? 8 : 4;
    if (!reg) {
      const lin = memLin(w, true);
      if (fault) return;
      if (!probeWrite(lin, w)) return;
      fpTopZero(); store<u8>(FX, 0xff, 4);
      wrN(lin, w, load<u64>(mm(dReg())));
      return;
    }
  }
  if (lo == 0xf7) { // MASKMOVQ: probe the whole destination first
    const off = maskAs(getReg(RDI, 8), dAs());
    const lin = linear(dSeg() >= 0 ? dSeg() : SEG_DS, off, 8, true);
    if (fault) return;
    if (!probeWrite(lin, 8)) return;
    fpTopZero(); store<u8>(FX, 0xff, 4);
    const d = mm(dReg()), m = mm(dRm());
    for (let i = 0; i < 8; i++) {
      if ((load<u8>(m + i) & 0x80) != 0)
        wrN(is64 ? lin + (i as u64) : (lin + (i as u64)) & 0xffffffff, 1, load<u8>(d + i) as u64);
    }
    return;
  }
  fpTopZero();
  store<u8>(FX, 0xff, 4);
  const dn = dReg() & 7;
  if (reg && lo != 0x6e && lo != 0xc4) src = load<u64>(mm(dRm()));
  switch (lo) {
    case 0x6e: mmWrite(dn, lo == 0x6e && (dRex() & 8) == 0 ? src & 0xffffffff : src); return;
    case 0x6f: mmWrite(dn, src); return;
    case 0x7f: mmWrite(dRm() & 7, load<u64>(mm(dn))); return;
    case 0x7e: setReg(dRm(), (dRex() & 8) != 0 ? 8 : 4, load<u64>(mm(dn))); return;
    case 0x70: { // PSHUFW
      const imm = dImm() as i32;
      let r: u64 = 0;
      for (let i = 0; i < 4; i++) r |= ((src >> ((16 * ((imm >> (2 * i)) & 3)) as u64)) & 0xffff) << ((16 * i) as u64);
      mmWrite(dn, r);
      return;
    }
    case 0xc4: { // PINSRW
      const sh = (16 * ((dImm() as i32) & 3)) as u64;
      mmWrite(dn, (load<u64>(mm(dn)) & ~((0xffff as u64) << sh)) | ((src & 0xffff) << sh));
      return;
    }
    case 0xc5: { // PEXTRW r32, mm, imm8
      if (!reg) { raiseUD(); return; }
      setReg(dReg(), is64 ? 8 : 4, (load<u64>(mm(dRm())) >> ((16 * ((dImm() as i32) & 3)) as u64)) & 0xffff);
      return;
    }
    case 0xd7: { // PMOVMSKB r32, mm
      if (!reg) { raiseUD(); return; }
      const v = load<u64>(mm(dRm()));
      let m: u64 = 0;
      for (let i = 0; i < 8; i++) m |= ((v >> ((8 * i + 7) as u64)) & 1) << (i as u64);
      setReg(dReg(), is64 ? 8 : 4, m);
      return;
    }
    case 0x71: case 0x72: case 0x73: { // shifts by imm8
      const k = dReg() & 7;
      const es = lo == 0x71 ? 2 : lo == 0x72 ? 4 : 8;
      const n = dImm() & 0xff;
      const t = dRm() & 7;
      store<u64>(MA, load<u64>(mm(t))); store<u64>(MA, 0, 8);
      if (k == 2) shiftOp(MA, es, 0, n);
      else if (k == 6) shiftOp(MA, es, 2, n);
      else if (k == 4 && es != 8) shiftOp(MA, es, 1, n);
      else { raiseUD(); return; } // (PSRLDQ PSLLDQ are XMM-only)
      mmWrite(t, load<u64>(MA));
      return;
    }
    default: break;
  }
  store<u64>(MA, load<u64>(mm(dn))); store<u64>(MA, 0, 8);
  store<u64>(MB, src); store<u64>(MB, 0, 8);
  switch (lo) {
    case 0xd1: shiftOp(MA, 2, 0, src); break;
    case 0xd2: shiftOp(MA, 4, 0, src); break;
    case 0xd3: shiftOp(MA, 8, 0, src); break;
    case 0xe1: shiftOp(MA, 2, 1, src); break;
    case 0xe2: shiftOp(MA, 4, 1, src); break;
    case 0xf1: shiftOp(MA, 2, 2, src); break;
    case 0xf2: shiftOp(MA, 4, 2, src); break;
    case 0xf3: shiftOp(MA, 8, 2, src); break;
    case 0x60: case 0x61: case 0x62: intOp(lo, MA, MB); break; // low interleave: the first 8 bytes
    // bytes 4-7 of each
    case 0x68: case 0x69: case 0x6a: intOp(lo - 8, MA, MB); store<u64>(MA, load<u64>(MA, 8)); break;
    // d's 4 bytes, s's 4 bytes
    case 0x63: case 0x67: case 0x6b: intOp(lo, MA, MB); store<u32>(MA, load<u32>(MA, 8), 4); break;
    default: intOp(lo, MA, MB); break;
  }
  if (fault) return;
  mmWrite(dn, load<u64>(MA));
}

// ---- the 0F-map SSE/SSE2 instructions ----
export function sseOp(op: i32): void {
  if (op >= 0x200) { sse4Op(op); return; } // 0F 38, 0F 3A: SSSE3, SSE4.1, SSE4.2, CRC32 (sse4.ts)
  if (op < 0x200 && sel() == 0 && isMmx(op & 0xff)) { mmxOp(op & 0xff); return; }
  if (!sseAvail()) return;
  const s = sel();
  const lo = op & 0xff;
  // SSE2 integer operations (66 prefix; without it they are MMX forms: not implemented).
  if ((lo >= 0x60 && lo <= 0x6d) || (lo >= 0x74 && lo <= 0x76) || (lo >= 0xd1 && lo <= 0xfe && lo != 0xd6 &&
    lo != 0xd7 && lo != 0xe6 && lo != 0xe7 && lo != 0xf0 && lo != 0xf7)) {
    if (s != 1) { raiseUD(); return; }
    const src = src128(true);
    if (src == 0) return;
    const d = xr(dReg());
    switch (lo) { // shifts by a register count
      case 0xd1: shiftOp(d, 2, 0, load<u64>(src)); return;
      case 0xd2: shiftOp(d, 4, 0, load<u64>(src)); return;
      case 0xd3: shiftOp(d, 8, 0, load<u64>(src)); return;
      case 0xe1: shiftOp(d, 2, 1, load<u64>(src)); return;
      case 0xe2: shiftOp(d, 4, 1, load<u64>(src)); return;
      case 0xf1: shiftOp(d, 2, 2, load<u64>(src)); return;
      case 0xf2: shiftOp(d, 4, 2, load<u64>(src)); return;
      case 0xf3: shiftOp(d, 8, 2, load<u64>(src)); return;
      default: intOp(lo, d, src); return;
    }
  }
  switch (lo) {
    case 0x10: case 0x11: { // MOVUPS MOVUPD MOVSS MOVSD
      const store_ = lo == 0x11;
      if (s <= 1) {
        if (store_) dst128(xr(dReg()), false);
        else { const p = src128(false); if (p != 0) memory.copy(xr(dReg()), p, 16); }
        return;
      }
      const size = s == 2 ? 4 : 8;
      if (store_) {
        if (dMod() == 3) { memory.copy(xr(dRm()), xr(dReg()), size); return; }
        dstMem(size, size == 4 ? load<u32>(xr(dReg())) as u64 : load<u64>(xr(dReg())));
        return;
      }
      if (dMod() == 3) { memory.copy(xr(dReg()), xr(dRm()), size); return; }
      const p = srcN(size);
      if (p == 0) return;
      memory.copy(xr(dReg()), p, 16); // memory form: upper bytes zeroed (SRC holds zeros there)
      return;
    }
    case 0x12: case 0x16: { // MOVLPS MOVHLPS MOVLPD / MOVHPS MOVLHPS MOVHPD
      if (s >= 2) { if (!sse3Op(lo, s)) raiseUD(); return; } // MOVSLDUP MOVDDUP MOVSHDUP: SSE3
      const hi = lo == 0x16;
      const d = xr(dReg());
      if (dMod() == 3) {
        if (s == 1) { raiseUD(); return; }
        if (hi) store<u64>(d, load<u64>(xr(dRm())), 8); // MOVLHPS
        else store<u64>(d, load<u64>(xr(dRm()), 8)); // MOVHLPS
        return;
      }
      const p = srcN(8);
      if (p == 0) return;
      store<u64>(d + (hi ? 8 : 0), load<u64>(p));
      return;
    }
    case 0x13: case 0x17: { // MOVLPS MOVLPD / MOVHPS MOVHPD stores
      if (s >= 2 || dMod() == 3) { raiseUD(); return; }
      dstMem(8, load<u64>(xr(dReg()) + (lo == 0x17 ? 8 : 0)));
      return;
    }
    case 0x14: case 0x15: { // UNPCKLPS/PD UNPCKHPS/PD
      if (s >= 2) { raiseUD(); return; }
      const p = src128(true);
      if (p == 0) return;
      unpack(xr(dReg()), p, s == 1 ? 8 : 4, lo == 0x15);
      return;
    }
    case 0x28: { // MOVAPS MOVAPD
      if (s >= 2) { raiseUD(); return; }
      const p = src128(true);
      if (p != 0) memory.copy(xr(dReg()), p, 16);
      return;
    }
    case 0x29: if (s >= 2) { raiseUD(); return; } dst128(xr(dReg()), true); return;
    case 0x2b: // MOVNTPS MOVNTPD
      if (s >= 2 || dMod() == 3) { raiseUD(); return; }
      dst128(xr(dReg()), true);
      return;
    case 0x2a: { // CVTSI2SS CVTSI2SD
      if (s < 2) { raiseUD(); return; } // CVTPI2PS/PD: MMX
      const w = (dRex() & 8) != 0 ? 8 : 4;
      const v = rmRead(w);
      if (fault) return;
      const iv: i64 = w == 8 ? v as i64 : (v as i32) as i64;
      fpBegin(mxcsr());
      const d = xr(dReg());
      if (s == 2) store<u32>(d, i2f(iv, false) as u32);
      else store<u64>(d, i2f(iv, true));
      fpEnd();
      return;
    }
    case 0x2c: case 0x2d: { // CVTTSS2SI CVTTSD2SI / CVTSS2SI CVTSD2SI
      if (s < 2) { raiseUD(); return; } // MMX forms
      const dbl = s == 3;
      const p = srcN(dbl ? 8 : 4);
      if (p == 0) return;
      const w64 = (dRex() & 8) != 0;
      fpBegin(mxcsr());
      const v = f2i(dbl ? load<u64>(p) : load<u32>(p) as u64, dbl, w64, lo == 0x2c);
      setReg(dReg(), w64 ? 8 : 4, v);
      fpEnd();
      return;
    }
    case 0x2e: case 0x2f: // UCOMISS UCOMISD COMISS COMISD
      if (s >= 2) { raiseUD(); return; }
      comis(s == 1, lo == 0x2f);
      return;
    case 0x50: { // MOVMSKPS MOVMSKPD
      if (s >= 2 || dMod() != 3) { raiseUD(); return; }
      const p = xr(dRm());
      let m: u64 = 0;
      if (s == 0) { for (let i = 0; i < 4; i++) m |= ((load<u32>(p + 4 * i) >> 31) as u64) << (i as u64); }
      else m = (load<u64>(p) >> 63) | ((load<u64>(p, 8) >> 63) << 1);
      setReg(dReg(), is64 ? 8 : 4, m);
      return;
    }
    case 0x51: case 0x58: case 0x59: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      fpArith(lo, s); return;
    case 0xc2: fpArith(0xc2, s); return;
    case 0x54: case 0x55: case 0x56: case 0x57: { // ANDPS ANDNPS ORPS XORPS (/PD)
      if (s >= 2) { raiseUD(); return; }
      const p = src128(true);
      if (p != 0) intOp(lo, xr(dReg()), p);
      return;
    }
    case 0x52: case 0x53: { // RSQRTPS RSQRTSS RCPPS RCPSS
      if (s == 1 || s == 3) { raiseUD(); return; }
      const p = s == 2 ? srcN(4) : src128(true);
      if (p == 0) return;
      const d = xr(dReg());
      const n = s == 2 ? 1 : 4;
      for (let i = 0; i < n; i++) store<u32>(TMP + 4 * i, approx(load<u32>(p + 4 * i), lo == 0x52));
      memory.copy(d, TMP, 4 * n);
      return;
    }
    case 0xf7: if (s != 1) { raiseUD(); return; } maskmov(); return;
    case 0x7c: case 0x7d: case 0xd0: case 0xf0: if (!sse3Op(lo, s)) raiseUD(); return; // SSE3 (sse4.ts)
    case 0x5a: cvt5a(s); return;
    case 0x5b: cvt5b(s); return;
    case 0xe6: cvte6(s); return;
    case 0x6e: { // MOVD/MOVQ xmm, r/m32/64
      if (s != 1) { raiseUD(); return; }
      const w = (dRex() & 8) != 0 ? 8 : 4;
      const v = rmRead(w);
      if (fault) return;
      const d = xr(dReg());
      store<u64>(d, v); store<u64>(d, 0, 8);
      return;
    }
    case 0x7e: {
      if (s == 1) { // MOVD/MOVQ r/m32/64, xmm
        const w = (dRex() & 8) != 0 ? 8 : 4;
        rmWrite(w, load<u64>(xr(dReg())));
        return;
      }
      if (s != 2) { raiseUD(); return; }
      const p = srcN(8); // MOVQ xmm, xmm/m64
      if (p == 0) return;
      const d = xr(dReg());
      store<u64>(d, load<u64>(p)); store<u64>(d, 0, 8);
      return;
    }
    case 0xd6: { // MOVQ xmm/m64, xmm
      if (s != 1) { raiseUD(); return; } // MOVQ2DQ MOVDQ2Q: MMX
      const v = load<u64>(xr(dReg()));
      if (dMod() == 3) { const d = xr(dRm()); store<u64>(d, v); store<u64>(d, 0, 8); return; }
      dstMem(8, v);
      return;
    }
    case 0x6f: { // MOVDQA MOVDQU
      if (s != 1 && s != 2) { raiseUD(); return; }
      const p = src128(s == 1);
      if (p != 0) memory.copy(xr(dReg()), p, 16);
      return;
    }
    case 0x7f: if (s != 1 && s != 2) { raiseUD(); return; } dst128(xr(dReg()), s == 1); return;
    case 0xe7: // MOVNTDQ
      if (s != 1 || dMod() == 3) { raiseUD(); return; }
      dst128(xr(dReg()), true);
      return;
    case 0x70: { // PSHUFD PSHUFHW PSHUFLW
      if (s == 0) { raiseUD(); return; } // PSHUFW: MMX
      const p = src128(true);
      if (p == 0) return;
      const imm = dImm() as i32;
      const d = xr(dReg());
      if (s == 1) {
        for (let i = 0; i < 4; i++) store<u32>(TMP + 4 * i, load<u32>(p + 4 * ((imm >> (2 * i)) & 3)));
      } else {
        const base = s == 2 ? 8 : 0; // F3: high words; F2: low words
        memory.copy(TMP, p, 16);
        for (let i = 0; i < 4; i++) store<u16>(TMP + base + 2 * i, load<u16>(p + base + 2 * ((imm >> (2 * i)) & 3)));
      }
      memory.copy(d, TMP, 16);
      return;
    }
    case 0x71: case 0x72: case 0x73: { // shift groups by imm8
      if (s != 1 || dMod() != 3) { raiseUD(); return; }
      const k = dReg() & 7;
      const d = xr(dRm());
      const n = dImm() & 0xff;
      const es = lo == 0x71 ? 2 : lo == 0x72 ? 4 : 8;
      if (k == 2) { shiftOp(d, es, 0, n); return; }
      if (k == 6) { shiftOp(d, es, 2, n); return; }
      if (k == 4 && es != 8) { shiftOp(d, es, 1, n); return; }
      if (lo == 0x73 && k == 3) { byteShift(d, n as i32, false); return; } // PSRLDQ
      if (lo == 0x73 && k == 7) { byteShift(d, n as i32, true); return; } // PSLLDQ
      raiseUD();
      return;
    }
    case 0xc4: { // PINSRW xmm, r32/m16, imm8
      if (s != 1) { raiseUD(); return; }
      const v = dMod() == 3 ? getReg(dRm(), 4) : rmRead(2);
      if (fault) return;
      store<u16>(xr(dReg()) + 2 * ((dImm() as i32) & 7), v as u16);
      return;
    }
    case 0xc5: { // PEXTRW r32, xmm, imm8
      if (s != 1 || dMod() != 3) { raiseUD(); return; }
      setReg(dReg(), is64 ? 8 : 4, load<u16>(xr(dRm()) + 2 * ((dImm() as i32) & 7)) as u64);
      return;
    }
    case 0xc6: { // SHUFPS SHUFPD
      if (s >= 2) { raiseUD(); return; }
      const p = src128(true);
      if (p == 0) return;
      const d = xr(dReg());
      const imm = dImm() as i32;
      if (s == 0) {
        store<u32>(TMP, load<u32>(d + 4 * (imm & 3)));
        store<u32>(TMP + 4, load<u32>(d + 4 * ((imm >> 2) & 3)));
        store<u32>(TMP + 8, load<u32>(p + 4 * ((imm >> 4) & 3)));
        store<u32>(TMP + 12, load<u32>(p + 4 * ((imm >> 6) & 3)));
      } else {
        store<u64>(TMP, load<u64>(d + 8 * (imm & 1)));
        store<u64>(TMP + 8, load<u64>(p + 8 * ((imm >> 1) & 1)));
      }
      memory.copy(d, TMP, 16);
      return;
    }
    case 0xd7: { // PMOVMSKB r32, xmm
      if (s != 1 || dMod() != 3) { raiseUD(); return; }
      const p = xr(dRm());
      let m: u64 = 0;
      for (let i = 0; i < 16; i++) m |= ((load<u8>(p + i) >> 7) as u64) << (i as u64);
      setReg(dReg(), is64 ? 8 : 4, m);
      return;
    }
    default: raiseUD(); return;
  }
}
