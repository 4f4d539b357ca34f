// Kernel image formats: a plain ELF, or a bzImage whose payload is a compressed ELF (gzip, xz or
// zstd: Debian's kernel is xz). The payload is found from the setup header (setup_sects at 0x1f1,
// payload_offset at 0x248, payload_length at 0x24c).
import { gunzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";

export function loadKernelImage(data: Uint8Array): Uint8Array {
  if (data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46) return data;
  if (data.length >= 0x250 && data[0x202] === 0x48 && data[0x203] === 0x64 && data[0x204] === 0x72 && data[0x205] === 0x53) { // "HdrS"
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const setupSects = data[0x1f1] || 4;
    const off = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
    const len = dv.getUint32(0x24c, true);
    if (off + len > data.length || len === 0) throw new Error("bzImage payload lies outside the file");
    const payload = data.subarray(off, off + len);
    return decompress(payload);
  }
  throw new Error("not a kernel image (neither ELF nor bzImage)");
}

export function decompress(p: Uint8Array): Uint8Array {
  if (p[0] === 0x1f && p[1] === 0x8b) return new Uint8Array(gunzipSync(p));
  if (p[0] === 0xfd && p[1] === 0x37 && p[2] === 0x7a && p[3] === 0x58 && p[4] === 0x5a) return external("xz", ["-dc", "--single-stream"], p);
  if (p[0] === 0x28 && p[1] === 0xb5 && p[2] === 0x2f && p[3] === 0xfd) return external("zstd", ["-dc"], p);
  throw new Error("bzImage payload: unknown compression (gzip, xz and zstd are supported)");
}

function external(cmd: string, args: string[], input: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(execFileSync(cmd, args, { input, maxBuffer: 1 << 30, stdio: ["pipe", "pipe", "ignore"] }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw new Error(`bzImage payload needs \`${cmd}\` to decompress (install it: scripts/setup.sh)`);
    throw new Error(`bzImage payload: ${cmd} could not decompress it`);
  }
}
