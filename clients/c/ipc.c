/* ipc.c - the classic client library, over fnjail's UNIX socket or over TCP.
 *
 * The transport comes from the environment, read by create_socket():
 *
 *   (default)          the UNIX socket $FNJAIL_SOCKET, else SOCKET_NAME.
 *   FNJAIL_CONNECT=HOST:PORT
 *                      TCP to HOST (an IPv4 literal, [IPv6] in brackets, or a
 *                      name) with mutual TLS, which then needs
 *                      FNJAIL_TLS_CERT  this client's certificate (PEM; the
 *                                       server takes it as the tenant's identity),
 *                      FNJAIL_TLS_KEY   its private key (PEM),
 *                      FNJAIL_TLS_CA    the CA that signed the server's
 *                                       certificate (PEM); the server must
 *                                       present a certificate for HOST.
 *   FNJAIL_CONNECT=HOST:PORT FNJAIL_INSECURE=1
 *                      plain TCP, only if every address of HOST is a loopback
 *                      address, and only without FNJAIL_TLS_* (the two exclude
 *                      each other, as they do for the server).
 *
 * FNJAIL_CONNECT, when set, wins over FNJAIL_SOCKET; an empty variable counts
 * as unset. FNJAIL_INSECURE=0 is the same as unset.
 *
 * The classic API passes a bare fd around, so what a TCP connection needs
 * (the resolved addresses, the TLS context and session) hangs off a table
 * indexed by fd. An fd with no entry is used as a plain socket, as before.
 * Errors of the TCP transport print one line "fnjail client: ..." on stderr
 * that says what to fix, and return -1 with errno set; the UNIX path prints
 * nothing, as it always did.
 *
 * The library builds as the classic assignment builds it, with nothing on the
 * link line:
 *     gcc -fPIC -Wall -Wextra -c ipc.c && gcc -shared -o libipc.so ipc.o
 * so OpenSSL is not linked: it is loaded with dlopen() (libssl.so.3 and
 * libcrypto.so.3, OpenSSL 3) the first time a TLS connection is prepared,
 * and a client that never asks for TLS never loads it. Nor are OpenSSL's
 * headers needed: the few declarations and constants used are below, checked
 * against the headers by test/unit/c-client/openssl-abi.test.ts. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

/* ---- OpenSSL 3, loaded at run time ----------------------------------------
 * Opaque types and the ABI's constants (OpenSSL keeps both stable within a
 * major version, which the soname names). */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct X509_VERIFY_PARAM_st X509_VERIFY_PARAM;
typedef struct x509_store_ctx_st X509_STORE_CTX;

enum {
	FNJ_TLS1_2_VERSION = 0x0303,
	FNJ_SSL_CTRL_SET_TLSEXT_HOSTNAME = 55,
	FNJ_TLSEXT_NAMETYPE_host_name = 0,
	FNJ_SSL_CTRL_SET_MIN_PROTO_VERSION = 123,
	FNJ_SSL_FILETYPE_PEM = 1,
	FNJ_SSL_VERIFY_PEER = 0x01,
	FNJ_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4,
	FNJ_SSL_ERROR_WANT_READ = 2,
	FNJ_SSL_ERROR_WANT_WRITE = 3,
	FNJ_SSL_ERROR_SYSCALL = 5,
	FNJ_SSL_ERROR_ZERO_RETURN = 6,
	FNJ_SSL_R_UNEXPECTED_EOF_WHILE_READING = 294,
	FNJ_X509_V_OK = 0,
	FNJ_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2,
	FNJ_X509_V_ERR_CERT_SIGNATURE_FAILURE = 7,
	FNJ_X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18,
	FNJ_X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19,
	FNJ_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20,
	FNJ_X509_V_ERR_INVALID_PURPOSE = 26,
	FNJ_X509_V_ERR_HOSTNAME_MISMATCH = 62,
	FNJ_X509_V_ERR_IP_ADDRESS_MISMATCH = 64,
};

/* ERR_GET_REASON (an inline function in OpenSSL 3's err.h). */
static int err_reason(unsigned long e)
{
	if (e & ((unsigned long)INT_MAX + 1)) /* ERR_SYSTEM_FLAG */
		return (int)(e & INT_MAX);
	return (int)(e & 0x7FFFFF); /* ERR_REASON_MASK */
}

/* The functions used, by name: OSSL(ret, name, params) declares a pointer. */
#define OPENSSL_FUNCTIONS(OSSL)                                                                  \
	OSSL(const SSL_METHOD *, TLS_client_method, (void))                                       \
	OSSL(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *))                                        \
	OSSL(void, SSL_CTX_free, (SSL_CTX *))                                                     \
	OSSL(long, SSL_CTX_ctrl, (SSL_CTX *, int, long, void *))                                  \
	OSSL(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *, const char *))                  \
	OSSL(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *, const char *, int))                    \
	OSSL(int, SSL_CTX_load_verify_locations, (SSL_CTX *, const char *, const char *))         \
	OSSL(void, SSL_CTX_set_verify, (SSL_CTX *, int, int (*)(int, X509_STORE_CTX *)))                    \
	OSSL(SSL *, SSL_new, (SSL_CTX *))                                                         \
	OSSL(void, SSL_free, (SSL *))                                                             \
	OSSL(int, SSL_set_fd, (SSL *, int))                                                       \
	OSSL(X509_VERIFY_PARAM *, SSL_get0_param, (SSL *))                                        \
	OSSL(void, SSL_set_hostflags, (SSL *, unsigned int))                                      \
	OSSL(int, SSL_set1_host, (SSL *, const char *))                                           \
	OSSL(long, SSL_ctrl, (SSL *, int, long, void *))                                          \
	OSSL(int, SSL_connect, (SSL *))                                                           \
	OSSL(int, SSL_get_error, (const SSL *, int))                                              \
	OSSL(long, SSL_get_verify_result, (const SSL *))                                          \
	OSSL(int, SSL_write, (SSL *, const void *, int))                                          \
	OSSL(int, SSL_read, (SSL *, void *, int))                                                 \
	OSSL(int, SSL_shutdown, (SSL *))                                                          \
	OSSL(int, X509_VERIFY_PARAM_set1_ip_asc, (X509_VERIFY_PARAM *, const char *))             \
	OSSL(const char *, X509_verify_cert_error_string, (long))                                 \
	OSSL(unsigned long, ERR_get_error, (void))                                                \
	OSSL(unsigned long, ERR_peek_error, (void))                                               \
	OSSL(void, ERR_error_string_n, (unsigned long, char *, size_t))                           \
	OSSL(void, ERR_clear_error, (void))

#define OSSL_POINTER(ret, name, params) ret(*name) params;
static struct {
	OPENSSL_FUNCTIONS(OSSL_POINTER)
} ossl;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static char ossl_error[512]; /* empty once every function is found */

/* Loads libssl.so.3 (which brings libcrypto.so.3) and finds every function;
 * on failure ossl_error says what is missing. Runs once per process. */
static void ossl_load(void)
{
	void *handle = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);

	if (!handle) {
		snprintf(ossl_error, sizeof ossl_error, "%s", dlerror());
		return;
	}
	/* dlsym on libssl's handle also searches libcrypto, its dependency. */
#define OSSL_RESOLVE(ret, name, params)                                                  \
	*(void **)&ossl.name = dlsym(handle, #name);                                       \
	if (!ossl.name) {                                                                  \
		snprintf(ossl_error, sizeof ossl_error, "libssl.so.3 has no %s", #name);  \
		return;                                                                    \
	}
	OPENSSL_FUNCTIONS(OSSL_RESOLVE)
}

/* TCP connections are kept in a table indexed by fd, fds from 0 to FD_LIMIT-1
 * (512 KiB of pointers, untouched unless used). */
#define FD_LIMIT 65536

struct tcp_conn {
	char *endpoint;          /* FNJAIL_CONNECT as given, for messages */
	char *host;              /* without brackets: what the certificate must name */
	int host_is_ip;          /* checked as an IP address, not a DNS name */
	struct addrinfo *addrs;  /* resolved by create_socket(), tried in order */
	char *cert_path;         /* FNJAIL_TLS_CERT, for messages */
	char *ca_path;           /* FNJAIL_TLS_CA, for messages */
	SSL_CTX *ctx;            /* NULL: plain TCP (FNJAIL_INSECURE=1, loopback) */
	SSL *ssl;                /* the session, made by connect_socket() */
	int connected;           /* connect_socket() succeeded (and the handshake) */
	int replied;             /* recv_socket() got something */
	int broken;              /* a fatal TLS error: no close_notify at the end */
};

/* Each fd is used by one thread at a time; an fd number passes from one thread
 * to another only through close() and socket(), and the entry is cleared
 * before the close(). Atomic accesses make that hand-over well defined. */
static struct tcp_conn *conns[FD_LIMIT];

/* A classic message has no terminator: the server cannot tell it is complete
 * until nothing more comes for a while (its --classic-wait), or the client
 * closes its sending side. So once a plain (not TLS) connection has sent a
 * message that does not end in a newline and waits for the reply, recv_socket()
 * half-closes it first (shutdown(SHUT_WR)): the server runs the command at
 * once. A connection whose last send ended in a newline is a session (more
 * commands may follow) and is left alone. Indexed by fd, like conns: 1 means
 * "an unterminated message was sent", reset by create_socket() and
 * close_socket(). */
static unsigned char unterminated[FD_LIMIT];

static void set_unterminated(int fd, unsigned char value)
{
	if (fd >= 0 && fd < FD_LIMIT)
		__atomic_store_n(&unterminated[fd], value, __ATOMIC_RELAXED);
}

static struct tcp_conn *conn_of(int fd)
{
	if (fd < 0 || fd >= FD_LIMIT)
		return NULL;
	return __atomic_load_n(&conns[fd], __ATOMIC_ACQUIRE);
}

/* Frees an entry without any I/O: its fd may already be someone else's. */
static void conn_free(struct tcp_conn *c)
{
	if (!c)
		return;
	/* Set only once OpenSSL is loaded. */
	if (c->ssl)
		ossl.SSL_free(c->ssl); /* the fd is not the SSL's to close (BIO_NOCLOSE) */
	if (c->ctx)
		ossl.SSL_CTX_free(c->ctx);
	if (c->addrs)
		freeaddrinfo(c->addrs);
	free(c->host);
	free(c->endpoint);
	free(c->cert_path);
	free(c->ca_path);
	free(c);
}

/* Sets fd's entry; an entry left over by a caller that close()d a TCP socket
 * without close_socket() belongs to no one, and is dropped. */
static void conn_set(int fd, struct tcp_conn *c)
{
	if (fd < 0 || fd >= FD_LIMIT)
		return;
	conn_free(__atomic_exchange_n(&conns[fd], c, __ATOMIC_ACQ_REL));
}

/* One line on stderr (one call, so lines of concurrent threads do not mix),
 * errno = err, and -1 for the caller to return. */
static int fail(int err, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "fnjail client: %s\n", line);
	errno = err;
	return -1;
}

/* 0 once OpenSSL is usable, else -1 after a message. */
static int ossl_ready(void)
{
	pthread_once(&ossl_once, ossl_load);
	if (!ossl_error[0])
		return 0;
	return fail(ELIBACC, "TLS needs OpenSSL 3, which cannot be loaded: %s (Debian: apt-get install libssl3)", ossl_error);
}

/* The first (root) error in OpenSSL's queue for this thread, which is then
 * cleared: the queue must be empty before the next TLS operation. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ossl.ERR_get_error();
	if (e)
		ossl.ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown TLS error");
	ossl.ERR_clear_error();
	return buf;
}

static const char *env(const char *name)
{
	const char *value = getenv(name);
	return value && *value ? value : NULL;
}

/* OpenSSL writes to the socket with write(), which raises SIGPIPE when the
 * server has gone away (the plain path sends with MSG_NOSIGNAL). Block SIGPIPE
 * in this thread around TLS I/O and discard the one that I/O raised, so that
 * a closed connection is an EPIPE error, not the death of the client. */
struct sigpipe_guard {
	sigset_t old;
	int was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe, pending;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	int saved = errno;
	sigset_t pipe, pending;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	/* One that was pending before is not ours to discard. */
	if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		struct timespec now = { 0, 0 };
		while (sigtimedwait(&pipe, NULL, &now) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}

/* Splits "HOST:PORT" or "[IPV6]:PORT" into c->host; returns the port, or NULL
 * when the endpoint is malformed. Modifies copy. */
static const char *split_endpoint(char *copy, struct tcp_conn *c)
{
	char *host = copy, *port, *end;
	long number;

	if (host[0] == '[') {
		char *close = strchr(host, ']');
		if (!close || close[1] != ':')
			return NULL;
		*close = '\0';
		host++;
		port = close + 2;
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return NULL;
		c->host_is_ip = 1;
	} else {
		port = strrchr(host, ':');
		/* "::1:7443" would be ambiguous: IPv6 goes in brackets. */
		if (!port || memchr(host, ':', (size_t)(port - host)))
			return NULL;
		*port++ = '\0';
		struct in_addr a4;
		c->host_is_ip = inet_pton(AF_INET, host, &a4) == 1;
	}
	if (!*host)
		return NULL;
	errno = 0;
	number = strtol(port, &end, 10);
	if (!*port || *end || errno || number < 1 || number > 65535)
		return NULL;
	c->host = strdup(host);
	return c->host ? port : NULL;
}

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

/* The TLS context of a connection: our certificate and key, and trust in
 * FNJAIL_TLS_CA alone (not the system's CAs: the server is fnjail's, not the
 * web's). Returns 0, or -1 after a message. */
static int tls_context(struct tcp_conn *c, const char *cert, const char *key, const char *ca)
{
	char why[256];

	if (ossl_ready() < 0)
		return -1;
	ossl.ERR_clear_error();
	c->ctx = ossl.SSL_CTX_new(ossl.TLS_client_method());
	if (!c->ctx)
		return fail(ENOMEM, "cannot create a TLS context: %s", ssl_reason(why, sizeof why));
	if (!ossl.SSL_CTX_ctrl(c->ctx, FNJ_SSL_CTRL_SET_MIN_PROTO_VERSION, FNJ_TLS1_2_VERSION, NULL))
		return fail(EPROTO, "cannot require TLS 1.2: %s", ssl_reason(why, sizeof why));
	if (ossl.SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1)
		return fail(EINVAL, "cannot use FNJAIL_TLS_CERT=%s (a PEM certificate): %s", cert, ssl_reason(why, sizeof why));
	/* This also checks that the key is the certificate's. */
	if (ossl.SSL_CTX_use_PrivateKey_file(c->ctx, key, FNJ_SSL_FILETYPE_PEM) != 1)
		return fail(EINVAL, "cannot use FNJAIL_TLS_KEY=%s (the PEM private key of FNJAIL_TLS_CERT=%s): %s", key, cert,
			    ssl_reason(why, sizeof why));
	if (ossl.SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1)
		return fail(EINVAL, "cannot use FNJAIL_TLS_CA=%s (a PEM CA certificate): %s", ca, ssl_reason(why, sizeof why));
	ossl.SSL_CTX_set_verify(c->ctx, FNJ_SSL_VERIFY_PEER, NULL);
	c->cert_path = strdup(cert);
	c->ca_path = strdup(ca);
	return c->cert_path && c->ca_path ? 0 : fail(ENOMEM, "out of memory");
}

/* Everything about a TCP connection that can be known before connecting:
 * the endpoint, the transport's settings, the addresses, the TLS context.
 * Checks come before name resolution, so a refused setting sends nothing. */
static struct tcp_conn *tcp_prepare(const char *endpoint)
{
	const char *cert = env("FNJAIL_TLS_CERT"), *key = env("FNJAIL_TLS_KEY"), *ca = env("FNJAIL_TLS_CA");
	const char *insecure = env("FNJAIL_INSECURE");
	const char *port;
	char *copy = NULL;
	struct addrinfo hints, *ai;
	int plain, rc;
	struct tcp_conn *c = calloc(1, sizeof *c);

	if (!c || !(c->endpoint = strdup(endpoint)) || !(copy = strdup(endpoint))) {
		conn_free(c);
		errno = ENOMEM;
		return NULL;
	}
	port = split_endpoint(copy, c);
	if (!port) {
		free(copy);
		conn_free(c);
		fail(EINVAL, "FNJAIL_CONNECT=%s is not HOST:PORT (an IPv6 address goes in brackets: [::1]:7443)", endpoint);
		return NULL;
	}

	if (insecure && strcmp(insecure, "1") && strcmp(insecure, "0")) {
		fail(EINVAL, "FNJAIL_INSECURE=%s: set it to 1 (plain TCP on loopback) or leave it unset", insecure);
		goto refuse;
	}
	plain = insecure && !strcmp(insecure, "1");
	if (plain && (cert || key || ca)) {
		fail(EINVAL, "FNJAIL_INSECURE=1 and FNJAIL_TLS_* exclude each other: unset FNJAIL_INSECURE to use TLS");
		goto refuse;
	}
	if (!plain && !(cert && key && ca)) {
		fail(EPERM, "FNJAIL_CONNECT=%s needs FNJAIL_TLS_CERT, FNJAIL_TLS_KEY and FNJAIL_TLS_CA (or FNJAIL_INSECURE=1 on loopback); missing:%s%s%s",
		     endpoint, cert ? "" : " FNJAIL_TLS_CERT", key ? "" : " FNJAIL_TLS_KEY", ca ? "" : " FNJAIL_TLS_CA");
		goto refuse;
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (c->host_is_ip ? AI_NUMERICHOST : 0);
	rc = getaddrinfo(c->host, port, &hints, &c->addrs);
	if (rc) {
		int err = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
		fail(err, "cannot resolve %s (FNJAIL_CONNECT=%s): %s", c->host, endpoint, rc == EAI_SYSTEM ? strerror(err) : gai_strerror(rc));
		c->addrs = NULL;
		goto refuse;
	}

	/* Without TLS anyone on the path could read and forge requests and
	 * replies, and the server knows nothing of the client: loopback only. */
	if (plain) {
		for (ai = c->addrs; ai; ai = ai->ai_next) {
			if (!is_loopback(ai->ai_addr)) {
				char text[INET6_ADDRSTRLEN] = "?";
				getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST);
				if (c->host_is_ip)
					fail(EPERM, "FNJAIL_INSECURE=1 is for loopback only, and %s is not a loopback address: use TLS (FNJAIL_TLS_CERT, FNJAIL_TLS_KEY, FNJAIL_TLS_CA)",
					     c->host);
				else
					fail(EPERM, "FNJAIL_INSECURE=1 is for loopback only, and %s resolves to %s: use TLS (FNJAIL_TLS_CERT, FNJAIL_TLS_KEY, FNJAIL_TLS_CA)",
					     c->host, text);
				goto refuse;
			}
		}
	} else if (tls_context(c, cert, key, ca) < 0) {
		goto refuse;
	}
	free(copy);
	return c;

refuse:
	rc = errno;
	free(copy);
	conn_free(c);
	errno = rc;
	return NULL;
}

int create_socket(void)
{
	const char *endpoint = env("FNJAIL_CONNECT");
	struct tcp_conn *c;
	int fd, err;

	if (!endpoint) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		conn_set(fd, NULL);
		set_unterminated(fd, 0);
		return fd;
	}

	c = tcp_prepare(endpoint);
	if (!c)
		return -1;
	/* The family of the first address; connect_socket() makes another
	 * socket on the same fd if it must try an address of another family. */
	fd = socket(c->addrs->ai_family, c->addrs->ai_socktype | SOCK_CLOEXEC, c->addrs->ai_protocol);
	if (fd < 0) {
		err = errno;
		conn_free(c);
		return fail(err, "cannot create a TCP socket for %s: %s", endpoint, strerror(err));
	}
	if (fd >= FD_LIMIT) {
		close(fd);
		conn_free(c);
		return fail(EMFILE, "fd %d is beyond the %d TCP connections this library tracks", fd, FD_LIMIT);
	}
	conn_set(fd, c);
	set_unterminated(fd, 0);
	return fd;
}

/* A fresh socket of `family` in place of fd, keeping its number and the
 * timeouts the caller may have set between create_socket() and
 * connect_socket() (the load generator does). After a failed connect() the
 * state of a socket is unspecified: each address gets a fresh one. */
static int renew_socket(int fd, const struct addrinfo *ai)
{
	struct timeval rcv, snd;
	socklen_t rlen = sizeof rcv, slen = sizeof snd;
	int have_rcv = getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, &rlen) == 0;
	int have_snd = getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, &slen) == 0;
	int fresh = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fresh < 0)
		return -1;
	if (have_rcv)
		setsockopt(fresh, SOL_SOCKET, SO_RCVTIMEO, &rcv, rlen);
	if (have_snd)
		setsockopt(fresh, SOL_SOCKET, SO_SNDTIMEO, &snd, slen);
	if (dup3(fresh, fd, O_CLOEXEC) < 0) {
		int err = errno;
		close(fresh);
		errno = err;
		return -1;
	}
	close(fresh);
	return 0;
}

/* The TLS handshake on a connected fd, then the checks OpenSSL made: the
 * server's chain leads to FNJAIL_TLS_CA, and its certificate is for HOST. */
static int tls_handshake(int fd, struct tcp_conn *c)
{
	struct sigpipe_guard guard;
	char why[256];
	long verdict;
	int rc, err;

	ossl.ERR_clear_error();
	c->ssl = ossl.SSL_new(c->ctx);
	if (!c->ssl || ossl.SSL_set_fd(c->ssl, fd) != 1)
		return fail(ENOMEM, "cannot start TLS with %s: %s", c->endpoint, ssl_reason(why, sizeof why));
	if (c->host_is_ip) {
		if (ossl.X509_VERIFY_PARAM_set1_ip_asc(ossl.SSL_get0_param(c->ssl), c->host) != 1)
			return fail(EINVAL, "cannot check certificates for the address %s: %s", c->host, ssl_reason(why, sizeof why));
	} else {
		/* SNI carries names only, never addresses. */
		ossl.SSL_set_hostflags(c->ssl, FNJ_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (ossl.SSL_set1_host(c->ssl, c->host) != 1 || ossl.SSL_ctrl(c->ssl, FNJ_SSL_CTRL_SET_TLSEXT_HOSTNAME, FNJ_TLSEXT_NAMETYPE_host_name, c->host) != 1)
			return fail(EINVAL, "cannot check certificates for the name %s: %s", c->host, ssl_reason(why, sizeof why));
	}

	sigpipe_block(&guard);
	rc = ossl.SSL_connect(c->ssl);
	err = ossl.SSL_get_error(c->ssl, rc);
	sigpipe_restore(&guard);
	if (rc == 1) {
		c->connected = 1;
		return 0;
	}

	c->broken = 1;
	verdict = ossl.SSL_get_verify_result(c->ssl);
	if (verdict != FNJ_X509_V_OK) {
		char hint[512] = "";
		ossl.ERR_clear_error();
		switch (verdict) {
		case FNJ_X509_V_ERR_HOSTNAME_MISMATCH:
		case FNJ_X509_V_ERR_IP_ADDRESS_MISMATCH:
			snprintf(hint, sizeof hint, " (its certificate is not for %s)", c->host);
			break;
		case FNJ_X509_V_ERR_INVALID_PURPOSE:
			snprintf(hint, sizeof hint, " (its certificate is not a server's: a client's cannot stand in for it)");
			break;
		case FNJ_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case FNJ_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		case FNJ_X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		case FNJ_X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case FNJ_X509_V_ERR_CERT_SIGNATURE_FAILURE:
			snprintf(hint, sizeof hint, " (is FNJAIL_TLS_CA=%s the CA that signed its certificate?)", c->ca_path);
			break;
		}
		return fail(EPROTO, "the server at %s is not trusted: %s%s", c->endpoint, ossl.X509_verify_cert_error_string(verdict), hint);
	}
	if (err == FNJ_SSL_ERROR_WANT_READ || err == FNJ_SSL_ERROR_WANT_WRITE) {
		ossl.ERR_clear_error();
		return fail(EAGAIN, "TLS handshake with %s: no answer within the socket's timeout", c->endpoint);
	}
	if (err == FNJ_SSL_ERROR_SYSCALL && ossl.ERR_peek_error() == 0) {
		int sys = errno;
		if (rc == 0 || sys == 0)
			return fail(ECONNRESET, "TLS handshake with %s: the server closed the connection", c->endpoint);
		return fail(sys, "TLS handshake with %s: %s", c->endpoint, strerror(sys));
	}
	return fail(EPROTO, "TLS handshake with %s failed: %s", c->endpoint, ssl_reason(why, sizeof why));
}

static int tcp_connect(int fd, struct tcp_conn *c)
{
	const struct addrinfo *ai;
	int err = ECONNREFUSED;

	if (c->connected)
		return fail(EISCONN, "connect_socket() twice on fd %d", fd);
	for (ai = c->addrs; ai; ai = ai->ai_next) {
		if (ai != c->addrs && renew_socket(fd, ai) < 0) {
			err = errno;
			continue;
		}
		int rc;
		do
			rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			if (c->ctx)
				return tls_handshake(fd, c);
			c->connected = 1;
			return 0;
		}
		err = errno;
	}
	return fail(err, "cannot connect to %s: %s", c->endpoint, strerror(err));
}

int connect_socket(int fd)
{
	struct sockaddr_un addr;
	struct tcp_conn *c = conn_of(fd);
	const char *path;

	if (c)
		return tcp_connect(fd, c);

	path = getenv("FNJAIL_SOCKET");
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

/* With TLS 1.3 our handshake is over before the server has checked our
 * certificate; a server that refuses it may just hang up, without an alert.
 * Worth a word, since nothing else would say it. */
static void eof_without_reply(const struct tcp_conn *c)
{
	fail(ECONNRESET, "the server at %s closed the TLS connection without a reply (did it refuse FNJAIL_TLS_CERT=%s? its log says)",
	     c->endpoint, c->cert_path);
}

/* After SSL_read or SSL_write returned rc <= 0: errno for the caller, and a
 * message when the TLS layer itself failed (for instance the server refused
 * our certificate, which TLS 1.3 reports only at the first read). */
static ssize_t tls_failure(struct tcp_conn *c, int rc, int err, const char *what)
{
	char why[256];
	int sys = errno;

	switch (err) {
	case FNJ_SSL_ERROR_ZERO_RETURN: /* the server's close_notify: end of stream */
		return 0;
	case FNJ_SSL_ERROR_WANT_READ:   /* a timeout (SO_RCVTIMEO, SO_SNDTIMEO) */
	case FNJ_SSL_ERROR_WANT_WRITE:
		ossl.ERR_clear_error();
		errno = sys ? sys : EAGAIN;
		return -1;
	case FNJ_SSL_ERROR_SYSCALL:
		c->broken = 1;
		if (ossl.ERR_peek_error() == 0) {
			ossl.ERR_clear_error();
			if (rc == 0 || sys == 0) { /* EOF without close_notify */
				if (!c->replied)
					eof_without_reply(c);
				errno = ECONNRESET;
				return -1;
			}
			errno = sys;
			return -1;
		}
		/* The queue says more: */
		/* fall through */
	default:
		/* The server closed without close_notify: an error (what came may
		 * be truncated), explained only if nothing came at all. */
		if (err_reason(ossl.ERR_peek_error()) == FNJ_SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ossl.ERR_clear_error();
			c->broken = 1;
			if (!c->replied)
				eof_without_reply(c);
			errno = ECONNRESET;
			return -1;
		}
		c->broken = 1;
		fail(EPROTO, "TLS %s with %s failed: %s", what, c->endpoint, ssl_reason(why, sizeof why));
		return -1;
	}
}

/* Sends all of buf (a stream socket may take it in parts). */
ssize_t send_socket(int fd, const char *buf, size_t len)
{
	struct tcp_conn *c = conn_of(fd);
	size_t sent = 0;

	if (c && c->ctx) {
		struct sigpipe_guard guard;
		if (!c->connected) {
			errno = ENOTCONN;
			return -1;
		}
		/* SSL_write writes all it is given or fails (no partial writes
		 * unless SSL_MODE_ENABLE_PARTIAL_WRITE); it takes an int. */
		while (sent < len) {
			size_t part = len - sent > INT_MAX ? INT_MAX : len - sent;
			ossl.ERR_clear_error();
			sigpipe_block(&guard);
			int rc = ossl.SSL_write(c->ssl, buf + sent, (int)part);
			int err = ossl.SSL_get_error(c->ssl, rc);
			sigpipe_restore(&guard);
			if (rc <= 0)
				return tls_failure(c, rc, err, "write");
			sent += (size_t)rc;
		}
		return (ssize_t)sent;
	}

	while (sent < len) {
		ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sent += (size_t)n;
	}
	if (len > 0)
		set_unterminated(fd, buf[len - 1] != '\n');
	return (ssize_t)sent;
}

/* One read of up to len bytes, as recv() would: over TLS, one SSL_read (which
 * returns at most one record, and handles the server's session tickets). */
ssize_t recv_socket(int fd, char *buf, size_t len)
{
	struct tcp_conn *c = conn_of(fd);
	ssize_t n;

	if (c && c->ctx) {
		struct sigpipe_guard guard;
		if (!c->connected) {
			errno = ENOTCONN;
			return -1;
		}
		ossl.ERR_clear_error();
		sigpipe_block(&guard);
		int rc = ossl.SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		int err = ossl.SSL_get_error(c->ssl, rc);
		sigpipe_restore(&guard);
		if (rc > 0) {
			c->replied = 1;
			return rc;
		}
		return tls_failure(c, rc, err, "read");
	}

	if (fd >= 0 && fd < FD_LIMIT && __atomic_exchange_n(&unterminated[fd], 0, __ATOMIC_RELAXED))
		shutdown(fd, SHUT_WR); /* the message is complete: see `unterminated` */
	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

void close_socket(int fd)
{
	struct tcp_conn *c = NULL;

	if (fd < 0)
		return;
	/* Taken out of the table before close(): once fd is closed, its number
	 * may be another thread's new socket. */
	set_unterminated(fd, 0);
	if (fd < FD_LIMIT)
		c = __atomic_exchange_n(&conns[fd], NULL, __ATOMIC_ACQ_REL);
	if (c && c->ssl && c->connected && !c->broken) {
		/* Our close_notify, without waiting for the server's. */
		struct sigpipe_guard guard;
		ossl.ERR_clear_error();
		sigpipe_block(&guard);
		ossl.SSL_shutdown(c->ssl);
		sigpipe_restore(&guard);
		ossl.ERR_clear_error();
	}
	conn_free(c);
	close(fd);
}
