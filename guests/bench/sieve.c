/* Sieve of Eratosthenes over a byte array, repeated; checksum from the prime count and a few primes. */
#include "bench.h"

#ifndef ROUNDS
#ifdef SMALL
#define ROUNDS 1
#else
#define ROUNDS 6
#endif
#endif
#ifdef SMALL
#define LIMIT 100000
#else
#define LIMIT 1000000
#endif

static uint8_t composite[LIMIT + 1];

__attribute__((noinline)) static uint32_t work(void)
{
	uint32_t sum = 0;
	for (int r = 0; r < ROUNDS; r++) {
		uint32_t n = LIMIT - (uint32_t)r * (LIMIT / 1000); /* vary the bound a little each round */
		for (uint32_t i = 0; i <= n; i++) composite[i] = 0;
		composite[0] = composite[1] = 1;
		for (uint32_t i = 2; i * i <= n; i++)
			if (!composite[i])
				for (uint32_t j = i * i; j <= n; j += i) composite[j] = 1;
		uint32_t count = 0, last = 0, mix = 0;
		for (uint32_t i = 2; i <= n; i++)
			if (!composite[i]) { count++; last = i; mix = mix * 33 + i; }
		sum = sum * 31 + count;
		sum ^= last + mix;
	}
	return sum;
}

BENCH_MAIN("sieve")
