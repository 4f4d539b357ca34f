// xend and xm as xl users know them (issue 11: item 6, item 8, the new user's list, xl's conventions):
// one xend per socket, two xends sharing a folder, a writable image in one domain only, UTF-8 across
// socket chunks, bounded sizes and clean errors; getopt-style options, `xm list -l` in libxl's shape,
// `xm info` with xl's fields, `xm dmesg`, increasing domain ids, uptime/domid/domname/rename,
// create -p/-q/-c, console -e, shutdown -a, what `xend stop` does with running domains.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import {
  mkdirSync, writeFileSync, rmSync, existsSync, symlinkSync, chmodSync, statSync, copyFileSync, chownSync, readFileSync
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Xend, XendOptions, xendEnv as xendEnvOf, xendSync } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "xl");
const COUNTER = join(process.cwd(), "guests", "build", "pv-counter-64.elf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Env = NodeJS.ProcessEnv;
const xends: Xend[] = [];

const opts = (sock: string, extra: Record<string, string> = {}): XendOptions =>
  ({ socket: sock, memoryMiB: 256, relocation: "none", env: { XEND_NAT: "no", ...extra }, xmTimeoutMs: 90000,
    polls: 200 });
const xendEnv = (sock: string, extra: Record<string, string> = {}): Env => xendEnvOf(opts(sock, extra));
function xm(env: Env, args: string[], cwd = process.cwd(), input?: string) {
  const r = spawnSync(
    process.execPath, [join(process.cwd(), "bin/xm.js"), ...args], { env, cwd, encoding: "utf8", timeout: 90000, input }
  );
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
const xend = (env: Env, ...args: string[]) => xendSync(env, 30000, ...args);
/** A `xend run` on `sock`, not waited for (killed after the tests). */
function runXend(sock: string): Xend {
  const x = Xend.spawn(opts(sock));
  xends.push(x);
  return x;
}
const exited = (p: ChildProcess) =>
  new Promise<number | null>((r) => { if (p.exitCode !== null) r(p.exitCode); else p.on("exit", (c) => r(c)); });
const cfg = (name: string, body: string) => { const f = join(DIR, `${name}.cfg`); writeFileSync(f, body); return f; };
const mkImg = (f: string) => writeFileSync(f, Buffer.alloc(1 << 20));
const counter = (name: string, extra = "", steps = 100000000) =>
  cfg(name, `name = "${name}"\nkernel = "${COUNTER}"\nmemory = 16\nextra = "steps=${steps} every=3000000"\n${extra}`);

let X: Xend | undefined, E: Env; // the xend most tests use
test.before(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(join(DIR, "run"), { recursive: true });
  X = await Xend.start(opts(join(DIR, "run", "xend.sock")));
  E = X.env;
});
test.after(() => {
  X?.stop();
  for (const x of xends) x.proc.kill("SIGKILL");
});

// ---- item 6 ----
test(
  "xm run: an option of the other kind of run is an error, not ignored (--memory with --bare, --ram without)", () => {
  const env = { ...process.env };
  const bare = xm(env, ["run", "--bare", "--memory", "abc", "guests/prebuilt/hello-64.elf"]);
  assert.is(bare.status, 1, bare.stdout + bare.stderr);
  assert.match(bare.stderr, /--memory is for PV kernels \(with --bare: --ram SIZE\)/);
  assert.not.match(bare.stdout, /Hello/, "the guest did not run");
  const pv = xm(env, ["run", "--ram", "64M", "guests/prebuilt/pv-hello-64.elf"]);
  assert.is(pv.status, 1, pv.stdout + pv.stderr);
  assert.match(pv.stderr, /--ram needs --bare/);
  const ok = xm(env, ["run", "--bare", "--ram", "64M", "guests/prebuilt/hello-64.elf"]);
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Hello/);
});

test("(6) two xends at once on one socket: one runs, the other says so and exits; its SIGTERM leaves the socket alone",
  async () => {
  const sock = join(DIR, "two", "xend.sock"), env = xendEnv(sock);
  const a = runXend(sock), b = runXend(sock);
  const first = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
  const live = first === a ? b : a;
  assert.is(first.proc.exitCode, 1, "the second xend exits");
  assert.match(first.log, /xend: already running \(pid \d+, socket .*two\/xend\.sock\)/);
  assert.ok(await live.up(), "the first answers");
  live.proc.kill("SIGTERM"); // (the live one stops cleanly: its socket and lock go)
  assert.is(await live.exited, 0);
  assert.not.ok(existsSync(join(DIR, "two", "xend.sock")));
  assert.not.ok(existsSync(join(DIR, "two", "xend.lock")));
  // An orphan's SIGTERM: start one, then a second that fails and is killed; the first still answers.
  const c = runXend(sock);
  assert.ok(await c.up());
  const d = runXend(sock);
  await d.exited;
  d.proc.kill("SIGTERM");
  assert.ok(existsSync(join(DIR, "two", "xend.sock")), "the live xend's socket is still there");
  assert.is(xm(env, ["list"]).status, 0);
  // A killed xend's lock and socket are stale: the next one starts.
  c.proc.kill("SIGKILL");
  await c.exited;
  assert.ok(existsSync(join(DIR, "two", "xend.lock")));
  assert.ok(await runXend(sock).up(), "started over a stale lock");
  assert.is(xend(env, "stop").status, 0);
});

test("(6) two xends in one folder (XEND_SOCKET a.sock, b.sock): each has its own lock, log and xenstored socket",
  async () => {
  const dir = join(DIR, "shared");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const A = xendEnv(join(dir, "a.sock")), B = xendEnv(join(dir, "b.sock"));
  assert.match(xend(A, "start").stdout, /xend started/);
  assert.match(xend(B, "start").stdout, /xend started/);
  for (const f of ["a.sock", "a.lock", "a.log", "a-xenstored.sock", "b.sock", "b.lock", "b.log", "b-xenstored.sock"])
    assert.ok(existsSync(join(dir, f)), f);
  assert.is(statSync(dir).mode & 0o777, 0o755, "an existing folder keeps its mode");
  assert.is(xm(A, ["create", counter("ina")]).status, 0);
  assert.match(xm(B, ["list"]).stdout, /^Domain-0/m);
  assert.not.match(xm(B, ["list"]).stdout, /ina/);
  assert.is(xend(B, "stop").status, 0);
  assert.ok(existsSync(join(dir, "a.sock")) && existsSync(join(dir, "a-xenstored.sock")), "A's sockets stay");
  assert.match(xm(A, ["list"]).stdout, /ina/);
  assert.is(xend(A, "stop", "--destroy").status, 0);
});

test("a xend that does not start: Xend.start (tests/lib/xmcli.ts) says how, with the end of its log", async () => {
  const sock = join(DIR, "nostart", "xend.sock");
  const err = await Xend.start(opts(sock, { XEND_MEMORY_MIB: "abc" })).then(() => undefined, (e: Error) => e);
  assert.ok(err, "Xend.start threw");
  assert.match(err!.message, `xend (socket ${sock}) exited with code 1`);
  assert.match(err!.message, /its log ends:\nxend: XEND_MEMORY_MIB=abc: a positive whole number of MiB\n$/);
});

test("(6) a socket folder others may write (such as /tmp) is refused, and not chmodded", () => {
  const dir = join(DIR, "sticky");
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o1777);
  const r = xend(xendEnv(join(dir, "xend.sock")), "run");
  assert.is(r.status, 1);
  assert.match(r.stderr, /sticky is writable by others \(mode 1777\): refusing to put xend's socket there/);
  assert.is(statSync(dir).mode & 0o7777, 0o1777);
  assert.not.ok(existsSync(join(dir, "xend.sock")) || existsSync(join(dir, "xend.lock")));
});

test("xend stop with domains running: says which and stops nothing; --destroy, --save DIR", async () => {
  const env = xendEnv(join(DIR, "stop", "xend.sock"));
  assert.is(xend(env, "start").status, 0);
  assert.is(xm(env, ["create", counter("st1")]).status, 0);
  let r = xend(env, "stop");
  assert.is(r.status, 1);
  assert.match(r.stderr, /1 domain is running: st1 \(\d+\)/);
  assert.match(r.stderr, /--shutdown.*\n.*--save DIR.*\n.*--destroy/);
  assert.match(xm(env, ["list"]).stdout, /st1/, "still there");
  assert.match(xend(env, "stop", "--bogus").stderr, /unknown option --bogus/);
  mkdirSync(join(DIR, "saved"), { recursive: true });
  r = xend(env, "stop", "--save", join(DIR, "saved"));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Saved st1 to .*saved\/st1\.save/);
  assert.ok(statSync(join(DIR, "saved", "st1.save")).size > 16 << 20);
  assert.is(xend(env, "status").status, 3);
  assert.is(xend(env, "start").status, 0);
  assert.match(xm(env, ["restore", join(DIR, "saved", "st1.save")]).stdout, /Restored domain st1/);
  r = xend(env, "stop", "--shutdown");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Shut down st1/);
});

// ---- item 8 ----
test(
  "(8) a writable image in one domain only: another path to it (./ alias, symlink) or twice in one config is refused",
  () => {
  const img = join(DIR, "w.img");
  mkImg(img);
  symlinkSync(img, join(DIR, "w-link.img"));
  assert.is(xm(E, ["create", counter("wa", `disk = [ 'file:${img},xvda,w' ]\n`)]).status, 0);
  let r = xm(E, ["create", counter("wb", `disk = [ 'file:./w.img,xvda,w' ]\n`)], DIR);
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /w\.img is already attached writable to domain \d+ as xvda; a writable disk may be used by one domain only/
  );
  r = xm(E, ["create", counter("wc", `disk = [ 'file:${join(DIR, "w-link.img")},xvda,r' ]\n`)]);
  assert.is(r.status, 1, "not even read-only while it is attached writable");
  assert.match(r.stderr, /already attached writable/);
  const ro = join(DIR, "r.img");
  mkImg(ro);
  r = xm(E, ["create", counter("wd", `disk = [ 'file:${ro},xvda,w', 'file:${ro},xvdb,r' ]\n`)]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /r\.img is already attached writable to this domain as xvda/);
  assert.not.match(xm(E, ["list"]).stdout, /^w[bcd] /m, "nothing started");
  // Read-only in two domains is fine, as in Xen.
  assert.is(xm(E, ["create", counter("we", `disk = [ 'file:${ro},xvda,r' ]\n`)]).status, 0);
  assert.is(xm(E, ["create", counter("wf", `disk = [ 'file:${ro},xvda,r' ]\n`)]).status, 0);
  for (const d of ["wa", "we", "wf"]) xm(E, ["destroy", d]);
});

test("(8) a UTF-8 character split across two socket chunks arrives whole", async () => {
  const text = readFileSync(counter("utf"), "utf8").replace(/extra = "/, 'extra = "é ');
  const line = Buffer.from(JSON.stringify({ op: "create", file: "utf.cfg", text, overrides: [] }) + "\n");
  const at = line.indexOf(Buffer.from("é")) + 1; // between the two bytes of é
  const res = await new Promise<string>((resolve, reject) => {
    const s = connect(E.XEND_SOCKET!);
    let got = "";
    s.on("connect", async () => { s.write(line.subarray(0, at)); await sleep(100); s.write(line.subarray(at)); });
    s.on("data", (b) => { got += b; if (got.includes("\n")) { s.end(); resolve(got); } });
    s.on("error", reject);
  });
  assert.match(res, /"ok":true/);
  const l = JSON.parse(xm(E, ["list", "-l", "utf"]).stdout);
  assert.is(l[0].config.b_info.cmdline, "é steps=100000000 every=3000000");
  xm(E, ["destroy", "utf"]);
});

test("(8) xm mem-max 16777216 and other sizes out of range: a clear error; raw internal errors do not reach users",
  async () => {
  assert.is(xm(E, ["create", counter("mm")]).status, 0);
  for (const size of ["16777216", "99999999999999999999", "0", "2T"]) {
    const r = xm(E, ["mem-max", "mm", size]);
    assert.is(r.status, 1, size);
    assert.match(r.stderr, /^xm: bad memory size .*1 MiB to 1 TiB\)?\n$/, size);
  }
  assert.is(xm(E, ["mem-max", "mm", "64"]).status, 0);
  assert.equal(JSON.parse(xm(E, ["list", "-l", "mm"]).stdout)[0].config.b_info.max_memkb, 65536);
  xm(E, ["destroy", "mm"]);
  // A reader that goes away (xm list | head -0): no EPIPE, no internal error.
  const c = spawn(process.execPath, ["bin/xm.js", "info"], { env: E, stdio: ["ignore", "pipe", "pipe"] });
  c.stdout!.destroy();
  let err = "";
  c.stderr!.on("data", (b) => { err += b; });
  await exited(c);
  assert.is(err, "");
  for (
    const [k, v, m] of [
      ["XEND_MEMORY_MIB", "abc", /^xend: XEND_MEMORY_MIB=abc: a positive whole number of MiB\n$/],
      ["XEND_RELOCATION_PORT", "99999", /^xend: XEND_RELOCATION_PORT=99999: a port number, 1 to 65535\n$/]
    ] as const
  ) {
    const x = xend({ ...xendEnv(join(DIR, "envs", "xend.sock")), [k]: v }, "run");
    assert.is(x.status, 1);
    assert.match(x.stderr, m);
  }
  // No xend there: one line, no stack.
  const r = xm({ ...E, XEND_SOCKET: "/nonexistent/xend.sock" }, ["list"]);
  assert.is(r.stderr, "xm: xend is not running (start it with `xend start`)\n");
});

// "Cannot convert abc to a BigInt" (issue 11): every place a number is read from a user (xm's options and
// arguments, xend's protocol fields, the environment) says what it wanted, in one line, with no raw
// conversion error. (Save files and migration streams: tests/xend-trust.test.ts, the parser fuzzer.)
const RAW = /BigInt|TypeError|RangeError|SyntaxError|Cannot convert|NaN|undefined|Received type|\n\s+at /;
function rawRequest(env: Env, req: object): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(env.XEND_SOCKET!);
    let got = "";
    s.on("connect", () => s.write(JSON.stringify(req) + "\n"));
    s.on("data", (b) => {
      got += b;
      const lines = got.split("\n").filter((l) => l && !l.startsWith('{"progress"'));
      if (lines.length) { s.destroy(); resolve(JSON.parse(lines[0])); }
    });
    s.on("error", reject);
  });
}
test("non-numeric and out-of-range numbers are clear errors: xm options, xend's protocol fields, the environment",
  async () => {
  assert.is(xm(E, ["create", counter("nums")]).status, 0);
  const cli: [string[], RegExp][] = [
    [["run", "--memory", "abc"], /^xm: bad --memory abc: whole MiB from 2 to 3072\n$/],
    [["run", "--memory", "1e3"], /^xm: bad --memory 1e3: whole MiB from 2 to 3072\n$/],
    [["run", "--memory", "0x10"], /^xm: bad --memory 0x10: whole MiB from 2 to 3072\n$/],
    [["run", "--bare", "guests/prebuilt/hello-64.elf", "--ram", "abc"], /^xm: bad RAM size "abc"/],
    [["mem-set", "nums", "abc"], /^xm: bad memory size abc /],
    [["sched-credit", "-d", "nums", "-w", "abc"], /^xm: -w: not a number: abc\n$/],
    [["sched-credit", "-d", "nums", "-c", "1.5"], /^xm: -c: not a number: 1\.5\n$/],
    [["top", "-b", "-d", "abc"], /^xm: -d: a positive number of seconds\n$/],
    [["top", "-b", "-n", "abc"], /^xm: -n: not a number: abc\n$/],
    [["domname", "abc"], /^xm: domname: not a number: abc\n$/],
    [["migrate", "nums", "127.0.0.1:abc"], /^xm: bad destination 127\.0\.0\.1:abc/],
    [["migrate", "nums", "127.0.0.1:99999"], /^xm: bad port 99999\n$/],
    [["virq-handler", "abc", "nums"], /^xm: abc: not a global VIRQ/],
    [["destroy", "1e3"], /^xm: no such domain: 1e3\n$/],
  ];
  for (const [args, m] of cli) {
    const r = xm(E, args);
    assert.is(r.status, 1, args.join(" "));
    assert.match(r.stderr, m, args.join(" "));
    assert.not.match(r.stderr, RAW, args.join(" "));
  }
  // The protocol (xend's socket: its own user's, but still a clear error for every wrong field).
  const proto: [object, RegExp][] = [
    [{ op: "mem-set", dom: "nums", mib: "abc" }, /^bad request mem-set: mib must be a number$/],
    [{ op: "mem-set", dom: "nums", mib: 1.5 }, /^bad memory size 1\.5 MiB/],
    [{ op: "sched-credit", dom: "nums", weight: "10" }, /^bad request sched-credit: weight must be a number$/],
    [{ op: "sched-credit", dom: "nums", cap: 1e300 }, /^cap must be 0\.\.100$/],
    [{ op: "migrate", dom: "nums", host: "127.0.0.1", port: 1.5 }, /^bad port 1\.5: 1 to 65535$/],
    [{ op: "migrate", dom: "nums", host: "127.0.0.1", port: 70000 }, /^bad port 70000: 1 to 65535$/],
    [{ op: "migrate", dom: "nums", host: "127.0.0.1", port: "8002" }, /^bad request migrate: port must be a number$/],
  ];
  for (const [req, m] of proto) {
    const r = await rawRequest(E, req);
    assert.is(r.ok, false, JSON.stringify(req));
    assert.match(r.error!, m, JSON.stringify(req));
    assert.not.match(r.error!, RAW, JSON.stringify(req));
  }
  assert.is(xm(E, ["list", "nums"]).status, 0, "the domain runs on");
  xm(E, ["destroy", "nums"]);
  // The environment: xend refuses to start (start and run alike); xm run checks the JIT's settings.
  for (
    const [k, v] of [
      ["XEND_SUSPEND_TIMEOUT_MS", "abc"], ["XEND_DETACH_TIMEOUT_MS", "1e3"], ["XEND_MIGRATE_SEND_TIMEOUT_MS", "-5"],
      ["XENDOMAINS_STOP_MAXWAIT", "soon"]
    ]
  ) {
    for (const how of ["start", "run"]) {
      const x = xend({ ...xendEnv(join(DIR, "envs", "xend.sock")), [k]: v }, how);
      assert.is(x.status, 1, `${k}=${v} xend ${how}`);
      assert.match(
        x.stderr, new RegExp(`^xend: ${k}=${v}: expected a whole number of (milli)?seconds, 1 to \\d+\n$`),
        `${k}=${v} xend ${how}`
      );
    }
  }
  const j = xm({ ...E, XENWASM_JIT_THRESHOLD: "abc" }, ["run"]);
  assert.is(j.status, 1);
  assert.match(j.stderr, /^xm: XENWASM_JIT_THRESHOLD=abc: expected 0\.\.65535\n$/);
});

// ---- the new user's list ----
test("on_poweroff = preserve: the shut-down line once, the guest's output kept", async () => {
  assert.is(xm(E, ["create", counter("pres", `on_poweroff = "preserve"\n`, 3)]).status, 0);
  // (Its 3 lines take a moment: the row is polled until it shows the shut-down state, 30 s at most.)
  let l = xm(E, ["list", "pres"]).stdout;
  for (let i = 0; i < 300 && !/---s--/.test(l); i++) { await sleep(100); l = xm(E, ["list", "pres"]).stdout; }
  assert.match(l, /pres\s+\d+\s+\d+\s+1\s+---s--/);
  const con = spawnSync(
    process.execPath, ["bin/xm.js", "console", "pres"], { env: E, encoding: "utf8", input: "\x1d", timeout: 30000 }
  );
  assert.is(con.stdout.match(/shut down: poweroff; preserve/g)?.length, 1, con.stdout);
  assert.match(con.stdout, /count 1\r?\ncount 2\r?\ncount 3/);
  assert.match(xm(E, ["dmesg"]).stdout, /\(XEN\) d\d+: domain pres shut down: poweroff; on_poweroff = preserve\n/);
  xm(E, ["destroy", "pres"]);
});

test("xm create warns or refuses what it cannot honour (type hvm, bootloader, vfb, another bridge), as xm run", () => {
  let r = xm(E, ["create", counter("hvm", `type = "hvm"\n`)]);
  assert.is(r.status, 1);
  assert.match(
    r.stderr, /hvm\.cfg:5: type: "hvm" guests cannot run here: xenwasm runs paravirtualised \(PV\) guests only/
  );
  r = xm(E, ["create", counter("warn", `bootloader = "pygrub"\nvfb = [ 'vnc=1' ]\nvif = [ 'bridge=br0' ]\n`)]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /xm: warning: .*warn\.cfg:5: bootloader: "pygrub" is not supported, ignored/);
  assert.match(r.stderr, /xm: warning: .*warn\.cfg:6: vfb: no framebuffer here/);
  assert.match(r.stderr, /xm: warning: .*warn\.cfg:7: vif: entry 1: bridge "br0" does not exist here/);
  const run = spawnSync(
    process.execPath, ["bin/xm.js", "run", join(DIR, "hvm.cfg")],
    { encoding: "utf8", timeout: 20000, env: { ...process.env, XEND_NAT: "no" } }
  );
  assert.is(run.status, 1);
  assert.match(run.stderr, /type: "hvm" guests cannot run here/);
  assert.is(xm(E, ["create", "-q", counter("quiet", `vfb = [ 'vnc=1' ]\n`)]).stderr, "", "-q: no warnings");
  for (const d of ["warn", "quiet"]) xm(E, ["destroy", d]);
});

test("relative paths in a config are xm's (its working folder), not xend's", () => {
  const sub = join(DIR, "rel");
  mkdirSync(sub, { recursive: true });
  copyFileSync(COUNTER, join(sub, "k.elf"));
  writeFileSync(join(sub, "rel.cfg"), `name = "rel"\nkernel = "k.elf"\nmemory = 16\nextra = "steps=100000000"\n`);
  const r = xm(E, ["create", "rel.cfg"], sub);
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(xm(E, ["list", "-l", "rel"]).stdout)[0].config.b_info.kernel, join(sub, "k.elf"));
  xm(E, ["destroy", "rel"]);
});

test("xm create -c on a guest that is gone at once shows all its output", () => {
  const r = xm(E, ["create", "-c", counter("short", "", 3)], process.cwd(), "");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /count 1\r?\ncount 2\r?\ncount 3\r?\npattern ok\r?\ncounter: done/);
  assert.match(r.stdout, /domain short \(\d+\) shut down: poweroff; destroy/);
});

test("getopt: unknown or misplaced flags are errors or options, never domain names or config lines", () => {
  let r = xm(E, ["list", "-v"]);
  assert.is(r.status, 1);
  assert.is(r.stderr, "xm: list: unknown option -v (see `xm help list`)\n");
  r = xm(E, ["create", counter("late"), "-p"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(xm(E, ["list", "late"]).stdout, /late\s+\d+\s+16\s+1\s+--p---/, "-p after the file: paused");
  xm(E, ["destroy", "late"]);
  r = xm(E, ["restore", "-p", join(DIR, "nonexistent.save")]);
  assert.match(r.stderr, /cannot read save file .*nonexistent\.save: ENOENT/);
  r = xm(E, ["create", counter("junk"), "bogus"]);
  assert.match(r.stderr, /create: unexpected argument bogus/);
  assert.match(xm(E, ["destroy", "-x", "y"]).stderr, /destroy: unknown option -x/);
  assert.match(xm(E, ["sched-credit", "-d"]).stderr, /option -d needs a value/);
  assert.match(xm(E, ["domid", "a", "b"]).stderr, /domid: unexpected argument b/);
});

test("names xl accepts (test-pv64-pv-iopl~hypercall) are accepted", () => {
  const r = xm(E, ["create", counter("test-pv64-pv-iopl~hypercall")]);
  assert.is(r.status, 0, r.stderr);
  assert.match(xm(E, ["list", "test-pv64-pv-iopl~hypercall"]).stdout, /test-pv64-pv-iopl~hypercall\s+\d+/);
  assert.is(xm(E, ["destroy", "test-pv64-pv-iopl~hypercall"]).status, 0);
});

test(
  "domain ids increase; a rebooted domain gets a new id; the counter guest obeys xm shutdown and reboot", async () => {
  const id = (n: string) => Number(xm(E, ["domid", n]).stdout);
  xm(E, ["create", counter("ida")]);
  const a = id("ida");
  xm(E, ["destroy", "ida"]);
  xm(E, ["create", counter("ida")]);
  const b = id("ida");
  assert.ok(b > a, `${b} > ${a}`);
  assert.is(xm(E, ["reboot", "-w", "ida"]).status, 0);
  let c = NaN;
  for (let i = 0; i < 100 && !(c > b); i++) { await sleep(100); c = id("ida"); }
  assert.ok(c > b, `rebooted with a new id: ${c} > ${b}`);
  const r = xm(E, ["shutdown", "-w", "ida"]);
  assert.is(r.status, 0, r.stderr);
  assert.is(xm(E, ["domid", "ida"]).status, 1);
  assert.match(xm(E, ["dmesg"]).stdout, new RegExp(`d${c}: domain ida shut down: poweroff`));
});

test("the bundled guest (guests/prebuilt/, both widths) with " + "extra=\"stay=1\" obeys xm reboot (a new id), xm "
    + "save/restore and xm shutdown -w", async () => {
  const id = (n: string) => Number(xm(E, ["domid", n]).stdout);
  for (const w of [64, 32]) {
    const name = `stay${w}`, kernel = join(process.cwd(), "guests", "prebuilt", `pv-hello-${w}.elf`);
    assert.is(
      xm(E, ["create", cfg(name, `name = "${name}"\nkernel = "${kernel}"\nmemory = 16\nextra = "stay=1"\n`)]).status, 0
    );
    const a = id(name);
    let log = "";
    for (let i = 0; i < 100 && !/staying up/.test(log); i++) {
      await sleep(100); log = xm(E, ["console", name], process.cwd(), "\x1d").stdout;
    }
    assert.match(log, /Hello from a xenwasm PV guest \(\d+-bit\)[^]*hello: staying up/);
    let r = xm(E, ["reboot", "-w", name]);
    assert.is(r.status, 0, r.stderr);
    let b = NaN;
    for (let i = 0; i < 100 && !(b > a); i++) { await sleep(100); b = id(name); }
    assert.ok(b > a, `rebooted with a new id: ${b} > ${a}`);
    const save = join(DIR, `${name}.save`);
    r = xm(E, ["save", name, save]);
    assert.is(r.status, 0, r.stderr);
    r = xm(E, ["restore", save]);
    assert.is(r.status, 0, r.stderr);
    const c = id(name);
    r = xm(E, ["shutdown", "-w", name]);
    assert.is(r.status, 0, r.stderr);
    assert.is(xm(E, ["domid", name]).status, 1, "gone");
    const dmesg = xm(E, ["dmesg"]).stdout;
    assert.match(dmesg, new RegExp(`d${a}: domain ${name} shut down: reboot`));
    assert.match(dmesg, new RegExp(`d${c}: domain ${name} shut down: poweroff`));
  }
});

// ---- xl's conventions ----
test("xm info has xl's fields; xm list -l is libxl's JSON", () => {
  const info = xm(E, ["info"]).stdout;
  for (
    const k of [
      "host", "nr_cpus", "total_memory", "free_memory", "xen_major", "xen_minor", "xen_caps", "xen_version",
      "xen_scheduler", "nr_domains"
    ]
  ) {
    assert.match(info, new RegExp(`^${k}\\s+: \\S`, "m"), k);
  }
  assert.match(info, /^xen_caps\s+: xen-3\.0-x86_64 xen-3\.0-x86_32p$/m);
  assert.match(info, /^total_memory\s+: 256$/m);
  const img = join(DIR, "l.img");
  mkImg(img);
  xm(
    E, [
      "create", counter(
        "lj", `vcpus = 2\nmaxmem = 32\ndisk = [ 'file:${img},xvda,r' `
          + `]\nvif = [ 'mac=00:16:3e:00:00:42' ]\non_crash = ` + `"preserve"\n`
      )
    ]
  );
  const [d] = JSON.parse(xm(E, ["list", "-l", "lj"]).stdout);
  assert.is(d.domid, Number(xm(E, ["domid", "lj"]).stdout));
  assert.equal(d.config.c_info, { type: "pv", name: "lj" });
  assert.is(d.config.b_info.max_vcpus, 2);
  // Two vCPUs, each with its own row; the counter guest never brings vCPU 1 up: it is offline ("p"), and
  // `xm list` counts the vCPUs up, as xl's VCPUs column (libxl's vcpu_online).
  assert.match(xm(E, ["list", "lj"]).stdout, /^lj\s+\d+\s+\d+\s+1\s/m);
  const vl = xm(E, ["vcpu-list", "lj"]).stdout;
  assert.match(vl, /^lj\s+\d+\s+0 [rb-]{2}-\s/m, vl);
  assert.match(vl, /^lj\s+\d+\s+1 --p\s+0\.0$/m, vl);
  assert.is(d.config.b_info.max_memkb, 32768);
  assert.is(d.config.b_info.target_memkb, 16384);
  assert.equal(d.config.disks, [{ pdev_path: img, vdev: "xvda", backend: "qdisk", format: "raw", readwrite: 0 }]);
  assert.equal(d.config.nics, [{ devid: 0, mac: "00:16:3e:00:00:42", bridge: "xenbr0" }]);
  assert.is(d.config.on_poweroff, "destroy");
  assert.is(d.config.on_reboot, "restart");
  assert.is(d.config.on_crash, "preserve");
  xm(E, ["destroy", "lj"]);
});

test("uptime, domid, domname, rename; create -p; shutdown -a; dmesg logs creation", async () => {
  assert.match(xm(E, ["create", "-p", counter("up1")]).stdout, /Started domain up1 \(id=\d+\)/);
  const id = xm(E, ["domid", "up1"]).stdout.trim();
  assert.is(xm(E, ["domname", id]).stdout, "up1\n");
  assert.match(xm(E, ["uptime", "up1"]).stdout, /^Name\s+ID Uptime\nup1\s+\d+ 0:00:0\d\n$/);
  assert.match(xm(E, ["uptime", "-s", "up1"]).stdout, /^up1 \d+ 0:00:0\d\n$/);
  assert.is(xm(E, ["rename", "up1", "up2"]).status, 0);
  assert.is(xm(E, ["domname", id]).stdout, "up2\n");
  assert.match(xm(E, ["rename", "up2", "bad name"]).stderr, /name: may contain only/);
  assert.match(
    xm(E, ["dmesg"]).stdout,
    new RegExp(`\\(XEN\\) d${id}: domain up1 created \\(16 MiB, 1 vCPU, kernel .*\\), paused\\n`)
  );
  assert.match(xm(E, ["dmesg"]).stdout, new RegExp(`d${id}: domain up1 renamed up2`));
  xm(E, ["unpause", "up2"]);
  xm(E, ["create", counter("up3")]);
  assert.match(xm(E, ["shutdown", "-a", "up2"]).stderr, /unexpected argument up2/);
  const r = xm(E, ["shutdown", "-a", "-w"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /up2, up3: shut down/);
  assert.is(xm(E, ["list"]).stdout.trim().split("\n").length, 2, "only Domain-0 left");
  assert.is(xm(E, ["dmesg", "-c"]).status, 0);
  assert.is(xm(E, ["dmesg"]).stdout, "", "cleared");
});

test("xm console -e ^a detaches on Ctrl-A; block-attach DOM 'file:/p,xvdb,w' as xl takes it", async () => {
  xm(E, ["create", counter("ce")]);
  const c =
    spawn(process.execPath, ["bin/xm.js", "console", "-e", "^a", "ce"], { env: E, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  c.stdout!.on("data", (b) => { out += b; });
  for (let i = 0; i < 400 && !out.includes("count 1"); i++) await sleep(50);
  assert.match(out, /count 1/);
  c.stdin!.write("\x1d"); // Ctrl-] is no escape now: sent to the guest
  await sleep(300);
  assert.is(c.exitCode, null, "still attached after Ctrl-]");
  c.stdin!.write("\x01");
  assert.is(await exited(c), 0, "detached on Ctrl-A");
  assert.match(xm(E, ["console", "-e", "^ab", "ce"]).stderr, /bad escape character/);
  const img = join(DIR, "ba.img");
  mkImg(img);
  let r = xm(E, ["block-attach", "ce", `file:${img},xvdb,w`]);
  assert.is(r.status, 0, r.stderr);
  assert.match(xm(E, ["block-list", "ce"]).stdout, /^51728 xvdb /m);
  r = xm(E, ["block-attach", "ce", "file:ba.img", "xvdc", "r"], DIR);
  assert.is(r.status, 1);
  assert.match(r.stderr, /ba\.img is already attached writable/);
  xm(E, ["destroy", "ce"]);
});

test("xm help CMD for every command; unknown commands and options are one line", () => {
  const list = xm(E, ["help"]).stdout;
  for (const c of ["create", "list", "uptime", "domid", "domname", "rename", "dmesg", "block-attach"]) {
    assert.match(list, new RegExp(`^  ${c} `, "m"));
    assert.match(xm(E, ["help", c]).stdout, new RegExp(`^usage: xm ${c}`));
  }
  assert.is(xm(E, ["frobnicate"]).stderr, "xm: unknown command frobnicate (see `xm help`)\n");
});

test("bash completion reads commands, options and domains from xm (completion/xm.bash)", () => {
  xm(E, ["create", counter("compl")]);
  const script = `xm() { "${process.execPath}" "${join(process.cwd(), "bin/xm.js")}" "$@"; }; source completion/xm.bash
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _xm; echo "\${COMPREPLY[*]}"; }
c xm cr; c xm shutdown -; c xm destroy comp`;
  const r = spawnSync("bash", ["-c", script], { env: E, encoding: "utf8", timeout: 30000 });
  assert.equal(r.stdout.split("\n").slice(0, 3), ["create", "-F -a -w", "compl"], r.stderr);
  xm(E, ["destroy", "compl"]);
});

test("the example configs boot from the repository's root (examples/hello.cfg, examples/counter.cfg)", async () => {
  const r = xm(E, ["create", "-c", "examples/hello.cfg"], process.cwd(), "");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /domain hello \(\d+\) shut down: poweroff; destroy/);
  assert.is(xm(E, ["create", "examples/counter.cfg"]).status, 0);
  const s = xm(E, ["shutdown", "-w", "counter"]);
  assert.is(s.status, 0, s.stderr);
  assert.is(xm(E, ["domid", "counter"]).status, 1, "gone");
});

test.run();
