/* program.c - the worker's last step for a program or a build: the exec
 * (its working directory was entered by worker_enter_directory).
 *
 * A program is executed from the descriptor of its mount (PROGRAM_FD), the one
 * the launcher cloned from the path it opened once without following links:
 * nothing on the host names the file again. A script ("#!") cannot be run so
 * without the kernel naming it /dev/fd/N to its interpreter (its $0, its
 * error messages) and keeping the descriptor open in it; a script is run by
 * its path in the sandbox instead, once that path is seen to be the very mount
 * of the descriptor (same mount, same inode): the sandbox's tree is read-only
 * and nothing in it can mount, so the path cannot change before the exec. Its
 * interpreter comes from the read-only system directories. A build's command
 * is looked up in PATH, which holds only the read-only system directories (or
 * in the work directory, for a name with a slash). Everything here runs under
 * the call's seccomp filter, which must allow execveat and execve (the
 * `program` profile does). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"
#include "raw-syscall.h"

extern char **environ;

static long raw_statx(int dirfd, const char *path, int flags, struct statx *st)
{
	return raw_syscall(SYS_statx, dirfd, (long)path, flags, STATX_INO | STATX_MNT_ID, (long)st);
}

/* Whether path (in the sandbox) is the program's mount itself. */
static bool path_is_program(const char *path)
{
	struct statx fd, named;
	return raw_statx(PROGRAM_FD, "", AT_EMPTY_PATH, &fd) == 0 &&
	       raw_statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &named) == 0 && (fd.stx_mask & STATX_MNT_ID) &&
	       (named.stx_mask & STATX_MNT_ID) && fd.stx_mnt_id == named.stx_mnt_id && fd.stx_ino == named.stx_ino &&
	       fd.stx_dev_major == named.stx_dev_major && fd.stx_dev_minor == named.stx_dev_minor;
}

/* The call's environment, or without one of its own the worker's clean one. */
static char *const *environment_of(const struct exec_spec *spec)
{
	return spec->envp[0] ? spec->envp : worker_environment;
}

_Noreturn void program_exec(const struct exec_spec *spec, struct fnj_worker_state *state)
{
	char *const *envp = environment_of(spec);
	state->phase = FNJ_PHASE_RUNNING;
	long r = raw_syscall(SYS_execveat, PROGRAM_FD, (long)"", (long)spec->argv, (long)envp, AT_EMPTY_PATH);
	/* ENOENT from a close-on-exec descriptor: a script (or a missing
	 * interpreter, which the second try reports alike). */
	if (r == -ENOENT) {
		if (!path_is_program(spec->library))
			worker_failed(state, FNJ_PHASE_EXEC_FAILED, 127, "its path does not lead to the program placed in the sandbox");
		r = raw_syscall(SYS_execve, (long)spec->library, (long)spec->argv, (long)envp, 0, 0);
	}
	worker_failed(state, FNJ_PHASE_EXEC_FAILED, 127, "%s", strerrordesc_np((int)-r));
}

/* Only in a forked worker (worker.c): glibc's execvpe sets errno. */
_Noreturn void build_exec(const struct exec_spec *spec, struct fnj_worker_state *state)
{
	/* execvpe searches the PATH of the environment in force. */
	char *const *envp = environment_of(spec);
	state->phase = FNJ_PHASE_RUNNING;
	environ = (char **)envp;
	execvpe(spec->argv[0], spec->argv, (char **)envp);
	worker_failed(state, FNJ_PHASE_EXEC_FAILED, 127, "%s", strerrordesc_np(errno));
}
