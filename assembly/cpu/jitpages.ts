// The JIT's per-page bookkeeping that the decoded-instruction cache needs too (dcache.ts calls
// jitPagesWritten on every write to code): a leaf module, so that dcache.ts and jit.ts do not import
// each other.
import { JIT_RANGE, JIT_IO, JIO_STATS, JSTAT_INVALIDATIONS, JIT_PAGEGEN } from "../memmap";

@inline export function pageGen(host: i32): u32 { return load<u32>(JIT_PAGEGEN + ((host >>> 12) << 2)); }

@inline export function jitStat(k: i32, v: u64): void {
  const a = JIT_IO + JIO_STATS + (k << 3);
  store<u64>(a, load<u64>(a) + v);
}

// Whether [host, host + size) (within one page) touches bytes that regions were translated from: a write
// there would move the page's generation on (jitPagesWritten).
export function jitRangeTouched(host: i32, size: i32): bool {
  const rg = JIT_RANGE + (((host as u32) >>> 12) << 1);
  const hi = load<u8>(rg, 1) as i32;
  const o = host & 0xfff;
  return hi != 0 && o + size > ((load<u8>(rg) as i32) << 5) && o < (hi << 5);
}

// Code at host addresses [host, host + size) was written.
// Regions of a page are dropped only when the write touches bytes they were translated from.
export function jitPagesWritten(host: i32, size: i32): void {
  // Unsigned: host addresses reach 4 GiB (memmap.ts NO_HOST), and the last 64 KiB are never a frame's.
  const h = host as u32;
  const end: u32 = h + (size as u32); // exclusive
  for (let p: u32 = h >>> 12; (p << 12) < end; p++) {
    const rg = JIT_RANGE + ((p as i32) << 1);
    const hi = load<u8>(rg, 1) as i32;
    if (hi == 0) continue;
    const lo = (load<u8>(rg) as i32) << 5;
    const pb: u32 = p << 12;
    const w0 = h > pb ? (h - pb) as i32 : 0;
    const w1 = end - pb < 0x1000 ? (end - pb) as i32 : 0x1000;
    if (w1 <= lo || w0 >= (hi << 5)) continue;
    const a = JIT_PAGEGEN + ((p as i32) << 2);
    store<u32>(a, load<u32>(a) + 1);
    store<u16>(rg, 0);
    jitStat(JSTAT_INVALIDATIONS, 1);
  }
}
