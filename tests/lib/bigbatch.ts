// guests/pv/bigbatch.c (batches of n entries: mmu_update, multicall, grant copy) beside a counter domain
// that is always runnable, sampled once per hv_run: for each batch, how many continuations it made, in how
// many samples the counter advanced, and the most continuations the batch made while the counter did not.
// tests/bigbatch.test.ts (a smaller n) and bench/bigbatch.ts (n = 10^6, timed) share it.
import { readFileSync } from "node:fs";
import { XenHost } from "../../host/pv/host";
import { guestPath } from "./pvrun";
import { DS_RUNNING } from "../../assembly/records";

export interface BatchPhase {
  name: string;
  conts: number; // continuations the batch domain made while the phase ran (as sampled)
  counterTurns: number; // sampling intervals in which the counter advanced
  stalled: number; // sampling intervals in which the batch advanced and the counter did not
  maxStalledConts: number; // the most continuations the batch made in a row of such intervals
  ctrInsns: bigint; // the counter's instructions over the phase
  ms: number; // wall time of the phase (as sampled)
}
export interface BigBatchRun {
  out: string;
  dmesg: string;
  reason: number;
  phases: BatchPhase[];
  totalConts: number;
  counterConts: number;
  ms: number;
}

export const PHASES = ["mmu", "multicall", "copy"];

// turnClock: the hypervisor's clock advances 10 us per reading, i.e. per vCPU turn, so that the
// scheduler charges every turn alike (a continuation's as much as the counter's 100000-instruction
// slice) and the interleaving does not depend on the machine's load; otherwise the real clock.
export async function runBigBatch(bits: 64 | 32, n: number, o: { turnClock?: boolean } = {}): Promise<BigBatchRun> {
  const unit = 100_000;
  let t = performance.now() * 1e6;
  const host = await XenHost.create(256, o.turnClock ? { timeNs: () => (t += 10_000) } : {});
  const x = host.core.x;
  // The counter, told to print (and read xenstore, which waits for the host) only rarely: once past its
  // start it is always runnable. The batch guest starts once it counts.
  const ctr = host.createDomain("counter", new Uint8Array(readFileSync(guestPath("counter", 64))),
    { memoryMiB: 16, cmdline: "steps=1000 every=1000000000" });
  const c = ctr.domid;
  let t0 = Date.now();
  await host.runUntil(() => x.hv_domain_insns(c) > 5_000_000n || Date.now() - t0 > 20000);
  if (host.state(c) !== DS_RUNNING) throw new Error("the counter domain is not running");
  const chunks: string[] = [];
  const dom = host.createDomain("bigbatch", new Uint8Array(readFileSync(guestPath("bigbatch", bits))),
    { memoryMiB: 128, cmdline: `n=${n}` });
  dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
  const b = dom.domid;
  const samples: { phase: string; cont: number; ctr: bigint; t: number }[] = [];
  let seen = 0, phase = "";
  t0 = Date.now();
  await host.runUntil(() => {
    // The phase as the guest last announced it ("phase NAME: start" / "phase NAME: end").
    if (chunks.length > seen) {
      const o = chunks.join("");
      seen = chunks.length;
      const all = [...o.matchAll(/phase (\w+): (start|end)/g)];
      const m = all[all.length - 1];
      phase = m && m[2] === "start" ? m[1] : "";
    }
    samples.push({ phase, cont: x.hv_hc_continuations(b), ctr: x.hv_domain_insns(c), t: Date.now() });
    return host.state(b) !== DS_RUNNING || Date.now() - t0 > 600_000;
  }, unit);
  const ms = Date.now() - t0;
  const phases: BatchPhase[] = PHASES.map((name) => {
    const s = samples.filter((p) => p.phase === name);
    const r: BatchPhase = { name, conts: 0, counterTurns: 0, stalled: 0, maxStalledConts: 0, ctrInsns: 0n, ms: 0 };
    if (s.length === 0) return r;
    r.conts = s[s.length - 1].cont - s[0].cont;
    r.ctrInsns = s[s.length - 1].ctr - s[0].ctr;
    r.ms = s[s.length - 1].t - s[0].t;
    let run = 0;
    for (let i = 1; i < s.length; i++) {
      if (s[i].ctr > s[i - 1].ctr) { r.counterTurns++; run = 0; continue; }
      const k = s[i].cont - s[i - 1].cont;
      if (k > 0) { r.stalled++; run += k; r.maxStalledConts = Math.max(r.maxStalledConts, run); }
    }
    return r;
  });
  const run: BigBatchRun = {
    out: chunks.join(""), dmesg: host.dmesg(), reason: host.shutdownReason(b), phases,
    totalConts: x.hv_hc_continuations(b), counterConts: x.hv_hc_continuations(c), ms,
  };
  x.hv_domain_destroy(c);
  x.hv_domain_destroy(b);
  return run;
}
