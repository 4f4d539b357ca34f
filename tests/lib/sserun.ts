// SSE differential runs: the cases of tests/lib/ssegen.ts are executed natively by
// tests/diff/sse-native.c + a generated assembly file (64-bit cases in a 64-bit process, 32-bit cases
// in a 32-bit one: the host CPU either way, never an emulator), and in the emulator (long mode or
// 32-bit protected mode, CPL 3, CR4.OSFXSR set); final GPRs, arithmetic flags, MXCSR, XMM0-15 (32-bit:
// EAX-EDI, XMM0-7) and the 512-byte memory region are compared. Generated files go to tests/build/sse/ (git-ignored
// with tests/build/). (The structure follows tests/lib/diffrun.ts.)
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Core, MM } from "../../host/core";
import { emulatorVendor, referenceCpu, nativeFlukes, type Vendors } from "./diffrun";
import { SseCase, generate, REGION, MEMSIZE, ARITH, DF, FLAG_NAMES, R64 } from "./ssegen";

const dir = join(process.cwd(), "tests", "build", "sse");
const REC = 928; // struct rec in sse-native.c
const O_FLAGS = 128, O_STATUS = 136, O_MXCSR = 144, O_XMM = 160, O_MEM = 416;
const SLOT = 128; // bytes of code per case in the emulator image
const CODE = 0x400000;

export interface Result {
  regs: bigint[]; flags: number; mxcsr: number; xmm: Uint8Array; mem: Uint8Array; status: number; exit?: string
}
export interface Mismatch { c: SseCase; index: number; diffs: string[] }
export interface GroupStats {
  group: string; bits: 32 | 64; cases: number; passed: number; failed: number; mismatches: Mismatch[];
  failedForms: Map<string, number>;
  vendorCases: number; // model-specific cases (DPPS/DPPD: which NaN a lane's sum gives): see MODEL_SPECIFIC
  vendors: Vendors;
  // cases whose first native result differed from the emulator's and two native reruns both gave the emulator's
  // (diffrun's nativeFlukes); passed, and reported
  nativeUnstable: string[];
}

/**
 * Forms whose result depends on the CPU model (docs/CPU-FLAGS.md, "Vendor-dependent behaviour"), by the
 * width of the lanes concerned: DPPS/DPPD sum each destination lane in an order of Intel's own, so when
 * several products are NaN, which NaN a lane gets differs from AMD's (one sum in the SDM's order, the
 * same in every lane). xenwasm follows Intel, the vendor its CPUID reports: on an Intel host these cases
 * are compared bit for bit like the others; on another vendor's host a lane where both CPUs give a NaN
 * counts as equal (every other lane, register, flag and MXCSR bit is compared), and `tests/sse.test.ts`
 * checks the emulator against its vendor's recorded results on any host, and the host CPU against its own
 * vendor's (results recorded on an Intel Xeon and an AMD EPYC).
 */
export const MODEL_SPECIFIC: Record<string, 4 | 8> = { dpps: 4, dppd: 8 };

function prune(prefix: string, keep = 3): void {
  const fs =
    readdirSync(dir).filter((f) => f.startsWith(prefix)).map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }));
  fs.sort((a, b) => b.t - a.t);
  for (const { f } of fs.slice(keep)) unlinkSync(join(dir, f));
}

function assemble(cases: SseCase[], bits: 32 | 64): Uint8Array {
  mkdirSync(dir, { recursive: true });
  let src = `.code${bits}\n`;
  cases.forEach((c, i) => { src += `.org ${i * SLOT}\n${c.text}\nud2\n`; });
  const h = createHash("sha1").update(src).update(String(CODE)).digest("hex").slice(0, 12);
  const bin = join(dir, `emu-${h}.bin`);
  if (!existsSync(bin)) {
    const s = join(dir, "emu.s"), o = join(dir, "emu.o");
    writeFileSync(s, src);
    execFileSync("as", [bits === 64 ? "--64" : "--32", "-o", o, s]);
    execFileSync(
      "ld", [
        bits === 64 ? "-melf_x86_64" : "-melf_i386", "-Ttext", "0x" + CODE.toString(16), "--oformat", "binary", "-e",
        "0", "-o", bin, o
      ]
    );
    unlinkSync(o);
    prune("emu-");
  }
  return new Uint8Array(readFileSync(bin));
}

// ---- native ----
function nativeSource32(cases: SseCase[]): string {
  const L: string[] = [];
  const R = (i: number) => "%" + ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"][i];
  L.push(".text", ".globl xw_run", ".type xw_run,@function", "xw_run:");
  L.push("push %ebx", "push %ebp", "push %esi", "push %edi", "mov %esp, xw_saved_sp");
  L.push(`ldmxcsr xw_in+${O_MXCSR}`);
  for (let i = 0; i < 8; i++) L.push(`movdqu xw_in+${O_XMM + 16 * i}, %xmm${i}`);
  L.push(`pushl xw_in+${O_FLAGS}`, "popfl");
  for (let i = 0; i < 8; i++) if (i !== 4) L.push(`mov xw_in+${i * 8}, ${R(i)}`);
  L.push("mov xw_in+32, %esp", "jmp *xw_target", "xw_back:");
  for (let i = 0; i < 8; i++) L.push(`mov ${R(i)}, xw_out+${i * 8}`);
  L.push("mov xw_saved_sp, %esp", "pushfl", `popl xw_out+${O_FLAGS}`, "cld", `stmxcsr xw_out+${O_MXCSR}`);
  for (let i = 0; i < 8; i++) L.push(`movdqu %xmm${i}, xw_out+${O_XMM + 16 * i}`);
  L.push("ldmxcsr xw_mxcsr_default", "fninit", "pop %edi", "pop %esi", "pop %ebp", "pop %ebx", "ret");
  cases.forEach((c, i) => L.push(`xw_case_${i}:`, c.text, "jmp xw_back"));
  L.push(".data", ".p2align 6", ".globl xw_in, xw_out, xw_target, xw_cases, xw_ncases",
    `xw_in: .space ${REC}`, ".p2align 6", `xw_out: .space ${REC}`, "xw_saved_sp: .long 0",
    "xw_mxcsr_default: .long 0x1f80",
    "xw_target: .long 0", "xw_cases:");
  for (let i = 0; i < cases.length; i += 16)
    L.push(".long " + cases.slice(i, i + 16).map((_, j) => `xw_case_${i + j}`).join(","));
  L.push(`xw_ncases: .long ${cases.length}`, '.section .note.GNU-stack,"",@progbits', "");
  return L.join("\n");
}

function nativeSource(cases: SseCase[]): string {
  const L: string[] = [];
  const R = (i: number) => "%" + R64[i];
  L.push(".text", ".globl xw_run", ".type xw_run,@function", "xw_run:");
  L.push("push %rbx", "push %rbp", "push %r12", "push %r13", "push %r14", "push %r15", "mov %rsp, xw_saved_sp");
  L.push(`ldmxcsr xw_in+${O_MXCSR}`);
  for (let i = 0; i < 16; i++) L.push(`movdqu xw_in+${O_XMM + 16 * i}, %xmm${i}`);
  L.push(`pushq xw_in+${O_FLAGS}`, "popfq");
  for (let i = 0; i < 16; i++) if (i !== 4) L.push(`mov xw_in+${i * 8}, ${R(i)}`);
  L.push("mov xw_in+32, %rsp", "jmp *xw_target", "xw_back:");
  for (let i = 0; i < 16; i++) L.push(`mov ${R(i)}, xw_out+${i * 8}`);
  L.push("mov xw_saved_sp, %rsp", "pushfq", `popq xw_out+${O_FLAGS}`, "cld", `stmxcsr xw_out+${O_MXCSR}`);
  for (let i = 0; i < 16; i++) L.push(`movdqu %xmm${i}, xw_out+${O_XMM + 16 * i}`);
  L.push(
    "ldmxcsr xw_mxcsr_default", "fninit", "pop %r15", "pop %r14", "pop %r13", "pop %r12", "pop %rbp", "pop %rbx", "ret"
  );
  cases.forEach((c, i) => L.push(`xw_case_${i}:`, c.text, "jmp xw_back"));
  L.push(".data", ".p2align 6", ".globl xw_in, xw_out, xw_target, xw_cases, xw_ncases",
    `xw_in: .space ${REC}`, ".p2align 6", `xw_out: .space ${REC}`, "xw_saved_sp: .quad 0",
    "xw_mxcsr_default: .long 0x1f80",
    "xw_target: .quad 0", "xw_cases:");
  for (let i = 0; i < cases.length; i += 16)
    L.push(".quad " + cases.slice(i, i + 16).map((_, j) => `xw_case_${i + j}`).join(","));
  L.push(`xw_ncases: .long ${cases.length}`, '.section .note.GNU-stack,"",@progbits', "");
  return L.join("\n");
}

function encodeInputs(cases: SseCase[]): Uint8Array {
  const buf = new Uint8Array(REC * cases.length);
  const v = new DataView(buf.buffer);
  cases.forEach((c, k) => {
    const o = k * REC;
    for (let i = 0; i < 16; i++) v.setBigUint64(o + i * 8, c.regs[i], true);
    v.setBigUint64(o + O_FLAGS, BigInt(c.flags | 2), true);
    v.setUint32(o + O_MXCSR, c.mxcsr, true);
    buf.set(c.xmm, o + O_XMM);
    buf.set(c.mem, o + O_MEM);
  });
  return buf;
}

function decodeRec(buf: Uint8Array, k: number): Result {
  const v = new DataView(buf.buffer, buf.byteOffset);
  const o = k * REC;
  const regs: bigint[] = [];
  for (let i = 0; i < 16; i++) regs.push(v.getBigUint64(o + i * 8, true));
  return {
    regs, flags: Number(v.getBigUint64(o + O_FLAGS, true) & 0xffffn),
    status: Number(v.getBigUint64(o + O_STATUS, true)),
    mxcsr: v.getUint32(o + O_MXCSR, true), xmm: buf.slice(o + O_XMM, o + O_XMM + 256),
    mem: buf.slice(o + O_MEM, o + O_MEM + MEMSIZE),
  };
}

export function runNative(cases: SseCase[], bits: 32 | 64 = 64): Result[] {
  mkdirSync(dir, { recursive: true });
  const src = bits === 64 ? nativeSource(cases) : nativeSource32(cases);
  const driver = join(process.cwd(), "tests", "diff", "sse-native.c");
  const h = createHash("sha1").update(src).update(readFileSync(driver)).digest("hex").slice(0, 12);
  const S = join(dir, `cases${bits}.S`), exe = join(dir, `native-${h}`);
  if (!existsSync(exe)) {
    writeFileSync(S, src);
    execFileSync(
      "gcc", [...(bits === 32 ? ["-m32"] : []), "-O1", "-no-pie", "-o", exe, driver, S],
      { stdio: ["ignore", "inherit", "inherit"] }
    );
    prune("native-");
  }
  const inF = join(dir, `in-${process.pid}.bin`), outF = join(dir, `out-${process.pid}.bin`);
  writeFileSync(inF, encodeInputs(cases));
  execFileSync(exe, [inF, outF], { stdio: ["ignore", "inherit", "inherit"] });
  const out = new Uint8Array(readFileSync(outF));
  unlinkSync(inF); unlinkSync(outF);
  if (out.length !== REC * cases.length)
    throw new Error(`native: ${out.length / REC} results for ${cases.length} cases`);
  return cases.map((_, k) => decodeRec(out, k));
}

// ---- emulator ----
const FX = MM.CPU_STATE + MM.CPU_FXSAVE;
export async function runEmulator(cases: SseCase[], bits: 32 | 64 = 64): Promise<Result[]> {
  const code = assemble(cases, bits);
  const RAM = Math.ceil((CODE + code.length + 0x1000) / 0x100000) * 0x100000;
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  const bytes = core.bytes();
  bytes.set(code, MM.MACHINE_BASE + CODE);
  const out: Result[] = [];
  cases.forEach((c, i) => {
    core.x.cpu_reset_flat(bits === 64 ? MM.MODE_LONG64 : MM.MODE_PROT32, 3);
    core.setU64(MM.CPU_CR4, core.u64(MM.CPU_CR4) | 0x600n); // OSFXSR OSXMMEXCPT
    const b = core.bytes();
    b.set(c.mem, MM.MACHINE_BASE + REGION);
    b.set(c.xmm, FX + 160);
    core.view().setUint32(FX + 24, c.mxcsr, true);
    for (let r = 0; r < 16; r++) core.setReg(r, c.regs[r]);
    core.rip = BigInt(CODE + i * SLOT);
    core.rflags = BigInt(c.flags | 2);
    core.x.cpu_state_changed();
    const exit = core.run(100_000);
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(bits === 64 ? core.reg(r) : r < 8 ? core.reg(r) & 0xffffffffn : 0n);
    const ok = exit === MM.EXIT_UNHANDLED && core.exitVector === 6;
    const bb = core.bytes();
    out.push({
      regs, flags: Number(core.rflags & 0xffffn), status: 0, mxcsr: core.view().getUint32(FX + 24, true),
      xmm: bits === 64 ? bb.slice(FX + 160, FX + 416)
        : Uint8Array.from([...bb.slice(FX + 160, FX + 288), ...new Uint8Array(128)]),
      exit: ok ? undefined : `exit reason ${exit}, vector ${core.exitVector}, error `
        + `${core.exitError}, rip 0x${core.rip.toString(16)} (case at ` + `0x${(CODE + i * SLOT).toString(16)})`,
      mem: bb.slice(MM.MACHINE_BASE + REGION, MM.MACHINE_BASE + REGION + MEMSIZE),
    });
  });
  return out;
}

// ---- comparison ----
const hex = (v: bigint | number) => "0x" + v.toString(16);
const bytesHex = (b: Uint8Array) => [...b].reverse().map((x) => x.toString(16).padStart(2, "0")).join("");
function flagStr(f: number, m = ARITH | DF): string {
  return FLAG_NAMES.filter(([b]) => m & b).map(([b, n]) => (f & b ? n : n.toLowerCase())).join(" ");
}

const isNaNLane = (b: Uint8Array, o: number, w: 4 | 8): boolean => {
  const v = new DataView(b.buffer, b.byteOffset + o, w);
  return w === 4 ? (v.getUint32(0, true) & 0x7fffffff) > 0x7f800000
    : (v.getBigUint64(0, true) & 0x7fffffffffffffffn) > 0x7ff0000000000000n;
};
/** `nanLanes`: lanes of this width where both results are NaN count as equal (a model-specific case on a host of
 *  another vendor). */
export function compare(exp: Result, got: Result, nanLanes?: 4 | 8): string[] {
  const d: string[] = [];
  if (exp.status) d.push(`native execution faulted (signal ${exp.status}): generator bug`);
  if (got.exit) d.push(`emulator did not reach the ud2: ${got.exit}`);
  if (d.length) return d;
  for (let i = 0; i < 16; i++)
    if (exp.regs[i] !== got.regs[i]) d.push(`${R64[i]}: expected ${hex(exp.regs[i])} got ${hex(got.regs[i])}`);
  const fm = ARITH | DF;
  if ((exp.flags & fm) !== (got.flags & fm)) d.push(`flags: expected ${flagStr(exp.flags)} got ${flagStr(got.flags)}`);
  if (exp.mxcsr !== got.mxcsr) d.push(`mxcsr: expected ${hex(exp.mxcsr)} got ${hex(got.mxcsr)}`);
  for (let i = 0; i < 16; i++) {
    const e = exp.xmm.subarray(i * 16, i * 16 + 16), g = got.xmm.subarray(i * 16, i * 16 + 16);
    const w = nanLanes ?? 16;
    let differs = false;
    for (let o = 0; o < 16; o += w) {
      if (!e.subarray(o, o + w).some((x, j) => x !== g[o + j])) continue;
      if (nanLanes && isNaNLane(e, o, nanLanes) && isNaNLane(g, o, nanLanes)) continue;
      differs = true;
    }
    if (differs) d.push(
      `xmm${i}: expected ${bytesHex(e)} got `
        + `${bytesHex(g)}${nanLanes ? " (NaN lanes not compared: model-specific)" : ""}`
    );
  }
  for (let i = 0; i < MEMSIZE; i++) {
    if (exp.mem[i] !== got.mem[i]) {
      let j = i;
      while (j + 1 < MEMSIZE && exp.mem[j + 1] !== got.mem[j + 1]) j++;
      d.push(
        `mem ${hex(REGION + i)}..${hex(REGION + j)}: expected ` + `${bytesHex(exp.mem.slice(i, j + 1).reverse())} got `
          + `${bytesHex(got.mem.slice(i, j + 1).reverse())}`
      );
      i = j;
    }
  }
  return d;
}

/** How the model-specific cases of a group were checked (empty without any). */
export function vendorNote(s: GroupStats): string {
  if (!s.vendorCases) return "";
  const { host, emu } = s.vendors;
  if (host === emu) return `${s.vendorCases} model-specific cases (DPPS/DPPD) compared with this ${host} CPU`;
  return `${s.vendorCases} model-specific cases (DPPS/DPPD): NaN `
    + `lanes compared as NaN only, this CPU is ${host}, the ` + `emulator ${emu}`;
}

export function describe(mm: Mismatch): string {
  const c = mm.c;
  const xs = (n: number) => bytesHex(c.xmm.subarray(n * 16, n * 16 + 16));
  const used = [...new Set([...c.text.matchAll(/%xmm(\d+)/g)].map((m) => Number(m[1])))];
  const lines = [`[${c.group} ${c.bits}-bit] ${c.form} #${mm.index}: \`${c.text}\``,
    `    in: mxcsr=${hex(c.mxcsr)} flags: ${flagStr(c.flags)} ${used.map((n) => `xmm${n}=${xs(n)}`).join(" ")}`];
  for (const d of mm.diffs) lines.push(`    ${d}`);
  return lines.join("\n");
}

export interface RunOptions {
  seed: number; count: number; groups?: string[]; maxMismatches?: number; modes?: (32 | 64)[]; forms?: string[]
}

/** Why 32-bit processes cannot be the reference here (no gcc -m32 / multilib, or a kernel without IA-32
 * emulation), or null. */
let probed: string | null | undefined;
export function native32Problem(): string | null {
  if (probed !== undefined) return probed;
  try {
    mkdirSync(dir, { recursive: true });
    const c = join(dir, "probe32.c"), exe = join(dir, "probe32");
    writeFileSync(c, "int main(void) { return 0; }\n");
    execFileSync("gcc", ["-m32", "-o", exe, c], { stdio: "ignore" });
    execFileSync(exe, { stdio: "ignore" });
    probed = null;
  } catch (e) {
    probed =
      `no 32-bit reference process on this host (gcc -m32 or IA-32 emulation): ${(e as Error).message.split("\n")[0]}`;
  }
  return probed;
}
/** Set by sseRun when the 32-bit cases were skipped: the reason. */
export let skipped32: string | null = null;

/** Generate, run natively and in the emulator, compare; stats per group and mode (64-bit, then 32-bit
 * unless `modes` says otherwise; 32-bit skipped, with `skipped32` set, where native32Problem() says). */
export async function sseRun(o: RunOptions): Promise<GroupStats[]> {
  const stats: GroupStats[] = [];
  skipped32 = null;
  // (the host CPU is the reference in both modes)
  const vendors: Vendors = { host: referenceCpu(64).vendor, emu: await emulatorVendor() };
  for (const bits of o.modes ?? [64, 32]) {
    if (bits === 32 && native32Problem()) { skipped32 = native32Problem(); continue; }
    const cases = generate(o.seed, o.count, o.groups, bits, o.forms);
    if (!cases.length) continue;
    const nat = runNative(cases, bits);
    const emu = await runEmulator(cases, bits);
    // DPPS/DPPD on a host of another vendor than the emulator's: NaN lanes compared as NaN only
    const nanLanes = (c: SseCase) => (vendors.host !== vendors.emu ? MODEL_SPECIFIC[c.form] : undefined);
    const unstable = nativeFlukes(
      nat, () => runNative(cases, bits), (i, n) => compare(n, emu[i], nanLanes(cases[i])).length > 0
    );
    const by = new Map<string, GroupStats>();
    cases.forEach((c, i) => {
      let g = by.get(c.group);
      if (!g) {
        g = {
          group: c.group, bits, cases: 0, passed: 0, failed: 0, mismatches: [], failedForms: new Map(), vendorCases: 0,
          vendors, nativeUnstable: []
        }; by.set(c.group, g); stats.push(g);
      }
      g.cases++;
      if (MODEL_SPECIFIC[c.form]) g.vendorCases++;
      const diffs = unstable.has(i) ? [] : compare(nat[i], emu[i], nanLanes(c));
      if (unstable.has(i)) g.nativeUnstable.push(`${c.form} #${i}`);
      if (diffs.length) {
        g.failed++;
        g.failedForms.set(c.form, (g.failedForms.get(c.form) ?? 0) + 1);
        if (g.mismatches.length < (o.maxMismatches ?? 1000)) g.mismatches.push({ c, index: i, diffs });
      } else g.passed++;
    });
  }
  return stats;
}
