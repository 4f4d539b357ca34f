// guests/glibc-ifunc.c built static with the host's gcc (glibc's ifunc choices and libm results, run natively
// and in a Linux guest): for tests/glibc.test.ts and bench/jit-user.ts. Rebuilt when the source is newer.
import { mkdirSync, existsSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./repo";

/** The static executable, in `work` (created). */
export function glibcIfunc(work: string): string {
  const src = join(repoRoot(), "guests", "glibc-ifunc.c");
  mkdirSync(work, { recursive: true });
  const exe = join(work, "glibc-ifunc");
  if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
    execFileSync("gcc", ["-O2", "-static", "-o", exe, src, "-lm"], { stdio: ["ignore", "inherit", "inherit"] });
  }
  return exe;
}
