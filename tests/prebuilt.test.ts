// The prebuilt guests shipped in guests/prebuilt/ (what `xm run` boots after an `npm install` without a C
// toolchain): they are what their sources build to, byte for byte, with the toolchain named in
// guests/prebuilt/TOOLCHAIN (`make -C guests prebuilt` refreshes them); and `xm run` finds the prebuilt
// default guest when nothing was built.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "./lib/repo";

const ROOT = repoRoot();
const PRE = join(ROOT, "guests", "prebuilt"), GB = join(ROOT, "guests", "build");
const files = readdirSync(PRE).filter((f) => f.endsWith(".elf")).sort();

/** First line of `TOOL --version`, or a note that it is missing. */
function version(tool: string): string {
  try {
    return execFileSync(tool, ["--version"], { encoding: "utf8" }).split("\n")[0];
  } catch { return `${tool}: not found`; }
}
const recorded = readFileSync(join(PRE, "TOOLCHAIN"), "utf8").trimEnd();
const here = [version("gcc"), version("ld"), version("as")].join("\n");

test("guests/prebuilt holds the default guest and names its toolchain", () => {
  assert.ok(files.includes("pv-hello-64.elf"), "pv-hello-64.elf (xm run's default guest)");
  assert.is(recorded.split("\n").length, 3, "TOOLCHAIN: gcc, ld, as");
});

if (recorded === here) {
  if (files.some((f) => !existsSync(join(GB, f))))
    spawnSync("make", ["-s", "-C", join(ROOT, "guests")], { stdio: "inherit" });
  for (const f of files) {
    test(`guests/prebuilt/${f} is byte-identical to its build (${recorded.split("\n")[0]})`, () => {
      const a = readFileSync(join(PRE, f)), b = readFileSync(join(GB, f));
      assert.ok(
        a.equals(b),
        `guests/prebuilt/${f} differs from guests/build/${f}: rebuild with \`make -C guests prebuilt\` and commit`
      );
    });
  }
} else {
  console.log(
    `skipped: byte comparison of guests/prebuilt/ with a build: `
      + `this toolchain (${here.replace(/\n/g, "; ")}) is not the ` + `recorded one (${recorded.replace(/\n/g, "; ")})`
  );
  test.skip();
}

test("xm run boots the prebuilt default guest when no guest was built", () => {
  // A copy of what `npm install` gives without a C toolchain: the CLI, the core, guests/prebuilt only.
  const pkg = mkdtempSync(join(tmpdir(), "xm-prebuilt-test-"));
  try {
    for (const p of ["bin/xm.js", "dist/host/cli/xm.js", "build/xenwasm.wasm", "guests/prebuilt/pv-hello-64.elf"]) {
      mkdirSync(dirname(join(pkg, p)), { recursive: true });
      cpSync(join(ROOT, p), join(pkg, p));
    }
    // and the package's runtime dependencies, as `npm install` puts them beside it
    const deps = Object.keys(
      (
        JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> }
      ).dependencies ?? {}
    );
    for (const d of deps) {
      mkdirSync(dirname(join(pkg, "node_modules", d)), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", d), join(pkg, "node_modules", d));
    }
    const r =
      spawnSync(process.execPath, [join(pkg, "bin", "xm.js"), "run"], { encoding: "utf8", cwd: pkg, timeout: 180_000 });
    assert.is(r.status, 0, `exit status ${r.status}, signal ${r.signal} (stderr: ${r.stderr})`);
    assert.match(r.stdout, /Hello from a xenwasm PV guest \(64-bit\)/);
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
});

// `npm install` rewrites a lock that differs from package.json (issue 13: it added the xend bin), and .ci/run
// falls back to it when `npm ci` fails: so the two are compared here.
test("package-lock.json's root entry is package.json's (name, version, bin, dependencies, devDependencies)", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")).packages[""];
  const sorted = (o: Record<string, string> | undefined) => JSON.stringify(Object.entries(o ?? {}).sort());
  for (const k of ["name", "version"]) assert.is(lock[k], pkg[k], k);
  for (const k of ["bin", "dependencies", "devDependencies"]) assert.is(sorted(lock[k]), sorted(pkg[k]), k);
});

test.run();
