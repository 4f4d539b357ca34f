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
  current, currentDom, vcpu, domIs64, V_GS_KERNEL, V_CR3_KERNEL, V_VCPU_INFO,
} from "../domain/domain";
import { guestAddr } from "./guest";
import { guestKernelMode } from "./bounce";
import { W64_VI_CR2, W32_VI_CR2, XEN_VERSION_MAJOR, XEN_VERSION_MINOR } from "../hypercall/abi";

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
  if (h < 0) return;
  memory.copy(ib, h, n);
  ibLen = n;
  if (n < 16) {
    const h2 = guestAddr(ip + (n as u64), 16 - n, false);
    if (h2 >= 0) { memory.copy(ib + n, h2, 16 - n); ibLen = 16; }
  }
}
@inline function b(i: i32): u32 { return i < ibLen ? load<u8>(ib + i) as u32 : 0x100; }

function canonical(v: u64): bool { return ((((v << 16) as i64) >> 16) as u64) == v; }

export function emulateGp(): bool {
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
      else if (n == 4) v = load<u64>(CPU_STATE + CPU_CR4);
      else return false;
      if (domIs64(currentDom)) setReg64(r, v); else setReg64(r, v & 0xffffffff);
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
  return m == 0x1b || m == 0x1a0 || m == 0x277 || m == 0x10 || m == 0xc0000080 || (m >= 0x200 && m < 0x300);
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
}
