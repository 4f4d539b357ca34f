// x87 double-extended (80-bit) arithmetic done in integers: a 64-bit significand with an explicit
// integer bit and a 15-bit exponent (bias 16383). Rounding to the precision-control width (24, 53 or
// 64 bits; the exponent range stays 15 bits) by the four rounding modes; the x87 exception flags IE DE
// ZE OE UE PE; masked responses (indefinite QNaN, infinities, denormals) and the unmasked responses of
// overflow and underflow to a register (the exponent biased by -/+ 24576). Tininess is detected before
// rounding, as the x87 does. Operand classes of the 80387 and later: unnormals, pseudo-NaNs and
// pseudo-infinities are unsupported (invalid operation); pseudo-denormals are read as denormals.
//
// Values are (se, m): se = sign << 15 | biased exponent, m = significand. xBegin(FCW) before an
// instruction; results land in oSE/oM, flags in xf (FSW bit layout, X_SF = stack fault), xUp says
// whether the last rounding increased the magnitude (FSW.C1).
import { mul64, mulHi, udiv128, divRem } from "./alu";

export const X_IE: u32 = 1; export const X_DE: u32 = 2; export const X_ZE: u32 = 4;
export const X_OE: u32 = 8; export const X_UE: u32 = 16; export const X_PE: u32 = 32; export const X_SF: u32 = 64;

export let xf: u32 = 0;
export let xUp: bool = false;
export let xCW: u32 = 0x37f;
export let oSE: u32 = 0;
export let oM: u64 = 0;

// xMemDen: the memory operand of the operation was a denormal binary32/64 (DE as for a denormal operand)
export let xMemDen = false;
export function xBegin(cw: u32): void { xf = 0; xUp = false; xCW = cw; xMemDen = false; }
export function xSetMemDen(v: bool): void { xMemDen = v; }
@inline function anyDen(ca: i32, cb: i32): bool { return ca == C_DEN || cb == C_DEN || xMemDen; }
export function xRaise(f: u32): void { xf |= f; }
export function xDrop(f: u32): void { xf &= ~f; }
@inline export function rcMode(): i32 { return ((xCW >> 10) & 3) as i32; } // 0 nearest 1 down 2 up 3 zero
// Precision-control width; PC=01 (reserved) behaves as 64 bits.
export function pcBits(): i32 { const p = (xCW >> 8) & 3; return p == 0 ? 24 : p == 2 ? 53 : 64; }

@inline export function res(se: u32, m: u64): void { oSE = se; oM = m; }
export const INDEF_SE: u32 = 0xffff;
export const INDEF_M: u64 = 0xc000000000000000;
export function indefinite(): void { xf |= X_IE; res(INDEF_SE, INDEF_M); }

// ---- classes ----
export const C_ZERO = 0; export const C_NORM = 1; export const C_DEN = 2; export const C_INF = 3;
export const C_QNAN = 4; export const C_SNAN = 5; export const C_UNSUP = 6;
export function cls(se: u32, m: u64): i32 {
  const e = se & 0x7fff;
  if (e == 0) return m == 0 ? C_ZERO : C_DEN;
  if ((m >> 63) == 0) return C_UNSUP;
  if (e == 0x7fff) {
    if ((m << 1) == 0) return C_INF;
    return (m & 0x4000000000000000) != 0 ? C_QNAN : C_SNAN;
  }
  return C_NORM;
}
@inline export function isNaNc(c: i32): bool { return c == C_QNAN || c == C_SNAN; }

// A finite non-zero operand as uSig (leading 1 at bit 63) * 2^(uE - 16383 - 63); uE may be <= 0.
export let uE: i32 = 0;
export let uSig: u64 = 0;
export function unpack(se: u32, m: u64): void {
  let e = (se & 0x7fff) as i32;
  if (e == 0) e = 1;
  const n = clz<u64>(m) as i32;
  uSig = m << (n as u64);
  uE = e - n;
}

// NaN result of an operation on two operands at least one of which is a NaN (SDM table 4-7): an SNaN
// raises IE; a QNaN beats an SNaN; two of the same kind: the larger significand (then the positive).
export function nan2(aSE: u32, aM: u64, bSE: u32, bM: u64): void {
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  if (ca == C_SNAN || cb == C_SNAN) xf |= X_IE;
  const qa = aM | 0xc000000000000000, qb = bM | 0xc000000000000000;
  let pickA: bool;
  if (!isNaNc(cb)) pickA = true;
  else if (!isNaNc(ca)) pickA = false;
  else if (ca != cb) pickA = ca == C_QNAN;
  else if (qa != qb) pickA = qa > qb;
  else pickA = (aSE & 0x8000) == 0 || (bSE & 0x8000) != 0;
  if (pickA) res(aSE, qa); else res(bSE, qb);
}
export function nan1(se: u32, m: u64): void {
  if (cls(se, m) == C_SNAN) xf |= X_IE;
  res(se, m | 0xc000000000000000);
}

// ---- 128-bit helpers ----
let jh: u64 = 0, jl: u64 = 0;
// (h, l) >> n with the bits shifted out ORed into bit 0.
function shr128j(h: u64, l: u64, n: i32): void {
  if (n <= 0) { jh = h; jl = l; return; }
  if (n < 64) {
    jl = (h << ((64 - n) as u64)) | (l >> (n as u64)) | ((l << ((64 - n) as u64)) != 0 ? 1 : 0);
    jh = h >> (n as u64);
  } else if (n == 64) { jl = h | (l != 0 ? 1 : 0); jh = 0; }
  else if (n < 128) { jl = (h >> ((n - 64) as u64)) | (((h << ((128 - n) as u64)) | l) != 0 ? 1 : 0); jh = 0; }
  else { jl = (h | l) != 0 ? 1 : 0; jh = 0; }
}

// ---- rounding ----
// Round (s0:s1) * 2^(e - 16383 - 63) (s0 normalized: bit 63 set) to `prec` bits by the current mode
// and pack it into oSE/oM with the exception flags; unmasked OE/UE give the biased result.
export function roundPack(sign: u32, e: i32, s0: u64, s1: u64, prec: i32): void {
  const rc = rcMode();
  const sb = sign << 15;
  if (s0 == 0) { res(sb, 0); return; }
  if (e <= 0) {
    if ((xCW & X_UE) == 0) { // unmasked underflow: biased result, no denormalization
      xf |= X_UE;
      e += 0x6000;
      if (e <= 0) { xf |= X_PE; xUp = false; res(sb, 0); return; } // beyond even that (FSCALE): a zero, as measured
    } else {
      shr128j(s0, s1, 1 - e);
      const inx = rnd(jh, jl, prec, sign, rc);
      if (inx) xf |= X_UE | X_PE;
      if ((rS >> 63) != 0) res(sb | 1, rS); // rounded up to the smallest normal
      else res(sb, rS);
      if (rCarry) res(sb | 1, 0x8000000000000000);
      return;
    }
  }
  let inx = rnd(s0, s1, prec, sign, rc);
  if (rCarry) { e++; rS = 0x8000000000000000; }
  if (e >= 0x7fff) {
    if ((xCW & X_OE) == 0 && e - 0x6000 < 0x7fff) { // unmasked overflow: biased result
      xf |= X_OE;
      e -= 0x6000;
    } else { // masked: by the rounding mode; beyond even the biased range (FSCALE): infinity, as measured
      xf |= X_OE | X_PE;
      const toInf = (xCW & X_OE) == 0 || rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
      if (toInf) { xUp = true; res(sb | 0x7fff, 0x8000000000000000); }
      else {
        xUp = false; res(sb | 0x7ffe, prec == 64 ? 0xffffffffffffffff : (0xffffffffffffffff << ((64 - prec) as u64)));
      }
      return;
    }
  }
  if (inx) xf |= X_PE;
  res(sb | (e as u32), rS);
}

let rS: u64 = 0;
let rCarry = false;
// Round (s0:s1) to `prec` bits of s0 (the bits below and s1 are discarded): rS, rCarry (the
// significand overflowed: rS is then 0), xUp (magnitude increased); returns inexact.
function rnd(s0: u64, s1: u64, prec: i32, sign: u32, rc: i32): bool {
  const k = 64 - prec;
  let rb: u64, half: u64, keep: u64, lsb: u64;
  if (k == 0) { rb = s1; half = 0x8000000000000000; keep = s0; lsb = s0 & 1; }
  else {
    const mask = ((1 as u64) << (k as u64)) - 1;
    rb = (s0 & mask) | (s1 != 0 ? 1 : 0);
    half = (1 as u64) << ((k - 1) as u64);
    keep = s0 & ~mask;
    lsb = (s0 >> (k as u64)) & 1;
  }
  rCarry = false;
  xUp = false;
  if (rb == 0) { rS = keep; return false; }
  let inc = false;
  if (rc == 0) inc = rb > half || (rb == half && lsb != 0);
  else if (rc == 1) inc = sign != 0;
  else if (rc == 2) inc = sign == 0;
  if (inc) {
    const r = keep + ((1 as u64) << (k as u64));
    if (r == 0) rCarry = true;
    rS = r;
    xUp = true;
  } else rS = keep;
  return true;
}

// Normalize (s0:s1) (not both zero) and round.
export function normRoundPack(sign: u32, e: i32, s0: u64, s1: u64, prec: i32): void {
  if (s0 == 0) { s0 = s1; s1 = 0; e -= 64; }
  const n = clz<u64>(s0) as i32;
  if (n != 0) { s0 = (s0 << (n as u64)) | (s1 >> ((64 - n) as u64)); s1 <<= n as u64; e -= n; }
  roundPack(sign, e, s0, s1, prec);
}

// ---- arithmetic ----
// Operands: NaNs and unsupported formats; true when the result is already set.
function special2(aSE: u32, aM: u64, bSE: u32, bM: u64): bool {
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  if (ca == C_UNSUP || cb == C_UNSUP) { indefinite(); return true; }
  if (isNaNc(ca) || isNaNc(cb)) { nan2(aSE, aM, bSE, bM); return true; }
  return false;
}

export function fadd80(aSE: u32, aM: u64, bSE: u32, bM: u64, sub: bool, prec: i32): void {
  if (special2(aSE, aM, bSE, bM)) return;
  if (sub) bSE ^= 0x8000;
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  const as = aSE >> 15, bs = bSE >> 15;
  if (ca == C_INF || cb == C_INF) {
    if (ca == C_INF && cb == C_INF && as != bs) { indefinite(); return; }
    if (anyDen(ca, cb)) xf |= X_DE;
    if (ca == C_INF) res(aSE, aM); else res(bSE, bM);
    return;
  }
  if (anyDen(ca, cb)) xf |= X_DE;
  if (ca == C_ZERO && cb == C_ZERO) { res(as == bs ? aSE & 0x8000 : (rcMode() == 1 ? 0x8000 : 0), 0); return; }
  if (ca == C_ZERO) { unpack(bSE, bM); roundPack(bs, uE, uSig, 0, prec); return; }
  if (cb == C_ZERO) { unpack(aSE, aM); roundPack(as, uE, uSig, 0, prec); return; }
  unpack(aSE, aM); let ea = uE, ma = uSig;
  unpack(bSE, bM); let eb = uE, mb = uSig;
  let sign = as;
  if (as == bs) {
    if (ea < eb) { const t = ea; ea = eb; eb = t; const u = ma; ma = mb; mb = u; }
    shr128j(mb, 0, ea - eb);
    let s0 = ma + jh, s1 = jl;
    if (s0 < ma) { // carry out
      s1 = (s1 >> 1) | (s1 & 1) | (s0 << 63);
      s0 = (s0 >> 1) | 0x8000000000000000;
      ea++;
    }
    roundPack(sign, ea, s0, s1, prec);
    return;
  }
  if (ea < eb || (ea == eb && ma < mb)) {
    const t = ea; ea = eb; eb = t; const u = ma; ma = mb; mb = u; sign = bs;
  }
  if (ea == eb && ma == mb) { res(rcMode() == 1 ? 0x8000 : 0, 0); return; }
  shr128j(mb, 0, ea - eb);
  const s1 = (0 as u64) - jl;
  const s0 = ma - jh - (jl != 0 ? 1 : 0);
  normRoundPack(sign, ea, s0, s1, prec);
}

export function fmul80(aSE: u32, aM: u64, bSE: u32, bM: u64, prec: i32): void {
  if (special2(aSE, aM, bSE, bM)) return;
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  const sign = (aSE ^ bSE) >> 15;
  if (ca == C_INF || cb == C_INF) {
    if (ca == C_ZERO || cb == C_ZERO) { indefinite(); return; }
    if (anyDen(ca, cb)) xf |= X_DE;
    res((sign << 15) | 0x7fff, 0x8000000000000000);
    return;
  }
  if (anyDen(ca, cb)) xf |= X_DE;
  if (ca == C_ZERO || cb == C_ZERO) { res(sign << 15, 0); return; }
  unpack(aSE, aM); const ea = uE, ma = uSig;
  unpack(bSE, bM);
  const lo = mul64(ma, uSig), hi = mulHi;
  let e = ea + uE - 16383;
  if ((hi >> 63) != 0) { roundPack(sign, e + 1, hi, lo, prec); return; }
  roundPack(sign, e, (hi << 1) | (lo >> 63), lo << 1, prec);
}

export function fdiv80(aSE: u32, aM: u64, bSE: u32, bM: u64, prec: i32): void {
  if (special2(aSE, aM, bSE, bM)) return;
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  const sign = (aSE ^ bSE) >> 15;
  if (ca == C_INF) {
    if (cb == C_INF) { indefinite(); return; }
    if (cb == C_DEN || xMemDen) xf |= X_DE;
    res((sign << 15) | 0x7fff, 0x8000000000000000);
    return;
  }
  if (cb == C_INF) { if (ca == C_DEN || xMemDen) xf |= X_DE; res(sign << 15, 0); return; }
  if (cb == C_ZERO) {
    if (ca == C_ZERO) { indefinite(); return; }
    xf |= X_ZE; // (a denormal dividend raises no DE here)
    res((sign << 15) | 0x7fff, 0x8000000000000000);
    return;
  }
  if (anyDen(ca, cb)) xf |= X_DE;
  if (ca == C_ZERO) { res(sign << 15, 0); return; }
  unpack(aSE, aM); const ea = uE, ma = uSig;
  unpack(bSE, bM); const eb = uE, mb = uSig;
  let e = ea - eb + 16383;
  let q0: u64;
  if (ma >= mb) q0 = udiv128(ma >> 1, ma << 63, mb);
  else { q0 = udiv128(ma, 0, mb); e--; }
  const q1 = udiv128(divRem, 0, mb);
  roundPack(sign, e, q0, q1 | (divRem != 0 ? 1 : 0), prec);
}

// floor(sqrt(nh:nl)) (64 bits) and whether the remainder is > the root (round bit), != 0 (sticky).
let sqRoundUp = false, sqSticky = false;
function isqrt128(nh: u64, nl: u64): u64 {
  let rh: u64 = 0, rl: u64 = 0; // remainder
  let r: u64 = 0;
  for (let i = 0; i < 64; i++) {
    rh = (rh << 2) | (rl >> 62); rl = (rl << 2) | (nh >> 62);
    nh = (nh << 2) | (nl >> 62); nl <<= 2;
    const th = r >> 62, tl = (r << 2) | 1; // 4r + 1
    if (rh > th || (rh == th && rl >= tl)) {
      const b = rl < tl ? 1 : 0;
      rl -= tl; rh = rh - th - (b as u64);
      r = (r << 1) | 1;
    } else r <<= 1;
  }
  sqSticky = (rh | rl) != 0;
  sqRoundUp = rh != 0 || rl > r;
  return r;
}

export function fsqrt80(aSE: u32, aM: u64, prec: i32): void {
  const c = cls(aSE, aM);
  if (c == C_UNSUP) { indefinite(); return; }
  if (isNaNc(c)) { nan1(aSE, aM); return; }
  if (c == C_ZERO) { res(aSE, aM); return; }
  if ((aSE & 0x8000) != 0) { indefinite(); return; }
  if (c == C_INF) { res(aSE, aM); return; }
  if (c == C_DEN) xf |= X_DE;
  unpack(aSE, aM);
  const E = uE - 16383;
  let r: u64, re: i32;
  if ((E & 1) == 0) { r = isqrt128(uSig >> 1, uSig << 63); re = E >> 1; }
  else { r = isqrt128(uSig, 0); re = (E - 1) >> 1; }
  const s1: u64 = sqRoundUp ? 0xc000000000000000 : (sqSticky ? 0x4000000000000000 : 0);
  roundPack(0, re + 16383, r, s1, prec);
}

// ---- comparison: 0 less, 1 equal, 2 greater, 3 unordered; `quiet`: QNaNs do not raise IE ----
export function fcmp80(aSE: u32, aM: u64, bSE: u32, bM: u64, quiet: bool): i32 {
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  if (ca == C_UNSUP || cb == C_UNSUP) { xf |= X_IE; return 3; }
  if (isNaNc(ca) || isNaNc(cb)) {
    if (!quiet || ca == C_SNAN || cb == C_SNAN) xf |= X_IE;
    return 3;
  }
  if (anyDen(ca, cb)) xf |= X_DE;
  const za = ca == C_ZERO, zb = cb == C_ZERO;
  if (za && zb) return 1;
  const as = za ? 0 : aSE >> 15, bs = zb ? 0 : bSE >> 15;
  if (as != bs) return as != 0 ? 0 : 2;
  // same sign, at least one non-zero: compare magnitudes (normalized)
  let ea: i32 = -100000, eb: i32 = -100000, ma: u64 = 0, mb: u64 = 0;
  if (!za) { unpack(aSE, aM); ea = uE; ma = uSig; }
  if (!zb) { unpack(bSE, bM); eb = uE; mb = uSig; }
  if (ca == C_INF) { ea = 100000; }
  if (cb == C_INF) { eb = 100000; }
  let c: i32;
  if (ea == eb && ma == mb) return 1;
  c = (ea > eb || (ea == eb && ma > mb)) ? 2 : 0;
  return as != 0 ? 2 - c : c;
}

// ---- conversions ----
// binary32 / binary64 (bits) -> extended: exact; denormal -> DE; an SNaN is quieted with IE when
// `load` (FLD), kept as an SNaN for the arithmetic that uses it otherwise.
export function fromFloat(v: u64, dbl: bool, load: bool): void {
  const fbits = dbl ? 52 : 23;
  const emaxf: u32 = dbl ? 0x7ff : 0xff;
  const biasf: i32 = dbl ? 1023 : 127;
  const sign = ((v >> (dbl ? 63 : 31)) & 1) as u32;
  const e = ((v >> (fbits as u64)) as u32) & emaxf;
  const f = v & (((1 as u64) << (fbits as u64)) - 1);
  const sb = sign << 15;
  if (e == emaxf) {
    if (f == 0) { res(sb | 0x7fff, 0x8000000000000000); return; }
    const m = 0x8000000000000000 | (f << ((63 - fbits) as u64));
    if (!load) { res(sb | 0x7fff, m); return; }
    if ((m & 0x4000000000000000) == 0) xf |= X_IE;
    res(sb | 0x7fff, m | 0x4000000000000000);
    return;
  }
  if (e == 0) {
    if (f == 0) { res(sb, 0); return; }
    if (load) xf |= X_DE; else xMemDen = true;
    const n = clz<u64>(f) as i32;
    res(sb | (((1 - biasf) + 16383 - (n - (63 - fbits))) as u32), f << (n as u64));
    return;
  }
  res(sb | ((e as i32 - biasf + 16383) as u32), 0x8000000000000000 | (f << ((63 - fbits) as u64)));
}

// Extended -> binary32/64 bits, rounded by the current mode (not precision control). Flags in xf.
export function toFloat(se: u32, m: u64, dbl: bool): u64 {
  const c = cls(se, m);
  const fbits = dbl ? 52 : 23;
  const biasf: i32 = dbl ? 1023 : 127;
  const emaxf: u64 = dbl ? 0x7ff : 0xff;
  const sign = (se >> 15) as u64;
  const sb = sign << (dbl ? 63 : 31);
  const inf = sb | (emaxf << (fbits as u64));
  if (c == C_UNSUP) { xf |= X_IE; return dbl ? 0xfff8000000000000 : 0xffc00000; }
  if (isNaNc(c)) {
    if (c == C_SNAN) xf |= X_IE;
    return inf | ((m >> ((63 - fbits) as u64)) & (((1 as u64) << (fbits as u64)) - 1))
      | ((1 as u64) << ((fbits - 1) as u64));
  }
  if (c == C_INF) return inf;
  if (c == C_ZERO) return sb; // (a denormal source raises no DE here)
  unpack(se, m);
  const rc = rcMode();
  let e = uE - 16383 + biasf; // biased target exponent
  const p = fbits + 1;
  if (e <= 0) {
    shr128j(uSig, 0, 1 - e);
    const inx = rnd(jh, jl, p, sign as u32, rc);
    if (inx) xf |= X_UE | X_PE;
    else if ((xCW & X_UE) == 0) xf |= X_UE; // unmasked: tiny is enough
    if (rCarry) return sb | ((1 as u64) << (fbits as u64));
    return sb | (rS >> ((63 - fbits) as u64)); // bit 63 set: the smallest normal (exponent 1)
  }
  const inx = rnd(uSig, 0, p, sign as u32, rc);
  let sig = rS;
  if (rCarry) { e++; sig = 0x8000000000000000; }
  if ((e as u64) >= emaxf) {
    xf |= X_OE | X_PE;
    const toInf = rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
    xUp = toInf;
    return toInf ? inf : inf - 1;
  }
  if (inx) xf |= X_PE;
  return sb | ((e as u64) << (fbits as u64)) | ((sig >> ((63 - fbits) as u64)) & (((1 as u64) << (fbits as u64)) - 1));
}

// Signed integer -> extended (exact).
export function fromInt(v: i64): void {
  if (v == 0) { res(0, 0); return; }
  const sign: u32 = v < 0 ? 0x8000 : 0;
  const a: u64 = v < 0 ? (0 as u64) - (v as u64) : v as u64;
  const n = clz<u64>(a) as i32;
  res(sign | ((16383 + 63 - n) as u32), a << (n as u64));
}

// Round to an integer value by `rc` (0-3): the integer magnitude in riMag (valid when riBig is
// false: |value| < 2^64), xUp and the inexact flag set. Finite non-zero operands only.
export let riMag: u64 = 0;
export let riBig = false;
export function roundInt(se: u32, m: u64, rc: i32): void {
  unpack(se, m);
  const E = uE - 16383; // value = uSig * 2^(E - 63)
  const sign = se >> 15;
  riBig = false;
  xUp = false;
  if (E >= 64) { riBig = true; return; }
  if (E >= 63) { riMag = uSig; return; }
  const sh = 63 - E; // fraction bits, >= 1
  let ip: u64, rb: u64, half: u64, sticky = false;
  if (sh >= 65) { ip = 0; rb = 0; half = 1; sticky = true; } // below one half
  else if (sh == 64) { ip = 0; rb = uSig; half = 0x8000000000000000; }
  else {
    ip = uSig >> (sh as u64); rb = uSig & (((1 as u64) << (sh as u64)) - 1); half = (1 as u64) << ((sh - 1) as u64);
  }
  riMag = ip;
  if (rb == 0 && !sticky) return;
  xf |= X_PE;
  let inc = false;
  if (rc == 0) inc = !sticky && (rb > half || (rb == half && (ip & 1) != 0));
  else if (rc == 1) inc = sign != 0;
  else if (rc == 2) inc = sign == 0;
  if (inc) { riMag = ip + 1; xUp = true; if (riMag == 0) riBig = true; }
}

// FRNDINT: round to an integral value by the rounding mode.
export function frndint80(se: u32, m: u64): void {
  const c = cls(se, m);
  if (c == C_UNSUP) { indefinite(); return; }
  if (isNaNc(c)) { nan1(se, m); return; }
  if (c == C_ZERO || c == C_INF) { res(se, m); return; }
  if (c == C_DEN) xf |= X_DE;
  if ((se & 0x7fff) >= 16383 + 63) { res(se, m); return; }
  roundInt(se, m, rcMode());
  const sb = se & 0x8000;
  if (riBig) { res(sb | (16383 + 64), 0x8000000000000000); return; }
  if (riMag == 0) { res(sb, 0); return; }
  const n = clz<u64>(riMag) as i32;
  res(sb | ((16383 + 63 - n) as u32), riMag << (n as u64));
}

// Extended -> signed integer of `bits` (16, 32, 64); out of range/NaN -> IE and the integer
// indefinite (result returned; xf has IE). `trunc`: toward zero (FISTTP).
export function toInt(se: u32, m: u64, bits: i32, trunc: bool): i64 {
  const c = cls(se, m);
  const indef: i64 = (-1 as i64) << ((bits - 1) as i64);
  if (c == C_UNSUP || isNaNc(c) || c == C_INF) { xf |= X_IE; return indef; }
  if (c == C_ZERO) return 0;
  const savedF = xf;
  roundInt(se, m, trunc ? 3 : rcMode());
  const neg = (se & 0x8000) != 0;
  const lim: u64 = (1 as u64) << ((bits - 1) as u64);
  if (riBig || riMag > lim || (riMag == lim && !neg)) { xf = savedF | X_IE; xUp = false; return indef; }
  return neg ? (0 as i64) - (riMag as i64) : riMag as i64;
}

// ---- FPREM / FPREM1 ----
// Partial remainder of a / b: oSE/oM, the quotient's low 3 bits in premQ, premPartial (C2) when the
// exponents differ by 64 or more (reduced by N = 32 + (difference mod 32), as Intel's CPUs do).
export let premQ: u32 = 0;
export let premPartial = false;
export function fprem80(aSE: u32, aM: u64, bSE: u32, bM: u64, ieee: bool): void {
  premQ = 0; premPartial = false;
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  if (ca == C_UNSUP || cb == C_UNSUP) { indefinite(); return; }
  if (isNaNc(ca) || isNaNc(cb)) { nan2(aSE, aM, bSE, bM); return; }
  if (ca == C_INF || cb == C_ZERO) { indefinite(); return; }
  if (anyDen(ca, cb)) xf |= X_DE;
  // x / inf: x itself, a denormal too (DE only, no underflow, a pseudo-denormal re-encoded with exponent 1;
  // measured on an Intel Xeon, docs/X87.md), unlike a denormal x / finite b below (unmasked UE: biased result).
  if (ca == C_ZERO || cb == C_INF) { res((aSE & 0x7fff) == 0 && (aM >> 63) != 0 ? aSE | 1 : aSE, aM); return; }
  unpack(aSE, aM); const ea = uE, A = uSig;
  unpack(bSE, bM); const eb = uE, B = uSig;
  let sign = aSE >> 15;
  const D = ea - eb;
  if (D < 0) {
    if (!ieee || D < -1 || A <= B) { normRoundPack(sign, ea, A, 0, 64); return; }
    // FPREM1, |a| in (|b|/2, |b|): a - b, rounded quotient 1
    premQ = 1;
    const r = (B << 1) - A; // 2B - A < B
    normRoundPack(sign ^ 1, ea, r, 0, 64);
    return;
  }
  const n = D >= 64 ? 32 + (D & 31) : D;
  let r = A, q: u64 = 0;
  if (r >= B) { r -= B; q = 1; }
  for (let i = 0; i < n; i++) {
    const t = r >> 63;
    r <<= 1; q <<= 1;
    if (t != 0 || r >= B) { r -= B; q |= 1; }
  }
  if (D >= 64) {
    premPartial = true;
    if (r == 0) { res(aSE & 0x8000, 0); return; }
    normRoundPack(sign, ea - n, r, 0, 64);
    return;
  }
  if (ieee && (r > B - r || (r == B - r && (q & 1) != 0))) { r = B - r; q++; sign ^= 1; }
  premQ = (q & 7) as u32;
  if (r == 0) { res(aSE & 0x8000, 0); return; }
  normRoundPack(sign, eb, r, 0, 64);
}

// ---- FSCALE: a * 2^trunc(b) ----
export function fscale80(aSE: u32, aM: u64, bSE: u32, bM: u64): void {
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  if (ca == C_UNSUP || cb == C_UNSUP) { indefinite(); return; }
  if (isNaNc(ca) || isNaNc(cb)) { nan2(aSE, aM, bSE, bM); return; }
  const bneg = (bSE & 0x8000) != 0;
  if (cb == C_INF) {
    if (ca == C_DEN) xf |= X_DE;
    if (ca == C_ZERO) { if (!bneg) { indefinite(); return; } res(aSE, aM); return; }
    if (ca == C_INF) { if (bneg) { indefinite(); return; } res(aSE, aM); return; }
    if (bneg) res(aSE & 0x8000, 0); else res((aSE & 0x8000) | 0x7fff, 0x8000000000000000);
    return;
  }
  if (anyDen(ca, cb)) xf |= X_DE;
  if (ca == C_ZERO || ca == C_INF) { res(aSE, aM); return; }
  // b = ±0: a itself, a denormal too (DE only, no underflow, as the SDM's table says and an Intel Xeon does;
  // a pseudo-denormal re-encoded with exponent 1). A non-zero b whose integer part is 0 does round a denormal
  // (unmasked UE: the biased result).
  if (cb == C_ZERO) { res((aSE & 0x7fff) == 0 && (aM >> 63) != 0 ? aSE | 1 : aSE, aM); return; }
  let n: i32 = 0;
  unpack(bSE, bM);
  const E = uE - 16383;
  if (E >= 16) n = 0x10000;
  else if (E >= 0) n = (uSig >> ((63 - E) as u64)) as i32;
  if (bneg) n = -n;
  unpack(aSE, aM);
  roundPack(aSE >> 15, uE + n, uSig, 0, 64);
}

// ---- FXTRACT: exponent in oSE/oM, significand in xtSE/xtM ----
export let xtSE: u32 = 0;
export let xtM: u64 = 0;
export function fxtract80(se: u32, m: u64): void {
  const c = cls(se, m);
  if (c == C_UNSUP) { indefinite(); xtSE = INDEF_SE; xtM = INDEF_M; return; }
  if (isNaNc(c)) { nan1(se, m); xtSE = oSE; xtM = oM; return; }
  if (c == C_ZERO) { xf |= X_ZE; xtSE = se; xtM = m; res(0xffff, 0x8000000000000000); return; }
  if (c == C_INF) { xtSE = se; xtM = m; res(0x7fff, 0x8000000000000000); return; }
  if (c == C_DEN) xf |= X_DE;
  unpack(se, m);
  xtSE = (se & 0x8000) | 16383; xtM = uSig;
  const E = uE - 16383;
  fromInt(E as i64);
}
