// A domain's config that arrives from outside xend's socket (the TOOLSTACK record of a save file or
// of an incoming migration) is untrusted data: it goes through the very validator of config files
// (parseConfig: names, numbers, disk and vif specs), written back as config text; anything that is
// not the right type is refused. Then its paths (disks, kernel, ramdisk) pass the receiving host's
// rules (checkPaths): nothing is opened that this xend's user did not ask for.
import { realpathSync, statSync } from "node:fs";
import { isAbsolute, sep } from "node:path";
import { parseConfig, ConfigError, DomainConfig, ShutdownAction } from "./config";

export interface ToolstackRecord { config: DomainConfig; weight: number; cap: number }

/** A string as a config-file string literal (parseConfig's escapes). */
function lit(s: string): string {
  let o = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") o += "\\" + ch;
    else if (c < 0x20 || c === 0x7f) o += "\\x" + c.toString(16).padStart(2, "0");
    else o += ch;
  }
  return o + '"';
}

class Bad extends Error {}
const str = (v: unknown, what: string): string => {
  if (typeof v !== "string") throw new Bad(`${what} is not a string`); return v;
};
const int = (v: unknown, what: string): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Bad(`${what} is not a whole number`); return v as number;
};
const opt = <T>(v: unknown, f: (v: unknown) => T): T | undefined => (v === undefined || v === null ? undefined : f(v));

/**
 * The toolstack record of a stream, validated: `where` names the stream in messages ("save file X",
 * "the migration stream"); `info` is what the stream's DOMAIN record says (name, memory, vCPUs), which
 * the config must agree with. Throws Error with one line.
 */
export function validateToolstack(
  ts: unknown, where: string, info: { name: string; memoryMiB: number; vcpus: number }
): ToolstackRecord {
  try {
    if (ts === undefined) {
      const cfg = parseConfig(
        `name = ${lit(info.name)}\nkernel = "-"\nmemory = ` + `${int(info.memoryMiB, "memory")}\nvcpus = `
          + `${int(info.vcpus, "vcpus")}\non_reboot = "destroy"\n`, where
      );
      return { config: { ...cfg, kernel: "", warnings: [] }, weight: 256, cap: 0 };
    }
    if (typeof ts !== "object" || ts === null) throw new Bad("not an object");
    const t = ts as Record<string, unknown>;
    const c = t.config as Record<string, unknown>;
    if (typeof c !== "object" || c === null) throw new Bad("no config");
    const lines: string[] = [];
    lines.push(`name = ${lit(str(c.name, "name"))}`);
    const kernel = str(c.kernel, "kernel");
    lines.push(`kernel = ${lit(kernel === "" ? "-" : kernel)}`);
    const ramdisk = opt(c.ramdisk, (v) => str(v, "ramdisk"));
    if (ramdisk !== undefined) lines.push(`ramdisk = ${lit(ramdisk)}`);
    const cmdline = opt(c.cmdline, (v) => str(v, "cmdline"));
    if (cmdline !== undefined) lines.push(`cmdline = ${lit(cmdline)}`);
    lines.push(
      `memory = ${int(c.memory, "memory")}`, `maxmem = ${int(c.maxmem, "maxmem")}`, `vcpus = ${int(c.vcpus, "vcpus")}`
    );
    const maxv = opt(c.maxvcpus, (v) => int(v, "maxvcpus"));
    if (maxv !== undefined) lines.push(`maxvcpus = ${maxv}`);
    for (const k of ["on_poweroff", "on_reboot", "on_crash"]) lines.push(`${k} = ${lit(str(c[k], k))}`);
    const uuid = opt(c.uuid, (v) => str(v, "uuid"));
    if (uuid !== undefined) lines.push(`uuid = ${lit(uuid)}`);
    const w = opt(c.cpu_weight, (v) => int(v, "cpu_weight"));
    if (w !== undefined) lines.push(`cpu_weight = ${w}`);
    const cap = opt(c.cpu_cap, (v) => int(v, "cpu_cap"));
    if (cap !== undefined) lines.push(`cpu_cap = ${cap}`);
    if (!Array.isArray(c.disks) || c.disks.length > 64) throw new Bad("disks is not a list (of at most 64)");
    const disks = c.disks.map((d: Record<string, unknown>, i: number) => {
      if (typeof d !== "object" || d === null || typeof d.writable !== "boolean")
        throw new Bad(`disk ${i + 1} is malformed`);
      const access = d.writable ? "rw" : "ro";
      return lit(`format=raw,vdev=${str(d.vdev, "vdev")},access=${access},target=${str(d.target, "disk target")}`);
    });
    lines.push(`disk = [ ${disks.join(", ")} ]`);
    if (!Array.isArray(c.vifs) || c.vifs.length > 64) throw new Bad("vifs is not a list (of at most 64)");
    const devids: (number | undefined)[] = [];
    const vifs = c.vifs.map((v: Record<string, unknown>, i: number) => {
      if (typeof v !== "object" || v === null) throw new Bad(`vif ${i + 1} is malformed`);
      const parts: string[] = [];
      for (const k of ["mac", "bridge", "ip", "model"]) {
        const x = opt(v[k], (y) => str(y, `vif ${k}`)); if (x !== undefined) parts.push(`${k}=${x}`);
      }
      const fw = opt(
        v.forward, (y) => {
          if (!Array.isArray(y)) throw new Bad("vif forward is not a list"); return y.map((z) => str(z, "vif forward"));
        }
      );
      for (const f of fw ?? []) parts.push(`forward=${f}`);
      const devid = opt(v.devid, (y) => int(y, "vif devid"));
      if (devid !== undefined && (devid > 255 || devids.includes(devid)))
        throw new Bad(`vif devid ${devid} is out of range or repeated`);
      devids.push(devid);
      return lit(parts.join(","));
    });
    lines.push(`vif = [ ${vifs.join(", ")} ]`);
    const cfg = parseConfig(lines.join("\n") + "\n", where);
    if (cfg.vifs.length !== devids.length) throw new Bad("the vifs do not parse back one for one");
    cfg.vifs.forEach((v, i) => { if (devids[i] !== undefined) v.devid = devids[i]; });
    if (kernel === "") cfg.kernel = "";
    cfg.warnings = [];
    if (cfg.name !== info.name)
      throw new Bad(`its name ${JSON.stringify(cfg.name)} is not the domain's (${JSON.stringify(info.name)})`);
    if ((cfg.maxvcpus ?? cfg.vcpus) !== info.vcpus)
      throw new Bad(`vcpus ${cfg.maxvcpus ?? cfg.vcpus} is not the domain's (${info.vcpus})`);
    const weight = opt(t.weight, (v) => int(v, "weight")) ?? 256;
    if (weight < 1 || weight > 65535) throw new Bad("weight must be 1..65535");
    const tcap = opt(t.cap, (v) => int(v, "cap")) ?? 0;
    if (tcap > 100 * cfg.vcpus) throw new Bad(`cap must be 0..${100 * cfg.vcpus}`);
    return { config: cfg, weight, cap: tcap };
  } catch (e) {
    // Refusals only: a bug of ours (a TypeError...) is not dressed up as one.
    if (!(e instanceof Bad || e instanceof ConfigError)) throw e;
    throw new Error(`${where}: its domain config is refused: ${(e as Error).message}`);
  }
}

/** XEND_DISK_ALLOW: directories (':'-separated) whose files an incoming domain may use. */
export function diskAllowList(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.XEND_DISK_ALLOW ?? "").split(":").filter((d) => d !== "")
    .map((d) => { try { return realpathSync(d); } catch { return d; } });
}

const under = (p: string, dirs: string[]) => dirs.some((d) => p === d || p.startsWith(d.endsWith(sep) ? d : d + sep));

/**
 * The receiving host's rules for the paths of an incoming config. `vouched`: the stream proved it
 * comes from a holder of this xend's secret (an authenticated migration, a save file with this host's
 * MAC): its paths were asked for by this xend's user. Otherwise (a save file from anywhere else) a
 * path must lie, symlinks resolved, in a directory of XEND_DISK_ALLOW. With XEND_DISK_ALLOW set, every
 * incoming path must lie there, vouched or not. Every path must be absolute; disks must be regular
 * files or block devices. Disks that break a rule refuse the whole domain; a kernel or ramdisk that
 * does is dropped (the domain runs, but cannot restart) and said so in `notes`. Paths are replaced by
 * their resolved form, so what was checked is what is opened.
 */
export function checkPaths(cfg: DomainConfig, vouched: boolean, where: string, allow = diskAllowList()): string[] {
  const notes: string[] = [];
  const why = (p: string): string | undefined => {
    if (!isAbsolute(p)) return "not an absolute path";
    if (!vouched && allow.length === 0)
      return "the stream is not vouched for by this host's secret and XEND_DISK_ALLOW is not set";
    if (allow.length === 0) return undefined;
    let real: string;
    try { real = realpathSync(p); } catch { return "it does not exist"; }
    if (!under(real, allow)) return `${real} is outside XEND_DISK_ALLOW`;
    return undefined;
  };
  const resolve = (p: string) => (allow.length ? realpathSync(p) : p);
  for (const d of cfg.disks) {
    const bad = why(d.target);
    if (bad) throw new Error(`${where}: disk ${d.vdev} (${d.target}) is refused: ${bad}`);
    d.target = resolve(d.target);
    let st;
    try {
      st = statSync(d.target);
    } catch { throw new Error(`${where}: disk ${d.vdev} (${d.target}) does not exist here`); }
    if (!st.isFile() && !st.isBlockDevice())
      throw new Error(`${where}: disk ${d.vdev} (${d.target}) is not a regular file or block device`);
  }
  for (const k of ["kernel", "ramdisk"] as const) {
    const p = cfg[k];
    if (!p) continue;
    const bad = why(p);
    if (bad) {
      notes.push(`${k} ${p} dropped (${bad}): the domain cannot restart`); if (k === "kernel") cfg.kernel = "";
      else delete cfg.ramdisk; continue;
    }
    try { cfg[k] = resolve(p); } catch { /* checked by why() */ }
  }
  if (!cfg.kernel) for (const k of ["on_reboot", "on_crash", "on_poweroff"] as const)
    if ((cfg[k] as ShutdownAction).endsWith("restart")) cfg[k] = "destroy";
  return notes;
}
