// Save and restore of a PV domain (the hypervisor's half; the stream is the host's, host/save/).
// A domain is saved after it suspended itself (SCHEDOP_shutdown with SHUTDOWN_suspend): its frames
// (with their page types and pins), its typed DOMAIN and VCPU records (./saverec.ts: named fields,
// versioned, never a copy of the core's own structures) go out. On restore every frame gets a
// new machine address, so everything holding one is translated through the old→new map: page-table
// entries, CR3s, GDT frames, vcpu_info, shared_info, start_info (and the fields in it), grant frames,
// the guest's p2m list (found through start_info.mfn_list) and the M2P. Types and pins are then taken
// again, which re-validates every table and rebuilds the reference counts. Event channels are not
// kept (as in Xen): the guest finds new console and xenstore channels in start_info when it resumes.
import {
  CPU_STATE, CPU_CR3, CPU_GDT_FRAMES, CPU_GDT_ENTRIES, CPU_SAVE_SIZE, RESTORE_MAP, RESTORE_MAP_MAX, RESTORE_BLOBS,
  CPU_REGS, CPU_RIP, CPU_RFLAGS, CPU_SEG, SEG_SIZE, SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, CPU_CPL,
  CPU_CR0, CPU_CR2, CPU_CR4, CPU_EFER, CPU_DR, CPU_DR7_EMUL, CPU_MSR_STAR, CPU_MSR_LSTAR, CPU_MSR_CSTAR, CPU_MSR_SFMASK,
  CPU_MSR_KGSBASE, CPU_MSR_SYSENTER_CS, CPU_MSR_SYSENTER_ESP, CPU_MSR_SYSENTER_EIP, CPU_TSC_OFFSET, CPU_MSR_PAT,
  CPU_MSR_MISC_ENABLE, CPU_MSR_TSC_AUX, CPU_MSR_SPEC_CTRL, CPU_FXSAVE, CPU_IDTR_LIMIT, CPU_INTERCEPT,
  CPU_INTERCEPT_FLAGS,
  CPU_GDT_MODE, GDT_PV64, GDT_PV32, INTERCEPT_SYSCALL, INTERCEPT_SYSENTER, CPU_DR6, CPU_DR7,
} from "../memmap";
import {
  domU32, setDomU32, setDomU64, domExists, domIs64, vcpu, vcpuSave, vcpuDrop, current, D_STATE, D_NR_VCPUS, D_VCPU0,
  D_WIDTH, D_SHARED_INFO, D_START_INFO, D_CONSOLE_MFN, D_STORE_MFN, D_CONSOLE_EVTCHN, D_STORE_EVTCHN, D_GNT_FRAMES,
  D_GNT_FRAME0, D_GNT_NSTATUS, D_GNT_STATUS0, D_GNT_VERSION, GNT_MAX_STATUS, D_EVTCHN_FIFO, D_FIFO_ARRAY,
  D_SHUTDOWN_REASON, D_SHUTDOWN_CODE, D_TOT_PAGES, D_MAX_PAGES, D_VM_ASSIST, D_WEIGHT, D_CAP, D_CPU_NS, D_TIME_OFFSET,
  DS_RUNNING, DS_SHUTDOWN, V_DOMAIN, V_ID, V_CR3_KERNEL, V_CR3_USER, V_VCPU_INFO, V_FLAGS, VF_ONLINE, VF_BLOCKED,
  VF_KERNEL,
  VF_IN_FAILSAFE, VF_INITIALISED, VF_FRESH, V_IOPL, V_GS_KERNEL, V_GUEST_CR4, V_LDT_ENTS, V_LDT_BASE, V_KERNEL_SS,
  V_KERNEL_SP, V_CB_EVENT, V_CB_FAILSAFE, V_CB_SYSCALL, V_CB_SYSCALL32, V_CB_SYSENTER, V_CB_NMI, V_CB_FLAGS,
  V_CB_EVENT_CS, V_CB_FAILSAFE_CS, V_CB_SYSENTER_CS, V_TRAPS, V_RUNSTATE_VA, V_TIMER, V_PERIOD, V_PERIOD_NEXT,
  V_RS_STATE, V_RS_ENTRY, V_RS_TIME, evtchnBase, evtchnBytes,
} from "../domain/domain";
import { VCPU_SIZE, MAILBOX, MAILBOX_SIZE } from "../memmap";
import {
  frameOwner, frameType, frameFlags, m2pGet, m2pSet, framesHighWater, FIRST_MFN, PGF_PINNED, PGT_L1, PGT_L4,
  PGT_SEG_DESC, mfnValid, frameTypeCount, frameRefCount, frameRelease,
} from "../domain/frames";
import {
  getPage, getPageAndType, pinTable, installXenL4, installXenPaeL2, PTE_P, XEN_L4_FIRST, XEN_L4_LAST, XEN_PAE_L2_FIRST,
  holdFrame,
} from "../domain/mm";
import { allocUnbound, bindInterdomain } from "../event/evtchn";
import { XEN_M2P32_L2E0 } from "../domain/xenmap";
import { SHUTDOWN_suspend } from "../hypercall/abi";
import { debugregsValid } from "./debugreg";
import { checkDomainRecord, checkVcpuRecord, writeDomainRecord, writeVcpuRecord, S } from "./saverec";
import { hostTimeNs } from "../env";
import { systemTime } from "./clock";

// ---- save ----

// The frames `d` owns, from `fromMfn` on: records of 16 bytes at MAILBOX { u32 mfn; u32 type |
// pinned << 8; u64 m2p }. Returns how many were written (0: no more).
export function saveFrames(d: u32, fromMfn: u32): u32 {
  const max = (MAILBOX_SIZE >> 4) as u32;
  let n: u32 = 0;
  const top = framesHighWater();
  let m = fromMfn < FIRST_MFN ? FIRST_MFN : fromMfn;
  for (; m < top && n < max; m++) {
    // (A frame it gave back that something still holds is saved too, and restored as one of its frames:
    // the hypervisor's state may still name it, a grant or status frame, a registered vcpu_info.)
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

// The typed DOMAIN record of `d` at MAILBOX: its size, or -1 (no such domain).
export function saveDomainRecord(d: u32): i32 {
  if (!domExists(d)) return -1;
  writeDomainRecord(d, MAILBOX);
  return S.SD_SIZE;
}

// The typed VCPU record of vCPU `k` of `d` at MAILBOX: its size, or -1 (no such domain or vCPU).
export function saveVcpuRecord(d: u32, k: u32): i32 {
  if (!domExists(d) || k >= domU32(d, D_NR_VCPUS)) return -1;
  vcpuSave();
  writeVcpuRecord(d, k, MAILBOX);
  return S.SV_SIZE;
}

// ---- restore ----
// RESTORE_MAP is a direct table: u32 new mfn for each of the sender's mfns (0: none), filled by the
// host as pages arrive. restoreFrames() takes the sender's frame list in chunks (records of 16 bytes at
// MAILBOX: { u32 old mfn; u32 type | pinned << 8; u64 m2p }, as saveFrames wrote them): it marks each
// listed frame (bit 31), sets its M2P entry and notes page tables and pinned frames in a list at
// RESTORE_TYPED (u32 new mfn, u32 type | pinned << 8). Saved records at RESTORE_BLOBS: the typed
// DOMAIN record, then the typed VCPU records (../saverec.ts; checked and loaded field by field).
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

// The saved records at RESTORE_BLOBS (the DOMAIN record, then the VCPU records from SAVE_BLOB_VCPU0),
// checked for a domain of `width` bits with `nv` vCPUs and at most `maxPages` pages, before anything is
// built from them: 0, or -(SRE_* | (vCPU + 1) << 8).
export function restoreCheck(width: u32, nv: u32, maxPages: u32): i32 {
  if (nv == 0 || nv > (S.SAVE_BLOB_MAX_VCPUS as u32)) return -S.SRE_NR_VCPUS;
  const e = checkDomainRecord(RESTORE_BLOBS, width, nv, maxPages);
  if (e != 0) return -e;
  for (let k: u32 = 0; k < nv; k++) {
    const c = checkVcpuRecord(vcpuBlob(k), k, width == 64);
    if (c != 0) return -(c | (((k + 1) as i32) << 8));
  }
  return 0;
}
@inline function vcpuBlob(k: u32): i32 { return RESTORE_BLOBS + S.SAVE_BLOB_VCPU0 + (k as i32) * S.SV_SIZE; }

// Restore into the new domain `d` (created with hv_domain_create, its frames allocated and filled by
// the host) from the checked records: load them field by field, translate, re-validate, set up new
// console/xenstore channels. Returns 0, or -(SRE_* | (vCPU + 1) << 8) (the caller destroys the domain).
export function restoreFixup(d: u32, count: u32): i32 {
  if (!domExists(d)) return -S.SRE_NO_DOMAIN;
  if (count != listedCount) return -S.SRE_FRAME_COUNT;
  const is64 = domIs64(d);
  const nv = domU32(d, D_NR_VCPUS);
  const chk = restoreCheck(domU32(d, D_WIDTH), nv, domU32(d, D_MAX_PAGES));
  if (chk != 0) return chk;
  // Frames that were sent but are not in the list (the guest gave them back meanwhile) go.
  for (let old = 0; old < (mapBound as i32); old++) {
    const e = load<u32>(RESTORE_MAP + (old << 2));
    if (e != 0 && (e & LISTED) == 0) { freeFrame(d, e); store<u32>(RESTORE_MAP + (old << 2), 0); }
  }
  // The domain record, field by field (machine addresses translated; must be frames of the domain).
  const r = RESTORE_BLOBS;
  setDomU32(d, D_SHARED_INFO, xma32(load<u32>(r + S.SD_SHARED_INFO)));
  setDomU32(d, D_START_INFO, xma32(load<u32>(r + S.SD_START_INFO)));
  setDomU32(d, D_CONSOLE_MFN, xma32(load<u32>(r + S.SD_CONSOLE_MA)));
  setDomU32(d, D_STORE_MFN, xma32(load<u32>(r + S.SD_STORE_MA)));
  if (domU32(d, D_SHARED_INFO) == 0xffffffff || domU32(d, D_START_INFO) == 0xffffffff ||
    domU32(d, D_CONSOLE_MFN) == 0xffffffff || domU32(d, D_STORE_MFN) == 0xffffffff) return -S.SRE_TRANSLATE;
  const ng = load<u32>(r + S.SD_GNT_NR_FRAMES), ns = load<u32>(r + S.SD_GNT_NR_STATUS);
  setDomU32(d, D_GNT_VERSION, load<u32>(r + S.SD_GNT_VERSION));
  setDomU32(d, D_GNT_FRAMES, ng);
  for (let k: u32 = 0; k < 32; k++) setDomU32(
    d, D_GNT_FRAME0 + ((k as i32) << 2), k < ng ? xma32(load<u32>(r + S.SD_GNT_FRAMES + ((k as i32) << 2))) : 0
  );
  // Grant tables v2: the status frames (the domain's own frames, sent with the others).
  setDomU32(d, D_GNT_NSTATUS, ns);
  for (let k: u32 = 0; k < (GNT_MAX_STATUS as u32); k++) setDomU32(
    d, D_GNT_STATUS0 + ((k as i32) << 2), k < ns ? xma32(load<u32>(r + S.SD_GNT_STATUS + ((k as i32) << 2))) : 0
  );
  // Grant and status frames must be frames of the domain (the hypervisor writes into them).
  for (let k: u32 = 0; k < ng; k++)
    if (domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) == 0xffffffff) return -S.SRE_TRANSLATE;
  for (let k: u32 = 0; k < ns; k++)
    if (domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) == 0xffffffff) return -S.SRE_TRANSLATE;
  // Event channels start over, 2-level (as in Xen): no FIFO control blocks, no event array.
  setDomU32(d, D_EVTCHN_FIFO, 0);
  setDomU32(d, D_FIFO_ARRAY, 0);
  setDomU32(d, D_VM_ASSIST, load<u32>(r + S.SD_VM_ASSIST));
  setDomU32(d, D_SHUTDOWN_CODE, load<u32>(r + S.SD_SHUTDOWN_CODE));
  setDomU32(d, D_WEIGHT, load<u32>(r + S.SD_WEIGHT));
  setDomU32(d, D_CAP, load<u32>(r + S.SD_CAP));
  setDomU64(d, D_CPU_NS, load<u64>(r + S.SD_CPU_TIME));
  // its clock goes on (the host sets the wall clock)
  setDomU64(d, D_TIME_OFFSET, load<u64>(r + S.SD_SYSTEM_TIME) - systemTime());
  // Page tables (the M2P is set already).
  for (let i: u32 = 0; i < typedCount; i++) {
    const t8 = RESTORE_TYPED + ((i as i32) << 3);
    const nw = load<u32>(t8);
    const t = (load<u32>(t8 + 4) & 0xff) as i32;
    if (t >= PGT_L1 && t <= PGT_L4) {
      const paeXen = !is64 && t == 2 && load<u64>(((nw as i32) << 12) + (XEN_PAE_L2_FIRST << 3)) == XEN_M2P32_L2E0;
      if (!translateTable(nw, t, is64, paeXen)) return -S.SRE_PAGETABLE;
    }
  }
  // vCPUs, field by field.
  for (let k: u32 = 0; k < nv; k++) {
    const e = loadVcpu(d, k, vcpuBlob(k), is64);
    if (e != 0) return -(e | (((k + 1) as i32) << 8));
  }
  // The guest's p2m list (start_info.mfn_list, a VA in its initial mapping) and start_info's fields.
  const si = domU32(d, D_START_INFO) as i32;
  if (!fixStartInfo(d, si, is64)) return -S.SRE_P2M;
  // shared_info's event bitmaps: cleared (the ports are gone).
  const shi = domU32(d, D_SHARED_INFO) as i32;
  if (is64) memory.fill(shi + 2048, 0, 1024); else memory.fill(shi + 1536, 0, 256);
  // Types and pins again (validation rebuilds the counts).
  for (let i: u32 = 0; i < typedCount; i++) {
    const t8 = RESTORE_TYPED + ((i as i32) << 3);
    const info = load<u32>(t8 + 4);
    if ((info >> 8) == 0) continue;
    const t = (info & 0xff) as i32;
    if (pinTable(load<u32>(t8), t, d, is64) < 0) return -S.SRE_PIN;
  }
  for (let k: u32 = 0; k < nv; k++) {
    const v = vcpu(domU32(d, D_VCPU0) + k);
    if ((load<u32>(v + V_FLAGS) & VF_INITIALISED) == 0) continue;
    const top = is64 ? PGT_L4 : 3;
    const c3 = load<u64>(v + V_CR3_KERNEL);
    if (c3 != 0 && getPageAndType((c3 >> 12) as u32, top, d, is64) < 0)
      return -(S.SRE_CR3_REF | (((k + 1) as i32) << 8));
    const cu = load<u64>(v + V_CR3_USER);
    if (cu != 0 && getPageAndType((cu >> 12) as u32, top, d, is64) < 0)
      return -(S.SRE_CR3_REF | (((k + 1) as i32) << 8));
    const ge = load<i32>(v + CPU_GDT_ENTRIES);
    for (let g = 0; g < ((ge + 511) >> 9); g++)
      if (getPageAndType(load<u32>(v + CPU_GDT_FRAMES + g * 4) >> 12, PGT_SEG_DESC, d, is64) < 0)
        return -(S.SRE_GDT_REF | (((k + 1) as i32) << 8));
  }
  // New channels for the console and xenstore (event channels are not kept).
  memory.fill(evtchnBase(d), 0, evtchnBytes(d));
  const cp = allocUnbound(d, 0), sp = allocUnbound(d, 0);
  if (cp < 0 || sp < 0) return -S.SRE_EVTCHN;
  setDomU32(d, D_CONSOLE_EVTCHN, cp as u32);
  setDomU32(d, D_STORE_EVTCHN, sp as u32);
  if (is64) { store<u32>(si + 80, cp as u32); store<u32>(si + 64, sp as u32); }
  else { store<u32>(si + 56, cp as u32); store<u32>(si + 48, sp as u32); }
  restoredConsolePort = cp as u32;
  restoredStorePort = sp as u32;
  // The hypervisor's own reference on each grant and status frame (hypercall/grant.ts): the guest
  // cannot give them back.
  for (let k: u32 = 0; k < ng; k++)
    if (!getPage(domU32(d, D_GNT_FRAME0 + ((k as i32) << 2)) >> 12, d)) return -S.SRE_TRANSLATE;
  for (let k: u32 = 0; k < ns; k++)
    if (!getPage(domU32(d, D_GNT_STATUS0 + ((k as i32) << 2)) >> 12, d)) return -S.SRE_TRANSLATE;
  // The frames the hypervisor and the host go on writing, held again (mm.ts holdFrame): shared_info,
  // the console and xenstore rings, each vCPU's vcpu_info registered outside shared_info.
  const shf = domU32(d, D_SHARED_INFO) >>> 12;
  if (
    !holdFrame(shf, d) || !holdFrame(domU32(d, D_CONSOLE_MFN) >>> 12, d) || !holdFrame(domU32(d, D_STORE_MFN) >>> 12, d)
  )
    return -S.SRE_TRANSLATE;
  for (let k: u32 = 0; k < nv; k++) {
    const vf = (load<u64>(vcpu(domU32(d, D_VCPU0) + k) + V_VCPU_INFO) as u32) >>> 12;
    if (vf != shf && !holdFrame(vf, d)) return -S.SRE_TRANSLATE;
  }
  // vCPU 0 returns from its suspend hypercall with 0: resumed in a new domain.
  store<u64>(vcpu(domU32(d, D_VCPU0)), 0);
  setDomU32(d, D_STATE, DS_RUNNING);
  return 0;
}

// A u32 machine address through the map (0 stays 0; not the domain's: 0xffffffff).
function xma32(a: u32): u32 { return xma(a as u64) as u32; }

// vCPU `k` of `d` from the checked VCPU record at `r`: its state block and vCPU fields built anew,
// field by field (as hv_vcpu_boot and VCPUOP_initialise build them); its selectors are loaded, with
// their checks, when it first runs (VF_FRESH: hv/smp.ts loadFreshSegments). 0 or an SRE_* code.
function loadVcpu(d: u32, k: u32, r: i32, is64: bool): i32 {
  const vi = domU32(d, D_VCPU0) + k;
  const v = vcpu(vi);
  if (current == (vi as i32)) vcpuDrop(); // (never: the domain has not run) its stale loaded copy goes
  memory.fill(v, 0, VCPU_SIZE);
  store<u32>(v + V_DOMAIN, d);
  store<u32>(v + V_ID, k);
  const f = load<u32>(r + S.SV_FLAGS);
  if ((f & S.SVF_INITIALISED) == 0) return 0; // no context yet: as vcpuAlloc left it
  // What every PV vCPU's state block holds.
  store<u32>(v + CPU_IDTR_LIMIT, 0xfff);
  memory.fill(v + CPU_INTERCEPT, 0xff, 32);
  store<i32>(v + CPU_INTERCEPT_FLAGS, INTERCEPT_SYSCALL | INTERCEPT_SYSENTER);
  store<i32>(v + CPU_GDT_MODE, is64 ? GDT_PV64 : GDT_PV32);
  // Registers.
  for (let i = 0; i < 16; i++) store<u64>(v + CPU_REGS + i * 8, load<u64>(r + S.SV_GPR + i * 8));
  store<u64>(v + CPU_RIP, load<u64>(r + S.SV_RIP));
  store<u64>(v + CPU_RFLAGS, load<u64>(r + S.SV_RFLAGS));
  store<u32>(v + V_IOPL, load<u32>(r + S.SV_IOPL));
  // Selectors only (the descriptors come from the tables when it first runs) and the 64-bit bases.
  const inKernel = !is64 || (f & S.SVF_IN_KERNEL) != 0;
  store<u16>(v + CPU_SEG + SEG_ES * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_ES));
  store<u16>(v + CPU_SEG + SEG_CS * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_CS));
  store<u16>(v + CPU_SEG + SEG_SS * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_SS));
  store<u16>(v + CPU_SEG + SEG_DS * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_DS));
  store<u16>(v + CPU_SEG + SEG_FS * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_FS));
  store<u16>(v + CPU_SEG + SEG_GS * SEG_SIZE, load<u16>(r + S.SV_SEL + 2 * S.SVS_GS));
  store<i32>(v + CPU_CPL, (load<u16>(r + S.SV_SEL + 2 * S.SVS_CS) & 3) as i32);
  if (is64) {
    const gk = load<u64>(r + S.SV_GS_BASE_KERNEL), gu = load<u64>(r + S.SV_GS_BASE_USER);
    store<u64>(v + CPU_SEG + SEG_FS * SEG_SIZE + 8, load<u64>(r + S.SV_FS_BASE));
    store<u64>(v + CPU_SEG + SEG_GS * SEG_SIZE + 8, inKernel ? gk : gu);
    store<u64>(v + V_GS_KERNEL, inKernel ? gu : gk);
  }
  // LDT (as MMUEXT_SET_LDT loads it) and GDT frames (translated).
  const le = load<u32>(r + S.SV_LDT_ENTS), lb = load<u64>(r + S.SV_LDT_BASE);
  store<u32>(v + V_LDT_ENTS, le);
  store<u64>(v + V_LDT_BASE, lb);
  if (le != 0) {
    const l = v + CPU_SEG + SEG_LDTR * SEG_SIZE;
    store<u16>(l, 0x38); store<u16>(l + 2, 0x82); store<u32>(l + 4, le * 8 - 1); store<u64>(l + 8, lb);
  }
  const ge = load<u32>(r + S.SV_GDT_ENTS);
  store<i32>(v + CPU_GDT_ENTRIES, ge as i32);
  for (let g = 0; g < (((ge + 511) >> 9) as i32); g++) {
    const a = xma32(load<u32>(r + S.SV_GDT_FRAMES + g * 4));
    if (a == 0xffffffff) return S.SRE_TRANSLATE;
    store<u32>(v + CPU_GDT_FRAMES + g * 4, a);
  }
  // Control registers, EFER (the top-level tables translated; CR3 is the one of the mode it is in).
  const c3 = xma(load<u64>(r + S.SV_CR3_KERNEL)), c3u = xma(load<u64>(r + S.SV_CR3_USER));
  if (c3 == 0xffffffff || c3u == 0xffffffff) return S.SRE_TRANSLATE;
  store<u64>(v + V_CR3_KERNEL, c3);
  store<u64>(v + V_CR3_USER, c3u);
  store<u64>(v + CPU_CR3, inKernel ? c3 : c3u);
  store<u64>(v + CPU_CR0, load<u64>(r + S.SV_CR0));
  store<u64>(v + CPU_CR2, load<u64>(r + S.SV_CR2));
  store<u64>(v + CPU_CR4, load<u64>(r + S.SV_CR4));
  store<u64>(v + V_GUEST_CR4, load<u64>(r + S.SV_GUEST_CR4));
  store<u64>(v + CPU_EFER, load<u64>(r + S.SV_EFER));
  // Debug registers (checked again where they land: Xen's adjustments of DR6/DR7 apply).
  for (let i = 0; i < 4; i++) store<u64>(v + CPU_DR + i * 8, load<u64>(r + S.SV_DR + i * 8));
  store<u64>(v + CPU_DR6, load<u64>(r + S.SV_DR6));
  store<u64>(v + CPU_DR7, load<u64>(r + S.SV_DR7));
  store<u64>(v + CPU_DR7_EMUL, load<u64>(r + S.SV_DR7_EMUL));
  if (!debugregsValid(v, is64)) return S.SRE_DEBUGREG;
  // MSRs; the TSC goes on from the saved value.
  store<u64>(v + CPU_MSR_STAR, load<u64>(r + S.SV_MSR_STAR));
  store<u64>(v + CPU_MSR_LSTAR, load<u64>(r + S.SV_MSR_LSTAR));
  store<u64>(v + CPU_MSR_CSTAR, load<u64>(r + S.SV_MSR_CSTAR));
  store<u64>(v + CPU_MSR_SFMASK, load<u64>(r + S.SV_MSR_SFMASK));
  store<u64>(v + CPU_MSR_KGSBASE, load<u64>(r + S.SV_MSR_KERNEL_GS_BASE));
  store<u64>(v + CPU_MSR_SYSENTER_CS, load<u64>(r + S.SV_MSR_SYSENTER_CS));
  store<u64>(v + CPU_MSR_SYSENTER_ESP, load<u64>(r + S.SV_MSR_SYSENTER_ESP));
  store<u64>(v + CPU_MSR_SYSENTER_EIP, load<u64>(r + S.SV_MSR_SYSENTER_EIP));
  store<u64>(v + CPU_MSR_PAT, load<u64>(r + S.SV_MSR_PAT));
  store<u64>(v + CPU_MSR_MISC_ENABLE, load<u64>(r + S.SV_MSR_MISC_ENABLE));
  store<u64>(v + CPU_MSR_TSC_AUX, load<u64>(r + S.SV_MSR_TSC_AUX));
  store<u64>(v + CPU_MSR_SPEC_CTRL, load<u64>(r + S.SV_MSR_SPEC_CTRL));
  store<u64>(v + CPU_TSC_OFFSET, load<u64>(r + S.SV_TSC) - (hostTimeNs() as u64));
  // Kernel stack, callbacks, the virtual IDT.
  store<u64>(v + V_KERNEL_SS, load<u64>(r + S.SV_KERNEL_SS));
  store<u64>(v + V_KERNEL_SP, load<u64>(r + S.SV_KERNEL_SP));
  store<u64>(v + V_CB_EVENT, load<u64>(r + S.SV_CB_EVENT));
  store<u64>(v + V_CB_FAILSAFE, load<u64>(r + S.SV_CB_FAILSAFE));
  store<u64>(v + V_CB_SYSCALL, load<u64>(r + S.SV_CB_SYSCALL));
  store<u64>(v + V_CB_SYSCALL32, load<u64>(r + S.SV_CB_SYSCALL32));
  store<u64>(v + V_CB_SYSENTER, load<u64>(r + S.SV_CB_SYSENTER));
  store<u64>(v + V_CB_NMI, load<u64>(r + S.SV_CB_NMI));
  store<u32>(v + V_CB_FLAGS, load<u32>(r + S.SV_CB_FLAGS));
  store<u16>(v + V_CB_EVENT_CS, load<u16>(r + S.SV_CB_EVENT_CS));
  store<u16>(v + V_CB_FAILSAFE_CS, load<u16>(r + S.SV_CB_FAILSAFE_CS));
  store<u16>(v + V_CB_SYSENTER_CS, load<u16>(r + S.SV_CB_SYSENTER_CS));
  for (let i = 0; i < 256; i++) {
    const t = v + V_TRAPS + (i << 4), o = r + S.SV_TRAPS + i * S.SV_TRAP_SIZE;
    store<u64>(t, load<u64>(o));
    store<u16>(t + 8, load<u16>(o + 8));
    store<u8>(t + 10, load<u8>(o + 10));
  }
  // Event, timer and runstate state. No VIRQ bindings, no FIFO queues, not polling (the ports are
  // gone: a poll returns, as after any event).
  const vinfo = xma(load<u64>(r + S.SV_VCPU_INFO));
  if (vinfo == 0xffffffff || vinfo == 0) return S.SRE_TRANSLATE;
  store<u64>(v + V_VCPU_INFO, vinfo);
  store<u64>(v + V_RUNSTATE_VA, load<u64>(r + S.SV_RUNSTATE_AREA));
  store<u64>(v + V_TIMER, load<u64>(r + S.SV_TIMER));
  store<u64>(v + V_PERIOD, load<u64>(r + S.SV_PERIOD));
  store<u64>(v + V_PERIOD_NEXT, load<u64>(r + S.SV_PERIOD_NEXT));
  store<u32>(v + V_RS_STATE, load<u32>(r + S.SV_RUNSTATE));
  store<u64>(v + V_RS_ENTRY, load<u64>(r + S.SV_RUNSTATE_ENTRY));
  for (let i = 0; i < 4; i++) store<u64>(v + V_RS_TIME + i * 8, load<u64>(r + S.SV_RUNSTATE_TIME + i * 8));
  // Old event state means nothing now: no upcall pending.
  store<u8>(vinfo as i32, 0);
  if (is64) store<u64>((vinfo as i32) + 8, 0); else store<u32>((vinfo as i32) + 4, 0);
  // x87/SSE.
  memory.copy(v + CPU_FXSAVE, r + S.SV_FXSAVE, 512);
  // Flags last.
  let vf: u32 = VF_INITIALISED | VF_FRESH;
  if ((f & S.SVF_ONLINE) != 0) vf |= VF_ONLINE;
  if ((f & S.SVF_BLOCKED) != 0) vf |= VF_BLOCKED;
  if (is64 && inKernel) vf |= VF_KERNEL;
  if ((f & S.SVF_IN_FAILSAFE) != 0) vf |= VF_IN_FAILSAFE;
  store<u32>(v + V_FLAGS, vf);
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
    if (is64) {
      const o = load<u64>(ma); const n = o < (RESTORE_MAP_MAX as u64) ? lookup(o as u32) : 0;
      store<u64>(ma, n == 0 ? <u64>-1 : n as u64);
    }
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
