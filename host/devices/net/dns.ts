// The NAT's DNS server (at 10.0.2.3 by default, as in QEMU's user networking). A and AAAA questions are
// answered from the host's own name resolution (node:dns lookup, i.e. getaddrinfo: /etc/hosts and the
// host's resolver), so a guest resolves exactly what host programs resolve; since the guest network is
// IPv4 only, AAAA gets an empty answer (NODATA) for names that exist. Any other question is forwarded over
// UDP to the host's first nameserver (dns.getServers(), from /etc/resolv.conf) and its answer relayed.
// At most `maxPending` questions are in flight; malformed queries get no answer.
import { lookup as dnsLookup, getServers } from "node:dns";
import { createSocket } from "node:dgram";
import { get16, put16, ipNum } from "./ip";

export const DNS_PORT = 53;
const TYPE_A = 1, TYPE_AAAA = 28, CLASS_IN = 1;
const RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4;

/** What a name resolves to: IPv4 addresses, "nxdomain", or "fail" (a temporary error). */
export type LookupResult = number[] | "nxdomain" | "fail";
export type Lookup = (name: string) => Promise<LookupResult>;

/** The host's getaddrinfo, IPv4 only. */
export const hostLookup: Lookup = (name) => new Promise((res) => {
  dnsLookup(name, { family: 4, all: true }, (err, addrs) => {
    if (err) return res(err.code === "ENOTFOUND" || err.code === "ENODATA" ? "nxdomain" : "fail");
    const out: number[] = [];
    for (const a of addrs) { const n = ipNum(a.address); if (n !== undefined) out.push(n); }
    res(out.length ? out : "nxdomain");
  });
});

export interface DnsQuestion { id: number; flags: number; name: string; type: number; cls: number; qEnd: number }

/** The first question of a standard query, or undefined if it is not one or is malformed. */
export function parseQuery(d: Uint8Array): DnsQuestion | undefined {
  if (d.length < 12) return undefined;
  const flags = get16(d, 2);
  if (flags & 0x8000) return undefined; // a response
  if (get16(d, 4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12, total = 0;
  for (;;) {
    if (i >= d.length) return undefined;
    const len = d[i++];
    if (len === 0) break;
    if (len > 63 || i + len > d.length) return undefined; // compression pointers have no place here
    total += len + 1;
    if (total > 255) return undefined;
    labels.push(String.fromCharCode(...d.subarray(i, i + len)));
    i += len;
  }
  if (i + 4 > d.length) return undefined;
  return { id: get16(d, 0), flags, name: labels.join("."), type: get16(d, i), cls: get16(d, i + 2), qEnd: i + 4 };
}

/** A response to `q` (question copied from `query`) with rcode and A records. */
export function dnsAnswer(
  query: Uint8Array, q: DnsQuestion, rcode: number, addrs: number[] = [], ttl = 60
): Uint8Array {
  const n = addrs.length;
  const out = new Uint8Array(q.qEnd + n * 16);
  out.set(query.subarray(0, q.qEnd));
  // QR, the query's opcode and RD, RA; the rcode.
  put16(out, 2, 0x8000 | (q.flags & 0x7900) | 0x0080 | rcode);
  put16(out, 4, 1); put16(out, 6, n); put16(out, 8, 0); put16(out, 10, 0);
  let o = q.qEnd;
  for (const a of addrs) {
    put16(out, o, 0xc00c); put16(out, o + 2, TYPE_A); put16(out, o + 4, CLASS_IN);
    put16(out, o + 6, ttl >>> 16); put16(out, o + 8, ttl & 0xffff); put16(out, o + 10, 4);
    out[o + 12] = a >>> 24; out[o + 13] = (a >>> 16) & 255; out[o + 14] = (a >>> 8) & 255; out[o + 15] = a & 255;
    o += 16;
  }
  return out;
}

export interface DnsOptions {
  lookup?: Lookup;
  /** "address" or "address:port" of the nameserver other questions go to; "" for none. Default: the host's first. */
  upstream?: string;
  /** How long a forwarded question may wait (ms). */
  timeoutMs?: number;
  maxPending?: number;
}

export class DnsServer {
  private pending = 0;
  private readonly lookup: Lookup;
  private readonly upstream?: { host: string; port: number };
  readonly timeoutMs: number;
  readonly maxPending: number;
  stats = { queries: 0, answered: 0, forwarded: 0, dropped: 0 };

  constructor(o: DnsOptions = {}) {
    this.lookup = o.lookup ?? hostLookup;
    const up = o.upstream ?? firstServer();
    if (up) {
      const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(up);
      if (m && (ipNum(m[1]) !== undefined || m[1].includes(":")))
        this.upstream = { host: m[1], port: m[2] ? Number(m[2]) : DNS_PORT };
    }
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.maxPending = o.maxPending ?? 64;
  }

  /** Answer one query (a UDP payload); resolves to the response, or undefined for none. Never rejects. */
  async query(d: Uint8Array): Promise<Uint8Array | undefined> {
    this.stats.queries++;
    const q = parseQuery(d);
    if (!q || this.pending >= this.maxPending) { this.stats.dropped++; return undefined; }
    if ((q.flags >> 11) & 15) { this.stats.answered++; return dnsAnswer(d, q, RCODE_NOTIMP); } // not a standard query
    this.pending++;
    try {
      if (q.cls === CLASS_IN && (q.type === TYPE_A || q.type === TYPE_AAAA)) {
        const r = await this.lookup(q.name).catch((): LookupResult => "fail");
        this.stats.answered++;
        if (r === "nxdomain") return dnsAnswer(d, q, RCODE_NXDOMAIN);
        if (r === "fail") return dnsAnswer(d, q, RCODE_SERVFAIL);
        return dnsAnswer(d, q, 0, q.type === TYPE_A ? r.slice(0, 16) : []);
      }
      if (!this.upstream) { this.stats.answered++; return dnsAnswer(d, q, RCODE_SERVFAIL); }
      const r = await this.forward(d.slice(), this.upstream);
      this.stats.forwarded++;
      return r ?? dnsAnswer(d, q, RCODE_SERVFAIL);
    } finally { this.pending--; }
  }

  private forward(d: Uint8Array, up: { host: string; port: number }): Promise<Uint8Array | undefined> {
    return new Promise((res) => {
      const s = createSocket(up.host.includes(":") ? "udp6" : "udp4");
      let done = false;
      const finish = (r?: Uint8Array) => {
        if (done) return; done = true; clearTimeout(t); try { s.close(); } catch { /* closed */ } res(r);
      };
      const t = setTimeout(() => finish(), this.timeoutMs);
      t.unref?.();
      s.on("error", () => finish());
      s.on("message", (m, rinfo) => {
        if (m.length >= 12 && get16(m, 0) === get16(d, 0) && rinfo.port === up.port) finish(new Uint8Array(m));
      });
      try { s.send(d, up.port, up.host); } catch { finish(); }
    });
  }
}

function firstServer(): string | undefined {
  try { return getServers()[0]; } catch { return undefined; }
}
