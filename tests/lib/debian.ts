// Debian packages for tests, fetched with `apt-get download` and unpacked with `dpkg -x` into a cache
// outside the repository (XENWASM_CACHE, default ~/.cache/xenwasm).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";

export const CACHE = process.env.XENWASM_CACHE ?? join(homedir(), ".cache", "xenwasm");

/**
 * The path of `file` inside Debian package `pkg` (downloaded and unpacked on first use). Test files run
 * two at a time (scripts/test.mjs), so two may unpack one package at once: each downloads into and
 * unpacks under a directory of its own, then renames it into place; the first rename wins.
 */
export function debFile(pkg: string, file: string): string {
  const root = join(CACHE, "deb", pkg);
  const path = join(root, file);
  if (existsSync(path)) return path;
  const dl = join(CACHE, "deb", "downloads", `${process.pid}`);
  const tmp = join(CACHE, "deb", `.${pkg}.${process.pid}`);
  rmSync(dl, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dl, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const get = () => execFileSync("apt-get", ["download", pkg], { cwd: dl, stdio: ["ignore", "ignore", "pipe"] });
    try { get(); } catch {
      // (Another test file may be updating the lists at this moment: apt's lock refuses a second
      // update, so a failed one is followed by a few tries of the download while that one finishes.)
      let updated = true;
      try { execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" }); } catch { updated = false; }
      for (let i = 0; ; i++) {
        try { get(); break; } catch (e) {
          if (updated || i >= 30) throw e;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
        }
      }
    }
    const deb = readdirSync(dl).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb")).sort().pop();
    if (!deb) throw new Error(`apt-get download ${pkg} gave no .deb`);
    execFileSync("dpkg", ["-x", join(dl, deb), tmp]);
    if (!existsSync(root)) {
      try { renameSync(tmp, root); } catch (e) { if (!existsSync(root)) throw e; } // another process's copy won
    }
    // a copy left incomplete (interrupted before)
    if (!existsSync(path)) execFileSync("dpkg", ["-x", join(dl, deb), root]);
  } finally {
    rmSync(dl, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(path)) throw new Error(`${pkg} has no ${file}`);
  return path;
}

/** The package a metapackage depends on first (e.g. linux-image-amd64 -> linux-image-6.1.0-N-amd64). */
export function resolveDepends(meta: string, prefix: string): string {
  const out = execFileSync("apt-cache", ["depends", meta], { encoding: "utf8" });
  const m = new RegExp(`Depends: (${prefix}[^\\s]*)`).exec(out);
  if (!m) throw new Error(`${meta} depends on no ${prefix}*`);
  return m[1];
}

/** Every file under `dir` of package `pkg` (unpacked on first use) matching `re`. */
export function debFind(pkg: string, dir: string, re: RegExp, probe: string): string {
  debFile(pkg, probe);
  const root = join(CACHE, "deb", pkg, dir);
  const f = readdirSync(root).find((x) => re.test(x));
  if (!f) throw new Error(`${pkg}: nothing like ${re} in ${dir}`);
  return join(root, f);
}
