// bench/sched: the credit scheduler. Two spinning domains with weights 512 and 256 share the CPU for
// a few seconds: their CPU times should be 2:1. Then one spinning domain capped at 20% (with an
// uncapped one beside it): its share of the host's time should stay under 20%.
// Each share is measured twice: by the hypervisor's own accounting (hv_domain_cpu_ns, the counter the
// scheduler charges) and independently by the guests' progress: each spinner counts its own loop
// iterations and prints the count every 2^REPORT iterations (guests/pv/spin.c, `report=`), so the
// ratio of their counts over the window is the ratio of the CPU they really got. The capped share by
// progress is the capped guest's part of both guests' iterations (the uncapped neighbour runs the same
// loop and takes all the rest, so this is its share of the CPU the guests got).
// `--json` prints one JSON line last: weight_ratio (progress), weight_ratio_accounted (the
// scheduler's counter), capped_pct (progress), capped_pct_accounted.
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";

const json = process.argv.includes("--json");
const secs = Number(process.env.SCHED_SECONDS ?? 3);
const REPORT = 18; // "spun N" after every 2^18 iterations
const spin = new Uint8Array(readFileSync("guests/build/pv-spin-64.elf"));

interface Share { cpu: number[]; iters: number[]; wall: number }

async function share(weights: number[], caps: number[]): Promise<Share> {
  const host = await XenHost.create(256);
  const last = weights.map(() => 0); // the latest "spun N" of each domain
  const doms = weights.map((w, i) => {
    const d = host.createDomain(`spin${i}`, spin, { memoryMiB: 8, cmdline: `report=${REPORT}` });
    let buf = "";
    d.onConsole = (b) => {
      buf += new TextDecoder().decode(b);
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) { const m = /^spun (\d+)$/.exec(l); if (m) last[i] = Number(m[1]); }
    };
    host.core.x.hv_domain_sched(d.domid, w, caps[i]);
    return d;
  });
  // Let them boot, then measure over the window.
  let t = Date.now();
  await host.runUntil(() => Date.now() - t > 300);
  host.drainConsoles();
  const c0 = doms.map((d) => Number(host.core.x.hv_domain_cpu_ns(d.domid)));
  const n0 = last.slice();
  const w0 = process.hrtime.bigint();
  t = Date.now();
  await host.runUntil(() => Date.now() - t > secs * 1000);
  host.drainConsoles();
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const cpu = doms.map((d, i) => (Number(host.core.x.hv_domain_cpu_ns(d.domid)) - c0[i]) / 1e9);
  const iters = last.map((n, i) => (n - n0[i]) * 2 ** REPORT);
  for (const d of doms) host.core.x.hv_domain_destroy(d.domid);
  if (iters.some((n) => n <= 0)) throw new Error(`a spinner reported no progress (${iters.join(", ")} iterations)`);
  return { cpu, iters, wall };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
async function main(): Promise<void> {
  const a = await share([512, 256], [0, 0]);
  const ratio = a.iters[0] / a.iters[1];
  const ratioAcc = a.cpu[0] / a.cpu[1];
  const b = await share([256, 256], [20, 0]);
  const capped = b.iters[0] / (b.iters[0] + b.iters[1]);
  const cappedAcc = b.cpu[0] / b.wall;
  const off = (r: number) => Math.abs(r / 2 - 1);
  console.log(
    `weights 512:256 -> by progress ${a.iters[0]} : ` + `${a.iters[1]} iterations = ${ratio.toFixed(3)} (goal 2.0 `
      + `within 5%: ${pct(off(ratio))} off)`
  );
  console.log(
    `                -> by the scheduler's accounting ` + `${a.cpu[0].toFixed(2)} s : ${a.cpu[1].toFixed(2)} s = `
      + `${ratioAcc.toFixed(3)} (${pct(off(ratioAcc))} off)`
  );
  console.log(
    `cap 20% -> by progress ${pct(capped)} of the guests' `
      + `iterations (${b.iters[0]} : ${b.iters[1]}); by accounting `
      + `${pct(cappedAcc)} of ${b.wall.toFixed(2)} s (the uncapped ` + `neighbour: ${pct(b.cpu[1] / b.wall)})`
  );
  if (json) {
    console.log(JSON.stringify({
      weight_ratio: Math.round(ratio * 1000) / 1000, weight_error_pct: Math.round(off(ratio) * 1000) / 10,
      weight_ratio_accounted: Math.round(ratioAcc * 1000) / 1000,
      capped_pct: Math.round(capped * 1000) / 10, capped_pct_accounted: Math.round(cappedAcc * 1000) / 10,
      measured_by:
        "weight_ratio, capped_pct: the guests' own loop iterations; *_accounted: hv_domain_cpu_ns / wall time",
    }));
  }
}

main().catch((e) => { console.error(`bench:sched: ${e.message}`); process.exit(1); });
