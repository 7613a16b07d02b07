/*
 * timefmt.h - the project's one clock and one time format.
 *
 * Times are int64 milliseconds since the Unix epoch, UTC, and are shown as
 * "2025-01-25T14:30:22.123Z" (SPEC §5). Pure apart from time_now_ms().
 */
#pragma once

#include <stdint.h>

#define TIMEFMT_ISO_LEN 25 /* "YYYY-mm-ddTHH:MM:SS.mmmZ" + NUL */
#define TIMEFMT_KEY_LEN 20 /* "YYYYmmdd_HHMMSS_mmm" + NUL */

/* Wall-clock milliseconds since the epoch. */
int64_t time_now_ms(void);

/* Monotonic nanoseconds, for durations. */
int64_t time_mono_ns(void);

/* Writes ms as an ISO 8601 UTC string with milliseconds into out. */
void timefmt_iso(int64_t ms, char out[TIMEFMT_ISO_LEN]);

/* Writes ms as the storage-key stamp "YYYYmmdd_HHMMSS_mmm" into out. */
void timefmt_key(int64_t ms, char out[TIMEFMT_KEY_LEN]);
