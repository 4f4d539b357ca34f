// The run loop: fetch/decode/execute up to `budget` instructions, deliver faults, return an EXIT_*.
// Invariant: `fault` is clear at the top of each step (it is cleared when a fault is delivered).
//
// Three loops. dbgStep runs while RFLAGS.TF is set or breakpoints are armed (cpu/debug.ts): every #DB
// condition, per instruction. The general one (slowStep) does everything else per instruction: CS limit
// checks, RIP written back after each instruction. The fast one runs while RFLAGS.TF is clear and
// CS, SS, DS and ES are flat (or in 64-bit mode): the linear address of RIP is RIP. It keeps RIP in a local, keeps
// the host page of the current code page across instructions of that page, and executes the fast
// forms of cpu/fast.ts inline; other instructions go through exec.ts with RIP stored first, after
// which it re-checks everything that such an instruction may have changed (TF, mode, stop requests,
// the code page's translation). Fast forms cannot fault, change TF, the mode or the TLB: they fall
// back to exec.ts (for the same instruction, with nothing changed) whenever that might happen.
import {
  CPU_STATE, CPU_CR2, CPU_INSNS, CPU_EXIT_REASON, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, EXIT_BUDGET
} from "../memmap";
import { rip, setRip, nextIp, is64, segBase, mode, flatMask, RSP, RDX } from "./state";
import {
  flagsSync, cond, lfOp, lfA, lfB, lfRes, lfSize, setLazy, setLazyIncDec, sizeMask, LF_SUB, LF_LOGIC, LF_NONE,
  LF_CFOF, LF_INC, LF_DEC, getFlags, setFlags,
} from "./flags";
import { fault, faultVec, faultErr, clearFault } from "./fault";
import { decodeCached, decodeEntry, dLen, E, jitDecode } from "./decode";
import { execute } from "./exec";
import { dcacheFind, dcacheKey } from "./dcache";
import { fetchHostFast, rdProbe, wrProbe, jitTlbOut, NO_HOST } from "../mmu/tlb";
import { alu, imul64, mul64, mulHi, mulFlags, bsfFlags, F_CF } from "./alu";
import {
  stopReason, clearStop, deliverException, singleStep, eventDelivered, clearEventDelivered,
} from "./system";
import * as F from "./fast";
import { dbgArmed, dbgExec, dbgHold, dbgExecMatch, dbgMergeDr6, dbgRecompute, DR6_BS } from "./debug";
import { dbgHits, dbgClearHits } from "./dbgdata";
import { deliverEvent } from "./events";
import { dOp, dReg } from "./decode";
import { F_RF } from "./state";
import {
  DCACHE_BASE, CPU_DBG_PENDING, EVENT_EXCEPTION, EVENT_TRAP, EXIT_SYSCALL, EXIT_SYSENTER, EXIT_INTERCEPT
} from "../memmap";
import { NO_ERR } from "./fault";
import {
  F_JIT, jitMode, jitEntries, jitHeat, jitDrop, jitService, jitServiceNow, jitUrgent, pageGen, jitStat
} from "./jit";
import {
  JIT_IO, JIO_EXIT, JEXIT_BUDGET, JIO_IP, JIO_LF_OP, JIO_LF_SIZE, JIO_LF_A, JIO_LF_B, JIO_LF_RES, JSTAT_INSNS,
  JSTAT_ENTRIES, JSTAT_STEPS
} from "../memmap";

let faults = 0; // steps of the current run() that delivered an exception instead of retiring

// One instruction the general way (no TF, nothing armed: see dbgStep); returns the next RIP.
function slowStep(ip: u64): u64 {
  const lin = is64 ? ip : segBase(SEG_CS) + ip;
  if (decodeCached(lin)) {
    nextIp = ip + (dLen() as u64);
    if (!is64) nextIp &= 0xffffffff;
    execute();
  }
  if (fault) {
    faults++;
    clearFault();
    nextIp = ip;
    setRip(ip);
    deliverException(faultVec, faultErr);
    clearFault(); // deliverException handles nested faults itself
  }
  setRip(nextIp);
  return nextIp;
}

// One instruction while breakpoints are armed (cpu/debug.ts) or TF is set, with every #DB condition:
//   - an instruction breakpoint is a fault before the instruction (RF set suppresses it once);
//   - data breakpoints hit by the instruction's accesses, and single-step (TF as it starts), are one
//     trap after it (B0-B3 and BS in DR6), not taken when it faulted;
//   - after MOV SS / POP SS those traps wait one more instruction (the shadow), and are then raised
//     wherever that instruction went: into an interrupt or SYSCALL handler, its first instruction.
//     When that instruction left for the hypervisor (a PV hypercall, syscall or INT n), the
//     hypervisor's entry took the #DB: as Xen's handle_DB does with a #DB in its own context (since
//     XSA-260), it is dropped: the real DR6 reset, the guest's DR6 not merged with it.
// The single-step trap follows slowStep's rule: none after an instruction that delivered an event.
function dbgStep(ip: u64): u64 {
  const tf = singleStep;
  clearEventDelivered();
  const held = load<u32>(CPU_STATE + CPU_DBG_PENDING);
  if (held != 0) store<u32>(CPU_STATE + CPU_DBG_PENDING, 0);
  let lin = is64 ? ip : segBase(SEG_CS) + ip;
  if (!is64) lin &= 0xffffffff;
  const rf = (getFlags() & F_RF) != 0;
  if (dbgExec && !rf && held == 0) {
    const hit = dbgExecMatch(lin);
    if (hit != 0) {
      faults++;
      dbgMergeDr6(hit);
      nextIp = ip;
      setRip(ip);
      deliverEvent(1, NO_ERR, ip, EVENT_EXCEPTION);
      clearFault();
      setRip(nextIp);
      return nextIp;
    }
  }
  dbgClearHits();
  let shadow = false;
  if (decodeCached(lin)) {
    nextIp = ip + (dLen() as u64);
    if (!is64) nextIp &= 0xffffffff;
    const op = dOp();
    shadow = op == 0x17 || (op == 0x8e && dReg() == 2);
    execute();
  }
  if (fault) { // a fault: the instruction did not complete, its traps are not taken
    faults++;
    clearFault();
    nextIp = ip;
    setRip(ip);
    deliverException(faultVec, faultErr);
    clearFault();
    dbgClearHits();
    setRip(nextIp);
    if (held != 0) dbgRecompute();
    return nextIp;
  }
  if (rf) setFlags(getFlags() & ~F_RF); // RF lasts one instruction
  let bits = dbgHits;
  dbgClearHits();
  if (tf && !eventDelivered) bits |= DR6_BS;
  if (shadow && held == 0) {
    // Held back until after the next instruction.
    dbgHold(bits);
    setRip(nextIp);
    return nextIp;
  }
  // Held traps of an instruction that entered the hypervisor are dropped there (see above); after one
  // that stopped for the host (port I/O, HLT on a bare machine) they are noted in DR6.
  if (stopReason != EXIT_SYSCALL && stopReason != EXIT_SYSENTER && stopReason != EXIT_INTERCEPT) bits |= held;
  if (held != 0) dbgRecompute(); // the held #DB is consumed: maybe nothing is armed any more
  if (bits != 0) {
    dbgMergeDr6(bits);
    if (stopReason < 0) {
      setRip(ip);
      deliverEvent(1, NO_ERR, nextIp, EVENT_TRAP);
      clearFault();
    }
  }
  setRip(nextIp);
  return nextIp;
}

// Deliver the pending fault of the instruction at `ip`; returns where execution continues.
function faultAt(ip: u64): u64 {
  faults++;
  clearFault();
  nextIp = ip;
  setRip(ip);
  deliverException(faultVec, faultErr);
  clearFault();
  return nextIp;
}

// ---- helpers of the fast forms ----
// BTS/BTR/BTC (k 1..3) of bit b; the flags: CF = the bit before, the others kept (as exec.ts).
@inline function btApply(k: i32, v: u64, b: u64): u64 {
  const m = (<u64>1) << b;
  return k == 1 ? v | m : k == 2 ? v & ~m : v ^ m;
}
@inline function btFlag(cf: bool): void { setFlags((getFlags() & ~F_CF) | (cf ? F_CF : 0)); }
@inline function rget(a: i32, size: i32): u64 { return size == 4 ? load<u32>(a) as u64 : load<u64>(a); }
@inline function rset(a: i32, size: i32, v: u64): void { store<u64>(a, size == 4 ? v & 0xffffffff : v); }
// Effective address of the entry's memory operand: 64-bit addressing in 64-bit mode, else 32-bit
// (segments are flat there when the fast loop runs).
// `nip` is the RIP of the next instruction (for RIP-relative operands).
@inline function fea(e: i32, nip: u64): u64 {
  let a = (<u64><i64>load<i32>(e, 20)) + load<u64>(load<i32>(e, 44)) +
    (load<u64>(load<i32>(e, 48)) << (load<u8>(e, 34) as u64));
  const x = load<u8>(e, 35);
  if (x != 0) {
    if (x & 1) a += nip;
    if (x & 6) a += segBase(x & 2 ? SEG_FS : SEG_GS);
  }
  return is64 ? a : a & 0xffffffff;
}
// The fast loop runs in 64-bit mode, or with CS, SS, DS and ES flat (linear address == offset).
const FLAT4 = (1 << SEG_CS) | (1 << SEG_SS) | (1 << SEG_DS) | (1 << SEG_ES);
@inline function fastOk(): bool { return is64 || (flatMask & FLAT4) == FLAT4; }
@inline function canonical(t: u64): bool { return (((t << 16) as i64) >> 16) as u64 == t; }
@inline function fImm(e: i32): u64 { return load<u64>(e, 24); }
@inline function fA(e: i32): i32 { return load<i32>(e, 36); }
@inline function fB(e: i32): i32 { return load<i32>(e, 40); }

// Condition code `cc` with the common lazy-flag states decided directly.
@inline function condFast(cc: i32): bool {
  const op = lfOp;
  if (op == LF_SUB) { // lfA, lfB hold the masked operands, lfRes = lfA - lfB
    const a = lfA, b = lfB;
    let r: bool;
    switch (cc >> 1) {
      case 1: r = a < b; break; // B
      case 2: r = a == b; break; // Z
      case 3: r = a <= b; break; // BE
      case 6: { const sh = (64 - (lfSize << 3)) as u64; r = ((a << sh) as i64) < ((b << sh) as i64); break; } // L
      case 7: { const sh = (64 - (lfSize << 3)) as u64; r = ((a << sh) as i64) <= ((b << sh) as i64); break; } // LE
      default: return cond(cc);
    }
    return (cc & 1) != 0 ? !r : r;
  }
  if (op == LF_LOGIC) { // CF = OF = 0
    const sh = (64 - (lfSize << 3)) as u64;
    const v = (lfRes << sh) as i64; // the result, sign in bit 63
    let r: bool;
    switch (cc >> 1) {
      case 0: r = false; break; // O
      case 1: r = false; break; // B
      case 2: r = v == 0; break; // Z
      case 3: r = v == 0; break; // BE
      case 4: r = v < 0; break; // S
      case 6: r = v < 0; break; // L
      case 7: r = v <= 0; break; // LE
      default: return cond(cc);
    }
    return (cc & 1) != 0 ? !r : r;
  }
  return cond(cc);
}
function condRt(cc: i32): bool { return condFast(cc); }

const JIT_SLICE = 100_000; // instructions a compiled region may run per call
const BAD_IP: u64 = 0x8000000000000000; // never a valid RIP (not canonical, above 4 GiB)
// Where a Jcc with condition `cc` continues.
@inline function jcc(e: i32, ip: u64, len: u64, cc: i32): u64 {
  if (!condFast(cc)) return ip + len;
  const t = ip + len + fImm(e);
  if (is64) return canonical(t) ? t : BAD_IP;
  return t & 0xffffffff;
}

export function run(budget: i32): i32 {
  clearStop();
  clearFault();
  faults = 0;
  let n = 0; // steps taken (retired instructions and delivered faults): bounds the loop
  let ip = rip();
  while (n < budget && stopReason < 0) {
    if (dbgArmed || singleStep) {
      n++;
      ip = dbgStep(ip);
      continue;
    }
    if (singleStep || !fastOk()) {
      n++;
      ip = slowStep(ip);
      continue;
    }
    // The fast loop. Linear address == RIP here (64-bit mode, or flat segments).
    let vpn: u64 = <u64>-1; // linear page of the code page cached in hpage
    let hpage: i32 = 0;
    let modeKey = (mode as u64) << 32; // the second word of a valid entry's tag
    // This instruction starts a block (JIT heat is counted there). Not where run() starts: that is often
    // where the last slice's budget ran out, in the middle of a block.
    let bs = jitEntries; // (jit_entries: the first instruction of a run() is a block start too)
    let quiet = false; // the general path ran an instruction only because the budget ended a region's block
    let next = DCACHE_BASE; // the entry to try first (DCACHE_BASE: tag 0, none)
    while (n < budget) {
      if (jitUrgent) jitServiceNow();
      let host: i32;
      if ((ip >> 12) == vpn) {
        host = hpage + ((ip as i32) & 0xfff);
      } else {
        if (!is64) ip &= 0xffffffff;
        host = fetchHostFast(ip);
        if (host == NO_HOST) { n++; ip = faultAt(ip); break; }
        vpn = ip >> 12;
        hpage = host & ~0xfff;
      }
      // The entry after the last one run (the arena holds a block's instructions in order: cpu/dcache.ts),
      // else the one the index names, else a fill.
      let e = next;
      const key = (host as u32 as u64) | modeKey;
      if (load<u64>(e) != key) {
        e = dcacheFind(host, key);
        if (e == 0) {
          e = decodeEntry(ip, host);
          if (e == 0) { n++; ip = faultAt(ip); break; }
        }
      }
      next = e + 64; // (after DECODE_SCRATCH, 64 bytes that stay 0)
      if (bs) {
        bs = false;
        if (jitMode != 0 && load<u8>(e, 32) != F_JIT) jitHeat(e, ip, host, mode);
      }
      n++;
      const len = load<u8>(e, 58) as u64;
      switch (load<u8>(e, 32) as i32) {
        case F.F_NOP: ip += len; continue;
        case F_JIT: {
          n--;
          if (load<u32>(e, 44) != pageGen(host)) { // its page was written: back to the entry's own form
            jitDrop(host, mode);
            F.specialise(e, mode);
            continue;
          }
          store<i32>(JIT_IO + JIO_LF_OP, lfOp);
          store<i32>(JIT_IO + JIO_LF_SIZE, lfSize);
          store<u64>(JIT_IO + JIO_LF_A, lfA);
          store<u64>(JIT_IO + JIO_LF_B, lfB);
          store<u64>(JIT_IO + JIO_LF_RES, lfRes);
          jitTlbOut(JIT_IO);
          // At most JIT_SLICE at a time: V8 replaces a function's baseline code only when it is called again.
          const left = budget - n;
          const k = call_indirect<i32>(load<u32>(e, 52), ip, left < JIT_SLICE ? left : JIT_SLICE, 0);
          jitStat(JSTAT_ENTRIES, 1);
          if (k > 0) {
            n += k;
            jitStat(JSTAT_INSNS, k as u64);
            setLazy(load<i32>(JIT_IO + JIO_LF_OP), load<i32>(JIT_IO + JIO_LF_SIZE), load<u64>(JIT_IO + JIO_LF_A),
              load<u64>(JIT_IO + JIO_LF_B), load<u64>(JIT_IO + JIO_LF_RES));
            ip = load<u64>(JIT_IO + JIO_IP);
            bs = true;
            continue;
          }
          n++; // no progress: the interpreter runs the entry instruction
          // When the slice's budget was too short for the region's first block, the instructions that follow
          // are not block starts (heat there would compile regions entered mid-block).
          quiet = load<i32>(JIT_IO + JIO_EXIT) == JEXIT_BUDGET;
          break;
        }
        case F.F_MOV_RR32: rset(fA(e), 4, load<u32>(fB(e))); ip += len; continue;
        case F.F_MOV_RR64: store<u64>(fA(e), load<u64>(fB(e))); ip += len; continue;
        case F.F_MOV_RI32: rset(fA(e), 4, fImm(e)); ip += len; continue;
        case F.F_MOV_RI64: store<u64>(fA(e), fImm(e)); ip += len; continue;
        case F.F_LEA32: rset(fA(e), 4, fea(e, ip + len)); ip += len; continue;
        case F.F_LEA64: store<u64>(fA(e), fea(e, ip + len)); ip += len; continue;
        case F.F_LD32: {
          const p = rdProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          rset(fA(e), 4, load<u32>(p)); ip += len; continue;
        }
        case F.F_LD64: {
          const p = rdProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          store<u64>(fA(e), load<u64>(p)); ip += len; continue;
        }
        case F.F_LDZX8: {
          const p = rdProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          store<u64>(fA(e), load<u8>(p) as u64); ip += len; continue;
        }
        case F.F_LDZX16: {
          const p = rdProbe(fea(e, ip + len), 2);
          if (p == 0) break;
          store<u64>(fA(e), load<u16>(p) as u64); ip += len; continue;
        }
        case F.F_LDSX8_32: {
          const p = rdProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          rset(fA(e), 4, <u64><i64>load<i8>(p)); ip += len; continue;
        }
        case F.F_LDSX8_64: {
          const p = rdProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          store<u64>(fA(e), <u64><i64>load<i8>(p)); ip += len; continue;
        }
        case F.F_LDSX16_32: {
          const p = rdProbe(fea(e, ip + len), 2);
          if (p == 0) break;
          rset(fA(e), 4, <u64><i64>load<i16>(p)); ip += len; continue;
        }
        case F.F_LDSX16_64: {
          const p = rdProbe(fea(e, ip + len), 2);
          if (p == 0) break;
          store<u64>(fA(e), <u64><i64>load<i16>(p)); ip += len; continue;
        }
        case F.F_LDSX32_64: {
          const p = rdProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          store<u64>(fA(e), <u64><i64>load<i32>(p)); ip += len; continue;
        }
        case F.F_ST8: {
          const p = wrProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          store<u8>(p, load<u8>(fB(e))); ip += len; continue;
        }
        case F.F_ST16: {
          const p = wrProbe(fea(e, ip + len), 2);
          if (p == 0) break;
          store<u16>(p, load<u16>(fB(e))); ip += len; continue;
        }
        case F.F_ST32: {
          const p = wrProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          store<u32>(p, load<u32>(fB(e))); ip += len; continue;
        }
        case F.F_ST64: {
          const p = wrProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          store<u64>(p, load<u64>(fB(e))); ip += len; continue;
        }
        case F.F_STI8: {
          const p = wrProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          store<u8>(p, fImm(e) as u8); ip += len; continue;
        }
        case F.F_STI16: {
          const p = wrProbe(fea(e, ip + len), 2);
          if (p == 0) break;
          store<u16>(p, fImm(e) as u16); ip += len; continue;
        }
        case F.F_STI32: {
          const p = wrProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          store<u32>(p, fImm(e) as u32); ip += len; continue;
        }
        case F.F_STI64: {
          const p = wrProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          store<u64>(p, fImm(e)); ip += len; continue;
        }
        case F.F_ALU_RM32: {
          const p = rdProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          const k = load<u8>(e, 33) as i32;
          const r = alu(k, 4, load<u32>(fA(e)) as u64, load<u32>(p) as u64);
          if (k != 7) rset(fA(e), 4, r);
          ip += len; continue;
        }
        case F.F_ALU_RM64: {
          const p = rdProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          const k = load<u8>(e, 33) as i32;
          const r = alu(k, 8, load<u64>(fA(e)), load<u64>(p));
          if (k != 7) store<u64>(fA(e), r);
          ip += len; continue;
        }
        case F.F_CMP_MR32: {
          const p = rdProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          alu(7, 4, load<u32>(p) as u64, load<u32>(fB(e)) as u64); ip += len; continue;
        }
        case F.F_CMP_MR64: {
          const p = rdProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          alu(7, 8, load<u64>(p), load<u64>(fB(e))); ip += len; continue;
        }
        case F.F_CMP_MI8: {
          const p = rdProbe(fea(e, ip + len), 1);
          if (p == 0) break;
          alu(7, 1, load<u8>(p) as u64, fImm(e)); ip += len; continue;
        }
        case F.F_CMP_MI32: {
          const p = rdProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          alu(7, 4, load<u32>(p) as u64, fImm(e)); ip += len; continue;
        }
        case F.F_CMP_MI64: {
          const p = rdProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          alu(7, 8, load<u64>(p), fImm(e)); ip += len; continue;
        }
        case F.F_MOVZX8R: store<u64>(fA(e), load<u8>(fB(e)) as u64); ip += len; continue;
        case F.F_MOVZX16R: store<u64>(fA(e), load<u16>(fB(e)) as u64); ip += len; continue;
        case F.F_MOVSX8R32: rset(fA(e), 4, <u64><i64>load<i8>(fB(e))); ip += len; continue;
        case F.F_MOVSX8R64: store<u64>(fA(e), <u64><i64>load<i8>(fB(e))); ip += len; continue;
        case F.F_MOVSX16R32: rset(fA(e), 4, <u64><i64>load<i16>(fB(e))); ip += len; continue;
        case F.F_MOVSX16R64: store<u64>(fA(e), <u64><i64>load<i16>(fB(e))); ip += len; continue;
        case F.F_MOVSXDR: store<u64>(fA(e), <u64><i64>load<i32>(fB(e))); ip += len; continue;
        case F.F_SHL32: case F.F_SHL64: {
          const size = load<u8>(e, 32) == F.F_SHL64 ? 8 : 4;
          const c = load<u8>(e, 33) as u64;
          const w = (size << 3) as u64;
          const v = rget(fA(e), size);
          const r = (v << c) & sizeMask(size);
          const cf = (v >> (w - c)) & 1;
          const ofl = ((r >> (w - 1)) & 1) ^ cf;
          rset(fA(e), size, r);
          setLazy(LF_CFOF, size, cf, ofl, r);
          ip += len; continue;
        }
        case F.F_SHR32: case F.F_SHR64: {
          const size = load<u8>(e, 32) == F.F_SHR64 ? 8 : 4;
          const c = load<u8>(e, 33) as u64;
          const w = (size << 3) as u64;
          const v = rget(fA(e), size);
          const r = v >> c;
          const cf = (v >> (c - 1)) & 1;
          const ofl = (v >> (w - 1)) & 1;
          rset(fA(e), size, r);
          setLazy(LF_CFOF, size, cf, ofl, r);
          ip += len; continue;
        }
        case F.F_SAR32: case F.F_SAR64: {
          const size = load<u8>(e, 32) == F.F_SAR64 ? 8 : 4;
          const c = load<u8>(e, 33) as u64;
          const sv: i64 = size == 4 ? <i64>load<i32>(fA(e)) : load<i64>(fA(e));
          const r = ((sv >> (c as i64)) as u64) & sizeMask(size);
          const cf = ((sv >> ((c - 1) as i64)) as u64) & 1;
          rset(fA(e), size, r);
          setLazy(LF_CFOF, size, cf, 0, r);
          ip += len; continue;
        }
        case F.F_IMUL_RR32: case F.F_IMUL_RRI32: {
          const a = <i64>load<i32>(fB(e));
          const b = load<u8>(e, 32) == F.F_IMUL_RR32 ? <i64>load<i32>(fA(e)) : <i64><i32>fImm(e);
          const p = a * b;
          const r = (p as u64) & 0xffffffff;
          const ovf: u64 = (<i64><i32>r) != p ? 1 : 0;
          store<u64>(fA(e), r);
          setLazy(LF_CFOF, 4, ovf, ovf, r);
          ip += len; continue;
        }
        case F.F_IMUL_RR64: case F.F_IMUL_RRI64: {
          const a = load<u64>(fB(e));
          const b = load<u8>(e, 32) == F.F_IMUL_RR64 ? load<u64>(fA(e)) : fImm(e);
          const r = imul64(a, b);
          const ovf: u64 = mulHi != (((r as i64) >> 63) as u64) ? 1 : 0;
          store<u64>(fA(e), r);
          setLazy(LF_CFOF, 8, ovf, ovf, r);
          ip += len; continue;
        }
        // Read-modify-write memory forms: the write tag (which implies read access) or the general path.
        case F.F_INC_M32: case F.F_INC_M64: case F.F_DEC_M32: case F.F_DEC_M64: {
          const f = load<u8>(e, 32);
          const size = f == F.F_INC_M64 || f == F.F_DEC_M64 ? 8 : 4;
          const p = wrProbe(fea(e, ip + len), size);
          if (p == 0) break;
          const dec = f == F.F_DEC_M32 || f == F.F_DEC_M64;
          const a = size == 8 ? load<u64>(p) : load<u32>(p) as u64;
          const r = (dec ? a - 1 : a + 1) & sizeMask(size);
          if (size == 8) store<u64>(p, r); else store<u32>(p, r as u32);
          setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, r);
          ip += len; continue;
        }
        case F.F_XCHG_M32: {
          const p = wrProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          const v = load<u32>(p);
          store<u32>(p, load<u32>(fA(e)));
          rset(fA(e), 4, v as u64);
          ip += len; continue;
        }
        case F.F_XCHG_M64: {
          const p = wrProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          const v = load<u64>(p);
          store<u64>(p, load<u64>(fA(e)));
          store<u64>(fA(e), v);
          ip += len; continue;
        }
        case F.F_ALU_MR32: {
          const p = wrProbe(fea(e, ip + len), 4);
          if (p == 0) break;
          store<u32>(p, alu(load<u8>(e, 33) as i32, 4, load<u32>(p) as u64, load<u32>(fB(e)) as u64) as u32);
          ip += len; continue;
        }
        case F.F_ALU_MR64: {
          const p = wrProbe(fea(e, ip + len), 8);
          if (p == 0) break;
          store<u64>(p, alu(load<u8>(e, 33) as i32, 8, load<u64>(p), load<u64>(fB(e))));
          ip += len; continue;
        }
        case F.F_BSF32: case F.F_BSF64: case F.F_BSR32: case F.F_BSR64: {
          const f = load<u8>(e, 32);
          const size = f == F.F_BSF64 || f == F.F_BSR64 ? 8 : 4;
          const v = rget(fB(e), size);
          if (v == 0) { bsfFlags(true); ip += len; continue; } // the destination is unchanged
          rset(fA(e), size, f == F.F_BSF32 || f == F.F_BSF64 ? ctz<u64>(v) : 63 - clz<u64>(v));
          bsfFlags(false);
          ip += len; continue;
        }
        case F.F_BT_RR32: case F.F_BT_RR64: case F.F_BT_RI32: case F.F_BT_RI64: {
          const f = load<u8>(e, 32);
          const size = f == F.F_BT_RR64 || f == F.F_BT_RI64 ? 8 : 4;
          const b =
            (f == F.F_BT_RR32 || f == F.F_BT_RR64 ? rget(fB(e), size) : fImm(e) & 0xff) & (((size << 3) - 1) as u64);
          const v = rget(fA(e), size);
          const k = load<u8>(e, 33) as i32;
          if (k != 0) rset(fA(e), size, btApply(k, v, b));
          btFlag(((v >> b) & 1) != 0);
          ip += len; continue;
        }
        case F.F_BT_MR32: case F.F_BT_MR64: case F.F_BT_MI32: case F.F_BT_MI64: {
          const f = load<u8>(e, 32);
          const size = f == F.F_BT_MR64 || f == F.F_BT_MI64 ? 8 : 4;
          let lin = fea(e, ip + len);
          let b: u64;
          if (f == F.F_BT_MR32 || f == F.F_BT_MR64) {
            // A register bit offset is signed and may address another word.
            const so: i64 = size == 4 ? <i64><i32>load<u32>(fB(e)) : load<i64>(fB(e));
            lin += ((so >> (size == 4 ? 5 : 6)) * (size as i64)) as u64;
            if (!is64) lin &= 0xffffffff;
            b = (so as u64) & (((size << 3) - 1) as u64);
          } else b = fImm(e) & 0xff & (((size << 3) - 1) as u64);
          const k = load<u8>(e, 33) as i32;
          const p = k == 0 ? rdProbe(lin, size) : wrProbe(lin, size);
          if (p == 0) break;
          const v = size == 8 ? load<u64>(p) : load<u32>(p) as u64;
          if (k != 0) { const r = btApply(k, v, b); if (size == 8) store<u64>(p, r); else store<u32>(p, r as u32); }
          btFlag(((v >> b) & 1) != 0);
          ip += len; continue;
        }
        case F.F_CMPXCHG_M32: case F.F_CMPXCHG_M64: {
          const size = load<u8>(e, 32) == F.F_CMPXCHG_M64 ? 8 : 4;
          const p = wrProbe(fea(e, ip + len), size);
          if (p == 0) break;
          const d = size == 8 ? load<u64>(p) : load<u32>(p) as u64;
          const a = rget(CPU_STATE, size); // RAX
          alu(7, size, a, d);
          if (a == d) { const v = rget(fB(e), size); if (size == 8) store<u64>(p, v); else store<u32>(p, v as u32); }
          else rset(CPU_STATE, size, d); // (the processor writes the old value back: no change)
          ip += len; continue;
        }
        case F.F_XADD_M32: case F.F_XADD_M64: {
          const size = load<u8>(e, 32) == F.F_XADD_M64 ? 8 : 4;
          const p = wrProbe(fea(e, ip + len), size);
          if (p == 0) break;
          const d = size == 8 ? load<u64>(p) : load<u32>(p) as u64;
          const r = alu(0, size, d, rget(fB(e), size));
          rset(fB(e), size, d);
          if (size == 8) store<u64>(p, r); else store<u32>(p, r as u32);
          ip += len; continue;
        }
        case F.F_MUL64: {
          const lo = mul64(load<u64>(CPU_STATE), load<u64>(fB(e)));
          store<u64>(CPU_STATE, lo);
          store<u64>(CPU_STATE + 16, mulHi); // RDX
          mulFlags(8, lo, mulHi != 0);
          ip += len; continue;
        }
        case F.F_MUL32: {
          const full = (load<u32>(CPU_STATE) as u64) * (load<u32>(fB(e)) as u64);
          store<u64>(CPU_STATE, full & 0xffffffff);
          store<u64>(CPU_STATE + 16, full >> 32);
          mulFlags(4, full & 0xffffffff, (full >> 32) != 0);
          ip += len; continue;
        }
        case F.F_SETCC: store<u8>(fA(e), condFast(load<u8>(e, 33) as i32) ? 1 : 0); ip += len; continue;
        case F.F_NOT32: rset(fA(e), 4, ~load<u32>(fA(e)) as u64); ip += len; continue;
        case F.F_NOT64: store<u64>(fA(e), ~load<u64>(fA(e))); ip += len; continue;
        case F.F_INC32: case F.F_INC64: case F.F_DEC32: case F.F_DEC64: {
          const f = load<u8>(e, 32);
          const size = f == F.F_INC64 || f == F.F_DEC64 ? 8 : 4;
          const dec = f == F.F_DEC32 || f == F.F_DEC64;
          const a = rget(fA(e), size);
          const r = (dec ? a - 1 : a + 1) & sizeMask(size);
          rset(fA(e), size, r);
          setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, r);
          ip += len; continue;
        }
        case F.F_DIV32: {
          const d = load<u32>(fB(e)) as u64;
          if (d == 0) break;
          const x = (load<u32>(CPU_STATE + (RDX << 3)) as u64) << 32 | (load<u32>(CPU_STATE) as u64);
          const q = x / d;
          if (q > 0xffffffff) break;
          store<u64>(CPU_STATE + (RDX << 3), x % d);
          store<u64>(CPU_STATE, q);
          ip += len; continue;
        }
        case F.F_DIV64: {
          const d = load<u64>(fB(e));
          if (d == 0 || load<u64>(CPU_STATE + (RDX << 3)) != 0) break;
          const x = load<u64>(CPU_STATE);
          store<u64>(CPU_STATE + (RDX << 3), x % d);
          store<u64>(CPU_STATE, x / d);
          ip += len; continue;
        }
        case F.F_JMP: {
          let t = ip + len + fImm(e);
          if (is64) { if (!canonical(t)) break; } else t &= 0xffffffff;
          ip = t; bs = true; continue;
        }
        case F.F_CALL: {
          const t = ip + len + fImm(e);
          if (!canonical(t)) break;
          const sp = load<u64>(CPU_STATE + (RSP << 3)) - 8;
          const p = wrProbe(sp, 8);
          if (p == 0) break;
          store<u64>(p, ip + len);
          store<u64>(CPU_STATE + (RSP << 3), sp);
          ip = t; bs = true; continue;
        }
        case F.F_RET: {
          const sp = load<u64>(CPU_STATE + (RSP << 3));
          const p = rdProbe(sp, 8);
          if (p == 0) break;
          const t = load<u64>(p);
          if (!canonical(t)) break;
          store<u64>(CPU_STATE + (RSP << 3), sp + 8 + (fImm(e) & 0xffff));
          ip = t; bs = true; continue;
        }
        case F.F_PUSH: {
          const v = load<u64>(fB(e));
          const sp = load<u64>(CPU_STATE + (RSP << 3)) - 8;
          const p = wrProbe(sp, 8);
          if (p == 0) break;
          store<u64>(p, v);
          store<u64>(CPU_STATE + (RSP << 3), sp);
          ip += len; continue;
        }
        case F.F_POP: {
          const sp = load<u64>(CPU_STATE + (RSP << 3));
          const p = rdProbe(sp, 8);
          if (p == 0) break;
          const v = load<u64>(p);
          store<u64>(CPU_STATE + (RSP << 3), sp + 8);
          store<u64>(fA(e), v);
          ip += len; continue;
        }
        case F.F_CMOV32: {
          const v = load<u32>(fB(e));
          if (condRt(load<u8>(e, 33))) rset(fA(e), 4, v as u64);
          else rset(fA(e), 4, load<u32>(fA(e)) as u64);
          ip += len; continue;
        }
        case F.F_CMOV64: {
          const v = load<u64>(fB(e));
          if (condRt(load<u8>(e, 33))) store<u64>(fA(e), v);
          ip += len; continue;
        }
        case F.F_TEST_RR8: alu(4, 1, load<u8>(fA(e)) as u64, load<u8>(fB(e)) as u64); ip += len; continue;
        case F.F_TEST_RR32: alu(4, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64); ip += len; continue;
        case F.F_TEST_RR64: alu(4, 8, load<u64>(fA(e)), load<u64>(fB(e))); ip += len; continue;
        case F.F_TEST_RI32: alu(4, 4, load<u32>(fA(e)) as u64, fImm(e)); ip += len; continue;
        case F.F_TEST_RI64: alu(4, 8, load<u64>(fA(e)), fImm(e)); ip += len; continue;
        // ALU r, r
        case F.F_RR32 + 0: rset(fA(e), 4, alu(0, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 1: rset(fA(e), 4, alu(1, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 2: rset(fA(e), 4, alu(2, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 3: rset(fA(e), 4, alu(3, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 4: rset(fA(e), 4, alu(4, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 5: rset(fA(e), 4, alu(5, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 6: rset(fA(e), 4, alu(6, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64)); ip += len;
          continue;
        case F.F_RR32 + 7: alu(7, 4, load<u32>(fA(e)) as u64, load<u32>(fB(e)) as u64); ip += len; continue;
        case F.F_RR64 + 0: store<u64>(fA(e), alu(0, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 1: store<u64>(fA(e), alu(1, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 2: store<u64>(fA(e), alu(2, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 3: store<u64>(fA(e), alu(3, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 4: store<u64>(fA(e), alu(4, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 5: store<u64>(fA(e), alu(5, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 6: store<u64>(fA(e), alu(6, 8, load<u64>(fA(e)), load<u64>(fB(e)))); ip += len; continue;
        case F.F_RR64 + 7: alu(7, 8, load<u64>(fA(e)), load<u64>(fB(e))); ip += len; continue;
        // ALU r, imm
        case F.F_RI32 + 0: rset(fA(e), 4, alu(0, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 1: rset(fA(e), 4, alu(1, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 2: rset(fA(e), 4, alu(2, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 3: rset(fA(e), 4, alu(3, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 4: rset(fA(e), 4, alu(4, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 5: rset(fA(e), 4, alu(5, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 6: rset(fA(e), 4, alu(6, 4, load<u32>(fA(e)) as u64, fImm(e))); ip += len; continue;
        case F.F_RI32 + 7: alu(7, 4, load<u32>(fA(e)) as u64, fImm(e)); ip += len; continue;
        case F.F_RI64 + 0: store<u64>(fA(e), alu(0, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 1: store<u64>(fA(e), alu(1, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 2: store<u64>(fA(e), alu(2, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 3: store<u64>(fA(e), alu(3, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 4: store<u64>(fA(e), alu(4, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 5: store<u64>(fA(e), alu(5, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 6: store<u64>(fA(e), alu(6, 8, load<u64>(fA(e)), fImm(e))); ip += len; continue;
        case F.F_RI64 + 7: alu(7, 8, load<u64>(fA(e)), fImm(e)); ip += len; continue;
        // Jcc (BAD_IP: the target is not canonical, exec.ts raises the #GP)
        case F.F_JCC + 0: { const t = jcc(e, ip, len, 0); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 1: { const t = jcc(e, ip, len, 1); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 2: { const t = jcc(e, ip, len, 2); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 3: { const t = jcc(e, ip, len, 3); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 4: { const t = jcc(e, ip, len, 4); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 5: { const t = jcc(e, ip, len, 5); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 6: { const t = jcc(e, ip, len, 6); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 7: { const t = jcc(e, ip, len, 7); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 8: { const t = jcc(e, ip, len, 8); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 9: { const t = jcc(e, ip, len, 9); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 10: { const t = jcc(e, ip, len, 10); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 11: { const t = jcc(e, ip, len, 11); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 12: { const t = jcc(e, ip, len, 12); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 13: { const t = jcc(e, ip, len, 13); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 14: { const t = jcc(e, ip, len, 14); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        case F.F_JCC + 15: { const t = jcc(e, ip, len, 15); if (t == BAD_IP) break; ip = t; bs = true; continue; }
        default: break;
      }
      // The general path (exec.ts), RIP in the state block as it expects.
      E = e;
      setRip(ip);
      nextIp = ip + len;
      if (!is64) nextIp &= 0xffffffff;
      execute();
      if (fault) { ip = faultAt(ip); break; }
      ip = nextIp;
      bs = !quiet;
      quiet = false;
      vpn = <u64>-1; // it may have changed the translation of the code page
      modeKey = (mode as u64) << 32; // or the mode
      if (stopReason >= 0 || singleStep || dbgArmed || !fastOk()) break;
    }
  }
  if (!is64) ip &= 0xffffffff;
  setRip(ip);
  store<u64>(CPU_STATE + CPU_INSNS, load<u64>(CPU_STATE + CPU_INSNS) + ((n - faults) as u64));
  flagsSync();
  if (jitMode != 0) { jitStat(JSTAT_STEPS, (n - faults) as u64); jitService(); }
  const r = stopReason >= 0 ? stopReason : EXIT_BUDGET;
  store<i32>(CPU_STATE + CPU_EXIT_REASON, r);
  return r;
}

// For compiled code (host/jit/translate.ts: the kinds "ssex", "ssem", "core"): the instruction at `lin`
// (host address `host`, of the region's page) through the general path, as the run loop would run it.
// The region stores the guest registers the instruction reads (its address's base and index, its
// register operands: all of them for "core") before the call and loads those it writes after it; for
// instructions that read or write the arithmetic flags it makes RFLAGS current first (so they run with
// the lazy state LF_NONE) and reads them from RFLAGS after. Returns
// - 0 with nothing done when it would fault (#UD, #NM, #GP for a misaligned operand, #PF, #XM, #DE ...)
//   or cannot be decoded: the region exits before it and the interpreter runs it (and raises the fault).
//   CR2 and the lazy-flag state are left as they were (a page fault recorded CR2 already);
// - 1 when it ran;
// - 2 when it ran and wrote code that a region of its page came from (the page's generation moved on:
//   the running region may be stale, and exits after the instruction).
export function jitExec(lin: u64, host: i32): i32 {
  const key = dcacheKey(host, mode);
  let e = dcacheFind(host, key);
  if (e == 0) {
    if (jitDecode(lin, host) == 0) return 0;
    e = dcacheFind(host, key);
  }
  const ip0 = rip();
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  const op = lfOp, size = lfSize, a = lfA, b = lfB, res = lfRes;
  const gen = pageGen(host);
  setLazy(LF_NONE, 8, 0, 0, 0);
  E = e;
  setRip(lin);
  nextIp = lin + (load<u8>(e, 58) as u64);
  if (!is64) nextIp &= 0xffffffff;
  execute();
  setRip(ip0);
  if (fault) {
    clearFault();
    store<u64>(CPU_STATE + CPU_CR2, cr2);
    setLazy(op, size, a, b, res);
    return 0;
  }
  flagsSync(); // flags it set lazily (16-bit ALU forms ...) into RFLAGS, where the region reads them
  return pageGen(host) != gen ? 2 : 1;
}
