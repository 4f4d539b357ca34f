// One background compile's translation: the regions a batch of requests discovered (their blocks of
// decoded instructions, plain data) into one WebAssembly module's bytes. Pure: it reads no core memory,
// so it runs on the thread of the core (jit.ts, where no translator thread exists) or on a translator
// thread (host/node/jit-worker.ts), where it takes nothing from the guest's time slices.
import { buildModule } from "./wasm";
import { IMPORTS, translate, translateReference, type Block } from "./translate";
import type { FuncDef } from "./wasm";

/** page: the host address of the region's page. */
export interface RegionJob { blocks: Block[]; entry: number; page: number }
export interface Batch { is64: boolean; mode: number; chain: boolean; regions: RegionJob[] }
export interface BatchResult { bytes: Uint8Array<ArrayBuffer>; translateMs: number }

/** A translator thread's answer: the module compiled there (where the runtime can send a compiled
 * module between threads), else its bytes; or the error. */
export interface Translated {
  module?: WebAssembly.Module; bytes?: Uint8Array<ArrayBuffer>; size: number; translateMs: number; error?: string
}
/** A translator on another thread: `submit` queues a batch; `poll` (between run slices) takes the answers
 * that are ready, without waiting, and calls their `done` there and then. */
export interface Translator { submit(b: Batch, done: (r: Translated) => void): void; poll(): void }

/** Regions whose one-pass translation disagreed with its flag-state pass (a translator bug: translate()
 *  checks itself and throws) and were translated the two-pass way instead. */
export let translateFallbacks = 0;

export function translateBatch(b: Batch): BatchResult {
  const t0 = performance.now();
  const funcs = b.regions.map((r, i): FuncDef => {
    try {
      return translate(r.blocks, r.entry, b.is64, "f" + i, b.mode, b.chain, r.page);
    } catch {
      translateFallbacks++;
      return translateReference(r.blocks, r.entry, b.is64, "f" + i, b.mode, b.chain, r.page);
    }
  });
  const bytes = buildModule(IMPORTS, funcs, b.chain);
  return { bytes, translateMs: performance.now() - t0 };
}
