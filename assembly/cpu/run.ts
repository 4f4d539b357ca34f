// The run loop: fetch/decode/execute up to `budget` instructions, deliver faults, return an EXIT_*.
// Invariant: `fault` is clear at the top of each step (it is cleared when a fault is delivered).
import { CPU_STATE, CPU_INSNS, CPU_EXIT_REASON, SEG_CS, EXIT_BUDGET } from "../memmap";
import { rip, setRip, nextIp, is64, segBase } from "./state";
import { flagsSync } from "./flags";
import { fault, faultVec, faultErr, clearFault } from "./fault";
import { decodeCached, dLen } from "./decode";
import { execute } from "./exec";
import {
  stopReason, clearStop, deliverException, singleStep, singleStepTrap, eventDelivered, clearEventDelivered,
} from "./system";

export function run(budget: i32): i32 {
  clearStop();
  clearFault();
  let n = 0; // steps taken (retired instructions and delivered faults): bounds the loop
  let retired = 0;
  let ip = rip();
  while (n < budget) {
    n++;
    const tf = singleStep; // RFLAGS.TF as this instruction starts
    if (tf) clearEventDelivered();
    const lin = is64 ? ip : segBase(SEG_CS) + ip;
    if (decodeCached(lin)) {
      nextIp = ip + (dLen() as u64);
      if (!is64) nextIp &= 0xffffffff;
      execute();
    }
    if (fault) {
      clearFault();
      nextIp = ip;
      setRip(ip);
      deliverException(faultVec, faultErr);
      clearFault(); // deliverException handles nested faults itself
    } else {
      retired++;
      if (tf) {
        // Single-step: a #DB trap after the instruction, unless it delivered an event itself.
        if (!eventDelivered && stopReason < 0) { setRip(ip); singleStepTrap(nextIp); clearFault(); }
      }
    }
    ip = nextIp;
    setRip(ip);
    if (stopReason >= 0) break;
  }
  store<u64>(CPU_STATE + CPU_INSNS, load<u64>(CPU_STATE + CPU_INSNS) + (retired as u64));
  flagsSync();
  const r = stopReason >= 0 ? stopReason : EXIT_BUDGET;
  store<i32>(CPU_STATE + CPU_EXIT_REASON, r);
  return r;
}
