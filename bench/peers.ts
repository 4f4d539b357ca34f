// bench/peers: one integer loop (guests/loop/loop.S: 8 instructions, a dependent chain, a known
// iteration count) under native code, xenwasm (`xm run --bare`, with the JIT setting of the caller's
// XENWASM_JIT and with XENWASM_JIT=off), v86 from npm (its JIT and its interpreter: disable_jit) and,
// when qemu-system-x86_64 is installed, QEMU TCG. Prints guest MIPS for each.
//
//   node dist/bench/peers.js [--json] [--seconds S] [--only PEER[,PEER...]]
//
// Every peer runs as a child process to its end, for N and for 3N iterations (the count is patched into
// a copy of the kernel); MIPS = 8 * 2N / (t(3N) - t(N)), so start-up (node, wasm compilation, QEMU's
// or v86's machine set-up, the guest's own prologue) cancels out. t is the CPU time (user + system, all
// threads) of the child process, from bash's `times`: on a machine shared with other work the wall time
// also counts the time the process waited for a core; the MIPS from wall times are in the output too
// (the table's last column, runs.*.wall_mips). N is chosen per peer so that t(3N) - t(N) is about S
// seconds (default 2; measured again with a larger N when it comes out under S/2); each point is the
// best of two runs. The sum the loop
// prints must equal the native program's for the same count. The 32-bit multiboot kernel is what
// xenwasm, v86 and QEMU run (no BIOS for xenwasm and v86; QEMU loads multiboot with its own
// firmware); the native program runs the same loop body in a 64-bit process (the host kernel may
// refuse 32-bit binaries); xenwasm also runs the ELF64 form (the loop on 64-bit registers) in long
// mode as the extra fields xenwasm64_mips and xenwasm64_interp_mips.
// With --json the last line of stdout is one JSON object:
// {native_mips, xenwasm_mips, xenwasm_interp_mips, v86_mips, v86_interp_mips, qemu_tcg_mips,
//  xenwasm64_mips, xenwasm64_interp_mips, xenwasm_jit, cpu, qemu, notes: [...], runs: {...}}
// (null where a peer is absent or failed; notes say why).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  QEMU, QEMU_MISSING, binNodeOptions, cpuModel, jitSetting, qemuVersion, repoRoot, round, timeRun, xenwasmEnv,
  type Timed
} from "./lib/peers";

const LOOP_INSNS = 8;
const SIGNATURE = "XWLOOPN:";
const MAX_ITERATIONS = 0xffff_ffff;

/** The v86 child: boots FILE (multiboot) under v86, prints the loop's line when it comes and exits. */
async function v86Child(file: string, noJit: boolean): Promise<void> {
  const require = createRequire(import.meta.url);
  const wasm = join(dirname(require.resolve("v86")), "v86.wasm");
  const { V86 } = await import("v86");
  const buf = readFileSync(file);
  // Port 0xF4 is v86's test-exit port: it throws "HALT" (our line has been printed by then).
  process.on("uncaughtException", (e) => {
    if ((e as unknown) === "HALT") process.exit(0);
    console.error(`v86: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
  const emu = new V86({
    wasm_path: wasm,
    multiboot: { buffer: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer },
    memory_size: 64 << 20,
    autostart: true,
    disable_jit: noJit,
  });
  let line = "";
  emu.add_listener("serial0-output-byte", (b: number) => {
    if (b !== 10) { line += String.fromCharCode(b); return; }
    process.stdout.write(line + "\n");
    if (line.startsWith("loop done")) process.exit(0);
    line = "";
  });
  setTimeout(() => { console.error("v86: no result within 10 minutes"); process.exit(1); }, 600_000).unref();
}

interface Peer {
  key: string;
  label: string;
  /** Runs the loop for n iterations; the process's output holds "loop done sum=". */
  run(n: number): Timed;
  /** Why the peer cannot run here, or null. */
  missing?: string | null;
}

interface Measured {
  /** From CPU times. */
  mips: number | null;
  /** From wall times. */
  wallMips: number | null;
  n: number;
  /** CPU seconds for N and 3N iterations (best of two runs each). */
  t_n: number;
  t_3n: number;
  /** Wall seconds for N and 3N iterations (best of two runs each). */
  w_n: number;
  w_3n: number;
  note?: string;
}

const sumOf = (out: string) => /loop done sum=([0-9a-f]{8})/.exec(out)?.[1] ?? null;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const ci = argv.indexOf("--v86-child");
  if (ci >= 0) { await v86Child(argv[ci + 1], argv.includes("--no-jit")); return -1; }
  const json = argv.includes("--json");
  const si = argv.indexOf("--seconds");
  const target = si >= 0 ? Number(argv[si + 1]) : 2;
  if (!(target > 0)) { console.error("bench/peers: --seconds wants a positive number"); return 1; }
  const oi = argv.indexOf("--only");
  const only = oi >= 0 && argv[oi + 1] ? argv[oi + 1].split(",") : null;

  const root = repoRoot();
  const gb = join(root, "guests", "build");
  const need = ["loop-32.elf", "loop-64.elf", "loop-native"];
  if (need.some((f) => !existsSync(join(gb, f)))) {
    console.error("bench/peers: building the guests (make -C guests)");
    const r = spawnSync("make", ["-s", "-C", join(root, "guests")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) { console.error("bench/peers: make -C guests failed"); return 1; }
  }
  const elf32 = readFileSync(join(gb, "loop-32.elf"));
  const elf64 = readFileSync(join(gb, "loop-64.elf"));
  const work = mkdtempSync(join(tmpdir(), "xenwasm-peers-"));
  // A copy of the kernel with the iteration count patched in (after the signature).
  const patched = (elf: Buffer, bits: number, n: number): string => {
    const at = elf.indexOf(SIGNATURE);
    if (at < 0) throw new Error(`loop-${bits}.elf has no ${SIGNATURE} signature`);
    const copy = Buffer.from(elf);
    copy.writeUInt32LE(n, at + SIGNATURE.length);
    const path = join(work, `loop-${bits}-${n}.elf`);
    if (!existsSync(path)) writeFileSync(path, copy);
    return path;
  };
  const xm = join(root, "bin", "xm.js");
  const self = fileURLToPath(import.meta.url);
  const notes: string[] = [];
  const qemu = qemuVersion();
  let v86Missing: string | null = null;
  try {
    createRequire(import.meta.url).resolve("v86");
  } catch { v86Missing = "the v86 package is not installed (npm install); v86 figures are null"; }

  const xenwasm = (bits: 32 | 64, interp: boolean) => (n: number) =>
    timeRun(
      process.execPath, [...binNodeOptions("xm"), xm, "run", "--bare", patched(bits === 32 ? elf32 : elf64, bits, n)],
      xenwasmEnv(interp)
    );
  const v86 = (noJit: boolean) => (n: number) =>
    timeRun(process.execPath, [self, "--v86-child", patched(elf32, 32, n), ...(noJit ? ["--no-jit"] : [])]);
  const peers: Peer[] = [
    { key: "native", label: "native (64-bit process)", run: (n) => timeRun(join(gb, "loop-native"), [String(n)]) },
    { key: "xenwasm", label: `xenwasm (XENWASM_JIT=${jitSetting()})`, run: xenwasm(32, false) },
    { key: "xenwasm_interp", label: "xenwasm (XENWASM_JIT=off)", run: xenwasm(32, true) },
    { key: "v86", label: "v86 (JIT)", run: v86(false), missing: v86Missing },
    { key: "v86_interp", label: "v86 (disable_jit)", run: v86(true), missing: v86Missing },
    {
      key: "qemu_tcg", label: "QEMU TCG", missing: qemu ? null : QEMU_MISSING,
      run: (n) => timeRun(QEMU, ["-accel", "tcg", "-m", "64", "-display", "none", "-no-reboot", "-serial", "none",
        "-monitor", "none", "-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0xe9,chardev=dbg",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-kernel", patched(elf32, 32, n)]),
    },
    { key: "xenwasm64", label: `xenwasm ELF64 (XENWASM_JIT=${jitSetting()})`, run: xenwasm(64, false) },
    { key: "xenwasm64_interp", label: "xenwasm ELF64 (XENWASM_JIT=off)", run: xenwasm(64, true) },
  ];
  if (only) {
    const bad = only.filter((k) => !peers.some((p) => p.key === k));
    if (bad.length) {
      console.error(`bench/peers: unknown peer ${bad.join(", ")} (have ${peers.map((p) => p.key).join(", ")})`);
      return 1;
    }
  }
  if (!qemu && (!only || only.includes("qemu_tcg"))) notes.push(QEMU_MISSING);
  if (v86Missing) notes.push(v86Missing);

  // The native program's sum for each count: what every peer must print.
  const reference = new Map<number, string>();
  const expected = (n: number): string => {
    let s = reference.get(n);
    if (!s) {
      const r = timeRun(join(gb, "loop-native"), [String(n)]);
      s = sumOf(r.stdout) ?? "";
      if (r.status !== 0 || !s) throw new Error(`loop-native ${n} failed: ${r.stdout}${r.stderr}`);
      reference.set(n, s);
    }
    return s;
  };
  const runChecked = (p: Peer, n: number): Timed => {
    const r = p.run(n);
    const sum = sumOf(r.stdout);
    if (sum === null) throw new Error(`no result line (exit ${r.status}): ${(r.stdout + r.stderr).trim().slice(-300)}`);
    if (sum !== expected(n)) throw new Error(`wrong sum ${sum} for ${n} iterations (native: ${expected(n)})`);
    return r;
  };
  const measure = (p: Peer): Measured => {
    // Calibrate: the start-up time, then counts growing 4x until the loop itself takes 0.5 s.
    const base = runChecked(p, 0).cpuSeconds;
    let n = 1 << 16;
    let dt = 0;
    for (;;) {
      dt = runChecked(p, n).cpuSeconds - base;
      if (dt >= 0.5 || n * 4 > MAX_ITERATIONS / 3) break;
      n *= 4;
    }
    const cap = Math.floor(MAX_ITERATIONS / 3);
    let N = Math.max(1 << 16, Math.min(cap, Math.round(((n / Math.max(dt, 1e-3)) * target) / 2)));
    // t(N) and t(3N), each the best of two runs; when the difference comes out under half the target
    // (a noisy calibration), again with N scaled up (at most twice).
    for (let round = 0; ; round++) {
      let t1 = Infinity, t3 = Infinity, w1 = Infinity, w3 = Infinity;
      for (let rep = 0; rep < 2; rep++) {
        const a = runChecked(p, N);
        const b = runChecked(p, 3 * N);
        t1 = Math.min(t1, a.cpuSeconds); w1 = Math.min(w1, a.seconds);
        t3 = Math.min(t3, b.cpuSeconds); w3 = Math.min(w3, b.seconds);
      }
      const d = t3 - t1;
      if (d >= target / 2 || round === 2 || N === cap) {
        const mips = (dt: number) => (dt > 0 ? (LOOP_INSNS * 2 * N) / dt / 1e6 : null);
        const m: Measured = { mips: mips(d), wallMips: mips(w3 - w1), n: N, t_n: t1, t_3n: t3, w_n: w1, w_3n: w3 };
        if (m.mips === null) m.note = `${p.key}: t(3N) <= t(N): too noisy to measure`;
        return m;
      }
      N = Math.min(cap, Math.round(N * Math.min(8, target / Math.max(d, target / 8))));
    }
  };

  const cpu = cpuModel();
  const log = (s: string) => console.log(s);
  log(`CPU: ${cpu}; QEMU: ${qemu ?? "absent"}; xenwasm JIT setting: ${jitSetting()}`);
  log(
    `${"peer".padEnd(34)} ${"N".padStart(11)} ` + `${"cpu t(N)".padStart(9)} ${"t(3N) s".padStart(8)} `
      + `${"MIPS".padStart(9)} ${"vs native".padStart(10)} ` + `${"wall MIPS".padStart(10)}`
  );
  const results: Record<string, Measured | null> = {};
  let failed = 0;
  try {
    for (const p of peers) {
      if (only && !only.includes(p.key)) { results[p.key] = null; continue; }
      if (p.missing) { results[p.key] = null; log(`${p.label.padEnd(34)} skipped: ${p.missing}`); continue; }
      let m: Measured;
      try {
        m = measure(p);
      } catch (e) {
        failed++;
        const note = `${p.key}: ${(e as Error).message}`;
        notes.push(note);
        console.error(`bench/peers: ${note}`);
        results[p.key] = null;
        continue;
      }
      if (m.note) notes.push(m.note);
      results[p.key] = m;
      const nat = results.native?.mips;
      const vs = m.mips && nat ? `${(nat / m.mips).toFixed(1)}x` : "";
      log(
        `${p.label.padEnd(34)} ${String(m.n).padStart(11)} ` + `${m.t_n.toFixed(3).padStart(9)} `
          + `${m.t_3n.toFixed(3).padStart(8)} ` + `${(m.mips?.toFixed(1) ?? "n/a").padStart(9)} `
          + `${vs.padStart(10)} ` + `${(m.wallMips?.toFixed(1) ?? "n/a").padStart(10)}`
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const n of notes) log(`note: ${n}`);
  if (json) {
    const out: Record<string, unknown> = {};
    for (const p of peers) out[`${p.key}_mips`] = round(results[p.key]?.mips ?? null, 1);
    out.xenwasm_jit = jitSetting();
    out.cpu = cpu;
    out.qemu = qemu;
    out.notes = notes;
    out.runs = Object.fromEntries(Object.entries(results).filter(([, m]) => m).map(([k, m]) =>
      [
        k, {
          n: m!.n, cpu_n: round(m!.t_n, 3), cpu_3n: round(m!.t_3n, 3), wall_n: round(m!.w_n, 4),
          wall_3n: round(m!.w_3n, 4), wall_mips: round(m!.wallMips, 1)
        }
      ]
    )
    );
    console.log(JSON.stringify(out));
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (e) => { console.error(`bench/peers: ${(e as Error).message}`); process.exitCode = 1; }
);
