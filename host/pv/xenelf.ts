// PV kernel images: ELF32/ELF64 with Xen's ELF notes (from PT_NOTE program headers, or SHT_NOTE
// sections when there are none). Addresses are BigInt (64-bit kernels live at the top of the address
// space). Malformed notes are tolerated as Xen's libelf does: a note whose declared size runs past its
// segment keeps the bytes that are there (Debian's grub-i386-xen.bin declares a 12-byte PAE_MODE note
// holding 4). Anything else malformed throws an Error with a one-line message.

export const XEN_ELFNOTE = {
  ENTRY: 1, HYPERCALL_PAGE: 2, VIRT_BASE: 3, PADDR_OFFSET: 4, XEN_VERSION: 5, GUEST_OS: 6,
  GUEST_VERSION: 7, LOADER: 8, PAE_MODE: 9, FEATURES: 10, BSD_SYMTAB: 11, HV_START_LOW: 12,
  L1_MFN_VALID: 13, SUSPEND_CANCEL: 14, INIT_P2M: 15, MOD_START_PFN: 16, SUPPORTED_FEATURES: 17,
  PHYS32_ENTRY: 18,
} as const;

export interface PvSegment { offset: number; vaddr: bigint; paddr: bigint; filesz: number; memsz: number }

export interface PvImage {
  bits: 32 | 64;
  entry: bigint;
  segments: PvSegment[];
  notes: Map<number, Uint8Array>;
  /** The image bytes (segments are copied from here). */
  src: ElfSource;
}

/** A kernel ELF's bytes: in memory (elfSource), or a kept file read straight into the guest's memory
 * (host/node/kernel-cache.ts), checked as it is read. */
export interface ElfSource {
  readonly length: number;
  /** Bytes [off, off + n), within length (headers and notes: small). */
  bytes(off: number, n: number): Uint8Array;
  /** Bytes [off, off + dst.length) into dst. `zero`: dst holds zeros, so zero pages may be left alone (not
   * touching fresh memory is what makes this fast). Called in increasing `off` order, without overlaps. */
  copy(off: number, dst: Uint8Array, zero: boolean): void;
  /** The whole image in memory (a kept file: read and checked; null if it was damaged). */
  whole(): Uint8Array | null;
  /** A kept file: whether all of it is what was kept (read to its end and checked; false if not, and the file
   * is removed). An image whose check fails must not run. In memory: true. */
  finish(): boolean;
  /** Whether the bytes come from a kept file (checked only by finish). */
  readonly kept: boolean;
  /** Done with it unread (a kept file is closed; finish answers false then). */
  close(): void;
}

/** A kept kernel image (ElfSource.kept) found damaged while a domain was built from it. */
export class DamagedKernel extends Error {
  constructor() { super("the kept kernel image is damaged"); }
}

/** Whether the 4 KiB (or shorter, at the end) page of b at `at` is all zeros. */
export function zeroPage(b: Uint8Array, at: number): boolean {
  const end = Math.min(b.length, at + 4096);
  let i = at;
  if (((b.byteOffset + i) & 3) === 0) {
    const w = new Int32Array(b.buffer, b.byteOffset + i, (end - i) >> 2);
    for (let k = 0; k < w.length; k++) if (w[k] !== 0) return false;
    i += w.length << 2;
  }
  for (; i < end; i++) if (b[i] !== 0) return false;
  return true;
}

/** An ELF in memory as an ElfSource. */
export function elfSource(data: Uint8Array): ElfSource {
  return {
    length: data.length,
    kept: false,
    bytes: (off, n) => data.subarray(off, off + n),
    copy(off, dst, zero) {
      const src = data.subarray(off, off + dst.length);
      if (!zero) { dst.set(src); return; }
      // Runs of non-zero pages (the zero ones, about half of Linux: bss, padding, are left untouched).
      for (let i = 0; i < src.length;) {
        while (i < src.length && zeroPage(src, i)) i += 4096;
        let j = i;
        while (j < src.length && !zeroPage(src, j)) j += 4096;
        if (j > i) dst.set(src.subarray(i, Math.min(j, src.length)), i);
        i = j;
      }
    },
    whole: () => data,
    finish: () => true,
    close() {},
  };
}

const hex = (v: bigint | number) => "0x" + v.toString(16);

export function parseXenElf(image: Uint8Array | ElfSource): PvImage {
  const src = image instanceof Uint8Array ? elfSource(image) : image;
  const len = src.length;
  // (The headers: the ELF header and the program headers, read once; notes and section headers on their own.)
  const data = src.bytes(0, Math.min(len, 4096));
  if (data.length < 52 || data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46)
    throw new Error("not an ELF file");
  const cls = data[4];
  if (cls !== 1 && cls !== 2) throw new Error(`unsupported ELF class ${cls}`);
  if (data[5] !== 1) throw new Error("not a little-endian ELF file");
  const bits: 32 | 64 = cls === 2 ? 64 : 32;
  if (bits === 64 && data.length < 64) throw new Error("truncated ELF header");
  let hdr = data, hdrAt = 0, dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  /** Bytes [at, at + n) of the ELF readable through u16/u32/u64 (at is below 4096, or a table read here). */
  const view = (at: number, n: number) => {
    if (at + n <= data.length) { hdr = data; hdrAt = 0; } else { hdr = src.bytes(at, n); hdrAt = at; }
    dv = new DataView(hdr.buffer, hdr.byteOffset, hdr.byteLength);
  };
  const u16 = (o: number) => dv.getUint16(o - hdrAt, true);
  const u32 = (o: number) => dv.getUint32(o - hdrAt, true);
  const u64 = (o: number) => dv.getBigUint64(o - hdrAt, true);
  const word = (o: number): bigint => (bits === 64 ? u64(o) : BigInt(u32(o)));
  const type = u16(16), machine = u16(18);
  if (type !== 2) throw new Error(`unsupported ELF type ${type} (a kernel must be ET_EXEC)`);
  if (bits === 64 && machine !== 62)
    throw new Error(`unsupported ELF machine ${machine} for a 64-bit PV kernel (need x86-64)`);
  if (bits === 32 && machine !== 3)
    throw new Error(`unsupported ELF machine ${machine} for a 32-bit PV kernel (need i386)`);
  const entry = word(24);
  const phoff = Number(word(bits === 64 ? 32 : 28));
  const shoff = Number(word(bits === 64 ? 40 : 32));
  const phentsize = u16(bits === 64 ? 54 : 42), phnum = u16(bits === 64 ? 56 : 44);
  const shentsize = u16(bits === 64 ? 58 : 46), shnum = u16(bits === 64 ? 60 : 48);
  const need = bits === 64 ? 56 : 32;
  if (phnum === 0) throw new Error("ELF file has no program headers");
  if (phentsize < need) throw new Error(`ELF program header size ${phentsize} is too small`);
  if (phoff + phnum * phentsize > len) throw new Error("ELF program headers extend past end of file");
  view(phoff, phnum * phentsize);
  const segments: PvSegment[] = [];
  const notes = new Map<number, Uint8Array>();
  const noteAt: [number, number][] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const ptype = u32(p);
    const off = Number(bits === 64 ? u64(p + 8) : BigInt(u32(p + 4)));
    const vaddr = bits === 64 ? u64(p + 16) : BigInt(u32(p + 8));
    const paddr = bits === 64 ? u64(p + 24) : BigInt(u32(p + 12));
    const filesz = Number(bits === 64 ? u64(p + 32) : BigInt(u32(p + 16)));
    const memsz = Number(bits === 64 ? u64(p + 40) : BigInt(u32(p + 20)));
    if (ptype === 1) {
      if (off + filesz > len) throw new Error(`ELF program header ${i} extends past end of file`);
      if (filesz > memsz) throw new Error(`ELF program header ${i}: file size larger than memory size`);
      if (memsz > 0) segments.push({ offset: off, vaddr, paddr, filesz, memsz });
    } else if (ptype === 4) {
      if (off > len) continue;
      noteAt.push([off, Math.min(filesz, len - off)]);
    }
  }
  for (const [off, n] of noteAt) readNotes(src.bytes(off, n), 0, n, notes);
  if (notes.size === 0 && shnum > 0 && shentsize >= (bits === 64 ? 64 : 40) && shoff + shnum * shentsize <= len) {
    view(shoff, shnum * shentsize);
    noteAt.length = 0;
    for (let i = 0; i < shnum; i++) {
      const s = shoff + i * shentsize;
      if (u32(s + 4) !== 7) continue; // SHT_NOTE
      const off = Number(bits === 64 ? u64(s + 24) : BigInt(u32(s + 16)));
      const size = Number(bits === 64 ? u64(s + 32) : BigInt(u32(s + 20)));
      if (off <= len) noteAt.push([off, Math.min(size, len - off)]);
    }
    for (const [off, n] of noteAt) readNotes(src.bytes(off, n), 0, n, notes);
  }
  if (segments.length === 0) throw new Error("ELF file has no loadable segments");
  return { bits, entry, segments, notes, src };
}

// Every step moves p forward by at least the 12-byte header, in plain (not 32-bit) arithmetic: a
// size near 2^32 must not wrap the position back (namesz 0 with descsz 0xfffffff4 once looped forever).
function readNotes(data: Uint8Array, off: number, size: number, out: Map<number, Uint8Array>): void {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const align4 = (n: number) => Math.ceil(n / 4) * 4;
  let p = off;
  const end = off + size;
  while (p + 12 <= end) {
    const namesz = dv.getUint32(p, true), descsz = dv.getUint32(p + 4, true), type = dv.getUint32(p + 8, true);
    const nameOff = p + 12;
    const descOff = nameOff + align4(namesz);
    if (descOff > end) break;
    const name = new TextDecoder().decode(data.subarray(nameOff, nameOff + Math.max(0, namesz - 1)));
    const descEnd = Math.min(descOff + descsz, end);
    if (name === "Xen") out.set(type, data.slice(descOff, descEnd));
    const next = descOff + align4(descsz);
    if (!(next > p)) throw new Error("malformed ELF note (its sizes do not advance)");
    p = next;
  }
}

/** A numeric note (1, 2, 4 or 8 bytes little-endian; what is there for short ones). */
export function noteNum(img: PvImage, type: number): bigint | undefined {
  const d = img.notes.get(type);
  if (!d || d.length === 0) return undefined;
  let v = 0n;
  for (let i = Math.min(d.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(d[i]);
  return v;
}

export function noteStr(img: PvImage, type: number): string | undefined {
  const d = img.notes.get(type);
  if (!d) return undefined;
  const z = d.indexOf(0);
  return new TextDecoder().decode(z >= 0 ? d.subarray(0, z) : d);
}

export { hex };
