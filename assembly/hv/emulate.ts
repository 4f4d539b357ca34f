// Privileged operations of PV kernels, emulated on the #GP (or #UD) they raise at CPL > 0:
//   - RDMSR/WRMSR of the segment-base MSRs (FS_BASE, GS_BASE, SHADOW_GS_BASE) and a few harmless ones;
//   - reads of CR0/CR2/CR3/CR4, CLTS, WBINVD;
//   - Xen's forced-emulation prefix `ud2; .ascii "xen"; cpuid`: CPUID with the hypervisor's leaves at
//     0x40000000 (anything else after the prefix stays a #UD).
// Only the guest kernel gets emulation; guest user mode sees the fault.
import { CPU_STATE, CPU_CR0, CPU_CR4, SEG_FS, SEG_GS } from "../memmap";
import {
  reg64, setReg64, RAX, RCX, RDX, RBX, rip, setRip, segSel, segBase, segLimit, segAttr, setSeg, CR0_TS,
} from "../cpu/state";
import { cpuidLeaf, msrRead, msrOk } from "../cpu/privops";
import {
  current, currentDom, vcpu, domIs64, V_GS_KERNEL, V_CR3_KERNEL, V_VCPU_INFO, V_IOPL, V_GUEST_CR4,
} from "../domain/domain";
import { guestAddr, NO_HOST } from "./guest";
import { guestKernelMode, upcallMaskAddr, bounceTrap } from "./bounce";
import { pvSetDebugreg, pvGetDebugreg, getDrOk, ioBreakpoints } from "./debugreg";
import { ENODEV } from "../hypercall/abi";
import { W64_VI_CR2, W32_VI_CR2, XEN_VERSION_MAJOR, XEN_VERSION_MINOR } from "../hypercall/abi";

// The guest's CR4 as it sees it: what it last wrote (PAE/PSE and the like always read as set).
const GUEST_CR4_SET: u64 = 0x20 | 0x10;
import { newBaseptrFromCr3 } from "../hypercall/mmu";

const MSR_FS_BASE: u32 = 0xc0000100;
const MSR_GS_BASE: u32 = 0xc0000101;
const MSR_SHADOW_GS_BASE: u32 = 0xc0000102;

// Up to 16 instruction bytes at RIP into `ib` (fewer at the end of a mapped page run).
let ibLen: i32 = 0;
const ib = memory.data(16);
function fetch(): void {
  ibLen = 0;
  const ip = rip();
  // One translation per page (an instruction may straddle two).
  let n = 0x1000 - ((ip as i32) & 0xfff);
  if (n > 16) n = 16;
  const h = guestAddr(ip, n, false);
  if (h == NO_HOST) return;
  memory.copy(ib, h, n);
  ibLen = n;
  if (n < 16) {
    const h2 = guestAddr(ip + (n as u64), 16 - n, false);
    if (h2 != NO_HOST) { memory.copy(ib + n, h2, 16 - n); ibLen = 16; }
  }
}
@inline function b(i: i32): u32 { return i < ibLen ? load<u8>(ib + i) as u32 : 0x100; }

function canonical(v: u64): bool { return ((((v << 16) as i64) >> 16) as u64) == v; }

// IN/OUT under the virtual IOPL (physdev set_iopl): allowed when it is at least the guest's ring
// (the kernel counts as ring 1); no domain owns hardware ports here, so reads see all ones (as Xen
// answers for ports a domain may not reach) and writes are dropped.
function emulateIo(): bool {
  const kernel = guestKernelMode();
  const iopl = load<u32>(vcpu(current as u32) + V_IOPL);
  const need: u32 = kernel ? 1 : 3;
  if (iopl < need) return false;
  fetch();
  let i = 0;
  let size = 4;
  while (i < ibLen) {
    const p = b(i);
    if (p == 0x66) { size = 2; i++; continue; }
    if (domIs64(currentDom) && (p & 0xf0) == 0x40) { i++; continue; }
    break;
  }
  const op = b(i);
  let len = i + 1;
  switch (op) {
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: len++; break; // imm8 port
    case 0xec: case 0xed: case 0xee: case 0xef: break; // port in DX
    default: return false;
  }
  if (op == 0xe4 || op == 0xec || op == 0xe6 || op == 0xee) size = 1;
  const port: u32 = op <= 0xe7 ? b(i + 1) : (reg64(RDX) as u32) & 0xffff;
  emulDbg |= ioBreakpoints(port, size as u32);
  if (op == 0xe4 || op == 0xe5 || op == 0xec || op == 0xed) {
    const a = reg64(RAX);
    if (size == 1) setReg64(RAX, (a & ~(0xff as u64)) | 0xff);
    else if (size == 2) setReg64(RAX, (a & ~(0xffff as u64)) | 0xffff);
    else setReg64(RAX, 0xffffffff);
  }
  setRip(rip() + (len as u64));
  return true;
}

// CLI/STI under a virtual IOPL that allows them: they set or clear the event-upcall mask (as Xen
// does; a later POPF does not restore it).
function emulateCliSti(): bool {
  const iopl = load<u32>(vcpu(current as u32) + V_IOPL);
  const need: u32 = guestKernelMode() ? 1 : 3;
  if (iopl < need) return false;
  fetch();
  const op = b(0);
  if (op != 0xfa && op != 0xfb) return false;
  store<u8>(upcallMaskAddr(), op == 0xfa ? 1 : 0);
  setRip(rip() + 1);
  return true;
}

// #DB conditions of the instruction just emulated (I/O breakpoints: B0-B3), for the caller to raise
// after it, as Xen's emulator does (with BS when the guest single-steps).
export let emulDbg: u32 = 0;

export function emulateGp(): bool {
  emulDbg = 0;
  if (emulateCliSti()) return true;
  if (emulateIo()) return true;
  if (!guestKernelMode()) return false;
  fetch();
  let i = 0;
  // Prefixes we accept: operand size and REX.
  while (i < ibLen && (b(i) == 0x66 || (domIs64(currentDom) && (b(i) & 0xf0) == 0x40))) i++;
  if (b(i) != 0x0f) return false;
  const op = b(i + 1);
  const len = i + 2;
  switch (op) {
    case 0x30: { // WRMSR
      const m = reg64(RCX) as u32;
      const v = (reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32);
      if (!domIs64(currentDom)) { if (!harmlessMsr(m)) return false; }
      else if (m == MSR_FS_BASE || m == MSR_GS_BASE || m == MSR_SHADOW_GS_BASE) {
        if (!canonical(v)) return false;
        if (m == MSR_FS_BASE) setSeg(SEG_FS, segSel(SEG_FS), v, segLimit(SEG_FS), segAttr(SEG_FS));
        else if (m == MSR_GS_BASE) setSeg(SEG_GS, segSel(SEG_GS), v, segLimit(SEG_GS), segAttr(SEG_GS));
        else store<u64>(vcpu(current as u32) + V_GS_KERNEL, v); // the user GS base, loaded on return to user mode
      } else if (!harmlessMsr(m)) return false;
      setRip(rip() + (len as u64));
      return true;
    }
    case 0x32: { // RDMSR
      const m = reg64(RCX) as u32;
      let v: u64 = 0;
      if (domIs64(currentDom) && m == MSR_FS_BASE) v = segBase(SEG_FS);
      else if (domIs64(currentDom) && m == MSR_GS_BASE) v = segBase(SEG_GS);
      else if (domIs64(currentDom) && m == MSR_SHADOW_GS_BASE) v = load<u64>(vcpu(current as u32) + V_GS_KERNEL);
      else if (harmlessMsr(m)) { v = msrRead(m); if (!msrOk) v = 0; }
      else return false;
      setReg64(RAX, v & 0xffffffff);
      setReg64(RDX, v >> 32);
      setRip(rip() + (len as u64));
      return true;
    }
    case 0x20: { // MOV r, CRn
      if (b(i + 2) > 0xff) return false;
      const modrm = b(i + 2);
      if ((modrm >> 6) != 3) return false;
      const n = ((modrm >> 3) & 7) as i32;
      let r = (modrm & 7) as i32;
      if (i > 0 && (b(i - 1) & 0xf1) == 0x41) r += 8; // REX.B
      let v: u64;
      if (n == 0) v = load<u64>(CPU_STATE + CPU_CR0);
      else if (n == 2) {
        const vi = load<u64>(vcpu(current as u32) + V_VCPU_INFO) as i32;
        v = domIs64(currentDom) ? load<u64>(vi + W64_VI_CR2) : load<u32>(vi + W32_VI_CR2) as u64;
      } else if (n == 3) v = load<u64>(vcpu(current as u32) + V_CR3_KERNEL);
      else if (n == 4) { v = load<u64>(vcpu(current as u32) + V_GUEST_CR4); if (v == 0) v = load<u64>(CPU_STATE + CPU_CR4); }
      else return false;
      if (domIs64(currentDom)) setReg64(r, v); else setReg64(r, v & 0xffffffff);
      setRip(rip() + ((len + 1) as u64));
      return true;
    }
    case 0x22: { // MOV CRn, r: CR0 (only TS may change), CR3 (a new base pointer), CR4 (the guest's view)
      const modrm = b(i + 2);
      if (modrm > 0xff || (modrm >> 6) != 3) return false;
      const n = ((modrm >> 3) & 7) as i32;
      let r = (modrm & 7) as i32;
      if (i > 0 && (b(i - 1) & 0xf1) == 0x41) r += 8; // REX.B
      let val = reg64(r);
      if (!domIs64(currentDom)) val &= 0xffffffff;
      if (n == 0) {
        const c0 = load<u64>(CPU_STATE + CPU_CR0);
        if (((val ^ c0) & ~CR0_TS) != 0) return false;
        store<u64>(CPU_STATE + CPU_CR0, (c0 & ~CR0_TS) | (val & CR0_TS));
      } else if (n == 3) {
        if (newBaseptrFromCr3(val) < 0) return false;
      } else if (n == 4) {
        store<u64>(vcpu(current as u32) + V_GUEST_CR4, val | GUEST_CR4_SET);
      } else return false;
      setRip(rip() + ((len + 1) as u64));
      return true;
    }
    case 0x21: case 0x23: { // MOV r, DRn / MOV DRn, r (ModRM.mod is ignored: always registers)
      const modrm = b(i + 2);
      if (modrm > 0xff) return false;
      let n = ((modrm >> 3) & 7) as u32;
      let r = (modrm & 7) as i32;
      if (i > 0 && (b(i - 1) & 0xf4) == 0x44) n += 8; // REX.R: DR8-15 do not exist (#UD)
      if (i > 0 && (b(i - 1) & 0xf1) == 0x41) r += 8; // REX.B
      if (op == 0x21) {
        const v = pvGetDebugreg(n);
        if (!getDrOk) { bounceTrap(6, -1); return true; }
        setReg64(r, domIs64(currentDom) ? v : v & 0xffffffff);
      } else {
        let val = reg64(r);
        if (!domIs64(currentDom)) val &= 0xffffffff;
        const rc = pvSetDebugreg(n, val);
        if (rc == -ENODEV) { bounceTrap(6, -1); return true; }
        if (rc < 0) { bounceTrap(13, 0); return true; }
      }
      setRip(rip() + ((len + 1) as u64));
      return true;
    }
    case 0x06: // CLTS
      store<u64>(CPU_STATE + CPU_CR0, load<u64>(CPU_STATE + CPU_CR0) & ~CR0_TS);
      setRip(rip() + (len as u64));
      return true;
    case 0x09: // WBINVD
      setRip(rip() + (len as u64));
      return true;
    default: return false;
  }
}

// MSRs a PV kernel may read and write without effect on the machine.
function harmlessMsr(m: u32): bool {
  return m == 0x8b || m == 0x1b || m == 0x1a0 || m == 0x277 || m == 0x10 || m == 0xc0000080 || (m >= 0x200 && m < 0x300);
}

// #UD: the forced-emulation prefix followed by CPUID.
export function emulateUd(): bool {
  fetch();
  if (b(0) != 0x0f || b(1) != 0x0b || b(2) != 0x78 || b(3) != 0x65 || b(4) != 0x6e) return false;
  if (b(5) != 0x0f || b(6) != 0xa2) return false;
  pvCpuid(reg64(RAX) as u32, reg64(RCX) as u32);
  setRip(rip() + 7);
  return true;
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
