/* The smallest useful guest: some text, some arithmetic, exit status 0. */
#include "rt.h"

static unsigned fib(unsigned n)
{
	unsigned a = 0, b = 1;
	while (n--) { unsigned t = a + b; a = b; b = t; }
	return a;
}

int main(void)
{
	puts("Hello from a xenwasm guest");
	unsigned long long f = 1;
	for (int i = 2; i <= 20; i++) f *= i;
	printf("fib(40) = %u\n", fib(40));
	printf("20! = %llu = 0x%llx\n", f, f);
	printf("-12345 / 7 = %d, %d %% 7 = %d\n", -12345 / 7, -12345, -12345 % 7);
	printf("%d-bit guest, [%5s] [%-5s] [%08x] [%c]\n", (int)sizeof(void *) * 8, "ab", "cd", 0xbeef, 'z');
	return 0;
}
