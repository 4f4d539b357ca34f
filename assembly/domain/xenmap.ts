// The hypervisor's own mappings inside every PV guest's address space: the machine-to-phys table,
// read-only (64-bit guests: L4 slot 256 at 0xFFFF800000000000; 32-bit PAE guests: the top L2 from
// 0xF5800000), and the reserved GDT page (selectors 0xe000 and up) for each guest width.
import {
  M2P64_BASE, M2P32_BASE, XEN_GDT64, XEN_GDT32, XEN_M2P64_L3_PAGE, XEN_M2P64_L2_PAGE,
} from "../memmap";
export { XEN_M2P64_L3_PAGE, XEN_M2P64_L2_PAGE };

const P: u64 = 1, US: u64 = 4, A: u64 = 0x20, PS: u64 = 0x80;
// Entry values the page-table code installs in guest tables.
export const XEN_M2P64_L3: u64 = (XEN_M2P64_L3_PAGE as u64) | P | US | A; // an L4 entry
export const XEN_M2P32_L2E0: u64 = (M2P32_BASE as u64) | P | US | A | PS; // 2 MiB pages, read-only
export const XEN_M2P32_L2E1: u64 = ((M2P32_BASE + 0x200000) as u64) | P | US | A | PS;

// Flat descriptor: base 0, limit 4 GiB, type (4 bits), DPL; long = 64-bit code.
function flat(type: u32, dpl: u32, long: bool): u64 {
  const hi: u32 = (type << 8) | (1 << 12) | (dpl << 13) | (1 << 15) | 0xf0000 | (long ? 1 << 21 : 1 << 22) | (1 << 23);
  return ((hi as u64) << 32) | 0xffff;
}

export function xenmapInit(): void {
  memory.fill(XEN_M2P64_L3_PAGE, 0, 4096);
  memory.fill(XEN_M2P64_L2_PAGE, 0, 4096);
  store<u64>(XEN_M2P64_L3_PAGE, (XEN_M2P64_L2_PAGE as u64) | P | US | A);
  for (let i = 0; i < 4; i++)
    store<u64>(XEN_M2P64_L2_PAGE + i * 8, ((M2P64_BASE + i * 0x200000) as u64) | P | US | A | PS);
  // Reserved GDT entries (offsets from 0xe000), accessed bits preset.
  memory.fill(XEN_GDT64, 0, 4096);
  memory.fill(XEN_GDT32, 0, 4096);
  store<u64>(XEN_GDT64 + 0x20, flat(0xb, 3, false)); // 0xe023 ring-3 code, 32-bit
  store<u64>(XEN_GDT64 + 0x28, flat(0x3, 3, false)); // 0xe02b ring-3 data
  store<u64>(XEN_GDT64 + 0x30, flat(0xb, 3, true)); // 0xe033 ring-3 code, 64-bit
  store<u64>(XEN_GDT32 + 0x18, flat(0xb, 1, false)); // 0xe019 ring-1 code
  store<u64>(XEN_GDT32 + 0x20, flat(0x3, 1, false)); // 0xe021 ring-1 data
  store<u64>(XEN_GDT32 + 0x28, flat(0xb, 3, false)); // 0xe02b ring-3 code
  store<u64>(XEN_GDT32 + 0x30, flat(0x3, 3, false)); // 0xe033 ring-3 data
}
