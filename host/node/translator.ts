// The JIT's translator thread for the Node entry points (platform.jitTranslate): one worker thread
// (dist/lib/jit-worker.js), started at the first background batch, unref'd (it never keeps a process
// alive). Should it be missing or fail, batches are translated on the calling thread as without it.
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { translateBatch, type Batch, type BatchResult } from "../jit/batch";

/** dist/lib/jit-worker.js, found from this file upwards (dist/<dir>/file.js, dist/lib/node.js, host/node/). */
function workerPath(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const p of [join(dir, "jit-worker.js"), join(dir, "dist", "lib", "jit-worker.js")]) if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

let worker: Worker | null = null;
let broken = false;
let nextId = 0;
const waiting = new Map<number, { ok: (r: BatchResult) => void; fail: (e: Error) => void }>();

function start(): Worker | null {
  if (worker || broken) return worker;
  const p = workerPath();
  if (!p) { broken = true; return null; }
  try {
    const w = new Worker(p);
    w.on("message", (m: { id: number; bytes?: Uint8Array<ArrayBuffer>; translateMs?: number; error?: string }) => {
      const h = waiting.get(m.id);
      if (!h) return;
      waiting.delete(m.id);
      if (m.bytes) h.ok({ bytes: new Uint8Array(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), translateMs: m.translateMs ?? 0, thread: true });
      else h.fail(new Error(`jit translator: ${m.error}`));
    });
    const down = (why: string) => {
      broken = true; worker = null;
      for (const [, h] of waiting) h.fail(new Error(`jit translator: ${why}`));
      waiting.clear();
    };
    w.on("error", (e) => down(e.message));
    w.on("exit", (c) => down(`exited (${c})`));
    w.unref(); // (after the listeners: adding one refs the worker again)
    worker = w;
  } catch { broken = true; }
  return worker;
}

export function jitTranslate(batch: Batch): Promise<BatchResult> {
  const w = start();
  if (!w) return Promise.resolve().then(() => translateBatch(batch));
  const id = nextId++;
  return new Promise<BatchResult>((ok, fail) => {
    waiting.set(id, { ok, fail });
    try { w.postMessage({ id, batch }); } catch (e) { waiting.delete(id); ok(translateBatch(batch)); }
  });
}
