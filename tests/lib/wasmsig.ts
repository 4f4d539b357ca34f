// The signatures of a wasm module's exported functions, read from its binary (type, import, function
// and export sections), in the notation of host/core.ts's CORE_EXPORTS: parameters then '>' then the
// result, one letter a value: i (i32), I (i64), f (f32), d (f64); "" before or after '>' for none.
const LETTER: Record<number, string> = { 0x7f: "i", 0x7e: "I", 0x7d: "f", 0x7c: "d" };

export function exportSignatures(bin: Uint8Array): Map<string, string> {
  let p = 8;
  const u = (): number => {
    let r = 0, s = 0, b; do { b = bin[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0;
  };
  const name = (): string => {
    const n = u(); const t = new TextDecoder().decode(bin.subarray(p, p + n)); p += n; return t;
  };
  const types: string[] = [], funcs: number[] = [], out = new Map<string, string>();
  let imported = 0;
  while (p < bin.length) {
    const id = bin[p++], size = u(), end = p + size;
    if (id === 1) { // types
      for (let n = u(); n > 0; n--) {
        if (bin[p++] !== 0x60) throw new Error("not a function type");
        const ps: string[] = []; for (let k = u(); k > 0; k--) ps.push(LETTER[bin[p++]] ?? "?");
        const rs: string[] = []; for (let k = u(); k > 0; k--) rs.push(LETTER[bin[p++]] ?? "?");
        types.push(`${ps.join("")}>${rs.join("")}`);
      }
    } else if (id === 2) { // imports: functions take the first indices
      for (let n = u(); n > 0; n--) {
        name(); name();
        const kind = bin[p++];
        if (kind === 0) { funcs.push(u()); imported++; }
        else if (kind === 1) { p++; const f = u(); u(); if (f & 1) u(); }
        else if (kind === 2) { const f = u(); u(); if (f & 1) u(); }
        else if (kind === 3) { p += 2; }
      }
    } else if (id === 3) { for (let n = u(); n > 0; n--) funcs.push(u()); }
    else if (id === 7) {
      for (let n = u(); n > 0; n--) {
        const nm = name(); const kind = bin[p++]; const idx = u(); if (kind === 0) out.set(nm, types[funcs[idx]]);
      }
    }
    p = end;
  }
  void imported;
  return out;
}
