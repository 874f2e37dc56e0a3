/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Library logging.  Messages go to the fd chosen with krun_init_log()
 * (stderr by default), never to stdout unless the caller asked for it.
 */
#ifndef KRUN_LOG_H
#define KRUN_LOG_H

enum krun_log_level {
	LOG_LVL_OFF = 0,
	LOG_LVL_ERROR = 1,
	LOG_LVL_WARN = 2,
	LOG_LVL_INFO = 3,
	LOG_LVL_DEBUG = 4,
	LOG_LVL_TRACE = 5,
};

void krun_log_configure(int fd, unsigned int level);
unsigned int krun_log_get_level(void);
void krun_log_write(unsigned int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) krun_log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) krun_log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) krun_log_write(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) krun_log_write(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_trace(...) krun_log_write(LOG_LVL_TRACE, __VA_ARGS__)

#endif
