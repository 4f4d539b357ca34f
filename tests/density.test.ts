// Many small domains in one host (issue 12, bench:density): dom0 holds two ports per domain (console
// and xenstore), past the 1024 a guest has (512 domains failed at event channel setup); the domains'
// core records cost the same each; machine memory ends where wasm32's 4 GiB do (less the last 64 KiB);
// more than 1023 domains (MAX_DOMAINS: dom0 and 2047 guests).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { MM } from "../host/core";
import { guestPath } from "./lib/pvrun";

test("1030 domains of 3 MiB come up and answer: more than 1023, a "
    + "third of their frames above 2 GiB, dom0 holds their 2060 " + "console and xenstore ports", async () => {
  const n = 1030;
  const host = await XenHost.create(n * 3 + 300);
  const img = new Uint8Array(readFileSync(guestPath("idle", 64)));
  let ready = 0;
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = host.createDomain(`idle${i}`, img, { memoryMiB: 3 });
    ports.push(d.consoleHostPort, d.storeHostPort);
    let tail = "", said = false;
    d.onConsole = (b) => {
      tail = (tail + new TextDecoder().decode(b)).slice(-64);
      if (!said && tail.includes("ready")) { said = true; ready++; }
    };
  }
  assert.ok(Math.max(...ports) >= 2 * n, `dom0's ports reach ${Math.max(...ports)}`);
  assert.ok(Math.max(...host.domains.keys()) >= 1030, "domain ids past 1023");
  assert.is(new Set(ports).size, 2 * n, "each port once");
  const t0 = Date.now();
  await host.runUntil(() => ready === n || Date.now() - t0 > 120000);
  assert.is(ready, n, "every domain said ready");
  const ids = [...host.domains.keys()];
  // A third of their frames lie above 2 GiB of linear memory (mfn 0x80000 on).
  const v = host.core.view(), guests = new Set(ids);
  let above = 0;
  for (let m = 0x80000; m < 0x80000 + 0x60000; m++)
    if (guests.has(v.getUint16(MM.FRAME_TABLE + m * MM.FRAME_REC, true))) above++;
  assert.ok(above > (n * 768) / 3, `${above} of their frames above 2 GiB`);
  const rec = new Set(ids.map((d) => Number(host.core.x.hv_domain_core_bytes(d, 0))));
  assert.is(rec.size, 1, "the same core records for each domain");
  for (const d of ids) host.destroyDomain(d);
  assert.is(host.core.x.hv_frames_owned(ids[n - 1]), 0);
});

test("machine memory ends 64 KiB before wasm32's 4 GiB: no frame is handed out above", async () => {
  assert.is(
    await XenHost.create(4097 - MM.MACHINE_BASE / (1 << 20)).catch((e) => (e as Error).message),
    `hypervisor init failed (${4097 - MM.MACHINE_BASE / (1 << 20)} MiB of machine memory)`
  );
  const host = await XenHost.create(4096 - MM.MACHINE_BASE / (1 << 20));
  const x = host.core.x;
  // Everything free, and what is free ends 64 KiB below 4 GiB of linear memory (memmap.ts NO_HOST is no frame's byte).
  assert.is(
    (x.hv_frames_free() + 1) * 4096, 0x1_0000_0000 - 0x10000 - MM.MACHINE_BASE, `${x.hv_frames_free()} frames free`
  );
  // Domains are built until memory runs out: a clean refusal ("out of machine memory").
  const img = new Uint8Array(readFileSync(guestPath("idle", 64)));
  let built = 0, err = "";
  try {
    for (;;) { host.createDomain(`big${built}`, img, { memoryMiB: 256 }); built++; }
  } catch (e) { err = (e as Error).message; }
  assert.match(err, /out of machine memory/);
  assert.ok(built >= 14 && built <= 16, `${built} domains of 256 MiB`);
  // The last frame handed out is the last below the end, and works (a write and a read at its last byte).
  const mfns: number[] = [];
  for (let m; (m = x.hv_alloc_frame(0)) >= 0;) mfns.push(m);
  assert.is(Math.max(...mfns), 0xffff0 - 1);
  const v = host.core.view();
  v.setUint32(0xffff0000 - 4, 0xdeadbeef, true);
  assert.is(v.getUint32(0xffff0000 - 4, true), 0xdeadbeef);
});

test.run();
