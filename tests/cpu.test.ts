// CPU behaviour the differential tests cannot show: self-modifying code, restartable REP string
// instructions, decode-cache coherence, page-straddling instructions.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Core, MM } from "../host/core";
import { asm } from "./lib/asm";

const RAM = 8 << 20;
const CODE = 0x100000;

async function machine(bits: 32 | 64, src: string): Promise<Core> {
  const core = await Core.create({ ioIn: () => 0, ioOut: () => true });
  core.ensureMemory(MM.MACHINE_BASE + RAM);
  core.x.set_phys_window(MM.MACHINE_BASE, RAM);
  core.x.cpu_reset_flat(bits === 64 ? MM.MODE_LONG64 : MM.MODE_PROT32, 0);
  core.bytes().set(asm(src, bits, CODE), MM.MACHINE_BASE + CODE);
  core.rip = BigInt(CODE);
  core.setReg(4, 0x80000n);
  core.x.cpu_state_changed();
  return core;
}

// Run until the program's final ud2 (an unhandled #UD on a machine without IDT).
function runToEnd(core: Core): void {
  const exit = core.run(1_000_000);
  assert.is(exit, MM.EXIT_UNHANDLED, "program ends at its ud2");
  assert.is(core.exitVector, 6);
}

for (const bits of [32, 64] as const) {
  test(`self-modifying code sees its own writes (${bits}-bit)`, async () => {
    const core = await machine(bits, `
      mov $3, %ecx
    again:
      mov $1, %eax          # the immediate byte of this instruction is patched below
    patch = . - 4
      add %eax, %ebx
      movb $7, patch        # rewrite the immediate: the next pass must see 7
      dec %ecx
      jnz again
      ud2`);
    runToEnd(core);
    assert.is(core.reg(3), 1n + 7n + 7n);
  });

  test(`rep movsb forward overlap replicates the pattern (${bits}-bit)`, async () => {
    const core = await machine(bits, `
      mov $0x200000, %esi
      movl $0x04030201, (%esi)
      lea 4(%esi), %edi
      mov $60, %ecx
      cld
      rep movsb
      ud2`);
    runToEnd(core);
    const b = core.bytes();
    for (let i = 0; i < 64; i++) assert.is(b[MM.MACHINE_BASE + 0x200000 + i], (i % 4) + 1, `byte ${i}`);
    assert.is(core.reg(1), 0n);
  });

  test(`rep stosd and backwards rep movsd (${bits}-bit)`, async () => {
    const core = await machine(bits, `
      mov $0x300000, %edi
      mov $0xabcdef01, %eax
      mov $3000, %ecx
      cld
      rep stosl
      mov $0x300000 + 4 * 2999, %esi
      mov $0x400000 + 4 * 2999, %edi
      mov $3000, %ecx
      std
      rep movsl
      cld
      ud2`);
    runToEnd(core);
    const v = core.view();
    assert.is(v.getUint32(MM.MACHINE_BASE + 0x300000 + 4 * 2999, true), 0xabcdef01);
    assert.is(v.getUint32(MM.MACHINE_BASE + 0x400000, true), 0xabcdef01);
    assert.is(v.getUint32(MM.MACHINE_BASE + 0x400000 + 4 * 3000, true), 0);
  });

  test(`an instruction straddling a page boundary decodes (${bits}-bit)`, async () => {
    const core = await machine(bits, `
      jmp target
      .org 0xffd
    target:
      mov $0x11223344, %edx   # 5 bytes: starts 3 bytes before the page end
      ud2`);
    runToEnd(core);
    assert.is(core.reg(2), 0x11223344n);
  });
}

test("64-bit: REX byte registers and RIP-relative addressing", async () => {
  const core = await machine(64, `
    mov $0x1122334455667788, %rax
    mov %al, %sil
    mov %ah, %bl
    lea data(%rip), %rdi
    mov (%rdi), %r9
    mov data(%rip), %r10d
    ud2
    .align 8
  data: .quad 0x0102030405060708`);
  runToEnd(core);
  assert.is(core.reg(6) & 0xffn, 0x88n);
  assert.is(core.reg(3) & 0xffn, 0x77n);
  assert.is(core.reg(9), 0x0102030405060708n);
  assert.is(core.reg(10), 0x05060708n);
});

// Behaviour that differs between CPU vendors follows the vendor CPUID reports, GenuineIntel
// (docs/CPU-FLAGS.md): an addr32 REP string instruction with ECX = 0 in 64-bit mode does no iteration
// but still writes ECX and the index registers it uses, clearing their upper halves (AMD keeps them).
// Checked here against the documented result, whatever CPU runs the tests.
for (const [insn, si, di] of [["rep movsb", true, true], ["rep stosl", false, true], ["rep lodsw", true, false],
  ["repe cmpsq", true, true], ["repne scasb", false, true], ["rep insb", false, true], ["rep outsl", true, false]
] as const
) {
  test(`64-bit: addr32 ${insn} with ECX = 0 clears the upper halves `
      + `of RCX${si ? ", RSI" : ""}${di ? ", RDI" : ""} (Intel)`, async () => {
    const hi = 0xdead_beef_0000_0000n;
    const core = await machine(64, `addr32 ${insn}\nud2`);
    core.setReg(1, hi); // ECX = 0
    core.setReg(6, hi | 0x200000n);
    core.setReg(7, hi | 0x200100n);
    core.setReg(0, 0x1122_3344_5566_7788n);
    core.setReg(2, 0x80n); // DX: a port (CPL 0: allowed)
    core.x.cpu_state_changed();
    const flags = core.rflags;
    runToEnd(core);
    assert.is(core.reg(1), 0n, "RCX");
    assert.is(core.reg(6), si ? 0x200000n : hi | 0x200000n, "RSI");
    assert.is(core.reg(7), di ? 0x200100n : hi | 0x200100n, "RDI");
    assert.is(core.reg(0), 0x1122_3344_5566_7788n, "RAX unchanged");
    assert.is(core.rflags, flags, "flags unchanged");
  });
}
test("64-bit: rep movsb with RCX = 0 (64-bit addresses) changes no register", async () => {
  const hi = 0xdead_beef_0000_0000n;
  const core = await machine(64, `rep movsb\nud2`);
  core.setReg(1, 0n);
  core.setReg(6, hi | 0x200000n);
  core.setReg(7, hi | 0x200100n);
  core.x.cpu_state_changed();
  runToEnd(core);
  assert.is(core.reg(1), 0n);
  assert.is(core.reg(6), hi | 0x200000n);
  assert.is(core.reg(7), hi | 0x200100n);
});

// TZCNT (F3 0F BC, BMI1) and LZCNT (F3 0F BD, ABM): CF = source zero, ZF = result zero, a zero source
// gives the operand width; without F3, BSF. CPUID says BMI1 and BMI2 (leaf 7.0 EBX[3], [8]) and no AVX or
// OSXSAVE (leaf 1 ECX[28], [27]): VEX serves only the BMI instructions.
for (const bits of [32, 64] as const) {
  test(`TZCNT and LZCNT count, BSF is BSF; CPUID reports BMI1 and BMI2, not AVX (${bits}-bit)`, async () => {
    const r = bits === 64 ? "r" : "e"; // push/pop width
    const core = await machine(bits, `
      mov $0x00010000, %ecx
      mov $0x1234, %ebx
      tzcnt %ecx, %ebx          # 16, CF = 0, ZF = 0
      pushf
      pop %${r}si
      xor %ecx, %ecx
      mov $0x77, %edx
      tzcnt %ecx, %edx          # zero source: 32, CF = 1
      pushf
      pop %${r}di
      mov $1, %eax
      tzcnt %ax, %ax            # 0: ZF = 1
      pushf
      pop %${r}bp
      mov $0x55, %eax
      bsf %ecx, %eax            # zero source: BSF leaves EAX (AMD documents it; not compared elsewhere)
      lzcnt %ecx, %ecx          # 32, CF = 1
      ud2`);
    runToEnd(core);
    const ZF = 0x40n, CF = 1n;
    assert.is(core.reg(3) & 0xffffffffn, 16n, "tzcnt of 0x10000");
    assert.is(core.reg(6) & (ZF | CF), 0n, "ZF and CF clear after a non-zero source");
    assert.is(core.reg(2) & 0xffffffffn, 32n, "tzcnt of 0: the operand width (BSF would leave 0x77)");
    assert.is(core.reg(7) & (ZF | CF), CF, "zero source: CF set, ZF clear");
    assert.is(core.reg(0) & 0xffffn, 0x55n, "bsf of 0 left the destination alone");
    assert.is(core.reg(5) & (ZF | CF), ZF, "tzcnt result 0: ZF set");
    assert.is(core.reg(1) & 0xffffffffn, 32n, "lzcnt of 0");
    for (const [leaf, reg, bit, want, what] of [
        [7, 3, 3, 1, "CPUID.7.0:EBX[3] (BMI1)"], [7, 3, 8, 1, "CPUID.7.0:EBX[8] (BMI2)"],
      [7, 3, 5, 0, "CPUID.7.0:EBX[5] (AVX2)"], [1, 1, 28, 0, "CPUID.1:ECX[28] (AVX)"],
      [1, 1, 27, 0, "CPUID.1:ECX[27] (OSXSAVE)"]
    ] as const
    ) {
      const id = await machine(bits, `mov $${leaf}, %eax\nxor %ecx, %ecx\ncpuid\nud2`);
      runToEnd(id);
      assert.is(Number((id.reg(reg) >> BigInt(bit)) & 1n), want, what);
    }
  });
}

// The CPU does not speculate: IA32_ARCH_CAPABILITIES says so with every "not affected" bit, enhanced IBRS
// and BHI_CTRL are offered (IA32_SPEC_CTRL keeps IBRS and BHI_DIS_S, without effect), IA32_PRED_CMD takes an
// IBPB; reserved bits and the wrong direction raise #GP(0) (assembly/cpu/privops.ts).
test("64-bit: CPUID.7 and IA32_ARCH_CAPABILITIES, IA32_SPEC_CTRL, IA32_PRED_CMD", async () => {
  const id0 = await machine(64, "mov $7, %eax\nxor %ecx, %ecx\ncpuid\nud2");
  runToEnd(id0);
  assert.is(id0.reg(0) & 0xffffffffn, 2n, "CPUID.7.0:EAX, the last subleaf");
  assert.is(
    id0.reg(2) & ((1n << 26n) | (1n << 29n)), (1n << 26n) | (1n << 29n), "CPUID.7.0:EDX IBRS/IBPB and ARCH_CAPABILITIES"
  );
  const id2 = await machine(64, "mov $7, %eax\nmov $2, %ecx\ncpuid\nud2");
  runToEnd(id2);
  assert.is(id2.reg(2) & 0xffffffffn, 1n << 4n, "CPUID.7.2:EDX BHI_CTRL");
  // RDCL_NO, IBRS_ALL, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO,
  // GDS_NO, RFDS_NO, ITS_NO (bit positions from the SDM and Linux's msr-index.h)
  const caps = [0, 1, 4, 5, 6, 8, 13, 14, 15, 20, 24, 26, 27, 62].reduce((a, b) => a | (1n << BigInt(b)), 0n);
  const rd = await machine(64, `
    mov $0x10a, %ecx
    rdmsr
    mov %rax, %r8
    mov %rdx, %r9
    mov $0x48, %ecx
    mov $0x401, %eax
    xor %edx, %edx
    wrmsr
    xor %eax, %eax
    rdmsr
    mov %rax, %r10
    mov $0x49, %ecx
    mov $1, %eax
    wrmsr
    ud2`);
  runToEnd(rd);
  assert.is((rd.reg(9) << 32n) | (rd.reg(8) & 0xffffffffn), caps, "IA32_ARCH_CAPABILITIES");
  assert.is(rd.reg(10), 0x401n, "IA32_SPEC_CTRL: IBRS and BHI_DIS_S kept");
  for (const [what, src] of [
      ["a write to IA32_ARCH_CAPABILITIES", "mov $0x10a, %ecx\nxor %eax, %eax\nxor %edx, %edx\nwrmsr"],
    ["IA32_SPEC_CTRL.STIBP (not offered)", "mov $0x48, %ecx\nmov $2, %eax\nxor %edx, %edx\nwrmsr"],
    ["IA32_SPEC_CTRL bit 32", "mov $0x48, %ecx\nxor %eax, %eax\nmov $1, %edx\nwrmsr"],
    ["a read of IA32_PRED_CMD (write-only)", "mov $0x49, %ecx\nrdmsr"],
    ["IA32_PRED_CMD bit 1", "mov $0x49, %ecx\nmov $2, %eax\nxor %edx, %edx\nwrmsr"]] as const) {
    const core = await machine(64, `${src}\nud2`);
    assert.is(core.run(1000), MM.EXIT_UNHANDLED, what);
    assert.is(core.exitVector, 13, `${what}: #GP`);
    assert.is(core.exitError, 0, `${what}: error code 0`);
  }
});

// VEX: what must raise #UD at the instruction itself (not run, not crash): VEX.L = 1, AVX, LOCK/66/F2/F3/
// REX before VEX, a reserved map, a wrong implied prefix or ModRM.reg, RORX with VEX.vvvv != 1111b.
// ANDN %ebx, %ecx, %eax (eax = ~ecx & ebx) is c4 e2 70 f2 c3.
const ANDN = "0xc4, 0xe2, 0x70, 0xf2, 0xc3";
const UD_CASES: [string, string, (32 | 64)[]][] = [
  ["VEX.L = 1 (andn)", "0xc4, 0xe2, 0x74, 0xf2, 0xc3", [32, 64]],
  ["VEX.L = 1 (rorx)", "0xc4, 0xe3, 0x7f, 0xf0, 0xc1, 0x05", [32, 64]],
  ["vpxor %xmm0, %xmm0, %xmm0 (AVX)", "0xc5, 0xf9, 0xef, 0xc0", [32, 64]],
  ["vzeroupper (AVX, no ModRM)", "0xc5, 0xf8, 0x77", [32, 64]],
  ["vaddps %ymm2, %ymm1, %ymm0 (AVX, VEX.L = 1)", "0xc5, 0xf4, 0x58, 0xc2", [32, 64]],
  ["vfmadd231ps (FMA, map 0F 38)", "0xc4, 0xe2, 0x71, 0xb8, 0xc2", [32, 64]],
  ["vpermq (AVX2, map 0F 3A)", "0xc4, 0xe3, 0xfd, 0x00, 0xc1, 0x1b", [32, 64]],
  ["LOCK + VEX", `0xf0, ${ANDN}`, [32, 64]],
  ["66 + VEX", `0x66, ${ANDN}`, [32, 64]],
  ["F3 + VEX", `0xf3, ${ANDN}`, [32, 64]],
  ["F2 + VEX", `0xf2, ${ANDN}`, [32, 64]],
  ["REX + VEX", `0x40, ${ANDN}`, [64]],
  ["REX.W + VEX", `0x48, ${ANDN}`, [64]],
  ["reserved VEX map 0", "0xc4, 0xe0, 0x70, 0xf2, 0xc3", [32, 64]],
  ["reserved VEX map 4", "0xc4, 0xe4, 0x70, 0xf2, 0xc3", [32, 64]],
  ["C4 with a reserved map (64-bit: always VEX, never LES)", "0xc4, 0x1e, 0x00, 0x00", [64]],
  ["andn with an implied 66", "0xc4, 0xe2, 0x71, 0xf2, 0xc3", [32, 64]],
  ["mulx without its implied F2", "0xc4, 0xe2, 0x70, 0xf6, 0xc3", [32, 64]],
  ["group 17 /0 (blsr is /1)", "0xc4, 0xe2, 0x70, 0xf3, 0xc3", [32, 64]],
  ["group 17 /4", "0xc4, 0xe2, 0x70, 0xf3, 0xe3", [32, 64]],
  ["rorx with VEX.vvvv = 0000b", "0xc4, 0xe3, 0x03, 0xf0, 0xc1, 0x05", [32, 64]],
  ["rorx with VEX.vvvv = 0111b (64-bit: vvvv[3] counts)", "0xc4, 0xe3, 0x3b, 0xf0, 0xc1, 0x05", [64]],
];
for (const bits of [32, 64] as const) {
  test(`VEX forms that are #UD raise #UD at the instruction (${bits}-bit)`, async () => {
    for (const [what, bytes, modes] of UD_CASES) {
      if (!modes.includes(bits)) continue;
      const core = await machine(bits, `.byte ${bytes}\nmov $1, %eax\nud2`);
      core.setReg(0, 0x1234n);
      core.x.cpu_state_changed();
      const exit = core.run(1000);
      assert.is(exit, MM.EXIT_UNHANDLED, what);
      assert.is(core.exitVector, 6, `${what}: #UD`);
      assert.is(core.rip, BigInt(CODE), `${what}: at the VEX instruction`);
      assert.is(core.reg(0), 0x1234n, `${what}: nothing ran`);
    }
  });
}

// The VEX encodings that are not #UD: the same bytes as some cases above, changed only where they must be.
test("VEX outside 64-bit mode: W, B and vvvv[3] ignored; 64-bit mode: all count", async () => {
  const prog = `
    mov $0xf0f0f0f0, %ecx
    mov $0xffff00ff, %ebx
    .byte 0xc4, 0xe2, 0xf0, 0xf2, 0xc3      # andn with VEX.W = 1: 64-bit andn %rbx, %rcx, %rax
    mov %eax, %esi
    .byte 0xc4, 0xe3, 0x3b, 0xf0, 0xf9, 0x04 # rorx $4, %ecx, %edi with vvvv = 0111b (32-bit: vvvv[3] ignored)
    ud2`;
  const c32 = await machine(32, prog);
  runToEnd(c32);
  assert.is(c32.reg(6), 0x0f0f000fn, "andn W1 in 32-bit mode: a 32-bit andn");
  assert.is(c32.reg(7), 0x0f0f0f0fn, "rorx with vvvv = 0111b runs in 32-bit mode");
  const c64 = await machine(
    64, prog.replace("mov $0xffff00ff, %ebx", "mov $0xffff00ff, %ebx\nmov $0xffffffff00000000, %rdx\nor %rdx, %rbx")
  );
  const exit = c64.run(1000);
  assert.is(exit, MM.EXIT_UNHANDLED);
  assert.is(c64.exitVector, 6);
  assert.is(c64.reg(0), 0xffffffff0f0f000fn, "andn W1 in 64-bit mode: 64-bit");
  assert.ok(c64.rip !== BigInt(CODE) && c64.reg(7) === 0n, "64-bit: rorx with vvvv = 0111b is #UD");
});

// 32-bit modes: C4/C5 whose next byte has ModRM.mod != 3 are LES/LDS, as before VEX.
test("32-bit: LES and LDS with a memory operand still load a far pointer", async () => {
  const core = await machine(32, `
    les (%esi), %ebx
    mov %es, %eax
    lds 0x200010, %edi
    mov %ds, %ecx
    ud2`);
  const dv = core.view();
  dv.setBigUint64(MM.MACHINE_BASE + 0x10, 0x00cf93000000ffffn, true); // GDT[2]: flat data (GDTR base 0)
  dv.setUint32(MM.MACHINE_BASE + 0x200000, 0x12345678, true);
  dv.setUint16(MM.MACHINE_BASE + 0x200004, 0x10, true);
  dv.setUint32(MM.MACHINE_BASE + 0x200010, 0x9abcdef0, true);
  dv.setUint16(MM.MACHINE_BASE + 0x200014, 0x10, true);
  core.setReg(6, 0x200000n);
  core.x.cpu_state_changed();
  runToEnd(core);
  assert.is(core.reg(3), 0x12345678n, "les: offset");
  assert.is(core.reg(0) & 0xffffn, 0x10n, "les: ES");
  assert.is(core.reg(7), 0x9abcdef0n, "lds: offset");
  assert.is(core.reg(1) & 0xffffn, 0x10n, "lds: DS");
});

// BLSI's CF (source non-zero) in 32-bit mode: qemu-i386, the 32-bit differential reference, gets it wrong
// (diffgen's qemuBug), so it is checked here against the SDM; MULX with one register for both halves.
test("32-bit: BLSI sets CF for a non-zero source; MULX writes the high half last", async () => {
  const core = await machine(32, `
    mov $0x60, %ecx
    blsi %ecx, %ebx             # 0x20, CF = 1
    setc %al
    xor %ecx, %ecx
    blsi %ecx, %esi             # 0, CF = 0, ZF = 1
    setc %ah
    mov $0x80000001, %edx
    mov $6, %ecx
    mulx %ecx, %edi, %edi       # EDX * ECX = 0x3_00000006: EDI = the high half
    ud2`);
  runToEnd(core);
  assert.is(core.reg(3), 0x20n);
  assert.is(core.reg(0) & 0xffffn, 0x0001n, "CF after blsi of 0x60, then of 0");
  assert.is(core.reg(6), 0n);
  assert.is(core.reg(7), 3n, "mulx: the high half wins");
});

// CMPXCHG16B (CPUID CX16): its m128 must be 16-byte aligned (#GP(0), nothing written, also with LOCK);
// LOCK is allowed; both outcomes. CMPXCHG8B has no alignment rule. (Values: tests/lib/diffgen.ts.)
test("64-bit: CMPXCHG16B raises #GP(0) on a misaligned operand, takes LOCK, and compares 128 bits", async () => {
  for (
    const [
      insn, vec
    ] of [["lock cmpxchg16b 0x200008", 13], ["cmpxchg16b 0x200004", 13], ["lock cmpxchg8b 0x200004", -1]] as const
  ) {
    const core = await machine(64, `${insn}\nud2`);
    core.bytes().fill(0x5a, MM.MACHINE_BASE + 0x200000, MM.MACHINE_BASE + 0x200040);
    const exit = core.run(1000);
    assert.is(exit, MM.EXIT_UNHANDLED, insn);
    if (vec === 13) {
      assert.is(core.exitVector, 13, `${insn}: #GP`);
      assert.is(core.exitError, 0, `${insn}: error code`);
      assert.is(core.rip, BigInt(CODE), `${insn}: RIP at the instruction`);
      assert.ok(
        core.bytes().subarray(MM.MACHINE_BASE + 0x200000, MM.MACHINE_BASE + 0x200040).every((b) => b === 0x5a),
        `${insn}: memory unchanged`
      );
    } else assert.is(core.exitVector, 6, `${insn}: runs to the ud2`);
  }
  const core = await machine(64, `
    mov $0x200010, %rdi
    mov $0x1111, %rax
    mov $0x2222, %rdx
    mov $0x3333, %rbx
    mov $0x4444, %rcx
    lock cmpxchg16b (%rdi)   # equal: RCX:RBX stored, ZF = 1
    setz %r8b
    lock cmpxchg16b (%rdi)   # not equal now: RDX:RAX loaded, ZF = 0
    setz %r9b
    ud2`);
  const dv = core.view();
  dv.setBigUint64(MM.MACHINE_BASE + 0x200010, 0x1111n, true);
  dv.setBigUint64(MM.MACHINE_BASE + 0x200018, 0x2222n, true);
  runToEnd(core);
  assert.is(core.reg(8) & 0xffn, 1n, "first: equal");
  assert.is(core.reg(9) & 0xffn, 0n, "second: not equal");
  assert.is(dv.getBigUint64(MM.MACHINE_BASE + 0x200010, true), 0x3333n);
  assert.is(dv.getBigUint64(MM.MACHINE_BASE + 0x200018, true), 0x4444n);
  assert.is(core.reg(0), 0x3333n, "RAX loaded from memory");
  assert.is(core.reg(2), 0x4444n, "RDX loaded from memory");
});

test.run();
