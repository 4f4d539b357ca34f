// grant_table_op: query_size, setup_table, get/set_version, get_status_frames, map_grant_ref,
// unmap_grant_ref, copy, for grant tables v1 and v2 (Xen's grant_table.c rules). transfer is refused
// (-ENOSYS). A grant mapping takes a reference on the granted frame (and a writable type reference
// unless read-only) for as long as it exists; mappings are tracked (MAPTRACK) so that destroying either
// domain tears them down.
//   v1: entries { u16 flags; u16 domid; u32 frame } (512 a frame); GTF_reading/GTF_writing in flags.
//   v2: entries of 16 bytes (256 a frame): header { u16 flags; u16 domid } then full_page { u32 pad;
//       u64 frame @8 }, sub_page { u16 page_off @4; u16 length @6; u64 frame @8 } or transitive
//       { u16 trans_domid @4; u16 pad; u32 gref @8 }; GTF_reading/GTF_writing live in the status
//       frames (u16 per entry, 2048 a frame), which the hypervisor allocates (one per 8 grant frames).
// Sub-page grants may only be copied (GNTTABOP_copy within [page_off, page_off + length)), never mapped;
// transitive grants (one level, as Xen) may be copied and are refused for mapping (GNTST_general_error).
import {
  currentDom, domU32, setDomU32, domExists, D_GNT_FRAMES, D_GNT_FRAME0, D_GNT_VERSION, D_PRIVILEGED,
  D_GNT_NSTATUS, D_GNT_STATUS0
} from "../domain/domain";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, wrG32, wrG64, wrG16, gOk, gReset } from "../hv/guest";
import { domIs64 } from "../domain/domain";
import { domainAllocFrame } from "../domain/mm";
import {
  NO_FRAME, frameOwner, frameType, frameTypeCount, frameRefCount, mfnValid, PGT_L1, PGT_WRITABLE
} from "../domain/frames";
import { MAPTRACK, MAPTRACK_ENTRIES } from "../memmap";
import { getPage, putPage, getPageType, putPageType, frameWritten, releaseHeldFrame } from "../domain/mm";
import { l1EntryFor } from "./mmu";
import { continuation, hypercallPreemptCheck, hcAddWork } from "./args";
import { tlbFlushAll } from "../mmu/tlb";
import { ldMark, ldMarkHost } from "../mmu/logdirty";

export const MAX_GNT_FRAMES = 32;
const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8; // the toolstack's entries: kept across a version change

// gnttab_query_size { u16 dom @0; OUT u32 nr_frames @4; OUT u32 max_nr_frames @8; OUT i16 status @12 }
// gnttab_setup_table { u16 dom @0; u32 nr_frames @4; OUT i16 status @8; OUT handle frame_list @16/@12 }
// gnttab_get_version { u16 dom @0; OUT u32 version @4 }   gnttab_set_version { IN/OUT u32 version @0 }
// gnttab_get_status_frames { u32 nr_frames @0; u16 dom @4; OUT i16 status @6; handle(u64) frame_list @8 }
export function hcGrantTableOp(cmd: u64, p: u64, count: u64): i64 {
  const d = currentDom;
  const is64 = domIs64(d);
  gReset();
  count &= 0xffffffff; // Xen's count is an unsigned int ...
  if ((count as i32) < 0) return -A.EINVAL; // ... and one negative as an int is refused
  switch (cmd as i32) {
    case A.GNTTABOP_query_size: {
      for (let i: u64 = 0; i < count; i++) {
        const e = p + i * 16;
        const dom = rdG16(e);
        if (!gOk) return -A.EFAULT;
        const t = dom == A.DOMID_SELF ? d : dom;
        if (t != d && (domU32(d, D_PRIVILEGED) == 0 || !domExists(t))) {
          wrG16(e + 12, GNTST_bad_domain as u16); if (!gOk) return -A.EFAULT; continue;
        }
        wrG32(e + 4, domU32(t, D_GNT_FRAMES));
        wrG32(e + 8, MAX_GNT_FRAMES);
        wrG16(e + 12, 0);
        if (!gOk) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_setup_table: {
      const sz: u64 = is64 ? 24 : 16;
      for (let i: u64 = 0; i < count; i++) {
        const e = p + i * sz;
        const dom = rdG16(e);
        const n = rdG32(e + 4);
        const list = is64 ? rdG64(e + 16) : rdG32(e + 12) as u64;
        if (!gOk) return -A.EFAULT;
        const t = dom == A.DOMID_SELF ? d : dom;
        if (t != d) { wrG16(e + 8, GNTST_bad_domain as u16); if (!gOk) return -A.EFAULT; continue; }
        if (n > (MAX_GNT_FRAMES as u32)) {
          wrG16(e + 8, GNTST_general_error as u16); if (!gOk) return -A.EFAULT; continue;
        }
        // Grow the table to n frames (frames are the domain's own, shared with the hypervisor).
        let have = domU32(t, D_GNT_FRAMES);
        let st: i32 = 0;
        while (have < n) {
          const m = domainAllocFrame(t);
          if (m == NO_FRAME) { st = GNTST_general_error; break; }
          getPage(m, t); // held while it is a grant frame: the guest cannot give it back
          setDomU32(t, D_GNT_FRAME0 + ((have as i32) << 2), m << 12);
          have++;
          setDomU32(t, D_GNT_FRAMES, have);
        }
        if (st == 0 && version(t) == 2 && !growStatus(t)) st = GNTST_general_error;
        if (st == 0) {
          if (domU32(t, D_GNT_VERSION) == 0) setDomU32(t, D_GNT_VERSION, 1);
          for (let k: u32 = 0; k < n; k++) {
            const mfn = (domU32(t, D_GNT_FRAME0 + ((k as i32) << 2)) >> 12) as u64;
            if (is64) wrG64(list + ((k * 8) as u64), mfn); else wrG32(list + ((k * 4) as u64), mfn as u32);
          }
        }
        wrG16(e + 8, st as u16);
        if (!gOk) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_get_version: {
      const dom = rdG16(p);
      if (!gOk) return -A.EFAULT;
      const t = dom == A.DOMID_SELF ? d : dom;
      if (t != d && domU32(d, D_PRIVILEGED) == 0) return -A.EPERM;
      if (!domExists(t)) return -A.ESRCH;
      wrG32(p + 4, version(t));
      return gOk ? 0 : -A.EFAULT;
    }
    case A.GNTTABOP_set_version: {
      const ver = rdG32(p);
      if (!gOk) return -A.EFAULT;
      let res: i64 = 0;
      if (ver != 1 && ver != 2) res = -A.EINVAL;
      else if (ver != version(d)) res = switchVersion(d, ver);
      wrG32(p, version(d)); // the version in effect, whatever the outcome
      return gOk ? res : -A.EFAULT;
    }
    case A.GNTTABOP_get_status_frames: {
      if (count != 1) return -A.EINVAL;
      const n = rdG32(p);
      const dom = rdG16(p + 4);
      const list = is64 ? rdG64(p + 8) : rdG32(p + 8) as u64;
      if (!gOk) return -A.EFAULT;
      const t = dom == A.DOMID_SELF ? d : dom;
      let st: i32 = GNTST_okay;
      if (!domExists(t)) st = GNTST_bad_domain;
      else if (t != d && domU32(d, D_PRIVILEGED) == 0) st = GNTST_permission_denied;
      else if (n > domU32(t, D_GNT_NSTATUS)) st = GNTST_general_error; // v1 tables have none
      else {
        for (let k: u32 = 0; k < n; k++) {
          wrG64(list + ((k * 8) as u64), (domU32(t, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12) as u64);
          if (!gOk) { st = GNTST_bad_virt_addr; gReset(); }
        }
      }
      wrG16(p + 6, st as u16);
      return gOk ? 0 : -A.EFAULT;
    }
    // Batches are preemptible as Xen's do_grant_table_op: after PREEMPT_WORK units (an entry each; a
    // copy one more per 512 bytes, so the bound follows the work done) the call is continued with the
    // handle moved past the entries done and the count reduced by them.
    case A.GNTTABOP_map_grant_ref: {
      for (let i: u64 = 0; i < count; i++) {
        if (i != 0 && hypercallPreemptCheck() && continuation(1, p + i * 32, 2, count - i)) return 0;
        hcAddWork(1);
        if (!mapOne(p + i * 32)) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_unmap_grant_ref: {
      for (let i: u64 = 0; i < count; i++) {
        if (i != 0 && hypercallPreemptCheck() && continuation(1, p + i * 24, 2, count - i)) return 0;
        hcAddWork(1);
        if (!unmapOne(p + i * 24)) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_copy: {
      const sz: u64 = is64 ? 40 : 24;
      for (let i: u64 = 0; i < count; i++) {
        if (i != 0 && hypercallPreemptCheck() && continuation(1, p + i * sz, 2, count - i)) return 0;
        const len = rdG16(p + i * sz + (is64 ? 32 : 16));
        if (!gOk) return -A.EFAULT;
        hcAddWork(1 + ((len as i32) >> 9));
        if (!copyOne(p + i * sz, is64)) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_swap_grant_ref: {
      // gnttab_swap_grant_ref { u32 ref_a @0; u32 ref_b @4; OUT i16 status @8 } (12 bytes).
      for (let i: u64 = 0; i < count; i++) {
        const e = p + i * 12;
        const a = rdG32(e), b = rdG32(e + 4);
        if (!gOk) return -A.EFAULT;
        wrG16(e + 8, swapOne(d, a, b) as u16);
        if (!gOk) return -A.EFAULT;
      }
      return 0;
    }
    default: return -A.ENOSYS;
  }
}

// As Xen's swap_grant_ref: both references in the table (else bad_gntref), the same one is a no-op,
// one in use (mapped) is GNTST_eagain; v2 swaps the status words too.
function swapOne(d: u32, a: u32, b: u32): i32 {
  const ea = entryAddr(d, a), eb = entryAddr(d, b);
  if (ea == 0 || eb == 0) return GNTST_bad_gntref;
  if (a == b) return GNTST_okay;
  if (refFlags(d, a) != 0 || refFlags(d, b) != 0) return GNTST_eagain;
  if (version(d) == 2) {
    const x0 = load<u64>(ea), x1 = load<u64>(ea, 8);
    store<u64>(ea, load<u64>(eb)); store<u64>(ea, load<u64>(eb, 8), 8);
    store<u64>(eb, x0); store<u64>(eb, x1, 8);
    const sa = statusAddr(d, a), sb = statusAddr(d, b);
    if (sa != 0 && sb != 0) {
      const t = load<u16>(sa); store<u16>(sa, load<u16>(sb)); store<u16>(sb, t); ldMarkHost(sa); ldMarkHost(sb);
    }
  } else {
    const x = load<u64>(ea);
    store<u64>(ea, load<u64>(eb)); store<u64>(eb, x);
  }
  ldMarkHost(ea); ldMarkHost(eb);
  return GNTST_okay;
}

// ---- grant entries ----
const GTF_permit_access: u32 = 1;
const GTF_transitive: u32 = 3;
const GTF_type_mask: u32 = 3;
const GTF_readonly: u32 = 4;
const GTF_reading: u32 = 8;
const GTF_writing: u32 = 16;
const GTF_sub_page: u32 = 1 << 8;
const GNTMAP_device_map: u32 = 1;
const GNTMAP_host_map: u32 = 2;
const GNTMAP_readonly: u32 = 4;
const GNTMAP_contains_pte: u32 = 16;
const GNTST_okay = 0, GNTST_general_error = -1, GNTST_bad_domain = -2, GNTST_bad_gntref = -3, GNTST_bad_handle = -4;
// GNTST_no_space (-13): newer Xen answers it when the maptrack table is full (was no_device_space).
const GNTST_eagain = -12;
const GNTST_bad_virt_addr = -5, GNTST_no_space = -13, GNTST_permission_denied = -8, GNTST_bad_page = -9,
  GNTST_bad_copy_arg = -10;

// The grant-table version of `g` (a table never set is v1).
@inline function version(g: u32): u32 { return domU32(g, D_GNT_VERSION) == 2 ? 2 : 1; }
@inline function nrEntries(g: u32): u32 { return domU32(g, D_GNT_FRAMES) << (version(g) == 2 ? 8 : 9); }

// Machine address of grant entry `ref` of domain `g`, or 0.
function entryAddr(g: u32, ref: u32): i32 {
  if (ref >= nrEntries(g)) return 0;
  if (version(g) == 2)
    return (domU32(g, D_GNT_FRAME0 + (((ref >> 8) as i32) << 2)) as i32) + (((ref & 255) as i32) << 4);
  return (domU32(g, D_GNT_FRAME0 + (((ref >> 9) as i32) << 2)) as i32) + (((ref & 511) as i32) << 3);
}
// Machine address of the status word of entry `ref` of a v2 table, or 0.
function statusAddr(g: u32, ref: u32): i32 {
  if (version(g) != 2 || ref >= nrEntries(g) || (ref >> 11) >= domU32(g, D_GNT_NSTATUS)) return 0;
  return (domU32(g, D_GNT_STATUS0 + (((ref >> 11) as i32) << 2)) as i32) + (((ref & 2047) as i32) << 1);
}

// The status frames a v2 table of `g` needs (Xen's grant_to_status_frames), allocated: false if out of memory.
function growStatus(g: u32): bool {
  const need = (domU32(g, D_GNT_FRAMES) * 256 + 2047) >> 11;
  let have = domU32(g, D_GNT_NSTATUS);
  while (have < need) {
    const m = domainAllocFrame(g);
    if (m == NO_FRAME) return false;
    getPage(m, g); // held while it is a status frame: the guest cannot give it back
    memory.fill((m << 12) as i32, 0, 4096);
    setDomU32(g, D_GNT_STATUS0 + ((have as i32) << 2), m << 12);
    have++;
    setDomU32(g, D_GNT_NSTATUS, have);
  }
  return true;
}

// Is any entry of `g` at or above the reserved ones mapped (by anyone)?
function grantsInUse(g: u32): bool {
  for (let h: u32 = 1; h < (MAPTRACK_ENTRIES as u32); h++) {
    const m = mt(h);
    if (load<u32>(m) != 0 && (load<u16>(m, 6) as u32) == g && load<u32>(m, 8) >= GNTTAB_NR_RESERVED_ENTRIES)
      return true;
  }
  return false;
}

// GNTTABOP_set_version to `ver` (1 or 2, not the current one), as Xen's gnttab_set_version: -EBUSY while
// an entry beyond the reserved ones is in use; -ERANGE when going back to v1 with a reserved entry v1
// cannot hold; -EBUSY when a status frame is still mapped; -ENOMEM without frames for the status.
// The reserved entries (0-7) are converted, everything else is cleared.
function switchVersion(d: u32, ver: u32): i64 {
  if (grantsInUse(d)) return -A.EBUSY;
  const nf = domU32(d, D_GNT_FRAMES);
  const f0 = domU32(d, D_GNT_FRAME0) as i32;
  if (ver == 1) {
    for (let i: u32 = 0; i < GNTTAB_NR_RESERVED_ENTRIES && nf > 0; i++) {
      const e = f0 + ((i as i32) << 4);
      const type = (load<u16>(e) as u32) & GTF_type_mask;
      if ((type == GTF_permit_access && (load<u64>(e, 8) >> 32) != 0) || type == GTF_transitive) return -A.ERANGE;
    }
    const ns = domU32(d, D_GNT_NSTATUS);
    for (let k: u32 = 0; k < ns; k++) {
      const m = domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12;
      // the guest still maps it (1: our own reference)
      if (frameTypeCount(m) != 0 || frameRefCount(m) > 1) return -A.EBUSY;
    }
    // Reserved entries to v1, ascending (v1 entry i never overlaps a v2 entry not yet read).
    for (let i: u32 = 0; i < GNTTAB_NR_RESERVED_ENTRIES && nf > 0; i++) {
      const e2 = f0 + ((i as i32) << 4);
      let flags = load<u16>(e2) as u32;
      const domid = load<u16>(e2, 2);
      const frame = load<u64>(e2, 8) as u32;
      const e1 = f0 + ((i as i32) << 3);
      if ((flags & GTF_type_mask) == GTF_permit_access) {
        flags |= (load<u16>(statusAddr(d, i)) as u32) & (GTF_reading | GTF_writing);
        store<u16>(e1, flags as u16); store<u16>(e1, domid, 2); store<u32>(e1, frame, 4);
      } else store<u64>(e1, 0);
    }
    if (nf > 0) memory.fill(f0 + 64, 0, 4096 - 64);
    for (let k: u32 = 0; k < ns; k++) {
      releaseHeldFrame(domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12);
      setDomU32(d, D_GNT_STATUS0 + ((k as i32) << 2), 0);
    }
    setDomU32(d, D_GNT_NSTATUS, 0);
  } else {
    setDomU32(d, D_GNT_VERSION, 2); // for growStatus / statusAddr
    if (!growStatus(d)) {
      // Give back what was taken: the table stays v1.
      const ns = domU32(d, D_GNT_NSTATUS);
      for (let k: u32 = 0; k < ns; k++) {
        releaseHeldFrame(domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12);
      }
      setDomU32(d, D_GNT_NSTATUS, 0);
      setDomU32(d, D_GNT_VERSION, 1);
      return -A.ENOMEM;
    }
    // Reserved entries to v2, descending (v2 entry i covers v1 entries 2i and 2i+1, already read).
    for (let i: i32 = (GNTTAB_NR_RESERVED_ENTRIES as i32) - 1; i >= 0 && nf > 0; i--) {
      const e1 = f0 + (i << 3);
      const flags = load<u16>(e1) as u32;
      const domid = load<u16>(e1, 2);
      const frame = load<u32>(e1, 4);
      const e2 = f0 + (i << 4);
      store<u16>(e2, (flags & ~(GTF_reading | GTF_writing)) as u16); store<u16>(e2, domid, 2);
      store<u32>(e2, 0, 4); store<u64>(e2, frame as u64, 8);
      store<u16>(statusAddr(d, i as u32), (flags & (GTF_reading | GTF_writing)) as u16);
    }
    if (nf > 0) memory.fill(f0 + 128, 0, 4096 - 128);
  }
  for (let k: u32 = 1; k < nf; k++) memory.fill(domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) as i32, 0, 4096);
  for (let k: u32 = 0; k < nf; k++) ldMarkHost(domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) as i32);
  setDomU32(d, D_GNT_VERSION, ver);
  return 0;
}

// Check that `g` grants `ref` to `to` for mapping; returns the frame (mfn) or a negative GNTST (as
// Xen's map_grant_ref: bad domain, bad reference, then GNTST_general_error for a wrong type, domain or
// a write to a read-only grant; sub-page and transitive grants cannot be mapped).
export let grantRo: bool = false;
function checkGrant(g: u32, ref: u32, to: u32, write: bool): i32 {
  if (!domExists(g)) return GNTST_bad_domain;
  const e = entryAddr(g, ref);
  if (e == 0) return GNTST_bad_gntref;
  const flags = load<u16>(e) as u32;
  if ((flags & (GTF_type_mask | GTF_sub_page)) != GTF_permit_access || (load<u16>(e, 2) as u32) != to)
    return GNTST_general_error;
  grantRo = (flags & GTF_readonly) != 0;
  if (write && grantRo) return GNTST_general_error;
  const frame: u64 = version(g) == 2 ? load<u64>(e, 8) : load<u32>(e, 4) as u64;
  if (frame > 0xfffff || !mfnValid(frame) || frameOwner(frame as u32) != g) return GNTST_bad_page;
  return frame as i32;
}

// The window of the frame a copy may touch, from the last acquireForCopy.
let copyOff: u32 = 0, copyLen: u32 = 4096;
// As Xen's acquire_grant_for_copy: `g` must grant `ref` to `to` (read-only grants only for reading); a
// v2 sub-page grant limits the window; a transitive grant (when `trans`) is followed one level into the
// domain it names, which must grant its reference to `g` (not itself). Returns the frame or a GNTST.
function acquireForCopy(g: u32, ref: u32, to: u32, write: bool, trans: bool): i32 {
  if (!domExists(g)) return GNTST_bad_domain;
  const e = entryAddr(g, ref);
  if (e == 0) return GNTST_bad_gntref;
  const flags = load<u16>(e) as u32;
  const type = flags & GTF_type_mask;
  const v2 = version(g) == 2;
  if ((type != GTF_permit_access && !(v2 && type == GTF_transitive)) || (load<u16>(e, 2) as u32) != to)
    return GNTST_general_error;
  if (write && (flags & GTF_readonly) != 0) return GNTST_general_error;
  if (type == GTF_transitive) {
    if (!trans) return GNTST_general_error;
    const td = load<u16>(e, 4) as u32;
    if (td == g || !domExists(td)) return GNTST_general_error; // self-referential, or no such domain
    return acquireForCopy(td, load<u32>(e, 8), g, write, false);
  }
  copyOff = 0; copyLen = 4096;
  if (v2 && (flags & GTF_sub_page) != 0) { copyOff = load<u16>(e, 4); copyLen = load<u16>(e, 6); }
  const frame: u64 = v2 ? load<u64>(e, 8) : load<u32>(e, 4) as u64;
  if (frame > 0xfffff || !mfnValid(frame) || frameOwner(frame as u32) != g) return GNTST_bad_page;
  return frame as i32;
}

// ---- maptrack: { u32 used; u16 mapper; u16 granter; u32 ref; u32 mfn; u64 pte ma; u32 ro } ----
@inline function mt(h: u32): i32 { return MAPTRACK + ((h as i32) << 5); }

function mtAlloc(): i32 {
  for (let h: u32 = 1; h < (MAPTRACK_ENTRIES as u32); h++) if (load<u32>(mt(h)) == 0) return h as i32;
  return -1;
}

// Is (g, ref) still mapped by anyone (to keep GTF_reading/writing)?
function refFlags(g: u32, ref: u32): u32 {
  let f: u32 = 0;
  for (let h: u32 = 1; h < (MAPTRACK_ENTRIES as u32); h++) {
    const m = mt(h);
    if (load<u32>(m) != 0 && (load<u16>(m, 6) as u32) == g && load<u32>(m, 8) == ref)
      f |= load<u32>(m, 24) != 0 ? GTF_reading : GTF_reading | GTF_writing;
  }
  return f;
}
function updateGrantFlags(g: u32, ref: u32): void {
  // v1: the bits are in the entry's flags; v2: in the entry's status word.
  const v2 = version(g) == 2;
  const e = v2 ? statusAddr(g, ref) : entryAddr(g, ref);
  if (e == 0) return;
  const old = load<u16>(e) as u32;
  const f = old & ~(GTF_reading | GTF_writing);
  const nf = f | refFlags(g, ref);
  if (nf == old) return;
  store<u16>(e, nf as u16);
  ldMarkHost(e); // the granter's grant-table or status frame
}

function mapOne(op: u64): bool {
  const d = currentDom;
  const is64 = domIs64(d);
  const hostAddr = rdG64(op);
  const flags = rdG32(op + 8);
  const ref = rdG32(op + 12);
  let g = rdG16(op + 16);
  if (!gOk) return false;
  if (g == A.DOMID_SELF) g = d;
  let st: i32 = GNTST_okay;
  let handle: u32 = 0;
  const ro = (flags & GNTMAP_readonly) != 0;
  const mfnOrErr = (flags & (GNTMAP_host_map | GNTMAP_device_map)) == 0 ? GNTST_bad_gntref : checkGrant(g, ref, d, !ro);
  if (mfnOrErr < 0) st = mfnOrErr;
  let pte: u64 = 0;
  if (st == 0 && (flags & GNTMAP_host_map) != 0) {
    if ((flags & GNTMAP_contains_pte) != 0) {
      pte = hostAddr;
      const pm = (pte >> 12) as u32;
      if (
        (pte & 7) != 0 || !mfnValid(pte >> 12) || frameOwner(pm) != d || frameType(pm) != PGT_L1
          || frameTypeCount(pm) == 0
      ) st = GNTST_general_error;
    } else {
      pte = l1EntryFor(hostAddr);
      if (pte == 0) st = GNTST_bad_virt_addr;
    }
    if (st == 0 && (load<u64>(pte as i32) & 1) != 0) st = GNTST_general_error; // the slot must be empty
  }
  if (st == 0) {
    const mfn = mfnOrErr as u32;
    const h = mtAlloc();
    if (h < 0) st = GNTST_no_space;
    else if (!getPage(mfn, g)) st = GNTST_bad_page;
    // A frame typed otherwise (a page table, descriptors): Xen's could_not_pin, GNTST_general_error.
    else if (!ro && getPageType(mfn, PGT_WRITABLE, g, domIs64(g)) < 0) { putPage(mfn); st = GNTST_general_error; }
    else {
      handle = h as u32;
      const m = mt(handle);
      store<u32>(m, 1); store<u16>(m + 4, d as u16); store<u16>(m + 6, g as u16);
      store<u32>(m + 8, ref); store<u32>(m + 12, mfn); store<u64>(m + 16, pte); store<u32>(m + 24, ro ? 1 : 0);
      if (pte != 0) {
        let e: u64 = ((mfn as u64) << 12) | 0x61; // P A D
        if (!ro) e |= 2;
        if (is64) e |= 4;
        store<u64>(pte as i32, e);
        ldMarkHost(pte as i32); // the mapper's L1
      }
      if (!ro) ldMark(mfn); // as Xen: a writable mapping marks the granted frame (again at unmap)
      updateGrantFlags(g, ref);
    }
  }
  wrG16(op + 18, st as u16);
  if (st == 0) {
    wrG32(op + 20, handle);
    if ((flags & GNTMAP_device_map) != 0) wrG64(op + 24, (load<u32>(mt(handle) + 12) as u64) << 12);
  }
  return gOk;
}

// Does the PTE of mapping `h` (a host mapping through an L1 entry) still hold it: an entry of a page
// that is an L1 table in use, present, of the granted frame, writable exactly if the mapping is (Xen's
// replace_grant_pv_mapping checks the same)? The references the mapping took belong to that entry: a
// guest that rewrote it (mmu_update, update_va_mapping, the table's type dropped) dropped them with it,
// as Xen's put_page_from_l1e does (release builds; debug builds crash the guest).
function pteHolds(h: u32): bool {
  const m = mt(h);
  const pte = load<u64>(m, 16);
  const t = (pte >> 12) as u32;
  if (!mfnValid(t as u64) || frameType(t) != PGT_L1 || frameTypeCount(t) == 0) return false;
  const e = load<u64>(pte as i32);
  const rw: u64 = load<u32>(m, 24) == 0 ? 2 : 0;
  return (e & 1) != 0 && (e & 2) == rw && (e & 0xffffffffff000) == ((load<u32>(m, 12) as u64) << 12);
}

// Undo mapping `h` (its owner checked by the caller): clear the PTE, drop the references (those of a
// mapping made through a PTE only while that PTE holds them: see pteHolds).
function release(h: u32): void {
  const m = mt(h);
  const g = load<u16>(m, 6) as u32;
  const mfn = load<u32>(m, 12);
  const pte = load<u64>(m, 16);
  const held = pte == 0 || pteHolds(h);
  if (pte != 0 && held) { store<u64>(pte as i32, 0); ldMarkHost(pte as i32); }
  // A writable mapping may have been written through (a backend's reads into the frame): the granted
  // frame is marked at unmap, as Xen does, whoever the mapper was (a guest or the host).
  if (load<u32>(m, 24) == 0) { ldMark(mfn); if (held) putPageType(mfn, domIs64(g)); }
  if (held) putPage(mfn);
  const ref = load<u32>(m, 8);
  memory.fill(m, 0, 32);
  if (domExists(g)) updateGrantFlags(g, ref);
  tlbFlushAll();
}

function unmapOne(op: u64): bool {
  const d = currentDom;
  const hostAddr = rdG64(op);
  const handle = rdG32(op + 16);
  if (!gOk) return false;
  let st: i32 = GNTST_okay;
  if (
    handle == 0 || handle >= (MAPTRACK_ENTRIES as u32) || load<u32>(mt(handle)) == 0
      || (load<u16>(mt(handle), 4) as u32) != d
  ) st = GNTST_bad_handle;
  else {
    const pte = load<u64>(mt(handle), 16);
    if (hostAddr != 0 && pte != 0) {
      // host_addr names the mapping: the VA (or the PTE's machine address) it was made at.
      const again = l1EntryFor(hostAddr);
      if (again != pte && hostAddr != pte) st = GNTST_bad_virt_addr;
    }
    // A PTE the guest rewrote behind our back no longer holds the mapping: as Xen, GNTST_general_error
    // and the mapping stays (GTF_reading/GTF_writing with it) until the mapper is destroyed.
    if (st == 0 && pte != 0 && !pteHolds(handle)) st = GNTST_general_error;
    if (st == 0) release(handle);
  }
  wrG16(op + 20, st as u16);
  return gOk;
}

// Tear down every grant mapping made by or of domain `d` (it is being destroyed).
export function grantsReleaseDomain(d: u32): void {
  for (let h: u32 = 1; h < (MAPTRACK_ENTRIES as u32); h++) {
    const m = mt(h);
    if (load<u32>(m) == 0) continue;
    const mapper = load<u16>(m, 4) as u32, g = load<u16>(m, 6) as u32;
    if (mapper == d || g == d) release(h);
  }
}

// gnttab_copy, as Xen's: each side a grant reference (GNTCOPY_*_gref) or, for DOMID_SELF only, one of
// the caller's own frames; the source is acquired, then the destination, then the bounds checked
// (GNTST_bad_copy_arg past the page, GNTST_general_error outside a sub-page grant's window).
function copyOne(op: u64, is64: bool): bool {
  const d = currentDom;
  const dOff: u64 = is64 ? 16 : 8;
  const lenOff: u64 = is64 ? 32 : 16;
  const srcU = is64 ? rdG64(op) : rdG32(op) as u64;
  const srcDom = rdG16(op + (is64 ? 8 : 4));
  const srcOff = rdG16(op + (is64 ? 10 : 6));
  const dstU = is64 ? rdG64(op + dOff) : rdG32(op + dOff) as u64;
  const dstDom = rdG16(op + dOff + (is64 ? 8 : 4));
  const dstOff = rdG16(op + dOff + (is64 ? 10 : 6));
  const len = rdG16(op + lenOff);
  const flags = rdG16(op + lenOff + 2);
  if (!gOk) return false;
  const sg = (flags & 1) != 0, dg = (flags & 2) != 0;
  let st: i32 = GNTST_okay;
  // Only DOMID_SELF may name a frame; a domain that does not exist is bad_domain.
  if ((srcDom != A.DOMID_SELF && !sg) || (dstDom != A.DOMID_SELF && !dg)) st = GNTST_permission_denied;
  else if ((srcDom != A.DOMID_SELF && !domExists(srcDom)) || (dstDom != A.DOMID_SELF && !domExists(dstDom)))
    st = GNTST_bad_domain;
  let smfn: i32 = 0, dmfn: i32 = 0;
  let sOff: u32 = 0, sLen: u32 = 4096;
  if (st == 0) { smfn = copySide(srcU, srcDom, sg, d, false); sOff = copyOff; sLen = copyLen; if (smfn < 0) st = smfn; }
  if (st == 0) { dmfn = copySide(dstU, dstDom, dg, d, true); if (dmfn < 0) st = dmfn; }
  if (st == 0) {
    if (srcOff + len > 4096 || dstOff + len > 4096) st = GNTST_bad_copy_arg;
    else if (srcOff < sOff || srcOff + len > sOff + sLen) st = GNTST_general_error;
    else if (dstOff < copyOff || dstOff + len > copyOff + copyLen) st = GNTST_general_error;
  }
  if (st == 0) {
    const dm = dmfn as u32;
    const owner = frameOwner(dm);
    if (getPageType(dm, PGT_WRITABLE, owner, domIs64(owner)) < 0) st = GNTST_general_error;
    else {
      memory.copy(((dm as i32) << 12) + (dstOff as i32), ((smfn as i32) << 12) + (srcOff as i32), len as i32);
      frameWritten(dm);
      putPageType(dm, domIs64(owner));
    }
  }
  wrG16(op + lenOff + 4, st as u16);
  return gOk;
}

// One side of a copy: the frame, or a GNTST; copyOff/copyLen say the window it may touch.
function copySide(u: u64, dom: u32, gref: bool, d: u32, write: bool): i32 {
  if (dom == A.DOMID_SELF) dom = d;
  if (gref) return acquireForCopy(dom, u as u32, d, write, true);
  copyOff = 0; copyLen = 4096;
  // A frame of the caller's own (PV: the gmfn is the mfn).
  if (u > 0xfffff || !mfnValid(u) || frameOwner(u as u32) != d) return GNTST_bad_page;
  return u as i32;
}

// ---- the host (dom0) side: backends map guests' grants to reach their frames ----
// Map `ref` of domain `g` for the host: > 0 a handle, else a GNTST_* code. The frame stays referenced
// (and writable-typed unless read-only) until hostUnmap; destroying `g` releases it.
export function hostMap(g: u32, ref: u32, ro: bool): i32 {
  const m = checkGrant(g, ref, 0, !ro);
  if (m < 0) return m;
  const mfn = m as u32;
  const h = mtAlloc();
  if (h < 0) return GNTST_no_space;
  if (!getPage(mfn, g)) return GNTST_bad_page;
  if (!ro && getPageType(mfn, PGT_WRITABLE, g, domIs64(g)) < 0) { putPage(mfn); return GNTST_bad_page; }
  const e = mt(h as u32);
  store<u32>(e, 1); store<u16>(e + 4, 0); store<u16>(e + 6, g as u16);
  store<u32>(e + 8, ref); store<u32>(e + 12, mfn); store<u64>(e + 16, 0); store<u32>(e + 24, ro ? 1 : 0);
  if (!ro) ldMark(mfn);
  updateGrantFlags(g, ref);
  return h;
}
export function hostMfn(h: u32): i32 {
  if (h == 0 || h >= (MAPTRACK_ENTRIES as u32) || load<u32>(mt(h)) == 0 || load<u16>(mt(h), 4) != 0) return -1;
  return load<u32>(mt(h), 12) as i32;
}
export function hostUnmap(h: u32): i32 {
  if (hostMfn(h) < 0) return GNTST_bad_handle;
  const mfn = load<u32>(mt(h), 12);
  if (load<u32>(mt(h), 24) == 0) frameWritten(mfn); // the host may have written it
  release(h);
  return 0;
}
