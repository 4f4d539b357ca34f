// Decoded-instruction cache: decode once per code address. Direct-mapped on the host (machine)
// address of the instruction's first byte, so it survives CR3 switches and aliases; an entry also
// records the CPU mode it was decoded in. Instructions that cross a page are not cached (their second
// page may be remapped). Writes to pages holding code (mmu/tlb.ts CODEMAP) call dcacheInvalidate.
//
// The DCACHE region of memmap.ts (DCACHE_ENTRIES * DCACHE_ENTRY_SIZE bytes) is used here as
// DC_ENTRIES entries of DC_ENTRY_SIZE = 64 bytes (half as many, twice as big as memmap.ts says):
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
export const DC_MASK = DC_ENTRIES - 1;

@inline export function dcacheEntry(host: i32): i32 {
  return DCACHE_BASE + ((host & DC_MASK) << 6);
}

export function dcacheFlush(): void {
  memory.fill(DCACHE_BASE, 0, DC_ENTRIES * DC_ENTRY_SIZE);
}

// Bytes [host, host+size) were written: drop entries of instructions that may overlap them.
export function dcacheInvalidate(host: i32, size: i32): void {
  perfInc(PC_DCACHE_INVAL);
  jitPagesWritten(host, size);
  if (size > DC_ENTRIES - 16) { dcacheFlush(); return; }
  for (let k = -15; k < size; k++) { // (a counter: host addresses above 2 GiB are negative as i32)
    const a = host + k;
    const e = dcacheEntry(a);
    if (load<i32>(e) == a) store<i32>(e, 0);
  }
}
