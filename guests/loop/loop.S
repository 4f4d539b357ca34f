/* The peer benchmark's loop kernel (bench/peers.ts): the same 8-instruction integer loop with a
 * dependent chain, built as a multiboot ELF32 (QEMU -kernel, v86 multiboot, xm run --bare) and as
 * an ELF64 for xm run --bare (long mode; the same loop on 64-bit registers). Runs `iterations` times (a word after the signature
 * "XWLOOPN:" that the bench patches in a copy of the file), then prints "loop done sum=XXXXXXXX\n"
 * to port 0xE9 (xenwasm's console, QEMU's debugcon) and COM1's data port 0x3F8 (v86, QEMU),
 * writes 0 to port 0xF4 (xenwasm's exit, QEMU's isa-debug-exit) and halts. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0

	.section .text.start, "ax"
	.align 4
mb_header:				/* Multiboot header: ELF program headers give the layout. */
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.globl _start
_start:
	cli
	movl $stack_top, %esp
	movl iterations, %ecx
	movl $0x12345678, %eax
	movl $0x9abcdef0, %ebx
	movl $0x0f1e2d3c, %edx
	testl %ecx, %ecx
	jz 2f
	.align 16
#ifdef __x86_64__
1:	addq %rbx, %rax			/* the loop: 8 instructions, each result feeds the next */
	xorq %rax, %rdx
	subq %rdx, %rbx
	incq %rax
	addq $3, %rdx
	xorq %rax, %rbx
	decl %ecx
	jnz 1b
#else
1:	addl %ebx, %eax			/* the loop: 8 instructions, each result feeds the next */
	xorl %eax, %edx
	subl %edx, %ebx
	incl %eax
	addl $3, %edx
	xorl %eax, %ebx
	decl %ecx
	jnz 1b
#endif
2:	xorl %ebx, %eax
	xorl %edx, %eax
	movl %eax, %ebp			/* the sum */
	movl $msg, %esi
3:	movb (%esi), %al
	testb %al, %al
	jz 4f
	call putc
	incl %esi
	jmp 3b
4:	movl $8, %edi			/* eight hex digits of the sum */
5:	roll $4, %ebp
	movl %ebp, %eax
	andl $15, %eax
	movb hexdigits(%eax), %al
	call putc
	decl %edi
	jnz 5b
	movb $'\n', %al
	call putc
	xorl %eax, %eax
	movw $0xf4, %dx
	outb %al, %dx
6:	hlt
	jmp 6b

putc:					/* AL to port 0xE9 and to COM1 (no FIFO checks: emulators only) */
	movw $0xe9, %dx
	outb %al, %dx
	movw $0x3f8, %dx
	outb %al, %dx
	ret

	.section .rodata
msg:	.asciz "loop done sum="
hexdigits: .ascii "0123456789abcdef"

	.data
	.align 8
	.ascii "XWLOOPN:"
iterations:
	.long 1000
	.long 0

	.bss
	.align 16
	.skip 4096
stack_top:

	.section .note.GNU-stack, "", @progbits
