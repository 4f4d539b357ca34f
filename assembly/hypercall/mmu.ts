// Memory hypercalls: mmu_update, mmuext_op, update_va_mapping, memory_op.
import { CPU_STATE, CPU_CR3, M2P64_BASE } from "../memmap";
import { reg64 } from "../cpu/state";
import { tlbFlushAll, tlbFlushPage } from "../mmu/tlb";
import {
  current, currentDom, vcpu, domIs64, domU32, setDomU32, domExists, V_CR3_KERNEL, V_CR3_USER, V_FLAGS,
  VF_KERNEL, V_LDT_BASE, V_LDT_ENTS, D_TOT_PAGES, D_MAX_PAGES, D_PRIVILEGED,
} from "../domain/domain";
import {
  frameOwner, frameType, frameTypeCount, frameFlags, mfnValid, m2pSet, framesTop, PGF_VALIDATED,
  frameRelease, NO_FRAME,
  PGT_L1, PGT_L2, PGT_L3, PGT_L4, PGT_WRITABLE,
} from "../domain/frames";
import {
  modEntry, pinTable, unpinTable, getPageAndType, putPageAndType, getPageType, putPageType, entryMfn,
  frameWritten, PTE_P, PTE_PS,
} from "../domain/mm";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, wrG32, wrG64, gOk, gReset } from "../hv/guest";
import { arg, continuation, hypercallPreemptCheck, hcAddWork } from "./args";
import { domainAllocFrame, giveBackFrame } from "../domain/mm";

@inline function v(): i32 { return vcpu(current as u32); }

// The level of a validated page-table frame (0 when it is not one).
function ptLevel(mfn: u32): i32 {
  const t = frameType(mfn);
  if (t >= PGT_L1 && t <= PGT_L4 && frameTypeCount(mfn) > 0 && (frameFlags(mfn) & PGF_VALIDATED) != 0) return t;
  return 0;
}

// One page-table (or plain) write for `d`: the frame holding `ptr` must be `d`'s.
function ptUpdate(d: u32, ptr: u64, val: u64): i32 {
  const mfn64 = ptr >> 12;
  if (mfn64 > 0xfffff || !mfnValid(mfn64)) return -A.EINVAL;
  const mfn = mfn64 as u32;
  if (frameOwner(mfn) != d) return -A.EPERM;
  const is64 = domIs64(d);
  const lvl = ptLevel(mfn);
  const idx = ((ptr & 0xfff) >> 3) as i32;
  if (lvl != 0) return modEntry(mfn, lvl, idx, val, d, is64);
  // Not a page table: an ordinary write, allowed while the frame can be writable.
  const r = getPageType(mfn, PGT_WRITABLE, d, is64);
  if (r < 0) return r;
  store<u64>((ptr & ~(7 as u64)) as i32, val);
  frameWritten(mfn);
  putPageType(mfn, is64);
  return 0;
}

// The foreign domain of mmu_update/mmuext_op, as Xen's get_pg_owner then its XSM check: the caller
// (DOMID_SELF, or its own id), else a domain that does not exist -ESRCH, another one (or DOMID_IO,
// DOMID_XEN) -EPERM unless the caller is privileged. Returns the domain or -errno.
function pgOwner(foreign: u64): i64 {
  const d = currentDom;
  const fd = (foreign & 0xffff) as u32;
  if (fd == A.DOMID_SELF || fd == d) return d as i64;
  if (fd < 0x7ff0 && !domExists(fd)) return -A.ESRCH;
  if (domU32(d, D_PRIVILEGED) == 0) return -A.EPERM;
  if (!domExists(fd)) return -A.ESRCH;
  return fd as i64;
}

// The count argument of a preempted mmu_update / mmuext_op (Xen's MMU_UPDATE_PREEMPTED): the
// continuation passes the entries left with this bit, the request pointer moved past the ones done,
// and the done count so far in *done_out, which the resumed call reads back and adds to.
const MMU_UPDATE_PREEMPTED: u64 = 0x80000000;
function resumeDone(count: u64, doneOut: u64): u64 {
  if ((count & MMU_UPDATE_PREEMPTED) == 0 || doneOut == 0) return 0;
  gReset();
  const d = rdG32(doneOut) as u64;
  return gOk ? d : 0;
}
function writeDone(doneOut: u64, done: u64, rc: i64): i64 {
  if (doneOut == 0) return rc;
  gReset();
  wrG32(doneOut, done as u32);
  return !gOk && rc == 0 ? -A.EFAULT : rc;
}

// mmu_update(reqs, count, done_out, foreigndom): { u64 ptr; u64 val } each. Preemptible.
export function hcMmuUpdate(reqs: u64, countArg: u64, doneOut: u64, foreign: u64): i64 {
  const d = currentDom;
  const po = pgOwner(foreign);
  if (po < 0) return po;
  const tgt = po as u32;
  const count = countArg & 0x7fffffff; // an unsigned int in Xen, less the preempted bit
  const done0 = resumeDone(countArg, doneOut);
  let done: u64 = 0;
  let rc: i64 = 0;
  for (; done < count; done++) {
    if (done > 0 && hypercallPreemptCheck()) {
      if (continuation(0, reqs + done * 16, 1, (count - done) | MMU_UPDATE_PREEMPTED)) break;
    }
    hcAddWork(1);
    gReset();
    const ptr = rdG64(reqs + done * 16);
    const val = rdG64(reqs + done * 16 + 8);
    if (!gOk) { rc = -A.EFAULT; break; }
    const cmd = (ptr & 3) as i32;
    let r: i32;
    if (cmd == A.MMU_NORMAL_PT_UPDATE || cmd == A.MMU_PT_UPDATE_PRESERVE_AD) {
      r = ptUpdate(tgt, ptr & ~(3 as u64), val);
    } else if (cmd == A.MMU_MACHPHYS_UPDATE) {
      const mfn = ptr >> 12;
      if (mfn > 0xfffff || !mfnValid(mfn) || frameOwner(mfn as u32) != tgt) r = -A.EINVAL;
      else { m2pSet(mfn as u32, domIs64(tgt) ? val : val & 0xffffffff); r = 0; }
    } else r = -A.ENOSYS;
    if (r < 0) { rc = r; break; }
  }
  return writeDone(doneOut, done0 + done, rc);
}

// Switch the running vCPU's top-level table (kernel or user) to `mfn`, which must validate as one.
function newBaseptr(mfn: u64, user: bool): i32 {
  const d = currentDom;
  const is64 = domIs64(d);
  if (user && !is64) return -A.EINVAL;
  if (user && mfn == 0) {
    const old = load<u64>(v() + V_CR3_USER);
    store<u64>(v() + V_CR3_USER, 0);
    if (old != 0) { tlbFlushAll(); putPageAndType((old >> 12) as u32, is64); }
    return 0;
  }
  if (mfn > 0xfffff) return -A.EINVAL;
  const lvl = is64 ? PGT_L4 : PGT_L3;
  const r = getPageAndType(mfn as u32, lvl, d, is64);
  if (r < 0) return r;
  const slot = user ? V_CR3_USER : V_CR3_KERNEL;
  const old = load<u64>(v() + slot);
  store<u64>(v() + slot, mfn << 12);
  const inKernel = !is64 || (load<u32>(v() + V_FLAGS) & VF_KERNEL) != 0;
  if (user != inKernel) store<u64>(CPU_STATE + CPU_CR3, mfn << 12);
  // Every bank (the other mode's too: hv/bounce.ts toggleGuestMode switches banks without a flush) forgets the
  // old tables' translations.
  if (user != inKernel || old != (mfn << 12)) tlbFlushAll();
  if (old != 0) putPageAndType((old >> 12) as u32, is64);
  return 0;
}

// MOV to CR3 by a PV kernel: a new (kernel) base pointer, as MMUEXT_NEW_BASEPTR.
export function newBaseptrFromCr3(val: u64): i32 {
  const mfn = domIs64(currentDom) ? (val >> 12) & 0xffffffffff : ((val >> 12) | (val << 20)) & 0xfffff;
  const cur = load<u64>(v() + V_CR3_KERNEL) >> 12;
  if (mfn == cur) { tlbFlushAll(); return 0; }
  return newBaseptr(mfn, false);
}

// mmuext_op(ops, count, done_out, foreigndom): { u32 cmd; arg1; arg2 } (24 / 12 bytes).
export function hcMmuextOp(ops: u64, countArg: u64, doneOut: u64, foreign: u64): i64 {
  const d = currentDom;
  const po = pgOwner(foreign);
  if (po < 0) return po;
  const is64 = domIs64(d);
  const sz: u64 = is64 ? 24 : 12;
  const count = countArg & 0x7fffffff;
  const done0 = resumeDone(countArg, doneOut);
  let done: u64 = 0;
  let rc: i64 = 0;
  for (; done < count; done++) {
    const e = ops + done * sz;
    if (done > 0 && hypercallPreemptCheck()) {
      if (continuation(0, e, 1, (count - done) | MMU_UPDATE_PREEMPTED)) break;
    }
    hcAddWork(1);
    gReset();
    const cmd = rdG32(e) as i32;
    const a1 = is64 ? rdG64(e + 8) : rdG32(e + 4) as u64;
    const a2 = is64 ? rdG64(e + 16) : rdG32(e + 8) as u64;
    if (!gOk) { rc = -A.EFAULT; break; }
    let r: i32 = 0;
    switch (cmd) {
      case A.MMUEXT_PIN_L1_TABLE: case A.MMUEXT_PIN_L2_TABLE: case A.MMUEXT_PIN_L3_TABLE: case A.MMUEXT_PIN_L4_TABLE: {
        const lvl = cmd + 1;
        if (a1 > 0xfffff || (lvl == 4 && !is64) || (lvl == 3 && !is64 && false)) { r = -A.EINVAL; break; }
        r = pinTable(a1 as u32, lvl, d, is64);
        break;
      }
      case A.MMUEXT_UNPIN_TABLE: r = a1 > 0xfffff ? -A.EINVAL : unpinTable(a1 as u32, d, is64); break;
      case A.MMUEXT_NEW_BASEPTR: r = newBaseptr(a1, false); break;
      case A.MMUEXT_NEW_USER_BASEPTR: r = newBaseptr(a1, true); break;
      case A.MMUEXT_TLB_FLUSH_LOCAL: case A.MMUEXT_TLB_FLUSH_MULTI: case A.MMUEXT_TLB_FLUSH_ALL: tlbFlushAll(); break;
      case A.MMUEXT_INVLPG_LOCAL: case A.MMUEXT_INVLPG_MULTI: case A.MMUEXT_INVLPG_ALL: tlbFlushPage(a1); break;
      case A.MMUEXT_FLUSH_CACHE: case A.MMUEXT_FLUSH_CACHE_GLOBAL: break;
      case A.MMUEXT_SET_LDT: {
        // LDT at a guest VA, a2 entries; its pages must be mapped (checked when a selector uses it).
        if ((a1 & 0xfff) != 0 || a2 > 8192) { r = -A.EINVAL; break; }
        store<u64>(v() + V_LDT_BASE, a1);
        store<u32>(v() + V_LDT_ENTS, a2 as u32);
        setLdt(a1, a2 as u32);
        break;
      }
      case A.MMUEXT_CLEAR_PAGE: case A.MMUEXT_COPY_PAGE: {
        if (a1 > 0xfffff || !mfnValid(a1) || frameOwner(a1 as u32) != d) { r = -A.EINVAL; break; }
        if (cmd == A.MMUEXT_COPY_PAGE && (a2 > 0xfffff || !mfnValid(a2) || frameOwner(a2 as u32) != d)) {
          r = -A.EINVAL; break;
        }
        r = getPageType(a1 as u32, PGT_WRITABLE, d, is64);
        if (r < 0) break;
        if (cmd == A.MMUEXT_CLEAR_PAGE) memory.fill((a1 << 12) as i32, 0, 4096);
        else memory.copy((a1 << 12) as i32, (a2 << 12) as i32, 4096);
        frameWritten(a1 as u32);
        putPageType(a1 as u32, is64);
        break;
      }
      default: r = -A.ENOSYS;
    }
    if (r < 0) { rc = r; break; }
  }
  return writeDone(doneOut, done0 + done, rc);
}

import { setSeg } from "../cpu/state";
import { SEG_LDTR } from "../memmap";
function setLdt(base: u64, ents: u32): void {
  if (ents == 0) setSeg(SEG_LDTR, 0, 0, 0, 0);
  else setSeg(SEG_LDTR, 0x38, base, ents * 8 - 1, 0x82);
}

// The machine address of the L1 entry mapping `va` in the running vCPU's current tables, or 0.
export function l1EntryFor(va: u64): u64 {
  const is64 = domIs64(currentDom);
  let table = load<u64>(CPU_STATE + CPU_CR3) & 0xffffffffff000;
  if (is64) {
    for (let lvl = 4; lvl >= 2; lvl--) {
      const shift = (12 + 9 * (lvl - 1)) as u64;
      const e = load<u64>((table + (((va >> shift) & 0x1ff) << 3)) as i32);
      if ((e & PTE_P) == 0 || (e & PTE_PS) != 0) return 0;
      table = (entryMfn(e) as u64) << 12;
    }
  } else {
    const e3 = load<u64>(((load<u64>(CPU_STATE + CPU_CR3) & 0xffffffe0) + (((va >> 30) & 3) << 3)) as i32);
    if ((e3 & PTE_P) == 0) return 0;
    const e2 = load<u64>(((((entryMfn(e3) as u64) << 12)) + (((va >> 21) & 0x1ff) << 3)) as i32);
    if ((e2 & PTE_P) == 0 || (e2 & PTE_PS) != 0) return 0;
    table = (entryMfn(e2) as u64) << 12;
  }
  return table + (((va >> 12) & 0x1ff) << 3);
}

// update_va_mapping(va, val, flags); 32-bit guests: (va, val_lo, val_hi, flags).
export function hcUpdateVaMapping(a0: u64, a1: u64, a2: u64, a3: u64): i64 {
  const is64 = domIs64(currentDom);
  const va = a0;
  const val = is64 ? a1 : a1 | (a2 << 32);
  const flags = is64 ? a2 : a3;
  const pte = l1EntryFor(va);
  if (pte == 0) return -A.EINVAL;
  const mfn = (pte >> 12) as u32;
  if (ptLevel(mfn) != PGT_L1) return -A.EINVAL;
  const r = modEntry(mfn, 1, ((pte & 0xfff) >> 3) as i32, val, currentDom, is64);
  if (r < 0) return r;
  const ft = (flags & A.UVMF_FLUSHTYPE_MASK) as i32;
  if (ft == A.UVMF_TLB_FLUSH) tlbFlushAll();
  else tlbFlushPage(va); // the page changed is always dropped (INVLPG or not)
  return 0;
}

// memory_op(cmd, arg).
export function hcMemoryOp(cmd: u64, p: u64): i64 {
  const d = currentDom;
  const is64 = domIs64(d);
  switch ((cmd & 0x3f) as i32) {
    case A.XENMEM_current_reservation: case A.XENMEM_maximum_reservation: {
      gReset();
      const dom = rdG32(p) & 0xffff;
      if (!gOk) return -A.EFAULT;
      const t = dom == A.DOMID_SELF ? d : dom;
      if (t != d && domU32(d, D_PRIVILEGED) == 0) return -A.EPERM;
      if (!domExists(t)) return -A.ESRCH;
      return (cmd & 0x3f) == A.XENMEM_current_reservation ? domU32(t, D_TOT_PAGES) : domU32(t, D_MAX_PAGES);
    }
    case A.XENMEM_maximum_ram_page: return framesTop(); // Xen's max_page
    case A.XENMEM_increase_reservation: case A.XENMEM_decrease_reservation: case A.XENMEM_populate_physmap:
      return reservation((cmd & 0x3f) as i32, cmd >> A.MEMOP_EXTENT_SHIFT, p);
    case A.XENMEM_machphys_mapping: {
      // As Xen: max_mfn is the last entry the M2P area holds (MACH2PHYS_NR_ENTRIES - 1: 1M entries of
      // 8 bytes, or of 4 for 32-bit guests), not the last frame handed out so far. Linux reads M2P
      // entries only below max_mfn + 1 (machine_to_phys_nr, set once at boot) and takes every frame
      // above as having no pfn: when that was the frames in use at boot, a balloon that grew the
      // domain with frames never used before made Linux turn their PTEs non-present
      // (pte_mfn_to_pfn): "Bad page map", and the Oops in copy_page_range (CR2 000029ffffffffe8) at
      // the next fork (issue 12).
      gReset();
      const maxMfn: u64 = (1 << 20) - 1;
      if (is64) {
        wrG64(p, A.MACH2PHYS_VIRT_START_64);
        wrG64(p + 8, A.MACH2PHYS_VIRT_START_64 + (1 << 23));
        wrG64(p + 16, maxMfn);
      } else {
        wrG32(p, A.MACH2PHYS_VIRT_START_32);
        wrG32(p + 4, A.MACH2PHYS_VIRT_START_32 + (1 << 22));
        wrG32(p + 8, maxMfn as u32);
      }
      return gOk ? 0 : -A.EFAULT;
    }
    case A.XENMEM_memory_map: {
      // One RAM entry covering the domain's pages: { u64 addr; u64 size; u32 type = 1 }.
      gReset();
      const n = rdG32(p);
      const buf = is64 ? rdG64(p + 8) : rdG32(p + 4) as u64;
      if (!gOk) return -A.EFAULT;
      if (n < 1) return -A.EINVAL;
      wrG64(buf, 0);
      wrG64(buf + 8, (domU32(d, D_MAX_PAGES) as u64) << 12);
      wrG32(buf + 16, 1);
      wrG32(p, 1);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.XENMEM_add_to_physmap: {
      // struct xen_add_to_physmap { u16 domid @0; u16 size @2; u32 space @4; xen_ulong idx @8;
      // xen_pfn gpfn @16/@12 }. Xen checks, in this order: the continuation (-EDOM), the read
      // (-EFAULT), XENMAPSPACE_gmfn_foreign (-ENOSYS: batch only), the domain (-ESRCH), then refuses
      // every space for a domain that is not paging-translated (-EACCES): a PV guest reaches its
      // grant-table and status frames by their machine frame numbers (setup_table, get_status_frames).
      if ((cmd >> 6) > 0xffff) return -A.EDOM;
      gReset();
      const dom = rdG16(p);
      const space = rdG32(p + 4);
      if (is64) { rdG64(p + 8); rdG64(p + 16); } else { rdG32(p + 8); rdG32(p + 12); }
      if (!gOk) return -A.EFAULT;
      if (space == 4) return -A.ENOSYS; // XENMAPSPACE_gmfn_foreign
      const t = dom == A.DOMID_SELF ? d : dom;
      if (!domExists(t)) return -A.ESRCH;
      return -A.EACCES;
    }
    default: return -A.ENOSYS;
  }
}

// struct xen_memory_reservation: extent_start @0; nr_extents @8/@4; extent_order @16/@8;
// mem_flags @20/@12; domid @24/@16. Returns the number of extents done (a partial count on the first
// failure), as Xen does; only order 0 extents are offered (others: -EINVAL... as 0 done).
function reservation(op: i32, start: u64, p: u64): i64 {
  const d = currentDom;
  const is64 = domIs64(d);
  gReset();
  const ext = is64 ? rdG64(p) : rdG32(p) as u64;
  const n = is64 ? rdG64(p + 8) : rdG32(p + 4) as u64;
  const order = rdG32(p + (is64 ? 16 : 8));
  let dom = (is64 ? rdG32(p + 24) : rdG32(p + 16)) & 0xffff;
  if (!gOk) return -A.EFAULT;
  if (dom == A.DOMID_SELF) dom = d;
  if (dom != d && domU32(d, D_PRIVILEGED) == 0) return -A.EPERM;
  if (!domExists(dom)) return -A.ESRCH;
  if (order != 0) return -A.EINVAL;
  // As Xen: a count too large to encode a continuation, or a start past the end, does nothing.
  if (n > (0xffffffff >> A.MEMOP_EXTENT_SHIFT) || start >= n) return start as i64;
  const w: u64 = is64 ? 8 : 4;
  let i: u64 = start;
  for (; i < n; i++) {
    // Preemptible: the continuation is memory_op(cmd | i << MEMOP_EXTENT_SHIFT, arg), extents before i
    // skipped on resume; the last call returns the total done.
    if (i != start && hypercallPreemptCheck() && continuation(0, (op as u64) | (i << A.MEMOP_EXTENT_SHIFT), 1, p))
      return 0;
    hcAddWork(1);
    const slot = ext + i * w;
    if (op == A.XENMEM_decrease_reservation) {
      if (ext == 0) break;
      const m = is64 ? rdG64(slot) : rdG32(slot) as u64;
      if (!gOk) return -A.EFAULT;
      // As Xen's guest_remove_page (PV): a frame that is not the domain's stops here (-EINVAL, -ENXIO:
      // the extents done are returned); otherwise the domain's allocation of it goes. A frame still
      // mapped or held (by another domain's grant mapping, a backend's, the domain's own page tables
      // or pins) stays the domain's, counted in its pages, until the last reference goes; one already
      // given back is done again without effect.
      if (m > 0xfffff || !mfnValid(m) || frameOwner(m as u32) != dom) break;
      giveBackFrame(m as u32);
      continue;
    }
    const m = domainAllocFrame(dom);
    if (m == NO_FRAME) break;
    if (op == A.XENMEM_populate_physmap) {
      if (ext == 0) { frameRelease(m); setDomU32(dom, D_TOT_PAGES, domU32(dom, D_TOT_PAGES) - 1); break; }
      const pfn = is64 ? rdG64(slot) : rdG32(slot) as u64;
      if (!gOk) return -A.EFAULT;
      m2pSet(m, pfn);
      if (is64) wrG64(slot, m as u64); else wrG32(slot, m);
    } else if (ext != 0) {
      if (is64) wrG64(slot, m as u64); else wrG32(slot, m);
    }
    if (!gOk) return -A.EFAULT;
  }
  return i as i64;
}

export { M2P64_BASE, reg64, arg, setDomU32 };
