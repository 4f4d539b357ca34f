/* Exception entry for 64-bit PV test guests. Xen's frame on entry: RCX, R11, [error code], RIP, CS,
 * RFLAGS, RSP, SS. Each stub makes it uniform (error code 0 when the vector has none), saves the
 * registers, calls pv_trap(struct pv_frame *), and returns with the iret hypercall. */
	.text
.macro STUB vec, err
	.globl pv_vec\vec
pv_vec\vec:
	popq %rcx
	popq %r11
	.if \err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp pv_trap_common
.endm
	STUB 0,0
	STUB 1,0
	STUB 3,0
	STUB 4,0
	STUB 6,0
	STUB 7,0
	STUB 13,1
	STUB 14,1
	STUB 0x80,0

/* The event upcall: Xen's frame has no error code (RCX, R11, RIP, CS, RFLAGS, RSP, SS). */
	.globl pv_upcall
pv_upcall:
	popq %rcx
	popq %r11
	pushq $0
	pushq $0xff		/* "vector" 0xff: pv_trap hands it to pv_event */
	jmp pv_trap_common

pv_trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	movq %rsp, %rbx
	andq $-16, %rsp
	call pv_trap
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp		/* vector, error code */
	/* iret_context: rax, r11, rcx, flags, then RIP CS RFLAGS RSP SS already here */
	pushq $0
	pushq %rcx
	pushq %r11
	pushq %rax
	movl $23, %eax
	syscall

	.section .note.GNU-stack, "", @progbits

/* long pv_try_write(unsigned long addr, unsigned long val): 0, or 1 if the store faulted (pv_trap's
 * default handling moves a fault at pv_tw_insn to pv_tw_resume with RAX = 1). */
	.text
	.globl pv_try_write, pv_tw_insn, pv_tw_resume
pv_try_write:
	xorl %eax, %eax
pv_tw_insn:
	movq %rsi, (%rdi)
pv_tw_resume:
	ret
