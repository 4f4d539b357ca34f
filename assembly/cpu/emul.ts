// One instruction emulated for the hypervisor, as Xen's x86_emulate() serves its PV emulation: the
// CPU's own decoder reads it (decode.ts: the decoded-instruction record; ea.ts: its effective
// address), this file computes what it does (results, flags, registers, RIP), and everything it
// touches outside the registers — memory, I/O ports, control and debug registers, MSRs, CPUID, the
// interrupt flag — goes through the callbacks of an EmulOps (Xen's struct x86_emulate_ops). The
// callbacks decide what the guest may do and how: hv/ptwr.ts's validate a page-table write,
// hv/emulate.ts's give a PV kernel its privileged operations. Nothing here parses bytes or walks
// page tables; nothing here raises a fault (a refusal is the caller's to deliver).
import { CPU_STATE, CPU_CR2, SEG_CS } from "../memmap";
import { reg64, setReg64, RAX, RCX, RDX, RBX, setRip, is64, segBase, nextIp } from "./state";
import { CR0_TS } from "../bits";
import { getFlags, setFlags, szp, sizeMask, setLazy, flagsSync, LF_SUB } from "./flags";
import { fault, clearFault } from "./fault";
import { decodeAside, decodeAsideDone, dOp, dLen, dMod, dReg, dRm, dOs, dImm } from "./decode";
import { memLin, regRead, regWrite } from "./ea";

// What a callback (and x86Emulate) answers.
export const EM_OKAY = 0; // done
export const EM_UNHANDLEABLE = 1; // refused: nothing changed, the caller delivers the original fault
export const EM_EXCEPTION = 2; // the callback delivered an exception to the guest: the instruction stops there

// Values the callbacks hand back: a read's value (read, readIo, readCr, readDr, readMsr), the value
// cmpxchg found, CPUID's four registers (emVal = EAX, emB, emC, emD).
export let emVal: u64 = 0;
export let emB: u32 = 0;
export let emC: u32 = 0;
export let emD: u32 = 0;
// The write in progress stores the result of an AND or OR of the operand it just read.
export let emLogic: bool = false;
@inline export function emSet(v: u64): i32 { emVal = v; return EM_OKAY; }
export function emSetCpuid(a: u32, b: u32, c: u32, d: u32): i32 {
  emVal = a as u64; emB = b; emC = c; emD = d;
  return EM_OKAY;
}

function noRead(lin: u64, size: i32): i32 { return EM_UNHANDLEABLE; }
function noWrite(lin: u64, size: i32, v: u64): i32 { return EM_UNHANDLEABLE; }
function noCmpxchg(lin: u64, size: i32, old: u64, v: u64): i32 { return EM_UNHANDLEABLE; }
function noRead32(n: u32, size: i32): i32 { return EM_UNHANDLEABLE; }
function noWrite32(n: u32, size: i32, v: u64): i32 { return EM_UNHANDLEABLE; }
function noCpuid(leaf: u32, sub: u32): i32 { return EM_UNHANDLEABLE; }
function noIntr(enable: bool): i32 { return EM_UNHANDLEABLE; }
function noOp(): i32 { return EM_UNHANDLEABLE; }

// The callbacks. Sizes are in bytes; `lin` is a linear address, `n` a port, CR/DR number or MSR.
// Each returns EM_*; a value read is left in emVal (emSet). A slot left as it is refuses.
export class EmulOps {
  read: (lin: u64, size: i32) => i32 = noRead;
  write: (lin: u64, size: i32, v: u64) => i32 = noWrite;
  // Write `v` if the operand holds `old`; emVal = what it held (written when equal to `old`).
  cmpxchg: (lin: u64, size: i32, old: u64, v: u64) => i32 = noCmpxchg;
  readIo: (port: u32, size: i32) => i32 = noRead32;
  writeIo: (port: u32, size: i32, v: u64) => i32 = noWrite32;
  readCr: (n: u32, size: i32) => i32 = noRead32;
  writeCr: (n: u32, size: i32, v: u64) => i32 = noWrite32;
  readDr: (n: u32, size: i32) => i32 = noRead32;
  writeDr: (n: u32, size: i32, v: u64) => i32 = noWrite32;
  readMsr: (n: u32, size: i32) => i32 = noRead32;
  writeMsr: (n: u32, size: i32, v: u64) => i32 = noWrite32;
  cpuid: (leaf: u32, sub: u32) => i32 = noCpuid; // emSetCpuid
  intr: (enable: bool) => i32 = noIntr; // CLI (false), STI (true)
  wbinvd: () => i32 = noOp;
}

// The instruction classes a caller lets x86Emulate run (anything else is EM_UNHANDLEABLE).
export const EMC_MEM = 1; // MOV, XCHG, CMPXCHG, AND, OR with a memory destination (and MOV imm)
export const EMC_PRIV = 2; // CLI, STI, IN, OUT, MOV to/from CRn and DRn, RDMSR, WRMSR, CLTS, WBINVD
export const EMC_CPUID = 4; // CPUID

// Emulate the instruction at `ip` (CS-relative; RIP moves past it when done).
export function x86Emulate(ops: EmulOps, ip: u64, allow: i32): i32 {
  const lin = is64 ? ip : (segBase(SEG_CS) + ip) & 0xffffffff;
  if (!decodeAside(lin)) return EM_UNHANDLEABLE;
  let next = ip + (dLen() as u64);
  if (!is64) next &= 0xffffffff;
  nextIp = next; // (RIP-relative operands)
  const op = dOp();
  let rc = EM_UNHANDLEABLE;
  if ((allow & EMC_MEM) != 0 && dMod() != 3) rc = memOp(ops, op);
  if (rc == EM_UNHANDLEABLE && (allow & EMC_PRIV) != 0) rc = privOp(ops, op);
  if (rc == EM_UNHANDLEABLE && (allow & EMC_CPUID) != 0 && op == 0x1a2) rc = cpuidOp(ops);
  decodeAsideDone();
  if (rc == EM_OKAY) setRip(next);
  return rc;
}

// The decoded memory operand's linear address; operandOk false when it would fault (refused).
let operandOk = false;
function operand(size: i32, write: bool): u64 {
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  const lin = memLin(size, write);
  operandOk = !fault;
  if (fault) { clearFault(); store<u64>(CPU_STATE + CPU_CR2, cr2); }
  return lin;
}

function memOp(ops: EmulOps, op: i32): i32 {
  const size = dOs();
  const m = sizeMask(size);
  let logic = 0; // 1 OR, 2 AND
  let src: u64 = 0;
  switch (op) {
    case 0x88: case 0x89: src = regRead(size); break; // MOV r/m, r
    case 0xc6: case 0xc7: if ((dReg() & 7) != 0) return EM_UNHANDLEABLE; src = dImm(); break; // MOV r/m, imm
    case 0x86: case 0x87: case 0x1b0: case 0x1b1: src = regRead(size); break; // XCHG, CMPXCHG
    case 0x08: case 0x09: logic = 1; src = regRead(size); break; // OR r/m, r
    case 0x20: case 0x21: logic = 2; src = regRead(size); break; // AND r/m, r
    case 0x80: case 0x81: case 0x83: { // group 1 with an immediate: OR (/1) and AND (/4) only
      const sub = dReg() & 7;
      if (sub == 1) logic = 1; else if (sub == 4) logic = 2; else return EM_UNHANDLEABLE;
      src = dImm();
      break;
    }
    default: return EM_UNHANDLEABLE;
  }
  src &= m;
  emLogic = logic != 0;
  const lin = operand(size, true);
  if (!operandOk) return EM_UNHANDLEABLE;
  let rc: i32;
  if (op == 0x1b0 || op == 0x1b1) {
    const acc = reg64(RAX) & m;
    rc = ops.cmpxchg(lin, size, acc, src);
    if (rc != EM_OKAY) return rc;
    const found = emVal & m;
    setLazy(LF_SUB, size, acc, found, (acc - found) & m); // the flags of CMP accumulator, destination
    flagsSync();
    if (found != acc) {
      if (size == 1) setReg64(RAX, (reg64(RAX) & ~(0xff as u64)) | found);
      else if (size == 2) setReg64(RAX, (reg64(RAX) & ~(0xffff as u64)) | found);
      else setReg64(RAX, found); // (a 32-bit result clears the upper half)
    }
    return EM_OKAY;
  }
  let res = src;
  let old: u64 = 0;
  if (logic != 0 || op == 0x86 || op == 0x87) {
    rc = ops.read(lin, size);
    if (rc != EM_OKAY) return rc;
    old = emVal & m;
    if (logic == 1) res = old | src; else if (logic == 2) res = old & src;
  }
  rc = ops.write(lin, size, res);
  if (rc != EM_OKAY) return rc;
  if (op == 0x86 || op == 0x87) regWrite(size, old);
  if (logic != 0) setFlags((getFlags() & ~(0x8d5 as u64)) | szp(size, res)); // CF OF AF cleared, SZP from the result
  return EM_OKAY;
}

function privOp(ops: EmulOps, op: i32): i32 {
  switch (op) {
    case 0xfa: case 0xfb: return ops.intr(op == 0xfb);
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xec: case 0xed: case 0xee: case 0xef: {
      // IN/OUT: a byte, a word (66) or a dword (REX.W does not widen them).
      const size = (op & 1) == 0 ? 1 : dOs() == 2 ? 2 : 4;
      const port: u32 = op <= 0xe7 ? (dImm() as u32) & 0xff : (reg64(RDX) as u32) & 0xffff;
      const m = sizeMask(size);
      if (op == 0xe6 || op == 0xe7 || op == 0xee || op == 0xef) return ops.writeIo(port, size, reg64(RAX) & m);
      const rc = ops.readIo(port, size);
      if (rc != EM_OKAY) return rc;
      if (size == 4) setReg64(RAX, emVal & m);
      else setReg64(RAX, (reg64(RAX) & ~m) | (emVal & m));
      return EM_OKAY;
    }
    case 0x120: case 0x121: { // MOV r, CRn / DRn
      const size = is64 ? 8 : 4;
      const rc = op == 0x120 ? ops.readCr(dReg() as u32, size) : ops.readDr(dReg() as u32, size);
      if (rc != EM_OKAY) return rc;
      setReg64(dRm(), emVal & sizeMask(size));
      return EM_OKAY;
    }
    case 0x122: case 0x123: { // MOV CRn / DRn, r
      const size = is64 ? 8 : 4;
      const v = reg64(dRm()) & sizeMask(size);
      return op == 0x122 ? ops.writeCr(dReg() as u32, size, v) : ops.writeDr(dReg() as u32, size, v);
    }
    case 0x130: // WRMSR
      return ops.writeMsr(reg64(RCX) as u32, 8, (reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32));
    case 0x132: { // RDMSR
      const rc = ops.readMsr(reg64(RCX) as u32, 8);
      if (rc != EM_OKAY) return rc;
      setReg64(RAX, emVal & 0xffffffff);
      setReg64(RDX, emVal >> 32);
      return EM_OKAY;
    }
    case 0x106: { // CLTS: CR0.TS cleared
      const rc = ops.readCr(0, 8);
      if (rc != EM_OKAY) return rc;
      return ops.writeCr(0, 8, emVal & ~CR0_TS);
    }
    case 0x109: return ops.wbinvd();
    default: return EM_UNHANDLEABLE;
  }
}

function cpuidOp(ops: EmulOps): i32 {
  const rc = ops.cpuid(reg64(RAX) as u32, reg64(RCX) as u32);
  if (rc != EM_OKAY) return rc;
  setReg64(RAX, emVal & 0xffffffff); setReg64(RBX, emB as u64); setReg64(RCX, emC as u64); setReg64(RDX, emD as u64);
  return EM_OKAY;
}
