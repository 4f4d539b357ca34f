// `xm`: the xenwasm command line. Subcommands live in COMMANDS (name, one-line summary, usage, help
// text, handler), so adding one (create, list, console, ...) is adding an entry. Every failure is one
// line on stderr starting with `xm: ` and exit code 1; no stack traces.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig, deviceSpecs, type VifConfig } from "../xend/config";
import type { DiskSpec } from "../devices/block/blkback";
import { parseElf } from "../elf";
import { BareMachine, DEFAULT_RAM, MAX_RAM } from "../bare";
import { XenHost, SHUTDOWN_NAMES } from "../pv/host";
import { natOptionsFromEnv, enableNat } from "../devices/net/nat";
import { jitSettings } from "../jit/jit";
import { jitFigures, type Core } from "../core";
import { XEND_COMMANDS, XmError } from "./xmcmds";
import { xmManPage } from "./man";
import { DS_RUNNING, DS_SHUTDOWN, SHUTDOWN_poweroff, SHUTDOWN_crash } from "../../assembly/records";

/** An error whose message is shown as is (after `xm: `). */
class CliError extends Error {}

interface Command {
  name: string;
  summary: string;
  usage: string;
  help: string;
  run(args: string[]): Promise<number>;
}

interface OptSpec { [flag: string]: "bool" | "value" }

/** Parses `--flag`, `--flag value` and `--flag=value` options; the rest are positional arguments. */
function parseArgs(
  cmd: string, args: string[], spec: OptSpec
): { opts: Record<string, string | true>; rest: string[] } {
  const opts: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") { rest.push(...args.slice(i + 1)); break; }
    if (a.startsWith("-") && a !== "-") {
      const eq = a.indexOf("=");
      const flag = eq >= 0 ? a.slice(0, eq) : a;
      const kind = spec[flag];
      if (!kind) throw new CliError(`${cmd}: unknown option ${flag} (see \`xm help ${cmd}\`)`);
      if (kind === "bool") {
        if (eq >= 0) throw new CliError(`${cmd}: option ${flag} takes no value`);
        opts[flag] = true;
      } else if (eq >= 0) opts[flag] = a.slice(eq + 1);
      else if (i + 1 < args.length) opts[flag] = args[++i];
      else throw new CliError(`${cmd}: option ${flag} needs a value`);
    } else rest.push(a);
  }
  return { opts, rest };
}

/** "64M", "1G", "65536K", "4194304": bytes. */
function parseSize(what: string, s: string): number {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new CliError(`bad ${what} "${s}" (examples: 64M, 1G)`);
  const mul = { "": 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  return Number(m[1]) * mul;
}

function readInput(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES"
      ? "permission denied" : (e as Error).message;
    throw new CliError(`cannot read ${file}: ${why}`);
  }
}

const run: Command = {
  name: "run",
  summary: "boot a PV kernel (or a bare ELF program) with its console on stdio",
  usage: "xm run [CFG | KERNEL [--memory MB] [--ramdisk FILE] "
    + "[--cmdline STR]] | xm run --bare [--stats] [--ram SIZE] " + "FILE.elf",
  help: `Without arguments, boots the bundled default guest (a small PV kernel of ours). With CFG, a domain
config file (xm/xl syntax), boots the domain it describes, disks included. Otherwise boots KERNEL, a Xen
PV kernel (ELF32 PAE or ELF64 with Xen ELF notes, or a bzImage with a gzip, xz or zstd payload), as one
domain in a private in-process host. Its console (console_io writes and the PV console ring) goes to
standard output and the terminal is its input (Ctrl-] ends the run). xm exits when the domain shuts
down: 0 for poweroff, 1 for a crash or any other reason, which is printed on standard error.

Options:
  --memory MB   the domain's memory (default 64)
  --ramdisk F   an initial ramdisk (module 0)
  --cmdline S   the kernel command line

With --bare, runs FILE.elf, an ELF32 (i386) or ELF64 (x86-64) executable, on a bare machine: one vCPU in
flat 32-bit protected mode or 64-bit long mode (identity-mapped, paging off), RAM at physical address 0,
the program's segments loaded at their physical addresses. Bytes the guest writes to I/O port 0xE9
go to standard output; a write to port 0xF4 ends the run and its value is xm's exit status. A guest
fault with no handler is reported on standard error and gives exit status 1.
  --stats       print the instruction count, run time and MIPS on standard error at the end
  --jit-stats   print the JIT tier's figures (regions, compile time, exits by reason, code cache, peak RSS) at the end
  --ram SIZE    RAM size, e.g. 64M or 1G (default ${DEFAULT_RAM >>> 20}M)`,
  async run(args) {
    const { opts, rest } = parseArgs("run", args, {
      "--bare": "bool", "--stats": "bool", "--jit-stats": "bool", "--ram": "value", "--memory": "value",
      "--ramdisk": "value", "--cmdline": "value",
    });
    if (rest.length > 1) throw new CliError(`run: too many arguments: ${rest.slice(1).join(" ")}`);
    // Options of the other kind of run are errors, not silently ignored.
    const misplaced = opts["--bare"] ? ["--memory", "--ramdisk", "--cmdline"] : ["--ram", "--stats"];
    for (const o of misplaced) {
      if (opts[o] !== undefined) {
        const why =
          opts["--bare"] ? "is for PV kernels (with --bare: --ram SIZE)" : "needs --bare (a PV domain: --memory MB)";
        throw new CliError(`run: ${o} ${why}`);
      }
    }
    if (!opts["--bare"]) return runPv(rest[0], opts);
    if (rest.length === 0) throw new CliError("run: missing KERNEL (usage: " + this.usage + ")");
    const ram = opts["--ram"] !== undefined ? parseSize("RAM size", opts["--ram"] as string) : DEFAULT_RAM;
    if (ram % 4096 !== 0 || ram === 0 || ram > MAX_RAM) {
      throw new CliError(`bad RAM size ${opts["--ram"]}: a multiple of 4K, at most ${MAX_RAM >>> 20}M`);
    }
    const file = rest[0];
    const data = readInput(file);
    let img;
    try {
      img = parseElf(data);
    } catch (e) {
      throw new CliError(`${file}: ${(e as Error).message}`);
    }
    const m = await BareMachine.create({ ram, onOutput: (b) => process.stdout.write(b) });
    try {
      m.load(data, img);
    } catch (e) {
      throw new CliError(`${file}: ${(e as Error).message}`);
    }
    const r = m.run();
    if (r.message) process.stderr.write(`xm: ${r.message}\n`);
    if (opts["--stats"]) {
      const mips = r.seconds > 0 ? r.instructions / r.seconds / 1e6 : 0;
      process.stderr.write(
        `xm: ${r.instructions} instructions in ${r.seconds.toFixed(3)} s: ${mips.toFixed(1)} MIPS\n`
      );
    }
    if (opts["--jit-stats"]) {
      process.stderr.write(`xm: jit ${JSON.stringify(jitReport(m.core))}\n`);
      if (m.core.jit?.debug) process.stderr.write(
        `xm: jit blocks end at ${JSON.stringify([...m.core.jit.debug].sort((a, b) => b[1] - a[1]))}\n`
      );
    }
    return r.status & 0xff;
  },
};

/** The JIT's figures and the process's peak memory (V8's code for the regions included). */
function jitReport(core: Core): object {
  return {
    ...jitFigures(core), max_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    machine_code_mib: machineCodeMib(),
  };
}

/** Resident machine code of this process now, in MiB: the anonymous executable mappings of /proc/self/smaps,
 *  where V8 keeps the code it compiles (the JIT's regions, the core's own code, JavaScript). null off Linux. */
function machineCodeMib(): number | null {
  let text: string;
  try { text = readFileSync("/proc/self/smaps", "latin1"); } catch { return null; }
  let kib = 0, exec = false;
  for (const line of text.split("\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { exec = m[1][2] === "x" && m[2] === ""; continue; }
    if (exec && line.startsWith("Rss:")) kib += Number(line.slice(4).trim().split(/\s+/)[0]) || 0;
  }
  return Math.round(kib / 102.4) / 10;
}

// The bundled default guest (our small PV hello), found next to the package: the one built from its
// source (guests/build/, `npm run guests`) if there is one, else the prebuilt copy shipped with the
// package (guests/prebuilt/, byte-identical to a build with the toolchain it names), so that `npm install`
// needs no C toolchain.
function defaultGuest(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    for (const sub of ["build", "prebuilt"]) {
      const p = join(dir, "guests", sub, "pv-hello-64.elf");
      if (existsSync(p)) return p;
    }
    dir = dirname(dir);
  }
  throw new CliError(
    "the bundled default guest is missing (guests/prebuilt/pv-hello-64.elf; or build it: `npm run guests`)"
  );
}

async function runPv(file: string | undefined, opts: Record<string, string | true>): Promise<number> {
  file ??= defaultGuest();
  const data = readInput(file);
  const isImage =
    (data[0] === 0x7f && data[1] === 0x45) || (data.length > 0x206 && data[0x202] === 0x48 && data[0x203] === 0x64);
  let name = "guest";
  const memOpt = opts["--memory"];
  if (memOpt !== undefined && !(typeof memOpt === "string" && /^\d{1,5}$/.test(memOpt)))
    throw new CliError(`bad --memory ${memOpt}: whole MiB from 2 to 3072`);
  let mem = memOpt !== undefined ? Number(memOpt) : 64;
  let kernel = data;
  let ramdisk = typeof opts["--ramdisk"] === "string" ? readInput(opts["--ramdisk"]) : undefined;
  let cmdline = typeof opts["--cmdline"] === "string" ? opts["--cmdline"] : "";
  let disks: DiskSpec[] = [];
  let vcpus = 1;
  let vifs: VifConfig[] = [];
  if (!isImage) {
    // A domain config file (xm/xl syntax).
    let cfg;
    try {
      cfg = parseConfig(new TextDecoder().decode(data), file);
    } catch (e) { throw new CliError((e as Error).message); }
    for (const w of cfg.warnings) process.stderr.write(`xm: warning: ${w}\n`);
    name = cfg.name; mem = cfg.memory; vcpus = cfg.vcpus;
    kernel = readInput(cfg.kernel);
    if (cfg.ramdisk) ramdisk = readInput(cfg.ramdisk);
    if (cfg.cmdline) cmdline = cfg.cmdline;
    disks = deviceSpecs(cfg).disks;
    vifs = cfg.vifs;
  }
  if (!Number.isInteger(mem) || mem < 2 || mem > 3072)
    throw new CliError(`bad --memory ${opts["--memory"]}: whole MiB from 2 to 3072`);
  let nat;
  try { nat = natOptionsFromEnv(process.env); } catch (e) { throw new CliError((e as Error).message); }
  const host = await XenHost.create(Math.max(256, mem + 64));
  // The vifs' way out: the user-mode NAT on xenbr0, as in xend (XEND_NAT=no: none).
  if (nat && vifs.length) enableNat(host, nat);
  let dom;
  try {
    dom = await host.createDomainAsync(name, kernel, { memoryMiB: mem, vcpus, ramdisk, cmdline, disks, vifs });
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message}`);
  }
  dom.onConsole = (b) => process.stdout.write(b);
  dom.vifs.forEach(
    (v, i) => host.nat?.setupVif(v.mac, vifs[i] ?? {}, (m) => process.stderr.write(`xm: warning: ${m}\n`))
  );
  // The terminal is the domain's console input (raw on a TTY; Ctrl-] ends the run).
  let detached = false;
  const stdin = process.stdin;
  const onData = (b: Buffer) => {
    const i = b.indexOf(0x1d);
    if (i >= 0) { detached = true; return; }
    host.consoleInput(dom.domid, new Uint8Array(b));
  };
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.on("error", () => {});
  try {
    await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || detached);
  } finally {
    stdin.off("data", onData);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.destroy();
    host.nat?.close();
  }
  if (detached) { process.stderr.write("\nxm: detached: the domain is gone with this process\n"); return 0; }
  if (opts["--jit-stats"]) process.stderr.write(`xm: jit ${JSON.stringify(jitReport(host.core))}\n`);
  const st = host.state(dom.domid);
  if (st !== DS_SHUTDOWN) { process.stderr.write("xm: no domain can run\n"); return 1; }
  const reason = host.shutdownReason(dom.domid);
  if (reason === SHUTDOWN_poweroff) return 0;
  process.stderr.write(`xm: domain shut down: ${SHUTDOWN_NAMES[reason] ?? reason}\n`);
  if (reason === SHUTDOWN_crash) process.stderr.write(host.dmesg());
  return 1;
}

const help: Command = {
  name: "help",
  summary: "show the commands, or the help of one command",
  usage: "xm help [COMMAND | --man]",
  help: "Without COMMAND, lists the commands; with one, shows how to "
    + "use it.\n  --man   every command's page as one man page, " + "xm(1) (man/xm.1 is this: `npm run man` writes it)",
  async run(args) {
    if (args.length === 0) { process.stdout.write(overview()); return 0; }
    if (args.length === 1 && args[0] === "--man") { process.stdout.write(xmManPage(COMMANDS)); return 0; }
    if (args.length > 1) throw new CliError(`help: too many arguments: ${args.slice(1).join(" ")}`);
    const c = COMMANDS.find((x) => x.name === args[0]);
    if (!c) throw new CliError(`help: unknown command ${args[0]} (see \`xm help\`)`);
    process.stdout.write(`usage: ${c.usage}\n\n${c.help}\n`);
    return 0;
  },
};

const COMMANDS: Command[] = [run, ...XEND_COMMANDS, help];

function overview(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: xm COMMAND [ARGS...]\n\nxenwasm: the Xen virtual machine monitor, in WebAssembly.\n\nCommands:\n${
    COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")
  }\n\nRun \`xm help COMMAND\` for the options of a command.\n`;
}

function fail(msg: string): void {
  process.stderr.write(`xm: ${msg.split("\n")[0]}\n`);
  process.exitCode = 1;
}

async function main(argv: string[]): Promise<void> {
  if (argv.length === 0) { process.stderr.write(overview()); process.exitCode = 1; return; }
  let [name, ...args] = argv;
  if (name === "--help" || name === "-h") { name = "help"; }
  if (args.includes("--help") || args.includes("-h")) { args = [name]; name = "help"; }
  const c = COMMANDS.find((x) => x.name === name);
  if (!c) return fail(`unknown command ${name} (see \`xm help\`)`);
  // XENWASM_JIT*: the user's setting, said as such
  if (name === "run") { try { jitSettings(); } catch (e) { return fail((e as Error).message); } }
  try {
    process.exitCode = await c.run(args);
  } catch (e) {
    fail(
      e instanceof CliError
        || e instanceof XmError ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`
    );
  }
}

// A reader that went away (`xm list | head -1`) ends xm quietly, as it would a C program's SIGPIPE.
for (const out of [process.stdout, process.stderr])
  out.on("error", (e: NodeJS.ErrnoException) => { if (e.code === "EPIPE") process.exit(process.exitCode ?? 0); });
process.on("uncaughtException", (e) => { fail(`internal error: ${e?.message ?? String(e)}`); process.exit(1); });
await main(process.argv.slice(2));
