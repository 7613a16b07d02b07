/*
 * log.c - formats a record into a stack buffer (truncating, never overrunning)
 * and writes it to stderr in one write(2). Thread-safe: the only state is the
 * level, set once at start-up before threads exist.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    char ts[TIMEFMT_ISO_LEN];
    size_t n;
    int k;
    va_list ap;

    if (lvl < min_level)
        return;
    timefmt_iso(time_now_ms(), ts);
    k = snprintf(line, sizeof(line), "%s %s ", ts, names[lvl]);
    n = k > 0 ? (size_t)k : 0;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: keep the newline */
    /* client-controlled text (paths) must not forge lines or drive a terminal */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
}
