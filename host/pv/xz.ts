// An xz decoder in TypeScript (pure, any runtime): the .xz container (stream header, blocks, the check),
// LZMA2 (its chunks: uncompressed, LZMA with state/property/dictionary resets) with the LZMA decoder as
// Igor Pavlov's LzmaSpec describes it, and the x86 BCJ filter (Linux compresses its kernel with
// `xz --check=crc32 --x86 --lzma2`), as xz-embedded (public domain) does them. The npm registry's
// browser xz decoders leave BCJ out. The whole output is kept (it is the kernel), so it is its own
// dictionary; every LZMA2 chunk says its size before it is decoded, so nothing is written past `limit`.
// Only the first stream is decoded (the kernel's decompressor does the same: XZ_SINGLE).

/** Thrown for output past the caller's limit. */
export class XzLimit extends Error {}
/** Thrown for data that is not valid xz (or uses what this decoder lacks: another filter, a check). */
export class XzError extends Error {}

// CRC32 slicing-by-8: CRC32[k * 256 + n] is the CRC of byte n followed by k zero bytes.
const CRC32 = new Int32Array(8 * 256);
const CRC64_LO = new Uint32Array(256), CRC64_HI = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC32[n] = c;
  let lo = n, hi = 0; // poly 0xC96C5795D7870F42 (reflected ECMA-182)
  for (let k = 0; k < 8; k++) {
    const b = lo & 1;
    lo = ((lo >>> 1) | (hi << 31)) >>> 0; hi = hi >>> 1;
    if (b) { lo = (lo ^ 0xd7870f42) >>> 0; hi = (hi ^ 0xc96c5795) >>> 0; }
  }
  CRC64_LO[n] = lo; CRC64_HI[n] = hi;
}
for (let n = 256; n < 8 * 256; n++) { const c = CRC32[n - 256]; CRC32[n] = (c >>> 8) ^ CRC32[c & 0xff]; }
export function crc32(b: Uint8Array, from = 0, to = b.length): number {
  const T = CRC32;
  let c = -1, i = from;
  for (const e8 = to - 8; i <= e8; i += 8) {
    const a = c ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
    c = T[0x700 + (a & 0xff)] ^ T[0x600 + ((a >>> 8) & 0xff)] ^ T[0x500 + ((a >>> 16) & 0xff)] ^ T[0x400 + (a >>> 24)] ^
      T[0x300 + b[i + 4]] ^ T[0x200 + b[i + 5]] ^ T[0x100 + b[i + 6]] ^ T[b[i + 7]];
  }
  for (; i < to; i++) c = T[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
export function crc64(b: Uint8Array, from: number, to: number): [number, number] {
  let lo = 0xffffffff, hi = 0xffffffff;
  for (let i = from; i < to; i++) {
    const t = (lo ^ b[i]) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ CRC64_LO[t]) >>> 0;
    hi = ((hi >>> 8) ^ CRC64_HI[t]) >>> 0;
  }
  return [(lo ^ 0xffffffff) >>> 0, (hi ^ 0xffffffff) >>> 0];
}

export const bad = (why: string) => new XzError(`xz: ${why}`);
const truncated = () => bad("truncated LZMA data");
export const le32 = (b: Uint8Array, i: number) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;

// LZMA's probability model (offsets into one Uint16Array).
const N_STATES = 12, POS_STATES_MAX = 16;
const IS_MATCH = 0, IS_REP = IS_MATCH + N_STATES * POS_STATES_MAX, IS_REP_G0 = IS_REP + N_STATES,
  IS_REP_G1 = IS_REP_G0 + N_STATES,
  IS_REP_G2 = IS_REP_G1 + N_STATES, IS_REP0_LONG = IS_REP_G2 + N_STATES,
  POS_SLOT = IS_REP0_LONG + N_STATES * POS_STATES_MAX,
  SPEC_POS = POS_SLOT + 4 * 64, ALIGN = SPEC_POS + 115, LEN = ALIGN + 16, REP_LEN = LEN + 514, LITERAL = REP_LEN + 514;
// A length coder: choice, choice2, low[16][8], mid[16][8], high[256].
const L_CHOICE = 0, L_CHOICE2 = 1, L_LOW = 2, L_MID = L_LOW + 128, L_HIGH = L_MID + 128;
const LITERAL_MAX = 0x300 << 4; // lc + lp <= 4 in LZMA2

/** One xz stream's decoder; `run()` is a generator that yields between LZMA2 chunks (the caller may
 * return to its event loop there) and returns the output. The container (stream header, blocks, index,
 * footer) and LZMA2's chunk headers are read here; the output and what works on it (LZMA chunks, BCJ,
 * the checks) are the protected methods a subclass may replace (./xzwasm.ts: in WebAssembly). */
export class XzDecoder {
  private out = new Uint8Array(0);
  protected pos = 0;
  protected readonly inp: Uint8Array;
  protected ip = 0;
  // LZMA state
  private probs = new Uint16Array(0);
  protected lc = 0; protected lp = 0; protected pb = 0;
  private state = 0; private rep0 = 0; private rep1 = 0; private rep2 = 0; private rep3 = 0;
  protected dictStart = 0;

  /** `sizeHint`: the output's size if known beforehand (a bzImage's payload ends with it): the output
   * buffer is allocated at that size when it is within `limit`, so it need not grow (and be copied) on
   * the way; it is only a hint (the data decides; the buffer grows geometrically past a short one). */
  constructor(input: Uint8Array, protected readonly limit: number, protected readonly sizeHint?: number) {
    this.inp = input;
  }

  /** The output's first size: the hint when it is usable, else a guess from the input's size. */
  protected initialSize(): number {
    const h = this.sizeHint;
    return h !== undefined && Number.isSafeInteger(h) && h > 0
      && h <= this.limit ? h : Math.min(this.limit, Math.max(1 << 20, this.inp.length * 4));
  }

  /** Sets the output up (run()'s first step). */
  protected begin(): void {
    this.probs = new Uint16Array(LITERAL + LITERAL_MAX);
    const n = this.initialSize();
    try { this.out = new Uint8Array(n); } catch (e) {
      // (no room for it: grown as the data comes)
      if (n === this.sizeHint) this.out = new Uint8Array(Math.min(this.limit, Math.max(1 << 20, this.inp.length * 4)));
      else throw e;
    }
  }

  private byte(): number {
    if (this.ip >= this.inp.length) throw bad("truncated data");
    return this.inp[this.ip++];
  }

  private vli(): number {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const b = this.byte();
      v += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) {
        if (i > 0 && b === 0) throw bad("bad integer"); if (v > Number.MAX_SAFE_INTEGER) throw bad("integer too large");
        return v;
      }
    }
    throw bad("bad integer");
  }

  protected room(n: number): void {
    const need = this.pos + n;
    if (need > this.limit) throw new XzLimit();
    if (need <= this.out.length) return;
    const o = new Uint8Array(Math.min(this.limit, Math.max(need, this.out.length * 2)));
    o.set(this.out.subarray(0, this.pos));
    this.out = o;
  }

  *run(): Generator<void, Uint8Array> {
    const b = this.inp;
    if (
      b.length < 12 || b[0] !== 0xfd || b[1] !== 0x37 || b[2] !== 0x7a || b[3] !== 0x58 || b[4] !== 0x5a || b[5] !== 0
    ) throw bad("not an xz stream");
    if (b[6] !== 0 || (b[7] & 0xf0) !== 0 || crc32(b, 6, 8) !== le32(b, 8)) throw bad("bad stream header");
    this.begin();
    const check = b[7] & 0x0f;
    const checkSize = check === 0 ? 0 : check <= 3 ? 4 : check <= 6 ? 8 : check <= 9 ? 16 : check <= 12 ? 32 : 64;
    this.ip = 12;
    const blocks: [number, number][] = []; // [unpadded size, uncompressed size] of each block, for the index
    for (;;) {
      const h0 = this.ip, o0 = this.pos;
      const hs = this.byte();
      if (hs === 0) break; // the index: every block is done
      const dataEnd = yield* this.block(hs, check, checkSize);
      blocks.push([dataEnd - h0 + checkSize, this.pos - o0]);
    }
    // The index (it must list those blocks) and the stream footer (its flags those of the header).
    const i0 = this.ip - 1;
    if (this.vli() !== blocks.length) throw bad("the index does not match the blocks");
    for (const [u, n] of blocks)
      if (this.vli() !== u || this.vli() !== n) throw bad("the index does not match the blocks");
    while ((this.ip - i0) & 3) if (this.byte() !== 0) throw bad("bad index padding");
    if (this.ip + 16 > b.length || crc32(b, i0, this.ip) !== le32(b, this.ip)) throw bad("bad index checksum");
    this.ip += 4;
    const f = this.ip;
    if (
      crc32(b, f + 4, f + 10) !== le32(b, f) || le32(b, f + 4) !== (f - i0) / 4 - 1 || b[f + 8] !== b[6]
        || b[f + 9] !== b[7] || b[f + 10] !== 0x59 || b[f + 11] !== 0x5a
    ) throw bad("bad stream footer");
    this.ip += 12;
    return this.result();
  }

  /** The output, once the stream is decoded. */
  protected result(): Uint8Array { return this.out.subarray(0, this.pos); }
  /** The x86 BCJ filter over the output's [from, to). */
  protected bcj(from: number, to: number, startOffset: number): void { bcjX86(this.out, from, to, startOffset); }
  /** CRC32 of the output's [from, to). */
  protected crc32Out(from: number, to: number): number { return crc32(this.out, from, to); }
  /** CRC64 (low and high halves) of the output's [from, to). */
  protected crc64Out(from: number, to: number): [number, number] { return crc64(this.out, from, to); }
  /** An uncompressed chunk: input [ip, ip + n) appended to the output (room made). */
  protected copyIn(n: number): void { this.out.set(this.inp.subarray(this.ip, this.ip + n), this.pos); }

  /** One block (its header size byte read); returns where its data (with padding) ends. */
  private *block(hs: number, check: number, checkSize: number): Generator<void, number> {
    const h0 = this.ip - 1, hEnd = h0 + (hs + 1) * 4;
    if (hEnd > this.inp.length) throw bad("truncated block header");
    if (crc32(this.inp, h0, hEnd - 4) !== le32(this.inp, hEnd - 4)) throw bad("bad block header checksum");
    const flags = this.byte();
    if (flags & 0x3c) throw bad("unsupported block flags");
    if (flags & 0x40) this.vli();
    const declared = flags & 0x80 ? this.vli() : -1;
    let bcj = false, bcjStart = 0, dictSet = false;
    const nf = (flags & 3) + 1;
    for (let f = 0; f < nf; f++) {
      const id = this.vli(), psize = this.vli();
      if (id === 0x04 && f < nf - 1) { // x86 BCJ
        if (psize === 4) { bcjStart = le32(this.inp, this.ip); this.ip += 4; } else if (psize !== 0)
          throw bad("bad BCJ properties");
        bcj = true;
      } else if (id === 0x21 && f === nf - 1) { // LZMA2
        if (psize !== 1 || this.byte() > 40) throw bad("bad LZMA2 properties");
        dictSet = true;
      } else throw bad(`unsupported filter 0x${id.toString(16)} (x86 BCJ and LZMA2 are supported)`);
    }
    if (!dictSet) throw bad("a block without LZMA2");
    if (this.ip > hEnd - 4) throw bad("bad block header");
    this.ip = hEnd;
    const start = this.pos;
    yield* this.lzma2();
    if (declared >= 0 && declared !== this.pos - start) throw bad("block size differs from its header");
    const dataEnd = this.ip;
    while ((this.ip - h0) & 3) if (this.byte() !== 0) throw bad("bad block padding");
    if (bcj) this.bcj(start, this.pos, bcjStart);
    if (this.ip + checkSize > this.inp.length) throw bad("truncated check");
    if (check === 1 && this.crc32Out(start, this.pos) !== le32(this.inp, this.ip)) throw bad("CRC32 mismatch");
    if (check === 4) {
      const [lo, hi] = this.crc64Out(start, this.pos);
      if (lo !== le32(this.inp, this.ip) || hi !== le32(this.inp, this.ip + 4)) throw bad("CRC64 mismatch");
    }
    this.ip += checkSize; // (SHA-256 and reserved check types are not verified)
    return dataEnd;
  }

  private *lzma2(): Generator<void, void> {
    let needDict = true, needProps = true;
    for (;;) {
      const c = this.byte();
      if (c === 0) return;
      if (c === 1 || c === 2) { // uncompressed chunk (1: dictionary reset)
        if (c === 1) { this.dictStart = this.pos; needDict = false; } else if (needDict)
          throw bad("LZMA2 without a dictionary reset");
        const n = ((this.byte() << 8) | this.byte()) + 1;
        if (this.ip + n > this.inp.length) throw bad("truncated data");
        this.room(n);
        this.copyIn(n);
        this.pos += n; this.ip += n;
        continue;
      }
      if (c < 0x80) throw bad("bad LZMA2 chunk");
      const unpacked = ((c & 0x1f) << 16) + ((this.byte() << 8) | this.byte()) + 1;
      const packed = ((this.byte() << 8) | this.byte()) + 1;
      const reset = (c >> 5) & 3;
      if (reset === 3) { this.dictStart = this.pos; needDict = false; } else if (needDict)
        throw bad("LZMA2 without a dictionary reset");
      if (reset >= 2) {
        let p = this.byte();
        if (p >= 9 * 5 * 5) throw bad("bad LZMA properties");
        this.lc = p % 9; p = (p / 9) | 0; this.lp = p % 5; this.pb = (p / 5) | 0;
        if (this.lc + this.lp > 4) throw bad("bad LZMA properties");
        needProps = false;
      } else if (needProps) throw bad("LZMA2 without properties");
      if (reset >= 1) this.resetState();
      const end = this.ip + packed;
      if (end > this.inp.length) throw bad("truncated data");
      this.room(unpacked);
      this.lzmaChunk(this.pos + unpacked, end);
      this.ip = end;
      yield;
    }
  }

  protected resetState(): void {
    this.probs.fill(1024);
    this.state = 0; this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Decode LZMA until the output reaches `outEnd`, reading the input up to `inEnd`.
   *
   * Speed: this is the kernel's start-up path (66 MB of output for Debian's kernel), so the range
   * decoder is written out inline at each use, with its state (`range`, `code`, `ip`) and the LZMA
   * state in locals, written back once at the end: no closures over mutable state (V8 keeps those in a
   * heap context, and a uint32 over 2^31 stored there is a heap number). `range` and `code` are kept as
   * int32 bit patterns (every update `| 0`, `<<`, Math.imul), compared as unsigned with `>>> 0` on both
   * sides (one unsigned compare in V8's code). Each normalisation checks the chunk's input end; the
   * decoder keeps code < range, which a valid stream starts with. One step, at probability index I:
   *   p = probs[I]; bound = Math.imul(range >>> 11, p);
   *   if ((code >>> 0) < (bound >>> 0)) { range = bound; probs[I] = p + ((2048 - p) >> 5); bit 0 }
   *   else { range -= bound; code -= bound; probs[I] = p - (p >> 5); bit 1 }
   *   if ((range >>> 0) < 0x1000000) { range <<= 8; code = (code << 8) | next byte }
   */
  protected lzmaChunk(outEnd: number, inEnd: number): void {
    const inp = this.inp, out = this.out, probs = this.probs;
    let ip = this.ip;
    if (inEnd - ip < 5 || inp[ip] !== 0) throw bad("bad range coder start");
    let range = -1, code = (inp[ip + 1] << 24) | (inp[ip + 2] << 16) | (inp[ip + 3] << 8) | inp[ip + 4];
    if (code === -1) throw bad("bad range coder start"); // (code must be below range, 0xffffffff)
    ip += 5;
    let pos = this.pos, state = this.state, rep0 = this.rep0, rep1 = this.rep1, rep2 = this.rep2, rep3 = this.rep3;
    const lc = this.lc, lcShift = 8 - lc, lpMask = (1 << this.lp) - 1, pbMask = (1 << this.pb) - 1;
    const dictStart = this.dictStart;
    let p = 0, bound = 0, i = 0;
    while (pos < outEnd) {
      const posState = pos & pbMask;
      // is_match
      i = IS_MATCH + (state << 4) + posState; p = probs[i]; bound = Math.imul(range >>> 11, p);
      if ((code >>> 0) < (bound >>> 0)) {
        range = bound; probs[i] = p + ((2048 - p) >> 5);
        if ((range >>> 0) < 0x1000000) {
          if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
        }
        // A literal.
        const prev = pos > dictStart ? out[pos - 1] : 0;
        const base = LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >> lcShift));
        let sym = 1;
        if (state >= 7) { // after a match: the byte at rep0 guides the first bits (xz-embedded's lzma_literal)
          if (rep0 >= pos - dictStart) throw bad("LZMA distance beyond the data");
          let match = out[pos - rep0 - 1], offs = 0x100;
          do {
            match <<= 1;
            const mbit = match & offs;
            i = base + offs + mbit + sym; p = probs[i]; bound = Math.imul(range >>> 11, p);
            if ((code >>> 0) < (bound >>> 0)) {
              range = bound; probs[i] = p + ((2048 - p) >> 5); sym <<= 1; offs &= ~mbit;
            }
            else {
              range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
              sym = (sym << 1) | 1; offs &= mbit;
            }
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
          } while (sym < 0x100);
          state = state < 10 ? state - 3 : state - 6;
        } else {
          do {
            i = base + sym; p = probs[i]; bound = Math.imul(range >>> 11, p);
            if ((code >>> 0) < (bound >>> 0)) { range = bound; probs[i] = p + ((2048 - p) >> 5); sym <<= 1; }
            else {
              range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5); sym = (sym << 1) | 1;
            }
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
          } while (sym < 0x100);
          state = state < 4 ? 0 : state - 3;
        }
        out[pos++] = sym;
        continue;
      }
      range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
      if ((range >>> 0) < 0x1000000) {
        if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
      }
      // is_rep
      let lb: number, isMatch: boolean;
      i = IS_REP + state; p = probs[i]; bound = Math.imul(range >>> 11, p);
      if ((code >>> 0) < (bound >>> 0)) { // a match: a new distance follows its length
        range = bound; probs[i] = p + ((2048 - p) >> 5);
        if ((range >>> 0) < 0x1000000) {
          if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
        }
        rep3 = rep2; rep2 = rep1; rep1 = rep0;
        lb = LEN; isMatch = true;
        state = state < 7 ? 7 : 10;
      } else { // a repeated distance
        range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
        if ((range >>> 0) < 0x1000000) {
          if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
        }
        if (pos === dictStart) throw bad("LZMA repeat with no data");
        i = IS_REP_G0 + state; p = probs[i]; bound = Math.imul(range >>> 11, p);
        if ((code >>> 0) < (bound >>> 0)) { // rep0
          range = bound; probs[i] = p + ((2048 - p) >> 5);
          if ((range >>> 0) < 0x1000000) {
            if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
          }
          i = IS_REP0_LONG + (state << 4) + posState; p = probs[i]; bound = Math.imul(range >>> 11, p);
          if ((code >>> 0) < (bound >>> 0)) { // a short rep: one byte at rep0
            range = bound; probs[i] = p + ((2048 - p) >> 5);
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
            if (rep0 >= pos - dictStart) throw bad("LZMA distance beyond the data");
            state = state < 7 ? 9 : 11;
            out[pos] = out[pos - rep0 - 1]; pos++;
            continue;
          }
          range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
          if ((range >>> 0) < 0x1000000) {
            if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
          }
        } else {
          range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
          if ((range >>> 0) < 0x1000000) {
            if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
          }
          let d: number;
          i = IS_REP_G1 + state; p = probs[i]; bound = Math.imul(range >>> 11, p);
          if ((code >>> 0) < (bound >>> 0)) {
            range = bound; probs[i] = p + ((2048 - p) >> 5);
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
            d = rep1;
          } else {
            range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
            i = IS_REP_G2 + state; p = probs[i]; bound = Math.imul(range >>> 11, p);
            if ((code >>> 0) < (bound >>> 0)) {
              range = bound; probs[i] = p + ((2048 - p) >> 5);
              d = rep2;
            } else {
              range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
              d = rep3; rep3 = rep2;
            }
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
            rep2 = rep1;
          }
          rep1 = rep0; rep0 = d;
        }
        lb = REP_LEN; isMatch = false;
        state = state < 7 ? 8 : 11;
      }
      // The length (lb: LEN or REP_LEN): choice, choice2, then a 3- or 8-bit tree.
      let t: number, top: number, len: number;
      i = lb + L_CHOICE; p = probs[i]; bound = Math.imul(range >>> 11, p);
      if ((code >>> 0) < (bound >>> 0)) {
        range = bound; probs[i] = p + ((2048 - p) >> 5);
        t = lb + L_LOW + (posState << 3); top = 8; len = 2 - 8;
      } else {
        range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
        if ((range >>> 0) < 0x1000000) {
          if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
        }
        i = lb + L_CHOICE2; p = probs[i]; bound = Math.imul(range >>> 11, p);
        if ((code >>> 0) < (bound >>> 0)) {
          range = bound; probs[i] = p + ((2048 - p) >> 5);
          t = lb + L_MID + (posState << 3); top = 8; len = 2 + 8 - 8;
        } else {
          range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
          t = lb + L_HIGH; top = 256; len = 2 + 16 - 256;
        }
      }
      if ((range >>> 0) < 0x1000000) {
        if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
      }
      let m = 1;
      do {
        i = t + m; p = probs[i]; bound = Math.imul(range >>> 11, p);
        if ((code >>> 0) < (bound >>> 0)) { range = bound; probs[i] = p + ((2048 - p) >> 5); m <<= 1; }
        else { range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5); m = (m << 1) | 1; }
        if ((range >>> 0) < 0x1000000) {
          if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
        }
      } while (m < top);
      len += m; // 2..273
      if (isMatch) {
        // The distance: a 6-bit slot (by length), then reverse-coded bits or direct bits and 4 align bits.
        t = POS_SLOT + ((len < 6 ? len - 2 : 3) << 6); m = 1;
        do {
          i = t + m; p = probs[i]; bound = Math.imul(range >>> 11, p);
          if ((code >>> 0) < (bound >>> 0)) { range = bound; probs[i] = p + ((2048 - p) >> 5); m <<= 1; }
          else { range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5); m = (m << 1) | 1; }
          if ((range >>> 0) < 0x1000000) {
            if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
          }
        } while (m < 64);
        const slot = m - 64;
        if (slot < 4) rep0 = slot;
        else {
          const nd = (slot >> 1) - 1;
          let d = (2 | (slot & 1)) << nd; // (< 2^31 for slot < 62; slots 62/63 are made unsigned below)
          let rev: number, nrev: number;
          if (slot < 14) { t = SPEC_POS + d - slot; nrev = nd; }
          else {
            let r = 0;
            for (let k = nd - 4; k > 0; k--) { // direct bits (branchless, as xz-embedded: code < range holds)
              range = range >>> 1;
              code = (code - range) | 0;
              const t = code >> 31; // -1: it was below range (a 0)
              code = (code + (range & t)) | 0;
              r = (r << 1) + t + 1;
              if ((range >>> 0) < 0x1000000) {
                if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
              }
            }
            d = (d + (r << 4)) >>> 0;
            t = ALIGN; nrev = 4;
          }
          m = 1; rev = 0;
          for (let k = 0; k < nrev; k++) { // reverse-coded bits
            i = t + m; p = probs[i]; bound = Math.imul(range >>> 11, p);
            if ((code >>> 0) < (bound >>> 0)) { range = bound; probs[i] = p + ((2048 - p) >> 5); m <<= 1; }
            else {
              range = (range - bound) | 0; code = (code - bound) | 0; probs[i] = p - (p >> 5);
              m = (m << 1) | 1; rev |= 1 << k;
            }
            if ((range >>> 0) < 0x1000000) {
              if (ip >= inEnd) throw truncated(); range <<= 8; code = (code << 8) | inp[ip++];
            }
          }
          rep0 = (d + rev) >>> 0;
          if (rep0 === 0xffffffff) throw bad("LZMA end marker inside LZMA2");
        }
      }
      if (rep0 >= pos - dictStart) throw bad("LZMA distance beyond the data");
      if (pos + len > outEnd) throw bad("LZMA match past its chunk");
      let from = pos - rep0 - 1;
      if (len <= 64) { const e = pos + len; while (pos < e) out[pos++] = out[from++]; }
      else if (rep0 === 0) { out.fill(out[from], pos, pos + len); pos += len; }
      else { // copyWithin of what is already there, the piece doubling when the match overlaps itself
        for (let n = rep0 + 1; len > 0; n += n) {
          if (n > len) n = len;
          out.copyWithin(pos, from, from + n); pos += n; len -= n;
        }
      }
    }
    if (code !== 0) throw bad("LZMA chunk does not end cleanly");
    this.pos = pos; this.state = state; this.rep0 = rep0; this.rep1 = rep1; this.rep2 = rep2; this.rep3 = rep3;
    this.ip = ip;
  }
}

/** The x86 BCJ filter's decoder over buf[from, to) (xz-embedded's bcj_x86, over the whole block at once).
 * E8/E9 (CALL/JMP rel32) are found with indexOf (the runtime's memchr: about 1 byte in 140 of a kernel
 * is one), so the scan is fast even before V8 has optimised this function (it runs once, on 66 MB). */
const BCJ_ALLOWED = 0x17; // masks 0, 1, 2 and 4 (xz-embedded's mask_to_allowed_status)
const BCJ_BIT_NUM = [0, 1, 2, 2, 3, 3, 3, 3];
function bcjX86(buf: Uint8Array, from: number, to: number, startOffset: number): void {
  if (to - from <= 4) return;
  const scan = buf.subarray(from, to - 4); // (an instruction's 4 bytes must lie inside the block)
  let prevPos = -1, prevMask = 0, next8 = scan.indexOf(0xe8), next9 = scan.indexOf(0xe9);
  for (;;) {
    let i: number; // (offsets from `from`)
    if (next8 < 0) { if (next9 < 0) return; i = next9; } else i = next9 < 0 || next8 < next9 ? next8 : next9;
    const at = from + i;
    let resume = i + 1;
    converted: {
      const d = i - prevPos;
      if (d > 3) prevMask = 0;
      else {
        prevMask = (prevMask << (d - 1)) & 7;
        if (prevMask !== 0) {
          const b = buf[at + 4 - BCJ_BIT_NUM[prevMask]];
          if (!((BCJ_ALLOWED >> prevMask) & 1) || b === 0 || b === 0xff) {
            prevPos = i; prevMask = (prevMask << 1) | 1; break converted;
          }
        }
      }
      prevPos = i;
      const b4 = buf[at + 4];
      if (b4 === 0 || b4 === 0xff) {
        let src = buf[at + 1] | (buf[at + 2] << 8) | (buf[at + 3] << 16) | (b4 << 24), dest: number;
        const here = startOffset + i + 5;
        for (;;) {
          dest = (src - here) | 0;
          if (prevMask === 0) break;
          const j = BCJ_BIT_NUM[prevMask] * 8;
          const x = (dest >>> (24 - j)) & 0xff;
          if (x !== 0 && x !== 0xff) break;
          src = dest ^ ((1 << (32 - j)) - 1);
        }
        dest &= 0x01ffffff;
        if (dest & 0x01000000) dest |= 0xfe000000;
        buf[at + 1] = dest; buf[at + 2] = dest >> 8; buf[at + 3] = dest >> 16; buf[at + 4] = dest >> 24;
        resume = i + 5;
      } else prevMask = (prevMask << 1) | 1;
    }
    if (next8 >= 0 && next8 < resume) next8 = scan.indexOf(0xe8, resume);
    if (next9 >= 0 && next9 < resume) next9 = scan.indexOf(0xe9, resume);
  }
}
