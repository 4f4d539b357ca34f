// Lazy arithmetic flags. A flag-setting ALU op records its kind, size, operands and result; CF PF AF
// ZF SF OF are computed only when something reads them. Everything else in RFLAGS lives in the state
// block. run() resolves pending flags into CPU_RFLAGS before it returns, so the host and the
// hypervisor always see a plain RFLAGS there after run().
import { CPU_STATE, CPU_RFLAGS } from "../memmap";
import { F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF, F_ARITH } from "./state";

export const LF_NONE = 0; // flags in RFLAGS are current
export const LF_ADD = 1; // res = a + b
export const LF_SUB = 2; // res = a - b
export const LF_LOGIC = 3; // CF = OF = AF = 0
export const LF_INC = 4; // res = a + 1, CF kept in RFLAGS
export const LF_DEC = 5; // res = a - 1, CF kept in RFLAGS
export const LF_ADC1 = 6; // res = a + b + 1
export const LF_SBB1 = 7; // res = a - b - 1
export const LF_CFOF = 8; // CF = lfA != 0, OF = lfB != 0, AF = 0; ZF SF PF from res (shifts, multiplies)

export let lfOp: i32 = LF_NONE;
export let lfSize: i32 = 4;
export let lfA: u64 = 0;
export let lfB: u64 = 0;
export let lfRes: u64 = 0;

@inline export function sizeMask(size: i32): u64 {
  return size == 8 ? <u64>-1 : ((<u64>1) << <u64>(size << 3)) - 1;
}
@inline export function signBit(size: i32): u64 { return (<u64>1) << <u64>((size << 3) - 1); }

@inline export function setLazy(op: i32, size: i32, a: u64, b: u64, res: u64): void {
  lfOp = op; lfSize = size; lfA = a; lfB = b; lfRes = res;
}

// For INC/DEC: materialise CF first, since they keep it.
export function setLazyIncDec(op: i32, size: i32, a: u64, res: u64): void {
  const cf = getCF();
  const f = load<u64>(CPU_STATE + CPU_RFLAGS);
  store<u64>(CPU_STATE + CPU_RFLAGS, cf ? f | F_CF : f & ~F_CF);
  lfOp = op; lfSize = size; lfA = a; lfB = 1; lfRes = res;
}

export function getCF(): bool {
  const m = sizeMask(lfSize);
  switch (lfOp) {
    case LF_ADD: return (lfRes & m) < (lfA & m);
    case LF_SUB: return (lfA & m) < (lfB & m);
    case LF_ADC1: return (lfRes & m) <= (lfA & m);
    case LF_SBB1: return (lfA & m) <= (lfB & m);
    case LF_LOGIC: return false;
    case LF_CFOF: return lfA != 0;
    default: return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_CF) != 0;
  }
}

export function getZF(): bool {
  if (lfOp == LF_NONE) return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_ZF) != 0;
  return (lfRes & sizeMask(lfSize)) == 0;
}

export function getSF(): bool {
  if (lfOp == LF_NONE) return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_SF) != 0;
  return (lfRes & signBit(lfSize)) != 0;
}

export function getOF(): bool {
  const s = signBit(lfSize);
  switch (lfOp) {
    case LF_ADD: case LF_ADC1: case LF_INC:
      return ((lfA ^ lfRes) & (lfB ^ lfRes) & s) != 0;
    case LF_SUB: case LF_SBB1: case LF_DEC:
      return ((lfA ^ lfB) & (lfA ^ lfRes) & s) != 0;
    case LF_LOGIC: return false;
    case LF_CFOF: return lfB != 0;
    default: return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_OF) != 0;
  }
}

export function getPF(): bool {
  if (lfOp == LF_NONE) return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_PF) != 0;
  return (popcnt<u32>((lfRes as u32) & 0xff) & 1) == 0;
}

export function getAF(): bool {
  if (lfOp == LF_NONE) return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_AF) != 0;
  if (lfOp == LF_LOGIC || lfOp == LF_CFOF) return false;
  return ((lfA ^ lfB ^ lfRes) & 0x10) != 0;
}

// The whole RFLAGS, pending flags resolved.
export function getFlags(): u64 {
  let f = load<u64>(CPU_STATE + CPU_RFLAGS);
  if (lfOp == LF_NONE) return f | 2;
  f &= ~F_ARITH;
  if (getCF()) f |= F_CF;
  if (getPF()) f |= F_PF;
  if (getAF()) f |= F_AF;
  if (getZF()) f |= F_ZF;
  if (getSF()) f |= F_SF;
  if (getOF()) f |= F_OF;
  return f | 2;
}

// Write RFLAGS (all bits as given); no flags stay pending.
@inline export function setFlags(f: u64): void {
  store<u64>(CPU_STATE + CPU_RFLAGS, f | 2);
  lfOp = LF_NONE;
}

// Resolve pending flags into CPU_RFLAGS.
export function flagsSync(): void {
  if (lfOp != LF_NONE) setFlags(getFlags());
}

// Set the arithmetic flags eagerly (shifts, multiplies, BCD ...): bits of `val` within `which`.
export function setArith(which: u64, val: u64): void {
  const f = getFlags();
  setFlags((f & ~which) | (val & which));
}

// Flags for a result: ZF SF PF from res; CF, OF, AF as given. Used by eager ops.
export function szp(size: i32, res: u64): u64 {
  let f: u64 = 0;
  if ((res & sizeMask(size)) == 0) f |= F_ZF;
  if ((res & signBit(size)) != 0) f |= F_SF;
  if ((popcnt<u32>((res as u32) & 0xff) & 1) == 0) f |= F_PF;
  return f;
}

// Condition codes 0..15 (Jcc/SETcc/CMOVcc low nibble).
export function cond(cc: i32): bool {
  let r: bool;
  switch (cc >> 1) {
    case 0: r = getOF(); break;
    case 1: r = getCF(); break;
    case 2: r = getZF(); break;
    case 3: r = getCF() || getZF(); break;
    case 4: r = getSF(); break;
    case 5: r = getPF(); break;
    case 6: r = getSF() != getOF(); break;
    default: r = getZF() || (getSF() != getOF()); break;
  }
  return (cc & 1) != 0 ? !r : r;
}
