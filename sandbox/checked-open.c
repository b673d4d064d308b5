/* checked-open.c - opening the library and input paths the server checked,
 * and turning what was opened into the mount a sandbox receives.
 *
 * The server resolves a path (realpath) and checks it against the policy; the
 * launcher then walks it again. If anything on the way had become a symbolic
 * link in between (a tenant swapping a directory and a link with
 * renameat2(RENAME_EXCHANGE)), following it would hand the sandbox a file the
 * policy never allowed. A canonical path has no symbolic link in it, so the
 * launcher opens it with RESOLVE_NO_SYMLINKS: a link found on the way means the
 * path changed since the check, and the call is refused. The descriptor opened
 * is then the only thing used: the mount is cloned from it (open_tree with
 * AT_EMPTY_PATH), never from the path again.
 *
 * The launcher lives in a mount namespace of its own, a copy of the host's
 * taken when it started. Paths are opened in the host's, where the server
 * checked them (a file system the server mounted since, such as a build's
 * size-limited work directory, is there): the launcher steps into it for the
 * opens of a call and back out (host_mounts_enter, host_mounts_leave). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

static int host_mounts = -1, own_mounts = -1;

void host_mounts_init(void)
{
	host_mounts = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (host_mounts < 0)
		die("cannot open the host's mount namespace: %s", strerror(errno));
}

/* The first call (after the launcher entered its own) records its own. */
void host_mounts_enter(void)
{
	if (own_mounts < 0 && (own_mounts = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
		die("cannot open the launcher's mount namespace: %s", strerror(errno));
	if (setns(host_mounts, CLONE_NEWNS) < 0)
		die("cannot enter the host's mount namespace: %s", strerror(errno));
}

/* Back in its own: a launcher that cannot return stops rather than prepare
 * sandboxes from the host's mounts. */
void host_mounts_leave(void)
{
	if (setns(own_mounts, CLONE_NEWNS) < 0)
		die("cannot return to the launcher's mount namespace: %s; stopping", strerror(errno));
}

int open_checked_path(const char *path, const char *what, char *err, size_t errlen)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
	if (fd >= 0)
		return fd;
	int saved = errno;
	if (saved == ELOOP)
		format_error(err, errlen, "%s %s changed after it was checked: a symbolic link is on its path now", what, path);
	else
		format_error(err, errlen, "cannot open %s %s: %s", what, path, strerror(saved));
	errno = saved;
	return -1;
}

int regular_file_or_error(int fd, const char *what, const char *path, struct stat *st, char *err, size_t errlen)
{
	if (fstat(fd, st) < 0) {
		format_error(err, errlen, "cannot inspect %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		format_error(err, errlen, "%s %s is not a regular file", what, path);
		return -1;
	}
	return 0;
}

int directory_or_error(int fd, const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		format_error(err, errlen, "cannot inspect %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		format_error(err, errlen, "%s %s is not a directory", what, path);
		return -1;
	}
	return 0;
}

int detached_mount_of(int fd, enum mount_use use, const char *what, const char *path, char *err, size_t errlen)
{
	int tree = (int)syscall(SYS_open_tree, fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) {
		format_error(err, errlen, "cannot make a mount of %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	/* Read-only (but a build's work directory); and no access times: a
	 * sandbox reading a shared file must not change what another tenant or
	 * the host can observe of it. */
	struct mount_attr attr = { .attr_set = (use == MOUNT_WRITABLE ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID |
					       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOATIME |
					       (use == MOUNT_DATA ? MOUNT_ATTR_NOEXEC : 0),
				   .attr_clr = MOUNT_ATTR__ATIME | (use == MOUNT_WRITABLE ? MOUNT_ATTR_RDONLY : 0) };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
		format_error(err, errlen, "cannot set the mount attributes of %s %s: %s", what, path, strerror(errno));
		close(tree);
		return -1;
	}
	return tree;
}
