// IPv4 helpers for the NAT uplink: addresses, the Internet checksum (RFC 1071), parsing Ethernet/IPv4
// frames with every length and checksum checked, and building IPv4 frames (with fragmentation), UDP
// datagrams and ARP packets. Parsers return undefined for anything malformed; nothing here throws on
// guest input.

export const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806;
export const IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** "10.0.2.2" → 0x0a000202; undefined if it is not a dotted quad. */
export function ipNum(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

/** 0x0a000202 → "10.0.2.2". */
export function ipStr(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function get16(d: Uint8Array, o: number): number { return (d[o] << 8) | d[o + 1]; }
export function get32(d: Uint8Array, o: number): number {
  return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0;
}
export function put16(d: Uint8Array, o: number, v: number): void { d[o] = (v >>> 8) & 255; d[o + 1] = v & 255; }
export function put32(d: Uint8Array, o: number, v: number): void {
  d[o] = (v >>> 24) & 255; d[o + 1] = (v >>> 16) & 255; d[o + 2] = (v >>> 8) & 255; d[o + 3] = v & 255;
}

/** The one's-complement sum (not folded) of d[from, to), added to `acc`. */
export function sum16(d: Uint8Array, from: number, to: number, acc = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) acc += (d[i] << 8) | d[i + 1];
  if (i < to) acc += d[i] << 8;
  return acc;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The Internet checksum of d[from, to) (what goes into the checksum field when it was zero). */
export function inetChecksum(d: Uint8Array, from = 0, to = d.length, acc = 0): number {
  return (~fold(sum16(d, from, to, acc))) & 0xffff;
}

/** The sum of the IPv4 pseudo header (RFC 793/768) for an L4 segment of `len` bytes. */
export function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** True if the TCP/UDP segment `seg` (checksum field included) sums to 0xffff with its pseudo header. */
export function l4Valid(src: number, dst: number, proto: number, seg: Uint8Array): boolean {
  return fold(sum16(seg, 0, seg.length, pseudoSum(src, dst, proto, seg.length))) === 0xffff;
}

/** Fill in the TCP (field at 16) or UDP (field at 6) checksum of `seg` in place. */
export function setL4Checksum(src: number, dst: number, proto: number, seg: Uint8Array): void {
  const off = proto === IPPROTO_TCP ? 16 : 6;
  seg[off] = 0; seg[off + 1] = 0;
  let c = inetChecksum(seg, 0, seg.length, pseudoSum(src, dst, proto, seg.length));
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  put16(seg, off, c);
}

/** An IPv4 packet of an Ethernet frame, checked. `payload` is a view into the frame. */
export interface Ipv4 {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  id: number;
  /** A fragment (more fragments set, or a non-zero offset): the NAT drops these. */
  fragment: boolean;
  payload: Uint8Array;
}

/**
 * The IPv4 packet in an Ethernet frame (no VLAN tag), or undefined if the frame is not IPv4 or is
 * malformed: short, a bad version/IHL/total length, or a bad header checksum. Ethernet padding after
 * the packet is ignored.
 */
export function parseIpv4(f: Uint8Array): Ipv4 | undefined {
  if (f.length < 14 + 20 || get16(f, 12) !== ETH_P_IP) return undefined;
  const l3 = 14;
  if (f[l3] >> 4 !== 4) return undefined;
  const ihl = (f[l3] & 15) * 4;
  const total = get16(f, l3 + 2);
  if (ihl < 20 || total < ihl || l3 + total > f.length) return undefined;
  if (fold(sum16(f, l3, l3 + ihl)) !== 0xffff) return undefined;
  const frag = get16(f, l3 + 6);
  return {
    dstMac: f.subarray(0, 6), srcMac: f.subarray(6, 12),
    src: get32(f, l3 + 12), dst: get32(f, l3 + 16), proto: f[l3 + 9], ttl: f[l3 + 8], id: get16(f, l3 + 4),
    fragment: (frag & 0x3fff) !== 0,
    payload: f.subarray(l3 + ihl, l3 + total),
  };
}

/** Ethernet header + a 20-byte IPv4 header for `len` payload bytes, then the payload. */
function ipFrame(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, proto: number, id: number,
  fragField: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const f = new Uint8Array(14 + 20 + payload.length);
  f.set(dstMac.subarray(0, 6), 0); f.set(srcMac.subarray(0, 6), 6); put16(f, 12, ETH_P_IP);
  const h = 14;
  f[h] = 0x45; f[h + 1] = 0;
  put16(f, h + 2, 20 + payload.length);
  put16(f, h + 4, id & 0xffff);
  put16(f, h + 6, fragField);
  f[h + 8] = ttl; f[h + 9] = proto;
  put32(f, h + 12, src); put32(f, h + 16, dst);
  put16(f, h + 10, inetChecksum(f, h, h + 20));
  f.set(payload, h + 20);
  return f;
}

/**
 * Ethernet frames carrying one IPv4 packet (its L4 checksum already filled in): one frame if it fits
 * the MTU, else fragments of at most `mtu` bytes each (offsets in 8-byte units). DF is set on unfragmented
 * TCP packets, as senders doing path-MTU discovery do.
 */
export function ipv4Frames(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, proto: number, id: number,
  payload: Uint8Array, mtu = 1500): Uint8Array[] {
  if (20 + payload.length <= mtu)
    return [ipFrame(dstMac, srcMac, src, dst, proto, id, proto === IPPROTO_TCP ? 0x4000 : 0, payload)];
  const step = Math.floor((mtu - 20) / 8) * 8;
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += step) {
    const end = Math.min(payload.length, off + step);
    const more = end < payload.length ? 0x2000 : 0;
    out.push(ipFrame(dstMac, srcMac, src, dst, proto, id, more | (off / 8), payload.subarray(off, end)));
  }
  return out;
}

/** A UDP datagram (header + data) with its checksum. */
export function udpSegment(src: number, dst: number, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const s = new Uint8Array(8 + data.length);
  put16(s, 0, sport); put16(s, 2, dport); put16(s, 4, s.length);
  s.set(data, 8);
  setL4Checksum(src, dst, IPPROTO_UDP, s);
  return s;
}

/** A UDP datagram of a packet: ports and data, or undefined if the lengths or the checksum are wrong. */
export function parseUdp(p: Ipv4): { sport: number; dport: number; data: Uint8Array } | undefined {
  const s = p.payload;
  if (s.length < 8) return undefined;
  const len = get16(s, 4);
  if (len < 8 || len > s.length) return undefined;
  const seg = s.subarray(0, len);
  // A zero checksum means "not computed" (allowed for UDP over IPv4).
  if (get16(s, 6) !== 0 && !l4Valid(p.src, p.dst, IPPROTO_UDP, seg)) return undefined;
  return { sport: get16(s, 0), dport: get16(s, 2), data: seg.subarray(8) };
}

export interface Arp { op: number; sha: Uint8Array; spa: number; tha: Uint8Array; tpa: number }

/** An Ethernet/IPv4 ARP packet, or undefined. */
export function parseArp(f: Uint8Array): Arp | undefined {
  if (f.length < 14 + 28 || get16(f, 12) !== ETH_P_ARP) return undefined;
  const a = 14;
  if (get16(f, a) !== 1 || get16(f, a + 2) !== ETH_P_IP || f[a + 4] !== 6 || f[a + 5] !== 4) return undefined;
  return {
    op: get16(f, a + 6), sha: f.subarray(a + 8, a + 14), spa: get32(f, a + 14), tha: f.subarray(a + 18, a + 24),
    tpa: get32(f, a + 24)
  };
}

/** An ARP frame (op 1 request, 2 reply), padded to the Ethernet minimum. */
export function arpFrame(
  dstMac: Uint8Array, op: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number
): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dstMac.subarray(0, 6), 0); f.set(sha.subarray(0, 6), 6); put16(f, 12, ETH_P_ARP);
  const a = 14;
  put16(f, a, 1); put16(f, a + 2, ETH_P_IP); f[a + 4] = 6; f[a + 5] = 4; put16(f, a + 6, op);
  f.set(sha.subarray(0, 6), a + 8); put32(f, a + 14, spa);
  f.set(tha.subarray(0, 6), a + 18); put32(f, a + 24, tpa);
  return f;
}

export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sequence-number comparisons modulo 2^32 (RFC 1982 style). */
export function seqLt(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
export function seqLe(a: number, b: number): boolean { return ((a - b) | 0) <= 0; }
export function seqDiff(a: number, b: number): number { return (a - b) | 0; }
