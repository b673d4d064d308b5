/* loadgen.c - fnjail-loadgen: many classic clients at once, each a real user of
 * the ipc.h library, with every reply checked against what the call must print.
 *
 *   fnjail-loadgen [options] 'WEIGHT|EXPECT|COMMAND' ...
 *
 * EXPECT is  =TEXT (exact file content), ^TEXT (content starts with it),
 *            ~TEXT (content contains it) or * (anything); \n in TEXT is a newline.
 * Closed loop: each of --clients threads sends --requests commands one after
 * the other (connect, send, one recv, close, read the output file). Prints one
 * JSON object with throughput, latency percentiles and errors. Used by the
 * tests (the 1000-client burst) and by bench/ for fnjail and the baseline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

struct workload {
	char kind;           /* '=', '^', '~', '*' */
	char *expect;
	char *command;
};

static struct workload *plan; /* expanded by weight */
static size_t plan_len;
static int clients = 1, requests = 100, timeout_ms = 5000, sleep_max_ms = 0;
/* --raw-recv: recv(2) instead of recv_socket(), as a classic client written
 * without ipc.h does: the server then ends the message with its quiet window
 * instead of the half-close recv_socket() makes (bench/ measures both). */
static int raw_recv;
static double *latencies; /* ms, one per request */
static int *failed;       /* one per request */
static pthread_mutex_t samples_lock = PTHREAD_MUTEX_INITIALIZER;
static char samples[5][512];
static int sample_count;
static long error_total;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static void add_workload(const char *spec)
{
	char *copy = strdup(spec);
	char *first = strchr(copy, '|');
	char *second = first ? strchr(first + 1, '|') : NULL;
	if (!first || !second) {
		fprintf(stderr, "fnjail-loadgen: workload '%s' is not WEIGHT|EXPECT|COMMAND\n", spec);
		exit(2);
	}
	*first = *second = '\0';
	int weight = atoi(copy);
	const char *expect = first + 1;
	if (weight < 1 || !strchr("=^~*", expect[0])) {
		fprintf(stderr, "fnjail-loadgen: workload '%s': weight must be >= 1, EXPECT must start with = ^ ~ or *\n", spec);
		exit(2);
	}
	struct workload w = { .kind = expect[0], .expect = unescape(expect + 1), .command = strdup(second + 1) };
	plan = realloc(plan, sizeof *plan * (plan_len + (size_t)weight));
	for (int i = 0; i < weight; i++)
		plan[plan_len++] = w;
	free(copy);
}

static void record_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record_error(const char *fmt, ...)
{
	pthread_mutex_lock(&samples_lock);
	error_total++;
	if (sample_count < 5) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(samples[sample_count++], sizeof samples[0], fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&samples_lock);
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t r;
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int check(const struct workload *w, const char *content)
{
	switch (w->kind) {
	case '=':
		return strcmp(content, w->expect) == 0;
	case '^':
		return strncmp(content, w->expect, strlen(w->expect)) == 0;
	case '~':
		return strstr(content, w->expect) != NULL;
	default:
		return 1;
	}
}

/* One classic call, as the classic client makes it. */
static int one_call(const struct workload *w)
{
	char buf[BUFSIZE];
	int fd = create_socket();
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect_socket(fd) < 0) {
		record_error("connect: %s", strerror(errno));
		close_socket(fd);
		return -1;
	}
	if (send_socket(fd, w->command, strlen(w->command)) < 0) {
		record_error("send '%s': %s", w->command, strerror(errno));
		close_socket(fd);
		return -1;
	}
	memset(buf, 0, BUFSIZE);
	ssize_t n = raw_recv ? recv(fd, buf, BUFSIZE - 1, 0) : recv_socket(fd, buf, BUFSIZE - 1);
	close_socket(fd);
	if (n <= 0) {
		record_error("'%s': %s", w->command, n == 0 ? "connection closed without a reply" : (errno == EAGAIN ? "no reply within the timeout" : strerror(errno)));
		return -1;
	}
	size_t len;
	char *content = read_file(buf, &len);
	if (!content) {
		record_error("'%s': cannot read output file '%s': %s", w->command, buf, strerror(errno));
		return -1;
	}
	int ok = check(w, content);
	if (!ok)
		record_error("'%s': output file %s holds '%.120s', expected %c'%.120s'", w->command, buf, content, w->kind, w->expect);
	free(content);
	return ok ? 0 : -1;
}

static void *client_thread(void *arg)
{
	long id = (long)arg;
	unsigned seed = (unsigned)id * 2654435761u;
	for (int r = 0; r < requests; r++) {
		size_t slot = (size_t)id * (size_t)requests + (size_t)r;
		const struct workload *w = &plan[((size_t)id + (size_t)r * (size_t)clients) % plan_len];
		if (sleep_max_ms)
			usleep((useconds_t)(rand_r(&seed) % (unsigned)(sleep_max_ms + 1)) * 1000u);
		double start = now_ms();
		failed[slot] = one_call(w) < 0;
		latencies[slot] = now_ms() - start;
	}
	return NULL;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

static void usage(FILE *out)
{
	fprintf(out, "usage: fnjail-loadgen [--clients N] [--requests N] [--timeout-ms MS] [--sleep-max-ms MS] [--raw-recv]\n"
		     "                      'WEIGHT|EXPECT|COMMAND' ...\n"
		     "EXPECT: =TEXT exact output, ^TEXT prefix, ~TEXT substring, * anything (\\n = newline).\n"
		     "The socket is $FNJAIL_SOCKET, else " SOCKET_NAME ".\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "clients", required_argument, NULL, 'c' },   { "requests", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' }, { "sleep-max-ms", required_argument, NULL, 's' },
		{ "raw-recv", no_argument, NULL, 'w' },        { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'c': clients = atoi(optarg); break;
		case 'r': requests = atoi(optarg); break;
		case 't': timeout_ms = atoi(optarg); break;
		case 's': sleep_max_ms = atoi(optarg); break;
		case 'w': raw_recv = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (int i = optind; i < argc; i++)
		add_workload(argv[i]);
	if (plan_len == 0 || clients < 1 || requests < 1 || timeout_ms < 1) {
		usage(stderr);
		return 2;
	}
	size_t total = (size_t)clients * (size_t)requests;
	latencies = calloc(total, sizeof *latencies);
	failed = calloc(total, sizeof *failed);
	pthread_t *threads = calloc((size_t)clients, sizeof *threads);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	double start = now_ms();
	for (long i = 0; i < clients; i++)
		if (pthread_create(&threads[i], &attr, client_thread, (void *)i) != 0) {
			fprintf(stderr, "fnjail-loadgen: cannot start client thread %ld\n", i);
			return 1;
		}
	for (int i = 0; i < clients; i++)
		pthread_join(threads[i], NULL);
	double elapsed = (now_ms() - start) / 1e3;

	qsort(latencies, total, sizeof *latencies, compare);
	printf("{\"clients\":%d,\"requests\":%zu,\"errors\":%ld,\"elapsed_s\":%.4f,\"throughput\":%.1f,"
	       "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"error_samples\":[",
	       clients, total, error_total, elapsed, (double)total / elapsed, percentile(latencies, total, 0.50),
	       percentile(latencies, total, 0.90), percentile(latencies, total, 0.99), latencies[total - 1]);
	for (int i = 0; i < sample_count; i++) {
		printf("%s\"", i ? "," : "");
		for (const char *p = samples[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			if ((unsigned char)*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
		putchar('"');
	}
	printf("]}\n");
	return error_total ? 1 : 0;
}
