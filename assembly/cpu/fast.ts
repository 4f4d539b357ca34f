// Fast-path forms of the most common instructions. When an instruction is decoded into the cache
// (decode.ts), specialise() looks at it and, if it is one of the forms below, records an F_* id and
// pre-computed operand addresses at +32 of its cache entry; the run loop (run.ts) executes those
// forms inline, without the generic decoder accessors, size switches or calls of exec.ts.
//
// A fast form must behave exactly as exec.ts would. Every memory access of a fast form first checks
// the TLB tag (and that the access does not cross a page); on a miss it changes nothing and the run
// loop executes the instruction through exec.ts instead, which fills the TLB, raises faults,
// invalidates decoded code on writes to code pages, and so on. Non-canonical addresses never hit the
// TLB (tags hold the whole linear page number, and only canonical addresses are ever filled).
//
// Entry fields (see dcache.ts for +0..+31):
//   +32 u8 F_* id  +33 u8 aux (condition code, ALU kind, shift count)  +34 u8 index scale (shift)
//   +35 u8 what else the address adds (64-bit mode): 1 RIP of the next instruction (RIP-relative), | 2 FS base, | 4 GS
//   base
//   +36 i32 A: address of the destination register (CPU_STATE + r*8, or the byte of an 8-bit register)
//   +40 i32 B: address of the source register
//   +44 i32 address of the base register, or ZERO_SLOT
//   +48 i32 address of the index register, or ZERO_SLOT
// Memory operands outside 64-bit mode use 32-bit addressing (the run loop masks the address).
//   (+20 displacement and +24 immediate are the decoder's)
import { CPU_STATE, MODE_LONG64, SEG_FS, SEG_GS } from "../memmap";
import { reg8off } from "./state";
import { P_LOCK, P_REP } from "./optable";

// An always-zero u64: the base/index "register" of addresses without one.
export const ZERO_SLOT: i32 = memory.data(8, 8) as i32;

export const F_GEN = 0; // executed by exec.ts
export const F_NOP = 1;
export const F_MOV_RR32 = 2;
export const F_MOV_RR64 = 3;
export const F_MOV_RI32 = 4;
export const F_MOV_RI64 = 5;
export const F_LEA32 = 6;
export const F_LEA64 = 7;
export const F_LD32 = 8;
export const F_LD64 = 9;
export const F_LDZX8 = 10;
export const F_LDZX16 = 11;
export const F_LDSX8_32 = 12;
export const F_LDSX8_64 = 13;
export const F_LDSX16_32 = 14;
export const F_LDSX16_64 = 15;
export const F_LDSX32_64 = 16;
export const F_ST8 = 17;
export const F_ST16 = 18;
export const F_ST32 = 19;
export const F_ST64 = 20;
export const F_STI8 = 21;
export const F_STI16 = 22;
export const F_STI32 = 23;
export const F_STI64 = 24;
export const F_ALU_RM32 = 25; // reg op= [mem], aux = ALU kind (0 ADD 1 OR 4 AND 5 SUB 6 XOR 7 CMP)
export const F_ALU_RM64 = 26;
export const F_CMP_MR32 = 27; // flags of [mem] - reg
export const F_CMP_MR64 = 28;
export const F_CMP_MI8 = 29; // flags of [mem] - imm
export const F_CMP_MI32 = 30;
export const F_CMP_MI64 = 31;
export const F_MOVZX8R = 32; // B is the byte register's address
export const F_MOVZX16R = 33;
export const F_MOVSX8R32 = 34;
export const F_MOVSX8R64 = 35;
export const F_MOVSX16R32 = 36;
export const F_MOVSX16R64 = 37;
export const F_MOVSXDR = 38;
export const F_SHL32 = 39; // count (masked, non-zero) in aux
export const F_SHL64 = 40;
export const F_SHR32 = 41;
export const F_SHR64 = 42;
export const F_SAR32 = 43;
export const F_SAR64 = 44;
export const F_IMUL_RR32 = 45; // A = A * B
export const F_IMUL_RR64 = 46;
export const F_IMUL_RRI32 = 47; // A = B * imm
export const F_IMUL_RRI64 = 48;
export const F_JMP = 49;
export const F_CALL = 50;
export const F_RET = 51; // RET / RET imm16
export const F_PUSH = 52; // PUSH r64 (B)
export const F_POP = 53; // POP r64 (A)
export const F_CMOV32 = 54; // aux = cc
export const F_CMOV64 = 55;
export const F_TEST_RR32 = 56;
export const F_TEST_RR64 = 57;
export const F_TEST_RI32 = 58;
export const F_TEST_RI64 = 59;
export const F_TEST_RR8 = 60;
export const F_INC32 = 61;
export const F_INC64 = 62;
export const F_DEC32 = 63;
export const F_DEC64 = 64;
export const F_DIV32 = 65; // DIV r32 (B); #DE cases go to exec.ts
export const F_DIV64 = 66; // DIV r64 (B) with RDX = 0; other cases go to exec.ts
// ALU r, r (A op= B) and r, imm (A op= imm): base + kind (0 ADD 1 OR 4 AND 5 SUB 6 XOR 7 CMP).
// The ids are dense so that the run loop's switch is one br_table.
export const F_RR32 = 67;
export const F_RR64 = 75;
export const F_RI32 = 83;
export const F_RI64 = 91;
export const F_JCC = 99; // + cc
// Read-modify-write of memory (also with LOCK, which changes nothing for one CPU at a time):
export const F_INC_M32 = 115; // INC [mem]
export const F_INC_M64 = 116;
export const F_DEC_M32 = 117; // DEC [mem]
export const F_DEC_M64 = 118;
export const F_XCHG_M32 = 119; // XCHG [mem], A
export const F_XCHG_M64 = 120;
export const F_ALU_MR32 = 121; // [mem] op= B, aux = ALU kind (0 ADD 1 OR 4 AND 5 SUB 6 XOR)
export const F_ALU_MR64 = 122;
// Bit instructions (flags as exec.ts: BSF/BSR ZF only, the others cleared; BT* CF only):
export const F_BSF32 = 123; // A = index of the lowest set bit of B (B zero: A unchanged)
export const F_BSF64 = 124;
export const F_BSR32 = 125;
export const F_BSR64 = 126;
export const F_BT_RR32 = 127; // BT/BTS/BTR/BTC A, B; aux = 0 BT 1 BTS 2 BTR 3 BTC
export const F_BT_RR64 = 128;
export const F_BT_RI32 = 129; // ... A, imm8
export const F_BT_RI64 = 130;
export const F_BT_MR32 = 131; // ... [mem], B (the signed bit offset moves the address)
export const F_BT_MR64 = 132;
export const F_BT_MI32 = 133; // ... [mem], imm8
export const F_BT_MI64 = 134;
export const F_NOT32 = 135; // NOT A
export const F_NOT64 = 136;
export const F_SETCC = 137; // SETcc r8 (A: the byte register), aux = cc
export const F_CMPXCHG_M32 = 138; // CMPXCHG [mem], B (also with LOCK)
export const F_CMPXCHG_M64 = 139;
export const F_XADD_M32 = 140; // XADD [mem], B (also with LOCK)
export const F_XADD_M64 = 141;
export const F_MUL32 = 142; // MUL B: EDX:EAX = EAX * B
export const F_MUL64 = 143; // MUL B: RDX:RAX = RAX * B
export const F_COUNT = 144;

@inline function regAddr(r: i32): i32 { return CPU_STATE + (r << 3); }

// 0F A3 BT, AB BTS, B3 BTR, BB BTC -> 0..3.
@inline function btKind(op: i32): i32 { return op == 0x1a3 ? 0 : op == 0x1ab ? 1 : op == 0x1b3 ? 2 : 3; }

@inline function aluKindOk(k: i32): bool { return k >= 0 && k <= 7; } // ADD OR ADC SBB AND SUB XOR CMP

// Fill in the fast form of the entry `e` (already holding the decoded instruction).
export function specialise(e: i32, mode: i32): void {
  store<u8>(e, F_GEN, 32);
  store<u8>(e, 0, 33);
  store<u8>(e, load<u8>(e, 17) & 3, 34);
  store<u8>(e, 0, 35);
  store<i32>(e, ZERO_SLOT, 36);
  store<i32>(e, ZERO_SLOT, 40);
  const base = load<i8>(e, 15) as i32;
  const index = load<i8>(e, 16) as i32;
  store<i32>(e, base >= 0 ? regAddr(base) : ZERO_SLOT, 44);
  store<i32>(e, index >= 0 ? regAddr(index) : ZERO_SLOT, 48);
  const f = classify(e, mode);
  store<u8>(e, f, 32);
}

function classify(e: i32, mode: i32): i32 {
  const op = load<u16>(e, 56) as i32;
  const pfx = load<u8>(e, 8) as i32;
  const locked = (pfx & P_LOCK) != 0; // only the read-modify-write memory forms below take it
  const is64 = mode == MODE_LONG64;
  const rex = load<u8>(e, 10) as i32;
  const os = (load<u8>(e, 11) & 15) as i32;
  const as = (load<u8>(e, 11) >> 4) as i32;
  const mod = load<u8>(e, 12) as i32;
  const reg = load<u8>(e, 13) as i32;
  const rm = load<u8>(e, 14) as i32;
  const ripRel = (load<u8>(e, 17) & 16) != 0;
  const seg = load<i8>(e, 9) as i32;
  const imm = load<u64>(e, 24);
  const w = os == 8;
  const osOk = os == 4 || os == 8;
  // A simple memory operand: 64-bit addressing (RIP-, FS- or GS-relative too); or, outside 64-bit mode,
  // 32-bit addressing and no segment override (the run loop takes the fast path there only while
  // CS, SS, DS and ES are flat).
  // In 64-bit mode also RIP-relative and FS/GS-relative operands (+35 says which).
  const memOk = mod != 3 && (is64 ? as == 8 && (seg < 0 || seg == SEG_FS || seg == SEG_GS) : as == 4 && seg < 0);
  // (Both bits for %fs:/%gs: with a RIP-relative offset, as Linux's per-CPU variables are addressed.)
  if (memOk && is64) store<u8>(e, (ripRel ? 1 : 0) | (seg == SEG_FS ? 2 : seg == SEG_GS ? 4 : 0), 35);
  const rA = regAddr(reg), rB = regAddr(rm);
  if (locked) {
    if (!memOk || !osOk) return F_GEN;
    if (op < 0x40 && (op & 7) == 1 && aluKindOk(op >> 3) && (op >> 3) != 7) {
      store<i32>(e, rA, 40); store<u8>(e, op >> 3, 33);
      return w ? F_ALU_MR64 : F_ALU_MR32;
    }
    if (op == 0xff && (reg & 7) <= 1) return (reg & 7) == 0 ? (w ? F_INC_M64 : F_INC_M32) : (w ? F_DEC_M64 : F_DEC_M32);
    if (op == 0x87) { store<i32>(e, rA, 36); return w ? F_XCHG_M64 : F_XCHG_M32; }
    if (op == 0x1ab || op == 0x1b3 || op == 0x1bb) {
      store<i32>(e, rA, 40); store<u8>(e, btKind(op), 33); return w ? F_BT_MR64 : F_BT_MR32;
    }
    if (op == 0x1ba && (reg & 7) >= 5) { store<u8>(e, (reg & 7) - 4, 33); return w ? F_BT_MI64 : F_BT_MI32; }
    if (op == 0x1b1) { store<i32>(e, rA, 40); return w ? F_CMPXCHG_M64 : F_CMPXCHG_M32; }
    if (op == 0x1c1) { store<i32>(e, rA, 40); return w ? F_XADD_M64 : F_XADD_M32; }
    return F_GEN;
  }
  // ALU ops 00-3D.
  if (op < 0x40 && (op & 7) < 6) {
    const k = op >> 3;
    const form = op & 7;
    if (!aluKindOk(k)) return F_GEN;
    if (form == 5) { // rAX, imm
      if (!osOk) return F_GEN;
      store<i32>(e, regAddr(0), 36);
      return (w ? F_RI64 : F_RI32) + k;
    }
    if (form == 1 || form == 3) {
      if (!osOk) return F_GEN;
      if (mod == 3) {
        if (form == 1) { store<i32>(e, rB, 36); store<i32>(e, rA, 40); }
        else { store<i32>(e, rA, 36); store<i32>(e, rB, 40); }
        return (w ? F_RR64 : F_RR32) + k;
      }
      if (!memOk) return F_GEN;
      if (form == 3) { store<i32>(e, rA, 36); store<u8>(e, k, 33); return w ? F_ALU_RM64 : F_ALU_RM32; }
      if (k == 7) { store<i32>(e, rA, 40); return w ? F_CMP_MR64 : F_CMP_MR32; }
      store<i32>(e, rA, 40); store<u8>(e, k, 33);
      return w ? F_ALU_MR64 : F_ALU_MR32;
    }
    return F_GEN;
  }
  switch (op) {
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
      if (is64 || os != 4) return F_GEN; // (REX prefixes in 64-bit mode)
      store<i32>(e, regAddr(op & 7), 36);
      return op < 0x48 ? F_INC32 : F_DEC32;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      if (!is64 || os != 8) return F_GEN;
      store<i32>(e, regAddr((op & 7) | ((rex & 1) << 3)), 40);
      return F_PUSH;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      if (!is64 || os != 8) return F_GEN;
      store<i32>(e, regAddr((op & 7) | ((rex & 1) << 3)), 36);
      return F_POP;
    case 0x63:
      if (!is64 || os != 8) return F_GEN;
      store<i32>(e, rA, 36);
      if (mod == 3) { store<i32>(e, rB, 40); return F_MOVSXDR; }
      return memOk ? F_LDSX32_64 : F_GEN;
    case 0x69: case 0x6b:
      if (!osOk || mod != 3) return F_GEN;
      store<i32>(e, rA, 36); store<i32>(e, rB, 40);
      return w ? F_IMUL_RRI64 : F_IMUL_RRI32;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (!osOk) return F_GEN;
      return F_JCC + (op & 15);
    case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
    case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f:
      if (!osOk) return F_GEN;
      return F_JCC + (op & 15);
    case 0x80: case 0x81: case 0x83: {
      const k = reg & 7;
      if (!aluKindOk(k)) return F_GEN;
      if (op == 0x80) {
        if (k == 7 && memOk) return F_CMP_MI8;
        return F_GEN;
      }
      if (!osOk) return F_GEN;
      if (mod == 3) { store<i32>(e, rB, 36); return (w ? F_RI64 : F_RI32) + k; }
      if (k == 7 && memOk) return w ? F_CMP_MI64 : F_CMP_MI32;
      return F_GEN;
    }
    case 0x84:
      if (mod != 3) return F_GEN;
      store<i32>(e, CPU_STATE + reg8off(rm, rex != 0), 36);
      store<i32>(e, CPU_STATE + reg8off(reg, rex != 0), 40);
      return F_TEST_RR8;
    case 0x85:
      if (!osOk || mod != 3) return F_GEN;
      store<i32>(e, rB, 36); store<i32>(e, rA, 40);
      return w ? F_TEST_RR64 : F_TEST_RR32;
    case 0xa9:
      if (!osOk) return F_GEN;
      store<i32>(e, regAddr(0), 36);
      return w ? F_TEST_RI64 : F_TEST_RI32;
    case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb:
      if (!osOk) return F_GEN;
      store<i32>(e, rA, 40); store<u8>(e, btKind(op), 33);
      if (mod == 3) { store<i32>(e, rB, 36); return w ? F_BT_RR64 : F_BT_RR32; }
      return memOk ? (w ? F_BT_MR64 : F_BT_MR32) : F_GEN;
    case 0x1ba:
      if (!osOk || (reg & 7) < 4) return F_GEN;
      store<u8>(e, (reg & 7) - 4, 33);
      if (mod == 3) { store<i32>(e, rB, 36); return w ? F_BT_RI64 : F_BT_RI32; }
      return memOk ? (w ? F_BT_MI64 : F_BT_MI32) : F_GEN;
    case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
    case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
      if (mod != 3) return F_GEN;
      store<i32>(e, CPU_STATE + reg8off(rm, rex != 0), 36);
      store<u8>(e, op & 15, 33);
      return F_SETCC;
    case 0x1bc: case 0x1bd:
      if (!osOk || mod != 3 || (pfx & P_REP) != 0) return F_GEN; // (F3: TZCNT/LZCNT)
      store<i32>(e, rA, 36); store<i32>(e, rB, 40);
      if (op == 0x1bc) return w ? F_BSF64 : F_BSF32;
      return w ? F_BSR64 : F_BSR32;
    case 0x1b1: case 0x1c1:
      if (!osOk || !memOk) return F_GEN;
      store<i32>(e, rA, 40);
      if (op == 0x1b1) return w ? F_CMPXCHG_M64 : F_CMPXCHG_M32;
      return w ? F_XADD_M64 : F_XADD_M32;
    case 0xf7:
      if ((reg & 7) == 4 && osOk && mod == 3) { store<i32>(e, rB, 40); return w ? F_MUL64 : F_MUL32; }
      if ((reg & 7) == 2 && osOk && mod == 3) { store<i32>(e, rB, 36); return w ? F_NOT64 : F_NOT32; }
      if ((reg & 7) == 6 && osOk && mod == 3) { store<i32>(e, rB, 40); return w ? F_DIV64 : F_DIV32; }
      if ((reg & 7) > 1 || !osOk || mod != 3) return F_GEN;
      store<i32>(e, rB, 36);
      return w ? F_TEST_RI64 : F_TEST_RI32;
    case 0x88:
      if (!memOk) return F_GEN;
      store<i32>(e, CPU_STATE + reg8off(reg, rex != 0), 40);
      return F_ST8;
    case 0x89:
      if (mod == 3) {
        if (!osOk) return F_GEN;
        store<i32>(e, rB, 36); store<i32>(e, rA, 40);
        return w ? F_MOV_RR64 : F_MOV_RR32;
      }
      if (!memOk) return F_GEN;
      store<i32>(e, rA, 40);
      return os == 8 ? F_ST64 : os == 4 ? F_ST32 : F_ST16;
    case 0x8b:
      if (!osOk) return F_GEN;
      store<i32>(e, rA, 36);
      if (mod == 3) { store<i32>(e, rB, 40); return w ? F_MOV_RR64 : F_MOV_RR32; }
      if (!memOk) return F_GEN;
      return w ? F_LD64 : F_LD32;
    case 0x8d:
      if (!osOk || !memOk) return F_GEN;
      store<u8>(e, load<u8>(e, 35) & 1, 35); // LEA: the offset only, no segment base
      store<i32>(e, rA, 36);
      return w ? F_LEA64 : F_LEA32;
    case 0x90:
      if ((rex & 1) != 0) return F_GEN; // XCHG r8, rAX
      return F_NOP;
    case 0x11f:
      return F_NOP;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      if (!osOk) return F_GEN;
      store<i32>(e, regAddr((op & 7) | ((rex & 1) << 3)), 36);
      return w ? F_MOV_RI64 : F_MOV_RI32;
    case 0xc6:
      if ((reg & 7) != 0 || !memOk) return F_GEN;
      return F_STI8;
    case 0xc7:
      if ((reg & 7) != 0) return F_GEN;
      if (mod == 3) {
        if (!osOk) return F_GEN;
        store<i32>(e, rB, 36);
        return w ? F_MOV_RI64 : F_MOV_RI32;
      }
      if (!memOk) return F_GEN;
      return os == 8 ? F_STI64 : os == 4 ? F_STI32 : F_STI16;
    case 0xc1: case 0xd1: {
      if (!osOk || mod != 3) return F_GEN;
      const k = reg & 7;
      const c = ((op == 0xd1 ? 1 : (imm as i32)) & (w ? 0x3f : 0x1f));
      if (c == 0) return F_GEN;
      store<i32>(e, rB, 36);
      store<u8>(e, c, 33);
      if (k == 4 || k == 6) return w ? F_SHL64 : F_SHL32;
      if (k == 5) return w ? F_SHR64 : F_SHR32;
      if (k == 7) return w ? F_SAR64 : F_SAR32;
      return F_GEN;
    }
    case 0xc2: case 0xc3:
      if (!is64 || os != 8) return F_GEN;
      return F_RET;
    case 0xe8:
      if (!is64 || os != 8) return F_GEN;
      return F_CALL;
    case 0xe9: case 0xeb:
      if (!osOk) return F_GEN;
      return F_JMP;
    case 0x87:
      if (!osOk || mod == 3 || !memOk) return F_GEN;
      store<i32>(e, rA, 36);
      return w ? F_XCHG_M64 : F_XCHG_M32;
    case 0xff: {
      const k = reg & 7;
      if (k > 1 || !osOk) return F_GEN;
      if (mod != 3) {
        if (!memOk) return F_GEN;
        return k == 0 ? (w ? F_INC_M64 : F_INC_M32) : (w ? F_DEC_M64 : F_DEC_M32);
      }
      store<i32>(e, rB, 36);
      if (k == 0) return w ? F_INC64 : F_INC32;
      return w ? F_DEC64 : F_DEC32;
    }
    case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
    case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f:
      if (!osOk || mod != 3) return F_GEN;
      store<i32>(e, rA, 36); store<i32>(e, rB, 40); store<u8>(e, op & 15, 33);
      return w ? F_CMOV64 : F_CMOV32;
    case 0x1af:
      if (!osOk || mod != 3) return F_GEN;
      store<i32>(e, rA, 36); store<i32>(e, rB, 40);
      return w ? F_IMUL_RR64 : F_IMUL_RR32;
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: {
      if (!osOk) return F_GEN;
      store<i32>(e, rA, 36);
      const byte = (op & 1) == 0;
      const sx = op >= 0x1be;
      if (mod == 3) {
        store<i32>(e, byte ? CPU_STATE + reg8off(rm, rex != 0) : rB, 40);
        if (!sx) return byte ? F_MOVZX8R : F_MOVZX16R;
        if (byte) return w ? F_MOVSX8R64 : F_MOVSX8R32;
        return w ? F_MOVSX16R64 : F_MOVSX16R32;
      }
      if (!memOk) return F_GEN;
      if (!sx) return byte ? F_LDZX8 : F_LDZX16;
      if (byte) return w ? F_LDSX8_64 : F_LDSX8_32;
      return w ? F_LDSX16_64 : F_LDSX16_32;
    }
    default:
      return F_GEN;
  }
}
