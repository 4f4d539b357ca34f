// grant_table_op. This step: query_size, setup_table, get_version, set_version (v1 only). Mapping,
// unmapping and copy come next (they answer -ENOSYS until then); transfer is refused (-ENOSYS), as
// current Xen does for PV guests without it.
import { currentDom, domU32, setDomU32, domExists, D_GNT_FRAMES, D_GNT_FRAME0, D_GNT_VERSION, D_PRIVILEGED } from "../domain/domain";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, wrG32, wrG64, wrG16, gOk, gReset } from "../hv/guest";
import { domIs64 } from "../domain/domain";
import { domainAllocFrame } from "../hv/lifecycle";
import { NO_FRAME } from "../domain/frames";

export const MAX_GNT_FRAMES = 32;

// gnttab_query_size { u16 dom @0; OUT u32 nr_frames @4; OUT u32 max_nr_frames @8; OUT i16 status @12 }
// gnttab_setup_table { u16 dom @0; u32 nr_frames @4; OUT i16 status @8; OUT handle frame_list @16/@12 }
// gnttab_get_version { u16 dom @0; OUT u32 version @4 }   gnttab_set_version { IN/OUT u32 version @0 }
export function hcGrantTableOp(cmd: u64, p: u64, count: u64): i64 {
  const d = currentDom;
  const is64 = domIs64(d);
  gReset();
  switch (cmd as i32) {
    case A.GNTTABOP_query_size: {
      for (let i: u64 = 0; i < count; i++) {
        const e = p + i * 16;
        const dom = rdG16(e);
        if (!gOk) return -A.EFAULT;
        const t = dom == A.DOMID_SELF ? d : dom;
        if (t != d && (domU32(d, D_PRIVILEGED) == 0 || !domExists(t))) { wrG16(e + 12, (-3) as u16); continue; } // GNTST_bad_domain
        wrG32(e + 4, domU32(t, D_GNT_FRAMES));
        wrG32(e + 8, MAX_GNT_FRAMES);
        wrG16(e + 12, 0);
        if (!gOk) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_setup_table: {
      const sz: u64 = is64 ? 24 : 16;
      for (let i: u64 = 0; i < count; i++) {
        const e = p + i * sz;
        const dom = rdG16(e);
        const n = rdG32(e + 4);
        const list = is64 ? rdG64(e + 16) : rdG32(e + 12) as u64;
        if (!gOk) return -A.EFAULT;
        const t = dom == A.DOMID_SELF ? d : dom;
        if (t != d) { wrG16(e + 8, (-3) as u16); continue; }
        if (n > (MAX_GNT_FRAMES as u32)) { wrG16(e + 8, (-4) as u16); continue; } // GNTST_general_error
        // Grow the table to n frames (frames are the domain's own, shared with the hypervisor).
        let have = domU32(t, D_GNT_FRAMES);
        let st: i32 = 0;
        while (have < n) {
          const m = domainAllocFrame(t);
          if (m == NO_FRAME) { st = -4; break; }
          setDomU32(t, D_GNT_FRAME0 + ((have as i32) << 2), m << 12);
          have++;
          setDomU32(t, D_GNT_FRAMES, have);
        }
        if (st == 0) {
          if (domU32(t, D_GNT_VERSION) == 0) setDomU32(t, D_GNT_VERSION, 1);
          for (let k: u32 = 0; k < n; k++) {
            const mfn = (domU32(t, D_GNT_FRAME0 + ((k as i32) << 2)) >> 12) as u64;
            if (is64) wrG64(list + ((k * 8) as u64), mfn); else wrG32(list + ((k * 4) as u64), mfn as u32);
          }
        }
        wrG16(e + 8, st as u16);
        if (!gOk) return -A.EFAULT;
      }
      return 0;
    }
    case A.GNTTABOP_get_version: {
      const dom = rdG16(p);
      if (!gOk) return -A.EFAULT;
      const t = dom == A.DOMID_SELF ? d : dom;
      if (t != d && domU32(d, D_PRIVILEGED) == 0) return -A.EPERM;
      if (!domExists(t)) return -A.ESRCH;
      const ver = domU32(t, D_GNT_VERSION);
      wrG32(p + 4, ver == 0 ? 1 : ver);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.GNTTABOP_set_version: {
      const ver = rdG32(p);
      if (!gOk) return -A.EFAULT;
      if (ver != 1) { wrG32(p, 1); return -A.EINVAL; } // only v1 is offered
      setDomU32(d, D_GNT_VERSION, 1);
      return 0;
    }
    default: return -A.ENOSYS;
  }
}
