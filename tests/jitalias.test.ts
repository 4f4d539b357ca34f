// The JIT in one Linux domain whose processes have different code at the same linear addresses
// (issue 12: busybox's init died of a segfault at 0x25, ip 445f0a, in 1 of about 10 balloon runs).
//
// Until 69f1992 a compile read its page through the address space current when the batch was built,
// which need not be the one that asked for it: the request waits while earlier batches are in flight
// (at most two), the guest runs on, and its kernel switches processes. Busybox (PID 1, the shell) and
// guests/linux/memcheck are both static executables from 0x401000, so a region of busybox's first
// code page (its PLT: the strcmp stub at 0x401048 among them) could be translated from memcheck's
// bytes, and running memcheck's code in place of its own would give strcmp a garbage pointer (the likely
// cause: the crash was not seen in 37 balloon runs on the fixed tree; none was tried with the old decode). Here two
// builds of guests/linux/jitalias.c (same layout, different immediates) run side by side and yield to each other
// every round, just after their loops became hot: a region translated from the other program's page
// gives the wrong checksum (with the old decode: wrong values in 5 runs of 5, AMD EPYC).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { XenHost } from "../host/pv/host";
import { linuxKernel, busyboxInitramfs } from "./lib/linux";
import { DS_RUNNING } from "../assembly/records";

const M = (1n << 64n) - 1n;
// guests/linux/jitalias.c's round r: the XOR of its NF functions (f10..f17, f20..f27, ... f67), the j-th
// started from r + j.
function expected(salt: bigint, r: number, iters: number): bigint {
  let v = 0n;
  for (let j = 0; j < 48; j++) {
    const k = BigInt((Math.floor(j / 8) + 1) * 10 + (j % 8));
    const add = salt ^ (k * 0x9e37n);
    let x = BigInt(r + j);
    for (let i = 0; i < iters; i++) { x = (x + add) & M; x ^= x >> 7n; x = ((x << 3n) + (x ^ (salt >> 3n))) & M; }
    v ^= x;
  }
  return v;
}

const ROUNDS = 40, ITERS = 1100;
const SALTS: Record<string, bigint> = { a: 0x1234567n, b: 0x7654321n };

test(
  "two processes with different code at the same linear " + "addresses, side by side under the JIT: each computes its "
    + "own results", async () => {
  const work = join(process.cwd(), "tests", "build", "jitalias");
  const bin = (v: string) => join(process.cwd(), "guests", "build", `jitalias-${v}`);
  const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(work, [
    "mount -t devtmpfs dev /dev", // (background jobs read /dev/null)
    // Three pairs: the first compiles the hot loops; later pairs run them compiled.
    "for k in 1 2 3; do",
    `/jitalias-a ${ROUNDS} ${ITERS} > /a$k & /jitalias-b ${ROUNDS} ${ITERS} > /b$k & wait`,
    "done",
    "cat /a1 /b1 /a2 /b2 /a3 /b3",
    'echo "jitalias: end"',
  ], [["jitalias-a", bin("a")], ["jitalias-b", bin("b")]])));
  const host = await XenHost.create(256);
  const dom = host.createDomain("jitalias", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: 128, ramdisk, cmdline: "console=hvc0 quiet",
  });
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(
    () => out.includes("jitalias: end") || /Kernel panic|segfault/.test(out) || host.state(dom.domid) !== DS_RUNNING
      || Date.now() - t0 > 600000
  );
  const lines = [...out.matchAll(/jitalias ([0-9a-f]+) round ([0-9a-f]+): ([0-9a-f]+)/g)];
  const wrong: string[] = [];
  for (const [line, salt, r, v] of lines) {
    const want = expected(BigInt("0x" + salt), Number("0x" + r), ITERS);
    if (BigInt("0x" + v) !== want) wrong.push(`${line} (want ${want.toString(16)})`);
  }
  const done = out.split("jitalias: done").length - 1;
  assert.ok(out.includes("jitalias: end"), `the programs finished\n${out.slice(-3000)}`);
  assert.is(done, 6, `every run ended\n${out.slice(-3000)}`);
  assert.is(lines.length, 6 * ROUNDS, "every round printed");
  for (const s of Object.values(SALTS))
    assert.ok(lines.some((l) => BigInt("0x" + l[1]) === s), `variant ${s.toString(16)} ran`);
  assert.equal(wrong, [], `rounds with another program's results:\n${wrong.slice(0, 10).join("\n")}`);
  // The hot loops ran as compiled code (the test checks nothing otherwise).
  const st = host.core.jit?.stats();
  if (st) assert.ok(st.regions > 0 && st.insns > 0, `JIT regions: ${JSON.stringify(st)}`);
  host.destroyDomain(dom.domid);
});

test.run();
