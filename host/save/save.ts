// Save a suspended PV domain into a stream, and restore one from it (host/save/stream.ts for the
// format; assembly/hv/save.ts for the hypervisor's half: frames, translation, re-validation).
import { MM } from "../core";
import type { XenHost, DomainHandle, AdoptSpec } from "../pv/host";
import { StreamWriter, readStream, REC, StreamError } from "./stream";

const DOMAIN_SIZE = MM.DOMAIN_SIZE, VCPU_SIZE = MM.VCPU_SIZE;
const D_WIDTH = 8, D_NR_VCPUS = 12, D_SHUTDOWN_REASON = 4, D_STATE = 0, D_MAX_PAGES = 20;
const D_CONSOLE_MFN = 204, D_STORE_MFN = 212;
const SHUTDOWN_SUSPEND = 2;

export interface SavedInfo { name: string; width: number; vcpus: number; frames: number; memoryMiB: number; time: string; nodes: [string, string][] }

/** The stream of a domain that has suspended itself (SCHEDOP_shutdown(suspend)). `toolstack` is the
 * toolstack's own description of the domain (xend: its config with the vifs' MACs), carried as JSON. */
export function saveDomain(host: XenHost, domid: number, toolstack?: unknown): Uint8Array {
  const x = host.core.x;
  const h = host.domains.get(domid);
  if (!h) throw new StreamError(`no such domain ${domid}`);
  const drec = x.hv_domain_addr(domid);
  let v = host.core.view();
  if (v.getUint32(drec + D_STATE, true) !== 2 || v.getUint32(drec + D_SHUTDOWN_REASON, true) !== SHUTDOWN_SUSPEND) throw new StreamError("the domain has not suspended itself");
  // Frames (and the vCPU records brought up to date by the first call).
  const frames: Uint8Array[] = [];
  let from = 0, total = 0;
  for (;;) {
    const n = x.hv_save_frames(domid, from);
    if (n === 0) break;
    const chunk = host.core.bytes().slice(MM.MAILBOX, MM.MAILBOX + n * 16);
    frames.push(chunk);
    total += n;
    from = new DataView(chunk.buffer).getUint32((n - 1) * 16, true) + 1;
  }
  const fr = new Uint8Array(total * 16);
  { let o = 0; for (const c of frames) { fr.set(c, o); o += c.length; } }
  const w = new StreamWriter();
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
  const info: SavedInfo = { name: h.name, width, vcpus: nv, frames: total, memoryMiB: Math.round(x.hv_domain_pages(domid) / 256), time: String(x.hv_domain_time(domid)), nodes };
  const js = new TextEncoder().encode(JSON.stringify(info));
  const dom = new Uint8Array(4 + js.length + DOMAIN_SIZE);
  new DataView(dom.buffer).setUint32(0, js.length, true);
  dom.set(js, 4);
  dom.set(host.core.bytes().subarray(drec, drec + DOMAIN_SIZE), 4 + js.length);
  w.record(REC.DOMAIN, dom);
  if (toolstack !== undefined) w.record(REC.TOOLSTACK, new TextEncoder().encode(JSON.stringify(toolstack)));
  w.record(REC.FRAMES, fr);
  for (let k = 0; k < nv; k++) {
    const a = x.hv_vcpu_addr(domid, k);
    w.record(REC.VCPU, host.core.bytes().slice(a, a + VCPU_SIZE));
  }
  const fdv = new DataView(fr.buffer);
  for (let i = 0; i < total; i += 256) {
    const n = Math.min(256, total - i);
    const body = new Uint8Array(n * 4100);
    const bdv = new DataView(body.buffer);
    const mem = host.core.bytes();
    for (let k = 0; k < n; k++) {
      const mfn = fdv.getUint32((i + k) * 16, true);
      bdv.setUint32(k * 4100, mfn, true);
      body.set(mem.subarray(mfn * 4096, mfn * 4096 + 4096), k * 4100 + 4);
    }
    w.record(REC.PAGES, body);
  }
  return w.bytes();
}

/** A stream read and checked (every CRC, every record's shape), nothing created yet. */
export type OpenedStream = ReturnType<typeof parse>;
export function openStream(stream: Uint8Array): OpenedStream { return parse(readStream(stream)); }

function parse(recs: ReturnType<typeof readStream>) {
  const domRec = recs.find((r) => r.type === REC.DOMAIN);
  const frRec = recs.find((r) => r.type === REC.FRAMES);
  const vcpus = recs.filter((r) => r.type === REC.VCPU);
  const pages = recs.filter((r) => r.type === REC.PAGES);
  if (!domRec || !frRec) throw new StreamError("save file lacks its DOMAIN or FRAMES record");
  const ddv = new DataView(domRec.body.buffer, domRec.body.byteOffset, domRec.body.byteLength);
  const jl = ddv.getUint32(0, true);
  if (4 + jl + DOMAIN_SIZE !== domRec.body.length) throw new StreamError("save file: bad DOMAIN record");
  let info: SavedInfo;
  try { info = JSON.parse(new TextDecoder().decode(domRec.body.subarray(4, 4 + jl))); } catch { throw new StreamError("save file: bad DOMAIN record"); }
  const nframes = frRec.body.length / 16;
  if (!Number.isInteger(nframes) || nframes !== info.frames || vcpus.length !== info.vcpus) throw new StreamError("save file: records do not match their domain");
  if (vcpus.some((r) => r.body.length !== VCPU_SIZE)) throw new StreamError("save file: bad VCPU record");
  // All page data present?
  const data = new Map<number, Uint8Array>();
  for (const p of pages) {
    if (p.body.length % 4100 !== 0) throw new StreamError("save file: bad PAGES record");
    const pdv = new DataView(p.body.buffer, p.body.byteOffset, p.body.byteLength);
    for (let o = 0; o < p.body.length; o += 4100) data.set(pdv.getUint32(o, true), p.body.subarray(o + 4, o + 4100));
  }
  const fdv = new DataView(frRec.body.buffer, frRec.body.byteOffset, frRec.body.byteLength);
  const olds: number[] = [];
  for (let i = 0; i < nframes; i++) { const m = fdv.getUint32(i * 16, true); if (!data.has(m)) throw new StreamError(`save file: no data for frame ${m}`); olds.push(m); }
  if (nframes > MM.RESTORE_MAP_MAX) throw new StreamError("save file: too many frames");
  const ts = recs.find((r) => r.type === REC.TOOLSTACK);
  let toolstack: unknown;
  if (ts) { try { toolstack = JSON.parse(new TextDecoder().decode(ts.body)); } catch { throw new StreamError("save file: bad TOOLSTACK record"); } }
  if (info.width !== 32 && info.width !== 64) throw new StreamError("save file: bad guest width");
  return { info, toolstack, domRec, jl, frRec, fdv, nframes, olds, data, vcpus };
}

/** Restore a domain from a stream; returns its handle (running). Nothing is created if the stream is
 * bad; if the restore fails later the new domain is destroyed. `devices` are the backends to give it. */
export function restoreDomain(host: XenHost, stream: Uint8Array | OpenedStream, devices: Pick<AdoptSpec, "disks" | "vifs"> = {}): DomainHandle {
  const { info, domRec, jl, fdv, nframes, olds, data, vcpus } = stream instanceof Uint8Array ? openStream(stream) : stream;

  const x = host.core.x;
  const d = x.hv_domain_create(info.width, info.vcpus, nframes + 64);
  if (d < 0) throw new StreamError("no free domain slot");
  try {
    // Frames: new machine addresses, contents copied, the map sorted by old mfn.
    const recs16: number[][] = [];
    for (let i = 0; i < nframes; i++) {
      const m = x.hv_alloc_frame(d);
      if (m < 0) throw new StreamError("out of machine memory");
      host.core.bytes().set(data.get(olds[i])!, m * 4096);
      const m2p = fdv.getBigUint64(i * 16 + 8, true);
      recs16.push([olds[i], m, fdv.getUint32(i * 16 + 4, true), m2p > 0xffffffffn ? 0xffffffff : Number(m2p)]);
    }
    recs16.sort((a, b) => a[0] - b[0]);
    const v = host.core.view();
    recs16.forEach((r, i) => { for (let k = 0; k < 4; k++) v.setUint32(MM.RESTORE_MAP + i * 16 + k * 4, r[k] >>> 0, true); });
    const mem = host.core.bytes();
    mem.set(domRec.body.subarray(4 + jl), MM.RESTORE_BLOBS);
    vcpus.forEach((r, k) => mem.set(r.body, MM.RESTORE_BLOBS + DOMAIN_SIZE + k * VCPU_SIZE));
    const rc = x.hv_restore_fixup(d, nframes);
    if (rc < 0) throw new StreamError(`the hypervisor refused the saved state (step ${-rc})`);
    x.hv_domain_set_time(d, BigInt(info.time));
    const ports = x.hv_restored_ports();
    const dv2 = host.core.view();
    const drec = x.hv_domain_addr(d);
    const consoleMa = dv2.getUint32(drec + D_CONSOLE_MFN, true), storeMa = dv2.getUint32(drec + D_STORE_MFN, true);
    return host.adoptDomain({
      domid: d, bits: info.width as 32 | 64, name: info.name, memoryMiB: info.memoryMiB, vcpus: info.vcpus,
      consoleMa, consolePort: ports >>> 16, storeMa, storePort: ports & 0xffff, nodes: info.nodes, ...devices,
    });
  } catch (e) {
    x.hv_domain_destroy(d);
    throw e;
  }
}
