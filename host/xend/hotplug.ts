// xend's side of `xm block-attach/-detach/-list` and `xm network-attach/-detach/-list`: the devices
// of a running domain change (host/pv/hotplug.ts does it through xenstore) and the domain's config
// changes with them, so that `xm list -l`, save/restore, migration and reboot see the same devices.
// A detach waits (XEND_DETACH_TIMEOUT_MS, 10 s by default) for the guest's frontend to let go, as
// libxl does; `force` removes the device without asking.
import { isAbsolute } from "node:path";
import type { XenHost } from "../pv/host";
import type { DomainConfig } from "./config";
import type { Request, DeviceRow } from "./protocol";
import {
  attachDisk, attachVif, findDisk, findVif, finishDetach, deviceRow, Device,
} from "../pv/hotplug";
import { diskDevid } from "../devices/block/vdev";

import { detachTimeoutMs } from "./env";
import { DS_RUNNING } from "../../assembly/records";

export type HotplugRequest = Extract<Request, {
  op: "block-attach" | "block-detach" | "block-list" | "network-attach" | "network-detach" | "network-list"
}>;
export const HOTPLUG_OPS: readonly string[] =
  ["block-attach", "block-detach", "block-list", "network-attach", "network-detach", "network-list"];

export interface HotplugEnv {
  host: XenHost;
  wake(): void;
  /** Called after every run slice (the detach waits on them). */
  sliceWatchers: Set<(now: number) => void>;
  log(line: string): void;
}

/** Devices being detached (a second detach of one is refused while the first waits). */
const detaching = new WeakSet<Device>();

/** The vifs of the config stand in the order of the domain's backends; their devids are recorded (a
 * restored, migrated or rebooted domain gets the same ones). */
function syncVifs(host: XenHost, id: number, cfg: DomainConfig): void {
  const h = host.domains.get(id);
  if (!h) return;
  cfg.vifs.forEach((v, i) => { const b = h.vifs[i]; if (b) v.devid = b.devid; });
}

export async function hotplugRequest(
  env: HotplugEnv, id: number, cfg: DomainConfig, req: HotplugRequest
): Promise<unknown> {
  const { host } = env;
  const h = host.domains.get(id);
  if (!h) throw new Error(`no such domain: ${req.dom}`);
  const running = (what: string) => {
    if (host.state(id) !== DS_RUNNING) throw new Error(`${what}: ${cfg.name} is not running`);
  };
  switch (req.op) {
    case "block-list": return h.disks.map((b) => deviceRow(host, id, b)) as DeviceRow[];
    case "network-list": return h.vifs.map((v) => deviceRow(host, id, v)) as DeviceRow[];
    case "block-attach": {
      running("block-attach");
      if (!isAbsolute(req.target))
        throw new Error(`block-attach: ${req.target}: the image must be given as an absolute path`);
      const b = attachDisk(host, id, { path: req.target, vdev: req.vdev, writable: req.writable });
      cfg.disks.push({ target: req.target, vdev: req.vdev, writable: req.writable, format: "raw" });
      env.log(
        `domain ${cfg.name} (${id}): disk ${req.vdev} (${b.devid}) `
          + `attached: ${req.target} (${req.writable ? "w" : "r"})`
      );
      env.wake();
      return deviceRow(host, id, b);
    }
    case "network-attach": {
      running("network-attach");
      const v = attachVif(host, id, { mac: req.mac, bridge: req.bridge });
      cfg.vifs.push({ mac: v.mac, devid: v.devid, ...(req.bridge ? { bridge: req.bridge } : {}) });
      syncVifs(host, id, cfg);
      env.log(`domain ${cfg.name} (${id}): vif ${v.devid} attached (${v.mac})`);
      env.wake();
      return deviceRow(host, id, v);
    }
    case "block-detach": {
      const b = findDisk(host, id, req.vdev);
      if (!b) throw new Error(
        `block-detach: ${cfg.name} has no disk `
          + `${req.vdev}${h.disks.length ? ` (it has ${h.disks.map((x) => x.disk.vdev).join(", ")})` : ""}`
      );
      await detach(env, id, cfg, b, !!req.force, `disk ${b.disk.vdev}`);
      const k = cfg.disks.findIndex((c) => { try { return diskDevid(c.vdev) === b.devid; } catch { return false; } });
      if (k >= 0) cfg.disks.splice(k, 1);
      return undefined;
    }
    case "network-detach": {
      const v = findVif(host, id, req.dev);
      if (!v) throw new Error(
        `network-detach: ${cfg.name} has no vif `
          + `${req.dev}${h.vifs.length ? ` (it has ${h.vifs.map((x) => `${x.devid} (${x.mac})`).join(", ")})` : ""}`
      );
      const k = h.vifs.indexOf(v);
      await detach(env, id, cfg, v, !!req.force, `vif ${v.devid}`);
      if (k >= 0 && k < cfg.vifs.length) cfg.vifs.splice(k, 1);
      syncVifs(host, id, cfg);
      return undefined;
    }
  }
}

/** Backend Closing, wait for the frontend to close (unless forced), then remove the device. */
async function detach(
  env: HotplugEnv, id: number, cfg: DomainConfig, dev: Device, force: boolean, what: string
): Promise<void> {
  const { host } = env;
  if (detaching.has(dev)) throw new Error(`${what} of ${cfg.name} is being detached already`);
  const paused = host.core.x.hv_domain_paused(id) !== 0;
  if (!force && paused && !dev.frontendReleased())
    throw new Error(`${cfg.name} is paused: unpause it first (its frontend must release ${what}), or force it with -f`);
  if (force || dev.frontendReleased()) {
    finishDetach(host, id, dev);
    env.log(`domain ${cfg.name} (${id}): ${what} detached${force ? " (forced)" : ""}`);
    env.wake();
    return;
  }
  detaching.add(dev);
  dev.requestClose();
  env.wake();
  const timeoutMs = detachTimeoutMs();
  const released = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => { env.sliceWatchers.delete(w); res(false); }, timeoutMs);
    const w = () => {
      if (host.domains.has(id) && !dev.frontendReleased()) return;
      env.sliceWatchers.delete(w);
      clearTimeout(timer);
      res(true);
    };
    env.sliceWatchers.add(w);
  });
  detaching.delete(dev);
  if (!host.domains.has(id)) return; // the domain went away meanwhile: its devices went with it
  if (!released) {
    dev.cancelClose();
    throw new Error(
      `${cfg.name} did not release ${what} within ${timeoutMs / 1000} s; it stays attached (-f removes it anyway)`
    );
  }
  finishDetach(host, id, dev);
  env.log(`domain ${cfg.name} (${id}): ${what} detached`);
  env.wake();
}
