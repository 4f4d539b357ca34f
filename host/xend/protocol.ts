// The one typed request/response protocol between `xm` and `xend`: newline-delimited JSON over a unix
// socket (mode 0600 in a 0700 directory). A `console` request switches its connection to raw bytes in
// both directions after the response line.
import { tmpdir } from "node:os";
import { join, dirname, basename } from "node:path";
import { StringDecoder } from "node:string_decoder";

export type Request =
  | { op: "ping" }
  | { op: "stop" }
  | { op: "create"; file: string; text: string; overrides: string[]; cwd?: string; paused?: boolean; console?: boolean }
  | { op: "rename"; dom: string; name: string }
  | { op: "list" }
  | { op: "info" }
  | { op: "dmesg"; clear?: boolean }
  | { op: "destroy"; dom: string }
  | { op: "pause"; dom: string }
  | { op: "unpause"; dom: string }
  | { op: "shutdown"; dom: string; reboot?: boolean; wait?: boolean }
  | { op: "state"; dom: string }
  | { op: "console"; dom: string }
  | { op: "vcpu-list"; dom?: string }
  | { op: "vcpu-set"; dom: string; count: number }
  | { op: "mem-set"; dom: string; mib: number }
  | { op: "mem-max"; dom: string; mib: number }
  | { op: "sched-credit"; dom?: string; weight?: number; cap?: number }
  | { op: "block-attach"; dom: string; target: string; vdev: string; writable: boolean }
  | { op: "block-detach"; dom: string; vdev: string; force?: boolean }
  | { op: "block-list"; dom: string }
  | { op: "network-attach"; dom: string; mac?: string; bridge?: string }
  | { op: "network-detach"; dom: string; dev: string; force?: boolean }
  | { op: "network-list"; dom: string }
  | { op: "sysrq"; dom: string; key: string }
  | { op: "debug-keys"; keys: string }
  | { op: "virq-handler"; virq?: string; dom?: string }
  | { op: "console-input"; text: string }
  | { op: "save"; dom: string; file: string }
  | { op: "restore"; file: string; paused?: boolean }
  | { op: "migrate"; dom: string; host: string; port?: number; live?: boolean };

/** A request line that is not a well-formed Request (bad JSON, unknown op, a field of the wrong type). */
export class ProtocolError extends Error {}

// The fields of each request: s string, n number, b boolean, sa list of strings; "?" optional.
const FIELDS: { [op in Request["op"]]: { [field: string]: string } } = {
  ping: {}, stop: {}, list: {}, info: {}, dmesg: { clear: "b?" },
  create: { file: "s", text: "s", overrides: "sa", cwd: "s?", paused: "b?", console: "b?" },
  rename: { dom: "s", name: "s" },
  destroy: { dom: "s" }, pause: { dom: "s" }, unpause: { dom: "s" }, shutdown: { dom: "s", reboot: "b?", wait: "b?" },
  state: { dom: "s" }, console: { dom: "s" }, "vcpu-list": { dom: "s?" }, "vcpu-set": { dom: "s", count: "n" },
  "mem-set": { dom: "s", mib: "n" }, "mem-max": { dom: "s", mib: "n" },
  "sched-credit": { dom: "s?", weight: "n?", cap: "n?" },
  "block-attach": { dom: "s", target: "s", vdev: "s", writable: "b" },
  "block-detach": { dom: "s", vdev: "s", force: "b?" }, "block-list": { dom: "s" },
  "network-attach": { dom: "s", mac: "s?", bridge: "s?" }, "network-detach": { dom: "s", dev: "s", force: "b?" },
  "network-list": { dom: "s" }, sysrq: { dom: "s", key: "s" }, "debug-keys": { keys: "s" },
  "virq-handler": { virq: "s?", dom: "s?" }, "console-input": { text: "s" },
  save: { dom: "s", file: "s" }, restore: { file: "s", paused: "b?" },
  migrate: { dom: "s", host: "s", port: "n?", live: "b?" },
};

/** One request line checked against its op's fields (a null field counts as absent); throws ProtocolError. */
export function parseRequest(line: string): Request {
  let v: unknown;
  try { v = JSON.parse(line); } catch { throw new ProtocolError("bad request: not JSON"); }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ProtocolError("bad request: not a JSON object");
  const r = v as { [k: string]: unknown };
  const op = r.op;
  if (typeof op !== "string" || !Object.prototype.hasOwnProperty.call(FIELDS, op)) {
    throw new ProtocolError(`unknown request ${typeof op === "string" ? JSON.stringify(op.slice(0, 40)) : "(no op)"}`);
  }
  const out: { [k: string]: unknown } = { op };
  for (const [k, t] of Object.entries(FIELDS[op as Request["op"]])) {
    const x = Object.prototype.hasOwnProperty.call(r, k) ? r[k] : undefined;
    if (x === undefined || x === null) {
      if (t.endsWith("?")) continue;
      throw new ProtocolError(`bad request ${op}: ${k} is missing`);
    }
    const ok = t[0] === "s" && t !== "sa" ? typeof x === "string"
      : t[0] === "n" ? typeof x === "number" && Number.isFinite(x)
      : t[0] === "b" ? typeof x === "boolean"
      : Array.isArray(x) && x.every((y) => typeof y === "string");
    if (!ok) throw new ProtocolError(
      `bad request ${op}: ${k} must be `
        + `${{ s: "a string", n: "a number", b: "true or false", sa: "a list of strings" }[t.replace("?", "")]}`
    );
    out[k] = x;
  }
  return out as Request;
}

/** Sent (as lines of their own) before the response of a long request: save, restore, migrate. */
export interface Progress { progress: { phase: string; done: number; total: number } }

export interface DomainRow {
  name: string; id: number; memMiB: number; vcpus: number; state: string; cpuSeconds: number;
  maxMiB: number; weight: number; cap: number; disks: string[]; uptime: number;
  vifs?: { devid: number; mac: string; bridge: string }[];
  /** The domain's config (as xend keeps it: hot-plugged devices included), for `xm list -l`. */
  config?: Omit<import("./config").DomainConfig, "warnings">;
  /** Why it shut down, when it has (poweroff, reboot, suspend, crash, watchdog, soft_reset). */
  shutdownReason?: string;
}
/** A row of `xm block-list` / `xm network-list` (what xl prints, from xenstore). */
export interface DeviceRow {
  devid: number; backend: number; frontend: number; state: number; evtch: number;
  ringRef: number; txRef: number; rxRef: number; bePath: string;
  vdev?: string; path?: string; mode?: string; mac?: string; bridge?: string;
  /** Disks: the backend's own counts of the requests it served, and of those with indirect descriptors. */
  requests?: number; indirectRequests?: number;
}
export interface HostInfo {
  version: string; totalMiB: number; freeMiB: number; domains: number; pid: number; uptime: number;
  hypercalls: number; mips: number;
  /** xl info's fields (xen_major, xen_minor, xen_caps, nr_cpus, ...), in its order. */
  xl?: [string, string | number][];
}
export interface VcpuRow { name: string; id: number; vcpu: number; state: string; cpuSeconds: number }

export type Response =
  | { ok: true; data?: unknown }
  | { ok: false; error: string };

export function socketPath(): string {
  if (process.env.XEND_SOCKET) return process.env.XEND_SOCKET;
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return join(tmpdir(), `xenwasm-${uid}`, "xend.sock");
}

/** Split a byte stream into JSON lines (UTF-8: a character split across chunks is kept whole). */
export class LineReader {
  private buf = "";
  private readonly utf8 = new StringDecoder("utf8");
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer | string): void {
    this.buf += typeof chunk === "string" ? chunk : this.utf8.write(chunk);
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line.length) this.onLine(line);
    }
    if (this.buf.length > 1 << 20) throw new Error("request too long");
  }
  rest(): string { const r = this.buf; this.buf = ""; return r; }
}

/**
 * The files of the xend whose socket is `sock`, beside it and named after it, so that two xends sharing
 * a directory (XEND_SOCKET=/d/a.sock and /d/b.sock) never touch each other's: its lock (a.lock), its log
 * when started with `xend start` (a.log) and xenstored's tools socket (a-xenstored.sock). The default
 * socket's name, xend.sock, keeps the plain names xend.lock, xend.log and xenstored.sock.
 */
export function xendFiles(sock = socketPath()): { dir: string; lock: string; log: string; xenstored: string } {
  const dir = dirname(sock);
  const stem = basename(sock).replace(/\.sock$/, "");
  return {
    dir, lock: join(dir, `${stem}.lock`), log: join(dir, `${stem}.log`),
    xenstored: join(dir, stem === "xend" ? "xenstored.sock" : `${stem}-xenstored.sock`)
  };
}

/** xenstored's socket for dom0 tools (raw xs_wire), beside xend's. */
export function xenstoreSocketPath(): string {
  return xendFiles().xenstored;
}
