// A bare CPU for tests: flat segments, identity paging of the first 4 MiB (the data pages with the
// given permissions; ALIAS maps the code page a second time), code at CODE, RIP there. Its RAM lives at
// `base` of the core's linear memory (default MACHINE_BASE; tests put it across and above 2 GiB: HIGH_BASES).
import { Core, MM } from "../../host/core";

export const RAM = 8 << 20;
export const CODE = 0x100000, DATA = 0x200000, STACK = 0x80000, ALIAS = 0x300000;
const PT = 0x10000; // page tables from here

/** A data page's mapping: read-write, read-only, not present, or read-write for the supervisor only ("sup":
 *  its PTE lacks the U bit; a machine with such a page maps every other page for user mode too, whatever
 *  its CPL, so that code may go from CPL 0/1 to 3 and find that one page forbidden). */
export type Perm = "rw" | "ro" | "none" | "sup";

/** RAM bases high in linear memory: the second data page starts at 2 GiB (code, stack, page tables and the
 *  first data page below it); everything above 2 GiB; the RAM's end 64 KiB below 4 GiB (frames.ts FRAMES_LIMIT). */
export const HIGH_BASES = [0x8000_0000 - DATA - 0x1000, 0xc000_0000, 0x1_0000_0000 - 0x10000 - RAM];

// Identity paging for [0, 4 MiB) with the data pages' permissions; ALIAS maps the code page again.
function pageTables(core: Core, bits: 32 | 64, user: boolean, dataPerm: Perm[], M: number): void {
  const v = core.view();
  const U = user ? 4 : 0;
  const pte = (page: number): number => {
    const a = page << 12;
    if (a >= DATA && a < DATA + dataPerm.length * 4096) {
      const p = dataPerm[(a - DATA) >> 12];
      return p === "none" ? 0 : p === "sup" ? a | 1 | 2 : a | 1 | U | (p === "rw" ? 2 : 0);
    }
    if (a === ALIAS) return CODE | 1 | 2 | U;
    return a | 1 | 2 | U;
  };
  if (bits === 64) {
    v.setBigUint64(M + PT, BigInt(PT + 0x1000 | 7), true); // PML4[0]
    v.setBigUint64(M + PT + 0x1000, BigInt(PT + 0x2000 | 7), true); // PDPT[0]
    v.setBigUint64(M + PT + 0x2000, BigInt(PT + 0x3000 | 7), true); // PD[0]: 0-2 MiB
    v.setBigUint64(M + PT + 0x2000 + 8, BigInt(PT + 0x4000 | 7), true); // PD[1]: 2-4 MiB
    for (let i = 0; i < 1024; i++) v.setBigUint64(M + PT + 0x3000 + i * 8, BigInt(pte(i)), true);
  } else {
    v.setUint32(M + PT, (PT + 0x1000) | 7, true); // PDE 0: 0-4 MiB
    for (let i = 0; i < 1024; i++) v.setUint32(M + PT + 0x1000 + i * 4, pte(i), true);
  }
}

export async function machine(
  bits: 32 | 64, mode: "force" | "off" | "on", code: Uint8Array, cpl: number, perms: Perm[], threshold = 0,
  base = MM.MACHINE_BASE
): Promise<Core> {
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true }, { mode, threshold });
  core.ensureMemory(base + RAM);
  core.x.set_phys_window(base, RAM);
  core.x.cpu_reset_flat(bits === 64 ? MM.MODE_LONG64 : MM.MODE_PROT32, cpl);
  core.bytes().set(code, base + CODE);
  const d = core.bytes();
  for (let i = 0; i < perms.length * 4096; i++) d[base + DATA + i] = (i * 7 + 3) & 0xff;
  pageTables(core, bits, cpl === 3 || perms.includes("sup"), perms, base);
  core.setU64(MM.CPU_CR3, BigInt(PT));
  core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) | 0x80010000n); // PG, WP
  core.rip = BigInt(CODE);
  core.setReg(4, BigInt(STACK));
  core.setReg(3, BigInt(DATA + 0x800));
  if (bits === 64) core.setU64(MM.CPU_SEG + MM.SEG_GS * MM.SEG_SIZE + MM.SEGF_BASE, BigInt(DATA + 0x800));
  core.x.cpu_state_changed();
  return core;
}
