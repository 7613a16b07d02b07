/*
 * log.c - formats a record into a stack buffer (truncating, never overrunning; a
 * JSON record stays a whole object) and writes it to stderr in one write(2).
 * Thread-safe: the level and format are set once at start-up before threads exist;
 * the request id is thread-local.
 */
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

#define LINE_MAX_BYTES 4096
#define TAIL_RESERVE 96 /* room kept for the request id and the closing of a record */

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_TEXT;
static _Thread_local char request_id[LOG_REQUEST_ID_MAX + 1];

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

void log_set_format(enum log_format fmt)
{
    format = fmt;
}

void log_set_request(const char *id)
{
    size_t n = id ? strnlen(id, LOG_REQUEST_ID_MAX) : 0;

    memcpy(request_id, id ? id : "", n);
    request_id[n] = '\0';
}

const char *log_request(void)
{
    return request_id;
}

/* A bounded line: appends that do not fit (leaving `reserve` free) are cut. */
struct line {
    char p[LINE_MAX_BYTES];
    size_t n;
};

static size_t room(const struct line *l, size_t reserve)
{
    return l->n + reserve < sizeof(l->p) ? sizeof(l->p) - l->n - reserve : 0;
}

static void put_raw(struct line *l, const char *s, size_t len, size_t reserve)
{
    size_t r = room(l, reserve);

    if (len > r)
        len = r;
    memcpy(l->p + l->n, s, len);
    l->n += len;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Text: control characters become '?'. JSON: a string's inside, escaped, valid UTF-8. */
static void put_text(struct line *l, const char *s, size_t reserve)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);

    for (size_t i = 0; i < len;) {
        char esc[8];
        size_t k = utf8_seq(u + i, len - i);

        if (format == LOG_TEXT) {
            char c = u[i] < 0x20 || u[i] == 0x7f ? '?' : (char)u[i];
            if (room(l, reserve) < 1)
                return;
            l->p[l->n++] = c;
            i++;
            continue;
        }
        if (k == 0) { /* not UTF-8: stands in as U+FFFD */
            if (room(l, reserve) < 6)
                return;
            put_raw(l, "\\ufffd", 6, reserve);
            i++;
        } else if (k > 1) {
            if (room(l, reserve) < k)
                return;
            put_raw(l, s + i, k, reserve);
            i += k;
        } else if (u[i] == '"' || u[i] == '\\') {
            if (room(l, reserve) < 2)
                return;
            esc[0] = '\\';
            esc[1] = (char)u[i];
            put_raw(l, esc, 2, reserve);
            i++;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            if (room(l, reserve) < 6)
                return;
            snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
            put_raw(l, esc, 6, reserve);
            i++;
        } else {
            if (room(l, reserve) < 1)
                return;
            l->p[l->n++] = (char)u[i++];
        }
    }
}

static void put_str(struct line *l, const char *s)
{
    put_raw(l, s, strlen(s), 0);
}

static void begin(struct line *l, enum log_level lvl)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char ts[TIMEFMT_ISO_LEN];

    timefmt_iso(time_now_ms(), ts);
    l->n = 0;
    if (format == LOG_JSON) {
        put_str(l, "{\"ts\":\"");
        put_str(l, ts);
        put_str(l, "\",\"level\":\"");
        put_str(l, names[lvl]);
        put_str(l, "\",\"msg\":\"");
    } else {
        put_str(l, ts);
        put_str(l, " ");
        put_str(l, names[lvl]);
        put_str(l, " ");
        if (request_id[0]) {
            put_str(l, "req=");
            put_text(l, request_id, 0);
            put_str(l, " ");
        }
    }
}

/* A number as JSON and people read it: integers exactly, others to 3 decimals (no
 * printf: its floating-point path costs more than the rest of a record). */
static void put_num(struct line *l, double v)
{
    char tmp[48];
    size_t n = sizeof(tmp);
    bool neg = v < 0;
    unsigned long long milli, whole, frac;

    if (!(v == v) || v > 9e15 || v < -9e15) { /* NaN or huge: rare, exact enough */
        snprintf(tmp, sizeof(tmp), "%.6g", v == v ? v : 0.0);
        put_str(l, tmp);
        return;
    }
    milli = (unsigned long long)((neg ? -v : v) * 1000.0 + 0.5);
    whole = milli / 1000;
    frac = milli % 1000;
    tmp[--n] = '\0';
    if (frac) {
        int digits = 3;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        for (int i = 0; i < digits; i++, frac /= 10)
            tmp[--n] = (char)('0' + frac % 10);
        tmp[--n] = '.';
    }
    do {
        tmp[--n] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (neg && milli)
        tmp[--n] = '-';
    put_str(l, tmp + n);
}

/* One field, whole or not at all (a cut key or string would break a JSON record). */
static void field(struct line *l, const struct log_field *f)
{
    struct line t; /* not zeroed: 4 KiB per field would cost more than the rest */

    t.n = 0;

    put_str(&t, format == LOG_JSON ? ",\"" : " ");
    put_text(&t, f->key, 0);
    put_str(&t, format == LOG_JSON ? "\":" : "=");
    if (!f->str) {
        put_num(&t, f->num);
    } else if (format == LOG_JSON) {
        put_str(&t, "\"");
        put_text(&t, f->str, 1);
        put_str(&t, "\"");
    } else {
        put_text(&t, *f->str ? f->str : "-", 0);
    }
    if (t.n <= room(l, TAIL_RESERVE))
        put_raw(l, t.p, t.n, TAIL_RESERVE);
}

static void finish(struct line *l)
{
    if (format == LOG_JSON) {
        if (request_id[0]) {
            put_str(l, ",\"request_id\":\"");
            put_text(l, request_id, 3);
            put_str(l, "\"");
        }
        put_str(l, "}\n");
    } else {
        put_str(l, "\n");
    }
    (void)!write(STDERR_FILENO, l->p, l->n);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    struct line l;
    char msg[LINE_MAX_BYTES];
    va_list ap;

    if (lvl < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap); /* truncates */
    va_end(ap);
    begin(&l, lvl);
    put_text(&l, msg, TAIL_RESERVE);
    if (format == LOG_JSON)
        put_str(&l, "\"");
    finish(&l);
}

void log_fields(enum log_level lvl, const char *msg, const struct log_field *fields, size_t n)
{
    struct line l;

    if (lvl < min_level)
        return;
    begin(&l, lvl);
    put_text(&l, msg, TAIL_RESERVE);
    if (format == LOG_JSON)
        put_str(&l, "\"");
    for (size_t i = 0; i < n; i++)
        field(&l, &fields[i]);
    finish(&l);
}
