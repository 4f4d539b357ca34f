// Run our PV test guests (guests/build/pv-*.elf) in a private host and collect their consoles.
import { readFileSync } from "node:fs";
import { XenHost, DomainHandle } from "../../host/pv/host";
import { DS_RUNNING, DS_SHUTDOWN } from "../../assembly/records";

export interface GuestRun { host: XenHost; dom: DomainHandle; output: string; state: number; reason: number }

export function guestPath(name: string, bits: 32 | 64): string { return `guests/build/pv-${name}-${bits}.elf`; }

export async function startGuest(
  host: XenHost, name: string, bits: 32 | 64, memoryMiB = 16
): Promise<{ dom: DomainHandle; out: () => string }> {
  const chunks: string[] = [];
  const dom = host.createDomain(name, new Uint8Array(readFileSync(guestPath(name, bits))), { memoryMiB });
  dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
  return { dom, out: () => chunks.join("") };
}

export async function runGuest(name: string, bits: 32 | 64, memoryMiB = 16, timeoutMs = 20000): Promise<GuestRun> {
  const host = await XenHost.create(256);
  const { dom, out } = await startGuest(host, name, bits, memoryMiB);
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > timeoutMs);
  return { host, dom, output: out(), state: host.state(dom.domid), reason: host.shutdownReason(dom.domid) };
}

/** Two domains started together (ids 1 and 2), each told its role and its peer on the command line. */
export async function runPair(
  name: string, bits: 32 | 64, timeoutMs = 20000
): Promise<{ host: XenHost; out: string[]; reasons: number[] }> {
  const host = await XenHost.create(256);
  const outs: string[][] = [[], []];
  const doms = ["a", "b"].map((role, i) => {
    const d = host.createDomain(
      `${name}-${role}`, new Uint8Array(readFileSync(guestPath(name, bits))),
      { memoryMiB: 16, cmdline: `role=${role} peer=${2 - i}` }
    );
    d.onConsole = (b) => outs[i].push(new TextDecoder().decode(b));
    return d;
  });
  const t0 = Date.now();
  await host.runUntil(() => doms.every((d) => host.state(d.domid) !== DS_RUNNING) || Date.now() - t0 > timeoutMs);
  return {
    host, out: outs.map((o) => o.join("")),
    reasons: doms.map((d) => host.state(d.domid) === DS_SHUTDOWN ? host.shutdownReason(d.domid) : -1)
  };
}
