/*
 * gc.c - the orphan collector behind `novadraw gc`: collects the old-enough objects
 * under users/ (a sorted array of malloc'd keys), marks those a row references
 * (binary search per referenced key, so memory is the candidates', not the rows'),
 * and deletes the rest; then sweeps the temp files interrupted writes left (storage_sweep).
 *
 * Owns the candidate array for the length of gc_run; nothing outlives it.
 */
#include "gc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"
#include "util/log.h"

struct candidate {
    char *key;
    bool referenced;
};

struct candidates {
    struct candidate *v;
    size_t n, cap;
    size_t listed;
    int64_t cutoff_ms; /* last modified at or before this: old enough */
};

static enum err on_object(void *ctx, const struct storage_object *obj)
{
    struct candidates *c = ctx;
    struct candidate *v;

    c->listed++;
    if (obj->mtime_ms <= 0 || obj->mtime_ms > c->cutoff_ms)
        return ERR_OK; /* young, or of unknown age: kept */
    if (!storage_key_valid(obj->key))
        return ERR_OK; /* not a key this project writes (the probe's): not ours to judge */
    v = grow(c->v, &c->cap, c->n + 1, sizeof(*v), 64, (size_t)-1 / 2);
    if (!v)
        return ERR_NOMEM;
    c->v = v;
    c->v[c->n].key = strdup(obj->key);
    if (!c->v[c->n].key)
        return ERR_NOMEM;
    c->v[c->n].referenced = false;
    c->n++;
    return ERR_OK;
}

struct sweep {
    FILE *out;
    bool dry_run;
    size_t n;
};

static enum err on_temp(void *ctx, const struct storage_object *obj)
{
    struct sweep *sw = ctx;

    fprintf(sw->out, "%s temp file %s\n", sw->dry_run ? "would delete" : "deleted", obj->key);
    sw->n++;
    return ERR_OK;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct candidate *)a)->key, ((const struct candidate *)b)->key);
}

static enum err on_referenced(void *ctx, const char *key)
{
    struct candidates *c = ctx;
    struct candidate probe = {.key = (char *)key};
    struct candidate *hit = c->n ? bsearch(&probe, c->v, c->n, sizeof(*c->v), by_key) : NULL;

    if (hit)
        hit->referenced = true;
    return ERR_OK;
}

enum err gc_run(struct db *db, struct storage *st, int64_t now_ms, int64_t older_than_ms,
                bool dry_run, FILE *out, struct gc_stats *stats)
{
    struct candidates c = {.cutoff_ms = now_ms - older_than_ms};
    struct sweep sw = {.out = out, .dry_run = dry_run};
    struct gc_stats s = {0};
    int64_t temp_age_ms;
    enum err rc;

    if (!db || !st || !out || !stats || older_than_ms < 0)
        return ERR_INVALID;
    /* objects first, rows second: a row written meanwhile is seen, so its object stays */
    rc = storage_list(st, "users/", on_object, &c);
    if (rc != ERR_OK)
        goto out;
    s.listed = c.listed;
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), by_key);
    rc = db_keys_referenced(db, on_referenced, &c);
    if (rc != ERR_OK)
        goto out;
    for (size_t i = 0; i < c.n; i++) {
        enum err drc;

        if (c.v[i].referenced)
            continue;
        s.unreferenced++;
        if (dry_run) {
            fprintf(out, "would delete %s\n", c.v[i].key);
            continue;
        }
        drc = storage_del(st, c.v[i].key);
        if (drc == ERR_OK) {
            fprintf(out, "deleted %s\n", c.v[i].key);
            s.deleted++;
        } else {
            fprintf(out, "failed %s (%s)\n", c.v[i].key, err_name(drc));
            s.failed++;
        }
    }
    /* a write lasts seconds; another server sharing the store may be in one now */
    temp_age_ms = older_than_ms > GC_TEMP_MIN_AGE_MS ? older_than_ms : GC_TEMP_MIN_AGE_MS;
    rc = storage_sweep(st, now_ms - temp_age_ms, dry_run, on_temp, &sw);
    s.temp_files = sw.n;
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].key);
    free(c.v);
    *stats = s;
    return rc;
}

bool gc_parse_duration(const char *s, int64_t *ms)
{
    char *end = NULL;
    long long v, unit = 1000;

    if (!s || !ms || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v < 0)
        return false;
    if (*end == 's')
        end++;
    else if (*end == 'm' && end++)
        unit = 60 * 1000LL;
    else if (*end == 'h' && end++)
        unit = 3600 * 1000LL;
    else if (*end == 'd' && end++)
        unit = 86400 * 1000LL;
    if (*end != '\0' || v > INT64_MAX / unit)
        return false;
    *ms = v * unit;
    return true;
}
