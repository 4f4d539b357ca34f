// Far control transfers: JMP/CALL far (direct and through call gates), RET far, IRET, POPF's flag
// rules, and the fast system calls SYSCALL/SYSRET/SYSENTER/SYSEXIT. Every check happens before any
// register changes; a fault leaves the instruction undone.
import {
  CPU_STATE, CPU_MSR_STAR, CPU_MSR_LSTAR, CPU_MSR_CSTAR, CPU_MSR_SFMASK, CPU_MSR_SYSENTER_CS,
  CPU_MSR_SYSENTER_ESP, CPU_MSR_SYSENTER_EIP, CPU_INTERCEPT_FLAGS, INTERCEPT_SYSCALL, INTERCEPT_SYSENTER,
  EXIT_SYSCALL, EXIT_SYSENTER, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_TR, MODE_REAL,
} from "../memmap";
import {
  reg64, setReg64, RCX, RDX, RSP, cpl, setCpl, mode, is64, segSel, segAttr, segBase, segLimit, setSeg,
  nextIp, cpuStateChanged, efer, stackSize, rip,
  SA_DB, SA_L, F_TF, F_NT, F_RF, F_VM, F_IF, F_IOPL, F_VIF, F_VIP, F_AC, F_ID, F_ARITH, F_DF,
} from "./state";
import { EFER_LMA, EFER_SCE, ACC_R, ACC_U } from "../bits";
import { fault, raise, raiseUD, EX_GP, EX_NP, EX_SS, EX_TS } from "./fault";
import { getFlags, setFlags } from "./flags";
import { peek, push, spGet, spSet, spMask } from "./stack";
import { linear } from "./ea";
import { readAcc, writeAcc, probeWrite } from "../mmu/tlb";
import {
  descRead, descType, descDpl, descPresent, descAttr, descBase, descLimit, descSetAccessed, dLo, dHi, dHi2, dAddr,
} from "./desc";
import { requestStop, trapFlagChanged } from "./control";

@inline function lma(): bool { return (efer() & EFER_LMA) != 0; }
@inline function canonical(v: u64): bool { return ((((v << 16) as i64) >> 16) as u64) == v; }

// Fields of a checked code-segment target, filled by the checks below and used at commit.
let tBase: u64 = 0, tLimit: u32 = 0, tAttr: u32 = 0;

function keepTarget(): void {
  tBase = descBase() & 0xffffffff;
  tLimit = descLimit();
  tAttr = descAttr();
}

// The offset `off` is valid in the checked target segment (canonical for 64-bit code, within the
// limit otherwise); raises #GP(0).
function offsetOk(off: u64): bool {
  if (lma() && (tAttr & SA_L) != 0) {
    if (!canonical(off)) { raise(EX_GP, 0); return false; }
    return true;
  }
  if (off > (tLimit as u64)) { raise(EX_GP, 0); return false; }
  return true;
}

// Checks common to code-segment targets: a code descriptor, present, and in long mode not L+D.
function codeDescOk(sel: u32): bool {
  const ec = (sel & 0xfffc) as i32;
  if ((descType() & 0x18) != 0x18) { raise(EX_GP, ec); return false; }
  if (!descPresent()) { raise(EX_NP, ec); return false; }
  const a = descAttr();
  if (lma() && (a & SA_L) != 0 && (a & SA_DB) != 0) { raise(EX_GP, ec); return false; }
  return true;
}

// Read the descriptor of a target selector; false after a fault (null: #GP(0), outside: #GP(sel)).
function readTarget(sel: u32): bool {
  if ((sel & 0xfffc) == 0) { raise(EX_GP, 0); return false; }
  const r = descRead(sel, false);
  if (r < 0) return false;
  if (r == 0) { raise(EX_GP, (sel & 0xfffc) as i32); return false; }
  return true;
}

function loadCs(sel: u32, newCpl: i32): void {
  setSeg(SEG_CS, (sel & 0xfffc) | (newCpl as u32), tBase, tLimit, tAttr);
  setCpl(newCpl);
  cpuStateChanged();
}

function maskIp(off: u64): u64 {
  if (lma() && (tAttr & SA_L) != 0) return off;
  return (tAttr & SA_DB) != 0 ? off & 0xffffffff : off & 0xffff;
}

// Data segment registers that the new, less privileged CPL may not use become null (RET/IRET to an
// outer ring).
function nullInaccessible(newCpl: i32): void {
  for (let s = 0; s < 6; s++) {
    if (s != SEG_DS && s != SEG_ES && s != SEG_FS && s != SEG_GS) continue;
    const a = segAttr(s);
    const dpl = ((a >> 5) & 3) as i32;
    const confCode = (a & 0x1c) == 0x1c;
    if ((a & 0x80) == 0) continue;
    if (!confCode && dpl < newCpl) setSeg(s, 0, 0, 0, 0);
  }
}

// ---- JMP / CALL far ----

// A direct code-segment target of JMP/CALL far: conforming DPL <= CPL, else RPL <= CPL and DPL == CPL.
function directOk(sel: u32): bool {
  const c = cpl();
  const ec = (sel & 0xfffc) as i32;
  const conforming = (descType() & 4) != 0;
  if (conforming ? descDpl() > c : (((sel & 3) as i32) > c || descDpl() != c)) { raise(EX_GP, ec); return false; }
  if (!codeDescOk(sel)) return false;
  keepTarget();
  return true;
}

// Call gate fields (after readGate).
let gSel: u32 = 0, gOff: u64 = 0, gParams: i32 = 0, gSize: i32 = 4;

function readGate(sel: u32): bool {
  const c = cpl();
  const ec = (sel & 0xfffc) as i32;
  const t = descType();
  const long = lma();
  if (long ? t != 0xc : (t != 0xc && t != 0x4)) { raise(EX_GP, ec); return false; } // TSS/task gates: not supported
  if (descDpl() < c || descDpl() < ((sel & 3) as i32)) { raise(EX_GP, ec); return false; }
  if (!descPresent()) { raise(EX_NP, ec); return false; }
  gSel = dLo >>> 16;
  gOff = ((dLo & 0xffff) | (dHi & 0xffff0000)) as u64;
  gParams = (dHi & 0x1f) as i32;
  gSize = t == 0x4 ? 2 : 4;
  if (t == 0x4) gOff &= 0xffff;
  if (long) {
    // 16-byte gate: re-read with the upper half.
    const r = descRead(sel, true);
    if (r < 0) return false;
    if (r == 0) { raise(EX_GP, ec); return false; }
    gOff |= (dHi2 as u64) << 32;
    gParams = 0;
    gSize = 8;
    const hi3 = readAcc(dAddr + 12, 4, ACC_R);
    if (fault) return false;
    if (((hi3 >> 8) & 0x1f) != 0) { raise(EX_GP, ec); return false; }
  }
  // The gate's target code segment.
  if (!readTarget(gSel)) return false;
  if ((descType() & 0x18) != 0x18 || descDpl() > c) { raise(EX_GP, (gSel & 0xfffc) as i32); return false; }
  if (!codeDescOk(gSel)) return false;
  if (long && ((descAttr() & SA_L) == 0 || (descAttr() & SA_DB) != 0)) {
    raise(EX_GP, (gSel & 0xfffc) as i32); return false;
  }
  keepTarget();
  return true;
}

export function farJmp(sel: u32, off: u64, osize: i32): void {
  if (mode == MODE_REAL) {
    setSeg(SEG_CS, sel, (sel << 4) as u64, 0xffff, segAttr(SEG_CS)); nextIp = off & 0xffff; return;
  }
  if (!readTarget(sel)) return;
  if ((descType() & 0x10) != 0) {
    if (!directOk(sel)) return;
    if (!offsetOk(off)) return;
    loadCs(sel, cpl());
    nextIp = maskIp(off);
    return;
  }
  if (!readGate(sel)) return;
  const conforming = (descType() & 4) != 0;
  if (!conforming && descDpl() != cpl()) { raise(EX_GP, (gSel & 0xfffc) as i32); return; }
  if (!offsetOk(gOff)) return;
  loadCs(gSel, cpl());
  nextIp = maskIp(gOff);
}

export function farCall(sel: u32, off: u64, osize: i32, next: u64): void {
  if (mode == MODE_REAL) {
    if (!probePush(osize * 2)) return;
    push(osize, segSel(SEG_CS) as u64); push(osize, next);
    setSeg(SEG_CS, sel, (sel << 4) as u64, 0xffff, segAttr(SEG_CS)); nextIp = off & 0xffff;
    return;
  }
  const c = cpl();
  if (!readTarget(sel)) return;
  if ((descType() & 0x10) != 0) {
    if (!directOk(sel)) return;
    if (!offsetOk(off)) return;
    const os = is64 && osize == 8 ? 8 : osize;
    if (!probePush(os * 2)) return;
    push(os, segSel(SEG_CS) as u64);
    push(os, next);
    loadCs(sel, c);
    nextIp = maskIp(off);
    return;
  }
  if (!readGate(sel)) return;
  if (!offsetOk(gOff)) return;
  const conforming = (tAttr & 4) != 0;
  const dpl = ((tAttr >> 5) & 3) as i32;
  const oldCs = segSel(SEG_CS) as u64;
  if (conforming || dpl == c) {
    if (!probePush(gSize * 2)) return;
    push(gSize, oldCs);
    push(gSize, next);
    loadCs(gSel, c);
    nextIp = maskIp(gOff);
    return;
  }
  // To a more privileged ring: new stack from the TSS, then SS:ESP, parameters, CS:EIP.
  const long = lma();
  let newSs: u32, newSp: u64;
  const tb = segBase(SEG_TR);
  const trErr = (segSel(SEG_TR) & 0xfffc) as i32;
  if (long) {
    const o = 4 + 8 * dpl;
    if (((o + 7) as u32) > segLimit(SEG_TR)) { raise(EX_TS, trErr); return; }
    newSp = readAcc(tb + (o as u64), 8, ACC_R);
    if (fault) return;
    newSs = dpl as u32;
  } else {
    const o = 4 + 8 * dpl;
    if (((o + 5) as u32) > segLimit(SEG_TR)) { raise(EX_TS, trErr); return; }
    newSp = readAcc(tb + (o as u64), 4, ACC_R);
    if (fault) return;
    newSs = readAcc(tb + ((o + 4) as u64), 2, ACC_R) as u32;
    if (fault) return;
  }
  const csBase = tBase, csLimit = tLimit, csAttr = tAttr;
  let ssBase: u64 = 0, ssLimit: u32 = 0, ssAttr: u32 = 0;
  if (!long) {
    const ec = (newSs & 0xfffc) as i32;
    if (ec == 0) { raise(EX_TS, 0); return; }
    const r = descRead(newSs, false);
    if (r < 0) return;
    if (r == 0 || ((newSs & 3) as i32) != dpl || descDpl() != dpl || (descType() & 0x1a) != 0x12) {
      raise(EX_TS, ec); return;
    }
    if (!descPresent()) { raise(EX_SS, ec); return; }
    descSetAccessed();
    ssBase = descBase() & 0xffffffff; ssLimit = descLimit(); ssAttr = descAttr();
  }
  const w = gSize;
  const n = 4 + gParams;
  const acc = dpl == 3 ? ACC_U : 0;
  let top = long ? newSp & ~(15 as u64) : newSp;
  if (!long) top &= (ssAttr & SA_DB) != 0 ? 0xffffffff : 0xffff;
  const lo = top - ((n * w) as u64);
  // Copy the parameters from the old stack (legacy gates only), then write the new frame.
  const oldSp = spGet();
  const oldSsSel = segSel(SEG_SS);
  let p = lo;
  const base = long ? 0 : ssBase;
  writeAcc(base + p, w, next, acc); if (fault) return; p += w as u64;
  writeAcc(base + p, w, oldCs, acc); if (fault) return; p += w as u64;
  for (let i = 0; i < gParams; i++) {
    const v = readOld(oldSp + ((i * w) as u64), w);
    if (fault) return;
    writeAcc(base + p, w, v, acc); if (fault) return; p += w as u64;
  }
  writeAcc(base + p, w, oldSp, acc); if (fault) return; p += w as u64;
  writeAcc(base + p, w, oldSsSel as u64, acc); if (fault) return;
  tBase = csBase; tLimit = csLimit; tAttr = csAttr;
  if (long) setSeg(SEG_SS, newSs, 0, 0, 0);
  else setSeg(SEG_SS, newSs, ssBase, ssLimit, ssAttr);
  loadCs(gSel, dpl);
  if (long) setReg64(RSP, lo);
  else spSet(lo);
  nextIp = maskIp(gOff);
}

function readOld(off: u64, size: i32): u64 {
  const lin = linear(SEG_SS, spMask(off), size, false);
  if (fault) return 0;
  return readAcc(lin, size, cpl() == 3 ? ACC_U : 0);
}

function probePush(bytes: i32): bool {
  const sp = spMask(spGet() - (bytes as u64));
  const lin = linear(SEG_SS, sp, bytes, true);
  if (fault) return false;
  return probeWrite(lin, bytes);
}

// ---- RET far ----
export function farRet(osize: i32, imm: i32): void {
  const c = cpl();
  const ip = peek(osize, 0);
  if (fault) return;
  const sel = (peek(osize, osize) & 0xffff) as u32;
  if (fault) return;
  if (mode == MODE_REAL) {
    setSeg(SEG_CS, sel, (sel << 4) as u64, 0xffff, segAttr(SEG_CS));
    spSet(spMask(spGet() + ((osize * 2 + imm) as u64)));
    nextIp = ip & 0xffff;
    return;
  }
  const rpl = (sel & 3) as i32;
  if (!readTarget(sel)) return;
  const ec = (sel & 0xfffc) as i32;
  if (rpl < c) { raise(EX_GP, ec); return; }
  const conforming = (descType() & 4) != 0;
  if ((descType() & 0x18) == 0x18 && (conforming ? descDpl() > rpl : descDpl() != rpl)) { raise(EX_GP, ec); return; }
  if (!codeDescOk(sel)) return;
  keepTarget();
  if (!offsetOk(ip)) return;
  if (rpl == c) {
    loadCs(sel, c);
    spSet(spMask(spGet() + ((osize * 2 + imm) as u64)));
    nextIp = maskIp(ip);
    return;
  }
  // Return to an outer ring: SS:RSP follow the parameters.
  const sp = peek(osize, osize * 2 + imm);
  if (fault) return;
  const ss = (peek(osize, osize * 3 + imm) & 0xffff) as u32;
  if (fault) return;
  const csB = tBase, csL = tLimit, csA = tAttr;
  if (!checkOuterSs(ss, rpl, (csA & SA_L) != 0)) return;
  tBase = csB; tLimit = csL; tAttr = csA;
  loadCs(sel, rpl);
  commitSs(ss);
  spSet(spMask(sp + (imm as u64)));
  nullInaccessible(rpl);
  cpuStateChanged();
  nextIp = maskIp(ip);
}

// SS for a return to ring `rpl`; the descriptor is kept in sBase/sLimit/sAttr for commitSs.
let sBase: u64 = 0, sLimit: u32 = 0, sAttr: u32 = 0;
function checkOuterSs(ss: u32, rpl: i32, to64: bool): bool {
  if ((ss & 0xfffc) == 0) {
    if (lma() && to64 && rpl != 3 && ((ss & 3) as i32) == rpl) { sBase = 0; sLimit = 0; sAttr = 0; return true; }
    raise(EX_GP, 0);
    return false;
  }
  const ec = (ss & 0xfffc) as i32;
  const r = descRead(ss, false);
  if (r < 0) return false;
  if (r == 0 || ((ss & 3) as i32) != rpl || (descType() & 0x1a) != 0x12 || descDpl() != rpl) {
    raise(EX_GP, ec); return false;
  }
  if (!descPresent()) { raise(EX_SS, ec); return false; }
  descSetAccessed();
  sBase = descBase() & 0xffffffff; sLimit = descLimit(); sAttr = descAttr();
  return true;
}
function commitSs(ss: u32): void { setSeg(SEG_SS, ss, sBase, sLimit, sAttr); }

// ---- flags written by POPF and IRET ----
// CPL 0 may change IOPL; CPL <= IOPL may change IF; VM, VIF, VIP are kept (virtual-8086 mode is not
// supported); RF is cleared by POPF. 16-bit operand size writes the low 16 bits only.
function mergeFlags(v: u64, osize: i32, c: i32, iretForm: bool): u64 {
  const old = getFlags();
  let can: u64 = F_ARITH | F_TF | F_DF | F_NT | F_AC | F_ID | (1 << 9) | F_IOPL;
  if (iretForm) can |= F_RF;
  if (c != 0) can &= ~F_IOPL;
  const iopl = ((old >> 12) & 3) as i32;
  if (c > iopl) can &= ~F_IF;
  if (osize == 2) can &= 0xffff;
  if (iretForm && c == 0 && osize != 2) can |= F_VIF | F_VIP;
  let f = (old & ~can) | (v & can);
  if (!iretForm) f &= ~F_RF;
  return f;
}

export function popfValue(v: u64, osize: i32): void {
  setFlags(mergeFlags(v, osize, cpl(), false));
  trapFlagChanged();
}

// ---- IRET ----
export function iret(osize: i32): void {
  const c = cpl();
  const f0 = getFlags();
  if (mode == MODE_REAL) {
    const ip = peek(osize, 0); if (fault) return;
    const cs = peek(osize, osize) as u32; if (fault) return;
    const fl = peek(osize, osize * 2); if (fault) return;
    setSeg(SEG_CS, cs & 0xffff, ((cs & 0xffff) << 4) as u64, 0xffff, segAttr(SEG_CS));
    spSet(spMask(spGet() + ((osize * 3) as u64)));
    setFlags(mergeFlags(fl, osize, 0, true));
    trapFlagChanged();
    nextIp = ip & 0xffff;
    return;
  }
  if ((f0 & F_NT) != 0) { raise(EX_GP, 0); return; } // task return: hardware task switching is not supported
  const ip = peek(osize, 0); if (fault) return;
  const sel = (peek(osize, osize) & 0xffff) as u32; if (fault) return;
  const fl = peek(osize, osize * 2); if (fault) return;
  if (!lma() && (fl & F_VM) != 0 && c == 0 && osize == 4) { raise(EX_GP, 0); return; } // no virtual-8086 mode
  const rpl = (sel & 3) as i32;
  if (!readTarget(sel)) return;
  const ec = (sel & 0xfffc) as i32;
  if (rpl < c) { raise(EX_GP, ec); return; }
  const conforming = (descType() & 4) != 0;
  if ((descType() & 0x18) == 0x18 && (conforming ? descDpl() > rpl : descDpl() != rpl)) { raise(EX_GP, ec); return; }
  if (!codeDescOk(sel)) return;
  keepTarget();
  if (!offsetOk(ip)) return;
  const to64 = lma() && (tAttr & SA_L) != 0;
  const popStack = is64 || rpl > c;
  let sp: u64 = 0, ss: u32 = 0;
  if (popStack) {
    sp = peek(osize, osize * 3); if (fault) return;
    ss = (peek(osize, osize * 4) & 0xffff) as u32; if (fault) return;
    const csB = tBase, csL = tLimit, csA = tAttr;
    if (rpl == c && (ss & 0xfffc) == 0 && is64 && to64 && c != 3) { sBase = 0; sLimit = 0; sAttr = 0; }
    else if (!checkOuterSs(ss, rpl, to64)) return;
    tBase = csB; tLimit = csL; tAttr = csA;
  }
  const nf = mergeFlags(fl, osize, c, true);
  loadCs(sel, rpl);
  if (popStack) {
    commitSs(ss);
    cpuStateChanged();
    if (to64 || lma() && osize == 8) setReg64(RSP, sp);
    else spSet(sp);
  } else {
    spSet(spMask(spGet() + ((osize * 3) as u64)));
  }
  if (rpl > c) nullInaccessible(rpl);
  setFlags(nf);
  trapFlagChanged();
  cpuStateChanged();
  nextIp = maskIp(ip);
}

// ---- SYSCALL / SYSRET / SYSENTER / SYSEXIT ----
@inline function intercepts(bit: i32): bool { return (load<i32>(CPU_STATE + CPU_INTERCEPT_FLAGS) & bit) != 0; }

// Flat code/data descriptors the fast system calls load.
const CODE64: u32 = 0x9b | 0x2000 | 0x8000; // P S code R A, L, G
const CODE32: u32 = 0x9b | 0x4000 | 0x8000; // P S code R A, D, G
const DATA32: u32 = 0x93 | 0x4000 | 0x8000; // P S data W A, B, G

export function syscall(next: u64): void {
  if ((efer() & EFER_SCE) == 0 || mode == MODE_REAL) { raiseUD(); return; }
  if (intercepts(INTERCEPT_SYSCALL)) {
    // The hypervisor takes it, with RCX and R11 as the instruction leaves them on real hardware.
    if (lma()) { setReg64(RCX, next); setReg64(11, getFlags() & ~F_RF); }
    nextIp = next;
    requestStop(EXIT_SYSCALL);
    return;
  }
  const from64 = is64; // LSTAR from 64-bit code, CSTAR from compatibility mode
  const star = load<u64>(CPU_STATE + CPU_MSR_STAR);
  const cs = ((star >> 32) as u32) & 0xfffc;
  const f = getFlags();
  if (lma()) {
    setReg64(RCX, next);
    setReg64(11, f & ~F_RF);
    setFlags(f & ~load<u64>(CPU_STATE + CPU_MSR_SFMASK) & ~F_RF);
    setSeg(SEG_CS, cs, 0, 0xffffffff, CODE64);
    setSeg(SEG_SS, cs + 8, 0, 0xffffffff, DATA32);
    setCpl(0);
    cpuStateChanged();
    nextIp = load<u64>(CPU_STATE + (from64 ? CPU_MSR_LSTAR : CPU_MSR_CSTAR));
  } else {
    setReg64(RCX, next & 0xffffffff);
    setFlags(f & ~(F_VM | F_IF | F_RF));
    setSeg(SEG_CS, cs, 0, 0xffffffff, CODE32);
    setSeg(SEG_SS, cs + 8, 0, 0xffffffff, DATA32);
    setCpl(0);
    cpuStateChanged();
    nextIp = star & 0xffffffff;
  }
  trapFlagChanged();
}

export function sysret(osize: i32): void {
  if ((efer() & EFER_SCE) == 0 || mode == MODE_REAL) { raiseUD(); return; }
  if (cpl() != 0) { raise(EX_GP, 0); return; }
  const star = load<u64>(CPU_STATE + CPU_MSR_STAR);
  const base = ((star >> 48) as u32) & 0xffff;
  if (lma()) {
    const to64 = osize == 8;
    const rcx = reg64(RCX);
    if (to64 && !canonical(rcx)) { raise(EX_GP, 0); return; }
    setFlags((reg64(11) & 0x3c7fd7) | 2);
    if (to64) setSeg(SEG_CS, (base + 16) | 3, 0, 0xffffffff, CODE64 | 0x60);
    else setSeg(SEG_CS, base | 3, 0, 0xffffffff, CODE32 | 0x60);
    setSeg(SEG_SS, (base + 8) | 3, 0, 0xffffffff, DATA32 | 0x60);
    setCpl(3);
    cpuStateChanged();
    nextIp = to64 ? rcx : rcx & 0xffffffff;
  } else {
    setFlags(getFlags() | F_IF);
    setSeg(SEG_CS, base | 3, 0, 0xffffffff, CODE32 | 0x60);
    setSeg(SEG_SS, (base + 8) | 3, 0, 0xffffffff, DATA32 | 0x60);
    setCpl(3);
    cpuStateChanged();
    nextIp = reg64(RCX) & 0xffffffff;
  }
  trapFlagChanged();
}

export function sysenter(): void {
  if (mode == MODE_REAL) { raise(EX_GP, 0); return; }
  // Intercepted, the MSRs are the hypervisor's (as Xen owns the real ones): it decides.
  if (intercepts(INTERCEPT_SYSENTER)) { requestStop(EXIT_SYSENTER); return; } // RIP: the next instruction
  const cs = (load<u64>(CPU_STATE + CPU_MSR_SYSENTER_CS) as u32) & 0xfffc;
  if (cs == 0) { raise(EX_GP, 0); return; }
  const long = lma();
  setFlags(getFlags() & ~(F_VM | F_IF | F_RF));
  setSeg(SEG_CS, cs, 0, 0xffffffff, long ? CODE64 : CODE32);
  setSeg(SEG_SS, cs + 8, 0, 0xffffffff, DATA32);
  setCpl(0);
  cpuStateChanged();
  const sp = load<u64>(CPU_STATE + CPU_MSR_SYSENTER_ESP);
  const ip = load<u64>(CPU_STATE + CPU_MSR_SYSENTER_EIP);
  setReg64(RSP, long ? sp : sp & 0xffffffff);
  nextIp = long ? ip : ip & 0xffffffff;
  trapFlagChanged();
}

export function sysexit(osize: i32): void {
  const cs = (load<u64>(CPU_STATE + CPU_MSR_SYSENTER_CS) as u32) & 0xfffc;
  if (mode == MODE_REAL || cpl() != 0 || cs == 0) { raise(EX_GP, 0); return; }
  const to64 = osize == 8;
  if (to64 && (!canonical(reg64(RDX)) || !canonical(reg64(RCX)))) { raise(EX_GP, 0); return; }
  if (to64) setSeg(SEG_CS, (cs + 32) | 3, 0, 0xffffffff, CODE64 | 0x60);
  else setSeg(SEG_CS, (cs + 16) | 3, 0, 0xffffffff, CODE32 | 0x60);
  setSeg(SEG_SS, (to64 ? cs + 40 : cs + 24) | 3, 0, 0xffffffff, DATA32 | 0x60);
  setCpl(3);
  cpuStateChanged();
  setReg64(RSP, to64 ? reg64(RCX) : reg64(RCX) & 0xffffffff);
  nextIp = to64 ? reg64(RDX) : reg64(RDX) & 0xffffffff;
}
