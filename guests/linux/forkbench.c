/* A static x86-64 Linux program that times process creation (bench/fork.ts, tests/fork.test.ts):
 *   forkbench N      N rounds of fork + exec of itself with "-x" (a trivial static program that exits 0) + wait4,
 *                    then N rounds of fork + _exit + wait4, each timed with clock_gettime(CLOCK_MONOTONIC);
 *                    prints "forkbench: fork_exec_us=A fork_exit_us=B n=N" (microseconds per round, with
 *                    three decimals) and "forkbench: ok" when every child exited 0.
 *   forkbench -x     exits 0 at once (the exec'd program).
 * No libc: raw system calls (so nothing but the kernel's own work is timed). */
typedef unsigned long u64;
static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall" : "=a"(r) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
enum { SYS_write = 1, SYS_fork = 57, SYS_execve = 59, SYS_exit = 60, SYS_wait4 = 61, SYS_clock_gettime = 228 };
static void out(const char *s) { long n = 0; while (s[n]) n++; sys(SYS_write, 1, (long)s, n, 0, 0, 0); }
static void outn(u64 v)
{
	char b[24];
	int i = 23;
	b[i] = 0;
	do { b[--i] = '0' + v % 10; v /= 10; } while (v);
	out(b + i);
}
/* v / 1000 with three decimals */
static void outm(u64 v)
{
	char b[4] = { '0' + v / 100 % 10, '0' + v / 10 % 10, '0' + v % 10, 0 };
	outn(v / 1000);
	out(".");
	out(b);
}
static u64 atou(const char *s) { u64 v = 0; while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0'); return v; }
static u64 now_ns(void)
{
	long ts[2];
	sys(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, (long)ts, 0, 0, 0, 0);
	return (u64)ts[0] * 1000000000ULL + (u64)ts[1];
}
static void die(const char *what) { out("forkbench: BAD "); out(what); out("\n"); sys(SYS_exit, 2, 0, 0, 0, 0, 0); }

/* One round: fork, the child execs self -x (exec) or exits (!exec); wait for it; returns its exit status word. */
static int round_trip(const char *self, char **envp, int exec)
{
	long pid = sys(SYS_fork, 0, 0, 0, 0, 0, 0);
	if (pid < 0) die("fork");
	if (pid == 0) {
		if (exec) {
			char *argv[] = { (char *)self, (char *)"-x", 0 };
			sys(SYS_execve, (long)self, (long)argv, (long)envp, 0, 0, 0);
			sys(SYS_exit, 127, 0, 0, 0, 0, 0);
		}
		sys(SYS_exit, 0, 0, 0, 0, 0, 0);
	}
	int status = 0;
	if (sys(SYS_wait4, pid, (long)&status, 0, 0, 0, 0) != pid) die("wait4");
	return status;
}

void _start_c(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'x') sys(SYS_exit, 0, 0, 0, 0, 0, 0);
	u64 n = argc > 1 ? atou(argv[1]) : 100;
	if (!n) n = 1;
	int bad = 0;
	/* one untimed round of each first (the program's pages are in the page cache, the kernel's paths warm) */
	bad |= round_trip(argv[0], envp, 1) | round_trip(argv[0], envp, 0);
	u64 t0 = now_ns();
	for (u64 i = 0; i < n; i++) bad |= round_trip(argv[0], envp, 1);
	u64 t1 = now_ns();
	for (u64 i = 0; i < n; i++) bad |= round_trip(argv[0], envp, 0);
	u64 t2 = now_ns();
	out("forkbench: fork_exec_us="); outm((t1 - t0) / n);
	out(" fork_exit_us="); outm((t2 - t1) / n);
	out(" n="); outn(n); out("\n");
	out(bad ? "forkbench: BAD child status\n" : "forkbench: ok\n");
	sys(SYS_exit, bad ? 1 : 0, 0, 0, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call _start_c\n hlt\n");
