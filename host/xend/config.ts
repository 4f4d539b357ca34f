// Domain configuration files in xm/xl syntax (xl.cfg(5)).
//
// The grammar is the one of Xen's libxlu (tools/libs/util/libxlu_cfg_{l.l,y.y}):
//
//   file    := { [ setting ] end }
//   setting := KEY ( "=" | "+=" ) value
//   end     := NEWLINE | ";" | end of file
//   value   := STRING | NUMBER | "[" { NEWLINE } [ value { NEWLINE } { "," { NEWLINE } value { NEWLINE } }
//              [ "," { NEWLINE } ] ] "]"
//   KEY     := [A-Za-z_][A-Za-z0-9_]*
//   NUMBER  := [0-9]+ | 0x[0-9a-fA-F]+
//   STRING  := "..." | '...'   (one line; escapes \\ \" \' \a \b \f \n \r \t \v \xHH \ooo)
//
// '#' starts a comment that runs to the end of the line (outside strings). Lists may span lines
// and take a trailing comma. A later setting of a key replaces an earlier one; "+=" appends to a
// list (or string) set earlier. As in libxlu, a number is also accepted where a string is wanted
// (its text) and a string holding a whole number where a number is wanted.
//
// The semantic checks follow xl's parse_config_data and libxl, restricted to what xenwasm runs:
// paravirtualised guests with raw disk images. Every error is a ConfigError whose message is one
// line, "FILE:LINE: KEY: what is wrong". Settings xenwasm does not know are kept out of the result
// and reported in `warnings` (xl warns about them too; it does not fail).

import { normalizeMac, validateMac } from "./mac";
import { parseForward } from "../devices/net/forward";
import { vdevNumber } from "../devices/block/vdev";
import type { DiskSpec } from "../devices/block/blkback";
import type { VifSpec } from "../devices/net/netback";
export { vdevNumber };

export type ShutdownAction =
  | "destroy"
  | "restart"
  | "preserve"
  | "rename-restart"
  | "coredump-destroy"
  | "coredump-restart";

export const SHUTDOWN_ACTIONS: readonly ShutdownAction[] = [
  "destroy",
  "restart",
  "preserve",
  "rename-restart",
  "coredump-destroy",
  "coredump-restart",
];

export interface DiskConfig {
  /** Backing image or device path (any xm prefix such as "file:" or "phy:" removed). */
  target: string;
  /** Guest device name as written: xvda, hda, sdb1, 51712, ... */
  vdev: string;
  writable: boolean;
  format: "raw";
}

export interface VifConfig {
  mac?: string;
  bridge?: string;
  ip?: string;
  model?: string;
  /** Port forwards from the host into this vif through the NAT: "tcp:[ADDRESS:]HOSTPORT:GUESTPORT". */
  forward?: string[];
  /** Set by xend for a running domain's vifs (hot-plugged ones keep theirs across save/restore and reboot). */
  devid?: number;
}

export interface DomainConfig {
  name: string;
  kernel: string;
  ramdisk?: string;
  cmdline?: string;
  /** MiB */
  memory: number;
  /** MiB */
  maxmem: number;
  vcpus: number;
  /** xl's maxvcpus, when given (above vcpus): the domain has this many vCPUs, `vcpus` of them available at
   * start (xenstore cpu/N/availability), the others for `xm vcpu-set`. */
  maxvcpus?: number;
  disks: DiskConfig[];
  vifs: VifConfig[];
  on_poweroff: ShutdownAction;
  on_reboot: ShutdownAction;
  on_crash: ShutdownAction;
  uuid?: string;
  cpu_weight?: number;
  cpu_cap?: number;
  /** "FILE:LINE: KEY: ..." notes about settings that were ignored. */
  warnings: string[];
}

export const MEMORY_MAX_MIB = 1048576;
export const VCPUS_MAX = 32;
export const NAME_MAX = 64;

/**
 * A configuration file error. `message` is a single line: "FILE:LINE: KEY: detail", or
 * "FILE: KEY: detail" for problems that belong to no line (a required setting that is missing).
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string,
    readonly detail: string,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${key}: ${detail}`);
    this.name = "ConfigError";
  }
}

// ---------------------------------------------------------------------------------------------
// Syntax

export type Value =
  | { kind: "string"; text: string; line: number }
  | { kind: "number"; text: string; n: number; line: number }
  | { kind: "list"; items: Value[]; line: number };

interface Setting {
  key: string;
  value: Value;
  line: number;
}

type Tok =
  | { t: "id"; text: string; line: number }
  | { t: "string"; text: string; line: number }
  | { t: "number"; text: string; n: number; line: number }
  | { t: "=" | "+=" | "[" | "]" | "," | ";" | "nl" | "eof"; text: string; line: number };

/** For messages: user text quoted, with anything that could break the line escaped. */
function q(s: string): string {
  return JSON.stringify(s);
}

function describe(tok: Tok): string {
  switch (tok.t) {
    case "nl": return "end of line";
    case "eof": return "end of file";
    case "string": return `string ${q(tok.text)}`;
    case "number": return `number ${tok.text}`;
    case "id": return q(tok.text);
    default: return `'${tok.text}'`;
  }
}

/** How deep lists may nest (the parser recurses once per level). */
const MAX_LIST_DEPTH = 64;

class Parser {
  private pos = 0;
  private line = 1;
  private peeked: Tok | undefined;
  /** The key of the setting being parsed, for messages; "syntax" between settings. */
  private key = "syntax";

  constructor(private readonly src: string, private readonly file: string) {}

  private fail(line: number, detail: string): never {
    throw new ConfigError(this.file, line, this.key, detail);
  }

  private lex(): Tok {
    const s = this.src;
    for (;;) {
      if (this.pos >= s.length) return { t: "eof", text: "", line: this.line };
      const c = s[this.pos];
      if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") { this.pos++; continue; }
      if (c === "#") {
        while (this.pos < s.length && s[this.pos] !== "\n") this.pos++;
        continue;
      }
      break;
    }
    const line = this.line;
    const c = s[this.pos];
    if (c === "\n") { this.pos++; this.line++; return { t: "nl", text: "\n", line }; }
    if (c === "=" || c === "[" || c === "]" || c === "," || c === ";") {
      this.pos++;
      return { t: c, text: c, line };
    }
    if (c === "+" && s[this.pos + 1] === "=") { this.pos += 2; return { t: "+=", text: "+=", line }; }
    if (c === '"' || c === "'") return this.lexString(c, line);
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.pos, this.pos + 256))!;
      this.pos += m[0].length;
      return { t: "id", text: m[0], line };
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9A-Za-z_.]*/.exec(s.slice(this.pos, this.pos + 256))!;
      this.pos += m[0].length;
      const text = m[0];
      let n: number;
      if (/^0[xX][0-9a-fA-F]+$/.test(text)) n = parseInt(text.slice(2), 16);
      else if (/^[0-9]+$/.test(text)) {
        // strtol(..., 0), which xl uses, would read this as octal; say so rather than guess.
        if (text.length > 1 && text[0] === "0") this.fail(
          line, `ambiguous number ${text} (a leading 0 means octal to xl); write it without the leading zeros`
        );
        n = parseInt(text, 10);
      } else
        this.fail(line, `malformed number ${q(text)} (numbers are decimal or 0x hex; anything else must be quoted)`);
      if (!Number.isSafeInteger(n)) this.fail(line, `number ${text} is too large`);
      return { t: "number", text, n, line };
    }
    if (c === "-" && /[0-9]/.test(s[this.pos + 1] ?? "")) this.fail(line, "negative numbers are not allowed");
    const cp = s.codePointAt(this.pos)!;
    const shown = cp < 0x20 || cp === 0x7f ? `\\x${cp.toString(16).padStart(2, "0")}` : String.fromCodePoint(cp);
    this.fail(line, `unexpected character '${shown}'`);
  }

  private lexString(quote: string, line: number): Tok {
    const s = this.src;
    let i = this.pos + 1;
    let out = "";
    for (;;) {
      if (i >= s.length || s[i] === "\n") this.fail(line, `unterminated string (no closing ${quote} on this line)`);
      const c = s[i++];
      if (c === quote) break;
      if (c !== "\\") { out += c; continue; }
      if (i >= s.length || s[i] === "\n") this.fail(line, `unterminated string (no closing ${quote} on this line)`);
      const e = s[i++];
      const simple: Record<string, string> =
        { "\\": "\\", '"': '"', "'": "'", a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };
      if (e in simple) out += simple[e];
      else if (e === "x") {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i, i + 2));
        if (!m) this.fail(line, "invalid escape \\x in string: hex digits expected");
        out += String.fromCharCode(parseInt(m[0], 16));
        i += m[0].length;
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(s.slice(i - 1, i + 2))!;
        const v = parseInt(m[0], 8);
        if (v > 0xff) this.fail(line, `invalid escape \\${m[0]} in string`);
        out += String.fromCharCode(v);
        i += m[0].length - 1;
      } else this.fail(line, `invalid escape \\${e} in string`);
    }
    this.pos = i;
    return { t: "string", text: out, line };
  }

  private peek(): Tok {
    return (this.peeked ??= this.lex());
  }

  private next(): Tok {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private skipNewlines(): void {
    while (this.peek().t === "nl") this.next();
  }

  parse(): Setting[] {
    const out: Setting[] = [];
    for (;;) {
      this.key = "syntax";
      const t = this.next();
      if (t.t === "eof") return out;
      if (t.t === "nl" || t.t === ";") continue;
      if (t.t !== "id") {
        if (t.t === "string" || t.t === "number")
          this.fail(t.line, `a line must start with a setting name (got ${describe(t)})`);
        this.fail(t.line, `unexpected ${describe(t)} where a setting name should be`);
      }
      this.key = t.text;
      const op = this.next();
      if (op.t !== "=" && op.t !== "+=")
        this.fail(op.line, `expected '=' after the setting name (got ${describe(op)})`);
      const value = this.value();
      const end = this.next();
      if (end.t !== "nl" && end.t !== ";" && end.t !== "eof") {
        this.fail(end.line, `expected the end of the setting after its value (got ${describe(end)})`);
      }
      if (end.t === "eof") this.peeked = end;
      if (op.t === "=") {
        out.push({ key: t.text, value, line: t.line });
        continue;
      }
      // "+=": append to the latest setting of this key, or set it if there is none.
      let prev: Setting | undefined;
      for (let i = out.length - 1; i >= 0 && !prev; i--) if (out[i].key === t.text) prev = out[i];
      if (!prev) out.push({ key: t.text, value, line: t.line });
      else if (prev.value.kind === "list" && value.kind === "list") {
        out.push({
          key: t.text, value: { kind: "list", items: [...prev.value.items, ...value.items], line: prev.value.line },
          line: prev.line
        });
      } else if (prev.value.kind !== "list" && value.kind !== "list") {
        out.push({
          key: t.text, value: { kind: "string", text: prev.value.text + value.text, line: t.line }, line: t.line
        });
      } else this.fail(
        t.line, `'+=' cannot add a ` + `${value.kind === "list" ? "list" : "single value"} to the `
          + `${prev.value.kind === "list" ? "list" : "single value"} set ` + `on line ${prev.line}`
      );
    }
  }

  private value(depth = 0): Value {
    const t = this.next();
    switch (t.t) {
      case "string": return { kind: "string", text: t.text, line: t.line };
      case "number": return { kind: "number", text: t.text, n: t.n, line: t.line };
      case "[": return this.list(t.line, depth + 1);
      case "id": this.fail(t.line, `unquoted word ${q(t.text)}: strings must be in quotes ("${t.text}")`);
      default: this.fail(t.line, `expected a value (a quoted string, a number or a [list]) but got ${describe(t)}`);
    }
  }

  private list(open: number, depth: number): Value {
    // xl's lists hold strings; a little nesting is a clear error below, not a stack overflow.
    if (depth > MAX_LIST_DEPTH) this.fail(open, `lists nested more than ${MAX_LIST_DEPTH} deep`);
    const items: Value[] = [];
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (t.t === "]") { this.next(); return { kind: "list", items, line: open }; }
      if (t.t === "eof") this.fail(open, "unterminated list: no ']' before the end of the file");
      if (t.t === "id") {
        this.fail(t.line, `unquoted word ${q(t.text)} in the list opened on line ${open}` +
          (open !== t.line ? " (is its ']' missing?)" : ""));
      }
      items.push(this.value(depth));
      this.skipNewlines();
      const sep = this.next();
      if (sep.t === "]") return { kind: "list", items, line: open };
      if (sep.t === ",") continue;
      if (sep.t === "eof") this.fail(open, "unterminated list: no ']' before the end of the file");
      this.fail(sep.line, `expected ',' or ']' in the list opened on line ${open} (got ${describe(sep)})`);
    }
  }
}

/** The raw settings of a file, in order (later ones win). Exposed for tools and tests. */
export function parseSettings(text: string, file: string): Map<string, { value: Value; line: number }> {
  const map = new Map<string, { value: Value; line: number }>();
  for (const s of new Parser(text, file).parse()) {
    map.delete(s.key); // keep the map in order of last setting
    map.set(s.key, { value: s.value, line: s.line });
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// Disks

const DISK_FORMATS_UNSUPPORTED = ["qcow", "qcow2", "vhd", "qed"];

function looksLikeVdev(s: string): boolean {
  return typeof vdevNumber(s) === "number";
}

interface DiskCtx {
  fail(detail: string): never;
}

/**
 * One DISKSPEC (xl-disk-configuration.txt): comma-separated positional parameters
 * target, format, vdev, access, mixed with key=value parameters; "target=" must come last and
 * takes the rest of the spec, commas included. An xm prefix on the target ("file:", "phy:",
 * "tap:aio:", "raw:", "aio:") sets the format and turns the positional parameters after it into
 * vdev, access. As xm did, "target,vdev,access" is accepted without a prefix when the second
 * parameter is a device name rather than a format.
 */
export function parseDisk(spec: string, ctx: DiskCtx): DiskConfig {
  let target: string | undefined;
  let format: string | undefined;
  let vdev: string | undefined;
  let access: string | undefined;
  let hadPrefix = false;
  let npositional = 0;
  const set = (what: string, cur: string | undefined, v: string): string => {
    if (cur !== undefined) ctx.fail(`${what} is given more than once`);
    return v;
  };

  if (spec.trim() === "") ctx.fail("empty disk specification");
  let rest = spec;
  while (rest.length > 0) {
    rest = rest.replace(/^[ \t\n]+/, "");
    if (rest.length === 0) break;
    if (rest.startsWith("target=")) {
      target = set("target", target, rest.slice("target=".length));
      break;
    }
    const comma = rest.indexOf(",");
    const item = (comma < 0 ? rest : rest.slice(0, comma)).trim();
    rest = comma < 0 ? "" : rest.slice(comma + 1);
    const kv = /^([a-z][-a-z0-9]*)=(.*)$/.exec(item);
    if (kv) {
      const [, k, v] = kv;
      switch (k) {
        case "format": format = set("format", format, v); break;
        case "vdev": vdev = set("vdev", vdev, v); break;
        case "access": access = set("access", access, v); break;
        case "devtype":
          if (v !== "disk") ctx.fail(`devtype ${q(v)} is not supported (only "disk")`);
          break;
        case "backendtype":
          if (!["phy", "qdisk", "tap", "standalone"].includes(v)) ctx.fail(`unknown backendtype ${q(v)}`);
          break;
        default:
          ctx.fail(`unsupported disk parameter ${q(k)}`);
      }
      continue;
    }
    if (item.includes("=")) ctx.fail(`malformed parameter ${q(item)}`);
    if (["cdrom", "discard", "no-discard", "direct-io-safe", "colo"].includes(item))
      ctx.fail(`disk flag ${q(item)} is not supported`);
    switch (npositional++) {
      case 0: {
        let t = item;
        const pre = /^([a-z0-9]+):(.*)$/.exec(t);
        if (pre) {
          let prefix = pre[1];
          t = pre[2];
          if (prefix === "tap" || prefix === "tap2") {
            const sub = /^([a-z0-9]+):(.*)$/.exec(t);
            if (!sub) ctx.fail(`prefix "${prefix}:" must be followed by a format, as in tap:aio:/path`);
            prefix = sub[1];
            t = sub[2];
            if (prefix === "tapdisk" || prefix === "ioemu") {
              const sub2 = /^([a-z0-9]+):(.*)$/.exec(t);
              if (!sub2) ctx.fail(`prefix "${pre[1]}:${prefix}:" must be followed by a format`);
              prefix = sub2[1];
              t = sub2[2];
            }
          }
          if (prefix === "phy" || prefix === "file" || prefix === "aio" || prefix === "raw")
            format = set("format", format, "raw");
          else if (DISK_FORMATS_UNSUPPORTED.includes(prefix))
            ctx.fail(`disk format ${q(prefix)} is not supported (only raw)`);
          else ctx.fail(`unknown disk prefix ${q(prefix + ":")} (expected phy:, file:, tap:aio: or raw:)`);
          hadPrefix = true;
        }
        target = set("target", target, t);
        break;
      }
      case 1:
        if (!hadPrefix && format === undefined && !looksLikeVdev(item)) {
          format = item === "" ? "raw" : item;
          break;
        }
        npositional++; // xm form target,vdev,access: this is the vdev
      // falls through
      case 2:
        vdev = set("vdev", vdev, item);
        break;
      case 3:
        access = set("access", access, item);
        break;
      default:
        ctx.fail(`too many positional parameters (${q(item)}); expected target, format, vdev, access`);
    }
  }

  if (target === undefined || target === "") ctx.fail("no target (image or device path) given");
  if (/[\x00-\x1f]/.test(target)) ctx.fail(`target ${q(target)} contains control characters`);
  const fmt = format === undefined || format === "" ? "raw" : format;
  if (fmt !== "raw") {
    if (DISK_FORMATS_UNSUPPORTED.includes(fmt)) ctx.fail(`disk format ${q(fmt)} is not supported (only raw)`);
    ctx.fail(`unknown disk format ${q(fmt)} (expected raw)`);
  }
  if (vdev === undefined || vdev === "") ctx.fail("no vdev (guest device name such as xvda) given");
  const num = vdevNumber(vdev);
  if (typeof num === "string") ctx.fail(`bad vdev ${q(vdev)}: ${num}`);
  let writable = true;
  if (access !== undefined && access !== "") {
    if (access === "r" || access === "ro") writable = false;
    else if (access === "w" || access === "rw") writable = true;
    else ctx.fail(`access must be r, ro, w or rw (got ${q(access)})`);
  }
  return { target, vdev, writable, format: "raw" };
}

// ---------------------------------------------------------------------------------------------
// Network interfaces

const VIF_IGNORED = ["type", "vifname", "script", "backend", "rate", "gatewaydev", "accel", "mtu", "devid"];

function validIp(s: string): boolean {
  const octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  const v4 = new RegExp(`^${octet}(\\.${octet}){3}(\\/([0-9]|[12][0-9]|3[0-2]))?$`);
  const v6 = /^[0-9a-fA-F:]*:[0-9a-fA-F:.]*(\/[0-9]{1,3})?$/;
  return v4.test(s) || v6.test(s);
}

function parseVif(spec: string, ctx: DiskCtx, warn: (detail: string) => void): VifConfig {
  const vif: VifConfig = {};
  for (const raw of spec.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) ctx.fail(`expected key=value, got ${q(item)}`);
    const k = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    switch (k) {
      case "mac": {
        const why = validateMac(v);
        if (why) ctx.fail(`bad mac ${q(v)}: ${why}`);
        vif.mac = normalizeMac(v);
        break;
      }
      case "bridge":
        if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(v))
          ctx.fail(`bad bridge name ${q(v)} (1-15 letters, digits, '_', '.', ':', '-')`);
        vif.bridge = v;
        break;
      case "ip": {
        const ips = v.split(/\s+/).filter((x) => x !== "");
        if (ips.length === 0 || !ips.every(validIp)) ctx.fail(`bad ip ${q(v)} (one or more space-separated addresses)`);
        vif.ip = ips.join(" ");
        break;
      }
      case "model":
        if (!/^[A-Za-z0-9_-]+$/.test(v)) ctx.fail(`bad model ${q(v)}`);
        vif.model = v;
        break;
      case "forward":
        try { parseForward(v); } catch (e) { ctx.fail((e as Error).message); }
        (vif.forward ??= []).push(v);
        break;
      default:
        if (VIF_IGNORED.includes(k)) warn(`option ${q(k)} is not supported, ignored`);
        else warn(`unknown option ${q(k)}, ignored`);
    }
  }
  return vif;
}

// ---------------------------------------------------------------------------------------------
// Semantics

const KNOWN_KEYS = new Set([
  "name", "kernel", "ramdisk", "cmdline", "root", "extra", "memory", "maxmem", "vcpus", "maxvcpus", "disk", "vif",
  "on_poweroff", "on_reboot", "on_crash", "uuid", "cpu_weight", "cpu_cap", "cap", "type", "builder", "bootloader",
  "vfb", "vnc", "sdl",
]);

/** The one bridge a xenwasm host has (host/devices/net/bridge.ts). */
export const BRIDGE = "xenbr0";

/**
 * Parses an xm/xl domain configuration. `file` is used only in messages. Throws ConfigError.
 */
export function parseConfig(text: string, file: string): DomainConfig {
  const settings = parseSettings(text, file);
  const warnings: string[] = [];
  function fail(key: string, line: number | undefined, detail: string): never {
    throw new ConfigError(file, line, key, detail);
  }
  const warn = (key: string, line: number, detail: string) => warnings.push(`${file}:${line}: ${key}: ${detail}`);
  const got = (v: Value) => (v.kind === "list" ? "a list" : v.kind === "number" ? v.text : q(v.text));

  for (const [key, s] of settings) if (!KNOWN_KEYS.has(key)) warn(key, s.line, "unknown setting, ignored");

  const str = (key: string): string | undefined => {
    const s = settings.get(key);
    if (!s) return undefined;
    if (s.value.kind === "list") fail(key, s.line, "must be a string, not a list");
    return s.value.text;
  };
  const int = (key: string, what: string): number | undefined => {
    const s = settings.get(key);
    if (!s) return undefined;
    const v = s.value;
    if (v.kind === "number") return v.n;
    if (v.kind === "string") {
      const t = v.text.trim();
      if (/^[0-9]+$/.test(t) && !(t.length > 1 && t[0] === "0")) {
        const n = Number(t);
        if (Number.isSafeInteger(n)) return n;
      }
      if (/^0[xX][0-9a-fA-F]{1,12}$/.test(t)) return parseInt(t.slice(2), 16);
    }
    return fail(key, s.line, `must be ${what} (got ${got(v)})`);
  };
  const range = (key: string, n: number, lo: number, hi: number, unit = "") =>
    n < lo || n > hi ? fail(key, settings.get(key)!.line, `must be between ${lo} and ${hi}${unit} (got ${n})`) : n;
  const list = (key: string): Value[] => {
    const s = settings.get(key);
    if (!s) return [];
    if (s.value.kind !== "list") fail(key, s.line, `must be a list, as in ${key} = [ '...' ] (got ${got(s.value)})`);
    return s.value.items;
  };
  const lineOf = (key: string) => settings.get(key)?.line;

  // name
  const name = str("name");
  if (name === undefined) fail("name", undefined, "required setting is missing");
  if (name === "") fail("name", lineOf("name"), "must not be empty");
  if (name.length > NAME_MAX)
    fail("name", lineOf("name"), `must be at most ${NAME_MAX} characters (got ${name.length})`);
  if (!/^[A-Za-z0-9_.~+@:-]+$/.test(name))
    fail("name", lineOf("name"), `may contain only letters, digits and - _ . ~ + @ : (got ${q(name)})`);
  if (name.startsWith("-"))
    fail("name", lineOf("name"), `must not start with '-': it would be taken for an option (got ${q(name)})`);
  if (/^[0-9]+$/.test(name))
    fail("name", lineOf("name"), `must not be all digits: it would be taken for a domain id (got ${q(name)})`);
  if (name === "Domain-0") fail("name", lineOf("name"), "\"Domain-0\" is reserved for the control domain");

  // kernel, ramdisk
  const path = (key: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    if (v === "") fail(key, lineOf(key), "must not be empty");
    if (/[\x00-\x1f]/.test(v)) fail(key, lineOf(key), `path contains control characters (got ${q(v)})`);
    return v;
  };
  // What this build cannot honour: an HVM or PVH guest is an error (booting it PV would not be what was
  // asked), a bootloader or a framebuffer a warning (the kernel and the PV console are used instead).
  for (const key of ["type", "builder"]) {
    const t = str(key);
    if (t !== undefined && t !== "pv" && !(key === "builder" && t === "linux")) {
      fail(
        key, lineOf(key), `${q(t)} guests cannot run here: xenwasm runs paravirtualised (PV) guests only (type = "pv")`
      );
    }
  }
  const bootloader = str("bootloader");
  const kernel = path("kernel", str("kernel"));
  if (kernel === undefined) {
    if (bootloader !== undefined) fail(
      "bootloader", lineOf("bootloader"), `${q(bootloader)} is not supported: give kernel = (a PV `
        + `kernel, or Debian's PVGRUB2 grub-x86_64-xen.bin as in ` + `examples/)`
    );
    fail("kernel", undefined, "required setting is missing");
  }
  if (bootloader !== undefined)
    warn("bootloader", lineOf("bootloader")!, `${q(bootloader)} is not supported, ignored: the kernel = setting boots`);
  for (const key of ["vfb", "vnc", "sdl"]) {
    if (settings.has(key))
      warn(key, lineOf(key)!, "no framebuffer here, ignored: the guest has its PV console (xm console)");
  }
  const ramdisk = path("ramdisk", str("ramdisk"));

  // command line, as xl builds it
  let cmdline = str("cmdline");
  const root = str("root");
  const extra = str("extra");
  if (cmdline !== undefined) {
    if (root !== undefined || extra !== undefined) {
      warn("cmdline", lineOf("cmdline")!, "root= and extra= are ignored in favour of cmdline=");
    }
  } else if (root !== undefined && extra !== undefined) cmdline = `root=${root} ${extra}`;
  else if (root !== undefined) cmdline = `root=${root}`;
  else cmdline = extra;

  // memory
  const memoryRaw = int("memory", "a whole number of MiB");
  const memory = memoryRaw === undefined ? 128 : range("memory", memoryRaw, 1, MEMORY_MAX_MIB, " MiB");
  const maxmemRaw = int("maxmem", "a whole number of MiB");
  const maxmem = maxmemRaw === undefined ? memory : range("maxmem", maxmemRaw, 1, MEMORY_MAX_MIB, " MiB");
  if (maxmem < memory) fail("maxmem", lineOf("maxmem"), `must not be less than memory (${maxmem} < ${memory} MiB)`);

  // vcpus and the credit scheduler
  const vcpusRaw = int("vcpus", "a whole number");
  const vcpus = vcpusRaw === undefined ? 1 : range("vcpus", vcpusRaw, 1, VCPUS_MAX);
  const maxvcpusRaw = int("maxvcpus", "a whole number");
  const maxvcpus = maxvcpusRaw === undefined ? undefined : range("maxvcpus", maxvcpusRaw, 1, VCPUS_MAX);
  if (maxvcpus !== undefined && maxvcpus < vcpus)
    fail("maxvcpus", lineOf("maxvcpus"), `must not be less than vcpus (${maxvcpus} < ${vcpus})`);
  const weightRaw = int("cpu_weight", "a whole number");
  const cpu_weight = weightRaw === undefined ? undefined : range("cpu_weight", weightRaw, 1, 65535);
  if (settings.has("cap") && settings.has("cpu_cap")) {
    fail("cap", lineOf("cap"), `is the xl name of cpu_cap, which is also set (line ${lineOf("cpu_cap")})`);
  }
  const capKey = settings.has("cap") ? "cap" : "cpu_cap";
  const capRaw = int(capKey, "a whole percentage of one CPU");
  const cpu_cap =
    capRaw === undefined ? undefined : range(capKey, capRaw, 0, 100 * vcpus, " (100 per vcpu; 0 means no cap)");

  // shutdown actions
  const action = (key: string, dflt: ShutdownAction): ShutdownAction => {
    const v = str(key);
    if (v === undefined) return dflt;
    if (!(SHUTDOWN_ACTIONS as readonly string[]).includes(v)) {
      fail(key, lineOf(key), `must be one of ${SHUTDOWN_ACTIONS.join(", ")} (got ${q(v)})`);
    }
    return v as ShutdownAction;
  };
  const on_poweroff = action("on_poweroff", "destroy");
  const on_reboot = action("on_reboot", "restart");
  const on_crash = action("on_crash", "destroy");

  // uuid
  let uuid = str("uuid");
  if (uuid !== undefined) {
    if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(uuid)) {
      fail("uuid", lineOf("uuid"), `must look like 01234567-89ab-cdef-0123-456789abcdef (got ${q(uuid)})`);
    }
    uuid = uuid.toLowerCase();
  }

  // disks
  const disks: DiskConfig[] = [];
  const vdevs = new Map<number, string>();
  list("disk").forEach((v, i) => {
    const ctx: DiskCtx = { fail: (d) => fail("disk", v.line, `entry ${i + 1}: ${d}`) };
    if (v.kind !== "string") ctx.fail(`must be a string such as 'file:/path/disk.img,xvda,w' (got ${got(v)})`);
    const d = parseDisk(v.text, ctx);
    const num = vdevNumber(d.vdev) as number;
    const prev = vdevs.get(num);
    if (prev !== undefined) ctx.fail(
      `vdev ${q(d.vdev)} is already used by ${prev === d.vdev ? "an earlier disk" : `${q(prev)} (the same device)`}`
    );
    vdevs.set(num, d.vdev);
    disks.push(d);
  });

  // network interfaces
  const vifs: VifConfig[] = [];
  const macs = new Set<string>();
  list("vif").forEach((v, i) => {
    const ctx: DiskCtx = { fail: (d) => fail("vif", v.line, `entry ${i + 1}: ${d}`) };
    if (v.kind !== "string") ctx.fail(`must be a string such as 'mac=00:16:3e:12:34:56,bridge=xenbr0' (got ${got(v)})`);
    const vif = parseVif(v.text, ctx, (d) => warn("vif", v.line, `entry ${i + 1}: ${d}`));
    if (vif.bridge !== undefined && vif.bridge !== BRIDGE) warn(
      "vif", v.line, `entry ${i + 1}: bridge ${q(vif.bridge)} does not exist here `
        + `(the host has one bridge, ${BRIDGE}): the vif goes on ` + `${BRIDGE}`
    );
    if (vif.mac !== undefined) {
      if (macs.has(vif.mac)) ctx.fail(`mac ${vif.mac} is already used by an earlier vif`);
      macs.add(vif.mac);
    }
    vifs.push(vif);
  });

  const cfg: DomainConfig = {
    name, kernel, memory, maxmem, vcpus, disks, vifs, on_poweroff, on_reboot, on_crash, warnings,
  };
  if (ramdisk !== undefined) cfg.ramdisk = ramdisk;
  if (cmdline !== undefined) cfg.cmdline = cmdline;
  if (uuid !== undefined) cfg.uuid = uuid;
  if (cpu_weight !== undefined) cfg.cpu_weight = cpu_weight;
  if (maxvcpus !== undefined && maxvcpus > vcpus) cfg.maxvcpus = maxvcpus;
  if (cpu_cap !== undefined) cfg.cpu_cap = cpu_cap;
  return cfg;
}

/** A config's devices as the backends take them: DiskSpecs for the block backend, VifSpecs for the net backend. */
export function deviceSpecs(cfg: Pick<DomainConfig, "disks" | "vifs">): { disks: DiskSpec[]; vifs: VifSpec[] } {
  return {
    disks: cfg.disks.map((k) => ({ path: k.target, vdev: k.vdev, writable: k.writable })),
    vifs: (cfg.vifs ?? []).map((v) => ({ mac: v.mac, devid: v.devid })),
  };
}
