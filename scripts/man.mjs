// `npm run man`: writes man/xm.1 from xm's command table (`xm help --man`, after `npm run hostbuild`).
// tests/man.test.ts checks the committed file is what this writes.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const page = execFileSync(process.execPath, [join(root, "bin", "xm.js"), "help", "--man"], { encoding: "utf8" });
mkdirSync(join(root, "man"), { recursive: true });
writeFileSync(join(root, "man", "xm.1"), page);
console.log(`man/xm.1: ${page.split("\n").length - 1} lines`);
