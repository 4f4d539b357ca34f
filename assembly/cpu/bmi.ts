// The VEX-encoded general-register instructions of BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR) and BMI2 (BZHI,
// MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX), reported by CPUID.7.0:EBX[3] and [8] (privops.ts). TZCNT,
// the other BMI1 instruction, is F3 0F BC (exec.ts bitScan).
//
// decode.ts gives a VEX instruction the id 0x400 | map << 8 | opcode (optable.ts VEX_OP), VEX.pp as the
// 66/F3/F2 prefix bits, VEX.W as REX.W (operand size 8, 64-bit mode only; elsewhere W is ignored and the
// size is 4), VEX.vvvv in dVvvv(); VEX.L = 1, a reserved map and a LOCK/66/F2/F3/REX prefix before VEX
// were turned into OP_UD there. Operand roles as the SDM names them: ModRM.reg the destination (r), vvvv
// a source or second destination, ModRM.r/m the register or memory source.
//
// Flags: as the SDM defines them; the flags it leaves undefined (AF and PF everywhere, SF for BEXTR) are
// cleared, as for LZCNT (docs/CPU-FLAGS.md); the differential tests do not compare them.
import { getReg, setReg, F_CF, F_ZF, F_SF, F_ARITH } from "./state";
import { getFlags, setFlags, sizeMask, signBit } from "./flags";
import { fault, raiseUD } from "./fault";
import { dReg, dOs, dPfx, dImm, dVvvv, P_OPSZ, P_REP, P_REPNE } from "./decode";
import { rmRead, regWrite } from "./ea";
import { mul64, mulHi } from "./alu";

const PP_NONE = 0, PP_66 = 1, PP_F3 = 2, PP_F2 = 3;

// The implied prefix (VEX.pp) back from the prefix bits decode.ts made of it.
function pp(): i32 {
  const p = dPfx();
  if ((p & P_OPSZ) != 0) return PP_66;
  if ((p & P_REP) != 0) return PP_F3;
  if ((p & P_REPNE) != 0) return PP_F2;
  return PP_NONE;
}

// ZF and SF from the result, CF as given; OF cleared; AF and PF (undefined) cleared.
function bmiFlags(size: i32, res: u64, cf: bool, sf: bool): void {
  let f = getFlags() & ~F_ARITH;
  if ((res & sizeMask(size)) == 0) f |= F_ZF;
  if (sf && (res & signBit(size)) != 0) f |= F_SF;
  if (cf) f |= F_CF;
  setFlags(f);
}

// Parallel bit deposit: the low bits of `src` go, in order, to the set bits of `mask`.
function pdep(src: u64, mask: u64): u64 {
  let r: u64 = 0, m = mask, k: u64 = 1;
  while (m != 0) {
    const low = m & (0 - m);
    if ((src & k) != 0) r |= low;
    m ^= low;
    k <<= 1;
  }
  return r;
}

// Parallel bit extract: the bits of `src` at the set bits of `mask` go, in order, to the low bits.
function pext(src: u64, mask: u64): u64 {
  let r: u64 = 0, m = mask, k: u64 = 1;
  while (m != 0) {
    const low = m & (0 - m);
    if ((src & low) != 0) r |= k;
    m ^= low;
    k <<= 1;
  }
  return r;
}

/** Executes the VEX-encoded instruction `op` (0x500-0x7FF); #UD for every form but the BMI ones. */
export function vexOp(op: i32): void {
  const size = dOs(); // 4 or 8
  const bits = (size << 3) as u64;
  const m = sizeMask(size);
  const v = dVvvv();
  const p = pp();
  switch (op) {
    case 0x6f2: { // ANDN r, vvvv, r/m: r = ~vvvv & r/m
      if (p != PP_NONE) break;
      const b = rmRead(size);
      if (fault) return;
      const r = ~getReg(v, size) & b & m;
      regWrite(size, r);
      bmiFlags(size, r, false, true);
      return;
    }
    case 0x6f3: { // group 17 (BLSR BLSMSK BLSI vvvv, r/m)
      const k = dReg() & 7;
      if (p != PP_NONE || k < 1 || k > 3) break;
      const s = rmRead(size);
      if (fault) return;
      if (k == 1) { // BLSR: reset the lowest set bit
        const r = (s - 1) & s & m;
        setReg(v, size, r);
        bmiFlags(size, r, s == 0, true);
      } else if (k == 2) { // BLSMSK: mask up to the lowest set bit; ZF cleared
        const r = ((s - 1) ^ s) & m;
        setReg(v, size, r);
        bmiFlags(size, 1, s == 0, false);
        if ((r & signBit(size)) != 0) setFlags(getFlags() | F_SF);
      } else { // BLSI: isolate the lowest set bit
        const r = (0 - s) & s & m;
        setReg(v, size, r);
        bmiFlags(size, r, s != 0, true);
      }
      return;
    }
    case 0x6f5: { // BZHI r, r/m, vvvv / PEXT (F3) r, vvvv, r/m / PDEP (F2) r, vvvv, r/m
      if (p == PP_66) break;
      const b = rmRead(size);
      if (fault) return;
      if (p == PP_F3) { regWrite(size, pext(getReg(v, size), b)); return; }
      if (p == PP_F2) { regWrite(size, pdep(getReg(v, size), b) & m); return; }
      const n = getReg(v, size) & 0xff;
      const r = n < bits ? b & (((<u64>1) << n) - 1) : b;
      regWrite(size, r);
      bmiFlags(size, r, n > bits - 1, true);
      return;
    }
    case 0x6f6: { // MULX (F2) r(high), vvvv(low), r/m: unsigned rDX * r/m, no flags
      if (p != PP_F2) break;
      const b = rmRead(size);
      if (fault) return;
      const a = getReg(2, size); // EDX / RDX
      let lo: u64, hi: u64;
      if (size == 8) { lo = mul64(a, b); hi = mulHi; }
      else { const t = a * b; lo = t & 0xffffffff; hi = t >> 32; }
      setReg(v, size, lo);
      regWrite(size, hi); // the high half wins when both destinations are one register
      return;
    }
    case 0x6f7: { // BEXTR r, r/m, vvvv / SHLX (66) / SARX (F3) / SHRX (F2) r, r/m, vvvv: no flags
      const a = rmRead(size);
      if (fault) return;
      const c = getReg(v, size);
      if (p == PP_NONE) {
        const start = c & 0xff, len = (c >> 8) & 0xff;
        let r: u64 = start < bits ? a >> start : 0;
        if (len < 64) r &= ((<u64>1) << len) - 1;
        regWrite(size, r);
        bmiFlags(size, r, false, false);
        return;
      }
      const n = c & (bits - 1);
      if (p == PP_66) regWrite(size, (a << n) & m);
      else if (p == PP_F2) regWrite(size, a >> n);
      else regWrite(size, size == 8 ? ((a as i64) >> n) as u64 : (((a as i32) >> (n as i32)) as u64) & m);
      return;
    }
    case 0x7f0: { // RORX (F2) r, r/m, imm8; vvvv must be 1111b; no flags
      if (p != PP_F2 || v != 0) break;
      const a = rmRead(size);
      if (fault) return;
      const n = dImm() & (bits - 1);
      regWrite(size, n == 0 ? a : ((a >> n) | (a << (bits - n))) & m);
      return;
    }
    default: break;
  }
  raiseUD(); // AVX and the rest of the VEX space; BMI forms with a wrong implied prefix or ModRM.reg
}
