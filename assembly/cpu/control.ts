// Run-loop control shared by the system instructions: stop requests (run() returns after the current
// instruction) and the single-step trap flag, whose state the run loop samples before each instruction.
import { CPU_STATE, CPU_RFLAGS } from "../memmap";
import { F_TF, acUpdate } from "./state";

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
