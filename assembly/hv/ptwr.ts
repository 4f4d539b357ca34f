// Writes to page tables by a PV kernel (Xen's "ptwr" emulation, pv/ro-page-fault.c): the guest's
// L1 page tables are mapped read-only, and a kernel-mode write to one faults; the hypervisor then
// decodes the faulting instruction, validates the new entry exactly as mmu_update would, and
// completes the write — or, if the entry is refused, the #PF goes to the guest. Linux writes PTEs
// this way (MOV, XCHG, CMPXCHG, MOV imm) all the time.
// 64-bit guests: MOV/XCHG/CMPXCHG of whole entries, and AND/OR of a byte, dword or qword of an entry
// (Linux's set_bit/clear_bit on PTE flags).
import { CPU_STATE, CPU_CR3 } from "../memmap";
import { reg64, setReg64, RAX, rip, setRip } from "../cpu/state";
import { getFlags, setFlags, szp } from "../cpu/flags";
import { F_ZF } from "../cpu/state";
import { currentDom, domIs64 } from "../domain/domain";
import { frameOwner, frameType, frameTypeCount, frameFlags, mfnValid, PGT_L1, PGF_VALIDATED } from "../domain/frames";
import { modEntry, entryMfn, PTE_P } from "../domain/mm";
import { guestAddr, NO_HOST } from "./guest";
import { guestKernelMode } from "./bounce";

export let ptwrCount: u64 = 0;

// The L1 entry (machine address) that maps `va` in the current tables, or 0.
function leafEntry(va: u64): u64 {
  let table = load<u64>(CPU_STATE + CPU_CR3) & 0x000ffffffffff000;
  for (let lvl = 4; lvl >= 2; lvl--) {
    const shift = (12 + 9 * (lvl - 1)) as u64;
    const e = load<u64>((table + (((va >> shift) & 0x1ff) << 3)) as i32);
    if ((e & PTE_P) == 0 || (e & 0x80) != 0) return 0;
    table = e & 0x000ffffffffff000;
  }
  return table + (((va >> 12) & 0x1ff) << 3);
}

const ib = memory.data(16) as i32;

// Try to emulate the write that faulted at `cr2` (error code `err`). True when done (RIP moved on).
export function ptwrFault(cr2: u64, err: i32): bool {
  if ((err & 3) != 3 || !domIs64(currentDom) || !guestKernelMode()) return false;
  const pte = leafEntry(cr2);
  if (pte == 0) return false;
  const m = load<u64>(pte as i32);
  if ((m & PTE_P) == 0) return false;
  const target = entryMfn(m);
  if (!mfnValid(target as u64) || frameOwner(target) != currentDom) return false;
  if (frameType(target) != PGT_L1 || frameTypeCount(target) == 0 || (frameFlags(target) & PGF_VALIDATED) == 0) return false;
  // Fetch and decode: [F0] [REX.W] (89 /r | 87 /r | 0F B1 /r | C7 /0 imm32) with a memory operand.
  const ip = rip();
  let n = 0x1000 - ((ip as i32) & 0xfff);
  if (n > 15) n = 15;
  const h = guestAddr(ip, n, false);
  if (h == NO_HOST) return false;
  memory.copy(ib, h, n);
  let i = 0;
  let rex = 0;
  while (i < n) {
    const b = load<u8>(ib + i);
    if (b == 0xf0 || b == 0x3e || b == 0x2e) { i++; continue; }
    if ((b & 0xf0) == 0x40) { rex = b; i++; continue; }
    break;
  }
  let op = load<u8>(ib + i) as i32;
  i++;
  if (op == 0x0f) { op = 0x100 | (load<u8>(ib + i) as i32); i++; }
  // Operand size: 1 for the 8-bit forms, 8 with REX.W, else 4.
  let size = (rex & 8) != 0 ? 8 : 4;
  if (op == 0x80 || op == 0x88 || op == 0x08 || op == 0x20 || op == 0xc6) size = 1;
  const ok = op == 0x89 || op == 0x87 || op == 0x1b1 || op == 0xc7 || op == 0x80 || op == 0x81 || op == 0x83 ||
    op == 0x09 || op == 0x21 || op == 0x08 || op == 0x20;
  if (!ok) return false;
  if ((op == 0x89 || op == 0x87 || op == 0x1b1 || op == 0xc7) && size != 8) return false; // whole entries only
  if ((cr2 & ((size - 1) as u64)) != 0) return false;
  const modrm = load<u8>(ib + i) as i32;
  i++;
  const mod = modrm >> 6, rm = modrm & 7;
  const sub = (modrm >> 3) & 7;
  const reg = sub | ((rex & 4) << 1);
  if (mod == 3) return false;
  if (op == 0xc7 && sub != 0) return false;
  if ((op == 0x80 || op == 0x81 || op == 0x83) && sub != 1 && sub != 4) return false; // OR, AND
  // Skip the addressing bytes (the address itself is CR2).
  if (rm == 4) {
    const sib = load<u8>(ib + i);
    i++;
    if (mod == 0 && (sib & 7) == 5) i += 4;
  } else if (mod == 0 && rm == 5) i += 4;
  if (mod == 1) i += 1; else if (mod == 2) i += 4;
  let src: u64 = 0;
  if (op == 0xc7 || op == 0x81) { src = <u64><i64>load<i32>(ib + i); i += 4; }
  else if (op == 0x80) { src = load<u8>(ib + i) as u64; i += 1; }
  else if (op == 0x83) { src = <u64><i64>load<i8>(ib + i); i += 1; }
  else src = reg64(reg);
  if (i > n) return false;
  // The entry being changed, and the new entry.
  const slot = ((cr2 & 0xfff) >> 3) as i32;
  const old = load<u64>(((target as i32) << 12) + (slot << 3));
  const shift = ((cr2 & 7) << 3) as u64;
  const mask: u64 = size == 8 ? <u64>-1 : ((((1 as u64) << ((size * 8) as u64)) - 1) << shift);
  const part = (old & mask) >> shift;
  let res: u64;
  let logic = false;
  if (op == 0x80 || op == 0x81 || op == 0x83) { res = sub == 1 ? part | src : part & src; logic = true; }
  else if (op == 0x09 || op == 0x08) { res = part | src; logic = true; }
  else if (op == 0x21 || op == 0x20) { res = part & src; logic = true; }
  else res = src;
  if (size < 8) res &= (((1 as u64) << ((size * 8) as u64)) - 1);
  const nw = (old & ~mask) | ((res << shift) & mask);
  if (op == 0x1b1) {
    const f = getFlags();
    if (reg64(RAX) != old) {
      setReg64(RAX, old);
      setFlags(f & ~F_ZF);
      setRip(ip + (i as u64));
      ptwrCount++;
      return true;
    }
    setFlags(f | F_ZF);
  }
  const r = modEntry(target, 1, slot, nw, currentDom, true);
  if (r < 0) return false; // refused: the guest gets its #PF
  if (op == 0x87) setReg64(reg, old);
  if (logic) setFlags((getFlags() & ~(0x8d5 as u64)) | szp(size, res)); // CF OF AF cleared, SZP from the result
  setRip(ip + (i as u64));
  ptwrCount++;
  return true;
}
