// The standard nodes xl/libxl write for a new domain (libxl__domain_make in libxl_create.c,
// libxl__build_post in libxl_dom.c, the console frontend of libxl__device_console_add), with the
// same permissions: the home directory is dom0's, readable by the domain ("roperm"); the
// subdirectories the guest must write (control/shutdown & co, data, drivers, feature, attr, error,
// device/suspend/event-channel) are owned by the domain ("rwperm"); the console frontend directory
// belongs to the domain with read access for the backend (dom0).
import type { XenStore } from "./store";
import type { Perm } from "./tree";

export interface DomainNodes {
  uuid?: string;
  /** memory/target and memory/static-max, in KiB. */
  memoryKb?: number;
  maxMemKb?: number;
  vcpus?: number;
  /** cpu/N/availability of each vCPU (default: all "online"); a restored domain's follow its vCPUs. */
  vcpuOnline?: boolean[];
  storeMfn?: number | bigint;
  storePort?: number;
  consoleRef?: number | bigint;
  consolePort?: number;
  /** console/limit (xenconsoled's buffer limit), written when given. */
  consoleLimit?: number;
  /** Backend domain of the console (default dom0). */
  consoleBackend?: number;
}

export function defaultUuid(domid: number): string {
  return `00000000-0000-0000-0000-${domid.toString(16).padStart(12, "0")}`;
}

/** cpu/N/availability, "online" or "offline" for each vCPU, as libxl's vcpu-set writes them for a PV domain
 * (libxl__set_vcpuonline_xenstore): the guest's xen cpu_hotplug driver takes a CPU down when its node says
 * offline, and makes it present again (for user space to bring online) when it says online. */
export function writeVcpuAvailability(store: XenStore, domid: number, online: boolean[]): void {
  const home = store.getDomainPath(domid);
  online.forEach((on, i) => store.write(`${home}/cpu/${i}/availability`, on ? "online" : "offline"));
}

/** Writes /local/domain/<domid>/..., /vm/<uuid> and /libxl/<domid> as xl does. Returns the home path. */
export function populateDomain(store: XenStore, domid: number, name: string, o: DomainNodes = {}): string {
  const home = store.getDomainPath(domid);
  const uuid = o.uuid ?? defaultUuid(domid);
  const vm = `/vm/${uuid}`;
  const noperm: Perm[] = [{ domid: 0, perm: "n" }];
  const roperm: Perm[] = [{ domid: 0, perm: "n" }, { domid, perm: "r" }];
  const rwperm: Perm[] = [{ domid, perm: "n" }];

  // libxl__domain_make
  store.mkdir(home, roperm);
  store.mkdir(vm, roperm);
  store.mkdir(`/libxl/${domid}`, noperm);
  store.mkdir(`/libxl/${domid}/device`, noperm);
  store.write(`${home}/vm`, vm);
  store.mkdir(`${home}/cpu`, roperm);
  store.mkdir(`${home}/memory`, roperm);
  store.mkdir(`${home}/device`, roperm);
  store.mkdir(`${home}/device/suspend/event-channel`, rwperm);
  store.mkdir(`${home}/control`, roperm);
  for (const c of ["shutdown", "feature-poweroff", "feature-reboot", "feature-suspend", "sysrq"]) {
    store.mkdir(`${home}/control/${c}`, rwperm);
  }
  for (const d of ["data", "drivers", "feature", "attr", "error"]) store.mkdir(`${home}/${d}`, rwperm);
  store.write(`${vm}/uuid`, uuid);
  store.write(`${vm}/name`, name);
  store.write(`${home}/name`, name);
  store.write(`${home}/control/platform-feature-multiprocessor-suspend`, "1");
  store.write(`/libxl/${domid}/type`, "pv");

  // libxl__build_post
  const kb = o.memoryKb ?? 0;
  store.write(`${home}/memory/static-max`, String(o.maxMemKb ?? kb));
  store.write(`${home}/memory/target`, String(kb));
  store.write(`${home}/memory/videoram`, "0");
  store.write(`${home}/domid`, String(domid));
  if (o.storePort !== undefined) store.write(`${home}/store/port`, String(o.storePort));
  if (o.storeMfn !== undefined) store.write(`${home}/store/ring-ref`, String(o.storeMfn));
  writeVcpuAvailability(store, domid, Array.from({ length: o.vcpus ?? 1 }, (_, i) => o.vcpuOnline?.[i] ?? true));

  // The primary console: a frontend directory owned by the guest, readable by its backend.
  const be = o.consoleBackend ?? 0;
  const con = `${home}/console`;
  store.mkdir(con, [{ domid, perm: "n" }, { domid: be, perm: "r" }]);
  store.write(`${con}/backend`, `${store.getDomainPath(be)}/backend/console/${domid}/0`);
  store.write(`${con}/backend-id`, String(be));
  store.write(`${con}/type`, "xenconsoled");
  store.write(`${con}/output`, "pty");
  if (o.consoleLimit !== undefined) store.write(`${con}/limit`, String(o.consoleLimit));
  if (o.consoleRef !== undefined) store.write(`${con}/ring-ref`, String(o.consoleRef));
  if (o.consolePort !== undefined) store.write(`${con}/port`, String(o.consolePort));
  return home;
}
