/* Common frame of the CPU benchmarks. Each benchmark defines
 *     static uint32_t work(void)      -- the timed work; returns a checksum
 *     BENCH_MAIN("name")
 * Built as a bare guest (the runtime's printf, one run of the work) or, with -DNATIVE, as a host
 * program that prints the checksum of one run and then the seconds one run takes (repeated until
 * at least ~0.25 s have passed; `--check` runs it once and prints the checksum only).
 * With -DNATIVE -DNATIVE_SAME only work() is built (with the guests' flags), and native-main.c times it.
 * -DSMALL selects a small work size (tests). Output lines:
 *     guest:  "<name> checksum=0x%08x"
 *     native: "<name> checksum=0x%08x seconds=%.9f reps=%d" */
#ifndef BENCH_H
#define BENCH_H
#include <stdint.h>
#include <stddef.h>

#if defined(NATIVE) && defined(NATIVE_SAME)
/* The benchmark's work() alone, compiled with the guests' code generation flags (no SSE, no builtins):
 * linked with native-main.c into <name>-native-same, so that the native side runs the same code as
 * the guest. */
#include "../rt/rtmem.h"
#define BENCH_MAIN(name)                                                                           \
	const char bench_name[] = name;                                                            \
	uint32_t bench_work(void) { return work(); }
#elif defined(NATIVE)
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "../rt/rtmem.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define BENCH_MAIN(name)                                                                           \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		uint32_t sum = work();                                                             \
		if (argc > 1 && strcmp(argv[1], "--check") == 0) {                                 \
			printf("%s checksum=0x%08x\n", name, sum);                                 \
			return 0;                                                                  \
		}                                                                                  \
		int reps = 0;                                                                      \
		double t0 = now_s(), t;                                                            \
		do {                                                                               \
			if (work() != sum) { printf("%s: checksum changed\n", name); return 1; }   \
			reps++;                                                                    \
			t = now_s() - t0;                                                          \
		} while (t < 0.25 || reps < 3);                                                    \
		printf("%s checksum=0x%08x seconds=%.9f reps=%d\n", name, sum, t / reps, reps);   \
		return 0;                                                                          \
	}
#else
#include "rt.h"
#include "rtmem.h"
#define BENCH_MAIN(name)                                                                           \
	int main(void)                                                                             \
	{                                                                                          \
		printf("%s checksum=0x%08x\n", name, work());                                      \
		return 0;                                                                          \
	}
#endif

/* Deterministic pseudo-random numbers (no libc rand: same stream everywhere). */
static inline uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s;
}
#endif
