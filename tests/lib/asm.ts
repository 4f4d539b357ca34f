// Assemble a GNU-as snippet (AT&T syntax) into flat machine code with the machine's binutils, for
// CPU tests. Results are cached in tests/build/asm/ by content hash.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

const dir = join(process.cwd(), "tests", "build", "asm");

export function asm(src: string, bits: 32 | 64 = 64, org = 0): Uint8Array {
  mkdirSync(dir, { recursive: true });
  const text = `.code${bits}\n${src}\n`;
  const h = createHash("sha1").update(`${bits}:${org}:${text}`).digest("hex").slice(0, 16);
  const bin = join(dir, `${h}.bin`);
  if (!existsSync(bin)) {
    const s = join(dir, `${h}.s`), o = join(dir, `${h}.o`);
    writeFileSync(s, text);
    execFileSync("as", [bits === 64 ? "--64" : "--32", "-o", o, s]);
    execFileSync("ld", [bits === 64 ? "-melf_x86_64" : "-melf_i386", "-Ttext", "0x" + org.toString(16),
      "--oformat", "binary", "-e", "0", "-o", bin, o]);
  }
  return new Uint8Array(readFileSync(bin));
}
