// A protected-mode or long-mode test machine with real descriptor tables, for the system tests (unit
// tests derived from the Intel SDM). Physical layout (paging off unless a test builds page tables):
//   0x1000 GDT, 0x2000 IDT, 0x3000 TSS (32-bit and 64-bit layouts share it), 0x10000.. page tables,
//   0x80000 ring-3 stack top, 0x90000 ring-0 stack top, 0x98000 IST1 top, 0x100000 code (handlers at
//   code + 0x1000 * n).
import { Core, MM } from "../../host/core";
import { asm } from "./asm";

export const RAM = 8 << 20;
export const GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, CODE = 0x100000;
export const STACK3 = 0x80000, STACK0 = 0x90000, STACK1 = 0x88000, IST1 = 0x98000;

// Selectors (a Linux-like layout, so that SYSCALL/SYSRET/SYSENTER find what they expect).
export const K_CS32 = 0x08, K_CS64 = 0x10, K_DS = 0x18, U_CS32 = 0x23, U_DS = 0x2b, U_CS64 = 0x33;
export const TSS32_SEL = 0x38, TSS64_SEL = 0x40, R1_CS = 0x51, R1_DS = 0x59;
export const EXPDOWN_SEL = 0x60, RODATA_SEL = 0x68, NOTPRESENT_SEL = 0x70, CALLGATE_SEL = 0x78, R1_EXPUP_SEL = 0x80;
export const GDT_LIMIT = 0x8f;

// A code/data descriptor: type (4 bits), S=1.
export function seg(
  base: number, limit: number, type: number, dpl: number,
  opts: { l?: boolean; db?: boolean; g?: boolean; p?: boolean } = {}
): bigint {
  const g = opts.g ?? true, p = opts.p ?? true, db = opts.db ?? true, l = opts.l ?? false;
  const lim = g ? limit >>> 12 : limit;
  const lo = ((base & 0xffff) << 16) | (lim & 0xffff);
  const hi = ((base >>> 16) & 0xff) | (type << 8) | (1 << 12) | (dpl << 13) | ((p ? 1 : 0) << 15) |
    (lim & 0xf0000) | ((l ? 1 : 0) << 21) | ((db ? 1 : 0) << 22) | ((g ? 1 : 0) << 23) | (base & 0xff000000);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
// A system descriptor (S=0) with base/limit (TSS, LDT).
export function sysDesc(base: number, limit: number, type: number, dpl = 0): bigint {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = ((base >>> 16) & 0xff) | (type << 8) | (dpl << 13) | (1 << 15) | (limit & 0xf0000) | (base & 0xff000000);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
// A gate (interrupt 0xE, trap 0xF, call 0xC) in 8-byte legacy form (the low half for long mode).
export function gate(sel: number, off: number, type: number, dpl: number, ist = 0, params = 0): bigint {
  const lo = (sel << 16) | (off & 0xffff);
  const hi = (off & 0xffff0000) | (1 << 15) | (dpl << 13) | (type << 8) | ist | params;
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export interface SysMachine {
  core: Core;
  phys(addr: number): number; // host offset of a physical address
  w64(addr: number, v: bigint): void;
  w32(addr: number, v: number): void;
  r64(addr: number): bigint;
  r32(addr: number): number;
  setGate(vec: number, sel: number, off: number, type?: number, dpl?: number, ist?: number): void;
  loadSeg(slot: number, sel: number): void; // load a segment cache from the GDT (no checks)
  run(budget?: number): number;
  long: boolean;
}

export interface SysOpts {
  long?: boolean; // long mode (64-bit code) instead of 32-bit protected mode
  cpl?: number; // 0 or 3 (1 for a 32-bit ring-1 start)
  src: string; // assembly (AT&T), placed at CODE; use `.org 0x1000*n` for handlers
  paging?: boolean; // identity-map the first 8 MiB (PAE 2 MiB pages in long mode, 4 MiB pages otherwise)
}

export async function sysMachine(o: SysOpts): Promise<SysMachine> {
  const long = o.long ?? false;
  const core = await Core.create({ ioIn: () => 0, ioOut: () => false });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  core.x.cpu_reset_flat(long ? MM.MODE_LONG64 : MM.MODE_PROT32, 0);
  const B = MM.MACHINE_BASE;
  const dv = () => core.view();
  const m: SysMachine = {
    core, long,
    phys: (a) => B + a,
    w64: (a, v) => dv().setBigUint64(B + a, BigInt.asUintN(64, v), true),
    w32: (a, v) => dv().setUint32(B + a, v >>> 0, true),
    r64: (a) => dv().getBigUint64(B + a, true),
    r32: (a) => dv().getUint32(B + a, true),
    setGate(vec, sel, off, type = 0xe, dpl = 0, ist = 0) {
      if (long) {
        m.w64(IDT + vec * 16, gate(sel, off, type, dpl, ist));
        m.w64(IDT + vec * 16 + 8, BigInt(Math.floor(off / 2 ** 32)));
      } else m.w64(IDT + vec * 8, gate(sel, off, type, dpl));
    },
    loadSeg(slot, sel) {
      const d = m.r64(GDT + (sel & ~7));
      const lo = Number(d & 0xffffffffn), hi = Number(d >> 32n);
      const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
      let limit = (lo & 0xffff) | (hi & 0xf0000);
      if (hi & 0x800000) limit = ((limit << 12) | 0xfff) >>> 0;
      const attr = (hi >>> 8) & 0xf0ff;
      const p = MM.CPU_SEG + slot * MM.SEG_SIZE;
      core.view().setUint16(MM.CPU_STATE + p, sel, true);
      core.view().setUint16(MM.CPU_STATE + p + MM.SEGF_ATTR, attr, true);
      core.setU32(p + MM.SEGF_LIMIT, limit);
      core.setU64(p + MM.SEGF_BASE, BigInt(base));
    },
    run: (budget = 100000) => core.run(budget),
  };
  // GDT.
  const F = 0xfffff000 | 0xfff;
  const gdt: [number, bigint][] = [
    [K_CS32, seg(0, F, 0xb, 0)], [K_CS64, seg(0, F, 0xb, 0, { l: true, db: false })], [K_DS, seg(0, F, 0x3, 0)],
    [U_CS32, seg(0, F, 0xb, 3)], [U_DS, seg(0, F, 0x3, 3)], [U_CS64, seg(0, F, 0xb, 3, { l: true, db: false })],
    [TSS32_SEL, sysDesc(TSS, 0x67 + 0x2000, 0x9)], [R1_CS, seg(0, F, 0xb, 1)], [R1_DS, seg(0, F, 0x3, 1)],
    [EXPDOWN_SEL, seg(0, 0xfff, 0x7, 0, { g: false })], [RODATA_SEL, seg(0, F, 0x1, 0)],
    [NOTPRESENT_SEL, seg(0, F, 0x3, 0, { p: false })],
    [CALLGATE_SEL, gate(K_CS32, CODE + 0x3000, 0xc, 3)],
    [R1_EXPUP_SEL, seg(0x200000, 0xffff, 0x3, 0, { g: false })],
  ];
  for (const [sel, d] of gdt) m.w64(GDT + (sel & ~7), d);
  // 64-bit TSS descriptor (16 bytes) at 0x40.
  m.w64(GDT + TSS64_SEL, sysDesc(TSS, 0x67 + 0x2000, 0x9));
  m.w64(GDT + TSS64_SEL + 8, 0n);
  core.setU64(MM.CPU_GDTR_BASE, BigInt(GDT));
  core.setU32(MM.CPU_GDTR_LIMIT, GDT_LIMIT);
  core.setU64(MM.CPU_IDTR_BASE, BigInt(IDT));
  core.setU32(MM.CPU_IDTR_LIMIT, long ? 256 * 16 - 1 : 256 * 8 - 1);
  // TSS: ring-0 stack, ring-1 stack, IST1; I/O bitmap at 0x68 (all ports denied except 0x80).
  if (long) {
    m.w64(TSS + 4, BigInt(STACK0));
    m.w64(TSS + 0x24, BigInt(IST1));
  } else {
    m.w32(TSS + 4, STACK0); m.w32(TSS + 8, K_DS);
    m.w32(TSS + 12, STACK1); m.w32(TSS + 16, R1_DS);
  }
  core.view().setUint16(B + TSS + 102, 0x68, true);
  for (let i = 0; i < 0x2000; i++) core.bytes()[B + TSS + 0x68 + i] = 0xff;
  core.bytes()[B + TSS + 0x68 + (0x80 >> 3)] = 0xfe; // port 0x80 allowed
  m.loadSeg(MM.SEG_TR, long ? TSS64_SEL : TSS32_SEL);
  const cpl = o.cpl ?? 0;
  const cs = long ? (cpl === 3 ? U_CS64 : K_CS64) : (cpl === 3 ? U_CS32 : cpl === 1 ? R1_CS : K_CS32);
  const ds = cpl === 3 ? U_DS : cpl === 1 ? R1_DS : K_DS;
  m.loadSeg(MM.SEG_CS, cs);
  for (const s of [MM.SEG_SS, MM.SEG_DS, MM.SEG_ES, MM.SEG_FS, MM.SEG_GS]) m.loadSeg(s, ds);
  core.setU32(MM.CPU_CPL, cpl);
  if (o.paging) {
    if (long) {
      // PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000 with 2 MiB pages (U/S, R/W).
      m.w64(0x10000, 0x11007n); m.w64(0x11000, 0x12007n);
      for (let i = 0; i < 4; i++) m.w64(0x12000 + i * 8, BigInt(i * 0x200000) | 0x87n);
      core.setU64(MM.CPU_CR3, 0x10000n);
    } else {
      for (let i = 0; i < 2; i++) m.w32(0x10000 + i * 4, (i * 0x400000) | 0x87);
      core.setU64(MM.CPU_CR3, 0x10000n);
      core.setU64(MM.CPU_CR4, core.u64(MM.CPU_CR4) | 0x10n); // PSE
    }
    core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) | 0x80000000n);
  }
  core.bytes().set(asm(o.src, long ? 64 : 32, CODE), B + CODE);
  core.rip = BigInt(CODE);
  core.setReg(4, BigInt(cpl === 3 ? STACK3 : cpl === 1 ? STACK1 : STACK0));
  core.rflags = 2n;
  core.x.cpu_state_changed();
  return m;
}

export function seg16(core: Core, slot: number): { sel: number; attr: number; limit: number; base: bigint } {
  const p = MM.CPU_SEG + slot * MM.SEG_SIZE;
  const v = core.view();
  return {
    sel: v.getUint16(MM.CPU_STATE + p, true), attr: v.getUint16(MM.CPU_STATE + p + MM.SEGF_ATTR, true),
    limit: core.u32(p + MM.SEGF_LIMIT), base: core.u64(p + MM.SEGF_BASE)
  };
}
