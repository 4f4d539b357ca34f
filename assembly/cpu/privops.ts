// Privileged and system instructions that do not transfer control: descriptor-table registers,
// control/debug registers, MSRs, CPUID, TSC, HLT, port I/O with IOPL and the TSS bitmap, CLI/STI,
// CLTS, INVLPG, WBINVD, SWAPGS, SLDT/STR, and the x87/SSE availability faults.
import {
  CPU_STATE, CPU_GDTR_BASE, CPU_GDTR_LIMIT, CPU_IDTR_BASE, CPU_IDTR_LIMIT, CPU_CR0, CPU_CR2, CPU_CR3,
  CPU_CR4, CPU_CR8, CPU_EFER, CPU_DR, CPU_MSR_STAR, CPU_MSR_LSTAR, CPU_MSR_CSTAR, CPU_MSR_SFMASK,
  CPU_MSR_KGSBASE, CPU_MSR_SYSENTER_CS, CPU_MSR_SYSENTER_ESP, CPU_MSR_SYSENTER_EIP, CPU_TSC_OFFSET,
  CPU_MSR_PAT, CPU_MSR_MISC_ENABLE, CPU_MSR_TSC_AUX, CPU_MSR_SPEC_CTRL, CPU_HALTED, CPU_INTERCEPT_FLAGS, CPU_EXIT_INFO,
  INTERCEPT_HLT, INTERCEPT_IO, INTERCEPT_CPUID, EXIT_HLT, EXIT_HOST, EXIT_CPUID, EXIT_IO,
  SEG_TR, SEG_LDTR, SEG_FS, SEG_GS, MODE_REAL,
} from "../memmap";
import {
  reg64, setReg64, RAX, RCX, RDX, RBX, cpl, mode, is64, segSel, segAttr, segBase, segLimit, setSeg,
  cpuStateChanged, efer, rip, nextIp,
  F_IF, F_IOPL,
} from "./state";
import {
  CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_ET, CR0_NE, CR0_WP, CR0_AM, CR0_PG, CR4_PAE, CR4_PGE, CR4_PSE, CR4_TSD, CR4_DE,
  CR4_OSFXSR, EFER_LME, EFER_LMA, EFER_SCE, EFER_NXE,
} from "../bits";
import { fault, raise, raiseUD, raiseNM, EX_GP, EX_NP } from "./fault";
import { getFlags, setFlags } from "./flags";
import { readAcc, writeAcc, xlate, tlbFlushAll, tlbFlushNonGlobal, tlbFlushPage, NO_HOST } from "../mmu/tlb";
import { ACC_U, ACC_R } from "../bits";
import { ldMarkHost } from "../mmu/logdirty";
import { dr6Adjust, dr7Adjust, dbgRecompute } from "./debug";
import { descRead, descType, descPresent, descBase, descLimit, descAttr, dHi, dAddr } from "./desc";
import { requestStop } from "./control";
import { hostIoIn, hostIoOut, hostTimeNs } from "../env";

@inline function lma(): bool { return (efer() & EFER_LMA) != 0; }
@inline function canonical(v: u64): bool { return ((((v << 16) as i64) >> 16) as u64) == v; }
@inline function accU(): i32 { return cpl() == 3 ? ACC_U : 0; }
@inline function intercepts(bit: i32): bool { return (load<i32>(CPU_STATE + CPU_INTERCEPT_FLAGS) & bit) != 0; }

// Privileged instructions need CPL 0: #GP(0) otherwise.
function priv(): bool {
  if (cpl() != 0) { raise(EX_GP, 0); return false; }
  return true;
}

// Stop run() with RIP at this instruction, not executed (the hypervisor emulates it).
function exitAtInsn(reason: i32): void {
  nextIp = rip();
  requestStop(reason);
}

// ---- GDTR / IDTR ----
function loadTableReg(lin: u64, baseOff: i32, limOff: i32): void {
  if (!priv()) return;
  const lim = readAcc(lin, 2, accU());
  if (fault) return;
  let base = readAcc(lin + 2, is64 ? 8 : 4, accU());
  if (fault) return;
  if (is64 && !canonical(base)) { raise(EX_GP, 0); return; }
  store<u64>(CPU_STATE + baseOff, base);
  store<u32>(CPU_STATE + limOff, (lim & 0xffff) as u32);
}
function storeTableReg(lin: u64, baseOff: i32, limOff: i32): void {
  const n = is64 ? 8 : 4;
  // Probe the whole destination first so that nothing is half-written.
  readAcc(lin + ((n + 1) as u64), 1, accU());
  if (fault) return;
  writeAcc(lin, 2, load<u32>(CPU_STATE + limOff) as u64, accU());
  if (fault) return;
  writeAcc(lin + 2, n, is64 ? load<u64>(CPU_STATE + baseOff) : load<u64>(CPU_STATE + baseOff) & 0xffffffff, accU());
}
export function lgdt(lin: u64): void { loadTableReg(lin, CPU_GDTR_BASE, CPU_GDTR_LIMIT); }
export function lidt(lin: u64): void { loadTableReg(lin, CPU_IDTR_BASE, CPU_IDTR_LIMIT); }
export function sgdt(lin: u64): void { storeTableReg(lin, CPU_GDTR_BASE, CPU_GDTR_LIMIT); }
export function sidt(lin: u64): void { storeTableReg(lin, CPU_IDTR_BASE, CPU_IDTR_LIMIT); }

// ---- LDTR / TR ----
export function lldt(sel: u32): void {
  if (mode == MODE_REAL) { raiseUD(); return; }
  if (!priv()) return;
  sel &= 0xffff;
  if ((sel & 0xfffc) == 0) { setSeg(SEG_LDTR, sel, 0, 0, 0); return; }
  const ec = (sel & 0xfffc) as i32;
  if ((sel & 4) != 0) { raise(EX_GP, ec); return; }
  const r = descRead(sel, lma());
  if (r < 0) return;
  if (r == 0 || descType() != 2) { raise(EX_GP, ec); return; }
  if (!descPresent()) { raise(EX_NP, ec); return; }
  const base = descBase();
  if (lma() && !canonical(base)) { raise(EX_GP, ec); return; }
  setSeg(SEG_LDTR, sel, lma() ? base : base & 0xffffffff, descLimit(), descAttr());
}

export function ltr(sel: u32): void {
  if (mode == MODE_REAL) { raiseUD(); return; }
  if (!priv()) return;
  sel &= 0xffff;
  const ec = (sel & 0xfffc) as i32;
  if (ec == 0 || (sel & 4) != 0) { raise(EX_GP, ec); return; }
  const r = descRead(sel, lma());
  if (r < 0) return;
  const t = descType();
  if (r == 0 || (lma() ? t != 9 : (t != 9 && t != 1))) { raise(EX_GP, ec); return; }
  if (!descPresent()) { raise(EX_NP, ec); return; }
  const base = descBase();
  if (lma() && !canonical(base)) { raise(EX_GP, ec); return; }
  // Mark the TSS busy in the GDT (a system update through the read translation, like the A bit).
  const p = xlateSys(dAddr + 5);
  if (p == NO_HOST) return;
  store<u8>(p, (load<u8>(p) | 2) as u8);
  ldMarkHost(p);
  setSeg(SEG_TR, sel, lma() ? base : base & 0xffffffff, descLimit(), descAttr() | 2);
}

function xlateSys(lin: u64): i32 { return xlate(lin, 1, ACC_R); }

export function sldt(): u32 { if (mode == MODE_REAL) { raiseUD(); return 0; } return segSel(SEG_LDTR); }
export function str_(): u32 { if (mode == MODE_REAL) { raiseUD(); return 0; } return segSel(SEG_TR); }

// ---- CR0 / MSW ----
const CR0_FIXED: u64 = CR0_ET;
const CR0_VALID: u64 = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM |
  (1 << 29) | (1 << 30) | CR0_PG; // NW, CD
const CR4_VALID: u64 = 0x1 | 0x2 | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | 0x40 | CR4_PGE | 0x100 |
  CR4_OSFXSR | 0x400 | (1 << 16) | (1 << 18); // VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT FSGSBASE OSXSAVE

function writeCr0(v: u64): void {
  if ((v >> 32) != 0 || (v & ~CR0_VALID) != 0) { raise(EX_GP, 0); return; }
  v |= CR0_FIXED;
  if ((v & CR0_PG) != 0 && (v & CR0_PE) == 0) { raise(EX_GP, 0); return; }
  if ((v & (1 << 29)) != 0 && (v & (1 << 30)) == 0) { raise(EX_GP, 0); return; } // NW without CD
  const old = load<u64>(CPU_STATE + CPU_CR0);
  let ef = efer();
  if ((v & CR0_PG) != 0 && (old & CR0_PG) == 0 && (ef & EFER_LME) != 0) {
    // Entering long mode: PAE required, and the current CS must not be a 64-bit one.
    if ((load<u64>(CPU_STATE + CPU_CR4) & CR4_PAE) == 0) { raise(EX_GP, 0); return; }
    ef |= EFER_LMA;
  }
  if ((v & CR0_PG) == 0 && (old & CR0_PG) != 0 && (ef & EFER_LMA) != 0) {
    if (is64) { raise(EX_GP, 0); return; } // leaving long mode from 64-bit code
    ef &= ~EFER_LMA;
  }
  store<u64>(CPU_STATE + CPU_EFER, ef);
  store<u64>(CPU_STATE + CPU_CR0, v);
  cpuStateChanged();
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) != 0) tlbFlushAll();
}

export function lmsw(v: u32): void {
  if (!priv()) return;
  const old = load<u64>(CPU_STATE + CPU_CR0);
  // LMSW changes PE MP EM TS and cannot clear PE.
  const nv = (old & ~(0xe as u64)) | ((v & 0xf) as u64) | (old & CR0_PE);
  writeCr0(nv);
}
export function smsw(): u32 { return (load<u64>(CPU_STATE + CPU_CR0) & 0xffffffff) as u32; }

export function movToCr(n: i32, v: u64): void {
  if (!priv()) return;
  if (!is64) v &= 0xffffffff;
  switch (n) {
    case 0: writeCr0(v); return;
    case 2: store<u64>(CPU_STATE + CPU_CR2, v); return;
    case 3: {
      if (lma() && (v >> 52) != 0) { raise(EX_GP, 0); return; }
      store<u64>(CPU_STATE + CPU_CR3, v);
      if ((load<u64>(CPU_STATE + CPU_CR4) & CR4_PGE) != 0) tlbFlushNonGlobal(); else tlbFlushAll();
      return;
    }
    case 4: {
      if ((v & ~CR4_VALID) != 0) { raise(EX_GP, 0); return; }
      if (lma() && (v & CR4_PAE) == 0) { raise(EX_GP, 0); return; }
      const old = load<u64>(CPU_STATE + CPU_CR4);
      store<u64>(CPU_STATE + CPU_CR4, v);
      if (((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE)) != 0) tlbFlushAll();
      return;
    }
    case 8: {
      if ((v >> 4) != 0) { raise(EX_GP, 0); return; }
      store<u64>(CPU_STATE + CPU_CR8, v);
      return;
    }
    default: raiseUD(); return;
  }
}

export function movFromCr(n: i32): u64 {
  if (!priv()) return 0;
  switch (n) {
    case 0: return load<u64>(CPU_STATE + CPU_CR0);
    case 2: return load<u64>(CPU_STATE + CPU_CR2);
    case 3: return load<u64>(CPU_STATE + CPU_CR3);
    case 4: return load<u64>(CPU_STATE + CPU_CR4);
    case 8: return load<u64>(CPU_STATE + CPU_CR8);
    default: raiseUD(); return 0;
  }
}

// ---- debug registers (breakpoints: cpu/debug.ts) ----
function drIndex(n: i32): i32 {
  if (n == 4 || n == 5) {
    if ((load<u64>(CPU_STATE + CPU_CR4) & CR4_DE) != 0) { raiseUD(); return -1; }
    return n + 2;
  }
  if (n > 7) { raiseUD(); return -1; }
  return n;
}
export function movToDr(n: i32, v: u64): void {
  if (!priv()) return;
  const i = drIndex(n);
  if (i < 0) return;
  if (i >= 6 && (v >> 32) != 0) { raise(EX_GP, 0); return; }
  if (i == 6) v = dr6Adjust(v as u32) as u64;
  else if (i == 7) v = dr7Adjust(v as u32) as u64;
  store<u64>(CPU_STATE + CPU_DR + (i << 3), is64 ? v : v & 0xffffffff);
  if (i != 6) dbgRecompute();
}
export function movFromDr(n: i32): u64 {
  if (!priv()) return 0;
  const i = drIndex(n);
  if (i < 0) return 0;
  const v = load<u64>(CPU_STATE + CPU_DR + (i << 3));
  if (i == 6) return dr6Adjust(v as u32) as u64;
  if (i == 7) return dr7Adjust(v as u32) as u64;
  return v;
}

// ---- MSRs ----
export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
export const MSR_MISC_ENABLE = 0x1a0;
export const MSR_PAT = 0x277;
export const MSR_EFER = 0xc0000080;
export const MSR_STAR = 0xc0000081;
export const MSR_LSTAR = 0xc0000082;
export const MSR_CSTAR = 0xc0000083;
export const MSR_SFMASK = 0xc0000084;
export const MSR_FS_BASE = 0xc0000100;
export const MSR_GS_BASE = 0xc0000101;
export const MSR_KERNEL_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103;
export const MSR_ARCH_CAPABILITIES = 0x10a;
export const MSR_SPEC_CTRL = 0x48;
export const MSR_PRED_CMD = 0x49;
// IA32_SPEC_CTRL's bits this CPU has (CPUID.7.0:EDX[26] IBRS/IBPB, CPUID.7.2:EDX[4] BHI_CTRL): IBRS 0 and
// BHI_DIS_S 10; STIBP, SSBD and RRSBA_DIS are not offered (#GP). They change nothing here.
const SPEC_CTRL_VALID: u64 = (1 << 0) | (1 << 10);
// IA32_ARCH_CAPABILITIES (read-only; CPUID.7.0:EDX[29] says it exists). This CPU executes nothing
// speculatively, so it is immune to every transient-execution attack the MSR has a "not affected" bit
// for: RDCL_NO (Meltdown, L1TF) 0, SSB_NO 4, MDS_NO 5, IF_PSCHANGE_MC_NO 6, TAA_NO 8, SBDR_SSDP_NO 13,
// FBSDP_NO 14, PSDP_NO 15 (MMIO stale data), BHI_NO 20, PBRSB_NO 24, GDS_NO 26, RFDS_NO 27, ITS_NO 62
// (the bit VMMs synthesize). Without it, guests assume the worst and run mitigations that cost an
// emulator much more than a CPU: Linux put a jump to a return thunk in place of every RET (ITS), and
// VERW buffer clears on every return to user mode (MDS). IBRS_ALL 1 (enhanced IBRS: IA32_SPEC_CTRL.IBRS
// set once protects everything, trivially true here) lets Linux use that for Spectre v2 instead of
// retpolines (a call through a thunk for every indirect call); BHI_CTRL (CPUID.7.2:EDX[4]) lets it set
// BHI_DIS_S once instead of clearing the branch history on every system call.
export const ARCH_CAPS: u64 =
  (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) |
  (1 << 20) | (1 << 24) | (1 << 26) | (1 << 27) | (<u64>1 << 62);

// Guest TSC: the host's monotonic nanoseconds (a 1 GHz TSC) plus the per-vCPU offset.
export function tscNow(): u64 {
  return (hostTimeNs() as u64) + load<u64>(CPU_STATE + CPU_TSC_OFFSET);
}

// The value of MSR `m`; sets msrOk = false for an MSR this CPU does not have.
export let msrOk: bool = true;
export function msrRead(m: u32): u64 {
  msrOk = true;
  switch (m) {
    case MSR_TSC: return tscNow();
    case MSR_APIC_BASE: return 0xfee00900; // enabled, BSP
    case MSR_ARCH_CAPABILITIES: return ARCH_CAPS;
    case MSR_SPEC_CTRL: return load<u64>(CPU_STATE + CPU_MSR_SPEC_CTRL);
    case MSR_SYSENTER_CS: return load<u64>(CPU_STATE + CPU_MSR_SYSENTER_CS);
    case MSR_SYSENTER_ESP: return load<u64>(CPU_STATE + CPU_MSR_SYSENTER_ESP);
    case MSR_SYSENTER_EIP: return load<u64>(CPU_STATE + CPU_MSR_SYSENTER_EIP);
    case MSR_MISC_ENABLE: return load<u64>(CPU_STATE + CPU_MSR_MISC_ENABLE);
    case MSR_PAT: return load<u64>(CPU_STATE + CPU_MSR_PAT);
    case MSR_EFER: return efer();
    case MSR_STAR: return load<u64>(CPU_STATE + CPU_MSR_STAR);
    case MSR_LSTAR: return load<u64>(CPU_STATE + CPU_MSR_LSTAR);
    case MSR_CSTAR: return load<u64>(CPU_STATE + CPU_MSR_CSTAR);
    case MSR_SFMASK: return load<u64>(CPU_STATE + CPU_MSR_SFMASK);
    case MSR_FS_BASE: return segBase(SEG_FS);
    case MSR_GS_BASE: return segBase(SEG_GS);
    case MSR_KERNEL_GS_BASE: return load<u64>(CPU_STATE + CPU_MSR_KGSBASE);
    case MSR_TSC_AUX: return load<u64>(CPU_STATE + CPU_MSR_TSC_AUX);
    default: msrOk = false; return 0;
  }
}

// Write MSR `m`; false for an MSR this CPU does not have or a value it refuses (#GP).
export function msrWrite(m: u32, v: u64): bool {
  switch (m) {
    case MSR_TSC: store<u64>(CPU_STATE + CPU_TSC_OFFSET, v - (hostTimeNs() as u64)); return true;
    case MSR_APIC_BASE: return true;
    case MSR_SPEC_CTRL: if ((v & ~SPEC_CTRL_VALID) != 0) return false; store<u64>(CPU_STATE + CPU_MSR_SPEC_CTRL, v);
      return true;
    case MSR_PRED_CMD: return (v & ~(1 as u64)) == 0; // IBPB: a barrier with nothing to clear (write-only: reads #GP)
    case MSR_SYSENTER_CS: store<u64>(CPU_STATE + CPU_MSR_SYSENTER_CS, v & 0xffff); return true;
    case MSR_SYSENTER_ESP: if (!canonical(v)) return false; store<u64>(CPU_STATE + CPU_MSR_SYSENTER_ESP, v);
      return true;
    case MSR_SYSENTER_EIP: if (!canonical(v)) return false; store<u64>(CPU_STATE + CPU_MSR_SYSENTER_EIP, v);
      return true;
    case MSR_MISC_ENABLE: store<u64>(CPU_STATE + CPU_MSR_MISC_ENABLE, v); return true;
    case MSR_PAT: {
      for (let i = 0; i < 8; i++) {
        const t = (v >> ((i * 8) as u64)) & 0xff;
        if (t == 2 || t == 3 || t > 7) return false;
      }
      store<u64>(CPU_STATE + CPU_MSR_PAT, v);
      return true;
    }
    case MSR_EFER: {
      const valid: u64 = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
      if ((v & ~valid) != 0) return false;
      const old = efer();
      const pg = (load<u64>(CPU_STATE + CPU_CR0) & CR0_PG) != 0;
      if (pg && ((old ^ v) & EFER_LME) != 0) return false;
      // LMA is read-only: it follows CR0.PG and LME.
      const nv = (v & ~EFER_LMA) | (old & EFER_LMA);
      store<u64>(CPU_STATE + CPU_EFER, nv);
      if (((old ^ nv) & EFER_NXE) != 0) tlbFlushAll();
      cpuStateChanged();
      return true;
    }
    case MSR_STAR: store<u64>(CPU_STATE + CPU_MSR_STAR, v); return true;
    case MSR_LSTAR: if (!canonical(v)) return false; store<u64>(CPU_STATE + CPU_MSR_LSTAR, v); return true;
    case MSR_CSTAR: if (!canonical(v)) return false; store<u64>(CPU_STATE + CPU_MSR_CSTAR, v); return true;
    case MSR_SFMASK: store<u64>(CPU_STATE + CPU_MSR_SFMASK, v & 0xffffffff); return true;
    case MSR_FS_BASE: case MSR_GS_BASE: {
      if (!canonical(v)) return false;
      const s = m == MSR_FS_BASE ? SEG_FS : SEG_GS;
      setSeg(s, segSel(s), v, segLimit(s), segAttr(s));
      return true;
    }
    case MSR_KERNEL_GS_BASE: if (!canonical(v)) return false; store<u64>(CPU_STATE + CPU_MSR_KGSBASE, v); return true;
    case MSR_TSC_AUX: if ((v >> 32) != 0) return false; store<u64>(CPU_STATE + CPU_MSR_TSC_AUX, v); return true;
    default: return false;
  }
}

export function rdmsr(): void {
  if (!priv()) return;
  const v = msrRead(reg64(RCX) as u32);
  if (!msrOk) { raise(EX_GP, 0); return; }
  setReg64(RAX, v & 0xffffffff);
  setReg64(RDX, v >> 32);
}
export function wrmsr(): void {
  if (!priv()) return;
  const v = (reg64(RAX) & 0xffffffff) | (reg64(RDX) << 32);
  if (!msrWrite(reg64(RCX) as u32, v)) raise(EX_GP, 0);
}

// ---- CPUID: what this CPU implements (the hypervisor adds its leaves via INTERCEPT_CPUID) ----
// Leaf 1 EDX: FPU DE PSE TSC MSR PAE CX8 SEP PGE CMOV PAT CLFSH MMX FXSR SSE SSE2 (cpu/x87.ts with
// fp80.ts/ftrans.ts: the whole x87; cpu/sse.ts: SSE/SSE2 and MMX).
const L1_EDX: u32 = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 11) |
  (1 << 13) | (1 << 15) | (1 << 16) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
// Leaf 1 ECX: SSE3, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT (cpu/sse4.ts, exec.ts), and the hypervisor-present
// bit. Not MONITOR (MONITOR/MWAIT #UD, as Xen hides them from PV guests), PCLMULQDQ, MOVBE, AES, XSAVE/AVX.
const L1_ECX: u32 = (1 << 0) | (1 << 9) | (1 << 13) | (1 << 19) | (1 << 20) | (1 << 23) | (1 << 31);
// Leaf 0x80000001 EDX: SYSCALL, NX, RDTSCP, LM; ECX: LAHF/SAHF in 64-bit mode, LZCNT (ABM).
const X1_EDX: u32 = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
const X1_ECX: u32 = (1 << 0) | (1 << 5);

// Leaf 7.0 EBX: BMI1 (3) and BMI2 (8): the VEX-encoded general-register instructions (cpu/bmi.ts) and
// TZCNT. Not AVX/AVX2 (leaf 1 ECX says no AVX, no OSXSAVE): the VEX decoder serves only these.
const L7_EBX: u32 = (1 << 3) | (1 << 8);

export function cpuidLeaf(leaf: u32, sub: u32): void {
  let a: u32 = 0, b: u32 = 0, c: u32 = 0, d: u32 = 0;
  switch (leaf) {
    case 0: a = 7; b = 0x756e6547; d = 0x49656e69; c = 0x6c65746e; break; // "GenuineIntel"
    case 1: a = 0x000606a0; b = 0x00010800; c = L1_ECX; d = L1_EDX; break; // family 6, 1 logical CPU
    // subleaf 0 EBX: BMI1, BMI2; EDX: IBRS/IBPB 26 (IA32_SPEC_CTRL, IA32_PRED_CMD), ARCH_CAPABILITIES 29; subleaf 2
    // EDX: BHI_CTRL 4
    case 7:
      if (sub == 0) { a = 2; b = L7_EBX; d = (1 << 26) | (1 << 29); } else if (sub == 2) d = 1 << 4;
      break;
    case 0x80000000: a = 0x80000008; break;
    case 0x80000001: c = X1_ECX; d = X1_EDX; break;
    case 0x80000002: a = 0x776e6578; b = 0x206d7361; c = 0x74726976; d = 0x206c6175; break; // "xenwasm virtual "
    case 0x80000003: a = 0x20555043; b = 0; c = 0; d = 0; break; // "CPU "
    case 0x80000008: a = 0x3024; break; // 36 physical, 48 linear address bits
    default: break;
  }
  setReg64(RAX, a as u64); setReg64(RBX, b as u64); setReg64(RCX, c as u64); setReg64(RDX, d as u64);
}

export function cpuid(): void {
  if (intercepts(INTERCEPT_CPUID)) { exitAtInsn(EXIT_CPUID); return; }
  cpuidLeaf(reg64(RAX) as u32, reg64(RCX) as u32);
}

// ---- TSC ----
export function rdtsc(): void {
  if ((load<u64>(CPU_STATE + CPU_CR4) & CR4_TSD) != 0 && cpl() != 0) { raise(EX_GP, 0); return; }
  const t = tscNow();
  setReg64(RAX, t & 0xffffffff);
  setReg64(RDX, t >> 32);
}
export function rdtscp(): void {
  rdtsc();
  if (fault) return;
  setReg64(RCX, load<u64>(CPU_STATE + CPU_MSR_TSC_AUX) & 0xffffffff);
}

// ---- HLT ----
export function hlt(): void {
  if (!priv()) return;
  store<i32>(CPU_STATE + CPU_HALTED, 1);
  requestStop(EXIT_HLT); // RIP: the next instruction; the host/hypervisor decides when to resume
}

// ---- port I/O ----
// IN/OUT/INS/OUTS are allowed when CPL <= IOPL, else when the TSS I/O bitmap clears every bit of
// the ports accessed; #GP(0) otherwise.
export function ioAllowed(port: i32, size: i32): bool {
  const c = cpl();
  const iopl = ((getFlags() >> 12) & 3) as i32;
  if (mode == MODE_REAL || c <= iopl) return true;
  const t = segAttr(SEG_TR) & 0x0f;
  if ((t != 9 && t != 0xb) || segLimit(SEG_TR) < 103) { raise(EX_GP, 0); return false; }
  const tb = segBase(SEG_TR);
  const mapOff = readAcc(tb + 102, 2, ACC_R) as u32;
  if (fault) return false;
  const at = mapOff + ((port as u32) >> 3);
  if (at + 1 > segLimit(SEG_TR)) { raise(EX_GP, 0); return false; }
  const bits = readAcc(tb + (at as u64), 2, ACC_R) as u32;
  if (fault) return false;
  const mask = ((1 << size) - 1) << (port & 7);
  if ((bits & mask) != 0) { raise(EX_GP, 0); return false; }
  return true;
}

export function ioIn(port: i32, size: i32): u32 {
  if (!ioAllowed(port, size)) return 0;
  if (intercepts(INTERCEPT_IO)) { ioExit(port, size, false); return 0; }
  const m: u32 = size == 4 ? 0xffffffff : (((1 << (size << 3)) - 1) as u32);
  return (hostIoIn(port, size) as u32) & m;
}
export function ioOut(port: i32, size: i32, v: u32): void {
  if (!ioAllowed(port, size)) return;
  if (intercepts(INTERCEPT_IO)) { ioExit(port, size, true); return; }
  if (hostIoOut(port, size, v as i32) != 0) requestStop(EXIT_HOST);
}
// EXIT_INFO for an I/O exit: port | size << 16 | out << 24.
function ioExit(port: i32, size: i32, out: bool): void {
  store<u64>(CPU_STATE + CPU_EXIT_INFO, ((port & 0xffff) | (size << 16) | ((out ? 1 : 0) << 24)) as u64);
  exitAtInsn(EXIT_IO);
}

// ---- interrupt flag ----
export function cli(): void {
  const iopl = ((getFlags() >> 12) & 3) as i32;
  if (mode != MODE_REAL && cpl() > iopl) { raise(EX_GP, 0); return; }
  setFlags(getFlags() & ~F_IF);
}
export function sti(): void {
  const iopl = ((getFlags() >> 12) & 3) as i32;
  if (mode != MODE_REAL && cpl() > iopl) { raise(EX_GP, 0); return; }
  setFlags(getFlags() | F_IF);
}

export function clts(): void {
  if (!priv()) return;
  store<u64>(CPU_STATE + CPU_CR0, load<u64>(CPU_STATE + CPU_CR0) & ~CR0_TS);
}

export function invlpg(lin: u64): void {
  if (!priv()) return;
  tlbFlushPage(lin);
}

export function wbinvd(): void { priv(); }

export function swapgs(): void {
  if (!is64) { raiseUD(); return; }
  if (!priv()) return;
  const k = load<u64>(CPU_STATE + CPU_MSR_KGSBASE);
  store<u64>(CPU_STATE + CPU_MSR_KGSBASE, segBase(SEG_GS));
  setSeg(SEG_GS, segSel(SEG_GS), k, segLimit(SEG_GS), segAttr(SEG_GS));
}

// An x87/MMX/SSE instruction that is not implemented (SSE3 and later): the availability checks of
// CR0/CR4 decide between #NM and #UD, and an instruction that would run raises #UD.
export function fpuUnavailable(sse: bool): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if (sse) {
    if ((c0 & CR0_EM) != 0 || (load<u64>(CPU_STATE + CPU_CR4) & CR4_OSFXSR) == 0) { raiseUD(); return; }
    if ((c0 & CR0_TS) != 0) { raiseNM(); return; }
    raiseUD();
    return;
  }
  if ((c0 & (CR0_EM | CR0_TS)) != 0) { raiseNM(); return; }
  raiseUD();
}
