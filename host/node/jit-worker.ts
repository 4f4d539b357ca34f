// The JIT's translator thread (Node, Bun, Deno: worker_threads): batches of discovered regions in (from
// the parent, packed into typed arrays: packBatch), their module out on the port the parent gave it
// (host/jit/batch.ts): compiled here when the runtime can send a compiled module to another thread, else
// as bytes. Built as dist/lib/jit-worker.js; host/node/translator.ts starts it and polls the port between run slices.
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { translateBatch, unpackBatch, type Batch, type PackedBatch } from "../jit/batch";

const out = (workerData as { port: MessagePort }).port;
parentPort?.on("message", (m: { id: number; batch?: Batch; packed?: PackedBatch }) => {
  let r;
  try { r = translateBatch(m.packed ? unpackBatch(m.packed) : m.batch!); } catch (e) {
    out.postMessage({ id: m.id, size: 0, translateMs: 0, error: String((e as Error)?.stack ?? e) }); return;
  }
  let module: WebAssembly.Module | undefined;
  try { module = new WebAssembly.Module(r.bytes); } catch { module = undefined; }
  if (module) {
    try {
      out.postMessage({ id: m.id, module, size: r.bytes.length, translateMs: r.translateMs }); return;
    } catch { /* not sendable here: the bytes */ }
  }
  out.postMessage({ id: m.id, bytes: r.bytes, size: r.bytes.length, translateMs: r.translateMs }, [r.bytes.buffer]);
});
