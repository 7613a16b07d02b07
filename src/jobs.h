/*
 * jobs.h - the background worker of `serve`: runs the durable job queue (db.h's
 * db_job_*), so work that failed in a request (an object deletion) is done later,
 * by exactly one of the servers sharing the database.
 *
 * Ownership: jobs_start() returns a struct jobs the caller stops and frees with
 * jobs_stop(); the app is borrowed and must outlive it.
 */
#pragma once

#include <stdint.h>

#include "app.h"

#define JOBS_POLL_MS 1000
#define JOBS_BACKOFF_BASE_MS 2000
#define JOBS_BACKOFF_MAX_MS 300000

struct jobs;

/* Starts the worker thread; it polls every JOBS_POLL_MS. */
enum err jobs_start(struct app *app, struct jobs **out);
/* Claims no more jobs from now on (the one in hand finishes; a failure of it is due
 * again at once, for another server). Does not wait. Accepts NULL. */
void jobs_quit(struct jobs *j);
/* Wakes the worker, waits for the job in hand (if any) and frees. Accepts NULL. */
void jobs_stop(struct jobs *j);
/* The delay before the next run of a job that failed `attempts` times before:
 * JOBS_BACKOFF_BASE_MS * 2^attempts, at most JOBS_BACKOFF_MAX_MS. */
int64_t jobs_backoff_ms(int64_t attempts);
