// bench/fuzz-parsers: the fuzz harness of every parser that takes outside bytes (tests/lib/pfuzz/:
// bare ELF, PV ELF + Xen notes + the domain builder, bzImage, configs and TOOLSTACK records, save
// files restored into a real hypervisor, migration streams into a real relocation listener, the
// xenstore wire and ring, xend's JSON-lines protocol). Each target runs in a worker thread with a
// watchdog (no progress for --hang-ms: killed, reported as a hang, the run goes on).
//   --count N (per target; default 100000)  --seed S (default 1)  --target NAME (repeatable; default all)
//   --start I (first input index)  --hang-ms MS (default 60000)  --max-ms MS: an input slower than
//   this fails the bench (default 10000; timing is judged here, never in npm test)  --json
//   --max-rss-mib M: a target whose process grew past M MiB fails the bench (default 2048; the
//   worker's V8 heap is also capped at 1536 MiB: past it the worker dies, a failure)
//   --verbose: also the most frequent clear errors of each target (how deep its inputs got)
// Prints a line per target {inputs, ok, clear_errors, failures, max_ms, max_rss_mib}, the reproducers
// of failures (files under /tmp/xenwasm-parser-fuzz), and with --json one JSON line last. Exit 1 on
// any failure.
import { cpus } from "node:os";
import { runTarget, TargetResult } from "../tests/lib/pfuzz/runner";
import { TARGETS } from "../tests/lib/pfuzz/targets";

const argv = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : def;
};
const names = argv.flatMap((a, i) => (a === "--target" ? [argv[i + 1]] : []));
const json = argv.includes("--json");
const count = opt("count", 100000), seed = opt("seed", 1), start = opt("start", 0), hangMs = opt("hang-ms", 60000),
  maxMs = opt("max-ms", 10000);
const maxRss = opt("max-rss-mib", 2048);

async function main(): Promise<number> {
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) {
    console.error(
      `bench:fuzz-parsers: no target ${unknown.join(", ")} (have ${TARGETS.map((t) => t.name).join(", ")})`
    ); return 2;
  }
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(seed) && Number.isInteger(start) && start >= 0)) {
    console.error("bench:fuzz-parsers: --count, --seed, --start must be whole numbers"); return 2;
  }
  const targets = TARGETS.filter((t) => names.length === 0 || names.includes(t.name));
  const results: TargetResult[] = [];
  for (const t of targets) {
    const r = await runTarget({ target: t.name, seed, count, start, hangMs });
    const slow = r.max_ms > maxMs, fat = r.max_rss_mib > maxRss;
    results.push(r);
    console.log(
      `${t.name.padEnd(10)} inputs ${r.inputs}  ok ${r.ok}  clear `
        + `errors ${r.clear_errors}  failures ${r.failures}  max ` + `${r.max_ms} ms (input `
        + `${r.max_ms_index})${slow ? ` SLOWER THAN ${maxMs} ms` : ""}  ` + `max rss ${r.max_rss_mib} `
        + `MiB${fat ? ` ABOVE ${maxRss} MiB` : ""}  ${r.seconds} s`
    );
    if (argv.includes("--verbose")) for (const [m, n] of r.errors) console.log(`  ${String(n).padStart(7)}  ${m}`);
    for (const d of r.details.slice(0, 10))
      console.log(`  FAILURE input ${d.index}: ${d.why.split("\n")[0]}${d.file ? ` (${d.file})` : ""}`);
  }
  const failures =
    results.reduce((a, r) => a + r.failures + (r.max_ms > maxMs ? 1 : 0) + (r.max_rss_mib > maxRss ? 1 : 0), 0);
  if (json) {
    const out: Record<string, unknown> = { seed, count, cpu: cpus()[0]?.model ?? "unknown", failures, targets: {} };
    for (const r of results) (out.targets as Record<string, unknown>)[r.target] = {
      inputs: r.inputs, ok: r.ok, clear_errors: r.clear_errors, failures: r.failures, max_ms: r.max_ms,
      max_rss_mib: r.max_rss_mib, seconds: r.seconds
    };
    console.log(JSON.stringify(out));
  }
  return failures ? 1 : 0;
}

main().then(
  (c) => process.exit(c), (e) => { console.error(`bench:fuzz-parsers: ${(e as Error).stack}`); process.exit(1); }
);
