// Machine frames: the allocator and the frame table (one FRAME_REC record per 4 KiB machine frame).
// Machine address == linear address; frames below MACHINE_BASE are the hypervisor's. Linear memory
// grows as the allocation high-water mark rises, so an idle machine costs no more than it uses.
//
// Frame record (FRAME_REC = 16 bytes):
//   +0 u16 owner domain id (DOMID_FREE = free, DOMID_XEN = the hypervisor's)
//   +2 u8  page type (PGT_*)   +3 u8 flags (PGF_*)
//   +4 u32 type count (validated uses of the type: pins and references from higher-level tables)
//   +8 u32 reference count (mappings of the frame and other holds)
//   +12 u32 next frame: in the free list while free (NO_FRAME ends it), in its owner's list while
//           owned (0 ends it)
// Each domain's frames are on a doubly linked list of its own (Xen's d->page_list): the head in the
// domain record (D_PAGE_HEAD, 0 = none), the forward link at +12, the back link in FRAME_PREV (0 for the
// head). Allocation and release are O(1) and destroying a domain walks what it owns (hv/lifecycle.ts)
// rather than the whole frame table (1024 small domains took 42 s to tear down that way).
import {
  FRAME_TABLE, FRAME_REC, FRAME_PREV, MACHINE_BASE, WASM_PAGE, M2P64_BASE, M2P32_BASE, DOMAIN_TABLE, DOMAIN_SIZE,
  MAX_DOMAINS
} from "../memmap";
import { D_CORE_REC_BYTES, D_CORE_FRAME_BYTES } from "./domain";
import { D_PAGE_HEAD } from "../records";
import { tlbFlushAll } from "../mmu/tlb";
import { perfInc, PC_FRAME_RELEASE } from "../perf";
import { ldFrameAlloc, ldFrameRelease } from "../mmu/logdirty";

export const DOMID_FREE: u32 = 0xffff;
export const DOMID_XEN: u32 = 0x7ff2;

export const PGT_NONE = 0;
export const PGT_L1 = 1;
export const PGT_L2 = 2;
export const PGT_L3 = 3;
export const PGT_L4 = 4;
export const PGT_SEG_DESC = 5; // GDT/LDT page
export const PGT_WRITABLE = 6;

export const PGF_PINNED = 1;
export const PGF_VALIDATED = 2;
export const PGF_VALIDATING = 4; // its entries are being checked: its type may not change
// Given back by its owner (decrease_reservation) while something still held it: Xen's _PGC_allocated
// cleared. It stays the owner's, counted in its pages and off the free list, until the last reference
// goes (domain/mm.ts putPage); then it returns to the pool.
export const PGF_GIVEN_BACK = 8;

export const FIRST_MFN: u32 = (MACHINE_BASE >>> 12) as u32;
const NO_FRAME: u32 = 0xffffffff;
const M2P_INVALID: u64 = 0xffffffffffffffff;

let maxMfn: u32 = FIRST_MFN; // one past the last frame that may ever be handed out
let hwm: u32 = FIRST_MFN; // frames below this have been handed out at least once
let freeHead: u32 = NO_FRAME;
let freeCount: u32 = 0;

@inline function rec(mfn: u32): i32 { return FRAME_TABLE + ((mfn as i32) << 4); }
@inline function prevSlot(mfn: u32): i32 { return FRAME_PREV + ((mfn as i32) << 2); }
@inline function headSlot(dom: u32): i32 { return DOMAIN_TABLE + (dom as i32) * DOMAIN_SIZE + D_PAGE_HEAD; }

// The owner's list: `mfn` (just given to `dom`) goes first; `mfn` (about to leave `dom`) is taken out.
function listAdd(dom: u32, mfn: u32): void {
  if (dom >= (MAX_DOMAINS as u32)) { store<u32>(rec(mfn), 0, 12); return; }
  const head = load<u32>(headSlot(dom));
  store<u32>(rec(mfn), head, 12);
  store<u32>(prevSlot(mfn), 0);
  if (head != 0) store<u32>(prevSlot(head), mfn);
  store<u32>(headSlot(dom), mfn);
}
function listDel(dom: u32, mfn: u32): void {
  if (dom >= (MAX_DOMAINS as u32)) return;
  const next = load<u32>(rec(mfn), 12), prev = load<u32>(prevSlot(mfn));
  if (prev != 0) store<u32>(rec(prev), next, 12); else store<u32>(headSlot(dom), next);
  if (next != 0) store<u32>(prevSlot(next), prev);
}
// The first frame on `dom`'s list and the one after `mfn` (0: the end).
export function domFirstFrame(dom: u32): u32 { return dom < (MAX_DOMAINS as u32) ? load<u32>(headSlot(dom)) : 0; }
@inline export function domNextFrame(mfn: u32): u32 { return load<u32>(rec(mfn), 12); }

// A domain's count of what the core set aside for it (D_CORE_*): one frame and its record, +1 or -1.
function countFrame(dom: u32, sign: i64): void {
  if (dom >= (MAX_DOMAINS as u32)) return;
  const d = DOMAIN_TABLE + (dom as i32) * DOMAIN_SIZE;
  store<u64>(d + D_CORE_FRAME_BYTES, (load<i64>(d + D_CORE_FRAME_BYTES) + sign * 4096) as u64);
  store<u64>(d + D_CORE_REC_BYTES, (load<i64>(d + D_CORE_REC_BYTES) + sign * (FRAME_REC as i64)) as u64);
}

@inline export function frameOwner(mfn: u32): u32 { return load<u16>(rec(mfn)); }
@inline export function frameType(mfn: u32): i32 { return load<u8>(rec(mfn), 2); }
@inline export function frameFlags(mfn: u32): i32 { return load<u8>(rec(mfn), 3); }
@inline export function frameTypeCount(mfn: u32): u32 { return load<u32>(rec(mfn), 4); }
@inline export function frameRefCount(mfn: u32): u32 { return load<u32>(rec(mfn), 8); }
@inline export function setFrameType(mfn: u32, t: i32): void { store<u8>(rec(mfn), t as u8, 2); }
@inline export function setFrameFlags(mfn: u32, f: i32): void { store<u8>(rec(mfn), f as u8, 3); }
@inline export function setFrameTypeCount(mfn: u32, c: u32): void { store<u32>(rec(mfn), c, 4); }
@inline export function setFrameRefCount(mfn: u32, c: u32): void { store<u32>(rec(mfn), c, 8); }

// Is `mfn` a guest frame that exists (handed out at least once and below the machine's end)?
@inline export function mfnValid(mfn: u64): bool { return mfn >= (FIRST_MFN as u64) && mfn < (hwm as u64); }

// Machine memory reaches the end of wasm32's 4 GiB but for its last 64 KiB (one wasm page): the core's
// host addresses are u32 (memmap.ts NO_HOST), and NO_HOST (0xFFFF_FFFF), the fault, must be no frame's
// byte; nor may `host + size` of an access wrap to 0. (Until 2026-12 host addresses were i32 with
// negative values meaning "fault", and machine memory ended at 2 GiB.)
export const FRAMES_LIMIT: u32 = 0xffff0; // mfn of the first byte of the last 64 KiB

// Set the size of machine memory (bytes of guest frames above MACHINE_BASE). Only grows.
export function framesInit(machineBytes: u32): void {
  let top = FIRST_MFN + (machineBytes >>> 12);
  if (top > FRAMES_LIMIT) top = FRAMES_LIMIT;
  if (top > maxMfn) maxMfn = top;
}

export function framesFree(): u32 { return freeCount + (maxMfn - hwm); }
export function framesTotal(): u32 { return maxMfn - FIRST_MFN; }
export function framesHighWater(): u32 { return hwm; }
// One past the last frame this machine may ever hand out (Xen's max_page).
export function framesTop(): u32 { return maxMfn; }

// Make sure linear memory covers frame `mfn`; false if memory cannot grow.
function ensureMapped(mfn: u32): bool {
  const need = ((mfn as u64) + 1) << 12;
  const have = (memory.size() as u64) * (WASM_PAGE as u64);
  if (need <= have) return true;
  const pages = ((need - have + (WASM_PAGE as u64) - 1) / (WASM_PAGE as u64)) as i32;
  // Grow in steps of at least 16 MiB or an eighth of the memory, to keep grow calls rare: each one is a
  // new ArrayBuffer for the host, whose runtime (V8) counts the growth as external memory and answers
  // with a full garbage collection (bench:density: 190 of them for 1024 domains of 3 MiB, 70% of the
  // startup time). Memory grown but not yet used costs address space, not RAM.
  const eighth = memory.size() >> 3;
  const min = eighth > 256 ? eighth : 256;
  // Near the runtime's limit (wasm32's 4 GiB, or less) the step is halved until it fits, rather than
  // growing by the bare need: 64 KiB grows, each with its collection, took 1300 domains 50 s.
  for (let step = pages < min ? min : pages; step > pages; step >>= 1) if (memory.grow(step) >= 0) return true;
  return memory.grow(pages) >= 0;
}

// Allocate one zeroed frame for `dom`; returns the mfn or NO_FRAME (0xffffffff) if none is left.
export function frameAlloc(dom: u32): u32 {
  let mfn: u32;
  let fresh = false;
  if (freeHead != NO_FRAME) {
    mfn = freeHead;
    freeHead = load<u32>(rec(mfn), 12);
    freeCount--;
  } else {
    if (hwm >= maxMfn) return NO_FRAME;
    if (!ensureMapped(hwm)) return NO_FRAME;
    mfn = hwm++;
    fresh = true; // never used since memory grew: already zero (and not touched: no page fault)
  }
  const r = rec(mfn);
  store<u16>(r, dom as u16);
  store<u8>(r, PGT_NONE, 2);
  store<u8>(r, 0, 3);
  store<u32>(r, 0, 4);
  store<u32>(r, 0, 8);
  listAdd(dom, mfn);
  if (!fresh) memory.fill(<usize>((mfn as u64) << 12), 0, 4096);
  m2pSet(mfn, M2P_INVALID);
  ldFrameAlloc(mfn, dom); // new contents: dirty if `dom` has log-dirty on
  countFrame(dom, 1);
  return mfn;
}

// Return a frame to the pool. The caller has dropped every use of it.
export function frameRelease(mfn: u32): void {
  perfInc(PC_FRAME_RELEASE);
  tlbFlushAll(); // no translation of it may outlive its ownership
  const r = rec(mfn);
  const owner = load<u16>(r) as u32;
  countFrame(owner, -1);
  listDel(owner, mfn);
  store<u16>(r, DOMID_FREE as u16);
  store<u8>(r, PGT_NONE, 2);
  store<u8>(r, 0, 3);
  store<u32>(r, 0, 4);
  store<u32>(r, 0, 8);
  store<u32>(r, freeHead, 12);
  freeHead = mfn;
  freeCount++;
  m2pSet(mfn, M2P_INVALID);
  ldFrameRelease(mfn); // (the flush above dropped its write tags)
}

// Frames owned by `dom` (a scan of the frame table: an accounting check independent of the lists).
export function framesOwnedBy(dom: u32): u32 {
  let n: u32 = 0;
  for (let m = FIRST_MFN; m < hwm; m++) if (frameOwner(m) == dom) n++;
  return n;
}

// Frames on `dom`'s list, or 0xffffffff if the list is broken (a frame on it not `dom`'s, a back link
// that does not match, or longer than the machine's frames: a cycle).
export function framesListed(dom: u32): u32 {
  let n: u32 = 0, prev: u32 = 0;
  for (let m = domFirstFrame(dom); m != 0; m = domNextFrame(m)) {
    if (!mfnValid(m as u64) || frameOwner(m) != dom || load<u32>(prevSlot(m)) != prev || n > maxMfn) return 0xffffffff;
    prev = m;
    n++;
  }
  return n;
}

// Machine-to-phys entries, kept in both widths.
export function m2pSet(mfn: u32, pfn: u64): void {
  store<u64>(M2P64_BASE + ((mfn as i32) << 3), pfn);
  store<u32>(M2P32_BASE + ((mfn as i32) << 2), pfn as u32);
}
@inline export function m2pGet(mfn: u32): u64 { return load<u64>(M2P64_BASE + ((mfn as i32) << 3)); }

export { NO_FRAME };
