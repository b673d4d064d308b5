/* program-server.c - the baseline of the per-request program bench: an
 * unsandboxed server that runs a program for each request, one fork+exec per
 * request, in C.
 *
 *   program-server [SOCKET] OUTPUT_DIR      (SOCKET defaults to $FNJAIL_SOCKET)
 *
 * It speaks the classic framing (like classic-server.c): one message per
 * connection, "<program> [<input file>]" (no terminator). The program runs
 * with the input file (or /dev/null) as stdin and a fresh output file
 * (mkstemp in OUTPUT_DIR) as stdout; once it has exited, the reply is the
 * output file's path (no terminator). A program that cannot be run leaves
 * "Error: <command> could not be executed.\n" in the file. The server is one
 * process: it starts each program with posix_spawn (vfork + exec), reaps them
 * from a signalfd and answers their clients; it never waits for one. No
 * sandbox, no policy: this only measures what running a program per request
 * costs without them. Stops on SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFSIZE 1024
#define BACKLOG 4096
#define MAX_RUNNING 4096
/* A client that connects and sends nothing may hold the server this long. */
#define RECV_TIMEOUT_MS 1000

struct running {
	pid_t pid; /* 0: a free slot */
	int conn;
	char path[PATH_MAX];
};

static struct running running[MAX_RUNNING];
static const char *output_dir;
static char *const environment[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", NULL };

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

static void reply(int conn, const char *path)
{
	send_all(conn, path, strlen(path));
	close(conn);
}

/* Starts the program of one command; its client is answered when it exits. */
static void start(int conn, char *command)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/out-XXXXXX", output_dir) >= (int)sizeof path) {
		close(conn);
		return;
	}
	int out = mkostemp(path, O_CLOEXEC);
	if (out < 0) {
		close(conn);
		return;
	}
	char copy[BUFSIZE];
	strcpy(copy, command);
	char *save = NULL;
	char *program = strtok_r(copy, " ", &save);
	char *file = program ? strtok_r(NULL, " ", &save) : NULL;
	int in = open(file ? file : "/dev/null", O_RDONLY | O_CLOEXEC);
	struct running *slot = NULL;
	for (size_t i = 0; i < MAX_RUNNING && !slot; i++)
		if (!running[i].pid)
			slot = &running[i];
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
	char *argv[] = { program, NULL };
	pid_t pid = 0;
	if (!program || in < 0 || !slot || posix_spawn(&pid, program, &actions, NULL, argv, environment) != 0) {
		dprintf(out, "Error: %s could not be executed.\n", command);
		reply(conn, path);
	} else {
		*slot = (struct running){ .pid = pid, .conn = conn };
		strcpy(slot->path, path);
	}
	posix_spawn_file_actions_destroy(&actions);
	if (in >= 0)
		close(in);
	close(out);
}

static void reap(void)
{
	pid_t pid;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		for (size_t i = 0; i < MAX_RUNNING; i++) {
			if (running[i].pid == pid) {
				reply(running[i].conn, running[i].path);
				running[i].pid = 0;
				break;
			}
		}
	}
}

int main(int argc, char **argv)
{
	const char *socket_path = argc >= 3 ? argv[1] : getenv("FNJAIL_SOCKET");
	output_dir = argc >= 3 ? argv[2] : argc == 2 ? argv[1] : NULL;
	if (argc < 2 || argc > 3 || !socket_path || !*socket_path || !output_dir) {
		fprintf(stderr, "usage: program-server [SOCKET] OUTPUT_DIR   (SOCKET defaults to $FNJAIL_SOCKET)\n");
		return 2;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path) {
		fprintf(stderr, "program-server: socket path too long: %s\n", socket_path);
		return 1;
	}
	strcpy(addr.sun_path, socket_path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(socket_path);
	if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, BACKLOG) < 0) {
		fprintf(stderr, "program-server: cannot listen on %s: %s\n", socket_path, strerror(errno));
		return 1;
	}
	chmod(socket_path, 0666);
	printf("program-server listening on %s\n", socket_path);
	fflush(stdout);

	for (;;) {
		struct pollfd fds[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents) {
			struct signalfd_siginfo info;
			bool stop = false;
			while (read(sfd, &info, sizeof info) == sizeof info)
				stop |= info.ssi_signo != SIGCHLD;
			if (stop)
				break;
			reap();
		}
		if (!fds[0].revents)
			continue;
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
			continue;
		}
		struct timeval tv = { .tv_sec = RECV_TIMEOUT_MS / 1000, .tv_usec = (RECV_TIMEOUT_MS % 1000) * 1000 };
		setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char command[BUFSIZE];
		ssize_t n;
		do
			n = recv(conn, command, sizeof command - 1, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			close(conn);
			continue;
		}
		command[n] = '\0';
		start(conn, command);
	}
	close(lfd);
	unlink(socket_path);
	return 0;
}
