// The typed DOMAIN and VCPU save records (layouts: ../saverec.ts; docs/SAVE-RESTORE.md): written from
// the core's state field by field, and checked field by field before a restore takes them (a record
// from a hostile stream is refused with an SRE_* code, never trusted, never a trap). The restore's
// translation of machine addresses and the loading of the checked fields are in ./save.ts.
import {
  CPU_REGS, CPU_RIP, CPU_RFLAGS, CPU_SEG, SEG_SIZE, SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, CPU_CR0, CPU_CR2,
  CPU_CR4,
  CPU_EFER, CPU_DR, CPU_DR7_EMUL, CPU_MSR_STAR, CPU_MSR_LSTAR, CPU_MSR_CSTAR, CPU_MSR_SFMASK, CPU_MSR_KGSBASE,
  CPU_MSR_SYSENTER_CS, CPU_MSR_SYSENTER_ESP, CPU_MSR_SYSENTER_EIP, CPU_TSC_OFFSET, CPU_MSR_PAT, CPU_MSR_MISC_ENABLE,
  CPU_MSR_TSC_AUX, CPU_MSR_SPEC_CTRL, CPU_GDT_ENTRIES, CPU_GDT_FRAMES, CPU_FXSAVE, CPU_SAVE_SIZE, EVTCHN_PORTS, CPU_DR6,
  CPU_DR7,
} from "../memmap";
import {
  domU32, domU64, vcpu, D_WIDTH, D_NR_VCPUS, D_VCPU0, D_MAX_PAGES, D_TOT_PAGES, D_SHUTDOWN_REASON, D_SHUTDOWN_CODE,
  D_VM_ASSIST, D_SHARED_INFO, D_START_INFO, D_CONSOLE_MFN, D_CONSOLE_EVTCHN, D_STORE_MFN, D_STORE_EVTCHN, D_GNT_VERSION,
  D_GNT_FRAMES, D_GNT_FRAME0, D_GNT_NSTATUS, D_GNT_STATUS0, GNT_MAX_STATUS, D_EVTCHN_FIFO, D_FIFO_ARRAY, D_WEIGHT,
  D_CAP,
  D_CPU_NS, SHUTDOWN_suspend, V_FLAGS, VF_ONLINE, VF_BLOCKED, VF_KERNEL, VF_IN_FAILSAFE, VF_INITIALISED, V_IOPL,
  V_GS_KERNEL, V_CR3_KERNEL, V_CR3_USER, V_GUEST_CR4, V_KERNEL_SS, V_KERNEL_SP, V_CB_EVENT, V_CB_FAILSAFE, V_CB_SYSCALL,
  V_CB_SYSCALL32, V_CB_SYSENTER, V_CB_NMI, V_CB_FLAGS, V_CB_EVENT_CS, V_CB_FAILSAFE_CS, V_CB_SYSENTER_CS, V_LDT_ENTS,
  V_LDT_BASE, V_RS_STATE, V_VCPU_INFO, V_RUNSTATE_VA, V_TIMER, V_PERIOD, V_PERIOD_NEXT, V_RS_ENTRY, V_RS_TIME, V_TRAPS,
} from "../domain/domain";
import * as S from "../saverec";
import { hostTimeNs } from "../env";
import { domNow } from "./clock";
import { debugregsValid } from "./debugreg";

// ---- writing ----

// The DOMAIN record of `d` at `out` (SD_SIZE bytes).
export function writeDomainRecord(d: u32, out: i32): void {
  memory.fill(out, 0, S.SD_SIZE);
  store<u32>(out + S.SD_VERSION, S.SAVE_DOMAIN_VERSION);
  store<u32>(out + S.SD_SIZE_FIELD, S.SD_SIZE);
  store<u32>(out + S.SD_WIDTH, domU32(d, D_WIDTH));
  store<u32>(out + S.SD_NR_VCPUS, domU32(d, D_NR_VCPUS));
  store<u32>(out + S.SD_MAX_PAGES, domU32(d, D_MAX_PAGES));
  store<u32>(out + S.SD_TOT_PAGES, domU32(d, D_TOT_PAGES));
  store<u32>(out + S.SD_SHUTDOWN_REASON, domU32(d, D_SHUTDOWN_REASON));
  store<u32>(out + S.SD_SHUTDOWN_CODE, domU32(d, D_SHUTDOWN_CODE));
  store<u32>(out + S.SD_VM_ASSIST, domU32(d, D_VM_ASSIST));
  store<u32>(out + S.SD_SHARED_INFO, domU32(d, D_SHARED_INFO));
  store<u32>(out + S.SD_START_INFO, domU32(d, D_START_INFO));
  store<u32>(out + S.SD_CONSOLE_MA, domU32(d, D_CONSOLE_MFN));
  store<u32>(out + S.SD_CONSOLE_PORT, domU32(d, D_CONSOLE_EVTCHN));
  store<u32>(out + S.SD_STORE_MA, domU32(d, D_STORE_MFN));
  store<u32>(out + S.SD_STORE_PORT, domU32(d, D_STORE_EVTCHN));
  store<u32>(out + S.SD_GNT_VERSION, domU32(d, D_GNT_VERSION));
  const ng = domU32(d, D_GNT_FRAMES);
  store<u32>(out + S.SD_GNT_NR_FRAMES, ng);
  for (let k: u32 = 0; k < ng && k < (S.SD_GNT_MAX_FRAMES as u32); k++)
    store<u32>(out + S.SD_GNT_FRAMES + ((k as i32) << 2), domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)));
  const ns = domU32(d, D_GNT_NSTATUS);
  store<u32>(out + S.SD_GNT_NR_STATUS, ns);
  for (let k: u32 = 0; k < ns && k < (GNT_MAX_STATUS as u32); k++)
    store<u32>(out + S.SD_GNT_STATUS + ((k as i32) << 2), domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)));
  store<u32>(out + S.SD_EVTCHN_ABI, domU32(d, D_EVTCHN_FIFO) != 0 ? S.SD_EVTCHN_FIFO : S.SD_EVTCHN_2LEVEL);
  store<u32>(out + S.SD_FIFO_ARRAY, domU32(d, D_FIFO_ARRAY));
  store<u32>(out + S.SD_WEIGHT, domU32(d, D_WEIGHT));
  store<u32>(out + S.SD_CAP, domU32(d, D_CAP));
  store<u64>(out + S.SD_SYSTEM_TIME, domNow(d));
  store<u64>(out + S.SD_CPU_TIME, domU64(d, D_CPU_NS));
}

@inline function seg(v: i32, s: i32): i32 { return v + CPU_SEG + s * SEG_SIZE; }

// The VCPU record of vCPU `k` of `d` at `out` (SV_SIZE bytes). The loaded vCPU's state block must have
// been saved into its record first (saveSync).
export function writeVcpuRecord(d: u32, k: u32, out: i32): void {
  const v = vcpu(domU32(d, D_VCPU0) + k);
  const is64 = domU32(d, D_WIDTH) == 64;
  memory.fill(out, 0, S.SV_SIZE);
  store<u32>(out + S.SV_VERSION, S.SAVE_VCPU_VERSION);
  store<u32>(out + S.SV_SIZE_FIELD, S.SV_SIZE);
  store<u32>(out + S.SV_VCPU_ID, k);
  const vf = load<u32>(v + V_FLAGS);
  let f: u32 = 0;
  if ((vf & VF_ONLINE) != 0) f |= S.SVF_ONLINE;
  if ((vf & VF_BLOCKED) != 0) f |= S.SVF_BLOCKED;
  if (is64 && (vf & VF_KERNEL) != 0) f |= S.SVF_IN_KERNEL;
  if ((vf & VF_IN_FAILSAFE) != 0) f |= S.SVF_IN_FAILSAFE;
  if ((vf & VF_INITIALISED) != 0) f |= S.SVF_INITIALISED;
  store<u32>(out + S.SV_FLAGS, f);
  if ((f & S.SVF_INITIALISED) == 0) return; // no context: the rest stays 0
  for (let i = 0; i < 16; i++) store<u64>(out + S.SV_GPR + i * 8, load<u64>(v + CPU_REGS + i * 8));
  store<u64>(out + S.SV_RIP, load<u64>(v + CPU_RIP));
  store<u64>(out + S.SV_RFLAGS, load<u64>(v + CPU_RFLAGS));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_ES, load<u16>(seg(v, SEG_ES)));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_CS, load<u16>(seg(v, SEG_CS)));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_SS, load<u16>(seg(v, SEG_SS)));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_DS, load<u16>(seg(v, SEG_DS)));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_FS, load<u16>(seg(v, SEG_FS)));
  store<u16>(out + S.SV_SEL + 2 * S.SVS_GS, load<u16>(seg(v, SEG_GS)));
  store<u32>(out + S.SV_IOPL, load<u32>(v + V_IOPL));
  if (is64) {
    // The GS base not loaded is kept aside (V_GS_KERNEL); the record names the kernel's and the user's.
    const inKernel = (vf & VF_KERNEL) != 0;
    const gsNow = load<u64>(seg(v, SEG_GS) + 8), gsOther = load<u64>(v + V_GS_KERNEL);
    store<u64>(out + S.SV_FS_BASE, load<u64>(seg(v, SEG_FS) + 8));
    store<u64>(out + S.SV_GS_BASE_KERNEL, inKernel ? gsNow : gsOther);
    store<u64>(out + S.SV_GS_BASE_USER, inKernel ? gsOther : gsNow);
  }
  store<u64>(out + S.SV_CR0, load<u64>(v + CPU_CR0));
  store<u64>(out + S.SV_CR2, load<u64>(v + CPU_CR2));
  store<u64>(out + S.SV_CR3_KERNEL, load<u64>(v + V_CR3_KERNEL));
  store<u64>(out + S.SV_CR3_USER, load<u64>(v + V_CR3_USER));
  store<u64>(out + S.SV_CR4, load<u64>(v + CPU_CR4));
  store<u64>(out + S.SV_GUEST_CR4, load<u64>(v + V_GUEST_CR4));
  store<u64>(out + S.SV_EFER, load<u64>(v + CPU_EFER));
  for (let i = 0; i < 4; i++) store<u64>(out + S.SV_DR + i * 8, load<u64>(v + CPU_DR + i * 8));
  store<u64>(out + S.SV_DR6, load<u64>(v + CPU_DR6));
  store<u64>(out + S.SV_DR7, load<u64>(v + CPU_DR7));
  store<u64>(out + S.SV_DR7_EMUL, load<u64>(v + CPU_DR7_EMUL));
  store<u64>(out + S.SV_MSR_STAR, load<u64>(v + CPU_MSR_STAR));
  store<u64>(out + S.SV_MSR_LSTAR, load<u64>(v + CPU_MSR_LSTAR));
  store<u64>(out + S.SV_MSR_CSTAR, load<u64>(v + CPU_MSR_CSTAR));
  store<u64>(out + S.SV_MSR_SFMASK, load<u64>(v + CPU_MSR_SFMASK));
  store<u64>(out + S.SV_MSR_KERNEL_GS_BASE, load<u64>(v + CPU_MSR_KGSBASE));
  store<u64>(out + S.SV_MSR_SYSENTER_CS, load<u64>(v + CPU_MSR_SYSENTER_CS));
  store<u64>(out + S.SV_MSR_SYSENTER_ESP, load<u64>(v + CPU_MSR_SYSENTER_ESP));
  store<u64>(out + S.SV_MSR_SYSENTER_EIP, load<u64>(v + CPU_MSR_SYSENTER_EIP));
  store<u64>(out + S.SV_MSR_PAT, load<u64>(v + CPU_MSR_PAT));
  store<u64>(out + S.SV_MSR_MISC_ENABLE, load<u64>(v + CPU_MSR_MISC_ENABLE));
  store<u64>(out + S.SV_MSR_TSC_AUX, load<u64>(v + CPU_MSR_TSC_AUX));
  store<u64>(out + S.SV_MSR_SPEC_CTRL, load<u64>(v + CPU_MSR_SPEC_CTRL));
  store<u64>(out + S.SV_TSC, (hostTimeNs() as u64) + load<u64>(v + CPU_TSC_OFFSET)); // as RDTSC reads it
  store<u64>(out + S.SV_KERNEL_SS, load<u64>(v + V_KERNEL_SS));
  store<u64>(out + S.SV_KERNEL_SP, load<u64>(v + V_KERNEL_SP));
  store<u64>(out + S.SV_CB_EVENT, load<u64>(v + V_CB_EVENT));
  store<u64>(out + S.SV_CB_FAILSAFE, load<u64>(v + V_CB_FAILSAFE));
  store<u64>(out + S.SV_CB_SYSCALL, load<u64>(v + V_CB_SYSCALL));
  store<u64>(out + S.SV_CB_SYSCALL32, load<u64>(v + V_CB_SYSCALL32));
  store<u64>(out + S.SV_CB_SYSENTER, load<u64>(v + V_CB_SYSENTER));
  store<u64>(out + S.SV_CB_NMI, load<u64>(v + V_CB_NMI));
  store<u32>(out + S.SV_CB_FLAGS, load<u32>(v + V_CB_FLAGS));
  store<u16>(out + S.SV_CB_EVENT_CS, load<u16>(v + V_CB_EVENT_CS));
  store<u16>(out + S.SV_CB_FAILSAFE_CS, load<u16>(v + V_CB_FAILSAFE_CS));
  store<u16>(out + S.SV_CB_SYSENTER_CS, load<u16>(v + V_CB_SYSENTER_CS));
  store<u32>(out + S.SV_LDT_ENTS, load<u32>(v + V_LDT_ENTS));
  store<u64>(out + S.SV_LDT_BASE, load<u64>(v + V_LDT_BASE));
  const ge = load<i32>(v + CPU_GDT_ENTRIES);
  store<u32>(out + S.SV_GDT_ENTS, ge as u32);
  for (let g = 0; g < ((ge + 511) >> 9) && g < S.SV_GDT_MAX_FRAMES; g++)
    store<u32>(out + S.SV_GDT_FRAMES + g * 4, load<u32>(v + CPU_GDT_FRAMES + g * 4));
  store<u32>(out + S.SV_RUNSTATE, load<u32>(v + V_RS_STATE));
  store<u64>(out + S.SV_VCPU_INFO, load<u64>(v + V_VCPU_INFO));
  store<u64>(out + S.SV_RUNSTATE_AREA, load<u64>(v + V_RUNSTATE_VA));
  store<u64>(out + S.SV_TIMER, load<u64>(v + V_TIMER));
  store<u64>(out + S.SV_PERIOD, load<u64>(v + V_PERIOD));
  store<u64>(out + S.SV_PERIOD_NEXT, load<u64>(v + V_PERIOD_NEXT));
  store<u64>(out + S.SV_RUNSTATE_ENTRY, load<u64>(v + V_RS_ENTRY));
  for (let i = 0; i < 4; i++) store<u64>(out + S.SV_RUNSTATE_TIME + i * 8, load<u64>(v + V_RS_TIME + i * 8));
  memory.copy(out + S.SV_FXSAVE, v + CPU_FXSAVE, 512);
  for (let i = 0; i < 256; i++) {
    const t = v + V_TRAPS + (i << 4), o = out + S.SV_TRAPS + i * S.SV_TRAP_SIZE;
    store<u64>(o, load<u64>(t)); // address
    store<u16>(o + 8, load<u16>(t + 8)); // code selector
    store<u8>(o + 10, load<u8>(t + 10)); // flags (DPL, events masked)
  }
}

// ---- checking ----

@inline function canonical(a: u64): bool { return ((((a << 16) as i64) >> 16) as u64) == a; }
// A guest virtual address of the guest's width.
@inline function vaOk(a: u64, is64: bool): bool { return is64 ? canonical(a) : (a >> 32) == 0; }
// A machine address held in a u32 field: page aligned, not 0.
@inline function frameOk(a: u32): bool { return a != 0 && (a & 0xfff) == 0; }

// The DOMAIN record at `r` for a domain of `width` bits with `nv` vCPUs (the VCPU records that came
// with it) and at most `maxPages` pages: 0, or an SRE_* code.
export function checkDomainRecord(r: i32, width: u32, nv: u32, maxPages: u32): i32 {
  if (load<u32>(r + S.SD_VERSION) != S.SAVE_DOMAIN_VERSION) return S.SRE_DOMAIN_VERSION;
  if (load<u32>(r + S.SD_SIZE_FIELD) != S.SD_SIZE) return S.SRE_DOMAIN_SIZE;
  const w = load<u32>(r + S.SD_WIDTH);
  if ((w != 32 && w != 64) || w != width) return S.SRE_WIDTH;
  const n = load<u32>(r + S.SD_NR_VCPUS);
  if (n == 0 || n != nv) return S.SRE_NR_VCPUS;
  const mp = load<u32>(r + S.SD_MAX_PAGES);
  if (mp == 0 || mp > maxPages || load<u32>(r + S.SD_TOT_PAGES) > mp) return S.SRE_MAX_PAGES;
  if (load<u32>(r + S.SD_SHUTDOWN_REASON) != SHUTDOWN_suspend) return S.SRE_SHUTDOWN;
  if ((load<u32>(r + S.SD_VM_ASSIST) & ~(0x3f as u32)) != 0) return S.SRE_VM_ASSIST;
  if (!frameOk(load<u32>(r + S.SD_SHARED_INFO)) || !frameOk(load<u32>(r + S.SD_START_INFO))) return S.SRE_FRAME_ADDR;
  const cm = load<u32>(r + S.SD_CONSOLE_MA), sm = load<u32>(r + S.SD_STORE_MA);
  if ((cm & 0xfff) != 0 || (sm & 0xfff) != 0) return S.SRE_FRAME_ADDR;
  if (
    load<u32>(r + S.SD_CONSOLE_PORT) >= (EVTCHN_PORTS as u32) || load<u32>(r + S.SD_STORE_PORT) >= (EVTCHN_PORTS as u32)
  ) return S.SRE_PORT;
  const gv = load<u32>(r + S.SD_GNT_VERSION), ng = load<u32>(r + S.SD_GNT_NR_FRAMES),
    ns = load<u32>(r + S.SD_GNT_NR_STATUS);
  if (gv > 2 || ng > (S.SD_GNT_MAX_FRAMES as u32) || ns > (S.SD_GNT_MAX_STATUS as u32) || (ns != 0 && gv != 2))
    return S.SRE_GRANT;
  for (let k: u32 = 0; k < (S.SD_GNT_MAX_FRAMES as u32); k++) {
    const a = load<u32>(r + S.SD_GNT_FRAMES + ((k as i32) << 2));
    if (k < ng ? !frameOk(a) : a != 0) return S.SRE_GRANT;
  }
  for (let k: u32 = 0; k < (S.SD_GNT_MAX_STATUS as u32); k++) {
    const a = load<u32>(r + S.SD_GNT_STATUS + ((k as i32) << 2));
    if (k < ns ? !frameOk(a) : a != 0) return S.SRE_GRANT;
  }
  const abi = load<u32>(r + S.SD_EVTCHN_ABI);
  if (abi != S.SD_EVTCHN_2LEVEL && abi != S.SD_EVTCHN_FIFO) return S.SRE_EVTCHN_ABI;
  if ((load<u32>(r + S.SD_FIFO_ARRAY) & 0xfff) != 0) return S.SRE_EVTCHN_ABI;
  const wt = load<u32>(r + S.SD_WEIGHT);
  if (wt < 1 || wt > 65535) return S.SRE_SCHED;
  return 0;
}

const DR_SCRATCH: i32 = memory.data(CPU_SAVE_SIZE, 16) as i32;
const RFLAGS_OK: u64 = 0x244fd7; // CF 1 PF AF ZF SF TF IF DF OF; AC ID (IOPL is virtual: SV_IOPL)
const CR0_PV: u64 = 0x80050033; // PG AM WP NE ET MP PE: the guest owns TS (8) only
const CR4_OK: u64 = 0x507ff; // VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT FSGSBASE OSXSAVE
const EFER_OK: u64 = 0xd01; // SCE LME LMA NXE

// A selector of a vCPU record: its descriptor must be one the guest's GDT (`ge` entries, or the
// hypervisor's reserved entries 0xe000 .. 0xefff) or LDT (`le` entries) can hold.
function selOk(sel: u32, ge: u32, le: u32): bool {
  const idx = sel >> 3;
  if ((sel & 4) != 0) return idx < le;
  return idx < ge || (idx >= 0x1c00 && idx < 0x1e00);
}

// The VCPU record at `r` for vCPU `k` of a domain of the width `is64` says: 0, or an SRE_* code.
export function checkVcpuRecord(r: i32, k: u32, is64: bool): i32 {
  if (load<u32>(r + S.SV_VERSION) != S.SAVE_VCPU_VERSION) return S.SRE_VCPU_VERSION;
  if (load<u32>(r + S.SV_SIZE_FIELD) != S.SV_SIZE) return S.SRE_VCPU_SIZE;
  if (load<u32>(r + S.SV_VCPU_ID) != k) return S.SRE_VCPU_ID;
  const f = load<u32>(r + S.SV_FLAGS);
  if ((f & ~(S.SVF_ALL as u32)) != 0) return S.SRE_VCPU_FLAGS;
  if ((f & S.SVF_INITIALISED) == 0) {
    // No context (a secondary vCPU never brought up): nothing else may be set.
    if (f != 0 || k == 0) return S.SRE_VCPU_FLAGS;
    for (let o = S.SV_GPR; o < S.SV_SIZE; o += 4) if (load<u32>(r + o) != 0) return S.SRE_VCPU_FLAGS;
    return 0;
  }
  const inKernel = !is64 || (f & S.SVF_IN_KERNEL) != 0;
  if (!is64 && (f & S.SVF_IN_KERNEL) != 0) return S.SRE_VCPU_FLAGS;
  // Registers.
  if (!vaOk(load<u64>(r + S.SV_RIP), is64)) return S.SRE_RIP;
  const rfl = load<u64>(r + S.SV_RFLAGS);
  if ((rfl & ~RFLAGS_OK) != 0 || (rfl & 2) == 0) return S.SRE_RFLAGS;
  if (load<u32>(r + S.SV_IOPL) > 3) return S.SRE_IOPL;
  // Descriptor tables (the selectors are checked against them).
  const le = load<u32>(r + S.SV_LDT_ENTS), lb = load<u64>(r + S.SV_LDT_BASE);
  if (
    le > 8192 || (lb & 0xfff) != 0 || !vaOk(lb, is64) || (is64 && lb >= 0xffff800000000000 && lb < 0xffff880000000000)
  ) return S.SRE_LDT;
  if (!is64 && lb + (le as u64) * 8 > 0x100000000) return S.SRE_LDT;
  const ge = load<u32>(r + S.SV_GDT_ENTS);
  if (ge > (S.SV_GDT_MAX_FRAMES as u32) * 512) return S.SRE_GDT;
  const nf = ((ge + 511) >> 9) as i32;
  for (let g = 0; g < S.SV_GDT_MAX_FRAMES; g++) {
    const a = load<u32>(r + S.SV_GDT_FRAMES + g * 4);
    if (g < nf ? !frameOk(a) : a != 0) return S.SRE_GDT;
  }
  // Selectors: code and stack at the guest's rings (64-bit: 3; 32-bit: 1 kernel, 3 user), alike, never
  // null; every selector within the tables.
  const cs = load<u16>(r + S.SV_SEL + 2 * S.SVS_CS) as u32, ss = load<u16>(r + S.SV_SEL + 2 * S.SVS_SS) as u32;
  const ring = cs & 3;
  if ((cs & 0xfffc) == 0 || (ss & 0xfffc) == 0 || (ss & 3) != ring || (is64 ? ring != 3 : ring != 1 && ring != 3))
    return S.SRE_SELECTOR;
  for (let s = 0; s < 6; s++) {
    const sel = load<u16>(r + S.SV_SEL + 2 * s) as u32;
    if ((sel & 0xfffc) != 0 && !selOk(sel, ge, le)) return S.SRE_SELECTOR;
  }
  if (
    !is64 && (load<u64>(r + S.SV_FS_BASE) | load<u64>(r + S.SV_GS_BASE_KERNEL) | load<u64>(r + S.SV_GS_BASE_USER)) != 0
  ) return S.SRE_ADDRESS;
  if (
    is64 && (
      !canonical(load<u64>(r + S.SV_FS_BASE)) || !canonical(load<u64>(r + S.SV_GS_BASE_KERNEL))
        || !canonical(load<u64>(r + S.SV_GS_BASE_USER))
    )
  ) return S.SRE_ADDRESS;
  // Control registers, EFER.
  if ((load<u64>(r + S.SV_CR0) & ~(8 as u64)) != CR0_PV) return S.SRE_CR0;
  if (!vaOk(load<u64>(r + S.SV_CR2), is64)) return S.SRE_ADDRESS;
  const c4 = load<u64>(r + S.SV_CR4);
  if ((c4 & ~CR4_OK) != 0 || (c4 & 0x20) == 0) return S.SRE_CR4;
  const efer = load<u64>(r + S.SV_EFER);
  if ((efer & ~EFER_OK) != 0 || (is64 ? (efer & 0x500) != 0x500 : (efer & 0x500) != 0)) return S.SRE_EFER;
  const c3 = load<u64>(r + S.SV_CR3_KERNEL), c3u = load<u64>(r + S.SV_CR3_USER);
  if (c3 == 0 || (c3 & 0xfff) != 0 || (c3 >> 32) != 0 || (c3u & 0xfff) != 0 || (c3u >> 32) != 0) return S.SRE_CR3;
  if (!is64 && c3u != 0) return S.SRE_CR3;
  if (!inKernel && c3u == 0) return S.SRE_CR3;
  // Debug registers: Xen's checks (hv/debugreg.ts), on a copy in a state block's layout.
  memory.fill(DR_SCRATCH, 0, CPU_SAVE_SIZE);
  for (let i = 0; i < 4; i++) store<u64>(DR_SCRATCH + CPU_DR + i * 8, load<u64>(r + S.SV_DR + i * 8));
  store<u64>(DR_SCRATCH + CPU_DR6, load<u64>(r + S.SV_DR6));
  store<u64>(DR_SCRATCH + CPU_DR7, load<u64>(r + S.SV_DR7));
  store<u64>(DR_SCRATCH + CPU_DR7_EMUL, load<u64>(r + S.SV_DR7_EMUL));
  if (!debugregsValid(DR_SCRATCH, is64)) return S.SRE_DEBUGREG;
  // MSRs, as WRMSR would take them.
  if (!canonical(load<u64>(r + S.SV_MSR_LSTAR)) || !canonical(load<u64>(r + S.SV_MSR_CSTAR)) ||
    !canonical(load<u64>(r + S.SV_MSR_KERNEL_GS_BASE)) || !canonical(load<u64>(r + S.SV_MSR_SYSENTER_ESP)) ||
    !canonical(load<u64>(r + S.SV_MSR_SYSENTER_EIP)) || (load<u64>(r + S.SV_MSR_SFMASK) >> 32) != 0 ||
    (load<u64>(r + S.SV_MSR_SYSENTER_CS) >> 16) != 0 || (load<u64>(r + S.SV_MSR_TSC_AUX) >> 32) != 0 ||
    (load<u64>(r + S.SV_MSR_SPEC_CTRL) & ~(((1 << 0) | (1 << 10)) as u64)) != 0) return S.SRE_MSR;
  const pat = load<u64>(r + S.SV_MSR_PAT);
  for (let i = 0; i < 8; i++) {
    const t = (pat >> ((i * 8) as u64)) & 0xff; if (t == 2 || t == 3 || t > 7) return S.SRE_MSR;
  }
  // Kernel stack, callbacks, the trap table: addresses of the guest's width.
  if ((load<u64>(r + S.SV_KERNEL_SS) >> 16) != 0 || !vaOk(load<u64>(r + S.SV_KERNEL_SP), is64)) return S.SRE_CALLBACK;
  for (let o = S.SV_CB_EVENT; o <= S.SV_CB_NMI; o += 8) if (!vaOk(load<u64>(r + o), is64)) return S.SRE_CALLBACK;
  if ((load<u32>(r + S.SV_CB_FLAGS) >> 8) != 0 || load<u16>(r + S.SV_CB_SYSENTER_CS + 2) != 0) return S.SRE_CALLBACK;
  for (let i = 0; i < 256; i++) {
    const o = r + S.SV_TRAPS + i * S.SV_TRAP_SIZE;
    if (!vaOk(load<u64>(o), is64) || load<u8>(o + 11) != 0 || load<u32>(o + 12) != 0) return S.SRE_TRAP;
  }
  // Event, timer and runstate state.
  const vi = load<u64>(r + S.SV_VCPU_INFO);
  if (vi == 0 || (vi >> 32) != 0 || (vi & 0xfff) > 4096 - 64) return S.SRE_ADDRESS;
  if (!vaOk(load<u64>(r + S.SV_RUNSTATE_AREA), is64)) return S.SRE_ADDRESS;
  if (load<u32>(r + S.SV_RUNSTATE) > 3) return S.SRE_RUNSTATE;
  // x87/SSE: MXCSR's reserved bits clear (FXRSTOR would fault).
  if ((load<u32>(r + S.SV_FXSAVE + 24) >> 16) != 0) return S.SRE_FXSAVE;
  return 0;
}

export { S };
