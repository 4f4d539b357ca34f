// The balloon stress test (issue 12), shared by tests/balloon.test.ts (a few cycles) and
// bench/balloon.ts (100): Debian's Linux runs guests/build/memcheck in a loop (fork, and every child
// and the parent check their copy-on-write memory) while the host moves its xenstore memory/target
// down and up, waiting each time until the balloon driver got there (or stopped moving).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { XenHost } from "../../host/pv/host";
import { linuxKernel, busyboxInitramfs } from "./linux";
import { DS_RUNNING } from "../../assembly/records";

export interface BalloonOptions {
  cycles: number; low: number; high: number; memory: number; maxmem: number;
  /** memcheck's MiB and forks per run. */
  checkMiB?: number; forks?: number;
  /** Per step: how long to wait for the balloon (ms). */
  stepMs?: number;
  work: string;
  log?: (s: string) => void;
}
export interface BalloonResult {
  out: string; host: XenHost; domid: number; cycles: number;
  /** Pages the domain held at the end of each step (down, up, down, ...). */
  pages: number[];
  rounds: number; running: boolean;
}

const rounds = (s: string) => [...s.matchAll(/balloon: round (\d+)/g)].length;

export async function balloonStress(o: BalloonOptions): Promise<BalloonResult> {
  const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(o.work, [
    "mount -t sysfs sys /sys",
    'echo "balloon: up"',
    "i=0",
    `while true; do i=$((i+1)); /memcheck ${o.checkMiB ?? 24} `
      + `${o.forks ?? 4} || echo "balloon: memcheck failed $i"; echo ` + `"balloon: round $i"; done`,
  ], [["memcheck", join(process.cwd(), "guests", "build", "memcheck")]])));
  const host = await XenHost.create(o.maxmem + 192);
  const dom = host.createDomain("balloon", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: o.memory, ramdisk, cmdline: process.env.BALLOON_CMDLINE ?? "console=hvc0 quiet",
  });
  const d = dom.domid, x = host.core.x;
  // As xend for maxmem > memory: the domain may grow to maxmem (its memory map says so from boot).
  x.hv_domain_set_max_pages(d, o.maxmem * 256 + 64);
  host.store.write(`/local/domain/${d}/memory/static-max`, String(o.maxmem * 1024));
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const bad = () => /memcheck: BAD|memcheck failed|Oops|BUG:|general protection|Kernel panic/.test(out);
  let t0 = Date.now();
  await host.runUntil(() => rounds(out) >= 1 || host.state(d) !== DS_RUNNING || Date.now() - t0 > 300000);
  const pages: number[] = [];
  let cycles = 0;
  for (let c = 0; c < o.cycles && host.state(d) === DS_RUNNING && !bad(); c++) {
    for (const mib of [o.low, o.high]) {
      host.store.write(`/local/domain/${d}/memory/target`, String(mib * 1024));
      t0 = Date.now();
      let last = x.hv_domain_pages(d), still = Date.now();
      await host.runUntil(() => {
        const p = x.hv_domain_pages(d);
        if (p !== last) { last = p; still = Date.now(); }
        const there = mib === o.low ? p <= mib * 256 + 4096 : p >= mib * 256 - 4096;
        // There, or not moving for a while (the driver gives up on a step it cannot make now).
        return there || Date.now() - still > 3000 || host.state(d) !== DS_RUNNING || bad()
          || Date.now() - t0 > (o.stepMs ?? 60000);
      }, 2_000_000);
      pages.push(x.hv_domain_pages(d));
      o.log?.(
        `cycle ${c + 1} target ${mib} MiB: ${x.hv_domain_pages(d)} `
          + `pages, ${rounds(out)} rounds, ${x.hv_hypercall_count(12)} ` + `memory_op calls`
      );
    }
    cycles++;
  }
  // One more memcheck round after the last step (or, after a problem, its report in full).
  const r0 = rounds(out);
  t0 = Date.now();
  if (bad()) await host.runUntil(() => host.state(d) !== DS_RUNNING || Date.now() - t0 > 5000);
  else await host.runUntil(() => rounds(out) > r0 || host.state(d) !== DS_RUNNING || bad() || Date.now() - t0 > 120000);
  return { out, host, domid: d, cycles, pages, rounds: rounds(out), running: host.state(d) === DS_RUNNING };
}
