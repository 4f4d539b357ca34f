// The xm commands that talk to xend (host/xend/): each sends one typed request and prints the answer.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { request, attachConsole, XendUnavailable } from "../xend/client";
import { MEMORY_MAX_MIB, parseConfig, parseDisk } from "../xend/config";
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

type Opts = Record<string, string | true | undefined>;

/**
 * getopt_long as xl uses it: `short` is getopt's string ("cpe:": -c and -p flags, -e with a value),
 * `long` maps long names to their short letter or to themselves ("live": "l", "json": "json"; a name
 * ending in ':' takes a value). Options may come before or after the arguments (-cp, -e X, -eX,
 * --name=V, --name V); "--" ends them. An unknown option, or one without its value, is an error.
 */
export function getopt(
  cmd: string, args: string[], short: string, long: Record<string, string> = {}
): { o: Opts; rest: string[] } {
  const o: Opts = {};
  const rest: string[] = [];
  const bad = (m: string): never => { throw new XmError(`${cmd}: ${m} (see \`xm help ${cmd}\`)`); };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") { rest.push(...args.slice(i + 1)); break; }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq >= 0 ? eq : undefined);
      const key = Object.keys(long).find((k) => k.replace(/:$/, "") === name);
      if (key === undefined) bad(`unknown option --${name}`);
      const id = long[key!].replace(/:$/, "");
      if (key!.endsWith(":")) {
        if (eq >= 0) o[id] = a.slice(eq + 1);
        else if (i + 1 < args.length) o[id] = args[++i];
        else bad(`option --${name} needs a value`);
      } else if (eq >= 0) bad(`option --${name} takes no value`);
      else o[id] = true;
    } else if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const at = short.indexOf(c);
        if (at < 0 || c === ":") bad(`unknown option -${c}`);
        if (short[at + 1] === ":") {
          if (j + 1 < a.length) o[c] = a.slice(j + 1);
          else if (i + 1 < args.length) o[c] = args[++i];
          else bad(`option -${c} needs a value`);
          break;
        }
        o[c] = true;
      }
    } else rest.push(a);
  }
  return { o, rest };
}

/** Exactly `min`..`max` arguments. */
function nargs(cmd: XmCommand, rest: string[], min: number, max = min): void {
  if (rest.length < min) throw new XmError(`missing arguments (usage: ${cmd.usage})`);
  if (rest.length > max) throw new XmError(`${cmd.name}: unexpected argument ${rest[max]} (usage: ${cmd.usage})`);
}

/** "^]" or "^a" (Ctrl-] / Ctrl-A) or one character: the byte `xm console -e` detaches on. */
function escapeByte(s: string): number {
  if (/^\^[@-_a-z]$/i.test(s)) return s.toUpperCase().charCodeAt(1) & 0x1f;
  if (s.length === 1 && s.charCodeAt(0) < 128) return s.charCodeAt(0);
  throw new XmError(`console: bad escape character ${JSON.stringify(s)} (as ^] or ^a)`);
}
function num(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new XmError(`${what}: not a number: ${s}`);
  return Number(s);
}

/** "512", "512M", "1G", "524288K" -> MiB (1 MiB to 1 TiB, as a config file's memory =) */
function mib(s: string): number {
  const m = /^(\d{1,16})([KMGT]?)$/i.exec(s);
  if (!m) throw new XmError(`bad memory size ${s} (examples: 256, 256M, 1G; 1 MiB to 1 TiB)`);
  const v = Number(m[1]);
  const u = m[2].toUpperCase();
  const r = u === "T" ? v * 1048576 : u === "G" ? v * 1024 : u === "K" ? Math.ceil(v / 1024) : v;
  if (r < 1 || r > MEMORY_MAX_MIB) throw new XmError(`bad memory size ${s}: 1 MiB to ${MEMORY_MAX_MIB / 1048576} TiB`);
  return r;
}

function table(rows: DomainRow[]): string {
  const lines = [
    `${"Name".padEnd(32)} ${"ID".padStart(5)} ` + `${"Mem".padStart(6)} ${"VCPUs".padStart(5)}  State   `
      + `${"Time(s)".padStart(9)}`
  ];
  for (const r of rows) lines.push(
    `${r.name.padEnd(32)} ${String(r.id).padStart(5)} ` + `${String(r.memMiB).padStart(6)} `
      + `${String(r.vcpus).padStart(5)}  ${r.state}  ` + `${r.cpuSeconds.toFixed(1).padStart(9)}`
  );
  return lines.join("\n") + "\n";
}

const simple = (name: string, summary: string, op: "destroy" | "pause" | "unpause"): XmCommand => ({
  name, summary, usage: `xm ${name}${op === "destroy" ? " [-f]" : ""} DOMAIN`,
  help: `${summary[0].toUpperCase()}${summary.slice(1)}. DOMAIN is a name or an id.`,
  async run(args) {
    const { rest } = getopt(name, args, op === "destroy" ? "f" : ""); nargs(this, rest, 1);
    await call({ op, dom: rest[0] }); return 0;
  },
});

/** The rows of `xm list` for the given domains (names or ids; all but Domain-0 when none, unless `dom0`). */
async function domains(sel: string[], dom0 = true): Promise<DomainRow[]> {
  const rows = await call({ op: "list" }) as DomainRow[];
  if (!sel.length) return dom0 ? rows : rows.filter((r) => r.id !== 0);
  return sel.map((n) => {
    const r = rows.find((x) => x.name === n || String(x.id) === n);
    if (!r) throw new XmError(`no such domain: ${n}`);
    return r;
  });
}

/** A domain as `xl list -l` prints it (libxl's libxl_domain_config in JSON). */
function libxlJson(r: DomainRow): object {
  const c = r.config;
  if (!c) return {
    domid: r.id, config: {
      c_info: { type: "pv", name: r.name },
      b_info: { max_vcpus: r.vcpus, max_memkb: r.memMiB * 1024, target_memkb: r.memMiB * 1024 }
    }
  };
  return {
    domid: r.id,
    config: {
      c_info: { type: "pv", name: c.name, ...(c.uuid ? { uuid: c.uuid } : {}) },
      b_info: {
        max_vcpus: c.maxvcpus ?? c.vcpus, avail_vcpus: [...Array(c.vcpus).keys()], max_memkb: c.maxmem * 1024,
        target_memkb: c.memory * 1024,
        sched_params: { sched: "credit", weight: r.weight, cap: r.cap },
        kernel: c.kernel, ...(c.cmdline !== undefined ? { cmdline: c.cmdline } : {}),
        ...(c.ramdisk ? { ramdisk: c.ramdisk } : {}),
        type: { pv: {} },
      },
      disks: c.disks.map(
        (k) =>
          ({ pdev_path: k.target, vdev: k.vdev, backend: "qdisk", format: k.format, readwrite: k.writable ? 1 : 0 })
      ),
      nics: c.vifs.map(
        (v) => ({
          devid: v.devid, mac: v.mac, bridge: "xenbr0", ...(v.ip ? { ip: v.ip } : {}),
          ...(v.model ? { model: v.model } : {})
        })
      ),
      on_poweroff: c.on_poweroff, on_reboot: c.on_reboot, on_watchdog: "destroy", on_crash: c.on_crash,
      on_soft_reset: "soft-reset",
    },
    // Not libxl's: what xm list shows, for scripts that want it as JSON.
    xenwasm: {
      state: r.state, mem_mib: r.memMiB, cpu_seconds: r.cpuSeconds, uptime: r.uptime,
      ...(r.shutdownReason ? { shutdown_reason: r.shutdownReason } : {})
    },
  };
}

/** "1 day, 2:03:04" / "2:03:04" as xl uptime prints it. */
function fmtUptime(sec: number): string {
  const s = Math.floor(sec), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
    m = Math.floor((s % 3600) / 60);
  const hms = `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return d ? `${d} day${d === 1 ? "" : "s"}, ${hms}` : hms;
}

/** A progress bar on stderr when it is a terminal (nothing otherwise); `done()` ends its line. */
export function progressBar(out: NodeJS.WriteStream = process.stderr): {
  update: (p: Progress["progress"]) => void; done: () => void
} {
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
    name: "create", summary: "create a domain from a config file",
    usage: "xm create [-c] [-e CHAR] [-p] [-q] [-n] CFG [KEY=VALUE ...]",
    help: `Creates a domain from CFG (xm/xl syntax: name, kernel, ramdisk, extra/cmdline, memory, maxmem, vcpus,
maxvcpus, disk, vif, on_poweroff/on_reboot/on_crash, ...). KEY=VALUE arguments override the file's settings.
A domain restarted by on_* = restart keeps its name between its two lives (commands naming it wait for the
new domain); after 10 restarts in a row, each less than a minute after the last, it is not restarted (xm dmesg).
Relative paths in CFG are taken from the current directory. Settings this build cannot honour are
warned about (bootloader=, vfb=, a bridge other than xenbr0) or refused (type = "hvm").
  -c        attach to the domain's console right away (its output from the first byte; detach with Ctrl-])
  -e CHAR   with -c: detach with CHAR instead (as ^a)
  -p        leave the domain paused (xm unpause starts it)
  -q        quiet: no "Started domain" line, no warnings
  -n        dry run: check CFG and print the domain's config as JSON; create nothing
  -f CFG    the config file (instead of the first argument)`,
    async run(args) {
      const { o, rest } = getopt(
        "create", args, "ce:pqnf:", { "console": "c", "paused": "p", "quiet": "q", "dryrun": "n", "defconfig:": "f" }
      );
      const file = typeof o.f === "string" ? o.f : rest.shift();
      if (file === undefined) throw new XmError(`missing arguments (usage: ${this.usage})`);
      const bad = rest.find((a) => !/^[A-Za-z_][A-Za-z0-9_]*\s*\+?=/.test(a));
      if (bad !== undefined)
        throw new XmError(`create: unexpected argument ${bad} (overrides are KEY=VALUE; usage: ${this.usage})`);
      let text: string;
      try { text = readFileSync(file, "utf8"); } catch (e) { const code = (e as NodeJS.ErrnoException).code;
        throw new XmError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : code ?? (e as Error).message}`);
      }
      if (o.n) {
        let c;
        try {
          c = parseConfig(text + "\n" + rest.join("\n"), file);
        } catch (e) { throw new XmError((e as Error).message); }
        for (const w of c.warnings) process.stderr.write(`xm: warning: ${w}\n`);
        const { warnings: _w, ...cfg } = c;
        console.log(JSON.stringify(cfg, null, 2));
        return 0;
      }
      const req: Request = { op: "create", file, text, overrides: rest, cwd: process.cwd(), paused: !!o.p };
      const warn = (r: { warnings?: string[] }) => {
        if (!o.q) for (const w of r.warnings ?? []) process.stderr.write(`xm: warning: ${w}\n`);
      };
      if (!o.c) {
        const r = await call(req) as { id: number; name: string; warnings?: string[] };
        warn(r);
        if (!o.q) console.log(`Started domain ${r.name} (id=${r.id})`);
        return 0;
      }
      const esc = typeof o.e === "string" ? escapeByte(o.e) : undefined;
      await attachConsole(
        { ...req, console: true }, process.stdin, process.stdout, undefined, esc
      ).then((r) => warn(r as { warnings?: string[] }), (e) => { throw new XmError((e as Error).message); });
      return 0;
    },
  },
  {
    name: "list", summary: "list the domains", usage: "xm list [-l] [DOMAIN ...]",
    help: "Lists the domains: name, id, memory (MiB), the vCPUs up, state (r "
      + "running, b blocked, p paused, s shut down,\nc crashed) and "
      + "CPU time. -l (--long) prints each as xl does, JSON in "
      + "libxl's shape: domid and config\n(c_info, b_info, disks, "
      + "nics, on_poweroff/on_reboot/on_crash), plus xenwasm's " + "state, memory, CPU time, uptime.",
    async run(args) {
      const { o, rest } = getopt("list", args, "l", { long: "l" });
      const sel = await domains(rest);
      process.stdout.write(
        o.l ? JSON.stringify(sel.filter((r) => r.id !== 0 || rest.length).map(libxlJson), null, 2) + "\n" : table(sel)
      );
      return 0;
    },
  },
  {
    name: "console", summary: "attach to a domain's console", usage: "xm console [-e CHAR] [-t pv] [-n 0] DOMAIN",
    help: "Attaches the terminal (raw mode) to DOMAIN's PV console, "
      + "showing what it printed so far. Ctrl-] detaches,\nor CHAR "
      + "given with -e (as ^a). -t and -n choose the console: only " + "the PV console 0 exists.",
    async run(args) {
      const { o, rest } = getopt("console", args, "e:t:n:");
      nargs(this, rest, 1);
      if (o.t !== undefined && o.t !== "pv") throw new XmError(`console: -t ${o.t}: only the PV console exists here`);
      if (o.n !== undefined && o.n !== "0") throw new XmError(`console: -n ${o.n}: only console 0 exists here`);
      const esc = typeof o.e === "string" ? escapeByte(o.e) : undefined;
      await attachConsole(
        rest[0], process.stdin, process.stdout, undefined, esc
      ).catch((e) => { throw new XmError((e as Error).message); });
      return 0;
    },
  },
  simple("destroy", "destroy a domain at once (its memory returns to the host)", "destroy"),
  simple("pause", "pause a domain", "pause"),
  simple("unpause", "unpause a paused domain", "unpause"),
  ...(["shutdown", "reboot"] as const).map((name): XmCommand => ({
    name, summary: `ask a domain to ${name === "shutdown" ? "shut down" : "reboot"}`,
    usage: `xm ${name} [-w] [-F] (-a | DOMAIN)`,
    help: `Writes control/shutdown = ${name === "shutdown" ? "poweroff" : "reboot"} for DOMAIN's kernel to act on.
-a (--all): every domain. -w (--wait) waits until ${name === "shutdown" ? "the domain is gone"
  : "the domain has rebooted (it gets a new id)"}. -F is accepted (no HVM guests here).`,
    async run(args) {
      const { o, rest } = getopt(name, args, "awF", { all: "a", wait: "w" });
      if (o.a) nargs(this, rest, 0); else nargs(this, rest, 1);
      const targets = o.a ? (await domains([], false)) : await domains(rest);
      for (const t of targets) await call({ op: "shutdown", dom: String(t.id), reboot: name === "reboot" });
      if (o.w) {
        for (const t of targets) if (!(await waitGone(String(t.id), 60000)))
          throw new XmError(`${t.name} did not ${name === "shutdown" ? "shut down" : "reboot"} within 60 s`);
        if (!o.a || targets.length)
          console.log(`${targets.map((t) => t.name).join(", ")}: ${name === "shutdown" ? "shut down" : "rebooted"}`);
      }
      return 0;
    },
  })),
  {
    name: "info", summary: "show the host's information", usage: "xm info",
    help: "Shows the host as xl info does (its field names: host, "
      + "total_memory, free_memory, xen_major, xen_minor,\nxen_caps, "
      + "nr_cpus, ...), then xenwasm's own: nr_domains, xend_pid, " + "uptime, hypercalls.",
    async run(args) {
      nargs(this, getopt("info", args, "").rest, 0);
      const i = await call({ op: "info" }) as HostInfo;
      const rows = i.xl ?? [
        ["xen_version", i.version], ["total_memory", i.totalMiB], ["free_memory", i.freeMiB], ["nr_domains", i.domains]
      ];
      console.log(rows.map(([k, v]) => `${k.padEnd(23)}: ${v}`).join("\n"));
      return 0;
    },
  },
  {
    name: "dmesg", summary: "show the hypervisor's log", usage: "xm dmesg [-c]",
    help: "Shows the hypervisor's own log: domains created, shut down "
      + "(and why), crashed (and the cause), destroyed,\nand what "
      + "debug keys print. -c (--clear) clears it after showing it.",
    async run(args) {
      const { o, rest } = getopt("dmesg", args, "c", { clear: "c" });
      nargs(this, rest, 0);
      process.stdout.write(String(await call({ op: "dmesg", clear: !!o.c })));
      return 0;
    },
  },
  {
    name: "uptime", summary: "show how long the domains have run", usage: "xm uptime [-s] [DOMAIN ...]",
    help: "Shows each domain's uptime (Domain-0's is xend's) as xl "
      + "does; -s (--short) prints one line each without the header.",
    async run(args) {
      const { o, rest } = getopt("uptime", args, "s", { short: "s" });
      const rows = await domains(rest);
      if (!o.s) console.log(`${"Name".padEnd(32)} ${"ID".padStart(5)} Uptime`);
      for (const r of rows) console.log(
        o.s ? `${r.name} ${r.id} ${fmtUptime(r.uptime)}`
          : `${r.name.padEnd(32)} ${String(r.id).padStart(5)} ${fmtUptime(r.uptime)}`
      );
      return 0;
    },
  },
  {
    name: "domid", summary: "print a domain's id", usage: "xm domid NAME",
    help: "Prints the id of the domain named NAME.",
    async run(args) {
      const { rest } = getopt("domid", args, ""); nargs(this, rest, 1);
      const r = (await call({ op: "list" }) as DomainRow[]).find((x) => x.name === rest[0]);
      if (!r) throw new XmError(`no such domain: ${rest[0]}`);
      console.log(r.id);
      return 0;
    },
  },
  {
    name: "domname", summary: "print a domain's name", usage: "xm domname ID",
    help: "Prints the name of the domain with id ID.",
    async run(args) {
      const { rest } = getopt("domname", args, ""); nargs(this, rest, 1);
      const id = num(rest[0], "domname");
      const r = (await call({ op: "list" }) as DomainRow[]).find((x) => x.id === id);
      if (!r) throw new XmError(`no such domain: ${rest[0]}`);
      console.log(r.name);
      return 0;
    },
  },
  {
    name: "rename", summary: "rename a domain", usage: "xm rename DOMAIN NEWNAME",
    help: "Gives DOMAIN the name NEWNAME (a config file's rules; not one in use). Its xenstore name follows.",
    async run(args) {
      const { rest } = getopt("rename", args, ""); nargs(this, rest, 2);
      await call({ op: "rename", dom: rest[0], name: rest[1] });
      return 0;
    },
  },
  {
    name: "top", summary: "live view of the domains (CPU %, memory, vCPUs, state)",
    usage: "xm top [-b] [-d SECONDS] [-n ITERATIONS]",
    help: "Shows every domain's CPU use (percent of one host CPU since "
      + "the last refresh), memory, vCPUs and state,\nrefreshed "
      + "every -d seconds (default 1) until q or Ctrl-C; -b prints "
      + "plain snapshots (for scripts), -n stops after N.",
    async run(args) {
      const { o, rest } = getopt("top", args, "bd:n:", { batch: "b", "delay:": "d", "iterations:": "n" });
      nargs(this, rest, 0);
      const batch = !!o.b || !process.stdout.isTTY;
      const delay = typeof o.d === "string" ? Number(o.d) : 1;
      const iters = typeof o.n === "string" ? num(o.n, "-n") : batch ? 2 : Infinity;
      if (!(delay > 0)) throw new XmError("-d: a positive number of seconds");
      let prev = new Map<number, number>();
      let quit = false;
      if (!batch && process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.on("data", (b) => { if (b[0] === 0x71 || b[0] === 3) quit = true; });
      }
      for (let k = 0; k < iters && !quit; k++) {
        const rows = await call({ op: "list" }) as DomainRow[];
        const lines =
          [`${"NAME".padEnd(24)} ${"ID".padStart(4)} STATE   ${"CPU(%)".padStart(7)} ${"MEM(MiB)".padStart(9)} VCPUS`];
        for (const r of rows) {
          const p = prev.get(r.id);
          const pct = p === undefined ? 0 : ((r.cpuSeconds - p) / delay) * 100;
          lines.push(
            `${r.name.padEnd(24)} ${String(r.id).padStart(4)} ` + `${r.state}  ${pct.toFixed(1).padStart(6)} `
              + `${String(r.memMiB).padStart(9)} ` + `${String(r.vcpus).padStart(5)}`
          );
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
      const { rest } = getopt("vcpu-list", args, ""); nargs(this, rest, 0, 1);
      const rows = await call({ op: "vcpu-list", dom: rest[0] }) as VcpuRow[];
      console.log(`${"Name".padEnd(32)} ${"ID".padStart(5)} VCPU State ${"Time(s)".padStart(9)}`);
      for (const r of rows) console.log(
        `${r.name.padEnd(32)} ${String(r.id).padStart(5)} ` + `${String(r.vcpu).padStart(4)} ${r.state.padEnd(5)} `
          + `${r.cpuSeconds.toFixed(1).padStart(9)}`
      );
      return 0;
    },
  },
  {
    name: "vcpu-set", summary: "set how many vCPUs a domain may use", usage: "xm vcpu-set DOMAIN VCPUS",
    help: "Makes vCPUs 0..VCPUS-1 of DOMAIN available to it and the others not (xenstore cpu/N/availability, "
      + "as xl does for a PV guest): Linux takes the others down at once, and brings an available one back "
      + "when its user space onlines it (/sys/devices/system/cpu/cpuN/online). VCPUS: 1 to its maxvcpus "
      + "(default vcpus).",
    async run(args) {
      const { rest } = getopt("vcpu-set", args, ""); nargs(this, rest, 2);
      if (!/^[0-9]{1,3}$/.test(rest[1])) throw new XmError(`bad vCPU count ${rest[1]} (a whole number, 1 or more)`);
      await call({ op: "vcpu-set", dom: rest[0], count: Number(rest[1]) }); return 0;
    },
  },
  {
    name: "mem-set", summary: "set a domain's memory target (balloon)", usage: "xm mem-set DOMAIN MEMORY",
    help: "Writes DOMAIN's balloon target (xenstore memory/target) for "
      + "its balloon driver to follow. MEMORY in MiB (or 512M, 1G).",
    async run(args) {
      const { rest } = getopt("mem-set", args, ""); nargs(this, rest, 2);
      await call({ op: "mem-set", dom: rest[0], mib: mib(rest[1]) }); return 0;
    },
  },
  {
    name: "mem-max", summary: "set a domain's maximum memory", usage: "xm mem-max DOMAIN MEMORY",
    help: "Sets how much memory DOMAIN may have at most (its reservation limit). MEMORY in MiB (or 512M, 1G).",
    async run(args) {
      const { rest } = getopt("mem-max", args, ""); nargs(this, rest, 2);
      await call({ op: "mem-max", dom: rest[0], mib: mib(rest[1]) }); return 0;
    },
  },
  {
    name: "sched-credit", summary: "show or set the credit scheduler's weight and cap",
    usage: "xm sched-credit [-d DOMAIN [-w WEIGHT] [-c CAP]]",
    help: "Without -d, shows every domain's weight and cap. -w WEIGHT "
      + "(1-65535, default 256) and -c CAP (percent of one\nCPU, 0 = " + "no cap) set them for DOMAIN.",
    async run(args) {
      const { o, rest } = getopt("sched-credit", args, "d:w:c:", { "domain:": "d", "weight:": "w", "cap:": "c" });
      nargs(this, rest, 0);
      const dom = o.d as string | undefined, w = o.w as string | undefined, c = o.c as string | undefined;
      if ((w !== undefined || c !== undefined) && dom === undefined)
        throw new XmError("sched-credit: -w and -c need -d DOMAIN");
      const rows = await call({
        op: "sched-credit", dom, weight: w === undefined ? undefined : num(w, "-w"),
        cap: c === undefined ? undefined : num(c, "-c")
      }) as { name: string; id: number; weight: number; cap: number }[];
      console.log(`${"Name".padEnd(32)} ${"ID".padStart(5)} ${"Weight".padStart(6)}  Cap`);
      for (const r of rows) console.log(
        `${r.name.padEnd(32)} ${String(r.id).padStart(5)} ${String(r.weight).padStart(6)} ${String(r.cap).padStart(4)}`
      );
      return 0;
    },
  },
  {
    name: "block-attach", summary: "attach a disk to a running domain",
    usage: "xm block-attach DOMAIN DISKSPEC | xm block-attach DOMAIN file:/path VDEV MODE [0]",
    help: `Attaches a raw image to the running DOMAIN. DISKSPEC is a config file's disk entry, as xl takes it:
'file:/path,xvdb,w' (or its parts as separate arguments, or 'vdev=xvdb,access=rw,target=/path'). /path is a
file or block device ("file:", "phy:", "tap:aio:" or no prefix), relative to the current directory; VDEV
xvdb, xvdc, ... or a device number (xvdb is 51728); MODE r (read-only) or w (read-write). The guest's
blkfront sees the disk appear (xenstore device/vbd/DEVID) and connects. The image must exist and be
readable (writable for w), VDEV must be free in DOMAIN, and an image attached writable may not be
attached anywhere else (nor twice). The domain's config keeps the disk (save, migrate, reboot).`,
    async run(args) {
      const { rest } = getopt("block-attach", args, "");
      nargs(this, rest, 2, 5);
      let parts = rest.slice(1);
      if (parts.length === 4) {
        if (parts[3] !== "0" && parts[3] !== "Domain-0")
          throw new XmError(`block-attach: backend domain ${parts[3]}: only Domain-0 (0) runs backends`);
        parts = parts.slice(0, 3);
      }
      let d;
      try {
        d = parseDisk(parts.join(","), { fail: (m: string) => { throw new XmError(`block-attach: ${m}`); } });
      } catch (e) { throw e instanceof XmError ? e : new XmError(`block-attach: ${(e as Error).message}`); }
      await call({ op: "block-attach", dom: rest[0], target: resolve(d.target), vdev: d.vdev, writable: d.writable });
      return 0;
    },
  },
  {
    name: "block-detach", summary: "detach a disk from a running domain", usage: "xm block-detach DOMAIN VDEV [-f]",
    help: `Detaches VDEV (xvdb, or its device number as block-list shows it) from DOMAIN the Xen way: the backend
goes Closing, the guest's frontend closes it (within 10 s), then the grants are unmapped, the image is
closed and the xenstore nodes are removed. -f (--force) removes it without waiting for the guest.`,
    async run(args) {
      const { o, rest } = getopt("block-detach", args, "f", { force: "f" });
      nargs(this, rest, 2);
      await call({ op: "block-detach", dom: rest[0], vdev: rest[1], force: !!o.f });
      return 0;
    },
  },
  {
    name: "block-list", summary: "list a domain's disks", usage: "xm block-list [-l] DOMAIN",
    help: "Lists DOMAIN's virtual disks as xl does (device number, "
      + "backend domain, frontend domain, backend state,\nevent "
      + "channel, ring reference, backend path), with the device "
      + "name. States: 1 Initialising, 2 InitWait,\n3 Initialised, 4 "
      + "Connected, 5 Closing, 6 Closed. -l prints each disk as "
      + "JSON, with the backend's counts of\nthe requests it served "
      + "(requests) and of those that came with indirect descriptors " + "(indirectRequests).",
    async run(args) {
      const { o, rest } = getopt("block-list", args, "l", { long: "l" });
      const long = !!o.l;
      args = rest;
      nargs(this, args, 1);
      const rows = await call({ op: "block-list", dom: args[0] }) as DeviceRow[];
      if (long) { process.stdout.write(JSON.stringify(rows, null, 2) + "\n"); return 0; }
      console.log(
        `${"Vdev".padEnd(5)} ${"Dev".padEnd(5)} ${"BE".padEnd(3)} ` + `${"handle".padEnd(6)} ${"state".padEnd(5)} `
          + `${"evt-ch".padEnd(6)} ${"ring-ref".padEnd(8)} BE-path`
      );
      for (const r of rows) console.log(
        `${String(r.devid).padEnd(5)} ${(r.vdev ?? "").padEnd(5)} ` + `${String(r.backend).padEnd(3)} `
          + `${String(r.frontend).padEnd(6)} ` + `${String(r.state).padEnd(5)} ${String(r.evtch).padEnd(6)} `
          + `${String(r.ringRef).padEnd(8)} ${r.bePath}`
      );
      return 0;
    },
  },
  {
    name: "network-attach", summary: "attach a virtual NIC to a running domain",
    usage: "xm network-attach DOMAIN [mac=MAC] [bridge=BRIDGE]",
    help: `Attaches a new vif (the next free devid) to the running DOMAIN, a port on the host's bridge xenbr0. The
guest's netfront sees it appear (xenstore device/vif/DEVID) and connects. mac= must be a unicast address
not used on this host (default: a random 00:16:3e:XX:YY:ZZ). The domain's config keeps the vif.`,
    async run(args) {
      args = getopt("network-attach", args, "").rest;
      need(args, 1, this.usage);
      const o: { mac?: string; bridge?: string } = {};
      for (const a of args.slice(1)) {
        const m = /^([a-z]+)=(.*)$/.exec(a);
        if (!m || (m[1] !== "mac" && m[1] !== "bridge"))
          throw new XmError(`network-attach: unsupported argument ${JSON.stringify(a)} (mac=MAC, bridge=BRIDGE)`);
        o[m[1] as "mac" | "bridge"] = m[2];
      }
      await call({ op: "network-attach", dom: args[0], ...o });
      return 0;
    },
  },
  {
    name: "network-detach", summary: "detach a virtual NIC from a running domain",
    usage: "xm network-detach DOMAIN DEVID [-f]",
    help: `Detaches vif DEVID (or the one with that MAC) from DOMAIN the Xen way: the backend goes Closing, the
guest's frontend closes it (within 10 s), then the rings are unmapped, the vif leaves the bridge and the
xenstore nodes are removed. -f (--force) removes it without waiting for the guest.`,
    async run(args) {
      const { o, rest } = getopt("network-detach", args, "f", { force: "f" });
      nargs(this, rest, 2);
      await call({ op: "network-detach", dom: rest[0], dev: rest[1], force: !!o.f });
      return 0;
    },
  },
  {
    name: "network-list", summary: "list a domain's virtual NICs", usage: "xm network-list DOMAIN",
    help: "Lists DOMAIN's vifs as xl does (devid, backend domain, MAC, "
      + "handle, backend state, event channel, tx/rx " + "ring\nreferences, backend path). States: 1 Initialising, 2 "
      + "InitWait, 3 Initialised, 4 Connected, 5 Closing, 6 Closed.",
    async run(args) {
      args = getopt("network-list", args, "").rest;
      nargs(this, args, 1);
      const rows = await call({ op: "network-list", dom: args[0] }) as DeviceRow[];
      console.log(
        `${"Idx".padEnd(3)} ${"BE".padEnd(2)} ` + `${"Mac Addr.".padEnd(17)} ${"handle".padEnd(6)} `
          + `${"state".padEnd(5)} ${"evt-ch".padEnd(6)} ` + `${"tx-".padStart(5)}/${"rx-ring-ref".padEnd(11)} BE-path`
      );
      for (const r of rows) console.log(
        `${String(r.devid).padEnd(3)} ${String(r.backend).padEnd(2)} `
          + `${(r.mac ?? "").padEnd(17)} ${String(r.devid).padStart(6)} ` + `${String(r.state).padStart(5)} `
          + `${String(r.evtch).padStart(6)} ` + `${String(r.txRef).padStart(5)}/${String(r.rxRef).padEnd(11)} `
          + `${r.bePath}`
      );
      return 0;
    },
  },
  {
    name: "save", summary: "save a domain's state to a file (the domain stops)", usage: "xm save DOMAIN FILE",
    help: `Asks DOMAIN's kernel to suspend itself (xenstore control/shutdown = "suspend"), writes its memory, vCPUs,
grant tables, xenstore nodes and config into FILE (mode 0600) and destroys it. If the save fails the
domain runs on (its suspend is cancelled). A progress bar is shown on a terminal.`,
    async run(args) {
      args = getopt("save", args, "").rest;
      nargs(this, args, 2);
      const file = resolve(args[1]);
      const r = await withProgress((p) => call({ op: "save", dom: args[0], file }, p)) as { bytes: number };
      console.log(`Saved ${args[0]} to ${file} (${(r.bytes / 1048576).toFixed(1)} MiB)`);
      return 0;
    },
  },
  {
    name: "restore", summary: "restore a domain from a file written by xm save", usage: "xm restore FILE [-p]",
    help: "Checks FILE (format, version, every record's checksum) "
      + "before anything is created, then restores the\ndomain with "
      + "its devices; it carries on where it was saved. -p leaves it " + "paused.",
    async run(args) {
      const { o, rest } = getopt("restore", args, "p", { paused: "p" });
      nargs(this, rest, 1);
      const file = resolve(rest[0]);
      const r =
        await withProgress((p) => call({ op: "restore", file, paused: !!o.p }, p)) as { id: number; name: string };
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
      const { o, rest } = getopt("migrate", args, "l", { live: "l", json: "json" });
      const live = !!o.l, asJson = !!o.json;
      nargs(this, rest, 2);
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(rest[1]);
      if (!m) throw new XmError(`bad destination ${rest[1]} (HOST or HOST:PORT)`);
      const host = m[1].replace(/^\[|\]$/g, "");
      const port = m[2] ? Number(m[2]) : undefined;
      if (port !== undefined && !(port > 0 && port < 65536)) throw new XmError(`bad port ${m[2]}`);
      const s = await withProgress((p) => call({ op: "migrate", dom: rest[0], host, port, live }, p)) as {
        rounds: number; pagesSent: number; bytesSent: number; memPages: number; downtimeMs: number; totalMs: number;
        roundPages: number[];
      };
      if (asJson) console.log(JSON.stringify(s));
      else console.log(
        `Migrated ${rest[0]} to ${rest[1]}: ${s.rounds} ` + `round${s.rounds === 1 ? "" : "s"} `
          + `(${s.roundPages.join(", ")} pages), ` + `${(s.bytesSent / 1048576).toFixed(1)} MiB sent for `
          + `${(s.memPages / 256).toFixed(0)} MiB of memory, downtime ` + `${s.downtimeMs.toFixed(1)} ms, total `
          + `${(s.totalMs / 1000).toFixed(2)} s`
      );
      return 0;
    },
  },
  {
    name: "sysrq", summary: "send a magic SysRq key to a domain", usage: "xm sysrq DOMAIN KEY",
    help: "Writes control/sysrq = KEY for DOMAIN's kernel.",
    async run(args) {
      const { rest } = getopt("sysrq", args, ""); nargs(this, rest, 2);
      await call({ op: "sysrq", dom: rest[0], key: rest[1] }); return 0;
    },
  },
  {
    name: "debug-keys", summary: "send debug keys to the hypervisor", usage: "xm debug-keys KEYS",
    help: `Types KEYS at the hypervisor, as on Xen's serial console; what they print goes to its log (xm dmesg).
h lists the keys; q dumps every domain and sends VIRQ_DEBUG to each vCPU; d dumps the vCPUs' registers;
e the event channels; r the scheduler's run queue; * all of them.`,
    async run(args) {
      need(args, 1, this.usage);
      const r = await call({ op: "debug-keys", keys: args.join("") }) as { handled: string };
      if (r.handled.length < args.join("").length)
        process.stderr.write(`xm: keys without a handler were ignored (xm debug-keys h lists them)\n`);
      return 0;
    },
  },
  {
    name: "virq-handler", summary: "show or set the domains handling the global VIRQs",
    usage: "xm virq-handler [VIRQ DOMAIN]",
    help: `Without arguments, lists the global VIRQs (dom_exc: a domain shut down or crashed; console: the
hypervisor's console has input, read with console_io CONSOLEIO_read) and the domain each goes to. With VIRQ
and DOMAIN, makes DOMAIN their handler (Xen's XEN_DOMCTL_set_virq_handler); Domain-0 (the host) is the
default. Refused while the current handler has the VIRQ bound.`,
    async run(args) {
      args = getopt("virq-handler", args, "").rest;
      if (args.length === 1) throw new XmError(`missing arguments (usage: ${this.usage})`);
      nargs(this, args, 0, 2);
      const rows = await call({
        op: "virq-handler", virq: args[0], dom: args[1]
      }) as { virq: string; nr: number; handler: string; id: number }[];
      console.log(`${"VIRQ".padEnd(10)} ${"NR".padStart(3)} HANDLER`);
      for (const r of rows) console.log(`${r.virq.padEnd(10)} ${String(r.nr).padStart(3)} ${r.handler} (${r.id})`);
      return 0;
    },
  },
  {
    name: "console-input", summary: "type into the hypervisor's console", usage: "xm console-input TEXT",
    help: `Types TEXT (\\n, \\r, \\t and \\\\ escapes) into the hypervisor's console: queued (128 bytes at most,
as Xen's serial ring) for the VIRQ_CONSOLE handler, which gets VIRQ_CONSOLE and reads it with CONSOLEIO_read.`,
    async run(args) {
      need(args, 1, this.usage);
      const text = args.join(" ")
        .replace(/\\([nrt\\])/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : "\\"));
      const r = await call({ op: "console-input", text }) as { queued: number };
      if (r.queued < new TextEncoder().encode(text).length)
        process.stderr.write(`xm: the console's input ring is full: ${r.queued} bytes queued\n`);
      return 0;
    },
  },
];
