// The core's performance counters (issue 14): how often the paths that cost time outside straight-line guest
// code ran (decoded-cache fills, TLB flushes and fills, page-table validations, page-table write emulations,
// bounces to the guest, kernel/user switches). Counted always (one add each, off the fast paths); read by
// the host with perf_counter(k) (tests/lib/perf.ts names them; bench/fork.ts --profile prints them per fork).
export const PERF_COUNTERS = 24;
const PERF: usize = memory.data(PERF_COUNTERS * 8, 8);

export const PC_DCACHE_FILL = 0; // decoded-instruction cache entries filled (decode misses)
export const PC_DCACHE_INVAL = 1; // dcacheInvalidate calls (writes to code pages)
export const PC_TLB_FLUSH_ALL = 2; // flushes of every translation
export const PC_TLB_FLUSH_PAGE = 3; // one-page flushes (INVLPG, update_va_mapping)
export const PC_TLB_FILL = 4; // TLB misses walked (tlbFill)
export const PC_MODE_SWITCH = 5; // 64-bit PV guests: kernel <-> user switches (toggleGuestMode)
export const PC_VALIDATE = 6; // page tables validated (a frame taking an L1..L4 type)
export const PC_DEVALIDATE = 7; // page tables devalidated (their last type reference gone)
export const PC_PTWR = 8; // page-table writes emulated (ptwr)
export const PC_BOUNCE = 9; // exceptions, interrupts and events bounced to a guest
export const PC_CODE_PAGE = 10; // pages newly marked as holding code (every bank's write tags dropped)
export const PC_FRAME_RELEASE = 11; // frames returned to the pool
export const PC_TLB_BANK_CLEAR = 12; // TLB banks cleared for use (a new generation or arrays filled)
export const PC_HYPERCALL = 13; // hypercalls (multicall entries included)

@inline export function perfInc(k: i32): void {
  const a = PERF + ((k as usize) << 3);
  store<u64>(a, load<u64>(a) + 1);
}
export function perfGet(k: i32): u64 { return k >= 0 && k < PERF_COUNTERS ? load<u64>(PERF + ((k as usize) << 3)) : 0; }
