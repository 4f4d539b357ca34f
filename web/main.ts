// The page: an xterm.js terminal, the boot form, the disk form, and the Worker (worker.ts) that runs the
// host. Typed keys go to the worker (the domain's console input); its console output comes back to the
// terminal. The disk (xvda) lives in the origin-private file system: the worker makes and opens it.
import { Terminal } from "@xterm/xterm";
import type { ToWorker, FromWorker } from "./protocol";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const term = new Terminal({ convertEol: true, cols: 100, rows: 30, scrollback: 5000 });
term.open($("term"));
const status = (s: string) => { $("status").textContent = s; };
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === "console") term.write(m.bytes);
  else if (m.type === "status") status(m.text);
  else if (m.type === "bench") (globalThis as { benchResult?: unknown }).benchResult = m.result;
  else if (m.type === "disk") {
    $("disk-status").textContent = m.text;
    $("disk-status").className = m.error ? "error" : "";
    const attach = $<HTMLInputElement>("attach");
    attach.checked = m.present && (m.error ? attach.checked : true); // (an error keeps the choice made)
    attach.disabled = !m.present;
  }
};
worker.onerror = (e) => status(`worker error: ${e.message}`);
term.onData((d) => send({ type: "input", data: d }));

const file = async (id: string) => {
  const f = $<HTMLInputElement>(id).files?.[0]; return f ? await f.arrayBuffer() : undefined;
};
const boot = (m: Extract<ToWorker, { type: "boot" }>) => {
  document.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  term.focus();
  send(m, [m.kernel, m.ramdisk].filter((x): x is ArrayBuffer => !!x));
};
const attach = () => $<HTMLInputElement>("attach").checked;
$("bundled").onclick = () => boot({ type: "boot", bundled: true, cmdline: "stay=1", memoryMiB: 16, disk: attach() });
$("boot").onclick = async () => {
  const kernel = await file("kernel");
  if (!kernel) { status("choose a kernel first"); return; }
  boot({
    type: "boot", bundled: false, kernel, ramdisk: await file("initrd"), cmdline: $<HTMLInputElement>("cmdline").value,
    memoryMiB: Number($<HTMLInputElement>("memory").value), disk: attach()
  });
};
$("disk-create").onclick = () =>
  send({ type: "disk", action: "create", mib: Number($<HTMLInputElement>("disk-mib").value) });
$<HTMLInputElement>("disk-image").onchange = () => {
  const f = $<HTMLInputElement>("disk-image").files?.[0];
  if (f) {
    $("disk-status").textContent = `copying ${f.name} into the origin-private file system...`;
    send({ type: "disk", action: "import", file: f });
  }
};
send({ type: "disk", action: "info" });
// What the terminal shows, one string per line (tests/web.test.ts reads it).
(globalThis as { terminalLines?: () => string[] }).terminalLines = () => {
  const b = term.buffer.active, out: string[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? "");
  return out;
};
// For measurements (web/mips.mjs): the bare CPU benchmarks in the worker.
(globalThis as { bench?: (names: string[]) => void }).bench = (names) => send({ type: "bench", names });
status("ready: boot the bundled guest, or choose a kernel (and an initramfs)");
