// The core's records and numbers that the host reads too, shared by the core (AssemblyScript) and the
// host (TypeScript imports this very file, as it does memmap.ts). Plain integer constants only, so that
// both compilers accept it. Change a layout here and both sides follow; bump CORE_ABI_VERSION whenever
// an export, a record layout or a number here changes meaning, so that a host never drives a core
// built from other sources (core_abi_version(), checked by host/core.ts; tests/abi.test.ts).

// 2: typed save records (saverec.ts; hv_save_*_record, hv_restore_check); 3: machine memory from 86 MiB, each domain's
// frame list (D_PAGE_HEAD, hv_frames_listed); 4: perf_counter (assembly/perf.ts); 5: the decoded cache's index
// (memmap DCACHE_INDEX) moved JIT_IO and JIT_REQ; the domain record's watchdogs (D_WDOG_*); 6: dcache_check (tests:
// the decoded cache's index names every live entry); 7: the decoded cache 8 MiB below machine memory, which starts at
// 96 MiB (memmap DCACHE_*, MACHINE_BASE)
export const CORE_ABI_VERSION = 7;

// ---- domain record (DOMAIN_SIZE bytes at DOMAIN_TABLE + domid * DOMAIN_SIZE: hv_domain_addr) ----
export const D_STATE = 0; // u32 DS_*
export const D_SHUTDOWN_REASON = 4; // u32 SHUTDOWN_* (valid in DS_SHUTDOWN)
export const D_WIDTH = 8; // u32 32 or 64
export const D_NR_VCPUS = 12; // u32
export const D_VCPU0 = 16; // u32 index of vCPU 0 in VCPU_TABLE (vCPUs of a domain are consecutive)
export const D_MAX_PAGES = 20; // u32
export const D_TOT_PAGES = 24; // u32
export const D_SHARED_INFO = 28; // u32 machine address of shared_info
export const D_VM_ASSIST = 32; // u32 VMASST bits
export const D_PRIVILEGED = 36; // u32 1 for dom0
export const D_GNT_FRAMES = 40; // u32 number of grant-table frames set up
export const D_GNT_FRAME0 = 44; // u32[32] machine addresses of the grant-table frames
export const D_GNT_VERSION = 172; // u32
export const D_CPU_NS = 176; // u64 CPU time used
export const D_WEIGHT = 184; // u32
export const D_CAP = 188; // u32 % of one CPU, 0 = none
export const D_PAUSE_COUNT = 192; // u32 toolstack pauses
export const D_SHUTDOWN_CODE = 196; // u32 from SCHEDOP_shutdown_code
export const D_START_INFO = 200; // u32 machine address of start_info
export const D_CONSOLE_MFN = 204; // u32
export const D_CONSOLE_EVTCHN = 208; // u32
export const D_STORE_MFN = 212; // u32
export const D_STORE_EVTCHN = 216; // u32
export const D_PASS = 224; // u64 credit scheduler: virtual time consumed (CPU ns * 256 / weight)
export const D_WIN_START = 240; // u64 cap accounting: start of the current window (system time ns)
export const D_WIN_NS = 248; // u64 CPU ns used in that window
// i64 the domain's system time = the hypervisor's + this (restore keeps it running on)
export const D_TIME_OFFSET = 256;
export const D_INSNS = 232; // u64 instructions executed
// What the core has set aside for the domain, counted where it is handed out (bench:density):
// u64 its records: domain, vCPU and event-channel slots, frame-table records of its frames
export const D_CORE_REC_BYTES = 264;
export const D_CORE_FRAME_BYTES = 272; // u64 the machine frames it owns (its RAM and every other frame)
// Grant tables v2: the status frames (grant_status_t, 2048 a frame; one per 8 grant frames).
export const D_GNT_NSTATUS = 280; // u32 number of status frames (0 unless the table is v2)
export const D_GNT_STATUS0 = 284; // u32[4] machine addresses of the status frames
export const GNT_MAX_STATUS = 4;
// FIFO event channels (event/evtchn.ts): on once EVTCHNOP_init_control succeeded, until EVTCHNOP_reset.
export const D_EVTCHN_FIFO = 300; // u32 1 = the FIFO ABI is in use
export const D_FIFO_ARRAY = 304; // u32 machine address of the event array's page (0 = none yet)
// SMP: the scheduler's round-robin cursor over the domain's vCPUs (the id after the one it ran last).
export const D_VCPU_RR = 308; // u32
// u32 the first frame of the domain's own list of its frames (0: none; domain/frames.ts)
export const D_PAGE_HEAD = 312;
// SCHEDOP_watchdog (Xen's domain_watchdog, NR_DOMAIN_WATCHDOG_TIMERS 2): which of the two are in use
// (bit N: watchdog N + 1), and when each fires (host system time ns, hv/clock.ts systemTime).
export const D_WDOG_INUSE = 316; // u32
export const D_WDOG_DEADLINE = 320; // u64[2]
export const NR_DOMAIN_WATCHDOG_TIMERS = 2;

export const DS_FREE = 0;
export const DS_RUNNING = 1; // may run (vCPUs may still be blocked or paused)
export const DS_SHUTDOWN = 2; // shut down: keeps its memory until destroyed
export const DS_DYING = 3;

// Why a domain shut down (D_SHUTDOWN_REASON; Xen's sched.h SHUTDOWN_*).
export const SHUTDOWN_poweroff = 0;
export const SHUTDOWN_reboot = 1;
export const SHUTDOWN_suspend = 2;
export const SHUTDOWN_crash = 3;
export const SHUTDOWN_watchdog = 4;
export const SHUTDOWN_soft_reset = 5;

// ---- vCPU record (VCPU_SIZE bytes at VCPU_TABLE + index * VCPU_SIZE: hv_vcpu_addr) ----
// +0 .. CPU_SAVE_SIZE: the saved CPU state block (registers, segments, CRs, MSRs, GDT frames).
export const V_DOMAIN = 0x800; // u32 owning domain
export const V_ID = 0x804; // u32 vCPU id within the domain
export const V_FLAGS = 0x808; // u32 VF_*
export const V_KERNEL_SS = 0x810; // u64 (stack_switch)
export const V_KERNEL_SP = 0x818; // u64
export const V_CB_EVENT = 0x820; // u64 callback addresses (32-bit: eip, cs in V_CB_*_CS)
export const V_CB_FAILSAFE = 0x828;
export const V_CB_SYSCALL = 0x830;
export const V_CB_SYSCALL32 = 0x838;
export const V_CB_SYSENTER = 0x840;
export const V_CB_NMI = 0x848;
export const V_CB_FLAGS = 0x850; // u32 bit per CALLBACKTYPE: CALLBACKF_mask_events
export const V_CB_EVENT_CS = 0x854; // u16 32-bit guests: code selectors of the event/failsafe callbacks
export const V_CB_FAILSAFE_CS = 0x856;
export const V_CR3_KERNEL = 0x858; // u64 machine address of the kernel's top-level table
export const V_CR3_USER = 0x860; // u64 64-bit guests: the user top-level table (0 = none)
export const V_GS_KERNEL = 0x868; // u64 64-bit guests: the GS base not currently loaded
export const V_CB_SYSENTER_CS = 0x870; // u16 32-bit guests: code selector of the sysenter callback
export const V_VCPU_INFO = 0x878; // u64 machine address of this vCPU's vcpu_info
export const V_RUNSTATE_VA = 0x880; // u64 guest VA of the runstate area (0 = none)
export const V_TIMER = 0x888; // u64 single-shot deadline, system time ns (0 = none)
export const V_PERIOD = 0x890; // u64 periodic timer period (0 = off)
export const V_PERIOD_NEXT = 0x898; // u64
export const V_IOPL = 0x8a0; // u32 virtual IOPL (physdev set_iopl)
export const V_LDT_BASE = 0x8a8; // u64 guest VA of the LDT
export const V_LDT_ENTS = 0x8b0; // u32
export const V_VIRQ_PORT = 0x8c0; // u16[NR_VIRQS] port bound to each VIRQ (0 = none)
export const V_POLL_DEADLINE = 0x900; // u64
export const V_GUEST_CR4 = 0x908; // u64 the CR4 value the guest kernel last wrote (0: never)
export const V_RS_STATE = 0x910; // u32 runstate: RUNSTATE_running 0, runnable 1, blocked 2, offline 3
export const V_RS_ENTRY = 0x918; // u64 system time it entered that state
export const V_RS_TIME = 0x920; // u64[4] time spent in each state
export const V_FIFO_CB = 0x940; // u32 FIFO event channels: machine address of this vCPU's control block (0 = none)
export const V_FIFO_TAIL = 0x944; // u16[16] FIFO event channels: the tail port of each priority's queue (0 = empty)
export const V_TRAPS = 0x1000; // 256 x 16 bytes: { u64 address; u16 cs; u8 flags; u8 set }

export const VF_ONLINE = 1;
export const VF_BLOCKED = 2; // SCHEDOP_block: waits for an event
export const VF_KERNEL = 4; // 64-bit guests: running the guest kernel (else guest user)
export const VF_POLLING = 8; // SCHEDOP_poll
export const VF_IN_FAILSAFE = 16;
export const VF_INITIALISED = 32; // has a context (vCPU 0 from the builder, others from VCPUOP_initialise)
export const VF_FRESH = 64; // VCPUOP_initialise gave it selectors not loaded yet: loaded when it is first scheduled
