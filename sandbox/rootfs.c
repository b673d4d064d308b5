/* rootfs.c - the sandbox's root filesystem, built by the supervisor.
 *
 * Prepared once per supervisor, before any request is known:
 *   /            tmpfs (read-only once the call's files are placed)
 *   /usr, /bin, /lib, ... the host's system directories, read-only (or the
 *                host's symlinks to them, as on merged-/usr systems)
 *   /etc         ld.so.cache and localtime, copied; passwd and group, generated;
 *                alternatives (Debian's links: cc, awk, ...), read-only
 *   /dev         null zero full random urandom, fd and std* links, shm -> /tmp
 *   /proc        a fresh procfs of the sandbox's pid namespace, other users'
 *                processes invisible
 *   /tmp         a private, size-limited tmpfs
 *   /var, /opt,  an empty directory for each other top directory of the host,
 *   /home, ...   where the files of calls are placed
 * Placed per call, at the same paths as on the host: the library and the input
 * file, or the program, a bundle directory and a build's work directory (the
 * only one writable), each a bind mount received as a detached mount from the
 * launcher. The directories leading to them are made in a fresh tmpfs mounted
 * on the top directory for the call (and read-only during it), so the root
 * itself never changes from one call to the next: no inode number, time or
 * entry of the root tells a call what an earlier one placed. Nothing else of
 * the host is reachable: the old root is detached.
 * After the call, rootfs_reset() removes the input and work directory (and the
 * library or program and its bundle, unless they may stay), and replaces /tmp
 * by a fresh tmpfs; a library or program and its bundle stay mounted only for
 * the next call of the same tenant to the same files with nothing placed
 * beside them (the launcher decides, spec_entry_may_stay). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/mount.h>

#include "launcher.h"

/* The supervisor mounts the new root over the host's /tmp in its own mount
 * namespace: a directory that always exists, and nothing there is needed. */
#define STAGE "/tmp"

#define FAIL(...)                                                   \
	do {                                                        \
		format_error(err, errlen, __VA_ARGS__);             \
		return -1;                                          \
	} while (0)

/* Makes at stage a symlink with the same target as the host's. */
static int copy_symlink(const char *host, const char *stage, char *err, size_t errlen)
{
	char target[PATH_MAX];
	ssize_t n = readlink(host, target, sizeof target - 1);
	if (n < 0)
		FAIL("readlink %s: %s", host, strerror(errno));
	target[n] = '\0';
	if (symlink(target, stage) < 0)
		FAIL("symlink %s: %s", stage, strerror(errno));
	return 0;
}

static int set_tree_readonly(const char *path)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr);
}

/* /usr and friends: a read-only bind of the host directory, or the host's
 * symlink as it is. Missing ones (no /lib32 here) are skipped. */
static int add_system_path(const char *name, char *err, size_t errlen)
{
	char host[PATH_MAX], stage[PATH_MAX];
	snprintf(host, sizeof host, "/%s", name);
	snprintf(stage, sizeof stage, STAGE "/%s", name);
	struct stat st;
	if (lstat(host, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode))
		return copy_symlink(host, stage, err, errlen);
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (mkdir(stage, 0755) < 0 || mount(host, stage, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    set_tree_readonly(stage) < 0)
		FAIL("cannot bind %s read-only into the sandbox: %s", host, strerror(errno));
	return 0;
}

/* Small /etc files are copied (a bind mount per file would cost more). A
 * symlink (localtime -> /usr/share/zoneinfo/...) is copied as a symlink. */
static int add_etc_file(const char *name, char *err, size_t errlen)
{
	char host[PATH_MAX], stage[PATH_MAX];
	snprintf(host, sizeof host, "/etc/%s", name);
	snprintf(stage, sizeof stage, STAGE "/etc/%s", name);
	struct stat st;
	if (lstat(host, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode))
		return copy_symlink(host, stage, err, errlen);
	int in = open(host, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return 0;
	int out = open(stage, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		FAIL("cannot create %s: %s", stage, strerror(errno));
	}
	char buf[16384];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	close(in);
	close(out);
	if (n < 0 || rc < 0)
		FAIL("cannot copy %s: %s", host, strerror(errno));
	return 0;
}

static int add_dev(char *err, size_t errlen)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = { { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		      { "random", 1, 8 }, { "urandom", 1, 9 } };
	static const struct {
		const char *name, *target;
	} links[] = { { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		      { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		      /* POSIX shared memory and semaphores live in /dev/shm: give them
		       * the private, size-limited /tmp. */
		      { "shm", "/tmp" } };
	char path[PATH_MAX];
	if (mkdir(STAGE "/dev", 0755) < 0)
		FAIL("mkdir /dev: %s", strerror(errno));
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		snprintf(path, sizeof path, STAGE "/dev/%s", nodes[i].name);
		if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0 ||
		    chmod(path, 0666) < 0)
			FAIL("mknod %s: %s", path, strerror(errno));
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(path, sizeof path, STAGE "/dev/%s", links[i].name);
		if (symlink(links[i].target, path) < 0)
			FAIL("symlink %s: %s", path, strerror(errno));
	}
	return 0;
}

/* An empty directory for each other top directory of the host, so that a
 * call's files can be placed under /var, /opt, /home ... without creating
 * anything in the root (the names are the host's, the same for every call). */
static int add_top_directories(char *err, size_t errlen)
{
	DIR *d = opendir("/");
	if (!d)
		FAIL("cannot list the host's root directory: %s", strerror(errno));
	struct dirent *e;
	char stage[PATH_MAX];
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		static const char *const own[] = { ".", "..", "proc", "sys", "dev", "tmp", "etc" };
		bool skip = false;
		for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
			skip |= strcmp(e->d_name, own[i]) == 0;
		struct stat st;
		snprintf(stage, sizeof stage, STAGE "/%s", e->d_name);
		if (skip || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    lstat(stage, &st) == 0)
			continue; /* the sandbox's own, not a directory, or made already (/usr) */
		if (mkdir(stage, 0755) < 0) {
			format_error(err, errlen, "mkdir %s: %s", stage, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

static int mount_tmp(uint64_t bytes, unsigned long flags, const char *target, char *err,
		     size_t errlen)
{
	char options[64];
	snprintf(options, sizeof options, "mode=1777,size=%llu", (unsigned long long)bytes);
	if (mount("tmpfs", target, "tmpfs", flags | MS_NOSUID | MS_NODEV, options) < 0)
		FAIL("cannot mount the sandbox's /tmp (%s): %s", options, strerror(errno));
	return 0;
}

int rootfs_prepare(struct rootfs_call *root, uint64_t tmp_bytes, int *accounting, char *err, size_t errlen)
{
	root->tmp_bytes = tmp_bytes;
	static const char *const system_paths[] = { "usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32" };
	static const char *const etc_files[] = { "ld.so.cache", "localtime" };

	umask(0);
	/* Nothing done here may reach the host's mount tree. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		FAIL("cannot make the mount namespace private: %s", strerror(errno));
	if (mount("fnjail", STAGE, "tmpfs", MS_NOSUID, "mode=0755,size=8m,nr_inodes=4096") < 0)
		FAIL("cannot mount the sandbox root: %s", strerror(errno));
	for (size_t i = 0; i < sizeof system_paths / sizeof system_paths[0]; i++)
		if (add_system_path(system_paths[i], err, errlen) < 0)
			return -1;
	if (mkdir(STAGE "/etc", 0755) < 0)
		FAIL("mkdir /etc: %s", strerror(errno));
	for (size_t i = 0; i < sizeof etc_files / sizeof etc_files[0]; i++)
		if (add_etc_file(etc_files[i], err, errlen) < 0)
			return -1;
	/* Debian's alternatives: the links behind cc, awk, ... that programs and
	 * builds run (links to system files, no secrets). */
	if (add_system_path("etc/alternatives", err, errlen) < 0)
		return -1;
	if (add_dev(err, errlen) < 0 || add_top_directories(err, errlen) < 0)
		return -1;
	if (mkdir(STAGE "/tmp", 01777) < 0 || mkdir(STAGE "/proc", 0555) < 0)
		FAIL("mkdir /tmp, /proc: %s", strerror(errno));
	if (mount_tmp(tmp_bytes, 0, STAGE "/tmp", err, errlen) < 0)
		return -1;
	/* The process accounting file's tmpfs goes where /proc covers it. */
	if ((*accounting = accounting_start(STAGE "/proc", err, errlen)) == -1)
		return -1;
	/* The supervisor is pid 1 of the new pid namespace, so this procfs shows
	 * the sandbox's processes only; hidepid hides the root-owned supervisor. */
	if (mount("proc", STAGE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") < 0)
		FAIL("cannot mount /proc in the sandbox: %s", strerror(errno));
	if (chdir(STAGE) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
	    chdir("/") < 0)
		FAIL("cannot switch to the sandbox root (pivot_root): %s", strerror(errno));
	umask(022);
	return 0;
}

/* Create the directories leading to path (0755, root-owned) and an empty file
 * (or directory) to mount on, unless the path already exists (inside the
 * host's /usr, or inside a placed bundle, say). Records what it created, for
 * rootfs_unplace(). */
static int make_mountpoint(struct rootfs_call *root, struct placement *p, const char *path, char *err, size_t errlen)
{
	char prefix[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof prefix)
		FAIL("path too long: %s", path);
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		if (mkdir(prefix, 0755) == 0) {
			if (!p->first_created)
				p->first_created = i;
			root->changed |= !p->in_fresh;
			continue;
		}
		struct stat st;
		if (errno != EEXIST && errno != EROFS)
			FAIL("cannot create %s in the sandbox: %s", prefix, strerror(errno));
		if (lstat(prefix, &st) < 0 || !S_ISDIR(st.st_mode))
			FAIL("cannot place %s in the sandbox: %s is not a directory there", path, prefix);
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (p->directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
			FAIL("cannot place %s in the sandbox: a %s is at that path", path,
			     p->directory ? "non-directory" : "non-file");
		return 0;
	}
	if ((p->directory ? mkdir(path, 0755) : mknod(path, S_IFREG | 0644, 0)) < 0)
		FAIL("cannot create %s in the sandbox: %s", path, strerror(errno));
	p->file_created = true;
	root->changed |= !p->in_fresh;
	return 0;
}

/* The placement of this call that mounted the tmpfs on path's top directory. */
static const struct placement *top_owner(const struct rootfs_call *root, const char *path, size_t top_len)
{
	const struct placement *all[] = { &root->bundle, &root->work, &root->library, &root->input };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i]->mounted && all[i]->top_len == top_len && strncmp(all[i]->path, path, top_len) == 0)
			return all[i];
	return NULL;
}

/* Where the directories for path go: a fresh tmpfs on its top directory (or
 * the one another placement of this call mounted there), /tmp (renewed after
 * every call), or, failing those, the root itself (/etc, a top directory the
 * host did not have when the sandbox was prepared), which then changes. */
static int prepare_top(struct rootfs_call *root, struct placement *p, const char *path, char *err, size_t errlen)
{
	const char *slash = strchr(path + 1, '/');
	size_t top_len = slash ? (size_t)(slash - path) : 0;
	char top[PATH_MAX];
	if (!top_len || top_len >= sizeof top)
		return 0; /* a file in the root directory itself */
	memcpy(top, path, top_len);
	top[top_len] = '\0';
	if (top_owner(root, path, top_len)) {
		p->in_fresh = true;
		return 0;
	}
	struct stat here, rootdir;
	if (lstat(top, &here) < 0) {
		if (errno != ENOENT || mkdir(top, 0755) < 0)
			FAIL("cannot create %s in the sandbox: %s", top, strerror(errno));
		root->changed = true;
		if (lstat(top, &here) < 0)
			FAIL("cannot inspect %s in the sandbox: %s", top, strerror(errno));
	}
	if (lstat("/", &rootdir) < 0)
		FAIL("cannot inspect the sandbox root: %s", strerror(errno));
	if (!S_ISDIR(here.st_mode) || here.st_dev != rootdir.st_dev) {
		/* A mount of its own: the host's /usr (the file exists there), or /tmp. */
		p->in_fresh = strcmp(top, "/tmp") == 0;
		return 0;
	}
	if (strcmp(top, "/etc") == 0)
		return 0; /* the root's own files live there */
	if (mount("fnjail-call", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k,nr_inodes=4096") < 0)
		FAIL("cannot mount a tmpfs on %s in the sandbox: %s", top, strerror(errno));
	p->top_len = top_len;
	p->in_fresh = true;
	return 0;
}

int rootfs_place(struct rootfs_call *root, struct placement *p, int tree_fd, const char *path, bool directory,
		 char *err, size_t errlen)
{
	snprintf(p->path, sizeof p->path, "%s", path);
	p->directory = directory;
	p->has_tree = true;
	p->tree = tree_fd;
	if (prepare_top(root, p, path, err, errlen) < 0 || make_mountpoint(root, p, path, err, errlen) < 0)
		return -1;
	if (syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		FAIL("cannot mount %s into the sandbox: %s", path, strerror(errno));
	p->mounted = true;
	return 0;
}

/* Forgets a placement (its descriptor closed): removed, or gone with the
 * tmpfs it was placed in. */
static void forget(struct placement *p)
{
	if (p->has_tree)
		close(p->tree);
	explicit_bzero(p->path, sizeof p->path);
	*p = (struct placement){ .mounted = false };
}

/* Whether p was placed in the tmpfs the other placement mounted. */
static bool shares_top(const struct placement *p, const struct placement *other)
{
	return p != other && other->path[0] && other->top_len && !p->top_len && p->in_fresh &&
	       strncmp(p->path, other->path, other->top_len) == 0 && p->path[other->top_len] == '/';
}

/* Unmounts and removes what rootfs_place() made (the root must be writable):
 * the tmpfs it mounted, with everything in it and mounted on it (a detaching
 * unmount takes the whole tree), or what it created elsewhere. */
int rootfs_unplace(struct placement *p, char *err, size_t errlen)
{
	char *path = p->path;
	if (p->top_len) {
		path[p->top_len] = '\0';
		if (umount2(path, MNT_DETACH) < 0)
			FAIL("cannot unmount the tmpfs on %s: %s", path, strerror(errno));
	} else if (p->mounted && umount2(path, MNT_DETACH) < 0) {
		FAIL("cannot unmount %s: %s", path, strerror(errno));
	}
	if (!p->top_len && (!p->in_fresh || strncmp(path, "/tmp/", 5) == 0)) {
		/* In the root or /tmp; in the other placement's tmpfs, it goes with it. */
		if (p->file_created && (p->directory ? rmdir(path) : unlink(path)) < 0)
			FAIL("cannot remove %s: %s", path, strerror(errno));
		size_t first = p->first_created;
		for (size_t k = strlen(path); first && k > first;) {
			while (k > first && path[--k] != '/')
				;
			path[k] = '\0';
			if (rmdir(path) < 0)
				FAIL("cannot remove %s: %s", path, strerror(errno));
		}
	}
	forget(p);
	return 0;
}

static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		FAIL("cannot write %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/* A placement's own tmpfs is read-only while the call runs, and stays so while
 * the placement is kept for later calls (the reset makes only the root
 * writable again). */
static int seal_top(struct placement *p, char *err, size_t errlen)
{
	if (!p->top_len || p->sealed)
		return 0;
	char top[PATH_MAX];
	memcpy(top, p->path, p->top_len);
	top[p->top_len] = '\0';
	if (mount(NULL, top, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		FAIL("cannot make %s read-only in the sandbox: %s", top, strerror(errno));
	p->sealed = true;
	return 0;
}

int rootfs_finish(struct rootfs_call *root, const struct exec_spec *spec, char *err, size_t errlen)
{
	char text[512];
	uint32_t id = spec->head.sandbox_uid;
	/* Some C library calls (getpwuid, getlogin) want a name for the user.
	 * Rewritten in place: same inodes, so the root's inode numbers stay. */
	snprintf(text, sizeof text,
		 "root:x:0:0:root:/:/usr/sbin/nologin\nfnjail:x:%u:%u:fnjail sandbox:/tmp:/usr/sbin/nologin\n",
		 id, id);
	if (write_file("/etc/passwd", text, err, errlen) < 0)
		return -1;
	snprintf(text, sizeof text, "root:x:0:\nfnjail:x:%u:\n", id);
	if (write_file("/etc/group", text, err, errlen) < 0)
		return -1;
	if (spec->head.tmp_bytes && spec->head.tmp_bytes != root->tmp_bytes) {
		if (mount_tmp(spec->head.tmp_bytes, MS_REMOUNT, "/tmp", err, errlen) < 0)
			return -1;
		root->tmp_bytes = spec->head.tmp_bytes;
	}
	if (seal_top(&root->bundle, err, errlen) < 0 || seal_top(&root->work, err, errlen) < 0 ||
	    seal_top(&root->library, err, errlen) < 0 || seal_top(&root->input, err, errlen) < 0)
		return -1;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
		FAIL("cannot make the sandbox root read-only: %s", strerror(errno));
	return 0;
}

/* Removes these placements (NULL: one that stays), in this order; one in
 * the tmpfs another of them mounted goes with it. (Its mount point may be
 * gone already: a file of a bundle, removed on the host, takes the mounts on
 * it with it.) */
static int unplace_all(struct placement *const *going, size_t count, char *err, size_t errlen)
{
	for (size_t i = 0; i < count; i++) {
		struct placement *p = going[i];
		if (!p || !p->path[0])
			continue;
		bool inside = false;
		for (size_t k = 0; k < count; k++)
			inside |= going[k] && shares_top(p, going[k]);
		if (inside)
			forget(p); /* its mount goes with the tmpfs it is in */
		else if (rootfs_unplace(p, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int rootfs_unplace_entry(struct rootfs_call *root, char *err, size_t errlen)
{
	struct placement *going[] = { &root->library, &root->bundle };
	return unplace_all(going, sizeof going / sizeof going[0], err, errlen);
}

/* After a call: the root writable again; the input and work directory
 * removed, and the library (or program) and bundle with them unless they may
 * stay for the next call (entry_stays, spec_entry_may_stay: the launcher
 * applies the same rule when it decides to keep them; they never share a
 * tmpfs with what goes); /tmp replaced by a fresh tmpfs, whatever the call did
 * there (even a file created and removed leaves the inode counter and the
 * directory's times changed). */
int rootfs_reset(struct rootfs_call *root, bool entry_stays, char *err, size_t errlen)
{
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) < 0)
		FAIL("cannot make the sandbox root writable again: %s", strerror(errno));
	/* In the reverse order of their placing. */
	struct placement *going[] = { &root->input, entry_stays ? NULL : &root->library, &root->work,
				      entry_stays ? NULL : &root->bundle };
	if (unplace_all(going, sizeof going / sizeof going[0], err, errlen) < 0)
		return -1;
	if (umount2("/tmp", MNT_DETACH) < 0)
		FAIL("cannot unmount /tmp: %s", strerror(errno));
	if (mount_tmp(root->tmp_bytes, 0, "/tmp", err, errlen) < 0)
		return -1;
	return root->changed ? 1 : 0;
}

int set_oom_score_adj(int value)
{
	char text[16];
	int len = snprintf(text, sizeof text, "%d", value);
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write(fd, text, (size_t)len) == len ? 0 : -1;
	close(fd);
	return rc;
}
