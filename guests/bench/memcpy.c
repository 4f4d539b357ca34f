/* memcpy-heavy loop: the runtime's memcpy (rep movs of words, then bytes; the same inline code in
 * the native build) over buffers of a few sizes and alignments, with a checksum over the results. */
#include "bench.h"

#ifndef ROUNDS
#ifdef SMALL
#define ROUNDS 1
#else
#define ROUNDS 18
#endif
#endif
#define BUF_SIZE (256 * 1024)

static uint8_t src[BUF_SIZE + 64], dst[BUF_SIZE + 64];

static const uint32_t sizes[] = { 7, 16, 64, 200, 1024, 4096, 65536 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

__attribute__((noinline)) static uint32_t work(void)
{
	uint32_t seed = 777, sum = 0;
	for (size_t i = 0; i < sizeof(src); i++) src[i] = (uint8_t)(lcg(&seed) >> 24);
	rt_memset(dst, 0, sizeof(dst));
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t k = 0; k < NSIZES; k++) {
			uint32_t n = sizes[k];
			/* about 1 MiB of copying per size and round, at varying offsets */
			uint32_t count = (1u << 20) / n;
			uint32_t off = (uint32_t)(r + k) & 7;
			for (uint32_t c = 0; c < count; c++) {
				uint32_t at = (c * n) % (BUF_SIZE - n);
				rt_memcpy(dst + at + off, src + ((at + c * 13) % (BUF_SIZE - n)), n);
				sum += dst[at + off + (c % n)];
			}
			sum = sum * 31 + dst[(r * 4099u + k) % BUF_SIZE];
		}
		src[r % BUF_SIZE] ^= 0x5a;
	}
	for (size_t i = 0; i < BUF_SIZE; i += 64) sum = sum * 7 + dst[i];
	return sum;
}

BENCH_MAIN("memcpy")
