// The debug-register state that guest-memory accesses consult (cpu/debug.ts has the rest): which data
// breakpoints DR7 enables, whether a linear page holds one (the TLB gives such a page no tags, see
// tlbFill) and which of them an access matches. A module of its own so the TLB need not import
// cpu/debug.ts, which flushes the TLB when the data breakpoints change.
import { CPU_STATE, CPU_DR, CPU_DR7 } from "../memmap";

export let dbgData: bool = false; // an enabled data breakpoint (RW = 01 or 11)
// B0-B3 of the data breakpoints the current instruction's accesses matched (dbgStep clears it first).
export let dbgHits: u32 = 0;
export function dbgClearHits(): void { dbgHits = 0; }

@inline export function dr7(): u32 { return load<u64>(CPU_STATE + CPU_DR7) as u32; }
@inline export function dr(i: i32): u64 { return load<u64>(CPU_STATE + CPU_DR + (i << 3)); }
@inline export function enabled(d7: u32, i: i32): bool { return ((d7 >> ((i << 1) as u32)) & 3) != 0; }
@inline export function rwOf(d7: u32, i: i32): u32 { return (d7 >> ((16 + (i << 2)) as u32)) & 3; }
// Width of breakpoint i from its LEN field: 00 1, 01 2, 11 4, 10 8 bytes.
@inline export function bpWidth(d7: u32, i: i32): u64 {
  let raw = (d7 >> ((18 + (i << 2)) as u32)) & 3;
  if ((raw & 2) != 0) raw ^= 1;
  return (1 as u64) << (raw as u64);
}

// Does the linear page `vpn` hold an enabled data breakpoint? (An aligned breakpoint of at most 8
// bytes never spans two pages.)
export function dbgPage(vpn: u64): bool {
  const d7 = dr7();
  for (let i = 0; i < 4; i++) {
    if (!enabled(d7, i)) continue;
    const rw = rwOf(d7, i);
    if (rw == 0 || rw == 2) continue;
    if ((dr(i) >> 12) == vpn) return true;
  }
  return false;
}

// A data access of `size` bytes at `lin` (a write when `write`): note the breakpoints it matches.
export function dbgAccess(lin: u64, size: i32, write: bool): void {
  const d7 = dr7();
  for (let i = 0; i < 4; i++) {
    if (!enabled(d7, i)) continue;
    const rw = rwOf(d7, i);
    if (rw == 0 || rw == 2 || (rw == 1 && !write)) continue;
    const w = bpWidth(d7, i);
    const a = dr(i) & ~(w - 1);
    if (lin < a + w && a < lin + (size as u64)) dbgHits |= (1 << i) as u32;
  }
}
