// Reloading a PV vCPU's data segment selectors when it is scheduled in after another vCPU ran, and the
// failsafe callback when one cannot be loaded (Xen's load_segments in arch/x86/domain.c).
//
// Xen keeps only the selectors of DS, ES, FS, GS across a context switch and reloads them from the
// vCPU's current GDT/LDT (with MOV, in ring 0: a null selector is fine; otherwise the descriptor must
// lie within its table, be data or readable code, be present, and unless conforming code have
// DPL >= RPL). Our CPU keeps whole segment caches per vCPU, so without this a guest could go on using
// a descriptor it has since removed. Each selector that fails is loaded as null, and the guest is sent
// to its failsafe callback with the saved selectors (the values before zeroing) on its kernel stack:
//   64-bit (from the new RSP, 16-byte aligned; kernel mode first, as an event bounce does):
//     RCX, R11, DS, ES, FS, GS, RIP, CS | upcall_mask << 32, RFLAGS (IF = !mask), RSP, SS
//     then RIP = failsafe, CS 0xe033, SS 0xe02b, RCX/R11 as Xen's SYSRET leaves them.
//   32-bit (at ESP if the guest was in ring 1, else at kernel_sp after pushing SS, ESP):
//     DS, ES, FS, GS, EIP, CS | upcall_mask << 16, EFLAGS (IF = !mask), [ESP, SS]
//     then CS:EIP = 0xe019:failsafe, SS = 0xe021.
// Events are masked iff the failsafe was registered with CALLBACKF_mask_events. Xen jumps to whatever
// address is registered; with none registered we crash the domain (a frame at address 0 would only
// fault), with a log line naming the selector.
import { CPU_STATE, CPU_SEG, SEG_SIZE, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_CS, SEG_SS } from "../memmap";
import {
  reg64, setReg64, RCX, RSP, segSel, segBase, setSeg, cpl, setCpl, cpuStateChanged, rip as getRip, setRip,
  F_IF, F_TF, F_NT, F_RF, F_VM, F_AC, F_IOPL,
} from "../cpu/state";
import { getFlags, setFlags } from "../cpu/flags";
import { trapFlagChanged } from "../cpu/control";
import { descRead, descType, descDpl, descPresent, segFromDesc, descSetAccessed } from "../cpu/desc";
import { clearFault } from "../cpu/fault";
import {
  current, currentDom, vcpu, domIs64, V_FLAGS, VF_KERNEL, V_KERNEL_SP, V_CB_FAILSAFE, V_CB_FLAGS, V_ID,
} from "../domain/domain";
import { CALLBACKTYPE_failsafe, CALLBACKF_mask_events, FLAT_RING1_CS, FLAT_RING1_DS } from "../hypercall/abi";
import { toggleGuestMode, loadFlat64, upcallMaskAddr } from "./bounce";
import { wrG64, wrG32, gOk, gReset } from "./guest";
import { domainCrash } from "./lifecycle";
import { logStr, logNum, logHex, logByte } from "./log";

@inline function selOf(s: i32): u32 { return load<u16>(CPU_STATE + CPU_SEG + s * SEG_SIZE) as u32; }

@inline function steady(sel: u32): bool { return (sel & 0xfffc) == 0 || (sel & 0xf004) == 0xe000; }

// Would `mov sel, %seg` at CPL 0 succeed? On success the descriptor is the last one read.
function selectorLoads(sel: u32): bool {
  const r = descRead(sel, false);
  if (r < 0) { clearFault(); return false; } // the LDT page is not mapped
  if (r == 0) return false;
  const t = descType();
  if ((t & 0x10) == 0 || (t & 0x1a) == 0x18) return false; // system descriptor, or code that is not readable
  if ((t & 0x1c) != 0x1c && descDpl() < ((sel & 3) as i32)) return false; // DPL < RPL (not conforming code)
  return descPresent();
}

// Reload one segment: from its descriptor if it loads, else null. Returns false if it failed.
export function reload(s: i32, is64: bool): bool {
  const sel = selOf(s);
  const base = segBase(s);
  const fsgs = s == SEG_FS || s == SEG_GS;
  if ((sel & 0xfffc) == 0) {
    // Null: unusable (64-bit FS/GS keep their bases, which Xen writes back after the selectors).
    if (!is64) setSeg(s, sel, 0, 0, 0);
    return true;
  }
  if (!selectorLoads(sel)) {
    setSeg(s, 0, is64 && fsgs ? base : 0, 0, 0);
    return false;
  }
  descSetAccessed();
  segFromDesc(s, sel);
  if (is64 && fsgs) setSeg(
    s, sel, base, load<u32>(CPU_STATE + CPU_SEG + s * SEG_SIZE + 4),
    load<u16>(CPU_STATE + CPU_SEG + s * SEG_SIZE + 2) as u32
  );
  return true;
}

// After the vCPU switch in the scheduler: reload DS, ES, FS, GS of the vCPU just loaded, and if any
// failed, bounce to the failsafe callback (or crash the domain when there is none).
export function loadSegments(): void {
  const ds = selOf(SEG_DS), es = selOf(SEG_ES), fs = selOf(SEG_FS), gs = selOf(SEG_GS);
  // The usual cases cost four compares: null selectors (64-bit kernels) and the hypervisor's reserved
  // flat ones (32-bit kernels: 0xe021, 0xe033). Those descriptors never change, and the cached segment
  // came from a checked load of the same selector, so reloading would give the same segment.
  if (steady(ds) && steady(es) && steady(fs) && steady(gs)) return;
  const is64 = domIs64(currentDom);
  let bad = 0;
  // Xen's order: FS, GS, DS, ES.
  if (!reload(SEG_FS, is64)) bad |= 1 << SEG_FS;
  if (!reload(SEG_GS, is64)) bad |= 1 << SEG_GS;
  if (!reload(SEG_DS, is64)) bad |= 1 << SEG_DS;
  if (!reload(SEG_ES, is64)) bad |= 1 << SEG_ES;
  if (bad == 0) return;
  logVcpu();
  logStr(": cannot reload");
  if ((bad & (1 << SEG_DS)) != 0) { logStr(" ds "); logHex(ds as u64); }
  if ((bad & (1 << SEG_ES)) != 0) { logStr(" es "); logHex(es as u64); }
  if ((bad & (1 << SEG_FS)) != 0) { logStr(" fs "); logHex(fs as u64); }
  if ((bad & (1 << SEG_GS)) != 0) { logStr(" gs "); logHex(gs as u64); }
  toFailsafe("bad segment selector on reload and no failsafe callback", ds, es, fs, gs,
    getRip(), segSel(SEG_CS), getFlags(), reg64(RSP), segSel(SEG_SS));
}

export function logVcpu(): void {
  logStr("(XEN) d"); logNum(currentDom as u64); logStr("v"); logNum(load<u32>(vcpu(current as u32) + V_ID) as u64);
}

// The end of the log line begun by the caller, then the failsafe callback with the saved data
// selectors and the frame RIP, CS, RFLAGS, RSP, SS; with no callback the domain is crashed (`why`).
export function toFailsafe(
  why: string, ds: u32, es: u32, fs: u32, gs: u32, rip: u64, cs: u32, flags: u64, rsp: u64, ss: u32
): void {
  const v = vcpu(current as u32);
  const cb = load<u64>(v + V_CB_FAILSAFE);
  if (cb == 0) {
    logStr(": no failsafe callback"); logByte(10);
    domainCrash(currentDom, why);
    return;
  }
  logStr(": failsafe callback at "); logHex(cb); logByte(10);
  const mask = (load<u32>(v + V_CB_FLAGS) & ((CALLBACKF_mask_events as u32) << (CALLBACKTYPE_failsafe as u32))) != 0;
  if (domIs64(currentDom)) failsafe64(cb, ds, es, fs, gs, mask, rip, cs as u64, flags, rsp, ss as u64);
  else failsafe32(cb, ds, es, fs, gs, mask, (rip & 0xffffffff) as u32, cs, flags, (rsp & 0xffffffff) as u32, ss);
}

// The iret hypercall to a code or stack selector that does not load: in Xen the IRET to the guest
// faults and its fixup bounces to the failsafe callback, the frame holding the registers the
// hypercall left (RIP, CS | 3, RFLAGS, RSP, SS | 3 of the return that did not happen). The guest mode
// (64-bit) and RAX, RCX, R11 and the upcall mask are already as the iret hypercall set them. With no
// failsafe callback the domain is crashed with `why`.
export function iretFailsafe(rip: u64, cs: u32, flags: u64, rsp: u64, ss: u32, why: string): void {
  logVcpu();
  logStr(": "); logStr(why); logStr(" (cs "); logHex(cs as u64); logStr(" ss "); logHex(ss as u64); logStr(")");
  toFailsafe(why, selOf(SEG_DS), selOf(SEG_ES), selOf(SEG_FS), selOf(SEG_GS), rip, cs, flags, rsp, ss);
}

// The frame describes RIP, CS, RFLAGS, RSP, SS as given (the interrupted state, or the one an iret
// hypercall could not return to).
function failsafe64(
  cb: u64, ds: u32, es: u32, fs: u32, gs: u32, mask: bool, rip: u64, cs: u64, flags: u64, rsp: u64, ss: u64
): void {
  const v = vcpu(current as u32);
  const fromUser = (load<u32>(v + V_FLAGS) & VF_KERNEL) == 0;
  let sp: u64;
  if (fromUser) { toggleGuestMode(); sp = load<u64>(v + V_KERNEL_SP); }
  else { sp = rsp; cs &= 0xfffc; }
  sp &= ~(15 as u64);
  const mp = upcallMaskAddr();
  const saved = load<u8>(mp) as u64;
  let fl = flags & ~(F_IF | F_IOPL);
  if (saved == 0) fl |= F_IF;
  const lo = sp - 88;
  gReset();
  wrG64(lo, reg64(RCX)); wrG64(lo + 8, reg64(11));
  wrG64(lo + 16, ds as u64); wrG64(lo + 24, es as u64); wrG64(lo + 32, fs as u64); wrG64(lo + 40, gs as u64);
  wrG64(lo + 48, rip); wrG64(lo + 56, cs | (saved << 32)); wrG64(lo + 64, fl);
  wrG64(lo + 72, rsp); wrG64(lo + 80, ss);
  if (!gOk) { domainCrash(currentDom, "Error creating failsafe callback frame"); return; }
  if (mask) store<u8>(mp, 1);
  const nf = (flags & ~(F_TF | F_NT | F_RF | F_VM | F_AC | F_IOPL)) | F_IF;
  setFlags(nf);
  trapFlagChanged();
  loadFlat64();
  setReg64(RSP, lo);
  setReg64(RCX, cb);
  setReg64(11, nf);
  setRip(cb);
}

function failsafe32(
  cb: u64, ds: u32, es: u32, fs: u32, gs: u32, mask: bool, eip: u32, cs: u32, flags: u64, esp: u32, ss: u32
): void {
  const v = vcpu(current as u32);
  const ring1 = (cs & 3) == 1;
  const mp = upcallMaskAddr();
  const saved = load<u8>(mp) as u32;
  let p: u64 = ring1 ? esp as u64 : load<u64>(v + V_KERNEL_SP) & 0xffffffff;
  let fl = (flags & ~(F_IF | F_IOPL)) as u32;
  if (saved == 0) fl |= F_IF as u32;
  // Written with the kernel's (ring 1) privilege, as flat linear addresses.
  const oldCpl = cpl();
  setCpl(1);
  gReset();
  if (!ring1) { p -= 4; wrG32(p, ss); p -= 4; wrG32(p, esp); }
  p -= 4; wrG32(p, fl);
  p -= 4; wrG32(p, cs | (saved << 16));
  p -= 4; wrG32(p, eip as u32);
  p -= 4; wrG32(p, gs);
  p -= 4; wrG32(p, fs);
  p -= 4; wrG32(p, es);
  p -= 4; wrG32(p, ds);
  if (!gOk) { setCpl(oldCpl); domainCrash(currentDom, "Error creating compat failsafe callback frame"); return; }
  if (mask) store<u8>(mp, 1);
  setFlags((flags & ~(F_VM | F_RF | F_NT | F_IOPL | F_TF)) | F_IF);
  trapFlagChanged();
  // The flat ring-1 kernel selectors (the hypervisor's reserved descriptors: they always load).
  descRead(FLAT_RING1_CS, false);
  segFromDesc(SEG_CS, FLAT_RING1_CS);
  descRead(FLAT_RING1_DS, false);
  segFromDesc(SEG_SS, FLAT_RING1_DS);
  setCpl(1);
  cpuStateChanged();
  setReg64(RSP, p & 0xffffffff);
  setRip(cb & 0xffffffff);
}
