// Known-answer vectors for the checksum and packet code (host/devices/net/ip.ts, csum.ts): values
// computed by someone else, so that a module is not only checked against itself.
//
// RFC 1071 section 3 ("Numerical Examples"): the bytes 00 01 f2 03 f4 f5 f6 f7 sum (one's complement,
// 16-bit words) to 0x2ddf0, folded 0xddf2; the checksum is its complement, 0x220d.
export const RFC1071_BYTES = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
export const RFC1071_SUM = 0xddf2;
export const RFC1071_CHECKSUM = 0x220d;

// IPv4 packets written by Linux (6.18, x86_64) and read back, unchanged, from a TUN device (which has
// no checksum offload, so the kernel computed every checksum in software): in a network namespace
// with xwtun0 = 10.9.9.1/24, a UDP datagram 10.9.9.1:40000 -> 10.9.9.2:53 with the 35 bytes
// "xenwasm checksum vector, odd length", the SYN of a TCP connect 10.9.9.1:40001 -> 10.9.9.2:8080
// (MSS, SACK-permitted, timestamps, window scale), and an ICMP echo request from a ping socket
// ("xenwasm ping"; the kernel chose the identifier). IP header checksum at bytes 10-11; UDP's at
// 20+6, TCP's at 20+16, ICMP's at 20+2.
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
export const LINUX_SRC = 0x0a090901, LINUX_DST = 0x0a090902;
export const LINUX_UDP = hex(
  "4500003f841f40004011907a0a0909010a0909029c400035002b9758" +
  "78656e7761736d20636865636b73756d20766563746f722c206f6464206c656e677468");
export const LINUX_UDP_DATA = "xenwasm checksum vector, odd length";
export const LINUX_TCP_SYN = hex(
  "4500003c9cc04000400677e70a0909010a0909029c411f90302cbf6d" +
  "00000000a002faf0dbdd0000020405b40402080a5cf842b6000000000103030a");
export const LINUX_ICMP_ECHO = hex("450000286b8740004001a9390a0909010a0909020800b5eaadd2000178656e7761736d2070696e67");
/** The checksum fields as Linux filled them in. */
export const LINUX_SUMS = { udpIp: 0x907a, udp: 0x9758, tcpIp: 0x77e7, tcp: 0xdbdd, icmpIp: 0xa939, icmp: 0xb5ea };
/**
 * The pseudo-header sums (folded, not complemented) a sender using checksum offload leaves in the
 * L4 field (Linux's CHECKSUM_PARTIAL): 0a09 + 0901 + 0a09 + 0902 = 0x2615, plus the protocol and
 * the L4 length: UDP 0x2615 + 0x11 + 0x2b = 0x2651, TCP 0x2615 + 0x06 + 0x28 = 0x2643.
 */
export const PARTIAL = { udp: 0x2651, tcp: 0x2643 };

/** An Ethernet frame (IPv4 type) around an IP packet: the MACs do not enter any checksum. */
export function inEthernet(ip: Uint8Array, dst = "00163e000001", src = "00163e000002"): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set(hex(dst), 0); f.set(hex(src), 6); f[12] = 0x08; f[13] = 0x00;
  f.set(ip, 14);
  return f;
}
