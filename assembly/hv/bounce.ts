// Delivering exceptions, system calls and event upcalls to a PV guest kernel ("bouncing"), with the
// frames Xen builds, and the 64-bit guest's kernel/user mode switch.
//
// 64-bit guests (Xen's create_bounce_frame): from guest user mode the vCPU first switches to kernel
// mode (kernel page tables, kernel GS base) and the frame goes at the kernel stack registered with
// stack_switch; from kernel mode it goes at the current RSP and the saved CS has RPL 0. The stack is
// aligned down to 16 bytes and receives, from the lowest address:
//   RCX, R11, [error code,] RIP, CS | saved_upcall_mask << 32, RFLAGS (IF = !saved mask), RSP, SS
// then RIP = handler, CS = 0xe033, SS = 0xe02b, RSP = the frame, RFLAGS loses TF NT RF VM AC, and
// RCX/R11 hold the handler address and RFLAGS as Xen's SYSRET return leaves them. An interrupt-style
// bounce (event upcall, trap_info entries with flag 4, callbacks registered with mask_events) sets
// evtchn_upcall_mask.
//
// 32-bit guests (ring 1): from ring 3 the frame goes at kernel_ss:kernel_sp and holds, from the lowest
// address: [error code,] EIP, CS | saved_upcall_mask << 16, EFLAGS (IF = !saved mask), ESP, SS; from
// ring 1 at the current ESP without ESP/SS. Then CS:EIP = the handler, SS:ESP = the frame.
import {
  CPU_STATE, CPU_CR3, SEG_CS, SEG_SS, SEG_GS, CPU_CR2, CPU_SEG, SEG_SIZE,
} from "../memmap";
import {
  reg64, setReg64, RCX, RSP, segSel, segBase, segLimit, segAttr, setSeg, cpl, setCpl, cpuStateChanged,
  rip as getRip, setRip, F_IF, F_TF, F_NT, F_RF, F_VM, F_AC, F_IOPL,
} from "../cpu/state";
import { getFlags, setFlags } from "../cpu/flags";
import { tlbFlushAll, tlbSwitch } from "../mmu/tlb";
import { perfInc, PC_MODE_SWITCH, PC_BOUNCE } from "../perf";
import { loadSeg } from "../cpu/desc";
import { fault, clearFault } from "../cpu/fault";
import { trapFlagChanged } from "../cpu/control";
import {
  current, currentDom, vcpu, vcpuTlbKey, domIs64, V_FLAGS, VF_KERNEL, V_CR3_KERNEL, V_CR3_USER, V_GS_KERNEL,
  V_KERNEL_SS, V_KERNEL_SP, V_VCPU_INFO, V_TRAPS,
} from "../domain/domain";
import {
  VI_MASK, FLAT_RING3_CS64, FLAT_RING3_SS64, FLAT_RING3_DS, W64_VI_CR2, W32_VI_CR2, TI_MASK_EVENTS
} from "../hypercall/abi";
import { wrG64, wrG32, gOk, gReset, guestAddr, NO_HOST } from "./guest";
import { domainCrash } from "./lifecycle";
import { logStr, logNum, logHex, logByte } from "./log";

@inline function vrec(): i32 { return vcpu(current as u32); }
@inline export function guestKernelMode(): bool {
  if (domIs64(currentDom)) return (load<u32>(vrec() + V_FLAGS) & VF_KERNEL) != 0;
  return cpl() == 1;
}

export function upcallMaskAddr(): i32 { return load<u64>(vrec() + V_VCPU_INFO) as i32 + VI_MASK; }

// 64-bit guests: switch between guest kernel and guest user mode (page tables, GS bases).
export function toggleGuestMode(): void {
  perfInc(PC_MODE_SWITCH);
  const v = vrec();
  const f = load<u32>(v + V_FLAGS) ^ VF_KERNEL;
  store<u32>(v + V_FLAGS, f);
  const other = load<u64>(v + V_GS_KERNEL);
  store<u64>(v + V_GS_KERNEL, segBase(SEG_GS));
  setSeg(SEG_GS, segSel(SEG_GS), other, segLimit(SEG_GS), segAttr(SEG_GS));
  store<u64>(CPU_STATE + CPU_CR3, load<u64>(v + ((f & VF_KERNEL) != 0 ? V_CR3_KERNEL : V_CR3_USER)));
  // The other mode's translations, in its own bank (domain.ts vcpuTlbKey): nothing is flushed. Neither bank can
  // hold a translation of the other's page tables: every change of either base pointer flushes every bank
  // (hypercall/mmu.ts newBaseptr), and so does anything else that flushes everything.
  tlbSwitch(vcpuTlbKey(current as u32));
}

// SYSENTER saves neither the return address nor the stack pointer, and Xen's frame for it says so:
// RIP and RSP 0, CS 3 (a null ring-3 selector), SS the flat user data selector. This makes the next
// bounce (the sysenter callback, or the #GP when there is none) write that frame.
let sysenterFrame = false;
export function nextBounceIsSysenter(): void { sysenterFrame = true; }

// Bounce to `handler` (64-bit guests). `err` < 0: no error code. Returns false if the frame could
// not be written (the domain is crashed).
export function bounce64(handler: u64, err: i64, maskEvents: bool): bool {
  perfInc(PC_BOUNCE);
  const se = sysenterFrame;
  sysenterFrame = false;
  if (handler == 0) { domainCrash(currentDom, "no handler for a bounced event"); return false; }
  const fromUser = (load<u32>(vrec() + V_FLAGS) & VF_KERNEL) == 0;
  const rip = se ? 0 : getRip();
  let cs = se ? 3 : segSel(SEG_CS) as u64;
  const ss = se ? FLAT_RING3_SS64 as u64 : segSel(SEG_SS) as u64;
  const rsp = se ? 0 : reg64(RSP);
  const flags = getFlags();
  let sp: u64;
  if (fromUser) {
    toggleGuestMode();
    sp = load<u64>(vrec() + V_KERNEL_SP);
  } else {
    sp = rsp;
    cs &= 0xfffc;
  }
  sp &= ~(15 as u64);
  const mp = upcallMaskAddr();
  const saved = load<u8>(mp) as u64;
  const n = err >= 0 ? 8 : 7;
  const lo = sp - ((n * 8) as u64);
  let fl = flags & ~(F_IF | F_IOPL);
  if (saved == 0) fl |= F_IF;
  // The frame in one piece when it lies in one page (the usual case), else word by word.
  const fh = guestAddr(lo, n * 8, true);
  if (fh != NO_HOST) {
    let q = fh;
    store<u64>(q, reg64(RCX)); q += 8;
    store<u64>(q, reg64(11)); q += 8;
    if (err >= 0) { store<u64>(q, err as u64); q += 8; }
    store<u64>(q, rip); store<u64>(q + 8, cs | (saved << 32)); store<u64>(q + 16, fl);
    store<u64>(q + 24, rsp); store<u64>(q + 32, ss);
  } else {
    let p = lo;
    gReset();
    wrG64(p, reg64(RCX)); p += 8;
    wrG64(p, reg64(11)); p += 8;
    if (err >= 0) { wrG64(p, err as u64); p += 8; }
    wrG64(p, rip); p += 8;
    wrG64(p, cs | (saved << 32)); p += 8;
    wrG64(p, fl); p += 8;
    wrG64(p, rsp); p += 8;
    wrG64(p, ss);
    if (!gOk) { domainCrash(currentDom, "fault writing a bounce frame"); return false; }
  }
  if (maskEvents) store<u8>(mp, 1);
  const nf = (flags & ~(F_TF | F_NT | F_RF | F_VM | F_AC)) | F_IF;
  setFlags(nf);
  trapFlagChanged();
  loadFlat64();
  setReg64(RSP, lo);
  setReg64(RCX, handler);
  setReg64(11, nf);
  setRip(handler);
  return true;
}

// CS = 0xe033, SS = 0xe02b (the hypervisor's reserved descriptors).
const CS64_ATTR: u32 = 0x209b | 0x8000 | 0x60;
const SS64_ATTR: u32 = 0x4093 | 0x8000 | 0x60;
export function loadFlat64(): void {
  // Usually they are loaded already (kernel to kernel): then nothing derived changes.
  if (segSel(SEG_CS) == FLAT_RING3_CS64 && segAttr(SEG_CS) == CS64_ATTR && segSel(SEG_SS) == FLAT_RING3_SS64 &&
    segAttr(SEG_SS) == SS64_ATTR && segBase(SEG_CS) == 0 && segBase(SEG_SS) == 0 && segLimit(SEG_SS) == 0xffffffff)
      return;
  writeSeg(SEG_CS, FLAT_RING3_CS64, CS64_ATTR);
  writeSeg(SEG_SS, FLAT_RING3_SS64, SS64_ATTR);
  cpuStateChanged();
}
function writeSeg(s: i32, sel: u32, attr: u32): void {
  const p = CPU_STATE + CPU_SEG + s * SEG_SIZE;
  store<u16>(p, sel as u16);
  store<u16>(p, attr as u16, 2);
  store<u32>(p, 0xffffffff, 4);
  store<u64>(p, 0, 8);
}

// Bounce exception `vec` through the guest's trap table. `err` < 0: none.
export function bounceTrap(vec: i32, err: i64): bool {
  const t = vrec() + V_TRAPS + (vec << 4);
  const addr = load<u64>(t);
  const flags = load<u8>(t, 10);
  if (addr == 0) {
    logStr("(XEN) d"); logNum(currentDom as u64); logStr(": unhandled trap "); logNum(vec as u64);
    logStr(" at rip "); logHex(getRip()); logStr(" error "); logHex(err as u64);
    logStr(" cr2 "); logHex(load<u64>(CPU_STATE + CPU_CR2)); logByte(10);
  }
  if (domIs64(currentDom)) return bounce64(addr, err, (flags & TI_MASK_EVENTS) != 0);
  return bounce32(addr, load<u16>(t, 8) as u32, err, (flags & TI_MASK_EVENTS) != 0);
}

// #PF: CR2 goes to vcpu_info.arch.cr2, and the error code's user bit says guest user/kernel mode.
export function bouncePageFault(cr2: u64, err: i32): bool {
  const vi = load<u64>(vrec() + V_VCPU_INFO) as i32;
  const kernel = guestKernelMode();
  let e = err & ~4;
  if (!kernel) e |= 4;
  if (domIs64(currentDom)) store<u64>(vi + W64_VI_CR2, cr2);
  else store<u32>(vi + W32_VI_CR2, cr2 as u32);
  return bounceTrap(14, e as i64);
}

// 32-bit guests (ring 1 kernel).
export function bounce32(handler: u64, hcs: u32, err: i64, maskEvents: bool): bool {
  perfInc(PC_BOUNCE);
  const se = sysenterFrame;
  sysenterFrame = false;
  if (handler == 0) { domainCrash(currentDom, "no handler for a bounced event"); return false; }
  const fromUser = cpl() == 3;
  const eip = se ? 0 : getRip() & 0xffffffff;
  const cs = se ? 3 : segSel(SEG_CS) as u64;
  const ss = se ? FLAT_RING3_DS as u64 : segSel(SEG_SS) as u64;
  const esp = se ? 0 : reg64(RSP) & 0xffffffff;
  const flags = getFlags();
  const mp = upcallMaskAddr();
  const saved = load<u8>(mp) as u64;
  let n = 3;
  if (fromUser) n += 2;
  if (err >= 0) n++;
  let sp: u64, newSs: u32;
  if (fromUser) {
    newSs = load<u64>(vrec() + V_KERNEL_SS) as u32;
    sp = load<u64>(vrec() + V_KERNEL_SP) & 0xffffffff;
  } else {
    newSs = ss as u32;
    sp = esp;
  }
  const lo = (sp - ((n * 4) as u64)) & 0xffffffff;
  let p = lo;
  // The frame is written with the kernel's (ring 1) privilege: its stack is supervisor memory.
  const oldCpl = cpl();
  setCpl(1);
  gReset();
  if (err >= 0) { wrG32(p, err as u32); p += 4; }
  wrG32(p, eip as u32); p += 4;
  wrG32(p, (cs | (saved << 16)) as u32); p += 4;
  let fl = flags & ~(F_IF | F_IOPL);
  if (saved == 0) fl |= F_IF;
  wrG32(p, fl as u32); p += 4;
  if (fromUser) { wrG32(p, esp as u32); p += 4; wrG32(p, ss as u32); }
  if (!gOk) { setCpl(oldCpl); domainCrash(currentDom, "fault writing a bounce frame"); return false; }
  // Load the kernel's CS and SS (ring 1) through the normal segment checks at CPL 1.
  if (fromUser) {
    if (!loadSeg(SEG_SS, newSs)) {
      clearFault(); setCpl(oldCpl); domainCrash(currentDom, "bad kernel stack segment"); return false;
    }
  }
  if (!loadCode32(hcs)) { setCpl(oldCpl); domainCrash(currentDom, "bad handler code segment"); return false; }
  if (maskEvents) store<u8>(mp, 1);
  setFlags((flags & ~(F_TF | F_NT | F_RF | F_VM | F_AC)) | F_IF);
  trapFlagChanged();
  setReg64(RSP, lo);
  setRip(handler & 0xffffffff);
  return true;
}

import { descRead, descType, descDpl, descPresent, segFromDesc, descSetAccessed } from "../cpu/desc";
// Load a ring-1 code segment for a bounce (the selector's RPL is forced to 1).
function loadCode32(sel: u32): bool {
  sel = (sel & 0xfffc) | 1;
  const r = descRead(sel, false);
  if (r <= 0) { clearFault(); return false; }
  if ((descType() & 0x18) != 0x18 || descDpl() != 1 || !descPresent()) return false;
  descSetAccessed();
  segFromDesc(SEG_CS, sel);
  setCpl(1);
  cpuStateChanged();
  return true;
}

export { CPU_CR2, fault };
