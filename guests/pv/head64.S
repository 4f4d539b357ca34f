/* Entry of a 64-bit PV test guest: RSI = start_info, RSP = the boot stack (set by the builder). */
	.section .text.start, "ax"
	.globl _start
_start:
	cld
	movq %rsi, %rdi
	andq $-16, %rsp
	call pv_start
1:	jmp 1b

#define NOTE(type, desc_start, desc_end) \
	.balign 4; .long 4, desc_end - desc_start, type; .asciz "Xen"; .balign 4
	.section .note.Xen, "a", @note
	NOTE(6, 1f, 2f)		/* GUEST_OS */
1:	.asciz "xenwasm-test"
2:	NOTE(5, 1f, 2f)		/* XEN_VERSION */
1:	.asciz "xen-3.0"
2:	NOTE(8, 1f, 2f)		/* LOADER */
1:	.asciz "generic"
2:	NOTE(3, 1f, 2f)		/* VIRT_BASE */
1:	.quad 0xffffffff80000000
2:	NOTE(4, 1f, 2f)		/* PADDR_OFFSET */
1:	.quad 0
2:	NOTE(1, 1f, 2f)		/* ENTRY */
1:	.quad _start
2:	.balign 4

	.section .note.GNU-stack, "", @progbits
