// Log-dirty tracking (Xen's "shadow log-dirty", for live migration): the marking half. While a domain
// has log-dirty on, every write to a frame it owns sets the frame's bit in LOGDIRTY_BITMAP (one bit
// per machine frame number, so one bitmap serves every domain: a frame has one owner).
//
// The guest's own writes: the TLB (mmu/tlb.ts) installs a write tag for a frame of such a domain only
// when its bit is set already; the first write to a clean frame misses the write tag, takes the slow
// path (tlbFill for a write access) and is marked there. Clearing bits (hv/logdirty.ts) always flushes
// the TLB afterwards, so no write tag outlives its bit. The hypervisor's own writes call ldMark (through
// frameWritten and the page-table, grant and descriptor code); the page walker marks the page-table
// frames whose accessed/dirty bits it sets.
//
// Costs nothing measurable while no domain has log-dirty on: every hook tests `ldCount` first, and
// none of them is on the TLB-hit fast paths.
import { LOGDIRTY_BITMAP, LOGDIRTY_DOMS, FRAME_TABLE, MAX_DOMAINS } from "../memmap";

export const LD_FRAMES: u32 = 1 << 20; // the bitmap covers mfns 0 .. 2^20 - 1 (4 GiB)

// How many domains have log-dirty on (0: every hook returns at once).
export let ldCount: i32 = 0;
export function setLdCount(n: i32): void { ldCount = n; }

// The frame's owner, read from the frame table directly (domain/frames.ts imports this module).
@inline function owner(mfn: u32): u32 { return load<u16>(FRAME_TABLE + ((mfn as i32) << 4)); }
@inline export function ldOn(d: u32): bool {
  return d < (MAX_DOMAINS as u32) && load<u8>(LOGDIRTY_DOMS + (d as i32)) != 0;
}
@inline export function ldBitAddr(mfn: u32): i32 { return LOGDIRTY_BITMAP + ((mfn >>> 3) as i32); }
@inline export function ldBit(mfn: u32): u32 { return (1 as u32) << (mfn & 7); }
@inline export function ldTest(mfn: u32): bool { return ((load<u8>(ldBitAddr(mfn)) as u32) & ldBit(mfn)) != 0; }
@inline export function ldClear(mfn: u32): void {
  const a = ldBitAddr(mfn);
  store<u8>(a, (load<u8>(a) as u32) & ~ldBit(mfn));
}
@inline function ldSet(mfn: u32): void {
  const a = ldBitAddr(mfn);
  store<u8>(a, (load<u8>(a) as u32) | ldBit(mfn));
}

// Frame `mfn` was (or is about to be) written: set its bit if its owner has log-dirty on.
@inline export function ldMark(mfn: u32): void {
  if (ldCount != 0) ldMarkSlow(mfn);
}
function ldMarkSlow(mfn: u32): void {
  if (mfn >= LD_FRAMES || !ldOn(owner(mfn))) return;
  ldSet(mfn);
}
// The same for a host address in PV machine memory (machine address == linear address).
@inline export function ldMarkHost(h: i32): void {
  if (ldCount != 0) ldMarkSlow((h as u32) >>> 12);
}

// TLB fill (only called while ldCount != 0): a write access marks the frame; returns whether the
// TLB may hold a write tag for it (always, unless its owner has log-dirty on and it is still clean).
export function ldFill(mfn: u32, write: bool): bool {
  if (mfn >= LD_FRAMES || !ldOn(owner(mfn))) return true;
  if (write) { ldSet(mfn); return true; }
  return ldTest(mfn);
}

// A frame changes hands (frames.ts): allocated to `d` it starts dirty if `d` has log-dirty on (its
// contents are new); released it starts clean (a collect reports only frames the domain owns).
export function ldFrameAlloc(mfn: u32, d: u32): void {
  if (mfn >= LD_FRAMES) return;
  if (ldCount != 0 && ldOn(d)) ldSet(mfn); else ldClear(mfn);
}
export function ldFrameRelease(mfn: u32): void {
  if (mfn < LD_FRAMES) ldClear(mfn);
}
