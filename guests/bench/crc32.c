/* CRC-32 (IEEE, reflected, poly 0xEDB88320): table-driven over a 64 KiB buffer, many passes, plus a
 * short bitwise pass that checks the table version. */
#include "bench.h"

#ifndef PASSES
#ifdef SMALL
#define PASSES 4
#else
#define PASSES 240
#endif
#endif
#define BUF_SIZE 65536

static uint8_t buf[BUF_SIZE];
static uint32_t table[256];

static uint32_t crc_bitwise(const uint8_t *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
	}
	return ~crc;
}

static uint32_t crc_table(const uint8_t *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

__attribute__((noinline)) static uint32_t work(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		table[i] = c;
	}
	uint32_t seed = 12345;
	for (size_t i = 0; i < BUF_SIZE; i++) buf[i] = (uint8_t)(lcg(&seed) >> 24);
	uint32_t sum = crc_bitwise(buf, 4096, 0);
	if (sum != crc_table(buf, 4096, 0)) return 0xdeadbeef;
	for (int pass = 0; pass < PASSES; pass++) {
		buf[pass & (BUF_SIZE - 1)] ^= (uint8_t)pass; /* each pass sees different data */
		sum = sum * 31 + crc_table(buf, BUF_SIZE, (uint32_t)pass);
	}
	return sum;
}

BENCH_MAIN("crc32")
