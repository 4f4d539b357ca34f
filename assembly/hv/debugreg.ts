// A PV guest's debug registers, as Xen gives them (set_debugreg in xen/arch/x86/pv/misc-hypercalls.c,
// x86emul_read_dr): HYPERVISOR_set_debugreg/get_debugreg and the kernel's emulated MOV to/from DRn.
// They live in the vCPU's CPU state block (CPU_DR), where the CPU's breakpoints (cpu/debug.ts) find
// them; the I/O-breakpoint enables of DR7 are kept apart (CPU_DR7_EMUL) and emulated here, since the
// CPU never sees a PV guest's port I/O.
//   - DR0-3: a linear address in the lower canonical half or above Xen's area (__addr_ok), else -EPERM.
//   - DR4/DR5: aliases of DR6/DR7, unless the guest's CR4.DE is set: then -ENODEV (#UD for MOV).
//   - DR6/DR7: upper 32 bits set: -EINVAL; reserved bits forced; DR7.GD: -EPERM; an I/O breakpoint
//     (RW = 10) anywhere in DR7 while it enables something needs the guest's CR4.DE, else -EPERM.
//   - any other register: -ENODEV.
import { CPU_STATE, CPU_DR, CPU_DR7_EMUL, CPU_DBG_PENDING, CPU_DR6, CPU_DR7 } from "../memmap";
import { dr6Adjust, dr7Adjust, dbgRecompute, dbgMergeDr6, DR7_GD, DR7_ACTIVE } from "../cpu/debug";
import { bpWidth } from "../cpu/dbgdata";
import { current, currentDom, vcpu, domIs64, V_GUEST_CR4 } from "../domain/domain";
import { HYPERVISOR_VIRT_END_64, EPERM, EINVAL, ENODEV } from "../hypercall/abi";

const CR4_DE: u64 = 8;

// Breakpoint addresses Xen accepts (both widths: 64-bit Xen never enforced the compat guests' limit).
export function breakpointAddrOk(a: u64): bool { return a < 0x800000000000 || a >= HYPERVISOR_VIRT_END_64; }

function guestDe(): bool { return (load<u64>(vcpu(current as u32) + V_GUEST_CR4) & CR4_DE) != 0; }

// 0, or -EPERM / -EINVAL / -ENODEV.
export function pvSetDebugreg(reg: u32, value: u64): i64 {
  if (!domIs64(currentDom)) value &= 0xffffffff;
  switch (reg) {
    case 0: case 1: case 2: case 3:
      if (!breakpointAddrOk(value)) return -EPERM;
      store<u64>(CPU_STATE + CPU_DR + ((reg as i32) << 3), value);
      dbgRecompute();
      return 0;
    case 4: case 6:
      if (reg == 4 && guestDe()) return -ENODEV;
      if ((value >> 32) != 0) return -EINVAL;
      store<u64>(CPU_STATE + CPU_DR6, dr6Adjust(value as u32) as u64);
      return 0;
    case 5: case 7: {
      if (reg == 5 && guestDe()) return -ENODEV;
      if ((value >> 32) != 0) return -EINVAL;
      let v = dr7Adjust(value as u32);
      if ((v & DR7_GD) != 0) return -EPERM;
      let io: u32 = 0;
      if ((v & DR7_ACTIVE) != 0) {
        for (let i = 0; i < 4; i++) {
          if (((v >> ((16 + (i << 2)) as u32)) & 3) != 2) continue;
          if (!guestDe()) return -EPERM;
          io |= v & ((3 << (i << 1)) as u32);
        }
      }
      v &= ~io;
      store<u64>(CPU_STATE + CPU_DR7_EMUL, io as u64);
      store<u64>(CPU_STATE + CPU_DR7, v as u64);
      dbgRecompute();
      return 0;
    }
    default: return -ENODEV;
  }
}

// get_debugreg's value; getDrOk false (-ENODEV) for a register that does not read.
export let getDrOk: bool = true;
export function pvGetDebugreg(reg: u32): u64 {
  getDrOk = true;
  switch (reg) {
    case 0: case 1: case 2: case 3: return load<u64>(CPU_STATE + CPU_DR + ((reg as i32) << 3));
    case 4: case 6:
      if (reg == 4 && guestDe()) break;
      return load<u64>(CPU_STATE + CPU_DR6);
    case 5: case 7:
      if (reg == 5 && guestDe()) break;
      return load<u64>(CPU_STATE + CPU_DR7) | load<u64>(CPU_STATE + CPU_DR7_EMUL);
    default: break;
  }
  getDrOk = false;
  return 0;
}

// Port I/O the hypervisor emulated for the guest (`port`, `size` bytes): the I/O breakpoints it
// matches (B0-B3; needs the guest's CR4.DE), as Xen's check_guest_io_breakpoint.
export function ioBreakpoints(port: u32, size: u32): u32 {
  const emul = load<u64>(CPU_STATE + CPU_DR7_EMUL) as u32;
  if (emul == 0 || !guestDe()) return 0;
  const d7 = (load<u64>(CPU_STATE + CPU_DR7) as u32) | emul;
  let hits: u32 = 0;
  for (let i = 0; i < 4; i++) {
    if ((emul & ((3 << (i << 1)) as u32)) == 0) continue;
    const w = bpWidth(d7, i);
    const a = load<u64>(CPU_STATE + CPU_DR + (i << 3)) & 0xffff & ~(w - 1);
    const p = port as u64;
    if (p < a + w && a < p + (size as u64)) hits |= (1 << i) as u32;
  }
  return hits;
}

// A save file's debug registers (untrusted), checked as Xen's arch_set_info_guest does: false for
// an address Xen refuses or a DR6/DR7 with upper bits; the rest normalised as set_debugreg would.
export function debugregsValid(rec: i32, is64: bool): bool {
  for (let i = 0; i < 4; i++) {
    const a = load<u64>(rec + CPU_DR + (i << 3));
    if (!breakpointAddrOk(is64 ? a : a & 0xffffffff)) return false;
  }
  const d6 = load<u64>(rec + CPU_DR6), d7 = load<u64>(rec + CPU_DR7), emul = load<u64>(rec + CPU_DR7_EMUL);
  if ((d6 >> 32) != 0 || (d7 >> 32) != 0 || (emul & ~(DR7_ACTIVE as u64)) != 0) return false;
  store<u64>(rec + CPU_DR6, dr6Adjust(d6 as u32) as u64);
  let v = dr7Adjust(d7 as u32);
  if ((v & DR7_GD) != 0) return false;
  store<u64>(rec + CPU_DR7, v as u64);
  store<u32>(rec + CPU_DBG_PENDING, load<u32>(rec + CPU_DBG_PENDING) & 0xe00f);
  return true;
}

export { dbgMergeDr6 };
