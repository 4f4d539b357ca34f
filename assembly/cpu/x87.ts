// x87: the control instructions only (FNINIT FNCLEX FNSTCW FLDCW FNSTSW m16/AX FNOP). The x87 state
// lives in the FXSAVE image (sse.ts): FCW +0, FSW +2, abridged FTW +4, FOP +6, FIP +8, FDP +16.
// Every x87 instruction raises #NM when CR0.EM or CR0.TS is set; the arithmetic ones (not implemented
// yet) then raise #UD. Pending unmasked x87 exceptions (FSW.ES) do not raise #MF yet.
import { CPU_STATE, CPU_CR0 } from "../memmap";
import { CR0_EM, CR0_TS, RAX, setReg16 } from "./state";
import { fault, raiseUD, raiseNM } from "./fault";
import { dMod, dReg, dRm } from "./decode";
import { memLin } from "./ea";
import { rdN, wrN } from "../mmu/tlb";
import { FX } from "./sse";

// FSW.ES and FSW.B follow the unmasked exception flags (after FLDCW, FXRSTOR).
export function x87StatusSync(): void {
  const cw = load<u16>(FX) as u32, sw = load<u16>(FX, 2) as u32;
  const pend = (sw & ~cw & 0x3f) != 0;
  store<u16>(FX, ((sw & ~0x8080) | (pend ? 0x8080 : 0)) as u16, 2);
}

export function fninit(): void {
  store<u16>(FX, 0x037f);
  store<u16>(FX, 0, 2);
  store<u16>(FX, 0, 4); // all registers empty
  store<u16>(FX, 0, 6);
  store<u64>(FX, 0, 8);
  store<u64>(FX, 0, 16);
}

export function x87Op(op: i32): void {
  const c0 = load<u64>(CPU_STATE + CPU_CR0);
  if ((c0 & (CR0_EM | CR0_TS)) != 0) { raiseNM(); return; }
  const k = dReg() & 7;
  const reg = dMod() == 3;
  const rm = dRm() & 7;
  switch (op) {
    case 0xd9:
      if (!reg && k == 5) { // FLDCW m16
        const lin = memLin(2, false);
        if (fault) return;
        const v = rdN(lin, 2) as u32;
        if (fault) return;
        store<u16>(FX, ((v & 0x1f3f) | 0x40) as u16);
        x87StatusSync();
        return;
      }
      if (!reg && k == 7) { // FNSTCW m16
        const lin = memLin(2, true);
        if (fault) return;
        wrN(lin, 2, load<u16>(FX) as u64);
        return;
      }
      if (reg && k == 2 && rm == 0) return; // FNOP
      break;
    case 0xdb:
      if (reg && k == 4) {
        if (rm == 3) { fninit(); return; }
        if (rm == 2) { store<u16>(FX, (load<u16>(FX, 2) & 0x7f00) as u16, 2); return; } // FNCLEX
        if (rm <= 1 || rm == 4) return; // FENI FDISI FSETPM: no-ops since the 80287
      }
      break;
    case 0xdd:
      if (!reg && k == 7) { // FNSTSW m16
        const lin = memLin(2, true);
        if (fault) return;
        wrN(lin, 2, load<u16>(FX, 2) as u64);
        return;
      }
      break;
    case 0xdf:
      if (reg && k == 4 && rm == 0) { setReg16(RAX, load<u16>(FX, 2) as u32); return; } // FNSTSW AX
      break;
    default: break;
  }
  raiseUD(); // x87 arithmetic: not implemented
}
