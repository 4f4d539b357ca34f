// The platform-neutral library (host/index.ts, issue 13): bundled for the browser it imports no `node:`
// module, and that bundle (loaded here without the Node platform: no file reading, no NAT) boots a bare
// guest and a PV guest whose disk is a MemoryBlockDevice from a core passed in as bytes. The kernel
// decompressors (fflate, fzstd, our xz decoder) against the real programs, with limits and bad data;
// the xz decoder's two forms (xz.ts's JavaScript, xzwasm.ts's WebAssembly) on the same inputs, every
// one of them (valid, corrupt, truncated, fuzzed): the same output or the same error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { repoRoot } from "./lib/repo";
import { XzDecoder, XzError, XzLimit } from "../host/pv/xz";
import { WasmXzDecoder, xzDecode, xzWasmModule } from "../host/pv/xzwasm";
import { loadKernelImage, loadKernelImageAsync } from "../host/pv/image";

const ROOT = repoRoot();
const OUT = join(ROOT, "tests", "build", "embed");
const guest = (name: string) => new Uint8Array(readFileSync(join(ROOT, "guests", "build", name)));
const wasm = () => new Uint8Array(readFileSync(join(ROOT, "build", "xenwasm.wasm")));
type Lib = typeof import("../host/index");
async function rejects(f: () => Promise<unknown>, re: RegExp, what = ""): Promise<void> {
  try { await f(); } catch (e) { assert.match((e as Error).message, re, what); return; }
  assert.unreachable(`no error ${what}`);
}
let lib: Lib;

test("the library entry (host/index.ts) bundles for the browser with no Node built-in module", async () => {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, "xenwasm.browser.js");
  const r = await build({
    entryPoints: [join(ROOT, "host", "index.ts")], bundle: true, platform: "browser", format: "esm", outfile: file,
    metafile: true, logLevel: "silent", write: true,
  }
).catch((e: { errors?: { text: string }[] }) => { throw new Error((e.errors ?? []).map((x) => x.text).join("\n")); });
  const inputs = Object.keys(r.metafile.inputs);
  assert.ok(
    inputs.some((i) => i.endsWith("host/pv/host.ts")) && inputs.some((i) => i.endsWith("host/bare.ts")),
    inputs.join(" ")
  );
  const bad = inputs.filter((i) => /^node:|^\(disabled\)|host\/node\/|devices\/net\/nat\.ts|xend\/daemon/.test(i));
  assert.equal(bad, [], "no Node module, NAT or xend in the library");
  for (const o of Object.values(r.metafile.outputs))
    assert.equal(o.imports.filter((i) => i.external), [], "nothing left external");
  const text = readFileSync(file, "utf8");
  assert.not.match(
    text, /\bfrom\s*["']node:|\brequire\(\s*["'](node:)?(fs|net|dgram|dns|child_process|zlib|os|path|crypto)["']\)/
  );
  lib = (await import(pathToFileURL(file).href)) as Lib;
});

test("without a core or a disk opener the neutral library says what to pass", async () => {
  await rejects(() => lib.BareMachine.create(), /no core module: pass \{ core \}/);
  const host = await lib.XenHost.create(64, { core: wasm() });
  assert.throws(() => host.createDomain(
      "d", guest("pv-hello-64.elf"), { memoryMiB: 8, disks: [{ path: "a.img", vdev: "xvda", writable: false }] }
    ),
    /disk a\.img: this runtime opens no files; give the disk a BlockDevice/);
  assert.is(host.domains.size, 0, "nothing left of the refused domain");
});

test("the browser bundle runs a bare guest from a core given as bytes", async () => {
  const r = await lib.runBare(guest("hello-64.elf"), { core: wasm() });
  assert.is(r.reason, "exit", r.message);
  assert.ok(r.output.startsWith("Hello from a xenwasm guest\n"), r.output);
  assert.match(r.output, "fib(40) = 102334155\n");
  assert.ok(r.seconds > 0 && r.instructions > 1000);
});

test("the browser bundle runs a PV guest whose disk is a MemoryBlockDevice (reads, writes, bad requests)", async () => {
  lib.setCoreModule(WebAssembly.compile(wasm()));
  const host = await lib.XenHost.create(256);
  const bytes = new Uint8Array(1 << 20);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i >> 9) & 0xff; // each sector holds its number
  const dev = new lib.MemoryBlockDevice(bytes);
  const dom = host.createDomain(
    "blk", guest("pv-blk-64.elf"),
    { memoryMiB: 16, disks: [{ path: "mem:blk", vdev: "xvda", writable: true, device: dev }] }
  );
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== lib.DS_RUNNING || Date.now() - t0 > 60000);
  assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out);
  assert.match(out, "blk: PASSED", out);
  for (let k = 0; k < 16; k++) assert.ok(
    bytes.subarray((64 + k) * 512, (65 + k) * 512).every((b) => b === 200 + k), `the write reached sector ${64 + k}`
  );
  assert.equal(
    host.domains.get(dom.domid)?.disks[0].disk, { path: "mem:blk", vdev: "xvda", writable: true },
    "the recorded spec has no device"
  );
});

// ---- the decompressors ----
function bzImage(payload: Uint8Array): Uint8Array {
  const off = 5 * 512, img = new Uint8Array(off + payload.length), dv = new DataView(img.buffer);
  img[0x1f1] = 4;
  img.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint32(0x24c, payload.length, true);
  img.set(payload, off);
  return img;
}
const sample = () => {
  // Code-like data (x86 calls for BCJ) and text: the guests and this test's own bundle.
  const parts = [
    guest("pv-hello-64.elf"), guest("hello-32.elf"),
    new Uint8Array(readFileSync(join(ROOT, "dist", "tests", "embed.test.js")))
  ];
  const n = parts.reduce((a, p) => a + p.length, 0), b = new Uint8Array(n * 4);
  let o = 0;
  for (let r = 0; r < 4; r++) for (const p of parts) { b.set(p, o); o += p.length; }
  return b;
};
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const drain = (g: Generator<void, Uint8Array>) => { for (;;) { const r = g.next(); if (r.done) return r.value; } };
const XZ_MODULE = xzWasmModule();
/** Both decoders (xz.ts's, and xzwasm.ts's with no fallback) on the same input: the same output, or the
 * same error (class and message), which is thrown. */
function unxz(c: Uint8Array, limit = 1 << 30, hint?: number): Uint8Array {
  assert.ok(XZ_MODULE, "the xz module compiles");
  let js: Uint8Array | undefined, wasm: Uint8Array | undefined, ej: Error | undefined, ew: Error | undefined;
  try { js = drain(new XzDecoder(c, limit, hint).run()); } catch (e) { ej = e as Error; }
  try { wasm = drain(new WasmXzDecoder(XZ_MODULE, c, limit, hint).run()); } catch (e) { ew = e as Error; }
  if (ej || ew) {
    assert.is(
      `${ew?.constructor.name}: ${ew?.message}`, `${ej?.constructor.name}: ${ej?.message}`,
      "the WebAssembly decoder's error is the JavaScript one's"
    );
    throw ej;
  }
  assert.ok(same(wasm!, js!), `the decoders' outputs differ (${wasm!.length} and ${js!.length} bytes)`);
  return wasm!;
}

test("xz: the decoder matches xz(1) (checks none/crc32/crc64/sha256, x86 BCJ, several blocks, uncompressed chunks)",
  () => {
  const data = sample();
  const random = new Uint8Array(300000);
  globalThis.crypto.getRandomValues(random.subarray(0, 65536));
  // (incompressible, then repeats)
  for (let i = 65536; i < random.length; i += 65536)
    random.set(random.subarray(0, Math.min(65536, random.length - i)), i);
  for (const [args, input] of [
    [["--check=crc32", "--x86", "--lzma2=dict=1MiB"], data], [["--check=crc64"], data], [["--check=none", "-1"], data],
    [["--check=sha256", "-9e"], data], [["--block-size=65536", "--check=crc32"], data], [["--check=crc32"], random],
    [["--check=crc32"], new Uint8Array(0)],
  ] as [string[], Uint8Array][]) {
    const c = new Uint8Array(execFileSync("xz", ["-c", ...args], { input, maxBuffer: 64 << 20 }));
    assert.ok(same(unxz(c), input), `xz ${args.join(" ")}`);
  }
});

test("xz: a limit stops the output before it is written; corrupt, truncated and foreign data are refused", () => {
  const zeros = new Uint8Array(64 << 20);
  const bomb = new Uint8Array(execFileSync("xz", ["-c"], { input: zeros, maxBuffer: 64 << 20 }));
  assert.throws(() => unxz(bomb, 16 << 20), (e: Error) => e.constructor.name === "XzLimit");
  const data = sample();
  const c = new Uint8Array(execFileSync("xz", ["-c", "--check=crc32"], { input: data, maxBuffer: 64 << 20 }));
  for (let i = 0; i <= 60; i++) {
    const bad = c.slice();
    const at = i < 40 ? Math.floor(c.length * (i / 40)) : c.length - 1 - (i - 40); // (the index and footer too)
    bad[at] ^= 1 << (i & 7);
    let r: Uint8Array | undefined;
    try { r = unxz(bad); } catch (e) { assert.match((e as Error).message, /^xz: /); continue; }
    assert.unreachable(`a flipped bit at ${at} was accepted (${r.length} bytes)`);
  }
  for (const n of [0, 6, 12, 13, 40, c.length >> 1, c.length - 13])
    assert.throws(() => unxz(c.subarray(0, n)), /^xz: /, `truncated to ${n}`);
  const lzma = new Uint8Array(execFileSync("xz", ["-c", "--format=lzma"], { input: data.subarray(0, 1000) }));
  assert.throws(() => unxz(lzma), /not an xz stream/);
  const delta =
    new Uint8Array(execFileSync("xz", ["-c", "--delta=dist=4", "--lzma2"], { input: data.subarray(0, 1000) }));
  assert.throws(() => unxz(delta), /unsupported filter 0x3/);
});

test("xz: every LZMA literal/position setting (lc, lp, pb), long matches and far distances match xz(1)", () => {
  const data = sample();
  for (
    const opt of [
      "lc=0,lp=0,pb=0", "lc=4,lp=0,pb=4", "lc=0,lp=4,pb=2", "lc=1,lp=3,pb=1", "nice=273,mf=bt4,depth=0",
      "preset=9e,dict=64KiB"
    ]
  ) {
    const c = new Uint8Array(
      execFileSync("xz", ["-c", "--x86", `--lzma2=${opt}`, "--check=crc32"], { input: data, maxBuffer: 64 << 20 })
    );
    assert.ok(same(unxz(c), data), `--lzma2=${opt}`);
  }
});

test(
  "xz: the size hint (a bzImage's appended size) only sizes the buffer: right, short, long, beyond the limit", () => {
  const data = sample();
  const c = new Uint8Array(
    execFileSync("xz", ["-c", "--x86", "--lzma2", "--check=crc32"], { input: data, maxBuffer: 64 << 20 })
  );
  const run = (hint: number, limit = 1 << 30) => unxz(c, limit, hint);
  for (const hint of [data.length, 1, data.length >> 1, data.length * 3, 0, -5, 2.5, NaN, 2 ** 60])
    assert.ok(same(run(hint), data), `hint ${hint}`);
  assert.throws(
    () => run(data.length, data.length - 1), (e: Error) => e instanceof XzLimit, "a hint does not lift the limit"
  );
  const withSize = new Uint8Array(c.length + 4);
  withSize.set(c);
  new DataView(withSize.buffer).setUint32(c.length, data.length, true); // (as Linux's size_append)
  assert.ok(same(loadKernelImage(bzImage(withSize)), data), "a bzImage payload with its size appended");
});

test("xz: fuzzed input (truncations, bit flips, overwritten bytes) gives an XzError or the right output, nothing else",
  () => {
  // A small x86 file, as Linux compresses its kernel; with a CRC32 any change must be an error or
  // (a change the decoder may ignore, such as an unused header bit) the same output. With no check
  // the decoder may give other bytes, but still only an XzError or an output within the limit.
  const data = new Uint8Array([...guest("pv-hello-64.elf"), ...guest("hello-32.elf")]);
  const crc = new Uint8Array(execFileSync("xz", ["-c", "--x86", "--lzma2", "--check=crc32"], { input: data }));
  const none = new Uint8Array(execFileSync("xz", ["-c", "--x86", "--lzma2", "--check=none"], { input: data }));
  assert.ok(same(unxz(crc), data) && same(unxz(none), data));
  let seed = 0x9e3779b9;
  const rnd = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const limit = data.length * 2;
  const outcome = (c: Uint8Array, checked: boolean, what: string): "error" | "same" | "other" => {
    let r: Uint8Array;
    try { r = unxz(c, limit); } catch (e) {
      assert.ok(
        e instanceof XzError || e instanceof XzLimit,
        `${what}: ${(e as Error).constructor.name}: ${(e as Error).message}`
      );
      return "error";
    }
    assert.ok(r.length <= limit, what);
    if (same(r, data)) return "same";
    assert.ok(!checked, `${what}: accepted with other output (${r.length} bytes)`);
    return "other";
  };
  let errors = 0;
  for (const [c, checked] of [[crc, true], [none, false]] as const) {
    for (let n = 0; n < c.length; n += n < 200 || n > c.length - 100 ? 1 : 11) {
      assert.equal(
        outcome(c.subarray(0, n), checked, `truncated to ${n}`), "error", `truncated to ${n} of ${c.length}`
      );
    }
    for (let k = 0; k < 1000; k++) {
      const bad = c.slice();
      if (k % 3 === 2) {
        const at = rnd(c.length), n = 1 + rnd(8);
        for (let i = at; i < Math.min(c.length, at + n); i++) bad[i] = rnd(256);
      }
      else bad[rnd(c.length)] ^= 1 << rnd(8);
      if (outcome(bad, checked, `change ${k}`) === "error") errors++;
    }
  }
  assert.ok(errors > 1000, `only ${errors} of 2000 changes were refused`); // (the CRC32 half refuses nearly all)
});

test("xz: both decoders match xz(1) on sizes 0 to 3 MB, " + "dictionaries 4 KiB to 8 MiB, with and without BCJ, one "
    + "block or many", () => {
  const data = sample(), text = new TextEncoder().encode("the quick brown fox jumps over the lazy dog ".repeat(5000));
  const lens = [0, 1, 2, 5, 100, 4095, 65537, 300001, Math.min(data.length, 3 << 20)];
  let n = 0;
  for (const len of lens) {
    for (const [src, opts] of [
      [data, ["--x86", "--lzma2=dict=4KiB"]], [data, ["--lzma2=dict=64KiB,lc=2,lp=2,pb=0"]],
      [data, ["--x86", "--lzma2=dict=8MiB", "--check=crc32"]],
      [data, ["--block-size=50000", "--check=crc64"]],
      [text, ["--block-size=7000", "--x86", "--lzma2=preset=1", "--check=sha256"]], [data, ["-0", "--check=none"]],
    ] as [Uint8Array, string[]][]) {
      const input = src.subarray(0, Math.min(len, src.length));
      const c = new Uint8Array(execFileSync("xz", ["-c", "--format=xz", ...opts], { input, maxBuffer: 64 << 20 }));
      assert.ok(same(unxz(c), input), `${input.length} bytes, xz ${opts.join(" ")}`);
      n++;
    }
  }
  assert.is(n, lens.length * 6);
});

test("xz: the WebAssembly decoder's memory stays within the "
    + "limit; xzDecode falls back to xz.ts where the module cannot " + "run", () => {
  const zeros = new Uint8Array(64 << 20);
  const bomb = new Uint8Array(execFileSync("xz", ["-c"], { input: zeros, maxBuffer: 64 << 20 }));
  const d = new WasmXzDecoder(XZ_MODULE!, bomb, 16 << 20);
  assert.throws(() => drain(d.run()), (e: Error) => e instanceof XzLimit);
  assert.ok(
    d.memoryBytes > 16 << 20 && d.memoryBytes <= (16 << 20) + bomb.length + (256 << 10),
    `${d.memoryBytes} bytes of memory`
  );
  // The same with a size hint past what wasm32's 4 GiB can hold: the module cannot have that memory, so
  // xz.ts's decoder (its output grown as the data comes) decodes it.
  const data = sample().subarray(0, 100000);
  const c = new Uint8Array(execFileSync("xz", ["-c", "--x86", "--lzma2"], { input: data }));
  assert.throws(() => drain(new WasmXzDecoder(XZ_MODULE!, c, 2 ** 33, 2 ** 32).run()), /no memory for/);
  assert.ok(same(drain(xzDecode(c, 2 ** 33, 2 ** 32)), data), "the fallback's output");
  assert.ok(same(drain(xzDecode(c, 1 << 30, undefined, null)), data), "no module: xz.ts's decoder");
  assert.throws(
    () => drain(xzDecode(c, data.length - 1)), (e: Error) => e instanceof XzLimit,
    "the data's own errors are not retried"
  );
});

test("bzImage payloads (gzip, xz, zstd): sync and async decompression, limits, bad data", async () => {
  const elf = guest("pv-hello-64.elf");
  for (const [kind, p] of [
    ["gzip", gzipSync(elf)], ["xz", execFileSync("xz", ["-c", "--x86", "--lzma2"], { input: elf })],
    ["zstd", execFileSync("zstd", ["-c", "-q"], { input: elf })],
  ] as const) {
    const img = bzImage(new Uint8Array(p));
    assert.ok(same(loadKernelImage(img), elf), `${kind} sync`);
    assert.ok(same(await loadKernelImageAsync(img), elf), `${kind} async`);
    assert.throws(() => loadKernelImage(img, elf.length - 1), new RegExp(`its ${kind} data decompresses to more than`));
    await rejects(
      () => loadKernelImageAsync(img, elf.length - 1), new RegExp(`its ${kind} data decompresses to more than`)
    );
    const cut = bzImage(new Uint8Array(p).subarray(0, p.length - 20));
    assert.throws(
      () => loadKernelImage(cut), new RegExp(`${kind} data could not be decompressed`), `${kind} truncated`
    );
  }
});

test.run();
