// bench/density: start 128 of our small PV guests in one host and wait until every one has said
// "ready" on its console. Reports the time until all answered and the host memory each domain costs
// beyond its own RAM, each part measured: the core's records for it and the frames it owns beyond its
// RAM (both counted by the core where it hands them out: hv_domain_core_bytes; the frame allocator's
// count of frames in use is printed beside them as a check), the JS heap (after a gc) and the host's
// memory outside the heap, per domain.
// Then every domain is destroyed: the teardown's time (`teardown_s`), and every frame must be back.
// `--json` prints one JSON line last; `--count N`, `--memory MiB` change the set-up.
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { MM } from "../host/core";

const argv = process.argv.slice(2);
const json = argv.includes("--json");
const opt = (k: string, d: number) => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
const count = opt("--count", 128);
const memMiB = opt("--memory", 4);

async function main(): Promise<void> {
  const img = new Uint8Array(readFileSync("guests/build/pv-idle-64.elf"));
  // Machine memory: each domain's RAM and its 64 frames of slack beyond it (max pages), plus room for
  // the host's own; wasm32's 4 GiB (less the core's tables below MACHINE_BASE and the last 64 KiB) is the ceiling.
  const maxMiB = Math.floor((0x1_0000_0000 - MM.MACHINE_BASE) / (1 << 20));
  const host = await XenHost.create(Math.min(maxMiB, Math.max(256, count * memMiB + Math.ceil(count / 4) + 64)));
  global.gc?.();
  if (!global.gc) console.error(
    "bench:density: run with node --expose-gc (npm run bench:density) for a JS heap figure that means something"
  );
  const mem0 = process.memoryUsage();
  const lin0 = host.core.mem.buffer.byteLength;
  const free0 = host.core.x.hv_frames_free();
  const t0 = process.hrtime.bigint();
  let ready = 0;
  for (let i = 0; i < count; i++) {
    const d = host.createDomain(`idle${i}`, img, { memoryMiB: memMiB });
    let said = false, tail = "";
    // (A console write may reach us in two pieces when the hypervisor's buffer fills: keep a tail.)
    d.onConsole = (b) => {
      tail = (tail + new TextDecoder().decode(b)).slice(-64);
      if (!said && tail.includes("ready")) { said = true; ready++; }
    };
  }
  const built = Number(process.hrtime.bigint() - t0) / 1e9;
  await host.runUntil(() => ready === count || Number(process.hrtime.bigint() - t0) > 60e9);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  global.gc?.();
  const mem1 = process.memoryUsage();
  const lin1 = host.core.mem.buffer.byteLength;
  const free1 = host.core.x.hv_frames_free();
  const ramBytes = memMiB * 1024 * 1024;
  // The core's own counts, kept where it hands things out (assembly/domain/frames.ts, hv/lifecycle.ts).
  let records = 0, frames = 0;
  const ids = [...host.domains.keys()].filter((d) => d !== 0);
  for (const d of ids) {
    records += Number(host.core.x.hv_domain_core_bytes(d, 0)); frames += Number(host.core.x.hv_domain_core_bytes(d, 1));
  }
  const n = ids.length;
  const perRecords = records / n;
  const perFramesBeyond = frames / n - ramBytes; // shared_info, grant-table and other frames beyond its RAM
  // Cross-check with the frame allocator: machine frames handed out during the run, beyond the guests' RAM.
  const perInUseBeyond = ((free0 - free1) * 4096 - n * ramBytes) / n;
  const perHeap = (mem1.heapUsed - mem0.heapUsed) / n;
  // Host memory outside the JS heap (Buffers, ArrayBuffers), without the wasm memory's own growth.
  const perExternal = ((mem1.external - mem0.external) - (lin1 - lin0)) / n;
  const perGrown = (lin1 - lin0 - n * ramBytes) / n; // linear memory grown beyond their RAM (16 MiB steps)
  const perDomain = perRecords + perFramesBeyond + perHeap + Math.max(0, perExternal);
  const k = (b: number) => (b / 1024).toFixed(1);
  console.log(
    `${ready}/${count} domains ready in ${seconds.toFixed(2)} s `
      + `(${memMiB} MiB each; built in ${built.toFixed(2)} s, then ` + `run)`
  );
  console.log(`per domain beyond its RAM: ${k(perDomain)} KiB = core `
      + `records ${k(perRecords)} KiB (domain, vCPU, event-channel `
      + `slots, frame-table records; counted by the core)` +
    ` + frames beyond its RAM ${k(perFramesBeyond)} KiB (counted `
      + `by the core; the allocator says ${k(perInUseBeyond)} KiB)` +
    ` + JS heap ${k(perHeap)} KiB + host memory outside the heap ${k(Math.max(0, perExternal))} KiB`);
  console.log(
    `linear memory grew by ${k(perGrown)} KiB per domain beyond `
      + `their RAM (it grows ahead in steps of 16 MiB or an eighth `
      + `of its size: address space, not RAM, until used; the ` + `records' tables are preallocated)`
  );
  // Teardown: every domain destroyed (host.destroyDomain: its backends, xenstore, then the core's
  // hv_domain_destroy), then every frame must be back in the pool.
  // (The core's share, hv_domain_destroy, timed apart: the exports seen through an object of our own.)
  const exportsObj = host.core.x;
  let coreNs = 0n;
  const timed = Object.create(exportsObj) as typeof exportsObj;
  Object.defineProperty(
    timed, "hv_domain_destroy", {
      value: (d: number) => {
        const t = process.hrtime.bigint(); const r = exportsObj.hv_domain_destroy(d);
        coreNs += process.hrtime.bigint() - t; return r;
      }
    }
  );
  (host.core as { x: typeof exportsObj }).x = timed;
  const td0 = process.hrtime.bigint();
  for (const d of ids) host.destroyDomain(d);
  const teardown = Number(process.hrtime.bigint() - td0) / 1e9;
  (host.core as { x: typeof exportsObj }).x = exportsObj;
  const teardownCore = Number(coreNs) / 1e9;
  const freeAfter = host.core.x.hv_frames_free();
  console.log(
    `teardown: ${n} domains destroyed in ${teardown.toFixed(3)} `
      + `s (${(teardown / n * 1e3).toFixed(3)} ms each; the core's `
      + `hv_domain_destroy ${teardownCore.toFixed(3)} s of it); ` + `frames free ${freeAfter} `
      + `(${freeAfter === free0 ? "all back" : `${free0 - freeAfter} missing`})`
  );
  if (freeAfter !== free0) process.exitCode = 1;
  if (json) {
    const r = (b: number) => Math.round(b / 102.4) / 10;
    console.log(JSON.stringify({
      domains: count, ready, seconds: Math.round(seconds * 1000) / 1000, build_seconds: Math.round(built * 1000) / 1000,
      memory_mib: memMiB, per_domain_kib: r(perDomain),
      parts_kib: {
        core_records: r(perRecords), frames_beyond_ram: r(perFramesBeyond), js_heap: r(perHeap),
        external: r(Math.max(0, perExternal))
      }, external_raw_kib: r(perExternal),
      allocator_frames_beyond_ram_kib: r(perInUseBeyond), linear_grown_beyond_ram_kib: r(perGrown),
      teardown_s: Math.round(teardown * 1000) / 1000, teardown_core_s: Math.round(teardownCore * 1000) / 1000,
    }));
  }
  if (ready !== count) process.exit(1);
}

main().catch((e) => { console.error(`bench:density: ${e.message}`); process.exit(1); });
