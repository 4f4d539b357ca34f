// Batches of 10^6 entries (issue 12): guests/pv/bigbatch.c's mmu_update, multicall and GNTTABOP_copy of n
// entries beside an always-runnable counter domain (tests/lib/bigbatch.ts). Prints, per width and batch,
// the wall time, the continuations made, the samples (hv_runs of 100000 units) in which the counter ran,
// those in which only the batch advanced (and the most continuations in a row of them), and the
// counter's instructions meanwhile; with the real clock (the scheduler shares CPU time, so after a long
// turn of the counter the batch may make several continuations in a row), or with --turn-clock, every
// vCPU turn charged alike as in tests/bigbatch.test.ts. `npm run bench:bigbatch -- [--n 1000000] [--json]`.
import { runBigBatch } from "../tests/lib/bigbatch";

const argv = process.argv.slice(2);
const at = argv.indexOf("--n");
const n = at >= 0 ? Number(argv[at + 1]) : 1_000_000;
const json = argv.includes("--json");
const turnClock = argv.includes("--turn-clock");
const rows: Record<string, unknown>[] = [];
let ok = true;
for (const bits of [64, 32] as const) {
  const r = await runBigBatch(bits, n, { turnClock });
  const passed = r.out.includes("bigbatch: PASSED") && r.reason === 0;
  if (!passed) { ok = false; console.error(r.out + r.dmesg); }
  for (const p of r.phases) {
    rows.push({ bits, batch: p.name, n, ms: p.ms, continuations: p.conts, counterTurns: p.counterTurns,
      stalled: p.stalled, maxStalledConts: p.maxStalledConts, counterInsns: Number(p.ctrInsns), passed });
  }
  rows.push({ bits, batch: "whole guest", n, ms: r.ms, continuations: r.totalConts, passed });
}
if (json) console.log(JSON.stringify(rows, null, 1));
else console.table(rows);
if (!ok) process.exitCode = 1;
