// `tsc --strict` over host/, tests/ and bench/ (tsconfig.json; esbuild, which builds them, checks no
// types): any type error fails npm test, with tsc's own report. Among what it checks: host/core.ts's
// CoreExports against the core's wasm signatures (CORE_EXPORTS, SigsMatch).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./lib/repo";

test("tsc --noEmit --strict over host, tests and bench finds no type errors", () => {
  const root = repoRoot();
  const r = spawnSync(
    process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.json")],
    { cwd: root, encoding: "utf8", timeout: 600_000 }
  );
  assert.is(r.error, undefined, "tsc ran");
  assert.is(r.stdout + r.stderr, "", "tsc's report");
  assert.is(r.status, 0);
});

test("the platform-neutral library (host/index.ts) type-checks without Node's types (no process, Buffer, setImmediate)",
  () => {
  const root = repoRoot();
  const r = spawnSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.neutral.json")],
    { cwd: root, encoding: "utf8", timeout: 600_000 }
  );
  assert.is(r.error, undefined, "tsc ran");
  assert.is(r.stdout + r.stderr, "", "tsc's report");
  assert.is(r.status, 0);
});

test.run();
