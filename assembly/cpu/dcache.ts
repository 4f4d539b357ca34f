// Decoded-instruction cache: decode once per code address. Entries are keyed by the host (machine)
// address of the instruction's first byte, so they survive CR3 switches and aliases; an entry also
// records the CPU mode it was decoded in. Instructions that cross a page are not cached (their second
// page may be remapped). Writes to pages holding code (mmu/tlb.ts CODEMAP) call dcacheInvalidate.
//
// The DCACHE region of memmap.ts is an arena of DC_ENTRIES entries of DC_ENTRY_SIZE = 64 bytes (8 MiB: the
// Debian system's lukewarm code, kernel, Apache and PostgreSQL, outgrew 2 MiB, refilled once per four to eight
// interpreted instructions), filled in the order instructions are decoded, at a cursor that goes round the
// arena (first in, first out): the instructions of a block that run one after the other are decoded one after the
// other, so that the entry of the next instruction is the next entry, which the run loop (cpu/run.ts) tries before the
// index (one host cache line per block rather than one per instruction, and the lines in order, which
// the host's prefetcher follows). The arena's first and last entries are never filled (their tags stay
// 0): the index's empty slot names the first, and the last is what follows the last filled one.
// The index (DCACHE_INDEX: DCACHE_INDEX_SLOTS i32 slots, in pairs chosen by the host address's low bits)
// holds the offsets of entries: two-way, so that two instructions whose addresses share the low bits both
// stay. Invariant: every entry whose tag is not 0 is named by its address's pair (a fill drops the entry
// its pair can no longer name), so that dcacheInvalidate finds every entry of an address through the
// index.
//   +0 i32 host address (tag, 0 = empty)  +4 i32 mode (the tag's second word)
//   +8 u8 prefixes  +9 i8 segment override  +10 u8 REX  +11 u8 operand size | address size << 4
//   +12 u8 mod  +13 u8 reg  +14 u8 rm  +15 i8 base  +16 i8 index  +17 u8 scale | rip-rel << 4 | default seg << 5
//   +18 u16 imm2  +20 i32 displacement  +24 u64 immediate
//   +32..+55 the fast-path form of the instruction (cpu/fast.ts: F_* id and pre-computed operands)
//   +56 u16 opcode id  +58 u8 length  +60 u16 visits as a block start (cpu/jit.ts)  +62 u16 the heat window of
//   the first of them (dcFills >> HEAT_WINDOW_SHIFT)
import { DCACHE_BASE, DCACHE_ENTRIES, DCACHE_ENTRY_SIZE, DCACHE_INDEX, DCACHE_INDEX_SLOTS } from "../memmap";
import { jitPagesWritten } from "./jitpages";
import { perfInc, PC_DCACHE_INVAL } from "../perf";

export const DC_ENTRY_SIZE = DCACHE_ENTRY_SIZE;
export const DC_ENTRIES = DCACHE_ENTRIES;
export const DC_PAIR_MASK = (DCACHE_INDEX_SLOTS >> 1) - 1;
const DC_FIRST = DCACHE_BASE + DC_ENTRY_SIZE; // the first entry filled (DCACHE_BASE: the empty slot's entry)
const DC_LAST = DCACHE_BASE + (DC_ENTRIES - 2) * DC_ENTRY_SIZE; // the last one filled
let cursor = DC_FIRST; // the next entry to fill
// Fills since start. An entry's heat (cpu/jit.ts jitHeat) counts its visits over at most two windows of
// 1 << HEAT_WINDOW_SHIFT fills (32768: the whole life of an entry in the 2 MiB arena this was before), not over
// the entry's life, so that the larger arena keeps more code decoded without making all of it hot.
export let dcFills: u32 = 0;
export const HEAT_WINDOW_SHIFT = 15;

// The index's pair of slots for host address `host`.
@inline export function dcachePair(host: i32): i32 {
  return DCACHE_INDEX + ((host & DC_PAIR_MASK) << 3);
}

// The tag of an entry for `host` decoded in CPU mode `mode` (its first eight bytes).
@inline export function dcacheKey(host: i32, mode: i32): u64 {
  return (host as u32 as u64) | ((mode as u64) << 32);
}

// The entry of `host` whose tag is `key` (dcacheKey: the host address and the current mode), or 0.
@inline export function dcacheFind(host: i32, key: u64): i32 {
  const p = dcachePair(host);
  let e = DCACHE_BASE + load<i32>(p);
  if (load<u64>(e) == key) return e;
  e = DCACHE_BASE + load<i32>(p, 4);
  return load<u64>(e) == key ? e : 0;
}

// Whether the entry at `e` holds an instruction whose index pair is that of `host`.
@inline function pairs(e: i32, host: i32): bool {
  const h = load<i32>(e);
  return h != 0 && ((h ^ host) & DC_PAIR_MASK) == 0;
}

// The entry to fill for `host` (not in the cache): the one at the cursor, from now on named by the index
// for `host` (the pair's first slot; what that named moves to the second, whose entry is dropped). The
// caller writes its tag (store_entry).
export function dcacheVictim(host: i32): i32 {
  const c = cursor;
  dcFills++;
  cursor = c == DC_LAST ? DC_FIRST : c + DC_ENTRY_SIZE;
  const off = c - DCACHE_BASE;
  // (The pair that named the entry overwritten may go on naming it: a pair's slot is only a hint, the tag
  // decides, and this fill's own pair only counts ways whose tags are of the pair. Unnaming it cost a host
  // cache miss per fill, on a random line of the index.)
  store<u64>(c, 0);
  const p = dcachePair(host);
  const w0 = DCACHE_BASE + load<i32>(p);
  if (pairs(w0, host)) {
    const w1 = DCACHE_BASE + load<i32>(p, 4);
    if (pairs(w1, host)) store<u64>(w1, 0);
    store<i32>(p, w0 - DCACHE_BASE, 4);
  }
  store<i32>(p, off);
  return c;
}

// Entry `i` (0 .. DC_ENTRIES-1) in memory order, for passes over the whole cache.
@inline export function dcacheSlot(i: i32): i32 {
  return DCACHE_BASE + (i << 6);
}

export function dcacheFlush(): void {
  memory.fill(DCACHE_BASE, 0, DC_ENTRIES * DC_ENTRY_SIZE);
  memory.fill(DCACHE_INDEX, 0, DCACHE_INDEX_SLOTS << 2);
}

// Bytes [host, host+size) were written: drop entries of instructions that may overlap them.
export function dcacheInvalidate(host: i32, size: i32): void {
  perfInc(PC_DCACHE_INVAL);
  jitPagesWritten(host, size);
  if (size > (DC_ENTRIES >> 1) - 16) { dcacheFlush(); return; }
  for (let k = -15; k < size; k++) { // (a counter: host addresses above 2 GiB are negative as i32)
    const a = host + k;
    const p = dcachePair(a);
    const e0 = DCACHE_BASE + load<i32>(p);
    if (load<i32>(e0) == a) store<i32>(e0, 0);
    const e1 = DCACHE_BASE + load<i32>(p, 4);
    if (load<i32>(e1) == a) store<i32>(e1, 0);
  }
}

// Tests (core export dcache_check): the entries whose tag is not 0 and that neither slot of their pair names (the
// invariant above; 0 when it holds).
export function dcacheCheck(): i32 {
  let bad = 0;
  for (let i = 1; i < DC_ENTRIES - 1; i++) {
    const e = dcacheSlot(i);
    const h = load<i32>(e);
    if (h == 0) continue;
    const p = dcachePair(h), off = e - DCACHE_BASE;
    if (load<i32>(p) != off && load<i32>(p, 4) != off) bad++;
  }
  return bad;
}
