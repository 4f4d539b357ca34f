// System behaviour from the Intel SDM (vol. 3): exception and interrupt delivery through the IDT with
// privilege changes, error codes, #DF and triple faults, segment-load checks, paging (2-level, PAE,
// 4-level) with A/D/U/S/R/W/NX/WP/global, fast system calls, I/O permission, single-step, intercepts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MM } from "../host/core";
import {
  sysMachine, seg16, CODE, STACK0, STACK3, IST1, K_CS32, K_CS64, K_DS, U_CS32, U_DS, U_CS64, R1_CS,
  EXPDOWN_SEL, RODATA_SEL, NOTPRESENT_SEL, CALLGATE_SEL, GDT, TSS32_SEL,
} from "./lib/sysmachine";

const hex = (v: bigint | number) => "0x" + v.toString(16);
function intercept(m: { core: { view(): DataView } }, vec: number): void {
  const v = m.core.view();
  const p = MM.CPU_STATE + MM.CPU_INTERCEPT + (vec >> 3);
  v.setUint8(p, v.getUint8(p) | (1 << (vec & 7)));
}

test("INT 0x80 from ring 3 switches to the TSS stack and IRET returns (32-bit)", async () => {
  const m = await sysMachine({ cpl: 3, src: `
    mov $0x1111, %eax
    int $0x80
    mov %eax, %ebx
    ud2
    .org 0x1000
    handler:
      mov 0(%esp), %ecx      # return EIP
      mov 4(%esp), %edx      # CS
      mov 16(%esp), %esi     # SS
      mov 12(%esp), %edi     # ESP
      pushf
      pop %ebp               # flags inside the handler
      add $1, %eax
      iret
  ` });
  m.setGate(0x80, K_CS32, CODE + 0x1000, 0xe, 3);
  intercept(m, 6);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  const c = m.core;
  assert.is(c.exitVector, 6);
  assert.is(c.reg(3), 0x1112n, "handler ran and returned");
  assert.is(c.reg(1), BigInt(CODE + 7), "return EIP is after INT");
  assert.is(c.reg(2), BigInt(U_CS32));
  assert.is(c.reg(6), BigInt(U_DS));
  assert.is(c.reg(7), BigInt(STACK3));
  assert.is(Number(c.reg(5)) & 0x200, 0, "interrupt gate cleared IF");
  assert.is(c.u32(MM.CPU_CPL), 3, "back in ring 3");
  assert.is(c.reg(4), BigInt(STACK3));
});

test("INT n through a gate with DPL < CPL raises #GP(vector*8+2)", async () => {
  const m = await sysMachine({ cpl: 3, src: `int $0x81\n` });
  m.setGate(0x81, K_CS32, CODE + 0x1000, 0xe, 0);
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.exitVector, 13);
  assert.is(m.core.exitError, 0x81 * 8 + 2);
  assert.is(m.core.rip, BigInt(CODE), "the fault is on the INT instruction");
});

test("#PF: error code, CR2, and the instruction restarts after the handler maps the page", async () => {
  const m = await sysMachine({ cpl: 3, src: `
    mov $0x2800, %eax
    movl $42, (%eax, %eax, 1)  # 0x5000: not present below
    mov (%eax, %eax, 1), %ebx
    ud2
    .org 0x1000
    pf:
      mov %cr2, %esi
      mov (%esp), %edi          # error code
      orl $7, 0x20000 + 4*5     # PTE for page 5 -> present, user, writable
      add $4, %esp
      iret
  ` });
  // 2-level tables: PDE 0 -> PT at 0x20000 mapping the first 4 MiB identity, user+writable, page 2 absent.
  m.w32(0x10000, 0x20007);
  for (let i = 0; i < 1024; i++) m.w32(0x20000 + i * 4, i === 5 ? 0x5000 : (i * 0x1000) | 7);
  const c = m.core;
  c.setU64(MM.CPU_CR3, 0x10000n);
  c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | 0x80010000n);
  c.x.cpu_state_changed();
  m.setGate(14, K_CS32, CODE + 0x1000, 0xe, 0);
  intercept(m, 6);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitVector, 6, `stopped at ud2, rip ${hex(c.rip)}`);
  assert.is(c.reg(6), 0x5000n, "CR2");
  assert.is(c.reg(7), 6n, "error code: write, user, not present");
  assert.is(c.reg(3), 42n, "the store was retried");
  assert.ok((m.r32(0x20000 + 20) & 0x60) === 0x60, "accessed and dirty set");
});

test("privileged instructions at CPL 3 raise #GP(0) without side effects", async () => {
  for (
    const insn of [
      "cli", "hlt", "mov %eax, %cr3", "lgdt (%eax)", "wrmsr", "rdmsr", "mov %eax, %dr7", "clts", "invlpg (%eax)",
      "in $0x60, %al", "out %al, $0x61"
    ]
  ) {
    const m = await sysMachine({ cpl: 3, src: `${insn}\n` });
    intercept(m, 13);
    assert.is(m.run(), MM.EXIT_INTERCEPT, insn);
    assert.is(m.core.exitVector, 13, insn);
    assert.is(m.core.exitError, 0, insn);
    assert.is(m.core.rip, BigInt(CODE), insn);
  }
});

test("I/O permission bitmap: port 0x80 allowed at CPL 3, 0x81 refused", async () => {
  const m = await sysMachine({ cpl: 3, src: `out %al, $0x80\nmov $1, %ebx\nout %al, $0x81\n` });
  const seen: number[] = [];
  m.core.setHooks({ ioOut: (p) => { seen.push(p); return false; } });
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.equal(seen, [0x80]);
  assert.is(m.core.reg(3), 1n);
  assert.is(m.core.rip, BigInt(CODE + 7));
});

test("segment loads: limit, type, privilege and presence checks", async () => {
  const cases: [string, number, number][] = [
    [`mov $0x400, %ax\nmov %ax, %ds`, 13, 0x400], // beyond the GDT limit
    [`mov $${K_CS32 & ~3 | 0}, %ax\nmov %ax, %ss`, 13, K_CS32], // code into SS
    [`mov $${NOTPRESENT_SEL}, %ax\nmov %ax, %ds`, 11, NOTPRESENT_SEL], // #NP(sel)
    [`mov $${U_DS}, %ax\nmov %ax, %ss`, 13, U_DS & ~3], // RPL != CPL for SS
    [`xor %eax, %eax\nmov %ax, %ss`, 13, 0], // null SS
  ];
  for (const [src, vec, err] of cases) {
    const m = await sysMachine({ src });
    intercept(m, vec);
    assert.is(m.run(), MM.EXIT_INTERCEPT, src);
    assert.is(m.core.exitVector, vec, src);
    assert.is(m.core.exitError, err, src);
  }
  // A null selector in DS is fine until used: then #GP(0).
  const m = await sysMachine({ src: `xor %eax, %eax\nmov %ax, %ds\nmov $1, %ebx\nmov (%ebx), %ecx\n` });
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.reg(3), 1n);
  assert.is(m.core.exitError, 0);
});

test("expand-down and read-only data segments", async () => {
  let m = await sysMachine({
    src: `mov $${EXPDOWN_SEL}, %ax\nmov %ax, %es\nmov $0x2000, ` + `%ebx\nmov %es:(%ebx), %ecx\nmov $0x800, %ebx\nmov `
      + `%es:(%ebx), %ecx\n`
  });
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.reg(3), 0x800n, "offset 0x2000 fine, 0x800 below the limit faults");
  m = await sysMachine({
    src: `mov $${RODATA_SEL}, %ax\nmov %ax, %fs\nmov %fs:0x100, %ecx\nmov $7, %ebx\nmovl $1, %fs:0x100\n`
  });
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.reg(3), 7n, "reads allowed, the write faults");
  assert.is(seg16(m.core, MM.SEG_FS).sel, RODATA_SEL);
});

test("#DF when delivering a fault faults, triple fault when #DF cannot be delivered", async () => {
  let m = await sysMachine({ src: `mov $0x400, %ax\nmov %ax, %ds\n.org 0x1000\ndf: hlt\n` });
  // #GP's gate is absent (#NP while delivering #GP) -> #DF, whose gate is present.
  m.setGate(8, K_CS32, CODE + 0x1000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.rip, BigInt(CODE + 0x1001));
  assert.is(m.r32(STACK0 - 16), 0, "#DF error code 0");
  m = await sysMachine({ src: `mov $0x400, %ax\nmov %ax, %ds\n` });
  assert.is(m.run(), MM.EXIT_TRIPLE_FAULT);
  // Benign + contributory is handled serially: #UD's gate not present -> #NP delivered (not #DF).
  m = await sysMachine({ src: `ud2\n` });
  m.setGate(6, K_CS32, CODE + 0x1000, 0xe, 0);
  m.w64(0x2000 + 6 * 8, m.r64(0x2000 + 6 * 8) & ~(1n << 47n));
  intercept(m, 11);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.exitVector, 11);
  assert.is(m.core.exitError, 6 * 8 + 2 + 1, "IDT bit and EXT in the error code");
});

test("32-bit ring-1 kernel: far return to ring 3 and a call gate back to ring 0", async () => {
  const m = await sysMachine({ cpl: 1, src: `
    push $${U_DS}
    push $${0x80000 - 0x100}
    push $${U_CS32}
    push $user
    lret
    user:
      mov %cs, %ebx
      lcall $${CALLGATE_SEL}, $0
      ud2
    .org 0x3000
    gate:
      mov %cs, %ecx
      mov 4(%esp), %edx      # caller CS
      hlt
  ` });
  m.setGate(6, K_CS32, CODE + 0x3000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(3), BigInt(U_CS32), "ran in ring 3");
  assert.is(m.core.reg(1), BigInt(K_CS32), "call gate entered ring 0");
  assert.is(m.core.reg(2), BigInt(U_CS32));
  assert.is(m.core.reg(4), BigInt(STACK0 - 16), "new stack from the TSS with SS:ESP:CS:EIP");
  assert.is(m.core.u32(MM.CPU_CPL), 0);
});

test("LAR, LSL, VERR, VERW", async () => {
  const m = await sysMachine({ cpl: 3, src: `
    mov $${K_CS32}, %eax
    lar %eax, %ebx          # DPL 0 from CPL 3: ZF=0, EBX unchanged
    setz %cl
    mov $${U_DS}, %eax
    lar %eax, %edx
    setz %ch
    lsl %eax, %esi
    mov $${U_CS32}, %eax
    verr %ax
    setz %ah
    verw %ax
    setz %al
    ud2
  ` });
  m.core.setReg(3, 0x5555n);
  m.core.x.cpu_state_changed();
  intercept(m, 6);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  const c = m.core;
  assert.is(c.reg(3), 0x5555n);
  assert.is(Number(c.reg(1)) & 0xffff, 0x0100, "lar K_CS32 ZF=0, lar U_DS ZF=1");
  assert.is(c.reg(2) & 0xf0ff00n, 0xc0f300n, "access rights (bits 16-19 undefined)");
  assert.is(c.reg(6), 0xffffffffn);
  assert.is(Number(c.reg(0)) & 0xffff, 0x0100, "code is readable, not writable");
});

test("64-bit: SYSCALL and SYSRET with STAR/LSTAR/SFMASK", async () => {
  const m = await sysMachine({ long: true, cpl: 3, src: `
    mov $0x3, %eax
    syscall
    mov %rcx, %rbx
    ud2
    .org 0x1000
    entry:
      mov %rcx, %r12
      mov %r11, %r13
      pushfq
      pop %r14
      mov %cs, %r15
      sysretq
  ` });
  const c = m.core;
  c.setU64(MM.CPU_EFER, c.u64(MM.CPU_EFER) | 1n);
  c.setU64(MM.CPU_MSR_STAR, (0x20n << 48n) | (BigInt(K_CS64) << 32n));
  c.setU64(MM.CPU_MSR_LSTAR, BigInt(CODE + 0x1000));
  c.setU64(MM.CPU_MSR_SFMASK, 0x200n | 0x100n);
  c.rflags = 0x202n;
  c.x.cpu_state_changed();
  intercept(m, 6);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitVector, 6);
  assert.is(c.reg(12), BigInt(CODE + 7), "RCX = return RIP");
  assert.is(c.reg(13) & 0xfffn, 0x202n, "R11 = RFLAGS");
  assert.is(c.reg(14) & 0x200n, 0n, "SFMASK cleared IF");
  assert.is(c.reg(15), BigInt(K_CS64));
  assert.is(seg16(c, MM.SEG_CS).sel, U_CS64, "back in 64-bit user code");
  assert.is(c.u32(MM.CPU_CPL), 3);
});

test("64-bit: interrupt gate with IST, 16-byte aligned frame, IRETQ", async () => {
  const m = await sysMachine({ long: true, cpl: 3, src: `
    mov $0x80123, %rsp        # misaligned user stack
    int3
    mov %rsp, %rbx
    ud2
    .org 0x1000
    bp:
      mov %rsp, %r8
      mov 0(%rsp), %r9          # RIP
      mov 24(%rsp), %r10        # RSP
      mov 32(%rsp), %r11        # SS
      iretq
  ` });
  m.setGate(3, K_CS64, CODE + 0x1000, 0xe, 3, 1);
  intercept(m, 6);
  const c = m.core;
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.reg(8), BigInt(IST1 - 40), "IST1 stack, 5-qword frame");
  assert.is(c.reg(9), BigInt(CODE + 8));
  assert.is(c.reg(10), 0x80123n);
  assert.is(c.reg(11), BigInt(U_DS));
  assert.is(c.reg(3), 0x80123n, "IRETQ restored RSP");
});

test("64-bit: non-canonical addresses raise #GP(0), #SS(0) through RSP", async () => {
  let m = await sysMachine({ long: true, src: `mov $0x0000800000000000, %rax\nmov (%rax), %rbx\n` });
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.exitVector, 13);
  m = await sysMachine({ long: true, src: `mov $0x0000800000000008, %rsp\npush %rax\n` });
  intercept(m, 12);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.exitVector, 12);
});

test("4-level paging: U/S and R/W with WP, NX with the I/D bit, A/D bits", async () => {
  // PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000 (first 2 MiB in 4 KiB pages).
  const src = `
    mov $0x5000, %rbx
    mov (%rbx), %rax         # supervisor-only page from CPL 3: #PF err 5
    ud2`;
  const m = await sysMachine({ long: true, cpl: 3, src });
  m.w64(0x10000, 0x11007n); m.w64(0x11000, 0x12007n); m.w64(0x12000, 0x13007n);
  for (let i = 0; i < 512; i++) m.w64(0x13000 + i * 8, BigInt(i * 0x1000) | 7n);
  m.w64(0x13000 + 5 * 8, 0x5003n); // supervisor, writable
  m.w64(0x13000 + 6 * 8, 0x6005n); // user, read-only
  m.w64(0x13000 + 7 * 8, 0x7007n | (1n << 63n)); // user, NX
  for (let i = 0; i < 8; i++) m.w64(0x12000 + 8 + i * 8, BigInt(0x200000 * (i + 1)) | 0x87n); // 2 MiB pages above
  const c = m.core;
  c.setU64(MM.CPU_CR3, 0x10000n);
  c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | 0x80010000n);
  c.setU64(MM.CPU_EFER, c.u64(MM.CPU_EFER) | 0x800n);
  c.x.cpu_state_changed();
  intercept(m, 14);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitVector, 14);
  assert.is(c.exitError, 5);
  assert.is(c.u64(MM.CPU_CR2), 0x5000n);
  // Read-only user page: reads fine, write faults with err 7.
  c.bytes().set([0x48, 0xc7, 0x03, 0x01, 0, 0, 0], m.phys(CODE + 3)); // movq $1, (%rbx)
  c.x.dcache_flush();
  c.setReg(3, 0x6000n);
  c.rip = BigInt(CODE + 3);
  c.x.cpu_state_changed();
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitError, 7);
  // Jump to the NX page: fetch fault with the I/D bit (0x15).
  c.bytes().set([0xff, 0xe3], m.phys(CODE + 3)); // jmp *%rbx
  c.x.dcache_flush(); // the host patched code behind the CPU's back
  c.setReg(3, 0x7000n);
  c.rip = BigInt(CODE + 3);
  c.x.cpu_state_changed();
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitError, 0x15);
  assert.is(c.rip, 0x7000n);
  // Accessed bits on the levels walked; dirty only after a write.
  assert.ok((m.r64(0x10000) & 0x20n) !== 0n && (m.r64(0x12000) & 0x20n) !== 0n);
  assert.is(m.r64(0x13000 + 6 * 8) & 0x40n, 0n, "no dirty bit after a refused write");
});

test("PAE paging with 2 MiB pages; global pages survive a CR3 reload, INVLPG drops them", async () => {
  const m = await sysMachine({ src: `
    mov 0x400000, %eax       # through the global mapping
    mov %cr3, %ecx
    mov %ecx, %cr3           # non-global entries flushed, the global one stays
    mov 0x400000, %ebx       # still the old (cached) global translation
    invlpg 0x400000
    mov 0x400000, %edx       # the new translation
    hlt
  ` });
  // PDPT at 0x10000 (32-byte aligned): entry 0 -> PD 0x11000; PD: 2 MiB pages.
  m.w64(0x10000, 0x11001n);
  m.w64(0x11000, 0x83n); // 0-2 MiB identity
  m.w64(0x11008, 0x183n | 0x200000n); // 2-4 MiB identity
  m.w64(0x11010, 0x183n | 0x600000n); // 4-6 MiB -> 6 MiB, global
  m.w32(0x400000, 0x11111111);
  m.w32(0x600000, 0x22222222);
  const c = m.core;
  c.setU64(MM.CPU_CR3, 0x10000n);
  c.setU64(MM.CPU_CR4, c.u64(MM.CPU_CR4) | 0x20n | 0x80n); // PAE, PGE
  c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | 0x80000000n);
  c.x.cpu_state_changed();
  // Remap 4-6 MiB identity behind the CPU's back after the first access: done by the program's
  // first instruction having run; emulate by patching before the CR3 reload is reached.
  assert.is(m.run(1), MM.EXIT_BUDGET);
  assert.is(c.reg(0), 0x22222222n);
  m.w64(0x11010, 0x183n | 0x400000n);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(c.reg(3), 0x22222222n, "global translation kept over the CR3 write");
  assert.is(c.reg(2), 0x11111111n, "INVLPG dropped it");
});

test("single-step: #DB after each instruction while TF is set", async () => {
  const m = await sysMachine({ src: `
    pushf
    orl $0x100, (%esp)
    popf                  # TF set: the trap comes after the next instruction
    inc %ebx
    inc %ebx
    .org 0x1000
    db: inc %esi
      mov (%esp), %edi
      hlt
  ` });
  m.setGate(1, K_CS32, CODE + 0x1000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(3), 1n, "one instruction ran with TF before the trap");
  assert.is(m.core.reg(6), 1n);
  assert.is(m.core.reg(7), BigInt(CODE + 10), "trap frame points after the stepped instruction");
  assert.ok((m.core.u64(MM.CPU_DR6) & 0x4000n) !== 0n, "DR6.BS");
});

test("debug registers: a data breakpoint armed by MOV DR7 traps after the store, B0 in DR6", async () => {
  const m = await sysMachine({ src: `
    mov $0x5000, %eax
    mov %eax, %dr0
    mov $0x000d0001, %eax  # L0, RW 01 (write), LEN 11 (4 bytes)
    mov %eax, %dr7
    movl (0x5000), %ecx    # a read: no trap
    movl $7, (0x5002)      # overlaps the watched dword
    mov $1, %ebx
    .org 0x1000
    db: mov (%esp), %edi
      mov %dr6, %esi
      hlt
  ` });
  m.setGate(1, K_CS32, CODE + 0x1000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(3), 0n, "the trap came before the next instruction");
  assert.is(m.core.reg(7), BigInt(CODE + 32), "the frame points after the store");
  assert.is(m.core.reg(6) & 0xfn, 1n, "DR6.B0");
});

test("debug registers: an instruction breakpoint is a fault before the instruction", async () => {
  const m = await sysMachine({ src: `
    mov $${0x100000 + 0x20}, %eax
    mov %eax, %dr1
    mov $0x4, %eax         # L1, RW 00 (execute)
    mov %eax, %dr7
    .org 0x20
    mov $1, %ebx
    .org 0x1000
    db: mov (%esp), %edi
      hlt
  ` });
  m.setGate(1, K_CS32, CODE + 0x1000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(3), 0n, "the instruction did not run");
  assert.is(m.core.reg(7), BigInt(CODE + 0x20), "the frame points at it");
  assert.is(m.core.u64(MM.CPU_DR6) & 0xfn, 2n, "DR6.B1");
});

test(
  "MOV SS shadow: a data breakpoint on the SS load is raised on the first instruction of the INT handler that follows",
  async () => {
  const m = await sysMachine({ src: `
    mov %ss, %ax
    mov %ax, (0x5000)
    mov $0x5000, %eax
    mov %eax, %dr0
    mov $0x00070001, %eax  # L0, RW 11 (read/write), LEN 01 (2 bytes)
    mov %eax, %dr7
    mov (0x5000), %ss
    int $0x40
    .org 0x1000
    db: mov (%esp), %edi
      mov $1, %esi
      hlt
    .org 0x2000
    i40: mov $1, %ebx
      hlt
  ` });
  m.setGate(1, K_CS32, CODE + 0x1000, 0xe, 0);
  m.setGate(0x40, K_CS32, CODE + 0x2000, 0xe, 0);
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(6), 1n, "#DB delivered");
  assert.is(m.core.reg(7), BigInt(CODE + 0x2000), "its frame: the INT handler's first instruction");
  assert.is(m.core.reg(3), 0n, "which had not run yet");
  assert.is(m.core.u64(MM.CPU_DR6) & 0xfn, 1n, "DR6.B0");
});

test("intercepts: a #PF goes to the hypervisor with CR2 in EXIT_INFO; INT 0x82 with RIP after it", async () => {
  const m = await sysMachine({ cpl: 1, src: `int $0x82\nmov $1, %ebx\nint $0x82\n` });
  intercept(m, 0x82);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  const c = m.core;
  assert.is(c.exitVector, 0x82);
  assert.is(c.view().getInt32(MM.CPU_STATE + MM.CPU_EXIT_KIND, true), MM.EVENT_INT);
  assert.is(c.rip, BigInt(CODE + 2));
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.reg(3), 1n);
  assert.is(c.rip, BigInt(CODE + 9));
});

test("CPUID, RDTSC, RDMSR/WRMSR", async () => {
  const m = await sysMachine({ long: true, src: `
    xor %eax, %eax
    cpuid
    mov %ebx, %r8d
    mov $0x80000001, %eax
    cpuid
    mov %edx, %r9d
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r10
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r11
    mov $0xc0000100, %ecx    # FS_BASE
    mov $0x1234, %eax
    mov $0x1, %edx
    wrmsr
    mov %fs:0, %r12          # reads at FS base 0x1_0000_1234: outside RAM
    rdmsr
    mov %eax, %r13d
    mov $0x12345, %ecx       # no such MSR
    rdmsr
  ` });
  intercept(m, 13);
  const c = m.core;
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.reg(8), 0x756e6547n);
  assert.ok((c.reg(9) & (1n << 29n)) !== 0n, "long mode offered");
  assert.ok(c.reg(11) >= c.reg(10), "TSC is monotonic");
  assert.is(c.reg(13), 0x1234n);
  assert.is(seg16(c, MM.SEG_FS).base, 0x100001234n);
  assert.is(c.exitVector, 13);
  const at = m.phys(Number(c.rip));
  assert.equal([c.bytes()[at], c.bytes()[at + 1]], [0x0f, 0x32], "#GP on the RDMSR of an unknown MSR");
  assert.is(c.reg(1), 0x12345n);
});

test("SYSENTER / SYSEXIT (32-bit)", async () => {
  const m = await sysMachine({ cpl: 3, src: `
    mov $0x70000, %ecx
    mov $back, %edx
    sysenter
    back:
      mov %esp, %ebx
      ud2
    .org 0x1000
    k:
      mov %cs, %esi
      mov %esp, %edi
      sysexit
  ` });
  const c = m.core;
  c.setU64(MM.CPU_MSR_SYSENTER_CS, BigInt(K_CS32));
  c.setU64(MM.CPU_MSR_SYSENTER_ESP, BigInt(STACK0));
  c.setU64(MM.CPU_MSR_SYSENTER_EIP, BigInt(CODE + 0x1000));
  c.x.cpu_state_changed();
  intercept(m, 6);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.reg(6), BigInt(K_CS32));
  assert.is(c.reg(7), BigInt(STACK0));
  assert.is(c.reg(3), 0x70000n);
  assert.is(seg16(c, MM.SEG_CS).sel, (K_CS32 + 16) | 3);
});

test("x87/SSE raise #NM or #UD as CR0.EM/TS and CR4.OSFXSR say", async () => {
  for (const [cr0set, cr4set, insn, vec] of [
    [0x8n, 0n, "fld1", 7], [0x4n, 0n, "fld1", 7], [0x4n, 0n, "paddb %mm0, %mm1", 6], [0x8n, 0n, "paddb %mm0, %mm1", 7],
    [0x8n, 0x200n, "addps %xmm0, %xmm1", 7], [0x8n, 0n, "addps %xmm0, %xmm1", 6],
    [0x4n, 0x200n, "addps %xmm0, %xmm1", 6],
  ] as [bigint, bigint, string, number][]) {
    const m = await sysMachine({ src: insn });
    const c = m.core;
    c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | cr0set);
    c.setU64(MM.CPU_CR4, c.u64(MM.CPU_CR4) | cr4set);
    c.x.cpu_state_changed();
    intercept(m, 6); intercept(m, 7);
    assert.is(m.run(), MM.EXIT_INTERCEPT, insn);
    assert.is(c.exitVector, vec, `${insn} cr0|=${cr0set} cr4|=${cr4set}`);
  }
});

test("MOV to CR0 entering and leaving paging; CR4 reserved bits #GP", async () => {
  const m = await sysMachine({ src: `
    mov $0x10000, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x10, %eax
    mov %eax, %cr4
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0          # paging on, 4 MiB identity pages
    mov 0x3000, %ebx
    mov $0x800000, %eax
    mov %eax, %cr4          # SMEP: not offered -> #GP(0)
  ` });
  m.w32(0x10000, 0x87); m.w32(0x10004, 0x400087);
  m.w32(0x3000, 0xabcd);
  intercept(m, 13);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(m.core.reg(3), 0xabcdn);
  assert.is(m.core.exitError, 0);
  assert.ok((m.core.u64(MM.CPU_CR0) & 0x80000000n) !== 0n);
});

test("compatibility mode: 32-bit code under long mode (far jumps in and out)", async () => {
  const m = await sysMachine({ long: true, src: `
    .code64
    mov $0x10, %eax
    ljmp *farptr32(%rip)      # to 32-bit code in K_CS32: compatibility mode
    .code32
  compat:
    .byte 0x40                # INC EAX (a REX prefix in 64-bit mode, INC here)
    push $${K_CS64}
    push $back
    lret                      # far return to 64-bit code
    .code64
  back:
    mov %cs, %ebx
    hlt
    .p2align 3
  farptr32: .long compat
    .word ${K_CS32}
  ` });
  assert.is(m.run(), MM.EXIT_HLT);
  assert.is(m.core.reg(0), 0x11n, "INC EAX executed in compatibility mode");
  assert.is(m.core.reg(3), BigInt(K_CS64), "back in 64-bit mode");
});

test("#AC: misaligned user data accesses with CR0.AM and RFLAGS.AC, none otherwise", async () => {
  const m = await sysMachine({ cpl: 3, src: `
    mov $0x70001, %ebx
    mov (%ebx), %eax         # AC clear: fine
    mov $1, %esi
    pushf
    orl $0x40000, (%esp)
    popf                     # AC set (user mode may set it)
    mov $0x70004, %ecx
    mov (%ecx), %eax         # aligned: fine
    mov $2, %esi
    movw $5, 0x70002         # aligned 2-byte store: fine
    mov $3, %esi
    mov (%ebx), %eax         # misaligned 4-byte read: #AC(0)
  ` });
  const c = m.core;
  c.setU64(MM.CPU_CR0, c.u64(MM.CPU_CR0) | 0x40000n);
  c.x.cpu_state_changed();
  intercept(m, 17);
  assert.is(m.run(), MM.EXIT_INTERCEPT);
  assert.is(c.exitVector, 17);
  assert.is(c.exitError, 0);
  assert.is(c.reg(6), 3n, "only the misaligned access faulted");
  // The same at CPL 0: no #AC.
  const k = await sysMachine({ src: `mov $0x70001, %ebx\npushf\norl $0x40000, (%esp)\npopf\nmov (%ebx), %eax\nhlt\n` });
  k.core.setU64(MM.CPU_CR0, k.core.u64(MM.CPU_CR0) | 0x40000n);
  k.core.x.cpu_state_changed();
  assert.is(k.run(), MM.EXIT_HLT);
});

test.run();
