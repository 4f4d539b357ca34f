// Hypercall entry: arguments from the registers of the guest's width (64-bit: RDI RSI RDX R10 R8;
// 32-bit: EBX ECX EDX ESI EDI), number in RAX, result in RAX. One dense switch over the numbers.
import { pvSetDebugreg, pvGetDebugreg, getDrOk } from "../hv/debugreg";
import { RAX, RDX, RSI, RDI, reg64, setReg64 } from "../cpu/state";
import { currentDom, domIs64, domU32, D_PRIVILEGED } from "../domain/domain";
import * as A from "./abi";
import { hcConsoleIo, hcXenVersion, hcVmAssist } from "./misc";
import { hcSchedOp, hcSchedOpCompat, hcSetTimerOp, hcVcpuOp } from "./sched";
import { hcMmuUpdate, hcMmuextOp, hcUpdateVaMapping, hcMemoryOp } from "./mmu";
import {
  hcSetTrapTable, hcStackSwitch, hcSetCallbacks, hcCallbackOp, hcFpuTaskswitch, hcIret, hcSetSegmentBase,
  hcSetGdt, hcUpdateDescriptor, hcPhysdevOp,
} from "./traps";
import { hcEventChannelOp } from "./evtchn";
import { hcGrantTableOp } from "./grant";
import { logStr, logNum, logHex, logByte } from "../hv/log";
import { perfInc, PC_HYPERCALL } from "../perf";
import {
  noReturnValue, arg, inMulticall, contMade, mcPreempted, MC_ARGS, continuation, hcWork, hypercallPreemptCheck,
} from "./args";

export let hypercallCount: u64 = 0;

// Run hypercall `nr` with arguments a0..a4; returns the result (negative -errno on error).
export const HC_COUNTS = memory.data(64 * 4); // per-number counters (xm info / debugging)
export function hypercall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64): i64 {
  hypercallCount++;
  perfInc(PC_HYPERCALL);
  if (nr > 63) return -A.ENOSYS;
  const c = HC_COUNTS + ((nr as i32) << 2);
  store<u32>(c, load<u32>(c) + 1);
  switch (nr as i32) {
    case A.HC_set_trap_table: return hcSetTrapTable(a0);
    case A.HC_mmu_update: return hcMmuUpdate(a0, a1, a2, a3);
    case A.HC_set_gdt: return hcSetGdt(a0, a1);
    case A.HC_stack_switch: return hcStackSwitch(a0, a1);
    case A.HC_set_callbacks: return hcSetCallbacks(a0, a1, a2, a3);
    case A.HC_fpu_taskswitch: return hcFpuTaskswitch(a0);
    case A.HC_sched_op_compat: return hcSchedOpCompat(a0, a1);
    case A.HC_update_descriptor: return hcUpdateDescriptor(a0, a1, a2);
    case A.HC_memory_op: return hcMemoryOp(a0, a1);
    case A.HC_multicall: return hcMulticall(a0, a1);
    case A.HC_update_va_mapping: return hcUpdateVaMapping(a0, a1, a2, a3);
    case A.HC_set_timer_op: return hcSetTimerOp(a0, a1);
    case A.HC_xen_version: return hcXenVersion(a0, a1);
    case A.HC_console_io: return hcConsoleIo(a0, a1, a2);
    case A.HC_grant_table_op: return hcGrantTableOp(a0, a1, a2);
    case A.HC_vm_assist: return hcVmAssist(a0, a1);
    case A.HC_iret: return hcIret();
    case A.HC_vcpu_op: return hcVcpuOp(a0, a1, a2);
    case A.HC_set_segment_base: return hcSetSegmentBase(a0, a1);
    case A.HC_mmuext_op: return hcMmuextOp(a0, a1, a2, a3);
    case A.HC_sched_op: return hcSchedOp(a0, a1);
    case A.HC_callback_op: return hcCallbackOp(a0, a1);
    case A.HC_event_channel_op: return hcEventChannelOp(a0, a1);
    case A.HC_physdev_op: return hcPhysdevOp(a0, a1);
    // The old forms: struct { u32 cmd; union @4 }.
    case A.HC_event_channel_op_compat: {
      gReset(); const c = rdG32(a0); if (!gOk) return -A.EFAULT; return hcEventChannelOp(c as u64, a0 + 4);
    }
    case A.HC_physdev_op_compat: {
      gReset(); const c = rdG32(a0); if (!gOk) return -A.EFAULT; return hcPhysdevOp(c as u64, a0 + 4);
    }
    case A.HC_set_debugreg: return pvSetDebugreg(a0 as u32, a1);
    case A.HC_get_debugreg: { const v = pvGetDebugreg(a0 as u32); return getDrOk ? v as i64 : -A.ENODEV; }
    case A.HC_domctl: case A.HC_sysctl: case A.HC_update_va_mapping_otherdomain: case A.HC_platform_op:
      // Toolstack operations: dom0's (our host) own business; guests may not.
      return domU32(currentDom, D_PRIVILEGED) != 0 ? -A.ENOSYS : -A.EPERM;
    default: return -A.ENOSYS;
  }
}

// Tracing (hv_trace): every hypercall with its arguments and result goes to the hypervisor's log.
export let traceHypercalls: bool = false;
export function setTrace(on: bool): void { traceHypercalls = on; }

// Hypercall from the running vCPU's registers; writes the result to RAX.
export function hypercallFromRegs(): void {
  noReturnValue = false;
  contMade = false;
  hcWork = 0;
  const nr = reg64(RAX);
  const r = hypercall(nr, arg(0), arg(1), arg(2), arg(3), arg(4));
  if (traceHypercalls) {
    logStr("(XEN) d"); logNum(currentDom as u64); logStr(" hc "); logNum(nr); logStr("(");
    logHex(arg(0)); logStr(", "); logHex(arg(1)); logStr(", "); logHex(arg(2)); logStr(") = ");
    if (contMade) logStr("continuation");
    else if (r < 0) { logStr("-"); logNum((-r) as u64); } else logHex(r as u64);
    logByte(10);
  }
  if (noReturnValue) return;
  if (domIs64(currentDom)) setReg64(RAX, r as u64);
  else setReg64(RAX, (r as u64) & 0xffffffff);
}

// multicall: entries { op, result, args[6] } of machine words (64 / 32 bytes), each run in turn;
// iret and nested multicalls are refused per entry with -EINVAL. Preemptible as Xen's do_multicall:
// between entries once enough work is done, and when an entry's own hypercall makes a continuation
// (its new arguments are written back into that entry, whose result is not written); either way the
// multicall continues later from the first entry not completed (list and count moved on).
import { rdG64, rdG32, wrG64, wrG32, gOk, gReset } from "../hv/guest";
import { stopRequested } from "../hv/clock";
function hcMulticall(list: u64, n: u64): i64 {
  inMulticall = true;
  mcPreempted = false;
  const r = multicallBody(list, n);
  inMulticall = false;
  mcPreempted = false;
  return r;
}
function multicallBody(list: u64, n: u64): i64 {
  const w64 = domIs64(currentDom);
  const sz: u64 = w64 ? 64 : 32;
  const ws: u64 = w64 ? 8 : 4;
  for (let i: u64 = 0; i < n; i++) {
    const e = list + i * sz;
    if (i > 0 && hypercallPreemptCheck()) { mcContinue(list + i * sz, n - i); return 0; }
    gReset();
    const op = w64 ? rdG64(e) : rdG32(e) as u64;
    let args0: u64 = 0, args1: u64 = 0, args2: u64 = 0, args3: u64 = 0, args4: u64 = 0;
    args0 = w64 ? rdG64(e + 2 * ws) : rdG32(e + 2 * ws) as u64;
    args1 = w64 ? rdG64(e + 3 * ws) : rdG32(e + 3 * ws) as u64;
    args2 = w64 ? rdG64(e + 4 * ws) : rdG32(e + 4 * ws) as u64;
    args3 = w64 ? rdG64(e + 5 * ws) : rdG32(e + 5 * ws) as u64;
    args4 = w64 ? rdG64(e + 6 * ws) : rdG32(e + 6 * ws) as u64;
    if (!gOk) return -A.EFAULT;
    let r: i64;
    store<u64>(MC_ARGS, args0); store<u64>(MC_ARGS + 8, args1); store<u64>(MC_ARGS + 16, args2);
    store<u64>(MC_ARGS + 24, args3); store<u64>(MC_ARGS + 32, args4);
    mcPreempted = false;
    if (op == A.HC_iret || op == A.HC_multicall) r = -A.EINVAL;
    else r = hypercall(op, args0, args1, args2, args3, args4);
    hcWork++;
    if (mcPreempted) {
      // The entry's continuation: its arguments as they must be on resume, in the guest's list.
      mcPreempted = false;
      gReset();
      for (let k: u64 = 0; k < 5; k++) {
        const a = load<u64>(MC_ARGS + ((k as i32) << 3));
        if (w64) wrG64(e + (2 + k) * ws, a); else wrG32(e + (2 + k) * ws, a as u32);
      }
      if (!gOk) return -A.EFAULT;
      mcContinue(e, n - i);
      return 0;
    }
    if (w64) wrG64(e + ws, r as u64); else wrG32(e + ws, r as u32);
    if (!gOk) return -A.EFAULT;
    if (stopRequested()) { /* a shutdown inside a multicall ends it */ if (op == A.HC_sched_op) break; }
  }
  return 0;
}
function mcContinue(list: u64, n: u64): void {
  inMulticall = false;
  continuation(0, list, 1, n);
}
