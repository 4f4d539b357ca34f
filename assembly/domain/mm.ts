// Page-table safety as Xen does it for PV guests: every machine frame has an owner, a type (L1..L4
// page table, segment descriptors, writable) with a type count, and a reference count. A frame can be
// used as a page table of level N only while no writable mapping of it exists (its type is then LN);
// a frame can be mapped writable only while it is not a page table or descriptor page. Page tables are
// validated when their type is first taken (each present entry takes a reference on what it maps, and
// a type reference for tables below it) and devalidated when the last type reference goes. A guest can
// map only frames it owns (grant mappings: issue 3, later step), never the hypervisor's.
//
// Errors are returned as negative Xen errno values (hypercall/abi.ts); nothing is half-applied: an
// entry is written only after everything it needs was taken.
import { CODEMAP_BASE } from "../memmap";
import {
  frameOwner, frameType, frameFlags, frameTypeCount, frameRefCount, setFrameType, setFrameFlags,
  setFrameTypeCount, setFrameRefCount, mfnValid, PGT_NONE, PGT_L1, PGT_L2, PGT_L3, PGT_L4, PGT_SEG_DESC,
  PGT_WRITABLE, PGF_VALIDATED, PGF_PINNED, PGF_VALIDATING, PGF_GIVEN_BACK, frameRelease,
} from "./frames";
import { EINVAL, EPERM, EBUSY, ENOMEM } from "../hypercall/abi";
import { tlbFlushAll } from "../mmu/tlb";
import { perfInc, PC_VALIDATE, PC_DEVALIDATE } from "../perf";
import { dcacheInvalidate } from "../cpu/dcache";
import { XEN_M2P64_L3, XEN_M2P32_L2E0, XEN_M2P32_L2E1 } from "./xenmap";
import { ldMark } from "../mmu/logdirty";
import { frameAlloc, NO_FRAME } from "./frames";
import { domU32, setDomU32, D_TOT_PAGES, D_MAX_PAGES } from "./domain";

export const PTE_P: u64 = 1;
export const PTE_RW: u64 = 2;
export const PTE_US: u64 = 4;
export const PTE_A: u64 = 0x20;
export const PTE_D: u64 = 0x40;
export const PTE_PS: u64 = 0x80;
export const PTE_G: u64 = 0x100;
export const PTE_NX: u64 = 1 << 63;
const ADDR: u64 = 0x000ffffffffff000;

// Bits a guest may not set, per level (beyond the address), as Xen: cache attributes (PWT, PCD,
// PAT) in L1 entries; PWT, PCD, PS (no superpages) and G above. 32-bit PAE L3 entries keep only P,
// PWT, PCD and the available bits when stored: the CPU runs 32-bit PV guests with legacy PAE paging,
// where the PDPTE's other bits are reserved.
const L1_DISALLOW: u64 = 0x98;
const UPPER_DISALLOW: u64 = 0x198;
const PAE_L3_KEEP: u64 = 0x000ffffffffff000 | 0xe19;
const PAE_L3_DISALLOW: u64 = 0x198 | 0xfff0000000000000;
const GUEST_KERNEL_BIT: u64 = (1 as u64) << 52;

// 64-bit guests: L4 slots 256..271 belong to the hypervisor (slot 256 maps the M2P table read-only).
export const XEN_L4_FIRST = 256;
export const XEN_L4_LAST = 271;
// 32-bit PAE guests: in the L2 mapped by L3 slot 3, entries from 0xF5800000 up belong to the hypervisor.
export const XEN_PAE_L2_FIRST = 0x1ac;

@inline export function entryMfn(e: u64): u32 { return ((e & ADDR) >> 12) as u32; }

// ---- references ----

// Take a reference on `mfn` for domain `d`: the frame must exist and belong to `d`.
export function getPage(mfn: u32, d: u32): bool {
  if (!mfnValid(mfn as u64) || frameOwner(mfn) != d) return false;
  const c = frameRefCount(mfn);
  if (c == 0xffffffff) return false;
  setFrameRefCount(mfn, c + 1);
  return true;
}
export function putPage(mfn: u32): void {
  const c = frameRefCount(mfn);
  if (c > 0) setFrameRefCount(mfn, c - 1);
  if (c == 1 && (frameFlags(mfn) & PGF_GIVEN_BACK) != 0) freeGivenBack(mfn);
}

// A frame its owner gave back, now that nothing holds it: to the pool, and out of the owner's pages
// (Xen's free_domheap_page at the last put_page: tot_pages falls only then).
function freeGivenBack(mfn: u32): void {
  if (frameTypeCount(mfn) != 0 || frameRefCount(mfn) != 0) return;
  const d = frameOwner(mfn);
  frameRelease(mfn);
  setDomU32(d, D_TOT_PAGES, domU32(d, D_TOT_PAGES) - 1);
}

// The owner's allocation of `mfn` goes (Xen's guest_remove_page for a PV domain: _PGC_allocated
// cleared, its reference put): the frame returns to the pool now if nothing else holds it, otherwise
// when the last reference goes (a grant mapping, a page-table entry, a pin, a hypervisor hold), so
// whoever maps it keeps a valid frame until it unmaps and the frame is handed to no one meanwhile.
// Returns false if it had been given back already (nothing changes then).
export function giveBackFrame(mfn: u32): bool {
  if ((frameFlags(mfn) & PGF_GIVEN_BACK) != 0) return false;
  setFrameFlags(mfn, frameFlags(mfn) | PGF_GIVEN_BACK);
  freeGivenBack(mfn);
  return true;
}

// Drop a reference the hypervisor held on a frame it allocated for its owner (a grant status frame),
// and the allocation with it.
export function releaseHeldFrame(mfn: u32): void {
  setFrameFlags(mfn, frameFlags(mfn) | PGF_GIVEN_BACK);
  putPage(mfn);
}

// Take a type reference: the frame's type becomes `t` if it has none in use; page tables are
// validated on their first type reference. Returns 0 or -errno.
export function getPageType(mfn: u32, t: i32, d: u32, is64: bool): i32 {
  const tc = frameTypeCount(mfn);
  const cur = frameType(mfn);
  if (tc == 0) {
    // A table being validated cannot change type under its own validation (e.g. an L1 that maps
    // itself writable).
    if ((frameFlags(mfn) & PGF_VALIDATING) != 0) return -EINVAL;
    if (cur != t || (frameFlags(mfn) & PGF_VALIDATED) == 0) {
      setFrameType(mfn, t);
      setFrameFlags(mfn, frameFlags(mfn) & ~PGF_VALIDATED);
      if (t >= PGT_L1 && t <= PGT_L4) {
        // Becoming a page table: stale writable translations of it must go, and it must validate.
        tlbFlushAll();
        setFrameFlags(mfn, frameFlags(mfn) | PGF_VALIDATING);
        const r = validateTable(mfn, t, d, is64);
        setFrameFlags(mfn, frameFlags(mfn) & ~PGF_VALIDATING);
        if (r < 0) { setFrameType(mfn, PGT_NONE); return r; }
      }
      if (t == PGT_SEG_DESC) tlbFlushAll();
      setFrameFlags(mfn, frameFlags(mfn) | PGF_VALIDATED);
    }
  } else if (cur != t) {
    return -EINVAL;
  }
  if (tc == 0xffffffff) return -EBUSY;
  setFrameTypeCount(mfn, tc + 1);
  return 0;
}

export function putPageType(mfn: u32, is64: bool): void {
  const tc = frameTypeCount(mfn);
  if (tc == 0) return;
  setFrameTypeCount(mfn, tc - 1);
  if (tc == 1) {
    const t = frameType(mfn);
    if (t >= PGT_L1 && t <= PGT_L4 && (frameFlags(mfn) & PGF_VALIDATED) != 0) devalidateTable(mfn, t, is64);
    setFrameFlags(mfn, frameFlags(mfn) & ~PGF_VALIDATED);
  }
}

export function getPageAndType(mfn: u32, t: i32, d: u32, is64: bool): i32 {
  if (!getPage(mfn, d)) return -EINVAL;
  const r = getPageType(mfn, t, d, is64);
  if (r < 0) { putPage(mfn); return r; }
  return 0;
}
export function putPageAndType(mfn: u32, is64: bool): void {
  putPageType(mfn, is64);
  putPage(mfn);
}

// The hypervisor's hold on a frame of `d` it goes on writing (shared_info, a registered vcpu_info, the
// console and xenstore rings the host serves): a reference and the writable type, as Xen's
// map_guest_page and the toolstack's foreign mappings take, so that the frame can neither become a
// page table or descriptor page nor, given back, return to the pool while the hold lasts (a domain's
// holds go with it). False if it is not d's or is typed otherwise.
export function holdFrame(mfn: u32, d: u32): bool {
  if (!mfnValid(mfn as u64) || !getPage(mfn, d)) return false;
  if (getPageType(mfn, PGT_WRITABLE, d, false) < 0) { putPage(mfn); return false; }
  return true;
}
export function unholdFrame(mfn: u32): void {
  putPageType(mfn, false); // (a writable type has no table to devalidate: the width does not matter)
  putPage(mfn);
}

// ---- entries ----

// Is slot `i` of a level-`level` table one the guest may write?
function guestSlot(level: i32, i: i32, is64: bool, paeXenL2: bool): bool {
  if (is64 && level == 4) return i < XEN_L4_FIRST || i > XEN_L4_LAST;
  if (!is64 && level == 2 && paeXenL2) return i < XEN_PAE_L2_FIRST;
  if (!is64 && level == 3) return i < 4;
  return true;
}

// Check a new entry of a level-`level` table and take what it needs. Returns the entry as it will be
// stored (64-bit guests: U/S forced on, since their kernel runs in ring 3), or a negative -errno.
export let adjusted: u64 = 0;
export function getEntry(level: i32, e: u64, d: u32, is64: bool): i32 {
  adjusted = e;
  if ((e & PTE_P) == 0) return 0;
  const mfn = entryMfn(e);
  switch (level) {
    case 1: {
      if ((e & L1_DISALLOW) != 0) return -EINVAL;
      if (!getPage(mfn, d)) return -EBUSY;
      if ((e & PTE_RW) != 0) {
        const r = getPageType(mfn, PGT_WRITABLE, d, is64);
        if (r < 0) { putPage(mfn); return -EBUSY; }
      }
      adjusted = e;
      // 64-bit guests run their kernel in ring 3: kernel pages get U/S and Xen's guest-kernel bit.
      if (is64 && (e & PTE_US) == 0) adjusted = e | PTE_US | GUEST_KERNEL_BIT;
      return 0;
    }
    case 2: case 3: case 4: {
      if (!is64 && level == 3) {
        if ((e & PAE_L3_DISALLOW) != 0) return -EINVAL;
      } else if ((e & UPPER_DISALLOW) != 0) return -EINVAL;
      if (!getPage(mfn, d)) return -EINVAL;
      const r = getPageType(mfn, level - 1, d, is64);
      // (the recursive validation above reused `adjusted`: set it last)
      if (r < 0) { putPage(mfn); adjusted = e; return -EINVAL; }
      if (is64) adjusted = e | PTE_US | (level == 4 ? PTE_A : 0);
      else if (level == 3) adjusted = e & PAE_L3_KEEP;
      else adjusted = e;
      return 0;
    }
    default: return -EINVAL;
  }
}

export function putEntry(level: i32, e: u64, is64: bool): void {
  if ((e & PTE_P) == 0) return;
  const mfn = entryMfn(e);
  if (level == 1) {
    if ((e & PTE_RW) != 0) putPageType(mfn, is64);
    putPage(mfn);
  } else {
    putPageAndType(mfn, is64);
  }
}

// ---- whole tables ----

function validateTable(mfn: u32, t: i32, d: u32, is64: bool): i32 {
  perfInc(PC_VALIDATE);
  const base = (mfn as i32) << 12;
  const paeXen = !is64 && t == PGT_L2 && isPaeXenL2(mfn);
  const n = !is64 && t == PGT_L3 ? 4 : 512;
  for (let i = 0; i < n; i++) {
    if (!guestSlot(t, i, is64, paeXen)) continue;
    const e = load<u64>(base + (i << 3));
    const r = getEntry(t, e, d, is64);
    if (r < 0) {
      for (let k = 0; k < i; k++) if (guestSlot(t, k, is64, paeXen)) putEntry(t, load<u64>(base + (k << 3)), is64);
      return r;
    }
    if (adjusted != e) { store<u64>(base + (i << 3), adjusted); ldMark(mfn); }
  }
  if (is64 && t == PGT_L4) installXenL4(mfn);
  if (!is64 && t == PGT_L3) {
    // PAE: unused slots 4..511 of the L3 page are ignored by the CPU; the L2 in slot 3 gets the
    // hypervisor's mappings (the M2P table).
    const e3 = load<u64>(base + 24);
    if ((e3 & PTE_P) != 0) installXenPaeL2(entryMfn(e3));
  }
  return 0;
}

function devalidateTable(mfn: u32, t: i32, is64: bool): void {
  perfInc(PC_DEVALIDATE);
  const base = (mfn as i32) << 12;
  const paeXen = !is64 && t == PGT_L2 && isPaeXenL2(mfn);
  const n = !is64 && t == PGT_L3 ? 4 : 512;
  for (let i = 0; i < n; i++) {
    if (!guestSlot(t, i, is64, paeXen)) continue;
    putEntry(t, load<u64>(base + (i << 3)), is64);
  }
}

// 32-bit PAE guests: an L2 is the "Xen L2" when it holds the hypervisor's entries (we mark it by the
// M2P entry being present, which guests cannot create themselves).
function isPaeXenL2(mfn: u32): bool {
  return load<u64>(((mfn as i32) << 12) + (XEN_PAE_L2_FIRST << 3)) == XEN_M2P32_L2E0;
}

export function installXenL4(mfn: u32): void {
  const base = (mfn as i32) << 12;
  for (let i = XEN_L4_FIRST; i <= XEN_L4_LAST; i++) store<u64>(base + (i << 3), 0);
  store<u64>(base + (XEN_L4_FIRST << 3), XEN_M2P64_L3);
  ldMark(mfn);
}

export function installXenPaeL2(mfn: u32): void {
  const base = (mfn as i32) << 12;
  for (let i = XEN_PAE_L2_FIRST; i < 512; i++) store<u64>(base + (i << 3), 0);
  store<u64>(base + (XEN_PAE_L2_FIRST << 3), XEN_M2P32_L2E0);
  store<u64>(base + ((XEN_PAE_L2_FIRST + 1) << 3), XEN_M2P32_L2E1);
  ldMark(mfn);
}

// Replace entry `i` of validated table `mfn` (level `level`) with `e`. 0 or -errno; on error the old
// entry stays.
export function modEntry(mfn: u32, level: i32, i: i32, e: u64, d: u32, is64: bool): i32 {
  const paeXen = !is64 && level == 2 && isPaeXenL2(mfn);
  if (!guestSlot(level, i, is64, paeXen)) return paeXen ? -EPERM : -EINVAL;
  if (!is64 && level == 3 && i == 3) return -EINVAL; // fixed at validation (it holds the M2P slots)
  const p = ((mfn as i32) << 12) + (i << 3);
  const old = load<u64>(p);
  // The same frame with only A/D/avail/NX/G/US differing (L1): no references move.
  const FAST: u64 = PTE_A | PTE_D | PTE_NX | PTE_G | PTE_US | 0xe00 | 0x7ff0000000000000;
  if (level == 1 && (old & PTE_P) != 0 && (e & PTE_P) != 0 && ((old ^ e) & ~FAST) == 0 && (e & L1_DISALLOW) == 0) {
    store<u64>(p, is64 && (e & PTE_US) == 0 ? e | PTE_US | GUEST_KERNEL_BIT : e);
    ldMark(mfn);
    if (((old & ~e) & (PTE_NX ^ 0)) != 0 || ((e & PTE_NX) != 0 && (old & PTE_NX) == 0)) tlbFlushAll();
    return 0;
  }
  const r = getEntry(level, e, d, is64);
  if (r < 0) return r;
  store<u64>(p, adjusted);
  ldMark(mfn);
  if (!is64 && level == 3 && i == 3 && (e & PTE_P) != 0) installXenPaeL2(entryMfn(e));
  putEntry(level, old, is64);
  // No TLB flush here: as on hardware, a guest flushes its own stale translations (update_va_mapping
  // flushes the page it changed). Safety does not depend on it: a frame is flushed from every TLB
  // before it can become a page table or descriptor page (getPageType), be freed or change owner
  // (frames.ts / grant unmap), and a vCPU switch starts with an empty TLB.
  return 0;
}

// ---- pins ----
export function pinTable(mfn: u32, t: i32, d: u32, is64: bool): i32 {
  if (!mfnValid(mfn as u64) || frameOwner(mfn) != d) return -EINVAL;
  if ((frameFlags(mfn) & PGF_PINNED) != 0) return -EINVAL;
  const r = getPageAndType(mfn, t, d, is64);
  if (r < 0) return r;
  setFrameFlags(mfn, frameFlags(mfn) | PGF_PINNED);
  return 0;
}

export function unpinTable(mfn: u32, d: u32, is64: bool): i32 {
  if (!mfnValid(mfn as u64) || frameOwner(mfn) != d) return -EINVAL;
  if ((frameFlags(mfn) & PGF_PINNED) == 0) return -EINVAL;
  setFrameFlags(mfn, frameFlags(mfn) & ~PGF_PINNED);
  putPageAndType(mfn, is64);
  return 0;
}

// A frame's contents were written by the hypervisor (or the host): drop decoded instructions cached
// from it, and mark it for log-dirty (mmu/logdirty.ts). Every hypervisor write into a guest frame that
// does not go through the guest's TLB (hv/guest.ts) should end here or in ldMark.
export function frameWritten(mfn: u32): void {
  if (load<u8>(CODEMAP_BASE + (mfn as i32)) != 0) dcacheInvalidate((mfn as i32) << 12, 4096);
  ldMark(mfn);
}

export { PGT_L1, PGT_L2, PGT_L3, PGT_L4, PGT_SEG_DESC, PGT_WRITABLE, ENOMEM };

// Give `d` a fresh zeroed frame (counted against its reservation); NO_FRAME if none or over its max.
export function domainAllocFrame(d: u32): u32 {
  if (domU32(d, D_TOT_PAGES) >= domU32(d, D_MAX_PAGES)) return NO_FRAME;
  const mfn = frameAlloc(d);
  if (mfn == NO_FRAME) return NO_FRAME;
  frameWritten(mfn);
  setDomU32(d, D_TOT_PAGES, domU32(d, D_TOT_PAGES) + 1);
  return mfn;
}
