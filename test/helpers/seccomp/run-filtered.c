/* run-filtered - runs one function of a shared library under a seccomp program
 * compiled by fnjail, without the launcher, for the seccomp kernel tests.
 *
 *   run-filtered MODE PROGRAM.bpf LIBRARY.so FUNCTION
 *
 * A forked child sets no_new_privs, installs the program (raw struct
 * sock_filter[]), then dlopens the library and calls the function, as the
 * launcher's worker does. The parent reports on stderr, one line:
 *   MODE plain:    "exit N" or "signal N" (a refused call: signal 31, SIGSYS)
 *   MODE refusals: the program was compiled supervised; a notification is a
 *                  refused call: "refused NR" (the child is killed), else "exit N"
 *   MODE logs:     the learn profile compiled supervised; every notification is
 *                  recorded and the call continues: "learned NR NR ..." then "exit N"
 * Exit status 0 unless the harness itself failed (then 2). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

static void die(const char *what)
{
	fprintf(stderr, "run-filtered: %s: %s\n", what, strerror(errno));
	exit(2);
}

static struct sock_fprog read_program(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	static struct sock_filter code[4096];
	size_t n = fread(code, sizeof code[0], 4096, f);
	fclose(f);
	if (n == 0)
		die("empty program");
	return (struct sock_fprog){ .len = (unsigned short)n, .filter = code };
}

/* The child: from the filter on, only what the launcher's worker would do. */
static _Noreturn void child(struct sock_fprog *prog, bool listen, int sock, const char *lib, const char *fn)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, listen ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, prog);
	if (fd < 0)
		die("seccomp");
	/* Hand the listener's number over (the parent takes it with pidfd_getfd)
	 * and wait until it has; read and write are allowed by every profile. */
	int number = (int)fd;
	char ack;
	if (write(sock, &number, sizeof number) != sizeof number || read(sock, &ack, 1) != 1)
		_exit(125);
	void *handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "run-filtered: %s\n", dlerror());
		_exit(124);
	}
	void (*function)(void) = (void (*)(void))dlsym(handle, fn);
	if (!function) {
		fprintf(stderr, "run-filtered: no function %s\n", fn);
		_exit(124);
	}
	function();
	fflush(stdout);
	exit(0);
}

static void report_status(int status)
{
	if (WIFEXITED(status))
		fprintf(stderr, "exit %d\n", WEXITSTATUS(status));
	else
		fprintf(stderr, "signal %d\n", WTERMSIG(status));
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: run-filtered plain|refusals|logs PROGRAM.bpf LIBRARY.so FUNCTION\n");
		return 2;
	}
	const char *mode = argv[1];
	bool listen = strcmp(mode, "plain") != 0, logs = strcmp(mode, "logs") == 0;
	struct sock_fprog prog = read_program(argv[2]);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		child(&prog, listen, sv[1], argv[3], argv[4]);
	}
	close(sv[1]);
	int number, listener = -1;
	if (read(sv[0], &number, sizeof number) != sizeof number) {
		int status;
		waitpid(pid, &status, 0);
		report_status(status);
		return 0;
	}
	if (listen) {
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		listener = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, number, 0);
		if (listener < 0)
			die("taking the seccomp listener");
	}
	if (write(sv[0], "", 1) != 1)
		die("ack");

	static int learned[1024];
	int nlearned = 0;
	while (listener >= 0) {
		struct pollfd p = { .fd = listener, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll");
		if (p.revents & POLLIN) {
			struct seccomp_notif req;
			memset(&req, 0, sizeof req);
			if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
				continue; /* the caller died meanwhile */
			if (!logs) {
				fprintf(stderr, "refused %d\n", req.data.nr);
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				return 0;
			}
			bool seen = false;
			for (int i = 0; i < nlearned; i++)
				seen |= learned[i] == req.data.nr;
			if (!seen && nlearned < 1024)
				learned[nlearned++] = req.data.nr;
			struct seccomp_notif_resp resp = { .id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
			ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		} else if (p.revents & (POLLHUP | POLLERR)) {
			break; /* no task uses the filter any more */
		}
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (logs) {
		fprintf(stderr, "learned");
		for (int i = 0; i < nlearned; i++)
			fprintf(stderr, " %d", learned[i]);
		fprintf(stderr, "\n");
	}
	report_status(status);
	return 0;
}
