// Decompressed kernels kept on disk (the Node platform's kernelCache, host/platform.ts): booting the same
// bzImage again (xm run, xend, the tests) reads its ELF instead of decompressing its payload once more
// (Debian's kernel: 8.1 MB of xz, 66 MB of ELF, about 0.6 s of CPU to decode against 0.1 s to read and check).
//
// Where: XENWASM_KERNEL_CACHE=DIR, else $XDG_CACHE_HOME/xenwasm/kernels, else ~/.cache/xenwasm/kernels;
// XENWASM_KERNEL_CACHE=off (or 0) turns it off. A file is named by the SHA-256 of the compressed payload and
// holds a header (magic, the ELF's length, the ELF's SHA-256) then the ELF; a file whose length or hash does not
// match is ignored and removed, so a truncated or damaged file is decoded again, never used. Files are written
// under a temporary name and renamed, so a reader sees a whole file or none. Payloads under 1 MiB are not kept
// (decoding them costs little), and at most KEEP files are (the least recently used go first). Every error of
// the file system (a read-only home, a full disk) leaves the cache out: the kernel is decoded as before.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const MAGIC = "xenwasm-kernel-elf-1\n";
const HEADER = 64; // magic (21 bytes), padding, u32 ELF length at 28, SHA-256 of the ELF at 32
const MIN_PAYLOAD = 1 << 20;
const KEEP = 4;

export function kernelCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env.XENWASM_KERNEL_CACHE;
  if (v === "off" || v === "0") return null;
  if (v) return v;
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "xenwasm", "kernels");
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();

function fileOf(dir: string, payload: Uint8Array): string {
  return join(dir, `${sha256(payload).toString("hex")}.elf`);
}

/** The ELF decompressed before from `payload`, checked, or null. */
export function kernelCacheGet(payload: Uint8Array, dir = kernelCacheDir()): Uint8Array | null {
  if (!dir || payload.length < MIN_PAYLOAD) return null;
  const f = fileOf(dir, payload);
  let b: Buffer;
  try { b = readFileSync(f); } catch { return null; }
  const n = b.length >= HEADER ? b.readUInt32LE(28) : -1;
  const elf = b.subarray(HEADER);
  if (
    b.subarray(0, MAGIC.length).toString("latin1") !== MAGIC || n !== elf.length
      || !sha256(elf).equals(b.subarray(32, 64))
  ) {
    try { rmSync(f, { force: true }); } catch { /* (left for the next put to replace) */ }
    return null;
  }
  try { const now = new Date(); utimesSync(f, now, now); } catch { /* (its age only orders evictions) */ }
  return new Uint8Array(elf.buffer, elf.byteOffset, elf.length);
}

/** Keeps `elf`, decompressed from `payload`, for kernelCacheGet. */
export function kernelCachePut(payload: Uint8Array, elf: Uint8Array, dir = kernelCacheDir()): void {
  if (!dir || payload.length < MIN_PAYLOAD || elf.length >= 2 ** 32) return;
  try {
    mkdirSync(dir, { recursive: true });
    const f = fileOf(dir, payload);
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(elf.length, 28);
    sha256(elf).copy(h, 32);
    const tmp = `${f}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, h);
      writeFileSync(tmp, elf, { flag: "a" });
      renameSync(tmp, f);
    } finally { rmSync(tmp, { force: true }); }
    const old = readdirSync(dir).filter((n) => n.endsWith(".elf")).map((n) => {
      try { return { p: join(dir, n), t: statSync(join(dir, n)).mtimeMs }; } catch { return null; }
    }).filter((x) => x !== null).sort((a, b) => b.t - a.t);
    for (const o of old.slice(KEEP)) rmSync(o.p, { force: true });
  } catch { /* no cache: the next boot decodes again */ }
}
