// Segment descriptors: reading them from the GDT/LDT, the checks of segment-register loads (MOV/POP
// Sreg, LxS), the limit and type checks of accesses through non-flat segments, and LAR/LSL/VERR/VERW.
// Descriptor-table reads are implicit supervisor accesses (no ACC_U).
import {
  CPU_STATE, CPU_GDTR_BASE, CPU_GDTR_LIMIT, SEG_CS, SEG_SS, SEG_LDTR, SEG_FS, SEG_GS, MODE_REAL,
  CPU_GDT_MODE, CPU_GDT_ENTRIES, CPU_GDT_FRAMES, GDT_LINEAR, GDT_PV64, XEN_GDT64, XEN_GDT32,
} from "../memmap";
import {
  segSel, segAttr, segLimit, segBase, setSeg, cpl, mode, is64, efer,
  SA_P, SA_S, SA_CODE, SA_E, SA_W, SA_R, SA_DB, F_ZF,
} from "./state";
import { EFER_LMA, ACC_R } from "../bits";
import { fault, raise, EX_GP, EX_SS, EX_NP } from "./fault";
import { readAcc, xlate, NO_HOST } from "../mmu/tlb";
import { ldMarkHost } from "../mmu/logdirty";
import { getFlags, setFlags } from "./flags";

// The descriptor last read by descRead: low and high dwords (and, for 16-byte system descriptors in
// long mode, the third dword: base bits 32-63).
export let dLo: u32 = 0;
export let dHi: u32 = 0;
export let dHi2: u32 = 0;
export let dAddr: u64 = 0; // its linear address

// Read the descriptor for `sel` (index and TI bits). Returns 1 when read, 0 when the selector lies
// outside its table (the caller raises the right fault), -1 after a fault while reading (#PF).
export let dPhys: bool = false; // dAddr is a machine address (PV GDT), not a linear one

export function descRead(sel: u32, wide: bool): i32 {
  let base: u64, limit: u32;
  dPhys = false;
  const gm = load<i32>(CPU_STATE + CPU_GDT_MODE);
  if ((sel & 4) == 0 && gm != GDT_LINEAR) return descReadPv(sel, wide, gm);
  if ((sel & 4) != 0) {
    if ((segAttr(SEG_LDTR) & SA_P) == 0 || (segSel(SEG_LDTR) & 0xfffc) == 0) return 0;
    base = segBase(SEG_LDTR);
    limit = segLimit(SEG_LDTR);
  } else {
    base = load<u64>(CPU_STATE + CPU_GDTR_BASE);
    limit = load<u32>(CPU_STATE + CPU_GDTR_LIMIT);
  }
  const idx = (sel & 0xfff8) as u32;
  if ((idx as u64) + (wide ? 15 : 7) > (limit as u64)) return 0;
  dAddr = base + (idx as u64);
  if (!is64Lin()) dAddr &= 0xffffffff;
  const v = readAcc(dAddr, 8, ACC_R);
  if (fault) return -1;
  dLo = v as u32;
  dHi = (v >> 32) as u32;
  dHi2 = 0;
  if (wide) {
    const w = readAcc(dAddr + 8, 4, ACC_R);
    if (fault) return -1;
    dHi2 = w as u32;
  }
  return 1;
}

// PV guests: the guest's GDT frames below CPU_GDT_ENTRIES, the hypervisor's reserved page at 0xe000.
function descReadPv(sel: u32, wide: bool, gm: i32): i32 {
  const idx = (sel & 0xfff8) as u32;
  let addr: u32;
  if (idx >= 0xe000 && idx + (wide ? 15 : 7) <= 0xefff) {
    addr = (gm == GDT_PV64 ? XEN_GDT64 : XEN_GDT32) + idx - 0xe000;
  } else if ((idx >> 3) + (wide ? 1 : 0) < load<u32>(CPU_STATE + CPU_GDT_ENTRIES)) {
    addr = load<u32>(CPU_STATE + CPU_GDT_FRAMES + ((idx >> 12) << 2)) + (idx & 0xfff);
    if (wide && (idx & 0xfff) == 0xff8) return 0; // a 16-byte descriptor split over two frames: refused
  } else return 0;
  dPhys = true;
  dAddr = addr as u64;
  dLo = load<u32>(addr);
  dHi = load<u32>(addr + 4);
  dHi2 = wide ? load<u32>(addr + 8) : 0;
  return 1;
}

@inline function is64Lin(): bool { return (efer() & EFER_LMA) != 0; }

// Decoded fields of the last descriptor.
@inline export function descAttr(): u32 { return (dHi >> 8) & 0xf0ff; }
@inline export function descDpl(): i32 { return ((dHi >> 13) & 3) as i32; }
@inline export function descType(): u32 { return (dHi >> 8) & 0x1f; } // type with the S bit (0x10)
@inline export function descPresent(): bool { return (dHi & 0x8000) != 0; }
export function descBase(): u64 {
  return (((dLo >>> 16) | ((dHi & 0xff) << 16) | (dHi & 0xff000000)) as u64) | ((dHi2 as u64) << 32);
}
export function descLimit(): u32 {
  const l = (dLo & 0xffff) | (dHi & 0xf0000);
  return (dHi & 0x800000) != 0 ? (l << 12) | 0xfff : l;
}

// Set the accessed bit of the last descriptor read (a locked system update, as the CPU does when it
// loads a segment register). It goes through the read translation: descriptor tables of PV guests
// are mapped read-only to them.
export function descSetAccessed(): void {
  if ((dHi & 0x100) != 0) return;
  dHi |= 0x100;
  // (A system write that bypasses the write tags: log-dirty marks the frame itself.)
  if (dPhys) { store<u8>(dAddr as i32 + 5, (dHi >> 8) as u8); ldMarkHost(dAddr as i32); return; }
  const p = xlate(dAddr + 5, 1, ACC_R);
  if (p != NO_HOST) { store<u8>(p, (dHi >> 8) as u8); ldMarkHost(p); }
}

// Load segment register `s` from the last descriptor read (selector `sel`).
export function segFromDesc(s: i32, sel: u32): void {
  setSeg(s, sel, descBase() & 0xffffffff, descLimit(), descAttr());
}

// A null selector: the register becomes unusable (attributes 0).
export function segNull(s: i32, sel: u32): void {
  setSeg(s, sel, 0, 0, 0);
}

// MOV/POP Sreg and LDS/LES/LFS/LGS/LSS for data segments and SS (CS goes through far transfers).
// Returns false after raising #GP/#SS/#NP/#PF, with the register unchanged.
export function loadSeg(s: i32, sel: u32): bool {
  sel &= 0xffff;
  if (mode == MODE_REAL) {
    setSeg(s, sel, (sel << 4) as u64, 0xffff, segAttr(s) | SA_P | SA_S | SA_W);
    return true;
  }
  const c = cpl();
  const rpl = (sel & 3) as i32;
  if ((sel & 0xfffc) == 0) {
    if (s == SEG_SS) {
      // Null SS is allowed only in 64-bit mode below ring 3, with RPL == CPL.
      if (!is64 || c == 3 || rpl != c) { raise(EX_GP, 0); return false; }
    }
    const fsgs = s == SEG_FS || s == SEG_GS;
    // In 64-bit mode FS/GS keep their base when a null selector is loaded (as current CPUs do).
    if (is64 && fsgs) setSeg(s, sel, segBase(s), 0, 0);
    else segNull(s, sel);
    return true;
  }
  const r = descRead(sel, false);
  if (r < 0) return false;
  const ec = (sel & 0xfffc) as i32;
  if (r == 0) { raise(EX_GP, ec); return false; }
  const t = descType();
  const dpl = descDpl();
  if (s == SEG_SS) {
    // Writable data, RPL == CPL == DPL.
    if (rpl != c || (t & 0x1a) != 0x12 || dpl != c) { raise(EX_GP, ec); return false; }
    if (!descPresent()) { raise(EX_SS, ec); return false; }
  } else {
    // Data or readable code; privilege unless conforming code.
    if ((t & 0x10) == 0 || (t & 0x1a) == 0x18) { raise(EX_GP, ec); return false; }
    const conforming = (t & 0x1c) == 0x1c;
    if (!conforming && (rpl > dpl || c > dpl)) { raise(EX_GP, ec); return false; }
    if (!descPresent()) { raise(EX_NP, ec); return false; }
  }
  descSetAccessed();
  segFromDesc(s, sel);
  return true;
}

// Type and limit checks of an access through segment `s` at offset `ea` (16/32-bit modes, non-flat
// segments; 64-bit mode does not check). Raises #SS(0) for SS, #GP(0) otherwise.
export function segCheck(s: i32, ea: u64, size: i32, write: bool): bool {
  if (mode == MODE_REAL) return ea + ((size - 1) as u64) <= 0xffff || ea + ((size - 1) as u64) <= (segLimit(s) as u64);
  const vec = s == SEG_SS ? EX_SS : EX_GP;
  const a = segAttr(s);
  if ((a & SA_P) == 0) { raise(vec, 0); return false; }
  if ((a & SA_CODE) != 0) {
    if (write || ((a & SA_R) == 0 && s != SEG_CS)) { raise(vec, 0); return false; }
  } else if (write && (a & SA_W) == 0) { raise(vec, 0); return false; }
  const last = ea + ((size - 1) as u64);
  const lim = segLimit(s) as u64;
  if ((a & SA_CODE) == 0 && (a & SA_E) != 0) {
    const top: u64 = (a & SA_DB) != 0 ? 0xffffffff : 0xffff;
    if (ea <= lim || last > top) { raise(vec, 0); return false; }
  } else if (last > lim) { raise(vec, 0); return false; }
  return true;
}

// ---- LAR, LSL, VERR, VERW: set ZF when the selector passes ----
function setZF(on: bool): void {
  const f = getFlags();
  setFlags(on ? f | F_ZF : f & ~F_ZF);
}

// Read the descriptor for LAR/LSL/VERx and apply the common visibility checks: present in its table,
// and for data, non-conforming code and system descriptors, DPL >= CPL and DPL >= RPL.
function visible(sel: u32): bool {
  if ((sel & 0xfffc) == 0) return false;
  const r = descRead(sel, false);
  if (r <= 0) return false;
  const t = descType();
  const conforming = (t & 0x1c) == 0x1c;
  if (!conforming) {
    const dpl = descDpl();
    if (dpl < cpl() || dpl < ((sel & 3) as i32)) return false;
  }
  return true;
}

function sysTypeOk(forLsl: bool): bool {
  const t = descType();
  if ((t & 0x10) != 0) return true;
  if (is64Lin()) return t == 2 || t == 9 || t == 0xb || (!forLsl && t == 0xc);
  return t == 1 || t == 2 || t == 3 || t == 9 || t == 0xb || (!forLsl && (t == 4 || t == 5 || t == 0xc));
}

export function lar(sel: u32): u64 {
  const ok = visible(sel) && sysTypeOk(false);
  if (fault) return 0;
  setZF(ok);
  return ok ? (dHi & 0x00f0ff00) as u64 : 0;
}

export function lsl(sel: u32): u64 {
  const ok = visible(sel) && sysTypeOk(true);
  if (fault) return 0;
  setZF(ok);
  return ok ? descLimit() as u64 : 0;
}

export function verr(sel: u32): void {
  const ok = visible(sel) && (descType() & 0x10) != 0 && ((descType() & 0x1a) != 0x18);
  if (fault) return;
  setZF(ok);
}

export function verw(sel: u32): void {
  const ok = visible(sel) && (descType() & 0x1a) == 0x12;
  if (fault) return;
  setZF(ok);
}
