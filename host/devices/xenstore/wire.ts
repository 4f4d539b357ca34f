// The xenstore wire protocol (xen/include/public/io/xs_wire.h): a 16-byte little-endian header
// { u32 type; u32 req_id; u32 tx_id; u32 len } followed by len bytes of payload, which is usually a
// sequence of NUL-terminated strings. Strings here are "byte strings": one JS char per byte
// (latin1), so arbitrary tokens and values survive a round trip unchanged.

export const XS = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  // 20 was XS_RESTRICT, removed: invalid.
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
  TYPE_COUNT: 27,
  INVALID: 0xffff,
} as const;

/** Error names in xs_wire.h order (the string, not a number, goes on the wire). */
export const XS_ERRORS = [
  "EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO",
  "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG", "EPERM",
] as const;
export type XsErrno = (typeof XS_ERRORS)[number];

export const HEADER_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
export const XENSTORE_SERVER_FEATURE_WATCHDEPTH = 4;
export const XENSTORE_SERVER_FEATURE_DOMID_ANY = 8;

export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

/** Thrown inside the daemon to produce an XS_ERROR reply; never escapes Connection.handle. */
export class XsError extends Error {
  constructor(readonly errno: XsErrno) { super(errno); }
}

export interface XsHeader { type: number; reqId: number; txId: number; len: number }

export function bytesToStr(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

export function strToBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

export function readHeader(b: Uint8Array, off = 0): XsHeader {
  const dv = new DataView(b.buffer, b.byteOffset + off, HEADER_SIZE);
  return {
    type: dv.getUint32(0, true), reqId: dv.getUint32(4, true), txId: dv.getUint32(8, true), len: dv.getUint32(12, true)
  };
}

/** A complete message: header + payload (payload given as bytes or as a byte string). */
export function encode(type: number, reqId: number, txId: number, payload: Uint8Array | string): Uint8Array {
  const p = typeof payload === "string" ? strToBytes(payload) : payload;
  const m = new Uint8Array(HEADER_SIZE + p.length);
  const dv = new DataView(m.buffer);
  dv.setUint32(0, type >>> 0, true);
  dv.setUint32(4, reqId >>> 0, true);
  dv.setUint32(8, txId >>> 0, true);
  dv.setUint32(12, p.length, true);
  m.set(p, HEADER_SIZE);
  return m;
}

/** Builds a payload of NUL-terminated strings: ["a", "b"] → "a\0b\0". */
export function strings(...parts: string[]): string {
  return parts.map((p) => p + "\0").join("");
}

/**
 * Splits a payload into its NUL-terminated strings (xenstored's get_strings): bytes after the last
 * NUL are not returned. `count` is the number of NULs.
 */
export function splitStrings(p: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) { out.push(bytesToStr(p.subarray(start, i))); start = i + 1; }
  }
  return out;
}

/** xenstored's onearg: exactly one NUL, at the very end; otherwise null. */
export function oneArg(p: Uint8Array): string | null {
  if (p.length === 0 || p[p.length - 1] !== 0) return null;
  const nul = p.indexOf(0);
  if (nul !== p.length - 1) return null;
  return bytesToStr(p.subarray(0, nul));
}

/** Payload of an XS_ERROR reply. */
export function errorPayload(e: XsErrno): string {
  return e + "\0";
}

/**
 * Reassembles messages from a byte stream (ring or socket). `push` returns the complete messages it
 * could cut and sets `error` (and stops) on framing garbage: a header announcing more than
 * XENSTORE_PAYLOAD_MAX bytes.
 */
export class Framer {
  private hdr = new Uint8Array(HEADER_SIZE);
  private hdrUsed = 0;
  private body: Uint8Array | null = null;
  private bodyUsed = 0;
  error: "E2BIG" | null = null;

  /** Bytes the framer needs before it can complete the current message. */
  get wanted(): number {
    return this.body ? this.body.length - this.bodyUsed : HEADER_SIZE - this.hdrUsed;
  }

  get idle(): boolean { return this.hdrUsed === 0 && this.body === null; }

  reset(): void { this.hdrUsed = 0; this.body = null; this.bodyUsed = 0; this.error = null; }

  /** Takes bytes; returns how many it used (it stops after each complete message, in `done`). */
  feed(src: Uint8Array): { used: number; done: Uint8Array | null } {
    if (this.error) return { used: 0, done: null };
    let used = 0;
    if (!this.body) {
      const n = Math.min(HEADER_SIZE - this.hdrUsed, src.length);
      this.hdr.set(src.subarray(0, n), this.hdrUsed);
      this.hdrUsed += n; used += n;
      if (this.hdrUsed < HEADER_SIZE) return { used, done: null };
      const h = readHeader(this.hdr);
      if (h.len > XENSTORE_PAYLOAD_MAX) { this.error = "E2BIG"; return { used, done: null }; }
      this.body = new Uint8Array(HEADER_SIZE + h.len);
      this.body.set(this.hdr);
      this.bodyUsed = HEADER_SIZE;
    }
    const n = Math.min(this.body.length - this.bodyUsed, src.length - used);
    this.body.set(src.subarray(used, used + n), this.bodyUsed);
    this.bodyUsed += n; used += n;
    if (this.bodyUsed < this.body.length) return { used, done: null };
    const done = this.body;
    this.body = null; this.bodyUsed = 0; this.hdrUsed = 0;
    return { used, done };
  }

  /** Feeds a whole chunk, returning every complete message in it. */
  push(src: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < src.length && !this.error) {
      const r = this.feed(src.subarray(off));
      off += r.used;
      if (r.done) out.push(r.done);
      if (r.used === 0) break;
    }
    return out;
  }
}
