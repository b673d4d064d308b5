/* handoff.c - connections the server hands over to programs.
 *
 * A per-connection program's standard input and output are the TCP connection
 * itself. The server accepts it, then passes the descriptor on the handoff
 * socket (a SOCK_SEQPACKET socket given to the launcher at start with
 * --handoff-socket): one message, struct fnj_handoff naming the execution, the
 * descriptor attached (SCM_RIGHTS); then it sends the FNJ_FRAME_EXEC, and
 * closes its own copy. The launcher keeps the descriptor until that execution
 * is dispatched (it goes to the supervisor with the call) or fails; one that
 * no execution claims is closed when its slot is needed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

struct handed {
	uint32_t id;
	int fd; /* -1: a free slot */
};

static int channel = -1;
static struct handed *handed;
static uint32_t slots, next_victim;

void handoff_init(int fd, uint32_t capacity)
{
	channel = fd;
	if (fd < 0)
		return;
	int type;
	socklen_t len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
		die("--handoff-socket %d is not a SOCK_SEQPACKET socket", fd);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("cannot set up the handoff socket: %s", strerror(errno));
	slots = capacity;
	handed = calloc(slots, sizeof *handed);
	if (!handed)
		die("out of memory");
	for (uint32_t i = 0; i < slots; i++)
		handed[i].fd = -1;
}

int handoff_fd(void)
{
	return channel;
}

static void keep(uint32_t id, int fd)
{
	for (uint32_t i = 0; i < slots; i++) {
		if (handed[i].fd < 0) {
			handed[i] = (struct handed){ .id = id, .fd = fd };
			return;
		}
	}
	/* Full: the server sends a connection right before its execution, so
	 * the oldest unclaimed one is a leftover. */
	struct handed *victim = &handed[next_victim++ % slots];
	log_msg("no execution claimed the connection handed over for %u; closing it", victim->id);
	close(victim->fd);
	*victim = (struct handed){ .id = id, .fd = fd };
}

void handoff_receive(void)
{
	if (channel < 0)
		return;
	for (;;) {
		struct fnj_handoff message;
		int fds[FNJ_SPEC_MAX_FDS], nfds = 0;
		ssize_t n = recv_with_fds(channel, &message, sizeof message, fds, FNJ_SPEC_MAX_FDS, &nfds);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			die("the handoff socket from the server %s", n == 0 ? "was closed" : strerror(errno));
		if ((size_t)n != sizeof message || nfds != 1) {
			log_msg("malformed handoff message from the server (%zd bytes, %d descriptors); ignored", n, nfds);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		keep(message.id, fds[0]);
	}
}

int handoff_take(uint32_t id)
{
	handoff_receive(); /* sent before the execution's frame: it is queued by now */
	for (uint32_t i = 0; i < slots; i++) {
		if (handed[i].fd >= 0 && handed[i].id == id) {
			int fd = handed[i].fd;
			handed[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

/* A connection is a stream socket; watching it for idleness needs TCP's
 * counters (TCP_INFO). A program expects its stdin and stdout to block: the
 * server's event loop made the connection non-blocking (the flag belongs to
 * the open connection, which only the launcher holds now). */
int prepare_connection(int fd, uint32_t idle_ms, char *err, size_t errlen)
{
	int type, protocol;
	socklen_t len = sizeof type;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM) {
		format_error(err, errlen, "the connection handed over is not a stream socket");
		return -1;
	}
	len = sizeof protocol;
	if (idle_ms && (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 || protocol != IPPROTO_TCP)) {
		format_error(err, errlen, "an idle limit needs a TCP connection");
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		format_error(err, errlen, "cannot make the connection blocking: %s", strerror(errno));
		return -1;
	}
	return 0;
}
