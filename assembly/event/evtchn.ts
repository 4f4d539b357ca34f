// Event channels with Xen's 2-level ABI (per-port pending and mask bits in shared_info, a per-vCPU
// selector word and upcall-pending flag in vcpu_info) or, once the guest asks for it with
// EVTCHNOP_init_control, the FIFO ABI (Xen's event_fifo.c rules: an event word per port in a guest
// page, 16 priority queues per vCPU linked through the words, heads and READY bits in a per-vCPU
// control block). Ports connect domains (interdomain), VIRQs and IPIs to a vCPU. Port records
// (8 bytes, EVTCHN_TABLE):
//   +0 u8 state (ECS_*)  +1 u8 notify vCPU  +2 u16 remote domain / VIRQ  +4 u16 remote port
//   +6 u8 FIFO: priority (bits 0-3), priority of the queue it was last linked on (bits 4-7)
//   +7 u8 FIFO: vCPU of the queue it was last linked on (bits 0-6), pending without an event word (bit 7)
import { EVTCHN_PORTS, HVX_EVENT } from "../memmap";
import { requestHostExit } from "../hv/clock";
import { runstateSync } from "../hv/time";
import { virqKind, VIRQ_KIND_VCPU, VIRQ_KIND_GLOBAL, globalVirqHandler } from "../hv/virqkind";
import { logStr, logNum, logHex } from "../hv/log";
import {
  domExists, domU32, setDomU32, domIs64, evtchnBase, evtchnPorts, vcpu, D_SHARED_INFO, D_NR_VCPUS, D_VCPU0, D_STATE,
  DS_RUNNING,
  V_VCPU_INFO, V_FLAGS, VF_BLOCKED, VF_POLLING, V_VIRQ_PORT, D_EVTCHN_FIFO, D_FIFO_ARRAY, V_FIFO_CB, V_FIFO_TAIL,
} from "../domain/domain";
import { mfnValid, frameOwner } from "../domain/frames";
import { getPage, putPage, getPageType, putPageType } from "../domain/mm";
import { PGT_WRITABLE } from "../domain/frames";
import { ldMarkHost } from "../mmu/logdirty";
import {
  EINVAL, ENOSPC, ENOENT, EPERM, ESRCH, EBUSY, EEXIST, ENOSYS, EOPNOTSUPP, NR_VIRQS, VI_PENDING, W64_SI_PENDING,
  W64_SI_MASK,
  W32_SI_PENDING, W32_SI_MASK, W64_VI_SEL, W32_VI_SEL, VIRQ_TIMER, VIRQ_DEBUG, VIRQ_CONSOLE,
  VIRQ_DOM_EXC, DOMID_SELF,
} from "../hypercall/abi";

export const ECS_FREE = 0;
export const ECS_RESERVED = 1;
export const ECS_UNBOUND = 2;
export const ECS_INTERDOMAIN = 3;
export const ECS_PIRQ = 4;
export const ECS_VIRQ = 5;
export const ECS_IPI = 6;

@inline function port(d: u32, p: u32): i32 { return evtchnBase(d) + ((p as i32) << 3); }
@inline export function portState(d: u32, p: u32): u32 { return load<u8>(port(d, p)); }
@inline function portVcpu(d: u32, p: u32): u32 { return load<u8>(port(d, p), 1); }
@inline function portRemoteDom(d: u32, p: u32): u32 { return load<u16>(port(d, p), 2); }
@inline function portRemotePort(d: u32, p: u32): u32 { return load<u16>(port(d, p), 4); }
function setPort(d: u32, p: u32, state: u32, vc: u32, rdom: u32, rport: u32): void {
  const a = port(d, p);
  store<u8>(a, state as u8); store<u8>(a + 1, vc as u8); store<u16>(a + 2, rdom as u16);
  store<u16>(a + 4, rport as u16);
}

// Ports a domain can use: 1024 with 64-bit guests' 2-level ABI would allow 4096; we keep 1024 for
// both widths (32 x 32 bits). Dom0 (the host) has 4096 (domain.ts: evtchnPorts).
@inline export function portValid(d: u32, p: u32): bool { return p > 0 && p < evtchnPorts(d); }

function allocPort(d: u32): i32 {
  const n = evtchnPorts(d);
  for (let p: u32 = 1; p < n; p++) if (portState(d, p) == ECS_FREE) {
    // As Xen's evtchn_fifo_init: a new port has the default priority (its last queue stays).
    const a = port(d, p) + 6;
    store<u8>(a, ((load<u8>(a) & 0xf0) | FIFO_PRIORITY_DEFAULT) as u8);
    return p as i32;
  }
  return -ENOSPC;
}

// ---- pending / mask bits ----
@inline function si(d: u32): i32 { return domU32(d, D_SHARED_INFO) as i32; }
function bitAddr(d: u32, mask: bool, p: u32): i32 {
  // Byte address of the bit (both widths store the bitmaps as little-endian words: byte p >> 3).
  const off = domIs64(d) ? (mask ? W64_SI_MASK : W64_SI_PENDING) : (mask ? W32_SI_MASK : W32_SI_PENDING);
  return si(d) + off + ((p >> 3) as i32);
}
@inline function testBit(a: i32, p: u32): bool { return (load<u8>(a) & (1 << (p & 7))) != 0; }

function vcpuInfo(d: u32, vc: u32): i32 {
  return load<u64>(vcpu(domU32(d, D_VCPU0) + vc) + V_VCPU_INFO) as i32;
}

// Mark `p` pending in `d` and, unless masked, raise the upcall on its vCPU (waking it).
export function setPending(d: u32, p: u32): void {
  if (!domExists(d)) return;
  if (fifoOn(d)) { fifoSetPending(d, notifyVcpu(d, p), p); return; }
  if (si(d) == 0) return;
  const pa = bitAddr(d, false, p);
  const old = load<u8>(pa);
  const bit = <u8>((<u32>1) << (p & 7));
  if ((old & bit) != 0) return;
  store<u8>(pa, old | bit);
  wakePoller(d, notifyVcpu(d, p));
  if (testBit(bitAddr(d, true, p), p)) return;
  raiseUpcall(d, portVcpu(d, p), p);
}

function raiseUpcall(d: u32, vc: u32, p: u32): void {
  if (vc >= domU32(d, D_NR_VCPUS)) vc = 0;
  const vi = vcpuInfo(d, vc);
  if (vi == 0) return;
  // Selector: bit (p / word bits) of evtchn_pending_sel.
  if (domIs64(d)) {
    const sel = vi + W64_VI_SEL;
    store<u64>(sel, load<u64>(sel) | ((1 as u64) << ((p >> 6) as u64)));
  } else {
    const sel = vi + W32_VI_SEL;
    store<u32>(sel, load<u32>(sel) | ((1 as u32) << (p >> 5)));
  }
  store<u8>(vi + VI_PENDING, 1);
  wake(d, vc);
}

// A vCPU in SCHEDOP_poll wakes when an event becomes pending, masked or not (Xen's
// evtchn_check_pollers; we do not keep which ports it polls: it rechecks them and may poll again).
function wakePoller(d: u32, vc: u32): void {
  const i = domU32(d, D_VCPU0) + vc;
  const v = vcpu(i);
  const f = load<u32>(v + V_FLAGS);
  if ((f & VF_POLLING) != 0) { store<u32>(v + V_FLAGS, f & ~VF_POLLING); runstateSync(i); }
}

// (A vCPU woken from SCHEDOP_block/poll becomes RUNSTATE_runnable until it runs, as Xen's vcpu_wake.)
export function wake(d: u32, vc: u32): void {
  const i = domU32(d, D_VCPU0) + vc;
  const v = vcpu(i);
  const f = load<u32>(v + V_FLAGS);
  if ((f & (VF_BLOCKED | VF_POLLING)) == 0) return;
  store<u32>(v + V_FLAGS, f & ~(VF_BLOCKED | VF_POLLING));
  runstateSync(i);
}

// Deliver VIRQ `virq` to vCPU `vc` of `d` if it is bound.
export function sendVirq(d: u32, vc: u32, virq: u32): void {
  if (!domExists(d) || virq >= (NR_VIRQS as u32) || vc >= domU32(d, D_NR_VCPUS)) return;
  const p = load<u16>(vcpu(domU32(d, D_VCPU0) + vc) + V_VIRQ_PORT + ((virq as i32) << 1)) as u32;
  if (p != 0) setPending(d, p);
}

// ---- operations (each returns 0 / a port, or -errno) ----

export function allocUnbound(d: u32, remote: u32): i32 {
  if (remote == DOMID_SELF) remote = d;
  if (!domExists(remote)) return -ESRCH;
  const p = allocPort(d);
  if (p < 0) return p;
  setPort(d, p as u32, ECS_UNBOUND, 0, remote, 0);
  return p;
}

export function bindInterdomain(d: u32, remote: u32, rport: u32): i32 {
  if (remote == DOMID_SELF) remote = d;
  if (!domExists(remote)) return -ESRCH;
  if (!portValid(remote, rport)) return -EINVAL;
  if (portState(remote, rport) != ECS_UNBOUND || portRemoteDom(remote, rport) != d) return -EINVAL;
  const p = allocPort(d);
  if (p < 0) return p;
  setPort(d, p as u32, ECS_INTERDOMAIN, 0, remote, rport);
  setPort(remote, rport, ECS_INTERDOMAIN, portVcpu(remote, rport), d, p as u32);
  // As Xen does: the new local end is marked pending so no earlier notification is lost.
  setPending(d, p as u32);
  return p;
}

// As Xen's evtchn_bind_virq: -EINVAL for a VIRQ out of range or a non-per-vCPU VIRQ asked on a vCPU
// other than 0, -ENOENT for a vCPU that does not exist, -EBUSY for a global VIRQ this domain does not
// handle (hv/virq.ts: set_virq_handler), -EEXIST when already bound.
export function bindVirq(d: u32, virq: u32, vc: u32): i32 {
  if (virq >= (NR_VIRQS as u32)) return -EINVAL;
  const kind = virqKind(virq);
  if (kind != VIRQ_KIND_VCPU && vc != 0) return -EINVAL;
  if (vc >= domU32(d, D_NR_VCPUS)) return -ENOENT;
  if (kind == VIRQ_KIND_GLOBAL && globalVirqHandler(virq) != d) return -EBUSY;
  const slot = vcpu(domU32(d, D_VCPU0) + vc) + V_VIRQ_PORT + ((virq as i32) << 1);
  if (load<u16>(slot) != 0) return -EEXIST;
  const p = allocPort(d);
  if (p < 0) return p;
  setPort(d, p as u32, ECS_VIRQ, vc, virq, 0);
  store<u16>(slot, p as u16);
  return p;
}

export function bindIpi(d: u32, vc: u32): i32 {
  if (vc >= domU32(d, D_NR_VCPUS)) return -ENOENT;
  const p = allocPort(d);
  if (p < 0) return p;
  setPort(d, p as u32, ECS_IPI, vc, 0, 0);
  return p;
}

export function close(d: u32, p: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  const st = portState(d, p);
  switch (st) {
    case ECS_FREE: case ECS_RESERVED: return -EINVAL;
    case ECS_VIRQ: {
      // Per-vCPU VIRQs are bound on their vCPU; the others on vCPU 0 whatever vCPU they notify.
      const virq = portRemoteDom(d, p);
      const vc = virqKind(virq) == VIRQ_KIND_VCPU ? portVcpu(d, p) : 0;
      store<u16>(vcpu(domU32(d, D_VCPU0) + vc) + V_VIRQ_PORT + ((virq as i32) << 1), 0);
      break;
    }
    case ECS_INTERDOMAIN: {
      const rd = portRemoteDom(d, p), rp = portRemotePort(d, p);
      if (domExists(rd) && portState(rd, rp) == ECS_INTERDOMAIN && portRemoteDom(rd, rp) == d) {
        // The other end becomes unbound, waiting for us again.
        setPort(rd, rp, ECS_UNBOUND, portVcpu(rd, rp), d, 0);
      }
      break;
    }
    default: break;
  }
  setPort(d, p, ECS_FREE, 0, 0, 0);
  // Clear the pending bit so a reused port starts clean.
  store<u8>(port(d, p) + 7, load<u8>(port(d, p) + 7) & 0x7f);
  if (fifoOn(d)) { const w = word(d, p); if (w != 0) { store<u32>(w, load<u32>(w) & ~FIFO_PENDING); ldMarkHost(w); } }
  else if (si(d) != 0) { const a = bitAddr(d, false, p); store<u8>(a, load<u8>(a) & ~(<u8>((<u32>1) << (p & 7)))); }
  return 0;
}

export function send(d: u32, p: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  switch (portState(d, p)) {
    case ECS_INTERDOMAIN: {
      const rd = portRemoteDom(d, p);
      if (domExists(rd) && domU32(rd, D_STATE) == DS_RUNNING) setPending(rd, portRemotePort(d, p));
      if (rd == 0 && d != 0) requestHostExit(HVX_EVENT); // the host is dom0: let it act now
      return 0;
    }
    case ECS_IPI: setPending(d, p); return 0;
    case ECS_UNBOUND: return 0; // nobody connected yet: dropped, as Xen does
    default: return -EINVAL;
  }
}

export function unmask(d: u32, p: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  if (fifoOn(d)) {
    // Xen's evtchn_fifo_unmask: clear MASKED, and link the event if it is pending.
    const w = word(d, p);
    if (w == 0) return 0;
    store<u32>(w, load<u32>(w) & ~FIFO_MASKED); ldMarkHost(w);
    if ((load<u32>(w) & FIFO_PENDING) != 0) fifoSetPending(d, notifyVcpu(d, p), p);
    return 0;
  }
  const ma = bitAddr(d, true, p);
  store<u8>(ma, load<u8>(ma) & ~(<u8>((<u32>1) << (p & 7))));
  if (testBit(bitAddr(d, false, p), p)) raiseUpcall(d, portVcpu(d, p), p);
  return 0;
}

export function bindVcpu(d: u32, p: u32, vc: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  if (vc >= domU32(d, D_NR_VCPUS)) return -ENOENT;
  const st = portState(d, p);
  // A VIRQ port may move only when its VIRQ is not per-vCPU (Xen's evtchn_bind_vcpu).
  if (st == ECS_VIRQ && virqKind(portRemoteDom(d, p)) == VIRQ_KIND_VCPU) return -EINVAL;
  if (st != ECS_INTERDOMAIN && st != ECS_UNBOUND && st != ECS_PIRQ && st != ECS_VIRQ) return -EINVAL;
  store<u8>(port(d, p) + 1, vc as u8);
  return 0;
}

// EVTCHNOP_status fields: status (EVTCHNSTAT_*), vcpu, and two union words.
export let stStatus: u32 = 0, stVcpu: u32 = 0, stA: u32 = 0, stB: u32 = 0;
export function status(d: u32, p: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  const st = portState(d, p);
  stVcpu = portVcpu(d, p);
  stA = 0; stB = 0;
  switch (st) {
    case ECS_FREE: stStatus = 0; break; // closed
    case ECS_UNBOUND: stStatus = 1; stA = portRemoteDom(d, p); break;
    case ECS_INTERDOMAIN: stStatus = 2; stA = portRemoteDom(d, p); stB = portRemotePort(d, p); break;
    case ECS_PIRQ: stStatus = 3; break;
    case ECS_VIRQ: stStatus = 4; stA = portRemoteDom(d, p); break;
    case ECS_IPI: stStatus = 5; break;
    default: stStatus = 0;
  }
  return 0;
}

export function reset(d: u32): i32 {
  const n = evtchnPorts(d);
  for (let p: u32 = 1; p < n; p++) if (portState(d, p) != ECS_FREE) close(d, p);
  fifoDestroy(d); // as Xen's evtchn_reset: back to the 2-level ABI
  return 0;
}

// One line for the debug keys' 'e' dump: state, notified vCPU, the other end or VIRQ, pending/masked.
export function portInfo(d: u32, p: u32): void {
  const st = portState(d, p);
  logStr(st == ECS_UNBOUND ? "unbound" : st == ECS_INTERDOMAIN ? "interdomain" : st == ECS_VIRQ ? "virq" :
    st == ECS_IPI ? "ipi" : st == ECS_PIRQ ? "pirq" : st == ECS_RESERVED ? "reserved" : "free");
  logStr(" vcpu="); logNum(portVcpu(d, p) as u64);
  if (st == ECS_UNBOUND) { logStr(" remote_dom="); logNum(portRemoteDom(d, p) as u64); }
  if (st == ECS_INTERDOMAIN) {
    logStr(" remote=d"); logNum(portRemoteDom(d, p) as u64); logStr(":"); logNum(portRemotePort(d, p) as u64);
  }
  if (st == ECS_VIRQ) { logStr(" virq="); logNum(portRemoteDom(d, p) as u64); }
  if (fifoOn(d)) {
    const w = word(d, p);
    logStr(" fifo priority="); logNum((load<u8>(port(d, p) + 6) & 15) as u64);
    if (w != 0) { logStr(" word=0x"); logHex(load<u32>(w) as u64); } else logStr(" no event word");
  } else if (si(d) != 0) {
    logStr(" pending="); logNum(testBit(bitAddr(d, false, p), p) ? 1 : 0);
    logStr(" masked="); logNum(testBit(bitAddr(d, true, p), p) ? 1 : 0);
  }
}

// Is `p` pending (and the caller may poll on it)?
export function isPending(d: u32, p: u32): bool {
  if (!portValid(d, p)) return false;
  if (fifoOn(d)) { const w = word(d, p); return w != 0 && (load<u32>(w) & FIFO_PENDING) != 0; }
  if (si(d) == 0) return false;
  return testBit(bitAddr(d, false, p), p);
}

// ---- FIFO event channels (EVTCHNOP_init_control, expand_array, set_priority) ----
// event_word_t: PENDING bit 31, MASKED 30, LINKED 29, BUSY 28, LINK (the next port) bits 0-16.
const FIFO_PENDING: u32 = 1 << 31;
const FIFO_MASKED: u32 = 1 << 30;
const FIFO_LINKED: u32 = 1 << 29;
const FIFO_BUSY: u32 = 1 << 28;
const FIFO_LINK_MASK: u32 = (1 << 17) - 1;
export const FIFO_LINK_BITS: u32 = 17;
const FIFO_PRIORITY_DEFAULT: u32 = 7;
const FIFO_PRIORITY_MIN: u32 = 15;
// evtchn_fifo_control_block { u32 ready; u32 rsvd; u32 head[16] }: 72 bytes.
const FIFO_CB_SIZE: u32 = 72;

@inline export function fifoOn(d: u32): bool { return domU32(d, D_EVTCHN_FIFO) != 0; }
// The event word of `p` (every port we hand out fits the one page of 1024 words), or 0 without it.
function word(d: u32, p: u32): i32 {
  const a = domU32(d, D_FIFO_ARRAY);
  if (a == 0 || p >= (EVTCHN_PORTS as u32)) return 0;
  return (a as i32) + ((p as i32) << 2);
}
function notifyVcpu(d: u32, p: u32): u32 {
  const vc = portVcpu(d, p);
  return vc < domU32(d, D_NR_VCPUS) ? vc : 0;
}
@inline function vrec(d: u32, vc: u32): i32 { return vcpu(domU32(d, D_VCPU0) + vc); }

// Xen's evtchn_fifo_set_pending on vCPU `vc`: set PENDING; if the event is neither masked nor linked,
// link it at the tail of its priority's queue (or make it the head of an empty queue and set the
// queue's READY bit, raising the upcall when that bit was clear). No other CPU runs meanwhile, so the
// BUSY bit is never needed: a link is written only while the tail is still LINKED.
function fifoSetPending(d: u32, vc: u32, p: u32): void {
  const w = word(d, p);
  const pr = port(d, p);
  if (w == 0) { store<u8>(pr + 7, load<u8>(pr + 7) | 0x80); return; } // kept for expand_array
  const v = vrec(d, vc);
  const cb = load<u32>(v + V_FIFO_CB) as i32;
  const was = load<u32>(w);
  store<u32>(w, was | FIFO_PENDING); ldMarkHost(w);
  if ((was & FIFO_PENDING) == 0) wakePoller(d, vc);
  if (cb == 0) return; // no control block on that vCPU: not linked (the guest must not unmask yet)
  const cur = load<u32>(w);
  if ((cur & (FIFO_MASKED | FIFO_LINKED)) != 0) return;
  store<u32>(w, cur | FIFO_LINKED);
  const prio = (load<u8>(pr + 6) & 15) as u32;
  const lastPrio = (load<u8>(pr + 6) >> 4) as u32;
  let lastVc = (load<u8>(pr + 7) & 0x7f) as u32;
  if (lastVc >= domU32(d, D_NR_VCPUS)) lastVc = 0;
  // If this event was the tail of its old queue, that queue is empty now.
  const oldTail = vrec(d, lastVc) + V_FIFO_TAIL + ((lastPrio as i32) << 1);
  if ((load<u16>(oldTail) as u32) == p) store<u16>(oldTail, 0);
  if (lastVc != vc || lastPrio != prio) {
    store<u8>(pr + 6, ((prio << 4) | prio) as u8);
    store<u8>(pr + 7, ((load<u8>(pr + 7) & 0x80) | vc) as u8);
  }
  // Link from the tail while the tail is still LINKED (the guest has not consumed it); else new head.
  const tailA = v + V_FIFO_TAIL + ((prio as i32) << 1);
  const tail = load<u16>(tailA) as u32;
  let linked = false;
  if (tail != 0) {
    const tw = word(d, tail);
    if (tw != 0) {
      const t = load<u32>(tw);
      if ((t & FIFO_LINKED) != 0) {
        store<u32>(tw, (t & ~(FIFO_BUSY | FIFO_LINK_MASK)) | p); ldMarkHost(tw); linked = true;
      }
    }
  }
  if (!linked) { store<u32>(cb + 8 + ((prio as i32) << 2), p); }
  store<u16>(tailA, p as u16);
  if (!linked) {
    const ready = load<u32>(cb);
    if ((ready & ((<u32>1) << prio)) == 0) {
      store<u32>(cb, ready | ((<u32>1) << prio));
      const vi = vcpuInfo(d, vc);
      if (vi != 0) store<u8>(vi + VI_PENDING, 1);
      wake(d, vc);
    }
    ldMarkHost(cb);
  }
}

// A guest page for the hypervisor to write (Xen's map_guest_page): the domain's own frame (PV: the
// gfn is the mfn), referenced and typed writable while in use. Returns the mfn, or -1 (-EINVAL).
function mapGuestPage(d: u32, gfn: u64): i32 {
  if (gfn > 0xfffff || !mfnValid(gfn) || frameOwner(gfn as u32) != d) return -1;
  const m = gfn as u32;
  if (!getPage(m, d)) return -1;
  if (getPageType(m, PGT_WRITABLE, d, domIs64(d)) < 0) { putPage(m); return -1; }
  return m as i32;
}
function unmapGuestPage(d: u32, ma: u32): void {
  if (ma == 0) return;
  const m = ma >> 12;
  putPageType(m, domIs64(d));
  putPage(m);
}

// EVTCHNOP_init_control: as Xen's evtchn_fifo_init_control (the vCPU first: -ENOENT; then the offset:
// at most PAGE_SIZE - 72 and 8-byte aligned, else -EINVAL; a vCPU with a control block already, or a
// gfn that is not a writable frame of the domain: -EINVAL). The first call switches the domain to
// FIFO: ports already bound get the default priority and keep a pending 2-level event for when the
// event array has their word.
export function fifoInitControl(d: u32, gfn: u64, offset: u32, vc: u32): i32 {
  if (vc >= domU32(d, D_NR_VCPUS)) return -ENOENT;
  if (offset > 4096 - FIFO_CB_SIZE || (offset & 7) != 0) return -EINVAL;
  const v = vrec(d, vc);
  if (fifoOn(d) && load<u32>(v + V_FIFO_CB) != 0) return -EINVAL;
  const m = mapGuestPage(d, gfn);
  if (m < 0) return -EINVAL;
  if (!fifoOn(d)) {
    const nv = domU32(d, D_NR_VCPUS);
    for (let k: u32 = 0; k < nv; k++) {
      store<u32>(vrec(d, k) + V_FIFO_CB, 0); memory.fill(vrec(d, k) + V_FIFO_TAIL, 0, 32);
    }
    setDomU32(d, D_FIFO_ARRAY, 0);
    for (let p: u32 = 1; p < (EVTCHN_PORTS as u32); p++) {
      const pending = portState(d, p) != ECS_FREE && si(d) != 0 && testBit(bitAddr(d, false, p), p);
      store<u8>(port(d, p) + 6, FIFO_PRIORITY_DEFAULT as u8);
      store<u8>(port(d, p) + 7, pending ? 0x80 : 0);
    }
    setDomU32(d, D_EVTCHN_FIFO, 1);
  }
  store<u32>(v + V_FIFO_CB, ((m as u32) << 12) + offset);
  memory.fill(v + V_FIFO_TAIL, 0, 32);
  return 0;
}

// EVTCHNOP_expand_array: -EOPNOTSUPP before init_control; one page of 1024 event words covers every
// port this hypervisor hands out (EVTCHN_PORTS), so a second page is -ENOSPC (Xen's answer past its
// own maximum); a bad gfn is -EINVAL. Events raised while the page was missing are linked now.
export function fifoExpandArray(d: u32, gfn: u64): i32 {
  if (!fifoOn(d)) return -EOPNOTSUPP;
  if (domU32(d, D_FIFO_ARRAY) != 0) return -ENOSPC;
  const m = mapGuestPage(d, gfn);
  if (m < 0) return -EINVAL;
  setDomU32(d, D_FIFO_ARRAY, (m as u32) << 12);
  for (let p: u32 = 1; p < (EVTCHN_PORTS as u32); p++) {
    const pr = port(d, p);
    if ((load<u8>(pr + 7) & 0x80) == 0) continue;
    store<u8>(pr + 7, load<u8>(pr + 7) & 0x7f);
    if (portState(d, p) != ECS_FREE) fifoSetPending(d, notifyVcpu(d, p), p);
  }
  return 0;
}

// EVTCHNOP_set_priority: -EINVAL for a port out of range, -ENOSYS under the 2-level ABI (it has no
// priorities), -EINVAL for a priority above 15 (the lowest). Future events use the new queue.
export function fifoSetPriority(d: u32, p: u32, prio: u32): i32 {
  if (!portValid(d, p)) return -EINVAL;
  if (!fifoOn(d)) return -ENOSYS;
  if (prio > FIFO_PRIORITY_MIN) return -EINVAL;
  const a = port(d, p) + 6;
  store<u8>(a, ((load<u8>(a) & 0xf0) | prio) as u8);
  return 0;
}

// Back to the 2-level ABI (EVTCHNOP_reset, domain destruction): the guest pages are let go.
export function fifoDestroy(d: u32): void {
  if (!fifoOn(d)) return;
  const nv = domU32(d, D_NR_VCPUS);
  for (let k: u32 = 0; k < nv; k++) {
    const v = vrec(d, k);
    unmapGuestPage(d, load<u32>(v + V_FIFO_CB));
    store<u32>(v + V_FIFO_CB, 0);
    memory.fill(v + V_FIFO_TAIL, 0, 32);
  }
  unmapGuestPage(d, domU32(d, D_FIFO_ARRAY));
  setDomU32(d, D_FIFO_ARRAY, 0);
  setDomU32(d, D_EVTCHN_FIFO, 0);
  for (let p: u32 = 1; p < (EVTCHN_PORTS as u32); p++) store<u16>(port(d, p) + 6, 0);
}

export { VIRQ_TIMER, VIRQ_DEBUG, EPERM, EBUSY };
