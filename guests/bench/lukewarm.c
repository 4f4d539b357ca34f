/* Lukewarm code: 1000 distinct small functions (about 110 KiB of code), each called a few hundred times in a
 * scattered order, as an OS kernel's paths run: too rarely for the JIT's threshold (1000 visits of a block
 * start), too many for the decoded-instruction cache to keep. The checksum mixes every call's result. */
#include "bench.h"

#ifndef ROUNDS
#ifdef SMALL
#define ROUNDS 20
#else
#define ROUNDS 300
#endif
#endif

#define ROTL(x, r) (((x) << ((r) & 31)) | ((x) >> ((32 - ((r) & 31)) & 31)))

/* Function n: a few mixing steps and two data-dependent branches, with constants of its own (distinct code). */
#define F(n)                                                                                       \
	__attribute__((noinline)) static uint32_t f##n(uint32_t x)                                \
	{                                                                                          \
		x = x * (2654435761u + 2u * n) + n;                                                \
		x ^= x >> (n % 13 + 3);                                                            \
		if (x & (1u << (n % 7))) x = ROTL(x, n % 29 + 1);                                  \
		else x -= (uint32_t)n * 40503u;                                                    \
		x += (x << (n % 5 + 1)) ^ (0x9e3779b9u + n);                                       \
		if ((x >> (n % 11 + 8)) & 1) x ^= x >> 7;                                          \
		return x * 0x85ebca6bu + (uint32_t)(n >> 2);                                       \
	}
#define F10(n) F(n##0) F(n##1) F(n##2) F(n##3) F(n##4) F(n##5) F(n##6) F(n##7) F(n##8) F(n##9)
#define F100(n) F10(n##0) F10(n##1) F10(n##2) F10(n##3) F10(n##4) F10(n##5) F10(n##6) F10(n##7) F10(n##8) F10(n##9)
F100(10) F100(11) F100(12) F100(13) F100(14) F100(15) F100(16) F100(17) F100(18) F100(19)

#define P(n) f##n,
#define P10(n) P(n##0) P(n##1) P(n##2) P(n##3) P(n##4) P(n##5) P(n##6) P(n##7) P(n##8) P(n##9)
#define P100(n) P10(n##0) P10(n##1) P10(n##2) P10(n##3) P10(n##4) P10(n##5) P10(n##6) P10(n##7) P10(n##8) P10(n##9)
static uint32_t (*const fns[1000])(uint32_t) = {
	P100(10) P100(11) P100(12) P100(13) P100(14) P100(15) P100(16) P100(17) P100(18) P100(19)
};

__attribute__((noinline)) static uint32_t work(void)
{
	uint32_t x = 12345, sum = 0;
	for (uint32_t r = 0; r < ROUNDS; r++)
		for (uint32_t k = 0; k < 1000; k++) {
			/* 7919 is prime to 1000: every function once a round, in an order that moves each round */
			uint32_t i = (k * 7919u + r * 104729u) % 1000u;
			x = fns[i](x ^ k);
			sum += x ^ i;
		}
	return sum;
}

BENCH_MAIN("lukewarm")
