/* Exception entry for 32-bit PV test guests (ring 1). Xen's frame on entry: [error code], EIP, CS,
 * EFLAGS, (ESP, SS from ring 3). Stubs make it uniform, save registers, call pv_trap, and return with
 * the iret hypercall (EAX, then the frame, on the stack). */
	.text
.macro STUB vec, err
	.globl pv_vec\vec
pv_vec\vec:
	.if \err == 0
	pushl $0
	.endif
	pushl $\vec
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

	.globl pv_upcall
pv_upcall:
	pushl $0
	pushl $0xff
	jmp pv_trap_common

pv_trap_common:
	pushal
	movl %esp, %eax
	pushl %eax
	call pv_trap
	addl $4, %esp
	popal
	addl $8, %esp		/* vector, error code */
	pushl %eax
	movl $23, %eax
	int $0x82

	.section .note.GNU-stack, "", @progbits

	.text
	.globl pv_try_write, pv_tw_insn, pv_tw_resume
pv_try_write:
	movl 4(%esp), %ecx
	movl 8(%esp), %edx
	xorl %eax, %eax
pv_tw_insn:
	movl %edx, (%ecx)
pv_tw_resume:
	ret
