// A hostile instruction stream never traps the wasm module and never hangs the host: random bytes run
// in every mode of the CPU (real, 16- and 32-bit protected, 16- and 32-bit compatibility, 64-bit long),
// at CPL 0 and 3, with paging off and on (identity page tables built for the mode: 2-level with 4 MiB
// pages, PAE, 4-level), and half the rounds with random GDT/IDT/TSS (and, with paging, random page
// tables), random vector and instruction intercepts, and a port whose host handler asks to stop.
// Every run() must
// - retire no more instructions than its budget (CPU_INSNS);
// - return an exit reason possible for that input: the intercept exits only for what is intercepted
//   (EXIT_INTERCEPT with an intercepted vector), EXIT_HOST only after the host's handler asked for it,
//   EXIT_HLT only at CPL 0, EXIT_UNHANDLED only without an IDT (real mode or an IDT limit of 0) and
//   for a vector not intercepted, EXIT_TRIPLE_FAULT only with one.
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
const PT = RAM - 0x10000; // identity page tables live here (random code may overwrite them: fuzz too)
const BUDGET = 2000;
const STOP_PORT = 0xf4;
const SA_L = 0x2000, SA_DB = 0x4000;
const CR0_PE = 1n, CR0_WP = 0x10000n, CR0_PG = 0x80000000n, CR4_PSE = 0x10n, CR4_PAE = 0x20n, EFER_SCE = 1n;
const NAMES: Record<number, string> = {
  [MM.EXIT_BUDGET]: "BUDGET", [MM.EXIT_HLT]: "HLT", [MM.EXIT_HOST]: "HOST", [MM.EXIT_INTERCEPT]: "INTERCEPT",
  [MM.EXIT_TRIPLE_FAULT]: "TRIPLE_FAULT", [MM.EXIT_SYSCALL]: "SYSCALL", [MM.EXIT_SYSENTER]: "SYSENTER",
  [MM.EXIT_UNHANDLED]: "UNHANDLED", [MM.EXIT_CPUID]: "CPUID", [MM.EXIT_IO]: "IO",
};
const MODES = [
  [MM.MODE_REAL, "real mode"], [MM.MODE_PROT16, "16-bit protected"], [MM.MODE_PROT32, "32-bit protected"],
  [MM.MODE_COMPAT16, "16-bit compatibility"], [MM.MODE_COMPAT32, "32-bit compatibility"],
  [MM.MODE_LONG64, "64-bit long"],
] as const;

const seg = (s: number) => MM.CPU_SEG + s * MM.SEG_SIZE;

/** Identity page tables for `mode` at PT (physical = guest RAM offset); returns [CR3, CR4 bits]. */
function pageTables(v: DataView, mode: number, k: number): [bigint, bigint] {
  const at = (p: number) => MM.MACHINE_BASE + p;
  const P = 0x1, RW = 0x2, US = 0x4, PS = 0x80;
  const flags = P | RW | US | PS;
  const long = mode === MM.MODE_LONG64 || mode === MM.MODE_COMPAT16 || mode === MM.MODE_COMPAT32;
  if (long) {
    // PML4[0] -> PDPT[0..3] -> four PDs of 2 MiB pages: the low 4 GiB.
    v.setBigUint64(at(PT), BigInt(PT + 0x1000 | P | RW | US), true);
    for (let i = 0; i < 4; i++) {
      v.setBigUint64(at(PT + 0x1000 + i * 8), BigInt(PT + 0x2000 + i * 0x1000 | P | RW | US), true);
      for (let j = 0; j < 512; j++)
        v.setBigUint64(at(PT + 0x2000 + i * 0x1000 + j * 8), (BigInt(i * 512 + j) << 21n) | BigInt(flags), true);
    }
    return [BigInt(PT), CR4_PAE];
  }
  if (k & 2) {
    // PAE: PDPT (4 entries) -> four PDs of 2 MiB pages.
    for (let i = 0; i < 4; i++) {
      v.setBigUint64(at(PT + i * 8), BigInt(PT + 0x1000 + i * 0x1000 | P), true);
      for (let j = 0; j < 512; j++)
        v.setBigUint64(at(PT + 0x1000 + i * 0x1000 + j * 8), (BigInt(i * 512 + j) << 21n) | BigInt(flags), true);
    }
    return [BigInt(PT), CR4_PAE | CR4_PSE];
  }
  // 2-level with PSE: one page directory of 4 MiB pages.
  for (let j = 0; j < 1024; j++) v.setUint32(at(PT + j * 4), ((j << 22) | flags) >>> 0, true);
  return [BigInt(PT), CR4_PSE];
}

interface Tally { exits: Map<string, number>; retired: number; rounds: number }

async function fuzz(mode: number, cpl: number, paging: boolean, seed: number, rounds: number): Promise<Tally> {
  let stopAsked = false, stopPort = false;
  const core = await Core.create({
    ioIn: () => 0,
    ioOut: (port) => { if (stopPort && port === STOP_PORT) { stopAsked = true; return true; } return false; }
  });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  const r = rng(seed);
  const bytes = core.bytes();
  for (let i = 0; i < RAM; i += 4) {
    const v = r();
    bytes[MM.MACHINE_BASE + i] = v; bytes[MM.MACHINE_BASE + i + 1] = v >>> 8;
    bytes[MM.MACHINE_BASE + i + 2] = v >>> 16; bytes[MM.MACHINE_BASE + i + 3] = v >>> 24;
  }
  const tally: Tally = { exits: new Map(), retired: 0, rounds: 0 };
  const long = mode === MM.MODE_LONG64 || mode === MM.MODE_COMPAT16 || mode === MM.MODE_COMPAT32;
  for (let k = 0; k < rounds; k++) {
    const tables = (k & 1) === 1; // odd rounds: random descriptor tables (and random page tables)
    core.x.cpu_reset_flat(long ? MM.MODE_LONG64 : MM.MODE_PROT32, cpl);
    const view = core.view();
    for (let g = 0; g < 16; g++) core.setReg(g, BigInt(r() % RAM));
    core.rip = BigInt(r() % RAM);
    if (mode === MM.MODE_REAL) {
      core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) & ~CR0_PE);
      for (let s = MM.SEG_ES; s <= MM.SEG_GS; s++) {
        const sel = r() & 0xffff;
        view.setUint16(MM.CPU_STATE + seg(s), sel, true);
        view.setUint16(MM.CPU_STATE + seg(s) + MM.SEGF_ATTR, s === MM.SEG_CS ? 0x9b : 0x93, true);
        core.setU32(seg(s) + MM.SEGF_LIMIT, 0xffff);
        core.setU64(seg(s) + MM.SEGF_BASE, BigInt(sel << 4));
      }
      core.rip = BigInt(r() & 0xffff);
    } else if (mode === MM.MODE_PROT16 || mode === MM.MODE_COMPAT16 || mode === MM.MODE_COMPAT32) {
      const a = view.getUint16(MM.CPU_STATE + seg(MM.SEG_CS) + MM.SEGF_ATTR, true) & ~(SA_L | SA_DB);
      view.setUint16(MM.CPU_STATE + seg(MM.SEG_CS) + MM.SEGF_ATTR, a | (mode === MM.MODE_COMPAT32 ? SA_DB : 0), true);
      if (mode !== MM.MODE_COMPAT32) core.rip = BigInt(r() & 0xffff);
    }
    if (long) core.setU64(MM.CPU_EFER, core.u64(MM.CPU_EFER) | EFER_SCE);
    if (paging) {
      if (tables && (k & 2)) {
        core.setU64(MM.CPU_CR3, BigInt(r() % RAM) & ~0xfffn); // random page tables
        core.setU64(MM.CPU_CR4, long ? CR4_PAE : (k & 4 ? CR4_PAE | CR4_PSE : CR4_PSE));
      } else {
        const [cr3, cr4] = pageTables(view, mode, k);
        core.setU64(MM.CPU_CR3, cr3); core.setU64(MM.CPU_CR4, cr4);
      }
      core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) | CR0_PG | CR0_WP);
    } else if (long) {
      core.setU64(MM.CPU_CR0, core.u64(MM.CPU_CR0) & ~CR0_PG); // the core's identity-mapped long mode
    }
    if (tables) {
      core.setU64(MM.CPU_GDTR_BASE, BigInt(r() % RAM)); core.setU32(MM.CPU_GDTR_LIMIT, r() & 0xffff);
      core.setU64(MM.CPU_IDTR_BASE, BigInt(r() % RAM)); core.setU32(MM.CPU_IDTR_LIMIT, (r() & 0xfff) | 7);
      // TR: a 32/64-bit TSS somewhere in RAM.
      core.setU32(seg(MM.SEG_TR) + MM.SEGF_LIMIT, 0x2067);
      core.setU64(seg(MM.SEG_TR) + MM.SEGF_BASE, BigInt(r() % RAM));
      core.rflags = BigInt(2 | (r() & 0x100) | (r() & 0x3000)); // TF and IOPL at random
    }
    // Intercepts: every fourth round some vectors and instructions exit to the "hypervisor".
    const icpt = new Uint8Array(32);
    let iflags = 0;
    if ((k & 3) === 2) {
      for (let i = 0; i < 32; i++) icpt[i] = r() & r() & 0xff;
      iflags = r() & (MM.INTERCEPT_SYSCALL | MM.INTERCEPT_SYSENTER | MM.INTERCEPT_IO | MM.INTERCEPT_CPUID);
    }
    bytes.set(icpt, MM.CPU_STATE + MM.CPU_INTERCEPT);
    core.setU32(MM.CPU_INTERCEPT_FLAGS, iflags);
    stopPort = (k & 3) === 3;
    core.x.cpu_state_changed();
    const ripMask = mode === MM.MODE_PROT32 || mode === MM.MODE_COMPAT32 || mode === MM.MODE_LONG64 ? RAM - 1 : 0xffff;
    assert.is(core.u32(MM.CPU_MODE), mode, `round ${k}: the CPU is in the mode under test`);
    assert.is(core.u32(MM.CPU_CPL), mode === MM.MODE_REAL ? 0 : cpl);
    assert.is((core.u64(MM.CPU_CR0) & CR0_PG) !== 0n, paging);

    for (let slice = 0; slice < 6; slice++) {
      stopAsked = false;
      const i0 = core.u64(MM.CPU_INSNS);
      const exit = core.run(BUDGET);
      const retired = Number(core.u64(MM.CPU_INSNS) - i0);
      const where = `round ${k} slice ${slice}: exit ${NAMES[exit] ?? exit}`;
      assert.ok(retired >= 0 && retired <= BUDGET, `${where}: ${retired} instructions retired, budget ${BUDGET}`);
      tally.retired += retired;
      tally.exits.set(NAMES[exit] ?? String(exit), (tally.exits.get(NAMES[exit] ?? String(exit)) ?? 0) + 1);
      const vec = core.exitVector;
      const noIdt = core.u32(MM.CPU_MODE) === MM.MODE_REAL || core.u32(MM.CPU_IDTR_LIMIT) === 0;
      switch (exit) {
        case MM.EXIT_BUDGET: break;
        case MM.EXIT_HLT:
          assert.is(core.u32(MM.CPU_CPL), 0, `${where} at CPL ${core.u32(MM.CPU_CPL)}`);
          assert.is(core.u32(MM.CPU_HALTED), 1, where);
          break;
        case MM.EXIT_HOST: assert.ok(stopAsked, `${where}, but the host's port handler never asked to stop`); break;
        case MM.EXIT_INTERCEPT:
          assert.ok(
            vec >= 0 && vec < 256 && (icpt[vec >> 3] & (1 << (vec & 7))) !== 0,
            `${where}: vector ${vec} is not intercepted`
          );
          break;
        case MM.EXIT_SYSCALL: assert.ok(iflags & MM.INTERCEPT_SYSCALL, `${where} without INTERCEPT_SYSCALL`); break;
        case MM.EXIT_SYSENTER: assert.ok(iflags & MM.INTERCEPT_SYSENTER, `${where} without INTERCEPT_SYSENTER`); break;
        case MM.EXIT_CPUID: assert.ok(iflags & MM.INTERCEPT_CPUID, `${where} without INTERCEPT_CPUID`); break;
        case MM.EXIT_IO: assert.ok(iflags & MM.INTERCEPT_IO, `${where} without INTERCEPT_IO`); break;
        case MM.EXIT_UNHANDLED:
          assert.ok(noIdt, `${where} with an IDT (limit ${core.u32(MM.CPU_IDTR_LIMIT)})`);
          assert.ok(
            vec >= 0 && vec < 256 && (icpt[vec >> 3] & (1 << (vec & 7))) === 0,
            `${where}: vector ${vec} (intercepted or out of range)`
          );
          break;
        case MM.EXIT_TRIPLE_FAULT: assert.not.ok(noIdt, `${where} without an IDT to fault in`); break;
        default: assert.unreachable(`${where}: not an exit reason`);
      }
      if (exit === MM.EXIT_TRIPLE_FAULT) break;
      // Go on somewhere else (the instruction that stopped it would stop it again).
      if (exit !== MM.EXIT_BUDGET) { core.rip = BigInt(r() & ripMask); core.x.cpu_state_changed(); }
    }
    tally.rounds++;
  }
  return tally;
}

const ROUNDS = 300;
for (const [mode, name] of MODES) {
  for (const cpl of mode === MM.MODE_REAL ? [0] : [0, 3]) {
    for (const paging of mode === MM.MODE_REAL ? [false] : [false, true]) {
      test(`random code in ${name} mode, CPL${cpl}, paging `
          + `${paging ? "on" : "off"}: within the budget, only possible ` + `exits`, async () => {
        const t = await fuzz(mode, cpl, paging, 0x1234567 + mode * 7919 + cpl * 31 + (paging ? 3 : 0), ROUNDS);
        if (process.env.FUZZ_VERBOSE) console.log(
          `\n  ${name} CPL${cpl} paging ${paging}: ${t.retired} ` + `retired, exits `
            + `${JSON.stringify(Object.fromEntries(t.exits))}`
        );
        // The rounds did run code: instructions retired, and faults reached the exception paths.
        assert.ok(t.retired > 0, "no instruction retired in any round");
        assert.ok(
          (t.exits.get("UNHANDLED") ?? 0) + (t.exits.get("TRIPLE_FAULT") ?? 0) + (t.exits.get("INTERCEPT") ?? 0) > 0,
          JSON.stringify([...t.exits])
        );
      });
    }
  }
}

test.run();
