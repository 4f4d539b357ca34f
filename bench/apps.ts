// bench/apps (issue 14): the Debian system of scripts/debian-system.sh (tests/lib/debsys.ts: built once,
// cached) under a xend (`xm create`, its console through `xm console`) and, when qemu-system-x86_64 is
// installed, the same image, kernel and initramfs under QEMU TCG (virtio disk and NIC, user networking
// with the same port forwards).
//
//   node dist/bench/apps.js [--json] [--no-qemu] [--no-xenwasm] [--seconds N]
//
// Each system boots from a fresh copy of the image: boot_to_login_s is the wall time from `xm create`
// (the xend already running) or from starting qemu to "login:" on its console (cpu_s: the CPU time the
// xend or qemu process used meanwhile). Then, from the host through the forwards: http_rps, GETs of
// the static page /hello.html, 4 at a time for N seconds (default 20; http_cgi_rps the same for the CGI
// page); pgbench_tps, `pgbench -n -c 4 -T N` (TPC-B-like, scale 1, tables made by `pgbench -i -I dtGp`)
// as pgbench reports it (without the initial connection time). Under xenwasm the guest is then saved and
// restored and migrated live to a second xend mid-load, exactly as tests/debian-system.test.ts does it
// (tests/lib/debload.ts: one psql session committing INSERTs one by one, GETs of the static and PHP
// pages): save_s and restore_s (the `xm save`/`xm restore` commands), save_image_mib (the file),
// migration_s (`xm migrate --live`) and migration_downtime_ms (its summary's stop-and-copy downtime),
// committed_rows_lost (rows whose COMMIT the host saw return that are not in the table afterwards;
// null without psql on the host). Then root logs in and powers off.
// With --json the last line of stdout is one JSON object:
// {boot_to_login_s, pgbench_tps, http_rps, qemu_tcg_boot_to_login_s, qemu_tcg_pgbench_tps,
//  qemu_tcg_http_rps, boot_cpu_s, http_cgi_rps, qemu_tcg_..., save_s, restore_s, save_image_mib,
//  migration_s, migration_downtime_ms, migration_rounds, committed_rows_lost, util, qemu_tcg_util (CPU seconds per
//  second of the http, cgi and pgbench phases: {cpu: the process, main: its main thread}), jit (xenwasm's JIT
//  figures from `xm debug-keys j`: {boot: totals at the login prompt, http|cgi|pgbench: differences over the phase,
//  insn_in_jit_pct of the phase's instructions}), cpu, thp, qemu, load_avg, xenwasm_jit, notes}.
import { spawn, ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { request, Agent } from "node:http";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { debianSystem, rootfsCopy, debianSystemUnavailable, DebianSystem } from "../tests/lib/debsys";
import { DomConsole, Load, debXend, freePort, migrateLive, pgTool, saveRestore, sleep } from "../tests/lib/debload";
import { Xend } from "../tests/lib/xmcli";
import {
  QEMU, QEMU_MISSING, binNodeOptions, cpuModel, hostThp, jitSetting, processCpuSeconds, qemuVersion, round
} from "./lib/peers";

interface Measured {
  http_rps: number; http_cgi_rps: number; pgbench_tps: number | null;
  /** Per phase (http, cgi, pgbench): CPU seconds the server process used per second of the phase, all its threads
   *  (`cpu`) and its main thread (`main`: xenwasm's guest thread; QEMU's main loop) — where the time goes: near 1
   *  on `main`, the guest's CPU is the limit; far below, it waits (I/O, timers, the network). */
  util: Record<string, { cpu: number | null; main: number | null }>;
  /** xenwasm: the JIT's figures (`xm debug-keys j`) over the boot and, as differences, over each phase. */
  jit?: Record<string, Record<string, number> | null>;
}
interface Result extends Measured { boot_to_login_s: number; boot_cpu_s: number | null }
interface Mobility {
  save_s: number; restore_s: number; save_image_mib: number; migration_s: number; migration_downtime_ms: number;
  migration_rounds: number; committed_rows_lost: number
}

function runTool(cmd: string, args: string[], ms: number): Promise<{ status: number | null; out: string }> {
  return new Promise((res) => {
    const c = spawn(
      cmd, args,
      { env: { ...process.env, PGPASSWORD: "xenwasm", PGCONNECT_TIMEOUT: "120" }, stdio: ["ignore", "pipe", "pipe"] }
    );
    let out = "";
    c.stdout.on("data", (b) => { out += b; }); c.stderr.on("data", (b) => { out += b; });
    const t = setTimeout(() => c.kill("SIGKILL"), ms);
    c.on("close", (status) => { clearTimeout(t); res({ status, out }); });
  });
}

/** GETs of `path`, `conc` at a time, for `secs` seconds: completed 200s per second. */
async function httpRps(port: number, path: string, secs: number, conc = 4): Promise<number> {
  const agent = new Agent({ keepAlive: false });
  const get = () => new Promise<boolean>((res) => {
    const r = request(
      { host: "127.0.0.1", port, path, agent, timeout: 60000 },
      (s) => { s.resume(); s.on("end", () => res(s.statusCode === 200)); }
    );
    r.on("timeout", () => r.destroy()); r.on("error", () => res(false)); r.end();
  });
  if (!(await get())) throw new Error(`GET ${path} failed`);
  let ok = 0;
  const t0 = Date.now(), end = t0 + secs * 1000;
  await Promise.all(Array.from({ length: conc }, async () => { while (Date.now() < end) if (await get()) ok++; }));
  return ok / ((Date.now() - t0) / 1000);
}

class Console {
  out = "";
  constructor(readonly c: ChildProcess) {
    c.stdout!.on(
      "data", (b: Buffer) => {
        this.out += b.toString("latin1"); if (this.out.length > 1 << 20) this.out = this.out.slice(-(1 << 19));
      }
    );
    c.stderr!.on("data", (b: Buffer) => { this.out += b.toString("latin1"); });
  }
  async wait(re: RegExp, ms: number, from = 0): Promise<void> {
    const t0 = Date.now();
    while (!re.test(this.out.slice(from))) {
      if (Date.now() - t0 > ms || this.c.exitCode !== null)
        throw new Error(`no ${re} in ${ms / 1000} s; console ends with:\n${this.out.slice(-1500)}`);
      await sleep(100);
    }
  }
}

/** From the host through the forwards: static and CGI GETs per second, pgbench's tps (null without pgbench). */
async function measure(
  label: string, httpPort: number, pgPort: number, secs: number, pid: number | undefined,
  jitNow?: () => Record<string, number> | null
): Promise<Measured> {
  const util: Measured["util"] = {};
  const jit: NonNullable<Measured["jit"]> = {};
  const phase = async <T>(name: string, go: () => Promise<T>): Promise<T> => {
    const at = () => ({
      t: Number(process.hrtime.bigint()) / 1e9, cpu: pid ? processCpuSeconds(pid) : null,
      main: pid ? processCpuSeconds(pid, pid) : null,
    });
    const j0 = jitNow?.() ?? null;
    const a = at(), r = await go(), b = at();
    const per = (x: number | null, y: number | null) =>
      x === null || y === null ? null : round((y - x) / (b.t - a.t), 2);
    util[name] = { cpu: per(a.cpu, b.cpu), main: per(a.main, b.main) };
    console.log(`${label}: ${name}: CPU ${util[name].cpu} s/s (main thread ${util[name].main})`);
    if (jitNow) {
      jit[name] = jitDelta(j0, jitNow());
      console.log(`${label}: ${name}: JIT ${JSON.stringify(jit[name])}`);
    }
    return r;
  };
  const http = await phase("http", () => httpRps(httpPort, "/hello.html", secs));
  console.log(`${label}: http ${http.toFixed(1)} requests/s (static page)`);
  const cgi = await phase("cgi", () => httpRps(httpPort, "/cgi-bin/hello.sh", secs));
  console.log(`${label}: http ${cgi.toFixed(1)} requests/s (CGI)`);
  let tps: number | null = null;
  const pgbench = pgTool("pgbench");
  if (pgbench) {
    const conn = ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "xenwasm"];
    const init = await runTool(pgbench, ["-i", "-I", "dtGp", "-s", "1", ...conn, "xenwasm"], 900_000);
    if (init.status !== 0) throw new Error(`pgbench -i: ${init.out.slice(-500)}`);
    const b = await phase(
      "pgbench", () => runTool(pgbench, ["-n", "-c", "4", "-T", String(secs), ...conn, "xenwasm"], 900_000)
    );
    const m = /tps = ([\d.]+)/.exec(b.out);
    if (b.status !== 0 || !m) throw new Error(`pgbench: ${b.out.slice(-500)}`);
    tps = Number(m[1]);
    console.log(`${label}: pgbench ${tps} tps`);
  }
  return { http_rps: http, http_cgi_rps: cgi, pgbench_tps: tps, util, ...(jitNow ? { jit } : {}) };
}

/** The numeric JIT figures of `xm debug-keys j` (host/pv/host.ts) from xend `x`, exits flattened. */
function xendJit(x: Xend): Record<string, number> | null {
  const o = x.jitFigures();
  if (!o) return null;
  const flat: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "number") flat[k] = v;
    else if (k === "exits" && v && typeof v === "object")
      for (const [e, n] of Object.entries(v)) if (typeof n === "number") flat[`exit_${e}`] = n;
  }
  return flat;
}

/** Figures over a phase: counters as differences (`insn_in_jit_pct` from them), sizes as they were at its end. */
function jitDelta(a: Record<string, number> | null, b: Record<string, number> | null): Record<string, number> | null {
  if (!a || !b) return null;
  const out: Record<string, number> = {}, r1 = (x: number) => Math.round(x * 10) / 10;
  for (const [k, v] of Object.entries(b)) {
    if (k === "insn_in_jit_pct") continue;
    out[k] = k === "code_cache_kib" || k === "regions" ? v : r1(v - (a[k] ?? 0));
  }
  if (out.steps > 0) out.insn_in_jit_pct = r1((100 * out.insns) / out.steps);
  return out;
}

async function session(
  label: string, start: (img: string, httpPort: number, pgPort: number) => ChildProcess, img: string, secs: number
): Promise<Result> {
  const [httpPort, pgPort] = [await freePort(), await freePort()];
  const t0 = process.hrtime.bigint();
  const child = start(img, httpPort, pgPort);
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  const con = new Console(child);
  try {
    await con.wait(/xenwasm-debian login: $/, 1_200_000);
    const boot = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = child.pid ? processCpuSeconds(child.pid) : null;
    console.log(`${label}: login prompt after ${boot.toFixed(1)} s (CPU ${cpu?.toFixed(1) ?? "n/a"} s)`);
    const m = await measure(label, httpPort, pgPort, secs, child.pid);
    const from = con.out.length;
    child.stdin!.write("root\n");
    await con.wait(/root@xenwasm-debian:~# $/, 120_000, from);
    child.stdin!.write("poweroff\n");
    const t = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const code = await exited;
    clearTimeout(t);
    if (code !== 0) throw new Error(`exit ${code} after poweroff:\n${con.out.slice(-800)}`);
    return { boot_to_login_s: boot, boot_cpu_s: cpu, ...m };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/**
 * xenwasm: a xend of its own, `xm create` and `xm console`; the boot and the figures of measure(), then
 * (with psql on the host) the load of tests/lib/debload.ts through a save/restore and a live migration
 * to a second xend, the committed rows checked after each; then root logs in and powers off.
 */
async function xenSession(
  sys: DebianSystem, img: string, work: string, secs: number, notes: string[]
): Promise<Result & { mobility: Mobility | null }> {
  const label = "xenwasm (xend)", name = "debian-system";
  const [httpPort, pgPort] = [await freePort(), await freePort()];
  const cfg = join(work, "debian-system.cfg");
  writeFileSync(cfg, [
    `name = "${name}"`, `kernel = "${sys.kernel}"`, `ramdisk = "${sys.initrd}"`, `memory = 512`,
    `extra = "console=hvc0 root=/dev/xvda ro quiet"`, `disk = [ 'file:${img},xvda,w' ]`,
    `vif = [ 'forward=tcp:${httpPort}:80, forward=tcp:${pgPort}:5432' ]`,
  ].join("\n") + "\n");
  const xends: Xend[] = [];
  try {
    const a = await debXend(work, "a", binNodeOptions("xend"));
    xends.push(a);
    const cpu0 = processCpuSeconds(a.proc.pid!);
    const t0 = process.hrtime.bigint();
    const c = a.xm("create", cfg);
    if (c.status !== 0) throw new Error(`xm create: ${c.stderr}`);
    const dc = new DomConsole(name);
    dc.attach(a);
    await dc.waitFor(/xenwasm-debian login: $/, 1_200_000);
    const boot = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = processCpuSeconds(a.proc.pid!);
    const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
    console.log(`${label}: login prompt after ${boot.toFixed(1)} s (xend's CPU ${cpu?.toFixed(1) ?? "n/a"} s)`);
    const jitBoot = xendJit(a);
    console.log(`${label}: boot: JIT ${JSON.stringify(jitBoot)}`);
    const m = await measure(label, httpPort, pgPort, secs, a.proc.pid, () => xendJit(a));
    m.jit = { boot: jitBoot, ...m.jit };
    let mobility: Mobility | null = null, on = a;
    const psql = pgTool("psql");
    if (!psql) notes.push("no psql on the host (postgresql-client): no save/restore or migration figures");
    else {
      const load = new Load(psql, pgPort, httpPort, "apps_load");
      await load.start();
      const sr = await saveRestore(a, dc, load, join(work, "debian-system.save"));
      const r1 = await load.rows();
      console.log(`${label}: save ${sr.save_s.toFixed(1)} s ` + `(${(sr.bytes / 1048576).toFixed(0)} MiB), restore `
          + `${sr.restore_s.toFixed(1)} s mid-load; ` +
        `longest time between answered GETs ` + `${(sr.gap_ms / 1000).toFixed(1)} s; ${r1.rows} rows, `
          + `${r1.lost.length} committed rows lost`
      );
      const b = await debXend(work, "b", binNodeOptions("xend"));
      xends.push(b);
      const mg = await migrateLive(a, b, dc, load);
      on = b;
      await load.stop();
      const r2 = await load.rows();
      const lost = new Set([...r1.lost, ...r2.lost]).size;
      if (r1.neverSent.length || r2.neverSent.length) notes.push(
        `rows the host never sent in the table: ${[...r1.neverSent, ...r2.neverSent].slice(0, 10).join(" ")}`
      );
      console.log(`${label}: migrate --live ${mg.total_s.toFixed(1)} s `
          + `mid-load, downtime ${mg.summary.downtimeMs.toFixed(0)} ms, ` + `${mg.summary.rounds} rounds; ` +
        `longest time between answered GETs ` + `${(mg.gap_ms / 1000).toFixed(1)} s; `
          + `${load.inserts.acked.length} commits in all, ${r2.rows} ` + `rows, ` +
        `${load.inserts.inDoubt.length} in doubt, ${lost} committed rows lost`);
      mobility = {
        save_s: sr.save_s, restore_s: sr.restore_s, save_image_mib: sr.bytes / 1048576, migration_s: mg.total_s,
        migration_downtime_ms: mg.summary.downtimeMs, migration_rounds: mg.summary.rounds, committed_rows_lost: lost,
      };
    }
    const from = dc.out.length;
    dc.write("root\n");
    await dc.waitFor(/root@xenwasm-debian:~# $/, 120_000, from);
    dc.write("poweroff\n");
    const t = setTimeout(() => dc.con.kill("SIGKILL"), 300_000);
    await dc.exited;
    clearTimeout(t);
    if (!new RegExp(`domain ${name} shut down: poweroff`).test(on.xm("dmesg").stdout))
      throw new Error(`no poweroff:\n${dc.out.slice(-800)}`);
    return { boot_to_login_s: boot, boot_cpu_s: cpu, ...m, mobility };
  } finally {
    for (const x of xends) x.stop();
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const si = argv.indexOf("--seconds");
  const secs = si >= 0 ? Number(argv[si + 1]) : 20;
  if (!Number.isInteger(secs) || secs < 1 || secs > 3600) {
    console.error(`bench/apps: bad --seconds ${argv[si + 1]}: whole seconds from 1 to 3600`); return 1;
  }
  const why = debianSystemUnavailable();
  if (why) { console.error(`bench/apps: ${why}`); return 1; }
  const sys = debianSystem();
  const qemu = argv.includes("--no-qemu") ? null : qemuVersion();
  const notes: string[] = [];
  if (!qemu && !argv.includes("--no-qemu")) notes.push(QEMU_MISSING);
  if (!pgTool("pgbench"))
    notes.push("no pgbench on the host (Debian's postgresql package has it): pgbench figures are null");
  const cpu = cpuModel();
  console.log(
    `CPU: ${cpu}; image ${sys.dir} ` + `(${sys.info.rootfs_image_mib}); QEMU: ${qemu ?? "absent"}; `
      + `xenwasm JIT setting: ${jitSetting()}; load average ` + `${loadavg().map((x) => x.toFixed(1)).join(" ")}`
  );
  const work = join(tmpdir(), `xenwasm-apps-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const res: Record<string, Result | null> = { xen: null, qemu: null };
  const mob: { m: Mobility | null } = { m: null };
  let failed = 0;
  try {
    const qemuStart = (img: string, h: number, p: number) => spawn(QEMU, [
      "-accel", "tcg", "-m", "512", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
      "-kernel", sys.kernel, "-initrd", sys.initrd, "-append", "console=ttyS0 root=/dev/vda ro quiet panic=-1",
      "-drive", `file=${img},if=virtio,format=raw`,
      "-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${h}-:80,hostfwd=tcp:127.0.0.1:${p}-:5432`, "-device",
      "virtio-net-pci,netdev=n0",
    ], { stdio: ["pipe", "pipe", "pipe"] });
    const runs: [string, string, () => Promise<Result>][] = [];
    if (!argv.includes("--no-xenwasm")) runs.push(["xen", "xenwasm", async () => {
      const r = await xenSession(sys, rootfsCopy(sys, join(work, "xen.img")), work, secs, notes);
      mob.m = r.mobility;
      return r;
    }]);
    if (qemu) runs.push([
      "qemu", "QEMU TCG", () => session("QEMU TCG", qemuStart, rootfsCopy(sys, join(work, "qemu.img")), secs)
    ]);
    for (const [key, label, go] of runs) {
      try {
        res[key] = await go();
      } catch (e) {
        failed++;
        notes.push(`${key}: ${(e as Error).message.split("\n")[0]}`);
        console.error(`bench/apps: ${label}: ${(e as Error).message}`);
      }
      rmSync(join(work, `${key}.img`), { force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (json) {
    const x = res.xen, q = res.qemu, mobility = mob.m;
    console.log(JSON.stringify({
      boot_to_login_s: round(x?.boot_to_login_s ?? null, 1), pgbench_tps: round(x?.pgbench_tps ?? null, 2),
      http_rps: round(x?.http_rps ?? null, 1),
      qemu_tcg_boot_to_login_s: round(q?.boot_to_login_s ?? null, 1),
      qemu_tcg_pgbench_tps: round(q?.pgbench_tps ?? null, 2), qemu_tcg_http_rps: round(q?.http_rps ?? null, 1),
      boot_cpu_s: round(x?.boot_cpu_s ?? null, 1), http_cgi_rps: round(x?.http_cgi_rps ?? null, 1),
      qemu_tcg_boot_cpu_s: round(q?.boot_cpu_s ?? null, 1), qemu_tcg_http_cgi_rps: round(q?.http_cgi_rps ?? null, 1),
      save_s: round(mobility?.save_s ?? null, 1), restore_s: round(mobility?.restore_s ?? null, 1),
      save_image_mib: round(mobility?.save_image_mib ?? null, 0),
      migration_s: round(mobility?.migration_s ?? null, 1),
      migration_downtime_ms: round(mobility?.migration_downtime_ms ?? null, 0),
      migration_rounds: mobility?.migration_rounds ?? null, committed_rows_lost: mobility?.committed_rows_lost ?? null,
      util: x?.util ?? null, qemu_tcg_util: q?.util ?? null, jit: x?.jit ?? null,
      seconds: secs, cpu, thp: hostThp(), qemu, load_avg: round(loadavg()[0], 1), xenwasm_jit: jitSetting(), notes,
    }));
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { console.error(`bench/apps: ${(e as Error).message}`); process.exitCode = 1; }
);
