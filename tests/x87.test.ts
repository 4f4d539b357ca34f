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
import { x87Run, describe, compare, runNative, x80 } from "./lib/x87run";
import { emulatorVendor, referenceCpu, noteUnstable } from "./lib/diffrun";
import { skip } from "./lib/skip";
import { generate, MEMSIZE, REGION, type X87Case } from "./lib/x87gen";
import { sysMachine, SysMachine } from "./lib/sysmachine";

const stats = await x87Run({ seed: 20261206, count: 60, maxMismatches: 3 });
for (const s of stats) {
  test(`x87/MMX differential ${s.group}: ${s.cases} cases match the real CPU`, () => {
    if (s.failed) {
      const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
      assert.unreachable(`${s.failed}/${s.cases} mismatches in ${forms}\n${s.mismatches.map(describe).join("\n")}`);
    }
  });
  noteUnstable(`x87/MMX differential ${s.group}`, s.nativeUnstable);
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

test("an unmasked exception raises #MF at the next waiting x87 instruction (CR0.NE = 1), not at the no-wait ones",
  async () => {
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

test(
  "FNSAVE (32-bit protected mode): environment, full tag word, registers in stack order; then FNINIT; FRSTOR restores",
  async () => {
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

test("MMX: TOP 0 and all tags valid after an MMX instruction, the written register's exponent 0xFFFF; EMMS empties",
  async () => {
  const r = await run(`
    fninit
    fld1
    movq ${DATA}, %mm3
    fxsave ${DATA + 0x100}
    emms
    fxsave ${DATA + 0x400}
  `);
  assert.ok(r.done, `exception ${r.vec}`);
  const a = new DataView(bytesAt(r.m, DATA + 0x100, 512).buffer),
    b = new DataView(bytesAt(r.m, DATA + 0x400, 512).buffer);
  assert.is((a.getUint16(2, true) >> 11) & 7, 0, "TOP 0");
  assert.is(a.getUint8(4), 0xff, "all valid");
  assert.is(a.getUint16(32 + 3 * 16 + 8, true), 0xffff, "MM3's exponent");
  assert.is(a.getUint16(32 + 7 * 16 + 8, true), 0x3fff, "R7 (the 1.0 pushed with TOP 7) kept");
  assert.is(b.getUint8(4), 0, "EMMS: all empty");
});

// Results recorded by a native program (docs/X87.md, "Vendor differences") on an Intel Xeon (family 6 model 167,
// 2026-12-07) and on an AMD EPYC (2026-12-07): st0 and st1 loaded, the instruction, FNSTSW, then ST(0). FSW
// includes TOP (6, or 7 after FYL2X's pop) and B (set with ES). The emulator is held to the results of the vendor
// its CPUID reports, the host CPU to those of its own vendor (both checked on any host that is one of the two).
type X87Vec = [string, number, number, string, string, string, number, string, number];
const X87_VECTORS: X87Vec[] = [ // name, opcode, FCW, ST(0), ST(1), Intel's ST(0) and FSW, AMD's ST(0) and FSW
  // FPREM/FPREM1 of x by +-inf: x itself (a denormal too: DE only, no underflow; a pseudo-denormal gets exponent 1);
  // AMD underflows a denormal when UE is unmasked (UE, ES and the biased result, as for a finite divisor)
  [
    "fprem", 0xf8, 0x0b63, "8000:16d3b1f65af46e6f", "ffff:8000000000000000", "8000:16d3b1f65af46e6f", 0x3002,
    "dffe:b69d8fb2d7a37378", 0xb092
  ],
  [
    "fprem1", 0xf5, 0x0b63, "0000:16d3b1f65af46e6f", "7fff:8000000000000000", "0000:16d3b1f65af46e6f", 0x3002,
    "5ffe:b69d8fb2d7a37378", 0xb092
  ],
  [
    "fprem", 0xf8, 0x0b63, "8000:e6b59b7e554a8a97", "7fff:8000000000000000", "8001:e6b59b7e554a8a97", 0x3002,
    "8001:e6b59b7e554a8a97", 0x3002
  ],
  [
    "fprem", 0xf8, 0x037f, "0000:16d3b1f65af46e6f", "ffff:8000000000000000", "0000:16d3b1f65af46e6f", 0x3002,
    "0000:16d3b1f65af46e6f", 0x3002
  ],
  // ... while a denormal x by a finite y underflows (unmasked UE: the biased result)
  [
    "fprem", 0xf8, 0x0b63, "8000:16d3b1f65af46e6f", "3fff:8000000000000000", "dffe:b69d8fb2d7a37378", 0xb092,
    "dffe:b69d8fb2d7a37378", 0xb092
  ],
  // FSCALE by +-0: x itself (DE only; AMD underflows a denormal when UE is unmasked); by a non-zero y whose
  // integer part is 0, a denormal x underflows
  [
    "fscale", 0xfd, 0x0b63, "0000:567005282f87a563", "0000:0000000000000000", "0000:567005282f87a563", 0x3002,
    "6000:ace00a505f0f4ac6", 0xb092
  ],
  [
    "fscale", 0xfd, 0x0b63, "0000:567005282f87a563", "8000:0000000000000000", "0000:567005282f87a563", 0x3002,
    "6000:ace00a505f0f4ac6", 0xb092
  ],
  [
    "fscale", 0xfd, 0x0b63, "8000:e6b59b7e554a8a97", "0000:0000000000000000", "8001:e6b59b7e554a8a97", 0x3002,
    "8001:e6b59b7e554a8a97", 0x3002
  ],
  [
    "fscale", 0xfd, 0x0b63, "0000:567005282f87a563", "3ffe:8000000000000000", "6000:ace00a505f0f4ac6", 0xb092,
    "6000:ace00a505f0f4ac6", 0xb092
  ],
  [
    "fscale", 0xfd, 0x037f, "0000:567005282f87a563", "3ffe:8000000000000000", "0000:567005282f87a563", 0x3002,
    "0000:567005282f87a563", 0x3002
  ],
  // FYL2X (st0 = x, st1 = y) of a power of two: PE; x > 1 the exact product; x < 1 Intel rounds from just under
  // it (C1, or one ulp under toward zero), AMD gives the exact product (no C1) in every rounding mode
  [
    "fyl2x", 0xf1, 0x037f, "4002:8000000000000000", "3fff:8000000000000000", "4000:c000000000000000", 0x3820,
    "4000:c000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x0b7f, "4002:8000000000000000", "3fff:8000000000000000", "4000:c000000000000000", 0x3820,
    "4000:c000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x037f, "3ffe:8000000000000000", "3fff:8000000000000000", "bfff:8000000000000000", 0x3a20,
    "bfff:8000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x0f7f, "3ffe:8000000000000000", "3fff:8000000000000000", "bffe:ffffffffffffffff", 0x3820,
    "bfff:8000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x077f, "3ffe:8000000000000000", "bfff:8000000000000000", "3ffe:ffffffffffffffff", 0x3820,
    "3fff:8000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x0b7f, "3ffe:8000000000000000", "bfff:8000000000000000", "3fff:8000000000000000", 0x3a20,
    "3fff:8000000000000000", 0x3820
  ],
  [
    "fyl2x", 0xf1, 0x037f, "4006:8000000000000000", "8000:00000000000000f8", "8000:00000000000006c8", 0x3832,
    "8000:00000000000006c8", 0x3832
  ],
  [
    "fyl2x", 0xf1, 0x036f, "4006:8000000000000000", "8000:00000000000000f8", "dfcc:d900000000000000", 0xb8b2,
    "dfcc:d900000000000000", 0xb8b2
  ],
  [
    "fyl2x", 0xf1, 0x0f7f, "3ffd:8000000000000000", "8000:00000000000000f8", "0000:00000000000001ef", 0x3832,
    "0000:00000000000001f0", 0x3832
  ],
  [
    "fyl2x", 0xf1, 0x037f, "3fff:8000000000000000", "3fff:8000000000000000", "0000:0000000000000000", 0x3800,
    "0000:0000000000000000", 0x3800
  ],
];
/** A recorded vector's result for a CPUID vendor string, or undefined for a vendor with none recorded. */
function recorded(v: X87Vec, vendor: string): [string, number] | undefined {
  return vendor === "GenuineIntel" ? [v[5], v[6]] : vendor === "AuthenticAMD" ? [v[7], v[8]] : undefined;
}
function checkRecorded(vendor: string, got: [string, number][]): string[] {
  const bad: string[] = [];
  X87_VECTORS.forEach((v, i) => {
    const [name, , fcw, a, b] = v, [want, fsw] = recorded(v, vendor)!;
    const [res, sw] = got[i];
    if (res !== want || sw !== fsw) bad.push(
      `${name} fcw=${fcw.toString(16)} ${a} ${b}: got ${res} fsw ` + `${sw.toString(16)}, ${vendor} ${want} fsw `
        + `${fsw.toString(16)}`
    );
  });
  return bad;
}

test("FPREM/FPREM1 by infinity, FSCALE by zero, FYL2X of a power "
    + "of two: the emulator gives the recorded results of the " + "vendor it reports", async () => {
  const vendor = await emulatorVendor();
  assert.ok(recorded(X87_VECTORS[0], vendor), `no results recorded for the emulator's vendor ${vendor}`);
  const f80 = (x: string, at: number) => {
    const [se, m] = x.split(":");
    return `movabs $0x${m}, %rax\nmov %rax, ${at}\nmovw $0x${se}, ${at + 8}`;
  };
  const src = X87_VECTORS.map(([, op, fcw, a, b], i) => {
    const at = DATA + 0x100 + i * 0x40;
    return `${f80(a, at)}\n${f80(b, at + 0x10)}\nmovw $0x${fcw.toString(16)}, ${at + 0x20}
      fninit\nfldcw ${at + 0x20}\nfldt ${at + 0x10}\nfldt ${at}\n.byte 0xd9, 0x${op.toString(16)}
      fnstsw ${at + 0x22}\nfnclex\nfstpt ${at + 0x30}\nfninit`;
  }).join("\n");
  const r = await run(src);
  assert.ok(r.done, `exception ${r.vec}`);
  const got = X87_VECTORS.map((_, i): [string, number] => {
    const v = new DataView(bytesAt(r.m, DATA + 0x100 + i * 0x40, 0x40).buffer);
    const se = v.getUint16(0x38, true).toString(16).padStart(4, "0");
    return [`${se}:${v.getBigUint64(0x30, true).toString(16).padStart(16, "0")}`, v.getUint16(0x22, true)];
  });
  assert.equal(checkRecorded(vendor, got), []);
});

const HOST_X87 = "FPREM/FPREM1 by infinity, FSCALE by zero, FYL2X of a power "
  + "of two: this host CPU gives its vendor's recorded results";
test(HOST_X87, () => {
  const vendor = referenceCpu(64).vendor;
  if (!recorded(X87_VECTORS[0], vendor)) return skip(HOST_X87, `no results recorded for this CPU's vendor ${vendor}`);
  // The same inputs as an FXSAVE image (TOP 6, R6 = ST(0) and R7 = ST(1) valid), run by x87run's native harness.
  const put80 = (fx: Uint8Array, o: number, x: string) => {
    const [se, m] = x.split(":"), v = new DataView(fx.buffer);
    v.setBigUint64(o, BigInt("0x" + m), true); v.setUint16(o + 8, parseInt(se, 16), true);
  };
  const cases: X87Case[] = X87_VECTORS.map(([name, op, fcw, a, b]) => {
    const fx = new Uint8Array(512), v = new DataView(fx.buffer);
    v.setUint16(0, fcw, true); v.setUint16(2, 6 << 11, true); fx[4] = 0xc0; v.setUint32(24, 0x1f80, true);
    v.setUint32(28, 0xffff, true);
    put80(fx, 32, a); put80(fx, 48, b);
    const regs = Array(16).fill(0n); regs[4] = BigInt(REGION + 0x1f0);
    return {
      group: "recorded", form: name, text: `.byte 0xd9, 0x${op.toString(16)}`, regs, flags: 0, fx,
      mem: new Uint8Array(MEMSIZE), fswMask: 0xffff, ulp: 0, memSkip: []
    };
  });
  const got = runNative(
    cases
  ).map((o): [string, number] => [x80(o.fx, 32), new DataView(o.fx.buffer, o.fx.byteOffset).getUint16(2, true)]);
  assert.equal(checkRecorded(vendor, got), []);
});

test("model-specific x87 cases: compared bit for bit on a host of "
    + "the emulated vendor, without their vendor-dependent parts " + "on another's", () => {
  const fprem = generate(12, 10000, ["x87misc"]).find((x) => x.vendor);
  assert.ok(fprem?.form === "fprem", "seed 12 holds an FPREM of a denormal by infinity with UE unmasked");
  const fscale = generate(1, 4000, ["x87misc"]).find((x) => x.vendor && x.form === "fscale");
  assert.ok(fscale, "seed 1 holds an FSCALE of a denormal by zero with UE unmasked");
  const fx = (st0se: number, fsw: number) => {
    const b = new Uint8Array(512); const v = new DataView(b.buffer); v.setUint16(2, fsw, true);
    v.setUint16(40, st0se, true); return b;
  };
  const res = (st0se: number, fsw: number) =>
    ({ regs: Array(16).fill(0n), flags: 0, fx: fx(st0se, fsw), mem: new Uint8Array(MEMSIZE), status: 0 });
  const intel = res(0x8000, 0x2802), amd = res(0xe000, 0xa892), other = res(0x8000, 0x2803);
  for (const c of [fprem!, fscale!]) {
    assert.equal(compare(c, amd, intel, true), [], `${c.form}: another vendor's host: ST(0) and UE/ES/B not compared`);
    assert.is(
      compare(c, amd, intel, false).length, 2, `${c.form}: a host of the emulated vendor: ST(0) and FSW compared`
    );
    assert.is(compare(c, other, intel, true).length, 1, `${c.form}: the other FSW bits are compared on any host`);
  }
});

test("guests/ldbl.c (long double on the x87) prints what it prints natively: bit for bit, transcendentals within 1 ulp",
  async () => {
  const GB = join(repoRoot(), "guests", "build");
  if (!existsSync(join(GB, "ldbl-64.elf")) || !existsSync(join(GB, "ldbl-native"))) {
    spawnSync(
      "make", ["-s", "-C", join(repoRoot(), "guests"), "build/ldbl-64.elf", "build/ldbl-native"], { stdio: "inherit" }
    );
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
