// Delivery of exceptions and software interrupts: first the hypervisor's intercept bitmap, then the
// guest's IDT (protected mode and long mode gates, privilege checks, stack switch through the TSS and
// IST, error codes), with the #DF / triple-fault rules for faults raised during delivery.
import {
  CPU_STATE, CPU_IDTR_BASE, CPU_IDTR_LIMIT, CPU_INTERCEPT, CPU_EXIT_VECTOR, CPU_EXIT_ERROR,
  CPU_EXIT_INFO, CPU_EXIT_KIND, CPU_CR2, CPU_DR, SEG_CS, SEG_SS, SEG_TR,
  EXIT_INTERCEPT, EXIT_UNHANDLED, EXIT_TRIPLE_FAULT, MODE_REAL,
  EVENT_EXCEPTION, EVENT_INT, EVENT_INT3, EVENT_INTO, EVENT_INT1, EVENT_TRAP,
} from "../memmap";
import {
  reg64, setReg64, RSP, cpl, setCpl, mode, segSel, segAttr, segBase, segLimit, setSeg, nextIp,
  cpuStateChanged, efer, rip, SA_P, SA_DB, SA_CODE, SA_E,
  F_TF, F_NT, F_RF, F_VM, F_IF,
} from "./state";
import { EFER_LMA, ACC_R, ACC_U } from "../bits";
import {
  fault, faultVec, faultErr, raise, clearFault, EX_GP, EX_NP, EX_TS, EX_SS, EX_DF, EX_PF, NO_ERR
} from "./fault";
import { readAcc, writeAcc } from "../mmu/tlb";
import { getFlags, setFlags } from "./flags";
import { descRead, descType, descDpl, descPresent, descAttr, descBase, descLimit, descSetAccessed } from "./desc";
import { requestStop, trapFlagChanged } from "./control";
import { dbgMergeDr6, DR6_BS } from "./debug";

// Set by every event delivered during the current instruction (the single-step trap is then not
// taken for it).
export let eventDelivered: bool = false;
export function clearEventDelivered(): void { eventDelivered = false; }

@inline function intercepted(vec: i32): bool {
  return (load<u8>(CPU_STATE + CPU_INTERCEPT + (vec >> 3)) & (1 << (vec & 7))) != 0;
}

function exitWith(reason: i32, vec: i32, err: i32, kind: i32): void {
  store<i32>(CPU_STATE + CPU_EXIT_VECTOR, vec);
  store<i32>(CPU_STATE + CPU_EXIT_ERROR, err);
  store<i32>(CPU_STATE + CPU_EXIT_KIND, kind);
  store<u64>(CPU_STATE + CPU_EXIT_INFO, vec == EX_PF ? load<u64>(CPU_STATE + CPU_CR2) : 0);
  requestStop(reason);
}

// Exception classes for the double-fault rules (SDM vol. 3, table 6-5).
function contributory(v: i32): bool { return v == 0 || (v >= 10 && v <= 13); }
function isDouble(first: i32, second: i32): bool {
  if (first == EX_PF) return second == EX_PF || contributory(second);
  return contributory(first) && contributory(second);
}

// Deliver event `vec` with error code `err` (NO_ERR for none); `ret` is the RIP the handler's frame
// holds (the faulting instruction for faults, the next one for traps and INT n); `kind` EVENT_*.
// On return the CPU state is that of the handler's first instruction, or run() has been asked to stop.
export function deliverEvent(vec: i32, err: i32, ret: u64, kind: i32): void {
  eventDelivered = true;
  let first = -1;
  for (let round = 0; round < 3; round++) {
    if (intercepted(vec)) {
      nextIp = ret;
      exitWith(EXIT_INTERCEPT, vec, err, kind);
      return;
    }
    if (load<u32>(CPU_STATE + CPU_IDTR_LIMIT) == 0 || mode == MODE_REAL) {
      // A bare machine without an IDT: the host sees the exception.
      nextIp = ret;
      exitWith(EXIT_UNHANDLED, vec, err, kind);
      return;
    }
    clearFault();
    const soft = kind == EVENT_INT || kind == EVENT_INT3 || kind == EVENT_INTO;
    if (idtDeliver(vec, err, ret, soft)) { trapFlagChanged(); return; }
    // A fault while delivering: #DF, a triple fault, or the new exception instead.
    const v2 = faultVec;
    const e2 = faultErr;
    clearFault();
    if (vec == EX_DF || first == EX_DF) {
      nextIp = ret;
      exitWith(EXIT_TRIPLE_FAULT, v2, e2, EVENT_EXCEPTION);
      return;
    }
    // A software interrupt whose delivery faults is a fault of the INT instruction itself.
    if (soft || kind == EVENT_INT1) ret = rip();
    if (!soft && isDouble(vec, v2)) { first = vec; vec = EX_DF; err = 0; }
    else { first = vec; vec = v2; err = e2; }
    kind = EVENT_EXCEPTION;
  }
  nextIp = ret;
  exitWith(EXIT_TRIPLE_FAULT, vec, err, EVENT_EXCEPTION);
}

// One attempt at delivery through the IDT; false after raising a fault (state unchanged).
function idtDeliver(vec: i32, err: i32, ret: u64, soft: bool): bool {
  const long = (efer() & EFER_LMA) != 0;
  const ext = soft ? 0 : 1;
  const gsz = long ? 16 : 8;
  const idtErr = vec * 8 + 2 + ext;
  if (((vec * gsz + gsz - 1) as u32) > load<u32>(CPU_STATE + CPU_IDTR_LIMIT)) { raise(EX_GP, idtErr); return false; }
  let gAddr = load<u64>(CPU_STATE + CPU_IDTR_BASE) + ((vec * gsz) as u64);
  if (!long) gAddr &= 0xffffffff;
  const g = readAcc(gAddr, 8, ACC_R);
  if (fault) return false;
  let gHi2: u64 = 0;
  if (long) {
    gHi2 = readAcc(gAddr + 8, 8, ACC_R);
    if (fault) return false;
  }
  const gLo = g as u32, gHi = (g >> 32) as u32;
  const gType = (gHi >> 8) & 0x1f;
  let gate32 = true;
  if (long) {
    if (gType != 0xe && gType != 0xf) { raise(EX_GP, idtErr); return false; }
  } else if (gType == 6 || gType == 7) gate32 = false;
  else if (gType != 0xe && gType != 0xf) { raise(EX_GP, idtErr); return false; } // task gates: not supported
  const trapGate = (gType & 1) != 0;
  const c = cpl();
  if (soft && (((gHi >> 13) & 3) as i32) < c) { raise(EX_GP, vec * 8 + 2); return false; }
  if ((gHi & 0x8000) == 0) { raise(EX_NP, idtErr); return false; }
  const sel = gLo >>> 16;
  let off: u64 = ((gLo & 0xffff) | (gHi & 0xffff0000)) as u64;
  if (long) off |= (gHi2 & 0xffffffff) << 32;
  else if (!gate32) off &= 0xffff;
  const ist = long ? (gHi & 7) as i32 : 0;

  // The handler's code segment.
  if ((sel & 0xfffc) == 0) { raise(EX_GP, ext); return false; }
  const r = descRead(sel, false);
  if (r < 0) return false;
  const selErr = ((sel & 0xfffc) as i32) + ext;
  if (r == 0 || (descType() & 0x18) != 0x18) { raise(EX_GP, selErr); return false; }
  const dpl = descDpl();
  if (dpl > c) { raise(EX_GP, selErr); return false; }
  if (!descPresent()) { raise(EX_NP, selErr); return false; }
  const csAttr = descAttr();
  if (long && ((csAttr & 0x2000) == 0 || (csAttr & SA_DB) != 0)) { raise(EX_GP, selErr); return false; }
  const conforming = (descType() & 0x04) != 0;
  const newCpl = conforming ? c : dpl;
  const csBase = descBase() & 0xffffffff;
  const csLimit = descLimit();
  const csDescAddrLo = sel;

  // The handler's stack.
  const oldSs = segSel(SEG_SS);
  const oldSp = reg64(RSP);
  let newSs = oldSs;
  let ssBase = segBase(SEG_SS), ssLimit = segLimit(SEG_SS), ssAttr = segAttr(SEG_SS);
  let sp = oldSp;
  const stackSwitch = newCpl < c;
  if (long) {
    if (stackSwitch || ist != 0) {
      const tssOff = ist != 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * newCpl;
      if (((tssOff + 7) as u32) > segLimit(SEG_TR)) {
        raise(EX_TS, ((segSel(SEG_TR) & 0xfffc) as i32) + ext); return false;
      }
      sp = readAcc(segBase(SEG_TR) + (tssOff as u64), 8, ACC_R);
      if (fault) return false;
    }
    if (stackSwitch) { newSs = newCpl as u32; ssBase = 0; ssLimit = 0; ssAttr = 0; }
    sp &= ~(15 as u64);
  } else if (stackSwitch) {
    const tssType = segAttr(SEG_TR) & 0x0f;
    const big = tssType == 9 || tssType == 0xb;
    const tOff = big ? 4 + 8 * newCpl : 2 + 4 * newCpl;
    const trErr = ((segSel(SEG_TR) & 0xfffc) as i32) + ext;
    if (((tOff + (big ? 5 : 3)) as u32) > segLimit(SEG_TR)) { raise(EX_TS, trErr); return false; }
    const tb = segBase(SEG_TR);
    sp = readAcc(tb + (tOff as u64), big ? 4 : 2, ACC_R);
    if (fault) return false;
    newSs = readAcc(tb + ((tOff + (big ? 4 : 2)) as u64), 2, ACC_R) as u32;
    if (fault) return false;
    if ((newSs & 0xfffc) == 0) { raise(EX_TS, ext); return false; }
    const ssErr = ((newSs & 0xfffc) as i32) + ext;
    if (((newSs & 3) as i32) != newCpl) { raise(EX_TS, ssErr); return false; }
    // CS was read last: keep its descriptor fields, then read SS's.
    const rs = descRead(newSs, false);
    if (rs < 0) return false;
    if (rs == 0 || (descType() & 0x1a) != 0x12 || descDpl() != newCpl) { raise(EX_TS, ssErr); return false; }
    if (!descPresent()) { raise(EX_SS, ssErr); return false; }
    descSetAccessed();
    ssBase = descBase() & 0xffffffff;
    ssLimit = descLimit();
    ssAttr = descAttr();
  }

  // Build the frame below `sp`, checking each write before any register changes.
  const wsz = long ? 8 : (gate32 ? 4 : 2);
  const flags = getFlags();
  const oldCs = segSel(SEG_CS);
  let n = 3;
  if (long || stackSwitch) n += 2;
  if (err != NO_ERR) n++;
  const acc = newCpl == 3 ? ACC_U : 0;
  const big = long || (ssAttr & SA_DB) != 0;
  let top = sp;
  if (!long) top &= big ? 0xffffffff : 0xffff;
  const frameLo = top - ((n * wsz) as u64);
  if (!long) {
    // Limit check for the new stack (expand-up, or expand-down data segments).
    const lo = frameLo & (big ? 0xffffffff : 0xffff);
    const expDown = (ssAttr & SA_CODE) == 0 && (ssAttr & SA_E) != 0;
    const bad = expDown ? lo <= (ssLimit as u64) : (top - 1) > (ssLimit as u64) || frameLo > top;
    if (bad) { raise(EX_SS, stackSwitch ? ((newSs & 0xfffc) as i32) + ext : ext); return false; }
  }
  let p = frameLo;
  const base = long ? 0 : ssBase;
  if (err != NO_ERR) { if (!pushAt(base, p, wsz, err as u32 as u64, acc, long)) return false; p += wsz as u64; }
  if (!pushAt(base, p, wsz, ret, acc, long)) return false; p += wsz as u64;
  if (!pushAt(base, p, wsz, oldCs as u64, acc, long)) return false; p += wsz as u64;
  if (!pushAt(base, p, wsz, flags, acc, long)) return false; p += wsz as u64;
  if (long || stackSwitch) {
    if (!pushAt(base, p, wsz, oldSp, acc, long)) return false; p += wsz as u64;
    if (!pushAt(base, p, wsz, oldSs as u64, acc, long)) return false;
  }

  // Commit.
  descRead(csDescAddrLo, false); // re-read CS's descriptor for the accessed bit (cannot fault now)
  descSetAccessed();
  clearFault();
  setSeg(SEG_CS, (sel & 0xfffc) | (newCpl as u32), csBase, csLimit, csAttr);
  if (long && stackSwitch) setSeg(SEG_SS, newSs, 0, 0, 0);
  else if (stackSwitch) setSeg(SEG_SS, newSs, ssBase, ssLimit, ssAttr);
  setCpl(newCpl);
  if (long) setReg64(RSP, frameLo);
  else if (big) setReg64(RSP, frameLo & 0xffffffff);
  else store<u16>(CPU_STATE + (RSP << 3), frameLo as u16);
  let f = flags & ~(F_TF | F_NT | F_RF | F_VM);
  if (!trapGate) f &= ~F_IF;
  setFlags(f);
  cpuStateChanged();
  nextIp = long ? off : off & 0xffffffff;
  return true;
}

function pushAt(base: u64, off: u64, size: i32, v: u64, acc: i32, long: bool): bool {
  let lin = base + off;
  if (!long) lin &= 0xffffffff;
  writeAcc(lin, size, v, acc);
  return !fault;
}

// ---- entry points used by the run loop and exec.ts ----

// A fault of the instruction at RIP.
export function deliverException(vec: i32, err: i32): void {
  // Traps (#DB from single-step is delivered separately) and faults both come here from the run loop
  // with RIP at the faulting instruction.
  deliverEvent(vec, err, nextIp, EVENT_EXCEPTION);
}

// INT n (kind EVENT_INT), INT3, INTO, INT1; `next` is the return address.
export function softInt(vec: i32, kind: i32, next: u64): void {
  const k = kind == 0 ? EVENT_INT : kind == 1 ? EVENT_INT3 : kind == 2 ? EVENT_INTO : EVENT_INT1;
  deliverEvent(vec, NO_ERR, next, k);
  if (fault) return;
}

// The single-step trap after an instruction that started with TF set.
export function singleStepTrap(next: u64): void {
  dbgMergeDr6(DR6_BS);
  deliverEvent(1, NO_ERR, next, EVENT_TRAP);
}
