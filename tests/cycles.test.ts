// Import cycles in the core and the host (shared/notes/layers.md: each layer imports only from below).
// Neither the host nor the core has any (KNOWN lists none left); no new cycle may appear. (Type-only
// imports do not count: they vanish from the build.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, statSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve, relative } from "node:path";

const KNOWN: string[][] = [];

function walk(d: string, out: string[] = []): string[] {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Strongly connected components (more than one file) of the import graph under `top`. */
export function cycles(top: string): string[][] {
  const files = walk(top), known = new Set(files);
  const g = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const f of files) {
    for (const m of readFileSync(f, "utf8").matchAll(/^\s*(import|export)\s+(type\s)?[^;]*?from\s+"(\.[^"]+)"/gm)) {
      if (m[2]) continue;
      let t = resolve(dirname(f), m[3]);
      if (!t.endsWith(".ts")) t += ".ts";
      if (known.has(t)) g.get(f)!.push(t);
    }
  }
  let n = 0;
  const st: string[] = [], on = new Set<string>(), ix = new Map<string, number>(), low = new Map<string, number>(),
    out: string[][] = [];
  const visit = (v: string) => {
    ix.set(v, n); low.set(v, n); n++; st.push(v); on.add(v);
    for (const w of g.get(v)!) {
      if (!ix.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (on.has(w))
        low.set(v, Math.min(low.get(v)!, ix.get(w)!));
    }
    if (low.get(v) === ix.get(v)) {
      const c: string[] = [];
      let w: string;
      do { w = st.pop()!; on.delete(w); c.push(relative(top, w)); } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const f of files) if (!ix.has(f)) visit(f);
  return out;
}

test("the host has no import cycles", () => {
  assert.equal(cycles(resolve("host")), []);
});

test("the core's import cycles: none but the known ones, which may shrink but not grow", () => {
  const found = cycles(resolve("assembly"));
  const bad = found.filter((c) => !KNOWN.some((k) => c.every((f) => k.includes(f))));
  assert.equal(bad, [], "a new import cycle (or a file joined a known one)");
  assert.ok(found.length <= KNOWN.length);
});

test("the cycle finder finds a cycle (two files importing each other; type-only imports ignored)", () => {
  const d = mkdtempSync(join(tmpdir(), "xw-cycles-"));
  writeFileSync(join(d, "a.ts"), 'import { b } from "./b";\nexport const a = 1;\n');
  writeFileSync(join(d, "b.ts"), 'import { a } from "./a";\nexport const b = 2;\n');
  writeFileSync(join(d, "c.ts"), 'import type { a } from "./a";\nexport const c = 3;\n');
  writeFileSync(join(d, "d.ts"), 'import { c } from "./c";\nexport const d = 4;\n');
  try { assert.equal(cycles(d), [["a.ts", "b.ts"]]); } finally { rmSync(d, { recursive: true, force: true }); }
});

test.run();
