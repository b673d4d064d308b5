/* worker.c - the process that runs the untrusted function, or a build's
 * command (a child of the sandbox's supervisor, forked before the call arrives
 * so that the fork is not on the call's critical path). A program's worker is
 * cloned instead (program-worker.c); both take the same steps
 * (worker-setup.c), in the same order.
 *
 * Before the call (still root), it names itself, sets a clean environment and
 * its fault handler, leaves the supervisor's session, sets umask 022,
 * no_new_privs and RLIMIT_CORE 0, clears its signal mask, opens /dev/null and faults in the
 * pages the call is received into (prepare_for_call: none of it depends on the
 * call, so none of it is on the call's path), then waits on the handshake
 * socket. With the call, in this order it:
 *   1. enters a fresh IPC (and network) namespace if the call needs one;
 *   2. points stdin at /dev/null (a build's: its input file), stdout (and
 *      stderr if asked) at the output file, and closes every other descriptor
 *      but the handshake socket;
 *   3. drops to the sandbox uid/gid with no supplementary groups (a build
 *      then enters its work directory);
 *   4. sets the call's resource limits;
 *   5. installs the seccomp filter (no_new_privs is set already), handing its listener
 *      to the supervisor, then closes the handshake (only fds 0-2 remain);
 *   6. dlopens the library, resolves the function and calls it; or executes
 *      the build's command (program.c).
 * Everything from step 6 on is untrusted: the library's constructors run inside
 * dlopen, so what this process writes into the shared state page afterwards is
 * advisory. Exit status, signals, the refused system call and resource usage
 * are observed from outside by the supervisor. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "launcher.h"

static struct fnj_worker_state *state;

static void set_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_message(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(state->message, sizeof state->message, fmt, ap);
	va_end(ap);
}

#define SETUP_FAIL(...) worker_failed(state, FNJ_PHASE_SETUP_FAILED, 126, __VA_ARGS__)

/* The handshake socket is fd 3 from the start (the supervisor's control
 * socket, inherited, is closed). */
static void take_handshake(int handshake)
{
	if (dup2(handshake, HANDSHAKE_FD) < 0)
		_exit(126);
	syscall(SYS_close_range, HANDSHAKE_FD + 1, ~0U, 0);
}

/* Opened before the call (prepare_for_call); closed with the rest in setup_stdio. */
static int devnull = -1;

static void setup_stdio(const struct exec_spec *spec, const struct spec_fds *fds)
{
	if (devnull < 0)
		SETUP_FAIL("cannot open /dev/null: %s", strerror(errno));
	int in = fds->stdin_fd >= 0 ? fds->stdin_fd : devnull;
	int out = spec->head.flags & FNJ_EXEC_STDIN_SOCKET ? fds->stdin_fd : fds->output;
	int err_fd = (spec->head.flags & FNJ_EXEC_STDERR_TO_OUTPUT) ? fds->output : devnull;
	worker_arrange_fds(state, in, out, err_fd, -1, HANDSHAKE_FD);
}

static void drop_privileges(uint32_t id)
{
	worker_drop_privileges(state, id);
	/* Changing uid cleared "dumpable", which would make /proc/self root-owned
	 * and unreadable to the function (glibc reads /proc/self/maps, for one).
	 * Core dumps stay off through RLIMIT_CORE. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void set_environment(void)
{
	/* A fixed array, not setenv(): no allocation in memory shared with the
	 * supervisor (each page written is a copy-on-write fault). */
	environ = (char **)worker_environment;
	if (chdir("/tmp") < 0)
		SETUP_FAIL("cannot enter /tmp: %s", strerror(errno));
	/* Unbuffered: whatever the function printed is in the file even if it
	 * crashes a moment later (printf still writes a whole call at once). */
	setvbuf(stdout, NULL, _IONBF, 0);
}

/* Records where a SIGSEGV/SIGBUS hit, then dies of it. The library may replace
 * this handler; then no address is reported, nothing else changes. */
static void on_fault(int sig, siginfo_t *info, void *context)
{
	if (info->si_code > 0) { /* raised by the kernel for a fault, not sent */
		uintptr_t addr = (uintptr_t)info->si_addr;
		uintptr_t sp = (uintptr_t)((ucontext_t *)context)->uc_mcontext.gregs[REG_RSP];
		state->fault_addr = addr;
		state->fault_signal = sig;
		/* A push or call just below the stack pointer, into the guard page. */
		state->stack_overflow = addr <= sp + 4096 && addr + 65536 >= sp;
	}
	/* SA_RESETHAND restored the default action; the signal stays blocked until
	 * the handler returns, then this pending one kills the process. */
	raise(sig);
}

static void catch_faults(void)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
	/* A stack overflow needs the alternate stack to report anything. */
	if (sigaltstack(&ss, NULL) < 0 || sigaction(SIGSEGV, &sa, NULL) < 0 ||
	    sigaction(SIGBUS, &sa, NULL) < 0)
		SETUP_FAIL("cannot install the fault handler: %s", strerror(errno));
}

/* A data symbol called as a function would crash with a confusing fault; say
 * what it is instead. */
static const char *symbol_kind(void *address)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (!dladdr1(address, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
		return NULL;
	switch (ELF64_ST_TYPE(sym->st_info)) {
	case STT_OBJECT:
		return "a data object";
	case STT_TLS:
		return "a thread-local variable";
	case STT_COMMON:
		return "a common data block";
	case STT_SECTION:
	case STT_FILE:
		return "not a code symbol";
	default:
		return NULL; /* STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE */
	}
}

/* Where the call's message arrives (receive_call). */
static uint8_t call_buf[sizeof(struct fnj_worker_go) + FNJ_MAX_FRAME];
/* How much of it a call's message usually fills (its seccomp filter, mostly). */
#define USUAL_MESSAGE_BYTES (16u * 1024u)

/* Writes to each page, so that its fault is taken now rather than on the
 * call's path. */
static void prefault(void *start, size_t len)
{
	volatile uint8_t *p = start;
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 0;
	if (len)
		p[len - 1] = 0;
}

/* What the worker does before its call arrives, off the call's path, the same
 * for every call: worker_prepare (a session of its own, umask 022,
 * no_new_privs, no core dumps, an empty signal mask: nothing signals a waiting
 * worker but the supervisor's SIGKILL), /dev/null opened, and the pages the
 * call's message and spec are written to faulted in. */
static void prepare_for_call(struct exec_spec *spec)
{
	worker_prepare(state);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	prefault(spec, sizeof *spec);
	prefault(call_buf, USUAL_MESSAGE_BYTES);
}

/* Waits for the call: the spec (as the launcher sent it), the output file,
 * and standard input and the program's mount when it has them. */
static void receive_call(struct exec_spec *spec, struct spec_fds *fds)
{
	uint8_t *buf = call_buf;
	int fd[3], nfds = 0;
	ssize_t n = recv_with_fds(HANDSHAKE_FD, buf, sizeof call_buf, fd, 3, &nfds);
	if (n <= 0)
		_exit(0); /* no call came: the supervisor retired */
	struct fnj_worker_go go;
	char err[FNJ_MAX_MESSAGE];
	if ((size_t)n < sizeof go)
		SETUP_FAIL("malformed call from the supervisor");
	memcpy(&go, buf, sizeof go);
	if (spec_parse(buf + sizeof go, (size_t)n - sizeof go, spec, err, sizeof err) < 0)
		SETUP_FAIL("%s", err);
	/* A program's call goes to a worker of its own (program-worker.c). */
	bool in = spec_has_stdin(spec);
	if (nfds != 1 + in || spec->head.kind == FNJ_KIND_PROGRAM)
		SETUP_FAIL("malformed call from the supervisor");
	int i = 0;
	fds->output = fd[i++];
	fds->stdin_fd = in ? fd[i++] : -1;
	fds->memory_by_cgroup = go.memory_by_cgroup;
	fds->pids_by_cgroup = go.pids_by_cgroup;
}

_Noreturn void worker_main(int handshake, struct fnj_worker_state *shared)
{
	static struct exec_spec spec;
	static struct spec_fds fds;
	state = shared;
	state->phase = FNJ_PHASE_SETUP;
	prctl(PR_SET_NAME, "fnjail-worker", 0, 0, 0);
	take_handshake(handshake);
	set_environment();
	catch_faults();
	prepare_for_call(&spec);

	receive_call(&spec, &fds);
	worker_enter_namespaces(state, &spec);
	setup_stdio(&spec, &fds);
	drop_privileges(spec.head.sandbox_uid);
	bool build = spec.head.kind == FNJ_KIND_BUILD;
	if (build)
		worker_enter_directory(state, &spec);
	worker_set_limits(state, &spec.head, &fds);
	worker_install_seccomp(state, &spec);
	close(HANDSHAKE_FD);
	if (build)
		build_exec(&spec, state);

	state->phase = FNJ_PHASE_LOADING;
	scrub_worker_stack();
	void *handle = dlopen(spec.library, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		set_message("%s", dlerror());
		state->phase = FNJ_PHASE_LOAD_FAILED;
		_exit(0);
	}
	state->phase = FNJ_PHASE_RESOLVING;
	dlerror();
	void *symbol = dlsym(handle, spec.function);
	if (!symbol) {
		const char *why = dlerror();
		set_message("%s", why ? why : "the symbol's address is NULL");
		state->phase = FNJ_PHASE_RESOLVE_FAILED;
		_exit(0);
	}
	const char *kind = symbol_kind(symbol);
	if (kind) {
		set_message("%s", kind);
		state->phase = FNJ_PHASE_NOT_A_FUNCTION;
		_exit(0);
	}
	state->phase = FNJ_PHASE_RUNNING;
	scrub_worker_stack(); /* again: what dlopen's own chain left */
	if (spec.head.input_len)
		((void (*)(const char *))symbol)(spec.input);
	else
		((void (*)(void))symbol)();
	state->phase = FNJ_PHASE_RETURNED;
	fflush(stdout);
	exit(0);
}
