/*
 * metrics.c (handlers) - GET /metrics: the Prometheus text of metrics.h, with the
 * queued jobs read from the database at scrape time (one query). With METRICS_TOKEN
 * set, the request must carry it as a bearer token, compared in constant time.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "metrics.h"
#include "util/digest.h"

/* Constant time in the secret and the guess: both are hashed, then compared whole. */
static bool token_matches(const char *want, const char *got, size_t got_len)
{
    unsigned char a[DIGEST_SHA256_LEN], b[DIGEST_SHA256_LEN];
    unsigned char diff = 0;

    digest_sha256(want, strlen(want), a);
    digest_sha256(got, got_len, b);
    for (size_t i = 0; i < sizeof(a); i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool authorised(const struct request *req, const char *want)
{
    const char *h = request_header(req, "Authorization");
    size_t n;

    if (!want || !*want)
        return true;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return token_matches(want, h, n);
}

enum err handle_metrics(struct request *req, struct response *res)
{
    struct metrics_gauges g = {.jobs_upload = -1, .jobs_delete = -1};
    char *text = NULL;
    size_t len = 0;

    if (!authorised(req, req->app->cfg->metrics_token))
        return request_fail(req, ERR_UNAUTHORIZED, "Not authenticated");
    if (db_job_pending(req->app->db, &g.jobs_upload, &g.jobs_delete) != ERR_OK)
        g.jobs_upload = g.jobs_delete = -1; /* the family is listed, without a value */
    if (metrics_render(&g, &text, &len) != ERR_OK)
        return ERR_NOMEM;
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    res->body = text;
    res->body_len = len;
    return ERR_OK;
}
