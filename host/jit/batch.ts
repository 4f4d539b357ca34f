// One background compile's translation: the regions a batch of requests discovered (their blocks of
// decoded instructions, plain data) into one WebAssembly module's bytes. Pure: it reads no core memory,
// so it runs on the thread of the core (jit.ts, where no translator thread exists) or on a translator
// thread (host/node/jit-worker.ts), where it takes nothing from the guest's time slices.
import { buildModule } from "./wasm";
import { IMPORTS, slabMark, slabRelease, translate, translateReference, type Block, type Insn } from "./translate";
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
  const mark = slabMark(); // (the functions' bodies die with this call: their storage serves the next batch)
  try {
    const funcs = b.regions.map((r, i): FuncDef => {
      try {
        return translate(r.blocks, r.entry, b.is64, "f" + i, b.mode, b.chain, r.page);
      } catch {
        translateFallbacks++;
        return translateReference(r.blocks, r.entry, b.is64, "f" + i, b.mode, b.chain, r.page);
      }
    });
    const bytes = buildModule(IMPORTS, funcs);
    return { bytes, translateMs: performance.now() - t0 };
  } finally { slabRelease(mark); }
}

// A batch as two typed arrays, for the translator thread: the structured clone of its objects (about 20 fields
// an instruction, 140k instructions in Debian's boot) in worker.postMessage took 160-310 ms of the guest's thread
// over the boot's recorded batches (0.8 s in a profile under load); packed: 80-90 ms, moved (transferred), not
// copied. Layout of `nums` (i32: every number of a batch is one, and read back as the small integers a clone
// gives): is64, mode, chain, the region count; per region entry, page, the block count; per block start, next
// (-1: null), the instruction count; per instruction a mask of the fields present (bit k: INSN_FIELDS[k]) then
// those fields but imm (booleans as 0/1) in INSN_FIELDS order. `imms` holds each instruction's imm (unsigned
// 64-bit, as the decoder reads it). packBatch answers null for a batch that does not fit this (an imm outside
// 0..2^64-1, a number that is not an int32, a field of another type): that batch is cloned as it is.
// unpackBatch gives the fields in readInsn's order (translate.ts), so that the objects have the shapes the
// decoder's have. An Insn field missing from INSN_FIELDS would be lost: tests/jitrecord.test.ts checks the
// list against the decoder's fields, and that batches come back whole.
export const INSN_FIELDS = [
  "off", "len", "form", "aux", "scale", "a", "b", "base", "index", "disp", "imm", "op", "pfx", "os", "mod", "reg", "rm",
  "rex", "ax", "seen", "as", "seg", "x64", "cont",
] as const;
export interface PackedBatch { nums: Int32Array<ArrayBuffer>; imms: BigUint64Array<ArrayBuffer> }

export function packBatch(b: Batch): PackedBatch | null {
  let ni = 0, nb = 0;
  for (const r of b.regions) { nb += r.blocks.length; for (const bl of r.blocks) ni += bl.insns.length; }
  const nums = new Int32Array(4 + b.regions.length * 3 + nb * 3 + ni * INSN_FIELDS.length);
  const imms = new BigUint64Array(ni);
  let p = 0, q = 0;
  if (!int32(b.mode)) return null;
  nums[p++] = b.is64 ? 1 : 0; nums[p++] = b.mode; nums[p++] = b.chain ? 1 : 0; nums[p++] = b.regions.length;
  for (const r of b.regions) {
    if (!int32(r.entry) || !int32(r.page)) return null;
    nums[p++] = r.entry; nums[p++] = r.page; nums[p++] = r.blocks.length;
    for (const bl of r.blocks) {
      if (!int32(bl.start) || (bl.next !== null && (!int32(bl.next) || bl.next < 0))) return null;
      nums[p++] = bl.start; nums[p++] = bl.next === null ? -1 : bl.next; nums[p++] = bl.insns.length;
      for (const i of bl.insns) {
        if (typeof i.imm !== "bigint" || i.imm < 0n || i.imm > 0xffffffffffffffffn) return null;
        imms[q++] = i.imm;
        const at = p++;
        let mask = 1024; // (imm)
        // (each field by name, in INSN_FIELDS order: a loop over the names was as slow as a structured clone)
        if (i.off !== undefined) { if (!int32(i.off)) return null; mask |= 1; nums[p++] = i.off; }
        if (i.len !== undefined) { if (!int32(i.len)) return null; mask |= 2; nums[p++] = i.len; }
        if (i.form !== undefined) { if (!int32(i.form)) return null; mask |= 4; nums[p++] = i.form; }
        if (i.aux !== undefined) { if (!int32(i.aux)) return null; mask |= 8; nums[p++] = i.aux; }
        if (i.scale !== undefined) { if (!int32(i.scale)) return null; mask |= 16; nums[p++] = i.scale; }
        if (i.a !== undefined) { if (!int32(i.a)) return null; mask |= 32; nums[p++] = i.a; }
        if (i.b !== undefined) { if (!int32(i.b)) return null; mask |= 64; nums[p++] = i.b; }
        if (i.base !== undefined) { if (!int32(i.base)) return null; mask |= 128; nums[p++] = i.base; }
        if (i.index !== undefined) { if (!int32(i.index)) return null; mask |= 256; nums[p++] = i.index; }
        if (i.disp !== undefined) { if (!int32(i.disp)) return null; mask |= 512; nums[p++] = i.disp; }
        if (i.op !== undefined) { if (!int32(i.op)) return null; mask |= 2048; nums[p++] = i.op; }
        if (i.pfx !== undefined) { if (!int32(i.pfx)) return null; mask |= 4096; nums[p++] = i.pfx; }
        if (i.os !== undefined) { if (!int32(i.os)) return null; mask |= 8192; nums[p++] = i.os; }
        if (i.mod !== undefined) { if (!int32(i.mod)) return null; mask |= 16384; nums[p++] = i.mod; }
        if (i.reg !== undefined) { if (!int32(i.reg)) return null; mask |= 32768; nums[p++] = i.reg; }
        if (i.rm !== undefined) { if (!int32(i.rm)) return null; mask |= 65536; nums[p++] = i.rm; }
        if (i.rex !== undefined) { if (!int32(i.rex)) return null; mask |= 131072; nums[p++] = i.rex; }
        if (i.ax !== undefined) { if (!int32(i.ax)) return null; mask |= 262144; nums[p++] = i.ax; }
        if (i.seen !== undefined) {
          if (typeof i.seen !== "boolean") return null; mask |= 524288; nums[p++] = i.seen ? 1 : 0;
        }
        if (i.as !== undefined) { if (!int32(i.as)) return null; mask |= 1048576; nums[p++] = i.as; }
        if (i.seg !== undefined) { if (!int32(i.seg)) return null; mask |= 2097152; nums[p++] = i.seg; }
        if (i.x64 !== undefined) {
          if (typeof i.x64 !== "boolean") return null; mask |= 4194304; nums[p++] = i.x64 ? 1 : 0;
        }
        if (i.cont !== undefined) {
          if (typeof i.cont !== "boolean") return null; mask |= 8388608; nums[p++] = i.cont ? 1 : 0;
        }
        nums[at] = mask;
      }
    }
  }
  return { nums: nums.slice(0, p), imms };
}

// An int32 (-0 is not one: it would come back as 0).
const int32 = (v: unknown): boolean => typeof v === "number" && (v | 0) === v && (v !== 0 || 1 / v > 0);

export function unpackBatch(pb: PackedBatch): Batch {
  const { nums, imms } = pb;
  let p = 0, q = 0;
  const is64 = nums[p++] === 1, mode = nums[p++], chain = nums[p++] === 1, nr = nums[p++];
  const regions: RegionJob[] = [];
  for (let ri = 0; ri < nr; ri++) {
    const entry = nums[p++], page = nums[p++], nb = nums[p++];
    const blocks: Block[] = [];
    for (let bi = 0; bi < nb; bi++) {
      const start = nums[p++], nx = nums[p++], n = nums[p++];
      const insns: Block["insns"] = [];
      for (let ii = 0; ii < n; ii++) {
        const mask = nums[p++];
        // (each field stored by name, in INSN_FIELDS order: the objects get the shapes a structured clone gives;
        // stored by computed names, they took more memory and the translator ran slower)
        const o: Partial<Insn> = {};
        if (mask & 1) o.off = nums[p++];
        if (mask & 2) o.len = nums[p++];
        if (mask & 4) o.form = nums[p++];
        if (mask & 8) o.aux = nums[p++];
        if (mask & 16) o.scale = nums[p++];
        if (mask & 32) o.a = nums[p++];
        if (mask & 64) o.b = nums[p++];
        if (mask & 128) o.base = nums[p++];
        if (mask & 256) o.index = nums[p++];
        if (mask & 512) o.disp = nums[p++];
        if (mask & 1024) o.imm = imms[q++];
        if (mask & 2048) o.op = nums[p++];
        if (mask & 4096) o.pfx = nums[p++];
        if (mask & 8192) o.os = nums[p++];
        if (mask & 16384) o.mod = nums[p++];
        if (mask & 32768) o.reg = nums[p++];
        if (mask & 65536) o.rm = nums[p++];
        if (mask & 131072) o.rex = nums[p++];
        if (mask & 262144) o.ax = nums[p++];
        if (mask & 524288) o.seen = nums[p++] === 1;
        if (mask & 1048576) o.as = nums[p++];
        if (mask & 2097152) o.seg = nums[p++];
        if (mask & 4194304) o.x64 = nums[p++] === 1;
        if (mask & 8388608) o.cont = nums[p++] === 1;
        insns.push(o as Insn);
      }
      blocks.push({ start, insns, next: nx < 0 ? null : nx });
    }
    regions.push({ blocks, entry, page });
  }
  return { is64, mode, chain, regions };
}
