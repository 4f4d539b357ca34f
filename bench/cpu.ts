// CPU benchmark: each guests/bench program natively (its own timer) and on a bare xenwasm machine;
// checks that the checksums agree and prints guest instructions, seconds, MIPS, native seconds for
// the same work and the slowdown (guest time / native time), with geometric means. Each guest runs twice:
// in the default configuration (the JIT tier on: whole runs, compile time included) and interpreted
// (XENWASM_JIT=off); `mips`/`slowdown` are the default's, `interp_*` the interpreter's.
//
//   node dist/bench/cpu.js [--json] [--no32] [--only NAME[,NAME...]]
//
// Builds nothing itself except running `make -C guests` when a program is missing. 64-bit guests
// are the main rows (and the only ones in the geometric means and the JSON `programs`); 32-bit guests
// are extra rows (`--no32` skips them). With --json the last line of stdout is one JSON object:
// {"mips": geomean MIPS, "slowdown_geomean": ..., "programs": [{"name", "mips", "slowdown", ...}], ...}.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runBare } from "../host/bare";
import { jitSettings, type JitStats } from "../host/jit/jit";

const PROGRAMS = ["crc32", "sieve", "memcpy", "sort"];

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "guests", "Makefile"))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

interface Row {
  name: string;
  bits: 32 | 64;
  instructions: number;
  guestSeconds: number;
  mips: number;
  nativeSeconds: number;
  slowdown: number;
  checksum: string;
  ok: boolean;
  interpMips: number;
  interpSlowdown: number;
  jit?: JitStats;
}

const geomean = (xs: number[]) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : NaN);

function runNative(exe: string): { checksum: string; seconds: number } {
  const r = spawnSync(exe, [], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${exe} failed (exit ${r.status ?? r.signal}): ${(r.stdout + r.stderr).trim()}`);
  const m = /checksum=(0x[0-9a-f]+) seconds=([0-9.]+)/.exec(r.stdout);
  if (!m) throw new Error(`${exe}: unexpected output: ${r.stdout.trim()}`);
  return { checksum: m[1], seconds: Number(m[2]) };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const with32 = !argv.includes("--no32");
  const oi = argv.indexOf("--only");
  const only = oi >= 0 && argv[oi + 1] ? argv[oi + 1].split(",") : PROGRAMS;
  const bad = only.filter((p) => !PROGRAMS.includes(p));
  if (bad.length) { console.error(`bench/cpu: unknown program ${bad.join(", ")} (have ${PROGRAMS.join(", ")})`); return 1; }

  const root = repoRoot();
  const gb = resolve(root, "guests", "build");
  const files = only.flatMap((p) => [`${p}-64.elf`, `${p}-32.elf`, `${p}-native`]);
  if (files.some((f) => !existsSync(join(gb, f)))) {
    console.error("bench/cpu: building the guests (make -C guests)");
    const r = spawnSync("make", ["-s", "-C", join(root, "guests")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) { console.error("bench/cpu: make -C guests failed"); return 1; }
  }

  const rows: Row[] = [];
  const log = (s: string) => console.log(s);
  const head = ["program", "guest insns", "guest s", "MIPS", "native s", "slowdown", "interp MIPS", "interp slow", "checksum"];
  const widths = [12, 13, 9, 8, 10, 10, 12, 12, 12];
  const jitMode = jitSettings().mode;
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" ");
  log(line(head));
  for (const p of only) {
    const native = runNative(join(gb, `${p}-native`));
    for (const bits of with32 ? ([64, 32] as const) : ([64] as const)) {
      const elf = readFileSync(join(gb, `${p}-${bits}.elf`));
      const r = await runBare(elf, { jit: jitMode });
      const ri = jitMode === "off" ? r : await runBare(elf, { jit: "off" });
      const m = /checksum=(0x[0-9a-f]+)/.exec(r.output), mi = /checksum=(0x[0-9a-f]+)/.exec(ri.output);
      const checksum = m ? m[1] : "none";
      const ok = r.reason === "exit" && r.status === 0 && checksum === native.checksum && ri.reason === "exit" &&
        ri.status === 0 && (mi ? mi[1] : "none") === native.checksum;
      const row: Row = {
        name: bits === 64 ? p : `${p}-32`, bits, instructions: r.instructions, guestSeconds: r.seconds,
        mips: r.instructions / r.seconds / 1e6, nativeSeconds: native.seconds, slowdown: r.seconds / native.seconds, checksum, ok,
        interpMips: ri.instructions / ri.seconds / 1e6, interpSlowdown: ri.seconds / native.seconds, jit: r.jit,
      };
      rows.push(row);
      log(line([row.name, String(row.instructions), row.guestSeconds.toFixed(3), row.mips.toFixed(1),
        row.nativeSeconds.toFixed(4), row.slowdown.toFixed(1) + "x", row.interpMips.toFixed(1), row.interpSlowdown.toFixed(1) + "x",
        ok ? checksum : `${checksum} MISMATCH`]));
      if (!ok) {
        log(`  ${row.name}: ${r.message ?? `exit status ${r.status}`}; guest checksum ${checksum}, native ${native.checksum}`);
      }
    }
  }
  const main64 = rows.filter((r) => r.bits === 64);
  const gm = (rs: Row[]) => ({
    mips: geomean(rs.map((r) => r.mips)), slowdown: geomean(rs.map((r) => r.slowdown)),
    imips: geomean(rs.map((r) => r.interpMips)), islow: geomean(rs.map((r) => r.interpSlowdown)),
  });
  const g64 = gm(main64);
  log(line(["geomean", "", "", g64.mips.toFixed(1), "", g64.slowdown.toFixed(1) + "x", g64.imips.toFixed(1), g64.islow.toFixed(1) + "x", ""]));
  const rows32 = rows.filter((r) => r.bits === 32);
  const g32 = rows32.length ? gm(rows32) : null;
  if (g32) log(line(["geomean-32", "", "", g32.mips.toFixed(1), "", g32.slowdown.toFixed(1) + "x", g32.imips.toFixed(1), g32.islow.toFixed(1) + "x", ""]));
  // The JIT's figures over every run of the default configuration.
  const js = rows.map((r) => r.jit).filter((j): j is JitStats => !!j);
  const sum = (f: (j: JitStats) => number) => js.reduce((a, j) => a + f(j), 0);
  const jit = js.length ? {
    mode: jitMode, compile_ms: +sum((j) => j.compile_ms).toFixed(1), regions: sum((j) => j.regions), modules: sum((j) => j.modules),
    insn_in_jit_pct: +(100 * sum((j) => j.insns) / rows.reduce((a, r) => a + r.instructions, 0)).toFixed(1),
    exits: { branch: sum((j) => j.exits.branch), unsupported: sum((j) => j.exits.unsupported), memory: sum((j) => j.exits.memory),
      budget: sum((j) => j.exits.budget), slowform: sum((j) => j.exits.slowform) },
    invalidations: sum((j) => j.invalidations), code_cache_kib: Math.max(...js.map((j) => j.code_cache_kib)),
  } : null;
  if (jit) log(`jit: ${JSON.stringify(jit)}`);
  const failed = rows.filter((r) => !r.ok);
  if (failed.length) console.error(`bench/cpu: checksum mismatch or guest failure: ${failed.map((r) => r.name).join(", ")}`);
  if (json) {
    console.log(JSON.stringify({
      mips: +g64.mips.toFixed(2),
      slowdown_geomean: +g64.slowdown.toFixed(2),
      interp_mips: +g64.imips.toFixed(2),
      interp_slowdown_geomean: +g64.islow.toFixed(2),
      mips32: g32 ? +g32.mips.toFixed(2) : null,
      slowdown_geomean32: g32 ? +g32.slowdown.toFixed(2) : null,
      interp_mips32: g32 ? +g32.imips.toFixed(2) : null,
      interp_slowdown_geomean32: g32 ? +g32.islow.toFixed(2) : null,
      jit,
      programs: main64.map((r) => ({
        name: r.name, mips: +r.mips.toFixed(2), slowdown: +r.slowdown.toFixed(2), instructions: r.instructions,
        interp_mips: +r.interpMips.toFixed(2), interp_slowdown: +r.interpSlowdown.toFixed(2),
        guest_seconds: +r.guestSeconds.toFixed(4), native_seconds: +r.nativeSeconds.toFixed(6), checksum_ok: r.ok,
      })),
      programs32: rows32.map((r) => ({ name: r.name, mips: +r.mips.toFixed(2), slowdown: +r.slowdown.toFixed(2),
        interp_mips: +r.interpMips.toFixed(2), checksum_ok: r.ok })),
    }));
  }
  return failed.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(`bench/cpu: ${(e as Error).message}`); process.exitCode = 1; });
