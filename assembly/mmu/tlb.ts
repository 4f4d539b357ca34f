// Software TLB and the guest-memory access functions of the CPU. Direct-mapped, 4096 entries indexed
// by the linear page number; separate tags for read, write and execute so that one compare decides
// each fast-path access. A tag is (page number << 1) | user, so user and supervisor translations of
// one page never share an entry. A write tag is installed only when the page is writable at that
// privilege, its dirty bit is already set, and no decoded code lives in it (see CODEMAP): writes to
// code pages take the slow path, which invalidates the decoded-instruction cache. While a frame's
// owner has log-dirty on, it also needs the frame's log-dirty bit (mmu/logdirty.ts): the first write
// after a collect takes the slow path, which marks it.
import {
  NO_HOST, JIO_RTAG, JIO_WTAG, JIO_HOST, JIO_XTAG, JIO_TAGBASE, TLB_BASE, TLB_ENTRIES, TLB_BANKS, TLB_BANK_SIZE,
  CODEMAP_BASE, DUMMY_READ, DUMMY_WRITE, SCRATCH,
  CPU_STATE, CPU_CR2,
} from "../memmap";
import { userAcc, physBase, physLimit } from "./ctx";
import { ACC_R, ACC_W, ACC_U, ACC_X } from "../bits";
import { fault, raise, EX_AC, clearFault } from "../cpu/fault";
import { walk, walkWritable, walkExec, walkGlobal } from "./walk";
import { dcacheInvalidate } from "../cpu/dcache";
import { jitRangeTouched } from "../cpu/jitpages";
import { ldCount, ldFill } from "./logdirty";
import { dbgData, dbgPage, dbgAccess } from "../cpu/dbgdata";
import { perfInc, PC_TLB_FLUSH_ALL, PC_TLB_FLUSH_PAGE, PC_TLB_FILL, PC_CODE_PAGE, PC_TLB_BANK_CLEAR } from "../perf";

// The TLB has TLB_BANKS banks (TLB_BANK_SIZE bytes each, memmap.ts), one in use at a time: each vCPU
// keeps its translations in a bank of its own across vCPU switches, as a CPU with PCIDs does, so a
// vCPU that runs again after another finds its entries still there. The arrays of the bank in use:
let RTAG: i32 = TLB_BASE;
let WTAG: i32 = TLB_BASE + 0x8000;
let XTAG: i32 = TLB_BASE + 0x10000;
let HOST: i32 = TLB_BASE + 0x18000;
let GLOB: i32 = TLB_BASE + 0x1c000;
// Per bank (in its last 4 KiB): +0 i64 generation, +8 i32 owner key (-1: none), +12 u32 epoch, +16 u32 last use.
const B_GEN = 0x1d000, B_KEY = 0x1d008, B_EPOCH = 0x1d00c, B_USE = 0x1d010;
let bank: i32 = 0; // the bank in use
// Every flush of everything (tlbFlushAll) moves the epoch on: a bank not in use whose epoch is older
// may hold translations that were flushed, and is cleared before it is used again.
let epoch: u32 = 1;
let useClock: u32 = 0;
@inline function bankBase(b: i32): i32 { return TLB_BASE + b * TLB_BANK_SIZE; }

export function setPhysWindow(base: u64, limit: u64): void {
  physBase = base;
  physLimit = limit;
  tlbFlushAll();
}

export function tlbInit(): void {
  memory.fill(DUMMY_READ, 0xff, 4096);
  for (let b = 0; b < TLB_BANKS; b++) {
    const m = bankBase(b);
    memory.fill(m, 0xff, TLB_ENTRIES * 8 * 3);
    memory.fill(m + 0x1c000, 0, TLB_ENTRIES);
    store<i64>(m + B_GEN, 0);
    store<i32>(m + B_KEY, -1);
    store<u32>(m + B_EPOCH, 0);
    store<u32>(m + B_USE, 0);
  }
  useBank(0);
  tlbGen = 0;
  tlbFlushAll();
}

function useBank(b: i32): void {
  bank = b;
  const m = bankBase(b);
  RTAG = m; WTAG = m + 0x8000; XTAG = m + 0x10000; HOST = m + 0x18000; GLOB = m + 0x1c000;
}

// Clear the bank in use (a new generation; the arrays only when the generations run out).
function bankClear(): void {
  perfInc(PC_TLB_BANK_CLEAR);
  // Unsigned: the generations fill bits 53-63, so from generation 1024 on they are negative as i64.
  if ((tlbGen as u64) < (GEN_LAST as u64)) tlbGen += GEN_STEP;
  else {
    tlbGen = 0;
    memory.fill(RTAG, 0xff, TLB_ENTRIES * 8 * 3);
    memory.fill(GLOB, 0, TLB_ENTRIES);
  }
  store<u32>(bankBase(bank) + B_EPOCH, epoch);
}

// Switch to the translations of `key` (a vCPU): its bank if it has one that no flush of everything
// has made stale since it was last in use, else the least recently used bank, cleared.
export function tlbSwitch(key: i32): void {
  const cur = bankBase(bank);
  store<i64>(cur + B_GEN, tlbGen);
  store<u32>(cur + B_USE, ++useClock);
  let victim = -1;
  let oldest: u32 = 0xffffffff;
  for (let b = 0; b < TLB_BANKS; b++) {
    const m = bankBase(b);
    if (load<i32>(m + B_KEY) == key) {
      if (load<u32>(m + B_EPOCH) == epoch) { useBank(b); tlbGen = load<i64>(m + B_GEN); return; }
      victim = b;
      break;
    }
    if (load<u32>(m + B_USE) < oldest) { oldest = load<u32>(m + B_USE); victim = b; }
  }
  useBank(victim);
  store<i32>(bankBase(victim) + B_KEY, key);
  tlbGen = load<i64>(bankBase(victim) + B_GEN);
  bankClear();
}

// Flushing everything is O(1): tags carry a generation in bits 53-63 (a linear page number shifted
// left by one takes bits 0-52), and a flush moves to the next generation; the arrays are cleared only
// when the generations run out. An invalid tag (-1) can never match: the last generation is not used.
export let tlbGen: i64 = 0;

// Alignment checking (CR0.AM, RFLAGS.AC, CPL 3): while it is on, user data accesses get no TLB tags,
// so every one of them takes the slow path, which raises #AC(0) for a misaligned 2/4/8-byte access.
export let acMode: bool = false;
export function setAcMode(on: bool): void {
  if (on == acMode) return;
  acMode = on;
  tlbFlushAll();
}
@inline function acFault(lin: u64, size: i32, acc: i32): bool {
  if (!acMode || (acc & (ACC_U | ACC_X)) != ACC_U || size < 2 || size > 8) return false;
  if (((lin as i32) & (size - 1)) == 0) return false;
  raise(EX_AC, 0);
  return true;
}
const GEN_STEP: i64 = (1 as i64) << 53;
const GEN_LAST: i64 = (2046 as i64) << 53;
// Everything, in every bank: the bank in use now, the others when next used (their epoch is old).
export function tlbFlushAll(): void {
  perfInc(PC_TLB_FLUSH_ALL);
  epoch++;
  bankClear();
}

// CR3 write without PGE: global pages stay (in the bank in use; the others are flushed entirely).
export function tlbFlushNonGlobal(): void {
  epoch++;
  store<u32>(bankBase(bank) + B_EPOCH, epoch);
  for (let i = 0; i < TLB_ENTRIES; i++) {
    if (load<u8>(GLOB + i) == 0) {
      store<i64>(RTAG + (i << 3), -1);
      store<i64>(WTAG + (i << 3), -1);
      store<i64>(XTAG + (i << 3), -1);
    }
  }
}

// One page, in every bank (INVLPG of the mapping wherever it is cached).
export function tlbFlushPage(lin: u64): void {
  perfInc(PC_TLB_FLUSH_PAGE);
  const i = ((lin >> 12) as i32) & (TLB_ENTRIES - 1);
  for (let b = 0; b < TLB_BANKS; b++) {
    const m = bankBase(b);
    if (load<u32>(m + B_EPOCH) != epoch) continue; // stale: cleared before its next use anyway
    store<i64>(m + (i << 3), -1);
    store<i64>(m + 0x8000 + (i << 3), -1);
    store<i64>(m + 0x10000 + (i << 3), -1);
    store<u8>(m + 0x1c000 + i, 0);
  }
}

// Drop every write translation to a host page (it now holds decoded code).
export function tlbDropWrites(hostPage: i32): void {
  for (let b = 0; b < TLB_BANKS; b++) {
    const m = bankBase(b);
    if (load<u32>(m + B_EPOCH) != epoch) continue; // stale: cleared before its next use anyway
    for (let i = 0; i < TLB_ENTRIES; i++) {
      if (load<i32>(m + 0x18000 + (i << 2)) == hostPage) store<i64>(m + 0x8000 + (i << 3), -1);
    }
  }
}

// Host address of a guest-physical page, or the dummy pages outside RAM.
@inline function physToHost(phys: u64, write: bool): i32 {
  if (phys < physLimit) return (phys + physBase) as i32;
  return write ? DUMMY_WRITE : DUMMY_READ;
}

// Translate the page of `lin` for access `acc` (ACC_* bits; ACC_U is added from the CPL when
// `useCpl`), fill the TLB and return the host address of the page, or NO_HOST with a fault raised.
export function tlbFill(lin: u64, acc: i32): i32 {
  perfInc(PC_TLB_FILL);
  const phys = walk(lin, acc);
  if (phys < 0) return NO_HOST;
  const write = (acc & ACC_W) != 0;
  const host = physToHost(phys as u64, write);
  const vpn = lin >> 12;
  const i = (vpn as i32) & (TLB_ENTRIES - 1);
  const tag = (((vpn << 1) | (((acc & ACC_U) != 0) ? 1 : 0)) as i64) | tlbGen;
  // Log-dirty (mmu/logdirty.ts): a write marks the frame here, before any tag decision; a frame of a
  // log-dirty domain gets a write tag only once it is marked, so its first write comes here.
  let wOk = true;
  if (ldCount != 0 && (phys as u64) < physLimit) wOk = ldFill((host as u32) >>> 12, write);
  // Only RAM pages get cached translations: the dummy pages must not alias to one another.
  if (acMode && (acc & ACC_U) != 0 && (acc & ACC_X) == 0) return host; // no data tags (see acMode)
  // A page with an enabled data breakpoint gets no tags: every access to it comes to xlate (cpu/debug.ts).
  if (dbgData && dbgPage(vpn)) return host;
  if ((phys as u64) < physLimit) {
    if (load<i64>(RTAG + (i << 3)) != tag) {
      store<i64>(WTAG + (i << 3), -1);
      store<i64>(XTAG + (i << 3), -1);
    }
    store<i64>(RTAG + (i << 3), tag);
    store<i32>(HOST + (i << 2), host);
    store<u8>(GLOB + i, walkGlobal ? 1 : 0);
    if (walkWritable && load<u8>(CODEMAP_BASE + (host >>> 12)) == 0) store<i64>(WTAG + (i << 3), wOk ? tag : -1);
    // Execute tags only from instruction fetches: fetchHost marks the page as code (CODEMAP) first.
    if (walkExec && (acc & ACC_X) != 0) store<i64>(XTAG + (i << 3), tag);
  }
  return host;
}

// Host address for `size` bytes at `lin` (not crossing a page), or NO_HOST with a fault raised. Writes to
// pages holding decoded code invalidate the decoded-instruction cache over the written range.
export function xlate(lin: u64, size: i32, acc: i32): i32 {
  const vpn = lin >> 12;
  const i = (vpn as i32) & (TLB_ENTRIES - 1);
  const tag = (((vpn << 1) | (((acc & ACC_U) != 0) ? 1 : 0)) as i64) | tlbGen;
  const off = (lin as i32) & 0xfff;
  const tagArr = (acc & ACC_W) != 0 ? WTAG : ((acc & ACC_X) != 0 ? XTAG : RTAG);
  if (load<i64>(tagArr + (i << 3)) == tag) return load<i32>(HOST + (i << 2)) + off;
  if (dbgData && (acc & ACC_X) == 0) dbgAccess(lin, size, (acc & ACC_W) != 0);
  const host = tlbFill(lin, acc);
  if (host == NO_HOST) return NO_HOST;
  if ((acc & ACC_W) != 0 && host != DUMMY_WRITE && load<u8>(CODEMAP_BASE + (host >>> 12)) != 0) {
    dcacheInvalidate(host + off, size);
  }
  return host + off;
}

// ---- the CPU's data accesses (privilege from the CPL) ----

@inline function accU(): i32 { return (userAcc as i32) << 2; }

// Reads that cross a page are assembled byte by byte (each byte translated, so a fault on either
// page is raised before anything changes).
function rdCross(lin: u64, size: i32, acc: i32): u64 {
  let v: u64 = 0;
  for (let k = 0; k < size; k++) {
    const p = xlate(lin + (k as u64), 1, acc);
    if (p == NO_HOST) return 0;
    v |= (load<u8>(p) as u64) << ((k as u64) << 3);
  }
  return v;
}

// A write that crosses a page: both pages are translated for writing before any byte is stored.
function wrCross(lin: u64, size: i32, v: u64, acc: i32): void {
  const first = 0x1000 - ((lin as i32) & 0xfff);
  const p1 = xlate(lin, first, acc | ACC_W);
  if (p1 == NO_HOST) return;
  const p2 = xlate(lin + (first as u64), size - first, acc | ACC_W);
  if (p2 == NO_HOST) return;
  for (let k = 0; k < size; k++) {
    const b = (v >> ((k as u64) << 3)) as u8;
    if (k < first) store<u8>(p1 + k, b); else store<u8>(p2 + k - first, b);
  }
}

// Generic read/write with an explicit access kind (system-table reads pass ACC_R without ACC_U).
export function readAcc(lin: u64, size: i32, acc: i32): u64 {
  if (acMode && acFault(lin, size, acc)) return 0;
  if (((lin as i32) & 0xfff) > 0x1000 - size) return rdCross(lin, size, acc);
  const p = xlate(lin, size, acc);
  if (p == NO_HOST) return 0;
  if (size == 1) return load<u8>(p);
  if (size == 2) return load<u16>(p);
  if (size == 4) return load<u32>(p);
  return load<u64>(p);
}

export function writeAcc(lin: u64, size: i32, v: u64, acc: i32): void {
  if (acMode && acFault(lin, size, acc | ACC_W)) return;
  if (((lin as i32) & 0xfff) > 0x1000 - size) { wrCross(lin, size, v, acc); return; }
  const p = xlate(lin, size, acc | ACC_W);
  if (p == NO_HOST) return;
  if (size == 1) store<u8>(p, v as u8);
  else if (size == 2) store<u16>(p, v as u16);
  else if (size == 4) store<u32>(p, v as u32);
  else store<u64>(p, v);
}

// Fast paths: one tag compare, then a plain load/store.
@inline function fastIdx(lin: u64): i32 { return ((lin >> 12) as i32) & (TLB_ENTRIES - 1); }
@inline function fastTag(lin: u64): i64 { return (((lin >> 12) << 1) as i64) | userAcc | tlbGen; }

@inline export function rd8(lin: u64): u32 {
  const i = fastIdx(lin);
  if (load<i64>(RTAG + (i << 3)) == fastTag(lin)) return load<u8>(load<i32>(HOST + (i << 2)) + ((lin as i32) & 0xfff));
  return readAcc(lin, 1, accU()) as u32;
}
@inline export function rd16(lin: u64): u32 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(RTAG + (i << 3)) == fastTag(lin) && o <= 0xffe) return load<u16>(load<i32>(HOST + (i << 2)) + o);
  return readAcc(lin, 2, accU()) as u32;
}
@inline export function rd32(lin: u64): u32 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(RTAG + (i << 3)) == fastTag(lin) && o <= 0xffc) return load<u32>(load<i32>(HOST + (i << 2)) + o);
  return readAcc(lin, 4, accU()) as u32;
}
@inline export function rd64(lin: u64): u64 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(RTAG + (i << 3)) == fastTag(lin) && o <= 0xff8) return load<u64>(load<i32>(HOST + (i << 2)) + o);
  return readAcc(lin, 8, accU());
}
@inline export function rdN(lin: u64, size: i32): u64 {
  if (size == 4) return rd32(lin) as u64;
  if (size == 8) return rd64(lin);
  if (size == 2) return rd16(lin) as u64;
  return rd8(lin) as u64;
}

@inline export function wr8(lin: u64, v: u32): void {
  const i = fastIdx(lin);
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin)) {
    store<u8>(load<i32>(HOST + (i << 2)) + ((lin as i32) & 0xfff), v as u8); return;
  }
  writeAcc(lin, 1, v as u64, accU());
}
@inline export function wr16(lin: u64, v: u32): void {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin) && o <= 0xffe) {
    store<u16>(load<i32>(HOST + (i << 2)) + o, v as u16); return;
  }
  writeAcc(lin, 2, v as u64, accU());
}
@inline export function wr32(lin: u64, v: u32): void {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin) && o <= 0xffc) {
    store<u32>(load<i32>(HOST + (i << 2)) + o, v); return;
  }
  writeAcc(lin, 4, v as u64, accU());
}
@inline export function wr64(lin: u64, v: u64): void {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin) && o <= 0xff8) {
    store<u64>(load<i32>(HOST + (i << 2)) + o, v); return;
  }
  writeAcc(lin, 8, v, accU());
}
@inline export function wrN(lin: u64, size: i32, v: u64): void {
  if (size == 4) wr32(lin, v as u32);
  else if (size == 8) wr64(lin, v);
  else if (size == 2) wr16(lin, v as u32);
  else wr8(lin, v as u32);
}

// Check that `len` bytes at `lin` can be written (for instructions that store more than once, so
// that a fault on a later store cannot leave an earlier one done). Raises the fault; returns false.
// (A fault on the second page reports its first byte in CR2, as wrCross/rdCross do.)
export function probeWrite(lin: u64, len: i32): bool {
  const last = lin + ((len - 1) as u64);
  if (xlate(lin, 1, accU() | ACC_W) == NO_HOST) return false;
  if ((last >> 12) != (lin >> 12) && xlate(last & ~0xfff, 1, accU() | ACC_W) == NO_HOST) return false;
  return true;
}
export function probeRead(lin: u64, len: i32): bool {
  const last = lin + ((len - 1) as u64);
  if (xlate(lin, 1, accU()) == NO_HOST) return false;
  if ((last >> 12) != (lin >> 12) && xlate(last & ~0xfff, 1, accU()) == NO_HOST) return false;
  return true;
}

// Host address of the code byte at `lin` (execute permission at the CPL), or NO_HOST with #PF raised.
// The page is marked as holding code, so that later writes to it invalidate decoded instructions.
export function fetchHost(lin: u64): i32 {
  const i = fastIdx(lin);
  let host: i32;
  if (load<i64>(XTAG + (i << 3)) == fastTag(lin)) {
    host = load<i32>(HOST + (i << 2));
  } else {
    host = tlbFill(lin, accU() | ACC_X);
    if (host == NO_HOST) return NO_HOST;
  }
  const cm = CODEMAP_BASE + (host >>> 12);
  if (load<u8>(cm) == 0 && host != DUMMY_READ) {
    store<u8>(cm, 1);
    perfInc(PC_CODE_PAGE);
    tlbDropWrites(host);
  }
  return host + ((lin as i32) & 0xfff);
}

export { fault, SCRATCH, NO_HOST };

// Host address valid for reading and writing `size` bytes at `lin` (read-modify-write operands):
// the address; 0 the operand crosses a page and both pages were checked writable (use
// readAcc/writeAcc or rdN/wrN, which cannot fault now); NO_HOST a fault was raised.
@inline export function rmwHost(lin: u64, size: i32): i32 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin) && o <= 0x1000 - size) return load<i32>(HOST + (i << 2)) + o;
  return rmwHostSlow(lin, size);
}
function rmwHostSlow(lin: u64, size: i32): i32 {
  if (acMode && acFault(lin, size, accU())) return NO_HOST;
  if (((lin as i32) & 0xfff) > 0x1000 - size) return probeWrite(lin, size) ? 0 : NO_HOST;
  return xlate(lin, size, accU() | ACC_W);
}

// fetchHost with the TLB hit inlined (the decoder's per-instruction path).
@inline export function fetchHostFast(lin: u64): i32 {
  const i = fastIdx(lin);
  if (load<i64>(XTAG + (i << 3)) == fastTag(lin)) return load<i32>(HOST + (i << 2)) + ((lin as i32) & 0xfff);
  return fetchHost(lin);
}

// Probes for the run loop's fast forms (cpu/fast.ts): the host address of `size` bytes at `lin` when
// the TLB holds a read (write) translation for it and the access stays within the page, else 0 (the
// caller then takes the general path, which fills the TLB or raises the fault).
@inline export function rdProbe(lin: u64, size: i32): i32 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(RTAG + (i << 3)) == fastTag(lin) && o <= 0x1000 - size) return load<i32>(HOST + (i << 2)) + o;
  return 0;
}
@inline export function wrProbe(lin: u64, size: i32): i32 {
  const i = fastIdx(lin);
  const o = (lin as i32) & 0xfff;
  if (load<i64>(WTAG + (i << 3)) == fastTag(lin) && o <= 0x1000 - size) return load<i32>(HOST + (i << 2)) + o;
  return 0;
}

// Compiled code's TLB miss: rdProbe/wrProbe after filling the TLB for the page of `lin`, without a fault:
// a walk that would fault leaves CR2 and the fault state as they were and returns 0 (the region then
// exits before the instruction, and the interpreter takes the fault). Accessed/dirty bits a successful
// walk sets are set as the interpreter's access would set them. Accesses that cross a page return 0.
export function probeFill(lin: u64, size: i32, write: bool): i32 {
  if (((lin as i32) & 0xfff) > 0x1000 - size) return 0;
  const p = write ? wrProbe(lin, size) : rdProbe(lin, size);
  if (p != 0 || fault) return p;
  // Not over another page's code translation (a region's own page, or a call's target): chaining into
  // the regions of that page would fail until the run loop fetched from it again (measured on Debian's
  // boot: taking the entry made 3M more region entries from the run loop). Such an access is translated
  // aside instead.
  const i = fastIdx(lin);
  const xt = load<i64>(XTAG + (i << 3));
  if (xt != -1 && (xt & ~(GEN_STEP - 1)) == tlbGen
    && ((xt & (GEN_STEP - 1)) >> 1) != ((lin >> 12) as i64 & ((GEN_STEP - 1) >> 1))) {
    return probeAside(lin, size, write);
  }
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  if (tlbFill(lin, accU() | (write ? ACC_W : 0)) == NO_HOST) {
    clearFault();
    store<u64>(CPU_STATE + CPU_CR2, cr2);
    return 0;
  }
  if (!write) return rdProbe(lin, size);
  const w = wrProbe(lin, size);
  if (w != 0) return w;
  // A write the walk allowed to a page holding decoded code (it never gets a write tag): done here as
  // xlate does it (the decoded-instruction cache invalidated over the written bytes; the store itself
  // follows at once in the region), unless it touches bytes regions were translated from (then the
  // region exits before it and the interpreter stores: its page's generation moves on). Only where the
  // fill gave the page its read tag (RAM, no alignment checks, no data breakpoint on it).
  const host = load<i32>(HOST + (i << 2));
  if (load<i64>(RTAG + (i << 3)) != fastTag(lin) || host == DUMMY_WRITE) return 0;
  if (load<u8>(CODEMAP_BASE + (host >>> 12)) == 0) return 0;
  const at = host + ((lin as i32) & 0xfff);
  if (jitRangeTouched(at, size)) return 0;
  dcacheInvalidate(at, size);
  return at;
}

// probeFill's access whose TLB entry holds another page's code translation: the page is walked without
// filling the entry, with the interpreter's effects (accessed/dirty bits, log-dirty, the decoded
// instructions over a write to a code page), and the host address answered for this access alone; 0
// (the region exits, the interpreter takes the access) for a fault, a page outside RAM, alignment
// checks, data breakpoints, or a write to bytes regions were translated from. Linux's text, rodata and
// data lie 16 MiB apart, a multiple of the TLB's 4096 entries: Debian's boot made 380k memory exits
// here (of 382k) when every such access exited; they are walks now, and the region goes on.
function probeAside(lin: u64, size: i32, write: bool): i32 {
  if (acMode || dbgData) return 0;
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  const phys = walk(lin, accU() | (write ? ACC_W : 0));
  if (phys < 0) {
    clearFault();
    store<u64>(CPU_STATE + CPU_CR2, cr2);
    return 0;
  }
  if ((phys as u64) >= physLimit) return 0;
  const host = physToHost(phys as u64, write);
  if (write && ldCount != 0) ldFill((host as u32) >>> 12, true);
  const at = host + ((lin as i32) & 0xfff);
  if (write && load<u8>(CODEMAP_BASE + (host >>> 12)) != 0) {
    if (jitRangeTouched(at, size)) return 0;
    dcacheInvalidate(at, size);
  }
  return at;
}

// Blocks of `len` bytes (2..4096: 16-byte SSE operands, the 512-byte FXSAVE image) between `lin`
// and the host buffer `buf`. No #AC (SSE's 16-byte accesses and FXSAVE take none). Both pages of a
// page-crossing block are translated before anything is copied, so a fault leaves memory unchanged.
export function rdBlock(lin: u64, buf: i32, len: i32): bool {
  const first = 0x1000 - ((lin as i32) & 0xfff);
  const p1 = xlate(lin, first < len ? first : len, accU());
  if (p1 == NO_HOST) return false;
  if (first >= len) { memory.copy(buf, p1, len); return true; }
  const p2 = xlate(lin + (first as u64), len - first, accU());
  if (p2 == NO_HOST) return false;
  memory.copy(buf, p1, first);
  memory.copy(buf + first, p2, len - first);
  return true;
}
export function wrBlock(lin: u64, buf: i32, len: i32): bool {
  const first = 0x1000 - ((lin as i32) & 0xfff);
  const p1 = xlate(lin, first < len ? first : len, accU() | ACC_W);
  if (p1 == NO_HOST) return false;
  if (first >= len) { memory.copy(p1, buf, len); return true; }
  const p2 = xlate(lin + (first as u64), len - first, accU() | ACC_W);
  if (p2 == NO_HOST) return false;
  memory.copy(p1, buf, first);
  memory.copy(p2, buf + first, len - first);
  return true;
}

// Compiled code (host/jit/) probes the TLB inline: where the bank in use keeps its arrays and the tag bits.
export function jitTlbOut(io: i32): void {
  store<i32>(io, RTAG, JIO_RTAG);
  store<i32>(io, WTAG, JIO_WTAG);
  store<i32>(io, HOST, JIO_HOST);
  store<i32>(io, XTAG, JIO_XTAG);
  store<i64>(io, userAcc | tlbGen, JIO_TAGBASE);
}
