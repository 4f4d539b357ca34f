// The JIT tier against the interpreter, in lockstep: the same machine snapshot runs in two cores, one
// with every block compiled at once (XENWASM_JIT=force) and one interpreting (off), slice by slice with
// random budgets; after each slice registers, RIP, RFLAGS, the retired-instruction count, the exit reason,
// CR2 and the error code must agree, and at the end the memory the code wrote. The code is seeded random
// integer code (the forms the JIT translates and some it does not) in a loop with forward branches, on
// paged memory where random data pages are missing or read-only (so page faults land on different
// accesses), in 64-bit mode and in 32-bit protected mode, at CPL 0 and 3. Also: self-modifying code
// (stores into the running region and into the next instruction, through another virtual alias of the
// code frame), and compiled code's own figures.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Core, MM } from "../host/core";
import { asm } from "./lib/asm";
import { hasTailCalls } from "../host/jit/wasm";
import { layout, layoutReference, F, readInsn } from "../host/jit/translate";
import { XenHost } from "../host/pv/host";
import { startGuest } from "./lib/pvrun";
import { DS_RUNNING } from "../assembly/records";
import { machine, CODE, DATA, STACK, ALIAS, HIGH_BASES, type Perm } from "./lib/flatcpu";
import { rng, program, insn, coreProgram } from "./lib/randcode";

const a0chain = () => hasTailCalls() && process.env.XENWASM_JIT_CHAIN !== "0";

interface Snap { [k: string]: string }
function snap(core: Core, exit: number): Snap {
  core.x.flags_sync();
  const s: Snap = { exit: String(exit), rip: core.rip.toString(16), insns: String(core.u64(MM.CPU_INSNS)),
    rflags: (core.rflags & 0x3ed5n).toString(16), cpl: String(core.u32(MM.CPU_CPL)) }; // arithmetic flags, DF, IF, IOPL
  for (let i = 0; i < 16; i++) s["r" + i] = core.reg(i).toString(16);
  if (exit === MM.EXIT_UNHANDLED || exit === MM.EXIT_INTERCEPT) {
    s.vector = String(core.exitVector); s.error = String(core.exitError); s.cr2 = core.u64(MM.CPU_CR2).toString(16);
  }
  return s;
}

// The x87/MMX/SSE state (FXSAVE image: control words, registers, MXCSR, XMM0-15).
const fxState = (c: Core) => Buffer
  .from(c.bytes().subarray(MM.CPU_STATE + MM.CPU_FXSAVE, MM.CPU_STATE + MM.CPU_FXSAVE + 160 + 256)).toString("hex");

// Runs both cores in lockstep slices; returns how many instructions the JIT core retired in compiled code.
function lockstep(
  a: Core, b: Core, r: () => number, what: string, aBase = MM.MACHINE_BASE, bBase = MM.MACHINE_BASE, fpu = false
): number {
  for (let slice = 0; slice < 400; slice++) {
    const budget = 1 + Math.floor(r() * (r() < 0.3 ? 20 : 3000));
    const ea = a.run(budget), eb = b.run(budget);
    const sa = snap(a, ea), sb = snap(b, eb);
    if (fpu) { sa.fpu = fxState(a); sb.fpu = fxState(b); }
    for (const k of Object.keys(sb)) assert.is(sa[k], sb[k], `${what}, slice ${slice} (budget ${budget}): ${k}`);
    assert.ok(Number(a.u64(MM.CPU_INSNS)) >= 0);
    if (ea !== MM.EXIT_BUDGET) break;
  }
  const [ma, mb] = [aBase, bBase];
  const da = a.bytes().subarray(ma + DATA, ma + DATA + 0x4000), db = b.bytes().subarray(mb + DATA, mb + DATA + 0x4000);
  assert.ok(Buffer.compare(da, db) === 0, `${what}: data pages differ`);
  const ka = a.bytes().subarray(ma + STACK - 0x1000, ma + STACK),
    kb = b.bytes().subarray(mb + STACK - 0x1000, mb + STACK);
  assert.ok(Buffer.compare(ka, kb) === 0, `${what}: stacks differ`);
  // every live decoded-cache entry is named by the index (assembly/cpu/dcache.ts), after self-modifying code too
  assert.is(a.x.dcache_check(), 0, `${what}: decoded cache`);
  assert.is(b.x.dcache_check(), 0, `${what}: decoded cache (interpreter)`);
  return a.jit ? a.jit.stats().insns : 0;
}

for (const bits of [64, 32] as const) {
  test(`JIT and interpreter agree in lockstep on random code with page faults (${bits}-bit, CPL 0, 1 and 3)`,
    async () => {
    let inJit = 0, total = 0, faults = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed * 7919 + bits);
      const code = asm(program(seed, bits), bits, CODE);
      const perms: Perm[] = [0, 1, 2, 3].map(() => (r() < 0.7 ? "rw" : r() < 0.5 ? "ro" : "none"));
      const cpl = [3, 1, 0][seed % 3];
      const a = await machine(bits, "force", code, cpl, perms);
      const b = await machine(bits, "off", code, cpl, perms);
      inJit += lockstep(a, b, r, `seed ${seed} (${perms.join(",")}, cpl ${cpl})`);
      total += Number(b.u64(MM.CPU_INSNS));
      if (b.exitVector === 14) faults++;
    }
    // The comparison means something only if compiled code ran much of it, and faults happened.
    assert.ok(inJit > total / (bits === 64 ? 3 : 5), `compiled code retired ${inJit} of ${total} instructions`);
    assert.ok(faults >= 3, `page faults in ${faults} programs`);
  });

  test(`the code cache is flushed whole at its byte bound and compiled code runs on, in lockstep (${bits}-bit)`,
    async () => {
    let flushes = 0, inJit = 0;
    for (let seed = 41; seed <= 46; seed++) {
      const r = rng(seed * 7919 + bits);
      const code = asm(program(seed, bits), bits, CODE);
      const a = await machine(bits, "force", code, 0, ["rw", "rw", "rw", "rw"]);
      const b = await machine(bits, "off", code, 0, ["rw", "rw", "rw", "rw"]);
      a.jit!.maxCodeBytes = 3000; // a few regions
      inJit += lockstep(a, b, r, `seed ${seed}`);
      flushes += a.jit!.stats().flushes;
      assert.ok(
        a.jit!.codeBytes <= 3000 || a.jit!.cachedModules === 1,
        `code cache ${a.jit!.codeBytes} bytes in ${a.jit!.cachedModules} modules: over its bound`
      );
    }
    assert.ok(flushes >= 3, `the code cache was flushed ${flushes} times`);
    assert.ok(inJit > 0, "compiled code ran");
  });

  // V8 keeps every instance of a module that imports a table alive as long as that table, each with its own
  // copy of the table's entries (host/jit/jit.ts MAX_MODULES): a flush must leave the flushed regions' modules
  // nothing alive to hang on to (their chain table is replaced, their functions leave the core's table).
  test(`a flush frees the modules it drops: their chain table is collected; at most maxModules in use (${bits}-bit)`,
    async () => {
      setFlagsFromString("--expose-gc");
      const gc = runInNewContext("gc") as () => void;
      const r = rng(bits * 3);
      // a loop calling 12 subroutines: about 25 block starts, each a region (a module) under force
      const ctr = bits === 64 ? "%r12d" : "%ebp";
      const subs = Array.from({ length: 12 }, (_, i) => `f${i}: add $${i + 1}, %eax\n xor %eax, %edx\n ret`);
      const src = [`mov $20, ${ctr}`, "top:", ...subs.map((_, i) => `call f${i}`), `dec ${ctr}`, "jnz top", "ud2",
        ...subs];
      const code = asm(src.join("\n"), bits, CODE);
      const a = await machine(bits, "force", code, 0, ["rw", "rw", "rw", "rw"]);
      const b = await machine(bits, "off", code, 0, ["rw", "rw", "rw", "rw"]);
      a.jit!.maxModules = 3;
      const first = new WeakRef(a.jit!.chainTable);
      let most = 0;
      const j = a.jit as unknown as { install: (...x: unknown[]) => number };
      const install = j.install;
      j.install = function (this: unknown, ...x: unknown[]) {
        const n = install.apply(this, x);
        most = Math.max(most, a.jit!.cachedModules);
        return n;
      };
      const inJit = lockstep(a, b, r, "flushes by module count");
      assert.ok(a.jit!.stats().flushes >= 3 && inJit > 0, `flushes: ${JSON.stringify(a.jit!.stats())}`);
      assert.ok(most <= 3, `${most} modules in use`);
      // (not deref() before the collection: a WeakRef's target is kept alive to the end of the job that read it)
      for (let i = 0; i < 3; i++) { await new Promise((res) => setTimeout(res, 10)); gc(); }
      assert.is(first.deref(), undefined,
        "the first chain table (and with it every module that imported it) was collected");
      // A flush after which nothing is compiled again: the core's table must not hold the dropped functions.
      const c = await machine(bits, "force", code, 0, ["rw", "rw", "rw", "rw"]);
      const d = await machine(bits, "off", code, 0, ["rw", "rw", "rw", "rw"]);
      lockstep(c, d, r, "then flushed");
      const last = new WeakRef(c.jit!.chainTable);
      c.jit!.flush();
      for (let i = 0; i < 3; i++) { await new Promise((res) => setTimeout(res, 10)); gc(); }
      assert.is(last.deref(), undefined, "the chain table of the regions flushed last was collected");
    });

  test(
    `self-modifying code under the JIT: the running region, the next instruction, an alias (${bits}-bit)`, async () => {
    await selfModifying(bits, MM.MACHINE_BASE);
  });

  // Host addresses are u32 (assembly/memmap.ts NO_HOST): RAM across 2 GiB of linear memory (page-crossing
  // accesses straddle it), above it, and at the end of the 4 GiB runs as it does low, compiled and interpreted.
  test(`RAM across and above 2 GiB of linear memory: JIT and interpreter agree with a low machine (${bits}-bit)`,
    async () => {
    let inJit = 0, crossed = 0, finished = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const base = HIGH_BASES[seed % HIGH_BASES.length];
      const code = asm(program(seed, bits), bits, CODE);
      const r0 = rng(seed * 31 + bits);
      const perms: Perm[] = [0, 1, 2, 3].map(() => (r0() < 0.8 ? "rw" : "ro"));
      const cpl = seed % 2 === 0 ? 3 : 0;
      const low = await machine(bits, "off", code, cpl, perms);
      const high = await machine(bits, "force", code, cpl, perms, 0, base);
      inJit += lockstep(high, low, rng(seed), `seed ${seed} at ${base.toString(16)}, compiled`, base);
      const low2 = await machine(bits, "off", code, cpl, perms);
      const highOff = await machine(bits, "off", code, cpl, perms, 0, base);
      lockstep(highOff, low2, rng(seed), `seed ${seed} at ${base.toString(16)}, interpreted`, base);
      if (base + DATA + 0x1000 === 0x8000_0000) crossed++;
      if (low.exitVector === 6) finished++; // (else a page fault on a read-only page stopped both alike)
    }
    assert.ok(
      crossed >= 4 && finished >= 6 && inJit > 1000,
      `compiled code retired ${inJit}; ${crossed} machines across 2 GiB; ${finished} ran to their ud2`
    );
    for (const base of HIGH_BASES.slice(1)) await selfModifying(bits, base);
  });
}

async function selfModifying(bits: 32 | 64, base: number): Promise<void> {
  {
    const ax = bits === 64 ? "%rax" : "%eax";
    const src = `
      mov $40, %ecx
    again:
      mov $300, %ebp        # a hot inner loop, so that the code around it is compiled and running
    inner:
      add $1, %edx
      dec %ebp
      jnz inner
      mov $1, %eax          # its immediate is patched below, through the code's own address
    patch = . - 4
      add %eax, %ebx
      movl $7, patch
      mov $2, %edx          # patched through the alias mapping of the code frame
    patch2 = . - 4
      add %edx, %esi
      xor %edx, %edx
      mov $patch2 + ${ALIAS - CODE}, ${ax}
      movl $9, (${ax})
      movl $5, next + 1     # the next instruction's immediate, written just before it runs
    next:
      mov $3, %edi
      dec %ecx
      jnz again
      ud2`;
    const code = asm(src, bits, CODE);
    const a = await machine(bits, "force", code, 0, ["rw", "rw", "rw", "rw"], 0, base);
    const b = await machine(bits, "off", code, 0, ["rw", "rw", "rw", "rw"]);
    a.setReg(3, 0n); b.setReg(3, 0n); a.x.cpu_state_changed(); b.x.cpu_state_changed();
    lockstep(a, b, rng(bits), `self-modifying code at ${base.toString(16)}`, base);
    assert.is(b.reg(3), 1n + 39n * 7n, "the interpreter saw its own writes");
    assert.is(a.reg(3), b.reg(3));
    assert.is(a.reg(6), 2n + 39n * 9n);
    assert.is(a.reg(7), 5n);
    assert.ok(
      a.jit!.stats().invalidations > 0, `regions on the written page were dropped: ${JSON.stringify(a.jit!.stats())}`
    );
  }
}

// Linux addresses its per-CPU variables as %gs:offset(%rip): the GS base and the RIP-relative offset both
// count. (Once the fast forms took such an operand as RIP-relative only: an access went to the low address
// the offset names, which only missed because nothing was mapped there.) Low memory is mapped here.
test("a %gs:-relative operand with a RIP-relative offset adds the GS base, interpreted and compiled", async () => {
  // Offsets from the next instruction's address (CODE + 0xc, + 0x14, + 0x1b, + 0x22) to 0x1000 + 0/4/8/0.
  const d = (next: number, to: number) => 0x1000 + to - (CODE + next);
  const src = `
    mov $50, %ecx
  top:
    movl %gs:${d(0xc, 0)}(%rip), %eax
    addl $5, %gs:${d(0x14, 4)}(%rip)
    movl %eax, %gs:${d(0x1b, 8)}(%rip)
    cmpl %eax, %gs:${d(0x22, 0)}(%rip)
    jne bad
    dec %ecx
    jnz top
    ud2
  bad:
    hlt`;
  const code = asm(src, 64, CODE);
  for (const mode of ["off", "force"] as const) {
    const m = await machine(64, mode, code, 0, ["rw", "rw"]);
    const lowBefore = Buffer.from(m.bytes().subarray(MM.MACHINE_BASE + 0x1000, MM.MACHINE_BASE + 0x1010));
    while (m.run(1000) === MM.EXIT_BUDGET) { /* to the ud2 */ }
    const v = m.view();
    const at = MM.MACHINE_BASE + DATA + 0x800 + 0x1000; // GS base + 0x1000
    const word = (o: number) => v.getUint32(at + o, true);
    const orig = (o: number) =>
      [0, 1, 2, 3].reduce((a, j) => a | ((((0x1800 + o + j) * 7 + 3) & 0xff) << (8 * j)), 0) >>> 0;
    assert.is(Number(m.reg(0)), orig(0), `${mode}: the load read GS base + 0x1000`);
    assert.is(word(4), (orig(4) + 50 * 5) >>> 0, `${mode}: the read-modify-write went there`);
    assert.is(word(8), orig(0), `${mode}: the store went there`);
    assert.ok(
      Buffer.compare(lowBefore, m.bytes().subarray(MM.MACHINE_BASE + 0x1000, MM.MACHINE_BASE + 0x1010)) === 0,
      `${mode}: low memory untouched`
    );
    if (mode === "force") assert.ok(m.jit!.stats().insns > 100, "compiled code ran the loop");
  }
});

// CMPXCHG in both outcomes, every time round: the old value lands in rAX when they differ, the new one
// in memory when they match, ZF says which.
for (const bits of [64, 32] as const) {
  test(`(LOCK) CMPXCHG in compiled code, both outcomes, in lockstep with the interpreter (${bits}-bit)`, async () => {
    const B = bits === 64 ? "%rbx" : "%ebx";
    const forms = bits === 64 ? [["l", "%eax", "%edx"], ["q", "%rax", "%rdx"]] : [["l", "%eax", "%edx"]];
    for (const [sfx, ax, dx] of forms) {
      const src = `
        ${sfx === "q" ? "mov $1, %rax\nshl $40, %rax\nor $1, %rax\nmov %rax, (%rbx)" : `movl $1, (${B})`}
        mov $300, %ecx
      top:
        mov %ecx, %eax
        and $3, %eax
        mov %ecx, %edx
        shr $2, %edx
        and $3, %edx
        ${sfx === "q" ? "shl $40, %rax\nor $1, %rax\nshl $40, %rdx\nor $1, %rdx" : ""}
        lock cmpxchg${sfx} ${dx}, (${B})
        setz %dl
        movzbl %dl, %edx
        add ${ax}, ${sfx === "q" ? "%rsi" : "%esi"}
        add %edx, %edi
        cmpxchg${sfx} ${dx}, 8(${B})
        add ${ax}, ${sfx === "q" ? "%rsi" : "%esi"}
        dec %ecx
        jnz top
        ud2`;
      const code = asm(src, bits, CODE);
      const a = await machine(bits, "force", code, 0, ["rw"]);
      const b = await machine(bits, "off", code, 0, ["rw"]);
      lockstep(a, b, rng(bits), `cmpxchg${sfx}`);
      assert.ok(b.reg(7) > 10n && b.reg(7) < 290n, `both outcomes happened: ${b.reg(7)} matches`);
      assert.ok(a.jit!.stats().insns > 1000, "compiled code ran it");
    }
  });
}

// Indirect CALL/JMP through a register and through memory, PUSH imm and PUSH m: compiled, and leaving
// the region for the target (which chains into the target's region).
for (const bits of [64, 32] as const) {
  test(
    `indirect CALL/JMP and PUSH imm/m in compiled code, in lockstep with the interpreter (${bits}-bit)`, async () => {
    const [ax, dx, cx, q, B, ctr] =
      bits === 64 ? ["%rax", "%rdx", "%rcx", "q", "%rbx", "%r12d"] : ["%eax", "%edx", "%ecx", "l", "%ebx", "%ebp"];
    const src = `
      mov $300, ${ctr}
    top:
      mov $f, %eax
      call *${ax}
      add $1, %esi
      mov${q} $g, 0x40(${B})
      call *0x40(${B})
      push $5
      push${q} 0x40(${B})
      pop ${cx}
      pop ${dx}
      add %edx, %edi
      mov $cont, %edx
      jmp *${dx}
      ud2
    cont:
      dec ${ctr}
      jnz top
      ud2
      .balign 4096
    f:
      add $3, %edi
      ret
    g:
      add $7, %esi
      ret`;
    const code = asm(src, bits, CODE);
    const a = await machine(bits, "force", code, 0, ["rw"]);
    const b = await machine(bits, "off", code, 0, ["rw"]);
    for (const m of [a, b]) { m.setReg(6, 0n); m.setReg(7, 0n); m.x.cpu_state_changed(); }
    lockstep(a, b, rng(bits + 5), "indirect branches");
    assert.is(b.reg(6), 300n * 8n, "the interpreter's sum");
    assert.is(a.reg(7) & 0xffffffffn, 300n * 8n);
    assert.ok(a.jit!.stats().insns > 3000, `compiled code ran it: ${JSON.stringify(a.jit!.stats())}`);
  });
}

// Rotates keep every arithmetic flag but CF and OF (SHLD/SHRD set them all): each one here follows a
// flag-setting instruction and is followed by readers of the flags (SETcc of every condition, ADC after INC/DEC, Jcc),
// so a flag the compiled rotate gets wrong shows in the registers at once.
function rotateProgram(seed: number, bits: 32 | 64): string {
  const r = rng(seed);
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const q = bits === 64 && r() < 0.5;
  const sfx = q ? "q" : "l";
  const regs = q ? ["%rax", "%rdx", "%rdi", "%r8"] : ["%eax", "%edx", "%edi"];
  const body: string[] = [];
  for (let k = 0; k < 12; k++) {
    const a = pick(regs);
    body.push(pick([`add${sfx} $${pick([1, -1, 0x7fffffff, 3])}, ${a}`,
          `sub${sfx} %esi, %edi`.replace("%esi, %edi", q ? "%rsi, %rdi" : "%esi, %edi"),
      `and${sfx} ${a}, ${pick(regs)}`, `inc${sfx} ${a}`, `dec${sfx} ${a}`, `cmp${sfx} $${pick([0, 5, -3])}, ${a}`,
      `shl${sfx} $3, ${a}`
    ]
    )
    );
    const rot = pick(["rol", "ror"]);
    const dsh = pick(["shld", "shrd"]);
    body.push(pick([`${rot}${sfx} $${pick([0, 1, 2, 31, 32, 33, 63])}, ${a}`, `${rot}${sfx} ${a}`,
          `mov $${pick([0, 1, 7, 32, 64, 65])}, %ecx\n${rot}${sfx} %cl, ${a}`,
      `${dsh}${sfx} $${pick([0, 1, 5, 31, 63])}, ${pick(regs)}, ${a}`,
      `mov $${pick([0, 1, 9, 33, 64])}, %ecx\n${dsh}${sfx} %cl, ${pick(regs)}, ${a}`
    ]
    )
    );
    const cc = pick(["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]);
    body.push(`set${cc} %bl`, "movzbl %bl, %ebx", "addl %ebx, %esi");
    if (r() < 0.3)
      body.push(`inc${sfx} ${a}`, `${pick(["rol", "ror"])}${sfx} $${pick([1, 9])}, ${a}`, "adcl %ecx, %esi");
    if (r() < 0.3) body.push(`j${cc} 1f`, "addl $77, %esi", "1:");
  }
  const ctr = bits === 64 ? "%r12d" : "%ebp";
  return [`mov $${5 + Math.floor(r() * 20)}, ${ctr}`, "top:", ...body, `dec ${ctr}`, "jnz top", "ud2"].join("\n");
}

for (const bits of [64, 32] as const) {
  test(`rotates in compiled code keep the other flags, in lockstep with the interpreter (${bits}-bit)`, async () => {
    let inJit = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const code = asm(rotateProgram(seed * 31 + bits, bits), bits, CODE);
      const a = await machine(bits, "force", code, 0, ["rw"]);
      const b = await machine(bits, "off", code, 0, ["rw"]);
      inJit += lockstep(a, b, rng(seed), `seed ${seed}`);
    }
    assert.ok(inJit > 0);
  });
}

// REP MOVS / REP STOS (compiled through the core's jit_str, one step at a time): random counts (none, one,
// a few, more than a step of 4096), sources and destinations on the data pages (overlapping either way,
// straddling pages, on a read-only or absent page: a fault part way), DF set now and then, a fill of the
// code page through its alias; in lockstep with the interpreter at random budgets (so that a slice ends
// between the steps of one instruction), comparing registers, retired counts and memory.
function stringProgram(seed: number, bits: 32 | 64): string {
  const r = rng(seed);
  const [si, di, cx] = bits === 64 ? ["%rsi", "%rdi", "%rcx"] : ["%esi", "%edi", "%ecx"];
  const b = bits === 64 ? "%rbx" : "%ebx";
  const sizes = bits === 64 ? ["b", "w", "l", "q"] : ["b", "w", "l"];
  const body: string[] = [];
  const n = 3 + Math.floor(r() * 5);
  for (let k = 0; k < n; k++) {
    const sz = sizes[Math.floor(r() * sizes.length)];
    const unit = { b: 1, w: 2, l: 4, q: 8 }[sz]!;
    const x = r();
    const count = x < 0.1 ? 0 : x < 0.2 ? 1 : x < 0.8 ? Math.floor(r() * 300) : 4097 + Math.floor(r() * 2000);
    const span = Math.min(count * unit, 0x3000);
    const off = () => -0x800 + Math.floor(r() * (0x4000 - span));
    body.push(`mov $${Math.floor(count * (unit === 8 && count > 4096 ? 0.3 : 1))}, ${cx}`);
    const s0 = off();
    // overlapping forward (destination a little above the source) now and then
    const d0 = r() < 0.2 ? Math.min(s0 + 1 + Math.floor(r() * 16), 0x3800 - span) : off();
    body.push(`lea ${s0}(${b}), ${si}`, `lea ${d0}(${b}), ${di}`);
    if (r() < 0.08) body.push("std");
    const op = r() < 0.5 ? "movs" : "stos";
    if (op === "stos") body.push(`mov $${Math.floor(r() * 0xffffffff) >>> 0}, %eax`);
    body.push(`${r() < 0.9 ? "rep " : ""}${op}${sz}`);
    body.push("cld", "add %ecx, %edx", "add %esi, %ebp", "xor %edi, %edx");
  }
  if (r() < 0.3) body.push(`mov $pad + ${ALIAS - CODE}, ${di}`, "mov $40, %ecx", "mov $0x90, %eax", "rep stosb");
  return [...(bits === 64 ? ["mov $3, %r12d"] : ["push $3"]), "top:", ...body,
    ...(bits === 64 ? ["dec %r12d", "jnz top"] : ["decl (%esp)", "jnz top"]), "ud2", "pad:", ".fill 64, 1, 0x90", "ud2"
  ].join("\n");
}

for (const bits of [64, 32] as const) {
  test(`REP MOVS / REP STOS in compiled code agree with the interpreter in lockstep (${bits}-bit)`, async () => {
    let inJit = 0, faults = 0, multi = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 104729 + bits);
      const src = stringProgram(seed * 13 + bits, bits);
      if (/\$(409[7-9]|4[1-9]\d\d|[5-9]\d\d\d)\b/.test(src)) multi++;
      const code = asm(src, bits, CODE);
      const perms: Perm[] = [0, 1, 2, 3].map(() => (r() < 0.75 ? "rw" : r() < 0.5 ? "ro" : "none"));
      const cpl = seed % 3 === 0 ? 3 : 0;
      const a = await machine(bits, "force", code, cpl, perms);
      const b = await machine(bits, "off", code, cpl, perms);
      inJit += lockstep(a, b, r, `seed ${seed} (${perms.join(",")}, cpl ${cpl})`);
      if (b.exitVector === 14) faults++;
    }
    assert.ok(
      inJit > 0 && faults >= 3 && multi >= 3, `compiled ${inJit}, faults in ${faults} programs, ${multi} with steps`
    );
  });
}

// Code on four pages calling and jumping between them (with a store that rewrites an immediate on
// another code page each time round), so that regions chain straight into each other's regions.
const pick = <T>(r: () => number, a: T[]): T => a[Math.floor(r() * a.length)];
function crossPage(seed: number, bits: 32 | 64): string {
  const r = rng(seed);
  const body = (n: number) => {
    const out: string[] = [];
    while (out.length < n) {
      const s = insn(r, bits);
      if (!/^(push|pop)/.test(s)) out.push(s); // the stack stays balanced for call/ret
    }
    return out;
  };
  const ctr = bits === 64 ? "%r12d" : "%ebp";
  // Direct, or indirect through a register or a pointer in memory.
  const [ax, cx, q] = bits === 64 ? ["%rax", "%rcx", "q"] : ["%eax", "%ecx", "l"];
  const call = pick(r, ["call f1", `mov $f1, %eax\ncall *${ax}`, `mov${q} $f1, datap+0x40\ncall *datap+0x40`]);
  const jmp = pick(r, ["jmp p2", `mov $p2, %ecx\njmp *${cx}`]);
  return [`.set datap, ${DATA + 0x800}`, `mov $${20 + Math.floor(r() * 40)}, ${ctr}`, "top:", ...body(8), call,
    ...body(6), jmp, "back:", ...body(6), `dec ${ctr}`, "jnz top", "ud2",
    ".balign 4096", "f1:", ...body(6), "mov $0, %edi", "imm = . - 4", "call f3", ...body(4), "ret",
    ".balign 4096", "p2:", ...body(8), "incl imm", ...body(2), "jmp back",
    ".balign 4096", "f3:", ...body(10), "ret"].join("\n");
}

for (const bits of [64, 32] as const) {
  test(
    `regions chain into regions on other pages: calls, returns, jumps, a rewritten target (${bits}-bit)`, async () => {
    let chains = 0, inJit = 0, total = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const r = rng(seed * 104729 + bits);
      const code = asm(crossPage(seed, bits), bits, CODE);
      const perms: Perm[] = [0, 1, 2, 3].map(() => (r() < 0.85 ? "rw" : "ro"));
      const cpl = seed % 2 ? 3 : 0;
      const a = await machine(bits, "force", code, cpl, perms);
      const b = await machine(bits, "off", code, cpl, perms);
      inJit += lockstep(a, b, r, `cross-page seed ${seed} (${perms.join(",")}, cpl ${cpl})`);
      total += Number(b.u64(MM.CPU_INSNS));
      chains += a.jit!.stats().chains;
    }
    assert.ok(inJit > total / 3, `compiled code retired ${inJit} of ${total} instructions`);
    if (a0chain()) assert.ok(chains > 100, `regions chained ${chains} times`);
    else console.log(`# SKIP chain count: this runtime has no WebAssembly tail calls (regions return to the run loop)`);
  });
}

// Each memory access in turn faults: a loop of accesses, the i-th to data page i (loads, stores, read-modify-
// write, byte and TEST/SETcc forms); for each k, page k is made not present, and then read-only (a write
// there faults, a read does not). Compiled and interpreted runs must stop at the same access with the
// same registers, flags, CR2, error code and memory: nothing of the faulting instruction done, everything
// before it done.
// With `touch`, every page is read once before the loop, so that the TLB holds read translations when the
// compiled loop writes (a write must not go through a read translation).
function faultProgram(bits: 32 | 64, touch = false): { src: string; pages: number; writes: number } {
  const b = bits === 64 ? "%rbx" : "%ebx";
  const at = (page: number, off: number) => `${page * 0x1000 - 0x800 + off}(${b})`;
  const lines = [
    `movl ${at(0, 8)}, %eax`, `addl %ecx, ${at(1, 12)}`, `movb %dl, ${at(2, 3)}`, `cmpl $5, ${at(3, 16)}`,
    `testb $1, ${at(4, 7)}`, `incl ${at(5, 20)}`, `xchgl %esi, ${at(6, 24)}`, `movzbl ${at(7, 1)}, %edi`,
    `orb ${at(8, 5)}, %al`, `sete ${at(9, 9)}`, `addb $3, ${at(10, 30)}`, `subl ${at(11, 40)}, %ecx`,
    bits === 64 ? `movq %rax, ${at(12, 48)}` : `movl %eax, ${at(12, 48)}`, `testl %edx, ${at(13, 60)}`,
  ];
  const ctr = bits === 64 ? "%r12d" : "%ebp";
  const body: string[] = [];
  lines.forEach((l, i) => { body.push(l); body.push(i % 2 ? "addl $7, %edx" : "xorl %ecx, %esi"); });
  const writes = lines.filter((l) => /^(add|mov|inc|xchg|set)\w* [^(]*[^)]*\)?$/.test(l) && /\)$/.test(l)).length;
  const pre = touch ? lines.map((_, i) => `movzbl ${at(i, 0)}, %eax`) : [];
  return {
    src: [...pre, `mov $30, ${ctr}`, "top:", ...body, `dec ${ctr}`, "jnz top", "ud2"].join("\n"), pages: lines.length,
    writes
  };
}

for (const bits of [64, 32] as const) {
  test(`a fault at each memory access in turn: not present, then read-only (${bits}-bit)`, async () => {
    const { pages, writes } = faultProgram(bits);
    const codes = { none: asm(faultProgram(bits).src, bits, CODE), ro: asm(faultProgram(bits, true).src, bits, CODE) };
    let faulted = 0;
    for (let k = 0; k < pages; k++) {
      for (const bad of ["none", "ro"] as const) {
        const code = codes[bad];
        const perms: Perm[] = Array.from({ length: pages }, (_, i) => (i === k ? bad : "rw"));
        const cpl = k % 2 ? 3 : 0;
        const a = await machine(bits, "force", code, cpl, perms);
        const b2 = await machine(bits, "off", code, cpl, perms);
        for (const m of [a, b2]) {
          m.setReg(1, 0x1234n); m.setReg(2, 0x55n); m.setReg(6, 0x77n); m.x.cpu_state_changed();
        }
        lockstep(a, b2, rng(k * 31 + (bad === "ro" ? 7 : 0) + bits), `page ${k} ${bad}, cpl ${cpl}`);
        if (b2.exitVector === 14) faulted++;
      }
    }
    // Every page's access faulted when not present, and the writes (and only they) when read-only.
    assert.is(writes, 7);
    assert.is(faulted, pages + writes, `faulted in ${faulted} of ${pages * 2} runs`);
  });
}

// Each access in turn of instructions with two (and of page-crossing ones): PUSH m, POP m, CALL *m with the
// stack on a data page; MOVS; a store and a load across two pages; CMPXCHG on a read-only page (it writes
// whatever the comparison). Each page k is made not present, then read-only: the run must stop at the same
// access, the instruction's first access done and nothing of it written (RSP, the stack, the other page).
function fault2Program(bits: 32 | 64): { src: string; pages: number; written: number[]; target: number } {
  const [b, sp, q] = bits === 64 ? ["%rbx", "%rsp", "q"] : ["%ebx", "%esp", "l"];
  const at = (page: number, off: number) => `${page * 0x1000 - 0x800 + off}(${b})`;
  const save = STACK - 0x100;
  const src = [
    "mov $30, %ebp", "top:", `mov ${sp}, ${save}`,
    `lea ${at(1, 0x104)}, ${sp}`, `push${q} ${at(0, 8)}`, "addl $7, %edx", // reads page 0, writes page 1
    `lea ${at(2, 0x100)}, ${sp}`, `pop${q} ${at(3, 12)}`, "xorl %ecx, %esi", // reads page 2, writes page 3
    `lea ${at(5, 0x104)}, ${sp}`, `call *${at(4, 16)}`, "ud2", // reads page 4 (the target), writes page 5
    "1:", `lea ${at(6, 20)}, %esi`, `lea ${at(7, 24)}, %edi`, "movsl", // reads page 6, writes page 7
    `mov${q} %rax, ${at(9, -3)}`.replace("%rax", bits === 64 ? "%rax" : "%eax"), // pages 8 and 9
    `mov${q} ${at(11, -2)}, %rcx`.replace("%rcx", bits === 64 ? "%rcx" : "%ecx"), // reads pages 10 and 11
    `cmpxchgl %edx, ${at(12, 28)}`, "addl $3, %eax", // writes page 12 (equal or not)
    `mov ${save}, ${sp}`, "dec %ebp", "jnz top", "ud2",
  ].join("\n");
  return { src, pages: 13, written: [1, 3, 5, 7, 8, 9, 12], target: DATA + 4 * 0x1000 + 16 };
}

for (const bits of [64, 32] as const) {
  test(`a fault at each access of two-access and page-crossing instructions: PUSH/POP/CALL m, MOVS (${bits}-bit)`,
    async () => {
    const { src, pages, written, target } = fault2Program(bits);
    const code = asm(src, bits, CODE);
    let faulted = 0, inJit = 0;
    for (let k = 0; k < pages; k++) {
      for (const bad of ["none", "ro"] as const) {
        const perms: Perm[] = Array.from({ length: pages }, (_, i) => (i === k ? bad : "rw"));
        const cpl = k % 2 ? 3 : 0;
        const a = await machine(bits, "force", code, cpl, perms);
        const b = await machine(bits, "off", code, cpl, perms);
        // CALL's target: the instruction after its UD2 (label 1)
        const to = CODE + (code.findIndex((_, i) => code[i] === 0x0f && code[i + 1] === 0x0b) + 2);
        for (const m of [a, b]) {
          m.view().setUint32(MM.MACHINE_BASE + target, to, true);
          m.view().setUint32(MM.MACHINE_BASE + target + 4, 0, true);
          m.setReg(0, 0x1234n); m.setReg(1, 0x99n); m.setReg(2, 0x55n); m.x.cpu_state_changed();
        }
        inJit += lockstep(a, b, rng(k * 37 + (bad === "ro" ? 5 : 0) + bits), `page ${k} ${bad}, cpl ${cpl}`);
        const [da, db] = [a, b].map((m) => m.bytes().subarray(MM.MACHINE_BASE + DATA,
          MM.MACHINE_BASE + DATA + pages * 0x1000));
        assert.ok(Buffer.compare(da, db) === 0, `page ${k} ${bad}: data pages differ`);
        if (b.exitVector === 14) {
          faulted++;
          assert.is(Number(b.u64(MM.CPU_CR2)) >> 12, (DATA >> 12) + k, `page ${k} ${bad}: CR2`);
        } else assert.is(b.exitVector, 6, `page ${k} ${bad}: ran to its ud2`);
      }
    }
    assert.is(faulted, pages + written.length, `faulted in ${faulted} of ${pages * 2} runs`);
    assert.ok(inJit > 1000, `compiled code retired ${inJit} instructions`);
  });
}

// CPL 0, 1 and 3 in one machine: a hot loop at CPL 0 or 1 writes a supervisor-only page (a supervisor
// translation in the TLB) and toggles IF through POPF (which changes it at CPL 0 only, IOPL being 0); IRET
// goes to CPL 3, where the same subroutine runs again (its regions compiled at the other CPL: the key has
// no CPL) and a read of the supervisor page must fault (#PF, error code 5) in compiled code as interpreted,
// though the TLB holds the page's supervisor translation.
for (const bits of [64, 32] as const) {
  test(`CPL 0/1 then IRET to CPL 3: a supervisor page, POPF's IF and shared code, in lockstep (${bits}-bit)`,
    async () => {
    const GDT = [0n, 0n, 0n, bits === 64 ? 0x00affa000000ffffn : 0x00cffa000000ffffn, 0x00cff2000000ffffn];
    const sup = DATA + 0x1000 + 0x40, ustack = STACK - 0x400; // (sup = %rbx/%ebx + 0x840)
    const [bx, cx, sx, dx, si] = bits === 64 ? ["%rbx", "%rcx", "%rsp", "%rdx", "%rsi"]
      : ["%ebx", "%ecx", "%esp", "%edx", "%esi"];
    const src = `
      mov $300, %ecx
    k1:
      addl %ecx, 0x840(${bx})    # the supervisor page (sup) from CPL 0/1
      movl 0x844(${bx}), %eax
      call common
      pushf
      xorl $0x200, (${sx})      # IF: POPF changes it at CPL 0 only
      popf
      dec %ecx
      jnz k1
      push $0x23
      push $${ustack}
      pushf
      push $0x1b
      push $user
      ${bits === 64 ? "iretq" : "iret"}
    user:
      mov $0x23, %eax
      mov %eax, %ds
      mov %eax, %es
      mov $300, %ecx
    u1:
      call common
      pushf
      xorl $0x200, (${sx})
      popf
      dec %ecx
      jnz u1
      movl 0x848(${bx}), %eax    # #PF: a supervisor page from CPL 3
      ud2
    common:
      addl %ecx, 0x10(${bx})
      movl 0x14(${bx}), %edx
      xor ${dx}, ${si}
      lea 1(${cx}), %edi
      ret`;
    const code = asm(src, bits, CODE);
    for (const cpl of [0, 1]) {
      const perms: Perm[] = ["rw", "sup", "rw", "rw"];
      const a = await machine(bits, "force", code, cpl, perms);
      const b = await machine(bits, "off", code, cpl, perms);
      // the GDT at GDTR's base, 0
      for (const c of [a, b]) GDT.forEach((d, i) => c.view().setBigUint64(MM.MACHINE_BASE + i * 8, d, true));
      const before = b.view().getUint32(MM.MACHINE_BASE + sup, true);
      lockstep(a, b, rng(cpl * 17 + bits), `from CPL ${cpl}`);
      assert.is(b.u32(MM.CPU_CPL), 3, "the interpreter ended at CPL 3");
      assert.equal([b.exitVector, b.exitError, b.u64(MM.CPU_CR2)], [14, 5, BigInt(sup + 8)],
        "its #PF on the supervisor page");
      assert.is(b.view().getUint32(MM.MACHINE_BASE + sup, true), (before + 300 * 301 / 2) >>> 0,
        "the CPL 0/1 loop wrote the page");
      assert.ok(a.jit!.stats().insns > 3000, `compiled code ran: ${JSON.stringify(a.jit!.stats())}`);
    }
  });
}

// A background compile races a write to the code it translated: the loop is compiled in the background
// (as under xm and xend), and before the compile is installed the loop's own immediate is rewritten by
// the code after it, on a page no region had come from yet. The install must be refused: the loop then
// adds the new immediate, as the interpreter does.
for (const bits of [64, 32] as const) {
  test(`a write to code while its background compile is in flight refuses the stale region (${bits}-bit)`, async () => {
    const src = `
      mov $3, %edx
    outer:
      mov $3000, %ecx
    top:
      mov $1, %eax
    patch = . - 4
      add %eax, %ebx
      dec %ecx
      jnz top
      incl patch
      dec %edx
      jnz outer
      ud2`;
    const code = asm(src, bits, CODE);
    const on = await machine(bits, "on", code, 0, ["rw"], 10);
    const b = await machine(bits, "off", code, 0, ["rw"]);
    on.jit!.async = true; // as XenHost makes it
    for (const c of [on, b]) { c.setReg(3, 0n); c.x.cpu_state_changed(); }
    // Through the first inner loop and the store into it, the translator thread's answer held back (on a
    // loaded machine the thread could otherwise finish before the store, and the race would not happen).
    on.jit!.held = true;
    let ran = 0;
    while (ran < 9500) { on.run(500); b.run(500); ran += 500; }
    assert.ok(on.jit!.busy, "the loop's compile was requested and is still in flight at the store");
    assert.is(on.jit!.stats().regions, 0, "nothing installed yet");
    // The compile completes (translated on the translator thread: it may take a while on a loaded machine);
    // its install is refused. Then on to the ud2, letting each later compile complete before going on.
    on.jit!.held = false;
    const settle = async () => {
      for (let t = 0; t < 6000 && on.jit!.busy; t++) await new Promise((r) => setTimeout(r, 5));
    };
    await settle();
    for (let i = 0; i < 200 && (on.run(1000) === MM.EXIT_BUDGET) ; i++) await settle();
    while (b.run(1000) === MM.EXIT_BUDGET) { /* to the ud2 */ }
    assert.is(b.reg(3), 3000n * (1n + 2n + 3n), "the interpreter added the rewritten immediates");
    assert.is(on.reg(3), b.reg(3), `compiled: ${JSON.stringify(on.jit!.stats())}`);
    assert.ok(on.jit!.stats().insns > 0, "compiled code ran");
  });
}

// A PV guest's hot loop, compiled, with VIRQ_TIMER upcalls landing in it again and again (the loop re-arms
// the timer whenever it sees the upcall count move): the same sum interpreted, compiled at once, and with
// the default JIT; the events reached the loop; compiled code ran most of it.
for (const bits of [64, 32] as const) {
  test(`event upcalls in the middle of a compiled hot loop (PV `
      + `guest, ${bits}-bit): the loop's result is the interpreter's`, async () => {
    const runs: Record<string, { sum: string; seen: number; jitPct: number }> = {};
    const saved = process.env.XENWASM_JIT;
    try {
      for (const mode of ["off", "force", "on"]) {
        process.env.XENWASM_JIT = mode;
        const host = await XenHost.create(128);
        const g = await startGuest(host, "hotloop", bits);
        const t0 = Date.now();
        await host.runUntil(() => host.state(g.dom.domid) !== DS_RUNNING || Date.now() - t0 > 120_000);
        const m = /hotloop: sum=([0-9a-f]+) iters=(\d+) upcalls=(\d+) seen=(\d+)/.exec(g.out());
        assert.ok(m && g.out().includes("hotloop: done"), `${mode}: ${g.out()}${host.dmesg()}`);
        const st = host.core.jit?.stats();
        runs[mode] = { sum: m![1], seen: Number(m![4]), jitPct: st && st.steps ? (100 * st.insns) / st.steps : 0 };
        // XenHost compiles in the background, translated on the Node platform's translator thread.
        if (mode === "on")
          assert.ok(st && st.thread_batches > 0 && st.regions > 0, `translator thread: ${JSON.stringify(st)}`);
      }
    } finally {
      if (saved === undefined) delete process.env.XENWASM_JIT; else process.env.XENWASM_JIT = saved;
    }
    assert.is(runs.force.sum, runs.off.sum, JSON.stringify(runs));
    assert.is(runs.on.sum, runs.off.sum, JSON.stringify(runs));
    for (const [mode, r] of Object.entries(runs)) assert.ok(r.seen >= 3, `${mode}: the loop saw ${r.seen} upcalls`);
    assert.ok(runs.force.jitPct > 50, `compiled code ran ${runs.force.jitPct.toFixed(1)}% of the instructions`);
  });
}

// SSE/MMX register forms run inside compiled regions (the core's jit_exec, "ssex"): a BLAKE2s-like loop of
// integer and floating-point SSE forms between general ones, compiled against interpreted in lockstep
// slices (XMM registers and MXCSR compared at each), without an exit at each SSE instruction; with CR0.TS
// set, the first SSE instruction's #NM is the interpreter's (the region exits before it, nothing done).
for (const bits of [64, 32] as const) {
  test(`SSE register forms run inside compiled regions, XMM state as interpreted (${bits}-bit); #NM under CR0.TS`,
    async () => {
    const b = bits === 64 ? "%rbx" : "%ebx", ctr = bits === 64 ? "%r12d" : "%ebp";
    const src = [
      `movdqu (${b}), %xmm0`, `movdqu 16(${b}), %xmm1`, `movdqu 32(${b}), %xmm2`, `movdqu 48(${b}), %xmm3`,
      `mov $300, ${ctr}`,
      "top:",
      "paddd %xmm1, %xmm0", "pxor %xmm0, %xmm3", "pshufb %xmm2, %xmm3", "paddd %xmm3, %xmm2", "add %eax, %ecx",
      "punpckldq %xmm1, %xmm2", "pshufd $0x93, %xmm0, %xmm0", "psrld $7, %xmm1", "pslld $25, %xmm2", "por %xmm2, %xmm1",
      "movdqa %xmm1, %xmm2", "addps %xmm0, %xmm1", "mulpd %xmm3, %xmm2", "punpcklqdq %xmm3, %xmm0", "movq %xmm1, %xmm3",
      "pcmpeqd %xmm0, %xmm2", "psubq %xmm2, %xmm3", "palignr $5, %xmm1, %xmm0", "pmulld %xmm1, %xmm2", "xor %ecx, %eax",
      "movd %eax, %xmm4", `movd 64(${b}), %xmm5`, "punpckldq %xmm5, %xmm4", "paddd %xmm4, %xmm0", "movd %xmm0, %edx",
      "add %edx, %eax",
      `movd %xmm3, 68(${b})`, ...(
        bits === 64 ? [
          "movq %rax, %xmm6", "paddq %xmm6, %xmm1", "movq %xmm1, %rsi", "xor %rsi, %rax", `movq 72(${b}), %xmm7`,
          `movq %xmm2, 80(${b})`
        ] : []
      ),
      `dec ${ctr}`, "jnz top",
      `movdqu %xmm0, (${b})`, `movdqu %xmm3, 16(${b})`, "ud2"].join("\n");
    const code = asm(src, bits, CODE);
    for (const ts of [false, true]) {
      const cores = [await machine(bits, "force", code, 0, ["rw"]), await machine(bits, "off", code, 0, ["rw"])];
      for (const c of cores) {
        c.setU64(MM.CPU_CR4, c.u64(MM.CPU_CR4) | 0x600n); // OSFXSR, OSXMMEXCPT
        if (ts) c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | 8n);
        c.setReg(0, 0x12345n); c.setReg(1, 0x777n);
        c.x.cpu_state_changed();
      }
      const [a, i] = cores;
      const xmm = (c: Core) => Buffer
        .from(c.bytes().subarray(MM.CPU_STATE + MM.CPU_FXSAVE, MM.CPU_STATE + MM.CPU_FXSAVE + 160 + 256))
        .toString("hex");
      const r = rng(bits + (ts ? 1 : 0));
      for (let slice = 0; slice < 400; slice++) {
        const budget = 1 + Math.floor(r() * 700);
        const ea = a.run(budget), eb = i.run(budget);
        const sa = snap(a, ea), sb = snap(i, eb);
        for (const k of Object.keys(sb)) assert.is(sa[k], sb[k], `TS=${ts} slice ${slice}: ${k}`);
        assert.is(xmm(a), xmm(i), `TS=${ts} slice ${slice}: the x87/SSE state`);
        if (ea !== MM.EXIT_BUDGET) break;
      }
      const m = MM.MACHINE_BASE;
      assert.ok(
        Buffer.compare(a.bytes().subarray(m + DATA, m + DATA + 0x1000), i.bytes().subarray(m + DATA, m + DATA + 0x1000))
          === 0, `TS=${ts}: data page differs`
      );
      const st = a.jit!.stats();
      if (ts) {
        assert.is(a.exitVector, 7, "#NM at the first SSE instruction");
        assert.ok(st.insns < 10, `TS: nothing SSE ran compiled: ${JSON.stringify(st)}`);
      } else {
        assert.ok(st.insns > 300 * 20, `the loop ran compiled: ${JSON.stringify(st)}`);
        assert.ok(st.exits.unsupported < 10, `no exit at each SSE instruction: ${JSON.stringify(st.exits)}`);
      }
    }
  });
}

// Forms compiled code has the core run (translate.ts coreRun, the core's jit_exec): SSE/MMX memory forms
// (aligned, misaligned, across pages), SSE forms reading or writing general registers or flags, x87,
// 16-bit and byte forms, BSF/TZCNT/POPCNT, CMPXCHG8B/16B, mixed with the integer forms, on random page
// mappings, in lockstep with the interpreter (the x87/SSE state compared at every slice too).
function coreMachine(c: Core, r: () => number): void {
  c.setU64(MM.CPU_CR4, c.u64(MM.CPU_CR4) | 0x600n); // OSFXSR, OSXMMEXCPT
  const x = c.bytes();
  for (let k = 0; k < 256; k++)
    x[MM.CPU_STATE + MM.CPU_FXSAVE + 160 + k] = Math.floor(r() * 256) & (k % 3 ? 0xff : 0x7f);
  c.setReg(0, 0x41n); c.setReg(1, 3n); c.setReg(2, 0x8000n); c.setReg(6, 0x1234_5678_9abcn); c.setReg(7, 0xffn);
  c.x.cpu_state_changed();
}
for (const bits of [64, 32] as const) {
  test(`JIT and interpreter agree in lockstep on SSE memory, XMM<->GPR, x87, 16-bit and byte forms the core runs ` +
    `(${bits}-bit, CPL 0, 1 and 3)`, async () => {
    let inJit = 0, total = 0;
    const vectors = new Map<number, number>();
    let unsupported = 0, entries = 0;
    for (let seed = 1; seed <= 36; seed++) {
      const r = rng(seed * 104729 + bits);
      const code = asm(coreProgram(seed * 3 + bits, bits), bits, CODE);
      const perms: Perm[] = [0, 1, 2, 3].map(() => (r() < 0.75 ? "rw" : r() < 0.5 ? "ro" : "none"));
      const cpl = [3, 1, 0][seed % 3];
      const a = await machine(bits, "force", code, cpl, perms);
      const b = await machine(bits, "off", code, cpl, perms);
      const rr = rng(seed);
      coreMachine(a, rr);
      const rr2 = rng(seed);
      coreMachine(b, rr2);
      inJit += lockstep(
        a, b, r, `seed ${seed} (${perms.join(",")}, cpl ${cpl})`, MM.MACHINE_BASE, MM.MACHINE_BASE, true
      );
      total += Number(b.u64(MM.CPU_INSNS));
      vectors.set(b.exitVector, (vectors.get(b.exitVector) ?? 0) + 1);
      unsupported += a.jit!.stats().exits.unsupported; entries += a.jit!.stats().entries;
    }
    // compiled code ran most of it (the forms above inside regions, not at exits), and programs ended at
    // page faults (14) and alignment faults (13) as well as at their ud2 (6)
    assert.ok(inJit > total / 2, `compiled code retired ${inJit} of ${total} instructions`);
    assert.ok(
      unsupported < entries / 4, `exits before untranslated forms: ${unsupported} of ${entries} region entries`
    );
    for (const v of [6, 13, 14])
      assert.ok((vectors.get(v) ?? 0) >= 2, `programs ending with vector ${v}: ${JSON.stringify([...vectors])}`);
  });
}

// Stores from compiled code to a page that holds code, beside the bytes regions were translated from (data
// after a small program's text, as in guests/bench): the region stores without exiting (the core does what
// the interpreter's store does: the decoded-instruction cache is invalidated over the written bytes), so an
// instruction there that only the interpreter ran before (X's MOV, called through a register: never compiled;
// after X's NOP, since the run loop decodes afresh where a region stops) runs as rewritten each time.
// Without the invalidation X would return an old immediate; before, each such store exited the region.
for (const bits of [64, 32] as const) {
  test(`stores beside compiled code stay in its region; code there is seen rewritten (${bits}-bit)`, async () => {
    const [si, lea] = bits === 64 ? ["%rsi", "lea x(%rip), %rsi"] : ["%esi", "mov $x, %esi"];
    // Every 64th time round the loop calls X (too few times to be compiled) and counts in EDX the times X
    // did not return the byte just written.
    const src = `${lea}\n call *${si}\n mov %eax, %edi\n xor %edx, %edx\n mov $3000, %ecx
      1: movl %ecx, data\n movb %cl, x+2\n test $0x3f, %cl\n jnz 2f
      call *${si}\n cmpb %cl, %al\n je 2f\n inc %edx
      2: dec %ecx\n jnz 1b
      call *${si}\n ud2
      .org 0xf00\n x: nop\n mov $0x100, %eax\n ret\n .org 0xf80\n data: .long 0`;
    const code = asm(src, bits, CODE);
    const run = async (mode: "on" | "off") => {
      const m = await machine(bits, mode, code, 0, ["rw"], 100);
      while (m.run(100_000) === MM.EXIT_BUDGET);
      return m;
    };
    const [a, b] = [await run("on"), await run("off")];
    for (const m of [a, b]) {
      assert.is(m.exitVector, 6, "ends at ud2");
      assert.is(m.reg(7), 0x100n, "X before the loop");
      assert.is(m.reg(2), 0n, "X returned an old immediate (a stale decoded instruction)");
      assert.is(m.reg(0), 0x101n, "X after the loop returns the immediate the loop wrote last");
      assert.is(new DataView(m.bytes().buffer).getUint32(MM.MACHINE_BASE + CODE + 0xf80, true), 1, "the data word");
    }
    const st = a.jit!.stats();
    assert.ok(st.insns > 10_000, `in compiled code: ${st.insns}`);
    assert.ok(st.exits.memory < 10, `memory exits ${st.exits.memory}`);
    assert.is(st.invalidations, 0, "no region's bytes were written");
  });
}

// Loads from compiled code of a data page whose TLB entry is the one of the code's own page (linear page
// numbers 4096 apart, as Linux's text, rodata and data 16 MiB apart): the load is translated aside (the
// entry keeps the code page's execute translation, which chaining needs). Before, every such load exited
// the region (Debian's boot: 380k of its 382k memory exits).
for (const bits of [64, 32] as const) {
  test(`loads from a data page sharing the code page's TLB entry stay in the region (${bits}-bit)`, async () => {
    const src = `mov $0x1100000, %esi\n mov $3000, %ecx\n xor %eax, %eax
      1: movzbl (${bits === 64 ? "%rsi,%rcx" : "%esi,%ecx"}), %edx\n add %edx, %eax\n dec %ecx\n jnz 1b\n ud2`;
    const code = asm(src, bits, CODE);
    const run = async (mode: "on" | "off") => {
      const m = await machine(bits, mode, code, 0, ["rw"], 100);
      // Linear [16 MiB, 20 MiB) (or [16, 18) in 64-bit mode) on RAM from 4 MiB: one large page.
      const v = m.view(), M = MM.MACHINE_BASE, PT = 0x10000;
      if (bits === 64) v.setBigUint64(M + PT + 0x2000 + 8 * 8, BigInt(0x400000 | 0x80 | 7), true);
      else { v.setUint32(M + PT + 4 * 4, 0x400000 | 0x80 | 7, true); m.setU64(MM.CPU_CR4, m.u64(MM.CPU_CR4) | 0x10n); }
      for (let i = 0; i < 4096; i++) m.bytes()[M + 0x500000 + i] = (i * 13 + 5) & 0xff;
      m.x.cpu_state_changed();
      while (m.run(100_000) === MM.EXIT_BUDGET);
      return m;
    };
    const [a, b] = [await run("on"), await run("off")];
    let want = 0;
    for (let c = 3000; c > 0; c--) want += (c * 13 + 5) & 0xff;
    for (const m of [a, b]) {
      assert.is(m.exitVector, 6, "ends at ud2");
      assert.is(m.reg(0), BigInt(want), "the sum of the bytes");
    }
    const st = a.jit!.stats();
    assert.ok(st.insns > 10_000, `in compiled code: ${st.insns}`);
    assert.ok(st.exits.memory < 10, `memory exits ${st.exits.memory}`);
  });
}

// INC/DEC keep CF. At a loop header that is also the region's entry (flags known only at run time) with a
// back edge after a compare, the translation finds CF from the lazy state's operation at run time: SUB and
// LOGIC of each operand size inline (before, a call into the core each time round), the others through the
// core's helper. ADC reads it; in lockstep with the interpreter, compares of each size, CF set and clear.
for (const bits of [64, 32] as const) {
  test(`INC at a loop header after a compare of each size keeps CF, in lockstep (${bits}-bit)`, async () => {
    const latches = ["cmpl %ebx, %eax\n jb 1b", "cmpw %bx, %ax\n jb 1b", "cmpb %bl, %al\n jb 1b",
      "cmpl %eax, %ebx\n ja 1b", "cmpb %al, %bl\n ja 1b", ...(bits === 64 ? ["cmpq %rbx, %rax\n jb 1b"] : [])];
    for (const [k, latch] of latches.entries()) {
      const src = `xor %esi, %esi\n mov $250, %ebx\n xor %eax, %eax\n jmp 1f
        1: inc %eax\n adc $0, %esi\n ${latch}\n ud2`;
      const code = asm(src, bits, CODE);
      const a = await machine(bits, "force", code, 0, ["rw"]);
      const b = await machine(bits, "off", code, 0, ["rw"]);
      const what = latch.replace("\n", "; ");
      const inJit = lockstep(a, b, rng(k + 77 * bits), what);
      assert.ok(inJit > 500, `${what}: compiled code retired ${inJit}`);
      assert.is(b.exitVector, 6, `${what}: ends at ud2`);
      assert.is(Number(b.reg(6)), latch.includes("jb") ? 249 : 0, `${what}: ADC counted CF`);
    }
  });
}

test("a compiled region exits for events and budget: a long loop returns at every slice", async () => {
  const code = asm(`mov $2000000, %ecx\n1: add %ecx, %eax\n dec %ecx\n jnz 1b\n ud2`, 64, CODE);
  const a = await machine(64, "force", code, 0, ["rw"]);
  let slices = 0;
  while (a.run(100_000) === MM.EXIT_BUDGET) slices++;
  assert.ok(slices >= 59 && slices <= 61, `returned ${slices} times for 6M instructions in slices of 100k`);
  assert.is(a.reg(1), 0n);
  const st = a.jit!.stats();
  assert.ok(st.insns >= 5_800_000, `in compiled code: ${st.insns} (all but the first slice's)`);
  assert.ok(st.exits.budget >= 59, `budget exits ${st.exits.budget}`);
});

// layout(): blocks as a control-flow graph of JMP/Jcc (0x10 bytes apart). Loops must come out contiguous
// with their header first, the entry first, and an edge into the middle of a loop (irreducible) cut.
function cfg(spec: Record<number, number[]>): { start: number; insns: any[]; next: number | null }[] {
  return Object.entries(spec).map(([k, succ]) => {
    const start = Number(k) * 0x10;
    const br = (t: number, form: number) => ({
      off: start, len: 2, form, imm: BigInt(t * 0x10 - start - 2), aux: 0, scale: 0, a: 0, b: 0, base: 0, index: 0,
      disp: 0
    });
    if (succ.length === 0) return { start, insns: [{ ...br(0, -1), len: 0, imm: 0n }], next: null };
    if (succ.length === 1) return { start, insns: [br(succ[0], F.JMP)], next: null };
    // Jcc to succ[0]; its length makes the next instruction (the fall-through) block succ[1]
    const i = br(succ[0], F.JCC + 4);
    i.len = succ[1] * 0x10 - start; i.imm = BigInt(succ[0] * 0x10 - start - i.len);
    return { start, insns: [i], next: null };
  });
}
test("layout: loops contiguous with their header first, nested loops, an irreducible edge cut", () => {
  // 0 -> 1; 1: loop header (1 -> 2 -> 3 -> 1), 3 -> 4 exits; 2 -> 5 -> 2 an inner loop; 4 end.
  const blocks = cfg({ 0: [1], 1: [2], 2: [5, 3], 3: [1, 4], 4: [], 5: [2] });
  const lay = layout(blocks as any, 0);
  const pos = (b: number) => lay.order.indexOf(blocks.findIndex((x) => x.start === b * 0x10));
  assert.is(lay.order[0], 0, "the entry first");
  const loop = (members: number[], header: number) => {
    const ps = members.map(pos).sort((a, b) => a - b);
    assert.is(ps[ps.length - 1] - ps[0] + 1, ps.length, `loop ${members} contiguous: ${ps}`);
    assert.is(ps[0], pos(header), "its header first");
    assert.is(lay.loopEnd[pos(header)], ps[ps.length - 1], "its end recorded");
  };
  loop([1, 2, 3, 5], 1);
  loop([2, 5], 2);
  assert.is(lay.cut.size, 0);
  // Irreducible: 0 branches into both 1 and 2, which branch to each other.
  const irr = cfg({ 0: [2, 1], 1: [2], 2: [1, 3], 3: [] });
  const l2 = layout(irr as any, 0);
  assert.is(l2.order.length, 4);
  assert.ok(l2.cut.size >= 1, "an edge of the irreducible cycle is left to exit");
});

// layout() in typed arrays against the first one (layoutReference: Maps and Sets) on seeded random graphs:
// branches anywhere (loops, nested and irreducible ones), Jcc fall-throughs, blocks that fall through
// without a branch, blocks that end in an exit, any entry. The same order, loops, label scopes and cut edges.
test("layout: the same as layoutReference on random control-flow graphs", () => {
  let seed = 0x2545f491;
  const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const run = (f: () => unknown) => { try { return f(); } catch (e) { return `throws ${(e as Error).message}`; } };
  let loops = 0, cuts = 0;
  for (let g = 0; g < 4000; g++) {
    const n = 1 + rnd(g % 8 === 0 ? 80 : 14);
    const spec: Record<number, number[]> = {};
    const plain: number[] = [];
    for (let k = 0; k < n; k++) {
      const kind = rnd(6);
      if (kind === 5 && k + 1 < n) { spec[k] = []; plain.push(k); continue; }
      spec[k] = kind === 0 ? [] : kind <= 2 || k + 1 >= n ? [rnd(n)] : [rnd(n), k + 1 + rnd(Math.min(3, n - k - 1))];
    }
    const blocks = cfg(spec);
    for (const k of plain) { // no branch: falls through to the next block
      blocks[k].insns = [{ ...blocks[k].insns[0], form: F.NOP, len: 0x10, imm: 0n }];
      blocks[k].next = (k + 1) * 0x10;
    }
    const entry = blocks[g % 5 === 0 ? rnd(n) : 0].start;
    const a = run(() => layout(blocks as any, entry)), b = run(() => layoutReference(blocks as any, entry));
    assert.equal(a, b, `graph ${g}: ${JSON.stringify(spec)} entry ${entry}`);
    if (typeof a === "object" && a) {
      const l = a as ReturnType<typeof layout>;
      if (l.loopEnd.some((x) => x >= 0)) loops++;
      if (l.cut.size) cuts++;
    }
  }
  assert.ok(loops > 1000 && cuts > 100, `graphs with loops ${loops}, with cut edges ${cuts}`);
});

test("the JIT decodes its page at the host address, not through the current address space (background compiles)",
  async () => {
  // A request made by one domain may be compiled while another is current, where the same linear
  // address maps other code: jit_decode must read the region's own page. Here the linear address of the
  // data page is decoded with the code page's host address.
  const code = asm("imul %ecx, %eax\nud2", 64, CODE);
  const core = await machine(64, "off", code, 0, ["rw"]);
  const other = asm("cmp $0x30d40, %rbx\nud2", 64, DATA);
  core.bytes().set(other, MM.MACHINE_BASE + DATA);
  const e = core.x.jit_decode(BigInt(DATA), MM.MACHINE_BASE + CODE);
  assert.ok(e > 0);
  const i = readInsn(core.x.memory.buffer, e, 0, true);
  assert.is(i.op, 0x1af, "IMUL from the code page (not CMP from the page the linear address maps)");
  assert.is(i.len, 3);
});

test.run();
