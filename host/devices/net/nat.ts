// The host's user-mode NAT uplink (slirp-like, in TypeScript, no privileges or native code): a port on
// a bridge (xenbr0) that plays a virtual router and the host behind it for every guest on that bridge.
//
// Addresses (QEMU's user networking defaults; `net` changes them): network 10.0.2.0/24; the gateway
// 10.0.2.2, which is also the host itself (TCP/UDP to 10.0.2.2:PORT goes to the host's 127.0.0.1:PORT);
// the DNS server 10.0.2.3; DHCP leases from 10.0.2.15 upwards, one per MAC. The NAT's own MAC is
// 52:55:0a:00:02:02 (52:55 and the gateway's address).
//
// It answers ARP for the gateway and DNS addresses, DHCP (dhcp.ts), ICMP echo to those two addresses,
// DNS at the DNS address (dns.ts), and NATs the guests' UDP (a Node dgram socket per flow) and TCP (a
// guest-side TCP endpoint per connection spliced to a net.Socket: tcp.ts) to the real destinations.
// Optional TCP port forwards take connections on a host address and port to a guest's port. Frames it
// cannot parse, with bad checksums, fragments, or not for it, are dropped and counted; nothing that
// comes from a guest makes it throw.
import { createSocket, Socket as UdpSocket } from "node:dgram";
import { connect as tcpConnect, createServer, Server, Socket } from "node:net";
import type { Bridge, BridgeEndpoint, BridgePort, Frame } from "./bridge";
import type { Uplink } from "../../pv/host";
import {
  ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, BROADCAST_MAC, Ipv4,
  parseIpv4, parseUdp, parseArp, arpFrame, ipv4Frames, udpSegment, inetChecksum, sum16, fold, get16, get32, put16,
  ipNum, ipStr, sameMac,
} from "./ip";
import { parseForward } from "./forward";
import { DhcpServer, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DHCPACK } from "./dhcp";
import { DnsServer, DnsOptions, DNS_PORT } from "./dns";
import {
  TcpConn, TcpHost, TcpLimits, TcpSeg, DEFAULT_TCP_LIMITS, parseTcp, tcpSegment, connKey, SYN, ACK, RST, FIN
} from "./tcp";

export { parseForward };

export interface NatOptions {
  /** The guest network, "10.0.2.0/24" by default (prefix 8 to 29). */
  net?: string;
  /** Only the host (the gateway address) and DNS are reachable, nothing beyond (QEMU's restrict=on). */
  restrict?: boolean;
  /** Host loopback ports guests may not reach through the gateway address (xend's relocation port). */
  denyHostPorts?: number[];
  dns?: DnsOptions;
  tcp?: Partial<TcpLimits>;
  /** At most this many TCP connections (more SYNs get an RST) and UDP flows (the idlest is dropped). */
  maxTcp?: number;
  maxUdp?: number;
  /** A UDP flow with no datagram either way for this long is closed. */
  udpIdleMs?: number;
  mtu?: number;
  /** Called when frames for guests were put on the bridge from outside a run slice (wakes the host loop). */
  wake?: () => void;
  now?: () => number;
}

export interface PortForward {
  /** Host address to listen on (default 127.0.0.1) and port (0: any free one). */
  hostAddr?: string;
  hostPort: number;
  /** The guest: its MAC (the address it got by DHCP or uses is learnt) or a fixed IPv4 address. */
  guest: string;
  guestPort: number;
}

export interface ForwardHandle { spec: PortForward; ready: Promise<number>; close(): void }

/**
 * The NAT settings of xend and `xm run` from the environment: XEND_NAT=no switches the NAT off,
 * XEND_NAT=restrict lets guests reach only the host; XEND_NAT_NET sets the network (10.0.2.0/24).
 * Returns undefined when it is off.
 */
export function natOptionsFromEnv(env: Record<string, string | undefined>): NatOptions | undefined {
  const mode = (env.XEND_NAT ?? "yes").trim().toLowerCase();
  if (["no", "off", "0", "false", "none"].includes(mode)) return undefined;
  if (!["yes", "on", "1", "true", "restrict"].includes(mode))
    throw new Error(`XEND_NAT=${env.XEND_NAT}: want yes, no or restrict`);
  const o: NatOptions = { restrict: mode === "restrict" };
  if (env.XEND_NAT_NET) { parseNet(env.XEND_NAT_NET); o.net = env.XEND_NAT_NET; }
  return o;
}

export interface NatStats {
  framesIn: number; framesOut: number; dropped: number; arp: number; dhcp: number; icmp: number; dns: number;
  udpOut: number; udpIn: number; tcpConns: number; tcpRefused: number;
}

interface UdpFlow {
  key: string; mac: Uint8Array; gip: number; gport: number; rip: number; rport: number; hostAddr: string;
  sock: UdpSocket; last: number;
}

const LOOPBACK = "127.0.0.1";

/** "10.0.2.0/24" → network and mask. */
export function parseNet(s: string): { net: number; mask: number; prefix: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  const a = m ? ipNum(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : -1;
  if (a === undefined || prefix < 8 || prefix > 29)
    throw new Error(`bad NAT network ${JSON.stringify(s)} (want A.B.C.D/8..29, e.g. 10.0.2.0/24)`);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return { net: (a & mask) >>> 0, mask, prefix };
}

export class NatUplink implements BridgeEndpoint {
  readonly name = "nat";
  /** Frames with blank checksums are completed by the bridge before we see them. */
  readonly noCsumBlank = true;
  readonly mac: Uint8Array;
  readonly net: number;
  readonly mask: number;
  readonly prefix: number;
  readonly gateway: number;
  readonly dnsIp: number;
  readonly dhcp: DhcpServer;
  readonly dns: DnsServer;
  readonly stats: NatStats = {
    framesIn: 0, framesOut: 0, dropped: 0, arp: 0, dhcp: 0, icmp: 0, dns: 0, udpOut: 0, udpIn: 0, tcpConns: 0,
    tcpRefused: 0
  };
  readonly limits: TcpLimits;
  private port?: BridgePort;
  private readonly tcp = new Map<string, TcpConn>();
  private readonly udp = new Map<string, UdpFlow>();
  private readonly servers = new Set<Server>();
  private readonly forwardsOf = new Map<string, ForwardHandle[]>();
  /** Addresses guests use, learnt from their frames and DHCP: MAC → IP and IP → MAC. */
  private readonly ipOfMac = new Map<string, number>();
  private readonly macOfIp = new Map<number, Uint8Array>();
  private ipId = 1;
  private nextPort = 49152;
  private ticker?: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly now: () => number;
  private readonly mtu: number;
  private readonly maxTcp: number;
  private readonly maxUdp: number;
  private readonly udpIdleMs: number;
  private readonly tcpHost: TcpHost;

  constructor(readonly o: NatOptions = {}) {
    const { net, mask, prefix } = parseNet(o.net ?? "10.0.2.0/24");
    this.net = net; this.mask = mask; this.prefix = prefix;
    this.gateway = (net + 2) >>> 0;
    this.dnsIp = (net + 3) >>> 0;
    const bcast = (net | ~mask) >>> 0;
    const first = prefix >= 28 ? (net + 4) >>> 0 : (net + 15) >>> 0;
    this.dhcp = new DhcpServer({
      server: this.gateway, router: this.gateway, dns: this.dnsIp, mask, first, last: (bcast - 1) >>> 0
    });
    this.dns = new DnsServer(o.dns);
    this.mac = new Uint8Array([
      0x52, 0x55, this.gateway >>> 24, (this.gateway >>> 16) & 255, (this.gateway >>> 8) & 255, this.gateway & 255
    ]);
    this.limits = { ...DEFAULT_TCP_LIMITS, ...o.tcp };
    this.now = o.now ?? Date.now;
    this.mtu = o.mtu ?? 1500;
    this.maxTcp = o.maxTcp ?? 1024;
    this.maxUdp = o.maxUdp ?? 512;
    this.udpIdleMs = o.udpIdleMs ?? 60_000;
    this.tcpHost = {
      emit: (c, seg) => this.sendIp(c.guestMac, c.remoteIp, c.guestIp, IPPROTO_TCP, seg),
      closed: (c) => { if (this.tcp.get(c.key) === c) this.tcp.delete(c.key); },
      now: () => this.now(),
    };
  }

  /** Become the host port of `bridge`. */
  attach(bridge: Bridge): this {
    this.port = bridge.attachHost(this);
    return this;
  }

  /** Always hand `mac` this address by DHCP (a vif's `ip=`). */
  reserve(mac: string, ip: string): void {
    const n = ipNum(ip.split("/")[0]);
    if (n === undefined || ((n & this.mask) >>> 0) !== this.net)
      throw new Error(`ip ${ip} is not in the NAT network ${ipStr(this.net)}/${this.prefix}`);
    this.dhcp.reserve(mac, n);
  }

  /** The address a guest MAC uses (learnt from its traffic or leased), if known. */
  guestIp(mac: string): string | undefined {
    const ip = this.ipOfMac.get(mac.toLowerCase()) ?? this.dhcp.leaseOf(mac);
    return ip === undefined ? undefined : ipStr(ip);
  }

  connections(): { tcp: ReturnType<TcpConn["info"]>[]; udp: number } {
    return { tcp: [...this.tcp.values()].map((c) => c.info()), udp: this.udp.size };
  }

  // ---------------------------------------------------------------- frames from the bridge

  /** A frame leaving the bridge through our port. Never throws. */
  deliver(f: Frame): void {
    if (this.closed) return;
    try { this.input(f.data); } catch { this.stats.dropped++; }
  }

  private input(d: Uint8Array): void {
    if (d.length < 14) { this.stats.dropped++; return; }
    const toUs = sameMac(d, this.mac), bcast = sameMac(d, BROADCAST_MAC);
    if (!toUs && !bcast) return; // unicast for another station on the bridge
    this.stats.framesIn++;
    const type = get16(d, 12);
    if (type === ETH_P_ARP) { this.arp(d); return; }
    if (type !== ETH_P_IP) return;
    const p = parseIpv4(d);
    if (!p || p.fragment) { this.stats.dropped++; return; }
    this.learn(p.srcMac, p.src);
    if (p.proto === IPPROTO_UDP) {
      const u = parseUdp(p);
      if (!u) { this.stats.dropped++; return; }
      if (
        u.dport === DHCP_SERVER_PORT && u.sport === DHCP_CLIENT_PORT && (p.dst === 0xffffffff || p.dst === this.gateway)
      ) { this.dhcpIn(u.data); return; }
      if (!toUs) return;
      if (p.dst === this.dnsIp) { if (u.dport === DNS_PORT) this.dnsIn(p, u.sport, u.data); return; }
      const host = this.destination(p.dst, u.dport);
      if (host !== undefined) this.udpOut(p, u.sport, u.dport, u.data, host);
      return;
    }
    if (!toUs) return;
    if (p.proto === IPPROTO_TCP) { this.tcpIn(p); return; }
    if (p.proto === IPPROTO_ICMP) this.icmpIn(p);
  }

  /** The host address a guest destination maps to, or undefined if it is not reachable. */
  private destination(dst: number, dport: number): string | undefined {
    if (dst === this.gateway) return this.o.denyHostPorts?.includes(dport) ? undefined : LOOPBACK;
    if (((dst & this.mask) >>> 0) === this.net) return undefined; // our own network: not routed
    if (this.o.restrict) return undefined;
    const a = dst >>> 24;
    if (a === 0 || a === 127 || a >= 224) return undefined; // this-network, loopback, multicast, broadcast
    return ipStr(dst);
  }

  private learn(mac: Uint8Array, ip: number): void {
    if (ip === 0 || ((ip & this.mask) >>> 0) !== this.net || ip === this.gateway || ip === this.dnsIp) return;
    if (mac[0] & 1) return;
    const k = macKey(mac);
    if (this.ipOfMac.get(k) !== ip) {
      if (this.ipOfMac.size >= 4096) this.ipOfMac.clear();
      this.ipOfMac.set(k, ip);
    }
    const have = this.macOfIp.get(ip);
    if (!have || !sameMac(have, mac)) {
      if (this.macOfIp.size >= 4096) this.macOfIp.clear();
      this.macOfIp.set(ip, mac.slice(0, 6));
    }
  }

  private arp(d: Uint8Array): void {
    const a = parseArp(d);
    if (!a) { this.stats.dropped++; return; }
    if (a.spa !== 0) this.learn(a.sha, a.spa);
    if (a.op !== 1 || (a.tpa !== this.gateway && a.tpa !== this.dnsIp) || a.spa === a.tpa) return;
    this.stats.arp++;
    this.out(arpFrame(a.sha, 2, this.mac, a.tpa, a.sha, a.spa));
  }

  private dhcpIn(data: Uint8Array): void {
    const r = this.dhcp.handle(data);
    if (!r) return;
    this.stats.dhcp++;
    const yiaddr = get32(r.data, 16);
    if (r.type === DHCPACK && yiaddr !== 0) this.learn(r.data.subarray(28, 34), yiaddr);
    this.sendIp(
      r.dstMac, this.gateway, r.dstIp, IPPROTO_UDP,
      udpSegment(this.gateway, r.dstIp, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, r.data)
    );
  }

  private icmpIn(p: Ipv4): void {
    const m = p.payload;
    if (m.length < 8 || fold(sum16(m, 0, m.length)) !== 0xffff) { this.stats.dropped++; return; }
    if (m[0] !== 8 || m[1] !== 0) return; // echo requests only
    if (p.dst !== this.gateway && p.dst !== this.dnsIp) return; // no raw sockets: nothing beyond us answers
    const r = m.slice();
    r[0] = 0; r[2] = 0; r[3] = 0;
    put16(r, 2, inetChecksum(r));
    this.stats.icmp++;
    this.sendIp(p.srcMac.slice(), p.dst, p.src, IPPROTO_ICMP, r);
  }

  private dnsIn(p: Ipv4, sport: number, data: Uint8Array): void {
    this.stats.dns++;
    const mac = p.srcMac.slice(), src = p.src;
    void this.dns.query(data.slice()).then((r) => {
      if (r && !this.closed)
        this.sendIp(mac, this.dnsIp, src, IPPROTO_UDP, udpSegment(this.dnsIp, src, DNS_PORT, sport, r));
    }, () => {});
  }

  // ---------------------------------------------------------------- UDP

  private udpOut(p: Ipv4, sport: number, dport: number, data: Uint8Array, hostAddr: string): void {
    if (dport === 0) return;
    const key = connKey(p.src, sport, p.dst, dport);
    let fl = this.udp.get(key);
    if (!fl) {
      if (this.udp.size >= this.maxUdp) {
        let old: UdpFlow | undefined;
        for (const x of this.udp.values()) if (!old || x.last < old.last) old = x;
        if (old) this.closeUdp(old);
      }
      const sock = createSocket("udp4");
      const flow: UdpFlow = {
        key, mac: p.srcMac.slice(), gip: p.src, gport: sport, rip: p.dst, rport: dport, hostAddr, sock, last: this.now()
      };
      sock.on("error", () => this.closeUdp(flow));
      sock.on("message", (msg, rinfo) => {
        // Only the destination may answer (address- and port-restricted, like most NATs).
        if (this.closed || rinfo.port !== flow.rport || rinfo.address !== flow.hostAddr) return;
        flow.last = this.now();
        this.stats.udpIn++;
        this.sendIp(
          flow.mac, flow.rip, flow.gip, IPPROTO_UDP,
          udpSegment(flow.rip, flow.gip, flow.rport, flow.gport, new Uint8Array(msg.buffer, msg.byteOffset, msg.length))
        );
      });
      this.udp.set(key, flow);
      fl = flow;
      this.startTicker();
    }
    fl.last = this.now();
    if (!sameMac(fl.mac, p.srcMac)) fl.mac = p.srcMac.slice();
    this.stats.udpOut++;
    const f = fl;
    try {
      f.sock.send(data.slice(), dport, hostAddr, (err) => { if (err) this.closeUdp(f); });
    } catch { this.closeUdp(f); }
  }

  private closeUdp(f: UdpFlow): void {
    if (this.udp.get(f.key) === f) this.udp.delete(f.key);
    try { f.sock.close(); } catch { /* closed */ }
  }

  // ---------------------------------------------------------------- TCP

  private tcpIn(p: Ipv4): void {
    const s = parseTcp(p);
    if (!s) { this.stats.dropped++; return; }
    const key = connKey(p.src, s.sport, p.dst, s.dport);
    const c = this.tcp.get(key);
    if (c) { c.input(s); return; }
    if ((s.flags & (SYN | ACK | RST | FIN)) === SYN) {
      const host = this.destination(p.dst, s.dport);
      if (host === undefined || this.tcp.size >= this.maxTcp || s.dport === 0) {
        this.stats.tcpRefused++; this.reset(p, s); return;
      }
      const sock = tcpConnect({ host, port: s.dport, allowHalfOpen: true });
      const conn = new TcpConn(this.tcpHost, p.srcMac.slice(), p.src, s.sport, p.dst, s.dport, sock, s, this.limits);
      this.tcp.set(key, conn);
      this.stats.tcpConns++;
      this.startTicker();
      return;
    }
    if (!(s.flags & RST)) this.reset(p, s);
  }

  /** RFC 793's reset for a segment that belongs to no connection. */
  private reset(p: Ipv4, s: TcpSeg): void {
    const seg = s.flags & ACK
      ? tcpSegment(p.dst, p.src, s.dport, s.sport, s.ack, 0, RST, 0)
      : tcpSegment(
        p.dst, p.src, s.dport, s.sport, 0,
        (s.seq + s.data.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0)) >>> 0, RST | ACK, 0
      );
    this.sendIp(p.srcMac.slice(), p.dst, p.src, IPPROTO_TCP, seg);
  }

  /**
   * Take TCP connections on a host address and port to a guest's port. `ready` resolves to the bound
   * port (or rejects: the port is taken); `close` stops listening. With `retryMs`, a port in use
   * (EADDRINUSE) is tried again every 100 ms for that long before `ready` rejects: a domain that
   * migrates within one host comes here while its source still holds the port, which that host lets go
   * when it destroys the source (after the hand-over).
   */
  forward(fw: PortForward, retryMs = 0): ForwardHandle {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.forwardIn(fw, sock));
    this.servers.add(server);
    let closed = false, retry: ReturnType<typeof setTimeout> | undefined;
    let attempt = () => {};
    const until = Date.now() + retryMs;
    const ready = new Promise<number>((res, rej) => {
      attempt = () => {
        retry = undefined;
        if (closed || this.closed) { this.servers.delete(server); rej(new Error("the forward was closed")); return; }
        const onError = (e: NodeJS.ErrnoException) => {
          server.off("listening", onListening);
          if (e.code === "EADDRINUSE" && !closed && !this.closed && Date.now() + 100 <= until) {
            retry = setTimeout(attempt, 100); return;
          }
          this.servers.delete(server);
          rej(e);
        };
        const onListening = () => {
          server.off("error", onError);
          server.on("error", () => {});
          const a = server.address();
          res(typeof a === "object" && a ? a.port : fw.hostPort);
        };
        server.once("error", onError);
        server.once("listening", onListening);
        server.listen(fw.hostPort, fw.hostAddr ?? LOOPBACK);
      };
      attempt();
    });
    ready.catch(() => {});
    const h: ForwardHandle = { spec: fw, ready, close: () => {
      closed = true;
      if (retry) { clearTimeout(retry); attempt(); return; } // waiting for the port: `ready` rejects
      this.servers.delete(server); server.close();
    } };
    const k = fw.guest.toLowerCase();
    const list = this.forwardsOf.get(k) ?? [];
    list.push(h);
    this.forwardsOf.set(k, list);
    return h;
  }

  /**
   * A vif on this NAT's bridge: its `ip=` becomes its DHCP address (if in our network) and each
   * `forward=` a port forward to it. Problems (an address elsewhere, a port taken) go to `warn`. A port
   * in use is tried again for `retryMs` (a domain restored or migrated in while another process, its
   * source, still holds the port) before the warning.
   */
  setupVif(mac: string, v: { ip?: string; forward?: string[] }, warn: (msg: string) => void, retryMs = 0): void {
    const ip = v.ip?.split(/\s+/).find((a) => ipNum(a.split("/")[0]) !== undefined);
    if (ip) {
      try {
        this.reserve(mac, ip);
      } catch (e) { warn(`vif ${mac}: ${(e as Error).message}; DHCP gives it another address`); }
    }
    for (const f of v.forward ?? []) {
      let fw: PortForward;
      try {
        fw = { ...parseForward(f), guest: mac };
      } catch (e) { warn(`vif ${mac}: ${(e as Error).message}`); continue; }
      this.forward(fw, retryMs).ready.catch(
        (e: Error) =>
          warn(`vif ${mac}: forward=${f}: cannot listen on ${fw.hostAddr ?? LOOPBACK}:${fw.hostPort}: ${e.message}`)
      );
    }
  }

  /**
   * A vif is gone: stop its forwards and drop its connections and flows (their frames would flood the
   * bridge to everyone else); its DHCP address stays reserved for its MAC.
   */
  release(mac: string): void {
    const k = mac.toLowerCase();
    for (const h of this.forwardsOf.get(k) ?? []) h.close();
    this.forwardsOf.delete(k);
    for (const c of [...this.tcp.values()]) if (macKey(c.guestMac) === k) c.drop();
    for (const f of [...this.udp.values()]) if (macKey(f.mac) === k) this.closeUdp(f);
  }

  private forwardIn(fw: PortForward, sock: Socket): void {
    sock.on("error", () => {});
    if (this.closed || this.tcp.size >= this.maxTcp) { sock.destroy(); return; }
    let gip = ipNum(fw.guest);
    let mac: Uint8Array | undefined;
    if (gip === undefined) {
      const ip = this.guestIp(fw.guest);
      gip = ip === undefined ? undefined : ipNum(ip);
    }
    if (gip !== undefined) mac = this.macOfIp.get(gip);
    if (gip === undefined || !mac) { sock.destroy(); return; } // the guest has no address (yet)
    let sport = 0;
    for (let i = 0; i < 16384; i++) {
      const cand = this.nextPort;
      this.nextPort = this.nextPort >= 65535 ? 49152 : this.nextPort + 1;
      if (!this.tcp.has(connKey(gip, fw.guestPort, this.gateway, cand))) { sport = cand; break; }
    }
    if (!sport) { sock.destroy(); return; }
    const conn = new TcpConn(this.tcpHost, mac, gip, fw.guestPort, this.gateway, sport, sock, undefined, this.limits);
    this.tcp.set(conn.key, conn);
    this.stats.tcpConns++;
    this.startTicker();
  }

  // ---------------------------------------------------------------- output, timers

  /** An IPv4 packet to a guest (fragmented to the MTU). */
  private sendIp(dstMac: Uint8Array, src: number, dst: number, proto: number, payload: Uint8Array): void {
    if (this.closed) return;
    const id = this.ipId;
    this.ipId = (this.ipId + 1) & 0xffff;
    for (const f of ipv4Frames(dstMac, this.mac, src, dst, proto, id, payload, this.mtu)) this.out(f);
  }

  private out(f: Uint8Array): void {
    if (!this.port?.attached) return;
    this.stats.framesOut++;
    this.port.input({ data: f, validated: true });
    this.o.wake?.();
  }

  private startTicker(): void {
    if (this.ticker || this.closed) return;
    this.ticker = setInterval(() => this.tick(), 50);
    this.ticker.unref?.();
  }

  /** Timers of every connection and flow (also called by tests with their own clock). */
  tick(): void {
    const now = this.now();
    for (const c of [...this.tcp.values()]) { try { c.tick(now); } catch { c.drop(); } }
    for (const f of [...this.udp.values()]) if (now - f.last > this.udpIdleMs) this.closeUdp(f);
    if (this.tcp.size === 0 && this.udp.size === 0 && this.ticker) {
      clearInterval(this.ticker); this.ticker = undefined;
    }
  }

  /** Close every connection, flow and forward and leave the bridge. */
  close(): void {
    if (this.closed) return;
    for (const c of [...this.tcp.values()]) c.drop();
    this.closed = true;
    for (const f of [...this.udp.values()]) this.closeUdp(f);
    for (const s of this.servers) s.close();
    this.servers.clear();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.port?.detach();
  }
}

function macKey(m: Uint8Array): string {
  return Array.from(m.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

export { ETH_P_IP };

/** Put the user-mode NAT on `host`'s xenbr0 as its uplink (once; later calls return it). Node entry
 * points only (it needs Node's sockets): the platform-neutral XenHost never imports this file. */
export function enableNat(host: { nat?: Uplink; bridge: Bridge; wake(): void }, o: NatOptions = {}): NatUplink {
  if (host.nat instanceof NatUplink) return host.nat;
  if (host.nat) throw new Error("the host has another uplink on xenbr0");
  const n = new NatUplink({ ...o, wake: () => host.wake() }).attach(host.bridge);
  host.nat = n;
  return n;
}
