// CPU benchmark: each guests/bench program natively (its own timer) and on a bare xenwasm machine;
// checks that the checksums agree and prints guest instructions, seconds, MIPS, native seconds for
// the same work and the slowdown (guest time / native time), with geometric means.
//
// Like for like: the main slowdown compares the guest with the same code natively: work() built with
// the guests' code generation flags (no SSE, no builtins: <name>-native-same-64/-32, guests/Makefile),
// warm on both sides (the guest: the second of two runs in this process, after the wasm is compiled
// and tiered up; native: the average of repeated runs). Also reported: cold against cold (the guest's
// first run, the native program's first call of work()) and the guest against gcc's ordinary native
// build (<name>-native: SSE and libc builtins allowed), as the old figure was.
//
// Tiers: the guest runs in the default configuration (XENWASM_JIT, default on: the JIT tier, compile time
// included, each run in a fresh core) for the main figures, and once more with XENWASM_JIT=off for
// `interp_*`, with the JIT's figures (compile time, regions, exits by reason) in `jit`.
//
//   node dist/bench/cpu.js [--json] [--no32] [--only NAME[,NAME...]]
//
// Builds nothing itself except running `make -C guests` when a program is missing. 64-bit guests
// are the main rows (the only ones in the geometric means and the JSON `programs`, lukewarm outside the
// means: `lukewarm_mips`, `lukewarm_slowdown`, `lukewarm_interp_slowdown`); 32-bit guests
// are extra rows (`--no32` skips them). With --json the last line of stdout is one JSON object:
// {"mips": geomean MIPS, "slowdown_geomean": ..., "programs": [{"name", "mips", "slowdown", ...}], ...}.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runBare } from "../host/bare";
import { jitSettings, type JitStats } from "../host/jit/jit";
import { repoRoot } from "../tests/lib/repo";

const PROGRAMS = ["crc32", "sieve", "memcpy", "sort"];
// Run by default too, outside the geometric means: lukewarm (1000 small functions, each called a few hundred
// times: code as an OS kernel's paths run it, below the JIT's threshold and beyond the decoded-instruction
// cache), reported as `lukewarm_*` and in `programs`.
const EXTRA = ["lukewarm"];


interface Row {
  name: string;
  bits: 32 | 64;
  instructions: number;
  guestSeconds: number; // warm: the second run
  guestSecondsCold: number; // the first run in this process
  mips: number;
  nativeSeconds: number; // the same code natively, warm average
  nativeSecondsCold: number; // ... its first call
  nativeDefaultSeconds: number; // gcc's ordinary native build (SSE, builtins), warm average
  slowdown: number; // guestSeconds / nativeSeconds
  slowdownCold: number; // guestSecondsCold / nativeSecondsCold
  slowdownVsDefault: number; // guestSeconds / nativeDefaultSeconds
  checksum: string;
  ok: boolean;
  interpMips: number; // the warm run's instructions / an interpreted run's seconds
  interpSlowdown: number;
  jit?: JitStats;
}

const geomean = (xs: number[]) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : NaN);

function runNative(exe: string): { checksum: string; seconds: number; first: number } {
  const r = spawnSync(exe, [], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${exe} failed (exit ${r.status ?? r.signal}): ${(r.stdout + r.stderr).trim()}`);
  const m = /checksum=(0x[0-9a-f]+) seconds=([0-9.]+)(?: reps=\d+ first_seconds=([0-9.]+))?/.exec(r.stdout);
  if (!m) throw new Error(`${exe}: unexpected output: ${r.stdout.trim()}`);
  return { checksum: m[1], seconds: Number(m[2]), first: m[3] ? Number(m[3]) : NaN };
}

/** Whether this host runs the 32-bit native program `exe` (its kernel may lack IA-32 execution). */
function native32Runs(exe: string): boolean {
  const r = spawnSync(exe, [], { encoding: "utf8" });
  return !r.error && r.status === 0 && /checksum=/.test(r.stdout);
}
let reference32 = "the 32-bit native build of the same work()";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const with32 = !argv.includes("--no32");
  const oi = argv.indexOf("--only");
  const only = oi >= 0 && argv[oi + 1] ? argv[oi + 1].split(",") : [...PROGRAMS, ...EXTRA];
  const bad = only.filter((p) => !PROGRAMS.includes(p) && !EXTRA.includes(p));
  if (bad.length) {
    console.error(`bench/cpu: unknown program ${bad.join(", ")} (have ${[...PROGRAMS, ...EXTRA].join(", ")})`);
    return 1;
  }

  const root = repoRoot();
  const gb = resolve(root, "guests", "build");
  const files =
    only.flatMap((p) => [`${p}-64.elf`, `${p}-32.elf`, `${p}-native`, `${p}-native-same-64`, `${p}-native-same-32`]);
  if (files.some((f) => !existsSync(join(gb, f)))) {
    console.error("bench/cpu: building the guests (make -C guests)");
    const r = spawnSync("make", ["-s", "-C", join(root, "guests")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) { console.error("bench/cpu: make -C guests failed"); return 1; }
  }

  const rows: Row[] = [];
  const log = (s: string) => console.log(s);
  const head = [
    "program", "guest insns", "guest s", "MIPS", "native s", "slowdown", "cold", "vs gcc", "interp MIPS", "interp",
    "checksum"
  ];
  const widths = [12, 13, 9, 8, 10, 9, 8, 8, 12, 8, 12];
  const jitMode = jitSettings().mode;
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" ");
  log(line(head));
  for (const p of only) {
    const nativeDefault = runNative(join(gb, `${p}-native`));
    for (const bits of with32 ? ([64, 32] as const) : ([64] as const)) {
      // A kernel without IA-32 execution (some hosts) cannot run the 32-bit native build: the 32-bit guest is
      // then compared with the 64-bit native build of the same work() (said in `reference32`).
      let native: ReturnType<typeof runNative>;
      if (bits === 32 && !native32Runs(join(gb, `${p}-native-same-32`))) {
        native = runNative(join(gb, `${p}-native-same-64`));
        reference32 = "the 64-bit native build of the same work() (this host's kernel does not run 32-bit programs)";
      } else native = runNative(join(gb, `${p}-native-same-${bits}`));
      const elf = readFileSync(join(gb, `${p}-${bits}.elf`));
      const cold = await runBare(elf, { jit: jitMode });
      const r = await runBare(elf, { jit: jitMode });
      const ri = jitMode === "off" ? r : await runBare(elf, { jit: "off" });
      const sum = (out: string) => /checksum=(0x[0-9a-f]+)/.exec(out)?.[1] ?? "none";
      const checksum = sum(r.output);
      const ok = [cold, r, ri].every((x) => x.reason === "exit" && x.status === 0 && sum(x.output) === native.checksum)
        && nativeDefault.checksum === native.checksum;
      const row: Row = {
        name: bits === 64 ? p : `${p}-32`, bits, instructions: r.instructions, guestSeconds: r.seconds,
        guestSecondsCold: cold.seconds,
        mips: r.instructions / r.seconds / 1e6, nativeSeconds: native.seconds, nativeSecondsCold: native.first,
        nativeDefaultSeconds: nativeDefault.seconds,
        slowdown: r.seconds / native.seconds, slowdownCold: cold.seconds / native.first,
        slowdownVsDefault: r.seconds / nativeDefault.seconds, checksum, ok,
        interpMips: ri.instructions / ri.seconds / 1e6, interpSlowdown: ri.seconds / native.seconds, jit: r.jit,
      };
      rows.push(row);
      log(line([row.name, String(row.instructions), row.guestSeconds.toFixed(3), row.mips.toFixed(1),
        row.nativeSeconds.toFixed(4), row.slowdown.toFixed(1) + "x", row.slowdownCold.toFixed(1) + "x",
        row.slowdownVsDefault.toFixed(1) + "x",
        row.interpMips.toFixed(1), row.interpSlowdown.toFixed(1) + "x",
        ok ? checksum : `${checksum} MISMATCH`]));
      if (!ok) {
        log(
          `  ${row.name}: ${r.message ?? `exit status ${r.status}`}; `
            + `guest checksum ${checksum}, native ${native.checksum}`
        );
      }
    }
  }
  const inMean = (r: Row) => PROGRAMS.includes(r.name.replace(/-32$/, ""));
  const main64 = rows.filter((r) => r.bits === 64 && inMean(r));
  const extra64 = rows.filter((r) => r.bits === 64 && !inMean(r));
  const gm = (rs: Row[]) => ({
    mips: geomean(rs.map((r) => r.mips)), slowdown: geomean(rs.map((r) => r.slowdown)),
    cold: geomean(rs.map((r) => r.slowdownCold)), vsDefault: geomean(rs.map((r) => r.slowdownVsDefault)),
    imips: geomean(rs.map((r) => r.interpMips)), islow: geomean(rs.map((r) => r.interpSlowdown)),
  });
  const g64 = gm(main64);
  log(
    line([
      "geomean", "", "", g64.mips.toFixed(1), "", g64.slowdown.toFixed(1) + "x", g64.cold.toFixed(1) + "x",
      g64.vsDefault.toFixed(1) + "x", g64.imips.toFixed(1), g64.islow.toFixed(1) + "x", ""
    ])
  );
  const rows32 = rows.filter((r) => r.bits === 32 && inMean(r));
  const g32 = gm(rows32);
  if (rows32.length) log(`32-bit slowdowns against ${reference32}`);
  if (rows32.length) log(
    line([
      "geomean-32", "", "", g32.mips.toFixed(1), "", g32.slowdown.toFixed(1) + "x", g32.cold.toFixed(1) + "x",
      g32.vsDefault.toFixed(1) + "x", g32.imips.toFixed(1), g32.islow.toFixed(1) + "x", ""
    ])
  );
  // The JIT's figures over the warm runs of the default configuration.
  const js = rows.map((r) => r.jit).filter((j): j is JitStats => !!j);
  const total = (f: (j: JitStats) => number) => js.reduce((a, j) => a + f(j), 0);
  const jit = js.length ? {
    mode: jitMode, compile_ms: +total((j) => j.compile_ms).toFixed(1), regions: total((j) => j.regions),
    modules: total((j) => j.modules),
    insn_in_jit_pct: +(
      100 * total((j) => j.insns) / rows.filter((r) => r.jit).reduce((a, r) => a + r.instructions, 0)
    ).toFixed(1),
    exits: {branch: total((j) => j.exits.branch), unsupported: total((j) => j.exits.unsupported),
      memory: total((j) => j.exits.memory),
      budget: total((j) => j.exits.budget), slowform: total((j) => j.exits.slowform) },
    invalidations: total((j) => j.invalidations), code_cache_kib: Math.max(...js.map((j) => j.code_cache_kib)),
  } : null;
  if (jit) log(`jit: ${JSON.stringify(jit)}`);
  log(
    "slowdown: warm guest run / the same work() natively (guest "
      + "flags), warm; cold: first guest run / first native call;"
  );
  log("vs gcc: warm guest run / gcc's ordinary native build (SSE, builtins)");
  const failed = rows.filter((r) => !r.ok);
  if (failed.length)
    console.error(`bench/cpu: checksum mismatch or guest failure: ${failed.map((r) => r.name).join(", ")}`);
  if (json) {
    console.log(JSON.stringify({
      comparison: "slowdown: warm guest run (the second in this process) / the "
        + "same work() built natively with the guests' flags (no SSE, "
        + "no builtins), warm average; slowdown_cold: first guest run " + "/ first native call of that build; "
        + "slowdown_vs_native_default: warm guest / gcc's ordinary " + "native build (SSE, builtins)",
      mips: +g64.mips.toFixed(2),
      slowdown_geomean: +g64.slowdown.toFixed(2),
      slowdown_cold_geomean: +g64.cold.toFixed(2),
      slowdown_vs_native_default_geomean: +g64.vsDefault.toFixed(2),
      interp_mips: +g64.imips.toFixed(2),
      interp_slowdown_geomean: +g64.islow.toFixed(2),
      jit,
      ...Object.fromEntries(extra64.flatMap((r) => [
        [`${r.name}_mips`, +r.mips.toFixed(2)], [`${r.name}_slowdown`, +r.slowdown.toFixed(2)],
        [`${r.name}_interp_slowdown`, +r.interpSlowdown.toFixed(2)],
      ])),
      programs: [...main64, ...extra64].map((r) => ({
        in_geomean: inMean(r),
        name: r.name, mips: +r.mips.toFixed(2), slowdown: +r.slowdown.toFixed(2),
        slowdown_cold: +r.slowdownCold.toFixed(2),
        slowdown_vs_native_default: +r.slowdownVsDefault.toFixed(2), instructions: r.instructions,
        guest_seconds: +r.guestSeconds.toFixed(4), guest_seconds_cold: +r.guestSecondsCold.toFixed(4),
        native_seconds: +r.nativeSeconds.toFixed(6), native_seconds_cold: +r.nativeSecondsCold.toFixed(6),
        native_default_seconds: +r.nativeDefaultSeconds.toFixed(6), interp_mips: +r.interpMips.toFixed(2),
        interp_slowdown: +r.interpSlowdown.toFixed(2), checksum_ok: r.ok,
      })),
      programs32: rows32.map((r) => ({
        name: r.name, mips: +r.mips.toFixed(2), slowdown: +r.slowdown.toFixed(2),
        slowdown_cold: +r.slowdownCold.toFixed(2),
        slowdown_vs_native_default: +r.slowdownVsDefault.toFixed(2), checksum_ok: r.ok,
      })),
      reference32: rows32.length ? reference32 : undefined,
      geomean32: rows32.length ? {
        mips: +g32.mips.toFixed(2), slowdown: +g32.slowdown.toFixed(2), slowdown_cold: +g32.cold.toFixed(2),
        slowdown_vs_native_default: +g32.vsDefault.toFixed(2), interp_mips: +g32.imips.toFixed(2),
        interp_slowdown: +g32.islow.toFixed(2)
      } : undefined,
    }));
  }
  return failed.length ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { console.error(`bench/cpu: ${(e as Error).message}`); process.exitCode = 1; }
);
