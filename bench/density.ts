// bench/density: start 128 of our small PV guests in one host and wait until every one has said
// "ready" on its console. Reports the time until all answered and the host memory each domain costs
// beyond its own RAM (the core's linear memory beyond the guests' frames, and the JS heap), per domain.
// `--json` prints one JSON line last; `--count N`, `--memory MiB` change the set-up.
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";

const argv = process.argv.slice(2);
const json = argv.includes("--json");
const opt = (k: string, d: number) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
const count = opt("--count", 128);
const memMiB = opt("--memory", 4);

async function main(): Promise<void> {
  const img = new Uint8Array(readFileSync("guests/build/pv-idle-64.elf"));
  const host = await XenHost.create(Math.max(256, count * (memMiB + 1) + 64));
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const lin0 = host.core.mem.buffer.byteLength;
  const t0 = process.hrtime.bigint();
  let ready = 0;
  for (let i = 0; i < count; i++) {
    const d = host.createDomain(`idle${i}`, img, { memoryMiB: memMiB });
    let said = false;
    d.onConsole = (b) => { if (!said && new TextDecoder().decode(b).includes("ready")) { said = true; ready++; } };
  }
  await host.runUntil(() => ready === count || Number(process.hrtime.bigint() - t0) > 60e9);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  global.gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  const lin1 = host.core.mem.buffer.byteLength;
  const guestBytes = count * memMiB * 1024 * 1024;
  // Frames the domains own beyond their RAM (shared_info, grant frames) are counted as overhead.
  let owned = 0;
  for (let d = 1; d <= count; d++) owned += host.core.x.hv_frames_owned(d);
  const perDomainLinear = Math.max(0, lin1 - lin0 - guestBytes) / count;
  const perDomainHeap = Math.max(0, heap1 - heap0) / count;
  const fixedRecords = 0x2000 + 0x400 + 0x2000; // vCPU, domain and event-channel records (hypervisor region)
  const frameTable = (owned / count) * 16; // frame-table records of its frames
  const perDomain = perDomainLinear + perDomainHeap + fixedRecords + frameTable;
  console.log(`${ready}/${count} domains ready in ${seconds.toFixed(2)} s (${memMiB} MiB each)`);
  console.log(`per domain beyond its RAM: ${(perDomain / 1024).toFixed(1)} KiB ` +
    `(linear memory ${(perDomainLinear / 1024).toFixed(1)} KiB, JS heap ${(perDomainHeap / 1024).toFixed(1)} KiB, ` +
    `hypervisor records ${(fixedRecords / 1024).toFixed(1)} KiB, frame table ${(frameTable / 1024).toFixed(1)} KiB)`);
  if (json) console.log(JSON.stringify({ domains: count, ready, seconds: Math.round(seconds * 1000) / 1000, memory_mib: memMiB, per_domain_kib: Math.round(perDomain / 102.4) / 10 }));
  if (ready !== count) process.exit(1);
}

main().catch((e) => { console.error(`bench:density: ${e.message}`); process.exit(1); });
