// The JIT tier's side in the core: which code is hot, where compiled regions are, and when they are stale.
//
// A region is a WebAssembly function compiled by the host (host/jit/) from the fast forms (cpu/fast.ts)
// of the instructions on one 4 KiB page of code, reached from one entry instruction. It lives in the
// core's function table at a region index; `JIT_MAP` maps (host address of the entry, mode) to that
// index and to the page's generation when the region was compiled. The run loop (run.ts) meets a region
// as the F_JIT form of its entry instruction's decoded-cache entry (+44 generation, +52 table index).
//
// Heat: each decoded-cache entry that starts a block (the target or fall-through of a control transfer,
// or the instruction after one the general path ran) counts its visits at +60 (those of the last 32768 to 65536
// fills of the decoded cache: cpu/dcache.ts HEAT_WINDOW_SHIFT); at the threshold, its
// address joins the request queue (JIT_REQ), which the host compiles when run() ends (one module for the
// batch). Every write to a code page (dcacheInvalidate) moves that page's generation on: a region whose
// page changed is dropped when next entered, and a compile result for a page written meanwhile is refused.
import {
  JIT_MAP, JIT_MAP_ENTRIES, JIT_RANGE, JIT_IO, JIO_STATS, JSTAT_REQUESTS, JSTAT_INVALIDATIONS, JIT_REQ, JIT_REQ_MAX,
  JIT_PAGEGEN, JIT_ENTRY_FILTER, JIT_ENTRY_FILTER_BITS, JIT_MAP_HASH_HOST, JIT_MAP_HASH_MODE,
} from "../memmap";

import { dcacheFind, dcacheKey, dcacheSlot, DC_ENTRIES, dcFills, HEAT_WINDOW_SHIFT } from "./dcache";
import { pageGen, jitStat, jitPagesWritten } from "./jitpages";
export { pageGen, jitStat, jitPagesWritten };

@external("env", "jit_compile") declare function hostCompile(n: i32): i32;

export const F_JIT: u8 = 255; // the fast-form id of an entry instruction that has a region

export let jitMode: i32 = 0; // 0 off, 1 on, 2 force (threshold 0)
// Tests (the differential harnesses under force): the instruction a run() starts at counts as a block start,
// so code that only ever runs from a fresh run() (one case per run) is compiled too. Off otherwise: a run
// usually starts where the last slice's budget ran out, in the middle of a block.
export let jitEntries = false;
export function jitSetEntries(on: bool): void { jitEntries = on; }
export let jitThreshold: i32 = 0;
let regions: i32 = 0; // records in JIT_MAP


export function jitConfig(m: i32, threshold: i32): void {
  jitMode = m;
  jitThreshold = m == 2 ? 0 : threshold;
  jitFlush();
}

@inline function slot(host: i32, mode: i32): i32 {
  return ((((host as u32) * (JIT_MAP_HASH_HOST as u32)) + (mode as u32) * (JIT_MAP_HASH_MODE as u32)) >> 17) as i32
    & (JIT_MAP_ENTRIES - 1);
}

// The entry filter's bit of a region's host address (memmap.ts JIT_ENTRY_FILTER): set for every region installed
// since the last flush, never cleared before it (a stale bit only costs a lookup). The host address's low bits,
// whatever the mode: the decoded cache's fills (jitMark) come in runs of neighbouring instructions, which then read one
// line of the filter (512 bytes of code) where a hash of the address put each in a line of its own (a host
// cache miss per fill in bench:fork's profile).
@inline function filterBit(host: i32): u32 {
  return (host as u32) & (JIT_ENTRY_FILTER_BITS - 1);
}
@inline function filterHas(host: i32): bool {
  const b = filterBit(host);
  return ((load<u8>(JIT_ENTRY_FILTER + (b >>> 3)) as u32) & ((1 as u32) << (b & 7))) != 0;
}
function filterAdd(host: i32): void {
  const b = filterBit(host);
  const a = JIT_ENTRY_FILTER + (b >>> 3);
  store<u8>(a, (load<u8>(a) as u32) | ((1 as u32) << (b & 7)));
}

// The map record of (host, mode), or 0.
function find(host: i32, mode: i32): i32 {
  let i = slot(host, mode);
  for (let k = 0; k < JIT_MAP_ENTRIES; k++) {
    const r = JIT_MAP + (i << 4);
    const h = load<i32>(r);
    if (h == 0) return 0;
    if (h == host && load<i32>(r, 4) == mode) return r;
    i = (i + 1) & (JIT_MAP_ENTRIES - 1);
  }
  return 0;
}

// Forget every region (the host then reuses its table indices from the start).
export function jitFlush(): void {
  const had = regions;
  memory.fill(JIT_MAP, 0, JIT_MAP_ENTRIES << 4);
  memory.fill(JIT_ENTRY_FILTER, 0, JIT_ENTRY_FILTER_BITS >> 3);
  regions = 0;
  store<i32>(JIT_REQ, 0);
  memory.fill(JIT_RANGE, 0, 2 << 20);
  // Entries marked F_JIT go back to their own forms when next decoded. Only a map record marks one (jitMark), so
  // with none there is none, and a new core's jitConfig does not read the 8 MiB cache: 33 ms of first touches.
  if (had == 0) return;
  for (let i = 0; i < DC_ENTRIES; i++) {
    const e = dcacheSlot(i);
    if (load<u8>(e, 32) == F_JIT) store<i32>(e, 0);
  }
}


// A block-starting entry `e` (instruction at `lin`, host address `host`) was reached. (With force, the
// request is compiled at once and `e` is F_JIT when this returns.)
export function jitHeat(e: i32, lin: u64, host: i32, mode: i32): void {
  const now = (dcFills >>> HEAT_WINDOW_SHIFT) & 0xffff;
  let h = load<u16>(e, 60) as i32;
  if (h != 0 && ((now - (load<u16>(e, 62) as i32)) & 0xffff) > 1) h = 0; // visits from an older window
  if (h == 0) store<u16>(e, now as u16, 62);
  h++;
  if (h < jitThreshold) { store<u16>(e, h as u16, 60); return; }
  store<u16>(e, 0, 60);
  const r0 = find(host, mode);
  // compiled already (its entry was decoded again while the compile was in flight): the entry runs it from now on
  if (r0 != 0 && load<u32>(r0, 12) == pageGen(host)) { jitMark(e, host, mode); return; }
  const n = load<i32>(JIT_REQ);
  for (let i = 0; i < n; i++) if (load<i32>(JIT_REQ + 32 + (i << 5), 8) == host) return;
  if (n >= JIT_REQ_MAX) return; // the batch is full: it comes back when it is hot again
  const r = JIT_REQ + 32 + (n << 5);
  store<u64>(r, lin);
  store<i32>(r, host, 8);
  store<u32>(r, pageGen(host), 12);
  store<i32>(r, mode, 16);
  store<i32>(JIT_REQ, n + 1);
  jitStat(JSTAT_REQUESTS, 1);
  if (jitMode == 2) jitService(); // force: compiled before it runs, so that even code run once runs compiled
  else jitUrgent = true; // the run loop hands the queue over before its next instruction (see run.ts)
}

// A request joined the queue: the run loop calls jitService() between this instruction and the next,
// rather than when run() ends (up to a whole slice later: 5M instructions under xm). (Not from jitHeat
// itself: the host's discovery decodes into the decoded-instruction cache, whose entry of the
// instruction being run may share a slot.)
export let jitUrgent = false;
export function jitServiceNow(): void { jitUrgent = false; jitService(); }

// run() is ending: the host compiles the queued requests (still in this vCPU's context). A host whose
// background compiler is busy answers -1 and the queue stays (up to JIT_REQ_MAX; later requests wait
// until their entries are hot again).
export function jitService(): void {
  if (load<i32>(JIT_REQ) == 0) return;
  if (hostCompile(load<i32>(JIT_REQ)) >= 0) store<i32>(JIT_REQ, 0);
}

// The host compiled the region of (host, mode) into table index `idx`, from code of page generation
// `gen`. Returns false when the page was written since (the result is dropped) or the map is full.
// [lo, hi) are the page offsets of the bytes the region was translated from. idx -1 records that the
// entry has nothing the JIT translates (it is not requested again until its page is written).
export function jitInstall(host: i32, mode: i32, idx: i32, gen: u32, lo: i32, hi: i32): bool {
  if (pageGen(host) != gen) return false;
  if (idx < 0) { lo = host & 0xfff; hi = lo + 1; }
  jitReserve(host, lo, hi);
  if (regions >= (JIT_MAP_ENTRIES >> 1)) return false;
  let r = find(host, mode);
  if (r == 0) {
    let i = slot(host, mode);
    while (load<i32>(JIT_MAP + (i << 4)) != 0) i = (i + 1) & (JIT_MAP_ENTRIES - 1);
    r = JIT_MAP + (i << 4);
    regions++;
  }
  store<i32>(r, host);
  store<i32>(r, mode, 4);
  store<i32>(r, idx, 8);
  store<u32>(r, gen, 12);
  if (idx < 0) return true;
  filterAdd(host);
  // Its entry instruction's decoded-cache entry, if present, becomes F_JIT now.
  const e = dcacheFind(host, dcacheKey(host, mode));
  if (e != 0) jitMark(e, host, mode);
  return true;
}

export function jitRegions(): i32 { return regions; }

// Page offsets [lo, hi) of the page of `host` are code a region is (being) translated from: from now on a
// write there moves the page's generation on. The host calls this as soon as it has translated a region
// (still between slices), before a background compile: a write while the compile is in flight then makes
// the install refuse the region. (Marked only at install, a write to bytes no region had used yet went
// unnoticed, and a region of the old bytes was installed: Debian's Linux crashed loading a module into
// pages whose old contents had been compiled.)
export function jitReserve(host: i32, lo: i32, hi: i32): void {
  const rg = JIT_RANGE + ((host >>> 12) << 1);
  const l = lo >> 5, h = (hi + 31) >> 5; // 32-byte units
  const ol = load<u8>(rg) as i32, oh = load<u8>(rg, 1) as i32;
  store<u8>(rg, (oh == 0 || l < ol ? l : ol) as u8);
  store<u8>(rg, (oh == 0 || h > oh ? h : oh) as u8, 1);
}

// Whether (host, mode) has a region (or a record that it has nothing to compile) of its page's current generation.
export function jitCurrent(host: i32, mode: i32): bool {
  const r = find(host, mode);
  return r != 0 && load<u32>(r, 12) == pageGen(host);
}

// A decoded-cache entry was filled (or found) for (host, mode): mark it F_JIT if a current region starts there.
export function jitMark(e: i32, host: i32, mode: i32): void {
  if (regions == 0) return;
  // no region was translated from this part of the page (since it was last written): a region's entry instruction
  // is among the bytes it was translated from (jitReserve's 32-byte units [lo, hi), hi 0 for none)
  const rg = JIT_RANGE + ((host >>> 12) << 1);
  const u = (host & 0xfff) >> 5;
  if (u >= (load<u8>(rg, 1) as i32) || u < (load<u8>(rg) as i32)) return;
  // no region was installed for this entry (the filter's bit is clear): no lookup
  if (!filterHas(host)) return;
  const r = find(host, mode);
  if (r == 0) return;
  const gen = load<u32>(r, 12);
  if (gen != pageGen(host) || load<i32>(r, 8) < 0) return;
  store<u8>(e, F_JIT, 32);
  store<u32>(e, gen, 44);
  store<i32>(e, load<i32>(r, 8), 52);
}

// The F_JIT entry `e` is stale (its page was written): its region is forgotten.
export function jitDrop(host: i32, mode: i32): void {
  const r = find(host, mode);
  if (r != 0) store<u32>(r, pageGen(host) - 1, 12); // never current again (the page's generation only grows)
}
