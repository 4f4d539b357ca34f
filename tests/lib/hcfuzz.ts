// The hypercall fuzzer's host side (issue 12), for tests/hcfuzz.test.ts and bench/fuzz-hypercalls.ts.
// A victim domain (guests/pv/idle.c: it boots, says "ready" and blocks for good) is hashed (its frame
// list with types and pins, and every byte of its frames); then guests/pv/hcfuzz.c issues the calls
// [0, count) of one seed. The fuzzing guest may kill itself (that is its business): the host reads how
// far it got (the call index it keeps in start_info's command line), destroys it and starts a new one
// after the call that killed it. A guest that makes no progress for `stuckMs` (it blocked: a call
// we did not filter) is destroyed and restarted the same way. At the end: every frame the fuzzing
// domains had is back in the pool, and the victim's hash, state and vCPU are what they were.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { XenHost } from "../../host/pv/host";
import { MM } from "../../host/core";
import { frameList } from "../../host/save/save";
import { guestPath } from "./pvrun";
import { DS_RUNNING } from "../../assembly/records";

export interface FuzzResult {
  bits: 32 | 64; seed: number; calls: number;
  restarts: number; crashes: number; stuck: number; killers: number[];
  victimSame: boolean; victimRunning: boolean; victimFrames: number; framesLeaked: number; seconds: number;
  /** Times a domain's own list of its frames (hv_frames_listed) disagreed with the frame table's scan. */
  listsBroken: number;
}

const D_START_INFO = 200;

export function victimHash(host: XenHost, d: number): string {
  const fr = frameList(host, d);
  const h = createHash("sha256");
  h.update(fr);
  const v = new DataView(fr.buffer, fr.byteOffset, fr.byteLength);
  const mem = host.core.bytes();
  for (let o = 0; o < fr.length; o += 16) {
    const mfn = v.getUint32(o, true);
    h.update(mem.subarray(mfn * 4096, mfn * 4096 + 4096));
  }
  return h.digest("hex");
}

export async function fuzzHypercalls(bits: 32 | 64, seed: number, count: number,
  opts: { stuckMs?: number; log?: (s: string) => void } = {}): Promise<FuzzResult> {
  const t0 = Date.now();
  const stuckMs = opts.stuckMs ?? 3000;
  const host = await XenHost.create(256);
  const x = host.core.x;
  // The victim: the other width, so that both kinds of domain are the fuzzer's neighbours.
  const vbits = bits === 64 ? 32 : 64;
  let vout = "";
  const victim = host.createDomain("victim", new Uint8Array(readFileSync(guestPath("idle", vbits))), { memoryMiB: 16 });
  victim.onConsole = (b) => { vout += new TextDecoder().decode(b); };
  const tv = Date.now();
  await host.runUntil(() => vout.includes("ready") || Date.now() - tv > 20000);
  if (!vout.includes("ready")) throw new Error("the victim did not start");
  // Let it block and its console drain.
  for (let i = 0; i < 5; i++) await host.runUntil(() => true, 100_000);
  const before = victimHash(host, victim.domid);
  const victimFrames = frameList(host, victim.domid).length / 16;
  const freeBefore = x.hv_frames_free();

  const image = new Uint8Array(readFileSync(guestPath("hcfuzz", bits)));
  const cmdOff = bits === 64 ? 128 : 80;
  let start = 0, restarts = 0, crashes = 0, stuck = 0, listsBroken = 0;
  const listsAgree = (d: number) => { if (x.hv_frames_listed(d) !== x.hv_frames_owned(d)) listsBroken++; };
  const killers: number[] = [];
  for (;;) {
    const dom = host.createDomain(
      `hcfuzz-${restarts}`, image, { memoryMiB: 16, cmdline: `seed=${seed} start=${start} count=${count}` }
    );
    let tail = "";
    dom.onConsole = (b) => { tail = (tail + new TextDecoder().decode(b)).slice(-4096); };
    const d = dom.domid;
    const progress = (): number => {
      const si = host.core.view().getUint32(x.hv_domain_addr(d) + D_START_INFO, true);
      return si === 0 ? -1 : host.core.view().getUint32(si + cmdOff + 1016, true);
    };
    let last = -1, lastT = Date.now();
    await host.runUntil(() => {
      if (host.state(d) !== DS_RUNNING) return true;
      const p = progress();
      if (p !== last) { last = p; lastT = Date.now(); }
      return Date.now() - lastT > stuckMs;
    });
    const p = progress();
    const state = host.state(d), reason = host.shutdownReason(d);
    const done = state === 2 && reason === 0 && tail.includes("hcfuzz: done") && p === count;
    listsAgree(d);
    host.destroyDomain(d);
    if (done) break;
    if (state === 1) stuck++; else crashes++;
    const at = p >= start && p < count ? p : start;
    killers.push(at);
    if (opts.log) {
      const why = host.dmesg().split("\n").filter((l) => l.includes(`d${d}:`)).slice(-3).join(" | ");
      opts.log(`call ${at} ${state === 1 ? "stopped" : "killed"} the fuzzing guest (seed ${seed}): ${why}`);
    }
    start = at + 1;
    restarts++;
    if (start >= count) break;
  }
  const framesLeaked = freeBefore - x.hv_frames_free();
  const after = victimHash(host, victim.domid);
  const victimRunning = host.state(victim.domid) === DS_RUNNING;
  listsAgree(victim.domid);
  listsAgree(0);
  host.destroyDomain(victim.domid);
  return {
    bits, seed, calls: count, restarts, crashes, stuck, killers, victimSame: before === after, victimRunning,
    victimFrames,
    framesLeaked, listsBroken, seconds: (Date.now() - t0) / 1000,
  };
}

export { MM };
