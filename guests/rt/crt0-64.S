/* Entry point of a bare 64-bit guest (long mode, paging off = identity-mapped).
 * Sets up a stack of our own, calls main() and exits with its return value through port 0xF4;
 * hlt in a loop is the fallback when the machine does not stop on that write. */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	movl $__stack_top, %esp		/* zero-extends: the image lives below 4 GiB */
	andq $-16, %rsp
	xorl %ebp, %ebp
	call main
	movw $0xf4, %dx
	outl %eax, %dx
1:	hlt
	jmp 1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
