// console_io, xen_version, vm_assist.
import { HV_OUT, HV_OUT_LEN } from "../memmap";
import { currentDom, domIs64, domU32, setDomU32, D_VM_ASSIST, D_PRIVILEGED } from "../domain/domain";
import * as A from "./abi";
import { copyFromGuest, copyToGuest, rdG32, wrG32, wrG64, gOk, gReset, guestAddr, NO_HOST } from "../hv/guest";
import { HVX_OUTPUT } from "../memmap";
import { requestHostExit } from "../hv/clock";
import { continuation } from "./args";
import { consoleRead } from "../hv/virq";

export const HV_OUT_SIZE = 0x1000;

// CONSOLEIO_write: the bytes go to the host's console (HV_OUT holds records: u32 domain, u32 length,
// bytes padded to 4). When the buffer fills, the run loop stops for the host to drain it, and the rest
// of the write is a continuation: the hypercall instruction runs again with the remaining bytes, as
// Xen's hypercall_create_continuation does.
// CONSOLEIO_read: the hypervisor console's input (hv/virq.ts), for the VIRQ_CONSOLE handler.
export function hcConsoleIo(cmd: u64, count: u64, buf: u64): i64 {
  if (cmd == A.CONSOLEIO_read) return consoleRead(count, buf);
  if (cmd != A.CONSOLEIO_write) return -A.ENOSYS;
  if (count > 0x7fffffff) return -A.EINVAL;
  let used = load<u32>(HV_OUT_LEN) as i32;
  const room = HV_OUT_SIZE - used - 8;
  let n = count as i32;
  if (n > room) n = room > 0 ? room : 0;
  if (n > 0) {
    const rec = HV_OUT + used;
    if (!copyFromGuest(rec + 8, buf, n)) return -A.EFAULT;
    store<u32>(rec, currentDom);
    store<u32>(rec + 4, n);
    used += 8 + ((n + 3) & ~3);
    store<u32>(HV_OUT_LEN, used);
  }
  if (used > HV_OUT_SIZE / 2 || (n as u64) < count) requestHostExit(HVX_OUTPUT);
  if ((n as u64) < count && continuation(1, count - (n as u64), 2, buf + (n as u64))) return 0;
  return 0;
}

function putStr(va: u64, s: string, size: i32): bool {
  // A NUL-terminated string in a fixed-size guest buffer.
  const g = guestAddr(va, size, true);
  if (g == NO_HOST) {
    // Split over pages: byte by byte.
    gReset();
    for (let i = 0; i < size; i++) {
      const c = i < s.length ? s.charCodeAt(i) as u32 : 0;
      const h = guestAddr(va + (i as u64), 1, true);
      if (h == NO_HOST) return false;
      store<u8>(h, c as u8);
    }
    return true;
  }
  for (let i = 0; i < size; i++) store<u8>(g + i, i < s.length ? s.charCodeAt(i) as u8 : 0);
  return true;
}

export function hcXenVersion(cmd: u64, arg: u64): i64 {
  const d = currentDom;
  switch (cmd as i32) {
    case A.XENVER_version: return (A.XEN_VERSION_MAJOR << 16) | A.XEN_VERSION_MINOR;
    case A.XENVER_extraversion: return putStr(arg, "-xenwasm", 16) ? 0 : -A.EFAULT;
    case A.XENVER_compile_info: {
      if (!putStr(arg, "assemblyscript", 64) || !putStr(arg + 64, "xenwasm", 16) ||
        !putStr(arg + 80, "xenwasm.invalid", 32) || !putStr(arg + 112, "2026-11-25", 32)) return -A.EFAULT;
      return 0;
    }
    case A.XENVER_capabilities:
      return putStr(arg, "xen-3.0-x86_64 xen-3.0-x86_32p ", 1024) ? 0 : -A.EFAULT;
    case A.XENVER_changeset: return putStr(arg, "xenwasm", 64) ? 0 : -A.EFAULT;
    case A.XENVER_platform_parameters: {
      gReset();
      if (domIs64(d)) wrG64(arg, A.HYPERVISOR_VIRT_START_64); else wrG32(arg, A.HYPERVISOR_VIRT_START_32);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.XENVER_get_features: {
      gReset();
      const idx = rdG32(arg);
      if (!gOk) return -A.EFAULT;
      if (idx != 0) return -A.EINVAL;
      let bits: u32 = 0;
      if (idx == 0) {
        // As Xen for x86 PV: preserve_ad, highmem_assist, gnttab_map_avail_bits, vnode, direct_mapped;
        // pae_pgdir_above_4gb once the pae_extended_cr3 assist is on.
        bits = (1 << A.XENFEAT_mmu_pt_update_preserve_ad) | (1 << A.XENFEAT_highmem_assist) |
          (1 << A.XENFEAT_gnttab_map_avail_bits) | (1 << A.XENFEAT_memory_op_vnode_supported) | (1 << 17);
        if ((domU32(d, D_VM_ASSIST) & (1 << A.VMASST_TYPE_pae_extended_cr3)) != 0)
          bits |= 1 << A.XENFEAT_pae_pgdir_above_4gb;
        if (domU32(d, D_PRIVILEGED) != 0) bits |= 1 << A.XENFEAT_dom0;
      }
      wrG32(arg + 4, bits);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.XENVER_pagesize: return 4096;
    case A.XENVER_guest_handle: {
      gReset();
      for (let i = 0; i < 16; i += 4) wrG32(arg + (i as u64), 0);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.XENVER_commandline: return putStr(arg, "", 1024) ? 0 : -A.EFAULT;
    case A.XENVER_build_id: return -61; // ENODATA: this build has no build id
    case 11: return varbuf(arg, "-xenwasm"); // extraversion2
    case 12: return varbuf(arg, "xen-3.0-x86_64 xen-3.0-x86_32p "); // capabilities2
    case 13: return varbuf(arg, "xenwasm"); // changeset2
    case 14: return varbuf(arg, ""); // commandline2
    default: return -A.ENOSYS;
  }
}

// struct xen_varbuf { u32 len (IN: room, OUT: length); u8 buf[] }: returns the length; len 0 asks for
// it; too little room gives -ENOBUFS.
function varbuf(arg: u64, str: string): i64 {
  gReset();
  const room = rdG32(arg);
  if (!gOk) return -A.EFAULT;
  const n = str.length;
  if (room == 0) return n;
  if ((room as i32) < n) return -105; // ENOBUFS
  for (let i = 0; i < n; i++) {
    const h = guestAddr(arg + 4 + (i as u64), 1, true);
    if (h == NO_HOST) return -A.EFAULT;
    store<u8>(h, str.charCodeAt(i) as u8);
  }
  wrG32(arg, n as u32);
  return gOk ? n : -A.EFAULT;
}

export function hcVmAssist(cmd: u64, type: u64): i64 {
  if (type > 31) return -A.EINVAL;
  const allowed: u32 = (1 << A.VMASST_TYPE_4gb_segments) | (1 << A.VMASST_TYPE_4gb_segments_notify) |
    (1 << A.VMASST_TYPE_writable_pagetables) | (1 << A.VMASST_TYPE_pae_extended_cr3) |
    (1 << A.VMASST_TYPE_architectural_iopl) | (1 << A.VMASST_TYPE_runstate_update_flag);
  const bit: u32 = 1 << (type as u32);
  if ((allowed & bit) == 0) return -A.EINVAL;
  const d = currentDom;
  if (cmd == A.VMASST_CMD_enable) setDomU32(d, D_VM_ASSIST, domU32(d, D_VM_ASSIST) | bit);
  else if (cmd == A.VMASST_CMD_disable) setDomU32(d, D_VM_ASSIST, domU32(d, D_VM_ASSIST) & ~bit);
  else return -A.EINVAL;
  return 0;
}

export { copyToGuest };
