// Architectural bit constants shared by cpu/ and mmu/ (a leaf module: it imports nothing), so the page
// walker and the TLB need not import the CPU state.

// Control-register bits.
export const CR0_PE: u64 = 1; export const CR0_MP: u64 = 2; export const CR0_EM: u64 = 4;
export const CR0_TS: u64 = 8; export const CR0_ET: u64 = 16; export const CR0_NE: u64 = 32;
export const CR0_WP: u64 = 1 << 16; export const CR0_AM: u64 = 1 << 18; export const CR0_PG: u64 = 1 << 31;
export const CR4_VME: u64 = 1; export const CR4_PVI: u64 = 2; export const CR4_TSD: u64 = 4;
export const CR4_DE: u64 = 8; export const CR4_PSE: u64 = 16; export const CR4_PAE: u64 = 32;
export const CR4_MCE: u64 = 64; export const CR4_PGE: u64 = 128; export const CR4_PCE: u64 = 256;
export const CR4_OSFXSR: u64 = 512; export const CR4_OSXMMEXCPT: u64 = 1024;
export const CR4_FSGSBASE: u64 = 1 << 16; export const CR4_OSXSAVE: u64 = 1 << 18;
export const CR4_SMEP: u64 = 1 << 20; export const CR4_SMAP: u64 = 1 << 21;
export const EFER_SCE: u64 = 1; export const EFER_LME: u64 = 1 << 8; export const EFER_LMA: u64 = 1 << 10;
export const EFER_NXE: u64 = 1 << 11;

// Access kinds, equal to the #PF error-code bits they cause.
export const ACC_R = 0;
export const ACC_W = 2;
export const ACC_U = 4;
export const ACC_X = 16;

// #PF error-code bits (those the page walker sets itself; the access kinds above supply W, U and I).
export const PF_P = 1;
export const PF_RSVD = 8;
