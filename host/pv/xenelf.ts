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
  data: Uint8Array;
}

const hex = (v: bigint | number) => "0x" + v.toString(16);

export function parseXenElf(data: Uint8Array): PvImage {
  if (data.length < 52 || data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46)
    throw new Error("not an ELF file");
  const cls = data[4];
  if (cls !== 1 && cls !== 2) throw new Error(`unsupported ELF class ${cls}`);
  if (data[5] !== 1) throw new Error("not a little-endian ELF file");
  const bits: 32 | 64 = cls === 2 ? 64 : 32;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (bits === 64 && data.length < 64) throw new Error("truncated ELF header");
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => dv.getBigUint64(o, true);
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
  if (phoff + phnum * phentsize > data.length) throw new Error("ELF program headers extend past end of file");
  const segments: PvSegment[] = [];
  const notes = new Map<number, Uint8Array>();
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const ptype = u32(p);
    const off = Number(bits === 64 ? u64(p + 8) : BigInt(u32(p + 4)));
    const vaddr = bits === 64 ? u64(p + 16) : BigInt(u32(p + 8));
    const paddr = bits === 64 ? u64(p + 24) : BigInt(u32(p + 12));
    const filesz = Number(bits === 64 ? u64(p + 32) : BigInt(u32(p + 16)));
    const memsz = Number(bits === 64 ? u64(p + 40) : BigInt(u32(p + 20)));
    if (ptype === 1) {
      if (off + filesz > data.length) throw new Error(`ELF program header ${i} extends past end of file`);
      if (filesz > memsz) throw new Error(`ELF program header ${i}: file size larger than memory size`);
      if (memsz > 0) segments.push({ offset: off, vaddr, paddr, filesz, memsz });
    } else if (ptype === 4) {
      if (off > data.length) continue;
      readNotes(data, off, Math.min(filesz, data.length - off), notes);
    }
  }
  if (
    notes.size === 0 && shnum > 0 && shentsize >= (bits === 64 ? 64 : 40) && shoff + shnum * shentsize <= data.length
  ) {
    for (let i = 0; i < shnum; i++) {
      const s = shoff + i * shentsize;
      if (u32(s + 4) !== 7) continue; // SHT_NOTE
      const off = Number(bits === 64 ? u64(s + 24) : BigInt(u32(s + 16)));
      const size = Number(bits === 64 ? u64(s + 32) : BigInt(u32(s + 20)));
      if (off <= data.length) readNotes(data, off, Math.min(size, data.length - off), notes);
    }
  }
  if (segments.length === 0) throw new Error("ELF file has no loadable segments");
  return { bits, entry, segments, notes, data };
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
