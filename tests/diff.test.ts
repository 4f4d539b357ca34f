// Differential tests of the emulator against the real CPU (64-bit natively, 32-bit under qemu-i386):
// a fixed-seed run of every instruction form of tests/lib/diffgen.ts, one test per group and mode.
// The large run is `npm run conformance`. Model-specific cases (docs/CPU-FLAGS.md): the emulator is held to
// the documented result of the vendor it reports, the host CPU's result to its vendor's documented models; cases
// the host CPU cannot run (a missing CPUID feature) are skipped and reported as skipped.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { diffRun, describe, vendorNote, skipNote, jitRetired, noteUnstable } from "./lib/diffrun";
import { jitSettings } from "../host/jit/jit";

const stats = await diffRun({ seed: 20240601, count: 100, maxMismatches: 3 });

for (const s of stats) {
  const vn = vendorNote(s);
  test(`differential ${s.group} (${s.bits}-bit): ${s.cases} cases match the real CPU${vn ? `; ${vn}` : ""}`, () => {
    if (s.failed) {
      const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
      assert.unreachable(`${s.failed}/${s.cases} mismatches in ${forms}\n${s.mismatches.map(describe).join("\n")}`);
    }
  });
  noteUnstable(`differential ${s.group} (${s.bits}-bit)`, s.nativeUnstable);
  if (s.skipped) { console.log(`skipped: differential ${s.group} (${s.bits}-bit): ${skipNote(s)}`); test.skip(); }
  if (s.vendorNativeUnchecked) {
    console.log(
      `skipped: differential ${s.group} (${s.bits}-bit): `
        + `${s.vendorNativeUnchecked} model-specific results of this `
        + `${s.vendors.host} CPU not checked (none documented for it)`
    );
    test.skip();
  }
  if (s.vendorHostUnknown.length) {
    // A CPU model docs/CPU-FLAGS.md does not describe yet: the emulator was still checked against its own
    // documented result; this CPU's should be added to the table (its values below).
    console.log(
      `skipped: differential ${s.group} (${s.bits}-bit): ` + `${s.vendorHostUnknown.length} model-specific results of `
        + `this ${s.vendors.host} CPU match no documented model ` + `(docs/CPU-FLAGS.md), e.g. `
        + `${s.vendorHostUnknown.slice(0, 3).join("; ")}`
    );
    test.skip();
  }
}

if (jitSettings().mode === "force") {
  // With every block compiled first, the cases must really have run as compiled code.
  test("differential cases ran in compiled code (XENWASM_JIT=force)", () => {
    assert.ok(jitRetired > 10_000, `${jitRetired} instructions retired in compiled code`);
  });
  // A case runs from a fresh run() and is one instruction: only the cases with a branch reach a block start.
  // Here every case is compiled before it runs (a region of its own), three of each form.
  const before = jitRetired;
  const each = await diffRun({ seed: 20240602, count: 3, maxMismatches: 3, compileCases: true });
  const cases = each.reduce((a, s) => a + s.cases, 0);
  for (const s of each) noteUnstable(`differential ${s.group} (${s.bits}-bit), each case compiled`, s.nativeUnstable);
  test(`differential cases each compiled before they run: ${cases} `
      + `cases of every group match the real CPU (XENWASM_JIT=force)`, () => {
    const bad = each.filter((s) => s.failed);
    if (bad.length) assert.unreachable(
      bad.map((s) => `${s.group} (${s.bits}-bit): ${s.failed}/${s.cases}\n${s.mismatches.map(describe).join("\n")}`)
        .join("\n")
    );
    assert.ok(
      jitRetired - before >= cases * 0.9,
      `${jitRetired - before} instructions of ${cases} cases retired in compiled code`
    );
  });
}

test.run();
