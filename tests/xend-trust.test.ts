// xend's trust boundaries (issue 11, items 1-4): what does not come through xend's 0600 socket is
// untrusted. (1) Incoming migrations must know xend's secret, on loopback too (a local user who is not
// xend's cannot migrate a domain in, nor get a root-only file opened as its disk); an incoming or
// restored config passes the config file validator and the receiving host's path rules. (2) A
// malformed Xen ELF note fails instead of hanging xend. (3) Reads and decompressions are bounded,
// non-regular files refused, and xend serves other clients while a kernel decompresses. (4) A save
// that fails in its cleanup still cancels the suspend: the domain runs on.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import {
  mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, symlinkSync, chmodSync, chownSync, truncateSync,
  mkdtempSync, unlinkSync, statSync
} from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Xend, XendOptions, xendEnv as envOf } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "xend-trust");
const RTMP = join(DIR, "tmp"); // TMPDIR of the test's (root) xends: their secret is RTMP/xenwasm-UID/relocation.secret
const PORT = 18171;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const counts = (s: string) => [...s.matchAll(/count (\d+)/g)].map((m) => Number(m[1]));
const COUNTER = `${process.cwd()}/guests/build/pv-counter-64.elf`;
const uid = process.getuid?.() ?? 0;

type Env = NodeJS.ProcessEnv;
const xends: Xend[] = [];

/** The options of the test's xends: `socket`, 256 MiB, no NAT, no relocation listener unless `o` gives one. */
function xendOpts(socket: string, extra: Record<string, string> = {}, o: Partial<XendOptions> = {}): XendOptions {
  return {
    socket, memoryMiB: 256, relocation: "none", xmTimeoutMs: 30000, polls: 200, ...o,
    // XENWASM_TEST_DECOMPRESS_HOLD (host/node/platform.ts): while DIR/xz.hold exists a kernel's
    // decompression waits (after making DIR/xz.hold.started), to see xend serve others meanwhile.
    env: {
      XENWASM_TEST_DECOMPRESS_HOLD: join(DIR, "xz.hold"), TMPDIR: RTMP, XEND_NAT: "no", XEND_SUSPEND_TIMEOUT_MS: "5000",
      ...extra,
    },
  };
}
const sockOf = (name: string) => join(DIR, name, "run", "xend.sock");
const xendEnv = (name: string, extra: Record<string, string> = {}): Env => envOf(xendOpts(sockOf(name), extra));
/** Starts a xend (stopped after the tests, or by the test) and gives its environment. */
async function startXend(o: XendOptions): Promise<Xend> {
  const x = await Xend.start(o);
  xends.push(x);
  return x;
}
function xm(env: Env, ...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/xm.js", ...args], { env, encoding: "utf8", timeout: 30000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
function xmAsync(
  env: Env, ...args: string[]
): { done: Promise<{ status: number | null; stderr: string }>; exited: () => boolean } {
  const c = spawn(process.execPath, ["bin/xm.js", ...args], { env });
  let stderr = "", exited = false;
  c.stderr.on("data", (b) => { stderr += b; });
  return {
    done: new Promise((res) => c.on("exit", (status) => { exited = true; res({ status, stderr }); })),
    exited: () => exited
  };
}
function follow(env: Env, dom: string) {
  const c = spawn(process.execPath, ["bin/xm.js", "console", dom], { env, stdio: ["pipe", "pipe", "pipe"] });
  const o = { out: "", c, exited: new Promise((r) => c.on("exit", r)) };
  c.stdout.on("data", (b) => { o.out += b.toString(); });
  return o;
}
async function until(f: () => boolean, ms = 20000) {
  const t0 = Date.now(); while (!f() && Date.now() - t0 < ms) await sleep(20); return f();
}
const cfg = (name: string, body: string) => { const f = join(DIR, `${name}.cfg`); writeFileSync(f, body); return f; };
const counter = (name: string, extra = "") =>
  cfg(name, `name = "${name}"\nkernel = "${COUNTER}"\nmemory = 16\nextra = "steps=1000000 every=3000000"\n${extra}`);
const nDomains = (env: Env) => Number(/nr_domains\s+: (\d+)/.exec(xm(env, "info").stdout)?.[1] ?? -1);

let R: Env, S: Env; // R: receives migrations (XEND_DISK_ALLOW = DIR/allowed); S: sends, no allow-list

test.before(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(join(DIR, "allowed"), { recursive: true });
  mkdirSync(join(DIR, "other"), { recursive: true });
  mkdirSync(RTMP, { recursive: true });
  chmodSync(RTMP, 0o1777); // as /tmp: each user's xend makes its own 0700 xenwasm-UID in it
  R = (await startXend(xendOpts(sockOf("r"), { XEND_DISK_ALLOW: join(DIR, "allowed") }, { relocation: PORT }))).env;
  S = (await startXend(xendOpts(sockOf("s"), { XEND_MIGRATE_SEND_TIMEOUT_MS: "2000" }))).env;
});
test.after(() => { for (const x of xends) x.stop(); });

// ---- item 2 ----
/** An ELF64 x86-64 executable with one PT_LOAD and a PT_NOTE holding one note with these sizes. */
function elfWithNote(namesz: number, descsz: number): Uint8Array {
  const b = new Uint8Array(0x1000), dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 62, true); dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0xffffffff80000000n, true); dv.setBigUint64(32, 64n, true);
  dv.setUint16(52, 64, true); dv.setUint16(54, 56, true); dv.setUint16(56, 2, true);
  const ph = (o: number, type: number, off: number, size: number) => {
    dv.setUint32(o, type, true); dv.setUint32(o + 4, 5, true); dv.setBigUint64(o + 8, BigInt(off), true);
    dv.setBigUint64(o + 16, 0xffffffff80000000n, true); dv.setBigUint64(o + 24, 0n, true);
    dv.setBigUint64(o + 32, BigInt(size), true); dv.setBigUint64(o + 40, BigInt(size), true);
  };
  ph(64, 1, 0x200, 0x100);
  ph(120, 4, 0x100, 24);
  dv.setUint32(0x100, namesz, true); dv.setUint32(0x104, descsz, true); dv.setUint32(0x108, 1, true);
  return b;
}

test("(2) a Xen ELF note with namesz 0 and descsz 0xfffffff4: a clear error, and xend keeps answering", () => {
  for (const [namesz, descsz] of [[0, 0xfffffff4], [0xfffffffc, 0], [0xfffffff4, 0xfffffff4]]) {
    const k = join(DIR, `note-${namesz}-${descsz}.elf`);
    writeFileSync(k, elfWithNote(namesz, descsz));
    const r = xm(S, "create", cfg("note", `name = "note"\nkernel = "${k}"\nmemory = 16\n`));
    assert.is(r.status, 1, `xm create must fail, not hang (status ${r.status})`);
    assert.match(r.stderr, /no Xen ELF notes|malformed ELF note/);
    assert.is(xm(S, "list").status, 0);
  }
});

// ---- item 3 ----
test(
  "(3) kernel /dev/zero, a FIFO as ramdisk, /dev/zero as disk, xm restore /dev/zero: refused at once, nothing started",
  () => {
  let r = xm(S, "create", cfg("zk", `name = "zk"\nkernel = "/dev/zero"\nmemory = 16\n`));
  assert.is(r.status, 1, "not hung");
  assert.match(r.stderr, /kernel \/dev\/zero is not a regular file/);
  const fifo = join(DIR, "fifo");
  execFileSync("mkfifo", [fifo]);
  r = xm(S, "create", cfg("zr", `name = "zr"\nkernel = "${COUNTER}"\nramdisk = "${fifo}"\nmemory = 16\n`));
  assert.is(r.status, 1);
  assert.match(r.stderr, /ramdisk .*fifo is not a regular file/);
  r =
    xm(S, "create", cfg("zd", `name = "zd"\nkernel = "${COUNTER}"\nmemory = 16\ndisk = [ 'file:/dev/zero,xvda,w' ]\n`));
  assert.is(r.status, 1);
  assert.match(r.stderr, /disk \/dev\/zero: not a regular file or block device/);
  r = xm(S, "create", cfg("zf", `name = "zf"\nkernel = "${COUNTER}"\nmemory = 16\ndisk = [ 'file:${fifo},xvda,r' ]\n`));
  assert.is(r.status, 1, "opening a FIFO as a disk must not wait for a writer");
  assert.match(r.stderr, /not a regular file or block device/);
  r = xm(S, "restore", "/dev/zero");
  assert.is(r.status, 1);
  assert.match(r.stderr, /save file \/dev\/zero is not a regular file/);
  assert.is(nDomains(S), 0);
});

test("(3) a save file larger than the host's memory could hold is refused before it is read", () => {
  const f = join(DIR, "huge.save");
  writeFileSync(f, "");
  truncateSync(f, (256 + 65) * 1048576); // sparse
  const r = xm(S, "restore", f);
  assert.is(r.status, 1);
  assert.match(r.stderr, /save file .*huge\.save is too large \(321 MiB; at most 320 MiB\)/);
});

/** A bzImage (setup header "HdrS", payload_offset 0) around `payload`. */
function bzImage(payload: Uint8Array): Uint8Array {
  const setup = 4, off = (setup + 1) * 512;
  const b = new Uint8Array(off + payload.length), dv = new DataView(b.buffer);
  b[0x1f1] = setup;
  b.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint32(0x248, 0, true); dv.setUint32(0x24c, payload.length, true);
  b.set(payload, off);
  return b;
}
const zeros = new Uint8Array(64 << 20);

test("(3) decompression bombs (gzip, xz, zstd: 64 MiB of zeros) for a 16 MiB domain: refused at the domain's memory",
  () => {
  const payloads: [string, Uint8Array][] = [
    ["gzip", gzipSync(zeros)],
    ["xz", execFileSync("xz", ["-c", "--format=xz"], { input: zeros, maxBuffer: 64 << 20 })],
    ["zstd", execFileSync("zstd", ["-c", "-q"], { input: zeros, maxBuffer: 64 << 20 })],
  ];
  for (const [kind, p] of payloads) {
    assert.ok(p.length < 1 << 20, `${kind} bomb is small (${p.length})`);
    const k = join(DIR, `bomb.${kind}`);
    writeFileSync(k, bzImage(p));
    const r = xm(S, "create", cfg("bomb", `name = "bomb"\nkernel = "${k}"\nmemory = 16\n`));
    assert.is(r.status, 1);
    assert.match(r.stderr, new RegExp(`its ${kind} data decompresses to more than 16 MiB`), r.stderr);
  }
  assert.is(nDomains(S), 0);
});

test("(3) while a kernel decompresses (xz held back), xend answers other clients", async () => {
  const k = join(DIR, "bomb.xz");
  const hold = join(DIR, "xz.hold"), started = join(DIR, "xz.hold.started");
  writeFileSync(hold, "");
  rmSync(started, { force: true });
  const c = xmAsync(S, "create", cfg("held", `name = "held"\nkernel = "${k}"\nmemory = 16\n`));
  try {
    assert.ok(await until(() => existsSync(started)), "the decompression started");
    const l = xm(S, "list"); // would wait for the decompression if it blocked xend's event loop
    assert.is(l.status, 0, "xm list answered while the kernel decompresses");
    assert.match(l.stdout, /Domain-0/);
    assert.not.ok(c.exited(), "the create is still waiting for the decompression");
  } finally { rmSync(hold, { force: true }); }
  const r = await c.done;
  assert.is(r.status, 1);
  assert.match(r.stderr, /decompresses to more than 16 MiB/);
});

// ---- item 4 ----
test("(4) a save whose file cannot be made (its directory is a file): the suspend is cancelled, the domain counts on",
  async () => {
  assert.is(xm(S, "create", counter("sv")).status, 0);
  const f = follow(S, "sv");
  assert.ok(await until(() => counts(f.out).length >= 2), f.out);
  writeFileSync(join(DIR, "afile"), "");
  const r = xm(S, "save", "sv", join(DIR, "afile", "x.sav"));
  assert.is(r.status, 1);
  assert.match(r.stderr, /save of sv failed, it runs on: cannot write .*x\.sav: a part of its path is not a directory/);
  assert.not.match(r.stderr, /ENOTDIR|\.part/, "no errno text");
  assert.ok(await until(() => f.out.includes("resumed (1)")), f.out);
  const n0 = counts(f.out).length;
  assert.ok(await until(() => counts(f.out).length >= n0 + 2), f.out);
  assert.match(xm(S, "list", "sv").stdout, /sv\s+\d+\s+16\s+1\s+(r-----|-b----)/);
  f.c.stdin.write("\x1d");
  await f.exited;
  assert.is(xm(S, "destroy", "sv").status, 0);
});

// ---- item 1 ----
const runAs = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];

test("(1) a local user who is not xend's cannot migrate a domain into it (its disk a symlink to a root-only file)",
  async () => {
  if (uid !== 0) { console.log("  (skipped: needs root to run a second user)"); return; }
  // nobody must reach the checkout (xm, xend, the guest kernel): not so in a clone under a 0700 /root.
  if (
    spawnSync(
      runAs[0], [...runAs.slice(1), "test", "-r", join(process.cwd(), "bin", "xm.js"), "-a", "-r", COUNTER]
    ).status !== 0
  ) {
    console.log("  (skipped: user nobody cannot read this checkout, or setpriv is missing)");
    return;
  }
  const victim = join(DIR, "root-only.txt");
  writeFileSync(victim, "root's secret\n", { mode: 0o600 });
  const U = mkdtempSync("/tmp/xwtrust-");
  chownSync(U, 65534, 65534);
  chmodSync(U, 0o700);
  // TMPDIR as root's xends': nobody's xend looks for the receiver's secret where it is, and cannot read it.
  // (uid and gid 65534: runAs's nobody and nogroup, no other groups: Node drops them.)
  const NX = xendOpts(join(U, "run", "xend.sock"), { HOME: U }, { memoryMiB: 64, uid: 65534, gid: 65534 });
  const N = envOf(NX);
  let nx: Xend | undefined;
  const asNobody = (...args: string[]) => {
    const r = spawnSync(
      runAs[0], [...runAs.slice(1), process.execPath, "bin/xm.js", ...args],
      { env: N, encoding: "utf8", timeout: 60000 }
    );
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  try {
    nx = await Xend.start(NX);
    const disk = join(U, "disk.img");
    const mk = (p: string, body: string) =>
      spawnSync(runAs[0], [...runAs.slice(1), "sh", "-c", body.replaceAll("$P", p)]);
    mk(disk, "dd if=/dev/zero of=$P bs=1M count=1 2>/dev/null");
    const c = join(U, "evil.cfg");
    mk(
      c, `printf 'name = "evil"\\nkernel = "${COUNTER}"\\nmemory = `
        + `16\\ndisk = [ "file:${disk},xvda,w" ]\\nextra = ` + `"steps=1000000 every=3000000"\\n' > $P`
    );
    const cr = asNobody("create", c);
    assert.is(cr.status, 0, cr.stderr);
    mk(disk, `rm $P && ln -s ${victim} $P`); // now the disk is the root-only file
    const r = asNobody("migrate", "evil", `127.0.0.1:${PORT}`);
    assert.is(r.status, 1, "the migration into root's xend must be refused");
    assert.match(r.stderr, /authentication failed/, r.stderr);
    assert.is(nDomains(R), 0, "root's xend has no new domain");
    assert.match(asNobody("list").stdout, /evil\s+\d+\s+16\s+1\s+(r-----|-b----)/, "and it runs on at nobody's xend");
    assert.is(readFileSync(victim, "utf8"), "root's secret\n");
    // The receiver's secret exists, and nobody cannot read it.
    const secretFile = join(RTMP, `xenwasm-${uid}`, "relocation.secret");
    assert.ok(existsSync(secretFile), "the receiving xend made its secret");
    assert.is(statSync(secretFile).mode & 0o777, 0o600);
    assert.is(statSync(join(secretFile, "..")).mode & 0o777, 0o700);
    assert.ok(spawnSync(runAs[0], [...runAs.slice(1), "cat", secretFile]).status !== 0, "nobody cannot read it");
  } finally {
    nx?.stop();
    rmSync(U, { recursive: true, force: true });
  }
});

test("(1) root's xend migrates into another user's xend on loopback with that user's secret, which root can read",
  async () => {
  if (uid !== 0) { console.log("  (skipped: needs root to run a second user)"); return; }
  if (
    spawnSync(
      runAs[0], [...runAs.slice(1), "test", "-r", join(process.cwd(), "bin", "xm.js"), "-a", "-r", COUNTER]
    ).status !== 0
  ) {
    console.log("  (skipped: user nobody cannot read this checkout, or setpriv is missing)");
    return;
  }
  const U = mkdtempSync("/tmp/xwtrust-");
  chownSync(U, 65534, 65534);
  chmodSync(U, 0o700);
  const NX = xendOpts(join(U, "run", "xend.sock"), { HOME: U },
    { memoryMiB: 64, relocation: 18173, uid: 65534, gid: 65534 });
  const N = envOf(NX);
  let nx: Xend | undefined;
  try {
    nx = await Xend.start(NX);
    assert.ok(existsSync(join(RTMP, "xenwasm-65534", "relocation.secret")), "nobody's xend made its own secret");
    assert.is(xm(S, "create", counter("tonobody")).status, 0);
    const r = xm(S, "migrate", "tonobody", "127.0.0.1:18173");
    assert.is(r.status, 0, r.stderr);
    assert.match(xm(N, "list", "tonobody").stdout, /tonobody\s+\d+\s+16\s+1\s+(r-----|-b----)/);
    assert.not.match(xm(S, "list").stdout, /tonobody/);
  } finally {
    nx?.stop();
    rmSync(U, { recursive: true, force: true });
  }
});

/** Talk to R's relocation listener as a sender would: the challenge answered with `secret`, then HELLO. */
async function hello(secret: string, toolstack: unknown, name = "fake"): Promise<string> {
  const { connect } = await import("node:net");
  const { RecordConn } = await import("../host/migrate/conn");
  const { REC } = await import("../host/save/stream");
  const { authFor } = await import("../host/migrate/send");
  const sock = connect(PORT, "127.0.0.1");
  await new Promise((res, rej) => { sock.once("connect", res); sock.once("error", rej); });
  const c = new RecordConn(sock);
  try {
    const ch = await c.expect(REC.CHALLENGE, 10000);
    await c.sendJson(
      REC.HELLO,
      { name, width: 64, vcpus: 1, pages: 4096, maxPages: 5120, live: false, toolstack, auth: authFor(secret, ch.body) }
    );
    const r = await c.next(10000);
    return r.type === REC.ACCEPT ? "ACCEPT" : `record ${r.type}`;
  } catch (e) { return (e as Error).message; } finally { c.destroy(); }
}

test("(1) an authenticated sender's config is validated like a config file and its disks by the receiver's rules",
  async () => {
  const secret = readFileSync(join(RTMP, `xenwasm-${uid}`, "relocation.secret"), "utf8").trim();
  const good = {
    name: "fake", kernel: COUNTER, memory: 16, maxmem: 16, vcpus: 1, disks: [], vifs: [], on_poweroff: "destroy",
    on_reboot: "restart", on_crash: "destroy", warnings: []
  };
  const ts = (c: object) => ({ config: { ...good, ...c }, weight: 256, cap: 0 });
  assert.match(await hello("wrong secret, sixteen+", ts({})), /authentication failed/);
  assert.match(
    await hello(secret, ts({ memory: "lots" })), /its domain config is refused: memory is not a whole number/
  );
  assert.match(
    await hello(secret, ts({ name: "a\nb" }), "a\nb"), /its domain config is refused: .*name: may contain only/
  );
  assert.match(await hello(secret, ts({ on_crash: "rm -rf /" })), /on_crash: must be one of/);
  assert.match(
    await hello(secret, ts({ disks: [{ target: "rel/disk.img", vdev: "xvda", writable: true }] })),
    /disk xvda \(rel\/disk\.img\) is refused: not an absolute path/
  );
  writeFileSync(join(DIR, "other", "x.img"), new Uint8Array(1 << 20));
  symlinkSync(join(DIR, "other", "x.img"), join(DIR, "allowed", "link.img"));
  assert.match(
    await hello(secret, ts({ disks: [{ target: join(DIR, "allowed", "link.img"), vdev: "xvda", writable: true }] })),
    /is outside XEND_DISK_ALLOW/
  );
  assert.match(
    await hello(secret, ts({ disks: [{ target: "/etc/shadow", vdev: "xvda", writable: true }] })),
    /is outside XEND_DISK_ALLOW/
  );
  assert.match(await hello(secret, ts({ name: "other" })), /its name "other" is not the domain's/);
  assert.is(await hello(secret, ts({})), "ACCEPT");
  await until(() => nDomains(R) === 0, 5000); // the half-made domain goes with the connection
  assert.is(nDomains(R), 0);
});

test("(1) xm migrate with a disk: inside the receiver's XEND_DISK_ALLOW it moves, outside it is refused and runs on",
  async () => {
  writeFileSync(join(DIR, "allowed", "ok.img"), new Uint8Array(1 << 20));
  assert.is(xm(S, "create", counter("din", `disk = [ 'file:${join(DIR, "allowed", "ok.img")},xvda,w' ]\n`)).status, 0);
  let r = xm(S, "migrate", "din", `127.0.0.1:${PORT}`);
  assert.is(r.status, 0, r.stderr);
  assert.match(
    JSON.stringify(JSON.parse(xm(R, "list", "-l", "din").stdout)[0].config.disks),
    /"pdev_path":"[^"]*allowed\/ok\.img","vdev":"xvda"/
  );
  assert.is(xm(R, "destroy", "din").status, 0);
  assert.is(xm(S, "create", counter("dout", `disk = [ 'file:${join(DIR, "other", "x.img")},xvda,w' ]\n`)).status, 0);
  r = xm(S, "migrate", "dout", `127.0.0.1:${PORT}`);
  assert.is(r.status, 1);
  assert.match(r.stderr, /migration of dout failed, it runs on here: .*disk xvda .* is outside XEND_DISK_ALLOW/);
  assert.match(xm(S, "list", "dout").stdout, /dout\s+\d+\s+16\s+1\s+(r-----|-b----)/);
  assert.is(nDomains(R), 0);
  assert.is(xm(S, "destroy", "dout").status, 0);
});

test("(1) xm restore: xend's own (MACed) save file restores with "
    + "its disk; stripped of the MAC or with a bad config it does " + "not", async () => {
  const { readStream, StreamWriter, REC } = await import("../host/save/stream");
  const img = join(DIR, "other", "x.img");
  assert.is(xm(S, "create", counter("rs", `disk = [ 'file:${img},xvda,w' ]\n`)).status, 0);
  const f = follow(S, "rs");
  assert.ok(await until(() => counts(f.out).length >= 2), f.out);
  const file = join(DIR, "rs.save");
  let r = xm(S, "save", "rs", file);
  assert.is(r.status, 0, r.stderr);
  await f.exited;
  const recs = readStream(readFileSync(file));
  assert.ok(recs.some((x) => x.type === REC.AUTH), "the file carries xend's MAC");
  const rewrite = (name: string, edit: (t: number, b: Uint8Array) => Uint8Array | undefined) => {
    const w = new StreamWriter();
    for (const x of recs) { const b = edit(x.type, x.body); if (b) w.record(x.type, b, x.flags); }
    const p = join(DIR, name);
    writeFileSync(p, w.bytes());
    return p;
  };
  // Without the MAC: from anywhere, and S has no XEND_DISK_ALLOW: its disk is not opened.
  const bare = rewrite("bare.save", (t, b) => (t === REC.AUTH ? undefined : b));
  r = xm(S, "restore", bare);
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /disk xvda .* is refused: the stream is not vouched for by this host's secret and XEND_DISK_ALLOW is not set/
  );
  // A config the validator refuses (MAC removed too: a forger has no secret).
  const tsEdit = (f2: (c: Record<string, unknown>) => void) => (t: number, b: Uint8Array) => {
    if (t === REC.AUTH) return undefined;
    if (t !== REC.TOOLSTACK) return b;
    const ts = JSON.parse(new TextDecoder().decode(b));
    f2(ts.config);
    return new TextEncoder().encode(JSON.stringify(ts));
  };
  r = xm(S, "restore", rewrite("badcfg.save", tsEdit((c) => { c.disks = []; c.vcpus = 99; })));
  assert.match(r.stderr, /its domain config is refused: .*vcpus: must be between 1 and 32/);
  const domEdit = (f2: (info: Record<string, unknown>) => void) => (t: number, b: Uint8Array) => {
    if (t === REC.AUTH) return undefined;
    if (t !== REC.DOMAIN) return b;
    const jl = Buffer.from(b).readUInt32LE(0);
    const info = JSON.parse(new TextDecoder().decode(b.subarray(4, 4 + jl)));
    f2(info);
    const j = new TextEncoder().encode(JSON.stringify(info));
    const out = new Uint8Array(4 + j.length + b.length - 4 - jl);
    new DataView(out.buffer).setUint32(0, j.length, true);
    out.set(j, 4); out.set(b.subarray(4 + jl), 4 + j.length);
    return out;
  };
  r = xm(
    S, "restore", rewrite("badnodes.save", domEdit((i) => { (i.nodes as unknown[]).push(["data/../../0/x", "v"]); }))
  );
  assert.match(r.stderr, /bad DOMAIN record \(node "data\/\.\.\/\.\.\/0\/x"\)/);
  r = xm(S, "restore", rewrite("badtime.save", domEdit((i) => { i.time = "soon"; })));
  assert.match(r.stderr, /bad DOMAIN record \(time\)/);
  r = xm(S, "restore", rewrite("badkernel.save", tsEdit((c) => { c.disks = []; c.kernel = "/etc/shadow"; })));
  assert.is(r.status, 0, "a kernel path it was not given is dropped, not read");
  const fk = follow(S, "rs");
  assert.ok(await until(() => fk.out.includes("kernel /etc/shadow dropped")), fk.out);
  assert.equal(JSON.parse(xm(S, "list", "-l", "rs").stdout)[0].config.disks, []);
  fk.c.stdin.write("\x1d");
  await fk.exited;
  assert.is(xm(S, "destroy", "rs").status, 0);
  // R's allow-list does not cover the disk: even xend's own file is refused there.
  r = xm(R, "restore", file);
  assert.is(r.status, 1);
  assert.match(r.stderr, /is outside XEND_DISK_ALLOW/);
  // And on S, its own file restores with the disk.
  r = xm(S, "restore", file);
  assert.is(r.status, 0, r.stderr);
  assert.match(
    JSON.stringify(JSON.parse(xm(S, "list", "-l", "rs").stdout)[0].config.disks),
    /"pdev_path":"[^"]*other\/x\.img","vdev":"xvda"/
  );
  assert.is(xm(S, "destroy", "rs").status, 0);
  unlinkSync(bare);
});

test("(1) before it authenticates, a peer may send one record of at most 1 MiB", async () => {
  const { connect } = await import("node:net");
  const { streamHeader } = await import("../host/save/stream");
  const sock = connect(PORT, "127.0.0.1");
  let got = Buffer.alloc(0);
  sock.on("data", (b) => { got = Buffer.concat([got, b]); });
  sock.on("error", () => {});
  await new Promise((res) => sock.once("connect", res));
  const hdr = Buffer.alloc(12);
  hdr.writeUInt32LE(17, 0); hdr.writeUInt32LE(1, 4); hdr.writeUInt32LE(2 << 20, 8); // a 2 MiB HELLO
  sock.write(Buffer.concat([Buffer.from(streamHeader()), hdr]));
  const closed =
    await new Promise<boolean>((res) => { sock.once("close", () => res(true)); setTimeout(() => res(false), 20000); });
  assert.ok(closed, "the receiver hung up on it");
  assert.ok(!got.includes(Buffer.from("ACCEPT")) && got.length < 200, "and sent nothing but its header and challenge");
  assert.is(nDomains(R), 0);
});

test("xend refuses a socket directory that another user made", async () => {
  if (uid !== 0) { console.log("  (skipped: needs root to make a directory of another user's)"); return; }
  const U = mkdtempSync("/tmp/xwtrust-");
  chownSync(U, 65534, 65534);
  try {
    const env = xendEnv("x", { XEND_SOCKET: join(U, "xend.sock") });
    const r = spawnSync(process.execPath, ["bin/xend.js", "run"], { env, encoding: "utf8", timeout: 20000 });
    assert.is(r.status, 1);
    assert.match(r.stderr, /is not a directory of ours \(uid 0\): refusing to put xend's socket there/);
    assert.not.ok(existsSync(join(U, "xend.sock")));
  } finally { rmSync(U, { recursive: true, force: true }); }
});

// ---- item 5 ----
test("(5) xm save: a symlink planted at FILE.part is not followed; FILE is a new 0600 file", async () => {
  const { lstatSync } = await import("node:fs");
  assert.is(xm(S, "create", counter("pt")).status, 0);
  const f = follow(S, "pt");
  assert.ok(await until(() => counts(f.out).length >= 2), f.out);
  const victim = join(DIR, "victim.txt");
  writeFileSync(victim, "not a save file\n");
  const file = join(DIR, "pt.save");
  symlinkSync(victim, `${file}.part`);
  const r = xm(S, "save", "pt", file);
  assert.is(r.status, 0, r.stderr);
  await f.exited;
  assert.is(readFileSync(victim, "utf8"), "not a save file\n", "the symlink's target is untouched");
  assert.ok(lstatSync(file).isFile(), "FILE is a regular file, not the planted link");
  assert.is(lstatSync(file).mode & 0o777, 0o600);
  assert.not.ok(existsSync(`${file}.part`));
  assert.is(xm(S, "restore", file).status, 0);
  assert.is(xm(S, "destroy", "pt").status, 0);
});

// ---- item 7 ----
test(
  "(7) a receiver that stops reading (and keeps the connection): the send times out, the domain runs on", async () => {
  const { createServer } = await import("node:net");
  const { RecordConn } = await import("../host/migrate/conn");
  const { REC } = await import("../host/save/stream");
  const socks: import("node:net").Socket[] = [];
  const srv = createServer(async (sock) => {
    socks.push(sock);
    const c = new RecordConn(sock);
    await c.send(REC.CHALLENGE, new Uint8Array(32));
    await c.expect(REC.HELLO);
    await c.send(REC.ACCEPT);
    sock.pause(); // takes nothing more, closes nothing
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    assert.is(xm(S, "create", counter("st")).status, 0);
    const f = follow(S, "st");
    assert.ok(await until(() => counts(f.out).length >= 2), f.out);
    const r = await xmAsync(S, "migrate", "st", `127.0.0.1:${port}`).done; // XEND_MIGRATE_SEND_TIMEOUT_MS=2000 on S
    assert.is(r.status, 1, "xm migrate returns");
    assert.match(
      r.stderr, /migration of st failed, it runs on here: the other side took nothing for 2 s \(timed out\)/, r.stderr
    );
    assert.ok(await until(() => f.out.includes("resumed (1)")), f.out);
    const n0 = counts(f.out).length;
    assert.ok(await until(() => counts(f.out).length >= n0 + 2), f.out);
    f.c.stdin.write("\x1d");
    await f.exited;
    assert.is(xm(S, "destroy", "st").status, 0);
  } finally { for (const s2 of socks) s2.destroy(); srv.close(); }
});

test.run();
