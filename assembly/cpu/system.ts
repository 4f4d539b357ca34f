// The system side of the CPU, as exec.ts and the run loop see it: one module that gathers the
// protected-mode mechanics from their files. Every function follows the fault discipline of
// cpu/fault.ts (raise, then return without side effects).
//   control.ts   run-loop stop requests, single-step flag
//   events.ts    exception / INT n delivery: intercepts, IDT gates, stack switch, #DF, triple fault
//   desc.ts      descriptors, segment loads and checks, LAR/LSL/VERR/VERW
//   transfer.ts  far JMP/CALL/RET, IRET, POPF flag rules, SYSCALL/SYSRET/SYSENTER/SYSEXIT
//   privops.ts   GDTR/IDTR/LDTR/TR, CRn, DRn, MSRs, CPUID, TSC, HLT, port I/O, CLI/STI, INVLPG ...
export { stopReason, requestStop, clearStop, singleStep, trapFlagChanged } from "./control";
export { deliverException, softInt, singleStepTrap, eventDelivered, clearEventDelivered } from "./events";
export { loadSeg, segCheck, lar, lsl, verr, verw } from "./desc";
export { farJmp, farCall, farRet, iret, popfValue, syscall, sysret, sysenter, sysexit } from "./transfer";
export {
  lgdt, lidt, sgdt, sidt, lldt, ltr, sldt, str_, lmsw, smsw, movToCr, movFromCr, movToDr, movFromDr,
  rdmsr, wrmsr, cpuid, rdtsc, rdtscp, hlt, ioIn, ioOut, ioAllowed, cli, sti, clts, invlpg, wbinvd,
  swapgs, fpuUnavailable,
} from "./privops";
