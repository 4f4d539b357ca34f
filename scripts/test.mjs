// `npm test [filter...]`: builds what the tests need (core, host, guests), runs every
// dist/tests/**/*.test.js in its own Node process with uvu, and ends with the line CI counts:
// `N passed, N failed`, with `, N skipped` appended when some tests were skipped.
//
// Rules (each honest about what ran):
// - dist/tests is removed before the build, so a test whose source is gone cannot run from a stale file.
// - Each filter argument must match at least one test file (by path substring); one that matches
//   nothing is an error (`0 passed, 1 failed`), not an empty success.
// - Each file runs under a time limit (XENWASM_TEST_TIMEOUT seconds, default 1200; debian-system 2400, see
//   LIMITS); its whole process group is killed when the limit passes.
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
// - Files run two at a time (XENWASM_TEST_JOBS, default 2, or 1 on a one-CPU machine; 1 runs them one by
//   one as before). Two runs of one file never overlap (they share tests/build/<name>), nor do files that
//   bind the same fixed port, network namespace or browser (LOCKS below). The longest files start first.
//   With more than one job a file's output is held and printed whole when it ends; with one it streams.
// - Each file ends with a line `# <file>: <counts> in <seconds> s (CPU <seconds> s)` (CPU: user + system
//   of the file's process and the children it reaped, from /proc/self/stat; steadier than wall time on a
//   shared machine); the slowest files, the wall time and the CPU total are listed before the last line
//   (timings are information, never a pass or fail).
// - The core is compiled only when assembly/ changed since build/xenwasm.wasm (scripts/asbuild.mjs
//   --if-changed); the host bundles and guests are rebuilt (make's own rules) every time.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync, rmSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, basename } from "node:path";

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: "inherit", ...opts });
const fail = (why) => { console.log(why); console.log("0 passed, 1 failed"); process.exit(1); };

// Debian packages and the build (idempotent; quick when everything is there).
if (sh("bash", ["scripts/setup.sh"]).status !== 0) fail("setup failed");
rmSync("dist/tests", { recursive: true, force: true });
// `npm run build` (asbuild, hostbuild, guests), the core compiled only when its sources changed.
const t0 = Date.now();
if (sh(process.execPath, ["scripts/asbuild.mjs", "--if-changed"]).status !== 0)
  fail("build failed (the core: scripts/asbuild.mjs)");
if (sh("npm", ["run", "--silent", "hostbuild"]).status !== 0) fail("build failed (the host: npm run hostbuild)");
// (make -j: the guests are independent files; a fresh clone builds about 100.)
if (
  existsSync("guests/Makefile")
    && sh("make", ["-s", `-j${Math.min(4, availableParallelism())}`, "-C", "guests"]).status !== 0
) fail("guest build failed");

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
if (unmatched.length) fail(
  `no test file matches ` + `${unmatched.map((o) => JSON.stringify(o)).join(", ")} (have `
    + `${all.map((f) => f.replace(/^dist\/tests\//, "")).join(", ")})`
);
const files = all.filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const timeoutS = Number(process.env.XENWASM_TEST_TIMEOUT ?? 1200);
const JOBS = process.env.XENWASM_TEST_JOBS === undefined ? Math.min(2, availableParallelism())
  : Number(process.env.XENWASM_TEST_JOBS);
if (!Number.isInteger(JOBS) || JOBS < 1)
  fail(`XENWASM_TEST_JOBS=${process.env.XENWASM_TEST_JOBS}: a whole number of files to run at once, 1 or more`);
console.log(
  `# built in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` + `${JOBS} file${JOBS > 1 ? "s" : ""} at a time `
    + `(XENWASM_TEST_JOBS)`
);

// The groups of the files running now: Ctrl-C (or a TERM) of the runner ends them too.
const groups = new Set();
for (const sig of ["SIGINT", "SIGTERM"]) process.on(
  sig,
  () => { for (const g of groups) { try { process.kill(-g, "SIGKILL"); } catch { /* gone */ } } process.exit(130); }
);

// The CPU time (user + system, seconds) of the children this process reaped since the last call: Linux
// adds a child's (and the descendants it reaped) to our cutime/cstime when we reap it, and children are
// reaped one at a time, so the difference at a child's exit is that child's. (Undefined without /proc.)
let lastReaped = 0;
function reapedCpu() {
  try {
    const f = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /s, "").split(" "); // fields from the 3rd on
    const t = (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime (USER_HZ = 100 on Linux)
    const d = t - lastReaped;
    lastReaped = t;
    return d;
  } catch { return undefined; }
}

/** Run one Node process in its own process group; stream its output (`echo`); kill the group after `limitS`. */
function run(args, limitS, env = {}, echo = true) {
  return new Promise((resolve) => {
    const c = spawn(
      process.execPath, args,
      { env: { ...process.env, FORCE_COLOR: "0", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true }
    );
    groups.add(c.pid);
    let out = "", timedOut = false;
    const take = (b) => { const s = b.toString(); out += s; if (echo) process.stdout.write(s); };
    c.stdout.on("data", take); c.stderr.on("data", take);
    const timer = setTimeout(
      () => { timedOut = true; try { process.kill(-c.pid, "SIGKILL"); } catch { /* gone */ } }, limitS * 1000
    );
    let done = false;
    let cpu;
    const finish = (status, signal) => {
      if (!done) {
        done = true; groups.delete(c.pid); clearTimeout(timer); resolve({ out, status, signal, timedOut, cpu });
      }
    };
    c.on("exit", (status, signal) => {
      cpu = reapedCpu();
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
const bad = [], skips = [], times = [];
// The CPU's test files run twice: with the JIT tier as configured (default on) and with every block
// compiled before it runs (XENWASM_JIT=force), so the differential, system and fuzz suites check compiled
// code against the real CPU too.
// Debian's Linux and live migration run a second time with every block compiled at its second visit
// (XENWASM_JIT_THRESHOLD=1): force, which compiles every block before its first run (a module each), does
// not boot Linux in reasonable time (not in 412 s at 340k regions: docs/JIT.md, Not yet).
const FORCE = /\/(diff|cpu|jit|system|sse|x87|bare)\.test\.js$/;
const EAGER = /\/(linux|migrate)\.test\.js$/;
const jobs = [...files.map((f) => ({ f, env: {} })),
  ...files.filter((f) => FORCE.test(f)).map((f) => ({ f, env: { XENWASM_JIT: "force" } })),
  ...files.filter((f) => EAGER.test(f)).map((f) => ({ f, env: { XENWASM_JIT_THRESHOLD: "1" } }))];

// What files hold while they run, besides their own name (two runs of one file share tests/build/<name>):
// fixed ports, network namespaces, the browser. Files holding a common lock never run at once.
const LOCKS = {
  hotplug: ["port 18150"],
  oops: ["port 18160"],
  migrate: ["ports 18102-18106", "netns xwmigA, xwmigB"],
  xend: ["port 8002"], // its xend's relocation listener on the default address
  "xend-trust": ["ports 18171, 18173"],
  web: ["chromium"],
};
const stem = (file) => basename(file).replace(/\.test\.js$/, "");
// Files whose work includes a one-time build outside the time limit's usual scale get more: debian-system
// builds its Debian image with mmdebstrap on a fresh machine (150 s quiet, 500 s seen at load average 12)
// before its boots. XENWASM_TEST_TIMEOUT, when set, applies to every file.
const LIMITS = { "debian-system": 2400 };
const limitOf = (file) => process.env.XENWASM_TEST_TIMEOUT ? timeoutS : LIMITS[stem(file)] ?? timeoutS;
const locksOf = (job) => [`file ${stem(job.f)}`, ...(LOCKS[stem(job.f)] ?? [])];
// The longest first (each about a minute or more on a 2-core machine), so that the last to finish are
// short ones; the rest in their order. Only the order depends on this list.
const LONG = [
  "debian-system", "smp", "migrate", "linux", "hotplug", "parsers-fuzz", "xl", "balloon", "oops", "jit", "nat", "fork",
  "xend-trust", "web", "xend", "man", "glibc"
];
const rank = (job) => { const i = LONG.indexOf(stem(job.f)); return i < 0 ? LONG.length : i; };
const queue = jobs.map((j, i) => ({ ...j, i })).sort(
  (a, b) =>
    rank(a) - rank(b) || (a.env.XENWASM_JIT_THRESHOLD ? -1 : 0) - (b.env.XENWASM_JIT_THRESHOLD ? -1 : 0) || a.i - b.i
);

/** Run one job; return the lines to print and count its results. */
async function runJob({ f: file, env }) {
  const f = env.XENWASM_JIT ? `${file} (XENWASM_JIT=force)` : env.XENWASM_JIT_THRESHOLD
    ? `${file} (XENWASM_JIT_THRESHOLD=1)` : file;
  const stream = JOBS === 1;
  let text = "";
  const say = (s) => { if (stream) console.log(s); else text += s + "\n"; };
  say(`\n# ${f}`);
  const started = Date.now();
  const limit = limitOf(file);
  const r = await run([file], limit, env, stream);
  if (!stream) text += r.out + (r.out.endsWith("\n") || !r.out ? "" : "\n");
  const secs = (Date.now() - started) / 1000;
  times.push({ f, secs, cpu: r.cpu });
  const took = `in ${secs.toFixed(1)} s${r.cpu === undefined ? "" : ` (CPU ${r.cpu.toFixed(1)} s)`}`;
  const total = /Total:\s+(\d+)/.exec(r.out), ok = /Passed:\s+(\d+)/.exec(r.out), sk = /Skipped:\s+(\d+)/.exec(r.out);
  if (!total || !ok || r.timedOut) {
    const why = r.timedOut ? `timed out after ${limit} s` : `no summary, exit ${r.status ?? r.signal}`;
    const names = await listTests(file);
    if (names && names.length) {
      failed += names.length;
      bad.push(`${f} (${why}: all ${names.length} tests counted as failed)`);
      say(`\n# ${f} ${why}; its tests, each counted as failed:\n${names.map((n) => `#   ${n}`).join("\n")}`);
      say(`# ${f}: ${names.length} failed (${why}) ${took}`);
    } else {
      failed++;
      bad.push(`${f} (${why}; its tests could not be listed: counted as one failure)`);
      say(`# ${f}: 1 failed (${why}; its tests could not be listed) ${took}`);
    }
    return text;
  }
  const marks = [...r.out.matchAll(/^# SKIP (.*)$/gm)].map((m) => m[1]);
  const t = +total[1], p = +ok[1];
  const s = Math.min(marks.length, p);
  const fileSkipped = s + (sk ? +sk[1] : 0);
  passed += p - s; failed += t - p; skipped += fileSkipped;
  for (const m of marks) skips.push(`${f}: ${m}`);
  if (sk && +sk[1] > 0) {
    const why = [...r.out.matchAll(/^skipped: (.*)$/gm)].map((m) => m[1]); // the reasons those files print
    if (why.length) for (const w of why) skips.push(`${f}: ${w}`);
    else skips.push(`${f}: ${sk[1]} test(s) registered with test.skip`);
  }
  let extra = 0;
  if (t - p > 0 || r.status !== 0) {
    if (t === p) { failed++; extra = 1; } bad.push(t === p ? `${f} (all passed, but exit ${r.status ?? r.signal})` : f);
  }
  say(`# ${f}: ${p - s} passed, ${t - p + extra} failed${fileSkipped ? `, ${fileSkipped} skipped` : ""} ${took}`);
  return text;
}

// JOBS workers take the first job in the queue whose locks are free; one that finds none waits for
// another job to end.
const held = new Set();
let wake = () => {};
const ended = () => new Promise((r) => { const prev = wake; wake = () => { prev(); r(); }; });
const wallStart = Date.now();
reapedCpu(); // (the build's)
async function worker() {
  for (;;) {
    if (queue.length === 0) return;
    const k = queue.findIndex((j) => locksOf(j).every((l) => !held.has(l)));
    if (k < 0) { await ended(); continue; }
    const [job] = queue.splice(k, 1);
    const locks = locksOf(job);
    for (const l of locks) held.add(l);
    try {
      const text = await runJob(job);
      if (text) process.stdout.write(text);
    } finally {
      for (const l of locks) held.delete(l);
      const w = wake; wake = () => {}; w();
    }
  }
}
await Promise.all(Array.from({ length: Math.min(JOBS, queue.length) }, worker));
const wall = (Date.now() - wallStart) / 1000;
const slow = [...times].sort((a, b) => b.secs - a.secs);
const cpuSum =
  times.every((x) => x.cpu !== undefined) ? `, CPU ${times.reduce((n, x) => n + x.cpu, 0).toFixed(0)} s` : "";
console.log(
  `\ntest files: ${times.length} runs in ${wall.toFixed(0)} s `
    + `wall (${(wall / 60).toFixed(1)} min, ${JOBS} at a time; ` + `their times add up to `
    + `${slow.reduce((n, x) => n + x.secs, 0).toFixed(0)} ` + `s${cpuSum}); the slowest:`
);
for (const x of slow.slice(0, 12)) console.log(
  `  ${x.secs.toFixed(1).padStart(7)} s${x.cpu === undefined ? "" : ` (CPU ${x.cpu.toFixed(1).padStart(6)} s)`}  ${x.f}`
);
if (skips.length) console.log(`\nskipped:\n  ${skips.join("\n  ")}`);
if (bad.length) console.log(`\nfailing files:\n  ${bad.join("\n  ")}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
