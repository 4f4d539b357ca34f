// `npm run conformance`: differential run of the emulator against the real CPU (64-bit natively,
// 32-bit under qemu-i386) over every instruction form of tests/lib/diffgen.ts, then of the x87 and MMX
// forms of tests/lib/x87gen.ts (64-bit, natively; tests/x87-conformance.ts alone), then of the SSE to
// SSE4.2 forms of tests/lib/ssegen.ts (64-bit and 32-bit, natively; tests/sse-conformance.ts alone). Prints a table per
// group and mode, the first mismatches of each group, and exits 1 if anything failed.
// Model-specific cases and cases skipped for a CPUID feature the reference lacks: see tests/lib/diffrun.ts.
// Options: --seed N (default 1), --count N cases per form (default 200), --group NAME (repeatable or
// comma-separated), --mode 32|64, --show N mismatches printed per group (default 5).
// DIFF_NATIVE32=host in the environment runs the 32-bit cases directly on the host CPU (a kernel with IA-32
// emulation) instead of under qemu-i386.
import { diffRun, describe, vendorNote, skipNote, jitRetired, noteUnstable } from "./lib/diffrun";
import { jitSettings } from "../host/jit/jit";
import { groups as diffGroups } from "./lib/diffgen";
import { x87Run, describe as describeX87, vendorNote as vendorNoteX87 } from "./lib/x87run";
import { groups as x87Groups } from "./lib/x87gen";
import { sseRun, describe as describeSse, skipped32, vendorNote as vendorNoteSse } from "./lib/sserun";
import { groups as sseGroups } from "./lib/ssegen";
const groups = () => [...diffGroups(), ...x87Groups(), ...sseGroups()];

const args = process.argv.slice(2);
let seed = 1, count = 200, show = 5, compileCases = true;
const gs: string[] = [];
let modes: (32 | 64)[] = [64, 32];
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = () => args[++i];
  if (a === "--seed") seed = Number(v());
  else if (a === "--count") count = Number(v());
  else if (a === "--group") gs.push(...v().split(","));
  else if (a === "--mode") modes = [Number(v()) as 32 | 64];
  else if (a === "--show") show = Number(v());
  else if (a === "--no-compile-cases") compileCases = false;
  else if (a === "--help" || a === "-h") {
    console.log(
      `usage: npm run conformance -- [--seed N] [--count N] ` + `[--group NAME] [--mode 32|64] [--show N] `
        + `[--no-compile-cases]\n(under XENWASM_JIT=force each `
        + `general-purpose case is compiled before it runs, about 3 ms `
        + `a case; --no-compile-cases: only code its branches ` + `reach)\ngroups: ${groups().join(" ")}`
    );
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}
for (const g of gs)
  if (!groups().includes(g)) { console.error(`unknown group ${g}; groups: ${groups().join(" ")}`); process.exit(2); }

const t0 = Date.now();
const gd = gs.filter((g) => diffGroups().includes(g)), gx = gs.filter((g) => x87Groups().includes(g));
const gsse = gs.filter((g) => sseGroups().includes(g));
const stats = gs.length && !gd.length ? [] : await diffRun({
  seed, count, groups: gd, modes, maxMismatches: show, compileCases: compileCases && jitSettings().mode === "force"
});
const xstats = (gs.length && !gx.length)
  || !modes.includes(64) ? [] : await x87Run({ seed, count, groups: gx, maxMismatches: show });
const sstats = gs.length && !gsse.length ? [] : await sseRun({ seed, count, groups: gsse, maxMismatches: show, modes });
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`seed ${seed}, ${count} cases per form\n`);
console.log(
  `${"group".padEnd(12)} ${"mode".padStart(4)} ` + `${pad("cases", 8)} ${pad("passed", 8)} ${pad("failed", 8)} `
    + `${pad("skipped", 8)}`
);
let tc = 0, tp = 0, tf = 0, ts = 0;
for (const s of stats) {
  console.log(
    `${s.group.padEnd(12)} ${pad(s.bits, 4)} ${pad(s.cases, 8)} `
      + `${pad(s.passed, 8)} ${pad(s.failed, 8)} ${pad(s.skipped, 8)}`
  );
  tc += s.cases; tp += s.passed; tf += s.failed; ts += s.skipped;
}
for (const s of [...xstats.map((x) => ({ ...x, bits: 64 })), ...sstats]) {
  console.log(
    `${s.group.padEnd(12)} ${pad(s.bits, 4)} ${pad(s.cases, 8)} ${pad(s.passed, 8)} ${pad(s.failed, 8)} ${pad(0, 8)}`
  );
  tc += s.cases; tp += s.passed; tf += s.failed;
}
console.log(
  `${"total".padEnd(12)} ${"".padStart(4)} ${pad(tc, 8)} ` + `${pad(tp, 8)} ${pad(tf, 8)} ${pad(ts, 8)}   `
    + `(${((Date.now() - t0) / 1000).toFixed(1)} s)`
);
for (const s of stats) {
  const notes = [vendorNote(s), skipNote(s)].filter((x) => x);
  if (notes.length) console.log(`${s.group} (${s.bits}-bit): ${notes.join("; ")}`);
}
if (stats.length && jitSettings().mode !== "off") console.log(
  `general-purpose cases: ${jitRetired} instructions retired in compiled code (XENWASM_JIT=${jitSettings().mode})`
);
for (const s of [...stats, ...xstats.map((x) => ({ ...x, bits: 64 })), ...sstats])
  noteUnstable(`${s.group} (${s.bits}-bit)`, s.nativeUnstable);
for (const s of xstats) if (vendorNoteX87(s)) console.log(`${s.group} (64-bit): ${vendorNoteX87(s)}`);
for (const s of sstats) if (vendorNoteSse(s)) console.log(`${s.group} (${s.bits}-bit): ${vendorNoteSse(s)}`);
for (const s of stats) {
  if (!s.failed) continue;
  const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
  console.log(`\n== ${s.group} (${s.bits}-bit): ${s.failed} mismatches in ${forms}; first ${s.mismatches.length}:`);
  for (const m of s.mismatches) console.log(describe(m));
}
for (const s of xstats) {
  if (!s.failed) continue;
  const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
  console.log(`\n== ${s.group} (64-bit): ${s.failed} mismatches in ${forms}; first ${s.mismatches.length}:`);
  for (const m of s.mismatches) console.log(describeX87(m));
}
for (const s of sstats) {
  if (!s.failed) continue;
  const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
  console.log(`\n== ${s.group} (${s.bits}-bit): ${s.failed} mismatches in ${forms}; first ${s.mismatches.length}:`);
  for (const m of s.mismatches) console.log(describeSse(m));
}
if (skipped32) console.log(`SSE 32-bit cases skipped: ${skipped32}`);
process.exit(tf ? 1 : 0);
