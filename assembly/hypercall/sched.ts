// sched_op, sched_op_compat, set_timer_op, vcpu_op.
import {
  current, currentDom, vcpu, domIs64, domU32, setDomU32, domExists, D_NR_VCPUS, D_VCPU0, D_PRIVILEGED,
  D_SHUTDOWN_CODE, V_FLAGS, VF_BLOCKED, VF_POLLING, VF_ONLINE, V_TIMER, V_PERIOD, V_PERIOD_NEXT,
  V_VCPU_INFO, V_RUNSTATE_VA, V_POLL_DEADLINE, V_RS_STATE, V_RS_ENTRY, V_RS_TIME, D_SHARED_INFO,
} from "../domain/domain";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, wrG32, wrG64, gOk, gReset } from "../hv/guest";
import { ldMarkHost } from "../mmu/logdirty";
import { domainShutdown } from "../hv/lifecycle";
import { logDom } from "../hv/log";
import { runstateWrite, runstateSync } from "../hv/time";
import { HVX_SHUTDOWN } from "../memmap";
import { yieldVcpu, requestHostExit, domNow, timersChanged, systemTime } from "../hv/clock";
import { D_WDOG_INUSE, D_WDOG_DEADLINE, NR_DOMAIN_WATCHDOG_TIMERS, setDomU64 } from "../domain/domain";
import { isPending } from "../event/evtchn";
import { frameOwner, mfnValid } from "../domain/frames";
import { getPageAndType, holdFrame, unholdFrame } from "../domain/mm";
import { vcpuInitialise } from "../hv/smp";
import { VF_INITIALISED } from "../domain/domain";

@inline function v(): i32 { return vcpu(current as u32); }

function block(): void {
  const vi = load<u64>(v() + V_VCPU_INFO) as i32;
  // Blocking re-enables event delivery, then sleeps unless something is already pending.
  store<u8>(vi + A.VI_MASK, 0);
  if (load<u8>(vi + A.VI_PENDING) != 0) return;
  store<u32>(v() + V_FLAGS, load<u32>(v() + V_FLAGS) | VF_BLOCKED);
  yieldVcpu();
}

function shutdown(reason: u32): i64 {
  if (reason > (A.SHUTDOWN_soft_reset as u32)) return -A.EINVAL;
  domainShutdown(currentDom, reason);
  requestHostExit(HVX_SHUTDOWN);
  return 0;
}

export function hcSchedOp(cmd: u64, p: u64): i64 {
  switch (cmd as i32) {
    case A.SCHEDOP_yield: yieldVcpu(); return 0;
    case A.SCHEDOP_block: block(); return 0;
    case A.SCHEDOP_shutdown: {
      gReset();
      const reason = rdG32(p);
      if (!gOk) return -A.EFAULT;
      return shutdown(reason);
    }
    case A.SCHEDOP_shutdown_code: {
      gReset();
      const code = rdG32(p);
      if (!gOk) return -A.EFAULT;
      setDomU32(currentDom, D_SHUTDOWN_CODE, code);
      return 0;
    }
    case A.SCHEDOP_poll: {
      // struct sched_poll { ports @0; nr_ports @8/@4; timeout @16/@8 }.
      const is64 = domIs64(currentDom);
      gReset();
      const ports = is64 ? rdG64(p) : rdG32(p) as u64;
      const n = rdG32(p + (is64 ? 8 : 4));
      const timeout = rdG64(p + (is64 ? 16 : 8));
      if (!gOk) return -A.EFAULT;
      if (n > 128) return -A.EINVAL;
      for (let i: u32 = 0; i < n; i++) {
        const port = rdG32(ports + ((i * 4) as u64));
        if (!gOk) return -A.EFAULT;
        if (port >= 1024) return -A.EINVAL;
        if (isPending(currentDom, port)) return 0;
      }
      store<u32>(v() + V_FLAGS, load<u32>(v() + V_FLAGS) | VF_POLLING);
      store<u64>(v() + V_POLL_DEADLINE, timeout);
      timersChanged();
      yieldVcpu();
      return 0;
    }
    case A.SCHEDOP_remote_shutdown: {
      if (domU32(currentDom, D_PRIVILEGED) == 0) return -A.EPERM;
      gReset();
      const dom = rdG16(p);
      const reason = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      if (!domExists(dom)) return -A.ESRCH;
      domainShutdown(dom, reason);
      requestHostExit(HVX_SHUTDOWN);
      return 0;
    }
    case A.SCHEDOP_watchdog: {
      // struct sched_watchdog { u32 id; u32 timeout; } (seconds), as Xen's domain_watchdog.
      gReset();
      const id = rdG32(p), timeout = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      return domainWatchdog(currentDom, id, timeout);
    }
    default: return -A.ENOSYS;
  }
}

// The old form: the argument is the value itself.
export function hcSchedOpCompat(cmd: u64, a: u64): i64 {
  switch (cmd as i32) {
    case A.SCHEDOP_yield: yieldVcpu(); return 0;
    case A.SCHEDOP_block: block(); return 0;
    case A.SCHEDOP_shutdown: return shutdown(a as u32);
    default: return -A.ENOSYS;
  }
}

// set_timer_op(timeout): absolute system time in ns; 0 cancels. 32-bit guests pass lo, hi.
export function hcSetTimerOp(a0: u64, a1: u64): i64 {
  const t = domIs64(currentDom) ? a0 : (a0 & 0xffffffff) | (a1 << 32);
  store<u64>(v() + V_TIMER, t == 0 ? 0 : (t < domNow(currentDom) ? domNow(currentDom) : t));
  timersChanged();
  return 0;
}

// Xen's domain_watchdog: id 0 takes a free watchdog (of 2) and sets it `timeout` seconds ahead, answering
// its id (1 or 2; -ENOSPC when both are in use); id N pokes watchdog N with a new timeout, or frees it
// with timeout 0 (-EINVAL when it is not in use, or N > 2). One that fires shuts the domain down with
// SHUTDOWN_watchdog (hv/sched.ts fireTimers). Not carried across save/restore (Linux's xen_wdt stops it
// on suspend and sets it again on resume).
function domainWatchdog(d: u32, id: u32, timeout: u32): i64 {
  const n = NR_DOMAIN_WATCHDOG_TIMERS as u32;
  if (id > n) return -A.EINVAL;
  let inuse = domU32(d, D_WDOG_INUSE);
  const at = systemTime() + (timeout as u64) * 1000000000;
  if (id == 0) {
    for (let k: u32 = 0; k < n; k++) {
      if ((inuse & (1 << k)) != 0) continue;
      setDomU32(d, D_WDOG_INUSE, inuse | (1 << k));
      setDomU64(d, D_WDOG_DEADLINE + k * 8, at);
      timersChanged();
      return (k + 1) as i64;
    }
    return -A.ENOSPC;
  }
  const k = id - 1;
  if ((inuse & (1 << k)) == 0) return -A.EINVAL;
  if (timeout == 0) setDomU32(d, D_WDOG_INUSE, inuse & ~(1 << k));
  else setDomU64(d, D_WDOG_DEADLINE + k * 8, at);
  timersChanged();
  return 0;
}

export function hcVcpuOp(cmd: u64, id: u64, p: u64): i64 {
  const d = currentDom;
  if (id >= (domU32(d, D_NR_VCPUS) as u64)) return -A.ENOENT;
  const tv = vcpu(domU32(d, D_VCPU0) + (id as u32));
  const is64 = domIs64(d);
  switch (cmd as i32) {
    // As Xen's common_vcpu_op: a vCPU comes up only once it has a context (-EINVAL), goes down
    // whenever asked, and when the last one online goes down the domain is powered off.
    case A.VCPUOP_initialise: return vcpuInitialise(id as u32, p);
    case A.VCPUOP_is_up: return (load<u32>(tv + V_FLAGS) & VF_ONLINE) != 0 ? 1 : 0;
    case A.VCPUOP_up: {
      const f = load<u32>(tv + V_FLAGS);
      if ((f & VF_INITIALISED) == 0) return -A.EINVAL;
      store<u32>(tv + V_FLAGS, f | VF_ONLINE);
      runstateSync(domU32(d, D_VCPU0) + (id as u32)); // offline -> runnable (Xen's vcpu_wake)
      return 0;
    }
    case A.VCPUOP_down: {
      const n = domU32(d, D_NR_VCPUS);
      let others = false;
      for (let k: u32 = 0; k < n; k++) {
        if (k != (id as u32) && (load<u32>(vcpu(domU32(d, D_VCPU0) + k) + V_FLAGS) & VF_ONLINE) != 0) {
          others = true; break;
        }
      }
      if (!others) {
        logDom(d, "its last online vCPU went down (VCPUOP_down): powered off");
        domainShutdown(d, A.SHUTDOWN_poweroff);
        requestHostExit(HVX_SHUTDOWN);
        return 0;
      }
      store<u32>(tv + V_FLAGS, load<u32>(tv + V_FLAGS) & ~VF_ONLINE);
      runstateSync(domU32(d, D_VCPU0) + (id as u32)); // another vCPU: offline now (the caller: when it stops)
      if (tv == v()) yieldVcpu();
      return 0;
    }
    // The single-shot timer is the calling vCPU's own (Xen: -EINVAL for another one).
    case A.VCPUOP_set_singleshot_timer: {
      if (tv != v()) return -A.EINVAL;
      gReset();
      const t = rdG64(p);
      const flags = rdG32(p + 8);
      if (!gOk) return -A.EFAULT;
      if ((flags & A.VCPU_SSHOTTMR_future) != 0 && t < domNow(currentDom)) return -A.ETIME_();
      store<u64>(tv + V_TIMER, t == 0 ? 1 : t);
      timersChanged();
      return 0;
    }
    case A.VCPUOP_stop_singleshot_timer: if (tv != v()) return -A.EINVAL; store<u64>(tv + V_TIMER, 0); timersChanged();
      return 0;
    case A.VCPUOP_set_periodic_timer: {
      gReset();
      const period = rdG64(p);
      if (!gOk) return -A.EFAULT;
      if (period < 1000000) return -A.EINVAL; // Xen's minimum: 1 ms
      store<u64>(tv + V_PERIOD, period);
      store<u64>(tv + V_PERIOD_NEXT, domNow(currentDom) + period);
      timersChanged();
      return 0;
    }
    case A.VCPUOP_stop_periodic_timer: store<u64>(tv + V_PERIOD, 0); timersChanged(); return 0;
    case A.VCPUOP_register_runstate_memory_area: {
      gReset();
      const va = is64 ? rdG64(p) : rdG32(p) as u64;
      if (!gOk) return -A.EFAULT;
      store<u64>(tv + V_RUNSTATE_VA, va);
      // Written at once, another vCPU's too (through the caller's page tables, as Xen's copy_to_guest):
      // Linux registers a secondary vCPU's area from the boot CPU before bringing it up.
      runstateWrite(domU32(d, D_VCPU0) + (id as u32));
      return 0;
    }
    case A.VCPUOP_register_vcpu_info: {
      // { u64 mfn; u32 offset; u32 rsvd }: the vcpu_info moves into a page of the guest's own.
      gReset();
      const mfn = rdG64(p);
      const off = rdG32(p + 8);
      if (!gOk) return -A.EFAULT;
      const size: u32 = is64 ? 64 : 48;
      if (off > 4096 - size || mfn > 0xfffff || !mfnValid(mfn) || frameOwner(mfn as u32) != d) return -A.EINVAL;
      // Held while registered, as Xen's map_guest_page (a reference and the writable type: -EINVAL if
      // typed otherwise): the hypervisor writes it at every event and time update, so it may not become
      // a page table, nor go back to the pool if the guest gives it back (decrease_reservation).
      if (!holdFrame(mfn as u32, d)) return -A.EINVAL;
      const oldVi = load<u64>(tv + V_VCPU_INFO) as i32;
      const nvi = ((mfn << 12) as i32) + (off as i32);
      // The new area starts as a copy of the old one (pending state and mask carry over).
      memory.copy(nvi, oldVi, size as i32);
      ldMarkHost(nvi); // (later event/time updates are not marked: hv_logdirty_always lists the frame)
      store<u64>(tv + V_VCPU_INFO, nvi as u32 as u64);
      // The frame registered before, unless it was shared_info's vcpu_info slot.
      if ((oldVi >>> 12) != (domU32(d, D_SHARED_INFO) >>> 12)) unholdFrame((oldVi >>> 12) as u32);
      return 0;
    }
    case A.VCPUOP_get_runstate_info: {
      // vcpu_runstate_info of vCPU `id`, as of now.
      const now = domNow(currentDom);
      const st = load<u32>(tv + V_RS_STATE);
      const w = is64 ? 8 : 4;
      gReset();
      wrG32(p, st);
      wrG64(p + w, load<u64>(tv + V_RS_ENTRY));
      for (let k = 0; k < 4; k++) {
        let t = load<u64>(tv + V_RS_TIME + k * 8);
        if (k == (st as i32) && load<u64>(tv + V_RS_ENTRY) != 0) t += now - load<u64>(tv + V_RS_ENTRY);
        wrG64(p + w + 8 + ((k * 8) as u64), t);
      }
      return gOk ? 0 : -A.EFAULT;
    }
    case A.VCPUOP_get_physid: return -A.EINVAL; // only the hardware domain's pinned vCPUs have one (Xen)
    default: return -A.ENOSYS;
  }
}

export { getPageAndType };
