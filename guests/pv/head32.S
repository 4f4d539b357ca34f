/* Entry of a 32-bit PAE PV test guest (ring 1): ESI = start_info, ESP = the boot stack. */
	.section .text.start, "ax"
	.globl _start
_start:
	cld
	andl $-16, %esp
	pushl %esi
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
2:	NOTE(9, 1f, 2f)		/* PAE_MODE */
1:	.asciz "yes"
2:	NOTE(3, 1f, 2f)		/* VIRT_BASE */
1:	.long 0xc0000000
2:	NOTE(4, 1f, 2f)		/* PADDR_OFFSET */
1:	.long 0
2:	NOTE(1, 1f, 2f)		/* ENTRY */
1:	.long _start
2:	.balign 4

	.section .note.GNU-stack, "", @progbits
