/* Tiny runtime for bare xenwasm guests: console on port 0xE9, exit through port 0xF4. */
#ifndef RT_H
#define RT_H
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

#define PORT_CONSOLE 0xE9
#define PORT_EXIT 0xF4

int putchar(int c);
int puts(const char *s); /* appends a newline, like libc */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
void exit(int status) __attribute__((noreturn));

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
char *strcpy(char *dst, const char *src);
#endif
