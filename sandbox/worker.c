/* worker.c - the process that runs the untrusted function or program (a child
 * of the sandbox's supervisor, forked before the call arrives so that the fork
 * is not on the call's critical path).
 *
 * Before the call (still root), it names itself, leaves the supervisor's
 * session, sets a clean environment and its fault handler, sets no_new_privs
 * and RLIMIT_CORE 0, clears its signal mask, opens /dev/null and faults in the
 * pages the call is received into (prepare_for_call: none of it depends on the
 * call, so none of it is on the call's path), then waits on the handshake
 * socket. With the call, in this order it:
 *   1. enters a fresh IPC (and network) namespace if the call needs one;
 *   2. points stdin at /dev/null (a program's: its input file, or its
 *      connection, which is its stdout too), stdout (and stderr if asked) at
 *      the output file, and closes every other descriptor but the handshake
 *      socket (and a program's descriptor);
 *   3. drops to the sandbox uid/gid with no supplementary groups (a program
 *      then enters its working directory);
 *   4. sets the call's resource limits;
 *   5. installs the seccomp filter (no_new_privs is set already), handing its listener
 *      to the supervisor, then closes the handshake (only fds 0-2 remain, and
 *      a program's descriptor, closed by its exec);
 *   6. dlopens the library, resolves the function and calls it; or executes
 *      the program or build command (program.c).
 * Everything from step 6 on is untrusted: the library's constructors run inside
 * dlopen, so what this process writes into the shared state page afterwards is
 * advisory. Exit status, signals, the refused system call and resource usage
 * are observed from outside by the supervisor. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "launcher.h"

#define HANDSHAKE_FD 3

static struct fnj_worker_state *state;

static void set_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_message(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(state->message, sizeof state->message, fmt, ap);
	va_end(ap);
}

#define SETUP_FAIL(...)                                    \
	do {                                               \
		set_message(__VA_ARGS__);                  \
		state->phase = FNJ_PHASE_SETUP_FAILED;     \
		_exit(126);                                \
	} while (0)

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
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		SETUP_FAIL("cannot set up standard streams: %s", strerror(errno));
	/* A program's descriptor at its fixed place, closed by its exec. */
	int last = HANDSHAKE_FD;
	if (fds->library >= 0) {
		if (fds->library != PROGRAM_FD && dup3(fds->library, PROGRAM_FD, O_CLOEXEC) < 0)
			SETUP_FAIL("cannot set up the program's descriptor: %s", strerror(errno));
		last = PROGRAM_FD;
	}
	if (syscall(SYS_close_range, last + 1, ~0U, 0) < 0)
		SETUP_FAIL("cannot close inherited descriptors: %s", strerror(errno));
}

/* Namespaces of the call's own, when its seccomp profile lets it create what
 * lives in them (the supervisor's are shared by its calls otherwise). */
static void enter_namespaces(const struct exec_spec *spec)
{
	if (!(spec->head.flags & FNJ_EXEC_SHARED_IPC) && unshare(CLONE_NEWIPC) < 0)
		SETUP_FAIL("cannot create an IPC namespace: %s", strerror(errno));
	if ((spec->head.flags & FNJ_EXEC_FRESH_NETNS) && unshare(CLONE_NEWNET) < 0)
		SETUP_FAIL("cannot create a network namespace: %s", strerror(errno));
}

static void drop_privileges(uint32_t id)
{
	if (setgroups(0, NULL) < 0 || setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0)
		SETUP_FAIL("cannot switch to uid/gid %u: %s", id, strerror(errno));
	/* Changing uid cleared "dumpable", which would make /proc/self root-owned
	 * and unreadable to the function (glibc reads /proc/self/maps, for one).
	 * Core dumps stay off through RLIMIT_CORE. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void set_limit(int resource, rlim_t soft, rlim_t hard, const char *name)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	if (setrlimit(resource, &rl) < 0)
		SETUP_FAIL("cannot set %s: %s", name, strerror(errno));
}

static void set_limits(const struct fnj_exec *h, const struct spec_fds *fds)
{
	/* RLIMIT_CORE was set before the call (prepare_for_call). */
	if (h->cpu_ms) {
		/* SIGXCPU at the limit (rounded up to a second, the rlimit's unit),
		 * SIGKILL a second later if the function ignores it. */
		rlim_t seconds = (rlim_t)cpu_rlimit_seconds(h->cpu_ms);
		set_limit(RLIMIT_CPU, seconds, seconds + 1, "RLIMIT_CPU");
	}
	/* The memory cgroup limits what is used, and its out-of-memory kills are
	 * reported; RLIMIT_AS (address space, not memory) is only the fallback. */
	if (h->memory_bytes && !fds->memory_by_cgroup)
		set_limit(RLIMIT_AS, h->memory_bytes, h->memory_bytes, "RLIMIT_AS");
	/* The pids cgroup limits processes and threads and counts the refusals;
	 * RLIMIT_NPROC would refuse first and unseen, so it is only the fallback
	 * (the sandbox uid is unique, so the per-user count is this sandbox's). */
	if (h->max_procs && !fds->pids_by_cgroup)
		set_limit(RLIMIT_NPROC, h->max_procs, h->max_procs, "RLIMIT_NPROC");
	if (h->max_files)
		set_limit(RLIMIT_NOFILE, h->max_files, h->max_files, "RLIMIT_NOFILE");
	if (h->output_bytes)
		set_limit(RLIMIT_FSIZE, h->output_bytes, h->output_bytes, "RLIMIT_FSIZE");
}

/* The launcher and the supervisor install no signal handlers and the
 * supervisor restored SIGPIPE, so every disposition is already the default;
 * only the mask (SIGCHLD is blocked for their signalfds) must be cleared. */
static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void set_environment(void)
{
	/* A fixed array, not setenv(): no allocation in memory shared with the
	 * supervisor (each page written is a copy-on-write fault). */
	static char *clean_environment[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", NULL };
	environ = clean_environment;
	if (chdir("/tmp") < 0)
		SETUP_FAIL("cannot enter /tmp: %s", strerror(errno));
	umask(022);
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

static void install_seccomp(const struct exec_spec *spec)
{
	/* no_new_privs was set before the call (prepare_for_call). */
	if (!spec->head.filter_len)
		return;
	struct sock_fprog prog = { .len = (unsigned short)(spec->head.filter_len / 8),
				   .filter = (struct sock_filter *)(uintptr_t)spec->filter };
	bool notify = spec->head.flags & (FNJ_EXEC_SECCOMP_NOTIFY | FNJ_EXEC_SECCOMP_LEARN);
	long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
	if (listener < 0)
		SETUP_FAIL("cannot install the seccomp filter: %s", strerror(errno));
	if (!notify)
		return;
	/* The supervisor takes the listener with pidfd_getfd(); the library must
	 * never hold it (it could answer its own refused calls). Only read, write
	 * and close are used from here on: every profile allows them. */
	int number = (int)listener;
	char ack;
	if (write(HANDSHAKE_FD, &number, sizeof number) != sizeof number ||
	    read(HANDSHAKE_FD, &ack, 1) != 1)
		SETUP_FAIL("seccomp listener handshake with the supervisor failed");
	close(number);
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
 * for every call: no_new_privs (it changes nothing for a root process that
 * has not dropped its privileges yet, and stays for good), no core dumps, an
 * empty signal mask (the supervisor's blocks SIGCHLD; nothing signals a
 * waiting worker but the supervisor's SIGKILL), /dev/null opened, and the
 * pages the call's message and spec are written to faulted in. */
static void prepare_for_call(struct exec_spec *spec)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		SETUP_FAIL("cannot set no_new_privs: %s", strerror(errno));
	set_limit(RLIMIT_CORE, 0, 0, "RLIMIT_CORE");
	reset_signals();
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
	bool in = spec_has_stdin(spec), program = spec->head.kind == FNJ_KIND_PROGRAM;
	if (nfds != 1 + in + program)
		SETUP_FAIL("malformed call from the supervisor");
	int i = 0;
	fds->output = fd[i++];
	fds->stdin_fd = in ? fd[i++] : -1;
	fds->library = program ? fd[i++] : -1;
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
	setsid();
	set_environment();
	catch_faults();
	prepare_for_call(&spec);

	receive_call(&spec, &fds);
	enter_namespaces(&spec);
	setup_stdio(&spec, &fds);
	drop_privileges(spec.head.sandbox_uid);
	bool program = spec.head.kind != FNJ_KIND_LIBRARY;
	if (program && program_chdir(&spec) < 0)
		SETUP_FAIL("cannot enter the working directory: %s", strerror(errno));
	set_limits(&spec.head, &fds);
	install_seccomp(&spec);
	close(HANDSHAKE_FD);
	if (program)
		program_exec(&spec, state);

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
