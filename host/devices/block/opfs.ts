// A disk kept in the browser's origin-private file system (OPFS): a BlockDevice over a file's
// FileSystemSyncAccessHandle, which a dedicated Worker may open (createSyncAccessHandle) for
// synchronous reads, writes and flush, as the block backend calls them. What is written survives page
// reloads (web/worker.ts: the page's xvda). A file has one sync handle at a time: a page reloaded
// while its old Worker still holds the handle waits for it to be let go (openOpfsDisk retries).
import type { BlockDevice } from "../../platform";

/** The part of FileSystemSyncAccessHandle used here (TypeScript's lib.dom does not declare it). */
export interface SyncAccessHandle {
  read(buf: Uint8Array, o: { at: number }): number;
  write(buf: Uint8Array, o: { at: number }): number;
  getSize(): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}
type SyncFileHandle = FileSystemFileHandle & { createSyncAccessHandle?(): Promise<SyncAccessHandle> };

/** What this runtime lacks, as a sentence, or undefined when the origin-private file system is there. */
export function opfsUnavailable(): string | undefined {
  const nav = (globalThis as { navigator?: { storage?: { getDirectory?: unknown } } }).navigator;
  if (!nav?.storage || typeof nav.storage.getDirectory !== "function") {
    return "this browser offers no origin-private file system here "
      + "(navigator.storage.getDirectory; pages served over plain " + "HTTP from another host than localhost get none)";
  }
  const FH = (globalThis as { FileSystemFileHandle?: { prototype: object } }).FileSystemFileHandle;
  if (!FH || !("createSyncAccessHandle" in FH.prototype))
    return "this context cannot open origin-private files synchronously "
    + "(createSyncAccessHandle: a dedicated Worker can)";
  return undefined;
}

async function root(): Promise<FileSystemDirectoryHandle> {
  const why = opfsUnavailable();
  if (why) throw new Error(why);
  try {
    return await navigator.storage.getDirectory();
  } catch (e) {
    throw new Error(`the origin-private file system refused to open: ${(e as Error).message}`);
  }
}

/** The file `name` of the origin-private file system, or undefined when there is none. */
async function fileHandle(name: string, create: boolean): Promise<SyncFileHandle | undefined> {
  const dir = await root();
  try {
    return (await dir.getFileHandle(name, { create })) as SyncFileHandle;
  } catch (e) {
    if ((e as DOMException).name === "NotFoundError") return undefined;
    throw new Error(`${name} in the origin-private file system: ${(e as Error).message}`);
  }
}

/** A sync access handle on `f`; while another holds one (a reloaded page's previous Worker), retried
 * for up to `waitMs`. */
async function syncHandle(f: SyncFileHandle, name: string, waitMs = 5000): Promise<SyncAccessHandle> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await f.createSyncAccessHandle!();
    } catch (e) {
      const busy =
        (e as DOMException).name === "NoModificationAllowedError" || (e as DOMException).name === "InvalidStateError";
      if (!busy || Date.now() - t0 > waitMs)
        throw new Error(`${name} in the origin-private file system: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export class OpfsBlockDevice implements BlockDevice {
  readonly size: number;
  private closed = false;
  /** `h` used in place; the disk's size is the file's, rounded down to whole sectors. */
  constructor(private readonly h: SyncAccessHandle, readonly name: string) {
    const n = h.getSize();
    this.size = n - (n % 512);
  }
  read(buf: Uint8Array, offset: number): void {
    for (let done = 0; done < buf.length;) {
      const n = this.h.read(buf.subarray(done), { at: offset + done });
      if (n <= 0) throw new Error(`${this.name}: short read at byte ${offset + done}`);
      done += n;
    }
  }
  write(buf: Uint8Array, offset: number): void { writeAll(this.h, buf, offset, this.name); }
  flush(): void { this.h.flush(); }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.h.flush(); } finally { this.h.close(); }
  }
}

/** Open the disk image `name` of the origin-private file system (it must exist and hold whole sectors). */
export async function openOpfsDisk(name: string): Promise<OpfsBlockDevice> {
  const f = await fileHandle(name, false);
  if (!f) throw new Error(`there is no disk ${name} in the origin-private file system (create one or choose an image)`);
  const h = await syncHandle(f, name);
  const size = h.getSize();
  if (size === 0 || size % 512 !== 0) {
    h.close();
    throw new Error(
      `${name} in the origin-private file system is ${size} bytes: `
        + `a disk image holds one or more whole 512-byte sectors`
    );
  }
  return new OpfsBlockDevice(h, name);
}

/** The size in bytes of the disk image `name`, or undefined when there is none. */
export async function opfsDiskSize(name: string): Promise<number | undefined> {
  const f = await fileHandle(name, false);
  return f ? (await f.getFile()).size : undefined;
}

/** Why `bytes` cannot be a disk's size, or undefined. */
export function badDiskSize(bytes: number, what: string): string | undefined {
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    return `${what} is empty: a disk image holds one or more 512-byte sectors`;
  if (bytes % 512 !== 0)
    return `${what} is ${bytes} bytes, not a multiple of 512: a raw disk image holds whole 512-byte sectors`;
  return undefined;
}

/** Make `name` in the origin-private file system a copy of `image` (checked first: whole sectors). */
export async function importOpfsDisk(name: string, image: Blob & { name?: string }): Promise<number> {
  const bad = badDiskSize(image.size, `the disk image ${image.name ? JSON.stringify(image.name) : ""}`.trimEnd());
  if (bad) throw new Error(bad);
  const h = await syncHandle((await fileHandle(name, true))!, name);
  try {
    h.truncate(0);
    const reader = image.stream().getReader();
    let at = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      writeAll(h, r.value, at, name);
      at += r.value.length;
    }
    if (at !== image.size) throw new Error(`the disk image changed while it was read (${at} of ${image.size} bytes)`);
    h.flush();
    return at;
  } finally {
    h.close();
  }
}

/** Make `name` in the origin-private file system an empty (zeroed) disk of `bytes`. */
export async function createOpfsDisk(name: string, bytes: number): Promise<void> {
  const bad = badDiskSize(bytes, "the new disk");
  if (bad) throw new Error(bad);
  const h = await syncHandle((await fileHandle(name, true))!, name);
  try {
    h.truncate(0);
    h.truncate(bytes);
    h.flush();
  } finally {
    h.close();
  }
}

function writeAll(h: SyncAccessHandle, buf: Uint8Array, offset: number, name: string): void {
  for (let done = 0; done < buf.length;) {
    const n = h.write(buf.subarray(done), { at: offset + done });
    if (n <= 0) throw new Error(`${name}: short write at byte ${offset + done}`);
    done += n;
  }
}
