/*
 * log.h - one-line log records on stderr.
 *
 * Each record is written with a single write(2), so lines from different threads
 * never interleave. Format: "2025-01-25T14:30:22.123Z LEVEL message". Control
 * characters in the message become '?', so client text cannot forge a line.
 * Callers must never pass secrets.
 */
#pragma once

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Records below this level are dropped. Set once at start-up (process config). */
void log_set_level(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
