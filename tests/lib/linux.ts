// Debian's amd64 Linux kernel and a busybox initramfs for it (Debian's busybox-static), built for a
// test: `lines` are the shell lines /init runs after mounting /proc.
import { mkdirSync, writeFileSync, copyFileSync, chmodSync, rmSync } from "node:fs";
import { execSync } from "node:child_process";
import { join } from "node:path";
import { debFile, debFind, resolveDepends } from "./debian";

export function linuxKernel(): string {
  const pkg = resolveDepends("linux-image-amd64", "linux-image-");
  return debFind(pkg, "boot", /^vmlinuz-/, "boot");
}

/** Builds WORK/initrd.gz and returns its path. */
export function busyboxInitramfs(work: string, lines: string[]): string {
  const bb = debFile("busybox-static", "bin/busybox");
  rmSync(work, { recursive: true, force: true });
  const root = join(work, "root");
  for (const d of ["bin", "proc", "sys", "dev"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(bb, join(root, "bin", "busybox"));
  writeFileSync(join(root, "init"), ["#!/bin/busybox sh", "/bin/busybox --install -s /bin", "mount -t proc proc /proc", ...lines].join("\n") + "\n");
  chmodSync(join(root, "init"), 0o755);
  const out = join(work, "initrd.gz");
  execSync(`cd ${root} && find . | ${bb} cpio -o -H newc 2>/dev/null | gzip > ${out}`);
  return out;
}
