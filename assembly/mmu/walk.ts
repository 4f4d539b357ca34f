// Page-table walker. PLACEHOLDER: paging disabled only (identity); the full walker (2-level with PSE,
// PAE, 4-level; A/D bits; U/S, R/W, NX, WP; global pages) replaces this file.
import { paging } from "../cpu/state";
import { raisePF } from "../cpu/fault";

// Results of the last successful walk, for the TLB fill.
export let walkWritable: bool = false; // a write at this privilege is allowed AND the dirty bit is set
export let walkExec: bool = false; // instruction fetch allowed at this privilege
export let walkGlobal: bool = false; // the translation is global (CR4.PGE and G set)

// Translate linear `lin` for access `acc` (ACC_W 2, ACC_U 4, ACC_X 16 in mmu/tlb.ts). Returns the
// physical address of the page (4 KiB aligned) or -1 after raising #PF (CR2 = lin, error code).
export function walk(lin: u64, acc: i32): i64 {
  if (!paging) {
    walkWritable = true;
    walkExec = true;
    walkGlobal = false;
    return ((lin & 0xfffff000) as i64);
  }
  raisePF(lin, acc);
  return -1;
}
