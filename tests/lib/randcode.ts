// Seeded random integer code for the JIT's tests (tests/jit.test.ts in lockstep with the interpreter,
// tests/jitrecord.test.ts): the forms the JIT translates and some it does not, in a counted loop with
// forward branches, AT&T syntax for tests/lib/asm.ts. The loop counter (%r12 / %ebp) and the data base
// (%rbx / %ebx) are never written; data is addressed from %rbx (flatcpu's DATA), RIP- and GS-relative too.
import { DATA } from "./flatcpu";

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000; };
}

const R64 = ["%rax", "%rcx", "%rdx", "%rsi", "%rdi", "%r8", "%r9", "%r10", "%r11"];
const R32of64 = ["%eax", "%ecx", "%edx", "%esi", "%edi", "%r8d", "%r9d", "%r10d", "%r11d"];
const R32 = ["%eax", "%ecx", "%edx", "%esi", "%edi"];
const B8 = ["%al", "%cl", "%dl", "%bl", "%ah", "%ch", "%dh"];

// One random instruction (AT&T syntax). The loop counter (%r12 / %ebp) and the data base (%rbx / %ebx)
// are never written.
export function insn(r: () => number, bits: 32 | 64): string {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const q = bits === 64 && r() < 0.5;
  const regs = bits === 64 ? (q ? R64 : R32of64) : R32;
  const sfx = q ? "q" : "l";
  const a = pick(regs), b = pick(regs);
  const imm = pick([0, 1, 2, 7, 31, 0x7f, -1, -128, 0x1234, -0x8000, 0x7fffffff]);
  const disp = pick([0, 4, 8, -8, 0x100, 0x7fc, 0x7f8, 0x7fe, -0x800, -0x7fc, 0x1000, -0x804]);
  const m = `${disp}(%${bits === 64 ? "rbx" : "ebx"})`;
  const alu = pick(["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]);
  const cc = pick(["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]);
  if (bits === 64 && r() < 0.08) { // RIP- and GS-relative operands (GS base = the data base)
    return pick(
      [`mov${sfx} datap+${disp}(%rip), ${a}`, `add${sfx} ${a}, datap+${disp}(%rip)`, `lea datap+${disp}(%rip), %rax`,
      `mov${sfx} %gs:${disp & 0x7ff}, ${a}`, `sub${sfx} ${a}, %gs:${disp & 0x7ff}`, `lea %gs:${disp & 0x7ff}, %rdx`,
      `cmp${sfx} $${imm}, %gs:${disp & 0x7ff}`
    ]
    );
  }
  if (r() < 0.12) { // byte, TEST and SETcc memory forms, BSWAP, prefetch (general-path forms the JIT translates)
    const a8 = pick(B8), alu8 = pick(["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]);
    return pick([`testb $${imm & 0xff}, ${m}`, `test${sfx} $${imm}, ${m}`, `test${sfx} ${a}, ${m}`, `testb ${a8}, ${m}`,
      `${alu8}b ${a8}, ${m}`, `${alu8}b ${m}, ${a8}`, `${alu8}b ${pick(B8)}, ${a8}`, `${alu8}b $${imm & 0x7f}, ${m}`,
      `movb ${m}, ${a8}`, `set${cc} ${m}`, `bswap ${a}`, `prefetcht0 ${m}`, `mul${sfx} ${b}`,
      `xor %edx, %edx\ndiv${sfx} ${m}`, `${pick(["rol", "ror"])}${sfx} $${pick([0, 1, 5, 31, 32, 33, 63])}, ${a}`,
      `${pick(["rol", "ror"])}${sfx} ${a}`, `${pick(["rol", "ror"])}${sfx} %cl, ${a}`,
      `${pick(["", "lock "])}${pick(["add", "or", "adc", "sbb", "and", "sub", "xor"])}${sfx} $${imm}, ${m}`,
      `cmp${sfx} $${imm}, ${m}`,
      `${pick(["", "lock "])}cmpxchg${sfx} ${b}, ${m}`,
      `mov${sfx} ${m}, ${q ? "%rax" : "%eax"}\nlock cmpxchg${sfx} ${b}, ${m}`,
      `${pick(["", "lock "])}xadd${sfx} ${a}, ${m}`,
      `${pick(["shld", "shrd"])}${sfx} $${pick([0, 1, 7, 31, 32, 63])}, ${b}, ${a}`,
      `${pick(["shld", "shrd"])}${sfx} %cl, ${b}, ${a}`, `${pick(["bt", "bts", "btr", "btc"])}${sfx} ${b}, ${a}`,
      `${pick(["bt", "bts", "btr", "btc"])}${sfx} $${pick([0, 1, 31, 33, 63, 200])}, ${pick([a, m])}`,
      `mov $${pick([-64, -1, 0, 5, 40, 100, 200])}, ` + `%edx\n${pick(["bt", "bts", "btr", "btc"])}${sfx} `
        + `${q ? "%rdx" : "%edx"}, ${m}`
    ]
    );
  }
  switch (Math.floor(r() * 30)) {
    case 0: return `mov${sfx} ${b}, ${a}`;
    case 1: return `mov${sfx} $${imm}, ${a}`;
    case 2: return `lea${sfx} ${disp}(${b},${a === b ? b : a},${pick([1, 2, 4, 8])}), ${a}`.replace(/lea\w/, "lea");
    case 3: return `mov${sfx} ${m}, ${a}`;
    case 4: return `mov${sfx} ${a}, ${m}`;
    case 5: return `${alu}${sfx} ${b}, ${a}`;
    case 6: return `${alu}${sfx} $${imm}, ${a}`;
    case 7: return `${alu}${sfx} ${m}, ${a}`;
    case 8: return alu === "cmp" ? `cmp${sfx} ${a}, ${m}` : `${alu}${sfx} ${a}, ${m}`;
    case 9: return `cmp${sfx} $${imm}, ${m}`;
    case 10: return `inc${sfx} ${a}`;
    case 11: return `dec${sfx} ${a}`;
    case 12: return `incl ${m}`;
    case 13: return `decl ${m}`;
    case 14: return `${pick(["shl", "shr", "sar"])}${sfx} $${1 + Math.floor(r() * (q ? 63 : 31))}, ${a}`;
    case 15: return `imul ${b}, ${a}`.replace(/imul/, q ? "imulq" : "imull");
    case 16: return `imul${sfx} $${imm}, ${b}, ${a}`;
    case 17: return r() < 0.7 ? `cmov${cc} ${b}, ${a}` : `cmov${cc} ${m}, ${a}`;
    case 18: return `set${cc} ${pick(B8)}`;
    case 19: return `test${sfx} ${b}, ${a}`;
    case 20: return `test${sfx} $${imm}, ${a}`;
    case 21: return `xchg${sfx} ${a}, ${m}`;
    case 22: return `not${sfx} ${a}`;
    case 23:
      return pick([bits === 64 ? `push %${pick(["rax", "rcx", "rdx", "rsi", "r8"])}` : `push %eax`, `push $${imm}`,
      `push${bits === 64 ? "q" : "l"} ${m}`, "pushf"]);
    case 24: return bits === 64 ? `pop %${pick(["rax", "rcx", "rdx", "rsi", "r8"])}` : `pop %ecx`;
    case 25: return `movzbl ${pick(B8)}, ${R32[Math.floor(r() * 5)]}`;
    case 26: return `movsbl ${m}, ${R32[Math.floor(r() * 5)]}`;
    case 27: return `movb ${pick(B8)}, ${m}`;
    case 28: return `cmpb $${imm & 0x7f}, ${m}`;
    default: return pick([
      "cltq", "cwtl", "nop", "movl %eax, %eax", `bsf ${b}, ${a}`
    ]).replace("cltq", bits === 64 ? "cltq" : "cwtl");
  }
}

export function program(seed: number, bits: 32 | 64): string {
  const r = rng(seed);
  const body: string[] = [];
  const n = 20 + Math.floor(r() * 40);
  for (let i = 0; i < n; i++) {
    if (r() < 0.12) body.push(`j${["e", "ne", "b", "a", "l", "ge", "s"][Math.floor(r() * 7)]} 1f`, insn(r, bits), "1:");
    else body.push(insn(r, bits));
  }
  const ctr = bits === 64 ? "%r12d" : "%ebp";
  return [
    `.set datap, ${DATA + 0x800}`, `mov $${5 + Math.floor(r() * 40)}, ${ctr}`, "top:", ...body, `dec ${ctr}`, "jnz top",
    "ud2"
  ].join("\n");
}


// One random instruction of the forms compiled code has the core run (host/jit/translate.ts coreRun):
// SSE/MMX with memory operands (aligned, misaligned: #GP for MOVDQA/MOVAPS and legacy-SSE m128, across
// pages), SSE forms that read or write general registers or flags, x87, 16-bit and byte forms, BSF/BSR/
// TZCNT/LZCNT/POPCNT, CMPXCHG8B/16B. (The loop counter %r12 / %ebp and the data base %rbx / %ebx are
// never written.)
export function coreInsn(r: () => number, bits: 32 | 64): string {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const b = bits === 64 ? "%rbx" : "%ebx";
  const x = () => `%xmm${Math.floor(r() * (bits === 64 ? 12 : 8))}`;
  const g = pick(R32), g2 = pick(R32), w = pick(["%ax", "%cx", "%dx", "%si", "%di"]), b8 = pick(B8);
  const gq = bits === 64 && r() < 0.5 ? pick(R64) : g;
  const disp = pick([0, 16, -16, 0x100, 0x7f0, -0x800, 0x7f8, 0x7fc, 0xff0, 8, 4, 0x7ff]);
  const m = `${disp}(${b})`;
  const ma = r() < 0.85 ? `${pick([0, 16, -16, 0x100, 0x7f0, -0x800, 0xff0])}(${b})` : m; // aligned, mostly
  const cc = pick(["e", "ne", "b", "a", "p", "s", "l", "ge"]);
  return pick([
    `movdqu ${m}, ${x()}`, `movdqu ${x()}, ${m}`, `movdqa ${ma}, ${x()}`, `movdqa ${x()}, ${ma}`, `movups ${m}, ${x()}`,
    `movaps ${x()}, ${ma}`, `movq ${m}, ${x()}`, `movq ${x()}, ${m}`, `movlpd ${m}, ${x()}`, `movhpd ${m}, ${x()}`,
    `movhps ${x()}, ${m}`,
    `movsd ${m}, ${x()}`, `movsd ${x()}, ${m}`, `movss ${m}, ${x()}`, `movss ${x()}, ${m}`,
    `${pick(["pcmpeqb", "pminub", "por", "pand", "pxor", "paddd", "psubb", "pcmpeqd", "punpcklbw", "pmaxub"])} `
      + `${ma}, ${x()}`,
    `pshufd $0x1b, ${ma}, ${x()}`, `addsd ${m}, ${x()}`, `mulss ${m}, ${x()}`, `pcmpeqb ${x()}, ${x()}`,
    `pmovmskb ${x()}, ${g}`, `movmskps ${x()}, ${g}`, `movmskpd ${x()}, ${g}`, `pextrw $3, ${x()}, ${g}`,
    `pinsrw $5, ${g}, ${x()}`,
    `pinsrw $2, ${m}, ${x()}`, `cvtsi2sd ${gq}, ${x()}`, `cvtsi2sdl ${m}, ${x()}`, `cvttsd2si ${x()}, ${gq}`,
    `cvtsd2si ${m}, ${g}`,
    `ucomisd ${x()}, ${x()}\nset${cc} %al`, `comiss ${m}, ${x()}\nj${cc} 7f\nnot %edx\n7:`,
    `ptest ${x()}, ${x()}\nset${cc} %dl`,
    `pcmpistri $0x1a, ${x()}, ${x()}`, `pcmpistri $0x0c, ${m}, ${x()}\nseta %cl`, `pextrd $1, ${x()}, ${g}`,
    `pextrb $5, ${x()}, ${m}`,
    `pinsrd $2, ${g}, ${x()}`,
    `${pick(["bsf", "bsr", "tzcnt", "lzcnt", "popcnt"])} ${pick([g2, m])}, ${g}\nset${cc} %cl`,
    `${pick(["add", "sub", "and", "or", "xor", "cmp", "adc"])}w ${pick(["%ax", "%cx", "%dx", "$5", "$-3", m])}, ${w}`,
    `${pick(["add", "sub", "cmp"])}w ${w}, ${m}`, `testw ${w}, ${w}\nj${cc} 7f\ninc %eax\n7:`, `movw ${m}, ${w}`,
    `movw ${w}, ${m}`,
    `${pick(["rol", "ror", "shl", "shr", "sar", "rcl"])}b $${pick([1, 3, 7, 9])}, ${b8}`,
    `${pick(["shl", "sar"])}w %cl, ${w}`,
    `movb $${pick([0, 5, 0x80])}, ${b8}`, `imul ${m}, ${g}`, `xchgb ${b8}, ${m}`, `notw ${w}`, `negb ${b8}`,
    `cmpxchg8b ${m}`, ...(bits === 64 ? [`cmpxchg16b ${ma}`, `push %rbp\nmov %rsp, %rbp\nleave`] : []), `mov %ds, ${g}`,
    `fldl ${m}\nfaddl ${m}\nfstpl ${m}`, `fildl ${m}\nfld1\nfcomip %st(1), %st\nset${cc} %al\nfistpl ${m}`,
    `fnstsw %ax`, `fldz\nfstps ${m}`,
  ]);
}

export function coreProgram(seed: number, bits: 32 | 64): string {
  const r = rng(seed);
  const body: string[] = [];
  const n = 20 + Math.floor(r() * 30);
  for (let i = 0; i < n; i++) {
    if (r() < 0.1)
      body.push(`j${["e", "ne", "b", "a", "l", "ge", "s"][Math.floor(r() * 7)]} 1f`, coreInsn(r, bits), "1:");
    else body.push(r() < 0.6 ? coreInsn(r, bits) : insn(r, bits));
  }
  const ctr = bits === 64 ? "%r12d" : "%ebp";
  return [
    `.set datap, ${DATA + 0x800}`, "fninit", `mov $${5 + Math.floor(r() * 30)}, ${ctr}`, "top:", ...body, `dec ${ctr}`,
    "jnz top", "ud2"
  ].join("\n");
}
