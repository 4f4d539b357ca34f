// Generator of differential test cases for SSE/SSE2 (and the x87 control instructions), run by
// tests/lib/sserun.ts against the real CPU (64-bit only). A case is one instruction (or a short
// sequence) in AT&T syntax plus a full initial state: GPRs, arithmetic flags, MXCSR (exceptions
// masked; random rounding mode, FTZ, DAZ and sticky flags), XMM0-15 and a 512-byte memory region at
// REGION (256-byte data buffer, then the stack area RSP points into).
// Register and memory operands get "interesting" values for their lane type: signed zeros,
// infinities, quiet and signalling NaNs, denormals, the largest/smallest normals, ties, values near
// integer limits, and pairs of nearby values (cancellation).
// Cases are reproducible: every form has its own PRNG seeded from (seed, form name).
// (Rng and val are copied from tests/lib/diffgen.ts.)

export const REGION = 0x200000;
export const DATA = REGION;
export const STACK = REGION + 0x100;
export const MEMSIZE = 512;
export const STACK_TOP = STACK + 0x80;

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const FLAG_NAMES: [number, string][] =
  [[CF, "CF"], [PF, "PF"], [AF, "AF"], [ZF, "ZF"], [SF, "SF"], [DF, "DF"], [OF, "OF"]];

export interface SseCase {
  bits: 32 | 64; // 32: run in 32-bit protected mode (natively: a 32-bit process); XMM0-7, EAX-EDI only
  group: string;
  form: string;
  text: string;
  regs: bigint[]; // 16
  flags: number;
  mxcsr: number;
  xmm: Uint8Array; // 256 bytes: XMM0..XMM15
  mem: Uint8Array; // MEMSIZE bytes at REGION
}

// ---- PRNG (xoshiro128**, as tests/lib/diffgen.ts) ----
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
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
  bits(w: number): bigint { return this.u64() & mask(w); }
}
function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
export const mask = (w: number): bigint => (1n << BigInt(w)) - 1n;

/** A w-bit integer operand value: edge values or random. */
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

// ---- floating-point values (raw bits) ----
type Fmt = { w: number; fb: number; eb: number; bias: number };
const F32: Fmt = { w: 32, fb: 23, eb: 8, bias: 127 };
const F64: Fmt = { w: 64, fb: 52, eb: 11, bias: 1023 };
function mk(f: Fmt, s: number, e: number, frac: bigint): bigint {
  return (BigInt(s) << BigInt(f.w - 1)) | (BigInt(e) << BigInt(f.fb)) | (frac & mask(f.fb));
}
/** An interesting floating-point value of format f (bits). */
export function fval(r: Rng, f: Fmt): bigint {
  const s = r.int(2), emax = (1 << f.eb) - 1, qb = 1n << BigInt(f.fb - 1);
  switch (r.int(20)) {
    case 0: return mk(f, s, 0, 0n); // zero
    case 1: return mk(f, s, emax, 0n); // infinity
    case 2: return mk(f, s, emax, qb | r.bits(f.fb - 1)); // QNaN
    case 3: return mk(f, s, emax, (r.bits(f.fb - 1) | BigInt(r.chance(0.5) ? 1 : 0)) || 1n); // SNaN
    case 4: return mk(f, s, 0, r.bits(f.fb) || 1n); // denormal
    case 5: return mk(f, s, 0, r.chance(0.5) ? 1n : mask(f.fb)); // smallest / largest denormal
    case 6: return mk(f, s, r.pick([1, 1, 2]), r.chance(0.5) ? 0n : r.bits(f.fb)); // near the smallest normal
    case 7: return mk(f, s, emax - 1, r.chance(0.5) ? mask(f.fb) : r.bits(f.fb)); // near the largest finite
    case 8: { // small integers and halves (exact, ties)
      const v = r.range(0, 2000) / (r.chance(0.5) ? 1 : 2);
      return fromNumber(f, s ? -v : v);
    }
    case 9: { // near integer limits (conversions)
      const p = r.pick([31, 32, 63, 64, 15, 16]);
      const e = f.bias + p + r.range(-1, 0);
      return mk(f, s, e, r.chance(0.5) ? 0n : r.chance(0.5) ? mask(f.fb) : r.bits(f.fb));
    }
    case 10: return mk(f, s, f.bias + r.range(-3, 3), r.bits(f.fb)); // around 1
    case 11: return mk(f, s, r.range(1, 2 * f.fb + 2), r.bits(f.fb)); // small: products/quotients underflow
    case 12: return mk(f, s, emax - 1 - r.range(0, f.fb), r.bits(f.fb)); // large: overflow
    // short mantissas
    case 13: return mk(f, s, f.bias + r.range(-f.fb - 5, f.fb + 5), r.bits(f.fb) & ~mask(r.range(0, f.fb)));
    default: return mk(f, s, r.range(1, emax - 1), r.bits(f.fb));
  }
}
function fromNumber(f: Fmt, v: number): bigint {
  const b = new DataView(new ArrayBuffer(8));
  if (f.w === 32) { b.setFloat32(0, v, true); return BigInt(b.getUint32(0, true)); }
  b.setFloat64(0, v, true);
  return b.getBigUint64(0, true);
}
/** A value near `a` (same or flipped sign, low mantissa bits changed), for cancellation and ties. */
function near(r: Rng, f: Fmt, a: bigint): bigint {
  let v = a ^ (r.bits(r.range(1, f.fb)));
  if (r.chance(0.5)) v ^= 1n << BigInt(f.w - 1);
  if (r.chance(0.2)) v = a;
  return v & mask(f.w);
}

export type Lane = "f32" | "f64" | "i8" | "i16" | "i32" | "i64" | "raw";
const LW: Record<Lane, number> = { f32: 32, f64: 64, i8: 8, i16: 16, i32: 32, i64: 64, raw: 64 };

// ---- case state ----
export class Ctx {
  regs: bigint[] = [];
  mem = new Uint8Array(MEMSIZE);
  xmm = new Uint8Array(256);
  flags = 0;
  mxcsr: number;
  reserved = new Set<number>([4]);
  usedX = new Set<number>();
  lastOff = 0; // offset in the region of the last memory operand
  private bases = new Map<number, number>(); // base registers of memory operands and their values
  constructor(readonly r: Rng, readonly bits: 32 | 64 = 64) {
    for (let i = 0; i < 16; i++) this.regs.push(r.u64());
    this.regs[4] = BigInt(STACK_TOP);
    for (let i = 0; i < MEMSIZE; i++) this.mem[i] = r.u32() & 0xff;
    for (let i = 0; i < 256; i++) this.xmm[i] = r.u32() & 0xff;
    for (const [f] of FLAG_NAMES) if (f !== DF && r.chance(0.5)) this.flags |= f;
    // Exceptions masked; rounding mode, FTZ, DAZ and sticky flags random.
    this.mxcsr = 0x1f80 | (r.int(4) << 13) | (r.chance(0.25) ? 0x8000 : 0) | (r.chance(0.25) ? 0x40 : 0)
      | (r.chance(0.3) ? r.int(64) : 0);
  }
  /** Lane values of `kind` into 16 bytes at buf[off..]. */
  fill(buf: Uint8Array, off: number, kind: Lane, bytes = 16, rel?: Uint8Array): void {
    const w = LW[kind], n = (bytes * 8) / w;
    for (let i = 0; i < n; i++) {
      let v: bigint;
      if (kind === "f32" || kind === "f64") {
        const f = kind === "f32" ? F32 : F64;
        v = rel && this.r.chance(0.35) ? near(this.r, f, get(rel, i * w / 8, w)) : fval(this.r, f);
      } else if (kind === "raw") v = this.r.u64();
      else v = val(this.r, w);
      put(buf, off + (i * w) / 8, w, v);
    }
  }
  /** A fresh XMM register (not used yet in this case) with lanes of `kind`. */
  xreg(kind: Lane, rel?: number): string {
    let i: number;
    const nx = this.bits === 64 ? 16 : 8;
    do i = this.r.int(nx); while (this.usedX.has(i) && this.usedX.size < nx);
    this.usedX.add(i);
    this.fill(this.xmm, i * 16, kind, 16, rel === undefined ? undefined : this.xmm.subarray(rel * 16, rel * 16 + 16));
    return `%xmm${i}`;
  }
  /** Index of an XMM register by name. */
  xi(name: string): number { return Number(name.slice(4)); }
  /** A memory operand of `bytes` bytes in the data buffer with lanes of `kind`. */
  memOp(bytes: number, kind: Lane, align: number, rel?: string): string {
    let off = this.r.int(256 - bytes + 1);
    if (align > 1) off &= ~(align - 1);
    else if (this.r.chance(0.3)) off &= ~15;
    this.lastOff = off;
    const relBuf = rel ? this.xmm.subarray(this.xi(rel) * 16, this.xi(rel) * 16 + 16) : undefined;
    if (bytes >= 4 && kind !== "raw") this.fill(this.mem, off, kind, bytes, relBuf);
    else for (let i = 0; i < bytes; i++) this.mem[off + i] = this.r.u32() & 0xff;
    if (this.r.chance(0.4)) return "0x" + (DATA + off).toString(16);
    const b = this.r.pick(this.bits === 64 ? [3, 5, 6, 7, 8, 13] : [3, 5, 6, 7]);
    let bv = this.bases.get(b);
    if (bv === undefined) {
      bv = DATA + this.r.range(0, 255);
      this.bases.set(b, bv);
      this.regs[b] = BigInt(bv);
      this.reserved.add(b);
    }
    return `${off + DATA - bv}(%${this.bits === 64 ? R64[b] : R32[b]})`;
  }
  /** A GPR operand (not reserved) of width w with an interesting value. */
  gpr(w: 32 | 64, value = true): { name: string; reg: number } {
    const c = [...Array(this.bits === 64 ? 16 : 8).keys()].filter((i) => !this.reserved.has(i));
    const reg = this.r.pick(c);
    this.reserved.add(reg);
    if (value) this.regs[reg] = (this.regs[reg] & ~mask(w)) | val(this.r, w);
    return { name: "%" + (w === 64 ? R64[reg] : R32[reg]), reg };
  }
}
export const R64 =
  ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const R8 =
  ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"];
const R16 =
  ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"];
function regName(r: number, w: number): string {
  return "%" + (w === 64 ? R64[r] : w === 32 ? R32[r] : w === 16 ? R16[r] : R8[r]);
}
const R32 = [
  "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"
];

function get(b: Uint8Array, off: number, w: number): bigint {
  let v = 0n;
  for (let i = w / 8 - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i]);
  return v;
}
function put(b: Uint8Array, off: number, w: number, v: bigint): void {
  for (let i = 0; i < w / 8; i++) { b[off + i] = Number(v & 0xffn); v >>= 8n; }
}

// ---- forms ----
interface Form { group: string; name: string; gen(c: Ctx): string }
const forms: Form[] = [];
function add(group: string, name: string, gen: (c: Ctx) => string): void { forms.push({ group, name, gen }); }

type MemKind = "m128" | "m128u" | "m64" | "m32" | "none";
/**
 * A two-operand form `op [$imm,] src, dst`: dst an XMM register with lanes `kind`, src an XMM
 * register or memory (`mem`), related to dst's values sometimes.
 */
function binop(group: string, op: string, kind: Lane, mem: MemKind, imm?: () => number, srcKind?: Lane): void {
  add(group, op, (c) => {
    predRng = c.r;
    const dst = c.xreg(kind);
    const sk = srcKind ?? kind;
    let src: string;
    if (mem !== "none" && c.r.chance(0.4)) {
      const bytes = mem === "m32" ? 4 : mem === "m64" ? 8 : 16;
      src = c.memOp(bytes, sk, mem === "m128" ? 16 : 1, sk === kind ? dst : undefined);
    } else src = c.xreg(sk, sk === kind ? c.xi(dst) : undefined);
    const i = imm ? `$${imm()}, ` : "";
    return `${op} ${i}${src}, ${dst}`;
  });
}

// Data movement.
for (const op of ["movaps", "movapd", "movdqa"]) {
  binop("mov", op, "raw", "m128");
  add(
    "mov", `${op}-store`, (c) => `${c.r.chance(0.3) ? "{store} " : ""}${op} ${c.xreg("raw")}, `
      + `${c.r.chance(0.3) ? c.xreg("raw") : c.memOp(16, "raw", 16)}`
  );
}
for (const op of ["movups", "movupd", "movdqu"]) {
  binop("mov", op, "raw", "m128u");
  add(
    "mov", `${op}-store`, (c) => `${op} ${c.xreg("raw")}, ${c.r.chance(0.3) ? c.xreg("raw") : c.memOp(16, "raw", 1)}`
  );
}
for (const [op, b] of [["movss", 4], ["movsd", 8]] as const) {
  binop("mov", op, "raw", b === 4 ? "m32" : "m64");
  add(
    "mov", `${op}-store`, (c) => `${c.r.chance(0.5) ? "{store} " : ""}${op} ${c.xreg("raw")}, `
      + `${c.r.chance(0.3) ? c.xreg("raw") : c.memOp(b, "raw", 1)}`
  );
}
for (const op of ["movlps", "movhps", "movlpd", "movhpd"]) {
  add("mov", op, (c) => `${op} ${c.memOp(8, "raw", 1)}, ${c.xreg("raw")}`);
  add("mov", `${op}-store`, (c) => `${op} ${c.xreg("raw")}, ${c.memOp(8, "raw", 1)}`);
}
for (const op of ["movhlps", "movlhps"]) add("mov", op, (c) => `${op} ${c.xreg("raw")}, ${c.xreg("raw")}`);
for (const op of ["movntps", "movntpd", "movntdq"])
  add("mov", op, (c) => `${op} ${c.xreg("raw")}, ${c.memOp(16, "raw", 16)}`);
add(
  "mov", "movnti",
  (c) => { const w = c.r.pick([32, 64] as const); return `movnti ${c.gpr(w).name}, ${c.memOp(w / 8, "raw", 1)}`; }
);
add(
  "mov", "movd-to-xmm", (c) => {
    const w = c.r.pick([32, 64] as const); const s = c.r.chance(0.4) ? c.memOp(w / 8, "raw", 1) : c.gpr(w).name;
    return `mov${w === 32 ? "d" : "q"} ${s}, ${c.xreg("raw")}`;
  }
);
add(
  "mov", "movd-from-xmm", (c) => {
    const w = c.r.pick([32, 64] as const); const x = c.xreg("raw"); const d =
      c.r.chance(0.4) ? c.memOp(w / 8, "raw", 1) : c.gpr(w, false).name; return `mov${w === 32 ? "d" : "q"} ${x}, ${d}`;
  }
);
add("mov", "movq-xmm", (c) => `${c.r.chance(0.5) ? "{store} " : ""}movq ${c.xreg("raw")}, ${c.xreg("raw")}`);
add("mov", "movmskps", (c) => `movmskps ${c.xreg("f32")}, ${c.gpr(c.r.pick([32, 64] as const), false).name}`);
add("mov", "movmskpd", (c) => `movmskpd ${c.xreg("f64")}, ${c.gpr(c.r.pick([32, 64] as const), false).name}`);
add("mov", "pmovmskb", (c) => `pmovmskb ${c.xreg("i8")}, ${c.gpr(c.r.pick([32, 64] as const), false).name}`);
add(
  "mov", "pextrw", (c) => `pextrw $${c.r.int(256)}, ${c.xreg("i16")}, ${c.gpr(c.r.pick([32, 64] as const), false).name}`
);
add(
  "mov", "pinsrw",
  (c) => `pinsrw $${c.r.int(256)}, ${c.r.chance(0.4) ? c.memOp(2, "raw", 1) : c.gpr(32).name}, ${c.xreg("i16")}`
);

add("mov", "maskmovdqu", (c) => {
  const off = c.r.int(256 - 16 + 1);
  c.regs[7] = BigInt(DATA + off); c.reserved.add(7);
  const m = c.xreg("raw");
  for (let i = 0; i < 16; i++) if (c.r.chance(0.3)) c.xmm[c.xi(m) * 16 + i] ^= 0x80;
  return `maskmovdqu ${m}, ${c.xreg("raw")}`;
});

// Shuffles and unpacks.
for (const op of ["shufps", "shufpd", "pshufd", "pshuflw", "pshufhw"]) {
  add("shuffle", op, (c) => {
    const dst = c.xreg("raw");
    const src = c.r.chance(0.4) ? c.memOp(16, "raw", 16) : c.xreg("raw");
    return `${op} $${c.r.int(256)}, ${src}, ${dst}`;
  });
}
for (const op of ["unpcklps", "unpckhps", "unpcklpd", "unpckhpd", "punpcklbw", "punpcklwd", "punpckldq", "punpcklqdq",
  "punpckhbw", "punpckhwd", "punpckhdq", "punpckhqdq"]) binop("shuffle", op, "raw", "m128");
for (const [op, k] of [["packsswb", "i16"], ["packuswb", "i16"], ["packssdw", "i32"]] as const)
  binop("shuffle", op, k, "m128");

// SSE2 integer arithmetic and logic.
for (const [ops, k] of [
  [
    [
      "paddb", "psubb", "paddsb", "psubsb", "paddusb", "psubusb", "pcmpeqb", "pcmpgtb", "pminub", "pmaxub", "pavgb",
      "psadbw"
    ], "i8"
  ],
  [
    [
      "paddw", "psubw", "paddsw", "psubsw", "paddusw", "psubusw", "pcmpeqw", "pcmpgtw", "pminsw", "pmaxsw", "pavgw",
      "pmullw", "pmulhw", "pmulhuw", "pmaddwd"
    ], "i16"
  ],
  [["paddd", "psubd", "pcmpeqd", "pcmpgtd", "pmuludq"], "i32"],
  [["paddq", "psubq", "pand", "pandn", "por", "pxor"], "i64"],
] as [string[], Lane][]) for (const op of ops) binop("int", op, k, "m128");
for (
  const [op, w] of [
    ["psrlw", 16], ["psraw", 16], ["psllw", 16], ["psrld", 32], ["psrad", 32], ["pslld", 32], ["psrlq", 64],
    ["psllq", 64]
  ] as const
) {
  const count = (c: Ctx): bigint =>
    c.r.chance(0.7) ? BigInt(c.r.int(w + 2)) : c.r.chance(0.5) ? BigInt(c.r.int(256)) : c.r.u64();
  add("shift", `${op}-imm`, (c) => `${op} $${c.r.chance(0.8) ? c.r.int(w + 2) : c.r.int(256)}, ${c.xreg("raw")}`);
  add("shift", `${op}-xmm`, (c) => {
    const dst = c.xreg("raw");
    let src: string;
    if (c.r.chance(0.4)) { src = c.memOp(16, "raw", 16); put(c.mem, c.lastOff, 64, count(c)); }
    else { src = c.xreg("raw"); put(c.xmm, c.xi(src) * 16, 64, count(c)); }
    return `${op} ${src}, ${dst}`;
  });
}
for (const op of ["pslldq", "psrldq"])
  add("shift", op, (c) => `${op} $${c.r.chance(0.8) ? c.r.int(18) : c.r.int(256)}, ${c.xreg("raw")}`);

// Floating point.
let predRng: Rng | null = null;
const pred = (): number => predRng!.int(8);
for (
  const [sfx, k, mem] of [
    ["ps", "f32", "m128"], ["pd", "f64", "m128"], ["ss", "f32", "m32"], ["sd", "f64", "m64"]
  ] as [string, Lane, MemKind][]
) {
  for (const op of ["add", "sub", "mul", "div", "min", "max", "sqrt"]) binop("fp", op + sfx, k, mem);
  binop("fpcmp", "cmp" + sfx, k, mem, pred);
  if (sfx === "ps" || sfx === "pd") for (const op of ["and", "andn", "or", "xor"]) binop("fp", op + sfx, k, mem);
}
for (
  const [op, k] of [["comiss", "f32"], ["ucomiss", "f32"], ["comisd", "f64"], ["ucomisd", "f64"]] as [string, Lane][]
) {
  binop("fpcmp", op, k, k === "f32" ? "m32" : "m64");
}
// Conversions.
binop("cvt", "cvtps2pd", "f32", "m64");
binop("cvt", "cvtpd2ps", "f64", "m128");
binop("cvt", "cvtss2sd", "f32", "m32");
binop("cvt", "cvtsd2ss", "f64", "m64");
binop("cvt", "cvtdq2ps", "i32", "m128");
binop("cvt", "cvtdq2pd", "i32", "m64");
for (const op of ["cvtps2dq", "cvttps2dq"]) binop("cvt", op, "f32", "m128");
for (const op of ["cvtpd2dq", "cvttpd2dq"]) binop("cvt", op, "f64", "m128");
for (
  const [
    op, k
  ] of [["cvtss2si", "f32"], ["cvttss2si", "f32"], ["cvtsd2si", "f64"], ["cvttsd2si", "f64"]] as [string, Lane][]
) {
  add("cvt", op, (c) => {
    const w = c.r.pick([32, 64] as const);
    const b = k === "f32" ? 4 : 8;
    const src = c.r.chance(0.4) ? c.memOp(b, k, 1) : c.xreg(k);
    return `${op} ${src}, ${c.gpr(w, false).name}`;
  });
}
for (const op of ["cvtsi2ss", "cvtsi2sd"]) {
  add("cvt", op, (c) => {
    const w = c.r.pick([32, 64] as const);
    const src = c.r.chance(0.4) ? c.memOp(w / 8, w === 32 ? "i32" : "i64", 1) : c.gpr(w).name;
    return `${op}${w === 32 ? "l" : "q"} ${src}, ${c.xreg("raw")}`;
  });
}

// MXCSR and x87 control words (through memory).
add("ctl", "ldmxcsr-stmxcsr", (c) => {
  const m2 = c.memOp(4, "raw", 4), m = c.memOp(4, "raw", 4);
  const v = 0x1f80 | (c.r.int(4) << 13) | (c.r.chance(0.5) ? 0x8000 : 0) | (c.r.chance(0.5) ? 0x40 : 0) | c.r.int(64);
  put(c.mem, c.lastOff, 32, BigInt(v));
  return `stmxcsr ${m2}; ldmxcsr ${m}`;
});
add("ctl", "fnstcw-fldcw", (c) => {
  const m = c.memOp(2, "raw", 2), m2 = c.memOp(2, "raw", 2), m3 = c.memOp(2, "raw", 2);
  return `fninit; fnstcw ${m}; fldcw ${m2}; fnstcw ${m3}`;
});
add("ctl", "fnstsw", (c) => {
  const m = c.memOp(2, "raw", 2);
  return c.r.chance(0.5) ? `fninit; fnstsw ${m}` : `fninit; fnclex; fnstsw %ax`;
});
add("ctl", "fences", (c) => c.r.pick(["lfence", "mfence", "sfence", `clflush ${c.memOp(1, "raw", 1)}`]));

// ---- SSE3 ----
for (
  const [op, k] of [
    ["addsubps", "f32"], ["addsubpd", "f64"], ["haddps", "f32"], ["haddpd", "f64"], ["hsubps", "f32"], ["hsubpd", "f64"]
  ] as [string, Lane][]
) {
  binop("sse3", op, k, "m128");
}
binop("sse3", "movsldup", "raw", "m128");
binop("sse3", "movshdup", "raw", "m128");
binop("sse3", "movddup", "raw", "m64");
add("sse3", "lddqu", (c) => `lddqu ${c.memOp(16, "raw", 1)}, ${c.xreg("raw")}`);

// ---- SSSE3 (XMM forms; the MMX forms are in tests/lib/x87gen.ts) ----
for (const [ops, k] of [
  [["pshufb", "psignb", "pabsb", "pmaddubsw"], "i8"],
  [["phaddw", "phaddsw", "phsubw", "phsubsw", "pmulhrsw", "psignw", "pabsw"], "i16"],
  [["phaddd", "phsubd", "psignd", "pabsd"], "i32"],
] as [string[], Lane][]) for (const op of ops) binop("ssse3", op, k, "m128");
binop("ssse3", "palignr", "raw", "m128", () => predRng!.chance(0.7) ? predRng!.int(34) : predRng!.int(256));

// ---- SSE4.1 ----
// imm8 of the forms whose imm8 selects the operation (ROUND*, DPPS/DPPD, BLEND*, PBLENDW, MPSADBW,
// INSERTPS, PCMPxSTRx): a permutation of 0-255 over the case index, so that any 256 consecutive cases of
// a form have every value.
let caseIndex = 0;
const imm256 = (): number => (caseIndex * 167 + 89) & 255;
for (const [op, bytes] of [["bw", 8], ["bd", 4], ["bq", 2], ["wd", 8], ["wq", 4], ["dq", 8]] as const) {
  for (const sx of ["pmovsx", "pmovzx"]) {
    add("sse41", sx + op, (c) => {
      const dst = c.xreg("raw");
      const src = c.r.chance(0.4) ? c.memOp(bytes, op[0] === "b" ? "raw" : op[0] === "w" ? "i16" : "i32", 1)
        : c.xreg(op[0] === "b" ? "i8" : op[0] === "w" ? "i16" : "i32");
      return `${sx}${op} ${src}, ${dst}`;
    });
  }
}
for (const [ops, k] of [
  [["pminsb", "pmaxsb"], "i8"],
  [["pminuw", "pmaxuw", "phminposuw"], "i16"],
  [["pminsd", "pmaxsd", "pminud", "pmaxud", "pmulld", "pmuldq", "packusdw"], "i32"],
  [["pcmpeqq"], "i64"],
] as [string[], Lane][]) for (const op of ops) binop("sse41", op, k, "m128");
for (const op of ["pblendw", "blendps", "blendpd", "mpsadbw"]) binop("sse41", op, "raw", "m128", imm256);
binop("sse41", "dpps", "f32", "m128", imm256);
binop("sse41", "dppd", "f64", "m128", imm256);
for (
  const [op, k, mem] of [
    ["roundps", "f32", "m128"], ["roundpd", "f64", "m128"], ["roundss", "f32", "m32"], ["roundsd", "f64", "m64"]
  ] as [string, Lane, MemKind][]
) {
  binop("sse41", op, k, mem, imm256);
}
for (const op of ["pblendvb", "blendvps", "blendvpd"]) {
  add("sse41", op, (c) => {
    c.usedX.add(0);
    c.fill(c.xmm, 0, op === "blendvpd" ? "i64" : op === "blendvps" ? "i32" : "i8");
    const dst = c.xreg("raw");
    const src = c.r.chance(0.4) ? c.memOp(16, "raw", 16) : c.xreg("raw");
    return `${op} %xmm0, ${src}, ${dst}`;
  });
}
add("sse41", "ptest", (c) => {
  const dst = c.xreg("raw");
  const di = c.xi(dst) * 16;
  let src: string, at: Uint8Array, off: number;
  if (c.r.chance(0.4)) {
    src = c.memOp(16, "raw", 16); at = c.mem; off = c.lastOff;
  } else { src = c.xreg("raw"); at = c.xmm; off = c.xi(src) * 16; }
  const how = c.r.int(4); // related operands so that ZF and CF are both seen set
  for (let i = 0; i < 16; i++) {
    if (how === 0) at[off + i] &= ~c.xmm[di + i] & 0xff;
    else if (how === 1) at[off + i] &= c.xmm[di + i];
    else if (how === 2 && c.r.chance(0.8)) at[off + i] = 0;
  }
  return `ptest ${src}, ${dst}`;
});
add("sse41", "movntdqa", (c) => `movntdqa ${c.memOp(16, "raw", 16)}, ${c.xreg("raw")}`);
for (const [op, b] of [["pextrb", 1], ["pextrw", 2], ["pextrd", 4], ["pextrq", 8], ["extractps", 4]] as const) {
  add("sse41", op + (op === "pextrw" ? "-sse41" : ""), (c) => {
    const x = c.xreg("raw");
    const imm = c.r.int(256);
    if (c.r.chance(0.5)) return `${op} $${imm}, ${x}, ${c.memOp(b, "raw", 1)}`;
    const w = b === 8 ? 64 : op === "pextrd" ? 32 : c.r.pick([32, 64] as const);
    if (op === "pextrw" && c.bits === 32) { // the register form of 66 0F 3A 15 (no REX in 32-bit mode)
      const g = c.gpr(32, false);
      return `.byte 0x66, 0x0f, 0x3a, 0x15, 0x${(0xc0 | ((c.xi(x) & 7) << 3) | (g.reg & 7)).toString(16)}, ${imm}`;
    }
    const g = c.gpr(w, false);
    if (op === "pextrw") { // the register form of 66 0F 3A 15 (the assembler would pick 66 0F C5)
      const xi = c.xi(x), rex = 0x40 | (xi >= 8 ? 4 : 0) | (g.reg >= 8 ? 1 : 0) | (w === 64 ? 8 : 0);
      const bytes = [0x66, ...(rex !== 0x40 ? [rex] : []), 0x0f, 0x3a, 0x15, 0xc0 | ((xi & 7) << 3) | (g.reg & 7), imm];
      return `.byte ${bytes.map((v) => "0x" + v.toString(16)).join(", ")}`;
    }
    return `${op} $${imm}, ${x}, ${g.name}`;
  });
}
for (const [op, b] of [["pinsrb", 1], ["pinsrd", 4], ["pinsrq", 8]] as const) {
  add("sse41", op, (c) => {
    const x = c.xreg("raw");
    const src = c.r.chance(0.4) ? c.memOp(b, "raw", 1) : c.gpr(b === 8 ? 64 : 32).name;
    return `${op} $${c.r.int(256)}, ${src}, ${x}`;
  });
}
binop("sse41", "insertps", "f32", "m32", imm256);

// ---- SSE4.2 ----
binop("sse42", "pcmpgtq", "i64", "m128");
for (const [op, w] of [["crc32b", 8], ["crc32w", 16], ["crc32l", 32], ["crc32q", 64]] as const) {
  add("sse42", op, (c) => {
    const dst = c.gpr(w === 64 ? 64 : w === 8 ? c.r.pick([32, 64] as const) : 32);
    if (c.r.chance(0.4)) return `${op} ${c.memOp(w / 8, "raw", 1)}, ${dst.name}`;
    const s = c.gpr(64);
    return `${op} ${regName(s.reg, w)}, ${dst.name}`;
  });
}
// PCMPxSTRx: strings from a small alphabet with nulls, so that matches, ranges and ends all happen.
const ALPHA = [0x00, 0x41, 0x42, 0x43, 0x61, 0x62, 0x7f, 0x80, 0xff];
function strFill(c: Ctx, buf: Uint8Array, off: number): void {
  const mode = c.r.int(4);
  for (let i = 0; i < 16; i++) {
    if (mode === 0) buf[off + i] = c.r.u32() & 0xff;
    else if (mode === 1) buf[off + i] = c.r.pick(ALPHA);
    else buf[off + i] = c.r.chance(0.08) ? 0 : c.r.pick(ALPHA.slice(1, mode === 2 ? 4 : 9));
  }
  if (c.r.chance(0.5)) { // zero-padded word/byte strings
    const at = c.r.int(17);
    for (let i = at; i < 16; i++) buf[off + i] = 0;
  }
}
for (const op of ["pcmpestri", "pcmpestrm", "pcmpistri", "pcmpistrm"]) {
  add("sse42", op, (c) => {
    c.reserved.add(0); c.reserved.add(2); c.reserved.add(1);
    const a = c.xreg("raw");
    strFill(c, c.xmm, c.xi(a) * 16);
    let src: string;
    if (c.r.chance(0.4)) { src = c.memOp(16, "raw", 1); strFill(c, c.mem, c.lastOff); }
    else {
      src = c.xreg("raw"); strFill(c, c.xmm, c.xi(src) * 16);
      if (c.r.chance(0.2)) c.xmm.copyWithin(c.xi(src) * 16, c.xi(a) * 16, c.xi(a) * 16 + 16);
    }
    const len = (): bigint => {
      const v = c.r.chance(0.8) ? BigInt(c.r.range(-20, 20)) : c.r.chance(0.5) ? c.r.u64()
        : BigInt(c.r.pick([-(2 ** 31), 2 ** 31 - 1, -1]));
      return BigInt.asUintN(64, c.r.chance(0.5) ? v : (c.r.u64() & ~0xffffffffn) | BigInt.asUintN(32, v));
    };
    c.regs[0] = len(); c.regs[2] = len();
    const w = op.includes("estr") && c.r.chance(0.3) && c.bits === 64 ? "q" : "";
    return `${op}${w} $${imm256()}, ${src}, ${a}`;
  });
}

export function groups(): string[] { return [...new Set(forms.map((f) => f.group))]; }
export function formNames(): string[] { return forms.map((f) => f.name); }
/** The forms whose imm8 selects the operation (every value: 256 cases of one of them). */
export const IMM8_FORMS = ["roundps", "roundpd", "roundss", "roundsd", "dpps", "dppd", "blendps", "blendpd", "pblendw",
  "mpsadbw", "insertps", "pcmpestri", "pcmpestrm", "pcmpistri", "pcmpistrm"];

// Text that is not valid in 32-bit mode: 64-bit registers, REX-only byte registers, XMM8-15, 64-bit forms.
const ONLY64 =
  /%r\w+|%(spl|bpl|sil|dil)\b|%xmm(8|9|1\d)\b|pextrq|pinsrq|crc32q|pcmpestr[im]q|cvtsi2s[sd]q|\.byte 0x66, 0x4/;

/** `count` cases of every form (of the given groups); in 32-bit mode the forms that exist there (a
 * case whose text needs 64-bit mode is dropped, so 64-bit-only forms have none). */
export function generate(
  seed: number, count: number, groupFilter?: string[], bits: 32 | 64 = 64, formFilter?: string[]
): SseCase[] {
  const out: SseCase[] = [];
  for (const f of forms) {
    if (groupFilter && groupFilter.length && !groupFilter.includes(f.group)) continue;
    if (formFilter && !formFilter.includes(f.name)) continue;
    const r = new Rng(seed, bits === 64 ? `sse:${f.name}` : `sse32:${f.name}`);
    for (let i = 0; i < count; i++) {
      caseIndex = i;
      const c = new Ctx(r, bits);
      const text = f.gen(c);
      if (bits === 32) {
        if (ONLY64.test(text)) continue;
        c.regs = c.regs.map((v) => v & 0xffffffffn);
      }
      out.push({
        bits, group: f.group, form: f.name, text, regs: c.regs, flags: c.flags, mxcsr: c.mxcsr, xmm: c.xmm, mem: c.mem
      });
    }
  }
  return out;
}
