// Page-table walker: 32-bit 2-level paging (4 KiB and, with CR4.PSE, 4 MiB pages), PAE 3-level
// paging (4 KiB and 2 MiB pages), and 4-level long-mode paging. U/S and R/W accumulate over the
// levels; CR0.WP makes supervisor writes honour R/W; EFER.NXE enables the XD bit; accessed bits are
// set on every level walked and the dirty bit on writes; global pages (G with CR4.PGE) survive CR3
// writes in the TLB. Reserved bits (above MAXPHYADDR = 36, XD without NXE, PS where it has no meaning,
// and the low bits of a large page's address) give #PF with the RSVD bit.
//
// Page tables are read from guest-physical memory through the TLB's physical window (bare machines),
// which for PV guests is the identity: their tables hold machine addresses.
import { CPU_STATE, CPU_CR0, CPU_CR3, CPU_CR4, CPU_EFER, NO_HOST } from "../memmap";
import { paging, physBase, physLimit } from "./ctx";
import { CR0_WP, CR4_PAE, CR4_PSE, CR4_PGE, EFER_LMA, EFER_NXE, ACC_W, ACC_U, ACC_X, PF_P, PF_RSVD } from "../bits";
import { raisePF } from "../cpu/fault";
import { ldMarkHost } from "./logdirty";

// Results of the last successful walk, for the TLB fill.
export let walkWritable: bool = false; // a write at this privilege is allowed AND the dirty bit is set
export let walkExec: bool = false; // instruction fetch allowed at this privilege
export let walkGlobal: bool = false; // the translation is global (CR4.PGE and G set)

const PTE_P: u64 = 1;
const PTE_W: u64 = 2;
const PTE_U: u64 = 4;
const PTE_A: u64 = 0x20;
const PTE_D: u64 = 0x40;
const PTE_PS: u64 = 0x80;
const PTE_G: u64 = 0x100;
const PTE_XD: u64 = 1 << 63;

const ADDR: u64 = 0x0000000ffffff000; // bits 12..35: MAXPHYADDR 36
const RSVD_HI: u64 = 0x000ffff000000000; // bits 36..51

// Host addresses of the entries walked (for the accessed/dirty updates); NO_HOST outside RAM.
let h0: i32 = NO_HOST, h1: i32 = NO_HOST, h2: i32 = NO_HOST, h3: i32 = NO_HOST;

@inline function host(phys: u64, size: i32): i32 {
  return phys + (size as u64) <= physLimit ? (phys + physBase) as i32 : NO_HOST;
}
// An entry outside RAM reads as all ones (as a bus with nothing on it would answer).
@inline function rd64(h: i32): u64 { return h == NO_HOST ? <u64>-1 : load<u64>(h); }
@inline function rd32(h: i32): u64 { return h == NO_HOST ? 0xffffffff : load<u32>(h) as u64; }

// (A page-table frame whose A/D bits change is written: log-dirty marks it, mmu/logdirty.ts.)
function setA(h: i32, wide: bool): void {
  if (h == NO_HOST) return;
  if (wide) { const e = load<u64>(h); if ((e & PTE_A) == 0) { store<u64>(h, e | PTE_A); ldMarkHost(h); } }
  else { const e = load<u32>(h); if ((e & (PTE_A as u32)) == 0) { store<u32>(h, e | (PTE_A as u32)); ldMarkHost(h); } }
}

// Translate linear `lin` for access `acc` (ACC_W 2, ACC_U 4, ACC_X 16). Returns the physical address
// of the 4 KiB page (an offset inside a large page is included) or -1 after raising #PF (CR2 = lin).
export function walk(lin: u64, acc: i32): i64 {
  if (!paging) {
    walkWritable = true;
    walkExec = true;
    walkGlobal = false;
    return (lin & ~(0xfff as u64)) as i64;
  }
  const cr0 = load<u64>(CPU_STATE + CPU_CR0);
  const cr3 = load<u64>(CPU_STATE + CPU_CR3);
  const cr4 = load<u64>(CPU_STATE + CPU_CR4);
  const efer = load<u64>(CPU_STATE + CPU_EFER);
  const user = (acc & ACC_U) != 0;
  const write = (acc & ACC_W) != 0;
  const fetch = (acc & ACC_X) != 0;
  const wp = (cr0 & CR0_WP) != 0;
  const pae = (cr4 & CR4_PAE) != 0;
  const nxe = pae && (efer & EFER_NXE) != 0;
  // The error code's I/D bit exists only with PAE/long paging and NXE.
  const errBase = (acc & (ACC_W | ACC_U)) | (fetch && nxe ? ACC_X : 0);
  let w = true, u = true, nx = false;
  let page: u64 = 0;
  let last: u64 = 0; // the final entry
  let lastH: i32 = NO_HOST;
  h0 = NO_HOST; h1 = NO_HOST; h2 = NO_HOST; h3 = NO_HOST;

  if (!pae) {
    // 2-level: PDE, then PTE (or a 4 MiB page).
    const pdeH = host((cr3 & 0xfffff000) + (((lin >> 22) & 0x3ff) << 2), 4);
    const pde = rd32(pdeH);
    if ((pde & PTE_P) == 0) { raisePF(lin, errBase); return -1; }
    h0 = pdeH;
    w = (pde & PTE_W) != 0; u = (pde & PTE_U) != 0;
    if ((pde & PTE_PS) != 0 && (cr4 & CR4_PSE) != 0) {
      if ((pde & 0x3e0000) != 0) { raisePF(lin, errBase | PF_P | PF_RSVD); return -1; } // PSE-36: bits 17-21
      page = (pde & 0xffc00000) | (((pde >> 13) & 0xf) << 32) | (lin & 0x3ff000);
      last = pde; lastH = pdeH;
    } else {
      const pteH = host((pde & 0xfffff000) + (((lin >> 12) & 0x3ff) << 2), 4);
      const pte = rd32(pteH);
      if ((pte & PTE_P) == 0) { raisePF(lin, errBase); return -1; }
      h1 = pteH;
      w = w && (pte & PTE_W) != 0; u = u && (pte & PTE_U) != 0;
      page = pte & 0xfffff000;
      last = pte; lastH = pteH;
    }
  } else {
    let table: u64;
    let level: i32;
    const long = (efer & EFER_LMA) != 0;
    if (long) {
      table = cr3 & ADDR;
      level = 4;
    } else {
      // PAE: the PDPTE (its R/W, U/S and XD bits are reserved).
      const pH = host((cr3 & 0xffffffe0) + (((lin >> 30) & 3) << 3), 8);
      const pdpte = rd64(pH);
      if ((pdpte & PTE_P) == 0) { raisePF(lin, errBase); return -1; }
      if ((pdpte & (RSVD_HI | PTE_XD | 0x1e6)) != 0) { raisePF(lin, errBase | PF_P | PF_RSVD); return -1; }
      table = pdpte & ADDR;
      level = 2;
    }
    while (true) {
      const shift = (12 + 9 * (level - 1)) as u64;
      const eH = host(table + (((lin >> shift) & 0x1ff) << 3), 8);
      const e = rd64(eH);
      if ((e & PTE_P) == 0) { raisePF(lin, errBase); return -1; }
      let rsvd = (e & RSVD_HI) != 0 || (!nxe && (e & PTE_XD) != 0);
      const large = (e & PTE_PS) != 0 && level > 1;
      if (large && level >= 3) rsvd = true; // no 1 GiB pages (not offered by CPUID); PS in a PML4E is reserved
      if (large && level == 2 && (e & 0x1fe000) != 0) rsvd = true;
      if (rsvd) { raisePF(lin, errBase | PF_P | PF_RSVD); return -1; }
      if (level == 4) h0 = eH; else if (level == 3) h1 = eH; else if (level == 2) h2 = eH; else h3 = eH;
      w = w && (e & PTE_W) != 0;
      u = u && (e & PTE_U) != 0;
      nx = nx || (nxe && (e & PTE_XD) != 0);
      if (large) {
        page = (e & ADDR & ~(0x1fffff as u64)) | (lin & 0x1ff000);
        last = e; lastH = eH;
        break;
      }
      if (level == 1) {
        page = e & ADDR;
        last = e; lastH = eH;
        break;
      }
      table = e & ADDR;
      level--;
    }
  }

  // Permissions.
  if (user && !u) { raisePF(lin, errBase | PF_P); return -1; }
  if (write && !w && (user || wp)) { raisePF(lin, errBase | PF_P); return -1; }
  if (fetch && nx) { raisePF(lin, errBase | PF_P); return -1; }

  // Accessed on every level, dirty on the final entry for writes.
  const wide = pae;
  setA(h0, wide); setA(h1, wide); setA(h2, wide); setA(h3, wide);
  let dirty = (last & PTE_D) != 0;
  if (write && !dirty && lastH != NO_HOST) {
    if (wide) store<u64>(lastH, load<u64>(lastH) | PTE_D | PTE_A);
    else store<u32>(lastH, load<u32>(lastH) | ((PTE_D | PTE_A) as u32));
    ldMarkHost(lastH);
    dirty = true;
  }
  walkWritable = dirty && (w || (!user && !wp));
  walkExec = !nx;
  walkGlobal = (last & PTE_G) != 0 && (cr4 & CR4_PGE) != 0;
  return page as i64;
}

// Host address of the 4 KiB entry that maps `lin` in the current long-mode (4-level) tables, or NO_HOST: a
// level not present, a large page, or other paging. It only reads: no fault, no accessed bits (the PV
// page-table write emulation, hv/ptwr.ts, finds there the L1 entry that made a write fault).
export function leafEntryHost(lin: u64): i32 {
  if ((load<u64>(CPU_STATE + CPU_EFER) & EFER_LMA) == 0) return NO_HOST;
  let table = load<u64>(CPU_STATE + CPU_CR3) & ADDR;
  for (let level = 4; level >= 2; level--) {
    const h = host(table + (((lin >> ((12 + 9 * (level - 1)) as u64)) & 0x1ff) << 3), 8);
    if (h == NO_HOST) return NO_HOST;
    const e = load<u64>(h);
    if ((e & PTE_P) == 0 || (e & PTE_PS) != 0) return NO_HOST;
    table = e & ADDR;
  }
  return host(table + (((lin >> 12) & 0x1ff) << 3), 8);
}
