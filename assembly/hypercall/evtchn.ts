// event_channel_op(cmd, arg): argument structs (same layout for both widths):
//   alloc_unbound { u16 dom @0; u16 remote_dom @2; OUT u32 port @4 }
//   bind_interdomain { u16 remote_dom @0; u32 remote_port @4; OUT u32 local_port @8 }
//   bind_virq { u32 virq @0; u32 vcpu @4; OUT u32 port @8 }    bind_ipi { u32 vcpu @0; OUT u32 port @4 }
//   close / send / unmask { u32 port @0 }    bind_vcpu { u32 port @0; u32 vcpu @4 }
//   status { u16 dom @0; u32 port @4; OUT u32 status @8; OUT u32 vcpu @12; OUT union @16 }
//   reset { u16 dom @0 }
//   init_control { u64 control_gfn @0; u32 offset @8; u32 vcpu @12; OUT u8 link_bits @16 }
//   expand_array { u64 array_gfn @0 }    set_priority { u32 port @0; u32 priority @4 }
import { currentDom, domU32, domExists, D_PRIVILEGED } from "../domain/domain";
import * as A from "./abi";
import { rdG64, rdG32, rdG16, wrG32, gOk, gReset} from "../hv/guest";
import * as E from "../event/evtchn";

// The domain an operation names: as Xen's rcu_lock_domain_by_any_id then its XSM check, a domain that
// does not exist is -ESRCH (for anyone), another one -EPERM unless the caller is privileged.
function target(dom: u32): i32 {
  if (dom == A.DOMID_SELF || dom == currentDom) return currentDom as i32;
  if (!domExists(dom)) return -A.ESRCH;
  if (domU32(currentDom, D_PRIVILEGED) == 0) return -A.EPERM;
  return dom as i32;
}

export function hcEventChannelOp(cmd: u64, p: u64): i64 {
  const d = currentDom;
  gReset();
  switch (cmd as i32) {
    case A.EVTCHNOP_alloc_unbound: {
      const dom = rdG16(p), remote = rdG16(p + 2);
      if (!gOk) return -A.EFAULT;
      const t = target(dom);
      if (t < 0) return t;
      const r = E.allocUnbound(t as u32, remote);
      if (r < 0) return r;
      wrG32(p + 4, r as u32);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_bind_interdomain: {
      const remote = rdG16(p), rport = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      const r = E.bindInterdomain(d, remote, rport);
      if (r < 0) return r;
      wrG32(p + 8, r as u32);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_bind_virq: {
      const virq = rdG32(p), vc = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      const r = E.bindVirq(d, virq, vc);
      if (r < 0) return r;
      wrG32(p + 8, r as u32);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_bind_ipi: {
      const vc = rdG32(p);
      if (!gOk) return -A.EFAULT;
      const r = E.bindIpi(d, vc);
      if (r < 0) return r;
      wrG32(p + 4, r as u32);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_close: { const port = rdG32(p); if (!gOk) return -A.EFAULT; return E.close(d, port); }
    case A.EVTCHNOP_send: { const port = rdG32(p); if (!gOk) return -A.EFAULT; return E.send(d, port); }
    case A.EVTCHNOP_unmask: { const port = rdG32(p); if (!gOk) return -A.EFAULT; return E.unmask(d, port); }
    case A.EVTCHNOP_bind_vcpu: {
      const port = rdG32(p), vc = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      return E.bindVcpu(d, port, vc);
    }
    case A.EVTCHNOP_status: {
      const dom = rdG16(p), port = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      const t = target(dom);
      if (t < 0) return t;
      const r = E.status(t as u32, port);
      if (r < 0) return r;
      wrG32(p + 8, E.stStatus); wrG32(p + 12, E.stVcpu); wrG32(p + 16, E.stA); wrG32(p + 20, E.stB);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_reset: {
      const dom = rdG16(p);
      if (!gOk) return -A.EFAULT;
      const t = target(dom);
      if (t < 0) return t;
      return E.reset(t as u32);
    }
    case A.EVTCHNOP_init_control: {
      const gfn = rdG64(p), offset = rdG32(p + 8), vc = rdG32(p + 12);
      if (!gOk) return -A.EFAULT;
      const r = E.fifoInitControl(d, gfn, offset, vc);
      if (r < 0) return r;
      const w = rdG32(p + 16); // link_bits: written back only on success, as Xen
      wrG32(p + 16, (w & 0xffffff00) | E.FIFO_LINK_BITS);
      return gOk ? 0 : -A.EFAULT;
    }
    case A.EVTCHNOP_expand_array: {
      const gfn = rdG64(p);
      if (!gOk) return -A.EFAULT;
      return E.fifoExpandArray(d, gfn);
    }
    case A.EVTCHNOP_set_priority: {
      const port = rdG32(p), prio = rdG32(p + 4);
      if (!gOk) return -A.EFAULT;
      return E.fifoSetPriority(d, port, prio);
    }
    default: return -A.ENOSYS;
  }
}
