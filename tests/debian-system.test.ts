// Issue 14: a Debian system in a guest. The bookworm image of scripts/debian-system.sh (built once into
// the cache, tests/lib/debsys.ts) boots under a xend (`xm create`, its console through `xm console`)
// with Debian's kernel: its sysvinit reaches a login on hvc0, root logs in (no password), the root
// filesystem (ext4 on a PV disk) is read-write, eth0 has its DHCP address from the NAT; from the host,
// through the vif's port forwards, Apache serves a static page, a CGI page and a PHP page, psql creates
// a table, inserts and reads rows, pgbench runs. Then, while the host commits a stream of INSERTs (each
// counted when its COMMIT returned) and GETs pages, the guest is saved and restored (`xm save`, `xm
// restore`) and then migrated live to a second xend (`xm migrate --live`): every committed row is there
// afterwards, PostgreSQL, Apache and the forwards answer again (the load and the save/restore and
// migration steps are tests/lib/debload.ts, which bench/apps.ts measures with). `poweroff` ends the
// domain and leaves the filesystem clean (e2fsck -fn on the image), and the image's next boot says so
// itself: the kernel mounts it without journal recovery and sysvinit's checkroot.sh finds it clean.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { debianSystem, debianSystemUnavailable, rootfsCopy, DebianSystem } from "./lib/debsys";
import {
  DomConsole, Load, debXend, freePort, httpGet as get, migrateLive, pg as pgAt, pgTool, saveRestore,
} from "./lib/debload";
import { Xend } from "./lib/xmcli";
import { skip } from "./lib/skip";

const DIR = join(process.cwd(), "tests", "build", "debian-system");
const NAME = "debian-system";
const unavailable = debianSystemUnavailable();
let sys: DebianSystem;
let httpPort = 0, pgPort = 0, rootfs = "";

// Two xends (their own sockets, relocation listeners on free ports): the domain starts on A, is saved
// and restored there, then migrates live to B.
const xends: Xend[] = [];
let cur: Xend;
async function startXend(name: string): Promise<Xend> {
  const x = await debXend(DIR, name);
  xends.push(x);
  return x;
}
const xm = (x: Xend, ...args: string[]) => x.xm(...args);
test.after(() => { for (const x of xends) x.stop(); });

/** The domain's console (`xm console` on the xend it is on), all of its output in `dc.out`. */
let dc = new DomConsole(NAME);
const waitFor = (re: RegExp, ms: number, from = 0) => dc.waitFor(re, ms, from);
const run = (line: string, re: RegExp, ms = 120000) => dc.run(line, re, ms);
const httpGet = (path: string, timeout = 120000) => get(httpPort, path, timeout);
const pg = (tool: string, args: string[], ms = 300000) => pgAt(tool, pgPort, args, ms);

test("Debian bookworm (sysvinit) boots from its ext4 root on xvda "
    + "to a login on hvc0; root logs in; / is read-write; eth0 has " + "its DHCP address", async () => {
  if (unavailable) return skip("Debian system boot", unavailable);
  const t0 = Date.now();
  sys = debianSystem();
  console.log(
    `debian-system: image ` + `${sys.built ? `built in ${((Date.now() - t0) / 1000).toFixed(0)} s` : "from the cache"} `
      + `(${sys.dir}): ${JSON.stringify(sys.info)}`
  );
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
  dc.attach(cur);
  await waitFor(/xenwasm-debian login: $/, 900000);
  console.log(
    `debian-system: boot_to_login ${((Date.now() - t1) / 1000).toFixed(1)} s (xm create to the login prompt)`
  );
  assert.match(dc.out, "INIT: version", "Debian's sysvinit ran");
  assert.match(dc.out, /lease of 10\.0\.2\.15 obtained from 10\.0\.2\.2/, "ifupdown's udhcpc");
  dc.write("root\n");
  await waitFor(/root@xenwasm-debian:~# $/, 120000, dc.out.lastIndexOf("login:"));
  await run("touch /root/written && rm /root/written && echo RW-$((6*7))-OK", /RW-42-OK/);
  const m = await run("grep ' / ' /proc/mounts; ip -4 -o addr show eth0; echo DONE-$((1+1))", /([\s\S]*)DONE-2/);
  assert.match(m[1], /\/ ext4 rw,/, "the root filesystem is mounted read-write");
  assert.match(m[1], /inet 10\.0\.2\.15\/24/, "eth0 has the NAT's DHCP address");
  await run("runlevel; echo RL-$((2+1))", /N 2\s+RL-3/);
});

test("Apache in the guest serves a static page, a CGI page and a PHP page to the host through a port forward",
  async () => {
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
  if (!psql) return skip(
    "PostgreSQL through a port forward", "no psql on the host (scripts/setup.sh installs postgresql-client)"
  );
  const r = await pg(psql, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "xenwasm", "-c",
    "CREATE TABLE xw(id int PRIMARY KEY, name text); INSERT INTO "
      + "xw SELECT i, 'row ' || i FROM generate_series(1, 100) i; " +
    "INSERT INTO xw VALUES (1000, 'from the host'); SELECT "
      + "count(*), sum(id) FROM xw; SELECT name FROM xw WHERE id = " + "1000"
  ]
  );
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
    bench = (
      await run(
        "su postgres -c 'pgbench -q -i -I dtGp -s 1 xenwasm "
          + ">/dev/null 2>&1 && pgbench -n -c 2 -t 10 xenwasm'; echo " + "PGB-$((3*3))", /([\s\S]*)PGB-9/, 600000
      )
    )[1];
  }
  assert.match(bench, /number of transactions actually processed: 20\/20/, bench);
  assert.match(bench, /number of failed transactions: 0/, bench);
  const tps = /tps = ([\d.]+)/.exec(bench);
  assert.ok(tps && Number(tps[1]) > 0, bench);
  console.log(`debian-system: pgbench -c 2 -t 10 (${pgbench ? "from the host" : "in the guest"}): tps ${tps![1]}`);
  const n = await pg(psql, ["-X", "-A", "-t", "xenwasm", "-c", "SELECT count(*) FROM pgbench_history"]);
  assert.is(n.stdout.trim(), "20", "every transaction left its history row");
});

// ---- load from the host while the guest is saved, restored and migrated (tests/lib/debload.ts) ----

let load: Load | undefined;
/** Every row the host saw committed is in the table, and nothing else is but rows in doubt. */
async function checkRows(what: string): Promise<number> {
  const r = await load!.rows();
  assert.equal(r.lost, [], `${what}: committed rows missing`);
  assert.equal(r.neverSent, [], `${what}: rows never sent`);
  return r.rows;
}

test("saved and restored mid-load (xm save, xm restore): every "
    + "committed row is there, PostgreSQL, Apache and the forwards " + "answer again", async () => {
  if (unavailable) return skip("Debian system save/restore mid-load", unavailable);
  const psql = pgTool("psql");
  if (!psql) return skip(
    "Debian system save/restore mid-load", "no psql on the host (scripts/setup.sh installs postgresql-client)"
  );
  load = new Load(psql, pgPort, httpPort);
  await load.start();
  const tTest = Date.now();
  const mark = dc.out.length;
  const sr = await saveRestore(cur, dc, load, join(DIR, "debian-system.save"));
  await run("ip -4 -o addr show eth0; echo BACK-$((40+2))", /inet 10\.0\.2\.15\/24[\s\S]*BACK-42/);
  assert.ok(dc.out.length > mark);
  const rows = await checkRows("after save/restore");
  const { inserts, gets } = load;
  console.log(`debian-system: save/restore mid-load: save ` + `${sr.save_s.toFixed(1)} s `
      + `(${(sr.bytes / 1048576).toFixed(0)} MiB), restore ` + `${sr.restore_s.toFixed(1)} s, ` +
    `longest time between answered GETs ` + `${(sr.gap_ms / 1000).toFixed(1)} s; commits `
      + `${sr.commitsBefore} before, ${inserts.acked.length} by now, ` + `${rows} rows, ` +
    `${inserts.inDoubt.length} in doubt, 0 lost; ` + `${inserts.sessions} psql sessions; GETs ${gets.ok} `
      + `answered, ${gets.failedAttempts} failed attempts; the test `
      + `took ${((Date.now() - tTest) / 1000).toFixed(0)} s`
  );
});

test(
  "migrated live mid-load to a second xend (xm migrate --live): Apache keeps answering, every committed row is there",
  async () => {
  if (unavailable || !load)
    return skip("Debian system live migration mid-load", unavailable ?? "no load (the save/restore test was skipped)");
  const tTest = Date.now();
  const B = await startXend("b");
  const m = await migrateLive(cur, B, dc, load);
  assert.match(xm(B, "list").stdout, new RegExp(`^${NAME}\\s+\\d+\\s+512\\s+1\\s`, "m"));
  cur = B;
  await run("ip -4 -o addr show eth0; echo MOVED-$((40+2))", /inet 10\.0\.2\.15\/24[\s\S]*MOVED-42/);
  await load.stop();
  const rows = await checkRows("after the migration");
  const sum = m.summary;
  console.log(`debian-system: migrate --live mid-load: ` + `${m.total_s.toFixed(1)} s, downtime `
      + `${sum.downtimeMs.toFixed(0)} ms, rounds ${sum.rounds}, ` +
    `sent/memory ${(sum.pagesSent / sum.memPages).toFixed(2)}; `
      + `GETs answered while it ran ${m.getsDuring}, failed attempts ` + `${m.failedGets} ` +
    `(most retries of one GET ${m.maxRetries}; before it `
      + `${m.maxRetriesBefore}), longest time between answered GETs `
      + `${(m.gap_ms / 1000).toFixed(1)} s; commits ${m.commits} ` +
    `since it began, ${rows} rows in all, ${m.inDoubt} in doubt, ` + `0 lost; the test took `
      + `${((Date.now() - tTest) / 1000).toFixed(0)} s`
  );
  assert.is(sum.live, true);
  assert.ok(sum.rounds >= 2, JSON.stringify(sum));
});

test("poweroff on the console shuts the system down: the domain ends and the ext4 root is clean (e2fsck -fn)",
  async () => {
  if (unavailable) return skip("Debian system poweroff", unavailable);
  // Kernel messages of level info on the console from now on: a frontend that times out closing
  // (its backend did not answer Closing with Closing) would say so.
  await run("dmesg -n 7; echo LVL-$((3+4))", /LVL-7/);
  dc.write("poweroff\n");
  const timer = setTimeout(() => dc.con.kill("SIGKILL"), 300000);
  await dc.exited; // the console ends with the domain
  clearTimeout(timer);
  assert.match(dc.out, /Will now halt|Power down|reboot: Power down/, dc.out.slice(-2500));
  assert.not.match(dc.out, /timeout closing device/, "blkfront and netfront closed at once");
  assert.not.match(xm(cur, "list").stdout, new RegExp(NAME), "the domain is gone");
  assert.match(xm(cur, "dmesg").stdout, new RegExp(`domain ${NAME} shut down: poweroff`), "it powered off");
  const fsck = spawnSync("e2fsck", ["-fn", rootfs], { encoding: "utf8" });
  assert.is(fsck.status, 0, fsck.stdout + fsck.stderr);
  const sb = spawnSync("dumpe2fs", ["-h", rootfs], { encoding: "utf8" });
  assert.match(sb.stdout, /Filesystem state:\s+clean\n/);
});

test("the next boot of the image finds its root filesystem clean: "
    + "the kernel mounts it with no journal recovery, sysvinit's " + "checkroot fsck says clean", async () => {
  if (unavailable) return skip("Debian system second boot", unavailable);
  // The same image, kernel and initramfs, booted again with kernel messages of level info on the
  // console (loglevel=7 instead of quiet) so ext4's mount messages show; no vif (the boot is ended
  // once checkroot.sh, early in rcS, has checked /, before the network is brought up).
  const t0 = Date.now();
  const cfg = join(DIR, "debian-system-2.cfg");
  writeFileSync(cfg, [
    `name = "${NAME}"`, `kernel = "${sys.kernel}"`, `ramdisk = "${sys.initrd}"`, `memory = 512`,
    `extra = "console=hvc0 root=/dev/xvda ro loglevel=7"`, `disk = [ 'file:${rootfs},xvda,w' ]`,
  ].join("\n") + "\n");
  const c = xm(cur, "create", cfg);
  assert.is(c.status, 0, c.stderr);
  dc = new DomConsole(NAME);
  dc.attach(cur);
  try {
    // checkroot.sh runs e2fsck -a (fsck from util-linux) on the root device: "LABEL: clean, N/M files,
    // N/M blocks", after "recovering journal" for a journal that needed replaying; a check that finds
    // errors says so (and ends the boot in a shell). A login prompt first means / was not checked.
    const ck = await waitFor(
      /\n([^\n]*(?:: clean, \d+\/\d+ files[^\n]*|recovering journal|UNEXPECTED INCONSISTENCY)[^\n]*)\n|login: $/, 900000
    );
    const early = dc.out.slice(0, ck.index + ck[0].length);
    const ext4 = early.split("\n").filter((l) => /EXT4-fs|jbd2/i.test(l)).join("\n");
    assert.ok(ck[1], `checkroot.sh checked /: ${early.slice(-2500)}`);
    // Linux 6.1 says "mounted filesystem with ordered data mode", later ones add the UUID and ro/r/w.
    assert.match(
      ext4, /EXT4-fs \(xvda\): mounted filesystem (?:[0-9a-f-]+ )?(?:ro )?with ordered data mode/,
      `the initramfs mounted /; the kernel's ext4 messages:\n${ext4}\n${early.slice(-2500)}`
    );
    assert.not.match(
      ext4, /recovery|orphan|error|warning/i, `no journal recovery, no orphan cleanup, no error at mount:\n${ext4}`
    );
    assert.match(early, /Checking root file system/);
    assert.match(ck[1], /: clean, \d+\/\d+ files, \d+\/\d+ blocks/, early.slice(-2500));
    console.log(
      `debian-system: second boot: ${JSON.stringify(ext4.trim())}; ` + `checkroot: "${ck[1].trim()}" after `
        + `${((Date.now() - t0) / 1000).toFixed(1)} s (xm create to ` + `checkroot's fsck)`
    );
  } finally {
    xm(cur, "destroy", NAME);
    rmSync(rootfs, { force: true }); // ~450 MiB of the copy
  }
  await dc.exited;
  assert.not.match(xm(cur, "list").stdout, new RegExp(`^${NAME}\\s`, "m"), "the domain is gone");
});

test.run();
