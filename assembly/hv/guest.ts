// Access to the running vCPU's guest-virtual memory from the hypervisor (hypercall arguments, bounce
// frames). Translation goes through the guest's own page tables at the guest kernel's privilege, so a
// guest can only hand the hypervisor pointers to memory it could reach itself; a bad pointer gives
// false / -EFAULT and leaves the guest's state (CR2, pending faults) untouched.
import { CPU_STATE, CPU_CR2, NO_HOST } from "../memmap";
import { cpl } from "../cpu/state";
import { fault, clearFault } from "../cpu/fault";
import { xlate } from "../mmu/tlb";
import { ACC_U, ACC_W } from "../bits";
import { frameWritten } from "../domain/mm";

@inline function accGuest(): i32 { return cpl() == 3 ? ACC_U : 0; }

// Host address of `size` bytes at guest VA `va` (not crossing a page), or NO_HOST.
export function guestAddr(va: u64, size: i32, write: bool): i32 {
  if (((va as i32) & 0xfff) > 0x1000 - size) return NO_HOST;
  const cr2 = load<u64>(CPU_STATE + CPU_CR2);
  const h = xlate(va, size, accGuest() | (write ? ACC_W : 0));
  if (fault) {
    clearFault();
    store<u64>(CPU_STATE + CPU_CR2, cr2);
    return NO_HOST;
  }
  return h;
}

export { NO_HOST };

export let gOk: bool = true; // cleared by a failed read/write below
export function gReset(): void { gOk = true; }

export function rdG64(va: u64): u64 {
  const h = guestAddr(va, 8, false);
  if (h == NO_HOST) { gOk = false; return 0; }
  return load<u64>(h);
}
export function rdG32(va: u64): u32 {
  const h = guestAddr(va, 4, false);
  if (h == NO_HOST) { gOk = false; return 0; }
  return load<u32>(h);
}
export function rdG16(va: u64): u32 {
  const h = guestAddr(va, 2, false);
  if (h == NO_HOST) { gOk = false; return 0; }
  return load<u16>(h);
}
export function wrG64(va: u64, v: u64): void {
  const h = guestAddr(va, 8, true);
  if (h == NO_HOST) { gOk = false; return; }
  store<u64>(h, v);
}
export function wrG16(va: u64, v: u16): void {
  const h = guestAddr(va, 2, true);
  if (h == NO_HOST) { gOk = false; return; }
  store<u16>(h, v);
}
export function wrG32(va: u64, v: u32): void {
  const h = guestAddr(va, 4, true);
  if (h == NO_HOST) { gOk = false; return; }
  store<u32>(h, v);
}

// Copy `len` bytes between guest VA and hypervisor memory, page by page. False on a bad pointer
// (a copy to the guest may then have written a prefix, as Xen's copy_to_guest does).
export function copyFromGuest(dst: i32, va: u64, len: i32): bool {
  let done = 0;
  while (done < len) {
    const a = va + (done as u64);
    let n = 0x1000 - ((a as i32) & 0xfff);
    if (n > len - done) n = len - done;
    const h = guestAddr(a, n, false);
    if (h == NO_HOST) return false;
    memory.copy(dst + done, h, n);
    done += n;
  }
  return true;
}

export function copyToGuest(va: u64, src: i32, len: i32): bool {
  let done = 0;
  while (done < len) {
    const a = va + (done as u64);
    let n = 0x1000 - ((a as i32) & 0xfff);
    if (n > len - done) n = len - done;
    const h = guestAddr(a, n, true);
    if (h == NO_HOST) return false;
    memory.copy(h, src + done, n);
    frameWritten((h >>> 12) as u32);
    done += n;
  }
  return true;
}
