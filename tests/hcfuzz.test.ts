// Hostile guests (issue 12), both widths. A hypercall fuzzer: 10^4 seeded random and edge-case calls
// per width (guests/pv/hcfuzz.c) while another domain runs next to it. No wasm trap and no host
// exception (either fails the test by throwing), the fuzzing guest's frames all back in the pool after
// it is gone, and the other domain's frames (list, types, contents) unchanged. `npm run
// bench:fuzz-hypercalls` runs 10^6. And Xen's known classes of attack, each refused with Xen's error
// code (guests/pv/attack.c: page-type confusion, the M2P, another domain's event channels, descriptor
// tricks, IRET/SYSRET to non-canonical addresses).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fuzzHypercalls } from "./lib/hcfuzz";
import { guestPath } from "./lib/pvrun";
import { XenHost } from "../host/pv/host";
import { DS_RUNNING } from "../assembly/records";

for (const bits of [64, 32] as const) {
  test(`Xen's known attacks are refused with Xen's errors (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const peer = host.createDomain("peer", new Uint8Array(readFileSync(guestPath("idle", 64))), { memoryMiB: 16 });
    const dom = host.createDomain(
      "attack", new Uint8Array(readFileSync(guestPath("attack", bits))),
      { memoryMiB: 16, cmdline: `peer=${peer.domid}` }
    );
    let out = "";
    dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
    const t0 = Date.now();
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
    assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out + host.dmesg());
    assert.match(out, "attack: PASSED", out + host.dmesg());
    assert.is(host.shutdownReason(dom.domid), 0, "poweroff");
    assert.is(host.state(peer.domid), DS_RUNNING, "the peer still runs");
  });
}

for (const bits of [64, 32] as const) {
  test(`hypercall fuzzer (${bits}-bit): 10^4 seeded calls, the other domain unchanged, no frame leaked`, async () => {
    const r = await fuzzHypercalls(bits, 12, 10_000);
    assert.ok(r.victimFrames >= 4096, `the victim's ${r.victimFrames} frames were hashed`);
    assert.ok(r.victimSame, "the victim's memory changed");
    assert.ok(r.victimRunning, "the victim stopped");
    assert.is(r.framesLeaked, 0, "frames not returned to the pool");
    assert.is(r.listsBroken, 0, "each domain's list of its frames is what the frame table says");
    // The run really went through the calls: most were made by guests that lived to make the next one.
    assert.ok(r.restarts < r.calls / 10, `restarted ${r.restarts} times`);
  });
}

test.run();
