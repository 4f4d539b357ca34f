// The library under Node, Bun and Deno (npm's `bun` and `deno` packages, devDependencies): the same
// script (examples/embed/smoke.mjs: `import ... from "xenwasm"`, the package's node entry) boots a bare
// guest, a PV guest and a PV guest with a file-backed disk in each, and xm runs the bundled guest under
// each. The package's types (exports' `types`, dist/types from tsc) as a user's program sees them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./lib/repo";

const ROOT = repoRoot();
const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
const RUNTIMES: [string, string, string[]][] = [
  ["node", process.execPath, []],
  ["bun", bin("bun"), []],
  ["deno", bin("deno"), ["run", "--allow-read", "--allow-write", "--allow-env"]],
];

for (const [name, exe, args] of RUNTIMES) {
  test(`${name}: the library boots a bare guest, a PV guest and a PV guest with a file-backed disk`, () => {
    assert.ok(existsSync(exe), `${exe} (npm ci installs it: devDependencies)`);
    const r = spawnSync(
      exe, [...args, "examples/embed/smoke.mjs"],
      { cwd: ROOT, encoding: "utf8", timeout: 300_000, env: { ...process.env, NO_COLOR: "1" } }
    );
    assert.is(r.status, 0, r.stderr + r.stdout);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    const j = JSON.parse(line);
    assert.ok(String(j.runtime).startsWith(name), line);
    assert.equal(j.bare, { reason: "exit", status: 0, first: "Hello from a xenwasm guest" });
    assert.equal(j.pv, { first: "Hello from a xenwasm PV guest (64-bit)", reason: 0 });
    assert.equal(j.blk, { passed: true, fails: [], written: true });
  });

  test(`${name}: xm run boots the bundled guest`, () => {
    const xmArgs = name === "deno" ? [...args, "--allow-run", "--allow-sys"] : args;
    const r = spawnSync(
      exe, [...xmArgs, "bin/xm.js", "run"],
      { cwd: ROOT, encoding: "utf8", timeout: 300_000, input: "", env: { ...process.env, NO_COLOR: "1" } }
    );
    assert.is(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, "Hello from a xenwasm PV guest (64-bit)");
  });
}

test("the package's types: a user's program type-checks against them, and a wrong call does not", () => {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const ok = spawnSync(
    process.execPath, [tsc, "-p", "tests/fixtures/consumer/tsconfig.json"],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 }
  );
  assert.is(ok.stdout + ok.stderr, "", "tsc's report");
  assert.is(ok.status, 0);
  // The same with one mistake: the types are real (not any).
  const dir = join(ROOT, "build", "consumer-check"); // (inside the package: "xenwasm" resolves to itself)
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "wrong.ts"),
    `import { BareMachine } from "xenwasm";\nexport const m = BareMachine.create({ jit: "fast" });\n`
  );
  writeFileSync(
    join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        target: "es2022", module: "esnext", moduleResolution: "bundler", strict: true, noEmit: true,
        lib: ["es2022", "dom"], types: []
      }, files: ["wrong.ts"]
    })
  );
  const bad = spawnSync(
    process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: ROOT, encoding: "utf8", timeout: 300_000 }
  );
  assert.is(bad.status, 2, bad.stdout);
  assert.match(bad.stdout, /wrong\.ts\(2,\d+\): error TS2322: Type '"fast"' is not assignable to type 'JitMode/);
});

test.run();
