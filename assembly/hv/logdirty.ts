// Log-dirty mode for live migration: the toolstack's half (exported by hv/api.ts). The marking itself
// is in mmu/logdirty.ts (the bitmap, the TLB rule, the hooks in the hypervisor's writes).
//
// A pre-copy round: the toolstack calls collect (peek and clean) until it returns 0, sends those
// frames, and repeats while the guest runs; the last round runs with the domain paused and adds the
// frames of ldAlways, which the hypervisor and the host write without marking them.
import {
  MAILBOX, MAILBOX_SIZE, LOGDIRTY_BITMAP, LOGDIRTY_BITMAP_SIZE, LOGDIRTY_DOMS, MAX_DOMAINS, MAPTRACK,
  MAPTRACK_ENTRIES,
} from "../memmap";
import {
  domExists, domU32, vcpu, D_SHARED_INFO, D_START_INFO, D_CONSOLE_MFN, D_STORE_MFN, D_NR_VCPUS, D_VCPU0,
  V_VCPU_INFO,
} from "../domain/domain";
import { frameOwner, framesHighWater, FIRST_MFN, mfnValid } from "../domain/frames";
import { ldCount, setLdCount, ldOn, ldClear, LD_FRAMES } from "../mmu/logdirty";
import { tlbFlushAll } from "../mmu/tlb";

// At hv_init: no domain has log-dirty on, no bit set.
export function ldInit(): void {
  memory.fill(LOGDIRTY_BITMAP, 0, LOGDIRTY_BITMAP_SIZE);
  memory.fill(LOGDIRTY_DOMS, 0, MAX_DOMAINS);
  setLdCount(0);
}

@inline function ldTop(): u32 { const t = framesHighWater(); return t < LD_FRAMES ? t : LD_FRAMES; }

function clearDomainBits(d: u32): void {
  const top = ldTop();
  for (let m = FIRST_MFN; m < top; m++) if (frameOwner(m) == d) ldClear(m);
}

// Turn log-dirty on (every bit of the domain cleared, the TLB flushed so that no write tag survives;
// on again restarts from clean) or off. 0, or -1 for a domain that does not exist or is dom0 (the
// host itself).
export function ldEnable(d: u32, on: bool): i32 {
  if (d == 0 || !domExists(d)) return -1;
  const was = ldOn(d);
  if (on) {
    clearDomainBits(d);
    if (!was) { store<u8>(LOGDIRTY_DOMS + (d as i32), 1); setLdCount(ldCount + 1); }
    tlbFlushAll();
  } else if (was) {
    store<u8>(LOGDIRTY_DOMS + (d as i32), 0);
    setLdCount(ldCount - 1);
    clearDomainBits(d);
  }
  return 0;
}

// The domain is being destroyed: its flag goes (its bits go with its frames, frames.ts).
export function ldDomainGone(d: u32): void {
  if (!ldOn(d)) return;
  store<u8>(LOGDIRTY_DOMS + (d as i32), 0);
  setLdCount(ldCount - 1);
}

// Peek and clean: the mfns of `d`'s frames marked since the last collect, from `fromMfn` up, as u32s
// at MAILBOX (at most MAILBOX_SIZE / 4); their bits are cleared and the TLB flushed (one generation
// step), so the next write to any of them is marked again. Returns the count (0: no more, or
// log-dirty is off, or no such domain).
export function ldCollect(d: u32, fromMfn: u32): u32 {
  if (!domExists(d) || !ldOn(d)) return 0;
  const max = (MAILBOX_SIZE >> 2) as u32;
  const top = ldTop();
  let m = fromMfn < FIRST_MFN ? FIRST_MFN : fromMfn;
  let n: u32 = 0;
  while (m < top && n < max) {
    const w = load<u64>(LOGDIRTY_BITMAP + (((m >>> 6) << 3) as i32)) & ((<u64>-1) << ((m & 63) as u64));
    if (w == 0) { m = (m | 63) + 1; continue; }
    const f = (m & ~(63 as u32)) + (ctz<u64>(w) as u32);
    if (f >= top) break;
    if (frameOwner(f) == d) {
      store<u32>(MAILBOX + ((n as i32) << 2), f);
      ldClear(f);
      n++;
    }
    m = f + 1;
  }
  if (n > 0) tlbFlushAll();
  return n;
}

// Frames the toolstack must send in the last round whatever their bits say, because they are written
// without marking: shared_info (event bits, time, wall clock), every vCPU's vcpu_info frame (pending
// and mask bytes, vcpu_time_info: it is shared_info unless moved by VCPUOP_register_vcpu_info),
// start_info, the console and xenstore rings (the host's backends write them directly), and every frame
// of `d` the host holds a writable grant mapping of (backend rings: blkif, netif tx/rx). The frames
// `d` owns, each once, as u32 mfns at MAILBOX; returns the count (0 for dom0 or no such domain).
export function ldAlways(d: u32): u32 {
  if (d == 0 || !domExists(d)) return 0;
  let n: u32 = 0;
  n = addOnce(n, domU32(d, D_SHARED_INFO) >> 12, d);
  const v0 = domU32(d, D_VCPU0), nv = domU32(d, D_NR_VCPUS);
  for (let k: u32 = 0; k < nv; k++) n = addOnce(n, (load<u64>(vcpu(v0 + k) + V_VCPU_INFO) >> 12) as u32, d);
  n = addOnce(n, domU32(d, D_START_INFO) >> 12, d);
  n = addOnce(n, domU32(d, D_CONSOLE_MFN) >> 12, d);
  n = addOnce(n, domU32(d, D_STORE_MFN) >> 12, d);
  // Maptrack records: { u32 used; u16 mapper; u16 granter; u32 ref; u32 mfn; u64 pte; u32 ro }.
  for (let h = 1; h < MAPTRACK_ENTRIES; h++) {
    const e = MAPTRACK + (h << 5);
    if (load<u32>(e) == 0 || load<u16>(e, 4) != 0 || (load<u16>(e, 6) as u32) != d || load<u32>(e, 24) != 0) continue;
    n = addOnce(n, load<u32>(e, 12), d);
  }
  return n;
}

function addOnce(n: u32, mfn: u32, d: u32): u32 {
  if (mfn == 0 || !mfnValid(mfn as u64) || frameOwner(mfn) != d || n >= ((MAILBOX_SIZE >> 2) as u32)) return n;
  for (let i: u32 = 0; i < n; i++) if (load<u32>(MAILBOX + ((i as i32) << 2)) == mfn) return n;
  store<u32>(MAILBOX + ((n as i32) << 2), mfn);
  return n + 1;
}
