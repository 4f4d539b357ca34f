// The PV network: the learning bridge (host/devices/net/bridge.ts), the backend's ring handling
// against a fake guest memory (host/devices/net/netback.ts), checksum completion, and our netfront
// test guest (guests/pv/net.c) in pairs of domains exchanging frames through the host's bridge, plus a
// hostile frontend.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { Bridge, BridgeEndpoint, Frame, macBytes, macString } from "../host/devices/net/bridge";
import {
  NetBack, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_more_data, NETTXF_extra_info, NETTXF_csum_blank,
  NETRXF_more_data, NETRXF_csum_blank, NETRXF_data_validated,
} from "../host/devices/net/netback";
import { completeChecksum, l4ChecksumOk } from "../host/devices/net/csum";
import { XenbusState as XB } from "../host/devices/xenbus/backend";
import * as V from "./lib/vectors";
import { FakeCore as FakeCoreOf } from "./lib/fakecore";
import { XenStore } from "../host/devices/xenstore";
import { populateDomain } from "../host/devices/xenstore/domain";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { Xend } from "../host/xend/daemon";
import { parseConfig } from "../host/xend/config";
import { DS_RUNNING, DS_SHUTDOWN } from "../assembly/records";

// ---------------------------------------------------------------- helpers

/** An Ethernet frame dst <- src with a payload. */
function eth(dst: string, src: string, payload = "x", type = 0x88b5): Uint8Array {
  const p = new TextEncoder().encode(payload);
  const f = new Uint8Array(Math.max(60, 14 + p.length));
  f.set(macBytes(dst), 0); f.set(macBytes(src), 6);
  f[12] = type >> 8; f[13] = type & 255;
  f.set(p, 14);
  return f;
}
const BCAST = "ff:ff:ff:ff:ff:ff";
const A = "00:16:3e:00:00:0a", B = "00:16:3e:00:00:0b", C = "00:16:3e:00:00:0c";

class Sink implements BridgeEndpoint {
  got: Frame[] = [];
  constructor(readonly name: string, readonly noCsumBlank = false) {}
  deliver(f: Frame): void { this.got.push({ ...f, data: f.data.slice() }); }
  from(): string[] { return this.got.map((f) => macString(f.data, 6)); }
}

function bridge3(now = { t: 0 }) {
  const br = new Bridge("xenbr0", { ageingMs: 1000, now: () => now.t });
  const s = [new Sink("p1"), new Sink("p2"), new Sink("p3")];
  const p = s.map((x) => br.attach(x));
  return { br, s, p, now };
}

// ---------------------------------------------------------------- bridge

test("bridge: broadcast floods to every other port, never back to its source", () => {
  const { s, p, br } = bridge3();
  p[0].input({ data: eth(BCAST, A) });
  assert.equal(s.map((x) => x.got.length), [0, 1, 1]);
  assert.is(br.stats.flooded, 1);
  // Multicast floods too.
  p[1].input({ data: eth("01:00:5e:00:00:01", B) });
  assert.equal(s.map((x) => x.got.length), [1, 1, 2]);
});

test("bridge: learns source addresses; known unicast goes to one port, unknown unicast floods", () => {
  const { s, p, br } = bridge3();
  p[0].input({ data: eth(B, A) }); // B unknown: flood
  assert.equal(s.map((x) => x.got.length), [0, 1, 1]);
  p[1].input({ data: eth(A, B) }); // A learnt on port 1: only there
  assert.equal(s.map((x) => x.got.length), [1, 1, 1]);
  p[0].input({ data: eth(B, A) }); // B learnt on port 2 now
  assert.equal(s.map((x) => x.got.length), [1, 2, 1]);
  assert.is(br.lookup(A)?.id, p[0].id);
  assert.is(br.lookup(B)?.id, p[1].id);
  assert.is(br.lookup(C), undefined);
  assert.equal(br.table().map((e) => e.mac).sort(), [A, B]);
  assert.is(br.stats.forwarded, 2);
});

test("bridge: a frame for an address on its own port is filtered; stations that move are re-learnt", () => {
  const { s, p, br } = bridge3();
  p[0].input({ data: eth(BCAST, A) });
  p[0].input({ data: eth(A, C) }); // A is on port 1 itself
  assert.equal(s.map((x) => x.got.length), [0, 1, 1]);
  assert.is(br.stats.filtered, 1);
  p[2].input({ data: eth(BCAST, A) }); // A moved to port 3
  assert.is(br.lookup(A)?.id, p[2].id);
  p[1].input({ data: eth(A, B) });
  assert.equal(s[2].from().at(-1), B);
});

test("bridge: learnt addresses age out, then their unicast floods again", () => {
  const now = { t: 0 };
  const { s, p, br } = bridge3(now);
  p[0].input({ data: eth(BCAST, A) });
  now.t = 900;
  p[1].input({ data: eth(A, B) });
  assert.equal(s.map((x) => x.got.length), [1, 1, 1]);
  now.t = 2000; // A last seen at 0: gone
  assert.is(br.lookup(A), undefined);
  p[1].input({ data: eth(A, B) });
  assert.equal(s.map((x) => x.got.length), [2, 1, 2]);
  br.expire();
  assert.equal(br.table().map((e) => e.mac), [B]);
});

test("bridge: invalid frames are dropped (runts, multicast or zero sources); detached ports are forgotten", () => {
  const { s, p, br } = bridge3();
  p[0].input({ data: new Uint8Array(10) });
  p[0].input({ data: eth(BCAST, "01:00:00:00:00:01") });
  p[0].input({ data: eth(BCAST, "00:00:00:00:00:00") });
  assert.equal(s.map((x) => x.got.length), [0, 0, 0]);
  assert.is(br.stats.dropped, 3);
  p[1].input({ data: eth(BCAST, B) });
  p[1].detach();
  assert.is(br.lookup(B), undefined);
  p[0].input({ data: eth(B, A) }); // floods, but not to the detached port
  assert.equal(s.map((x) => x.got.length), [1, 0, 2]);
  p[1].input({ data: eth(BCAST, B) }); // a detached port sends nothing
  assert.equal(s.map((x) => x.got.length), [1, 0, 2]);
});

test("bridge: the learning table is bounded; a full table floods instead of learning", () => {
  const br = new Bridge("xenbr0", { maxEntries: 2 });
  const s = [new Sink("a"), new Sink("b")];
  const p = s.map((x) => br.attach(x));
  p[0].input({ data: eth(BCAST, A) });
  p[0].input({ data: eth(BCAST, B) });
  p[0].input({ data: eth(BCAST, C) });
  assert.is(br.table().length, 2);
  assert.is(br.lookup(C), undefined);
});

test("bridge: one host port (the uplink hook) takes frames like any port, with checksums completed", () => {
  const { br, s, p } = bridge3();
  const up = new Sink("uplink", true);
  const hp = br.attachHost(up);
  assert.is(br.host, hp);
  assert.throws(() => br.attachHost(new Sink("another")));
  const pkt = udp4();
  p[0].input({ data: pkt, csumBlank: true });
  assert.is(up.got.length, 1);
  assert.ok(l4ChecksumOk(up.got[0].data), "the uplink got a completed checksum");
  assert.is(up.got[0].csumBlank, undefined);
  assert.is(s[1].got[0].csumBlank, true, "a vif that takes blank checksums gets the frame as sent");
  assert.ok(!l4ChecksumOk(pkt), "the sender's frame is untouched");
  hp.input({ data: eth(A, C) }); // from the host side: learnt like any source
  assert.is(br.lookup(C), hp);
  hp.detach();
  assert.is(br.host, undefined);
});

// ---------------------------------------------------------------- checksums

/** A UDP/IPv4 frame whose checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL). */
function udp4(): Uint8Array {
  const payload = new TextEncoder().encode("hello, checksum!!");
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  f.set(macBytes(BCAST), 0); f.set(macBytes(A), 6); f[12] = 8; f[13] = 0;
  const ip = 14, l4 = 34, ulen = 8 + payload.length;
  f[ip] = 0x45; f[ip + 2] = (20 + ulen) >> 8; f[ip + 3] = (20 + ulen) & 255; f[ip + 8] = 64; f[ip + 9] = 17;
  f.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  f[l4] = 0x12; f[l4 + 1] = 0x34; f[l4 + 2] = 0x00; f[l4 + 3] = 0x35; f[l4 + 4] = ulen >> 8; f[l4 + 5] = ulen & 255;
  f.set(payload, l4 + 8);
  // Pseudo header: src, dst, proto, length (folded, not complemented).
  let s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + ulen;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[l4 + 6] = s >> 8; f[l4 + 7] = s & 255;
  return f;
}

test("checksum completion: a CHECKSUM_PARTIAL UDP/IPv4 frame gets a correct checksum; others are left alone", () => {
  const f = udp4();
  assert.ok(!l4ChecksumOk(f));
  assert.ok(completeChecksum(f));
  assert.ok(l4ChecksumOk(f));
  const arp = eth(BCAST, A, "arp?", 0x0806);
  const copy = arp.slice();
  assert.ok(!completeChecksum(arp));
  assert.equal(arp, copy);
  assert.ok(!completeChecksum(new Uint8Array(20)));
});

test("checksum completion: known answers from packets Linux wrote "
    + "(its checksums, from the pseudo-header sums offload leaves)", () => {
  for (const [pkt, at, partial, sum] of [
    [V.LINUX_UDP, 20 + 6, V.PARTIAL.udp, V.LINUX_SUMS.udp], [V.LINUX_TCP_SYN, 20 + 16, V.PARTIAL.tcp, V.LINUX_SUMS.tcp],
  ] as const) {
    const linux = V.inEthernet(pkt);
    assert.ok(l4ChecksumOk(linux), "Linux's own checksum is accepted");
    const f = linux.slice();
    f[14 + at] = partial >> 8; f[14 + at + 1] = partial & 0xff;
    assert.not.ok(l4ChecksumOk(f));
    assert.ok(completeChecksum(f));
    assert.is((f[14 + at] << 8) | f[14 + at + 1], sum, "the checksum Linux computed");
    assert.equal(f, linux);
    const bad = linux.slice(); bad[bad.length - 1] ^= 1;
    assert.not.ok(l4ChecksumOk(bad));
  }
  // With an 802.1Q tag the same packet completes to the same checksum.
  const u = V.inEthernet(V.LINUX_UDP);
  const tagged = new Uint8Array(u.length + 4);
  tagged.set(u.subarray(0, 12), 0); tagged.set([0x81, 0x00, 0x00, 0x05], 12); tagged.set(u.subarray(12), 16);
  tagged[18 + 26] = V.PARTIAL.udp >> 8; tagged[18 + 27] = V.PARTIAL.udp & 0xff;
  assert.ok(completeChecksum(tagged));
  assert.is((tagged[18 + 26] << 8) | tagged[18 + 27], V.LINUX_SUMS.udp);
});

// ---------------------------------------------------------------- the backend against a fake guest

const D = 7;
class FakeCore extends FakeCoreOf {
  constructor() { super(D); }
}

const TXR = 1, RXR = 2; // ring frames; buffers from frame 4
const u32 = (c: FakeCore, a: number) => c.view().getUint32(a, true);
const setU32 = (c: FakeCore, a: number, v: number) => c.view().setUint32(a, v >>> 0, true);

function vifSetup(o: { sg?: boolean; noCsum?: boolean } = {}) {
  const core = new FakeCore();
  const xs = new XenStore();
  populateDomain(xs, D, "fake");
  xs.introduce(D);
  const br = new Bridge();
  const peer = new Sink("peer");
  const pp = br.attach(peer);
  const nb = new NetBack(core, xs, D, 0, br, { mac: A });
  const fe = `/local/domain/${D}/device/vif/0`, be = `/local/domain/0/backend/vif/${D}/0`;
  // ref 8 -> frame 1, 9 -> 2, 10.. -> 3..
  for (let r = 0; r < 20; r++) core.grants.set(8 + r, { mfn: r + 1, ro: false });
  const connect = () => {
    for (const p of [TXR, RXR]) {
      core.mem.fill(0, p * 4096, p * 4096 + 4096); setU32(core, p * 4096 + 4, 1); setU32(core, p * 4096 + 12, 1);
    }
    xs.write(`${fe}/tx-ring-ref`, "8"); xs.write(`${fe}/rx-ring-ref`, "9");
    xs.write(`${fe}/event-channel`, "3"); xs.write(`${fe}/request-rx-copy`, "1");
    if (o.sg) xs.write(`${fe}/feature-sg`, "1");
    if (o.noCsum) xs.write(`${fe}/feature-no-csum-offload`, "1");
    xs.write(`${fe}/state`, "4");
    nb.poll();
  };
  let txProd = 0, rxProd = 0, txCons = 0, rxCons = 0;
  /** Post tx slots {gref, offset, flags, id, size} (or raw extra-info bytes). */
  const tx = (...slots: ({ gref: number; offset: number; flags: number; id: number; size: number } | Uint8Array)[]) => {
    const v = core.view();
    for (const s of slots) {
      const e = TXR * 4096 + 64 + (txProd % 256) * 12;
      if (s instanceof Uint8Array) core.mem.set(s, e);
      else {
        v.setUint32(e, s.gref, true); v.setUint16(e + 4, s.offset, true); v.setUint16(e + 6, s.flags, true);
        v.setUint16(e + 8, s.id, true); v.setUint16(e + 10, s.size, true);
      }
      txProd++;
    }
    setU32(core, TXR * 4096, txProd);
  };
  const txRsps = () => {
    const out: { id: number; status: number }[] = [];
    const v = core.view();
    for (const prod = u32(core, TXR * 4096 + 8); txCons !== prod; txCons++) {
      const e = TXR * 4096 + 64 + (txCons % 256) * 12;
      out.push({ id: v.getUint16(e, true), status: v.getInt16(e + 2, true) });
    }
    return out;
  };
  const rxPost = (id: number, gref: number) => {
    const v = core.view();
    const e = RXR * 4096 + 64 + (rxProd % 256) * 8;
    v.setUint16(e, id, true); v.setUint32(e + 4, gref, true);
    setU32(core, RXR * 4096, ++rxProd);
  };
  const rxRsps = () => {
    const out: { id: number; offset: number; flags: number; status: number }[] = [];
    const v = core.view();
    for (const prod = u32(core, RXR * 4096 + 8); rxCons !== prod; rxCons++) {
      const e = RXR * 4096 + 64 + (rxCons % 256) * 8;
      out.push({
        id: v.getUint16(e, true), offset: v.getUint16(e + 2, true), flags: v.getUint16(e + 4, true),
        status: v.getInt16(e + 6, true)
      });
    }
    return out;
  };
  /** Frame k's bytes. */
  const page = (k: number) => core.mem.subarray(k * 4096, k * 4096 + 4096);
  return { core, xs, br, peer, pp, nb, fe, be, connect, tx, txRsps, rxPost, rxRsps, page };
}

test("netback: the xenbus handshake (InitWait, the frontend's keys, Connected), Closing/Closed and a restart", () => {
  const t = vifSetup();
  const r = (k: string) => t.xs.readString(`${t.be}/${k}`);
  assert.is(r("state"), String(XB.InitWait));
  assert.is(r("feature-rx-copy"), "1");
  assert.is(r("feature-sg"), "1");
  assert.is(r("mac"), A);
  assert.is(r("frontend-id"), String(D));
  assert.is(t.xs.readString(`${t.fe}/backend`), t.be);
  assert.is(t.xs.readString(`${t.fe}/mac`), A);
  assert.is(t.xs.readString(`${t.fe}/state`), String(XB.Initialising));
  t.nb.poll();
  assert.is(r("state"), String(XB.InitWait), "nothing happens before the frontend is ready");
  t.connect();
  assert.is(r("state"), String(XB.Connected));
  assert.is(t.core.live.size, 2, "both rings mapped");
  t.xs.write(`${t.fe}/state`, String(XB.Closing));
  t.nb.poll();
  assert.is(
    r("state"), String(XB.Closing),
    "Closing answered with Closing, as Linux's netback (a frontend at shutdown waits for it)"
  );
  assert.is(t.core.live.size, 0, "rings unmapped");
  t.nb.poll();
  assert.is(r("state"), String(XB.Closing), "and it stays there while the frontend is Closing");
  t.xs.write(`${t.fe}/state`, String(XB.Closed));
  t.nb.poll();
  assert.is(r("state"), String(XB.Closed));
  t.xs.write(`${t.fe}/state`, String(XB.Initialising));
  t.nb.poll();
  assert.is(r("state"), String(XB.InitWait));
  t.connect();
  assert.is(r("state"), String(XB.Connected));
  t.nb.close();
  assert.is(t.core.live.size, 0);
  assert.is(r("state"), undefined, "the backend directory is removed");
  assert.is(t.br.portList().length, 1);
});

test(
  "netback: a frontend without rx-copy, or with bad ring references or channels, is refused (Closing), without retries",
  () => {
  for (
    const [k, v] of [["request-rx-copy", "0"], ["tx-ring-ref", "99"], ["rx-ring-ref", "x"], ["event-channel", "55"]]
  ) {
    const t = vifSetup();
    t.xs.write(`${t.fe}/tx-ring-ref`, "8"); t.xs.write(`${t.fe}/rx-ring-ref`, "9");
    t.xs.write(`${t.fe}/event-channel`, "3"); t.xs.write(`${t.fe}/request-rx-copy`, "1");
    t.xs.write(`${t.fe}/${k}`, v);
    t.xs.write(`${t.fe}/state`, "4");
    t.nb.poll(); t.nb.poll();
    assert.is(t.xs.readString(`${t.be}/state`), String(XB.Closing), `${k}=${v}`);
    assert.ok((t.xs.readString(`${t.be}/error`) ?? "").length > 0);
    assert.is(t.core.live.size, 0, "nothing left mapped");
  }
});

test("netback tx: a packet is copied out of its granted page to the bridge and answered OKAY", () => {
  const t = vifSetup();
  t.connect();
  const f = eth(BCAST, A, "hello from the guest");
  t.page(4).set(f, 100);
  t.tx({ gref: 11, offset: 100, flags: NETTXF_csum_blank, id: 42, size: f.length });
  t.nb.poll();
  assert.equal(t.txRsps(), [{ id: 42, status: NETIF_RSP_OKAY }]);
  assert.is(t.peer.got.length, 1);
  assert.equal(t.peer.got[0].data, f);
  assert.is(t.peer.got[0].csumBlank, true);
  assert.equal(t.core.sends, [103], "notified (rsp_event was 1)");
  assert.is(u32(t.core, TXR * 4096 + 4), 2, "req_event asks for the next request");
  assert.is(t.core.live.size, 2, "the buffer was unmapped again");
  assert.is(t.nb.stats.txPackets, 1);
});

test("netback tx: a packet over several slots (NETTXF_more_data) with an extra-info slot; every slot answered", () => {
  const t = vifSetup();
  t.connect();
  const f = new Uint8Array(5000);
  for (let i = 0; i < f.length; i++) f[i] = (i * 7) & 255;
  f.set(macBytes(BCAST), 0); f.set(macBytes(A), 6);
  t.page(4).set(f.subarray(0, 3000), 1000); t.page(5).set(f.subarray(3000, 4500), 0);
  t.page(6).set(f.subarray(4500), 10);
  const extra = new Uint8Array(12); extra[0] = 2; // MCAST_ADD, no more
  t.tx({ gref: 11, offset: 1000, flags: NETTXF_more_data | NETTXF_extra_info, id: 1, size: 5000 }, extra,
    { gref: 12, offset: 0, flags: NETTXF_more_data, id: 2, size: 1500 },
    { gref: 13, offset: 10, flags: 0, id: 3, size: 500 }
  );
  t.nb.poll();
  assert.equal(
    t.txRsps(), [{ id: 1, status: 0 }, { id: 0, status: NETIF_RSP_NULL }, { id: 2, status: 0 }, { id: 3, status: 0 }]
  );
  assert.equal(t.peer.got[0].data, f);
});

test("netback tx: a packet whose slots are not all posted waits for the rest", () => {
  const t = vifSetup();
  t.connect();
  const f = eth(BCAST, A, "split");
  t.page(4).set(f.subarray(0, 20)); t.page(5).set(f.subarray(20));
  t.tx({ gref: 11, offset: 0, flags: NETTXF_more_data, id: 1, size: f.length });
  t.nb.poll();
  assert.equal(t.txRsps(), []);
  t.tx({ gref: 12, offset: 0, flags: 0, id: 2, size: f.length - 20 });
  t.nb.poll();
  assert.equal(t.txRsps(), [{ id: 1, status: 0 }, { id: 2, status: 0 }]);
  assert.equal(t.peer.got[0].data, f);
});

test(
  "netback tx: bad references, slots beyond the page, runts, oversized chains -> NETIF_RSP_ERROR; the vif carries on",
  () => {
  const t = vifSetup();
  t.connect();
  t.page(4).set(eth(BCAST, A));
  t.tx({ gref: 999, offset: 0, flags: 0, id: 1, size: 60 });
  t.tx({ gref: 11, offset: 4090, flags: 0, id: 2, size: 60 });
  t.tx({ gref: 11, offset: 0, flags: 0, id: 3, size: 13 });
  // fragments > total
  t.tx(
    { gref: 11, offset: 0, flags: NETTXF_more_data, id: 4, size: 10 },
    { gref: 12, offset: 0, flags: 0, id: 5, size: 60 }
  );
  const chain = Array.from(
    { length: 19 },
    (_, i) => ({ gref: 11, offset: 0, flags: i < 18 ? NETTXF_more_data : 0, id: 10 + i, size: i === 0 ? 19 * 20 : 20 })
  );
  t.tx(...chain);
  t.tx({ gref: 11, offset: 0, flags: 0, id: 6, size: 60 }); // and a good one
  t.nb.poll();
  const r = t.txRsps();
  assert.equal(
    r.slice(0, 5),
    [{ id: 1, status: -1 }, { id: 2, status: -1 }, { id: 3, status: -1 }, { id: 4, status: -1 }, { id: 5, status: -1 }]
  );
  assert.equal(
    r.slice(5, 24).map((x) => x.status), new Array(19).fill(NETIF_RSP_ERROR), "19 slots > 18: every slot refused"
  );
  assert.equal(r[24], { id: 6, status: 0 });
  assert.is(t.peer.got.length, 1);
  assert.is(t.nb.connected, true);
  assert.is(t.nb.stats.txErrors, 5);
  assert.is(t.core.live.size, 2);
});

test("netback tx: an impossible producer index or an endless chain disconnects the vif (Closing), no throw", () => {
  const t = vifSetup();
  t.connect();
  setU32(t.core, TXR * 4096, 5000);
  t.nb.poll();
  assert.is(t.nb.connected, false);
  assert.match(t.nb.fault ?? "", "impossible tx ring state");
  assert.is(t.xs.readString(`${t.be}/state`), String(XB.Closing));
  assert.is(t.core.live.size, 0);
  t.nb.poll(); // stays down until the frontend starts over
  assert.is(t.nb.connected, false);
  const u = vifSetup();
  u.connect();
  u.tx(...Array.from({ length: 25 }, (_, i) => ({ gref: 11, offset: 0, flags: NETTXF_more_data, id: i, size: 60 })));
  u.nb.poll();
  assert.is(u.nb.connected, false);
  assert.match(u.nb.fault ?? "", "slots");
});

test("netback rx: frames go into posted buffers (offset 0, length as status), are dropped without buffers", () => {
  const t = vifSetup();
  t.connect();
  const f = eth(A, B, "to the guest");
  t.pp.input({ data: f }); // A unknown to the bridge: flooded to the vif, which has no buffers
  assert.is(t.nb.stats.rxDropped, 1);
  t.rxPost(5, 11); t.rxPost(6, 12);
  t.core.sends.length = 0;
  t.pp.input({ data: f, csumBlank: true });
  assert.equal(t.rxRsps(), [{ id: 5, offset: 0, flags: NETRXF_csum_blank | NETRXF_data_validated, status: f.length }]);
  assert.equal(t.page(4).subarray(0, f.length), f);
  assert.equal(t.core.sends, [103]);
  t.pp.input({ data: f, validated: true });
  assert.equal(t.rxRsps(), [{ id: 6, offset: 0, flags: NETRXF_data_validated, status: f.length }]);
  t.pp.input({ data: f });
  assert.is(t.nb.stats.rxDropped, 2, "buffers used up");
  assert.is(t.nb.stats.rxPackets, 2);
  assert.is(t.core.live.size, 2);
});

test("netback rx: a frame larger than a page spans buffers only for a feature-sg frontend; read-only buffers get ERROR",
  () => {
  const big = new Uint8Array(6000);
  big.set(macBytes(A), 0); big.set(macBytes(B), 6);
  for (let i = 14; i < big.length; i++) big[i] = i & 255;
  const t = vifSetup();
  t.connect();
  t.rxPost(1, 11); t.rxPost(2, 12);
  t.pp.input({ data: big });
  assert.is(t.nb.stats.rxDropped, 1);
  assert.equal(t.rxRsps(), []);
  const u = vifSetup({ sg: true });
  u.connect();
  u.rxPost(1, 11); u.rxPost(2, 12);
  u.pp.input({ data: big });
  assert.equal(
    u.rxRsps(),
    [{ id: 1, offset: 0, flags: NETRXF_more_data, status: 4096 }, { id: 2, offset: 0, flags: 0, status: 6000 - 4096 }]
  );
  assert.equal(u.page(4), big.subarray(0, 4096));
  assert.equal(u.page(5).subarray(0, 6000 - 4096), big.subarray(4096));
  // A buffer granted read-only (or not at all) cannot be written: ERROR, and the next frame still works.
  u.core.grants.set(20, { mfn: 9, ro: true });
  u.rxPost(3, 20); u.rxPost(4, 777); u.rxPost(5, 13);
  const f = eth(A, B);
  u.pp.input({ data: f }); u.pp.input({ data: f }); u.pp.input({ data: f });
  assert.equal(u.rxRsps().map((r) => [r.id, r.status]), [[3, -1], [4, -1], [5, f.length]]);
  assert.is(u.nb.stats.rxErrors, 2);
  assert.is(u.core.live.size, 2);
});

test(
  "netback rx: an impossible rx producer index disconnects the vif; feature-no-csum-offload gets completed checksums",
  () => {
  const t = vifSetup();
  t.connect();
  setU32(t.core, RXR * 4096, 0x80000000);
  t.pp.input({ data: eth(A, B) });
  assert.is(t.nb.connected, false);
  assert.match(t.nb.fault ?? "", "impossible rx ring state");
  const u = vifSetup({ noCsum: true });
  u.connect();
  u.rxPost(1, 11);
  const pkt = udp4();
  u.pp.input({ data: pkt, csumBlank: true });
  const [r] = u.rxRsps();
  assert.is(r.flags, NETRXF_data_validated);
  assert.ok(l4ChecksumOk(u.page(4).slice(0, r.status)));
});

test("netback: random ring contents and indexes never throw and leave nothing mapped", () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let round = 0; round < 200; round++) {
    const t = vifSetup({ sg: round % 2 === 0 });
    t.connect();
    for (let step = 0; step < 10; step++) {
      const ring = rnd() < 0.5 ? TXR : RXR;
      const n = 1 + Math.floor(rnd() * 200);
      for (let i = 0; i < n; i++) t.core.mem[ring * 4096 + Math.floor(rnd() * 4096)] = Math.floor(rnd() * 256);
      if (rnd() < 0.5) setU32(t.core, ring * 4096, u32(t.core, ring * 4096 + 8) + Math.floor(rnd() * 300));
      t.nb.poll();
      const len = 14 + Math.floor(rnd() * 9000);
      const d = new Uint8Array(len); d.set(macBytes(A), 0); d.set(macBytes(B), 6);
      t.pp.input({ data: d });
    }
    t.nb.close();
    assert.is(t.core.live.size, 0, `round ${round}`);
  }
});

// ---------------------------------------------------------------- guests

/** Domains of our netfront guest on one host, each with one vif; runs until all have shut down. */
async function runNet(specs: { bits: 32 | 64; cmdline: string; mac?: string }[], timeoutMs = 20000) {
  const host = await XenHost.create(256);
  const outs = specs.map(() => [] as string[]);
  const doms = specs.map((sp, i) => {
    const d = host.createDomain(
      `net${i}`, new Uint8Array(readFileSync(guestPath("net", sp.bits))),
      { memoryMiB: 16, cmdline: sp.cmdline, vifs: [{ mac: sp.mac }] }
    );
    d.onConsole = (b) => outs[i].push(new TextDecoder().decode(b));
    return d;
  });
  const t0 = Date.now();
  await host.runUntil(() => doms.every((d) => host.state(d.domid) !== DS_RUNNING) || Date.now() - t0 > timeoutMs);
  return {
    host, doms, out: outs.map((o) => o.join("")),
    reasons: doms.map((d) => host.state(d.domid) === DS_SHUTDOWN ? host.shutdownReason(d.domid) : -1)
  };
}

function passed(out: string, host: XenHost): void {
  assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out + host.dmesg());
  assert.match(out, "net: PASSED", out + host.dmesg());
}

for (const [ba, bb] of [[64, 64], [32, 64]] as const) {
  // In the second pair, domain b's grant table is version 2: the backend reads v2 entries.
  const v2 = ba === 32;
  test(`two domains (${ba}-bit and ` + `${bb}-bit${v2 ? ", the second with a v2 grant table" : ""}) `
      + `exchange broadcast frames through their vifs and the bridge`, async () => {
    const r = await runNet([
      { bits: ba, cmdline: "role=a peer=2" }, { bits: bb, cmdline: `role=b peer=1${v2 ? " gntv2=1" : ""}` }
    ]);
    for (const i of [0, 1]) { passed(r.out[i], r.host); assert.is(r.reasons[i], 0); }
    if (v2) assert.match(r.out[1], "ok: grant table version 2");
    const [va, vb] = r.doms.map((d) => d.vifs[0]);
    // Each guest saw its own MAC in xenstore and the other's on the wire.
    assert.match(r.out[0], `mac ${va.mac}`);
    assert.match(r.out[1], `mac ${vb.mac}`);
    assert.match(r.out[0], `peer mac ${vb.mac}`);
    assert.match(r.out[1], `peer mac ${va.mac}`);
    assert.is.not(va.mac, vb.mac);
    for (const v of [va, vb]) {
      assert.ok(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/.test(v.mac), v.mac);
      assert.ok(v.stats.txPackets >= 2 && v.stats.rxPackets >= 1, JSON.stringify(v.stats));
      assert.is(v.stats.txErrors, 5, "the five refused requests each guest tries");
      assert.is(v.connected, true);
    }
    // The bridge learnt both addresses on the right ports.
    assert.is(r.host.bridge.lookup(va.mac)?.name, `vif1.0`);
    assert.is(r.host.bridge.lookup(vb.mac)?.name, `vif2.0`);
    const st = r.host.store;
    assert.is(st.readString("/local/domain/0/backend/vif/1/0/state"), String(XB.Connected));
    assert.is(
      st.readString("/local/domain/2/device/vif/0/event-channel-rx") !== undefined, true, "role b used split channels"
    );
    // Destroying the domains releases the vifs: their ports leave the bridge, their backend nodes go.
    const x = r.host.core.x;
    const free0 = x.hv_frames_free();
    const owned = x.hv_frames_owned(1) + x.hv_frames_owned(2);
    r.host.destroyDomain(1); r.host.destroyDomain(2);
    assert.is(x.hv_frames_free(), free0 + owned, "every frame is back (no grant mapping left)");
    assert.is(r.host.bridge.portList().length, 0);
    assert.is(st.readString("/local/domain/0/backend/vif/1/0/state"), undefined);
  });
}

test("a hostile frontend: bad grants, slots beyond the page, "
    + "runts get NETIF_RSP_ERROR; a garbage ring index closes the " + "vif; the host survives", async () => {
  const r = await runNet([{ bits: 32, cmdline: "hostile=1", mac: "00:16:3E:12:34:56" }]);
  passed(r.out[0], r.host);
  assert.is(r.reasons[0], 0);
  const v = r.doms[0].vifs[0];
  assert.is(v.mac, "00:16:3e:12:34:56", "the given MAC, in canonical form");
  assert.match(r.out[0], "mac 00:16:3e:12:34:56");
  assert.is(v.connected, false);
  assert.match(v.fault ?? "", "impossible tx ring state");
  assert.is(r.host.store.readString("/local/domain/0/backend/vif/1/0/state"), String(XB.Closed));
  // The host still runs guests.
  const r2 = await runNet([{ bits: 64, cmdline: "hostile=1" }]);
  passed(r2.out[0], r2.host);
});

test("createDomain: vif MACs are checked and unique on the host", async () => {
  const host = await XenHost.create(64);
  const k = new Uint8Array(readFileSync(guestPath("hello", 64)));
  const d = host.createDomain("v", k, { memoryMiB: 8, vifs: [{ mac: "00:16:3e:01:02:03" }, {}] });
  assert.is(d.vifs.length, 2);
  assert.is(d.vifs[0].mac, "00:16:3e:01:02:03");
  assert.is.not(d.vifs[1].mac, d.vifs[0].mac);
  assert.is(host.store.readString(`/local/domain/${d.domid}/device/vif/1/mac`), d.vifs[1].mac);
  assert.is(host.store.readString(`/local/domain/0/backend/vif/${d.domid}/1/feature-rx-copy`), "1");
  assert.throws(
    () => host.createDomain("w", k, { memoryMiB: 8, vifs: [{ mac: "00:16:3E:01:02:03" }] }), /already used/
  );
  assert.throws(() => host.createDomain("w", k, { memoryMiB: 8, vifs: [{ mac: "01:16:3e:01:02:03" }] }), /multicast/);
  assert.throws(() => host.createDomain("w", k, { memoryMiB: 8, vifs: [{ mac: "nonsense" }] }), /hex/);
  assert.is(host.bridge.portList().length, 2, "the failed domains left no ports behind");
  assert.equal(host.store.directory("/local/domain").sort(), ["0", String(d.domid)], "nor xenstore homes");
  assert.equal(host.store.directory("/local/domain/0/backend/vif"), [String(d.domid)], "nor backend directories");
  host.destroyDomain(d.domid);
  assert.is(host.bridge.portList().length, 0);
});

test("xend: a config's vif lines become vifs (mac= kept, others random); destroy removes them", async () => {
  const xd = await Xend.create(64);
  const cfg = parseConfig([
    `name = "netcfg"`, `kernel = "${guestPath("hello", 64)}"`, `memory = 8`,
    `vif = [ 'mac=00:16:3E:aa:bb:cc, bridge=xenbr0', '' ]`,
  ].join("\n"), "netcfg.cfg");
  const id = await xd.start(cfg);
  const h = xd.host.domains.get(id)!;
  assert.equal(h.vifs.map((v) => v.mac)[0], "00:16:3e:aa:bb:cc");
  assert.is(h.vifs.length, 2);
  assert.is(xd.host.store.readString(`/local/domain/0/backend/vif/${id}/1/state`), String(XB.InitWait));
  xd.destroy(id);
  assert.is(xd.host.bridge.portList().length, 0);
  assert.is(xd.host.store.readString(`/local/domain/0/backend/vif/${id}/1/state`), undefined);
});

test.run();
