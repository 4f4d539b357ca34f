// One writable image in one domain only, whatever path names it (as Xen's block hotplug script insists).
import type { XenHost } from "./host";
import type { DiskSpec } from "../devices/block/blkback";
import { platform } from "../platform";

function samePath(a: string, b: string): boolean {
  return platform.sameFile ? platform.sameFile(a, b) : a === b;
}

/**
 * Refuse `disk` for domain `domid` when its image (the same file by any path: `./` aliases and symlinks
 * resolved) is attached writable anywhere, or attached at all while `disk` is writable, as Xen's block
 * hotplug script insists. `pending` are the disks the same new domain gets before this one.
 */
export function checkDiskShared(host: XenHost, domid: number, disk: DiskSpec, pending: DiskSpec[] = []): void {
  const users: [string, DiskSpec][] = pending.map((p) => ["this domain", p]);
  for (const d of host.domains.values()) for (const b of d.disks) users.push([`domain ${d.domid}`, b.disk]);
  for (const [who, other] of users) {
    if (!samePath(other.path, disk.path)) continue;
    if (disk.writable || other.writable) {
      throw new Error(
        `${disk.path} is already ` + `attached${other.writable ? " writable" : ""} to ${who} as `
          + `${other.vdev}${disk.writable ? "; a writable disk may be used by one domain only" : ""}`
      );
    }
  }
}
