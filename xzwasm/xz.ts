// The xz decoder's inner loops in WebAssembly (AssemblyScript; `npm run asbuild` compiles this file to
// build/xz.wasm and embeds its bytes in host/pv/xzwasm-bytes.ts): LZMA chunks, the x86 BCJ filter and
// CRC32. A port of host/pv/xz.ts's (the JS decoder: same algorithm, same checks in the same order, so
// the same errors); host/pv/xzwasm.ts drives it (the container, LZMA2's chunk headers, the other checks)
// on a fresh instance per decode, whose memory is dropped after use.
//
// Linear memory (this module's own, never a guest's):
//   0x00000 .. 0x0FFFF  AssemblyScript's (no static data, no heap: the stub runtime is not used)
//   PROBS               LZMA's probabilities, u16 each (the layout of xz.ts's Uint16Array)
//   CRC_T               CRC32 slicing-by-8 tables, 8 x 256 x u32 (made by init())
//   IN_BASE             the input (the whole .xz), then the output at an address the host picks (16-byte
//                       aligned, 16 bytes of slack after its end: the match copy writes 8 bytes at a time)
// Every address is a u32; every load/store is inside [IN_BASE, the output's end + 16): each input read
// is checked against the chunk's end, each output write against the chunk's end, each distance against
// the data decoded since the dictionary reset, as xz.ts checks them.

const PROBS: u32 = 0x10000;
const CRC_T: u32 = 0x18000;
const IN_BASE: u32 = 0x20000;

// LZMA's probability model: indexes (u16 entries) as xz.ts has them.
const N_STATES: u32 = 12, POS_STATES_MAX: u32 = 16;
const IS_MATCH: u32 = 0;
const IS_REP: u32 = IS_MATCH + N_STATES * POS_STATES_MAX;
const IS_REP_G0: u32 = IS_REP + N_STATES;
const IS_REP_G1: u32 = IS_REP_G0 + N_STATES;
const IS_REP_G2: u32 = IS_REP_G1 + N_STATES;
const IS_REP0_LONG: u32 = IS_REP_G2 + N_STATES;
const POS_SLOT: u32 = IS_REP0_LONG + N_STATES * POS_STATES_MAX;
const SPEC_POS: u32 = POS_SLOT + 4 * 64;
const ALIGN: u32 = SPEC_POS + 115;
const LEN: u32 = ALIGN + 16;
const REP_LEN: u32 = LEN + 514;
const LITERAL: u32 = REP_LEN + 514;
const L_CHOICE: u32 = 0, L_CHOICE2: u32 = 1, L_LOW: u32 = 2, L_MID: u32 = L_LOW + 128, L_HIGH: u32 = L_MID + 128;
const N_PROBS: u32 = LITERAL + (0x300 << 4);

// Error codes (host/pv/xzwasm.ts gives each xz.ts's message).
const E_TRUNCATED = 1, E_DISTANCE = 2, E_REP_EMPTY = 3, E_END_MARKER = 4, E_PAST_CHUNK = 5, E_UNCLEAN = 6, E_START = 7;

// The LZMA state carried from chunk to chunk, and where the last chunk ended.
let state: u32 = 0, rep0: u32 = 0, rep1: u32 = 0, rep2: u32 = 0, rep3: u32 = 0;
let outPos_: u32 = 0, inPos_: u32 = 0;

export function inBase(): u32 { return IN_BASE; }
export function outPos(): u32 { return outPos_; }
export function inPos(): u32 { return inPos_; }

/** The CRC32 tables; call once per instance. */
export function init(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_T + (n << 2), c);
  }
  for (let n: u32 = 256; n < 8 * 256; n++) {
    const c = load<u32>(CRC_T + ((n - 256) << 2));
    store<u32>(CRC_T + (n << 2), (c >>> 8) ^ load<u32>(CRC_T + ((c & 0xff) << 2)));
  }
}

/** LZMA's state reset (LZMA2 control bytes 0xa0 and up): every probability 1024, state and reps 0. */
export function resetState(): void {
  for (let i: u32 = 0; i < N_PROBS; i += 2) store<u32>(PROBS + (i << 1), 0x04000400);
  state = 0; rep0 = 0; rep1 = 0; rep2 = 0; rep3 = 0;
}

// One probability-coded bit, written out at each use (the range decoder's state is in locals):
//   p = load<u16>(P); bound = (range >>> 11) * p;
//   if (code < bound) { range = bound; store<u16>(P, p + ((2048 - p) >> 5)); bit 0 }
//   else { range -= bound; code -= bound; store<u16>(P, p - (p >> 5)); bit 1 }
//   if (range < 0x1000000) { if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | load<u8>(ip++) }

/** Decode one LZMA chunk: output from `op` up to `outEnd`, input from `ip` up to `inEnd` (absolute
 * addresses), `dictStart` where the data since the dictionary reset begins; lc/lp/pb as checked by the
 * host (lc + lp <= 4). Returns 0 (outPos()/inPos() say where it ended) or an error code. */
export function lzmaChunk(op: u32, outEnd: u32, ip: u32, inEnd: u32, dictStart: u32, lc: u32, lp: u32, pb: u32): i32 {
  if (inEnd - ip < 5 || load<u8>(ip) != 0) return E_START;
  let range: u32 = 0xffffffff;
  let code: u32 = (<u32>load<u8>(ip + 1) << 24) | (<u32>load<u8>(ip + 2) << 16) | (<u32>load<u8>(ip + 3) << 8)
    | <u32>load<u8>(ip + 4);
  if (code == 0xffffffff) return E_START;
  ip += 5;
  let st = state, r0 = rep0, r1 = rep1, r2 = rep2, r3 = rep3;
  const lcShift: u32 = 8 - lc, lpMask: u32 = (1 << lp) - 1, pbMask: u32 = (1 << pb) - 1;
  let p: u32 = 0, bound: u32 = 0, a: u32 = 0; // (a: a probability's address)
  while (op < outEnd) {
    const posState = op & pbMask; // (the output's base is 16-byte aligned: op's low bits are pos's)
    a = PROBS + ((IS_MATCH + (st << 4) + posState) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
    if (code < bound) {
      range = bound; store<u16>(a, p + ((2048 - p) >> 5));
      if (range < 0x1000000) {
        if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
      }
      // A literal.
      const prev: u32 = op > dictStart ? <u32>load<u8>(op - 1) : 0;
      const base = PROBS + ((LITERAL + 0x300 * (((op & lpMask) << lc) + (prev >> lcShift))) << 1);
      let sym: u32 = 1;
      if (st >= 7) { // after a match: the byte at rep0 guides the first bits
        if (r0 >= op - dictStart) return E_DISTANCE;
        let match: u32 = <u32>load<u8>(op - r0 - 1), offs: u32 = 0x100;
        do {
          match <<= 1;
          const mbit = match & offs;
          a = base + ((offs + mbit + sym) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
          if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); sym <<= 1; offs &= ~mbit; }
          else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); sym = (sym << 1) | 1; offs &= mbit; }
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
        } while (sym < 0x100);
        st = st < 10 ? st - 3 : st - 6;
      } else {
        do {
          a = base + (sym << 1); p = load<u16>(a); bound = (range >>> 11) * p;
          if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); sym <<= 1; }
          else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); sym = (sym << 1) | 1; }
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
        } while (sym < 0x100);
        st = st < 4 ? 0 : st - 3;
      }
      store<u8>(op++, sym);
      continue;
    }
    range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
    if (range < 0x1000000) {
      if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
    }
    // is_rep
    let lb: u32, isMatch: bool;
    a = PROBS + ((IS_REP + st) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
    if (code < bound) { // a match: a new distance follows its length
      range = bound; store<u16>(a, p + ((2048 - p) >> 5));
      if (range < 0x1000000) {
        if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
      }
      r3 = r2; r2 = r1; r1 = r0;
      lb = LEN; isMatch = true;
      st = st < 7 ? 7 : 10;
    } else { // a repeated distance
      range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
      if (range < 0x1000000) {
        if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
      }
      if (op == dictStart) return E_REP_EMPTY;
      a = PROBS + ((IS_REP_G0 + st) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
      if (code < bound) { // rep0
        range = bound; store<u16>(a, p + ((2048 - p) >> 5));
        if (range < 0x1000000) {
          if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
        }
        a = PROBS + ((IS_REP0_LONG + (st << 4) + posState) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
        if (code < bound) { // a short rep: one byte at rep0
          range = bound; store<u16>(a, p + ((2048 - p) >> 5));
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
          if (r0 >= op - dictStart) return E_DISTANCE;
          st = st < 7 ? 9 : 11;
          store<u8>(op, load<u8>(op - r0 - 1)); op++;
          continue;
        }
        range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
        if (range < 0x1000000) {
          if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
        }
      } else {
        range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
        if (range < 0x1000000) {
          if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
        }
        let d: u32;
        a = PROBS + ((IS_REP_G1 + st) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
        if (code < bound) {
          range = bound; store<u16>(a, p + ((2048 - p) >> 5));
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
          d = r1;
        } else {
          range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
          a = PROBS + ((IS_REP_G2 + st) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
          if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); d = r2; }
          else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); d = r3; r3 = r2; }
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
          r2 = r1;
        }
        r1 = r0; r0 = d;
      }
      lb = REP_LEN; isMatch = false;
      st = st < 7 ? 8 : 11;
    }
    // The length (lb: LEN or REP_LEN): choice, choice2, then a 3- or 8-bit tree.
    let t: u32, top: u32, len: u32;
    a = PROBS + ((lb + L_CHOICE) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
    if (code < bound) {
      range = bound; store<u16>(a, p + ((2048 - p) >> 5));
      t = lb + L_LOW + (posState << 3); top = 8; len = 2 - 8;
    } else {
      range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
      if (range < 0x1000000) {
        if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
      }
      a = PROBS + ((lb + L_CHOICE2) << 1); p = load<u16>(a); bound = (range >>> 11) * p;
      if (code < bound) {
        range = bound; store<u16>(a, p + ((2048 - p) >> 5));
        t = lb + L_MID + (posState << 3); top = 8; len = 2 + 8 - 8;
      } else {
        range -= bound; code -= bound; store<u16>(a, p - (p >> 5));
        t = lb + L_HIGH; top = 256; len = 2 + 16 - 256;
      }
    }
    if (range < 0x1000000) {
      if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
    }
    let tb = PROBS + (t << 1), m: u32 = 1;
    do {
      a = tb + (m << 1); p = load<u16>(a); bound = (range >>> 11) * p;
      if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); m <<= 1; }
      else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); m = (m << 1) | 1; }
      if (range < 0x1000000) {
        if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
      }
    } while (m < top);
    len += m; // 2..273 (u32 arithmetic wraps back from the negative bias)
    if (isMatch) {
      // The distance: a 6-bit slot (by length), then reverse-coded bits or direct bits and 4 align bits.
      tb = PROBS + ((POS_SLOT + ((len < 6 ? len - 2 : 3) << 6)) << 1); m = 1;
      do {
        a = tb + (m << 1); p = load<u16>(a); bound = (range >>> 11) * p;
        if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); m <<= 1; }
        else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); m = (m << 1) | 1; }
        if (range < 0x1000000) {
          if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
        }
      } while (m < 64);
      const slot = m - 64;
      if (slot < 4) r0 = slot;
      else {
        const nd = (slot >> 1) - 1;
        let d: u32 = (2 | (slot & 1)) << nd;
        let nrev: u32;
        if (slot < 14) { tb = PROBS + ((SPEC_POS + d - slot) << 1); nrev = nd; }
        else {
          let r: u32 = 0;
          for (let k = nd - 4; k > 0; k--) { // direct bits (branchless: code < range holds)
            range >>>= 1;
            code -= range;
            const s: u32 = <u32>(<i32>code >> 31); // all ones: it was below range (a 0)
            code += range & s;
            r = (r << 1) + s + 1;
            if (range < 0x1000000) {
              if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
            }
          }
          d += r << 4;
          tb = PROBS + (ALIGN << 1); nrev = 4;
        }
        m = 1; let rev: u32 = 0;
        for (let k: u32 = 0; k < nrev; k++) { // reverse-coded bits
          a = tb + (m << 1); p = load<u16>(a); bound = (range >>> 11) * p;
          if (code < bound) { range = bound; store<u16>(a, p + ((2048 - p) >> 5)); m <<= 1; }
          else { range -= bound; code -= bound; store<u16>(a, p - (p >> 5)); m = (m << 1) | 1; rev |= 1 << k; }
          if (range < 0x1000000) {
            if (ip >= inEnd) return E_TRUNCATED; range <<= 8; code = (code << 8) | <u32>load<u8>(ip++);
          }
        }
        r0 = d + rev;
        if (r0 == 0xffffffff) return E_END_MARKER;
      }
    }
    if (r0 >= op - dictStart) return E_DISTANCE;
    if (len > outEnd - op) return E_PAST_CHUNK;
    let from = op - r0 - 1;
    const end = op + len;
    if (r0 >= 7) { // 8 bytes at a time: each load lies before its store (up to 7 bytes past `end` are written)
      do { store<u64>(op, load<u64>(from)); op += 8; from += 8; } while (op < end);
      op = end;
    } else if (r0 == 0) { memory.fill(op, load<u8>(from), len); op = end; }
    else { do { store<u8>(op, load<u8>(from)); op++; from++; } while (op < end); }
  }
  if (code != 0) return E_UNCLEAN;
  state = st; rep0 = r0; rep1 = r1; rep2 = r2; rep3 = r3;
  outPos_ = op; inPos_ = ip;
  return 0;
}

/** CRC32 of [from, to). */
export function crc32(from: u32, to: u32): u32 {
  let c: u32 = 0xffffffff, i = from;
  if (to - from >= 8) {
    for (const e8 = to - 8; i <= e8; i += 8) {
      const a = c ^ load<u32>(i), b = load<u32>(i + 4);
      c = load<u32>(CRC_T + 0x1c00 + ((a & 0xff) << 2)) ^ load<u32>(CRC_T + 0x1800 + (((a >>> 8) & 0xff) << 2)) ^
        load<u32>(CRC_T + 0x1400 + (((a >>> 16) & 0xff) << 2)) ^ load<u32>(CRC_T + 0x1000 + ((a >>> 24) << 2)) ^
        load<u32>(CRC_T + 0xc00 + ((b & 0xff) << 2)) ^ load<u32>(CRC_T + 0x800 + (((b >>> 8) & 0xff) << 2)) ^
        load<u32>(CRC_T + 0x400 + (((b >>> 16) & 0xff) << 2)) ^ load<u32>(CRC_T + ((b >>> 24) << 2));
    }
  }
  for (; i < to; i++) c = load<u32>(CRC_T + (((c ^ <u32>load<u8>(i)) & 0xff) << 2)) ^ (c >>> 8);
  return c ^ 0xffffffff;
}

/** The next byte in [p, end) that is E8 or E9 (CALL/JMP rel32), or `end`: 8 bytes at a time. */
// @ts-ignore: decorator
@inline function nextE8(p: u32, end: u32): u32 {
  while (p < end && end - p >= 8) {
    const z = (load<u64>(p) ^ 0xe8e8e8e8e8e8e8e8) & 0xfefefefefefefefe; // a zero byte: E8 or E9
    const t = (z - 0x0101010101010101) & ~z & 0x8080808080808080; // (its lowest set bit is the first zero byte)
    if (t != 0) return p + (<u32>ctz(t) >> 3);
    p += 8;
  }
  while (p < end && (load<u8>(p) & 0xfe) != 0xe8) p++;
  return p;
}

/** The x86 BCJ filter's decoder over [from, to) (xz.ts's bcjX86; xz-embedded's bcj_x86), positions
 * counted from `startOffset` (the filter's start offset property). */
export function bcjX86(from: u32, to: u32, startOffset: u32): void {
  if (to - from <= 4) return;
  const scanEnd = to - 4; // (an instruction's 4 bytes must lie inside the block)
  let prevPos: u32 = from - 1, prevMask: u32 = 0, at = nextE8(from, scanEnd);
  while (at < scanEnd) {
    let resume = at + 1;
    const d = at - prevPos;
    let skip = false;
    if (d > 3) prevMask = 0;
    else {
      prevMask = (prevMask << (d - 1)) & 7;
      if (prevMask != 0) {
        const b = load<u8>(at + 4 - ((0x33332210 >>> (prevMask << 2)) & 0xf)); // BIT_NUM[prevMask]
        if (!((0x17 >>> prevMask) & 1) || b == 0 || b == 0xff) {
          prevPos = at; prevMask = (prevMask << 1) | 1; skip = true;
        }
      }
    }
    if (!skip) {
      prevPos = at;
      const b4 = load<u8>(at + 4);
      if (b4 == 0 || b4 == 0xff) {
        let src: u32 = load<u32>(at + 1), dest: u32;
        const here: u32 = startOffset + (at - from) + 5;
        for (;;) {
          dest = src - here;
          if (prevMask == 0) break;
          const j: u32 = ((0x33332210 >>> (prevMask << 2)) & 0xf) * 8;
          const x = (dest >>> (24 - j)) & 0xff;
          if (x != 0 && x != 0xff) break;
          src = dest ^ ((1 << (32 - j)) - 1);
        }
        dest &= 0x01ffffff;
        if (dest & 0x01000000) dest |= 0xfe000000;
        store<u32>(at + 1, dest);
        resume = at + 5;
      } else prevMask = (prevMask << 1) | 1;
    }
    at = nextE8(resume, scanEnd);
  }
}
