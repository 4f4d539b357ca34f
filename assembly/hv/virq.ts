// Virtual IRQs beyond the timer: their kinds (per-vCPU, global, per-domain), the domains that handle
// the global ones (XEN_DOMCTL_set_virq_handler), the hypervisor console's input ring (CONSOLEIO_read,
// VIRQ_CONSOLE) and the debug keys ('q' dumps the domains into the log and sends VIRQ_DEBUG to every
// vCPU of every domain), after Xen's common/event_channel.c, drivers/char/console.c and
// common/keyhandler.c.
//
// A global VIRQ goes to its handler domain's vCPU-0 binding; with no handler set it goes to the
// hardware domain, which is domain 0: the host itself (no vCPUs, so nothing is delivered to a guest).
import {
  MAILBOX, MAILBOX_SIZE, CPU_RFLAGS, CPU_RIP, CPU_CR3, CPU_CPL, CPU_SEG, SEG_SIZE, EVTCHN_PORTS, DOM0_EVTCHN_PORTS
} from "../memmap";
import {
  NR_VIRQS, VIRQ_TIMER, VIRQ_DEBUG, VIRQ_XENOPROF, VIRQ_XENPMU, VIRQ_ARGO, VIRQ_DOM_EXC, VIRQ_CONSOLE,
  VI_PENDING, VI_MASK, EINVAL, EBUSY, E2BIG, EPERM, EFAULT,
} from "../hypercall/abi";
import {
  domExists, domU32, domU64, domIs64, vcpu, vcpuSave, current, currentDom, D_STATE, DS_RUNNING, DS_SHUTDOWN,
  D_NR_VCPUS, D_VCPU0, D_PAUSE_COUNT, D_TOT_PAGES, D_MAX_PAGES, D_VM_ASSIST, D_SHUTDOWN_REASON, D_WIDTH,
  D_PRIVILEGED, D_WEIGHT, D_CAP, D_CPU_NS, D_INSNS, V_FLAGS, VF_ONLINE, VF_BLOCKED, VF_POLLING, VF_KERNEL,
  V_VCPU_INFO, V_VIRQ_PORT, V_PERIOD, V_TIMER, V_CB_EVENT, V_CB_FAILSAFE, V_KERNEL_SP,
} from "../domain/domain";
import { sendVirq, portState, ECS_FREE, portValid, portInfo } from "../event/evtchn";
import { domTop } from "../domain/domain";
import { logStr, logNum, logHex, logByte } from "./log";
import { copyToGuest } from "./guest";
import { virqKind, VIRQ_KIND_GLOBAL, HANDLERS, globalVirqHandler } from "./virqkind";

export function virqInit(): void {
  memory.fill(HANDLERS, 0, NR_VIRQS * 4);
  rxProd = 0;
  rxCons = 0;
}

// The vCPU-0 port of `d` bound to `virq` (0: none).
function boundPort(d: u32, virq: u32): u32 {
  if (!domExists(d) || domU32(d, D_NR_VCPUS) == 0) return 0;
  return load<u16>(vcpu(domU32(d, D_VCPU0)) + V_VIRQ_PORT + ((virq as i32) << 1)) as u32;
}

// XEN_DOMCTL_set_virq_handler: make `d` the handler of global VIRQ `virq`. -EINVAL for a VIRQ that is
// not global or a domain that does not exist (or is shutting down); -EBUSY while the current handler
// still has it bound. Domain 0 (the host) takes it back.
export function setGlobalVirqHandler(d: u32, virq: u32): i32 {
  if (virq >= (NR_VIRQS as u32) || virqKind(virq) != VIRQ_KIND_GLOBAL) return -EINVAL;
  if (d == globalVirqHandler(virq)) return 0;
  if (!domExists(d) || (d != 0 && domU32(d, D_STATE) != DS_RUNNING)) return -EINVAL;
  const old = globalVirqHandler(virq);
  if (old != 0 && boundPort(old, virq) != 0) return -EBUSY;
  store<u32>(HANDLERS + ((virq as i32) << 2), d);
  return 0;
}

// A dying domain hands its global VIRQs back to the hardware domain.
export function clearGlobalVirqHandlers(d: u32): void {
  for (let i = 0; i < NR_VIRQS; i++) if (load<u32>(HANDLERS + (i << 2)) == d) store<u32>(HANDLERS + (i << 2), 0);
}

// send_global_virq: to the handler's binding on vCPU 0 (nothing when the handler is the host).
export function sendGlobalVirq(virq: u32): void {
  const d = globalVirqHandler(virq);
  if (d != 0) sendVirq(d, 0, virq);
}

// ---- the hypervisor console's input (Xen's serial_rx_ring: 128 bytes, drop when full) ----
const RX_SIZE: u32 = 128;
const RX = memory.data(128) as i32;
let rxProd: u32 = 0;
let rxCons: u32 = 0;

// `n` bytes at MAILBOX typed into the hypervisor's console: queued for CONSOLEIO_read, and VIRQ_CONSOLE
// to its handler (always, as Xen does, so a full ring cannot wedge the reader). Returns the bytes kept.
export function consoleInput(n: u32): u32 {
  if (n > (MAILBOX_SIZE as u32)) n = MAILBOX_SIZE as u32;
  let kept: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (rxProd - rxCons == RX_SIZE) break;
    store<u8>(RX + ((rxProd & (RX_SIZE - 1)) as i32), load<u8>(MAILBOX + (i as i32)));
    rxProd++;
    kept++;
  }
  if (n > 0) sendGlobalVirq(VIRQ_CONSOLE);
  return kept;
}
export function consoleQueued(): u32 { return rxProd - rxCons; }

// CONSOLEIO_read(count, buf): what the ring holds, up to `count` bytes. Only the console's reader may:
// the VIRQ_CONSOLE handler (or a privileged domain), others get -EPERM as from Xen's XSM policy.
export function consoleRead(count: u64, buf: u64): i64 {
  if (currentDom != globalVirqHandler(VIRQ_CONSOLE) && domU32(currentDom, D_PRIVILEGED) == 0) return -EPERM;
  if (count > 0x7fffffff) return -E2BIG;
  let rc: u64 = 0;
  while (rxCons != rxProd && rc < count) {
    const idx = rxCons & (RX_SIZE - 1);
    let len = rxProd - rxCons;
    if (idx + len > RX_SIZE) len = RX_SIZE - idx;
    if (rc + (len as u64) > count) len = (count - rc) as u32;
    if (!copyToGuest(buf + rc, RX + (idx as i32), len as i32)) return -EFAULT;
    rc += len as u64;
    rxCons += len;
  }
  return rc as i64;
}

// ---- debug keys ----
function line(s: string): void { logStr("(XEN) "); logStr(s); }
function nl(): void { logByte(10); }
function hex2(v: u32): void { logByte(HEXD.charCodeAt((v >> 4) & 15) as u32); logByte(HEXD.charCodeAt(v & 15) as u32); }
const HEXD = "0123456789abcdef";

const KEYS = "dehqr*";
function keyDesc(k: u32): string {
  switch (k) {
    case 0x64: return "dump registers";
    case 0x65: return "dump evtchn info";
    case 0x68: return "show this message";
    case 0x71: return "dump domain (and guest debug) info";
    case 0x72: return "dump run queues";
    case 0x2a: return "print all diagnostics";
    default: return "";
  }
}

// A key typed at the hypervisor (xm debug-keys). Returns 1 when it has a handler, 0 if not (ignored,
// as Xen ignores keys without one).
export function debugKey(k: u32): i32 {
  switch (k) {
    case 0x68: showHandlers(k); return 1;
    case 0x71: dumpDomains(k); return 1;
    case 0x64: dumpRegisters(k); return 1;
    case 0x65: dumpEvtchn(k); return 1;
    case 0x72: dumpRunq(k); return 1;
    case 0x2a:
      line("'*' pressed -> firing all diagnostic keyhandlers"); nl();
      dumpRegisters(0x64); dumpEvtchn(0x65); dumpDomains(0x71); dumpRunq(0x72);
      line("'*' pressed -> done"); nl();
      return 1;
    default: return 0;
  }
}

function pressed(k: u32, what: string): void {
  logStr("(XEN) '"); logByte(k); logStr("' pressed -> "); logStr(what);
}

function showHandlers(k: u32): void {
  pressed(k, "showing installed handlers"); nl();
  for (let i = 0; i < KEYS.length; i++) {
    const c = KEYS.charCodeAt(i) as u32;
    logStr("(XEN)  key '"); logByte(c); logStr("' (ascii '"); hex2(c); logStr("') => "); logStr(keyDesc(c)); nl();
  }
}

@inline function vinfo(d: u32, i: u32): i32 { return load<u64>(vcpu(domU32(d, D_VCPU0) + i) + V_VCPU_INFO) as i32; }

// 'q': each domain's state, then VIRQ_DEBUG to every vCPU of every domain.
function dumpDomains(k: u32): void {
  pressed(k, "dumping domain info (now = "); logHex(nowNs()); logByte(0x29); nl();
  for (let d: u32 = 0; d < domTop; d++) {
    if (!domExists(d)) continue;
    line("General information for domain "); logNum(d as u64); logByte(0x3a); nl();
    line("    state="); logStr(stateName(d)); logStr(" pause_count="); logNum(domU32(d, D_PAUSE_COUNT) as u64);
    logStr(" width="); logNum(domU32(d, D_WIDTH) as u64); logStr(d == 0 ? " (the host: dom0)" : ""); nl();
    line("    nr_pages="); logNum(domU32(d, D_TOT_PAGES) as u64); logStr(" max_pages=");
    logNum(domU32(d, D_MAX_PAGES) as u64);
    logStr(" vm_assist="); logHex(domU32(d, D_VM_ASSIST) as u64); nl();
    const n = domU32(d, D_NR_VCPUS);
    if (n == 0) continue;
    line("VCPU information and callbacks for domain "); logNum(d as u64); logByte(0x3a); nl();
    for (let i: u32 = 0; i < n; i++) {
      const v = vcpu(domU32(d, D_VCPU0) + i);
      const f = load<u32>(v + V_FLAGS);
      const vi = vinfo(d, i);
      line("    VCPU"); logNum(i as u64); logStr(": CPU0 [has=");
      logByte((current == ((domU32(d, D_VCPU0) + i) as i32)) ? 0x54 : 0x46);
      logStr("] online="); logNum((f & VF_ONLINE) != 0 ? 1 : 0); logStr(" blocked=");
      logNum((f & VF_BLOCKED) != 0 ? 1 : 0);
      logStr(" poll="); logNum((f & VF_POLLING) != 0 ? 1 : 0);
      logStr(" upcall_pend="); hex2(vi != 0 ? load<u8>(vi + VI_PENDING) as u32 : 0);
      logStr(" upcall_mask="); hex2(vi != 0 ? load<u8>(vi + VI_MASK) as u32 : 0); nl();
      line("    callbacks: event="); logHex(load<u64>(v + V_CB_EVENT)); logStr(" failsafe=");
      logHex(load<u64>(v + V_CB_FAILSAFE));
      logStr(" kernel_sp="); logHex(load<u64>(v + V_KERNEL_SP)); nl();
      const per = load<u64>(v + V_PERIOD);
      if (per == 0) line("    No periodic timer");
      else {
        line("    "); logNum(1000000000 / per); logStr(" Hz periodic timer (period "); logNum(per / 1000000);
        logStr(" ms)");
      }
      const t = load<u64>(v + V_TIMER);
      if (t != 0) { logStr("; single-shot timer at "); logHex(t); }
      nl();
    }
  }
  for (let d: u32 = 0; d < domTop; d++) {
    if (!domExists(d)) continue;
    const n = domU32(d, D_NR_VCPUS);
    for (let i: u32 = 0; i < n; i++) {
      const p = load<u16>(vcpu(domU32(d, D_VCPU0) + i) + V_VIRQ_PORT + (VIRQ_DEBUG << 1)) as u32;
      line("Notifying guest "); logNum(d as u64); logByte(0x3a); logNum(i as u64); logStr(" (virq 1, port ");
      logNum(p as u64); logByte(0x29); nl();
      sendVirq(d, i, VIRQ_DEBUG);
    }
  }
}

function stateName(d: u32): string {
  const s = domU32(d, D_STATE);
  if (s == DS_RUNNING) return "running";
  if (s == DS_SHUTDOWN) {
    const r = domU32(d, D_SHUTDOWN_REASON);
    return r == 0 ? "shutdown(poweroff)" : r == 1 ? "shutdown(reboot)" : r == 2 ? "shutdown(suspend)" : r == 3
      ? "shutdown(crash)" : "shutdown";
  }
  return "dying";
}

// 'd': the saved registers of every vCPU (the running one is saved first).
function dumpRegisters(k: u32): void {
  pressed(k, "dumping registers"); nl();
  vcpuSave();
  for (let d: u32 = 1; d < domTop; d++) {
    if (!domExists(d)) continue;
    const n = domU32(d, D_NR_VCPUS);
    for (let i: u32 = 0; i < n; i++) {
      const v = vcpu(domU32(d, D_VCPU0) + i);
      line("*** Dumping d"); logNum(d as u64); logStr("v"); logNum(i as u64); logStr(" state: ");
      logStr(domIs64(d) ? "64-bit" : "32-bit");
      logStr(
        domIs64(d) ? ((load<u32>(v + V_FLAGS) & VF_KERNEL) != 0 ? " guest kernel" : " guest user")
          : (load<i32>(v + CPU_CPL) == 1 ? " ring 1" : " ring 3")
      ); nl();
      line("    rip: "); logHex(load<u64>(v + CPU_RIP)); logStr(" rsp: "); logHex(load<u64>(v + 32));
      logStr(" rflags: "); logHex(load<u64>(v + CPU_RFLAGS)); nl();
      line("    rax: "); logHex(load<u64>(v)); logStr(" rbx: "); logHex(load<u64>(v + 24)); logStr(" rcx: ");
      logHex(load<u64>(v + 8));
      logStr(" rdx: "); logHex(load<u64>(v + 16)); nl();
      line("    rsi: "); logHex(load<u64>(v + 48)); logStr(" rdi: "); logHex(load<u64>(v + 56)); logStr(" rbp: ");
      logHex(load<u64>(v + 40));
      logStr(" cr3: "); logHex(load<u64>(v + CPU_CR3)); nl();
      line("    ");
      const names = "es cs ss ds fs gs ";
      for (let s = 0; s < 6; s++) {
        logStr(names.substring(s * 3, s * 3 + 2)); logStr(": "); logHex(load<u16>(v + CPU_SEG + s * SEG_SIZE) as u64);
        logByte(32);
      }
      nl();
    }
  }
}

// 'e': the event channels of every domain that has any.
function dumpEvtchn(k: u32): void {
  pressed(k, "dumping event-channel info"); nl();
  for (let d: u32 = 0; d < domTop; d++) {
    if (!domExists(d)) continue;
    let any = false;
    const np = d == 0 ? (DOM0_EVTCHN_PORTS as u32) : (EVTCHN_PORTS as u32);
    for (let p: u32 = 1; p < np; p++) {
      if (!portValid(d, p) || portState(d, p) == ECS_FREE) continue;
      if (!any) { line("Event channel information for domain "); logNum(d as u64); logByte(0x3a); nl(); any = true; }
      line("    port "); logNum(p as u64); logStr(": "); portInfo(d, p); nl();
    }
  }
}

// 'r': the scheduler's view of every domain.
function dumpRunq(k: u32): void {
  pressed(k, "dumping run queues (credit scheduler)"); nl();
  for (let d: u32 = 1; d < domTop; d++) {
    if (!domExists(d)) continue;
    line("    d"); logNum(d as u64); logStr(": "); logStr(stateName(d)); logStr(" weight=");
    logNum(domU32(d, D_WEIGHT) as u64);
    logStr(" cap="); logNum(domU32(d, D_CAP) as u64); logStr(" cpu_ns="); logNum(domU64(d, D_CPU_NS));
    logStr(" insns="); logNum(domU64(d, D_INSNS));
    logStr(current >= 0 && currentDom == d ? " (loaded)" : ""); nl();
  }
}

import { systemTime } from "./clock";
function nowNs(): u64 { return systemTime(); }
