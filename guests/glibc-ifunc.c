/* glibc's ifuncs under the CPUID a CPU reports: a static program (built with the machine's glibc,
 * `gcc -O2 -static`) that prints which CPU features glibc considers active, which implementation each
 * string/memory function's ifunc chose (the address of the target of its .iplt stub; the test names
 * it with nm), and a checksum of each function's results over many lengths, alignments and contents.
 * tests/glibc.test.ts runs it natively and inside Debian's Linux in a xenwasm domain: the checksums
 * must agree (the implementations glibc picked under our CPUID give the right answers, and none of
 * them raised #UD), and the features and choices are reported. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <stdint.h>
#include <wchar.h>
#include <math.h>
#include <sys/platform/x86.h>

static uint64_t h = 1469598103934665603ull;
static void mix(uint64_t v) { h = (h ^ v) * 1099511628211ull; }

/* The target of a static binary's .iplt stub (jmp *slot(%rip)), or the function itself. */
static void *target(void *f)
{
	unsigned char *p = f;
	for (int i = 0; i < 12; i++) {
		if (p[i] == 0xff && p[i + 1] == 0x25) {
			int32_t rel;
			memcpy(&rel, p + i + 2, 4);
			return *(void **)(p + i + 6 + rel);
		}
	}
	return f;
}

static unsigned char A[512 + 64], B[512 + 64];
static wchar_t W[160], W2[160];
static uint32_t seed = 12345;
static uint32_t rnd(void) { seed = seed * 1103515245u + 12345u; return seed >> 8; }

/* A's and B's contents: small alphabets so that matches happen; nul-terminated at `len`. */
static void fill(int off, int len, int alpha)
{
	for (int i = 0; i < 512 + 64; i++) { A[i] = 'a' + rnd() % alpha; B[i] = A[i]; }
	A[off + len] = 0; B[off + len] = 0;
	if (len && rnd() % 3 == 0) B[off + rnd() % len] ^= 1 + rnd() % 3;
	if (rnd() % 4 == 0) { B[off + len] = 'z'; B[off + len + 1] = 0; }
}

#define REPORT(name, fn) printf("impl %s %p\n", name, target((void *)(fn)))

int main(void)
{
	static const struct { const char *n; int f; } feat[] = {
		{ "sse2", x86_cpu_SSE2 }, { "sse3", x86_cpu_SSE3 }, { "ssse3", x86_cpu_SSSE3 },
		{ "sse4_1", x86_cpu_SSE4_1 }, { "sse4_2", x86_cpu_SSE4_2 }, { "popcnt", x86_cpu_POPCNT },
		{ "cmpxchg16b", x86_cpu_CMPXCHG16B }, { "lzcnt", x86_cpu_LZCNT }, { "bmi1", x86_cpu_BMI1 },
		{ "bmi2", x86_cpu_BMI2 }, { "avx", x86_cpu_AVX }, { "avx2", x86_cpu_AVX2 }, { "erms", x86_cpu_ERMS },
		{ "movbe", x86_cpu_MOVBE }, { "fma", x86_cpu_FMA }, { "aes", x86_cpu_AES }, { "pclmulqdq", x86_cpu_PCLMULQDQ },
	};
	printf("features");
	for (unsigned i = 0; i < sizeof feat / sizeof feat[0]; i++)
		printf(" %s=%d", feat[i].n, x86_cpu_active(feat[i].f) ? 1 : 0);
	printf("\n");

	REPORT("strlen", strlen); REPORT("strnlen", strnlen); REPORT("strchr", strchr); REPORT("strrchr", strrchr);
	REPORT("strchrnul", strchrnul); REPORT("rawmemchr", rawmemchr); REPORT("memchr", memchr); REPORT("memrchr", memrchr);
	REPORT("strcmp", strcmp); REPORT("strncmp", strncmp); REPORT("strcasecmp", strcasecmp); REPORT("strncasecmp", strncasecmp);
	REPORT("memcmp", memcmp); REPORT("strcspn", strcspn); REPORT("strspn", strspn); REPORT("strpbrk", strpbrk);
	REPORT("strstr", strstr); REPORT("memmove", memmove); REPORT("memcpy", memcpy); REPORT("memset", memset);
	REPORT("strcpy", strcpy); REPORT("stpcpy", stpcpy); REPORT("strcat", strcat); REPORT("strncpy", strncpy);
	REPORT("wcslen", wcslen); REPORT("wcsnlen", wcsnlen); REPORT("wcschr", wcschr); REPORT("wcscmp", wcscmp);
	REPORT("wmemset", wmemset); REPORT("memmem", memmem); REPORT("strcasestr", strcasestr);

	static char dst[1200];
	const char *set[] = { "a", "bc", "xyz", "abcdefghijklmnop", "" };
	for (int round = 0; round < 3; round++) {
		for (int off = 0; off < 48; off++) {
			for (int len = 0; len < 160; len += 1 + len / 16) {
				int alpha = 2 + (off + len + round) % 6;
				const char *a, *b;
				fill(off, len, alpha);
				a = (const char *)A + off; b = (const char *)B + off;
#define S(name, expr) do { uint64_t v_ = (uint64_t)(expr); mix(v_); } while (0)
				S("strlen", strlen(a));
				S("strnlen", strnlen(a, len / 2 + 1));
				S("strchr", strchr(a, 'a' + len % alpha) ? strchr(a, 'a' + len % alpha) - a : -1);
				S("strrchr", strrchr(a, 'b') ? strrchr(a, 'b') - a : -1);
				S("strchrnul", strchrnul(a, 'c') - a);
				S("memchr", memchr(a, 'd', len) ? (const char *)memchr(a, 'd', len) - a : -1);
				S("memrchr", memrchr(a, 'a', len) ? (const char *)memrchr(a, 'a', len) - a : -1);
				S("rawmemchr", (const char *)rawmemchr(a, 0) - a);
				S("strcmp", (strcmp(a, b) > 0) - (strcmp(a, b) < 0));
				S("strncmp", (strncmp(a, b, len / 2) > 0) - (strncmp(a, b, len / 2) < 0));
				S("strcasecmp", (strcasecmp(a, b) > 0) - (strcasecmp(a, b) < 0));
				S("strncasecmp", (strncasecmp(a, b, len / 3) > 0) - (strncasecmp(a, b, len / 3) < 0));
				S("memcmp", (memcmp(a, b, len) > 0) - (memcmp(a, b, len) < 0));
				S("strcspn", strcspn(a, set[(off + round) % 5]));
				S("strspn", strspn(a, set[(len + round) % 5]));
				S("strpbrk", strpbrk(a, set[(off + len) % 5]) ? strpbrk(a, set[(off + len) % 5]) - a : -1);
				S("strstr", strstr(a, b + len / 2) ? strstr(a, b + len / 2) - a : -1);
				S("strcasestr", strcasestr(a, "ab") ? strcasestr(a, "ab") - a : -1);
				S("memmem", memmem(a, len, "ba", 2) ? (const char *)memmem(a, len, "ba", 2) - a : -1);
				memset(dst, 0x55, sizeof dst);
				memcpy(dst + (len & 31), a, len);
				memmove(dst + 3, dst + (len & 31), len);
				memmove(dst + (len & 7) + 1, dst + 1, len);
				memset(dst + 600 + off, 'q', len);
				stpcpy(strcpy(dst + 800, a) + len, b);
				strcat(dst + 800, a);
				strncpy(dst + 1000, a, len / 2 + 8);
				for (unsigned i = 0; i < sizeof dst; i++) mix((unsigned char)dst[i]);
				for (int i = 0; i < 150; i++) { W[i] = A[off + i] ? A[off + i] + 0x10000 * (i % 3) : 0; W2[i] = W[i]; }
				W[150] = 0; W2[150] = 0;
				if (len && len < 150) { W[len] = 0; W2[len] = 0; }
				S("wcslen", wcslen(W));
				S("wcsnlen", wcsnlen(W, len / 2 + 1));
				S("wcschr", wcschr(W, W[len / 3]) ? wcschr(W, W[len / 3]) - W : -1);
				S("wcscmp", (wcscmp(W, W2) > 0) - (wcscmp(W, W2) < 0));
				wmemset(W2, 0x1234, len / 4);
				S("wmemset", W2[len / 4]);
			}
		}
		printf("round %d %016llx\n", round, (unsigned long long)h);
	}
	/* libm: long double, rounding and conversions through glibc (ifuncs: floor/ceil/rint with SSE4.1) */
	double acc = 0;
	for (int i = 1; i < 2000; i++) {
		double x = i * 0.37 - 300.0;
		acc += floor(x) + ceil(x) * 3 + rint(x) * 5 + nearbyint(x) * 7 + trunc(x) * 11 + round(x) * 13 + sqrt(fabs(x));
		acc += (double)fmal(x, 1.25L, 0.5L);
	}
	printf("libm %a\n", acc);
	REPORT("floor", floor); REPORT("ceil", ceil); REPORT("rint", rint); REPORT("nearbyint", nearbyint); REPORT("trunc", trunc);
	printf("done\n");
	return 0;
}
