// The Worker: the platform-neutral library (host/index.ts) with the core fetched from xenwasm.wasm. Boots
// the bundled guest or the kernel (and initramfs) the page sends, forwards the console both ways.
import { XenHost, runBare, setCoreModule, SHUTDOWN_NAMES, DS_RUNNING } from "../host/index";
import type { ToWorker, FromWorker } from "./protocol";

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);
const status = (text: string) => post({ type: "status", text });
setCoreModule(fetch(new URL("xenwasm.wasm", self.location.href)));

let host: XenHost | undefined;
let domid = -1;
let typed: Uint8Array = new Uint8Array(0); // typed but not yet taken by the console ring
let taken = 0;
const enc = new TextEncoder();

/** Hand typed bytes to the domain's console ring (it holds 1 KiB; the rest waits for the next slice). */
function feed(): void {
  if (!host || domid < 0 || typed.length === 0) return;
  const n = host.consoleInput(domid, typed);
  typed = typed.subarray(n);
  taken += n;
}

async function boot(m: Extract<ToWorker, { type: "boot" }>): Promise<void> {
  try {
    status("loading the core...");
    const kernel = m.bundled ? new Uint8Array(await (await fetch("pv-hello-64.elf")).arrayBuffer()) : new Uint8Array(m.kernel!);
    host = await XenHost.create(Math.max(64, m.memoryMiB + 64));
    status("decompressing and building the domain...");
    const d = await host.createDomainAsync(m.bundled ? "hello" : "guest", kernel, {
      memoryMiB: m.memoryMiB, cmdline: m.cmdline, ...(m.ramdisk ? { ramdisk: new Uint8Array(m.ramdisk) } : {}),
    });
    domid = d.domid;
    d.onConsole = (bytes) => post({ type: "console", bytes });
    status(`running domain ${domid} (${m.memoryMiB} MiB, ${d.bits}-bit)`);
    const h = host;
    let shown = 0;
    await h.runUntil(() => {
      feed();
      if (taken !== shown) { shown = taken; status(`running domain ${domid}: ${taken} typed bytes taken by its console`); }
      return h.state(domid) !== DS_RUNNING;
    });
    status(`domain ${domid} shut down (${SHUTDOWN_NAMES[h.shutdownReason(domid)] ?? h.shutdownReason(domid)})`);
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  }
}

async function bench(names: string[]): Promise<void> {
  const result = [];
  for (const name of names) {
    const elf = new Uint8Array(await (await fetch(`bench/${name}-64.elf`)).arrayBuffer());
    await runBare(elf);
    const r = await runBare(elf); // the second, warm run (as bench:cpu)
    result.push({ name, instructions: r.instructions, seconds: r.seconds, mips: r.instructions / r.seconds / 1e6 });
  }
  post({ type: "bench", result });
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === "boot") void boot(m);
  else if (m.type === "input") {
    const b = enc.encode(m.data), all = new Uint8Array(typed.length + b.length);
    all.set(typed); all.set(b, typed.length);
    typed = all;
    feed();
    host?.wake(); // cut an idle sleep short: the guest may be waiting for this
  } else if (m.type === "bench") void bench(m.names);
};
