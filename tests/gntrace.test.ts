// Grant map/unmap races, both widths (issue 12): guests/pv/gntrace.c's mapper maps, writes through and
// unmaps a grant in a tight loop (clearing the PTE behind the hypervisor's back now and then) while the
// granter, in the other scheduler slices, rewrites the entry's flags, frame and domid, ends access,
// pins the frame as a page table and balloons it out; each side checks every result is one Xen gives,
// and last, in lockstep, that a mapping whose PTE was cleared behind our back neither unmaps (Xen's
// GNTST_general_error) nor takes the granter's own writable mapping's type reference with it. Here:
// both say PASSED and power off, nothing crashed, every frame they had is back in the pool, the frame
// lists agree, and a third domain's memory (hashed before and after) is untouched.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { victimHash } from "./lib/hcfuzz";
import { DS_RUNNING, DS_SHUTDOWN } from "../assembly/records";

for (const bits of [64, 32] as const) {
  test(`grant map/unmap races with a hostile granter, a third domain untouched (${bits}-bit)`, async () => {
    // Every vCPU turn charged alike (the clock advances 10 us per reading): the two domains alternate at
    // each yield and slice end whatever the load or the JIT's compile times, which would otherwise let
    // one side's cheap turns run far ahead of the other's.
    let t = performance.now() * 1e6;
    const host = await XenHost.create(256, { timeNs: () => (t += 10_000) });
    const x = host.core.x;
    let vout = "";
    const victim = host.createDomain("victim", new Uint8Array(readFileSync(guestPath("idle", bits === 64 ? 32 : 64))),
      { memoryMiB: 16 });
    victim.onConsole = (b) => { vout += new TextDecoder().decode(b); };
    let t0 = Date.now();
    await host.runUntil(() => vout.includes("ready") || Date.now() - t0 > 20000);
    assert.ok(vout.includes("ready"), "the third domain started");
    for (let i = 0; i < 5; i++) await host.runUntil(() => true, 100_000);
    const before = victimHash(host, victim.domid);
    const free0 = x.hv_frames_free();
    const outs: string[][] = [[], []];
    const image = new Uint8Array(readFileSync(guestPath("gntrace", bits)));
    const ids = [victim.domid + 1, victim.domid + 2];
    const doms = ["a", "b"].map((role, i) => {
      const cmdline = `role=${role} peer=${ids[1 - i]}`;
      const d = host.createDomain(`gntrace-${role}`, image, { memoryMiB: 16, cmdline });
      d.onConsole = (b) => outs[i].push(new TextDecoder().decode(b));
      return d;
    });
    assert.equal(doms.map((d) => d.domid), ids);
    t0 = Date.now();
    await host.runUntil(() => doms.every((d) => host.state(d.domid) !== DS_RUNNING) || Date.now() - t0 > 60000);
    const out = outs.map((o) => o.join(""));
    const both = `${out[0]}\n---\n${out[1]}\n${host.dmesg()}`;
    for (const [i, role] of ["a", "b"].entries()) {
      assert.equal(out[i].split("\n").filter((l) => l.startsWith("FAIL")), [], both);
      assert.match(out[i], `gntrace-${role}: PASSED`, both);
      assert.is(host.state(doms[i].domid), DS_SHUTDOWN);
      assert.is(host.shutdownReason(doms[i].domid), 0, "poweroff");
      assert.is(x.hv_frames_listed(doms[i].domid), x.hv_frames_owned(doms[i].domid), "its frame list agrees");
    }
    assert.not.match(host.dmesg(), "crashed", host.dmesg());
    for (const d of doms) x.hv_domain_destroy(d.domid);
    assert.is(x.hv_frames_free(), free0, "every frame of the pair is back in the pool");
    assert.is(host.state(victim.domid), DS_RUNNING);
    assert.is(victimHash(host, victim.domid), before, "the third domain's frames and memory are unchanged");
    console.log(out[0].split("\n").filter((l) => l.startsWith("ok: ") && l.includes("attacks")).join("\n"));
    console.log(out[1].split("\n").filter((l) => l.startsWith("ok: ") && l.includes("map/unmap")).join("\n"));
  });
}

test.run();
