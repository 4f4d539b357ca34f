// Writes to page tables by a PV kernel (Xen's "ptwr" emulation, pv/ro-page-fault.c): the guest's
// L1 page tables are mapped read-only, and a kernel-mode write to one faults; the hypervisor then
// emulates the faulting instruction (cpu/emul.ts, the CPU's decoder) with callbacks that read the
// entry and validate the new one exactly as mmu_update would before completing the write — or, if
// the entry is refused, the #PF goes to the guest. Linux writes PTEs this way (MOV, XCHG, CMPXCHG,
// MOV imm) all the time.
// 64-bit guests: MOV/XCHG/CMPXCHG of whole entries, and AND/OR of a byte, word, dword or qword of an
// entry (Linux's set_bit/clear_bit on PTE flags), naturally aligned at the faulting address.
import { rip } from "../cpu/state";
import { EmulOps, x86Emulate, EMC_MEM, EM_OKAY, EM_UNHANDLEABLE, emSet, emLogic } from "../cpu/emul";
import { leafEntryHost } from "../mmu/walk";
import { NO_HOST } from "../memmap";
import { currentDom, domIs64 } from "../domain/domain";
import { frameOwner, frameType, frameTypeCount, frameFlags, mfnValid, PGT_L1, PGF_VALIDATED } from "../domain/frames";
import { modEntry, entryMfn, PTE_P } from "../domain/mm";
import { guestKernelMode } from "./bounce";
import { perfInc, PC_PTWR } from "../perf";

export let ptwrCount: u64 = 0;

// The fault being emulated: its address and the L1 table it hit.
let faultAddr: u64 = 0;
let table: u32 = 0;

// The entry `size` bytes at `lin` belong to: its slot, or -1 when the access is not the faulting one
// (another address, or not naturally aligned).
function slotOf(lin: u64, size: i32): i32 {
  if (lin != faultAddr || (lin & ((size - 1) as u64)) != 0) return -1;
  return ((lin & 0xfff) >> 3) as i32;
}
@inline function entry(slot: i32): u64 { return load<u64>(((table as i32) << 12) + (slot << 3)); }
@inline function partMask(lin: u64, size: i32): u64 {
  return size == 8 ? <u64>-1 : (((1 as u64) << ((size * 8) as u64)) - 1) << ((lin & 7) << 3);
}

function ptRead(lin: u64, size: i32): i32 {
  const slot = slotOf(lin, size);
  if (slot < 0) return EM_UNHANDLEABLE;
  return emSet((entry(slot) & partMask(lin, size)) >> ((lin & 7) << 3));
}

// A new entry: whole (8 bytes), or part of one as the result of AND/OR; validated by mmu_update's rules.
function ptWrite(lin: u64, size: i32, v: u64): i32 {
  const slot = slotOf(lin, size);
  if (slot < 0 || (size != 8 && !emLogic)) return EM_UNHANDLEABLE;
  const mask = partMask(lin, size);
  const nw = (entry(slot) & ~mask) | ((v << ((lin & 7) << 3)) & mask);
  return modEntry(table, 1, slot, nw, currentDom, true) < 0 ? EM_UNHANDLEABLE : EM_OKAY;
}

function ptCmpxchg(lin: u64, size: i32, old: u64, v: u64): i32 {
  const slot = slotOf(lin, size);
  if (slot < 0 || size != 8) return EM_UNHANDLEABLE;
  const cur = entry(slot);
  if (cur == old && modEntry(table, 1, slot, v, currentDom, true) < 0) return EM_UNHANDLEABLE;
  return emSet(cur);
}

const PTWR_OPS = new EmulOps();
PTWR_OPS.read = ptRead;
PTWR_OPS.write = ptWrite;
PTWR_OPS.cmpxchg = ptCmpxchg;

// Try to emulate the write that faulted at `cr2` (error code `err`). True when done (RIP moved on).
export function ptwrFault(cr2: u64, err: i32): bool {
  if ((err & 3) != 3 || !domIs64(currentDom) || !guestKernelMode()) return false;
  const pte = leafEntryHost(cr2);
  if (pte == NO_HOST) return false;
  const m = load<u64>(pte);
  if ((m & PTE_P) == 0) return false;
  const target = entryMfn(m);
  if (!mfnValid(target as u64) || frameOwner(target) != currentDom) return false;
  if (frameType(target) != PGT_L1 || frameTypeCount(target) == 0 || (frameFlags(target) & PGF_VALIDATED) == 0)
    return false;
  faultAddr = cr2;
  table = target;
  if (x86Emulate(PTWR_OPS, rip(), EMC_MEM) != EM_OKAY) return false; // refused: the guest gets its #PF
  ptwrCount++;
  perfInc(PC_PTWR);
  return true;
}
