/*
 * ratelimit.h - the edit rate limit (SPEC §14): RATE_LIMIT_EDITS edits per user per
 * minute over every edit route, counted in the database so every server sharing it
 * shares the limit. A fixed window: the wall-clock minute (ms / 60000); one atomic
 * upsert per check. A burst may meet the limit at the end of one minute and again at
 * the start of the next; no more than that.
 *
 * Ownership: the app is borrowed; struct ratelimit is the caller's. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

struct ratelimit {
    long limit;     /* RATE_LIMIT_EDITS; 0: off (no headers) */
    long remaining; /* edits left in this minute, after this one */
    long reset;     /* seconds until the minute ends (1-60): RateLimit-Reset, Retry-After */
};

/*
 * Counts one edit of user_id at now_ms. ERR_OK: allowed (out filled; out->limit 0 when
 * the limit is off, and nothing was counted); ERR_RATE_LIMITED: over the limit (out
 * filled: remaining 0); ERR_UNAVAILABLE: the database failed (nothing is known).
 */
enum err ratelimit_edit(struct app *app, const char *user_id, int64_t now_ms,
                        struct ratelimit *out);

/* The job worker's sweep: forgets minutes before the last. */
void ratelimit_prune(struct app *app, int64_t now_ms);
