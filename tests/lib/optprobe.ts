// What the code says about each opcode, to check the opcode table's columns (host/cpu/x86-table.ts):
// - tiers(): sample encodings of every opcode id and ModRM.reg (both modes, operand sizes 16/32/64,
//   register and memory operands, with and without LOCK where the table allows it; the VEX ids with a
//   three-byte VEX prefix, every VEX.pp and VEX.W) decoded by the core;
//   which have a fast form (assembly/cpu/fast.ts) and which the JIT translates (host/jit/translate.ts).
// - coverage(): the opcode ids in the differential generators' cases (int, sse, x87), by group.
import { MM, type Core } from "../../host/core";
import { machine, CODE } from "./flatcpu";
import { readInsn, stack32, supported } from "../../host/jit/translate";
import { rowsById, attrByte, OP_IDS } from "../../host/cpu/optable-render";
import { asm } from "./asm";
import * as intGen from "./diffgen";
import * as sseGen from "./ssegen";
import * as x87Gen from "./x87gen";

export interface Tiers { fast: number[]; jit: number[] } // per opcode id: a bit per ModRM.reg

function immLen(kind: number, os: number, is64: boolean): number {
  switch (kind) {
    case 1: return 1;
    case 2: return 2;
    case 3: return os === 2 ? 2 : 4;
    case 4: return os === 8 ? 8 : os === 2 ? 2 : 4;
    case 5: return is64 ? 8 : 4;
    case 6: return 3;
    case 7: return os === 2 ? 4 : 6;
  }
  return 0;
}

export function decodeAt(core: Core, bytes: number[], is64: boolean) {
  core.bytes().set(bytes, MM.MACHINE_BASE + CODE);
  const e = core.x.jit_decode(BigInt(CODE), MM.MACHINE_BASE + CODE);
  return e ? stack32(is64, readInsn(core.x.memory.buffer, e, 0, is64)) : null;
}

export async function tiers(): Promise<Tiers> {
  const by = rowsById();
  const fast = new Array(OP_IDS).fill(0), jit = new Array(OP_IDS).fill(0);
  for (const bits of [64, 32] as const) {
    const core = await machine(bits, "off", new Uint8Array(16), 0, ["rw"]);
    const is64 = bits === 64;
    for (let op = 0x500; op < OP_IDS; op++) vexTiers(core, by, op, is64, fast, jit);
    for (let op = 0; op < 0x400; op++) {
      if (is64 && op >= 0x40 && op <= 0x4f) continue; // REX prefixes there
      if (op === 0x0f || (op >= 0x26 && op <= 0x3e && (op & 7) === 6) || op === 0x64 || op === 0x65 || op === 0x66
          || op === 0x67 ||
        op === 0xf0 || op === 0xf2 || op === 0xf3 || op === 0x138 || op === 0x13a) continue; // prefixes and escapes
      const a = attrByte(by[op].dec), hasM = (a & 1) !== 0, imm = (a >> 1) & 7;
      const esc = op < 0x100 ? [] : op < 0x200 ? [0x0f] : op < 0x300 ? [0x0f, 0x38] : [0x0f, 0x3a];
      for (let reg = 0; reg < (hasM ? 8 : 1); reg++) {
        for (const os of is64 ? [2, 4, 8] : [2, 4]) {
          for (const mem of hasM ? [false, true] : [false]) {
            for (const lock of [false, true]) {
              if (lock && !(mem && ((by[op].lock ?? 0) >> reg) & 1)) continue;
              const bytes = [
                ...(lock ? [0xf0] : []), ...(os === 2 ? [0x66] : []), ...(os === 8 ? [0x48] : []), ...esc, op & 0xff,
                ...(hasM ? [(mem ? 0 : 0xc0) | (reg << 3) | (mem ? 3 : 1)] : []),
                ...new Array(immLen(imm, os, is64)).fill(0)
              ];
              const i = decodeAt(core, bytes, is64);
              if (!i || i.op !== op) continue;
              const bit = hasM ? 1 << reg : 0xff;
              if (i.form !== 0) fast[op] |= bit;
              if (supported(i)) jit[op] |= bit;
            }
          }
        }
      }
    }
  }
  return { fast, jit };
}

/** The VEX-encoded opcode ids (0x500-0x7FF): three-byte VEX, every implied prefix, VEX.W 0 and 1. */
function vexTiers(
  core: Core, by: ReturnType<typeof rowsById>, op: number, is64: boolean, fast: number[], jit: number[]
): void {
  const a = attrByte(by[op].dec), hasM = (a & 1) !== 0, imm = (a >> 1) & 7;
  const map = (op >> 8) & 3;
  for (let reg = 0; reg < (hasM ? 8 : 1); reg++) {
    for (const w of is64 ? [0, 1] : [0]) {
      for (let pp = 0; pp < 4; pp++) {
        for (const mem of hasM ? [false, true] : [false]) {
          const bytes = [0xc4, 0xe0 | map, (w << 7) | 0x78 | pp, op & 0xff,
            ...(hasM ? [(mem ? 0 : 0xc0) | (reg << 3) | (mem ? 3 : 1)] : []), ...new Array(immLen(imm, 4, is64)).fill(0)
          ];
          const i = decodeAt(core, bytes, is64);
          if (!i || i.op !== op) continue;
          const bit = hasM ? 1 << reg : 0xff;
          if (i.form !== 0) fast[op] |= bit;
          if (supported(i)) jit[op] |= bit;
        }
      }
    }
  }
}

/** Opcode ids (and ModRM.reg for ModRM opcodes: a bit each) in each generator group's cases: "int:alu" ... */
export async function coverage(count = 40): Promise<Map<string, Map<number, number>>> {
  const by = rowsById();
  const out = new Map<string, Map<number, number>>();
  const scan = async (name: string, texts: string[], bits: 32 | 64) => {
    if (!texts.length) return;
    const code = asm(texts.map((t) => `${t}\nud2`).join("\n"), bits, CODE);
    const core = await machine(bits, "off", new Uint8Array(16), 0, ["rw"]);
    const m = out.get(name) ?? new Map<number, number>();
    for (let p = 0; p < code.length;) {
      // Each instruction decoded at the start of the code page (the JIT's decoder does not cross pages).
      const i = decodeAt(core, [...code.subarray(p, p + 15)], bits === 64);
      if (!i) { p++; continue; }
      if (i.op! !== 0x400 && i.op! < OP_IDS) { // (0x400: #UD)
        const hasM = (attrByte(by[i.op!].dec) & 1) !== 0;
        m.set(i.op!, (m.get(i.op!) ?? 0) | (hasM ? 1 << (i.reg! & 7) : 0xff));
      }
      p += Math.max(1, i.len);
    }
    out.set(name, m);
  };
  for (const bits of [32, 64] as const) {
    for (const g of intGen.groups())
      await scan(`int:${g}`, intGen.generate(1, count, bits, [g]).map((c) => c.text.replace(/;/g, "\n")), bits);
  }
  for (const g of sseGen.groups())
    await scan(`sse:${g}`, sseGen.generate(1, count, [g]).map((c) => c.text.replace(/;/g, "\n")), 64);
  for (const g of x87Gen.groups())
    await scan(`x87:${g}`, x87Gen.generate(1, count, [g]).map((c) => c.text.replace(/;/g, "\n")), 64);
  return out;
}
