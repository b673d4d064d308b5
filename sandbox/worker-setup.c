/* worker-setup.c - the steps that make a process the worker of a call, shared
 * by the two kinds of worker: the one forked for a library call or a build
 * (worker.c) and the one cloned for a program (program-worker.c).
 *
 * Every step makes its system calls raw (raw-syscall.h), because a program's
 * worker runs in memory its supervisor uses at the same time, errno included.
 * Each returns 0, or -errno with *what naming what could not be done ("cannot
 * <what>: <error>" is the message the worker leaves). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "launcher.h"
#include "raw-syscall.h"

char *const worker_environment[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", NULL };

static int step(long result, const char *name, const char **what)
{
	if (result >= 0)
		return 0;
	*what = name;
	return (int)result;
}

int worker_prepare(const char **what)
{
	/* no_new_privs changes nothing for a root process that has not dropped
	 * its privileges yet, and stays for good. The launcher and the
	 * supervisor install no signal handlers and the supervisor restored
	 * SIGPIPE, so every disposition is the default already; only the mask
	 * (SIGCHLD is blocked for their signalfds) must be cleared. */
	static const struct rlimit no_core = { 0, 0 };
	const uint64_t no_signals = 0;
	int r;
	if ((r = step(raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs", what)) < 0 ||
	    (r = step(raw_syscall(SYS_prlimit64, 0, RLIMIT_CORE, (long)&no_core, 0, 0), "set RLIMIT_CORE", what)) < 0)
		return r;
	return step(raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&no_signals, 0, sizeof no_signals, 0),
		    "clear the signal mask", what);
}

int worker_arrange_fds(int in, int out, int err, int program, int handshake, const char **what)
{
	/* In this order: a source is never a descriptor already replaced (the
	 * supervisor's /dev/null is fd 0, which only stderr or stdin may be). */
	int r;
	if ((r = step(raw_syscall(SYS_dup2, err, STDERR_FILENO, 0, 0, 0), "set up standard error", what)) < 0 ||
	    (r = step(raw_syscall(SYS_dup2, out, STDOUT_FILENO, 0, 0, 0), "set up standard output", what)) < 0 ||
	    (r = step(raw_syscall(SYS_dup2, in, STDIN_FILENO, 0, 0, 0), "set up standard input", what)) < 0 ||
	    (r = step(raw_syscall(SYS_dup2, handshake, HANDSHAKE_FD, 0, 0, 0), "set up the handshake", what)) < 0)
		return r;
	/* A program's descriptor at its fixed place, closed by its exec (it came
	 * close-on-exec if it is there already). */
	if (program >= 0 && program != PROGRAM_FD &&
	    (r = step(raw_syscall(SYS_dup3, program, PROGRAM_FD, O_CLOEXEC, 0, 0), "set up the program's descriptor",
		      what)) < 0)
		return r;
	return step(raw_syscall(SYS_close_range, (program >= 0 ? PROGRAM_FD : HANDSHAKE_FD) + 1, ~0U, 0, 0, 0),
		    "close inherited descriptors", what);
}

int worker_enter_namespaces(const struct exec_spec *spec, const char **what)
{
	/* Namespaces of the call's own, when its seccomp profile lets it create
	 * what lives in them (the supervisor's are shared by its calls otherwise). */
	int r = 0;
	if (!(spec->head.flags & FNJ_EXEC_SHARED_IPC))
		r = step(raw_syscall(SYS_unshare, CLONE_NEWIPC, 0, 0, 0, 0), "create an IPC namespace", what);
	if (r == 0 && (spec->head.flags & FNJ_EXEC_FRESH_NETNS))
		r = step(raw_syscall(SYS_unshare, CLONE_NEWNET, 0, 0, 0, 0), "create a network namespace", what);
	return r;
}

int worker_drop_privileges(uint32_t id, const char **what)
{
	/* Raw: glibc's setresuid would make every thread of the process switch,
	 * and a program's worker is no thread of its supervisor's. */
	int r;
	if ((r = step(raw_syscall(SYS_setgroups, 0, 0, 0, 0, 0), "drop the supplementary groups", what)) < 0 ||
	    (r = step(raw_syscall(SYS_setresgid, id, id, id, 0, 0), "switch to the sandbox gid", what)) < 0)
		return r;
	return step(raw_syscall(SYS_setresuid, id, id, id, 0, 0), "switch to the sandbox uid", what);
}

static int set_limit(int resource, uint64_t soft, uint64_t hard, const char *name, const char **what)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	return step(raw_syscall(SYS_prlimit64, 0, resource, (long)&rl, 0, 0), name, what);
}

int worker_set_limits(const struct fnj_exec *h, const struct spec_fds *fds, const char **what)
{
	/* RLIMIT_CORE was set before the call (worker_prepare). */
	int r = 0;
	if (h->cpu_ms) {
		/* SIGXCPU at the limit (rounded up to a second, the rlimit's unit),
		 * SIGKILL a second later if the function ignores it. */
		uint64_t seconds = cpu_rlimit_seconds(h->cpu_ms);
		r = set_limit(RLIMIT_CPU, seconds, seconds + 1, "set RLIMIT_CPU", what);
	}
	/* The memory cgroup limits what is used, and its out-of-memory kills are
	 * reported; RLIMIT_AS (address space, not memory) is only the fallback. */
	if (r == 0 && h->memory_bytes && !fds->memory_by_cgroup)
		r = set_limit(RLIMIT_AS, h->memory_bytes, h->memory_bytes, "set RLIMIT_AS", what);
	/* The pids cgroup limits processes and threads and counts the refusals;
	 * RLIMIT_NPROC would refuse first and unseen, so it is only the fallback
	 * (the sandbox uid is unique, so the per-user count is this sandbox's). */
	if (r == 0 && h->max_procs && !fds->pids_by_cgroup)
		r = set_limit(RLIMIT_NPROC, h->max_procs, h->max_procs, "set RLIMIT_NPROC", what);
	if (r == 0 && h->max_files)
		r = set_limit(RLIMIT_NOFILE, h->max_files, h->max_files, "set RLIMIT_NOFILE", what);
	if (r == 0 && h->output_bytes)
		r = set_limit(RLIMIT_FSIZE, h->output_bytes, h->output_bytes, "set RLIMIT_FSIZE", what);
	return r;
}

int worker_install_seccomp(const struct exec_spec *spec, const char **what)
{
	/* no_new_privs was set before the call (worker_prepare). */
	if (!spec->head.filter_len)
		return 0;
	struct sock_fprog prog = { .len = (unsigned short)(spec->head.filter_len / 8),
				   .filter = (struct sock_filter *)(uintptr_t)spec->filter };
	bool notify = spec->head.flags & (FNJ_EXEC_SECCOMP_NOTIFY | FNJ_EXEC_SECCOMP_LEARN);
	long listener = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0,
				    (long)&prog, 0, 0);
	if (listener < 0 || !notify)
		return step(listener, "install the seccomp filter", what);
	/* The supervisor takes the listener with pidfd_getfd(); what runs next
	 * must never hold it (it could answer its own refused calls). Only read,
	 * write and close are used from here on: every profile allows them. */
	int number = (int)listener;
	char ack;
	long r = raw_syscall(SYS_write, HANDSHAKE_FD, (long)&number, sizeof number, 0, 0);
	if (r == sizeof number)
		r = raw_syscall(SYS_read, HANDSHAKE_FD, (long)&ack, 1, 0, 0) == 1 ? 0 : -EPIPE;
	else if (r >= 0)
		r = -EPIPE;
	raw_syscall(SYS_close, number, 0, 0, 0, 0);
	return step(r, "hand the seccomp listener to the supervisor", what);
}
