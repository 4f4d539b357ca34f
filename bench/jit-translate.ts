// bench/jit-translate: the JIT's translator (host/jit/batch.ts translateBatch) replayed on a recording of
// the batches a real run handed it (XENWASM_JIT_RECORD=DIR, host/node/jit-record.ts), on this thread.
//
//   node dist/bench/jit-translate.js [--rec DIR|FILE] [--reps N] [--json]
//
// --rec: a recording (a .jsonl file, or a directory: all its .jsonl files); default
// $XENWASM_JIT_RECORDING, else ~/.cache/xenwasm/jit-record. Every batch is translated --reps times
// (default 7) in turn; first_ms is the first pass (V8 has not optimized the translator yet: as in a fresh
// translator thread), the other figures are the best pass's (total ms, ms per batch, µs per region, ns per
// instruction) and its garbage-collection time (the process's GC pauses during the pass); cpu_ms is the
// least CPU time (user + system, all of the process's threads: V8's compiler and GC threads too) of a pass,
// the steadier figure on a loaded machine; first_cpu_ms the first pass's (V8's compiles of the translator
// in its background threads included: what a fresh translator thread costs the machine); thread_ms the
// least time this thread ran on a CPU during a pass (/proc/thread-self/schedstat, Linux; else null): the
// figure a busy machine moves least. Each batch's
// module bytes are hashed (SHA-256) in every pass and compared with the hash recorded with it (what the
// translator made of it when it was recorded): any difference is reported and the exit status is 1.
// With --json the last line of stdout is one JSON object:
// {batches, regions, insns, module_bytes, reps, first_ms, best_ms, median_ms, ms_per_batch, us_per_region,
//  ns_per_insn, gc_ms, cpu_ms, first_cpu_ms, thread_ms, mismatches, recording, load_avg}.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { homedir, loadavg } from "node:os";
import { PerformanceObserver } from "node:perf_hooks";
import { packBatch, translateBatch, unpackBatch } from "../host/jit/batch";
import { decodeBatch, type RecordedBatch } from "../host/jit/record";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// This thread's time on a CPU so far, in ms (null where /proc/thread-self/schedstat is not there).
function threadMs(): number | null {
  try { return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6; } catch { return null; }
}

function load(path: string): RecordedBatch[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path).filter((n) => n.endsWith(".jsonl")).sort().map((n) => join(path, n)) : [path];
  const out: RecordedBatch[] = [];
  for (const f of files) {
    const lines = readFileSync(f, "utf8").split("\n");
    lines.forEach((l, n) => {
      if (!l) return;
      // (packed and unpacked, or structuredClone: the objects the translator thread gets, as the translator
      // makes them: host/node/translator.ts)
      try {
        const r = decodeBatch(l), p = packBatch(r.batch);
        out.push({ batch: p ? unpackBatch(p) : structuredClone(r.batch), sha256: r.sha256 });
      } catch (e) { throw new Error(`${f}:${n + 1}: ${(e as Error).message}`); }
    });
  }
  return out;
}

async function main(): Promise<number> {
  const json = process.argv.includes("--json");
  const rec = arg("--rec") ?? process.env.XENWASM_JIT_RECORDING ?? join(homedir(), ".cache", "xenwasm", "jit-record");
  const reps = Number(arg("--reps") ?? 7);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps ${arg("--reps")}: expected a positive integer`);
  if (!existsSync(rec))
    throw new Error(`no recording at ${rec} (record one with XENWASM_JIT_RECORD=DIR, see docs/JIT.md)`);
  const batches = load(rec);
  if (!batches.length) throw new Error(`${rec}: no batches`);
  const regions = batches.reduce((a, b) => a + b.batch.regions.length, 0);
  const insns = batches.reduce(
    (a, b) => a + b.batch.regions.reduce((x, r) => x + r.blocks.reduce((y, bl) => y + bl.insns.length, 0), 0), 0
  );

  let gc = 0;
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gc += e.duration; });
  obs.observe({ entryTypes: ["gc"] });
  const settle = () => new Promise((r) => setTimeout(r, 20)); // (GC entries arrive asynchronously)

  const passes: { ms: number; gc: number; cpu: number; thread: number | null }[] = [];
  let mismatches = 0, bytes = 0;
  const bad: string[] = [];
  for (let p = 0; p < reps; p++) {
    await settle();
    gc = 0;
    const mods: Uint8Array[] = [];
    const t0 = performance.now(), c0 = process.cpuUsage(), th0 = threadMs();
    for (const b of batches) mods.push(translateBatch(b.batch).bytes);
    const ms = performance.now() - t0, c1 = process.cpuUsage(c0), th1 = threadMs();
    const hashes = mods.map((m) => createHash("sha256").update(m).digest("hex"));
    if (p === 0) for (const m of mods) bytes += m.length;
    await settle();
    passes.push({ ms, gc, cpu: (c1.user + c1.system) / 1000, thread: th0 === null || th1 === null ? null : th1 - th0 });
    hashes.forEach((h, n) => {
      if (h !== batches[n].sha256) {
        mismatches++; if (bad.length < 5)
          bad.push(`pass ${p}, batch ${n}: ${h.slice(0, 16)} != recorded ${batches[n].sha256.slice(0, 16)}`);
      }
    });
  }
  obs.disconnect();
  const best = passes.reduce((a, b) => (b.ms < a.ms ? b : a));
  const sorted = passes.map((p) => p.ms).sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const res = {
    batches: batches.length, regions, insns, module_bytes: bytes, reps,
    first_ms: r2(passes[0].ms), best_ms: r2(best.ms), median_ms: r2(sorted[sorted.length >> 1]),
    ms_per_batch: r2(best.ms / batches.length),
    us_per_region: r2((best.ms * 1000) / regions), ns_per_insn: r2((best.ms * 1e6) / insns), gc_ms: r2(best.gc),
    cpu_ms: r2(Math.min(...passes.map((p) => p.cpu))), first_cpu_ms: r2(passes[0].cpu),
    thread_ms: passes[0].thread === null ? null : r2(Math.min(...passes.map((p) => p.thread!))),
    mismatches, recording: rec, load_avg: loadavg().map(r2),
  };
  console.log(`${rec}: ${res.batches} batches, ${regions} regions, ${insns} instructions, ${bytes} module bytes`);
  console.log(
    `first pass ${res.first_ms} ms; best of ${reps}: ` + `${res.best_ms} ms (median ${res.median_ms}); `
      + `${res.ms_per_batch} ms/batch, ${res.us_per_region} ` + `µs/region, ${res.ns_per_insn} ns/instruction; GC `
      + `${res.gc_ms} ms; least CPU time of a pass ${res.cpu_ms} ms (first pass ${res.first_cpu_ms}); `
      + `least time on a CPU of this thread ${res.thread_ms} ms; load ${res.load_avg.join(" ")}`
  );
  for (const b of bad) console.log(`MISMATCH ${b}`);
  console.log(mismatches ? `${mismatches} module(s) differ from the recording` : "every module's bytes as recorded");
  if (json) console.log(JSON.stringify(res));
  return mismatches ? 1 : 0;
}

main().then(
  (c) => { process.exitCode = c; },
  (e) => { console.error(`bench/jit-translate: ${(e as Error).message}`); process.exitCode = 1; }
);
