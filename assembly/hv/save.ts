// Save and restore of a PV domain (the hypervisor's half; the stream is the host's, host/save/).
// A domain is saved after it suspended itself (SCHEDOP_shutdown with SHUTDOWN_suspend): its frames
// (with their page types and pins), its domain and vCPU records go out. On restore every frame gets a
// new machine address, so everything holding one is translated through the old→new map: page-table
// entries, CR3s, GDT frames, vcpu_info, shared_info, start_info (and the fields in it), grant frames,
// the guest's p2m list (found through start_info.mfn_list) and the M2P. Types and pins are then taken
// again, which re-validates every table and rebuilds the reference counts. Event channels are not
// kept (as in Xen): the guest finds new console and xenstore channels in start_info when it resumes.
import { CPU_STATE, CPU_CR3, CPU_GDT_FRAMES, CPU_GDT_ENTRIES, CPU_SAVE_SIZE, RESTORE_MAP, RESTORE_MAP_MAX, RESTORE_BLOBS, EVTCHN_DOM_SIZE } from "../memmap";
import {
  dom, domU32, setDomU32, domExists, domIs64, vcpu, vcpuSave, current, D_STATE, D_NR_VCPUS, D_VCPU0, D_SHARED_INFO,
  D_START_INFO, D_CONSOLE_MFN, D_STORE_MFN, D_GNT_FRAMES, D_GNT_FRAME0, D_GNT_NSTATUS, D_GNT_STATUS0, GNT_MAX_STATUS, D_EVTCHN_FIFO, D_FIFO_ARRAY, V_FIFO_CB, V_FIFO_TAIL, D_SHUTDOWN_REASON, D_TOT_PAGES, D_CORE_REC_BYTES, D_CORE_FRAME_BYTES,
  D_MAX_PAGES, DS_RUNNING, DS_SHUTDOWN, V_DOMAIN, V_ID, V_CR3_KERNEL, V_CR3_USER, V_VCPU_INFO, V_FLAGS,
  VF_ONLINE, VF_KERNEL, VF_INITIALISED, D_VCPU_RR, evtchnBase, evtchnBytes,
} from "../domain/domain";
import { DOMAIN_SIZE, VCPU_SIZE, MAILBOX, MAILBOX_SIZE } from "../memmap";
import {
  frameOwner, frameType, frameFlags, m2pGet, m2pSet, framesHighWater, FIRST_MFN, PGF_PINNED, PGT_L1, PGT_L4,
  PGT_SEG_DESC, mfnValid, frameTypeCount, frameRefCount, frameRelease,
} from "../domain/frames";
import { getPage, getPageAndType, pinTable, installXenL4, installXenPaeL2, PTE_P, XEN_L4_FIRST, XEN_L4_LAST, XEN_PAE_L2_FIRST } from "../domain/mm";
import { allocUnbound, bindInterdomain } from "../event/evtchn";
import { XEN_M2P32_L2E0 } from "../domain/xenmap";
import { SHUTDOWN_suspend } from "../hypercall/abi";
import { debugregsValid } from "./debugreg";
import { D_PAGE_HEAD } from "../records";

// ---- save ----

// The frames `d` owns, from `fromMfn` on: records of 16 bytes at MAILBOX { u32 mfn; u32 type |
// pinned << 8; u64 m2p }. Returns how many were written (0: no more).
export function saveFrames(d: u32, fromMfn: u32): u32 {
  const max = (MAILBOX_SIZE >> 4) as u32;
  let n: u32 = 0;
  const top = framesHighWater();
  let m = fromMfn < FIRST_MFN ? FIRST_MFN : fromMfn;
  for (; m < top && n < max; m++) {
    if (frameOwner(m) != d) continue;
    const r = MAILBOX + ((n as i32) << 4);
    store<u32>(r, m);
    store<u32>(r + 4, (frameType(m) as u32) | (((frameFlags(m) & PGF_PINNED) != 0 ? 1 : 0) << 8));
    store<u64>(r + 8, m2pGet(m));
    n++;
  }
  return n;
}

// Make the loaded vCPU's record current (before its record is read).
export function saveSync(): void { vcpuSave(); }

// ---- restore ----
// RESTORE_MAP is a direct table: u32 new mfn for each of the sender's mfns (0: none), filled by the
// host as pages arrive. restoreFrames() takes the sender's frame list in chunks (records of 16 bytes at
// MAILBOX: { u32 old mfn; u32 type | pinned << 8; u64 m2p }, as saveFrames wrote them): it marks each
// listed frame (bit 31), sets its M2P entry and notes page tables and pinned frames in a list at
// RESTORE_TYPED (u32 new mfn, u32 type | pinned << 8). Saved records at RESTORE_BLOBS: the domain
// record (DOMAIN_SIZE bytes), then the vCPU records (VCPU_SIZE each).
const LISTED: u32 = 0x80000000;
const RESTORE_TYPED = RESTORE_BLOBS + 0x80000; // 64K entries of 8 bytes
const TYPED_MAX: u32 = 0x10000;
let typedCount: u32 = 0;
let listedCount: u32 = 0;
let mapBound: u32 = 0; // entries at and above it are not this restore's (never consulted)

// A listed frame's new mfn, or 0.
@inline function lookup(old: u32): u32 {
  if (old >= mapBound) return 0;
  const e = load<u32>(RESTORE_MAP + ((old as i32) << 2));
  return (e & LISTED) != 0 ? e & ~LISTED : 0;
}

// A restore starts: the host has written the table's first `bound` entries.
export function restoreBegin(bound: u32): void {
  typedCount = 0; listedCount = 0;
  mapBound = bound < (RESTORE_MAP_MAX as u32) ? bound : RESTORE_MAP_MAX as u32;
}

// One chunk of the frame list; 0, or -1 (a frame with no data or listed twice, or not d's), -2 (too many typed frames).
export function restoreFrames(d: u32, n: u32): i32 {
  if (!domExists(d) || n > ((MAILBOX_SIZE >> 4) as u32)) return -1;
  for (let i: u32 = 0; i < n; i++) {
    const r = MAILBOX + ((i as i32) << 4);
    const old = load<u32>(r);
    if (old >= mapBound) return -1;
    const slot = RESTORE_MAP + ((old as i32) << 2);
    const e = load<u32>(slot);
    if (e == 0 || (e & LISTED) != 0 || frameOwner(e) != d) return -1;
    store<u32>(slot, e | LISTED);
    listedCount++;
    const m2p = load<u64>(r + 8);
    m2pSet(e, m2p > 0xffffffff ? <u64>-1 : m2p);
    const info = load<u32>(r + 4);
    const t = (info & 0xff) as i32;
    if ((t >= PGT_L1 && t <= PGT_SEG_DESC) || (info >> 8) != 0) {
      if (typedCount >= TYPED_MAX) return -2;
      store<u32>(RESTORE_TYPED + ((typedCount as i32) << 3), e);
      store<u32>(RESTORE_TYPED + ((typedCount as i32) << 3) + 4, info);
      typedCount++;
    }
  }
  return 0;
}

// A machine address through the map (0 stays 0; unknown → 0xffffffff).
function xma(a: u64): u64 {
  if (a == 0) return 0;
  const n = lookup((a >> 12) as u32);
  if (n == 0) return 0xffffffff;
  return ((n as u64) << 12) | (a & 0xfff);
}

// Entries of one page table through the map; false if an entry points outside the domain.
function translateTable(mfn: u32, level: i32, is64: bool, paeXen: bool): bool {
  const base = (mfn as i32) << 12;
  const n = !is64 && level == 3 ? 4 : 512;
  for (let i = 0; i < n; i++) {
    if (is64 && level == 4 && i >= XEN_L4_FIRST && i <= XEN_L4_LAST) { store<u64>(base + (i << 3), 0); continue; }
    if (paeXen && i >= XEN_PAE_L2_FIRST) { store<u64>(base + (i << 3), 0); continue; }
    const e = load<u64>(base + (i << 3));
    if ((e & PTE_P) == 0) continue;
    const old = ((e >> 12) & 0xffffffffff) as u32;
    const nw = lookup(old);
    if (nw == 0) return false;
    store<u64>(base + (i << 3), (e & ~(0x000ffffffffff000 as u64)) | ((nw as u64) << 12));
  }
  return true;
}

// Restore into the new domain `d` (created with hv_domain_create, its frames allocated and filled by
// the host): translate, re-validate, set up new console/xenstore channels. Returns 0, or -1 .. -10 for
// the step that failed (the caller destroys the domain).
export function restoreFixup(d: u32, count: u32): i32 {
  if (!domExists(d) || count != listedCount) return -1;
  // Frames that were sent but are not in the list (the guest gave them back meanwhile) go.
  for (let old = 0; old < (mapBound as i32); old++) {
    const e = load<u32>(RESTORE_MAP + (old << 2));
    if (e != 0 && (e & LISTED) == 0) { freeFrame(d, e); store<u32>(RESTORE_MAP + (old << 2), 0); }
  }
  const is64 = domIs64(d);
  const saved = RESTORE_BLOBS;
  const nv = domU32(d, D_NR_VCPUS);
  if (load<u32>(saved + D_NR_VCPUS) != nv) return -2;
  // Domain record fields that carry over (translated).
  setDomU32(d, D_SHARED_INFO, xma(load<u32>(saved + D_SHARED_INFO) as u64) as u32);
  setDomU32(d, D_START_INFO, xma(load<u32>(saved + D_START_INFO) as u64) as u32);
  setDomU32(d, D_CONSOLE_MFN, xma(load<u32>(saved + D_CONSOLE_MFN) as u64) as u32);
  setDomU32(d, D_STORE_MFN, xma(load<u32>(saved + D_STORE_MFN) as u64) as u32);
  const ng = load<u32>(saved + D_GNT_FRAMES);
  if (ng > 32) return -1;
  setDomU32(d, D_GNT_FRAMES, ng);
  for (let k: u32 = 0; k < ng && k < 32; k++) setDomU32(d, D_GNT_FRAME0 + ((k as i32) << 2), xma(load<u32>(saved + D_GNT_FRAME0 + ((k as i32) << 2)) as u64) as u32);
  // Grant tables v2: the status frames (the domain's own frames, sent with the others).
  const ns = load<u32>(saved + D_GNT_NSTATUS);
  if (ns > (GNT_MAX_STATUS as u32)) return -1;
  setDomU32(d, D_GNT_NSTATUS, ns);
  for (let k: u32 = 0; k < (GNT_MAX_STATUS as u32); k++) setDomU32(d, D_GNT_STATUS0 + ((k as i32) << 2), k < ns ? xma(load<u32>(saved + D_GNT_STATUS0 + ((k as i32) << 2)) as u64) as u32 : 0);
  for (let f = 32; f < DOMAIN_SIZE; f += 4) {
    // Everything else after the identity/bookkeeping fields: vm_assist, grant version, weight,
    // cap, shutdown code, time offset are copied as they were.
    if (f == D_SHARED_INFO || f == D_START_INFO || f == D_CONSOLE_MFN || f == D_STORE_MFN || f == D_GNT_FRAMES) continue;
    if (f >= D_GNT_FRAME0 && f < D_GNT_FRAME0 + 128) continue;
    if (f >= D_GNT_NSTATUS && f < D_GNT_STATUS0 + GNT_MAX_STATUS * 4) continue;
    if (f == D_EVTCHN_FIFO || f == D_FIFO_ARRAY) continue; // event channels start over (2-level), as in Xen
    if (f == D_TOT_PAGES || f == D_MAX_PAGES || f == D_VCPU0 || f == D_NR_VCPUS || f == D_STATE || f == D_SHUTDOWN_REASON || f == D_VCPU_RR) continue;
    if (f >= D_CORE_REC_BYTES && f < D_CORE_FRAME_BYTES + 8) continue; // this host's own counts
    if (f == D_PAGE_HEAD) continue; // this host's list of the domain's frames
    store<u32>(dom(d) + f, load<u32>(saved + f));
  }
  if (domU32(d, D_SHARED_INFO) == 0xffffffff || domU32(d, D_START_INFO) == 0xffffffff) return -3;
  // Grant and status frames must be frames of the domain (the hypervisor writes into them).
  for (let k: u32 = 0; k < ng; k++) if (domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) == 0xffffffff || domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) == 0) return -3;
  for (let k: u32 = 0; k < ns; k++) if (domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) == 0xffffffff || domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) == 0) return -3;
  // Page tables (the M2P is set already).
  for (let i: u32 = 0; i < typedCount; i++) {
    const r = RESTORE_TYPED + ((i as i32) << 3);
    const nw = load<u32>(r);
    const t = (load<u32>(r + 4) & 0xff) as i32;
    if (t >= PGT_L1 && t <= PGT_L4) {
      const paeXen = !is64 && t == 2 && load<u64>(((nw as i32) << 12) + (XEN_PAE_L2_FIRST << 3)) == XEN_M2P32_L2E0;
      if (!translateTable(nw, t, is64, paeXen)) return -4;
    }
  }
  // vCPUs.
  for (let k: u32 = 0; k < nv; k++) {
    const dst = vcpu(domU32(d, D_VCPU0) + k);
    const src = saved + DOMAIN_SIZE + (k as i32) * VCPU_SIZE;
    const keepDom = load<u32>(dst + V_DOMAIN), keepId = load<u32>(dst + V_ID);
    memory.copy(dst, src, VCPU_SIZE);
    store<u32>(dst + V_DOMAIN, keepDom);
    store<u32>(dst + V_ID, keepId);
    store<u32>(dst + V_FIFO_CB, 0); // no FIFO control block: the guest sets it up again on resume
    memory.fill(dst + V_FIFO_TAIL, 0, 32);
    store<u64>(dst + CPU_CR3, xma(load<u64>(dst + CPU_CR3)));
    store<u64>(dst + V_CR3_KERNEL, xma(load<u64>(dst + V_CR3_KERNEL)));
    store<u64>(dst + V_CR3_USER, xma(load<u64>(dst + V_CR3_USER)));
    store<u64>(dst + V_VCPU_INFO, xma(load<u64>(dst + V_VCPU_INFO)));
    // Streams from before SMP did not mark vCPU 0 (nor online vCPUs) as having a context.
    if (k == 0 || (load<u32>(dst + V_FLAGS) & VF_ONLINE) != 0) store<u32>(dst + V_FLAGS, load<u32>(dst + V_FLAGS) | VF_INITIALISED);
    const ge = load<i32>(dst + CPU_GDT_ENTRIES);
    for (let g = 0; g < ((ge + 511) >> 9); g++) store<u32>(dst + CPU_GDT_FRAMES + g * 4, xma(load<u32>(dst + CPU_GDT_FRAMES + g * 4) as u64) as u32);
    // Debug registers from the stream: Xen's checks (hv/debugreg.ts), else the restore fails.
    if (!debugregsValid(dst, is64)) return -10;
    // Old event state means nothing now: no upcall pending.
    const vi = load<u64>(dst + V_VCPU_INFO) as i32;
    if (vi != 0 && vi != -1) { store<u8>(vi, 0); if (is64) store<u64>(vi + 8, 0); else store<u32>(vi + 4, 0); }
  }
  // The guest's p2m list (start_info.mfn_list, a VA in its initial mapping) and start_info's fields.
  const si = domU32(d, D_START_INFO) as i32;
  if (!fixStartInfo(d, si, is64)) return -5;
  // shared_info's event bitmaps: cleared (the ports are gone).
  const shi = domU32(d, D_SHARED_INFO) as i32;
  if (is64) memory.fill(shi + 2048, 0, 1024); else memory.fill(shi + 1536, 0, 256);
  // Types and pins again (validation rebuilds the counts).
  for (let i: u32 = 0; i < typedCount; i++) {
    const r = RESTORE_TYPED + ((i as i32) << 3);
    const info = load<u32>(r + 4);
    if ((info >> 8) == 0) continue;
    const t = (info & 0xff) as i32;
    if (pinTable(load<u32>(r), t, d, is64) < 0) return -6;
  }
  for (let k: u32 = 0; k < nv; k++) {
    const v = vcpu(domU32(d, D_VCPU0) + k);
    const top = is64 ? PGT_L4 : 3;
    const c3 = load<u64>(v + V_CR3_KERNEL);
    if (c3 != 0 && getPageAndType((c3 >> 12) as u32, top, d, is64) < 0) return -7;
    const cu = load<u64>(v + V_CR3_USER);
    if (cu != 0 && getPageAndType((cu >> 12) as u32, top, d, is64) < 0) return -7;
    const ge = load<i32>(v + CPU_GDT_ENTRIES);
    for (let g = 0; g < ((ge + 511) >> 9); g++) if (getPageAndType(load<u32>(v + CPU_GDT_FRAMES + g * 4) >> 12, PGT_SEG_DESC, d, is64) < 0) return -8;
  }
  // New channels for the console and xenstore (event channels are not kept).
  memory.fill(evtchnBase(d), 0, evtchnBytes(d));
  for (let k: u32 = 0; k < nv; k++) memory.fill(vcpu(domU32(d, D_VCPU0) + k) + 0x8c0, 0, 48); // VIRQ bindings
  const cp = allocUnbound(d, 0), sp = allocUnbound(d, 0);
  if (cp < 0 || sp < 0) return -9;
  if (is64) { store<u32>(si + 80, cp as u32); store<u32>(si + 64, sp as u32); }
  else { store<u32>(si + 56, cp as u32); store<u32>(si + 48, sp as u32); }
  restoredConsolePort = cp as u32;
  restoredStorePort = sp as u32;
  // The hypervisor's own reference on each grant and status frame (hypercall/grant.ts): the guest
  // cannot give them back.
  for (let k: u32 = 0; k < ng; k++) if (!getPage(domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) >> 12, d)) return -3;
  for (let k: u32 = 0; k < ns; k++) if (!getPage(domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12, d)) return -3;
  // vCPU 0 returns from its suspend hypercall with 0: resumed in a new domain.
  store<u64>(vcpu(domU32(d, D_VCPU0)), 0);
  setDomU32(d, D_STATE, DS_RUNNING);
  return 0;
}
export let restoredConsolePort: u32 = 0;
export let restoredStorePort: u32 = 0;

// start_info: shared_info (machine address), store_mfn, console mfn, and the p2m list it points to.
function fixStartInfo(d: u32, si: i32, is64: bool): bool {
  if (is64) {
    store<u64>(si + 40, domU32(d, D_SHARED_INFO) as u64);
    store<u64>(si + 56, (domU32(d, D_STORE_MFN) >> 12) as u64);
    store<u64>(si + 72, (domU32(d, D_CONSOLE_MFN) >> 12) as u64);
  } else {
    store<u32>(si + 36, domU32(d, D_SHARED_INFO));
    store<u32>(si + 44, domU32(d, D_STORE_MFN) >> 12);
    store<u32>(si + 52, domU32(d, D_CONSOLE_MFN) >> 12);
  }
  // The p2m: nr_pages entries at the VA mfn_list, found through the (translated) kernel tables.
  const nr = is64 ? load<u64>(si + 32) : load<u32>(si + 32) as u64;
  const list = is64 ? load<u64>(si + 104) : load<u32>(si + 68) as u64;
  const w: u64 = is64 ? 8 : 4;
  const cr3 = load<u64>(vcpu(domU32(d, D_VCPU0)) + V_CR3_KERNEL);
  // From the stream: at most the domain's pages, entries aligned (none straddles two frames).
  if (nr > (domU32(d, D_MAX_PAGES) as u64) || (list & (w - 1)) != 0) return false;
  let pageVa: u64 = <u64>-1, pageMa: u64 = 0;
  for (let p: u64 = 0; p < nr; p++) {
    const va = list + p * w;
    if ((va & ~(0xfff as u64)) != pageVa) { // one walk per page of the list
      pageVa = va & ~(0xfff as u64);
      pageMa = walkVa(d, cr3, pageVa, is64);
      if (pageMa == 0) return false;
    }
    const ma = (pageMa + (va & 0xfff)) as i32;
    if (is64) { const o = load<u64>(ma); const n = o < (RESTORE_MAP_MAX as u64) ? lookup(o as u32) : 0; store<u64>(ma, n == 0 ? <u64>-1 : n as u64); }
    else { const o = load<u32>(ma); const n = lookup(o); store<u32>(ma, n == 0 ? 0xffffffff : n); }
  }
  return cr3 != 0;
}

// The machine address of `va` in the (translated) tables rooted at `cr3`, or 0. The tables come from
// the stream (checked only later, when they are pinned again): every table and the page found must be
// a frame of `d`, or the walk would read (and the caller write) memory that is not the domain's.
function walkVa(d: u32, cr3: u64, va: u64, is64: bool): u64 {
  let t = cr3 & 0x000ffffffffff000;
  if (!ownFrame(d, t)) return 0;
  if (!is64) {
    const e3 = load<u64>(((cr3 & 0xffffffe0) + (((va >> 30) & 3) << 3)) as i32);
    if ((e3 & PTE_P) == 0) return 0;
    t = e3 & 0x000ffffffffff000;
    if (!ownFrame(d, t)) return 0;
    for (let lvl = 2; lvl >= 1; lvl--) {
      const e = load<u64>((t + (((va >> ((12 + 9 * (lvl - 1)) as u64)) & 0x1ff) << 3)) as i32);
      if ((e & PTE_P) == 0) return 0;
      t = e & 0x000ffffffffff000;
      if (!ownFrame(d, t)) return 0;
    }
    return t + (va & 0xfff);
  }
  for (let lvl = 4; lvl >= 1; lvl--) {
    const e = load<u64>((t + (((va >> ((12 + 9 * (lvl - 1)) as u64)) & 0x1ff) << 3)) as i32);
    if ((e & PTE_P) == 0) return 0;
    t = e & 0x000ffffffffff000;
    if (!ownFrame(d, t)) return 0;
  }
  return t + (va & 0xfff);
}

// Is the machine address `ma` in a frame that exists and belongs to `d`?
function ownFrame(d: u32, ma: u64): bool {
  const mfn = ma >> 12;
  return mfnValid(mfn) && frameOwner(mfn as u32) == d;
}

// Suspend cancelled (the save failed): the domain runs on, its suspend hypercall returning 1.
export function resumeCancelled(d: u32): i32 {
  if (!domExists(d) || domU32(d, D_STATE) != DS_SHUTDOWN || domU32(d, D_SHUTDOWN_REASON) != SHUTDOWN_suspend) return -1;
  const v0 = vcpu(domU32(d, D_VCPU0));
  if (current == (domU32(d, D_VCPU0) as i32)) store<u64>(CPU_STATE, 1); else store<u64>(v0, 1);
  setDomU32(d, D_STATE, DS_RUNNING);
  return 0;
}

export { CPU_SAVE_SIZE, VF_ONLINE, VF_KERNEL, V_FLAGS, installXenL4, installXenPaeL2, m2pSet, bindInterdomain };

// Release `mfn` of domain `d` (unused, untyped); 0, or -1 if it is not d's or still in use.
export function freeFrame(d: u32, mfn: u32): i32 {
  if (!domExists(d) || !mfnValid(mfn as u64) || frameOwner(mfn) != d) return -1;
  if (frameTypeCount(mfn) != 0 || frameRefCount(mfn) != 0) return -1;
  frameRelease(mfn);
  setDomU32(d, D_TOT_PAGES, domU32(d, D_TOT_PAGES) - 1);
  return 0;
}
