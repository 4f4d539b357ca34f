// The Node entry points' platform (Node, Bun, Deno): the core read from build/xenwasm.wasm, disks opened
// from files, paths compared through realpath. Importing this module installs it (host/platform.ts);
// scripts/build-host.mjs injects it into every Node bundle (the CLIs, xend, tests, benchmarks), and the
// package's node entry (host/node/index.ts) imports it.
import { readFileSync, realpathSync, existsSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { setPlatform } from "../platform";
import { FileBlockDevice } from "./disk";
import { jitTranslator } from "./translator";
import { jitRecorder } from "./jit-record";
import { kernelCacheGet, kernelCacheOpen, kernelCachePut } from "./kernel-cache";

/** build/xenwasm.wasm, found from this file upwards (dist/<dir>/file.js, host/node/platform.ts, an installed package).
 *  */
export function wasmPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "build", "xenwasm.wasm");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error("build/xenwasm.wasm not found: run `npm run asbuild`");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

setPlatform({
  loadCore: async () => readFileSync(wasmPath()),
  openDisk: (path, writable) => new FileBlockDevice(path, writable),
  jitTranslator,
  jitRecord: jitRecorder(),
  kernelCache: {
    get: (p) => kernelCacheGet(p), open: (p, limit) => kernelCacheOpen(p, limit),
    put: (p, elf) => kernelCachePut(p, elf)
  },
  sameFile: (a, b) => { try { return realpathSync(a) === realpathSync(b); } catch { return a === b; } },
  // XENWASM_TEST_DECOMPRESS_HOLD=FILE (tests/xend-trust.test.ts): a kernel's decompression first makes
  // FILE.started, then waits while FILE exists, so a test can see xend answer others meanwhile.
  beforeDecompress: async () => {
    const hold = process.env.XENWASM_TEST_DECOMPRESS_HOLD;
    if (!hold) return;
    writeFileSync(`${hold}.started`, "");
    while (existsSync(hold)) await sleep(50);
  },
});
