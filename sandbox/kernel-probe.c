/* kernel-probe.c - the kernel features the launcher needs, checked once at
 * start, so that a host that lacks one refuses to start with a message naming
 * it (and the Linux version that brought it) instead of failing every call.
 *
 * Each probe makes the call in a way that does nothing (or undoes itself) and
 * tells "the kernel knows this call" (any answer but ENOSYS, or a specific
 * error for a bad argument) from "it does not". Optional features (process
 * accounting) are reported, not required. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

struct probe {
	const char *feature; /* what the launcher uses it for is in the message */
	const char *since;   /* the first Linux version that has it */
	int (*run)(void);    /* 0 when present, else an errno */
};

static int answer(long rc, int absent)
{
	return rc >= 0 || errno != absent ? 0 : errno;
}

static int probe_openat2(void)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
	if (fd >= 0) {
		close((int)fd);
		return 0;
	}
	return errno;
}

static int probe_open_tree(void)
{
	/* The launcher runs in a mount namespace of its own: a clone of / is
	 * detached and disappears with its descriptor. */
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd >= 0) {
		close((int)fd);
		return 0;
	}
	return errno;
}

static int probe_move_mount(void)
{
	return answer(syscall(SYS_move_mount, -1, "", -1, "", MOVE_MOUNT_F_EMPTY_PATH), ENOSYS);
}

static int probe_mount_setattr(void)
{
	/* With MOUNT_ATTR_IDMAP, which came with it: a bad user namespace fd is EBADF. */
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)-1 };
	return answer(syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, &attr, sizeof attr), ENOSYS);
}

static int probe_close_range(void)
{
	/* first > last: EINVAL from a kernel that knows the call. */
	return answer(syscall(SYS_close_range, 2u, 1u, 0u), ENOSYS);
}

static int probe_pidfd(void)
{
	long fd = syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return errno;
	long other = syscall(SYS_pidfd_getfd, fd, 0, 0);
	int e = other < 0 ? errno : 0;
	if (other >= 0)
		close((int)other);
	close((int)fd);
	return e == ENOSYS ? e : 0;
}

static int probe_seccomp_notify(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
		return errno;
	struct seccomp_notif_sizes sizes;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		return errno;
	return 0;
}

static int probe_wipeonfork(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	int e = madvise(p, 4096, MADV_WIPEONFORK) < 0 ? errno : 0;
	munmap(p, 4096);
	return e;
}

static int probe_ns_last_pid(void)
{
	/* How a reused sandbox gives each call the pids of a fresh namespace. */
	return access("/proc/sys/kernel/ns_last_pid", W_OK) < 0 ? errno : 0;
}

static const struct probe required[] = {
	{ "openat2 (inputs and libraries opened without following symlinks)", "5.6", probe_openat2 },
	{ "open_tree (files given to sandboxes as detached mounts)", "5.2", probe_open_tree },
	{ "move_mount (placing those mounts in a sandbox)", "5.2", probe_move_mount },
	{ "mount_setattr with idmapped mounts (read-only and idmapped input mounts)", "5.12", probe_mount_setattr },
	{ "close_range (closing inherited descriptors)", "5.9", probe_close_range },
	{ "pidfd_open and pidfd_getfd (taking the seccomp listener from a worker)", "5.6", probe_pidfd },
	{ "seccomp user notification (naming refused system calls)", "5.5", probe_seccomp_notify },
	{ "MADV_WIPEONFORK (no sandbox inherits another call's request)", "4.14", probe_wipeonfork },
	{ "/proc/sys/kernel/ns_last_pid (CONFIG_CHECKPOINT_RESTORE: fresh pids for every call of a reused sandbox)",
	  "3.3", probe_ns_last_pid },
};

void kernel_probe(void)
{
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		int e = required[i].run();
		if (e)
			die("this kernel lacks %s: %s; fnjail needs Linux %s or later with it enabled",
			    required[i].feature, strerror(e), required[i].since);
	}
}

bool kernel_has_process_accounting(void)
{
	/* acct() on a directory fails with EISDIR where the call exists, without
	 * turning accounting on or off; ENOSYS where the kernel lacks it. */
	long rc = syscall(SYS_acct, "/");
	return !(rc < 0 && errno == ENOSYS);
}
