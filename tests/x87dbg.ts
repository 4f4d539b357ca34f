// Debug helper (not a test): node dist/tests/x87dbg.js GROUP INDEX [COUNT]: one case of the conformance run, in full.
import { runNative, runEmulator, compare, x80 } from "./lib/x87run";
import { generate } from "./lib/x87gen";
const all = generate(1, Number(process.argv[4] ?? 30));
const c = all[Number(process.argv[3])];
const n = runNative([c]), e = await runEmulator([c]);
console.log(c.form, c.text, compare(c, n[0], e[0]));
const h = (b: Uint8Array) => [...b.slice(0, 8)].map((x) => x.toString(16).padStart(2, "0")).join("");
console.log("fx in/native/emu:", h(c.fx), h(n[0].fx), h(e[0].fx));
for (let i = 0; i < 8; i++)
  console.log(i, x80(c.fx, 32 + 16 * i), x80(n[0].fx, 32 + 16 * i), x80(e[0].fx, 32 + 16 * i));
