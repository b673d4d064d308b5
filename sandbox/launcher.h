/* launcher.h - declarations shared by the parts of fnjail-launcher.
 *
 * Process tree of one execution:
 *   launcher (root, host namespaces, long-lived fork server)
 *     -> supervisor (pid 1 of fresh pid/mount/ipc/uts[/net] namespaces, root,
 *        trusted: builds the root, supervises, reports)
 *          -> worker (pid 2, fresh uid, no privileges, seccomp; loads the library
 *             and calls the function)
 * The supervisor is prepared ahead of time (pool), so a request only pays for
 * placing two files and forking the worker. */
#ifndef FNJAIL_LAUNCHER_H
#define FNJAIL_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "protocol.h"

/* Settings fixed when the launcher starts (command line). */
struct launcher_config {
	uint32_t uid_first;
	uint32_t uid_count;
	uint32_t max_sandboxes;
	uint32_t prepared;      /* supervisors kept ready when idle */
	uint64_t tmp_bytes;     /* default size of the private /tmp */
	bool fresh_netns;       /* every supervisor gets its own network namespace */
	uint32_t reuse;         /* calls a supervisor serves before it retires */
	char hostname[FNJ_MAX_HOSTNAME + 1]; /* the sandboxes' host name */
	int handoff;            /* the socket connections arrive on (--handoff-socket), or -1 */
};

/* A parsed execution spec; its strings copied from the buffer it was parsed
 * from, each NUL-terminated. */
struct exec_spec {
	struct fnj_exec head;
	char library[FNJ_MAX_PATH + 1];
	char function[FNJ_MAX_FUNCTION + 1];
	char input[FNJ_MAX_PATH + 1];
	char output[FNJ_MAX_PATH + 1];
	char cwd[FNJ_MAX_PATH + 1];
	char bundle[FNJ_MAX_PATH + 1];
	char work[FNJ_MAX_PATH + 1];
	char args[FNJ_MAX_ARGV];       /* the arguments, NUL-separated */
	char env[FNJ_MAX_ENV];         /* the environment, NUL-separated */
	char *argv[FNJ_MAX_ARGS + 1];  /* into args, NULL-terminated */
	char *envp[FNJ_MAX_ENV_ENTRIES + 1]; /* into env, NULL-terminated */
	const uint8_t *filter; /* into the parsed buffer */
	uint32_t groups[FNJ_MAX_GROUPS]; /* the tenant's supplementary groups */
};

/* What the execution reads on stdin, and whether it is a descriptor passed
 * with the call (a program's input file, or its connection). */
static inline bool spec_has_stdin(const struct exec_spec *spec)
{
	return spec->head.kind != FNJ_KIND_LIBRARY &&
	       (spec->head.input_len || (spec->head.flags & FNJ_EXEC_STDIN_SOCKET));
}

/* cgroups.c */
enum cg_controller { CG_MEMORY, CG_PIDS, CG_CPU, CG_COUNT };

struct cgroups {
	int version;                  /* 0: none usable, 1 or 2 */
	char base[CG_COUNT][4096];    /* this launcher's directory per controller, "" if unavailable */
};

/* The cgroup of one launcher slot, opened once and reused. */
struct slot_cgroup {
	bool opened;
	int version;
	char dir[CG_COUNT][4096 + 16];
	int procs[CG_COUNT];  /* cgroup.procs per hierarchy (v2: procs[0] only), -1 if none */
	int memory_limit, memory_peak, memory_events, pids_max, pids_events, cpu_usage;
	uint64_t memory_set, pids_set; /* limits written last */
	uint64_t oom_base, pids_base, cpu_base_us;
	bool peak_reset;     /* memory.peak restarted for this call (else unknown) */
	bool cpu_base_known; /* cpu_base_us could be read */
};

void cgroups_init(struct cgroups *cg, char *summary, size_t len);
bool cgroups_have(const struct cgroups *cg, enum cg_controller c);
int cgroup_slot_join(const struct cgroups *cg, unsigned index, struct slot_cgroup *s, pid_t pid,
		     char *err, size_t errlen);
int cgroup_slot_prepare(struct slot_cgroup *s, const struct fnj_exec *limits, char *err, size_t errlen);
void cgroup_slot_collect(struct slot_cgroup *s, struct fnj_result *r);
void cgroup_slot_renew(struct slot_cgroup *s);
/* The CPU time of a cgroup in microseconds: 0, or -1 when it cannot be read. */
int cgroup_read_cpu_us(int fd, int version, uint64_t *us);
void cgroups_cleanup(const struct cgroups *cg, unsigned slots);

/* log.c */
void log_init(const char *name);
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t monotonic_us(void);
void format_error(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* What the supervisor received with a spec, beyond the spec itself. */
struct spec_fds {
	int output;
	int library;            /* the library or program mount; -1 when the mounted one is kept, or a build */
	int input;              /* a library's input mount; -1 without */
	int stdin_fd;           /* a program's or build's standard input; -1: /dev/null */
	int bundle;             /* the bundle directory's mount; -1 without */
	int work;               /* the work directory's mount; -1 without */
	int cpu_usage;          /* -1 if not accounted */
	int cgroup_version;
	bool memory_by_cgroup;
	bool pids_by_cgroup;
};

/* kernel-probe.c: runs in the launcher at start. */
void kernel_probe(void); /* dies naming a missing feature */
void scrub_stack(void); /* before a fork: no earlier call's data in the child's stack (scrub.c) */
void scrub_worker_stack(void); /* before the library's code runs (scrub.c) */
bool kernel_has_process_accounting(void);

/* checked-open.c: runs in the launcher. */
void host_mounts_init(void);  /* before the launcher leaves the host's mount namespace */
void host_mounts_enter(void); /* paths are opened where the server checked them */
void host_mounts_leave(void);
int open_checked_path(const char *path, const char *what, char *err, size_t errlen); /* O_PATH, no symlinks */
int regular_file_or_error(int fd, const char *what, const char *path, struct stat *st, char *err, size_t errlen);
int directory_or_error(int fd, const char *what, const char *path, char *err, size_t errlen);
enum mount_use { MOUNT_DATA, MOUNT_EXECUTABLE, MOUNT_WRITABLE };
int detached_mount_of(int fd, enum mount_use use, const char *what, const char *path, char *err, size_t errlen);

/* access.c: runs in the launcher. Each returns -1 with *denied when the tenant
 * may not read the file (else a launch failure). The input's detached mount: */
int open_input_as_tenant(const struct exec_spec *spec, bool *denied, char *err, size_t errlen);
/* A descriptor open for reading, for a program's standard input: */
int open_stdin_as_tenant(const struct exec_spec *spec, bool *denied, char *err, size_t errlen);
int idmap_for_sandbox(const struct exec_spec *spec, int tree_fd, uint32_t sandbox_id, char *err, size_t errlen);

/* idmap.c: runs in the launcher. Shows a detached mount with other owners:
 * maps are "FROM TO 1" lines, FROM on disk appearing as TO in the sandbox. */
int idmap_mount(int tree_fd, const char *uid_map, const char *gid_map, char *err, size_t errlen);

/* work-dir.c: runs in the launcher. A build's work directory, writable by the
 * sandbox uid through an idmapped mount. */
int open_work_dir(const char *path, uint32_t sandbox_id, char *err, size_t errlen);

/* handoff.c: runs in the launcher. Connections the server hands over, kept
 * until the execution they belong to starts. */
void handoff_init(int fd, uint32_t capacity);
int handoff_fd(void); /* for epoll; -1 without a handoff socket */
void handoff_receive(void);
int handoff_take(uint32_t id); /* the connection for this execution, or -1 */
int prepare_connection(int fd, uint32_t idle_ms, char *err, size_t errlen);

/* accounting.c: runs in the supervisor. */
#define ACCOUNTING_UNAVAILABLE (-2)
int accounting_start(const char *dir, char *err, size_t errlen); /* fd, -1, or ACCOUNTING_UNAVAILABLE */
void accounting_collect(int fd, uint64_t cpu_rlimit_seconds, struct fnj_result *r);
int accounting_clear(int fd);

/* RLIMIT_CPU is in whole seconds: the worker's soft limit for a call's cpu_ms. */
static inline uint64_t cpu_rlimit_seconds(uint64_t cpu_ms)
{
	return (cpu_ms + 999) / 1000;
}

/* wire.c */
int spec_parse(const uint8_t *buf, size_t len, struct exec_spec *spec, char *err, size_t errlen);
void spec_clear(struct exec_spec *spec);
/* Whether two absolute paths start with the same directory (/var/a, /var/b):
 * then their placements may share a tmpfs, and a call's input takes the
 * library's mount down with it (rootfs.c). */
bool same_top_directory(const char *a, const char *b);
/* Whether what this call runs (its library or program, and its bundle) may
 * stay mounted after it for the next call of the same tenant to the same
 * files: not for a build, nor when something placed for this call alone (a
 * library's input, a work directory) shares their top directory, and so their
 * tmpfs, nor under /tmp (renewed after every call). The launcher decides with
 * it what it may ask the supervisor to keep, the supervisor what it removes
 * after the call: both apply this one rule. */
bool spec_entry_may_stay(const struct exec_spec *spec);
ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

/* supervisor.c: runs in the child of clone(); never returns. */
_Noreturn void supervisor_main(int ctl, const struct launcher_config *config);

/* rootfs.c: runs in the supervisor. A file mounted into the root for a call,
 * and what was made to mount it on, so that it can be removed exactly. A file
 * under a top directory of the root that stands for a host one (/var, /opt,
 * ...) is placed in a fresh tmpfs mounted on that directory, so that the root
 * itself never changes from call to call. */
struct placement {
	char path[FNJ_MAX_PATH + 1];
	size_t top_len;       /* length of "/var" when this placement mounted the tmpfs there, else 0 */
	bool in_fresh;        /* what it created is in a tmpfs made for this call (its own, the other
				 placement's, or /tmp) */
	size_t first_created; /* length of the first directory made for it, 0 if none */
	bool directory;       /* a directory is placed (else a file) */
	bool file_created;    /* the empty file (or directory) mounted on */
	bool mounted;
	bool sealed;          /* its tmpfs (top_len) is read-only already: kept from an earlier call */
	bool has_tree;        /* tree: the mount's descriptor, held while it is placed (a
				 program is executed from it, call after call) */
	int tree;
};

/* What calls changed in the root. The library (or program) and its bundle stay
 * mounted between calls while the launcher asks to keep them (same files, same
 * tenant, spec_entry_may_stay); the input and work directory are removed after
 * every call, and with them the library and bundle when they may not stay. */
struct rootfs_call {
	uint64_t tmp_bytes; /* the size /tmp is mounted with now */
	/* In the order they are placed: a bundle directory first, for the others
	 * may lie inside it. */
	struct placement bundle;
	struct placement work;
	struct placement library; /* the library, or the program */
	struct placement input;
	bool changed; /* a placement created something in the root itself: the
			 sandbox retires after this call */
};

/* Returns its process accounting file's descriptor, or ACCOUNTING_UNAVAILABLE,
 * in *accounting. */
int rootfs_prepare(struct rootfs_call *root, uint64_t tmp_bytes, int *accounting, char *err, size_t errlen);
/* Takes tree_fd, held until the placement is removed. */
int rootfs_place(struct rootfs_call *root, struct placement *p, int tree_fd, const char *path, bool directory,
		 char *err, size_t errlen);
int rootfs_unplace(struct placement *p, char *err, size_t errlen);
/* Removes the library (or program) and bundle kept from earlier calls. */
int rootfs_unplace_entry(struct rootfs_call *root, char *err, size_t errlen);
int rootfs_finish(struct rootfs_call *root, const struct exec_spec *spec, char *err, size_t errlen);
/* After a call: 0 when the root is as the next call must find it, 1 when the
 * sandbox must retire (the root changed), -1 on error. */
int rootfs_reset(struct rootfs_call *root, bool entry_stays, char *err, size_t errlen);
int set_oom_score_adj(int value);

/* worker.c: runs in the child the supervisor forks for a library call or a
 * build; never returns. */
_Noreturn void worker_main(int handshake, struct fnj_worker_state *state);

/* program-worker.c: runs in the supervisor. Starts the worker of a program
 * call, which shares the supervisor's memory until its exec: what this holds,
 * and the spec it points to, must stay as they are until the worker is gone
 * or running the program. Returns its pid and its pidfd in *pidfd, or -1 with
 * errno set. */
struct program_worker {
	const struct exec_spec *spec;
	struct spec_fds fds;        /* the output file, standard input, the cgroups' limits */
	int program;                /* the program's mount (its placement's descriptor) */
	int handshake;              /* the worker's end of the handshake */
	struct fnj_worker_state *state;
};
pid_t program_worker_start(const struct program_worker *w, int *pidfd);

/* worker-setup.c: the steps of both kinds of worker, in raw system calls.
 * A step that fails ends the worker: worker_failed, phase SETUP_FAILED. */
#define HANDSHAKE_FD 3
#define PROGRAM_FD 4 /* the descriptor a program is executed from */
extern char *const worker_environment[]; /* the clean one of a call that has none of its own */
/* Says why in the state page, sets the phase, exits with status. */
_Noreturn void worker_failed(struct fnj_worker_state *state, uint32_t phase, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void worker_prepare(struct fnj_worker_state *state); /* a session, umask 022, no_new_privs, no core dumps, an empty signal mask */
void worker_arrange_fds(struct fnj_worker_state *state, int in, int out, int err, int program, int handshake);
void worker_enter_namespaces(struct fnj_worker_state *state, const struct exec_spec *spec);
void worker_drop_privileges(struct fnj_worker_state *state, uint32_t id);
void worker_enter_directory(struct fnj_worker_state *state, const struct exec_spec *spec); /* a program's or build's */
void worker_set_limits(struct fnj_worker_state *state, const struct fnj_exec *h, const struct spec_fds *fds);
void worker_install_seccomp(struct fnj_worker_state *state, const struct exec_spec *spec); /* hands the listener over */

/* program.c: runs in the worker, last. */
_Noreturn void program_exec(const struct exec_spec *spec, struct fnj_worker_state *state); /* raw */
_Noreturn void build_exec(const struct exec_spec *spec, struct fnj_worker_state *state); /* forked only */

#endif
