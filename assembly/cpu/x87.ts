// x87: every instruction of the D8-DF map, and FWAIT's exception check (exec.ts). Arithmetic in fp80.ts,
// transcendental functions in ftrans.ts.
//
// The state lives in the FXSAVE image (sse.ts), so FXSAVE/FXRSTOR stay copies: FCW +0, FSW +2, the
// abridged tag word +4 (bit i: physical register Ri is not empty), FOP +6, FIP +8, FDP +16, and the
// registers at +32 in *stack order*: slot i (16 bytes: significand, then sign/exponent) holds ST(i),
// as FXSAVE stores them. Changing TOP (push, pop, FINCSTP, FDECSTP, an MMX instruction) rotates the
// slots; tags stay physical. MMX register i is physical register Ri, which is slot i once TOP = 0.
//
// Exceptions: the masked responses are in fp80.ts; an unmasked one sets FSW.ES and B, leaves the
// destination (and TOP) alone where the SDM says so, and the next waiting x87/MMX instruction raises
// #MF when CR0.NE = 1 (with CR0.NE = 0, the PC's FERR#/IRQ 13 route is not modelled: nothing happens).
// Every x87 instruction raises #NM when CR0.EM or CR0.TS is set.
// Precision control applies to FADD FSUB(R) FMUL FDIV(R) FSQRT (and their P/I forms) only.
import { CPU_STATE, CPU_CR0, CPU_FXSAVE, SEG_CS, SEG_DS } from "../memmap";
import { RAX, setReg16, F_ARITH, F_ZF, F_PF, F_CF, rip, segSel, is64, mode } from "./state";
import { CR0_EM, CR0_TS, CR0_NE } from "../bits";
import { MODE_REAL } from "../memmap";
import { fault, raiseNM, raise, EX_MF, NO_ERR } from "./fault";
import { dMod, dReg, dRm, dOs, dSeg, dDefSeg } from "./decode";
import { memLin, ea } from "./ea";
import { rdN, wrN, rdBlock, wrBlock, probeWrite } from "../mmu/tlb";
import { getFlags, setFlags } from "./flags";
const FX: i32 = CPU_STATE + CPU_FXSAVE; // the FXSAVE area (as sse.ts: importing it from there made an import cycle)
import {
  xBegin, xf, xUp, oSE, oM, res, pcBits, rcMode, cls, C_ZERO, C_NORM, C_DEN, C_INF, C_QNAN, C_SNAN, C_UNSUP,
  X_IE, X_DE, X_ZE, X_OE, X_UE, X_PE, X_SF, INDEF_SE, INDEF_M, fadd80, fmul80, fdiv80, fsqrt80, fcmp80,
  fromFloat, toFloat, fromInt, toInt, frndint80, fprem80, premQ, premPartial, fscale80, fxtract80, xtSE, xtM,
  nan1, indefinite, isNaNc, unpack, uE, uSig, roundInt, riMag, riBig,
} from "./fp80";
import { ftrans } from "./ftrans";

const C0: u32 = 0x100, C1: u32 = 0x200, C2: u32 = 0x400, C3: u32 = 0x4000;
const TMP: i32 = memory.data(128, 16) as i32;
const ENV: i32 = memory.data(112, 16) as i32;

// ---- status word, stack ----
@inline function cw(): u32 { return load<u16>(FX) as u32; }
@inline function sw(): u32 { return load<u16>(FX, 2) as u32; }
@inline function setSw(v: u32): void { store<u16>(FX, v as u16, 2); }
@inline export function fpTop(): i32 { return ((sw() >> 11) & 7) as i32; }
@inline function stAddr(i: i32): i32 { return FX + 32 + ((i & 7) << 4); }
@inline function phys(i: i32): i32 { return (fpTop() + i) & 7; }
@inline function empty(i: i32): bool { return ((load<u8>(FX, 4) >> (phys(i) as u8)) & 1) == 0; }
@inline function setTag(i: i32, valid: bool): void {
  const b = 1 << phys(i);
  const t = load<u8>(FX, 4) as i32;
  store<u8>(FX, (valid ? t | b : t & ~b) as u8, 4);
}
@inline function stSE(i: i32): u32 { return load<u16>(stAddr(i), 8) as u32; }
@inline function stM(i: i32): u64 { return load<u64>(stAddr(i)); }
function stWrite(i: i32, se: u32, m: u64): void {
  const a = stAddr(i);
  store<u64>(a, m); store<u16>(a, se as u16, 8); store<u16>(a, 0, 10); store<u32>(a, 0, 12);
  setTag(i, true);
}
@inline function stRes(i: i32): void { stWrite(i, oSE, oM); }
function setTop(t: i32): void { setSw((sw() & ~0x3800) | ((t as u32 & 7) << 11)); }

// TOP - 1: slot i+1 <- slot i, slot 0 <- slot 7.
function rotPush(): void {
  memory.copy(TMP, FX + 32 + 7 * 16, 16);
  memory.copy(FX + 48, FX + 32, 7 * 16);
  memory.copy(FX + 32, TMP, 16);
  setTop(fpTop() - 1);
}
// TOP + 1: slot i <- slot i+1, slot 7 <- slot 0.
function rotPop(): void {
  memory.copy(TMP, FX + 32, 16);
  memory.copy(FX + 32, FX + 48, 7 * 16);
  memory.copy(FX + 32 + 7 * 16, TMP, 16);
  setTop(fpTop() + 1);
}
function pop(): void { setTag(0, false); rotPop(); }

// Set TOP to t, moving the slots so that slot i is still ST(i) (registers keep their contents).
function setTopRot(t: i32): void {
  const d = (t - fpTop()) & 7;
  if (d != 0) {
    // new slot j = physical (t + j) = old slot (d + j)
    for (let j = 0; j < 8; j++) memory.copy(TMP + j * 16, FX + 32 + (((j + d) & 7) << 4), 16);
    memory.copy(FX + 32, TMP, 128);
  }
  setTop(t);
}
// Make TOP 0 (slots then hold R0..R7): MMX.
export function fpTopZero(): void { setTopRot(0); }

// FSW.ES and FSW.B follow the unmasked exception flags (after FLDCW, FLDENV, FRSTOR, FXRSTOR).
export function x87StatusSync(): void {
  const pend = (sw() & ~cw() & 0x3f) != 0;
  setSw((sw() & ~0x8080) | (pend ? 0x8080 : 0));
}

export function fninit(): void {
  setTopRot(0);
  store<u16>(FX, 0x037f);
  store<u16>(FX, 0, 2);
  store<u16>(FX, 0, 4); // all registers empty
  store<u16>(FX, 0, 6);
  store<u64>(FX, 0, 8);
  store<u64>(FX, 0, 16);
}

// Record the operation's exceptions (fp80's xf) in FSW; true when its result is to be written.
// `mem`: the destination is memory (unmasked OE/UE then store nothing).
let loadDE = false; // FLD m32/m64: an unmasked DE still loads the value
function done(mem: bool): bool {
  let ex = xf;
  let s = sw() & ~C1;
  if ((ex & X_IE) != 0) ex &= X_IE | X_SF;
  else if ((ex & X_ZE) != 0) ex &= X_ZE | X_DE;
  const un = ex & ~cw() & 0x3f;
  let write = true;
  if ((un & (X_IE | X_ZE)) != 0) write = false;
  else if ((un & X_DE) != 0) { write = loadDE; if (!loadDE) ex &= X_DE | X_ZE; }
  else if (mem && (un & (X_OE | X_UE)) != 0) { write = false; ex &= ~X_PE; }
  if (write && (ex & X_PE) != 0 && xUp) s |= C1;
  s |= ex & 0x7f;
  if (un != 0) s |= 0x8080;
  setSw(s);
  return write;
}
// Stack underflow (an empty source) or overflow (push onto a full register): IE + SF, C1 = overflow.
function stackFault(over: bool): bool {
  xBegin(cw());
  setSw(sw() & ~C1);
  res(INDEF_SE, INDEF_M);
  const x = cw() & X_IE;
  let s = sw() | X_IE | X_SF | (over ? C1 : 0);
  if (x == 0) s |= 0x8080;
  setSw(s);
  return x != 0;
}
@inline function clearC1(): void { setSw(sw() & ~C1); }
function setCC(c: u32): void { setSw((sw() & ~(C0 | C1 | C2 | C3)) | c); }

// Push the result oSE/oM (the caller checked ST(7) is empty; an exception kept it from writing).
function pushRes(): void { rotPush(); stRes(0); }
// Push with the stack-overflow check: ok to compute the value first, then call.
function pushChecked(se: u32, m: u64): void {
  if (!empty(7)) { if (stackFault(true)) { rotPush(); stWrite(0, INDEF_SE, INDEF_M); } return; }
  rotPush(); stWrite(0, se, m);
}

// ---- memory operands ----
function memRead(size: i32): u64 {
  const lin = memLin(size, false);
  if (fault) return 0;
  return rdN(lin, size);
}
function memRead80(): bool {
  const lin = memLin(10, false);
  if (fault) return false;
  return rdBlock(lin, TMP, 10);
}
function memWrite(size: i32, v: u64): void {
  const lin = memLin(size, true);
  if (fault) return;
  wrN(lin, size, v);
}
function memWrite80(se: u32, m: u64): void {
  const lin = memLin(10, true);
  if (fault) return;
  store<u64>(TMP, m); store<u16>(TMP, se as u16, 8);
  if (!probeWrite(lin, 10)) return;
  wrBlock(lin, TMP, 10);
}

// The memory source operand of D8/DA/DC/DE (m32fp, m32int, m64fp, m16int) into (mSE, mM); false on fault.
let mSE: u32 = 0, mM: u64 = 0;
function memOperand(op: i32): bool {
  const size = op == 0xd8 ? 4 : op == 0xda ? 4 : op == 0xdc ? 8 : 2;
  const v = memRead(size);
  if (fault) return false;
  if (op == 0xd8 || op == 0xdc) { fromFloat(v, op == 0xdc, false); mSE = oSE; mM = oM; }
  else { fromInt(op == 0xda ? (v as i32) as i64 : (v as i16) as i64); mSE = oSE; mM = oM; }
  return true;
}

// ---- arithmetic ----
// k: 0 add, 1 mul, 4 a-b, 5 b-a, 6 a/b, 7 b/a
function arith(k: i32, aSE: u32, aM: u64, bSE: u32, bM: u64): void {
  const p = pcBits();
  switch (k) {
    case 0: fadd80(aSE, aM, bSE, bM, false, p); return;
    case 1: fmul80(aSE, aM, bSE, bM, p); return;
    case 4: fadd80(aSE, aM, bSE, bM, true, p); return;
    case 5: fadd80(bSE, bM, aSE, aM, true, p); return;
    case 6: fdiv80(aSE, aM, bSE, bM, p); return;
    default: fdiv80(bSE, bM, aSE, aM, p); return;
  }
}

// Compare ST(0) with (bSE, bM): C3 C2 C0 or, for FCOMI, ZF PF CF. True when the result was set.
function compare(bSE: u32, bM: u64, quiet: bool, eflags: bool): bool {
  const c = fcmp80(stSE(0), stM(0), bSE, bM, quiet);
  clearC1();
  const ok = done(false); // the condition codes / flags are set even when an unmasked exception is raised
  if (eflags) {
    const f: u64 = c == 3 ? F_ZF | F_PF | F_CF : c == 0 ? F_CF : c == 1 ? F_ZF : 0;
    setFlags((getFlags() & ~F_ARITH) | f);
  } else setCC(c == 3 ? C3 | C2 | C0 : c == 0 ? C0 : c == 1 ? C3 : 0);
  return ok;
}
function compareEmpty(eflags: bool): bool {
  const ok = stackFault(false);
  if (eflags) setFlags((getFlags() & ~F_ARITH) | F_ZF | F_PF | F_CF);
  else setCC(C3 | C2 | C0);
  return ok;
}

// FXAM class codes
function fxam(): void {
  const se = stSE(0);
  let c: u32;
  if (empty(0)) c = C3 | C0;
  else {
    switch (cls(se, stM(0))) {
      case C_ZERO: c = C3; break;
      case C_NORM: c = C2; break;
      case C_DEN: c = C3 | C2; break;
      case C_INF: c = C2 | C0; break;
      case C_QNAN: case C_SNAN: c = C0; break;
      default: c = 0; break;
    }
  }
  setCC(c | ((se & 0x8000) != 0 ? C1 : 0));
}

// Full tag word (2 bits per physical register) from the registers' contents.
function fullTags(): u32 {
  let t: u32 = 0;
  const top = fpTop();
  for (let i = 0; i < 8; i++) { // ST(i) is physical (top + i)
    const p = (top + i) & 7;
    let v: u32;
    if (((load<u8>(FX, 4) >> (p as u8)) & 1) == 0) v = 3;
    else {
      const c = cls(stSE(i), stM(i));
      v = c == C_ZERO ? 1 : c == C_NORM ? 0 : 2;
    }
    t |= v << ((2 * p) as u32);
  }
  return t;
}

// ---- FSTENV / FLDENV / FSAVE / FRSTOR ----
// The environment image (14 or 28 bytes) in ENV; the protected-mode layouts, or the real-mode ones.
function envSize(): i32 { return dOs() == 2 ? 14 : 28; }
function buildEnv(): void {
  const o16 = dOs() == 2;
  const fip = load<u64>(FX, 8), fdp = load<u64>(FX, 16), fop = load<u16>(FX, 6) as u32;
  const fcs = load<u16>(FX, 12) as u32, fds = load<u16>(FX, 20) as u32;
  memory.fill(ENV, 0, 28);
  const tags = fullTags();
  if (o16) {
    store<u16>(ENV, cw() as u16); store<u16>(ENV, sw() as u16, 2); store<u16>(ENV, tags as u16, 4);
    if (mode == MODE_REAL) {
      store<u16>(ENV, fip as u16, 6); store<u16>(ENV, ((((fip >> 16) as u32) & 0xf) << 12 | (fop & 0x7ff)) as u16, 8);
      store<u16>(ENV, fdp as u16, 10); store<u16>(ENV, ((((fdp >> 16) as u32) & 0xf) << 12) as u16, 12);
    } else {
      store<u16>(ENV, fip as u16, 6); store<u16>(ENV, fcs as u16, 8);
      store<u16>(ENV, fdp as u16, 10); store<u16>(ENV, fds as u16, 12);
    }
    return;
  }
  store<u32>(ENV, cw() | 0xffff0000); store<u32>(ENV, sw() | 0xffff0000, 4); store<u32>(ENV, tags | 0xffff0000, 8);
  if (mode == MODE_REAL) {
    store<u32>(ENV, (fip as u32) & 0xffff | 0xffff0000, 12);
    store<u32>(ENV, ((((fip >> 16) as u32) & 0xffff) << 12) | (fop & 0x7ff), 16);
    store<u32>(ENV, (fdp as u32) & 0xffff | 0xffff0000, 20);
    store<u32>(ENV, (((fdp >> 16) as u32) & 0xffff) << 12, 24);
  } else {
    store<u32>(ENV, fip as u32, 12); store<u32>(ENV, fcs | (fop << 16), 16);
    store<u32>(ENV, fdp as u32, 20); store<u32>(ENV, fds | 0xffff0000, 24);
  }
}
function loadEnv(): void {
  const o16 = dOs() == 2;
  let tags: u32;
  const nsw = o16 ? load<u16>(ENV, 2) as u32 : load<u16>(ENV, 4) as u32;
  setTopRot(((nsw >> 11) & 7) as i32);
  store<u16>(FX, load<u16>(ENV));
  setSw(nsw);
  tags = o16 ? load<u16>(ENV, 4) as u32 : load<u16>(ENV, 8) as u32;
  store<u16>(FX, ((cw() & 0x1f3f) | 0x40) as u16);
  let a: u32 = 0;
  for (let p = 0; p < 8; p++) if (((tags >> ((2 * p) as u32)) & 3) != 3) a |= 1 << p;
  store<u8>(FX, a as u8, 4);
  if (o16) {
    if (mode == MODE_REAL) {
      const w = load<u16>(ENV, 8) as u32;
      store<u64>(FX, ((load<u16>(ENV, 6) as u32) | ((w >> 12) << 16)) as u64, 8);
      store<u16>(FX, (w & 0x7ff) as u16, 6);
      store<u64>(FX, ((load<u16>(ENV, 10) as u32) | (((load<u16>(ENV, 12) as u32) >> 12) << 16)) as u64, 16);
    } else {
      store<u64>(FX, load<u16>(ENV, 6) as u64, 8); store<u16>(FX, load<u16>(ENV, 8), 12);
      store<u64>(FX, load<u16>(ENV, 10) as u64, 16); store<u16>(FX, load<u16>(ENV, 12), 20);
    }
  } else {
    if (mode == MODE_REAL) {
      const w = load<u32>(ENV, 16);
      store<u64>(FX, (((load<u32>(ENV, 12) & 0xffff) | ((w >> 12) << 16))) as u64, 8);
      store<u16>(FX, (w & 0x7ff) as u16, 6);
      store<u64>(FX, (((load<u32>(ENV, 20) & 0xffff) | ((load<u32>(ENV, 24) >> 12) << 16))) as u64, 16);
    } else {
      store<u64>(FX, load<u32>(ENV, 12) as u64, 8); store<u16>(FX, load<u16>(ENV, 16), 12);
      store<u16>(FX, ((load<u32>(ENV, 16) >> 16) & 0x7ff) as u16, 6);
      store<u64>(FX, load<u32>(ENV, 20) as u64, 16); store<u16>(FX, load<u16>(ENV, 24), 20);
    }
  }
  x87StatusSync();
}
function fnstenv(save: bool): void {
  const n = envSize();
  const total = save ? n + 80 : n;
  const lin = memLin(total, true);
  if (fault) return;
  if (!probeWrite(lin, total)) return;
  buildEnv();
  wrBlock(lin, ENV, n);
  if (save) {
    for (let i = 0; i < 8; i++) {
      memory.copy(TMP, stAddr(i), 10);
      wrBlock(lin + ((n + 10 * i) as u64), TMP, 10);
    }
    fninit();
    return;
  }
  store<u16>(FX, (cw() | 0x3f) as u16); // FNSTENV masks all exceptions
}
function fldenv(rstor: bool): void {
  const n = envSize();
  const total = rstor ? n + 80 : n;
  const lin = memLin(total, false);
  if (fault) return;
  if (!rdBlock(lin, ENV, n)) return;
  if (rstor) {
    if (!rdBlock(lin + (n as u64), ENV + 32, 80)) return;
  }
  loadEnv();
  if (rstor) {
    for (let i = 0; i < 8; i++) {
      const a = stAddr(i);
      memory.copy(a, ENV + 32 + 10 * i, 10);
      store<u16>(a, 0, 10); store<u32>(a, 0, 12);
    }
  }
}

// ---- BCD ----
function fbld(): void {
  if (!memRead80()) return;
  let v: u64 = 0;
  for (let i = 8; i >= 0; i--) {
    const b = load<u8>(TMP + i) as u64;
    v = v * 100 + (b >> 4) * 10 + (b & 15);
  }
  const neg = (load<u8>(TMP + 9) & 0x80) != 0;
  xBegin(cw());
  clearC1();
  fromInt(v as i64);
  pushChecked(neg ? oSE | 0x8000 : oSE, oM);
}
function fbstp(): void {
  if (empty(0)) {
    if (!stackFault(false)) return;
    memWrite80(0xffff, 0xc000000000000000);
    if (fault) return;
    pop();
    return;
  }
  const se = stSE(0), m = stM(0);
  xBegin(cw());
  clearC1();
  const c = cls(se, m);
  let bad = c == C_UNSUP || isNaNc(c) || c == C_INF;
  let mag: u64 = 0;
  if (!bad && c != C_ZERO) {
    if (c == C_DEN) { /* DE? the SDM lists none for FBSTP beyond IE/PE */ }
    roundInt(se, m, rcMode());
    if (riBig || riMag > 999999999999999999) bad = true; else mag = riMag;
  }
  let lo: u64 = 0, hi: u32 = 0;
  if (bad) {
    // a mutable global: xf is exported read-only from fp80; raise IE via indefinite()
    indefinite();
    lo = 0xc000000000000000; hi = 0xffff;
  } else {
    for (let i = 0; i < 9; i++) {
      const d = mag % 100; mag /= 100;
      const byte = ((d / 10) << 4) | (d % 10);
      if (i < 8) lo |= byte << ((8 * i) as u64); else hi = byte as u32;
    }
    if ((se & 0x8000) != 0) hi |= 0x8000;
  }
  const lin = memLin(10, true);
  if (fault) return;
  if (!done(true)) return;
  store<u64>(TMP, lo); store<u16>(TMP, hi as u16, 8);
  if (!probeWrite(lin, 10)) return;
  wrBlock(lin, TMP, 10);
  pop();
}

// ---- the waiting check ----
// A pending unmasked exception (FSW.ES) raises #MF before a waiting x87/MMX instruction (CR0.NE = 1).
export function fpPendingMF(): bool {
  if ((sw() & 0x80) == 0) return false;
  if ((load<u64>(CPU_STATE + CPU_CR0) & CR0_NE) == 0) return false;
  raise(EX_MF, NO_ERR);
  return true;
}

// FOP, FIP (and FCS), FDP (and FDS) of the last non-control instruction.
function notePointers(op: i32, mem: bool): void {
  const modrm = (dMod() << 6) | ((dReg() & 7) << 3) | (dRm() & 7);
  store<u16>(FX, (((op & 7) << 8) | modrm) as u16, 6);
  store<u64>(FX, rip(), 8);
  if (!is64) store<u16>(FX, segSel(SEG_CS) as u16, 12);
  if (mem) {
    store<u64>(FX, ea(), 16);
    if (!is64) store<u16>(FX, segSel(dSeg() >= 0 ? dSeg() : dDefSeg()) as u16, 20);
  }
}

// The no-wait forms (FNINIT FNCLEX FNSTCW FNSTSW FNSTENV FNSAVE, and FENI FDISI FSETPM) neither check
// for a pending exception nor change FOP/FIP/FDP; everything else waits (#MF) first.
export function x87Op(op: i32): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if ((c0 & (CR0_EM | CR0_TS)) != 0) { raiseNM(); return; }
  const k = dReg() & 7;
  const reg = dMod() == 3;
  const rm = dRm() & 7;
  // no-wait control forms
  if (op == 0xdb && reg && k == 4) {
    if (rm == 3) { fninit(); return; }
    if (rm == 2) { setSw(sw() & 0x7f00); return; } // FNCLEX
    if (rm <= 1 || rm == 4) return; // FENI FDISI FSETPM: no-ops since the 80287
    raise(6, NO_ERR); return;
  }
  if (op == 0xd9 && !reg && k == 7) { memWrite(2, cw() as u64); return; } // FNSTCW
  if (op == 0xdd && !reg && k == 7) { memWrite(2, sw() as u64); return; } // FNSTSW m16
  if (op == 0xdf && reg && k == 4 && rm == 0) { setReg16(RAX, sw()); return; } // FNSTSW AX
  if (op == 0xd9 && !reg && k == 6) { fnstenv(false); return; }
  if (op == 0xdd && !reg && k == 6) { fnstenv(true); return; }
  if (fpPendingMF()) return;
  if (op == 0xd9 && !reg && k == 5) { // FLDCW
    const v = memRead(2) as u32;
    if (fault) return;
    store<u16>(FX, ((v & 0x1f3f) | 0x40) as u16);
    x87StatusSync();
    return;
  }
  if (op == 0xd9 && !reg && k == 4) { fldenv(false); return; }
  if (op == 0xdd && !reg && k == 4) { fldenv(true); return; }
  if (reg) regOp(op, k, rm); else memOp(op, k);
}

function memOp(op: i32, k: i32): void {
  switch (op) {
    case 0xd8: case 0xda: case 0xdc: case 0xde: {
      xBegin(cw());
      if (!memOperand(op)) return;
      notePointers(op, true);
      if (k == 2 || k == 3) { // FCOM FCOMP FICOM FICOMP
        if (empty(0)) { if (compareEmpty(false) && k == 3) pop(); return; }
        if (compare(mSE, mM, false, false) && k == 3) pop();
        return;
      }
      if (empty(0)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
      arith(k, stSE(0), stM(0), mSE, mM);
      clearC1();
      if (done(false)) stRes(0);
      return;
    }
    case 0xd9: case 0xdd: case 0xdb: case 0xdf: break;
    default: break;
  }
  const dbl = op == 0xdd;
  if ((op == 0xd9 || op == 0xdd) && k == 0) { // FLD m32/m64
    const v = memRead(dbl ? 8 : 4);
    if (fault) return;
    notePointers(op, true);
    xBegin(cw());
    clearC1();
    if (!empty(7)) { if (stackFault(true)) { rotPush(); stWrite(0, INDEF_SE, INDEF_M); } return; }
    fromFloat(v, dbl, true);
    loadDE = true;
    const w = done(false);
    loadDE = false;
    if (w) pushRes();
    return;
  }
  if ((op == 0xd9 || op == 0xdd) && (k == 2 || k == 3)) { // FST FSTP m32/m64
    const lin = memLin(dbl ? 8 : 4, true);
    if (fault) return;
    notePointers(op, true);
    if (empty(0)) {
      if (!stackFault(false)) return;
      wrN(lin, dbl ? 8 : 4, dbl ? 0xfff8000000000000 : 0xffc00000);
      if (fault) return;
      if (k == 3) pop();
      return;
    }
    xBegin(cw());
    const v = toFloat(stSE(0), stM(0), dbl);
    clearC1();
    // a fault on the write leaves the FPU state alone: probe first
    if (!probeWrite(lin, dbl ? 8 : 4)) return;
    if (!done(true)) return;
    wrN(lin, dbl ? 8 : 4, v);
    if (k == 3) pop();
    return;
  }
  if ((op == 0xdb || op == 0xdf || op == 0xdd) && k >= 1 && k <= 3 || (op == 0xdf && k == 7)) { // FIST(P) FISTTP
    const bits = op == 0xdb ? 32 : op == 0xdd ? 64 : (k == 7 ? 64 : 16);
    const size = bits >> 3;
    const lin = memLin(size, true);
    if (fault) return;
    notePointers(op, true);
    const popIt = k != 2;
    const indef: u64 = (1 as u64) << ((bits - 1) as u64);
    if (empty(0)) {
      if (!stackFault(false)) return;
      wrN(lin, size, indef);
      if (fault) return;
      if (popIt) pop();
      return;
    }
    xBegin(cw());
    const v = toInt(stSE(0), stM(0), bits, k == 1);
    clearC1();
    if (!probeWrite(lin, size)) return;
    if (!done(true)) return;
    wrN(lin, size, v as u64);
    if (popIt) pop();
    return;
  }
  if ((op == 0xdb && k == 0) || (op == 0xdf && (k == 0 || k == 5))) { // FILD m32/m16/m64
    const size = op == 0xdb ? 4 : k == 0 ? 2 : 8;
    const v = memRead(size);
    if (fault) return;
    notePointers(op, true);
    clearC1();
    fromInt(size == 4 ? (v as i32) as i64 : size == 2 ? (v as i16) as i64 : v as i64);
    pushChecked(oSE, oM);
    return;
  }
  if (op == 0xdb && k == 5) { // FLD m80
    if (!memRead80()) return;
    notePointers(op, true);
    clearC1();
    pushChecked(load<u16>(TMP, 8) as u32, load<u64>(TMP));
    return;
  }
  if (op == 0xdb && k == 7) { // FSTP m80
    const lin = memLin(10, true);
    if (fault) return;
    notePointers(op, true);
    if (!probeWrite(lin, 10)) return;
    clearC1();
    if (empty(0)) { if (!stackFault(false)) return; memWrite80(INDEF_SE, INDEF_M); if (fault) return; pop(); return; }
    memory.copy(TMP, stAddr(0), 10);
    wrBlock(lin, TMP, 10);
    pop();
    return;
  }
  if (op == 0xdf && k == 4) { notePointers(op, true); fbld(); return; }
  if (op == 0xdf && k == 6) { notePointers(op, true); fbstp(); return; }
  raise(6, NO_ERR); // D9 /1, DB /4 /6, DD /5: #UD
}


function regOp(op: i32, k: i32, i: i32): void {
  const modrm = 0xc0 | (k << 3) | i;
  notePointers(op, false);
  switch (op) {
    case 0xd8: case 0xdc: case 0xde: {
      if (k == 2 || k == 3) { // FCOM FCOMP, DC D0/D8 (FCOM2 FCOMP3), DE D0 (FCOMP5), DE D9 (FCOMPP)
        if (op == 0xde && k == 3 && i != 1) break;
        const pops = op == 0xde ? (k == 3 ? 2 : 1) : (k == 3 ? 1 : 0);
        xBegin(cw());
        let ok: bool;
        if (empty(0) || empty(i)) ok = compareEmpty(false);
        else ok = compare(stSE(i), stM(i), false, false);
        if (ok) { for (let n = 0; n < pops; n++) pop(); }
        return;
      }
      if (op == 0xde && k == 2) { // FCOMP5 alias
        xBegin(cw());
        let ok: bool;
        if (empty(0) || empty(i)) ok = compareEmpty(false);
        else ok = compare(stSE(i), stM(i), false, false);
        if (ok) pop();
        return;
      }
      const dst = op == 0xd8 ? 0 : i;
      if (empty(0) || empty(i)) {
        if (stackFault(false)) { stWrite(dst, INDEF_SE, INDEF_M); if (op == 0xde) pop(); }
        return;
      }
      xBegin(cw());
      if (op == 0xd8) arith(k, stSE(0), stM(0), stSE(i), stM(i));
      else {
        // DC/DE: ST(i) <- ST(i) op ST(0); E0: ST(0)-ST(i) ... as the SDM's FSUBR/FSUB ST(i),ST(0)
        const kk = k == 4 ? 5 : k == 5 ? 4 : k == 6 ? 7 : k == 7 ? 6 : k;
        arith(kk, stSE(i), stM(i), stSE(0), stM(0));
      }
      clearC1();
      if (done(false)) { stRes(dst); if (op == 0xde) pop(); }
      return;
    }
    case 0xd9: return regD9(k, i, modrm);
    case 0xda: case 0xdb: {
      if (k <= 3) { // FCMOVcc
        const f = getFlags();
        let cond: bool;
        if (k == 0) cond = (f & F_CF) != 0;
        else if (k == 1) cond = (f & F_ZF) != 0;
        else if (k == 2) cond = (f & (F_CF | F_ZF)) != 0;
        else cond = (f & F_PF) != 0;
        if (op == 0xdb) cond = !cond;
        if (empty(0) || empty(i)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
        if (cond) stWrite(0, stSE(i), stM(i));
        return;
      }
      if (op == 0xda && k == 5 && i == 1) { // FUCOMPP
        xBegin(cw());
        let ok: bool;
        if (empty(0) || empty(1)) ok = compareEmpty(false);
        else ok = compare(stSE(1), stM(1), true, false);
        if (ok) { pop(); pop(); }
        return;
      }
      if (op == 0xdb && (k == 5 || k == 6)) { // FUCOMI FCOMI
        xBegin(cw());
        if (empty(0) || empty(i)) compareEmpty(true);
        else compare(stSE(i), stM(i), k == 5, true);
        return;
      }
      break;
    }
    case 0xdd: {
      if (k == 0) { clearC1(); setTag(i, false); return; } // FFREE
      if (k == 1) { fxch(i); return; } // FXCH4 alias
      if (k == 2 || k == 3) { fstReg(i, k == 3); return; } // FST FSTP ST(i)
      if (k == 4 || k == 5) { // FUCOM FUCOMP
        xBegin(cw());
        let ok: bool;
        if (empty(0) || empty(i)) ok = compareEmpty(false);
        else ok = compare(stSE(i), stM(i), true, false);
        if (ok && k == 5) pop();
        return;
      }
      break;
    }
    case 0xdf: {
      if (k == 0) { clearC1(); setTag(i, false); pop(); return; } // FFREEP
      if (k == 1) { fxch(i); return; } // FXCH7 alias
      if (k == 2 || k == 3) { fstReg(i, true); return; } // FSTP8 FSTP9 aliases
      if (k == 5 || k == 6) { // FUCOMIP FCOMIP
        xBegin(cw());
        let ok: bool;
        if (empty(0) || empty(i)) ok = compareEmpty(true);
        else ok = compare(stSE(i), stM(i), k == 5, true);
        if (ok) pop();
        return;
      }
      break;
    }
    default: break;
  }
  raise(6, NO_ERR);
}

function fxch(i: i32): void {
  clearC1();
  if (empty(0) || empty(i)) {
    if (!stackFault(false)) return;
    const e0 = empty(0), ei = empty(i);
    const aSE = e0 ? INDEF_SE : stSE(0), aM = e0 ? INDEF_M : stM(0);
    const bSE = ei ? INDEF_SE : stSE(i), bM = ei ? INDEF_M : stM(i);
    stWrite(0, bSE, bM); stWrite(i, aSE, aM);
    return;
  }
  const aSE = stSE(0), aM = stM(0);
  stWrite(0, stSE(i), stM(i));
  stWrite(i, aSE, aM);
}

function fstReg(i: i32, popIt: bool): void {
  clearC1();
  if (empty(0)) {
    if (!stackFault(false)) return;
    stWrite(i, INDEF_SE, INDEF_M);
    if (popIt) pop();
    return;
  }
  stWrite(i, stSE(0), stM(0));
  if (popIt) pop();
}

// Load-constant values rounded to nearest; `up`: round-up adjustment direction for the other modes
function fldConst(se: u32, m: u64, adjDown: bool, adjUp: bool): void {
  const rc = rcMode();
  let mm = m;
  if (adjDown && (rc == 1 || rc == 3)) mm--;
  if (adjUp && rc == 2) mm++;
  clearC1();
  pushChecked(se, mm);
}

function regD9(k: i32, i: i32, modrm: i32): void {
  xBegin(cw());
  if (k == 0) { // FLD ST(i)
    clearC1();
    if (empty(i)) { if (stackFault(false)) { rotPush(); stWrite(0, INDEF_SE, INDEF_M); } return; }
    pushChecked(stSE(i), stM(i));
    return;
  }
  if (k == 1) { fxch(i); return; }
  if (k == 2) { if (i == 0) return; raise(6, NO_ERR); return; } // FNOP
  if (k == 3) { fstReg(i, true); return; } // FSTP1 alias
  switch (modrm) {
    case 0xe0: case 0xe1: // FCHS FABS
      clearC1();
      if (empty(0)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
      stWrite(0, modrm == 0xe0 ? stSE(0) ^ 0x8000 : stSE(0) & 0x7fff, stM(0));
      return;
    case 0xe4: // FTST
      if (empty(0)) { compareEmpty(false); return; }
      compare(0, 0, false, false);
      return;
    case 0xe5: fxam(); return;
    case 0xe8: fldConst(0x3fff, 0x8000000000000000, false, false); return; // FLD1
    case 0xe9: fldConst(0x4000, 0xd49a784bcd1b8afe, false, true); return; // FLDL2T
    case 0xea: fldConst(0x3fff, 0xb8aa3b295c17f0bc, true, false); return; // FLDL2E
    case 0xeb: fldConst(0x4000, 0xc90fdaa22168c235, true, false); return; // FLDPI
    case 0xec: fldConst(0x3ffd, 0x9a209a84fbcff799, true, false); return; // FLDLG2
    case 0xed: fldConst(0x3ffe, 0xb17217f7d1cf79ac, true, false); return; // FLDLN2
    case 0xee: fldConst(0, 0, false, false); return; // FLDZ
    case 0xf6: clearC1(); setTop(fpTop() - 1); rotTopOnly(true); return; // FDECSTP
    case 0xf7: clearC1(); setTop(fpTop() + 1); rotTopOnly(false); return; // FINCSTP
    case 0xfa: // FSQRT
      clearC1();
      if (empty(0)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
      fsqrt80(stSE(0), stM(0), pcBits());
      if (done(false)) stRes(0);
      return;
    case 0xfc: // FRNDINT
      clearC1();
      if (empty(0)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
      frndint80(stSE(0), stM(0));
      if (done(false)) stRes(0);
      return;
    case 0xfd: // FSCALE
      clearC1();
      if (empty(0) || empty(1)) { if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M); return; }
      fscale80(stSE(0), stM(0), stSE(1), stM(1));
      if (done(false)) stRes(0);
      return;
    case 0xf4: { // FXTRACT
      clearC1();
      if (empty(0)) {
        if (stackFault(false)) { stWrite(0, INDEF_SE, INDEF_M); rotPush(); stWrite(0, INDEF_SE, INDEF_M); }
        return;
      }
      if (!empty(7)) {
        if (stackFault(true)) { stWrite(0, INDEF_SE, INDEF_M); rotPush(); stWrite(0, INDEF_SE, INDEF_M); } return;
      }
      fxtract80(stSE(0), stM(0));
      if (done(false)) { stRes(0); rotPush(); stWrite(0, xtSE, xtM); }
      return;
    }
    case 0xf5: case 0xf8: { // FPREM1 FPREM
      if (empty(0) || empty(1)) {
        clearC1();
        if (stackFault(false)) stWrite(0, INDEF_SE, INDEF_M);
        setSw(sw() & ~(C1 | C2));
        return;
      }
      const nan = isNaNc(cls(stSE(0), stM(0))) || isNaNc(cls(stSE(1), stM(1)));
      fprem80(stSE(0), stM(0), stSE(1), stM(1), modrm == 0xf5);
      const q = premQ, part = premPartial;
      clearC1();
      if (!done(false)) { setSw(sw() & ~(C1 | C2)); return; }
      stRes(0);
      if (nan || (xf & X_IE) != 0) setSw(sw() & ~(C1 | C2));
      else if (part) setSw((sw() & ~(C0 | C1 | C3)) | C2);
      else setCC(((q & 4) != 0 ? C0 : 0) | ((q & 2) != 0 ? C3 : 0) | ((q & 1) != 0 ? C1 : 0));
      return;
    }
    case 0xf0: case 0xf1: case 0xf2: case 0xf3: case 0xf9: case 0xfb: case 0xfe: case 0xff:
      transcendental(modrm);
      return;
    default: break;
  }
  raise(6, NO_ERR);
}

// FDECSTP/FINCSTP: TOP was changed; move the slots so slot i is still ST(i).
function rotTopOnly(dec: bool): void {
  if (dec) {
    memory.copy(TMP, FX + 32 + 7 * 16, 16);
    memory.copy(FX + 48, FX + 32, 7 * 16);
    memory.copy(FX + 32, TMP, 16);
  } else {
    memory.copy(TMP, FX + 32, 16);
    memory.copy(FX + 32, FX + 48, 7 * 16);
    memory.copy(FX + 32 + 7 * 16, TMP, 16);
  }
}

// F2XM1 FYL2X FPTAN FPATAN FYL2XP1 FSINCOS FSIN FCOS
function transcendental(modrm: i32): void {
  const two = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf9; // ST(1) <- f(ST(1), ST(0)), pop
  const pushes = modrm == 0xf2 || modrm == 0xfb;
  clearC1();
  if (empty(0) || (two && empty(1))) {
    if (stackFault(false)) {
      if (two) { stWrite(1, INDEF_SE, INDEF_M); pop(); }
      else {
        stWrite(0, INDEF_SE, INDEF_M);
        if (pushes) { rotPush(); stWrite(0, INDEF_SE, INDEF_M); }
      }
    }
    return;
  }
  if (pushes && !empty(7)) {
    if (stackFault(true)) { stWrite(0, INDEF_SE, INDEF_M); rotPush(); stWrite(0, INDEF_SE, INDEF_M); }
    return;
  }
  const r = ftrans(modrm, stSE(0), stM(0), stSE(1), stM(1));
  // r: 0 = result oSE/oM (and the second in ftSE2/ftM2 for FPTAN/FSINCOS), 1 = out of range (C2=1, unchanged)
  if (r == 1) { setSw(sw() | C2); return; }
  if (modrm >= 0xf2 && modrm != 0xf3 && modrm != 0xf9) setSw(sw() & ~C2);
  if (!done(false)) return;
  if (two) { stRes(1); pop(); return; }
  stRes(0);
  if (pushes) { rotPush(); stWrite(0, ft2SE, ft2M); }
}
import { ft2SE, ft2M } from "./ftrans";
