// Arithmetic and logic: the eight ALU ops, shifts and rotates, multiply and divide, bit scans.
// Each returns the result (masked to the size) and sets the flags (lazily where it can).
import {
  LF_ADD, LF_SUB, LF_LOGIC, LF_ADC1, LF_SBB1, setLazy, getCF, getFlags, setFlags, sizeMask, signBit,
  szp,
} from "./flags";
import { F_CF, F_OF, F_AF, F_ZF, F_SF, F_PF, F_ARITH } from "./state";

// op: 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP.
@inline export function alu(op: i32, size: i32, a: u64, b: u64): u64 {
  const m = sizeMask(size);
  a &= m; b &= m;
  let r: u64;
  switch (op) {
    case 0: r = a + b; setLazy(LF_ADD, size, a, b, r); break;
    case 1: r = a | b; setLazy(LF_LOGIC, size, a, b, r); break;
    case 2: {
      const c = getCF();
      r = a + b + (c ? 1 : 0);
      setLazy(c ? LF_ADC1 : LF_ADD, size, a, b, r);
      break;
    }
    case 3: {
      const c = getCF();
      r = a - b - (c ? 1 : 0);
      setLazy(c ? LF_SBB1 : LF_SUB, size, a, b, r);
      break;
    }
    case 4: r = a & b; setLazy(LF_LOGIC, size, a, b, r); break;
    case 6: r = a ^ b; setLazy(LF_LOGIC, size, a, b, r); break;
    default: r = a - b; setLazy(LF_SUB, size, a, b, r); break; // SUB, CMP
  }
  return r & m;
}

@inline function bitsOf(size: i32): u64 { return (size << 3) as u64; }

// Write the arithmetic flags given as a full set (others kept).
@inline function arith(f: u64): void { setFlags((getFlags() & ~F_ARITH) | f); }

// Shifts and rotates (group 2): op = ModRM.reg: 0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR.
// Returns the result; `count` is the raw count (masked here). A zero count changes nothing: the
// caller must then not write the destination (shiftNop is set).
export let shiftNop: bool = false;
export function shift(op: i32, size: i32, v: u64, rawCount: u32): u64 {
  const m = sizeMask(size);
  const w = bitsOf(size);
  const sb = signBit(size);
  v &= m;
  let c = (rawCount & (size == 8 ? 0x3f : 0x1f)) as u64;
  shiftNop = c == 0;
  if (c == 0) return v;
  const f0 = getFlags();
  let r: u64 = 0;
  let cf: bool = false;
  let ov: bool = false;
  switch (op) {
    case 0: { // ROL
      const k = c % w;
      r = k == 0 ? v : ((v << k) | (v >> (w - k))) & m;
      cf = (r & 1) != 0;
      ov = ((r & sb) != 0) != cf;
      setFlags((f0 & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
      return r;
    }
    case 1: { // ROR
      const k = c % w;
      r = k == 0 ? v : ((v >> k) | (v << (w - k))) & m;
      cf = (r & sb) != 0;
      ov = cf != ((r & (sb >> 1)) != 0);
      setFlags((f0 & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
      return r;
    }
    case 2: { // RCL: rotate through CF, a (w+1)-bit rotation
      let k = size < 4 ? c % (w + 1) : c;
      let x = v;
      let carry: u64 = (f0 & F_CF) != 0 ? 1 : 0;
      for (let i: u64 = 0; i < k; i++) {
        const out = (x & sb) != 0 ? <u64>1 : <u64>0;
        x = ((x << 1) | carry) & m;
        carry = out;
      }
      r = x;
      cf = carry != 0;
      ov = ((r & sb) != 0) != cf;
      setFlags((f0 & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
      return r;
    }
    case 3: { // RCR
      let k = size < 4 ? c % (w + 1) : c;
      let x = v;
      let carry: u64 = (f0 & F_CF) != 0 ? 1 : 0;
      // OF is computed from the operand before the rotation (defined for count 1).
      ov = ((x & sb) != 0) != (carry != 0);
      for (let i: u64 = 0; i < k; i++) {
        const out = x & 1;
        x = (x >> 1) | (carry != 0 ? sb : 0);
        carry = out;
      }
      r = x;
      cf = carry != 0;
      setFlags((f0 & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
      return r;
    }
    case 4: case 6: { // SHL/SAL
      r = c < w ? (v << c) & m : 0;
      cf = c <= w ? ((v >> (w - c)) & 1) != 0 : false;
      ov = ((r & sb) != 0) != cf;
      break;
    }
    case 5: { // SHR
      r = c < w ? v >> c : 0;
      cf = c <= w ? ((v >> (c - 1)) & 1) != 0 : false;
      ov = (v & sb) != 0;
      break;
    }
    default: { // SAR
      const sv = (v & sb) != 0 ? v | ~m : v; // sign-extended to 64 bits
      const k = c < w ? c : w - 1;
      r = (((sv as i64) >> (k as i64)) as u64) & m;
      cf = ((((sv as i64) >> ((c - 1 < 63 ? c - 1 : 63) as i64)) & 1) != 0);
      ov = false;
      break;
    }
  }
  // SHL/SHR/SAR: SF ZF PF from the result; AF undefined (left clear).
  setFlags((f0 & ~F_ARITH) | szp(size, r) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
  return r;
}

// SHLD (left = true) / SHRD: shift `dst` by `count` filling from `src`.
export function shiftDouble(left: bool, size: i32, dst: u64, src: u64, rawCount: u32): u64 {
  const m = sizeMask(size);
  const w = bitsOf(size);
  const sb = signBit(size);
  let c = (rawCount & (size == 8 ? 0x3f : 0x1f)) as u64;
  shiftNop = c == 0;
  dst &= m; src &= m;
  if (c == 0) return dst;
  let r: u64;
  let cf: bool;
  if (size == 2 && c > 16) {
    // Undefined result for 16-bit counts above 16; compute as a 32-bit rotation ov dst:src as
    // current CPUs do: (dst:src:dst) shifted.
    const big: u64 = left ? (dst << 32) | (src << 16) | dst : (dst << 32) | (src << 16) | dst;
    if (left) { r = (big << c >> 32) & m; cf = ((big << (c - 1)) >> 47 & 1) != 0; }
    else { const b2: u64 = (dst << 32) | (dst << 16) | src; r = (b2 >> c) & m; cf = ((b2 >> (c - 1)) & 1) != 0; }
  } else if (left) {
    r = ((dst << c) | (c < w ? src >> (w - c) : src << (c - w))) & m;
    cf = ((dst >> (w - c)) & 1) != 0;
  } else {
    r = ((dst >> c) | (c < w ? src << (w - c) : src >> (c - w))) & m;
    cf = ((dst >> (c - 1)) & 1) != 0;
  }
  const ov = ((r ^ dst) & sb) != 0;
  setFlags((getFlags() & ~F_ARITH) | szp(size, r) | (cf ? F_CF : 0) | (ov ? F_OF : 0));
  return r;
}

// ---- multiply / divide ----
// 64x64 -> 128 unsigned: low in the return value, high in mulHi.
export let mulHi: u64 = 0;
export function mul64(a: u64, b: u64): u64 {
  const a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  mulHi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return (mid << 32) | (p00 & 0xffffffff);
}
export function imul64(a: u64, b: u64): u64 {
  const lo = mul64(a, b);
  let hi = mulHi;
  if ((a as i64) < 0) hi -= b;
  if ((b as i64) < 0) hi -= a;
  mulHi = hi;
  return lo;
}

// Flags after MUL/IMUL: CF = OF = overflow; SF ZF PF from the low result, AF clear (undefined).
export function mulFlags(size: i32, lo: u64, overflow: bool): void {
  arith(szp(size, lo) | (overflow ? F_CF | F_OF : 0));
}

// 128/64 unsigned division (hi < d required): quotient returned, remainder in divRem.
export let divRem: u64 = 0;
export function udiv128(hi: u64, lo: u64, d: u64): u64 {
  if (hi == 0) { divRem = lo % d; return lo / d; }
  let q: u64 = 0;
  let r = hi;
  for (let i = 63; i >= 0; i--) {
    const top = r >> 63;
    r = (r << 1) | ((lo >> (i as u64)) & 1);
    q <<= 1;
    if (top != 0 || r >= d) { r -= d; q |= 1; }
  }
  divRem = r;
  return q;
}

// Bit scans: BSF/BSR set ZF (source zero: destination unchanged, ZF=1); other flags undefined (cleared).
export function bsfFlags(zero: bool): void { arith(zero ? F_ZF : 0); }

export { F_CF, F_OF, F_AF, F_ZF, F_SF, F_PF };
