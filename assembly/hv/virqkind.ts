// The kind of each VIRQ and the handler domain of the global ones (hv/virq.ts sets them): what the event
// channels need to bind and send a VIRQ, in a module of its own so event/evtchn.ts need not import
// hv/virq.ts, which sends on event channels.
import { NR_VIRQS, VIRQ_TIMER, VIRQ_DEBUG, VIRQ_XENOPROF, VIRQ_XENPMU, VIRQ_ARGO } from "../hypercall/abi";

export const VIRQ_KIND_VCPU = 0;
export const VIRQ_KIND_GLOBAL = 1;
export const VIRQ_KIND_DOMAIN = 2;

// Xen's get_virq_type: TIMER, DEBUG, XENOPROF, XENPMU are per-vCPU; ARGO per-domain; everything else
// (the x86 arch VIRQs included) global.
export function virqKind(virq: u32): i32 {
  if (virq == VIRQ_TIMER || virq == VIRQ_DEBUG || virq == VIRQ_XENOPROF || virq == VIRQ_XENPMU) return VIRQ_KIND_VCPU;
  if (virq == VIRQ_ARGO) return VIRQ_KIND_DOMAIN;
  return VIRQ_KIND_GLOBAL;
}

// Handler domain of each global VIRQ (u32; 0 = the hardware domain, i.e. the host).
export const HANDLERS = memory.data(NR_VIRQS * 4) as i32;

export function globalVirqHandler(virq: u32): u32 {
  return virq < (NR_VIRQS as u32) ? load<u32>(HANDLERS + ((virq as i32) << 2)) : 0;
}
