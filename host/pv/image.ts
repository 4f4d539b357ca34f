// Kernel image formats: a plain ELF, or a bzImage whose payload is a compressed ELF (gzip, xz or
// zstd: Debian's kernel is xz). The payload is found from the setup header (setup_sects at 0x1f1,
// payload_offset at 0x248, payload_length at 0x24c). Every decompression has a limit (xend: the
// domain's memory, which the kernel must fit in): past it, it stops and says so. xend uses the async
// form (zlib on the thread pool, xz/zstd as child processes), so its event loop keeps serving others.
import { gunzipSync, gunzip } from "node:zlib";
import { execFileSync, spawn } from "node:child_process";

/** The default limit on a decompressed kernel (when no domain memory says otherwise). */
export const KERNEL_MAX_BYTES = 1 << 30;

type Payload = { elf: Uint8Array } | { kind: "gzip" | "xz" | "zstd"; payload: Uint8Array };

function payloadOf(data: Uint8Array): Payload {
  if (data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46) return { elf: data };
  if (data.length >= 0x250 && data[0x202] === 0x48 && data[0x203] === 0x64 && data[0x204] === 0x72 && data[0x205] === 0x53) { // "HdrS"
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const setupSects = data[0x1f1] || 4;
    const off = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
    const len = dv.getUint32(0x24c, true);
    if (off + len > data.length || len === 0) throw new Error("bzImage payload lies outside the file");
    const p = data.subarray(off, off + len);
    if (p.length >= 2 && p[0] === 0x1f && p[1] === 0x8b) return { kind: "gzip", payload: p };
    if (p.length >= 5 && p[0] === 0xfd && p[1] === 0x37 && p[2] === 0x7a && p[3] === 0x58 && p[4] === 0x5a) return { kind: "xz", payload: p };
    if (p.length >= 4 && p[0] === 0x28 && p[1] === 0xb5 && p[2] === 0x2f && p[3] === 0xfd) return { kind: "zstd", payload: p };
    throw new Error("bzImage payload: unknown compression (gzip, xz and zstd are supported)");
  }
  throw new Error("not a kernel image (neither ELF nor bzImage)");
}

const TOOL = { xz: ["xz", ["-dc", "--single-stream"]], zstd: ["zstd", ["-dc"]] } as const;
const mib = (n: number) => `${Math.floor(n / 1048576)} MiB`;
const tooBig = (kind: string, limit: number) => new Error(`bzImage payload: its ${kind} data decompresses to more than ${mib(limit)} (the limit: the domain's memory)`);
const badData = (kind: string) => new Error(`bzImage payload: ${kind === "gzip" ? "gzip data" : kind} could not decompress it`);
const noTool = (cmd: string) => new Error(`bzImage payload needs \`${cmd}\` to decompress (install it: scripts/setup.sh)`);

/** The kernel's ELF (decompressed from a bzImage), at most `limit` bytes; throws a one-line Error. */
export function loadKernelImage(data: Uint8Array, limit = KERNEL_MAX_BYTES): Uint8Array {
  const p = payloadOf(data);
  if ("elf" in p) return p.elf;
  if (p.kind === "gzip") {
    try { return new Uint8Array(gunzipSync(p.payload, { maxOutputLength: limit })); } catch (e) { throw isTooLarge(e) ? tooBig("gzip", limit) : badData("gzip"); }
  }
  const [cmd, args] = TOOL[p.kind];
  try {
    return new Uint8Array(execFileSync(cmd, args, { input: p.payload, maxBuffer: limit, stdio: ["pipe", "pipe", "ignore"] }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw noTool(cmd);
    if (err.code === "ENOBUFS") throw tooBig(p.kind, limit);
    throw badData(cmd);
  }
}

/** loadKernelImage without blocking the event loop. */
export async function loadKernelImageAsync(data: Uint8Array, limit = KERNEL_MAX_BYTES): Promise<Uint8Array> {
  const p = payloadOf(data);
  if ("elf" in p) return p.elf;
  if (p.kind === "gzip") {
    return new Promise((res, rej) => gunzip(p.payload, { maxOutputLength: limit }, (e, out) => {
      if (e) rej(isTooLarge(e) ? tooBig("gzip", limit) : badData("gzip")); else res(new Uint8Array(out));
    }));
  }
  const [cmd, args] = TOOL[p.kind];
  return capped(cmd, [...args], p.payload, limit, p.kind);
}

const isTooLarge = (e: unknown) => (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError;

/** `cmd args < input`, its output kept to `limit` bytes: past that the child is killed. */
function capped(cmd: string, args: string[], input: Uint8Array, limit: number, kind: string): Promise<Uint8Array> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: ["pipe", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    let n = 0, failure: Error | undefined;
    const fail = (e: Error) => { if (!failure) { failure = e; c.kill("SIGKILL"); } };
    c.on("error", (e: NodeJS.ErrnoException) => fail(e.code === "ENOENT" ? noTool(cmd) : badData(cmd)));
    c.stdin.on("error", () => { /* it exited before taking all input: its status says why */ });
    c.stdout.on("data", (b: Buffer) => {
      if (failure) return;
      n += b.length;
      if (n > limit) { fail(tooBig(kind, limit)); return; }
      chunks.push(b);
    });
    c.on("close", (code) => {
      if (failure) rej(failure);
      else if (code !== 0) rej(badData(cmd));
      else res(new Uint8Array(Buffer.concat(chunks, n)));
    });
    c.stdin.end(input);
  });
}
