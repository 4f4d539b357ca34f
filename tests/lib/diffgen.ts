// Generator of differential test cases for user-level x86 instructions (see tests/lib/diffrun.ts).
// A case is one instruction (or a short sequence) in AT&T syntax plus a full initial state: all GPRs,
// the arithmetic flags (and DF), and the content of a 512-byte memory region at a fixed address
// (REGION): a 256-byte data buffer that memory operands address, then a 256-byte stack area that RSP
// points into. Each case also carries the flags the Intel SDM leaves undefined for it (not compared)
// and registers whose final value is undefined (not compared).
// Cases are reproducible: every form has its own PRNG seeded from (seed, form name).

export const REGION = 0x200000;
export const DATA = REGION; // 256-byte data buffer
export const STACK = REGION + 0x100; // 256-byte stack area
export const MEMSIZE = 512;
export const STACK_TOP = STACK + 0x80;

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const FLAG_NAMES: [number, string][] = [[CF, "CF"], [PF, "PF"], [AF, "AF"], [ZF, "ZF"], [SF, "SF"], [DF, "DF"], [OF, "OF"]];

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
}

// ---- PRNG (xoshiro128**) ----
export class Rng {
  private s: Uint32Array;
  constructor(seed: number, salt = "") {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < salt.length; i++) h = Math.imul(h ^ salt.charCodeAt(i), 0x01000193) >>> 0;
    const sm = () => { h = (h + 0x9e3779b9) >>> 0; let z = h; z = Math.imul(z ^ (z >>> 16), 0x85ebca6b); z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35); return (z ^ (z >>> 16)) >>> 0; };
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
const R64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"];
const R8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"];
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
  memOp(w: number, opts: { off?: number; align?: number; base?: number; noBase?: boolean; value?: boolean } = {}): { text: string; off: number } {
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

const LOCK_OK = new Set(["add", "adc", "sub", "sbb", "and", "or", "xor", "inc", "dec", "neg", "not", "bts", "btr", "btc", "xchg", "xadd", "cmpxchg"]);
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
    if (k === "mr") { const m = c.memOp(w); const a = c.operandReg(w); return `${lock(c, op)}${s} ${a.name}, ${m.text}`; }
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
      if (c.r.chance(0.3)) { const m = c.memOp(w); const a = c.operandReg(w); parts.push(`${o}${sfx(w)} ${c.r.chance(0.5) ? `${m.text}, ${a.name}` : `${a.name}, ${m.text}`}`); }
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
    if (k === "ri") { const a = c.operandReg(w); return `${s} $${c.r.chance(0.7) ? c.r.int(w) : c.r.int(256)}, ${a.name}`; }
    if (k === "mi") { const m = c.memOp(w); return `${lock(c, op)}${s} $${c.r.chance(0.7) ? c.r.int(w) : c.r.int(256)}, ${m.text}`; }
    // register bit offset, memory base: the offset reaches anywhere in the data buffer
    const m = c.memOp(w, { off: 128, value: false });
    const off = c.r.range(-1024, 1024 - w);
    const b = c.pickReg(w);
    c.setBits(b.reg, 0, w, BigInt.asUintN(w, BigInt(off)));
    return `${lock(c, op)}${s} ${b.name}, ${m.text}`;
  });
}

// bsf bsr lzcnt tzcnt popcnt
for (const op of ["bsf", "bsr", "lzcnt", "tzcnt", "popcnt"]) {
  addW("bitscan", op, [16, 32, 64], (c, w) => {
    c.undef = op === "bsf" || op === "bsr" ? CF | OF | SF | AF | PF : op === "popcnt" ? 0 : OF | SF | AF | PF;
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

// bswap
addW("bswap", "bswap", [32, 64], (c, w) => `bswap ${c.operandReg(w).name}`);

// movzx movsx movsxd
for (const [name, sw, dw] of [["movzbw", 8, 16], ["movzbl", 8, 32], ["movzbq", 8, 64], ["movzwl", 16, 32], ["movzwq", 16, 64],
  ["movsbw", 8, 16], ["movsbl", 8, 32], ["movsbq", 8, 64], ["movswl", 16, 32], ["movswq", 16, 64], ["movslq", 32, 64]] as const) {
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
  if (c.r.chance(0.5)) { const v = c.readMem(m.off, 64); c.setBits(0, 0, 32, v & mask(32)); c.setBits(2, 0, 32, v >> 32n); }
  return `${c.r.chance(0.5) ? "lock " : ""}cmpxchg8b ${m.text}`;
});
add("xchg", "cmpxchg16b", only64, (c) => {
  const m = c.memOp(128, { align: 16, base: c.r.pick([6, 7]) });
  for (const r of [0, 1, 2, 3]) c.setBits(r, 0, 64, val(c.r, 64));
  if (c.r.chance(0.5)) { c.setBits(0, 0, 64, c.readMem(m.off, 64)); c.setBits(2, 0, 64, c.readMem(m.off + 8, 64)); }
  return `${c.r.chance(0.5) ? "lock " : ""}cmpxchg16b ${m.text}`;
});

// sign extensions of the accumulator
for (const [name, w, b64] of [["cbtw", 8, false], ["cwtl", 16, false], ["cltq", 32, true], ["cwtd", 16, false], ["cltd", 32, false], ["cqto", 64, true]] as const) {
  add("cext", name, b64 ? only64 : both, (c) => { c.setBits(0, 0, w, val(c.r, w)); return name; });
}

// lahf sahf
add("lahf", "lahf", both, () => "lahf");
add("lahf", "sahf", both, (c) => { c.setBits(0, 8, 8, val(c.r, 8)); return "sahf"; });

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
    parts.push(`(${base >= 0 ? regName(base, aw) : ""}${index >= 0 ? `,${regName(index, aw)},${c.r.pick([1, 2, 4, 8])}` : ""})`);
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
          for (let i = 0; i < span; i++) if (lo + i >= 0 && lo2 + i >= 0) c.mem[lo2 + i] = c.r.chance(0.9) ? c.mem[lo + i] : c.r.u32() & 0xff;
        }
        if (op === "scas") {
          c.setBits(0, 0, w, c.r.chance(0.6) ? c.readMem(Math.max(0, Math.min(256 - e, di + (df ? -1 : 1) * e * c.r.int(Math.max(n, 1)))), w) : val(c.r, w));
          if (c.r.chance(0.3)) c.mem.fill(c.mem[di], Math.max(0, di - span), Math.min(256, di + span));
        }
        return `${a32 ? "addr32 " : ""}${pre}${op}${sfx(w)}`;
      };
      for (const w of [8, 16, 32, 64]) add("string", `${a32 ? "addr32 " : ""}${pre}${op}${sfx(w)}`, a32 || w === 64 ? only64 : both, (c) => gen(c, w));
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
    if (c.r.chance(0.3)) return `pop${sfx(w)} ${8 * c.r.range(-4, 4)}(${regName(4, c.bits)})`; // address uses the popped RSP
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
      out.push({ group: f.group, form: f.name, bits, text, regs: c.regs, flags: c.flags, mem: c.mem, undef: c.undef, skipRegs: c.skipRegs });
    }
  }
  return out;
}
