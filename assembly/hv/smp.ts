// SMP PV guests: VCPUOP_initialise (a secondary vCPU's first context, both vcpu_guest_context layouts,
// checked as Xen's arch_set_info_guest checks it) and the first load of its selectors when the
// scheduler runs it (hv/sched.ts). Layouts (xen/include/public/arch-x86/xen.h; docs/PV-ABI.md):
//   64-bit (5168 bytes): fpu_ctxt[512] @0, flags @512, cpu_user_regs (200 bytes) @520,
//     trap_info[256] (16 bytes: vector u8, flags u8, cs u16, address u64 @8) @720, ldt_base @4816,
//     ldt_ents @4824, gdt_frames[16] @4832, gdt_ents @4960, kernel_ss @4968, kernel_sp @4976,
//     ctrlreg[8] @4984, debugreg[8] @5048, event_callback_eip @5112, failsafe_callback_eip @5120,
//     syscall_callback_eip @5128, vm_assist @5136, fs_base @5144, gs_base_kernel @5152, gs_base_user @5160.
//   32-bit (2800 bytes): fpu_ctxt @0, flags @512, cpu_user_regs (68 bytes) @516, trap_info[256]
//     (8 bytes: vector, flags, cs, address u32 @4) @584, ldt_base @2632, ldt_ents @2636,
//     gdt_frames[16] @2640, gdt_ents @2704, kernel_ss @2708, kernel_sp @2712, ctrlreg[8] @2716,
//     debugreg[8] @2748, event_callback_cs @2780, event_callback_eip @2784, failsafe_callback_cs @2788,
//     failsafe_callback_eip @2792, vm_assist @2796.
import {
  CPU_STATE, CPU_REGS, CPU_RIP, CPU_RFLAGS, CPU_SEG, SEG_SIZE, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_LDTR,
  CPU_CR0, CPU_CR3, CPU_CR4, CPU_EFER, CPU_IDTR_LIMIT, CPU_INTERCEPT, CPU_INTERCEPT_FLAGS, CPU_GDT_MODE,
  CPU_GDT_ENTRIES, CPU_CPL, CPU_FXSAVE, CPU_SAVE_SIZE, CPU_SAVE_HOLE, GDT_PV64, GDT_PV32, INTERCEPT_SYSCALL,
  INTERCEPT_SYSENTER, CPU_DR6, CPU_DR7,
} from "../memmap";
import {
  current, currentDom, vcpu, domIs64, domU32, D_VCPU0, V_FLAGS, VF_ONLINE, VF_BLOCKED, VF_POLLING, VF_KERNEL,
  VF_INITIALISED, VF_FRESH, VF_IN_FAILSAFE, V_TRAPS, V_KERNEL_SS, V_KERNEL_SP, V_CB_EVENT, V_CB_FAILSAFE, V_CB_SYSCALL,
  V_CB_FLAGS, V_CB_EVENT_CS, V_CB_FAILSAFE_CS, V_CR3_KERNEL, V_CR3_USER, V_GS_KERNEL, V_IOPL, V_LDT_BASE, V_LDT_ENTS,
  V_GUEST_CR4,
} from "../domain/domain";
import * as A from "../hypercall/abi";
import { copyFromGuest } from "./guest";
import { runstateSync } from "./time";
import { setGdtFrames, canLoadCs, canLoadSs, loadCsChecked } from "../hypercall/traps";
import { getPageAndType, putPageAndType, PGT_L3, PGT_L4 } from "../domain/mm";
import { reload, toFailsafe, logVcpu } from "./failsafe";
import { loadFlat64 } from "./bounce";
import { domainCrash } from "./lifecycle";
import { logStr, logHex } from "./log";
import { segSel, setSeg, setCpl, cpuStateChanged, rip, reg64, RSP } from "../cpu/state";
import { getFlags } from "../cpu/flags";
import { descRead, segFromDesc, descSetAccessed } from "../cpu/desc";
import { clearFault } from "../cpu/fault";

const CTX_SIZE64 = 5168;
const CTX_SIZE32 = 2800;
const CTX: i32 = memory.data(CTX_SIZE64, 16) as i32;
const GDT_MFNS: i32 = memory.data(16 * 4, 4) as i32;

const VGCF_I387_VALID: u64 = 1;
const VGCF_IN_KERNEL: u64 = 4;
const VGCF_FAILSAFE_DISABLES_EVENTS: u64 = 8;
const VGCF_SYSCALL_DISABLES_EVENTS: u64 = 16;
const VGCF_ONLINE: u64 = 32;

@inline function canonical(a: u64): bool { return ((((a << 16) as i64) >> 16) as u64) == a; }
@inline function c64(off: i32): u64 { return load<u64>(CTX + off); }
@inline function c32(off: i32): u64 { return load<u32>(CTX + off) as u64; }

// A selector's RPL 0 becomes the guest kernel's ring (Xen's fixup_guest_{code,stack}_selector).
@inline function fixSel(sel: u64, is64: bool): u32 {
  const s = (sel & 0xffff) as u32;
  return (s & 3) == 0 ? s | (is64 ? 3 : 1) : s;
}

// Where each general register of cpu_user_regs is (our state block keeps RAX RCX RDX RBX RSP RBP RSI
// RDI R8..R15 in that order).
const REGS64: StaticArray<i32> = [80, 88, 96, 40, 152, 32, 104, 112, 72, 64, 56, 48, 24, 16, 8, 0];
const REGS32: StaticArray<i32> = [24, 4, 8, 0, 44, 20, 12, 16];

// VCPUOP_initialise for vCPU `vc` (not yet initialised, so never the running one) of the current
// domain, its context at guest VA `p`. 0 or -errno; on an error the vCPU is left as it was.
export function vcpuInitialise(vc: u32, p: u64): i64 {
  const d = currentDom;
  const is64 = domIs64(d);
  const vi = domU32(d, D_VCPU0) + vc;
  const v = vcpu(vi);
  if ((load<u32>(v + V_FLAGS) & VF_INITIALISED) != 0) return -A.EEXIST;
  if (!copyFromGuest(CTX, p, is64 ? CTX_SIZE64 : CTX_SIZE32)) return -A.EFAULT;
  const flags = is64 ? c64(512) : c32(512);
  const ur = is64 ? 520 : 516;
  // Addresses (64-bit: canonical), the LDT (page aligned, at most 8192 entries).
  let ldtBase: u64, ldtEnts: u64, gdtEnts: u64, ksp: u64, cr3: u64, cr3u: u64 = 0;
  if (is64) {
    ldtBase = c64(4816); ldtEnts = c64(4824); gdtEnts = c64(4960); ksp = c64(4976); cr3 = c64(4984 + 24);
    cr3u = c64(4984 + 8);
    if (
      !canonical(c64(ur + 128)) || !canonical(c64(ur + 152)) || !canonical(ksp) || (ldtEnts != 0 && !canonical(ldtBase))
        ||
      !canonical(c64(5144)) || !canonical(c64(5152)) || !canonical(c64(5160)) || !canonical(c64(5112)) ||
      !canonical(c64(5128)) || !canonical(c64(5120))) return -A.EINVAL;
    for (let i = 0; i < 256; i++) if (!canonical(c64(720 + i * 16 + 8))) return -A.EINVAL;
    // __addr_ok: the LDT may not lie in the hypervisor's half.
    if (ldtBase >= 0xffff800000000000 && ldtBase < 0xffff880000000000) return -A.EINVAL;
  } else {
    ldtBase = c32(2632); ldtEnts = c32(2636); gdtEnts = c32(2704); ksp = c32(2712); cr3 = c32(2716 + 12);
  }
  if ((ldtBase & 0xfff) != 0 || ldtEnts > 8192) return -A.EINVAL;
  const inKernel = !is64 || (flags & VGCF_IN_KERNEL) != 0;
  if (is64 && !inKernel && cr3u == 0) return -A.EINVAL;
  // The GDT (at most 14 frames' worth of entries: the rest is the hypervisor's; 32-bit contexts: more
  // than 16 frames is -EINVAL before that), then the page tables; either failing undoes the other.
  const nf = ((gdtEnts + 511) >> 9) as i32;
  if (gdtEnts > 16 * 512 || gdtEnts > 14 * 512) return -A.EINVAL;
  for (let i = 0; i < nf; i++) {
    const m = is64 ? c64(4832 + i * 8) : c32(2640 + i * 4);
    if (m > 0xfffff) return -A.EINVAL;
    store<u32>(GDT_MFNS + i * 4, m as u32);
  }
  // The new state block starts as the builder's (hv_vcpu_boot): flat PV mode, intercepts, reset FPU.
  const st = v; // the record's save area has the state block's layout
  const rsv = memory.data(CPU_SAVE_SIZE, 16) as i32;
  memory.copy(rsv, st, CPU_SAVE_SIZE); // to put back on an error
  memory.fill(st, 0, CPU_SAVE_SIZE);
  let r = setGdtFrames(st, d, GDT_MFNS, gdtEnts as i32);
  if (r < 0) { memory.copy(st, rsv, CPU_SAVE_SIZE); return r as i64; }
  const mfn = is64 ? (cr3 >> 12) & 0xffffffffff : (((cr3 >> 12) | (cr3 << 20)) & 0xffffffff);
  const top = is64 ? PGT_L4 : PGT_L3;
  r = mfn > 0xfffff ? -A.EINVAL : getPageAndType(mfn as u32, top, d, is64);
  let umfn: u64 = 0;
  if (r == 0 && is64 && cr3u != 0) {
    umfn = (cr3u >> 12) & 0xffffffffff;
    r = umfn > 0xfffff ? -A.EINVAL : getPageAndType(umfn as u32, PGT_L4, d, is64);
    if (r < 0) putPageAndType(mfn as u32, is64);
  }
  if (r < 0) {
    for (let k = 0; k < nf; k++) putPageAndType(load<u32>(GDT_MFNS + k * 4), is64);
    memory.copy(st, rsv, CPU_SAVE_SIZE);
    return (r == -A.EINVAL || r == -A.EBUSY ? -A.EINVAL : r) as i64;
  }
  // From here on nothing fails.
  store<u64>(v + V_CR3_KERNEL, mfn << 12);
  store<u64>(v + V_CR3_USER, umfn << 12);
  store<u64>(st + CPU_CR3, (inKernel ? mfn : umfn) << 12);
  store<u64>(st + CPU_CR0, 0x80050033 | ((is64 ? c64(4984) : c32(2716)) & 8)); // only TS is the guest's
  store<u64>(st + CPU_CR4, 0x620);
  store<u64>(v + V_GUEST_CR4, 0);
  store<u64>(st + CPU_DR6, 0xffff0ff0);
  store<u64>(st + CPU_DR7, 0x400);
  store<u32>(st + CPU_IDTR_LIMIT, 0xfff);
  memory.fill(st + CPU_INTERCEPT, 0xff, 32);
  store<i32>(st + CPU_INTERCEPT_FLAGS, INTERCEPT_SYSCALL | INTERCEPT_SYSENTER);
  store<i32>(st + CPU_GDT_MODE, is64 ? GDT_PV64 : GDT_PV32);
  store<u64>(st + CPU_EFER, is64 ? 0xd01 : 0x800);
  // FPU/SSE: the guest's image (MXCSR's reserved bits cleared) or the state after FNINIT.
  if ((flags & VGCF_I387_VALID) != 0) {
    memory.copy(st + CPU_FXSAVE, CTX, 512);
    store<u32>(st + CPU_FXSAVE + 24, load<u32>(st + CPU_FXSAVE + 24) & 0xffff);
  } else {
    store<u16>(st + CPU_FXSAVE, 0x37f);
    store<u32>(st + CPU_FXSAVE + 24, 0x1f80);
  }
  // Registers.
  let rfl: u64;
  if (is64) {
    for (let i = 0; i < 16; i++) store<u64>(st + CPU_REGS + i * 8, c64(ur + REGS64[i]));
    store<u64>(st + CPU_RIP, c64(ur + 128));
    rfl = c64(ur + 144);
  } else {
    for (let i = 0; i < 8; i++) store<u64>(st + CPU_REGS + i * 8, c32(ur + REGS32[i]));
    store<u64>(st + CPU_RIP, c32(ur + 32));
    rfl = c32(ur + 40);
  }
  // IOPL is virtual; events (IF) always on in the real flags; no VM/NT/RF/VIF/VIP.
  store<u32>(v + V_IOPL, ((rfl >> 12) & 3) as u32);
  store<u64>(st + CPU_RFLAGS, (rfl & 0x244fd5) | 0x202);
  // Selectors (loaded, with their checks, when the vCPU first runs: VF_FRESH).
  const cs = fixSel(is64 ? c64(ur + 136) : c32(ur + 36), is64);
  const ss = fixSel(is64 ? c64(ur + 160) : c32(ur + 48), is64);
  store<u16>(st + CPU_SEG + SEG_CS * SEG_SIZE, cs as u16);
  store<u16>(st + CPU_SEG + SEG_SS * SEG_SIZE, ss as u16);
  store<u16>(st + CPU_SEG + SEG_ES * SEG_SIZE, (is64 ? c64(ur + 168) : c32(ur + 52)) as u16);
  store<u16>(st + CPU_SEG + SEG_DS * SEG_SIZE, (is64 ? c64(ur + 176) : c32(ur + 56)) as u16);
  const fs = (is64 ? c64(ur + 184) : c32(ur + 60)) & 0xffff, gs = (is64 ? c64(ur + 192) : c32(ur + 64)) & 0xffff;
  store<u16>(st + CPU_SEG + SEG_FS * SEG_SIZE, fs as u16);
  store<u16>(st + CPU_SEG + SEG_GS * SEG_SIZE, gs as u16);
  store<i32>(st + CPU_CPL, (cs & 3) as i32);
  let vf = load<u32>(v + V_FLAGS) & ~(VF_KERNEL | VF_ONLINE | VF_BLOCKED | VF_POLLING | VF_IN_FAILSAFE);
  if (is64) {
    // A non-null selector kills its base (Xen); the kernel's GS base is loaded in kernel mode.
    const fsb = (fs & 0xfffc) == 0 ? c64(5144) : 0;
    const gsu = (gs & 0xfffc) == 0 ? c64(5160) : 0;
    const gsk = c64(5152);
    store<u64>(st + CPU_SEG + SEG_FS * SEG_SIZE + 8, fsb);
    store<u64>(st + CPU_SEG + SEG_GS * SEG_SIZE + 8, inKernel ? gsk : gsu);
    store<u64>(v + V_GS_KERNEL, inKernel ? gsu : gsk);
    if (inKernel) vf |= VF_KERNEL;
  }
  // LDT.
  store<u64>(v + V_LDT_BASE, ldtBase);
  store<u32>(v + V_LDT_ENTS, ldtEnts as u32);
  if (ldtEnts != 0) {
    const l = st + CPU_SEG + SEG_LDTR * SEG_SIZE;
    store<u16>(l, 0x38); store<u16>(l + 2, 0x82); store<u32>(l + 4, (ldtEnts as u32) * 8 - 1);
    store<u64>(l + 8, ldtBase);
  }
  // The virtual IDT: every entry as set_trap_table stores it (32-bit: code selectors' RPL fixed).
  for (let i = 0; i < 256; i++) {
    const t = v + V_TRAPS + (i << 4);
    const e = is64 ? CTX + 720 + i * 16 : CTX + 584 + i * 8;
    store<u64>(t, is64 ? load<u64>(e + 8) : load<u32>(e + 4) as u64);
    store<u16>(t + 8, fixSel(load<u16>(e + 2) as u64, is64) as u16);
    store<u8>(t + 10, load<u8>(e + 1));
    store<u8>(t + 11, 0);
  }
  // Kernel stack, callbacks.
  store<u64>(v + V_KERNEL_SS, fixSel(is64 ? c64(4968) : c32(2708), is64) as u64);
  store<u64>(v + V_KERNEL_SP, ksp);
  let cbf = load<u32>(v + V_CB_FLAGS) & ~((1 << A.CALLBACKTYPE_failsafe) | (1 << A.CALLBACKTYPE_syscall));
  if ((flags & VGCF_FAILSAFE_DISABLES_EVENTS) != 0) cbf |= 1 << A.CALLBACKTYPE_failsafe;
  if (is64 && (flags & VGCF_SYSCALL_DISABLES_EVENTS) != 0) cbf |= 1 << A.CALLBACKTYPE_syscall;
  store<u32>(v + V_CB_FLAGS, cbf);
  if (is64) {
    store<u64>(v + V_CB_EVENT, c64(5112));
    store<u64>(v + V_CB_FAILSAFE, c64(5120));
    store<u64>(v + V_CB_SYSCALL, c64(5128));
  } else {
    store<u16>(v + V_CB_EVENT_CS, fixSel(c32(2780), false) as u16);
    store<u64>(v + V_CB_EVENT, c32(2784));
    store<u16>(v + V_CB_FAILSAFE_CS, fixSel(c32(2788), false) as u16);
    store<u64>(v + V_CB_FAILSAFE, c32(2792));
  }
  vf |= VF_INITIALISED | VF_FRESH;
  if ((flags & VGCF_ONLINE) != 0) vf |= VF_ONLINE;
  store<u32>(v + V_FLAGS, vf);
  runstateSync(vi); // VGCF_online: runnable from now
  return 0;
}

// The first run of a vCPU that VCPUOP_initialise set up (the scheduler has just loaded it): its code
// and stack selectors are loaded with an IRET's checks (a bad one crashes the domain, as the faulting
// IRET into a new vCPU does when it has no failsafe callback yet), then the data selectors as after
// any context switch (a bad one goes to the failsafe callback).
export function loadFreshSegments(): void {
  const is64 = domIs64(currentDom);
  const cs = segSel(SEG_CS), ss = segSel(SEG_SS);
  if (is64 && cs == A.FLAT_RING3_CS64 && ss == A.FLAT_RING3_SS64) loadFlat64();
  else {
    if (!canLoadCs(cs) || !loadCsChecked(cs)) { badSel("cs", cs); return; }
    if ((ss & 0xfffc) == 0 || !canLoadSs(ss)) { badSel("ss", ss); return; }
    const r = descRead(ss, false);
    if (r <= 0) { clearFault(); badSel("ss", ss); return; }
    descSetAccessed();
    segFromDesc(SEG_SS, ss);
  }
  setCpl((segSel(SEG_CS) & 3) as i32);
  cpuStateChanged();
  const ds = segSel(SEG_DS), es = segSel(SEG_ES), fs = segSel(SEG_FS), gs = segSel(SEG_GS);
  let bad = false;
  if (!reload(SEG_FS, is64)) bad = true;
  if (!reload(SEG_GS, is64)) bad = true;
  if (!reload(SEG_DS, is64)) bad = true;
  if (!reload(SEG_ES, is64)) bad = true;
  cpuStateChanged();
  if (!bad) return;
  logVcpu();
  logStr(": a data selector of its initial context does not load");
  toFailsafe("bad data selector in the initial context (VCPUOP_initialise) and no failsafe callback", ds, es, fs, gs,
    rip(), segSel(SEG_CS), getFlags(), reg64(RSP), segSel(SEG_SS));
}

function badSel(which: string, sel: u32): void {
  logVcpu();
  logStr(": the "); logStr(which); logStr(" of its initial context does not load: "); logHex(sel as u64);
  logStr("\n");
  domainCrash(currentDom, "bad code or stack selector in the initial context (VCPUOP_initialise)");
}

export { current, vcpu, setSeg, CPU_STATE, CPU_SAVE_HOLE };
