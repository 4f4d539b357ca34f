// The opcode attribute table: for each opcode id (0x000-0x0FF one-byte map, 0x100-0x1FF 0F map,
// 0x200-0x2FF 0F 38 map, 0x300-0x3FF 0F 3A map, 0x400 OP_UD, 0x500-0x7FF the VEX maps: VEX_OP) one byte
// of decode attributes. The decoder reads
// only this table to know whether a ModRM byte and which immediate follow; exec.ts dispatches on the
// same ids. The rows are the opcode table's (host/cpu/x86-table.ts), generated into optable.gen.ts.
import { OPTABLE_BASE } from "../memmap";
import { OP_ATTRS, OP_LOCK } from "./optable.gen";

export const OPTABLE = OPTABLE_BASE; // OP_IDS bytes
export const OP_IDS = 0x800;

export const A_MODRM = 0x01;
export const A_IMM_MASK = 0x0e; // immediate kind << 1
export const I_NONE = 0; // no immediate
export const I_B = 1; // imm8
export const I_W = 2; // imm16
export const I_Z = 3; // imm16 or imm32 by operand size (sign-extended to 64 with REX.W)
export const I_V = 4; // imm16/32/64 by operand size (MOV r, imm)
export const I_MOFFS = 5; // address-size offset (MOV AL, moffs)
export const I_WB = 6; // imm16 then imm8 (ENTER)
export const I_PTR = 7; // imm16/32 offset then imm16 selector (far CALL/JMP)
export const A_D64 = 0x10; // operand size defaults to 64 in 64-bit mode (PUSH/POP ...)
export const A_F64 = 0x20; // operand size is 64 in 64-bit mode whatever 66 says (near branches)
export const A_INV64 = 0x40; // #UD in 64-bit mode
export const A_BYTE = 0x80; // byte-sized operation (operand size 1)

// The decoder's prefix bits (decode.ts), here so that fast.ts needs nothing from the decoder.
export const P_LOCK = 1;
export const P_REP = 2; // F3
export const P_REPNE = 4; // F2
export const P_OPSZ = 8; // 66
export const P_ADSZ = 16; // 67

// Pseudo opcode id the decoder gives an instruction that must raise #UD whatever its operands: an
// opcode invalid in the current mode, or a LOCK prefix on an instruction that cannot take it.
export const OP_UD = 0x400;
// VEX-encoded instructions (C4/C5 prefix): id VEX_OP | map << 8 | opcode byte, map 1 = 0F, 2 = 0F 38,
// 3 = 0F 3A (ids 0x500-0x7FF).
export const VEX_OP = 0x400;

@inline export function opAttr(op: i32): i32 { return load<u8>(OPTABLE + op); }

// Filled from the generated copy of the opcode table (host/cpu/x86-table.ts, `npm run gen`).
export function optableInit(): void {
  for (let i = 0; i < OP_IDS; i++) store<u8>(OPTABLE + i, unchecked(OP_ATTRS[i]));
}

/** A LOCK prefix is allowed: the memory form of an opcode (and ModRM.reg) the table says takes it. */
@inline export function lockOk(op: i32, mod: i32, reg: i32): bool {
  return mod != 3 && op < OP_IDS && (((unchecked(OP_LOCK[op]) as i32) >> (reg & 7)) & 1) != 0;
}
