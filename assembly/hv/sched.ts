// The hypervisor's run loop and scheduler: runs the vCPUs of all domains in instruction-count slices
// (round robin, so a spinning guest cannot starve the others), handles what the CPU hands over
// (hypercalls, faults to emulate or bounce, INT n), fires timers, delivers event upcalls, and returns
// to the host when it must act (console output, a shutdown, everyone idle) or the budget is spent.
import {
  CPU_STATE, CPU_INSNS, CPU_EXIT_VECTOR, CPU_EXIT_ERROR, CPU_EXIT_INFO, CPU_EXIT_KIND, MAX_DOMAINS,
  EXIT_BUDGET, EXIT_SYSCALL, EXIT_SYSENTER, EXIT_INTERCEPT, EXIT_UNHANDLED, EXIT_TRIPLE_FAULT, EXIT_HLT,
  EXIT_HOST, HVX_BUDGET, HVX_IDLE, HVX_OUTPUT, HVX_SHUTDOWN, HVX_NONE, EVENT_EXCEPTION, EVENT_INT, EVENT_INT3,
  EVENT_INTO, EVENT_INT1, EVENT_TRAP,
} from "../memmap";
import { run as cpuRun } from "../cpu/run";
import { cpl, rip, setRip, segSel, F_DF } from "../cpu/state";
import { getFlags, setFlags } from "../cpu/flags";
import { SEG_CS } from "../memmap";
import { hostTimeNs } from "../env";
import { hostExit, requestHostExit, bootNs, yieldNow, timersDirty } from "./clock";
import { tlbFlushAll } from "../mmu/tlb";
import {
  domU32, domU64, setDomU64, domIs64, vcpu, vcpuLoad, current, currentDom, D_STATE, DS_RUNNING, D_NR_VCPUS,
  D_VCPU0, D_PAUSE_COUNT, D_INSNS, D_CPU_NS, D_TIME_OFFSET, D_PASS, D_WIN_START, D_WIN_NS, D_WEIGHT, D_CAP, V_FLAGS,
  VF_ONLINE, VF_BLOCKED, VF_KERNEL, VF_POLLING, V_TIMER,
  V_PERIOD, V_PERIOD_NEXT, V_VCPU_INFO, V_CB_EVENT, V_CB_EVENT_CS, V_CB_SYSCALL, V_CB_SYSCALL32, V_CB_FLAGS, V_TRAPS,
  V_POLL_DEADLINE, V_CB_SYSENTER, V_CB_SYSENTER_CS,
} from "../domain/domain";
import { hypercallFromRegs } from "../hypercall/dispatch";
import { takeHcWork } from "../hypercall/args";
import {
  bounceTrap, bouncePageFault, bounce64, bounce32, guestKernelMode, upcallMaskAddr, nextBounceIsSysenter
} from "./bounce";
import { emulateGp, emulateUd, emulDbg } from "./emulate";
import { singleStep } from "../cpu/control";
import { dbgMergeDr6, DR6_BS } from "../cpu/debug";
import { ptwrFault } from "./ptwr";
import { loadSegments } from "./failsafe";
import { loadFreshSegments } from "./smp";
import {
  D_VCPU_RR, VF_FRESH, setDomU32, D_WDOG_INUSE, D_WDOG_DEADLINE, NR_DOMAIN_WATCHDOG_TIMERS
} from "../domain/domain";
import { SHUTDOWN_watchdog } from "../hypercall/abi";
import { domainCrash, domainShutdown } from "./lifecycle";
import { domTop } from "../domain/domain";
import { logDom } from "./log";
import { sendVirq } from "../event/evtchn";
import { updateVcpuTime, runstateSet, runstateOf, runstateSync } from "./time";
import { V_RS_STATE, V_RS_ENTRY } from "../domain/domain";
import {
  VI_PENDING, VI_MASK, VIRQ_TIMER, CALLBACKTYPE_syscall, CALLBACKTYPE_syscall32, CALLBACKTYPE_sysenter,
  CALLBACKF_mask_events
} from "../hypercall/abi";

export { HVX_BUDGET, HVX_IDLE, HVX_OUTPUT, HVX_SHUTDOWN, HVX_NONE };

export const SLICE = 100000; // instructions per vCPU turn
export function schedInit(): void { bootNs = hostTimeNs() as u64; rr = 0; }

let rr: u32 = 0; // round-robin cursor over vCPU table indexes
let idleNs: u64 = 0;
export function hvIdleNs(): u64 { return idleNs; }

@inline function runnableDom(d: u32): bool {
  return domU32(d, D_STATE) == DS_RUNNING && domU32(d, D_PAUSE_COUNT) == 0;
}

// The earliest deadline the last scan found (0 = none): until then, or until a timer is set (a
// hypercall that sets one calls timersChanged; the host's changes are covered by hvRun's entry), no
// scan is needed.
let timerNext: u64 = 0;
@inline function timers(now: u64): u64 {
  if (!timersDirty && (timerNext == 0 || now < timerNext)) return timerNext;
  timersDirty = false;
  timerNext = fireTimers(now);
  return timerNext;
}

// Fire expired timers; returns the earliest pending deadline (0 = none).
function fireTimers(now: u64): u64 {
  let next: u64 = 0;
  for (let d: u32 = 0; d < domTop; d++) {
    if (domU32(d, D_STATE) != DS_RUNNING) continue;
    const v0 = domU32(d, D_VCPU0), n = domU32(d, D_NR_VCPUS);
    const off = domU64(d, D_TIME_OFFSET);
    const dnow = now + off; // deadlines are in the domain's time; `next` goes back to ours
    // Its watchdogs (SCHEDOP_watchdog; deadlines in our time): one that fires shuts the domain down.
    const wd = domU32(d, D_WDOG_INUSE);
    if (wd != 0) {
      let fired = false;
      for (let k: u32 = 0; k < (NR_DOMAIN_WATCHDOG_TIMERS as u32); k++) {
        if ((wd & (1 << k)) == 0) continue;
        const at = domU64(d, D_WDOG_DEADLINE + k * 8);
        if (now >= at) { fired = true; logDom(d, "watchdog timer " + k.toString() + " fired"); break; }
        if (next == 0 || at < next) next = at;
      }
      if (fired) {
        setDomU32(d, D_WDOG_INUSE, 0);
        domainShutdown(d, SHUTDOWN_watchdog);
        requestHostExit(HVX_SHUTDOWN);
        continue;
      }
    }
    for (let i: u32 = 0; i < n; i++) {
      const v = vcpu(v0 + i);
      let t = load<u64>(v + V_TIMER);
      if (t != 0 && dnow >= t) { store<u64>(v + V_TIMER, 0); sendVirq(d, i, VIRQ_TIMER); t = 0; }
      const per = load<u64>(v + V_PERIOD);
      let pn = load<u64>(v + V_PERIOD_NEXT);
      if (per != 0) {
        if (dnow >= pn) {
          sendVirq(d, i, VIRQ_TIMER);
          pn = dnow + per;
          store<u64>(v + V_PERIOD_NEXT, pn);
        }
        if (next == 0 || pn - off < next) next = pn - off;
      }
      const pd = load<u64>(v + V_POLL_DEADLINE);
      if (pd != 0 && (load<u32>(v + V_FLAGS) & VF_POLLING) != 0) {
        if (dnow >= pd) {
          store<u32>(v + V_FLAGS, load<u32>(v + V_FLAGS) & ~(VF_POLLING | VF_BLOCKED));
          store<u64>(v + V_POLL_DEADLINE, 0);
          runstateSync(v0 + i);
        }
        else if (next == 0 || pd - off < next) next = pd - off;
      }
      if (t != 0 && (next == 0 || t - off < next)) next = t - off;
    }
  }
  return next;
}

// The credit scheduler: proportional share by weight (stride scheduling on CPU time: each domain's
// pass grows by the CPU ns it used * 256 / weight, the runnable domain with the smallest pass runs
// next), and caps (a capped domain runs at most cap% of each 100 ms window of host time).
const CAP_WINDOW: u64 = 100000000;
const CAP_MARGIN: u64 = 1000000;
let vtime: u64 = 0; // pass of the last domain scheduled
let capWait: u64 = 0; // earliest window end of a capped domain that wants to run (0: none)

function capped(d: u32, now: u64): bool {
  const cap = domU32(d, D_CAP);
  if (cap == 0) return false;
  let ws = domU64(d, D_WIN_START);
  if (now - ws >= CAP_WINDOW) { setDomU64(d, D_WIN_START, now); setDomU64(d, D_WIN_NS, 0); return false; }
  // One slice (< 1 ms) may still run after the check: keep that much in hand.
  if (domU64(d, D_WIN_NS) * 100 + 100 * CAP_MARGIN >= (cap as u64) * CAP_WINDOW) {
    const end = ws + CAP_WINDOW;
    if (capWait == 0 || end < capWait) capWait = end;
    return true;
  }
  return false;
}

// The next vCPU to run (-1: none).
function pick(now: u64): i32 {
  const top = domTop;
  let best: i32 = -1;
  let bestPass: u64 = <u64>-1;
  let bestDom: u32 = 0;
  capWait = 0;
  for (let k: u32 = 0; k < top; k++) {
    const d = (rr + k) % top;
    if (!runnableDom(d)) continue;
    const v0 = domU32(d, D_VCPU0), n = domU32(d, D_NR_VCPUS);
    // Its vCPUs take turns (round robin from the one after the vCPU it ran last): the domain's share
    // is split across those that are runnable; blocked and offline ones take none.
    let cand: i32 = -1;
    let start = domU32(d, D_VCPU_RR);
    if (start >= n) start = 0; // (a restored record's value is not trusted)
    for (let k2: u32 = 0; k2 < n; k2++) {
      let i = start + k2;
      if (i >= n) i -= n;
      const f = load<u32>(vcpu(v0 + i) + V_FLAGS);
      if ((f & VF_ONLINE) != 0 && (f & (VF_BLOCKED | VF_POLLING)) == 0) { cand = (v0 + i) as i32; break; }
    }
    if (cand < 0 || capped(d, now)) continue;
    // A domain that slept does not bank credit: it rejoins one slice behind the others.
    let pass = domU64(d, D_PASS);
    const floor = vtime > SLICE_PASS ? vtime - SLICE_PASS : 0;
    if (pass < floor) { pass = floor; setDomU64(d, D_PASS, pass); }
    if (pass < bestPass) { bestPass = pass; best = cand; bestDom = d; }
  }
  if (best >= 0) {
    vtime = bestPass;
    rr = (bestDom + 1) % top;
    const id = (best as u32) - domU32(bestDom, D_VCPU0) + 1;
    setDomU32(bestDom, D_VCPU_RR, id >= domU32(bestDom, D_NR_VCPUS) ? 0 : id);
  }
  return best;
}
const SLICE_PASS: u64 = 5000000 * 256 / 256; // ~5 ms of CPU at the default weight

// Charge `ns` of CPU to domain `d`.
function charge(d: u32, ns: u64): void {
  let w = domU32(d, D_WEIGHT);
  if (w == 0) w = 256;
  setDomU64(d, D_PASS, domU64(d, D_PASS) + ns * 256 / (w as u64));
  if (domU32(d, D_CAP) != 0) setDomU64(d, D_WIN_NS, domU64(d, D_WIN_NS) + ns);
}

// The runstate of a vCPU that stops running: blocked, offline, or runnable (preempted).
@inline function outState(i: u32): u32 { return runstateOf(i); }

// Deliver a pending event upcall to the loaded vCPU if its mask allows.
function maybeUpcall(): void {
  const vi = load<u64>(vcpu(current as u32) + V_VCPU_INFO) as i32;
  if (vi == 0 || load<u8>(vi + VI_PENDING) == 0 || load<u8>(vi + VI_MASK) != 0) return;
  const v = vcpu(current as u32);
  const cb = load<u64>(v + V_CB_EVENT);
  if (cb == 0) return; // no callback registered yet: the event stays pending
  if (domIs64(currentDom)) bounce64(cb, -1, true);
  else bounce32(cb, load<u16>(v + V_CB_EVENT_CS) as u32, -1, true);
}

export function hvRun(budget: i32): i32 {
  hostExit = -1;
  // The host may have changed guest memory or page tables since the last run: no bank is trusted;
  // nor the timer scan (domains created, restored or given a new time offset).
  tlbFlushAll();
  timersDirty = true;
  let left = budget;
  // One clock read per vCPU turn: the one that ends a turn also starts the next.
  let clock: u64 = hostTimeNs() as u64;
  while (left > 0 && hostExit < 0) {
    const now = clock - bootNs;
    const next = timers(now);
    const vi = pick(now);
    if (vi < 0) {
      if (current >= 0 && load<u32>(vcpu(current as u32) + V_RS_STATE) == 0)
        runstateSet(current as u32, outState(current as u32), now);
      let wake = next;
      if (capWait != 0 && (wake == 0 || capWait < wake)) wake = capWait;
      idleNs = wake == 0 ? 0 : (wake > now ? wake - now : 1);
      let any = false;
      for (let d: u32 = 0; d < domTop; d++) if (runnableDom(d)) { any = true; break; }
      return any ? HVX_IDLE : HVX_NONE;
    }
    if (current != vi) {
      if (current >= 0) runstateSet(current as u32, outState(current as u32), now);
      vcpuLoad(vi as u32);
      // As Xen's context switch: the data selectors are reloaded from the descriptor tables (a bad one
      // goes to the failsafe callback or crashes the domain). A vCPU's first run after
      // VCPUOP_initialise loads every selector of the context it was given (hv/smp.ts).
      const vf = load<u32>(vcpu(vi as u32) + V_FLAGS);
      if ((vf & VF_FRESH) != 0) { store<u32>(vcpu(vi as u32) + V_FLAGS, vf & ~VF_FRESH); loadFreshSegments(); }
      else loadSegments();
      if (domU32(currentDom, D_STATE) != DS_RUNNING) continue;
    }
    // RUNSTATE_running
    if (load<u32>(vcpu(vi as u32) + V_RS_STATE) != 0 || load<u64>(vcpu(vi as u32) + V_RS_ENTRY) == 0)
      runstateSet(vi as u32, 0, now);
    updateVcpuTime(now);
    maybeUpcall();
    if (hostExit >= 0) break;
    const d = currentDom;
    let slice = left < SLICE ? left : SLICE;
    yieldNow = false;
    // CPU time is charged per turn (the clock is read twice per turn, not per exit).
    const t0 = clock;
    while (slice > 0 && !yieldNow && hostExit < 0 && domU32(d, D_STATE) == DS_RUNNING) {
      const before = load<u64>(CPU_STATE + CPU_INSNS);
      const exit = cpuRun(slice);
      const ran = (load<u64>(CPU_STATE + CPU_INSNS) - before) as i32;
      const used = ran > 0 ? ran : 1;
      slice -= used;
      left -= used;
      setDomU64(d, D_INSNS, domU64(d, D_INSNS) + (ran as u64));
      if (exit == EXIT_BUDGET) break;
      handleExit(exit);
      // A long hypercall's work (batch entries) is charged to the slice, as instructions would be.
      const work = takeHcWork();
      if (work > 0) { slice -= work; left -= work; }
      // Events that arrived during the exit (e.g. a send to ourselves) are delivered right away.
      if (
        domU32(d, D_STATE) == DS_RUNNING && (load<u32>(vcpu(current as u32) + V_FLAGS) & (VF_BLOCKED | VF_POLLING)) == 0
      ) maybeUpcall();
      if ((load<u32>(vcpu(current as u32) + V_FLAGS) & (VF_BLOCKED | VF_POLLING)) != 0) break;
    }
    clock = hostTimeNs() as u64;
    const spent = clock - t0;
    setDomU64(d, D_CPU_NS, domU64(d, D_CPU_NS) + spent);
    charge(d, spent);
  }
  return hostExit >= 0 ? hostExit : HVX_BUDGET;
}

function handleExit(exit: i32): void {
  const d = currentDom;
  switch (exit) {
    case EXIT_SYSCALL: {
      if (domIs64(d)) {
        if ((load<u32>(vcpu(current as u32) + V_FLAGS) & VF_KERNEL) != 0) hypercallFromRegs();
        else {
          // From guest user mode: to the kernel's syscall callback (syscall32 from 32-bit user code),
          // DF cleared; no callback: #UD at the SYSCALL instruction.
          const v = vcpu(current as u32);
          const compat = segSel(SEG_CS) == 0xe023;
          const cb = load<u64>(v + (compat ? V_CB_SYSCALL32 : V_CB_SYSCALL));
          if (cb == 0) { setRip(rip() - 2); bounceTrap(6, -1); return; }
          setFlags(getFlags() & ~F_DF);
          const t = compat ? CALLBACKTYPE_syscall32 : CALLBACKTYPE_syscall;
          bounce64(cb, -1, (load<u32>(v + V_CB_FLAGS) & ((CALLBACKF_mask_events as u32) << (t as u32))) != 0);
        }
      } else bounceTrap(6, -1); // 32-bit guests: SYSCALL is not available (#UD)
      return;
    }
    case EXIT_SYSENTER: sysenter(); return;
    case EXIT_INTERCEPT: {
      const vec = load<i32>(CPU_STATE + CPU_EXIT_VECTOR);
      const err = load<i32>(CPU_STATE + CPU_EXIT_ERROR);
      const kind = load<i32>(CPU_STATE + CPU_EXIT_KIND);
      if (kind == EVENT_INT) { softInt(vec, 2); return; }
      if (kind == EVENT_INT3 || kind == EVENT_INTO) { softInt(vec, 1); return; }
      if (kind == EVENT_INT1 || kind == EVENT_TRAP) { bounceTrap(1, -1); return; }
      switch (vec) {
        case 13: if (!emulateGp()) bounceTrap(13, err as i64); else emulatedDebug(emulDbg); return;
        case 6: if (!emulateUd()) bounceTrap(6, -1); else emulatedDebug(0); return;
        case 14: {
          const cr2 = load<u64>(CPU_STATE + CPU_EXIT_INFO);
          if (ptwrFault(cr2, err)) return; // a kernel write to its own page table, emulated
          bouncePageFault(cr2, err);
          return;
        }
        default: bounceTrap(vec, err < 0 ? -1 : err as i64); return;
      }
    }
    case EXIT_UNHANDLED: case EXIT_TRIPLE_FAULT: domainCrash(d, "unhandled CPU exception"); return;
    case EXIT_HLT: return; // cannot happen at CPL > 0
    case EXIT_HOST: requestHostExit(HVX_OUTPUT); return;
    default: domainCrash(d, "unexpected CPU exit"); return;
  }
}

// After an instruction the hypervisor emulated: the #DB it raises (I/O breakpoints `bits`, and BS
// when the guest single-steps), a trap with RIP after the instruction, as Xen's emulator raises it.
function emulatedDebug(bits: u32): void {
  if (singleStep) bits |= DR6_BS;
  if (bits == 0) return;
  dbgMergeDr6(bits);
  bounceTrap(1, -1);
}

// SYSENTER from guest user code, as Xen takes it: to the sysenter callback (callback_op
// CALLBACKTYPE_sysenter; events masked if it was registered with CALLBACKF_mask_events), or #GP(0)
// when there is none; either way with Xen's sysenter frame (RIP/RSP 0, CS 3: see bounce.ts).
function sysenter(): void {
  const v = vcpu(current as u32);
  const cb = load<u64>(v + V_CB_SYSENTER);
  nextBounceIsSysenter();
  if (cb == 0) { bounceTrap(13, 0); return; }
  const mask = (load<u32>(v + V_CB_FLAGS) & ((CALLBACKF_mask_events as u32) << (CALLBACKTYPE_sysenter as u32))) != 0;
  if (domIs64(currentDom)) bounce64(cb, -1, mask);
  else bounce32(cb, load<u16>(v + V_CB_SYSENTER_CS) as u32, -1, mask);
}

// INT n / INT3 / INTO from the guest: 32-bit kernels' INT $0x82 is a hypercall; others go through
// the trap table if its DPL allows the caller's privilege, else #GP(vector*8+2).
function softInt(vec: i32, len: i32): void {
  const d = currentDom;
  if (!domIs64(d) && vec == 0x82 && cpl() == 1) { hypercallFromRegs(); return; }
  const t = vcpu(current as u32) + V_TRAPS + (vec << 4);
  const dpl = (load<u8>(t, 10) & 3) as i32;
  const callerPl = guestKernelMode() ? (domIs64(d) ? 0 : 1) : 3;
  if (load<u64>(t) == 0 || dpl < callerPl) {
    // The fault is on the INT instruction: RIP goes back to it (INT n is 2 bytes, INT3/INTO 1).
    setRip(rip() - (len as u64));
    bounceTrap(13, ((vec << 3) | 2) as i64);
    return;
  }
  bounceTrap(vec, -1);
}

export { logDom, rip };
