// The parsers that take outside bytes, as fuzz targets. Each target has seeds (valid inputs made from
// the bundled guests, a real save of a real domain, real configs and messages), a generator (input i
// of a run is a pure function of the target, the run's seed and i: tests/lib/pfuzz/mutate.ts) and a
// run() that feeds one input to the real parser and says what happened:
//   ok         the input was taken (and the parser's result is consistent: see each target),
//   error      refused with a clear error: an exception of the target's own classes (exactly: a
//              TypeError or RangeError is never one), with a one-line message, or the protocol's
//              own error answer (xenstore: an XS_ERROR reply; migration: REFUSE/ERROR from the
//              receiver), and nothing left behind (machine frames, domains),
//   failure    anything else: another exception (a TypeError, RangeError, wasm trap, stack overflow),
//              a message of several lines, a leak, an internal error hidden as a protocol error.
// Hangs and memory blow-ups are caught outside, by the runner's watchdog (runner.ts).
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createConnection } from "node:net";
import { Rng, mutate, mutateJson, concat } from "./mutate";
import { repoRoot } from "../repo";
import { EXAMPLE_CONFIG } from "../configs";
import { parseElf } from "../../../host/elf";
import { parseXenElf, noteNum, noteStr } from "../../../host/pv/xenelf";
import { BuildError } from "../../../host/pv/builder";
import { loadKernelImage, loadKernelImageAsync } from "../../../host/pv/image";
import { XenHost } from "../../../host/pv/host";
import { parseConfig, ConfigError } from "../../../host/xend/config";
import { validateToolstack } from "../../../host/xend/incoming";
import { readStream, StreamError, REC, recordParts, streamHeader, MANDATORY } from "../../../host/save/stream";
import { saveDomain, openStream, restoreDomain, PAGE_REC } from "../../../host/save/save";
import { startRelocation, MigrateTarget } from "../../../host/migrate/receive";
import { authFor } from "../../../host/migrate/send";
import {
  XenStore, XsRing, RING, XS, HEADER_SIZE, encode, strings, readHeader, Framer, populateDomain, splitStrings,
  bytesToStr,
} from "../../../host/devices/xenstore";
import { LineReader, parseRequest, ProtocolError, Request } from "../../../host/xend/protocol";
import { Xend } from "../../../host/xend/daemon";
import { DS_RUNNING } from "../../../assembly/records";

export type Verdict = { kind: "ok" } | { kind: "error"; msg: string } | { kind: "failure"; why: string };
const OK: Verdict = { kind: "ok" };
const failure = (why: string): Verdict => ({ kind: "failure", why });

/** Errors of the engine, never a parser's own answer. */
const ENGINE_ERRORS: Function[] = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError,
  WebAssembly.RuntimeError, WebAssembly.CompileError, WebAssembly.LinkError];

/** An exception: a clear error if its class is exactly one of `allowed` and its message one line. */
export function classify(e: unknown, allowed: Function[], firstLine = false): Verdict {
  if (!(e instanceof Error)) return failure(`threw a non-Error: ${String(e)}`);
  const cls = e.constructor;
  if (ENGINE_ERRORS.includes(cls) || !allowed.includes(cls))
    return failure(`${e.name} (not one of the parser's own errors): ${e.message}\n${e.stack ?? ""}`);
  if (firstLine && e.message.split("\n")[0]) return { kind: "error", msg: e.message.split("\n")[0] };
  if (!e.message || e.message.includes("\n"))
    return failure(`${e.name} without a one-line message: ${JSON.stringify(e.message)}`);
  return { kind: "error", msg: e.message };
}

export interface Target<C = unknown> {
  name: string;
  /** What a clear error is for this target (for reports). */
  clear: string;
  setup(): Promise<C>;
  /** Input `index` (its generator already seeded from target, seed and index). */
  input(rng: Rng, ctx: C, index: number): Uint8Array;
  run(input: Uint8Array, ctx: C): Promise<Verdict> | Verdict;
  /** Inputs that once broke the parser (regressions): each must end in ok or a clear error. */
  regressions?: (ctx: C) => { name: string; input: Uint8Array }[];
}

const root = () => repoRoot();
const guest = (name: string) => {
  for (const dir of ["guests/build", "guests/prebuilt"]) {
    const p = join(root(), dir, name);
    if (existsSync(p)) return new Uint8Array(readFileSync(p));
  }
  throw new Error(`guest ${name} not found (build the guests: make -C guests)`);
};
const te = new TextEncoder();
const td = new TextDecoder();

/** Offsets of the ELF header's fields and of every program/section header's fields. */
function elfFields(b: Uint8Array): number[] {
  const f = [4, 5, 6, 7, 16, 18, 20, 24, 28, 32, 36, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62];
  if (b.length < 64) return f;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const is64 = b[4] === 2;
  const phoff = is64 ? Number(dv.getBigUint64(32, true)) : dv.getUint32(28, true);
  const shoff = is64 ? Number(dv.getBigUint64(40, true)) : dv.getUint32(32, true);
  const phent = dv.getUint16(is64 ? 54 : 42, true), phnum = dv.getUint16(is64 ? 56 : 44, true);
  const shent = dv.getUint16(is64 ? 58 : 46, true), shnum = dv.getUint16(is64 ? 60 : 48, true);
  for (let i = 0; i < phnum && phoff + (i + 1) * phent <= b.length; i++)
    for (let k = 0; k < phent; k += 4) f.push(phoff + i * phent + k);
  for (let i = 0; i < shnum && shoff + (i + 1) * shent <= b.length; i++)
    for (let k = 0; k < shent; k += 4) f.push(shoff + i * shent + k);
  // The notes: each header's namesz/descsz/type, found by walking the PT_NOTE segments.
  for (let i = 0; i < phnum && phoff + (i + 1) * phent <= b.length; i++) {
    const p = phoff + i * phent;
    if (dv.getUint32(p, true) !== 4) continue;
    const off = is64 ? Number(dv.getBigUint64(p + 8, true)) : dv.getUint32(p + 4, true);
    const size = is64 ? Number(dv.getBigUint64(p + 32, true)) : dv.getUint32(p + 16, true);
    for (let q = off; q + 12 <= Math.min(off + size, b.length);) {
      f.push(q, q + 4, q + 8, q + 12);
      const n = dv.getUint32(q, true), d = dv.getUint32(q + 4, true);
      f.push(q + 12 + Math.ceil(n / 4) * 4); // the descriptor (a note's value)
      q += 12 + Math.ceil(n / 4) * 4 + Math.ceil(d / 4) * 4;
    }
  }
  return f;
}

interface Seeds { seeds: Uint8Array[]; fields: number[][] }
function seedsOf(list: Uint8Array[]): Seeds { return { seeds: list, fields: list.map(elfFields) }; }
function fromSeeds(rng: Rng, s: Seeds, maxLen?: number): Uint8Array {
  const i = rng.below(s.seeds.length);
  return mutate(rng, s.seeds[i], { fields: s.fields[i], others: s.seeds, maxLen });
}

// ---------------------------------------------------------------------------------------------
// ELF (bare programs: host/elf.ts)

const elf: Target<Seeds> = {
  name: "elf",
  clear: "Error (host/elf.ts throws Error with one line)",
  async setup() {
    const names =
      ["hello-32.elf", "hello-64.elf", "exit3-32.elf", "exit3-64.elf", "crc32-small-32.elf", "crc32-small-64.elf"];
    return seedsOf(
      names.map((n) => { try { return guest(n); } catch { return undefined; } })
        .filter((x): x is Uint8Array<ArrayBuffer> => !!x)
    );
  },
  input: (rng, s) => fromSeeds(rng, s),
  run(b) {
    let img;
    try { img = parseElf(b); } catch (e) { return classify(e, [Error]); }
    // What the loader relies on: every segment's file bytes are in the file.
    for (const s of img.segments) if (!(s.offset >= 0 && s.offset + s.filesz <= b.length && s.filesz <= s.memsz))
      return failure(`accepted segment ${s.index} outside the file`);
    return OK;
  },
};

// ---------------------------------------------------------------------------------------------
// PV kernels: ELF and Xen notes (host/pv/xenelf.ts) and the domain builder that reads them

interface HostCtx extends Seeds { host: XenHost; free: number }

/** A host whose free frames and domains must be back to where they were after each input. */
async function leakCheckedHost(machineMiB: number): Promise<XenHost> { return XenHost.create(machineMiB); }
function leak(h: { host: XenHost; free: number }): string | undefined {
  const now = h.host.core.x.hv_frames_free();
  if (now !== h.free) return `machine frames leaked: ${h.free - now} (free ${h.free} before, ${now} after)`;
  if (h.host.domains.size) return `domains left behind: ${[...h.host.domains.keys()].join(", ")}`;
  return undefined;
}

const xenelf: Target<HostCtx> = {
  name: "xenelf",
  clear: "Error (host/pv/xenelf.ts) or BuildError (host/pv/builder.ts), nothing left in the hypervisor",
  async setup() {
    const s = seedsOf(["pv-hello-64.elf", "pv-hello-32.elf", "pv-hcpage-64.elf", "pv-hcpage-32.elf"].map(guest));
    const host = await leakCheckedHost(256);
    return { ...s, host, free: host.core.x.hv_frames_free() };
  },
  input: (rng, s) => fromSeeds(rng, s),
  run(b, c) {
    let img;
    try {
      img = parseXenElf(b);
      for (let t = 0; t < 20; t++) { noteNum(img, t); noteStr(img, t); }
      for (const s of img.segments) if (!(s.offset + s.filesz <= b.length && s.filesz <= s.memsz))
        return failure("accepted a segment outside the file");
    } catch (e) { return classify(e, [Error]); }
    let v: Verdict = OK;
    try {
      const h = c.host.createDomain("fuzz", b, { memoryMiB: 4 });
      c.host.destroyDomain(h.domid);
    } catch (e) { v = classify(e, [Error, BuildError]); }
    const l = leak(c);
    if (l) {
      for (const id of [...c.host.domains.keys()]) c.host.destroyDomain(id); c.free = c.host.core.x.hv_frames_free();
      return failure(l);
    }
    return v;
  },
};

// ---------------------------------------------------------------------------------------------
// bzImage (host/pv/image.ts): the setup header, the compressed payload, then the ELF inside

/** A bzImage around `elf`: 4 setup sectors + the boot sector, "HdrS", the payload's offset/length. */
export function makeBzImage(payload: Uint8Array): Uint8Array {
  const setupSects = 4, off = 0x40;
  const b = new Uint8Array((setupSects + 1) * 512 + off + payload.length);
  const dv = new DataView(b.buffer);
  b[0x1f1] = setupSects;
  b.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint32(0x248, off, true);
  dv.setUint32(0x24c, payload.length, true);
  b.set(payload, (setupSects + 1) * 512 + off);
  return b;
}

function compress(cmd: string, args: string[], data: Uint8Array): Uint8Array | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execFileSync } = require("node:child_process") as typeof import("node:child_process");
    return new Uint8Array(
      execFileSync(cmd, args, { input: data, stdio: ["pipe", "pipe", "ignore"], maxBuffer: 64 << 20 })
    );
  } catch { return undefined; }
}

const BZ_FIELDS = [0x1f1, 0x202, 0x203, 0x248, 0x249, 0x24c, 0x24d, 0x24e, 0x24f];
interface BzCtx extends Seeds { slow: Uint8Array[] }
const bzimage: Target<BzCtx> = {
  name: "bzimage",
  clear: "Error (host/pv/image.ts, or host/pv/xenelf.ts for the ELF inside)",
  async setup() {
    const { gzipSync } = await import("node:zlib");
    const elfs = ["pv-hello-64.elf", "pv-hello-32.elf"].map(guest);
    const gz = elfs.map((e) => makeBzImage(new Uint8Array(gzipSync(e))));
    const payloadAt = (5 * 512 + 0x40);
    const fields = gz.map(
      () => [...BZ_FIELDS, payloadAt, payloadAt + 2, payloadAt + 3, payloadAt + 4, payloadAt + 8, payloadAt + 9]
    );
    const slow: Uint8Array[] = [];
    const xz = compress("xz", ["-c", "--check=crc32"], elfs[0]);
    const zst = compress("zstd", ["-c", "-q"], elfs[0]);
    if (xz) slow.push(makeBzImage(xz));
    if (zst) slow.push(makeBzImage(zst));
    return { seeds: gz, fields, slow };
  },
  input(rng, s) {
    // xz and zstd payloads go to a child process each: a few percent of the inputs.
    if (s.slow.length && rng.chance(0.03)) return mutate(rng, rng.pick(s.slow), { fields: BZ_FIELDS });
    return fromSeeds(rng, s);
  },
  async run(b, _c) {
    const limit = 8 << 20; // as xend: the domain's memory
    let out: Uint8Array;
    try {
      out = b[0] === 0x7f ? b : (b.length & 1 ? await loadKernelImageAsync(b, limit) : loadKernelImage(b, limit));
    } catch (e) { return classify(e, [Error]); }
    if (out.length > limit) return failure(`decompressed ${out.length} bytes past the limit ${limit}`);
    try { parseXenElf(out); } catch (e) { return classify(e, [Error]); }
    return OK;
  },
};

// ---------------------------------------------------------------------------------------------
// Configs (host/xend/config.ts) and a stream's TOOLSTACK record (host/xend/incoming.ts)

const CONFIG_SEEDS = [
  EXAMPLE_CONFIG,
  `name = "g"\nkernel = "/boot/vmlinuz"\n`,
  `name="linux"\nkernel="/k"\ncmdline="console=hvc0 \\x41\\101"\nmemory=64\n` +
    `vif=['ip=10.0.2.20,forward=tcp:8080:80,forward=tcp:127.0.0.1:2222:22']\ndisk=['/srv/d.img,hda,r']\nextra+=" `
      + `quiet"\n`,
  `name = 'a'; kernel = '/k'; vcpus = 32; memory = 1048576; ` + `disk = [ 'vdev=xvda,target=/x,access=rw', `
    + `'phy:/dev/sda,51712,w' ]\nvif = [ 'mac=00:16:3e:00:00:01', `
    + `'model=netfront,bridge=xenbr0' ]\non_crash = 'preserve'\n`,
];
const CONFIG_TOKENS = [
  `"`, `'`, "[", "]", ",", "=", "+=", "\n", ";", "#", "\\x", "\\777", "\\", "0x", "0x0", "099", "99999999999999999999",
  "-1", "disk = [", "vif = [", "memory = ", "name = ", "vcpus = ", "'format=raw,vdev=xvda,access=rw,target=/x'", "mac=",
  "forward=tcp:8080:80",
  "forward=udp:1:2", "ip=", "vdev=", "access=", "target=", "[[[[[[[[", "]]]]]", "\u00e9", "\u0000", "\r", "xvd", "hda",
  "sdz", "65536", "4294967296"
];
const TOOLSTACK_SEED: { config: Record<string, unknown>; weight: number; cap: number } = {
  config: {
    name: "g", kernel: "/boot/vmlinuz", cmdline: "console=hvc0", memory: 64, maxmem: 128, vcpus: 2,
    disks: [{ target: "/srv/a.img", vdev: "xvda", writable: true, format: "raw" }],
    vifs: [{ mac: "00:16:3e:01:02:03", bridge: "xenbr0", forward: ["tcp:8080:80"], devid: 0 }, { devid: 3 }],
    on_poweroff: "destroy", on_reboot: "restart", on_crash: "destroy", uuid: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    cpu_weight: 256, cpu_cap: 0, warnings: [],
  },
  weight: 512, cap: 50,
};

/** The counting guest's own (a save's and a migration's TOOLSTACK record). */
const SAVE_TOOLSTACK =
  { ...TOOLSTACK_SEED, config: { ...TOOLSTACK_SEED.config, name: "counter", vcpus: 1, memory: 4, maxmem: 4 } };

const config: Target<null> = {
  name: "config",
  clear: "ConfigError (\"FILE:LINE: KEY: ...\"); for a TOOLSTACK "
    + "record Error (\"WHERE: its domain config is refused: ...\")",
  async setup() { return null; },
  input(rng) {
    if (rng.chance(0.25)) { // a TOOLSTACK record: JSON, mutated as a structure or as text
      const v = mutateJson(rng, rng.chance(0.9) ? TOOLSTACK_SEED : undefined);
      let t = te.encode(JSON.stringify(v) ?? "null");
      if (rng.chance(0.3)) t = mutate(rng, t, { tokens: ['"', "{", "}", "[", "]", ",", ":", "null", "1e999", "-0"] });
      return concat(new Uint8Array([1]), t);
    }
    let t = te.encode(rng.pick(CONFIG_SEEDS));
    if (rng.chance(0.02)) t = concat(t, te.encode(`x = ${"[".repeat(1 + rng.below(200000))}`)); // deep lists
    else if (rng.chance(0.02))
      t = concat(t, te.encode(`extra += "${"a".repeat(rng.below(4096))}"\n`.repeat(1 + rng.below(64))));
    return concat(
      new Uint8Array([0]), mutate(rng, t, { tokens: CONFIG_TOKENS, others: CONFIG_SEEDS.map((s) => te.encode(s)) })
    );
  },
  run(b) {
    const text = td.decode(b.subarray(1));
    if (b[0] === 1) {
      let v: unknown;
      try { v = JSON.parse(text); } catch { return { kind: "error", msg: "not JSON (the stream reader refuses it)" }; }
      try {
        const r = validateToolstack(v, "fuzz", { name: "g", memoryMiB: 64, vcpus: 2 });
        if (r.config.name !== "g" || r.config.vcpus !== 2)
          return failure("a TOOLSTACK record for another domain was taken");
        return OK;
      } catch (e) { return classify(e, [Error]); }
    }
    try {
      const c = parseConfig(text, "fuzz.cfg");
      if (!(c.memory >= 1 && c.vcpus >= 1 && c.vcpus <= 32 && typeof c.name === "string"))
        return failure(`accepted a config out of range: ${JSON.stringify(c).slice(0, 200)}`);
      return OK;
    } catch (e) { return classify(e, [ConfigError]); }
  },
};

// ---------------------------------------------------------------------------------------------
// Save files (host/save/): the stream, its records, and a restore into a real hypervisor

interface Rec { type: number; flags: number; body: Uint8Array }
function encodeStream(recs: Rec[], header = streamHeader()): Uint8Array {
  const parts: Uint8Array[] = [header];
  for (const r of recs) parts.push(...recordParts(r.type, r.body, r.flags));
  return concat(...parts);
}

/** A counting guest suspended through xenstore, saved: a real save file. */
async function realSave(bits: 32 | 64): Promise<Uint8Array> {
  const host = await XenHost.create(64);
  const d = host.createDomain("counter", guest(`pv-counter-${bits}.elf`), { memoryMiB: 4, cmdline: "steps=30" });
  let out = "";
  d.onConsole = (b) => { out += td.decode(b); };
  const t0 = Date.now();
  await host.runUntil(
    () => (out.match(/count \d+/g)?.length ?? 0) >= 3 || host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 20000
  );
  host.store.write(`/local/domain/${d.domid}/control/shutdown`, "suspend");
  await host.runUntil(() => host.state(d.domid) !== DS_RUNNING || Date.now() - t0 > 20000);
  const s = saveDomain(host, d.domid, SAVE_TOOLSTACK);
  host.destroyDomain(d.domid);
  return s;
}

/** A save stream mutated as records (then framed with good CRCs: the checks past the CRC are reached)
 * or as raw bytes. Page-table pages (by the FRAMES record's types) get interesting entries. */
function mutateStream(rng: Rng, seed: Uint8Array, recs: Rec[], rawP: number): Uint8Array {
  if (rng.chance(rawP)) return mutate(rng, seed, { fields: [0, 4, 8, 12, 16, 20, 24, 28], maxLen: seed.length + 4096 });
  let rs = recs.map((r) => ({ ...r }));
  const frames = rs.find((r) => r.type === REC.FRAMES)?.body;
  const ptMfns = new Set<number>();
  if (frames) {
    const dv = new DataView(frames.buffer, frames.byteOffset, frames.byteLength);
    for (let o = 0; o + 16 <= frames.length; o += 16)
      if ((dv.getUint32(o + 4, true) & 0xff) >= 1 && (dv.getUint32(o + 4, true) & 0xff) <= 4)
        ptMfns.add(dv.getUint32(o, true));
  }
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const k = rng.below(12);
    if (k === 0 && rs.length > 1) rs.splice(rng.below(rs.length), 1); // drop a record
    else if (k === 1) { const r = rng.pick(rs); rs.splice(rng.below(rs.length + 1), 0, { ...r }); } // repeat one
    else if (k === 2) { const i = rng.below(rs.length), j = rng.below(rs.length); [rs[i], rs[j]] = [rs[j], rs[i]]; }
    else if (k === 3) {
      const r = rng.pick(rs); r.type = rng.pick([0, 8, 15, 26, 0xfffe, 0xffff, ...Object.values(REC)]);
      r.flags = rng.pick([0, MANDATORY, 0xffffffff]);
    }
    else if (k <= 6) { // a page-table page's entries
      const pages = rs.filter((r) => r.type === REC.PAGES);
      if (!pages.length) continue;
      const r = rng.pick(pages);
      const body = r.body.slice();
      const dv = new DataView(body.buffer);
      const pts: number[] = [];
      for (let o = 0; o + PAGE_REC <= body.length; o += PAGE_REC) if (ptMfns.has(dv.getUint32(o, true))) pts.push(o);
      const o = pts.length ? rng.pick(pts) : rng.below(Math.max(1, body.length / PAGE_REC)) * PAGE_REC;
      if (o + PAGE_REC > body.length) continue;
      for (let m = 1 + rng.below(4); m > 0; m--) {
        const e = o + 4 + rng.below(512) * 8;
        const v = rng.pick([
          0n, 1n, 3n, 7n, 0x67n, 0x80000000000000e7n, 0xfffff000n | 7n, BigInt(rng.u32()) << 12n | 7n,
          dv.getBigUint64(e, true) ^ (1n << BigInt(rng.below(64)))
        ]);
        dv.setBigUint64(e, v, true);
      }
      // its frame number
      if (rng.chance(0.2)) dv.setUint32(o, rng.pick([0, 0xffffffff, 1 << 20, rng.u32() & 0xfffff]), true);
      r.body = body;
    } else if (k === 7) { // the DOMAIN record's JSON
      const r = rs.find((x) => x.type === REC.DOMAIN);
      if (!r || r.body.length < 4) continue;
      const jl = new DataView(r.body.buffer, r.body.byteOffset).getUint32(0, true);
      if (4 + jl > r.body.length) continue;
      let info: unknown;
      try { info = JSON.parse(td.decode(r.body.subarray(4, 4 + jl))); } catch { continue; }
      const js = te.encode(JSON.stringify(mutateJson(rng, info)) ?? "null");
      const nb = new Uint8Array(4 + js.length + (r.body.length - 4 - jl));
      new DataView(nb.buffer).setUint32(0, js.length, true);
      nb.set(js, 4); nb.set(r.body.subarray(4 + jl), 4 + js.length);
      r.body = nb;
    } else if (k === 8) { // the TOOLSTACK record
      const r = rs.find((x) => x.type === REC.TOOLSTACK);
      if (r) r.body = te.encode(JSON.stringify(mutateJson(rng, SAVE_TOOLSTACK)) ?? "null");
    } else { // any record's bytes, at the fields of its kind
      const r = rng.pick(rs);
      const fields = r.type === REC.FRAMES
        ? Array.from({ length: 64 }, (_, i) => rng.below(Math.max(1, r.body.length / 16)) * 16 + (i % 4) * 4)
        : r.type === REC.PAGES
          ? Array.from({ length: 16 }, () => rng.below(Math.max(1, r.body.length / PAGE_REC)) * PAGE_REC) : undefined;
      r.body = mutate(rng, r.body, { fields, maxLen: r.body.length + 4096 });
    }
  }
  rs = rs.slice(0, 4096);
  return encodeStream(rs);
}

interface SaveCtx { host: XenHost; free: number; seeds: Uint8Array[]; recs: Rec[][] }
const save: Target<SaveCtx> = {
  name: "save",
  clear: "StreamError (host/save/), or Error from the TOOLSTACK validator; nothing left in the hypervisor",
  async setup() {
    const seeds = [await realSave(64), await realSave(32)];
    const recs = seeds.map(
      (s) => { const r = readStream(s); return [...r, { type: REC.END, flags: MANDATORY, body: new Uint8Array(0) }]; }
    );
    const host = await XenHost.create(64);
    return { host, free: host.core.x.hv_frames_free(), seeds, recs };
  },
  input(rng, c) { const i = rng.below(c.seeds.length); return mutateStream(rng, c.seeds[i], c.recs[i], 0.3); },
  run(b, c) {
    let v: Verdict = OK;
    try {
      const s = openStream(b);
      validateToolstack(s.toolstack, "save file fuzz", s.info);
      const h = restoreDomain(c.host, s, {}, true);
      c.host.destroyDomain(h.domid);
    } catch (e) { v = classify(e, [StreamError, Error]); }
    const l = leak(c);
    if (l) {
      for (const id of [...c.host.domains.keys()]) c.host.destroyDomain(id); c.free = c.host.core.x.hv_frames_free();
      return failure(l);
    }
    return v;
  },
};

// ---------------------------------------------------------------------------------------------
// Migration (host/migrate/receive.ts): a real relocation listener, fed an authenticated sender's
// records after its HELLO. The HELLO's "auth" field holds AUTH_MARK, replaced (same length) by the
// HMAC of the listener's challenge when sent; that record's CRC is made again if it was right.

const AUTH_MARK = "A".repeat(64);
const SECRET = "parser-fuzz-secret";
interface MigCtx {
  host: XenHost; free: number; port: number; seeds: Uint8Array[]; recs: Rec[][]; logs: string[]; names: Set<string>
}

function migrationRecords(saved: Uint8Array): Rec[] {
  const rs = readStream(saved);
  const info = openStream(saved).info;
  const pages = rs.filter((r) => r.type === REC.PAGES);
  const finals = rs.filter((r) => r.type !== REC.PAGES && r.type !== REC.AUTH);
  const hello = {
    name: info.name, width: info.width, vcpus: info.vcpus, pages: info.frames, maxPages: info.maxPages,
    toolstack: SAVE_TOOLSTACK, auth: AUTH_MARK
  };
  const R = (type: number, body: Uint8Array): Rec => ({ type, flags: MANDATORY, body });
  return [
    R(REC.HELLO, te.encode(JSON.stringify(hello))), ...pages, R(REC.SYNC, new Uint8Array(0)), ...finals,
    R(REC.END, new Uint8Array(0)), R(REC.COMMIT, new Uint8Array(0))
  ];
}

/** The bytes to send: `input` with the HMAC in place of AUTH_MARK (CRCs made again where they were right). */
function authenticate(input: Uint8Array, nonce: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = input.slice();
  const mark = te.encode(AUTH_MARK), mac = te.encode(authFor(SECRET, nonce));
  const dv = new DataView(b.buffer);
  let o = 12;
  while (o + 16 <= b.length) {
    const len = dv.getUint32(o + 8, true);
    if (o + 16 + len > b.length) break;
    const body = b.subarray(o + 12, o + 12 + len);
    const at = Buffer.from(body).indexOf(Buffer.from(mark));
    if (at >= 0) {
      const [, , crc] = recordParts(dv.getUint32(o, true), body, dv.getUint32(o + 4, true));
      const good = Buffer.from(crc).equals(Buffer.from(b.subarray(o + 12 + len, o + 16 + len)));
      body.set(mac, at);
      if (good) b.set(recordParts(dv.getUint32(o, true), body, dv.getUint32(o + 4, true))[2], o + 12 + len);
    }
    o += 16 + len;
  }
  return b;
}

function migrateOnce(c: MigCtx, input: Uint8Array): Promise<{ closed: boolean; got: Rec[] }> {
  return new Promise((res) => {
    const sock = createConnection({ port: c.port, host: "127.0.0.1", noDelay: true });
    let buf = new Uint8Array(0), sent = false, out = new Uint8Array(0);
    const got: Rec[] = [];
    sock.on("data", (d: Buffer) => {
      buf = concat(buf, new Uint8Array(d));
      const dv = new DataView(buf.buffer);
      let o = got.length === 0 && !sent ? 12 : 0;
      if (buf.length < o) return;
      while (o + 16 <= buf.length) {
        const len = dv.getUint32(o + 8, true);
        if (o + 16 + len > buf.length) break;
        got.push({ type: dv.getUint32(o, true), flags: 0, body: buf.slice(o + 12, o + 12 + len) });
        o += 16 + len;
      }
      buf = buf.slice(o);
      // As a sender does: the HELLO (the input's first record), then the rest once ACCEPTed; then
      // our side is closed, so the receiver cannot wait for more forever.
      const ch = got.find((r) => r.type === REC.CHALLENGE);
      if (ch && !sent) {
        sent = true;
        out = authenticate(input, ch.body);
        const len = out.length >= 24 ? new DataView(out.buffer).getUint32(20, true) : -1;
        const cut = len >= 0 && 28 + len <= out.length ? 28 + len : out.length;
        sock.write(out.subarray(0, cut));
        out = out.subarray(cut);
        if (out.length === 0) sock.end();
        // A first record the receiver skips (not mandatory, unknown) gets no answer: the rest goes anyway.
        else setTimeout(() => { if (out.length) { sock.end(out); out = new Uint8Array(0); } }, 200);
      }
      if (out.length && got.some((r) => r.type === REC.ACCEPT || r.type === REC.REFUSE || r.type === REC.ERROR)) {
        sock.end(out); out = new Uint8Array(0);
      }
    });
    sock.on("error", () => { /* the receiver may close first */ });
    sock.on("close", () => res({ closed: true, got }));
  });
}

const migration: Target<MigCtx> = {
  name: "migration",
  clear: "the receiver's REFUSE/ERROR (StreamError or the config "
    + "validator's Error, never \"internal error\"), nothing left " + "behind",
  async setup() {
    const seeds0 = [await realSave(64), await realSave(32)];
    const recs = seeds0.map(migrationRecords);
    const seeds = recs.map((r) => encodeStream(r));
    const host = await XenHost.create(64);
    const logs: string[] = [];
    const names = new Set<string>();
    const t: MigrateTarget<ReturnType<typeof validateToolstack>> = {
      host,
      nameInUse: (n) => names.has(n),
      admit: (ts, info) => ({ ts: validateToolstack(ts, "the migration stream", info), notes: [] }),
      devices: () => ({}),
      adopt: (h) => { logs.push(`adopted ${h.domid}`); },
      destroy: (id) => host.destroyDomain(id),
      wake: () => {},
      log: (s) => logs.push(s),
    };
    const srv = await startRelocation(t, { address: "127.0.0.1", port: await freePort(), allow: [], secret: SECRET });
    const port = (srv.address() as { port: number }).port;
    srv.unref();
    return { host, free: host.core.x.hv_frames_free(), port, seeds, recs, logs, names };
  },
  input(rng, c) { const i = rng.below(c.seeds.length); return mutateStream(rng, c.seeds[i], c.recs[i], 0.2); },
  async run(b, c) {
    c.logs.length = 0;
    const { got } = await migrateOnce(c, b);
    // The receiver's verdict: its log line, once it has finished with the connection.
    // (A REFUSE of the HELLO is not logged: the record is the verdict.)
    const last = got.filter((r) => r.type === REC.ERROR || r.type === REC.REFUSE).map((r) => td.decode(r.body))[0];
    const refused = got.some((r) => r.type === REC.REFUSE);
    for (let i = 0; i < 5000 && !refused && !c.logs.some((l) => /failed:|refused|runs here now/.test(l)); i++)
      await new Promise((r) => setTimeout(r, 1));
    const line = refused ? `refused: ${last}` : c.logs.find((l) => /failed:|refused|runs here now/.test(l));
    let v: Verdict;
    if (!line) v = failure(`the receiver said nothing (records back: ${got.map((r) => r.type).join(",")})`);
    else if (/internal error/.test(line) || (last && /internal error/.test(last))) v = failure(line);
    else if (/runs here now/.test(line)) {
      v = OK;
      for (const id of [...c.host.domains.keys()]) c.host.destroyDomain(id);
    } else v = { kind: "error", msg: last ?? line };
    const l = leak(c);
    if (l) {
      for (const id of [...c.host.domains.keys()]) c.host.destroyDomain(id); c.free = c.host.core.x.hv_frames_free();
      return failure(`${l} (${line})`);
    }
    return v;
  },
};

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise(
    (res) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
    }
  );
}

// ---------------------------------------------------------------------------------------------
// xenstore wire (host/devices/xenstore/): requests from dom0's socket, from a guest's connection,
// and a guest's shared ring page with its indexes

const P = (...s: string[]) => strings(...s);
function xsSeed(): Uint8Array[] {
  const m = (type: number, payload: string, tx = 0, req = 7) => encode(type, req, tx, payload);
  const d = "/local/domain/1";
  return [
    concat(
      m(XS.WRITE, P(`${d}/data/a`) + "hello"), m(XS.READ, P(`${d}/data/a`)), m(XS.DIRECTORY, P(`${d}/data`)),
      m(XS.GET_PERMS, P(`${d}/data/a`))
    ),
    concat(
      m(XS.MKDIR, P(`${d}/x/y`)), m(XS.SET_PERMS, P(`${d}/x/y`, "b1", "r0")), m(XS.RM, P(`${d}/x`)),
      m(XS.DIRECTORY_PART, P(`${d}`, "0"))
    ),
    concat(
      m(XS.WATCH, P(`${d}/data`, "tok")), m(XS.WRITE, P(`${d}/data/b`) + "v"), m(XS.UNWATCH, P(`${d}/data`, "tok")),
      m(XS.RESET_WATCHES, "")
    ),
    concat(
      m(XS.TRANSACTION_START, P("")), m(XS.WRITE, P(`${d}/data/t`) + "1", 1), m(XS.READ, P(`${d}/data/t`), 1),
      m(XS.TRANSACTION_END, P("T"), 1)
    ),
    concat(
      m(XS.GET_DOMAIN_PATH, P("1")), m(XS.IS_DOMAIN_INTRODUCED, P("1")), m(XS.INTRODUCE, P("5", "1234", "3")),
      m(XS.RELEASE, P("5")), m(XS.SET_TARGET, P("1", "2"))
    ),
    concat(
      m(XS.GET_FEATURE, P("1")), m(XS.SET_FEATURE, P("1", "1")), m(XS.GET_QUOTA, P("1")),
      m(XS.SET_QUOTA, P("1", "nodes", "10")), m(XS.CONTROL, P("log", "on")), m(XS.RESUME, P("1"))
    ),
    concat(
      m(XS.WATCH, P("@introduceDomain", "i")), m(XS.WATCH, P("@releaseDomain", "r")),
      m(XS.WRITE, P("data/rel") + "relative"), m(XS.READ, P("data/rel"))
    ),
  ];
}
const XS_FIELDS = [0, 4, 8, 12];

interface XsCtx { seeds: Uint8Array[] }
const xenstore: Target<XsCtx> = {
  name: "xenstore",
  clear: "an XS_ERROR reply with its errno (EIO, xenstored's answer "
    + "to an internal error, is a failure), or the connection " + "closed for bad framing (E2BIG) or a bad ring",
  async setup() { return { seeds: xsSeed() }; },
  input(rng, c) {
    const how = rng.below(4); // 0, 1: dom0's socket; 2: a guest's connection; 3: a guest's ring page
    const seed = rng.pick(c.seeds);
    const fields: number[] = [];
    for (let o = 0; o + 16 <= seed.length;) {
      fields.push(o, o + 4, o + 8, o + 12); o += 16 + new DataView(seed.buffer).getUint32(o + 12, true);
    }
    let body = mutate(
      rng, seed, {
        fields, others: c.seeds, tokens: [
          "\0", "/", "//", "@", "..", "/local/domain/0", "/tool", "@introduceDomain", "T", "0", "4294967295", "-1",
          "b0", "n", "x".repeat(3000)
        ], maxLen: 1 << 16
      }
    );
    if (rng.chance(0.3))
      body = concat(body, encode(rng.below(30), rng.u32(), rng.pick([0, 1, 2, rng.u32()]), rng.bytes(rng.below(64))));
    if (how === 3) { // ring page: indexes and then the request bytes
      const page = new Uint8Array(RING.SIZE);
      const dv = new DataView(page.buffer);
      page.set(body.subarray(0, 1024), RING.REQ);
      const n = Math.min(body.length, 1024);
      dv.setUint32(RING.REQ_PROD, rng.chance(0.8) ? n : rng.pick([0xffffffff, 1025, 2048, rng.u32()]), true);
      dv.setUint32(RING.REQ_CONS, rng.chance(0.8) ? 0 : rng.pick([0xffffffff, 1, rng.u32()]), true);
      dv.setUint32(RING.RSP_PROD, rng.chance(0.8) ? 0 : rng.u32(), true);
      dv.setUint32(RING.RSP_CONS, rng.chance(0.8) ? 0 : rng.u32(), true);
      dv.setUint32(RING.CONNECTION, rng.chance(0.9) ? 0 : rng.pick([1, 2, rng.u32()]), true);
      return concat(new Uint8Array([how]), page);
    }
    return concat(new Uint8Array([how]), body);
  },
  run(b) {
    const xs = new XenStore();
    for (const d of [1, 2]) { populateDomain(xs, d, `guest${d}`); xs.introduce(d); }
    const replies: Uint8Array[] = [];
    const how = b[0];
    const conn = xs.connect(how === 2 || how === 3 ? 1 : 0, (m) => replies.push(m));
    const eio = () =>
      replies.find((r) => readHeader(r).type === XS.ERROR && bytesToStr(r.subarray(HEADER_SIZE)) === "EIO\0");
    const input = b.subarray(1);
    let framingError = false;
    if (how === 3) {
      if (input.length < RING.SIZE) return { kind: "error", msg: "short page" };
      const page = input.slice(0, 4096);
      const full = new Uint8Array(4096); full.set(page);
      const ring = new XsRing(full);
      const c2 = xs.connect(1, ring.send);
      for (let i = 0; i < 4; i++) ring.pump(c2);
      const err = new DataView(full.buffer).getUint32(RING.ERROR, true);
      if (c2.broken && err === 0)
        return failure("the ring connection broke with no error on the page (an exception inside)");
      if (c2.broken) return { kind: "error", msg: `ring error ${err}` };
      return OK;
    }
    // The socket: bytes arrive in pieces of any size, as xend's xenstored socket reads them.
    const f = new Framer();
    let off = 0, piece = 1;
    while (off < input.length) {
      const n = Math.min(input.length - off, piece);
      let buf = input.subarray(off, off + n);
      off += n;
      piece = (piece * 7 + 3) % 97 + 1;
      while (buf.length) {
        const { used, done } = f.feed(buf);
        if (f.error) { framingError = true; break; }
        buf = buf.subarray(used);
        if (done) {
          conn.handle(done);
          if (conn.broken) return failure("the connection broke on a well-framed message (an exception inside handle)");
        }
        if (used === 0 && !done) break;
      }
      if (framingError) break;
    }
    const e = eio();
    if (e) return failure(`EIO reply (an exception inside the daemon) to a request of type ${readHeader(e).type}`);
    for (const r of replies) {
      const h = readHeader(r);
      if (h.len !== r.length - HEADER_SIZE || h.len > 4096)
        return failure(`a malformed reply (type ${h.type}, len ${h.len})`);
      if (h.type === XS.ERROR && splitStrings(r.subarray(HEADER_SIZE)).length !== 1)
        return failure("an error reply that is not one errno");
    }
    if (framingError) return { kind: "error", msg: "framing: E2BIG" };
    return replies.some((r) => readHeader(r).type === XS.ERROR) ? { kind: "error", msg: "an XS_ERROR reply" } : OK;
  },
};

// ---------------------------------------------------------------------------------------------
// xend's protocol (host/xend/protocol.ts): JSON lines, each checked by parseRequest, and those that
// change nothing outside xend given to a real xend with one domain.

const SAFE_OPS = new Set([
  "ping", "list", "info", "dmesg", "state", "vcpu-list", "vcpu-set", "mem-set", "mem-max", "sched-credit", "block-list",
  "network-list", "sysrq", "debug-keys", "virq-handler", "console-input", "pause", "unpause"
]);
const REQUEST_SEEDS: Request[] = [
  { op: "ping" }, { op: "list" }, { op: "info" }, { op: "dmesg" }, { op: "state", dom: "fuzz" }, { op: "vcpu-list" },
  { op: "vcpu-list", dom: "1" }, { op: "vcpu-set", dom: "fuzz", count: 1 },
  { op: "mem-set", dom: "fuzz", mib: 4 }, { op: "mem-max", dom: "fuzz", mib: 8 }, { op: "sched-credit" },
  { op: "sched-credit", dom: "fuzz", weight: 512, cap: 50 },
  { op: "block-list", dom: "fuzz" }, { op: "network-list", dom: "fuzz" }, { op: "sysrq", dom: "fuzz", key: "s" },
  { op: "debug-keys", keys: "h" },
  { op: "virq-handler" }, { op: "virq-handler", virq: "dom_exc", dom: "0" }, { op: "console-input", text: "x" },
  { op: "pause", dom: "fuzz" }, { op: "unpause", dom: "fuzz" },
  { op: "create", file: "a.cfg", text: "name='a'", overrides: ["memory=4"] },
  { op: "save", dom: "fuzz", file: "/tmp/x" }, { op: "restore", file: "/tmp/x", paused: true },
  { op: "migrate", dom: "fuzz", host: "localhost", port: 8002, live: true },
  { op: "block-attach", dom: "fuzz", target: "/x", vdev: "xvdb", writable: false },
  { op: "network-detach", dom: "fuzz", dev: "0", force: true }, { op: "shutdown", dom: "fuzz", reboot: true },
  { op: "destroy", dom: "fuzz" },
];
interface ProtoCtx { xend: Xend; seeds: Uint8Array[] }
const protocol: Target<ProtoCtx> = {
  name: "protocol",
  clear: "ProtocolError from parseRequest (bad JSON, unknown op, "
    + "wrong field), Error(\"request too long\") from the line "
    + "reader, or Error/ConfigError from xend's handler (whose " + "first line xend sends)",
  async setup() {
    const xend = await Xend.create(64);
    const kernel = join(
      root(), existsSync(join(root(), "guests/build/pv-idle-64.elf")) ? "guests/build/pv-idle-64.elf"
        : "guests/prebuilt/pv-hello-64.elf"
    );
    await xend.handle(
      { op: "create", file: "fuzz.cfg", text: `name = "fuzz"\nkernel = "${kernel}"\nmemory = 4\n`, overrides: [] },
      undefined as never
    );
    return { xend, seeds: REQUEST_SEEDS.map((r) => te.encode(JSON.stringify(r))) };
  },
  input(rng, c) {
    const lines: Uint8Array[] = [];
    for (let n = 1 + rng.below(3); n > 0; n--) {
      const base = REQUEST_SEEDS[rng.below(REQUEST_SEEDS.length)];
      let l: Uint8Array;
      if (rng.chance(0.5)) l = te.encode(JSON.stringify(mutateJson(rng, base)) ?? "null");
      else l = mutate(
        rng, te.encode(JSON.stringify(base)), {
          others: c.seeds,
          tokens: ['"', "{", "}", "[", "]", ",", ":", "null", "1e999", "-0", '"op":', '"dom":', "\\u0000", "\n"]
        }
      );
      lines.push(l, te.encode("\n"));
    }
    if (rng.chance(0.01)) lines.push(new Uint8Array((1 << 20) + rng.below(1 << 16)).fill(0x61)); // one over-long line
    return concat(...lines);
  },
  async run(b, c) {
    const lines: string[] = [];
    const lr = new LineReader((l) => lines.push(l));
    let v: Verdict = OK;
    try {
      for (let o = 0; o < b.length; o += 4096) lr.push(Buffer.from(b.subarray(o, o + 4096)));
    } catch (e) { v = classify(e, [Error]); }
    for (const line of lines) {
      let req: Request;
      try {
        req = parseRequest(line);
      } catch (e) { v = classify(e, [ProtocolError]); if (v.kind === "failure") return v; continue; }
      if (!SAFE_OPS.has(req.op)) continue;
      try {
        const r = await c.xend.handle(req, undefined as never);
        if (r === "console" || typeof r !== "object" || (r.ok === false && typeof r.error !== "string"))
          return failure(`bad response ${JSON.stringify(r)}`);
        JSON.stringify(r);
        if (r.ok === false) v = { kind: "error", msg: r.error };
      } catch (e) {
        v = classify(e, [Error, ConfigError], true); if (v.kind === "failure") return failure(`${req.op}: ${v.why}`);
      }
    }
    return v;
  },
};

// The harness's own check (npm test): input 0 is taken, 1 refused clearly, 2 throws a TypeError, 3 never
// ends. The runner must count two failures and write both reproducers (the hang's from shared memory).
const selftest: Target<null> = {
  name: "selftest",
  clear: "Error",
  async setup() { return null; },
  input: (_rng, _c, i) => new Uint8Array([i & 3]),
  run(b) {
    if (b[0] === 0) return OK;
    if (b[0] === 1) return classify(new Error("refused"), [Error]);
    if (b[0] === 2) { try { (null as unknown as { x: number }).x; } catch (e) { return classify(e, [Error]); } }
    for (;;) { /* a hang: only the watchdog ends this */ }
  },
};

// eslint-disable-line @typescript-eslint/no-explicit-any
export const TARGETS: Target<any>[] = [elf, xenelf, bzimage, config, save, migration, xenstore, protocol];
export const targetByName = (n: string) => (n === "selftest" ? selftest : TARGETS.find((t) => t.name === n));
