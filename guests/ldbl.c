/* long double in a guest: C code compiled for the x87 (-m64 -mfpmath=387, no SSE) doing what libm-style
 * code does: series, products and quotients, square roots, integer and float conversions, compares,
 * rounding and precision control, and the transcendental instructions. Each result is printed as its
 * 80-bit pattern; tests/bare.test.ts compares the guest's output (build/ldbl-64.elf) with the same
 * source run natively (build/ldbl-native): lines "a ..." bit for bit, lines "t ..." (transcendental
 * instructions) within 1 ulp. */
#ifdef NATIVE
#include <stdio.h>
#else
#include "rt.h"
#endif

typedef unsigned long long u64;
typedef long double ld;

static void show(char kind, const char *name, int i, ld v)
{
	union { ld v; struct { u64 m; unsigned short se; } p; } u;
	u.p.m = 0; u.p.se = 0;
	u.v = v;
	printf("%c %s %d %04x:%016llx\n", kind, name, i, u.p.se, u.p.m);
}

#define UNARY(fn, insn) static ld fn(ld x) { __asm__ volatile(insn : "+t"(x)); return x; }
UNARY(x_sin, "fsin")
UNARY(x_cos, "fcos")
UNARY(x_sqrt, "fsqrt")
UNARY(x_f2xm1, "f2xm1")
UNARY(x_rndint, "frndint")
static ld x_tan(ld x) { ld one; __asm__ volatile("fptan" : "+t"(x), "=u"(one)); return x; }
static ld x_atan2(ld y, ld x) { ld r; __asm__ volatile("fpatan" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_yl2x(ld y, ld x) { ld r; __asm__ volatile("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_yl2xp1(ld y, ld x) { ld r; __asm__ volatile("fyl2xp1" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_scale(ld x, ld n) { __asm__ volatile("fscale" : "+t"(x) : "u"(n)); return x; }
static ld x_prem(ld x, ld y) { __asm__ volatile("1: fprem1; fnstsw %%ax; testw $0x400, %%ax; jnz 1b" : "+t"(x) : "u"(y) : "ax"); return x; }
static void setcw(unsigned short cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }

static volatile ld sink;

int main(void)
{
	__asm__ volatile("fninit");
	/* e = sum 1/n!, pi by Machin's formula with the atan series, in long double */
	ld e = 1, t = 1;
	for (int n = 1; n < 30; n++) { t /= n; e += t; }
	show('a', "e", 0, e);
	ld a5 = 0, a239 = 0, p5 = 1.0L / 5, p239 = 1.0L / 239;
	for (int k = 0; k < 40; k++) {
		a5 += (k & 1 ? -p5 : p5) / (2 * k + 1);
		a239 += (k & 1 ? -p239 : p239) / (2 * k + 1);
		p5 /= 25; p239 /= 239 * 239;
	}
	show('a', "pi", 0, 16 * a5 - 4 * a239);
	/* products, quotients, square roots, conversions, compares over a range of values */
	ld x = 0.3L;
	for (int i = 0; i < 24; i++) {
		ld y = x * 7.25L - 1.0L / (x + 3);
		show('a', "poly", i, y);
		show('a', "sqrt", i, x_sqrt(x * x + 2));
		volatile double d = (double)y;
		volatile float f = (float)(y * 1e30L);
		long long ll = (long long)(y * 1e15L);
		show('a', "dbl", i, d);
		show('a', "flt", i, f);
		show('a', "ll", i, (ld)ll);
		show('a', "cmp", i, (y < x) + 2 * (y == x) + 4 * (y > -x));
		show('a', "rnd", i, x_rndint(y * 1000));
		show('a', "scale", i, x_scale(y, 17 - i));
		show('a', "prem", i, x_prem(y * 12345.678L, 0.7853981633974483096L));
		show('t', "sin", i, x_sin(y));
		show('t', "cos", i, x_cos(y));
		show('t', "tan", i, x_tan(y / 4));
		show('t', "atan2", i, x_atan2(y, x));
		show('t', "log2", i, x_yl2x(1.5L, x + i));
		show('t', "log2p1", i, x_yl2xp1(y, x / 8));
		show('t', "exp2m1", i, x_f2xm1(y - x_rndint(y))); /* |arg| <= 1/2: F2XM1's domain */
		x = x * 1.37L + 0.011L;
	}
	/* precision and rounding control */
	static const unsigned short cws[] = { 0x037f, 0x027f, 0x007f, 0x077f, 0x0b7f, 0x0f7f, 0x0e7f };
	for (int i = 0; i < 7; i++) {
		setcw(cws[i]);
		volatile ld one = 1, three = 3, ten = 10;
		ld q = one / three, r = ten / three;
		ld s = x_sqrt(three);
		setcw(0x037f);
		show('a', "third", i, q);
		show('a', "tenth", i, r);
		show('a', "sqrt3", i, s);
	}
	/* special values: infinity, NaN, denormal, overflow, underflow (masked) */
	volatile ld big = 1e4930L, tiny = 1e-4940L;
	show('a', "ovf", 0, big * big);
	show('a', "unf", 0, tiny / 1e10L);
	show('a', "nan", 0, (big * big) - (big * big));
	unsigned short sw;
	__asm__ volatile("fnstsw %0" : "=m"(sw));
	printf("a sw 0 %04x\n", sw & 0x3f);
	sink = e;
	return 0;
}
