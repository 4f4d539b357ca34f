// Bare machines: ELF loading, guest programs (guests/, built by `make -C guests`), the xm CLI and its
// error reporting.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseElf } from "../host/elf";
import { runBare, BareMachine } from "../host/bare";
import { repoRoot } from "./lib/repo";

const ROOT = repoRoot();
const GB = join(ROOT, "guests", "build");
const XM = join(ROOT, "bin", "xm.js");
const BENCHES = ["crc32", "sieve", "memcpy", "sort", "lukewarm"];
const TMP = mkdtempSync(join(tmpdir(), "xm-bare-test-"));

if (!existsSync(join(GB, "hello-64.elf")) || !existsSync(join(GB, "sort-small-native"))) {
  spawnSync("make", ["-s", "-C", join(ROOT, "guests")], { stdio: "inherit" });
}

const guest = (name: string) => readFileSync(join(GB, name));
const xm = (...args: string[]) => spawnSync(process.execPath, [XM, ...args], { encoding: "utf8" });

/** A minimal ET_EXEC image: one PT_LOAD segment holding `code` at 0x100000, entry at its start. */
function makeElf(bits: 32 | 64, code: number[], machine = bits === 64 ? 62 : 3): Uint8Array {
  const eh = bits === 64 ? 64 : 52, ph = bits === 64 ? 56 : 32, off = eh + ph;
  const b = new Uint8Array(off + code.length);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true);
  const base = 0x100000;
  if (bits === 64) {
    v.setBigUint64(24, BigInt(base + off), true);
    v.setBigUint64(32, BigInt(eh), true);
    v.setUint16(52, eh, true); v.setUint16(54, ph, true); v.setUint16(56, 1, true);
    v.setUint32(eh, 1, true); v.setUint32(eh + 4, 5, true);
    v.setBigUint64(eh + 8, 0n, true);
    v.setBigUint64(eh + 16, BigInt(base), true); v.setBigUint64(eh + 24, BigInt(base), true);
    v.setBigUint64(eh + 32, BigInt(b.length), true); v.setBigUint64(eh + 40, BigInt(b.length), true);
  } else {
    v.setUint32(24, base + off, true);
    v.setUint32(28, eh, true);
    v.setUint16(40, eh, true); v.setUint16(42, ph, true); v.setUint16(44, 1, true);
    v.setUint32(eh, 1, true); v.setUint32(eh + 4, 0, true);
    v.setUint32(eh + 8, base, true); v.setUint32(eh + 12, base, true);
    v.setUint32(eh + 16, b.length, true); v.setUint32(eh + 20, b.length, true); v.setUint32(eh + 24, 5, true);
  }
  b.set(code, off);
  return b;
}

// ---- ELF parser ---------------------------------------------------------------------------------

test("parseElf: the guests' headers", () => {
  const e64 = parseElf(guest("hello-64.elf"));
  assert.is(e64.bits, 64);
  assert.is(e64.machine, 62);
  assert.is(e64.entry, 0x100000);
  assert.ok(e64.segments.length >= 1);
  for (const s of e64.segments) assert.is(s.paddr, s.vaddr);
  const e32 = parseElf(guest("hello-32.elf"));
  assert.is(e32.bits, 32);
  assert.is(e32.machine, 3);
  assert.is(e32.entry, 0x100000);
  // the bss + stack segment: more memory than file
  assert.ok(e32.segments.some((s) => s.memsz > s.filesz));
});

test("parseElf: malformed and unsupported input", () => {
  const h = guest("hello-64.elf");
  const throws = (data: Uint8Array, re: RegExp) => {
    try {
      parseElf(data);
    } catch (e) { assert.match((e as Error).message, re); assert.not.match((e as Error).message, /\n/); return; }
    assert.unreachable(`no error for ${re}`);
  };
  throws(new TextEncoder().encode("#!/bin/sh\necho hi\n"), /^not an ELF file$/);
  throws(new Uint8Array(0), /^not an ELF file$/);
  throws(h.subarray(0, 40), /truncated ELF header/);
  throws(h.subarray(0, 100), /ELF program header 0 extends past end of file/);
  throws(h.subarray(0, 300), /ELF segment 0 data .* extends past end of file/);
  throws(makeElf(32, [0x90], 40), /unsupported ELF machine 40 \(ARM\)/);
  throws(makeElf(64, [0x90], 183), /unsupported ELF machine 183 \(AArch64\)/);
  const be = makeElf(32, [0x90]); be[5] = 2;
  throws(be, /big-endian/);
  const cls = makeElf(32, [0x90]); cls[4] = 3;
  throws(cls, /unsupported ELF class 3/);
  const dyn = makeElf(64, [0x90]); dyn[16] = 3;
  throws(dyn, /unsupported ELF type 3 \(ET_DYN: a shared/);
  const mix = makeElf(32, [0x90], 62);
  throws(mix, /ELF class 32-bit with machine 62/);
});

// ---- guests on a bare machine -------------------------------------------------------------------

for (const bits of [32, 64] as const) {
  test(`hello (${bits}-bit) prints its text and exits 0`, async () => {
    const r = await runBare(guest(`hello-${bits}.elf`));
    assert.is(r.reason, "exit", r.message);
    assert.is(r.status, 0);
    assert.ok(r.output.startsWith("Hello from a xenwasm guest\n"), r.output);
    assert.match(r.output, "fib(40) = 102334155\n");
    assert.match(r.output, "20! = 2432902008176640000 = 0x21c3677c82b40000\n");
    assert.match(r.output, "-12345 / 7 = -1763, -12345 % 7 = -4\n");
    assert.match(r.output, `${bits}-bit guest, [   ab] [cd   ] [0000beef] [z]\n`);
    assert.ok(r.instructions > 1000);
  });

  test(`exit3 (${bits}-bit) exits with status 3`, async () => {
    const r = await runBare(guest(`exit3-${bits}.elf`));
    assert.is(r.reason, "exit");
    assert.is(r.status, 3);
    assert.is(r.output, "exiting with status 3\n");
  });

  test(`an unhandled #UD is reported with its RIP (${bits}-bit)`, async () => {
    const r = await runBare(makeElf(bits, [0x90, 0x0f, 0x0b])); // nop; ud2
    assert.is(r.reason, "fault");
    assert.is(r.status, 1);
    const entry = 0x100000 + (bits === 64 ? 120 : 84);
    assert.is(r.message, `guest fault: #UD at rip=0x${(entry + 1).toString(16)}`);
  });
}

for (const b of BENCHES) {
  test(`${b} (small): 32- and 64-bit guests give the native checksum`, async () => {
    const nat = spawnSync(join(GB, `${b}-small-native`), ["--check"], { encoding: "utf8" });
    assert.is(nat.status, 0);
    const want = /checksum=(0x[0-9a-f]+)/.exec(nat.stdout)?.[1];
    assert.ok(want, nat.stdout);
    for (const bits of [32, 64]) {
      const r = await runBare(guest(`${b}-small-${bits}.elf`));
      assert.is(r.reason, "exit", r.message);
      assert.is(r.status, 0);
      assert.is(r.output, `${b} checksum=${want}\n`, `${bits}-bit`);
    }
  });
}

test("a program that does not fit in RAM is refused with a clear error", async () => {
  const m = await BareMachine.create({ ram: 1 << 20 });
  try { m.load(guest("hello-64.elf")); } catch (e) {
    assert.match((e as Error).message, /^ELF segment 0 \(0x100000-0x[0-9a-f]+\) does not fit in 1 MiB of RAM$/);
    return;
  }
  assert.unreachable("loaded");
});

test("a machine can run a second program after the first", async () => {
  const m = await BareMachine.create();
  m.load(guest("exit3-64.elf"));
  assert.is(m.run().status, 3);
  m.load(guest("hello-32.elf"));
  const r = m.run();
  assert.is(r.status, 0);
  assert.ok(r.output.startsWith("Hello from a xenwasm guest\n"));
});

test("the loop kernel of bench:peers: the native program's sum, 8 instructions an iteration, both widths", async () => {
  const withCount = (elf: Buffer, n: number) => {
    const copy = Buffer.from(elf);
    const at = copy.indexOf("XWLOOPN:");
    assert.ok(at > 0, "signature");
    copy.writeUInt32LE(n, at + 8);
    return copy;
  };
  for (const bits of [32, 64]) {
    const elf = guest(`loop-${bits}.elf`);
    // The multiboot header (magic, flags, checksum) within the first 8 KiB, 4-byte aligned.
    const mb = elf.indexOf(Buffer.from([0x02, 0xb0, 0xad, 0x1b]));
    assert.ok(mb > 0 && mb < 8192 && mb % 4 === 0, `multiboot header at ${mb}`);
    assert.is((elf.readUInt32LE(mb) + elf.readUInt32LE(mb + 4) + elf.readUInt32LE(mb + 8)) >>> 0, 0);
    const runs = [];
    for (const n of [0, 1000, 3000]) {
      const r = await runBare(withCount(elf, n));
      const native = spawnSync(join(GB, "loop-native"), [String(n)], { encoding: "utf8" });
      assert.is(r.status, 0, r.message);
      assert.is(r.output, native.stdout, `${bits}-bit, ${n} iterations`);
      runs.push(r.instructions);
    }
    assert.is(runs[2] - runs[1], 8 * 2000, `${bits}-bit: instructions for 2000 more iterations`);
    assert.ok(runs[0] < 500, `${bits}-bit: prologue and epilogue ${runs[0]}`);
  }
});

// ---- the xm command -----------------------------------------------------------------------------

test("xm run --bare: guest output on stdout, status passed through", () => {
  const h = xm("run", "--bare", join(GB, "hello-64.elf"));
  assert.is(h.status, 0, h.stderr);
  assert.ok(h.stdout.startsWith("Hello from a xenwasm guest\n"), h.stdout);
  assert.is(h.stderr, "");
  const e = xm("run", "--bare", join(GB, "exit3-32.elf"));
  assert.is(e.status, 3);
  assert.is(e.stdout, "exiting with status 3\n");
});

test("xm run --bare --stats: instructions, seconds and MIPS on stderr", () => {
  const r = xm("run", "--bare", "--stats", join(GB, "hello-32.elf"));
  assert.is(r.status, 0);
  assert.match(r.stderr, /^xm: \d+ instructions in [0-9.]+ s: [0-9.]+ MIPS\n$/);
});

test("xm help, xm help run", () => {
  const a = xm("help");
  assert.is(a.status, 0);
  assert.match(a.stdout, /run\s+boot a PV kernel/);
  const b = xm("help", "run");
  assert.is(b.status, 0);
  assert.match(b.stdout, /usage: xm run \[CFG \| KERNEL/);
  assert.match(b.stdout, /xm run --bare/);
  assert.match(b.stdout, /--stats/);
});

function expectCliError(args: string[], re: RegExp) {
  const r = xm(...args);
  assert.is(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
  assert.is(r.stdout, "");
  const lines = r.stderr.split("\n");
  assert.is(lines.length, 2, `one line: ${JSON.stringify(r.stderr)}`);
  assert.is(lines[1], "");
  assert.ok(lines[0].startsWith("xm: "), lines[0]);
  assert.match(lines[0], re);
  assert.not.match(r.stderr, /\bat .*:\d+:\d+|Error:/); // no stack trace
}

test("xm: bad input files give one line on stderr and exit code 1", () => {
  const h = guest("hello-64.elf");
  const trunc = join(TMP, "truncated.elf");
  writeFileSync(trunc, h.subarray(0, 100));
  expectCliError(["run", "--bare", trunc], /truncated\.elf: ELF program header 0 extends past end of file$/);
  const trunc2 = join(TMP, "truncated2.elf");
  writeFileSync(trunc2, h.subarray(0, 300));
  expectCliError(["run", "--bare", trunc2], /ELF segment 0 data .* extends past end of file/);
  const text = join(TMP, "text.elf");
  writeFileSync(text, "hello, I am not an executable\n");
  expectCliError(["run", "--bare", text], /text\.elf: not an ELF file$/);
  const arm = join(TMP, "arm.elf");
  writeFileSync(arm, makeElf(32, [0, 0, 0, 0], 40));
  expectCliError(["run", "--bare", arm], /unsupported ELF machine 40 \(ARM\)/);
  expectCliError(["run", "--bare", join(TMP, "missing.elf")], /cannot read .*missing\.elf: no such file$/);
  expectCliError(["run", "--bare", TMP], /is a directory$/);
});

test("xm: bad usage gives one line on stderr and exit code 1", () => {
  expectCliError(["run", join(GB, "hello-64.elf")], /not a Xen PV kernel/);
  expectCliError(["run", "--bare"], /missing KERNEL/);
  expectCliError(["run", "--bare", "--frobnicate", join(GB, "hello-64.elf")], /unknown option --frobnicate/);
  expectCliError(["run", "--bare", "--ram", "lots", join(GB, "hello-64.elf")], /bad RAM size/);
  expectCliError(["run", "--bare", "--ram", "1M", join(GB, "hello-64.elf")], /does not fit in 1 MiB of RAM/);
  expectCliError(["frobnicate"], /unknown command frobnicate/);
  expectCliError(["help", "frobnicate"], /unknown command frobnicate/);
});

test("xm: a guest fault is reported on stderr with exit code 1", () => {
  const f = join(TMP, "ud2.elf");
  writeFileSync(f, makeElf(64, [0x0f, 0x0b]));
  const r = xm("run", "--bare", f);
  assert.is(r.status, 1);
  assert.is(r.stderr, "xm: guest fault: #UD at rip=0x100078\n");
});

test.run();
