// What every hypercall handler uses of the dispatcher (hypercall/dispatch.ts): its guest arguments, the
// flag that keeps RAX, continuations and the preemption count. A module of its own, so the handlers
// need not import the dispatcher that calls them.
import { RAX, RBX, RCX, RDX, RSI, RDI, reg64, setReg64, rip, setRip } from "../cpu/state";
import { currentDom, domIs64 } from "../domain/domain";
import { MAX_DOMAINS } from "../memmap";
import { yieldVcpu } from "../hv/clock";

// Set by hypercalls that must not write RAX on return (iret restores the guest's RAX itself).
export let noReturnValue: bool = false;
export function setNoReturnValue(): void { noReturnValue = true; }

export function arg(i: i32): u64 {
  if (domIs64(currentDom)) {
    switch (i) {
      case 0: return reg64(RDI);
      case 1: return reg64(RSI);
      case 2: return reg64(RDX);
      case 3: return reg64(10);
      default: return reg64(8);
    }
  }
  switch (i) {
    case 0: return reg64(RBX) & 0xffffffff;
    case 1: return reg64(RCX) & 0xffffffff;
    case 2: return reg64(RDX) & 0xffffffff;
    case 3: return reg64(RSI) & 0xffffffff;
    default: return reg64(RDI) & 0xffffffff;
  }
}

// Re-run the current hypercall later with arguments `i` and `j` changed, as Xen's
// hypercall_create_continuation: RIP goes back onto the hypercall instruction, RAX keeps the number (no
// return value), and the vCPU gives up the rest of its slice so that the others run before it resumes.
// Inside a multicall the new arguments are kept for the multicall, which writes them back into the
// entry in the guest's list and continues itself from that entry (as Xen's do_multicall). Everything is
// read again from the guest on resume: a guest that changes it in between only hurts itself.
export let inMulticall: bool = false;
export let contMade: bool = false;
export let mcPreempted: bool = false;
export const MC_ARGS = memory.data(5 * 8);
export function continuation(i: i32, vi: u64, j: i32, vj: u64): bool {
  if (inMulticall) {
    if (mcPreempted) return false; // one continuation per entry
    mcPreempted = true;
    store<u64>(MC_ARGS + (i << 3), vi);
    store<u64>(MC_ARGS + (j << 3), vj);
    return true;
  }
  setArg(i, vi);
  setArg(j, vj);
  setRip(rip() - 2); // SYSCALL and INT $0x82 are both 2 bytes
  noReturnValue = true; // RAX still holds the hypercall number
  contCount++;
  contMade = true;
  const c = CONT_COUNTS + ((currentDom & (MAX_DOMAINS - 1)) << 2);
  store<u32>(c, load<u32>(c) + 1);
  yieldVcpu();
  return true;
}

// Preemption (Xen's hypercall_preempt_check): a long hypercall counts its work (batch entries, pages),
// and once PREEMPT_WORK units are done in one invocation it stops at the next entry boundary and makes
// a continuation. The work is also charged to the vCPU's slice (takeHcWork, hv/sched.ts).
export const PREEMPT_WORK: i32 = 1024;
export let hcWork: i32 = 0;
@inline export function hcAddWork(n: i32): void { hcWork += n; }
export function hypercallPreemptCheck(): bool { return hcWork >= PREEMPT_WORK; }
export function takeHcWork(): i32 { const w = hcWork; hcWork = 0; return w; }

// Continuations made (all domains, and per domain: reset when the domain id is given out again).
export let contCount: u64 = 0;
export const CONT_COUNTS = memory.data(MAX_DOMAINS * 4);
export function contCountReset(d: u32): void { store<u32>(CONT_COUNTS + ((d & (MAX_DOMAINS - 1)) << 2), 0); }
export function contCountOf(d: u32): u32 { return d < (MAX_DOMAINS as u32) ? load<u32>(CONT_COUNTS + (d << 2)) : 0; }
function setArg(i: i32, v: u64): void {
  if (domIs64(currentDom)) {
    const r = i == 0 ? RDI : i == 1 ? RSI : i == 2 ? RDX : i == 3 ? 10 : 8;
    setReg64(r, v);
  } else {
    const r = i == 0 ? RBX : i == 1 ? RCX : i == 2 ? RDX : i == 3 ? RSI : RDI;
    setReg64(r, v & 0xffffffff);
  }
}
