/* The loop kernel's loop (guests/loop/loop.S, 32-bit form) as a native 64-bit program for
 * bench/peers.ts: `loop-native N` runs it N times and prints "loop done sum=XXXXXXXX". */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	if (argc != 2) { fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]); return 2; }
	unsigned n = (unsigned)strtoul(argv[1], 0, 0);
	unsigned a = 0x12345678, b = 0x9abcdef0, d = 0x0f1e2d3c;
	if (n) __asm__ volatile(
		".align 16\n"
		"1: addl %%ebx, %%eax\n"
		"xorl %%eax, %%edx\n"
		"subl %%edx, %%ebx\n"
		"incl %%eax\n"
		"addl $3, %%edx\n"
		"xorl %%eax, %%ebx\n"
		"decl %%ecx\n"
		"jnz 1b\n"
		: "+a"(a), "+b"(b), "+d"(d), "+c"(n) : : "cc");
	printf("loop done sum=%08x\n", a ^ b ^ d);
	return 0;
}
