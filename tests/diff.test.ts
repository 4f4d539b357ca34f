// Differential tests of the emulator against the real CPU (64-bit natively, 32-bit under qemu-i386):
// a fixed-seed run of every instruction form of tests/lib/diffgen.ts, one test per group and mode.
// The large run is `npm run conformance`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { diffRun, describe } from "./lib/diffrun";

const stats = await diffRun({ seed: 20240601, count: 100, maxMismatches: 3 });

for (const s of stats) {
  test(`differential ${s.group} (${s.bits}-bit): ${s.cases} cases match the real CPU`, () => {
    if (s.failed) {
      const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
      assert.unreachable(`${s.failed}/${s.cases} mismatches in ${forms}\n${s.mismatches.map(describe).join("\n")}`);
    }
  });
}

test.run();
