// The toolstack end to end: xend (one daemon per host, a 0600 unix socket) and xm commands; PVGRUB2
// under `xm create -c`, typed at through the attached console.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, statSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { debFile } from "./lib/debian";
import { Xend } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "xend");
const SOCK = join(DIR, "run", "xend.sock");
let X: Xend | undefined;
let env: NodeJS.ProcessEnv;

const xm = (...args: string[]) => X!.xm(...args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  X = await Xend.start({ socket: SOCK, memoryMiB: 1024, env: { XEND_SUSPEND_TIMEOUT_MS: "3000" } });
  env = X.env;
});
test.after(() => X?.stop());

const cfg = (name: string, body: string) => { const f = join(DIR, `${name}.cfg`); writeFileSync(f, body); return f; };

test("xend listens on a 0600 socket in a 0700 directory; xend status", () => {
  assert.is(statSync(SOCK).mode & 0o777, 0o600);
  assert.is(statSync(join(DIR, "run")).mode & 0o777, 0o700);
  assert.match(X!.xend("status").stdout, "xend is running");
});

test("xm create / list / pause / unpause / mem-set / sched-credit / vcpu-list / vcpu-set / destroy", async () => {
  const f = cfg(
    "idle", `# an idle guest\nname = "idle1"\nkernel = ` + `"${process.cwd()}/guests/build/pv-idle-64.elf"\nmemory = `
      + `16\nmaxmem = 32\n`
  );
  let r = xm("create", f);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, "Started domain idle1");
  await sleep(300);
  r = xm("list");
  assert.match(r.stdout, /Domain-0\s+0/);
  assert.match(r.stdout, /idle1\s+\d+\s+16\s+1\s+-b----/);
  assert.is(xm("pause", "idle1").status, 0);
  assert.match(xm("list", "idle1").stdout, /--p---/);
  assert.is(xm("unpause", "idle1").status, 0);
  assert.is(xm("mem-set", "idle1", "24").status, 0);
  assert.match(xm("mem-set", "idle1", "64").stderr, /above idle1's maximum/);
  assert.is(xm("sched-credit", "-d", "idle1", "-w", "512", "-c", "20").status, 0);
  assert.match(xm("sched-credit").stdout, /idle1\s+\d+\s+512\s+20/);
  assert.match(xm("sched-credit", "-d", "idle1", "-w", "0").stderr, /weight must be 1..65535/);
  assert.match(xm("vcpu-list", "idle1").stdout, /idle1\s+\d+\s+0 -b/);
  assert.is(xm("vcpu-set", "idle1", "1").status, 0);
  assert.match(xm("vcpu-set", "idle1", "2").stderr, /idle1 has 1 vCPU: the count must be 1 to 1/);
  assert.match(xm("vcpu-set", "idle1", "0").stderr, /the count must be 1 to 1/);
  assert.match(xm("vcpu-set", "idle1", "two").stderr, /bad vCPU count two/);
  // maxvcpus: the domain has 2 vCPUs, 1 available at start; vcpu-set may go up to 2.
  const f2 = cfg("idle2", `name = "idle2"\nkernel = "${process.cwd()}/guests/build/pv-idle-64.elf"\nmemory = 16\n`
    + `vcpus = 1\nmaxvcpus = 2\n`);
  assert.is(xm("create", f2).status, 0);
  assert.match(xm("vcpu-list", "idle2").stdout, /idle2\s+\d+\s+1 --p/);
  // xm list's VCPUs: the vCPUs up, as xl's (vCPU 1 was never brought up by the guest)
  assert.match(xm("list", "idle2").stdout, /idle2\s+\d+\s+16\s+1\s/);
  const l2 = JSON.parse(xm("list", "-l", "idle2").stdout)[0].config.b_info;
  assert.equal([l2.max_vcpus, l2.avail_vcpus], [2, [0]]);
  assert.is(xm("vcpu-set", "idle2", "2").status, 0);
  assert.match(xm("vcpu-set", "idle2", "3").stderr, /idle2 has 2 vCPUs: the count must be 1 to 2/);
  assert.is(xm("destroy", "idle2").status, 0);
  assert.match(xm("info").stdout, /nr_domains\s+: 1/);
  r = xm("create", f);
  assert.is(r.status, 1);
  assert.match(r.stderr, /already exists/);
  assert.is(xm("destroy", "idle1").status, 0);
  assert.not.match(xm("list").stdout, /idle1/);
});

test("xm: bad configs and unknown domains give one line naming the file, line and key", () => {
  const f = cfg("bad", `name = "bad"\nkernel = "/nonexistent"\nmemory = lots\n`);
  const r = xm("create", f);
  assert.is(r.status, 1);
  assert.is(r.stderr.split("\n").length, 2, r.stderr);
  assert.match(r.stderr, /^xm: .*bad\.cfg:3: memory:/);
  const r2 = xm("destroy", "nosuch");
  assert.is(r2.status, 1);
  assert.is(r2.stderr, "xm: no such domain: nosuch\n");
});

test("PVGRUB2 under `xm create -c`: grub> prompt, ls lists the PV disk, cat reads a file", async () => {
  const bin = debFile("grub-xen-host", "usr/lib/grub-xen/grub-x86_64-xen.bin");
  mkdirSync(join(DIR, "root", "boot"), { recursive: true });
  writeFileSync(join(DIR, "root", "boot", "hello.txt"), "hello from the PV disk\n");
  const img = join(DIR, "disk.img");
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext2", "-d", join(DIR, "root"), img, "4M"], { stdio: "ignore" });
  const f = cfg(
    "grub",
    `name = "pvgrub"\nkernel = "${bin}"\nmemory = 64\ndisk = [ 'format=raw,vdev=xvda,access=ro,target=${img}' ]\n`
  );
  const c = spawn(process.execPath, ["bin/xm.js", "create", f, "-c"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  c.stdout.on("data", (b) => { out += b.toString(); });
  const waitFor = async (s: string) => {
    for (let i = 0; i < 600 && !out.includes(s); i++) await sleep(50); return out.includes(s);
  };
  assert.ok(await waitFor("grub> "), out);
  out = "";
  c.stdin.write("ls\n");
  assert.ok(await waitFor("(xen/xvda)"), out);
  await waitFor("grub> ");
  out = "";
  c.stdin.write("cat (xen/xvda)/boot/hello.txt\n");
  assert.ok(await waitFor("hello from the PV disk"), out);
  c.stdin.write("\x1d"); // Ctrl-] detaches
  const code = await new Promise((r) => c.on("exit", r));
  assert.is(code, 0);
  assert.match(xm("list").stdout, /pvgrub/);
  assert.is(xm("destroy", "pvgrub").status, 0);
});

test("xm save / xm restore: the counting guest goes on with no gap; bad files start nothing", async () => {
  const f = cfg(
    "counter", `name = "counter"\nkernel = ` + `"${process.cwd()}/guests/build/pv-counter-64.elf"\nmemory = `
      + `16\nextra = "steps=100000 every=3000000"\n`
  );
  assert.is(xm("create", f).status, 0);
  const attach = () => {
    const c = spawn(process.execPath, ["bin/xm.js", "console", "counter"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const o = { out: "", c };
    c.stdout.on("data", (b) => { o.out += b.toString(); });
    return o;
  };
  const counts = (s: string) => [...s.matchAll(/count (\d+)/g)].map((m) => Number(m[1]));
  const a = attach();
  for (let i = 0; i < 400 && counts(a.out).length < 3; i++) await sleep(50);
  // A save that cannot be written: the suspend is cancelled and the domain counts on.
  const rf = xm("save", "counter", join(DIR, "no", "such", "dir", "x.save"));
  assert.is(rf.status, 1);
  assert.match(rf.stderr, /save of counter failed, it runs on: cannot write .*x\.save: its directory does not exist/);
  const n0 = counts(a.out).length;
  for (let i = 0; i < 400 && counts(a.out).length < n0 + 2; i++) await sleep(50);
  assert.match(a.out, "resumed (1)");
  assert.match(xm("list", "counter").stdout, /counter\s+\d+\s+16\s+1\s+(r-----|-b----)/);
  const file = join(DIR, "counter.save");
  const r = xm("save", "counter", file);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Saved counter to .*counter\.save/);
  await new Promise((res) => a.c.on("exit", res)); // the console ends with the domain
  assert.not.match(xm("list").stdout, /counter/);
  assert.is(statSync(file).mode & 0o777, 0o600);
  const r2 = xm("restore", file);
  assert.is(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /Restored domain counter \(id=\d+\)/);
  const b = attach();
  for (let i = 0; i < 400 && counts(b.out).length < 3; i++) await sleep(50);
  b.c.stdin.write("\x1d");
  await new Promise((res) => b.c.on("exit", res));
  const all = [...counts(a.out), ...counts(b.out)];
  assert.ok(all.length >= 6, a.out + b.out);
  assert.equal(all, Array.from({ length: all.length }, (_, i) => i + 1), "no gap, no repeat: " + all.join(","));
  assert.match(b.out, "resumed (0)");
  const sums = [...(a.out + b.out).matchAll(/memsum ([0-9a-f]+)/g)].map((m) => m[1]);
  assert.is(sums.length, 4, "before and after the cancelled suspend and the save");
  assert.ok(sums.every((x) => x === sums[0]), sums.join(" "));
  // A second restore of the same file while the domain exists: refused by name.
  assert.match(xm("restore", file).stderr, /already exists/);
  assert.is(xm("destroy", "counter").status, 0);
  // A damaged file: a clear error, no domain.
  const { readFileSync } = await import("node:fs");
  const bad = readFileSync(file);
  bad[bad.length >> 1] ^= 1;
  writeFileSync(join(DIR, "bad.save"), bad);
  const r3 = xm("restore", join(DIR, "bad.save"));
  assert.is(r3.status, 1);
  assert.match(r3.stderr, /^xm: save file is corrupt \(checksum mismatch/);
  assert.match(xm("restore", join(DIR, "nosuch.save")).stderr, /cannot read/);
  assert.match(xm("info").stdout, /nr_domains\s+: 0/);
});

test("xm save of a guest that never answers the suspend request: a clear error, it runs on", async () => {
  const f = cfg("idle2", `name = "idle2"\nkernel = "${process.cwd()}/guests/build/pv-idle-64.elf"\nmemory = 16\n`);
  assert.is(xm("create", f).status, 0);
  const r = xm("save", "idle2", join(DIR, "idle2.save"));
  assert.is(r.status, 1);
  assert.match(r.stderr, /idle2 did not suspend within 3 s/);
  assert.match(xm("list", "idle2").stdout, /idle2\s+\d+\s+16\s+1\s+-b----/);
  assert.not.ok(existsSync(join(DIR, "idle2.save")) || existsSync(join(DIR, "idle2.save.part")));
  assert.is(xm("destroy", "idle2").status, 0);
});

test("xenstored's tools socket (0600): a dom0 client reads what the toolstack wrote", async () => {
  const { connect } = await import("node:net");
  const path = join(DIR, "run", "xenstored.sock");
  assert.is(statSync(path).mode & 0o777, 0o600);
  const reply = await new Promise<Buffer>((res, rej) => {
    const s = connect(path);
    const body = Buffer.from("/local/domain/0/name\0");
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(2, 0); hdr.writeUInt32LE(7, 4); hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(body.length, 12);
    s.on("connect", () => s.write(Buffer.concat([hdr, body])));
    let got = Buffer.alloc(0);
    s.on(
      "data", (b) => {
        got = Buffer.concat([got, b]);
        if (got.length >= 16 && got.length >= 16 + got.readUInt32LE(12)) { s.end(); res(got); }
      }
    );
    s.on("error", rej);
  });
  assert.is(reply.readUInt32LE(0), 2, "XS_READ reply");
  assert.is(reply.readUInt32LE(4), 7, "req_id echoed");
  assert.is(reply.subarray(16).toString(), "Domain-0");
});

test("xm dmesg shows the hypervisor log", () => {
  const f = cfg("dmesg1", `name = "dmesg1"\nkernel = "${process.cwd()}/guests/build/pv-idle-64.elf"\nmemory = 16\n`);
  assert.is(xm("create", f).status, 0);
  const id = Number(/^dmesg1\s+(\d+)/m.exec(xm("list").stdout)?.[1]);
  assert.ok(id > 0);
  // What the debug keys write there: the list of handlers ('h'), then every domain ('q'), this one with 16 MiB.
  assert.is(xm("debug-keys", "hq").status, 0);
  const r = xm("dmesg");
  assert.is(r.status, 0, r.stderr);
  const log = r.stdout.slice(r.stdout.lastIndexOf("(XEN) 'h' pressed"));
  assert.match(log, /^\(XEN\) 'h' pressed -> showing installed handlers$/m);
  assert.match(log, /^\(XEN\)  key 'q' \(ascii '71'\) => dump domain \(and guest debug\) info$/m);
  assert.match(log, /^\(XEN\) 'q' pressed -> dumping domain info/m);
  assert.match(
    log, new RegExp(
      `^\\(XEN\\) General information for domain ${id}:\n\\(XEN\\) ` + `+state=\\S+ pause_count=0 width=64\n\\(XEN\\) `
        + `+nr_pages=4096 `, "m"
    )
  );
  assert.is(xm("destroy", "dmesg1").status, 0);
});

test.run();
