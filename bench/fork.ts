// bench/fork (issue 14): process creation in Debian's amd64 Linux (PV) on xenwasm, and the same kernel and
// initramfs under QEMU TCG when qemu-system-x86_64 is installed. The initramfs (tests/lib/linux.ts: Debian's
// busybox-static) runs guests/build/forkbench (guests/linux/forkbench.c), which times N rounds of fork + exec
// of a trivial static program + wait4, then N rounds of fork + _exit + wait4, with clock_gettime in the guest,
// and prints microseconds per round.
//
//   node dist/bench/fork.js [--json] [--n N] [--batches B] [--no-qemu] [--profile] [--cpu-prof FILE] [--guest-stats]
//
// forkbench runs B times (3 by default) in a row with N rounds each (200 by default); the figures are the
// medians of the B batches (the batches' own figures are in the JSON too: the machine may be shared).
//
// xenwasm runs in this process (XenHost, the JIT as XENWASM_JIT says), so --profile can print what the
// hypervisor did during the timed rounds: hypercalls per round by number, and the core's counters
// (hv_perf_*: page-table validations, TLB flushes, JIT invalidations, page-table write emulations...).
// --cpu-prof FILE writes a V8 CPU profile (.cpuprofile) of this process over the timed rounds alone.
// QEMU runs with -accel tcg, -m 256, the serial console on stdio and the same command line but console=ttyS0.
// With --json the last line of stdout is one JSON object:
// {fork_exec_us, fork_exit_us, qemu_tcg_fork_exec_us, qemu_tcg_fork_exit_us, ratio_fork_exec, ratio_fork_exit,
//  n, hypercalls_per_round, xenwasm_jit, cpu, thp, qemu, kernel, notes} (null where skipped or failed).
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { XenHost } from "../host/pv/host";
import { jitFigures } from "../host/core";
import { DS_RUNNING } from "../assembly/records";
import { linuxKernel, busyboxInitramfs } from "../tests/lib/linux";
import { QEMU, QEMU_MISSING, cpuModel, hostThp, jitSetting, qemuVersion, repoRoot, round } from "./lib/peers";
import { perfCounters } from "../tests/lib/perf";

// --guest-stats: the guest's own accounting after the rounds (/proc/stat's cpu line, /proc/uptime, the user and
// system ticks of every thread that has any, softirq and timer interrupt counts), lines prefixed XWSTAT.
const GUEST_STATS = "{ head -1 /proc/stat; cat /proc/uptime; for p in /proc/[0-9]*; do set -- $(cat $p/stat); "
  + "echo \"$2 utime=${14} stime=${15}\"; done | grep -v 'utime=0 stime=0'; grep -E 'TIMER|RCU|SCHED' /proc/softirqs; "
  + "grep -E 'timer' /proc/interrupts; } | sed 's/^/XWSTAT /'";
const RESULT = /forkbench: fork_exec_us=([0-9.]+) fork_exit_us=([0-9.]+) n=(\d+)/g;
const TIMEOUT_MS = 900_000;

interface Result {
  /** Medians over the batches (microseconds per round); each batch's figures. */
  exec: number; exit: number; execs: number[]; exits: number[]; ok: boolean; out: string
}

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

/** The result lines of every batch (null when fewer than `batches` came, or a child failed to run). */
function parse(out: string, batches: number): Result | null {
  const m = [...out.matchAll(RESULT)];
  if (m.length < batches) return null;
  const execs = m.map((x) => Number(x[1])), exits = m.map((x) => Number(x[2]));
  const ok = (out.match(/forkbench: ok/g) ?? []).length === m.length;
  return { exec: median(execs), exit: median(exits), execs, exits, ok, out };
}

/** xenwasm: the domain in this process; with `profile`, the hypervisor's counters over the timed rounds. */
async function runXenwasm(
  kernel: string, initrd: string, n: number, batches: number, profile: boolean, cpuProf: string | null,
  guestStats: boolean
):
  Promise<Result & { perRound: Record<string, number> }> {
  const session = cpuProf ? new Session() : null;
  const post = (m: string, p?: object) => new Promise<unknown>((res, rej) => {
    session!.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r)));
  });
  if (session) {
    session.connect(); await post("Profiler.enable"); await post("Profiler.setSamplingInterval", { interval: 200 });
  }
  const host = await XenHost.create(512);
  const dom = host.createDomain("fork", new Uint8Array(readFileSync(kernel)), {
    memoryMiB: 256, ramdisk: new Uint8Array(readFileSync(initrd)), cmdline: "console=hvc0 quiet",
  });
  let out = "";
  let before: Record<string, number> | null = null, after: Record<string, number> | null = null;
  let cpu0 = 0, cpu1 = 0;
  const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system; };
  dom.onConsole = (b) => {
    out += new TextDecoder().decode(b);
    if (!before && out.includes("XWFORK start")) {
      before = perfCounters(host.core);
      cpu0 = cpuUs();
      if (session) void post("Profiler.start");
    }
    if (!after && out.includes("XWFORK end")) {
      after = perfCounters(host.core);
      cpu1 = cpuUs();
      if (session) void post("Profiler.stop").then((r) => writeFileSync(cpuProf!, JSON.stringify((r as any).profile)));
    }
  };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > TIMEOUT_MS);
  if (guestStats)
    console.log(out.slice(out.indexOf("XWFORK end")).split("\n").filter((l) => l.startsWith("XWSTAT ")).join("\n"));
  const r = parse(out, batches);
  if (session) { await new Promise((res) => setTimeout(res, 500)); session.disconnect(); }
  if (!r) throw new Error(`no forkbench result:\n${out.slice(-2000)}`);
  const perRound: Record<string, number> = {};
  if (before && after) {
    const rounds = (2 * n + 2) * batches; // forkbench's untimed first round of each kind included
    for (const k of Object.keys(after as Record<string, number>)) {
      const d = (after as Record<string, number>)[k] - (before as Record<string, number>)[k];
      if (d) perRound[k] = Math.round((d / rounds) * 10) / 10;
    }
    // This process's CPU time (every thread: the translator's too) over the timed rounds, per round.
    perRound.host_cpu_us = Math.round((cpu1 - cpu0) / rounds);
  }
  if (profile) {
    for (const [k, v] of Object.entries(perRound)) console.log(`  ${k.padEnd(28)} ${v}`);
    console.log(`  jit (whole run)              ${JSON.stringify(jitFigures(host.core))}`);
  }
  return { ...r, perRound };
}

/** QEMU TCG: the same kernel and initramfs; the result line from its serial console. */
function runQemu(kernel: string, initrd: string, batches: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(QEMU, ["-accel", "tcg", "-m", "256", "-display", "none", "-monitor", "none", "-serial", "stdio",
      "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1"],
    { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); }, TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => { out += b.toString("latin1"); });
    child.stderr.on("data", (b: Buffer) => { err = (err + b.toString("latin1")).slice(-4000); });
    child.on("error", (e) => { clearTimeout(timer); reject(new Error(`${QEMU}: ${e.message}`)); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const r = parse(out, batches);
      if (!r)
        return reject(new Error(`no forkbench result (exit ${code ?? signal}):\n${(out.slice(-1500) + err).trim()}`));
      resolve(r);
    });
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const profile = argv.includes("--profile");
  const guestStats = argv.includes("--guest-stats");
  const ni = argv.indexOf("--n");
  const n = ni >= 0 ? Number(argv[ni + 1]) : 200;
  const bi = argv.indexOf("--batches");
  const batches = bi >= 0 ? Number(argv[bi + 1]) : 3;
  if (!Number.isInteger(batches) || batches < 1 || batches > 100)
    throw new Error(`bad --batches ${argv[bi + 1]}: a whole number 1..100`);
  const pi = argv.indexOf("--cpu-prof");
  const cpuProf = pi >= 0 ? argv[pi + 1] ?? null : null;
  if (!Number.isInteger(n) || n < 1 || n > 100000) throw new Error(`bad --n ${argv[ni + 1]}: a whole number 1..100000`);
  const root = repoRoot();
  const prog = join(root, "guests", "build", "forkbench");
  const kernel = linuxKernel();
  const work = join(tmpdir(), `xenwasm-fork-${process.pid}`);
  const initrd = busyboxInitramfs(work, [
    "echo XWFORK start",
    `for b in ${Array.from({ length: batches }, (_, i) => i + 1).join(" ")}; do /forkbench ${n}; done`,
    "echo XWFORK end", ...(guestStats ? [GUEST_STATS] : []), "poweroff -f",
  ], [["forkbench", prog]]);
  const qemu = argv.includes("--no-qemu") ? null : qemuVersion();
  const cpu = cpuModel();
  const notes: string[] = [];
  if (!qemu && !argv.includes("--no-qemu")) notes.push(QEMU_MISSING);
  console.log(
    `CPU: ${cpu}; kernel: ${basename(kernel)}; QEMU: ${qemu ?? "absent"}; xenwasm JIT: ${jitSetting()}; n=${n}`
  );
  let xw: (Result & { perRound: Record<string, number> }) | null = null, qt: Result | null = null;
  let failed = 0;
  try {
    try {
      xw = await runXenwasm(kernel, initrd, n, batches, profile, cpuProf, guestStats);
      if (!xw.ok) { failed++; notes.push("xenwasm: a child did not exit 0"); }
      console.log(`xenwasm   fork+exec+wait ${xw.exec.toFixed(1)} us   fork+exit+wait ${xw.exit.toFixed(1)} us`
        + `   (medians of ${batches} batches: ${xw.execs.join(", ")} / ${xw.exits.join(", ")})`);
    } catch (e) {
      failed++; notes.push(`xenwasm: ${(e as Error).message.split("\n")[0]}`);
      console.error(`bench/fork: xenwasm: ${(e as Error).message}`);
    }
    if (qemu) {
      try {
        qt = await runQemu(kernel, initrd, batches);
        if (!qt.ok) { failed++; notes.push("qemu: a child did not exit 0"); }
        console.log(`QEMU TCG  fork+exec+wait ${qt.exec.toFixed(1)} us   fork+exit+wait ${qt.exit.toFixed(1)} us`
          + `   (medians of ${batches} batches: ${qt.execs.join(", ")} / ${qt.exits.join(", ")})`);
      } catch (e) {
        failed++; notes.push(`qemu_tcg: ${(e as Error).message.split("\n")[0]}`);
        console.error(`bench/fork: QEMU: ${(e as Error).message}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const x of notes) console.log(`note: ${x}`);
  if (json) {
    const ratio = (a?: number, b?: number) => (a && b ? round(a / b, 2) : null);
    console.log(JSON.stringify({
      fork_exec_us: round(xw?.exec ?? null, 1), fork_exit_us: round(xw?.exit ?? null, 1),
      qemu_tcg_fork_exec_us: round(qt?.exec ?? null, 1), qemu_tcg_fork_exit_us: round(qt?.exit ?? null, 1),
      ratio_fork_exec: ratio(xw?.exec, qt?.exec), ratio_fork_exit: ratio(xw?.exit, qt?.exit),
      fork_exec_us_batches: xw?.execs ?? null, fork_exit_us_batches: xw?.exits ?? null,
      qemu_tcg_fork_exec_us_batches: qt?.execs ?? null, qemu_tcg_fork_exit_us_batches: qt?.exits ?? null,
      n, batches, per_round: xw?.perRound ?? null, xenwasm_jit: jitSetting(), cpu, thp: hostThp(), qemu,
      kernel: basename(kernel),
      notes,
    }));
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; process.exit(); },
  (e) => { console.error(`bench/fork: ${(e as Error).message}`); process.exitCode = 1; }
);
