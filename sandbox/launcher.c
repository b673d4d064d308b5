/* launcher.c - fnjail-launcher: the fork server that runs each call in a sandbox.
 *
 * Started (and restarted) by the fnjail server, as root. It reads execution
 * specs from stdin and writes results to stdout (protocol.h), and keeps a pool
 * of prepared sandbox supervisors (supervisor.c) so that a request pays only for
 * what is specific to it. It holds no policy: the server decides what may run;
 * the launcher only checks that a spec is well formed.
 *
 * At start, the launcher checks the kernel features it needs (kernel-probe.c),
 * enters its own mount namespace (so that nothing a sandbox does to mounts
 * reaches the host; it opens the paths of a call in the host's, where the
 * server checked them: checked-open.c) and an empty network namespace that
 * sandboxes share unless a spec asks for a fresh one.
 *
 * A call runs a library's function, a program, or a build command (protocol.h,
 * enum fnj_kind); a per-connection program's connection arrives from the
 * server on the handoff socket (handoff.c).
 *
 * It lives in a session of its own and ignores SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT: Ctrl-C at the server's terminal, `timeout`, or a service manager
 * signalling every process of the server must not end the calls running now;
 * the server lets them finish, then closes the launcher's stdin, and the
 * launcher kills what is left and exits. If the server dies, the launcher
 * follows (PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

#include "launcher.h"

/* A supervisor that has not reported this long after its timeout is killed. */
#define BACKSTOP_GRACE_US ((uint64_t)FNJ_BACKSTOP_GRACE_MS * 1000u)
/* A request that found no prepared sandbox this long is failed. */
#define QUEUE_DEADLINE_US ((uint64_t)FNJ_QUEUE_DEADLINE_MS * 1000u)
/* Supervisors being prepared at once; more would only compete for the CPU. */
#define MAX_PREPARING 4

/* PREPARING -> READY -> RUNNING -> CLEANING -> READY -> ... until the
 * supervisor retires (after --reuse calls) or dies; then FREE. */
enum sandbox_state { SB_FREE, SB_PREPARING, SB_READY, SB_RUNNING, SB_CLEANING };

struct sandbox {
	enum sandbox_state state;
	pid_t pid;
	int ctl;
	uint32_t id;          /* execution id while running */
	uint32_t uid;         /* sandbox uid while running */
	uint64_t received_us; /* when the server's request arrived */
	uint64_t backstop_us;
	bool cancelled;
	bool backstopped;
	bool prep_reported; /* it said why its preparation failed */
};

/* A request waiting for a prepared supervisor. */
struct pending {
	uint8_t *data; /* a slot of the request arena */
	uint32_t len;
	uint32_t id;
	uint64_t received_us;
	int connection; /* handed over for it (FNJ_EXEC_STDIN_SOCKET), else -1 */
};

static struct launcher_config config = {
	.uid_first = 1000000,
	.uid_count = 65536,
	.max_sandboxes = 128,
	.prepared = 2,
	.tmp_bytes = 16u << 20,
	.fresh_netns = false,
	.reuse = 64,
	.hostname = "fnjail",
	.handoff = -1,
};

static struct sandbox *sandboxes;
static uint32_t sandbox_slots;
static struct cgroups cgroups;
static struct slot_cgroup *slot_cgroups; /* one per sandbox slot, kept across reuse */
static int epfd;
static int sigfd;
static uint8_t *uid_in_use;
static uint32_t uid_cursor;
static bool pool_broken; /* preparation failed while idle: wait for demand */
/* Why the last preparation failed, for the requests it leaves waiting. */
static char last_prep_error[FNJ_MAX_MESSAGE];

/* Request data of every tenant passes through the launcher's memory, and each
 * supervisor starts as a copy of that memory. These buffers are marked
 * MADV_WIPEONFORK so that no sandbox ever holds another call's request. */
static uint8_t *arena;
static uint8_t *inbuf;
static size_t inlen;
static uint8_t *outbuf;
static size_t outlen;
static bool out_watched;
/* What each sandbox has mounted for the calls it runs: a library or program,
 * and its bundle directory (a function called by name), kept for the next call
 * only when it comes from the same tenant for the very same files (path,
 * device, inode and ctime of each: a redeployed function is another version
 * directory, a file renamed over another is another inode, a directory removed
 * and made again has a new ctime) and may keep them
 * (spec_entry_may_stay). The paths are a tenant's request data: they live in
 * the wiped arena too. */
struct file_identity {
	dev_t dev;
	ino_t ino;
	struct timespec ctime; /* a file removed and made anew may get the same inode number, never the same ctime */
};
struct mounted_library {
	char path[FNJ_MAX_PATH + 1];
	struct file_identity id;
	char bundle[FNJ_MAX_PATH + 1]; /* empty: none */
	struct file_identity bundle_id;
	uint32_t tenant_uid;
};
static struct mounted_library *mounted_libraries; /* one per sandbox slot */

/* Scratch space for whatever holds request data outside the buffers above. */
static struct {
	struct exec_spec spec;
	uint8_t message[sizeof(struct fnj_sup_spec) + FNJ_MAX_FRAME];
	uint8_t report[sizeof(uint32_t) + sizeof(struct fnj_result) + FNJ_MAX_RESULT_TAIL + 1]; /* + a terminator */
	char error[FNJ_MAX_MESSAGE];
} *scratch;
#define INBUF_SIZE (2 * (FNJ_MAX_FRAME + sizeof(struct fnj_header)))
#define OUTBUF_SIZE (1u << 20)
static struct pending *queue;
static uint32_t queue_head, queue_len, queue_cap;
static uint8_t **free_slots;
static uint32_t free_slot_count;

enum { TAG_SERVER_IN = 0, TAG_SERVER_OUT = 1, TAG_SIGNAL = 2, TAG_HANDOFF = 3, TAG_SANDBOX = 16 };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fnjail-launcher [options]\n"
		"Runs functions from shared libraries, and programs, in sandboxes, for the fnjail server.\n"
		"Reads execution specs on stdin, writes results on stdout (binary; see protocol.h).\n\n"
		"  --uid-range FIRST-LAST   uids (and gids) given to sandboxes (default 1000000-1065535)\n"
		"  --max-sandboxes N        sandboxes running at once (default 128)\n"
		"  --prepared N             sandboxes kept prepared when idle (default 2)\n"
		"  --tmp-size BYTES         default size of each sandbox's /tmp (default 16 MiB)\n"
		"  --fresh-netns            a new network namespace per sandbox (slower) instead of\n"
		"                           one empty namespace shared by all\n"
		"  --reuse N                calls a sandbox serves, one after the other and reset in\n"
		"                           between, before it is replaced (default 64; 1: new\n"
		"                           namespaces for every call)\n"
		"  --hostname NAME          the sandboxes' host name (default fnjail)\n"
		"  --handoff-socket FD      a SOCK_SEQPACKET socket on which the server hands over\n"
		"                           the connections of per-connection programs\n"
		"  --help                   this text\n");
}

static uint64_t parse_number(const char *text, const char *option)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end)
		die("%s: '%s' is not a number", option, text);
	return v;
}

static bool hostname_is_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > FNJ_MAX_HOSTNAME || name[0] == '-' || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == len;
}

static void parse_args(int argc, char **argv)
{
	static const struct option options[] = {
		{ "uid-range", required_argument, NULL, 'u' },
		{ "max-sandboxes", required_argument, NULL, 'm' },
		{ "prepared", required_argument, NULL, 'p' },
		{ "tmp-size", required_argument, NULL, 't' },
		{ "fresh-netns", no_argument, NULL, 'n' },
		{ "reuse", required_argument, NULL, 'r' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "handoff-socket", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'u': {
			char *dash = strchr(optarg, '-');
			if (!dash)
				die("--uid-range: expected FIRST-LAST, got '%s'", optarg);
			*dash = '\0';
			uint64_t first = parse_number(optarg, "--uid-range");
			uint64_t last = parse_number(dash + 1, "--uid-range");
			if (first == 0 || last < first || last >= 0xffffffffu)
				die("--uid-range: %llu-%llu is not a range of non-root uids",
				    (unsigned long long)first, (unsigned long long)last);
			config.uid_first = (uint32_t)first;
			config.uid_count = (uint32_t)(last - first + 1);
			break;
		}
		case 'm':
			config.max_sandboxes = (uint32_t)parse_number(optarg, "--max-sandboxes");
			if (config.max_sandboxes == 0 || config.max_sandboxes > 65536)
				die("--max-sandboxes must be between 1 and 65536");
			break;
		case 'p':
			config.prepared = (uint32_t)parse_number(optarg, "--prepared");
			break;
		case 't':
			config.tmp_bytes = parse_number(optarg, "--tmp-size");
			break;
		case 'n':
			config.fresh_netns = true;
			break;
		case 'r':
			config.reuse = (uint32_t)parse_number(optarg, "--reuse");
			if (config.reuse == 0)
				die("--reuse must be at least 1");
			break;
		case 'H':
			if (!hostname_is_valid(optarg))
				die("--hostname: '%s' is not a host name (1 to %d letters, digits, '-' and '.')", optarg,
				    FNJ_MAX_HOSTNAME);
			snprintf(config.hostname, sizeof config.hostname, "%s", optarg);
			break;
		case 'f':
			config.handoff = (int)parse_number(optarg, "--handoff-socket");
			if (config.handoff < 3)
				die("--handoff-socket must be a descriptor above 2");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (config.max_sandboxes > config.uid_count)
		die("--max-sandboxes %u is more than the %u uids of --uid-range: each running sandbox needs its own uid",
		    config.max_sandboxes, config.uid_count);
}

static void *map_memory(size_t size, bool wipe_on_fork)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("cannot allocate %zu bytes: %s", size, strerror(errno));
	if (wipe_on_fork && madvise(p, size, MADV_WIPEONFORK) < 0)
		die("madvise(MADV_WIPEONFORK): %s (Linux 4.14 or later is needed)", strerror(errno));
	return p;
}

static void setup_memory(void)
{
	queue_cap = config.max_sandboxes + config.prepared + 64;
	sandbox_slots = config.max_sandboxes + MAX_PREPARING + config.prepared;
	size_t scratch_size = (sizeof *scratch + 4095) & ~(size_t)4095;
	size_t libraries_size = (sizeof *mounted_libraries * sandbox_slots + 4095) & ~(size_t)4095;
	size_t arena_size = INBUF_SIZE + OUTBUF_SIZE + scratch_size + libraries_size + (size_t)queue_cap * FNJ_MAX_FRAME;
	arena = map_memory(arena_size, true);
	inbuf = arena;
	outbuf = arena + INBUF_SIZE;
	scratch = (void *)(arena + INBUF_SIZE + OUTBUF_SIZE);
	mounted_libraries = (void *)(arena + INBUF_SIZE + OUTBUF_SIZE + scratch_size);
	uint8_t *slots = arena + INBUF_SIZE + OUTBUF_SIZE + scratch_size + libraries_size;
	queue = map_memory(sizeof *queue * queue_cap, true);
	free_slots = calloc(queue_cap, sizeof *free_slots);
	for (uint32_t i = 0; i < queue_cap; i++)
		free_slots[free_slot_count++] = slots + (size_t)i * FNJ_MAX_FRAME;
	sandboxes = calloc(sandbox_slots, sizeof *sandboxes);
	slot_cgroups = calloc(sandbox_slots, sizeof *slot_cgroups);
	uid_in_use = calloc(config.uid_count, 1);
	if (!free_slots || !sandboxes || !slot_cgroups || !uid_in_use)
		die("out of memory");
}

static void enter_private_namespaces(void)
{
	if (geteuid() != 0)
		die("must run as root: it creates namespaces, mounts and switches uids "
		    "(start the fnjail server as root)");
	if (unshare(CLONE_NEWNS) < 0)
		die("unshare(CLONE_NEWNS): %s (are namespaces disabled, or is this a container "
		    "without CAP_SYS_ADMIN?)", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("cannot make the launcher's mounts private: %s", strerror(errno));
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET): %s", strerror(errno));
}

/* Output to the server: buffered, written when the pipe accepts it. */
static void flush_output(void)
{
	while (outlen > 0) {
		ssize_t n = write(STDOUT_FILENO, outbuf, outlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			die("cannot write to the server: %s", strerror(errno));
		}
		memmove(outbuf, outbuf + n, outlen - (size_t)n);
		outlen -= (size_t)n;
	}
	if (out_watched != (outlen > 0)) {
		out_watched = outlen > 0;
		struct epoll_event ev = { .events = out_watched ? EPOLLOUT : 0, .data.u64 = TAG_SERVER_OUT };
		epoll_ctl(epfd, EPOLL_CTL_MOD, STDOUT_FILENO, &ev);
	}
}

static void emit(uint16_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct fnj_header h = { .length = (uint32_t)(alen + blen), .type = type };
	size_t total = sizeof h + alen + blen;
	if (outlen + total > OUTBUF_SIZE) {
		/* The server stopped reading; wait for it rather than drop a result. */
		int flags = fcntl(STDOUT_FILENO, F_GETFL);
		fcntl(STDOUT_FILENO, F_SETFL, flags & ~O_NONBLOCK);
		flush_output();
		fcntl(STDOUT_FILENO, F_SETFL, flags);
	}
	memcpy(outbuf + outlen, &h, sizeof h);
	memcpy(outbuf + outlen + sizeof h, a, alen);
	if (blen)
		memcpy(outbuf + outlen + sizeof h + alen, b, blen);
	outlen += total;
	flush_output();
}

static void emit_result(struct fnj_result *r, const char *message, const uint16_t *learned)
{
	size_t msglen = message ? strlen(message) : 0;
	if (msglen >= FNJ_MAX_MESSAGE)
		msglen = FNJ_MAX_MESSAGE - 1;
	r->message_len = (uint16_t)msglen;
	uint8_t tail[FNJ_MAX_RESULT_TAIL];
	if (r->learned_len > FNJ_MAX_LEARNED)
		r->learned_len = FNJ_MAX_LEARNED;
	size_t learned_bytes = (size_t)r->learned_len * sizeof(uint16_t);
	if (msglen)
		memcpy(tail, message, msglen);
	if (learned_bytes)
		memcpy(tail + msglen, learned, learned_bytes);
	emit(FNJ_FRAME_RESULT, r, sizeof *r, tail, msglen + learned_bytes);
}

static void emit_failure(uint32_t id, uint32_t outcome, uint64_t received_us, const char *message)
{
	struct fnj_result r = { .id = id, .outcome = outcome, .exit_code = -1, .seccomp_nr = -1 };
	r.total_us = monotonic_us() - received_us;
	emit_result(&r, message, NULL);
}

/* Sandbox uids rotate through the range, so a uid is reused as late as
 * possible; it is only reused once its previous sandbox is reaped entirely. */
static int allocate_uid(uint32_t *uid)
{
	for (uint32_t i = 0; i < config.uid_count; i++) {
		uint32_t k = (uid_cursor + i) % config.uid_count;
		if (!uid_in_use[k]) {
			uid_in_use[k] = 1;
			uid_cursor = k + 1;
			*uid = config.uid_first + k;
			return 0;
		}
	}
	return -1;
}

static void release_uid(uint32_t uid)
{
	if (uid >= config.uid_first && uid - config.uid_first < config.uid_count)
		uid_in_use[uid - config.uid_first] = 0;
}

static uint32_t count_state(enum sandbox_state state)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < sandbox_slots; i++)
		n += sandboxes[i].state == state;
	return n;
}

static void start_supervisor(void)
{
	struct sandbox *sb = NULL;
	for (uint32_t i = 0; i < sandbox_slots && !sb; i++)
		if (sandboxes[i].state == SB_FREE)
			sb = &sandboxes[i];
	if (!sb)
		return;
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
		log_msg("socketpair: %s", strerror(errno));
		return;
	}
	unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
	if (config.fresh_netns)
		flags |= CLONE_NEWNET;
	/* A raw clone behaves like fork() with namespaces. The supervisor uses no
	 * glibc state that a raw clone leaves stale (thread id); the worker it
	 * forks goes through glibc's fork() and gets it right. */
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (pid < 0) {
		log_msg("clone: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return;
	}
	if (pid == 0) {
		close(pair[0]);
		int blocking = fcntl(pair[1], F_GETFL) & ~O_NONBLOCK;
		fcntl(pair[1], F_SETFL, blocking);
		supervisor_main(pair[1], &config);
	}
	close(pair[1]);
	*sb = (struct sandbox){ .state = SB_PREPARING, .pid = pid, .ctl = pair[0] };
	unsigned index = (unsigned)(sb - sandboxes);
	explicit_bzero(&mounted_libraries[index], sizeof mounted_libraries[index]);
	char err[FNJ_MAX_MESSAGE];
	if (cgroup_slot_join(&cgroups, index, &slot_cgroups[index], pid, err, sizeof err) < 0) {
		/* Its calls then run under the rlimits alone; say so once per slot. */
		log_msg("%s", err);
		slot_cgroups[index].opened = false;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SANDBOX + (uint64_t)(sb - sandboxes) };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sb->ctl, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Keep `prepared` supervisors ready when idle, and as many as there are
 * waiting requests under load, within the sandbox and preparation limits.
 * Inlined into main, whose frame never holds request data: the scrub before
 * the first clone then also covers start_supervisor's own frame (its
 * uninitialized buffers and padding lie where dispatch's frames held paths a
 * moment before), not only what lies below it. */
static inline __attribute__((always_inline)) void fill_pool(void)
{
	/* A supervisor cleaning up after a call is ready again in a moment. */
	uint32_t ready = count_state(SB_READY) + count_state(SB_CLEANING), preparing = count_state(SB_PREPARING);
	uint32_t running = count_state(SB_RUNNING);
	uint32_t want = queue_len + (pool_broken ? 0 : config.prepared);
	while (ready + preparing < want && preparing < MAX_PREPARING &&
	       running + ready + preparing < config.max_sandboxes + config.prepared) {
		uint32_t before = count_state(SB_PREPARING);
		scrub_stack();
		start_supervisor();
		if (count_state(SB_PREPARING) == before)
			break;
		preparing++;
	}
}

static int open_output(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		format_error(err, errlen, "cannot open output file %s: %s", path,
			     fd < 0 ? strerror(errno) : "not a regular file with a single link");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The library or program, opened once without following symbolic links; its
 * identity (device, inode) in *st. Returns the detached mount to send, or -1. */
static int open_entry(const struct exec_spec *spec, struct stat *st, char *err, size_t errlen)
{
	const char *what = spec->head.kind == FNJ_KIND_PROGRAM ? "program" : "library";
	int fd = open_checked_path(spec->library, what, err, errlen);
	if (fd < 0)
		return -1;
	int tree = -1;
	if (regular_file_or_error(fd, what, spec->library, st, err, errlen) == 0)
		tree = detached_mount_of(fd, MOUNT_EXECUTABLE, what, spec->library, err, errlen);
	close(fd);
	return tree;
}

/* A bundle's directory, read-only (its programs may be run); its identity
 * (device, inode) in *st. */
static int open_bundle(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd = open_checked_path(path, "bundle directory", err, errlen);
	if (fd < 0)
		return -1;
	int tree = -1;
	if (directory_or_error(fd, "bundle directory", path, err, errlen) == 0 && fstat(fd, st) == 0)
		tree = detached_mount_of(fd, MOUNT_EXECUTABLE, "bundle directory", path, err, errlen);
	close(fd);
	return tree;
}

static struct file_identity identity_of(const struct stat *st)
{
	return (struct file_identity){ .dev = st->st_dev, .ino = st->st_ino, .ctime = st->st_ctim };
}

/* Whether path still names the file (or directory) the sandbox mounted. */
static bool still_same_file(const char *path, const char *what, const struct file_identity *id)
{
	char err[FNJ_MAX_MESSAGE];
	struct stat st;
	int fd = open_checked_path(path, what, err, sizeof err);
	bool same = fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino &&
		    st.st_ctim.tv_sec == id->ctime.tv_sec && st.st_ctim.tv_nsec == id->ctime.tv_nsec;
	if (fd >= 0)
		close(fd);
	return same;
}

/* Whether the sandbox's mounted library (or program), and bundle, serve this
 * call as they are: the same files, the same tenant, and the call may keep
 * them (may_stay: nothing of its own placed beside them). A call without a
 * bundle never keeps a sandbox's bundle, nor one with a bundle a sandbox
 * without it. */
static bool keeps_library(const struct mounted_library *mounted, const struct exec_spec *spec, bool may_stay)
{
	const char *bundle = spec->head.bundle_len ? spec->bundle : "";
	if (!may_stay || !mounted->path[0] || mounted->tenant_uid != spec->head.tenant_uid ||
	    strcmp(mounted->path, spec->library) != 0 || strcmp(mounted->bundle, bundle) != 0)
		return false;
	return still_same_file(spec->library, "library", &mounted->id) &&
	       (!bundle[0] || still_same_file(bundle, "bundle directory", &mounted->bundle_id));
}

/* What a call brings into its sandbox, in the order the supervisor takes it
 * (protocol.h, fnj_sup_spec); -1 for what it has not. */
struct call_files {
	int output, library, input, stdin_fd, bundle, work;
};
#define CALL_FILES 6

/* Opens what the call needs (in the host's mount namespace). Returns 0, or -1
 * with err and *outcome saying why. */
static int open_call_files(const struct exec_spec *spec, bool keep, uint32_t uid, struct call_files *f,
			   struct stat *library_st, struct stat *bundle_st, uint32_t *outcome, char *err, size_t errlen)
{
	const struct fnj_exec *h = &spec->head;
	bool denied = false;
	*outcome = FNJ_OUTCOME_LAUNCH_FAILED;
	if ((f->output = open_output(spec->output, err, errlen)) < 0 ||
	    (h->kind != FNJ_KIND_BUILD && !keep && (f->library = open_entry(spec, library_st, err, errlen)) < 0) ||
	    (h->bundle_len && !keep && (f->bundle = open_bundle(spec->bundle, bundle_st, err, errlen)) < 0) ||
	    (h->work_len && (f->work = open_work_dir(spec->work, uid, err, errlen)) < 0))
		return -1;
	if (h->kind == FNJ_KIND_LIBRARY && h->input_len) {
		if ((f->input = open_input_as_tenant(spec, &denied, err, errlen)) < 0) {
			*outcome = denied ? FNJ_OUTCOME_INPUT_DENIED : FNJ_OUTCOME_LAUNCH_FAILED;
			return -1;
		}
		if (idmap_for_sandbox(spec, f->input, uid, err, errlen) < 0) {
			*outcome = FNJ_OUTCOME_INPUT_DENIED;
			return -1;
		}
	} else if (h->kind != FNJ_KIND_LIBRARY && h->input_len &&
		   (f->stdin_fd = open_stdin_as_tenant(spec, &denied, err, errlen)) < 0) {
		*outcome = denied ? FNJ_OUTCOME_INPUT_DENIED : FNJ_OUTCOME_LAUNCH_FAILED;
		return -1;
	}
	return 0;
}

/* Hand one waiting request to a prepared supervisor. If the request fails
 * before reaching it, the supervisor stays ready. */
static void dispatch(struct sandbox *sb, struct pending *req)
{
	struct exec_spec *spec = &scratch->spec;
	char *err = scratch->error;
	size_t errlen = sizeof scratch->error;
	if (spec_parse(req->data, req->len, spec, err, errlen) < 0) {
		emit_failure(req->id, FNJ_OUTCOME_LAUNCH_FAILED, req->received_us, err);
		return;
	}
	int fds[FNJ_SPEC_MAX_FDS];
	int nfds = 0;
	uint32_t uid = 0;
	unsigned index = (unsigned)(sb - sandboxes);
	struct slot_cgroup *cg = &slot_cgroups[index];
	struct mounted_library *mounted = &mounted_libraries[index];
	bool opened = false, have_uid = false;
	uint32_t outcome = FNJ_OUTCOME_LAUNCH_FAILED;
	struct call_files files = { -1, -1, -1, -1, -1, -1 };
	struct stat library_st, bundle_st;
	/* The connection is the call's from now on (its standard input). */
	if (req->connection >= 0) {
		files.stdin_fd = req->connection;
		req->connection = -1;
	}
	bool keep = false;
	/* One rule, for what this call may keep and what stays mounted after it. */
	const bool may_stay = spec_entry_may_stay(spec);
	if (!(have_uid = allocate_uid(&uid) == 0)) {
		format_error(err, errlen, "no free sandbox uid in the range");
	} else if (files.stdin_fd >= 0 && prepare_connection(files.stdin_fd, spec->head.idle_ms, err, errlen) < 0) {
		; /* err says what */
	} else {
		host_mounts_enter();
		keep = keeps_library(mounted, spec, may_stay);
		opened = open_call_files(spec, keep, uid, &files, &library_st, &bundle_st, &outcome, err, errlen) == 0;
		host_mounts_leave();
		if (opened)
			opened = cgroup_slot_prepare(cg, &spec->head, err, errlen) == 0;
	}
	if (!opened && have_uid)
		release_uid(uid);
	/* The order the supervisor takes them in (protocol.h, fnj_sup_spec). */
	const int owned[CALL_FILES] = { files.output, files.library, files.input, files.stdin_fd, files.bundle, files.work };
	for (size_t i = 0; i < CALL_FILES; i++)
		if (owned[i] >= 0)
			fds[nfds++] = owned[i];
	/* The supervisor joined the slot's cgroups when it was created (or the
	 * slot has none: then the rlimits stand in). */
	struct fnj_sup_spec prefix = { .type = FNJ_SUP_SPEC,
				       .keep_library = keep,
				       .memory_by_cgroup = cg->opened && cg->memory_limit >= 0,
				       .pids_by_cgroup = cg->opened && cg->pids_max >= 0,
				       .cgroup_version = (uint8_t)cgroups.version };
	if (opened && cg->opened && cg->cpu_usage >= 0) {
		fds[nfds++] = cg->cpu_usage;
		prefix.cpu_usage = 1;
	}
	ssize_t sent = 0;
	if (opened) {
		/* Forward the request as received, with the uid filled in. */
		uint8_t *msg = scratch->message;
		memcpy(msg, &prefix, sizeof prefix);
		memcpy(msg + sizeof prefix, req->data, req->len);
		memcpy(msg + sizeof prefix + offsetof(struct fnj_exec, sandbox_uid), &uid, sizeof uid);
		sent = send_with_fds(sb->ctl, msg, sizeof prefix + req->len, fds, nfds);
		explicit_bzero(msg, sizeof prefix + req->len);
		/* What the supervisor will have mounted after this call (any failure
		 * there retires it, and its slot's record with it): a library or
		 * program and its bundle, unless the call may not keep them
		 * (spec_entry_may_stay: then they are removed after it). */
		if (!keep) {
			explicit_bzero(mounted, sizeof *mounted);
			if (may_stay) {
				snprintf(mounted->path, sizeof mounted->path, "%s", spec->library);
				mounted->id = identity_of(&library_st);
				if (spec->head.bundle_len) {
					snprintf(mounted->bundle, sizeof mounted->bundle, "%s", spec->bundle);
					mounted->bundle_id = identity_of(&bundle_st);
				}
				mounted->tenant_uid = spec->head.tenant_uid;
			}
		}
	}
	for (size_t i = 0; i < CALL_FILES; i++)
		if (owned[i] >= 0)
			close(owned[i]);
	uint32_t timeout_ms = spec->head.timeout_ms;
	spec_clear(spec);
	if (!opened) {
		emit_failure(req->id, outcome, req->received_us, err);
		return;
	}
	sb->state = SB_RUNNING;
	sb->id = req->id;
	sb->uid = uid;
	sb->received_us = req->received_us;
	sb->backstop_us = monotonic_us() + (uint64_t)timeout_ms * 1000u + BACKSTOP_GRACE_US;
	if (sent < 0) {
		/* The supervisor died: its reaping reports the loss. */
		log_msg("cannot send a spec to supervisor %d: %s", (int)sb->pid, strerror(errno));
		kill(sb->pid, SIGKILL);
	}
}

/* The request is answered: its slot is free again, and a connection it still
 * holds is closed (the client sees the connection end). */
static void release_slot(struct pending *req)
{
	if (req->connection >= 0)
		close(req->connection);
	req->connection = -1;
	memset(req->data, 0, req->len);
	free_slots[free_slot_count++] = req->data;
}

/* A ready sandbox for this request: one that has its library (or program)
 * mounted already if there is one (no mount to make, none to undo), else any. */
static struct sandbox *pick_sandbox(const struct pending *req)
{
	uint16_t len, kind;
	uint32_t tenant;
	memcpy(&len, req->data + offsetof(struct fnj_exec, library_len), sizeof len);
	memcpy(&kind, req->data + offsetof(struct fnj_exec, kind), sizeof kind);
	memcpy(&tenant, req->data + offsetof(struct fnj_exec, tenant_uid), sizeof tenant);
	const char *library = (const char *)req->data + sizeof(struct fnj_exec);
	struct sandbox *any = NULL;
	for (uint32_t i = 0; i < sandbox_slots; i++) {
		if (sandboxes[i].state != SB_READY)
			continue;
		const struct mounted_library *mounted = &mounted_libraries[i];
		if (kind != FNJ_KIND_BUILD && len <= FNJ_MAX_PATH && mounted->tenant_uid == tenant &&
		    strncmp(mounted->path, library, len) == 0 && mounted->path[len] == '\0')
			return &sandboxes[i];
		if (!any)
			any = &sandboxes[i];
	}
	return any;
}

/* Fails the request at the head of the line (preparation failed for it, or
 * it waited too long), with why. */
static void fail_head(const char *why)
{
	struct pending *req = &queue[queue_head];
	queue_head = (queue_head + 1) % queue_cap;
	queue_len--;
	emit_failure(req->id, FNJ_OUTCOME_LAUNCH_FAILED, req->received_us, why);
	release_slot(req);
}

/* Every request gets a result in bounded time: one that found no prepared
 * sandbox within FNJ_QUEUE_DEADLINE_MS is failed, saying why if known. */
static void expire_queue(void)
{
	uint64_t now = monotonic_us();
	while (queue_len > 0 && now - queue[queue_head].received_us >= QUEUE_DEADLINE_US) {
		char why[FNJ_MAX_MESSAGE + 128];
		format_error(why, sizeof why, "no sandbox was ready for the call within %u ms (%u running%s%s)",
			     FNJ_QUEUE_DEADLINE_MS, count_state(SB_RUNNING),
			     last_prep_error[0] ? "; the last preparation failed: " : "", last_prep_error);
		log_msg("a request waited %u ms for a sandbox; failing it", FNJ_QUEUE_DEADLINE_MS);
		fail_head(why);
	}
}

static void dispatch_pending(void)
{
	struct sandbox *sb;
	while (queue_len > 0 && (sb = pick_sandbox(&queue[queue_head]))) {
		struct pending *req = &queue[queue_head];
		queue_head = (queue_head + 1) % queue_cap;
		queue_len--;
		dispatch(sb, req); /* a request that fails before the sandbox leaves it ready */
		release_slot(req);
	}
}

static void enqueue(const uint8_t *body, uint32_t len)
{
	uint32_t id = 0, flags = 0;
	if (len >= sizeof id)
		memcpy(&id, body, sizeof id);
	uint64_t now = monotonic_us();
	if (len < sizeof(struct fnj_exec)) {
		emit_failure(id, FNJ_OUTCOME_LAUNCH_FAILED, now, "execution spec is truncated");
		return;
	}
	memcpy(&flags, body + offsetof(struct fnj_exec, flags), sizeof flags);
	int connection = -1;
	if (flags & FNJ_EXEC_STDIN_SOCKET) {
		connection = handoff_fd() < 0 ? -1 : handoff_take(id);
		if (connection < 0) {
			emit_failure(id, FNJ_OUTCOME_LAUNCH_FAILED, now,
				     handoff_fd() < 0 ? "the launcher was started without a handoff socket: it cannot take connections"
						      : "the connection of the call was not handed over");
			return;
		}
	}
	if (queue_len == queue_cap || free_slot_count == 0) {
		if (connection >= 0)
			close(connection);
		emit_failure(id, FNJ_OUTCOME_LAUNCH_FAILED, now, "the launcher's queue is full");
		return;
	}
	struct pending *req = &queue[(queue_head + queue_len) % queue_cap];
	req->data = free_slots[--free_slot_count];
	memcpy(req->data, body, len);
	req->len = len;
	req->id = id;
	req->received_us = now;
	req->connection = connection;
	queue_len++;
	pool_broken = false;
}

static void cancel(uint32_t id)
{
	for (uint32_t i = 0; i < sandbox_slots; i++) {
		struct sandbox *sb = &sandboxes[i];
		if (sb->state == SB_RUNNING && sb->id == id) {
			sb->cancelled = true;
			kill(sb->pid, SIGKILL);
			return;
		}
	}
	for (uint32_t i = 0; i < queue_len; i++) {
		struct pending *req = &queue[(queue_head + i) % queue_cap];
		if (req->id != id)
			continue;
		emit_failure(id, FNJ_OUTCOME_CANCELLED, req->received_us, "cancelled before it started");
		release_slot(req);
		/* Close the gap: shift the later entries forward. */
		for (uint32_t j = i; j + 1 < queue_len; j++)
			queue[(queue_head + j) % queue_cap] = queue[(queue_head + j + 1) % queue_cap];
		queue_len--;
		return;
	}
}

static void shutdown_and_exit(void)
{
	for (uint32_t i = 0; i < sandbox_slots; i++)
		if (sandboxes[i].state != SB_FREE)
			kill(sandboxes[i].pid, SIGKILL);
	/* Their namespaces die with them; then their cgroups are empty. */
	while (waitpid(-1, NULL, __WALL) > 0)
		;
	cgroups_cleanup(&cgroups, sandbox_slots);
	exit(0);
}

static void read_requests(void)
{
	for (;;) {
		ssize_t n = read(STDIN_FILENO, inbuf + inlen, INBUF_SIZE - inlen);
		if (n == 0)
			shutdown_and_exit(); /* the server is gone */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			die("cannot read from the server: %s", strerror(errno));
		}
		inlen += (size_t)n;
		size_t off = 0;
		while (inlen - off >= sizeof(struct fnj_header)) {
			struct fnj_header h;
			memcpy(&h, inbuf + off, sizeof h);
			if (h.length > FNJ_MAX_FRAME)
				die("frame of %u bytes from the server exceeds %d: protocol mismatch?",
				    h.length, FNJ_MAX_FRAME);
			if (inlen - off < sizeof h + h.length)
				break;
			const uint8_t *body = inbuf + off + sizeof h;
			if (h.type == FNJ_FRAME_EXEC)
				enqueue(body, h.length);
			else if (h.type == FNJ_FRAME_CANCEL && h.length == sizeof(uint32_t))
				cancel(*(const uint32_t *)body);
			else
				die("unknown frame type %u from the server", h.type);
			off += sizeof h + h.length;
		}
		memmove(inbuf, inbuf + off, inlen - off);
		memset(inbuf + inlen - off, 0, off);
		inlen -= off;
	}
}

/* A sandbox could not be prepared: said loudly, and a waiting tenant is told
 * why rather than left waiting; while nobody waits, the pool stops refilling
 * until the next request. */
static void preparation_failed(const char *why)
{
	log_msg("sandbox preparation failed: %s", why);
	snprintf(last_prep_error, sizeof last_prep_error, "%s", why);
	if (queue_len > 0)
		fail_head(why);
	else
		pool_broken = true;
}

static void on_sandbox_message(struct sandbox *sb)
{
	uint8_t *buf = scratch->report;
	for (;;) {
		int fds[1], nfds;
		ssize_t n = recv_with_fds(sb->ctl, buf, sizeof scratch->report - 1, fds, 1, &nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n <= 0)
			return; /* EAGAIN, or EOF: the exit is handled when reaped */
		uint32_t type;
		if ((size_t)n < sizeof type)
			continue;
		memcpy(&type, buf, sizeof type);
		const uint8_t *body = buf + sizeof type;
		size_t len = (size_t)n - sizeof type;
		if (type == FNJ_SUP_READY && (sb->state == SB_PREPARING || sb->state == SB_CLEANING)) {
			if (sb->state == SB_PREPARING)
				last_prep_error[0] = '\0';
			sb->state = SB_READY;
		} else if (type == FNJ_SUP_PREP_FAILED && sb->state == SB_PREPARING) {
			buf[n] = '\0';
			sb->prep_reported = true;
			preparation_failed((const char *)body);
		} else if (type == FNJ_SUP_REPORT && sb->state == SB_RUNNING &&
			   len >= sizeof(struct fnj_result)) {
			struct fnj_result r;
			memcpy(&r, body, sizeof r);
			size_t msglen = r.message_len, learned = (size_t)r.learned_len * sizeof(uint16_t);
			if (sizeof r + msglen + learned != len || msglen >= FNJ_MAX_MESSAGE || r.learned_len > FNJ_MAX_LEARNED) {
				log_msg("malformed report from supervisor %d", (int)sb->pid);
				continue;
			}
			char message[FNJ_MAX_MESSAGE];
			memcpy(message, body + sizeof r, msglen);
			message[msglen] = '\0';
			uint16_t learned_list[FNJ_MAX_LEARNED];
			memcpy(learned_list, body + sizeof r + msglen, learned);
			r.id = sb->id;
			r.sandbox_uid = sb->uid;
			cgroup_slot_collect(&slot_cgroups[sb - sandboxes], &r);
			r.total_us = monotonic_us() - sb->received_us;
			emit_result(&r, message, learned_list);
			cgroup_slot_renew(&slot_cgroups[sb - sandboxes]);
			/* Every process of the call is gone: its uid is free again. */
			release_uid(sb->uid);
			sb->state = SB_CLEANING;
		}
	}
}

static void describe_exit(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		format_error(out, len, "was killed by signal %d", WTERMSIG(status));
	else
		format_error(out, len, "exited with status %d", WEXITSTATUS(status));
}

/* A supervisor ended: free its slot, and report for it if it could not. */
static void on_supervisor_exit(struct sandbox *sb, int status)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, sb->ctl, NULL);
	on_sandbox_message(sb); /* a report may still be queued on the socket */
	close(sb->ctl);
	if (sb->state == SB_RUNNING) {
		char why[256];
		uint32_t outcome = FNJ_OUTCOME_SUPERVISOR_LOST;
		if (sb->cancelled) {
			outcome = FNJ_OUTCOME_CANCELLED;
			format_error(why, sizeof why, "cancelled by the server");
		} else if (sb->backstopped) {
			outcome = FNJ_OUTCOME_TIMED_OUT;
			format_error(why, sizeof why, "the sandbox supervisor did not stop the function in time and was killed");
		} else if (WIFSIGNALED(status)) {
			format_error(why, sizeof why, "the sandbox supervisor was killed by signal %d", WTERMSIG(status));
		} else {
			format_error(why, sizeof why, "the sandbox supervisor exited with status %d without reporting",
				     WEXITSTATUS(status));
		}
		struct fnj_result r = { .id = sb->id, .outcome = outcome, .exit_code = -1, .term_signal = SIGKILL,
					.seccomp_nr = -1, .sandbox_uid = sb->uid };
		cgroup_slot_collect(&slot_cgroups[sb - sandboxes], &r);
		r.total_us = monotonic_us() - sb->received_us;
		emit_result(&r, why, NULL);
		cgroup_slot_renew(&slot_cgroups[sb - sandboxes]);
	} else if (sb->state == SB_PREPARING && !sb->prep_reported) {
		char why[256];
		describe_exit(status, why, sizeof why);
		char message[384];
		format_error(message, sizeof message, "the sandbox supervisor %s while preparing, without saying why",
			     why);
		preparation_failed(message);
	} else if (sb->state == SB_READY || (sb->state == SB_CLEANING && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))) {
		char why[256];
		describe_exit(status, why, sizeof why);
		log_msg("sandbox supervisor %d %s while %s; another takes its place", (int)sb->pid, why,
			sb->state == SB_READY ? "waiting for a call" : "cleaning up after a call");
	}
	if (sb->state == SB_RUNNING)
		release_uid(sb->uid); /* its namespace, and every process in it, is gone */
	*sb = (struct sandbox){ .state = SB_FREE };
}

static void reap_children(void)
{
	struct signalfd_siginfo info;
	while (read(sigfd, &info, sizeof info) == sizeof info)
		;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
		for (uint32_t i = 0; i < sandbox_slots; i++) {
			if (sandboxes[i].state != SB_FREE && sandboxes[i].pid == pid) {
				on_supervisor_exit(&sandboxes[i], status);
				break;
			}
		}
	}
}

/* Milliseconds until the next backstop, for epoll_wait. */
static int next_timeout(void)
{
	uint64_t now = monotonic_us(), next = UINT64_MAX;
	for (uint32_t i = 0; i < sandbox_slots; i++) {
		struct sandbox *sb = &sandboxes[i];
		if (sb->state == SB_RUNNING && !sb->backstopped && sb->backstop_us < next)
			next = sb->backstop_us;
	}
	if (queue_len > 0 && queue[queue_head].received_us + QUEUE_DEADLINE_US < next)
		next = queue[queue_head].received_us + QUEUE_DEADLINE_US;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999) / 1000);
}

static void check_backstops(void)
{
	uint64_t now = monotonic_us();
	for (uint32_t i = 0; i < sandbox_slots; i++) {
		struct sandbox *sb = &sandboxes[i];
		if (sb->state == SB_RUNNING && !sb->backstopped && sb->backstop_us <= now) {
			log_msg("supervisor %d missed its deadline; killing its sandbox", (int)sb->pid);
			sb->backstopped = true;
			kill(sb->pid, SIGKILL);
		}
	}
}

static void setup_event_loop(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		die("signalfd: %s", strerror(errno));
	/* Signals meant for the server's terminal or its whole service do not
	 * end running calls: the server decides when the launcher stops. */
	static const int ignored[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	if (getsid(0) != getpid() && setsid() < 0)
		die("cannot start a session of its own: %s", strerror(errno));
	/* If the server dies, the launcher follows (and every sandbox with it). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() == 1)
		die("the server exited before the launcher started");
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	struct epoll_event in = { .events = EPOLLIN, .data.u64 = TAG_SERVER_IN };
	struct epoll_event out = { .events = 0, .data.u64 = TAG_SERVER_OUT };
	struct epoll_event sig = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
	struct epoll_event handoff = { .events = EPOLLIN, .data.u64 = TAG_HANDOFF };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &in) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, STDOUT_FILENO, &out) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sig) < 0 ||
	    (handoff_fd() >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, handoff_fd(), &handoff) < 0))
		die("epoll_ctl: %s (stdin and stdout must be pipes or sockets)", strerror(errno));
}

int main(int argc, char **argv)
{
	log_init("fnjail-launcher");
	parse_args(argc, argv);
	kernel_probe();
	host_mounts_init();
	enter_private_namespaces();
	setup_memory();
	handoff_init(config.handoff, queue_cap);
	setup_event_loop();
	char summary[512];
	cgroups_init(&cgroups, summary, sizeof summary);
	log_info("limits: %s", summary);

	struct fnj_ready ready = { .version = FNJ_PROTOCOL_VERSION,
				   .max_sandboxes = config.max_sandboxes,
				   .uid_first = config.uid_first,
				   .uid_count = config.uid_count,
				   .features = (kernel_has_process_accounting() ? FNJ_FEATURE_PROCESS_ACCOUNTING : 0) |
					       (cgroups_have(&cgroups, CG_MEMORY) ? FNJ_FEATURE_CGROUP_MEMORY : 0) |
					       (cgroups_have(&cgroups, CG_PIDS) ? FNJ_FEATURE_CGROUP_PIDS : 0) |
					       (cgroups_have(&cgroups, CG_CPU) ? FNJ_FEATURE_CGROUP_CPU : 0) |
					       (cgroups.version == 2 ? FNJ_FEATURE_CGROUP_V2 : 0) };
	emit(FNJ_FRAME_READY, &ready, sizeof ready, NULL, 0);
	fill_pool();

	for (;;) {
		struct epoll_event events[64];
		int n = epoll_wait(epfd, events, 64, next_timeout());
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			uint64_t tag = events[i].data.u64;
			if (tag == TAG_SERVER_IN)
				read_requests();
			else if (tag == TAG_SERVER_OUT)
				flush_output();
			else if (tag == TAG_SIGNAL)
				reap_children();
			else if (tag == TAG_HANDOFF)
				handoff_receive();
			else if (tag >= TAG_SANDBOX && tag - TAG_SANDBOX < sandbox_slots &&
				 sandboxes[tag - TAG_SANDBOX].state != SB_FREE)
				on_sandbox_message(&sandboxes[tag - TAG_SANDBOX]);
		}
		check_backstops();
		expire_queue();
		dispatch_pending();
		fill_pool();
		dispatch_pending();
	}
}
