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
};

/* A parsed execution spec; strings point into the buffer it was parsed from,
 * copied so that each is NUL-terminated. */
struct exec_spec {
	struct fnj_exec head;
	char library[FNJ_MAX_PATH + 1];
	char function[FNJ_MAX_FUNCTION + 1];
	char input[FNJ_MAX_PATH + 1];
	char output[FNJ_MAX_PATH + 1];
	const uint8_t *filter; /* into the parsed buffer */
	uint32_t groups[FNJ_MAX_GROUPS]; /* the tenant's supplementary groups */
};

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
};

void cgroups_init(struct cgroups *cg, char *summary, size_t len);
bool cgroups_have(const struct cgroups *cg, enum cg_controller c);
int cgroup_slot_join(const struct cgroups *cg, unsigned index, struct slot_cgroup *s, pid_t pid,
		     char *err, size_t errlen);
int cgroup_slot_prepare(struct slot_cgroup *s, const struct fnj_exec *limits, char *err, size_t errlen);
void cgroup_slot_collect(struct slot_cgroup *s, struct fnj_result *r);
uint64_t cgroup_read_cpu_us(int fd, int version);
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
	int library;            /* -1 when the mounted one is kept */
	int input;              /* -1 without input */
	int cpu_usage;          /* -1 if not accounted */
	int cgroup_version;
	bool memory_by_cgroup;
	bool pids_by_cgroup;
};

/* access.c: runs in the launcher. */
int tenant_may_read(const struct exec_spec *spec, int tree_fd, char *err, size_t errlen);
int idmap_for_sandbox(const struct exec_spec *spec, int tree_fd, uint32_t sandbox_id, char *err, size_t errlen);

/* wire.c */
int spec_parse(const uint8_t *buf, size_t len, struct exec_spec *spec, char *err, size_t errlen);
void spec_clear(struct exec_spec *spec);
ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

/* supervisor.c: runs in the child of clone(); never returns. */
_Noreturn void supervisor_main(int ctl, const struct launcher_config *config);

/* rootfs.c: runs in the supervisor. A file mounted into the root for a call,
 * and what was created to mount it on, so that it can be removed exactly. */
struct placement {
	char path[FNJ_MAX_PATH + 1];
	size_t first_created; /* length of the first directory made for it, 0 if none */
	bool file_created;    /* the empty file mounted on */
	bool mounted;
};

/* What calls changed in the root. The library stays mounted between calls
 * while the same one is asked for (the launcher says so); the input is
 * removed after every call. */
struct rootfs_call {
	uint64_t tmp_bytes; /* the size /tmp is mounted with now */
	struct placement library;
	struct placement input;
};

int rootfs_prepare(struct rootfs_call *root, uint64_t tmp_bytes, char *err, size_t errlen);
int rootfs_place(struct placement *p, int tree_fd, const char *path, char *err, size_t errlen);
int rootfs_unplace(struct placement *p, char *err, size_t errlen);
int rootfs_finish(struct rootfs_call *root, const struct exec_spec *spec, char *err, size_t errlen);
int rootfs_reset(struct rootfs_call *root, char *err, size_t errlen);
int set_oom_score_adj(int value);

/* worker.c: runs in the child of the supervisor; never returns. */
_Noreturn void worker_main(int handshake, struct fnj_worker_state *state);

#endif
