// bench/net (issue 14): the latency and throughput of TCP through the user-mode NAT's port forwards, without
// the Debian system image: Debian's kernel with a busybox initramfs (its xen-netfront module; under QEMU its
// virtio-net modules) serving a small static page with busybox httpd on port 80 and echoing with
// `nc -ll -e /bin/cat` on port 7, under `xm run` (vif forward=) and, when qemu-system-x86_64 is installed,
// under QEMU TCG (user networking, hostfwd=) for comparison.
//
//   node dist/bench/net.js [--json] [--no-qemu] [--no-xenwasm] [--seconds N] [--rounds N]
//
// Measured from the host through the forwards, after the guest said it is serving:
//   rtt_us: the median round trip of 64 bytes echoed on one TCP connection (--rounds of them, default 300,
//     after 20 unmeasured); rtt_mean_us their mean;
//   http_seq_ms: the median time of one GET of /hello.html (a new connection each; 50 of them, one at a time);
//   http_rps: GETs of /hello.html completed per second, 4 at a time for N seconds (default 10).
// With --json the last line of stdout is one JSON object: {rtt_us, rtt_mean_us, http_seq_ms, http_rps,
//  qemu_tcg_rtt_us, qemu_tcg_rtt_mean_us, qemu_tcg_http_seq_ms, qemu_tcg_http_rps, cpu, thp, qemu, load_avg,
//  xenwasm_jit, notes}; figures of a run that failed or was left out are null.
import { spawn, ChildProcess } from "node:child_process";
import { writeFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { request, Agent } from "node:http";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { linuxKernel } from "../tests/lib/linux";
import { PAGE, netGuestInitramfs } from "./lib/netguest";
import { freePort, sleep } from "../tests/lib/debload";
import {
  QEMU, QEMU_MISSING, binNodeOptions, cpuModel, hostThp, jitSetting, qemuVersion, repoRoot, round
} from "./lib/peers";

interface Figures { rtt_us: number; rtt_mean_us: number; http_seq_ms: number; http_rps: number }

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

/** `rounds` round trips of 64 bytes over one connection to the echo server (after `warm` unmeasured ones). */
function echoRtt(port: number, rounds: number, warm = 20): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    s.setNoDelay(true);
    const msg = Buffer.alloc(64, 0x61);
    const times: number[] = [];
    let got = 0, t0 = 0n, n = 0;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`echo: ${n} of ${rounds + warm} round trips`)); },
      120_000);
    const send = () => { t0 = process.hrtime.bigint(); s.write(msg); };
    s.on("connect", send);
    s.on("data", (b: Buffer) => {
      got += b.length;
      if (got < msg.length) return;
      if (got > msg.length) { s.destroy(); reject(new Error("echo: more bytes than were sent")); return; }
      got = 0;
      if (n++ >= warm) times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (n < rounds + warm) send(); else { clearTimeout(timer); s.destroy(); resolve(times); }
    });
    s.on("error", (e) => { clearTimeout(timer); reject(e); });
  });
}

/** One GET of the page: its time in ms (throws unless it is a 200 with the page). */
function get(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const r = request({ host: "127.0.0.1", port, path: "/hello.html", agent, timeout: 60000 }, (s) => {
      let body = "";
      s.on("data", (b) => { body += b; });
      s.on("end", () => {
        if (s.statusCode !== 200 || body !== PAGE)
          reject(new Error(`GET: status ${s.statusCode}, ${body.length} bytes`));
        else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    });
    r.on("timeout", () => r.destroy(new Error("GET timed out"))); r.on("error", reject); r.end();
  });
}

async function measure(label: string, httpPort: number, echoPort: number, secs: number, rounds: number)
  : Promise<Figures> {
  const rtts = await echoRtt(echoPort, rounds);
  const rtt = median(rtts), mean = rtts.reduce((a, b) => a + b, 0) / rtts.length;
  console.log(`${label}: echo round trip median ${rtt.toFixed(0)} us, mean ${mean.toFixed(0)} us `
    + `(min ${Math.min(...rtts).toFixed(0)}, max ${Math.max(...rtts).toFixed(0)}; ${rtts.length} rounds)`);
  const agent = new Agent({ keepAlive: false });
  await get(httpPort, agent);
  const seq: number[] = [];
  for (let i = 0; i < 50; i++) seq.push(await get(httpPort, agent));
  console.log(`${label}: GET one at a time: median ${median(seq).toFixed(1)} ms (min ${Math.min(...seq).toFixed(1)}, `
    + `max ${Math.max(...seq).toFixed(1)})`);
  let ok = 0;
  const t0 = Date.now(), end = t0 + secs * 1000;
  await Promise.all(
    Array.from({ length: 4 }, async () => { while (Date.now() < end) { await get(httpPort, agent); ok++; } })
  );
  const rps = ok / ((Date.now() - t0) / 1000);
  console.log(`${label}: GETs 4 at a time: ${rps.toFixed(1)} requests/s`);
  return { rtt_us: rtt, rtt_mean_us: mean, http_seq_ms: median(seq), http_rps: rps };
}

/** Start a guest, wait until it serves, measure, stop it. */
async function session(label: string, start: (httpPort: number, echoPort: number) => ChildProcess, secs: number,
  rounds: number): Promise<Figures> {
  const [httpPort, echoPort] = [await freePort(), await freePort()];
  const child = start(httpPort, echoPort);
  let out = "";
  child.stdout!.on("data", (b: Buffer) => { out = (out + b.toString("latin1")).slice(-20000); });
  child.stderr!.on("data", (b: Buffer) => { out = (out + b.toString("latin1")).slice(-20000); });
  try {
    const t0 = Date.now();
    while (!out.includes("NETBENCH-READY")) {
      if (Date.now() - t0 > 300_000 || child.exitCode !== null)
        throw new Error(`the guest did not get ready; its console ends with:\n${out.slice(-1500)}`);
      await sleep(100);
    }
    console.log(`${label}: serving after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return await measure(label, httpPort, echoPort, secs, rounds);
  } catch (e) {
    if (process.env.NETBENCH_DEBUG) console.error(out.slice(-3000));
    throw e;
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const arg = (k: string, d: number) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
  const secs = arg("--seconds", 10), rounds = arg("--rounds", 300);
  const qemu = argv.includes("--no-qemu") ? null : qemuVersion();
  const cpu = cpuModel();
  const notes: string[] = [];
  if (!qemu && !argv.includes("--no-qemu")) notes.push(QEMU_MISSING);
  console.log(`CPU: ${cpu}; QEMU: ${qemu ?? "absent"}; xenwasm JIT setting: ${jitSetting()}; `
    + `load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const work = join(tmpdir(), `xenwasm-net-${process.pid}`);
  const kernel = linuxKernel();
  const initrd = netGuestInitramfs(work);
  const res: Record<string, Figures | null> = {};
  let failed = 0;
  const run = async (key: string, label: string, start: (h: number, e: number) => ChildProcess) => {
    try { res[key] = await session(label, start, secs, rounds); } catch (e) {
      failed++; res[key] = null;
      notes.push(`${key}: ${(e as Error).message.split("\n")[0]}`);
      console.error(`bench/net: ${label}: ${(e as Error).message}`);
    }
  };
  try {
    if (!argv.includes("--no-xenwasm")) {
      await run("xenwasm", "xenwasm", (h, e) => {
        const cfg = join(work, "net.cfg");
        writeFileSync(cfg, [
          'name = "netbench"', `kernel = "${kernel}"`, `ramdisk = "${initrd}"`, "memory = 256",
          'extra = "console=hvc0 quiet"', `vif = [ 'forward=tcp:${h}:80, forward=tcp:${e}:7' ]`,
        ].join("\n") + "\n");
        return spawn(process.execPath, [...binNodeOptions("xm"), join(repoRoot(), "bin", "xm.js"), "run", cfg],
          { stdio: ["ignore", "pipe", "pipe"] });
      });
    }
    if (qemu) {
      await run("qemu_tcg", "QEMU TCG", (h, e) => spawn(QEMU, [
        "-accel", "tcg", "-m", "256", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
        "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1",
        "-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${h}-:80,hostfwd=tcp:127.0.0.1:${e}-:7`,
        "-device", "virtio-net-pci,netdev=n0",
      ], { stdio: ["ignore", "pipe", "pipe"] }));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const n of notes) console.log(`note: ${n}`);
  const x = res.xenwasm, q = res.qemu_tcg;
  if (x && q) {
    console.log(`xenwasm / QEMU TCG: round trip ${(x.rtt_us / q.rtt_us).toFixed(2)}x, `
      + `requests/s ${(q.http_rps / x.http_rps).toFixed(2)}x slower`);
  }
  if (json) {
    const f = (k: string, p: string) => ({
      [`${p}rtt_us`]: round(res[k]?.rtt_us ?? null, 0), [`${p}rtt_mean_us`]: round(res[k]?.rtt_mean_us ?? null, 0),
      [`${p}http_seq_ms`]: round(res[k]?.http_seq_ms ?? null, 2), [`${p}http_rps`]: round(res[k]?.http_rps ?? null, 1),
    });
    console.log(JSON.stringify({
      ...f("xenwasm", ""), ...f("qemu_tcg", "qemu_tcg_"), cpu, thp: hostThp(), qemu,
      load_avg: loadavg().map((v) => Number(v.toFixed(2))), xenwasm_jit: jitSetting(), notes,
    }));
  }
  return failed ? 1 : 0;
}

main().then((c) => { process.exitCode = c; }, (e) => { console.error(e); process.exitCode = 1; });
