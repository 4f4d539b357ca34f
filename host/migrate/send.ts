// The sending side of `xm migrate`: pre-copy over TCP to another xend's relocation listener.
// Live: log-dirty on, every page sent once while the guest runs, then rounds of the pages it dirtied
// since the last round, until few are left (or the rounds or the bytes run out); then the guest
// suspends itself and the last dirty pages, the frames the hypervisor and dom0 write behind log-dirty's
// back, and the domain's records go (stop-and-copy). The receiver restores it paused and says so; we
// confirm (COMMIT); it unpauses and answers DONE; only then is the source destroyed. Any failure
// before COMMIT leaves the source running (a suspended one resumes, its suspend "cancelled").
import { connect } from "node:net";
import { createHmac } from "node:crypto";
import type { XenHost } from "../pv/host";
import { MM } from "../core";
import { REC, StreamError } from "../save/stream";
import { domainRecords, frameList, frameMfns, pagesBody, PAGE_REC } from "../save/save";
import { RecordConn, json } from "./conn";

export const DEFAULT_RELOCATION_PORT = 8002;
const BATCH = 256; // pages per PAGES record (1 MiB)
const MAX_ROUNDS = 30; // as Xen's XC_MIGRATE: at most 30 iterations, at most 3x memory sent
const MAX_FACTOR = 3;
const STOP_PAGES = 50; // stop-and-copy when fewer pages than this were dirtied in a round

export interface MigrateSource {
  host: XenHost;
  name(id: number): string;
  /** Ask the guest to suspend itself; resolves when it has (with the time, performance.now()). */
  suspend(id: number): Promise<number>;
  resumeCancelled(id: number): void;
  toolstackRecord(id: number): unknown;
  destroy(id: number): void;
}

export interface MigrateOptions {
  host: string; port: number; live: boolean; secret?: string;
  progress?: (phase: string, done: number, total: number) => void;
  maxRounds?: number;
}

export interface MigrateSummary {
  live: boolean; rounds: number; pagesSent: number; bytesSent: number; memPages: number;
  /** From the moment the source was suspended to the receiver's DONE (it runs): an upper bound. */
  downtimeMs: number;
  totalMs: number;
  /** Pages in each round (round 0: everything). */
  roundPages: number[];
  /** Where the downtime went (ms): records built, last pages and records sent, the receiver's restore
   * (its own figure), the rest of the wait for RESTORED, the COMMIT/DONE exchange. */
  phases: { records: number; send: number; restore: number; restoreWait: number; commit: number };
}

export function authFor(secret: string, nonce: Uint8Array): string {
  return createHmac("sha256", secret).update(nonce).digest("hex");
}

function connectTo(host: string, port: number, timeoutMs = 10000): Promise<RecordConn> {
  return new Promise((res, rej) => {
    const sock = connect({ host, port });
    const t = setTimeout(
      () => { sock.destroy(); rej(new StreamError(`cannot reach ${host}:${port} (timed out)`)); }, timeoutMs
    );
    sock.once("connect", () => { clearTimeout(t); res(new RecordConn(sock)); });
    sock.once("error", (e) => { clearTimeout(t); rej(new StreamError(`cannot reach ${host}:${port}: ${e.message}`)); });
  });
}

/** Dirty frames since the last call (log-dirty's peek-and-clean), or with `typed` the page-table and
 * descriptor frames (written by the hypervisor; resent last whatever the bitmap says). */
function collectDirty(host: XenHost, id: number, typed = false): number[] {
  const x = host.core.x;
  const out: number[] = [];
  let from = 0;
  for (;;) {
    const n = typed ? x.hv_frames_typed(id, from) : x.hv_logdirty_collect(id, from);
    if (n === 0) break;
    const v = host.core.view();
    for (let i = 0; i < n; i++) out.push(v.getUint32(MM.MAILBOX + i * 4, true));
    from = out[out.length - 1] + 1;
  }
  return out;
}

/** The frames the hypervisor and dom0 write without marking them (vcpu_info pages, rings, frames
 * the host maps writable): resent in the last round whatever the bitmap says. */
function alwaysResend(host: XenHost, id: number): number[] {
  const n = host.core.x.hv_logdirty_always(id);
  const v = host.core.view();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(v.getUint32(MM.MAILBOX + i * 4, true));
  return out;
}

export async function migrate(src: MigrateSource, id: number, o: MigrateOptions): Promise<MigrateSummary> {
  const host = src.host;
  const x = host.core.x;
  const t0 = performance.now();
  const progress = o.progress ?? (() => {});
  let suspended = false, committed = false, logdirty = false;
  let conn: RecordConn | undefined;
  const sum: MigrateSummary = {
    live: o.live, rounds: 0, pagesSent: 0, bytesSent: 0, memPages: x.hv_domain_pages(id), downtimeMs: 0, totalMs: 0,
    roundPages: [],
    phases: { records: 0, send: 0, restore: 0, restoreWait: 0, commit: 0 } };
  // The end of a round: wait until the receiver has taken every page so far (so the stop-and-copy
  // does not queue behind a backlog).
  const sync = async () => { await conn!.send(REC.SYNC); await conn!.expect(REC.SYNCED, 60000); };
  const sendPages = async (mfns: number[], phase: string, done0: number, total: number) => {
    for (let i = 0; i < mfns.length; i += BATCH) {
      const batch = mfns.slice(i, i + BATCH);
      await conn!.send(REC.PAGES, pagesBody(host, batch));
      sum.pagesSent += batch.length;
      progress(phase, done0 + i + batch.length, total);
      // Let the xend loop run the guest between batches (the "live" of live migration).
      if (o.live && !suspended) await new Promise((r) => setImmediate(r));
    }
  };
  try {
    progress("connecting", 0, 1);
    conn = await connectTo(o.host, o.port);
    const ch = await conn.expect(REC.CHALLENGE, 10000);
    const hello = {
      name: src.name(id), width: host.domains.get(id)!.bits, vcpus: x.hv_domain_vcpus(id), pages: sum.memPages,
      maxPages: x.hv_domain_pages(id) + 1024, live: o.live, toolstack: src.toolstackRecord(id),
      auth: o.secret ? authFor(o.secret, ch.body) : undefined,
    };
    await conn.sendJson(REC.HELLO, hello);
    await conn.expect(REC.ACCEPT, 30000);

    let pending: number[] = [];
    if (o.live) {
      if (x.hv_logdirty(id, 1) < 0) throw new StreamError("log-dirty mode could not be turned on");
      logdirty = true;
      const all = frameMfns(frameList(host, id));
      sum.roundPages.push(all.length);
      await sendPages(all, "round 0", 0, all.length);
      await sync();
      const limit = o.maxRounds ?? MAX_ROUNDS;
      for (let round = 1; round < limit; round++) {
        const dirty = collectDirty(host, id);
        if (dirty.length < STOP_PAGES || sum.pagesSent + dirty.length > MAX_FACTOR * sum.memPages) {
          pending = dirty; break;
        }
        sum.roundPages.push(dirty.length);
        await sendPages(dirty, `round ${round}`, 0, dirty.length);
        await sync();
        if (round === limit - 1) pending = [];
      }
    }
    // Stop and copy.
    progress("suspending", 0, 1);
    const tSusp = await src.suspend(id);
    suspended = true;
    for (const b of host.domains.get(id)!.disks) b.sync();
    const { records, frames } = domainRecords(host, id, src.toolstackRecord(id));
    let last: number[];
    if (o.live) {
      const set = new Set<number>([
        ...pending, ...collectDirty(host, id), ...collectDirty(host, id, true), ...alwaysResend(host, id)
      ]);
      last = [...set].filter((m) => x.hv_frame_owner(m) === id);
    } else {
      last = frameMfns(frames);
    }
    const tRec = performance.now();
    sum.phases.records = tRec - tSusp;
    sum.roundPages.push(last.length);
    await sendPages(last, "stop-and-copy", 0, last.length);
    for (const [t, b] of records) await conn.send(t, b);
    await conn.send(REC.END);
    const tSent = performance.now();
    sum.phases.send = tSent - tRec;
    const restored = json<{ restoreMs?: number }>(await conn.expect(REC.RESTORED, 60000));
    const tRestored = performance.now();
    sum.phases.restore =
      typeof restored.restoreMs === "number" && Number.isFinite(restored.restoreMs) ? restored.restoreMs : 0;
    sum.phases.restoreWait = tRestored - tSent - sum.phases.restore;
    const tc = performance.timeOrigin + performance.now();
    await conn.send(REC.COMMIT);
    committed = true; // from here on the domain is the receiver's
    const dn = json<{ tCommit: number; tDone: number }>(await conn.expect(REC.DONE, 30000));
    if (process.env.XEND_MIGRATE_TRACE && typeof dn.tCommit === "number" && typeof dn.tDone === "number") console.error(
      `commit sent ${tc.toFixed(1)}, received ` + `+${(dn.tCommit - tc).toFixed(1)}, done sent `
        + `+${(dn.tDone - tc).toFixed(1)}, done received `
        + `+${(performance.timeOrigin + performance.now() - tc).toFixed(1)}`
    );
    const tDone = performance.now();
    sum.phases.commit = tDone - tRestored;
    sum.downtimeMs = tDone - tSusp;
    sum.rounds = sum.roundPages.length;
    sum.bytesSent = conn.bytesSent;
    if (logdirty) x.hv_logdirty(id, 0);
    src.destroy(id);
    conn.close();
    sum.totalMs = performance.now() - t0;
    progress("done", 1, 1);
    return sum;
  } catch (e) {
    conn?.destroy();
    if (committed) {
      // The receiver has it restored; whether it runs we cannot know: keep ours suspended, say so.
      throw new StreamError(
        `the connection was lost after the hand-over was confirmed; `
          + `${src.name(id)} stays suspended here: check ${o.host} ` + `(${(e as Error).message})`
      );
    }
    if (logdirty) x.hv_logdirty(id, 0);
    if (suspended) src.resumeCancelled(id);
    throw new StreamError(`migration of ${src.name(id)} failed, it runs on here: ${(e as Error).message}`);
  }
}

export { PAGE_REC };
