/* The timing frame of a <name>-native-same build: work() comes from the benchmark compiled with the
 * guests' code generation flags (bench.h, NATIVE_SAME); this file (ordinary flags) times it. Prints
 * the checksum, the seconds of the first (cold) run, and the seconds one run takes when repeated
 * (warm: repeated until at least ~0.25 s have passed):
 *     "<name> checksum=0x%08x seconds=%.9f reps=%d first_seconds=%.9f" */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

extern const char bench_name[];
uint32_t bench_work(void);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	double f0 = now_s();
	uint32_t sum = bench_work();
	double first = now_s() - f0;
	if (argc > 1 && strcmp(argv[1], "--check") == 0) {
		printf("%s checksum=0x%08x\n", bench_name, sum);
		return 0;
	}
	int reps = 0;
	double t0 = now_s(), t;
	do {
		if (bench_work() != sum) { printf("%s: checksum changed\n", bench_name); return 1; }
		reps++;
		t = now_s() - t0;
	} while (t < 0.25 || reps < 3);
	printf("%s checksum=0x%08x seconds=%.9f reps=%d first_seconds=%.9f\n", bench_name, sum, t / reps, reps, first);
	return 0;
}
