// Privileged operations of PV kernels, emulated on the #GP (or #UD) they raise at CPL > 0:
//   - RDMSR/WRMSR of the segment-base MSRs (FS_BASE, GS_BASE, SHADOW_GS_BASE) and a few harmless ones;
//   - MOV to/from CR0/CR2/CR3/CR4 and DRn, CLTS, WBINVD;
//   - Xen's forced-emulation prefix `ud2; .ascii "xen"; cpuid`: CPUID with the hypervisor's leaves at
//     0x40000000 (anything else after the prefix stays a #UD).
//   - IN/OUT and CLI/STI under the virtual IOPL.
// Only the guest kernel gets emulation (IN/OUT, CLI/STI: whoever the virtual IOPL allows); guest user
// mode sees the fault. The CPU's decoder and cpu/emul.ts run the instruction; the callbacks below are
// what it may do (Xen's priv_op_ops in pv/emul-priv-op.c).
import { CPU_STATE, CPU_CR0, CPU_CR4, SEG_FS, SEG_GS } from "../memmap";
import { reg64, setReg64, RAX, RBX, RCX, RDX, rip, segSel, segBase, segLimit, segAttr, setSeg } from "../cpu/state";
import { CR0_TS } from "../bits";
import {
  cpuidLeaf, msrRead, msrWrite, msrOk, MSR_ARCH_CAPABILITIES, ARCH_CAPS, MSR_SPEC_CTRL, MSR_PRED_CMD
} from "../cpu/privops";
import {
  EmulOps, x86Emulate, EMC_PRIV, EMC_CPUID, EM_OKAY, EM_UNHANDLEABLE, EM_EXCEPTION, emSet, emSetCpuid,
} from "../cpu/emul";
import {
  current, currentDom, vcpu, domIs64, V_GS_KERNEL, V_CR3_KERNEL, V_VCPU_INFO, V_IOPL, V_GUEST_CR4,
} from "../domain/domain";
import { copyFromGuest } from "./guest";
import { guestKernelMode, upcallMaskAddr, bounceTrap } from "./bounce";
import { pvSetDebugreg, pvGetDebugreg, getDrOk, ioBreakpoints } from "./debugreg";
import { ENODEV } from "../hypercall/abi";
import { W64_VI_CR2, W32_VI_CR2, XEN_VERSION_MAJOR, XEN_VERSION_MINOR } from "../hypercall/abi";
import { newBaseptrFromCr3 } from "../hypercall/mmu";

// The guest's CR4 as it sees it: what it last wrote (PAE/PSE and the like always read as set).
const GUEST_CR4_SET: u64 = 0x20 | 0x10;

const MSR_FS_BASE: u32 = 0xc0000100;
const MSR_GS_BASE: u32 = 0xc0000101;
const MSR_SHADOW_GS_BASE: u32 = 0xc0000102;

function canonical(v: u64): bool { return ((((v << 16) as i64) >> 16) as u64) == v; }

// #DB conditions of the instruction just emulated (I/O breakpoints: B0-B3), for the caller to raise
// after it, as Xen's emulator does (with BS when the guest single-steps).
export let emulDbg: u32 = 0;

// IN/OUT and CLI/STI under the virtual IOPL (physdev set_iopl): allowed when it is at least the
// guest's ring (the kernel counts as ring 1).
function ioplOk(): bool {
  return load<u32>(vcpu(current as u32) + V_IOPL) >= (guestKernelMode() ? 1 : 3 as u32);
}

// No domain owns hardware ports here, so reads see all ones (as Xen answers for ports a domain may not
// reach) and writes are dropped.
function readIo(port: u32, size: i32): i32 {
  if (!ioplOk()) return EM_UNHANDLEABLE;
  emulDbg |= ioBreakpoints(port, size as u32);
  return emSet(<u64>-1);
}
function writeIo(port: u32, size: i32, v: u64): i32 {
  if (!ioplOk()) return EM_UNHANDLEABLE;
  emulDbg |= ioBreakpoints(port, size as u32);
  return EM_OKAY;
}

// CLI/STI set or clear the event-upcall mask (as Xen does; a later POPF does not restore it).
function intr(enable: bool): i32 {
  if (!ioplOk()) return EM_UNHANDLEABLE;
  store<u8>(upcallMaskAddr(), enable ? 0 : 1);
  return EM_OKAY;
}

// CR0 (only TS may change), CR2 (the guest's, in vcpu_info), CR3 (a new base pointer), CR4 (the
// guest's view).
function readCr(n: u32, size: i32): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  const v = vcpu(current as u32);
  if (n == 0) return emSet(load<u64>(CPU_STATE + CPU_CR0));
  if (n == 2) {
    const vi = load<u64>(v + V_VCPU_INFO) as i32;
    return emSet(domIs64(currentDom) ? load<u64>(vi + W64_VI_CR2) : load<u32>(vi + W32_VI_CR2) as u64);
  }
  if (n == 3) return emSet(load<u64>(v + V_CR3_KERNEL));
  if (n == 4) {
    const c4 = load<u64>(v + V_GUEST_CR4);
    return emSet(c4 != 0 ? c4 : load<u64>(CPU_STATE + CPU_CR4));
  }
  return EM_UNHANDLEABLE;
}
function writeCr(n: u32, size: i32, val: u64): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  if (n == 0) {
    const c0 = load<u64>(CPU_STATE + CPU_CR0);
    if (((val ^ c0) & ~CR0_TS) != 0) return EM_UNHANDLEABLE;
    store<u64>(CPU_STATE + CPU_CR0, (c0 & ~CR0_TS) | (val & CR0_TS));
  } else if (n == 3) {
    if (newBaseptrFromCr3(val) < 0) return EM_UNHANDLEABLE;
  } else if (n == 4) {
    store<u64>(vcpu(current as u32) + V_GUEST_CR4, val | GUEST_CR4_SET);
  } else return EM_UNHANDLEABLE;
  return EM_OKAY;
}

// DRn as get_debugreg/set_debugreg give them (DR8-15 do not exist: #UD).
function readDr(n: u32, size: i32): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  const v = pvGetDebugreg(n);
  if (!getDrOk) { bounceTrap(6, -1); return EM_EXCEPTION; }
  return emSet(v);
}
function writeDr(n: u32, size: i32, val: u64): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  const rc = pvSetDebugreg(n, val);
  if (rc == -ENODEV) { bounceTrap(6, -1); return EM_EXCEPTION; }
  if (rc < 0) { bounceTrap(13, 0); return EM_EXCEPTION; }
  return EM_OKAY;
}

// MSRs: the segment bases (64-bit guests), and a few a PV kernel may read and write without effect on
// the machine.
function harmlessMsr(m: u32): bool {
  return m == 0x8b || m == 0x1b || m == 0x1a0 || m == 0x277 || m == 0x10 || m == 0xc0000080
    || (m >= 0x200 && m < 0x300);
}
function readMsr(m: u32, size: i32): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  if (m == MSR_ARCH_CAPABILITIES) return emSet(ARCH_CAPS); // read-only: a write gets #GP (below)
  if (m == MSR_SPEC_CTRL) return emSet(msrRead(m)); // (MSR_PRED_CMD is write-only: #GP)
  const w = domIs64(currentDom);
  if (w && m == MSR_FS_BASE) return emSet(segBase(SEG_FS));
  if (w && m == MSR_GS_BASE) return emSet(segBase(SEG_GS));
  if (w && m == MSR_SHADOW_GS_BASE) return emSet(load<u64>(vcpu(current as u32) + V_GS_KERNEL));
  if (!harmlessMsr(m)) return EM_UNHANDLEABLE;
  const v = msrRead(m);
  return emSet(msrOk ? v : 0);
}
function writeMsr(m: u32, size: i32, v: u64): i32 {
  if (!guestKernelMode()) return EM_UNHANDLEABLE;
  if (domIs64(currentDom) && (m == MSR_FS_BASE || m == MSR_GS_BASE || m == MSR_SHADOW_GS_BASE)) {
    if (!canonical(v)) return EM_UNHANDLEABLE;
    if (m == MSR_FS_BASE) setSeg(SEG_FS, segSel(SEG_FS), v, segLimit(SEG_FS), segAttr(SEG_FS));
    else if (m == MSR_GS_BASE) setSeg(SEG_GS, segSel(SEG_GS), v, segLimit(SEG_GS), segAttr(SEG_GS));
    else store<u64>(vcpu(current as u32) + V_GS_KERNEL, v); // the user GS base, loaded on return to user mode
    return EM_OKAY;
  }
  // per vCPU, as Xen keeps it
  if (m == MSR_SPEC_CTRL || m == MSR_PRED_CMD) return msrWrite(m, v) ? EM_OKAY : EM_UNHANDLEABLE;
  return harmlessMsr(m) ? EM_OKAY : EM_UNHANDLEABLE;
}

function wbinvd(): i32 { return guestKernelMode() ? EM_OKAY : EM_UNHANDLEABLE; }

function cpuid(leaf: u32, sub: u32): i32 {
  pvCpuid(leaf, sub);
  return emSetCpuid(reg64(RAX) as u32, reg64(RBX) as u32, reg64(RCX) as u32, reg64(RDX) as u32);
}

const PRIV_OPS = new EmulOps();
PRIV_OPS.readIo = readIo;
PRIV_OPS.writeIo = writeIo;
PRIV_OPS.intr = intr;
PRIV_OPS.readCr = readCr;
PRIV_OPS.writeCr = writeCr;
PRIV_OPS.readDr = readDr;
PRIV_OPS.writeDr = writeDr;
PRIV_OPS.readMsr = readMsr;
PRIV_OPS.writeMsr = writeMsr;
PRIV_OPS.wbinvd = wbinvd;
PRIV_OPS.cpuid = cpuid;

// #GP: a privileged instruction. True when emulated (or an exception delivered in its place).
export function emulateGp(): bool {
  emulDbg = 0;
  return x86Emulate(PRIV_OPS, rip(), EMC_PRIV) != EM_UNHANDLEABLE;
}

// #UD: Xen's forced-emulation prefix (ud2; .ascii "xen") followed by CPUID.
const SIG = memory.data<u8>([0x0f, 0x0b, 0x78, 0x65, 0x6e]);
const sigBuf = memory.data(8) as i32;
export function emulateUd(): bool {
  const ip = rip();
  if (!copyFromGuest(sigBuf, ip, 5) || memory.compare(sigBuf, SIG, 5) != 0) return false;
  return x86Emulate(PRIV_OPS, ip + 5, EMC_CPUID) == EM_OKAY;
}

// CPUID as a PV guest sees it: the CPU's leaves, and Xen's at 0x40000000.
export function pvCpuid(leaf: u32, sub: u32): void {
  if (leaf >= 0x40000000 && leaf < 0x40010000) {
    let a: u32 = 0, bx: u32 = 0, c: u32 = 0, d: u32 = 0;
    switch (leaf) {
      case 0x40000000: a = 0x40000005; bx = 0x566e6558; c = 0x65584d4d; d = 0x4d4d566e; break; // "XenVMMXenVMM"
      case 0x40000001: a = (XEN_VERSION_MAJOR << 16) | XEN_VERSION_MINOR; break;
      case 0x40000002: a = 1; bx = 0x40000000; break; // one hypercall page, MSR base
      default: break;
    }
    setReg64(RAX, a as u64); setReg64(RBX, bx as u64); setReg64(RCX, c as u64); setReg64(RDX, d as u64);
    return;
  }
  cpuidLeaf(leaf, sub);
  // Xen's PV policy: what a PV kernel cannot use is hidden (superpages: PSE, PSE36; global pages,
  // MTRRs are the hypervisor's). Debugging extensions (DE) are shown, as Xen does ('A' in
  // cpufeatureset.h): the guest's CR4.DE governs DR4/DR5 and I/O breakpoints (hv/debugreg.ts).
  if (leaf == 1) setReg64(RDX, reg64(RDX) & ~((1 << 3) | (1 << 12) | (1 << 13) | (1 << 17) as u64));
}
