/*
 * pool.c - worker threads over a mutex-protected FIFO (a singly linked list
 * with a tail pointer). One condition variable wakes workers; a worker exits
 * only when the pool is closing and the queue is empty, so close drains. A task
 * runs under the request id (util/log.h) of the thread that submitted it.
 */
#include "util/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct task {
    struct task *next;
    pool_fn fn;
    void *arg;
    char request_id[LOG_REQUEST_ID_MAX + 1]; /* the submitter's, for the task's log lines */
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task *head, *tail;
    size_t queued, max_queued;
    bool closing;
    unsigned exited; /* workers that have left: once all have, nothing would run a task */
    void (*on_exit)(void);
    pthread_t *threads;
    unsigned n_threads;
};

static void *worker(void *arg)
{
    struct pool *p = arg;

    for (;;) {
        struct task *t;

        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        t = p->head;
        if (!t) { /* closing, nothing left */
            p->exited++;
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);

        log_set_request(t->request_id);
        t->fn(t->arg);
        log_set_request(NULL);
        free(t);
    }
    if (p->on_exit)
        p->on_exit();
    return NULL;
}

static enum err submit(struct pool *p, pool_fn fn, void *arg, bool bounded)
{
    struct task *t = malloc(sizeof(*t));

    if (!t)
        return ERR_NOMEM;
    t->next = NULL;
    t->fn = fn;
    t->arg = arg;
    snprintf(t->request_id, sizeof(t->request_id), "%s", log_request());
    pthread_mutex_lock(&p->mu);
    if (p->closing && p->exited == p->n_threads) {
        pthread_mutex_unlock(&p->mu);
        free(t);
        return ERR_UNAVAILABLE;
    }
    if (bounded && p->queued >= p->max_queued) {
        pthread_mutex_unlock(&p->mu);
        free(t);
        return ERR_BUSY;
    }
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return ERR_OK;
}

enum err pool_submit(struct pool *p, pool_fn fn, void *arg)
{
    return submit(p, fn, arg, true);
}

void pool_continue(struct pool *p, pool_fn fn, void *arg)
{
    if (submit(p, fn, arg, false) != ERR_OK)
        fn(arg);
}

size_t pool_queued(struct pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->queued;
    pthread_mutex_unlock(&p->mu);
    return n;
}

enum err pool_open(const char *name, unsigned threads, size_t max_queued, void (*on_exit)(void),
                   struct pool **out)
{
    struct pool *p;

    if (threads == 0)
        return ERR_INVALID;
    p = calloc(1, sizeof(*p));
    if (!p)
        return ERR_NOMEM;
    p->threads = calloc(threads, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->max_queued = max_queued;
    p->on_exit = on_exit;
    for (unsigned i = 0; i < threads; i++) {
        char tname[16];
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            log_error("pool %s: cannot start thread %u", name, i);
            pool_close(p);
            return ERR_INTERNAL;
        }
        p->n_threads++;
        snprintf(tname, sizeof(tname), "%.8s-%u", name, i % 1000);
        pthread_setname_np(p->threads[i], tname);
    }
    *out = p;
    return ERR_OK;
}

void pool_close(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
