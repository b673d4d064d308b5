/* supervisor.c - pid 1 of a sandbox: builds its root, then runs calls in it.
 *
 * Cloned by the launcher into fresh pid, mount, ipc and uts namespaces (and a
 * network namespace when asked). It stays root and never runs untrusted code:
 *   1. prepare: build the root filesystem (rootfs.c);
 *   2. fork the next call's worker (worker.c), which waits for it, unless
 *      the last call was a program's; READY;
 *   3. receive a spec with the output file and the mounts of what it runs
 *      (library and input, or program, bundle and work directories), and its
 *      standard input; place them, make the root read-only, hand the call to
 *      the worker (forked now if none waits), or clone a program's worker
 *      into this process's memory (program-worker.c);
 *   4. supervise: take the seccomp listener from the worker, answer or act on
 *      refused system calls, enforce the wall-clock, CPU and idle limits;
 *   5. when the worker is gone (or must go): kill everything else in the pid
 *      namespace, reap it, report;
 *   6. reset: remove the input (and the library of a call that had one), renew
 *      /tmp, rewind the pid counter, zero the call's memory; then back to 2 (up
 *      to --reuse calls; any doubt about the reset and it exits instead).
 * Creating and tearing down namespaces costs more than everything else a call
 * does; reusing them between calls, never at once, is what makes fnjail fast.
 * Nothing of a call survives into the next: SECURITY.md lists what is reset. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
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
#include <ucontext.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/seccomp.h>

#include "launcher.h"

#define CTL_FD 3
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
	int connection;      /* a per-connection program's connection (idle limit), or -1 */
	uint64_t idle_ms;
	uint64_t cpu_limit_us;
	uint64_t cpu_base_us;
	bool cpu_base_known;
	uint64_t started_us;
	uint64_t cpu_check_us; /* when the CPU time of all the sandbox's processes is checked next */
	uint64_t ended_us;
	uint64_t cpu_us;      /* of the processes reaped during this call */
	uint64_t maxrss_kb;
	struct fnj_result result;
	uint16_t learned[FNJ_MAX_LEARNED];
	char message[FNJ_MAX_MESSAGE];
};

static void send_message_on(int fd, uint32_t type, const void *body, size_t len)
{
	uint8_t buf[sizeof(uint32_t) + sizeof(struct fnj_result) + FNJ_MAX_RESULT_TAIL];
	if (len > sizeof buf - sizeof type)
		len = sizeof buf - sizeof type;
	memcpy(buf, &type, sizeof type);
	memcpy(buf + sizeof type, body, len);
	if (send_with_fds(fd, buf, sizeof type + len, NULL, 0) < 0)
		log_msg("cannot report to the launcher: %s", strerror(errno));
}

static void send_message(uint32_t type, const void *body, size_t len)
{
	send_message_on(CTL_FD, type, body, len);
}

/* Says why on the control socket (the launcher logs it and replaces this
 * sandbox), then exits. */
static _Noreturn void prep_failed_on(int ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void prep_failed_on(int ctl, const char *fmt, ...)
{
	char message[FNJ_MAX_MESSAGE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	log_msg("%s", message);
	send_message_on(ctl, FNJ_SUP_PREP_FAILED, message, strlen(message));
	_exit(1);
}
#define prep_failed(...) prep_failed_on(CTL_FD, __VA_ARGS__)

/* Inherited from the launcher: its descriptors (the server's pipes, other
 * sandboxes' sockets), its signal mask and the signals it ignores. Keep the
 * control socket as fd 3, stderr for diagnostics, nothing else. */
static void detach_from_launcher(int ctl)
{
	if (ctl != CTL_FD && dup2(ctl, CTL_FD) < 0)
		prep_failed_on(ctl, "cannot move the control socket to fd %d: %s", CTL_FD, strerror(errno));
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0)
		prep_failed("cannot point stdin and stdout at /dev/null: %s", strerror(errno));
	if (syscall(SYS_close_range, CTL_FD + 1, ~0U, 0) < 0)
		prep_failed("cannot close the launcher's descriptors: %s", strerror(errno));
	/* If the launcher dies, so does the sandbox, whole: pid 1 takes its
	 * namespace with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "fnjail-sup", 0, 0, 0);
	/* The launcher ignores SIGPIPE, SIGINT, SIGTERM, SIGHUP and SIGQUIT; a
	 * worker must not inherit that (this process's own sends use
	 * MSG_NOSIGNAL, and as pid 1 of its namespace it is immune to signals it
	 * does not handle, from the host too, but SIGKILL). */
	static const int inherited_ignored[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (size_t i = 0; i < sizeof inherited_ignored / sizeof inherited_ignored[0]; i++)
		signal(inherited_ignored[i], SIG_DFL);
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
	uint8_t body[sizeof *r + FNJ_MAX_RESULT_TAIL];
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

/* launch_failed with "cannot <what>: <errno's text>". */
static _Noreturn void launch_failed_errno(struct run *run, const char *what)
{
	char err[FNJ_MAX_MESSAGE];
	format_error(err, sizeof err, "cannot %s: %s", what, strerror(errno));
	launch_failed(run, err);
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
	/* The handshake has served: the worker reads the ack queued before this
	 * close, and its own close of the socket then wakes nobody. */
	close(run->handshake);
	run->handshake = -1;
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
		if (!seen && run->result.learned_len < FNJ_MAX_LEARNED)
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

/* The CPU time of all the sandbox's processes since the call began, from the
 * cgroup: 0, or -1 when it cannot be read (never a guess: a failed read taken
 * for 0 would wrap around below the baseline). */
static int cgroup_cpu_since_start(struct run *run, uint64_t *us)
{
	uint64_t now;
	if (run->cpu_usage < 0 || !run->cpu_base_known || cgroup_read_cpu_us(run->cpu_usage, run->cgroup_version, &now) < 0 ||
	    now < run->cpu_base_us)
		return -1;
	*us = now - run->cpu_base_us;
	return 0;
}

/* Whether the connection carried no data either way for the idle limit
 * (TCP's own counters: milliseconds since the last data received and sent). */
static bool connection_idle(struct run *run)
{
	if (run->connection < 0 || !run->idle_ms)
		return false;
	struct tcp_info info;
	socklen_t len = sizeof info;
	if (getsockopt(run->connection, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
		return false; /* checked to be TCP by the launcher: a closed connection ends the program anyway */
	uint64_t quiet = info.tcpi_last_data_recv < info.tcpi_last_data_sent ? info.tcpi_last_data_recv : info.tcpi_last_data_sent;
	return quiet >= run->idle_ms;
}

/* How often the idle limit is checked: a tenth of it, within 10 ms to 1 s. */
static uint64_t idle_check_us(uint64_t idle_ms)
{
	uint64_t us = idle_ms * 100u;
	return us < 10000u ? 10000u : us > 1000000u ? 1000000u : us;
}

/* 1 when all the sandbox's processes together used up their CPU time, 0 when
 * not, -1 when the usage cannot be read (the limit cannot be watched). */
static int cpu_exhausted(struct run *run)
{
	uint64_t used;
	if (run->cpu_usage < 0 || !run->cpu_limit_us)
		return 0;
	if (cgroup_cpu_since_start(run, &used) < 0)
		return -1;
	return used >= run->cpu_limit_us;
}

static void supervise(struct run *run, uint32_t timeout_ms, int sfd)
{
	uint64_t deadline = run->started_us + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		reap(run, WNOHANG | WUNTRACED);
		if (run->worker_done || run->result.outcome == FNJ_OUTCOME_STOPPED)
			return;
		uint64_t now = monotonic_us();
		/* Every CPU_CHECK_US, not at every wake-up (the worker's handshake,
		 * its listener, its children): a file read less on each. */
		bool cpu_watched = run->cpu_usage >= 0 && run->cpu_limit_us;
		if (cpu_watched && now >= run->cpu_check_us) {
			run->cpu_check_us = now + CPU_CHECK_US;
			int exhausted = cpu_exhausted(run);
			if (exhausted) {
				run->result.outcome = exhausted > 0 ? FNJ_OUTCOME_CPU_LIMIT : FNJ_OUTCOME_SUPERVISION_FAILED;
				if (exhausted < 0)
					format_error(run->message, sizeof run->message,
						     "the CPU time of the sandbox's cgroup could not be read: %s", strerror(errno));
				return;
			}
		}
		if (now >= deadline) {
			run->result.outcome = FNJ_OUTCOME_TIMED_OUT;
			return;
		}
		if (connection_idle(run)) {
			run->result.outcome = FNJ_OUTCOME_IDLE;
			return;
		}
		uint64_t wait_us = deadline - now;
		if (cpu_watched && wait_us > run->cpu_check_us - now)
			wait_us = run->cpu_check_us - now;
		if (run->connection >= 0 && run->idle_ms && wait_us > idle_check_us(run->idle_ms))
			wait_us = idle_check_us(run->idle_ms);
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

static int accounting = -1; /* the process accounting file (accounting.c), or < 0 */

/* The disk the output file holds, counted against the output limit whatever
 * made it hold it. Writes past the limit are stopped by RLIMIT_FSIZE, and the
 * calls that reserve space past a file's end (fallocate modes, the preallocation
 * ioctls) are refused by the launcher's own seccomp rules; whatever else may
 * reserve blocks past the end is released here, after the call, and named when
 * it held more than the limit (beyond what a file system preallocates on its
 * own for a growing file: its size again, at least 1 MiB). */
static void account_output_disk(struct fnj_result *r, int output_fd, uint64_t limit)
{
	struct stat st;
	if (fstat(output_fd, &st) < 0) {
		log_msg("cannot inspect the output file: %s", strerror(errno));
		return;
	}
	r->output_bytes = (uint64_t)st.st_size;
	r->output_disk_bytes = (uint64_t)st.st_blocks * 512u;
	if (limit && r->output_bytes >= limit)
		r->flags |= FNJ_RESULT_OUTPUT_LIMIT;
	uint64_t slack = r->output_bytes > (1u << 20) ? r->output_bytes : (1u << 20);
	if (limit && r->output_disk_bytes > limit + slack)
		r->flags |= FNJ_RESULT_OUTPUT_DISK;
	/* Truncating to its own size releases blocks reserved past the end; the
	 * rest of its last block is no reservation (a file system allocates whole
	 * blocks), so a file that holds just that is left alone: no truncate, no
	 * journal transaction, on nearly every call. */
	uint64_t block = st.st_blksize > 0 && st.st_blksize <= 65536 ? (uint64_t)st.st_blksize : 4096u;
	uint64_t whole_blocks = (r->output_bytes + block - 1) / block * block;
	if (r->output_disk_bytes > whole_blocks && ftruncate(output_fd, st.st_size) < 0)
		log_msg("cannot release the disk the output file reserved past its end: %s", strerror(errno));
}

/* The CPU limit is the call's, all processes together; each process also has
 * RLIMIT_CPU. Either reached, by whichever process, is named. */
static void account_cpu(struct run *run, const struct exec_spec *spec)
{
	struct fnj_result *r = &run->result;
	uint64_t total = run->cpu_us;
	if (run->cpu_usage >= 0 && cgroup_cpu_since_start(run, &total) < 0)
		total = run->cpu_us; /* the launcher logs an unreadable cgroup */
	if (run->cpu_limit_us && total >= run->cpu_limit_us)
		r->flags |= FNJ_RESULT_CPU_LIMIT;
	accounting_collect(accounting, spec->head.cpu_ms ? cpu_rlimit_seconds(spec->head.cpu_ms) : 0, r);
	r->cpu_us = run->cpu_us;
}

static void fill_result(struct run *run, const struct fnj_worker_state *state, const struct exec_spec *spec,
			int output_fd)
{
	struct fnj_result *r = &run->result;
	account_output_disk(r, output_fd, spec->head.output_bytes);
	account_cpu(run, spec);
	struct statvfs vfs;
	if (statvfs("/tmp", &vfs) == 0 && (vfs.f_bavail == 0 || vfs.f_favail == 0))
		r->flags |= FNJ_RESULT_TMP_FULL;
	if (spec->head.work_len && statvfs(spec->work, &vfs) == 0 && (vfs.f_bavail == 0 || vfs.f_favail == 0))
		r->flags |= FNJ_RESULT_WORK_FULL;
	if (state->stack_overflow)
		r->flags |= FNJ_RESULT_STACK_OVERFLOW;
	r->phase = state->phase <= FNJ_PHASE_EXEC_FAILED ? state->phase : FNJ_PHASE_SETUP;
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
	case FNJ_PHASE_EXEC_FAILED:
		if (r->outcome == FNJ_OUTCOME_COMPLETED)
			copy_message(run, state->message, sizeof state->message);
		break;
	default:
		break;
	}
	r->maxrss_kb = run->maxrss_kb;
	r->run_us = run->ended_us - run->started_us;
}

/* Sorts the descriptors that came with the spec (protocol.h, fnj_sup_spec). */
static int take_fds(const struct fnj_sup_spec *prefix, const struct exec_spec *spec, const int *fds, int nfds,
		    struct spec_fds *out)
{
	const struct fnj_exec *h = &spec->head;
	bool library = h->kind != FNJ_KIND_BUILD && !prefix->keep_library;
	bool input = h->kind == FNJ_KIND_LIBRARY && h->input_len;
	bool in = spec_has_stdin(spec);
	bool bundle = h->bundle_len && !prefix->keep_library;
	int expected = 1 + library + input + in + bundle + (h->work_len > 0) + prefix->cpu_usage;
	if (nfds != expected)
		return -1;
	int i = 0;
	out->output = fds[i++];
	out->library = library ? fds[i++] : -1;
	out->input = input ? fds[i++] : -1;
	out->stdin_fd = in ? fds[i++] : -1;
	out->bundle = bundle ? fds[i++] : -1;
	out->work = h->work_len ? fds[i++] : -1;
	out->cpu_usage = prefix->cpu_usage ? fds[i++] : -1;
	out->cgroup_version = prefix->cgroup_version;
	out->memory_by_cgroup = prefix->memory_by_cgroup;
	out->pids_by_cgroup = prefix->pids_by_cgroup;
	return 0;
}

/* One call's state, in one place, in memory the workers do not inherit
 * (MADV_WIPEONFORK, call_stack_init): a worker gets its spec through the
 * handshake. Zeroed after each call all the same. */
struct call {
	uint8_t message[sizeof(struct fnj_sup_spec) + FNJ_MAX_FRAME];
	size_t message_len;
	bool keep_library;
	struct exec_spec spec;
	struct spec_fds fds;
	struct run run;
	/* What a program's worker reads, in its supervisor's memory, until its exec. */
	struct program_worker program_worker;
	/* What is mounted in the root, paths included: kept between calls, so
	 * it lives in memory the workers do not inherit (MADV_WIPEONFORK). */
	struct rootfs_call *root;
};

/* The worker of the next call, forked while this sandbox waits for it (pid 0
 * when none is). */
struct next_worker {
	pid_t pid;
	int pidfd;
	int handshake;
};
#define NO_WORKER ((struct next_worker){ .pid = 0, .pidfd = -1, .handshake = -1 })

static int pid_counter = -1; /* the namespace's ns_last_pid */

/* Every call's processes get the pids of a fresh namespace (pid 2 for the
 * function, then 3, 4, ...): how many processes earlier calls made is not
 * for the next one to count. */
static int rewind_pids(void)
{
	return pwrite(pid_counter, "1", 1, 0) == 1 ? 0 : -1;
}

static struct fnj_worker_state *state; /* shared with the workers, one page */

static int fork_worker(struct next_worker *next)
{
	int pair[2];
	explicit_bzero((void *)state, sizeof *state);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	/* No stack scrub here: calls are handled on the call stack, which the
	 * worker does not inherit (see call_stack below). */
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

static int fork_worker_from_main_stack(void);

/* A program's worker is cloned when its call comes (program-worker.c): a
 * worker forked ahead for a library call gives its place, and its pid, back. */
static void retire_waiting_worker(struct run *run, struct next_worker *next)
{
	if (next->pid <= 0)
		return;
	kill(next->pid, SIGKILL);
	waitpid(next->pid, NULL, __WALL);
	close(next->handshake);
	close(next->pidfd);
	*next = NO_WORKER;
	if (rewind_pids() < 0)
		launch_failed_errno(run, "rewind the sandbox's pid counter");
}

/* The worker of a call: a program's is cloned at the end of run_call; a
 * library's or build's was forked ahead, or is forked now. */
static void take_worker(struct run *run, const struct exec_spec *spec, struct next_worker *next)
{
	if (spec->head.kind == FNJ_KIND_PROGRAM) {
		retire_waiting_worker(run, next);
		return;
	}
	if (next->pid <= 0 && fork_worker_from_main_stack() < 0)
		launch_failed_errno(run, "fork a worker");
	run->worker = next->pid;
	run->pidfd = next->pidfd;
	run->handshake = next->handshake;
	*next = NO_WORKER; /* the run's now: end_call closes them */
}

/* Clones a program's worker, which takes its descriptors from the
 * supervisor's table as it is now. */
static void start_program_worker(struct call *c, int program)
{
	struct run *run = &c->run;
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		launch_failed_errno(run, "make the worker's handshake");
	explicit_bzero((void *)state, sizeof *state);
	c->program_worker = (struct program_worker){
		.spec = &c->spec, .fds = c->fds, .program = program, .handshake = pair[1], .state = state
	};
	int pidfd = -1;
	pid_t pid = program_worker_start(&c->program_worker, &pidfd);
	int saved = errno;
	close(pair[1]);
	run->handshake = pair[0];
	if (pid < 0) {
		errno = saved;
		launch_failed_errno(run, "start the program's worker");
	}
	run->worker = pid;
	run->pidfd = pidfd;
}

static void run_call(struct call *c, struct next_worker *next, int sfd)
{
	struct run *run = &c->run;
	const struct exec_spec *spec = &c->spec;
	char err[FNJ_MAX_MESSAGE];
	take_worker(run, spec, next);
	struct rootfs_call *root = c->root;
	struct placement *library = &root->library;
	/* A mounted library (or program) and its bundle go unless kept: before
	 * anything else is placed, which may lie beside them. */
	if (c->keep_library) {
		bool bundle_is = spec->head.bundle_len ? root->bundle.mounted && strcmp(root->bundle.path, spec->bundle) == 0
						       : !root->bundle.mounted;
		if (!library->mounted || !library->has_tree || strcmp(library->path, spec->library) != 0 || !bundle_is)
			launch_failed(run, "the launcher asked to keep a library this sandbox does not have");
	} else if (rootfs_unplace_entry(root, err, sizeof err) < 0) {
		launch_failed(run, err);
	}
	/* The bundle first: the program (and the work directory) may lie inside
	 * it. Each placement holds its descriptor from now on. */
	int *placing[] = { &c->fds.bundle, &c->fds.work, &c->fds.library, &c->fds.input };
	struct placement *places[] = { &root->bundle, &root->work, library, &root->input };
	const char *paths[] = { spec->bundle, spec->work, spec->library, spec->input };
	for (size_t i = 0; i < sizeof placing / sizeof placing[0]; i++) {
		int fd = *placing[i];
		*placing[i] = -1;
		if (fd >= 0 && rootfs_place(root, places[i], fd, paths[i], i < 2, err, sizeof err) < 0)
			launch_failed(run, err);
	}
	if (rootfs_finish(root, spec, err, sizeof err) < 0)
		launch_failed(run, err);
	run->connection = spec->head.flags & FNJ_EXEC_STDIN_SOCKET ? c->fds.stdin_fd : -1;
	run->idle_ms = spec->head.idle_ms;

	run->learn = spec->head.flags & FNJ_EXEC_SECCOMP_LEARN;
	run->cpu_usage = c->fds.cpu_usage;
	run->cgroup_version = c->fds.cgroup_version;
	run->cpu_limit_us = spec->head.cpu_ms * 1000u;
	if (run->cpu_usage >= 0) {
		if (cgroup_read_cpu_us(run->cpu_usage, run->cgroup_version, &run->cpu_base_us) < 0)
			launch_failed_errno(run, "read the CPU time of the sandbox's cgroup");
		run->cpu_base_known = true;
	}
	run->started_us = monotonic_us();
	run->cpu_check_us = run->started_us + CPU_CHECK_US; /* the base was just read */
	if (spec->head.kind == FNJ_KIND_PROGRAM) {
		start_program_worker(c, library->tree); /* placed now, or kept from an earlier call */
	} else {
		/* Go: the spec as the launcher sent it, the output file, and
		 * standard input when the call has it. */
		const size_t spec_offset = sizeof(struct fnj_sup_spec) - sizeof(struct fnj_worker_go);
		struct fnj_worker_go go = { .memory_by_cgroup = c->fds.memory_by_cgroup,
					    .pids_by_cgroup = c->fds.pids_by_cgroup };
		memcpy(c->message + spec_offset, &go, sizeof go);
		int to_worker[2], n = 0;
		to_worker[n++] = c->fds.output;
		if (c->fds.stdin_fd >= 0)
			to_worker[n++] = c->fds.stdin_fd;
		if (send_with_fds(run->handshake, c->message + spec_offset, c->message_len - spec_offset, to_worker, n) < 0)
			launch_failed_errno(run, "hand the call to its worker");
	}
	/* Only a connection is kept, to watch it for idleness. */
	if (c->fds.stdin_fd >= 0 && c->fds.stdin_fd != run->connection) {
		close(c->fds.stdin_fd);
		c->fds.stdin_fd = -1;
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
	int fds[] = { c->fds.output, c->fds.cpu_usage, c->fds.stdin_fd, run->listener, run->handshake, run->pidfd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Nothing may run on: every process of the call was reaped. */
	if (waitpid(-1, NULL, WNOHANG | __WALL) != -1 || errno != ECHILD) {
		log_msg("a process outlived its call; retiring this sandbox");
		return -1;
	}
	char err[FNJ_MAX_MESSAGE];
	int reset = rootfs_reset(c->root, spec_entry_may_stay(&c->spec), err, sizeof err);
	if (reset < 0) {
		log_msg("%s; retiring this sandbox", err);
		return -1;
	}
	if (reset > 0)
		return -1; /* the root changed: a new sandbox for the next call */
	if (accounting_clear(accounting) < 0) {
		log_msg("cannot empty the process accounting file: %s; retiring this sandbox", strerror(errno));
		return -1;
	}
	/* Only the bytes the call used. The root's state (library, /tmp size) stays. */
	explicit_bzero(c->message, c->message_len);
	spec_clear(&c->spec);
	explicit_bzero(&c->run, sizeof c->run);
	explicit_bzero(&c->fds, sizeof c->fds);
	explicit_bzero(&c->program_worker, sizeof c->program_worker);
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
	c->run = (struct run){ .handshake = -1, .listener = -1, .pidfd = -1, .cpu_usage = -1, .connection = -1 };
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

/* The stack calls are handled on, in memory the workers do not inherit.
 *
 * A worker starts as a copy of its supervisor, stack included, and the deep
 * call chains that receive, place and undo a call (a bundle copied through a
 * 16 KiB buffer next to two PATH_MAX paths, glibc's own frames) leave its data
 * far below the frame that forks. Zeroing 256 KiB of stack before each fork
 * hid it, at a page fault per page on every call (about 1.5 ms of CPU per
 * call on this VM). Instead, receive_call, run_call and end_call run on a
 * stack of their own, mapped MADV_WIPEONFORK: a worker finds that range empty
 * (zero pages), the supervisor keeps its pages between calls without copying
 * them at each fork, and the main stack, from which workers are forked, never
 * holds a call's data. */
#define CALL_STACK_BYTES (1024u * 1024u)
#define GUARD_BYTES 4096u

struct call_stack {
	ucontext_t loop;   /* supervisor_main, while a call is handled */
	ucontext_t call;
	bool served;       /* the call was handled and the sandbox is clean for the next one */
	bool fork_wanted;  /* the call is back on the main stack for a worker to be forked there */
	int fork_errno;    /* why that fork failed, or 0 */
	uint8_t *base;     /* the stack, above its guard page */
};

/* Wiped on fork too: forked workers get their spec from the handshake (a
 * program's worker, which is no copy, reads it here). */
static struct call *call;
static struct call_stack *call_stack;
static int signal_fd = -1;
static struct next_worker next_worker;
/* Whether the next call's worker is forked before it comes: not after a
 * program's call (its worker is cloned), for the next is most likely one too. */
static bool fork_ahead = true;

static void call_stack_init(void)
{
	call_stack = mmap(NULL, sizeof *call_stack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call = mmap(NULL, sizeof *call, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *region = mmap(NULL, GUARD_BYTES + CALL_STACK_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (call_stack == MAP_FAILED || call == MAP_FAILED || region == MAP_FAILED ||
	    madvise(call_stack, sizeof *call_stack, MADV_WIPEONFORK) < 0 ||
	    madvise(call, sizeof *call, MADV_WIPEONFORK) < 0 ||
	    madvise(region, GUARD_BYTES + CALL_STACK_BYTES, MADV_WIPEONFORK) < 0 ||
	    mprotect(region, GUARD_BYTES, PROT_NONE) < 0)
		prep_failed("cannot map the supervisor's call stack: %s", strerror(errno));
	call_stack->base = region + GUARD_BYTES;
}

/* Runs on the call stack; returning goes back to supervisor_main (uc_link). */
static void handle_call(void)
{
	call_stack->served = false;
	if (!receive_call(call))
		return; /* the worker waiting for a call dies with this namespace */
	fork_ahead = call->spec.head.kind != FNJ_KIND_PROGRAM;
	run_call(call, &next_worker, signal_fd);
	call_stack->served = end_call(call) == 0;
}

/* Handles one call on the call stack. Returns whether the sandbox may serve another. */
static bool serve_on_call_stack(void)
{
	struct call_stack *cs = call_stack;
	if (getcontext(&cs->call) < 0)
		return false;
	cs->call.uc_stack.ss_sp = cs->base;
	cs->call.uc_stack.ss_size = CALL_STACK_BYTES;
	cs->call.uc_link = &cs->loop;
	makecontext(&cs->call, handle_call, 0);
	cs->fork_wanted = false;
	if (swapcontext(&cs->loop, &cs->call) < 0) {
		log_msg("cannot switch to the call stack: %s; retiring this sandbox", strerror(errno));
		return false;
	}
	/* The call came back for a worker (fork_worker_from_main_stack). */
	if (cs->fork_wanted) {
		cs->fork_wanted = false;
		cs->fork_errno = fork_worker(&next_worker) < 0 ? errno : 0;
		if (swapcontext(&cs->loop, &cs->call) < 0) {
			log_msg("cannot switch to the call stack: %s; retiring this sandbox", strerror(errno));
			return false;
		}
	}
	return cs->served;
}

/* From the call stack, for a library call that came when no worker was
 * forked ahead: the fork happens on the main stack, which holds no call's data
 * (a worker forked on the call stack would find it wiped). */
static int fork_worker_from_main_stack(void)
{
	struct call_stack *cs = call_stack;
	cs->fork_wanted = true;
	if (swapcontext(&cs->call, &cs->loop) < 0)
		return -1;
	errno = cs->fork_errno;
	return cs->fork_errno ? -1 : 0;
}

_Noreturn void supervisor_main(int ctl, const struct launcher_config *config)
{
	log_init("fnjail-supervisor");
	detach_from_launcher(ctl);

	char err[FNJ_MAX_MESSAGE];
	call_stack_init();
	call->root = mmap(NULL, sizeof *call->root, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (call->root == MAP_FAILED || madvise(call->root, sizeof *call->root, MADV_WIPEONFORK) < 0)
		prep_failed("cannot map the sandbox's root state: %s", strerror(errno));
	if (rootfs_prepare(call->root, config->tmp_bytes, &accounting, err, sizeof err) < 0)
		prep_failed("%s", err);
	pid_counter = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (pid_counter < 0)
		prep_failed("cannot open the sandbox's ns_last_pid: %s", strerror(errno));
	if (sethostname(config->hostname, strlen(config->hostname)) < 0)
		prep_failed("cannot set the sandbox's hostname: %s", strerror(errno));
	/* First in line for the out-of-memory killer, and so are the workers,
	 * which inherit it (lowering it needs CAP_SYS_RESOURCE, which they lack). */
	if (set_oom_score_adj(1000) < 0)
		prep_failed("cannot set oom_score_adj: %s", strerror(errno));
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	state = mmap(NULL, sizeof *state, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (signal_fd < 0 || state == MAP_FAILED)
		prep_failed("cannot set up the supervisor (signalfd, shared page): %s", strerror(errno));
	/* Once: what preparing the root left on the main stack (no call's data,
	 * but nothing for a worker either); from now on only the loop below and
	 * fork_worker run on it. */
	scrub_stack();

	for (uint32_t use = 0; use < config->reuse; use++) {
		if (rewind_pids() < 0) {
			if (use == 0)
				prep_failed("cannot rewind the sandbox's pid counter: %s", strerror(errno));
			log_msg("cannot rewind the sandbox's pid counter: %s; retiring this sandbox", strerror(errno));
			break;
		}
		if (fork_ahead && fork_worker(&next_worker) < 0) {
			if (use == 0)
				prep_failed("cannot fork a worker: %s", strerror(errno));
			log_msg("cannot fork a worker: %s; retiring this sandbox", strerror(errno));
			break;
		}
		send_message(FNJ_SUP_READY, NULL, 0);
		if (!serve_on_call_stack())
			break;
	}
	_exit(0);
}
