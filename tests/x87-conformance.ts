// `node dist/tests/x87-conformance.js` (part of `npm run conformance`): differential run of the x87 and MMX
// instructions against the real CPU (64-bit, natively) over every form of tests/lib/x87gen.ts.
// Prints a table per group, the first mismatches of each group, and exits 1 if anything failed.
// Options: --seed N (default 1), --count N cases per form (default 200), --group NAME (repeatable or
// comma-separated), --show N mismatches printed per group (default 5).
import { x87Run, describe, vendorNote } from "./lib/x87run";
import { noteUnstable } from "./lib/diffrun";
import { groups } from "./lib/x87gen";

const args = process.argv.slice(2);
let seed = 1, count = 200, show = 5;
const gs: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = () => args[++i];
  if (a === "--seed") seed = Number(v());
  else if (a === "--count") count = Number(v());
  else if (a === "--group") gs.push(...v().split(","));
  else if (a === "--show") show = Number(v());
  else if (a === "--help" || a === "-h") {
    console.log(
      `usage: node dist/tests/x87-conformance.js [--seed N] ` + `[--count N] [--group NAME] [--show N]\ngroups: `
        + `${groups().join(" ")}`
    );
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}
for (const g of gs)
  if (!groups().includes(g)) { console.error(`unknown group ${g}; groups: ${groups().join(" ")}`); process.exit(2); }

const t0 = Date.now();
const stats = await x87Run({ seed, count, groups: gs, maxMismatches: show });
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`seed ${seed}, ${count} cases per form\n`);
console.log(`${"group".padEnd(12)} ${pad("cases", 8)} ${pad("passed", 8)} ${pad("failed", 8)}`);
let tc = 0, tp = 0, tf = 0;
for (const s of stats) {
  console.log(`${s.group.padEnd(12)} ${pad(s.cases, 8)} ${pad(s.passed, 8)} ${pad(s.failed, 8)}`);
  tc += s.cases; tp += s.passed; tf += s.failed;
}
console.log(
  `${"total".padEnd(12)} ${pad(tc, 8)} ${pad(tp, 8)} ${pad(tf, 8)}   (${((Date.now() - t0) / 1000).toFixed(1)} s)`
);
for (const s of stats) if (vendorNote(s)) console.log(`${s.group}: ${vendorNote(s)}`);
for (const s of stats) noteUnstable(s.group, s.nativeUnstable);
for (const s of stats) {
  if (!s.failed) continue;
  const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
  console.log(`\n== ${s.group}: ${s.failed} mismatches in ${forms}; first ${s.mismatches.length}:`);
  for (const m of s.mismatches) console.log(describe(m));
}
process.exit(tf ? 1 : 0);
