// glibc's ifuncs under our CPUID (issue 14): guests/glibc-ifunc.c, a static program built with the
// machine's glibc, runs natively and as a user process of Debian's Linux in a xenwasm domain. glibc
// chooses its string/memory/libm implementations from CPUID (user-space CPUID is not trapped in a PV
// guest, so it sees the CPU's leaves: cpuidLeaf in assembly/cpu/privops.ts). Checked: the features
// glibc considers active are exactly what the emulator runs (SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT,
// CMPXCHG16B, LZCNT, BMI1, BMI2; no AVX, MOVBE, ERMS...), no implementation needing more was chosen, the
// SSE4.x ones were (strcspn's, floor's), and every function's results equal the native run's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { XenHost } from "../host/pv/host";
import { linuxKernel, busyboxInitramfs } from "./lib/linux";
import { glibcIfunc } from "./lib/glibcprog";
import { DS_RUNNING } from "../assembly/records";

const WORK = join(process.cwd(), "tests", "build", "glibc");

/** The program's output parsed: features, implementation names by function, result lines. */
function parse(out: string, names: Map<bigint, string>) {
  const lines = out.split(/\r?\n/);
  const feat = new Map<string, number>();
  const impl = new Map<string, string>();
  const results: string[] = [];
  for (const l of lines) {
    if (l.startsWith("features "))
      for (const kv of l.slice(9).trim().split(" ")) { const [k, v] = kv.split("="); feat.set(k, Number(v)); }
    const m = /^impl (\S+) 0x([0-9a-f]+)/.exec(l);
    if (m) impl.set(m[1], names.get(BigInt("0x" + m[2])) ?? `?${m[2]}`);
    if (/^(round \d+ [0-9a-f]+|libm \S+|done)$/.test(l.trim())) results.push(l.trim());
  }
  return { feat, impl, results };
}

test("glibc's ifuncs pick implementations we run, and they compute what they compute natively", async () => {
  const exe = glibcIfunc(WORK);
  const names = new Map<bigint, string>();
  for (const l of execFileSync("nm", [exe], { encoding: "utf8" }).split("\n")) {
    const m = /^([0-9a-f]+) [tTiW] (\S+)/.exec(l);
    if (m && !names.has(BigInt("0x" + m[1]))) names.set(BigInt("0x" + m[1]), m[2]);
    else if (m && m[2].startsWith("__")) names.set(BigInt("0x" + m[1]), m[2]); // prefer __strlen_sse2 over aliases
  }
  const native = parse(execFileSync(exe, { encoding: "utf8" }), names);
  assert.is(native.results.length, 5, "native run completes");

  const ramdisk = new Uint8Array(readFileSync(busyboxInitramfs(join(WORK, "initramfs"), [
    "echo 'glibc: start'",
    "/bin/glibc-ifunc || echo \"glibc: exit status $?\"",
    "poweroff -f",
  ], [["bin/glibc-ifunc", exe]])));
  const host = await XenHost.create(512);
  const dom = host.createDomain("glibc", new Uint8Array(readFileSync(linuxKernel())), {
    memoryMiB: 256, ramdisk, cmdline: "console=hvc0 quiet",
  });
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 300000);
  host.destroyDomain(dom.domid);
  const g = parse(out.slice(out.indexOf("glibc: start")), names);
  assert.ok(out.includes("glibc: start"), out.slice(-3000));
  assert.not.match(out, "exit status", out.slice(-3000));

  // what glibc sees: the features we implement, nothing more
  for (const f of ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cmpxchg16b", "lzcnt", "bmi1", "bmi2"])
    assert.is(g.feat.get(f), 1, `glibc: ${f} active`);
  for (const f of ["avx", "avx2", "erms", "movbe", "fma", "aes", "pclmulqdq"])
    assert.is(g.feat.get(f), 0, `glibc: ${f} not active`);
  // what it chose: nothing for AVX/EVEX/MOVBE (glibc's BMI2 users are its AVX2/EVEX variants); some SSE4.2 and some
  // SSE4.1/SSSE3 implementations (Debian 12's glibc 2.36: strcmp/strcspn/strcasecmp... _sse42, memmove _ssse3, wcslen
  // _sse4_1, floor _sse41)
  assert.ok(g.impl.size >= 30, `implementations reported: ${g.impl.size}`);
  for (const [fn, name] of g.impl) assert.not.match(name, /avx|evex|bmi|movbe|erms|rtm|\?/, `${fn} -> ${name}`);
  const chosen = [...g.impl.values()];
  assert.ok(chosen.some((n) => /sse4_?2/.test(n)), `an SSE4.2 implementation: ${chosen.join(" ")}`);
  assert.ok(chosen.some((n) => /sse4_?1|ssse3/.test(n)), `an SSE4.1 or SSSE3 implementation: ${chosen.join(" ")}`);
  console.log(`  glibc under xenwasm's CPUID: ${[...g.impl].map(([f, n]) => `${f}=${n}`).join(" ")}`);
  // and they compute what the native run computes
  assert.equal(g.results, native.results, out.slice(-3000));
});

test.run();
