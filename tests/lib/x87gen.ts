// Generator of differential test cases for the x87 and MMX instructions, run by tests/lib/x87run.ts
// against the real CPU (64-bit). A case is one instruction (bytes: every D8-DF opcode/ModRM form, the
// memory operand at an absolute address) with a full initial x87 state as an FXSAVE image: FCW with
// every precision and rounding control and random exception masks, FSW with a random TOP, condition
// codes and sticky flags (masked ones: no exception pending), a random tag word, and ST0-7 holding
// "interesting" double-extended values: signed zeros, infinities, quiet and signalling NaNs, denormals,
// pseudo-denormals, unnormals, pseudo-NaNs/infinities, the edges of the exponent range (overflow,
// underflow), integers and halves, values near integer limits and nearby pairs (cancellation).
// Memory operands (m32/m64/m80 reals, m16/m32/m64 integers, packed BCD, environments) likewise.
// Reproducible: every form has its own PRNG seeded from (seed, form name).
import { Rng, REGION, MEMSIZE, ARITH, val } from "./ssegen";

export { REGION, MEMSIZE, ARITH };
export interface X87Case {
  group: string;
  form: string;
  text: string;
  regs: bigint[];
  flags: number;
  fx: Uint8Array; // 512-byte FXSAVE image
  mem: Uint8Array;
  fswMask: number; // FSW bits compared
  ulp: number; // tolerance of ST(i) results in units in the last place (transcendentals)
  memSkip: [number, number][]; // [offset, length] of memory not compared (FIP/FDP/FOP of environments)
  vendor?: VendorDep; // a result that differs between CPU vendors (docs/X87.md)
}

/**
 * A case whose result differs between CPU vendors (docs/X87.md, "Vendor-dependent behaviour"): the FSW bits
 * and ST(i) registers concerned. xenwasm gives Intel's result (the vendor its CPUID reports); on an Intel host
 * the case is compared bit for bit like the others, on another vendor's host these bits and registers are
 * not compared (everything else is); tests/x87.test.ts checks the emulator against the recorded results of its
 * vendor and the host CPU against its own vendor's (Intel and AMD recorded).
 */
export interface VendorDep { what: string; fsw: number; st: number }

const B = (n: bigint, w: number) => n & ((1n << BigInt(w)) - 1n);
/** An interesting double-extended value: [sign/exponent, significand]. */
export function xval(r: Rng, near?: [number, bigint]): [number, bigint] {
  const s = r.int(2) << 15;
  const J = 1n << 63n;
  if (near && r.chance(0.25)) {
    const [se, m] = near;
    let mm = m ^ r.bits(r.range(1, 40));
    if (m & J) mm |= J;
    return [(r.chance(0.5) ? se ^ 0x8000 : se) & 0xffff, B(mm, 64)];
  }
  switch (r.int(24)) {
    case 0: return [s, 0n];
    case 1: return [s | 0x7fff, J];
    case 2: return [s | 0x7fff, J | (1n << 62n) | r.bits(62)]; // QNaN
    case 3: return [s | 0x7fff, J | (r.bits(62) || 1n)]; // SNaN
    case 4: return [s, r.bits(63) || 1n]; // denormal
    case 5: return [s, J | r.bits(63)]; // pseudo-denormal
    // unnormal, pseudo-NaN/inf
    case 6: return r.chance(0.5) ? [s | r.range(1, 0x7ffe), r.bits(63)] : [s | 0x7fff, r.bits(63) || 0n];
    case 7: return [s | r.range(1, 70), J | r.bits(63)]; // tiny
    case 8: return [s | (0x7ffe - r.range(0, 70)), J | r.bits(63)]; // huge
    case 9: { // small integers and halves
      const v = BigInt(r.range(1, 5000));
      const e = 63 - (v.toString(2).length - 1);
      return [s | (0x3fff + 63 - e - (r.chance(0.3) ? 1 : 0)), v << BigInt(e)];
    }
    // integer limits
    case 10: return [s | (0x3fff + r.pick([14, 15, 31, 32, 62, 63, 64])), r.chance(0.5) ? J : J | r.bits(63)];
    // short significands
    case 11: return [s | (0x3fff + r.range(-66, 66)), J | (r.bits(63) & ~B(-1n, r.range(0, 62)) & ((1n << 63n) - 1n))];
    case 12: return [s | (0x3fff + r.range(-66, 66)), J | (r.chance(0.5) ? 0n : (1n << 63n) - 1n)];
    case 13: return [s | (0x3fff + r.range(-3, 3)), J | r.bits(63)];
    default: return [s | (0x3fff + r.range(-200, 200)), J | r.bits(63)];
  }
}
// Normal-ish values only (for transcendental arguments within range).
function put(b: Uint8Array, off: number, w: number, v: bigint): void {
  for (let i = 0; i < w / 8; i++) { b[off + i] = Number(v & 0xffn); v >>= 8n; }
}
function put80(b: Uint8Array, off: number, x: [number, bigint]): void {
  put(b, off, 64, x[1]); put(b, off + 8, 16, BigInt(x[0]));
}

/** A binary32/64 value as bits. */
function fbits(r: Rng, dbl: boolean): bigint {
  const fb = dbl ? 52 : 23, eb = dbl ? 11 : 8, emax = (1 << eb) - 1, w = dbl ? 64 : 32;
  const s = BigInt(r.int(2)) << BigInt(w - 1);
  const mk = (e: number, f: bigint) => s | (BigInt(e) << BigInt(fb)) | B(f, fb);
  switch (r.int(12)) {
    case 0: return mk(0, 0n);
    case 1: return mk(emax, 0n);
    case 2: return mk(emax, (1n << BigInt(fb - 1)) | r.bits(fb - 1));
    case 3: return mk(emax, r.bits(fb - 1) || 1n);
    case 4: return mk(0, r.bits(fb) || 1n);
    default: return mk(r.range(1, emax - 1), r.bits(fb));
  }
}

export class XCtx {
  regs: bigint[] = [];
  mem = new Uint8Array(MEMSIZE);
  fx = new Uint8Array(512);
  flags = 0;
  st: [number, bigint][] = [];
  constructor(readonly r: Rng) {
    for (let i = 0; i < 16; i++) this.regs.push(r.u64());
    this.regs[4] = BigInt(REGION + 0x180);
    for (let i = 0; i < MEMSIZE; i++) this.mem[i] = r.u32() & 0xff;
    for (const f of [0x1, 0x4, 0x10, 0x40, 0x80, 0x800]) if (r.chance(0.5)) this.flags |= f;
    const pc = r.pick([0, 2, 3, 3, 3, 1]), rc = r.int(4);
    const masks = r.chance(0.7) ? 0x3f : r.int(64);
    this.cw = 0x40 | masks | (pc << 8) | (rc << 10);
    let sw = (r.int(8) << 11) | (r.chance(0.5) ? 0x100 : 0) | (r.chance(0.5) ? 0x200 : 0) | (r.chance(0.5) ? 0x400 : 0)
      | (r.chance(0.5) ? 0x4000 : 0);
    if (r.chance(0.3)) sw |= r.int(64) & masks;
    this.sw = sw;
    this.tag = 0;
    for (let i = 0; i < 8; i++) if (r.chance(0.85)) this.tag |= 1 << i;
    for (let i = 0; i < 8; i++) this.st.push(xval(r, i > 0 ? this.st[i - 1] : undefined));
  }
  cw: number; sw: number; tag: number;
  /** Whether ST(i) is non-empty. */
  isValid(i: number): boolean { return (this.tag & (1 << (((this.sw >> 11) + i) & 7))) !== 0; }
  /** Make ST(i) non-empty (or empty). */
  valid(i: number, v = true): void {
    const p = ((this.sw >> 11) + i) & 7;
    if (v) this.tag |= 1 << p; else this.tag &= ~(1 << p);
  }
  image(): Uint8Array {
    const b = this.fx;
    put(b, 0, 16, BigInt(this.cw)); put(b, 2, 16, BigInt(this.sw)); b[4] = this.tag;
    put(b, 24, 32, 0x1f80n);
    for (let i = 0; i < 8; i++) put80(b, 32 + 16 * i, this.st[i]);
    return b;
  }
  /** A memory operand at REGION of `kind`. */
  memVal(kind: string): void {
    const m = this.mem, r = this.r;
    switch (kind) {
      case "m32": put(m, 0, 32, fbits(r, false)); break;
      case "m64": put(m, 0, 64, fbits(r, true)); break;
      case "m80": put80(m, 0, xval(r, this.st[0])); break;
      case "i16": put(m, 0, 16, val(r, 16)); break;
      case "i32": put(m, 0, 32, val(r, 32)); break;
      case "i64": put(m, 0, 64, val(r, 64)); break;
      case "bcd": {
        for (let i = 0; i < 9; i++) m[i] = (r.int(10) << 4) | r.int(10);
        if (r.chance(0.3)) for (let i = r.int(9); i < 9; i++) m[i] = 0;
        m[9] = r.chance(0.5) ? 0x80 : 0;
        break;
      }
      default: break;
    }
  }
}

interface Form {
  group: string; name: string;
  gen(c: XCtx): { text: string; fswMask?: number; ulp?: number; memSkip?: [number, number][]; vendor?: VendorDep }
}
const forms: Form[] = [];
function add(group: string, name: string, gen: Form["gen"]): void { forms.push({ group, name, gen }); }
const hex = (n: number) => "0x" + n.toString(16);
const memForm = (op: number, k: number, o16 = false) =>
  `${o16 ? ".byte 0x66\n" : ""}.byte ${hex(op)}, ${hex((k << 3) | 4)}, 0x25\n.long ${hex(REGION)}`;
const regForm = (op: number, modrm: number) => `.byte ${hex(op)}, ${hex(modrm)}`;
const ALL = 0xffff;
const NO_C023 = ALL & ~(0x100 | 0x400 | 0x4000); // C0 C2 C3 undefined (arithmetic)

// ---- arithmetic ----
const ARITH_K = [0, 1, 4, 5, 6, 7];
const AN = ["add", "mul", "", "", "sub", "subr", "div", "divr"];
for (const [op, kind] of [[0xd8, "m32"], [0xdc, "m64"], [0xda, "i32"], [0xde, "i16"]] as [number, string][]) {
  for (const k of ARITH_K) {
    add(
      "x87arith", `f${op === 0xda || op === 0xde ? "i" : ""}${AN[k]} ${kind}`,
      (c) => { c.memVal(kind); if (c.r.chance(0.9)) c.valid(0); return { text: memForm(op, k), fswMask: NO_C023 }; }
    );
  }
}
for (const op of [0xd8, 0xdc, 0xde]) {
  for (const k of ARITH_K) {
    add("x87arith", `${hex(op)} /${k} st(i)`, (c) => {
      const i = c.r.int(8);
      if (c.r.chance(0.9)) { c.valid(0); c.valid(i); }
      return { text: regForm(op, 0xc0 | (k << 3) | i), fswMask: NO_C023 };
    });
  }
}
add(
  "x87arith", "fsqrt",
  (c) => { if (c.r.chance(0.9)) c.valid(0); return { text: regForm(0xd9, 0xfa), fswMask: NO_C023 }; }
);

// ---- compares ----
for (const [op, kind] of [[0xd8, "m32"], [0xdc, "m64"], [0xda, "i32"], [0xde, "i16"]] as [number, string][]) {
  for (const k of [2, 3]) add(
    "x87cmp", `fcom${k === 3 ? "p" : ""} ${kind}`,
    (c) => { c.memVal(kind); if (c.r.chance(0.9)) c.valid(0); return { text: memForm(op, k) }; }
  );
}
for (const [op, k, name] of [
    [0xd8, 2, "fcom"], [0xd8, 3, "fcomp"], [0xdd, 4, "fucom"], [0xdd, 5, "fucomp"], [0xdb, 5, "fucomi"],
  [0xdb, 6, "fcomi"], [0xdf, 5, "fucomip"], [0xdf, 6, "fcomip"], [0xdc, 2, "fcom2"], [0xdc, 3, "fcomp3"],
  [0xde, 2, "fcomp5"]
] as [number, number, string][]
) {
  add("x87cmp", name, (c) => {
    const i = c.r.int(8);
    if (c.r.chance(0.9) || /[0-9]$/.test(name)) { c.valid(0); c.valid(i); }
    // FCOMI FUCOMI (and P): C1 is cleared on Intel (SDM), left alone on AMD: not compared
    return { text: regForm(op, 0xc0 | (k << 3) | i), fswMask: name.includes("comi") ? ALL & ~0x200 : ALL };
  });
}
add(
  "x87cmp", "fcompp", (c) => { if (c.r.chance(0.9)) { c.valid(0); c.valid(1); } return { text: regForm(0xde, 0xd9) }; }
);
add(
  "x87cmp", "fucompp", (c) => { if (c.r.chance(0.9)) { c.valid(0); c.valid(1); } return { text: regForm(0xda, 0xe9) }; }
);
add("x87cmp", "ftst", (c) => { if (c.r.chance(0.9)) c.valid(0); return { text: regForm(0xd9, 0xe4) }; });
add("x87cmp", "fxam", (c) => ({ text: regForm(0xd9, 0xe5) }));

// ---- loads, stores, moves ----
for (
  const [op, k, kind, name] of [[0xd9, 0, "m32", "fld m32"], [0xdd, 0, "m64", "fld m64"], [0xdb, 5, "m80", "fld m80"],
  [0xdf, 0, "i16", "fild m16"], [0xdb, 0, "i32", "fild m32"], [0xdf, 5, "i64", "fild m64"], [0xdf, 4, "bcd", "fbld"]
] as [number, number, string, string][]
) {
  add(
    "x87ldst", name, (c) => { c.memVal(kind); if (c.r.chance(0.8)) c.valid(7, false); return { text: memForm(op, k) }; }
  );
}
for (const [op, k, name] of [
    [0xd9, 2, "fst m32"], [0xd9, 3, "fstp m32"], [0xdd, 2, "fst m64"], [0xdd, 3, "fstp m64"], [0xdb, 7, "fstp m80"],
  [0xdf, 2, "fist m16"], [0xdf, 3, "fistp m16"], [0xdb, 2, "fist m32"], [0xdb, 3, "fistp m32"], [0xdf, 7, "fistp m64"],
  [0xdf, 1, "fisttp m16"], [0xdb, 1, "fisttp m32"], [0xdd, 1, "fisttp m64"], [0xdf, 6, "fbstp"]
] as [number, number, string][]
) {
  add("x87ldst", name, (c) => {
    if (c.r.chance(0.9)) c.valid(0);
    if (name.startsWith("fist") || name === "fbstp") { // values in and around the integer range
      if (c.r.chance(0.7)) c.st[0] = [
        (c.r.int(2) << 15) | (0x3fff + c.r.range(-2, name.endsWith("16") ? 16 : name.endsWith("32") ? 32 : 64)),
        (1n << 63n) | c.r.bits(63)
      ];
    }
    return { text: memForm(op, k) };
  });
}
for (const [op, base, name] of [
    [0xd9, 0xc0, "fld st(i)"], [0xd9, 0xc8, "fxch"], [0xdd, 0xd0, "fst st(i)"], [0xdd, 0xd8, "fstp st(i)"],
  [0xdd, 0xc0, "ffree"], [0xdf, 0xc0, "ffreep"], [0xd9, 0xd8, "fstp1"], [0xdd, 0xc8, "fxch4"], [0xdf, 0xc8, "fxch7"],
  [0xdf, 0xd0, "fstp8"], [0xdf, 0xd8, "fstp9"],
  [0xda, 0xc0, "fcmovb"], [0xda, 0xc8, "fcmove"], [0xda, 0xd0, "fcmovbe"], [0xda, 0xd8, "fcmovu"],
  [0xdb, 0xc0, "fcmovnb"], [0xdb, 0xc8, "fcmovne"], [0xdb, 0xd0, "fcmovnbe"], [0xdb, 0xd8, "fcmovnu"]
] as [number, number, string][]
) {
  add("x87ldst", name, (c) => {
    const i = c.r.int(8);
    if (c.r.chance(0.85)) { c.valid(0); c.valid(i); }
    if (name === "fld st(i)" && c.r.chance(0.8)) c.valid(7, false);
    // the undocumented aliases (FSTP1 FSTP8 FSTP9 FXCH4 FXCH7) with an empty operand: AMD raises no
    // stack fault for some of them; the SDM does not define them: only valid operands
    if (/[0-9]$/.test(name)) { c.valid(0); c.valid(i); }
    return { text: regForm(op, base | i) };
  });
}
for (const [m, name] of [
    [0xe8, "fld1"], [0xe9, "fldl2t"], [0xea, "fldl2e"], [0xeb, "fldpi"], [0xec, "fldlg2"], [0xed, "fldln2"],
    [0xee, "fldz"],
  [0xe0, "fchs"], [0xe1, "fabs"], [0xf6, "fdecstp"], [0xf7, "fincstp"], [0xd0, "fnop"]] as [number, string][]) {
  add(
    "x87ldst", name, (c) => {
      if (c.r.chance(0.8)) c.valid(name.startsWith("fld") ? 7 : 0, !name.startsWith("fld"));
      return { text: regForm(0xd9, m) };
    }
  );
}

// ---- FRNDINT FSCALE FXTRACT FPREM FPREM1 ----
for (
  const [
    m, name
  ] of [[0xfc, "frndint"], [0xfd, "fscale"], [0xf4, "fxtract"], [0xf8, "fprem"], [0xf5, "fprem1"]] as [number, string][]
) {
  add("x87misc", name, (c) => {
    if (c.r.chance(0.9)) { c.valid(0); c.valid(1); if (name === "fxtract") c.valid(7, false); }
    if (name === "fscale" && c.r.chance(0.7))
      c.st[1] = [(c.r.int(2) << 15) | (0x3fff + c.r.range(-2, 14)), (1n << 63n) | c.r.bits(63)];
    if (name.startsWith("fprem") && c.r.chance(0.6)) { // exponents close enough to finish (and some not)
      const e0 = 0x3fff + c.r.range(-30, 30);
      c.st[0] = [(c.r.int(2) << 15) | e0, (1n << 63n) | c.r.bits(63)];
      c.st[1] = [(c.r.int(2) << 15) | (e0 - c.r.range(-2, 80)), (1n << 63n) | c.r.bits(63)];
    }
    // FPREM/FPREM1 of a denormal by an infinity, and FSCALE of a denormal by a zero, with DE masked and UE
    // unmasked: Intel returns it unchanged (DE only), AMD underflows (UE, ES and the biased result), docs/X87.md
    const den = (v: [number, bigint]) => (v[0] & 0x7fff) === 0 && v[1] !== 0n && v[1] >> 63n === 0n;
    const inf = (v: [number, bigint]) => (v[0] & 0x7fff) === 0x7fff && v[1] === 1n << 63n;
    const zero = (v: [number, bigint]) => (v[0] & 0x7fff) === 0 && v[1] === 0n;
    const odd = name.startsWith("fprem") ? inf : name === "fscale" ? zero : undefined;
    const vendor = odd && c.isValid(0) && c.isValid(1) && den(c.st[0]) && odd(c.st[1]) && (c.cw & 0x12) === 0x02
      ? {
        what: `${name === "fscale" ? "FSCALE of a denormal by zero" : "FPREM/FPREM1 of a denormal by infinity"}, `
          + `UE unmasked`, fsw: 0x8000 | 0x80 | 0x10, st: 1
      } : undefined;
    // C0-C3 are undefined after FRNDINT, FSCALE, FXTRACT; after a partial FPREM C0 C1 C3 are compared as set
    return { text: regForm(0xd9, m), fswMask: name.startsWith("fprem") ? ALL : NO_C023, vendor };
  });
}

// ---- environment and control ----
for (const o16 of [false, true]) {
  const sz = o16 ? 14 : 28;
  const skip: [number, number][] = o16 ? [[6, 8]] : [[12, 16]];
  add("x87env", `fnstenv${o16 ? "16" : ""}`, () => ({ text: memForm(0xd9, 6, o16), memSkip: skip }));
  add("x87env", `fnsave${o16 ? "16" : ""}`, () => ({ text: memForm(0xdd, 6, o16), memSkip: skip }));
  add("x87env", `fldenv${o16 ? "16" : ""}`, (c) => {
    // an environment image consistent enough to load: FCW, FSW (no pending unmasked exception), tags
    const cw = 0x40 | c.r.int(64) | (c.r.int(4) << 8) | (c.r.int(4) << 10);
    const sw = (c.r.int(64) & cw) | (c.r.int(8) << 11) | (c.r.chance(0.5) ? 0x4700 : 0);
    let tw = 0; for (let i = 0; i < 8; i++) tw |= c.r.int(4) << (2 * i);
    const w = o16 ? 16 : 32;
    put(c.mem, 0, w, BigInt(cw)); put(c.mem, w / 8, w, BigInt(sw)); put(c.mem, 2 * w / 8, w, BigInt(tw));
    return { text: memForm(0xd9, 4, o16) };
  });
  add("x87env", `frstor${o16 ? "16" : ""}`, (c) => {
    const cw = 0x40 | c.r.int(64) | (c.r.int(4) << 8) | (c.r.int(4) << 10);
    const sw = (c.r.int(64) & cw) | (c.r.int(8) << 11);
    let tw = 0; for (let i = 0; i < 8; i++) tw |= c.r.int(4) << (2 * i);
    const w = o16 ? 16 : 32;
    put(c.mem, 0, w, BigInt(cw)); put(c.mem, w / 8, w, BigInt(sw)); put(c.mem, 2 * w / 8, w, BigInt(tw));
    for (let i = 0; i < 8; i++) put80(c.mem, sz + 10 * i, xval(c.r));
    return { text: memForm(0xdd, 4, o16) };
  });
}
add("x87env", "fnstsw", () => ({ text: memForm(0xdd, 7) }));
add("x87env", "fnstsw ax", () => ({ text: regForm(0xdf, 0xe0) }));
add("x87env", "fnstcw", () => ({ text: memForm(0xd9, 7) }));
add(
  "x87env", "fldcw", (c) => {
    put(c.mem, 0, 16, BigInt(0x40 | 0x3f | (c.r.int(4) << 8) | (c.r.int(4) << 10) | (c.r.int(2) << 12)));
    return { text: memForm(0xd9, 5) };
  }
);
add("x87env", "fnclex", () => ({ text: regForm(0xdb, 0xe2) }));
add("x87env", "fninit", () => ({ text: regForm(0xdb, 0xe3) }));

// ---- transcendental ----
function trigArg(c: XCtx, lim: number): void {
  const r = c.r;
  if (r.chance(0.85)) c.st[0] = [(r.int(2) << 15) | (0x3fff + r.range(-70, lim)), (1n << 63n) | r.bits(63)];
}
for (
  const [m, name] of [
    [0xf0, "f2xm1"], [0xf1, "fyl2x"], [0xf9, "fyl2xp1"], [0xf2, "fptan"], [0xf3, "fpatan"], [0xfe, "fsin"],
    [0xff, "fcos"], [0xfb, "fsincos"]
  ] as [number, string][]
) {
  add("x87trans", name, (c) => {
    const r = c.r;
    c.valid(0); c.valid(1);
    if (m === 0xf2 || m === 0xfb) c.valid(7, false);
    // F2XM1 and FYL2XP1 outside their domain (|x| > 1, |x| >= 1 - sqrt(2)/2) give undefined results: not generated
    const e0 = c.st[0][0] & 0x7fff, fin = e0 !== 0x7fff;
    if (m === 0xf0) {
      if (r.chance(0.85) || (fin && e0 >= 0x3fff))
        c.st[0] = [(r.int(2) << 15) | (0x3fff - r.range(1, 70)), (1n << 63n) | r.bits(63)];
    }
    else if (m === 0xf1) {
      if (r.chance(0.85)) c.st[0] = [0x3fff + r.range(-100, 100), r.chance(0.1) ? 1n << 63n : (1n << 63n) | r.bits(63)];
    }
    else if (m === 0xf9) {
      if (r.chance(0.85) || (fin && e0 >= 0x3ffd))
        c.st[0] = [(r.int(2) << 15) | (0x3fff - r.range(2, 70)), (1n << 63n) | r.bits(63)];
    }
    else if (m === 0xf3) {
      if (r.chance(0.85)) {
        c.st[0] = [(r.int(2) << 15) | (0x3fff + r.range(-30, 30)), (1n << 63n) | r.bits(63)];
        c.st[1] = [(r.int(2) << 15) | (0x3fff + r.range(-30, 30)), (1n << 63n) | r.bits(63)];
      }
    }
    else trigArg(c, 1); // |x| < 4: where the CPUs' reduction is exact enough
    if (m === 0xf1 || m === 0xf9 || m === 0xf3) {
      if (r.chance(0.85)) c.st[1] = [(r.int(2) << 15) | (0x3fff + r.range(-10, 10)), (1n << 63n) | r.bits(63)];
    }
    // results within 1 ulp of the CPU's; C1 (rounded up) then may differ too; C0 C3 undefined.
    // FYL2X of a power of two reports PE even for an exact product, on AMD and Intel alike (docs/X87.md): compared
    const mask = NO_C023 & ~0x200 | 0x400;
    return { text: regForm(0xd9, m), ulp: 1, fswMask: mask };
  });
}

// ---- MMX ----
// Random TOP and tags (every MMX instruction but EMMS makes TOP 0 and all tags valid), random
// register contents (exponent fields included: a write sets 0xFFFF), reg or m64 sources.
const mmx = (c: XCtx) => `%mm${c.r.int(8)}`;
const msrc = (c: XCtx) => {
  if (c.r.chance(0.35)) { for (let i = 0; i < 8; i++) c.mem[i] = c.r.u32() & 0xff; return hex(REGION); } return mmx(c);
};
for (const op of [
    "packsswb", "packssdw", "packuswb", "paddb", "paddw", "paddd", "paddq", "paddsb", "paddsw", "paddusb", "paddusw",
  "pand", "pandn", "por", "pxor", "pcmpeqb", "pcmpeqw", "pcmpeqd", "pcmpgtb", "pcmpgtw", "pcmpgtd", "pmaddwd", "pmulhw",
  "pmullw",
  "psubb", "psubw", "psubd", "psubq", "psubsb", "psubsw", "psubusb", "psubusw", "punpckhbw", "punpckhwd", "punpckhdq",
  "punpcklbw", "punpcklwd", "punpckldq", "pavgb", "pavgw", "pmaxsw", "pmaxub", "pminsw", "pminub", "pmulhuw", "psadbw",
  "pmuludq", "movq"
]
) {
  add("mmx", op, (c) => ({ text: `${op} ${msrc(c)}, ${mmx(c)}` }));
}
for (const op of ["psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad"]) {
  add("mmx", op, (c) => {
    if (c.r.chance(0.4)) return { text: `${op} $${c.r.chance(0.7) ? c.r.int(20) : c.r.int(256)}, ${mmx(c)}` };
    const cnt = c.r.chance(0.7) ? BigInt(c.r.int(70)) : c.r.u64();
    const s = mmx(c);
    const n = Number(s.slice(3));
    c.st[(n - (c.sw >> 11)) & 7] = [c.r.int(0x10000), cnt]; // the count register (slot of physical n)
    return { text: `${op} ${s}, ${mmx(c)}` };
  });
}
add("mmx", "pshufw", (c) => ({ text: `pshufw $${c.r.int(256)}, ${msrc(c)}, ${mmx(c)}` }));
add(
  "mmx", "pinsrw", (c) => ({ text: `pinsrw $${c.r.int(256)}, ${c.r.chance(0.5) ? "%eax" : hex(REGION)}, ${mmx(c)}` })
);
add("mmx", "pextrw", (c) => ({ text: `pextrw $${c.r.int(256)}, ${mmx(c)}, %ecx` }));
add("mmx", "pmovmskb", (c) => ({ text: `pmovmskb ${mmx(c)}, %edx` }));
add("mmx", "movd-load", (c) => ({ text: c.r.chance(0.5) ? `movd %esi, ${mmx(c)}` : `movd ${hex(REGION)}, ${mmx(c)}` }));
add("mmx", "movq-gpr", (c) => ({ text: c.r.chance(0.5) ? `movq %rsi, ${mmx(c)}` : `movq ${mmx(c)}, %rdi` }));
add(
  "mmx", "movd-store",
  (c) => ({ text: c.r.chance(0.5) ? `movd ${mmx(c)}, %ebx` : `movd ${mmx(c)}, ${hex(REGION + 8)}` })
);
add(
  "mmx", "movq-store",
  (c) => ({ text: c.r.chance(0.5) ? `movq ${mmx(c)}, ${hex(REGION + 16)}` : `movntq ${mmx(c)}, ${hex(REGION + 24)}` })
);
add(
  "mmx", "maskmovq",
  (c) => { c.regs[7] = BigInt(REGION + 32 + c.r.int(64)); return { text: `maskmovq ${mmx(c)}, ${mmx(c)}` }; }
);
// SSSE3 on MMX registers
for (const op of ["pshufb", "phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw", "pmaddubsw", "pmulhrsw",
  "psignb", "psignw", "psignd", "pabsb", "pabsw", "pabsd"]) {
  add("mmx", op, (c) => ({ text: `${op} ${msrc(c)}, ${mmx(c)}` }));
}
add(
  "mmx", "palignr", (c) => ({ text: `palignr $${c.r.chance(0.7) ? c.r.int(18) : c.r.int(256)}, ${msrc(c)}, ${mmx(c)}` })
);
add("mmx", "emms", () => ({ text: "emms" }));
add("mmx", "mmx-then-x87", (c) => ({ text: `paddw ${mmx(c)}, ${mmx(c)}\nfxam` }));

export function groups(): string[] { return [...new Set(forms.map((f) => f.group))]; }

export function generate(seed: number, count: number, groupFilter?: string[]): X87Case[] {
  const out: X87Case[] = [];
  for (const f of forms) {
    if (groupFilter && groupFilter.length && !groupFilter.includes(f.group)) continue;
    const r = new Rng(seed, `x87:${f.name}`);
    for (let i = 0; i < count; i++) {
      const c = new XCtx(r);
      const g = f.gen(c);
      out.push({
        group: f.group, form: f.name, text: g.text, regs: c.regs, flags: c.flags, fx: c.image(), mem: c.mem,
        fswMask: g.fswMask ?? ALL, ulp: g.ulp ?? 0, memSkip: g.memSkip ?? [], ...(g.vendor ? { vendor: g.vendor } : {}),
      });
    }
  }
  return out;
}
