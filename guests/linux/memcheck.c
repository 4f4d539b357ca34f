/* A static x86-64 Linux program for the balloon stress test (tests/balloon.test.ts, bench/balloon.ts):
 * fills MiB of anonymous memory with a pattern, then forks ROUNDS times; each child checks the whole
 * pattern (pages shared copy-on-write with the parent), rewrites half of it and checks that, and exits
 * with the count of bad words; the parent checks its own copy after each child and rewrites a slice of
 * it (more copy-on-write breaks for the next fork). Prints "memcheck: ok" or "memcheck: BAD ...".
 * No libc: raw system calls. Usage: memcheck MiB ROUNDS */
typedef unsigned long u64;
static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return r;
}
static void out(const char *s) { long n = 0; while (s[n]) n++; sys(1, 1, (long)s, n, 0, 0, 0); }
static void outn(u64 v) { char b[24]; int i = 23; b[i] = 0; do { b[--i] = '0' + v % 10; v /= 10; } while (v); out(b + i); }
static u64 pat(u64 i, u64 seed) { u64 x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed; x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ULL; return x ^ (x >> 32); }
static u64 atou(const char *s) { u64 v = 0; while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0'); return v; }
static u64 check(volatile u64 *m, u64 lo, u64 hi, const u64 *seeds, u64 slice)
{
	u64 bad = 0;
	for (u64 i = lo; i < hi; i++) if (m[i] != pat(i, seeds[i / slice])) bad++;
	return bad;
}

void _start_c(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	u64 mib = argc > 1 ? atou(argv[1]) : 32, rounds = argc > 2 ? atou(argv[2]) : 10;
	u64 words = mib << 17, slices = 64, slice = words / slices;
	u64 seeds[64];
	volatile u64 *m = (volatile u64 *)sys(9, 0, (long)(mib << 20), 3, 0x22, -1, 0); /* mmap RW, private|anon */
	if ((long)m < 0) { out("memcheck: BAD mmap\n"); sys(60, 2, 0, 0, 0, 0, 0); }
	for (u64 s = 0; s < slices; s++) seeds[s] = s * 7 + 1;
	for (u64 i = 0; i < words; i++) m[i] = pat(i, seeds[i / slice]);
	u64 total = 0;
	for (u64 r = 0; r < rounds; r++) {
		long pid = sys(57, 0, 0, 0, 0, 0, 0); /* fork */
		if (pid < 0) { out("memcheck: BAD fork\n"); sys(60, 2, 0, 0, 0, 0, 0); }
		if (pid == 0) {
			u64 bad = check(m, 0, words, seeds, slice);
			for (u64 s = 0; s < slices; s += 2) { seeds[s] ^= 0x5555; for (u64 i = s * slice; i < (s + 1) * slice; i++) m[i] = pat(i, seeds[s]); }
			bad += check(m, 0, words, seeds, slice);
			sys(60, bad > 255 ? 255 : (long)bad, 0, 0, 0, 0, 0);
		}
		int status = 0;
		sys(61, pid, (long)&status, 0, 0, 0, 0); /* wait4 */
		u64 cbad = (status >> 8) & 0xff;
		u64 pbad = check(m, 0, words, seeds, slice);
		if (cbad || pbad || (status & 0x7f)) {
			out("memcheck: BAD round "); outn(r); out(" child "); outn(cbad); out(" signal "); outn(status & 0x7f); out(" parent "); outn(pbad); out("\n");
			total += cbad + pbad + 1;
		}
		u64 s = r % slices;
		seeds[s] += 1000;
		for (u64 i = s * slice; i < (s + 1) * slice; i++) m[i] = pat(i, seeds[s]);
	}
	if (!total) { out("memcheck: ok "); outn(mib); out(" MiB "); outn(rounds); out(" forks\n"); }
	sys(60, total ? 1 : 0, 0, 0, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call _start_c\n hlt\n");
