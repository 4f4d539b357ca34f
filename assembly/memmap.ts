// The one memory map of the core's linear memory, shared by the core (AssemblyScript) and the host
// (TypeScript imports this very file). Plain integer constants only, so that both compilers accept it.
//
//   0x0000_0000 .. 0x000F_FFFF  AssemblyScript static data and the stub runtime's heap (unused at run time)
//   0x0010_0000                 CPU_STATE: the running vCPU's architectural state (layout: CPU_* offsets)
//   0x0010_1000                 SCRATCH: bounce buffer for page-crossing accesses and host mailboxes
//   0x0011_0000                 TLB: software TLB (tags, host addresses)
//   0x0020_0000 .. 0x003F_FFFF  (unused)
//   0x0040_0000                 CODEMAP: one byte per 4 KiB machine page: 1 = decoded code lives there
//   0x0050_0000 .. 0x03FF_FFFF  hypervisor tables (frame table: issue 3; vCPUs; log-dirty bitmap)
//   0x0400_0000 .. 0x051F_FFFF  hypervisor tables sized by MAX_DOMAINS (event channels, domains)
//   0x0520_0000 .. 0x055F_FFFF  FRAME_PREV: the frame table's back links (each domain's list of its frames)
//   0x0560_0000 .. 0x05FF_FFFF  DCACHE: decoded-instruction cache (8 MiB), then its index (DCACHE_INDEX, 2 MiB)
//   0x0600_0000 ..              MACHINE memory: guest frames (machine address == linear address), up to
//                               4 GiB less 64 KiB (domain/frames.ts FRAMES_LIMIT; NO_HOST below)

// Host addresses (the linear-memory address of a guest byte: mmu/tlb.ts xlate, fetchHost ...) cover all
// 4 GiB of wasm32 memory: they are u32 values carried in i32, so they are compared unsigned (`>>> 12`,
// `as u32`), widened with `as u32 as u64` (never `as u64` or `as i64` straight from i32: that sign-extends)
// and a fault is NO_HOST, never "negative". NO_HOST (0xFFFF_FFFF) is no byte of a frame: machine memory
// ends before the last 64 KiB of the 4 GiB (domain/frames.ts FRAMES_LIMIT).
export const NO_HOST = -1;

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

// ---- CPU state block ------------------------------------------------------------------------
export const CPU_STATE = 0x100000;
export const CPU_STATE_SIZE = 0x1000;
// General registers, 16 x u64, in encoding order: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15.
export const CPU_REGS = 0;
export const CPU_RIP = 128;
// RFLAGS as stored; the arithmetic flags (CF PF AF ZF SF OF) may be pending in the lazy-flag fields:
// the core resolves them on every read of RFLAGS, and `cpu_flags_sync()` writes them here for the host.
export const CPU_RFLAGS = 136;
export const CPU_LF_OP = 144; // i32: kind of the last flag-setting operation (0 = none pending)
export const CPU_LF_SIZE = 148; // i32: its operand size in bytes
export const CPU_LF_RES = 152; // u64
export const CPU_LF_A = 160; // u64: first operand
export const CPU_LF_B = 168; // u64: second operand (or carry-in)
// Segment registers: 8 slots of 16 bytes: selector u16 @0, attributes u16 @2 (descriptor byte 5 in
// bits 0-7: type, S, DPL, P; descriptor bits 52-55 in bits 12-15: AVL, L, D/B, G), limit u32 @4
// (already scaled by G), base u64 @8.
export const CPU_SEG = 176;
export const SEG_SIZE = 16;
export const SEG_ES = 0;
export const SEG_CS = 1;
export const SEG_SS = 2;
export const SEG_DS = 3;
export const SEG_FS = 4;
export const SEG_GS = 5;
export const SEG_LDTR = 6;
export const SEG_TR = 7;
// The fields of a slot (at CPU_SEG + SEG_* * SEG_SIZE), as above.
export const SEGF_SEL = 0; // u16
export const SEGF_ATTR = 2; // u16
export const SEGF_LIMIT = 4; // u32
export const SEGF_BASE = 8; // u64
export const CPU_GDTR_BASE = 304; // u64
export const CPU_GDTR_LIMIT = 312; // u32
export const CPU_IDTR_BASE = 320; // u64
export const CPU_IDTR_LIMIT = 328; // u32
export const CPU_CR0 = 336; // u64
export const CPU_CR2 = 344;
export const CPU_CR3 = 352;
export const CPU_CR4 = 360;
export const CPU_CR8 = 368;
export const CPU_EFER = 376;
export const CPU_DR = 384; // DR0..DR7, 8 x u64 (the DR4/DR5 slots are aliases, so they hold these two:)
export const CPU_DR6 = CPU_DR + 6 * 8; // (its slot of CPU_DR)
export const CPU_DR7 = CPU_DR + 7 * 8;
export const CPU_DBG_PENDING = 416; // u32: #DB conditions (DR6 bits) held back by a MOV SS/POP SS shadow
// u64: PV: the I/O-breakpoint enables of DR7, emulated by the hypervisor (Xen's dr7_emul)
export const CPU_DR7_EMUL = 424;
export const CPU_MSR_STAR = 448;
export const CPU_MSR_LSTAR = 456;
export const CPU_MSR_CSTAR = 464;
export const CPU_MSR_SFMASK = 472;
export const CPU_MSR_KGSBASE = 480;
export const CPU_MSR_SYSENTER_CS = 488;
export const CPU_MSR_SYSENTER_ESP = 496;
export const CPU_MSR_SYSENTER_EIP = 504;
export const CPU_TSC_OFFSET = 512; // guest TSC = instruction-derived host TSC + offset
export const CPU_MSR_PAT = 520;
export const CPU_MSR_MISC_ENABLE = 528;
export const CPU_MSR_TSC_AUX = 536;
// u64: IA32_SPEC_CTRL (IBRS, BHI_DIS_S): kept, without effect (nothing here speculates)
export const CPU_MSR_SPEC_CTRL = 544;
export const CPU_CPL = 560; // i32: current privilege level
export const CPU_MODE = 564; // i32: MODE_* below, derived from CR0/EFER/CS
export const CPU_HALTED = 568; // i32: 1 after HLT until an event arrives
export const CPU_EXIT_REASON = 576; // i32: why run() returned (EXIT_* below)
export const CPU_EXIT_VECTOR = 580; // i32: vector of an intercepted exception or INT n
export const CPU_EXIT_ERROR = 584; // i32: its error code (or -1 when it has none)
export const CPU_EXIT_INFO = 592; // u64: extra (the faulting linear address for #PF, port for I/O)
export const CPU_INSNS = 600; // u64: instructions retired since reset
export const CPU_INTERCEPT = 608; // 32 bytes: bit v set = exception/INT vector v goes to the hypervisor
export const CPU_INTERCEPT_FLAGS = 640; // i32: INTERCEPT_* below
export const CPU_EXIT_KIND = 644; // i32: EVENT_* of an EXIT_INTERCEPT/UNHANDLED event
// PV descriptor tables (the hypervisor sets these; 0 = the GDT is read at GDTR's linear base as usual).
// GDT_PV64/GDT_PV32: GDT entries below CPU_GDT_ENTRIES are read from the guest's GDT frames (machine
// addresses in CPU_GDT_FRAMES, one per 4 KiB of GDT), entries at 0xe000..0xefff from the hypervisor's
// reserved table for the guest's width (XEN_GDT64/XEN_GDT32); everything else is outside the GDT.
export const CPU_GDT_MODE = 648; // i32: GDT_* below
export const CPU_GDT_ENTRIES = 652; // i32
export const CPU_GDT_FRAMES = 1536; // 14 x u32 machine addresses
export const CPU_SAVE_SIZE = 1600; // bytes of the state block a vCPU switch saves and restores
export const CPU_SAVE_HOLE = 656; // [CPU_SAVE_HOLE, CPU_FXSAVE) is unused: a switch does not copy it
export const CPU_FXSAVE = 1024; // 512 bytes, FXSAVE layout (x87/SSE: a later issue)

export const GDT_LINEAR = 0;
export const GDT_PV64 = 1;
export const GDT_PV32 = 2;

export const MODE_REAL = 0;
export const MODE_PROT16 = 1;
export const MODE_PROT32 = 2;
export const MODE_LONG64 = 3;
export const MODE_COMPAT16 = 4; // long mode, 16-bit code segment
export const MODE_COMPAT32 = 5; // long mode, 32-bit code segment

export const INTERCEPT_SYSCALL = 1; // SYSCALL exits to the hypervisor instead of using LSTAR/STAR
export const INTERCEPT_SYSENTER = 2;
export const INTERCEPT_HLT = 4;
export const INTERCEPT_IO = 8; // IN/OUT exit to the hypervisor rather than calling the host's ports
export const INTERCEPT_CPUID = 16;

// What kind of event an intercepted/unhandled vector is (CPU_EXIT_KIND). For EVENT_EXCEPTION RIP is
// the faulting instruction; for the others RIP is the instruction after it (the return address).
export const EVENT_EXCEPTION = 0; // a fault (#PF, #GP ...)
export const EVENT_INT = 1; // INT n
export const EVENT_INT3 = 2;
export const EVENT_INTO = 3;
export const EVENT_INT1 = 4; // ICEBP (F1)
export const EVENT_TRAP = 5; // a trap raised after an instruction completed (single-step #DB)

// Why run() returned.
export const EXIT_BUDGET = 0; // the instruction budget ran out
export const EXIT_HLT = 1; // HLT with no event pending
export const EXIT_HOST = 2; // the host asked to stop (an I/O port handler returned non-zero)
export const EXIT_INTERCEPT = 3; // an intercepted exception or INT n: see CPU_EXIT_VECTOR/ERROR
export const EXIT_TRIPLE_FAULT = 4; // an exception while delivering a double fault
export const EXIT_SYSCALL = 5; // intercepted SYSCALL
export const EXIT_SYSENTER = 6; // intercepted SYSENTER
export const EXIT_UNHANDLED = 7; // an exception with no IDT to deliver it (bare mode): vector in EXIT_VECTOR
// The next two stop with RIP at the instruction, not executed: the hypervisor emulates it and moves RIP.
export const EXIT_CPUID = 8; // CPUID with INTERCEPT_CPUID set
export const EXIT_IO = 9; // IN/OUT/INS/OUTS with INTERCEPT_IO set (after the IOPL/bitmap checks passed)

// Why hv_run() returned (the hypervisor's run loop, assembly/hv/sched.ts).
export const HVX_BUDGET = 0; // the instruction budget is spent
export const HVX_IDLE = 1; // every vCPU is blocked: hv_idle_ns() says until when (0: no timer)
export const HVX_OUTPUT = 2; // console output is waiting in HV_OUT
export const HVX_SHUTDOWN = 3; // a domain shut down (or crashed)
export const HVX_NONE = 4; // no domain can run at all
export const HVX_EVENT = 5; // a domain notified an event channel whose other end is the host (dom0)

// ---- other regions --------------------------------------------------------------------------
export const SCRATCH = 0x101000;
export const SCRATCH_SIZE = 0x1000;
export const DUMMY_READ = 0x102000; // page of 0xFF bytes: what reads outside RAM see
export const DUMMY_WRITE = 0x103000; // page that swallows writes outside RAM
export const MAILBOX = 0x104000; // 48 KiB for host <-> core exchanges (names, strings, small buffers)
export const MAILBOX_SIZE = 0xc000;
export const TLB_BASE = 0x110000; // RTAG i64[4096] @0, WTAG @0x8000, XTAG @0x10000, HOST i32 @0x18000,
export const TLB_ENTRIES = 4096; //  GLOBAL u8 @0x1C000; tag = (linear page number << 1) | user
export const TLB_BANKS = 7; // banks of TLB_BANK_SIZE bytes each from TLB_BASE (one per recently run vCPU),
export const TLB_BANK_SIZE = 0x1e000; // up to 0x1D2000, below OPTABLE_BASE
export const OPTABLE_BASE = 0x1f0000; // 2 KiB: decode attributes per opcode id (cpu/optable.ts)
// The decoded-instruction cache (cpu/dcache.ts): an arena of DCACHE_ENTRIES entries of DCACHE_ENTRY_SIZE bytes
// (8 MiB), just below machine memory.
export const DCACHE_BASE = 0x5600000;
export const DCACHE_ENTRIES = 131072;
export const DCACHE_ENTRY_SIZE = 64;
// Its index: DCACHE_INDEX_SLOTS i32 slots in pairs chosen by a host address's low bits (two-way), each the offset
// from DCACHE_BASE of an entry (0: none): 2 MiB, after the arena (0x5E00000 up to 0x6000000).
export const DCACHE_INDEX = 0x5e00000;
export const DCACHE_INDEX_SLOTS = 1 << 19;
export const CODEMAP_BASE = 0x400000;
export const HV_BASE = 0x500000;
// Hypervisor region layout (docs/HYPERVISOR.md).
// MAX_DOMAINS domain ids 0 .. MAX_DOMAINS - 1 (Xen's go up to 0x7FEF): dom0 and 2047 guests, each with a
// record here, a table of EVTCHN_PORTS ports (EVTCHN_TABLE) and vCPU records (VCPU_TABLE, MAX_VCPUS in all).
export const DOMAIN_TABLE = 0x5000000; // MAX_DOMAINS records of DOMAIN_SIZE bytes (assembly/domain/): 2 MiB
export const DOMAIN_SIZE = 0x400;
export const MAX_DOMAINS = 2048;
export const FRAME_TABLE = 0x1000000; // 16 bytes per machine frame, for all 4 GiB: 16 MiB
export const FRAME_REC = 16;
export const M2P64_BASE = 0x2000000; // machine-to-phys table, 8-byte entries (64-bit guests): 8 MiB
export const M2P32_BASE = 0x2800000; // the same with 4-byte entries (32-bit guests): 4 MiB
export const XEN_GDT64 = 0x600000; // the hypervisor's reserved GDT page for 64-bit PV guests
export const XEN_GDT32 = 0x601000; // ... and for 32-bit PV guests
export const XEN_M2P64_L3_PAGE = 0x603000; // page tables of the M2P mapping in 64-bit guests (domain/xenmap.ts)
export const XEN_M2P64_L2_PAGE = 0x604000;
export const HV_LOG = 0x610000; // 64 KiB ring: the hypervisor's own log (xm dmesg); u32 head at HV_LOG_HEAD
export const HV_LOG_SIZE = 0x10000;
export const HV_LOG_HEAD = 0x620000;
export const HV_OUT = 0x621000; // 4 KiB: console output handed to the host (u32 length at HV_OUT_LEN)
export const HV_OUT_LEN = 0x622000;
export const MAPTRACK = 0x630000; // grant mappings in use: MAPTRACK_ENTRIES records of 32 bytes (hypercall/grant.ts)
export const MAPTRACK_ENTRIES = 4096;
// The JIT tier (cpu/jit.ts, host/jit/): compiled regions keyed by (host address, mode).
// JIT_MAP_ENTRIES records of 16 bytes: host i32 (0 = empty), mode i32, table index i32, page generation u32
export const JIT_MAP = 0x650000;
export const JIT_MAP_ENTRIES = 32768; // (512 KiB, up to 0x6D0000)
// A record's first slot: (host * JIT_MAP_HASH_HOST + mode * JIT_MAP_HASH_MODE) (u32, wrapping) >>> 17, then the next
// ones (open addressing): cpu/jit.ts slot(), and the chain probe of compiled code (host/jit/translate.ts chainExit).
export const JIT_MAP_HASH_HOST = -1640531535; // 0x9E3779B1 as i32
export const JIT_MAP_HASH_MODE = -2048144789; // 0x85EBCA6B as i32
// A filter of the host addresses that have had a region since the last flush, one bit per address's low 20 bits
// (1M bits: 128 KiB, up to 0x6F0000): a decoded-cache fill whose bit is clear has no region, without a JIT_MAP
// lookup (cpu/jit.ts jitMark).
export const JIT_ENTRY_FILTER = 0x6d0000;
export const JIT_ENTRY_FILTER_BITS = 1 << 20;
// (after DOM0_EVTCHN) the state a region reads at entry and leaves at exit (JIO_* offsets)
export const JIT_IO = 0x3c40000;
export const JIO_IP = 0; // u64: RIP where the region stopped
export const JIO_LF_OP = 8; // i32: lazy flags (cpu/flags.ts) in and out
export const JIO_LF_SIZE = 12;
export const JIO_LF_A = 16; // u64
export const JIO_LF_B = 24;
export const JIO_LF_RES = 32;
export const JIO_EXIT = 40; // i32: JEXIT_* of the last exit
export const JIO_RTAG = 44; // i32: the TLB bank in use at entry (mmu/tlb.ts): read-tag array
export const JIO_WTAG = 48; // i32: write-tag array
export const JIO_HOST = 52; // i32: host page addresses
export const JIO_TAGBASE = 56; // u64: the tag bits of the current access mode (user | generation)
export const JIO_STATS = 64; // u64 counters: JSTAT_* x 8 bytes
export const JIO_XTAG = 248; // i32: the TLB bank's execute-tag array (a region chains into the next through it)
export const JSTAT_INSNS = 0; // instructions retired in compiled code
export const JSTAT_ENTRIES = 1; // region entries
export const JSTAT_REQUESTS = 2; // compile requests
// writes into code that compiled regions came from (each drops the page's regions)
export const JSTAT_INVALIDATIONS = 3;
export const JSTAT_STEPS = 4; // instructions retired by run() in both tiers (every vCPU)
export const JSTAT_CHAINS = 5; // branch exits that went straight into the next region (no return to the run loop)
export const JSTAT_EXIT0 = 8; // + JEXIT_*: exits by reason
export const JEXIT_BRANCH = 0; // a branch out of the region (another page, or a return)
export const JEXIT_UNSUPPORTED = 1; // an instruction the JIT does not translate (the interpreter runs it)
export const JEXIT_MEMORY = 2; // a memory access missed the TLB's fast path (fill, fault, code page, log-dirty)
export const JEXIT_BUDGET = 3; // the slice's instruction budget
export const JEXIT_SLOWFORM = 4; // a fast form's own escape (DIV overflow, non-canonical target ...)
// compile requests: i32 count at +0, then from +32 JIT_REQ_MAX records of 32 bytes (lin u64, host i32, gen u32, mode
// i32)
export const JIT_REQ = 0x3c41000;
export const JIT_REQ_MAX = 64;
// u32 per 4 KiB page of linear memory (1M pages: 4 MiB): bumped when code there is written
export const JIT_PAGEGEN = 0xc00000;
export const RESTORE_MAP = 0x700000; // restore: u32 new mfn per sender's mfn, for 4 GiB (hv/save.ts): 4 MiB
export const RESTORE_MAP_MAX = 0x100000;
// restore: the saved domain record then vCPU records (512 KiB), then the typed-frame list (512 KiB)
export const RESTORE_BLOBS = 0xb00000;
export const VCPU_TABLE = 0x2c00000; // MAX_VCPUS records of VCPU_SIZE bytes (assembly/domain/vcpu.ts): 16 MiB
export const VCPU_SIZE = 0x2000;
export const MAX_VCPUS = 2048;
export const EVTCHN_TABLE = 0x4000000; // per domain: EVTCHN_PORTS ports of 8 bytes (assembly/event/): 16 MiB
export const EVTCHN_PORTS = 1024;
export const EVTCHN_DOM_SIZE = 0x2000;
// Dom0 (the host) holds two ports per domain (console and xenstore) and its backends' ports: its
// table is its own, DOM0_EVTCHN_PORTS ports (all that its 2-level shared_info's 4096 bits can say).
export const DOM0_EVTCHN = 0x3c30000; // DOM0_EVTCHN_PORTS ports of 8 bytes: 32 KiB
export const DOM0_EVTCHN_PORTS = 4096;
// Log-dirty (live migration, mmu/logdirty.ts): one bit per machine frame number for all 4 GiB (1M
// frames: 128 KiB), then one byte per domain (1 = log-dirty on).
export const LOGDIRTY_BITMAP = 0x3c00000;
export const LOGDIRTY_BITMAP_SIZE = 0x20000;
export const LOGDIRTY_DOMS = 0x3c20000; // MAX_DOMAINS bytes (up to 0x3c20800)
// The JIT: the bytes of each 4 KiB page that compiled code was translated from, in 32-byte units (u8 lo, u8 hi
// exclusive; hi 0 = none): a write elsewhere in the page (data beside code) leaves its regions alone.
export const JIT_RANGE = 0x3d00000; // 2 MiB
// Each domain's frames are on a list of its own (Xen's d->page_list), so that destroying a domain costs
// what it owns, not a scan of the frame table: the forward link is the frame record's +12 (domain/frames.ts),
// the back link a u32 per frame here (4 MiB for all 4 GiB), the head in the domain record (D_PAGE_HEAD).
export const FRAME_PREV = 0x5200000;
export const MACHINE_BASE = 0x6000000; // first byte of machine memory given to guests (96 MiB)
export const WASM_PAGE = 65536;
