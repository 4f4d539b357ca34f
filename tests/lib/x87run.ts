// x87/MMX differential runs: the cases of tests/lib/x87gen.ts are executed natively (64-bit) by
// tests/diff/x87-native.c + a generated assembly file (FXRSTOR64 the case's image, run, FXSAVE64), and
// in the emulator (long mode, CPL 3, CR0.NE, CR4.OSFXSR); compared: GPRs, arithmetic flags, FCW, FSW
// (the bits the case says are defined), the abridged tag word, ST0-7 (bit-exact, or within the case's
// ulp bound for transcendental results) and the 512-byte memory region (less the bytes of saved
// instruction/data pointers and opcode: AMD's FXSAVE stores those only while an exception is
// pending, and they are not compared at all). Model-specific cases (x87gen's `vendor`): compared bit for bit
// on a host of the vendor the emulator reports, without the vendor-dependent FSW bits and registers on
// another vendor's host. Generated files go to tests/build/x87/.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Core, MM } from "../../host/core";
import { X87Case, generate, REGION, MEMSIZE, ARITH } from "./x87gen";
import { R64, FLAG_NAMES, DF } from "./ssegen";
import { emulatorVendor, referenceCpu, nativeFlukes, type Vendors } from "./diffrun";

const dir = join(process.cwd(), "tests", "build", "x87");
const REC = 1168; // struct rec in x87-native.c
const O_FLAGS = 128, O_STATUS = 136, O_FX = 144, O_MEM = 656;
const SLOT = 64;
const CODE = 0x400000;

export interface Result {
  regs: bigint[]; flags: number; fx: Uint8Array; mem: Uint8Array; status: number; exit?: string
}
export interface Mismatch { c: X87Case; index: number; diffs: string[] }
export interface GroupStats {
  group: string; cases: number; passed: number; failed: number; mismatches: Mismatch[];
  failedForms: Map<string, number>;
  vendorCases: number; // model-specific cases (x87gen's `vendor`)
  vendors: Vendors;
  // cases whose first native result differed from the emulator's and two native reruns both gave the emulator's
  // (diffrun's nativeFlukes); passed, and reported
  nativeUnstable: string[];
}

function prune(prefix: string, keep = 3): void {
  const fs =
    readdirSync(dir).filter((f) => f.startsWith(prefix)).map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }));
  fs.sort((a, b) => b.t - a.t);
  for (const { f } of fs.slice(keep)) unlinkSync(join(dir, f));
}

function assemble(cases: X87Case[]): Uint8Array {
  mkdirSync(dir, { recursive: true });
  let src = ".code64\n";
  cases.forEach((c, i) => { src += `.org ${i * SLOT}\n${c.text}\nud2\n`; });
  const h = createHash("sha1").update(src).update(String(CODE)).digest("hex").slice(0, 12);
  const bin = join(dir, `emu-${h}.bin`);
  if (!existsSync(bin)) {
    const s = join(dir, `emu-${process.pid}.s`), o = join(dir, `emu-${process.pid}.o`);
    writeFileSync(s, src);
    execFileSync("as", ["--64", "-o", o, s]);
    execFileSync(
      "ld", ["-melf_x86_64", "-Ttext", "0x" + CODE.toString(16), "--oformat", "binary", "-e", "0", "-o", bin, o]
    );
    unlinkSync(o); unlinkSync(s);
    prune("emu-");
  }
  return new Uint8Array(readFileSync(bin));
}

function nativeSource(cases: X87Case[]): string {
  const L: string[] = [];
  const R = (i: number) => "%" + R64[i];
  L.push(".text", ".globl xw_run", ".type xw_run,@function", "xw_run:");
  L.push("push %rbx", "push %rbp", "push %r12", "push %r13", "push %r14", "push %r15", "mov %rsp, xw_saved_sp");
  L.push(`fxrstor64 xw_in+${O_FX}`);
  L.push(`pushq xw_in+${O_FLAGS}`, "popfq");
  for (let i = 0; i < 16; i++) if (i !== 4) L.push(`mov xw_in+${i * 8}, ${R(i)}`);
  L.push("mov xw_in+32, %rsp", "jmp *xw_target", "xw_back:");
  for (let i = 0; i < 16; i++) L.push(`mov ${R(i)}, xw_out+${i * 8}`);
  L.push("mov xw_saved_sp, %rsp", "pushfq", `popq xw_out+${O_FLAGS}`, "cld", `fxsave64 xw_out+${O_FX}`);
  L.push(
    "ldmxcsr xw_mxcsr_default", "fninit", "emms", "pop %r15", "pop %r14", "pop %r13", "pop %r12", "pop %rbp",
    "pop %rbx", "ret"
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

function encodeInputs(cases: X87Case[]): Uint8Array {
  const buf = new Uint8Array(REC * cases.length);
  const v = new DataView(buf.buffer);
  cases.forEach((c, k) => {
    const o = k * REC;
    for (let i = 0; i < 16; i++) v.setBigUint64(o + i * 8, c.regs[i], true);
    v.setBigUint64(o + O_FLAGS, BigInt(c.flags | 2), true);
    buf.set(c.fx, o + O_FX);
    buf.set(c.mem, o + O_MEM);
  });
  return buf;
}

export function runNative(cases: X87Case[]): Result[] {
  mkdirSync(dir, { recursive: true });
  const src = nativeSource(cases);
  const driver = join(process.cwd(), "tests", "diff", "x87-native.c");
  const h = createHash("sha1").update(src).update(readFileSync(driver)).digest("hex").slice(0, 12);
  const S = join(dir, `cases-${process.pid}.S`), exe = join(dir, `native-${h}`);
  if (!existsSync(exe)) {
    writeFileSync(S, src);
    execFileSync("gcc", ["-O1", "-no-pie", "-o", exe, driver, S], { stdio: ["ignore", "inherit", "inherit"] });
    unlinkSync(S);
    prune("native-");
  }
  const inF = join(dir, `in-${process.pid}.bin`), outF = join(dir, `out-${process.pid}.bin`);
  writeFileSync(inF, encodeInputs(cases));
  execFileSync(exe, [inF, outF], { stdio: ["ignore", "inherit", "inherit"] });
  const out = new Uint8Array(readFileSync(outF));
  unlinkSync(inF); unlinkSync(outF);
  if (out.length !== REC * cases.length)
    throw new Error(`native: ${out.length / REC} results for ${cases.length} cases`);
  const dv = new DataView(out.buffer);
  return cases.map((_, k) => {
    const o = k * REC;
    const regs: bigint[] = [];
    for (let i = 0; i < 16; i++) regs.push(dv.getBigUint64(o + i * 8, true));
    return {
      regs, flags: Number(dv.getBigUint64(o + O_FLAGS, true) & 0xffffn),
      status: Number(dv.getBigUint64(o + O_STATUS, true)),
      fx: out.slice(o + O_FX, o + O_FX + 512), mem: out.slice(o + O_MEM, o + O_MEM + MEMSIZE),
    };
  });
}

const FX = MM.CPU_STATE + MM.CPU_FXSAVE;
export async function runEmulator(cases: X87Case[]): Promise<Result[]> {
  const code = assemble(cases);
  const RAM = Math.ceil((CODE + code.length + 0x1000) / 0x100000) * 0x100000;
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  core.bytes().set(code, MM.MACHINE_BASE + CODE);
  const out: Result[] = [];
  cases.forEach((c, i) => {
    core.x.cpu_reset_flat(MM.MODE_LONG64, 3);
    core.setU64(MM.CPU_CR4, core.u64(MM.CPU_CR4) | 0x600n);
    const b = core.bytes();
    b.set(c.mem, MM.MACHINE_BASE + REGION);
    const img = c.fx.slice(0, 160);
    for (let s = 0; s < 8; s++) img.fill(0, 32 + 16 * s + 10, 32 + 16 * s + 16);
    b.set(img, FX);
    for (let r = 0; r < 16; r++) core.setReg(r, c.regs[r]);
    core.rip = BigInt(CODE + i * SLOT);
    core.rflags = BigInt(c.flags | 2);
    core.x.cpu_state_changed();
    const exit = core.run(100_000);
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(core.reg(r));
    const ok = exit === MM.EXIT_UNHANDLED && core.exitVector === 6;
    const bb = core.bytes();
    out.push({
      regs, flags: Number(core.rflags & 0xffffn), status: 0, fx: bb.slice(FX, FX + 512),
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
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
function u64(b: Uint8Array, o: number): bigint {
  let v = 0n; for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[o + i]); return v;
}
export function x80(b: Uint8Array, o: number): string {
  return `${u16(b, o + 8).toString(16).padStart(4, "0")}:${u64(b, o).toString(16).padStart(16, "0")}`;
}
/** Position of a finite value on the line of consecutive double-extended numbers (null: not finite/normal). */
function ord(b: Uint8Array, o: number): bigint | null {
  const se = u16(b, o + 8), m = u64(b, o), e = se & 0x7fff;
  if (e === 0x7fff) return null;
  if (e !== 0 && !(m >> 63n)) return null;
  const k = e === 0 ? m : BigInt(e) * (1n << 63n) + (m - (1n << 63n));
  return se & 0x8000 ? -k : k;
}
function fswStr(s: number): string {
  const b = (n: number, name: string) => (s & n ? name : "");
  const bits = [b(0x4000, "C3"), b(0x400, "C2"), b(0x200, "C1"), b(0x100, "C0"), b(0x80, "ES"), b(0x40, "SF"),
    b(0x20, "PE"), b(0x10, "UE"), b(8, "OE"), b(4, "ZE"), b(2, "DE"), b(1, "IE")];
  return `${hex(s)} [top ${(s >> 11) & 7} ${bits.filter((x) => x).join(" ")}]`;
}

/** `vendorTolerant`: the host CPU is of another vendor than the emulator's; a model-specific case's vendor-dependent
 *  parts are not compared. */
export function compare(c: X87Case, exp: Result, got: Result, vendorTolerant = false): string[] {
  const vd = vendorTolerant ? c.vendor : undefined;
  const fswMask = c.fswMask & ~(vd?.fsw ?? 0);
  const d: string[] = [];
  if (exp.status) d.push(`native execution faulted (signal ${exp.status}): generator bug`);
  if (got.exit) d.push(`emulator did not reach the ud2: ${got.exit}`);
  if (d.length) return d;
  for (let i = 0; i < 16; i++)
    if (exp.regs[i] !== got.regs[i]) d.push(`${R64[i]}: expected ${hex(exp.regs[i])} got ${hex(got.regs[i])}`);
  if ((exp.flags & ARITH) !== (got.flags & ARITH))
    d.push(`flags: expected ${flagStr(exp.flags)} got ${flagStr(got.flags)}`);
  if (u16(exp.fx, 0) !== u16(got.fx, 0)) d.push(`fcw: expected ${hex(u16(exp.fx, 0))} got ${hex(u16(got.fx, 0))}`);
  if ((u16(exp.fx, 2) & fswMask) !== (u16(got.fx, 2) & fswMask))
    d.push(`fsw: expected ${fswStr(u16(exp.fx, 2))} got ${fswStr(u16(got.fx, 2))}`);
  if (exp.fx[4] !== got.fx[4]) d.push(`ftw: expected ${hex(exp.fx[4])} got ${hex(got.fx[4])}`);
  for (let i = 0; i < 8; i++) {
    const o = 32 + 16 * i;
    if (vd && vd.st & (1 << i)) continue;
    if (exp.fx.subarray(o, o + 10).every((x, j) => x === got.fx[o + j])) continue;
    if (c.ulp) {
      const a = ord(exp.fx, o), g = ord(got.fx, o);
      if (a !== null && g !== null && (a > g ? a - g : g - a) <= BigInt(c.ulp)) continue;
    }
    d.push(`st${i}: expected ${x80(exp.fx, o)} got ${x80(got.fx, o)}`);
  }
  const skip = new Uint8Array(MEMSIZE);
  for (const [o, n] of c.memSkip) skip.fill(1, o, o + n);
  for (let i = 0; i < MEMSIZE; i++) {
    if (skip[i] || exp.mem[i] === got.mem[i]) continue;
    let j = i;
    while (j + 1 < MEMSIZE && !skip[j + 1] && exp.mem[j + 1] !== got.mem[j + 1]) j++;
    d.push(
      `mem ${hex(REGION + i)}..${hex(REGION + j)}: expected ` + `${bytesHex(exp.mem.slice(i, j + 1))} got `
        + `${bytesHex(got.mem.slice(i, j + 1))}`
    );
    i = j;
  }
  return d;
}

export function describe(mm: Mismatch): string {
  const c = mm.c;
  const st = [...Array(8).keys()].map((i) => `st${i}=${x80(c.fx, 32 + 16 * i)}`).join(" ");
  const lines = [`[${c.group}] ${c.form} #${mm.index}: \`${c.text.replace(/\n/g, "; ")}\``,
    `    in: fcw=${hex(u16(c.fx, 0))} ` + `fsw=${fswStr(u16(c.fx, 2))} ftw=${hex(c.fx[4])} flags: `
      + `${flagStr(c.flags)} mem=${bytesHex(c.mem.slice(0, 16))}`,
    `    ${st}`];
  for (const d of mm.diffs) lines.push(`    ${d}`);
  return lines.join("\n");
}

export interface RunOptions { seed: number; count: number; groups?: string[]; maxMismatches?: number }

export async function x87Run(o: RunOptions): Promise<GroupStats[]> {
  const cases = generate(o.seed, o.count, o.groups);
  const stats: GroupStats[] = [];
  if (!cases.length) return stats;
  const nat = runNative(cases);
  const emu = await runEmulator(cases);
  const vendors: Vendors = { host: referenceCpu(64).vendor, emu: await emulatorVendor() };
  const tolerant = vendors.host !== vendors.emu;
  const unstable = nativeFlukes(
    nat, () => runNative(cases), (i, n) => compare(cases[i], n, emu[i], tolerant).length > 0
  );
  const by = new Map<string, GroupStats>();
  cases.forEach((c, i) => {
    let g = by.get(c.group);
    if (!g) {
      g = {
        group: c.group, cases: 0, passed: 0, failed: 0, mismatches: [], failedForms: new Map(), vendorCases: 0, vendors,
        nativeUnstable: []
      }; by.set(c.group, g); stats.push(g);
    }
    g.cases++;
    if (c.vendor) g.vendorCases++;
    const diffs = unstable.has(i) ? [] : compare(c, nat[i], emu[i], tolerant);
    if (unstable.has(i)) g.nativeUnstable.push(`${c.form} #${i}`);
    if (diffs.length) {
      g.failed++;
      g.failedForms.set(c.form, (g.failedForms.get(c.form) ?? 0) + 1);
      if (g.mismatches.length < (o.maxMismatches ?? 1000)) g.mismatches.push({ c, index: i, diffs });
    } else g.passed++;
  });
  return stats;
}

/** How the model-specific cases of a group were checked (empty without any). */
export function vendorNote(s: GroupStats): string {
  if (!s.vendorCases) return "";
  const { host, emu } = s.vendors;
  if (host === emu) return `${s.vendorCases} model-specific cases compared with this ${host} CPU`;
  return `${s.vendorCases} model-specific cases: their ` + `vendor-dependent FSW bits and registers not compared (this `
    + `CPU is ${host}, the emulator ${emu}; tests/x87.test.ts `
    + `checks the emulator against ${emu}'s recorded results and ` + `this CPU against ${host}'s)`;
}
