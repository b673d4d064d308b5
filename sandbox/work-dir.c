/* work-dir.c - a build's work directory: a private copy of the bundle the
 * server made, placed in the sandbox at its own path, writable there.
 *
 * It is opened like every path (checked-open.c) and cloned as a writable
 * mount, idmapped so that its root-owned files appear owned by the sandbox's
 * uid and gid, and what the build creates is owned by root on disk: the server
 * reads the result as its own, and nothing needs a chown.
 *
 * Root-owned files the sandbox may chmod: a build could leave a setuid-root
 * file there. So the directory must be on a file system mounted nosuid (the
 * server's size-limited tmpfs is, src/launcher/work-dir.ts); one that honours
 * setuid bits is refused. The size of that file system is the build's disk
 * limit: the supervisor names it when it was full at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "launcher.h"

int open_work_dir(const char *path, uint32_t sandbox_id, char *err, size_t errlen)
{
	int fd = open_checked_path(path, "work directory", err, errlen);
	if (fd < 0)
		return -1;
	struct statvfs vfs;
	int tree = -1;
	if (directory_or_error(fd, "work directory", path, err, errlen) < 0) {
		; /* err says what */
	} else if (fstatvfs(fd, &vfs) < 0) {
		format_error(err, errlen, "cannot inspect the file system of work directory %s: %s", path, strerror(errno));
	} else if (!(vfs.f_flag & ST_NOSUID)) {
		format_error(err, errlen,
			     "work directory %s is on a file system that honours setuid bits: a build could leave a "
			     "setuid-root file there; give it a nosuid file system of its own",
			     path);
	} else {
		tree = detached_mount_of(fd, MOUNT_WRITABLE, "work directory", path, err, errlen);
	}
	close(fd);
	if (tree < 0)
		return -1;
	char uid_map[64], gid_map[64], why[FNJ_MAX_MESSAGE];
	snprintf(uid_map, sizeof uid_map, "0 %u 1\n", sandbox_id);
	snprintf(gid_map, sizeof gid_map, "0 %u 1\n", sandbox_id);
	if (idmap_mount(tree, uid_map, gid_map, why, sizeof why) < 0) {
		format_error(err, errlen, "cannot make work directory %s writable for the sandbox (an idmapped mount: %s)",
			     path, why);
		close(tree);
		return -1;
	}
	return tree;
}
