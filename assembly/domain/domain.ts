// Domains and vCPUs: fixed records in the hypervisor region (DOMAIN_TABLE, VCPU_TABLE), and the vCPU
// switch that moves a vCPU's architectural state in and out of the CPU's state block.
import { dbgRecompute } from "../cpu/debug";
import {
  DOMAIN_TABLE, DOMAIN_SIZE, MAX_DOMAINS, VCPU_TABLE, VCPU_SIZE, MAX_VCPUS, CPU_STATE, CPU_SAVE_SIZE, CPU_SAVE_HOLE,
  CPU_FXSAVE,
  CPU_RFLAGS, CPU_CPL, EVTCHN_TABLE, EVTCHN_DOM_SIZE, DOM0_EVTCHN, DOM0_EVTCHN_PORTS, EVTCHN_PORTS,
} from "../memmap";
import { setFlags, flagsSync } from "../cpu/flags";
import { setCpl, cpuStateChanged } from "../cpu/state";
import { trapFlagChanged } from "../cpu/control";
import { tlbSwitch } from "../mmu/tlb";

// ---- domain record (DOMAIN_SIZE bytes): D_* offsets, DS_* states, in ../records.ts (the host reads them too) ----
export * from "../records";
import { D_STATE, D_WIDTH, DS_FREE, V_DOMAIN, V_FLAGS, VF_KERNEL } from "../records";

@inline export function dom(d: u32): i32 { return DOMAIN_TABLE + (d as i32) * DOMAIN_SIZE; }
@inline export function domU32(d: u32, f: i32): u32 { return load<u32>(dom(d) + f); }
@inline export function setDomU32(d: u32, f: i32, v: u32): void { store<u32>(dom(d) + f, v); }
@inline export function domU64(d: u32, f: i32): u64 { return load<u64>(dom(d) + f); }
@inline export function setDomU64(d: u32, f: i32, v: u64): void { store<u64>(dom(d) + f, v); }
@inline export function domExists(d: u32): bool { return d < (MAX_DOMAINS as u32) && domU32(d, D_STATE) != DS_FREE; }
@inline export function domIs64(d: u32): bool { return domU32(d, D_WIDTH) == 64; }
@inline export function evtchnBase(d: u32): i32 {
  return d == 0 ? DOM0_EVTCHN : EVTCHN_TABLE + (d as i32) * EVTCHN_DOM_SIZE;
}
// Ports domain `d` may have (dom0: DOM0_EVTCHN_PORTS, the others EVTCHN_PORTS) and its table's bytes.
@inline export function evtchnPorts(d: u32): u32 { return d == 0 ? (DOM0_EVTCHN_PORTS as u32) : (EVTCHN_PORTS as u32); }
@inline export function evtchnBytes(d: u32): i32 { return (evtchnPorts(d) as i32) << 3; }

// One past the highest domain id in use: the scheduler's loops stop there.
export let domTop: u32 = 0;

// ---- vCPU record (VCPU_SIZE bytes): V_* offsets, VF_* flags, in ../records.ts (the host reads them too) ----
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
  tlbSwitch(vcpuTlbKey(i));
  dbgRecompute(); // its breakpoints (cpu/debug.ts)
}

// The TLB bank key of vCPU `i` (mmu/tlb.ts tlbSwitch): a 64-bit PV guest's kernel and user mode run on
// different page tables (V_CR3_KERNEL, V_CR3_USER), and each keeps its translations in a bank of its own, as
// Xen with PCIDs gives guest kernel and user mode a PCID each, so that a switch between them (every system
// call, exception and interrupt from user mode, and the return) flushes nothing (hv/bounce.ts toggleGuestMode).
export function vcpuTlbKey(i: u32): i32 {
  const v = vcpu(i);
  const user = domIs64(load<u32>(v + V_DOMAIN)) && (load<u32>(v + V_FLAGS) & VF_KERNEL) == 0;
  return ((i << 1) | (user ? 1 : 0)) as i32;
}

// Forget the loaded vCPU without saving it (its domain is being destroyed).
export function vcpuDrop(): void { current = -1; }

// vCPU records from here on were never handed out: zero, and free (not touched: a fresh machine's domainsInit
// does not write 16 MiB of records, 4096 first-touch page faults at start-up).
let vcpuHwm: u32 = 0;

// Allocate `n` consecutive free vCPU records; returns the first index or -1.
export function vcpuAlloc(n: u32, d: u32): i32 {
  let run: u32 = 0;
  for (let i: u32 = 0; i < (MAX_VCPUS as u32); i++) {
    if (i >= vcpuHwm || (load<u32>(vcpu(i) + V_FLAGS) == 0 && load<u32>(vcpu(i) + V_DOMAIN) == 0xffffffff)) {
      run++;
      if (run == n) {
        const first = i + 1 - n;
        if (first + n > vcpuHwm) vcpuHwm = first + n;
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
  for (let i: u32 = 0; i < vcpuHwm; i++) vcpuFree(i);
  current = -1;
}
