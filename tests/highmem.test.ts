// Machine memory above 2 GiB of the core's linear memory (issue 12's scale): host addresses are u32 up to
// 4 GiB (assembly/memmap.ts NO_HOST), so frames there work as any other. Dom0 takes the fresh frames below
// 2 GiB but the last 16, so each guest's frames straddle 2 GiB (a few below, the rest above); our PV guests
// run there, interpreted and compiled (XENWASM_JIT off and force), both widths, with the host's block
// backend reading and writing their granted pages. (With i32 host addresses, negative meaning "fault",
// every access above 2 GiB faulted: the guests hung.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { MM } from "../host/core";
import { guestPath } from "./lib/pvrun";
import { DS_RUNNING } from "../assembly/records";

const TWO_GIB_MFN = 0x8_0000;

/** A host whose next fresh frames start 16 below 2 GiB (dom0 holds everything under them). */
async function highHost(): Promise<XenHost> {
  const host = await XenHost.create(2600);
  const x = host.core.x;
  const mfnAt = (i: number) => host.core.view().getUint32(MM.MAILBOX + 4 * i, true);
  assert.is(x.hv_alloc_frames(0, 1, 0), 1);
  let next = mfnAt(0) + 1;
  while (next < TWO_GIB_MFN - 16) {
    const n = x.hv_alloc_frames(0, Math.min(MM.MAILBOX_SIZE / 4, TWO_GIB_MFN - 16 - next), 0);
    assert.ok(n > 0, "dom0 took its frames");
    next = mfnAt(n - 1) + 1;
  }
  assert.is(next, TWO_GIB_MFN - 16);
  return host;
}

/** Frames of `d` below and above 2 GiB (a scan of the frame table). */
function frameSides(host: XenHost, d: number): { below: number; above: number } {
  const v = host.core.view();
  let below = 0, above = 0;
  for (let m = TWO_GIB_MFN - 64; m < TWO_GIB_MFN + 0x10000; m++) {
    if (v.getUint16(MM.FRAME_TABLE + m * MM.FRAME_REC, true) !== d) continue;
    if (m < TWO_GIB_MFN) below++; else above++;
  }
  return { below, above };
}

async function run(host: XenHost, name: string, bits: 32 | 64, o: { cmdline?: string; disks?: { path: string; vdev: string; writable: boolean }[] } = {}): Promise<string> {
  const dom = host.createDomain(`${name}${bits}`, new Uint8Array(readFileSync(guestPath(name, bits))), { memoryMiB: 16, ...o });
  const sides = frameSides(host, dom.domid), owned = host.core.x.hv_frames_owned(dom.domid);
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 60_000);
  assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], `${name}: ${out}${host.dmesg()}`);
  assert.is(host.shutdownReason(dom.domid), 0, `${name} powered off: ${out}`);
  host.destroyDomain(dom.domid);
  assert.is(host.core.x.hv_frames_owned(dom.domid), 0);
  assert.ok(sides.above >= owned - 16 && sides.above > 4000, `${name}: ${sides.above} of its ${owned} frames above 2 GiB`);
  return out;
}

const sums: Record<string, string> = {};
for (const mode of ["off", "force"] as const) {
  test(`PV guests with their frames across and above 2 GiB of linear memory (XENWASM_JIT=${mode})`, async () => {
    const saved = process.env.XENWASM_JIT;
    process.env.XENWASM_JIT = mode;
    try {
      const host = await highHost();
      let straddled = 0;
      for (const bits of [64, 32] as const) {
        for (const name of ["traps", "events", "mmu", "ptwr", "memory", "hcpage", "gntv2", "fifo", bits === 64 ? "user" : "user32"]) {
          const out = await run(host, name, bits); // each prints "<name>: PASSED" before powering off
          assert.match(out, `${name}: PASSED`, out);
        }
        // The hot loop (compiled under force) with timer upcalls; its sum is the same in both modes.
        const hot = await run(host, "hotloop", bits, { cmdline: "iters=300" });
        assert.match(hot, /hotloop: sum=[0-9a-f]+ .*\n[^]*hotloop: done/, hot);
        sums[`${bits}`] ??= hot.match(/sum=([0-9a-f]+)/)![1];
        assert.is(hot.match(/sum=([0-9a-f]+)/)![1], sums[`${bits}`], "the same sum interpreted and compiled");
        // The host's block backend reaches the guest's granted pages above 2 GiB (reads, indirect writes).
        mkdirSync("tests/build", { recursive: true });
        const img = `tests/build/highmem-blk-${bits}-${mode}.img`;
        const disk = new Uint8Array(1 << 20);
        for (let i = 0; i < disk.length; i++) disk[i] = (i >> 9) & 0xff;
        writeFileSync(img, disk);
        const blk = await run(host, "blk", bits, { disks: [{ path: img, vdev: "xvda", writable: true }] });
        assert.match(blk, "blk: PASSED", blk);
        const after = readFileSync(img);
        for (let k = 0; k < 16; k++) assert.ok(after.subarray((64 + k) * 512, (65 + k) * 512).every((b) => b === 200 + k), `sector ${64 + k} written`);
        straddled++;
      }
      assert.is(straddled, 2);
      if (mode === "force") assert.ok(host.core.jit!.stats().insns > 1_000_000, `compiled code ran: ${JSON.stringify(host.core.jit!.stats())}`);
    } finally {
      if (saved === undefined) delete process.env.XENWASM_JIT; else process.env.XENWASM_JIT = saved;
    }
  });
}

test.run();
