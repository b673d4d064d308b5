/* idmap.c - idmapped mounts: a detached mount shown to the sandbox with other
 * owners, for that one mount only (Linux 5.12; tmpfs since 6.3).
 *
 * The kernel takes the mapping from a user namespace: a child unshares one and
 * waits while its uid_map and gid_map are written, the mount takes the
 * namespace, and the child exits. Used for an input file only its owner or
 * group may read (access.c) and for a build's work directory (work-dir.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

#include "launcher.h"

/* A user namespace whose uid_map/gid_map say "from -> to". Returns its fd. */
static int mapping_namespace(const char *uid_map, const char *gid_map, char *err, size_t errlen)
{
	int unshared[2], release[2];
	if (pipe2(unshared, O_CLOEXEC) < 0) {
		format_error(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(release, O_CLOEXEC) < 0) {
		format_error(err, errlen, "pipe: %s", strerror(errno));
		close(unshared[0]);
		close(unshared[1]);
		return -1;
	}
	pid_t child = fork();
	if (child == 0) {
		close(unshared[0]);
		close(release[1]);
		char c = unshare(CLONE_NEWUSER) == 0;
		ssize_t unused = write(unshared[1], &c, 1);
		unused = read(release[0], &c, 1); /* until the parent is done */
		(void)unused;
		_exit(0);
	}
	close(unshared[1]);
	close(release[0]);
	char ok = 0, path[64];
	int ns = -1;
	if (child > 0 && read(unshared[0], &ok, 1) == 1 && ok) {
		const char *files[] = { "uid_map", "gid_map" };
		const char *maps[] = { uid_map, gid_map };
		for (int i = 0; i < 2 && ok; i++) {
			snprintf(path, sizeof path, "/proc/%d/%s", (int)child, files[i]);
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			ok = fd >= 0 && write(fd, maps[i], strlen(maps[i])) == (ssize_t)strlen(maps[i]);
			if (fd >= 0)
				close(fd);
		}
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
		if (ok)
			ns = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (ns < 0)
		format_error(err, errlen, "cannot make the user namespace of an idmapped mount: %s", strerror(errno));
	close(unshared[0]);
	close(release[1]); /* the child reads EOF and exits */
	if (child > 0)
		waitpid(child, NULL, __WALL);
	return ns;
}

int idmap_mount(int tree_fd, const char *uid_map, const char *gid_map, char *err, size_t errlen)
{
	int ns = mapping_namespace(uid_map, gid_map, err, errlen);
	if (ns < 0)
		return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns };
	int rc = (int)syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH, &attr, sizeof attr);
	int saved = errno;
	close(ns);
	if (rc < 0)
		format_error(err, errlen, "%s", strerror(saved));
	return rc;
}
