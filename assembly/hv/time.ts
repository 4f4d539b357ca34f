// Virtual time: the guest TSC runs at 1 GHz (the host's monotonic nanoseconds plus the vCPU's TSC
// offset, which is 0 for PV guests), and vcpu_time_info tells the guest how to turn it into system
// time (nanoseconds since the hypervisor started): system_time + ((tsc - tsc_timestamp) << 1) *
// 0x80000000 >> 32. The wall clock in shared_info is the host's wall time at system time 0.
import { hostTimeNs } from "../env";
import {
  current, currentDom, vcpu, domIs64, domU32, domU64, D_SHARED_INFO, V_VCPU_INFO, D_TIME_OFFSET
} from "../domain/domain";
import { CPU_STATE, CPU_TSC_OFFSET } from "../memmap";
import { W64_VI_TIME, W32_VI_TIME, W64_SI_WC_VERSION, W32_SI_WC_VERSION } from "../hypercall/abi";
import { bootNs } from "./clock";

export let wallSec: u64 = 0;
export let wallNsec: u32 = 0;
export function setWallclock(sec: u64, nsec: u32): void { wallSec = sec; wallNsec = nsec; }

export function updateVcpuTime(now: u64): void {
  const vi = load<u64>(vcpu(current as u32) + V_VCPU_INFO) as i32;
  if (vi == 0) return;
  const t = vi + (domIs64(currentDom) ? W64_VI_TIME : W32_VI_TIME);
  const ver = load<u32>(t);
  store<u32>(t, (ver | 1) + 0); // odd: update in progress
  // The guest's TSC is the host's nanoseconds plus the vCPU's TSC offset; its system time is ours plus
  // the domain's offset.
  const tsc = now + bootNs + load<u64>(CPU_STATE + CPU_TSC_OFFSET);
  store<u64>(t + 8, tsc);
  store<u64>(t + 16, now + domU64(currentDom, D_TIME_OFFSET));
  store<u32>(t + 24, 0x80000000);
  store<i8>(t + 28, 1);
  store<u8>(t + 29, 1); // XEN_PVCLOCK_TSC_STABLE_BIT
  store<u32>(t, (ver | 1) + 1);
}

// Write the wall clock into a domain's shared_info (at domain build, on settime, and when its time
// offset is set: a restored domain's clock goes on from where it was saved, so the wall time at its
// system time 0 is earlier by that offset and wc + system time stays the real wall time).
export function updateWallclock(d: u32): void {
  const si = domU32(d, D_SHARED_INFO) as i32;
  if (si == 0) return;
  const total = wallSec * 1000000000 + (wallNsec as u64) - domU64(d, D_TIME_OFFSET);
  const sec = total / 1000000000, nsec = (total % 1000000000) as u32;
  const w = si + (domIs64(d) ? W64_SI_WC_VERSION : W32_SI_WC_VERSION);
  const ver = load<u32>(w);
  store<u32>(w, ver + 1);
  store<u32>(w + 4, sec as u32);
  store<u32>(w + 8, nsec);
  if (domIs64(d)) store<u32>(w + 12, (sec >> 32) as u32);
  else store<u32>(si + 1828, (sec >> 32) as u32);
  store<u32>(w, ver + 2);
}

export { hostTimeNs };

// ---- runstate accounting (vcpu_runstate_info: state @0, state_entry_time @8/@4, time[4] @16/@12) ----
import {
  V_RS_STATE, V_RS_ENTRY, V_RS_TIME, V_RUNSTATE_VA, V_FLAGS, VF_ONLINE, VF_BLOCKED, VF_POLLING
} from "../domain/domain";
import { guestAddr, NO_HOST } from "./guest";
import { systemTime } from "./clock";

// The runstate vCPU `i`'s flags call for when it is not the one running: offline (down), blocked
// (SCHEDOP_block/poll) or runnable (waiting for its turn).
export function runstateOf(i: u32): u32 {
  const f = load<u32>(vcpu(i) + V_FLAGS);
  if ((f & VF_ONLINE) == 0) return 3;
  if ((f & (VF_BLOCKED | VF_POLLING)) != 0) return 2;
  return 1;
}

// A vCPU's flags changed outside the scheduler's switch (woken by an event or a poll's timeout, taken
// down or brought up by another vCPU, initialised online): its runstate follows at once, as Xen's
// vcpu_wake and vcpu_sleep_nosync change it (blocked -> runnable, runnable -> offline...). The vCPU
// that is running keeps RUNSTATE_running until the scheduler switches away from it (hv/sched.ts).
// The clock is read only when the state changes. As in Xen, the guest's registered area is not
// written here (this may run outside a vCPU's turn, from the host): it is when the vCPU is switched in.
export function runstateSync(i: u32): void {
  const st = load<u32>(vcpu(i) + V_RS_STATE);
  if (current == (i as i32) && st == 0) return;
  const want = runstateOf(i);
  if (want != st) runstateMove(i, want, systemTime());
}

// Move vCPU `i` (table index) to runstate `st` at time `now`; when it is the loaded vCPU, its
// registered runstate area is written (through its own page tables).
export function runstateSet(i: u32, st: u32, hostNow: u64): void {
  runstateMove(i, st, hostNow);
  if (current == (i as i32)) runstateWrite(i);
}

// The accounting alone: the time in the old state added up, the new one entered at `hostNow`.
function runstateMove(i: u32, st: u32, hostNow: u64): void {
  const v = vcpu(i);
  const now = hostNow + domU64(load<u32>(v + 0x800), D_TIME_OFFSET);
  const old = load<u32>(v + V_RS_STATE);
  const entry = load<u64>(v + V_RS_ENTRY);
  if (entry != 0 && old < 4 && now > entry)
    store<u64>(v + V_RS_TIME + ((old as i32) << 3), load<u64>(v + V_RS_TIME + ((old as i32) << 3)) + (now - entry));
  store<u32>(v + V_RS_STATE, st);
  store<u64>(v + V_RS_ENTRY, now);
}

export function runstateWrite(i: u32): void {
  const v = vcpu(i);
  const va = load<u64>(v + V_RUNSTATE_VA);
  if (va == 0) return;
  const w64 = domIs64(load<u32>(v + 0x800));
  const size = w64 ? 48 : 44;
  const h = guestAddr(va, size, true);
  if (h == NO_HOST) return; // not mapped (now): the guest's problem, as on Xen
  store<u32>(h, load<u32>(v + V_RS_STATE));
  const t = w64 ? 8 : 4;
  store<u64>(h + t, load<u64>(v + V_RS_ENTRY));
  for (let k = 0; k < 4; k++) store<u64>(h + t + 8 + k * 8, load<u64>(v + V_RS_TIME + k * 8));
}
