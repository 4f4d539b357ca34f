// The JIT's translator: the fast forms (assembly/cpu/fast.ts) of the instructions on one page of code,
// reached from one entry, into one WebAssembly function `(ip: i64, budget: i32) -> i32` that runs on the
// core's linear memory. It must do exactly what the run loop (assembly/cpu/run.ts) does for each form.
//
// Shape: guest registers live in i64 locals (loaded at entry, the written ones stored at exit); the lazy
// flags (assembly/cpu/flags.ts) live in five locals, and a condition after a flag-setting instruction of
// the same block is computed inline from them (cmp+jcc fuse); blocks are laid out with loops contiguous
// and emitted as structured wasm (layout()), so loops inside the page are wasm loops of the function
// (a branch that would make the graph irreducible exits instead). The function returns the instructions it
// retired and leaves RIP and the lazy flags in JIT_IO. It exits before any instruction it cannot finish
// with nothing of that instruction done: an untranslated form, a memory access that misses the TLB's fast
// path, a fast form's own escape (DIV overflow, non-canonical target), the budget; and after a branch out
// of the page. The interpreter then goes on from that RIP, so faults stay precise and restartable.
import * as MM from "../../assembly/memmap";
import { Code, Op, T_I32, T_I64, type FuncDef } from "./wasm";

// Fast-form ids (assembly/cpu/fast.ts).
export const F = {
  NOP: 1, MOV_RR32: 2, MOV_RR64: 3, MOV_RI32: 4, MOV_RI64: 5, LEA32: 6, LEA64: 7, LD32: 8, LD64: 9, LDZX8: 10,
  LDZX16: 11, LDSX8_32: 12, LDSX8_64: 13, LDSX16_32: 14, LDSX16_64: 15, LDSX32_64: 16, ST8: 17, ST16: 18, ST32: 19,
  ST64: 20, STI8: 21, STI16: 22, STI32: 23, STI64: 24, ALU_RM32: 25, ALU_RM64: 26, CMP_MR32: 27, CMP_MR64: 28,
  CMP_MI8: 29, CMP_MI32: 30, CMP_MI64: 31, MOVZX8R: 32, MOVZX16R: 33, MOVSX8R32: 34, MOVSX8R64: 35, MOVSX16R32: 36,
  MOVSX16R64: 37, MOVSXDR: 38, SHL32: 39, SHL64: 40, SHR32: 41, SHR64: 42, SAR32: 43, SAR64: 44, IMUL_RR32: 45,
  IMUL_RR64: 46, IMUL_RRI32: 47, IMUL_RRI64: 48, JMP: 49, CALL: 50, RET: 51, PUSH: 52, POP: 53, CMOV32: 54,
  CMOV64: 55, TEST_RR32: 56, TEST_RR64: 57, TEST_RI32: 58, TEST_RI64: 59, TEST_RR8: 60, INC32: 61, INC64: 62,
  DEC32: 63, DEC64: 64, DIV32: 65, DIV64: 66, RR32: 67, RR64: 75, RI32: 83, RI64: 91, JCC: 99, INC_M32: 115,
  INC_M64: 116, DEC_M32: 117, DEC_M64: 118, XCHG_M32: 119, XCHG_M64: 120, ALU_MR32: 121, ALU_MR64: 122,
  BSF32: 123, BSF64: 124, BSR32: 125, BSR64: 126,
  BT_RR32: 127, BT_RR64: 128, BT_RI32: 129, BT_RI64: 130, BT_MR32: 131, BT_MR64: 132, BT_MI32: 133, BT_MI64: 134,
  NOT32: 135, NOT64: 136, SETCC: 137, CMPXCHG_M32: 138, CMPXCHG_M64: 139, XADD_M32: 140, XADD_M64: 141, MUL32: 142,
  MUL64: 143, JIT: 255,
} as const;

// Lazy-flag kinds (assembly/cpu/flags.ts).
const LF_NONE = 0, LF_ADD = 1, LF_SUB = 2, LF_LOGIC = 3, LF_INC = 4, LF_DEC = 5, LF_ADC1 = 6, LF_SBB1 = 7, LF_CFOF = 8;

// Imported functions, in this order.
export const IMPORTS = [
  { name: "rd", params: [T_I64, T_I32], results: [T_I32] },
  { name: "wr", params: [T_I64, T_I32], results: [T_I32] },
  { name: "cond", params: [T_I32, T_I32, T_I32, T_I64, T_I64, T_I64, T_I32], results: [T_I32] },
  { name: "str", params: [T_I32], results: [T_I32] },
  { name: "flags", params: [T_I32, T_I32, T_I64, T_I64, T_I64, T_I32], results: [T_I64] },
  { name: "ex", params: [T_I64, T_I32], results: [T_I32] },
  // the chain dispatcher (wasm.ts chainModule): (ip, budget, n, the target's table index)
  { name: "chain", params: [T_I64, T_I32, T_I32, T_I32], results: [T_I32] },
];
const FN_RD = 0, FN_WR = 1, FN_COND = 2, FN_STR = 3, FN_FLAGS = 4, FN_EX = 5, FN_CHAIN = 6;

// SSE/MMX register forms (ModRM.mod 3) that read and write only XMM/MMX registers and MXCSR (no guest
// register, flag or memory): compiled code runs them through the core's general path (jit_exec, "ssex"),
// without leaving the region. Opcode ids (0x1xx 0F xx, 0x2xx 0F 38 xx, 0x3xx 0F 3A xx); the forms of these
// opcodes that touch a general register or the flags are left out (MOVD/MOVQ 6E/7E but F3 0F 7E, MOVMSK,
// PMOVMSKB, PINSRW/PEXTRW, CVTSI2S*/CVT*2SI, (U)COMIS*, PTEST, PCMPxSTRx, PEXTR*/PINSR*, CRC32, MASKMOV).
const SSEX = new Uint8Array(0x400);
for (const [a, b] of [[0x110, 0x117], [0x128, 0x129], [0x151, 0x16d], [0x16f, 0x177], [0x17c, 0x17d], [0x17f, 0x17f],
  [0x1c2, 0x1c2], [0x1c6, 0x1c6], [0x1d0, 0x1d6], [0x1d8, 0x1f6], [0x1f8, 0x1ff], [0x200, 0x20b], [0x210, 0x210],
  [0x214, 0x215],
  [0x21c, 0x21e], [0x220, 0x225], [0x228, 0x22b], [0x230, 0x235], [0x237, 0x241], [0x308, 0x30f], [0x340, 0x342]])
    SSEX.fill(1, a, b + 1);
/**
 * Instructions compiled code has the core run through its general path without leaving the region (the
 * core's jit_exec, kind "core"): SSE/MMX forms with a memory operand or a general-register operand,
 * x87 instructions, and general-purpose forms the translator has no code of its own for (16-bit
 * operands, BSF/BSR/TZCNT/LZCNT/POPCNT, byte and 16-bit shifts, CMPXCHG8B/16B, IMUL r, m ...). None of
 * them transfers control, changes the mode, a segment, CR*, IF or TF, or repeats (no string
 * instructions). `pre`: the guest registers (bit r) the region stores before the call (what the
 * instruction reads: its address's base and index, its register operands, and those it writes only
 * partly); `post`: those it loads after it (what the instruction writes); `fl`: it reads or writes the
 * arithmetic flags (RFLAGS is made current before, the region reads them from RFLAGS after). Forms whose
 * registers are not listed one by one store and load all of them. A fault (#UD/#NM from CR0/CR4, #GP for
 * a misaligned MOVAPS/MOVDQA or legacy-SSE operand, #PF, #DE ...) is found by the core with nothing
 * done: the region exits before the instruction and the interpreter raises it.
 */
export interface CoreRun { pre: number; post: number; fl: boolean }
const CR_ALL: CoreRun = { pre: 0xffff, post: 0xffff, fl: true };
const CR_NONE: CoreRun = { pre: 0, post: 0, fl: false };
const coreCache = new WeakMap<Insn, CoreRun | null>();
export function coreRun(i: Insn, is64 = i.x64 === true): CoreRun | null {
  let d = coreCache.get(i);
  if (d === undefined) { d = coreRun0(i, is64); coreCache.set(i, d); }
  return d;
}
function coreRun0(i: Insn, is64: boolean): CoreRun | null {
  if (i.form !== 0 || i.op === undefined) return null;
  const op = i.op, mod = i.mod!, pfx = i.pfx!, k = i.reg! & 7;
  const lock = (pfx & 1) !== 0, rep = (pfx & 6) !== 0;
  const all = is64 ? CR_ALL : { pre: 0xff, post: 0xff, fl: true };
  let ea = 0;
  if (mod !== 3) {
    const b = regOf(i.base), x = regOf(i.index);
    if (b >= 0) ea |= 1 << (b >> 3);
    if (x >= 0) ea |= 1 << (x >> 3);
  }
  const rmG = mod === 3 ? 1 << i.rm! : 0, regG = 1 << i.reg!;
  const d = (pre: number, post = 0, fl = false): CoreRun =>
    (pre === 0 && post === 0 && !fl ? CR_NONE : { pre, post, fl });
  if (op >= 0x100 && op < 0x400) {
    if (lock && op !== 0x1c7 && op !== 0x1b0 && op !== 0x1b1 && op !== 0x1c0 && op !== 0x1c1 && op !== 0x1ab
        && op !== 0x1b3 &&
      op !== 0x1bb && op !== 0x1ba) return null; // (#UD: the interpreter's, without a call)
    // SSE/MMX forms that touch no general register or flag: their memory forms (the register forms are "ssex")
    if (SSEX[op] === 1 || op === 0x12b || (op === 0x17e && (pfx & 6) === 2)) return mod === 3 ? null : d(ea);
    switch (op) {
      case 0x12a: return (pfx & 6) !== 0 ? d(ea | rmG) : d(ea); // CVTSI2SS/SD xmm, r/m (F3/F2); CVTPI2PS/PD xmm, mm/m64
      // CVT(T)SS/SD2SI r, xmm/m; CVT(T)PS/PD2PI mm
      case 0x12c: case 0x12d: return (pfx & 6) !== 0 ? d(ea | regG, regG) : d(ea);
      case 0x12e: case 0x12f: return d(ea, 0, true); // (U)COMISS/SD: ZF PF CF, OF SF AF cleared
      case 0x150: case 0x1c5: case 0x1d7: return d(regG | ea, regG); // MOVMSKPS/PD, PEXTRW, PMOVMSKB r, xmm/mm
      case 0x1c4: return d(ea | rmG); // PINSRW xmm/mm, r/m16
      case 0x16e: return d(ea | rmG); // MOVD/MOVQ mm/xmm, r/m (the 66 forms with a plain operand are "movdx")
      case 0x17e: return (pfx & 6) === 0 ? d(ea | rmG, rmG) : null; // MOVD/MOVQ r/m, mm/xmm (66: "movdr" likewise)
      case 0x1c3: return mod !== 3 ? d(ea | regG) : null; // MOVNTI m, r
      case 0x1ae: // FXSAVE FXRSTOR LDMXCSR STMXCSR m; LFENCE MFENCE SFENCE
        if ((pfx & 0xe) !== 0) return null;
        return mod !== 3 ? (k <= 3 ? d(ea) : null) : k >= 5 ? CR_NONE : null;
      case 0x217: return d(ea, 0, true); // PTEST
      case 0x2f0: case 0x2f1: return (pfx & 6) === 4 ? all : null; // CRC32
      case 0x314: case 0x315: case 0x316: case 0x317: return d(ea | rmG, rmG); // PEXTRB/W/D/Q, EXTRACTPS r/m, xmm
      case 0x320: case 0x322: return d(ea | rmG); // PINSRB, PINSRD/Q xmm, r/m
      // PCMPESTRM/ESTRI/ISTRM/ISTRI: EAX, EDX in; ECX (or XMM0) and the flags out
      case 0x360: case 0x361: case 0x362: case 0x363:
        return d(ea | 7, op & 1 ? 2 : 0, true);
      // general-purpose forms the translator has no code of its own for
      case 0x1bc: case 0x1bd: case 0x1b8: case 0x1af: return all; // BSF/TZCNT, BSR/LZCNT, POPCNT, IMUL r, r/m
      case 0x1c7: return mod !== 3 && k === 1 ? all : null; // CMPXCHG8B/16B
      case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1: case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: case 0x1ba:
      case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf:
        return op === 0x1ba && k < 4 ? null : all; // CMPXCHG, XADD, BT*, SHLD/SHRD, MOVZX/MOVSX in their other forms
    }
    // CMOVcc, SETcc, BSWAP
    if ((op >= 0x140 && op <= 0x14f) || (op >= 0x190 && op <= 0x19f) || (op >= 0x1c8 && op <= 0x1cf))
      return rep ? null : all;
    return null;
  }
  if (op >= 0xd8 && op <= 0xdf) { // x87
    if (lock || rep) return null;
    if (mod === 3 && op === 0xdf && k === 4) return d(1, 1); // FNSTSW AX
    if (mod === 3 && (op === 0xda || op === 0xdb) && k <= 3) return d(0, 0, true); // FCMOVcc
    if (mod === 3 && (op === 0xdb || op === 0xdf) && (k === 5 || k === 6)) return d(0, 0, true); // F(U)COMI(P)
    return d(ea);
  }
  if (op === 0x9b) return CR_NONE; // FWAIT
  if (rep) return null; // (F2/F3 before a general-purpose instruction: the interpreter's)
  // general-purpose forms in the one-byte map (16-bit operands, byte forms, shifts ...)
  if (op < 0x40 && (op & 7) < 6) return all; // ALU
  if (!is64 && op >= 0x40 && op <= 0x4f) return all; // INC/DEC r (16 and 32-bit)
  switch (op) {
    case 0x63: return is64 ? all : null; // MOVSXD (ARPL outside 64-bit mode)
    case 0x69: case 0x6b: case 0x80: case 0x81: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x98: case 0x99: case 0xa8: case 0xa9:
    case 0xc0: case 0xc1: case 0xc9: case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xf6: case 0xf7:
      return all;
    case 0xc6: case 0xc7: return k === 0 ? all : null; // MOV r/m, imm (not XABORT/XBEGIN)
    case 0xfe: return k <= 1 ? all : null; // INC/DEC r/m8
    case 0xff: return k <= 1 ? all : null; // INC/DEC r/m16/32/64
  }
  if ((op >= 0x91 && op <= 0x97) || (op >= 0xb0 && op <= 0xbf)) return all; // XCHG rAX, r; MOV r, imm
  // MOV AL/rAX, moffs and MOV moffs, AL/rAX (any segment: the interpreter's; 32-bit kernels' globals): rAX stored
  // first (AL and AX keep the rest of it), loaded after a load; no flag
  if (op === 0xa0 || op === 0xa1) return d(1, 1);
  if (op === 0xa2 || op === 0xa3) return d(1);
  return null;
}
// jit_str's kind bits (cpu/string.ts JS_*).
const JS_STOS = 16, JS_AS8 = 32, JS_REP = 64;

// The loads' [access size, signed, destination size].
const LOADS: Record<number, [number, boolean, number]> = {
  [F.LD32]: [4, false, 4], [F.LD64]: [8, false, 8], [F.LDZX8]: [1, false, 8], [F.LDZX16]: [2, false, 8],
  [F.LDSX8_32]: [1, true, 4], [F.LDSX8_64]: [1, true, 8], [F.LDSX16_32]: [2, true, 4], [F.LDSX16_64]: [2, true, 8],
  [F.LDSX32_64]: [4, true, 8],
};

// General-path kinds that use the stack (4-byte slots outside 64-bit mode need a 32-bit stack).
const STACK_KINDS = new Set<string | null>(["icall", "pushm", "pushi", "pushf"]);

// Parameters (ip, budget, n: instructions retired before this call, by the regions that chained into
// it) and locals.
const L_IP = 0, L_BUDGET = 1, L_N = 2, L_R0 = 3, L_FOP = 19, L_FSZ = 20, L_FA = 21, L_FB = 22, L_FRES = 23, L_NEXT = 24,
  L_T1 = 25, L_T2 = 26, L_T3 = 27, L_P = 28, L_XIP = 29, L_XR = 30, L_C = 31,
  L_RTAG = 32, L_WTAG = 33, L_HOST = 34, L_RES = 35, L_I = 36, L_FCF = 37, L_T4 = 38, L_T5 = 39;
const LOCALS = [
  ...Array(16).fill(T_I64), T_I32, T_I32, T_I64, T_I64, T_I64, T_I32, T_I64, T_I64, T_I64, T_I32, T_I64, T_I32, T_I32,
  T_I32, T_I32, T_I32, T_I64, T_I32, T_I32, T_I64, T_I64,
];

export const MAX_REGION_INSNS = 600;
export const REGION_PARAMS = [T_I64, T_I32, T_I32];

/**
 * After the write-back of a branch exit (RIP in XIP): when the target's page has an execute translation
 * in the TLB bank in use and the JIT's map (assembly/cpu/jit.ts JIT_MAP) has a current region for its host
 * address and mode (page generation unchanged, a table index), tail-call it with the count so far, as the
 * run loop would have entered it next, through the chain dispatcher (wasm.ts chainModule) with its table
 * index. Otherwise return to the run loop. The map is probed at the slot its hash (jit.ts slot()) gives and
 * the one after (its open addressing puts a key that collided there); a key further on is not chained.
 * (The probe read the decoded-instruction cache's index and entry before: two host cache lines in 10 MiB of
 * tables since the cache grew to 8 MiB, against one in the map's 512 KiB.)
 */
function chainExit(c: Code, mode: number): void {
  c.get(L_XR).i32(MM.JEXIT_BRANCH).op(Op.i32_eq).get(L_N).get(L_BUDGET).op(Op.i32_lt_s).op(Op.i32_and).if_();
  // TLB: the execute tag of the target's page.
  c.get(L_XIP).i64(12).op(Op.i64_shr_u).op(Op.i32_wrap_i64).i32(MM.TLB_ENTRIES - 1).op(Op.i32_and).set(L_I);
  c.get(L_I).i32(3).u8(0x74).i32(0).mem(Op.i32_load, MM.JIT_IO + MM.JIO_XTAG, 2).op(Op.i32_add).mem(Op.i64_load, 0, 3);
  c.get(L_XIP).i64(12).op(Op.i64_shr_u).i64(1).op(Op.i64_shl).i32(0).mem(Op.i64_load, MM.JIT_IO + MM.JIO_TAGBASE, 3)
    .op(Op.i64_or).op(Op.i64_eq).if_();
  // P = the target's host address; I = its map record: the hash's slot, or the next one when that is another key's.
  c.get(L_I).i32(2).u8(0x74).i32(0).mem(Op.i32_load, MM.JIT_IO + MM.JIO_HOST, 2).op(Op.i32_add).mem(Op.i32_load, 0, 2);
  c.get(L_XIP).op(Op.i32_wrap_i64).i32(0xfff).op(Op.i32_and).op(Op.i32_add).tee(L_P);
  c.i32(MM.JIT_MAP_HASH_HOST).op(Op.i32_mul).i32(Math.imul(mode, MM.JIT_MAP_HASH_MODE)).op(Op.i32_add).i32(17)
    .op(Op.i32_shr_u)
    .i32(MM.JIT_MAP_ENTRIES - 1).op(Op.i32_and).i32(4).op(Op.i32_shl).i32(MM.JIT_MAP).op(Op.i32_add).tee(L_I);
  c.get(L_I).i32(16 - MM.JIT_MAP).op(Op.i32_add).i32((MM.JIT_MAP_ENTRIES - 1) << 4).op(Op.i32_and).i32(MM.JIT_MAP)
    .op(Op.i32_add);
  c.get(L_I).mem(Op.i32_load, 0, 2).get(L_P).op(Op.i32_eq).get(L_I).mem(Op.i32_load, 4, 2).i32(mode).op(Op.i32_eq)
    .op(Op.i32_and).op(Op.select).set(L_I);
  // the record is (P, mode), of the page's current generation, with a region (table index >= 0)
  c.get(L_I).mem(Op.i32_load, 0, 2).get(L_P).op(Op.i32_eq);
  c.get(L_I).mem(Op.i32_load, 4, 2).i32(mode).op(Op.i32_eq).op(Op.i32_and);
  c.get(L_I).mem(Op.i32_load, 8, 2).i32(0).op(Op.i32_ge_s).op(Op.i32_and);
  c.get(L_I).mem(Op.i32_load, 12, 2);
  c.get(L_P).i32(12).op(Op.i32_shr_u).i32(2).op(Op.i32_shl).mem(Op.i32_load, MM.JIT_PAGEGEN, 2).op(Op.i32_eq)
    .op(Op.i32_and);
  c.if_();
  const st = MM.JIT_IO + MM.JIO_STATS + MM.JSTAT_CHAINS * 8;
  c.i32(0).i32(0).mem(Op.i64_load, st, 3).i64(1).op(Op.i64_add).mem(Op.i64_store, st, 3);
  c.get(L_XIP).get(L_BUDGET).get(L_N).get(L_I).mem(Op.i32_load, 8, 2);
  c.u8(0x12 /* return_call */).uleb(FN_CHAIN);
  c.end();
  c.end();
  c.end();
}

/** A function body that notes which guest-register locals it reads or writes. (Two, kept between
 *  regions: translateWith's code grows in one of them and is copied out at the end.) */
class RegCode extends Code {
  regs = 0; // bit r: register r
  private note(l: number): void { if (l >= L_R0 && l < L_R0 + 16) this.regs |= 1 << (l - L_R0); }
  get(l: number): this { this.note(l); return super.get(l); }
  set(l: number): this { this.note(l); return super.set(l); }
  tee(l: number): this { this.note(l); return super.tee(l); }
  start(): this { this.regs = 0; return this.reset(); }
}
const SCRATCH1 = new RegCode(1 << 16), SCRATCH2 = new RegCode(1 << 16);

/** A region worth compiling: a loop inside it, or enough instructions before it leaves (entering and
 *  leaving compiled code costs about as much as interpreting a few instructions). */
export function worthCompiling(blocks: Block[], min = MIN_REGION_INSNS): boolean {
  const n = blocks.reduce((a, b) => a + b.insns.filter((i) => i.form !== -1).length, 0);
  if (n >= min) return true;
  const starts = new Set(blocks.map((b) => b.start));
  return blocks.some((b) => {
    const l = b.insns[b.insns.length - 1];
    if (!l || l.form === -1 || !isBranch(l.form) || l.form === F.RET) return false;
    const t = l.off + l.len + signed64(l.imm);
    return starts.has(t) && t <= b.start; // a branch back
  });
}
export const MIN_REGION_INSNS = 8;

/** One decoded instruction, as its cache entry holds it. */
export interface Insn {
  off: number; len: number; form: number; aux: number; scale: number;
  a: number; b: number; base: number; index: number; disp: number; imm: bigint; op?: number; pfx?: number;
  os?: number; mod?: number; reg?: number; rm?: number; rex?: number;
  ax?: number; // +35: 1 RIP-relative | 2 FS | 4 GS (64-bit mode)
  as?: number; // address size (2, 4, 8)
  seg?: number; // segment override (SEG_*), or -1
  x64?: boolean; // decoded in 64-bit mode
  seen?: boolean; // it was in the decoded-instruction cache: it ran lately
  cont?: boolean; // (a block's end) the code goes on here, outside the region: on the next page, or not visited
}

// A memory operand the translator addresses as the fast forms do (cpu/fast.ts classify's memOk): 64-bit
// addressing in 64-bit mode (RIP-, FS- or GS-relative too: +35); elsewhere 32-bit addressing and no
// segment override (the run loop and so regions run only while CS, SS, DS and ES are flat).
function memOk(i: Insn, is64: boolean): boolean {
  if (i.mod === 3 || i.as === undefined) return false;
  return is64 ? i.as === 8 && (i.seg! < 0 || i.seg === MM.SEG_FS || i.seg === MM.SEG_GS) : i.as === 4 && i.seg! < 0;
}

// General-path instructions (fast form F_GEN) the JIT translates from the decoded fields, or has the
// core run inside the region ("ssex", "core": see coreRun).
function generalKind(i: Insn, is64 = i.x64 === true): string | null {
  if (i.form !== 0 || i.op === undefined) return null;
  return generalKind0(i, is64) ?? (coreRun(i, is64) ? "core" : null);
}
function generalKind0(i: Insn, is64: boolean): string | null {
  const os = i.os!, mod = i.mod!, k = i.reg! & 7, lockRep = (i.pfx! & 7) !== 0;
  if (i.op === 0xa4 || i.op === 0xa5 || i.op === 0xaa || i.op === 0xab) {
    // MOVS/STOS, REP (F3) or none, no segment override, the mode's own address size: the core's jit_str.
    return (i.pfx! & 5) === 0 && i.seg! < 0 && i.as === (is64 ? 8 : 4) ? "str" : null;
  }
  if (mod === 3 && (i.pfx! & 1) === 0 && i.op! < 0x400 && (SSEX[i.op!] === 1 || (i.op === 0x17e && (i.pfx! & 6) === 2)))
    return "ssex";
  const osOk = os === 4 || os === 8;
  const mem = memOk(i, is64);
  // LOCK on a read-modify-write memory form: one vCPU at a time runs, so the access is atomic anyway
  // (LOCK with CMP or a register operand is #UD: the interpreter's).
  if ((i.op === 0x81 || i.op === 0x83) && (i.pfx! & 6) === 0 && osOk && mem && (k !== 7 || (i.pfx! & 1) === 0))
    return "alumi";
  if (i.op === 0x17e && (i.pfx! & 7) === 2 && mem) return "movqx"; // (F3: before the REP/LOCK rule below)
  if (lockRep) return null;
  const near = is64 ? os === 8 : os === 4; // near branches and pushes: 64-bit in 64-bit mode (66h: the interpreter)
  switch (i.op) {
    case 0xff: { // near CALL/JMP r/m: 64-bit in 64-bit mode whatever the prefixes; PUSH r/m: 64-bit unless 66h
      if (!(mod === 3 || mem)) return null;
      if (k === 2 || k === 4) return is64 || os === 4 ? (k === 2 ? "icall" : "ijmp") : null;
      return k === 6 && (is64 ? (i.pfx! & 8) === 0 : os === 4) ? "pushm" : null;
    }
    case 0x68: case 0x6a: return near ? "pushi" : null;
    case 0x9c: return near ? "pushf" : null;
    case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: return osOk && mod === 3 ? "shd" : null;
    case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
    case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f:
      return osOk && mem ? "cmovm" : null;
    case 0x98: return osOk ? "cdqe" : null;
    case 0x99: return osOk ? "cqo" : null;
    case 0xd3:
      return osOk && mod === 3 && (k === 4 || k === 5 || k === 7) ? "shcl" : osOk && mod === 3 && k < 2 ? "rot" : null;
    case 0xc1: case 0xd1: return osOk && mod === 3 && k < 2 ? "rot" : null;
    case 0xa8: return "testal";
    case 0x3c: return "cmpal";
    case 0x80: return mod === 3 ? "alu8i" : mem ? "alu8mi" : null;
    case 0xf6: return k === 0 ? (mod === 3 ? "test8i" : mem ? "testmi" : null) : null;
    case 0xf7: return k === 3 && osOk
      && mod === 3 ? "neg" : k === 0 && osOk && mem ? "testmi" : k === 6 && osOk && mem ? "divm" : null;
    case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38:
      return mod === 3 ? "alu8rr" : mem ? "alu8mr" : null;
    case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a:
      return mod === 3 || mem ? "alu8rm" : null;
    case 0x84: return mem ? "testmr" : null;
    case 0x85: return osOk && mem ? "testmr" : null;
    case 0x88: return mod === 3 ? "mov8rr" : null;
    case 0x8a: return mod === 3 ? "mov8rr" : mem ? "mov8ld" : null;
    case 0x118: case 0x10d: return "nop"; // PREFETCHh / PREFETCHW: hints, no access, no fault
    // 66 [REX.W] 0F 6E / 7E: MOVD/MOVQ between an XMM register and a general register or memory
    // (F3 0F 7E: MOVQ xmm, m64; 66 0F D6: MOVQ m64, xmm; their register forms are "ssex")
    case 0x16e: return (i.pfx! & 8) !== 0 && (mod === 3 || mem) ? "movdx" : null;
    case 0x17e: return (i.pfx! & 8) !== 0 && (mod === 3 || mem) ? "movdr" : null;
    case 0x1d6: return (i.pfx! & 8) !== 0 && mem ? "movqr" : null;
    case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
    case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
      return mem ? "setccm" : null;
    case 0x1c8: case 0x1c9: case 0x1ca: case 0x1cb: case 0x1cc: case 0x1cd: case 0x1ce: case 0x1cf:
      return osOk ? "bswap" : null;
  }
  return null;
}

/** The decoded instruction in the cache entry at `e` (the core's jit_decode), at page offset `off`. */
let view: DataView | null = null; // (one per memory buffer: a new DataView per instruction showed in profiles)
export function readInsn(mem: ArrayBuffer, e: number, off: number, is64: boolean): Insn {
  const v = view && view.buffer === mem ? view : (view = new DataView(mem));
  return {
    off, len: v.getUint8(e + 58), form: v.getUint8(e + 32), aux: v.getUint8(e + 33), scale: v.getUint8(e + 34),
    a: v.getInt32(e + 36, true), b: v.getInt32(e + 40, true), base: v.getInt32(e + 44, true),
    index: v.getInt32(e + 48, true), disp: v.getInt32(e + 20, true), imm: v.getBigUint64(e + 24, true),
    op: v.getUint16(e + 56, true), pfx: v.getUint8(e + 8), os: v.getUint8(e + 11) & 15, mod: v.getUint8(e + 12),
    reg: v.getUint8(e + 13), rm: v.getUint8(e + 14), rex: v.getUint8(e + 10), ax: v.getUint8(e + 35),
    seen: v.getUint8(e + 62) === 1,
    as: v.getUint8(e + 11) >> 4, seg: v.getInt8(e + 9), x64: is64,
  };
}

/** Reads the decoded instruction at page offset `off` (or null: not decodable without leaving the page). */
export type Decoder = (off: number) => Insn | null;

export interface Block { start: number; insns: Insn[]; next: number | null } // next: fall-through offset

/** A 64-bit immediate (as the decoder holds it: unsigned) as a signed number: Number(BigInt.asIntN(64,
 *  imm)), without a BigInt step for the non-negative ones (forward branches). */
function signed64(imm: bigint): number {
  return imm < 0x8000000000000000n ? Number(imm) : Number(BigInt.asIntN(64, imm));
}

// An operand size's mask and sign bit: as BigInts (for arithmetic on immediates), and as the i64 constants
// the translation emits (numbers where they are safe integers: the writer then takes no BigInt steps).
const MASKS: bigint[] = [], SIGNS: bigint[] = [], MASKC: (number | bigint)[] = [], SIGNC: (number | bigint)[] = [];
for (let size = 1; size <= 8; size++) {
  MASKS[size] = size === 8 ? 0xffffffffffffffffn : (1n << BigInt(size * 8)) - 1n;
  SIGNS[size] = 1n << BigInt(size * 8 - 1);
  const m = BigInt.asIntN(64, MASKS[size]), g = BigInt.asIntN(64, SIGNS[size]);
  MASKC[size] = Number.isSafeInteger(Number(m)) ? Number(m) : m;
  SIGNC[size] = Number.isSafeInteger(Number(g)) ? Number(g) : g;
}
const mask = (size: number): bigint => MASKS[size];
const maskC = (size: number): number | bigint => MASKC[size];
const signC = (size: number): number | bigint => SIGNC[size];

// Register operand addresses (CPU_STATE + r*8, +1 for AH..BH) -> register * 8 + byte offset; -1: ZERO_SLOT.
function regOf(addr: number): number {
  const k = addr - MM.CPU_STATE;
  return k < 0 || k >= 128 ? -1 : k;
}

/** Outside 64-bit mode the interpreter has no fast forms for the stack: PUSH/POP r32, CALL rel32 and RET
 *  with a 32-bit operand size get the 64-bit forms' ids here and are translated with 4-byte stack slots
 *  (the region checks SS.B at entry). */
export function stack32(is64: boolean, i: Insn): Insn {
  if (is64 || i.form !== 0 || i.os !== 4 || (i.pfx! & 7) !== 0) return i;
  const op = i.op!;
  if (op >= 0x50 && op <= 0x57) return { ...i, form: F.PUSH, b: MM.CPU_STATE + (op - 0x50) * 8 };
  if (op >= 0x58 && op <= 0x5f) return { ...i, form: F.POP, a: MM.CPU_STATE + (op - 0x58) * 8 };
  if (op === 0xe8) return { ...i, form: F.CALL };
  if (op === 0xc3 || op === 0xc2) return { ...i, form: F.RET, imm: op === 0xc3 ? 0n : i.imm };
  return i;
}

function isBranch(f: number): boolean {
  return f === F.JMP || f === F.CALL || f === F.RET || (f >= F.JCC && f < F.JCC + 16);
}
/** The block ends after `i`: a branch, a return, an indirect CALL/JMP. */
function endsBlock(i: Insn): boolean {
  if (isBranch(i.form) || i.form === F.RET) return true;
  const k = generalKind(i);
  return k === "icall" || k === "ijmp";
}

/** Supported forms (anything else ends the block with an exit before it). */
export function supported(i: Insn): boolean {
  const f = i.form;
  if (generalKind(i)) return true;
  if (f >= F.NOP && f <= F.DIV64) return true;
  if (f >= F.RR32 && f < F.JCC + 16) return true;
  if (f >= F.INC_M32 && f <= F.ALU_MR64) return true;
  if (f === F.NOT32 || f === F.NOT64 || f === F.SETCC || f === F.MUL32 || f === F.MUL64) return true;
  if (f >= F.BT_RR32 && f <= F.BT_MI64) return true;
  if (f >= F.BSF32 && f <= F.BSR64) return true;
  if (f >= F.CMPXCHG_M32 && f <= F.XADD_M64) return true;
  return false;
}

/** The blocks of the region entered at `entry`: code reachable inside the page, split at branch targets. */
export function discover(decode: Decoder, entry: number, is64: boolean): Block[] {
  const insns = new Map<number, Insn | null>();
  const leaders = new Set<number>([entry]);
  const cold = new Set<number>();
  const queue = [entry];
  let count = 0;
  while (queue.length && count < MAX_REGION_INSNS) {
    let off = queue.pop()!;
    if (off !== entry && !insns.has(off)) {
      // Only code that ran lately (the decoded-instruction cache holds it): a branch to cold code exits.
      const i = decode(off);
      if (!i || !i.seen) { cold.add(off); continue; }
    }
    while (count < MAX_REGION_INSNS) {
      if (insns.has(off)) break;
      const i = off < 0x1000 ? decode(off) : null;
      insns.set(off, i);
      count++;
      if (!i || !supported(i) || i.form === F.RET) break;
      const f = i.form;
      if (!isBranch(f) && endsBlock(i)) break;
      if (isBranch(f)) {
        const t = off + i.len + signed64(i.imm);
        if (t >= 0 && t < 0x1000) {
          if (!leaders.has(t)) { leaders.add(t); queue.push(t); }
        }
        if (f >= F.JCC) { // also the fall-through
          const ft = off + i.len;
          if (ft < 0x1000) { if (!leaders.has(ft)) { leaders.add(ft); queue.push(ft); } }
        }
        break;
      }
      off += i.len;
      if (off >= 0x1000) break;
    }
  }
  // Blocks: from each leader (that decoded) to a terminator or the next leader.
  const blocks: Block[] = [];
  for (const start of [...leaders].sort((x, y) => x - y)) {
    if (!insns.has(start)) continue; // not visited (the size bound)
    const b: Block = { start, insns: [], next: null };
    let off = start;
    while (true) {
      const i = insns.get(off);
      if (i === undefined) break; // not visited: the block ends with an exit to here
      if (i === null || !supported(i)) {
        b.insns.push({ off, len: 0, form: -1, aux: 0, scale: 0, a: 0, b: 0, base: 0, index: 0, disp: 0, imm: 0n });
        break;
      }
      b.insns.push(i);
      if (endsBlock(i)) break;
      off += i.len;
      if (leaders.has(off)) { b.next = off; break; }
      if (off >= 0x1000) break;
    }
    if (
      b.insns.length === 0
        || (b.insns[b.insns.length - 1].form !== -1 && !endsBlock(b.insns[b.insns.length - 1]) && b.next === null)
    ) {
      // Ran off the page or into code that was not visited: exit to the next instruction, as a branch
      // (it chains into a region there when there is one).
      b.insns.push({
        off, len: 0, form: -1, aux: 0, scale: 0, a: 0, b: 0, base: 0, index: 0, disp: 0, imm: 0n, cont: true
      });
    }
    blocks.push(b);
  }
  return blocks;
}

type FlagState = { op: number; size: number } | null; // null: only the locals know (after a block boundary)

// A condition (cc >> 1) on the operands of a SUB/CMP state: [compare, negated compare].
const SUB_CMP: Record<number, Op[]> = {
  1: [Op.i64_lt_u, Op.i64_ge_u], 2: [Op.i64_eq, Op.i64_ne], 3: [Op.i64_le_u, Op.i64_gt_u],
  6: [Op.i64_lt_s, Op.i64_ge_s], 7: [Op.i64_le_s, Op.i64_gt_s] };
// The i32 form of an i64 ALU operation (32-bit operations are done in i32).
const I32: Partial<Record<Op, Op>> = { [Op.i64_add]: Op.i32_add, [Op.i64_sub]: Op.i32_sub, [Op.i64_and]: Op.i32_and,
  [Op.i64_or]: Op.i32_or, [Op.i64_xor]: Op.i32_xor };

// States whose result the translator recomputes from the operands (see setFlags).
const derived = (op: number) => op === LF_ADD || op === LF_SUB || op === LF_INC || op === LF_DEC;

const sameState = (a: FlagState, b: FlagState) =>
  a === b || (a !== null && b !== null && a.op === b.op && a.size === b.size);

// ---- control-flow structure ----
// A region's blocks are laid out so that every loop is contiguous, and emitted as structured wasm: a
// forward branch is a `br` to the label that ends just before its target, a back edge a `br` to the
// enclosing `loop` of its header. V8 then sees the guest's loops as its own (each value live only where
// the guest uses it) instead of one dispatch loop through which every register and flag is live.

/** In-page successors of each block that are blocks of the region (branch targets, then the fall-through). */
function successors(blocks: Block[], index: Map<number, number>): number[][] {
  return blocks.map((b) => {
    const out: number[] = [];
    const add = (off: number) => { const t = index.get(off); if (t !== undefined && !out.includes(t)) out.push(t); };
    const i = b.insns[b.insns.length - 1];
    const f = i.form;
    if (f === F.JMP || f === F.CALL || (f >= F.JCC && f < F.JCC + 16)) {
      const t = i.off + i.len + signed64(i.imm);
      if (t >= 0 && t < 0x1000) add(t);
      if (f >= F.JCC) add(i.off + i.len);
    } else if (f !== -1 && f !== F.RET && b.next !== null) add(b.next);
    return out;
  });
}

export interface Layout {
  order: number[]; // block indices in layout order (the entry first)
  loopEnd: number[]; // by position: the last position of the loop headed here, or -1
  scope: number[]; // by position: where the block's label opens (the position of a loop header, or -1: the function)
  cut: Set<number>; // edges (from * 65536 + to, positions) left as exits: they would make the graph irreducible
}

// A block's index by its page offset, for layout() (filled and cleared by each call).
const OFF_BLOCK = new Int32Array(0x1000).fill(-1);
const offBlock = (off: number): number => (off >= 0 && off < 0x1000 ? OFF_BLOCK[off] : -1);

/** Orders the blocks for structured emission (loops contiguous, the entry first). The same result as
 *  layoutReference() (tests/jit.test.ts compares them on random graphs), in typed arrays: its Maps, Sets,
 *  closures and arrays of pairs made it a quarter of the translator's time. */
export function layout(blocks: Block[], entry: number): Layout {
  const n = blocks.length;
  for (let b = 0; b < n; b++) {
    const s = blocks[b].start;
    if (!(s >= 0 && s < 0x1000) || OFF_BLOCK[s] >= 0) {
      for (let x = 0; x < b; x++) OFF_BLOCK[blocks[x].start] = -1;
      throw new Error(`jit: block start ${s} outside the page or twice`);
    }
    OFF_BLOCK[s] = b;
  }
  try { return layout0(blocks, entry, n); } finally { for (let b = 0; b < n; b++) OFF_BLOCK[blocks[b].start] = -1; }
}

// layout()'s scratch arrays (kept between regions, grown to the largest: typed arrays made for each region
// were most of its time and garbage).
let layCap = 0;
let ySucc0 = new Int32Array(0), yJccFt = ySucc0, yFtOf = ySucc0, ySucc = ySucc0, yPredStart = ySucc0, yPreds = ySucc0;
let yPost = ySucc0, yStackU = ySucc0, yStackK = ySucc0, yRpo = ySucc0, yRpoNum = ySucc0, yIdom = ySucc0;
let yNeed = ySucc0, yLeft = ySucc0, yPos = ySucc0, yWork = ySucc0, yHid = ySucc0, ySize = ySucc0;
let yBack = new Uint8Array(0), yState = yBack, yPlaced = yBack, yReady = yBack, yInLoop = yBack;
function layScratch(n: number): void {
  if (n <= layCap) return;
  const c = (layCap = Math.max(n, 2 * layCap, 64));
  ySucc0 = new Int32Array(2 * c); yJccFt = new Int32Array(c); yFtOf = new Int32Array(c); ySucc = new Int32Array(2 * c);
  yPredStart = new Int32Array(c + 1); yPreds = new Int32Array(2 * c); yPost = new Int32Array(c);
  yStackU = new Int32Array(c); yStackK = new Int32Array(c); yRpo = new Int32Array(c); yRpoNum = new Int32Array(c);
  yIdom = new Int32Array(c); yNeed = new Int32Array(c); yLeft = new Int32Array(c); yPos = new Int32Array(c);
  yWork = new Int32Array(2 * c + 2); yHid = new Int32Array(c); ySize = new Int32Array(c);
  yBack = new Uint8Array(2 * c); yState = new Uint8Array(c); yPlaced = new Uint8Array(c); yReady = new Uint8Array(c);
}

function layout0(blocks: Block[], entry: number, n: number): Layout {
  const e = offBlock(entry);
  if (e < 0) throw new Error(`jit: the region's entry ${entry} is not a block`);
  layScratch(n);
  // In-page successors (at most two a block: the branch target, then the fall-through; -1: none), the
  // fall-through candidates of the placement (a Jcc's next instruction, the block's next).
  for (let b = 0; b < n; b++) {
    const bl = blocks[b], i = bl.insns[bl.insns.length - 1], f = i.form;
    let s0 = -1, s1 = -1;
    if (f === F.JMP || f === F.CALL || (f >= F.JCC && f < F.JCC + 16)) {
      const t = i.off + i.len + signed64(i.imm);
      if (t >= 0 && t < 0x1000) s0 = offBlock(t);
      if (f >= F.JCC) { const u = offBlock(i.off + i.len); if (s0 < 0) s0 = u; else if (u !== s0) s1 = u; }
    } else if (f !== -1 && f !== F.RET && bl.next !== null) s0 = offBlock(bl.next);
    if (s0 < 0) { s0 = s1; s1 = -1; }
    ySucc0[2 * b] = s0; ySucc0[2 * b + 1] = s1;
    yJccFt[b] = f >= F.JCC && f < F.JCC + 16 ? offBlock(i.off + i.len) : -1;
    yFtOf[b] = bl.next !== null ? offBlock(bl.next) : -1;
  }
  const cutEdges = new Set<number>(); // block indices
  const retreat: number[] = []; // (pairs u, v)
  for (let attempt = 0; attempt < 4; attempt++) {
    for (let x = 0; x < 2 * n; x++) {
      const v = ySucc0[x];
      ySucc[x] = v >= 0 && cutEdges.size && cutEdges.has((x >> 1) * 65536 + v) ? -1 : v;
    }
    // (a cut first successor leaves the second first, as a filter would)
    for (let u = 0; u < n; u++) if (ySucc[2 * u] < 0) { ySucc[2 * u] = ySucc[2 * u + 1]; ySucc[2 * u + 1] = -1; }
    yPredStart.fill(0, 0, n + 1);
    for (let x = 0; x < 2 * n; x++) if (ySucc[x] >= 0) yPredStart[ySucc[x] + 1]++;
    for (let v = 0; v < n; v++) yPredStart[v + 1] += yPredStart[v];
    for (let v = 0; v < n; v++) yWork[v] = yPredStart[v];
    for (let u = 0; u < n; u++)
      for (let k = 2 * u; k < 2 * u + 2; k++) { const v = ySucc[k]; if (v >= 0) yPreds[yWork[v]++] = u; }
    // Reverse postorder from the entry (iterative DFS), and the retreating edges met.
    let np = 0, sp = 0;
    yState.fill(0, 0, n); retreat.length = 0;
    yStackU[sp] = e; yStackK[sp++] = 0; yState[e] = 1;
    while (sp) {
      const u = yStackU[sp - 1], k = yStackK[sp - 1];
      if (k < 2 && ySucc[2 * u + k] >= 0) {
        yStackK[sp - 1]++;
        const v = ySucc[2 * u + k];
        if (yState[v] === 0) { yState[v] = 1; yStackU[sp] = v; yStackK[sp++] = 0; }
        else if (yState[v] === 1) retreat.push(u, v);
      } else { yState[u] = 2; yPost[np++] = u; sp--; }
    }
    yRpoNum.fill(-1, 0, n);
    for (let x = 0; x < np; x++) { yRpo[x] = yPost[np - 1 - x]; yRpoNum[yRpo[x]] = x; }
    // Immediate dominators (Cooper, Harvey, Kennedy).
    yIdom.fill(-1, 0, n);
    yIdom[e] = e;
    for (let changed = true; changed;) {
      changed = false;
      for (let x = 0; x < np; x++) {
        const u = yRpo[x];
        if (u === e) continue;
        let d = -1;
        for (let q = yPredStart[u]; q < yPredStart[u + 1]; q++) {
          const p = yPreds[q];
          if (yIdom[p] < 0) continue;
          if (d < 0) { d = p; continue; }
          let a = p, b = d;
          while (a !== b) {
            while (yRpoNum[a] > yRpoNum[b]) a = yIdom[a]; while (yRpoNum[b] > yRpoNum[a]) b = yIdom[b];
          }
          d = a;
        }
        if (d >= 0 && yIdom[u] !== d) { yIdom[u] = d; changed = true; }
      }
    }
    let bad = false;
    for (let r = 0; r < retreat.length; r += 2) if (!dominatesIn(yIdom, e, retreat[r + 1], retreat[r])) bad = true;
    // irreducible: exits there
    if (bad) {
      for (let r = 0; r < retreat.length; r += 2) {
        if (attempt || !dominatesIn(yIdom, e, retreat[r + 1], retreat[r]))
          cutEdges.add(retreat[r] * 65536 + retreat[r + 1]);
      }
      continue;
    }
    // Natural loops, one per header: membership in a bit row per loop.
    yHid.fill(-1, 0, n);
    let nh = 0;
    const heads: number[] = [];
    for (let r = 0; r < retreat.length; r += 2) {
      const h = retreat[r + 1]; if (yHid[h] < 0) { yHid[h] = nh++; heads.push(h); }
    }
    if (yInLoop.length < nh * n) yInLoop = new Uint8Array(Math.max(nh * n, 2 * yInLoop.length));
    yInLoop.fill(0, 0, nh * n); ySize.fill(0, 0, nh);
    for (let r = 0; r < retreat.length; r += 2) {
      const h = retreat[r + 1], row = yHid[h] * n;
      if (!yInLoop[row + h]) { yInLoop[row + h] = 1; ySize[yHid[h]]++; }
      let wp = 0;
      yWork[wp++] = retreat[r];
      while (wp) {
        const x = yWork[--wp]; if (yInLoop[row + x]) continue; yInLoop[row + x] = 1; ySize[yHid[h]]++;
        // (a block is pushed at most once per edge into it: the stack holds 2n + 1)
        for (let q = yPredStart[x]; q < yPredStart[x + 1]; q++) if (yRpoNum[yPreds[q]] >= 0) yWork[wp++] = yPreds[q];
      }
    }
    for (let x = 0; x < 2 * n; x++) {
      const u = x >> 1, v = ySucc[x];
      yBack[x] = v >= 0 && yHid[v] >= 0 && yInLoop[yHid[v] * n + u] === 1 && dominatesIn(yIdom, e, v, u) ? 1 : 0;
    }
    // Place blocks: a block is yReady when its forward predecessors are yPlaced; only blocks of the innermost
    // open loop are taken while it has some yLeft; the fall-through of the last block first, else the lowest.
    yNeed.fill(0, 0, n);
    for (let x = 0; x < np; x++) {
      const u = yRpo[x];
      for (let k = 2 * u; k < 2 * u + 2; k++) if (ySucc[k] >= 0 && !yBack[k]) yNeed[ySucc[k]]++;
    }
    yPlaced.fill(0, 0, n); yReady.fill(0, 0, n); yReady[e] = 1;
    const order: number[] = [], open: number[] = [];
    for (let h = 0; h < nh; h++) yLeft[h] = ySize[h];
    let ok = true;
    while (order.length < np) {
      while (open.length && yLeft[open[open.length - 1]] === 0) open.pop();
      const inner = open.length ? open[open.length - 1] * n : -1;
      let pick = -1;
      const last = order.length ? order[order.length - 1] : -1;
      if (last >= 0) {
        const a = yJccFt[last], b = yFtOf[last];
        if (a >= 0 && yReady[a] && (inner < 0 || yInLoop[inner + a])) pick = a;
        else if (b >= 0 && yReady[b] && (inner < 0 || yInLoop[inner + b])) pick = b;
      }
      if (pick < 0) for (let v = 0; v < n; v++) if (yReady[v] && (inner < 0 || yInLoop[inner + v])) { pick = v; break; }
      if (pick < 0) { ok = false; break; }
      yReady[pick] = 0; yPlaced[pick] = 1; order.push(pick);
      for (let h = 0; h < nh; h++) if (yInLoop[h * n + pick]) yLeft[h]--;
      if (yHid[pick] >= 0) open.push(yHid[pick]);
      for (let k = 2 * pick; k < 2 * pick + 2; k++)
        if (ySucc[k] >= 0 && !yBack[k] && --yNeed[ySucc[k]] === 0) yReady[ySucc[k]] = 1;
    }
    if (!ok) {
      for (let r = 0; r < retreat.length; r += 2) cutEdges.add(retreat[r] * 65536 + retreat[r + 1]); continue;
    }
    yPos.fill(-1, 0, n);
    for (let p = 0; p < order.length; p++) yPos[order[p]] = p;
    const loopEnd: number[] = new Array(order.length).fill(-1), scope: number[] = new Array(order.length).fill(-1);
    // The innermost loop of each block: the smallest body that holds it (a header's own loop excluded for its
    // label): outer loops first (a stable order by ySize, largest first).
    const byOuter = heads.map((_, x) => x).sort((a, b) => ySize[b] - ySize[a]);
    for (const hh of byOuter) {
      const h = heads[hh], row = hh * n;
      let lo = n, hi = -1;
      for (let x = 0; x < n; x++) {
        if (!yInLoop[row + x]) continue;
        const p = yPos[x];
        if (p > hi) hi = p;
        if (p < lo) lo = p;
        if (x !== h) scope[p] = yPos[h];
      }
      loopEnd[yPos[h]] = hi;
      // (loops contiguous: a check, as the emission relies on it)
      if (hi - lo + 1 !== ySize[hh] || lo !== yPos[h]) ok = false;
    }
    if (!ok) {
      for (let r = 0; r < retreat.length; r += 2) cutEdges.add(retreat[r] * 65536 + retreat[r + 1]); continue;
    }
    const cut = new Set<number>();
    for (const c of cutEdges) {
      const u = Math.floor(c / 65536), v = c % 65536;
      if (yPos[u] >= 0 && yPos[v] >= 0) cut.add(yPos[u] * 65536 + yPos[v]);
    }
    return { order, loopEnd, scope, cut };
  }
  throw new Error("jit: no layout for the region");
}

function dominatesIn(idom: Int32Array, e: number, h: number, u: number): boolean {
  for (;;) { if (u === h) return true; if (u === e || idom[u] < 0) return false; u = idom[u]; }
}

/** layout() as it was first written (Maps, Sets, closures): the reference tests/jit.test.ts compares it with. */
export function layoutReference(blocks: Block[], entry: number): Layout {
  const n = blocks.length;
  const index = new Map<number, number>();
  blocks.forEach((b, i) => index.set(b.start, i));
  const e = index.get(entry)!;
  const succ0 = successors(blocks, index);
  const cutEdges = new Set<number>(); // block indices
  for (let attempt = 0; attempt < 4; attempt++) {
    const succ = succ0.map((ss, u) => ss.filter((v) => !cutEdges.has(u * 65536 + v)));
    const preds: number[][] = blocks.map(() => []);
    succ.forEach((ss, u) => ss.forEach((v) => preds[v].push(u)));
    // Reverse postorder from the entry (iterative DFS), and the retreating edges met.
    const post: number[] = [], state = new Uint8Array(n), retreat: [number, number][] = [];
    const stack: [number, number][] = [[e, 0]];
    state[e] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [u, k] = top;
      if (k < succ[u].length) {
        top[1]++;
        const v = succ[u][k];
        if (state[v] === 0) { state[v] = 1; stack.push([v, 0]); }
        else if (state[v] === 1) retreat.push([u, v]);
      } else { state[u] = 2; post.push(u); stack.pop(); }
    }
    const rpo = post.reverse();
    const rpoNum = new Int32Array(n).fill(-1);
    rpo.forEach((u, i) => (rpoNum[u] = i));
    // Immediate dominators (Cooper, Harvey, Kennedy).
    const idom = new Int32Array(n).fill(-1);
    idom[e] = e;
    for (let changed = true; changed;) {
      changed = false;
      for (const u of rpo) {
        if (u === e) continue;
        let d = -1;
        for (const p of preds[u]) {
          if (idom[p] < 0) continue;
          if (d < 0) { d = p; continue; }
          let a = p, b = d;
          while (a !== b) { while (rpoNum[a] > rpoNum[b]) a = idom[a]; while (rpoNum[b] > rpoNum[a]) b = idom[b]; }
          d = a;
        }
        if (d >= 0 && idom[u] !== d) { idom[u] = d; changed = true; }
      }
    }
    const dominates = (h: number, u: number) => {
      for (;;) { if (u === h) return true; if (u === e || idom[u] < 0) return false; u = idom[u]; }
    };
    const bad = retreat.filter(([u, v]) => !dominates(v, u));
    // irreducible: exits there
    if (bad.length) { for (const [u, v] of attempt ? retreat : bad) cutEdges.add(u * 65536 + v); continue; }
    // Natural loops, one per header.
    const body = new Map<number, Set<number>>();
    for (const [u, h] of retreat) {
      let set = body.get(h);
      if (!set) body.set(h, (set = new Set([h])));
      const work = [u];
      while (work.length) {
        const x = work.pop()!; if (set.has(x)) continue; set.add(x);
        for (const p of preds[x]) if (rpoNum[p] >= 0) work.push(p);
      }
    }
    const isBack = (u: number, v: number) => body.has(v) && body.get(v)!.has(u) && dominates(v, u);
    // Place blocks: a block is ready when its forward predecessors are placed; only blocks of the innermost
    // open loop are taken while it has some left; the fall-through of the last block first, else the lowest.
    const reach = rpo; // the blocks reachable from the entry
    const need = new Int32Array(n);
    for (const u of reach) for (const v of succ[u]) if (!isBack(u, v)) need[v]++;
    const placed = new Uint8Array(n), ready = new Set<number>([e]);
    const order: number[] = [], open: number[] = [];
    // The loops each block is in (their headers), and how many blocks of each loop are still to place.
    const loopsOf: number[][] = [];
    const left = new Int32Array(n);
    for (const [h, set] of body) { left[h] = set.size; for (const x of set) (loopsOf[x] ??= []).push(h); }
    let ok = true;
    while (order.length < reach.length) {
      while (open.length && left[open[open.length - 1]] === 0) open.pop();
      const inner = open.length ? body.get(open[open.length - 1])! : null;
      let pick = -1;
      const last = order.length ? order[order.length - 1] : -1;
      const ft = last >= 0 && blocks[last].next !== null ? index.get(blocks[last].next!) : undefined;
      const lastI = last >= 0 ? blocks[last].insns[blocks[last].insns.length - 1] : null;
      const jccFt =
        lastI && lastI.form >= F.JCC && lastI.form < F.JCC + 16 ? index.get(lastI.off + lastI.len) : undefined;
      for (const cand of [jccFt, ft])
        if (pick < 0 && cand !== undefined && ready.has(cand) && (!inner || inner.has(cand))) pick = cand;
      if (pick < 0) for (const v of ready) if ((!inner || inner.has(v)) && (pick < 0 || v < pick)) pick = v;
      if (pick < 0) { ok = false; break; }
      ready.delete(pick); placed[pick] = 1; order.push(pick);
      const ls = loopsOf[pick];
      if (ls) for (const h of ls) left[h]--;
      if (body.has(pick)) open.push(pick);
      for (const v of succ[pick]) if (!isBack(pick, v) && --need[v] === 0) ready.add(v);
    }
    if (!ok) { for (const [u, v] of retreat) cutEdges.add(u * 65536 + v); continue; }
    const pos = new Int32Array(n).fill(-1);
    order.forEach((b, p) => (pos[b] = p));
    const loopEnd = order.map(() => -1), scope = order.map(() => -1);
    // The innermost loop of each block: the smallest body that holds it (a header's own loop excluded for its label).
    const headers = [...body.keys()].sort((a, b) => body.get(b)!.size - body.get(a)!.size); // outer first
    for (const h of headers) {
      const ps = [...body.get(h)!].map((x) => pos[x]);
      loopEnd[pos[h]] = Math.max(...ps);
      for (const x of body.get(h)!) if (x !== h) scope[pos[x]] = pos[h];
    }
    // (loops contiguous: a check, as the emission relies on it)
    for (const h of headers) {
      const ps = [...body.get(h)!].map((x) => pos[x]);
      if (Math.max(...ps) - Math.min(...ps) + 1 !== ps.length || Math.min(...ps) !== pos[h]) { ok = false; break; }
    }
    if (!ok) { for (const [u, v] of retreat) cutEdges.add(u * 65536 + v); continue; }
    const cut = new Set<number>();
    for (const c of cutEdges) {
      const u = Math.floor(c / 65536), v = c % 65536; if (pos[u] >= 0 && pos[v] >= 0) cut.add(pos[u] * 65536 + pos[v]);
    }
    return { order, loopEnd, scope, cut };
  }
  throw new Error("jit: no layout for the region");
}

// ---- the lazy-flag state across blocks ----
// Interned states (a state is compared by its fields; one object per kind and size saves allocations).
const STATES: FlagState[] = [];
function state(op: number, size: number): FlagState {
  const k = op * 16 + size;
  return STATES[k] ?? (STATES[k] = { op, size });
}
/** No change to the flag state (the instruction neither sets nor consumes the kind). */
const KEEP = { op: -2, size: -2 } as const;

/** The operand size of a fast form (8 for the 64-bit ones, else 4): from a table made by formSize0. */
function formSize(f: number): number { return f >= 0 && f < 256 ? FORM_SIZE[f] : 4; }
function formSize0(f: number): number {
  return (f === F.MOV_RR64 || f === F.MOV_RI64 || f === F.LEA64 || f === F.LD64 || f === F.ALU_RM64 ||
    f === F.CMP_MR64 || f === F.CMP_MI64 || f === F.SHL64 || f === F.SHR64 || f === F.SAR64 || f === F.CMOV64 ||
    f === F.TEST_RR64 || f === F.TEST_RI64 || f === F.INC64 || f === F.DEC64 || f === F.DIV64 ||
    (f >= F.RR64 && f < F.RR64 + 8) || (f >= F.RI64 && f < F.RI64 + 8) || f === F.INC_M64 || f === F.DEC_M64 ||
    f === F.XCHG_M64 || f === F.ALU_MR64 || f === F.NOT64 || f === F.ST64 || f === F.STI64) ? 8 : 4;
}
const FORM_SIZE = new Uint8Array(256);
for (let f = 0; f < 256; f++) FORM_SIZE[f] = formSize0(f);

/** The state an x86 ALU operation `kind` (0 ADD .. 7 CMP) leaves (ADC/SBB: only the locals know). */
function aluState(kind: number, size: number): FlagState {
  switch (kind) {
    case 0: return state(LF_ADD, size);
    case 1: case 4: case 6: return state(LF_LOGIC, size);
    case 5: case 7: return state(LF_SUB, size);
    default: return null;
  }
}

/**
 * The lazy-flag state after instruction `i` (general-path kind `gk`) entered in state `st`, as its
 * translation in translateWith leaves it, or KEEP: the instruction does not touch it. translateWith checks
 * its own result against this at every instruction, so the two cannot drift apart unseen.
 */
function flagStep(i: Insn, gk: string | null, st: FlagState, is64: boolean): FlagState | typeof KEEP {
  const f = i.form;
  if (gk !== null) {
    switch (gk) {
      case "rot": {
        const sz = i.os!, cm = sz === 8 ? 0x3f : 0x1f;
        const stat = i.op === 0xd3 ? null : i.op === 0xd1 ? 1 : Number(i.imm & 0xffn) & cm;
        if (stat === 0) return KEEP;
        if (stat === null && !(st && st.op === LF_NONE)) return null;
        return state(LF_NONE, sz);
      }
      case "shcl": return null;
      case "testal": case "test8i": return aluState(4, 1);
      case "cmpal": return aluState(7, 1);
      case "alu8i": case "alu8mi": return aluState(i.reg! & 7, 1);
      case "alu8rr": case "alu8rm": case "alu8mr": return aluState((i.op! >> 3) & 7, 1);
      case "neg": return state(LF_SUB, i.os!);
      case "testmi": return aluState(4, i.op === 0xf6 ? 1 : i.os!);
      case "testmr": return aluState(4, i.op === 0x84 ? 1 : i.os!);
      case "alumi": return aluState(i.reg! & 7, i.os!);
      case "pushf": return st && st.op === LF_NONE ? KEEP : state(LF_NONE, is64 ? 8 : 4);
      case "core": return coreRun(i, is64)!.fl ? state(LF_NONE, 8) : KEEP;
      case "shd": {
        const sz = i.os!;
        if ((i.op! & 1) !== 0) return null;
        const stat = (i.imm & 0xffn) & (sz === 8 ? 63n : 31n);
        return stat === 0n ? KEEP : state(LF_CFOF, sz);
      }
      default: return KEEP;
    }
  }
  const size = formSize(f);
  if (f === F.IMUL_RR64 || f === F.IMUL_RRI64 || f === F.MUL64) return state(LF_CFOF, 8);
  if (f === F.IMUL_RR32 || f === F.IMUL_RRI32 || f === F.MUL32) return state(LF_CFOF, 4);
  if (f === F.ALU_RM32 || f === F.ALU_RM64 || f === F.ALU_MR32 || f === F.ALU_MR64) return aluState(i.aux, size);
  if (f === F.CMP_MR32 || f === F.CMP_MR64 || f === F.CMP_MI32 || f === F.CMP_MI64) return aluState(7, size);
  if (f === F.CMP_MI8 || f === F.TEST_RR8) return aluState(f === F.CMP_MI8 ? 7 : 4, 1);
  if (f >= F.SHL32 && f <= F.SAR64) return state(LF_CFOF, size);
  if (f === F.TEST_RR32 || f === F.TEST_RR64 || f === F.TEST_RI32 || f === F.TEST_RI64) return aluState(4, size);
  if ((f >= F.INC32 && f <= F.DEC64) || (f >= F.INC_M32 && f <= F.DEC_M64)) {
    return state(f === F.DEC32 || f === F.DEC64 || f === F.DEC_M32 || f === F.DEC_M64 ? LF_DEC : LF_INC, size);
  }
  if (f >= F.RR32 && f < F.RR32 + 8) return aluState(f - F.RR32, size);
  if (f >= F.RR64 && f < F.RR64 + 8) return aluState(f - F.RR64, size);
  if (f >= F.RI32 && f < F.RI32 + 8) return aluState(f - F.RI32, size);
  if (f >= F.RI64 && f < F.RI64 + 8) return aluState(f - F.RI64, size);
  if (f === F.CMPXCHG_M32 || f === F.CMPXCHG_M64) return aluState(7, f === F.CMPXCHG_M64 ? 8 : 4);
  if (f === F.XADD_M32 || f === F.XADD_M64) return aluState(0, f === F.XADD_M64 ? 8 : 4);
  if (f >= F.BT_RR32 && f <= F.BT_MI64) return state(LF_NONE, (f - F.BT_RR32) % 2 ? 8 : 4);
  if (f >= F.BSF32 && f <= F.BSR64) return state(LF_NONE, (f - F.BSF32) % 2 ? 8 : 4);
  return KEEP;
}

/** What the flag-state pass needs of a translation: each block's in-page successors taken as branches
 *  inside the function (edges), the state each block leaves when entered in an unknown state (out), and
 *  whether it sets one at all (touched). */
interface Flow { edges: number[]; out: FlagState[]; touched: boolean[]; gk?: GkTable } // edges: pairs from, to
/** Each instruction's general-path kind (generalKind), block by block: block b's instruction n at
 *  kinds[first[b] + n] (up to its untranslated end). */
interface GkTable { kinds: (string | null)[]; first: Int32Array }

/** The Flow of `blocks` (in layout order) without translating them: the structure translateWith opens
 *  (the same labels, so the same branches become exits), and flagStep per instruction from an unknown
 *  state. (translateWith's own edges are checked against these.) */
function flow(blocks: Block[], lay: Layout, is64: boolean): Flow {
  const k = blocks.length;
  const index = new Map<number, number>();
  for (let b = 0; b < k; b++) index.set(blocks[b].start, b);
  const edges: number[] = [], out: FlagState[] = new Array(k), touched: boolean[] = new Array(k);
  const gk: GkTable = { kinds: [], first: new Int32Array(k) };
  const LOOP = 1 << 20;
  const labels: number[] = [-1];
  const openLabels = (sc: number) => {
    for (let p = k - 1; p > (sc < 0 ? 0 : sc); p--) if (lay.scope[p] === sc) labels.push(p);
  };
  openLabels(-1);
  for (let bi = 0; bi < k; bi++) {
    if (bi > 0) labels.pop();
    if (lay.loopEnd[bi] >= 0) { labels.push(LOOP + bi); openLabels(bi); }
    const blk = blocks[bi];
    let st: FlagState = null, tc = false;
    const n = blk.insns.length;
    gk.first[bi] = gk.kinds.length;
    for (let idx = 0; idx < n; idx++) {
      const i = blk.insns[idx];
      const f = i.form;
      if (f === -1) break;
      const g = generalKind(i);
      gk.kinds.push(g);
      const s = flagStep(i, g, st, is64);
      if (s !== KEEP) { st = s as FlagState; tc = true; }
      if (f === F.JMP || f === F.CALL || (f >= F.JCC && f < F.JCC + 16)) {
        const t = i.off + i.len + signed64(i.imm);
        if (t >= 0 && t < 0x1000) flowGoTo(t, bi, index, lay, labels, edges);
        if (f >= F.JCC) {
          const ft = i.off + i.len;
          if (index.get(ft) === bi + 1) edges.push(bi, bi + 1); else flowGoTo(ft, bi, index, lay, labels, edges);
        }
      } else if (idx === n - 1 && f !== F.RET) {
        if (blk.next !== null && index.get(blk.next) !== bi + 1) flowGoTo(blk.next, bi, index, lay, labels, edges);
        else if (blk.next !== null) edges.push(bi, bi + 1);
      }
    }
    out[bi] = st; touched[bi] = tc;
    while (
      labels.length > 1 && labels[labels.length - 1] >= LOOP && lay.loopEnd[labels[labels.length - 1] - LOOP] === bi
    ) labels.pop();
  }
  return { edges, out, touched, gk };
}

// flow()'s branch from block bi to page offset `off`: an edge when the target is a block whose label (or loop)
// is open there and layout() did not cut it.
function flowGoTo(off: number, bi: number, index: Map<number, number>, lay: Layout, labels: number[], edges: number[]) {
  const t = index.get(off);
  if (t === undefined || lay.cut.has(bi * 65536 + t) || labels.lastIndexOf(t > bi ? t : FLOW_LOOP + t) < 0) return;
  edges.push(bi, t);
}
const FLOW_LOOP = 1 << 20;

/** Each block's start state from a region's Flow: a forward pass to a fixed point (null: unknown), or
 *  null when no block starts known (or the pass did not settle: nothing assumed). */
function startStates(blocks: Block[], entry: number, first: Flow): FlagState[] | null {
  const n = blocks.length, edges = first.edges;
  const inSt: FlagState[] = new Array(n);
  let e = -1;
  for (let b = 0; b < n; b++) { inSt[b] = SS_TOP; if (e < 0 && blocks[b].start === entry) e = b; }
  let changed = true;
  for (let rounds = 0; changed && rounds < 64; rounds++) {
    changed = false;
    for (let b = 0; b < n; b++) {
      let v: FlagState = b === e ? null : SS_TOP; // the region's entry: whatever the run loop had
      // (the predecessors in edge order: the edges into b)
      for (let x = 1; x < edges.length; x += 2) {
        if (edges[x] !== b) continue;
        const p = edges[x - 1];
        const o = first.touched[p] ? first.out[p] : inSt[p];
        if (o === SS_TOP) continue;
        v = v === SS_TOP ? o : sameState(v, o) ? v : null;
      }
      if (!sameState(v, inSt[b])) { inSt[b] = v; changed = true; }
    }
  }
  if (changed) return null;
  let any = false;
  for (let b = 0; b < n; b++) { if (inSt[b] === SS_TOP) inSt[b] = null; else if (inSt[b] !== null) any = true; }
  return any ? inSt : null;
}
const SS_TOP: FlagState = { op: -1, size: -1 }; // (startStates: not reached yet)

/**
 * Translates a region into a function definition. `mode`: the CPU mode the region is compiled for
 * (cpu/state.ts MODE_*); `chain`: the runtime has tail calls, so a branch exit whose target has a current
 * region goes straight into it.
 *
 * The lazy-flag kind at each block's start is found by a forward pass over the region's control flow (a
 * block that sets no flags passes on what it got; where predecessors disagree, or at the region's entry,
 * only the locals know): a condition or carry after a block boundary is then computed inline too. The
 * pass works on each block's successors and the flag state it leaves from an unknown start (flow(), no
 * code made); the region is then translated once, with the states found.
 */
/** `page`: the host address of the region's page (instructions the core runs for the region, "ssex", are
 * named by it; without it they exit). */
export function translate(
  blocks0: Block[], entry: number, is64: boolean, name: string, mode = 0, chain = false, page?: number
): FuncDef {
  const lay = layout(blocks0, entry);
  const blocks = lay.order.map((b) => blocks0[b]);
  const fl = flow(blocks, lay, is64);
  const known = startStates(blocks, entry, fl);
  const t =
    translateWith(blocks, entry, is64, name, mode, chain, known ?? blocks.map(() => null), lay, undefined, page, fl.gk);
  if (!sameEdges(t.edges, fl.edges)) throw new Error("jit: the flag-state pass saw other edges than the translation");
  return t.def;
}

function sameEdges(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let n = 0; n < a.length; n++) if (a[n] !== b[n]) return false;
  return true;
}

/** The reference for translate() (tests/jitrecord.test.ts compares their bytes): the region translated
 *  with every block starting unknown, its edges and end states taken from that translation, then again
 *  with the states found (the blocks still starting unknown copied from the first). */
export function translateReference(
  blocks0: Block[], entry: number, is64: boolean, name: string, mode = 0, chain = false, page?: number
): FuncDef {
  const lay = layout(blocks0, entry);
  const blocks = lay.order.map((b) => blocks0[b]);
  const first = translateWith(blocks, entry, is64, name, mode, chain, blocks.map(() => null), lay, undefined, page);
  const known = startStates(blocks, entry, first);
  if (!known) return first.def;
  return translateWith(blocks, entry, is64, name, mode, chain, known, lay, first, page).def;
}

interface Translation {
  def: FuncDef; edges: number[]; out: FlagState[]; touched: boolean[]; seg: [number, number][]; regs: number;
  written: number; code: Uint8Array
}

// ---- the translation of one region ----
// Its state lives in these module variables and its helpers are plain functions of the module (set by
// translateWith, one region at a time): as closures made inside translateWith for each region, V8 took
// 4.7 s (a background thread's CPU) to optimize translateWith, whose first thousands of regions ran in
// baseline code meanwhile; the names are those the closures had.
let c: RegCode = SCRATCH1;
let is64 = false, entry = 0, page: number | undefined = undefined;
let lay: Layout = { order: [], loopEnd: [], scope: [], cut: new Set() };
let inSt: FlagState[] = [], index = new Map<number, number>(), k = 0;
let edges: number[] = [], touched: boolean[] = []; // (edges: pairs from, to)
let written = 0; // registers written (bit r)
// Structure (see layout()): the labels open, innermost last: $exit (-1), a block's label (its position),
// a loop (its header's position + LOOP).
const LOOP = 1 << 20, EXIT = -1;
let labels: number[] = [EXIT];
// The block being translated.
let bi = 0, blk: Block = { start: 0, insns: [], next: null }, L = 0;
let st: FlagState = null;
// A block entered in an unknown state writes a kind it learns to the locals before each branch to
// another block, whatever that block's start state (its code is the same as when every block starts
// unknown: translateReference copies it from there).
let unknownStart = true;
let extra = 0; // control structures opened inside the block
let exitOff = 0; // (exitAt's RIP: an exit without a closure per exit)
let aluOp: Op = Op.i64_add, aluW32 = false; // (alu()'s operation, for aluRes)
let SW = 8; // stack slot
let curI: Insn = blk.insns[0]; // the instruction being translated

const openLabels = (sc: number) => { // the labels of the blocks whose label opens at scope `sc`, last first
  for (let p = k - 1; p > (sc < 0 ? 0 : sc); p--) if (lay.scope[p] === sc) { c.block(); labels.push(p); }
};
const closeLoops = (bi: number) => { // loops that end with block bi, innermost first
  while (
    labels.length > 1 && labels[labels.length - 1] >= LOOP && lay.loopEnd[labels[labels.length - 1] - LOOP] === bi
  ) { c.end(); labels.pop(); }
};
const depth = (label: number) => {
  const at = labels.lastIndexOf(label); return at < 0 ? -1 : labels.length - 1 - at + extra;
};
const dExit = () => labels.length - 1 + extra; // depth of $exit
const linOf = (off: number) => { c.get(L_IP); if (off !== entry) c.i64(off - entry).op(Op.i64_add); };
// Leave the function: RIP from `ip` (emits the i64), reason, `retired` instructions of this block done.
// The lazy-flag kind lives in L_FOP/L_FSZ only where the translator does not know it (st null):
// written where code that reads them follows (an exit, a block entered in an unknown state, an
// instruction that leaves the state to a run-time condition), so a loop with known states keeps
// neither live.
// The lazy result (unmasked as the ALU left it, or masked: readers mask).
const fres = (s: FlagState) => {
  if (s && derived(s.op)) c.get(L_FA).get(L_FB).op(s.op === LF_ADD || s.op === LF_INC ? Op.i64_add : Op.i64_sub);
  else c.get(L_FRES);
};
const sync = () => {
  if (!st) return;
  c.i32(st.op).set(L_FOP).i32(st.size).set(L_FSZ);
  if (derived(st.op)) { fres(st); if (st.size !== 8) c.i64(maskC(st.size)).op(Op.i64_and); c.set(L_FRES); }
};
const exit = (ip: () => void, reason: number, retired: number) => {
  sync();
  ip(); c.set(L_XIP);
  c.i32(reason).set(L_XR);
  if (L - retired) c.get(L_N).i32(L - retired).op(Op.i32_sub).set(L_N);
  c.br(dExit());
};
// An exit with RIP at page offset `off` (without a closure per exit).
const ipAtOff = () => linOf(exitOff);
const exitAt = (off: number, reason: number, retired: number) => { exitOff = off; exit(ipAtOff, reason, retired); };
const goTo = (off: number, retired: number) => { // a branch inside the page (all of the block retired)
  const t = index.get(off);
  // a later block's label, or the loop of an earlier one (a back edge); an edge cut by layout(): exit
  const d = t === undefined || lay.cut.has(bi * 65536 + t) ? -1 : depth(t > bi ? t : LOOP + t);
  if (d < 0) { exitAt(off, MM.JEXIT_BRANCH, retired); return; }
  edges.push(bi, t!);
  if (unknownStart || inSt[t!] === null) sync();
  c.br(d);
};

// ---- operand helpers ----
const rd = (addr: number, size: number) => { // register value, zero-extended
  const r = regOf(addr);
  if (r < 0) { c.i64(0); return; }
  c.get(L_R0 + (r >> 3));
  if (r & 7) c.i64((r & 7) * 8).op(Op.i64_shr_u);
  if (size === 4) c.op(Op.i32_wrap_i64).op(Op.i64_extend_i32_u);
  else if (size !== 8) c.i64(maskC(size)).op(Op.i64_and);
};
const wr = (addr: number, size: number, val: () => void) => { // size 4: zero-extends; 8: whole
  const r = regOf(addr);
  if (r < 0) throw new Error("jit: a write to no register");
  const l = L_R0 + (r >> 3);
  written |= 1 << (r >> 3);
  if (size === 8) { val(); c.set(l); return; }
  if (size === 4) { val(); c.op(Op.i32_wrap_i64).op(Op.i64_extend_i32_u).set(l); return; }
  // byte (or byte 1 = AH..BH)
  const sh = (r & 7) * 8;
  c.get(l).i64(~(0xff << sh)).op(Op.i64_and);
  val(); c.i64(0xff).op(Op.i64_and);
  if (sh) c.i64(sh).op(Op.i64_shl);
  c.op(Op.i64_or).set(l);
};
const ea = (i: Insn) => {
  c.i64(i.disp);
  const b = regOf(i.base), x = regOf(i.index);
  if (b >= 0) c.get(L_R0 + (b >> 3)).op(Op.i64_add);
  if (x >= 0) { c.get(L_R0 + (x >> 3)); if (i.scale) c.i64(i.scale).op(Op.i64_shl); c.op(Op.i64_add); }
  if (i.ax! & 1) { linOf(i.off + i.len); c.op(Op.i64_add); }
  if (i.ax! & 6) {
    c.i32(0).mem(
      Op.i64_load, MM.CPU_STATE + MM.CPU_SEG + (i.ax! & 2 ? MM.SEG_FS : MM.SEG_GS) * MM.SEG_SIZE + MM.SEGF_BASE, 3
    ).op(Op.i64_add);
  }
  if (!is64) c.i64(0xffffffffn).op(Op.i64_and);
};
// Probe `size` bytes at the address in T1; P = host address, or exit before instruction `idx`.
// The TLB's fast path inline (mmu/tlb.ts rdProbe/wrProbe): the tag of the bank in use, and the access
// within the page.
const probe = (fn: number, size: number, i: Insn, idx: number) => {
  c.bytes(probeHead(fn, size)); extra += 2; // (two ifs open)
  exitAt(i.off, MM.JEXIT_MEMORY, idx);
  c.bytes(PROBE_TAIL); extra -= 2;
};
// A probe's code before its exit (the same bytes for the same function and size) and after it, made once.
const PROBE_HEADS: Uint8Array[] = [];
function probeHead(fn: number, size: number): Uint8Array {
  const key = fn * 16 + size;
  let h = PROBE_HEADS[key];
  if (h) return h;
  const c = new Code(128);
  c.get(L_T1).i64(12).op(Op.i64_shr_u).op(Op.i32_wrap_i64).i32(MM.TLB_ENTRIES - 1).op(Op.i32_and).set(L_I);
  // (the bank's addresses and tag base are read from memory where used: constants of the region that
  // would otherwise hold registers in every loop)
  c.get(L_I).i32(3).u8(0x74).i32(0).mem(Op.i32_load, MM.JIT_IO + (fn === FN_RD ? MM.JIO_RTAG : MM.JIO_WTAG), 2)
    .op(Op.i32_add).mem(Op.i64_load, 0, 3);
  c.get(L_T1).i64(12).op(Op.i64_shr_u).i64(1).op(Op.i64_shl).i32(0).mem(Op.i64_load, MM.JIT_IO + MM.JIO_TAGBASE, 3)
    .op(Op.i64_or).op(Op.i64_ne);
  if (size > 1)
    c.get(L_T1).op(Op.i32_wrap_i64).i32(0xfff).op(Op.i32_and).i32(0x1000 - size).op(Op.i32_gt_u).op(Op.i32_or);
  c.if_();
  // A miss: the core fills the TLB when a walk allows the access (jit_rd/jit_wr; a store beside code on
  // a code page is allowed too: the core invalidates the decoded instructions there), else exit.
  c.get(L_T1).i32(size).call(fn).tee(L_P).op(Op.i32_eqz).if_();
  return (PROBE_HEADS[key] = h = c.b.slice());
}
const PROBE_TAIL = ((c: Code) => {
  c.end();
  c.else_();
  c.get(L_I).i32(2).u8(0x74).i32(0).mem(Op.i32_load, MM.JIT_IO + MM.JIO_HOST, 2).op(Op.i32_add)
    .mem(Op.i32_load, 0, 2);
  c.get(L_T1).op(Op.i32_wrap_i64).i32(0xfff).op(Op.i32_and).op(Op.i32_add).set(L_P);
  c.end();
  return c.b.slice();
})(new Code(64));
const load = (size: number, signed = false) => {
  c.get(L_P);
  if (size === 8) c.mem(Op.i64_load, 0, 0);
  else if (size === 4) c.mem(signed ? Op.i64_load32_s : Op.i64_load32_u, 0, 0);
  else if (size === 2) c.mem(signed ? Op.i64_load16_s : Op.i64_load16_u, 0, 0);
  else c.mem(signed ? Op.i64_load8_s : Op.i64_load8_u, 0, 0);
};
const store = (size: number, val: () => void) => {
  c.get(L_P); val();
  c.mem(size === 8 ? Op.i64_store : size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : Op.i64_store8, 0, 0);
};
// The operation's result goes to L_RES. While the state is known, the flag locals hold only what the
// state needs: ADD/SUB/INC/DEC their operands (the result is recomputed where a flag needs it, and
// stored by sync()), LOGIC its result (CF OF AF are 0 whatever a and b were); fewer values live.
const setFlags = (op: number, size: number, a: () => void, b: () => void, res: () => void) => {
  if (op !== LF_LOGIC) { a(); c.set(L_FA); b(); c.set(L_FB); }
  res(); c.set(L_RES);
  if (!derived(op)) c.get(L_RES).set(L_FRES);
  st = { op, size };
  touched[bi] = true;
};
// ---- flags from the lazy state (pushes an i32 0/1) ----
// CF of INC/DEC states lives in L_FCF (RFLAGS.CF at entry; written back at exit).
const rflagsCF = () => { c.get(L_FCF); };
const helper = (cc: number) => {
  c.i32(cc); if (st) c.i32(st.op).i32(st.size); else c.get(L_FOP).get(L_FSZ);
  c.get(L_FA).get(L_FB); resArg(); c.get(L_FCF).call(FN_COND);
};
const masked = (l: number, size: number) => { c.get(l); if (size !== 8) c.i64(maskC(size)).op(Op.i64_and); };
const maskedRes = (s: FlagState & object) => { fres(s); if (s.size !== 8) c.i64(maskC(s.size)).op(Op.i64_and); };
const resArg = () => { if (st) maskedRes(st); else c.get(L_FRES); }; // for the core's helpers
const sx = (l: number, size: number) => { // sign-extended to 64 bits
  c.get(l);
  if (size === 4) c.op(Op.i64_extend32_s); else if (size === 2) c.op(Op.i64_extend16_s);
  else if (size === 1) c.op(Op.i64_extend8_s);
};
const flagCF = (s: { op: number; size: number }): boolean => {
  switch (s.op) {
    case LF_ADD: maskedRes(s); masked(L_FA, s.size); c.op(Op.i64_lt_u); return true;
    case LF_SUB: masked(L_FA, s.size); masked(L_FB, s.size); c.op(Op.i64_lt_u); return true;
    case LF_LOGIC: c.i32(0); return true;
    case LF_CFOF: c.get(L_FA).i64(0).op(Op.i64_ne); return true;
    case LF_INC: case LF_DEC: rflagsCF(); return true;
    case LF_NONE: rbit(0); return true;
  }
  return false;
};
const flagZF = (s: { op: number; size: number }) => { maskedRes(s); c.op(Op.i64_eqz); };
const flagSF = (s: { op: number; size: number }) => {
  fres(s); c.i64(signC(s.size)).op(Op.i64_and).i64(0).op(Op.i64_ne);
};
const flagOF = (s: { op: number; size: number }): boolean => {
  switch (s.op) {
    case LF_ADD: case LF_INC:
      c.get(L_FA); fres(s); c.op(Op.i64_xor).get(L_FB); fres(s); c.op(Op.i64_xor).op(Op.i64_and);
      c.i64(signC(s.size)).op(Op.i64_and).i64(0).op(Op.i64_ne); return true;
    case LF_SUB: case LF_DEC:
      c.get(L_FA).get(L_FB).op(Op.i64_xor).get(L_FA); fres(s); c.op(Op.i64_xor).op(Op.i64_and);
      c.i64(signC(s.size)).op(Op.i64_and).i64(0).op(Op.i64_ne); return true;
    case LF_LOGIC: c.i32(0); return true;
    case LF_CFOF: c.get(L_FB).i64(0).op(Op.i64_ne); return true;
  }
  return false;
};
// RFLAGS made current from the lazy state (the core's jit_flags), unless the state is LF_NONE already
// (the flags are in RFLAGS then); the caller moves the state to LF_NONE.
const rflagsCurrent = () => {
  if (st && st.op === LF_NONE) return;
  c.i32(0);
  if (st) c.i32(st.op).i32(st.size); else c.get(L_FOP).get(L_FSZ);
  c.get(L_FA).get(L_FB); resArg(); c.get(L_FCF).call(FN_FLAGS).mem(Op.i64_store, MM.CPU_STATE + MM.CPU_RFLAGS, 3);
};
// The arithmetic flags in RFLAGS (state LF_NONE: after a rotate): bit `b` of it, an i32 0/1.
const rbit = (b: number) => {
  c.i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).op(Op.i32_wrap_i64); if (b) c.i32(b).u8(0x76);
  c.i32(1).op(Op.i32_and);
};
const cond = (cc: number) => {
  const s = st;
  const neg = (cc & 1) !== 0;
  if (s && s.op === LF_NONE) {
    switch (cc >> 1) {
      case 0: rbit(11); break;
      case 1: rbit(0); break;
      case 2: rbit(6); break;
      case 3: rbit(0); rbit(6); c.op(Op.i32_or); break;
      case 4: rbit(7); break;
      case 5: rbit(2); break;
      case 6: rbit(7); rbit(11); c.op(Op.i32_ne); break;
      default: rbit(6); rbit(7); rbit(11); c.op(Op.i32_ne).op(Op.i32_or); break;
    }
    if (neg) c.op(Op.i32_eqz);
    return;
  }
  if (
    !s || (
      s.op !== LF_ADD && s.op !== LF_SUB && s.op !== LF_LOGIC && s.op !== LF_CFOF && s.op !== LF_INC
        && s.op !== LF_DEC
    )
  ) {
    helper(cc); return;
  }
  const kind = cc >> 1;
  if (s.op === LF_SUB && (kind === 1 || kind === 2 || kind === 3 || kind === 6 || kind === 7)) {
    // a and b hold the masked operands (alu masks them).
    if (kind === 6 || kind === 7) { sx(L_FA, s.size); sx(L_FB, s.size); } else { c.get(L_FA); c.get(L_FB); }
    c.op(SUB_CMP[kind][neg ? 1 : 0]);
    return;
  }
  switch (kind) {
    case 0: flagOF(s); break;
    case 1: flagCF(s); break;
    case 2: flagZF(s); break;
    case 3: flagCF(s); flagZF(s); c.op(Op.i32_or); break;
    case 4: flagSF(s); break;
    case 5: fres(s);
      c.op(Op.i32_wrap_i64).i32(0xff).op(Op.i32_and).op(Op.i32_popcnt).i32(1).op(Op.i32_and).op(Op.i32_eqz); break;
    case 6: flagSF(s); flagOF(s); c.op(Op.i32_ne); break;
    default: flagZF(s); flagSF(s); flagOF(s); c.op(Op.i32_ne).op(Op.i32_or); break;
  }
  if (neg) c.op(Op.i32_eqz);
};
// CF as it stands (for ADC/SBB and INC/DEC), an i32.
const carry = () => { const s = st; if (s && flagCF(s)) return; helper(2); };
// x86 ALU op `kind` of size on a (T2) and b (T3), both masked; result (masked) left in T2; flags set.
// (the operands and the result of alu(), made once per region)
const getT2 = () => { c.get(L_T2); }, getT3 = () => { c.get(L_T3); };
const getT1 = () => { c.get(L_T1); }, getT4 = () => { c.get(L_T4); }, getRes = () => { c.get(L_RES); };
const aluRes = () => {
  if (aluW32) c.get(L_T2).op(Op.i32_wrap_i64).get(L_T3).op(Op.i32_wrap_i64).op(I32[aluOp]!).op(Op.i64_extend_i32_u);
  else c.get(L_T2).get(L_T3).op(aluOp);
};
const alu = (kind: number, size: number) => {
  const m = maskC(size);
  // 32-bit operations in i32 (the result comes zero-extended, as the masked result: the flags derived
  // from it are the same), so that a dependent chain is one instruction per operation.
  const w32 = size === 4;
  aluW32 = w32;
  const narrow = w32 && kind !== 2 && kind !== 3; // FRES holds the masked result already
  switch (kind) {
    case 0: aluOp = Op.i64_add; setFlags(LF_ADD, size, getT2, getT3, aluRes); break;
    case 1: aluOp = Op.i64_or; setFlags(LF_LOGIC, size, getT2, getT3, aluRes); break;
    case 4: aluOp = Op.i64_and; setFlags(LF_LOGIC, size, getT2, getT3, aluRes); break;
    case 6: aluOp = Op.i64_xor; setFlags(LF_LOGIC, size, getT2, getT3, aluRes); break;
    case 5: case 7: aluOp = Op.i64_sub; setFlags(LF_SUB, size, getT2, getT3, aluRes); break;
    case 2: case 3: {
      // carry in -> P (i32)
      carry(); c.set(L_C);
      c.get(L_T2).set(L_FA).get(L_T3).set(L_FB);
      c.get(L_T2).get(L_T3).op(kind === 2 ? Op.i64_add : Op.i64_sub).get(L_C).op(Op.i64_extend_i32_u)
        .op(kind === 2 ? Op.i64_add : Op.i64_sub).set(L_FRES);
      c.i32(kind === 2 ? LF_ADC1 : LF_SBB1).i32(kind === 2 ? LF_ADD : LF_SUB).get(L_C).op(Op.select).set(L_FOP);
      c.i32(size).set(L_FSZ);
      st = null; touched[bi] = true;
      break;
    }
  }
  c.get(kind === 2 || kind === 3 ? L_FRES : L_RES); if (size !== 8 && !narrow) c.i64(m).op(Op.i64_and); c.set(L_T2);
};
// Local `l` masked to the operand size in L_FSZ (1, 2, 4 or 8 bytes, known at run time).
const sizeMasked = (l: number) => {
  c.get(l).i64(-1n).i64(1n).get(L_FSZ).i32(3).u8(0x74).op(Op.i64_extend_i32_u).op(Op.i64_shl).i64(1n)
    .op(Op.i64_sub).get(L_FSZ).i32(8).op(Op.i32_eq).op(Op.select).op(Op.i64_and);
};
const incdec = (dec: boolean, size: number, src: () => void, dst: () => void) => {
  // INC/DEC keep CF: make RFLAGS.CF current unless the state is INC/DEC already.
  const s = st;
  const setCF = () => { carry(); c.set(L_FCF); };
  if (s) { if (s.op !== LF_INC && s.op !== LF_DEC) setCF(); }
  else {
    // The state is known only at run time. SUB (CMP, SUB: the usual state at a loop's header whose back
    // edge comes from a compare) and LOGIC inline, the other operations through the core's helper.
    c.get(L_FOP).i32(LF_INC).op(Op.i32_sub).i32(2).op(Op.i32_ge_u).if_(); extra++;
    c.get(L_FOP).i32(LF_SUB).op(Op.i32_eq).if_(); extra++;
    sizeMasked(L_FA); sizeMasked(L_FB); c.op(Op.i64_lt_u).set(L_FCF);
    c.else_();
    c.get(L_FOP).i32(LF_LOGIC).op(Op.i32_eq).if_(); extra++;
    c.i32(0).set(L_FCF);
    c.else_();
    setCF();
    c.end(); extra--;
    c.end(); extra--;
    c.end(); extra--;
  }
  src(); c.set(L_T2);
  setFlags(dec ? LF_DEC : LF_INC, size, getT2, () => c.i64(1), () => {
    if (size === 4) c.get(L_T2).op(Op.i32_wrap_i64).i32(1).op(dec ? Op.i32_sub : Op.i32_add).op(Op.i64_extend_i32_u);
    else { c.get(L_T2).i64(1).op(dec ? Op.i64_sub : Op.i64_add); if (size !== 8) c.i64(maskC(size)).op(Op.i64_and); }
  });
  dst();
};
const canonicalOrExit = (i: Insn, idx: number) => { // the i64 in T1 must be canonical
  if (!is64) return;
  c.get(L_T1).i64(16).op(Op.i64_shl).i64(16).op(Op.i64_shr_s).get(L_T1).op(Op.i64_ne).if_(); extra++;
  exitAt(i.off, MM.JEXIT_SLOWFORM, idx);
  c.end(); extra--;
};
const rsp = L_R0 + 4;
const m32 = () => { if (!is64) c.i64(0xffffffffn).op(Op.i64_and); };
const reg8 = (r: number, rex: number): number =>
  MM.CPU_STATE + MM.CPU_REGS + (rex || r < 4 ? r << 3 : ((r - 4) << 3) + 1);
const RAX = MM.CPU_STATE + MM.CPU_REGS, RCX = RAX + 1 * 8, RDX = RAX + 2 * 8; // (registers in encoding order)
const nextIp = () => linOf(curI.off + curI.len);

// f === F.IMUL_RR64 || f === F.IMUL_RRI64
function fxIMULRR64(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(i.b, 8); c.set(L_T1); // a
  if (f === F.IMUL_RR64) rd(i.a, 8); else c.i64(i.imm);
  c.set(L_T2); // b
  c.get(L_T1).get(L_T2).op(Op.i64_mul).set(L_T3); // r
  // Signed overflow. Both operands below 2^32: the product is below 2^64, so it overflowed exactly
  // when its sign bit is set. Both fitting in 32 bits signed: never. Otherwise r / a != b (a = 0: none;
  // a = -1: only b = MIN). (A 64-bit division costs tens of cycles, and bignum code multiplies 32-bit
  // halves with IMUL r64 all the time.)
  c.get(L_T1).get(L_T2).op(Op.i64_or).i64(32).op(Op.i64_shr_u).op(Op.i64_eqz);
  c.if_().get(L_T3).i64(0).op(Op.i64_lt_s).set(L_C).else_();
  c.get(L_T1).get(L_T1).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s).op(Op.i64_eq);
  c.get(L_T2).get(L_T2).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s).op(Op.i64_eq).op(Op.i32_and);
  c.if_().i32(0).set(L_C).else_();
  c.get(L_T1).i64(-1).op(Op.i64_eq).if_();
  c.get(L_T2).i64(-(1n << 63n)).op(Op.i64_eq).set(L_C);
  c.else_();
  c.get(L_T1).op(Op.i64_eqz).if_().i32(0).set(L_C).else_();
  c.get(L_T3).get(L_T1).op(Op.i64_div_s).get(L_T2).op(Op.i64_ne).set(L_C);
  c.end().end();
  c.end().end();
  wr(i.a, 8, getT3);
  setFlags(
    LF_CFOF, 8, () => c.get(L_C).op(Op.i64_extend_i32_u), () => c.get(L_C).op(Op.i64_extend_i32_u), getT3
  );
}

// f === F.MOV_RR32 || f === F.MOV_RR64
function fxMOVRR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, size, () => rd(i.b, size));
}

// f === F.MOV_RI32 || f === F.MOV_RI64
function fxMOVRI32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, size, () => c.i64(i.imm));
}

// f === F.LEA32 || f === F.LEA64
function fxLEA32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, size, () => ea(i));
}

// f >= F.LD32 && f <= F.LDSX32_64
function fxLD32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const [as, sg, ds] = LOADS[f];
  ea(i); c.set(L_T1); probe(FN_RD, as, i, idx);
  wr(i.a, ds, () => load(as, sg));
}

// f >= F.ST8 && f <= F.STI64
function fxST8(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const as = 1 << ((f - F.ST8) & 3);
  ea(i); c.set(L_T1); probe(FN_WR, as, i, idx);
  if (f >= F.STI8) store(as, () => c.i64(i.imm)); else store(as, () => rd(i.b, 8));
}

// f === F.ALU_RM32 || f === F.ALU_RM64
function fxALURM32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  ea(i); c.set(L_T1); probe(FN_RD, size, i, idx);
  rd(i.a, size); c.set(L_T2); load(size); c.set(L_T3);
  alu(i.aux, size);
  if (i.aux !== 7) wr(i.a, size, getT2);
}

// f === F.CMP_MR32 || f === F.CMP_MR64
function fxCMPMR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  ea(i); c.set(L_T1); probe(FN_RD, size, i, idx);
  load(size); c.set(L_T2); rd(i.b, size); c.set(L_T3);
  alu(7, size);
}

// f === F.CMP_MI8 || f === F.CMP_MI32 || f === F.CMP_MI64
function fxCMPMI8(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const s = f === F.CMP_MI8 ? 1 : size;
  ea(i); c.set(L_T1); probe(FN_RD, s, i, idx);
  load(s); c.set(L_T2); c.i64(i.imm & mask(s)).set(L_T3);
  alu(7, s);
}

// f === F.MOVZX8R
function fxMOVZX8R(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 8, () => rd(i.b, 1));
}

// f === F.MOVZX16R
function fxMOVZX16R(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 8, () => rd(i.b, 2));
}

// f === F.MOVSX8R32
function fxMOVSX8R32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 4, () => { rd(i.b, 1); c.op(Op.i64_extend8_s); });
}

// f === F.MOVSX8R64
function fxMOVSX8R64(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 8, () => { rd(i.b, 1); c.op(Op.i64_extend8_s); });
}

// f === F.MOVSX16R32
function fxMOVSX16R32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 4, () => { rd(i.b, 2); c.op(Op.i64_extend16_s); });
}

// f === F.MOVSX16R64
function fxMOVSX16R64(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 8, () => { rd(i.b, 2); c.op(Op.i64_extend16_s); });
}

// f === F.MOVSXDR
function fxMOVSXDR(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 8, () => { rd(i.b, 4); c.op(Op.i64_extend32_s); });
}

// f >= F.SHL32 && f <= F.SAR64
function fxSHL32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const cnt = BigInt(i.aux), w = BigInt(size * 8);
  rd(i.a, size); c.set(L_T2);
  if (f === F.SHL32 || f === F.SHL64) {
    c.get(L_T2).i64(cnt).op(Op.i64_shl).i64(maskC(size)).op(Op.i64_and).set(L_T3); // r
    c.get(L_T2).i64(w - cnt).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_T1); // cf
    setFlags(LF_CFOF, size, getT1,
      () => { c.get(L_T3).i64(w - 1n).op(Op.i64_shr_u).i64(1).op(Op.i64_and).get(L_T1).op(Op.i64_xor); },
      getT3);
  } else if (f === F.SHR32 || f === F.SHR64) {
    c.get(L_T2).i64(cnt).op(Op.i64_shr_u).set(L_T3);
    setFlags(LF_CFOF, size, () => { c.get(L_T2).i64(cnt - 1n).op(Op.i64_shr_u).i64(1).op(Op.i64_and); },
      () => { c.get(L_T2).i64(w - 1n).op(Op.i64_shr_u).i64(1).op(Op.i64_and); }, getT3);
  } else {
    sx(L_T2, size); c.set(L_T2);
    c.get(L_T2).i64(cnt).op(Op.i64_shr_s).i64(maskC(size)).op(Op.i64_and).set(L_T3);
    setFlags(LF_CFOF, size, () => { c.get(L_T2).i64(cnt - 1n).op(Op.i64_shr_s).i64(1).op(Op.i64_and); },
      () => c.i64(0), getT3);
  }
  wr(i.a, size, getT3);
}

// f === F.IMUL_RR32 || f === F.IMUL_RRI32
function fxIMULRR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(i.b, 4); c.op(Op.i64_extend32_s);
  if (f === F.IMUL_RR32) { rd(i.a, 4); c.op(Op.i64_extend32_s); } else c.i64(BigInt.asIntN(32, i.imm));
  c.op(Op.i64_mul).set(L_T2); // p
  c.get(L_T2).i64(0xffffffffn).op(Op.i64_and).set(L_T3); // r
  c.get(L_T3).op(Op.i64_extend32_s).get(L_T2).op(Op.i64_ne).op(Op.i64_extend_i32_u).set(L_T1); // ovf
  wr(i.a, 8, getT3);
  setFlags(LF_CFOF, 4, getT1, getT1, getT3);
}

// f === F.CMOV32 || f === F.CMOV64
function fxCMOV32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  if (size === 4) {
    cond(i.aux); c.set(L_C);
    wr(i.a, 4, () => { rd(i.b, 4); rd(i.a, 4); c.get(L_C).op(Op.select); });
  } else {
    cond(i.aux); c.set(L_C);
    wr(i.a, 8, () => { rd(i.b, 8); rd(i.a, 8); c.get(L_C).op(Op.select); });
  }
}

// f === F.TEST_RR8
function fxTESTRR8(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(i.a, 1); c.set(L_T2); rd(i.b, 1); c.set(L_T3); alu(4, 1);
}

// f === F.TEST_RR32 || f === F.TEST_RR64
function fxTESTRR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(i.a, size); c.set(L_T2); rd(i.b, size); c.set(L_T3);
       alu(4, size);
}

// f === F.TEST_RI32 || f === F.TEST_RI64
function fxTESTRI32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(i.a, size); c.set(L_T2); c.i64(i.imm & mask(size)).set(L_T3);
       alu(4, size);
}

// f >= F.INC32 && f <= F.DEC64
function fxINC32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  incdec(f === F.DEC32 || f === F.DEC64, size, () => rd(i.a, size), () => wr(i.a, size, getRes));
}

// f === F.DIV32 || f === F.DIV64 || gk === "divm"
function fxDIV32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  // DIV r (fast form) or DIV m (the general path's F7 /6): a zero divisor or a quotient that does not
  // fit exits before the instruction (the interpreter raises #DE).
  const sz = gk === "divm" ? i.os! : f === F.DIV64 ? 8 : 4;
  if (gk === "divm") { ea(i); c.set(L_T1); probe(FN_RD, sz, i, idx); load(sz); c.set(L_T3); }
  else { rd(i.b, sz); c.set(L_T3); }
  if (sz === 4) {
    c.get(L_T3).op(Op.i64_eqz).if_(); extra++;
    exitAt(i.off, MM.JEXIT_SLOWFORM, idx); c.end(); extra--;
    rd(RDX, 4); c.i64(32).op(Op.i64_shl); rd(RAX, 4); c.op(Op.i64_or).set(L_T2);
    c.get(L_T2).get(L_T3).op(Op.i64_div_u).tee(L_T1).i64(0xffffffffn).op(Op.i64_gt_u).if_(); extra++;
    exitAt(i.off, MM.JEXIT_SLOWFORM, idx); c.end(); extra--;
    wr(RDX, 8, () => { c.get(L_T2).get(L_T3).op(Op.i64_rem_u); });
    wr(RAX, 8, getT1);
  } else {
    c.get(L_T3).op(Op.i64_eqz); rd(RDX, 8); c.i64(0).op(Op.i64_ne).op(Op.i32_or).if_(); extra++;
    exitAt(i.off, MM.JEXIT_SLOWFORM, idx); c.end(); extra--;
    rd(RAX, 8); c.set(L_T2);
    wr(RDX, 8, () => { c.get(L_T2).get(L_T3).op(Op.i64_rem_u); });
    wr(RAX, 8, () => { c.get(L_T2).get(L_T3).op(Op.i64_div_u); });
  }
}

// (f >= F.RR32 && f < F.RR32 + 8) || (f >= F.RR64 && f < F.RR64 + 8)
function fxRR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kind = f >= F.RR64 ? f - F.RR64 : f - F.RR32;
  rd(i.a, size); c.set(L_T2); rd(i.b, size); c.set(L_T3);
  alu(kind, size);
  if (kind !== 7) wr(i.a, size, getT2);
}

// (f >= F.RI32 && f < F.RI32 + 8) || (f >= F.RI64 && f < F.RI64 + 8)
function fxRI32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kind = f >= F.RI64 ? f - F.RI64 : f - F.RI32;
  rd(i.a, size); c.set(L_T2); c.i64(i.imm & mask(size)).set(L_T3);
  alu(kind, size);
  if (kind !== 7) wr(i.a, size, getT2);
}

// f === F.INC_M32 || f === F.INC_M64 || f === F.DEC_M32 || f === F.DEC_M64
function fxINCM32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  ea(i); c.set(L_T1); probe(FN_WR, size, i, idx);
  incdec(f === F.DEC_M32 || f === F.DEC_M64, size, () => load(size), () => store(size, getRes));
}

// f === F.XCHG_M32 || f === F.XCHG_M64
function fxXCHGM32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  ea(i); c.set(L_T1); probe(FN_WR, size, i, idx);
  load(size); c.set(L_T2);
  store(size, () => rd(i.a, size));
  wr(i.a, size, getT2);
}

// f === F.ALU_MR32 || f === F.ALU_MR64
function fxALUMR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  ea(i); c.set(L_T1); probe(FN_WR, size, i, idx);
  load(size); c.set(L_T2); rd(i.b, size); c.set(L_T3);
  alu(i.aux, size);
  store(size, getT2);
}

// f === F.CMPXCHG_M32 || f === F.CMPXCHG_M64
function fxCMPXCHGM32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = f === F.CMPXCHG_M64 ? 8 : 4;
  ea(i); c.set(L_T1); probe(FN_WR, sz, i, idx);
  rd(RAX, sz); c.set(L_T2); load(sz); c.set(L_T3); alu(7, sz);
  c.get(L_T2).op(Op.i64_eqz).if_(); extra++;
  store(sz, () => rd(i.b, sz));
  c.else_();
  wr(RAX, sz, getT3); // (the processor writes the old value back: no change)
  c.end(); extra--;
}

// f === F.XADD_M32 || f === F.XADD_M64
// (LOCK) XADD [mem], B: m = m + B (flags of the add), B = old m
function fxXADDM32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = f === F.XADD_M64 ? 8 : 4;
  ea(i); c.set(L_T1); probe(FN_WR, sz, i, idx);
  load(sz); c.set(L_T2); rd(i.b, sz); c.set(L_T3);
  c.get(L_T2).set(L_T4);
  alu(0, sz);
  wr(i.b, sz, getT4);
  store(sz, getT2);
}

// f >= F.BT_RR32 && f <= F.BT_MI64
// BT/BTS/BTR/BTC: CF = the bit, the other flags kept (as rotates)
function fxBTRR32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = (f - F.BT_RR32) % 2 ? 8 : 4, k = i.aux, w = BigInt(sz * 8);
  const regForm = f <= F.BT_RI64,
    immForm = f === F.BT_RI32 || f === F.BT_RI64 || f === F.BT_MI32 || f === F.BT_MI64;
  // bit offset -> T3 (masked); for a register offset into memory the address moves by whole words
  if (immForm) c.i64(BigInt(Number(i.imm & 0xffn)) & (w - 1n)).set(L_T3);
  else { rd(i.b, sz); if (sz === 4) c.op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s); c.set(L_T3); }
  if (regForm) { rd(i.a, sz); c.set(L_T2); }
  else {
    ea(i);
    if (!immForm) {
      c.get(L_T3).i64(sz === 4 ? 5n : 6n).op(Op.i64_shr_s).i64(sz === 4 ? 2n : 3n).op(Op.i64_shl)
        .op(Op.i64_add); if (!is64) c.i64(0xffffffffn).op(Op.i64_and);
    }
    c.set(L_T1); probe(k === 0 ? FN_RD : FN_WR, sz, i, idx);
    load(sz); c.set(L_T2);
  }
  if (!immForm) c.get(L_T3).i64(w - 1n).op(Op.i64_and).set(L_T3);
  // RFLAGS current, then CF
  rflagsCurrent();
  c.i32(0).i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).i64(~1n).op(Op.i64_and)
    .get(L_T2).get(L_T3).op(Op.i64_shr_u).i64(1).op(Op.i64_and).op(Op.i64_or)
      .mem(Op.i64_store, MM.CPU_STATE + MM.CPU_RFLAGS, 3);
  c.i32(LF_NONE).set(L_FOP).i32(sz).set(L_FSZ);
  st = { op: LF_NONE, size: sz }; touched[bi] = true;
  if (k !== 0) {
    const m = () => { c.i64(1).get(L_T3).op(Op.i64_shl); };
    const val = () => {
      c.get(L_T2);
      if (k === 1) {
        m(); c.op(Op.i64_or);
      } else if (k === 2) { m(); c.i64(-1n).op(Op.i64_xor).op(Op.i64_and); } else { m(); c.op(Op.i64_xor); }
    };
    if (regForm) wr(i.a, sz, val); else store(sz, val);
  }
}

// f >= F.BSF32 && f <= F.BSR64
function fxBSF32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = (f - F.BSF32) % 2 ? 8 : 4;
  rd(i.b, sz); c.set(L_T2);
  c.i32(0).i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).i64(~0x8d5n).op(Op.i64_and)
    .get(L_T2).op(Op.i64_eqz).op(Op.i64_extend_i32_u).i64(6).op(Op.i64_shl).op(Op.i64_or)
      .mem(Op.i64_store, MM.CPU_STATE + MM.CPU_RFLAGS, 3);
  c.i32(LF_NONE).set(L_FOP).i32(sz).set(L_FSZ);
  st = state(LF_NONE, sz); touched[bi] = true;
  c.get(L_T2).op(Op.i64_eqz).op(Op.i32_eqz).if_(); extra++;
  if (f <= F.BSF64) wr(i.a, sz, () => { c.get(L_T2).op(Op.i64_ctz); });
  else wr(i.a, sz, () => { c.i64(63).get(L_T2).op(Op.i64_clz).op(Op.i64_sub); });
  c.end(); extra--;
}

// f === F.MUL32
// EDX:EAX = EAX * B; CF = OF = (EDX != 0), SF ZF PF from EAX (as cpu/alu.ts mulFlags)
function fxMUL32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(RAX, 4); rd(i.b, 4); c.op(Op.i64_mul).set(L_T2);
  c.get(L_T2).i64(32).op(Op.i64_shr_u).set(L_T3);
  wr(RAX, 8, () => { c.get(L_T2).i64(0xffffffffn).op(Op.i64_and); });
  wr(RDX, 8, getT3);
  c.get(L_T3).i64(0).op(Op.i64_ne).op(Op.i64_extend_i32_u).set(L_T1);
  setFlags(LF_CFOF, 4, getT1, getT1, () => { c.get(L_T2).i64(0xffffffffn).op(Op.i64_and); });
}

// f === F.MUL64
// RDX:RAX = RAX * B, the 128-bit product from 32-bit halves
function fxMUL64(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const M32 = 0xffffffffn;
  rd(RAX, 8); c.set(L_T1); rd(i.b, 8); c.set(L_T2);
  c.get(L_T1).i64(M32).op(Op.i64_and).get(L_T2).i64(M32).op(Op.i64_and).op(Op.i64_mul).set(L_T3); // p00
  c.get(L_T1).i64(M32).op(Op.i64_and).get(L_T2).i64(32).op(Op.i64_shr_u).op(Op.i64_mul).set(L_T4); // p01
  c.get(L_T1).i64(32).op(Op.i64_shr_u).get(L_T2).i64(M32).op(Op.i64_and).op(Op.i64_mul).set(L_T5); // p10
  c.get(L_T1).i64(32).op(Op.i64_shr_u).get(L_T2).i64(32).op(Op.i64_shr_u).op(Op.i64_mul).set(L_T1); // p11
  // mid = (p00 >> 32) + (p01 & M) + (p10 & M)  (in T2)
  c.get(L_T3).i64(32).op(Op.i64_shr_u).get(L_T4).i64(M32).op(Op.i64_and).op(Op.i64_add)
    .get(L_T5).i64(M32).op(Op.i64_and).op(Op.i64_add).set(L_T2);
  // hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)  (in T1); lo = (mid << 32) | (p00 & M)  (in T3)
  c.get(L_T1).get(L_T4).i64(32).op(Op.i64_shr_u).op(Op.i64_add).get(L_T5).i64(32).op(Op.i64_shr_u)
    .op(Op.i64_add)
    .get(L_T2).i64(32).op(Op.i64_shr_u).op(Op.i64_add).set(L_T1);
  c.get(L_T2).i64(32).op(Op.i64_shl).get(L_T3).i64(M32).op(Op.i64_and).op(Op.i64_or).set(L_T3);
  wr(RAX, 8, getT3);
  wr(RDX, 8, getT1);
  c.get(L_T1).i64(0).op(Op.i64_ne).op(Op.i64_extend_i32_u).set(L_T1);
  setFlags(LF_CFOF, 8, getT1, getT1, getT3);
}

// f === F.NOT32 || f === F.NOT64
function fxNOT32(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, size, () => { rd(i.a, size); c.i64(-1).op(Op.i64_xor); });
}

// f === F.SETCC
function fxSETCC(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  wr(i.a, 1, () => { cond(i.aux); c.op(Op.i64_extend_i32_u); });
}

// f === F.PUSH
function fxPUSH(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  c.get(rsp).i64(SW).op(Op.i64_sub); m32(); c.set(L_T1);
  probe(FN_WR, SW, i, idx);
  store(SW, () => rd(i.b, SW));
  c.get(L_T1).set(rsp); written |= 1 << 4;
}

// f === F.POP
function fxPOP(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  c.get(rsp); m32(); c.set(L_T1);
  probe(FN_RD, SW, i, idx);
  load(SW); c.set(L_T2);
  c.get(L_T1).i64(SW).op(Op.i64_add); m32(); c.set(rsp); written |= 1 << 4;
  wr(i.a, SW, getT2);
}

// f === F.JMP || f === F.CALL
function fxJMP(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const t = i.off + i.len + signed64(i.imm);
  const inPage = t >= 0 && t < 0x1000;
  if (!inPage) {
    linOf(i.off + i.len); c.i64(i.imm).op(Op.i64_add);
    if (!is64) c.i64(0xffffffffn).op(Op.i64_and);
    c.set(L_T1);
    if (f === F.CALL || is64) canonicalOrExit(i, idx);
    c.get(L_T1).set(L_T3);
  }
  if (f === F.CALL) {
    c.get(rsp).i64(SW).op(Op.i64_sub); m32(); c.set(L_T1);
    probe(FN_WR, SW, i, idx);
    store(SW, nextIp);
    c.get(L_T1).set(rsp); written |= 1 << 4;
  }
  if (inPage) goTo(t, idx + 1);
  else exit(getT3, MM.JEXIT_BRANCH, idx + 1);
}

// f === F.RET
function fxRET(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  c.get(rsp); m32(); c.set(L_T1);
  probe(FN_RD, SW, i, idx);
  load(SW); c.set(L_T1);
  canonicalOrExit(i, idx);
  c.get(rsp).i64(BigInt(SW) + (i.imm & 0xffffn)).op(Op.i64_add); m32(); c.set(rsp); written |= 1 << 4;
  exit(getT1, MM.JEXIT_BRANCH, idx + 1);
}

// f >= F.JCC && f < F.JCC + 16
function fxJCC(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const t = i.off + i.len + signed64(i.imm);
  cond(f - F.JCC);
  c.if_(); extra++;
  if (t >= 0 && t < 0x1000) goTo(t, idx + 1);
  else {
    linOf(i.off + i.len); c.i64(i.imm).op(Op.i64_add);
    if (!is64) c.i64(0xffffffffn).op(Op.i64_and);
    c.set(L_T1);
    canonicalOrExit(i, idx);
    exit(getT1, MM.JEXIT_BRANCH, idx + 1);
  }
  c.end(); extra--;
  const ft = i.off + i.len;
  // falls into the next block
  if (index.has(ft) && index.get(ft) === bi + 1) {
    edges.push(bi, bi + 1); if (unknownStart || inSt[bi + 1] === null) sync();
  }
  else goTo(ft, idx + 1);
}

// gk === "cdqe"
function gxCdqe(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  if (i.os === 8) wr(RAX, 8, () => { rd(RAX, 4); c.op(Op.i64_extend32_s); });
  else wr(RAX, 4, () => { rd(RAX, 2); c.op(Op.i64_extend16_s); });
}

// gk === "cqo"
function gxCqo(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  if (i.os === 8) wr(RDX, 8, () => { rd(RAX, 8); c.i64(63).op(Op.i64_shr_s); });
  else wr(RDX, 4, () => { rd(RAX, 4); c.op(Op.i64_extend32_s).i64(31).op(Op.i64_shr_s); });
}

// gk === "rot"
function gxRot(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  // ROL/ROR r, imm8 / 1 / CL: the value with wasm's rotates; CF and OF from the result, the other
  // arithmetic flags kept: RFLAGS is made current (from the lazy state, by the core when it is not
  // LF_NONE already), and the state becomes LF_NONE (the flags live in RFLAGS).
  const sz = i.os!, w = sz * 8, kk = i.reg! & 7, dst = MM.CPU_STATE + i.rm! * 8;
  const cm = sz === 8 ? 0x3f : 0x1f;
  const stat = i.op === 0xd3 ? null : i.op === 0xd1 ? 1 : Number(i.imm & 0xffn) & cm;
  // no change, but a 32-bit destination is written
  if (stat === 0) { if (sz === 4) wr(dst, 4, () => rd(dst, 4)); return; }
  if (stat === null) {
    rd(RCX, 1); c.i64(BigInt(cm)).op(Op.i64_and).tee(L_T1).op(Op.i64_eqz).op(Op.i32_eqz).if_(); extra++;
  }
  else c.i64(BigInt(stat)).set(L_T1);
  // RFLAGS current
  rflagsCurrent();
  // the result in T3
  if (sz === 4) {
    rd(dst, 4); c.op(Op.i32_wrap_i64).get(L_T1).op(Op.i32_wrap_i64).op(kk === 0 ? Op.i32_rotl : Op.i32_rotr)
      .op(Op.i64_extend_i32_u);
  }
  else { rd(dst, 8); c.get(L_T1).op(kk === 0 ? Op.i64_rotl : Op.i64_rotr); }
  c.set(L_T3);
  // CF (T2) and OF (T4) as 0/1 i64s
  if (kk === 0) {
    c.get(L_T3).i64(1).op(Op.i64_and).set(L_T2);
    c.get(L_T3).i64(BigInt(w - 1)).op(Op.i64_shr_u).i64(1).op(Op.i64_and).get(L_T2).op(Op.i64_xor).set(L_T4);
  } else {
    c.get(L_T3).i64(BigInt(w - 1)).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_T2);
    c.get(L_T3).i64(BigInt(w - 2)).op(Op.i64_shr_u).i64(1).op(Op.i64_and).get(L_T2).op(Op.i64_xor).set(L_T4);
  }
  c.i32(0).i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).i64(~0x801n).op(Op.i64_and)
    .get(L_T2).op(Op.i64_or).get(L_T4).i64(11).op(Op.i64_shl).op(Op.i64_or)
      .mem(Op.i64_store, MM.CPU_STATE + MM.CPU_RFLAGS, 3);
  c.i32(LF_NONE).set(L_FOP).i32(sz).set(L_FSZ);
  wr(dst, sz, getT3);
  if (stat === null) {
    if (sz === 4) { c.else_(); wr(dst, 4, () => rd(dst, 4)); }
    c.end(); extra--;
    if (!(st && st.op === LF_NONE)) { st = null; touched[bi] = true; return; } // rotated or not, by the count
  }
  st = { op: LF_NONE, size: sz }; touched[bi] = true;
}

// gk === "shcl"
function gxShcl(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = i.os!, w = BigInt(sz * 8), kk = i.reg! & 7, dst = MM.CPU_STATE + i.rm! * 8;
  rd(RCX, 1); c.i64(w - 1n).op(Op.i64_and).tee(L_T1).op(Op.i64_eqz).op(Op.i32_eqz).if_(); extra++; // count != 0
  rd(dst, sz); c.set(L_T2);
  if (kk === 4) {
    c.get(L_T2).get(L_T1).op(Op.i64_shl).i64(maskC(sz)).op(Op.i64_and).set(L_T3);
    c.get(L_T2).i64(w).get(L_T1).op(Op.i64_sub).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_FA);
    c.get(L_T3).i64(w - 1n).op(Op.i64_shr_u).i64(1).op(Op.i64_and).get(L_FA).op(Op.i64_xor).set(L_FB);
  } else if (kk === 5) {
    c.get(L_T2).get(L_T1).op(Op.i64_shr_u).set(L_T3);
    c.get(L_T2).get(L_T1).i64(1).op(Op.i64_sub).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_FA);
    c.get(L_T2).i64(w - 1n).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_FB);
  } else {
    sx(L_T2, sz); c.set(L_T2);
    c.get(L_T2).get(L_T1).op(Op.i64_shr_s).i64(maskC(sz)).op(Op.i64_and).set(L_T3);
    c.get(L_T2).get(L_T1).i64(1).op(Op.i64_sub).op(Op.i64_shr_s).i64(1).op(Op.i64_and).set(L_FA);
    c.i64(0).set(L_FB);
  }
  c.get(L_T3).set(L_FRES).i32(LF_CFOF).set(L_FOP).i32(sz).set(L_FSZ);
  wr(dst, sz, getT3);
  // a 32-bit destination is written (zero-extended) even by a count of 0
  if (sz === 4) { c.else_(); wr(dst, 4, () => rd(dst, 4)); }
  c.end(); extra--;
  st = null; touched[bi] = true; // changed or not, by the count
}

// gk === "testal"
function gxTestal(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(RAX, 1); c.set(L_T2); c.i64(i.imm & 0xffn).set(L_T3); alu(4, 1);
}

// gk === "cmpal"
function gxCmpal(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(RAX, 1); c.set(L_T2); c.i64(i.imm & 0xffn).set(L_T3); alu(7, 1);
}

// gk === "alu8i"
function gxAlu8i(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const d = reg8(i.rm!, i.rex!), kk = i.reg! & 7;
  rd(d, 1); c.set(L_T2); c.i64(i.imm & 0xffn).set(L_T3); alu(kk, 1);
  if (kk !== 7) wr(d, 1, getT2);
}

// gk === "test8i"
function gxTest8i(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  rd(reg8(i.rm!, i.rex!), 1); c.set(L_T2); c.i64(i.imm & 0xffn).set(L_T3); alu(4, 1);
}

// gk === "neg"
function gxNeg(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = i.os!, d = MM.CPU_STATE + i.rm! * 8;
  rd(d, sz); c.set(L_T3);
  setFlags(
    LF_SUB, sz, () => c.i64(0), getT3,
    () => { c.i64(0).get(L_T3).op(Op.i64_sub).i64(maskC(sz)).op(Op.i64_and); }
  );
  wr(d, sz, getRes);
}

// gk === "alu8rr"
// op r/m8, r8 (mod 3): the destination is rm
function gxAlu8rr(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kk = (i.op! >> 3) & 7, d = reg8(i.rm!, i.rex!), s2 = reg8(i.reg!, i.rex!);
  rd(d, 1); c.set(L_T2); rd(s2, 1); c.set(L_T3); alu(kk, 1);
  if (kk !== 7) wr(d, 1, getT2);
}

// gk === "mov8rr"
function gxMov8rr(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const d = i.op === 0x88 ? reg8(i.rm!, i.rex!) : reg8(i.reg!, i.rex!);
  const s2 = i.op === 0x88 ? reg8(i.reg!, i.rex!) : reg8(i.rm!, i.rex!);
  wr(d, 1, () => rd(s2, 1));
}

// gk === "testmi"
function gxTestmi(i: Insn, f: number, idx: number, size: number, gk: string | null): void { // TEST m, imm
  const sz = i.op === 0xf6 ? 1 : i.os!;
  ea(i); c.set(L_T1); probe(FN_RD, sz, i, idx);
  load(sz); c.set(L_T2); c.i64(i.imm & mask(sz)).set(L_T3); alu(4, sz);
}

// gk === "testmr"
function gxTestmr(i: Insn, f: number, idx: number, size: number, gk: string | null): void { // TEST m, r
  const sz = i.op === 0x84 ? 1 : i.os!;
  ea(i); c.set(L_T1); probe(FN_RD, sz, i, idx);
  load(sz); c.set(L_T2);
  if (sz === 1) rd(reg8(i.reg!, i.rex!), 1); else rd(MM.CPU_STATE + i.reg! * 8, sz);
  c.set(L_T3); alu(4, sz);
}

// gk === "alu8rm"
// op r8, r/m8: the destination is the register
function gxAlu8rm(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kk = (i.op! >> 3) & 7, d = reg8(i.reg!, i.rex!);
  if (i.mod === 3) { rd(reg8(i.rm!, i.rex!), 1); c.set(L_T3); }
  else { ea(i); c.set(L_T1); probe(FN_RD, 1, i, idx); load(1); c.set(L_T3); }
  rd(d, 1); c.set(L_T2); alu(kk, 1);
  if (kk !== 7) wr(d, 1, getT2);
}

// gk === "alu8mr" || gk === "alu8mi"
// op m8, r8 / op m8, imm8 (CMP reads only)
function gxAlu8mr(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kk = gk === "alu8mi" ? i.reg! & 7 : (i.op! >> 3) & 7;
  ea(i); c.set(L_T1); probe(kk === 7 ? FN_RD : FN_WR, 1, i, idx);
  load(1); c.set(L_T2);
  if (gk === "alu8mi") c.i64(i.imm & 0xffn); else rd(reg8(i.reg!, i.rex!), 1);
  c.set(L_T3); alu(kk, 1);
  if (kk !== 7) store(1, getT2);
}

// gk === "alumi"
// op m, imm (imm8 or imm32, sign-extended; CMP reads only)
function gxAlumi(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const kk = i.reg! & 7, sz = i.os!;
  ea(i); c.set(L_T1); probe(kk === 7 ? FN_RD : FN_WR, sz, i, idx);
  load(sz); c.set(L_T2);
  c.i64(BigInt.asUintN(64, i.imm) & mask(sz)).set(L_T3); alu(kk, sz);
  if (kk !== 7) store(sz, getT2);
}

// gk === "icall" || gk === "ijmp"
// CALL/JMP r/m: the target from a register or memory, checked, then out
function gxIcall(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  if (i.mod === 3) rd(MM.CPU_STATE + i.rm! * 8, SW);
  else { ea(i); c.set(L_T1); probe(FN_RD, SW, i, idx); load(SW); }
  c.set(L_T1);
  canonicalOrExit(i, idx);
  c.get(L_T1).set(L_T3);
  if (gk === "icall") {
    c.get(rsp).i64(SW).op(Op.i64_sub); m32(); c.set(L_T1);
    probe(FN_WR, SW, i, idx);
    store(SW, nextIp);
    c.get(L_T1).set(rsp); written |= 1 << 4;
  }
  exit(getT3, MM.JEXIT_BRANCH, idx + 1);
}

// gk === "pushi" || gk === "pushm" || gk === "pushf"
// PUSH imm8/imm32 (sign-extended), PUSH r/m, PUSHF
function gxPushi(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  if (gk === "pushf") {
    // RFLAGS made current (as for rotates; the state becomes LF_NONE), without RF and VM
    if (!(st && st.op === LF_NONE)) {
      rflagsCurrent();
      c.i32(LF_NONE).set(L_FOP).i32(SW).set(L_FSZ);
      st = { op: LF_NONE, size: SW }; touched[bi] = true;
    }
    c.i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).i64(~0x30000n).op(Op.i64_and).i64(maskC(SW))
      .op(Op.i64_and).set(L_T3);
  } else if (gk === "pushi") c.i64(BigInt.asUintN(64, i.imm) & mask(SW)).set(L_T3);
  else if (i.mod === 3) { rd(MM.CPU_STATE + i.rm! * 8, SW); c.set(L_T3); }
  else { ea(i); c.set(L_T1); probe(FN_RD, SW, i, idx); load(SW); c.set(L_T3); }
  c.get(rsp).i64(SW).op(Op.i64_sub); m32(); c.set(L_T1);
  probe(FN_WR, SW, i, idx);
  store(SW, getT3);
  c.get(L_T1).set(rsp); written |= 1 << 4;
}

// gk === "shd"
function gxShd(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = i.os!, w = BigInt(sz * 8), m = mask(sz), left = i.op! < 0x1ac;
  const d = MM.CPU_STATE + i.rm! * 8, sr = MM.CPU_STATE + i.reg! * 8;
  const cm = sz === 8 ? 63n : 31n;
  const stat = (i.op! & 1) === 0 ? (i.imm & 0xffn) & cm : null;
  if (stat === 0n) { if (sz === 4) wr(d, 4, () => rd(d, 4)); return; }
  if (stat === null) {
    rd(RCX, 1); c.i64(cm).op(Op.i64_and).tee(L_T1).op(Op.i64_eqz).op(Op.i32_eqz).if_(); extra++;
  }
  else c.i64(stat).set(L_T1);
  rd(d, sz); c.set(L_T2); rd(sr, sz); c.set(L_T3);
  if (left) {
    c.get(L_T2).get(L_T1).op(Op.i64_shl).get(L_T3).i64(w).get(L_T1).op(Op.i64_sub).op(Op.i64_shr_u)
      .op(Op.i64_or).i64(m).op(Op.i64_and).set(L_T4);
    c.get(L_T2).i64(w).get(L_T1).op(Op.i64_sub).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_FA);
  } else {
    c.get(L_T2).get(L_T1).op(Op.i64_shr_u).get(L_T3).i64(w).get(L_T1).op(Op.i64_sub).op(Op.i64_shl)
      .op(Op.i64_or).i64(m).op(Op.i64_and).set(L_T4);
    c.get(L_T2).get(L_T1).i64(1).op(Op.i64_sub).op(Op.i64_shr_u).i64(1).op(Op.i64_and).set(L_FA);
  }
  c.get(L_T4).get(L_T2).op(Op.i64_xor).i64(signC(sz)).op(Op.i64_and).i64(0).op(Op.i64_ne)
    .op(Op.i64_extend_i32_u).set(L_FB);
  c.get(L_T4).set(L_FRES).i32(LF_CFOF).set(L_FOP).i32(sz).set(L_FSZ);
  wr(d, sz, getT4);
  if (stat === null) {
    if (sz === 4) { c.else_(); wr(d, 4, () => rd(d, 4)); }
    c.end(); extra--;
    st = null; touched[bi] = true; // shifted or not, by the count
  } else { st = { op: LF_CFOF, size: sz }; touched[bi] = true; }
}

// gk === "cmovm"
function gxCmovm(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = i.os!, d = MM.CPU_STATE + i.reg! * 8;
  ea(i); c.set(L_T1); probe(FN_RD, sz, i, idx);
  load(sz); c.set(L_T2);
  cond(i.op! & 15); c.set(L_C);
  wr(d, sz, () => { c.get(L_T2); rd(d, sz); c.get(L_C).op(Op.select); });
}

// gk === "mov8ld"
function gxMov8ld(i: Insn, f: number, idx: number, size: number, gk: string | null): void { // MOV r8, m8
  ea(i); c.set(L_T1); probe(FN_RD, 1, i, idx);
  wr(reg8(i.reg!, i.rex!), 1, () => load(1));
}

// gk === "setccm"
function gxSetccm(i: Insn, f: number, idx: number, size: number, gk: string | null): void { // SETcc m8
  ea(i); c.set(L_T1); probe(FN_WR, 1, i, idx);
  store(1, () => { cond(i.op! & 15); c.op(Op.i64_extend_i32_u); });
}

// gk === "movqr"
function gxMovqr(i: Insn, f: number, idx: number, size: number, gk: string | null): void { // MOVD/MOVQ xmm <-> r/m
  // #UD (CR0.EM, no CR4.OSFXSR) and #NM (CR0.TS) come first: the interpreter's, before the access
  c.i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_CR0, 3).op(Op.i32_wrap_i64).i32(0xc).op(Op.i32_and);
  c.i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_CR4, 3).op(Op.i32_wrap_i64).i32(0x200).op(Op.i32_and)
    .op(Op.i32_eqz).op(Op.i32_or);
  c.if_(); extra++;
  exitAt(i.off, MM.JEXIT_UNSUPPORTED, idx);
  c.end(); extra--;
  const sz = i.os === 8 || gk === "movqx" || gk === "movqr" ? 8 : 4,
    x = MM.CPU_STATE + MM.CPU_FXSAVE + 160 + 16 * i.reg!, gpr = MM.CPU_STATE + MM.CPU_REGS + 8 * i.rm!;
  const xlo = () => { c.i32(0).mem(sz === 8 ? Op.i64_load : Op.i64_load32_u, x, sz === 8 ? 3 : 2); };
  if (gk === "movdx" || gk === "movqx") {
    if (i.mod === 3) {
      rd(gpr, sz); c.set(L_T2);
    } else { ea(i); c.set(L_T1); probe(FN_RD, sz, i, idx); load(sz); c.set(L_T2); }
    c.i32(0).get(L_T2).mem(Op.i64_store, x, 3);
    c.i32(0).i64(0).mem(Op.i64_store, x + 8, 3);
  } else if (i.mod === 3) wr(gpr, sz, xlo);
  else { ea(i); c.set(L_T1); probe(FN_WR, sz, i, idx); store(sz, xlo); }
}

// gk === "core"
// the core runs it (jit_exec, coreRun): registers and flags through the state block
function gxCore(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const d = coreRun(i, is64)!;
  if (d.fl) { // RFLAGS made current; the flags live there after (LF_NONE)
    rflagsCurrent();
    c.i32(LF_NONE).set(L_FOP).i32(8).set(L_FSZ);
    st = state(LF_NONE, 8); touched[bi] = true;
  }
  if (page === undefined) { exitAt(i.off, MM.JEXIT_UNSUPPORTED, idx); return; }
  const nr = is64 ? 16 : 8;
  for (let r = 0; r < nr; r++)
    if (d.pre & (1 << r)) c.i32(0).get(L_R0 + r).mem(Op.i64_store, MM.CPU_STATE + r * 8, 3);
  linOf(i.off); c.i32(page + i.off).call(FN_EX).tee(L_I).op(Op.i32_eqz).if_(); extra++;
  exitAt(i.off, MM.JEXIT_UNSUPPORTED, idx); // it would fault: nothing done, the interpreter raises it
  c.end(); extra--;
  for (let r = 0; r < nr; r++) if (d.post & (1 << r)) {
    c.i32(0).mem(Op.i64_load, MM.CPU_STATE + r * 8, 3).set(L_R0 + r); written |= 1 << r;
  }
  // 2: it wrote code a region of this page came from: this region may be stale, go on outside it
  c.get(L_I).i32(2).op(Op.i32_eq).if_(); extra++;
  exitAt(i.off + i.len, MM.JEXIT_MEMORY, idx + 1);
  c.end(); extra--;
}

// gk === "ssex"
function gxSsex(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  // the core runs it (jit_exec); 0: it would fault, nothing done: exit before it
       if (page === undefined) { exitAt(i.off, MM.JEXIT_UNSUPPORTED, idx); return; }
       linOf(i.off); c.i32(page + i.off).call(FN_EX).op(Op.i32_eqz).if_(); extra++;
       exitAt(i.off, MM.JEXIT_UNSUPPORTED, idx);
       c.end(); extra--;
}

// gk === "str"
function gxStr(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  // One step at a time in the core (cpu/string.ts jitString), with RCX/RSI/RDI/RAX in memory meanwhile;
  // each further step counts one more instruction (as the interpreter re-executes a REP instruction
  // every STR_CHUNK iterations). Nothing done by a step: exit before the instruction.
  const stosOp = i.op === 0xaa || i.op === 0xab;
  const sz = i.op === 0xa4 || i.op === 0xaa ? 1 : i.os!;
  const kind = sz | (stosOp ? JS_STOS : 0) | (is64 ? JS_AS8 : 0) | ((i.pfx! & 2) ? JS_REP : 0);
  const regs = stosOp ? [0, 1, 7] : [1, 6, 7];
  for (const r of regs) c.i32(0).get(L_R0 + r).mem(Op.i64_store, MM.CPU_STATE + r * 8, 3);
  const reload = () => {
    for (const r of regs) {
      if (r === 0) continue; c.i32(0).mem(Op.i64_load, MM.CPU_STATE + r * 8, 3).set(L_R0 + r);
      written |= 1 << r;
    }
  };
  c.loop(); extra++;
  c.i32(kind).call(FN_STR).tee(L_I).op(Op.i32_eqz).if_(); extra++;
  reload(); exitAt(i.off, MM.JEXIT_MEMORY, idx);
  c.end(); extra--;
  c.get(L_I).i32(1).op(Op.i32_eq).if_(); extra++;
  // a step retired and the instruction runs again: one more instruction; the next step only while the
  // instructions retired before it (N less this block's rest) stay under the budget, as in the run loop
  c.get(L_N).i32(1).op(Op.i32_add).tee(L_N).i32(L - idx).op(Op.i32_sub).get(L_BUDGET).op(Op.i32_ge_s).if_();
  extra++;
  reload(); exitAt(i.off, MM.JEXIT_BUDGET, idx);
  c.end(); extra--;
  c.br(1); // the step loop
  c.end(); extra--;
  c.end(); extra--;
  reload();
}

// gk === "bswap"
function gxBswap(i: Insn, f: number, idx: number, size: number, gk: string | null): void {
  const sz = i.os!, r = MM.CPU_STATE + (((i.op! & 7) | ((i.rex! & 1) << 3)) * 8);
  const swap32 = () => { // i32 on the stack -> byte-swapped
    c.tee(L_I).i32(24).u8(0x74 /* shl */);
    c.get(L_I).i32(0xff00).op(Op.i32_and).i32(8).u8(0x74).op(Op.i32_or);
    c.get(L_I).i32(8).u8(0x76 /* shr_u */).i32(0xff00).op(Op.i32_and).op(Op.i32_or);
    c.get(L_I).i32(24).u8(0x76).op(Op.i32_or);
  };
  if (sz === 4) wr(r, 4, () => { rd(r, 4); c.op(Op.i32_wrap_i64); swap32(); c.op(Op.i64_extend_i32_u); });
  else wr(r, 8, () => {
    rd(r, 8); c.op(Op.i32_wrap_i64); swap32(); c.op(Op.i64_extend_i32_u).i64(32).op(Op.i64_shl);
    rd(r, 8); c.i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64); swap32(); c.op(Op.i64_extend_i32_u).op(Op.i64_or);
  });
}

type InsnFn = (i: Insn, f: number, idx: number, size: number, gk: string | null) => void;
const noInsn: InsnFn = () => {};
// The translation of fast form f (gk null, or "divm": the general path's DIV m, translated with DIV r), or null.
function fastFnOf(f: number, gk: string | null): InsnFn | null {
  switch (true) {
    case f === F.IMUL_RR64 || f === F.IMUL_RRI64: return fxIMULRR64;
    case f === F.NOP: return noInsn;
    case f === F.MOV_RR32 || f === F.MOV_RR64: return fxMOVRR32;
    case f === F.MOV_RI32 || f === F.MOV_RI64: return fxMOVRI32;
    case f === F.LEA32 || f === F.LEA64: return fxLEA32;
    case f >= F.LD32 && f <= F.LDSX32_64: return fxLD32;
    case f >= F.ST8 && f <= F.STI64: return fxST8;
    case f === F.ALU_RM32 || f === F.ALU_RM64: return fxALURM32;
    case f === F.CMP_MR32 || f === F.CMP_MR64: return fxCMPMR32;
    case f === F.CMP_MI8 || f === F.CMP_MI32 || f === F.CMP_MI64: return fxCMPMI8;
    case f === F.MOVZX8R: return fxMOVZX8R;
    case f === F.MOVZX16R: return fxMOVZX16R;
    case f === F.MOVSX8R32: return fxMOVSX8R32;
    case f === F.MOVSX8R64: return fxMOVSX8R64;
    case f === F.MOVSX16R32: return fxMOVSX16R32;
    case f === F.MOVSX16R64: return fxMOVSX16R64;
    case f === F.MOVSXDR: return fxMOVSXDR;
    case f >= F.SHL32 && f <= F.SAR64: return fxSHL32;
    case f === F.IMUL_RR32 || f === F.IMUL_RRI32: return fxIMULRR32;
    case f === F.CMOV32 || f === F.CMOV64: return fxCMOV32;
    case f === F.TEST_RR8: return fxTESTRR8;
    case f === F.TEST_RR32 || f === F.TEST_RR64: return fxTESTRR32;
    case f === F.TEST_RI32 || f === F.TEST_RI64: return fxTESTRI32;
    case f >= F.INC32 && f <= F.DEC64: return fxINC32;
    case f === F.DIV32 || f === F.DIV64 || gk === "divm": return fxDIV32;
    case (f >= F.RR32 && f < F.RR32 + 8) || (f >= F.RR64 && f < F.RR64 + 8): return fxRR32;
    case (f >= F.RI32 && f < F.RI32 + 8) || (f >= F.RI64 && f < F.RI64 + 8): return fxRI32;
    case f === F.INC_M32 || f === F.INC_M64 || f === F.DEC_M32 || f === F.DEC_M64: return fxINCM32;
    case f === F.XCHG_M32 || f === F.XCHG_M64: return fxXCHGM32;
    case f === F.ALU_MR32 || f === F.ALU_MR64: return fxALUMR32;
    // (LOCK) CMPXCHG [mem], B: CMP rAX, m; equal: m = B; else rAX = m
    case f === F.CMPXCHG_M32 || f === F.CMPXCHG_M64: return fxCMPXCHGM32;
    case f === F.XADD_M32 || f === F.XADD_M64: return fxXADDM32;
    case f >= F.BT_RR32 && f <= F.BT_MI64: return fxBTRR32;
    // BSF/BSR r, r (cpu/run.ts): ZF = (source 0, the destination then kept), the others 0
    case f >= F.BSF32 && f <= F.BSR64: return fxBSF32;
    case f === F.MUL32: return fxMUL32;
    case f === F.MUL64: return fxMUL64;
    case f === F.NOT32 || f === F.NOT64: return fxNOT32;
    case f === F.SETCC: return fxSETCC;
    case f === F.PUSH: return fxPUSH;
    case f === F.POP: return fxPOP;
    case f === F.JMP || f === F.CALL: return fxJMP;
    case f === F.RET: return fxRET;
    case f >= F.JCC && f < F.JCC + 16: return fxJCC;
    default: return null;
  }
}

// The translation of general-path kind gk, or null.
function generalFnOf(gk: string): InsnFn | null {
  switch (true) {
    case gk === "cdqe": return gxCdqe;
    case gk === "cqo": return gxCqo;
    case gk === "rot": return gxRot;
    case gk === "shcl": return gxShcl;
    case gk === "testal": return gxTestal;
    case gk === "cmpal": return gxCmpal;
    case gk === "alu8i": return gxAlu8i;
    case gk === "test8i": return gxTest8i;
    case gk === "neg": return gxNeg;
    case gk === "alu8rr": return gxAlu8rr;
    case gk === "mov8rr": return gxMov8rr;
    case gk === "testmi": return gxTestmi;
    case gk === "testmr": return gxTestmr;
    case gk === "alu8rm": return gxAlu8rm;
    case gk === "alu8mr" || gk === "alu8mi": return gxAlu8mr;
    case gk === "alumi": return gxAlumi;
    case gk === "icall" || gk === "ijmp": return gxIcall;
    case gk === "pushi" || gk === "pushm" || gk === "pushf": return gxPushi;
    // SHLD/SHRD r, r, imm8/CL (cpu/alu.ts shiftDouble): CF, OF, SF/ZF/PF from the result, AF 0 (LF_CFOF)
    case gk === "shd": return gxShd;
    // CMOVcc r, m: the memory is read either way; a 32-bit destination is written (zero-extended) either way
    case gk === "cmovm": return gxCmovm;
    case gk === "mov8ld": return gxMov8ld;
    case gk === "setccm": return gxSetccm;
    case gk === "nop": return noInsn;
    case gk === "movdx": case gk === "movdr": case gk === "movqx": case gk === "movqr": return gxMovqr;
    case gk === "core": return gxCore;
    case gk === "ssex": return gxSsex;
    case gk === "str": return gxStr;
    case gk === "bswap": return gxBswap;
    default: return null;
  }
}

// The translations by form and by general-path kind (a call through these tables: a switch over the forms
// in the function that translates an instruction deoptimized it at every form it had not met yet).
const FAST_FN: (InsnFn | null)[] = [];
for (let f = 0; f < 256; f++) FAST_FN.push(fastFnOf(f, null));
const GEN_KINDS = ["str", "ssex", "alumi", "movqx", "icall", "ijmp", "pushm", "pushi", "pushf", "shd", "cmovm", "cdqe",
  "cqo", "shcl", "rot", "testal", "cmpal", "alu8i", "alu8mi", "test8i", "testmi", "neg", "alu8rr", "alu8mr", "alu8rm",
  "testmr", "mov8rr", "mov8ld", "nop", "movdx", "movdr", "movqr", "setccm", "bswap", "core"]; // (all but "divm")
const GEN_FN = new Map<string, InsnFn>();
for (const k of GEN_KINDS) {
  const fn = generalFnOf(k);
  if (!fn) throw new Error(`jit: general-path kind ${k} has no translation`);
  GEN_FN.set(k, fn);
}

// Whether the region's code uses 4-byte stack slots (outside 64-bit mode): PUSH, POP, CALL, RET or a
// general-path kind that pushes (from flow()'s kinds where there are some).
function usesStack(blocks: Block[], gkt?: GkTable): boolean {
  for (let b = 0; b < blocks.length; b++) {
    const insns = blocks[b].insns;
    for (let n = 0; n < insns.length; n++) {
      const i = insns[n], f = i.form;
      if (f === F.PUSH || f === F.POP || f === F.CALL || f === F.RET) return true;
      if (f === -1) continue;
      if (STACK_KINDS.has(gkt ? gkt.kinds[gkt.first[b] + n] : generalKind(i))) return true;
    }
  }
  return false;
}

// The end of every region's function after its registers' write-back: the lazy flags, RIP and the exit's
// reason stored, the exit counted, the chaining (chain), the count returned: the same bytes for the same
// chain and mode, made once.
const TAILS = new Map<number, Uint8Array>();
function exitTail(chain: boolean, mode: number): Uint8Array {
  const key = mode * 2 + (chain ? 1 : 0);
  let t = TAILS.get(key);
  if (t) return t;
  const c = new Code(512);
  // An INC/DEC state keeps CF in RFLAGS.
  c.get(L_FOP).i32(LF_INC).op(Op.i32_sub).i32(2).op(Op.i32_lt_u).if_();
  c.i32(0).i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).i64(~1n).op(Op.i64_and).get(L_FCF)
    .op(Op.i64_extend_i32_u)
    .op(Op.i64_or).mem(Op.i64_store, MM.CPU_STATE + MM.CPU_RFLAGS, 3);
  c.end();
  c.i32(0).get(L_FOP).mem(Op.i32_store, MM.JIT_IO + MM.JIO_LF_OP, 2);
  c.i32(0).get(L_FSZ).mem(Op.i32_store, MM.JIT_IO + MM.JIO_LF_SIZE, 2);
  c.i32(0).get(L_FA).mem(Op.i64_store, MM.JIT_IO + MM.JIO_LF_A, 3);
  c.i32(0).get(L_FB).mem(Op.i64_store, MM.JIT_IO + MM.JIO_LF_B, 3);
  c.i32(0).get(L_FRES).mem(Op.i64_store, MM.JIT_IO + MM.JIO_LF_RES, 3);
  c.i32(0).get(L_XIP).mem(Op.i64_store, MM.JIT_IO + MM.JIO_IP, 3);
  c.i32(0).get(L_XR).mem(Op.i32_store, MM.JIT_IO + MM.JIO_EXIT, 2);
  const stat = MM.JIT_IO + MM.JIO_STATS + MM.JSTAT_EXIT0 * 8;
  c.get(L_XR).i32(3).u8(0x74 /* i32.shl */).tee(L_P);
  c.get(L_P).mem(Op.i64_load, stat, 3).i64(1).op(Op.i64_add).mem(Op.i64_store, stat, 3);
  if (chain) chainExit(c, mode);
  c.get(L_N);
  t = c.b.slice();
  if (TAILS.size > 64) TAILS.clear();
  TAILS.set(key, t);
  return t;
}

// Storage for the functions' bodies, carved from slabs of 1 MiB: a body stays valid as long as its function
// definition, but translateBatch, whose definitions die with it, gives the storage of its batch back
// (slabMark/slabRelease), so that the same memory serves every batch (a new Uint8Array per body was a tenth
// of the translator's time, much of it the first touch of new memory).
let SLAB = new Uint8Array(0), slabAt = 0;
function slab(n: number): Uint8Array {
  if (slabAt + n > SLAB.length) { SLAB = new Uint8Array(Math.max(1 << 20, n)); slabAt = 0; }
  const b = SLAB.subarray(slabAt, slabAt + n);
  slabAt += n;
  return b;
}
export interface SlabMark { slab: Uint8Array; at: number }
/** Where the bodies made from now on start (slabRelease gives them back). */
export function slabMark(): SlabMark { return { slab: SLAB, at: slabAt }; }
/** The bodies made since `m` are dead: their storage is used again. */
export function slabRelease(m: SlabMark): void {
  if (SLAB === m.slab) slabAt = m.at;
  else slabAt = 0; // (a new slab was started since: all of it belongs to the dead bodies)
}

// `prev`: a translation of the same blocks with every block starting from an unknown state; a block that
// starts unknown here too is copied from it (a block's code depends only on the block and its start state).
function translateWith(blocks: Block[], entry0: number, x64: boolean, name: string, mode: number, chain: boolean,
  inSt0: FlagState[], lay0: Layout, prev?: Translation, page0?: number, gkt?: GkTable): Translation {
  entry = entry0; is64 = x64; inSt = inSt0; lay = lay0; page = page0;
  edges = [];
  const seg: [number, number][] = [];
  const out: FlagState[] = blocks.map(() => null);
  touched = blocks.map(() => false);
  c = (prev ? SCRATCH2 : SCRATCH1).start();
  index = new Map<number, number>();
  blocks.forEach((b, i) => index.set(b.start, i));
  k = blocks.length;
  written = 0;
  SW = is64 ? 8 : 4;
  bi = 0; blk = blocks[0]; L = 0; st = null; unknownStart = true; extra = 0; exitOff = 0;
  aluOp = Op.i64_add; aluW32 = false;
  curI = blocks[0].insns[0];

  // Entry: lazy flags into locals (the registers the region uses are loaded in front of all this, below).
  c.i32(0).mem(Op.i32_load, MM.JIT_IO + MM.JIO_LF_OP, 2).set(L_FOP);
  c.i32(0).mem(Op.i32_load, MM.JIT_IO + MM.JIO_LF_SIZE, 2).set(L_FSZ);
  c.i32(0).mem(Op.i64_load, MM.JIT_IO + MM.JIO_LF_A, 3).set(L_FA);
  c.i32(0).mem(Op.i64_load, MM.JIT_IO + MM.JIO_LF_B, 3).set(L_FB);
  c.i32(0).mem(Op.i64_load, MM.JIT_IO + MM.JIO_LF_RES, 3).set(L_FRES);
  if (!is64 && usesStack(blocks, gkt)) {
    // 4-byte stack slots need a 32-bit stack (SS.B): otherwise the interpreter runs this code.
    c.i32(0).mem(Op.i32_load16_u, MM.CPU_STATE + MM.CPU_SEG + MM.SEG_SS * MM.SEG_SIZE + MM.SEGF_ATTR, 1).i32(0x4000)
      .op(Op.i32_and).op(Op.i32_eqz);
    c.if_().get(L_N).op(Op.return_).end();
  }
  c.i32(0).mem(Op.i64_load, MM.CPU_STATE + MM.CPU_RFLAGS, 3).op(Op.i32_wrap_i64).i32(1).op(Op.i32_and).set(L_FCF);

  labels = [EXIT];
  c.block(); // $exit
  openLabels(-1);

  if (prev) { c.regs |= prev.regs; written |= prev.written; }
  const prevCode = prev?.code;
  for (bi = 0; bi < k; bi++) {
    if (bi > 0) { // the label of block bi ends: its code follows
      if (labels[labels.length - 1] !== bi) throw new Error(`jit: block ${bi}'s label is not innermost`);
      c.end(); labels.pop();
    }
    if (lay.loopEnd[bi] >= 0) { c.loop(); labels.push(LOOP + bi); openLabels(bi); }
    const s0 = c.len;
    if (prev && inSt[bi] === null) {
      c.bytes(prevCode!.subarray(prev.seg[bi][0], prev.seg[bi][1]));
      seg.push([s0, c.len]);
      closeLoops(bi);
      continue;
    }
    blk = blocks[bi];
    L = 0;
    for (const i of blk.insns) if (i.form !== -1) L++;
    st = inSt[bi];
    unknownStart = st === null;
    extra = 0;
    // Budget, then count the block.
    c.get(L_N).i32(L).op(Op.i32_add).get(L_BUDGET).op(Op.i32_gt_s).if_(); extra++;
    exitAt(blk.start, MM.JEXIT_BUDGET, L);
    c.end(); extra--;
    c.get(L_N).i32(L).op(Op.i32_add).set(L_N);

    for (let idx = 0; idx < blk.insns.length; idx++) {
      const i = blk.insns[idx];
      const f = i.form;
      curI = i;
      if (f === -1) { exitAt(i.off, i.cont ? MM.JEXIT_BRANCH : MM.JEXIT_UNSUPPORTED, idx); break; }
      const size = formSize(f);
      const gk = gkt ? gkt.kinds[gkt.first[bi] + idx] : generalKind(i);
      const st0 = st, touched0 = touched[bi];
      if (gk === "rot" || gk === "shcl" || gk === "shd") sync(); // the state may stay or change, by the count
      // (fast forms and the general path's apart: a fast form meets only the cases of its kind)
      const fn = gk === null ? FAST_FN[f] : gk === "divm" ? fxDIV32 : GEN_FN.get(gk);
      if (!fn) throw new Error(`jit: form ${f} has no translation`);
      fn(i, f, idx, size, gk);
      { // (the flag-state pass's view of this instruction must be what it did: see flagStep)
        const want = flagStep(i, gk, st0, is64);
        if (
          want === KEEP ? st !== st0 || touched[bi] !== touched0 : !touched[bi] || !sameState(st, want as FlagState)
        ) {
          throw new Error(`jit: flagStep disagrees with the translation of form ${f} (${gk})`);
        }
      }
      if (idx === blk.insns.length - 1 && !isBranch(f) && f !== F.RET) {
        // The block ends without a branch: fall through to the next block.
        if (blk.next !== null && index.get(blk.next) !== bi + 1) goTo(blk.next, L);
        else if (blk.next === null) exitAt(i.off + i.len, MM.JEXIT_BRANCH, L);
        // falls into the next block
        else { edges.push(bi, bi + 1); if (unknownStart || inSt[bi + 1] === null) sync(); }
      }
    }
    out[bi] = st;
    seg.push([s0, c.len]);
    closeLoops(bi);
  }
  // The last block's code ends in an exit or a branch: nothing reaches here but through $exit.
  if (labels.length !== 1) throw new Error("jit: labels left open");
  c.end(); // $exit
  // Write back: registers, lazy flags, RIP; count the exit.
  for (let r = 0; r < 16; r++)
    if (written & (1 << r)) c.i32(0).get(L_R0 + r).mem(Op.i64_store, MM.CPU_STATE + r * 8, 3);
  c.bytes(exitTail(chain, mode));
  // Only the registers the region touches are loaded at entry.
  const body = new Code(slab(16 * 10 + c.len));
  for (let r = 0; r < 16; r++)
    if (c.regs & (1 << r)) body.i32(0).mem(Op.i64_load, MM.CPU_STATE + r * 8, 3).set(L_R0 + r);
  body.bytes(c.b);
  return {
    def: { params: REGION_PARAMS, results: [T_I32], locals: LOCALS, body, export: name }, edges, out, touched, seg,
    regs: c.regs, written, code: c.b
  };
}
