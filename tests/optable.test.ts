// The opcode table (host/cpu/x86-table.ts) against the code: the generated decoder table, LOCK rules as
// the decoder applies them, the fast forms and JIT translations found by decoding sample encodings, and
// the differential generators' coverage. A mismatch names the rows to change.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { MM } from "../host/core";
import { X86 } from "../host/cpu/x86-table";
import { renderOptable, rowsById, attrByte, OP_IDS } from "../host/cpu/optable-render";
import { machine } from "./lib/flatcpu";
import { tiers, coverage, decodeAt } from "./lib/optprobe";

const by = rowsById();
const hex = (n: number) => "0x" + n.toString(16).padStart(3, "0");

test("assembly/cpu/optable.gen.ts is generated from the table (`npm run gen`)", () => {
  assert.ok(X86.length > 100);
  assert.is(readFileSync("assembly/cpu/optable.gen.ts", "utf8"), renderOptable(), "run `npm run gen`");
});

test("the core's decoder attributes are the table's", async () => {
  const core = await machine(64, "off", new Uint8Array(16), 0, ["rw"]);
  const b = core.bytes();
  const bad = by.map((r, i) => (b[MM.OPTABLE_BASE + i] !== attrByte(r.dec) ? hex(i) : "")).filter(Boolean);
  assert.equal(bad, []);
});

test("LOCK: the decoder applies the table's rule (the memory forms listed, #UD elsewhere)", async () => {
  const core = await machine(64, "off", new Uint8Array(16), 0, ["rw"]);
  let checked = 0;
  const bad: string[] = [];
  for (let op = 0; op < 0x200; op++) { // every ModRM opcode of the one-byte and 0F maps
    const a = attrByte(by[op].dec), imm = (a >> 1) & 7;
    if (!(a & 1) || (a & 0x40) || op === 0x138 || op === 0x13a || imm > 3) continue; // (inv64: #UD here anyway)
    const esc = op < 0x100 ? [] : [0x0f];
    for (let reg = 0; reg < 8; reg++) {
      for (const mem of [true, false]) {
        const bytes = [
          0xf0, ...esc, op & 0xff, (mem ? 0x03 : 0xc1) | (reg << 3),
          ...(imm ? new Array(imm === 1 ? 1 : 4).fill(0) : [])
        ];
        const i = decodeAt(core, bytes, true);
        if (!i) continue;
        const want = mem && ((by[op].lock ?? 0) >> reg) & 1 ? op : 0x400;
        checked++;
        if (i.op !== want)
          bad.push(`${hex(op)}/${reg} ${mem ? "mem" : "reg"}: decoded ${hex(i.op!)}, table says ${hex(want)}`);
      }
    }
  }
  assert.ok(checked > 3000, `${checked} encodings`);
  assert.equal(bad, []);
});

test("fast forms and JIT translations: the table's fast/jit columns are what the code does", async () => {
  const t = await tiers();
  const bad: string[] = [];
  for (let op = 0; op < OP_IDS; op++) {
    const r = by[op];
    if ((r.fast ?? 0) !== t.fast[op]) bad.push(
      `${hex(op)} ${r.name}: fast 0x${(r.fast ?? 0).toString(16)} in the table, 0x${t.fast[op].toString(16)} in fast.ts`
    );
    if ((r.jit ?? 0) !== t.jit[op]) bad.push(
      `${hex(op)} ${r.name}: jit 0x${(r.jit ?? 0).toString(16)} in `
        + `the table, 0x${t.jit[op].toString(16)} in translate.ts`
    );
  }
  assert.ok(
    t.fast.filter(Boolean).length > 100 && t.jit.filter(Boolean).length > 100, "the probe finds the fast forms"
  );
  assert.equal(bad, []);
});

test("conformance coverage: the table's conf column is what the generators produce", async () => {
  const cov = await coverage();
  const gens: Set<string>[] = Array.from({ length: OP_IDS }, () => new Set());
  for (const [g, m] of cov) for (const [op] of m) gens[op].add(g.split(":")[0]);
  const bad: string[] = [];
  for (let op = 0; op < OP_IDS; op++) {
    const want = [...gens[op]].sort().join(" "), have = [...(by[op].conf ?? [])].sort().join(" ");
    if (want !== have)
      bad.push(`${hex(op)} ${by[op].name}: conf [${have}] in the table, [${want}] in the generators' cases`);
  }
  assert.ok(gens.filter((g) => g.size).length > 200);
  assert.equal(bad, []);
});

test.run();
