// Exceptions raised while executing an instruction. AssemblyScript has no exceptions, so a fault is
// recorded here and every handler checks `fault` after each step that can fail, before it changes any
// register or memory: the faulting instruction then leaves no side effects, and the run loop delivers
// the exception (cpu/system.ts: deliverException) with RIP still at the faulting instruction.
import { CPU_STATE, CPU_CR2 } from "../memmap";

export const EX_DE = 0; export const EX_DB = 1; export const EX_NMI = 2; export const EX_BP = 3;
export const EX_OF = 4; export const EX_BR = 5; export const EX_UD = 6; export const EX_NM = 7;
export const EX_DF = 8; export const EX_TS = 10; export const EX_NP = 11; export const EX_SS = 12;
export const EX_GP = 13; export const EX_PF = 14; export const EX_MF = 16; export const EX_AC = 17;
export const EX_MC = 18; export const EX_XM = 19;

export const NO_ERR = -1;

export let fault: bool = false;
export let faultVec: i32 = 0;
export let faultErr: i32 = NO_ERR;

// Record an exception; the first one raised by an instruction wins.
export function raise(vec: i32, err: i32): void {
  if (fault) return;
  fault = true;
  faultVec = vec;
  faultErr = err;
}

@inline export function clearFault(): void { fault = false; }

export function raiseUD(): void { raise(EX_UD, NO_ERR); }
export function raiseGP(err: i32): void { raise(EX_GP, err); }
export function raiseSS(err: i32): void { raise(EX_SS, err); }
export function raiseDE(): void { raise(EX_DE, NO_ERR); }
export function raiseNM(): void { raise(EX_NM, NO_ERR); }
// #PF: CR2 is written when the fault is delivered? No: architecturally CR2 is loaded as the fault is
// recognised; it is kept here and written by raisePF so an intercepting hypervisor sees it too.
export function raisePF(lin: u64, err: i32): void {
  if (fault) return;
  store<u64>(CPU_STATE + CPU_CR2, lin);
  raise(EX_PF, err);
}
