// The typed, versioned DOMAIN and VCPU records of the save stream (docs/SAVE-RESTORE.md), shared by the
// core (AssemblyScript: hv/saverec.ts writes and checks them field by field) and the host (TypeScript:
// host/save/records.ts). Plain integer constants only, so that both compilers accept it.
//
// These layouts are a file format, not the core's internal layout: every field is named here, at a
// fixed little-endian offset, and the core copies each one from and to its own structures by name.
// A change of the core's domain or vCPU structures changes nothing here. A change here is a new
// record version (SAVE_DOMAIN_VERSION / SAVE_VCPU_VERSION) and a new stream version
// (host/save/stream.ts VERSION); tests/saverec.test.ts holds the offsets below as golden numbers.

// ---- DOMAIN record (SD_SIZE bytes; after the DOMAIN stream record's JSON) ----
export const SAVE_DOMAIN_VERSION = 1;
export const SD_VERSION = 0; // u32 SAVE_DOMAIN_VERSION
export const SD_SIZE_FIELD = 4; // u32 SD_SIZE
export const SD_WIDTH = 8; // u32 32 or 64
export const SD_NR_VCPUS = 12; // u32 1 .. the domain's
export const SD_MAX_PAGES = 16; // u32
export const SD_TOT_PAGES = 20; // u32 at the save (information)
export const SD_SHUTDOWN_REASON = 24; // u32 SHUTDOWN_suspend: only a domain that suspended itself is saved
export const SD_SHUTDOWN_CODE = 28; // u32 from SCHEDOP_shutdown_code
export const SD_VM_ASSIST = 32; // u32 1 << VMASST_TYPE_* enabled
export const SD_SHARED_INFO = 36; // u32 machine address of shared_info (page aligned)
export const SD_START_INFO = 40; // u32 machine address of start_info (page aligned)
export const SD_CONSOLE_MA = 44; // u32 machine address of the console ring's frame
export const SD_CONSOLE_PORT = 48; // u32 its event channel at the save (a new one is made on restore)
export const SD_STORE_MA = 52; // u32 machine address of the xenstore ring's frame
export const SD_STORE_PORT = 56; // u32 its event channel at the save (a new one is made on restore)
export const SD_GNT_VERSION = 60; // u32 0 (not set up), 1 or 2
export const SD_GNT_NR_FRAMES = 64; // u32 grant-table frames, 0 .. SD_GNT_MAX_FRAMES
export const SD_GNT_FRAMES = 68; // u32[32] their machine addresses
export const SD_GNT_MAX_FRAMES = 32;
export const SD_GNT_NR_STATUS = 196; // u32 v2 status frames, 0 .. SD_GNT_MAX_STATUS
export const SD_GNT_STATUS = 200; // u32[4] their machine addresses
export const SD_GNT_MAX_STATUS = 4;
export const SD_EVTCHN_ABI = 216; // u32 SD_EVTCHN_2LEVEL or SD_EVTCHN_FIFO (a restore starts 2-level, as Xen)
export const SD_FIFO_ARRAY = 220; // u32 FIFO: machine address of the first event-array page (information)
export const SD_WEIGHT = 224; // u32 credit scheduler weight 1 .. 65535
export const SD_CAP = 228; // u32 % of one CPU, 0 = none
export const SD_SYSTEM_TIME = 232; // u64 the domain's system time at the save (ns)
export const SD_CPU_TIME = 240; // u64 CPU time used (ns)
export const SD_SIZE = 248;

export const SD_EVTCHN_2LEVEL = 0;
export const SD_EVTCHN_FIFO = 1;

// ---- VCPU record (SV_SIZE bytes; one VCPU stream record each, in vCPU id order) ----
export const SAVE_VCPU_VERSION = 1;
export const SV_VERSION = 0; // u32 SAVE_VCPU_VERSION
export const SV_SIZE_FIELD = 4; // u32 SV_SIZE
export const SV_VCPU_ID = 8; // u32
export const SV_FLAGS = 12; // u32 SVF_*
export const SV_GPR = 16; // u64[16] RAX RCX RDX RBX RSP RBP RSI RDI R8 .. R15 (encoding order)
export const SV_RIP = 144; // u64
export const SV_RFLAGS = 152; // u64 (IOPL in SV_IOPL: it is virtual)
export const SV_SEL = 160; // u16[6] selectors ES CS SS DS FS GS (SV_SEL + 2 * SVS_*)
export const SV_IOPL = 172; // u32 the guest's virtual IOPL (physdev set_iopl), 0 .. 3
export const SV_FS_BASE = 176; // u64 64-bit guests: FS base
export const SV_GS_BASE_KERNEL = 184; // u64 64-bit guests: GS base in kernel mode
export const SV_GS_BASE_USER = 192; // u64 64-bit guests: GS base in user mode
export const SV_CR0 = 200; // u64 (the guest owns TS only)
export const SV_CR2 = 208; // u64
export const SV_CR3_KERNEL = 216; // u64 machine address of the kernel's top-level table
export const SV_CR3_USER = 224; // u64 64-bit guests: the user top-level table (0 = none)
export const SV_CR4 = 232; // u64
export const SV_GUEST_CR4 = 240; // u64 the CR4 value the guest kernel last wrote (0: never)
export const SV_EFER = 248; // u64
export const SV_DR = 256; // u64[4] DR0 .. DR3
export const SV_DR6 = 288; // u64
export const SV_DR7 = 296; // u64
export const SV_DR7_EMUL = 304; // u64 the I/O-breakpoint enables of DR7 (emulated)
export const SV_MSR_STAR = 312; // u64
export const SV_MSR_LSTAR = 320;
export const SV_MSR_CSTAR = 328;
export const SV_MSR_SFMASK = 336;
export const SV_MSR_KERNEL_GS_BASE = 344;
export const SV_MSR_SYSENTER_CS = 352;
export const SV_MSR_SYSENTER_ESP = 360;
export const SV_MSR_SYSENTER_EIP = 368;
export const SV_MSR_PAT = 376;
export const SV_MSR_MISC_ENABLE = 384;
export const SV_MSR_TSC_AUX = 392;
export const SV_MSR_SPEC_CTRL = 400;
export const SV_TSC = 408; // u64 the guest's TSC at the save (a restore goes on from it)
export const SV_KERNEL_SS = 416; // u64 stack_switch
export const SV_KERNEL_SP = 424; // u64
export const SV_CB_EVENT = 432; // u64 callback addresses
export const SV_CB_FAILSAFE = 440;
export const SV_CB_SYSCALL = 448;
export const SV_CB_SYSCALL32 = 456;
export const SV_CB_SYSENTER = 464;
export const SV_CB_NMI = 472;
export const SV_CB_FLAGS = 480; // u32 bit per CALLBACKTYPE: CALLBACKF_mask_events
export const SV_CB_EVENT_CS = 484; // u16 32-bit guests: code selectors of the event, failsafe, sysenter callbacks
export const SV_CB_FAILSAFE_CS = 486;
export const SV_CB_SYSENTER_CS = 488;
export const SV_LDT_ENTS = 492; // u32 0 .. 8192
export const SV_LDT_BASE = 496; // u64 guest VA of the LDT (page aligned)
export const SV_GDT_ENTS = 504; // u32 0 .. 14 * 512
export const SV_GDT_FRAMES = 508; // u32[14] machine addresses of the GDT's frames
export const SV_GDT_MAX_FRAMES = 14;
export const SV_RUNSTATE = 564; // u32 RUNSTATE_* (0 running .. 3 offline)
export const SV_VCPU_INFO = 568; // u64 machine address of the vCPU's vcpu_info
export const SV_RUNSTATE_AREA = 576; // u64 guest VA of its runstate area (0 = none)
export const SV_TIMER = 584; // u64 single-shot deadline, system time ns (0 = none)
export const SV_PERIOD = 592; // u64 periodic timer period (0 = off)
export const SV_PERIOD_NEXT = 600; // u64
export const SV_RUNSTATE_ENTRY = 608; // u64 system time it entered that state
export const SV_RUNSTATE_TIME = 616; // u64[4] time spent in each state
export const SV_FXSAVE = 648; // 512 bytes: the x87/SSE state in FXSAVE's layout
export const SV_TRAPS = 1160; // 256 x 16 bytes: { u64 address; u16 cs; u8 flags; u8 set; u32 zero }
export const SV_TRAP_SIZE = 16;
export const SV_SIZE = 5256;

// Where the host puts the records for a restore: the DOMAIN record at RESTORE_BLOBS (assembly/memmap.ts),
// the VCPU records from RESTORE_BLOBS + SAVE_BLOB_VCPU0, SV_SIZE bytes apart, at most SAVE_BLOB_MAX_VCPUS.
export const SAVE_BLOB_VCPU0 = 256;
export const SAVE_BLOB_MAX_VCPUS = 64;

// SV_SEL slots.
export const SVS_ES = 0;
export const SVS_CS = 1;
export const SVS_SS = 2;
export const SVS_DS = 3;
export const SVS_FS = 4;
export const SVS_GS = 5;

// SV_FLAGS bits.
export const SVF_ONLINE = 1;
export const SVF_BLOCKED = 2; // in SCHEDOP_block
export const SVF_IN_KERNEL = 4; // 64-bit guests: in the guest kernel (else guest user)
export const SVF_IN_FAILSAFE = 8; // in its failsafe callback
export const SVF_INITIALISED = 16; // has a context
export const SVF_ALL = 31;

// ---- why the core refused saved records (hv_restore_check, hv_restore_fixup: -(code | (vCPU + 1) << 8)) ----
export const SRE_DOMAIN_VERSION = 1;
export const SRE_DOMAIN_SIZE = 2;
export const SRE_WIDTH = 3;
export const SRE_NR_VCPUS = 4;
export const SRE_MAX_PAGES = 5;
export const SRE_SHUTDOWN = 6;
export const SRE_VM_ASSIST = 7;
export const SRE_FRAME_ADDR = 8;
export const SRE_PORT = 9;
export const SRE_GRANT = 10;
export const SRE_EVTCHN_ABI = 11;
export const SRE_SCHED = 12;
export const SRE_VCPU_VERSION = 20;
export const SRE_VCPU_SIZE = 21;
export const SRE_VCPU_ID = 22;
export const SRE_VCPU_FLAGS = 23;
export const SRE_RIP = 24;
export const SRE_RFLAGS = 25;
export const SRE_SELECTOR = 26;
export const SRE_ADDRESS = 27;
export const SRE_CR0 = 28;
export const SRE_CR4 = 29;
export const SRE_EFER = 30;
export const SRE_CR3 = 31;
export const SRE_DEBUGREG = 32;
export const SRE_MSR = 33;
export const SRE_FXSAVE = 34;
export const SRE_LDT = 35;
export const SRE_GDT = 36;
export const SRE_CALLBACK = 37;
export const SRE_TRAP = 38;
export const SRE_RUNSTATE = 39;
export const SRE_IOPL = 40;
// Steps of the restore after the records were accepted.
export const SRE_NO_DOMAIN = 48;
export const SRE_FRAME_COUNT = 49;
export const SRE_TRANSLATE = 50;
export const SRE_PAGETABLE = 51;
export const SRE_P2M = 52;
export const SRE_PIN = 53;
export const SRE_CR3_REF = 54;
export const SRE_GDT_REF = 55;
export const SRE_EVTCHN = 56;
