// The JIT's batch recordings (XENWASM_JIT_RECORD, host/node/jit-record.ts; replayed by
// bench/jit-translate.ts): seeded random code (tests/lib/randcode.ts) runs compiled (force) in both
// widths with the recorder on; every batch the JIT translated is in the recording, decodes to the batch
// it was (every field, imm a BigInt again), and translates again to the module whose hash was recorded.
// The translator (one translation per region, the flag states from flow()) against its reference (the
// region translated twice, the flag states taken from the first translation): the same bytes for every
// region recorded. Each batch packed for the translator thread (packBatch) unpacks to itself.
// The recording is left in tests/build/jit-record-small: `npm run -s bench:jit-translate -- --rec
// tests/build/jit-record-small` replays it (a recording made before a change to the translator checks,
// there, that its output is unchanged).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { MM } from "../host/core";
import { platform } from "../host/platform";
import { jitRecorder } from "../host/node/jit-record";
import { INSN_FIELDS, packBatch, translateBatch, unpackBatch, type Batch } from "../host/jit/batch";
import { IMPORTS, translate, translateReference } from "../host/jit/translate";
import { buildModule } from "../host/jit/wasm";
import { decodeBatch, encodeBatch } from "../host/jit/record";
import { asm } from "./lib/asm";
import { machine, CODE } from "./lib/flatcpu";
import { program } from "./lib/randcode";

const DIR = join("tests", "build", "jit-record-small");

test("a recording holds every batch the JIT translated, decodes to it and re-translates to its hash", async () => {
  rmSync(DIR, { recursive: true, force: true });
  const saved = process.env.XENWASM_JIT_RECORD;
  process.env.XENWASM_JIT_RECORD = DIR;
  const rec = jitRecorder();
  if (saved === undefined) delete process.env.XENWASM_JIT_RECORD; else process.env.XENWASM_JIT_RECORD = saved;
  assert.ok(rec, "XENWASM_JIT_RECORD set: a recorder");
  const live: Batch[] = [];
  const before = platform.jitRecord;
  platform.jitRecord = (b) => { live.push(structuredClone(b)); rec!(b); };
  try {
    for (const bits of [64, 32] as const) {
      for (let seed = 1; seed <= 12; seed++) {
        const core = await machine(
          bits, "force", asm(program(seed, bits), bits, CODE), seed % 3 === 0 ? 3 : 0, ["rw", "rw", "ro", "rw"]
        );
        for (let s = 0; s < 50 && core.run(5000) === MM.EXIT_BUDGET; s++);
      }
    }
  } finally { platform.jitRecord = before; }
  const files = readdirSync(DIR).filter((n) => n.endsWith(".jsonl"));
  assert.is(files.length, 1, "one file per process");
  const lines = readFileSync(join(DIR, files[0]), "utf8").split("\n").filter((l) => l);
  assert.is(lines.length, live.length, "every batch recorded");
  assert.ok(live.length >= 24, `${live.length} batches`);
  assert.ok(live.some((b) => b.is64) && live.some((b) => !b.is64), "both widths");
  let insns = 0;
  lines.forEach((l, n) => {
    const r = decodeBatch(l);
    assert.equal(r.batch, live[n], `batch ${n} decodes to what the JIT translated`);
    const h = createHash("sha256").update(translateBatch(r.batch).bytes).digest("hex");
    assert.is(h, r.sha256, `batch ${n}: the recorded module's hash`);
    insns += r.batch.regions.reduce((a, g) => a + g.blocks.reduce((x, b) => x + b.insns.length, 0), 0);
  });
  assert.ok(insns > 1000, `${insns} instructions recorded`);
  // The same bytes as the reference translation, region by region (some with known start states).
  let regions = 0;
  for (const b of live) {
    for (const r of b.regions) {
      const fast = buildModule(IMPORTS, [translate(r.blocks, r.entry, b.is64, "f", b.mode, b.chain, r.page)]);
      const ref =
        buildModule(IMPORTS, [translateReference(r.blocks, r.entry, b.is64, "f", b.mode, b.chain, r.page)]);
      assert.ok(
        Buffer.compare(fast, ref) === 0,
        `region at ${r.entry.toString(16)} (${b.is64 ? 64 : 32}-bit): the reference translation's bytes`
      );
      regions++;
    }
  }
  assert.ok(regions >= live.length, `${regions} regions compared`);
  // What the translator thread gets (host/node/translator.ts packs each batch into typed arrays): every batch
  // whole, every instruction's fields (the decoder's, discover()'s) known to the packing and in their order.
  const known = new Set<string>(INSN_FIELDS);
  for (const [n, b] of live.entries()) {
    const p = packBatch(b);
    assert.ok(p, `batch ${n} packs`);
    const u = unpackBatch(p!);
    assert.equal(u, b, `batch ${n} unpacks to itself`);
    b.regions.forEach((r, ri) => r.blocks.forEach((bl, bi) => bl.insns.forEach((i, ii) => {
      for (const k of Object.keys(i)) assert.ok(known.has(k), `field ${k} is packed`);
      const ui = u.regions[ri].blocks[bi].insns[ii];
      assert.equal(Object.keys(ui), Object.keys(i), "the fields in the decoder's order");
    })));
  }
  const neg = structuredClone(live[0]);
  neg.regions[0].blocks[0].insns[0].imm = -1n;
  assert.is(packBatch(neg), null, "an imm that is not an unsigned 64-bit value: not packed (cloned instead)");
});

test("a recording's line: 64-bit immediates and absent fields survive; malformed lines are refused", () => {
  const b: Batch = {is64: true, mode: 4, chain: true,
    regions: [{ entry: 0x10, page: 0x5000, blocks: [{ start: 0x10, next: null, insns: [
    {
      off: 0x10, len: 10, form: 5, aux: 0, scale: 0, a: MM.CPU_STATE, b: 0, base: 0, index: 0, disp: 0,
      imm: 0xfedcba9876543210n, op: 0xb8, pfx: 0, seen: true, x64: true
    },
    { off: 0x1a, len: 0, form: -1, aux: 0, scale: 0, a: 0, b: 0, base: 0, index: 0, disp: 0, imm: 0n, cont: true },
  ] }] }] };
  const r = decodeBatch(encodeBatch(b, "ab"));
  assert.equal(r.batch, b);
  assert.is(r.sha256, "ab");
  assert.not.ok("os" in r.batch.regions[0].blocks[0].insns[0], "an absent field stays absent");
  assert.throws(() => decodeBatch("{}"), /not a recorded batch/);
  assert.throws(() => decodeBatch(encodeBatch(b, "ab").replace("[16,10,", "[16,")), /malformed instruction/);
  assert.throws(() => decodeBatch("{"));
});

test.run();
