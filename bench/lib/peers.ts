// Helpers shared by bench/peers.ts and bench/boot.ts: the repository root, the CPU model, QEMU's
// presence, the environment of xenwasm's runs (XENWASM_JIT) and timing a child process.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "../../tests/lib/repo";
export { repoRoot };


/** The host CPU's model name (from /proc/cpuinfo, as `lscpu` shows it). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return "unknown";
}

/** The host's transparent-huge-page mode (/sys/kernel/mm/transparent_hugepage/enabled: "always", "madvise" or
 * "never"), or null: recorded with the figures because V8 asks for no huge pages for WebAssembly memory (under
 * "madvise" the guest's memory has 4 KiB host pages) while QEMU madvises its guest RAM. Alternating boots and
 * fork rounds under "madvise" and "always" on the AMD EPYC showed no difference beyond the noise (README). */
export function hostThp(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? null;
  } catch { return null; }
}

export const QEMU = "qemu-system-x86_64";

/** QEMU's version line, or null when qemu-system-x86_64 is not installed. */
export function qemuVersion(): string | null {
  const r = spawnSync(QEMU, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split("\n")[0].trim();
}

export const QEMU_MISSING =
  `${QEMU} is not installed (Debian's qemu-system-x86: apt-get install qemu-system-x86); QEMU figures are null`;

/** The JIT setting of xenwasm's "JIT" runs: the caller's XENWASM_JIT, or the core's default. */
export function jitSetting(): string {
  return process.env.XENWASM_JIT ?? "default";
}

/** The environment of a xenwasm run: the caller's (its XENWASM_JIT passed through), or XENWASM_JIT=off. */
export function xenwasmEnv(interp: boolean): NodeJS.ProcessEnv {
  return interp ? { ...process.env, XENWASM_JIT: "off" } : { ...process.env };
}

export interface Timed {
  /** Wall time from start to exit. */
  seconds: number;
  /** CPU time (user + system, all threads) of the process and its children, from bash's `times`. */
  cpuSeconds: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

// Runs "$@" under bash and prints the children's CPU times (`times`, second line) on stderr last.
const TIMES = 'set +m; "$@"; s=$?; echo >&2; times >&2; exit $s';
const minutes = (m: string, s: string) => Number(m) * 60 + Number(s);

/** Runs a command to its end and returns its wall time and CPU time. */
/** The Node options the `xm`/`xend` commands start with (their `#!/usr/bin/env -S node ...` line), so that a
 *  bench running `process.execPath bin/xm.js` runs what a user's `xm` runs. */
export function binNodeOptions(bin: "xm" | "xend"): string[] {
  const first = readFileSync(join(repoRoot(), "bin", `${bin}.js`), "utf8").split("\n", 1)[0];
  const m = /^#!\/usr\/bin\/env -S node( .*)?$/.exec(first);
  return m?.[1] ? m[1].trim().split(/\s+/) : [];
}

export function timeRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 600_000): Timed {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(
    "bash", ["-c", TIMES, "bash", cmd, ...args], { encoding: "utf8", env, timeout: timeoutMs, maxBuffer: 16 << 20 }
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`bash ${cmd}: ${r.error.message}`);
  const err = r.stderr ?? "";
  const lines = err.trimEnd().split("\n");
  const m = /^(\d+)m([0-9.]+)s (\d+)m([0-9.]+)s$/.exec(lines[lines.length - 1] ?? "");
  if (!m) throw new Error(`${cmd}: no CPU times from bash (exit ${r.status ?? r.signal}): ${err.slice(-300)}`);
  return {
    seconds, cpuSeconds: minutes(m[1], m[2]) + minutes(m[3], m[4]), status: r.status,
    stdout: r.stdout ?? "", stderr: lines.slice(0, -3).join("\n"),
  };
}

let clkTck = 0;
/** CPU time (user + system, all threads) a live process has used so far, from /proc/PID/stat, or only thread `tid`'s
 * (/proc/PID/task/TID/stat; the main thread's is tid = pid); null if unknown. */
export function processCpuSeconds(pid: number, tid?: number): number | null {
  try {
    if (!clkTck) clkTck = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
    return (Number(f[11]) + Number(f[12])) / clkTck; // utime (14), stime (15)
  } catch {
    return null;
  }
}

export const round = (x: number | null, digits = 1): number | null =>
  x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits;
