/* ipc.c - the classic client library over fnjail's UNIX socket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"

int create_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

int connect_socket(int fd)
{
	struct sockaddr_un addr;
	const char *path = getenv("FNJAIL_SOCKET");
	if (!path || !*path)
		path = SOCKET_NAME;
	if (strlen(path) >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	return connect(fd, (struct sockaddr *)&addr, sizeof addr);
}

/* Sends all of buf (a stream socket may take it in parts). */
ssize_t send_socket(int fd, const char *buf, size_t len)
{
	size_t sent = 0;
	while (sent < len) {
		ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sent += (size_t)n;
	}
	return (ssize_t)sent;
}

ssize_t recv_socket(int fd, char *buf, size_t len)
{
	ssize_t n;
	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

void close_socket(int fd)
{
	close(fd);
}
