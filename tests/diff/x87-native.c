/* Native side of the x87/MMX differential tests (tests/lib/x87gen.ts, tests/lib/x87run.ts); 64-bit only.
 * (The SSE driver tests/diff/sse-native.c with the x87 state as an FXSAVE image: xw_run FXRSTORs
 * rec.fx before the case and FXSAVEs it after.)
 * Linked with a generated assembly file (tests/build/sse/cases.S) that provides:
 *   xw_in, xw_out   records (struct rec) read / written by xw_run
 *   xw_target       address of the case to run (set here)
 *   xw_cases[]      address of every case, xw_ncases their number
 *   xw_run()        loads GPRs, flags and the FXSAVE image from xw_in, jumps to xw_target, which runs
 *                   the instruction(s) under test and jumps back; stores them all to xw_out.
 * The data buffer lives at a fixed address (XW_REGION) so the same absolute addresses work in the
 * emulator. Usage: x87-native IN OUT (arrays of struct rec; the output's status is the signal number
 * if the case faulted). Build: gcc -O1 -no-pie. */
#define _GNU_SOURCE
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
  uint8_t fx[512] __attribute__((aligned(16)));
  uint8_t mem[XW_MEM];
};

extern struct rec xw_in, xw_out;
extern void *xw_target;
extern void *xw_cases[];
extern uint32_t xw_ncases;
extern void xw_run(void);

static sigjmp_buf jb;

static void on_signal(int sig) { siglongjmp(jb, sig); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s IN OUT\n", argv[0]); return 2; }
  if (sizeof(struct rec) != 1168) { fprintf(stderr, "struct rec: %zu bytes\n", sizeof(struct rec)); return 1; }
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
  static struct rec rin;
  uint32_t i = 0;
  const uint32_t mx = 0x1f80;
  while (fread(&rin, sizeof rin, 1, in) == 1) {
    if (i >= xw_ncases) { fprintf(stderr, "more records than cases\n"); return 1; }
    memcpy(&xw_in, &rin, sizeof rin);
    memset(&xw_out, 0, sizeof xw_out);
    memcpy((void *)XW_REGION, rin.mem, XW_MEM);
    xw_target = xw_cases[i];
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) xw_run();
    else __asm__ volatile("cld; ldmxcsr %0; fninit" : : "m"(mx));
    xw_out.status = (uint64_t)sig;
    memcpy(xw_out.mem, (void *)XW_REGION, XW_MEM);
    fwrite(&xw_out, sizeof xw_out, 1, out);
    i++;
  }
  fclose(out);
  return 0;
}
