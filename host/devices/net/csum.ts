// Checksum completion for frames sent with a blank L4 checksum (NETTXF_csum_blank, Linux's
// CHECKSUM_PARTIAL): the TCP/UDP checksum field then holds the one's-complement sum of the pseudo
// header only; the full checksum is the complement of the sum over the whole L4 segment with that
// field left as it is. Used before such a frame goes to a receiver that cannot take it blank (a
// frontend with feature-no-csum-offload=1, the host's uplink).

function sum16(d: Uint8Array, from: number, to: number, acc = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) acc += (d[i] << 8) | d[i + 1];
  if (i < to) acc += d[i] << 8;
  return acc;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Fill in the TCP or UDP checksum of an Ethernet frame (IPv4 or IPv6 without extension headers,
 * optionally one 802.1Q tag) in place. Returns false (frame untouched) if it is not such a packet.
 */
export function completeChecksum(d: Uint8Array): boolean {
  let l3 = 14;
  if (d.length < l3) return false;
  let type = (d[12] << 8) | d[13];
  if (type === 0x8100) { if (d.length < 18) return false; type = (d[16] << 8) | d[17]; l3 = 18; }
  let l4: number, proto: number, end: number;
  if (type === 0x0800) {
    if (d.length < l3 + 20 || d[l3] >> 4 !== 4) return false;
    const ihl = (d[l3] & 15) * 4;
    const total = (d[l3 + 2] << 8) | d[l3 + 3];
    if (ihl < 20 || total < ihl || l3 + total > d.length) return false;
    if (((d[l3 + 6] & 0x3f) | d[l3 + 7]) !== 0) return false; // a fragment
    proto = d[l3 + 9];
    l4 = l3 + ihl;
    end = l3 + total;
  } else if (type === 0x86dd) {
    if (d.length < l3 + 40 || d[l3] >> 4 !== 6) return false;
    proto = d[l3 + 6];
    l4 = l3 + 40;
    end = l4 + ((d[l3 + 4] << 8) | d[l3 + 5]);
    if (end > d.length) return false;
  } else return false;
  const off = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (off < 0 || l4 + off + 2 > end) return false;
  let c = (~fold(sum16(d, l4, end))) & 0xffff;
  if (proto === 17 && c === 0) c = 0xffff;
  d[l4 + off] = c >> 8;
  d[l4 + off + 1] = c & 0xff;
  return true;
}

/** The L4 checksum of a packet computed from scratch (pseudo header included), for tests. */
export function l4ChecksumOk(d: Uint8Array): boolean {
  let l3 = 14;
  let type = (d[12] << 8) | d[13];
  if (type === 0x8100) { type = (d[16] << 8) | d[17]; l3 = 18; }
  let s: number, l4: number, end: number, proto: number;
  if (type === 0x0800) {
    const ihl = (d[l3] & 15) * 4;
    end = l3 + ((d[l3 + 2] << 8) | d[l3 + 3]);
    l4 = l3 + ihl;
    proto = d[l3 + 9];
    s = sum16(d, l3 + 12, l3 + 20) + proto + (end - l4);
  } else if (type === 0x86dd) {
    l4 = l3 + 40;
    end = l4 + ((d[l3 + 4] << 8) | d[l3 + 5]);
    proto = d[l3 + 6];
    s = sum16(d, l3 + 8, l3 + 40) + proto + (end - l4);
  } else return false;
  return fold(sum16(d, l4, end, s)) === 0xffff;
}
