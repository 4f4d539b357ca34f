// A disk image file as a BlockDevice (Node, Bun and Deno): a raw image in a regular file or a block device.
import { openSync, readSync, writeSync, fsyncSync, fstatSync, closeSync, constants } from "node:fs";
import type { BlockDevice } from "../platform";

export class FileBlockDevice implements BlockDevice {
  readonly size: number;
  private fd: number;

  constructor(readonly path: string, writable: boolean) {
    // O_NONBLOCK: a FIFO must not hold the opener until a writer comes; then only a regular file or a
    // block device is taken as a disk (a character device or FIFO has no size and no sectors).
    const fd =
      openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      closeSync(fd); throw new Error(`disk ${path}: not a regular file or block device`);
    }
    this.fd = fd;
    this.size = st.size;
  }

  read(buf: Uint8Array, offset: number): void {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, offset + done);
      if (n <= 0) { buf.fill(0, done); return; } // (the file shrank under us: zeros, as past its end)
      done += n;
    }
  }

  write(buf: Uint8Array, offset: number): void {
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, offset + done);
  }

  flush(): void { fsyncSync(this.fd); }

  close(): void { try { closeSync(this.fd); } catch { /* already */ } }
}
