// The xm commands that talk to xend (host/xend/): each sends one typed request and prints the answer.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { request, attachConsole, XendUnavailable } from "../xend/client";
import type { Request, DomainRow, HostInfo, VcpuRow, Progress, DeviceRow } from "../xend/protocol";

export class XmError extends Error {}

export interface XmCommand {
  name: string;
  summary: string;
  usage: string;
  help: string;
  run(args: string[]): Promise<number>;
}

async function call(req: Request, onProgress?: (p: Progress["progress"]) => void): Promise<unknown> {
  let r;
  try { r = await request(req, undefined, onProgress); } catch (e) {
    if (e instanceof XendUnavailable) throw new XmError(e.message);
    throw new XmError((e as Error).message);
  }
  if (!r.ok) throw new XmError(r.error);
  return r.data;
}

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new XmError(`missing arguments (usage: ${usage})`);
}

/** Whether any of `names` is among the arguments, and the arguments without them. */
function takeFlag(args: string[], ...names: string[]): [boolean, string[]] {
  return [args.some((a) => names.includes(a)), args.filter((a) => !names.includes(a))];
}
function num(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new XmError(`${what}: not a number: ${s}`);
  return Number(s);
}

/** "512", "512M", "1G", "524288K" -> MiB */
function mib(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new XmError(`bad memory size ${s} (examples: 256, 256M, 1G)`);
  const v = Number(m[1]);
  const u = m[2].toUpperCase();
  return u === "G" ? v * 1024 : u === "K" ? Math.ceil(v / 1024) : v;
}

function table(rows: DomainRow[]): string {
  const lines = [`${"Name".padEnd(32)} ${"ID".padStart(5)} ${"Mem".padStart(6)} ${"VCPUs".padStart(5)}  State   ${"Time(s)".padStart(9)}`];
  for (const r of rows) lines.push(`${r.name.padEnd(32)} ${String(r.id).padStart(5)} ${String(r.memMiB).padStart(6)} ${String(r.vcpus).padStart(5)}  ${r.state}  ${r.cpuSeconds.toFixed(1).padStart(9)}`);
  return lines.join("\n") + "\n";
}

const simple = (name: string, summary: string, op: "destroy" | "pause" | "unpause"): XmCommand => ({
  name, summary, usage: `xm ${name} DOMAIN`, help: `${summary[0].toUpperCase()}${summary.slice(1)}. DOMAIN is a name or an id.`,
  async run(args) { need(args, 1, this.usage); await call({ op, dom: args[0] }); return 0; },
});

/** A progress bar on stderr when it is a terminal (nothing otherwise); `done()` ends its line. */
export function progressBar(out: NodeJS.WriteStream = process.stderr): { update: (p: Progress["progress"]) => void; done: () => void } {
  let shown = false;
  return {
    update(p) {
      if (!out.isTTY) return;
      const f = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
      const w = 30, n = Math.round(f * w);
      out.write(`\r${p.phase.padEnd(12)} [${"#".repeat(n)}${"-".repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%`);
      shown = true;
    },
    done() { if (shown) out.write("\n"); shown = false; },
  };
}

async function withProgress<T>(f: (p: (x: Progress["progress"]) => void) => Promise<T>): Promise<T> {
  const bar = progressBar();
  try { return await f(bar.update); } finally { bar.done(); }
}

async function waitGone(dom: string, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try { await call({ op: "state", dom }); } catch { return true; }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export const XEND_COMMANDS: XmCommand[] = [
  {
    name: "create", summary: "create a domain from a config file", usage: "xm create CFG [-c] [KEY=VALUE ...]",
    help: `Creates a domain from CFG (xm/xl syntax: name, kernel, ramdisk, extra/cmdline, memory, maxmem, vcpus,
disk, vif, on_poweroff/on_reboot/on_crash, ...). KEY=VALUE arguments override the file's settings.
  -c   attach to the domain's console right away (detach with Ctrl-])`,
    async run(args) {
      need(args, 1, this.usage);
      const [con, rest] = takeFlag(args, "-c");
      const file = rest[0];
      let text: string;
      try { text = readFileSync(file, "utf8"); } catch { throw new XmError(`cannot read ${file}`); }
      const r = await call({ op: "create", file, text, overrides: rest.slice(1) }) as { id: number; name: string };
      if (!con) { console.log(`Started domain ${r.name} (id=${r.id})`); return 0; }
      await attachConsole(String(r.id), process.stdin, process.stdout).catch((e) => { throw new XmError((e as Error).message); });
      return 0;
    },
  },
  {
    name: "list", summary: "list the domains", usage: "xm list [-l] [DOMAIN ...]",
    help: "Lists the domains: name, id, memory (MiB), vCPUs, state (r running, b blocked, p paused, s shut down,\nc crashed) and CPU time. -l prints everything known about each, as JSON.",
    async run(args) {
      const rows = await call({ op: "list" }) as DomainRow[];
      const names = args.filter((a) => a !== "-l");
      const sel = names.length ? rows.filter((r) => names.includes(r.name) || names.includes(String(r.id))) : rows;
      if (names.length && sel.length === 0) throw new XmError(`no such domain: ${names.join(" ")}`);
      process.stdout.write(args.includes("-l") ? JSON.stringify(sel, null, 2) + "\n" : table(sel));
      return 0;
    },
  },
  {
    name: "console", summary: "attach to a domain's console", usage: "xm console DOMAIN",
    help: "Attaches the terminal (raw mode) to DOMAIN's PV console, showing what it printed so far. Ctrl-] detaches.",
    async run(args) {
      need(args, 1, this.usage);
      await attachConsole(args[0], process.stdin, process.stdout).catch((e) => { throw new XmError((e as Error).message); });
      return 0;
    },
  },
  simple("destroy", "destroy a domain at once (its memory returns to the host)", "destroy"),
  simple("pause", "pause a domain", "pause"),
  simple("unpause", "unpause a paused domain", "unpause"),
  {
    name: "shutdown", summary: "ask a domain to shut down", usage: "xm shutdown DOMAIN [-w]",
    help: "Writes control/shutdown = poweroff for DOMAIN's kernel to act on. -w waits until the domain is gone.",
    async run(args) {
      need(args, 1, this.usage);
      const dom = args.find((a) => a !== "-w")!;
      await call({ op: "shutdown", dom });
      if (args.includes("-w") && !(await waitGone(dom, 60000))) throw new XmError(`${dom} did not shut down within 60 s`);
      return 0;
    },
  },
  {
    name: "reboot", summary: "ask a domain to reboot", usage: "xm reboot DOMAIN",
    help: "Writes control/shutdown = reboot for DOMAIN's kernel to act on.",
    async run(args) { need(args, 1, this.usage); await call({ op: "shutdown", dom: args[0], reboot: true }); return 0; },
  },
  {
    name: "info", summary: "show the host's information", usage: "xm info",
    help: "Shows the host: version, memory, domains.",
    async run() {
      const i = await call({ op: "info" }) as HostInfo;
      console.log(`host                   : xenwasm\nxen_version            : ${i.version}\ntotal_memory           : ${i.totalMiB}\nfree_memory            : ${i.freeMiB}\nnr_domains             : ${i.domains}\nxend_pid               : ${i.pid}\nuptime                 : ${i.uptime.toFixed(0)} s\nhypercalls             : ${i.hypercalls}`);
      return 0;
    },
  },
  {
    name: "dmesg", summary: "show the hypervisor's log", usage: "xm dmesg",
    help: "Shows the hypervisor's own log (domain crashes and their causes, ...).",
    async run() { process.stdout.write(String(await call({ op: "dmesg" }))); return 0; },
  },
  {
    name: "top", summary: "live view of the domains (CPU %, memory, vCPUs, state)", usage: "xm top [-b] [-d SECONDS] [-n ITERATIONS]",
    help: "Shows every domain's CPU use (percent of one host CPU since the last refresh), memory, vCPUs and state,\nrefreshed every -d seconds (default 1) until q or Ctrl-C; -b prints plain snapshots (for scripts), -n stops after N.",
    async run(args) {
      const batch = args.includes("-b") || !process.stdout.isTTY;
      const di = args.indexOf("-d"), ni = args.indexOf("-n");
      const delay = di >= 0 ? Number(args[di + 1]) : 1;
      const iters = ni >= 0 ? num(args[ni + 1], "-n") : batch ? 2 : Infinity;
      if (!(delay > 0)) throw new XmError("-d: a positive number of seconds");
      let prev = new Map<number, number>();
      let quit = false;
      if (!batch && process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.on("data", (b) => { if (b[0] === 0x71 || b[0] === 3) quit = true; });
      }
      for (let k = 0; k < iters && !quit; k++) {
        const rows = await call({ op: "list" }) as DomainRow[];
        const lines = [`${"NAME".padEnd(24)} ${"ID".padStart(4)} STATE   ${"CPU(%)".padStart(7)} ${"MEM(MiB)".padStart(9)} VCPUS`];
        for (const r of rows) {
          const p = prev.get(r.id);
          const pct = p === undefined ? 0 : ((r.cpuSeconds - p) / delay) * 100;
          lines.push(`${r.name.padEnd(24)} ${String(r.id).padStart(4)} ${r.state}  ${pct.toFixed(1).padStart(6)} ${String(r.memMiB).padStart(9)} ${String(r.vcpus).padStart(5)}`);
        }
        prev = new Map(rows.map((r) => [r.id, r.cpuSeconds]));
        process.stdout.write((batch ? "" : "\x1b[H\x1b[2J") + lines.join("\n") + "\n" + (batch ? "\n" : ""));
        if (k + 1 < iters) await new Promise((r) => setTimeout(r, delay * 1000));
      }
      if (!batch && process.stdin.isTTY) { process.stdin.setRawMode(false); process.stdin.pause(); }
      return 0;
    },
  },
  {
    name: "vcpu-list", summary: "list the vCPUs", usage: "xm vcpu-list [DOMAIN]",
    help: "Lists every vCPU (of DOMAIN, or of all domains) with its state and CPU time.",
    async run(args) {
      const rows = await call({ op: "vcpu-list", dom: args[0] }) as VcpuRow[];
      console.log(`${"Name".padEnd(32)} ${"ID".padStart(5)} VCPU State ${"Time(s)".padStart(9)}`);
      for (const r of rows) console.log(`${r.name.padEnd(32)} ${String(r.id).padStart(5)} ${String(r.vcpu).padStart(4)} ${r.state.padEnd(5)} ${r.cpuSeconds.toFixed(1).padStart(9)}`);
      return 0;
    },
  },
  {
    name: "mem-set", summary: "set a domain's memory target (balloon)", usage: "xm mem-set DOMAIN MEMORY",
    help: "Writes DOMAIN's balloon target (xenstore memory/target) for its balloon driver to follow. MEMORY in MiB (or 512M, 1G).",
    async run(args) { need(args, 2, this.usage); await call({ op: "mem-set", dom: args[0], mib: mib(args[1]) }); return 0; },
  },
  {
    name: "mem-max", summary: "set a domain's maximum memory", usage: "xm mem-max DOMAIN MEMORY",
    help: "Sets how much memory DOMAIN may have at most (its reservation limit). MEMORY in MiB (or 512M, 1G).",
    async run(args) { need(args, 2, this.usage); await call({ op: "mem-max", dom: args[0], mib: mib(args[1]) }); return 0; },
  },
  {
    name: "sched-credit", summary: "show or set the credit scheduler's weight and cap", usage: "xm sched-credit [-d DOMAIN [-w WEIGHT] [-c CAP]]",
    help: "Without -d, shows every domain's weight and cap. -w WEIGHT (1-65535, default 256) and -c CAP (percent of one\nCPU, 0 = no cap) set them for DOMAIN.",
    async run(args) {
      const get = (f: string) => { const i = args.indexOf(f); return i >= 0 ? args[i + 1] : undefined; };
      const dom = get("-d");
      const w = get("-w"), c = get("-c");
      const rows = await call({ op: "sched-credit", dom, weight: w === undefined ? undefined : num(w, "-w"), cap: c === undefined ? undefined : num(c, "-c") }) as { name: string; id: number; weight: number; cap: number }[];
      console.log(`${"Name".padEnd(32)} ${"ID".padStart(5)} ${"Weight".padStart(6)}  Cap`);
      for (const r of rows) console.log(`${r.name.padEnd(32)} ${String(r.id).padStart(5)} ${String(r.weight).padStart(6)} ${String(r.cap).padStart(4)}`);
      return 0;
    },
  },
  {
    name: "block-attach", summary: "attach a disk to a running domain", usage: "xm block-attach DOMAIN file:/path VDEV MODE",
    help: `Attaches the raw image /path (a file or block device; "file:", "phy:", "tap:aio:" or no prefix) to the
running DOMAIN as VDEV (xvdb, xvdc, ... or a device number; xvdb is device 51728), MODE r (read-only) or
w (read-write). The guest's blkfront sees the disk appear (xenstore device/vbd/DEVID) and connects. The
image must exist and be readable (writable for w), VDEV must be free in DOMAIN, and an image attached
writable may not be attached anywhere else. The domain's config keeps the disk (save, migrate, reboot).`,
    async run(args) {
      need(args, 4, this.usage);
      if (args.length > 4 && args[4] !== "0") throw new XmError(`block-attach: backend domain ${args[4]}: only Domain-0 (0) runs backends`);
      const m = /^(?:file:|phy:|tap:aio:|tap2:aio:|aio:|raw:)?(.+)$/.exec(args[1])!;
      if (/^[a-z0-9]+:/.test(m[1]) && !m[1].startsWith("/")) throw new XmError(`block-attach: unsupported disk ${args[1]} (file:/path to a raw image)`);
      const mode = args[3];
      if (!["r", "ro", "w", "rw"].includes(mode)) throw new XmError(`block-attach: MODE must be r or w (got ${JSON.stringify(mode)})`);
      await call({ op: "block-attach", dom: args[0], target: resolve(m[1]), vdev: args[2], writable: mode === "w" || mode === "rw" });
      return 0;
    },
  },
  {
    name: "block-detach", summary: "detach a disk from a running domain", usage: "xm block-detach DOMAIN VDEV [-f]",
    help: `Detaches VDEV (xvdb, or its device number as block-list shows it) from DOMAIN the Xen way: the backend
goes Closing, the guest's frontend closes it (within 10 s), then the grants are unmapped, the image is
closed and the xenstore nodes are removed. -f (--force) removes it without waiting for the guest.`,
    async run(args) {
      const [force, rest] = takeFlag(args, "-f", "--force");
      need(rest, 2, this.usage);
      await call({ op: "block-detach", dom: rest[0], vdev: rest[1], force });
      return 0;
    },
  },
  {
    name: "block-list", summary: "list a domain's disks", usage: "xm block-list [-l] DOMAIN",
    help: "Lists DOMAIN's virtual disks as xl does (device number, backend domain, frontend domain, backend state,\nevent channel, ring reference, backend path), with the device name. States: 1 Initialising, 2 InitWait,\n3 Initialised, 4 Connected, 5 Closing, 6 Closed. -l prints each disk as JSON, with the backend's counts of\nthe requests it served (requests) and of those that came with indirect descriptors (indirectRequests).",
    async run(args) {
      const [long, rest] = takeFlag(args, "-l");
      args = rest;
      need(args, 1, this.usage);
      const rows = await call({ op: "block-list", dom: args[0] }) as DeviceRow[];
      if (long) { process.stdout.write(JSON.stringify(rows, null, 2) + "\n"); return 0; }
      console.log(`${"Vdev".padEnd(5)} ${"Dev".padEnd(5)} ${"BE".padEnd(3)} ${"handle".padEnd(6)} ${"state".padEnd(5)} ${"evt-ch".padEnd(6)} ${"ring-ref".padEnd(8)} BE-path`);
      for (const r of rows) console.log(`${String(r.devid).padEnd(5)} ${(r.vdev ?? "").padEnd(5)} ${String(r.backend).padEnd(3)} ${String(r.frontend).padEnd(6)} ${String(r.state).padEnd(5)} ${String(r.evtch).padEnd(6)} ${String(r.ringRef).padEnd(8)} ${r.bePath}`);
      return 0;
    },
  },
  {
    name: "network-attach", summary: "attach a virtual NIC to a running domain", usage: "xm network-attach DOMAIN [mac=MAC] [bridge=BRIDGE]",
    help: `Attaches a new vif (the next free devid) to the running DOMAIN, a port on the host's bridge xenbr0. The
guest's netfront sees it appear (xenstore device/vif/DEVID) and connects. mac= must be a unicast address
not used on this host (default: a random 00:16:3e:XX:YY:ZZ). The domain's config keeps the vif.`,
    async run(args) {
      need(args, 1, this.usage);
      const o: { mac?: string; bridge?: string } = {};
      for (const a of args.slice(1)) {
        const m = /^([a-z]+)=(.*)$/.exec(a);
        if (!m || (m[1] !== "mac" && m[1] !== "bridge")) throw new XmError(`network-attach: unsupported argument ${JSON.stringify(a)} (mac=MAC, bridge=BRIDGE)`);
        o[m[1] as "mac" | "bridge"] = m[2];
      }
      await call({ op: "network-attach", dom: args[0], ...o });
      return 0;
    },
  },
  {
    name: "network-detach", summary: "detach a virtual NIC from a running domain", usage: "xm network-detach DOMAIN DEVID [-f]",
    help: `Detaches vif DEVID (or the one with that MAC) from DOMAIN the Xen way: the backend goes Closing, the
guest's frontend closes it (within 10 s), then the rings are unmapped, the vif leaves the bridge and the
xenstore nodes are removed. -f (--force) removes it without waiting for the guest.`,
    async run(args) {
      const [force, rest] = takeFlag(args, "-f", "--force");
      need(rest, 2, this.usage);
      await call({ op: "network-detach", dom: rest[0], dev: rest[1], force });
      return 0;
    },
  },
  {
    name: "network-list", summary: "list a domain's virtual NICs", usage: "xm network-list DOMAIN",
    help: "Lists DOMAIN's vifs as xl does (devid, backend domain, MAC, handle, backend state, event channel, tx/rx ring\nreferences, backend path). States: 1 Initialising, 2 InitWait, 3 Initialised, 4 Connected, 5 Closing, 6 Closed.",
    async run(args) {
      need(args, 1, this.usage);
      const rows = await call({ op: "network-list", dom: args[0] }) as DeviceRow[];
      console.log(`${"Idx".padEnd(3)} ${"BE".padEnd(2)} ${"Mac Addr.".padEnd(17)} ${"handle".padEnd(6)} ${"state".padEnd(5)} ${"evt-ch".padEnd(6)} ${"tx-".padStart(5)}/${"rx-ring-ref".padEnd(11)} BE-path`);
      for (const r of rows) console.log(`${String(r.devid).padEnd(3)} ${String(r.backend).padEnd(2)} ${(r.mac ?? "").padEnd(17)} ${String(r.devid).padStart(6)} ${String(r.state).padStart(5)} ${String(r.evtch).padStart(6)} ${String(r.txRef).padStart(5)}/${String(r.rxRef).padEnd(11)} ${r.bePath}`);
      return 0;
    },
  },
  {
    name: "save", summary: "save a domain's state to a file (the domain stops)", usage: "xm save DOMAIN FILE",
    help: `Asks DOMAIN's kernel to suspend itself (xenstore control/shutdown = "suspend"), writes its memory, vCPUs,
grant tables, xenstore nodes and config into FILE (mode 0600) and destroys it. If the save fails the
domain runs on (its suspend is cancelled). A progress bar is shown on a terminal.`,
    async run(args) {
      need(args, 2, this.usage);
      const file = resolve(args[1]);
      const r = await withProgress((p) => call({ op: "save", dom: args[0], file }, p)) as { bytes: number };
      console.log(`Saved ${args[0]} to ${file} (${(r.bytes / 1048576).toFixed(1)} MiB)`);
      return 0;
    },
  },
  {
    name: "restore", summary: "restore a domain from a file written by xm save", usage: "xm restore FILE [-p]",
    help: "Checks FILE (format, version, every record's checksum) before anything is created, then restores the\ndomain with its devices; it carries on where it was saved. -p leaves it paused.",
    async run(args) {
      need(args, 1, this.usage);
      const file = resolve(args.find((a) => a !== "-p")!);
      const r = await withProgress((p) => call({ op: "restore", file, paused: args.includes("-p") }, p)) as { id: number; name: string };
      console.log(`Restored domain ${r.name} (id=${r.id})`);
      return 0;
    },
  },
  {
    name: "migrate", summary: "move a domain to another host's xend", usage: "xm migrate [--live] DOMAIN HOST[:PORT]",
    help: `Sends DOMAIN to the xend on HOST (its relocation listener, port 8002 unless given). Without --live the
domain is suspended, sent and resumed there; with --live its memory is copied while it runs (rounds of the
pages it dirtied since the last), then it is suspended only for the last few pages. On any failure it runs
on here. Prints the rounds, pages sent and the downtime; --json prints them as one JSON line.
A listener beyond loopback needs XEND_RELOCATION_HOSTS_ALLOW and a shared XEND_RELOCATION_SECRET on both.`,
    async run(args) {
      const live = args.includes("--live") || args.includes("-l");
      const asJson = args.includes("--json");
      const rest = args.filter((a) => !a.startsWith("-"));
      need(rest, 2, this.usage);
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(rest[1]);
      if (!m) throw new XmError(`bad destination ${rest[1]} (HOST or HOST:PORT)`);
      const host = m[1].replace(/^\[|\]$/g, "");
      const port = m[2] ? Number(m[2]) : undefined;
      if (port !== undefined && !(port > 0 && port < 65536)) throw new XmError(`bad port ${m[2]}`);
      const s = await withProgress((p) => call({ op: "migrate", dom: rest[0], host, port, live }, p)) as {
        rounds: number; pagesSent: number; bytesSent: number; memPages: number; downtimeMs: number; totalMs: number; roundPages: number[];
      };
      if (asJson) console.log(JSON.stringify(s));
      else console.log(`Migrated ${rest[0]} to ${rest[1]}: ${s.rounds} round${s.rounds === 1 ? "" : "s"} (${s.roundPages.join(", ")} pages), ${(s.bytesSent / 1048576).toFixed(1)} MiB sent for ${(s.memPages / 256).toFixed(0)} MiB of memory, downtime ${s.downtimeMs.toFixed(1)} ms, total ${(s.totalMs / 1000).toFixed(2)} s`);
      return 0;
    },
  },
  {
    name: "sysrq", summary: "send a magic SysRq key to a domain", usage: "xm sysrq DOMAIN KEY",
    help: "Writes control/sysrq = KEY for DOMAIN's kernel.",
    async run(args) { need(args, 2, this.usage); await call({ op: "sysrq", dom: args[0], key: args[1] }); return 0; },
  },
  {
    name: "debug-keys", summary: "send debug keys to the hypervisor", usage: "xm debug-keys KEYS",
    help: `Types KEYS at the hypervisor, as on Xen's serial console; what they print goes to its log (xm dmesg).
h lists the keys; q dumps every domain and sends VIRQ_DEBUG to each vCPU; d dumps the vCPUs' registers;
e the event channels; r the scheduler's run queue; * all of them.`,
    async run(args) {
      need(args, 1, this.usage);
      const r = await call({ op: "debug-keys", keys: args.join("") }) as { handled: string };
      if (r.handled.length < args.join("").length) process.stderr.write(`xm: keys without a handler were ignored (xm debug-keys h lists them)\n`);
      return 0;
    },
  },
  {
    name: "virq-handler", summary: "show or set the domains handling the global VIRQs", usage: "xm virq-handler [VIRQ DOMAIN]",
    help: `Without arguments, lists the global VIRQs (dom_exc: a domain shut down or crashed; console: the
hypervisor's console has input, read with console_io CONSOLEIO_read) and the domain each goes to. With VIRQ
and DOMAIN, makes DOMAIN their handler (Xen's XEN_DOMCTL_set_virq_handler); Domain-0 (the host) is the
default. Refused while the current handler has the VIRQ bound.`,
    async run(args) {
      if (args.length === 1) throw new XmError(`missing arguments (usage: ${this.usage})`);
      const rows = await call({ op: "virq-handler", virq: args[0], dom: args[1] }) as { virq: string; nr: number; handler: string; id: number }[];
      console.log(`${"VIRQ".padEnd(10)} ${"NR".padStart(3)} HANDLER`);
      for (const r of rows) console.log(`${r.virq.padEnd(10)} ${String(r.nr).padStart(3)} ${r.handler} (${r.id})`);
      return 0;
    },
  },
  {
    name: "console-input", summary: "type into the hypervisor's console", usage: "xm console-input TEXT",
    help: `Types TEXT (\\n, \\r, \\t and \\\\ escapes) into the hypervisor's console: queued (128 bytes at most, as Xen's
serial ring) for the VIRQ_CONSOLE handler, which gets VIRQ_CONSOLE and reads it with CONSOLEIO_read.`,
    async run(args) {
      need(args, 1, this.usage);
      const text = args.join(" ").replace(/\\([nrt\\])/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : "\\"));
      const r = await call({ op: "console-input", text }) as { queued: number };
      if (r.queued < new TextEncoder().encode(text).length) process.stderr.write(`xm: the console's input ring is full: ${r.queued} bytes queued\n`);
      return 0;
    },
  },
];
