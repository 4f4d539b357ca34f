// Stack pushes and pops through SS with the current stack-address size.
import { SEG_SS } from "../memmap";
import { reg64, reg32, reg16, setReg64, setReg32, setReg16, stackSize, RSP } from "./state";
import { fault } from "./fault";
import { linear } from "./ea";
import { rdN, wrN } from "../mmu/tlb";

@inline export function spGet(): u64 {
  if (stackSize == 8) return reg64(RSP);
  return stackSize == 4 ? reg32(RSP) as u64 : reg16(RSP) as u64;
}
@inline export function spSet(v: u64): void {
  if (stackSize == 8) setReg64(RSP, v);
  else if (stackSize == 4) setReg32(RSP, v as u32);
  else setReg16(RSP, v as u32);
}
@inline export function spMask(v: u64): u64 {
  if (stackSize == 8) return v;
  return stackSize == 4 ? v & 0xffffffff : v & 0xffff;
}

// Push `size` bytes; returns false (RSP unchanged) after a fault.
export function push(size: i32, v: u64): bool {
  const sp = spMask(spGet() - (size as u64));
  const lin = linear(SEG_SS, sp, size, true);
  if (fault) return false;
  wrN(lin, size, v);
  if (fault) return false;
  spSet(sp);
  return true;
}

// Read the value `skip` bytes above the top of the stack without popping it.
export function peek(size: i32, skip: i32): u64 {
  const lin = linear(SEG_SS, spMask(spGet() + (skip as u64)), size, false);
  if (fault) return 0;
  return rdN(lin, size);
}

// Pop `size` bytes; RSP is unchanged after a fault.
export function pop(size: i32): u64 {
  const v = peek(size, 0);
  if (fault) return 0;
  spSet(spMask(spGet() + (size as u64)));
  return v;
}

@inline export function spAdd(n: u64): void { spSet(spMask(spGet() + n)); }
