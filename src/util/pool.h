/*
 * pool.h - a fixed set of worker threads fed by one FIFO queue.
 *
 * The edit pipeline runs its CPU work (libvips) on a pool sized to the cores and
 * its blocking I/O (storage writes, database transactions) on a second, wider one,
 * so neither kind of wait holds an HTTP thread. A pool is bounded: pool_submit()
 * refuses with ERR_BUSY once max_queued tasks wait, which the caller turns into a
 * 503 with Retry-After instead of letting latency grow without bound. A task that
 * continues work already admitted uses pool_continue(), which ignores the bound and
 * never fails: a request, once accepted, is never dropped half-way.
 *
 * Ownership: the pool owns its threads and its queue nodes; the task's arg is
 * the caller's, handed to fn exactly once. Thread-safe.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

struct pool;

typedef void (*pool_fn)(void *arg);

/*
 * Starts threads workers named "name-N" (at most 15 bytes shown by tools).
 * on_exit, if not NULL, runs on each worker just before it ends (libvips wants
 * vips_thread_shutdown() there).
 */
enum err pool_open(const char *name, unsigned threads, size_t max_queued, void (*on_exit)(void),
                   struct pool **out);

/* Queues fn(arg). ERR_BUSY when max_queued tasks already wait, ERR_NOMEM, and
 * ERR_UNAVAILABLE once pool_close() has let every worker go (nothing would run it). */
enum err pool_submit(struct pool *p, pool_fn fn, void *arg);

/* Queues fn(arg) whatever the queue length; when it cannot be queued (no memory, or
 * the pool has closed), runs fn(arg) here on the calling thread instead. */
void pool_continue(struct pool *p, pool_fn fn, void *arg);

/* Tasks waiting, not yet started. */
size_t pool_queued(struct pool *p);

/* Runs every queued task, then joins the workers and frees the pool. Accepts NULL.
 * Tasks may still submit to this pool while it drains. */
void pool_close(struct pool *p);
