/* classic-server.c - the baseline of bench/: the classic lambda-function-loader
 * server, unsandboxed, one fork per request, in C.
 *
 *   classic-server [SOCKET] OUTPUT_DIR      (SOCKET defaults to $FNJAIL_SOCKET)
 *
 * For each connection the parent receives one command,
 * "<libname> [<funcname> [<filename>]]" (no terminator), and forks. The child
 * creates an output file with mkstemp in OUTPUT_DIR, points stdout at it,
 * dlopens the library, resolves the function (default "run") and calls f() or
 * f(filename), flushes, and sends the file's path back (no terminator). On any
 * failure before the call, the file holds "Error: <command> could not be
 * executed.\n". A function that crashes leaves what it printed and the client
 * sees the connection close without a reply. The parent never waits: children
 * are reaped on SIGCHLD with WNOHANG. No sandbox, no policy: this only measures
 * what a call costs without them. Stops on SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFSIZE 1024
#define BACKLOG 4096
/* A client that connects and sends nothing may hold the parent this long. */
#define RECV_TIMEOUT_MS 1000

static volatile sig_atomic_t stopping;
static const char *output_dir;

static void on_sigchld(int sig)
{
	(void)sig;
	int saved = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The child: run one command, answer with the output file's path. */
static void serve_command(int conn, char *command)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/out-XXXXXX", output_dir) >= (int)sizeof path)
		_exit(1);
	int out = mkstemp(path);
	if (out < 0)
		_exit(1);

	char copy[BUFSIZE];
	strcpy(copy, command);
	char *save = NULL;
	char *lib = strtok_r(copy, " ", &save);
	char *func = lib ? strtok_r(NULL, " ", &save) : NULL;
	char *file = func ? strtok_r(NULL, " ", &save) : NULL;

	void *handle = lib ? dlopen(lib, RTLD_NOW) : NULL;
	void *sym = handle ? dlsym(handle, func ? func : "run") : NULL;
	if (!sym) {
		dprintf(out, "Error: %s could not be executed.\n", command);
	} else {
		fflush(stdout);
		if (dup2(out, STDOUT_FILENO) < 0)
			_exit(1);
		if (file)
			((void (*)(const char *))sym)(file);
		else
			((void (*)(void))sym)();
		fflush(stdout);
	}
	close(out);
	send_all(conn, path, strlen(path));
	close(conn);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *socket_path = argc >= 3 ? argv[1] : getenv("FNJAIL_SOCKET");
	output_dir = argc >= 3 ? argv[2] : argc == 2 ? argv[1] : NULL;
	if (argc < 2 || argc > 3 || !socket_path || !*socket_path || !output_dir) {
		fprintf(stderr, "usage: classic-server [SOCKET] OUTPUT_DIR   (SOCKET defaults to $FNJAIL_SOCKET)\n");
		return 2;
	}

	struct sigaction sa = { 0 };
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_stop;
	sa.sa_flags = 0; /* interrupt accept() */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path) {
		fprintf(stderr, "classic-server: socket path too long: %s\n", socket_path);
		return 1;
	}
	strcpy(addr.sun_path, socket_path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(socket_path);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, BACKLOG) < 0) {
		fprintf(stderr, "classic-server: cannot listen on %s: %s\n", socket_path, strerror(errno));
		return 1;
	}
	chmod(socket_path, 0666);
	printf("classic-server listening on %s\n", socket_path);
	fflush(stdout);

	while (!stopping) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
			continue; /* EINTR (SIGCHLD, or a stop signal: the loop test), ECONNABORTED, ... */
		}
		struct timeval tv = { .tv_sec = RECV_TIMEOUT_MS / 1000, .tv_usec = (RECV_TIMEOUT_MS % 1000) * 1000 };
		setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char command[BUFSIZE];
		ssize_t n;
		do
			n = recv(conn, command, sizeof command - 1, 0);
		while (n < 0 && errno == EINTR && !stopping);
		if (n <= 0) {
			close(conn);
			continue;
		}
		command[n] = '\0';
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGCHLD, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGPIPE, SIG_DFL);
			serve_command(conn, command);
		}
		if (pid < 0)
			fprintf(stderr, "classic-server: fork: %s\n", strerror(errno));
		close(conn);
	}
	close(lfd);
	unlink(socket_path);
	return 0;
}
