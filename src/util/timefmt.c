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

/* Broken-down UTC time. gmtime_r takes glibc's timezone lock on every call, which
 * shows up on the gallery's hot path (20 drawings, 3 times each), so the civil date
 * is computed here: days since 1970-01-01 to a proleptic Gregorian date, counting
 * in 400-year eras of 146097 days that start on March 1st. */
struct utc {
    int year, month, day, hour, min, sec, millis;
};

static void split(int64_t ms, struct utc *t)
{
    int64_t secs = ms / 1000, days, era, doe, yoe, doy, mp;
    int64_t rem = ms % 1000, sod;

    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    days += 719468; /* shift the epoch to 0000-03-01 */
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;                                   /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    t->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    t->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    t->year = (int)(yoe + era * 400 + (t->month <= 2));
    t->hour = (int)(sod / 3600);
    t->min = (int)(sod / 60 % 60);
    t->sec = (int)(sod % 60);
    t->millis = (int)rem;
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

/* Writes the fields of ms (year, month, day, hour, minute, second, millisecond) as
 * fixed-width digits, each followed by its separator in sep (7 strings, "" for none). */
static void stamp(int64_t ms, char *p, const char *const sep[7])
{
    struct utc t;

    split(ms, &t);
    const struct {
        unsigned v;
        int width;
    } field[7] = {
        {(unsigned)t.year % 10000, 4}, {(unsigned)t.month, 2}, {(unsigned)t.day, 2},
        {(unsigned)t.hour, 2},         {(unsigned)t.min, 2},   {(unsigned)t.sec, 2},
        {(unsigned)t.millis, 3},
    };
    for (int i = 0; i < 7; i++) {
        p = digits(p, field[i].v, field[i].width);
        for (const char *s = sep[i]; *s; s++)
            *p++ = *s;
    }
    *p = '\0';
}

void timefmt_iso(int64_t ms, char out[TIMEFMT_ISO_LEN])
{
    static const char *const sep[7] = {"-", "-", "T", ":", ":", ".", "Z"};

    stamp(ms, out, sep);
}

void timefmt_key(int64_t ms, char out[TIMEFMT_KEY_LEN])
{
    static const char *const sep[7] = {"", "", "_", "", "", "_", ""};

    stamp(ms, out, sep);
}
