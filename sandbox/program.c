/* program.c - the worker's last steps for a program or a build: its working
 * directory, then exec.
 *
 * A program is executed from the descriptor of its mount (PROGRAM_FD), the one
 * the launcher cloned from the path it opened once without following links:
 * nothing names the file again. A script ("#!") is run by its interpreter from
 * the read-only system directories; the kernel hands it the script as
 * /dev/fd/N, which must then stay open across the exec (for an executable the
 * descriptor is closed by the exec). A build's command is looked up in PATH,
 * which holds only the read-only system directories (or in the work
 * directory, for a name with a slash). Everything here runs under the call's
 * seccomp filter, which must allow execveat (the `program` profile does). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

extern char **environ;

int program_chdir(const struct exec_spec *spec)
{
	const char *dir = spec->head.cwd_len ? spec->cwd : spec->head.kind == FNJ_KIND_BUILD ? spec->work : "/tmp";
	return chdir(dir);
}

_Noreturn void program_exec(const struct exec_spec *spec, struct fnj_worker_state *state)
{
	/* Without an environment of its own, the worker's clean one. */
	char *const *envp = spec->envp[0] ? spec->envp : environ;
	state->phase = FNJ_PHASE_RUNNING;
	if (spec->head.kind == FNJ_KIND_PROGRAM) {
		syscall(SYS_execveat, PROGRAM_FD, "", spec->argv, envp, AT_EMPTY_PATH);
		/* ENOENT from an executable descriptor: a script, whose interpreter
		 * must be able to open it (or an interpreter that is missing,
		 * which the second try reports alike). */
		if (errno == ENOENT && fcntl(PROGRAM_FD, F_SETFD, 0) == 0)
			syscall(SYS_execveat, PROGRAM_FD, "", spec->argv, envp, AT_EMPTY_PATH);
	} else {
		/* execvpe searches the PATH of the environment in force. */
		environ = (char **)envp;
		execvpe(spec->argv[0], spec->argv, (char **)envp);
	}
	snprintf(state->message, sizeof state->message, "%s", strerror(errno));
	state->phase = FNJ_PHASE_EXEC_FAILED;
	_exit(127);
}
