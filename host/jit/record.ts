// Recordings of the JIT's batches (XENWASM_JIT_RECORD=DIR, host/node/jit-record.ts; replayed by
// bench/jit-translate.ts): one batch per line of text, JSON with each instruction as an array of its
// fields in a fixed order (null: absent; imm as a decimal string), and the SHA-256 of the module bytes
// the translator made of it when it was recorded, so that a replay checks the translator's output is
// unchanged. Platform-neutral: no `node:` module here.
import type { Batch } from "./batch";
import type { Insn } from "./translate";

const KEYS = ["off", "len", "form", "aux", "scale", "a", "b", "base", "index", "disp", "imm", "op", "pfx", "os", "mod",
  "reg", "rm", "rex", "ax", "as", "seg", "x64", "seen", "cont"] as const;

// The order readInsn (translate.ts) gives an instruction's fields, that the decoded objects get theirs
// in: V8 gives them the shapes the translator thread's structured-clone copies have.
const ORDER = ["off", "len", "form", "aux", "scale", "a", "b", "base", "index", "disp", "imm", "op", "pfx", "os", "mod",
  "reg", "rm", "rex", "ax", "seen", "as", "seg", "x64", "cont"].map((k) => KEYS.indexOf(k as typeof KEYS[number]));

export interface RecordedBatch { batch: Batch; sha256: string }

/** One line (without its newline) for batch `b` whose module's SHA-256 (hex) is `sha256`. */
export function encodeBatch(b: Batch, sha256: string): string {
  return JSON.stringify({
    is64: b.is64, mode: b.mode, chain: b.chain, sha256,
    regions: b.regions.map((r) => ({
      entry: r.entry, page: r.page,
      blocks: r.blocks.map((bl) => ({
        start: bl.start, next: bl.next,
        insns: bl.insns.map(
          (i) => KEYS.map(
            (k) => { const v = i[k]; return v === undefined ? null : typeof v === "bigint" ? v.toString() : v; }
          )
        ),
      })),
    })),
  });
}

/** The batch of one recorded line (as encodeBatch wrote it); throws on a malformed line. */
export function decodeBatch(line: string): RecordedBatch {
  const j = JSON.parse(line) as {
    is64: boolean; mode: number; chain: boolean; sha256: string;
    regions: { entry: number; page: number; blocks: { start: number; next: number | null; insns: unknown[][] }[] }[];
  };
  if (typeof j.sha256 !== "string" || !Array.isArray(j.regions)) throw new Error("jit recording: not a recorded batch");
  return {
    sha256: j.sha256,
    batch: {
      is64: j.is64, mode: j.mode, chain: j.chain,
      regions: j.regions.map((r) => ({
        entry: r.entry, page: r.page,
        blocks: r.blocks.map((bl) => ({
          start: bl.start, next: bl.next,
          insns: bl.insns.map((a) => {
            if (!Array.isArray(a) || a.length !== KEYS.length) throw new Error("jit recording: malformed instruction");
            const i: Record<string, unknown> = {};
            for (const n of ORDER) if (a[n] !== null) i[KEYS[n]] = KEYS[n] === "imm" ? BigInt(a[n] as string) : a[n];
            return i as unknown as Insn;
          }),
        })),
      })),
    },
  };
}
