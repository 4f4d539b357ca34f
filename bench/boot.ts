// bench/boot: Debian's amd64 Linux kernel and a busybox initramfs (tests/lib/linux.ts) from
// `xm run` to a shell marker and poweroff, and the same kernel and initramfs under QEMU TCG when
// qemu-system-x86_64 is installed.
//
//   node dist/bench/boot.js [--json] [--no-interp] [--no-qemu]
//
// The initramfs's /init (busybox sh) prints "XWBOOT shell uptime=<first field of /proc/uptime>"
// and powers off. shell_s is that guest uptime (the guest's own clock when its shell runs); wall_s
// is the host's wall time from starting the process (`node bin/xm.js run ...` or qemu) to the marker
// on its console; cpu_s is the CPU time (user + system, all threads) the process had used by then
// (/proc/PID/stat), which on a machine shared with other work is the steadier figure. xenwasm boots with the caller's
// XENWASM_JIT setting (linux_*) and with XENWASM_JIT=off (linux_interp_*; --no-interp skips it); QEMU boots with -accel
// tcg, -m 256, the serial console on stdio and the same command line but console=ttyS0. Each boot must reach the
// marker and power off (exit status 0 for xm; QEMU exits at the guest's ACPI poweroff).
// With --json the last line of stdout is one JSON object:
// {linux_shell_s, linux_wall_s, qemu_tcg_shell_s, qemu_tcg_wall_s, linux_interp_shell_s,
//  linux_interp_wall_s, linux_cpu_s, linux_interp_cpu_s, qemu_tcg_cpu_s, jit, linux_interp_max_rss_mib,
//  jit_code_mib, xenwasm_jit, cpu, thp (the host's transparent-huge-page mode), qemu, kernel,
//  notes: [...]} (null where skipped or failed).
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { linuxKernel, busyboxInitramfs } from "../tests/lib/linux";
import {
  QEMU, QEMU_MISSING, binNodeOptions, cpuModel, hostThp, jitSetting, processCpuSeconds, qemuVersion, repoRoot, round,
  xenwasmEnv
} from "./lib/peers";

const MARKER = /XWBOOT shell uptime=([0-9.]+)/;
const TIMEOUT_MS = 600_000;

interface Boot {
  shell_s: number;
  wall_s: number;
  /** CPU time (user + system, all threads) the process had used at the marker (null: no /proc). */
  cpu_s: number | null;
  /** Wall time to the process's exit (after the guest's poweroff). */
  exit_s: number;
  /** `xm run --jit-stats`: the JIT's figures at the end (code cache, compile time, peak RSS ...). */
  jit?: Record<string, unknown>;
}

/** Starts cmd, waits for the marker on stdout and for the process's exit. */
function boot(cmd: string, args: string[], env: NodeJS.ProcessEnv, okStatus: number[]): Promise<Boot> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let shell: number | null = null;
    let wall = 0;
    let cpu: number | null = null;
    const timer = setTimeout(() => { child.kill("SIGKILL"); }, TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString("latin1");
      if (shell === null) {
        const m = MARKER.exec(out);
        if (m) { wall = secs(); shell = Number(m[1]); cpu = child.pid ? processCpuSeconds(child.pid) : null; }
      }
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
    });
    child.stderr.on("data", (b: Buffer) => { err = (err + b.toString("latin1")).slice(-4000); });
    child.on("error", (e) => { clearTimeout(timer); reject(new Error(`${cmd}: ${e.message}`)); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const tail = (out.slice(-1500) + err).trim();
      if (shell === null) return reject(new Error(`no shell marker (exit ${code ?? signal}):\n${tail}`));
      if (code === null || !okStatus.includes(code))
        return reject(new Error(`exit ${code ?? signal} after the marker (no clean poweroff):\n${tail}`));
      const j = /^xm: jit (\{.*\})$/m.exec(err);
      resolve({ shell_s: shell, wall_s: wall, cpu_s: cpu, exit_s: secs(), jit: j ? JSON.parse(j[1]) : undefined });
    });
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const withInterp = !argv.includes("--no-interp");
  const root = repoRoot();
  const kernel = linuxKernel();
  const work = join(tmpdir(), `xenwasm-boot-${process.pid}`);
  const initrd = busyboxInitramfs(work, [
    'echo "XWBOOT shell uptime=$(cut -d" " -f1 /proc/uptime)"',
    "poweroff -f",
  ]);
  const qemu = argv.includes("--no-qemu") ? null : qemuVersion();
  const cpu = cpuModel();
  const notes: string[] = [];
  if (!qemu && !argv.includes("--no-qemu")) notes.push(QEMU_MISSING);
  console.log(
    `CPU: ${cpu}; kernel: ${basename(kernel)}; QEMU: ${qemu ?? "absent"}; xenwasm JIT setting: ${jitSetting()}`
  );
  console.log(
    `${"run".padEnd(30)} ${"shell (uptime) s".padStart(17)} ` + `${"wall to shell s".padStart(16)} `
      + `${"CPU to shell s".padStart(15)} ` + `${"wall to exit s".padStart(15)}`
  );

  const xm = join(root, "bin", "xm.js");
  const xmArgs = [
    ...binNodeOptions("xm"), xm, "run", kernel, "--memory", "256", "--ramdisk", initrd, "--cmdline",
    "console=hvc0 quiet", "--jit-stats"
  ];
  const runs: { key: string; label: string; go: () => Promise<Boot> }[] = [
    {
      key: "linux", label: `xm run (XENWASM_JIT=${jitSetting()})`,
      go: () => boot(process.execPath, xmArgs, xenwasmEnv(false), [0])
    },
  ];
  if (withInterp) runs.push({
    key: "linux_interp", label: "xm run (XENWASM_JIT=off)",
    go: () => boot(process.execPath, xmArgs, xenwasmEnv(true), [0])
  });
  if (qemu) {
    runs.push({
      key: "qemu_tcg", label: "QEMU TCG",
      go: () => boot(QEMU, ["-accel", "tcg", "-m", "256", "-display", "none", "-monitor", "none", "-serial", "stdio",
        "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1"], process.env, [0]
      ),
    });
  }
  const res: Record<string, Boot | null> = {};
  let failed = 0;
  try {
  for (const r of runs) {
    try {
      const b = await r.go();
      res[r.key] = b;
      console.log(
        `${r.label.padEnd(30)} ${b.shell_s.toFixed(2).padStart(17)} ` + `${b.wall_s.toFixed(2).padStart(16)} `
          + `${(b.cpu_s?.toFixed(2) ?? "n/a").padStart(15)} ` + `${b.exit_s.toFixed(2).padStart(15)}`
      );
    } catch (e) {
      failed++;
      res[r.key] = null;
      notes.push(`${r.key}: ${(e as Error).message.split("\n")[0]}`);
      console.error(`bench/boot: ${r.label}: ${(e as Error).message}`);
    }
  }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (json) {
    const f = (k: string) => ({
      [`${k}_shell_s`]: round(res[k]?.shell_s ?? null, 2), [`${k}_wall_s`]: round(res[k]?.wall_s ?? null, 2),
      [`${k}_cpu_s`]: round(res[k]?.cpu_s ?? null, 2),
    });
    console.log(JSON.stringify({
      ...f("linux"), ...f("linux_interp"), ...f("qemu_tcg"),
      // The JIT's figures for the default run (code cache, compile time, regions, exits; the process's peak RSS).
      jit: res.linux?.jit ?? null,
      linux_interp_max_rss_mib: (res.linux_interp?.jit?.max_rss_mib as number | undefined) ?? null,
      // The JIT's code at the end of the default run: its WebAssembly (code_cache_kib) and the process's resident
      // machine code (V8's code for the regions, the core and JavaScript; machine_code_mib, Linux only).
      jit_code_mib: jitCodeMib(res.linux?.jit),
      xenwasm_jit: jitSetting(), cpu, thp: hostThp(), qemu, kernel: basename(kernel), notes,
    }));
  }
  return failed ? 1 : 0;
}

function jitCodeMib(j: Record<string, unknown> | undefined): number | null {
  const cache = j?.code_cache_kib, code = j?.machine_code_mib;
  return typeof cache === "number" && typeof code === "number" ? round(cache / 1024 + code, 1) : null;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { console.error(`bench/boot: ${(e as Error).message}`); process.exitCode = 1; }
);
