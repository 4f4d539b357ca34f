// ELF32/ELF64 little-endian x86 executables (ET_EXEC): the header checks and the PT_LOAD segments a
// bare machine needs. Anything malformed or unsupported throws an Error with a one-line message.

export interface ElfSegment {
  /** Index of the program header this segment comes from. */
  index: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  /** p_flags: PF_X = 1, PF_W = 2, PF_R = 4. */
  flags: number;
}

export interface ElfImage {
  /** 32 (ELFCLASS32, i386) or 64 (ELFCLASS64, x86-64). */
  bits: 32 | 64;
  machine: number;
  entry: number;
  segments: ElfSegment[];
}

export const EM_386 = 3;
export const EM_X86_64 = 62;
const PT_LOAD = 1;
const ET_EXEC = 2;

const MACHINE_NAMES: Record<number, string> = {
  0: "none", 2: "SPARC", 3: "i386", 6: "i486", 7: "i860", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64",
  22: "S390", 40: "ARM", 42: "SuperH", 43: "SPARCv9", 50: "IA-64", 62: "x86-64", 183: "AArch64",
  243: "RISC-V", 258: "LoongArch",
};
const TYPE_NAMES: Record<number, string> =
  { 0: "ET_NONE", 1: "ET_REL: an object file", 2: "ET_EXEC", 3: "ET_DYN: a shared object or PIE", 4: "ET_CORE" };

const hex = (n: number | bigint) => "0x" + n.toString(16);

/** Parses an x86 ELF executable (ET_EXEC, little-endian, i386 or x86-64). */
export function parseElf(data: Uint8Array): ElfImage {
  const size = data.length;
  if (size < 4 || data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) {
    throw new Error("not an ELF file");
  }
  if (size < 16) throw new Error("truncated ELF header");
  const cls = data[4];
  if (cls !== 1 && cls !== 2) throw new Error(`unsupported ELF class ${cls} (expected 1 = 32-bit or 2 = 64-bit)`);
  const bits: 32 | 64 = cls === 1 ? 32 : 64;
  if (data[5] !== 1) {
    throw new Error(
      data[5] === 2 ? "unsupported ELF data encoding: big-endian" : `unsupported ELF data encoding ${data[5]}`
    );
  }
  if (data[6] !== 1) throw new Error(`unsupported ELF version ${data[6]}`);
  const ehsize = bits === 32 ? 52 : 64;
  if (size < ehsize) throw new Error(`truncated ELF header (${size} bytes, need ${ehsize})`);

  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  // 64-bit fields: anything at or above 2^53 cannot be a sane offset/address here.
  const u64 = (o: number, what: string) => {
    const x = v.getBigUint64(o, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`ELF ${what} ${hex(x)} is too large`);
    return Number(x);
  };
  const word = (o: number, what: string) => (bits === 32 ? u32(o) : u64(o, what));

  const type = u16(16);
  const machine = u16(18);
  if (machine !== EM_386 && machine !== EM_X86_64) {
    const nm = MACHINE_NAMES[machine];
    throw new Error(
      `unsupported ELF machine ${machine}${nm ? ` (${nm})` : ""}: expected x86 (3 = i386 or 62 = x86-64)`
    );
  }
  if (bits === 32 && machine !== EM_386)
    throw new Error(`ELF class 32-bit with machine ${machine} (x86-64): not supported`);
  if (bits === 64 && machine !== EM_X86_64)
    throw new Error(`ELF class 64-bit with machine ${machine} (i386): not supported`);
  if (type !== ET_EXEC) {
    throw new Error(
      `unsupported ELF type ` + `${type}${TYPE_NAMES[type] ? ` (${TYPE_NAMES[type]})` : ""}: `
        + `expected an executable (ET_EXEC)`
    );
  }
  const entry = word(24, "entry point");
  const phoff = bits === 32 ? u32(28) : u64(32, "program header offset");
  const phentsize = u16(bits === 32 ? 42 : 54);
  const phnum = u16(bits === 32 ? 44 : 56);
  const minEnt = bits === 32 ? 32 : 56;
  if (phnum === 0) throw new Error("ELF file has no program headers");
  if (phnum === 0xffff) throw new Error("ELF extended program header numbering is not supported");
  if (phentsize < minEnt) throw new Error(`ELF program header entry size ${phentsize} is too small (need ${minEnt})`);
  if (phoff >= size)
    throw new Error(`ELF program header table offset ${hex(phoff)} is past the end of the file (${size} bytes)`);

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + minEnt > size) throw new Error(`ELF program header ${i} extends past end of file`);
    if (u32(o) !== PT_LOAD) continue;
    let seg: ElfSegment;
    if (bits === 32) {
      seg = {
        index: i, offset: u32(o + 4), vaddr: u32(o + 8), paddr: u32(o + 12), filesz: u32(o + 16), memsz: u32(o + 20),
        flags: u32(o + 24)
      };
    } else {
      seg = {
        index: i, flags: u32(o + 4), offset: u64(o + 8, "segment offset"), vaddr: u64(o + 16, "segment address"),
        paddr: u64(o + 24, "segment address"), filesz: u64(o + 32, "segment size"), memsz: u64(o + 40, "segment size"),
      };
    }
    if (seg.filesz > seg.memsz)
      throw new Error(`ELF segment ${i}: file size ${hex(seg.filesz)} exceeds memory size ${hex(seg.memsz)}`);
    if (seg.offset + seg.filesz > size) {
      throw new Error(
        `ELF segment ${i} data (offset ${hex(seg.offset)}, ` + `${seg.filesz} bytes) extends past end of file (${size} `
          + `bytes)`
      );
    }
    if (bits === 32 && seg.paddr + seg.memsz > 0x1_0000_0000)
      throw new Error(`ELF segment ${i} wraps around the 4 GiB address space`);
    if (seg.memsz > 0) segments.push(seg);
  }
  if (segments.length === 0) throw new Error("ELF file has no loadable (PT_LOAD) segments");
  return { bits, machine, entry, segments };
}
