/*
 * metrics.h - the process's Prometheus metrics (SPEC §14), counted lock-free on the
 * hot path and rendered in the text exposition format for GET /metrics.
 *
 * Cardinality is bounded by construction: HTTP series are per route template (an
 * index into the router's table, plus "unmatched"), method and a fixed list of status
 * codes; the other labels are backend and operation names, which are static strings
 * (at most METRICS_LABELS_MAX distinct values per family). Never a path, id or user.
 *
 * Counting is relaxed atomics into fixed arrays (no lock; a new label value takes a
 * mutex once). Module state is process-wide: metrics_routes() is called once before
 * the server starts; everything else is thread-safe. Label strings are borrowed for
 * the life of the process (static strings).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define METRICS_ROUTES_MAX 64
#define METRICS_LABELS_MAX 16

/* The route templates, in the router's order; route index n means "unmatched". */
void metrics_routes(const char *const *templates, size_t n);

/* One HTTP request answered: route index (n or more: unmatched), enum http_method,
 * status, duration. */
void metrics_http(size_t route, int method, int status, int64_t duration_ns);

/* Edits (new drawings and follow-up edits) started and finished, with the editor
 * (NULL: the edit never ran; only the in-flight gauge moves). */
void metrics_edit_begin(void);
void metrics_edit_end(const char *editor, int64_t duration_ns);

/* A transcription ended: result is "ok", "refused" or "error". */
void metrics_transcription(const char *transcriber, const char *result);

/* A lookup in one of the process's caches ("body", "search_count") hit or missed. */
void metrics_cache(const char *cache, bool hit);

/* A storage operation ("put", "get", "delete", ...) ended with rc. */
void metrics_storage(const char *op, enum err rc);

/* Values read at scrape time. A negative job count: unknown (not rendered). */
struct metrics_gauges {
    int64_t jobs_upload, jobs_delete;
};

/* The exposition text (malloc'd, *out owned by the caller). */
enum err metrics_render(const struct metrics_gauges *g, char **out, size_t *len);
