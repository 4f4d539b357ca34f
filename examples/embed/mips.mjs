// Guest MIPS of the bare CPU benchmarks (guests/bench: crc32, sieve, memcpy, sort; 64-bit, JIT on as
// by default) in whatever runtime runs this: each program twice in this process, the second (warm) run
// counted, as `npm run bench:cpu` does; prints one line per program and the geometric mean.
//   node examples/embed/mips.mjs | bun examples/embed/mips.mjs | deno run -A examples/embed/mips.mjs
// (The web page, web/, measures the same in a browser's Worker.)
import { runBare } from "xenwasm";
import { readFileSync } from "node:fs";

const runtime = globalThis.Bun ? `bun ${globalThis.Bun.version}` : globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}` : `node ${process.versions.node}`;
const mips = [];
for (const name of ["crc32", "sieve", "memcpy", "sort"]) {
  const elf = new Uint8Array(readFileSync(`guests/build/${name}-64.elf`));
  await runBare(elf);
  const r = await runBare(elf);
  if (r.reason !== "exit" || r.status !== 0) throw new Error(`${name}: ${r.reason} ${r.message ?? ""}`);
  const m = r.instructions / r.seconds / 1e6;
  mips.push(m);
  console.log(
    `${name.padEnd(7)} ${String(r.instructions).padStart(11)} `
      + `insns ${r.seconds.toFixed(3)} s ${m.toFixed(0).padStart(6)} ` + `MIPS`
  );
}
console.log(`${runtime}: geomean ${Math.exp(mips.reduce((a, m) => a + Math.log(m), 0) / mips.length).toFixed(0)} MIPS`);
