// Kernel image formats: a plain ELF, or a bzImage whose payload is a compressed ELF (gzip, xz or
// zstd: Debian's kernel is xz). The payload is found from the setup header (setup_sects at 0x1f1,
// payload_offset at 0x248, payload_length at 0x24c). Every decompression has a limit (xend: the
// domain's memory, which the kernel must fit in): past it, it stops and says so. The decompressors are
// pure JavaScript and run in any runtime: fflate (gzip) and fzstd (zstd) from npm, fed a little input at
// a time so a bomb is stopped within a few MiB of the limit, and our own xz decoder (./xz.ts: npm's
// browser ones lack the x86 BCJ filter Linux uses), which knows each chunk's size before writing it;
// its inner loops run in a small WebAssembly module of their own (./xzwasm.ts), xz.ts's JavaScript
// where that cannot run.
// The async form (loadKernelImageAsync, xend's) returns to the event loop between pieces, so xend
// serves others meanwhile. Where the platform keeps decompressed kernels (platform.kernelCache: Node's
// host/node/kernel-cache.ts), a payload decompressed before is read back instead.
import { Gunzip } from "fflate";
import { Decompress as ZstdDecompress } from "fzstd";
import { XzLimit } from "./xz";
import { xzDecode, xzWasmModule, xzWasmModuleAsync } from "./xzwasm";
import { platform, yieldToEventLoop } from "../platform";
import { ElfSource, elfSource } from "./xenelf";

/** The default limit on a decompressed kernel (when no domain memory says otherwise). */
export const KERNEL_MAX_BYTES = 1 << 30;

type Compressed = { kind: "gzip" | "xz" | "zstd"; payload: Uint8Array };
type Payload = { elf: Uint8Array } | Compressed;

function payloadOf(data: Uint8Array): Payload {
  if (data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46)
    return { elf: data };
  // "HdrS"
  if (
    data.length >= 0x250 && data[0x202] === 0x48 && data[0x203] === 0x64 && data[0x204] === 0x72 && data[0x205] === 0x53
  ) {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const setupSects = data[0x1f1] || 4;
    const off = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
    const len = dv.getUint32(0x24c, true);
    if (off + len > data.length || len === 0) throw new Error("bzImage payload lies outside the file");
    const p = data.subarray(off, off + len);
    if (p.length >= 2 && p[0] === 0x1f && p[1] === 0x8b) return { kind: "gzip", payload: p };
    if (p.length >= 5 && p[0] === 0xfd && p[1] === 0x37 && p[2] === 0x7a && p[3] === 0x58 && p[4] === 0x5a)
      return { kind: "xz", payload: p };
    if (p.length >= 4 && p[0] === 0x28 && p[1] === 0xb5 && p[2] === 0x2f && p[3] === 0xfd)
      return { kind: "zstd", payload: p };
    throw new Error("bzImage payload: unknown compression (gzip, xz and zstd are supported)");
  }
  throw new Error("not a kernel image (neither ELF nor bzImage)");
}

const mib = (n: number) => `${Math.floor(n / 1048576)} MiB`;
const tooBig = (kind: string, limit: number) => new Error(
  `bzImage payload: its ${kind} data decompresses to more than ${mib(limit)} (the limit: the domain's memory)`
);
const badData = (kind: string) =>
  new Error(`bzImage payload: ${kind} data could not be decompressed (corrupt or truncated)`);

/** Input is pushed this much at a time: one push's output is bounded (deflate expands at most ~1032:1,
 * a zstd RLE block of 4 bytes makes 128 KiB), so the limit is checked every few MiB of output at most. */
const GZIP_STEP = 16 << 10, ZSTD_STEP = 512;

class Limited extends Error {}

/** A streaming decompressor fed `step` bytes at a time, its output collected up to `limit` bytes. */
function collector(limit: number) {
  const chunks: Uint8Array[] = [];
  let n = 0, ended = false;
  return {
    take(c: Uint8Array, final: boolean) {
      n += c.length;
      if (n > limit) throw new Limited();
      if (c.length) chunks.push(c.slice());
      if (final) ended = true;
    },
    get ended() { return ended; },
    get bytes() { return n; },
    result(): Uint8Array {
      if (chunks.length === 1) return chunks[0];
      const out = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) { out.set(c, o); o += c.length; }
      return out;
    },
  };
}

/** gzip, zstd or xz, piece by piece: the generator yields between pieces (where the async form returns
 * to the event loop). */
function* streamed(
  kind: "gzip" | "zstd" | "xz", payload: Uint8Array, limit: number, xzModule: WebAssembly.Module | null
): Generator<void, Uint8Array> {
  if (kind === "xz") {
    // Linux appends the ELF's size (32-bit little-endian) to its compressed payload: the output buffer's size.
    const n = payload.length, hint =
      n >= 4 ? payload[n - 4] + (payload[n - 3] << 8) + (payload[n - 2] << 16) + payload[n - 1] * 2 ** 24 : undefined;
    try {
      return yield* xzDecode(payload, limit, hint, xzModule);
    } catch (e) { throw e instanceof XzLimit ? tooBig(kind, limit) : badData(kind); }
  }
  const out = collector(limit);
  const d = kind === "gzip" ? new Gunzip((c, f) => out.take(c, !!f)) : new ZstdDecompress((c, f) => out.take(c, !!f));
  const step = kind === "gzip" ? GZIP_STEP : ZSTD_STEP;
  try {
    for (let at = 0; at < payload.length; at += step) {
      const end = Math.min(payload.length, at + step);
      (d as { push(c: Uint8Array, f: boolean): void }).push(payload.subarray(at, end), end === payload.length);
      if (((at / step) & 63) === 63) yield;
    }
  } catch (e) {
    if (e instanceof Limited) throw tooBig(kind, limit);
    throw badData(kind);
  }
  if (!out.ended) throw badData(kind);
  return out.result();
}

/** The kernel's ELF (decompressed from a bzImage), at most `limit` bytes; throws a one-line Error. */
export function loadKernelImage(data: Uint8Array, limit = KERNEL_MAX_BYTES): Uint8Array {
  const p = payloadOf(data);
  if ("elf" in p) return p.elf;
  return cached(p.payload, limit) ?? decode(p, limit);
}

function decode(p: Compressed, limit: number): Uint8Array {
  const g = streamed(p.kind, p.payload, limit, p.kind === "xz" ? xzWasmModule() : null);
  for (;;) { const r = g.next(); if (r.done) return keep(p.payload, r.value); }
}

/** The ELF an earlier boot decompressed from these bytes (platform.kernelCache), if it is within `limit`. */
function cached(payload: Uint8Array, limit: number): Uint8Array | null {
  const elf = platform.kernelCache?.get(payload) ?? null;
  return elf && elf.length <= limit ? elf : null; // (past the limit: decoded, to fail as it would)
}

function keep(payload: Uint8Array, elf: Uint8Array): Uint8Array {
  platform.kernelCache?.put(payload, elf);
  return elf;
}

/** loadKernelImage returning to the event loop between pieces of the decompression. */
export async function loadKernelImageAsync(data: Uint8Array, limit = KERNEL_MAX_BYTES): Promise<Uint8Array> {
  const p = payloadOf(data);
  if ("elf" in p) return p.elf;
  await platform.beforeDecompress?.();
  return cached(p.payload, limit) ?? await decodeAsync(p, limit);
}

async function decodeAsync(p: Compressed, limit: number): Promise<Uint8Array> {
  const g = streamed(p.kind, p.payload, limit, p.kind === "xz" ? await xzWasmModuleAsync() : null);
  for (;;) { const r = g.next(); if (r.done) return keep(p.payload, r.value); await yieldToEventLoop(); }
}

/** The kept ELF of a payload as an ElfSource read as the domain builder copies it (platform.kernelCache.open), or as
 * bytes (get), or null. */
function keptSource(payload: Uint8Array, limit: number): ElfSource | null {
  const c = platform.kernelCache;
  if (c?.open) return c.open(payload, limit);
  const elf = cached(payload, limit);
  return elf ? elfSource(elf) : null;
}

/** The kernel's ELF as an ElfSource: a kept one read straight into the guest's memory as the domain builder copies
 * it (platform.kernelCache.open: checked by its finish, before the guest runs; see withKernel), else the decoded
 * ELF (loadKernelImage's). */
export function kernelSource(data: Uint8Array, limit = KERNEL_MAX_BYTES): ElfSource {
  const p = payloadOf(data);
  if ("elf" in p) return elfSource(p.elf);
  return keptSource(p.payload, limit) ?? elfSource(decode(p, limit));
}

/** kernelSource, decompressing (when nothing is kept) as loadKernelImageAsync does. */
export async function kernelSourceAsync(data: Uint8Array, limit = KERNEL_MAX_BYTES): Promise<ElfSource> {
  const p = payloadOf(data);
  if ("elf" in p) return elfSource(p.elf);
  await platform.beforeDecompress?.();
  return keptSource(p.payload, limit) ?? elfSource(await decodeAsync(p, limit));
}

/** build(src); when that fails with a kept ELF found damaged (its finish: false, the file removed), build again
 * from the payload decoded (`data`: the kernel image src came from). */
export function withKernel<T>(src: ElfSource, data: Uint8Array, limit: number, build: (src: ElfSource) => T): T {
  try {
    return build(src);
  } catch (e) {
    if (!src.kept || src.finish()) throw e;
    return build(elfSource(loadKernelImage(data, limit)));
  }
}

/** withKernel decoding without holding the event loop. */
export async function withKernelAsync<T>(
  src: ElfSource, data: Uint8Array, limit: number, build: (src: ElfSource) => T
): Promise<T> {
  try {
    return build(src);
  } catch (e) {
    if (!src.kept || src.finish()) throw e;
  }
  return build(elfSource(await loadKernelImageAsync(data, limit)));
}
