// Batches far longer than one slice (issue 12: "a multicall or mmu_update batch of 10^6 entries cannot
// stall the other domains' slices"): guests/pv/bigbatch.c's mmu_update, multicall and GNTTABOP_copy of
// n entries each complete with every entry's result right, through continuations, while a second
// domain (always runnable) keeps being scheduled between the batch's continuations. n is
// XENWASM_BIGBATCH_N (default 10^6: about 5 s of CPU for both widths); bench/bigbatch.ts times it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runBigBatch, PHASES } from "./lib/bigbatch";

const N = Number(process.env.XENWASM_BIGBATCH_N ?? 1000000);

for (const bits of [64, 32] as const) {
  test(`batches of ${N} entries are preempted, another domain runs meanwhile (${bits}-bit)`,
    async () => {
      const r = await runBigBatch(bits, N, { turnClock: true });
      const o = r.out;
      assert.equal(o.split("\n").filter((l) => l.startsWith("FAIL")), [], o + r.dmesg);
      assert.match(o, "bigbatch: PASSED", o + r.dmesg);
      assert.is(r.reason, 0, "poweroff");
      assert.is(r.counterConts, 0, "the counter made no continuation");
      for (const name of PHASES) {
        const p = r.phases.find((q) => q.name === name)!;
        const why = `${name}: ${JSON.stringify(p, (_k, v) => typeof v === "bigint" ? Number(v) : v)}`;
        // At most 1024 units of work per invocation: an mmu_update entry or a 4-byte copy is one, a
        // multicall entry two (its own and the mmu_update's); the samples see most of them.
        const least = Math.floor(N / 1024) - 1;
        assert.ok(p.conts >= (name === "multicall" ? 2 * least : least) / 2, `continuations, ${why}`);
        // The counter kept being scheduled through the batch: with every vCPU turn charged alike
        // (turnClock), it ran between any two of the batch's continuations (as sampled once per hv_run
        // of 100000 units: never two continuations in samples where the counter did not advance).
        assert.ok(p.counterTurns >= 8 && p.counterTurns * 2 >= p.conts, `samples in which the counter ran, ${why}`);
        assert.ok(p.maxStalledConts <= 1, `continuations in a row without the counter, ${why}`);
      }
    });
}

test.run();
