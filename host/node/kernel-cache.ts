// Decompressed kernels kept on disk (the Node platform's kernelCache, host/platform.ts): booting the same
// bzImage again (xm run, xend, the tests) reads its ELF instead of decompressing its payload once more
// (Debian's kernel: 8.1 MB of xz, 66 MB of ELF, about 0.6 s of CPU to decode).
//
// Where: XENWASM_KERNEL_CACHE=DIR, else $XDG_CACHE_HOME/xenwasm/kernels, else ~/.cache/xenwasm/kernels;
// XENWASM_KERNEL_CACHE=off (or 0) turns it off. A file is named by the SHA-256 of the compressed payload
// (NAME.kernel) and holds a header (magic, the ELF's length, how many runs, the SHA-256 of the rest), the runs
// (offset and length of each stretch of the ELF that is not whole zero pages: about half of Linux's ELF is zero
// pages, its bss and padding), then the runs' bytes. kernelCacheOpen reads such a file straight into the guest's
// memory (the domain builder's copies: no 66 MB buffer in between, zero pages left untouched), hashing as it goes;
// the builder asks before the guest runs whether it was all there and unchanged, and a file that was not is removed
// (and the kernel decoded again): a truncated or damaged file is never run. kernelCacheGet reads a whole ELF, checked.
// Files are written under a temporary name and renamed, so a reader sees a whole file or none. Payloads under 1 MiB
// are not kept (decoding them costs little), and at most KEEP files are (the least recently used go first; files of
// the earlier format, NAME.elf, count among them). Every error of the file system (a read-only home, a full disk)
// leaves the cache out: the kernel is decoded as before.
import { createHash, type Hash } from "node:crypto";
import {
  closeSync, fstatSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeSync
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ElfSource, zeroPage } from "../pv/xenelf";

const MAGIC = "xenwasm-kernel-2\n";
// magic (17 bytes), padding, u32 ELF length at 24, u32 runs at 28, SHA-256 at 32 of bytes 24-31 and all after 64
const HEADER = 64;
const EXT = ".kernel";
const MIN_PAYLOAD = 1 << 20;
const KEEP = 4;
/** Read (and hashed) this much at a time, into a buffer of this size (then copied where it goes): it stays in the
 * CPU's caches, and fresh memory is first touched by one user-mode copy, not by the kernel's read and then again by
 * the hash (on the AMD EPYC VM: 32 MB read and checked in ~130 ms rather than ~180). */
const CHUNK = 256 << 10;

export function kernelCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env.XENWASM_KERNEL_CACHE;
  if (v === "off" || v === "0") return null;
  if (v) return v;
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "xenwasm", "kernels");
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();
/** The file's hash as far as its header (the ELF's length, the run count) and run table: the runs' bytes follow. */
const headerHash = (h: Uint8Array, table: Uint8Array): Hash =>
  createHash("sha256").update(h.subarray(24, 32)).update(table);

function fileOf(dir: string, payload: Uint8Array): string {
  return join(dir, `${sha256(payload).toString("hex")}${EXT}`);
}

/** The ELF decompressed before from `payload` as an ElfSource read from its file (checked by its finish), or null
 * (none, or one longer than `limit` bytes). */
export function kernelCacheOpen(payload: Uint8Array, limit = 2 ** 32, dir = kernelCacheDir()): ElfSource | null {
  if (!dir || payload.length < MIN_PAYLOAD) return null;
  const f = fileOf(dir, payload);
  let fd: number;
  try { fd = openSync(f, "r"); } catch { return null; }
  let s: KeptFile | null = null;
  try { s = KeptFile.open(fd, f); } catch { /* (unreadable: as damaged) */ }
  if (s && s.length <= limit) return s;
  try { closeSync(fd); } catch { /* (closed already) */ }
  if (!s) try { rmSync(f, { force: true }); } catch { /* (left for the next put to replace) */ }
  return null;
}

/** The ELF decompressed before from `payload`, read whole and checked, or null. */
export function kernelCacheGet(payload: Uint8Array, dir = kernelCacheDir()): Uint8Array | null {
  return kernelCacheOpen(payload, 2 ** 32, dir)?.whole() ?? null;
}

/** Reads exactly dst.length bytes at `pos` (false at an early end of file). */
function readFully(fd: number, dst: Uint8Array, pos: number): boolean {
  for (let o = 0; o < dst.length;) {
    const n = readSync(fd, dst, o, dst.length - o, pos + o);
    if (n <= 0) return false;
    o += n;
  }
  return true;
}

/** A kept file being read in the ELF's order: runs[i] = [ELF offset, length, file offset]. */
class KeptFile implements ElfSource {
  readonly kept = true;
  private at = 0; // the ELF's bytes before this were read (and hashed)
  private run = 0; // the first run not wholly read
  private verdict: boolean | null = null;
  private broken = false; // a read failed
  private seen: { off: number; bytes: Uint8Array }[] = []; // what bytes() answered, compared when read in order
  private scratch: Uint8Array | null = null;

  private constructor(
    private fd: number, private file: string, readonly length: number, private runs: number[][],
    private hash: Hash, private digest: Uint8Array
  ) {}

  static open(fd: number, file: string): KeptFile | null {
    const h = new Uint8Array(HEADER);
    if (!readFully(fd, h, 0) || Buffer.from(h.subarray(0, MAGIC.length)).toString("latin1") !== MAGIC) return null;
    const dv = new DataView(h.buffer);
    const length = dv.getUint32(24, true), n = dv.getUint32(28, true);
    const size = fstatSync(fd).size;
    if (HEADER + n * 8 > size) return null;
    const table = new Uint8Array(n * 8);
    if (!readFully(fd, table, HEADER)) return null;
    const t = new DataView(table.buffer);
    const runs: number[][] = [];
    let end = 0, pos = HEADER + n * 8;
    for (let i = 0; i < n; i++) {
      const off = t.getUint32(i * 8, true), len = t.getUint32(i * 8 + 4, true);
      if (off < end || len === 0 || off + len > length) return null;
      runs.push([off, len, pos]);
      end = off + len; pos += len;
    }
    if (pos !== size) return null; // truncated (or longer than its runs)
    return new KeptFile(
      fd, file, length, runs, headerHash(h, table), h.slice(32, 64)
    );
  }

  bytes(off: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (const [ro, rl, rp] of this.runs) {
      const a = Math.max(off, ro), b = Math.min(off + n, ro + rl);
      if (a < b && !readFully(this.fd, out.subarray(a - off, b - off), rp + a - ro))
        throw new Error("kept kernel: short read");
    }
    this.seen.push({ off, bytes: out.slice() });
    return out;
  }

  copy(off: number, dst: Uint8Array, zero: boolean): void {
    if (this.verdict !== null || off < this.at) throw new Error("kept kernel: read out of order");
    this.skipTo(off);
    this.read(off + dst.length, dst, off, zero);
  }

  whole(): Uint8Array | null {
    if (this.at !== 0 || this.verdict !== null) return null;
    let out: Uint8Array | null = null;
    try {
      out = new Uint8Array(this.length); // (a damaged length could ask for up to 4 GiB)
      this.read(this.length, out, 0, true);
    } catch { this.broken = true; }
    return this.finish() ? out : null;
  }

  close(): void {
    if (this.verdict !== null) return;
    this.verdict = false;
    try { closeSync(this.fd); } catch { /* (closed) */ }
  }

  finish(): boolean {
    if (this.verdict === null) {
      try {
        if (!this.broken) this.skipTo(this.length);
        this.verdict = !this.broken && Buffer.from(this.hash.digest()).equals(this.digest);
      } catch { this.verdict = false; }
      try { closeSync(this.fd); } catch { /* (closed) */ }
      this.scratch = null;
      if (!this.verdict) { try { rmSync(this.file, { force: true }); } catch { /* (replaced by the next put) */ } }
      else { try { const now = new Date(); utimesSync(this.file, now, now); } catch { /* (only orders evictions) */ } }
    }
    return this.verdict;
  }

  /** Reads (and hashes) the ELF's bytes up to `to` that no copy wants. */
  private skipTo(to: number): void { this.read(to, null, 0, true); }

  /** Reads the ELF's bytes [at, to) into dst (which starts at ELF offset `base`; null: nowhere), hashing them; the
   * zero bytes between runs are written only if dst does not hold zeros already. */
  private read(to: number, dst: Uint8Array | null, base: number, zero: boolean): void {
    this.scratch ??= new Uint8Array(CHUNK);
    while (this.at < to) {
      const r = this.runs[this.run];
      if (!r || r[0] >= to) { // zeros up to `to`
        if (dst && !zero) dst.fill(0, this.at - base, to - base);
        this.at = to;
        break;
      }
      const [ro, rl, rp] = r;
      if (this.at < ro) { if (dst && !zero) dst.fill(0, this.at - base, ro - base); this.at = ro; }
      const n = Math.min(to, ro + rl, this.at + CHUNK) - this.at;
      const d = this.scratch.subarray(0, n);
      if (!readFully(this.fd, d, rp + this.at - ro)) throw new Error("kept kernel: short read");
      this.hash.update(d);
      if (this.seen.length) this.compareSeen(this.at, d);
      dst?.set(d, this.at - base);
      this.at += n;
      if (this.at === ro + rl) this.run++;
    }
  }

  /** Bytes read in order that bytes() answered earlier must be the same (the file did not change between). */
  private compareSeen(off: number, d: Uint8Array): void {
    for (const s of this.seen) {
      const a = Math.max(off, s.off), b = Math.min(off + d.length, s.off + s.bytes.length);
      for (let i = a; i < b; i++) if (d[i - off] !== s.bytes[i - s.off]) throw new Error("kept kernel: changed");
    }
  }
}

/** The stretches [offset, length] of `elf` that are not whole zero pages. */
function runsOf(elf: Uint8Array): number[][] {
  const runs: number[][] = [];
  for (let i = 0; i < elf.length;) {
    while (i < elf.length && zeroPage(elf, i)) i += 4096;
    let j = i;
    while (j < elf.length && !zeroPage(elf, j)) j += 4096;
    if (j > i) runs.push([i, Math.min(j, elf.length) - i]);
    i = j;
  }
  return runs;
}

/** Keeps `elf`, decompressed from `payload`, for kernelCacheOpen and kernelCacheGet. */
export function kernelCachePut(payload: Uint8Array, elf: Uint8Array, dir = kernelCacheDir()): void {
  if (!dir || payload.length < MIN_PAYLOAD || elf.length >= 2 ** 32) return;
  try {
    mkdirSync(dir, { recursive: true });
    const f = fileOf(dir, payload);
    const runs = runsOf(elf);
    const table = new Uint8Array(runs.length * 8), t = new DataView(table.buffer);
    runs.forEach(([o, n], i) => { t.setUint32(i * 8, o, true); t.setUint32(i * 8 + 4, n, true); });
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(elf.length, 24);
    h.writeUInt32LE(runs.length, 28);
    const hash = headerHash(h, table);
    for (const [o, n] of runs) hash.update(elf.subarray(o, o + n));
    hash.digest().copy(h, 32);
    const tmp = `${f}.${process.pid}.tmp`;
    try {
      const fd = openSync(tmp, "w");
      try {
        const put = (b: Uint8Array) => { for (let o = 0; o < b.length;) o += writeSync(fd, b, o, b.length - o); };
        put(h); put(table);
        for (const [o, n] of runs) put(elf.subarray(o, o + n));
      } finally { closeSync(fd); }
      renameSync(tmp, f);
    } finally { rmSync(tmp, { force: true }); }
    const old = readdirSync(dir).filter((n) => n.endsWith(EXT) || n.endsWith(".elf")).map((n) => {
      try { return { p: join(dir, n), t: statSync(join(dir, n)).mtimeMs }; } catch { return null; }
    }).filter((x) => x !== null).sort((a, b) => b.t - a.t);
    for (const o of old.slice(KEEP)) rmSync(o.p, { force: true });
  } catch { /* no cache: the next boot decodes again */ }
}
