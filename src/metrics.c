/*
 * metrics.c - counters and histograms in fixed arrays of relaxed atomics (no lock on
 * the hot path), and their rendering in Prometheus's text format with the process_*
 * family read from /proc. Owns only static state: process-wide, thread-safe (see
 * metrics.h). Histograms keep per-bucket counts; the rendering makes them cumulative
 * and derives _count from them, so a scrape racing with a request stays consistent.
 */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/router.h"
#include "util/buf.h"

#ifndef NOVADRAW_VERSION
#define NOVADRAW_VERSION "unknown"
#endif

#define N_METHODS (HTTP_OTHER + 1)
#define UNMATCHED METRICS_ROUTES_MAX /* the extra route slot */

/* The status codes counted by name; any other is counted as "other". */
static const int statuses[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403,
                               404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415,
                               416, 422, 429, 431, 499, 500, 501, 502, 503, 504};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

static const double http_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1,     2.5,  5,     10};
#define N_HTTP_BUCKETS (sizeof(http_buckets) / sizeof(http_buckets[0]) + 1) /* + the rest */
static const double edit_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define N_EDIT_BUCKETS (sizeof(edit_buckets) / sizeof(edit_buckets[0]) + 1)

typedef atomic_uint_fast64_t counter;

struct histogram_http {
    counter bucket[N_HTTP_BUCKETS];
    counter sum_ns;
};

/* Distinct label values of one family: published by count, appended under mu. */
struct labels {
    const char *a[METRICS_LABELS_MAX], *b[METRICS_LABELS_MAX];
    atomic_size_t n;
};

static const char *route_names[METRICS_ROUTES_MAX];
static size_t n_routes;
static counter requests[METRICS_ROUTES_MAX + 1][N_METHODS][N_STATUS];
static struct histogram_http durations[METRICS_ROUTES_MAX + 1];
static atomic_long edits_in_flight;
static struct labels editors, transcriptions, storage_ops, caches;
static counter edit_bucket[METRICS_LABELS_MAX][N_EDIT_BUCKETS];
static counter edit_sum_ns[METRICS_LABELS_MAX];
static counter transcription_count[METRICS_LABELS_MAX];
static counter storage_count[METRICS_LABELS_MAX];
static counter cache_count[METRICS_LABELS_MAX];
static pthread_mutex_t labels_mu = PTHREAD_MUTEX_INITIALIZER;

static void add(counter *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static bool same(const char *x, const char *y)
{
    return x == y || (x && y && strcmp(x, y) == 0);
}

/* The slot of (a, b), added on first sight; -1 when the family is full. */
static int label_slot(struct labels *l, const char *a, const char *b)
{
    size_t n = atomic_load_explicit(&l->n, memory_order_acquire);
    int slot = -1;

    for (size_t i = 0; i < n; i++)
        if (same(l->a[i], a) && same(l->b[i], b))
            return (int)i;
    pthread_mutex_lock(&labels_mu);
    n = atomic_load_explicit(&l->n, memory_order_relaxed);
    for (size_t i = 0; i < n && slot < 0; i++)
        if (same(l->a[i], a) && same(l->b[i], b))
            slot = (int)i;
    if (slot < 0 && n < METRICS_LABELS_MAX) {
        l->a[n] = a;
        l->b[n] = b;
        atomic_store_explicit(&l->n, n + 1, memory_order_release);
        slot = (int)n;
    }
    pthread_mutex_unlock(&labels_mu);
    return slot;
}

void metrics_routes(const char *const *templates, size_t n)
{
    if (n > METRICS_ROUTES_MAX)
        n = METRICS_ROUTES_MAX; /* the rest count as unmatched */
    for (size_t i = 0; i < n; i++)
        route_names[i] = templates[i];
    n_routes = n;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return N_STATUS - 1;
}

static size_t bucket_of(const double *bounds, size_t n_bounds, int64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;

    while (i < n_bounds && s > bounds[i])
        i++;
    return i;
}

void metrics_http(size_t route, int method, int status, int64_t duration_ns)
{
    if (route >= n_routes)
        route = UNMATCHED;
    if (method < 0 || method >= N_METHODS)
        method = HTTP_OTHER;
    if (duration_ns < 0)
        duration_ns = 0;
    add(&requests[route][method][status_index(status)], 1);
    add(&durations[route].bucket[bucket_of(http_buckets, N_HTTP_BUCKETS - 1, duration_ns)], 1);
    add(&durations[route].sum_ns, (uint64_t)duration_ns);
}

void metrics_edit_begin(void)
{
    atomic_fetch_add_explicit(&edits_in_flight, 1, memory_order_relaxed);
}

void metrics_edit_end(const char *editor, int64_t duration_ns)
{
    int slot;

    atomic_fetch_sub_explicit(&edits_in_flight, 1, memory_order_relaxed);
    if (!editor)
        return;
    slot = label_slot(&editors, editor, NULL);
    if (slot < 0)
        return;
    if (duration_ns < 0)
        duration_ns = 0;
    add(&edit_bucket[slot][bucket_of(edit_buckets, N_EDIT_BUCKETS - 1, duration_ns)], 1);
    add(&edit_sum_ns[slot], (uint64_t)duration_ns);
}

void metrics_transcription(const char *transcriber, const char *result)
{
    int slot = label_slot(&transcriptions, transcriber, result);

    if (slot >= 0)
        add(&transcription_count[slot], 1);
}

void metrics_cache(const char *cache, bool hit)
{
    int slot = label_slot(&caches, cache, hit ? "hit" : "miss");

    if (slot >= 0)
        add(&cache_count[slot], 1);
}

void metrics_storage(const char *op, enum err rc)
{
    const char *result = rc == ERR_OK ? "ok" : rc == ERR_NOT_FOUND ? "not_found" : "error";
    int slot = label_slot(&storage_ops, op, result);

    if (slot >= 0)
        add(&storage_count[slot], 1);
}

/* ---- rendering ------------------------------------------------------------------ */

static void out(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (k > 0)
        buf_add(b, line, (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
}

/* A label value: backslash, quote and newline escaped (ours are plain, but cheap). */
static const char *esc(const char *s, char *tmp, size_t cap)
{
    size_t n = 0;

    for (; s && *s && n + 2 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            tmp[n++] = '\\';
            tmp[n++] = *s == '\n' ? 'n' : *s;
        } else {
            tmp[n++] = *s;
        }
    }
    tmp[n] = '\0';
    return tmp;
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct buf *b, const char *name, const char *label, const char *value,
                      const double *bounds, size_t n_bounds, counter *bucket, counter *sum_ns)
{
    uint64_t cum = 0;
    char v[160];

    esc(value, v, sizeof(v));
    for (size_t i = 0; i < n_bounds; i++) {
        cum += get(&bucket[i]);
        out(b, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, v, bounds[i],
            (unsigned long long)cum);
    }
    cum += get(&bucket[n_bounds]);
    out(b, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, v, (unsigned long long)cum);
    out(b, "%s_sum{%s=\"%s\"} %.9f\n", name, label, v, (double)get(sum_ns) / 1e9);
    out(b, "%s_count{%s=\"%s\"} %llu\n", name, label, v, (unsigned long long)cum);
}

static void render_http(struct buf *b)
{
    char r[160];

    family(b, "novadraw_http_requests_total", "counter",
           "HTTP requests answered, by method, route template and status.");
    for (size_t ri = 0; ri <= METRICS_ROUTES_MAX; ri++) {
        if (ri >= n_routes && ri != UNMATCHED)
            continue;
        esc(ri == UNMATCHED ? "unmatched" : route_names[ri], r, sizeof(r));
        for (int m = 0; m < N_METHODS; m++) {
            for (size_t si = 0; si < N_STATUS; si++) {
                uint64_t v = get(&requests[ri][m][si]);
                char st[16];

                if (!v)
                    continue;
                if (si == N_STATUS - 1)
                    snprintf(st, sizeof(st), "other");
                else
                    snprintf(st, sizeof(st), "%d", statuses[si]);
                out(b, "novadraw_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                    http_method_name((enum http_method)m), r, st, (unsigned long long)v);
            }
        }
    }
    family(b, "novadraw_http_request_duration_seconds", "histogram",
           "Time from the first byte of a request to the end of its answer, by route template.");
    for (size_t ri = 0; ri <= METRICS_ROUTES_MAX; ri++) {
        uint64_t any = 0;

        if (ri >= n_routes && ri != UNMATCHED)
            continue;
        for (size_t i = 0; i < N_HTTP_BUCKETS; i++)
            any += get(&durations[ri].bucket[i]);
        if (any)
            histogram(b, "novadraw_http_request_duration_seconds", "route",
                      ri == UNMATCHED ? "unmatched" : route_names[ri], http_buckets,
                      N_HTTP_BUCKETS - 1, durations[ri].bucket, &durations[ri].sum_ns);
    }
}

/* A counter family labelled by (label, result) pairs: one sample per pair seen. */
static void pairs(struct buf *b, const char *name, const char *help, const char *label,
                  struct labels *l, counter *counts)
{
    size_t n = atomic_load_explicit(&l->n, memory_order_acquire);
    char x[160], y[160];

    family(b, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        out(b, "%s{%s=\"%s\",result=\"%s\"} %llu\n", name, label, esc(l->a[i], x, sizeof(x)),
            esc(l->b[i], y, sizeof(y)), (unsigned long long)get(&counts[i]));
}

static void render_work(struct buf *b, const struct metrics_gauges *g)
{
    size_t n;
    char x[160];

    family(b, "novadraw_edits_in_flight", "gauge", "Edits started and not yet answered.");
    out(b, "novadraw_edits_in_flight %ld\n",
        atomic_load_explicit(&edits_in_flight, memory_order_relaxed));
    family(b, "novadraw_edit_duration_seconds", "histogram",
           "Time an edit took, from admission to its answer, by editor.");
    n = atomic_load_explicit(&editors.n, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        histogram(b, "novadraw_edit_duration_seconds", "editor", editors.a[i], edit_buckets,
                  N_EDIT_BUCKETS - 1, edit_bucket[i], &edit_sum_ns[i]);
    pairs(b, "novadraw_transcriptions_total",
          "Voice prompts transcribed, by transcriber and result (ok, refused, error).",
          "transcriber", &transcriptions, transcription_count);
    pairs(b, "novadraw_storage_operations_total",
          "Object storage operations, by operation and result (ok, not_found, error).", "op",
          &storage_ops, storage_count);
    pairs(b, "novadraw_cache_lookups_total",
          "Lookups in the kept bodies (body) and search counts (search_count), by result.",
          "cache", &caches, cache_count);
    family(b, "novadraw_jobs_pending", "gauge", "Background jobs queued in the database, by kind.");
    if (g && g->jobs_upload >= 0 && g->jobs_delete >= 0) {
        out(b, "novadraw_jobs_pending{kind=\"upload\"} %lld\n", (long long)g->jobs_upload);
        out(b, "novadraw_jobs_pending{kind=\"delete\"} %lld\n", (long long)g->jobs_delete);
    }
    family(b, "novadraw_build_info", "gauge", "The running build: always 1, labelled by version.");
    out(b, "novadraw_build_info{version=\"%s\"} 1\n", esc(NOVADRAW_VERSION, x, sizeof(x)));
}

/* Boot time in seconds since the epoch (/proc/stat's btime), or -1. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    long long bt = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static void render_process(struct buf *b)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char stat[1024];
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0, bt = boot_time();
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    bool have_stat = false;
    struct rlimit rl;
    long fds = -1;
    DIR *d;

    if (f) {
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        char *p;

        stat[n] = '\0';
        fclose(f);
        p = strrchr(stat, ')'); /* the command name may hold spaces and parentheses */
        /* fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime cutime cstime priority nice threads itreal start
         * vsize rss */
        have_stat = p && sscanf(p + 2,
                                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
                                "%*d %*d %*d %*d %llu %llu %lld",
                                &utime, &stime, &start, &vsize, &rss) == 5;
    }
    if (tick <= 0)
        tick = 100;
    family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    if (have_stat)
        out(b, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)tick);
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    if (have_stat)
        out(b, "process_resident_memory_bytes %lld\n", rss * page);
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    if (have_stat)
        out(b, "process_virtual_memory_bytes %llu\n", vsize);
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    if (have_stat && bt >= 0)
        out(b, "process_start_time_seconds %.2f\n", (double)bt + (double)start / (double)tick);
    d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        fds = 0;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        fds--; /* the directory's own descriptor */
    }
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    if (fds >= 0)
        out(b, "process_open_fds %ld\n", fds);
    family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
}

enum err metrics_render(const struct metrics_gauges *g, char **text, size_t *len)
{
    struct buf b = {0};
    char *s;

    b.max = 16u * 1024 * 1024;
    render_http(&b);
    render_work(&b, g);
    render_process(&b);
    *len = b.len;
    s = buf_take(&b);
    if (!s)
        return ERR_NOMEM;
    *text = s;
    return ERR_OK;
}
