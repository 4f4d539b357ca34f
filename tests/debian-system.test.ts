// Issue 14: a Debian system in a guest. The bookworm image of scripts/debian-system.sh (built once into
// the cache, tests/lib/debsys.ts) boots under `xm run` with Debian's kernel: its sysvinit reaches a
// login on hvc0, root logs in (no password), the root filesystem (ext4 on a PV disk) is read-write,
// eth0 has its DHCP address from the NAT; from the host, through the vif's port forwards, Apache serves
// a static page and a CGI page, psql creates a table, inserts and reads rows, pgbench runs; `poweroff`
// ends `xm run` with status 0 and leaves the filesystem clean (e2fsck -fn on the image).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync, readdirSync, rmSync } from "node:fs";
import { createServer, AddressInfo } from "node:net";
import { request } from "node:http";
import { join } from "node:path";
import { debianSystem, debianSystemUnavailable, rootfsCopy, DebianSystem } from "./lib/debsys";
import { skip } from "./lib/skip";

const DIR = join(process.cwd(), "tests", "build", "debian-system");
const unavailable = debianSystemUnavailable();
let sys: DebianSystem, xm: ChildProcess, out = "", exited: Promise<number | null>;
let httpPort = 0, pgPort = 0, rootfs = "";

const freePort = () => new Promise<number>((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); }); });

/** Waits until the console output (from `from` on) matches `re`; gives the match. */
async function waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpExecArray> {
  const t0 = Date.now();
  for (;;) {
    const m = re.exec(out.slice(from));
    if (m) return m;
    if (Date.now() - t0 > ms || xm.exitCode !== null) assert.unreachable(`no ${re} on the console in ${ms / 1000} s; it ends with:\n${out.slice(-2500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
/** Types a line on the console and waits for `re` in what follows it. */
async function run(line: string, re: RegExp, ms = 120000): Promise<RegExpExecArray> {
  const from = out.length;
  xm.stdin!.write(line + "\n");
  return waitFor(re, ms, from);
}
function httpGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = request({ host: "127.0.0.1", port: httpPort, path, timeout: 120000 }, (s) => {
      let body = "";
      s.on("data", (b) => { body += b; });
      s.on("end", () => res({ status: s.statusCode ?? 0, body }));
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
  mkdirSync(DIR, { recursive: true });
  rootfs = rootfsCopy(sys, join(DIR, "rootfs.img"));
  [httpPort, pgPort] = [await freePort(), await freePort()];
  const cfg = join(DIR, "debian-system.cfg");
  writeFileSync(cfg, [
    `name = "debian-system"`, `kernel = "${sys.kernel}"`, `ramdisk = "${sys.initrd}"`, `memory = 512`,
    `extra = "console=hvc0 root=/dev/xvda ro quiet"`, `disk = [ 'file:${rootfs},xvda,w' ]`,
    `vif = [ 'forward=tcp:${httpPort}:80, forward=tcp:${pgPort}:5432' ]`,
  ].join("\n") + "\n");
  const t1 = Date.now();
  xm = spawn(process.execPath, ["bin/xm.js", "run", cfg], { stdio: ["pipe", "pipe", "pipe"] });
  xm.stdout!.on("data", (b) => { out += b; });
  xm.stderr!.on("data", (b) => { out += b; });
  exited = new Promise((r) => xm.on("exit", (c) => r(c)));
  await waitFor(/xenwasm-debian login: $/, 900000);
  console.log(`debian-system: boot_to_login ${((Date.now() - t1) / 1000).toFixed(1)} s (xm run to the login prompt)`);
  assert.match(out, "INIT: version", "Debian's sysvinit ran");
  assert.match(out, /lease of 10\.0\.2\.15 obtained from 10\.0\.2\.2/, "ifupdown's udhcpc");
  xm.stdin!.write("root\n");
  await waitFor(/root@xenwasm-debian:~# $/, 120000, out.lastIndexOf("login:"));
  await run("touch /root/written && rm /root/written && echo RW-$((6*7))-OK", /RW-42-OK/);
  const m = await run("grep ' / ' /proc/mounts; ip -4 -o addr show eth0; echo DONE-$((1+1))", /([\s\S]*)DONE-2/);
  assert.match(m[1], /\/ ext4 rw,/, "the root filesystem is mounted read-write");
  assert.match(m[1], /inet 10\.0\.2\.15\/24/, "eth0 has the NAT's DHCP address");
  await run("runlevel; echo RL-$((2+1))", /N 2\s+RL-3/);
});

test("Apache in the guest serves a static page and a CGI page to the host through a port forward", async () => {
  if (unavailable) return skip("Apache through a port forward", unavailable);
  const st = await httpGet("/hello.html");
  assert.is(st.status, 200);
  assert.is(st.body.trim(), "<html><body>hello from Apache in a xenwasm guest</body></html>");
  const cgi = await httpGet("/cgi-bin/hello.sh");
  assert.is(cgi.status, 200);
  assert.match(cgi.body, /^CGI on xenwasm-debian kernel 6\.\d+\.\d+-\d+-amd64: 42$/m, "run by the guest's shell");
  assert.is((await httpGet("/nothing-here")).status, 404);
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

test("poweroff on the console shuts the system down: xm run exits 0 and the ext4 root is clean (e2fsck -fn)", async () => {
  if (unavailable) return skip("Debian system poweroff", unavailable);
  // Kernel messages of level info on the console from now on: a frontend that times out closing
  // (its backend did not answer Closing with Closing) would say so.
  await run("dmesg -n 7; echo LVL-$((3+4))", /LVL-7/);
  xm.stdin!.write("poweroff\n");
  const timer = setTimeout(() => xm.kill("SIGKILL"), 300000);
  const code = await exited;
  clearTimeout(timer);
  assert.is(code, 0, out.slice(-2500));
  assert.match(out, /Will now halt|Power down|reboot: Power down/, out.slice(-2500));
  assert.not.match(out, /timeout closing device/, "blkfront and netfront closed at once");
  const fsck = spawnSync("e2fsck", ["-fn", rootfs], { encoding: "utf8" });
  assert.is(fsck.status, 0, fsck.stdout + fsck.stderr);
  const sb = spawnSync("dumpe2fs", ["-h", rootfs], { encoding: "utf8" });
  assert.match(sb.stdout, /Filesystem state:\s+clean\n/);
  rmSync(rootfs, { force: true }); // ~450 MiB of the copy
});

test.run();
