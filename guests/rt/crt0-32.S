/* Entry point of a bare 32-bit guest (flat protected mode, paging off).
 * Sets up a stack of our own, calls main() and exits with its return value through port 0xF4;
 * hlt in a loop is the fallback when the machine does not stop on that write. */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	movl $__stack_top, %esp
	andl $-16, %esp
	xorl %ebp, %ebp
	call main
	movw $0xf4, %dx
	outl %eax, %dx
1:	hlt
	jmp 1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
