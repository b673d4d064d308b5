/* cgroups.c - a cgroup per sandbox slot: memory (with out-of-memory kills
 * counted), process count, and CPU time of all the sandbox's processes.
 *
 * Detected at start: cgroup v2 with the memory and pids controllers usable
 * below the launcher's own cgroup, else cgroup v1 hierarchies (memory, pids,
 * cpuacct), else none (the rlimits alone then apply; the log says so). The
 * sandboxes' cgroups are created below the launcher's own cgroup, so whatever
 * contains the server also contains its sandboxes.
 *
 * One cgroup per launcher slot, created on first use and reused. A sandbox's
 * supervisor joins its slot's cgroup when it is created, so every worker it
 * forks starts there; limits are written before a call, counters reset after
 * it. The supervisor itself counts as one process (pids.max is the limit + 1)
 * and its few pages of memory count too. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

static const char *const v1_names[CG_COUNT] = { "memory", "pids", "cpuacct" };

static int write_text(int fd, const char *text)
{
	size_t len = strlen(text);
	return pwrite(fd, text, len, 0) == (ssize_t)len ? 0 : -1;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write_text(fd, text);
	close(fd);
	return rc;
}

/* Reads "key value" lines (memory.events, pids.events, cpu.stat,
 * memory.oom_control) into *value: 0, or -1 (errno set) when the file cannot
 * be read or has no such key. */
static int read_key_checked(int fd, const char *key, uint64_t *value)
{
	char buf[1024];
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
	if (n <= 0) {
		if (n == 0 || fd < 0)
			errno = ENODATA;
		return -1;
	}
	buf[n] = '\0';
	size_t klen = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*value = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	errno = ENODATA;
	return -1;
}

/* Event counters: a counter that cannot be read counts as 0, which can only
 * miss an event, never invent one (they are compared as "grew since"). */
static uint64_t read_key(int fd, const char *key)
{
	uint64_t value = 0;
	return read_key_checked(fd, key, &value) < 0 ? 0 : value;
}

static int read_number_checked(int fd, uint64_t *value)
{
	char buf[64];
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
	if (n <= 0) {
		if (n == 0 || fd < 0)
			errno = ENODATA;
		return -1;
	}
	buf[n] = '\0';
	*value = strtoull(buf, NULL, 10);
	return 0;
}

/* The launcher's own cgroup path in a hierarchy, from /proc/self/cgroup:
 * "4:memory:/a/b" (v1, by controller name) or "0::/a/b" (v2). */
static int own_cgroup(const char *controller, char *path, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[PATH_MAX + 64];
	int rc = -1;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *first = strchr(line, ':');
		char *second = first ? strchr(first + 1, ':') : NULL;
		if (!second)
			continue;
		*second = '\0';
		const char *controllers = first + 1;
		bool match = controller ? false : controllers[0] == '\0';
		for (char *c = (char *)controllers; controller && c && *c;) {
			char *comma = strchr(c, ',');
			size_t n = comma ? (size_t)(comma - c) : strlen(c);
			match |= strlen(controller) == n && strncmp(c, controller, n) == 0;
			c = comma ? comma + 1 : NULL;
		}
		if (match) {
			snprintf(path, len, "%s", second + 1);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* The mount point of a cgroup hierarchy (v1: the one with that controller;
 * v2: controller NULL), and the cgroup path its root shows. */
static int find_mount(const char *controller, char *mountpoint, size_t len, char *root, size_t rootlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char line[4096];
	int rc = -1;
	while (rc < 0 && fgets(line, sizeof line, f)) {
		char mroot[PATH_MAX], point[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, point) != 2)
			continue;
		char *dash = strstr(line, " - ");
		if (!dash)
			continue;
		char fstype[64], source[256], options[1024] = "";
		if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, options) < 2)
			continue;
		if (controller == NULL ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0)
			continue;
		if (controller) {
			bool has = false;
			for (char *o = strtok(options, ","); o; o = strtok(NULL, ","))
				has |= strcmp(o, controller) == 0;
			if (!has)
				continue;
		}
		snprintf(mountpoint, len, "%s", point);
		snprintf(root, rootlen, "%s", mroot);
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* Where this launcher's cgroups go in a hierarchy: below its own cgroup. */
static int base_dir(const char *controller, char *out, size_t len)
{
	char mountpoint[PATH_MAX], root[PATH_MAX], own[PATH_MAX];
	if (find_mount(controller, mountpoint, sizeof mountpoint, root, sizeof root) < 0 ||
	    own_cgroup(controller, own, sizeof own) < 0)
		return -1;
	const char *relative = own;
	size_t rlen = strlen(root);
	if (strcmp(root, "/") != 0) {
		if (strncmp(own, root, rlen) != 0)
			return -1; /* our cgroup is not visible in this mount */
		relative = own + rlen;
	}
	if (strcmp(relative, "/") == 0)
		relative = "";
	int n = snprintf(out, len, "%s%s/fnjail-%d", mountpoint, relative, (int)getpid());
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Removes what earlier launchers left (they were killed before cleaning up):
 * empty fnjail-<pid> directories whose launcher is gone. */
static void remove_stale(const char *base)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", base);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid;
		char path[PATH_MAX + 300];
		if (sscanf(e->d_name, "fnjail-%d", &pid) != 1 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d", pid);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		DIR *slots = opendir(path);
		struct dirent *s;
		while (slots && (s = readdir(slots))) {
			if (s->d_name[0] == 's') {
				char slot[PATH_MAX + 600];
				snprintf(slot, sizeof slot, "%s/%s", path, s->d_name);
				rmdir(slot);
			}
		}
		if (slots)
			closedir(slots);
		rmdir(path);
	}
	closedir(d);
}

static bool try_v2(struct cgroups *cg)
{
	char base[PATH_MAX], file[PATH_MAX + 32], controllers[256] = "";
	if (base_dir(NULL, base, sizeof base) < 0)
		return false;
	char *slash = strrchr(base, '/');
	*slash = '\0';
	snprintf(file, sizeof file, "%s/cgroup.controllers", base);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, controllers, sizeof controllers - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0 || !strstr(controllers, "memory") || !strstr(controllers, "pids"))
		return false;
	/* Controllers must be enabled on the way down; this fails when our own
	 * cgroup holds processes and is not the root (the "no internal
	 * processes" rule): run fnjail in a delegated cgroup of its own then. */
	snprintf(file, sizeof file, "%s/cgroup.subtree_control", base);
	if (write_file(file, strstr(controllers, "cpu") ? "+memory +pids +cpu" : "+memory +pids") < 0) {
		log_msg("cgroup v2: cannot enable memory and pids below %s: %s", base, strerror(errno));
		return false;
	}
	*slash = '/';
	remove_stale(base);
	snprintf(file, sizeof file, "%s/cgroup.subtree_control", base);
	if ((mkdir(base, 0755) < 0 && errno != EEXIST) ||
	    write_file(file, strstr(controllers, "cpu") ? "+memory +pids +cpu" : "+memory +pids") < 0) {
		log_msg("cgroup v2: cannot set up %s: %s", base, strerror(errno));
		rmdir(base);
		return false;
	}
	cg->version = 2;
	for (int i = 0; i < CG_COUNT; i++)
		snprintf(cg->base[i], sizeof cg->base[i], "%s", base);
	if (!strstr(controllers, "cpu"))
		cg->base[CG_CPU][0] = '\0';
	return true;
}

static bool try_v1(struct cgroups *cg)
{
	int found = 0;
	for (int i = 0; i < CG_COUNT; i++) {
		char base[PATH_MAX];
		cg->base[i][0] = '\0';
		if (base_dir(v1_names[i], base, sizeof base) < 0)
			continue;
		remove_stale(base);
		if (mkdir(base, 0755) < 0 && errno != EEXIST) {
			log_msg("cgroup v1 %s: cannot create %s: %s", v1_names[i], base, strerror(errno));
			continue;
		}
		snprintf(cg->base[i], sizeof cg->base[i], "%s", base);
		found++;
	}
	if (found)
		cg->version = 1;
	return found > 0;
}

void cgroups_init(struct cgroups *cg, char *summary, size_t len)
{
	memset(cg, 0, sizeof *cg);
	if (!try_v2(cg) && !try_v1(cg)) {
		snprintf(summary, len, "no usable cgroups: memory is limited by RLIMIT_AS, processes by RLIMIT_NPROC, CPU per process by RLIMIT_CPU");
		return;
	}
	snprintf(summary, len, "cgroup v%d: memory %s, processes %s, CPU of all processes %s", cg->version,
		 cg->base[CG_MEMORY][0] ? "limited, out-of-memory kills detected" : "NOT available (RLIMIT_AS instead)",
		 cg->base[CG_PIDS][0] ? "limited" : "NOT available (RLIMIT_NPROC only)",
		 cg->base[CG_CPU][0] ? "accounted and limited" : "NOT available (RLIMIT_CPU per process only)");
}

bool cgroups_have(const struct cgroups *cg, enum cg_controller c)
{
	return cg->base[c][0] != '\0';
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return open(path, flags | O_CLOEXEC);
}

static int slot_open(const struct cgroups *cg, unsigned index, struct slot_cgroup *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < CG_COUNT; i++)
		s->procs[i] = -1;
	s->memory_limit = s->memory_peak = s->memory_events = s->pids_max = s->pids_events = s->cpu_usage = -1;
	for (int i = 0; i < CG_COUNT; i++) {
		if (!cg->base[i][0])
			continue;
		snprintf(s->dir[i], sizeof s->dir[i], "%s/s%u", cg->base[i], index);
		if (cg->version == 2 && i > 0)
			continue; /* one directory for all controllers */
		if (mkdir(s->dir[i], 0755) < 0 && errno != EEXIST) {
			format_error(err, errlen, "cannot create cgroup %s: %s", s->dir[i], strerror(errno));
			return -1;
		}
		s->procs[i] = open_in(s->dir[i], "cgroup.procs", O_WRONLY);
	}
	bool v2 = cg->version == 2;
	if (cg->base[CG_MEMORY][0]) {
		const char *dir = s->dir[CG_MEMORY];
		s->memory_limit = open_in(dir, v2 ? "memory.max" : "memory.limit_in_bytes", O_WRONLY);
		s->memory_peak = open_in(dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes", O_RDWR);
		s->memory_events = open_in(dir, v2 ? "memory.events" : "memory.oom_control", O_RDONLY);
	}
	if (cg->base[CG_PIDS][0]) {
		s->pids_max = open_in(s->dir[CG_PIDS], "pids.max", O_WRONLY);
		s->pids_events = open_in(s->dir[CG_PIDS], "pids.events", O_RDONLY);
	}
	if (cg->base[CG_CPU][0])
		s->cpu_usage = open_in(s->dir[CG_CPU], v2 ? "cpu.stat" : "cpuacct.usage", O_RDWR);
	s->version = cg->version;
	s->opened = true;
	return 0;
}

int cgroup_read_cpu_us(int fd, int version, uint64_t *us)
{
	uint64_t value;
	if (version == 2 ? read_key_checked(fd, "usage_usec", &value) < 0 : read_number_checked(fd, &value) < 0)
		return -1;
	*us = version == 2 ? value : value / 1000u;
	return 0;
}

/* Restarts the counters, or records their values, so that the next call's
 * figures are its own. The peak memory cannot be taken as a difference: it is
 * restarted (v1: max_usage_in_bytes; v2: memory.peak, per open file, since
 * Linux 6.12), and where that fails it is unknown rather than another call's. */
static void slot_reset(struct slot_cgroup *s)
{
	s->peak_reset = s->memory_peak >= 0 && write_text(s->memory_peak, s->version == 2 ? "reset" : "0") == 0;
	if (s->version == 1 && s->cpu_usage >= 0)
		write_text(s->cpu_usage, "0");
	s->oom_base = read_key(s->memory_events, "oom_kill");
	s->pids_base = read_key(s->pids_events, "max");
	s->cpu_base_known = s->cpu_usage >= 0 && cgroup_read_cpu_us(s->cpu_usage, s->version, &s->cpu_base_us) == 0;
	if (s->cpu_usage >= 0 && !s->cpu_base_known)
		log_msg("cannot read the CPU time of cgroup %s: %s; the next call's CPU time is unknown", s->dir[CG_CPU],
			strerror(errno));
}

int cgroup_slot_join(const struct cgroups *cg, unsigned index, struct slot_cgroup *s, pid_t pid,
		     char *err, size_t errlen)
{
	if (!cg->version)
		return 0;
	if (!s->opened) {
		if (slot_open(cg, index, s, err, errlen) < 0)
			return -1;
		slot_reset(s);
	}
	char text[32];
	snprintf(text, sizeof text, "%d", (int)pid);
	for (int i = 0; i < CG_COUNT; i++) {
		if (s->procs[i] >= 0 && write_text(s->procs[i], text) < 0) {
			format_error(err, errlen, "cannot move supervisor %d into cgroup %s: %s", (int)pid, s->dir[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

int cgroup_slot_prepare(struct slot_cgroup *s, const struct fnj_exec *limits, char *err, size_t errlen)
{
	if (!s->opened)
		return 0;
	char text[32];
	if (s->memory_limit >= 0 && limits->memory_bytes != s->memory_set) {
		if (limits->memory_bytes)
			snprintf(text, sizeof text, "%" PRIu64, limits->memory_bytes);
		else
			snprintf(text, sizeof text, "%s", s->version == 2 ? "max" : "-1");
		if (write_text(s->memory_limit, text) < 0) {
			format_error(err, errlen, "cannot set the memory limit of cgroup %s: %s", s->dir[CG_MEMORY], strerror(errno));
			return -1;
		}
		s->memory_set = limits->memory_bytes;
	}
	if (s->pids_max >= 0 && limits->max_procs != s->pids_set) {
		if (limits->max_procs)
			snprintf(text, sizeof text, "%" PRIu64, limits->max_procs + 1); /* + the supervisor */
		else
			snprintf(text, sizeof text, "max");
		if (write_text(s->pids_max, text) < 0) {
			format_error(err, errlen, "cannot set the process limit of cgroup %s: %s", s->dir[CG_PIDS], strerror(errno));
			return -1;
		}
		s->pids_set = limits->max_procs;
	}
	return 0;
}

/* After a call: what the cgroup saw, into the result. The counters are reset
 * for the next call by cgroup_slot_renew, once the result is on its way. */
void cgroup_slot_collect(struct slot_cgroup *s, struct fnj_result *r)
{
	if (!s->opened)
		return;
	if (s->memory_events >= 0 && read_key(s->memory_events, "oom_kill") > s->oom_base)
		r->flags |= FNJ_RESULT_OOM_KILL;
	if (s->pids_events >= 0 && read_key(s->pids_events, "max") > s->pids_base)
		r->flags |= FNJ_RESULT_PROCESS_LIMIT;
	uint64_t value;
	if (s->peak_reset && read_number_checked(s->memory_peak, &value) == 0)
		r->memory_peak_bytes = value;
	if (s->cpu_base_known) {
		int rc = cgroup_read_cpu_us(s->cpu_usage, s->version, &value);
		if (rc == 0 && value < s->cpu_base_us)
			rc = -1, errno = ERANGE; /* below the baseline: the counter was reset under us */
		if (rc == 0)
			r->cgroup_cpu_us = value - s->cpu_base_us;
		else
			log_msg("cannot read the CPU time of cgroup %s: %s; the call's CPU time is unknown", s->dir[CG_CPU],
				strerror(errno));
	}
}

/* After cgroup_slot_collect: the counters restarted for the slot's next call.
 * Called after the result is written (five file operations off the call's
 * path); the slot's next call cannot start before, its sandbox is still
 * cleaning up (or gone). */
void cgroup_slot_renew(struct slot_cgroup *s)
{
	if (s->opened)
		slot_reset(s);
}

void cgroups_cleanup(const struct cgroups *cg, unsigned slots)
{
	for (int i = 0; i < CG_COUNT; i++) {
		if (!cg->base[i][0] || (cg->version == 2 && i > 0))
			continue;
		for (unsigned k = 0; k < slots; k++) {
			char path[PATH_MAX + 32];
			snprintf(path, sizeof path, "%s/s%u", cg->base[i], k);
			rmdir(path);
		}
		rmdir(cg->base[i]);
	}
}
