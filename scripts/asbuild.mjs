// `npm run asbuild`: compiles the core (assembly/ -> build/xenwasm.wasm, asc's "release" target) and
// records what it was compiled from in build/xenwasm.wasm.inputs: a SHA-256 over every file under
// assembly/ (path and bytes), asconfig.json and the compiler's version. `--if-changed` (npm test)
// compiles only when build/xenwasm.wasm is missing or that record differs (20 s saved when nothing in
// the core changed, e.g. after `npm ci`, which builds it, in CI).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const OUT = "build/xenwasm.wasm", STAMP = `${OUT}.inputs`;

function files(dir, out = []) {
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out); else out.push(p);
  }
  return out;
}

function inputsHash() {
  const h = createHash("sha256");
  const asc = JSON.parse(readFileSync("node_modules/assemblyscript/package.json", "utf8")).version;
  h.update(`asc ${asc}\0release\0`);
  for (const p of ["asconfig.json", ...files("assembly")]) {
    const b = readFileSync(p);
    h.update(`${p}\0${b.length}\0`).update(b);
  }
  return h.digest("hex");
}

const want = inputsHash();
if (process.argv.includes("--if-changed") && existsSync(OUT) && existsSync(STAMP) && readFileSync(STAMP, "utf8").trim() === want) {
  console.log("asbuild: build/xenwasm.wasm is up to date with assembly/ (build/xenwasm.wasm.inputs)");
  process.exit(0);
}
rmSync(STAMP, { force: true }); // a failed or interrupted compile leaves no record behind
const r = spawnSync(process.execPath, ["node_modules/assemblyscript/bin/asc.js", "assembly/index.ts", "--target", "release"], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
// (Sources edited while asc ran give a different hash next time, so they are compiled then.)
writeFileSync(STAMP, want + "\n");
