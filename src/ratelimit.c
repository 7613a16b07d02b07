/*
 * ratelimit.c - the edit rate limit over db_rate_hit (one statement per check). A
 * database failure is reported, not guessed: the caller answers 503 rather than
 * letting edits through unlimited or refusing them all.
 *
 * Stateless; thread-safe.
 */
#include "ratelimit.h"

#include "util/log.h"

#define MINUTE_MS 60000

enum err ratelimit_edit(struct app *app, const char *user_id, int64_t now_ms, struct ratelimit *out)
{
    struct ratelimit r = {.limit = app->cfg->rate_limit_edits};
    int64_t minute = now_ms / MINUTE_MS, count = 0;
    enum err rc;

    if (r.limit <= 0) {
        *out = (struct ratelimit){0};
        return ERR_OK;
    }
    rc = db_rate_hit(app->db, user_id, minute, &count);
    if (rc != ERR_OK) {
        log_warn("ratelimit: cannot count an edit: %s", err_name(rc));
        return ERR_UNAVAILABLE;
    }
    r.remaining = count >= r.limit ? 0 : (long)(r.limit - count);
    r.reset = (long)(((minute + 1) * MINUTE_MS - now_ms + 999) / 1000);
    if (r.reset < 1)
        r.reset = 1;
    *out = r;
    return count > r.limit ? ERR_RATE_LIMITED : ERR_OK;
}

void ratelimit_prune(struct app *app, int64_t now_ms)
{
    int64_t n = 0;

    if (db_rate_prune(app->db, now_ms / MINUTE_MS - 1, &n) != ERR_OK)
        log_warn("ratelimit: cannot forget old minutes");
    else if (n > 0)
        log_debug("ratelimit: forgot %lld old counts", (long long)n);
}
