// Ballooning out a frame another domain maps, as Xen's guest_remove_page (issue 12), both widths:
// guests/pv/gntballoon.c's granter gives back two frames a second domain maps (writable and read-only)
// and a third one the host maps as a backend would (hv_gnt_map). Each stays its owner's, counted and
// handed to no one, the mapper reading the old contents, until the last mapping goes; then it returns
// to the pool. Here: both guests say PASSED; the host reads the frame it maps after the give-back, the
// pool does not grow until the host unmaps and grows by that frame then; every frame comes back after
// the domains are destroyed, and a fourth domain's memory (hashed before and after) is untouched.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { victimHash } from "./lib/hcfuzz";
import { DS_RUNNING, DS_SHUTDOWN } from "../assembly/records";

// Word i of the granter's frame pattern `tag` (gntballoon.c pat()).
const pat = (tag: number, i: number) => (Math.imul(tag, 0x01000193) ^ Math.imul(i, 2654435761)) >>> 0;

for (const bits of [64, 32] as const) {
  test(
    `a frame given back while mapped stays until the last unmap, then returns to the pool (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const x = host.core.x;
    let vout = "";
    const victim =
      host.createDomain("victim", new Uint8Array(readFileSync(guestPath("idle", bits))), { memoryMiB: 16 });
    victim.onConsole = (b) => { vout += new TextDecoder().decode(b); };
    let t0 = Date.now();
    await host.runUntil(() => vout.includes("ready") || Date.now() - t0 > 20000);
    assert.ok(vout.includes("ready"), "the fourth domain started");
    const before = victimHash(host, victim.domid);
    const free0 = x.hv_frames_free();
    const outs = ["", ""];
    const image = new Uint8Array(readFileSync(guestPath("gntballoon", bits)));
    const ids = [victim.domid + 1, victim.domid + 2];
    const doms = ["a", "b"].map((role, i) => {
      const d =
        host.createDomain(`gntballoon-${role}`, image, { memoryMiB: 16, cmdline: `role=${role} peer=${ids[1 - i]}` });
      d.onConsole = (b) => { outs[i] += new TextDecoder().decode(b); };
      return d;
    });
    assert.equal(doms.map((d) => d.domid), ids);
    const all = () => `${outs[0]}\n---\n${outs[1]}\n${host.dmesg()}`;
    const until = async (what: string) => {
      t0 = Date.now();
      await host.runUntil(() => outs[0].includes(what) || host.state(ids[0]) !== DS_RUNNING || Date.now() - t0 > 30000);
      assert.ok(outs[0].includes(what), `the granter printed "${what}"\n${all()}`);
    };
    // The host as a backend: it maps C (writable) when the granter offers it.
    await until("granted C ");
    const m = /granted C ([0-9a-f]+) ref (\d+)/.exec(outs[0])!;
    const c = parseInt(m[1], 16);
    const h = x.hv_gnt_map(ids[0], Number(m[2]), 0);
    assert.ok(h > 0, `the host mapped C (${h})`);
    assert.is(x.hv_gnt_mfn(h), c, "the mapping is of C");
    await until("given back C");
    const bytes = () => new Uint32Array(host.core.bytes().buffer, c * 4096, 1024);
    assert.ok(bytes().every((w, i) => w === pat(0xc, i)), "the host still reads C's contents after the give-back");
    const freeHeld = x.hv_frames_free();
    for (let i = 0; i < 5; i++) await host.runUntil(() => true, 100_000);
    assert.is(x.hv_frames_free(), freeHeld, "C is not back in the pool while the host maps it");
    assert.ok(bytes().every((w, i) => w === pat(0xc, i)), "nor handed to anyone: its contents unchanged");
    assert.is(x.hv_gnt_unmap(h), 0, "the host unmaps C");
    assert.is(x.hv_frames_free(), freeHeld + 1, "C is back in the pool at the host's unmap");
    t0 = Date.now();
    await host.runUntil(() => doms.every((d) => host.state(d.domid) !== DS_RUNNING) || Date.now() - t0 > 30000);
    for (const [i, role] of ["a", "b"].entries()) {
      assert.equal(outs[i].split("\n").filter((l) => l.startsWith("FAIL")), [], all());
      assert.match(outs[i], `gntballoon-${role}: PASSED`, all());
      assert.is(host.state(ids[i]), DS_SHUTDOWN);
      assert.is(host.shutdownReason(ids[i]), 0, "poweroff");
      assert.is(x.hv_frames_listed(ids[i]), x.hv_frames_owned(ids[i]), "its frame list agrees");
      assert.is(x.hv_frames_owned(ids[i]) > 0, true);
    }
    assert.not.match(host.dmesg(), "crashed", host.dmesg());
    for (const d of doms) x.hv_domain_destroy(d.domid);
    assert.is(x.hv_frames_free(), free0, "every frame of the pair is back in the pool");
    assert.is(host.state(victim.domid), DS_RUNNING);
    assert.is(victimHash(host, victim.domid), before, "the fourth domain's frames and memory are unchanged");
  });
}

test.run();
