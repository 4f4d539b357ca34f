/* Two processes of one Linux domain with different code at the same linear addresses (tests/jitalias.test.ts).
 * Built twice (jitalias-a, jitalias-b) from this file with a different SALT: the code is laid out the
 * same, only immediates differ, so each hot loop of one program sits at the linear address of the other's.
 * Each round runs the hot loop just past the JIT's threshold, then yields: the other program runs while the
 * compile request waits, so a compile that read its page through the current address space instead of
 * the region's own page would give one program's region the other's bytes (the busybox init segfault of
 * the balloon test, issue 12). Prints "jitalias SALT round R: HEX" per round, "jitalias: done" at the end.
 * No libc: raw system calls. Usage: jitalias ROUNDS ITERS */
typedef unsigned long u64;
#ifndef SALT
#define SALT 0x1234567
#endif
static long sys(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
static void out(const char *s) { long n = 0; while (s[n]) n++; sys(1, 1, (long)s, n); }
static void outx(u64 v) { char b[20]; int i = 19; b[i] = 0; do { b[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v); out(b + i); }
static u64 atou(const char *s) { u64 v = 0; while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0'); return v; }

/* Hot loops with the salt as an immediate: a different SALT changes bytes, not the layout. NF of them, so
 * that many regions are asked for at once and later requests wait for a free compiler. */
#define NF 48
#define F(k) __attribute__((noinline)) static u64 f##k(u64 x, u64 n) \
	{ for (u64 i = 0; i < n; i++) { x += (u64)(SALT ^ ((k) * 0x9e37)); x ^= x >> 7; x = (x << 3) + (x ^ (SALT >> 3)); } return x; }
#define F8(a) F(a##0) F(a##1) F(a##2) F(a##3) F(a##4) F(a##5) F(a##6) F(a##7)
F8(1) F8(2) F8(3) F8(4) F8(5) F8(6)
static u64 (*const fs[NF])(u64, u64) = {
#define P8(a) f##a##0, f##a##1, f##a##2, f##a##3, f##a##4, f##a##5, f##a##6, f##a##7,
	P8(1) P8(2) P8(3) P8(4) P8(5) P8(6)
};

void _start_c(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	u64 rounds = argc > 1 ? atou(argv[1]) : 20, iters = argc > 2 ? atou(argv[2]) : 1100;
	for (u64 r = 0; r < rounds; r++) {
		u64 v = 0;
		for (int k = 0; k < NF; k++) v ^= fs[k](r + (u64)k, iters);
		out("jitalias "); outx(SALT); out(" round "); outx(r); out(": "); outx(v); out("\n");
		sys(24, 0, 0, 0); /* sched_yield */
	}
	out("jitalias: done\n");
	sys(60, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call _start_c\n hlt\n");
