// What the page walker and the TLB read from outside the MMU, kept in a leaf module so that neither
// imports the CPU state: the guest-physical window (set by setPhysWindow, mmu/tlb.ts) and two values
// cpu/state.ts derives from the vCPU state (cpuStateChanged, setCpl).

// Guest-physical to host-linear: host = phys + physBase for phys < physLimit.
// Bare machines: physBase = MACHINE_BASE, physLimit = RAM size. PV: physBase = 0 (machine address ==
// linear address), physLimit = end of machine memory.
export let physBase: u64 = 0;
export let physLimit: u64 = 0;
// 1 when CPL == 3: user-mode page accesses (ORed into TLB tags).
export let userAcc: i64 = 0;
// CR0.PG.
export let paging: bool = false;
