/* wire.c - parsing execution specs and passing file descriptors. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "launcher.h"

/* A path the sandbox can show at the same place: absolute, canonical-looking,
 * and outside the kernel filesystems the sandbox mounts itself. */
static bool path_is_acceptable(const char *path)
{
	static const char *const reserved[] = { "/proc", "/dev", "/sys" };
	if (path[0] != '/' || strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
		return false;
	size_t len = strlen(path);
	if (len < 2 || path[len - 1] == '/')
		return false;
	if ((len >= 2 && strcmp(path + len - 2, "/.") == 0) ||
	    (len >= 3 && strcmp(path + len - 3, "/..") == 0))
		return false;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		size_t n = strlen(reserved[i]);
		if (strncmp(path, reserved[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return false;
	}
	return true;
}

static int copy_string(char *dst, size_t max, const uint8_t **src, size_t len, const char *what,
		       char *err, size_t errlen)
{
	if (len > max) {
		format_error(err, errlen, "%s is longer than %zu bytes", what, max);
		return -1;
	}
	if (memchr(*src, '\0', len)) {
		format_error(err, errlen, "%s contains a NUL byte", what);
		return -1;
	}
	memcpy(dst, *src, len);
	dst[len] = '\0';
	*src += len;
	return 0;
}

/* NUL-terminated strings packed one after the other (arguments, environment)
 * into dst, with pointers to each in list (NULL-terminated). */
static int copy_strings(char *dst, size_t dstlen, char **list, size_t maxcount, const uint8_t **src, size_t len,
			const char *what, char *err, size_t errlen)
{
	if (len > dstlen || (len > 0 && (*src)[len - 1] != '\0')) {
		format_error(err, errlen, "%s: %zu bytes, not NUL-terminated strings within %zu", what, len, dstlen);
		return -1;
	}
	memcpy(dst, *src, len);
	*src += len;
	size_t count = 0;
	for (size_t i = 0; i < len; i += strlen(dst + i) + 1) {
		if (count == maxcount) {
			format_error(err, errlen, "%s: more than %zu", what, maxcount);
			return -1;
		}
		list[count++] = dst + i;
	}
	list[count] = NULL;
	return 0;
}

/* What each kind of execution uses, and nothing else. */
static int check_kind(const struct exec_spec *spec, char *err, size_t errlen)
{
	const struct fnj_exec *h = &spec->head;
	bool socket = h->flags & FNJ_EXEC_STDIN_SOCKET;
	switch (h->kind) {
	case FNJ_KIND_LIBRARY:
		if (spec->function[0] == '\0') {
			format_error(err, errlen, "function name is empty");
			return -1;
		}
		if (h->argv_len || h->env_len || h->cwd_len || h->work_len || socket || h->idle_ms) {
			format_error(err, errlen, "a library call has no arguments, environment, working or work directory, or connection");
			return -1;
		}
		return 0;
	case FNJ_KIND_PROGRAM:
	case FNJ_KIND_BUILD:
		if (!spec->argv[0] || spec->argv[0][0] == '\0') {
			format_error(err, errlen, "a %s needs at least its first argument", h->kind == FNJ_KIND_BUILD ? "build command" : "program");
			return -1;
		}
		if (h->function_len) {
			format_error(err, errlen, "a program has no function name");
			return -1;
		}
		if ((h->kind == FNJ_KIND_BUILD) != (h->work_len > 0) || (h->kind == FNJ_KIND_BUILD) == (h->library_len > 0)) {
			format_error(err, errlen, "a program names its executable and no work directory; a build names a work directory and no executable");
			return -1;
		}
		if (socket && h->input_len) {
			format_error(err, errlen, "standard input is either a file or a connection");
			return -1;
		}
		if (h->idle_ms && !socket) {
			format_error(err, errlen, "an idle limit needs a connection");
			return -1;
		}
		for (char *const *e = spec->envp; *e; e++) {
			if (!strchr(*e, '=') || **e == '=') {
				format_error(err, errlen, "environment entry '%s' is not NAME=VALUE", *e);
				return -1;
			}
		}
		if (h->cwd_len && spec->cwd[0] != '/') {
			format_error(err, errlen, "working directory '%s' is not absolute", spec->cwd);
			return -1;
		}
		return 0;
	default:
		format_error(err, errlen, "unknown kind of execution %u", h->kind);
		return -1;
	}
}

int spec_parse(const uint8_t *buf, size_t len, struct exec_spec *spec, char *err, size_t errlen)
{
	if (len < sizeof spec->head) {
		format_error(err, errlen, "execution spec is truncated (%zu bytes)", len);
		return -1;
	}
	memcpy(&spec->head, buf, sizeof spec->head);
	const struct fnj_exec *h = &spec->head;
	size_t expected = sizeof *h + (size_t)h->library_len + h->function_len + h->input_len + h->output_len +
			  h->cwd_len + h->bundle_len + h->work_len + h->argv_len + h->env_len + h->filter_len +
			  (size_t)h->tenant_groups * sizeof(uint32_t);
	if (expected != len) {
		format_error(err, errlen, "execution spec lengths add up to %zu, frame has %zu", expected,
			     len);
		return -1;
	}
	const uint8_t *p = buf + sizeof *h;
	if (copy_string(spec->library, FNJ_MAX_PATH, &p, h->library_len, "library path", err, errlen) ||
	    copy_string(spec->function, FNJ_MAX_FUNCTION, &p, h->function_len, "function name", err,
			errlen) ||
	    copy_string(spec->input, FNJ_MAX_PATH, &p, h->input_len, "input path", err, errlen) ||
	    copy_string(spec->output, FNJ_MAX_PATH, &p, h->output_len, "output path", err, errlen) ||
	    copy_string(spec->cwd, FNJ_MAX_PATH, &p, h->cwd_len, "working directory", err, errlen) ||
	    copy_string(spec->bundle, FNJ_MAX_PATH, &p, h->bundle_len, "bundle directory", err, errlen) ||
	    copy_string(spec->work, FNJ_MAX_PATH, &p, h->work_len, "work directory", err, errlen) ||
	    copy_strings(spec->args, sizeof spec->args, spec->argv, FNJ_MAX_ARGS, &p, h->argv_len, "arguments", err,
			 errlen) ||
	    copy_strings(spec->env, sizeof spec->env, spec->envp, FNJ_MAX_ENV_ENTRIES, &p, h->env_len,
			 "environment", err, errlen))
		return -1;
	spec->filter = h->filter_len ? p : NULL;
	p += h->filter_len;
	if (h->tenant_groups > FNJ_MAX_GROUPS) {
		format_error(err, errlen, "%u supplementary groups, more than %d", h->tenant_groups, FNJ_MAX_GROUPS);
		return -1;
	}
	memcpy(spec->groups, p, (size_t)h->tenant_groups * sizeof(uint32_t));

	const struct {
		const char *path, *what;
		bool present;
	} placed[] = { { spec->library, "library path", h->library_len > 0 },
		       { spec->input, "input path", h->input_len > 0 },
		       { spec->bundle, "bundle directory", h->bundle_len > 0 },
		       { spec->work, "work directory", h->work_len > 0 } };
	for (size_t i = 0; i < sizeof placed / sizeof placed[0]; i++) {
		if (placed[i].present && !path_is_acceptable(placed[i].path)) {
			format_error(err, errlen, "%s '%s' is not an absolute canonical path outside /proc, /dev and /sys",
				     placed[i].what, placed[i].path);
			return -1;
		}
	}
	if (spec->output[0] != '/') {
		format_error(err, errlen, "output path '%s' is not absolute", spec->output);
		return -1;
	}
	if (check_kind(spec, err, errlen) < 0)
		return -1;
	if (h->filter_len % 8 != 0 || h->filter_len / 8 > FNJ_MAX_FILTER) {
		format_error(err, errlen, "seccomp filter of %u bytes is not 1 to %d instructions",
			     h->filter_len, FNJ_MAX_FILTER);
		return -1;
	}
	if (h->timeout_ms == 0) {
		format_error(err, errlen, "timeout must be positive");
		return -1;
	}
	return 0;
}

ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * FNJ_SPEC_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(&control, 0, sizeof control);
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * FNJ_SPEC_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof control.buf };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)i, sizeof fd);
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

bool same_top_directory(const char *a, const char *b)
{
	size_t len = strcspn(a + 1, "/") + 1;
	return strncmp(a, b, len) == 0 && (b[len] == '/' || b[len] == '\0');
}

bool spec_entry_may_stay(const struct exec_spec *spec)
{
	const struct fnj_exec *h = &spec->head;
	bool input_placed = h->kind == FNJ_KIND_LIBRARY && h->input_len;
	if (h->kind == FNJ_KIND_BUILD || h->work_len || same_top_directory(spec->library, "/tmp") ||
	    (h->bundle_len && same_top_directory(spec->bundle, "/tmp")))
		return false;
	return !(input_placed && (same_top_directory(spec->library, spec->input) ||
				  (h->bundle_len && same_top_directory(spec->bundle, spec->input))));
}

/* Zeroes what a spec held, touching only the bytes it used (the supervisor's
 * pages are shared with the worker it forked: every page written costs). */
void spec_clear(struct exec_spec *spec)
{
	char *strings[] = { spec->library, spec->function, spec->input, spec->output, spec->cwd, spec->bundle, spec->work };
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		explicit_bzero(strings[i], strlen(strings[i]) + 1);
	/* The lengths may be a rejected spec's: never beyond the buffers. */
	explicit_bzero(spec->args, spec->head.argv_len < sizeof spec->args ? spec->head.argv_len : sizeof spec->args);
	explicit_bzero(spec->env, spec->head.env_len < sizeof spec->env ? spec->head.env_len : sizeof spec->env);
	/* The lists end at their first NULL: only what was set is written. */
	for (size_t i = 0; spec->argv[i]; i++)
		spec->argv[i] = NULL;
	for (size_t i = 0; spec->envp[i]; i++)
		spec->envp[i] = NULL;
	explicit_bzero(&spec->head, sizeof spec->head);
	spec->filter = NULL;
}
