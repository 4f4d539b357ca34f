// Hot-plugging disks and vifs into a running domain, the way libxl does it: everything goes through
// xenstore. Attach writes the frontend's device/<type>/<devid> directory and the backend's directory
// (the backend's constructor does both, state Initialising / InitWait); the guest's xenbus watch on
// device/ sees the new node and its driver probes (Initialising → Initialised/Connected), which the
// backend follows. Detach is libxl__initiate_device_generic_remove: the backend goes Closing (online
// = 0), the frontend answers Closing/Closed and lets go of the ring; then the backend unmaps the
// grants, closes the image (or leaves the bridge), goes Closed, and both directories are removed
// (which makes the guest's xenbus unregister the device): the steps are the xenbus backend's
// (requestClose, frontendReleased, remove: ../devices/xenbus/backend.ts).
import { statSync, accessSync, constants } from "node:fs";
import type { XenHost, DomainHandle } from "./host";
import { checkDiskShared } from "./diskshare";
export { checkDiskShared };
import { BlkBack, DiskSpec } from "../devices/block/blkback";
import { diskDevid } from "../devices/block/vdev";
import { NetBack } from "../devices/net/netback";
import type { DeviceRow } from "../xend/protocol";

export type Device = BlkBack | NetBack;

function domain(host: XenHost, domid: number): DomainHandle {
  const h = host.domains.get(domid);
  if (!h) throw new Error(`no such domain ${domid}`);
  return h;
}

/**
 * Attach the raw image `disk.path` as `disk.vdev` to running domain `domid`. Checked first (nothing
 * is written when a check fails): the vdev is valid and free in that domain, the image is a readable
 * (for "w": writable) file or block device, and it is not attached writable anywhere (nor attached at
 * all when this attach is writable), as Xen's block hotplug script insists.
 */
export function attachDisk(host: XenHost, domid: number, disk: DiskSpec): BlkBack {
  const h = domain(host, domid);
  const devid = diskDevid(disk.vdev);
  const used = h.disks.find((b) => b.devid === devid);
  if (used) throw new Error(`${disk.vdev} is already in use in domain ${domid} (${used.disk.vdev}: ${used.disk.path})`);
  if (host.store.readString(`/local/domain/${domid}/device/vbd/${devid}/backend`) !== undefined) {
    throw new Error(`${disk.vdev} is already in use in domain ${domid} (device/vbd/${devid} exists)`);
  }
  let st;
  try { st = statSync(disk.path); } catch { throw new Error(`${disk.path}: no such file`); }
  if (!st.isFile() && !st.isBlockDevice()) throw new Error(`${disk.path}: not a regular file or block device`);
  try { accessSync(disk.path, constants.R_OK | (disk.writable ? constants.W_OK : 0)); } catch {
    throw new Error(`${disk.path}: not ${disk.writable ? "writable" : "readable"}`);
  }
  checkDiskShared(host, domid, disk);
  const b = new BlkBack(host.core, host.store, domid, disk); // opens the image before it writes any node
  h.disks.push(b);
  return b;
}

/** The devid a new vif gets: one above the highest in use (libxl__device_nextid), 0 for the first. */
export function nextVifId(host: XenHost, h: DomainHandle): number {
  let next = 0;
  for (const v of h.vifs) next = Math.max(next, v.devid + 1);
  for (const k of host.store.directory(`/local/domain/${h.domid}/device/vif`))
    if (/^\d+$/.test(k)) next = Math.max(next, Number(k) + 1);
  return next;
}

/** Attach a vif (a port on the host's bridge) to running domain `domid`. */
export function attachVif(host: XenHost, domid: number, o: { mac?: string; bridge?: string; devid?: number }): NetBack {
  const h = domain(host, domid);
  if (o.bridge !== undefined && o.bridge !== host.bridge.name)
    throw new Error(`no bridge ${JSON.stringify(o.bridge)} on this host (there is ${host.bridge.name})`);
  const mac = host.vifMac(o.mac, h); // checked, unique on this host, or random
  const devid = o.devid ?? nextVifId(host, h);
  if (h.vifs.some((v) => v.devid === devid)) throw new Error(`vif ${devid} is already in use in domain ${domid}`);
  const v = new NetBack(host.core, host.store, domid, devid, host.bridge, { mac });
  h.vifs.push(v);
  return v;
}

export function findDisk(host: XenHost, domid: number, dev: string): BlkBack | undefined {
  const h = domain(host, domid);
  let devid: number;
  try { devid = /^\d+$/.test(dev) ? Number(dev) : diskDevid(dev); } catch { return undefined; }
  return h.disks.find((b) => b.devid === devid);
}

export function findVif(host: XenHost, domid: number, dev: string): NetBack | undefined {
  const h = domain(host, domid);
  if (/^\d+$/.test(dev)) return h.vifs.find((v) => v.devid === Number(dev));
  const mac = dev.trim().toLowerCase();
  return h.vifs.find((v) => v.mac === mac);
}

/** The last step of a detach: the device leaves the domain's list, is released, its backend goes
 * Closed and both xenstore directories are removed (the backend's remove). */
export function finishDetach(host: XenHost, domid: number, dev: Device): void {
  const h = host.domains.get(domid);
  if (h) {
    if (dev instanceof BlkBack) h.disks = h.disks.filter((b) => b !== dev);
    else h.vifs = h.vifs.filter((v) => v !== dev);
  }
  dev.remove();
}

/** What `xm block-list` / `xm network-list` show of a device (from xenstore, as xl reads it). */
export function deviceRow(host: XenHost, domid: number, dev: Device): DeviceRow {
  const n = (p: string) => {
    const s = host.store.readString(p); return s !== undefined && /^\d+$/.test(s) ? Number(s) : -1;
  };
  const fe = dev.feDir;
  const row: DeviceRow = {
    devid: dev.devid, backend: 0, frontend: domid, state: n(`${dev.beDir}/state`),
    evtch: n(`${fe}/event-channel`) >= 0 ? n(`${fe}/event-channel`) : n(`${fe}/event-channel-tx`),
    ringRef: n(`${fe}/ring-ref`), txRef: n(`${fe}/tx-ring-ref`), rxRef: n(`${fe}/rx-ring-ref`), bePath: dev.beDir,
  };
  if (dev instanceof BlkBack) {
    row.vdev = dev.disk.vdev; row.path = dev.disk.path; row.mode = dev.disk.writable ? "w" : "r";
    row.requests = dev.requests; row.indirectRequests = dev.indirectRequests;
  }
  else { row.mac = dev.mac; row.bridge = host.store.readString(`${dev.beDir}/bridge`) ?? host.bridge.name; }
  return row;
}
