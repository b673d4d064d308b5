/* raw-syscall.h - system calls made without glibc's wrappers.
 *
 * For code that runs in memory another process uses at the same time (a
 * program's worker, program-worker.c): glibc's wrappers store a failure in
 * errno, which lives in thread-local storage the two processes would share.
 * The kernel's own result comes back instead: -errno on failure.
 * x86_64 only, like the rest of fnjail (protocol.h). */
#ifndef FNJAIL_RAW_SYSCALL_H
#define FNJAIL_RAW_SYSCALL_H

static inline long raw_syscall(long nr, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

#endif
