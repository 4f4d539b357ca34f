// The Worker: the platform-neutral library (host/index.ts) with the core fetched from xenwasm.wasm. Boots
// the bundled guest or the kernel (and initramfs) the page sends, forwards the console both ways. The
// page's disk is a file of the origin-private file system (host/devices/block/opfs.ts), made empty or
// copied from an image the page chose; it outlives page reloads and is the guest's xvda when asked.
import {
  XenHost, runBare, setCoreModule, SHUTDOWN_NAMES, DS_RUNNING, openOpfsDisk, opfsDiskSize, importOpfsDisk,
  createOpfsDisk, opfsUnavailable,
  type BlockDevice,
} from "../host/index";
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

const DISK = "xvda.img"; // the page's disk in the origin-private file system
const size = (n: number) => n < 1048576 ? `${+(n / 1024).toFixed(1)} KiB` : `${+(n / 1048576).toFixed(2)} MiB`;
let busy = false; // a domain runs (it holds the disk) or a disk operation is under way

/** Tell the page what its disk is now (or why there is none or what went wrong). */
async function diskInfo(): Promise<void> {
  const why = opfsUnavailable();
  if (why) { post({ type: "disk", present: false, text: `no disk: ${why}`, error: true }); return; }
  const bytes = await opfsDiskSize(DISK);
  post({
    type: "disk", present: bytes !== undefined, text: bytes === undefined ? "no disk yet: create one or choose an image"
      : `xvda: ${DISK}, ${size(bytes)} (${Math.floor(bytes / 512)} `
      + `sectors), kept in this browser's origin-private file system`
  });
}

async function disk(m: Extract<ToWorker, { type: "disk" }>): Promise<void> {
  try {
    if (m.action !== "info") {
      if (busy) throw new Error("the disk is in use (reload the page to change it)");
      busy = true;
      try {
        if (m.action === "create") {
          if (!Number.isInteger(m.mib) || m.mib < 1 || m.mib > 4096)
            throw new Error(`a new disk's size is a whole number of MiB, 1 to 4096 (not ${m.mib})`);
          await createOpfsDisk(DISK, m.mib * 1048576);
        } else await importOpfsDisk(DISK, m.file);
      } finally { busy = false; }
    }
    await diskInfo();
  } catch (e) {
    let present = false; // (a refused image leaves the disk that was there as it was)
    try { present = !opfsUnavailable() && (await opfsDiskSize(DISK)) !== undefined; } catch { /* none, then */ }
    post({ type: "disk", present, text: `disk: ${(e as Error).message}`, error: true });
  }
}

async function boot(m: Extract<ToWorker, { type: "boot" }>): Promise<void> {
  let dev: BlockDevice | undefined;
  busy = true;
  try {
    if (m.disk) { status("opening the disk..."); dev = await openOpfsDisk(DISK); }
    status("loading the core...");
    const kernel =
      m.bundled ? new Uint8Array(await (await fetch("pv-hello-64.elf")).arrayBuffer()) : new Uint8Array(m.kernel!);
    host = await XenHost.create(Math.max(64, m.memoryMiB + 64));
    status("decompressing and building the domain...");
    const d = await host.createDomainAsync(m.bundled ? "hello" : "guest", kernel, {
      memoryMiB: m.memoryMiB, cmdline: m.cmdline, ...(m.ramdisk ? { ramdisk: new Uint8Array(m.ramdisk) } : {}),
      ...(dev ? { disks: [{ path: `opfs:${DISK}`, vdev: "xvda", writable: true, device: dev }] } : {}),
    });
    domid = d.domid;
    d.onConsole = (bytes) => post({ type: "console", bytes });
    status(`running domain ${domid} (${m.memoryMiB} MiB, ${d.bits}-bit${dev ? ", xvda" : ""})`);
    const h = host;
    let shown = 0;
    await h.runUntil(() => {
      feed();
      if (taken !== shown) {
        shown = taken; status(`running domain ${domid}: ${taken} typed bytes taken by its console`);
      }
      return h.state(domid) !== DS_RUNNING;
    });
    status(`domain ${domid} shut down (${SHUTDOWN_NAMES[h.shutdownReason(domid)] ?? h.shutdownReason(domid)})`);
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  } finally {
    try { dev?.close(); } catch (e) { status(`error: closing the disk: ${(e as Error).message}`); }
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
  else if (m.type === "disk") void disk(m);
};
