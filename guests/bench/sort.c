/* Branchy integer sort: quicksort (median of three) with insertion sort for small ranges, on
 * pseudo-random data, repeated; checks the order and checksums the result. */
#include "bench.h"

#ifndef ROUNDS
#ifdef SMALL
#define ROUNDS 2
#else
#define ROUNDS 7
#endif
#endif
#ifdef SMALL
#define N 10000
#else
#define N 100000
#endif

static int32_t a[N];

static void insertion(int32_t *v, int n)
{
	for (int i = 1; i < n; i++) {
		int32_t x = v[i];
		int j = i - 1;
		while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; }
		v[j + 1] = x;
	}
}

static void quicksort(int32_t *v, int n)
{
	while (n > 16) {
		int32_t x = v[0], y = v[n / 2], z = v[n - 1], p;
		p = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
		int i = 0, j = n - 1;
		for (;;) {
			while (v[i] < p) i++;
			while (v[j] > p) j--;
			if (i >= j) break;
			int32_t t = v[i]; v[i] = v[j]; v[j] = t;
			i++; j--;
		}
		/* recurse into the smaller part, loop on the larger */
		if (j + 1 < n - j - 1) { quicksort(v, j + 1); v += j + 1; n -= j + 1; }
		else { quicksort(v + j + 1, n - j - 1); n = j + 1; }
	}
	insertion(v, n);
}

__attribute__((noinline)) static uint32_t work(void)
{
	uint32_t seed = 42, sum = 0;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++) a[i] = (int32_t)lcg(&seed) >> (r & 7); /* vary the value range */
		quicksort(a, N);
		for (int i = 1; i < N; i++)
			if (a[i - 1] > a[i]) return 0xbad0000u + (uint32_t)i;
		for (int i = 0; i < N; i += 97) sum = sum * 31 + (uint32_t)a[i];
	}
	return sum;
}

BENCH_MAIN("sort")
