// The balloon stress test (issue 12): Debian's Linux ballooned down and up (xenstore memory/target)
// `--cycles` times (100 by default) while it forks and checks its memory (guests/linux/memcheck.c).
// Prints each step and a verdict; --json: one JSON line. Usage:
//   npm run bench:balloon -- [--cycles N] [--low MiB] [--high MiB] [--memory MiB] [--maxmem MiB] [--json]
import { join } from "node:path";
import { balloonStress } from "../tests/lib/balloon";

const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(`--${k}`); return i > 0 ? Number(process.argv[i + 1]) : d;
};
const json = process.argv.includes("--json");
const t0 = Date.now();
const r = await balloonStress({
  cycles: arg("cycles", 100), low: arg("low", 128), high: arg("high", 300), memory: arg("memory", 256),
  maxmem: arg("maxmem", 384),
  work: join(process.cwd(), "tests", "build", "balloon-bench"), log: json ? undefined : (s) => console.log(s),
});
const problems =
  r.out.split("\n").filter((l) => /memcheck: BAD|memcheck failed|Oops|BUG:|general protection|Kernel panic/.test(l));
const res = {
  cycles: r.cycles, rounds: r.rounds, running: r.running, problems: problems.length, seconds: (Date.now() - t0) / 1000,
  minPages: Math.min(...r.pages), maxPages: Math.max(...r.pages) };
if (json) console.log(JSON.stringify(res));
else {
  if (process.env.BALLOON_DMESG) console.log(r.out + "\n" + r.host.dmesg().slice(-4000));
  else if (problems.length) console.log(r.out.slice(-6000));
  console.log(
    `${r.cycles} cycles, ${r.rounds} memcheck rounds, ` + `${problems.length} problems, domain `
      + `${r.running ? "running" : "DOWN"}, ` + `${res.seconds.toFixed(0)} s`
  );
}
process.exit(problems.length || !r.running ? 1 : 0);
