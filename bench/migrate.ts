// bench/migrate: live migration between two xend processes on loopback. For 64 MiB and 256 MiB guests
// (guests/pv/dirty.c), idle and dirtying memory at several rates: downtime (from the moment the source
// suspended to the receiver's "it runs", measured by the sender: an upper bound), total time, and bytes
// sent against memory size. `--json` prints one JSON line last; `--mem 64,256` and `--rates 0,5,20`
// (MiB/s) choose the cases, `--repeat N` (3) how often each runs (the median run is the figure).
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binNodeOptions } from "./lib/peers";
import { Xend } from "../tests/lib/xmcli";

const argv = process.argv.slice(2);
const json = argv.includes("--json");
const list = (k: string, d: number[]) => {
  const i = argv.indexOf(k); return i >= 0 ? argv[i + 1].split(",").map(Number) : d;
};
const mems = list("--mem", [64, 256]);
const rates = list("--rates", [0, 5, 20]);
const repeat = list("--repeat", [3])[0];
interface MigrateSummaryLike {
  downtimeMs: number; totalMs: number; bytesSent: number; rounds: number; roundPages: number[];
  phases: Record<string, number>
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), "xenwasm-bench-migrate-"));
const portA = 20000 + Math.floor(Math.random() * 20000), portB = portA + 1;

const xm = (x: Xend, ...args: string[]) => x.xm(...args);
const xend = (name: string, port: number) => Xend.start({
  socket: join(dir, name, "xend.sock"), memoryMiB: Math.max(...mems) * 2 + 128, relocation: port,
  nodeOptions: binNodeOptions("xend"), echoLog: !!process.env.XEND_MIGRATE_TRACE, xmTimeoutMs: 300000, polls: 200,
});

async function main(): Promise<void> {
  const cases: {
    mem_mib: number; dirty_mib_s: number; downtime_ms: number; total_s: number; sent_over_mem: number; rounds: number
  }[] = [];
  const xends: Xend[] = [];
  try {
    const a = await xend("a", portA);
    xends.push(a);
    const b = await xend("b", portB);
    xends.push(b);
    // xend is a long-running daemon: one small migration first, so that the figures are those of a
    // warmed-up process rather than of its first-ever migration (that one is printed too).
    {
      const cfg = join(dir, "warm.cfg");
      writeFileSync(cfg, `name = "warm"\nkernel = "${process.cwd()}/guests/build/pv-dirty-64.elf"\nmemory = 64\n`);
      xm(a, "create", cfg);
      await sleep(300);
      const r = xm(a, "migrate", "--live", "--json", "warm", `127.0.0.1:${portB}`);
      if (r.status !== 0) throw new Error(`warm-up migration: ${r.stderr.trim()}`);
      console.log(
        `warm-up (the first migration of these two xends, 64 MiB ` + `idle): downtime `
          + `${JSON.parse(r.stdout.trim().split("\n").pop()!).downtimeMs.toFixed(1)} ` + `ms`
      );
      xm(b, "destroy", "warm");
    }
    for (const mem of mems) for (const rate of rates) {
      // Each case `--repeat` times (default 3): the figure is the median run (by downtime).
      const runs: { s: MigrateSummaryLike; sent: number }[] = [];
      for (let k = 0; k < repeat; k++) {
        const name = `d${mem}r${rate}k${k}`;
        const cfg = join(dir, `${name}.cfg`);
        writeFileSync(
          cfg, `name = "${name}"\nkernel = ` + `"${process.cwd()}/guests/build/pv-dirty-64.elf"\nmemory = `
            + `${mem}\nextra = "dirty=${rate * 1024}"\n`
        );
        let r = xm(a, "create", cfg);
        if (r.status !== 0) throw new Error(`create ${name}: ${r.stderr.trim()}`);
        await sleep(500);
        r = xm(a, "migrate", "--live", "--json", name, `127.0.0.1:${portB}`);
        if (r.status !== 0) throw new Error(`migrate ${name}: ${r.stderr.trim()}`);
        const s = JSON.parse(r.stdout.trim().split("\n").pop()!) as MigrateSummaryLike;
        xm(b, "destroy", name);
        runs.push({ s, sent: s.bytesSent / (mem * 1048576) });
      }
      runs.sort((p, q) => p.s.downtimeMs - q.s.downtimeMs);
      const { s, sent } = runs[runs.length >> 1];
      const c = {
        mem_mib: mem, dirty_mib_s: rate, downtime_ms: Math.round(s.downtimeMs * 10) / 10,
        total_s: Math.round(s.totalMs) / 1000, sent_over_mem: Math.round(sent * 100) / 100, rounds: s.rounds
      };
      cases.push(c);
      const all = runs.map((x) => x.s.downtimeMs.toFixed(1)).join(", ");
      console.log(
        `${String(mem).padStart(4)} MiB, dirtying ` + `${String(rate).padStart(3)} MiB/s: downtime `
          + `${c.downtime_ms.toFixed(1).padStart(6)} ms (runs: ${all}), `
          + `total ${c.total_s.toFixed(2)} s, ${c.rounds} rounds ` + `(${s.roundPages.join(" ")} pages), sent `
          + `${c.sent_over_mem.toFixed(2)}x memory`
      );
      if (argv.includes("--phases")) console.log(
        `      downtime: ${Object.entries(s.phases).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")} ms`
      );
    }
  } finally {
    for (const x of xends) x.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (json) console.log(JSON.stringify({ cases }));
}

main().catch((e) => { console.error(`bench:migrate: ${e.message}`); process.exit(1); });
