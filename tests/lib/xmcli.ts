// The xm and xend commands run from a test (or a bench) against a given xend (its environment: XEND_SOCKET
// ...), and `Xend`: a `xend run` of a test's own, started, waited for and stopped the same way everywhere.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./repo";

export interface XmResult { status: number | null; stdout: string; stderr: string }

/** `xm ARGS...`, waited for (killed after `timeoutMs`). */
export function xmSync(env: NodeJS.ProcessEnv, timeoutMs: number, ...args: string[]): XmResult {
  const r = spawnSync(process.execPath, ["bin/xm.js", ...args], { env, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** `xm ARGS...` in the background: its status and output once it exits. */
export function xmAsync(env: NodeJS.ProcessEnv, ...args: string[]): Promise<XmResult> {
  return new Promise((res) => {
    const c = spawn(process.execPath, ["bin/xm.js", ...args], { env });
    let stdout = "", stderr = "";
    c.stdout.on("data", (b) => { stdout += b; });
    c.stderr.on("data", (b) => { stderr += b; });
    c.on("exit", (status) => res({ status, stdout, stderr }));
  });
}

/** `xend ARGS...` (start, stop, status, run), waited for (killed after `timeoutMs`). */
export function xendSync(env: NodeJS.ProcessEnv, timeoutMs: number, ...args: string[]): XmResult {
  const r = spawnSync(process.execPath, [join(repoRoot(), "bin", "xend.js"), ...args],
    { env, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export interface XendOptions {
  /** XEND_SOCKET (xend makes its folder, 0700, if it does not exist; its lock and xenstored's socket go beside it). */
  socket: string;
  /** XEND_MEMORY_MIB: the host's memory for domains. */
  memoryMiB: number;
  /**
   * The relocation listener: a port (XEND_RELOCATION_PORT; tests/debload.ts's freePort() finds a free one) or
   * "none" (XEND_RELOCATION_SERVER=no). Unset: xend's default, 8002, which another test's xend may hold.
   */
  relocation?: number | "none";
  /** XENWASM_JIT for the xend's domains (and the xm commands run through this object); unset: this process's. */
  jit?: string;
  /** More environment over this process's (XEND_SUSPEND_TIMEOUT_MS, XEND_NAT, HOME...). */
  env?: Record<string, string>;
  /** Node options before bin/xend.js (bench/apps gives those of its #! line: what a user's `xend` runs). */
  nodeOptions?: string[];
  /** The xend runs in this network namespace (`ip netns exec NS`; its sockets stay reachable from here). */
  netns?: string;
  /** The xend (and every xm and xend command through this object) runs as this user and group. */
  uid?: number;
  gid?: number;
  /** xend's stderr is also copied to this process's stderr (bench/migrate's XEND_MIGRATE_TRACE). */
  echoLog?: boolean;
  /** Each xm and xend command through this object is killed after this many ms (default 60000). */
  xmTimeoutMs?: number;
  /** How many times start() and up() ask `xm info`, 50 ms apart, before they give up (default 100). */
  polls?: number;
}

/** The environment a xend of these options runs in (also for `xend start` and `xm` commands beside it). */
export function xendEnv(o: XendOptions): NodeJS.ProcessEnv {
  const reloc: Record<string, string> = o.relocation === "none" ? { XEND_RELOCATION_SERVER: "no" }
    : o.relocation === undefined ? {} : { XEND_RELOCATION_PORT: String(o.relocation) };
  return {
    ...process.env, XEND_SOCKET: o.socket, XEND_MEMORY_MIB: String(o.memoryMiB), ...reloc,
    ...(o.jit === undefined ? {} : { XENWASM_JIT: o.jit }), ...o.env,
  };
}

/**
 * A `xend run` of a test's own (stdout ignored, stderr kept in `log`: its last 100-200 kB). `Xend.start`
 * waits until `xm info` answers and throws, with the end of xend's log, if it does not (the process is
 * killed then); `Xend.spawn` does not wait (two xends racing for one socket). `stop()` is
 * `xend stop --destroy`, then SIGKILL: call it from test.after (or a finally) on every xend started.
 */
export class Xend {
  log = "";
  readonly env: NodeJS.ProcessEnv;
  readonly proc: ChildProcess;
  /** Its exit code (null: killed by a signal), once it exits. */
  readonly exited: Promise<number | null>;
  private constructor(readonly opts: XendOptions) {
    this.env = xendEnv(opts);
    const args = [...(opts.nodeOptions ?? []), join(repoRoot(), "bin", "xend.js"), "run"];
    const [cmd, argv] = opts.netns ? ["ip", ["netns", "exec", opts.netns, process.execPath, ...args]]
      : [process.execPath, args];
    this.proc = spawn(cmd, argv, { env: this.env, stdio: ["ignore", "ignore", "pipe"], uid: opts.uid, gid: opts.gid });
    this.proc.stderr!.on("data", (b) => {
      if (opts.echoLog) process.stderr.write(b);
      this.log += b;
      if (this.log.length > 200000) this.log = this.log.slice(-100000);
    });
    this.exited = new Promise((r) => this.proc.on("exit", (code) => r(code)));
  }
  /** The relocation listener's port (undefined: none asked for). */
  get port(): number | undefined { return typeof this.opts.relocation === "number" ? this.opts.relocation : undefined; }

  /** Starts it and returns at once. */
  static spawn(opts: XendOptions): Xend { return new Xend(opts); }

  /** Starts it and waits until it answers; throws (having killed it) if it exits or does not answer. */
  static async start(opts: XendOptions): Promise<Xend> {
    const x = new Xend(opts);
    if (await x.up()) return x;
    const info = x.run("xm", ["info"], 10000);
    const how = x.proc.exitCode !== null ? `exited with code ${x.proc.exitCode}`
      : `did not answer after ${x.opts.polls ?? 100} tries`;
    x.proc.kill("SIGKILL");
    // (The last of its stderr may still be on the way: its end waited for, 2 s at most.)
    if (!x.proc.stderr!.closed) await new Promise((r) => { x.proc.stderr!.once("close", r); setTimeout(r, 2000); });
    throw new Error(`xend (socket ${opts.socket}) ${how}; xm info: ${info.stderr.trim()}; its log ends:\n${x.tail()}`);
  }

  /** Waits until `xm info` answers (true) or the process has exited or `polls` tries have failed (false). */
  async up(): Promise<boolean> {
    for (let i = 0; i < (this.opts.polls ?? 100); i++) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return false;
      if (this.xm("info").status === 0) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /** The end of its log, for an error message. */
  tail(chars = 3000): string { return this.log.slice(-chars); }

  /** `xm ARGS...` against this xend, as its user, waited for. */
  xm(...args: string[]): XmResult { return this.run("xm", args); }
  /** `xm ARGS...` against this xend in the background. */
  xmAsync(...args: string[]): Promise<XmResult> { return xmAsync(this.env, ...args); }
  /** `xm debug-keys j` then the JIT's figures it wrote to `xm dmesg` (host/pv/host.ts debugKeys), or null when the
   *  key failed or left no line. */
  jitFigures(): Record<string, unknown> | null {
    if (this.xm("debug-keys", "j").status !== 0) return null;
    const line = this.xm("dmesg").stdout.split("\n").filter((l) => l.includes("'j' pressed -> JIT figures: ")).pop();
    return line ? JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown> : null;
  }
  /** `xend ARGS...` (stop, status...) against this xend, as its user, waited for. */
  xend(...args: string[]): XmResult { return this.run("xend", args); }

  /** `xend stop --destroy` (its domains destroyed; killed after 30 s), then the process is killed. */
  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.run("xend", ["stop", "--destroy"], 30000);
    this.proc.kill("SIGKILL");
  }

  private run(bin: "xm" | "xend", args: string[], timeoutMs?: number): XmResult {
    const { uid, gid, xmTimeoutMs = 60000 } = this.opts;
    const r = spawnSync(process.execPath, [join(repoRoot(), "bin", `${bin}.js`), ...args],
      { env: this.env, encoding: "utf8", timeout: timeoutMs ?? xmTimeoutMs, uid, gid });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }
}
