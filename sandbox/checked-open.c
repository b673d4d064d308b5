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
 * AT_EMPTY_PATH), never from the path again. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

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

int detached_mount_of(int fd, bool executable, const char *what, const char *path, char *err, size_t errlen)
{
	int tree = (int)syscall(SYS_open_tree, fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) {
		format_error(err, errlen, "cannot make a mount of %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	/* Read-only; and no access times: a sandbox reading a shared file must
	 * not change what another tenant or the host can observe of it. */
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					       MOUNT_ATTR_NOATIME | (executable ? 0 : MOUNT_ATTR_NOEXEC),
				   .attr_clr = MOUNT_ATTR__ATIME };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
		format_error(err, errlen, "cannot make %s %s read-only: %s", what, path, strerror(errno));
		close(tree);
		return -1;
	}
	return tree;
}
