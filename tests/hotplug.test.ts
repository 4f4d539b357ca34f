// Hot-plugging through xend, as Xen does it (xenstore): `xm block-attach/-detach/-list` and
// `xm network-attach/-detach/-list` on running domains. Debian's unmodified Linux boots with no disk
// and no NIC, loads Debian's xen-blkfront and xen-netfront modules (and ext4 for the ext2 image), and
// its /init notices a disk appear (mounts it, reads a file, writes one), then go away, then a NIC
// appear and go away. Our small guests check the errors, save/restore and reboot with hot-plugged
// devices, and a detach the guest never answers.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, rmSync, chmodSync, chownSync, copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { linuxKernel, linuxModule, busyboxInitramfs } from "./lib/linux";
import { skip } from "./lib/skip";
import { Xend } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "hotplug");
const TIMEOUTS = { XEND_SUSPEND_TIMEOUT_MS: "5000", XEND_DETACH_TIMEOUT_MS: "2000" };
let X: Xend | undefined;

const xm = (...args: string[]) => X!.xm(...args);
/** An xm command that must succeed. */
function ok(...args: string[]): string {
  const r = xm(...args);
  assert.is(r.status, 0, `xm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
/** An xm command that must fail with one line on stderr matching `re` (and nothing on stdout). */
function fails(re: RegExp, ...args: string[]): void {
  const r = xm(...args);
  assert.is(r.status, 1, `xm ${args.join(" ")} should fail: ${r.stdout}`);
  assert.is(r.stderr.split("\n").length, 2, r.stderr);
  assert.match(r.stderr, re);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cfg = (name: string, body: string) => { const f = join(DIR, `${name}.cfg`); writeFileSync(f, body); return f; };
const domid = (name: string) => Number(new RegExp(`^${name}\\s+(\\d+)`, "m").exec(xm("list").stdout)?.[1] ?? -1);

/** One xs_wire request to xenstored's tools socket: [type, body] of the reply. */
function xs(type: number, path: string): Promise<[number, string]> {
  return new Promise((res, rej) => {
    const s = connect(join(DIR, "run", "xenstored.sock"));
    const body = Buffer.from(path + "\0");
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(type, 0); hdr.writeUInt32LE(1, 4); hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(body.length, 12);
    s.on("connect", () => s.write(Buffer.concat([hdr, body])));
    let got = Buffer.alloc(0);
    s.on("data", (b) => {
      got = Buffer.concat([got, b]);
      if (got.length >= 16 && got.length >= 16 + got.readUInt32LE(12)) {
        s.end(); res([got.readUInt32LE(0), got.subarray(16, 16 + got.readUInt32LE(12)).toString().replace(/\0$/, "")]);
      }
    });
    s.on("error", rej);
  });
}
const XS_DIRECTORY = 1, XS_READ = 2, XS_ERROR = 16;
const xsRead = async (p: string) => { const [t, b] = await xs(XS_READ, p); return t === XS_ERROR ? undefined : b; };
const xsDir = async (p: string) => {
  const [t, b] = await xs(XS_DIRECTORY, p); return t === XS_ERROR ? undefined : b.split("\0").filter(Boolean);
};

/** Domain-0's event channels in use (the hypervisor's 'e' debug key, read back from xm dmesg). */
function dom0Ports(): number {
  ok("debug-keys", "e");
  const log = ok("dmesg");
  const m = /Event channel information for domain 0:\n((?:\(XEN\) +port .*\n)*)/.exec(
    log.slice(log.lastIndexOf("dumping event-channel info"))
  );
  return m ? m[1].split("\n").filter(Boolean).length : 0;
}

/** A console attached with `xm console`: what it printed so far, and waiting for a line. */
function console_(dom: string) {
  const c = spawn(process.execPath, ["bin/xm.js", "console", dom], { env: X!.env, stdio: ["pipe", "pipe", "pipe"] });
  const o = {
    out: "", c,
    async wait(s: string | RegExp, ms = 60000): Promise<boolean> {
      const has = () => (typeof s === "string" ? o.out.includes(s) : s.test(o.out));
      for (let t = 0; t < ms && !has(); t += 50) await sleep(50);
      return has();
    },
    close() { c.stdin.write("\x1d"); return new Promise((r) => c.on("exit", r)); },
  };
  c.stdout.on("data", (b) => { o.out += b.toString(); });
  return o;
}

test.before(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  X = await Xend.start({ socket: join(DIR, "run", "xend.sock"), memoryMiB: 1024, relocation: 18150, env: TIMEOUTS });
});
test.after(() => X?.stop());

/** An ext2 image with /hello.txt (and `big` as /big.bin). */
function ext2(name: string, text: string, big?: Uint8Array): string {
  const root = join(DIR, `${name}-root`);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "hello.txt"), text);
  if (big) writeFileSync(join(root, "big.bin"), big);
  const img = join(DIR, `${name}.img`);
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext2", "-d", root, img, "4M"], { stdio: "ignore" });
  return img;
}

test("Debian's Linux: a disk and a NIC hot-plugged into it and out again (xm block-/network-attach/-detach/-list)",
  async () => {
  const mods = [
    "lib/crc16.ko", "crypto/crc32c_generic.ko", "fs/mbcache.ko", "fs/jbd2/jbd2.ko", "fs/ext4/ext4.ko",
    "drivers/block/xen-blkfront.ko", "drivers/net/xen-netfront.ko"
  ];
  const initrd = busyboxInitramfs(join(DIR, "linux"), [
    "mount -t sysfs sys /sys",
    "mount -t devtmpfs dev /dev",
    ...mods.map((m) => `insmod /lib/modules/${m.split("/").pop()} || echo "hp: insmod ${m} failed"`),
    'echo "hp: no disk: $(ls /sys/block | grep -c xvd), no nic: $(ls /sys/class/net | grep -c eth)"',
    "while [ ! -e /sys/block/xvdb ]; do sleep 0.3; done",
    'echo "hp: xvdb appeared, $(cat /sys/block/xvdb/size) sectors"',
    "mkdir -p /mnt",
    "mount -t ext2 /dev/xvdb /mnt && cat /mnt/hello.txt",
    // 1 MiB read and written in large requests (with indirect descriptors, more than 11 segments each).
    'echo "hp: max_segments $(cat /sys/block/xvdb/queue/max_segments), big $(md5sum /mnt/big.bin | cut -d" " -f1)"',
    "cp /mnt/big.bin /mnt/copy.bin && sync",
    'echo "written by Linux" > /mnt/guest.txt',
    'umount /mnt && echo "hp: unmounted"',
    "while [ -e /sys/block/xvdb ]; do sleep 0.3; done",
    'echo "hp: xvdb gone, $(grep -c xvd /proc/partitions) in /proc/partitions"',
    "while [ ! -e /sys/class/net/eth0 ]; do sleep 0.3; done",
    'echo "hp: eth0 appeared, address $(cat /sys/class/net/eth0/address)"',
    'ip link set eth0 up && echo "hp: eth0 up"',
    "while [ -e /sys/class/net/eth0 ]; do sleep 0.3; done",
    'echo "hp: eth0 gone, $(ls /sys/class/net | grep -c eth) left"',
    "while true; do sleep 1; done",
  ], mods.map((m) => [`lib/modules/${m.split("/").pop()}`, linuxModule(m)]));
  const big = randomBytes(1 << 20);
  const img = ext2("lx", "hello from the hot-plugged disk\n", big);
  ok(
    "create", cfg(
      "lx",
      `name = "lx"\nkernel = "${linuxKernel()}"\nramdisk = "${initrd}"\nmemory = 256\nextra = "console=hvc0 quiet"\n`
    )
  );
  const id = domid("lx");
  const con = console_("lx");
  assert.ok(await con.wait(/hp: no disk: \d+, no nic: \d+/, 120000), con.out.slice(-3000));
  assert.match(con.out, "hp: no disk: 0, no nic: 0");
  assert.not.match(con.out, "failed");
  const ports = dom0Ports();

  // The disk: attached writable as xvdb (device 51728); the guest mounts it and reads and writes a file.
  ok("block-attach", "lx", `file:${img}`, "xvdb", "w");
  assert.ok(await con.wait("hp: unmounted", 30000), con.out.slice(-3000));
  assert.match(con.out, "hp: xvdb appeared, 8192 sectors");
  assert.match(con.out, "hello from the hot-plugged disk");
  // The backend's own count: requests that came with indirect descriptors (more than 11 segments).
  const seg = /hp: max_segments (\d+), big ([0-9a-f]+)/.exec(con.out);
  assert.ok(seg, con.out.slice(-1500));
  assert.is(seg![2], createHash("md5").update(big).digest("hex"), "the 1 MiB file read through them");
  const [disk] = JSON.parse(ok("block-list", "-l", "lx"));
  assert.ok(
    disk.indirectRequests > 0,
    `indirect requests served by the backend: ${JSON.stringify(disk)} (Linux's max_segments ${seg![1]})`
  );
  assert.ok(disk.requests >= disk.indirectRequests, JSON.stringify(disk));
  assert.match(
    ok("block-list", "lx"),
    new RegExp(`^51728 xvdb  0   ${id} +4 +\\d+ +\\d+ +/local/domain/0/backend/vbd/${id}/51728$`, "m")
  );
  assert.is(await xsRead(`/local/domain/${id}/device/vbd/51728/backend`), `/local/domain/0/backend/vbd/${id}/51728`);
  assert.ok(
    JSON.parse(ok("list", "-l", "lx"))[0].config.disks
      .some((k: { vdev: string; pdev_path: string }) => k.vdev === "xvdb" && k.pdev_path === img)
  );
  assert.is(dom0Ports(), ports + 1, "the backend's end of the ring's event channel");
  fails(/xvdb is already in use/, "block-attach", "lx", `file:${img}`, "xvdb", "r");
  // Detach: the backend goes Closing, Linux's blkfront closes, the device and its nodes go away.
  ok("block-detach", "lx", "xvdb");
  assert.ok(await con.wait("hp: xvdb gone", 10000), con.out.slice(-3000));
  assert.match(con.out, "hp: xvdb gone, 0 in /proc/partitions");
  assert.is(ok("block-list", "lx").trim().split("\n").length, 1, "only the heading");
  assert.is(await xsRead(`/local/domain/${id}/device/vbd/51728/state`), undefined);
  assert.is(await xsDir(`/local/domain/0/backend/vbd/${id}`), undefined);
  assert.not.ok(JSON.parse(ok("list", "-l", "lx"))[0].config.disks.some((k: { vdev: string }) => k.vdev === "xvdb"));
  assert.is(dom0Ports(), ports, "closed again");
  assert.is(
    execFileSync("debugfs", ["-R", "cat /guest.txt", img], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }),
    "written by Linux\n"
  );
  const copy =
    execFileSync("debugfs", ["-R", "cat /copy.bin", img], { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 4 << 20 });
  assert.is(
    createHash("md5").update(copy).digest("hex"), createHash("md5").update(big).digest("hex"),
    "the 1 MiB copy Linux wrote"
  );

  // The NIC: eth0 appears with the MAC given, then goes away.
  fails(/mac=00:16:3e:zz:02:03: not six two-digit hex octets/, "network-attach", "lx", "mac=00:16:3e:zz:02:03");
  fails(/multicast/, "network-attach", "lx", "mac=01:16:3e:01:02:03");
  ok("network-attach", "lx", "mac=00:16:3E:01:02:03");
  assert.ok(await con.wait("hp: eth0 up", 30000), con.out.slice(-3000));
  assert.match(con.out, "hp: eth0 appeared, address 00:16:3e:01:02:03");
  assert.match(
    ok("network-list", "lx"),
    new RegExp(`^0   0  00:16:3e:01:02:03      0     4 +\\d+ +\\d+/\\d+ +/local/domain/0/backend/vif/${id}/0$`, "m")
  );
  assert.equal(
    JSON.parse(ok("list", "-l", "lx"))[0].config.nics, [{ devid: 0, mac: "00:16:3e:01:02:03", bridge: "xenbr0" }]
  );
  assert.ok(dom0Ports() > ports);
  ok("network-detach", "lx", "0");
  assert.ok(await con.wait("hp: eth0 gone", 10000), con.out.slice(-3000));
  assert.match(con.out, "hp: eth0 gone, 0 left");
  assert.is(await xsDir(`/local/domain/${id}/device/vif`), undefined);
  assert.is(await xsDir(`/local/domain/0/backend/vif/${id}`), undefined);
  fails(/lx has no vif 0/, "network-detach", "lx", "0");
  assert.is(dom0Ports(), ports);
  assert.match(xm("list", "lx").stdout, /lx\s+\d+\s+256\s+1\s+(r-----|-b----)/);
  await con.close();
  ok("destroy", "lx");
});

const idle = (name: string, extra = "") =>
  cfg(name, `name = "${name}"\nkernel = "${process.cwd()}/guests/build/pv-idle-64.elf"\nmemory = 16\n${extra}`);

test("errors: one clear line, nothing changed", async () => {
  ok("create", idle("idle"));
  const id = domid("idle");
  const img = ext2("idle", "x\n");
  fails(/^xm: no such domain: nosuch$/m, "block-attach", "nosuch", `file:${img}`, "xvdb", "r");
  fails(/^xm: no such domain: nosuch$/m, "network-attach", "nosuch");
  fails(/^xm: .*nothere\.img: no such file$/m, "block-attach", "idle", `file:${join(DIR, "nothere.img")}`, "xvdb", "r");
  fails(/bad vdev "xvd1"/, "block-attach", "idle", `file:${img}`, "xvd1", "r");
  fails(/access must be r, ro, w or rw \(got "x"\)/, "block-attach", "idle", `file:${img}`, "xvdb", "x");
  const ro = join(DIR, "ro.img");
  writeFileSync(ro, new Uint8Array(65536));
  chmodSync(ro, 0o444);
  fails(/idle has no disk xvdc/, "block-detach", "idle", "xvdc");
  fails(/idle has no vif 3/, "network-detach", "idle", "3");
  fails(/unsupported argument "ip=10\.0\.0\.1"/, "network-attach", "idle", "ip=10.0.0.1");
  fails(/no bridge "xenbr7"/, "network-attach", "idle", "bridge=xenbr7");
  // Nothing of the above left anything behind.
  assert.equal(await xsDir(`/local/domain/${id}/device`), ["suspend"]);
  assert.is(ok("block-list", "idle").trim().split("\n").length, 1);
  // A guest with no blkfront: the disk waits in InitWait; in use twice; a writable image is one domain's.
  ok("block-attach", "idle", `file:${img}`, "xvdb", "w");
  assert.match(ok("block-list", "idle"), /^51728 xvdb  0 +\d+ +2 +-1 +-1/m);
  fails(/51728 is already in use in domain \d+ \(xvdb: /, "block-attach", "idle", `file:${ro}`, "51728", "r");
  ok("create", idle("idle2"));
  fails(
    /idle\.img is already attached writable to domain \d+ as xvdb/, "block-attach", "idle2", `file:${img}`, "xvda", "r"
  );
  ok("network-attach", "idle", "mac=00:16:3e:0a:0b:0c");
  fails(/already used by another interface/, "network-attach", "idle2", "mac=00:16:3e:0a:0b:0c");
  ok("network-attach", "idle");
  const rows = ok("network-list", "idle");
  assert.match(rows, /^0   0  00:16:3e:0a:0b:0c +0 +2 /m);
  assert.match(rows, /^1   0  00:16:3e:[0-7][0-9a-f](:[0-9a-f]{2}){2} +1 +2 /m);
  // No frontend ever connected: the detach does not wait.
  ok("block-detach", "idle", "51728");
  ok("network-detach", "idle", "00:16:3e:0a:0b:0c");
  assert.match(ok("network-list", "idle"), /^1   0 /m);
  assert.equal(await xsDir(`/local/domain/${id}/device`), ["suspend", "vif"]);
  assert.equal(await xsDir(`/local/domain/${id}/device/vif`), ["1"]);
  ok("block-attach", "idle2", `file:${img}`, "xvda", "r");
  ok("destroy", "idle");
  ok("destroy", "idle2");
});

const RO_TEST = "a disk image its user cannot write is refused for w and accepted for r (as nobody when run as root)";
test(RO_TEST, async () => {
  const ro = join(DIR, "ro2.img");
  writeFileSync(ro, new Uint8Array(65536));
  chmodSync(ro, 0o444);
  if (process.getuid?.() !== 0) {
    ok("create", idle("idlero"));
    fails(/ro2\.img: not writable/, "block-attach", "idlero", `file:${ro}`, "xvdb", "w");
    ok("block-attach", "idlero", `file:${ro}`, "xvdb", "r");
    ok("destroy", "idlero");
    return;
  }
  // Root writes any file: the check runs in an xend (and xm) of the unprivileged user nobody.
  const NOBODY = 65534;
  const dir = mkdtempSync(join(tmpdir(), "xenwasm-hp-nobody-"));
  chownSync(dir, NOBODY, NOBODY);
  let d: Xend | undefined;
  try {
    // Can nobody run node here and read the checkout (a clone under a 0700 home cannot be)?
    const need = [
      "bin/xm.js", "bin/xend.js", "dist/host/cli/xm.js", "dist/host/cli/xend.js", "build/xenwasm.wasm", ro
    ].map((f) => resolve(f));
    const pre = spawnSync(
      process.execPath,
      ["-e", `for (const f of ${JSON.stringify(need)}) require("fs").accessSync(f, require("fs").constants.R_OK)`],
      { encoding: "utf8", uid: NOBODY, gid: NOBODY }
    );
    if (pre.error || pre.status !== 0) return skip(
      RO_TEST, `uid ${NOBODY} cannot run node or read the checkout here: `
        + `${pre.error?.message ?? pre.stderr.trim().split("\n").find((l) => /Error/.test(l))}`
    );
    d = await Xend.start({
      socket: join(dir, "run", "xend.sock"), memoryMiB: 64, relocation: "none", env: { ...TIMEOUTS, HOME: dir },
      uid: NOBODY, gid: NOBODY,
    });
    const nxm = d.xm.bind(d);
    const kernel = join(dir, "idle.elf");
    copyFileSync("guests/build/pv-idle-64.elf", kernel);
    const c = join(dir, "idlero.cfg");
    writeFileSync(c, `name = "idlero"\nkernel = "${kernel}"\nmemory = 16\n`);
    chownSync(kernel, NOBODY, NOBODY); chownSync(c, NOBODY, NOBODY);
    let r = nxm("create", c);
    assert.is(r.status, 0, r.stderr);
    r = nxm("block-attach", "idlero", `file:${ro}`, "xvdb", "w");
    assert.is(r.status, 1, r.stdout);
    assert.is(r.stderr.split("\n").length, 2, r.stderr);
    assert.match(r.stderr, /ro2\.img: not writable/);
    r = nxm("block-attach", "idlero", `file:${ro}`, "xvdb", "r");
    assert.is(r.status, 0, r.stderr);
    assert.match(nxm("block-list", "idlero").stdout, /^51728 xvdb/m);
  } finally {
    d?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a frontend that never lets go: the detach times out and the disk stays; -f removes it", async () => {
  ok("create", idle("idle3"));
  const id = domid("idle3");
  const img = ext2("idle3", "x\n");
  ok("block-attach", "idle3", `file:${img}`, "xvdb", "r");
  // Play a frontend that connected and then ignores Closing (dom0 may write the guest's nodes).
  const fe = `/local/domain/${id}/device/vbd/51728/state`;
  const w = await new Promise<number>((res, rej) => {
    const s = connect(join(DIR, "run", "xenstored.sock"));
    const body = Buffer.from(`${fe}\0` + "4");
    const hdr = Buffer.alloc(16);
    // XS_WRITE
    hdr.writeUInt32LE(11, 0); hdr.writeUInt32LE(1, 4); hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(body.length, 12);
    s.on("connect", () => s.write(Buffer.concat([hdr, body])));
    s.on("data", (b) => { s.end(); res(b.readUInt32LE(0)); });
    s.on("error", rej);
  });
  assert.is(w, 11);
  const t0 = Date.now();
  fails(
    /idle3 did not release disk xvdb within 2 s; it stays attached \(-f removes it anyway\)/, "block-detach", "idle3",
    "xvdb"
  );
  assert.ok(Date.now() - t0 >= 2000);
  assert.match(ok("block-list", "idle3"), /^51728 xvdb/m);
  assert.is(await xsRead(`/local/domain/0/backend/vbd/${id}/51728/online`), "1");
  ok("block-detach", "idle3", "xvdb", "-f");
  assert.is(ok("block-list", "idle3").trim().split("\n").length, 1);
  assert.equal(await xsDir(`/local/domain/${id}/device`), ["suspend"]);
  ok("destroy", "idle3");
});

test("hot-plugged devices are in the config: save/restore and reboot keep them (devid and MAC)", async () => {
  const img = ext2("cnt", "x\n");
  ok(
    "create", cfg(
      "cnt", `name = "cnt"\nkernel = ` + `"${process.cwd()}/guests/build/pv-counter-64.elf"\nmemory = `
        + `16\nextra = "steps=100000 every=3000000"\nvif = [ ` + `'mac=00:16:3e:00:00:01' ]\n`
    )
  );
  ok("block-attach", "cnt", `file:${img}`, "xvdc", "r");
  ok("network-attach", "cnt", "mac=00:16:3e:00:00:02");
  ok("network-detach", "cnt", "0", "-f");
  const before = ok("network-list", "cnt");
  assert.match(before, /^1   0  00:16:3e:00:00:02 /m);
  const con = console_("cnt");
  assert.ok(await con.wait(/count 2\b/, 20000), con.out);
  await con.close();
  const file = join(DIR, "cnt.save");
  ok("save", "cnt", file);
  ok("restore", file);
  const id = domid("cnt");
  assert.match(ok("block-list", "cnt"), new RegExp(`^51744 xvdc  0   ${id} `, "m"));
  assert.match(ok("network-list", "cnt"), /^1   0  00:16:3e:00:00:02 +1 /m);
  assert.is(ok("network-list", "cnt").trim().split("\n").length, 2, "vif 0 stays detached");
  assert.is(await xsRead(`/local/domain/${id}/device/vif/1/mac`), "00:16:3e:00:00:02");
  assert.is(await xsRead(`/local/domain/${id}/device/vbd/51744/backend`), `/local/domain/0/backend/vbd/${id}/51744`);
  ok("destroy", "cnt");
  // Reboot (on_poweroff = restart: the counter powers off after 20 lines): the new domain has them too.
  // Created paused, so that it cannot power off (and be between two lives) before both are attached.
  ok(
    "create", "-p", cfg(
      "cnt2", `name = "cnt2"\nkernel = ` + `"${process.cwd()}/guests/build/pv-counter-64.elf"\nmemory = `
        + `16\nextra = "steps=20 every=2000000"\non_poweroff = ` + `"restart"\n`
    )
  );
  ok("block-attach", "cnt2", `file:${img}`, "xvdb", "r");
  ok("network-attach", "cnt2", "mac=00:16:3e:00:00:03");
  ok("unpause", "cnt2");
  const uptime = () => (JSON.parse(xm("list", "-l", "cnt2").stdout || "[{}]")[0].xenwasm?.uptime ?? Infinity) as number;
  let last = uptime(), restarted = false;
  for (let i = 0; i < 300 && !restarted; i++) { await sleep(100); const u = uptime(); restarted = u < last; last = u; }
  assert.ok(restarted, "restarted");
  // It reboots again and again (a new id each time): every request names one domain throughout, also one
  // that lands between two lives (the old domain gone, the new one's kernel being read): xend answers it
  // for the new domain instead of "no such domain".
  const ids = new Set<string>();
  // (Two restarts seen are enough: xend stops a domain after 10 restarts in a row each within a minute.)
  for (let i = 0; i < 60 && ids.size < 3; i++) {
    const m = ok("block-list", "cnt2").match(/^51728 xvdb  0   (\d+) .* \/local\/domain\/0\/backend\/vbd\/\1\/51728$/m);
    assert.ok(m, "the vbd after a restart");
    ids.add(m![1]);
    assert.match(ok("network-list", "cnt2"), /^0   0  00:16:3e:00:00:03 /m);
  }
  assert.ok(ids.size >= 2, `restarts while asked (ids ${[...ids]})`);
  ok("destroy", "cnt2");
  // A restart loop is stopped: a domain that powers off at once is restarted 10 times, then left gone.
  ok("create", cfg("loop", `name = "loop"\nkernel = "${process.cwd()}/guests/build/pv-counter-64.elf"\n`
    + `memory = 16\nextra = "steps=1 every=1"\non_poweroff = "restart"\n`));
  for (let i = 0; i < 600 && !/not restarted/.test(ok("dmesg")); i++) await sleep(100);
  assert.match(ok("dmesg"), /domain loop not restarted: 10 restarts in a row, each within a minute \(a loop\)/);
  assert.is(domid("loop"), -1, "gone");
  assert.is((ok("dmesg").match(/domain loop created/g) ?? []).length, 11, "created once and restarted 10 times");
});

test.run();
