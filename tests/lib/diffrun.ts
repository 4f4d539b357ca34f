// Differential runs: the cases of tests/lib/diffgen.ts are executed natively (64-bit directly, 32-bit
// under qemu-i386) by tests/diff/native.c + a generated assembly file, and in the emulator; final
// registers, defined flags and the 512-byte memory region are compared.
// Model-specific cases (diffgen's `vendor`): the emulator is held to the documented result of the vendor
// its CPUID reports (its first model's), the real CPU to one of the documented results of its own
// vendor's models (models of one vendor differ too). Cases whose form needs a CPUID feature the real CPU lacks are
// skipped (counted). Generated files go to tests/build/diff/ (git-ignored).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Core, MM } from "../../host/core";
import {
  Case, Bits, VendorDep, generate, REGION, MEMSIZE, ARITH, DF, FLAG_NAMES, REG_NAMES, mask, FEATURES, Feature
} from "./diffgen";

const dir = join(process.cwd(), "tests", "build", "diff");
const REC = 16 * 8 + 8 + 8 + MEMSIZE; // struct rec in native.c
const SLOT = 128; // bytes of code per case in the emulator image
const CODE = 0x400000; // emulator: code of case i at CODE + i * SLOT

export interface Result {
  bits: Bits;
  regs: bigint[];
  flags: number;
  status: number; // native: signal number; emulator: 0 or a description in `exit`
  exit?: string;
  mem: Uint8Array;
}

export interface Mismatch { c: Case; index: number; diffs: string[]; expected: Result; got: Result }
export interface GroupStats {
  group: string; bits: Bits; cases: number; passed: number; failed: number; mismatches: Mismatch[];
  failedForms: Map<string, number>;
  vendorCases: number; // model-specific cases (passed or failed as the others)
  // ... of which the real CPU's result was not checked (no documented result for its vendor)
  vendorNativeUnchecked: number;
  vendorHostModels: Map<number, number>; // documented model of the real CPU's vendor (index) -> cases it matched
  vendorHostUnknown: string[]; // model-specific cases where the real CPU matched none of its vendor's documented models
  skipped: number; // cases not compared: the real CPU lacks a feature the form needs
  skippedWhy: Map<string, number>; // form (feature) -> cases
  vendors: Vendors;
  // cases whose first native result differed from the emulator's and two native reruns both gave the emulator's
  // (the host changed the real CPU's result: see nativeFlukes); passed, and reported
  nativeUnstable: string[];
}

/** What a CPU reports in CPUID: its vendor string and the feature words diffgen's FEATURES use. */
export interface CpuId { vendor: string; words: Record<string, number> }
export function hasFeature(cpu: CpuId, f: Feature): boolean {
  const { word, bit } = FEATURES[f];
  return ((cpu.words[word] ?? 0) >>> bit & 1) === 1;
}

/** Keep only the `keep` newest files of dir whose names start with prefix (a small build cache). */
function prune(prefix: string, keep = 3): void {
  const fs =
    readdirSync(dir).filter((f) => f.startsWith(prefix)).map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }));
  fs.sort((a, b) => b.t - a.t);
  for (const { f } of fs.slice(keep)) unlinkSync(join(dir, f));
}

/** Assemble the emulator image: case i at org + i * SLOT, each followed by ud2 (cached by content). */
function assemble(cases: Case[], bits: Bits, org: number): Uint8Array {
  mkdirSync(dir, { recursive: true });
  let src = `.code${bits}\n`;
  cases.forEach((c, i) => { src += `.org ${i * SLOT}\n${c.text}\nud2\n`; });
  const h = createHash("sha1").update(src).update(String(org)).digest("hex").slice(0, 12);
  const bin = join(dir, `emu-${bits}-${h}.bin`);
  if (!existsSync(bin)) {
    const s = join(dir, `emu-${bits}.s`), o = join(dir, `emu-${bits}.o`);
    writeFileSync(s, src);
    execFileSync("as", [bits === 64 ? "--64" : "--32", "-o", o, s]);
    execFileSync("ld", [bits === 64 ? "-melf_x86_64" : "-melf_i386", "-Ttext", "0x" + org.toString(16),
      "--oformat", "binary", "-e", "0", "-o", bin, o]);
    unlinkSync(o);
    prune(`emu-${bits}-`);
  }
  return new Uint8Array(readFileSync(bin));
}

// ---- native ----
function nativeSource(cases: Case[], bits: Bits): string {
  const L: string[] = [];
  const n = bits === 64 ? 16 : 8;
  const R = (i: number) => "%" + (bits === 64 ? REG_NAMES[i] : REG_NAMES[i].replace(/^r/, "e"));
  const ptr = bits === 64 ? ".quad" : ".long";
  L.push(".text", ".globl xw_run", ".type xw_run,@function", "xw_run:");
  if (bits === 64) L.push(
    "push %rbx", "push %rbp", "push %r12", "push %r13", "push %r14", "push %r15", "mov %rsp, xw_saved_sp",
    "pushq xw_in+128", "popfq"
  );
  else L.push("push %ebx", "push %ebp", "push %esi", "push %edi", "mov %esp, xw_saved_sp", "pushl xw_in+128", "popfl");
  for (let i = 0; i < n; i++) if (i !== 4) L.push(`mov xw_in+${i * 8}, ${R(i)}`);
  L.push(`mov xw_in+32, ${R(4)}`, "jmp *xw_target", "xw_back:");
  for (let i = 0; i < n; i++) L.push(`mov ${R(i)}, xw_out+${i * 8}`);
  if (bits === 64) L.push(
    "mov xw_saved_sp, %rsp", "pushfq", "popq xw_out+128", "cld", "pop %r15", "pop %r14", "pop %r13", "pop %r12",
    "pop %rbp", "pop %rbx", "ret"
  );
  else L.push(
    "mov xw_saved_sp, %esp", "pushfl", "popl xw_out+128", "cld", "pop %edi", "pop %esi", "pop %ebp", "pop %ebx", "ret"
  );
  cases.forEach((c, i) => L.push(`xw_case_${i}:`, c.text, "jmp xw_back"));
  L.push(".data", ".p2align 6", ".globl xw_in, xw_out, xw_target, xw_cases, xw_ncases",
    `xw_in: .space ${REC}`, `xw_out: .space ${REC}`, "xw_saved_sp: .quad 0", `xw_target: ${ptr} 0`, "xw_cases:");
  for (let i = 0; i < cases.length; i += 16) {
    L.push(`${ptr} ` + cases.slice(i, i + 16).map((_, j) => `xw_case_${i + j}`).join(","));
  }
  L.push(`xw_ncases: .long ${cases.length}`, '.section .note.GNU-stack,"",@progbits', "");
  return L.join("\n");
}

function encodeInputs(cases: Case[]): Uint8Array {
  const buf = new Uint8Array(REC * cases.length);
  const v = new DataView(buf.buffer);
  cases.forEach((c, k) => {
    const o = k * REC;
    for (let i = 0; i < 16; i++) v.setBigUint64(o + i * 8, c.regs[i], true);
    v.setBigUint64(o + 128, BigInt(c.flags | 2), true);
    buf.set(c.mem, o + 144);
  });
  return buf;
}

function decode(buf: Uint8Array, k: number, bits: Bits): Result {
  const v = new DataView(buf.buffer, buf.byteOffset);
  const o = k * REC;
  const regs: bigint[] = [];
  for (let i = 0; i < 16; i++) regs.push(v.getBigUint64(o + i * 8, true));
  return {
    bits, regs, flags: Number(v.getBigUint64(o + 128, true) & 0xffffn), status: Number(v.getBigUint64(o + 136, true)),
    mem: buf.slice(o + 144, o + 144 + MEMSIZE)
  };
}

function nativeExe(cases: Case[], bits: Bits): string {
  mkdirSync(dir, { recursive: true });
  const src = nativeSource(cases, bits);
  const driver = join(process.cwd(), "tests", "diff", "native.c");
  const h = createHash("sha1").update(src).update(readFileSync(driver)).digest("hex").slice(0, 12);
  const S = join(dir, `cases-${bits}.S`), exe = join(dir, `native-${bits}-${h}`);
  if (!existsSync(exe)) {
    writeFileSync(S, src);
    execFileSync(
      "gcc", [...(bits === 32 ? ["-m32"] : []), "-O1", "-no-pie", "-o", exe, driver, S],
      { stdio: ["ignore", "inherit", "inherit"] }
    );
    prune(`native-${bits}-`);
  }
  return exe;
}

/** Whether qemu-i386 runs the reference for this mode (32-bit, unless DIFF_NATIVE32=host). */
export const qemuReference = (bits: Bits): boolean => bits === 32 && process.env.DIFF_NATIVE32 !== "host";

/** Run the native program as the reference does: 64-bit directly, 32-bit under qemu-i386 (or directly). */
function execNative(exe: string, bits: Bits, args: string[]): string {
  const o = { stdio: ["ignore", "pipe", "inherit"] as ("ignore" | "pipe" | "inherit")[], encoding: "utf8" as const };
  if (!qemuReference(bits)) return execFileSync(exe, args, o); // 32-bit: a kernel with IA-32 emulation, the real CPU
  return execFileSync("qemu-i386", ["-cpu", "max", exe, ...args], o);
}

/** CPUID of the reference that runs the cases of this mode (the host CPU, or qemu-i386's model). */
export function referenceCpu(bits: Bits): CpuId {
  const out = execNative(nativeExe([], bits), bits, ["--cpuid"]).trim().split(/\s+/);
  if (out.length !== 4) throw new Error(`native --cpuid: unexpected output ${out.join(" ")}`);
  return {
    vendor: out[0],
    words: { "1.ecx": parseInt(out[1], 16), "7.ebx": parseInt(out[2], 16), "80000001.ecx": parseInt(out[3], 16) }
  };
}

export function runNative(cases: Case[], bits: Bits): Result[] {
  const exe = nativeExe(cases, bits);
  const inF = join(dir, `in-${bits}-${process.pid}.bin`), outF = join(dir, `out-${bits}-${process.pid}.bin`);
  writeFileSync(inF, encodeInputs(cases));
  execNative(exe, bits, [inF, outF]);
  const out = new Uint8Array(readFileSync(outF));
  unlinkSync(inF); unlinkSync(outF);
  if (out.length !== REC * cases.length)
    throw new Error(`native ${bits}-bit: ${out.length / REC} results for ${cases.length} cases`);
  return cases.map((_, k) => decode(out, k, bits));
}

// ---- emulator ----
/** The vendor the emulator's CPUID reports (leaf 0 run in the emulator, at CPL 3 as the cases). */
export async function emulatorVendor(): Promise<string> {
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true });
  core.ensureMemory(MM.MACHINE_BASE + 0x200000);
  core.x.set_phys_window(MM.MACHINE_BASE, 0x200000);
  core.bytes().set([0x31, 0xc0, 0x0f, 0xa2, 0x0f, 0x0b], MM.MACHINE_BASE + 0x100000); // xor %eax,%eax; cpuid; ud2
  core.x.cpu_reset_flat(MM.MODE_LONG64, 3);
  core.rip = 0x100000n;
  core.x.cpu_state_changed();
  const exit = core.run(100);
  if (exit !== MM.EXIT_UNHANDLED || core.exitVector !== 6)
    throw new Error(`emulator CPUID: exit ${exit}, vector ${core.exitVector}`);
  const b = new Uint8Array(12), v = new DataView(b.buffer);
  [3, 2, 1].forEach((r, i) => v.setUint32(i * 4, Number(core.reg(r) & 0xffffffffn), true)); // EBX EDX ECX
  return new TextDecoder().decode(b);
}

export async function runEmulator(cases: Case[], bits: Bits, compileCases = false): Promise<Result[]> {
  const code = assemble(cases, bits, CODE);
  const RAM = Math.ceil((CODE + code.length + 0x1000) / 0x100000) * 0x100000;
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  const bytes = core.bytes();
  bytes.set(code, MM.MACHINE_BASE + CODE);
  const mode = bits === 64 ? MM.MODE_LONG64 : MM.MODE_PROT32;
  const out: Result[] = [];
  if (compileCases) core.x.jit_entries(1);
  cases.forEach((c, i) => {
    core.x.cpu_reset_flat(mode, 3);
    bytes.set(c.mem, MM.MACHINE_BASE + REGION);
    for (let r = 0; r < 16; r++) core.setReg(r, bits === 32 && r >= 8 ? 0n : c.regs[r]);
    core.rip = BigInt(CODE + i * SLOT);
    core.rflags = BigInt(c.flags | 0x202); // IF=1, as in a native user process (POPF at CPL 3 keeps it)
    core.x.cpu_state_changed();
    const exit = core.run(100_000);
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(core.reg(r));
    const ok = exit === MM.EXIT_UNHANDLED && core.exitVector === 6;
    out.push({
      bits, regs, flags: Number(core.rflags & 0xffffn), status: 0,
      exit: ok ? undefined : `exit reason ${exit}, vector ${core.exitVector}, error `
        + `${core.exitError}, rip ${hex(core.rip)} (case at ` + `${hex(BigInt(CODE + i * SLOT))})`,
      mem: bytes.slice(MM.MACHINE_BASE + REGION, MM.MACHINE_BASE + REGION + MEMSIZE),
    });
  });
  if (core.jit) jitRetired += core.jit.stats().insns;
  return out;
}

/** Instructions the emulator retired in compiled code (the JIT tier), over every runEmulator call. */
export let jitRetired = 0;

// ---- comparison ----
const hex = (v: bigint | number) => "0x" + v.toString(16);
export function flagStr(f: number, m = ARITH | DF): string {
  return FLAG_NAMES.filter(([b]) => m & b).map(([b, n]) => (f & b ? n : n.toLowerCase())).join(" ");
}
function regLabel(i: number, bits: Bits): string {
  return bits === 64 ? REG_NAMES[i] : REG_NAMES[i].replace(/^r/, "e");
}

/** Whether two register files agree on a model-specific case's registers (at the mode's width). */
function sameModelRegs(vd: VendorDep, bits: Bits, a: bigint[], b: bigint[]): boolean {
  const m = bits === 64 ? mask(64) : mask(32);
  return REG_NAMES.every((_, i) => !(vd.regs & (1 << i)) || (a[i] & m) === (b[i] & m));
}

/** Vendors of the reference CPU (`host`) and of the emulator's CPUID (`emu`), for model-specific cases. */
export interface Vendors { host: string; emu: string }

export function compare(c: Case, exp: Result, got: Result, vendors?: Vendors): string[] {
  const d: string[] = [];
  if (exp.status) d.push(`native execution faulted (signal ${exp.status}): generator bug`);
  if (got.exit) d.push(`emulator did not reach the ud2: ${got.exit}`);
  if (d.length) return d;
  const n = c.bits === 64 ? 16 : 8, m = c.bits === 64 ? mask(64) : mask(32);
  // Model-specific registers: the emulator is held to its vendor's first documented result, the real CPU to
  // one of its own vendor's (if any is documented); the others are compared with each other.
  const vd = c.vendor && vendors ? c.vendor : undefined;
  if (vd) {
    const want = vd.values[vendors!.emu]?.[0];
    const same = (a: bigint[], b: bigint[]) => sameModelRegs(vd, c.bits, a, b);
    if (!want) d.push(`no documented ${vendors!.emu} result (${vd.what})`);
    else if (!same(want, got.regs)) {
      for (let i = 0; i < n; i++) {
        if (vd.regs & (1 << i) && (want[i] & m) !== (got.regs[i] & m)) d.push(
          `${regLabel(i, c.bits)}: expected ${hex(want[i] & m)} `
            + `(${vendors!.emu}: ${vd.what}) got ${hex(got.regs[i] & m)}`
        );
      }
    }
  }
  for (let i = 0; i < n; i++) {
    if (c.skipRegs & (1 << i)) continue;
    if (vd && vd.regs & (1 << i)) continue;
    if ((exp.regs[i] & m) !== (got.regs[i] & m))
      d.push(`${regLabel(i, c.bits)}: expected ${hex(exp.regs[i] & m)} got ${hex(got.regs[i] & m)}`);
  }
  const fm = (ARITH | DF) & ~c.undef & ~(qemuReference(c.bits) ? c.qemuBug ?? 0 : 0);
  if ((exp.flags & fm) !== (got.flags & fm))
    d.push(`flags [${flagStr(fm, fm)}]: expected ${flagStr(exp.flags, fm)} got ${flagStr(got.flags, fm)}`);
  for (let i = 0; i < MEMSIZE; i++) {
    if (exp.mem[i] !== got.mem[i]) {
      let j = i;
      while (j + 1 < MEMSIZE && exp.mem[j + 1] !== got.mem[j + 1]) j++;
      const e = [...exp.mem.slice(i, j + 1)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const g = [...got.mem.slice(i, j + 1)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      d.push(`mem ${hex(REGION + i)}..${hex(REGION + j)}: expected ${e} got ${g}`);
      i = j;
    }
  }
  return d;
}

export function describe(mm: Mismatch): string {
  const c = mm.c, n = c.bits === 64 ? 16 : 8;
  const regs: string[] = [];
  for (let i = 0; i < n; i++) regs.push(`${regLabel(i, c.bits)}=${hex(c.regs[i])}`);
  const lines = [`[${c.group}/${c.bits}] ${c.form} #${mm.index}: \`${c.text}\``,
    `    in:  ${regs.slice(0, 8).join(" ")}`];
  if (n > 8) lines.push(`         ${regs.slice(8).join(" ")}`);
  lines.push(`    in flags: ${flagStr(c.flags)}   (not compared: ${flagStr(c.undef, c.undef) || "-"})`);
  if (c.vendor) lines.push(
    `    model-specific: ${c.vendor.what} (${REG_NAMES.filter((_, i) => c.vendor!.regs & (1 << i)).join(" ")})`
  );
  for (const d of mm.diffs) lines.push(`    ${d}`);
  return lines.join("\n");
}

/** How the model-specific cases of a group were checked (empty without any). */
export function vendorNote(s: GroupStats): string {
  if (!s.vendorCases) return "";
  const { host, emu } = s.vendors;
  const models = [...s.vendorHostModels].sort((a, b) => a[0] - b[0])
    .map(([k, n]) => `${n} as its model ${String.fromCharCode(65 + k)}`).join(", ");
  const unknown = s.vendorHostUnknown.length ? `, ${s.vendorHostUnknown.length} as none documented` : "";
  const own = s.vendorNativeUnchecked ? `this ${host} CPU's own results not checked: none documented for it`
    : `this ${host} CPU's against ${host}'s documented models: ${models || "none"}${unknown}`;
  return `${s.vendorCases} model-specific cases, the emulator's checked against ${emu}'s documented result (${own})`;
}
/** Cases skipped because the reference CPU lacks a feature (empty without any). */
export function skipNote(s: GroupStats): string {
  if (!s.skipped) return "";
  return `${s.skipped} cases skipped, the reference CPU lacks what ` + `they need: `
    + `${[...s.skippedWhy].map(([f, n]) => `${f} ${n}`).join(", ")}`;
}

/**
 * The real CPU's result can change under the host: seen once in a KVM guest on an AMD EPYC, POPF's NT bit lost
 * between POPF and PUSHF (an interrupt in between, most likely). A case whose native result differs from the
 * emulator's (`differs(i, native result)`; false for a case not compared) is run natively twice more, in the same
 * batch and layout (`rerun`: the whole batch again); when both reruns give the emulator's result, the first run was
 * the host's doing and the case passes (reported: noteUnstable). A real difference stays one: the CPU would have to
 * give the emulator's result twice in a row. Returns the indices of the cases that pass so. (diffRun, sseRun, x87Run)
 */
export function nativeFlukes<R>(nat: R[], rerun: () => R[], differs: (i: number, n: R) => boolean): Set<number> {
  const bad = nat.flatMap((n, i) => (differs(i, n) ? [i] : []));
  const flukes = new Set<number>();
  if (!bad.length) return flukes;
  const again = [rerun(), rerun()];
  for (const i of bad) if (again.every((n) => !differs(i, n[i]))) flukes.add(i);
  return flukes;
}
/** Print the note of a differential run for the cases of `what` that passed by nativeFlukes (nothing without any). */
export function noteUnstable(what: string, cases: string[]): void {
  if (cases.length) console.log(
    `note: ${what}: the real CPU's first result differed from two reruns that gave the emulator's (the host's `
      + `doing): ${cases.join(", ")}`
  );
}

export interface RunOptions {
  seed: number; count: number; groups?: string[]; modes?: Bits[]; maxMismatches?: number;
  /** Under XENWASM_JIT=force: compile each case before it runs (core jit_entries; a region, a module and an
   *  instance per case: about 3 ms each), rather than only the code its branches reach. */
  compileCases?: boolean;
}

/** Generate, run natively and in the emulator, compare; stats per (group, mode). */
export async function diffRun(o: RunOptions): Promise<GroupStats[]> {
  const stats: GroupStats[] = [];
  const emuVendor = await emulatorVendor();
  for (const bits of o.modes ?? [64, 32]) {
    const cases = generate(o.seed, o.count, bits, o.groups);
    if (!cases.length) continue;
    const ref = referenceCpu(bits);
    const vendors: Vendors = { host: ref.vendor, emu: emuVendor };
    const nat = runNative(cases, bits);
    const emu = await runEmulator(cases, bits, o.compileCases);
    const comparable = (c: Case) => !(c.needs && !hasFeature(ref, c.needs));
    const unstable = nativeFlukes(
      nat, () => runNative(cases, bits),
      (i, n) => comparable(cases[i]) && compare(cases[i], n, emu[i], vendors).length > 0
    );
    const by = new Map<string, GroupStats>();
    cases.forEach((c, i) => {
      let g = by.get(c.group);
      if (!g) {
        g = {
          group: c.group, bits, cases: 0, passed: 0, failed: 0, mismatches: [], failedForms: new Map(), vendorCases: 0,
          vendorNativeUnchecked: 0, vendorHostModels: new Map(), vendorHostUnknown: [], skipped: 0,
          skippedWhy: new Map(), vendors, nativeUnstable: []
        };
        by.set(c.group, g); stats.push(g);
      }
      if (!comparable(c)) { // the reference would run another instruction: not comparable
        g.skipped++;
        const k = `${c.form} (no ${c.needs})`;
        g.skippedWhy.set(k, (g.skippedWhy.get(k) ?? 0) + 1);
        return;
      }
      g.cases++;
      if (c.vendor) {
        g.vendorCases++;
        const own = c.vendor.values[vendors.host];
        if (!own) g.vendorNativeUnchecked++;
        else {
          const k = own.findIndex((v) => sameModelRegs(c.vendor!, bits, v, nat[i].regs));
          if (k >= 0) g.vendorHostModels.set(k, (g.vendorHostModels.get(k) ?? 0) + 1);
          else {
            const regs = REG_NAMES.flatMap((r, j) =>
              (c.vendor!.regs & (1 << j) ? [`${r} ${hex(c.regs[j])} -> ${hex(nat[i].regs[j] & mask(bits))}`] : []));
            g.vendorHostUnknown.push(`${c.form} #${i}: ${regs.join(", ")}`);
          }
        }
      }
      const diffs = unstable.has(i) ? [] : compare(c, nat[i], emu[i], vendors);
      if (unstable.has(i)) g.nativeUnstable.push(`${c.form} #${i}`);
      if (diffs.length) {
        g.failed++;
        g.failedForms.set(c.form, (g.failedForms.get(c.form) ?? 0) + 1);
        if (g.mismatches.length < (o.maxMismatches ?? 1000))
          g.mismatches.push({ c, index: i, diffs, expected: nat[i], got: emu[i] });
      } else g.passed++;
    });
  }
  return stats;
}
