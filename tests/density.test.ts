// Many small domains in one host (issue 12, bench:density): dom0 holds two ports per domain (console
// and xenstore), past the 1024 a guest has (512 domains failed at event channel setup); the domains'
// core records cost the same each; machine memory ends where the core can address it (2 GiB).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { MM } from "../host/core";
import { guestPath } from "./lib/pvrun";

test("600 domains of 3 MiB come up and answer: dom0 holds their 1200 console and xenstore ports", async () => {
  const n = 600;
  const host = await XenHost.create(n * 3 + 256);
  const img = new Uint8Array(readFileSync(guestPath("idle", 64)));
  let ready = 0;
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = host.createDomain(`idle${i}`, img, { memoryMiB: 3 });
    ports.push(d.consoleHostPort, d.storeHostPort);
    let tail = "", said = false;
    d.onConsole = (b) => { tail = (tail + new TextDecoder().decode(b)).slice(-64); if (!said && tail.includes("ready")) { said = true; ready++; } };
  }
  assert.ok(Math.max(...ports) >= 1200, `dom0's ports reach ${Math.max(...ports)}`);
  assert.is(new Set(ports).size, 2 * n, "each port once");
  const t0 = Date.now();
  await host.runUntil(() => ready === n || Date.now() - t0 > 120000);
  assert.is(ready, n, "every domain said ready");
  const ids = [...host.domains.keys()];
  const rec = new Set(ids.map((d) => Number(host.core.x.hv_domain_core_bytes(d, 0))));
  assert.is(rec.size, 1, "the same core records for each domain");
  for (const d of ids) host.destroyDomain(d);
  assert.is(host.core.x.hv_frames_owned(ids[n - 1]), 0);
});

test("machine memory ends where the core addresses it (2 GiB): no frame is handed out above", async () => {
  const host = await XenHost.create(4000);
  const x = host.core.x;
  // Everything free, and what is free lies below 2 GiB of linear memory.
  assert.ok((x.hv_frames_free() + 1) * 4096 <= 0x80000000 - MM.MACHINE_BASE, `${x.hv_frames_free()} frames free`);
  // Domains are built until memory runs out: a clean refusal ("out of machine memory").
  const img = new Uint8Array(readFileSync(guestPath("idle", 64)));
  let built = 0, err = "";
  try { for (;;) { host.createDomain(`big${built}`, img, { memoryMiB: 256 }); built++; } } catch (e) { err = (e as Error).message; }
  assert.match(err, /out of machine memory/);
  assert.ok(built >= 6 && built <= 8, `${built} domains of 256 MiB`);
});

test.run();
