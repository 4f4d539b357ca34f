// Reading a file named by a config or a request, bounded: only a regular file (a FIFO, a character
// device such as /dev/zero or a directory is refused, and opening never waits for a FIFO's writer),
// at most `limit` bytes (its size is checked before anything is read), read asynchronously so xend's
// event loop goes on serving other clients.
import { open, FileHandle } from "node:fs/promises";
import { constants } from "node:fs";

export const mib = (n: number) => n >= 1048576 ? `${Math.floor(n / 1048576)} MiB` : `${n} bytes`;

export async function readRegular(path: string, limit: number, what: string): Promise<Uint8Array> {
  let fh: FileHandle;
  try { fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY); }
  catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${what} ${path} is not a regular file`);
    if (st.size > limit) throw new Error(`${what} ${path} is too large (${mib(st.size)}; at most ${mib(limit)})`);
    // The size may change under us: read at most limit + 1 bytes and refuse a file that grew past it.
    const buf = new Uint8Array(Math.min(limit + 1, st.size + 1));
    let n = 0;
    for (;;) {
      if (n === buf.length) break;
      const { bytesRead } = await fh.read(buf, n, Math.min(buf.length - n, 16 << 20), n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > limit) throw new Error(`${what} ${path} is too large (more than ${mib(limit)})`);
    return buf.subarray(0, n);
  } finally { await fh.close(); }
}
