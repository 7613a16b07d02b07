/*
 * log.h - one-line log records on stderr, as text or as JSON.
 *
 * Each record is written with a single write(2), so lines from different threads
 * never interleave. Text: "2025-01-25T14:30:22.123Z LEVEL [req=ID ]message key=value ...";
 * JSON (LOG_FORMAT=json): one object per line, {"ts", "level", "msg", fields...,
 * "request_id"}. Control characters never reach the output as such (text: '?'; JSON:
 * escaped), so client text cannot forge a line. Callers must never pass secrets.
 *
 * A thread may name the request it works for (log_set_request): every record it writes
 * until then carries the id. The worker pools and the HTTP client carry the id from
 * the submitting thread to the thread that runs the work.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

#define LOG_REQUEST_ID_MAX 64 /* bytes, without the NUL */

/* Records below this level are dropped. Set once at start-up (process config). */
void log_set_level(enum log_level lvl);
/* Set once at start-up, before threads exist. */
void log_set_format(enum log_format fmt);

/* The calling thread's request id (copied, cut at LOG_REQUEST_ID_MAX); NULL or "" clears. */
void log_set_request(const char *id);
/* The calling thread's request id, "" if none; valid until the thread sets another. */
const char *log_request(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A structured record: msg plus fields (a string, or a number when str is NULL). */
struct log_field {
    const char *key;
    const char *str;
    double num;
};
void log_fields(enum log_level lvl, const char *msg, const struct log_field *fields, size_t n);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
