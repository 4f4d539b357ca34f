// The repository's root folder (the one holding guests/Makefile), from a source file or its bundle in dist/.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "guests", "Makefile"))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}
