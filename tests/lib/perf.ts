// The hypervisor's counters as one flat record (bench/fork.ts --profile, tests/fork.test.ts): hypercalls by
// name (multicall entries counted as the calls they are), the core's performance counters (hv_perf: what the
// PV MMU paths did) and the JIT's (invalidations, entries).
import type { Core } from "../../host/core";

const HC_NAMES: Record<number, string> = {
  0: "set_trap_table", 1: "mmu_update", 2: "set_gdt", 3: "stack_switch", 4: "set_callbacks", 5: "fpu_taskswitch",
  6: "sched_op_compat", 10: "update_descriptor", 12: "memory_op", 13: "multicall", 14: "update_va_mapping",
  15: "set_timer_op", 17: "xen_version", 18: "console_io", 20: "grant_table_op", 21: "vm_assist", 23: "iret",
  24: "vcpu_op", 25: "set_segment_base", 26: "mmuext_op", 29: "sched_op", 30: "callback_op",
  32: "event_channel_op", 33: "physdev_op",
};

// assembly/perf.ts PC_*, in order.
export const PERF_NAMES = [
  "dcache_fill", "dcache_inval", "tlb_flush_all", "tlb_flush_page", "tlb_fill", "mode_switch", "validate",
  "devalidate", "ptwr", "bounce", "code_page", "frame_release", "tlb_bank_clear", "hypercalls",
];

export function perfCounters(core: Core): Record<string, number> {
  const r: Record<string, number> = {};
  for (let i = 0; i < 64; i++) {
    const n = core.x.hv_hypercall_count(i);
    if (n) r[`hc_${HC_NAMES[i] ?? i}`] = n;
  }
  PERF_NAMES.forEach((name, k) => { r[name] = Number(core.x.perf_counter(k)); });
  if (core.jit) {
    const s = core.jit.stats();
    r.jit_invalidations = s.invalidations;
    r.jit_entries = s.entries;
    r.jit_steps = s.steps;
    r.jit_insns = s.insns;
    r.jit_compile_ms = s.compile_ms;
    r.jit_translate_ms = s.translate_ms;
    r.jit_regions = s.regions;
    r.jit_chains = s.chains;
    for (const [k, v] of Object.entries(s.exits)) r[`jit_exit_${k}`] = v;
  }
  return r;
}
