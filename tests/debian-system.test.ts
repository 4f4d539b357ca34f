// Issue 14: a Debian system in a guest. The bookworm image of scripts/debian-system.sh (built once into
// the cache, tests/lib/debsys.ts) boots under a xend (`xm create`, its console through `xm console`)
// with Debian's kernel: its sysvinit reaches a login on hvc0, root logs in (no password), the root
// filesystem (ext4 on a PV disk) is read-write, eth0 has its DHCP address from the NAT; from the host,
// through the vif's port forwards, Apache serves a static page, a CGI page and a PHP page, psql creates
// a table, inserts and reads rows, pgbench runs. Then, while the host commits a stream of INSERTs (each
// counted when its COMMIT returned) and GETs pages, the guest is saved and restored (`xm save`, `xm
// restore`) and then migrated live to a second xend (`xm migrate --live`): every committed row is there
// afterwards, PostgreSQL, Apache and the forwards answer again. `poweroff` ends the domain and leaves the
// filesystem clean (e2fsck -fn on the image).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer, AddressInfo } from "node:net";
import { request } from "node:http";
import { join } from "node:path";
import { debianSystem, debianSystemUnavailable, rootfsCopy, DebianSystem } from "./lib/debsys";
import { skip } from "./lib/skip";
import { xmSync, xmAsync as xmCli } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "debian-system");
const NAME = "debian-system";
const unavailable = debianSystemUnavailable();
let sys: DebianSystem, out = "";
let httpPort = 0, pgPort = 0, rootfs = "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise<number>((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); }); });

// Two xends (their own sockets, relocation listeners on free ports): the domain starts on A, is saved
// and restored there, then migrates live to B.
interface Xend { name: string; env: NodeJS.ProcessEnv; proc: ChildProcess; port: number; log: string }
const xends: Xend[] = [];
let cur: Xend;
async function startXend(name: string): Promise<Xend> {
  const dir = join(DIR, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const env = { ...process.env, XEND_SOCKET: join(dir, "run", "xend.sock"), XEND_MEMORY_MIB: "640", XEND_RELOCATION_PORT: String(port), XEND_SUSPEND_TIMEOUT_MS: "120000" };
  const proc = spawn(process.execPath, ["bin/xend.js", "run"], { env, stdio: ["ignore", "ignore", "pipe"] });
  const x: Xend = { name, env, proc, port, log: "" };
  proc.stderr!.on("data", (b) => { x.log += b; if (x.log.length > 200000) x.log = x.log.slice(-100000); });
  xends.push(x);
  for (let i = 0; i < 400; i++) { if (xm(x, "info").status === 0) break; await sleep(50); }
  assert.is(xm(x, "info").status, 0, `xend ${name} answers: ${x.log}`);
  return x;
}
const xm = (x: Xend, ...args: string[]) => xmSync(x.env, 600000, ...args);
const xmAsync = (x: Xend, ...args: string[]) => xmCli(x.env, ...args);
test.after(() => {
  for (const x of xends) { spawnSync(process.execPath, ["bin/xend.js", "stop", "--destroy"], { env: x.env, timeout: 20000 }); x.proc.kill("SIGKILL"); }
});

/** The domain's console (`xm console` on the xend it is on): its output is appended to `out`. */
let con: ChildProcess, conExited: Promise<number | null>;
function attach(x: Xend): void {
  const c = spawn(process.execPath, ["bin/xm.js", "console", NAME], { env: x.env, stdio: ["pipe", "pipe", "pipe"] });
  c.stdout!.on("data", (b) => { out += b; });
  c.stderr!.on("data", (b) => { out += b; });
  c.stdin!.on("error", () => {});
  con = c;
  conExited = new Promise((r) => c.on("exit", (code) => r(code)));
}

/** Waits until the console output (from `from` on) matches `re`; gives the match. */
async function waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpExecArray> {
  const t0 = Date.now();
  for (;;) {
    const m = re.exec(out.slice(from));
    if (m) return m;
    if (Date.now() - t0 > ms || con.exitCode !== null) assert.unreachable(`no ${re} on the console in ${ms / 1000} s; it ends with:\n${out.slice(-2500)}`);
    await sleep(200);
  }
}
/** Types a line on the console and waits for `re` in what follows it. */
async function run(line: string, re: RegExp, ms = 120000): Promise<RegExpExecArray> {
  const from = out.length;
  con.stdin!.write(line + "\n");
  return waitFor(re, ms, from);
}
function httpGet(path: string, timeout = 120000): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = request({ host: "127.0.0.1", port: httpPort, path, timeout }, (s) => {
      let body = "";
      s.on("data", (b) => { body += b; });
      s.on("end", () => res({ status: s.statusCode ?? 0, body }));
      s.on("error", rej);
    });
    r.on("timeout", () => r.destroy(new Error("timeout")));
    r.on("error", rej);
    r.end();
  });
}
/** A PostgreSQL client program of the host (psql, pgbench) by its versioned path; undefined when absent. */
function pgTool(name: string): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  for (const v of readdirSync(base).sort().reverse()) if (existsSync(join(base, v, "bin", name))) return join(base, v, "bin", name);
  return undefined;
}
const pgEnv = { ...process.env, PGPASSWORD: "xenwasm", PGCONNECT_TIMEOUT: "120" };
/** A PostgreSQL client run from the host against the guest's forwarded port (async: the guest runs in another process). */
function pg(tool: string, args: string[], ms = 300000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(tool, ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "xenwasm", ...args], { env: pgEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    c.stdout.on("data", (b) => { stdout += b; }); c.stderr.on("data", (b) => { stderr += b; });
    const t = setTimeout(() => c.kill("SIGKILL"), ms);
    c.on("close", (status) => { clearTimeout(t); res({ status, stdout, stderr }); });
  });
}

test("Debian bookworm (sysvinit) boots from its ext4 root on xvda to a login on hvc0; root logs in; / is read-write; eth0 has its DHCP address", async () => {
  if (unavailable) return skip("Debian system boot", unavailable);
  const t0 = Date.now();
  sys = debianSystem();
  console.log(`debian-system: image ${sys.built ? `built in ${((Date.now() - t0) / 1000).toFixed(0)} s` : "from the cache"} (${sys.dir}): ${JSON.stringify(sys.info)}`);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  rootfs = rootfsCopy(sys, join(DIR, "rootfs.img"));
  [httpPort, pgPort] = [await freePort(), await freePort()];
  const cfg = join(DIR, "debian-system.cfg");
  writeFileSync(cfg, [
    `name = "${NAME}"`, `kernel = "${sys.kernel}"`, `ramdisk = "${sys.initrd}"`, `memory = 512`,
    `extra = "console=hvc0 root=/dev/xvda ro quiet"`, `disk = [ 'file:${rootfs},xvda,w' ]`,
    `vif = [ 'forward=tcp:${httpPort}:80, forward=tcp:${pgPort}:5432' ]`,
  ].join("\n") + "\n");
  cur = await startXend("a");
  const t1 = Date.now();
  const c = xm(cur, "create", cfg);
  assert.is(c.status, 0, c.stderr);
  attach(cur);
  await waitFor(/xenwasm-debian login: $/, 900000);
  console.log(`debian-system: boot_to_login ${((Date.now() - t1) / 1000).toFixed(1)} s (xm create to the login prompt)`);
  assert.match(out, "INIT: version", "Debian's sysvinit ran");
  assert.match(out, /lease of 10\.0\.2\.15 obtained from 10\.0\.2\.2/, "ifupdown's udhcpc");
  con.stdin!.write("root\n");
  await waitFor(/root@xenwasm-debian:~# $/, 120000, out.lastIndexOf("login:"));
  await run("touch /root/written && rm /root/written && echo RW-$((6*7))-OK", /RW-42-OK/);
  const m = await run("grep ' / ' /proc/mounts; ip -4 -o addr show eth0; echo DONE-$((1+1))", /([\s\S]*)DONE-2/);
  assert.match(m[1], /\/ ext4 rw,/, "the root filesystem is mounted read-write");
  assert.match(m[1], /inet 10\.0\.2\.15\/24/, "eth0 has the NAT's DHCP address");
  await run("runlevel; echo RL-$((2+1))", /N 2\s+RL-3/);
});

test("Apache in the guest serves a static page, a CGI page and a PHP page to the host through a port forward", async () => {
  if (unavailable) return skip("Apache through a port forward", unavailable);
  const st = await httpGet("/hello.html");
  assert.is(st.status, 200);
  assert.is(st.body.trim(), "<html><body>hello from Apache in a xenwasm guest</body></html>");
  const cgi = await httpGet("/cgi-bin/hello.sh");
  assert.is(cgi.status, 200);
  assert.match(cgi.body, /^CGI on xenwasm-debian kernel 6\.\d+\.\d+-\d+-amd64: 42$/m, "run by the guest's shell");
  assert.is((await httpGet("/nothing-here")).status, 404);
  // PHP (Debian's libapache2-mod-php): integer and floating-point arithmetic, the guest's name.
  const php = await httpGet("/hello.php");
  assert.is(php.status, 200);
  assert.match(php.body, /^PHP 8\.\d+\.\d+\S* on xenwasm-debian: 42 sqrt2=1\.414214 sum=5050$/m, php.body);
});

test("PostgreSQL in the guest: from the host psql creates a table, inserts and reads rows; pgbench runs", async () => {
  if (unavailable) return skip("PostgreSQL through a port forward", unavailable);
  const psql = pgTool("psql");
  if (!psql) return skip("PostgreSQL through a port forward", "no psql on the host (scripts/setup.sh installs postgresql-client)");
  const r = await pg(psql, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "xenwasm", "-c",
    "CREATE TABLE xw(id int PRIMARY KEY, name text); INSERT INTO xw SELECT i, 'row ' || i FROM generate_series(1, 100) i; " +
    "INSERT INTO xw VALUES (1000, 'from the host'); SELECT count(*), sum(id) FROM xw; SELECT name FROM xw WHERE id = 1000"]);
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split("\n"), ["101|6050", "from the host"]);
  // The rows were committed: another session (a new backend) reads them.
  const again = await pg(psql, ["-X", "-A", "-t", "xenwasm", "-c", "SELECT count(*) FROM xw WHERE name LIKE 'row %'"]);
  assert.is(again.stdout.trim(), "100", again.stderr);
  const pgbench = pgTool("pgbench");
  let bench: string;
  if (pgbench) {
    const init = await pg(pgbench, ["-i", "-I", "dtGp", "-s", "1", "xenwasm"], 600000);
    assert.is(init.status, 0, init.stderr);
    const b = await pg(pgbench, ["-n", "-c", "2", "-t", "10", "xenwasm"], 600000);
    assert.is(b.status, 0, b.stderr);
    bench = b.stdout;
  } else {
    // No pgbench on the host (it comes with the postgresql server package): the guest's own, on its console.
    bench = (await run("su postgres -c 'pgbench -q -i -I dtGp -s 1 xenwasm >/dev/null 2>&1 && pgbench -n -c 2 -t 10 xenwasm'; echo PGB-$((3*3))", /([\s\S]*)PGB-9/, 600000))[1];
  }
  assert.match(bench, /number of transactions actually processed: 20\/20/, bench);
  assert.match(bench, /number of failed transactions: 0/, bench);
  const tps = /tps = ([\d.]+)/.exec(bench);
  assert.ok(tps && Number(tps[1]) > 0, bench);
  console.log(`debian-system: pgbench -c 2 -t 10 (${pgbench ? "from the host" : "in the guest"}): tps ${tps![1]}`);
  const n = await pg(psql, ["-X", "-A", "-t", "xenwasm", "-c", "SELECT count(*) FROM pgbench_history"]);
  assert.is(n.stdout.trim(), "20", "every transaction left its history row");
});

// ---- load from the host while the guest is saved, restored and migrated ----

/**
 * INSERTs one at a time through one psql session (autocommit): a row counts as committed when psql
 * has printed the \echo that follows its INSERT, i.e. after the server answered the COMMIT. A lost
 * session (the guest stopped, the forward gone) ends psql; the row then in flight is "in doubt" (it may
 * or may not have committed) and a new session takes the next id.
 */
class InsertStream {
  readonly acked: number[] = [];
  readonly inDoubt: number[] = [];
  sessions = 0;
  lastError = "";
  private next = 1;
  private stopped = false;
  private proc?: ChildProcess;
  private done?: Promise<void>;
  constructor(private readonly psql: string, private readonly table: string) {}
  start(): void { this.done = this.loop(); }
  private async loop(): Promise<void> {
    while (!this.stopped) { await this.session(); if (!this.stopped) await sleep(250); }
  }
  private session(): Promise<void> {
    this.sessions++;
    return new Promise((res) => {
      const c = spawn(this.psql, ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "xenwasm", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "xenwasm"],
        { env: { ...pgEnv, PGCONNECT_TIMEOUT: "10" }, stdio: ["pipe", "pipe", "pipe"] });
      this.proc = c;
      let buf = "", pending = 0, watchdog: ReturnType<typeof setTimeout> | undefined;
      const send = () => {
        if (this.stopped) { c.stdin!.end(); return; }
        pending = this.next++;
        c.stdin!.write(`INSERT INTO ${this.table}(id) VALUES (${pending});\n\\echo ACK ${pending}\n`);
        clearTimeout(watchdog);
        // A session that hangs (a connection the NAT will never answer) is ended; its row is in doubt.
        watchdog = setTimeout(() => c.kill("SIGKILL"), 90000);
      };
      c.stdout!.on("data", (b) => {
        buf += b;
        for (let i; (i = buf.indexOf("\n")) >= 0;) {
          const m = /^ACK (\d+)$/.exec(buf.slice(0, i).trim());
          buf = buf.slice(i + 1);
          if (m && Number(m[1]) === pending) { this.acked.push(pending); pending = 0; send(); }
        }
      });
      c.stderr!.on("data", (b) => { this.lastError = String(b).trim(); });
      c.stdin!.on("error", () => {});
      c.on("close", () => { clearTimeout(watchdog); if (pending) this.inDoubt.push(pending); res(); });
      send();
    });
  }
  async stop(): Promise<void> { this.stopped = true; this.proc?.stdin?.end(); await this.done; }
}

/** GETs of the static and the PHP page in turn; a failed GET is retried (counted) until it is answered. */
class GetStream {
  ok = 0;
  failedAttempts = 0;
  maxRetries = 0;
  okTimes: number[] = [];
  private stopped = false;
  private done?: Promise<void>;
  start(): void { this.done = this.loop(); }
  private async loop(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const [path, re] = n % 2 ? ["/hello.php", /^PHP .* sum=5050$/m] : ["/hello.html", /hello from Apache/];
      for (let retries = 0; ; retries++) {
        const r = await httpGet(path, 30000).catch(() => undefined);
        if (r && r.status === 200 && re.test(r.body)) { this.ok++; this.okTimes.push(Date.now()); this.maxRetries = Math.max(this.maxRetries, retries); break; }
        this.failedAttempts++;
        if (this.stopped) return;
        await sleep(500);
      }
      await sleep(200);
    }
  }
  async stop(): Promise<void> { this.stopped = true; await this.done; }
}

let inserts: InsertStream | undefined, gets: GetStream | undefined;
/** Waits until the streams have made `n` more commits and 2 more answered GETs than now. */
async function progress(n: number, ms: number, what: string): Promise<void> {
  const a0 = inserts!.acked.length, g0 = gets!.ok, t0 = Date.now();
  while (inserts!.acked.length < a0 + n || gets!.ok < g0 + 2) {
    if (Date.now() - t0 > ms) assert.unreachable(`${what}: ${inserts!.acked.length - a0} commits and ${gets!.ok - g0} GETs in ${ms / 1000} s (psql: ${inserts!.lastError}); console:\n${out.slice(-1500)}`);
    await sleep(200);
  }
}
/** The longest time between two answered GETs, of those answered from `from` (ms since the epoch) on. */
function longestGap(from: number): number {
  const t = gets!.okTimes, i = t.findIndex((x) => x >= from);
  let gap = 0;
  for (let k = Math.max(1, i); i >= 0 && k < t.length; k++) gap = Math.max(gap, t[k] - t[k - 1]);
  return gap;
}
/** Every row the host saw committed is in the table, and nothing else is but rows in doubt. */
async function checkRows(psql: string, what: string): Promise<number> {
  const acked = [...inserts!.acked];
  const r = await pg(psql, ["-X", "-A", "-t", "xenwasm", "-c", "SELECT id FROM load ORDER BY id"]);
  assert.is(r.status, 0, r.stderr);
  const have = new Set(r.stdout.trim().split("\n").filter(Boolean).map(Number));
  const lost = acked.filter((i) => !have.has(i));
  assert.equal(lost, [], `${what}: committed rows missing`);
  const doubt = new Set(inserts!.inDoubt), ack = new Set(inserts!.acked);
  assert.equal([...have].filter((i) => !ack.has(i) && !doubt.has(i)), [], `${what}: rows never sent`);
  return have.size;
}

test("saved and restored mid-load (xm save, xm restore): every committed row is there, PostgreSQL, Apache and the forwards answer again", async () => {
  if (unavailable) return skip("Debian system save/restore mid-load", unavailable);
  const psql = pgTool("psql");
  if (!psql) return skip("Debian system save/restore mid-load", "no psql on the host (scripts/setup.sh installs postgresql-client)");
  const mk = await pg(psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "xenwasm", "-c", "CREATE TABLE load(id int PRIMARY KEY, at timestamptz DEFAULT now())"]);
  assert.is(mk.status, 0, mk.stderr);
  inserts = new InsertStream(psql, "load");
  gets = new GetStream();
  inserts.start(); gets.start();
  const tTest = Date.now();
  await progress(3, 300000, "before the save");
  const file = join(DIR, "debian-system.save");
  const before = inserts.acked.length;
  const t0 = Date.now();
  const sv = await xmAsync(cur, "save", NAME, file);
  const tSaved = Date.now();
  assert.is(sv.status, 0, sv.stderr + xm(cur, "dmesg").stdout.slice(-2000));
  await conExited; // the console ends with the domain
  assert.not.match(xm(cur, "list").stdout, new RegExp(NAME));
  const rs = xm(cur, "restore", file);
  const tRestored = Date.now();
  assert.is(rs.status, 0, rs.stderr);
  const bytes = statSync(file).size;
  rmSync(file, { force: true }); // ~512 MiB
  const mark = out.length;
  attach(cur);
  await progress(3, 300000, "after the restore");
  const gap = longestGap(t0);
  await run("ip -4 -o addr show eth0; echo BACK-$((40+2))", /inet 10\.0\.2\.15\/24[\s\S]*BACK-42/);
  assert.ok(out.length > mark);
  const rows = await checkRows(psql, "after save/restore");
  console.log(`debian-system: save/restore mid-load: save ${((tSaved - t0) / 1000).toFixed(1)} s (${(bytes / 1048576).toFixed(0)} MiB), restore ${((tRestored - tSaved) / 1000).toFixed(1)} s, ` +
    `longest time between answered GETs ${(gap / 1000).toFixed(1)} s; commits ${before} before, ${inserts.acked.length} by now, ${rows} rows, ` +
    `${inserts.inDoubt.length} in doubt, 0 lost; ${inserts.sessions} psql sessions; GETs ${gets.ok} answered, ${gets.failedAttempts} failed attempts; the test took ${((Date.now() - tTest) / 1000).toFixed(0)} s`);
});

test("migrated live mid-load to a second xend (xm migrate --live): Apache keeps answering, every committed row is there", async () => {
  if (unavailable || !inserts) return skip("Debian system live migration mid-load", unavailable ?? "no load (the save/restore test was skipped)");
  const psql = pgTool("psql")!;
  const tTest = Date.now();
  const B = await startXend("b");
  await progress(2, 300000, "before the migration");
  const f0 = gets!.failedAttempts, r0 = gets!.maxRetries, ok0 = gets!.ok, a0 = inserts.acked.length, d0 = inserts.inDoubt.length;
  gets!.maxRetries = 0;
  const t0 = Date.now();
  const mg = await xmAsync(cur, "migrate", "--live", "--json", NAME, `127.0.0.1:${B.port}`);
  const tDone = Date.now();
  assert.is(mg.status, 0, mg.stderr + xm(cur, "dmesg").stdout.slice(-2000));
  const sum = JSON.parse(mg.stdout.trim().split("\n").pop()!);
  await conExited;
  assert.not.match(xm(cur, "list").stdout, new RegExp(NAME));
  assert.match(xm(B, "list").stdout, new RegExp(`^${NAME}\\s+\\d+\\s+512\\s+1\\s`, "m"));
  const okDuring = gets!.ok - ok0;
  cur = B;
  attach(cur);
  await progress(3, 300000, "after the migration");
  const gap = longestGap(t0);
  await run("ip -4 -o addr show eth0; echo MOVED-$((40+2))", /inet 10\.0\.2\.15\/24[\s\S]*MOVED-42/);
  await inserts.stop(); await gets!.stop();
  const rows = await checkRows(psql, "after the migration");
  console.log(`debian-system: migrate --live mid-load: ${((tDone - t0) / 1000).toFixed(1)} s, downtime ${sum.downtimeMs.toFixed(0)} ms, rounds ${sum.rounds}, ` +
    `sent/memory ${(sum.pagesSent / sum.memPages).toFixed(2)}; GETs answered while it ran ${okDuring}, failed attempts ${gets!.failedAttempts - f0} ` +
    `(most retries of one GET ${gets!.maxRetries}; before it ${r0}), longest time between answered GETs ${(gap / 1000).toFixed(1)} s; commits ${inserts.acked.length - a0} ` +
    `since it began, ${rows} rows in all, ${inserts.inDoubt.length - d0} in doubt, 0 lost; the test took ${((Date.now() - tTest) / 1000).toFixed(0)} s`);
  assert.is(sum.live, true);
  assert.ok(sum.rounds >= 2, JSON.stringify(sum));
});

test("poweroff on the console shuts the system down: the domain ends and the ext4 root is clean (e2fsck -fn)", async () => {
  if (unavailable) return skip("Debian system poweroff", unavailable);
  // Kernel messages of level info on the console from now on: a frontend that times out closing
  // (its backend did not answer Closing with Closing) would say so.
  await run("dmesg -n 7; echo LVL-$((3+4))", /LVL-7/);
  con.stdin!.write("poweroff\n");
  const timer = setTimeout(() => con.kill("SIGKILL"), 300000);
  await conExited; // the console ends with the domain
  clearTimeout(timer);
  assert.match(out, /Will now halt|Power down|reboot: Power down/, out.slice(-2500));
  assert.not.match(out, /timeout closing device/, "blkfront and netfront closed at once");
  assert.not.match(xm(cur, "list").stdout, new RegExp(NAME), "the domain is gone");
  assert.match(xm(cur, "dmesg").stdout, new RegExp(`domain ${NAME} shut down: poweroff`), "it powered off");
  const fsck = spawnSync("e2fsck", ["-fn", rootfs], { encoding: "utf8" });
  assert.is(fsck.status, 0, fsck.stdout + fsck.stderr);
  const sb = spawnSync("dumpe2fs", ["-h", rootfs], { encoding: "utf8" });
  assert.match(sb.stdout, /Filesystem state:\s+clean\n/);
  rmSync(rootfs, { force: true }); // ~450 MiB of the copy
});

test.run();
