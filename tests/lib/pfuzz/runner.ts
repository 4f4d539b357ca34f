// Runs a fuzz target in a worker thread with a watchdog: an input with no progress for `hangMs`, a
// worker that dies (out of heap, an uncaught exception) or a setup that fails is a failure with its
// reproducer (the input's bytes, taken from shared memory) written under reproDir; the run then goes
// on from the next input in a new worker. The watchdog kills; it does not judge speed (max_ms is
// reported, never asserted by npm test).
import { Worker } from "node:worker_threads";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../repo";
import { hexOf } from "./mutate";

/** Int32 slots of the shared control block (counters are the worker's, read by the runner). */
export const CTL = {
  INDEX: 0, LEN: 1, PHASE: 2, TICK: 3, INPUTS: 4, OK: 5, ERRORS: 6, FAILURES: 7, MAX_MS10: 8, MAX_MS_INDEX: 9,
  RSS_MIB: 10
} as const;
/** Shared memory for the input being run: inputs above this many bytes are not kept there. */
const INPUT_CAP = 48 << 20;

export interface WorkerArgs {
  target: string; seed: number; start: number; count: number; sab: SharedArrayBuffer; reproDir: string
}
export interface Failure { index: number; why: string; file: string }
export interface TargetResult {
  target: string; inputs: number; ok: number; clear_errors: number; failures: number; max_ms: number;
  max_ms_index: number;
  max_rss_mib: number; seconds: number; details: Failure[];
  /** The most frequent clear errors (numbers made N) and their counts. */
  errors: [string, number][];
}
export interface RunOptions {
  target: string; seed: number; count: number; start?: number;
  /** An input with no progress for this long is a hang: the worker is killed (default 60 s). */
  hangMs?: number;
  /** Setup (seed making) limit (default 180 s). */
  setupMs?: number;
  /** The worker's V8 heap limit in MiB (default 1536): past it the worker dies, a failure. */
  heapMiB?: number;
  reproDir?: string;
}

export async function runTarget(o: RunOptions): Promise<TargetResult> {
  const t0 = performance.now();
  const res: TargetResult = {
    target: o.target, inputs: 0, ok: 0, clear_errors: 0, failures: 0, max_ms: 0, max_ms_index: -1, max_rss_mib: 0,
    seconds: 0, details: [], errors: []
  };
  let start = o.start ?? 0;
  const end = start + o.count;
  for (let restarts = 0; start < end; restarts++) {
    if (restarts > 10) {
      res.details.push({
        index: start, why: `gave up after ${restarts} dead workers: inputs ${start}..${end - 1} not run`, file: ""
      }); res.failures++; break;
    }
    const next = await runWorker(o, start, end - start, res);
    if (next < 0) break;
    start = next;
  }
  res.max_ms = Math.round(res.max_ms * 10) / 10;
  res.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return res;
}

/** One worker from `start`; adds its counts to `res`; returns where to go on (-1: done or setup failed). */
function runWorker(o: RunOptions, start: number, count: number, res: TargetResult): Promise<number> {
  const sab = new SharedArrayBuffer(64 + INPUT_CAP);
  const ctl = new Int32Array(sab, 0, 16);
  const reproDir = o.reproDir ?? "/tmp/xenwasm-parser-fuzz";
  const args: WorkerArgs = { target: o.target, seed: o.seed, start, count, sab, reproDir };
  const w = new Worker(join(repoRoot(), "dist/tests/parsers-fuzz-worker.js"), {
    workerData: args, resourceLimits: { maxOldGenerationSizeMb: o.heapMiB ?? 1536 }, stdout: true, stderr: true,
  });
  // What the worker prints (a guest's console, xend's log) is not ours to show.
  w.stdout.resume(); w.stderr.resume();
  return new Promise((resolve) => {
    let finished = false;
    const collect = () => {
      res.inputs += Atomics.load(ctl, CTL.INPUTS); res.ok += Atomics.load(ctl, CTL.OK);
      res.clear_errors += Atomics.load(ctl, CTL.ERRORS); res.failures += Atomics.load(ctl, CTL.FAILURES);
      const ms = Atomics.load(ctl, CTL.MAX_MS10) / 10;
      if (ms > res.max_ms) { res.max_ms = ms; res.max_ms_index = Atomics.load(ctl, CTL.MAX_MS_INDEX); }
      res.max_rss_mib = Math.max(res.max_rss_mib, Atomics.load(ctl, CTL.RSS_MIB));
    };
    const finish = (next: number) => {
      if (finished) return;
      finished = true;
      clearInterval(dog);
      collect();
      void w.terminate();
      resolve(next);
    };
    const dead = (why: string) => {
      if (finished) return;
      const running = Atomics.load(ctl, CTL.PHASE) === 1;
      if (!running) {
        res.failures++; res.details.push({ index: -1, why: `setup: ${why}`, file: "" }); finish(-1); return;
      }
      const i = Atomics.load(ctl, CTL.INDEX), len = Atomics.load(ctl, CTL.LEN);
      const input = len >= 0 ? new Uint8Array(sab, 64, len).slice() : undefined;
      mkdirSync(reproDir, { recursive: true });
      const base = join(reproDir, `${o.target}-${o.seed}-${i}`);
      if (input) writeFileSync(`${base}.bin`, input);
      writeFileSync(`${base}.txt`, `target ${o.target} seed ${o.seed} index ${i}\nagain: node `
          + `dist/bench/fuzz-parsers.js --target ${o.target} --seed ` + `${o.seed} --start ${i} --count 1\n${why}\n` +
        (
          input ? `hex: ${hexOf(input, 65536)}\n`
            : "(input larger than the shared buffer: make it again with the command above)\n"
        )
      );
      // The input that killed it counts as run and failed.
      Atomics.add(ctl, CTL.INPUTS, 1); Atomics.add(ctl, CTL.FAILURES, 1);
      res.details.push({ index: i, why, file: `${base}.txt` });
      finish(i + 1);
    };
    let lastTick = -1, since = performance.now();
    const dog = setInterval(() => {
      const tick = Atomics.load(ctl, CTL.TICK);
      if (tick !== lastTick) { lastTick = tick; since = performance.now(); return; }
      const limit = Atomics.load(ctl, CTL.PHASE) === 1 ? (o.hangMs ?? 60000) : (o.setupMs ?? 180000);
      if (performance.now() - since > limit) dead(`no progress for ${limit / 1000} s: killed by the watchdog (a hang)`);
    }, 250);
    w.on("message", (m: { done?: true; failure?: Failure; setupFailed?: string; errors?: [string, number][] }) => {
      if (m.errors) res.errors.push(...m.errors);
      else if (m.failure) { if (res.details.length < 50) res.details.push(m.failure); }
      else if (m.done) finish(-1);
      else if (m.setupFailed) dead(m.setupFailed);
    });
    w.on("error", (e) => dead(`the worker died: ${(e as Error)?.stack ?? String(e)}`));
    w.on("exit", (code) => dead(`the worker exited (code ${code}) before it finished`));
  });
}
