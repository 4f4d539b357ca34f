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
// The index (DCACHE_INDEX, DCACHE_INDEX_SLOTS i32 slots by the host address's low bits) holds the offset
// of an address's entry. Invariant: every entry whose tag is not 0 is the one its address's slot names
// (a fill clears the entry its slot named before, and the slot of the entry the cursor overwrites), so
// that dcacheInvalidate finds every entry of an address through the index.
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
export const DC_INDEX_MASK = DCACHE_INDEX_SLOTS - 1;
const DC_FIRST = DCACHE_BASE + DC_ENTRY_SIZE; // the first entry filled (DCACHE_BASE: the empty slot's entry)
const DC_LAST = DCACHE_BASE + (DC_ENTRIES - 2) * DC_ENTRY_SIZE; // the last one filled
let cursor = DC_FIRST; // the next entry to fill

// The index slot of host address `host`.
@inline export function dcacheSlotOf(host: i32): i32 {
  return DCACHE_INDEX + ((host & DC_INDEX_MASK) << 2);
}

// The entry the index names for host address `host` (its tag may be another's, or 0).
@inline export function dcacheIndexed(host: i32): i32 {
  return DCACHE_BASE + load<i32>(dcacheSlotOf(host));
}

// The tag of an entry for `host` decoded in CPU mode `mode` (its first eight bytes).
@inline export function dcacheKey(host: i32, mode: i32): u64 {
  return (host as u32 as u64) | ((mode as u64) << 32);
}

// The entry of `host` whose tag is `key` (dcacheKey: the host address and the current mode), or 0.
@inline export function dcacheFind(host: i32, key: u64): i32 {
  const e = dcacheIndexed(host);
  return load<u64>(e) == key ? e : 0;
}

// The entry to fill for `host` (not in the cache): the one at the cursor, from now on named by the index
// for `host`. The caller writes its tag (store_entry).
export function dcacheVictim(host: i32): i32 {
  const c = cursor;
  cursor = c == DC_LAST ? DC_FIRST : c + DC_ENTRY_SIZE;
  const off = c - DCACHE_BASE;
  const old = load<i32>(c);
  if (old != 0) { // the entry overwritten: its address's slot names it no more
    const s = dcacheSlotOf(old);
    if (load<i32>(s) == off) store<i32>(s, 0);
  }
  const s = dcacheSlotOf(host);
  const named = DCACHE_BASE + load<i32>(s);
  const nh = load<i32>(named);
  if (nh != 0 && ((nh ^ host) & DC_INDEX_MASK) == 0) store<u64>(named, 0); // (this slot's entry: only one per slot)
  store<i32>(s, off);
  store<u64>(c, 0);
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
    const e = dcacheIndexed(a);
    if (load<i32>(e) == a) store<i32>(e, 0);
  }
}
