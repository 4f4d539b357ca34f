// The save stream: a header (magic "XWSAVE\0\1" + u32 version), then records { u32 type; u32 flags
// (bit 0: mandatory); u32 length; body; u32 crc32 over type..body }, ending with END. A reader refuses
// a bad magic or version, a truncated stream, a CRC mismatch or an unknown mandatory record, before
// anything is created.
export const MAGIC = new Uint8Array([0x58, 0x57, 0x53, 0x41, 0x56, 0x45, 0, 1]); // "XWSAVE\0\1"
export const VERSION = 1;
export const REC = { DOMAIN: 1, FRAMES: 2, PAGES: 3, VCPU: 4, XENSTORE: 5, TOOLSTACK: 6, END: 0xffff } as const;
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
export function crc32(b: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export class StreamWriter {
  readonly parts: Uint8Array[] = [];
  constructor() {
    const h = new Uint8Array(12);
    h.set(MAGIC);
    new DataView(h.buffer).setUint32(8, VERSION, true);
    this.parts.push(h);
  }
  record(type: number, body: Uint8Array, flags = MANDATORY): void {
    const hdr = new Uint8Array(12);
    const dv = new DataView(hdr.buffer);
    dv.setUint32(0, type, true); dv.setUint32(4, flags, true); dv.setUint32(8, body.length, true);
    const c = crc32(body, crc32(hdr));
    const tail = new Uint8Array(4);
    new DataView(tail.buffer).setUint32(0, c, true);
    this.parts.push(hdr, body.slice(), tail);
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
  if (ver !== VERSION) throw new StreamError(`save file version ${ver} is not supported (this xenwasm reads ${VERSION})`);
  const recs: Record[] = [];
  let o = 12;
  for (;;) {
    if (o + 12 > b.length) throw new StreamError("save file is truncated (no END record)");
    const type = dv.getUint32(o, true), flags = dv.getUint32(o + 4, true), len = dv.getUint32(o + 8, true);
    if (o + 12 + len + 4 > b.length) throw new StreamError(`save file is truncated (record ${type} at ${o})`);
    const body = b.subarray(o + 12, o + 12 + len);
    const want = dv.getUint32(o + 12 + len, true);
    if (crc32(body, crc32(b.subarray(o, o + 12))) !== want) throw new StreamError(`save file is corrupt (checksum mismatch in record ${type} at ${o})`);
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
