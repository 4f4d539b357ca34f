// Debian's own amd64 Linux kernel (CONFIG_XEN_PV), unmodified, boots as a PV domain with an
// initramfs of Debian's busybox-static: user space runs, prints, and powers the domain off.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync, copyFileSync, chmodSync, rmSync, readFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { join } from "node:path";
import { XenHost } from "../host/pv/host";
import { debFile, debFind, resolveDepends } from "./lib/debian";

const WORK = join(process.cwd(), "tests", "build", "linux");

function initramfs(): Uint8Array {
  const bb = debFile("busybox-static", "bin/busybox");
  rmSync(WORK, { recursive: true, force: true });
  const root = join(WORK, "root");
  for (const d of ["bin", "proc", "sys", "dev"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(bb, join(root, "bin", "busybox"));
  writeFileSync(join(root, "init"), [
    "#!/bin/busybox sh",
    "/bin/busybox --install -s /bin",
    "mount -t proc proc /proc",
    'echo "xenwasm: hello from Linux user space"',
    "uname -sr",
    'echo "the answer: $((6 * 7))"',
    "grep -c processor /proc/cpuinfo",
    "poweroff -f",
  ].join("\n") + "\n");
  chmodSync(join(root, "init"), 0o755);
  execSync(`cd ${root} && find . | ${bb} cpio -o -H newc 2>/dev/null | gzip > ${join(WORK, "initrd.gz")}`);
  return new Uint8Array(readFileSync(join(WORK, "initrd.gz")));
}

test("Debian's amd64 Linux boots to busybox user space and powers off", async () => {
  const pkg = resolveDepends("linux-image-amd64", "linux-image-");
  const kernel = debFind(pkg, "boot", /^vmlinuz-/, "boot");
  const host = await XenHost.create(512);
  const dom = host.createDomain("linux", new Uint8Array(readFileSync(kernel)), {
    memoryMiB: 256, ramdisk: initramfs(), cmdline: "console=hvc0 quiet",
  });
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== 1 || Date.now() - t0 > 240000);
  assert.match(out, "xenwasm: hello from Linux user space", out.slice(-3000) + host.dmesg());
  assert.match(out, /Linux 6\.\d+/);
  assert.match(out, "the answer: 42");
  assert.is(host.state(dom.domid), 2, "shut down");
  assert.is(host.shutdownReason(dom.domid), 0, "poweroff");
  host.destroyDomain(dom.domid);
  assert.is(host.core.x.hv_frames_owned(dom.domid), 0);
});

test.run();
