/* exec-filtered - runs a command under a seccomp program compiled by fnjail,
 * inherited by everything it starts: how the tests make one system call fail
 * for a whole server (its launcher and sandboxes included) to see that the
 * failure is reported, not ignored.
 *
 *   exec-filtered PROGRAM.bpf COMMAND [ARG...] */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: exec-filtered PROGRAM.bpf COMMAND [ARG...]\n");
		return 2;
	}
	static struct sock_filter code[4096];
	FILE *f = fopen(argv[1], "rb");
	size_t n = f ? fread(code, sizeof code[0], 4096, f) : 0;
	if (!f || n == 0) {
		fprintf(stderr, "exec-filtered: cannot read %s\n", argv[1]);
		return 2;
	}
	fclose(f);
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		fprintf(stderr, "exec-filtered: cannot install the program: %s\n", strerror(errno));
		return 2;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "exec-filtered: %s: %s\n", argv[2], strerror(errno));
	return 2;
}
