/*
 * test_storage.c - the storage contract, run against the local backend: atomic
 * put, get, idempotent delete, refusal of keys that could escape the media root,
 * through the synchronous and the asynchronous calls, from several threads at once.
 * With NOVADRAW_TEST_S3_ENDPOINT set (tests/e2e/test_s3.py does, pointing at the
 * SigV4-verifying proxy) it runs against the s3 backend too, plus listing.
 * Always, on loopback: the s3 backend's failure paths (a refused port: every call
 * ends ERR_UNAVAILABLE after its retries, its callback exactly once; a port that
 * never answers, then the HTTP client shut down), and its region and public URL
 * derivation (pure).
 *
 * check.h is not thread-safe: threads and callbacks record, the main thread checks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "storage/storage.h"
#include "util/httpc.h"
#include "util/log.h"

#define N_ASYNC 24  /* asynchronous calls in flight at once */
#define N_THREADS 8 /* threads calling the synchronous API at once */

/* ------------------------------------------------------------------ async results */

/* Counts outstanding callbacks; the main thread waits for zero. */
struct latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
};

/* One asynchronous call's outcome, as its callback wrote it. */
struct result {
    struct latch *latch;
    atomic_int calls; /* must end at exactly 1 */
    enum err rc;
    void *data;
    size_t len;
};

static void latch_init(struct latch *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->pending = 0;
}

static void latch_add(struct latch *l, int n)
{
    pthread_mutex_lock(&l->mu);
    l->pending += n;
    pthread_mutex_unlock(&l->mu);
}

static void latch_done(struct latch *l)
{
    pthread_mutex_lock(&l->mu);
    l->pending--;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void latch_wait(struct latch *l)
{
    pthread_mutex_lock(&l->mu);
    while (l->pending > 0)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static void latch_destroy(struct latch *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

static void on_done(void *arg, enum err rc)
{
    struct result *r = arg;
    r->rc = rc;
    if (atomic_fetch_add(&r->calls, 1) == 0)
        latch_done(r->latch); /* a second call is counted, never waited for */
}

static void on_got(void *arg, enum err rc, void *data, size_t len)
{
    struct result *r = arg;
    free(r->data); /* a second call must not leak */
    r->rc = rc;
    r->data = data;
    r->len = len;
    if (atomic_fetch_add(&r->calls, 1) == 0)
        latch_done(r->latch);
}

static void result_reset(struct result *r, struct latch *l)
{
    free(r->data);
    r->latch = l;
    atomic_store(&r->calls, 0);
    r->rc = ERR_INTERNAL;
    r->data = NULL;
    r->len = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void storage_contract(struct storage *s)
{
    void *data = NULL;
    size_t len = 0;
    struct storage_file f;

    CHECK_EQ_INT(storage_put(s, "users/u/original/a.png", "abc", 3, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_OK);
    CHECK_EQ_INT(len, 3);
    CHECK(data && memcmp(data, "abc", 3) == 0);
    free(data);
    CHECK_EQ_INT(storage_put(s, "users/u/original/a.png", "abcd", 4, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_OK);
    CHECK_EQ_INT(len, 4);
    free(data);
    CHECK_EQ_INT(storage_put(s, "../etc/passwd", "x", 1, "text/plain"), ERR_INVALID);
    CHECK_EQ_INT(storage_put(s, "users/../../x.png", "x", 1, "image/png"), ERR_INVALID);
    CHECK_EQ_INT(storage_get(s, "users/../../x.png", &data, &len), ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_get(s, "users/u/original/none.png", &data, &len), ERR_NOT_FOUND);
    if (s->ops->open_file) {
        CHECK_EQ_INT(storage_open_file(s, "users/u/original/a.png", &f), ERR_OK);
        CHECK_EQ_INT(f.size, 4);
        close(f.fd);
        CHECK_EQ_INT(storage_open_file(s, "../novadraw.db", &f), ERR_NOT_FOUND);
    }
    CHECK_EQ_INT(storage_del(s, "users/u/original/a.png"), ERR_OK);
    CHECK_EQ_INT(storage_del(s, "users/u/original/a.png"), ERR_OK); /* deleting twice is fine */
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_NOT_FOUND);
}

/* The same contract through the asynchronous calls: each accepted call's callback runs
 * exactly once; a refused call's never. Then N_ASYNC puts, gets and deletes at once. */
static void async_contract(struct storage *s)
{
    static struct result r[N_ASYNC];
    static char keys[N_ASYNC][64], bodies[N_ASYNC][32];
    struct latch l;

    latch_init(&l);
    result_reset(&r[0], &l);
    latch_add(&l, 1);
    CHECK_EQ_INT(
        storage_put_async(s, "users/u/original/b.png", "abc", 3, "image/png", on_done, &r[0]),
        ERR_OK);
    latch_wait(&l);
    CHECK_EQ_INT(r[0].rc, ERR_OK);
    CHECK_EQ_INT(atomic_load(&r[0].calls), 1);

    result_reset(&r[0], &l);
    latch_add(&l, 1);
    CHECK_EQ_INT(storage_get_async(s, "users/u/original/b.png", on_got, &r[0]), ERR_OK);
    latch_wait(&l);
    CHECK_EQ_INT(r[0].rc, ERR_OK);
    CHECK_EQ_INT(r[0].len, 3);
    CHECK(r[0].data && memcmp(r[0].data, "abc", 3) == 0);

    result_reset(&r[0], &l);
    latch_add(&l, 1);
    CHECK_EQ_INT(storage_get_async(s, "users/u/original/none.png", on_got, &r[0]), ERR_OK);
    latch_wait(&l);
    CHECK_EQ_INT(r[0].rc, ERR_NOT_FOUND);
    CHECK(r[0].data == NULL && r[0].len == 0);

    /* refused before any backend: no callback, ever */
    result_reset(&r[0], &l);
    CHECK_EQ_INT(storage_put_async(s, "../etc/passwd.png", "x", 1, "image/png", on_done, &r[0]),
                 ERR_INVALID);
    CHECK_EQ_INT(storage_get_async(s, "users/../../x.png", on_got, &r[0]), ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_del_async(s, "/abs.png", on_done, &r[0]), ERR_INVALID);
    CHECK_EQ_INT(storage_put_async(s, "users/u/original/b.png", "x", 1, "image/png", NULL, NULL),
                 ERR_INVALID);
    CHECK_EQ_INT(atomic_load(&r[0].calls), 0);

    for (int round = 0; round < 2; round++) { /* deleting twice is fine */
        result_reset(&r[0], &l);
        latch_add(&l, 1);
        CHECK_EQ_INT(storage_del_async(s, "users/u/original/b.png", on_done, &r[0]), ERR_OK);
        latch_wait(&l);
        CHECK_EQ_INT(r[0].rc, ERR_OK);
        CHECK_EQ_INT(atomic_load(&r[0].calls), 1);
    }

    /* many at once: every call submitted before the first is waited for */
    for (int i = 0; i < N_ASYNC; i++) {
        snprintf(keys[i], sizeof(keys[i]), "users/async/original/%02d.png", i);
        snprintf(bodies[i], sizeof(bodies[i]), "object number %d", i);
        result_reset(&r[i], &l);
    }
    latch_add(&l, N_ASYNC);
    for (int i = 0; i < N_ASYNC; i++) {
        if (storage_put_async(s, keys[i], bodies[i], strlen(bodies[i]), "image/png", on_done,
                              &r[i]) != ERR_OK)
            latch_done(&l);
    }
    latch_wait(&l);
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_EQ_INT(r[i].rc, ERR_OK);
        CHECK_EQ_INT(atomic_load(&r[i].calls), 1);
        result_reset(&r[i], &l);
    }
    latch_add(&l, N_ASYNC);
    for (int i = 0; i < N_ASYNC; i++) {
        if (storage_get_async(s, keys[i], on_got, &r[i]) != ERR_OK)
            latch_done(&l);
    }
    latch_wait(&l);
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_EQ_INT(r[i].rc, ERR_OK);
        CHECK_EQ_INT(atomic_load(&r[i].calls), 1);
        CHECK(r[i].len == strlen(bodies[i]) && r[i].data &&
              memcmp(r[i].data, bodies[i], r[i].len) == 0);
        result_reset(&r[i], &l);
    }
    latch_add(&l, N_ASYNC);
    for (int i = 0; i < N_ASYNC; i++) {
        if (storage_del_async(s, keys[i], on_done, &r[i]) != ERR_OK)
            latch_done(&l);
    }
    latch_wait(&l);
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_EQ_INT(r[i].rc, ERR_OK);
        CHECK_EQ_INT(atomic_load(&r[i].calls), 1);
        result_reset(&r[i], &l);
    }
    latch_destroy(&l);
}

/* One thread of threads_contract(): sync put, get, delete of its own keys. */
struct worker {
    pthread_t t;
    struct storage *s;
    int id;
    int rounds;      /* of put, get, delete */
    int ok, failed;  /* calls with the expected outcome, and without */
    enum err expect; /* ERR_OK, or the one error every call must end with */
};

static void tally(struct worker *w, bool good)
{
    if (good)
        w->ok++;
    else
        w->failed++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int round = 0; round < w->rounds; round++) {
        char key[64], body[48];
        void *data = NULL;
        size_t len = 0;
        enum err rc;

        snprintf(key, sizeof(key), "users/thread%d/original/%d.png", w->id, round);
        snprintf(body, sizeof(body), "thread %d round %d", w->id, round);
        tally(w, storage_put(w->s, key, body, strlen(body), "image/png") == w->expect);
        rc = storage_get(w->s, key, &data, &len);
        if (w->expect == ERR_OK)
            tally(w, rc == ERR_OK && len == strlen(body) && memcmp(data, body, len) == 0);
        else
            tally(w, rc == w->expect);
        free(data);
        tally(w, storage_del(w->s, key) == w->expect);
    }
    return NULL;
}

/* N_THREADS threads at once through the synchronous API, each expecting expect. */
static void threads_contract(struct storage *s, int rounds, enum err expect)
{
    struct worker w[N_THREADS];

    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){.s = s, .id = i, .rounds = rounds, .expect = expect};
        CHECK_EQ_INT(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(w[i].t, NULL);
        CHECK_EQ_INT(w[i].failed, 0);
        CHECK_EQ_INT(w[i].ok, 3 * rounds);
    }
}

struct listed {
    int n;
    char keys[8][64];
    uint64_t sizes[8];
};

static enum err collect(void *ctx, const struct storage_object *o)
{
    struct listed *l = ctx;
    if (l->n < 8) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", o->key);
        l->sizes[l->n] = o->size;
    }
    l->n++;
    CHECK(o->mtime_ms > 1600000000000LL);
    return ERR_OK;
}

static enum err stop_early(void *ctx, const struct storage_object *o)
{
    (void)o;
    return ++*(int *)ctx == 2 ? ERR_CONFLICT : ERR_OK;
}

/* Listing, on every backend that lists: five objects in key order (the proxy may force
 * small pages on s3), a stop from the callback, an empty prefix. */
static void list_contract(struct storage *s)
{
    struct listed l = {0};
    char k[64];
    int calls = 0;

    /* five objects, listed in key order across pages (the proxy may force small pages) */
    for (int i = 4; i >= 0; i--) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_INT(storage_put(s, k, "0123456789", (size_t)i + 1, "image/png"), ERR_OK);
    }
    CHECK_EQ_INT(storage_put(s, "users/other/original/x.png", "x", 1, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_list(s, "users/list/", collect, &l), ERR_OK);
    CHECK_EQ_INT(l.n, 5);
    for (int i = 0; i < 5 && i < l.n; i++) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_STR(l.keys[i], k);
        CHECK_EQ_INT(l.sizes[i], i + 1);
    }
    CHECK_EQ_INT(storage_list(s, "users/list/", stop_early, &calls), ERR_CONFLICT);
    CHECK_EQ_INT(calls, 2);
    l.n = 0;
    CHECK_EQ_INT(storage_list(s, "users/none/", collect, &l), ERR_OK);
    CHECK_EQ_INT(l.n, 0);
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_INT(storage_del(s, k), ERR_OK);
    }
    CHECK_EQ_INT(storage_del(s, "users/other/original/x.png"), ERR_OK);
}

static enum err count_one(void *ctx, const struct storage_object *obj)
{
    (void)obj;
    (*(int *)ctx)++;
    return ERR_OK;
}

/* A symlink anywhere under media/ leads nowhere: puts, gets, deletes, listings and
 * sweeps stay beneath the root (dir: DATA_DIR; outside: a directory beside it). */
static void symlink_fences(struct storage *s, const char *dir, const char *outside)
{
    char path[512], link[512];
    void *data = NULL;
    size_t len = 0;
    struct storage_file f;
    struct stat st;
    int n = 0, before = 0;

    snprintf(path, sizeof(path),
             "mkdir -p %s/original && printf secret > %s/original/x.png && "
             "printf half > %s/original/y.png.tmp-abcdef && touch -d 2000-01-01 "
             "%s/original/y.png.tmp-abcdef",
             outside, outside, outside, outside);
    CHECK_EQ_INT(system(path), 0);
    snprintf(link, sizeof(link), "%s/media/users/evil", dir);
    CHECK_EQ_INT(storage_put(s, "users/u/original/keep.png", "k", 1, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_list(s, "users/", count_one, &before), ERR_OK);
    CHECK_EQ_INT(symlink(outside, link), 0);
    /* a directory symlink in the middle of the key */
    CHECK_EQ_INT(storage_get(s, "users/evil/original/x.png", &data, &len), ERR_NOT_FOUND);
    CHECK(data == NULL);
    CHECK_EQ_INT(storage_open_file(s, "users/evil/original/x.png", &f), ERR_NOT_FOUND);
    CHECK(storage_put(s, "users/evil/original/x.png", "pwned", 5, "image/png") != ERR_OK);
    CHECK(storage_put(s, "users/evil/thumbnail/t.webp", "pwned", 5, "image/webp") != ERR_OK);
    CHECK(storage_del(s, "users/evil/original/x.png") != ERR_OK);
    snprintf(path, sizeof(path), "%s/original/x.png", outside);
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_size, 6); /* "secret", untouched */
    snprintf(path, sizeof(path), "%s/thumbnail", outside);
    CHECK(stat(path, &st) != 0); /* no directory made outside */
    CHECK_EQ_INT(storage_list(s, "users/", count_one, &n), ERR_OK);
    CHECK_EQ_INT(n, before); /* nothing through the link */
    n = 0;
    CHECK_EQ_INT(storage_sweep(s, INT64_MAX, false, count_one, &n), ERR_OK);
    CHECK_EQ_INT(n, 0);
    snprintf(path, sizeof(path), "%s/original/y.png.tmp-abcdef", outside);
    CHECK_EQ_INT(stat(path, &st), 0); /* the sweep did not reach outside */
    CHECK_EQ_INT(unlink(link), 0);
    /* a symlink as the last component */
    snprintf(link, sizeof(link), "%s/media/users/u/original/link.png", dir);
    snprintf(path, sizeof(path), "%s/original/x.png", outside);
    CHECK_EQ_INT(symlink(path, link), 0);
    CHECK_EQ_INT(storage_get(s, "users/u/original/link.png", &data, &len), ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_open_file(s, "users/u/original/link.png", &f), ERR_NOT_FOUND);
    CHECK_EQ_INT(unlink(link), 0);
    CHECK_EQ_INT(storage_del(s, "users/u/original/keep.png"), ERR_OK);
}

static void s3_contract(const char *endpoint)
{
    const char *key = getenv("NOVADRAW_TEST_S3_KEY"), *secret = getenv("NOVADRAW_TEST_S3_SECRET");
    const char *bucket = getenv("NOVADRAW_TEST_S3_BUCKET");
    struct config cfg = {0};
    struct httpc *http = NULL;
    struct storage *s = NULL;
    struct arena *a = arena_new();
    char probe[STORAGE_KEY_MAX];

    cfg.storage_kind = STORAGE_S3;
    cfg.storage_endpoint_url = (char *)endpoint;
    cfg.spaces_key = (char *)(key ? key : "S3RVER");
    cfg.spaces_secret = (char *)(secret ? secret : "S3RVER");
    cfg.spaces_bucket = (char *)(bucket ? bucket : "novadraw");
    cfg.storage_acl = "public-read";
    cfg.signed_url_ttl = 60;
    CHECK_EQ_INT(httpc_open(0, &http), ERR_OK);
    CHECK_EQ_INT(storage_open(&cfg, NULL, &s), ERR_INVALID); /* s3 needs a client */
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (!s) {
        httpc_close(http);
        arena_free(a);
        return;
    }
    CHECK_EQ_INT(storage_check(s), ERR_OK);
    storage_contract(s);
    async_contract(s);
    threads_contract(s, 3, ERR_OK);
    CHECK_EQ_INT(storage_probe(s, probe), ERR_OK);

    list_contract(s);
    snprintf(probe, sizeof(probe), "%s/%s/users/u/a.png", endpoint, cfg.spaces_bucket);
    CHECK_EQ_STR(storage_url(s, "users/u/a.png", a), probe);
    storage_close(s);

    /* private: a presigned URL of the endpoint, not the public base */
    cfg.storage_acl = "private";
    cfg.spaces_public_url = "https://cdn.example";
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (s) {
        const char *u = storage_url(s, "users/u/a.png", a);
        CHECK(u && strncmp(u, endpoint, strlen(endpoint)) == 0);
        CHECK(u && strstr(u, "&X-Amz-Expires=60&") != NULL);
        CHECK(u && strstr(u, "X-Amz-Signature=") != NULL);
    }
    storage_close(s);
    httpc_close(http);
    arena_free(a);
}

/* A loopback TCP socket: listening (connections wait in its backlog, never accepted,
 * never answered) or, with listen_too false, bound and closed (refused). Writes the
 * endpoint URL; returns the descriptor (-1 once closed). */
static int loopback(bool listen_too, char url[64])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, 64, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    if (listen_too) {
        CHECK_EQ_INT(listen(fd, 64), 0);
        return fd;
    }
    close(fd); /* nobody listens there now: connections are refused */
    return -1;
}

static void s3_config(struct config *cfg, const char *endpoint)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->storage_kind = STORAGE_S3;
    cfg->storage_endpoint_url = (char *)endpoint;
    cfg->spaces_key = "k";
    cfg->spaces_secret = "s";
    cfg->spaces_bucket = "b";
    cfg->storage_acl = "public-read";
    cfg->signed_url_ttl = 60;
}

/*
 * A refused port: every call, synchronous or not, from many threads at once, ends
 * ERR_UNAVAILABLE after its retries (3 attempts, backoff between them), and each
 * callback runs exactly once, also counted again after the client is closed.
 */
static void s3_unreachable(void)
{
    static struct result put[N_ASYNC], get[N_ASYNC], del[N_ASYNC];
    struct config cfg;
    struct httpc *http = NULL;
    struct storage *s = NULL;
    struct latch l;
    char url[64];
    double t0, dt;

    loopback(false, url);
    s3_config(&cfg, url);
    CHECK_EQ_INT(httpc_open(0, &http), ERR_OK);
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (!s) {
        httpc_close(http);
        return;
    }
    t0 = now_s();
    CHECK_EQ_INT(storage_put(s, "users/u/original/a.png", "abc", 3, "image/png"), ERR_UNAVAILABLE);
    dt = now_s() - t0;
    CHECK(dt >= 0.7 && dt < 10); /* two backoff waits (250 ms, 500 ms at least), no more */
    CHECK_EQ_INT(storage_check(s), ERR_UNAVAILABLE);

    latch_init(&l);
    for (int i = 0; i < N_ASYNC; i++) {
        result_reset(&put[i], &l);
        result_reset(&get[i], &l);
        result_reset(&del[i], &l);
    }
    latch_add(&l, 3 * N_ASYNC);
    t0 = now_s();
    for (int i = 0; i < N_ASYNC; i++) {
        if (storage_put_async(s, "users/u/original/a.png", "abc", 3, "image/png", on_done,
                              &put[i]) != ERR_OK)
            latch_done(&l);
        if (storage_get_async(s, "users/u/original/a.png", on_got, &get[i]) != ERR_OK)
            latch_done(&l);
        if (storage_del_async(s, "users/u/original/a.png", on_done, &del[i]) != ERR_OK)
            latch_done(&l);
    }
    threads_contract(s, 1, ERR_UNAVAILABLE); /* meanwhile, N_THREADS threads wait too */
    latch_wait(&l);
    CHECK(now_s() - t0 < 15); /* all at once, not one after another */
    storage_close(s);
    httpc_close(http); /* anything left would be called back now */
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_EQ_INT(put[i].rc, ERR_UNAVAILABLE);
        CHECK_EQ_INT(atomic_load(&put[i].calls), 1);
        CHECK_EQ_INT(get[i].rc, ERR_UNAVAILABLE);
        CHECK(get[i].data == NULL && get[i].len == 0);
        CHECK_EQ_INT(atomic_load(&get[i].calls), 1);
        CHECK_EQ_INT(del[i].rc, ERR_UNAVAILABLE);
        CHECK_EQ_INT(atomic_load(&del[i].calls), 1);
    }
    latch_destroy(&l);
}

/*
 * A port that takes connections and never answers: calls in flight when the HTTP client
 * shuts down end at once, ERR_UNAVAILABLE, exactly once; later calls are refused
 * (ERR_UNAVAILABLE, no callback), synchronous ones too.
 */
static void s3_shutdown(void)
{
    static struct result r[N_ASYNC];
    struct config cfg;
    struct httpc *http = NULL;
    struct storage *s = NULL;
    struct latch l;
    struct result late;
    char url[64];
    int fd = loopback(true, url);
    double t0;

    s3_config(&cfg, url);
    CHECK_EQ_INT(httpc_open(0, &http), ERR_OK);
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (!s) {
        httpc_close(http);
        close(fd);
        return;
    }
    latch_init(&l);
    latch_add(&l, N_ASYNC);
    for (int i = 0; i < N_ASYNC; i++) {
        result_reset(&r[i], &l);
        if (storage_put_async(s, "users/u/original/a.png", "abc", 3, "image/png", on_done, &r[i]) !=
            ERR_OK)
            latch_done(&l);
    }
    usleep(200 * 1000); /* connected, sent, waiting for an answer that never comes */
    CHECK_EQ_INT(atomic_load(&r[0].calls), 0);
    t0 = now_s();
    httpc_shutdown(http);
    latch_wait(&l);
    CHECK(now_s() - t0 < 5);
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_EQ_INT(r[i].rc, ERR_UNAVAILABLE);
        CHECK_EQ_INT(atomic_load(&r[i].calls), 1);
    }
    memset(&late, 0, sizeof(late));
    result_reset(&late, &l);
    CHECK_EQ_INT(
        storage_put_async(s, "users/u/original/a.png", "abc", 3, "image/png", on_done, &late),
        ERR_UNAVAILABLE);
    CHECK_EQ_INT(atomic_load(&late.calls), 0);
    CHECK_EQ_INT(storage_del(s, "users/u/original/a.png"), ERR_UNAVAILABLE);
    storage_close(s);
    httpc_close(http);
    CHECK_EQ_INT(atomic_load(&late.calls), 0);
    latch_destroy(&l);
    close(fd);
}

static void s3_settings(void)
{
    struct config cfg = {0};
    struct arena *a = arena_new();

    cfg.storage_endpoint_url = "https://nyc3.digitaloceanspaces.com";
    cfg.spaces_bucket = "novadraw";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "nyc3");
    CHECK_EQ_STR(storage_s3_public_base(&cfg, a), "https://nyc3.digitaloceanspaces.com/novadraw");
    cfg.storage_endpoint_url = "https://AMS3.DigitalOceanSpaces.com:443";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "ams3");
    cfg.storage_endpoint_url = "https://s3.eu-west-1.amazonaws.com";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "eu-west-1");
    cfg.storage_endpoint_url = "http://127.0.0.1:9000";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "us-east-1");
    cfg.storage_endpoint_url = "http://digitaloceanspaces.com";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "us-east-1");
    cfg.spaces_region = "fra1";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "fra1");
    cfg.spaces_public_url = "https://cdn.example.com/x";
    CHECK_EQ_STR(storage_s3_public_base(&cfg, a), "https://cdn.example.com/x");
    arena_free(a);
}

int main(void)
{
    char dir[] = "/tmp/novadraw-storage-XXXXXX";
    struct config cfg = {0};
    struct storage *s = NULL;
    struct arena *a = arena_new();
    char path[512];
    struct stat st;

    CHECK(mkdtemp(dir) != NULL);
    cfg.data_dir = dir;
    cfg.public_base_url = "http://127.0.0.1:8000";
    cfg.storage_kind = STORAGE_LOCAL;
    CHECK_EQ_INT(storage_open(&cfg, NULL, &s), ERR_OK); /* local sends no requests */
    storage_contract(s);
    async_contract(s);
    threads_contract(s, 3, ERR_OK);

    /* local specifics: where files go, their mode, no temp files left, the URL */
    CHECK_EQ_INT(storage_put(s, "users/u/thumbnail/t.webp", "RIFF", 4, "image/webp"), ERR_OK);
    snprintf(path, sizeof(path), "%s/media/users/u/thumbnail/t.webp", dir);
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0644);
    snprintf(path, sizeof(path), "ls -A %s/media/users/u/thumbnail | grep -c tmp", dir);
    CHECK(system(path) != 0); /* grep finds no temp file */
    CHECK_EQ_STR(storage_url(s, "users/u/thumbnail/t.webp", a),
                 "http://127.0.0.1:8000/media/users/u/thumbnail/t.webp");

    /* the probe writes under users/.probe/, which no client can name, and cleans up */
    CHECK_EQ_INT(storage_check(s), ERR_OK);
    CHECK_EQ_INT(storage_probe(s, path), ERR_OK);
    CHECK(strncmp(path, "users/.probe/", 13) == 0 && !storage_key_valid(path));
    CHECK_EQ_INT(storage_list(s, "", NULL, NULL), ERR_INVALID);
    list_contract(s); /* the local backend lists too (for `novadraw gc`) */
    snprintf(path, sizeof(path), "%s-outside", dir);
    log_set_level(LOG_ERROR);     /* the refusals are logged */
    symlink_fences(s, dir, path); /* openat2 */
    storage_local_test_without_openat2(true);
    symlink_fences(s, dir, path); /* the O_NOFOLLOW walk */
    storage_contract(s);
    list_contract(s);
    storage_local_test_without_openat2(false);
    log_set_level(LOG_INFO);

    storage_close(s);
    arena_free(a);
    snprintf(path, sizeof(path), "rm -rf %s %s-outside", dir, dir);
    CHECK_EQ_INT(system(path), 0);

    s3_settings();
    log_set_level(LOG_ERROR); /* hundreds of expected retry warnings */
    s3_unreachable();
    s3_shutdown();
    log_set_level(LOG_INFO);
    if (getenv("NOVADRAW_TEST_S3_ENDPOINT"))
        s3_contract(getenv("NOVADRAW_TEST_S3_ENDPOINT"));
    return check_summary("storage");
}
