// A hostile instruction stream never traps the wasm module and never hangs the host: random bytes are
// executed in 32-bit and 64-bit mode, at CPL 0 and 3, with and without paging structures, and every
// run() returns a valid exit reason within its budget.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Core, MM } from "../host/core";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

const RAM = 4 << 20;
const VALID_EXITS = new Set([MM.EXIT_BUDGET, MM.EXIT_HLT, MM.EXIT_HOST, MM.EXIT_INTERCEPT,
  MM.EXIT_TRIPLE_FAULT, MM.EXIT_SYSCALL, MM.EXIT_SYSENTER, MM.EXIT_UNHANDLED, MM.EXIT_CPUID, MM.EXIT_IO]);

// tables: random memory also serves as GDT, IDT, TSS and (with paging) page tables, so that event
// delivery, segment loads and page walks run on garbage too.
async function fuzz(mode: number, cpl: number, seed: number, rounds: number, tables = false): Promise<number> {
  const core = await Core.create({ ioIn: () => 0, ioOut: () => false });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  const r = rng(seed);
  const bytes = core.bytes();
  for (let i = 0; i < RAM; i += 4) {
    const v = r();
    bytes[MM.MACHINE_BASE + i] = v; bytes[MM.MACHINE_BASE + i + 1] = v >>> 8;
    bytes[MM.MACHINE_BASE + i + 2] = v >>> 16; bytes[MM.MACHINE_BASE + i + 3] = v >>> 24;
  }
  let steps = 0;
  for (let k = 0; k < rounds; k++) {
    core.x.cpu_reset_flat(mode, cpl);
    for (let g = 0; g < 16; g++) core.setReg(g, BigInt(r() % RAM));
    core.rip = BigInt(r() % RAM);
    if (tables) {
      core.setU64(MM.CPU_GDTR_BASE, BigInt(r() % RAM)); core.setU32(MM.CPU_GDTR_LIMIT, r() & 0xffff);
      core.setU64(MM.CPU_IDTR_BASE, BigInt(r() % RAM)); core.setU32(MM.CPU_IDTR_LIMIT, r() & 0xfff);
      // TR: a 32/64-bit TSS somewhere in RAM.
      const tr = MM.CPU_SEG + MM.SEG_TR * MM.SEG_SIZE;
      core.setU32(tr + 4, 0x2067); core.setU64(tr + 8, BigInt(r() % RAM));
      if (k % 2 === 1) {
        core.setU64(MM.CPU_CR3, BigInt(r() % RAM) & ~0xfffn);
        core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) | 0x80010000n);
        if (mode !== MM.MODE_LONG64 && (k & 2)) core.setU64(MM.CPU_CR4, 0x30n); // PAE + PSE
        core.setU64(MM.CPU_EFER, core.u64(MM.CPU_EFER) | 0x801n);
      }
      core.rflags = BigInt(2 | (r() & 0x100));
    }
    core.x.cpu_state_changed();
    const budget = 2000;
    for (let slice = 0; slice < 3; slice++) {
      const exit = core.run(budget);
      assert.ok(VALID_EXITS.has(exit), `exit reason ${exit}`);
      if (exit === MM.EXIT_TRIPLE_FAULT) break;
    }
    steps++;
  }
  return steps;
}

for (const [mode, name] of [[MM.MODE_PROT32, "32-bit"], [MM.MODE_LONG64, "64-bit"]] as const) {
  for (const cpl of [0, 3]) {
    test(`random code never traps the core: ${name} CPL${cpl}`, async () => {
      const n = await fuzz(mode, cpl, 0x1234567 + mode * 7 + cpl, 300);
      assert.is(n, 300);
    });
    test(`random code with random GDT/IDT/TSS/page tables never traps the core: ${name} CPL${cpl}`, async () => {
      const n = await fuzz(mode, cpl, 0x7654321 + mode * 7 + cpl, 300, true);
      assert.is(n, 300);
    });
  }
}

test.run();
