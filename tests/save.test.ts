// Save and restore (issue 5): a counting guest suspends itself through the PV protocol
// (control/shutdown = "suspend"), is saved into a stream, destroyed, and restored in another host;
// it counts on with no gap and no repeat and its memory pattern survives. Bad streams start nothing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost, DomainHandle } from "../host/pv/host";
import { saveDomain, restoreDomain } from "../host/save/save";
import { StreamError } from "../host/save/stream";
import { DS_RUNNING, DS_SHUTDOWN, D_SHARED_INFO } from "../assembly/records";

const guest = (bits: 32 | 64) => new Uint8Array(readFileSync(`guests/build/pv-counter-${bits}.elf`));
const counts = (s: string) => [...s.matchAll(/count (\d+)/g)].map((m) => Number(m[1]));

async function suspended(bits: 32 | 64, steps = 30) {
  const host = await XenHost.create(256);
  const d = host.createDomain("counter", guest(bits), { memoryMiB: 16, cmdline: `steps=${steps}` });
  let out = "";
  d.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => counts(out).length >= 5 || host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  host.store.write(`/local/domain/${d.domid}/control/shutdown`, "suspend");
  await host.runUntil(() => host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  return { host, d, out: () => out };
}

for (const bits of [64, 32] as const) {
  test(`save/restore (${bits}-bit): suspend, save, destroy, restore in a new host; the count goes on`, async () => {
    const a = await suspended(bits);
    assert.is(a.host.state(a.d.domid), DS_SHUTDOWN, a.out() + a.host.dmesg());
    assert.is(a.host.shutdownReason(a.d.domid), 2, "suspend");
    const before = counts(a.out());
    // A domain whose clock is far ahead of the new host's (it ran for a long time before): +1000 s.
    a.host.core.x.hv_domain_set_time(a.d.domid, a.host.core.x.hv_domain_time(a.d.domid) + 1000_000_000_000n);
    const stream = saveDomain(a.host, a.d.domid);
    a.host.destroyDomain(a.d.domid);
    const b = await XenHost.create(256);
    b.createDomain("filler", guest(bits), { memoryMiB: 4, cmdline: "steps=1" }); // other machine addresses
    const r: DomainHandle = restoreDomain(b, stream);
    // Its clock goes on from the saved time, and shared_info's wall clock moved with it: wc + system
    // time is still the real wall time.
    {
      const v = b.core.view();
      const si = v.getUint32(b.core.x.hv_domain_addr(r.domid) + D_SHARED_INFO, true);
      const w = si + (bits === 64 ? 3072 : 1792);
      const wc = v.getUint32(w + 4, true) + v.getUint32(w + 8, true) / 1e9;
      const wall = wc + Number(b.core.x.hv_domain_time(r.domid)) / 1e9;
      assert.ok(Math.abs(wall - Date.now() / 1000) < 2, `wall clock ${wall} vs ${Date.now() / 1000}`);
    }
    let out = "";
    r.onConsole = (x) => { out += new TextDecoder().decode(x); };
    const t0 = Date.now();
    await b.runUntil(() => b.state(r.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
    assert.match(out, "resumed (0)", out + b.dmesg());
    const all = [...before, ...counts(out)];
    assert.equal(all, Array.from({ length: 30 }, (_, i) => i + 1), "no gap, no repeat: " + all.join(","));
    assert.match(out, "pattern ok");
    const sums = [...(a.out() + out).matchAll(/memsum ([0-9a-f]+)/g)].map((m) => m[1]);
    assert.is(sums.length, 2);
    assert.is(sums[0], sums[1], "the guest's 1 MiB checksum is the same after the restore");
    assert.is(b.state(r.domid), DS_SHUTDOWN);
    assert.is(b.shutdownReason(r.domid), 0, "poweroff");
  });
}

test("suspend cancelled: the domain runs on in place, its suspend hypercall returning 1", async () => {
  const a = await suspended(64);
  assert.is(a.host.core.x.hv_resume_cancelled(a.d.domid), 0);
  const t0 = Date.now();
  await a.host.runUntil(() => a.host.state(a.d.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  assert.match(a.out(), "resumed (1)");
  assert.equal(counts(a.out()), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.match(a.out(), "pattern ok");
  assert.is(a.host.core.x.hv_resume_cancelled(a.d.domid), -1, "not suspended any more");
});

test("bad streams (magic, version, truncation, a flipped byte, unknown mandatory record) start nothing", async () => {
  const a = await suspended(64);
  const s = saveDomain(a.host, a.d.domid);
  const b = await XenHost.create(256);
  const free0 = b.core.x.hv_frames_free();
  const bad: [Uint8Array, RegExp][] = [];
  { const c = s.slice(); c[0] = 0; bad.push([c, /bad magic/]); }
  { const c = s.slice(); c[8] = 9; bad.push([c, /version 9/]); }
  bad.push([s.slice(0, s.length >> 1), /truncated/]);
  { const c = s.slice(); c[c.length >> 1] ^= 0x40; bad.push([c, /checksum/]); }
  {
    const c = new Uint8Array(s.length + 16);
    c.set(s.subarray(0, 12));
    const dv = new DataView(c.buffer);
    dv.setUint32(12, 77, true); dv.setUint32(16, 1, true); dv.setUint32(20, 0, true);
    const { crc32 } = await import("../host/save/stream");
    dv.setUint32(24, crc32(c.subarray(12, 24)), true);
    c.set(s.subarray(12), 28);
    bad.push([c.subarray(0, s.length + 16), /unknown mandatory record/]);
  }
  for (const [c, re] of bad) {
    assert.throws(() => restoreDomain(b, c), (e: Error) => e instanceof StreamError && re.test(e.message));
  }
  assert.is(b.domains.size, 0);
  assert.is(b.core.x.hv_frames_free(), free0, "no frames taken");
  assert.throws(() => saveDomain(a.host, 99), /no such domain/);
});

// Grant tables v2 across save/restore: the table's version, its entries and its status frame (the
// domain's own frame, translated like the others) come along; the guest checks from the inside.
for (const bits of [64, 32] as const) {
  test(`save/restore (${bits}-bit) of a domain with a v2 grant table and a mapped status frame`, async () => {
    const host = await XenHost.create(256);
    const d = host.createDomain(
      "gntv2", new Uint8Array(readFileSync(`guests/build/pv-gntv2-${bits}.elf`)),
      { memoryMiB: 16, cmdline: "suspend=1" }
    );
    let out = "";
    d.onConsole = (b) => { out += new TextDecoder().decode(b); };
    let t0 = Date.now();
    await host.runUntil(() => host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
    assert.is(host.shutdownReason(d.domid), 2, out + host.dmesg());
    const stream = saveDomain(host, d.domid);
    host.destroyDomain(d.domid);
    const b = await XenHost.create(256);
    b.createDomain("filler", guest(bits), { memoryMiB: 4, cmdline: "steps=1" }); // other machine addresses
    const r = restoreDomain(b, stream);
    r.onConsole = (x) => { out += new TextDecoder().decode(x); };
    t0 = Date.now();
    await b.runUntil(() => b.state(r.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
    assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out + b.dmesg());
    assert.match(out, "ok: seen through the status frame mapped before the suspend", out);
    assert.match(out, "gntv2: PASSED", out);
    assert.is(b.shutdownReason(r.domid), 0, "poweroff");
  });
}

test.run();
