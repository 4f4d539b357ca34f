// The typed DOMAIN and VCPU save records on the host's side: their fields named (the offsets come from
// assembly/saverec.ts, which the core's writer and checker use too), read and written one by one, and
// the core's refusal codes as messages. The core writes the records (hv_save_domain_record,
// hv_save_vcpu_record) and checks them (hv_restore_check, hv_restore_fixup); the host checks their
// length and version first, and reads the fields it shows or needs.
import * as S from "../../assembly/saverec";

export { S as SAVE_RECORD };

export interface DomainRecord {
  version: number; width: number; nrVcpus: number; maxPages: number; totPages: number;
  shutdownReason: number; shutdownCode: number; vmAssist: number;
  sharedInfo: number; startInfo: number; consoleMa: number; consolePort: number; storeMa: number; storePort: number;
  gntVersion: number; gntFrames: number[]; gntStatus: number[];
  evtchnAbi: number; fifoArray: number; weight: number; cap: number; systemTime: bigint; cpuTime: bigint;
}

export interface TrapEntry { address: bigint; cs: number; flags: number }
export interface VcpuRecord {
  version: number; id: number; flags: number;
  gpr: bigint[]; rip: bigint; rflags: bigint;
  es: number; cs: number; ss: number; ds: number; fs: number; gs: number; iopl: number;
  fsBase: bigint; gsBaseKernel: bigint; gsBaseUser: bigint;
  cr0: bigint; cr2: bigint; cr3Kernel: bigint; cr3User: bigint; cr4: bigint; guestCr4: bigint; efer: bigint;
  dr: bigint[]; dr6: bigint; dr7: bigint; dr7Emul: bigint;
  msrStar: bigint; msrLstar: bigint; msrCstar: bigint; msrSfmask: bigint; msrKernelGsBase: bigint;
  msrSysenterCs: bigint; msrSysenterEsp: bigint; msrSysenterEip: bigint; msrPat: bigint; msrMiscEnable: bigint;
  msrTscAux: bigint; msrSpecCtrl: bigint; tsc: bigint;
  kernelSs: bigint; kernelSp: bigint;
  cbEvent: bigint; cbFailsafe: bigint; cbSyscall: bigint; cbSyscall32: bigint; cbSysenter: bigint; cbNmi: bigint;
  cbFlags: number; cbEventCs: number; cbFailsafeCs: number; cbSysenterCs: number;
  ldtEnts: number; ldtBase: bigint; gdtEnts: number; gdtFrames: number[];
  runstate: number; vcpuInfo: bigint; runstateArea: bigint; timer: bigint; period: bigint; periodNext: bigint;
  runstateEntry: bigint; runstateTime: bigint[];
  fxsave: Uint8Array; traps: TrapEntry[];
}

export class RecordError extends Error {}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The length and version of a DOMAIN record (the core checks every field). */
export function checkDomainShape(b: Uint8Array): void {
  if (b.length !== S.SD_SIZE)
    throw new RecordError(`bad DOMAIN record (${b.length} bytes, version ${S.SAVE_DOMAIN_VERSION} has ${S.SD_SIZE})`);
  const v = view(b).getUint32(S.SD_VERSION, true);
  if (v !== S.SAVE_DOMAIN_VERSION)
    throw new RecordError(`DOMAIN record version ${v} is not supported (this xenwasm reads ${S.SAVE_DOMAIN_VERSION})`);
}

/** The length and version of a VCPU record. */
export function checkVcpuShape(b: Uint8Array, k: number): void {
  if (b.length !== S.SV_SIZE)
    throw new RecordError(`bad VCPU record ${k} (${b.length} bytes, version ${S.SAVE_VCPU_VERSION} has ${S.SV_SIZE})`);
  const v = view(b).getUint32(S.SV_VERSION, true);
  if (v !== S.SAVE_VCPU_VERSION) throw new RecordError(
    `VCPU record ${k}: version ${v} is not supported (this xenwasm reads ${S.SAVE_VCPU_VERSION})`
  );
}

export function decodeDomain(b: Uint8Array): DomainRecord {
  checkDomainShape(b);
  const d = view(b);
  const u = (o: number) => d.getUint32(o, true);
  const ng = Math.min(u(S.SD_GNT_NR_FRAMES), S.SD_GNT_MAX_FRAMES),
    ns = Math.min(u(S.SD_GNT_NR_STATUS), S.SD_GNT_MAX_STATUS);
  return {
    version: u(S.SD_VERSION), width: u(S.SD_WIDTH), nrVcpus: u(S.SD_NR_VCPUS), maxPages: u(S.SD_MAX_PAGES),
    totPages: u(S.SD_TOT_PAGES),
    shutdownReason: u(S.SD_SHUTDOWN_REASON), shutdownCode: u(S.SD_SHUTDOWN_CODE), vmAssist: u(S.SD_VM_ASSIST),
    sharedInfo: u(S.SD_SHARED_INFO), startInfo: u(S.SD_START_INFO), consoleMa: u(S.SD_CONSOLE_MA),
    consolePort: u(S.SD_CONSOLE_PORT),
    storeMa: u(S.SD_STORE_MA), storePort: u(S.SD_STORE_PORT), gntVersion: u(S.SD_GNT_VERSION),
    gntFrames: Array.from({ length: ng }, (_, k) => u(S.SD_GNT_FRAMES + 4 * k)),
    gntStatus: Array.from({ length: ns }, (_, k) => u(S.SD_GNT_STATUS + 4 * k)),
    evtchnAbi: u(S.SD_EVTCHN_ABI), fifoArray: u(S.SD_FIFO_ARRAY), weight: u(S.SD_WEIGHT), cap: u(S.SD_CAP),
    systemTime: d.getBigUint64(S.SD_SYSTEM_TIME, true), cpuTime: d.getBigUint64(S.SD_CPU_TIME, true),
  };
}

export function encodeDomain(r: DomainRecord): Uint8Array {
  const b = new Uint8Array(S.SD_SIZE), d = view(b);
  const u = (o: number, x: number) => d.setUint32(o, x, true);
  u(S.SD_VERSION, r.version); u(S.SD_SIZE_FIELD, S.SD_SIZE); u(S.SD_WIDTH, r.width); u(S.SD_NR_VCPUS, r.nrVcpus);
  u(S.SD_MAX_PAGES, r.maxPages); u(S.SD_TOT_PAGES, r.totPages); u(S.SD_SHUTDOWN_REASON, r.shutdownReason);
  u(S.SD_SHUTDOWN_CODE, r.shutdownCode); u(S.SD_VM_ASSIST, r.vmAssist); u(S.SD_SHARED_INFO, r.sharedInfo);
  u(S.SD_START_INFO, r.startInfo); u(S.SD_CONSOLE_MA, r.consoleMa); u(S.SD_CONSOLE_PORT, r.consolePort);
  u(S.SD_STORE_MA, r.storeMa); u(S.SD_STORE_PORT, r.storePort); u(S.SD_GNT_VERSION, r.gntVersion);
  u(S.SD_GNT_NR_FRAMES, r.gntFrames.length); r.gntFrames.forEach((a, k) => u(S.SD_GNT_FRAMES + 4 * k, a));
  u(S.SD_GNT_NR_STATUS, r.gntStatus.length); r.gntStatus.forEach((a, k) => u(S.SD_GNT_STATUS + 4 * k, a));
  u(S.SD_EVTCHN_ABI, r.evtchnAbi); u(S.SD_FIFO_ARRAY, r.fifoArray); u(S.SD_WEIGHT, r.weight); u(S.SD_CAP, r.cap);
  d.setBigUint64(S.SD_SYSTEM_TIME, r.systemTime, true); d.setBigUint64(S.SD_CPU_TIME, r.cpuTime, true);
  return b;
}

// The VCPU record's u64 fields other than the arrays, by name and offset.
const V64 = {
  rip: S.SV_RIP, rflags: S.SV_RFLAGS, fsBase: S.SV_FS_BASE, gsBaseKernel: S.SV_GS_BASE_KERNEL,
  gsBaseUser: S.SV_GS_BASE_USER,
  cr0: S.SV_CR0, cr2: S.SV_CR2, cr3Kernel: S.SV_CR3_KERNEL, cr3User: S.SV_CR3_USER, cr4: S.SV_CR4,
  guestCr4: S.SV_GUEST_CR4,
  efer: S.SV_EFER, dr6: S.SV_DR6, dr7: S.SV_DR7, dr7Emul: S.SV_DR7_EMUL, msrStar: S.SV_MSR_STAR,
  msrLstar: S.SV_MSR_LSTAR,
  msrCstar: S.SV_MSR_CSTAR, msrSfmask: S.SV_MSR_SFMASK, msrKernelGsBase: S.SV_MSR_KERNEL_GS_BASE,
  msrSysenterCs: S.SV_MSR_SYSENTER_CS, msrSysenterEsp: S.SV_MSR_SYSENTER_ESP, msrSysenterEip: S.SV_MSR_SYSENTER_EIP,
  msrPat: S.SV_MSR_PAT, msrMiscEnable: S.SV_MSR_MISC_ENABLE, msrTscAux: S.SV_MSR_TSC_AUX,
  msrSpecCtrl: S.SV_MSR_SPEC_CTRL,
  tsc: S.SV_TSC, kernelSs: S.SV_KERNEL_SS, kernelSp: S.SV_KERNEL_SP, cbEvent: S.SV_CB_EVENT,
  cbFailsafe: S.SV_CB_FAILSAFE,
  cbSyscall: S.SV_CB_SYSCALL, cbSyscall32: S.SV_CB_SYSCALL32, cbSysenter: S.SV_CB_SYSENTER, cbNmi: S.SV_CB_NMI,
  ldtBase: S.SV_LDT_BASE, vcpuInfo: S.SV_VCPU_INFO, runstateArea: S.SV_RUNSTATE_AREA, timer: S.SV_TIMER,
  period: S.SV_PERIOD,
  periodNext: S.SV_PERIOD_NEXT, runstateEntry: S.SV_RUNSTATE_ENTRY,
} as const satisfies { [K in keyof VcpuRecord]?: number };
const V32 = {
  version: S.SV_VERSION, id: S.SV_VCPU_ID, flags: S.SV_FLAGS, iopl: S.SV_IOPL, cbFlags: S.SV_CB_FLAGS,
  ldtEnts: S.SV_LDT_ENTS, gdtEnts: S.SV_GDT_ENTS, runstate: S.SV_RUNSTATE
} as const;
const V16 = {
  es: S.SV_SEL + 2 * S.SVS_ES, cs: S.SV_SEL + 2 * S.SVS_CS, ss: S.SV_SEL + 2 * S.SVS_SS, ds: S.SV_SEL + 2 * S.SVS_DS,
  fs: S.SV_SEL + 2 * S.SVS_FS, gs: S.SV_SEL + 2 * S.SVS_GS, cbEventCs: S.SV_CB_EVENT_CS,
  cbFailsafeCs: S.SV_CB_FAILSAFE_CS,
  cbSysenterCs: S.SV_CB_SYSENTER_CS,
} as const;

export function decodeVcpu(b: Uint8Array, k = 0): VcpuRecord {
  checkVcpuShape(b, k);
  const d = view(b);
  const r: Record<string, unknown> = {};
  for (const [n, o] of Object.entries(V64)) r[n] = d.getBigUint64(o, true);
  for (const [n, o] of Object.entries(V32)) r[n] = d.getUint32(o, true);
  for (const [n, o] of Object.entries(V16)) r[n] = d.getUint16(o, true);
  r.gpr = Array.from({ length: 16 }, (_, i) => d.getBigUint64(S.SV_GPR + 8 * i, true));
  r.dr = Array.from({ length: 4 }, (_, i) => d.getBigUint64(S.SV_DR + 8 * i, true));
  const nf = Math.min(Math.ceil(d.getUint32(S.SV_GDT_ENTS, true) / 512), S.SV_GDT_MAX_FRAMES);
  r.gdtFrames = Array.from({ length: nf }, (_, i) => d.getUint32(S.SV_GDT_FRAMES + 4 * i, true));
  r.runstateTime = Array.from({ length: 4 }, (_, i) => d.getBigUint64(S.SV_RUNSTATE_TIME + 8 * i, true));
  r.fxsave = b.slice(S.SV_FXSAVE, S.SV_FXSAVE + 512);
  r.traps = Array.from({ length: 256 }, (_, i) => {
    const o = S.SV_TRAPS + i * S.SV_TRAP_SIZE;
    return { address: d.getBigUint64(o, true), cs: d.getUint16(o + 8, true), flags: d.getUint8(o + 10) };
  });
  return r as unknown as VcpuRecord;
}

export function encodeVcpu(r: VcpuRecord): Uint8Array {
  const b = new Uint8Array(S.SV_SIZE), d = view(b);
  for (const [n, o] of Object.entries(V64)) d.setBigUint64(o, r[n as keyof typeof V64], true);
  for (const [n, o] of Object.entries(V32)) d.setUint32(o, r[n as keyof typeof V32], true);
  for (const [n, o] of Object.entries(V16)) d.setUint16(o, r[n as keyof typeof V16], true);
  d.setUint32(S.SV_SIZE_FIELD, S.SV_SIZE, true);
  r.gpr.forEach((x, i) => d.setBigUint64(S.SV_GPR + 8 * i, x, true));
  r.dr.forEach((x, i) => d.setBigUint64(S.SV_DR + 8 * i, x, true));
  r.gdtFrames.forEach((x, i) => d.setUint32(S.SV_GDT_FRAMES + 4 * i, x, true));
  r.runstateTime.forEach((x, i) => d.setBigUint64(S.SV_RUNSTATE_TIME + 8 * i, x, true));
  b.set(r.fxsave, S.SV_FXSAVE);
  r.traps.forEach((t, i) => {
    const o = S.SV_TRAPS + i * S.SV_TRAP_SIZE;
    d.setBigUint64(o, t.address, true); d.setUint16(o + 8, t.cs, true); d.setUint8(o + 10, t.flags);
  });
  return b;
}

const MESSAGES: Record<number, string> = {
  [S.SRE_DOMAIN_VERSION]: "the DOMAIN record's version is not supported",
  [S.SRE_DOMAIN_SIZE]: "the DOMAIN record's size field is wrong",
  [S.SRE_WIDTH]: "the DOMAIN record's guest width is not the domain's (32 or 64)",
  [S.SRE_NR_VCPUS]: "the DOMAIN record's vCPU count is not the domain's (or the number of VCPU records)",
  [S.SRE_MAX_PAGES]: "the DOMAIN record's page counts are out of range",
  [S.SRE_SHUTDOWN]: "the DOMAIN record is not of a domain that suspended itself",
  [S.SRE_VM_ASSIST]: "the DOMAIN record's vm_assist has unknown bits",
  [S.SRE_FRAME_ADDR]: "the DOMAIN record's shared_info, start_info, console or xenstore frame is not a page address",
  [S.SRE_PORT]: "the DOMAIN record's console or xenstore port is out of range",
  [S.SRE_GRANT]: "the DOMAIN record's grant table (version, frame counts, frame addresses) is out of range",
  [S.SRE_EVTCHN_ABI]: "the DOMAIN record's event-channel ABI is unknown",
  [S.SRE_SCHED]: "the DOMAIN record's scheduler weight is out of range",
  [S.SRE_VCPU_VERSION]: "its version is not supported",
  [S.SRE_VCPU_SIZE]: "its size field is wrong",
  [S.SRE_VCPU_ID]: "its vCPU id is not its place in the stream",
  [S.SRE_VCPU_FLAGS]: "its flags are invalid (unknown bits, or state without a context)",
  [S.SRE_RIP]: "RIP is not a valid address for the guest's width (non-canonical)",
  [S.SRE_RFLAGS]: "RFLAGS has reserved or hypervisor-owned bits",
  [
    S.SRE_SELECTOR
  ]: "a segment selector is invalid (null CS/SS, a ring the guest does not run in, or outside the GDT/LDT)",
  [S.SRE_ADDRESS]: "a segment base, CR2, vcpu_info or runstate address is invalid",
  [S.SRE_CR0]: "CR0 is not a PV guest's (it owns TS only)",
  [S.SRE_CR4]: "CR4 has reserved bits set (or lacks PAE)",
  [S.SRE_EFER]: "EFER has reserved bits set or does not match the guest's width",
  [S.SRE_CR3]: "a CR3 is not a page address below 4 GiB (or the user one is missing)",
  [S.SRE_DEBUGREG]: "its debug registers are refused (as Xen's arch_set_info_guest refuses them)",
  [S.SRE_MSR]: "an MSR has a value WRMSR would refuse",
  [S.SRE_FXSAVE]: "the FXSAVE image's MXCSR has reserved bits set",
  [S.SRE_LDT]: "the LDT is out of range (entries, alignment, address)",
  [S.SRE_GDT]: "the GDT is out of range (entries, frame addresses)",
  [S.SRE_CALLBACK]: "a callback, kernel stack or its flags are out of range",
  [S.SRE_TRAP]: "a trap-table entry is out of range",
  [S.SRE_RUNSTATE]: "its runstate is unknown",
  [S.SRE_IOPL]: "its IOPL is out of range",
  [S.SRE_NO_DOMAIN]: "the domain being restored is gone",
  [S.SRE_FRAME_COUNT]: "the frame list does not match the frames received",
  [S.SRE_TRANSLATE]: "a machine address in the records is not one of the domain's frames",
  [S.SRE_PAGETABLE]: "a page table points outside the domain",
  [S.SRE_P2M]: "the guest's p2m list or start_info cannot be translated",
  [S.SRE_PIN]: "a pinned page table does not validate",
  [S.SRE_CR3_REF]: "a CR3 is not a valid top-level page table of the domain",
  [S.SRE_GDT_REF]: "a GDT frame is not a valid descriptor page of the domain",
  [S.SRE_EVTCHN]: "no event channel for the console or xenstore",
};

/** The message for a negative return of hv_restore_check / hv_restore_fixup. */
export function restoreRefusal(rc: number): string {
  const code = -rc & 0xff, vc = (-rc >> 8) - 1;
  const what = MESSAGES[code] ?? `code ${code}`;
  return vc >= 0 ? `VCPU record ${vc}: ${what}` : what;
}
