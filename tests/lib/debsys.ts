// The Debian system guest (scripts/debian-system.sh): a bookworm root filesystem on an ext4 image,
// Debian's kernel and a small initramfs, built once into the cache (XENWASM_CACHE, default
// ~/.cache/xenwasm) under a name that follows the script's contents, so a changed script builds anew
// (build.txt's mtime says when it was last used; other versions unused for a day are removed).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, copyFileSync, rmSync, readdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { CACHE } from "./debian";
import { repoRoot } from "./repo";

export interface DebianSystem {
  dir: string; kernel: string; initrd: string; rootfs: string;
  /** build.txt: what was built, sizes, build_seconds (of the build that made it, perhaps earlier). */
  info: Record<string, string>;
  /** True when this call built it (false: it was in the cache). */
  built: boolean;
}

/** Why the image cannot be built here (undefined: it can): it needs root or password-less sudo, and mmdebstrap. */
export function debianSystemUnavailable(): string | undefined {
  const has = (c: string) => {
    try { execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" }); return true; } catch { return false; }
  };
  if (!has("mmdebstrap")) return "mmdebstrap is not installed (scripts/setup.sh installs it)";
  if (process.getuid?.() !== 0) {
    try {
      execFileSync("sudo", ["-n", "true"], { stdio: "ignore" });
    } catch { return "building the root filesystem needs root or password-less sudo"; }
  }
  return undefined;
}

export function debianSystem(): DebianSystem {
  const script = join(repoRoot(), "scripts", "debian-system.sh");
  const key = createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 12);
  const dir = join(CACHE, `debian-system-${key}`);
  const done = join(dir, "build.txt");
  const built = !existsSync(done);
  if (built) {
    execFileSync("bash", [script, dir], { stdio: ["ignore", "inherit", "inherit"], timeout: 3600_000 });
    // Images of other versions of the script go (each is ~450 MiB) once unused for a day: checkouts of
    // different versions share the cache, and each would otherwise delete the other's image.
    for (const n of readdirSync(CACHE)) {
      if (!n.startsWith("debian-system-") || n === `debian-system-${key}`) continue;
      const p = join(CACHE, n);
      let used = 0;
      try { used = statSync(existsSync(join(p, "build.txt")) ? join(p, "build.txt") : p).mtimeMs; } catch { continue; }
      if (Date.now() - used > 86400_000) rmSync(p, { recursive: true, force: true });
    }
  }
  const now = new Date();
  try { utimesSync(done, now, now); } catch { /* read-only cache: it is only not marked as used */ }
  const info: Record<string, string> = {};
  for (const l of readFileSync(done, "utf8").split("\n")) {
    const i = l.indexOf(" "); if (i > 0) info[l.slice(0, i)] = l.slice(i + 1);
  }
  return {
    dir, kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.gz"), rootfs: join(dir, "rootfs.img"), info, built
  };
}

/** A writable copy of the root filesystem at `to` (sparse), so the cached image stays as built. */
export function rootfsCopy(sys: DebianSystem, to: string): string {
  rmSync(to, { force: true });
  try { execFileSync("cp", ["--sparse=always", sys.rootfs, to]); } catch { copyFileSync(sys.rootfs, to); }
  return to;
}
