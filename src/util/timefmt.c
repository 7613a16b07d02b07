/*
 * timefmt.c - clocks and UTC formatting. Thread-safe (gmtime_r only).
 */
#include "timefmt.h"

#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void split(int64_t ms, struct tm *tm, int *millis)
{
    int64_t secs = ms / 1000;
    int rem = (int)(ms % 1000);
    time_t t;

    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    t = (time_t)secs;
    gmtime_r(&t, tm);
    *millis = rem;
}

/* Writes v as exactly w decimal digits (v is in range by construction). */
static char *digits(char *p, unsigned v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + w;
}

void timefmt_iso(int64_t ms, char out[TIMEFMT_ISO_LEN])
{
    struct tm tm;
    int millis;
    char *p = out;

    split(ms, &tm, &millis);
    p = digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_sec % 60, 2);
    *p++ = '.';
    p = digits(p, (unsigned)millis, 3);
    *p++ = 'Z';
    *p = '\0';
}

void timefmt_key(int64_t ms, char out[TIMEFMT_KEY_LEN])
{
    struct tm tm;
    int millis;
    char *p = out;

    split(ms, &tm, &millis);
    p = digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
    p = digits(p, (unsigned)tm.tm_mon + 1, 2);
    p = digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = '_';
    p = digits(p, (unsigned)tm.tm_hour, 2);
    p = digits(p, (unsigned)tm.tm_min, 2);
    p = digits(p, (unsigned)tm.tm_sec % 60, 2);
    *p++ = '_';
    p = digits(p, (unsigned)millis, 3);
    *p = '\0';
}
