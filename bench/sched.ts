// bench/sched: the credit scheduler. Two spinning domains with weights 512 and 256 share the CPU for
// a few seconds: their CPU times should be 2:1. Then one spinning domain capped at 20% (with an
// uncapped one beside it): its share of the host's time should stay under 20%.
// `--json` prints one JSON line last.
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";

const json = process.argv.includes("--json");
const secs = Number(process.env.SCHED_SECONDS ?? 3);
const spin = new Uint8Array(readFileSync("guests/build/pv-spin-64.elf"));

async function share(weights: number[], caps: number[]): Promise<{ cpu: number[]; wall: number }> {
  const host = await XenHost.create(256);
  const doms = weights.map((w, i) => {
    const d = host.createDomain(`spin${i}`, spin, { memoryMiB: 8 });
    d.onConsole = () => {};
    host.core.x.hv_domain_sched(d.domid, w, caps[i]);
    return d;
  });
  // Let them boot, then measure over the window.
  let t = Date.now();
  await host.runUntil(() => Date.now() - t > 300);
  const c0 = doms.map((d) => Number(host.core.x.hv_domain_cpu_ns(d.domid)));
  const w0 = process.hrtime.bigint();
  t = Date.now();
  await host.runUntil(() => Date.now() - t > secs * 1000);
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const cpu = doms.map((d, i) => (Number(host.core.x.hv_domain_cpu_ns(d.domid)) - c0[i]) / 1e9);
  return { cpu, wall };
}

async function main(): Promise<void> {
  const a = await share([512, 256], [0, 0]);
  const ratio = a.cpu[0] / a.cpu[1];
  const b = await share([256, 256], [20, 0]);
  const cappedPct = (b.cpu[0] / b.wall) * 100;
  console.log(`weights 512:256 -> CPU ${a.cpu[0].toFixed(2)} s : ${a.cpu[1].toFixed(2)} s = ${ratio.toFixed(3)} (goal 2.0 within 5%: ${(Math.abs(ratio / 2 - 1) * 100).toFixed(1)}% off)`);
  console.log(`cap 20% -> ${cappedPct.toFixed(1)}% of ${b.wall.toFixed(2)} s (the uncapped neighbour: ${((b.cpu[1] / b.wall) * 100).toFixed(1)}%)`);
  if (json) console.log(JSON.stringify({ weight_ratio: Math.round(ratio * 1000) / 1000, weight_error_pct: Math.round(Math.abs(ratio / 2 - 1) * 1000) / 10, capped_pct: Math.round(cappedPct * 10) / 10 }));
}

main().catch((e) => { console.error(`bench:sched: ${e.message}`); process.exit(1); });
