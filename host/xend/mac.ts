// MAC addresses for guest network interfaces.
//
// Xen owns the OUI 00:16:3e. Like xl and xend, generated addresses take the form
// 00:16:3e:XX:YY:ZZ with XX below 0x80: the upper half of that space is left to tools that assign
// addresses by other means, so the two never collide.

export const XEN_OUI = "00:16:3e";

/** Random bytes from the platform's CSPRNG (Node 20 and browsers both have `crypto`). */
function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Lower-case canonical form, so "00:16:3E:..." and "00:16:3e:..." compare equal. */
export function normalizeMac(s: string): string {
  return s.trim().toLowerCase();
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/**
 * Checks that `s` is a MAC address a guest interface may use: six two-digit hex octets separated
 * by ':', unicast (bit 0 of the first octet clear) and not all zeros. Returns null when it is
 * valid, otherwise a short reason ("not six hex octets separated by ':'", ...).
 */
export function validateMac(s: string): string | null {
  if (!MAC_RE.test(s)) return "not six two-digit hex octets separated by ':'";
  const octets = s.split(":").map((o) => parseInt(o, 16));
  if (octets[0] & 1) return "a multicast address (bit 0 of the first octet is set)";
  if (octets.every((o) => o === 0)) return "the all-zero address";
  return null;
}

/** True when `s` is a valid unicast MAC address (see validateMac). */
export function isValidMac(s: string): boolean {
  return validateMac(s) === null;
}

/** The number of distinct addresses randomMac can produce: 0x80 * 0x100 * 0x100. */
export const RANDOM_MAC_SPACE = 0x80 << 16;

/**
 * A random address 00:16:3e:XX:YY:ZZ with XX < 0x80 (lower case), not in `used`. Entries of `used`
 * are compared case-insensitively. Throws if every address in the range is taken.
 */
export function randomMac(used: Set<string>): string {
  const taken = new Set<string>();
  for (const m of used) taken.add(normalizeMac(m));
  const make = (n: number) => `${XEN_OUI}:${hex2((n >> 16) & 0x7f)}:${hex2((n >> 8) & 0xff)}:${hex2(n & 0xff)}`;
  // Random probing finds a free address at once unless the space is nearly full.
  for (let tries = 0; tries < 64; tries++) {
    const b = randomBytes(3);
    const mac = make(((b[0] & 0x7f) << 16) | (b[1] << 8) | b[2]);
    if (!taken.has(mac)) return mac;
  }
  // Nearly full: walk the space from a random start so the answer is still unpredictable.
  const b = randomBytes(3);
  const start = ((b[0] & 0x7f) << 16) | (b[1] << 8) | b[2];
  for (let i = 0; i < RANDOM_MAC_SPACE; i++) {
    const mac = make((start + i) % RANDOM_MAC_SPACE);
    if (!taken.has(mac)) return mac;
  }
  throw new Error(`randomMac: all ${RANDOM_MAC_SPACE} addresses in ${XEN_OUI}:00-7f:xx:xx are in use`);
}
