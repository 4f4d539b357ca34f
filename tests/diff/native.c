/* Native side of the differential CPU tests (tests/lib/diffgen.ts, tests/conformance.ts).
 * Linked with a generated assembly file (tests/build/diff/cases-{32,64}.S) that provides:
 *   xw_in, xw_out   records (struct rec) read / written by xw_run
 *   xw_target       address of the case to run (set here)
 *   xw_cases[]      address of every case, xw_ncases their number
 *   xw_run()        loads registers and flags from xw_in, jumps to xw_target, which executes the
 *                   instruction(s) under test and jumps back; stores registers and flags to xw_out.
 * The data buffer lives at a fixed address (XW_REGION) so the same absolute addresses work in the
 * emulator. Usage: native IN OUT. IN and OUT are arrays of struct rec (input: regs, flags, memory;
 * output: the same after execution, plus the signal number in status if the case faulted).
 * `native --cpuid` prints what the CPU running it reports (vendor, feature words), one line:
 *   VENDOR 1.ecx 7.ebx 80000001.ecx (hex), for the cases whose result is model-specific.
 * Build: gcc -O1 -no-pie (64-bit), gcc -m32 -O1 -no-pie (32-bit, run under qemu-i386). */
#define _GNU_SOURCE
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XW_REGION 0x200000UL
#define XW_MEM 512

struct rec {
  uint64_t r[16];
  uint64_t flags;
  uint64_t status;
  uint8_t mem[XW_MEM];
};

extern struct rec xw_in, xw_out;
extern void *xw_target;
extern void *xw_cases[];
extern uint32_t xw_ncases;
extern void xw_run(void);

static sigjmp_buf jb;

static void on_signal(int sig) { siglongjmp(jb, sig); }

static int print_cpuid(void) {
  unsigned a = 0, b = 0, c = 0, d = 0, max, l1c = 0, l7b = 0, x1c = 0;
  char vendor[13];
  if (!__get_cpuid(0, &max, &b, &c, &d)) { fprintf(stderr, "no CPUID\n"); return 1; }
  memcpy(vendor, &b, 4); memcpy(vendor + 4, &d, 4); memcpy(vendor + 8, &c, 4); vendor[12] = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) l1c = c;
  if (max >= 7) { __cpuid_count(7, 0, a, b, c, d); l7b = b; }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) x1c = c;
  printf("%s %x %x %x\n", vendor, l1c, l7b, x1c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--cpuid") == 0) return print_cpuid();
  if (argc != 3) { fprintf(stderr, "usage: %s IN OUT\n", argv[0]); return 2; }
  void *p = mmap((void *)XW_REGION, 0x1000, PROT_READ | PROT_WRITE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != (void *)XW_REGION) { perror("mmap"); return 1; }

  static char altstack[1 << 16];
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGTRAP, &sa, NULL);

  FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
  if (!in || !out) { perror("open"); return 1; }
  struct rec rin;
  uint32_t i = 0;
  while (fread(&rin, sizeof rin, 1, in) == 1) {
    if (i >= xw_ncases) { fprintf(stderr, "more records than cases\n"); return 1; }
    memcpy(&xw_in, &rin, sizeof rin);
    memset(&xw_out, 0, sizeof xw_out);
    memcpy((void *)XW_REGION, rin.mem, XW_MEM);
    xw_target = xw_cases[i];
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) xw_run();
    else __asm__ volatile("cld");
    xw_out.status = (uint64_t)sig;
    memcpy(xw_out.mem, (void *)XW_REGION, XW_MEM);
    fwrite(&xw_out, sizeof xw_out, 1, out);
    i++;
  }
  fclose(out);
  return 0;
}
