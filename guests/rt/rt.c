/* Tiny runtime for bare xenwasm guests (freestanding, no SSE/x87). */
#include "rt.h"
#include "rtmem.h"

#ifndef RT_PV /* PV guests (guests/pv/) bring their own console and exit */
int putchar(int c)
{
	outb(PORT_CONSOLE, (uint8_t)c);
	return (unsigned char)c;
}
#endif

static void putstr(const char *s)
{
	while (*s) putchar(*s++);
}

int puts(const char *s)
{
	putstr(s);
	putchar('\n');
	return 0;
}

#ifndef RT_PV
void exit(int status)
{
	outl(PORT_EXIT, (uint32_t)status);
	for (;;) __asm__ volatile("hlt");
}
#endif

void *memcpy(void *dst, const void *src, size_t n) { return rt_memcpy(dst, src, n); }
void *memset(void *dst, int c, size_t n) { return rt_memset(dst, c, n); }

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d <= s || d >= s + n) return rt_memcpy(dst, src, n);
	while (n--) d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y) return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n]) n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

/* ---- printf: %d %i %u %x %X %o %s %c %p %%, flags '-' '0', width, length l / ll / z ---- */

struct out { int n; };

static void emit(struct out *o, char c) { putchar(c); o->n++; }

static void pad(struct out *o, char c, int count)
{
	while (count-- > 0) emit(o, c);
}

/* Digits of v in base (no 64-bit division on 32-bit for base 16/8: shifts only). */
static int utoa(char *buf, unsigned long long v, unsigned base, int upper)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;
	if (base == 16) {
		do { buf[n++] = dig[v & 15]; v >>= 4; } while (v);
	} else if (base == 8) {
		do { buf[n++] = dig[v & 7]; v >>= 3; } while (v);
	} else if (v >> 32 == 0) {
		uint32_t w = (uint32_t)v;
		do { buf[n++] = dig[w % 10]; w /= 10; } while (w);
	} else {
		do { buf[n++] = dig[v % 10]; v /= 10; } while (v);
	}
	return n; /* reversed */
}

int vprintf(const char *fmt, va_list ap)
{
	struct out o = { 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') { emit(&o, *fmt); continue; }
		fmt++;
		int left = 0, zero = 0, width = 0, lng = 0;
		for (;; fmt++) {
			if (*fmt == '-') left = 1;
			else if (*fmt == '0') zero = 1;
			else break;
		}
		if (*fmt == '*') { width = va_arg(ap, int); fmt++; }
		else while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') { lng++; fmt++; }
		if (*fmt == 'z') { lng = sizeof(size_t) == 8 ? 2 : 0; fmt++; }
		char buf[24];
		int len = 0, neg = 0;
		const char *s = buf;
		unsigned long long u;
		switch (*fmt) {
		case 'd': case 'i': {
			long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
			neg = v < 0;
			u = neg ? -(unsigned long long)v : (unsigned long long)v;
			len = utoa(buf, u, 10, 0);
			break;
		}
		case 'u': case 'x': case 'X': case 'o':
			u = lng >= 2 ? va_arg(ap, unsigned long long) : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			len = utoa(buf, u, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, *fmt == 'X');
			break;
		case 'p':
			u = (uintptr_t)va_arg(ap, void *);
			len = utoa(buf, u, 16, 0);
			buf[len++] = 'x';
			buf[len++] = '0';
			break;
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			len = 1;
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s) s = "(null)";
			len = (int)strlen(s);
			if (!left) pad(&o, ' ', width - len);
			for (int i = 0; i < len; i++) emit(&o, s[i]);
			if (left) pad(&o, ' ', width - len);
			continue;
		case '%':
			emit(&o, '%');
			continue;
		case 0:
			return o.n;
		default: /* unknown: print as is */
			emit(&o, '%');
			emit(&o, *fmt);
			continue;
		}
		/* numbers and %c: buf holds the digits reversed (except %c, one char) */
		int total = len + neg;
		if (!left && !zero) pad(&o, ' ', width - total);
		if (neg) emit(&o, '-');
		if (!left && zero) pad(&o, '0', width - total);
		while (len) emit(&o, buf[--len]);
		if (left) pad(&o, ' ', width - total);
	}
	return o.n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

char *strcpy(char *dst, const char *src)
{
	char *d = dst;
	while ((*d++ = *src++)) {}
	return dst;
}
