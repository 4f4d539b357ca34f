// Deterministic mutation of seed inputs for the parser fuzz harness (tests/lib/pfuzz/targets.ts).
// Input i of a run is a pure function of (target, seed, i): its generator is seeded from a hash of
// the three, so any input can be made again from its numbers alone (the reproducer).

/** xorshift-style 32-bit generator (mulberry32): small, fast, and the same everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 <= n < max (max >= 1). */
  below(max: number): number { return max <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * max); }
  chance(p: number): boolean { return this.u32() / 0x1_0000_0000 < p; }
  pick<T>(a: readonly T[]): T { return a[this.below(a.length)]; }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff; return b;
  }
}

/** FNV-1a over a string, then mixed with numbers: the generator seed of input `index`. */
export function inputSeed(target: string, seed: number, index: number): number {
  let h = 0x811c9dc5;
  const s = `${target}/${seed}/${index}`;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

/** Interesting integers (as unsigned 64-bit values) written at field offsets. */
export const INTERESTING = [
  0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xfffn, 0x1000n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  0x7fffffffn, 0x80000000n, 0xfffffff0n, 0xfffffff4n, 0xfffffffcn, 0xfffffffen, 0xffffffffn, 0x100000000n,
  0x1fffffffffffffn, 0x20000000000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xfffffffffffff000n,
  0xffffffffffffffffn,
];

function writeInt(b: Uint8Array, off: number, width: number, v: bigint): void {
  for (let i = 0; i < width && off + i < b.length; i++) b[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

export interface MutateOptions {
  /** Offsets of fields worth an interesting integer (structure-aware); any offset otherwise. */
  fields?: number[];
  /** Other seeds to splice with. */
  others?: Uint8Array[];
  /** Tokens worth inserting (text formats). */
  tokens?: string[];
  /** The most bytes an input may grow to. */
  maxLen?: number;
}

/** One to four mutations of `src` (never modified): bit flips, random bytes, inserts, deletes,
 * interesting integers at (field) offsets, truncation, splicing, duplicated chunks, tokens. */
export function mutate(rng: Rng, src: Uint8Array, o: MutateOptions = {}): Uint8Array<ArrayBuffer> {
  let b = src.slice();
  const maxLen = o.maxLen ?? Math.max(1 << 16, src.length * 2);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = () => rng.below(b.length + 1);
    switch (rng.below(o.tokens ? 11 : 10)) {
      case 0: case 1: { // bit flips
        if (b.length === 0) break;
        for (let k = 1 + rng.below(8); k > 0; k--) { const i = rng.below(b.length); b[i] ^= 1 << rng.below(8); }
        break;
      }
      case 2: { // random bytes
        if (b.length === 0) break;
        for (let k = 1 + rng.below(4); k > 0; k--) b[rng.below(b.length)] = rng.u32() & 0xff;
        break;
      }
      case 3: case 4: { // an interesting integer at a field offset (or anywhere)
        if (b.length === 0) break;
        const fields = o.fields?.filter((f) => f < b.length);
        const off = fields && fields.length && rng.chance(0.8) ? rng.pick(fields) : rng.below(b.length);
        const width = rng.pick([1, 2, 4, 4, 8]);
        let v = rng.pick(INTERESTING);
        if (rng.chance(0.2)) v = BigInt(b.length + rng.below(9) - 4) & 0xffffffffn; // sizes near the input's
        writeInt(b, off, width, v);
        break;
      }
      case 5: { // insert bytes
        if (b.length >= maxLen) break;
        const i = at(), ins = rng.bytes(1 + rng.below(16));
        b = concat(b.subarray(0, i), ins, b.subarray(i));
        break;
      }
      case 6: { // delete a range
        if (b.length === 0) break;
        const i = rng.below(b.length), n = 1 + rng.below(Math.min(64, b.length - i));
        b = concat(b.subarray(0, i), b.subarray(i + n));
        break;
      }
      case 7: { // truncate
        b = b.slice(0, rng.below(b.length + 1));
        break;
      }
      case 8: { // splice with another seed (or itself)
        const other = o.others && o.others.length ? rng.pick(o.others) : b;
        const i = at(), j = rng.below(other.length + 1);
        b = concat(b.subarray(0, i), other.subarray(j)).slice(0, maxLen);
        break;
      }
      case 9: { // duplicate a chunk in place
        if (b.length === 0 || b.length >= maxLen) break;
        const i = rng.below(b.length), n = 1 + rng.below(Math.min(256, b.length - i));
        const j = at();
        b = concat(b.subarray(0, j), b.slice(i, i + n), b.subarray(j)).slice(0, maxLen);
        break;
      }
      case 10: { // a token of the format
        const t = new TextEncoder().encode(rng.pick(o.tokens!));
        const i = at();
        b = concat(b.subarray(0, i), t, b.subarray(i)).slice(0, maxLen);
        break;
      }
    }
  }
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A JSON value with one part replaced by a value of another shape (structure-aware mutation). */
export function mutateJson(rng: Rng, v: unknown, depth = 0): unknown {
  const odd = (): unknown => rng.pick<() => unknown>([
    () => null, () => undefined, () => 0, () => -1, () => 1.5, () => 0x7fffffff, () => 0xffffffff, () => 2 ** 53,
    () => -(2 ** 63),
    () => 1e308, () => "", () => "x".repeat(rng.below(5000)), () => "../../etc/passwd", () => "a\nb", () => "\u0000",
    () => true, () => [], () => {}, () => ({}), () => [[[[[[]]]]]], () => ({ __proto__: { x: 1 } }), () => "-1",
    () => "1e3",
  ])();
  if (depth > 6 || v === null || typeof v !== "object" || rng.chance(0.15)) return rng.chance(0.85) ? odd() : v;
  if (Array.isArray(v)) {
    const a = v.slice();
    const r = rng.below(4);
    if (r === 0 || a.length === 0) a.push(odd());
    else if (r === 1) a.splice(rng.below(a.length), 1);
    else { const i = rng.below(a.length); a[i] = mutateJson(rng, a[i], depth + 1); }
    return a;
  }
  const o: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  const r = rng.below(5);
  if (r === 0 || keys.length === 0)
    o[rng.pick(["x", "op", "name", "__proto__", "constructor", "toString", ...keys])] = odd();
  else if (r === 1) delete o[rng.pick(keys)];
  else { const k = rng.pick(keys); o[k] = mutateJson(rng, o[k], depth + 1); }
  return o;
}

export const hexOf = (b: Uint8Array, max = 1 << 20): string =>
  Buffer.from(b.subarray(0, max)).toString("hex") + (b.length > max ? `... (${b.length} bytes)` : "");
