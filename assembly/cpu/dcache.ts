// Decoded-instruction cache: decode once per code address. Two-way set-associative on the host (machine)
// address of the instruction's first byte, so it survives CR3 switches and aliases; an entry also
// records the CPU mode it was decoded in. Instructions that cross a page are not cached (their second
// page may be remapped). Writes to pages holding code (mmu/tlb.ts CODEMAP) call dcacheInvalidate.
//
// The DCACHE region of memmap.ts (DCACHE_ENTRIES * DCACHE_ENTRY_SIZE bytes) is used here as
// DC_ENTRIES entries of DC_ENTRY_SIZE = 64 bytes (half as many, twice as big as memmap.ts says), in
// DC_SETS sets of two (128 bytes, two adjacent entries) indexed by the host address's low bits. A fill
// goes into the set's first way, moving what was there to the second (the second's entry is dropped):
// two instructions whose addresses share the low bits (kernel code 16 KiB apart) both stay, where a
// direct-mapped cache of the same size made them evict each other (lukewarm code: 2.25M fills for
// 12.7M instructions of bench:cpu's lukewarm program). Entries move only at fills.
//   +0 i32 host address (tag, 0 = empty)  +4 i32 mode (the tag's second word)
//   +8 u8 prefixes  +9 i8 segment override  +10 u8 REX  +11 u8 operand size | address size << 4
//   +12 u8 mod  +13 u8 reg  +14 u8 rm  +15 i8 base  +16 i8 index  +17 u8 scale | rip-rel << 4 | default seg << 5
//   +18 u16 imm2  +20 i32 displacement  +24 u64 immediate
//   +32..+55 the fast-path form of the instruction (cpu/fast.ts: F_* id and pre-computed operands)
//   +56 u16 opcode id  +58 u8 length  +60 u16 visits as a block start (cpu/jit.ts)
import { DCACHE_BASE, DCACHE_ENTRIES, DCACHE_ENTRY_SIZE } from "../memmap";
import { jitPagesWritten } from "./jitpages";
import { perfInc, PC_DCACHE_INVAL } from "../perf";

export const DC_ENTRY_SIZE = 64;
export const DC_ENTRIES = (DCACHE_ENTRIES * DCACHE_ENTRY_SIZE) / DC_ENTRY_SIZE;
export const DC_SETS = DC_ENTRIES >> 1;
export const DC_SET_MASK = DC_SETS - 1;

// The set of host address `host` (its first way; the second is 64 bytes on).
@inline export function dcacheSet(host: i32): i32 {
  return DCACHE_BASE + ((host & DC_SET_MASK) << 7);
}

// The tag of an entry for `host` decoded in CPU mode `mode` (its first eight bytes).
@inline export function dcacheKey(host: i32, mode: i32): u64 {
  return (host as u32 as u64) | ((mode as u64) << 32);
}

// The entry of `host` whose tag is `key` (dcacheKey: the host address and the current mode), or 0.
@inline export function dcacheFind(host: i32, key: u64): i32 {
  const e = dcacheSet(host);
  if (load<u64>(e) == key) return e;
  if (load<u64>(e, 64) == key) return e + 64;
  return 0;
}

// The entry to fill for `host` (not in the cache): its set's first way, whose entry moves to the second.
export function dcacheVictim(host: i32): i32 {
  const e = dcacheSet(host);
  if (load<i32>(e) != 0) { // (eight loads and stores: memory.copy is a call out of the module in V8)
    store<u64>(e, load<u64>(e), 64); store<u64>(e, load<u64>(e, 8), 72);
    store<u64>(e, load<u64>(e, 16), 80); store<u64>(e, load<u64>(e, 24), 88);
    store<u64>(e, load<u64>(e, 32), 96); store<u64>(e, load<u64>(e, 40), 104);
    store<u64>(e, load<u64>(e, 48), 112); store<u64>(e, load<u64>(e, 56), 120);
  }
  return e;
}

// Entry `i` (0 .. DC_ENTRIES-1) in memory order, for passes over the whole cache.
@inline export function dcacheSlot(i: i32): i32 {
  return DCACHE_BASE + (i << 6);
}

export function dcacheFlush(): void {
  memory.fill(DCACHE_BASE, 0, DC_ENTRIES * DC_ENTRY_SIZE);
}

// Bytes [host, host+size) were written: drop entries of instructions that may overlap them.
export function dcacheInvalidate(host: i32, size: i32): void {
  perfInc(PC_DCACHE_INVAL);
  jitPagesWritten(host, size);
  if (size > DC_SETS - 16) { dcacheFlush(); return; }
  for (let k = -15; k < size; k++) { // (a counter: host addresses above 2 GiB are negative as i32)
    const a = host + k;
    const e = dcacheSet(a);
    if (load<i32>(e) == a) store<i32>(e, 0);
    if (load<i32>(e, 64) == a) store<i32>(e, 0, 64);
  }
}
