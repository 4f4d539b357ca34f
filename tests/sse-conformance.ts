// `node dist/tests/sse-conformance.js`: differential run of the emulator's SSE/SSE2 (and x87 control)
// instructions against the real CPU (64-bit and 32-bit processes, natively) over every form of
// tests/lib/ssegen.ts (in 32-bit mode: those that exist there).
// Prints a table per group, the first mismatches of each group, and exits 1 if anything failed.
// Options: --seed N (default 1), --count N cases per form (default 200), --group NAME (repeatable or
// comma-separated), --mode 32|64 (default both), --show N mismatches printed per group (default 5).
import { sseRun, describe, skipped32 } from "./lib/sserun";
import { noteUnstable } from "./lib/diffrun";
import { groups } from "./lib/ssegen";

const args = process.argv.slice(2);
let seed = 1, count = 200, show = 5;
let modes: (32 | 64)[] = [64, 32];
const gs: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = () => args[++i];
  if (a === "--seed") seed = Number(v());
  else if (a === "--count") count = Number(v());
  else if (a === "--group") gs.push(...v().split(","));
  else if (a === "--show") show = Number(v());
  else if (a === "--mode") modes = [Number(v()) as 32 | 64];
  else if (a === "--help" || a === "-h") {
    console.log(
      `usage: node dist/tests/sse-conformance.js [--seed N] ` + `[--count N] [--group NAME] [--mode 32|64] [--show `
        + `N]\ngroups: ${groups().join(" ")}`
    );
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}
for (const g of gs)
  if (!groups().includes(g)) { console.error(`unknown group ${g}; groups: ${groups().join(" ")}`); process.exit(2); }

const t0 = Date.now();
const stats = await sseRun({ seed, count, groups: gs, maxMismatches: show, modes });
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`seed ${seed}, ${count} cases per form\n`);
console.log(`${"group".padEnd(12)} ${"mode".padStart(4)} ${pad("cases", 8)} ${pad("passed", 8)} ${pad("failed", 8)}`);
let tc = 0, tp = 0, tf = 0;
for (const s of stats) {
  console.log(`${s.group.padEnd(12)} ${pad(s.bits, 4)} ${pad(s.cases, 8)} ${pad(s.passed, 8)} ${pad(s.failed, 8)}`);
  tc += s.cases; tp += s.passed; tf += s.failed;
}
console.log(
  `${"total".padEnd(12)} ${"".padStart(4)} ${pad(tc, 8)} ` + `${pad(tp, 8)} ${pad(tf, 8)}   `
    + `(${((Date.now() - t0) / 1000).toFixed(1)} s)`
);
for (const s of stats) noteUnstable(`${s.group} (${s.bits}-bit)`, s.nativeUnstable);
for (const s of stats) {
  if (!s.failed) continue;
  const forms = [...s.failedForms].map(([f, n]) => `${f} (${n})`).join(", ");
  console.log(`\n== ${s.group} (${s.bits}-bit): ${s.failed} mismatches in ${forms}; first ${s.mismatches.length}:`);
  for (const m of s.mismatches) console.log(describe(m));
}
if (skipped32) console.log(`SSE 32-bit cases skipped: ${skipped32}`);
process.exit(tf ? 1 : 0);
