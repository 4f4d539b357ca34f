// Process creation in Debian's Linux (issue 14) and the mechanisms made for it.
//  - guests/linux/forkbench.c (bench/fork.ts's program) runs under Debian's Linux: every child of its fork + exec
//    and fork + exit rounds exits 0, and the core's counters (assembly/perf.ts, tests/lib/perf.ts) count what the
//    hypervisor did: hypercalls as many as the per-number counts say, page tables validated, kernel/user switches.
//  - A 64-bit PV guest's kernel and user mode keep their TLB translations in banks of their own
//    (domain/domain.ts vcpuTlbKey, hv/bounce.ts toggleGuestMode): a switch between them (SYSCALL from user
//    mode, the iret back) clears no bank, and user mode still faults on kernel memory its tables do not map
//    (guests/pv/user.c reads the kernel's image from user mode right after the kernel ran there).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { XenHost } from "../host/pv/host";
import { DS_RUNNING } from "../assembly/records";
import { linuxKernel, busyboxInitramfs } from "./lib/linux";
import { perfCounters } from "./lib/perf";
import { runGuest } from "./lib/pvrun";

const WORK = join(process.cwd(), "tests", "build", "fork");

const delta = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

test("Linux forks and execs (guests/linux/forkbench.c): every child exits 0; the counters count it", async () => {
  const n = 20;
  const initrd = busyboxInitramfs(WORK, [
    "echo XWFORK start", `/forkbench ${n}`, "echo XWFORK end", "poweroff -f",
  ], [["forkbench", join(process.cwd(), "guests", "build", "forkbench")]]);
  const host = await XenHost.create(512);
  const dom = host.createDomain("fork", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: 256, ramdisk: new Uint8Array(readFileSync(initrd)), cmdline: "console=hvc0 quiet",
  });
  let out = "";
  let before: Record<string, number> | null = null, after: Record<string, number> | null = null;
  dom.onConsole = (b) => {
    out += new TextDecoder().decode(b);
    if (!before && out.includes("XWFORK start")) before = perfCounters(host.core);
    if (!after && out.includes("XWFORK end")) after = perfCounters(host.core);
  };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 300000);
  const m = /forkbench: fork_exec_us=([0-9.]+) fork_exit_us=([0-9.]+) n=(\d+)/.exec(out);
  assert.ok(m, out.slice(-3000) + host.dmesg());
  assert.is(Number(m![3]), n);
  assert.ok(Number(m![1]) > 0 && Number(m![2]) > 0, m![0]);
  assert.match(out, "forkbench: ok", out.slice(-2000));
  assert.ok(before && after, "both markers seen");
  const d = delta(before!, after!);
  // The core's hypercall counter counts each call once, multicall entries included, as the per-number counts do.
  const byNumber = Object.entries(d).filter(([k]) => k.startsWith("hc_")).reduce((s, [, v]) => s + v, 0);
  assert.is(d.hypercalls, byNumber, JSON.stringify(d));
  const rounds = 2 * n + 2;
  // Each round creates and destroys an address space (validated page tables) and runs user code (kernel/user
  // switches): at least one of each per round.
  assert.ok(d.validate >= rounds && d.devalidate >= rounds, JSON.stringify(d));
  assert.ok(d.mode_switch >= 2 * rounds, JSON.stringify(d));
  assert.ok(d.hc_mmuext_op >= rounds, JSON.stringify(d));
});

test("64-bit PV kernel/user switches keep each mode's TLB bank; user mode still faults on kernel memory", async () => {
  // (each host has a core of its own: its counters are this guest's alone)
  const r = await runGuest("user", 64);
  assert.match(r.output, "user: PASSED", r.output + r.host.dmesg());
  assert.match(r.output, /ok: 200 more in a loop/, r.output);
  assert.match(r.output, /ok: user-mode #PF on kernel memory/, r.output);
  const d = perfCounters(r.host.core);
  // 203 system calls and their returns, the SYSENTERs and the #PF: two switches each.
  assert.ok(d.mode_switch >= 2 * 203, JSON.stringify(d));
  // Before the banks, every switch flushed everything and so cleared the bank it went to: at least as many bank
  // clears as switches. Now only what flushes everything (base pointer changes, page tables validated, the
  // host's run slices) clears a bank.
  assert.ok(d.tlb_bank_clear < 100, JSON.stringify(d));
});

test.run();
