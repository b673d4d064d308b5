/* log.c - diagnostics on stderr (the server logs them) and fatal errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"

static const char *log_name = "fnjail-launcher";

void log_init(const char *name)
{
	log_name = name;
}

static void vlog(const char *fmt, va_list ap)
{
	char line[FNJ_MAX_MESSAGE + 128];
	int n = snprintf(line, sizeof line, "%s[%d]: ", log_name, (int)getpid());
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	size_t len = strlen(line);
	line[len++] = '\n';
	/* One write per line so that concurrent processes do not interleave. */
	ssize_t unused = write(STDERR_FILENO, line, len);
	(void)unused;
}

/* Facts worth a line in the server's log (the server logs "info:" lines as
 * information, all others as warnings). */
void log_info(const char *fmt, ...)
{
	char text[FNJ_MAX_MESSAGE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	log_msg("info: %s", text);
}

void log_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

_Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	_exit(1);
}

void format_error(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

uint64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
