// x87 transcendental instructions (F2XM1 FYL2X FYL2XP1 FPTAN FPATAN FSIN FCOS FSINCOS), in integers:
// the functions are evaluated in a 128-bit-significand working format (series after argument
// reduction, relative error well below 2^-110) and the result rounded once to 64 bits by the rounding
// mode (precision control does not apply, as on the CPU). Results are thus the correctly rounded value
// except in rare near-tie cases; the CPUs are within 1 ulp of it (Intel documents < 1 ulp for these
// instructions on processors since the Pentium), so conformance checks them with a 1-ulp bound
// (docs/X87.md). Arguments of FPTAN/FSIN/FCOS/FSINCOS are reduced by pi/2 rounded to 66 bits,
// 0x1.921FB54442D18469(8), as both vendors' CPUs do (measured on AMD, documented by Intel), and the
// reduced argument is then evaluated accurately; |x| >= 2^63 sets C2 and leaves ST(0) alone.
import { mul64, mulHi } from "./alu";
import {
  xRaise, xDrop, res, oSE, oM, cls, C_ZERO, C_DEN, C_INF, C_UNSUP, C_NORM, isNaNc, nan1, nan2, indefinite, roundPack,
  X_DE, X_ZE, X_PE, X_UE, unpack, uE, uSig, INDEF_SE, INDEF_M,
} from "./fp80";

export let ft2SE: u32 = 0;
export let ft2M: u64 = 0;

// ---- the working format: value = (hi:lo / 2^127) * 2^e, hi bit 63 set; zero: hi = lo = 0 ----
const W: i32 = memory.data(32 * 48, 16) as i32;
@inline function aS(i: i32): u32 { return load<u32>(W + (i << 5)); }
@inline function aE(i: i32): i32 { return load<i32>(W + (i << 5), 4); }
@inline function aH(i: i32): u64 { return load<u64>(W + (i << 5), 8); }
@inline function aL(i: i32): u64 { return load<u64>(W + (i << 5), 16); }
@inline function isZ(i: i32): bool { return (aH(i) | aL(i)) == 0; }
function wset(i: i32, s: u32, e: i32, h: u64, l: u64): void {
  if ((h | l) == 0) {
    store<u32>(W + (i << 5), s); store<i32>(W + (i << 5), 0, 4); store<u64>(W + (i << 5), 0, 8);
    store<u64>(W + (i << 5), 0, 16); return;
  }
  if (h == 0) { h = l; l = 0; e -= 64; }
  const n = clz<u64>(h) as i32;
  if (n != 0) { h = (h << (n as u64)) | (l >> ((64 - n) as u64)); l <<= n as u64; e -= n; }
  store<u32>(W + (i << 5), s); store<i32>(W + (i << 5), e, 4); store<u64>(W + (i << 5), h, 8);
  store<u64>(W + (i << 5), l, 16);
}
function wcopy(d: i32, a: i32): void { memory.copy(W + (d << 5), W + (a << 5), 32); }
function wneg(i: i32): void { store<u32>(W + (i << 5), aS(i) ^ 1); }
function wint(i: i32, v: i64): void {
  const s: u32 = v < 0 ? 1 : 0;
  wset(i, s, 127, 0, v < 0 ? (0 as u64) - (v as u64) : v as u64);
}
function wfromX(i: i32, se: u32, m: u64): void {
  if (m == 0) { wset(i, se >> 15, 0, 0, 0); return; }
  unpack(se, m);
  wset(i, se >> 15, uE - 16383, uSig, 0);
}
// Round to extended into oSE/oM (flags, C1 through fp80).
function wtoX(i: i32): void {
  if (isZ(i)) { res(aS(i) << 15, 0); return; }
  const e = aE(i) + 16383;
  if (e > 0x7fff + 0x6000) { roundPack(aS(i), 0x7fff + 0x6000, aH(i), aL(i), 64); return; }
  if (e < -0x6000 - 70) { roundPack(aS(i), -0x6000 - 70, aH(i), aL(i) | 1, 64); return; }
  roundPack(aS(i), e, aH(i), aL(i), 64);
}

function wadd(d: i32, a: i32, b: i32): void {
  if (isZ(a)) { wcopy(d, b); return; }
  if (isZ(b)) { wcopy(d, a); return; }
  let sa = aS(a), ea = aE(a), ha = aH(a), la = aL(a);
  let sb = aS(b), eb = aE(b), hb = aH(b), lb = aL(b);
  if (ea < eb || (ea == eb && (ha < hb || (ha == hb && la < lb)))) {
    let t: u64 = ha; ha = hb; hb = t; t = la; la = lb; lb = t;
    const te = ea; ea = eb; eb = te; const ts = sa; sa = sb; sb = ts;
  }
  const sh = ea - eb;
  if (sh >= 128) { // b below the last bit: kept as a sticky bit 0 (a - b: one unit less, then sticky)
    if (sa != sb) { const bw: u64 = la == 0 ? 1 : 0; la -= 1; ha -= bw; }
    wset(d, sa, ea, ha, la | 1);
    return;
  }
  if (sh >= 64) { lb = hb >> ((sh - 64) as u64); hb = 0; }
  else if (sh > 0) { lb = (lb >> (sh as u64)) | (hb << ((64 - sh) as u64)); hb >>= sh as u64; }
  if (sa == sb) {
    let l = la + lb;
    let c: u64 = l < la ? 1 : 0;
    let h = ha + hb + c;
    const carry = h < ha || (h == ha && c != 0);
    if (carry) { l = (l >> 1) | (h << 63); h = (h >> 1) | 0x8000000000000000; ea++; }
    wset(d, sa, ea, h, l);
  } else {
    const l = la - lb;
    const bw: u64 = la < lb ? 1 : 0;
    const h = ha - hb - bw;
    wset(d, sa, ea, h, l);
  }
}
function wsub(d: i32, a: i32, b: i32): void { wneg(b); wadd(d, a, b); if (d != b) wneg(b); }

function wmul(d: i32, a: i32, b: i32): void {
  const s = aS(a) ^ aS(b);
  if (isZ(a) || isZ(b)) { wset(d, s, 0, 0, 0); return; }
  const ha = aH(a), la = aL(a), hb = aH(b), lb = aL(b);
  mul64(la, lb); const l1 = mulHi;
  const m0 = mul64(ha, lb), m1 = mulHi;
  const n0 = mul64(la, hb), n1 = mulHi;
  const h0 = mul64(ha, hb), h1 = mulHi;
  let w1 = l1 + m0; let c: u64 = w1 < m0 ? 1 : 0;
  const w1b = w1 + n0; c += w1b < n0 ? 1 : 0; w1 = w1b;
  let w2 = h0 + m1; let c2: u64 = w2 < m1 ? 1 : 0;
  let t = w2 + n1; c2 += t < n1 ? 1 : 0; w2 = t;
  t = w2 + c; c2 += t < c ? 1 : 0; w2 = t;
  const w3 = h1 + c2;
  const e = aE(a) + aE(b);
  if ((w3 >> 63) != 0) wset(d, s, e + 1, w3, w2);
  else wset(d, s, e, (w3 << 1) | (w2 >> 63), (w2 << 1) | (w1 >> 63));
}

function wdiv(d: i32, a: i32, b: i32): void {
  const s = aS(a) ^ aS(b);
  if (isZ(a)) { wset(d, s, 0, 0, 0); return; }
  let rh = aH(a), rl = aL(a);
  const bh = aH(b), bl = aL(b);
  let e = aE(a) - aE(b);
  let qh: u64 = 0, ql: u64 = 0;
  let n = 128;
  if (rh > bh || (rh == bh && rl >= bl)) {
    const bw: u64 = rl < bl ? 1 : 0; rl -= bl; rh = rh - bh - bw;
    ql = 1; n = 127;
  } else e--;
  for (let i = 0; i < n; i++) {
    const top = rh >> 63;
    rh = (rh << 1) | (rl >> 63); rl <<= 1;
    qh = (qh << 1) | (ql >> 63); ql <<= 1;
    if (top != 0 || rh > bh || (rh == bh && rl >= bl)) {
      const bw: u64 = rl < bl ? 1 : 0; rl -= bl; rh = rh - bh - bw;
      ql |= 1;
    }
  }
  wset(d, s, e, qh, ql);
}

// ---- constants (working registers 32..47) ----
const K_PI66H = 41; // pi/2 to 66 bits: the value the CPUs (Intel and AMD alike) reduce arguments by
const K_PI = 32, K_LN2 = 33, K_ONE = 34, K_HALFPI = 35, K_2OVPI = 36, K_INVLN2 = 37, K_AT1 = 38, K_AT2 = 39, K_AT3 = 40;
let kInit = false;
// registers 0..15 scratch; 16..31 function locals
function consts(): void {
  if (kInit) return;
  kInit = true;
  wset(K_PI, 0, 1, 0xc90fdaa22168c234, 0xc4c6628b80dc1cd1);
  wset(K_LN2, 0, -1, 0xb17217f7d1cf79ab, 0xc9e3b39803f2f6af);
  wint(K_ONE, 1);
  wcopy(K_HALFPI, K_PI); store<i32>(W + (K_HALFPI << 5), 0, 4);
  wdiv(K_2OVPI, K_ONE, K_HALFPI);
  wset(K_PI66H, 0, 0, 0xc90fdaa22168c234, 0xc000000000000000);
  wdiv(K_INVLN2, K_ONE, K_LN2);
  // atan(1/4), atan(1/2), atan(3/4) by their series
  for (let k = 1; k <= 3; k++) { wint(0, k); wint(1, 4); wdiv(2, 0, 1); atanSeries(K_AT1 + k - 1, 2); }
}

// d = sum of terms; stop when the term is 2^-125 below the sum
@inline function small(t: i32, s: i32): bool { return isZ(t) || (!isZ(s) && aE(t) < aE(s) - 125); }

// d = atan(x) = x - x^3/3 + ... (|x| < 1)
function atanSeries(d: i32, x: i32): void {
  wcopy(16, x); wcopy(17, x); wmul(18, x, x); wneg(18); // 16 sum, 17 power, 18 -x^2
  for (let n = 3; n < 2000; n += 2) {
    wmul(17, 17, 18);
    wint(19, n); wdiv(20, 17, 19);
    wadd(16, 16, 20);
    if (small(20, 16)) break;
  }
  wcopy(d, 16);
}
// d = atanh(x) = x + x^3/3 + ...
function atanhSeries(d: i32, x: i32): void {
  wcopy(16, x); wcopy(17, x); wmul(18, x, x);
  for (let n = 3; n < 2000; n += 2) {
    wmul(17, 17, 18);
    wint(19, n); wdiv(20, 17, 19);
    wadd(16, 16, 20);
    if (small(20, 16)) break;
  }
  wcopy(d, 16);
}
// d = e^x - 1
function expm1(d: i32, x: i32): void {
  wcopy(16, x); wcopy(17, x);
  for (let n = 2; n < 2000; n++) {
    wmul(17, 17, x); wint(19, n); wdiv(17, 17, 19);
    wadd(16, 16, 17);
    if (small(17, 16)) break;
  }
  wcopy(d, 16);
}
// d = log2(x), x > 0 finite (working register)
function log2w(d: i32, x: i32): void {
  let e = aE(x);
  wcopy(21, x); store<i32>(W + (21 << 5), 0, 4); // m in [1, 2)
  if (aH(21) > 0xb504f333f9de6484) { store<i32>(W + (21 << 5), -1, 4); e++; } // m > sqrt 2: m/2
  wsub(22, 21, K_ONE); wadd(23, 21, K_ONE); wdiv(24, 22, 23); // s = (m-1)/(m+1)
  atanhSeries(25, 24);
  wmul(25, 25, K_INVLN2); store<i32>(W + (25 << 5), aE(25) + 1, 4); // 2/ln2 * atanh(s)
  wint(26, e as i64);
  wadd(d, 26, 25);
}
// d = atan(t), t >= 0 finite
function atanw(d: i32, t: i32): void {
  let inv = false;
  wcopy(27, t);
  if (!isZ(27) && aE(27) >= 0 && !(aE(27) == 0 && aH(27) == 0x8000000000000000 && aL(27) == 0)) {
    wdiv(27, K_ONE, 27); inv = true;
  }
  else if (!isZ(27) && aE(27) == 0) { wcopy(d, K_PI); store<i32>(W + (d << 5), -1, 4); return; } // atan 1
  // t in [0, 1): nearest c in {0, 1/4, 1/2, 3/4}
  let k = 0;
  if (!isZ(27) && aE(27) >= -3) {
    // t * 4 rounded
    wint(28, 4); wmul(28, 27, 28);
    const E = aE(28);
    let v: u64 = E >= 0 ? aH(28) >> ((63 - E) as u64) : 0; // floor(4t)
    const frac = E >= 0 ? (aH(28) << ((E + 1) as u64)) : (E == -1 ? aH(28) : 0);
    if ((frac >> 63) != 0) v++;
    k = v as i32;
    if (k > 3) k = 3;
  }
  if (k == 0) atanSeries(29, 27);
  else {
    wint(28, k); wint(30, 4); wdiv(28, 28, 30); // c
    wsub(30, 27, 28); wmul(31, 27, 28); wadd(31, 31, K_ONE); wdiv(30, 30, 31); // (t - c) / (1 + t c)
    atanSeries(29, 30);
    wadd(29, 29, K_AT1 + k - 1);
  }
  if (inv) { wcopy(28, K_HALFPI); wsub(d, 28, 29); } else wcopy(d, 29);
}
// Reduce x (finite) by pi/2: r into d, quadrant (k mod 4) returned.
function reduce(d: i32, x: i32): i32 {
  wmul(24, x, K_2OVPI);
  const E = aE(24);
  if (E < -1) { wcopy(d, x); return 0; }
  // k = nearest integer of x * 2/pi (|x| < 2^63: k < 2^63)
  let k: u64 = E >= 0 ? aH(24) >> ((63 - E) as u64) : 0;
  const frac = E >= 63 ? 0 : E >= 0 ? (aH(24) << ((E + 1) as u64)) : aH(24);
  if ((frac >> 63) != 0) k++;
  wset(25, aS(24), 127, 0, k);
  wmul(25, 25, K_PI66H);
  wsub(d, x, 25);
  const q = (k & 3) as i32;
  return aS(24) != 0 ? (4 - q) & 3 : q;
}
function sinw(d: i32, r: i32): void {
  wcopy(16, r); wcopy(17, r); wmul(18, r, r); wneg(18);
  for (let n = 2; n < 400; n += 2) {
    wmul(17, 17, 18); wint(19, (n * (n + 1)) as i64); wdiv(17, 17, 19);
    wadd(16, 16, 17);
    if (small(17, 16)) break;
  }
  wcopy(d, 16);
}
function cosw(d: i32, r: i32): void {
  wcopy(16, K_ONE); wcopy(17, K_ONE); wmul(18, r, r); wneg(18);
  for (let n = 2; n < 400; n += 2) {
    wmul(17, 17, 18); wint(19, ((n - 1) * n) as i64); wdiv(17, 17, 19);
    wadd(16, 16, 17);
    if (small(17, 16)) break;
  }
  wcopy(d, 16);
}
// sin (which 0) or cos (1) of x by quadrant
function sincos(d: i32, x: i32, which: i32): void {
  const q = reduce(10, x);
  const qq = (q + which) & 3;
  if ((qq & 1) == 0) sinw(d, 10); else cosw(d, 10);
  if (qq >= 2) wneg(d);
}

function putX(i: i32): void { wtoX(i); }

// Returns 1 when the operand is out of range (C2 = 1, nothing changed), else 0 with the result in
// oSE/oM (ST(0), or ST(1) for FYL2X FYL2XP1 FPATAN) and the value to push in ft2SE/ft2M.
export function ftrans(modrm: i32, aSE: u32, aM: u64, bSE: u32, bM: u64): i32 {
  consts();
  const ca = cls(aSE, aM), cb = cls(bSE, bM);
  const two = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf9;
  const trig = modrm == 0xf2 || modrm == 0xfb || modrm == 0xfe || modrm == 0xff;
  if (trig && (ca == C_NORM || ca == C_DEN) && (aSE & 0x7fff) >= 16383 + 63) return 1;
  // operand checks
  if (ca == C_UNSUP || (two && cb == C_UNSUP)) { indefinite(); ft2SE = oSE; ft2M = oM; return 0; }
  if (isNaNc(ca) || (two && isNaNc(cb))) {
    if (two) nan2(aSE, aM, bSE, bM); else nan1(aSE, aM);
    ft2SE = oSE; ft2M = oM;
    return 0;
  }
  if (ca == C_DEN || (two && cb == C_DEN)) xRaise(X_DE);
  const an = (aSE & 0x8000) != 0, bn = (bSE & 0x8000) != 0;
  ft2SE = 0x3fff; ft2M = 0x8000000000000000;
  switch (modrm) {
    case 0xf0: { // F2XM1
      if (ca == C_ZERO) { res(aSE, aM); return 0; }
      if (ca == C_INF) { if (an) res(0xbfff, 0x8000000000000000); else res(aSE, aM); return 0; }
      if ((aSE & 0x7fff) == 0x3fff && aM == 0x8000000000000000) { // exactly +-1
        if (an) res(0xbffe, 0x8000000000000000); else res(0x3fff, 0x8000000000000000);
        return 0;
      }
      wfromX(0, aSE, aM); wmul(0, 0, K_LN2); expm1(1, 0); putX(1);
      return 0;
    }
    case 0xf1: case 0xf9: { // FYL2X FYL2XP1: ST(1) * log2(ST(0)) / log2(1 + ST(0))
      const p1 = modrm == 0xf9;
      if (!p1) {
        if (an && ca != C_ZERO) { indefinite(); return 0; }
        if (ca == C_ZERO) {
          if (cb == C_ZERO) { indefinite(); return 0; }
          if (cb != C_INF) xRaise(X_ZE);
          xDrop(X_DE); // a denormal y raises no DE here (measured)
          res((bn ? 0 : 0x8000) | 0x7fff, 0x8000000000000000);
          return 0;
        }
        if (ca == C_INF) {
          if (cb == C_ZERO) { indefinite(); return 0; }
          res((bSE & 0x8000) | 0x7fff, 0x8000000000000000); return 0;
        }
        const one = (aSE & 0x7fff) == 0x3fff && aM == 0x8000000000000000;
        if (one) {
          if (cb == C_INF) { indefinite(); return 0; }
          res(bSE & 0x8000, 0); return 0;
        }
        const below1 = (aSE & 0x7fff) < 0x3fff;
        if (cb == C_INF) { res(((bn != below1) ? 0x8000 : 0) | 0x7fff, 0x8000000000000000); return 0; }
        if (cb == C_ZERO) { res((bn != below1) ? 0x8000 : 0, 0); return 0; }
        wfromX(0, aSE, aM); log2w(1, 0); wfromX(2, bSE, bM); wmul(3, 1, 2);
        if (aM != 0x8000000000000000) { putX(3); return 0; }
        // x a power of two: y*log2(x) is exact here, but the CPUs report PE all the same (AMD and Intel, measured).
        // Intel (docs/X87.md): for x < 1 the result is rounded from a magnitude just below the exact product (to
        // nearest: the product, C1 = 1; toward zero: one ulp under it; a tiny product underflows), for x > 1 it is
        // the exact product with PE (and UE when it is tiny).
        if (below1 && !isZ(3)) {
          const h = aH(3), l = aL(3);
          wset(3, aS(3), aE(3), l == 0 ? h - 1 : h, l - 1);
        }
        putX(3);
        xRaise(X_PE);
        if ((oSE & 0x7fff) == 0 && oM != 0) xRaise(X_UE); // tiny (with UE unmasked roundPack gave the biased result)
        return 0;
      }
      if (ca == C_INF) {
        if (an || cb == C_ZERO) { indefinite(); return 0; }
        res((bSE & 0x8000) | 0x7fff, 0x8000000000000000); return 0;
      }
      if (ca == C_ZERO) {
        if (cb == C_INF) { indefinite(); return 0; }
        res(((aSE ^ bSE) & 0x8000), 0); return 0;
      }
      if (an && (aSE & 0x7fff) >= 0x3fff) { indefinite(); return 0; } // x <= -1
      if (cb == C_INF) { res(((aSE ^ bSE) & 0x8000) | 0x7fff, 0x8000000000000000); return 0; }
      if (cb == C_ZERO) { res(((aSE ^ bSE) & 0x8000), 0); return 0; }
      wfromX(0, aSE, aM); wint(1, 2); wadd(1, 1, 0); wdiv(2, 0, 1); // s = x / (2 + x)
      atanhSeries(3, 2); wmul(3, 3, K_INVLN2); store<i32>(W + (3 << 5), aE(3) + 1, 4);
      wfromX(4, bSE, bM); wmul(5, 3, 4); putX(5);
      return 0;
    }
    case 0xf3: { // FPATAN: ST(1) <- atan2(ST(1), ST(0))
      const ySE = bSE, yc = cb, xc = ca;
      const ys = ySE & 0x8000;
      if (yc == C_ZERO) {
        if (!an) { res(ys, 0); return 0; }
        wcopy(0, K_PI); putX(0); res(oSE | ys, oM); return 0;
      }
      if (yc == C_INF) {
        if (xc == C_INF) {
          if (!an) { wcopy(0, K_PI); store<i32>(W, -1, 4); }
          else { wint(1, 3); wmul(0, K_PI, 1); store<i32>(W, aE(0) - 2, 4); }
        } else wcopy(0, K_HALFPI);
        if (ys != 0) wneg(0);
        putX(0); return 0;
      }
      if (xc == C_ZERO) { wcopy(0, K_HALFPI); if (ys != 0) wneg(0); putX(0); return 0; }
      if (xc == C_INF) {
        if (!an) { res(ys, 0); return 0; }
        wcopy(0, K_PI); if (ys != 0) wneg(0); putX(0); return 0;
      }
      wfromX(0, aSE & 0x7fff, aM); wfromX(1, bSE & 0x7fff, bM);
      wdiv(2, 1, 0); // |y| / |x|
      atanw(3, 2);
      if (an) { wsub(3, K_PI, 3); }
      if (ys != 0) wneg(3);
      putX(3);
      return 0;
    }
    case 0xf2: case 0xfb: case 0xfe: case 0xff: {
      if (ca == C_INF) { indefinite(); ft2SE = oSE; ft2M = oM; return 0; }
      if (ca == C_ZERO) {
        if (modrm == 0xff) { res(0x3fff, 0x8000000000000000); return 0; }
        res(aSE, aM);
        if (modrm == 0xfb) { ft2SE = 0x3fff; ft2M = 0x8000000000000000; }
        return 0;
      }
      wfromX(0, aSE, aM);
      if (modrm == 0xf2) { // FPTAN: tan, then push 1
        if (aE(0) < -50) { // tan x = x + x^3/3 (+ 2x^5/15 ...): as a sum, so the tiny term's sign counts
          wmul(1, 0, 0); wmul(1, 1, 0); wint(2, 3); wdiv(1, 1, 2); wadd(3, 0, 1);
        } else { sincos(1, 0, 0); sincos(2, 0, 1); wdiv(3, 1, 2); }
        putX(3);
        return 0;
      }
      if (modrm == 0xfe) { sincos(1, 0, 0); putX(1); return 0; }
      if (modrm == 0xff) { sincos(1, 0, 1); putX(1); return 0; }
      // FSINCOS: ST(0) <- sin, push cos. The two roundings' flags combine; C1 from the sine.
      sincos(1, 0, 1); putX(1); const cSE = oSE, cM = oM;
      sincos(2, 0, 0); putX(2);
      ft2SE = cSE; ft2M = cM;
      return 0;
    }
    default: break;
  }
  indefinite();
  return 0;
}
