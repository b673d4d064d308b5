/* worker-setup.c - the steps that make a process the worker of a call, shared
 * by the two kinds of worker: the one forked for a library call or a build
 * (worker.c) and the one cloned for a program (program-worker.c).
 *
 * Every step makes its system calls raw (raw-syscall.h), because a program's
 * worker runs in memory its supervisor uses at the same time, errno included.
 * A step that fails ends the worker (worker_failed), saying "cannot <what>:
 * <error>" in the shared state page, phase SETUP_FAILED. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "launcher.h"
#include "raw-syscall.h"

char *const worker_environment[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", NULL };

_Noreturn void worker_failed(struct fnj_worker_state *state, uint32_t phase, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(state->message, sizeof state->message, fmt, ap);
	va_end(ap);
	state->phase = phase;
	raw_syscall(SYS_exit_group, status, 0, 0, 0, 0);
	__builtin_unreachable();
}

/* A step's system call: its result, unless it failed. */
static long step(struct fnj_worker_state *state, long result, const char *what)
{
	if (result < 0)
		worker_failed(state, FNJ_PHASE_SETUP_FAILED, 126, "cannot %s: %s", what, strerrordesc_np((int)-result));
	return result;
}

void worker_prepare(struct fnj_worker_state *state)
{
	/* A session of its own (out of the supervisor's), and the usual file
	 * mode mask (each worker has its own: no CLONE_FS). no_new_privs changes
	 * nothing for a root process that has not dropped its privileges yet,
	 * and stays for good. The launcher and the supervisor install no signal
	 * handlers and the supervisor restored SIGPIPE, so every disposition is
	 * the default already; only the mask (SIGCHLD is blocked for their
	 * signalfds) must be cleared. */
	static const struct rlimit no_core = { 0, 0 };
	const uint64_t no_signals = 0;
	step(state, raw_syscall(SYS_setsid, 0, 0, 0, 0, 0), "start a session");
	raw_syscall(SYS_umask, 022, 0, 0, 0, 0);
	step(state, raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs");
	step(state, raw_syscall(SYS_prlimit64, 0, RLIMIT_CORE, (long)&no_core, 0, 0), "set RLIMIT_CORE");
	step(state, raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&no_signals, 0, sizeof no_signals, 0),
	     "clear the signal mask");
}

void worker_arrange_fds(struct fnj_worker_state *state, int in, int out, int err, int program, int handshake)
{
	/* In this order: a source is never a descriptor already replaced (the
	 * supervisor's /dev/null is fd 0, which only stderr or stdin may be). */
	step(state, raw_syscall(SYS_dup2, err, STDERR_FILENO, 0, 0, 0), "set up standard error");
	step(state, raw_syscall(SYS_dup2, out, STDOUT_FILENO, 0, 0, 0), "set up standard output");
	step(state, raw_syscall(SYS_dup2, in, STDIN_FILENO, 0, 0, 0), "set up standard input");
	step(state, raw_syscall(SYS_dup2, handshake, HANDSHAKE_FD, 0, 0, 0), "set up the handshake");
	/* A program's descriptor at its fixed place, closed by its exec (it came
	 * close-on-exec if it is there already). */
	if (program >= 0 && program != PROGRAM_FD)
		step(state, raw_syscall(SYS_dup3, program, PROGRAM_FD, O_CLOEXEC, 0, 0), "set up the program's descriptor");
	step(state, raw_syscall(SYS_close_range, (program >= 0 ? PROGRAM_FD : HANDSHAKE_FD) + 1, ~0U, 0, 0, 0),
	     "close inherited descriptors");
}

void worker_enter_namespaces(struct fnj_worker_state *state, const struct exec_spec *spec)
{
	/* Namespaces of the call's own, when its seccomp profile lets it create
	 * what lives in them (the supervisor's are shared by its calls otherwise). */
	if (!(spec->head.flags & FNJ_EXEC_SHARED_IPC))
		step(state, raw_syscall(SYS_unshare, CLONE_NEWIPC, 0, 0, 0, 0), "create an IPC namespace");
	if (spec->head.flags & FNJ_EXEC_FRESH_NETNS)
		step(state, raw_syscall(SYS_unshare, CLONE_NEWNET, 0, 0, 0, 0), "create a network namespace");
}

void worker_drop_privileges(struct fnj_worker_state *state, uint32_t id)
{
	/* Raw: glibc's setresuid would make every thread of the process switch,
	 * and a program's worker is no thread of its supervisor's. */
	step(state, raw_syscall(SYS_setgroups, 0, 0, 0, 0, 0), "drop the supplementary groups");
	step(state, raw_syscall(SYS_setresgid, id, id, id, 0, 0), "switch to the sandbox gid");
	step(state, raw_syscall(SYS_setresuid, id, id, id, 0, 0), "switch to the sandbox uid");
}

void worker_enter_directory(struct fnj_worker_state *state, const struct exec_spec *spec)
{
	const char *dir = spec->head.cwd_len ? spec->cwd : spec->head.kind == FNJ_KIND_BUILD ? spec->work : "/tmp";
	step(state, raw_syscall(SYS_chdir, (long)dir, 0, 0, 0, 0), "enter the working directory");
}

static void set_limit(struct fnj_worker_state *state, int resource, uint64_t soft, uint64_t hard, const char *what)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	step(state, raw_syscall(SYS_prlimit64, 0, resource, (long)&rl, 0, 0), what);
}

void worker_set_limits(struct fnj_worker_state *state, const struct fnj_exec *h, const struct spec_fds *fds)
{
	/* RLIMIT_CORE was set before the call (worker_prepare). */
	if (h->cpu_ms) {
		/* SIGXCPU at the limit (rounded up to a second, the rlimit's unit),
		 * SIGKILL a second later if the function ignores it. */
		uint64_t seconds = cpu_rlimit_seconds(h->cpu_ms);
		set_limit(state, RLIMIT_CPU, seconds, seconds + 1, "set RLIMIT_CPU");
	}
	/* The memory cgroup limits what is used, and its out-of-memory kills are
	 * reported; RLIMIT_AS (address space, not memory) is only the fallback. */
	if (h->memory_bytes && !fds->memory_by_cgroup)
		set_limit(state, RLIMIT_AS, h->memory_bytes, h->memory_bytes, "set RLIMIT_AS");
	/* The pids cgroup limits processes and threads and counts the refusals;
	 * RLIMIT_NPROC would refuse first and unseen, so it is only the fallback
	 * (the sandbox uid is unique, so the per-user count is this sandbox's). */
	if (h->max_procs && !fds->pids_by_cgroup)
		set_limit(state, RLIMIT_NPROC, h->max_procs, h->max_procs, "set RLIMIT_NPROC");
	if (h->max_files)
		set_limit(state, RLIMIT_NOFILE, h->max_files, h->max_files, "set RLIMIT_NOFILE");
	if (h->output_bytes)
		set_limit(state, RLIMIT_FSIZE, h->output_bytes, h->output_bytes, "set RLIMIT_FSIZE");
}

void worker_install_seccomp(struct fnj_worker_state *state, const struct exec_spec *spec)
{
	/* no_new_privs was set before the call (worker_prepare). */
	if (!spec->head.filter_len)
		return;
	struct sock_fprog prog = { .len = (unsigned short)(spec->head.filter_len / 8),
				   .filter = (struct sock_filter *)(uintptr_t)spec->filter };
	bool notify = spec->head.flags & (FNJ_EXEC_SECCOMP_NOTIFY | FNJ_EXEC_SECCOMP_LEARN);
	long listener = step(state, raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
						notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, (long)&prog, 0, 0),
			     "install the seccomp filter");
	if (!notify)
		return;
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
	step(state, r, "hand the seccomp listener to the supervisor");
}
