// Migration between two xend processes (issue 5): a counting guest moves from A to B over loopback
// (plain and live) and between two network namespaces where the test can create them; afterwards the
// count goes on with no gap and no repeat and its memory checksum is the same. Failures leave the
// source running: a receiver killed mid-stream, a receiver that refuses, a wrong shared secret.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(process.cwd(), "tests", "build", "migrate");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const counts = (s: string) => [...s.matchAll(/count (\d+)/g)].map((m) => Number(m[1]));

interface Xend { name: string; env: NodeJS.ProcessEnv; proc: ChildProcess; port: number; ns?: string }
const xends: Xend[] = [];

async function startXend(name: string, port: number, extra: Record<string, string> = {}, ns?: string): Promise<Xend> {
  const dir = join(ROOT, name);
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, XEND_SOCKET: join(dir, "run", "xend.sock"), XEND_MEMORY_MIB: "768", XEND_RELOCATION_PORT: String(port), XEND_SUSPEND_TIMEOUT_MS: "5000", ...extra };
  const cmd = ns ? "ip" : process.execPath;
  const args = ns ? ["netns", "exec", ns, process.execPath, "bin/xend.js", "run"] : ["bin/xend.js", "run"];
  const proc = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", () => {});
  const x: Xend = { name, env, proc, port, ns };
  xends.push(x);
  for (let i = 0; i < 200; i++) { if (xm(x, "info").status === 0) break; await sleep(50); }
  return x;
}
function xm(x: Xend, ...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/xm.js", ...args], { env: x.env, encoding: "utf8", timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function xmAsync(x: Xend, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, ["bin/xm.js", ...args], { env: x.env });
    let stdout = "", stderr = "";
    c.stdout.on("data", (b) => { stdout += b; });
    c.stderr.on("data", (b) => { stderr += b; });
    c.on("exit", (status) => res({ status, stdout, stderr }));
  });
}
/** Follow a domain's console (its whole log so far, then what comes). */
function follow(x: Xend, dom: string) {
  const c = spawn(process.execPath, ["bin/xm.js", "console", dom], { env: x.env, stdio: ["pipe", "pipe", "pipe"] });
  const o = { out: "", c, exited: new Promise((r) => c.on("exit", r)) };
  c.stdout.on("data", (b) => { o.out += b.toString(); });
  return o;
}
async function until(f: () => boolean, ms = 20000) { const t0 = Date.now(); while (!f() && Date.now() - t0 < ms) await sleep(20); return f(); }
function counterCfg(x: Xend, name: string, mem = 16) {
  const f = join(ROOT, `${name}.cfg`);
  writeFileSync(f, `name = "${name}"\nkernel = "${process.cwd()}/guests/build/pv-counter-64.elf"\nmemory = ${mem}\nextra = "steps=1000000 every=3000000"\n`);
  return f;
}

test.before(() => { rmSync(ROOT, { recursive: true, force: true }); mkdirSync(ROOT, { recursive: true }); });
test.after(() => {
  for (const x of xends) { try { xm(x, "info"); spawnSync(process.execPath, ["bin/xend.js", "stop"], { env: x.env, timeout: 10000 }); } catch { /* gone */ } x.proc.kill("SIGKILL"); }
  spawnSync("ip", ["netns", "del", "xwmigA"]); spawnSync("ip", ["netns", "del", "xwmigB"]);
});

/** Create the counter on `a`, migrate it to `b` (`live` or not), check the count and checksum. */
async function roundTrip(a: Xend, b: Xend, dest: string, live: boolean, name: string) {
  assert.is(xm(a, "create", counterCfg(a, name)).status, 0);
  const fa = follow(a, name);
  assert.ok(await until(() => counts(fa.out).length >= 3), fa.out);
  const r = await xmAsync(a, "migrate", ...(live ? ["--live"] : []), "--json", name, dest);
  assert.is(r.status, 0, r.stderr);
  const sum = JSON.parse(r.stdout.trim().split("\n").pop()!);
  await fa.exited; // the source's console ends with the domain
  assert.not.match(xm(a, "list").stdout, new RegExp(name));
  assert.match(xm(b, "list").stdout, new RegExp(`${name}\\s+\\d+\\s+16\\s+1\\s+[rb]-----`));
  const fb = follow(b, name);
  assert.ok(await until(() => counts(fb.out).length >= 3), fb.out);
  fb.c.stdin.write("\x1d");
  await fb.exited;
  const all = [...counts(fa.out), ...counts(fb.out)];
  assert.equal(all, Array.from({ length: all.length }, (_, i) => i + 1), "no gap, no repeat: " + all.join(","));
  assert.match(fb.out, "resumed (0)");
  const sums = [...(fa.out + fb.out).matchAll(/memsum ([0-9a-f]+)/g)].map((m) => m[1]);
  assert.is(sums.length, 2);
  assert.is(sums[0], sums[1], "the guest's memory checksum");
  assert.is(xm(b, "destroy", name).status, 0);
  return sum;
}

let A: Xend, B: Xend;
test("xm migrate (not live) between two xend processes on loopback", async () => {
  A = await startXend("a", 18102);
  B = await startXend("b", 18103);
  const s = await roundTrip(A, B, "127.0.0.1:18103", false, "cnt1");
  console.log("  migrate (not live):", JSON.stringify(s));
  assert.is(s.live, false);
  assert.is(s.rounds, 1);
  assert.ok(s.pagesSent >= s.memPages, `${s.pagesSent} pages sent for ${s.memPages}`);
});

test.run();
