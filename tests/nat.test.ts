// The user-mode NAT uplink (host/devices/net/nat.ts and its parts): Ethernet frames fed in from a
// guest's side of a bridge, replies checked byte for byte: ARP, DHCP, ICMP echo, DNS, UDP to a dgram
// server on 127.0.0.1, TCP to a net server on 127.0.0.1 (handshake, data both ways, windows,
// retransmission, close and reset), a port forward into the guest, and malformed frames dropped.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createSocket } from "node:dgram";
import { createServer, connect, Server, Socket, AddressInfo } from "node:net";
import { Bridge, BridgeEndpoint, Frame, macBytes, macString } from "../host/devices/net/bridge";
import { NatUplink, NatOptions, parseNet, parseForward, natOptionsFromEnv, enableNat } from "../host/devices/net/nat";
import {
  ipv4Frames, parseIpv4, parseUdp, parseArp, arpFrame, udpSegment, ipNum, ipStr, inetChecksum, put16, get16, get32,
  l4Valid,
  sum16, fold, setL4Checksum,
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, BROADCAST_MAC, Ipv4,
} from "../host/devices/net/ip";
import { parseTcp, tcpSegment, TcpSeg, SYN, ACK, FIN, RST, PSH } from "../host/devices/net/tcp";
import { parseDhcp, DHCPOFFER, DHCPACK, DHCPNAK } from "../host/devices/net/dhcp";
import { parseQuery, dnsAnswer } from "../host/devices/net/dns";
import { XenHost } from "../host/pv/host";
import { Xend } from "../host/xend/daemon";
import { parseConfig } from "../host/xend/config";
import { guestPath } from "./lib/pvrun";
import * as V from "./lib/vectors";
import { linuxKernel, busyboxInitramfs } from "./lib/linux";
import { debFile, debFind, resolveDepends } from "./lib/debian";
import { createServer as createHttpServer } from "node:http";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, rmSync, copyFileSync, chmodSync } from "node:fs";
import { execSync } from "node:child_process";
import { join, dirname } from "node:path";
import { DS_RUNNING } from "../assembly/records";

const G = "00:16:3e:00:00:01", G2 = "00:16:3e:00:00:02";
const GW = ipNum("10.0.2.2")!, DNS = ipNum("10.0.2.3")!, ME = ipNum("10.0.2.15")!;
const NATMAC = "52:55:0a:00:02:02";
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The guest's side of the bridge: collects frames, waits for one that matches. */
class GuestPort implements BridgeEndpoint {
  readonly name = "vif1.0";
  got: Uint8Array[] = [];
  private waiters: { pred: (f: Uint8Array) => boolean; res: (f: Uint8Array) => void }[] = [];
  deliver(f: Frame): void {
    const d = f.data.slice();
    const w = this.waiters.find((x) => x.pred(d));
    if (w) { this.waiters.splice(this.waiters.indexOf(w), 1); w.res(d); } else this.got.push(d);
  }
  /** The first collected or next frame for which `pred` holds. */
  next(pred: (f: Uint8Array) => boolean, ms = 3000): Promise<Uint8Array> {
    const i = this.got.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.got.splice(i, 1)[0]);
    return new Promise((res, rej) => {
      const w = { pred, res: (f: Uint8Array) => { clearTimeout(t); res(f); } };
      const t = setTimeout(
        () => { this.waiters.splice(this.waiters.indexOf(w), 1); rej(new Error("no such frame in time")); }, ms
      );
      this.waiters.push(w);
    });
  }
}

function setup(o: NatOptions = {}) {
  const br = new Bridge("xenbr0");
  const nat = new NatUplink(o).attach(br);
  const g = new GuestPort();
  const port = br.attach(g);
  const send = (f: Uint8Array) => port.input({ data: f });
  return { br, nat, g, port, send };
}

/** An IPv4 frame from the guest (MAC G unless given) to the NAT. */
function ipFrom(src: number, dst: number, proto: number, payload: Uint8Array, mac = G, dstMac = NATMAC): Uint8Array {
  return ipv4Frames(macBytes(dstMac), macBytes(mac), src, dst, proto, 7, payload)[0];
}
const udpFrom = (src: number, sport: number, dst: number, dport: number, data: Uint8Array, mac = G, dstMac = NATMAC) =>
  ipFrom(src, dst, IPPROTO_UDP, udpSegment(src, dst, sport, dport, data), mac, dstMac);

/** IPv4 frames to the guest, parsed, for a protocol. */
const isProto = (proto: number) => (f: Uint8Array) => parseIpv4(f)?.proto === proto;

// ---------------------------------------------------------------- helpers' own checks

test("ip: checksums, parsing, fragmentation; parseNet", () => {
  const seg = udpSegment(ME, GW, 1000, 2000, enc("abc"));
  assert.ok(l4Valid(ME, GW, IPPROTO_UDP, seg));
  const f = ipFrom(ME, GW, IPPROTO_UDP, seg);
  const p = parseIpv4(f)!;
  assert.is(p.src, ME); assert.is(p.dst, GW); assert.is(p.proto, IPPROTO_UDP);
  assert.equal(parseUdp(p), { sport: 1000, dport: 2000, data: enc("abc") });
  const bad = f.slice(); bad[14 + 10] ^= 1; // IP header checksum
  assert.is(parseIpv4(bad), undefined);
  const bad2 = f.slice(); bad2[f.length - 1] ^= 1; // UDP payload
  assert.is(parseUdp(parseIpv4(bad2)!), undefined);
  assert.is(parseIpv4(f.subarray(0, 30)), undefined, "truncated");
  const big = ipv4Frames(macBytes(G), macBytes(NATMAC), GW, ME, IPPROTO_UDP, 9, new Uint8Array(4000), 1500);
  assert.is(big.length, 3);
  assert.ok(big.every((x) => x.length <= 1514));
  assert.equal(big.map((x) => get16(x, 20) & 0x1fff), [0, 185, 370]);
  assert.equal(big.map((x) => (get16(x, 20) & 0x2000) !== 0), [true, true, false]);
  assert.equal(parseNet("10.0.2.0/24"), { net: ipNum("10.0.2.0"), mask: 0xffffff00, prefix: 24 });
  assert.throws(() => parseNet("10.0.2.0"), /bad NAT network/);
  assert.is(ipStr(ipNum("192.168.1.254")!), "192.168.1.254");
});

test("ip: known answers: RFC 1071's example; UDP, TCP and ICMP packets written by Linux", () => {
  assert.is(fold(sum16(V.RFC1071_BYTES, 0, V.RFC1071_BYTES.length)), V.RFC1071_SUM);
  assert.is(inetChecksum(V.RFC1071_BYTES), V.RFC1071_CHECKSUM);
  const zeroed = (b: Uint8Array, at: number) => { const c = b.slice(); c[at] = 0; c[at + 1] = 0; return c; };
  // Each IP header checksum recomputed with its field zeroed is Linux's; the whole header then sums to 0.
  for (
    const [pkt, sum] of [
      [V.LINUX_UDP, V.LINUX_SUMS.udpIp], [V.LINUX_TCP_SYN, V.LINUX_SUMS.tcpIp], [V.LINUX_ICMP_ECHO, V.LINUX_SUMS.icmpIp]
    ] as const
  ) {
    assert.is(inetChecksum(zeroed(pkt, 10), 0, 20), sum);
    assert.is(inetChecksum(pkt, 0, 20), 0);
  }
  const udp = V.LINUX_UDP.subarray(20), tcp = V.LINUX_TCP_SYN.subarray(20), icmp = V.LINUX_ICMP_ECHO.subarray(20);
  assert.ok(l4Valid(V.LINUX_SRC, V.LINUX_DST, IPPROTO_UDP, udp));
  assert.ok(l4Valid(V.LINUX_SRC, V.LINUX_DST, IPPROTO_TCP, tcp));
  assert.not.ok(l4Valid(V.LINUX_SRC, V.LINUX_DST + 1, IPPROTO_TCP, tcp), "the pseudo header counts");
  assert.is(inetChecksum(zeroed(icmp, 2)), V.LINUX_SUMS.icmp);
  const t = zeroed(tcp, 16);
  setL4Checksum(V.LINUX_SRC, V.LINUX_DST, IPPROTO_TCP, t);
  assert.is(get16(t, 16), V.LINUX_SUMS.tcp);
  // Our builders give Linux's bytes: the UDP datagram exactly; a TCP packet's IP header exactly
  // (DF, TTL 64, its identification).
  assert.equal(udpSegment(V.LINUX_SRC, V.LINUX_DST, 40000, 53, enc(V.LINUX_UDP_DATA)), udp.slice());
  const [f] = ipv4Frames(macBytes(G), macBytes(NATMAC), V.LINUX_SRC, V.LINUX_DST, IPPROTO_TCP, 0x9cc0, tcp.slice());
  assert.equal(f.subarray(14), V.LINUX_TCP_SYN);
  // And parse them: addresses, ports, data; a flipped byte anywhere in the datagram is refused.
  const p = parseIpv4(V.inEthernet(V.LINUX_UDP))!;
  assert.is(p.src, V.LINUX_SRC); assert.is(p.dst, V.LINUX_DST); assert.is(p.proto, IPPROTO_UDP);
  assert.equal(parseUdp(p), { sport: 40000, dport: 53, data: enc(V.LINUX_UDP_DATA) });
  for (const at of [10, 21, 27, 40, V.LINUX_UDP.length - 1]) {
    const bad = V.inEthernet(V.LINUX_UDP); bad[14 + at] ^= 0x10;
    const q = parseIpv4(bad);
    assert.ok(q === undefined || parseUdp(q) === undefined, `byte ${at} flipped`);
  }
  const s = parseTcp(parseIpv4(V.inEthernet(V.LINUX_TCP_SYN))!);
  assert.ok(s, "Linux's SYN parses");
  assert.is(s!.sport, 40001); assert.is(s!.dport, 8080); assert.is(s!.seq >>> 0, 0x302cbf6d);
  assert.is(s!.flags & (SYN | ACK), SYN); assert.is(s!.mss, 1460);
});

// ---------------------------------------------------------------- ARP, DHCP, ICMP

test("ARP: the gateway and DNS addresses are answered with the NAT's MAC; others are not", async () => {
  const { g, send, nat } = setup();
  for (const ip of [GW, DNS]) {
    send(arpFrame(BROADCAST_MAC, 1, macBytes(G), ME, new Uint8Array(6), ip));
    const r = parseArp(await g.next((f) => parseArp(f) !== undefined))!;
    assert.is(r.op, 2);
    assert.is(macString(r.sha), NATMAC);
    assert.is(r.spa, ip);
    assert.is(macString(r.tha), G);
    assert.is(r.tpa, ME);
  }
  send(arpFrame(BROADCAST_MAC, 1, macBytes(G), ME, new Uint8Array(6), ipNum("10.0.2.99")!));
  await sleep(20);
  assert.is(g.got.length, 0);
  assert.is(nat.stats.arp, 2);
  nat.close();
});

/** A DHCP client message. */
function dhcpMsg(type: number, mac: string, xid: number, extra: number[] = [], flags = 0): Uint8Array {
  const d = new Uint8Array(300);
  d[0] = 1; d[1] = 1; d[2] = 6;
  d[4] = xid >>> 24; d[5] = (xid >> 16) & 255; d[6] = (xid >> 8) & 255; d[7] = xid & 255;
  put16(d, 10, flags);
  d.set(macBytes(mac), 28);
  d.set([99, 130, 83, 99], 236);
  d.set([53, 1, type, ...extra, 255], 240);
  return d;
}
const dhcpFrom = (msg: Uint8Array, mac = G) => udpFrom(0, 68, 0xffffffff, 67, msg, mac, "ff:ff:ff:ff:ff:ff");
const dhcpReply = (f: Uint8Array) => {
  const p = parseIpv4(f); const u = p && parseUdp(p);
  return u && u.dport === 68 ? { p: p!, u, m: parseDhcp(u.data)! } : undefined;
};
function dhcpOpt(d: Uint8Array, code: number): number[] | undefined {
  for (let i = 240; i < d.length && d[i] !== 255;) {
    if (d[i] === 0) { i++; continue; }
    if (d[i] === code) return [...d.subarray(i + 2, i + 2 + d[i + 1])];
    i += 2 + d[i + 1];
  }
  return undefined;
}

test("DHCP: DISCOVER → OFFER 10.0.2.15 with router, DNS, mask; "
    + "REQUEST → ACK; a second MAC gets .16; a wrong REQUEST → NAK", async () => {
  const { g, send, nat } = setup();
  send(dhcpFrom(dhcpMsg(1, G, 0x1234)));
  const off = dhcpReply(await g.next((f) => dhcpReply(f) !== undefined))!;
  assert.is(off.m.type, DHCPOFFER);
  assert.is(off.m.xid, 0x1234);
  assert.is(off.m.yiaddr, ME);
  assert.is(off.p.src, GW);
  assert.is(off.p.dst, ME);
  assert.ok(l4Valid(off.p.src, off.p.dst, IPPROTO_UDP, off.p.payload), "UDP checksum");
  assert.equal(dhcpOpt(off.u.data, 3), [10, 0, 2, 2], "router");
  assert.equal(dhcpOpt(off.u.data, 6), [10, 0, 2, 3], "DNS");
  assert.equal(dhcpOpt(off.u.data, 1), [255, 255, 255, 0], "mask");
  assert.equal(dhcpOpt(off.u.data, 54), [10, 0, 2, 2], "server id");
  assert.ok(dhcpOpt(off.u.data, 51), "lease time");
  send(dhcpFrom(dhcpMsg(3, G, 0x1235, [50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2])));
  const ack = dhcpReply(await g.next((f) => dhcpReply(f) !== undefined))!;
  assert.is(ack.m.type, DHCPACK);
  assert.is(ack.m.yiaddr, ME);
  assert.is(nat.guestIp(G), "10.0.2.15");
  // The broadcast flag: the answer goes to the broadcast addresses.
  send(dhcpFrom(dhcpMsg(1, G2, 7, [], 0x8000), G2));
  const off2 = dhcpReply(await g.next((f) => dhcpReply(f)?.m.xid === 7))!;
  assert.is(off2.m.yiaddr, ipNum("10.0.2.16"));
  assert.is(off2.p.dst, 0xffffffff);
  assert.is(macString(off2.p.dstMac), "ff:ff:ff:ff:ff:ff");
  send(dhcpFrom(dhcpMsg(3, G2, 8, [50, 4, 10, 0, 2, 15]), G2));
  const nak = dhcpReply(await g.next((f) => dhcpReply(f)?.m.xid === 8))!;
  assert.is(nak.m.type, DHCPNAK);
  // A reserved address (a vif's ip=) is what that MAC gets.
  nat.reserve("00:16:3e:00:00:03", "10.0.2.50");
  send(dhcpFrom(dhcpMsg(1, "00:16:3e:00:00:03", 9), "00:16:3e:00:00:03"));
  assert.is(dhcpReply(await g.next((f) => dhcpReply(f)?.m.xid === 9))!.m.yiaddr, ipNum("10.0.2.50"));
  assert.throws(() => nat.reserve(G, "192.168.0.1"), /not in the NAT network/);
  // Garbage to port 67 gets nothing.
  send(dhcpFrom(new Uint8Array(100)));
  send(dhcpFrom(dhcpMsg(1, G, 10).subarray(0, 242)));
  await sleep(20);
  assert.is(g.got.filter((f) => dhcpReply(f)).length, 0);
  nat.close();
});

function icmpEcho(id: number, seq: number, data: string, type = 8): Uint8Array {
  const p = enc(data);
  const m = new Uint8Array(8 + p.length);
  m[0] = type; put16(m, 4, id); put16(m, 6, seq); m.set(p, 8);
  put16(m, 2, inetChecksum(m));
  return m;
}

test("ICMP: echo requests to the gateway and DNS addresses are answered; elsewhere or with a bad checksum not",
  async () => {
  const { g, send, nat } = setup();
  send(ipFrom(ME, GW, IPPROTO_ICMP, icmpEcho(0x77, 1, "ping data")));
  const r = parseIpv4(await g.next(isProto(IPPROTO_ICMP)))!;
  assert.is(r.src, GW); assert.is(r.dst, ME);
  assert.is(r.payload[0], 0, "echo reply");
  assert.is(inetChecksum(r.payload), 0, "ICMP checksum");
  assert.is(get16(r.payload, 4), 0x77); assert.is(get16(r.payload, 6), 1);
  assert.is(dec(r.payload.subarray(8)), "ping data");
  send(ipFrom(ME, DNS, IPPROTO_ICMP, icmpEcho(1, 2, "x")));
  assert.is(parseIpv4(await g.next(isProto(IPPROTO_ICMP)))!.src, DNS);
  send(ipFrom(ME, ipNum("8.8.8.8")!, IPPROTO_ICMP, icmpEcho(1, 3, "x")));
  const badsum = icmpEcho(1, 4, "x"); badsum[8] ^= 0xff;
  send(ipFrom(ME, GW, IPPROTO_ICMP, badsum));
  await sleep(20);
  assert.is(g.got.length, 0);
  assert.is(nat.stats.icmp, 2);
  nat.close();
});

// ---------------------------------------------------------------- UDP, DNS

test(
  "UDP: a datagram to 10.0.2.2:PORT reaches a server on 127.0.0.1:PORT; its reply comes back as IP/UDP", async () => {
  const srv = createSocket("udp4");
  const seen: string[] = [];
  srv.on(
    "message",
    (m, r) => { seen.push(m.toString()); srv.send(Buffer.from(m.toString().toUpperCase()), r.port, r.address); }
  );
  await new Promise<void>((res) => srv.bind(0, "127.0.0.1", res));
  const port = srv.address().port;
  const { g, send, nat } = setup();
  send(udpFrom(ME, 40000, GW, port, enc("hello udp")));
  const r = parseIpv4(await g.next(isProto(IPPROTO_UDP)))!;
  const u = parseUdp(r)!;
  assert.is(dec(u.data), "HELLO UDP");
  assert.is(r.src, GW); assert.is(r.dst, ME);
  assert.is(u.sport, port); assert.is(u.dport, 40000);
  assert.is(macString(r.dstMac), G);
  assert.ok(l4Valid(r.src, r.dst, IPPROTO_UDP, r.payload));
  // Same flow again, and a big datagram that comes back in IP fragments.
  send(udpFrom(ME, 40000, GW, port, enc("again")));
  assert.is(dec(parseUdp(parseIpv4(await g.next(isProto(IPPROTO_UDP)))!)!.data), "AGAIN");
  assert.is(nat.connections().udp, 1);
  const big = "z".repeat(3000);
  send(
    ipv4Frames(
      macBytes(NATMAC), macBytes(G), ME, GW, IPPROTO_UDP, 11, udpSegment(ME, GW, 40001, port, enc(big)), 9000
    )[0]
  );
  const frags =
    [await g.next(isProto(IPPROTO_UDP)), await g.next(isProto(IPPROTO_UDP)), await g.next(isProto(IPPROTO_UDP))];
  const total = frags.reduce((n, f) => n + parseIpv4(f)!.payload.length, 0);
  assert.is(total, 8 + 3000);
  assert.equal(seen, ["hello udp", "again", big]);
  // A bad UDP checksum is dropped.
  const bad = udpFrom(ME, 40000, GW, port, enc("bad")); bad[bad.length - 1] ^= 1;
  send(bad);
  await sleep(50);
  assert.is(seen.length, 3);
  nat.close();
  srv.close();
});

function dnsQuery(id: number, name: string, type = 1): Uint8Array {
  const parts = name.split(".").flatMap((l) => [l.length, ...enc(l)]);
  const q = new Uint8Array(12 + parts.length + 1 + 4);
  put16(q, 0, id); put16(q, 2, 0x0100); put16(q, 4, 1);
  q.set(parts, 12);
  put16(q, 12 + parts.length + 1, type); put16(q, 12 + parts.length + 3, 1);
  return q;
}

test(
  "DNS at 10.0.2.3: A answered from the host's lookup, unknown names NXDOMAIN, AAAA empty; malformed queries ignored",
  async () => {
  const lookups: string[] = [];
  const { g, send, nat } = setup({
    dns: {
      upstream: "", lookup: async (n) => {
        lookups.push(n); return n === "host.test" ? [ipNum("10.0.2.2")!, ipNum("192.0.2.7")!] : "nxdomain";
      }
    },
  });
  const ask = async (id: number, name: string, type = 1) => {
    send(udpFrom(ME, 5353, DNS, 53, dnsQuery(id, name, type)));
    const p = parseIpv4(
      await g.next(
        (f) => {
          const u = parseIpv4(f); return !!u && parseUdp(u)?.sport === 53 && get16(parseUdp(u)!.data, 0) === id;
        }
      )
    )!;
    assert.is(p.src, DNS);
    return parseUdp(p)!.data;
  };
  const a = await ask(1, "host.test");
  assert.is(get16(a, 2) & 0x800f, 0x8000, "a response, NOERROR");
  assert.is(get16(a, 6), 2, "two answers");
  const q = parseQuery(dnsQuery(1, "host.test"))!;
  assert.equal([...a.subarray(q.qEnd + 12, q.qEnd + 16)], [10, 0, 2, 2]);
  assert.equal([...a.subarray(q.qEnd + 28, q.qEnd + 32)], [192, 0, 2, 7]);
  const nx = await ask(2, "nowhere.test");
  assert.is(get16(nx, 2) & 15, 3, "NXDOMAIN");
  const aaaa = await ask(3, "host.test", 28);
  assert.is(get16(aaaa, 2) & 15, 0); assert.is(get16(aaaa, 6), 0, "no IPv6 addresses");
  const mx = await ask(4, "host.test", 15);
  assert.is(get16(mx, 2) & 15, 2, "other types without an upstream: SERVFAIL");
  send(udpFrom(ME, 5353, DNS, 53, new Uint8Array(5)));
  send(udpFrom(ME, 5353, DNS, 53, dnsQuery(5, "x").subarray(0, 14)));
  await sleep(30);
  assert.is(g.got.length, 0);
  assert.equal(lookups, ["host.test", "nowhere.test", "host.test"]);
  assert.is(
    parseQuery(dnsAnswer(dnsQuery(6, "a.b"), parseQuery(dnsQuery(6, "a.b"))!, 0)), undefined, "a response is no query"
  );
  nat.close();
});

test("DNS: other question types are relayed to the upstream nameserver", async () => {
  const up = createSocket("udp4");
  up.on("message", (m, r) => {
    const q = parseQuery(new Uint8Array(m))!;
    up.send(dnsAnswer(new Uint8Array(m), q, 0, [ipNum("1.2.3.4")!]), r.port, r.address);
  });
  await new Promise<void>((res) => up.bind(0, "127.0.0.1", res));
  const { g, send, nat } = setup({ dns: { upstream: `127.0.0.1:${up.address().port}` } });
  send(udpFrom(ME, 5353, DNS, 53, dnsQuery(9, "mail.test", 15)));
  const r = parseUdp(parseIpv4(await g.next(isProto(IPPROTO_UDP)))!)!;
  assert.is(get16(r.data, 0), 9);
  assert.is(get16(r.data, 6), 1);
  nat.close();
  up.close();
});

// ---------------------------------------------------------------- TCP

/** A minimal guest-side TCP client/server over the NAT, driven by hand. */
class GuestTcp {
  seq: number;
  ack = 0;
  got = "";
  fin = false;
  constructor(
    readonly t: ReturnType<typeof setup>, readonly sport: number, readonly dst: number, readonly dport: number,
    isn = 1000
  ) { this.seq = isn; }
  segOut(flags: number, data = new Uint8Array(0), o: { seq?: number; wnd?: number; mss?: number } = {}): void {
    this.t.send(
      ipFrom(
        ME, this.dst, IPPROTO_TCP, tcpSegment(
          ME, this.dst, this.sport, this.dport, o.seq ?? this.seq, this.ack, flags, o.wnd ?? 65535, data, o.mss
        )
      )
    );
  }
  /** The next segment of this connection to the guest. */
  async segIn(ms = 3000): Promise<TcpSeg & { p: Ipv4 }> {
    const f = await this.t.g.next((x) => {
      const p = parseIpv4(x);
      if (!p || p.proto !== IPPROTO_TCP) return false;
      const s = parseTcp(p);
      return !!s && s.dport === this.sport && s.sport === this.dport;
    }, ms);
    const p = parseIpv4(f)!;
    return { ...parseTcp(p)!, p };
  }
  async connect(): Promise<TcpSeg & { p: Ipv4 }> {
    this.segOut(SYN, undefined, { mss: 1460 });
    this.seq++;
    const sa = await this.segIn();
    assert.is(sa.flags & (SYN | ACK), SYN | ACK, "SYN-ACK");
    assert.is(sa.ack, this.seq);
    this.ack = (sa.seq + 1) >>> 0;
    this.segOut(ACK);
    return sa;
  }
  send(s: string): void { const d = enc(s); this.segOut(ACK | PSH, d); this.seq += d.length; }
  /** Take segments (acknowledging them) until `until` holds. */
  async recv(until: () => boolean, ms = 3000): Promise<void> {
    while (!until()) {
      const s = await this.segIn(ms);
      if (s.flags & RST) throw new Error("reset");
      if (s.seq === this.ack && s.data.length) { this.got += dec(s.data); this.ack = (this.ack + s.data.length) >>> 0; }
      if (s.flags & FIN && ((s.seq + s.data.length) >>> 0) === this.ack) {
        this.fin = true; this.ack = (this.ack + 1) >>> 0;
      }
      if (s.data.length || s.flags & FIN) this.segOut(ACK);
    }
  }
}

async function tcpServer(onConn: (s: Socket) => void): Promise<{ srv: Server; port: number }> {
  const srv = createServer({ allowHalfOpen: true }, (s) => { s.on("error", () => {}); onConn(s); });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, port: (srv.address() as AddressInfo).port };
}

test("TCP: 10.0.2.2:PORT reaches a server on 127.0.0.1:PORT: handshake, data both ways, close both ways", async () => {
  let serverGot = "", serverEnded = false, closed = false;
  const { srv, port } = await tcpServer((s) => {
    s.on("data", (b) => { serverGot += b; if (serverGot === "hello from the guest") s.write("hello from the host"); });
    s.on("end", () => { serverEnded = true; s.end("bye"); });
    s.on("close", () => { closed = true; });
  });
  const t = setup();
  const c = new GuestTcp(t, 33000, GW, port);
  const sa = await c.connect();
  assert.is(sa.mss, 1460, "our MSS");
  assert.is(sa.p.src, GW); assert.is(sa.p.dst, ME);
  assert.ok(l4Valid(sa.p.src, sa.p.dst, IPPROTO_TCP, sa.p.payload), "TCP checksum");
  assert.is(sa.p.payload.length, 24, "SYN-ACK with one option");
  c.send("hello from the guest");
  await c.recv(() => c.got === "hello from the host");
  assert.is(serverGot, "hello from the guest");
  // The guest closes; the host answers "bye" and closes too.
  c.segOut(FIN | ACK); c.seq++;
  await c.recv(() => c.fin);
  assert.is(c.got, "hello from the hostbye");
  assert.ok(serverEnded);
  for (let i = 0; i < 50 && !closed; i++) await sleep(10);
  assert.ok(closed, "the host socket closed");
  await sleep(20);
  assert.is(t.nat.connections().tcp[0]?.state ?? "gone", "lingering");
  t.nat.close();
  srv.close();
});

test("TCP: delayed ACKs: the host's answer carries the ACK of the guest's data; a second full-sized segment, "
    + "an out-of-order one and a FIN after the host's get one at once; otherwise it comes after the delay",
      async () => {
  let host: Socket | undefined;
  let got = 0;
  const { srv, port } = await tcpServer((s) => { host = s; s.on("data", (b) => { got += b.length; }); });
  // A delay no test run reaches: what is acknowledged before it was acknowledged by a segment's arrival.
  const t = setup({ tcp: { delAckMs: 600_000 } });
  const c = new GuestTcp(t, 33100, GW, port);
  await c.connect();
  for (let i = 0; i < 50 && !host; i++) await sleep(10);
  c.send("ping");
  for (let i = 0; i < 50 && got < 4; i++) await sleep(10);
  assert.is(got, 4);
  host!.write("pong");
  const answer = await c.segIn();
  assert.is(dec(answer.data), "pong", "no bare ACK before the answer");
  assert.is(answer.ack, c.seq, "the answer acknowledges the ping");
  c.ack = (c.ack + 4) >>> 0;
  // Two full-sized segments: the second is acknowledged at once.
  const full = "x".repeat(1460);
  c.send(full); c.send(full);
  const a2 = await c.segIn();
  assert.is(a2.data.length, 0); assert.is(a2.ack, c.seq, "ACK of both segments");
  // Out of order (a gap of 10 bytes): a duplicate ACK at once.
  c.segOut(ACK | PSH, enc("late"), { seq: c.seq + 10 });
  const dup = await c.segIn();
  assert.is(dup.ack, c.seq, "duplicate ACK");
  // The host closes; the guest's FIN is then acknowledged at once (with nothing else to carry it).
  host!.end();
  await c.recv(() => c.fin);
  c.segOut(FIN | ACK); c.seq++;
  const finAck = await c.segIn();
  assert.is(finAck.ack, c.seq, "the guest's FIN acknowledged");
  t.nat.close();
  // With a short delay, data the host does not answer is acknowledged on its own.
  const t2 = setup({ tcp: { delAckMs: 20 } });
  const c2 = new GuestTcp(t2, 33101, GW, port);
  await c2.connect();
  c2.send("no answer to this");
  const late = await c2.segIn();
  assert.is(late.data.length, 0);
  assert.is(late.ack, c2.seq, "acknowledged after the delay");
  t2.nat.close();
  srv.close();
});

test("TCP: the host closes first; the guest sends after the host's FIN (half-close), then closes", async () => {
  let serverGot = "";
  const done = new Promise<void>((res) => {
    void tcpServer((s) => {
      s.end("early bye");
      s.on("data", (b) => { serverGot += b; });
      s.on("end", () => res());
    }).then((x) => { srv = x.srv; port0.resolve(x.port); });
  });
  let srv!: Server;
  const port0 = deferred<number>();
  const port = await port0.p;
  const t = setup();
  const c = new GuestTcp(t, 33001, GW, port);
  await c.connect();
  await c.recv(() => c.fin);
  assert.is(c.got, "early bye");
  c.send("still talking");
  c.segOut(FIN | ACK); c.seq++;
  await done;
  assert.is(serverGot, "still talking");
  let last = await c.segIn();
  while (last.ack !== c.seq) last = await c.segIn();
  assert.is(last.ack, c.seq, "our FIN acknowledged");
  t.nat.close();
  srv.close();
});

function deferred<T>() {
  let resolve!: (v: T) => void; const p = new Promise<T>((r) => { resolve = r; }); return { p, resolve };
}

test("TCP: 300 KB from the host in MSS-sized segments within the guest's window; lost segments are retransmitted",
  async () => {
  const blob = "0123456789abcdef".repeat(300 * 1024 / 16);
  const { srv, port } = await tcpServer((s) => s.end(blob));
  const t = setup({ tcp: { rtoMs: 50 } });
  const c = new GuestTcp(t, 33002, GW, port);
  c.segOut(SYN, undefined, { mss: 1000, wnd: 8000 });
  c.seq++;
  const sa = await c.segIn();
  c.ack = (sa.seq + 1) >>> 0;
  c.segOut(ACK, undefined, { wnd: 8000 });
  let dropped = 0, maxLen = 0, maxInFlight = 0, lostSeq = -1;
  while (!c.fin) {
    const s = await c.segIn();
    maxLen = Math.max(maxLen, s.data.length);
    maxInFlight = Math.max(maxInFlight, ((s.seq + s.data.length - c.ack) >>> 0));
    // Lose a new segment now and then (once each): the NAT must send it again.
    if (s.seq === c.ack && s.data.length && dropped < 5 && c.got.length % 50000 < 1000 && s.seq !== lostSeq) {
      dropped++;
      lostSeq = s.seq;
      continue;
    }
    if (s.seq === c.ack && s.data.length) { c.got += dec(s.data); c.ack = (c.ack + s.data.length) >>> 0; }
    if (s.flags & FIN && ((s.seq + s.data.length) >>> 0) === c.ack) { c.fin = true; c.ack = (c.ack + 1) >>> 0; }
    c.segOut(ACK, undefined, { wnd: 8000 });
  }
  assert.is(c.got.length, blob.length);
  assert.ok(c.got === blob, "every byte in order");
  assert.is(maxLen, 1000, "the guest's MSS");
  assert.ok(maxInFlight <= 8000, `never beyond the window (${maxInFlight})`);
  assert.ok(dropped > 0);
  t.nat.close();
  srv.close();
});

test("TCP: a zero window holds the data back; a window update lets it go; guest data beyond our window is cut",
  async () => {
  const { srv, port } = await tcpServer((s) => s.write("x".repeat(5000)));
  const t = setup({ tcp: { rtoMs: 30 } });
  const c = new GuestTcp(t, 33003, GW, port);
  c.segOut(SYN, undefined, { mss: 1460, wnd: 0 });
  c.seq++;
  const sa = await c.segIn();
  c.ack = (sa.seq + 1) >>> 0;
  c.segOut(ACK, undefined, { wnd: 0 });
  // Only window probes (no data) while the window is shut.
  const probe = await c.segIn();
  assert.is(probe.data.length, 0);
  assert.is(probe.seq, (c.ack - 1) >>> 0, "a probe with an old sequence number");
  c.segOut(ACK, undefined, { wnd: 2000 });
  await c.recv(() => c.got.length >= 2000);
  assert.is(c.got.length, 2000, "no more than the window");
  c.segOut(ACK, undefined, { wnd: 65535 });
  await c.recv(() => c.got.length === 5000);
  t.nat.close();
  srv.close();
});

test("TCP: a closed port gets an RST; segments of unknown connections get RSTs; a guest RST closes the host socket",
  async () => {
  const { srv: tmp, port: deadPort } = await tcpServer(() => {});
  await new Promise<void>((r) => tmp.close(() => r()));
  const t = setup();
  const c = new GuestTcp(t, 33004, GW, deadPort);
  c.segOut(SYN); c.seq++;
  const r = await c.segIn();
  assert.is(r.flags & (RST | ACK), RST | ACK);
  assert.is(r.ack, c.seq);
  assert.is(t.nat.stats.tcpConns, 1);
  const u = new GuestTcp(t, 33005, GW, 1, 5000);
  u.ack = 777;
  u.segOut(ACK, enc("data"));
  const r2 = await u.segIn();
  assert.is(r2.flags, RST);
  assert.is(r2.seq, 777);
  let closedWith = "";
  const { srv, port } = await tcpServer(
    (s) => {
      s.on("error", (e) => { closedWith = (e as NodeJS.ErrnoException).code ?? "error"; });
      s.on("close", () => { closedWith ||= "close"; });
    }
  );
  const k = new GuestTcp(t, 33006, GW, port);
  await k.connect();
  await sleep(30);
  k.segOut(RST);
  for (let i = 0; i < 100 && !closedWith; i++) await sleep(10);
  assert.ok(closedWith, "the host socket was closed");
  assert.is(t.nat.connections().tcp.length, 0);
  t.nat.close();
  srv.close();
});

test("TCP: restrict mode refuses destinations beyond the host, "
    + "denyHostPorts those ports of the host; bad checksums and " + "truncated segments are dropped", async () => {
  const t = setup({ restrict: true });
  const c = new GuestTcp(t, 33007, ipNum("192.0.2.1")!, 80);
  c.segOut(SYN); c.seq++;
  assert.is((await c.segIn()).flags & RST, RST);
  assert.is(t.nat.stats.tcpRefused, 1);
  const seg = tcpSegment(ME, GW, 1, 2, 3, 0, SYN, 100);
  seg[19] ^= 1;
  t.send(ipFrom(ME, GW, IPPROTO_TCP, seg));
  t.send(ipFrom(ME, GW, IPPROTO_TCP, tcpSegment(ME, GW, 1, 2, 3, 0, SYN, 100).subarray(0, 12)));
  const off = tcpSegment(ME, GW, 1, 2, 3, 0, SYN, 100); off[12] = 0xf0; // data offset beyond the segment
  t.send(ipFrom(ME, GW, IPPROTO_TCP, off));
  await sleep(30);
  assert.is(t.g.got.length, 0);
  assert.is(t.nat.stats.dropped, 3);
  t.nat.close();
  // A denied host port (xend's relocation listener) is refused at the gateway address too.
  const { srv, port } = await tcpServer(() => {});
  const d = setup({ denyHostPorts: [port] });
  const k = new GuestTcp(d, 33010, GW, port);
  k.segOut(SYN); k.seq++;
  assert.is((await k.segIn()).flags & RST, RST);
  assert.is(d.nat.stats.tcpRefused, 1);
  d.nat.close();
  srv.close();
});

test("TCP: the connect times out into an RST; an idle connection is reset", async () => {
  const t = setup({ tcp: { connectMs: 100, idleMs: 150 }, dns: { upstream: "" } });
  // 192.0.2.1 (TEST-NET-1) never answers here.
  const c = new GuestTcp(t, 33008, ipNum("192.0.2.1")!, 9);
  c.segOut(SYN); c.seq++;
  const r = await c.segIn(5000);
  assert.is(r.flags & RST, RST);
  const { srv, port } = await tcpServer(() => {});
  const k = new GuestTcp(t, 33009, GW, port);
  await k.connect();
  const rr = await k.segIn(3000);
  assert.is(rr.flags & RST, RST, "idle timeout");
  assert.is(t.nat.connections().tcp.length, 0);
  t.nat.close();
  srv.close();
});

test("port forward: a connection to 127.0.0.1:HOSTPORT becomes a SYN from 10.0.2.2 to the guest's port; data both ways",
  async () => {
  const t = setup();
  // The guest becomes known to the NAT by its traffic (here: an ARP request).
  t.send(arpFrame(BROADCAST_MAC, 1, macBytes(G), ME, new Uint8Array(6), GW));
  await t.g.next((f) => parseArp(f) !== undefined);
  const fw = t.nat.forward({ hostPort: 0, guest: G, guestPort: 80 });
  const hostPort = await fw.ready;
  const sock = connect(hostPort, "127.0.0.1");
  let hostGot = "";
  sock.on("data", (b) => { hostGot += b; });
  const ended = new Promise<void>((r) => sock.on("end", () => r()));
  const synF = await t.g.next(isProto(IPPROTO_TCP));
  const p = parseIpv4(synF)!, syn = parseTcp(p)!;
  assert.is(syn.flags, SYN);
  assert.is(p.src, GW); assert.is(p.dst, ME); assert.is(syn.dport, 80);
  const c = new GuestTcp(t, 80, GW, syn.sport, 9000);
  c.ack = (syn.seq + 1) >>> 0;
  c.segOut(SYN | ACK, undefined, { mss: 1460 }); c.seq++;
  sock.write("GET / HTTP/1.0\r\n\r\n");
  await c.recv(() => c.got.includes("\r\n\r\n"));
  c.send("HTTP/1.0 200 OK\r\n\r\nforwarded!");
  c.segOut(FIN | ACK); c.seq++;
  await ended;
  assert.is(hostGot, "HTTP/1.0 200 OK\r\n\r\nforwarded!");
  sock.end();
  await c.recv(() => c.fin);
  // release() stops the forwards of a vif and drops its connections.
  const sock2 = connect(hostPort, "127.0.0.1");
  const gone = new Promise<void>((r) => sock2.on("close", () => r()));
  sock2.on("error", () => {});
  await t.g.next(isProto(IPPROTO_TCP)); // its SYN to the guest
  t.nat.release(G);
  await gone;
  await new Promise<void>(
    (r) => {
      const s2 = connect(hostPort, "127.0.0.1"); s2.on("error", () => r());
      s2.on("connect", () => { s2.destroy(); r(); });
    }
  );
  assert.is(
    t.nat.connections().tcp.filter((x) => x.state !== "lingering").length, 0, "no new connection after release"
  );
  t.nat.close();
});

test("forward= and XEND_NAT parsing; setupVif reserves ip= and warns about what it cannot do", async () => {
  assert.equal(parseForward("tcp:8080:80"), { hostPort: 8080, guestPort: 80 });
  assert.equal(parseForward("tcp:0.0.0.0:2222:22"), { hostAddr: "0.0.0.0", hostPort: 2222, guestPort: 22 });
  assert.throws(() => parseForward("udp:53:53"), /only tcp/);
  assert.throws(() => parseForward("tcp:80"), /want tcp/);
  assert.throws(() => parseForward("tcp:70000:80"), /want tcp/);
  assert.equal(natOptionsFromEnv({}), { restrict: false });
  assert.is(natOptionsFromEnv({ XEND_NAT: "no" }), undefined);
  assert.equal(
    natOptionsFromEnv({ XEND_NAT: "restrict", XEND_NAT_NET: "192.168.76.0/24" }),
    { restrict: true, net: "192.168.76.0/24" }
  );
  assert.throws(() => natOptionsFromEnv({ XEND_NAT: "maybe" }), /XEND_NAT/);
  assert.throws(() => natOptionsFromEnv({ XEND_NAT_NET: "1.2.3.4" }), /bad NAT network/);
  const t = setup({ net: "192.168.76.0/24" });
  assert.is(ipStr(t.nat.gateway), "192.168.76.2");
  const warnings: string[] = [];
  const { srv, port: taken } = await tcpServer(() => {});
  t.nat.setupVif(G, { ip: "192.168.76.40", forward: [`tcp:${taken}:80`, "bogus"] }, (m) => warnings.push(m));
  t.nat.setupVif(G2, { ip: "10.9.9.9" }, (m) => warnings.push(m));
  await sleep(50);
  assert.is(t.nat.guestIp(G), "192.168.76.40");
  assert.is(warnings.length, 3, warnings.join("\n"));
  assert.match(warnings.join("\n"), /bad forward "bogus"/);
  assert.match(warnings.join("\n"), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  assert.match(warnings.join("\n"), /not in the NAT network 192\.168\.76\.0\/24/);
  t.nat.close();
  srv.close();
});

test("a forward whose port is taken waits for it when asked (a "
    + "domain migrated within one machine): retried until the " + "holder lets go; close() ends the wait", async () => {
  const t = setup();
  const { srv, port: taken } = await tcpServer(() => {});
  // Without a retry window: refused at once (a config mistake is reported, not waited on).
  await t.nat.forward({ hostPort: taken, guest: G, guestPort: 80 }).ready.then(
    () => assert.unreachable("bound a taken port"), (e: NodeJS.ErrnoException) => assert.is(e.code, "EADDRINUSE")
  );
  // With one: it binds once the holder closes.
  const fw = t.nat.forward({ hostPort: taken, guest: G, guestPort: 80 }, 5000);
  let bound = false;
  void fw.ready.then(() => { bound = true; });
  await sleep(250);
  assert.is(bound, false, "still held by the other server");
  await new Promise<void>((r) => srv.close(() => r()));
  assert.is(await fw.ready, taken);
  // It listens: a connection is accepted (and, the guest being unknown, closed by the NAT).
  await new Promise<void>(
    (res, rej) => {
      const s = connect(taken, "127.0.0.1"); s.on("connect", () => { s.destroy(); res(); }); s.on("error", rej);
    }
  );
  // A window that runs out rejects with EADDRINUSE; a handle closed while it waits rejects and never binds.
  const { srv: srv2, port: p2 } = await tcpServer(() => {});
  await t.nat.forward({ hostPort: p2, guest: G, guestPort: 81 }, 300).ready
    .then(() => assert.unreachable("bound"), (e: NodeJS.ErrnoException) => assert.is(e.code, "EADDRINUSE"));
  const fw3 = t.nat.forward({ hostPort: p2, guest: G, guestPort: 82 }, 5000);
  await sleep(150);
  fw3.close();
  await new Promise<void>((r) => srv2.close(() => r()));
  await fw3.ready.then(() => assert.unreachable("bound after close"), (e: Error) => assert.match(e.message, /closed/));
  await sleep(250);
  await new Promise<void>(
    (r) => {
      const s = connect(p2, "127.0.0.1"); s.on("error", () => r());
      s.on("connect", () => { s.destroy(); assert.unreachable("something listens on the closed forward's port"); });
    }
  );
  t.nat.close();
});

test("malformed and foreign frames never throw and get no answer", async () => {
  const t = setup();
  const base = udpFrom(ME, 1, GW, 9, enc("payload"));
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  for (let i = 0; i < 3000; i++) {
    const f = base.slice(0, rnd() % (base.length + 1));
    for (let k = 0; k < 3; k++) if (f.length > 14) f[14 + (rnd() % (f.length - 14))] = rnd() & 255;
    if (f.length >= 12) { f.set(macBytes(NATMAC), 0); f.set(macBytes(G), 6); }
    t.send(f);
    const r = new Uint8Array(rnd() % 120);
    for (let k = 0; k < r.length; k++) r[k] = rnd() & 255;
    if (r.length >= 14) { r.set(macBytes(NATMAC), 0); r.set(macBytes(G), 6); r[12] = 8; r[13] = i & 1 ? 0 : 6; }
    t.send(r);
  }
  // Unicast frames for another station on the bridge are not the NAT's business.
  t.send(udpFrom(ME, 1, GW, 9, enc("x"), G, G2));
  await sleep(50);
  assert.ok(t.nat.stats.dropped > 1000, `dropped ${t.nat.stats.dropped}`);
  assert.is(t.g.got.filter((f) => parseIpv4(f)?.proto === IPPROTO_UDP).length, 0);
  t.nat.close();
});

// ---------------------------------------------------------------- the toolstack

test("xend: vif ip= and forward= reach the NAT on xenbr0; a bad forward= is a config error; destroy stops the forwards",
  async () => {
  assert.throws(
    () => parseConfig(`name = "x"\nkernel = "/k"\nvif = [ 'forward=udp:1:2' ]\n`, "x.cfg"),
    /x\.cfg:3: vif: entry 1: bad forward "udp:1:2": only tcp/
  );
  const { srv: probe, port: free } = await tcpServer(() => {});
  await new Promise<void>((r) => probe.close(() => r()));
  const xd = await Xend.create(64);
  const nat = enableNat(xd.host);
  assert.is(xd.host.bridge.host?.name, "nat");
  const cfg = parseConfig([
    `name = "natcfg"`, `kernel = "${guestPath("hello", 64)}"`, `memory = 8`,
    `vif = [ 'mac=00:16:3e:aa:bb:01, bridge=xenbr0, ip=10.0.2.77, forward=tcp:${free}:80' ]`,
  ].join("\n"), "natcfg.cfg");
  assert.equal(cfg.vifs[0].forward, [`tcp:${free}:80`]);
  const id = await xd.start(cfg);
  assert.is(nat.guestIp("00:16:3e:aa:bb:01"), "10.0.2.77");
  await sleep(50);
  const listening = () => new Promise<boolean>(
    (r) => {
      const s = connect(free, "127.0.0.1"); s.on("error", () => r(false));
      s.on("connect", () => { s.destroy(); r(true); });
    }
  );
  assert.ok(await listening(), "the forward listens");
  xd.destroy(id);
  await sleep(50);
  assert.ok(!(await listening()), "destroy stopped it");
  nat.close();
});

// ---------------------------------------------------------------- a real guest

/** Extra files appended to an initramfs as a second cpio archive (Linux unpacks them one after another). */
function appendToInitramfs(initrd: string, work: string, files: [string, string | Uint8Array, number][]): Uint8Array {
  const root = join(work, "extra");
  rmSync(root, { recursive: true, force: true });
  for (const [to, from, mode] of files) {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    if (typeof from === "string") copyFileSync(from, join(root, to)); else writeFileSync(join(root, to), from);
    chmodSync(join(root, to), mode);
  }
  const bb = debFile("busybox-static", "bin/busybox");
  const extra = join(work, "extra.cpio.gz");
  execSync(`cd ${root} && find . | ${bb} cpio -o -H newc 2>/dev/null | gzip > ${extra}`);
  return new Uint8Array(Buffer.concat([readFileSync(initrd), readFileSync(extra)]));
}

/** xen-netfront.ko of the kernel's package (a module: CONFIG_XEN_NETDEV_FRONTEND=m; it depends on no other module). */
function netfrontModule(): string {
  const pkg = resolveDepends("linux-image-amd64", "linux-image-");
  const mods = debFind(pkg, "lib/modules", /^\d/, "boot");
  return join(mods, "kernel", "drivers", "net", "xen-netfront.ko");
}

test("Debian's Linux with xen-netfront: DHCP from the NAT, ping "
    + "the gateway, DNS, HTTP GET and POST to a server on the " + "host's 127.0.0.1", async () => {
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 255;
  let posted = "";
  const http = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (b) => { body += b; });
    req.on("end", () => {
      if (req.url === "/big") { res.end(big); return; }
      if (req.method === "POST") posted = body;
      res.end("hello from the host, through the NAT\n");
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const work = join(process.cwd(), "tests", "build", "nat-linux");
  const script = [
    "#!/bin/sh",
    'if [ "$1" = bound ]; then',
    "  ifconfig $interface $ip netmask $subnet up",
    "  route add default gw $router dev $interface",
    '  echo "nameserver $dns" > /etc/resolv.conf',
    '  echo "dhcp: got $ip router $router dns $dns"',
    "fi",
  ].join("\n") + "\n";
  const initrd = appendToInitramfs(busyboxInitramfs(work, [
    "mkdir -p /etc /tmp",
    "insmod /lib/modules/xen-netfront.ko",
    "ifconfig lo 127.0.0.1 up",
    "ifconfig eth0 up",
    "udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 1 2>&1 | grep -v '^udhcpc'",
    "ping -c 1 -W 5 10.0.2.2 | grep -o '1 packets received'",
    "nslookup host.test 10.0.2.3 2>&1 | grep -A1 'Name:'",
    `wget -q -O - http://10.0.2.2:${port}/hello`,
    `echo "big: $(wget -q -O - http://10.0.2.2:${port}/big | md5sum)"`,
    `wget -q -O /dev/null --post-data 'guest says hi' http://10.0.2.2:${port}/post && echo posted`,
    "echo NAT-TEST-DONE",
    "poweroff -f",
  ]), work, [["lib/modules/xen-netfront.ko", netfrontModule(), 0o644], ["etc/udhcpc.sh", enc(script), 0o755]]);
  const host = await XenHost.create(512);
  const nat = enableNat(
    host, { dns: { upstream: "", lookup: async (n) => (n === "host.test" ? [ipNum("10.0.2.2")!] : "nxdomain") } }
  );
  const dom = host.createDomain("linux-net", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: 256, ramdisk: initrd, cmdline: "console=hvc0 quiet", vifs: [{}],
  });
  let out = "";
  dom.onConsole = (b) => { out += dec(b); };
  const t0 = Date.now();
  await host.runUntil(
    () => out.includes("NAT-TEST-DONE") || host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 120000
  );
  const why = out.slice(-3000);
  assert.match(out, "dhcp: got 10.0.2.15 router 10.0.2.2 dns 10.0.2.3", why);
  assert.match(out, "1 packets received", why);
  assert.match(out, /Name:\s+host\.test\s*\n\s*Address:?\s+(1: )?10\.0\.2\.2/, why);
  assert.match(out, "hello from the host, through the NAT", why);
  assert.match(out, `big: ${createHash("md5").update(big).digest("hex")}`, why);
  assert.match(out, "posted", why);
  assert.is(posted, "guest says hi");
  assert.is(nat.guestIp(dom.vifs[0].mac), "10.0.2.15");
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 150000);
  host.destroyDomain(dom.domid);
  nat.close();
  http.closeAllConnections();
  http.close();
});

// After the last test this file's process did not always end: Node spun for ever in its exit-time
// handle cleanup (node::Environment::CleanupHandles, seen with gdb; no handle or request was left
// active by then), in most runs when stdin is at EOF as under CI. Not explained: the process leaves
// explicitly once uvu has printed its summary (its exit code set by uvu).
test.after(() => { setTimeout(() => process.exit(), 1000); });

test.run();
