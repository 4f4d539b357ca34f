// bench/hypercall: the PV hypervisor's hot paths, measured inside a guest with its own clock
// (guests/pv/hcbench.c: each figure after a warm-up run), plus the boot time of a small guest to its
// first console line (measured by the host). Each figure also in "instructions' worth" of the same
// run's guest CPU speed; each is the median of five passes after a warm-up one. `--json` prints one
// JSON line last. The notify figure is half a ping-pong
// round trip between two domains with lean handlers (assembly: the hypervisor's path);
// evtchn_notify_c_ns is the same through our C runtime's generic upcall and wait loop.
// One PTE flipped between two frames: update_va_mapping_ns by update_va_mapping (UVMF_INVLPG), and
// mmu_update_ns by mmu_update (one MMU_NORMAL_PT_UPDATE request, no flush). Until 2026-12 the field
// mmu_update_ns held the update_va_mapping figure; the name now means what it times.
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { DS_RUNNING } from "../assembly/records";

const json = process.argv.includes("--json");
const REPS = 5;
const img = (name: string) => new Uint8Array(readFileSync(`guests/build/pv-${name}-64.elf`));

async function bootMs(): Promise<number> {
  // A fresh host each time; the second run (JIT warm) is the figure.
  let ms = 0;
  for (let i = 0; i < 3; i++) {
    const host = await XenHost.create(256);
    const t0 = process.hrtime.bigint();
    let first = 0n;
    const d = host.createDomain("hello", img("hello"), { memoryMiB: 16 });
    d.onConsole = () => { if (first === 0n) first = process.hrtime.bigint(); };
    await host.runUntil(() => first !== 0n || host.state(d.domid) !== DS_RUNNING);
    ms = Number(first - t0) / 1e6;
  }
  return ms;
}

async function main(): Promise<void> {
  const host = await XenHost.create(256);
  let out = "";
  const a = host.createDomain("bench-a", img("hcbench"), { memoryMiB: 16, cmdline: `role=a peer=2 reps=${REPS}` });
  const b = host.createDomain("bench-b", img("hcbench"), { memoryMiB: 16, cmdline: "role=b peer=1" });
  a.onConsole = (x) => { out += new TextDecoder().decode(x); };
  b.onConsole = () => {};
  await host.runUntil(() => host.state(a.domid) !== DS_RUNNING);
  if (!out.includes("bench done")) throw new Error("the benchmark guest did not finish:\n" + out + host.dmesg());
  // Each figure: the median of the guest's REPS measured passes.
  const v = (k: string) => {
    const all =
      [...out.matchAll(new RegExp(`bench ${k}=(\\d+)`, "g"))].map((m) => Number(m[1]) / 100).sort((x, y) => x - y);
    return all.length ? all[all.length >> 1] : NaN;
  };
  const mips = v("guest_mips");
  const r = {
    null_hypercall_ns: v("null_hypercall_ns"),
    evtchn_notify_ns: v("evtchn_notify_ns"),
    evtchn_notify_c_ns: v("evtchn_notify_c_ns"),
    update_va_mapping_ns: v("update_va_mapping_ns"),
    mmu_update_ns: v("mmu_update_ns"),
    fault_bounce_ns: v("fault_bounce_ns"),
    boot_ms: await bootMs(),
  };
  const goals: Record<string, number> = {
    null_hypercall_ns: 100, evtchn_notify_ns: 1000, update_va_mapping_ns: 200, mmu_update_ns: 200, fault_bounce_ns: 300,
    boot_ms: 20
  };
  console.log(`guest CPU speed in this run: ${mips.toFixed(1)} MIPS`);
  console.log("figure                 value      insns' worth   goal");
  for (const [k, val] of Object.entries(r)) {
    const worth = k.endsWith("_ns") ? (val * mips / 1000).toFixed(0) : "";
    console.log(
      `${k.padEnd(22)} ${val.toFixed(2).padStart(9)} ` + `${worth.padStart(14)}   `
        + `${goals[k] ? `<= ${goals[k]}` : "(no goal)"}`
    );
  }
  if (json) console.log(
    JSON.stringify({
      ...Object.fromEntries(Object.entries(r).map(([k, x]) => [k, Math.round(x * 100) / 100])), guest_mips: mips
    })
  );
}

main().catch((e) => { console.error(`bench:hypercall: ${e.message}`); process.exit(1); });
