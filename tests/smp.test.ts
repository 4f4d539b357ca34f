// SMP PV guests (issue 12): VCPUOP_initialise/up/down/is_up, IPIs between vCPUs, fair shares of the CPU
// (guests/pv/smp.c, both widths, 1 to 4 vCPUs).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";

async function runSmp(bits: 32 | 64, vcpus: number): Promise<{ out: string; dmesg: string; state: number; reason: number; host: XenHost; domid: number }> {
  const host = await XenHost.create(256);
  const chunks: string[] = [];
  const dom = host.createDomain("smp", new Uint8Array(readFileSync(guestPath("smp", bits))), { memoryMiB: 16, vcpus, cmdline: `vcpus=${vcpus}` });
  dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== 1 || Date.now() - t0 > 60000);
  return { out: chunks.join(""), dmesg: host.dmesg(), state: host.state(dom.domid), reason: host.shutdownReason(dom.domid), host, domid: dom.domid };
}

for (const bits of [64, 32] as const) {
  for (const vcpus of [1, 2, 4]) {
    test(`PV smp guest (${bits}-bit, ${vcpus} vCPU${vcpus > 1 ? "s" : ""}): initialise/up/down/is_up, IPIs, fair shares; the last vCPU down powers off`, async () => {
      const r = await runSmp(bits, vcpus);
      const fails = r.out.split("\n").filter((l) => l.startsWith("FAIL"));
      assert.equal(fails, [], r.out + r.dmesg);
      assert.match(r.out, "smp: PASSED", r.out + r.dmesg);
      assert.match(r.out, `the domain has ${vcpus} vCPUs`);
      if (vcpus > 1) assert.match(r.out, `vCPU ${vcpus - 1} took itself down`);
      assert.is(r.state, 2, "shut down");
      assert.is(r.reason, 0, "powered off");
      assert.match(r.dmesg, "its last online vCPU went down");
      assert.is(r.host.core.x.hv_domain_vcpus(r.domid), vcpus);
      if (process.env.SMP_SHOW) console.log(r.out, r.dmesg);
    });
  }
}

test.run();
