/* Exception entry for 32-bit PV test guests (ring 1). Xen's frame on entry: [error code], EIP, CS,
 * EFLAGS, (ESP, SS from ring 3). Stubs make it uniform, save registers, call pv_trap, and return with
 * the iret hypercall (EAX, then the frame, on the stack). */
	.file "trap32.S"	/* a fixed name for the local symbols (not the assembler's temporary file): reproducible builds */
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
	STUB 0x81,0	/* the sysenter callback (user32.c) */

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

/* void pv_enter_user32(unsigned long eip, unsigned long esp): iret to ring 3. */
	.globl pv_enter_user32
pv_enter_user32:
	movl 4(%esp), %ecx
	movl 8(%esp), %edx
	pushl $0xe033		/* SS (ring-3 data) */
	pushl %edx		/* ESP */
	pushl $0x202		/* EFLAGS */
	pushl $0xe02b		/* CS (ring-3 code) */
	pushl %ecx		/* EIP */
	pushl $0		/* EAX */
	movl $23, %eax
	int $0x82

	.section .rodata
	.globl pv_user32_code, pv_user32_code_end
pv_user32_code:
	movl $1, %eax
	movl $0x1234, %ebx
	int $0x80
	movl $2, %eax
	int $0x80
	movl %eax, %ebx
	movl $3, %eax
	int $0x80
	/* SYSENTER (EDX: where to go on, ECX: the stack): first with no callback (#GP(0)), then the
	 * kernel's sysenter callback. */
	call 2f
2:	popl %edx
	addl $(3f - 2b), %edx
	movl %esp, %ecx
	movl $0x5e1, %ebx
	sysenter
3:	call 4f
4:	popl %edx
	addl $(5f - 4b), %edx
	movl %esp, %ecx
	movl $0x5e2, %ebx
	sysenter
5:	cli			/* privileged: #GP from ring 3 */
	movl 0xc0100000, %eax	/* kernel memory is supervisor-only: #PF */
1:	jmp 1b
pv_user32_code_end:

	.text
	.globl pv_fast_pf
pv_fast_pf:
	addl $4, %esp		/* the error code */
	addl $2, (%esp)		/* EIP past the faulting 2-byte load */
	pushl %eax
	movl $23, %eax
	int $0x82
