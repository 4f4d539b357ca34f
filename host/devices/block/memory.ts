// A disk held in memory (a page's disk chosen as a file, a test's scratch disk): a BlockDevice over bytes.
import type { BlockDevice } from "../../platform";

export class MemoryBlockDevice implements BlockDevice {
  readonly size: number;
  /** `bytes` is used in place (the guest's writes land in it); its size is rounded down to whole sectors. */
  constructor(readonly bytes: Uint8Array) { this.size = bytes.length - (bytes.length % 512); }
  static ofSize(bytes: number): MemoryBlockDevice { return new MemoryBlockDevice(new Uint8Array(bytes)); }
  read(buf: Uint8Array, offset: number): void { buf.set(this.bytes.subarray(offset, offset + buf.length)); }
  write(buf: Uint8Array, offset: number): void { this.bytes.set(buf, offset); }
  flush(): void { /* nothing below */ }
  close(): void { /* the bytes stay the caller's */ }
}
