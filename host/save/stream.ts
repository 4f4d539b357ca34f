import * as zlib from "node:zlib";
// The save stream: a header (magic "XWSAVE\0\1" + u32 version), then records { u32 type; u32 flags
// (bit 0: mandatory); u32 length; body; u32 crc32 over type..body }, ending with END. A reader refuses
// a bad magic or version, a truncated stream, a CRC mismatch or an unknown mandatory record, before
// anything is created.
export const MAGIC = new Uint8Array([0x58, 0x57, 0x53, 0x41, 0x56, 0x45, 0, 1]); // "XWSAVE\0\1"
/** 2: the DOMAIN and VCPU records are typed and versioned (assembly/saverec.ts), no longer copies of the
 * core's structures; a version-1 stream is refused, naming both versions. */
export const VERSION = 2;
export const REC = {
  DOMAIN: 1, FRAMES: 2, PAGES: 3, VCPU: 4, XENSTORE: 5, TOOLSTACK: 6,
  // Last before END in the save files xend writes (not mandatory): HMAC-SHA256 of everything before it
  // under xend's secret (host/xend/secret.ts), so that xend knows its own files.
  AUTH: 7,
  // Migration only (host/migrate/): the conversation between the two xends, in the same framing.
  CHALLENGE: 16, HELLO: 17, ACCEPT: 18, REFUSE: 19, RESTORED: 20, COMMIT: 21, DONE: 22, ERROR: 23, SYNC: 24, SYNCED: 25,
  END: 0xffff,
} as const;
/** The largest record a reader takes (a PAGES batch is 1 MiB; a FRAMES list of 1M frames 16 MiB). */
export const MAX_RECORD = 32 << 20;
export const MANDATORY = 1;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
// Node's zlib has the same CRC-32 natively (from 20.15); elsewhere the table is used.
const nativeCrc = (zlib as unknown as { crc32?: (b: Uint8Array, v?: number) => number }).crc32;
export function crc32(b: Uint8Array, crc = 0): number {
  if (nativeCrc) return nativeCrc(b, crc) >>> 0;
  let c = ~crc >>> 0;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** One record's bytes: header, body (not copied), CRC. */
export function recordParts(type: number, body: Uint8Array, flags = MANDATORY): [Uint8Array, Uint8Array, Uint8Array] {
  const hdr = new Uint8Array(12);
  const dv = new DataView(hdr.buffer);
  dv.setUint32(0, type, true); dv.setUint32(4, flags, true); dv.setUint32(8, body.length, true);
  const tail = new Uint8Array(4);
  new DataView(tail.buffer).setUint32(0, crc32(body, crc32(hdr)), true);
  return [hdr, body, tail];
}

/** The 12-byte stream header. */
export function streamHeader(): Uint8Array {
  const h = new Uint8Array(12);
  h.set(MAGIC);
  new DataView(h.buffer).setUint32(8, VERSION, true);
  return h;
}

export class StreamWriter {
  readonly parts: Uint8Array[] = [];
  constructor() { this.parts.push(streamHeader()); }
  record(type: number, body: Uint8Array, flags = MANDATORY): void {
    const [hdr, b, tail] = recordParts(type, body, flags);
    this.parts.push(hdr, b.slice(), tail);
  }
  bytes(): Uint8Array {
    this.record(REC.END, new Uint8Array(0));
    const n = this.parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

export class StreamError extends Error {}

export interface Record { type: number; flags: number; body: Uint8Array }

/** All records of a stream, checked (throws StreamError with a one-line reason). */
export function readStream(b: Uint8Array): Record[] {
  if (b.length < 12 || MAGIC.some((x, i) => b[i] !== x)) throw new StreamError("not a xenwasm save file (bad magic)");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ver = dv.getUint32(8, true);
  if (ver !== VERSION)
    throw new StreamError(`save file version ${ver} is not supported (this xenwasm reads ${VERSION})`);
  const recs: Record[] = [];
  let o = 12;
  for (;;) {
    if (o + 12 > b.length) throw new StreamError("save file is truncated (no END record)");
    const type = dv.getUint32(o, true), flags = dv.getUint32(o + 4, true), len = dv.getUint32(o + 8, true);
    if (o + 12 + len + 4 > b.length) throw new StreamError(`save file is truncated (record ${type} at ${o})`);
    const body = b.subarray(o + 12, o + 12 + len);
    const want = dv.getUint32(o + 12 + len, true);
    if (crc32(body, crc32(b.subarray(o, o + 12))) !== want)
      throw new StreamError(`save file is corrupt (checksum mismatch in record ${type} at ${o})`);
    o += 12 + len + 4;
    if (type === REC.END) break;
    if (!(Object.values(REC) as number[]).includes(type)) {
      if (flags & MANDATORY) throw new StreamError(`save file has an unknown mandatory record (type ${type})`);
      continue;
    }
    recs.push({ type, flags, body });
  }
  return recs;
}

/**
 * The same stream read as it arrives (a socket): push() chunks, get whole records, checked like
 * readStream (header, CRC, size limit, unknown mandatory records); throws StreamError.
 */
export class RecordReader {
  /** The largest record taken (a receiver lowers it until the peer has authenticated). */
  maxRecord = MAX_RECORD;
  private buf = new Uint8Array(64 << 10);
  private len = 0;
  private headerSeen = false;
  push(chunk: Uint8Array): Record[] {
    if (this.len + chunk.length > this.buf.length) {
      const n = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      n.set(this.buf.subarray(0, this.len));
      this.buf = n;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    const out: Record[] = [];
    let o = 0;
    const b = this.buf;
    const dv = new DataView(b.buffer, 0, this.len);
    if (!this.headerSeen) {
      if (this.len < 12) return out;
      if (MAGIC.some((x, i) => b[i] !== x)) throw new StreamError("not a xenwasm stream (bad magic)");
      const ver = dv.getUint32(8, true);
      if (ver !== VERSION)
        throw new StreamError(`stream version ${ver} is not supported (this xenwasm reads ${VERSION})`);
      this.headerSeen = true;
      o = 12;
    }
    for (;;) {
      if (o + 12 > this.len) break;
      const type = dv.getUint32(o, true), flags = dv.getUint32(o + 4, true), len = dv.getUint32(o + 8, true);
      if (len > this.maxRecord) throw new StreamError(`stream record ${type} is too large (${len} bytes)`);
      if (o + 12 + len + 4 > this.len) break;
      const body = b.slice(o + 12, o + 12 + len);
      if (crc32(body, crc32(b.subarray(o, o + 12))) !== dv.getUint32(o + 12 + len, true))
        throw new StreamError(`stream is corrupt (checksum mismatch in record ${type})`);
      o += 16 + len;
      if (!(Object.values(REC) as number[]).includes(type)) {
        if (flags & MANDATORY) throw new StreamError(`stream has an unknown mandatory record (type ${type})`);
        continue;
      }
      out.push({ type, flags, body });
    }
    if (o > 0) { this.buf.copyWithin(0, o, this.len); this.len -= o; }
    return out;
  }
}
