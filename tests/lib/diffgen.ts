// Generator of differential test cases for user-level x86 instructions (see tests/lib/diffrun.ts).
// A case is one instruction (or a short sequence) in AT&T syntax plus a full initial state: all GPRs,
// the arithmetic flags (and DF), and the content of a 512-byte memory region at a fixed address
// (REGION): a 256-byte data buffer that memory operands address, then a 256-byte stack area that RSP
// points into. Each case also carries the flags the Intel SDM leaves undefined for it (not compared)
// and registers whose final value is undefined (not compared), the registers whose final value
// depends on the CPU vendor (with each vendor's documented value: docs/CPU-FLAGS.md) and the CPUID
// feature the reference CPU needs for the form.
// Cases are reproducible: every form has its own PRNG seeded from (seed, form name).

export const REGION = 0x200000;
export const DATA = REGION; // 256-byte data buffer
export const STACK = REGION + 0x100; // 256-byte stack area
export const MEMSIZE = 512;
export const STACK_TOP = STACK + 0x80;

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const FLAG_NAMES: [number, string][] =
  [[CF, "CF"], [PF, "PF"], [AF, "AF"], [ZF, "ZF"], [SF, "SF"], [DF, "DF"], [OF, "OF"]];

export type Bits = 32 | 64;

export interface Case {
  group: string;
  form: string;
  bits: Bits;
  text: string; // AT&T source; statements separated by ';'
  regs: bigint[]; // 16 entries (32-bit mode: 8 used, the rest 0)
  flags: number; // initial arithmetic flags | DF
  mem: Uint8Array; // MEMSIZE bytes at REGION
  undef: number; // flags not compared
  skipRegs: number; // bitmask of registers not compared
  vendor?: VendorDep; // registers whose final value is model-specific
  needs?: Feature; // a CPUID feature the reference CPU must have (else it runs another instruction)
  qemuBug?: number; // defined flags qemu-i386 gets wrong: not compared when it is the reference (32-bit cases)
}

/**
 * Registers whose final value differs between CPU models, with the final values documented for each
 * vendor's models (docs/CPU-FLAGS.md, "Vendor-dependent behaviour"). The emulator must give the first
 * documented result of the vendor its CPUID reports; the real CPU is held to one of its own vendor's.
 */
export interface VendorDep {
  what: string;
  regs: number; // bitmask of the registers concerned
  values: Record<string, bigint[][]>; // by CPUID vendor string: per documented model, all 16 final register values
}

/** CPUID features some forms need (a CPU without LZCNT runs F3 0F BD as BSR, without BMI1 F3 0F BC as BSF). */
export type Feature = "lzcnt" | "bmi1" | "bmi2" | "popcnt" | "cx16" | "lahf64";
export const FEATURES: Record<Feature, { word: "1.ecx" | "7.ebx" | "80000001.ecx"; bit: number }> = {
  lzcnt: { word: "80000001.ecx", bit: 5 }, // ABM
  bmi1: { word: "7.ebx", bit: 3 }, // TZCNT, ANDN, BEXTR, BLSI, BLSMSK, BLSR
  bmi2: { word: "7.ebx", bit: 8 }, // BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX
  popcnt: { word: "1.ecx", bit: 23 },
  cx16: { word: "1.ecx", bit: 13 }, // CMPXCHG16B
  lahf64: { word: "80000001.ecx", bit: 0 }, // LAHF/SAHF in 64-bit mode
};

// ---- PRNG (xoshiro128**) ----
export class Rng {
  private s: Uint32Array;
  constructor(seed: number, salt = "") {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < salt.length; i++) h = Math.imul(h ^ salt.charCodeAt(i), 0x01000193) >>> 0;
    const sm = () => {
      h = (h + 0x9e3779b9) >>> 0; let z = h; z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35); return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = new Uint32Array([sm(), sm(), sm(), sm() | 1]);
  }
  u32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11);
    return r;
  }
  int(n: number): number { return this.u32() % n; }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); } // inclusive
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
  bits(w: number): bigint { return this.u64() & mask(w); }
}
function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }

export const mask = (w: number): bigint => (1n << BigInt(w)) - 1n;
export const sx = (v: bigint, w: number): bigint => BigInt.asIntN(w, v);

/** A w-bit operand value: edge values (0, 1, -1, sign boundaries, single bits...) or random. */
export function val(r: Rng, w: number): bigint {
  if (r.chance(0.45)) {
    const m = mask(w), sb = 1n << BigInt(w - 1);
    switch (r.int(12)) {
      case 0: return 0n;
      case 1: return 1n;
      case 2: return m;
      case 3: return sb;
      case 4: return sb - 1n;
      case 5: return sb + 1n;
      case 6: return sb - 2n;
      case 7: return m - 1n;
      case 8: return 1n << BigInt(r.int(w));
      case 9: return BigInt(r.int(256));
      case 10: return (m - BigInt(r.int(256))) & m;
      default: return r.chance(0.5) ? mask(w / 2) : (mask(w / 2) << BigInt(w / 2));
    }
  }
  return r.bits(w);
}

// ---- register names ----
const R64 =
  ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const R32 = [
  "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"
];
const R16 =
  ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"];
const R8 =
  ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"];
const R8H = ["ah", "ch", "dh", "bh"];
export const REG_NAMES = R64;

export function regName(i: number, w: number, bits: Bits = 64): string {
  if (w === 64) return "%" + R64[i];
  if (w === 32) return "%" + R32[i];
  if (w === 16) return "%" + R16[i];
  return "%" + R8[i];
}
export const sfx = (w: number): string => (w === 8 ? "b" : w === 16 ? "w" : w === 32 ? "l" : "q");
const hex = (v: bigint): string => "0x" + v.toString(16);

/** A register operand: its name, the GPR it lives in, and the bit position of its low bit. */
interface RegOp { name: string; reg: number; shift: number; w: number }

/** State under construction for one case. */
export class Ctx {
  regs: bigint[];
  mem: Uint8Array;
  flags: number;
  undef = 0;
  skipRegs = 0;
  vendor?: VendorDep;
  needs?: Feature;
  qemuBug = 0;
  reserved = new Set<number>([4]); // RSP is never a free operand
  byteLegacy: boolean; // byte registers of this case: al..bh (no REX) or al..r15b (REX, no ah..bh)
  constructor(readonly r: Rng, readonly bits: Bits) {
    const n = bits === 64 ? 16 : 8;
    this.regs = [];
    for (let i = 0; i < 16; i++) {
      let v = 0n;
      if (i < n) {
        v = r.u64();
        if (r.chance(0.3)) { const w = r.pick([8, 16, 32, 64]); v = (v & ~mask(w)) | val(r, w); }
        if (bits === 32) v &= mask(32);
      }
      this.regs.push(v);
    }
    this.regs[4] = BigInt(STACK_TOP);
    this.mem = new Uint8Array(MEMSIZE);
    for (let i = 0; i < MEMSIZE; i++) this.mem[i] = r.u32() & 0xff;
    if (r.chance(0.2)) { const a = r.int(MEMSIZE - 32); this.mem.fill(r.pick([0, 0xff]), a, a + 32); }
    this.flags = 0;
    for (const [f] of FLAG_NAMES) if (f !== DF && r.chance(0.5)) this.flags |= f;
    this.byteLegacy = bits === 32 || r.chance(0.5);
  }
  get nregs(): number { return this.bits === 64 ? 16 : 8; }
  get W(): number { return this.bits; }

  setReg(i: number, v: bigint): void { this.regs[i] = this.bits === 32 ? v & mask(32) : BigInt.asUintN(64, v); }
  /** Set bits [shift, shift+w) of GPR i to v. */
  setBits(i: number, shift: number, w: number, v: bigint): void {
    const m = mask(w) << BigInt(shift);
    this.setReg(i, (this.regs[i] & ~m) | ((v << BigInt(shift)) & m));
  }
  getBits(i: number, shift: number, w: number): bigint { return (this.regs[i] >> BigInt(shift)) & mask(w); }
  reserve(i: number): void { this.reserved.add(i); }
  private bases = new Map<number, number>();
  /** Make GPR b a base register pointing into the data buffer (reserved; one value per case). */
  useBase(b: number): number {
    let bv = this.bases.get(b);
    if (bv === undefined) {
      bv = DATA + this.r.range(0, 255);
      this.bases.set(b, bv);
      this.setReg(b, BigInt(bv));
      this.reserve(b);
    }
    return bv;
  }

  freeRegs(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.nregs; i++) if (!this.reserved.has(i)) out.push(i);
    return out;
  }
  /** Pick a register operand of width w (not reserved). `exclude` lists GPRs to avoid. */
  pickReg(w: number, exclude: number[] = [], noHigh = false): RegOp {
    if (w === 8 && this.byteLegacy) {
      const c: RegOp[] = [];
      for (let i = 0; i < 4; i++) {
        if (this.reserved.has(i) || exclude.includes(i)) continue;
        c.push({ name: "%" + R8[i], reg: i, shift: 0, w });
        if (!noHigh) c.push({ name: "%" + R8H[i], reg: i, shift: 8, w });
      }
      if (c.length) return this.r.pick(c);
    }
    const c = this.freeRegs().filter((i) => !exclude.includes(i) && (w !== 8 || this.bits === 64 || i < 4));
    const reg = this.r.pick(c);
    return { name: regName(reg, w), reg, shift: 0, w };
  }
  /** Pick a register operand and give it an interesting w-bit value. */
  operandReg(w: number, exclude: number[] = [], noHigh = false): RegOp {
    const op = this.pickReg(w, exclude, noHigh);
    this.setBits(op.reg, op.shift, w, val(this.r, w));
    return op;
  }
  readMem(off: number, w: number): bigint {
    let v = 0n;
    for (let i = w / 8 - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.mem[off + i]);
    return v;
  }
  writeMem(off: number, w: number, v: bigint): void {
    for (let i = 0; i < w / 8; i++) { this.mem[off + i] = Number(v & 0xffn); v >>= 8n; }
  }
  /**
   * A memory operand of width w inside the data buffer, given an interesting value. Addressing is
   * absolute or base+displacement (base register `base`, default RBX/EBX, reserved for the case).
   * Call before picking register operands so that the base register is not chosen as one.
   */
  memOp(
    w: number, opts: { off?: number; align?: number; base?: number; noBase?: boolean; value?: boolean } = {}
  ): { text: string; off: number } {
    const size = Math.max(1, w / 8);
    let off = opts.off ?? this.r.int(256 - size + 1);
    if (opts.off === undefined && opts.align) off &= ~(opts.align - 1);
    else if (opts.off === undefined && this.r.chance(0.6)) off &= ~(size - 1);
    if (opts.value !== false) this.writeMem(off, w, val(this.r, w));
    let text: string;
    if (opts.noBase || this.r.chance(0.4)) text = hex(BigInt(DATA + off));
    else {
      const b = opts.base ?? 3;
      const bv = this.useBase(b);
      text = `${off + DATA - bv}(${regName(b, this.bits)})`;
    }
    return { text, off };
  }
}

// ---- forms ----
export interface Form {
  group: string;
  name: string;
  bits: Bits[];
  gen(c: Ctx): string;
}

const both: Bits[] = [32, 64];
const only64: Bits[] = [64];
const widths = (bits: Bits): number[] => (bits === 64 ? [8, 16, 32, 64] : [8, 16, 32]);
const forms: Form[] = [];
function add(group: string, name: string, bitsSet: Bits[], gen: (c: Ctx) => string): void {
  forms.push({ group, name, bits: bitsSet, gen });
}
/** Register a form for each operand width; the 64-bit width only in 64-bit mode. */
function addW(group: string, name: string, ws: number[], gen: (c: Ctx, w: number) => string): void {
  for (const w of ws) add(group, `${name}${sfx(w)}`, w === 64 ? only64 : both, (c) => gen(c, w));
}

/** Immediate of width w as the assembler accepts it (64-bit operations take a sign-extended imm32). */
function imm(c: Ctx, w: number, small = false): string {
  if (small || c.r.chance(0.3)) return String(c.r.range(-128, 127));
  if (w === 64) return String(sx(val(c.r, 32), 32));
  return hex(val(c.r, w));
}

const LOCK_OK = new Set([
  "add", "adc", "sub", "sbb", "and", "or", "xor", "inc", "dec", "neg", "not", "bts", "btr", "btc", "xchg", "xadd",
  "cmpxchg"
]);
function lock(c: Ctx, op: string): string { return LOCK_OK.has(op) && c.r.chance(0.3) ? "lock " : ""; }

// ALU: add adc sub sbb and or xor cmp test
for (const op of ["add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test"]) {
  const logic = op === "and" || op === "or" || op === "xor" || op === "test";
  addW("alu", op, [8, 16, 32, 64], (c, w) => {
    if (logic) c.undef = AF;
    const kinds = op === "test" ? ["rr", "mr", "ri", "mi"] : ["rr", "rm", "mr", "ri", "mi", "ri8", "mi8"];
    const k = c.r.pick(kinds);
    const s = `${op}${sfx(w)}`;
    if (k === "rr") { const a = c.operandReg(w), b = c.operandReg(w); return `${s} ${a.name}, ${b.name}`; }
    if (k === "rm") { const m = c.memOp(w); const a = c.operandReg(w); return `${s} ${m.text}, ${a.name}`; }
    if (k === "mr") {
      const m = c.memOp(w); const a = c.operandReg(w); return `${lock(c, op)}${s} ${a.name}, ${m.text}`;
    }
    if (k === "ri" || k === "ri8") { const a = c.operandReg(w); return `${s} $${imm(c, w, k === "ri8")}, ${a.name}`; }
    const m = c.memOp(w);
    return `${lock(c, op)}${s} $${imm(c, w, k === "mi8")}, ${m.text}`;
  });
}

// adc/sbb chains (multi-precision arithmetic)
for (const op of ["adc", "sbb"]) {
  addW("chain", `${op}-chain`, [8, 16, 32, 64], (c, w) => {
    const first = op === "adc" ? "add" : "sub";
    c.useBase(3);
    const n = c.r.range(2, 4), parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const o = i === 0 && c.r.chance(0.5) ? first : op;
      if (c.r.chance(0.3)) {
        const m = c.memOp(w); const a = c.operandReg(w);
        parts.push(`${o}${sfx(w)} ${c.r.chance(0.5) ? `${m.text}, ${a.name}` : `${a.name}, ${m.text}`}`);
      }
      else { const a = c.operandReg(w), b = c.operandReg(w); parts.push(`${o}${sfx(w)} ${a.name}, ${b.name}`); }
    }
    return parts.join("; ");
  });
}

// inc dec neg not
for (const op of ["inc", "dec", "neg", "not"]) {
  addW(op === "inc" || op === "dec" ? "incdec" : "negnot", op, [8, 16, 32, 64], (c, w) => {
    if (c.r.chance(0.5)) { const a = c.operandReg(w); return `${op}${sfx(w)} ${a.name}`; }
    const m = c.memOp(w);
    return `${lock(c, op)}${op}${sfx(w)} ${m.text}`;
  });
}

// shifts and rotates: by 1, by imm8, by CL
function shiftCount(c: Ctx, w: number, rot9 = false): number {
  const e = [0, 1, 2, w - 1, w, w + 1, 31, 32, 33, 63, 64, 65, 255, 7, 8, 9, 15, 16, 17];
  if (rot9) e.push(w + 1, 2 * w + 2);
  return c.r.chance(0.6) ? c.r.pick(e) : c.r.int(256);
}
for (const op of ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"]) {
  addW("shift", op, [8, 16, 32, 64], (c, w) => {
    const kind = c.r.pick(["1", "imm", "cl"]);
    let count = kind === "1" ? 1 : shiftCount(c, w, op === "rcl" || op === "rcr");
    let dst: string;
    if (c.r.chance(0.6)) {
      if (kind === "cl") { c.reserve(1); }
      dst = c.operandReg(w).name;
    } else dst = c.memOp(w).text;
    let src = "";
    if (kind === "imm") src = `$${count}, `;
    if (kind === "cl") {
      c.setBits(1, 0, 8, BigInt(count)); // the count register is RCX/ECX (CL); not an operand here
      src = "%cl, ";
    }
    const mc = count & (w === 64 ? 63 : 31);
    if (mc !== 0) {
      if (op === "shl" || op === "shr" || op === "sar") {
        c.undef = AF | (mc !== 1 ? OF : 0) | ((op === "shl" || op === "shr") && mc >= w ? CF : 0);
      } else c.undef = mc !== 1 ? OF : 0;
    }
    return `${op}${sfx(w)} ${src}${dst}`;
  });
}

// shld shrd
for (const op of ["shld", "shrd"]) {
  addW("shxd", op, [16, 32, 64], (c, w) => {
    const cl = c.r.chance(0.5);
    let count: number;
    do count = shiftCount(c, w); while (w === 16 && (count & 31) > 16); // result undefined: not generated
    if (cl) c.reserve(1);
    const dst = c.r.chance(0.6) ? c.operandReg(w).name : c.memOp(w).text;
    const src = c.operandReg(w).name;
    let cnt = `$${count}`;
    if (cl) { c.setBits(1, 0, 8, BigInt(count)); cnt = "%cl"; }
    const mc = count & (w === 64 ? 63 : 31);
    if (mc !== 0) c.undef = AF | (mc !== 1 ? OF : 0);
    return `${op}${sfx(w)} ${cnt}, ${src}, ${dst}`;
  });
}

// mul imul (1, 2, 3 operands)
for (const op of ["mul", "imul"]) {
  addW("mul", `${op}1`, [8, 16, 32, 64], (c, w) => {
    c.undef = SF | ZF | AF | PF;
    c.setBits(0, 0, w, val(c.r, w));
    if (w > 8) c.setBits(2, 0, w, val(c.r, w));
    const src = c.r.chance(0.5) ? c.memOp(w).text : c.operandReg(w).name;
    return `${op}${sfx(w)} ${src}`;
  });
}
addW("mul", "imul2", [16, 32, 64], (c, w) => {
  c.undef = SF | ZF | AF | PF;
  const src = c.r.chance(0.5) ? c.memOp(w).text : c.operandReg(w).name;
  return `imul${sfx(w)} ${src}, ${c.operandReg(w).name}`;
});
addW("mul", "imul3", [16, 32, 64], (c, w) => {
  c.undef = SF | ZF | AF | PF;
  const src = c.r.chance(0.5) ? c.memOp(w).text : c.operandReg(w).name;
  return `imul${sfx(w)} $${imm(c, w)}, ${src}, ${c.pickReg(w).name}`;
});

// div idiv (only non-faulting inputs)
function divInputs(c: Ctx, w: number, signed: boolean): { hi: bigint; lo: bigint; d: bigint } {
  const W = BigInt(w);
  for (;;) {
    let d = val(c.r, w);
    if (d === 0n) continue;
    if (!signed) {
      if (c.r.chance(0.3)) { return { hi: 0n, lo: val(c.r, w), d }; }
      const hi = c.r.chance(0.5) ? d - 1n - (c.r.bits(w) % d) : c.r.bits(w) % d;
      return { hi, lo: val(c.r, w), d };
    }
    const ds = sx(d, w);
    const qmin = -(1n << (W - 1n)), qmax = (1n << (W - 1n)) - 1n;
    let q = c.r.chance(0.4) ? c.r.pick([qmin, qmax, 0n, 1n, -1n, qmin + 1n, qmax - 1n]) : sx(c.r.bits(w), w);
    if (c.r.chance(0.3)) q = sx(BigInt(c.r.int(256)), 8);
    const ad = ds < 0n ? -ds : ds;
    let rem = ad > 1n ? c.r.bits(w) % ad : 0n;
    if (c.r.chance(0.2)) rem = ad - 1n;
    const prod = q * ds;
    if (prod < 0n || (prod === 0n && c.r.chance(0.5))) rem = -rem;
    const n = prod + rem;
    const lim = 1n << (2n * W - 1n);
    if (n < -lim || n >= lim) continue;
    let qq = n / ds; // BigInt division truncates toward zero, like IDIV
    if (qq < qmin || qq > qmax) continue;
    const nu = BigInt.asUintN(2 * w, n);
    return { hi: nu >> W, lo: nu & mask(w), d };
  }
}
for (const op of ["div", "idiv"]) {
  addW("div", op, [8, 16, 32, 64], (c, w) => {
    c.undef = ARITH;
    const { hi, lo, d } = divInputs(c, w, op === "idiv");
    if (w === 8) c.setBits(0, 0, 16, (hi << 8n) | lo);
    else { c.setBits(0, 0, w, lo); c.setBits(2, 0, w, hi); }
    let src: string;
    if (c.r.chance(0.5)) { const m = c.memOp(w, { value: false }); c.writeMem(m.off, w, d); src = m.text; }
    else {
      const r = c.pickReg(w, [0, 2]);
      c.setBits(r.reg, r.shift, w, d);
      src = r.name;
    }
    return `${op}${sfx(w)} ${src}`;
  });
}

// bt bts btr btc
for (const op of ["bt", "bts", "btr", "btc"]) {
  addW("bt", op, [16, 32, 64], (c, w) => {
    c.undef = OF | SF | AF | PF;
    const k = c.r.pick(["rr", "ri", "mr", "mi"]);
    const s = `${op}${sfx(w)}`;
    if (k === "rr") { const a = c.operandReg(w), b = c.operandReg(w); return `${s} ${b.name}, ${a.name}`; }
    if (k === "ri") {
      const a = c.operandReg(w); return `${s} $${c.r.chance(0.7) ? c.r.int(w) : c.r.int(256)}, ${a.name}`;
    }
    if (k === "mi") {
      const m = c.memOp(w); return `${lock(c, op)}${s} $${c.r.chance(0.7) ? c.r.int(w) : c.r.int(256)}, ${m.text}`;
    }
    // register bit offset, memory base: the offset reaches anywhere in the data buffer
    const m = c.memOp(w, { off: 128, value: false });
    const off = c.r.range(-1024, 1024 - w);
    const b = c.pickReg(w);
    c.setBits(b.reg, 0, w, BigInt.asUintN(w, BigInt(off)));
    return `${lock(c, op)}${s} ${b.name}, ${m.text}`;
  });
}

// bsf bsr lzcnt tzcnt popcnt (a reference CPU without BMI1 would run tzcnt as bsf: `needs`)
for (const op of ["bsf", "bsr", "lzcnt", "tzcnt", "popcnt"]) {
  addW("bitscan", op, [16, 32, 64], (c, w) => {
    c.undef = op === "bsf" || op === "bsr" ? CF | OF | SF | AF | PF : op === "popcnt" ? 0 : OF | SF | AF | PF;
    if (op === "lzcnt" || op === "popcnt") c.needs = op;
    if (op === "tzcnt") c.needs = "bmi1";
    let v = val(c.r, w);
    if (c.r.chance(0.15)) v = 0n;
    let src: string;
    if (c.r.chance(0.5)) { const m = c.memOp(w, { value: false }); c.writeMem(m.off, w, v); src = m.text; }
    else { const r = c.pickReg(w); c.setBits(r.reg, 0, w, v); src = r.name; }
    const d = c.pickReg(w);
    if (v === 0n && (op === "bsf" || op === "bsr")) c.skipRegs |= 1 << d.reg; // destination undefined
    if (d.name === src && v === 0n && (op === "bsf" || op === "bsr")) c.skipRegs |= 1 << d.reg;
    return `${op}${sfx(w)} ${src}, ${d.name}`;
  });
}

// BMI1/BMI2 (VEX-encoded, 32- and 64-bit operands): a register or memory source (r/m), the other
// operands registers, any of them possibly the same register. AT&T order: Intel's reversed.
/** A w-bit control value for BEXTR (start, length), BZHI (index) or a shift count: edge cases or random. */
function bmiCtl(c: Ctx, w: number, kind: "bextr" | "index" | "count"): bigint {
  const e = [0, 1, 2, w / 2, w - 2, w - 1, w, w + 1, 63, 64, 65, 127, 128, 255];
  const small = () => BigInt(c.r.chance(0.7) ? c.r.pick(e) : c.r.int(256));
  let v = c.r.chance(0.3) ? val(c.r, w) : 0n;
  if (kind === "bextr") v = (v & ~0xffffn) | (small() << 8n) | small();
  else if (kind === "index") v = (v & ~0xffn) | small();
  else v = c.r.chance(0.5) ? (v & ~0xffn) | small() : val(c.r, w);
  return v & mask(w);
}
/** The r/m source: a memory operand (value given) or a register with an interesting value. */
function bmiSrc(c: Ctx, w: number): string { return c.r.chance(0.4) ? c.memOp(w).text : c.operandReg(w).name; }
for (
  const op of [
    "andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx", "sarx", "shlx", "shrx"
  ]
) {
  const bmi1 = ["andn", "bextr", "blsi", "blsmsk", "blsr"].includes(op);
  addW("bmi", op, [32, 64], (c, w) => {
    c.needs = bmi1 ? "bmi1" : "bmi2";
    // Flags the SDM leaves undefined; the flagless BMI2 forms define (leave) them all.
    c.undef = op === "bextr" ? AF | SF | PF : ["andn", "blsi", "blsmsk", "blsr", "bzhi"].includes(op) ? AF | PF : 0;
    // qemu-i386 7.2 (the 32-bit reference) gives BLSI the CF of BLSR/BLSMSK (source zero) instead of
    // source non-zero (the SDM's; the real CPU's: the 64-bit cases and DIFF_NATIVE32=host compare it).
    if (op === "blsi") c.qemuBug = CF;
    const src = bmiSrc(c, w);
    if (op === "blsi" || op === "blsmsk" || op === "blsr") return `${op} ${src}, ${c.pickReg(w).name}`;
    if (op === "rorx") return `rorx ` + `$${c.r.chance(0.6) ? c.r.pick([0, 1, w - 1, w, w + 1, 255]) : c.r.int(256)}, `
      + `${src}, ${c.pickReg(w).name}`;
    const v = c.pickReg(w); // the VEX.vvvv operand
    if (op === "bextr" || op === "bzhi" || op === "sarx" || op === "shlx" || op === "shrx") {
      c.setBits(v.reg, 0, w, bmiCtl(c, w, op === "bextr" ? "bextr" : op === "bzhi" ? "index" : "count"));
      return `${op} ${v.name}, ${src}, ${c.pickReg(w).name}`;
    }
    c.setBits(v.reg, 0, w, val(c.r, w));
    if (op === "mulx" && !c.reserved.has(2)) c.setBits(2, 0, w, val(c.r, w)); // the implicit source rDX
    return `${op} ${src}, ${v.name}, ${c.pickReg(w).name}`;
  });
}

// bswap
addW("bswap", "bswap", [32, 64], (c, w) => `bswap ${c.operandReg(w).name}`);

// movzx movsx movsxd
for (const [name, sw, dw] of [
    ["movzbw", 8, 16], ["movzbl", 8, 32], ["movzbq", 8, 64], ["movzwl", 16, 32], ["movzwq", 16, 64],
  ["movsbw", 8, 16], ["movsbl", 8, 32], ["movsbq", 8, 64], ["movswl", 16, 32], ["movswq", 16, 64], ["movslq", 32, 64]
] as const
) {
  add("movx", name, dw === 64 ? only64 : both, (c) => {
    if (dw === 64) c.byteLegacy = false;
    let src: string;
    if (c.r.chance(0.5)) src = c.memOp(sw).text;
    else src = c.operandReg(sw).name;
    const hiSrc = /%[a-d]h/.test(src);
    const d = hiSrc ? c.pickReg(dw, [8, 9, 10, 11, 12, 13, 14, 15]) : c.pickReg(dw);
    return `${name} ${src}, ${d.name}`;
  });
}

// cmovcc setcc
const CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
for (const cc of CONDS) {
  add("cmov", `cmov${cc}`, both, (c) => {
    const w = c.r.pick(widths(c.bits).filter((x) => x > 8));
    const src = c.r.chance(0.4) ? c.memOp(w).text : c.operandReg(w).name;
    return `cmov${cc}${sfx(w)} ${src}, ${c.operandReg(w).name}`;
  });
  add("setcc", `set${cc}`, both, (c) => `set${cc} ${c.r.chance(0.4) ? c.memOp(8).text : c.pickReg(8).name}`);
}

// xchg cmpxchg xadd
for (const op of ["xchg", "cmpxchg", "xadd"]) {
  addW("xchg", op, [8, 16, 32, 64], (c, w) => {
    if (op !== "xchg") c.undef = 0;
    const s = `${op}${sfx(w)}`;
    if (c.r.chance(0.5)) {
      const a = c.operandReg(w), b = c.operandReg(w);
      if (op === "cmpxchg" && c.r.chance(0.5)) { const v = c.getBits(b.reg, b.shift, w); c.setBits(0, 0, w, v); }
      return `${s} ${a.name}, ${b.name}`;
    }
    const m = c.memOp(w);
    const a = c.operandReg(w);
    if (op === "cmpxchg" && c.r.chance(0.5)) c.setBits(0, 0, w, c.readMem(m.off, w));
    return `${c.r.chance(0.5) ? "lock " : ""}${s} ${a.name}, ${m.text}`;
  });
}
add("xchg", "cmpxchg8b", both, (c) => {
  const m = c.memOp(64, { base: c.r.pick([6, 7]) });
  for (const r of [0, 1, 2, 3]) c.setBits(r, 0, 32, val(c.r, 32));
  if (c.r.chance(0.5)) {
    const v = c.readMem(m.off, 64); c.setBits(0, 0, 32, v & mask(32)); c.setBits(2, 0, 32, v >> 32n);
  }
  return `${c.r.chance(0.5) ? "lock " : ""}cmpxchg8b ${m.text}`;
});
add("xchg", "cmpxchg16b", only64, (c) => {
  c.needs = "cx16";
  const m = c.memOp(128, { align: 16, base: c.r.pick([6, 7]) });
  for (const r of [0, 1, 2, 3]) c.setBits(r, 0, 64, val(c.r, 64));
  if (c.r.chance(0.5)) { c.setBits(0, 0, 64, c.readMem(m.off, 64)); c.setBits(2, 0, 64, c.readMem(m.off + 8, 64)); }
  return `${c.r.chance(0.5) ? "lock " : ""}cmpxchg16b ${m.text}`;
});

// sign extensions of the accumulator
for (
  const [name, w, b64] of [
    ["cbtw", 8, false], ["cwtl", 16, false], ["cltq", 32, true], ["cwtd", 16, false], ["cltd", 32, false],
    ["cqto", 64, true]
  ] as const
) {
  add("cext", name, b64 ? only64 : both, (c) => { c.setBits(0, 0, w, val(c.r, w)); return name; });
}

// lahf sahf
add("lahf", "lahf", both, (c) => { if (c.bits === 64) c.needs = "lahf64"; return "lahf"; });
add(
  "lahf", "sahf", both,
  (c) => { if (c.bits === 64) c.needs = "lahf64"; c.setBits(0, 8, 8, val(c.r, 8)); return "sahf"; }
);

// lea
addW("lea", "lea", [16, 32, 64], (c, w) => {
  const a32 = c.bits === 64 && c.r.chance(0.3);
  const aw = c.bits === 32 || a32 ? 32 : 64;
  const parts: string[] = [];
  const base = c.r.chance(0.8) ? c.r.int(c.nregs) : -1;
  const index = c.r.chance(0.6) ? c.r.pick([...Array(c.nregs).keys()].filter((i) => i !== 4)) : -1;
  const disp = c.r.chance(0.2) ? "" : String(c.r.chance(0.5) ? c.r.range(-128, 127) : sx(c.r.bits(32), 32));
  if (base < 0 && index < 0) parts.push(disp || "0");
  else {
    parts.push(disp);
    parts.push(
      `(${base >= 0 ? regName(base, aw) : ""}${index >= 0 ? `,${regName(index, aw)},${c.r.pick([1, 2, 4, 8])}` : ""})`
    );
  }
  return `lea${sfx(w)} ${parts.join("")}, ${c.pickReg(w).name}`;
});
add("lea", "lea-addr16", [32], (c) => {
  const w = c.r.pick([16, 32]);
  const base = c.r.pick(["%bx", "%bp", ""]);
  const index = c.r.pick(["%si", "%di", ""]);
  const disp = c.r.chance(0.5) ? String(c.r.range(-128, 127)) : String(c.r.int(65536));
  const inner = [base, index].filter((x) => x).join(",");
  return `lea${sfx(w)} ${disp}${inner ? `(${inner})` : "(%si)"}, ${c.pickReg(w).name}`; // 16-bit registers: as adds 67
});

// string instructions on the data buffer, DF=0 and DF=1
for (const [op, preps] of [["movs", ["", "rep "]], ["stos", ["", "rep "]], ["lods", ["", "rep "]],
  ["cmps", ["", "repe ", "repne "]], ["scas", ["", "repe ", "repne "]]] as const) {
  for (const pre of preps) {
    for (const a32 of [false, true]) {
      const gen = (c: Ctx, w: number): string => {
        const e = w / 8;
        const df = c.r.chance(0.5);
        if (df) c.flags |= DF;
        const n = pre ? c.r.pick([0, 1, 2, 3, 4, 5, 7, 8]) : 1;
        const span = n * e;
        const place = () => (df ? c.r.range(Math.max(span - e, 0), 256 - e) : c.r.range(0, 256 - Math.max(span, e)));
        const si = place();
        let di = place();
        if (op === "movs" && c.r.chance(0.3)) { // overlapping source and destination
          const d = si + c.r.range(-2 * e - 1, 2 * e + 1);
          if (d >= (df ? Math.max(span - e, 0) : 0) && d <= (df ? 256 - e : 256 - Math.max(span, e))) di = d;
        }
        const hi = c.bits === 64 && a32 ? c.r.u64() & ~mask(32) : 0n; // ignored with a 32-bit address size
        c.setReg(6, BigInt(DATA + si) | hi);
        c.setReg(7, BigInt(DATA + di) | (a32 ? c.r.u64() & ~mask(32) : 0n));
        if (pre) c.setReg(1, BigInt(n) | (a32 ? c.r.u64() & ~mask(32) : 0n));
        if (op === "cmps" && c.r.chance(0.7)) { // mostly-equal strings so that REPE/REPNE stop at various points
          const lo = df ? si - span + e : si, lo2 = df ? di - span + e : di;
          for (let i = 0; i < span; i++)
            if (lo + i >= 0 && lo2 + i >= 0) c.mem[lo2 + i] = c.r.chance(0.9) ? c.mem[lo + i] : c.r.u32() & 0xff;
        }
        if (op === "scas") {
          c.setBits(
            0, 0, w, c.r.chance(0.6) ? c.readMem(
              Math.max(0, Math.min(256 - e, di + (df ? -1 : 1) * e * c.r.int(Math.max(n, 1)))), w
            ) : val(c.r, w)
          );
          if (c.r.chance(0.3)) c.mem.fill(c.mem[di], Math.max(0, di - span), Math.min(256, di + span));
        }
        if (c.bits === 64 && a32 && n === 0) {
          // No iteration: Intel's CPUs still write ECX and some index registers (upper halves cleared), AMD's do not.
          // Intel model A (a Xeon, issue 13): the index registers the instruction uses; model B (a Xeon, family 6
          // model 167): RSI/RDI only for MOVS and STOS.
          const a = (1 << 1) | (op !== "stos" && op !== "scas" ? 1 << 6 : 0) | (op !== "lods" ? 1 << 7 : 0);
          const b = (1 << 1) | (op === "movs" ? 1 << 6 : 0) | (op === "movs" || op === "stos" ? 1 << 7 : 0);
          const clear = (m: number) => c.regs.map((v, i) => (m & (1 << i) ? v & mask(32) : v));
          c.vendor = {
            what: "addr32 REP string instruction with ECX = 0", regs: a | b,
            values: { GenuineIntel: [clear(a), clear(b)], AuthenticAMD: [[...c.regs]] }
          };
        }
        return `${a32 ? "addr32 " : ""}${pre}${op}${sfx(w)}`;
      };
      for (const w of [8, 16, 32, 64])
        add("string", `${a32 ? "addr32 " : ""}${pre}${op}${sfx(w)}`, a32 || w === 64 ? only64 : both, (c) => gen(c, w));
    }
  }
}

// push pop enter leave (the stack is the 256-byte area after the data buffer)
function stackPtr(c: Ctx): void {
  c.setReg(4, BigInt(STACK_TOP + 8 * c.r.range(-6, 6) + (c.r.chance(0.1) ? 2 : 0)));
}
for (const w of [16, 32, 64]) {
  const bs: Bits[] = w === 64 ? only64 : w === 32 ? [32] : both;
  add("stack", `push${sfx(w)}-r`, bs, (c) => { stackPtr(c); return `push${sfx(w)} ${c.operandReg(w).name}`; });
  add("stack", `pop${sfx(w)}-r`, bs, (c) => { stackPtr(c); return `pop${sfx(w)} ${c.pickReg(w).name}`; });
  add("stack", `push${sfx(w)}-i`, bs, (c) => { stackPtr(c); return `push${sfx(w)} $${imm(c, w)}`; });
  add("stack", `push${sfx(w)}-m`, bs, (c) => { stackPtr(c); return `push${sfx(w)} ${c.memOp(w).text}`; });
  add("stack", `pop${sfx(w)}-m`, bs, (c) => {
    stackPtr(c);
    // address uses the popped RSP
    if (c.r.chance(0.3)) return `pop${sfx(w)} ${8 * c.r.range(-4, 4)}(${regName(4, c.bits)})`;
    return `pop${sfx(w)} ${c.memOp(w).text}`;
  });
  add("stack", `push${sfx(w)}-sp`, bs, (c) => { stackPtr(c); return `push${sfx(w)} ${regName(4, w)}`; });
  add("stack", `pop${sfx(w)}-sp`, bs, (c) => { stackPtr(c); return `pop${sfx(w)} ${regName(4, w)}`; });
}
add("stack", "enter", both, (c) => {
  stackPtr(c);
  const level = c.r.pick([0, 0, 1, 1, 2, 3, 4]);
  c.setReg(5, BigInt(STACK + c.r.range(0x40, 0xf8)) | (c.bits === 64 ? 0n : 0n));
  return `enter $${c.r.pick([0, 8, 16, c.r.int(0x40)])}, $${level}`;
});
add("stack", "leave", both, (c) => {
  stackPtr(c);
  c.setReg(5, BigInt(STACK + c.r.range(0x08, 0xf0)));
  return "leave";
});

// ---- legacy 32-bit instructions (invalid in 64-bit mode): PUSHA/POPA, BCD adjustments, XLAT ----
const only32: Bits[] = [32];
for (const [op, w] of [["pushal", 32], ["pushaw", 16]] as const) {
  add(
    "legacy32", op, only32,
    (c) => { stackPtr(c); for (let i = 0; i < 8; i++) if (i !== 4) c.setBits(i, 0, w, val(c.r, w)); return op; }
  );
}
for (const [op, w] of [["popal", 32], ["popaw", 16]] as const) {
  add("legacy32", op, only32, (c) => {
    stackPtr(c);
    const sp = Number(c.regs[4]) - REGION;
    for (let i = 0; i < 8; i++) if (c.r.chance(0.5)) c.writeMem(sp + i * (w / 8), w, val(c.r, w));
    return op;
  });
}
for (const [push, pop] of [["pushal", "popal"], ["pushaw", "popaw"]] as const) {
  add("legacy32", `${push}-${pop}`, only32, (c) => { // registers changed between the two come back
    stackPtr(c);
    const mods: string[] = [];
    for (let i = 0; i < 8; i++) if (i !== 4 && c.r.chance(0.5)) mods.push(
      c.r.pick([`notl ${regName(i, 32)}`, `movl $${hex(c.r.bits(32))}, ${regName(i, 32)}`, `incl ${regName(i, 32)}`])
    );
    return [push, ...mods, pop].join("; ");
  });
}
for (const op of ["daa", "das", "aaa", "aas"]) {
  add("legacy32", op, only32, (c) => {
    c.undef = op === "daa" || op === "das" ? OF : OF | SF | ZF | PF;
    let al = c.r.chance(0.5) ? BigInt(c.r.range(0, 9) * 16 + c.r.range(0, 15)) : val(c.r, 8); // mostly BCD-ish
    // carry / borrow of the +-6 step
    if (c.r.chance(0.2)) al = BigInt(c.r.pick([c.r.range(0, 5), c.r.range(0xfa, 0xff), c.r.range(0x96, 0x9f)]));
    c.setBits(0, 0, 8, c.r.chance(0.7) ? al : c.r.bits(8));
    c.setBits(0, 8, 8, val(c.r, 8));
    return op;
  });
}
for (const op of ["aam", "aad"]) {
  add("legacy32", op, only32, (c) => {
    c.undef = OF | AF | CF;
    c.setBits(0, 0, 16, val(c.r, 16));
    // base 0: #DE
    const base = c.r.chance(0.5) ? 10 : c.r.chance(0.3) ? c.r.pick([1, 2, 16, 255, 0x80, 7]) : c.r.range(1, 255);
    return base === 10 && c.r.chance(0.5) ? op : `${op} $${base}`;
  });
}
add("legacy32", "xlat", only32, (c) => {
  c.setBits(0, 0, 8, val(c.r, 8));
  c.useBase(3); // EBX + AL stays inside the 512-byte region
  return c.r.pick(["xlat", "xlatb", ".byte 0x36, 0xd7", ".byte 0x3e, 0xd7"]); // with SS / DS overrides
});
// the ModRM forms of INC/DEC r16/r32 (FF /0, FF /1); `incl %reg` assembles to the one-byte 0x40+r form in 32-bit mode
for (const [op, rf] of [["inc", 0xc0], ["dec", 0xc8]] as const) {
  for (const w of [16, 32]) {
    add("incdec", `${op}${sfx(w)}-modrm`, both, (c) => {
      const a = c.operandReg(w, c.bits === 64 ? [8, 9, 10, 11, 12, 13, 14, 15] : []);
      return `.byte ${w === 16 ? "0x66, " : ""}0xff, ${hex(BigInt(rf + a.reg))} # ${op}${sfx(w)} ${a.name}`;
    });
  }
}

// ---- near control flow: every path ends at the end of the case ----
// A "marker" move into a free register shows whether a branch was taken. Code addresses differ
// between the native and the emulator image, so a return address or jump target that lands in a
// register or in memory is normalised in place (flags unaffected): `not %r; lea L+1(%r), %r` gives
// L - r, 0 when r held the address of label L.
function marker(c: Ctx): string {
  const m = c.pickReg(32, [], true);
  c.reserve(m.reg);
  return `movl $${hex(c.r.bits(32) | 1n)}, ${regName(m.reg, 32)}`;
}
function norm(c: Ctx, r: number, label: string): string {
  const n = regName(r, c.bits);
  return `not ${n}; lea ${label}+1(${n}), ${n}`;
}
function branchStack(c: Ctx): void {
  c.setReg(4, BigInt(STACK_TOP + 8 * c.r.range(-6, 6) + (c.r.chance(0.1) ? 4 : 0)));
}
function scratch(c: Ctx): number { const r = c.pickReg(c.bits).reg; c.reserve(r); return r; }
for (const cc of CONDS) {
  add("branch", `j${cc}`, both, (c) => `j${cc} 1f; ${marker(c)}; 1:`);
}
const CCS = [...CONDS, "c", "nc", "z", "nz", "na", "nbe", "nae", "nb", "pe", "po", "nge", "nl", "ng", "nle"];
add("branch", "jcc-rel32", both, (c) => `{disp32} j${c.r.pick(CCS)} 1f; ${marker(c)}; 1:`);
add("branch", "jcc-back", both, (c) => { // backward conditional branch, rel8 or rel32
  const m1 = marker(c), m2 = marker(c);
  return `jmp 2f; 1: ${m1}; jmp 3f; 2: ${c.r.chance(0.5) ? "{disp32} " : ""}j${c.r.pick(CCS)} 1b; ${m2}; 3:`;
});
add("branch", "jmp-rel8", both, (c) => `jmp 1f; ${marker(c)}; 1:`);
add("branch", "jmp-rel32", both, (c) => `{disp32} jmp 1f; ${marker(c)}; 1:`);
add(
  "branch", "jmp-back", both,
  (c) => `jmp 2f; 1: ${marker(c)}; jmp 3f; 2: ${c.r.chance(0.5) ? "{disp32} " : ""}jmp 1b; ${marker(c)}; 3:`
);
add("branch", "jmp-reg", both, (c) => {
  const r = scratch(c), n = regName(r, c.bits);
  const load = c.bits === 64 && c.r.chance(0.5) ? `lea 1f(%rip), ${n}` : `mov $1f, ${n}`;
  return `${load}; jmp *${n}; ${marker(c)}; 1: ${norm(c, r, "1b")}`;
});
/** A memory slot for a code address: its initial value is a sign-extended imm32 that the case writes back. */
function codeSlot(c: Ctx): { text: string; restore: string } {
  const m = c.memOp(c.bits, { value: false, base: c.r.pick([3, 5, 6, 7]) });
  const v = sx(c.r.bits(32), 32);
  c.writeMem(m.off, c.bits, BigInt.asUintN(c.bits, v));
  return { text: m.text, restore: `mov${sfx(c.bits)} $${v}, ${m.text}` };
}
add("branch", "jmp-mem", both, (c) => {
  const s = codeSlot(c);
  return `mov${sfx(c.bits)} $1f, ${s.text}; jmp *${s.text}; ${marker(c)}; 1: ${s.restore}`;
});
const slotBelow = (c: Ctx, n = 0): string => `${-(n + c.bits / 8)}(${regName(4, c.bits)})`;
add("branch", "call-pop", both, (c) => { // call to the next instruction, return address popped
  branchStack(c);
  const r = scratch(c), n = regName(r, c.bits);
  return `call 1f; 1: pop ${n}; ${norm(c, r, "1b")}; mov ${n}, ${slotBelow(c)}`;
});
add("branch", "call-ret", both, (c) => {
  branchStack(c);
  const r = scratch(c), n = regName(r, c.bits);
  return `call 2f; 1: jmp 3f; 2: ${marker(c)}; ret; ${marker(c)}; 3: `
    + `mov ${slotBelow(c)}, ${n}; ${norm(c, r, "1b")}; mov ${n}, ` + `${slotBelow(c)}`;
});
add("branch", "ret-imm16", both, (c) => {
  branchStack(c);
  const k = c.r.chance(0.7) ? c.r.pick([0, 4, 8, 16, 24, 32]) : c.r.range(0, 0x40);
  const r = scratch(c), n = regName(r, c.bits);
  return `call 2f; 1: jmp 3f; 2: ret $${k}; ${marker(c)}; 3: mov `
    + `${slotBelow(c, k)}, ${n}; ${norm(c, r, "1b")}; mov ${n}, ` + `${slotBelow(c, k)}`;
});
add("branch", "call-reg", both, (c) => {
  branchStack(c);
  const t = scratch(c), r = scratch(c), tn = regName(t, c.bits), n = regName(r, c.bits);
  const load = c.bits === 64 && c.r.chance(0.5) ? `lea 2f(%rip), ${tn}` : `mov $2f, ${tn}`;
  return `${load}; call *${tn}; 1: ${marker(c)}; 2: pop ${n}; ` + `${norm(c, r, "1b")}; mov ${n}, ${slotBelow(c)}; `
    + `${norm(c, t, "2b")}`;
});
add("branch", "call-mem", both, (c) => {
  branchStack(c);
  const s = codeSlot(c);
  const r = scratch(c), n = regName(r, c.bits);
  return `mov${sfx(c.bits)} $2f, ${s.text}; call *${s.text}; 1: `
    + `${marker(c)}; 2: pop ${n}; ${norm(c, r, "1b")}; mov ${n}, ` + `${slotBelow(c)}; ${s.restore}`;
});
// LOOP / LOOPE / LOOPNE / JCXZ: one execution towards a forward label, count 0, 1, 2 or random;
// the address size selects RCX, ECX or CX.
function countReg(c: Ctx, aw: number): void {
  c.reserve(1);
  const low =
    c.r.chance(0.7) ? BigInt(c.r.pick([0, 1, 2])) : c.r.chance(0.5) ? val(c.r, aw) : BigInt(c.r.range(3, 300));
  c.setReg(1, c.r.chance(0.5) ? (c.regs[1] & ~mask(aw)) | low : low);
}
for (const op of ["loop", "loope", "loopne", "jcxz"]) {
  for (const aw of [16, 32, 64]) {
    const bs: Bits[] = aw === 64 ? only64 : aw === 16 ? [32] : both;
    const name = op !== "jcxz" ? `${op}-${aw === 16 ? "cx" : aw === 32 ? "ecx" : "rcx"}` : aw === 16 ? "jcxz"
      : aw === 32 ? "jecxz" : "jrcxz";
    add("branch", name, bs, (c) => {
      countReg(c, aw);
      const pre =
        op === "jcxz" ? "" : (c.bits === 64 && aw === 32) || (c.bits === 32 && aw === 16) ? "addr" + aw + " " : "";
      return `${pre}${op === "jcxz" ? name : op} 1f; ${marker(c)}; 1:`;
    });
  }
}
for (const op of ["loop", "loope", "loopne"]) { // backward loops over the data buffer, a few iterations
  add("branch", `${op}-back`, both, (c) => {
    const n = c.r.range(1, 8);
    c.reserve(1); c.setReg(1, BigInt(n));
    const p = c.r.range(0, 256 - n);
    c.setReg(6, BigInt(DATA + p)); c.reserve(6);
    const a = c.operandReg(8, [], true);
    if (c.r.chance(0.7)) for (let i = 0; i < n; i++)
      c.mem[p + i] = c.r.chance(0.8) === (op === "loope") ? Number(c.getBits(a.reg, a.shift, 8)) : c.r.u32() & 0xff;
    const acc = c.pickReg(32, [a.reg]); c.reserve(acc.reg);
    const si = regName(6, c.bits);
    if (op === "loop") return `1: addb (${si}), ${a.name}; lea 1(${si}), ${si}; adcl $1, ${acc.name}; loop 1b`;
    return `1: cmpb ${a.name}, (${si}); lea 1(${si}), ${si}; ${op} 1b`;
  });
}

// ---- NOP forms: must change nothing (and never fault: prefetches of any address are hints) ----
add("nop", "nop", both, () => "nop");
add("nop", "66-nop", both, () => ".byte 0x66, 0x90");
add("nop", "pause", both, () => "pause");
{
  const canonical = [
    "0f 1f 00", "0f 1f 40 00", "0f 1f 44 00 00", "66 0f 1f 44 00 00", "0f 1f 80 00 00 00 00", "0f 1f 84 00 00 00 00 00",
    "66 0f 1f 84 00 00 00 00 00", "66 2e 0f 1f 84 00 00 00 00 00", "66 66 2e 0f 1f 84 00 00 00 00 00",
    "66 66 66 2e 0f 1f 84 00 00 00 00 00",
    "2e 0f 1f 84 00 00 00 00 00", "3e 0f 1f 00", "66 66 90"];
  const bytes = (s: string) => ".byte " + s.split(" ").map((b) => "0x" + b).join(", ");
  add("nop", "nopl-canonical", both, (c) => bytes(c.r.pick(canonical)));
}
/** A random ModRM (+SIB, displacement) with the given reg field; 16-bit addressing if a16, else 32/64-bit. */
function modrm(c: Ctx, reg: number, memOnly = false, a16 = false): number[] {
  const mod = memOnly ? c.r.int(3) : c.r.int(4), rm = c.r.int(8);
  const out = [(mod << 6) | (reg << 3) | rm];
  let disp: number;
  if (a16) disp = mod === 1 ? 1 : mod === 2 || (mod === 0 && rm === 6) ? 2 : 0;
  else {
    if (mod !== 3 && rm === 4) out.push(c.r.int(256));
    disp = mod === 1 ? 1 : mod === 2 || (mod === 0 && (rm === 5 || (rm === 4 && (out[1] & 7) === 5))) ? 4 : 0;
  }
  for (let i = 0; i < disp; i++) out.push(c.r.int(256));
  return out;
}
function prefixes(c: Ctx, allowed: number[]): number[] {
  const p: number[] = [];
  const n = c.r.pick([0, 0, 1, 1, 2, 3]);
  for (let i = 0; i < n; i++) p.push(c.r.pick(allowed));
  if (c.bits === 64 && c.r.chance(0.4)) p.push(0x40 + c.r.int(16)); // REX last
  return p;
}
/** Prefixes + 0F op + ModRM; an address-size prefix in 32-bit mode selects 16-bit addressing. */
function withModrm(c: Ctx, allowed: number[], op: number, reg: () => number, memOnly = false): string {
  const p = prefixes(c, allowed);
  return byteList([...p, 0x0f, op, ...modrm(c, reg(), memOnly, c.bits === 32 && p.includes(0x67))]);
}
const SEGS = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];
const byteList = (a: number[]): string => ".byte " + a.map((b) => "0x" + b.toString(16)).join(", ");
add("nop", "nop-0f1f", both, (c) => withModrm(c, [0x66, 0x67, ...SEGS], 0x1f, () => 0));
add("nop", "hint-nop", both, (c) => { // 0F 19, 0F 1C-1F /r: reserved NOPs (0F 1A/1B: MPX; F3 0F 1E: CET; not here)
  const op = c.r.pick([0x19, 0x1c, 0x1d, 0x1e, 0x1f]);
  // NP 0F 1C /0 (mem) is CLDEMOTE
  return withModrm(c, [0x66, 0x67, ...SEGS], op, () => (op === 0x1c ? c.r.range(1, 7) : c.r.int(8)), op === 0x1c);
});
add("nop", "nopwlq", both, (c) => { // what assemblers write: nopw/nopl/nopq with register or memory operands
  const w = c.r.pick(c.bits === 64 ? [16, 32, 64] : [16, 32]);
  if (c.r.chance(0.3)) return `nop${sfx(w)} ${regName(c.r.int(c.nregs), w)}`;
  const aw = c.bits === 64 && c.r.chance(0.7) ? 64 : 32;
  const base = c.r.chance(0.8) ? regName(c.r.int(c.nregs), aw) : "";
  const index = c.r.chance(0.5)
    ? `,${regName(c.r.pick([...Array(c.nregs).keys()].filter((i) => i !== 4)), aw)},${c.r.pick([1, 2, 4, 8])}` : "";
  const seg = c.r.chance(0.3) ? c.r.pick(["%cs:", "%ds:", "%es:", "%ss:", "%fs:", "%gs:"]) : "";
  return `nop${sfx(w)} ${seg}${c.r.chance(0.3) ? 0 : sx(c.r.bits(32), 32)}${base || index ? `(${base}${index})` : ""}`;
});
add("nop", "endbr32", both, () => "endbr32");
add("nop", "endbr64", both, () => "endbr64");
/** An address for a prefetch: mostly the data buffer, sometimes anywhere (never faults). */
function prefetchAddr(c: Ctx): string {
  if (c.r.chance(0.6)) return c.memOp(8, { value: false }).text;
  const r = c.r.int(c.nregs);
  if (r !== 4 && c.r.chance(0.5)) return `(${regName(r, c.bits)})`; // whatever the register holds
  const a = c.r.pick([0n, 0x1000n, 0xdead0000n, 0x7ffff000n, 0xfffff000n, BigInt(c.r.u32())]);
  return String(c.bits === 64 ? sx(a, 32) : a); // 64-bit: a sign-extended disp32
}
for (const op of ["prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2", "prefetch", "prefetchw"]) {
  add("nop", op, both, (c) => `${op} ${prefetchAddr(c)}`);
}
// reserved hints
add("nop", "0f18-hint", both, (c) => withModrm(c, [0x66, 0x67, ...SEGS], 0x18, () => c.r.range(4, 7), true));

// ---- flags: PUSHF/POPF, CLC STC CMC CLD STD ----
for (const op of ["clc", "stc", "cmc", "cld", "std"])
  add("flagsops", op, both, (c) => { if (c.r.chance(0.5)) c.flags |= DF; return op; });
const TF = 0x100, NT = 0x4000, AC = 0x40000;
function flagsStack(c: Ctx): number { // an aligned stack pointer (AC may get set: no #AC on the stack)
  const sp = STACK_TOP + 8 * c.r.range(-6, 6);
  c.setReg(4, BigInt(sp));
  if (c.r.chance(0.5)) c.flags |= DF;
  return sp - REGION;
}
for (const w of [16, 32, 64]) {
  const bs: Bits[] = w === 64 ? only64 : w === 32 ? [32] : both;
  const s = sfx(w);
  add("flagsops", `pushf${s}`, bs, (c) => { flagsStack(c); return `pushf${s}`; });
  add("flagsops", `pushf${s}-pop`, bs, (c) => { flagsStack(c); return `pushf${s}; pop${s} ${c.pickReg(w).name}`; });
  // POPF of a random image, read back with PUSHF; AC, NT (and TF, never set) are cleared again at the end
  add("flagsops", `popf${s}`, bs, (c) => {
    const sp = flagsStack(c);
    let v = c.r.chance(0.3) ? BigInt(c.r.u32() & 0xfd5) : c.r.chance(0.7) ? BigInt(c.r.u32() & 0x3fffff) : c.r.bits(w);
    if (w === 64 && c.r.chance(0.2)) v |= c.r.u64() & ~mask(32);
    v &= ~BigInt(TF) & mask(w);
    c.writeMem(sp, w, v);
    const rd = c.pickReg(w).name;
    return `popf${s}; pushf${s}; pop${s} ${rd}; pushf${s}; and${s} `
      + `$${w === 16 ? hex(BigInt(~(NT | TF) & 0xffff)) : ~(AC | NT | TF)}, ` + `(${regName(4, c.bits)}); popf${s}`;
  });
}

// ---- MOV forms (and the XCHG accumulator forms) ----
const LOADSTORE = ["", "", "{load} ", "{store} "]; // 8A/8B or 88/89 for register to register
addW("xchgmov", "mov-rr", [8, 16, 32, 64], (c, w) => {
  const a = c.operandReg(w), b = c.operandReg(w, /%[a-d]h/.test(a.name) ? [8, 9, 10, 11, 12, 13, 14, 15] : []);
  if (/%[a-d]h/.test(b.name) && /%(r\d+b|[sb]pl|[sd]il)/.test(a.name)) return `mov${sfx(w)} ${b.name}, ${b.name}`;
  return `${c.r.pick(LOADSTORE)}mov${sfx(w)} ${a.name}, ${b.name}`;
});
addW(
  "xchgmov", "mov-load", [8, 16, 32, 64],
  (c, w) => { const m = c.memOp(w); return `mov${sfx(w)} ${m.text}, ${c.pickReg(w).name}`; }
);
addW(
  "xchgmov", "mov-store", [8, 16, 32, 64],
  (c, w) => { const m = c.memOp(w); return `mov${sfx(w)} ${c.operandReg(w).name}, ${m.text}`; }
);
addW("xchgmov", "mov-ri", [8, 16, 32, 64], (c, w) => { // B0+r / B8+r (imm64 with movabs), C7 /0 for imm32 to r64
  const d = c.pickReg(w);
  if (w === 64 && c.r.chance(0.5)) return `movabsq $${hex(val(c.r, 64))}, ${d.name}`;
  return `mov${sfx(w)} $${imm(c, w)}, ${d.name}`;
});
addW(
  "xchgmov", "mov-mi", [8, 16, 32, 64],
  (c, w) => { const m = c.memOp(w); return `mov${sfx(w)} $${imm(c, w)}, ${m.text}`; }
);
addW("xchgmov", "mov-moffs", [8, 16, 32, 64], (c, w) => { // A0-A3: accumulator to/from an absolute address
  const m = c.memOp(w, { noBase: true });
  const acc = regName(0, w);
  c.setBits(0, 0, w, val(c.r, w));
  const mn = c.bits === 64 ? "movabs" : `mov${sfx(w)}`;
  return c.r.chance(0.5) ? `${mn} ${m.text}, ${acc}` : `${mn} ${acc}, ${m.text}`;
});
addW("xchgmov", "xchg-acc", [16, 32, 64], (c, w) => { // 90+r
  const r = c.operandReg(w, [0]);
  c.setBits(0, 0, w, val(c.r, w));
  return c.r.chance(0.5) ? `xchg ${regName(0, w)}, ${r.name}` : `xchg ${r.name}, ${regName(0, w)}`;
});
// 64-bit: 87 C0 zero-extends, REX.W 90 is a NOP, REX.B 90 exchanges with r8
add("xchgmov", "xchg-90-rex", only64, (c) => {
  c.setReg(0, c.r.u64()); c.setReg(8, c.r.u64());
  return c.r.pick(
    [".byte 0x87, 0xc0 # xchg %eax, %eax", ".byte 0x48, 0x90 # xchg %rax, %rax", ".byte 0x41, 0x90 # xchg %r8d, %eax",
    ".byte 0x49, 0x90 # xchg %r8, %rax", ".byte 0x66, 0x41, 0x90 # xchg %r8w, %ax", ".byte 0x66, 0x90 # xchg %ax, %ax"]
  );
});

export function allForms(): Form[] { return forms; }
export function groups(): string[] { return [...new Set(forms.map((f) => f.group))]; }

/** Generate `count` cases of every form (of the given groups) for one mode. */
export function generate(seed: number, count: number, bits: Bits, groupFilter?: string[]): Case[] {
  const out: Case[] = [];
  for (const f of forms) {
    if (!f.bits.includes(bits)) continue;
    if (groupFilter && groupFilter.length && !groupFilter.includes(f.group)) continue;
    const r = new Rng(seed, `${bits}:${f.name}`);
    for (let i = 0; i < count; i++) {
      const c = new Ctx(r, bits);
      const text = f.gen(c);
      if (!text) break;
      out.push({
        group: f.group, form: f.name, bits, text, regs: c.regs, flags: c.flags, mem: c.mem, undef: c.undef,
        skipRegs: c.skipRegs, vendor: c.vendor, needs: c.needs, qemuBug: c.qemuBug || undefined
      });
    }
  }
  return out;
}
