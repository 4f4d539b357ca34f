// The NAT's DHCP server (RFC 2131/2132): one address per client MAC from a pool (10.0.2.15 upwards by
// default), kept for the NAT's lifetime; OFFER for DISCOVER, ACK or NAK for REQUEST, ACK for INFORM,
// DECLINE and RELEASE honoured. Options given: subnet mask, router, DNS server, lease time, server id,
// broadcast address, and the renewal times. Malformed messages get no answer.
import { get16, get32, put16, put32, ipStr, BROADCAST_MAC } from "./ip";

export const DHCP_SERVER_PORT = 67, DHCP_CLIENT_PORT = 68;
const MAGIC = 0x63825363;
export const DHCPDISCOVER = 1, DHCPOFFER = 2, DHCPREQUEST = 3, DHCPDECLINE = 4, DHCPACK = 5, DHCPNAK = 6,
  DHCPRELEASE = 7, DHCPINFORM = 8;

export interface DhcpOptions {
  /** This server's address (option 54); also the router unless `router` says otherwise. */
  server: number;
  router: number;
  dns: number;
  mask: number;
  /** The pool: first..last inclusive. */
  first: number;
  last: number;
  leaseSecs?: number;
}

export interface DhcpMessage {
  op: number; xid: number; flags: number; ciaddr: number; yiaddr: number; giaddr: number;
  chaddr: Uint8Array; type: number; requested?: number; serverId?: number;
}

/** A BOOTP/DHCP message, or undefined if it is malformed (short, wrong cookie, options overrunning). */
export function parseDhcp(d: Uint8Array): DhcpMessage | undefined {
  if (d.length < 240 || get32(d, 236) !== MAGIC) return undefined;
  if (d[1] !== 1 || d[2] !== 6) return undefined; // Ethernet addresses only
  const m: DhcpMessage = {
    op: d[0], xid: get32(d, 4), flags: get16(d, 10), ciaddr: get32(d, 12), yiaddr: get32(d, 16), giaddr: get32(d, 24),
    chaddr: d.slice(28, 34), type: 0,
  };
  let i = 240;
  while (i < d.length) {
    const code = d[i++];
    if (code === 0) continue;
    if (code === 255) break;
    if (i >= d.length) return undefined;
    const len = d[i++];
    if (i + len > d.length) return undefined;
    if (code === 53 && len === 1) m.type = d[i];
    else if (code === 50 && len === 4) m.requested = get32(d, i);
    else if (code === 54 && len === 4) m.serverId = get32(d, i);
    i += len;
  }
  return m.type ? m : undefined;
}

export interface DhcpReply {
  /** The BOOTP message (UDP payload from port 67 to 68). */
  data: Uint8Array;
  dstIp: number;
  dstMac: Uint8Array;
  type: number;
}

function macKey(m: Uint8Array): string {
  return Array.from(m.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

export class DhcpServer {
  private readonly byMac = new Map<string, number>();
  private readonly byIp = new Map<number, string>();
  private readonly declined = new Set<number>();
  readonly leaseSecs: number;
  constructor(readonly o: DhcpOptions) { this.leaseSecs = o.leaseSecs ?? 86400; }

  /** Give `mac` the address `ip` whenever it asks (a vif's `ip=`). */
  reserve(mac: string, ip: number): void {
    const k = mac.toLowerCase();
    const old = this.byIp.get(ip);
    if (old !== undefined && old !== k) this.byMac.delete(old);
    const prev = this.byMac.get(k);
    if (prev !== undefined) this.byIp.delete(prev);
    this.byMac.set(k, ip);
    this.byIp.set(ip, k);
  }

  /** The address leased to a MAC ("00:16:3e:..."), if any. */
  leaseOf(mac: string): number | undefined { return this.byMac.get(mac.toLowerCase()); }

  /** Every lease, for `xm network-list`-like views and tests. */
  leases(): { mac: string; ip: string }[] { return [...this.byMac].map(([mac, ip]) => ({ mac, ip: ipStr(ip) })); }

  private lease(mac: string): number | undefined {
    const have = this.byMac.get(mac);
    if (have !== undefined) return have;
    for (let ip = this.o.first; ip <= this.o.last; ip++) {
      if (this.byIp.has(ip) || this.declined.has(ip)) continue;
      this.byMac.set(mac, ip);
      this.byIp.set(ip, mac);
      return ip;
    }
    return undefined; // the pool is exhausted
  }

  /** Answer a client's message (the UDP payload it sent to port 67), or undefined for no answer. */
  handle(data: Uint8Array): DhcpReply | undefined {
    const m = parseDhcp(data);
    if (!m || m.op !== 1 || m.giaddr !== 0) return undefined;
    const mac = macKey(m.chaddr);
    switch (m.type) {
      case DHCPDISCOVER: {
        const ip = this.lease(mac);
        return ip === undefined ? undefined : this.reply(m, DHCPOFFER, ip);
      }
      case DHCPREQUEST: {
        if (m.serverId !== undefined && m.serverId !== this.o.server) return undefined; // it chose another server
        const want = m.requested ?? m.ciaddr;
        const ip = this.lease(mac);
        if (ip === undefined || want !== ip) return this.reply(m, DHCPNAK, 0);
        return this.reply(m, DHCPACK, ip);
      }
      case DHCPINFORM:
        return this.reply(m, DHCPACK, 0, true);
      case DHCPDECLINE: {
        // The address is in use on the link: never hand it out again; the client starts over.
        const ip = this.byMac.get(mac);
        if (ip !== undefined && (m.requested === undefined || m.requested === ip)) {
          this.byMac.delete(mac); this.byIp.delete(ip); this.declined.add(ip);
        }
        return undefined;
      }
      case DHCPRELEASE:
        return undefined; // the address stays reserved for this MAC
      default:
        return undefined;
    }
  }

  private reply(m: DhcpMessage, type: number, yiaddr: number, inform = false): DhcpReply {
    const o = this.o;
    const opts: number[] = [53, 1, type, 54, 4, ...be32(o.server)];
    if (type !== DHCPNAK) {
      if (!inform) opts.push(
        51, 4, ...be32(this.leaseSecs), 58, 4, ...be32(this.leaseSecs >>> 1), 59, 4,
        ...be32(Math.floor(this.leaseSecs * 7 / 8))
      );
      opts.push(1, 4, ...be32(o.mask), 3, 4, ...be32(o.router), 6, 4, ...be32(o.dns));
      opts.push(28, 4, ...be32(((o.server & o.mask) | ~o.mask) >>> 0));
    }
    opts.push(255);
    const d = new Uint8Array(Math.max(300, 240 + opts.length));
    d[0] = 2; d[1] = 1; d[2] = 6;
    put32(d, 4, m.xid);
    put16(d, 10, m.flags & 0x8000);
    if (inform) put32(d, 12, m.ciaddr);
    put32(d, 16, yiaddr);
    put32(d, 20, type === DHCPNAK ? 0 : o.server);
    d.set(m.chaddr, 28);
    put32(d, 236, MAGIC);
    d.set(opts, 240);
    // RFC 2131 4.1: NAKs and replies with the broadcast bit go to broadcast; INFORM to ciaddr; others
    // to the offered address at the client's MAC.
    const bcast = type === DHCPNAK || (m.flags & 0x8000) !== 0 || (inform && m.ciaddr === 0);
    const dstIp = bcast ? 0xffffffff : inform ? m.ciaddr : yiaddr;
    return { data: d, dstIp, dstMac: bcast ? BROADCAST_MAC : m.chaddr, type };
  }
}

function be32(v: number): number[] { return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]; }
