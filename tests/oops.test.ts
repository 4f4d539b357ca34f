// The exact xend sequence of issue 12's Oops (Debian's Linux under xend: `copy_page_range`, CR2
// 000029ffffffffe8, on its first fork after these steps, 1 run in 5 before the fix): `xm block-attach`,
// `xm network-attach` and DHCP in the guest, `xm mem-set 128`, `xm mem-set 300`, `xm mem-max 384`,
// then forks in the guest (guests/linux/memcheck.c: every child and the parent check their
// copy-on-write memory). Two rounds of the memory steps, each followed by memcheck runs. The cause
// (XENMEM_machphys_mapping's max_mfn) and the long balloon stress are in tests/balloon.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { linuxKernel, linuxModule, busyboxInitramfs } from "./lib/linux";
import { Xend } from "./lib/xmcli";

const DIR = join(process.cwd(), "tests", "build", "oops");
let X: Xend | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const xm = (...args: string[]) => X!.xm(...args);
function ok(...args: string[]): string {
  const r = xm(...args);
  assert.is(r.status, 0, `xm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
/** The domain's memory in MiB as `xm list` shows it. */
const listed = (name: string) => Number(new RegExp(`^${name}\\s+\\d+\\s+(\\d+)`, "m").exec(ok("list"))?.[1] ?? -1);
const BAD = /memcheck: BAD|memcheck failed|Oops|BUG:|general protection|Kernel panic|segfault|Bad page/;

test.before(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  X = await Xend.start({ socket: join(DIR, "run", "xend.sock"), memoryMiB: 640, relocation: 18160 });
});
test.after(() => X?.stop());

test("issue 12's Oops sequence under xend: block-attach, " + "network-attach + DHCP, mem-set 128, mem-set 300, mem-max "
    + "384, forks (two rounds)", async () => {
  const mods = ["drivers/block/xen-blkfront.ko", "drivers/net/xen-netfront.ko"];
  const dhcp = [
    "#!/bin/sh", 'if [ "$1" = bound ]; then', "  ifconfig $interface $ip netmask $subnet up", '  echo "oops: dhcp $ip"',
    "fi"
  ].join("\n") + "\n";
  const script = join(DIR, "udhcpc.sh");
  writeFileSync(script, dhcp, { mode: 0o755 });
  const initrd = busyboxInitramfs(join(DIR, "linux"), [
    "mount -t sysfs sys /sys",
    "mount -t devtmpfs dev /dev",
    ...mods.map((m) => `insmod /lib/modules/${m.split("/").pop()} || echo "oops: insmod ${m} failed"`),
    'echo "oops: up"',
    "while [ ! -e /sys/block/xvdb ]; do sleep 0.2; done",
    'echo "oops: disk $(dd if=/dev/xvdb bs=64k 2>/dev/null | md5sum | cut -d" " -f1)"',
    "while [ ! -e /sys/class/net/eth0 ]; do sleep 0.2; done",
    "ifconfig lo 127.0.0.1 up; ifconfig eth0 up && echo 'oops: eth0 up'",
    "udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 1 2>&1 | grep -v '^udhcpc' ; echo 'oops: dhcp ended'",
    // Each round: the host makes the memory steps, then tells us through the disk's first sector (read
    // past the page cache: dropped before each look).
    "r=0",
    "while true; do",
    "  while echo 1 > /proc/sys/vm/drop_caches; [ \"$(dd "
      + "if=/dev/xvdb bs=512 count=1 2>/dev/null | head -c 6)\" != " + "\"round$((r+1))\" ]; do sleep 0.2; done",
    "  r=$((r+1))",
    '  echo "oops: round $r MemTotal $(grep MemTotal /proc/meminfo | tr -s " " | cut -d" " -f2)"',
    "  for k in 1 2; do /memcheck 8 3 || echo \"oops: memcheck failed $r.$k\"; done",
    '  echo "oops: forks done $r"',
    "done",
  ], [...mods.map((m): [string, string] => [`lib/modules/${m.split("/").pop()}`, linuxModule(m)]),
    ["memcheck", join(process.cwd(), "guests", "build", "memcheck")], ["etc/udhcpc.sh", script]]);
  const img = join(DIR, "disk.img");
  const disk = randomBytes(1 << 20);
  disk.fill(0, 0, 512);
  writeFileSync(img, disk);
  const cfg = join(DIR, "lx.cfg");
  writeFileSync(
    cfg, `name = "lx"\nkernel = "${linuxKernel()}"\nramdisk = ` + `"${initrd}"\nmemory = 256\nmaxmem = 384\nextra = `
      + `"console=hvc0 quiet"\n`
  );
  ok("create", cfg);
  const con = spawn(process.execPath, ["bin/xm.js", "console", "lx"], { env: X!.env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  con.stdout.on("data", (b) => { out += b.toString(); });
  const wait = async (s: string | RegExp, ms = 120000) => {
    const has = () => (typeof s === "string" ? out.includes(s) : s.test(out));
    for (let t = 0; t < ms && !has() && !BAD.test(out); t += 50) await sleep(50);
    assert.ok(has(), `waiting for ${s}: ${out.slice(-3000)}`);
  };
  /** Wait until `xm list` shows the domain at `mib` (the balloon driver's slack: 16 MiB) or it stops moving.
   * One `xm list` (a Node process, spawned and waited for) every 500 ms: at two per 200 ms, the polling took
   * CPU from the xend and the guest it was waiting for (the machine has two cores). */
  const reach = async (mib: number) => {
    let last = listed("lx"), still = Date.now();
    for (const t0 = Date.now(); ; await sleep(500)) {
      const m = listed("lx");
      if (m !== last) { last = m; still = Date.now(); }
      if (Math.abs(m - mib) <= 16 || Date.now() - still >= 5000 || Date.now() - t0 >= 60000 || BAD.test(out)) return m;
    }
  };
  // How long each phase took, printed at the end (information: nothing is asserted about it).
  const phases: string[] = [];
  let tp = Date.now();
  const phase = (what: string) => {
    phases.push(`${what} ${((Date.now() - tp) / 1000).toFixed(1)} s`);
    tp = Date.now();
  };
  try {
    await wait("oops: up", 120000);
    phase("boot");
    assert.not.match(out, "insmod", out.slice(-2000));
    ok("block-attach", "lx", `file:${img}`, "xvdb", "w");
    await wait(/oops: disk [0-9a-f]{32}/);
    phase("block-attach");
    assert.match(out, `oops: disk ${createHash("md5").update(disk).digest("hex")}`);
    ok("network-attach", "lx");
    await wait("oops: dhcp ended");
    phase("network-attach + DHCP");
    assert.match(out, /oops: dhcp 10\.0\.2\.\d+/, out.slice(-2000));
    const seen: number[] = [];
    for (let round = 1; round <= 2; round++) {
      ok("mem-set", "lx", "128");
      seen.push(await reach(128));
      phase(`round ${round} mem-set 128`);
      ok("mem-set", "lx", "300");
      seen.push(await reach(300));
      phase(`round ${round} mem-set 300`);
      ok("mem-max", "lx", "384");
      // The forks start now (the guest waits for this sector).
      execFileSync(
        "dd", [`of=${img}`, "bs=512", "count=1", "conv=notrunc"],
        { input: Buffer.from(`round${round}`.padEnd(512, "\0")), stdio: ["pipe", "ignore", "ignore"] }
      );
      await wait(`oops: forks done ${round}`, 120000);
      phase(`round ${round} forks`);
    }
    assert.equal(out.split("\n").filter((l) => BAD.test(l)), [], out.slice(-4000));
    // 128 then 300 MiB each round (within the driver's slack), and the guest saw the memory come back.
    seen.forEach(
      (m, i) => assert.ok(Math.abs(m - (i % 2 === 0 ? 128 : 300)) <= 16, `step ${i}: ${m} MiB (${seen.join(", ")})`)
    );
    assert.match(out, /oops: round 2 MemTotal \d+/);
    assert.ok(/lx\s+\d+\s+\d+\s+1\s+(r-----|-b----)/.test(ok("list")), "still running");
    console.log(`  memory steps (MiB): ${seen.join(", ")}; phases: ${phases.join(", ")}`);
  } finally {
    con.stdin.write("\x1d");
    xm("destroy", "lx");
  }
});

test.run();
