// A small WebAssembly binary writer for the JIT: one module of functions of one type, importing the
// core's memory and a few of its exports. Only what host/jit/translate.ts emits.

export const T_I32 = 0x7f;
export const T_I64 = 0x7e;
export const BLOCK_VOID = 0x40;

// Opcodes used by the translator.
export const enum Op {
  block = 0x02, loop = 0x03, if_ = 0x04, else_ = 0x05, end = 0x0b, br = 0x0c, br_if = 0x0d, br_table = 0x0e,
  return_ = 0x0f, call = 0x10, drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i64_load = 0x29, i32_load8_u = 0x2d, i32_load16_u = 0x2f, i64_load8_s = 0x30, i64_load8_u = 0x31,
  i64_load16_s = 0x32, i64_load16_u = 0x33, i64_load32_s = 0x34, i64_load32_u = 0x35,
  i32_store = 0x36, i64_store = 0x37, i64_store8 = 0x3c, i64_store16 = 0x3d, i64_store32 = 0x3e,
  i32_const = 0x41, i64_const = 0x42,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b,
  i32_le_s = 0x4c, i32_le_u = 0x4d, i32_ge_s = 0x4e, i32_ge_u = 0x4f,
  i64_eqz = 0x50, i64_eq = 0x51, i64_ne = 0x52, i64_lt_s = 0x53, i64_lt_u = 0x54, i64_gt_s = 0x55, i64_gt_u = 0x56,
  i64_le_s = 0x57, i64_le_u = 0x58, i64_ge_s = 0x59, i64_ge_u = 0x5a,
  i32_popcnt = 0x69, i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73,
  i32_shl = 0x74, i32_shr_u = 0x76, i32_rotl = 0x77, i32_rotr = 0x78,
  i64_clz = 0x79, i64_ctz = 0x7a, i64_popcnt = 0x7b,
  i64_add = 0x7c, i64_sub = 0x7d, i64_mul = 0x7e, i64_div_s = 0x7f, i64_div_u = 0x80, i64_rem_u = 0x82,
  i64_and = 0x83, i64_or = 0x84, i64_xor = 0x85, i64_shl = 0x86, i64_shr_s = 0x87, i64_shr_u = 0x88, i64_rotl = 0x89,
  i64_rotr = 0x8a,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
  i64_extend8_s = 0xc2, i64_extend16_s = 0xc3, i64_extend32_s = 0xc4,
}

export class Bytes {
  protected buf: Uint8Array;
  len = 0;
  /** `capacity` bytes of its own, or the given storage (written from its start; a new buffer if it fills). */
  constructor(capacity: number | Uint8Array = 256) {
    this.buf = typeof capacity === "number" ? new Uint8Array(capacity) : capacity;
  }
  protected room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  /** The bytes written so far (a view: valid until the next write). */
  get b(): Uint8Array { return this.buf.subarray(0, this.len); }
  /** Empties it (the storage is kept: a scratch buffer). */
  reset(): this { this.len = 0; return this; }
  u8(x: number): this { if (this.len === this.buf.length) this.room(1); this.buf[this.len++] = x & 0xff; return this; }
  /** Two bytes (each masked to 8 bits). */
  u8x2(x: number, y: number): this {
    if (this.len + 2 > this.buf.length) this.room(2);
    const b = this.buf, l = this.len;
    b[l] = x & 0xff; b[l + 1] = y & 0xff; this.len = l + 2;
    return this;
  }
  uleb(x: number): this {
    if (x >= 0 && x < 0x80) return this.u8(x);
    if (x >= 0 && x < 0x80000000) { // (the common case, with integer steps)
      if (this.len + 5 > this.buf.length) this.room(5);
      const b = this.buf;
      let l = this.len;
      do { let byte = x & 0x7f; x >>>= 7; if (x !== 0) byte |= 0x80; b[l++] = byte; } while (x !== 0);
      this.len = l;
      return this;
    }
    do { let byte = x & 0x7f; x = Math.floor(x / 128); if (x !== 0) byte |= 0x80; this.u8(byte); } while (x !== 0);
    return this;
  }
  sleb32(x: number): this {
    x |= 0;
    if (x >= -64 && x < 64) return this.u8(x & 0x7f);
    if (this.len + 5 > this.buf.length) this.room(5);
    const b = this.buf;
    let l = this.len;
    while (true) {
      const byte = x & 0x7f;
      x >>= 7;
      if ((x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0)) { b[l++] = byte; break; }
      b[l++] = byte | 0x80;
    }
    this.len = l;
    return this;
  }
  /** The signed LEB128 of a safe integer (|x| < 2^53), in number steps: the same bytes as sleb64(BigInt(x)). */
  slebSafe(x: number): this {
    if ((x | 0) === x) return this.sleb32(x);
    if (this.len + 10 > this.buf.length) this.room(10);
    const b = this.buf;
    let l = this.len;
    while (true) {
      const q = Math.floor(x / 128), byte = x - q * 128; // (0..127: the low 7 bits of the two's complement)
      x = q;
      if ((x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0)) { b[l++] = byte; break; }
      b[l++] = byte | 0x80;
    }
    this.len = l;
    return this;
  }
  sleb64(v: bigint): this {
    v = BigInt.asIntN(64, v);
    // the common case, without BigInt steps
    if (v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn) return this.slebSafe(Number(v));
    while (true) {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) return this.u8(byte);
      this.u8(byte | 0x80);
    }
  }
  bytes(x: ArrayLike<number>): this {
    if (this.len + x.length > this.buf.length) this.room(x.length);
    if (x instanceof Uint8Array) this.buf.set(x, this.len);
    else for (let i = 0; i < x.length; i++) this.buf[this.len + i] = x[i] & 0xff;
    this.len += x.length;
    return this;
  }
  str(s: string): this { const e = new TextEncoder().encode(s); this.uleb(e.length); return this.bytes(e); }
}

/** Whether this runtime's WebAssembly has tail calls (return_call_indirect). */
export function hasTailCalls(): boolean {
  // (module (type (func)) (table 1 funcref) (func (type 0) i32.const 0 return_call_indirect (type 0)))
  const m = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 4, 4, 1, 0x70, 0, 1,
    10, 9, 1, 7, 0, 0x41, 0, 0x13, 0, 0, 0x0b];
  try { return WebAssembly.validate(new Uint8Array(m)); } catch { return false; }
}

/** The chain dispatcher: a module importing env.table (funcref) that exports `chain(ip, budget, n, idx)`, a tail
 *  call of the table's entry `idx` with (ip, budget, n) (its type: `params` -> `results`, the regions'). Regions
 *  chain into each other by a tail call of this import rather than through a table of their own: V8 (Node 20's
 *  11.3) gives each instance of a module that imports a table its own copy of the table's entries, so that
 *  instantiating a region module cost time in proportion to the regions in use, and each table.set as much in
 *  proportion to the modules that import it. One instance of this module is the only importer. */
export function chainModule(params: number[], results: number[]): Uint8Array<ArrayBuffer> {
  const h = new Bytes().bytes([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const ts = new Bytes().uleb(2);
  ts.u8(0x60).uleb(params.length).bytes(params).uleb(results.length).bytes(results);
  ts.u8(0x60).uleb(params.length + 1).bytes([...params, T_I32]).uleb(results.length).bytes(results);
  section(h, 1, ts);
  section(h, 2, new Bytes().uleb(1).str("env").str("table").u8(1).u8(0x70).u8(0).uleb(0));
  section(h, 3, new Bytes().uleb(1).uleb(1));
  section(h, 7, new Bytes().uleb(1).str("chain").u8(0).uleb(0));
  const body = new Bytes().uleb(0);
  for (let i = 0; i <= params.length; i++) body.u8(Op.local_get).uleb(i);
  body.u8(0x13 /* return_call_indirect */).uleb(0).uleb(0).u8(0x0b);
  section(h, 10, new Bytes().uleb(1).uleb(body.len).bytes(body.b));
  return h.b.slice() as Uint8Array<ArrayBuffer>;
}

/** A function body under construction. */
export class Code extends Bytes {
  op(o: Op): this { return this.u8(o); }
  // (a local index below 128 is one byte: the opcode and it in one step)
  get(l: number): this { return l < 0x80 ? this.u8x2(Op.local_get, l) : this.u8(Op.local_get).uleb(l); }
  set(l: number): this { return l < 0x80 ? this.u8x2(Op.local_set, l) : this.u8(Op.local_set).uleb(l); }
  tee(l: number): this { return l < 0x80 ? this.u8x2(Op.local_tee, l) : this.u8(Op.local_tee).uleb(l); }
  i32(x: number): this { return this.u8(Op.i32_const).sleb32(x); }
  /** An i64.const: numbers (safe integers) without BigInt steps; a bigint is taken modulo 2^64, as signed. */
  i64(x: bigint | number): this {
    this.u8(Op.i64_const);
    if (typeof x === "number") return Number.isSafeInteger(x) ? this.slebSafe(x) : this.sleb64(BigInt(x));
    return this.sleb64(x);
  }
  /** A load or store with a static offset (the address operand is on the stack). */
  mem(o: Op, offset: number, align = 0): this { return this.u8(o).uleb(align).uleb(offset >>> 0); }
  call(f: number): this { return this.u8(Op.call).uleb(f); }
  br(depth: number): this { return this.u8(Op.br).uleb(depth); }
  brIf(depth: number): this { return this.u8(Op.br_if).uleb(depth); }
  block(): this { return this.u8x2(Op.block, BLOCK_VOID); }
  loop(): this { return this.u8x2(Op.loop, BLOCK_VOID); }
  if_(): this { return this.u8x2(Op.if_, BLOCK_VOID); }
  end(): this { return this.u8(Op.end); }
  else_(): this { return this.u8(Op.else_); }
}

export interface ImportFn { name: string; params: number[]; results: number[] }
export interface FuncDef { params: number[]; results: number[]; locals: number[]; body: Code; export: string }

function section(out: Bytes, id: number, content: Bytes): void {
  out.u8(id).uleb(content.len).bytes(content.b);
}

// Scratch storage for buildModule (kept between modules: the code section and the module grow once).
const FS = new Bytes(1 << 10), ES = new Bytes(1 << 12), LOC = new Bytes(64);
const ENC = new TextEncoder();
const HEADS = new Map<string, Uint8Array>();

/** A module importing env.memory and `imports` (functions), defining and exporting `funcs`. The type of funcs[0]
 *  is type 0. */
export function buildModule(imports: ImportFn[], funcs: FuncDef[]): Uint8Array<ArrayBuffer> {
  const types: string[] = [];
  const typeOf = (p: number[], r: number[]): number => {
    const k = p.join(",") + ">" + r.join(",");
    let i = types.indexOf(k);
    if (i < 0) { types.push(k); i = types.length - 1; }
    return i;
  };
  // (the functions' type: one for all of them when they share their params and results arrays, as the
  // translator's do)
  const fnTypes: number[] = [];
  let lastP: number[] | null = null, lastR: number[] | null = null, lastT = -1;
  for (const f of funcs) {
    if (f.params !== lastP || f.results !== lastR) {
      lastT = typeOf(f.params, f.results); lastP = f.params; lastR = f.results;
    }
    fnTypes.push(lastT);
  }
  const impTypes = imports.map((f) => typeOf(f.params, f.results));
  // The header, type and import sections: the same for every module of the same types and imports.
  const key = `${types.join("|")}|${imports.map((f, i) => f.name + ":" + impTypes[i]).join(",")}`;
  let head = HEADS.get(key);
  if (!head) {
    const h = new Bytes().bytes([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const ts = new Bytes().uleb(types.length);
    for (const k of types) {
      const [p, r] = k.split(">").map((s) => (s ? s.split(",").map(Number) : []));
      ts.u8(0x60).uleb(p.length).bytes(p).uleb(r.length).bytes(r);
    }
    section(h, 1, ts);
    const is = new Bytes().uleb(imports.length + 1);
    is.str("env").str("memory").u8(2).u8(0).uleb(1);
    imports.forEach((f, i) => is.str("env").str(f.name).u8(0).uleb(impTypes[i]));
    section(h, 2, is);
    head = h.b.slice();
    if (HEADS.size > 16) HEADS.clear();
    HEADS.set(key, head);
  }
  // The function and export sections (small), then the code section's size, so that the module is written
  // once, into its own buffer (copied from scratch buffers before: two more copies of every byte).
  const fs = FS.reset().uleb(funcs.length);
  for (const t of fnTypes) fs.uleb(t);
  const es = ES.reset().uleb(funcs.length);
  for (let i = 0; i < funcs.length; i++) {
    const name = funcs[i].export;
    if (/^[\x20-\x7e]*$/.test(name)) { // (ASCII: its bytes are its char codes)
      es.uleb(name.length);
      for (let k = 0; k < name.length; k++) es.u8(name.charCodeAt(k));
    } else { const e = ENC.encode(name); es.uleb(e.length).bytes(e); }
    es.u8(0).uleb(imports.length + i);
  }
  // Locals, run-length encoded by type (the same encoding for the same array: done once).
  const locs: Uint8Array[] = [];
  let lastLocals: number[] | null = null, loc = LOC.b;
  let csLen = ulebLen(funcs.length);
  for (const f of funcs) {
    if (f.locals !== lastLocals) {
      lastLocals = f.locals;
      const runs: [number, number][] = [];
      for (const t of f.locals) {
        if (runs.length && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
        else runs.push([1, t]);
      }
      LOC.reset().uleb(runs.length);
      for (const [n, t] of runs) LOC.uleb(n).u8(t);
      loc = LOC.b.slice();
    }
    locs.push(loc);
    const n = loc.length + f.body.len + 1;
    csLen += ulebLen(n) + n;
  }
  const total = head.length + 1 + ulebLen(fs.len) + fs.len + 1 + ulebLen(es.len) + es.len + 1 + ulebLen(csLen) + csLen;
  const out = new Bytes(new Uint8Array(total)).bytes(head);
  section(out, 3, fs);
  section(out, 7, es);
  out.u8(10).uleb(csLen).uleb(funcs.length);
  for (let i = 0; i < funcs.length; i++) {
    const f = funcs[i], l = locs[i];
    out.uleb(l.length + f.body.len + 1).bytes(l).bytes(f.body.b).u8(Op.end);
  }
  if (out.len !== total) throw new Error(`wasm: module of ${out.len} bytes, ${total} expected`);
  return out.b as Uint8Array<ArrayBuffer>;
}

/** The length of x's unsigned LEB128 (x a non-negative integer below 2^53). */
function ulebLen(x: number): number {
  let n = 1;
  while (x >= 0x80) { x = Math.floor(x / 128); n++; }
  return n;
}
