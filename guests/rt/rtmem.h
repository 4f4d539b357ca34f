/* The runtime's memory copy/fill, as inline functions so that a native build of a benchmark can use
 * the very same code (guests/bench/memcpy.c). Bulk in machine words with rep movs/stos, the tail in
 * bytes: what a simple kernel or libc does without SSE. */
#ifndef RTMEM_H
#define RTMEM_H
#include <stddef.h>

static inline void *rt_memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t words = n / sizeof(long), tail = n % sizeof(long);
#if defined(__x86_64__)
	__asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
#else
	__asm__ volatile("rep movsl" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
#endif
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(tail) : : "memory");
	return dst;
}

static inline void *rt_memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}
#endif
