// `npm test [filter...]`: builds what the tests need (core, host, guests), runs every
// dist/tests/**/*.test.js in its own Node process with uvu, and ends with the line CI counts:
// `N passed, N failed`, with `, N skipped` appended when some tests were skipped.
//
// Rules (each honest about what ran):
// - dist/tests is removed before the build, so a test whose source is gone cannot run from a stale file.
// - Each filter argument must match at least one test file (by path substring); one that matches
//   nothing is an error (`0 passed, 1 failed`), not an empty success.
// - Each file runs under a time limit (XENWASM_TEST_TIMEOUT seconds, default 1200); its whole process
//   group is killed when the limit passes.
// - A file that crashes, times out or prints no uvu summary counts every one of its tests as failed,
//   including those that passed before the crash. The runner learns their names by running the file
//   again in listing mode (`node --import ./scripts/lib/list-tests.mjs FILE`: "uvu" resolves to a
//   stand-in that records `test(...)` registrations and runs nothing; the file's module-level code does
//   run). A file that cannot even be listed counts as one failure.
// - A file whose uvu summary shows every test passed but which exits non-zero counts one more failure.
// - Skips: a test that cannot check what its name says in this environment (no network namespaces, a
//   missing tool) prints one line `# SKIP <test name>: <reason>` and returns (tests/lib/skip.ts). uvu
//   counts it as passed; the runner moves it from passed to skipped and lists every skip, with its
//   reason, before the last line. uvu's own `test.skip` registrations (its "Skipped:" count) are counted
//   as skipped too, with the `skipped: <reason>` lines such files print.
// - linux and migrate run a second time with XENWASM_JIT_THRESHOLD=1 (Debian's Linux and live migration
//   with nearly everything compiled).
// - The CPU's test files (diff, cpu, jit, system, sse, x87, bare) run a second time with XENWASM_JIT=force (not fuzz:
//   compiling every block of random code before it runs takes minutes).
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: "inherit", ...opts });
const fail = (why) => { console.log(why); console.log("0 passed, 1 failed"); process.exit(1); };

// Debian packages and the build (idempotent; quick when everything is there).
if (sh("bash", ["scripts/setup.sh"]).status !== 0) fail("setup failed");
rmSync("dist/tests", { recursive: true, force: true });
if (sh("npm", ["run", "--silent", "build"]).status !== 0) fail("build failed");
if (existsSync("guests/Makefile") && sh("make", ["-s", "-C", "guests"]).status !== 0) fail("guest build failed");

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
const all = find("dist/tests");
const unmatched = only.filter((o) => !all.some((f) => f.includes(o)));
if (unmatched.length) fail(`no test file matches ${unmatched.map((o) => JSON.stringify(o)).join(", ")} (have ${all.map((f) => f.replace(/^dist\/tests\//, "")).join(", ")})`);
const files = all.filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const timeoutS = Number(process.env.XENWASM_TEST_TIMEOUT ?? 1200);

// The group of the file running now: Ctrl-C (or a TERM) of the runner ends it too.
let group = 0;
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { if (group) { try { process.kill(-group, "SIGKILL"); } catch { /* gone */ } } process.exit(130); });

/** Run one Node process in its own process group; stream its output; kill the group after `limitS`. */
function run(args, limitS, env = {}, echo = true) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { env: { ...process.env, FORCE_COLOR: "0", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    group = c.pid;
    let out = "", timedOut = false;
    const take = (b) => { const s = b.toString(); out += s; if (echo) process.stdout.write(s); };
    c.stdout.on("data", take); c.stderr.on("data", take);
    const timer = setTimeout(() => { timedOut = true; try { process.kill(-c.pid, "SIGKILL"); } catch { /* gone */ } }, limitS * 1000);
    let done = false;
    const finish = (status, signal) => { if (!done) { done = true; clearTimeout(timer); resolve({ out, status, signal, timedOut }); } };
    c.on("exit", (status, signal) => {
      // Whatever the file left behind in its group (daemons it spawned) goes with it; its output is
      // complete when the pipes close (or, should something outside the group hold them, 2 s later).
      try { process.kill(-c.pid, "SIGKILL"); } catch { /* none left */ }
      c.on("close", () => finish(status, signal));
      setTimeout(() => finish(status, signal), 2000).unref();
    });
  });
}

function listTests(f) {
  return run(["--import", "./scripts/lib/list-tests.mjs", f], 600, { XENWASM_LIST_TESTS: "1" }, false).then((r) => {
    const m = /^# TESTS (\[.*\])$/m.exec(r.out);
    try { return m ? JSON.parse(m[1]) : null; } catch { return null; }
  });
}

let passed = 0, failed = 0, skipped = 0;
const bad = [], skips = [];
// The CPU's test files run twice: with the JIT tier as configured (default on) and with every block
// compiled before it runs (XENWASM_JIT=force), so the differential, system and fuzz suites check compiled
// code against the real CPU too.
// Debian's Linux and live migration run a second time with every block compiled at its second visit
// (XENWASM_JIT_THRESHOLD=1): force, which compiles every block before its first run, does not boot Linux
// in reasonable time (more than 600 s, all of it compiling).
const FORCE = /\/(diff|cpu|jit|system|sse|x87|bare)\.test\.js$/;
const EAGER = /\/(linux|migrate)\.test\.js$/;
const jobs = [...files.map((f) => ({ f, env: {} })), ...files.filter((f) => FORCE.test(f)).map((f) => ({ f, env: { XENWASM_JIT: "force" } })),
  ...files.filter((f) => EAGER.test(f)).map((f) => ({ f, env: { XENWASM_JIT_THRESHOLD: "1" } }))];
for (const { f: file, env } of jobs) {
  const f = env.XENWASM_JIT ? `${file} (XENWASM_JIT=force)` : env.XENWASM_JIT_THRESHOLD ? `${file} (XENWASM_JIT_THRESHOLD=1)` : file;
  console.log(`\n# ${f}`);
  const r = await run([file], timeoutS, env);
  const total = /Total:\s+(\d+)/.exec(r.out), ok = /Passed:\s+(\d+)/.exec(r.out), sk = /Skipped:\s+(\d+)/.exec(r.out);
  if (!total || !ok || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutS} s` : `no summary, exit ${r.status ?? r.signal}`;
    const names = await listTests(file);
    if (names && names.length) {
      failed += names.length;
      bad.push(`${f} (${why}: all ${names.length} tests counted as failed)`);
      console.log(`\n# ${f} ${why}; its tests, each counted as failed:\n${names.map((n) => `#   ${n}`).join("\n")}`);
    } else {
      failed++;
      bad.push(`${f} (${why}; its tests could not be listed: counted as one failure)`);
    }
    continue;
  }
  const marks = [...r.out.matchAll(/^# SKIP (.*)$/gm)].map((m) => m[1]);
  const t = +total[1], p = +ok[1];
  const s = Math.min(marks.length, p);
  passed += p - s; failed += t - p; skipped += s + (sk ? +sk[1] : 0);
  for (const m of marks) skips.push(`${f}: ${m}`);
  if (sk && +sk[1] > 0) {
    const why = [...r.out.matchAll(/^skipped: (.*)$/gm)].map((m) => m[1]); // the reasons those files print
    if (why.length) for (const w of why) skips.push(`${f}: ${w}`);
    else skips.push(`${f}: ${sk[1]} test(s) registered with test.skip`);
  }
  if (t - p > 0 || r.status !== 0) { if (t === p) failed++; bad.push(t === p ? `${f} (all passed, but exit ${r.status ?? r.signal})` : f); }
}
if (skips.length) console.log(`\nskipped:\n  ${skips.join("\n  ")}`);
if (bad.length) console.log(`\nfailing files:\n  ${bad.join("\n  ")}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
