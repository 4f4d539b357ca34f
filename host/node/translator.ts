// The JIT's translator thread for the Node entry points (platform.jitTranslator): one worker thread
// (dist/lib/jit-worker.js), started at the first background batch, unref'd (it never keeps a process
// alive). Its answers come on a port of their own, taken without waiting between run slices
// (receiveMessageOnPort), so a region is installed as soon as the run loop is between slices rather than
// at its next turn of the event loop. Should the worker be missing or fail, null: the JIT translates on
// the core's thread.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { packBatch, type Batch, type Translated, type Translator } from "../jit/batch";

/** dist/lib/jit-worker.js, found from this file upwards (dist/<dir>/file.js, dist/lib/node.js, host/node/). */
function workerPath(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const p of [join(dir, "jit-worker.js"), join(dir, "dist", "lib", "jit-worker.js")])
      if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

let one: Translator | null | undefined;

export function jitTranslator(): Translator | null {
  if (one !== undefined) return one;
  one = null;
  const p = workerPath();
  if (!p || typeof receiveMessageOnPort !== "function") return null;
  let w: Worker, port: MessagePort;
  try {
    const ch = new MessageChannel();
    port = ch.port1;
    w = new Worker(p, { workerData: { port: ch.port2 }, transferList: [ch.port2] });
  } catch { return null; }
  const waiting = new Map<number, (r: Translated) => void>();
  let nextId = 0, down: string | null = null;
  const fail = (why: string) => {
    down = why;
    for (const [, done] of waiting) done({ size: 0, translateMs: 0, error: `jit translator: ${why}` });
    waiting.clear();
  };
  w.on("error", (e) => fail(e.message));
  w.on("exit", (c) => fail(`exited (${c})`));
  w.unref(); // (after the listeners: adding one refs the worker again)
  port.unref();
  one = {
    submit(batch: Batch, done: (r: Translated) => void): void {
      if (down) { done({ size: 0, translateMs: 0, error: `jit translator: ${down}` }); return; }
      const id = nextId++;
      waiting.set(id, done);
      try {
        const packed = packBatch(batch);
        if (packed) w.postMessage({ id, packed }, [packed.nums.buffer, packed.imms.buffer]);
        else w.postMessage({ id, batch });
      } catch (e) { waiting.delete(id); done({ size: 0, translateMs: 0, error: String(e) }); }
    },
    poll(): void {
      if (down) return;
      for (;;) {
        let m: { message: unknown } | undefined;
        try {
          m = receiveMessageOnPort(port);
        } catch (e) { fail(`cannot read its answers: ${(e as Error).message}`); return; }
        if (!m) return;
        const r = m.message as Translated & { id: number };
        const done = waiting.get(r.id);
        if (!done) continue;
        waiting.delete(r.id);
        done(r);
      }
    },
  };
  return one;
}
