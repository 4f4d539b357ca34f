// The PV hypervisor with our own guests (guests/pv/), both widths: boot to the first console line,
// hypercalls, and the life cycle (destroy returns every frame).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runGuest, runPair, startGuest, guestPath } from "./lib/pvrun";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { XenHost } from "../host/pv/host";
import { MM } from "../host/core";
import { saveDomain, restoreDomain } from "../host/save/save";
import { DS_RUNNING, DS_SHUTDOWN, D_CORE_REC_BYTES, D_CORE_FRAME_BYTES, SHUTDOWN_watchdog } from "../assembly/records";

for (const bits of [64, 32] as const) {
  test(`PV hello (${bits}-bit): boots, prints through console_io, powers off`, async () => {
    const r = await runGuest("hello", bits);
    assert.match(r.output, `Hello from a xenwasm PV guest (${bits}-bit)`, r.host.dmesg());
    assert.match(r.output, bits === 64 ? "magic xen-3.0-x86_64" : "magic xen-3.0-x86_32p");
    assert.match(r.output, "4096 pages");
    assert.is(r.state, 2, "shut down");
    assert.is(r.reason, 0, "poweroff");
  });

  test(`destroying a domain returns every frame to the pool (${bits}-bit)`, async () => {
    const r = await runGuest("hello", bits);
    const x = r.host.core.x;
    const owned = x.hv_frames_owned(r.dom.domid);
    assert.ok(owned >= 4096, `the domain owned ${owned} frames`);
    // The core's own counts (bench:density) agree with a scan of the frame table.
    assert.is(Number(x.hv_domain_core_bytes(r.dom.domid, 1)), owned * 4096);
    assert.is(
      Number(x.hv_domain_core_bytes(r.dom.domid, 0)),
      MM.DOMAIN_SIZE + MM.EVTCHN_DOM_SIZE + MM.VCPU_SIZE + owned * MM.FRAME_REC
    );
    // The domain's own list of its frames (destroy walks it) holds exactly the frames the table says.
    assert.is(x.hv_frames_listed(r.dom.domid), owned, "the domain's frame list");
    assert.is(x.hv_frames_listed(0), x.hv_frames_owned(0), "dom0's frame list");
    const free0 = x.hv_frames_free();
    assert.is(x.hv_domain_destroy(r.dom.domid), 0);
    assert.is(x.hv_frames_owned(r.dom.domid), 0);
    assert.is(x.hv_frames_listed(r.dom.domid), 0);
    assert.is(x.hv_frames_free(), free0 + owned);
    assert.is(x.hv_domain_state(r.dom.domid), 0);
  });
}

// A domain destroyed by the core alone (hv_domain_destroy, not host.destroyDomain, which closes the
// host's ends first): as Xen's evtchn_destroy closes each port with evtchn_close, every interdomain
// channel's other end (here dom0's console and xenstore ports) becomes unbound, waiting for the dead
// domain's id: a send on it goes nowhere, and dom0 can close it. Nothing of the dead domain's is left bound.
test("hv_domain_destroy alone: dom0's ends of the dead domain's channels become unbound (Xen's evtchn_close)",
  async () => {
  const host = await XenHost.create(256);
  const x = host.core.x;
  const g = await startGuest(host, "counter", 64);
  const t0 = Date.now();
  await host.runUntil(() => g.out().includes("count 1") || Date.now() - t0 > 20000);
  const d = g.dom.domid, ports = [g.dom.consoleHostPort, g.dom.storeHostPort];
  /** dom0's ports in the 'e' debug key's dump: the line of each of `ports` ("free" when not listed). */
  const dump = () => {
    x.hv_debug_key(0x65);
    const log = host.dmesg();
    return log.slice(log.lastIndexOf("dumping event-channel info"));
  };
  const portLines = () => {
    const all = dump();
    const at = all.indexOf("Event channel information for domain 0:");
    const end = all.indexOf("Event channel information for domain", at + 1);
    const dom0 = all.slice(at, end < 0 ? all.length : end);
    return new Map(ports.map((p) => [p, (dom0.match(new RegExp(`port ${p}: ([^\\n]*)`)) ?? [])[1] ?? "free"]));
  };
  for (const [p, l] of portLines())
    assert.match(l, new RegExp(`^interdomain vcpu=0 remote=d${d}:`), `dom0 port ${p} before: ${l}`);
  assert.is(x.hv_domain_destroy(d), 0);
  for (const [p, l] of portLines())
    assert.match(l, new RegExp(`^unbound vcpu=0 remote_dom=${d}( |$)`), `dom0 port ${p} after: ${l}`);
  assert.not.match(dump(), `remote=d${d}:`, "no port of any domain bound to the dead one");
  for (const p of ports) {
    x.hv_evtchn_take(p); // (a notification from before the destroy)
    assert.is(x.hv_evtchn_send(p), 0, "a send on an unbound port is dropped");
    assert.is(x.hv_evtchn_take(p), 0, "and raises nothing");
  }
  // dom0 closes them (as xenconsoled and xenstored do on VIRQ_DOM_EXC); a second close finds them free.
  for (const p of ports) { assert.is(x.hv_evtchn_close(p), 0); assert.is(x.hv_evtchn_close(p), -22); }
  // A new domain's channels bind as usual.
  const h = await startGuest(host, "counter", 32);
  const t1 = Date.now();
  await host.runUntil(() => h.out().includes("count 1") || Date.now() - t1 > 20000);
  assert.match(h.out(), "count 1");
  host.destroyDomain(h.dom.domid);
  host.destroyDomain(d); // (the host's own records of the first one)
});

test("the core's per-domain counts are this host's own after a restore", async () => {
  const host = await XenHost.create(256);
  const g = await startGuest(host, "counter", 64);
  const t0 = Date.now();
  await host.runUntil(() => g.out().includes("count 2") || Date.now() - t0 > 20000);
  host.store.write(`/local/domain/${g.dom.domid}/control/shutdown`, "suspend");
  await host.runUntil(() => host.state(g.dom.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  assert.is(host.shutdownReason(g.dom.domid), 2, "suspended");
  const x = host.core.x, d = g.dom.domid;
  const counts = (h: XenHost, id: number) => [
    Number(h.core.x.hv_domain_core_bytes(id, 0)), Number(h.core.x.hv_domain_core_bytes(id, 1)),
    h.core.x.hv_frames_owned(id)
  ];
  const [rec0, fr0, owned] = counts(host, d);
  assert.is(fr0, owned * 4096);
  // What a saved domain record says of them is not believed: the source's counts, made absurd first.
  const addr = x.hv_domain_addr(d);
  host.core.view().setBigUint64(addr + D_CORE_REC_BYTES, 0xdeadbeefn, true);
  host.core.view().setBigUint64(addr + D_CORE_FRAME_BYTES, 0xfeedfacen, true);
  const stream = saveDomain(host, d);
  host.core.view().setBigUint64(addr + D_CORE_REC_BYTES, BigInt(rec0), true);
  host.core.view().setBigUint64(addr + D_CORE_FRAME_BYTES, BigInt(fr0), true);
  const b = await XenHost.create(256);
  const r = restoreDomain(b, stream);
  const [rec1, fr1, owned1] = counts(b, r.domid);
  assert.is(fr1, owned1 * 4096, "frames counted as the new host allocated them");
  assert.is(rec1, MM.DOMAIN_SIZE + MM.EVTCHN_DOM_SIZE + MM.VCPU_SIZE + owned1 * MM.FRAME_REC);
  assert.is(rec0 - owned * MM.FRAME_REC, rec1 - owned1 * MM.FRAME_REC);
  assert.is(x.hv_domain_destroy(d), 0);
  assert.is(b.core.x.hv_domain_destroy(r.domid), 0);
});

// Debug registers travel in the vCPU record; a save file's are checked as Xen's arch_set_info_guest does.
test("debug registers survive save/restore; a save file's bad ones refuse the restore", async () => {
  const host = await XenHost.create(256);
  const g = await startGuest(host, "counter", 64);
  const t0 = Date.now();
  await host.runUntil(() => g.out().includes("count 2") || Date.now() - t0 > 20000);
  host.store.write(`/local/domain/${g.dom.domid}/control/shutdown`, "suspend");
  await host.runUntil(() => host.state(g.dom.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  assert.is(host.shutdownReason(g.dom.domid), 2, "suspended");
  const x = host.core.x, d = g.dom.domid, v = host.core.view();
  const setDr = (i: number, val: bigint) => {
    v.setBigUint64(x.hv_vcpu_addr(d, 0) + MM.CPU_DR + i * 8, val, true);
    v.setBigUint64(MM.CPU_STATE + MM.CPU_DR + i * 8, val, true); // the loaded copy, if it is loaded
  };
  setDr(0, 0x7fff0000n);
  setDr(7, 0x000d0401n); // L0, write, 4 bytes
  const good = saveDomain(host, d);
  const b = await XenHost.create(256);
  const r = restoreDomain(b, good);
  const bv = b.core.view(), a = b.core.x.hv_vcpu_addr(r.domid, 0);
  assert.is(bv.getBigUint64(a + MM.CPU_DR, true), 0x7fff0000n, "DR0 carried");
  assert.is(bv.getBigUint64(a + MM.CPU_DR7, true), 0x000d0401n, "DR7 carried");
  for (const [i, bad] of [[0, 0xffff800000001000n], [2, 0x0000800000000000n], [6, 1n << 32n], [7, 0x2400n]] as const) {
    setDr(0, 0n); setDr(2, 0n); setDr(6, 0xffff0ff0n); setDr(7, 0x400n);
    setDr(i, bad);
    const c = await XenHost.create(256);
    assert.throws(
      () => restoreDomain(c, saveDomain(host, d)),
      /refused the saved state: VCPU record 0: its debug registers are refused/, `DR${i} = ${bad.toString(16)}`
    );
  }
  assert.is(x.hv_domain_destroy(d), 0);
});

// One guest per mechanism; each prints "ok:"/"FAIL:" lines and "<name>: PASSED" before powering off.
for (const name of ["traps", "events", "mmu", "ptwr", "memory", "hcpage", "gntv2", "fifo", "debug"]) {
  for (const bits of [64, 32] as const) {
    test(`PV ${name} guest (${bits}-bit)`, async () => {
      const r = await runGuest(name, bits);
      const fails = r.output.split("\n").filter((l) => l.startsWith("FAIL"));
      assert.equal(fails, [], r.output + r.host.dmesg());
      assert.match(r.output, `${name}: PASSED`, r.output + r.host.dmesg());
      assert.is(r.reason, 0, "poweroff");
      // (Checks added since: that they ran.)
      const ran: Record<string, string[]> = {
        debug: [
          "ok: console_io reading a watched buffer: no #DB", "ok: xen_version writing into a watched buffer: no #DB",
          "ok: alloc_unbound with its argument watched: no #DB", "ok: the guest's own read of them: #DB, B1"],
        fifo: [
          "ok: unmasked flood: 20000 sends, each delivered once at once (0 not)", "ok: masked bursts: 100 x 256 sends"
        ],
      };
      for (const l of ran[name] ?? []) assert.match(r.output, l, r.output);
    });
  }
}

// The domain watchdog (SCHEDOP_watchdog): Xen's ids and errors; poked, the domain runs on; left alone, it
// is shut down with SHUTDOWN_watchdog (xend then applies on_poweroff, as xl's on_watchdog defaults to destroy).
for (const bits of [64, 32] as const) {
  test(`PV wdog guest (${bits}-bit): the domain watchdog fires once no longer poked`, async () => {
    const r = await runGuest("wdog", bits, 16, 30000);
    assert.equal(r.output.split("\n").filter((l) => l.startsWith("FAIL")), [], r.output + r.host.dmesg());
    assert.match(r.output, "wdog: PASSED, no more pokes", r.output + r.host.dmesg());
    assert.is(r.state, DS_SHUTDOWN, r.output);
    assert.is(r.reason, SHUTDOWN_watchdog, "shut down by its watchdog");
    assert.match(r.host.dmesg(), "watchdog timer 0 fired");
  });
}

test("PV user mode (64-bit): user page tables, SYSCALL to the "
    + "kernel's callback, SYSENTER (#GP, then its callback), user " + "#PF", async () => {
  const r = await runGuest("user", 64);
  assert.equal(r.output.split("\n").filter((l) => l.startsWith("FAIL")), [], r.output + r.host.dmesg());
  assert.match(r.output, "user: PASSED", r.output + r.host.dmesg());
  assert.is(r.reason, 0);
});

test("a spinning guest cannot starve another: both get the CPU (instruction-count slices)", async () => {
  const host = await XenHost.create(256);
  const spin = await startGuest(host, "spin", 64);
  const hello = await startGuest(host, "hello", 32);
  const t0 = Date.now();
  await host.runUntil(() => host.state(hello.dom.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  assert.match(spin.out(), "spinning");
  assert.match(hello.out(), "Hello from a xenwasm PV guest (32-bit)");
  assert.is(host.state(hello.dom.domid), DS_SHUTDOWN, "the other guest finished");
  assert.is(host.state(spin.dom.domid), DS_RUNNING, "the spinner still runs");
  assert.ok(host.core.x.hv_domain_insns(spin.dom.domid) > 0n);
  host.core.x.hv_domain_destroy(spin.dom.domid);
});

test("PV user mode (32-bit): ring 3 through iret, INT $0x80 to "
    + "the ring-1 kernel, SYSENTER (#GP, then its callback), #GP " + "and #PF from ring 3", async () => {
  const r = await runGuest("user32", 32);
  assert.equal(r.output.split("\n").filter((l) => l.startsWith("FAIL")), [], r.output + r.host.dmesg());
  assert.match(r.output, "user32: PASSED", r.output + r.host.dmesg());
  assert.is(r.reason, 0);
});

test("a domain's clock can be set (restore): its time, timers and polls follow the offset", async () => {
  const host = await XenHost.create(256);
  const g = await startGuest(host, "events", 64);
  host.core.x.hv_domain_set_time(g.dom.domid, 500_000_000_000n);
  const t0 = Date.now();
  await host.runUntil(() => host.state(g.dom.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  const m = /system time runs \((\d+) ns\)/.exec(g.out());
  assert.ok(m && Number(m[1]) >= 500e9, g.out());
  assert.match(g.out(), "events: PASSED", g.out() + host.dmesg());
  assert.ok(host.core.x.hv_domain_time(g.dom.domid) >= 500_000_000_000n);
});

// bzImage: a setup header ("HdrS" at 0x202) with the ELF as a compressed payload.
function bzImage(payload: Uint8Array): Uint8Array {
  const setupSects = 4;
  const off = (setupSects + 1) * 512;
  const img = new Uint8Array(off + payload.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  img.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint32(0x248, 0, true);
  dv.setUint32(0x24c, payload.length, true);
  img.set(payload, off);
  return img;
}

for (const [fmt, pack] of [
  ["gzip", (b: Uint8Array) => new Uint8Array(gzipSync(b))],
  ["xz", (b: Uint8Array) => new Uint8Array(execFileSync("xz", ["-c", "--check=crc32"], { input: b }))],
  ["zstd", (b: Uint8Array) => new Uint8Array(execFileSync("zstd", ["-c", "-q"], { input: b }))],
] as const) {
  test(`a bzImage with a ${fmt} payload boots`, async () => {
    const host = await XenHost.create(256);
    const elf = new Uint8Array(readFileSync(guestPath("hello", 64)));
    const dom = host.createDomain("bz", bzImage(pack(elf)), { memoryMiB: 16 });
    let out = "";
    dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING);
    assert.match(out, "Hello from a xenwasm PV guest (64-bit)");
    assert.throws(
      () => host.createDomain("bad", bzImage(new Uint8Array([1, 2, 3, 4, 5, 6])), { memoryMiB: 16 }),
      /unknown compression/
    );
  });
}

// Two domains: grants (map, read-only, copy, refusals) and an interdomain event channel.
for (const bits of [64, 32] as const) {
  test(`two PV domains share a page through grants and signal each other (${bits}-bit)`, async () => {
    const r = await runPair("share", bits);
    for (const [i, role] of ["a", "b"].entries()) {
      assert.equal(r.out[i].split("\n").filter((l) => l.startsWith("FAIL")), [], r.out[i] + r.host.dmesg());
      assert.match(r.out[i], `share-${role}: PASSED`, r.out[i] + r.host.dmesg());
      assert.is(r.reasons[i], 0);
    }
    // Both gone: every frame is back.
    const x = r.host.core.x;
    const free0 = x.hv_frames_free();
    const owned = x.hv_frames_owned(1) + x.hv_frames_owned(2);
    x.hv_domain_destroy(1); x.hv_domain_destroy(2);
    assert.is(x.hv_frames_free(), free0 + owned);
  });
}

// The block backend against our own blkfront (guests/pv/blk.c): both request ABIs, indirect
// descriptors, and malformed requests answered with errors while the disk stays connected.
for (const bits of [64, 32] as const) for (const v2 of [false, true]) {
  test(`PV block frontend (${bits}-bit, ` + `${bits === 64 ? "x86_64" : "x86_32"}-abi, grant table `
      + `v${v2 ? 2 : 1}): reads, indirect reads and writes, ` + `malformed requests refused`, async () => {
    mkdirSync("tests/build", { recursive: true });
    const img = `tests/build/blk-${bits}${v2 ? "-v2" : ""}.img`;
    const disk = new Uint8Array(1 << 20);
    for (let i = 0; i < disk.length; i++) disk[i] = (i >> 9) & 0xff; // each sector holds its number
    writeFileSync(img, disk);
    const host = await XenHost.create(256);
    const dom = host.createDomain(
      `blk${bits}`, new Uint8Array(readFileSync(guestPath("blk", bits))),
      { memoryMiB: 16, disks: [{ path: img, vdev: "xvda", writable: true }], cmdline: v2 ? "gntv2=1" : "" }
    );
    let out = "";
    dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
    const t0 = Date.now();
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 30000);
    assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out + host.dmesg());
    assert.match(out, "blk: PASSED", out);
    // v2 entries were what it used
    if (v2) assert.match(out, "ok: the backend maps the ring: status 18, entry flags 1", out);
    assert.is(host.shutdownReason(dom.domid), 0, "poweroff");
    const after = readFileSync(img);
    for (let k = 0; k < 16; k++) assert.ok(
      after.subarray((64 + k) * 512, (65 + k) * 512).every((b) => b === 200 + k),
      `the indirect write reached sector ${64 + k} of the image`
    );
  });
}


test.run();
