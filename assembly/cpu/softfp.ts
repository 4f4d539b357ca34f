// IEEE 754 binary32/binary64 arithmetic done in integers, the way SSE/SSE2 compute it: the four
// MXCSR rounding modes, DAZ (denormal inputs read as zero) and FTZ (tiny results flushed to zero),
// the exception flags IE DE ZE OE UE PE, x86's NaN rules (the first NaN operand wins, quieted; an
// invalid operation gives the negative "real indefinite" QNaN) and tininess detected after rounding.
// Exceptions are always given their masked response here (results are always written); unmasked
// SIMD exceptions (#XM) are not implemented yet.
//
// Values are raw bit patterns in a u64 (binary32 in the low 32 bits); `d` selects binary64.
// fpBegin(mxcsr) before an instruction; fpFlags then holds the flags it raised (OR them into MXCSR).
import { mul64, mulHi, udiv128, divRem } from "./alu";

export const FE_I: u32 = 1; export const FE_D: u32 = 2; export const FE_Z: u32 = 4;
export const FE_O: u32 = 8; export const FE_U: u32 = 16; export const FE_P: u32 = 32;

export let fpFlags: u32 = 0;
let rc: i32 = 0; // 0 nearest, 1 down, 2 up, 3 toward zero
let ftz = false;
let daz = false;

export function fpBegin(mxcsr: u32): void {
  fpFlags = 0;
  rc = ((mxcsr >> 13) & 3) as i32;
  ftz = (mxcsr & 0x8000) != 0;
  daz = (mxcsr & 0x40) != 0;
}

// ---- classification ----
@inline function fb(d: bool): i32 { return d ? 52 : 23; } // fraction bits
@inline function bias(d: bool): i32 { return d ? 1023 : 127; }
@inline function sgnOf(x: u64, d: bool): u64 { return (x >> (d ? 63 : 31)) & 1; }
@inline function expOf(x: u64, d: bool): i32 { return d ? ((x >> 52) & 0x7ff) as i32 : ((x >> 23) & 0xff) as i32; }
@inline function fracOf(x: u64, d: bool): u64 { return x & (((1 as u64) << (fb(d) as u64)) - 1); }
@inline function expMax(d: bool): i32 { return d ? 0x7ff : 0xff; }
@inline function signBitOf(d: bool): u64 { return (1 as u64) << (d ? 63 : 31); }
@inline function absOf(x: u64, d: bool): u64 { return x & (signBitOf(d) - 1); }
@inline function infOf(d: bool): u64 { return d ? 0x7ff0000000000000 : 0x7f800000; }
@inline function qbit(d: bool): u64 { return (1 as u64) << ((fb(d) - 1) as u64); }
@inline export function isNaN_(x: u64, d: bool): bool { return absOf(x, d) > infOf(d); }
@inline export function isSNaN(x: u64, d: bool): bool { return isNaN_(x, d) && (x & qbit(d)) == 0; }
@inline function isInf(x: u64, d: bool): bool { return absOf(x, d) == infOf(d); }
@inline function isZero(x: u64, d: bool): bool { return absOf(x, d) == 0; }
@inline function isDenorm(x: u64, d: bool): bool { return expOf(x, d) == 0 && fracOf(x, d) != 0; }
@inline export function defaultNaN(d: bool): u64 { return d ? 0xfff8000000000000 : 0xffc00000; }
@inline function quiet(x: u64, d: bool): u64 { return x | qbit(d); }

// A denormal source operand: zero under DAZ, else DE (when `flag`).
function inp(x: u64, d: bool, flag: bool): u64 {
  if (!isDenorm(x, d)) return x;
  if (daz) return x & signBitOf(d);
  if (flag) fpFlags |= FE_D;
  return x;
}

// DAZ alone (silent), and DE for denormal operands left (checked after NaN, invalid and
// divide-by-zero, which take priority).
@inline function dz(x: u64, d: bool): u64 { return daz && isDenorm(x, d) ? x & signBitOf(d) : x; }
@inline function den2(a: u64, b: u64, d: bool): void { if (isDenorm(a, d) || isDenorm(b, d)) fpFlags |= FE_D; }

// NaN result of a two-operand operation with at least one NaN operand.
function nan2(a: u64, b: u64, d: bool): u64 {
  if (isSNaN(a, d) || isSNaN(b, d)) fpFlags |= FE_I;
  return isNaN_(a, d) ? quiet(a, d) : quiet(b, d);
}
function invalid(d: bool): u64 { fpFlags |= FE_I; return defaultNaN(d); }

// ---- unpack / round ----
// A finite non-zero value as sig * 2^(uE - 62), sig with its leading 1 at bit 62.
let uE: i32 = 0;
let uSig: u64 = 0;
function unpack(x: u64, d: bool): void {
  const ex = expOf(x, d);
  let m = fracOf(x, d);
  let e: i32;
  if (ex == 0) e = 1 - bias(d);
  else { m |= (1 as u64) << (fb(d) as u64); e = ex - bias(d); }
  const n = (clz<u64>(m) as i32) - 1;
  uSig = m << (n as u64);
  uE = e - (n - (62 - fb(d)));
}

let inexact = false;
// sig >> sh, rounded by the current mode (sign: of the value); sets `inexact`.
function rnd(sig: u64, sh: i32, sign: u64): u64 {
  if (sh <= 0) return sig;
  let m: u64, rem: u64, half: u64;
  if (sh >= 64) { m = 0; rem = sig; half = sh == 64 ? (1 as u64) << 63 : 0xffffffffffffffff; }
  else {
    m = sig >> (sh as u64); rem = sig & (((1 as u64) << (sh as u64)) - 1); half = (1 as u64) << ((sh - 1) as u64);
  }
  if (rem != 0) {
    inexact = true;
    if (rc == 0) { if (rem > half || (rem == half && (m & 1) != 0)) m++; }
    else if (rc == 1) { if (sign != 0) m++; }
    else if (rc == 2) { if (sign == 0) m++; }
  }
  return m;
}

// Round sig * 2^(e - 62) (leading 1 at bit 62, sticky in bit 0) to the format; flags.
function roundPack(sign: u64, e: i32, sig: u64, d: bool): u64 {
  const p = d ? 53 : 24;
  const sh = 63 - p;
  const emin = 1 - bias(d);
  const sb = sign << (d ? 63 : 31);
  if (e < emin) {
    inexact = false;
    const m1 = rnd(sig, sh, sign);
    const tiny = (m1 >> (p as u64)) == 0 || e + 1 < emin; // tininess after rounding
    inexact = false;
    const m = rnd(sig, sh + (emin - e), sign);
    if (tiny && ftz) { fpFlags |= FE_U | FE_P; return sb; }
    if (inexact) { fpFlags |= FE_P; if (tiny) fpFlags |= FE_U; }
    return sb | m; // a carry into bit p-1 gives the smallest normal number
  }
  inexact = false;
  let m = rnd(sig, sh, sign);
  if ((m >> (p as u64)) != 0) { m >>= 1; e++; }
  if (e > bias(d)) {
    fpFlags |= FE_O | FE_P;
    const toInf = rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
    return sb | (toInf ? infOf(d) : infOf(d) - 1);
  }
  if (inexact) fpFlags |= FE_P;
  return sb | ((((e + bias(d) - 1) as u64) << ((p - 1) as u64)) + m);
}

// ---- arithmetic ----
export function fadd(a: u64, b: u64, d: bool, sub: bool): u64 {
  if (isNaN_(a, d) || isNaN_(b, d)) return nan2(a, b, d);
  a = dz(a, d); b = dz(b, d);
  if (sub) b ^= signBitOf(d);
  const sa = sgnOf(a, d), sb = sgnOf(b, d);
  if (isInf(a, d) && isInf(b, d) && sa != sb) return invalid(d);
  den2(a, b, d);
  if (isInf(a, d)) return a;
  if (isInf(b, d)) return b;
  const za = isZero(a, d), zb = isZero(b, d);
  if (za && zb) return sa == sb ? a : (rc == 1 ? signBitOf(d) : 0);
  if (za) { unpack(b, d); return roundPack(sb, uE, uSig, d); }
  if (zb) { unpack(a, d); return roundPack(sa, uE, uSig, d); }
  unpack(a, d); let ea = uE, ma = uSig;
  unpack(b, d); let eb = uE, mb = uSig;
  let s = sa;
  if (eb > ea || (eb == ea && mb > ma)) { // |b| > |a|: swap
    const te = ea; ea = eb; eb = te; const tm = ma; ma = mb; mb = tm; s = sb;
  }
  const diff = ea - eb;
  if (diff >= 63) mb = 1;
  else if (diff > 0) mb = (mb >> (diff as u64)) | ((mb << ((64 - diff) as u64)) != 0 ? 1 : 0);
  let e = ea;
  let r: u64;
  if (sa == sb) {
    r = ma + mb;
    if ((r >> 63) != 0) { r = (r >> 1) | (r & 1); e++; }
  } else {
    r = ma - mb;
    if (r == 0) return rc == 1 ? signBitOf(d) : 0;
    const n = (clz<u64>(r) as i32) - 1;
    r <<= n as u64; e -= n;
  }
  return roundPack(s, e, r, d);
}

export function fmul(a: u64, b: u64, d: bool): u64 {
  if (isNaN_(a, d) || isNaN_(b, d)) return nan2(a, b, d);
  a = dz(a, d); b = dz(b, d);
  const s = sgnOf(a, d) ^ sgnOf(b, d);
  const sbit = s << (d ? 63 : 31);
  if ((isInf(a, d) || isInf(b, d)) && (isZero(a, d) || isZero(b, d))) return invalid(d);
  den2(a, b, d);
  if (isInf(a, d) || isInf(b, d)) return sbit | infOf(d);
  if (isZero(a, d) || isZero(b, d)) return sbit;
  unpack(a, d); const ea = uE, ma = uSig;
  unpack(b, d); const eb = uE, mb = uSig;
  const lo = mul64(ma, mb), hi = mulHi; // product: leading 1 at bit 124 or 125
  let e = ea + eb;
  let r: u64;
  if ((hi >> 61) != 0) { r = (hi << 1) | (lo >> 63) | ((lo << 1) != 0 ? 1 : 0); e++; }
  else r = (hi << 2) | (lo >> 62) | ((lo << 2) != 0 ? 1 : 0);
  return roundPack(s, e, r, d);
}

export function fdiv(a: u64, b: u64, d: bool): u64 {
  if (isNaN_(a, d) || isNaN_(b, d)) return nan2(a, b, d);
  a = dz(a, d); b = dz(b, d);
  const s = sgnOf(a, d) ^ sgnOf(b, d);
  const sbit = s << (d ? 63 : 31);
  if ((isInf(a, d) && isInf(b, d)) || (isZero(a, d) && isZero(b, d))) return invalid(d);
  if (isZero(b, d) && !isInf(a, d)) { fpFlags |= FE_Z; return sbit | infOf(d); }
  den2(a, b, d);
  if (isInf(a, d) || isZero(b, d)) return sbit | infOf(d);
  if (isInf(b, d)) return sbit;
  if (isZero(a, d)) return sbit;
  unpack(a, d); const ea = uE, ma = uSig;
  unpack(b, d); const eb = uE, mb = uSig;
  const q = udiv128(ma >> 1, ma << 63, mb); // ma * 2^63 / mb, in (2^62, 2^64)
  const st: u64 = divRem != 0 ? 1 : 0;
  if ((q >> 63) != 0) return roundPack(s, ea - eb, (q >> 1) | (q & 1) | st, d);
  return roundPack(s, ea - eb - 1, q | st, d);
}

// floor(sqrt(hi:lo)) for hi:lo in [2^125, 2^127); sticky in sqrtInexact.
let sqrtInexact = false;
function isqrt128(hi: u64, lo: u64): u64 {
  const x = (hi as f64) * 18446744073709551616.0 + (lo as f64);
  let r = Math.sqrt(x) as u64;
  if (r != 0 && hi < r) {
    const q = udiv128(hi, lo, r);
    r = (r >> 1) + (q >> 1) + (r & q & 1);
  }
  // Exact correction: r*r <= N < (r+1)*(r+1).
  for (let i = 0; i < 4; i++) {
    const pl = mul64(r, r), ph = mulHi;
    if (ph > hi || (ph == hi && pl > lo)) r--; else break;
  }
  for (let i = 0; i < 4; i++) {
    const r1 = r + 1;
    const pl = mul64(r1, r1), ph = mulHi;
    if (ph < hi || (ph == hi && pl <= lo)) r = r1; else break;
  }
  const pl = mul64(r, r), ph = mulHi;
  sqrtInexact = ph != hi || pl != lo;
  return r;
}

export function fsqrt(a: u64, d: bool): u64 {
  if (isNaN_(a, d)) { if (isSNaN(a, d)) fpFlags |= FE_I; return quiet(a, d); }
  a = inp(a, d, sgnOf(a, d) == 0); // the square root of a negative denormal is invalid, not DE
  if (isZero(a, d)) return a;
  if (sgnOf(a, d) != 0) return invalid(d);
  if (isInf(a, d)) return a;
  unpack(a, d);
  const k = uE - 62; // a = uSig * 2^k
  let r: u64, j: i32;
  if ((k & 1) == 0) { r = isqrt128(uSig, 0); j = (k - 64) >> 1; }
  else { r = isqrt128(uSig >> 1, uSig << 63); j = (k - 63) >> 1; }
  const st: u64 = sqrtInexact ? 1 : 0;
  if ((r >> 63) != 0) return roundPack(0, j + 63, (r >> 1) | (r & 1) | st, d);
  return roundPack(0, j + 62, r | st, d);
}

// Minimum/maximum as MINPS/MAXPS: a NaN in either operand, or two zeros, give the second operand.
export function fminmax(a: u64, b: u64, d: bool, max: bool): u64 {
  a = dz(a, d); b = dz(b, d);
  if (isNaN_(a, d) || isNaN_(b, d)) { fpFlags |= FE_I; return b; }
  den2(a, b, d);
  if (isZero(a, d) && isZero(b, d)) return b;
  const c = cmpOrdered(a, b, d);
  if (max) return c > 0 ? a : b;
  return c < 0 ? a : b;
}

// -1 / 0 / 1 for ordered non-NaN operands (zeros equal).
function cmpOrdered(a: u64, b: u64, d: bool): i32 {
  const ma = absOf(a, d), mb = absOf(b, d);
  if (ma == 0 && mb == 0) return 0;
  const sa = sgnOf(a, d), sb = sgnOf(b, d);
  if (sa != sb) return sa != 0 ? -1 : 1;
  if (ma == mb) return 0;
  const lt = ma < mb;
  return (lt != (sa != 0)) ? -1 : 1;
}

// Compare: 0 less, 1 equal, 2 greater, 3 unordered. IE for SNaN operands, or any NaN if `signalQ`.
export function fcmp(a: u64, b: u64, d: bool, signalQ: bool): i32 {
  if (isNaN_(a, d) || isNaN_(b, d)) {
    if (signalQ || isSNaN(a, d) || isSNaN(b, d)) fpFlags |= FE_I;
    return 3;
  }
  a = inp(a, d, true); b = inp(b, d, true);
  return cmpOrdered(a, b, d) + 1;
}

// ---- conversions ----
// Float to signed integer (32 or 64 bits), rounded by MXCSR or truncated; NaN and out-of-range
// values give the integer indefinite (the sign bit alone) and IE.
export function f2i(x: u64, d: bool, w64: bool, trunc: bool): u64 {
  const indef: u64 = w64 ? 0x8000000000000000 : 0x80000000;
  if (isNaN_(x, d) || isInf(x, d)) { fpFlags |= FE_I; return indef; }
  x = inp(x, d, false);
  if (isZero(x, d)) return 0;
  const sign = sgnOf(x, d);
  unpack(x, d);
  if (uE > 62) { // only -2^63 fits
    if (!(w64 && sign != 0 && uE == 63 && uSig == (1 as u64) << 62)) fpFlags |= FE_I;
    return indef;
  }
  const saved = rc;
  if (trunc) rc = 3;
  inexact = false;
  const m = rnd(uSig, 62 - uE, sign);
  rc = saved;
  const lim: u64 = w64 ? 0x8000000000000000 : 0x80000000; // |result| limit (negative side)
  if (m > lim || (m == lim && sign == 0)) { fpFlags |= FE_I; return indef; }
  if (inexact) fpFlags |= FE_P;
  const v = sign != 0 ? 0 - m : m;
  return w64 ? v : v & 0xffffffff;
}

// Signed integer (the value already sign-extended to 64 bits) to float.
export function i2f(v: i64, d: bool): u64 {
  if (v == 0) return 0;
  const sign: u64 = v < 0 ? 1 : 0;
  const mag: u64 = v < 0 ? (0 - (v as u64)) : v as u64;
  const n = clz<u64>(mag);
  const t = mag << n; // leading 1 at bit 63
  return roundPack(sign, 63 - (n as i32), (t >> 1) | (t & 1), d);
}

// binary32 -> binary64 (exact) and binary64 -> binary32.
export function f2d(x: u64): u64 {
  const s = sgnOf(x, false) << 63;
  if (isNaN_(x, false)) {
    if (isSNaN(x, false)) fpFlags |= FE_I;
    return s | 0x7ff8000000000000 | (fracOf(x, false) << 29);
  }
  x = inp(x, false, true);
  if (isInf(x, false)) return s | infOf(true);
  if (isZero(x, false)) return s;
  unpack(x, false);
  return roundPack(sgnOf(x, false), uE, uSig, true);
}
export function d2f(x: u64): u64 {
  const s = sgnOf(x, true) << 31;
  if (isNaN_(x, true)) {
    if (isSNaN(x, true)) fpFlags |= FE_I;
    return s | 0x7fc00000 | ((fracOf(x, true) >> 29) & 0x3fffff);
  }
  x = inp(x, true, true);
  if (isInf(x, true)) return s | infOf(false);
  if (isZero(x, true)) return s;
  unpack(x, true);
  return roundPack(sgnOf(x, true), uE, uSig, false);
}

// Round to an integral value in the same format (ROUNDPS/PD/SS/SD): `mode` 0 nearest, 1 down, 2 up,
// 3 toward zero; `noP` suppresses the precision flag (imm8 bit 3). An SNaN gives its quieted self and
// IE; DAZ reads a denormal input as zero; no DE.
export function fround(x: u64, d: bool, mode: i32, noP: bool): u64 {
  if (isNaN_(x, d)) { if (isSNaN(x, d)) fpFlags |= FE_I; return quiet(x, d); }
  x = inp(x, d, false);
  if (isInf(x, d) || isZero(x, d)) return x;
  const sign = sgnOf(x, d);
  unpack(x, d);
  if (uE >= fb(d)) return x; // already an integer
  const saved = rc;
  rc = mode;
  inexact = false;
  const m = rnd(uSig, 62 - uE, sign);
  rc = saved;
  const inx = inexact;
  let r: u64;
  if (m == 0) r = sign << (d ? 63 : 31);
  else {
    const n = clz<u64>(m);
    const t = m << n;
    r = roundPack(sign, 63 - (n as i32), t >> 1, d); // exact
  }
  if (inx && !noP) fpFlags |= FE_P;
  return r;
}
