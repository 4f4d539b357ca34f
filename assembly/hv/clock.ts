// The hypervisor's clock and the flags its run loop (hv/sched.ts, hvRun) polls: a leaf module, so the
// hypercalls, event channels and timers that read the time or ask for an exit need not import the
// scheduler.
import { hostTimeNs } from "../env";
import { domU64, D_TIME_OFFSET } from "../domain/domain";

// Why hvRun must return to the host (HVX_*; -1: no reason yet). The first request wins.
export let hostExit: i32 = -1;
export function requestHostExit(r: i32): void { if (hostExit < 0) hostExit = r; }
export function stopRequested(): bool { return hostExit >= 0; }

export let bootNs: u64 = 0;
export function systemTime(): u64 { return (hostTimeNs() as u64) - bootNs; }
// System time as domain `d` sees it (its offset survives save/restore across hosts).
@inline export function domTimeAt(d: u32, now: u64): u64 { return now + domU64(d, D_TIME_OFFSET); }
export function domNow(d: u32): u64 { return domTimeAt(d, systemTime()); }

// The current vCPU gives up the rest of its slice (hvRun clears it as the slice starts).
export let yieldNow: bool = false;
export function yieldVcpu(): void { yieldNow = true; }

// Set when a timer may have changed (a hypercall that sets one calls timersChanged): the scheduler's
// next pass scans the timers again.
export let timersDirty = true;
export function timersChanged(): void { timersDirty = true; }
