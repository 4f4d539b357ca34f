// The opcode attribute table: for each opcode id (0x000-0x0FF one-byte map, 0x100-0x1FF 0F map,
// 0x200-0x2FF 0F 38 map, 0x300-0x3FF 0F 3A map) one byte of decode attributes. The decoder reads
// only this table to know whether a ModRM byte and which immediate follow; exec.ts dispatches on the
// same ids. Filled once by optableInit() from the declarative rows below.
import { OPTABLE_BASE } from "../memmap";

export const OPTABLE = OPTABLE_BASE; // 1024 bytes

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

// Pseudo opcode id the decoder gives an instruction that must raise #UD whatever its operands: an
// opcode invalid in the current mode, or a LOCK prefix on an instruction that cannot take it.
export const OP_UD = 0x400;

@inline export function opAttr(op: i32): i32 { return load<u8>(OPTABLE + op); }

function set(op: i32, a: i32): void { store<u8>(OPTABLE + op, a); }
function range(from: i32, to: i32, a: i32): void { for (let i = from; i <= to; i++) set(i, a); }
@inline function imm(k: i32): i32 { return k << 1; }

export function optableInit(): void {
  memory.fill(OPTABLE, 0, 1024);
  const M = A_MODRM;
  // One-byte map.
  for (let b = 0; b < 8; b++) { // ALU ops: 00-05 ... 38-3D
    const o = b << 3;
    set(o + 0, M | A_BYTE); set(o + 1, M); set(o + 2, M | A_BYTE); set(o + 3, M);
    set(o + 4, imm(I_B) | A_BYTE); set(o + 5, imm(I_Z));
  }
  set(0x06, A_INV64); set(0x07, A_INV64); set(0x0e, A_INV64); set(0x16, A_INV64); set(0x17, A_INV64);
  set(0x1e, A_INV64); set(0x1f, A_INV64);
  set(0x27, A_INV64); set(0x2f, A_INV64); set(0x37, A_INV64); set(0x3f, A_INV64); // DAA DAS AAA AAS
  range(0x50, 0x5f, A_D64); // PUSH/POP r
  set(0x60, A_INV64); set(0x61, A_INV64); set(0x62, M | A_INV64); // PUSHA POPA BOUND
  set(0x63, M); // ARPL / MOVSXD
  set(0x68, imm(I_Z) | A_D64); set(0x69, M | imm(I_Z)); set(0x6a, imm(I_B) | A_D64); set(0x6b, M | imm(I_B));
  set(0x6c, A_BYTE); set(0x6e, A_BYTE); // INSB OUTSB
  range(0x70, 0x7f, imm(I_B) | A_F64); // Jcc rel8
  set(0x80, M | imm(I_B) | A_BYTE); set(0x81, M | imm(I_Z)); set(0x82, M | imm(I_B) | A_BYTE | A_INV64);
  set(0x83, M | imm(I_B));
  set(0x84, M | A_BYTE); set(0x85, M); set(0x86, M | A_BYTE); set(0x87, M);
  set(0x88, M | A_BYTE); set(0x89, M); set(0x8a, M | A_BYTE); set(0x8b, M);
  set(0x8c, M); set(0x8d, M); set(0x8e, M); set(0x8f, M | A_D64);
  set(0x9a, imm(I_PTR) | A_INV64); set(0x9c, A_D64); set(0x9d, A_D64);
  set(0xa0, imm(I_MOFFS) | A_BYTE); set(0xa1, imm(I_MOFFS)); set(0xa2, imm(I_MOFFS) | A_BYTE); set(0xa3, imm(I_MOFFS));
  set(0xa4, A_BYTE); set(0xa6, A_BYTE); set(0xa8, imm(I_B) | A_BYTE); set(0xa9, imm(I_Z));
  set(0xaa, A_BYTE); set(0xac, A_BYTE); set(0xae, A_BYTE);
  range(0xb0, 0xb7, imm(I_B) | A_BYTE); range(0xb8, 0xbf, imm(I_V));
  set(0xc0, M | imm(I_B) | A_BYTE); set(0xc1, M | imm(I_B)); set(0xc2, imm(I_W) | A_F64); set(0xc3, A_F64);
  set(0xc4, M | A_INV64); set(0xc5, M | A_INV64);
  set(0xc6, M | imm(I_B) | A_BYTE); set(0xc7, M | imm(I_Z)); set(0xc8, imm(I_WB) | A_D64); set(0xc9, A_D64);
  set(0xca, imm(I_W)); set(0xcd, imm(I_B)); set(0xce, A_INV64);
  set(0xd0, M | A_BYTE); set(0xd1, M); set(0xd2, M | A_BYTE); set(0xd3, M);
  set(0xd4, imm(I_B) | A_INV64); set(0xd5, imm(I_B) | A_INV64); set(0xd6, A_INV64); set(0xd7, A_BYTE);
  range(0xd8, 0xdf, M); // x87
  range(0xe0, 0xe3, imm(I_B) | A_F64); // LOOPcc JrCXZ
  set(0xe4, imm(I_B) | A_BYTE); set(0xe5, imm(I_B)); set(0xe6, imm(I_B) | A_BYTE); set(0xe7, imm(I_B));
  set(0xe8, imm(I_Z) | A_F64); set(0xe9, imm(I_Z) | A_F64); set(0xea, imm(I_PTR) | A_INV64);
  set(0xeb, imm(I_B) | A_F64); set(0xec, A_BYTE); set(0xee, A_BYTE);
  set(0xf6, M | A_BYTE); set(0xf7, M); set(0xfe, M | A_BYTE); set(0xff, M);
  // Two-byte map (0F xx).
  const T = 0x100;
  set(T + 0x00, M); set(T + 0x01, M); set(T + 0x02, M); set(T + 0x03, M);
  set(T + 0x0d, M); range(T + 0x10, T + 0x17, M); range(T + 0x18, T + 0x1f, M);
  range(T + 0x20, T + 0x23, M); range(T + 0x28, T + 0x2f, M);
  range(T + 0x40, T + 0x4f, M); range(T + 0x50, T + 0x7f, M);
  range(T + 0x70, T + 0x73, M | imm(I_B));
  set(T + 0x77, 0); // EMMS: no ModRM
  range(T + 0x80, T + 0x8f, imm(I_Z) | A_F64); // Jcc rel32
  range(T + 0x90, T + 0x9f, M | A_BYTE); // SETcc
  set(T + 0xa0, A_D64); set(T + 0xa1, A_D64); set(T + 0xa8, A_D64); set(T + 0xa9, A_D64);
  set(T + 0xa3, M); set(T + 0xa4, M | imm(I_B)); set(T + 0xa5, M);
  set(T + 0xab, M); set(T + 0xac, M | imm(I_B)); set(T + 0xad, M); set(T + 0xae, M); set(T + 0xaf, M);
  set(T + 0xb0, M | A_BYTE); set(T + 0xb1, M); set(T + 0xb2, M); set(T + 0xb3, M); set(T + 0xb4, M);
  set(T + 0xb5, M); set(T + 0xb6, M); set(T + 0xb7, M); set(T + 0xb8, M); set(T + 0xb9, M);
  set(T + 0xba, M | imm(I_B)); set(T + 0xbb, M); set(T + 0xbc, M); set(T + 0xbd, M);
  set(T + 0xbe, M); set(T + 0xbf, M); set(T + 0xc0, M | A_BYTE); set(T + 0xc1, M);
  set(T + 0xc2, M | imm(I_B)); set(T + 0xc3, M); set(T + 0xc4, M | imm(I_B)); set(T + 0xc5, M | imm(I_B));
  set(T + 0xc6, M | imm(I_B)); set(T + 0xc7, M);
  range(T + 0xd0, T + 0xff, M);
  // Three-byte maps: all take ModRM; 0F 3A also an imm8.
  range(0x200, 0x2ff, M);
  range(0x300, 0x3ff, M | imm(I_B));
}
