// What the host needs from the runtime it runs in, kept apart so that the library (host/index.ts) loads
// in a browser page or Worker as it does in Node, Bun and Deno: nothing here or in what the library
// imports names a `node:` module (tests/embed.test.ts bundles it for the browser and checks).
// The Node entry points (host/node/platform.ts: the CLIs, xend, the tests, `import "xenwasm"` under
// Node, Bun or Deno) fill `platform` in: the core read from build/xenwasm.wasm, disks from files.

/** A virtual disk's storage: a file (host/node/disk.ts), memory (devices/block/memory.ts), or any other
 * byte store with synchronous access (e.g. a browser's origin-private file system sync handle). */
import type { Batch, Translator } from "./jit/batch";
import type { ElfSource } from "./pv/xenelf";

export interface BlockDevice {
  /** Size in bytes (the disk has floor(size / 512) sectors). */
  readonly size: number;
  /** Fill `buf` from byte `offset` (within size). */
  read(buf: Uint8Array, offset: number): void;
  /** Write `buf` at byte `offset` (within size; only called for a writable disk). */
  write(buf: Uint8Array, offset: number): void;
  /** Everything written so far on stable storage. */
  flush(): void;
  close(): void;
}

export interface Platform {
  /** The core's module or bytes (build/xenwasm.wasm), when none is passed to Core.create. */
  loadCore?(): Promise<WebAssembly.Module | BufferSource>;
  /** Open the disk named by `path` (DiskSpec.path) when the disk brings no BlockDevice of its own. */
  openDisk?(path: string, writable: boolean): BlockDevice;
  /** Whether two disk paths name the same file (symlinks and `./` resolved). */
  sameFile?(a: string, b: string): boolean;
  /** Called before a kernel image is decompressed (tests hold it there to see xend serve others). */
  beforeDecompress?(): Promise<void>;
  /** Decompressed kernels kept from earlier boots (host/node/kernel-cache.ts: files): `get` answers the ELF a
   *  payload with these bytes was decompressed to (or null), `open` the same as an ElfSource read as the domain
   *  builder copies it (checked by its finish; null past `limit` bytes), `put` keeps one. */
  kernelCache?: {
    get(payload: Uint8Array): Uint8Array | null;
    open?(payload: Uint8Array, limit: number): ElfSource | null;
    put(payload: Uint8Array, elf: Uint8Array): void;
  };
  /** The JIT's translator thread (host/node/translator.ts: a worker thread), or null; absent or null, the
   *  JIT translates on the core's thread. */
  jitTranslator?(): Translator | null;
  /** XENWASM_JIT_RECORD (host/node/jit-record.ts): called with every batch the JIT translates. */
  jitRecord?(b: Batch): void;
}

export const platform: Platform = {};

/** Fill in (or replace) what the runtime provides. */
export function setPlatform(p: Platform): void { Object.assign(platform, p); }

/** An environment variable, where the runtime has an environment (Node, Bun, Deno with --allow-env). */
export function env(name: string): string | undefined {
  try {
    return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  } catch { return undefined; }
}

type Immediate = (f: () => void) => unknown;
const setImm = (globalThis as { setImmediate?: Immediate }).setImmediate;

/** Back to the event loop once (timers, I/O and messages get their turn), as soon as the runtime
 * allows: setImmediate in Node and Bun, else a MessageChannel message (browsers, Deno), else a timer. */
export const yieldToEventLoop: () => Promise<void> = typeof setImm === "function"
  ? () => new Promise<void>((res) => { setImm(res); })
  : typeof MessageChannel === "function" ? channelYield() : () => new Promise<void>((res) => { setTimeout(res, 0); });

function channelYield(): () => Promise<void> {
  let ch: MessageChannel | null = null;
  const waiting: (() => void)[] = [];
  return () => new Promise<void>((res) => {
    if (!ch) {
      ch = new MessageChannel();
      ch.port1.onmessage = () => {
        waiting.shift()?.();
        // An open port keeps some runtimes alive: closed again once nobody waits.
        if (waiting.length === 0 && ch) { ch.port1.close(); ch = null; }
      };
    }
    waiting.push(res);
    ch.port2.postMessage(null);
  });
}
