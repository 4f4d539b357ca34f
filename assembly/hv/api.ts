// The hypervisor's exports to the host (dom0's toolstack and domain builder). Numbers only.
import {
  CPU_STATE, CPU_CR0, CPU_CR3, CPU_CR4, CPU_EFER, CPU_RFLAGS, CPU_CPL, CPU_INTERCEPT, CPU_INTERCEPT_FLAGS,
  CPU_GDT_MODE, CPU_GDT_ENTRIES, CPU_IDTR_LIMIT, CPU_SAVE_SIZE, CPU_FXSAVE, CPU_SEG, SEG_SIZE, SEG_CS, SEG_SS,
  SEG_DS, SEG_ES, SEG_FS, SEG_GS, GDT_PV64, GDT_PV32, INTERCEPT_SYSCALL, INTERCEPT_SYSENTER, MACHINE_BASE,
  HV_OUT_LEN, HV_LOG_HEAD, MAPTRACK, MAPTRACK_ENTRIES, CPU_DR6, CPU_DR7,
} from "../memmap";
import {
  dom, domU32, setDomU32, domExists, domIs64, vcpu, current, vcpuSave, D_STATE, D_SHUTDOWN_REASON,
  D_SHARED_INFO, D_START_INFO, D_NR_VCPUS, D_VCPU0, D_TOT_PAGES, D_MAX_PAGES, D_PRIVILEGED, D_VM_ASSIST,
  D_CONSOLE_MFN, D_CONSOLE_EVTCHN, D_STORE_MFN, D_STORE_EVTCHN, D_PAUSE_COUNT, D_INSNS, D_SHUTDOWN_CODE,
  V_FLAGS, VF_ONLINE, VF_KERNEL, VF_INITIALISED, V_CR3_KERNEL, V_KERNEL_SS, V_KERNEL_SP, V_VCPU_INFO, domainsInit,
  domU64, D_CORE_REC_BYTES, D_CORE_FRAME_BYTES,
} from "../domain/domain";
import { domNow } from "./clock";
import { V_RS_TIME, V_RS_ENTRY, V_RS_STATE } from "../domain/domain";
import {
  framesInit, frameAlloc, frameOwner, framesFree, framesOwnedBy, framesListed, m2pSet, NO_FRAME, mfnValid, framesTop
} from "../domain/frames";
import { pinTable } from "../domain/mm";
import { xenmapInit } from "../domain/xenmap";
import { domainCreate, domainDestroy, domainShutdown, resetDomTop } from "./lifecycle";
import { domainAllocFrame, holdFrame } from "../domain/mm";
import { hvRun, hvIdleNs, schedInit } from "./sched";
import { setWallclock, updateWallclock } from "./time";
import { setPhysWindow, tlbFlushAll } from "../mmu/tlb";
import {
  VI_MASK, W64_VCPU_INFO_SIZE, W32_VCPU_INFO_SIZE, LEGACY_MAX_VCPUS, VMASST_TYPE_pae_extended_cr3
} from "../hypercall/abi";
import * as E from "../event/evtchn";
import { ldInit, ldEnable, ldCollect, ldAlways } from "./logdirty";

// Set up the hypervisor over `machineMiB` MiB of machine memory above MACHINE_BASE. Domain 0 is the
// host itself (privileged, no vCPUs); its shared_info frame carries the host's event-channel bits.
export function hv_init(machineMiB: u32): i32 {
  // (frames.ts clamps it at FRAMES_LIMIT)
  if (machineMiB == 0 || (machineMiB as u64) > (((0x100000000 as u64) - (MACHINE_BASE as u64)) >> 20)) return -1;
  framesInit(machineMiB << 20);
  domainsInit();
  ldInit();
  resetDomTop();
  xenmapInit();
  schedInit();
  store<u32>(HV_OUT_LEN, 0);
  memory.fill(MAPTRACK, 0, MAPTRACK_ENTRIES * 32);
  store<u32>(HV_LOG_HEAD, 0);
  virqInit();
  setPhysWindow(0, (framesTop() as u64) << 12);
  const d0 = domainCreate(64, 1, 0xffffffff);
  if (d0 != 0) return -1;
  setDomU32(0, D_PRIVILEGED, 1);
  setDomU32(0, D_NR_VCPUS, 0);
  const si = frameAlloc(0);
  if (si == NO_FRAME) return -1;
  setDomU32(0, D_SHARED_INFO, si << 12);
  return 0;
}

export function hv_domain_create(width: u32, vcpus: u32, maxPages: u32): i32 {
  return domainCreate(width, vcpus, maxPages);
}
export function hv_domain_destroy(d: u32): i32 { return domainDestroy(d) ? 0 : -1; }
export function hv_domain_state(d: u32): i32 { return domExists(d) ? domU32(d, D_STATE) as i32 : 0; }
export function hv_domain_shutdown_reason(d: u32): i32 { return domU32(d, D_SHUTDOWN_REASON) as i32; }
export function hv_domain_shutdown(d: u32, reason: u32): void { domainShutdown(d, reason); }
export function hv_domain_pages(d: u32): i32 { return domU32(d, D_TOT_PAGES) as i32; }
export function hv_domain_pause(d: u32, on: u32): void {
  if (!domExists(d)) return;
  const c = domU32(d, D_PAUSE_COUNT);
  setDomU32(d, D_PAUSE_COUNT, on != 0 ? c + 1 : (c > 0 ? c - 1 : 0));
}
export function hv_domain_insns(d: u32): u64 { return load<u64>(dom(d) + D_INSNS); }
export function hv_frames_free(): u32 { return framesFree(); }
export function hv_frames_owned(d: u32): u32 { return framesOwnedBy(d); }
// The frames on `d`'s own list (hv/lifecycle.ts destroys from it), 0xffffffff if the list is broken:
// checked against hv_frames_owned, the frame table's scan.
export function hv_frames_listed(d: u32): u32 { return framesListed(d); }
// What the core has set aside for domain `d`, counted where it was handed out: what = 0 its records
// (domain, vCPU and event-channel slots, the frame-table records of its frames), 1 its frames' bytes.
export function hv_domain_core_bytes(d: u32, what: u32): u64 {
  if (!domExists(d)) return 0;
  return domU64(d, what == 0 ? D_CORE_REC_BYTES : D_CORE_FRAME_BYTES);
}

// A new frame for `d` (counted in its pages); returns the mfn or -1.
export function hv_alloc_frame(d: u32): i32 {
  const m = domainAllocFrame(d);
  return m == NO_FRAME ? -1 : m as i32;
}
export function hv_set_m2p(mfn: u32, pfn: u64): void { if (mfnValid(mfn as u64)) m2pSet(mfn, pfn); }

// shared_info for `d`: a fresh frame (not one of its pages), all vCPUs' events masked.
export function hv_setup_shared_info(d: u32): i32 {
  const m = frameAlloc(d);
  if (m == NO_FRAME) return -1;
  holdFrame(m, d); // written by the hypervisor for the domain's life (mm.ts holdFrame)
  const si = (m << 12) as i32;
  setDomU32(d, D_SHARED_INFO, si as u32);
  const sz = domIs64(d) ? W64_VCPU_INFO_SIZE : W32_VCPU_INFO_SIZE;
  for (let i = 0; i < LEGACY_MAX_VCPUS; i++) store<u8>(si + i * sz + VI_MASK, 1);
  // Each vCPU's vcpu_info is shared_info.vcpu_info[id] until it registers one of its own.
  const nv = domU32(d, D_NR_VCPUS);
  for (let i: u32 = 0; i < nv && i < (LEGACY_MAX_VCPUS as u32); i++)
    store<u64>(vcpu(domU32(d, D_VCPU0) + i) + V_VCPU_INFO, (si + (i as i32) * sz) as u32 as u64);
  updateWallclock(d);
  return m as i32;
}

export function hv_set_domain_info(
  d: u32, startInfo: u32, consoleMfn: u32, consoleEvtchn: u32, storeMfn: u32, storeEvtchn: u32
): void {
  setDomU32(d, D_START_INFO, startInfo);
  setDomU32(d, D_CONSOLE_MFN, consoleMfn);
  setDomU32(d, D_CONSOLE_EVTCHN, consoleEvtchn);
  setDomU32(d, D_STORE_MFN, storeMfn);
  setDomU32(d, D_STORE_EVTCHN, storeEvtchn);
  // The host serves both rings for the domain's life, as Xen's xenconsoled and xenstored map them:
  // held (mm.ts holdFrame), a guest that gives one back keeps it counted until it is destroyed, and
  // no other domain is handed a frame the host goes on writing.
  holdFrame(consoleMfn >>> 12, d);
  holdFrame(storeMfn >>> 12, d);
}
export function hv_vm_assist(d: u32, bits: u32): void { setDomU32(d, D_VM_ASSIST, bits); }
export function hv_pin(d: u32, mfn: u32, level: u32): i32 { return pinTable(mfn, level as i32, d, domIs64(d)); }

// Start-of-day state of vCPU `vc` of `d`: RIP, RSP, RSI, the top-level table's mfn. vCPU 0 comes up
// online in kernel mode; the top level takes a type reference for CR3 (the builder pinned it).
export function hv_vcpu_boot(d: u32, vc: u32, rip: u64, rsp: u64, rsi: u64, topMfn: u32): i32 {
  if (!domExists(d) || vc >= domU32(d, D_NR_VCPUS)) return -1;
  const is64 = domIs64(d);
  const vi = domU32(d, D_VCPU0) + vc;
  if (current == (vi as i32)) vcpuSave();
  const v = vcpu(vi);
  memory.fill(v, 0, CPU_SAVE_SIZE);
  // Registers.
  store<u64>(v + 128, rip);
  store<u64>(v + 4 * 8, rsp);
  store<u64>(v + 6 * 8, rsi);
  store<u64>(v + CPU_RFLAGS, 0x202);
  store<u64>(v + CPU_CR0, 0x80050033); // PG WP NE ET MP PE
  store<u64>(v + CPU_CR4, 0x620); // PAE OSFXSR OSXMMEXCPT (no PGE: user and kernel share no global pages)
  store<u64>(v + CPU_CR3, (topMfn as u64) << 12);
  store<u16>(v + CPU_FXSAVE, 0x37f); // FCW after FNINIT
  store<u32>(v + CPU_FXSAVE + 24, 0x1f80); // MXCSR after reset
  store<u64>(v + CPU_DR6, 0xffff0ff0);
  store<u64>(v + CPU_DR7, 0x400);
  store<u32>(v + CPU_IDTR_LIMIT, 0xfff);
  memory.fill(v + CPU_INTERCEPT, 0xff, 32);
  store<i32>(v + CPU_INTERCEPT_FLAGS, INTERCEPT_SYSCALL | INTERCEPT_SYSENTER);
  store<i32>(v + CPU_GDT_MODE, is64 ? GDT_PV64 : GDT_PV32);
  store<i32>(v + CPU_GDT_ENTRIES, 0);
  if (is64) {
    store<u64>(v + CPU_EFER, 0xd01); // SCE LME LMA NXE
    seg(v, SEG_CS, 0xe033, 0x209b | 0x8000 | 0x60);
    seg(v, SEG_SS, 0xe02b, 0x4093 | 0x8000 | 0x60);
    store<i32>(v + CPU_CPL, 3);
    store<u32>(v + V_FLAGS, (vc == 0 ? VF_ONLINE : 0) | VF_KERNEL | VF_INITIALISED);
  } else {
    store<u64>(v + CPU_EFER, 0x800); // NXE (legacy PAE paging)
    seg(v, SEG_CS, 0xe019, 0x409b | 0x8000 | 0x20);
    for (let s = 0; s < 6; s++) if (s != SEG_CS) seg(v, s, 0xe021, 0x4093 | 0x8000 | 0x20);
    store<i32>(v + CPU_CPL, 1);
    store<u32>(v + V_FLAGS, (vc == 0 ? VF_ONLINE : 0) | VF_INITIALISED);
  }
  store<u64>(v + V_CR3_KERNEL, (topMfn as u64) << 12);
  store<u64>(v + V_KERNEL_SS, is64 ? 0xe02b : 0xe021);
  store<u64>(v + V_KERNEL_SP, rsp);
  const si = domU32(d, D_SHARED_INFO);
  store<u64>(v + V_VCPU_INFO, (si + vc * (is64 ? W64_VCPU_INFO_SIZE : W32_VCPU_INFO_SIZE)) as u32 as u64);
  // CR3 holds a type reference of the top-level table.
  const r = pinRefForCr3(d, topMfn, is64);
  return r;
}
import { getPageAndType, PGT_L3, PGT_L4 } from "../domain/mm";
function pinRefForCr3(d: u32, mfn: u32, is64: bool): i32 {
  return getPageAndType(mfn, is64 ? PGT_L4 : PGT_L3, d, is64);
}

function seg(v: i32, s: i32, sel: u32, attr: u32): void {
  const p = v + CPU_SEG + s * SEG_SIZE;
  store<u16>(p, sel as u16);
  store<u16>(p + 2, attr as u16);
  store<u32>(p + 4, 0xffffffff);
  store<u64>(p + 8, 0);
}

export function hv_run(budget: i32): i32 { return hvRun(budget); }
export function hv_idle_ns(): u64 { return hvIdleNs(); }
export function hv_set_wallclock(sec: u64, nsec: u32): void { setWallclock(sec, nsec); }

// Host-side event channels (dom0 = the host): bind to a guest's unbound port, notify, test-and-clear.
export function hv_evtchn_bind(remote: u32, rport: u32): i32 { return E.bindInterdomain(0, remote, rport); }
export function hv_evtchn_alloc_unbound(d: u32, remote: u32): i32 { return E.allocUnbound(d, remote); }
export function hv_evtchn_send(p: u32): i32 { return E.send(0, p); }
// A backend lets go of its end (a detached or closed device): the guest's end becomes unbound again.
export function hv_evtchn_close(p: u32): i32 { return E.close(0, p); }
export function hv_evtchn_take(p: u32): i32 {
  if (!E.isPending(0, p)) return 0;
  const si = domU32(0, D_SHARED_INFO) as i32;
  const a = si + 2048 + ((p >> 3) as i32);
  store<u8>(a, load<u8>(a) & ~(<u8>((<u32>1) << (p & 7))));
  return 1;
}

import { HC_COUNTS } from "../hypercall/dispatch";
// How many times hypercall `nr` was made (all domains).
export function hv_hypercall_count(nr: u32): u32 { return nr < 64 ? load<u32>(HC_COUNTS + ((nr as i32) << 2)) : 0; }
import { contCountOf } from "../hypercall/args";
// How many continuations (preempted long hypercalls) domain `d` has made since it was created.
export function hv_hc_continuations(d: u32): u32 { return contCountOf(d); }

import { hostMap, hostMfn, hostUnmap } from "../hypercall/grant";
// Backends (the host is dom0): map a guest's grant, find its frame, unmap.
export function hv_gnt_map(g: u32, ref: u32, readonly: u32): i32 { return hostMap(g, ref, readonly != 0); }
export function hv_gnt_mfn(h: u32): i32 { return hostMfn(h); }
export function hv_gnt_unmap(h: u32): i32 { return hostUnmap(h); }

import { D_CPU_NS as CPU_NS_FIELD, D_MAX_PAGES as MAXP, D_NR_VCPUS as NV, D_PAUSE_COUNT as PC } from "../domain/domain";
export function hv_domain_cpu_ns(d: u32): u64 { return domExists(d) ? load<u64>(dom(d) + CPU_NS_FIELD) : 0; }
export function hv_domain_max_pages(d: u32): u32 { return domU32(d, MAXP); }
export function hv_domain_set_max_pages(d: u32, n: u32): void { if (domExists(d)) setDomU32(d, MAXP, n); }
export function hv_domain_vcpus(d: u32): u32 { return domU32(d, NV); }
export function hv_domain_paused(d: u32): u32 { return domU32(d, PC); }
// vCPU `vc` of `d` (xm vcpu-list): its VF_* flags (1 online, 2 blocked, 8 polling; 0 when there is no
// such vCPU), and the ns it has spent running (its runstate's running time, up to now).
export function hv_vcpu_flags(d: u32, vc: u32): u32 {
  if (!domExists(d) || vc >= domU32(d, D_NR_VCPUS)) return 0;
  return load<u32>(vcpu(domU32(d, D_VCPU0) + vc) + V_FLAGS);
}
export function hv_vcpu_running_ns(d: u32, vc: u32): u64 {
  if (!domExists(d) || vc >= domU32(d, D_NR_VCPUS)) return 0;
  const v = vcpu(domU32(d, D_VCPU0) + vc);
  let t = load<u64>(v + V_RS_TIME);
  const entry = load<u64>(v + V_RS_ENTRY), now = domNow(d);
  if (load<u32>(v + V_RS_STATE) == 0 && entry != 0 && now > entry) t += now - entry;
  return t;
}

// 1 when every online vCPU of `d` is blocked (xm list's "b").
export function hv_domain_blocked(d: u32): u32 {
  if (!domExists(d)) return 0;
  const v0 = domU32(d, D_VCPU0), n = domU32(d, D_NR_VCPUS);
  let any = false;
  for (let i: u32 = 0; i < n; i++) {
    const f = load<u32>(vcpu(v0 + i) + V_FLAGS);
    if ((f & VF_ONLINE) == 0) continue;
    any = true;
    if ((f & 10) == 0) return 0; // VF_BLOCKED | VF_POLLING
  }
  return any ? 1 : 0;
}

import { D_WEIGHT as WEIGHT_F, D_CAP as CAP_F } from "../domain/domain";
// Credit scheduler parameters: weight 1..65535, cap in % of one CPU (0 = none). -1 on bad values.
export function hv_domain_sched(d: u32, weight: u32, cap: u32): i32 {
  if (!domExists(d) || weight < 1 || weight > 65535) return -1;
  setDomU32(d, WEIGHT_F, weight);
  setDomU32(d, CAP_F, cap);
  return 0;
}

import { setTrace } from "../hypercall/dispatch";
export function hv_trace(on: u32): void { setTrace(on != 0); }

import { MAILBOX, MAILBOX_SIZE } from "../memmap";
// Allocate `n` frames for `d` for pfns first..first+n-1 (setting the M2P), their mfns written as u32 at
// MAILBOX (at most MAILBOX_SIZE / 4 per call). Returns how many were allocated.
export function hv_alloc_frames(d: u32, n: u32, first: u32): u32 {
  const max = (MAILBOX_SIZE >> 2) as u32;
  if (n > max) n = max;
  for (let i: u32 = 0; i < n; i++) {
    const m = domainAllocFrame(d);
    if (m == NO_FRAME) return i;
    m2pSet(m, (first + i) as u64);
    store<u32>(MAILBOX + ((i as i32) << 2), m);
  }
  return n;
}

import { systemTime } from "./clock";
import { D_TIME_OFFSET as TOFF } from "../domain/domain";
// The domain's system time now (ns), and setting it (a restored domain's clock continues).
export function hv_domain_time(d: u32): u64 { return domExists(d) ? domNow(d) : 0; }
export function hv_domain_set_time(d: u32, t: u64): void {
  if (!domExists(d)) return;
  store<u64>(dom(d) + TOFF, t - systemTime());
  updateWallclock(d); // the wall clock at the domain's time 0 moves with it
}

import {
  saveFrames, saveSync, restoreFixup, restoreCheck, resumeCancelled, restoredConsolePort, restoredStorePort,
  saveDomainRecord, saveVcpuRecord
} from "./save";
import { vcpu as vcpuAddrOf, D_VCPU0 as V0F } from "../domain/domain";
// Save/restore (host/save/): the frames of `d` from `fromMfn` (records at MAILBOX), syncing the loaded
// vCPU first; record addresses; the restore fix-up; a cancelled suspend.
export function hv_save_frames(d: u32, fromMfn: u32): u32 { saveSync(); return saveFrames(d, fromMfn); }
export function hv_domain_addr(d: u32): u32 { return dom(d) as u32; }
export function hv_vcpu_addr(d: u32, vc: u32): u32 { return vcpuAddrOf(domU32(d, V0F) + vc) as u32; }
export function hv_restore_fixup(d: u32, count: u32): i32 { return restoreFixup(d, count); }
// The typed save records (assembly/saverec.ts), written at MAILBOX field by field: their size or -1.
export function hv_save_domain_record(d: u32): i32 { return saveDomainRecord(d); }
export function hv_save_vcpu_record(d: u32, k: u32): i32 { return saveVcpuRecord(d, k); }
// The records the host put at RESTORE_BLOBS checked, before a domain is made for them: 0 or -(SRE_* | (vCPU + 1) << 8).
export function hv_restore_check(width: u32, nvcpus: u32, maxPages: u32): i32 {
  return restoreCheck(width, nvcpus, maxPages);
}
export function hv_restored_ports(): u32 { return (restoredConsolePort << 16) | restoredStorePort; }
export function hv_resume_cancelled(d: u32): i32 { return resumeCancelled(d); }

import { frameWritten } from "../domain/mm";
// Log-dirty mode for live migration (hv/logdirty.ts, mmu/logdirty.ts; docs/SAVE-RESTORE.md).
// hv_logdirty: on (1: the domain's bits cleared, TLB flushed; again = restart clean) or off (0).
// 0, or -1 when `d` does not exist or is dom0.
export function hv_logdirty(d: u32, on: u32): i32 { return ldEnable(d, on != 0); }
// Peek and clean: mfns of `d`'s frames written since the last collect, from `fromMfn` up, as u32s at
// MAILBOX (at most MAILBOX_SIZE / 4 per call; call again from the last + 1 until 0); their bits are
// cleared and write translations to them dropped. 0 also when log-dirty is off.
export function hv_logdirty_collect(d: u32, fromMfn: u32): u32 { return ldCollect(d, fromMfn); }
// The frames to send in the last round whatever their bits (written without marking: shared_info,
// vcpu_info frames, start_info, console and xenstore rings, frames the host holds writable grant
// mappings of), as u32 mfns at MAILBOX; returns the count.
export function hv_logdirty_always(d: u32): u32 { return ldAlways(d); }
// The host wrote guest frame `mfn` itself (a backend through a grant mapping): mark it for log-dirty
// (and drop decoded instructions cached from it). Frames that do not exist are ignored.
export function hv_mark_dirty(mfn: u32): void { if (mfnValid(mfn as u64)) frameWritten(mfn); }

import { virqInit, setGlobalVirqHandler, debugKey, consoleInput, consoleQueued } from "./virq";
import { globalVirqHandler } from "./virqkind";
// Global VIRQs (VIRQ_DOM_EXC, VIRQ_CONSOLE, ...): make domain `d` their handler (XEN_DOMCTL_set_virq_handler;
// 0 = the host again). 0 or -errno (-EINVAL: not a global VIRQ or no such domain; -EBUSY: the current
// handler has it bound). hv_virq_handler: the handler now (0 = the host).
export function hv_set_virq_handler(virq: u32, d: u32): i32 { return setGlobalVirqHandler(d, virq); }
export function hv_virq_handler(virq: u32): u32 { return globalVirqHandler(virq); }
// A debug key typed at the hypervisor ('h' lists them, 'q' dumps the domains and sends VIRQ_DEBUG):
// its output goes to the log (xm dmesg). 1 if the key has a handler, 0 if it is ignored.
export function hv_debug_key(key: u32): i32 { return debugKey(key); }
// `n` bytes at MAILBOX typed into the hypervisor's console: queued (128 bytes at most) for the
// VIRQ_CONSOLE handler's CONSOLEIO_read, and VIRQ_CONSOLE sent. Returns the bytes queued;
// hv_console_queued: bytes not read yet.
export function hv_console_input(n: u32): u32 { return consoleInput(n); }
export function hv_console_queued(): u32 { return consoleQueued(); }
