// A smoke test of the library in whatever runtime runs it (Node, Bun, Deno: `import "xenwasm"` takes the
// package's node entry there): a bare guest, a PV guest, and a PV guest with a file-backed disk. Prints
// one JSON line (tests/runtimes.test.ts runs it under each runtime and checks it).
//   node examples/embed/smoke.mjs | bun examples/embed/smoke.mjs | deno run -A examples/embed/smoke.mjs
import { XenHost, runBare, DS_RUNNING } from "xenwasm";
import { readFileSync, writeFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const guest = (name) => {
  for (const dir of ["guests/build", "guests/prebuilt"]) {
    try { return new Uint8Array(readFileSync(join(dir, name))); } catch { /* next */ }
  }
  throw new Error(`${name} not found (run from the repository's root; make -C guests)`);
};
const text = (b) => new TextDecoder().decode(b);
const runtime = globalThis.Bun ? `bun ${globalThis.Bun.version}` : globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}` : `node ${process.versions.node}`;

const bare = await runBare(guest("hello-64.elf"));

const host = await XenHost.create(128);
const run = async (name, kernel, o) => {
  const d = host.createDomain(name, kernel, o);
  let out = "";
  d.onConsole = (b) => { out += text(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 60000);
  return { out, reason: host.shutdownReason(d.domid) };
};
const pv = await run("hello", guest("pv-hello-64.elf"), { memoryMiB: 16 });

const dir = mkdtempSync(join(tmpdir(), "xenwasm-smoke-"));
const img = join(dir, "disk.img");
const disk = new Uint8Array(1 << 20);
for (let i = 0; i < disk.length; i++) disk[i] = (i >> 9) & 0xff; // each sector holds its number
writeFileSync(img, disk);
const blk =
  await run("blk", guest("pv-blk-64.elf"), { memoryMiB: 16, disks: [{ path: img, vdev: "xvda", writable: true }] });
const after = new Uint8Array(readFileSync(img));
const written = Array.from(
  { length: 16 }, (_, k) => after.subarray((64 + k) * 512, (65 + k) * 512).every((b) => b === 200 + k)
).every(Boolean);
rmSync(dir, { recursive: true, force: true });

console.log(JSON.stringify({
  runtime,
  bare: { reason: bare.reason, status: bare.status, first: bare.output.split("\n")[0] },
  pv: { first: pv.out.split("\n")[0], reason: pv.reason },
  blk: {
    passed: blk.out.includes("blk: PASSED"), fails: blk.out.split("\n").filter((l) => l.startsWith("FAIL")), written
  },
}));
