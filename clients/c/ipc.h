/* ipc.h - the classic lambda-function-loader client library, for fnjail.
 *
 * Send "<libname> [<funcname> [<filename>]]" with send_socket() on a connected
 * socket; recv_socket() then receives the path of the output file (without
 * terminator). The socket path is SOCKET_NAME unless the environment variable
 * FNJAIL_SOCKET names another. With FNJAIL_CONNECT=HOST:PORT the library
 * connects over TCP instead, with mutual TLS (FNJAIL_TLS_CERT, FNJAIL_TLS_KEY,
 * FNJAIL_TLS_CA), or in plain TCP to loopback only with FNJAIL_INSECURE=1: see
 * ipc.c. Close with close_socket(), which also ends the TLS session. A
 * command sent without terminator is one classic message: recv_socket() then
 * closes the sending side (shutdown), so the server runs it at once. */
#ifndef _IPC_H
#define _IPC_H

#include <sys/types.h>

#define BUFSIZE 1024
#define MAX_CLIENTS 1024
#define SOCKET_NAME "/run/fnjail/fnjail.sock"

int create_socket(void);
int connect_socket(int fd);
ssize_t send_socket(int fd, const char *buf, size_t len);
ssize_t recv_socket(int fd, char *buf, size_t len);
void close_socket(int fd);

#endif
