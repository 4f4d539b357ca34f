// The xenbus backend base (host/devices/xenbus/backend.ts) through the block backend and the console
// backend against a fake guest memory (tests/lib/fakecore.ts): the handshake and its keys, a request
// served, Closing/Closed and a restart, hostile frontends refused without retries, hot-unplug, and
// the primary console's rings. (The net backend's side: tests/net.test.ts.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { XenStore } from "../host/devices/xenstore";
import { populateDomain } from "../host/devices/xenstore/domain";
import { XenbusState as XB } from "../host/devices/xenbus/backend";
import { BlkBack, BLKIF_OP_READ, BLKIF_OP_WRITE } from "../host/devices/block/blkback";
import { MemoryBlockDevice } from "../host/devices/block/memory";
import { ConsoleBack } from "../host/devices/console/consback";
import { FakeCore } from "./lib/fakecore";

const D = 5;
const RING = 1, BUF = 2; // frames: the ring, a data buffer
const FE = `/local/domain/${D}/device/vbd/51712`, BE = `/local/domain/0/backend/vbd/${D}/51712`;

function blkSetup(writable = true) {
  const core = new FakeCore(D);
  const xs = new XenStore();
  populateDomain(xs, D, "fake");
  xs.introduce(D);
  const disk = MemoryBlockDevice.ofSize(64 * 512);
  for (let i = 0; i < disk.bytes.length; i++) disk.bytes[i] = (i * 7) & 255;
  const b = new BlkBack(core, xs, D, { path: "mem", vdev: "xvda", writable, device: disk });
  core.grants.set(8, { mfn: RING, ro: false });
  core.grants.set(9, { mfn: BUF, ro: false });
  const be = (k: string) => xs.readString(`${BE}/${k}`);
  const keys = (o: Record<string, string>) => { for (const [k, v] of Object.entries(o)) xs.write(`${FE}/${k}`, v); };
  return { core, xs, disk, b, be, keys };
}

/** One request (x86_64 layout) of `op` on `sector`, one segment of sectors 0-1 of the buffer frame; its response. */
function request(
  t: ReturnType<typeof blkSetup>, op: number, sector: number, id: bigint
): { id: bigint; op: number; status: number } {
  const v = t.core.view(), r = RING * 4096;
  const prod = v.getUint32(r, true);
  const e = r + 64 + (prod % 32) * 112;
  v.setUint8(e, op); v.setUint8(e + 1, 1);
  v.setBigUint64(e + 8, id, true); v.setBigUint64(e + 16, BigInt(sector), true);
  v.setUint32(e + 24, 9, true); v.setUint8(e + 28, 0); v.setUint8(e + 29, 1);
  v.setUint32(r, prod + 1, true);
  t.b.poll();
  assert.is(v.getUint32(r + 8, true), prod + 1, "one response");
  return { id: v.getBigUint64(e, true), op: v.getUint8(e + 8), status: v.getInt16(e + 10, true) };
}

test("xenbus/blkback: the handshake and its keys, a read and a write, Closing/Closed and a restart", () => {
  const t = blkSetup();
  assert.is(t.be("state"), String(XB.InitWait));
  assert.is(t.be("online"), "1");
  assert.is(t.be("frontend"), FE);
  assert.is(t.be("frontend-id"), String(D));
  assert.is(t.be("sectors"), "64");
  assert.is(t.be("mode"), "w");
  assert.is(t.xs.readString(`${FE}/backend`), BE);
  assert.is(t.xs.readString(`${FE}/virtual-device`), "51712");
  assert.is(t.xs.readString(`${FE}/state`), String(XB.Initialising));
  t.b.poll();
  assert.is(t.be("state"), String(XB.InitWait), "nothing happens before the frontend is ready");
  t.keys({ "ring-ref": "8", "event-channel": "3", protocol: "x86_64-abi", state: String(XB.Initialised) });
  t.b.poll();
  assert.is(t.be("state"), String(XB.Connected));
  assert.is(t.core.live.size, 1, "the ring mapped");
  const rd = request(t, BLKIF_OP_READ, 2, 77n);
  assert.equal(rd, { id: 77n, op: BLKIF_OP_READ, status: 0 });
  assert.equal(
    t.core.mem.subarray(BUF * 4096, BUF * 4096 + 1024), t.disk.bytes.subarray(1024, 2048), "sectors 2-3 read"
  );
  t.core.mem.fill(0xab, BUF * 4096, BUF * 4096 + 1024);
  assert.is(request(t, BLKIF_OP_WRITE, 10, 78n).status, 0);
  assert.ok(t.disk.bytes.subarray(5120, 6144).every((x) => x === 0xab), "sectors 10-11 written");
  assert.ok(t.core.sends.includes(103), "the frontend notified on dom0's end of its channel");
  t.keys({ state: String(XB.Closing) });
  t.b.poll();
  assert.is(t.be("state"), String(XB.Closing), "Closing answered with Closing");
  assert.is(t.core.live.size, 0, "ring unmapped");
  assert.equal(t.core.closed, [103], "channel closed");
  t.keys({ state: String(XB.Closed) });
  t.b.poll();
  assert.is(t.be("state"), String(XB.Closed));
  t.keys({ state: String(XB.Initialising) });
  t.b.poll();
  assert.is(t.be("state"), String(XB.InitWait), "the frontend starts over");
  t.keys({ state: String(XB.Connected) });
  t.b.poll();
  assert.is(t.be("state"), String(XB.Connected));
  t.b.close();
  assert.is(t.core.live.size, 0);
  assert.is(t.be("state"), undefined, "the backend directory is removed");
});

test("xenbus/blkback: a read-only disk refuses writes", () => {
  const t = blkSetup(false);
  assert.is(t.be("mode"), "r");
  t.keys({ "ring-ref": "8", "event-channel": "3", state: String(XB.Connected) });
  t.b.poll();
  assert.is(request(t, BLKIF_OP_WRITE, 0, 1n).status, -1);
  assert.is(request(t, BLKIF_OP_READ, 0, 2n).status, 0);
});

test("xenbus/blkback: bad ring references, channels or protocols "
    + "are refused (Closing, error), without retries, until the " + "frontend starts over", () => {
  const bad: [string, string][] = [
    ["ring-ref", "x"], ["ring-ref", ""], ["ring-ref", "99"], ["event-channel", "55"], ["event-channel", "-1"],
    ["protocol", "x86_16-abi"],
  ];
  for (const [k, v] of bad) {
    const t = blkSetup();
    t.keys({ "ring-ref": "8", "event-channel": "3", [k]: v, state: String(XB.Initialised) });
    let maps = 0;
    const map = t.core.x.hv_gnt_map;
    t.core.x.hv_gnt_map = (g, ref, ro) => { maps++; return map(g, ref, ro); };
    t.b.poll();
    const tries = maps;
    t.b.poll(); t.b.poll();
    assert.is(maps, tries, `${k}=${v}: no retry`);
    assert.is(t.be("state"), String(XB.Closing), `${k}=${v}`);
    assert.ok((t.be("error") ?? "").length > 0, `${k}=${v}: error written`);
    assert.is(t.core.live.size, 0, `${k}=${v}: nothing left mapped`);
    assert.is(t.b.connected, false);
    // The frontend gives up and starts over with good keys.
    t.keys({ state: String(XB.Closed) });
    t.b.poll();
    assert.is(t.be("state"), String(XB.Closed));
    t.keys({ "ring-ref": "8", "event-channel": "3", protocol: "x86_64-abi", state: String(XB.Initialising) });
    t.b.poll();
    assert.is(t.be("state"), String(XB.InitWait));
    t.keys({ state: String(XB.Connected) });
    t.b.poll();
    assert.is(t.be("state"), String(XB.Connected), `${k}=${v}: reconnected`);
    assert.is(t.b.fault, undefined);
  }
});

test("xenbus/blkback: a hostile producer index is skipped, not followed", () => {
  const t = blkSetup();
  t.keys({ "ring-ref": "8", "event-channel": "3", state: String(XB.Connected) });
  t.b.poll();
  t.core.view().setUint32(RING * 4096, 1000, true);
  t.b.poll();
  assert.is(t.core.view().getUint32(RING * 4096 + 8, true), 0, "no responses");
  assert.is(t.b.requests, 0);
});

test("xenbus: hot-unplug (requestClose, frontendReleased, cancelClose, remove)", () => {
  const t = blkSetup();
  t.keys({ "ring-ref": "8", "event-channel": "3", state: String(XB.Connected) });
  t.b.poll();
  assert.is(t.b.frontendReleased(), false, "a connected frontend holds the device");
  t.b.requestClose();
  assert.is(t.be("online"), "0");
  assert.is(t.be("state"), String(XB.Closing));
  t.b.cancelClose();
  assert.is(t.be("online"), "1");
  assert.is(t.be("state"), String(XB.Connected), "a cancelled detach stands where it stood");
  t.b.requestClose();
  t.keys({ state: String(XB.Closing) });
  t.b.poll();
  assert.is(t.b.frontendReleased(), true);
  t.b.remove();
  assert.is(t.core.live.size, 0);
  assert.is(t.xs.readString(FE), undefined, "the frontend directory is removed");
  assert.is(t.xs.readString(`/local/domain/0/backend/vbd/${D}`), undefined, "and the backend's, with its empty parent");
  assert.is(t.xs.readString(`/local/domain/${D}/device/vbd`), undefined);
  assert.is(t.b.poll(), false, "a removed backend does nothing");
  // A device whose frontend never connected is released at once.
  const u = blkSetup();
  assert.is(u.b.frontendReleased(), true);
});

test("xenbus/console: output drained and notified, input typed, a hostile index skipped, the channel released at close",
  () => {
  const core = new FakeCore(D);
  const xs = new XenStore();
  populateDomain(xs, D, "fake", { consoleRef: 3, consolePort: 2 });
  const got: string[] = [];
  const c =
    new ConsoleBack(core, xs, D, { ringMa: 3 * 4096, hostPort: 42 }, (b) => got.push(new TextDecoder().decode(b)));
  assert.is(c.feDir, `/local/domain/${D}/console`);
  assert.is(c.connected, true, "connected by the domain builder");
  const v = core.view(), base = 3 * 4096;
  const put = (s: string) => {
    let prod = v.getUint32(base + 3084, true);
    for (const ch of new TextEncoder().encode(s)) { core.mem[base + 1024 + (prod & 2047)] = ch; prod++; }
    v.setUint32(base + 3084, prod, true);
  };
  put("hello\n");
  assert.is(c.poll(), true);
  assert.equal(got, ["hello\n"]);
  assert.equal(core.sends, [42]);
  assert.is(c.poll(), false, "nothing new");
  xs.write(`${c.feDir}/state`, String(XB.Closing)); // the guest's own directory: not a handshake
  put("more");
  c.poll();
  assert.equal(got, ["hello\n", "more"], "the frontend's state is not followed");
  v.setUint32(base + 3084, v.getUint32(base + 3080, true) + 5000, true);
  assert.is(c.poll(), false);
  assert.equal(got.length, 2, "an impossible index is skipped");
  assert.is(c.input(new TextEncoder().encode("ls\n")), 3);
  assert.equal([...core.mem.subarray(base, base + 3)], [...new TextEncoder().encode("ls\n")]);
  assert.is(v.getUint32(base + 3076, true), 3);
  assert.is(c.input(new Uint8Array(2000)), 1021, "the input ring holds 1024");
  c.close();
  assert.equal(core.closed, [42]);
  c.close();
  assert.equal(core.closed, [42], "released once");
  assert.is(c.input(new Uint8Array(1)), 0, "a closed console takes nothing");
});

test.run();
