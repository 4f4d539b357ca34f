// Execution of one decoded instruction: a dense switch over the opcode ids of decode.ts (the same ids
// as optable.ts), compiled to a br_table. User-level instructions are done here; system instructions
// and protected-mode mechanics call into system.ts.
import {
  SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, CPU_STATE, CPU_CR0, CPU_CR4, CPU_SEG, SEG_SIZE,
  CPU_MSR_KGSBASE, EXIT_HLT,
} from "../memmap";
import {
  reg64, setReg64, reg32, setReg32, reg16, setReg16, reg8off, reg8, setReg8, getReg, setReg,
  RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, nextIp, is64, segSel, segBase, cpl, mode, stackSize,
  F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF, F_DF, F_ARITH, F_TF, F_IF, F_AC, F_ID, F_RF, F_VM, F_IOPL, F_NT,
  setSeg,
} from "./state";
import { CR0_TS, CR0_MP, CR0_EM, CR4_OSFXSR, CR4_FSGSBASE, ACC_U } from "../bits";
import {
  getFlags, setFlags, getCF, getZF, cond, setLazy, setLazyIncDec, LF_INC, LF_DEC, LF_LOGIC, LF_SUB,
  sizeMask, signBit, szp,
} from "./flags";
import { fault, raise, raiseUD, raiseGP, raiseDE, EX_BR, NO_ERR, raiseNM } from "./fault";
import {
  dOp, dPfx, dSeg, dRex, dOs, dAs, dMod, dReg, dRm, dImm, dImm2, dLen, P_LOCK, P_REP, P_REPNE, P_OPSZ,
} from "./decode";
import { opAttr, A_INV64, OP_UD } from "./optable";
import { ea, opSeg, linear, memLin, rmRead, rmWrite, regRead, regWrite, maskAs } from "./ea";
import { rdN, wrN, rmwHost, readAcc, writeAcc, probeWrite, NO_HOST } from "../mmu/tlb";
import { alu, shift, shiftNop, shiftDouble, mul64, imul64, mulHi, mulFlags, udiv128, divRem, bsfFlags } from "./alu";
import { push, pop, peek, spGet, spSet, spMask, spAdd } from "./stack";
import { movs, cmps, stos, lods, scas, ins, outs } from "./string";
import * as sys from "./system";
import { sseOp, group15Mem } from "./sse";
import { x87Op, fpPendingMF } from "./x87";
import { vexOp } from "./bmi";

// ---- read-modify-write operands ----
let rmwL: u64 = 0;
let rmwP: i32 = 0;

// Prepare the r/m operand for read-modify-write; false after a fault. After it, rmwGet/rmwPut cannot
// fault, so the instruction completes whole.
function rmwBegin(size: i32): bool {
  if (dMod() == 3) return true;
  rmwL = memLin(size, true);
  if (fault) return false;
  rmwP = rmwHost(rmwL, size);
  return rmwP != NO_HOST;
}
function rmwGet(size: i32): u64 {
  if (dMod() == 3) {
    if (size == 1) return reg8(reg8off(dRm(), dRex() != 0)) as u64;
    return getReg(dRm(), size);
  }
  if (rmwP != 0) { // (0: the operand crosses a page)
    if (size == 4) return load<u32>(rmwP) as u64;
    if (size == 8) return load<u64>(rmwP);
    if (size == 1) return load<u8>(rmwP) as u64;
    return load<u16>(rmwP) as u64;
  }
  return rdN(rmwL, size);
}
function rmwPut(size: i32, v: u64): void {
  if (dMod() == 3) {
    if (size == 1) setReg8(reg8off(dRm(), dRex() != 0), v as u32);
    else setReg(dRm(), size, v);
    return;
  }
  if (rmwP != 0) { // (0: the operand crosses a page)
    if (size == 4) store<u32>(rmwP, v as u32);
    else if (size == 8) store<u64>(rmwP, v);
    else if (size == 1) store<u8>(rmwP, v as u8);
    else store<u16>(rmwP, v as u16);
    return;
  }
  wrN(rmwL, size, v);
}

// ---- helpers ----
@inline function ipMask(v: u64): u64 {
  if (is64) return v;
  return dOs() == 2 ? v & 0xffff : v & 0xffffffff;
}
function jumpRel(rel: u64): void {
  const t = ipMask(nextIp + rel);
  if (is64 && (((t << 16) as i64) >> 16) as u64 != t) { raiseGP(0); return; }
  nextIp = t;
}
@inline function immOs(): u64 { return dImm() & sizeMask(dOs()); }

// ALU forms 00-3D: k = op >> 3, form = op & 7.
function aluForm(op: i32): void {
  const k = (op >> 3) & 7;
  const form = op & 7;
  if (form == 4 || form == 5) {
    const size = form == 4 ? 1 : dOs();
    const a = size == 1 ? reg64(RAX) & 0xff : getReg(RAX, size);
    const r = alu(k, size, a, dImm());
    if (k != 7) { if (size == 1) setReg8(0, r as u32); else setReg(RAX, size, r); }
    return;
  }
  const size = (form & 1) == 0 ? 1 : dOs();
  if (dMod() == 3 && size != 1) { // register, register (the common case): no operand decoding
    const rm = dRm(), rg = dReg();
    if (form < 2) {
      const r = alu(k, size, getReg(rm, size), getReg(rg, size));
      if (k != 7) setReg(rm, size, r);
    } else {
      const r = alu(k, size, getReg(rg, size), getReg(rm, size));
      if (k != 7) setReg(rg, size, r);
    }
    return;
  }
  if (form < 2) { // r/m, reg
    if (k == 7) {
      const a = rmRead(size);
      if (fault) return;
      alu(7, size, a, regRead(size));
      return;
    }
    if (!rmwBegin(size)) return;
    const r = alu(k, size, rmwGet(size), regRead(size));
    rmwPut(size, r);
  } else { // reg, r/m
    const b = rmRead(size);
    if (fault) return;
    const r = alu(k, size, regRead(size), b);
    if (k != 7) regWrite(size, r);
  }
}

// Group 1 (80-83): op with imm.
function group1(size: i32): void {
  const k = dReg() & 7;
  if (k == 7) {
    const a = rmRead(size);
    if (fault) return;
    alu(7, size, a, dImm());
    return;
  }
  if (!rmwBegin(size)) return;
  rmwPut(size, alu(k, size, rmwGet(size), dImm()));
}

function group2(size: i32, count: u32): void {
  if (!rmwBegin(size)) return;
  const r = shift(dReg() & 7, size, rmwGet(size), count);
  if (!shiftNop) rmwPut(size, r);
  else if (size == 4 && dMod() == 3) rmwPut(4, rmwGet(4)); // a 32-bit register write zero-extends, count 0 too
}

function incDec(size: i32, dec: bool): void {
  if (!rmwBegin(size)) return;
  const a = rmwGet(size) & sizeMask(size);
  const r = (dec ? a - 1 : a + 1) & sizeMask(size);
  rmwPut(size, r);
  setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, r);
}

// Group 3 (F6/F7): TEST NOT NEG MUL IMUL DIV IDIV.
function group3(size: i32): void {
  const k = dReg() & 7;
  const m = sizeMask(size);
  switch (k) {
    case 0: case 1: {
      const a = rmRead(size);
      if (fault) return;
      alu(4, size, a, dImm());
      return;
    }
    case 2: {
      if (!rmwBegin(size)) return;
      rmwPut(size, ~rmwGet(size) & m);
      return;
    }
    case 3: {
      if (!rmwBegin(size)) return;
      const b = rmwGet(size) & m;
      const r = (0 - b) & m;
      rmwPut(size, r);
      setLazy(LF_SUB, size, 0, b, r);
      return;
    }
    default: break;
  }
  const src = rmRead(size) & m;
  if (fault) return;
  if (k == 4 || k == 5) { mulDiv(k, size, src); return; }
  divide(k == 7, size, src);
}

function mulDiv(k: i32, size: i32, src: u64): void {
  const signed = k == 5;
  if (size == 1) {
    const a = reg64(RAX) & 0xff;
    let r: u64;
    let ovf: bool;
    if (signed) {
      r = ((<i64><i8>a) * (<i64><i8>src)) as u64 & 0xffff;
      ovf = (<i64><i16>r) != (<i64><i8>r);
    } else { r = a * src; ovf = (r >> 8) != 0; }
    setReg16(RAX, r as u32);
    mulFlags(1, r, ovf);
    return;
  }
  if (size == 8) {
    const a = reg64(RAX);
    let lo: u64;
    let ovf: bool;
    if (signed) { lo = imul64(a, src); ovf = mulHi != (((lo as i64) >> 63) as u64); }
    else { lo = mul64(a, src); ovf = mulHi != 0; }
    setReg64(RAX, lo); setReg64(RDX, mulHi);
    mulFlags(8, lo, ovf);
    return;
  }
  const bits = (size << 3) as u64;
  const m = sizeMask(size);
  const a = getReg(RAX, size);
  let full: u64;
  let ovf: bool;
  if (signed) {
    const sa = size == 2 ? <i64><i16>a : <i64><i32>a;
    const ss = size == 2 ? <i64><i16>src : <i64><i32>src;
    const p = sa * ss;
    full = p as u64;
    const lo = full & m;
    const slo = size == 2 ? <i64><i16>lo : <i64><i32>lo;
    ovf = slo != p;
  } else {
    full = a * src;
    ovf = (full >> bits) != 0;
  }
  setReg(RAX, size, full & m);
  setReg(RDX, size, (full >> bits) & m);
  mulFlags(size, full & m, ovf);
}

function divide(signed: bool, size: i32, src: u64): void {
  if (src == 0) { raiseDE(); return; }
  const m = sizeMask(size);
  const bits = (size << 3) as u64;
  if (size == 8) {
    const hi = reg64(RDX), lo = reg64(RAX);
    let q: u64, r: u64;
    if (!signed) {
      if (hi >= src) { raiseDE(); return; }
      q = udiv128(hi, lo, src); r = divRem;
    } else {
      const neg = (hi as i64) < 0;
      let h = hi, l = lo;
      if (neg) { l = ~l + 1; h = ~h + (l == 0 ? 1 : 0); }
      const dneg = (src as i64) < 0;
      const d = dneg ? (0 - src) : src;
      if (h >= d) { raiseDE(); return; }
      let uq = udiv128(h, l, d);
      let ur = divRem;
      const qneg = neg != dneg;
      if (qneg) { if (uq > 0x8000000000000000) { raiseDE(); return; } q = 0 - uq; }
      else { if (uq > 0x7fffffffffffffff) { raiseDE(); return; } q = uq; }
      r = neg ? 0 - ur : ur;
    }
    setReg64(RAX, q); setReg64(RDX, r);
    return;
  }
  let dividend: u64;
  if (size == 1) dividend = reg64(RAX) & 0xffff;
  else dividend = ((getReg(RDX, size) << bits) | getReg(RAX, size));
  let q: u64, r: u64;
  if (!signed) {
    q = dividend / src; r = dividend % src;
    if (q > m) { raiseDE(); return; }
  } else {
    const sd: i64 = size == 1 ? <i64><i16>dividend : (size == 2 ? <i64><i32>dividend : dividend as i64);
    const ss: i64 = size == 1 ? <i64><i8>src : (size == 2 ? <i64><i16>src : <i64><i32>src);
    if (ss == -1 && sd == i64.MIN_VALUE) { raiseDE(); return; }
    const sq = sd / ss;
    const sr = sd % ss;
    const lim: i64 = (1 as i64) << ((bits - 1) as i64);
    if (sq >= lim || sq < -lim) { raiseDE(); return; }
    q = (sq as u64) & m; r = (sr as u64) & m;
  }
  if (size == 1) { setReg16(RAX, ((r << 8) | (q & 0xff)) as u32); }
  else { setReg(RAX, size, q); setReg(RDX, size, r); }
}

// IMUL r, r/m (, imm): truncated product, CF=OF on overflow.
function imul2(size: i32, a: u64, b: u64): void {
  const m = sizeMask(size);
  let r: u64;
  let ovf: bool;
  if (size == 8) { r = imul64(a, b); ovf = mulHi != (((r as i64) >> 63) as u64); }
  else {
    const sa = size == 2 ? <i64><i16>a : <i64><i32>a;
    const sb = size == 2 ? <i64><i16>b : <i64><i32>b;
    const p = sa * sb;
    r = (p as u64) & m;
    const sr = size == 2 ? <i64><i16>r : <i64><i32>r;
    ovf = sr != p;
  }
  regWrite(size, r & m);
  mulFlags(size, r & m, ovf);
}

// Group 4/5 (FE/FF).
function group5(): void {
  const k = dReg() & 7;
  const size = dOp() == 0xfe ? 1 : dOs();
  if (k == 0 || k == 1) { incDec(size, k == 1); return; }
  if (dOp() == 0xfe) { raiseUD(); return; }
  switch (k) {
    case 2: { // CALL near r/m
      const os = is64 ? 8 : dOs();
      const t = rmRead(os);
      if (fault) return;
      if (is64 && (((t << 16) as i64) >> 16) as u64 != t) { raiseGP(0); return; }
      if (!push(os, nextIp)) return;
      nextIp = t;
      return;
    }
    case 4: { // JMP near r/m
      const os = is64 ? 8 : dOs();
      const t = rmRead(os);
      if (fault) return;
      if (is64 && (((t << 16) as i64) >> 16) as u64 != t) { raiseGP(0); return; }
      nextIp = t;
      return;
    }
    case 3: case 5: { // CALL/JMP far m16:16/32/64
      if (dMod() == 3) { raiseUD(); return; }
      const lin = memLin(dOs() + 2, false);
      if (fault) return;
      const off = rdN(lin, dOs());
      if (fault) return;
      const sel = rdN(lin + (dOs() as u64), 2) as u32;
      if (fault) return;
      if (k == 3) sys.farCall(sel, off, dOs(), nextIp); else sys.farJmp(sel, off, dOs());
      return;
    }
    case 6: { // PUSH r/m: 64-bit by default in 64-bit mode
      const os = is64 ? ((dPfx() & P_OPSZ) != 0 ? 2 : 8) : dOs();
      const v = rmRead(os);
      if (fault) return;
      push(os, v);
      return;
    }
    default: raiseUD(); return;
  }
}

// BT/BTS/BTR/BTC: k 0 BT, 1 BTS, 2 BTR, 3 BTC. Register bit offsets address memory beyond the operand.
function bitOp(k: i32, bitoff: u64, isImm: bool): void {
  const size = dOs();
  const bits = (size << 3) as u64;
  if (dMod() == 3) {
    const b = bitoff & (bits - 1);
    const v = getReg(dRm(), size);
    const cf = ((v >> b) & 1) != 0;
    let r = v;
    if (k == 1) r = v | ((<u64>1) << b); else if (k == 2) r = v & ~((<u64>1) << b);
    else if (k == 3) r = v ^ ((<u64>1) << b);
    if (k != 0) setReg(dRm(), size, r);
    setFlags((getFlags() & ~F_CF) | (cf ? F_CF : 0));
    return;
  }
  let off = ea();
  let b: u64;
  if (isImm) b = bitoff & (bits - 1);
  else {
    // Signed bit offset: the operand is at ea + (offset >> log2(bits)) * size.
    const so: i64 = size == 2 ? <i64><i16>bitoff : (size == 4 ? <i64><i32>bitoff : bitoff as i64);
    const disp = (so >> (size == 2 ? 4 : size == 4 ? 5 : 6)) * (size as i64);
    off = maskAs(off + (disp as u64), dAs());
    b = (so as u64) & (bits - 1);
  }
  const seg = opSeg();
  if (k == 0) {
    const lin = linear(seg, off, size, false);
    if (fault) return;
    const v = rdN(lin, size);
    if (fault) return;
    setFlags((getFlags() & ~F_CF) | (((v >> b) & 1) != 0 ? F_CF : 0));
    return;
  }
  rmwL = linear(seg, off, size, true);
  if (fault) return;
  rmwP = rmwHost(rmwL, size);
  if (rmwP == NO_HOST) return;
  const saveMod = dMod();
  const v = rmwGetMem(size);
  const cf = ((v >> b) & 1) != 0;
  let r = v;
  if (k == 1) r = v | ((<u64>1) << b); else if (k == 2) r = v & ~((<u64>1) << b); else r = v ^ ((<u64>1) << b);
  rmwPutMem(size, r);
  setFlags((getFlags() & ~F_CF) | (cf ? F_CF : 0));
}
function rmwGetMem(size: i32): u64 {
  if (rmwP != 0) { // (0: the operand crosses a page)
    if (size == 4) return load<u32>(rmwP) as u64;
    if (size == 8) return load<u64>(rmwP);
    return load<u16>(rmwP) as u64;
  }
  return rdN(rmwL, size);
}
function rmwPutMem(size: i32, v: u64): void {
  if (rmwP != 0) { // (0: the operand crosses a page)
    if (size == 4) store<u32>(rmwP, v as u32);
    else if (size == 8) store<u64>(rmwP, v);
    else store<u16>(rmwP, v as u16);
    return;
  }
  wrN(rmwL, size, v);
}

// Whether a LOCK prefix is allowed on the decoded instruction (decode.ts turns a bad one into OP_UD).


// MOV Sreg / POP Sreg / LxS.
function loadFarPtr(s: i32): void {
  if (dMod() == 3) { raiseUD(); return; }
  const lin = memLin(dOs() + 2, false);
  if (fault) return;
  const off = rdN(lin, dOs());
  if (fault) return;
  const sel = rdN(lin + (dOs() as u64), 2) as u32;
  if (fault) return;
  if (!sys.loadSeg(s, sel)) return;
  regWrite(dOs(), off);
}

// BCD adjust instructions (32-bit modes only).
function bcd(op: i32): void {
  let al = reg64(RAX) & 0xff;
  let f = getFlags();
  let cf = (f & F_CF) != 0;
  let af = (f & F_AF) != 0;
  switch (op) {
    case 0x27: case 0x2f: { // DAA / DAS
      const oldAl = al, oldCf = cf;
      cf = false;
      if ((al & 0xf) > 9 || af) {
        if (op == 0x27) { al = (al + 6) & 0xff; cf = oldCf || (oldAl + 6) > 0xff; }
        else { cf = oldCf || oldAl < 6; al = (al - 6) & 0xff; }
        af = true;
      } else af = false;
      if (oldAl > 0x99 || oldCf) { al = op == 0x27 ? (al + 0x60) & 0xff : (al - 0x60) & 0xff; cf = true; }
      else if (op == 0x27) cf = false; // DAA only: DAS keeps the borrow of its low-nibble step (SDM)
      setReg8(0, al as u32);
      setFlags((f & ~F_ARITH) | szp(1, al) | (cf ? F_CF : 0) | (af ? F_AF : 0));
      return;
    }
    case 0x37: case 0x3f: { // AAA / AAS
      let ax = reg64(RAX) & 0xffff;
      if ((al & 0xf) > 9 || af) {
        ax = op == 0x37 ? ax + 0x106 : ax - 0x106;
        af = true; cf = true;
      } else { af = false; cf = false; }
      ax = (ax & 0xff0f);
      setReg16(RAX, ax as u32);
      setFlags((f & ~F_ARITH) | szp(1, ax & 0xff) | (cf ? F_CF : 0) | (af ? F_AF : 0));
      return;
    }
    case 0xd4: { // AAM imm8
      const base = dImm() & 0xff;
      if (base == 0) { raiseDE(); return; }
      const ah = al / base, nal = al % base;
      setReg16(RAX, ((ah << 8) | nal) as u32);
      setFlags((f & ~F_ARITH) | szp(1, nal));
      return;
    }
    default: { // 0xd5 AAD imm8
      const base = dImm() & 0xff;
      const ah = (reg64(RAX) >> 8) & 0xff;
      const nal = (al + ah * base) & 0xff;
      setReg16(RAX, nal as u32);
      setFlags((f & ~F_ARITH) | szp(1, nal));
      return;
    }
  }
}

function enter(): void {
  const size = dOs();
  const alloc = dImm() & 0xffff;
  const level = (dImm2() & 31) as i32;
  const bpSize = stackSize;
  // Check the whole frame area first, so that nothing is half done.
  const frameBytes = (size * (level + 1)) as u64;
  const sp0 = spGet();
  const lowSp = spMask(sp0 - frameBytes - alloc);
  const chk = linear(SEG_SS, spMask(sp0 - frameBytes), frameBytes as i32, true);
  if (fault) return;
  if (!probeWrite(chk, frameBytes as i32)) return;
  let rbp = getReg(RBP, bpSize == 8 ? 8 : bpSize);
  if (!push(size, getReg(RBP, size))) return;
  const frame = spGet();
  if (level > 0) {
    for (let i = 1; i < level; i++) {
      rbp = spMask(rbp - (size as u64));
      const v = rdN(linear(SEG_SS, rbp, size, false), size);
      if (fault) return;
      if (!push(size, v)) return;
    }
    if (!push(size, frame)) return;
  }
  if (alloc != 0) {
    linear(SEG_SS, lowSp, 1, true);
    if (fault) return;
  }
  setReg(RBP, bpSize == 8 ? 8 : (size == 2 ? 2 : bpSize), frame);
  spSet(lowSp);
}

function leave(): void {
  const bp = getReg(RBP, stackSize);
  const lin = linear(SEG_SS, bp, dOs(), false);
  if (fault) return;
  const v = rdN(lin, dOs());
  if (fault) return;
  spSet(spMask(bp + (dOs() as u64)));
  setReg(RBP, dOs(), v);
}

function cmpxchg(size: i32): void {
  if (!rmwBegin(size)) return;
  const m = sizeMask(size);
  const d = rmwGet(size) & m;
  const a = size == 1 ? reg64(RAX) & 0xff : getReg(RAX, size);
  alu(7, size, a, d);
  if (a == d) rmwPut(size, regRead(size));
  else {
    if (dMod() != 3) rmwPut(size, d); // the processor always writes the destination
    if (size == 1) setReg8(0, d as u32); else setReg(RAX, size, d);
  }
}

function cmpxchg8b16b(): void {
  if (dMod() == 3) { raiseUD(); return; }
  const wide = (dRex() & 8) != 0;
  const size = wide ? 16 : 8;
  const off = ea();
  if (wide && (off & 15) != 0) { raiseGP(0); return; }
  const lin = linear(opSeg(), off, size, true);
  if (fault) return;
  if (!probeWrite(lin, size)) return;
  if (!wide) {
    const v = rdN(lin, 8);
    const cmp = (reg64(RDX) << 32) | (reg64(RAX) & 0xffffffff);
    if (v == cmp) {
      wrN(lin, 8, (reg64(RCX) << 32) | (reg64(RBX) & 0xffffffff));
      setFlags(getFlags() | F_ZF);
    } else {
      wrN(lin, 8, v);
      setReg32(RAX, v as u32); setReg32(RDX, (v >> 32) as u32);
      setFlags(getFlags() & ~F_ZF);
    }
    return;
  }
  const lo = rdN(lin, 8), hi = rdN(lin + 8, 8);
  if (lo == reg64(RAX) && hi == reg64(RDX)) {
    wrN(lin, 8, reg64(RBX)); wrN(lin + 8, 8, reg64(RCX));
    setFlags(getFlags() | F_ZF);
  } else {
    wrN(lin, 8, lo); wrN(lin + 8, 8, hi);
    setReg64(RAX, lo); setReg64(RDX, hi);
    setFlags(getFlags() & ~F_ZF);
  }
}

function xadd(size: i32): void {
  if (!rmwBegin(size)) return;
  const d = rmwGet(size);
  const s = regRead(size);
  const r = alu(0, size, d, s);
  regWrite(size, d & sizeMask(size)); // the source register first: with the same register, the sum wins
  rmwPut(size, r);
}

function xchgRm(size: i32): void {
  if (!rmwBegin(size)) return;
  const d = rmwGet(size);
  const s = regRead(size);
  rmwPut(size, s);
  regWrite(size, d);
}

function bitScan(op: i32): void {
  const size = dOs();
  const v = rmRead(size) & sizeMask(size);
  if (fault) return;
  const bits = (size << 3) as u64;
  const rep = (dPfx() & P_REP) != 0;
  if (op == 0x1b8) { // POPCNT
    if (!rep) { raiseUD(); return; }
    const c = popcnt<u64>(v);
    regWrite(size, c);
    setFlags((getFlags() & ~F_ARITH) | (v == 0 ? F_ZF : 0));
    return;
  }
  // F3 0F BC is TZCNT (CPUID BMI1), F3 0F BD LZCNT (CPUID ABM/LZCNT): CF = source zero, ZF = result
  // zero; OF SF AF PF (undefined) cleared.
  if (rep) {
    const c: u64 = v == 0 ? bits : op == 0x1bc ? ctz<u64>(v) : clz<u64>(v) - (64 - bits);
    regWrite(size, c);
    setFlags((getFlags() & ~F_ARITH) | (v == 0 ? F_CF : 0) | (c == 0 ? F_ZF : 0));
    return;
  }
  if (v == 0) { bsfFlags(true); return; } // destination unchanged
  const c: u64 = op == 0x1bc ? ctz<u64>(v) : 63 - clz<u64>(v);
  regWrite(size, c);
  bsfFlags(false);
}

function movCrDr(op: i32): void {
  const size = is64 ? 8 : 4;
  const n = dReg();
  const r = dRm();
  switch (op) {
    case 0x120: { const v = sys.movFromCr(n); if (!fault) setReg(r, size, v); return; }
    case 0x122: sys.movToCr(n, getReg(r, size)); return;
    case 0x121: { const v = sys.movFromDr(n); if (!fault) setReg(r, size, v); return; }
    default: sys.movToDr(n, getReg(r, size)); return;
  }
}

function group6(): void {
  switch (dReg() & 7) {
    case 0: {
      const v = sys.sldt(); if (!fault) { if (dMod() == 3) setReg(dRm(), dOs(), v); else rmWrite(2, v); } return;
    }
    case 1: {
      const v = sys.str_(); if (!fault) { if (dMod() == 3) setReg(dRm(), dOs(), v); else rmWrite(2, v); } return;
    }
    case 2: { const v = rmRead(2); if (!fault) sys.lldt(v as u32); return; }
    case 3: { const v = rmRead(2); if (!fault) sys.ltr(v as u32); return; }
    case 4: { const v = rmRead(2); if (!fault) sys.verr(v as u32); return; }
    case 5: { const v = rmRead(2); if (!fault) sys.verw(v as u32); return; }
    default: raiseUD(); return;
  }
}

function group7(): void {
  const k = dReg() & 7;
  if (dMod() == 3) {
    const rm = dRm() & 7;
    if (k == 7 && rm == 0) { sys.swapgs(); return; }
    if (k == 7 && rm == 1) { sys.rdtscp(); return; }
    if (k == 4) { const v = sys.smsw(); if (!fault) setReg(dRm(), dOs(), v); return; }
    if (k == 6) { sys.lmsw(getReg(dRm(), 2) as u32); return; }
    if (k == 1 && (rm == 2 || rm == 3)) { // CLAC/STAC
      if (cpl() != 0) { raiseUD(); return; }
      const f = getFlags();
      setFlags(rm == 2 ? f & ~F_AC : f | F_AC);
      return;
    }
    raiseUD();
    return;
  }
  const lin = memLin(2, k < 2 || k == 4);
  if (fault) return;
  switch (k) {
    case 0: sys.sgdt(lin); return;
    case 1: sys.sidt(lin); return;
    case 2: sys.lgdt(lin); return;
    case 3: sys.lidt(lin); return;
    case 4: { const v = sys.smsw(); if (!fault) wrN(lin, 2, v); return; }
    case 6: { const v = rdN(lin, 2); if (!fault) sys.lmsw(v as u32); return; }
    case 7: sys.invlpg(lin); return;
    default: raiseUD(); return;
  }
}

function group15(): void {
  const k = dReg() & 7;
  if (dMod() == 3) {
    if ((dPfx() & P_REP) != 0 && k < 4 && is64) { // RD/WR FS/GS BASE
      if ((load<u64>(CPU_STATE + CPU_CR4) & CR4_FSGSBASE) == 0) { raiseUD(); return; }
      const s = (k & 1) == 0 ? SEG_FS : SEG_GS;
      const size = (dRex() & 8) != 0 ? 8 : 4;
      if (k < 2) { setReg(dRm(), size, segBase(s)); return; }
      const v = getReg(dRm(), size);
      if ((((v << 16) as i64) >> 16) as u64 != v) { raiseGP(0); return; }
      store<u64>(CPU_STATE + CPU_SEG + s * SEG_SIZE + 8, v);
      return;
    }
    if (k >= 5) return; // LFENCE MFENCE SFENCE
    raiseUD();
    return;
  }
  if (k == 7) { memLin(1, false); return; } // CLFLUSH: address checks only
  if (k <= 3) { group15Mem(k); return; } // FXSAVE FXRSTOR LDMXCSR STMXCSR
  raiseUD(); // XSAVE XRSTOR XSAVEOPT: not offered by CPUID
}

// PUSHA/POPA (32-bit modes).
function pusha(): void {
  const size = dOs();
  const sp0 = spGet();
  const lin = linear(SEG_SS, spMask(sp0 - ((size * 8) as u64)), size * 8, true);
  if (fault) return;
  if (!probeWrite(lin, size * 8)) return;
  for (let r = 0; r < 8; r++) push(size, r == RSP ? sp0 : getReg(r, size));
}
function popa(): void {
  const size = dOs();
  const lin = linear(SEG_SS, spGet(), size * 8, false);
  if (fault) return;
  const vals = SCRATCH_POPA;
  for (let i = 0; i < 8; i++) {
    const v = peek(size, i * size);
    if (fault) return;
    store<u64>(vals + (i << 3), v);
  }
  for (let i = 0; i < 8; i++) {
    const r = 7 - i;
    if (r != RSP) setReg(r, size, load<u64>(vals + (i << 3)));
  }
  spAdd((size * 8) as u64);
}
const SCRATCH_POPA = 0x101000 + 0xf00; // 64 bytes in SCRATCH

function pushSeg(s: i32): void {
  const v = segSel(s) as u64;
  // A segment push with 32/64-bit operand size writes 2 bytes on current CPUs; RSP moves by the size.
  const sp = spMask(spGet() - (dOs() as u64));
  const lin = linear(SEG_SS, sp, dOs(), true);
  if (fault) return;
  if (!probeWrite(lin, dOs())) return;
  wrN(lin, 2, v);
  spSet(sp);
}
function popSeg(s: i32): void {
  const v = peek(dOs(), 0);
  if (fault) return;
  if (!sys.loadSeg(s, (v & 0xffff) as u32)) return;
  spAdd(dOs() as u64);
}

function retNear(imm: u64): void {
  const os = dOs();
  const t = peek(os, 0);
  if (fault) return;
  if (is64 && (((t << 16) as i64) >> 16) as u64 != t) { raiseGP(0); return; }
  spAdd((os as u64) + imm);
  nextIp = os == 2 ? t & 0xffff : t;
}

export function execute(): void {
  const op = dOp();
  switch (op) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05:
    case 0x08: case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d:
    case 0x10: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15:
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25:
    case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d:
    case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35:
    case 0x38: case 0x39: case 0x3a: case 0x3b: case 0x3c: case 0x3d:
      aluForm(op); return;
    case 0x06: pushSeg(SEG_ES); return;
    case 0x07: popSeg(SEG_ES); return;
    case 0x0e: pushSeg(SEG_CS); return;
    case 0x16: pushSeg(SEG_SS); return;
    case 0x17: popSeg(SEG_SS); return;
    case 0x1e: pushSeg(SEG_DS); return;
    case 0x1f: popSeg(SEG_DS); return;
    case 0x27: case 0x2f: case 0x37: case 0x3f: bcd(op); return;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47: {
      const r = op & 7, s = dOs();
      const a = getReg(r, s), v = (a + 1) & sizeMask(s);
      setReg(r, s, v); setLazyIncDec(LF_INC, s, a, v); return;
    }
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const r = op & 7, s = dOs();
      const a = getReg(r, s), v = (a - 1) & sizeMask(s);
      setReg(r, s, v); setLazyIncDec(LF_DEC, s, a, v); return;
    }
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      push(dOs(), getReg((op & 7) | ((dRex() & 1) << 3), dOs())); return;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
      const v = pop(dOs());
      if (!fault) setReg((op & 7) | ((dRex() & 1) << 3), dOs(), v);
      return;
    }
    case 0x60: pusha(); return;
    case 0x61: popa(); return;
    case 0x62: { // BOUND
      if (dMod() == 3) { raiseUD(); return; }
      const lin = memLin(dOs() * 2, false);
      if (fault) return;
      const lo = rdN(lin, dOs()), hi = rdN(lin + (dOs() as u64), dOs());
      if (fault) return;
      const v = regRead(dOs());
      const sv = dOs() == 2 ? <i64><i16>v : <i64><i32>v;
      const sl = dOs() == 2 ? <i64><i16>lo : <i64><i32>lo;
      const sh = dOs() == 2 ? <i64><i16>hi : <i64><i32>hi;
      if (sv < sl || sv > sh) raise(EX_BR, NO_ERR);
      return;
    }
    case 0x63: {
      if (is64) { // MOVSXD
        const v = rmRead(4);
        if (fault) return;
        regWrite(dOs(), dOs() == 8 ? <u64><i64><i32>v : v);
        return;
      }
      // ARPL
      if (!rmwBegin(2)) return;
      const d = rmwGet(2), s = regRead(2);
      if ((d & 3) < (s & 3)) { rmwPut(2, (d & ~3) | (s & 3)); setFlags(getFlags() | F_ZF); }
      else setFlags(getFlags() & ~F_ZF);
      return;
    }
    case 0x68: case 0x6a: push(dOs(), immOs()); return;
    case 0x69: case 0x6b: {
      const b = rmRead(dOs());
      if (fault) return;
      imul2(dOs(), b, dImm());
      return;
    }
    case 0x6c: ins(1); return;
    case 0x6d: ins(dOs() == 8 ? 4 : dOs()); return;
    case 0x6e: outs(1); return;
    case 0x6f: outs(dOs() == 8 ? 4 : dOs()); return;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (cond(op & 15)) jumpRel(dImm());
      return;
    case 0x80: case 0x82: group1(1); return;
    case 0x81: case 0x83: group1(dOs()); return;
    case 0x84: case 0x85: {
      const s = op == 0x84 ? 1 : dOs();
      const a = rmRead(s);
      if (fault) return;
      alu(4, s, a, regRead(s));
      return;
    }
    case 0x86: xchgRm(1); return;
    case 0x87: xchgRm(dOs()); return;
    case 0x88: rmWrite(1, regRead(1)); return;
    case 0x89: rmWrite(dOs(), regRead(dOs())); return;
    case 0x8a: { const v = rmRead(1); if (!fault) regWrite(1, v); return; }
    case 0x8b: { const v = rmRead(dOs()); if (!fault) regWrite(dOs(), v); return; }
    case 0x8c: { // MOV r/m, Sreg
      if ((dReg() & 7) > 5) { raiseUD(); return; }
      const v = segSel(dReg() & 7) as u64;
      if (dMod() == 3) setReg(dRm(), dOs(), v); else rmWrite(2, v);
      return;
    }
    case 0x8d: if (dMod() == 3) { raiseUD(); return; } regWrite(dOs(), ea()); return;
    case 0x8e: { // MOV Sreg, r/m
      const s = dReg() & 7;
      if (s == SEG_CS || s > 5) { raiseUD(); return; }
      const v = rmRead(2);
      if (fault) return;
      sys.loadSeg(s, v as u32);
      return;
    }
    case 0x8f: { // POP r/m: RSP is incremented before the address is computed
      if ((dReg() & 7) != 0) { raiseUD(); return; }
      const v = peek(dOs(), 0);
      if (fault) return;
      const sp0 = spGet();
      spAdd(dOs() as u64);
      rmWrite(dOs(), v);
      if (fault) spSet(sp0);
      return;
    }
    case 0x90: {
      if ((dRex() & 1) != 0) { // XCHG r8, rAX
        const a = getReg(RAX, dOs()), b = getReg(8, dOs());
        setReg(RAX, dOs(), b); setReg(8, dOs(), a);
      }
      return; // NOP / PAUSE
    }
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
      const r = (op & 7) | ((dRex() & 1) << 3);
      const a = getReg(RAX, dOs()), b = getReg(r, dOs());
      setReg(RAX, dOs(), b); setReg(r, dOs(), a);
      return;
    }
    case 0x98: // CBW CWDE CDQE
      if (dOs() == 2) setReg16(RAX, (<i16><i8>reg64(RAX)) as u32);
      else if (dOs() == 4) setReg32(RAX, (<i32><i16>reg64(RAX)) as u32);
      else setReg64(RAX, <u64><i64><i32>reg64(RAX));
      return;
    case 0x99: { // CWD CDQ CQO
      const s = dOs();
      const neg = (getReg(RAX, s) & signBit(s)) != 0;
      setReg(RDX, s, neg ? sizeMask(s) : 0);
      return;
    }
    case 0x9a: sys.farCall(dImm2(), dImm(), dOs(), nextIp); return;
    case 0x9b: { // FWAIT
      const c0 = load<u64>(CPU_STATE + CPU_CR0);
      if ((c0 & CR0_TS) != 0 && (c0 & CR0_MP) != 0) { raiseNM(); return; }
      fpPendingMF();
      return;
    }
    case 0x9c: { // PUSHF
      const f = getFlags() & ~(F_RF | F_VM);
      push(dOs(), dOs() == 2 ? f & 0xffff : f);
      return;
    }
    case 0x9d: { // POPF
      const v = peek(dOs(), 0);
      if (fault) return;
      sys.popfValue(v, dOs());
      if (fault) return;
      spAdd(dOs() as u64);
      return;
    }
    case 0x9e: { // SAHF
      const ah = (reg64(RAX) >> 8) & 0xff;
      const m: u64 = F_SF | F_ZF | F_AF | F_PF | F_CF;
      setFlags((getFlags() & ~m) | (ah & m));
      return;
    }
    case 0x9f: { // LAHF
      setReg8(1, ((getFlags() & 0xd5) | 2) as u32);
      return;
    }
    case 0xa0: case 0xa1: { // MOV AL/rAX, moffs
      const s = op == 0xa0 ? 1 : dOs();
      const lin = linear(dSeg() >= 0 ? dSeg() : SEG_DS, dImm(), s, false);
      if (fault) return;
      const v = rdN(lin, s);
      if (fault) return;
      if (s == 1) setReg8(0, v as u32); else setReg(RAX, s, v);
      return;
    }
    case 0xa2: case 0xa3: {
      const s = op == 0xa2 ? 1 : dOs();
      const lin = linear(dSeg() >= 0 ? dSeg() : SEG_DS, dImm(), s, true);
      if (fault) return;
      wrN(lin, s, s == 1 ? reg64(RAX) & 0xff : getReg(RAX, s));
      return;
    }
    case 0xa4: movs(1); return;
    case 0xa5: movs(dOs()); return;
    case 0xa6: cmps(1); return;
    case 0xa7: cmps(dOs()); return;
    case 0xa8: alu(4, 1, reg64(RAX) & 0xff, dImm()); return;
    case 0xa9: alu(4, dOs(), getReg(RAX, dOs()), dImm()); return;
    case 0xaa: stos(1); return;
    case 0xab: stos(dOs()); return;
    case 0xac: lods(1); return;
    case 0xad: lods(dOs()); return;
    case 0xae: scas(1); return;
    case 0xaf: scas(dOs()); return;
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      setReg8(reg8off((op & 7) | ((dRex() & 1) << 3), dRex() != 0), dImm() as u32); return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      setReg((op & 7) | ((dRex() & 1) << 3), dOs(), dImm()); return;
    case 0xc0: group2(1, dImm() as u32); return;
    case 0xc1: group2(dOs(), dImm() as u32); return;
    case 0xd0: group2(1, 1); return;
    case 0xd1: group2(dOs(), 1); return;
    case 0xd2: group2(1, reg64(RCX) as u32 & 0xff); return;
    case 0xd3: group2(dOs(), reg64(RCX) as u32 & 0xff); return;
    case 0xc2: retNear(dImm() & 0xffff); return;
    case 0xc3: retNear(0); return;
    case 0xc4: loadFarPtr(SEG_ES); return;
    case 0xc5: loadFarPtr(SEG_DS); return;
    case 0xc6: if ((dReg() & 7) != 0) { raiseUD(); return; } rmWrite(1, dImm()); return;
    case 0xc7: if ((dReg() & 7) != 0) { raiseUD(); return; } rmWrite(dOs(), dImm()); return;
    case 0xc8: enter(); return;
    case 0xc9: leave(); return;
    case 0xca: sys.farRet(dOs(), (dImm() & 0xffff) as i32); return;
    case 0xcb: sys.farRet(dOs(), 0); return;
    case 0xcc: sys.softInt(3, 1, nextIp); return;
    case 0xcd: sys.softInt((dImm() & 0xff) as i32, 0, nextIp); return;
    case 0xce: if ((getFlags() & F_OF) != 0) sys.softInt(4, 2, nextIp); return;
    case 0xcf: sys.iret(dOs()); return;
    case 0xd4: case 0xd5: bcd(op); return;
    case 0xd6: setReg8(0, getCF() ? 0xff : 0); return; // SALC
    case 0xd7: { // XLAT
      const off = maskAs(getReg(RBX, dAs() == 8 ? 8 : dAs()) + (reg64(RAX) & 0xff), dAs());
      const lin = linear(dSeg() >= 0 ? dSeg() : SEG_DS, off, 1, false);
      if (fault) return;
      const v = rdN(lin, 1);
      if (!fault) setReg8(0, v as u32);
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      x87Op(op); return;
    case 0xe0: case 0xe1: case 0xe2: { // LOOPNZ LOOPZ LOOP
      const c = maskAs(getReg(RCX, dAs()) - 1, dAs());
      setReg(RCX, dAs(), c);
      let take = c != 0;
      if (op == 0xe0) take = take && !getZF();
      else if (op == 0xe1) take = take && getZF();
      if (take) jumpRel(dImm());
      return;
    }
    case 0xe3: if (getReg(RCX, dAs()) == 0) jumpRel(dImm()); return;
    case 0xe4: case 0xe5: {
      const s = op == 0xe4 ? 1 : (dOs() == 8 ? 4 : dOs());
      const v = sys.ioIn((dImm() & 0xff) as i32, s);
      if (fault) return;
      if (s == 1) setReg8(0, v); else setReg(RAX, s, v as u64);
      return;
    }
    case 0xe6: case 0xe7: {
      const s = op == 0xe6 ? 1 : (dOs() == 8 ? 4 : dOs());
      sys.ioOut((dImm() & 0xff) as i32, s, (reg64(RAX) & sizeMask(s)) as u32);
      return;
    }
    case 0xec: case 0xed: {
      const s = op == 0xec ? 1 : (dOs() == 8 ? 4 : dOs());
      const v = sys.ioIn((reg64(RDX) & 0xffff) as i32, s);
      if (fault) return;
      if (s == 1) setReg8(0, v); else setReg(RAX, s, v as u64);
      return;
    }
    case 0xee: case 0xef: {
      const s = op == 0xee ? 1 : (dOs() == 8 ? 4 : dOs());
      sys.ioOut((reg64(RDX) & 0xffff) as i32, s, (reg64(RAX) & sizeMask(s)) as u32);
      return;
    }
    case 0xe8: { // CALL rel
      const t = ipMask(nextIp + dImm());
      if (is64 && (((t << 16) as i64) >> 16) as u64 != t) { raiseGP(0); return; }
      if (!push(dOs(), nextIp)) return;
      nextIp = t;
      return;
    }
    case 0xe9: case 0xeb: jumpRel(dImm()); return;
    case 0xea: sys.farJmp(dImm2(), dImm(), dOs()); return;
    case 0xf1: sys.softInt(1, 3, nextIp); return;
    case 0xf4: sys.hlt(); return;
    case 0xf5: setFlags(getFlags() ^ F_CF); return;
    case 0xf6: group3(1); return;
    case 0xf7: group3(dOs()); return;
    case 0xf8: setFlags(getFlags() & ~F_CF); return;
    case 0xf9: setFlags(getFlags() | F_CF); return;
    case 0xfa: sys.cli(); return;
    case 0xfb: sys.sti(); return;
    case 0xfc: setFlags(getFlags() & ~F_DF); return;
    case 0xfd: setFlags(getFlags() | F_DF); return;
    case 0xfe: case 0xff: group5(); return;

    // ---- 0F map ----
    case 0x100: group6(); return;
    case 0x101: group7(); return;
    case 0x102: case 0x103: { // LAR LSL
      const sel = rmRead(2);
      if (fault) return;
      const v = op == 0x102 ? sys.lar(sel as u32) : sys.lsl(sel as u32);
      if (fault) return;
      if (getZF()) regWrite(dOs(), v);
      return;
    }
    case 0x105: sys.syscall(nextIp); return;
    case 0x106: sys.clts(); return;
    case 0x107: sys.sysret(dOs()); return;
    case 0x108: case 0x109: sys.wbinvd(); return;
    case 0x10b: raiseUD(); return; // UD2
    case 0x10d: if (dMod() == 3) raiseUD(); return; // PREFETCH
    case 0x118: case 0x119: case 0x11a: case 0x11b: case 0x11c: case 0x11d: case 0x11e: case 0x11f:
      return; // hint NOPs (0F 1F /0 NOP r/m)
    case 0x120: case 0x121: case 0x122: case 0x123: movCrDr(op); return;
    case 0x130: sys.wrmsr(); return;
    case 0x131: sys.rdtsc(); return;
    case 0x132: sys.rdmsr(); return;
    case 0x133: raiseGP(0); return; // RDPMC: no counters
    case 0x134: sys.sysenter(); return;
    case 0x135: sys.sysexit(dOs()); return;
    case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
    case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f: {
      const v = rmRead(dOs());
      if (fault) return;
      if (cond(op & 15)) regWrite(dOs(), v);
      else if (dOs() == 4) setReg32(dReg(), reg32(dReg())); // 32-bit CMOV zero-extends even when not taken
      return;
    }
    case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
    case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f:
      if (cond(op & 15)) jumpRel(dImm());
      return;
    case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
    case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
      rmWrite(1, cond(op & 15) ? 1 : 0); return;
    case 0x1a0: pushSeg(SEG_FS); return;
    case 0x1a1: popSeg(SEG_FS); return;
    case 0x1a8: pushSeg(SEG_GS); return;
    case 0x1a9: popSeg(SEG_GS); return;
    case 0x1a2: sys.cpuid(); return;
    case 0x1a3: bitOp(0, regRead(dOs()), false); return;
    case 0x1ab: bitOp(1, regRead(dOs()), false); return;
    case 0x1b3: bitOp(2, regRead(dOs()), false); return;
    case 0x1bb: bitOp(3, regRead(dOs()), false); return;
    case 0x1ba: if ((dReg() & 7) < 4) { raiseUD(); return; } bitOp((dReg() & 7) - 4, dImm() & 0xff, true); return;
    case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: {
      const count = (op & 1) == 0 ? (dImm() as u32) & 0xff : (reg64(RCX) as u32) & 0xff;
      if (!rmwBegin(dOs())) return;
      const r = shiftDouble(op < 0x1ac, dOs(), rmwGet(dOs()), regRead(dOs()), count);
      if (!shiftNop) rmwPut(dOs(), r);
      else if (dOs() == 4 && dMod() == 3) rmwPut(4, rmwGet(4));
      return;
    }
    case 0x1ae: group15(); return;
    case 0x1af: {
      const b = rmRead(dOs());
      if (fault) return;
      imul2(dOs(), regRead(dOs()), b);
      return;
    }
    case 0x1b0: cmpxchg(1); return;
    case 0x1b1: cmpxchg(dOs()); return;
    case 0x1b2: loadFarPtr(SEG_SS); return;
    case 0x1b4: loadFarPtr(SEG_FS); return;
    case 0x1b5: loadFarPtr(SEG_GS); return;
    case 0x1b6: { const v = rmRead(1); if (!fault) regWrite(dOs(), v); return; }
    case 0x1b7: { const v = rmRead(2); if (!fault) regWrite(dOs(), v); return; }
    case 0x1be: { const v = rmRead(1); if (!fault) regWrite(dOs(), <u64><i64><i8>v); return; }
    case 0x1bf: { const v = rmRead(2); if (!fault) regWrite(dOs(), <u64><i64><i16>v); return; }
    case 0x1b8: case 0x1bc: case 0x1bd: bitScan(op); return;
    case 0x1b9: case 0x1ff: raiseUD(); return; // UD1 UD0
    case 0x1c0: xadd(1); return;
    case 0x1c1: xadd(dOs()); return;
    case 0x1c3:
      if (dMod() == 3) { raiseUD(); return; } rmWrite(dOs() == 2 ? 4 : dOs(), regRead(dOs() == 2 ? 4 : dOs())); return;
    case 0x1c7: {
      if ((dReg() & 7) == 1) { cmpxchg8b16b(); return; }
      raiseUD(); return; // RDRAND/RDSEED not offered by CPUID
    }
    case 0x1c8: case 0x1c9: case 0x1ca: case 0x1cb: case 0x1cc: case 0x1cd: case 0x1ce: case 0x1cf: {
      const r = (op & 7) | ((dRex() & 1) << 3);
      if (dOs() == 8) setReg64(r, bswap<u64>(reg64(r)));
      else if (dOs() == 4) setReg32(r, bswap<u32>(reg32(r)));
      else setReg16(r, 0); // BSWAP r16: undefined; current CPUs give 0
      return;
    }
    case OP_UD: raiseUD(); return; // invalid in this mode, or a LOCK/VEX prefix where none is allowed
    default:
      if (op > OP_UD) { vexOp(op); return; } // VEX-encoded (cpu/bmi.ts: BMI1/BMI2; the rest #UD)
      if ((op >= 0x110 && op <= 0x117) || (op >= 0x128 && op <= 0x12f) || (op >= 0x150 && op <= 0x17f) ||
        (op >= 0x1c2 && op <= 0x1c6 && op != 0x1c3) || (op >= 0x1d0 && op <= 0x1fe) || op >= 0x200) {
        sseOp(op);
        return;
      }
      raiseUD();
      return;
  }
}
