// Event floods (issue 12): a guest that floods events gets each one delivered (coalesced as Xen's
// pending bits are, the last one never lost), every port served while others flood, and neither the
// host nor the other domains stall: guests/pv/flood.c.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { DS_RUNNING } from "../assembly/records";

for (const bits of [64, 32] as const) {
  test(`a guest flooding its own ports and dom0: every send `
      + `delivered, every port served, none lost, the host's event `
      + `loop keeps its turns (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const chunks: string[] = [];
    const dom = host.createDomain("flood", new Uint8Array(readFileSync(guestPath("flood", bits))), { memoryMiB: 16 });
    dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
    const out = () => chunks.join("");
    // Event-loop turns while the guest floods dom0 (each send is an event for the host): a host that
    // came back for every send and never yielded would count none.
    let turns = 0, counting = false, turnsDuring = -1;
    const tick = () => { if (counting) { turns++; setImmediate(tick); } };
    const t0 = Date.now();
    await host.runUntil(() => {
      const o = out();
      if (!counting && turnsDuring < 0 && o.includes("flooding dom0")) { counting = true; setImmediate(tick); }
      if (counting && o.includes("flooded dom0")) { counting = false; turnsDuring = turns; }
      return host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 60000;
    });
    const o = out();
    assert.equal(o.split("\n").filter((l) => l.startsWith("FAIL")), [], o + host.dmesg());
    assert.match(o, "flood: PASSED", o + host.dmesg());
    assert.is(host.shutdownReason(dom.domid), 0, "poweroff");
    assert.ok(turnsDuring > 0, `the host's event loop ran ${turnsDuring} times during the flood of dom0`);
  });
}

// The same floods under the FIFO ABI (guests/pv/fifo.c, after its own checks): 32 ports at four
// priorities flooded unmasked, in masked bursts (one delivery per port and burst, the highest priority
// first and within a priority in the order first sent, none lost) and half masked in their event words.
for (const bits of [64, 32] as const) {
  test(`FIFO event channels flooded: each send delivered, bursts ` + `coalesced in priority and FIFO order, none lost `
      + `(${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const chunks: string[] = [];
    const dom = host.createDomain(
      "fifo", new Uint8Array(readFileSync(guestPath("fifo", bits))),
      { memoryMiB: 16, cmdline: "flood=30000 rounds=150" }
    );
    dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
    const t0 = Date.now();
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 60000);
    const o = chunks.join("");
    assert.equal(o.split("\n").filter((l) => l.startsWith("FAIL")), [], o + host.dmesg());
    for (const l of ["unmasked flood: 30000 sends, each delivered once at once (0 not)",
      "masked bursts: 150 x 256 sends, each port once per burst (0 "
        + "not), none lost (0), priority then FIFO order (0 bursts not)",
      "masked ports wait (0 delivered early), the others are served (16 of 16)",
      "unmasked: each masked port delivered once (16 of 16), none lost (0)"
    ]
    ) assert.match(o, `ok: ${l}`, o);
    assert.match(o, "fifo: PASSED", o);
    assert.not.match(host.dmesg(), /livelock/i);
    assert.is(host.shutdownReason(dom.domid), 0, "poweroff");
  });
}

test("floods between domains and dom0: nothing lost, every port served, the other domains keep running", async () => {
  const host = await XenHost.create(256);
  const x = host.core.x;
  const load = (name: string, bits: 32 | 64, cmdline: string) => {
    const chunks: string[] = [];
    const d = host.createDomain(
      name, new Uint8Array(readFileSync(guestPath(name === "counter" ? "counter" : "flood", bits))),
      { memoryMiB: 16, cmdline }
    );
    d.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
    return { d, out: () => chunks.join("") };
  };
  const ctr = load("counter", 64, "steps=1000000 every=1000000000");
  const a = load("flooder", 64, `role=a peer=${ctr.d.domid + 2}`);
  const b = load("receiver", 32, `role=b peer=${a.d.domid} flood=100000`);
  assert.is(b.d.domid, a.d.domid + 1);
  const M = 20000;
  let port = -1, ma = 0, hostSeen = 0, hprod = 0, takes = 0;
  const v = () => host.core.view();
  const t0 = Date.now();
  let fs: { c: bigint; a: bigint; b: bigint } | undefined, fe: typeof fs;
  await host.runUntil(() => {
    const m = /shared at 0x([0-9a-f]+)/.exec(b.out());
    if (port < 0 && m) {
      ma = parseInt(m[1], 16);
      port = x.hv_evtchn_bind(b.d.domid, 4);
    }
    const o = b.out();
    if (!fs && o.includes("flooding dom0"))
      fs = { c: x.hv_domain_insns(ctr.d.domid), a: x.hv_domain_insns(a.d.domid), b: x.hv_domain_insns(b.d.domid) };
    if (!fe && o.includes("flooded dom0"))
      fe = { c: x.hv_domain_insns(ctr.d.domid), a: x.hv_domain_insns(a.d.domid), b: x.hv_domain_insns(b.d.domid) };
    if (port > 0) {
      if (v().getUint32(ma, true) !== 0x466c6f64) throw new Error("shared page moved");
      if (x.hv_evtchn_take(port) === 1) { takes++; hostSeen = v().getUint32(ma + 4, true); }
      for (let k = 0; k < 50 && hprod < M; k++) { v().setUint32(ma + 8, ++hprod, true); x.hv_evtchn_send(port); }
      if (hprod === M) v().setUint32(ma + 12, 1, true);
    }
    return host.state(b.d.domid) !== DS_RUNNING || Date.now() - t0 > 60000;
  }, 200_000);
  const o = b.out();
  assert.equal(o.split("\n").filter((l) => l.startsWith("FAIL")), [], o + a.out() + host.dmesg());
  assert.match(o, "flood: PASSED", o + host.dmesg());
  assert.is(hostSeen, 100000, "the host saw the receiver's last number");
  // (at most one per send: its 100000, the last one, and the one binding marks pending)
  assert.ok(takes > 0 && takes <= 100002, `the host took ${takes} notifications`);
  // While the receiver flooded dom0, the counter and the flooder ran: by instructions, each at least
  // as much as the receiver itself (its sends are charged the host's time they cost).
  assert.ok(fs && fe, "the receiver's flood of dom0 was seen");
  const [dc, da, db] = [fe!.c - fs!.c, fe!.a - fs!.a, fe!.b - fs!.b];
  assert.ok(dc >= db && da >= db, `during the dom0 flood: counter ${dc}, flooder ${da}, receiver ${db} instructions`);
  assert.is(host.state(a.d.domid), DS_RUNNING, "the flooder still runs");
  assert.is(host.state(ctr.d.domid), DS_RUNNING, "the counter still runs");
  x.hv_domain_destroy(a.d.domid);
  x.hv_domain_destroy(ctr.d.domid);
});

test.run();
