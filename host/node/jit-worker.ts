// The JIT's translator thread (Node, Bun, Deno: worker_threads): batches of discovered regions in,
// module bytes out (host/jit/batch.ts). Built as dist/lib/jit-worker.js; host/node/translator.ts starts it.
import { parentPort } from "node:worker_threads";
import { translateBatch, type Batch } from "../jit/batch";

parentPort?.on("message", (m: { id: number; batch: Batch }) => {
  try {
    const r = translateBatch(m.batch);
    parentPort!.postMessage({ id: m.id, bytes: r.bytes, translateMs: r.translateMs }, [r.bytes.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: String((e as Error)?.stack ?? e) });
  }
});
