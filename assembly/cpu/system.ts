// System instructions and protected-mode mechanics. INTERFACE STUBS: each raises #UD until the real
// implementation lands. exec.ts calls exactly these; every function follows the fault discipline of
// cpu/fault.ts (raise, then return without side effects).
import { raiseUD } from "./fault";

// Run-loop control: system code sets `stopReason` (EXIT_*) to make run() return after this
// instruction; -1 = keep running.
export let stopReason: i32 = -1;
export function requestStop(reason: i32): void { stopReason = reason; }
export function clearStop(): void { stopReason = -1; }

// Deliver the exception recorded in cpu/fault.ts for the instruction at RIP (intercept, IDT, #DF,
// triple fault).
export function deliverException(vec: i32, err: i32): void { store<i32>(0x100000 + 580, vec); store<i32>(0x100000 + 584, err); requestStop(7); }
// INT n (kind 0), INT3 (kind 1), INTO (kind 2), INT1/ICEBP (kind 3); nextRip = the return address.
export function softInt(vec: i32, kind: i32, nextRip: u64): void { raiseUD(); }
export function iret(osize: i32): void { raiseUD(); }
export function farCall(sel: u32, off: u64, osize: i32, nextRip: u64): void { raiseUD(); }
export function farJmp(sel: u32, off: u64, osize: i32): void { raiseUD(); }
export function farRet(osize: i32, imm: i32): void { raiseUD(); }
// MOV Sreg / POP Sreg / LDS..LSS: returns false after raising a fault.
export function loadSeg(sreg: i32, sel: u32): bool { raiseUD(); return false; }
// Limit and type checks for an access through a non-flat segment (32/16-bit modes).
export function segCheck(s: i32, ea: u64, size: i32, write: bool): bool { raiseUD(); return false; }
export function syscall(nextRip: u64): void { raiseUD(); }
export function sysret(osize: i32): void { raiseUD(); }
export function sysenter(): void { raiseUD(); }
export function sysexit(osize: i32): void { raiseUD(); }
export function lgdt(lin: u64): void { raiseUD(); }
export function lidt(lin: u64): void { raiseUD(); }
export function sgdt(lin: u64): void { raiseUD(); }
export function sidt(lin: u64): void { raiseUD(); }
export function lldt(sel: u32): void { raiseUD(); }
export function ltr(sel: u32): void { raiseUD(); }
export function lmsw(v: u32): void { raiseUD(); }
export function smsw(): u32 { raiseUD(); return 0; }
export function movToCr(n: i32, v: u64): void { raiseUD(); }
export function movFromCr(n: i32): u64 { raiseUD(); return 0; }
export function movToDr(n: i32, v: u64): void { raiseUD(); }
export function movFromDr(n: i32): u64 { raiseUD(); return 0; }
export function rdmsr(): void { raiseUD(); }
export function wrmsr(): void { raiseUD(); }
export function cpuid(): void { raiseUD(); }
export function rdtsc(): void { raiseUD(); }
export function rdtscp(): void { raiseUD(); }
export function hlt(): void { raiseUD(); }
export function ioIn(port: i32, size: i32): u32 { raiseUD(); return 0; }
export function ioOut(port: i32, size: i32, v: u32): void { raiseUD(); }
// Checks for INS/OUTS (IOPL / TSS bitmap) without doing the access.
export function ioAllowed(port: i32, size: i32): bool { raiseUD(); return false; }
export function cli(): void { raiseUD(); }
export function sti(): void { raiseUD(); }
// POPF/IRET flag writes with the privilege rules (IOPL, IF, VM, RF ...).
export function popfValue(v: u64, osize: i32): void { raiseUD(); }
export function clts(): void { raiseUD(); }
export function invlpg(lin: u64): void { raiseUD(); }
export function wbinvd(): void { raiseUD(); }
export function swapgs(): void { raiseUD(); }
// LAR/LSL set ZF and return the value (ZF clear: returns 0 and the destination is unchanged).
export function lar(sel: u32): u64 { raiseUD(); return 0; }
export function lsl(sel: u32): u64 { raiseUD(); return 0; }
export function verr(sel: u32): void { raiseUD(); }
export function verw(sel: u32): void { raiseUD(); }
export function sldt(): u32 { raiseUD(); return 0; }
export function str_(): u32 { raiseUD(); return 0; }
// #NM/#UD for x87/MMX/SSE instructions as CR0.EM/TS and CR4.OSFXSR say (this issue: always a fault).
export function fpuUnavailable(sse: bool): void { raiseUD(); }
