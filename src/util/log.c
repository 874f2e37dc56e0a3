// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

/* Logging is process-wide by contract (krun_init_log has no ctx argument). */
static _Atomic int log_fd = 2;
static _Atomic unsigned int log_level = LOG_LVL_ERROR;

static const char *const level_names[] = {
	"off", "error", "warn", "info", "debug", "trace",
};

void krun_log_configure(int fd, unsigned int level)
{
	if (level > LOG_LVL_TRACE)
		level = LOG_LVL_TRACE;
	atomic_store(&log_fd, fd);
	atomic_store(&log_level, level);
}

unsigned int krun_log_get_level(void)
{
	return atomic_load(&log_level);
}

void krun_log_write(unsigned int level, const char *fmt, ...)
{
	if (level == LOG_LVL_OFF || level > atomic_load(&log_level))
		return;
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "libkrun %s: ", level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	/* One write so lines from several threads do not interleave. */
	ssize_t r = write(atomic_load(&log_fd), buf, len);
	(void)r;
}
