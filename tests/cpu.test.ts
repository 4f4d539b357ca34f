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
  ["repe cmpsq", true, true], ["repne scasb", false, true], ["rep insb", false, true], ["rep outsl", true, false]] as const) {
  test(`64-bit: addr32 ${insn} with ECX = 0 clears the upper halves of RCX${si ? ", RSI" : ""}${di ? ", RDI" : ""} (Intel)`, async () => {
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

// TZCNT needs BMI1, which CPUID does not offer (no VEX-encoded ANDN/BEXTR/BLS*): F3 0F BC runs as BSF,
// as on a CPU without BMI1 (docs/CPU-FLAGS.md). LZCNT has its own CPUID bit and runs as LZCNT.
for (const bits of [32, 64] as const) {
  test(`REP BSF is BSF (no BMI1 in CPUID.7.0:EBX); LZCNT counts (${bits}-bit)`, async () => {
    const r = bits === 64 ? "r" : "e"; // push/pop width
    const core = await machine(bits, `
      mov $0x00010000, %ecx
      mov $0x1234, %ebx
      rep bsf %ecx, %ebx        # 16, ZF = 0
      pushf
      pop %${r}si
      xor %ecx, %ecx
      mov $0x77, %edx
      stc
      rep bsf %ecx, %edx        # zero source: EDX unchanged, ZF = 1
      pushf
      pop %${r}di
      xor %ecx, %ecx
      lzcnt %ecx, %ebp          # 32, CF = 1
      pushf
      pop %${r}ax               # the flags after lzcnt
      ud2`);
    runToEnd(core);
    const ZF = 0x40n, CF = 1n;
    assert.is(core.reg(3) & 0xffffffffn, 16n, "rep bsf of 0x10000");
    assert.is(core.reg(6) & ZF, 0n, "ZF clear after a non-zero source");
    assert.is(core.reg(2) & 0xffffffffn, 0x77n, "zero source: destination unchanged (TZCNT would write 32)");
    assert.is(core.reg(7) & ZF, ZF, "ZF set after a zero source");
    assert.is(core.reg(7) & CF, 0n, "CF clear (TZCNT would set it)");
    assert.is(core.reg(5) & 0xffffffffn, 32n, "lzcnt of 0");
    assert.is(core.reg(0) & CF, CF, "lzcnt: CF = source zero");
    const id = await machine(bits, "mov $7, %eax\nxor %ecx, %ecx\ncpuid\nud2");
    runToEnd(id);
    assert.is(id.reg(3) & 8n, 0n, "CPUID.7.0:EBX[3] (BMI1) clear");
  });
}

// The CPU does not speculate: IA32_ARCH_CAPABILITIES says so with every "not affected" bit, enhanced IBRS
// and BHI_CTRL are offered (IA32_SPEC_CTRL keeps IBRS and BHI_DIS_S, without effect), IA32_PRED_CMD takes an
// IBPB; reserved bits and the wrong direction raise #GP(0) (assembly/cpu/privops.ts).
test("64-bit: CPUID.7 and IA32_ARCH_CAPABILITIES, IA32_SPEC_CTRL, IA32_PRED_CMD", async () => {
  const id0 = await machine(64, "mov $7, %eax\nxor %ecx, %ecx\ncpuid\nud2");
  runToEnd(id0);
  assert.is(id0.reg(0) & 0xffffffffn, 2n, "CPUID.7.0:EAX, the last subleaf");
  assert.is(id0.reg(2) & ((1n << 26n) | (1n << 29n)), (1n << 26n) | (1n << 29n), "CPUID.7.0:EDX IBRS/IBPB and ARCH_CAPABILITIES");
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
  for (const [what, src] of [["a write to IA32_ARCH_CAPABILITIES", "mov $0x10a, %ecx\nxor %eax, %eax\nxor %edx, %edx\nwrmsr"],
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

// CMPXCHG16B (CPUID CX16): its m128 must be 16-byte aligned (#GP(0), nothing written, also with LOCK);
// LOCK is allowed; both outcomes. CMPXCHG8B has no alignment rule. (Values: tests/lib/diffgen.ts.)
test("64-bit: CMPXCHG16B raises #GP(0) on a misaligned operand, takes LOCK, and compares 128 bits", async () => {
  for (const [insn, vec] of [["lock cmpxchg16b 0x200008", 13], ["cmpxchg16b 0x200004", 13], ["lock cmpxchg8b 0x200004", -1]] as const) {
    const core = await machine(64, `${insn}\nud2`);
    core.bytes().fill(0x5a, MM.MACHINE_BASE + 0x200000, MM.MACHINE_BASE + 0x200040);
    const exit = core.run(1000);
    assert.is(exit, MM.EXIT_UNHANDLED, insn);
    if (vec === 13) {
      assert.is(core.exitVector, 13, `${insn}: #GP`);
      assert.is(core.exitError, 0, `${insn}: error code`);
      assert.is(core.rip, BigInt(CODE), `${insn}: RIP at the instruction`);
      assert.ok(core.bytes().subarray(MM.MACHINE_BASE + 0x200000, MM.MACHINE_BASE + 0x200040).every((b) => b === 0x5a), `${insn}: memory unchanged`);
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
