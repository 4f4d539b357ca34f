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
import { DS_RUNNING, DS_SHUTDOWN, D_SHARED_INFO, D_START_INFO, D_GNT_FRAMES, D_GNT_FRAME0 } from "../assembly/records";
import { saveDomain, restoreDomain, frameList } from "../host/save/save";
import { migrate, MigrateSource } from "../host/migrate/send";
import { startRelocation, MigrateTarget } from "../host/migrate/receive";
import type { DomainHandle } from "../host/pv/host";

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

async function run(
  host: XenHost, name: string, bits: 32 | 64,
  o: { cmdline?: string; disks?: { path: string; vdev: string; writable: boolean }[] } = {}
): Promise<string> {
  const dom =
    host.createDomain(`${name}${bits}`, new Uint8Array(readFileSync(guestPath(name, bits))), { memoryMiB: 16, ...o });
  const sides = frameSides(host, dom.domid), owned = host.core.x.hv_frames_owned(dom.domid);
  let out = "";
  dom.onConsole = (b) => { out += new TextDecoder().decode(b); };
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 60_000);
  assert.equal(out.split("\n").filter((l) => l.startsWith("FAIL")), [], `${name}: ${out}${host.dmesg()}`);
  assert.is(host.shutdownReason(dom.domid), 0, `${name} powered off: ${out}`);
  host.destroyDomain(dom.domid);
  assert.is(host.core.x.hv_frames_owned(dom.domid), 0);
  assert.ok(
    sides.above >= owned - 16 && sides.above > 4000, `${name}: ${sides.above} of its ${owned} frames above 2 GiB`
  );
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
        for (
          const name of [
            "traps", "events", "mmu", "ptwr", "memory", "hcpage", "gntv2", "fifo", bits === 64 ? "user" : "user32"
          ]
        ) {
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
        for (let k = 0; k < 16; k++) assert.ok(
          after.subarray((64 + k) * 512, (65 + k) * 512).every((b) => b === 200 + k), `sector ${64 + k} written`
        );
        straddled++;
      }
      assert.is(straddled, 2);
      if (mode === "force") assert.ok(
        host.core.jit!.stats().insns > 1_000_000, `compiled code ran: ${JSON.stringify(host.core.jit!.stats())}`
      );
    } finally {
      if (saved === undefined) delete process.env.XENWASM_JIT; else process.env.XENWASM_JIT = saved;
    }
  });
}

// ---- save/restore and live migration with every frame above 2 GiB, on both sides ----
// The counter guest (guests/pv/counter.c) suspends, is saved (or migrated live, in this process: our
// relocation listener on a second host) and restored into another host whose free frames are above
// 2 GiB too. Its memory is then compared page by page (pfn by pfn, through each side's M2P) with what
// it was at the suspend: every byte the same, but for words that are machine frame numbers or
// page-table entries translated from the old frame to the new one (and shared_info/start_info, which
// the restore rewrites); then it counts on with no gap and no repeat and its own checksum is the same.

interface Snap {
  pages: Map<bigint, { mfn: number; bytes: Uint8Array }>; special: Set<bigint>; typed: number; xen: number[]
}
/** Every frame of `d` with a pfn, by pfn (copied), the pfns the restore rewrites, and the frames the
 * domain record names that have no pfn (shared_info, grant frames), in the record's order. */
function snapshot(host: XenHost, d: number): Snap {
  const fr = frameList(host, d);
  const dv = new DataView(fr.buffer, fr.byteOffset, fr.byteLength);
  const mem = host.core.bytes(), v = host.core.view();
  const pages = new Map<bigint, { mfn: number; bytes: Uint8Array }>();
  const byMfn = new Map<number, bigint>();
  let typed = 0;
  for (let i = 0; i < fr.length; i += 16) {
    const mfn = dv.getUint32(i, true), t = dv.getUint32(i + 4, true) & 0xff, pfn = dv.getBigUint64(i + 8, true);
    if (t >= 1 && t <= 4) typed++;
    if (pfn === 0xffffffffffffffffn || pfn === 0xffffffffn) continue;
    pages.set(pfn, { mfn, bytes: mem.slice(mfn * 4096, mfn * 4096 + 4096) });
    byMfn.set(mfn, pfn);
  }
  const drec = host.core.x.hv_domain_addr(d);
  const special = new Set<bigint>();
  for (const f of [D_SHARED_INFO, D_START_INFO]) {
    const p = byMfn.get(v.getUint32(drec + f, true) >>> 12); if (p !== undefined) special.add(p);
  }
  const xen =
    [D_SHARED_INFO, ...Array.from({ length: v.getUint32(drec + D_GNT_FRAMES, true) }, (_, k) => D_GNT_FRAME0 + 4 * k)]
    .map((f) => v.getUint32(drec + f, true) >>> 12);
  return { pages, special, typed, xen };
}

/** `b` (restored) against `a` (at the suspend): [pages compared, translated words]; throws on any other difference. */
function compareMemory(a: Snap, b: Snap, bits: 32 | 64): [number, number] {
  assert.is(b.pages.size, a.pages.size, "the same pfns on both sides");
  const to = new Map<number, number>();
  for (const [pfn, p] of a.pages) {
    const q = b.pages.get(pfn); assert.ok(q, `pfn ${pfn} restored`); to.set(p.mfn, q!.mfn);
  }
  assert.is(b.xen.length, a.xen.length);
  a.xen.forEach((m, k) => to.set(m, b.xen[k]));
  const MASK = 0x000ffffffffff000n;
  let compared = 0, translated = 0;
  for (const [pfn, p] of a.pages) {
    if (a.special.has(pfn)) continue;
    const q = b.pages.get(pfn)!;
    compared++;
    if (Buffer.compare(p.bytes, q.bytes) === 0) continue;
    const da = new DataView(p.bytes.buffer), db = new DataView(q.bytes.buffer);
    for (let o = 0; o < 4096; o += 8) {
      const x = da.getBigUint64(o, true), y = db.getBigUint64(o, true);
      if (x === y) continue;
      // A page-table entry whose frame moved, or (64-bit p2m) a machine frame number.
      if ((x & ~MASK) === (y & ~MASK) && to.get(Number((x & MASK) >> 12n)) === Number((y & MASK) >> 12n)) {
        translated++; continue;
      }
      if (bits === 64 && to.get(Number(x)) === Number(y)) { translated++; continue; }
      if (bits === 32) { // 32-bit p2m entries: two 4-byte mfns
        let ok = true;
        for (const h of [0, 4]) {
          const u = da.getUint32(o + h, true), w = db.getUint32(o + h, true);
          if (u !== w && to.get(u) !== w) ok = false;
        }
        if (ok) { translated++; continue; }
      }
      throw new Error(
        `pfn ${pfn} (mfn ${p.mfn.toString(16)} -> ` + `${q.mfn.toString(16)}) offset ${o}: ${x.toString(16)} `
          + `became ${y.toString(16)}`
      );
    }
  }
  return [compared, translated];
}

/** Run `host` in the background until stop() (for the live migration, both hosts run at once). */
function background(host: XenHost): { stop: () => Promise<void> } {
  let halt = false;
  const p = host.runUntil(() => halt);
  return { stop: async () => { halt = true; host.wake(); await p; } };
}

let A: XenHost | undefined, B: XenHost | undefined;
async function hosts(): Promise<[XenHost, XenHost]> {
  A ??= await highHost();
  if (!B) { B = await highHost(); B.core.x.hv_alloc_frames(0, 37, 0); } // (other machine addresses than A's)
  return [A, B];
}

function counter(host: XenHost, bits: 32 | 64, name: string) {
  const d = host.createDomain(
    name, new Uint8Array(readFileSync(guestPath("counter", bits))),
    { memoryMiB: 16, cmdline: "steps=1000000 every=200000" }
  );
  const o = { d, out: "" };
  d.onConsole = (b) => { o.out += new TextDecoder().decode(b); };
  return o;
}
const counts = (s: string) => [...s.matchAll(/count (\d+)/g)].map((m) => Number(m[1]));

/** After the restore: the guest counts on (no gap, no repeat), its checksum and pattern as before. */
async function countsOn(host: XenHost, r: DomainHandle, before: string, after: () => string) {
  const t0 = Date.now();
  await host.runUntil(
    () => counts(after()).length >= 3 || host.state(r.domid) !== DS_RUNNING || Date.now() - t0 > 60_000
  );
  assert.match(after(), "resumed (0)", after() + host.dmesg());
  const all = [...counts(before), ...counts(after())];
  assert.equal(all, Array.from({ length: all.length }, (_, i) => i + 1), "no gap, no repeat: " + all.join(","));
  const sums = [...(before + after()).matchAll(/memsum ([0-9a-f]+)/g)].map((m) => m[1]);
  assert.is(sums.length, 2);
  assert.is(sums[0], sums[1], "the guest's own 1 MiB checksum");
  assert.is(host.state(r.domid), DS_RUNNING);
  host.destroyDomain(r.domid);
}

for (const bits of [64, 32] as const) {
  test(`save/restore (${bits}-bit) of a domain above 2 GiB into a host whose free frames are above 2 GiB`, async () => {
    const [a, b] = await hosts();
    const c = counter(a, bits, `hsave${bits}`);
    const sides = frameSides(a, c.d.domid);
    assert.ok(sides.above > 4000, `${sides.above} frames above 2 GiB`);
    const t0 = Date.now();
    await a.runUntil(() => counts(c.out).length >= 3 || Date.now() - t0 > 60_000);
    a.store.write(`/local/domain/${c.d.domid}/control/shutdown`, "suspend");
    await a.runUntil(() => a.state(c.d.domid) !== DS_RUNNING || Date.now() - t0 > 60_000);
    assert.is(a.state(c.d.domid), DS_SHUTDOWN, c.out + a.dmesg());
    const snapA = snapshot(a, c.d.domid);
    const stream = saveDomain(a, c.d.domid);
    a.destroyDomain(c.d.domid);
    const r = restoreDomain(b, stream, {}, true);
    const back = frameSides(b, r.domid);
    assert.ok(back.above > 4000, `restored: ${back.above} frames above 2 GiB`);
    const [compared, translated] = compareMemory(snapA, snapshot(b, r.domid), bits);
    assert.ok(
      compared > 4000 && translated > 0 && snapA.typed > 0, `${compared} pages compared, ${translated} words translated`
    );
    console.log(
      `  save/restore ${bits}-bit: ${back.above} of the restored `
        + `domain's frames above 2 GiB; ${compared} pages compared, ` + `${translated} words translated`
    );
    b.core.x.hv_domain_pause(r.domid, 0);
    let out = "";
    r.onConsole = (x) => { out += new TextDecoder().decode(x); };
    await countsOn(b, r, c.out, () => out);
  });
}

for (const bits of [64, 32] as const) {
  test(`live migration (${bits}-bit, in one process) of a domain `
      + `above 2 GiB into a host whose free frames are above 2 GiB`, async () => {
    const [a, b] = await hosts();
    const c = counter(a, bits, `hmig${bits}`);
    const t0 = Date.now();
    await a.runUntil(() => counts(c.out).length >= 3 || Date.now() - t0 > 60_000);
    let snapA: Snap | undefined, snapB: Snap | undefined, adopted: DomainHandle | undefined;
    let out = "";
    const secret = "highmem-test";
    const target: MigrateTarget<null> = {
      host: b, nameInUse: () => false, admit: () => ({ ts: null, notes: [] }), devices: () => ({}),
      adopt: (h) => {
        adopted = h; snapB = snapshot(b, h.domid); h.onConsole = (x) => { out += new TextDecoder().decode(x); };
      },
      destroy: (id) => b.destroyDomain(id), wake: () => b.wake(), log: () => {},
    };
    const source: MigrateSource = {
      host: a, name: () => `hmig${bits}`, toolstackRecord: () => ({}),
      suspend: async (id) => {
        a.store.write(`/local/domain/${id}/control/shutdown`, "suspend");
        const t1 = Date.now();
        while (a.state(id) === DS_RUNNING && Date.now() - t1 < 30_000) await new Promise((res) => setTimeout(res, 5));
        if (a.state(id) !== DS_SHUTDOWN) throw new Error("did not suspend");
        return performance.now();
      },
      resumeCancelled: (id) => { a.core.x.hv_resume_cancelled(id); },
      destroy: (id) => { snapA = snapshot(a, id); a.destroyDomain(id); },
    };
    const port = 30000 + Math.floor(Math.random() * 20000);
    const server = await startRelocation(target, { address: "127.0.0.1", port, allow: [], secret });
    const runA = background(a), runB = background(b);
    let rounds = "";
    try {
      const sum = await migrate(source, c.d.domid, { host: "127.0.0.1", port, live: true, secret });
      assert.ok(sum.rounds >= 2, `rounds: ${sum.roundPages.join(",")}`);
      rounds = sum.roundPages.join(",");
    } finally {
      await runA.stop(); await runB.stop();
      server.close();
    }
    assert.ok(adopted && snapA && snapB, "migrated");
    const back = frameSides(b, adopted!.domid);
    assert.ok(back.above > 4000, `migrated: ${back.above} frames above 2 GiB`);
    const [compared, translated] = compareMemory(snapA!, snapB!, bits);
    assert.ok(compared > 4000 && translated > 0, `${compared} pages compared, ${translated} words translated`);
    console.log(
      `  live migration ${bits}-bit: ${back.above} frames above 2 `
        + `GiB; rounds ${rounds}; ${compared} pages compared, ` + `${translated} words translated`
    );
    await countsOn(b, adopted!, c.out, () => out);
  });
}

test.run();
