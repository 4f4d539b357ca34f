// bench/fuzz-hypercalls: a hostile guest's seeded random and edge-case hypercalls (guests/pv/hcfuzz.c,
// host side tests/lib/hcfuzz.ts) next to a victim domain whose memory is hashed before and after.
//   --count N (per width; default 1000000)  --seed S (default 1)  --bits 64|32 (default both)  --json
//   --verbose: each restart, with the hypervisor's log lines about the guest that died
// Prints per width: calls, restarts (the fuzzing guest killed itself or stopped: the call that did it
// is skipped), leaked frames, whether the victim is unchanged; a wasm trap or host exception ends the
// bench with exit 1, and so does a changed victim or a leaked frame.
import { fuzzHypercalls, FuzzResult } from "../tests/lib/hcfuzz";

const argv = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : def;
};
const count = opt("count", 1_000_000), seed = opt("seed", 1), only = opt("bits", 0);
const json = argv.includes("--json");
const verbose = argv.includes("--verbose");

async function main(): Promise<number> {
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(seed) && seed > 0 && [0, 32, 64].includes(only))) {
    console.error("bench:fuzz-hypercalls: --count and --seed must be positive whole numbers, --bits 32 or 64");
    return 2;
  }
  const results: FuzzResult[] = [];
  let bad = false;
  for (const bits of [64, 32] as const) {
    if (only !== 0 && only !== bits) continue;
    let r: FuzzResult;
    try {
      r = await fuzzHypercalls(bits, seed, count, verbose ? { log: (s) => console.log(`  ${bits}-bit: ${s}`) } : {});
    } catch (e) {
      console.log(`${bits}-bit: FAILED: ${(e as Error).stack ?? e}`);
      bad = true;
      continue;
    }
    results.push(r);
    const ok = r.victimSame && r.victimRunning && r.framesLeaked === 0 && r.listsBroken === 0;
    if (!ok) bad = true;
    console.log(`${bits}-bit: ${r.calls} calls (seed ${seed}) in ${r.seconds.toFixed(1)} s; restarts ${r.restarts} ` +
      `(killed itself ${r.crashes}, stopped ${r.stuck}); frames ` + `leaked ${r.framesLeaked}, frame lists broken `
        + `${r.listsBroken}; victim ` + `${r.victimSame ? "unchanged" : "CHANGED"}` +
      `${r.victimRunning ? "" : " and NOT RUNNING"}${ok ? "" : ": FAILED"}`);
  }
  if (json) console.log(
    JSON.stringify({
      seed, count, results: results.map(({ killers, ...r }) => ({ ...r, first_killers: killers.slice(0, 20) }))
    })
  );
  return bad ? 1 : 0;
}
main().then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });
