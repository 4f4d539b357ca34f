// One fuzz target's run, in a worker thread of its own (started by tests/lib/pfuzz/runner.ts): makes
// inputs start..start+count-1 of (target, seed), feeds each to the target's parser and counts what
// happened. Before each input it puts the input's index and bytes in shared memory, so that the
// runner's watchdog can say which input hung (or blew the heap) after it has killed this thread.
import { parentPort, workerData } from "node:worker_threads";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Rng, inputSeed, hexOf } from "./lib/pfuzz/mutate";
import { targetByName, Verdict } from "./lib/pfuzz/targets";
import { CTL, WorkerArgs } from "./lib/pfuzz/runner";

async function main(a: WorkerArgs): Promise<void> {
  const t = targetByName(a.target);
  if (!t) throw new Error(`no fuzz target ${a.target}`);
  const ctl = new Int32Array(a.sab, 0, 16);
  const bytes = new Uint8Array(a.sab, 64);
  const ctx = await t.setup();
  const rss = () => {
    const m = Math.round(process.memoryUsage.rss() / 1048576);
    if (m > Atomics.load(ctl, CTL.RSS_MIB)) Atomics.store(ctl, CTL.RSS_MIB, m);
  };
  rss();
  Atomics.store(ctl, CTL.PHASE, 1);
  const errors = new Map<string, number>();
  for (let i = a.start; i < a.start + a.count; i++) {
    const input = t.input(new Rng(inputSeed(t.name, a.seed, i)), ctx, i);
    if (input.length <= bytes.length) { bytes.set(input); Atomics.store(ctl, CTL.LEN, input.length); } else
      Atomics.store(ctl, CTL.LEN, -1);
    Atomics.store(ctl, CTL.INDEX, i);
    Atomics.add(ctl, CTL.TICK, 1);
    const s = performance.now();
    let v: Verdict;
    try {
      v = await t.run(input, ctx);
    } catch (e) { v = { kind: "failure", why: `escaped the target: ${(e as Error)?.stack ?? String(e)}` }; }
    const ms10 = Math.round((performance.now() - s) * 10);
    if (ms10 > Atomics.load(ctl, CTL.MAX_MS10)) {
      Atomics.store(ctl, CTL.MAX_MS10, ms10); Atomics.store(ctl, CTL.MAX_MS_INDEX, i);
    }
    if (v.kind === "ok") Atomics.add(ctl, CTL.OK, 1);
    else if (v.kind === "error") {
      Atomics.add(ctl, CTL.ERRORS, 1);
      const k = v.msg.replace(/[0-9]+|0x[0-9a-f]+/g, "N").slice(0, 70);
      errors.set(k, (errors.get(k) ?? 0) + 1);
    }
    else {
      Atomics.add(ctl, CTL.FAILURES, 1);
      parentPort!.postMessage({ failure: { index: i, why: v.why, file: writeRepro(a, i, input, v.why) } });
    }
    Atomics.add(ctl, CTL.INPUTS, 1);
    if ((i & 63) === 0) rss();
  }
  rss();
  // The clear errors seen most (numbers made N): how deep the inputs got.
  parentPort!.postMessage({ errors: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 12) });
}

/** The input and why, under the reproducer directory: TARGET-SEED-INDEX.{bin,txt}. */
export function writeRepro(a: WorkerArgs, index: number, input: Uint8Array, why: string): string {
  mkdirSync(a.reproDir, { recursive: true });
  const base = join(a.reproDir, `${a.target}-${a.seed}-${index}`);
  writeFileSync(`${base}.bin`, input);
  writeFileSync(`${base}.txt`, `target ${a.target} seed ${a.seed} index ${index} (${input.length} bytes)\n` +
    `again: node dist/bench/fuzz-parsers.js --target ${a.target} `
      + `--seed ${a.seed} --start ${index} --count 1\n${why}\nhex: ` + `${hexOf(input, 65536)}\n`
  );
  return `${base}.txt`;
}

main(workerData as WorkerArgs).then(
  () => parentPort!.postMessage({ done: true }),
  (e) => parentPort!.postMessage({ setupFailed: (e as Error)?.stack ?? String(e) }),
);
