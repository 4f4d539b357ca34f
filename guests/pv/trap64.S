/* Exception entry for 64-bit PV test guests. Xen's frame on entry: RCX, R11, [error code], RIP, CS,
 * RFLAGS, RSP, SS. Each stub makes it uniform (error code 0 when the vector has none), saves the
 * registers, calls pv_trap(struct pv_frame *), and returns with the iret hypercall. */
	.file "trap64.S"	/* a fixed name for the local symbols (not the assembler's temporary file): reproducible builds */
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
	STUB 0x81,0	/* the sysenter callback (user.c) */

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

/* SYSCALL from guest user mode arrives here (CALLBACKTYPE_syscall): Xen's frame RCX, R11, RIP, CS,
 * RFLAGS, RSP, SS. Handed to pv_trap as "vector" 0x100. */
	.globl pv_syscall_entry
pv_syscall_entry:
	popq %rcx
	popq %r11
	pushq $0
	pushq $0x100
	jmp pv_trap_common

/* void pv_enter_user(unsigned long rip, unsigned long rsp): iret to guest user mode. */
	.globl pv_enter_user
pv_enter_user:
	pushq $0xe02b		/* SS */
	pushq %rsi		/* RSP */
	pushq $0x202		/* RFLAGS */
	pushq $0xe033		/* CS (RPL 3: user mode) */
	pushq %rdi		/* RIP */
	pushq $0		/* flags */
	pushq $0		/* RCX */
	pushq $0		/* R11 */
	pushq $0		/* RAX */
	movl $23, %eax
	syscall

/* The user program (copied to its own page; position independent). */
	.section .rodata
	.globl pv_user_code, pv_user_code_end
pv_user_code:
	movl $1, %eax
	movl $0x1234, %edi
	syscall
	movl $2, %eax
	syscall
	movq %rax, %rdi
	movl $3, %eax
	syscall
	/* SYSENTER (RDX: where to go on, RCX: the stack): first with no callback (#GP(0)), then the
	 * kernel's sysenter callback. */
	leaq 2f(%rip), %rdx
	movq %rsp, %rcx
	movl $0x5e1, %ebx
	sysenter
2:	leaq 3f(%rip), %rdx
	movq %rsp, %rcx
	movl $0x5e2, %ebx
	sysenter
	/* 200 more system calls, each reading and writing the user stack (issue 14: the kernel/user switches keep
	 * each mode's TLB bank; tests/fork.test.ts counts them). */
3:	movl $200, %ebp
4:	movl $4, %eax
	syscall
	incq -8(%rsp)
	decl %ebp
	jnz 4b
	movq $0xffffffff80100000, %rbx
	movq (%rbx), %rax	/* kernel memory is not in the user page tables: #PF */
1:	jmp 1b
pv_user_code_end:

/* A minimal #PF handler for benchmarks: skip the 2-byte faulting instruction and return. */
	.text
	.globl pv_fast_pf
pv_fast_pf:
	popq %rcx
	popq %r11
	addq $8, %rsp		/* the error code */
	addq $2, (%rsp)		/* RIP past the faulting 2-byte load */
	pushq $0
	pushq %rcx
	pushq %r11
	pushq %rax
	movl $23, %eax
	syscall

/* A lean event upcall for benchmarks: what pv_event does (clear evtchn_upcall_pending, take the
 * pending selector, clear and count each pending unmasked port in pv_event_count), in assembly,
 * saving only the registers it uses, and back with the iret hypercall. */
#define SI_PENDING 2048
#define SI_MASK 2560
	.globl pv_fast_upcall
pv_fast_upcall:			/* RCX, R11, RIP, CS, RFLAGS, RSP, SS */
	popq %rcx
	popq %r11
	pushq $0		/* the iret hypercall's context: RAX, R11, RCX, flags, then the frame */
	pushq %rcx
	pushq %r11
	pushq %rax
	pushq %rdx
	pushq %rsi
	pushq %rdi
	movq pv_shared_info(%rip), %rsi
	incl pv_upcalls(%rip)
	movb $0, (%rsi)		/* vcpu_info[0].evtchn_upcall_pending */
	xorl %edi, %edi
	xchgq %rdi, 8(%rsi)	/* evtchn_pending_sel */
1:	testq %rdi, %rdi
	jz 4f
	bsfq %rdi, %r11		/* a word of the pending bitmap */
	btrq %r11, %rdi
	movq SI_MASK(%rsi,%r11,8), %rax
	notq %rax
	andq SI_PENDING(%rsi,%r11,8), %rax
2:	testq %rax, %rax
	jz 1b
	bsfq %rax, %rcx		/* a pending port in it */
	btrq %rcx, %rax
	lock btrq %rcx, SI_PENDING(%rsi,%r11,8)
	movq %r11, %rdx
	shlq $6, %rdx
	addq %rcx, %rdx		/* the port: word * 64 + bit */
	cmpq $1024, %rdx
	jae 2b
	leaq pv_event_count(%rip), %rcx
	incl (%rcx,%rdx,4)
	jmp 2b
4:	popq %rdi
	popq %rsi
	popq %rdx
	movl $23, %eax		/* __HYPERVISOR_iret */
	syscall
