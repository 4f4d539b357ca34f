// The instruction decoder: prefixes, REX, opcode maps, ModRM/SIB/displacement, immediates. It reads
// code bytes only through fetchHost() (mmu/tlb.ts) and leaves the decoded instruction in the d*
// globals below, which exec.ts reads. Returns false after raising a fault (#PF or #GP on fetch, #GP
// for an instruction longer than 15 bytes).
import { SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, CPU_STATE, CPU_CR2, MODE_REAL } from "../memmap";

// Entry for instructions that are not cached (64 bytes of static data; its fast form is F_GEN).
// (and 64 bytes after it that stay 0: the run loop reads the tag of the entry after the one it ran)
export const DECODE_SCRATCH: i32 = memory.data(128, 64) as i32;
import { is64, defOp32, defAd, segBase, segLimit, flatMask } from "./state";
import { fault, raiseGP, clearFault } from "./fault";
import { fetchHost, fetchHostFast, NO_HOST } from "../mmu/tlb";
import { dcacheFind, dcacheKey, dcacheVictim } from "./dcache";
import { perfInc, PC_DCACHE_FILL } from "../perf";
import { specialise } from "./fast";
import { jitMark, F_JIT } from "./jit";
import { mode } from "./state";
import {
  opAttr, lockOk, A_MODRM, A_IMM_MASK, A_D64, A_F64, A_BYTE, A_INV64, OP_UD, VEX_OP, I_B, I_W, I_Z, I_V, I_MOFFS, I_WB,
  I_PTR,
} from "./optable";

import { P_LOCK, P_REP, P_REPNE, P_OPSZ, P_ADSZ } from "./optable"; // (where fast.ts takes them from too)
export { P_LOCK, P_REP, P_REPNE, P_OPSZ, P_ADSZ };

// The decoded instruction lives in a 64-byte entry (layout in dcache.ts); `E` points at the current
// one, and the accessors below read its fields.
export let E: i32 = DECODE_SCRATCH;
// opcode id: 0x000-0x0FF, 0x100 + 0F xx, 0x200 + 0F 38 xx, 0x300 + 0F 3A xx, 0x400 #UD, 0x500-0x7FF VEX (optable.ts)
@inline export function dOp(): i32 { return load<u16>(E, 56); }
@inline export function dLen(): i32 { return load<u8>(E, 58); } // instruction length
@inline export function dPfx(): i32 { return load<u8>(E, 8); } // P_* bits
@inline export function dSeg(): i32 { return load<i8>(E, 9); } // segment override (SEG_*), -1 = none
@inline export function dRex(): i32 { return load<u8>(E, 10); } // the REX byte (0x40-0x4F) or 0
@inline export function dOs(): i32 { return load<u8>(E, 11) & 15; } // operand size in bytes: 1, 2, 4, 8
@inline export function dAs(): i32 { return load<u8>(E, 11) >> 4; } // address size: 2, 4, 8
@inline export function dMod(): i32 { return load<u8>(E, 12); } // ModRM.mod (3 = register operand)
@inline export function dReg(): i32 { return load<u8>(E, 13); } // ModRM.reg with REX.R
@inline export function dRm(): i32 { return load<u8>(E, 14); } // ModRM.rm with REX.B
@inline export function dBase(): i32 { return load<i8>(E, 15); } // base register or -1
@inline export function dIndex(): i32 { return load<i8>(E, 16); } // index register or -1
@inline export function dScale(): u64 { return (load<u8>(E, 17) & 3) as u64; } // index shift
@inline export function dRipRel(): bool { return (load<u8>(E, 17) & 16) != 0; } // RIP-relative
@inline export function dDefSeg(): i32 { return load<u8>(E, 17) >> 5; } // default segment of the operand
@inline export function dImm2(): u32 { return load<u16>(E, 18); } // second immediate (ENTER level, far selector)
@inline export function dVvvv(): i32 { return load<u16>(E, 18); } // VEX.vvvv of a VEX-encoded instruction (same field)
@inline export function dDisp(): u64 { return <u64>(<i64>load<i32>(E, 20)); } // displacement, sign-extended
@inline export function dImm(): u64 { return load<u64>(E, 24); } // immediate (sign-extended where the form says)

// Decoder staging values.
let sOp: i32 = 0; let sPfx: i32 = 0; let sSeg: i32 = -1; let sRex: i32 = 0; let sOs: i32 = 4;
let sAs: i32 = 4; let sMod: i32 = 0; let sReg: i32 = 0; let sRm: i32 = 0; let sBase: i32 = -1;
let sIndex: i32 = -1; let sScale: u64 = 0; let sDisp: u64 = 0; let sRipRel: bool = false;
let sDefSeg: i32 = SEG_DS; let sImm: u64 = 0; let sImm2: u32 = 0; let sLen: i32 = 0;

// Fetch cursor.
let fp: i32 = 0; // host address of the next code byte
let fend: i32 = 0; // fp may run up to here before the slow path
let fstart: u64 = 0; // linear address of the instruction
let fcount: i32 = 0; // bytes fetched from the current run [fp0, fend)
let fp0: i32 = 0;
let fbase: i32 = 0; // bytes fetched before the current run

// The JIT decodes one page at a time: an instruction that runs into the next page is not for it.
let noCross = false;
let crossed = false;
// The JIT's page is read at its host address (0: through the MMU). A background compile may run while
// another domain's address space is current, where the same linear address is other code.
let hostStart: i32 = 0;

function fetchSlow(): u32 {
  const n = fbase + (fp - fp0);
  if (noCross && n > 0) { crossed = true; return 0; }
  if (n >= 15) { raiseGP(0); return 0; }
  const lin = fstart + (n as u64);
  let linAddr = lin;
  if (!is64) {
    // Code-segment limit (non-flat CS); EIP wraps at 4 GiB.
    const eip = (lin - segBase(SEG_CS)) & 0xffffffff;
    if ((flatMask & (1 << SEG_CS)) == 0 && eip > (segLimit(SEG_CS) as u64)) { raiseGP(0); return 0; }
    linAddr = lin & 0xffffffff;
  }
  const h = fetchHost(linAddr);
  if (h == NO_HOST) return 0;
  fbase = n;
  fp0 = h;
  fp = h;
  const pageEnd = (h & ~0xfff) + 0x1000;
  const lenEnd = h + (15 - n);
  fend = (pageEnd as u32) < (lenEnd as u32) ? pageEnd : lenEnd; // (unsigned: host addresses, memmap.ts NO_HOST)
  return load<u8>(fp++);
}

@inline function fb(): u32 {
  if ((fp as u32) < (fend as u32)) return load<u8>(fp++);
  return fetchSlow();
}
@inline function fw(): u32 { const lo = fb(); return lo | (fb() << 8); }
@inline function fd(): u32 { const a = fw(); return a | (fw() << 16); }

// Decode the instruction at linear address `lin`. Returns false after raising a fault.
export function decode(lin: u64): bool {
  fstart = lin;
  fbase = 0;
  fp = 0; fp0 = 0; fend = 0;
  if (hostStart != 0) {
    fp = hostStart; fp0 = hostStart;
    const pageEnd = (hostStart & ~0xfff) + 0x1000;
    fend = (pageEnd as u32) < ((hostStart + 15) as u32) ? pageEnd : hostStart + 15;
  }
  let pfx = 0;
  let seg = -1;
  let rex = 0;
  let b: u32;
  // Prefixes.
  while (true) {
    b = fb();
    if (fault) return false;
    switch (b) {
      case 0x66: pfx |= P_OPSZ; rex = 0; continue;
      case 0x67: pfx |= P_ADSZ; rex = 0; continue;
      case 0xf0: pfx |= P_LOCK; rex = 0; continue;
      case 0xf2: pfx = (pfx & ~P_REP) | P_REPNE; rex = 0; continue;
      case 0xf3: pfx = (pfx & ~P_REPNE) | P_REP; rex = 0; continue;
      case 0x26: if (!is64) seg = SEG_ES; rex = 0; continue;
      case 0x2e: if (!is64) seg = SEG_CS; rex = 0; continue;
      case 0x36: if (!is64) seg = SEG_SS; rex = 0; continue;
      case 0x3e: if (!is64) seg = SEG_DS; rex = 0; continue;
      case 0x64: seg = SEG_FS; rex = 0; continue;
      case 0x65: seg = SEG_GS; rex = 0; continue;
      default: break;
    }
    if (is64 && (b & 0xf0) == 0x40) { rex = b; continue; }
    break;
  }
  let op = b as i32;
  // VEX (C4: three bytes, C5: two): always in 64-bit mode; in protected and compatibility mode only when
  // the next byte's top bits are 11 (R and X, or R and vvvv[3], inverted), which as the ModRM byte of
  // LES/LDS would be a register operand (#UD there); otherwise LES/LDS. Never in real mode (LES/LDS).
  let pendingModrm = -1; // the byte after C4/C5 when it is LES/LDS's ModRM byte
  let vexBad = false; // #UD once the instruction is fetched
  let vexW = 0;
  let vvvv = 0;
  let vex = false;
  if ((op == 0xc4 || op == 0xc5) && mode != MODE_REAL) {
    const b1 = fb();
    if (fault) return false;
    if (is64 || (b1 & 0xc0) == 0xc0) {
      vex = true;
      let map = 1, rxb = 0, pp = 0, l = 0;
      if (op == 0xc5) {
        rxb = ((~b1 >> 5) & 4) as i32; // R
        vvvv = ((~b1 >> 3) & 15) as i32;
        l = ((b1 >> 2) & 1) as i32;
        pp = (b1 & 3) as i32;
      } else {
        const b2 = fb();
        if (fault) return false;
        rxb = ((~b1 >> 5) & 7) as i32; // R X B
        map = (b1 & 31) as i32;
        vexW = ((b2 >> 7) & 1) as i32;
        vvvv = ((~b2 >> 3) & 15) as i32;
        l = ((b2 >> 2) & 1) as i32;
        pp = (b2 & 3) as i32;
      }
      // No LOCK, 66, F2, F3 or REX before VEX; VEX.L = 1 is #UD for every form implemented (BMI: LZ);
      // maps other than 1-3 are reserved.
      vexBad = (pfx & (P_LOCK | P_OPSZ | P_REP | P_REPNE)) != 0 || rex != 0 || l != 0 || map < 1 || map > 3;
      if (!is64) { rxb = 0; vexW = 0; vvvv &= 7; } // 32-bit modes: B, W and vvvv[3] ignored (R, X are 1)
      rex = is64 ? 0x40 | (vexW << 3) | rxb : 0;
      pfx = (pfx & P_ADSZ) | (pp == 1 ? P_OPSZ : pp == 2 ? P_REP : pp == 3 ? P_REPNE : 0); // the implied prefix
      b = fb();
      if (fault) return false;
      op = map >= 1 && map <= 3 ? VEX_OP | (map << 8) | (b as i32) : OP_UD;
    } else pendingModrm = b1 as i32;
  }
  if (op == 0x0f) {
    b = fb();
    if (fault) return false;
    if (b == 0x38) { op = 0x200 | (fb() as i32); }
    else if (b == 0x3a) { op = 0x300 | (fb() as i32); }
    else op = 0x100 | (b as i32);
    if (fault) return false;
  }
  const attr = opAttr(op);
  // Operand and address sizes.
  let os: i32;
  if (vex) os = vexW != 0 ? 8 : 4; // VEX.W (64-bit mode only); 66 is not allowed
  else if ((attr & A_BYTE) != 0) os = 1;
  else if (is64) {
    if ((rex & 8) != 0 || (attr & A_F64) != 0) os = 8;
    else if ((attr & A_D64) != 0) os = (pfx & P_OPSZ) != 0 ? 2 : 8;
    else os = (pfx & P_OPSZ) != 0 ? 2 : 4;
  } else {
    os = defOp32 != ((pfx & P_OPSZ) != 0) ? 4 : 2;
  }
  let as: i32;
  if (is64) as = (pfx & P_ADSZ) != 0 ? 4 : 8;
  else as = (defAd == 4) != ((pfx & P_ADSZ) != 0) ? 4 : 2;

  sBase = -1; sIndex = -1; sScale = 0; sDisp = 0; sRipRel = false; sDefSeg = SEG_DS;
  sMod = 3; sReg = 0; sRm = 0;
  if ((attr & A_MODRM) != 0) {
    const m: u32 = pendingModrm >= 0 ? pendingModrm as u32 : fb();
    if (fault) return false;
    // MOV to/from CRn/DRn (0F 20-23) ignore ModRM.mod: their operand is always a register.
    const mod = op >= 0x120 && op <= 0x123 ? 3 : (m >> 6) as i32;
    sMod = mod;
    sReg = (((m >> 3) & 7) as i32) | ((rex & 4) << 1);
    const rm = (m & 7) as i32;
    if (mod == 3) {
      sRm = rm | ((rex & 1) << 3);
    } else if (as == 2) {
      switch (rm) {
        case 0: sBase = 3; sIndex = 6; break; // BX+SI
        case 1: sBase = 3; sIndex = 7; break; // BX+DI
        case 2: sBase = 5; sIndex = 6; sDefSeg = SEG_SS; break; // BP+SI
        case 3: sBase = 5; sIndex = 7; sDefSeg = SEG_SS; break; // BP+DI
        case 4: sBase = 6; break; // SI
        case 5: sBase = 7; break; // DI
        case 6: if (mod != 0) { sBase = 5; sDefSeg = SEG_SS; } break; // BP or disp16
        default: sBase = 3; break; // BX
      }
      if (mod == 1) sDisp = <u64>(<i64>(<i8>fb()));
      else if (mod == 2 || (mod == 0 && rm == 6)) sDisp = fw() as u64;
    } else {
      if (rm == 4) {
        const s = fb();
        if (fault) return false;
        sScale = (s >> 6) as u64;
        const idx = (((s >> 3) & 7) as i32) | ((rex & 2) << 2);
        if (idx != 4) sIndex = idx;
        const base = (s & 7) as i32;
        if (base == 5 && mod == 0) {
          sDisp = <u64>(<i64>(<i32>fd()));
        } else {
          sBase = base | ((rex & 1) << 3);
          if (base == 4 || base == 5) sDefSeg = SEG_SS;
        }
      } else if (rm == 5 && mod == 0) {
        sDisp = <u64>(<i64>(<i32>fd()));
        sRipRel = is64;
      } else {
        sBase = rm | ((rex & 1) << 3);
        if (rm == 5) sDefSeg = SEG_SS;
      }
      if (mod == 1) sDisp = <u64>(<i64>(<i8>fb()));
      else if (mod == 2) sDisp = <u64>(<i64>(<i32>fd()));
    }
    if (fault) return false;
  }
  // Immediates.
  let ik = (attr & A_IMM_MASK) >> 1;
  if (op == 0xf6 && (sReg & 6) == 0) ik = I_B;
  else if (op == 0xf7 && (sReg & 6) == 0) ik = I_Z;
  sImm = 0; sImm2 = 0;
  switch (ik) {
    case I_B: sImm = <u64>(<i64>(<i8>fb())); break;
    case I_W: sImm = fw() as u64; break;
    case I_Z:
      if (os == 2) sImm = <u64>(<i64>(<i16>fw()));
      else sImm = <u64>(<i64>(<i32>fd()));
      break;
    case I_V:
      if (os == 2) sImm = fw() as u64;
      else if (os == 4) sImm = fd() as u64;
      else { const lo = fd() as u64; sImm = lo | ((fd() as u64) << 32); }
      break;
    case I_MOFFS:
      if (as == 2) sImm = fw() as u64;
      else if (as == 4) sImm = fd() as u64;
      else { const lo = fd() as u64; sImm = lo | ((fd() as u64) << 32); }
      break;
    case I_WB: sImm = fw() as u64; sImm2 = fb(); break;
    case I_PTR:
      if (os == 2) sImm = fw() as u64; else sImm = fd() as u64;
      sImm2 = fw();
      break;
    default: break;
  }
  if (fault) return false;
  if ((is64 && (attr & A_INV64) != 0) || ((pfx & P_LOCK) != 0 && !lockOk(op, sMod, sReg)) || vexBad) op = OP_UD;
  if (vex) sImm2 = vvvv as u32; // VEX.vvvv (un-inverted), read by dVvvv()
  sOp = op; sPfx = pfx; sSeg = seg; sRex = rex; sOs = os; sAs = as;
  sLen = fbase + (fp - fp0);
  return true;
}


function store_entry(e: i32, host: i32): void {
  store<i32>(e, host);
  store<u32>(e, mode as u32, 4);
  store<u16>(e, sOp as u16, 56);
  store<u8>(e, sLen as u8, 58);
  store<u8>(e, sPfx as u8, 8);
  store<i8>(e, sSeg as i8, 9);
  store<u8>(e, sRex as u8, 10);
  store<u8>(e, (sOs | (sAs << 4)) as u8, 11);
  store<u8>(e, sMod as u8, 12);
  store<u8>(e, sReg as u8, 13);
  store<u8>(e, sRm as u8, 14);
  store<i8>(e, sBase as i8, 15);
  store<i8>(e, sIndex as i8, 16);
  store<u8>(e, ((sScale as i32) | (sRipRel ? 16 : 0) | (sDefSeg << 5)) as u8, 17);
  store<u16>(e, sImm2 as u16, 18);
  store<i32>(e, sDisp as i32, 20);
  store<u64>(e, sImm, 24);
  store<u16>(e, 0, 60);
  if (host != 0) { specialise(e, mode); jitMark(e, host, mode); perfInc(PC_DCACHE_FILL); }
  else store<u8>(e, 0, 32); // F_GEN
}

// Decode the instruction at `lin` into the cache (or the scratch entry when it cannot be cached) and
// point E at it. Returns false after a fault.
@inline export function decodeCached(lin: u64): bool {
  if (!is64 && (flatMask & (1 << SEG_CS)) == 0) { // CS limit checks: no cache
    if (!decode(lin)) return false;
    store_entry(DECODE_SCRATCH, 0);
    E = DECODE_SCRATCH;
    return true;
  }
  const host = fetchHostFast(lin);
  if (host == NO_HOST) return false;
  const e = dcacheFind(host, dcacheKey(host, mode));
  if (e != 0) { E = e; return true; }
  if (!decode(lin)) return false;
  if ((host & 0xfff) + sLen <= 0x1000) { const v = dcacheVictim(host); store_entry(v, host); E = v; }
  else { store_entry(DECODE_SCRATCH, 0); E = DECODE_SCRATCH; }
  return true;
}

// The fast run loop's miss path: decode the instruction at `lin` (host address `host`, from the
// TLB) into its cache entry, or the scratch entry when it crosses a page. Returns the entry, or 0
// after a fault. The bytes on the page of `host` are read there (the run loop found its execute
// translation in the TLB, so fetchHost would return the same address and change nothing).
export function decodeEntry(lin: u64, host: i32): i32 {
  hostStart = host;
  const ok = decode(lin);
  hostStart = 0;
  if (!ok) return 0;
  if ((host & 0xfff) + sLen <= 0x1000) {
    const e = dcacheVictim(host);
    store_entry(e, host);
    return e;
  }
  store_entry(DECODE_SCRATCH, 0);
  return DECODE_SCRATCH;
}

// For the JIT (host/jit/): decode the instruction at `lin` (host address `host`) into its cache entry
// without touching the page after it. Returns the entry, or 0 (a fault, which is not raised, or an
// instruction that crosses the page).
export function jitDecode(lin: u64, host: i32): i32 {
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  noCross = true;
  crossed = false;
  hostStart = host;
  const e = decode(lin) && !crossed && (host & 0xfff) + sLen <= 0x1000 ? host : 0;
  hostStart = 0;
  noCross = false;
  if (fault) { clearFault(); store<u64>(CPU_STATE + CPU_CR2, cr2); return 0; }
  if (e == 0) return 0;
  const found = dcacheFind(host, dcacheKey(host, mode));
  const seen = found != 0; // it ran since it was last decoded
  const ent = seen ? found : dcacheVictim(host);
  store_entry(ent, host);
  // The host reads a copy with the instruction's own fast form (the cache entry may be a region's F_JIT).
  memory.copy(JIT_SCRATCH, ent, 64);
  if (load<u8>(JIT_SCRATCH, 32) == F_JIT) specialise(JIT_SCRATCH, mode);
  store<u8>(JIT_SCRATCH, seen ? 1 : 0, 62);
  return JIT_SCRATCH;
}
const JIT_SCRATCH: i32 = memory.data(64, 64) as i32;

// For the hypervisor's instruction emulator (cpu/emul.ts): decode the instruction at `lin` into an
// entry of its own and point E at it, raising nothing (false: it could not be fetched, and the
// fault and CR2 are as they were). decodeAsideDone() points E back at the entry it left.
const ASIDE: i32 = memory.data(64, 64) as i32;
let asideSaved: i32 = DECODE_SCRATCH;
export function decodeAside(lin: u64): bool {
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  asideSaved = E;
  if (!decode(lin)) { clearFault(); store<u64>(CPU_STATE + CPU_CR2, cr2); return false; }
  store_entry(ASIDE, 0);
  E = ASIDE;
  return true;
}
export function decodeAsideDone(): void { E = asideSaved; }
