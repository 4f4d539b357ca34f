// bench/xz: our xz decoder (host/pv/xzwasm.ts: the WebAssembly one image.ts uses; with --js xz.ts's
// JavaScript one) on Debian's amd64 kernel (tests/lib/linux.ts fetches it),
// or on a kernel or .xz file given: the bzImage's xz payload decompressed N times (default 5) each in a
// fresh process ("cold": as `xm run` does it, once, V8's optimising compiler starting from nothing),
// then N times in one process after a warm-up run ("warm"); the medians reported, the output compared
// with `xz -dc --single-stream`'s when xz(1) is installed.
//
//   node dist/bench/xz.js [--json] [--js] [--runs N] [FILE]
//   deno run -A dist/bench/xz.js ...   bun dist/bench/xz.js ...   (Deno wants --allow-all to read /proc/cpuinfo)
// xz(1) reads the payload from a temporary file, not from spawnSync's `input`: Deno's spawnSync writes all
// of its input before it reads the child's output, so a child that answers more than a pipe's worth
// before it has read everything (xz does) never finishes (tried with Deno 2.9.6).
//
// With --json the last line of stdout is one JSON object:
// {xz_cold_median_s, xz_cold_runs_s: [...], xz_cold_cpu_median_s (CPU time, all threads), xz_warm_median_s,
// xz_warm_runs_s: [...], out_bytes, in_bytes,
//  mb_per_s (cold), native_xz_s, identical, decoder ("wasm" or "js"), cpu, kernel, runtime ("node 22.x", "deno 2.9.6",
//  "bun 1.x")} (native_xz_s and identical null without xz(1)).
import { readFileSync, writeFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { basename, join } from "node:path";
import { xzDecode, xzWasmModule } from "../host/pv/xzwasm";
import { linuxKernel } from "../tests/lib/linux";
import { cpuModel, round } from "./lib/peers";

const args = process.argv.slice(2);
const json = args.includes("--json");
const ri = args.indexOf("--runs");
const runs = ri >= 0 ? Math.max(1, Number(args[ri + 1]) | 0) : 5;
const file = args.filter((a, i) => !a.startsWith("--") && !(ri >= 0 && i === ri + 1))[0] ?? linuxKernel();
const data = new Uint8Array(readFileSync(file));

/** The xz payload: the file itself if it is .xz, else a bzImage's (setup header: 0x248/0x24c). */
function payload(d: Uint8Array): Uint8Array {
  if (d[0] === 0xfd && d[1] === 0x37) return d;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const off = ((d[0x1f1] || 4) + 1) * 512 + dv.getUint32(0x248, true), len = dv.getUint32(0x24c, true);
  const p = d.subarray(off, off + len);
  if (p[0] !== 0xfd || p[1] !== 0x37) throw new Error(`${file}: no xz payload`);
  return p;
}
const p = payload(data);
// (a bzImage's payload ends with the ELF's size, as image.ts passes it on)
const hint = p === data ? undefined
  : p[p.length - 4] + (p[p.length - 3] << 8) + (p[p.length - 2] << 16) + p[p.length - 1] * 2 ** 24;
const js = args.includes("--js");
const decoder = js || !xzWasmModule() ? "js" : "wasm";
const decode = () => {
  const g = xzDecode(p, 1 << 30, hint, js ? "js" : xzWasmModule());
  for (;;) { const r = g.next(); if (r.done) return r.value; }
};

const timed = () => {
  const t0 = performance.now(); const o = decode(); return { o, s: (performance.now() - t0) / 1000 };
};
if (args.includes("--child")) { // one cold decode: its wall time and this process's CPU time (all threads) meanwhile
  const c0 = process.cpuUsage(), r = timed(), c = process.cpuUsage(c0);
  console.log(`${r.s} ${(c.user + c.system) / 1e6}`); process.exit(0);
}
function runtimeName(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  if (deno) return `deno ${deno.version.deno}`;
  const v = process.versions as Record<string, string | undefined>;
  return v.bun ? `bun ${v.bun}` : `node ${v.node}`;
}
const median = (t: number[]) => [...t].sort((a, b) => a - b)[t.length >> 1];
const cold: number[] = [], coldCpu: number[] = [];
for (let i = 0; i < runs; i++) {
  const c =
    spawnSync(process.execPath, [process.argv[1], "--child", ...(js ? ["--js"] : []), file], { encoding: "utf8" });
  if (c.status !== 0) throw new Error(`bench/xz: the child failed: ${c.stderr}`);
  const [w, u] = c.stdout.trim().split(" ").map(Number);
  cold.push(w); coldCpu.push(u);
}
let out = decode(); // (warm-up)
const warm: number[] = [];
for (let i = 0; i < runs; i++) { const r = timed(); out = r.o; warm.push(r.s); }

let native: number | null = null, identical: boolean | null = null;
const tmp = mkdtempSync(join(tmpdir(), "xenwasm-xz-"));
const payloadFile = join(tmp, "payload.xz");
writeFileSync(payloadFile, p);
const t0 = performance.now();
const x = spawnSync("xz", ["-dc", "--single-stream", payloadFile], { maxBuffer: 1 << 30 });
rmSync(tmp, { recursive: true, force: true });
if (!x.error && x.status === 0) {
  native = (performance.now() - t0) / 1000;
  const h = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  identical = h(x.stdout) === h(out);
}
const r = {
  xz_cold_median_s: round(median(cold), 3), xz_cold_runs_s: cold.map((t) => round(t, 3)),
  xz_cold_cpu_median_s: round(median(coldCpu), 3),
  xz_warm_median_s: round(median(warm), 3), xz_warm_runs_s: warm.map((t) => round(t, 3)), out_bytes: out.length,
  in_bytes: p.length,
  mb_per_s: round(out.length / 1e6 / median(cold), 1), native_xz_s: native === null ? null : round(native, 3),
  identical, decoder,
  cpu: cpuModel(), kernel: basename(file), runtime: runtimeName(),
};
if (!json) {
  console.log(
    `${basename(file)} (${decoder} decoder): ${p.length} bytes ` + `of xz -> ${out.length} bytes; median of ${runs}: `
      + `${r.xz_cold_median_s} s cold (${r.mb_per_s} MB/s; CPU `
      + `${r.xz_cold_cpu_median_s} s), ${r.xz_warm_median_s} s warm`
  );
  if (native !== null) console.log(`xz -dc: ${r.native_xz_s} s; output ${identical ? "identical" : "DIFFERS"}`);
}
console.log(JSON.stringify(r));
if (identical === false) process.exit(1);
