// Log-dirty mode (live migration's dirty-page tracking, docs/SAVE-RESTORE.md): the guest's own writes,
// the hypervisor's writes into the domain's frames (page-table updates, copy to guest, clear page,
// grant copy, new frames) and the host's (grant unmap, hv_mark_dirty) set the frame's bit; a collect
// reports each dirty frame of the domain once and cleans it; reads, idle time, frames given back and
// other domains' frames do not show up; off means no marking at all. Driven through
// guests/pv/logdirty.c, which writes exactly the area pages it is told to (xenstore ld/cmd), both widths.
//
// Besides the area pages a command names, a round may report the frames the guest's polling loop
// writes itself; the guest lists them ("noise ..."): its writable image outside the area (runtime,
// xenstore and printf buffers), its stack, shared_info, the xenstore ring and the grant table. Every
// frame a collect reports must be a named area page or one of those (or the one a command names).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost, DomainHandle } from "../host/pv/host";
import { MM } from "../host/core";
import { DS_RUNNING } from "../assembly/records";

const image = (bits: 32 | 64) => new Uint8Array(readFileSync(`guests/build/pv-logdirty-${bits}.elf`));
const NPAGES = 64;
const hex = (a: number[]) => a.map((m) => m.toString(16)).join(",");

class Guest {
  out = "";
  seq = 0;
  mfns: number[] = [];
  noise = new Set<number>();
  named = new Map<string, number>();
  private constructor(readonly host: XenHost, readonly d: DomainHandle) {}

  static async start(bits: 32 | 64, host?: XenHost, memoryMiB = 16): Promise<Guest> {
    host ??= await XenHost.create(256);
    const d = host.createDomain("logdirty", image(bits), { memoryMiB });
    const g = new Guest(host, d);
    d.onConsole = (b) => { g.out += new TextDecoder().decode(b); };
    await g.pump(() => g.out.includes("ready\n"));
    for (const m of g.out.matchAll(/page (\d+) mfn ([0-9a-f]+)/g)) g.mfns[Number(m[1])] = parseInt(m[2], 16);
    for (const m of g.out.matchAll(/noise (\w+) ([0-9a-f]+)/g)) {
      g.noise.add(parseInt(m[2], 16)); g.named.set(m[1], parseInt(m[2], 16));
    }
    assert.is(g.mfns.length, NPAGES, g.out);
    assert.ok(g.noise.size >= 5 && g.noise.size < 16, g.out);
    return g;
  }

  get id(): number { return this.d.domid; }
  get x() { return this.host.core.x; }

  /** Run the host's loop (no idle sleeps: the guest only waits for xenstore) until `done`. */
  async pump(done: () => boolean, insns = 200_000): Promise<void> {
    const t0 = Date.now();
    for (let i = 0; ; i++) {
      const r = this.x.hv_run(insns);
      this.host.drainConsoles();
      this.host.serviceDevices();
      if (done()) return;
      if (r === MM.HVX_NONE || this.host.state(this.id) !== DS_RUNNING)
        throw new Error(`guest stopped: ${this.out}${this.host.dmesg()}`);
      if (Date.now() - t0 > 20000) throw new Error(`timeout: ${this.out}`);
      if (i % 64 === 63) await new Promise((res) => setImmediate(res));
    }
  }

  /** A command to the guest (see logdirty.c); resolves with its console output. */
  async cmd(c: string): Promise<string> {
    const seq = ++this.seq;
    const at = this.out.length;
    this.host.store.write(`/local/domain/${this.id}/ld/cmd`, `${seq} ${c}`, [{ domid: this.id, perm: "n" }]);
    await this.pump(() => this.out.includes(`done ${seq}\n`, at));
    return this.out.slice(at);
  }

  /** Idle polling for a while (the guest reads xenstore, writes no area page). */
  async idle(rounds = 50): Promise<void> { let n = 0; await this.pump(() => ++n >= rounds); }

  calls = 0;
  /** Every frame reported dirty (peek and clean), paging through MAILBOX as the toolstack does. */
  collect(): number[] {
    const out: number[] = [];
    let from = 0;
    this.calls = 0;
    for (;;) {
      const n = this.x.hv_logdirty_collect(this.id, from);
      this.calls++;
      if (n === 0) return out;
      assert.ok(n <= MM.MAILBOX_SIZE / 4);
      const v = this.host.core.view();
      for (let i = 0; i < n; i++) out.push(v.getUint32(MM.MAILBOX + i * 4, true));
      from = out[out.length - 1] + 1;
      if (this.calls > 1000) throw new Error("collect does not end");
    }
  }

  /** Area page numbers among `frames`. */
  areaPages(frames: number[]): number[] {
    const s = new Set(frames);
    return this.mfns.flatMap((m, i) => (s.has(m) ? [i] : []));
  }

  /** The frames of a round: sorted, each once, exactly the area pages `pages` (and `extra`), and
   * nothing else but the guest's own noise. */
  check(frames: number[], pages: number[], what: string, extra: number[] = []): void {
    assert.equal(this.areaPages(frames), pages, `${what}: area pages`);
    assert.ok(frames.every((m, i) => i === 0 || m > frames[i - 1]), `${what}: in mfn order, each once`);
    const area = new Set(this.mfns);
    const stray = frames.filter((m) => !area.has(m) && !this.noise.has(m) && !extra.includes(m));
    assert.equal(stray, [], `${what}: frames neither named nor the guest's noise (${hex([...this.noise])})`);
    for (const e of extra) assert.ok(frames.includes(e), `${what}: ${e.toString(16)} reported`);
  }

  /** A fresh round: collect (and drop) what is dirty now. */
  async steady(): Promise<void> { this.collect(); await this.idle(); this.collect(); }
}

const bitmapClean = (g: Guest, mfns: number[]) => {
  const v = g.host.core.view();
  return mfns.every((m) => (v.getUint8(MM.LOGDIRTY_BITMAP + (m >>> 3)) & (1 << (m & 7))) === 0);
};

for (const bits of [64, 32] as const) {
  test(`log-dirty (${bits}-bit): exactly the pages the guest writes are reported, once; reads and idle time are not`,
    async () => {
    const g = await Guest.start(bits);
    assert.is(g.x.hv_logdirty(g.id, 1), 0);
    await g.steady();
    await g.cmd("w 3,17,42");
    g.check(g.collect(), [3, 17, 42], "written");
    assert.equal(g.collect(), [], "a second collect with nothing run: nothing");
    await g.idle();
    const idle = g.collect();
    g.check(idle, [], "idle");
    await g.cmd("r 5,6,7,3");
    g.check(g.collect(), [], "reads (of clean pages, and of one that was written before)");
    await g.cmd("w 5");
    g.check(g.collect(), [5], "a page read before is marked at its first write");
    await g.cmd("w 5,5,6");
    g.check(g.collect(), [5, 6], "written again after a collect (its write translation was dropped)");
    await g.idle(200);
    g.check(g.collect(), [], "idle again");
    await g.cmd("q");
  });

  test(`log-dirty (${bits}-bit): the hypervisor's writes into the `
      + `domain mark: page tables, copy to guest, clear page, grant ` + `copy, new frames`, async () => {
    const g = await Guest.start(bits);
    assert.is(g.x.hv_logdirty(g.id, 1), 0);
    await g.steady();
    const o = await g.cmd("p 30");
    const m = /l1 ([0-9a-f]+) rc (-?\d+)/.exec(o);
    assert.ok(m && m[2] === "0", o);
    const l1 = parseInt(m![1], 16);
    assert.not.ok(g.noise.has(l1) || g.mfns.includes(l1), "the L1 is neither noise nor an area page");
    g.check(g.collect(), [], "mmu_update of page 30's entry marks its L1, not page 30", [l1]);
    await g.idle();
    assert.not.ok(g.collect().includes(l1), "the L1 is clean again");

    await g.cmd("h 40");
    g.check(g.collect(), [40], "xen_version writing its answer into page 40 (copy to guest)");
    assert.match(await g.cmd("c 41"), "clear rc 0");
    g.check(g.collect(), [41], "MMUEXT_CLEAR_PAGE of page 41");
    assert.match(await g.cmd("g 0,52"), "copy rc 0 status 0");
    g.check(g.collect(), [52], "GNTTABOP_copy from page 0 (read) into page 52");

    const a = /alloc ([0-9a-f]+) freed ([0-9a-f]+) \(2 1\)/.exec(await g.cmd("m"));
    assert.ok(a, g.out);
    const [got, freed] = [parseInt(a![1], 16), parseInt(a![2], 16)];
    const s = g.collect();
    g.check(s, [], "increase_reservation", [got]);
    assert.not.ok(s.includes(freed), "a frame given back is not reported (the domain does not own it)");
    await g.cmd("q");
  });
}

test("log-dirty: the host's writes (grant unmap of a writable "
    + "mapping, hv_mark_dirty) mark; read-only mappings do not; " + "the frames to resend anyway", async () => {
  const g = await Guest.start(64);
  const x = g.x;
  assert.match(await g.cmd("G 50"), "granted 8");
  assert.is(x.hv_logdirty(g.id, 1), 0);
  await g.steady();
  const alwaysList = () => {
    const n = x.hv_logdirty_always(g.id);
    const v = g.host.core.view();
    return Array.from({ length: n }, (_, i) => v.getUint32(MM.MAILBOX + i * 4, true));
  };
  const base = alwaysList();
  const shared = g.named.get("shared")!, store = g.named.get("store")!;
  assert.ok(base.includes(shared) && base.includes(store) && base.includes(g.d.consoleMa / 4096), hex(base));
  assert.is(new Set(base).size, base.length, "each once");
  assert.ok(base.length <= 4, `shared_info (= vcpu_info), start_info, console, xenstore: ${hex(base)}`);

  // Read-only: mapped, read, unmapped: nothing.
  let h = x.hv_gnt_map(g.id, 8, 1);
  assert.ok(h > 0);
  assert.is(x.hv_gnt_mfn(h), g.mfns[50]);
  assert.is(x.hv_gnt_unmap(h), 0);
  g.check(g.collect(), [], "a read-only grant mapping");

  // Writable: marked when mapped (as Xen), listed as a frame to resend while mapped, marked at unmap.
  h = x.hv_gnt_map(g.id, 8, 0);
  assert.ok(h > 0);
  g.check(g.collect(), [50], "a writable grant mapping");
  assert.ok(alwaysList().includes(g.mfns[50]), "held writable by the host: resend it in the last round");
  g.host.core.bytes().fill(0x5a, g.mfns[50] * 4096, g.mfns[50] * 4096 + 512);
  g.check(g.collect(), [], "the host's writes through its mapping are not seen as they happen");
  assert.is(x.hv_gnt_unmap(h), 0);
  g.check(g.collect(), [50], "... but at unmap");
  assert.equal(alwaysList(), base, "unmapped: not listed any more");

  x.hv_mark_dirty(g.mfns[51]);
  x.hv_mark_dirty(0);
  x.hv_mark_dirty(0xffffffff);
  x.hv_mark_dirty(MM.MACHINE_BASE / 4096 + 256 * 256 - 1);
  g.check(g.collect(), [51], "hv_mark_dirty");
  await g.cmd("q");
});

test("log-dirty: off marks nothing; bad domains; other domains' frames; destroy; paging through MAILBOX", async () => {
  const host = await XenHost.create(256);
  const a = await Guest.start(64, host);
  const b = await Guest.start(32, host);
  const x = a.x;
  // Off (the default): collect reports nothing and the bitmap is not touched.
  await a.cmd("w 1,2,3");
  assert.equal(a.collect(), []);
  assert.ok(bitmapClean(a, a.mfns) && bitmapClean(b, b.mfns), "no bit set while off");
  // Bad domains.
  for (const d of [0, 77, 1023, 1024, 65535, 0xffffffff]) {
    assert.is(x.hv_logdirty(d, 1), -1, `hv_logdirty(${d}, 1)`);
    assert.is(x.hv_logdirty(d, 0), -1, `hv_logdirty(${d}, 0)`);
    assert.is(x.hv_logdirty_collect(d, 0), 0);
    assert.is(x.hv_logdirty_always(d), 0);
  }
  // On for a only: b's writes are not a's, and set no bit.
  assert.is(x.hv_logdirty(a.id, 1), 0);
  assert.is(x.hv_logdirty(a.id, 1), 0, "on again: restarts clean");
  await a.steady();
  await b.cmd("w 7,8");
  await a.cmd("w 9");
  const s = a.collect();
  a.check(s, [9], "a's round");
  assert.equal(b.areaPages(s), [], "no frame of b");
  assert.ok(bitmapClean(b, b.mfns), "b (off) marks nothing");
  assert.is(x.hv_logdirty_collect(a.id, 0xffffffff), 0);
  // Both on: each collect its own.
  assert.is(x.hv_logdirty(b.id, 1), 0);
  await b.steady();
  a.collect();
  await b.cmd("w 10");
  await a.cmd("w 11");
  b.check(b.collect(), [10], "b's round");
  a.check(a.collect(), [11], "a's round");
  // Off again: nothing reported, no bit kept or set.
  assert.is(x.hv_logdirty(a.id, 0), 0);
  await a.cmd("w 12,13");
  assert.equal(a.collect(), []);
  assert.ok(bitmapClean(a, a.mfns));
  assert.is(x.hv_logdirty(a.id, 0), 0, "off again: fine");
  // Destroyed with log-dirty on: gone; a new domain in its place starts with it off.
  await b.cmd("w 14");
  const bid = b.id;
  host.destroyDomain(bid);
  assert.is(x.hv_logdirty_collect(bid, 0), 0);
  assert.is(x.hv_logdirty(bid, 1), -1);
  // Ids increase (Xen's rover): bare domains made and destroyed up to the last id, so that the rover
  // wraps and gives the first free id, bid (a's is below it and in use).
  assert.ok(a.id < bid);
  for (let d = 0; d !== MM.MAX_DOMAINS - 1;) {
    d = x.hv_domain_create(64, 1, 16);
    assert.ok(d > 0);
    x.hv_domain_destroy(d);
  }
  const c = await Guest.start(64, host, 64);
  assert.is(c.id, bid, "the id is reused");
  await c.cmd("w 1");
  assert.equal(c.collect(), [], "off for the new domain");
  // Every frame of a 64 MiB domain dirty: more than MAILBOX holds, paged through.
  assert.is(x.hv_logdirty(c.id, 1), 0);
  const owned: number[] = [];
  for (let from = 0; ;) {
    const n = x.hv_save_frames(c.id, from);
    if (n === 0) break;
    const v = host.core.view();
    for (let i = 0; i < n; i++) owned.push(v.getUint32(MM.MAILBOX + i * 16, true));
    from = owned[owned.length - 1] + 1;
  }
  assert.is(owned.length, x.hv_frames_owned(c.id));
  for (const m of owned) x.hv_mark_dirty(m);
  const all = c.collect();
  assert.ok(c.calls >= 3, `${c.calls} calls`);
  assert.equal(all, owned, "every frame the domain owns, in order, once");
  assert.equal(c.collect(), []);
  await c.cmd("q");
  await a.cmd("q");
});

test.run();
