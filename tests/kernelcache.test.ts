// Decompressed kernels kept on disk (host/node/kernel-cache.ts, the Node platform's kernelCache): a bzImage's
// payload decoded once is read back the next time, identical; a damaged, truncated or foreign file is never
// used (decoded again, and replaced); small payloads are not kept; at most four files stay (the least recently
// used go); XENWASM_KERNEL_CACHE=off keeps none; the limit on a kernel's size holds for a kept one too. A domain
// built from a kept file (read straight into its memory, checked as it is read) runs the same kernel; a damaged
// file is found before the guest runs, and the kernel is decoded again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../host/node/platform";
import { loadKernelImage, loadKernelImageAsync } from "../host/pv/image";
import { XenHost } from "../host/pv/host";
import { DS_RUNNING } from "../assembly/records";
import { kernelCacheDir, kernelCacheGet, kernelCachePut } from "../host/node/kernel-cache";

// A bzImage (setup header, "HdrS") whose xz payload decompresses to `elf`.
function bzImage(elf: Uint8Array): Uint8Array {
  const payload =
    new Uint8Array(execFileSync("xz", ["-c", "-0", "--check=crc32"], { input: elf, maxBuffer: 64 << 20 }));
  const off = 5 * 512, img = new Uint8Array(off + payload.length);
  img[0x1f1] = 4;
  img.set([0x48, 0x64, 0x72, 0x53], 0x202);
  new DataView(img.buffer).setUint32(0x24c, payload.length, true);
  img.set(payload, off);
  return img;
}
const payloadOf = (bz: Uint8Array) => bz.subarray(5 * 512);

const dir = mkdtempSync(join(tmpdir(), "xenwasm-kcache-"));
const saved = process.env.XENWASM_KERNEL_CACHE;
process.env.XENWASM_KERNEL_CACHE = dir;
const files = () => existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".kernel")) : [];

test("a payload decoded once is read back identical; damaged, truncated or foreign files are not used", async () => {
  const elf = randomBytes(3 << 20); // (random: its xz payload is over the 1 MiB below which nothing is kept)
  const bz = bzImage(elf);
  assert.is(kernelCacheGet(payloadOf(bz)), null, "nothing kept yet");
  assert.ok(Buffer.from(loadKernelImage(bz)).equals(elf), "decoded");
  assert.is(files().length, 1, "kept");
  const kept = kernelCacheGet(payloadOf(bz));
  assert.ok(kept && Buffer.from(kept).equals(elf), "read back");
  assert.ok(Buffer.from(await loadKernelImageAsync(bz)).equals(elf), "the async form too");
  const f = join(dir, files()[0]);
  const good = readFileSync(f);
  for (const [what, bad] of [
    ["a byte of the ELF changed", (() => { const b = Buffer.from(good); b[b.length - 100] ^= 1; return b; })()],
    ["truncated", good.subarray(0, good.length - 1)],
    ["its header's hash changed", (() => { const b = Buffer.from(good); b[40] ^= 1; return b; })()],
    ["its header's ELF length changed", (() => { const b = Buffer.from(good); b[24] ^= 1; return b; })()],
    ["not a kept kernel", Buffer.from("hello")],
  ] as const) {
    writeFileSync(f, bad);
    assert.is(kernelCacheGet(payloadOf(bz)), null, what);
    assert.not.ok(existsSync(f), `${what}: removed`);
    assert.ok(Buffer.from(loadKernelImage(bz)).equals(elf), `${what}: decoded again`);
    assert.ok(readFileSync(f).equals(good), `${what}: kept again`);
  }
  // The limit (the domain's memory) holds as it does without the cache: too big, whether kept or not.
  assert.throws(() => loadKernelImage(bz, 1 << 20), /decompresses to more than 1 MiB/);
});

test("small payloads are not kept; four files at most, the least recently used go first; off keeps none", () => {
  rmSync(dir, { recursive: true, force: true });
  const small = bzImage(new Uint8Array(2 << 20)); // (zeros: a tiny payload)
  loadKernelImage(small);
  assert.equal(files(), [], "a small payload is not kept");
  const elfs = [0, 1, 2, 3, 4].map(() => randomBytes(1200 << 10));
  const bzs = elfs.map(bzImage);
  for (let i = 0; i < 4; i++) {
    const before = new Set(files());
    kernelCachePut(payloadOf(bzs[i]), elfs[i]);
    const added = files().filter((n) => !before.has(n));
    assert.is(added.length, 1);
    const t = new Date(1e12 + i * 1e6); // (older than now, in order: the mtimes a slow machine might give)
    utimesSync(join(dir, added[0]), t, t);
  }
  assert.is(files().length, 4);
  assert.ok(kernelCacheGet(payloadOf(bzs[0])), "the first, used again (so no longer the least recently used)");
  kernelCachePut(payloadOf(bzs[4]), elfs[4]);
  assert.is(files().length, 4, "four at most");
  assert.ok(kernelCacheGet(payloadOf(bzs[0])), "the one used lately stays");
  assert.is(kernelCacheGet(payloadOf(bzs[1])), null, "the least recently used went");
  assert.ok(kernelCacheGet(payloadOf(bzs[4])), "the new one is there");
  assert.is(readdirSync(dir).filter((n) => n.endsWith(".tmp")).length, 0, "no temporary file left");
  assert.is(kernelCacheDir({ XENWASM_KERNEL_CACHE: "off" }), null);
  assert.is(kernelCacheDir({ XENWASM_KERNEL_CACHE: "0" }), null);
  assert.is(kernelCacheDir({ XDG_CACHE_HOME: "/x" }), join("/x", "xenwasm", "kernels"));
  process.env.XENWASM_KERNEL_CACHE = "off";
  try {
    assert.is(kernelCacheGet(payloadOf(bzs[4])), null, "off: nothing read");
  } finally { process.env.XENWASM_KERNEL_CACHE = dir; }
});

test(
  "a domain is built from a kept kernel; a damaged kept file is found before the guest runs and not used", async () => {
  rmSync(dir, { recursive: true, force: true });
  // pv-hello then 3 MiB of random bytes in no segment (its xz payload is over the 1 MiB below which nothing is kept).
  const elf = Buffer.concat([readFileSync("guests/build/pv-hello-64.elf"), randomBytes(3 << 20)]);
  const bz = bzImage(elf);
  const host = await XenHost.create(256);
  let n = 0;
  const boot = async (what: string) => {
    const o = { memoryMiB: 16 };
    const dom = n++ & 1 ? await host.createDomainAsync("k", bz, o) : host.createDomain("k", bz, o);
    let out = "";
    dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING);
    host.destroyDomain(dom.domid);
    assert.match(out, "Hello from a xenwasm PV guest (64-bit)", what);
  };
  await boot("decoded");
  assert.is(files().length, 1, "kept");
  const f = join(dir, files()[0]);
  const good = readFileSync(f);
  const old = new Date(1e12);
  utimesSync(f, old, old);
  await boot("from the kept file");
  assert.ok(statSync(f).mtimeMs > 1e12 + 1e6, "the kept file was read (and checked)");
  const at = (b: Buffer, s: string) => { const i = b.indexOf(s); assert.ok(i > 0, s); return i; };
  const changed = (i: number) => { const b = Buffer.from(good); b[i] ^= 0x02; return b; };
  for (const [what, bad] of [
    ["a byte of a segment changed ('Hello' made 'Jello')", changed(at(good, "Hello from a xenwasm"))],
    ["a byte after the segments changed", changed(good.length - 100)],
    ["the ELF header's machine changed", changed(at(good, "\x7fELF") + 18)],
    ["the list of runs changed", changed(64 + 4)],
    ["the header's ELF length changed", changed(24)],
    ["truncated", good.subarray(0, good.length - 1)],
  ] as const) {
    writeFileSync(f, bad);
    await boot(what);
    assert.ok(readFileSync(f).equals(good), `${what}: kept again`);
  }
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  if (saved === undefined) delete process.env.XENWASM_KERNEL_CACHE; else process.env.XENWASM_KERNEL_CACHE = saved;
});

test.run();
