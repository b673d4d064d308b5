/* program-worker.c - the worker of a program call: cloned into its
 * supervisor's memory (CLONE_VM) rather than forked as a copy of it.
 *
 * A forked worker costs, on every call, the copy of the supervisor's page
 * tables, a copy-on-write fault for each page either process writes next, and
 * the teardown of that copy when the program is executed: on this VM (page
 * table updates are expensive there) a quarter of what a sandboxed program
 * call costs beyond the program itself (perf, bench:program). A library needs
 * that copy, for the library's code runs in it (worker.c). A program does not:
 * nothing but this file's code runs before its exec, and the exec gives it an
 * address space of its own, built from the program alone. So, as posix_spawn
 * does with vfork, its worker runs in the supervisor's memory, on a stack of
 * its own, until the exec. Unlike vfork's parent, the supervisor goes on
 * meanwhile (it takes the seccomp listener before the exec), so this code:
 *   - writes no memory but its stack and the shared state page: no environ,
 *     no stdio, no static variables, no allocation;
 *   - makes its system calls raw (worker-setup.c, raw-syscall.h): glibc's
 *     wrappers would write errno, which lives in storage both processes use;
 *   - changes nothing the address space carries for both: no PR_SET_DUMPABLE.
 *     Switching to the sandbox uid makes the shared address space
 *     non-dumpable, which is what keeps any process of that uid from tracing
 *     this one (and so reaching the supervisor's memory) before the exec; the
 *     exec then makes the program's own dumpable as it would anyway.
 * Its steps are those of the forked worker, in the same order (worker.c),
 * with the spec read from the supervisor's own parsed copy. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"
#include "raw-syscall.h"

#define STACK_BYTES (64u * 1024u)
#define GUARD_BYTES 4096u

static int program_worker_main(void *arg)
{
	const struct program_worker *w = arg;
	const struct exec_spec *spec = w->spec;
	struct fnj_worker_state *state = w->state;
	/* Before the call's own steps: what the forked worker does while it
	 * waits (worker.c, prepare_for_call). */
	worker_prepare(state);
	/* 1. namespaces; 2. standard streams (the supervisor's fd 0 is
	 * /dev/null), the program's descriptor and the handshake, nothing else;
	 * 3. the sandbox uid and gid, the working directory; 4. limits; 5. the
	 * seccomp filter; 6. the program. */
	const struct spec_fds *fds = &w->fds;
	int in = fds->stdin_fd >= 0 ? fds->stdin_fd : STDIN_FILENO;
	int out = spec->head.flags & FNJ_EXEC_STDIN_SOCKET ? fds->stdin_fd : fds->output;
	int err = spec->head.flags & FNJ_EXEC_STDERR_TO_OUTPUT ? fds->output : STDIN_FILENO;
	worker_enter_namespaces(state, spec);
	worker_arrange_fds(state, in, out, err, w->program, w->handshake);
	worker_drop_privileges(state, spec->head.sandbox_uid);
	worker_enter_directory(state, spec);
	worker_set_limits(state, &spec->head, fds);
	worker_install_seccomp(state, spec);
	raw_syscall(SYS_close, HANDSHAKE_FD, 0, 0, 0, 0);
	program_exec(spec, state);
}

pid_t program_worker_start(const struct program_worker *w, int *pidfd)
{
	/* One stack for the workers of all calls, one at a time, above a guard
	 * page: mapped once, its pages stay. Not inherited by forked workers
	 * (MADV_WIPEONFORK). */
	static uint8_t *stack;
	if (!stack) {
		uint8_t *p = mmap(NULL, GUARD_BYTES + STACK_BYTES, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		if (mprotect(p, GUARD_BYTES, PROT_NONE) < 0 || madvise(p, GUARD_BYTES + STACK_BYTES, MADV_WIPEONFORK) < 0) {
			munmap(p, GUARD_BYTES + STACK_BYTES);
			return -1;
		}
		stack = p + GUARD_BYTES;
	}
	return clone(program_worker_main, stack + STACK_BYTES, CLONE_VM | CLONE_PIDFD | SIGCHLD, (void *)w, pidfd);
}
