// The PV domain builder (what libxenguest does for xl): lays out a PV kernel's start-of-day memory
// as Xen's toolstack does and hands the domain to the hypervisor. One contiguous virtual region from
// VIRT_BASE maps pseudo-physical page p at VIRT_BASE + p*4096: the kernel image, the ramdisk, the p2m
// list, start_info, the xenstore and console pages, the initial page tables (mapped read-only), the
// boot stack, then at least 512 KiB of free pages, the whole ending on a 4 MiB boundary (or at the
// domain's last page when it is smaller).
import { Core, MM } from "../core";
import { D_SHARED_INFO } from "../../assembly/records";
import { DamagedKernel, PvImage, elfSource, XEN_ELFNOTE as N, noteNum, noteStr, hex } from "./xenelf";

export interface BuildOptions {
  memoryMiB: number;
  cmdline?: string;
  ramdisk?: Uint8Array;
  vcpus?: number;
  /** xl's maxvcpus: of the `vcpus` built, the first `vcpusOnline` are available to the guest at start (its
   * xenstore cpu/N/availability; the others for `xm vcpu-set`). Default: all. */
  vcpusOnline?: number;
}

export interface BuiltDomain {
  domid: number;
  bits: 32 | 64;
  nrPages: number;
  /** Machine address of the console ring page, its event channel in the guest and the host's end. */
  consoleMa: number;
  consolePort: number;
  consoleHostPort: number;
  storeMa: number;
  storePort: number;
  storeHostPort: number;
  startInfoVa: bigint;
}

const PAGE = 4096n;
const M4 = 4n << 20n;

export class BuildError extends Error {}

// Page-table pages needed to map [base, end) (count per level).
function ptCount(bits: 32 | 64, base: bigint, end: bigint): number {
  const span = (shift: bigint) => Number(((end - 1n) >> shift) - (base >> shift) + 1n);
  if (bits === 64) return 1 + span(39n) + span(30n) + span(21n);
  // PAE: the L3, an L2 per GiB (and always the one for slot 3), an L1 per 2 MiB.
  const lo = Number((base >> 30n) & 3n), hi = Number(((end - 1n) >> 30n) & 3n);
  const l2 = hi - lo + 1 + (hi < 3 ? 1 : 0);
  return 1 + l2 + span(21n);
}

export function buildDomain(core: Core, img: PvImage, o: BuildOptions): BuiltDomain {
  const x = core.x;
  const bits = img.bits;
  const w = bits === 64 ? 8 : 4;
  if (img.notes.size === 0) throw new BuildError("not a Xen PV kernel (no Xen ELF notes)");
  const virtBase = noteNum(img, N.VIRT_BASE) ?? 0n;
  const paddrOffset = img.notes.size > 0 ? (noteNum(img, N.PADDR_OFFSET) ?? 0n) : virtBase;
  const entry = noteNum(img, N.ENTRY) ?? img.entry;
  const pae = noteStr(img, N.PAE_MODE);
  if (bits === 32 && (!pae || !/^(yes|bimodal)/.test(pae)))
    throw new BuildError("32-bit PV kernels must be PAE (no PAE_MODE=yes note): a 64-bit Xen cannot run them");
  const mask = bits === 64 ? (1n << 64n) - 1n : 0xffffffffn;
  const va = (pa: bigint) => (pa + virtBase - paddrOffset) & mask;
  let kstart = -1n, kend = 0n;
  for (const s of img.segments) {
    const a = va(s.paddr);
    if (kstart < 0n || a < kstart) kstart = a;
    const e = a + BigInt(s.memsz);
    if (e > kend) kend = e;
  }
  if (kstart < virtBase)
    throw new BuildError(`kernel image at ${hex(kstart)} lies below its VIRT_BASE ${hex(virtBase)}`);
  const nrPages = Math.floor(o.memoryMiB * 256);
  if (!(nrPages >= 256)) throw new BuildError(`memory ${o.memoryMiB} MiB is too small (at least 1 MiB)`);
  const pfnOf = (v: bigint) => Number((v - virtBase) >> 12n);
  const pageUp = (v: bigint) => (v + PAGE - 1n) & ~(PAGE - 1n);

  // Allocation order after the kernel.
  let next = pageUp(kend);
  const alloc = (bytes: number) => { const at = next; next = pageUp(next + BigInt(bytes)); return at; };
  const ramdiskVa = o.ramdisk && o.ramdisk.length ? alloc(o.ramdisk.length) : 0n;
  const p2mVa = alloc(nrPages * w);
  const startInfoVa = alloc(4096);
  const storeVa = alloc(4096);
  const consoleVa = alloc(4096);
  const ptVa = next;
  let nPt = 0, vEnd = 0n;
  for (let iter = 0; iter < 8; iter++) {
    const need = ptVa + BigInt(nPt + 1 + 128) * PAGE;
    vEnd = (need + M4 - 1n) & ~(M4 - 1n);
    // A domain smaller than that (3 MiB, bench:density) gets the region up to its last page, still
    // with Xen's promise of at least 512 KiB after the boot stack; only the 4 MiB rounding is libxc's.
    const memEnd = virtBase + BigInt(nrPages) * PAGE;
    if (vEnd > memEnd && need <= memEnd) vEnd = memEnd;
    const n = ptCount(bits, virtBase, vEnd);
    if (n === nPt) break;
    nPt = n;
  }
  const stackVa = ptVa + BigInt(nPt) * PAGE;
  const mappedPages = Number((vEnd - virtBase) >> 12n);
  if (mappedPages > nrPages) throw new BuildError(
    `kernel and boot data need ${mappedPages >> 8} MiB, more than the domain's ${o.memoryMiB} MiB`
  );
  if (bits === 32 && vEnd > 0xf5800000n)
    throw new BuildError("32-bit kernel's initial mapping reaches the hypervisor area at 0xF5800000");

  // The domain and all its memory.
  const domid = x.hv_domain_create(bits, o.vcpus ?? 1, nrPages + 64);
  if (domid < 0) throw new BuildError("no free domain slot");
  // From here on, any failure destroys the half-built domain (and frees its memory) and closes the
  // host's ends of its event channels.
  const hostPorts: number[] = [];
  try {
    const mfns = new Uint32Array(nrPages);
    for (let p = 0; p < nrPages;) {
      const got = x.hv_alloc_frames(domid, nrPages - p, p);
      mfns.set(new Uint32Array(x.memory.buffer, MM.MAILBOX, got), p);
      p += got;
      if (got === 0 || (p < nrPages && got < MM.MAILBOX_SIZE / 4))
        throw new BuildError(`out of machine memory after ${p} of ${nrPages} pages`);
    }
    // Linear memory no longer grows while we build: one view for everything (re-made if it does).
    let bytesView = core.bytes(), dataView = core.view();
    const fresh = () => {
      if (bytesView.buffer !== x.memory.buffer) { bytesView = core.bytes(); dataView = core.view(); }
    };
    const mem = () => { fresh(); return bytesView; };
    const dv = () => { fresh(); return dataView; };
    const maOf = (v: bigint) => mfns[pfnOf(v)] * 4096 + Number(v & 0xfffn);
    // (Start-up speed: a kernel is ~60 MB, so frames that follow each other in machine memory take one
    // copy, and the page arithmetic is done in numbers, not BigInts.)
    /** put(machine address, offset, length) for each run of [v, v + len) on frames that follow each other. */
    const eachRun = (v: bigint, len: number, put: (at: number, i: number, n: number) => void) => {
      let pfn = pfnOf(v), off = Number(v & 0xfffn);
      for (let i = 0; i < len;) {
        let n = Math.min(4096 - off, len - i), p = pfn + 1;
        while (i + n < len && mfns[p] === mfns[p - 1] + 1) { n = Math.min(n + 4096, len - i); p++; }
        put(mfns[pfn] * 4096 + off, i, n);
        i += n; pfn = p; off = 0;
      }
    };
    const copyTo = (v: bigint, src: Uint8Array) => {
      const m = mem();
      eachRun(v, src.length, (at, i, n) => m.set(src.subarray(i, i + n), at));
    };
    // Kernel segments (bss is already zero: frames come zeroed), in file order: the image's bytes straight into
    // each run of frames that follow each other in machine memory. Frames come zeroed, so the zero pages of
    // segments that do not overlap in memory are left alone (about half of Linux's 66 MB: bss, padding).
    const segs = [...img.segments].sort((a, b) => a.offset - b.offset);
    const inOrder = segs.every((s, i) => i === 0 || s.offset >= segs[i - 1].offset + segs[i - 1].filesz);
    const byVa = [...img.segments].sort((a, b) => (va(a.paddr) < va(b.paddr) ? -1 : 1));
    const apart = byVa.every((s, i) => i === 0 || va(s.paddr) >= va(byVa[i - 1].paddr) + BigInt(byVa[i - 1].memsz));
    // (Segments sharing bytes of the file: from the whole image in memory.)
    const whole = inOrder ? null : img.src.whole();
    if (!inOrder && !whole) throw new DamagedKernel();
    const src = whole ? elfSource(whole) : img.src;
    const m = mem();
    for (const s of segs)
      eachRun(va(s.paddr), s.filesz, (at, i, n) => src.copy(s.offset + i, m.subarray(at, at + n), apart));
    // A kept image is checked once read: a damaged one is not run (the caller decodes the kernel again).
    if (!img.src.finish()) throw new DamagedKernel();
    if (o.ramdisk && o.ramdisk.length) copyTo(ramdiskVa, o.ramdisk);
    // The hypercall page, when the kernel asks for one (HYPERCALL_PAGE note): 128 stubs of 32 bytes.
    const hcp = noteNum(img, N.HYPERCALL_PAGE);
    if (hcp !== undefined) {
      if (hcp < virtBase || hcp >= vEnd || (hcp & 0xfffn) !== 0n)
        throw new BuildError(`HYPERCALL_PAGE ${hex(hcp)} is not a page of the initial mapping`);
      copyTo(hcp, hypercallPage(bits));
    }
    // p2m list.
    { // (machine frame numbers are below 2^32: a 64-bit entry is the number and 0)
      const d = dv(), p2mPfn = pfnOf(p2mVa);
      for (let p = 0; p < nrPages; p++) {
        const off = p * w, a = mfns[p2mPfn + Math.floor(off / 4096)] * 4096 + (off & 0xfff);
        d.setUint32(a, mfns[p], true);
        if (w === 8) d.setUint32(a + 4, 0, true);
      }
    }

    // Page tables: L1 entries P|RW|A (read-only for the page-table pages), upper levels P|RW|US|A|D.
    const ptPfn0 = pfnOf(ptVa);
    const isPt = (p: number) => p >= ptPfn0 && p < ptPfn0 + nPt;
    let ptUsed = 0;
    const newTable = () => { const p = ptPfn0 + ptUsed++; return mfns[p]; };
    const set64 = (mfn: number, idx: number, v: bigint) => dv().setBigUint64(mfn * 4096 + idx * 8, v, true);
    const get64 = (mfn: number, idx: number) => dv().getBigUint64(mfn * 4096 + idx * 8, true);
    const UPPER = 0x67n, L1RW = 0x23n, L1RO = 0x21n;
    const top = newTable();
    const child = (tbl: number, idx: number): number => {
      const e = get64(tbl, idx);
      if (e & 1n) return Number((e >> 12n) & 0xffffffffffn);
      const t = newTable();
      set64(tbl, idx, (BigInt(t) << 12n) | UPPER);
      return t;
    };
    if (bits === 32) child(top, 3); // Xen needs L3 slot 3 present (its M2P slots live in that L2)
    // (L1 entries in numbers, two 32-bit halves; the tables above found or made once per 2 MiB.)
    const idx0 = Number((virtBase >> 12n) & 511n), l1ro = Number(L1RO), l1rw = Number(L1RW);
    let l1 = -1, d = dv();
    for (let p = 0; p < mappedPages; p++) {
      const idx = (idx0 + p) & 511;
      if (l1 < 0 || idx === 0) {
        const v = virtBase + BigInt(p) * PAGE;
        if (bits === 64) {
          const l3 = child(top, Number((v >> 39n) & 511n));
          const l2 = child(l3, Number((v >> 30n) & 511n));
          l1 = child(l2, Number((v >> 21n) & 511n));
        } else {
          const l2 = child(top, Number((v >> 30n) & 3n));
          l1 = child(l2, Number((v >> 21n) & 511n));
        }
        d = dv();
      }
      const mfn = mfns[p], a = l1 * 4096 + idx * 8;
      d.setUint32(a, (mfn % 0x100000) * 4096 + (isPt(p) ? l1ro : l1rw), true);
      d.setUint32(a + 4, Math.floor(mfn / 0x100000), true);
    }
    if (ptUsed > nPt) throw new BuildError("internal: page-table estimate too small");

    // shared_info, console and xenstore channels (the host is their other end).
    if (x.hv_setup_shared_info(domid) < 0) throw new BuildError("out of machine memory for shared_info");
    const consolePort = x.hv_evtchn_alloc_unbound(domid, 0);
    const storePort = x.hv_evtchn_alloc_unbound(domid, 0);
    const consoleHostPort = x.hv_evtchn_bind(domid, consolePort);
    const storeHostPort = x.hv_evtchn_bind(domid, storePort);
    hostPorts.push(consoleHostPort, storeHostPort);
    if (consolePort < 0 || storePort < 0 || consoleHostPort < 0 || storeHostPort < 0)
      throw new BuildError("event channel setup failed");

    // start_info.
    const si = maOf(startInfoVa);
    const magic = bits === 64 ? "xen-3.0-x86_64" : "xen-3.0-x86_32p";
    mem().set(new TextEncoder().encode(magic), si);
    const put = (off64: number, off32: number, v: bigint | number) => {
      if (bits === 64) dv().setBigUint64(si + off64, BigInt(v), true);
      else dv().setUint32(si + off32, Number(v) >>> 0, true);
    };
    const sharedMa = Number(core.view().getUint32(MM.DOMAIN_TABLE + domid * MM.DOMAIN_SIZE + D_SHARED_INFO, true));
    put(32, 32, nrPages);
    put(40, 36, sharedMa);
    dv().setUint32(si + (bits === 64 ? 48 : 40), 0, true); // flags
    put(56, 44, mfns[pfnOf(storeVa)]);
    dv().setUint32(si + (bits === 64 ? 64 : 48), storePort, true);
    put(72, 52, mfns[pfnOf(consoleVa)]);
    dv().setUint32(si + (bits === 64 ? 80 : 56), consolePort, true);
    put(88, 60, ptVa);
    put(96, 64, nPt);
    put(104, 68, p2mVa);
    put(112, 72, o.ramdisk && o.ramdisk.length ? ramdiskVa : 0n);
    put(120, 76, o.ramdisk ? o.ramdisk.length : 0);
    const cmd = new TextEncoder().encode((o.cmdline ?? "").slice(0, 1023));
    mem().set(cmd, si + (bits === 64 ? 128 : 80));
    x.hv_set_domain_info(domid, si, mfns[pfnOf(consoleVa)] * 4096, consolePort, mfns[pfnOf(storeVa)] * 4096, storePort);
    if (bits === 32) x.hv_vm_assist(domid, 1 << 3); // pae_extended_cr3

    // Pin the top level (validates every table), then vCPU 0's start-of-day registers.
    const r = x.hv_pin(domid, top, bits === 64 ? 4 : 3);
    if (r < 0) throw new BuildError(`the hypervisor refused the initial page tables (error ${-r})`);
    const rsp = stackVa + PAGE;
    if (x.hv_vcpu_boot(domid, 0, entry, rsp, startInfoVa, top) < 0) throw new BuildError("vCPU setup failed");
    return {
      domid, bits, nrPages, consoleMa: mfns[pfnOf(consoleVa)] * 4096, consolePort, consoleHostPort,
      storeMa: mfns[pfnOf(storeVa)] * 4096, storePort, storeHostPort, startInfoVa,
    };
  } catch (e) {
    for (const p of hostPorts) if (p > 0) x.hv_evtchn_close(p);
    x.hv_domain_destroy(domid);
    throw e;
  }
}

// Xen's hypercall stubs (32 bytes each). 64-bit: push %rcx; push %r11; mov $nr,%eax; syscall;
// pop %r11; pop %rcx; ret — and for iret: push %rcx; push %r11; push %rax; mov $23,%eax; syscall.
// 32-bit: mov $nr,%eax; int $0x82; ret — and for iret: push %eax; mov $23,%eax; int $0x82.
export function hypercallPage(bits: 32 | 64): Uint8Array {
  const p = new Uint8Array(4096).fill(0xcc);
  for (let nr = 0; nr < 128; nr++) {
    const o = nr * 32;
    const imm = [nr & 0xff, (nr >> 8) & 0xff, 0, 0];
    let code: number[];
    if (bits === 64) code = nr === 23 ? [0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]
      : [0x51, 0x41, 0x53, 0xb8, ...imm, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3];
    else code = nr === 23 ? [0x50, 0xb8, 23, 0, 0, 0, 0xcd, 0x82] : [0xb8, ...imm, 0xcd, 0x82, 0xc3];
    p.set(code, o);
  }
  return p;
}
