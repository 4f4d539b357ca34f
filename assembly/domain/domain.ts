// Domains and vCPUs: fixed records in the hypervisor region (DOMAIN_TABLE, VCPU_TABLE), and the vCPU
// switch that moves a vCPU's architectural state in and out of the CPU's state block.
import { dbgRecompute } from "../cpu/debug";
import {
  DOMAIN_TABLE, DOMAIN_SIZE, MAX_DOMAINS, VCPU_TABLE, VCPU_SIZE, MAX_VCPUS, CPU_STATE, CPU_SAVE_SIZE, CPU_SAVE_HOLE, CPU_FXSAVE,
  CPU_RFLAGS, CPU_CPL, EVTCHN_TABLE, EVTCHN_DOM_SIZE, DOM0_EVTCHN, DOM0_EVTCHN_PORTS, EVTCHN_PORTS,
} from "../memmap";
import { setFlags, flagsSync } from "../cpu/flags";
import { setCpl, cpuStateChanged } from "../cpu/state";
import { trapFlagChanged } from "../cpu/control";
import { tlbSwitch } from "../mmu/tlb";

// ---- domain record (DOMAIN_SIZE bytes): D_* offsets, DS_* states, in ../records.ts (the host reads them too) ----
export * from "../records";
import { D_STATE, D_WIDTH, DS_FREE } from "../records";

@inline export function dom(d: u32): i32 { return DOMAIN_TABLE + (d as i32) * DOMAIN_SIZE; }
@inline export function domU32(d: u32, f: i32): u32 { return load<u32>(dom(d) + f); }
@inline export function setDomU32(d: u32, f: i32, v: u32): void { store<u32>(dom(d) + f, v); }
@inline export function domU64(d: u32, f: i32): u64 { return load<u64>(dom(d) + f); }
@inline export function setDomU64(d: u32, f: i32, v: u64): void { store<u64>(dom(d) + f, v); }
@inline export function domExists(d: u32): bool { return d < (MAX_DOMAINS as u32) && domU32(d, D_STATE) != DS_FREE; }
@inline export function domIs64(d: u32): bool { return domU32(d, D_WIDTH) == 64; }
@inline export function evtchnBase(d: u32): i32 { return d == 0 ? DOM0_EVTCHN : EVTCHN_TABLE + (d as i32) * EVTCHN_DOM_SIZE; }
// Ports domain `d` may have (dom0: DOM0_EVTCHN_PORTS, the others EVTCHN_PORTS) and its table's bytes.
@inline export function evtchnPorts(d: u32): u32 { return d == 0 ? (DOM0_EVTCHN_PORTS as u32) : (EVTCHN_PORTS as u32); }
@inline export function evtchnBytes(d: u32): i32 { return (evtchnPorts(d) as i32) << 3; }

// ---- vCPU record (VCPU_SIZE bytes) ----
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

@inline export function vcpu(i: u32): i32 { return VCPU_TABLE + (i as i32) * VCPU_SIZE; }

// The vCPU whose state is in the CPU's state block (-1: none).
export let current: i32 = -1;
export let currentDom: u32 = 0;

export function vcpuSave(): void {
  if (current < 0) return;
  flagsSync();
  const v = vcpu(current as u32);
  memory.copy(v, CPU_STATE, CPU_SAVE_HOLE);
  memory.copy(v + CPU_FXSAVE, CPU_STATE + CPU_FXSAVE, CPU_SAVE_SIZE - CPU_FXSAVE);
}

export function vcpuLoad(i: u32): void {
  if (current == (i as i32)) return;
  vcpuSave();
  memory.copy(CPU_STATE, vcpu(i), CPU_SAVE_HOLE);
  memory.copy(CPU_STATE + CPU_FXSAVE, vcpu(i) + CPU_FXSAVE, CPU_SAVE_SIZE - CPU_FXSAVE);
  current = i as i32;
  currentDom = load<u32>(vcpu(i) + V_DOMAIN);
  setFlags(load<u64>(CPU_STATE + CPU_RFLAGS));
  trapFlagChanged();
  setCpl(load<i32>(CPU_STATE + CPU_CPL));
  cpuStateChanged();
  // Its own TLB bank (mmu/tlb.ts): its translations are still there unless something was flushed.
  tlbSwitch(i as i32);
  dbgRecompute(); // its breakpoints (cpu/debug.ts)
}

// Forget the loaded vCPU without saving it (its domain is being destroyed).
export function vcpuDrop(): void { current = -1; }

// Allocate `n` consecutive free vCPU records; returns the first index or -1.
export function vcpuAlloc(n: u32, d: u32): i32 {
  let run: u32 = 0;
  for (let i: u32 = 0; i < (MAX_VCPUS as u32); i++) {
    if (load<u32>(vcpu(i) + V_FLAGS) == 0 && load<u32>(vcpu(i) + V_DOMAIN) == 0xffffffff) {
      run++;
      if (run == n) {
        const first = i + 1 - n;
        for (let k: u32 = 0; k < n; k++) {
          memory.fill(vcpu(first + k), 0, VCPU_SIZE);
          store<u32>(vcpu(first + k) + V_DOMAIN, d);
          store<u32>(vcpu(first + k) + V_ID, k);
        }
        return first as i32;
      }
    } else run = 0;
  }
  return -1;
}

export function vcpuFree(i: u32): void {
  memory.fill(vcpu(i), 0, VCPU_SIZE);
  store<u32>(vcpu(i) + V_DOMAIN, 0xffffffff);
  if (current == (i as i32)) current = -1;
}

export function domainsInit(): void {
  memory.fill(DOMAIN_TABLE, 0, MAX_DOMAINS * DOMAIN_SIZE);
  for (let i: u32 = 0; i < (MAX_VCPUS as u32); i++) vcpuFree(i);
  current = -1;
}
