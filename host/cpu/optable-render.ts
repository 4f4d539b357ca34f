// Renders assembly/cpu/optable.gen.ts (the decoder's attribute bytes and the LOCK rules) from the opcode
// table (host/cpu/x86-table.ts). `npm run gen` writes it; tests/optable.test.ts checks it is current.
import { X86, type OpRow } from "./x86-table";

// The attribute bits and immediate kinds of assembly/cpu/optable.ts.
const BITS: Record<string, number> = { M: 0x01, d64: 0x10, f64: 0x20, inv64: 0x40, byte: 0x80 };
const IMM: Record<string, number> = { ib: 1, iw: 2, iz: 3, iv: 4, moffs: 5, iwb: 6, ptr: 7 };

/** The attribute byte of a row's `dec` (throws on an unknown word or two immediates). */
export function attrByte(dec: string): number {
  let a = 0, imm = 0;
  for (const w of dec.split(/\s+/).filter(Boolean)) {
    if (w in BITS) a |= BITS[w];
    else if (w in IMM) { if (imm) throw new Error(`two immediates in "${dec}"`); imm = IMM[w]; a |= imm << 1; }
    else throw new Error(`unknown decode attribute "${w}" in "${dec}"`);
  }
  return a;
}

/** The number of opcode ids (0x000-0x7FF; cpu/optable.ts). */
export const OP_IDS = 0x800;

/** Each opcode id's row (every id 0x000-0x7FF has exactly one). */
export function rowsById(rows: OpRow[] = X86): OpRow[] {
  const by: (OpRow | undefined)[] = new Array(OP_IDS);
  for (const r of rows) {
    const to = r.to ?? r.op;
    if (r.op < 0 || to >= OP_IDS || to < r.op) throw new Error(`row ${r.name}: bad id range`);
    for (let i = r.op; i <= to; i++) {
      if (by[i]) throw new Error(`opcode id 0x${i.toString(16)} in two rows (${by[i]!.name}, ${r.name})`);
      by[i] = r;
    }
  }
  const missing = by.findIndex((r) => !r);
  if (missing >= 0) throw new Error(`opcode id 0x${missing.toString(16)} has no row`);
  return by as OpRow[];
}

const hexRows = (bytes: number[]) => {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 16)
    out.push("  " + bytes.slice(i, i + 16).map((b) => "0x" + b.toString(16).padStart(2, "0")).join(", ") + ",");
  return out.join("\n");
};

export function renderOptable(rows: OpRow[] = X86): string {
  const by = rowsById(rows);
  const attrs = by.map((r) => attrByte(r.dec));
  const lock = by.map((r) => {
    if (r.lock && !(attrByte(r.dec) & BITS.M)) throw new Error(`row ${r.name}: LOCK without a memory operand`);
    return r.lock ?? 0;
  });
  return `// Generated from host/cpu/x86-table.ts by \`npm run gen\`: do not edit (tests/optable.test.ts checks it).
// Per opcode id (0x000-0x7FF): the decoder's attribute byte (cpu/optable.ts A_*), and the ModRM.reg
// values (a bit each) whose memory form takes LOCK.

export const OP_ATTRS: StaticArray<u8> = [
${hexRows(attrs)}
];

export const OP_LOCK: StaticArray<u8> = [
${hexRows(lock)}
];
`;
}
