// Hypercalls about the guest's CPU context: set_trap_table, stack_switch, set_callbacks, callback_op,
// fpu_taskswitch, iret, set_segment_base, set_gdt, update_descriptor, physdev_op (set_iopl).
import {
  CPU_STATE, CPU_CR0, CPU_GDT_MODE, CPU_GDT_ENTRIES, CPU_GDT_FRAMES, GDT_PV64, GDT_PV32, SEG_FS, SEG_GS, SEG_SS
} from "../memmap";
import {
  reg64, setReg64, RAX, RCX, RSP, rip, setRip, segSel, segBase, segLimit, segAttr, setSeg, cpl,
  F_IF, F_IOPL, F_VM,
} from "../cpu/state";
import { CR0_TS } from "../bits";
import { getFlags, setFlags } from "../cpu/flags";
import { trapFlagChanged } from "../cpu/control";
import { loadSeg } from "../cpu/desc";
import { clearFault } from "../cpu/fault";
import {
  current, currentDom, vcpu, domIs64, V_TRAPS, V_KERNEL_SS, V_KERNEL_SP, V_CB_EVENT, V_CB_FAILSAFE,
  V_CB_SYSCALL, V_CB_SYSCALL32, V_CB_SYSENTER, V_CB_NMI, V_CB_FLAGS, V_CB_EVENT_CS, V_CB_FAILSAFE_CS, V_CB_SYSENTER_CS,
  V_FLAGS, VF_KERNEL, V_CR3_USER, V_GS_KERNEL, V_IOPL,
} from "../domain/domain";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, gOk, gReset, guestAddr, copyFromGuest, NO_HOST } from "../hv/guest";
import { toggleGuestMode, loadFlat64, upcallMaskAddr } from "../hv/bounce";
import { iretFailsafe } from "../hv/failsafe";
import { domainCrash } from "../hv/lifecycle";
import { setNoReturnValue } from "./args";
import { getPageAndType, putPageAndType, frameWritten, PGT_SEG_DESC } from "../domain/mm";
import { frameOwner, frameType, frameTypeCount, mfnValid, PGT_WRITABLE } from "../domain/frames";
import { tlbFlushAll } from "../mmu/tlb";

@inline function v(): i32 { return vcpu(current as u32); }

// set_trap_table(list): entries until one with address 0; a NULL list clears the table.
export function hcSetTrapTable(list: u64): i64 {
  const t = v() + V_TRAPS;
  if (list == 0) { memory.fill(t, 0, 256 * 16); return 0; }
  const w64 = domIs64(currentDom);
  const sz: u64 = w64 ? 16 : 8;
  for (let i: u64 = 0; i < 256; i++) {
    const e = list + i * sz;
    gReset();
    const hdr = rdG32(e);
    const addr = w64 ? rdG64(e + 8) : rdG32(e + 4) as u64;
    if (!gOk) return -A.EFAULT;
    if (addr == 0) break;
    const vec = (hdr & 0xff) as i32;
    const p = t + (vec << 4);
    store<u64>(p, addr);
    store<u16>(p + 8, ((hdr >> 16) & 0xffff) as u16);
    store<u8>(p + 10, ((hdr >> 8) & 0xff) as u8);
  }
  return 0;
}

export function hcStackSwitch(ss: u64, sp: u64): i64 {
  store<u64>(v() + V_KERNEL_SS, ss & 0xffff);
  store<u64>(v() + V_KERNEL_SP, sp);
  return 0;
}

// set_callbacks: 64-bit (event, failsafe, syscall); 32-bit (event cs, eip, failsafe cs, eip). As Xen,
// it registers them with no flags: the failsafe (and syscall) callbacks no longer mask events.
export function hcSetCallbacks(a0: u64, a1: u64, a2: u64, a3: u64): i64 {
  const cf = load<u32>(v() + V_CB_FLAGS)
    & ~((1 << A.CALLBACKTYPE_failsafe) | (domIs64(currentDom) ? 1 << A.CALLBACKTYPE_syscall : 0));
  store<u32>(v() + V_CB_FLAGS, cf);
  if (domIs64(currentDom)) {
    store<u64>(v() + V_CB_EVENT, a0);
    store<u64>(v() + V_CB_FAILSAFE, a1);
    store<u64>(v() + V_CB_SYSCALL, a2);
  } else {
    store<u16>(v() + V_CB_EVENT_CS, a0 as u16);
    store<u64>(v() + V_CB_EVENT, a1);
    store<u16>(v() + V_CB_FAILSAFE_CS, a2 as u16);
    store<u64>(v() + V_CB_FAILSAFE, a3);
  }
  return 0;
}

// callback_op(cmd, arg): struct callback_register { u16 type; u16 flags; address } (64-bit: address
// @8; 32-bit: cs @4, eip @8); unregister { u16 type }.
export function hcCallbackOp(cmd: u64, p: u64): i64 {
  gReset();
  const type = rdG16(p) as i32;
  if (!gOk) return -A.EFAULT;
  let slot: i32;
  switch (type) {
    case A.CALLBACKTYPE_event: slot = V_CB_EVENT; break;
    case A.CALLBACKTYPE_failsafe: slot = V_CB_FAILSAFE; break;
    case A.CALLBACKTYPE_syscall: slot = V_CB_SYSCALL; break;
    case A.CALLBACKTYPE_syscall32: slot = V_CB_SYSCALL32; break;
    case A.CALLBACKTYPE_sysenter: case A.CALLBACKTYPE_sysenter_deprecated: slot = V_CB_SYSENTER; break;
    case A.CALLBACKTYPE_nmi: slot = V_CB_NMI; break;
    default: return -A.EINVAL;
  }
  if (cmd == A.CALLBACKOP_unregister) {
    if (type == A.CALLBACKTYPE_nmi || type == A.CALLBACKTYPE_event) return -A.EINVAL;
    store<u64>(v() + slot, 0);
    return 0;
  }
  if (cmd != A.CALLBACKOP_register) return -A.ENOSYS;
  const flags = rdG16(p + 2);
  const addr = domIs64(currentDom) ? rdG64(p + 8) : rdG32(p + 8) as u64;
  const cs = domIs64(currentDom) ? 0 : rdG32(p + 4);
  if (!gOk) return -A.EFAULT;
  store<u64>(v() + slot, addr);
  if (type == A.CALLBACKTYPE_event) store<u16>(v() + V_CB_EVENT_CS, cs as u16);
  if (type == A.CALLBACKTYPE_failsafe) store<u16>(v() + V_CB_FAILSAFE_CS, cs as u16);
  const sysenter = type == A.CALLBACKTYPE_sysenter || type == A.CALLBACKTYPE_sysenter_deprecated;
  if (sysenter) store<u16>(v() + V_CB_SYSENTER_CS, cs as u16);
  // The old sysenter type number shares the new one's mask-events flag.
  const bit: u32 = 1 << ((sysenter ? A.CALLBACKTYPE_sysenter : type) as u32);
  const f = load<u32>(v() + V_CB_FLAGS);
  store<u32>(v() + V_CB_FLAGS, (flags & A.CALLBACKF_mask_events) != 0 ? f | bit : f & ~bit);
  return 0;
}

export function hcFpuTaskswitch(set: u64): i64 {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  store<u64>(CPU_STATE + CPU_CR0, set != 0 ? c0 | CR0_TS : c0 & ~CR0_TS);
  return 0;
}

// iret. 64-bit: struct iret_context { rax, r11, rcx, flags, rip, cs, rflags, rsp, ss } at RSP; CS RPL 3
// means a return to guest user mode. 32-bit: { eax, eip, cs, eflags, [esp, ss] } at ESP.
export function hcIret(): i64 {
  setNoReturnValue();
  if (domIs64(currentDom)) return iret64();
  return iret32();
}

function iret64(): i64 {
  const sp = reg64(RSP);
  const ctx = memory.data(72) as i32;
  const h = guestAddr(sp, 72, false);
  if (h != NO_HOST) memory.copy(ctx, h, 72);
  else if (!copyFromGuest(ctx, sp, 72)) { domainCrash(currentDom, "fault reading the iret context"); return 0; }
  const rax = load<u64>(ctx), r11 = load<u64>(ctx, 8), rcx = load<u64>(ctx, 16), flags = load<u64>(ctx, 24);
  const nrip = load<u64>(ctx, 32), cs = load<u64>(ctx, 40), rfl = load<u64>(ctx, 48), nrsp = load<u64>(ctx, 56),
    ss = load<u64>(ctx, 64);
  // A non-canonical RIP: Xen's IRETQ (also taken for the SYSRET path, CVE-2012-0217) faults: the failsafe callback.
  if ((((nrip << 16) as i64) >> 16) as u64 != nrip) {
    iretFailsafe(
      nrip, (cs | 3) as u32 & 0xffff, (rfl & 0x3f7fd7 & ~(F_IOPL | F_VM)) | F_IF | 2, nrsp, (ss | 3) as u32 & 0xffff,
      "iret to a non-canonical address"
    ); return 0;
  }
  if ((cs & 3) == 3) {
    if (load<u64>(v() + V_CR3_USER) == 0) {
      domainCrash(currentDom, "switch to user mode with no user page tables"); return 0;
    }
    if ((load<u32>(v() + V_FLAGS) & VF_KERNEL) != 0) toggleGuestMode();
  }
  // The selectors are forced to RPL 3; 64-bit code only (a compat user CS is taken as given).
  const ncs = (cs | 3) & 0xffff;
  const nss = (ss | 3) & 0xffff;
  const nfl = (rfl & 0x3f7fd7 & ~(F_IOPL | F_VM)) | F_IF | 2;
  store<u8>(upcallMaskAddr(), (rfl & F_IF) != 0 ? 0 : 1);
  setReg64(RAX, rax);
  if ((flags & A.VGCF_IN_SYSCALL) == 0) {
    setReg64(11, r11);
    setReg64(RCX, rcx);
  }
  // Other code segments (32-bit user code) go through the normal checks at CPL 3; a selector that
  // does not load sends the guest to its failsafe callback, as Xen's faulting IRET does.
  if (ncs != A.FLAT_RING3_CS64 && !canLoadCs(ncs as u32)) {
    iretFailsafe(nrip, ncs as u32, nfl, nrsp, nss as u32, "iret to a bad code segment"); return 0;
  }
  if (nss != A.FLAT_RING3_SS64 && !canLoadSs(nss as u32)) {
    iretFailsafe(nrip, ncs as u32, nfl, nrsp, nss as u32, "iret to a bad stack segment"); return 0;
  }
  setFlags(nfl);
  trapFlagChanged();
  if (ncs == A.FLAT_RING3_CS64) loadFlat64();
  else loadCsChecked(ncs as u32);
  if (nss != A.FLAT_RING3_SS64) loadSeg(SEG_SS, nss as u32);
  setRip(nrip);
  setReg64(RSP, nrsp);
  if ((flags & A.VGCF_IN_SYSCALL) != 0) {
    // Returned through SYSRET: RCX and R11 hold RIP and RFLAGS.
    setReg64(RCX, nrip);
    setReg64(11, getFlags());
  }
  return 0;
}

// Would these selectors load (CS: code, present, DPL = RPL; SS: through the CPU's own checks at the
// selector's RPL)? Nothing is changed.
export function canLoadCs(sel: u32): bool {
  const r = descRead(sel, false);
  if (r <= 0) { clearFault(); return false; }
  return (descType() & 0x18) == 0x18 && descPresent() && descDpl() == ((sel & 3) as i32);
}
export function canLoadSs(sel: u32): bool {
  if ((sel & 0xfffc) == 0) return false;
  const r = descRead(sel, false);
  if (r <= 0) { clearFault(); return false; }
  // Writable data, present, DPL = RPL (the CPL the return would run at).
  return (descType() & 0x1a) == 0x12 && descPresent() && descDpl() == ((sel & 3) as i32);
}

import { descRead, descType, descDpl, descPresent, segFromDesc, descSetAccessed } from "../cpu/desc";
import { setCpl, cpuStateChanged } from "../cpu/state";
import { SEG_CS } from "../memmap";
export function loadCsChecked(sel: u32): bool {
  const r = descRead(sel, false);
  if (r <= 0) { clearFault(); return false; }
  if ((descType() & 0x18) != 0x18 || !descPresent() || descDpl() != ((sel & 3) as i32)) return false;
  descSetAccessed();
  segFromDesc(SEG_CS, sel);
  setCpl((sel & 3) as i32);
  cpuStateChanged();
  return true;
}

function iret32(): i64 {
  const sp = reg64(RSP) & 0xffffffff;
  gReset();
  const eax = rdG32(sp), eip = rdG32(sp + 4), cs = rdG32(sp + 8), efl = rdG32(sp + 12);
  if (!gOk) { domainCrash(currentDom, "fault reading the iret frame"); return 0; }
  const ring = cs & 3;
  let nsp = sp + 16;
  let ss: u32 = 0;
  if (ring == 3) {
    const esp = rdG32(sp + 16);
    ss = rdG32(sp + 20);
    if (!gOk) { domainCrash(currentDom, "fault reading the iret frame"); return 0; }
    nsp = esp as u64;
  }
  if (ring != 1 && ring != 3) { domainCrash(currentDom, "iret to ring 0/2"); return 0; }
  const nfl = ((efl as u64) & 0x3f7fd7 & ~(F_IOPL | F_VM)) | F_IF | 2;
  store<u8>(upcallMaskAddr(), ((efl as u64) & F_IF) != 0 ? 0 : 1);
  setReg64(RAX, eax as u64);
  // A selector that does not load: the failsafe callback, as after Xen's faulting IRET.
  if (!canLoadCs(cs & 0xffff)) {
    iretFailsafe(
      eip as u64, cs & 0xffff, nfl, nsp & 0xffffffff, ring == 3 ? ss & 0xffff : segSel(SEG_SS) as u32,
      "iret to a bad code segment"
    ); return 0;
  }
  if (ring == 3 && !canLoadSs(ss & 0xffff)) {
    iretFailsafe(eip as u64, cs & 0xffff, nfl, nsp & 0xffffffff, ss & 0xffff, "iret to a bad stack segment"); return 0;
  }
  loadCsChecked(cs & 0xffff);
  if (ring == 3) loadSeg(SEG_SS, ss & 0xffff);
  setFlags(nfl);
  trapFlagChanged();
  setRip(eip as u64);
  setReg64(RSP, nsp & 0xffffffff);
  return 0;
}

// set_segment_base(which, base): 64-bit guests only.
export function hcSetSegmentBase(which: u64, base: u64): i64 {
  if (!domIs64(currentDom)) return -A.ENOSYS;
  const canon = ((((base << 16) as i64) >> 16) as u64) == base;
  switch (which as i32) {
    case 0: // SEGBASE_FS
      if (!canon) return -A.EINVAL;
      setSeg(SEG_FS, segSel(SEG_FS), base, segLimit(SEG_FS), segAttr(SEG_FS));
      return 0;
    case 1: // SEGBASE_GS_USER: the base user mode will see
      if (!canon) return -A.EINVAL;
      store<u64>(v() + V_GS_KERNEL, base);
      return 0;
    case 2: // SEGBASE_GS_KERNEL
      if (!canon) return -A.EINVAL;
      setSeg(SEG_GS, segSel(SEG_GS), base, segLimit(SEG_GS), segAttr(SEG_GS));
      return 0;
    case 3: { // SEGBASE_GS_USER_SEL: load a user GS selector
      const sel = (base & 0xffff) as u32;
      // Done in user context: swap in the user GS base, load the selector, swap back.
      const kernelBase = segBase(SEG_GS);
      setSeg(SEG_GS, segSel(SEG_GS), load<u64>(v() + V_GS_KERNEL), segLimit(SEG_GS), segAttr(SEG_GS));
      if (!loadSeg(SEG_GS, sel)) { clearFault(); setSeg(SEG_GS, 0, 0, 0, 0); }
      store<u64>(v() + V_GS_KERNEL, segBase(SEG_GS));
      setSeg(SEG_GS, segSel(SEG_GS), kernelBase, segLimit(SEG_GS), segAttr(SEG_GS));
      return 0;
    }
    default: return -A.EINVAL;
  }
}

// ---- descriptor tables ----

// Xen's check of a guest descriptor: code/data segments get at least the guest kernel's DPL (3 for
// 64-bit guests, 1 for 32-bit); system descriptors other than call gates are refused. Returns the
// descriptor to store, or 0 with ok = false.
export let descOk: bool = true;
export function checkDescriptor(d: u64, is64: bool): u64 {
  descOk = true;
  const hi = (d >> 32) as u32;
  if ((hi & 0x8000) == 0) return d; // not present: anything goes
  const kdpl: u32 = is64 ? 3 : 1;
  if ((hi & 0x1000) != 0) {
    // 64-bit code (L) is refused to 32-bit guests: it would leave compatibility mode.
    if (!is64 && (hi & 0x200000) != 0) { descOk = false; return 0; }
    // Code or data: raise the DPL to the guest kernel's ring.
    let dpl = (hi >> 13) & 3;
    if (dpl < kdpl) return (d & ~((3 as u64) << 45)) | ((kdpl as u64) << 45);
    return d;
  }
  // System descriptors: only call gates (type 0xc) to guest code selectors.
  if (((hi >> 8) & 0xf) != 0xc) { descOk = false; return 0; }
  const sel = ((d as u32) >> 16);
  if ((sel >> 3) >= 0x1c00 && (sel >> 3) < 0x1e00) { descOk = false; return 0; }
  return d;
}

// set_gdt(frame_list, entries): up to 14 frames of descriptors, each checked and made a descriptor
// page (read-only to the guest from then on).
export function hcSetGdt(list: u64, entries: u64): i64 {
  if (entries > 14 * 512) return -A.EINVAL;
  const is64 = domIs64(currentDom);
  const nf = ((entries + 511) / 512) as i32;
  const mfns = memory.data(14 * 4) as i32;
  gReset();
  for (let i = 0; i < nf; i++) {
    const m = is64 ? rdG64(list + ((i * 8) as u64)) : rdG32(list + ((i * 4) as u64)) as u64;
    if (!gOk) return -A.EFAULT;
    if (m > 0xfffff) return -A.EINVAL;
    store<u32>(mfns + i * 4, m as u32);
  }
  return setGdtFrames(CPU_STATE, currentDom, mfns, entries as i32);
}

// Give the state block at `st` (the CPU's, or a vCPU record's save area: same layout) the GDT of
// `entries` entries in the frames listed (u32 mfns) at `mfns`: every descriptor checked, every frame
// the domain's and typed a descriptor page; the old GDT's frames let go. 0 or -errno (nothing changed).
export function setGdtFrames(st: i32, d: u32, mfns: i32, entries: i32): i32 {
  if (entries < 0 || entries > 14 * 512) return -A.EINVAL;
  const is64 = domIs64(d);
  const nf = (entries + 511) >> 9;
  for (let i = 0; i < nf; i++) {
    const m = load<u32>(mfns + i * 4) as u64;
    if (m > 0xfffff || !mfnValid(m) || frameOwner(m as u32) != d) return -A.EINVAL;
  }
  // Check every descriptor, then take the frames.
  for (let i = 0; i < nf; i++) {
    const base = (load<u32>(mfns + i * 4) << 12) as i32;
    for (let k = 0; k < 512; k++) {
      checkDescriptor(load<u64>(base + k * 8), is64);
      if (!descOk) return -A.EINVAL;
    }
  }
  for (let i = 0; i < nf; i++) {
    const r = getPageAndType(load<u32>(mfns + i * 4), PGT_SEG_DESC, d, is64);
    if (r < 0) {
      for (let k = 0; k < i; k++) putPageAndType(load<u32>(mfns + k * 4), is64);
      return r;
    }
    const base = (load<u32>(mfns + i * 4) << 12) as i32;
    for (let k = 0; k < 512; k++) store<u64>(base + k * 8, checkDescriptor(load<u64>(base + k * 8), is64));
    frameWritten(load<u32>(mfns + i * 4));
  }
  // Drop the old GDT's frames.
  const oldN = (load<i32>(st + CPU_GDT_ENTRIES) + 511) >> 9;
  for (let k = 0; k < oldN; k++) putPageAndType(load<u32>(st + CPU_GDT_FRAMES + k * 4) >> 12, is64);
  for (let i = 0; i < nf; i++) store<u32>(st + CPU_GDT_FRAMES + i * 4, load<u32>(mfns + i * 4) << 12);
  store<i32>(st + CPU_GDT_ENTRIES, entries);
  store<i32>(st + CPU_GDT_MODE, is64 ? GDT_PV64 : GDT_PV32);
  return 0;
}

// update_descriptor(ma, desc): one descriptor in a descriptor page or a writable page of the guest.
// 32-bit guests pass the address and descriptor as 32-bit halves: (ma_lo, ma_hi, desc_lo, desc_hi).
export function hcUpdateDescriptor(a0: u64, a1: u64, a2: u64): i64 {
  const is64 = domIs64(currentDom);
  let ma: u64, d: u64;
  if (is64) { ma = a0; d = a1; }
  else { ma = a0 | (a1 << 32); d = a2 | (argHi() << 32); }
  if ((ma & 7) != 0) return -A.EINVAL;
  const mfn = ma >> 12;
  if (mfn > 0xfffff || !mfnValid(mfn) || frameOwner(mfn as u32) != currentDom) return -A.EINVAL;
  const t = frameType(mfn as u32);
  if (frameTypeCount(mfn as u32) != 0 && t != PGT_SEG_DESC && t != PGT_WRITABLE) return -A.EINVAL;
  const nd = checkDescriptor(d, is64);
  if (!descOk) return -A.EINVAL;
  store<u64>(ma as i32, nd);
  frameWritten(mfn as u32);
  return 0;
}
import { arg } from "./args";
function argHi(): u64 { return arg(3); }

// physdev_op: set_iopl (virtual IOPL for I/O port emulation); the rest is for dom0's devices.
export function hcPhysdevOp(cmd: u64, p: u64): i64 {
  if (cmd == A.PHYSDEVOP_set_iopl) {
    gReset();
    const iopl = rdG32(p);
    if (!gOk) return -A.EFAULT;
    if (iopl > 3) return -A.EINVAL;
    store<u32>(v() + V_IOPL, iopl);
    return 0;
  }
  return -A.ENOSYS;
}

export { tlbFlushAll, F_IF, RAX, rip };
