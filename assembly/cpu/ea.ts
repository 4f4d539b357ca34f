// Effective addresses, segment linearisation and the ModRM operand accessors used by exec.ts.
import { SEG_SS, SEG_FS, SEG_CS } from "../memmap";
import { reg64, reg8off, reg8, setReg8, getReg, setReg, segBase, is64, flatMask, nextIp } from "./state";
import { raise, EX_GP, EX_SS, fault } from "./fault";
import { segCheck } from "./desc";
import { rdN, wrN } from "../mmu/tlb";
import { dBase, dIndex, dScale, dDisp, dRipRel, dAs, dSeg, dDefSeg, dMod, dRm, dReg, dRex } from "./decode";

@inline export function maskAs(a: u64, as: i32): u64 {
  if (as == 8) return a;
  return as == 4 ? a & 0xffffffff : a & 0xffff;
}

// The effective address of the decoded memory operand.
@inline export function ea(): u64 {
  let a = dDisp();
  if (dBase() >= 0) a += reg64(dBase());
  if (dIndex() >= 0) a += reg64(dIndex()) << dScale();
  if (dRipRel()) a += nextIp;
  return maskAs(a, dAs());
}

// Segment of the decoded memory operand.
@inline export function opSeg(): i32 { return dSeg() >= 0 ? dSeg() : dDefSeg(); }

// Linear address of `size` bytes at offset `off` in segment `s`; raises #GP/#SS (non-canonical in
// 64-bit mode, limit or type violations elsewhere). Check `fault` after.
export function linear(s: i32, off: u64, size: i32, write: bool): u64 {
  if (is64) {
    const lin = s >= SEG_FS ? off + segBase(s) : off;
    if ((((lin << 16) as i64) >> 16) as u64 != lin) {
      raise(s == SEG_SS ? EX_SS : EX_GP, 0);
      return 0;
    }
    return lin;
  }
  if ((flatMask & (1 << s)) != 0 && !(write && s == SEG_CS)) return off & 0xffffffff;
  if (!segCheck(s, off, size, write)) return 0;
  return (segBase(s) + off) & 0xffffffff;
}

// Linear address of the decoded memory operand (the common 64-bit case inline).
@inline export function memLin(size: i32, write: bool): u64 {
  const off = ea();
  const s = opSeg();
  if (is64 && s < SEG_FS) {
    if ((((off << 16) as i64) >> 16) as u64 == off) return off;
  } else if (!is64 && (flatMask & (1 << s)) != 0 && !(write && s == SEG_CS)) {
    return off & 0xffffffff;
  }
  return linear(s, off, size, write);
}

// ModRM r/m operand of `size` bytes (register or memory). Check `fault` after a read.
export function rmRead(size: i32): u64 {
  if (dMod() == 3) {
    if (size == 1) return reg8(reg8off(dRm(), dRex() != 0)) as u64;
    return getReg(dRm(), size);
  }
  const lin = memLin(size, false);
  if (fault) return 0;
  return rdN(lin, size);
}

export function rmWrite(size: i32, v: u64): void {
  if (dMod() == 3) {
    if (size == 1) setReg8(reg8off(dRm(), dRex() != 0), v as u32);
    else setReg(dRm(), size, v);
    return;
  }
  const lin = memLin(size, true);
  if (fault) return;
  wrN(lin, size, v);
}

// ModRM reg operand.
@inline export function regRead(size: i32): u64 {
  if (size == 1) return reg8(reg8off(dReg(), dRex() != 0)) as u64;
  return getReg(dReg(), size);
}
@inline export function regWrite(size: i32, v: u64): void {
  if (size == 1) setReg8(reg8off(dReg(), dRex() != 0), v as u32);
  else setReg(dReg(), size, v);
}
