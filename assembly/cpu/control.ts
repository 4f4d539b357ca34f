// Run-loop control shared by the system instructions: stop requests (run() returns after the current
// instruction) and the single-step trap flag, whose state the run loop samples before each instruction.
import { CPU_STATE, CPU_RFLAGS, CPU_CR0, CPU_CPL } from "../memmap";
import { setAcMode } from "../mmu/tlb";
import { F_TF } from "./state";

// EXIT_* that makes run() return after this instruction; -1 = keep running.
export let stopReason: i32 = -1;
export function requestStop(reason: i32): void { stopReason = reason; }
export function clearStop(): void { stopReason = -1; }

// RFLAGS.TF as of the last change (cheap for the run loop to test).
export let singleStep: bool = false;
export function trapFlagChanged(): void {
  singleStep = (load<u64>(CPU_STATE + CPU_RFLAGS) & F_TF) != 0;
  acUpdate();
}

// #AC checking is on with CR0.AM, RFLAGS.AC and CPL 3 (called when any of them may change).
export function acUpdate(): void {
  setAcMode((load<u64>(CPU_STATE + CPU_CR0) & (1 << 18)) != 0 &&
    (load<u64>(CPU_STATE + CPU_RFLAGS) & (1 << 18)) != 0 && load<i32>(CPU_STATE + CPU_CPL) == 3);
}
