// bench/apps (issue 14): the Debian system of scripts/debian-system.sh (tests/lib/debsys.ts: built once,
// cached) under `xm run` and, when qemu-system-x86_64 is installed, the same image, kernel and
// initramfs under QEMU TCG (virtio disk and NIC, user networking with the same port forwards).
//
//   node dist/bench/apps.js [--json] [--no-qemu] [--no-xenwasm] [--seconds N]
//
// Each system boots from a fresh copy of the image: boot_to_login_s is the wall time from starting
// the process (`node bin/xm.js run CFG` or qemu) to "login:" on its console (cpu_s: the CPU time the
// process had used by then). Then, from the host through the forwards: http_rps, GETs of the static
// page /hello.html, 4 at a time for N seconds (default 20; http_cgi_rps the same for the CGI page);
// pgbench_tps, `pgbench -n -c 4 -T N` (TPC-B-like, scale 1, tables made by `pgbench -i -I dtGp`) as
// pgbench reports it (without the initial connection time). Then root logs in and powers off.
// With --json the last line of stdout is one JSON object:
// {boot_to_login_s, pgbench_tps, http_rps, qemu_tcg_boot_to_login_s, qemu_tcg_pgbench_tps,
//  qemu_tcg_http_rps, boot_cpu_s, http_cgi_rps, qemu_tcg_..., cpu, qemu, load_avg, xenwasm_jit, notes}.
import { spawn, ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { createServer, AddressInfo } from "node:net";
import { request, Agent } from "node:http";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { debianSystem, rootfsCopy, debianSystemUnavailable } from "../tests/lib/debsys";
import { QEMU, QEMU_MISSING, binNodeOptions, cpuModel, jitSetting, processCpuSeconds, qemuVersion, repoRoot, round } from "./lib/peers";

interface Result { boot_to_login_s: number; boot_cpu_s: number | null; http_rps: number | null; http_cgi_rps: number | null; pgbench_tps: number | null }

const freePort = () => new Promise<number>((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); }); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pgTool(name: string): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  for (const v of readdirSync(base).sort().reverse()) if (existsSync(join(base, v, "bin", name))) return join(base, v, "bin", name);
  return undefined;
}

function runTool(cmd: string, args: string[], ms: number): Promise<{ status: number | null; out: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { env: { ...process.env, PGPASSWORD: "xenwasm", PGCONNECT_TIMEOUT: "120" }, stdio: ["ignore", "pipe", "pipe"] });
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
    const r = request({ host: "127.0.0.1", port, path, agent, timeout: 60000 }, (s) => { s.resume(); s.on("end", () => res(s.statusCode === 200)); });
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
    c.stdout!.on("data", (b: Buffer) => { this.out += b.toString("latin1"); if (this.out.length > 1 << 20) this.out = this.out.slice(-(1 << 19)); });
    c.stderr!.on("data", (b: Buffer) => { this.out += b.toString("latin1"); });
  }
  async wait(re: RegExp, ms: number, from = 0): Promise<void> {
    const t0 = Date.now();
    while (!re.test(this.out.slice(from))) {
      if (Date.now() - t0 > ms || this.c.exitCode !== null) throw new Error(`no ${re} in ${ms / 1000} s; console ends with:\n${this.out.slice(-1500)}`);
      await sleep(100);
    }
  }
}

async function session(label: string, start: (img: string, httpPort: number, pgPort: number) => ChildProcess, img: string, secs: number): Promise<Result> {
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
    const http = await httpRps(httpPort, "/hello.html", secs);
    console.log(`${label}: http ${http.toFixed(1)} requests/s (static page)`);
    const cgi = await httpRps(httpPort, "/cgi-bin/hello.sh", secs);
    console.log(`${label}: http ${cgi.toFixed(1)} requests/s (CGI)`);
    let tps: number | null = null;
    const pgbench = pgTool("pgbench");
    if (pgbench) {
      const conn = ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "xenwasm"];
      const init = await runTool(pgbench, ["-i", "-I", "dtGp", "-s", "1", ...conn, "xenwasm"], 900_000);
      if (init.status !== 0) throw new Error(`pgbench -i: ${init.out.slice(-500)}`);
      const b = await runTool(pgbench, ["-n", "-c", "4", "-T", String(secs), ...conn, "xenwasm"], 900_000);
      const m = /tps = ([\d.]+)/.exec(b.out);
      if (b.status !== 0 || !m) throw new Error(`pgbench: ${b.out.slice(-500)}`);
      tps = Number(m[1]);
      console.log(`${label}: pgbench ${tps} tps`);
    }
    const from = con.out.length;
    child.stdin!.write("root\n");
    await con.wait(/root@xenwasm-debian:~# $/, 120_000, from);
    child.stdin!.write("poweroff\n");
    const t = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const code = await exited;
    clearTimeout(t);
    if (code !== 0) throw new Error(`exit ${code} after poweroff:\n${con.out.slice(-800)}`);
    return { boot_to_login_s: boot, boot_cpu_s: cpu, http_rps: http, http_cgi_rps: cgi, pgbench_tps: tps };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const si = argv.indexOf("--seconds");
  const secs = si >= 0 ? Number(argv[si + 1]) : 20;
  if (!Number.isInteger(secs) || secs < 1 || secs > 3600) { console.error(`bench/apps: bad --seconds ${argv[si + 1]}: whole seconds from 1 to 3600`); return 1; }
  const why = debianSystemUnavailable();
  if (why) { console.error(`bench/apps: ${why}`); return 1; }
  const sys = debianSystem();
  const qemu = argv.includes("--no-qemu") ? null : qemuVersion();
  const notes: string[] = [];
  if (!qemu && !argv.includes("--no-qemu")) notes.push(QEMU_MISSING);
  if (!pgTool("pgbench")) notes.push("no pgbench on the host (Debian's postgresql package has it): pgbench figures are null");
  const cpu = cpuModel();
  console.log(`CPU: ${cpu}; image ${sys.dir} (${sys.info.rootfs_image_mib}); QEMU: ${qemu ?? "absent"}; xenwasm JIT setting: ${jitSetting()}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  const work = join(tmpdir(), `xenwasm-apps-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const res: Record<string, Result | null> = { xen: null, qemu: null };
  let failed = 0;
  try {
    const xmStart = (img: string, h: number, p: number) => {
      const cfg = join(work, "debian-system.cfg");
      writeFileSync(cfg, [
        `name = "debian-system"`, `kernel = "${sys.kernel}"`, `ramdisk = "${sys.initrd}"`, `memory = 512`,
        `extra = "console=hvc0 root=/dev/xvda ro quiet"`, `disk = [ 'file:${img},xvda,w' ]`,
        `vif = [ 'forward=tcp:${h}:80, forward=tcp:${p}:5432' ]`,
      ].join("\n") + "\n");
      return spawn(process.execPath, [...binNodeOptions("xm"), join(repoRoot(), "bin", "xm.js"), "run", cfg], { stdio: ["pipe", "pipe", "pipe"] });
    };
    const qemuStart = (img: string, h: number, p: number) => spawn(QEMU, [
      "-accel", "tcg", "-m", "512", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
      "-kernel", sys.kernel, "-initrd", sys.initrd, "-append", "console=ttyS0 root=/dev/vda ro quiet panic=-1",
      "-drive", `file=${img},if=virtio,format=raw`,
      "-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${h}-:80,hostfwd=tcp:127.0.0.1:${p}-:5432`, "-device", "virtio-net-pci,netdev=n0",
    ], { stdio: ["pipe", "pipe", "pipe"] });
    const runs: [string, string, typeof xmStart][] = argv.includes("--no-xenwasm") ? [] : [["xen", "xenwasm (xm run)", xmStart]];
    if (qemu) runs.push(["qemu", "QEMU TCG", qemuStart]);
    for (const [key, label, start] of runs) {
      try {
        res[key] = await session(label, start, rootfsCopy(sys, join(work, `${key}.img`)), secs);
      } catch (e) {
        failed++;
        notes.push(`${key}: ${(e as Error).message.split("\n")[0]}`);
        console.error(`bench/apps: ${label}: ${(e as Error).message}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (json) {
    const x = res.xen, q = res.qemu;
    console.log(JSON.stringify({
      boot_to_login_s: round(x?.boot_to_login_s ?? null, 1), pgbench_tps: round(x?.pgbench_tps ?? null, 2), http_rps: round(x?.http_rps ?? null, 1),
      qemu_tcg_boot_to_login_s: round(q?.boot_to_login_s ?? null, 1), qemu_tcg_pgbench_tps: round(q?.pgbench_tps ?? null, 2), qemu_tcg_http_rps: round(q?.http_rps ?? null, 1),
      boot_cpu_s: round(x?.boot_cpu_s ?? null, 1), http_cgi_rps: round(x?.http_cgi_rps ?? null, 1),
      qemu_tcg_boot_cpu_s: round(q?.boot_cpu_s ?? null, 1), qemu_tcg_http_cgi_rps: round(q?.http_cgi_rps ?? null, 1),
      seconds: secs, cpu, qemu, load_avg: round(loadavg()[0], 1), xenwasm_jit: jitSetting(), notes,
    }));
  }
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(`bench/apps: ${(e as Error).message}`); process.exitCode = 1; });
