// VIRQs beyond the timer and the failsafe callback, both guest widths (guests/pv/virqs.c,
// guests/pv/failsafe.c): VIRQ_DEBUG from the 'q' debug key, VIRQ_DOM_EXC when another domain crashes,
// VIRQ_CONSOLE with console input read through CONSOLEIO_read, the handler rules of the global VIRQs;
// bad data selectors found when a vCPU is scheduled back in, bounced to the failsafe callback or, with
// none registered, crashing the domain. Also `xm debug-keys`, `xm virq-handler`, `xm console-input`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { XenHost } from "../host/pv/host";
import { guestPath, startGuest } from "./lib/pvrun";
import { DS_RUNNING, DS_SHUTDOWN } from "../assembly/records";
import { Xend } from "./lib/xmcli";

const VIRQ_DEBUG = 1, VIRQ_CONSOLE = 2, VIRQ_DOM_EXC = 3, EINVAL = -22, EBUSY = -16;

function start(host: XenHost, name: string, bits: 32 | 64, cmdline: string) {
  const chunks: string[] = [];
  const dom = host.createDomain(name, new Uint8Array(readFileSync(guestPath(name, bits))), { memoryMiB: 16, cmdline });
  dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
  return { dom, out: () => chunks.join("") };
}

async function until(host: XenHost, cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const t0 = Date.now();
  await host.runUntil(() => cond() || Date.now() - t0 > ms);
  if (!cond()) throw new Error(`timed out waiting for ${what}\n${host.dmesg()}`);
}

for (const bits of [64, 32] as const) {
  test(`VIRQ_DEBUG, VIRQ_DOM_EXC and VIRQ_CONSOLE reach their guests (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const x = host.core.x;
    const h = start(host, "virqs", bits, "role=handler");
    const fails = () => h.out().split("\n").filter((l) => l.startsWith("FAIL"));
    // Handler rules (Xen's set_global_virq_handler).
    assert.is(host.setVirqHandler(VIRQ_DEBUG, h.dom.domid), EINVAL, "VIRQ_DEBUG is not global");
    assert.is(host.setVirqHandler(VIRQ_DOM_EXC, 77), EINVAL, "no such domain");
    assert.is(host.setVirqHandler(99, h.dom.domid), EINVAL, "no such VIRQ");
    await until(host, () => /VIRQ_DEBUG -> port/.test(h.out()), "the guest to bind VIRQ_DEBUG");
    assert.is(host.setVirqHandler(VIRQ_DOM_EXC, h.dom.domid), 0);
    assert.is(host.setVirqHandler(VIRQ_CONSOLE, h.dom.domid), 0);
    assert.is(x.hv_virq_handler(VIRQ_DOM_EXC), h.dom.domid);
    await until(host, () => h.out().includes("virqs: ready"), "the guest to bind the global VIRQs");
    assert.equal(fails(), [], h.out());

    // Another domain may not bind them, nor read the console; then it crashes.
    const p = start(host, "virqs", bits, "role=plain");
    assert.is(host.setVirqHandler(VIRQ_DOM_EXC, p.dom.domid), EBUSY, "the handler has it bound");
    await until(host, () => host.state(p.dom.domid) === DS_SHUTDOWN, "the plain guest to crash");
    assert.match(p.out(), "virqs: plain PASSED", p.out());
    assert.is(host.shutdownReason(p.dom.domid), 3);
    await until(host, () => h.out().includes("VIRQ_DOM_EXC arrived"), "VIRQ_DOM_EXC");

    // The 'q' debug key: the domains in the log, VIRQ_DEBUG to every vCPU.
    assert.is(host.debugKeys("q"), "q");
    const log = host.dmesg();
    assert.match(log, "(XEN) 'q' pressed -> dumping domain info");
    assert.match(log, `General information for domain ${h.dom.domid}:`);
    assert.match(log, new RegExp(`Notifying guest ${h.dom.domid}:0 \\(virq 1, port \\d+\\)`));
    await until(host, () => h.out().includes("VIRQ_DEBUG arrived"), "VIRQ_DEBUG");

    // Console input: queued for CONSOLEIO_read, VIRQ_CONSOLE to the handler.
    assert.is(host.hvConsoleInput(new TextEncoder().encode("hello hypervisor\n")), 17);
    await until(host, () => host.state(h.dom.domid) !== DS_RUNNING, "the handler to finish");
    assert.match(h.out(), 'read "hello hypervisor\n"', h.out());
    assert.equal(fails(), [], h.out() + host.dmesg());
    assert.match(h.out(), "virqs: PASSED");
    assert.is(host.shutdownReason(h.dom.domid), 0);
    assert.is(x.hv_console_queued(), 0);

    // The handler gone, the host handles them again; a full ring drops input.
    host.destroyDomain(h.dom.domid);
    assert.is(x.hv_virq_handler(VIRQ_DOM_EXC), 0);
    assert.is(x.hv_virq_handler(VIRQ_CONSOLE), 0);
    assert.is(host.hvConsoleInput(new Uint8Array(200)), 128);
    assert.is(host.hvConsoleInput(new Uint8Array(1)), 0);
  });

  test(`a bad data selector found on reload goes to the failsafe callback with Xen's frame (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const spin = await startGuest(host, "spin", 64); // runs whenever the guest blocks: a vCPU switch each time
    const g = start(host, "failsafe", bits, "role=cb");
    await until(host, () => host.state(g.dom.domid) !== DS_RUNNING, "the failsafe guest");
    const out = g.out();
    assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], out + host.dmesg());
    assert.match(out, "failsafe: PASSED", out + host.dmesg());
    assert.is(host.shutdownReason(g.dom.domid), 0);
    assert.match(
      host.dmesg(), new RegExp(`d${g.dom.domid}v0: cannot reload ds 0x${bits === 64 ? 7 : 5}: failsafe callback at`)
    );
    host.destroyDomain(spin.dom.domid);
  });

  test(`with no failsafe callback a bad selector on reload crashes the domain (${bits}-bit)`, async () => {
    const host = await XenHost.create(256);
    const spin = await startGuest(host, "spin", 64);
    const g = start(host, "failsafe", bits, "role=none");
    await until(host, () => host.state(g.dom.domid) !== DS_RUNNING, "the failsafe guest");
    assert.match(g.out(), "waiting for the reload");
    assert.not.match(g.out(), "FAIL", g.out());
    assert.is(host.shutdownReason(g.dom.domid), 3, "crashed");
    const log = host.dmesg();
    assert.match(log, `(XEN) d${g.dom.domid}v0: cannot reload ds 0x${bits === 64 ? 7 : 5}: no failsafe callback`);
    assert.match(log, `(XEN) d${g.dom.domid}: domain crashed`);
    host.destroyDomain(spin.dom.domid);
  });
}

// ---- through xend and xm ----
const DIR = join(process.cwd(), "tests", "build", "virq-xend");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("xm debug-keys, xm virq-handler, xm console-input (through xend)", async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const X = await Xend.start({ socket: join(DIR, "run", "xend.sock"), memoryMiB: 256, relocation: "none" });
  const xm = (...args: string[]) => X.xm(...args);
  try {
    const cfg = (name: string, role: string) => {
      const f = join(DIR, `${name}.cfg`);
      writeFileSync(
        f, `name = "${name}"\nkernel = ` + `"${process.cwd()}/${guestPath("virqs", 64)}"\nmemory = `
          + `16\nextra = "role=${role}"\non_crash = "preserve"\n`
      );
      return f;
    };
    let r = xm("create", cfg("handler", "handler"));
    assert.is(r.status, 0, r.stderr);
    r = xm("debug-keys", "h");
    assert.is(r.status, 0, r.stderr);
    assert.match(xm("dmesg").stdout, "'h' pressed -> showing installed handlers");
    assert.match(xm("dmesg").stdout, "key 'q' (ascii '71') => dump domain (and guest debug) info");
    assert.match(xm("dmesg").stdout, "key 'j' (ascii '6a') => dump the JIT tier's figures");
    // 'j' (the host's key): the JIT's figures as one JSON object, counting the guest's instructions so far
    const jf = X.jitFigures() as { mode: string; steps?: number; dcache_fills: number } | null;
    const jl = JSON.stringify(jf);
    assert.ok(jf !== null, "no JIT figures in xm dmesg after xm debug-keys j");
    assert.ok(["off", "on", "force"].includes(jf.mode), jl);
    if (jf.mode !== "off") assert.ok((jf.steps ?? 0) > 0, jl);
    assert.ok(jf.dcache_fills > 0, jl);
    r = xm("virq-handler", "dom_exc", "handler");
    assert.is(r.status, 0, r.stderr);
    assert.is(xm("virq-handler", "console", "handler").status, 0);
    assert.match(xm("virq-handler").stdout, /dom_exc\s+3\s+handler/);
    r = xm("virq-handler", "timer", "handler");
    assert.is(r.status, 1);
    assert.match(r.stderr, /not a global VIRQ/);
    // The handler's console, attached for the rest of the test.
    let out = "";
    const con = spawn(process.execPath, ["bin/xm.js", "console", "handler"],
      { env: X.env, stdio: ["pipe", "pipe", "ignore"] });
    con.stdout!.on("data", (b: Buffer) => { out += b.toString().replace(/\r/g, ""); });
    for (let i = 0; i < 200 && !out.includes("virqs: ready"); i++) await sleep(50);
    assert.match(out, "virqs: ready", out);
    assert.is(xm("create", cfg("plain", "plain")).status, 0);
    for (let i = 0; i < 200 && !out.includes("VIRQ_DOM_EXC arrived"); i++) await sleep(50);
    assert.match(out, "VIRQ_DOM_EXC arrived", out);
    assert.is(xm("debug-keys", "q").status, 0);
    assert.match(xm("dmesg").stdout, "'q' pressed -> dumping domain info");
    assert.is(xm("console-input", "typed at xen\\n").status, 0);
    for (let i = 0; i < 200 && !out.includes("virqs: PASSED"); i++) await sleep(50);
    con.kill();
    assert.match(out, 'read "typed at xen\n"', out);
    assert.match(out, "virqs: PASSED", out + xm("dmesg").stdout);
  } finally {
    X.stop();
  }
});

test.run();
