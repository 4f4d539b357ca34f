// XENWASM_JIT_RECORD=DIR (a debug setting, off by default): every batch the JIT's core thread hands to
// the translator is also appended to DIR/jit-<pid>.jsonl (host/jit/record.ts), with the SHA-256 of the
// module bytes the translator makes of it (translated once more here, on the core's thread: recording
// slows the JIT down). bench/jit-translate.ts replays a recording.
import { appendFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { translateBatch, type Batch } from "../jit/batch";
import { encodeBatch } from "../jit/record";

/** The recorder for XENWASM_JIT_RECORD, or undefined when it is not set. */
export function jitRecorder(): ((b: Batch) => void) | undefined {
  const dir = process.env.XENWASM_JIT_RECORD;
  if (!dir) return undefined;
  const file = join(dir, `jit-${process.pid}.jsonl`);
  let made = false;
  return (b: Batch) => {
    if (!made) { mkdirSync(dir, { recursive: true }); made = true; }
    const sha = createHash("sha256").update(translateBatch(b).bytes).digest("hex");
    appendFileSync(file, encodeBatch(b, sha) + "\n");
  };
}
