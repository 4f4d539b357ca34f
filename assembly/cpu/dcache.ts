// Decoded-instruction cache: decode once per code address. Entries are keyed by the host (machine)
// address of the instruction's first byte, so they survive CR3 switches and aliases; an entry also
// records the CPU mode it was decoded in. Instructions that cross a page are not cached (their second
// page may be remapped). Writes to pages holding code (mmu/tlb.ts CODEMAP) call dcacheInvalidate.
//
// The DCACHE region of memmap.ts (DCACHE_ENTRIES * DCACHE_ENTRY_SIZE bytes) is used here as an arena of
// DC_ENTRIES entries of DC_ENTRY_SIZE = 64 bytes (half as many, twice as big as memmap.ts says), filled in
// the order instructions are decoded, at a cursor that goes round the arena (first in, first out): the
// instructions of a block that run one after the other are decoded one after the other, so that the
// entry of the next instruction is the next entry, which the run loop (cpu/run.ts) tries before the
// index (one host cache line per block rather than one per instruction, and the lines in order, which
// the host's prefetcher follows). The arena's first and last entries are never filled (their tags stay
// 0): the index's empty slot names the first, and the last is what follows the last filled one.
// The index (DCACHE_INDEX: DCACHE_INDEX_SLOTS i32 slots, in pairs chosen by the host address's low
// DC_PAIR_BITS bits) names entries: two-way, so that two instructions whose addresses share the low bits
// both stay. A slot is the entry's number (bits 0-14), the lap of the arena's cursor it was filled in (bits
// 15-16, modulo 4) and the host address's bits above the pair's (17-31): so a lookup learns from the pair's
// one host cache line whether a slot can name the address's entry (the same high bits, and an entry the
// cursor has not come round to again since: slotLive) and reads an entry only then. (With the entries'
// offsets alone every miss read both entries named, three host cache misses in a row before the fill:
// about half the run loop's time in the Debian system's static HTTP phase, where a fill comes every four
// or five interpreted instructions.) The slot is a hint; the entry's tag decides. Invariant: every entry
// whose tag is not 0 is named by its address's pair (a fill drops the entry its pair can no longer name),
// so that dcacheInvalidate finds every entry of an address through the index.
//   +0 i32 host address (tag, 0 = empty)  +4 i32 mode (the tag's second word)
//   +8 u8 prefixes  +9 i8 segment override  +10 u8 REX  +11 u8 operand size | address size << 4
//   +12 u8 mod  +13 u8 reg  +14 u8 rm  +15 i8 base  +16 i8 index  +17 u8 scale | rip-rel << 4 | default seg << 5
//   +18 u16 imm2  +20 i32 displacement  +24 u64 immediate
//   +32..+55 the fast-path form of the instruction (cpu/fast.ts: F_* id and pre-computed operands)
//   +56 u16 opcode id  +58 u8 length  +60 u16 visits as a block start (cpu/jit.ts)
import { DCACHE_BASE, DCACHE_ENTRIES, DCACHE_ENTRY_SIZE, DCACHE_INDEX, DCACHE_INDEX_SLOTS } from "../memmap";
import { jitPagesWritten } from "./jitpages";
import { perfInc, PC_DCACHE_INVAL } from "../perf";

export const DC_ENTRY_SIZE = 64;
export const DC_ENTRIES = (DCACHE_ENTRIES * DCACHE_ENTRY_SIZE) / DC_ENTRY_SIZE;
export const DC_PAIR_MASK = (DCACHE_INDEX_SLOTS >> 1) - 1;
// A slot: entry number | lap << DC_LAP_SHIFT | the host address's bits above DC_PAIR_MASK. The packing needs
// DC_ENTRIES * 4 == DC_PAIR_MASK + 1 (15 + 2 + 15 bits); host/jit/translate.ts checks it when it loads.
export const DC_NUM_MASK = DC_ENTRIES - 1;
export const DC_LAP_SHIFT = 15;
export const DC_HIGH_MASK = ~DC_PAIR_MASK;
const DC_FIRST = DCACHE_BASE + DC_ENTRY_SIZE; // the first entry filled (DCACHE_BASE: the empty slot's entry)
const DC_LAST = DCACHE_BASE + (DC_ENTRIES - 2) * DC_ENTRY_SIZE; // the last one filled
let cursor = DC_FIRST; // the next entry to fill
let lap = 0; // how often the cursor went round (modulo 4 in slots)

// The index's pair of slots for host address `host`.
@inline export function dcachePair(host: i32): i32 {
  return DCACHE_INDEX + ((host & DC_PAIR_MASK) << 3);
}

// The tag of an entry for `host` decoded in CPU mode `mode` (its first eight bytes).
@inline export function dcacheKey(host: i32, mode: i32): u64 {
  return (host as u32 as u64) | ((mode as u64) << 32);
}

// The entry a slot names.
@inline export function dcacheSlotEntry(s: i32): i32 {
  return DCACHE_BASE + ((s & DC_NUM_MASK) << 6);
}

// Whether slot `s` may name a live entry: filled in this lap, or in the last one at or after the cursor (an
// entry of an older lap, or of the last one before the cursor, has been filled again since). Laps are kept
// modulo 4, so a slot four laps old passes: the tag decides then.
@inline function slotLive(s: i32): bool {
  const d = (lap - (s >>> DC_LAP_SHIFT)) & 3;
  return d == 0 || (d == 1 && dcacheSlotEntry(s) >= cursor);
}

// Whether slot `s` may name the entry of `host` (see slotLive).
@inline function slotMay(s: i32, host: i32): bool {
  return ((s ^ host) & DC_HIGH_MASK) == 0 && slotLive(s);
}

// The entry of `host` whose tag is `key` (dcacheKey: the host address and the current mode), or 0.
@inline export function dcacheFind(host: i32, key: u64): i32 {
  const v = load<u64>(dcachePair(host));
  const s0 = v as i32;
  if (slotMay(s0, host)) {
    const e = dcacheSlotEntry(s0);
    if (load<u64>(e) == key) return e;
  }
  const s1 = (v >>> 32) as i32;
  if (slotMay(s1, host)) {
    const e = dcacheSlotEntry(s1);
    if (load<u64>(e) == key) return e;
  }
  return 0;
}

// The entry to fill for `host` (not in the cache): the one at the cursor, from now on named by the index
// for `host` (the pair's first slot; what that named moves to the second, whose entry is dropped when it
// still holds an instruction of the pair). The caller writes its tag (store_entry).
export function dcacheVictim(host: i32): i32 {
  const c = cursor;
  const num = (c - DCACHE_BASE) >> 6;
  const slot = num | ((lap & 3) << DC_LAP_SHIFT) | (host & DC_HIGH_MASK);
  if (c == DC_LAST) { cursor = DC_FIRST; lap++; } else cursor = c + DC_ENTRY_SIZE;
  // (The pair that named the entry overwritten may go on naming it: a slot is only a hint, the tag decides.
  // Unnaming it cost a host cache miss per fill, on a random line of the index.)
  store<u64>(c, 0);
  const p = dcachePair(host);
  const s0 = load<i32>(p);
  if (slotLive(s0)) { // the first slot's entry moves to the second; the second's is dropped if it is live
    const s1 = load<i32>(p, 4);
    if (slotLive(s1)) {
      const e1 = dcacheSlotEntry(s1);
      if (load<i32>(e1) == ((s1 & DC_HIGH_MASK) | (host & DC_PAIR_MASK))) store<u64>(e1, 0);
    }
    store<i32>(p, s0, 4);
  }
  store<i32>(p, slot);
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
    const v = load<u64>(dcachePair(a));
    const s0 = v as i32, s1 = (v >>> 32) as i32;
    if (slotMay(s0, a)) { const e = dcacheSlotEntry(s0); if (load<i32>(e) == a) store<i32>(e, 0); }
    if (slotMay(s1, a)) { const e = dcacheSlotEntry(s1); if (load<i32>(e) == a) store<i32>(e, 0); }
  }
}

// Tests (core export dcache_check): the entries whose tag is not 0 and that no slot of their pair names as live
// (the invariant above; 0 when it holds).
export function dcacheCheck(): i32 {
  let bad = 0;
  for (let i = 1; i < DC_ENTRIES - 1; i++) {
    const e = dcacheSlot(i);
    const h = load<i32>(e);
    if (h == 0) continue;
    const v = load<u64>(dcachePair(h));
    const s0 = v as i32, s1 = (v >>> 32) as i32;
    if (!(slotMay(s0, h) && dcacheSlotEntry(s0) == e) && !(slotMay(s1, h) && dcacheSlotEntry(s1) == e)) bad++;
  }
  return bad;
}
