/* supervisor.c - pid 1 of a sandbox: builds its root, then runs calls in it.
 *
 * Cloned by the launcher into fresh pid, mount, ipc and uts namespaces (and a
 * network namespace when asked). It stays root and never runs untrusted code:
 *   1. prepare: build the root filesystem (rootfs.c);
 *   2. fork the next call's worker (worker.c), which waits for it; READY;
 *   3. receive a spec with the output file and the library and input mounts;
 *      place them, make the root read-only, hand the call to the worker;
 *   4. supervise: take the seccomp listener from the worker, answer or act on
 *      refused system calls, enforce the wall-clock and CPU limits;
 *   5. when the worker is gone (or must go): kill everything else in the pid
 *      namespace, reap it, report;
 *   6. reset: remove the input, renew /tmp if it was used, zero the call's
 *      memory; then back to 2 (up to --reuse calls; any doubt about the reset
 *      and it exits instead).
 * Creating and tearing down namespaces costs more than everything else a call
 * does; reusing them between calls, never at once, is what makes fnjail fast.
 * Nothing of a call survives into the next: SECURITY.md lists what is reset. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "launcher.h"

#define CTL_FD 3
#define MAX_LEARNED 512
/* How often the CPU time of all the sandbox's processes is checked. */
#define CPU_CHECK_US (50u * 1000u)

/* Everything known about the execution, in the shape of the report. */
struct run {
	pid_t worker;
	int pidfd;
	int handshake;
	int listener;
	bool learn;
	bool worker_done;
	int status;
	int stop_signal;
	int cpu_usage;       /* the cgroup's CPU usage file, -1 if not accounted */
	int cgroup_version;
	uint64_t cpu_limit_us;
	uint64_t cpu_base_us;
	uint64_t started_us;
	uint64_t ended_us;
	uint64_t cpu_us;      /* of the processes reaped during this call */
	uint64_t maxrss_kb;
	struct fnj_result result;
	uint16_t learned[MAX_LEARNED];
	char message[FNJ_MAX_MESSAGE];
};

static void send_message(uint32_t type, const void *body, size_t len)
{
	uint8_t buf[sizeof(uint32_t) + sizeof(struct fnj_result) + FNJ_MAX_MESSAGE +
		    MAX_LEARNED * sizeof(uint16_t)];
	if (len > sizeof buf - sizeof type)
		len = sizeof buf - sizeof type;
	memcpy(buf, &type, sizeof type);
	memcpy(buf + sizeof type, body, len);
	if (send_with_fds(CTL_FD, buf, sizeof type + len, NULL, 0) < 0)
		log_msg("cannot report to the launcher: %s", strerror(errno));
}

static _Noreturn void prep_failed(const char *message)
{
	log_msg("%s", message);
	send_message(FNJ_SUP_PREP_FAILED, message, strlen(message));
	_exit(1);
}

/* Inherited from the launcher: its descriptors (the server's pipes, other
 * sandboxes' sockets) and its signal mask. Keep the control socket as fd 3,
 * stderr for diagnostics, nothing else. */
static void detach_from_launcher(int ctl)
{
	if (ctl != CTL_FD && dup2(ctl, CTL_FD) < 0)
		_exit(1);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0)
		_exit(1);
	if (syscall(SYS_close_range, CTL_FD + 1, ~0U, 0) < 0)
		_exit(1);
	/* If the launcher dies, so does the sandbox, whole: pid 1 takes its
	 * namespace with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "fnjail-sup", 0, 0, 0);
	/* The launcher ignores SIGPIPE; a worker must not inherit that (this
	 * process's own sends use MSG_NOSIGNAL). */
	signal(SIGPIPE, SIG_DFL);
}

static void copy_message(struct run *run, const char *text, size_t max)
{
	size_t i = 0;
	for (; i < max && i < sizeof run->message - 1 && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];
		run->message[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	run->message[i] = '\0';
}

static void report(struct run *run)
{
	struct fnj_result *r = &run->result;
	size_t msglen = strlen(run->message);
	r->message_len = (uint16_t)msglen;
	uint8_t body[sizeof *r + FNJ_MAX_MESSAGE + MAX_LEARNED * sizeof(uint16_t)];
	memcpy(body, r, sizeof *r);
	memcpy(body + sizeof *r, run->message, msglen);
	memcpy(body + sizeof *r + msglen, run->learned, r->learned_len * sizeof(uint16_t));
	send_message(FNJ_SUP_REPORT, body, sizeof *r + msglen + r->learned_len * sizeof(uint16_t));
}

static _Noreturn void launch_failed(struct run *run, const char *message)
{
	run->result.outcome = FNJ_OUTCOME_LAUNCH_FAILED;
	run->result.exit_code = -1;
	run->result.seccomp_nr = -1;
	copy_message(run, message, FNJ_MAX_MESSAGE);
	report(run);
	_exit(0);
}

/* Reap whatever has ended; note the worker's status when it is among them.
 * Returns how many processes were reaped. */
static uint32_t reap(struct run *run, int flags)
{
	int status;
	pid_t pid;
	uint32_t count = 0;
	struct rusage ru;
	while ((pid = wait4(-1, &status, flags | __WALL, &ru)) > 0) {
		if (WIFSTOPPED(status)) {
			/* Nobody in the sandbox is there to continue a stopped
			 * function: end the call now rather than at the timeout. */
			if (pid == run->worker && run->result.outcome == FNJ_OUTCOME_COMPLETED) {
				run->result.outcome = FNJ_OUTCOME_STOPPED;
				run->stop_signal = WSTOPSIG(status);
			}
			continue;
		}
		if (pid == run->worker && !run->worker_done) {
			run->worker_done = true;
			run->status = status;
			run->ended_us = monotonic_us();
		}
		/* Per process (with what it reaped itself): the supervisor lives on,
		 * so its cumulative RUSAGE_CHILDREN would mix calls. */
		run->cpu_us += (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
			       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		if ((uint64_t)ru.ru_maxrss > run->maxrss_kb)
			run->maxrss_kb = (uint64_t)ru.ru_maxrss;
		count++;
	}
	return count;
}

/* kill(-1) from pid 1 reaches every other process of the namespace; fork
 * cannot outrun it (a process with a pending SIGKILL creates no children). */
static void kill_everything(struct run *run)
{
	if (!run->worker_done && run->ended_us == 0)
		run->ended_us = monotonic_us();
	kill(-1, SIGKILL);
	run->result.procs_killed = reap(run, 0);
}

static void take_listener(struct run *run)
{
	int number;
	ssize_t n = read(run->handshake, &number, sizeof number);
	if (n != sizeof number) {
		close(run->handshake);
		run->handshake = -1;
		return;
	}
	run->listener = (int)syscall(SYS_pidfd_getfd, run->pidfd, number, 0);
	if (run->listener < 0)
		log_msg("cannot take the seccomp listener: %s; refused calls will fail with ENOSYS and go unnamed",
			strerror(errno));
	char ack = 1;
	if (write(run->handshake, &ack, 1) != 1)
		log_msg("seccomp handshake: %s", strerror(errno));
}

/* Returns true when the execution must end now. */
static bool on_notification(struct run *run)
{
	struct seccomp_notif req;
	memset(&req, 0, sizeof req);
	if (ioctl(run->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return false; /* the caller died meanwhile (ENOENT) */
	if (run->learn) {
		bool seen = false;
		for (uint16_t i = 0; i < run->result.learned_len; i++)
			seen |= run->learned[i] == req.data.nr;
		if (!seen && run->result.learned_len < MAX_LEARNED)
			run->learned[run->result.learned_len++] = (uint16_t)req.data.nr;
		struct seccomp_notif_resp resp = { .id = req.id,
						   .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
		ioctl(run->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		return false;
	}
	run->result.outcome = FNJ_OUTCOME_SECCOMP;
	run->result.seccomp_nr = req.data.nr;
	run->result.seccomp_arch = req.data.arch;
	return true;
}

/* True when all the sandbox's processes together used up their CPU time. */
static bool cpu_exhausted(struct run *run)
{
	if (run->cpu_usage < 0 || !run->cpu_limit_us)
		return false;
	return cgroup_read_cpu_us(run->cpu_usage, run->cgroup_version) - run->cpu_base_us >= run->cpu_limit_us;
}

static void supervise(struct run *run, uint32_t timeout_ms, int sfd)
{
	uint64_t deadline = run->started_us + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		reap(run, WNOHANG | WUNTRACED);
		if (run->worker_done || run->result.outcome == FNJ_OUTCOME_STOPPED)
			return;
		if (cpu_exhausted(run)) {
			run->result.outcome = FNJ_OUTCOME_CPU_LIMIT;
			return;
		}
		uint64_t now = monotonic_us();
		if (now >= deadline) {
			run->result.outcome = FNJ_OUTCOME_TIMED_OUT;
			return;
		}
		uint64_t wait_us = deadline - now;
		if (run->cpu_usage >= 0 && run->cpu_limit_us && wait_us > CPU_CHECK_US)
			wait_us = CPU_CHECK_US;
		struct pollfd fds[3] = { { .fd = sfd, .events = POLLIN },
					 { .fd = run->handshake, .events = POLLIN },
					 { .fd = run->listener, .events = POLLIN } };
		if (poll(fds, 3, (int)((wait_us + 999) / 1000)) < 0 && errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			return;
		}
		if (fds[0].revents) {
			struct signalfd_siginfo info;
			while (read(sfd, &info, sizeof info) == sizeof info)
				;
		}
		if (fds[1].revents)
			take_listener(run);
		if (fds[2].revents & POLLIN) {
			if (on_notification(run))
				return;
		} else if (fds[2].revents & (POLLHUP | POLLERR)) {
			close(run->listener);
			run->listener = -1;
		}
	}
}

static void fill_result(struct run *run, const struct fnj_worker_state *state, const struct exec_spec *spec,
			int output_fd)
{
	struct fnj_result *r = &run->result;
	struct stat st;
	if (fstat(output_fd, &st) == 0) {
		r->output_bytes = (uint64_t)st.st_size;
		if (spec->head.output_bytes && r->output_bytes >= spec->head.output_bytes)
			r->flags |= FNJ_RESULT_OUTPUT_LIMIT;
	}
	struct statvfs tmp;
	if (statvfs("/tmp", &tmp) == 0 && (tmp.f_bavail == 0 || tmp.f_favail == 0))
		r->flags |= FNJ_RESULT_TMP_FULL;
	if (state->stack_overflow)
		r->flags |= FNJ_RESULT_STACK_OVERFLOW;
	r->phase = state->phase <= FNJ_PHASE_RETURNED ? state->phase : FNJ_PHASE_SETUP;
	r->exit_code = -1;
	if (run->worker_done && WIFEXITED(run->status)) {
		r->exit_code = WEXITSTATUS(run->status);
	} else if (run->worker_done && WIFSIGNALED(run->status)) {
		r->term_signal = WTERMSIG(run->status);
		if (state->fault_signal && state->fault_signal == r->term_signal) {
			r->flags |= FNJ_RESULT_FAULT_ADDRESS;
			r->fault_addr = state->fault_addr;
		}
	} else {
		r->term_signal = SIGKILL; /* killed by the supervisor */
	}
	if (r->outcome == FNJ_OUTCOME_STOPPED)
		r->term_signal = run->stop_signal;
	switch (r->phase) {
	case FNJ_PHASE_SETUP_FAILED:
	case FNJ_PHASE_LOAD_FAILED:
	case FNJ_PHASE_RESOLVE_FAILED:
	case FNJ_PHASE_NOT_A_FUNCTION:
		copy_message(run, state->message, sizeof state->message);
		break;
	default:
		break;
	}
	r->user_us = run->cpu_us; /* user and system together */
	r->maxrss_kb = run->maxrss_kb;
	r->run_us = run->ended_us - run->started_us;
}

/* Sorts the descriptors that came with the spec (protocol.h, fnj_sup_spec). */
static int take_fds(const struct fnj_sup_spec *prefix, const struct exec_spec *spec, const int *fds, int nfds,
		    struct spec_fds *out)
{
	int expected = 1 + !prefix->keep_library + (spec->head.input_len ? 1 : 0) + prefix->cpu_usage;
	if (nfds != expected)
		return -1;
	int i = 0;
	out->output = fds[i++];
	out->library = prefix->keep_library ? -1 : fds[i++];
	out->input = spec->head.input_len ? fds[i++] : -1;
	out->cpu_usage = prefix->cpu_usage ? fds[i++] : -1;
	out->cgroup_version = prefix->cgroup_version;
	out->memory_by_cgroup = prefix->memory_by_cgroup;
	out->pids_by_cgroup = prefix->pids_by_cgroup;
	return 0;
}

/* The worker starts as a copy of this process, stack included: zero what
 * earlier calls left below the current frame. */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile uint8_t below[16 * 1024];
	explicit_bzero((void *)below, sizeof below);
}

/* One call's state, in one place, so that it can be zeroed as a whole before
 * the next worker is forked from this process. */
struct call {
	uint8_t message[sizeof(struct fnj_sup_spec) + FNJ_MAX_FRAME];
	size_t message_len;
	bool keep_library;
	struct exec_spec spec;
	struct spec_fds fds;
	struct run run;
	/* What is mounted in the root, paths included: kept between calls, so
	 * it lives in memory the workers do not inherit (MADV_WIPEONFORK). */
	struct rootfs_call *root;
};

/* The worker of the next call, forked while this sandbox waits for it. */
struct next_worker {
	pid_t pid;
	int pidfd;
	int handshake;
};

static struct fnj_worker_state *state; /* shared with the workers, one page */

static int fork_worker(struct next_worker *next)
{
	int pair[2];
	explicit_bzero((void *)state, sizeof *state);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	scrub_stack();
	pid_t pid = fork();
	if (pid < 0) {
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		close(pair[0]);
		worker_main(pair[1], state);
	}
	close(pair[1]);
	next->pid = pid;
	next->handshake = pair[0];
	next->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

static void run_call(struct call *c, const struct next_worker *next, int sfd)
{
	struct run *run = &c->run;
	const struct exec_spec *spec = &c->spec;
	char err[FNJ_MAX_MESSAGE];
	run->worker = next->pid;
	run->pidfd = next->pidfd;
	run->handshake = next->handshake;
	struct placement *library = &c->root->library;
	if (c->keep_library) {
		if (!library->mounted || strcmp(library->path, spec->library) != 0)
			launch_failed(run, "the launcher asked to keep a library this sandbox does not have");
	} else if ((library->mounted && rootfs_unplace(library, err, sizeof err) < 0) ||
		   rootfs_place(library, c->fds.library, spec->library, err, sizeof err) < 0) {
		launch_failed(run, err);
	}
	if ((c->fds.input >= 0 && rootfs_place(&c->root->input, c->fds.input, spec->input, err, sizeof err) < 0) ||
	    rootfs_finish(c->root, spec, err, sizeof err) < 0)
		launch_failed(run, err);
	if (c->fds.library >= 0)
		close(c->fds.library);
	if (c->fds.input >= 0)
		close(c->fds.input);

	run->learn = spec->head.flags & FNJ_EXEC_SECCOMP_LEARN;
	run->cpu_usage = c->fds.cpu_usage;
	run->cgroup_version = c->fds.cgroup_version;
	run->cpu_limit_us = spec->head.cpu_ms * 1000u;
	run->cpu_base_us = cgroup_read_cpu_us(c->fds.cpu_usage, c->fds.cgroup_version);
	/* Go: the spec as the launcher sent it, and the output file. */
	const size_t spec_offset = sizeof(struct fnj_sup_spec) - sizeof(struct fnj_worker_go);
	struct fnj_worker_go go = { .memory_by_cgroup = c->fds.memory_by_cgroup, .pids_by_cgroup = c->fds.pids_by_cgroup };
	memcpy(c->message + spec_offset, &go, sizeof go);
	run->started_us = monotonic_us();
	if (send_with_fds(run->handshake, c->message + spec_offset, c->message_len - spec_offset, &c->fds.output, 1) < 0) {
		format_error(err, sizeof err, "cannot hand the call to its worker: %s", strerror(errno));
		launch_failed(run, err);
	}
	supervise(run, spec->head.timeout_ms, sfd);
	kill_everything(run);
	fill_result(run, state, spec, c->fds.output);
	report(run);
}

/* Undoes the call. Returns -1 if the sandbox cannot be trusted to be clean. */
static int end_call(struct call *c)
{
	struct run *run = &c->run;
	int fds[] = { c->fds.output, c->fds.cpu_usage, run->listener, run->handshake, run->pidfd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Nothing may run on: every process of the call was reaped. */
	if (waitpid(-1, NULL, WNOHANG | __WALL) != -1 || errno != ECHILD) {
		log_msg("a process outlived its call; retiring this sandbox");
		return -1;
	}
	char err[FNJ_MAX_MESSAGE];
	if (rootfs_reset(c->root, err, sizeof err) < 0) {
		log_msg("%s; retiring this sandbox", err);
		return -1;
	}
	/* Only the bytes the call used: each page written here after the fork
	 * costs a page fault. The root's state (library, /tmp size) stays. */
	explicit_bzero(c->message, c->message_len);
	spec_clear(&c->spec);
	explicit_bzero(&c->run, sizeof c->run);
	explicit_bzero(&c->fds, sizeof c->fds);
	c->message_len = 0;
	c->keep_library = false;
	return 0;
}

/* Waits for the next spec. Returns false when the launcher is gone or retired
 * this supervisor. */
static bool receive_call(struct call *c)
{
	char err[FNJ_MAX_MESSAGE];
	int fds[FNJ_SPEC_MAX_FDS], nfds = 0;
	c->run = (struct run){ .handshake = -1, .listener = -1, .pidfd = -1, .cpu_usage = -1 };
	c->run.result.seccomp_nr = -1;
	ssize_t n = recv_with_fds(CTL_FD, c->message, sizeof c->message, fds, FNJ_SPEC_MAX_FDS, &nfds);
	if (n <= 0)
		return false;
	c->message_len = (size_t)n;
	struct fnj_sup_spec prefix;
	if ((size_t)n < sizeof prefix)
		launch_failed(&c->run, "truncated message from the launcher");
	memcpy(&prefix, c->message, sizeof prefix);
	if (prefix.type != FNJ_SUP_SPEC)
		launch_failed(&c->run, "unexpected message from the launcher");
	if (spec_parse(c->message + sizeof prefix, (size_t)n - sizeof prefix, &c->spec, err, sizeof err) < 0)
		launch_failed(&c->run, err);
	if (take_fds(&prefix, &c->spec, fds, nfds, &c->fds) < 0)
		launch_failed(&c->run, "the launcher sent a spec without its file descriptors");
	c->keep_library = prefix.keep_library;
	return true;
}

_Noreturn void supervisor_main(int ctl, const struct launcher_config *config)
{
	log_init("fnjail-supervisor");
	detach_from_launcher(ctl);

	static struct call call;
	char err[FNJ_MAX_MESSAGE];
	call.root = mmap(NULL, sizeof *call.root, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (call.root == MAP_FAILED || madvise(call.root, sizeof *call.root, MADV_WIPEONFORK) < 0)
		prep_failed("cannot map the sandbox's root state");
	if (rootfs_prepare(call.root, config->tmp_bytes, err, sizeof err) < 0)
		prep_failed(err);
	if (sethostname("fnjail", 6) < 0)
		prep_failed("cannot set the sandbox's hostname");
	/* First in line for the out-of-memory killer, and so are the workers,
	 * which inherit it (lowering it needs CAP_SYS_RESOURCE, which they lack). */
	if (set_oom_score_adj(1000) < 0)
		prep_failed("cannot set oom_score_adj");
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	state = mmap(NULL, sizeof *state, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sfd < 0 || state == MAP_FAILED)
		prep_failed("cannot set up the supervisor (signalfd, shared page)");

	for (uint32_t use = 0; use < config->reuse; use++) {
		struct next_worker next;
		if (fork_worker(&next) < 0) {
			log_msg("cannot fork a worker: %s", strerror(errno));
			break;
		}
		send_message(FNJ_SUP_READY, NULL, 0);
		if (!receive_call(&call))
			break; /* the worker waiting for a call dies with this namespace */
		run_call(&call, &next, sfd);
		if (end_call(&call) < 0)
			break;
	}
	_exit(0);
}
