// Domain life cycle: create, shutdown (with a reason), crash, destroy (every frame back to the pool).
// The hypervisor's own log (what `xm dmesg` shows) is in hv/log.ts.
import { MAX_DOMAINS } from "../memmap";
import {
  dom, domU32, setDomU32, domExists, vcpu, vcpuAlloc, vcpuFree, vcpuDrop, current,
  D_STATE, D_SHUTDOWN_REASON, D_WIDTH, D_NR_VCPUS, D_VCPU0, D_MAX_PAGES, D_WEIGHT,
  DS_FREE, DS_RUNNING, DS_SHUTDOWN, V_FLAGS, VF_ONLINE, evtchnBase, evtchnBytes, domTop,
} from "../domain/domain";
import { DOMAIN_SIZE, EVTCHN_DOM_SIZE, VCPU_SIZE } from "../memmap";
import { D_CORE_REC_BYTES, setDomU64 } from "../domain/domain";
import {
  frameRelease, domFirstFrame, setFrameTypeCount, setFrameRefCount,
  setFrameFlags, setFrameType, PGT_NONE,
} from "../domain/frames";
import { SHUTDOWN_crash } from "../hypercall/abi";
import { frameWritten } from "../domain/mm";
import { grantsReleaseDomain } from "../hypercall/grant";
import { reset as evtchnReset } from "../event/evtchn";
import { ldDomainGone } from "./logdirty";
import { logDom } from "./log";
import { sendGlobalVirq, clearGlobalVirqHandlers } from "./virq";
import { VIRQ_DOM_EXC } from "../hypercall/abi";

// Xen's domid rover (domctl.c): a new domain gets the first free id after the last one handed out,
// wrapping, so ids increase and a rebooted or re-created domain gets a new one (dom0 is always 0).
let domRover: u32 = 0;
export function resetDomTop(): void { domTop = 0; domRover = 0; }

// Set when a domain shuts down, so the run loop can tell the host.
export let shutdownSeen: bool = false;
export function clearShutdownSeen(): void { shutdownSeen = false; }

import { contCountReset } from "../hypercall/args";
import { systemTime } from "./clock";
import { V_RS_STATE, V_RS_ENTRY } from "../domain/domain";
export function domainCreate(width: u32, nrVcpus: u32, maxPages: u32): i32 {
  if (nrVcpus == 0 || nrVcpus > 32 || (width != 32 && width != 64)) return -1;
  let d: u32 = MAX_DOMAINS as u32;
  for (let k: u32 = 0; k < (MAX_DOMAINS as u32); k++) {
    const c = (domRover + k) % (MAX_DOMAINS as u32);
    if (c == 0 && domRover != 0) continue; // id 0 is dom0's alone
    if (domU32(c, D_STATE) == DS_FREE) { d = c; break; }
  }
  if (d >= (MAX_DOMAINS as u32)) return -1;
  const v0 = vcpuAlloc(nrVcpus, d);
  if (v0 < 0) return -1;
  domRover = (d + 1) % (MAX_DOMAINS as u32);
  if (domRover == 0) domRover = 1;
  memory.fill(dom(d), 0, DOMAIN_SIZE);
  memory.fill(evtchnBase(d), 0, evtchnBytes(d));
  contCountReset(d);
  setDomU32(d, D_STATE, DS_RUNNING);
  if (d + 1 > domTop) domTop = d + 1;
  setDomU32(d, D_WIDTH, width);
  setDomU32(d, D_NR_VCPUS, nrVcpus);
  setDomU32(d, D_VCPU0, v0 as u32);
  setDomU32(d, D_MAX_PAGES, maxPages);
  setDomU32(d, D_WEIGHT, 256);
  setDomU64(d, D_CORE_REC_BYTES, (DOMAIN_SIZE + EVTCHN_DOM_SIZE + (nrVcpus as i32) * VCPU_SIZE) as u64);
  // The secondary vCPUs are RUNSTATE_offline from now on, as Xen creates a vCPU (vCPU 0 enters
  // RUNSTATE_running when it first runs; a restore sets every vCPU's from its record).
  const now = systemTime();
  for (let k: u32 = 1; k < nrVcpus; k++) {
    store<u32>(vcpu((v0 as u32) + k) + V_RS_STATE, 3);
    store<u64>(vcpu((v0 as u32) + k) + V_RS_ENTRY, now);
  }
  return d as i32;
}

export function domainShutdown(d: u32, reason: u32): void {
  if (!domExists(d) || domU32(d, D_STATE) != DS_RUNNING) return;
  setDomU32(d, D_STATE, DS_SHUTDOWN);
  setDomU32(d, D_SHUTDOWN_REASON, reason);
  shutdownSeen = true;
  sendGlobalVirq(VIRQ_DOM_EXC); // as Xen's domain_shutdown: the VIRQ_DOM_EXC handler learns of it
}

export function domainCrash(d: u32, why: string): void {
  logDom(d, why);
  logDom(d, "domain crashed");
  domainShutdown(d, SHUTDOWN_crash);
}

// Destroy: every frame the domain owns returns to the pool, its vCPUs and ports are freed.
export function domainDestroy(d: u32): bool {
  if (!domExists(d)) return false;
  ldDomainGone(d);
  clearGlobalVirqHandlers(d);
  grantsReleaseDomain(d);
  evtchnReset(d); // interdomain peers become unbound again
  const v0 = domU32(d, D_VCPU0), n = domU32(d, D_NR_VCPUS);
  for (let i: u32 = 0; i < n; i++) {
    if (current == ((v0 + i) as i32)) vcpuDrop();
    vcpuFree(v0 + i);
  }
  // Its frames, from its own list (as Xen's relinquish_memory walks d->page_list): the cost is what
  // it owns, not the frame table. Each release takes the frame off the list's head.
  for (let m = domFirstFrame(d); m != 0; m = domFirstFrame(d)) {
    frameWritten(m);
    setFrameType(m, PGT_NONE);
    setFrameFlags(m, 0);
    setFrameTypeCount(m, 0);
    setFrameRefCount(m, 0);
    frameRelease(m);
  }
  memory.fill(evtchnBase(d), 0, evtchnBytes(d));
  memory.fill(dom(d), 0, DOMAIN_SIZE);
  while (domTop > 0 && domU32(domTop - 1, D_STATE) == DS_FREE) domTop--;
  sendGlobalVirq(VIRQ_DOM_EXC); // as Xen's domain_kill: the domain is gone
  return true;
}

export { DS_SHUTDOWN, D_SHUTDOWN_REASON, V_FLAGS, VF_ONLINE, vcpu };
