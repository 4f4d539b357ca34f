// Debian's amd64 Linux kernel and a busybox initramfs for it (Debian's busybox-static), built for a
// test: `lines` are the shell lines /init runs after mounting /proc; linuxDomain: both as a domain of a new XenHost.
import { mkdirSync, writeFileSync, copyFileSync, chmodSync, rmSync, existsSync, readFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { join, dirname } from "node:path";
import { debFile, debFind, resolveDepends } from "./debian";
import { XenHost, type DomainHandle } from "../../host/pv/host";

export function linuxKernel(): string {
  const pkg = resolveDepends("linux-image-amd64", "linux-image-");
  return debFind(pkg, "boot", /^vmlinuz-/, "boot");
}

/** A module of that kernel's package: `rel` under lib/modules/<version>/kernel (e.g. "fs/ext4/ext4.ko"). */
export function linuxModule(rel: string): string {
  const pkg = resolveDepends("linux-image-amd64", "linux-image-");
  const ver = debFind(pkg, "lib/modules", /^\d/, "boot");
  const path = join(ver, "kernel", rel);
  if (!existsSync(path)) throw new Error(`${pkg} has no ${rel}`);
  return path;
}

/** Builds WORK/initrd.gz and returns its path. `files` are copied in too: [path in the initramfs, source]. */
export function busyboxInitramfs(work: string, lines: string[], files: [string, string][] = []): string {
  const bb = debFile("busybox-static", "bin/busybox");
  rmSync(work, { recursive: true, force: true });
  const root = join(work, "root");
  for (const d of ["bin", "proc", "sys", "dev"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(bb, join(root, "bin", "busybox"));
  for (const [to, from] of files) {
    mkdirSync(dirname(join(root, to)), { recursive: true }); copyFileSync(from, join(root, to));
  }
  writeFileSync(
    join(root, "init"),
    ["#!/bin/busybox sh", "/bin/busybox --install -s /bin", "mount -t proc proc /proc", ...lines].join("\n") + "\n"
  );
  chmodSync(join(root, "init"), 0o755);
  const out = join(work, "initrd.gz");
  execSync(`cd ${root} && find . | ${bb} cpio -o -H newc 2>/dev/null | gzip > ${out}`);
  return out;
}

/** Debian's Linux as a PV domain of its own XenHost; `out` is its console output so far. */
export interface LinuxDomain { host: XenHost; dom: DomainHandle; out: string }

/** A XenHost of 512 MiB holding a 256 MiB domain `name` of Debian's Linux ("console=hvc0 quiet", `o`'s vCPUs) whose
 * initramfs (built in `work`: busyboxInitramfs) runs `lines`; its console output collects in the result's `out`.
 * Nothing has run yet (the caller's host.runUntil). */
export async function linuxDomain(
  name: string, work: string, lines: string[], o: { vcpus?: number; vcpusOnline?: number } = {}
): Promise<LinuxDomain> {
  const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(work, lines)));
  const host = await XenHost.create(512);
  const dom =
    host.createDomain(name, new Uint8Array(readFileSync(linuxKernel())), {
      memoryMiB: 256, ramdisk, cmdline: "console=hvc0 quiet", ...o
    });
  const vm: LinuxDomain = { host, dom, out: "" };
  dom.onConsole = (b) => { vm.out += new TextDecoder().decode(b); };
  return vm;
}
