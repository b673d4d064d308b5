/* classic-client.c - a client written against the classic ipc.h, unchanged:
 * format the command, send it, receive the output file's path once. */
#include <stdio.h>
#include <string.h>

#include "ipc.h"

int main(int argc, char *argv[])
{
	char buf[BUFSIZE];
	int fd;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s <libname> [<funcname> [<filename>]]\n", argv[0]);
		return 1;
	}

	fd = create_socket();
	if (fd < 0 || connect_socket(fd) < 0) {
		perror("connect");
		return 1;
	}

	memset(buf, 0, BUFSIZE);
	if (argc == 2)
		snprintf(buf, BUFSIZE, "%s", argv[1]);
	else if (argc == 3)
		snprintf(buf, BUFSIZE, "%s %s", argv[1], argv[2]);
	else
		snprintf(buf, BUFSIZE, "%s %s %s", argv[1], argv[2], argv[3]);

	send_socket(fd, buf, strlen(buf));

	memset(buf, 0, BUFSIZE);
	recv_socket(fd, buf, BUFSIZE);

	printf("Output file: %s\n", buf);

	close_socket(fd);
	return 0;
}
