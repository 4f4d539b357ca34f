// `npm test`: builds what the tests need (core, host, guests), runs every dist/tests/**/*.test.js in
// its own Node process with uvu, and ends with the line CI counts: `N passed, N failed` (after it says how
// many tests were skipped, and why: a test file prints `skipped: REASON` for each).
// A test file that crashes or prints no uvu summary counts as one failure.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: "inherit", ...opts });

// Debian packages and the build (idempotent; quick when everything is there).
if (sh("bash", ["scripts/setup.sh"]).status !== 0) { console.log("setup failed"); console.log("0 passed, 1 failed"); process.exit(1); }
if (sh("npm", ["run", "--silent", "build"]).status !== 0) { console.log("build failed"); console.log("0 passed, 1 failed"); process.exit(1); }
if (existsSync("guests/Makefile") && sh("make", ["-s", "-C", "guests"]).status !== 0) {
  console.log("guest build failed"); console.log("0 passed, 1 failed"); process.exit(1);
}

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) find(p, out);
    else if (n.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = find("dist/tests").filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
let passed = 0, failed = 0, skipped = 0;
const bad = [], skips = [];
for (const f of files) {
  console.log(`\n# ${f}`);
  const r = spawnSync(process.execPath, [f], { encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" }, maxBuffer: 256 << 20 });
  const out = (r.stdout || "") + (r.stderr || "");
  process.stdout.write(out);
  const total = /Total:\s+(\d+)/.exec(out), ok = /Passed:\s+(\d+)/.exec(out);
  if (!total || !ok) { failed++; bad.push(`${f} (no summary, exit ${r.status ?? r.signal})`); continue; }
  const t = +total[1], p = +ok[1], sk = /Skipped:\s+(\d+)/.exec(out);
  skipped += sk ? +sk[1] : 0;
  for (const m of out.matchAll(/^skipped: (.*)$/gm)) skips.push(`${f}: ${m[1]}`);
  passed += p; failed += t - p;
  if (t - p > 0 || r.status !== 0) { if (t === p) { failed++; } bad.push(f); }
}
if (bad.length) console.log(`\nfailing files:\n  ${bad.join("\n  ")}`);
if (skipped) console.log(`\n${skipped} skipped (not counted as passed):\n  ${skips.join("\n  ")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
