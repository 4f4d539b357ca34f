// Decoded-instruction cache: decode once per code address. Direct-mapped on the host (machine)
// address of the instruction's first byte, so it survives CR3 switches and aliases; an entry also
// records the CPU mode it was decoded in. Instructions that cross a page are not cached (their second
// page may be remapped). Writes to pages holding code (mmu/tlb.ts CODEMAP) call dcacheInvalidate.
//
// Entry (DCACHE_ENTRY_SIZE = 32 bytes):
//   +0 i32 host address (tag, 0 = empty)  +4 u16 opcode id  +6 u8 length  +7 u8 mode
//   +8 u8 prefixes  +9 i8 segment override  +10 u8 REX  +11 u8 operand size | address size << 4
//   +12 u8 mod  +13 u8 reg  +14 u8 rm  +15 i8 base  +16 i8 index  +17 u8 scale | rip-rel << 4 | default seg << 5
//   +18 u16 imm2  +20 i32 displacement  +24 u64 immediate
import { DCACHE_BASE, DCACHE_ENTRIES, DCACHE_ENTRY_SIZE } from "../memmap";

export const DC_MASK = DCACHE_ENTRIES - 1;

@inline export function dcacheEntry(host: i32): i32 {
  return DCACHE_BASE + ((host & DC_MASK) << 5);
}

export function dcacheFlush(): void {
  memory.fill(DCACHE_BASE, 0, DCACHE_ENTRIES * DCACHE_ENTRY_SIZE);
}

// Bytes [host, host+size) were written: drop entries of instructions that may overlap them.
export function dcacheInvalidate(host: i32, size: i32): void {
  if (size > DCACHE_ENTRIES - 16) { dcacheFlush(); return; }
  for (let a = host - 15; a < host + size; a++) {
    const e = dcacheEntry(a);
    if (load<i32>(e) == a) store<i32>(e, 0);
  }
}
