// String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP/REPE/REPNE. A REP instruction runs
// at most STR_CHUNK iterations per step and then re-executes (nextIp stays on it), so the run loop's
// budget and event checks still happen; after a fault the registers reflect the iterations done, and
// the instruction resumes where it stopped.
import { acMode } from "../mmu/tlb";
import { SEG_ES, SEG_DS, CPU_STATE, CPU_RFLAGS } from "../memmap";
import {
  reg64, setReg64, reg32, setReg32, reg16, setReg16, RAX, RCX, RSI, RDI, RDX, getReg, setReg,
  nextIp, is64, flatMask, F_DF, setReg8, rip,
} from "./state";
import { userAcc } from "../mmu/ctx";
import { getZF } from "./flags";
import { fault } from "./fault";
import { linear } from "./ea";
import { rdN, wrN, xlate, rdProbe, wrProbe, NO_HOST } from "../mmu/tlb";
import { ACC_W, ACC_U } from "../bits";
import { dAs, dSeg, dPfx, P_REP, P_REPNE } from "./decode";
import { alu } from "./alu";
import { ioIn, ioOut, ioAllowed } from "./system";

const STR_CHUNK: u64 = 4096;

@inline function idx(r: i32): u64 {
  if (dAs() == 8) return reg64(r);
  return dAs() == 4 ? reg32(r) as u64 : reg16(r) as u64;
}
@inline function setIdx(r: i32, v: u64): void {
  if (dAs() == 8) setReg64(r, v);
  else if (dAs() == 4) setReg32(r, v as u32);
  else setReg16(r, v as u32);
}
@inline function step(size: i32): u64 {
  // DF is never pending in the lazy flags: read it from RFLAGS directly.
  return (load<u64>(CPU_STATE + CPU_RFLAGS) & F_DF) != 0 ? (-(size as i64)) as u64 : size as u64;
}
@inline function srcSeg(): i32 { return dSeg() >= 0 ? dSeg() : SEG_DS; }

// Iterations to do now: 1 without REP; else min(rCX, chunk). 0: nothing to do.
@inline function repCount(): u64 {
  if ((dPfx() & (P_REP | P_REPNE)) == 0) return 1;
  const c = idx(RCX);
  return c < STR_CHUNK ? c : STR_CHUNK;
}
@inline function isRep(): bool { return (dPfx() & (P_REP | P_REPNE)) != 0; }

// A REP instruction with rCX = 0 does no iteration. Intel (the vendor our CPUID reports) still writes
// the count and the index registers the instruction uses with the address size, so with a 32-bit
// address size in 64-bit mode their upper halves are cleared; AMD leaves them (docs/CPU-FLAGS.md).
function repNone(si: bool, di: bool): void {
  if (dAs() != 4) return;
  setReg32(RCX, reg32(RCX));
  if (si) setReg32(RSI, reg32(RSI));
  if (di) setReg32(RDI, reg32(RDI));
}

// After `done` iterations of a REP instruction: count down rCX, and re-execute if work remains.
function repFinish(done: u64, stopped: bool): void {
  if (!isRep()) return;
  const left = idx(RCX) - done;
  setIdx(RCX, left);
  if (left != 0 && !stopped) nextIp = ripOfInsn(); // run again for the rest
}

// The address of the current instruction, for re-execution.
@inline function ripOfInsn(): u64 { return rip(); }

export function movs(size: i32): void {
  const n = repCount();
  if (n == 0) { repNone(true, true); return; }
  const d = step(size);
  let done: u64 = 0;
  // Fast path: forward copies in flat (or 64-bit) segments, page by page with memory.copy.
  const flat = !acMode && (is64 || ((flatMask & (1 << srcSeg())) != 0 && (flatMask & (1 << SEG_ES)) != 0));
  if (flat && d == (size as u64) && n > 1 && dAs() != 2) {
    while (done < n) {
      const s = idx(RSI), t = idx(RDI);
      const sl = linear(srcSeg(), s, size, false);
      if (fault) break;
      const tl = linear(SEG_ES, t, size, true);
      if (fault) break;
      let k = n - done;
      const sroom = ((0x1000 - ((sl as i32) & 0xfff)) / size) as u64;
      const troom = ((0x1000 - ((tl as i32) & 0xfff)) / size) as u64;
      if (sroom < k) k = sroom;
      if (troom < k) k = troom;
      if (dAs() == 4) {
        const sw = (<u64>0x100000000 - s) / (size as u64), tw = (<u64>0x100000000 - t) / (size as u64);
        if (sw < k) k = sw;
        if (tw < k) k = tw;
      }
      if (k == 0) { // an element straddles a page: one element the slow way
        const v = rdN(sl, size);
        if (fault) break;
        wrN(tl, size, v);
        if (fault) break;
        setIdx(RSI, s + d); setIdx(RDI, t + d);
        done++;
        continue;
      }
      const bytes = (k as i32) * size;
      const sp = xlate(sl, bytes, (userAcc as i32) << 2);
      if (sp == NO_HOST) break;
      const tp = xlate(tl, bytes, ((userAcc as i32) << 2) | ACC_W);
      if (tp == NO_HOST) break;
      if ((tp as u32) > (sp as u32) && (tp as u32) < ((sp + bytes) as u32)) {
        // Forward and overlapping: element by element, each read whole before it is written.
        for (let i = 0; i < bytes; i += size) {
          if (size == 1) store<u8>(tp + i, load<u8>(sp + i));
          else if (size == 2) store<u16>(tp + i, load<u16>(sp + i));
          else if (size == 4) store<u32>(tp + i, load<u32>(sp + i));
          else store<u64>(tp + i, load<u64>(sp + i));
        }
      } else {
        memory.copy(tp, sp, bytes);
      }
      setIdx(RSI, s + (bytes as u64)); setIdx(RDI, t + (bytes as u64));
      done += k;
    }
    repFinish(done, false);
    return;
  }
  while (done < n) {
    const sl = linear(srcSeg(), idx(RSI), size, false);
    if (fault) break;
    const v = rdN(sl, size);
    if (fault) break;
    const tl = linear(SEG_ES, idx(RDI), size, true);
    if (fault) break;
    wrN(tl, size, v);
    if (fault) break;
    setIdx(RSI, idx(RSI) + d); setIdx(RDI, idx(RDI) + d);
    done++;
  }
  repFinish(done, false);
}

export function stos(size: i32): void {
  const n = repCount();
  if (n == 0) { repNone(false, true); return; }
  const d = step(size);
  const val = size == 1 ? reg64(RAX) & 0xff : getReg(RAX, size);
  let done: u64 = 0;
  while (done < n) {
    const t = idx(RDI);
    const tl = linear(SEG_ES, t, size, true);
    if (fault) break;
    // Fast path: fill the rest of the page in one go (forward, flat).
    if (!acMode && d == (size as u64) && n - done > 1 && (is64 || (flatMask & (1 << SEG_ES)) != 0) && dAs() != 2) {
      let k = n - done;
      const room = ((0x1000 - ((tl as i32) & 0xfff)) / size) as u64;
      if (room < k) k = room;
      if (dAs() == 4) { const w = (<u64>0x100000000 - t) / (size as u64); if (w < k) k = w; }
      if (k > 1) {
        const bytes = (k as i32) * size;
        const tp = xlate(tl, bytes, ((userAcc as i32) << 2) | ACC_W);
        if (tp == NO_HOST) break;
        if (size == 1) memory.fill(tp, val as u8, bytes);
        else for (let i = 0; i < bytes; i += size) {
          if (size == 2) store<u16>(tp + i, val as u16);
          else if (size == 4) store<u32>(tp + i, val as u32);
          else store<u64>(tp + i, val);
        }
        setIdx(RDI, t + (bytes as u64));
        done += k;
        continue;
      }
    }
    wrN(tl, size, val);
    if (fault) break;
    setIdx(RDI, t + d);
    done++;
  }
  repFinish(done, false);
}

export function lods(size: i32): void {
  const n = repCount();
  if (n == 0) { repNone(true, false); return; }
  const d = step(size);
  let done: u64 = 0;
  while (done < n) {
    const sl = linear(srcSeg(), idx(RSI), size, false);
    if (fault) break;
    const v = rdN(sl, size);
    if (fault) break;
    if (size == 1) setReg8(0, v as u32); // AL
    else setReg(RAX, size, v);
    setIdx(RSI, idx(RSI) + d);
    done++;
  }
  repFinish(done, false);
}

// SCAS/CMPS: REPE (F3) repeats while equal, REPNE (F2) while not equal.
export function scas(size: i32): void {
  const n = repCount();
  if (n == 0) { repNone(false, true); return; }
  const d = step(size);
  const a = size == 1 ? reg64(RAX) & 0xff : getReg(RAX, size);
  let done: u64 = 0;
  let stopped = false;
  while (done < n) {
    const tl = linear(SEG_ES, idx(RDI), size, false);
    if (fault) break;
    const v = rdN(tl, size);
    if (fault) break;
    alu(7, size, a, v);
    setIdx(RDI, idx(RDI) + d);
    done++;
    if (repStop()) { stopped = true; break; }
  }
  repFinish(done, stopped);
}

export function cmps(size: i32): void {
  const n = repCount();
  if (n == 0) { repNone(true, true); return; }
  const d = step(size);
  let done: u64 = 0;
  let stopped = false;
  while (done < n) {
    const sl = linear(srcSeg(), idx(RSI), size, false);
    if (fault) break;
    const a = rdN(sl, size);
    if (fault) break;
    const tl = linear(SEG_ES, idx(RDI), size, false);
    if (fault) break;
    const b = rdN(tl, size);
    if (fault) break;
    alu(7, size, a, b);
    setIdx(RSI, idx(RSI) + d); setIdx(RDI, idx(RDI) + d);
    done++;
    if (repStop()) { stopped = true; break; }
  }
  repFinish(done, stopped);
}

@inline function repStop(): bool {
  if ((dPfx() & P_REP) != 0) return !getZF();
  if ((dPfx() & P_REPNE) != 0) return getZF();
  return false;
}

export function ins(size: i32): void {
  const port = (reg64(RDX) & 0xffff) as i32;
  if (!ioAllowed(port, size)) return;
  const n = repCount();
  if (n == 0) { repNone(false, true); return; }
  const d = step(size);
  let done: u64 = 0;
  while (done < n) {
    const tl = linear(SEG_ES, idx(RDI), size, true);
    if (fault) break;
    // Check the destination before the port read (a port read may have side effects).
    if (xlate(tl, 1, ((userAcc as i32) << 2) | ACC_W) == NO_HOST) break;
    const v = ioIn(port, size);
    if (fault) break;
    wrN(tl, size, v as u64);
    if (fault) break;
    setIdx(RDI, idx(RDI) + d);
    done++;
  }
  repFinish(done, false);
}

export function outs(size: i32): void {
  const port = (reg64(RDX) & 0xffff) as i32;
  if (!ioAllowed(port, size)) return;
  const n = repCount();
  if (n == 0) { repNone(true, false); return; }
  const d = step(size);
  let done: u64 = 0;
  while (done < n) {
    const sl = linear(srcSeg(), idx(RSI), size, false);
    if (fault) break;
    const v = rdN(sl, size);
    if (fault) break;
    ioOut(port, size, v as u32);
    if (fault) break;
    setIdx(RSI, idx(RSI) + d);
    done++;
  }
  repFinish(done, false);
}

export { ACC_U };

// ---- Compiled code's REP MOVS / REP STOS (host/jit/translate.ts) ----
// One step of the instruction, exactly as movs()/stos() above do it (at most STR_CHUNK iterations, one
// retired instruction), or nothing: the region has written RCX/RSI/RDI/RAX back and exits before the
// instruction when this returns 0, and the interpreter runs it. Only forward copies (DF=0) without #AC,
// with every page of the step on the TLB's fast path (rdProbe/wrProbe: no fill, no fault, no code page,
// no log-dirty page; an element that straddles two pages through both) and nothing past the 4 GiB wrap
// (32-bit addressing); all of it is checked before anything is written, so a step is done whole or not at all.
// kind: element size (1, 2, 4, 8) | 16 for STOS (else MOVS) | 32 for 64-bit addressing (else 32-bit) |
// 64 with a REP prefix. Returns 0 (nothing done), 1 (a step done, RCX not 0: run it again) or 2 (done).
export const JS_STOS = 16;
export const JS_AS8 = 32;
export const JS_REP = 64;

@inline function jIdx(as8: bool, r: i32): u64 { return as8 ? reg64(r) : reg32(r) as u64; }
@inline function jSetIdx(as8: bool, r: i32, v: u64): void { if (as8) setReg64(r, v); else setReg32(r, v as u32); }

// The pages of `n` elements from s (and t) in the chunks movs() would use; `go`: copy/fill (else probe only).
function jitStrWalk(stosOp: bool, size: i32, as8: bool, s: u64, t: u64, n: u64, go: bool): bool {
  const val = size == 1 ? reg64(RAX) & 0xff : getReg(RAX, size);
  let done: u64 = 0;
  while (done < n) {
    let k = n - done;
    const troom = ((0x1000 - ((t as i32) & 0xfff)) / size) as u64;
    if (troom < k) k = troom;
    if (!stosOp) {
      const sroom = ((0x1000 - ((s as i32) & 0xfff)) / size) as u64;
      if (sroom < k) k = sroom;
    }
    if (k == 0) { // an element straddles a page: byte by byte through both pages' translations, read whole first
      if (wrProbe(t, 1) == 0 || wrProbe(t + (size as u64) - 1, 1) == 0) return false;
      let v = val;
      if (!stosOp) {
        if (rdProbe(s, 1) == 0 || rdProbe(s + (size as u64) - 1, 1) == 0) return false;
        if (go) {
          v = 0; for (let i = 0; i < size; i++) v |= (load<u8>(rdProbe(s + (i as u64), 1)) as u64) << ((i as u64) << 3);
        }
        s += size as u64;
      }
      if (go) for (let i = 0; i < size; i++) store<u8>(wrProbe(t + (i as u64), 1), (v >> ((i as u64) << 3)) as u8);
      t += size as u64;
      done++;
      continue;
    }
    const bytes = (k as i32) * size;
    const tp = wrProbe(t, bytes);
    if (tp == 0) return false;
    if (stosOp) {
      if (go) {
        if (size == 1) memory.fill(tp, val as u8, bytes);
        else for (let i = 0; i < bytes; i += size) {
          if (size == 2) store<u16>(tp + i, val as u16);
          else if (size == 4) store<u32>(tp + i, val as u32);
          else store<u64>(tp + i, val);
        }
      }
    } else {
      const sp = rdProbe(s, bytes);
      if (sp == 0) return false;
      if (go) {
        if ((tp as u32) > (sp as u32) && (tp as u32) < ((sp + bytes) as u32)) {
          for (let i = 0; i < bytes; i += size) {
            if (size == 1) store<u8>(tp + i, load<u8>(sp + i));
            else if (size == 2) store<u16>(tp + i, load<u16>(sp + i));
            else if (size == 4) store<u32>(tp + i, load<u32>(sp + i));
            else store<u64>(tp + i, load<u64>(sp + i));
          }
        } else memory.copy(tp, sp, bytes);
      }
      s += bytes as u64;
    }
    t += bytes as u64;
    done += k;
  }
  return true;
}

export function jitString(kind: i32): i32 {
  const size = kind & 15, stosOp = (kind & JS_STOS) != 0, as8 = (kind & JS_AS8) != 0, rep = (kind & JS_REP) != 0;
  if (acMode || (load<u64>(CPU_STATE + CPU_RFLAGS) & F_DF) != 0) return 0;
  let n: u64 = 1;
  if (rep) {
    const c = jIdx(as8, RCX);
    if (c == 0) {
      if (!as8) { setReg32(RCX, reg32(RCX)); if (!stosOp) setReg32(RSI, reg32(RSI)); setReg32(RDI, reg32(RDI)); }
      return 2;
    }
    n = c < STR_CHUNK ? c : STR_CHUNK;
  }
  const s = stosOp ? 0 : jIdx(as8, RSI), t = jIdx(as8, RDI);
  const bytes = n * (size as u64);
  if (!as8 && (t + bytes > <u64>0x100000000 || (!stosOp && s + bytes > <u64>0x100000000))) return 0;
  if (!jitStrWalk(stosOp, size, as8, s, t, n, false)) return 0;
  jitStrWalk(stosOp, size, as8, s, t, n, true);
  if (!stosOp) jSetIdx(as8, RSI, s + bytes);
  jSetIdx(as8, RDI, t + bytes);
  if (!rep) return 2;
  const left = jIdx(as8, RCX) - n;
  jSetIdx(as8, RCX, left);
  return left != 0 ? 1 : 2;
}
