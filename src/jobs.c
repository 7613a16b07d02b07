/*
 * jobs.c - the background worker: one thread that claims due jobs from the
 * database with a lease, runs them, and marks them done or due again later with
 * exponential backoff. Several servers can run it on one database: the claim gives
 * each job to exactly one of them, and a job whose server died comes back when its
 * lease expires. It also deletes the expired rows of idempotency keys and rate
 * counts (SPEC §14) once a minute.
 *
 * Owns struct jobs (its thread, mutex and condition variable); the app is borrowed.
 * The only state shared with other threads is `stop`, under the mutex.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idempotency.h"
#include "ratelimit.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/timefmt.h"

#define JOBS_PER_ROUND 64 /* then check for stop and sleep, so one round is bounded */
#define SWEEP_MS 60000 /* expired idempotency keys, old rate counts, search merging: this often */

struct jobs {
    struct app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop; /* under mu */
};

int64_t jobs_backoff_ms(int64_t attempts)
{
    int64_t d = JOBS_BACKOFF_BASE_MS;

    for (int64_t i = 0; i < attempts && d < JOBS_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < JOBS_BACKOFF_MAX_MS ? d : JOBS_BACKOFF_MAX_MS;
}

static bool stopping(struct jobs *j)
{
    bool s;

    pthread_mutex_lock(&j->mu);
    s = j->stop;
    pthread_mutex_unlock(&j->mu);
    return s;
}

/*
 * JOB_UPLOAD: an object storage refused, kept in the database (drawings.h), is
 * stored under its key and forgotten there. Nothing left to upload (stored by
 * another run, or its drawing deleted) is success; a drawing deleted between the
 * upload and the forgetting gets its object deleted again.
 */
static enum err run_upload(struct jobs *j, const struct db_job *job, struct arena *a,
                           const char **why)
{
    struct db_pending p;
    enum err rc = db_pending_get(j->app->db, job->object_key, a, &p);

    if (rc == ERR_NOT_FOUND)
        return ERR_OK;
    if (rc != ERR_OK) {
        *why = "database unavailable";
        return rc;
    }
    rc = storage_put(j->app->storage, job->object_key, p.bytes, p.len, p.content_type);
    if (rc != ERR_OK) {
        *why = err_name(rc);
        return rc;
    }
    rc = db_pending_done(j->app->db, job->object_key);
    if (rc == ERR_NOT_FOUND) { /* deleted meanwhile: the object is an orphan */
        (void)storage_del(j->app->storage, job->object_key);
        return ERR_OK;
    }
    if (rc != ERR_OK)
        *why = "database unavailable";
    return rc;
}

/* JOB_DELETE: the object of a deleted row. */
static enum err run_delete(struct jobs *j, const struct db_job *job, const char **why)
{
    enum err rc = storage_del(j->app->storage, job->object_key); /* absent is ERR_OK */

    if (rc == ERR_NOT_FOUND)
        rc = ERR_OK;
    if (rc == ERR_INVALID) { /* a key no object can have: nothing to delete */
        log_warn("jobs: job %lld: not a storage key, dropped", (long long)job->id);
        rc = ERR_OK;
    }
    *why = err_name(rc);
    return rc;
}

static const char *kind_name(enum job_kind k)
{
    return k == JOB_UPLOAD ? "upload" : "delete";
}

/* Runs one job: ERR_OK when it is finished (and may be removed). */
static enum err run_job(struct jobs *j, const struct db_job *job, struct arena *a, const char **why)
{
    *why = NULL;
    switch (job->kind) {
    case JOB_UPLOAD:
        return run_upload(j, job, a, why);
    case JOB_DELETE:
        return run_delete(j, job, why);
    }
    *why = "unknown job kind";
    return ERR_UNSUPPORTED;
}

/* Claims and runs one due job; false when none was (or stop, or a failure). */
static bool run_one(struct jobs *j)
{
    struct arena *a = arena_new();
    struct db_job job;
    const char *why = NULL;
    enum err rc;
    bool ran = false;

    if (!a) {
        log_error("jobs: out of memory");
        return false;
    }
    rc = db_job_claim(j->app->db, time_now_ms(), j->app->cfg->job_lease_seconds * 1000, a, &job);
    if (rc != ERR_OK) {
        if (rc != ERR_NOT_FOUND)
            log_warn("jobs: cannot claim a job (%s)", err_name(rc));
        goto out;
    }
    ran = true;
    rc = run_job(j, &job, a, &why);
    if (rc == ERR_OK) {
        log_info("jobs: %s %s done (after %lld failed attempts)", kind_name(job.kind),
                 job.object_key, (long long)job.attempts);
        rc = db_job_done(j->app->db, job.id);
    } else {
        /* stopping: due again at once, for another server (the lease is cleared) */
        int64_t delay = stopping(j) ? 0 : jobs_backoff_ms(job.attempts);

        log_warn("jobs: %s %s failed (%s); retrying in %lld ms", kind_name(job.kind),
                 job.object_key, why ? why : err_name(rc), (long long)delay);
        rc = db_job_retry(j->app->db, job.id, time_now_ms() + delay, why);
    }
    if (rc != ERR_OK) /* the lease runs out and the job comes back */
        log_warn("jobs: cannot record job %lld (%s)", (long long)job.id, err_name(rc));
out:
    arena_free(a);
    return ran;
}

/* Runs due jobs until none is due, JOBS_PER_ROUND ran, or stop. */
static void run_round(struct jobs *j)
{
    for (int n = 0; n < JOBS_PER_ROUND && !stopping(j); n++) {
        if (!run_one(j))
            break;
    }
}

/* The database's expired rows of SPEC §14 (every server sweeps; harmless). */
static void sweep(struct jobs *j, int64_t *last_ms)
{
    int64_t now = time_now_ms();

    if (now - *last_ms < SWEEP_MS)
        return;
    *last_ms = now;
    idempotency_prune(j->app, now);
    ratelimit_prune(j->app, now);
    if (db_search_merge(j->app->db) != ERR_OK)
        log_warn("jobs: cannot merge the search index");
}

static void *worker(void *arg)
{
    struct jobs *j = arg;
    int64_t swept_ms = 0;

    for (;;) {
        struct timespec until;

        run_round(j);
        sweep(j, &swept_ms);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += JOBS_POLL_MS / 1000;
        until.tv_nsec += (long)(JOBS_POLL_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&j->mu);
        while (!j->stop && pthread_cond_timedwait(&j->wake, &j->mu, &until) == 0)
            ; /* spurious wake-ups wait on; the timeout ends the sleep */
        if (j->stop) {
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
        pthread_mutex_unlock(&j->mu);
    }
}

enum err jobs_start(struct app *app, struct jobs **out)
{
    struct jobs *j;
    pthread_condattr_t ca;
    bool have_mu = false, have_cv = false;

    if (!app || !app->db || !app->storage || !out)
        return ERR_INVALID;
    j = calloc(1, sizeof(*j));
    if (!j)
        return ERR_NOMEM;
    j->app = app;
    if (pthread_mutex_init(&j->mu, NULL) != 0)
        goto fail;
    have_mu = true;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&j->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    have_cv = true;
    if (pthread_create(&j->thread, NULL, worker, j) != 0)
        goto fail;
    *out = j;
    return ERR_OK;
fail:
    log_error("jobs: cannot start the worker thread");
    if (have_cv)
        pthread_cond_destroy(&j->wake);
    if (have_mu)
        pthread_mutex_destroy(&j->mu);
    free(j);
    return ERR_INTERNAL;
}

void jobs_quit(struct jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->mu);
}

void jobs_stop(struct jobs *j)
{
    if (!j)
        return;
    jobs_quit(j);
    pthread_join(j->thread, NULL);
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
