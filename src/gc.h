/*
 * gc.h - `novadraw gc`: deletes stored objects under users/ that no row references
 * and that are older than a grace period (an upload in flight has its object
 * before its row).
 *
 * Ownership: the db and storage are borrowed; gc keeps nothing after it returns.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "db/db.h"
#include "storage/storage.h"

struct gc_stats {
    size_t listed;       /* objects under users/ */
    size_t unreferenced; /* of those, older than the grace and referenced by no row */
    size_t deleted;      /* of those, deleted (0 on a dry run) */
    size_t failed;       /* deletions that failed */
    size_t temp_files;   /* temp files of interrupted writes removed (dry run: found) */
};

/* Temp files of unfinished writes younger than this are never swept, whatever the
 * grace: a server sharing the store may be writing one. */
#define GC_TEMP_MIN_AGE_MS (15 * 60 * 1000LL)

/*
 * Lists users/, reads every referenced key in one streamed query, and deletes (or,
 * with dry_run, only reports) each unreferenced object last modified at least
 * older_than_ms before now_ms, writing one line per object to out: "deleted KEY" or
 * "would delete KEY". Objects whose time is unknown are kept. Then removes the temp
 * files of interrupted writes older than the grace (and never younger than
 * GC_TEMP_MIN_AGE_MS): "deleted temp file PATH". ERR_UNSUPPORTED if the backend cannot
 * list.
 */
enum err gc_run(struct db *db, struct storage *st, int64_t now_ms, int64_t older_than_ms,
                bool dry_run, FILE *out, struct gc_stats *stats);
/* "24h", "30m", "3600s", "2d" (or plain seconds) to milliseconds; false if malformed. */
bool gc_parse_duration(const char *s, int64_t *ms);
