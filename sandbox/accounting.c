/* accounting.c - every process of a call, seen as it ends, whoever reaps it.
 *
 * The supervisor only reaps the worker and orphans: a child the function
 * waits for itself (a vfork'd helper killed at its CPU limit, a child stopped
 * by the file size limit) would end unseen, and its limit unnamed. So the
 * supervisor turns on BSD process accounting (acct(2)) for its sandbox's pid
 * namespace: the kernel appends a record for every process of the namespace as
 * it exits (exit status, whether a signal ended it, its own CPU time).
 *
 * The file lives on a small tmpfs of its own, mounted where the sandbox's
 * /proc will cover it, and is unlinked at once: no process of the sandbox can
 * reach it (nor turn accounting off: acct needs CAP_SYS_PACCT and the default
 * seccomp profile refuses it), and the root can be made read-only while the
 * kernel writes there. Records are read, then the file emptied, after each
 * call. The tmpfs pages are charged to whoever exits, so a call that ends
 * very many processes pays for their records within its own memory limit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/acct.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

/* The kernel's ticks for accounting times (AHZ), whatever HZ is. */
#define ACCT_TICKS_PER_SECOND 100u

int accounting_start(const char *dir, char *err, size_t errlen)
{
	char path[256];
	if (mount("fnjail-acct", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=16m,nr_inodes=16") < 0) {
		format_error(err, errlen, "cannot mount the process accounting tmpfs: %s", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/acct", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		format_error(err, errlen, "cannot create the process accounting file: %s", strerror(errno));
		return -1;
	}
	if (syscall(SYS_acct, path) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		umount2(dir, MNT_DETACH);
		if (e == ENOSYS)
			return ACCOUNTING_UNAVAILABLE;
		format_error(err, errlen, "cannot turn on process accounting for the sandbox: %s", strerror(e));
		return -1;
	}
	unlink(path);
	return fd;
}

/* comp_t: 13 bits of mantissa, 3 bits of base-8 exponent. */
static uint64_t comp_ticks(comp_t c)
{
	return (uint64_t)(c & 0x1fff) << (3 * ((c >> 13) & 7));
}

void accounting_collect(int fd, uint64_t cpu_rlimit_seconds, struct fnj_result *r)
{
	if (fd < 0)
		return;
	struct acct_v3 records[64];
	off_t offset = 0;
	ssize_t n;
	while ((n = pread(fd, records, sizeof records, offset)) > 0) {
		size_t count = (size_t)n / sizeof records[0];
		if (count == 0)
			break;
		for (size_t i = 0; i < count; i++) {
			const struct acct_v3 *a = &records[i];
			if ((a->ac_version & 0x7f) != 3)
				continue;
			uint64_t ticks = comp_ticks(a->ac_utime) + comp_ticks(a->ac_stime);
			if (cpu_rlimit_seconds && ticks >= cpu_rlimit_seconds * ACCT_TICKS_PER_SECOND)
				r->flags |= FNJ_RESULT_CPU_LIMIT;
			if (!(a->ac_flag & AXSIG))
				continue;
			int sig = (int)(a->ac_exitcode & 0x7f);
			if (sig == SIGXCPU)
				r->flags |= FNJ_RESULT_CPU_LIMIT;
			else if (sig == SIGXFSZ)
				r->flags |= FNJ_RESULT_FILE_SIZE_LIMIT;
		}
		offset += (off_t)(count * sizeof records[0]);
	}
	if (n < 0)
		log_msg("cannot read the process accounting records: %s", strerror(errno));
}

int accounting_clear(int fd)
{
	return fd < 0 ? 0 : ftruncate(fd, 0);
}
