// Long hypercalls preempted by continuations (issue 12): a guest's batches of 200000 mmu_update
// entries, 3000 reservation extents and a multicall complete with the right results, through
// continuations (the hypervisor's count), while a second domain keeps being scheduled in between; a
// batch whose arguments the guest changes while it is preempted takes them as the guest's own.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { DS_RUNNING } from "../assembly/records";

for (const bits of [64, 32] as const) {
  test(`long hypercalls are preempted by continuations, the other domain runs meanwhile (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const x = host.core.x;
    // The counter, told to print (and read xenstore, which waits for the host) only rarely: once past
    // its start it is always runnable. The batch guest starts once it counts.
    const ctr = host.createDomain(
      "counter", new Uint8Array(readFileSync(guestPath("counter", 64))),
      { memoryMiB: 16, cmdline: "steps=1000 every=1000000000" }
    );
    const c = ctr.domid;
    let t0 = Date.now();
    await host.runUntil(() => x.hv_domain_insns(c) > 5_000_000n || Date.now() - t0 > 20000);
    assert.is(host.state(c), DS_RUNNING);
    const chunks: string[] = [];
    const dom =
      host.createDomain("preempt", new Uint8Array(readFileSync(guestPath("preempt", bits))), { memoryMiB: 32 });
    dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
    const out = () => chunks.join("");
    const b = dom.domid;
    // One sample per hv_run (100000 instructions or work units): the batch domain's continuations,
    // the counter's instructions.
    const samples: { cont: number; ctr: bigint }[] = [];
    // The last batch is changed by the guest while it is preempted, when an event from us arrives: we
    // bind the port it prints, and send once that batch made a continuation after we saw it start. A
    // run of 100000 units holds at most 97 continuations (1024 units each) of the 195 it needs: it is
    // still preempted then.
    let hostPort = -1, c0 = -1, sent = false;
    t0 = Date.now();
    await host.runUntil(() => {
      const cont = x.hv_hc_continuations(b);
      samples.push({ cont, ctr: x.hv_domain_insns(c) });
      const m = /tamper port (\d+)/.exec(out());
      if (hostPort < 0 && m) hostPort = x.hv_evtchn_bind(b, Number(m[1]));
      if (c0 < 0 && out().includes("tamper: start")) c0 = cont;
      else if (c0 >= 0 && !sent && cont > c0) { assert.ok(x.hv_evtchn_send(hostPort) >= 0); sent = true; }
      return host.state(b) !== DS_RUNNING || Date.now() - t0 > 60000;
    }, 100_000);
    assert.ok(
      hostPort >= 0 && sent,
      `the event was sent (port ${hostPort}, continuations at the start ${c0}, total ${x.hv_hc_continuations(b)})`
    );
    const o = out();
    assert.equal(o.split("\n").filter((l) => l.startsWith("FAIL")), [], o + host.dmesg());
    assert.match(o, "preempt: PASSED", o + host.dmesg());
    assert.is(host.shutdownReason(b), 0, "poweroff");
    // 200000 + 150000 + 5000 mmu_update entries, 2 x 3000 extents, 2000 mmuext_op entries, 3000 grant
  // copies (of 64 bytes: one unit each), at most 1024
    // per invocation: ceil(n / 1024) - 1 continuations each, and one at least in the last batch (more
    // if console output made some too).
    const total = x.hv_hc_continuations(b);
    const least = [200000, 150000, 3000, 3000, 2000, 3000, 5000].reduce((a, n) => a + Math.ceil(n / 1024) - 1, 0) + 1;
    assert.ok(total >= least, `continuations: ${total} < ${least}`);
    assert.is(x.hv_hc_continuations(c), 0, "the counter made none");
    // Between a point after the batch's first continuation and one before its last, the counter ran.
    const first = samples.findIndex((s) => s.cont >= 1);
    let last = -1;
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i].cont < total) { last = i; break; }
    assert.ok(first >= 0 && last > first, `samples ${first}..${last} of ${samples.length}`);
    assert.ok(samples[last].ctr > samples[first].ctr, "the counter domain ran while the batches were in progress");
    // And it did not merely run once: it kept being scheduled through the batches (sampled points where
    // the batch domain was part-way through and the counter had moved on since the previous point).
    let moved = 0;
    for (let i = first + 1; i <= last; i++)
      if (samples[i].ctr > samples[i - 1].ctr && samples[i].cont > samples[i - 1].cont) moved++;
    assert.ok(moved >= 2, `both advanced together at ${moved} points`);
    x.hv_domain_destroy(c);
    x.hv_domain_destroy(b);
  });
}

test.run();
