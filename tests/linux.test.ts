// Debian's own amd64 Linux kernel (CONFIG_XEN_PV), unmodified, boots as a PV domain with an
// initramfs of Debian's busybox-static: user space runs and prints; then it is suspended through
// xenstore (control/shutdown = "suspend"), saved, destroyed and restored in another host, where its
// user space goes on counting and powers the domain off.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { randomBytes, createHash } from "node:crypto";
import { join } from "node:path";
import { XenHost } from "../host/pv/host";
import { linuxKernel, linuxModule, busyboxInitramfs } from "./lib/linux";
import { saveDomain, restoreDomain } from "../host/save/save";
import { DS_RUNNING, DS_SHUTDOWN, D_EVTCHN_FIFO, D_GNT_VERSION } from "../assembly/records";

const WORK = join(process.cwd(), "tests", "build", "linux");

function initramfs(): Uint8Array {
  return new Uint8Array(readFileSync(busyboxInitramfs(WORK, [
    'echo "xenwasm: hello from Linux user space"',
    "uname -sr",
    'echo "the answer: $((6 * 7))"',
    "grep -c processor /proc/cpuinfo",
    "dmesg | grep -i 'fifo-based'",
    "mount -t sysfs sysfs /sys 2>/dev/null; for v in spectre_v2 "
      + "indirect_target_selection mds meltdown; do echo \"vuln $v: "
      + "$(cat /sys/devices/system/cpu/vulnerabilities/$v)\"; done",
    "i=0",
    "while [ $i -lt 12 ]; do i=$((i+1)); echo \"tick $i\"; sleep 0.3; done",
    "poweroff -f",
  ])));
}

// The core's D_EVTCHN_FIFO field (assembly/domain/domain.ts) of domain `d`.
const fifoOn = (h: XenHost, d: number) => h.core.view().getUint32(h.core.x.hv_domain_addr(d) + D_EVTCHN_FIFO, true);
const ticks = (s: string) => [...s.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
let host: XenHost, out = "", domid = 0;

test("Debian's amd64 Linux boots to busybox user space", async () => {
  const kernel = linuxKernel();
  host = await XenHost.create(512);
  const dom = host.createDomain("linux", new Uint8Array(readFileSync(kernel)), {
    memoryMiB: 256, ramdisk: initramfs(), cmdline: "console=hvc0 quiet",
  });
  domid = dom.domid;
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => ticks(out).length >= 2 || host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 240000);
  assert.match(out, "xenwasm: hello from Linux user space", out.slice(-3000) + host.dmesg());
  assert.match(out, /Linux 6\.\d+/);
  assert.match(out, "the answer: 42");
  // Linux took the FIFO event channel ABI (EVTCHNOP_init_control succeeded): its log says so, and the
  // hypervisor's domain record has FIFO on.
  assert.match(out, /xen:events: Using FIFO-based ABI/, out.slice(-3000));
  assert.is(fifoOn(host, dom.domid), 1, "FIFO event channels in use");
  // The CPU's IA32_ARCH_CAPABILITIES (it does not speculate): no ITS return thunks, no MDS buffer clears, no
  // Meltdown workaround; enhanced IBRS instead of retpolines, BHI_DIS_S instead of history clearing.
  assert.match(out, /vuln spectre_v2: Mitigation: Enhanced \/ Automatic IBRS.*BHI: BHI_DIS_S/, out.slice(-3000));
  for (const v of ["indirect_target_selection", "mds", "meltdown"])
    assert.match(out, `vuln ${v}: Not affected`, out.slice(-3000));
  assert.is(host.state(dom.domid), DS_RUNNING, "running");
  // After four or more rounds of the decoded cache's arena (the boot alone fills 550-600k entries of its 131070),
  // module loading and the kernel's own code patching: every live entry is named by the index, so that a write to code
  // finds it (assembly/cpu/dcache.ts)
  assert.is(host.core.x.dcache_check(), 0, "decoded cache");
});

test("Linux suspends itself (xenstore control/shutdown), is saved, restored in a new host, counts on and powers off",
  async () => {
  host.store.write(`/local/domain/${domid}/control/shutdown`, "suspend");
  let t0 = Date.now();
  await host.runUntil(() => host.state(domid) !== DS_RUNNING || Date.now() - t0 > 60000);
  assert.is(host.state(domid), DS_SHUTDOWN, out.slice(-2000) + host.dmesg());
  assert.is(host.shutdownReason(domid), 2, "suspend");
  const stream = saveDomain(host, domid);
  const before = ticks(out);
  host.destroyDomain(domid);
  assert.is(host.core.x.hv_frames_owned(domid), 0);
  const b = await XenHost.create(512);
  const r = restoreDomain(b, stream);
  let o2 = "";
  r.onConsole = (x) => { o2 += new TextDecoder().decode(x); };
  t0 = Date.now();
  // A restored domain starts with 2-level event channels, as in Xen; Linux sets FIFO up again on resume.
  assert.is(fifoOn(b, r.domid), 0, "2-level after the restore");
  let fifoAgain = 0;
  await b.runUntil(
    () => {
      if (ticks(o2).length > 0 && !fifoAgain) fifoAgain = fifoOn(b, r.domid);
      return b.state(r.domid) !== DS_RUNNING || Date.now() - t0 > 120000;
    }
  );
  assert.is(fifoAgain, 1, "FIFO again once Linux resumed");
  const all = [...before, ...ticks(o2)];
  assert.equal(
    all, Array.from({ length: 12 }, (_, i) => i + 1), "no gap, no repeat: " + all.join(",") + o2.slice(-2000)
  );
  assert.is(b.state(r.domid), DS_SHUTDOWN, "shut down");
  assert.is(b.shutdownReason(r.domid), 0, "poweroff");
  b.destroyDomain(r.domid);
  assert.is(b.core.x.hv_frames_owned(r.domid), 0);
});

test("Linux with grant tables v2 (grant_table.version=2): its xen-blkfront reads and writes a disk through v2 entries",
  async () => {
  const dir = join(WORK, "gntv2");
  mkdirSync(dir, { recursive: true });
  const disk = randomBytes(1 << 20);
  const img = join(WORK, "..", "linux-gntv2.img"); // outside the initramfs work directory, which is rebuilt
  writeFileSync(img, disk);
  const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(dir, [
    "mount -t sysfs sys /sys",
    "mount -t devtmpfs dev /dev",
    "insmod /lib/modules/xen-blkfront.ko || echo 'v2: insmod failed'",
    "while [ ! -e /sys/block/xvda ]; do sleep 0.3; done",
    'echo "v2: read $(md5sum /dev/xvda | cut -d" " -f1)"',
    "dd if=/dev/xvda of=/dev/xvda bs=4096 count=16 seek=128 2>/dev/null && sync && echo 'v2: written'",
    "dmesg | grep -i 'grant tables using'",
    "poweroff -f",
  ], [["lib/modules/xen-blkfront.ko", linuxModule("drivers/block/xen-blkfront.ko")]])));
  const h = await XenHost.create(512);
  const dom = h.createDomain("linux-gntv2", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: 256, ramdisk, cmdline: "console=hvc0 quiet grant_table.version=2",
    disks: [{ path: img, vdev: "xvda", writable: true }],
  });
  let o = "", version = 0;
  dom.onConsole = (b) => { o += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await h.runUntil(() => {
    if (o.includes("v2: read"))
      version ||= h.core.view().getUint32(h.core.x.hv_domain_addr(dom.domid) + D_GNT_VERSION, true);
    return h.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 240000;
  });
  assert.match(o, "Grant tables using version 2 layout", o.slice(-3000) + h.dmesg());
  assert.is(version, 2, "the hypervisor's record says v2");
  assert.match(o, `v2: read ${createHash("md5").update(disk).digest("hex")}`, o.slice(-3000));
  assert.match(o, "v2: written");
  assert.is(h.shutdownReason(dom.domid), 0, "poweroff");
  const after = readFileSync(img);
  assert.ok(
    after.subarray(512 << 10, (512 + 64) << 10).equals(disk.subarray(0, 64 << 10)),
    "the 64 KiB Linux wrote reached the image"
  );
  h.destroyDomain(dom.domid);
});

test.run();
