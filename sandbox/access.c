/* access.c - the input file, opened with the tenant's own credentials, and
 * made readable to the sandbox when only the tenant may read it.
 *
 * The server runs as root and could read anything: checking permission bits
 * itself would make it a confused deputy. So the launcher opens the input path
 * with the tenant's file-system uid, gid and groups (per-thread credentials; it
 * is single-threaded), which the kernel checks like any open by the tenant:
 * every directory on the way, the file's mode and ACLs. That one open, without
 * following symbolic links (checked-open.c), is the only walk of the path: the
 * mount the sandbox gets is cloned from its descriptor.
 *
 * Inside, the function runs as a sandbox uid, not the tenant's. A file others
 * may read needs nothing more; otherwise the mount is idmapped: the owner (when
 * it is the tenant) or the group (when the tenant reads through it) appears as
 * the sandbox's uid or gid, read-only, for this one mount only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

/* Raw system calls: glibc's setgroups would change every thread's groups.
 * setfsuid and setfsgid return the previous id whatever happens, so each
 * switch is read back (an invalid id changes nothing and returns the current
 * one). Returns 0, or -1 when the credentials are not what was asked. */
static int set_fs_credentials(uid_t uid, gid_t gid, size_t ngroups, const uint32_t *groups)
{
	gid_t list[FNJ_MAX_GROUPS];
	for (size_t i = 0; i < ngroups; i++)
		list[i] = groups[i];
	if (syscall(SYS_setgroups, ngroups, list) < 0)
		return -1;
	syscall(SYS_setfsgid, gid);
	if ((gid_t)syscall(SYS_setfsgid, (gid_t)-1) != gid) {
		errno = EPERM;
		return -1;
	}
	syscall(SYS_setfsuid, uid);
	if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != uid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* Back to root's own file-system credentials. A launcher that cannot get them
 * back would go on acting with a tenant's: it stops instead. */
static void restore_fs_credentials(void)
{
	if (set_fs_credentials(0, 0, 0, NULL) < 0)
		die("cannot switch back to root's file-system credentials after opening an input file: %s; stopping",
		    strerror(errno));
}

/* Opens the input path as the tenant: returns the O_PATH descriptor of what
 * was opened, and in *readable a descriptor of that very inode open for
 * reading (reopening it checks read permission as the tenant, without walking
 * the path again); -1 with *denied when the tenant may not read it. */
static int open_as_tenant(const struct exec_spec *spec, int *readable, bool *denied, char *err, size_t errlen)
{
	const struct fnj_exec *h = &spec->head;
	*denied = false;
	*readable = -1;
	if (set_fs_credentials(h->tenant_uid, h->tenant_gid, h->tenant_groups, spec->groups) < 0) {
		format_error(err, errlen, "cannot take the file-system credentials of uid %u to open the input file: %s",
			     h->tenant_uid, strerror(errno));
		restore_fs_credentials();
		return -1;
	}
	char proc_path[64];
	int fd = open_checked_path(spec->input, "input file", err, errlen);
	if (fd < 0 && errno != ELOOP)
		format_error(err, errlen, "uid %u cannot read input file %s: %s", h->tenant_uid, spec->input, strerror(errno));
	struct stat st;
	if (fd >= 0 && regular_file_or_error(fd, "input file", spec->input, &st, err, errlen) == 0) {
		snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
		*readable = open(proc_path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (*readable < 0)
			format_error(err, errlen, "uid %u cannot read input file %s: %s", h->tenant_uid, spec->input,
				     strerror(errno));
	}
	restore_fs_credentials();
	if (*readable < 0) {
		if (fd >= 0)
			close(fd);
		*denied = true;
		return -1;
	}
	return fd;
}

int open_input_as_tenant(const struct exec_spec *spec, bool *denied, char *err, size_t errlen)
{
	int readable, fd = open_as_tenant(spec, &readable, denied, err, errlen);
	if (fd < 0)
		return -1;
	close(readable);
	int tree = detached_mount_of(fd, MOUNT_DATA, "input file", spec->input, err, errlen);
	close(fd);
	return tree;
}

int open_stdin_as_tenant(const struct exec_spec *spec, bool *denied, char *err, size_t errlen)
{
	int readable, fd = open_as_tenant(spec, &readable, denied, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	/* Blocking, as a program expects its standard input. */
	if (fcntl(readable, F_SETFL, fcntl(readable, F_GETFL) & ~O_NONBLOCK) < 0) {
		format_error(err, errlen, "cannot make input file %s blocking: %s", spec->input, strerror(errno));
		close(readable);
		return -1;
	}
	return readable;
}

int idmap_for_sandbox(const struct exec_spec *spec, int tree_fd, uint32_t sandbox_id, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(tree_fd, &st) < 0) {
		format_error(err, errlen, "cannot inspect input file %s: %s", spec->input, strerror(errno));
		return -1;
	}
	if (st.st_mode & S_IROTH)
		return 0; /* the sandbox reads it as "others", like anyone */
	char uid_map[64], gid_map[64];
	/* The owner appears as the sandbox's uid when it is the tenant, else as
	 * itself (the kernel wants both maps); the group as the sandbox's gid,
	 * for a tenant that reads through the group. */
	unsigned owner_to = st.st_uid == spec->head.tenant_uid ? sandbox_id : (unsigned)st.st_uid;
	snprintf(uid_map, sizeof uid_map, "%u %u 1\n", (unsigned)st.st_uid, owner_to);
	snprintf(gid_map, sizeof gid_map, "%u %u 1\n", (unsigned)st.st_gid, sandbox_id);
	char why[FNJ_MAX_MESSAGE];
	if (idmap_mount(tree_fd, uid_map, gid_map, why, sizeof why) < 0) {
		format_error(err, errlen,
			     "input file %s is readable only by its owner or group, and its file system cannot show it "
			     "to the sandbox through an idmapped mount (%s): make it readable by others",
			     spec->input, why);
		return -1;
	}
	return 0;
}
