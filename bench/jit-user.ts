// bench/jit-user (issue 10): how much of a Linux guest's user space stays in compiled code. Debian's amd64
// kernel boots a busybox initramfs (tests/lib/linux.ts) whose /init runs user-space work built on glibc's
// SSE2/SSE4 string functions: guests/glibc-ifunc.c (tests/glibc.test.ts's program: strlen, memcpy,
// strcmp, memchr ... over many lengths and alignments) and busybox tools (seq, sort, md5sum, grep, sed,
// awk, wc) over a 20000-line file, then powers off. Prints the JIT's figures for the whole run (exits by
// reason: `unsupported` counts the exits before an instruction compiled code does not translate).
//
//   node dist/bench/jit-user.js [--json]
//
// With --json the last line of stdout is one JSON object: {wall_s, insns, insn_in_jit_pct, exits: {...},
// jit: {...the whole Jit.stats()}, load_avg, xenwasm_jit}. The guest's output is checked (the program's
// "done" line and the tools' results), so a wrong translation fails the run.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { loadavg } from "node:os";
import { XenHost } from "../host/pv/host";
import { DS_RUNNING } from "../assembly/records";
import { linuxKernel, busyboxInitramfs } from "../tests/lib/linux";
import { glibcIfunc } from "../tests/lib/glibcprog";
import { repoRoot } from "../tests/lib/repo";

const json = process.argv.includes("--json");
const root = repoRoot();
const WORK = join(root, "tests", "build", "jit-user");

const exe = glibcIfunc(WORK);
const native =
  execFileSync(exe, { encoding: "utf8" }).split("\n").filter((l) => /^(round \d+ |libm |done$)/.test(l.trim()));
const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(join(WORK, "initramfs"), [
  "echo 'user: start'",
  "/bin/glibc-ifunc > /tmp.out || echo 'user: glibc-ifunc failed'",
  "grep -E '^(round [0-9]+ |libm |done$)' /tmp.out",
  "seq 1 20000 > /a",
  "echo \"user: sort $(sort -r /a | md5sum)\"",
  "echo \"user: awk $(awk '{ s += $1 } END { print s }' /a)\"",
  "echo \"user: grep $(grep -c 7 /a)\"",
  "echo \"user: sed $(sed 's/1/xy/g' /a | wc -c)\"",
  "echo 'user: end'",
  "poweroff -f",
], [["bin/glibc-ifunc", exe]])));

const t0 = performance.now();
const host = await XenHost.create(512);
const dom = host.createDomain(
  "user", new Uint8Array(readFileSync(linuxKernel())), { memoryMiB: 256, ramdisk, cmdline: "console=hvc0 quiet" }
);
let out = "";
dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || performance.now() - t0 > 900_000);
const wall = (performance.now() - t0) / 1000;
host.destroyDomain(dom.domid);

// The guest's results: the program's checksums as natively, the tools' as busybox computes them natively.
const got = out.slice(out.indexOf("user: start")).split(/\r?\n/).map((l) => l.trim());
const want = [...native,
  `user: sort ${execFileSync("sh", ["-c", "seq 1 20000 | sort -r | md5sum"], { encoding: "utf8" }).trim()}`,
  "user: awk 200010000",
  `user: grep ${execFileSync("sh", ["-c", "seq 1 20000 | grep -c 7"], { encoding: "utf8" }).trim()}`,
  `user: sed ${execFileSync("sh", ["-c", "seq 1 20000 | sed 's/1/xy/g' | wc -c"], { encoding: "utf8" }).trim()}`,
  "user: end"
];
const missing = want.filter((l) => !got.includes(l));
if (missing.length) {
  console.error(out.slice(-3000));
  throw new Error(`jit-user: the guest's output lacks ${JSON.stringify(missing)}`);
}
const j = host.core.jit?.stats();
const result = {
  wall_s: Math.round(wall * 10) / 10, insns: j?.steps ?? null, insn_in_jit_pct: j?.insn_in_jit_pct ?? null,
  exits: j?.exits ?? null,
  jit: j ?? null, load_avg: loadavg().map((x) => Math.round(x * 100) / 100),
  xenwasm_jit: process.env.XENWASM_JIT ?? "on",
};
if (!json) {
  console.log(
    `user-space workload in Debian's Linux: ${result.wall_s} s ` + `wall, ${result.insns} instructions, `
      + `${result.insn_in_jit_pct}% in compiled code`
  );
  console.log(`exits: ${JSON.stringify(result.exits)}`);
}
console.log(JSON.stringify(result));
process.exit(0);
