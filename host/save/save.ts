// Save a suspended PV domain into a stream, and restore one from it (host/save/stream.ts for the
// format; assembly/hv/save.ts for the hypervisor's half: frames, translation, re-validation). The
// pieces are shared with live migration (host/migrate/): the records of a domain, page batches, and
// a Receiver that builds a domain page by page and finishes it from the last records.
import { MM } from "../core";
import type { XenHost, DomainHandle, AdoptSpec } from "../pv/host";
import { StreamWriter, readStream, REC, StreamError, Record } from "./stream";
import {
  D_STATE, D_SHUTDOWN_REASON, D_WIDTH, D_NR_VCPUS, D_MAX_PAGES, D_CONSOLE_MFN, D_STORE_MFN, DS_SHUTDOWN,
  SHUTDOWN_suspend
} from "../../assembly/records";
import {
  SAVE_RECORD as S, checkDomainShape, checkVcpuShape, decodeDomain, restoreRefusal, RecordError
} from "./records";
/** Machine frames of a 4 GiB machine: the most a sender's frame number can be. */
const MAX_MFNS = 1 << 20;
/** Bytes of one page in a PAGES record: u32 mfn + 4096 bytes. */
export const PAGE_REC = 4100;

export interface SavedInfo {
  name: string; width: number; vcpus: number; frames: number; memoryMiB: number; maxPages: number; time: string;
  nodes: [string, string][]
}

/** The frames `domid` owns: records of 16 bytes { u32 mfn; u32 type | pinned << 8; u64 m2p }. */
export function frameList(host: XenHost, domid: number): Uint8Array {
  const x = host.core.x;
  const parts: Uint8Array[] = [];
  let from = 0, total = 0;
  for (;;) {
    const n = x.hv_save_frames(domid, from);
    if (n === 0) break;
    const chunk = host.core.bytes().slice(MM.MAILBOX, MM.MAILBOX + n * 16);
    parts.push(chunk);
    total += n;
    from = new DataView(chunk.buffer).getUint32((n - 1) * 16, true) + 1;
  }
  const fr = new Uint8Array(total * 16);
  let o = 0;
  for (const c of parts) { fr.set(c, o); o += c.length; }
  return fr;
}

/** The mfns of a frame list. */
export function frameMfns(fr: Uint8Array): number[] {
  const dv = new DataView(fr.buffer, fr.byteOffset, fr.byteLength);
  const out: number[] = [];
  for (let i = 0; i < fr.length; i += 16) out.push(dv.getUint32(i, true));
  return out;
}

/** A PAGES record body: the current contents of `mfns` (copied). */
export function pagesBody(host: XenHost, mfns: number[]): Uint8Array {
  const body = new Uint8Array(mfns.length * PAGE_REC);
  const bdv = new DataView(body.buffer);
  const mem = host.core.bytes();
  mfns.forEach((mfn, k) => {
    bdv.setUint32(k * PAGE_REC, mfn, true);
    body.set(mem.subarray(mfn * 4096, mfn * 4096 + 4096), k * PAGE_REC + 4);
  });
  return body;
}

/** The records that describe a suspended domain, apart from its pages (taken at the very end). */
export function domainRecords(
  host: XenHost, domid: number, toolstack?: unknown
): { info: SavedInfo; records: [number, Uint8Array][]; frames: Uint8Array } {
  const x = host.core.x;
  const h = host.domains.get(domid);
  if (!h) throw new StreamError(`no such domain ${domid}`);
  const drec = x.hv_domain_addr(domid);
  let v = host.core.view();
  if (
    v.getUint32(drec + D_STATE, true) !== DS_SHUTDOWN
      || v.getUint32(drec + D_SHUTDOWN_REASON, true) !== SHUTDOWN_suspend
  ) throw new StreamError("the domain has not suspended itself");
  const frames = frameList(host, domid); // also brings the loaded vCPU's record up to date
  v = host.core.view();
  const width = v.getUint32(drec + D_WIDTH, true), nv = v.getUint32(drec + D_NR_VCPUS, true);
  const home = `/local/domain/${domid}`;
  const nodes: [string, string][] = [];
  const walk = (p: string) => {
    for (const c of host.store.directory(p) ?? []) {
      const full = `${p}/${c}`;
      const val = host.store.readString(full);
      if (val !== undefined && val !== "") nodes.push([full.slice(home.length + 1), val]);
      walk(full);
    }
  };
  walk(`${home}/data`);
  const info: SavedInfo = {
    name: h.name, width, vcpus: nv, frames: frames.length / 16, memoryMiB: Math.round(x.hv_domain_pages(domid) / 256),
    maxPages: v.getUint32(drec + D_MAX_PAGES, true), time: String(x.hv_domain_time(domid)), nodes,
  };
  const js = new TextEncoder().encode(JSON.stringify(info));
  // The typed DOMAIN record (assembly/saverec.ts), written by the core field by field, after the JSON.
  if (x.hv_save_domain_record(domid) !== S.SD_SIZE) throw new StreamError(`no such domain ${domid}`);
  const dom = new Uint8Array(4 + js.length + S.SD_SIZE);
  new DataView(dom.buffer).setUint32(0, js.length, true);
  dom.set(js, 4);
  dom.set(host.core.bytes().subarray(MM.MAILBOX, MM.MAILBOX + S.SD_SIZE), 4 + js.length);
  const records: [number, Uint8Array][] = [[REC.DOMAIN, dom]];
  if (toolstack !== undefined) records.push([REC.TOOLSTACK, new TextEncoder().encode(JSON.stringify(toolstack))]);
  records.push([REC.FRAMES, frames]);
  for (let k = 0; k < nv; k++) {
    if (x.hv_save_vcpu_record(domid, k) !== S.SV_SIZE) throw new StreamError(`no vCPU ${k} in domain ${domid}`);
    records.push([REC.VCPU, host.core.bytes().slice(MM.MAILBOX, MM.MAILBOX + S.SV_SIZE)]);
  }
  return { info, records, frames };
}

/** The stream of a domain that has suspended itself (SCHEDOP_shutdown(suspend)). `toolstack` is the
 * toolstack's own description of the domain (xend: its config with the vifs' MACs), carried as JSON. */
export function saveDomain(host: XenHost, domid: number, toolstack?: unknown): Uint8Array {
  const { records, frames } = domainRecords(host, domid, toolstack);
  const w = new StreamWriter();
  for (const [t, b] of records) w.record(t, b);
  const mfns = frameMfns(frames);
  for (let i = 0; i < mfns.length; i += 256) w.record(REC.PAGES, pagesBody(host, mfns.slice(i, i + 256)));
  return w.bytes();
}

/** The final records checked against each other: domain info, frames, vCPUs (pages come apart). */
export interface FinalRecords {
  info: SavedInfo; toolstack?: unknown; dom: Uint8Array; frames: Uint8Array; vcpus: Uint8Array[]
}

export function checkFinal(recs: Record[]): FinalRecords {
  const domRec = recs.find((r) => r.type === REC.DOMAIN);
  const frRec = recs.find((r) => r.type === REC.FRAMES);
  const vcpus = recs.filter((r) => r.type === REC.VCPU).map((r) => r.body);
  if (!domRec || !frRec) throw new StreamError("save file lacks its DOMAIN or FRAMES record");
  const ddv = new DataView(domRec.body.buffer, domRec.body.byteOffset, domRec.body.byteLength);
  const jl = domRec.body.length >= 4 ? ddv.getUint32(0, true) : -1;
  if (jl < 0 || 4 + jl > domRec.body.length) throw new StreamError("save file: bad DOMAIN record");
  let info: SavedInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(domRec.body.subarray(4, 4 + jl)));
  } catch { throw new StreamError("save file: bad DOMAIN record"); }
  if (typeof info !== "object" || info === null) throw new StreamError("save file: bad DOMAIN record");
  if (info.width !== 32 && info.width !== 64) throw new StreamError("save file: bad guest width");
  checkInfo(info);
  const nframes = frRec.body.length / 16;
  if (!Number.isInteger(nframes) || nframes !== info.frames || vcpus.length !== info.vcpus || info.vcpus < 1)
    throw new StreamError("save file: records do not match their domain");
  if (nframes > MM.RESTORE_MAP_MAX) throw new StreamError("save file: too many frames");
  // The typed records: length and version here, every field in the core (hv_restore_check).
  const dom = domRec.body.subarray(4 + jl);
  if (vcpus.length > S.SAVE_BLOB_MAX_VCPUS)
    throw new StreamError(`save file: ${vcpus.length} VCPU records (at most ${S.SAVE_BLOB_MAX_VCPUS})`);
  try {
    checkDomainShape(dom);
    vcpus.forEach((b, k) => checkVcpuShape(b, k));
  } catch (e) {
    if (e instanceof RecordError) throw new StreamError(`save file: ${e.message}`);
    throw e;
  }
  const dr = decodeDomain(dom);
  if (dr.width !== info.width || dr.nrVcpus !== info.vcpus) throw new StreamError(
    `save file: the DOMAIN record (${dr.width}-bit, ` + `${dr.nrVcpus} vCPUs) does not match its description `
      + `(${info.width}-bit, ${info.vcpus} vCPUs)`
  );
  const ts = recs.find((r) => r.type === REC.TOOLSTACK);
  let toolstack: unknown;
  if (ts) {
    try {
      toolstack = JSON.parse(new TextDecoder().decode(ts.body));
    } catch { throw new StreamError("save file: bad TOOLSTACK record"); }
  }
  return { info, toolstack, dom, frames: frRec.body, vcpus };
}

/** The DOMAIN record's JSON is untrusted: every field of the type it must be, the xenstore nodes
 * relative paths under the domain's home (no "." or ".." parts), bounded in number and size. */
function checkInfo(info: SavedInfo): void {
  const bad = (what: string) => new StreamError(`save file: bad DOMAIN record (${what})`);
  if (typeof info.name !== "string" || info.name.length === 0 || info.name.length > 64) throw bad("name");
  if (!Number.isSafeInteger(info.memoryMiB) || info.memoryMiB < 1 || info.memoryMiB > 1048576) throw bad("memory");
  if (!Number.isSafeInteger(info.maxPages) || info.maxPages < 0) throw bad("maxPages");
  if (typeof info.time !== "string" || !/^[0-9]{1,20}$/.test(info.time)) throw bad("time");
  if (!Array.isArray(info.nodes) || info.nodes.length > 4096) throw bad("nodes");
  for (const n of info.nodes) {
    if (
      !Array.isArray(n) || n.length !== 2 || typeof n[0] !== "string" || typeof n[1] !== "string" || n[1].length > 4096
      || !/^[A-Za-z0-9_@-][A-Za-z0-9_@/-]{0,2047}$/.test(n[0])
        || n[0].split("/").some((c) => c === "" || c === "." || c === "..")
    ) throw bad(`node ${JSON.stringify(String(n?.[0]).slice(0, 80))}`);
  }
}

/** Each page of a PAGES record body: (mfn, 4096 bytes). */
export function forEachPage(body: Uint8Array, f: (mfn: number, data: Uint8Array) => void): void {
  if (body.length % PAGE_REC !== 0) throw new StreamError("save file: bad PAGES record");
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let o = 0; o < body.length; o += PAGE_REC) f(dv.getUint32(o, true), body.subarray(o + 4, o + PAGE_REC));
}

/**
 * Builds a domain page by page (each page of the sender's mfn lands in a frame of its own here; a page
 * sent again overwrites it) and finishes it from the final records. Until finish() returns, the domain
 * is paused and destroyed by abort().
 */
export class Receiver {
  readonly domid: number;
  /** The sender's mfn -> ours (0: not received); the sender's mfns in the order first received. */
  private readonly map = new Int32Array(MAX_MFNS);
  private readonly olds: number[] = [];
  /** One past the highest sender's mfn seen: the part of the table the core needs. */
  private bound = 0;
  private done = false;
  constructor(private readonly host: XenHost, width: number, vcpus: number, maxPages: number) {
    const d = host.core.x.hv_domain_create(width, vcpus, maxPages);
    if (d < 0) throw new StreamError("no free domain slot");
    this.domid = d;
    host.core.x.hv_domain_pause(d, 1);
  }

  get pageCount(): number { return this.olds.length; }

  page(old: number, data: Uint8Array): void {
    if (!(old >= 0 && old < MAX_MFNS)) throw new StreamError(`save file: bad frame number ${old}`);
    let m = this.map[old];
    if (m === 0) {
      m = this.host.core.x.hv_alloc_frame(this.domid);
      if (m < 0) throw new StreamError("out of machine memory");
      this.map[old] = m;
      this.olds.push(old);
      if (old >= this.bound) this.bound = old + 1;
    }
    this.host.core.bytes().set(data, m * 4096);
  }

  pages(body: Uint8Array): void { forEachPage(body, (mfn, data) => this.page(mfn, data)); }

  /** Translate and validate; the domain stays paused unless `run`. */
  finish(f: FinalRecords, devices: Pick<AdoptSpec, "disks" | "vifs">, run: boolean): DomainHandle {
    const x = this.host.core.x, d = this.domid;
    // Our map goes to the core's direct table; the frame list follows in MAILBOX-sized chunks.
    this.host.core.bytes().set(new Uint8Array(this.map.buffer, 0, this.bound * 4), MM.RESTORE_MAP);
    x.hv_restore_begin(this.bound);
    const per = Math.floor(MM.MAILBOX_SIZE / 16) * 16;
    for (let o = 0; o < f.frames.length; o += per) {
      const chunk = f.frames.subarray(o, Math.min(o + per, f.frames.length));
      this.host.core.bytes().set(chunk, MM.MAILBOX);
      const rc = x.hv_restore_frames(d, chunk.length / 16);
      if (rc === -2) throw new StreamError("save file: too many page-table frames");
      if (rc < 0) throw new StreamError("save file: a frame in the list has no data (or is listed twice)");
    }
    checkRecords(this.host, f, x.hv_domain_max_pages(d));
    const rc = x.hv_restore_fixup(d, f.frames.length / 16);
    if (rc < 0) throw new StreamError(`the hypervisor refused the saved state: ${restoreRefusal(rc)}`);
    x.hv_domain_set_time(d, BigInt(f.info.time));
    const ports = x.hv_restored_ports();
    const dv2 = this.host.core.view();
    const drec = x.hv_domain_addr(d);
    const h = this.host.adoptDomain({
      domid: d, bits: f.info.width as 32 | 64, name: f.info.name, memoryMiB: f.info.memoryMiB, vcpus: f.info.vcpus,
      consoleMa: dv2.getUint32(drec + D_CONSOLE_MFN, true), consolePort: ports >>> 16,
      storeMa: dv2.getUint32(drec + D_STORE_MFN, true), storePort: ports & 0xffff, nodes: f.info.nodes, ...devices,
    });
    this.done = true;
    if (run) x.hv_domain_pause(d, 0);
    return h;
  }

  /** Give up: the half-built domain goes. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.host.core.x.hv_domain_destroy(this.domid);
  }
}

/** The typed records put where the core takes them (MM.RESTORE_BLOBS) and checked there, field by field,
 * for a domain of at most `maxPages` pages; throws StreamError naming the field that is refused. */
export function checkRecords(host: XenHost, f: FinalRecords, maxPages: number): void {
  const mem = host.core.bytes();
  mem.set(f.dom, MM.RESTORE_BLOBS);
  f.vcpus.forEach((b, k) => mem.set(b, MM.RESTORE_BLOBS + S.SAVE_BLOB_VCPU0 + k * S.SV_SIZE));
  const rc = host.core.x.hv_restore_check(f.info.width, f.vcpus.length, maxPages);
  if (rc < 0) throw new StreamError(`the hypervisor refused the saved state: ${restoreRefusal(rc)}`);
}

/** A stream read and checked (every CRC, every record's shape, data for every frame), nothing created yet. */
export interface OpenedStream extends FinalRecords { pages: Uint8Array[] }
export function openStream(stream: Uint8Array): OpenedStream {
  const recs = readStream(stream);
  const f = checkFinal(recs);
  const pages = recs.filter((r) => r.type === REC.PAGES).map((r) => r.body);
  const have = new Set<number>();
  for (const p of pages) forEachPage(p, (m) => have.add(m));
  const dv = new DataView(f.frames.buffer, f.frames.byteOffset, f.frames.byteLength);
  for (let i = 0; i < f.frames.length; i += 16) {
    const m = dv.getUint32(i, true); if (!have.has(m)) throw new StreamError(`save file: no data for frame ${m}`);
  }
  return { ...f, pages };
}

/** Restore a domain from a stream; returns its handle (running unless `paused`). Nothing is created
 * if the stream is bad; if the restore fails later the new domain is destroyed. */
export function restoreDomain(
  host: XenHost, stream: Uint8Array | OpenedStream, devices: Pick<AdoptSpec, "disks" | "vifs"> = {}, paused = false
): DomainHandle {
  const s = stream instanceof Uint8Array ? openStream(stream) : stream;
  const maxPages = Math.max(s.info.maxPages ?? 0, s.info.frames + 64);
  checkRecords(host, s, maxPages); // before a domain exists
  const r = new Receiver(host, s.info.width, s.info.vcpus, maxPages);
  try {
    for (const p of s.pages) r.pages(p);
    return r.finish(s, devices, !paused);
  } catch (e) {
    r.abort();
    throw e;
  }
}
