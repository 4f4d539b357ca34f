// The formatter (scripts/fmt.mjs): the tree is formatted (no line over 120 columns in the TypeScript and
// JavaScript it covers), and the formatter itself breaks lines where it says it does, never changes the
// program (its own check refuses a line break that would), and gives the same text when run twice.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./lib/repo";

const ROOT = repoRoot();
type Fmt = {
  WIDTH: number;
  format(file: string, text: string, width?: number): { text: string; unbreakable: { line: number; text: string }[] };
  check(file: string, before: string, after: string): void;
  projectFiles(): string[];
};
const fmt: Fmt = await import(pathToFileURL(join(ROOT, "scripts", "fmt.mjs")).href);
const lines = (s: string) => s.split("\n");
const longest = (s: string) => Math.max(...lines(s).map((l) => l.length));

test("the tree is formatted: `node scripts/fmt.mjs --check` changes nothing", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "fmt.mjs"), "--check"], { cwd: ROOT, encoding: "utf8" });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}(npm run fmt formats the tree)`);
  assert.match(r.stdout, /0 would change, 0 lines over 120 columns left, 0 refused/);
});

test("a long import list, call and block are broken at their commas and statements", () => {
  const names = Array.from({ length: 30 }, (_, i) => `NAME_${i}`);
  const src = [
    `import { ${names.join(", ")} } from "./x";`,
    "export function f(a: number): number { const b = a + NAME_1; if (b > NAME_2) return NAME_3; g(a, b); " +
      "return b * NAME_4 + NAME_5; }",
    `g(${names.join(", ")});`,
    "",
  ].join("\n");
  const out = fmt.format("t.ts", src).text;
  assert.ok(longest(out) <= fmt.WIDTH, out);
  assert.is(lines(out)[0], "import {");
  assert.ok(lines(out).includes("} from \"./x\";"), out);
  assert.ok(lines(out).some((l) => l === "export function f(a: number): number {"), out);
  assert.ok(lines(out).some((l) => l.startsWith("g(")), out);
});

test("a trailing comment moves above its line; a long comment is re-filled into the next line of its paragraph", () => {
  const src = [
    "  x = computeSomething(alpha, beta, gamma) + computeSomethingElse(delta, epsilon); " +
      `// ${"why ".repeat(15)}it is so`,
    `// ${"word ".repeat(30)}end`,
    "// and the paragraph goes on here.",
    "",
  ].join("\n");
  const out = lines(fmt.format("t.ts", src).text);
  assert.ok(out[0].startsWith("  // why why"), out.join("\n"));
  assert.ok(out.some((l) => l.startsWith("  x = computeSomething(")), out.join("\n"));
  const comments = out.filter((l) => l.startsWith("//"));
  assert.ok(comments.every((l) => l.length <= fmt.WIDTH), comments.join("\n"));
  assert.ok(comments.at(-1)!.endsWith("goes on here."), comments.join("\n"));
  assert.ok(comments.some((l) => l.includes("end and the paragraph")), comments.join("\n"));
});

test("never a break that changes the program: `return` keeps its expression on its line", () => {
  const conds = Array.from({ length: 12 }, (_, i) => `someCondition${i}(value)`);
  const src = `function f(value: number): boolean {\n  return ${conds.join(" || ")};\n}\n`;
  const out = fmt.format("t.ts", src).text;
  assert.ok(longest(out) <= fmt.WIDTH, out);
  assert.match(out, /^  return someCondition0\(value\) \|\|? /m);
  // The check under the formatter refuses text that parses differently (here: ASI after `return`).
  assert.throws(() => fmt.check("t.ts", "function f() { return a || b; }\n", "function f() { return\n a || b; }\n"),
    /changed the syntax tree/);
  assert.throws(() => fmt.check("t.ts", "const a = \"x y\";\n", "const a = \"x\" + \" y\";\n"), /changed the tokens/);
  assert.throws(() => fmt.check("t.ts", "// one two\nx;\n", "// one\nx;\n"), /changed the comments/);
});

test("what cannot be broken is reported, not hidden", () => {
  const src = `const s = "${"x".repeat(150)}";\n`;
  const r = fmt.format("t.ts", src);
  assert.is(r.text, src);
  assert.equal(r.unbreakable.map((u) => u.line), [1]);
});

test("formatting is idempotent on the project's largest files", () => {
  const files = fmt.projectFiles().map((f) => ({ f, n: readFileSync(join(ROOT, f), "utf8").length }))
    .sort((a, b) => b.n - a.n).slice(0, 6);
  for (const { f } of files) {
    const once = fmt.format(f, readFileSync(join(ROOT, f), "utf8")).text;
    assert.is(fmt.format(f, once).text, once, f);
  }
});

test.run();
