// The PV block backend (io/blkif.h): one virtual disk of a guest, backed by a raw image file. The
// xenbus handshake is the common one (../xenbus/backend.ts): the backend advertises the disk and its
// features and waits (InitWait); the frontend writes ring-ref, event-channel and protocol and goes
// Initialised/Connected; the backend maps the ring, binds the channel and goes Connected.
// Requests come through the shared ring (grant-mapped), data moves through the granted
// frames of each request's segments. Reads, writes, flush and barrier (both fsync before completing);
// a read-only disk refuses writes. Both request layouts are understood: "x86_64-abi" and "x86_32-abi".
// Indirect descriptors (BLKIF_OP_INDIRECT, "feature-max-indirect-segments"): a request names up to 8
// granted pages that hold its segment list (8 bytes each, 512 per page), so one request moves up to
// MAX_INDIRECT_SEGMENTS pages instead of 11.
// The disk's bytes come from a BlockDevice (host/platform.ts): the DiskSpec's own, or the platform's
// opener for its path (Node: a file, host/node/disk.ts).
import { platform, type BlockDevice } from "../../platform";
import type { XenStore } from "../xenstore/store";
import { XenbusBackend, uintKey, type XenbusCore } from "../xenbus/backend";
import { diskDevid } from "./vdev";

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_OP_INDIRECT = 6;
const BLKIF_RSP_OKAY = 0, BLKIF_RSP_ERROR = -1, BLKIF_RSP_EOPNOTSUPP = -2;
const MAX_SEGMENTS = 11;
export const MAX_INDIRECT_SEGMENTS = 256; // what we advertise (Linux's blkback too); 512 fit in a page
const SEGS_PER_INDIRECT_PAGE = 512;
/** A segment: a granted frame and the sectors [first, last] of it to transfer. */
interface Segment { gref: number; first: number; last: number }
/** `n` struct blkif_request_segment { u32 gref; u8 first_sect, last_sect; u16 pad } from `at`. */
function segmentsAt(v: DataView, at: number, n: number): Segment[] {
  const segs: Segment[] = [];
  for (let i = 0; i < n; i++) segs.push({
    gref: v.getUint32(at + i * 8, true), first: v.getUint8(at + i * 8 + 4), last: v.getUint8(at + i * 8 + 5)
  });
  return segs;
}
const VDISK_READONLY = 4;

/** A disk (the block backend's device parameters): its image's path (a file under Node; for a
 * `device`, any name), its vdev (xvda, ...: ./vdev.ts), read-only or not, and optionally the storage
 * itself (else the platform opens `path`). */
export interface DiskSpec { path: string; vdev: string; writable: boolean; device?: BlockDevice }

export class BlkBack extends XenbusBackend {
  private dev: BlockDevice;
  private readonly sectors: number;
  /** The disk's spec (path, vdev, mode: what the toolstack records; without the device). */
  readonly disk: DiskSpec;
  private ringMa = 0;
  private hostPort = -1;
  private reqCons = 0;
  private abi32 = false;
  requests = 0;
  /** Requests that came with indirect descriptors. */
  indirectRequests = 0;

  constructor(core: XenbusCore, store: XenStore, domid: number, spec: DiskSpec) {
    super(core, store, domid, "vbd", diskDevid(spec.vdev));
    this.disk = { path: spec.path, vdev: spec.vdev, writable: spec.writable };
    const disk = this.disk;
    if (spec.device) this.dev = spec.device;
    else if (platform.openDisk) this.dev = platform.openDisk(spec.path, spec.writable);
    else
      throw new Error(`disk ${spec.path}: this runtime opens no files; give the disk a BlockDevice (DiskSpec.device)`);
    this.sectors = Math.floor(this.dev.size / 512);
    this.publish([["virtual-device", String(this.devid)], ["device-type", "disk"]], [
      ["dev", disk.vdev], ["type", "file"], ["params", disk.path], ["mode", disk.writable ? "w" : "r"],
      ["sectors", String(this.sectors)], ["sector-size", "512"], ["physical-sector-size", "512"],
      ["info", String(disk.writable ? 0 : VDISK_READONLY)], ["feature-flush-cache", "1"], ["feature-barrier", "1"],
      ["feature-max-indirect-segments", String(MAX_INDIRECT_SEGMENTS)],
    ]);
  }

  protected connectRings(): string | undefined {
    const ref = uintKey(this.feRead("ring-ref")), port = uintKey(this.feRead("event-channel"));
    const proto = this.feRead("protocol") ?? "x86_64-abi";
    if (ref < 0 || port < 0) return "reading ring-ref/event-channel";
    if (proto !== "x86_64-abi" && proto !== "x86_32-abi") return `unknown protocol ${JSON.stringify(proto)}`;
    this.ringMa = this.mapRing(ref);
    if (this.ringMa < 0) return `mapping ring-ref ${ref}`;
    this.hostPort = this.bindChannel(port);
    if (this.hostPort < 0) return `binding event channel ${port}`;
    this.abi32 = proto === "x86_32-abi";
    this.reqCons = this.view().getUint32(this.ringMa + 8, true); // rsp_prod: start where responses stand
    return undefined;
  }

  /** Everything written so far on stable storage (before a migration hands the disk over). */
  sync(): void { try { this.dev.flush(); } catch { /* a read-only or closed image */ } }

  protected closeDevice(): void { try { this.dev.close(); } catch { /* already */ } }

  private view(): DataView { return this.core.view(); }

  protected serve(): boolean {
    const pending = this.core.x.hv_evtchn_take(this.hostPort) === 1;
    return this.serveRing() || pending;
  }

  private serveRing(): boolean {
    const v = this.view();
    const r = this.ringMa;
    const size = this.abi32 ? 108 : 112;
    const N = 32;
    let prod = v.getUint32(r, true);
    let did = false;
    let guard = 0;
    while (this.reqCons !== prod && guard++ < 1024) {
      if (((prod - this.reqCons) >>> 0) > N) { this.reqCons = prod; break; } // a hostile producer index
      const e = r + 64 + (this.reqCons % N) * size;
      let op = v.getUint8(e);
      let status: number, id: bigint;
      if (op === BLKIF_OP_INDIRECT) {
        // { u8 op, indirect_op; u16 nr_segments; u64 id (@8, x86_32: @4); u64 sector (@16 / @12);
        //   u16 handle; u16 pad; u32 indirect_grefs[8] (@28 / @24) }
        id = v.getBigUint64(e + (this.abi32 ? 4 : 8), true);
        const sector = Number(v.getBigUint64(e + (this.abi32 ? 12 : 16), true));
        const segs = this.indirectSegments(v.getUint16(e + 2, true), e + (this.abi32 ? 24 : 28));
        op = v.getUint8(e + 1); // the response carries the inner operation (Linux's blkfront checks it)
        status = segs === undefined ? BLKIF_RSP_ERROR : this.doRequest(op, segs, sector, MAX_INDIRECT_SEGMENTS);
        this.indirectRequests++;
      } else {
        const nseg = v.getUint8(e + 1);
        id = v.getBigUint64(e + (this.abi32 ? 4 : 8), true);
        const sector = Number(v.getBigUint64(e + (this.abi32 ? 12 : 16), true));
        // (More than 11 segments is refused: one more is enough to say so.)
        const segs = segmentsAt(v, e + (this.abi32 ? 20 : 24), Math.min(nseg, MAX_SEGMENTS + 1));
        status = this.doRequest(op, segs, sector, MAX_SEGMENTS);
      }
      // The response replaces the request's slot at rsp_prod.
      const rp = v.getUint32(r + 8, true);
      const re = r + 64 + (rp % N) * size;
      const vv = this.view();
      vv.setBigUint64(re, id, true);
      vv.setUint8(re + 8, op);
      vv.setInt16(re + 10, status, true);
      vv.setUint32(r + 8, rp + 1, true);
      this.reqCons++;
      this.requests++;
      did = true;
      prod = this.view().getUint32(r, true);
    }
    if (did) {
      this.view().setUint32(r + 4, this.reqCons + 1, true); // req_event: wake us for the next one
      this.core.x.hv_evtchn_send(this.hostPort);
    }
    return did;
  }

  /** The segment list of an indirect request: `nseg` entries from the pages granted in the request's
   * indirect_grefs (at `grefs`), or undefined when it is malformed (too many segments, a bad grant). */
  private indirectSegments(nseg: number, grefs: number): Segment[] | undefined {
    if (nseg === 0 || nseg > MAX_INDIRECT_SEGMENTS) return undefined;
    const x = this.core.x;
    const segs: Segment[] = [];
    for (let p = 0; p * SEGS_PER_INDIRECT_PAGE < nseg; p++) {
      // read-only: we only read the list
      const h = x.hv_gnt_map(this.domid, this.view().getUint32(grefs + p * 4, true), 1);
      if (h <= 0) return undefined;
      segs.push(
        ...segmentsAt(
          this.view(), x.hv_gnt_mfn(h) * 4096, Math.min(SEGS_PER_INDIRECT_PAGE, nseg - p * SEGS_PER_INDIRECT_PAGE)
        )
      );
      x.hv_gnt_unmap(h);
    }
    return segs;
  }

  private doRequest(op: number, segs: Segment[], sector: number, maxSegs: number): number {
    const nseg = segs.length;
    if (op === BLKIF_OP_FLUSH_DISKCACHE || (op === BLKIF_OP_WRITE_BARRIER && nseg === 0)) {
      try { this.dev.flush(); return BLKIF_RSP_OKAY; } catch { return BLKIF_RSP_ERROR; }
    }
    if (op !== BLKIF_OP_READ && op !== BLKIF_OP_WRITE && op !== BLKIF_OP_WRITE_BARRIER) return BLKIF_RSP_EOPNOTSUPP;
    const write = op !== BLKIF_OP_READ;
    if (write && !this.disk.writable) return BLKIF_RSP_ERROR;
    if (nseg === 0 || nseg > maxSegs) return BLKIF_RSP_ERROR;
    const x = this.core.x;
    let s = sector;
    for (const { gref, first, last } of segs) {
      if (first > last || last > 7) return BLKIF_RSP_ERROR;
      const n = last - first + 1;
      if (s + n > this.sectors) return BLKIF_RSP_ERROR;
      // READ: we write the guest's frame (map writable); WRITE: we only read it.
      const h = x.hv_gnt_map(this.domid, gref, write ? 1 : 0);
      if (h <= 0) return BLKIF_RSP_ERROR;
      const ma = x.hv_gnt_mfn(h) * 4096 + first * 512;
      try {
        const buf = this.core.bytes().subarray(ma, ma + n * 512);
        if (write) this.dev.write(buf, s * 512);
        else this.dev.read(buf, s * 512);
      } catch {
        x.hv_gnt_unmap(h);
        return BLKIF_RSP_ERROR;
      }
      x.hv_gnt_unmap(h);
      s += n;
    }
    if (op === BLKIF_OP_WRITE_BARRIER) { try { this.dev.flush(); } catch { return BLKIF_RSP_ERROR; } }
    return BLKIF_RSP_OKAY;
  }
}
