// x87 and MMX (assembly/cpu/x87.ts, fp80.ts, ftrans.ts; MMX in sse.ts):
// - a fixed-seed differential run of every form of tests/lib/x87gen.ts against the real CPU (64-bit:
//   every precision and rounding control, masked and unmasked exceptions, special operands; the
//   transcendental results within 1 ulp); the large run is `node dist/tests/x87-conformance.js`
//   (part of `npm run conformance`);
// - unit tests from the SDM: #MF on the next waiting instruction (CR0.NE), none with CR0.NE clear or for
//   the no-wait forms; the 32-bit protected-mode FNSAVE image and FRSTOR; FXSAVE's abridged tag word
//   after MMX and EMMS;
// - a bare guest compiled for the x87 (guests/ldbl.c: long double series, conversions, compares,
//   precision/rounding control, transcendental instructions) prints the same results as natively.
import { test } from "uvu";
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { runBare } from "../host/bare";
import { repoRoot } from "./lib/repo";
import * as assert from "uvu/assert";
import { MM } from "../host/core";
import { x87Run, describe } from "./lib/x87run";
import { sysMachine, SysMachine } from "./lib/sysmachine";

const stats = await x87Run({ seed: 20261206, count: 60, maxMismatches: 3 });
for (const s of stats) {
  test(`x87/MMX differential ${s.group}: ${s.cases} cases match the real CPU`, () => {
    if (s.failed) {
      const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
      assert.unreachable(`${s.failed}/${s.cases} mismatches in ${forms}\n${s.mismatches.map(describe).join("\n")}`);
    }
  });
}

const CR0_NE = 0x20n;
const DATA = 0x200000;
const FX = MM.CPU_STATE + MM.CPU_FXSAVE;

function intercept(m: SysMachine, vec: number): void {
  const v = m.core.view();
  const p = MM.CPU_STATE + MM.CPU_INTERCEPT + (vec >> 3);
  v.setUint8(p, v.getUint8(p) | (1 << (vec & 7)));
}
interface Run { m: SysMachine; vec: number; done: boolean }
async function run(src: string, o: { long?: boolean; clearCr0?: bigint } = {}): Promise<Run> {
  const m = await sysMachine({ long: o.long ?? true, src: `${src}\nmov $0x600d, %ebx\nud2` });
  const c = m.core;
  c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) & ~(o.clearCr0 ?? 0n));
  c.setU64(MM.CPU_CR4, c.u64(MM.CPU_CR4) | 0x600n);
  c.view().setUint32(FX + 24, 0x1f80, true);
  c.x.cpu_state_changed();
  for (const v of [6, 7, 13, 14, 16]) intercept(m, v);
  assert.is(m.run(), MM.EXIT_INTERCEPT, src);
  return { m, vec: c.exitVector, done: c.exitVector === 6 && c.reg(3) === 0x600dn };
}
const bytesAt = (m: SysMachine, a: number, n: number) => m.core.bytes().slice(m.phys(a), m.phys(a) + n);

const DIV0 = `
  fninit
  movw $0x037b, ${DATA}
  fldcw ${DATA}
  fldz
  fld1
  fdiv %st(1), %st
`; // 1/0 with ZE unmasked: ES set, ST(0) left alone

test("an unmasked exception raises #MF at the next waiting x87 instruction (CR0.NE = 1), not at the no-wait ones", async () => {
  const r = await run(`${DIV0}\nfnstsw %ax\nfnstcw ${DATA + 2}\nfnstenv ${DATA + 0x40}\nmov %eax, %esi\nfwait`);
  assert.not.ok(r.done);
  assert.is(r.vec, 16, "#MF");
  assert.is(Number(r.m.core.reg(6)) & 0xffff & 0x80bf, 0x8084, "FSW: ES B ZE");
  const st0 = r.m.core.view().getUint16(FX + 32 + 8, true);
  assert.is(st0, 0x3fff, "ST(0) still 1.0");
  const r2 = await run(`${DIV0}\nfadd %st(0), %st`);
  assert.is(r2.vec, 16, "an arithmetic instruction waits too");
  const r3 = await run(`${DIV0}\npaddb %mm0, %mm1`);
  assert.is(r3.vec, 16, "so does an MMX instruction");
  const r4 = await run(`${DIV0}\nfnclex\nfwait\nfld1`);
  assert.ok(r4.done, "FNCLEX clears it");
});

test("with CR0.NE = 0 a pending exception raises no #MF (FERR#/IRQ 13 is not modelled)", async () => {
  const r = await run(`${DIV0}\nfwait\nfld1`, { clearCr0: CR0_NE });
  assert.ok(r.done, `exception ${r.vec}`);
});

test("FNSAVE (32-bit protected mode): environment, full tag word, registers in stack order; then FNINIT; FRSTOR restores", async () => {
  const r = await run(`
    fninit
    fld1
    fldz
    fldpi
    fnsave ${DATA}
    fnstsw ${DATA + 0x100}
    frstor ${DATA}
    fnstenv ${DATA + 0x200}
  `, { long: false });
  assert.ok(r.done, `exception ${r.vec}`);
  const b = bytesAt(r.m, DATA, 108), v = new DataView(b.buffer);
  assert.is(v.getUint16(0, true), 0x037f, "FCW");
  assert.is((v.getUint16(4, true) >> 11) & 7, 5, "TOP 5");
  // R5 = pi (valid), R6 = 0 (zero), R7 = 1 (valid), R0-R4 empty
  assert.is(v.getUint16(8, true), 0x13ff, "FTW: R0-R4 empty, R5 valid, R6 zero, R7 valid");
  assert.is(v.getUint16(28 + 8, true), 0x4000, "ST(0) = pi");
  assert.is(v.getBigUint64(28, true), 0xc90fdaa22168c235n);
  assert.is(v.getUint16(38 + 8, true), 0, "ST(1) = 0");
  assert.is(v.getUint16(48 + 8, true), 0x3fff, "ST(2) = 1");
  assert.is(new DataView(bytesAt(r.m, DATA + 0x100, 2).buffer).getUint16(0, true), 0, "FNSAVE did FNINIT");
  const e = new DataView(bytesAt(r.m, DATA + 0x200, 28).buffer);
  assert.is((e.getUint16(4, true) >> 11) & 7, 5, "FRSTOR: TOP 5 again");
  assert.is(e.getUint16(8, true), v.getUint16(8, true), "FRSTOR: tags again");
});

test("MMX: TOP 0 and all tags valid after an MMX instruction, the written register's exponent 0xFFFF; EMMS empties", async () => {
  const r = await run(`
    fninit
    fld1
    movq ${DATA}, %mm3
    fxsave ${DATA + 0x100}
    emms
    fxsave ${DATA + 0x400}
  `);
  assert.ok(r.done, `exception ${r.vec}`);
  const a = new DataView(bytesAt(r.m, DATA + 0x100, 512).buffer), b = new DataView(bytesAt(r.m, DATA + 0x400, 512).buffer);
  assert.is((a.getUint16(2, true) >> 11) & 7, 0, "TOP 0");
  assert.is(a.getUint8(4), 0xff, "all valid");
  assert.is(a.getUint16(32 + 3 * 16 + 8, true), 0xffff, "MM3's exponent");
  assert.is(a.getUint16(32 + 7 * 16 + 8, true), 0x3fff, "R7 (the 1.0 pushed with TOP 7) kept");
  assert.is(b.getUint8(4), 0, "EMMS: all empty");
});

test("guests/ldbl.c (long double on the x87) prints what it prints natively: bit for bit, transcendentals within 1 ulp", async () => {
  const GB = join(repoRoot(), "guests", "build");
  if (!existsSync(join(GB, "ldbl-64.elf")) || !existsSync(join(GB, "ldbl-native"))) {
    spawnSync("make", ["-s", "-C", join(repoRoot(), "guests"), "build/ldbl-64.elf", "build/ldbl-native"], { stdio: "inherit" });
  }
  const r = await runBare(readFileSync(join(GB, "ldbl-64.elf")));
  assert.is(r.reason, "exit", r.message);
  const native = spawnSync(join(GB, "ldbl-native"), { encoding: "utf8" }).stdout.trimEnd().split("\n");
  const guest = r.output.trimEnd().split("\n");
  assert.is(guest.length, native.length, "lines");
  assert.ok(native.length > 400);
  const ord = (x: string) => { // position on the line of consecutive extended values
    const [se, m] = x.split(":").map((h) => BigInt("0x" + h));
    const k = (se & 0x7fffn) * (1n << 63n) + (m - (se & 0x7fffn ? 1n << 63n : 0n));
    return se & 0x8000n ? -k : k;
  };
  native.forEach((n, i) => {
    const g = guest[i];
    if (n === g) return;
    const [nk, nn, ni, nv] = n.split(" "), [gk, gn, gi, gv] = g.split(" ");
    assert.ok(nk === "t" && gk === nk && gn === nn && gi === ni, `line ${i + 1}: native \`${n}\`, guest \`${g}\``);
    const d = ord(nv) - ord(gv);
    assert.ok(d >= -1n && d <= 1n, `line ${i + 1}: native \`${n}\`, guest \`${g}\`: more than 1 ulp apart`);
  });
});

test.run();
