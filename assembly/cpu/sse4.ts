// SSE3, SSSE3, SSE4.1, SSE4.2 and CRC32: the 0F 38 and 0F 3A maps (sse4Op, from sseOp in sse.ts) and
// the SSE3 forms of the 0F map (sse3Op: ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD, MOVSLDUP, MOVSHDUP, MOVDDUP,
// LDDQU). FISTTP is in x87.ts; MONITOR/MWAIT are not offered (CPUID.1:ECX[3] clear, #UD, as a Xen PV
// guest sees them).
//
// Rules as for SSE/SSE2 (sse.ts): CR0.EM or !CR4.OSFXSR -> #UD, CR0.TS -> #NM; legacy 16-byte memory
// operands must be 16-byte aligned (#GP(0)) except LDDQU, the PCMPxSTRx sources and the narrower
// memory forms (PMOVSX/ZX, ROUNDSS/SD, INSERTPS, MOVDDUP, PINSR*, PEXTR*). SSSE3 instructions
// without the 66 prefix are their MMX forms (64-bit operands in MM registers; CR0.EM -> #UD, CR0.TS ->
// #NM, pending x87 exception -> #MF; TOP = 0 and all tags valid, as every MMX instruction).
// CRC32 (F2 0F 38 F0/F1) is a general-purpose instruction (no SSE availability check). MOVBE
// (0F 38 F0/F1 without F2), PCLMULQDQ, AES and SHA are not offered: #UD.
import { CPU_STATE, CPU_CR0 } from "../memmap";
import { F_ARITH, F_ZF, F_CF, F_SF, F_OF, getReg, setReg, is64, RAX, RDX, RCX } from "./state";
import { CR0_EM, CR0_TS } from "../bits";
import { fpTopZero, fpPendingMF } from "./x87";
import { getFlags, setFlags } from "./flags";
import { fault, raiseUD, raiseNM } from "./fault";
import { dPfx, dMod, dReg, dRm, dRex, dImm, dOs, P_REPNE } from "./decode";
import { memLin, rmRead, rmWrite } from "./ea";
import { rdN, wrN } from "../mmu/tlb";
import { fpBegin, fadd, fmul, fround } from "./softfp";
import {
  xr, mxcsr, sel, src128, srcN, dstMem, TMP, mm, mmWrite, MA, MB, fpEnd, sseAvail, FX, FX_XMM,
} from "./ssebase";

// ---- SSE3 in the 0F map ----
// lo: 0x12 (F3 MOVSLDUP, F2 MOVDDUP), 0x16 (F3 MOVSHDUP), 0x7c/0x7d (HADD/HSUB: 66 PD, F2 PS),
// 0xd0 (ADDSUB: 66 PD, F2 PS), 0xf0 (F2 LDDQU). `s`: 0 none, 1 66, 2 F3, 3 F2 (sse.ts sel()).
// Returns false when the form is not an SSE3 one (the caller raises #UD).
export function sse3Op(lo: i32, s: i32): bool {
  const d = xr(dReg());
  switch (lo) {
    case 0x12: case 0x16: {
      if (lo == 0x12 && s == 3) { // MOVDDUP xmm, xmm/m64
        const p = srcN(8);
        if (p == 0) return true;
        const v = load<u64>(p);
        store<u64>(d, v); store<u64>(d, v, 8);
        return true;
      }
      if (s != 2) return false;
      const p = src128(true);
      if (p == 0) return true;
      const k = lo == 0x12 ? 0 : 4;
      const a = load<u32>(p + k), b = load<u32>(p + 8 + k);
      store<u32>(d, a); store<u32>(d, a, 4); store<u32>(d, b, 8); store<u32>(d, b, 12);
      return true;
    }
    case 0xf0: { // LDDQU xmm, m128 (unaligned)
      if (s != 3) return false;
      if (dMod() == 3) { raiseUD(); return true; }
      const p = src128(false);
      if (p != 0) memory.copy(d, p, 16);
      return true;
    }
    case 0x7c: case 0x7d: case 0xd0: {
      if (s != 1 && s != 3) return false;
      const dbl = s == 1;
      const p = src128(true);
      if (p == 0) return true;
      fpBegin(mxcsr());
      if (lo == 0xd0) { // ADDSUB: even lanes subtract, odd lanes add
        if (dbl) {
          store<u64>(TMP, fadd(load<u64>(d), load<u64>(p), true, true));
          store<u64>(TMP + 8, fadd(load<u64>(d, 8), load<u64>(p, 8), true, false));
        } else {
          for (let i = 0; i < 4; i++) {
            store<u32>(
              TMP + 4 * i, fadd(load<u32>(d + 4 * i) as u64, load<u32>(p + 4 * i) as u64, false, (i & 1) == 0) as u32
            );
          }
        }
      } else { // HADD HSUB: pairs of the destination, then pairs of the source
        const sub = lo == 0x7d;
        if (dbl) {
          store<u64>(TMP, fadd(load<u64>(d), load<u64>(d, 8), true, sub));
          store<u64>(TMP + 8, fadd(load<u64>(p), load<u64>(p, 8), true, sub));
        } else {
          for (let i = 0; i < 2; i++) {
            store<u32>(
              TMP + 4 * i, fadd(load<u32>(d + 8 * i) as u64, load<u32>(d + 8 * i + 4) as u64, false, sub) as u32
            );
            store<u32>(
              TMP + 8 + 4 * i, fadd(load<u32>(p + 8 * i) as u64, load<u32>(p + 8 * i + 4) as u64, false, sub) as u32
            );
          }
        }
      }
      memory.copy(d, TMP, 16);
      fpEnd();
      return true;
    }
    default: return false;
  }
}

// ---- helpers ----
@inline function sat16s(v: i32): i32 { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }
@inline function sat16u(v: i32): i32 { return v < 0 ? 0 : (v > 65535 ? 65535 : v); }
const T2: i32 = memory.data(32, 16) as i32; // PALIGNR's concatenation

// SSSE3 operations on n bytes (8: MMX, 16: XMM) at d (destination, updated) and s.
function ssse3(op: i32, d: i32, s: i32, n: i32): void {
  switch (op) {
    case 0x00: // PSHUFB
      for (let i = 0; i < n; i++) {
        const b = load<u8>(s + i);
        store<u8>(TMP + i, (b & 0x80) != 0 ? 0 : load<u8>(d + (b & (n - 1))));
      }
      memory.copy(d, TMP, n);
      return;
    case 0x01: case 0x02: case 0x03: case 0x05: case 0x06: case 0x07: { // PHADD/PHSUB W D SW
      const sub = op >= 0x05;
      const k = op & 3; // 1 W, 2 D, 3 SW
      if (k == 2) {
        const p = n >> 3; // pairs per operand
        for (let i = 0; i < p; i++) {
          const a0 = load<u32>(d + 8 * i), a1 = load<u32>(d + 8 * i + 4);
          const b0 = load<u32>(s + 8 * i), b1 = load<u32>(s + 8 * i + 4);
          store<u32>(TMP + 4 * i, sub ? a0 - a1 : a0 + a1);
          store<u32>(TMP + 4 * (p + i), sub ? b0 - b1 : b0 + b1);
        }
      } else {
        const p = n >> 2;
        for (let i = 0; i < p; i++) {
          const a0 = load<i16>(d + 4 * i) as i32, a1 = load<i16>(d + 4 * i + 2) as i32;
          const b0 = load<i16>(s + 4 * i) as i32, b1 = load<i16>(s + 4 * i + 2) as i32;
          let ra = sub ? a0 - a1 : a0 + a1, rb = sub ? b0 - b1 : b0 + b1;
          if (k == 3) { ra = sat16s(ra); rb = sat16s(rb); }
          store<u16>(TMP + 2 * i, ra as u16);
          store<u16>(TMP + 2 * (p + i), rb as u16);
        }
      }
      memory.copy(d, TMP, n);
      return;
    }
    case 0x04: // PMADDUBSW: unsigned bytes of d times signed bytes of s, pairs added with saturation
      for (let i = 0; i < n; i += 2) {
        const v = (load<u8>(d + i) as i32) * (load<i8>(s + i) as i32)
          + (load<u8>(d + i + 1) as i32) * (load<i8>(s + i + 1) as i32);
        store<u16>(d + i, sat16s(v) as u16);
      }
      return;
    case 0x0b: // PMULHRSW
      for (let i = 0; i < n; i += 2) {
        const v = (load<i16>(d + i) as i32) * (load<i16>(s + i) as i32);
        store<u16>(d + i, (((v >> 14) + 1) >> 1) as u16);
      }
      return;
    case 0x08: // PSIGNB
      for (let i = 0; i < n; i++) {
        const c = load<i8>(s + i); if (c < 0) store<u8>(d + i, (0 - load<u8>(d + i)) as u8);
        else if (c == 0) store<u8>(d + i, 0);
      }
      return;
    case 0x09: // PSIGNW
      for (let i = 0; i < n; i += 2) {
        const c = load<i16>(s + i); if (c < 0) store<u16>(d + i, (0 - load<u16>(d + i)) as u16);
        else if (c == 0) store<u16>(d + i, 0);
      }
      return;
    case 0x0a: // PSIGND
      for (let i = 0; i < n; i += 4) {
        const c = load<i32>(s + i); if (c < 0) store<u32>(d + i, 0 - load<u32>(d + i));
        else if (c == 0) store<u32>(d + i, 0);
      }
      return;
    case 0x1c: for (let i = 0; i < n; i++) {
      const c = load<i8>(s + i) as i32; store<u8>(d + i, (c < 0 ? -c : c) as u8);
    } return;
    case 0x1d: for (let i = 0; i < n; i += 2) {
      const c = load<i16>(s + i) as i32; store<u16>(d + i, (c < 0 ? -c : c) as u16);
    } return;
    case 0x1e: for (let i = 0; i < n; i += 4) {
      const c = load<i32>(s + i); store<u32>(d + i, (c < 0 ? 0 - (c as u32) : c as u32));
    } return;
    default: return;
  }
}
@inline function isSsse3(op: i32): bool { return (op >= 0x200 && op <= 0x20b) || (op >= 0x21c && op <= 0x21e); }

// PALIGNR: (d:s) >> (imm bytes), n bytes kept.
function palignr(d: i32, s: i32, n: i32, imm: i32): void {
  memory.copy(T2, s, n);
  memory.copy(T2 + n, d, n);
  for (let i = 0; i < n; i++) {
    const k = i + imm;
    store<u8>(d + i, k < 2 * n ? load<u8>(T2 + k) : 0);
  }
}

// The MMX forms of SSSE3 (no prefix).
function ssse3Mmx(op: i32): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if ((c0 & CR0_EM) != 0) { raiseUD(); return; }
  if ((c0 & CR0_TS) != 0) { raiseNM(); return; }
  if (fpPendingMF()) return;
  let src: u64 = 0;
  if (dMod() != 3) {
    const lin = memLin(8, false);
    if (fault) return;
    src = rdN(lin, 8);
    if (fault) return;
  }
  fpTopZero(); // the registers are read after TOP = 0 (mm(i) is then physical register i)
  store<u8>(FX, 0xff, 4);
  if (dMod() == 3) src = load<u64>(mm(dRm()));
  const dn = dReg() & 7;
  store<u64>(MA, load<u64>(mm(dn))); store<u64>(MB, src);
  if (op == 0x30f) palignr(MA, MB, 8, (dImm() as i32) & 0xff);
  else ssse3(op & 0xff, MA, MB, 8);
  mmWrite(dn, load<u64>(MA));
}

// ---- CRC32 (CRC-32C, reflected, no inversions: the instruction's definition) ----
function crcByte(c: u32, b: u32): u32 {
  c ^= b;
  for (let i = 0; i < 8; i++) c = (c >> 1) ^ (0x82f63b78 & (0 - (c & 1)));
  return c;
}
function crc32(op: i32): void {
  const size = op == 0x2f0 ? 1 : dOs();
  const v = rmRead(size);
  if (fault) return;
  let c = getReg(dReg(), 4) as u32;
  for (let i = 0; i < size; i++) c = crcByte(c, ((v >> ((8 * i) as u64)) & 0xff) as u32);
  setReg(dReg(), (dRex() & 8) != 0 ? 8 : 4, c as u64);
}

// ---- SSE4.2 string compares ----
let sLen1: i32 = 0; // valid elements of xmm1 (the reg operand) and of xmm2/m128
let sLen2: i32 = 0;
function explicitLen(r: i32, n: i32): i32 {
  let v: i64 = (dRex() & 8) != 0 ? getReg(r, 8) as i64 : (getReg(r, 4) as i32) as i64;
  if (v < 0) v = -v;
  if (v < 0 || v > (n as i64)) return n; // (-2^63 stays negative)
  return v as i32;
}
function implicitLen(p: i32, n: i32, words: bool): i32 {
  for (let i = 0; i < n; i++) if ((words ? load<u16>(p + 2 * i) as u32 : load<u8>(p + i) as u32) == 0) return i;
  return n;
}
@inline function elem(p: i32, i: i32, fmt: i32): i32 {
  switch (fmt) {
    case 0: return load<u8>(p + i) as i32;
    case 1: return load<u16>(p + 2 * i) as i32;
    case 2: return load<i8>(p + i) as i32;
    default: return load<i16>(p + 2 * i) as i32;
  }
}
// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM (op 0x360-0x363).
function pcmpstr(op: i32): void {
  const p = src128(false);
  if (p == 0) return;
  const a = xr(dReg());
  const imm = (dImm() as i32) & 0xff;
  const fmt = imm & 3, agg = (imm >> 2) & 3, pol = (imm >> 4) & 3;
  const words = (fmt & 1) != 0;
  const n = words ? 8 : 16;
  const explicit = op <= 0x361;
  if (explicit) { sLen1 = explicitLen(RAX, n); sLen2 = explicitLen(RDX, n); }
  else { sLen1 = implicitLen(a, n, words); sLen2 = implicitLen(p, n, words); }
  const l1 = sLen1, l2 = sLen2;
  let r1: u32 = 0;
  for (let j = 0; j < n; j++) { // j: element of xmm2/m128
    let bit = false;
    switch (agg) {
      case 0: // equal any
        if (j < l2) {
          const b = elem(p, j, fmt); for (let i = 0; i < l1; i++) if (elem(a, i, fmt) == b) { bit = true; break; }
        }
        break;
      case 1: // ranges: pairs (lo, hi) of xmm1
        if (j < l2) {
          const b = elem(p, j, fmt);
          for (let i = 0; i + 1 < l1; i += 2)
            if (elem(a, i, fmt) <= b && b <= elem(a, i + 1, fmt)) { bit = true; break; }
        }
        break;
      case 2: // equal each
        bit = j < l1 && j < l2 ? elem(a, j, fmt) == elem(p, j, fmt) : j >= l1 && j >= l2;
        break;
      default: { // equal ordered: xmm1 (the needle) found at j
        bit = true;
        for (let i = 0; i + j < n; i++) {
          if (i >= l1) break; // needle ended: true
          if (i + j >= l2) { bit = false; break; }
          if (elem(a, i, fmt) != elem(p, i + j, fmt)) { bit = false; break; }
        }
        break;
      }
    }
    if (bit) r1 |= (1 as u32) << (j as u32);
  }
  const all: u32 = (1 << n) - 1;
  let r2 = r1;
  if (pol == 1) r2 = ~r1 & all;
  else if (pol == 3) r2 = r1 ^ (((1 as u32) << (l2 as u32)) - 1); // negated where xmm2/m128 is valid
  let f: u64 = 0;
  if (r2 != 0) f |= F_CF;
  if (l2 < n) f |= F_ZF;
  if (l1 < n) f |= F_SF;
  if ((r2 & 1) != 0) f |= F_OF;
  setFlags((getFlags() & ~F_ARITH) | f);
  if ((op & 1) != 0) { // index into ECX
    let idx: u32 = n;
    if (r2 != 0) idx = (imm & 0x40) != 0 ? 31 - clz<u32>(r2) : ctz<u32>(r2);
    setReg(RCX, is64 ? 8 : 4, idx as u64);
    return;
  }
  const x0 = FX_XMM; // mask into XMM0
  if ((imm & 0x40) == 0) { store<u64>(x0, r2 as u64); store<u64>(x0, 0, 8); return; }
  for (let j = 0; j < n; j++) {
    const m = ((r2 >> (j as u32)) & 1) != 0;
    if (words) store<u16>(x0 + 2 * j, m ? 0xffff : 0);
    else store<u8>(x0 + j, m ? 0xff : 0);
  }
}

// ---- the 0F 38 and 0F 3A maps ----
export function sse4Op(op: i32): void {
  if (op == 0x2f0 || op == 0x2f1) { // CRC32 (F2); MOVBE (none, 66): not offered
    if ((dPfx() & P_REPNE) == 0) { raiseUD(); return; }
    crc32(op);
    return;
  }
  const s = sel();
  if (s == 0 && (isSsse3(op) || op == 0x30f)) { ssse3Mmx(op); return; }
  if (s != 1 || !offered(op)) { raiseUD(); return; } // an undefined opcode is #UD before any #NM
  if (!sseAvail()) return;
  const d = xr(dReg());
  if (isSsse3(op)) {
    const p = src128(true);
    if (p != 0) ssse3(op & 0xff, d, p, 16);
    return;
  }
  if (op < 0x300) { map38(op & 0xff, d); return; }
  map3a(op & 0xff, d);
}

// The 66-prefixed opcodes of the 0F 38 and 0F 3A maps implemented here.
function offered(op: i32): bool {
  const lo = op & 0xff;
  if (op < 0x300) {
    return lo <= 0x0b || lo == 0x10 || lo == 0x14 || lo == 0x15 || lo == 0x17 || (lo >= 0x1c && lo <= 0x1e) ||
      (lo >= 0x20 && lo <= 0x25) || (lo >= 0x28 && lo <= 0x2b) || (lo >= 0x30 && lo <= 0x35)
        || (lo >= 0x37 && lo <= 0x41);
  }
  return (lo >= 0x08 && lo <= 0x0f) || (lo >= 0x14 && lo <= 0x17) || (lo >= 0x20 && lo <= 0x22) ||
    (lo >= 0x40 && lo <= 0x42) || (lo >= 0x60 && lo <= 0x63);
}

// PMOVSX/PMOVZX: source bytes 8, 4 or 2 (register: its low bytes).
function pmov(lo: i32, d: i32): void {
  const k = lo & 7; // 0 BW 1 BD 2 BQ 3 WD 4 WQ 5 DQ
  const sign = lo < 0x30;
  const sb = k == 0 || k == 1 || k == 2 ? 1 : (k == 5 ? 4 : 2); // source element bytes
  const db = k == 0 ? 2 : k == 1 || k == 3 ? 4 : 8; // destination element bytes
  const cnt = 16 / db;
  if (dMod() == 3) memory.copy(T2, xr(dRm()), 8);
  else {
    const lin = memLin(cnt * sb, false);
    if (fault) return;
    const v = rdN(lin, cnt * sb);
    if (fault) return;
    store<u64>(T2, v);
  }
  for (let i = 0; i < cnt; i++) {
    let v: u64;
    if (sb == 1) v = sign ? <u64><i64>load<i8>(T2 + i) : load<u8>(T2 + i) as u64;
    else if (sb == 2) v = sign ? <u64><i64>load<i16>(T2 + 2 * i) : load<u16>(T2 + 2 * i) as u64;
    else v = sign ? <u64><i64>load<i32>(T2 + 4 * i) : load<u32>(T2 + 4 * i) as u64;
    if (db == 2) store<u16>(d + 2 * i, v as u16);
    else if (db == 4) store<u32>(d + 4 * i, v as u32);
    else store<u64>(d + 8 * i, v);
  }
}

function map38(lo: i32, d: i32): void {
  if ((lo >= 0x20 && lo <= 0x25) || (lo >= 0x30 && lo <= 0x35)) { pmov(lo, d); return; }
  switch (lo) {
    case 0x10: case 0x14: case 0x15: case 0x17: case 0x28: case 0x29: case 0x2b: case 0x37:
    case 0x38: case 0x39: case 0x3a: case 0x3b: case 0x3c: case 0x3d: case 0x3e: case 0x3f:
    case 0x40: case 0x41: break;
    case 0x2a: { // MOVNTDQA xmm, m128
      if (dMod() == 3) { raiseUD(); return; }
      const p = src128(true);
      if (p != 0) memory.copy(d, p, 16);
      return;
    }
    default: raiseUD(); return;
  }
  const s = src128(true);
  if (s == 0) return;
  const x0 = FX_XMM;
  switch (lo) {
    // PBLENDVB
    case 0x10: for (let i = 0; i < 16; i++) if ((load<u8>(x0 + i) & 0x80) != 0) store<u8>(d + i, load<u8>(s + i));
      return;
    // BLENDVPS
    case 0x14: for (let i = 0; i < 16; i += 4) if ((load<u32>(x0 + i) >> 31) != 0) store<u32>(d + i, load<u32>(s + i));
      return;
    // BLENDVPD
    case 0x15: for (let i = 0; i < 16; i += 8) if ((load<u64>(x0 + i) >> 63) != 0) store<u64>(d + i, load<u64>(s + i));
      return;
    case 0x17: { // PTEST
      const a0 = load<u64>(d), a1 = load<u64>(d, 8), b0 = load<u64>(s), b1 = load<u64>(s, 8);
      let f: u64 = 0;
      if (((a0 & b0) | (a1 & b1)) == 0) f |= F_ZF;
      if (((~a0 & b0) | (~a1 & b1)) == 0) f |= F_CF;
      setFlags((getFlags() & ~F_ARITH) | f);
      return;
    }
    case 0x28: // PMULDQ
      store<i64>(d, (load<i32>(d) as i64) * (load<i32>(s) as i64));
      store<i64>(d + 8, (load<i32>(d + 8) as i64) * (load<i32>(s + 8) as i64));
      return;
    case 0x29: for (let i = 0; i < 16; i += 8)
      store<u64>(d + i, load<u64>(d + i) == load<u64>(s + i) ? 0xffffffffffffffff : 0); return;
    case 0x37: for (let i = 0; i < 16; i += 8)
      store<u64>(d + i, load<i64>(d + i) > load<i64>(s + i) ? 0xffffffffffffffff : 0); return;
    case 0x2b: { // PACKUSDW
      for (let i = 0; i < 4; i++) {
        store<u16>(TMP + 2 * i, sat16u(load<i32>(d + 4 * i)) as u16);
        store<u16>(TMP + 8 + 2 * i, sat16u(load<i32>(s + 4 * i)) as u16);
      }
      memory.copy(d, TMP, 16);
      return;
    }
    case 0x38: for (let i = 0; i < 16; i++) {
      const a = load<i8>(d + i), b = load<i8>(s + i); store<i8>(d + i, a < b ? a : b);
    } return;
    case 0x3c: for (let i = 0; i < 16; i++) {
      const a = load<i8>(d + i), b = load<i8>(s + i); store<i8>(d + i, a > b ? a : b);
    } return;
    case 0x39: for (let i = 0; i < 16; i += 4) {
      const a = load<i32>(d + i), b = load<i32>(s + i); store<i32>(d + i, a < b ? a : b);
    } return;
    case 0x3d: for (let i = 0; i < 16; i += 4) {
      const a = load<i32>(d + i), b = load<i32>(s + i); store<i32>(d + i, a > b ? a : b);
    } return;
    case 0x3a: for (let i = 0; i < 16; i += 2) {
      const a = load<u16>(d + i), b = load<u16>(s + i); store<u16>(d + i, a < b ? a : b);
    } return;
    case 0x3e: for (let i = 0; i < 16; i += 2) {
      const a = load<u16>(d + i), b = load<u16>(s + i); store<u16>(d + i, a > b ? a : b);
    } return;
    case 0x3b: for (let i = 0; i < 16; i += 4) {
      const a = load<u32>(d + i), b = load<u32>(s + i); store<u32>(d + i, a < b ? a : b);
    } return;
    case 0x3f: for (let i = 0; i < 16; i += 4) {
      const a = load<u32>(d + i), b = load<u32>(s + i); store<u32>(d + i, a > b ? a : b);
    } return;
    case 0x40: for (let i = 0; i < 16; i += 4) store<u32>(d + i, load<u32>(d + i) * load<u32>(s + i)); return; // PMULLD
    default: { // 0x41 PHMINPOSUW
      let m: u32 = load<u16>(s) as u32, k: u32 = 0;
      for (let i: u32 = 1; i < 8; i++) { const v = load<u16>(s + 2 * (i as i32)) as u32; if (v < m) { m = v; k = i; } }
      store<u64>(d, (m | (k << 16)) as u64); store<u64>(d, 0, 8);
      return;
    }
  }
}

// Store v (size bytes) to the r/m operand of PEXTR*/EXTRACTPS: a register gets it zero-extended.
function extrOut(size: i32, v: u64): void {
  if (dMod() == 3) { setReg(dRm(), size == 8 ? 8 : (is64 ? 8 : 4), v); return; }
  dstMem(size, v);
}

function map3a(lo: i32, d: i32): void {
  const imm = (dImm() as i32) & 0xff;
  switch (lo) {
    case 0x14: extrOut(1, load<u8>(xr(dReg()) + (imm & 15)) as u64); return; // PEXTRB
    case 0x15: extrOut(2, load<u16>(xr(dReg()) + 2 * (imm & 7)) as u64); return; // PEXTRW
    case 0x16: // PEXTRD PEXTRQ
      if ((dRex() & 8) != 0) extrOut(8, load<u64>(xr(dReg()) + 8 * (imm & 1)));
      else extrOut(4, load<u32>(xr(dReg()) + 4 * (imm & 3)) as u64);
      return;
    case 0x17: extrOut(4, load<u32>(xr(dReg()) + 4 * (imm & 3)) as u64); return; // EXTRACTPS
    case 0x20: { // PINSRB xmm, r32/m8
      const v = dMod() == 3 ? getReg(dRm(), 4) : rmRead(1);
      if (fault) return;
      store<u8>(d + (imm & 15), v as u8);
      return;
    }
    case 0x22: { // PINSRD PINSRQ
      const w = (dRex() & 8) != 0;
      const v = rmRead(w ? 8 : 4);
      if (fault) return;
      if (w) store<u64>(d + 8 * (imm & 1), v); else store<u32>(d + 4 * (imm & 3), v as u32);
      return;
    }
    case 0x21: { // INSERTPS
      let v: u32;
      if (dMod() == 3) v = load<u32>(xr(dRm()) + 4 * ((imm >> 6) & 3));
      else { const p = srcN(4); if (p == 0) return; v = load<u32>(p); }
      store<u32>(d + 4 * ((imm >> 4) & 3), v);
      for (let i = 0; i < 4; i++) if ((imm & (1 << i)) != 0) store<u32>(d + 4 * i, 0);
      return;
    }
    case 0x08: case 0x09: case 0x0a: case 0x0b: { // ROUNDPS ROUNDPD ROUNDSS ROUNDSD
      const dbl = (lo & 1) != 0, scalar = lo >= 0x0a;
      const p = scalar ? srcN(dbl ? 8 : 4) : src128(true);
      if (p == 0) return;
      const mx = mxcsr();
      const mode = (imm & 4) != 0 ? ((mx >> 13) & 3) as i32 : imm & 3;
      const noP = (imm & 8) != 0;
      fpBegin(mx);
      const n = scalar ? 1 : (dbl ? 2 : 4);
      memory.copy(TMP, d, 16);
      for (let i = 0; i < n; i++) {
        if (dbl) store<u64>(TMP + 8 * i, fround(load<u64>(p + 8 * i), true, mode, noP));
        else store<u32>(TMP + 4 * i, fround(load<u32>(p + 4 * i) as u64, false, mode, noP) as u32);
      }
      memory.copy(d, TMP, 16);
      fpEnd();
      return;
    }
    case 0x0c: case 0x0d: case 0x0e: case 0x0f: case 0x40: case 0x41: case 0x42: break;
    case 0x60: case 0x61: case 0x62: case 0x63: pcmpstr(0x300 | lo); return;
    default: raiseUD(); return;
  }
  const s = src128(true);
  if (s == 0) return;
  switch (lo) {
    // BLENDPS
    case 0x0c: for (let i = 0; i < 4; i++) if ((imm & (1 << i)) != 0) store<u32>(d + 4 * i, load<u32>(s + 4 * i));
      return;
    // BLENDPD
    case 0x0d: for (let i = 0; i < 2; i++) if ((imm & (1 << i)) != 0) store<u64>(d + 8 * i, load<u64>(s + 8 * i));
      return;
    // PBLENDW
    case 0x0e: for (let i = 0; i < 8; i++) if ((imm & (1 << i)) != 0) store<u16>(d + 2 * i, load<u16>(s + 2 * i));
      return;
    case 0x0f: palignr(d, s, 16, imm); return;
    case 0x40: { // DPPS: products under imm[7:4] (others +0.0), summed per lane, written under imm[3:0]
      fpBegin(mxcsr());
      for (let i = 0; i < 4; i++) {
        const t: u64 =
          (imm & (16 << i)) != 0 ? fmul(load<u32>(d + 4 * i) as u64, load<u32>(s + 4 * i) as u64, false) : 0;
        store<u32>(TMP + 4 * i, t as u32);
      }
      // Intel sums each lane in its own order (docs/CPU-FLAGS.md): lane i adds (t[a] + t[a^1]) + (t[a^2] + t[a^3])
      // with a = i ^ 1. The values agree; which NaN comes out of a sum of several does not.
      const t0 = load<u32>(TMP) as u64, t1 = load<u32>(TMP, 4) as u64, t2 = load<u32>(TMP, 8) as u64,
        t3 = load<u32>(TMP, 12) as u64;
      const p01 = fadd(t0, t1, false, false), p10 = fadd(t1, t0, false, false);
      const p23 = fadd(t2, t3, false, false), p32 = fadd(t3, t2, false, false);
      const r0 = fadd(p10, p32, false, false) as u32, r1 = fadd(p01, p23, false, false) as u32;
      const r2 = fadd(p32, p10, false, false) as u32, r3 = fadd(p23, p01, false, false) as u32;
      store<u32>(d, (imm & 1) != 0 ? r0 : 0);
      store<u32>(d, (imm & 2) != 0 ? r1 : 0, 4);
      store<u32>(d, (imm & 4) != 0 ? r2 : 0, 8);
      store<u32>(d, (imm & 8) != 0 ? r3 : 0, 12);
      fpEnd();
      return;
    }
    case 0x41: { // DPPD: lane i adds t[i] + t[i^1] (Intel's order; docs/CPU-FLAGS.md)
      fpBegin(mxcsr());
      const t0: u64 = (imm & 16) != 0 ? fmul(load<u64>(d), load<u64>(s), true) : 0;
      const t1: u64 = (imm & 32) != 0 ? fmul(load<u64>(d, 8), load<u64>(s, 8), true) : 0;
      const r0 = fadd(t0, t1, true, false), r1 = fadd(t1, t0, true, false);
      store<u64>(d, (imm & 1) != 0 ? r0 : 0);
      store<u64>(d, (imm & 2) != 0 ? r1 : 0, 8);
      fpEnd();
      return;
    }
    default: { // 0x42 MPSADBW
      const o1 = (imm & 4) != 0 ? 4 : 0, o2 = (imm & 3) * 4;
      for (let i = 0; i < 8; i++) {
        let sum = 0;
        for (let j = 0; j < 4; j++) {
          const a = load<u8>(d + o1 + i + j) as i32, b = load<u8>(s + o2 + j) as i32;
          sum += a > b ? a - b : b - a;
        }
        store<u16>(TMP + 2 * i, sum as u16);
      }
      memory.copy(d, TMP, 16);
      return;
    }
  }
}
