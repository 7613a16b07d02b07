/*
 * export.c - a user's gallery as a streamed ZIP archive (SPEC §11): the producer on the
 * io pool, libarchive (the only includer of archive.h), and the bounded buffer between
 * the producer and the HTTP side's reader.
 *
 * The producer works in steps (a task on the io pool each): a page of rows from the
 * database, a drawing's JSON, a piece of an image. Before each it checks the buffer:
 * at EXPORT_HIGH bytes it parks (returns; no thread waits), and the reader queues it
 * again once it has drained the buffer below EXPORT_LOW. An image in storage that is
 * not a local file is read asynchronously (S3: on the HTTP client's loop) and its
 * callback queues the next step. The reader never blocks: with nothing buffered it
 * asks to be woken (export_waker) and returns 0.
 *
 * drawings.json comes first, so that a reader of the stream meets the index before the
 * images: pass 1 writes it a page at a time (never every drawing's JSON in memory),
 * pass 2 writes the images of the same drawings, bounded by pass 1's first and last
 * ones, so a drawing added meanwhile is in neither (new drawings sort first or last). Pages are
 * read by offset, remembering the last drawing handled (the order is created_at then id, which both
 * passes compare as the database does): a row already handled is skipped (rows inserted before it
 * shifted the page), and a page that starts past the last drawing handled (rows before it were
 * deleted) is read again from further back. A drawing deleted between the passes has its JSON and
 * no images; one whose objects vanish while they are read fails the export, as any storage error
 * does once the answer has begun: the transfer is cut, never completed as a valid archive with
 * something missing.
 *
 * Shared state (the buffer, the producer's and the reader's states) is under the
 * export's mutex; the rest belongs to the producer, one step at a time.
 */
#include "export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_json.h"
#include "drawings.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timefmt.h"

#define EXPORT_PAGE 100            /* drawings read at a time */
#define EXPORT_HIGH (1024 * 1024)  /* the producer parks with this many bytes buffered */
#define EXPORT_LOW (256 * 1024)    /* and goes on once the reader has drained below this */
#define EXPORT_PIECE (64 * 1024)   /* an image is written this much at a time */
#define EXPORT_SLICE (1024 * 1024) /* output of one task before it yields its io thread */
#define EXPORT_CHUNK (64 * 1024)   /* the buffer's unit */
#define EXPORT_MAX_ACTIVE 32       /* exports at once in this process (more: 503) */
#define EXPORT_NAME_MAX (ID_UUID_LEN + 32)

/* A piece of the buffer. */
struct chunk {
    struct chunk *next;
    size_t len, off; /* bytes in data; bytes already read */
    char data[EXPORT_CHUNK];
};

/* The producer's state: at work (a task queued, running, or a read in flight), parked
 * on a full buffer, or ended. */
enum producer { PRODUCER_IDLE, PRODUCER_WORKING, PRODUCER_PARKED, PRODUCER_ENDED };

enum phase { PHASE_JSON, PHASE_IMAGES, PHASE_CLOSE };

/* What a step achieved. */
enum advance { ADV_MORE, ADV_WAIT, ADV_DONE, ADV_FAIL };

/* A drawing's place in the export's order. */
struct cursor {
    bool set;
    int64_t created_at;
    char id[ID_UUID_LEN];
};

struct export
{
    struct app *app;
    char user_id[ID_UUID_LEN];
    struct gallery_filter f;
    char tutorial[ID_UUID_LEN];
    char *words; /* owned copy of f.words */
    int64_t started_ms;

    /* the producer's, one step at a time */
    struct export_waker waker;
    struct archive *ar;
    enum phase phase;
    struct arena *page_arena;
    struct drawing *page;
    size_t n_page, page_i;
    bool page_loaded, page_last;
    int64_t offset;
    struct cursor cursor;     /* the last drawing handled in this pass */
    struct cursor first, end; /* pass 1's first and last drawings: pass 2's bounds */
    bool json_first;
    const struct drawing *cur; /* pass 2: the drawing whose images are being written */
    size_t image_no;           /* its next image: 0 the original, N its Nth edit */
    bool in_entry;             /* an image's entry is open */
    int fd;                    /* the image, from a local file: fd_left bytes to go */
    uint64_t fd_left;
    char *img; /* or in memory (malloc'd): img_len bytes, img_off written */
    size_t img_len, img_off;
    bool reading;             /* an asynchronous read is in flight */
    enum err got_rc;          /* its outcome */
    size_t slice;             /* bytes made by the current task */
    char piece[EXPORT_PIECE]; /* a piece of an image file on its way into the archive */

    /* shared, under mu */
    pthread_mutex_t mu;
    struct chunk *head, *tail;
    size_t buffered;
    enum producer producer;
    bool failed;         /* the archive cannot be completed: the reader ends with an error */
    bool finished;       /* the archive is complete */
    bool reader_waiting; /* the reader returned 0 and waits for the waker */
    bool reader_gone;
};

static atomic_int active;    /* exports alive */
static atomic_int working;   /* producers at work (not parked, not ended) */
static atomic_bool stopping; /* serve is shutting down */

/* ---- the buffer ------------------------------------------------------------------ */

/* Under mu. */
static void set_producer(struct export *e, enum producer p)
{
    if (e->producer == PRODUCER_WORKING && p != PRODUCER_WORKING)
        atomic_fetch_sub(&working, 1);
    if (e->producer != PRODUCER_WORKING && p == PRODUCER_WORKING)
        atomic_fetch_add(&working, 1);
    e->producer = p;
}

static void step(void *arg);

/* libarchive's output: appended to the buffer (never blocks; the producer checks the
 * level between steps, so it exceeds EXPORT_HIGH by at most one step's output). */
static la_ssize_t on_archive_write(struct archive *ar, void *arg, const void *data, size_t len)
{
    struct export *e = arg;
    const char *p = data;
    size_t left = len;
    bool wake;

    (void)ar;
    pthread_mutex_lock(&e->mu);
    if (e->failed || e->reader_gone) { /* nobody will read it */
        pthread_mutex_unlock(&e->mu);
        return (la_ssize_t)len;
    }
    while (left > 0) {
        struct chunk *c = e->tail;
        size_t n;

        if (!c || c->len == EXPORT_CHUNK) {
            c = malloc(sizeof(*c));
            if (!c) {
                pthread_mutex_unlock(&e->mu);
                archive_set_error(ar, ENOMEM, "out of memory");
                return -1;
            }
            c->next = NULL;
            c->len = c->off = 0;
            if (e->tail)
                e->tail->next = c;
            else
                e->head = c;
            e->tail = c;
        }
        n = EXPORT_CHUNK - c->len < left ? EXPORT_CHUNK - c->len : left;
        memcpy(c->data + c->len, p, n);
        c->len += n;
        p += n;
        left -= n;
    }
    e->buffered += len;
    wake = e->reader_waiting;
    e->reader_waiting = false;
    pthread_mutex_unlock(&e->mu);
    e->slice += len;
    if (wake)
        e->waker.wake(e->waker.arg);
    return (la_ssize_t)len;
}

static void free_chunks(struct export *e)
{
    while (e->head) {
        struct chunk *c = e->head;
        e->head = c->next;
        free(c);
    }
    e->tail = NULL;
    e->buffered = 0;
}

static void export_free(struct export *e)
{
    free_chunks(e);
    free(e->words);
    pthread_mutex_destroy(&e->mu);
    free(e);
    atomic_fetch_sub(&active, 1);
}

long export_read(void *arg, char *buf, size_t max)
{
    struct export *e = arg;
    size_t n = 0;
    long r;
    bool resume = false;

    pthread_mutex_lock(&e->mu);
    if (e->failed) {
        pthread_mutex_unlock(&e->mu);
        return EXPORT_ERROR;
    }
    while (n < max && e->head) {
        struct chunk *c = e->head;
        size_t k = c->len - c->off < max - n ? c->len - c->off : max - n;

        memcpy(buf + n, c->data + c->off, k);
        c->off += k;
        n += k;
        if (c->off == c->len && (c->next || c->len == EXPORT_CHUNK)) {
            e->head = c->next;
            if (!e->head)
                e->tail = NULL;
            free(c);
        } else if (c->off == c->len) {
            break; /* the tail, still being filled */
        }
    }
    e->buffered -= n;
    if (n > 0) {
        r = (long)n;
    } else if (e->finished) {
        r = EXPORT_END;
    } else if (atomic_load(&stopping)) {
        r = EXPORT_ERROR; /* never sleep while serve stops: MHD cannot stop then */
    } else {
        e->reader_waiting = true;
        r = 0;
    }
    if (e->producer == PRODUCER_PARKED && e->buffered < EXPORT_LOW) {
        set_producer(e, PRODUCER_WORKING);
        resume = true;
    }
    pthread_mutex_unlock(&e->mu);
    if (resume)
        pool_continue(e->app->io, step, e);
    return r;
}

void export_done(void *arg)
{
    struct export *e = arg;
    bool resume = false, free_now;

    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->reader_gone = true;
    /* a parked producer runs once more, to let go of what it holds */
    if (e->producer == PRODUCER_PARKED) {
        set_producer(e, PRODUCER_WORKING);
        resume = true;
    }
    free_now = e->producer == PRODUCER_IDLE || e->producer == PRODUCER_ENDED;
    pthread_mutex_unlock(&e->mu);
    if (resume)
        pool_continue(e->app->io, step, e);
    if (free_now)
        export_free(e);
}

/* ---- the producer ------------------------------------------------------------------ */

/* The archive has ended (ok) or failed: let go of everything the producer holds, tell
 * the reader, and free the export if the reader is gone too. */
static void producer_end(struct export *e, bool ok)
{
    struct export_waker waker;
    bool wake, free_now;

    if (!ok) {
        /* first: nothing more reaches the reader, which ends with an error. Freeing the
         * archive then writes its end into the void (not archive_write_fail(), whose
         * free leaks libarchive's output state in 3.6). */
        pthread_mutex_lock(&e->mu);
        e->failed = true;
        pthread_mutex_unlock(&e->mu);
    }
    archive_write_free(e->ar);
    e->ar = NULL;
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    free(e->img);
    e->img = NULL;
    arena_free(e->page_arena);
    e->page_arena = NULL;

    pthread_mutex_lock(&e->mu);
    if (ok)
        e->finished = true;
    set_producer(e, PRODUCER_ENDED);
    wake = e->reader_waiting;
    e->reader_waiting = false;
    free_now = e->reader_gone;
    waker = e->waker; /* once unlocked, e is the reader's to free */
    pthread_mutex_unlock(&e->mu);
    if (wake)
        waker.wake(waker.arg);
    waker.release(waker.arg);
    if (free_now)
        export_free(e);
}

static bool archive_ok(struct export *e, int rc, const char *what)
{
    if (rc == ARCHIVE_OK)
        return true;
    log_error("export: %s: %s", what,
              archive_error_string(e->ar) ? archive_error_string(e->ar) : "?");
    return false;
}

/* Opens the archive's next entry: a file named name of size bytes (< 0: unknown),
 * stored or deflated. */
static bool entry_begin(struct export *e, const char *name, int64_t size, int64_t mtime_ms,
                        bool deflate)
{
    struct archive_entry *en = archive_entry_new();
    int rc;

    if (!en)
        return false;
    archive_entry_set_pathname(en, name);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0644);
    archive_entry_set_mtime(en, (time_t)(mtime_ms / 1000), (long)(mtime_ms % 1000) * 1000000);
    if (size >= 0)
        archive_entry_set_size(en, size);
    /* PNGs are compressed already: stored; the JSON deflates well */
    rc = deflate ? archive_write_zip_set_compression_deflate(e->ar)
                 : archive_write_zip_set_compression_store(e->ar);
    if (rc == ARCHIVE_OK)
        rc = archive_write_header(e->ar, en);
    archive_entry_free(en);
    return archive_ok(e, rc, name);
}

static bool entry_data(struct export *e, const void *p, size_t len)
{
    la_ssize_t n = len ? archive_write_data(e->ar, p, len) : 0;

    if (n < 0 || (size_t)n != len) {
        archive_ok(e, ARCHIVE_FATAL, "writing an entry");
        return false;
    }
    return true;
}

/* Where a drawing is in the export's order relative to c: < 0 before, 0 the same, > 0
 * after. As the database orders (created_at, then id: lowercase canonical UUIDs, so
 * their bytes), newest first unless the filter says oldest. */
static int order(const struct export *e, const struct drawing *d, const struct cursor *c)
{
    int r = d->created_at < c->created_at ? -1 : d->created_at > c->created_at ? 1 : 0;

    if (r == 0)
        r = strcmp(d->id, c->id);
    if (r != 0)
        r = r < 0 ? -1 : 1;
    return e->f.oldest_first ? r : -r;
}

static void remember(struct cursor *c, const struct drawing *d)
{
    c->set = true;
    c->created_at = d->created_at;
    memcpy(c->id, d->id, ID_UUID_LEN);
}

/* Loads the pass's next page (see the top of the file for the offsets). */
static bool next_page(struct export *e)
{
    for (;;) {
        struct drawing *ds = NULL;
        size_t n = 0;
        int64_t total = 0;
        enum err rc;

        arena_free(e->page_arena);
        e->page_arena = arena_new();
        if (!e->page_arena)
            return false;
        rc = db_gallery_list(e->app->db, e->user_id, &e->f, e->offset, EXPORT_PAGE, e->page_arena,
                             &ds, &n, &total);
        if (rc != ERR_OK) {
            log_error("export: cannot read the gallery (%s)", err_name(rc));
            return false;
        }
        if (e->offset > 0 && e->cursor.set && (n == 0 || order(e, &ds[0], &e->cursor) > 0)) {
            /* rows before the last one handled are gone: this page may begin past rows
             * not handled yet; read from further back (rows handled are skipped) */
            e->offset = e->offset > EXPORT_PAGE ? e->offset - EXPORT_PAGE : 0;
            continue;
        }
        e->page = ds;
        e->n_page = n;
        e->page_i = 0;
        e->page_loaded = true;
        e->page_last = n < EXPORT_PAGE;
        /* the next page begins with this one's last row: it shows whether rows moved */
        e->offset += n > 0 ? (int64_t)n - 1 : 0;
        return true;
    }
}

/* The pass's next drawing not handled yet, or NULL at its end (*ok false: failed). */
static const struct drawing *next_drawing(struct export *e, bool *ok)
{
    *ok = true;
    for (;;) {
        const struct drawing *d;

        if (!e->page_loaded || e->page_i >= e->n_page) {
            if (e->page_loaded && e->page_last)
                return NULL;
            if (!next_page(e)) {
                *ok = false;
                return NULL;
            }
            continue;
        }
        d = &e->page[e->page_i++];
        if (e->cursor.set && order(e, d, &e->cursor) <= 0)
            continue; /* handled already */
        if (e->phase == PHASE_IMAGES && (!e->end.set || order(e, d, &e->end) > 0))
            return NULL; /* not in drawings.json: added during the export */
        if (e->phase == PHASE_IMAGES && order(e, d, &e->first) < 0)
            continue; /* likewise (newest first) */
        if (e->phase == PHASE_JSON && !e->first.set)
            remember(&e->first, d);
        remember(&e->cursor, d);
        return d;
    }
}

static void pass_reset(struct export *e)
{
    arena_free(e->page_arena);
    e->page_arena = NULL;
    e->page_loaded = false;
    e->n_page = e->page_i = 0;
    e->offset = 0;
    e->cursor.set = false;
}

/* Pass 1: drawings.json, a drawing at a time. */
static enum advance json_step(struct export *e)
{
    const struct drawing *d;
    struct jsonw w;
    char *text;
    size_t len = 0;
    bool ok;

    if (!e->ar) {
        e->ar = archive_write_new();
        if (!e->ar)
            return ADV_FAIL;
        if (!archive_ok(e, archive_write_set_format_zip(e->ar), "zip format") ||
            !archive_ok(e, archive_write_set_bytes_per_block(e->ar, 0), "blocks") ||
            !archive_ok(e, archive_write_set_bytes_in_last_block(e->ar, 1), "blocks") ||
            !archive_ok(e, archive_write_open2(e->ar, e, NULL, on_archive_write, NULL, NULL),
                        "open"))
            return ADV_FAIL;
        if (!entry_begin(e, "drawings.json", -1, e->started_ms, true) || !entry_data(e, "[", 1))
            return ADV_FAIL;
        e->json_first = true;
    }
    d = next_drawing(e, &ok);
    if (!ok)
        return ADV_FAIL;
    if (!d) {
        if (!entry_data(e, "]\n", 2) || !archive_ok(e, archive_write_finish_entry(e->ar), "json"))
            return ADV_FAIL;
        e->end = e->cursor;
        pass_reset(e);
        e->phase = PHASE_IMAGES;
        return ADV_MORE;
    }
    jsonw_init(&w, 1024);
    api_json_drawing(&w, d, e->app, e->page_arena);
    text = jsonw_finish(&w, &len);
    if (!text)
        return ADV_FAIL;
    ok = (e->json_first || entry_data(e, ",", 1)) && entry_data(e, text, len);
    free(text);
    e->json_first = false;
    return ok ? ADV_MORE : ADV_FAIL;
}

/* An image's bytes arrived (S3: on the HTTP client's thread): the next step takes them. */
static void on_image(void *arg, enum err rc, void *png, size_t len)
{
    struct export *e = arg;

    e->got_rc = rc;
    e->img = rc == ERR_OK ? png : NULL;
    e->img_len = rc == ERR_OK ? len : 0;
    e->img_off = 0;
    if (rc != ERR_OK)
        free(png);
    pool_continue(e->app->io, step, e);
}

/* The image's entry name: {id}/original.png or {id}/edit-{N}.png. */
static void image_name(const struct export *e, char name[EXPORT_NAME_MAX])
{
    if (e->image_no == 0)
        snprintf(name, EXPORT_NAME_MAX, "%s/original.png", e->cur->id);
    else
        snprintf(name, EXPORT_NAME_MAX, "%s/edit-%zu.png", e->cur->id, e->image_no);
}

/* Starts the current drawing's next image: a local file is opened and written in
 * pieces; anything else is read asynchronously (ADV_WAIT). */
static enum advance image_begin(struct export *e)
{
    const struct drawing *d = e->cur;
    struct drawing_image img;
    struct storage_file f;
    char name[EXPORT_NAME_MAX];
    enum err rc;

    img.number = (int64_t)e->image_no;
    img.key = e->image_no == 0 ? d->original_key : d->edits[e->image_no - 1].image_key;
    img.pending = e->image_no == 0 ? d->original_pending : d->edits[e->image_no - 1].image_pending;
    if (!img.key) {
        log_error("export: drawing %s has no key for image %zu", d->id, e->image_no);
        return ADV_FAIL;
    }
    if (drawings_image_file(e->app, &img, &f) == ERR_OK) {
        image_name(e, name);
        e->fd = f.fd;
        e->fd_left = f.size;
        if (!entry_begin(e, name, (int64_t)f.size, d->created_at, false))
            return ADV_FAIL;
        e->in_entry = true;
        return ADV_MORE;
    }
    e->reading = true;
    rc = drawings_image_read(e->app, &img, on_image, e);
    if (rc != ERR_OK) {
        e->reading = false;
        log_error("export: cannot read %s (%s)", img.key, err_name(rc));
        return ADV_FAIL;
    }
    return ADV_WAIT; /* on_image queues the next step; e is not ours until then */
}

/* The image's next piece; its entry ends with its last byte. */
static enum advance image_piece(struct export *e)
{
    const void *p;
    size_t n;

    if (e->fd >= 0) {
        ssize_t got;

        n = e->fd_left < EXPORT_PIECE ? (size_t)e->fd_left : EXPORT_PIECE;
        got = n ? read(e->fd, e->piece, n) : 0;
        if (got < 0 || (size_t)got != n) { /* a short read: the file changed under us */
            log_error("export: cannot read an image file of drawing %s", e->cur->id);
            return ADV_FAIL;
        }
        p = e->piece;
        e->fd_left -= n;
    } else {
        n = e->img_len - e->img_off < EXPORT_PIECE ? e->img_len - e->img_off : EXPORT_PIECE;
        p = e->img + e->img_off;
        e->img_off += n;
    }
    if (!entry_data(e, p, n))
        return ADV_FAIL;
    if ((e->fd >= 0 && e->fd_left > 0) || (e->fd < 0 && e->img_off < e->img_len))
        return ADV_MORE;
    if (!archive_ok(e, archive_write_finish_entry(e->ar), "image"))
        return ADV_FAIL;
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    free(e->img);
    e->img = NULL;
    e->in_entry = false;
    e->image_no++;
    return ADV_MORE;
}

/* Pass 2: the images, a piece at a time. */
static enum advance images_step(struct export *e)
{
    char name[EXPORT_NAME_MAX];
    bool ok;

    if (e->reading) { /* the asynchronous read has ended */
        e->reading = false;
        if (e->got_rc != ERR_OK) {
            log_error("export: cannot read image %zu of drawing %s (%s)", e->image_no, e->cur->id,
                      err_name(e->got_rc));
            return ADV_FAIL;
        }
        image_name(e, name);
        if (!entry_begin(e, name, (int64_t)e->img_len, e->cur->created_at, false))
            return ADV_FAIL;
        e->in_entry = true;
    }
    if (e->in_entry)
        return image_piece(e);
    if (e->cur && e->image_no <= e->cur->n_edits)
        return image_begin(e);
    e->cur = next_drawing(e, &ok);
    e->image_no = 0;
    if (!ok)
        return ADV_FAIL;
    if (!e->cur)
        e->phase = PHASE_CLOSE;
    return ADV_MORE;
}

/* One task of the producer: steps until the buffer is full, the task has made its
 * share of output, an asynchronous read begins, or the archive ends. */
static void step(void *arg)
{
    struct export *e = arg;

    e->slice = 0;
    for (;;) {
        enum advance a;
        bool gone, park = false;

        pthread_mutex_lock(&e->mu);
        gone = e->reader_gone;
        if (!gone && e->buffered >= EXPORT_HIGH) {
            set_producer(e, PRODUCER_PARKED);
            park = true;
        }
        pthread_mutex_unlock(&e->mu);
        if (gone) {
            producer_end(e, false);
            return;
        }
        if (park)
            return; /* export_read queues the next step */
        if (atomic_load(&stopping)) {
            log_warn("export: cut short by the server stopping");
            producer_end(e, false);
            return;
        }
        if (e->slice >= EXPORT_SLICE) { /* let the io pool's other tasks run */
            pool_continue(e->app->io, step, e);
            return;
        }
        switch (e->phase) {
        case PHASE_JSON:
            a = json_step(e);
            break;
        case PHASE_IMAGES:
            a = images_step(e);
            break;
        case PHASE_CLOSE:
        default:
            a = archive_ok(e, archive_write_close(e->ar), "close") ? ADV_DONE : ADV_FAIL;
            break;
        }
        if (a == ADV_WAIT)
            return;
        if (a != ADV_MORE) {
            if (a == ADV_FAIL)
                log_error("export: the archive of user %s failed; its transfer is cut", e->user_id);
            producer_end(e, a == ADV_DONE);
            return;
        }
    }
}

/* ---- the interface ---------------------------------------------------------------- */

enum err export_new(struct app *app, const char *user_id, const struct gallery_filter *f,
                    struct export **out)
{
    struct export *e;

    if (atomic_load(&stopping))
        return ERR_UNAVAILABLE;
    if (atomic_fetch_add(&active, 1) >= EXPORT_MAX_ACTIVE) {
        atomic_fetch_sub(&active, 1);
        return ERR_BUSY;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        atomic_fetch_sub(&active, 1);
        return ERR_NOMEM;
    }
    e->app = app;
    memcpy(e->user_id, user_id, ID_UUID_LEN);
    e->f = *f;
    if (f->tutorial_id) {
        snprintf(e->tutorial, sizeof(e->tutorial), "%s", f->tutorial_id);
        e->f.tutorial_id = e->tutorial;
    }
    if (f->words) {
        e->words = strdup(f->words);
        if (!e->words) {
            free(e);
            atomic_fetch_sub(&active, 1);
            return ERR_NOMEM;
        }
        e->f.words = e->words;
    }
    e->started_ms = time_now_ms();
    e->fd = -1;
    e->producer = PRODUCER_IDLE;
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return ERR_OK;
}

enum err export_start(struct export *e, const struct export_waker *w)
{
    enum err rc;

    e->waker = *w;
    pthread_mutex_lock(&e->mu);
    set_producer(e, PRODUCER_WORKING);
    pthread_mutex_unlock(&e->mu);
    rc = pool_submit(e->app->io, step, e);
    if (rc != ERR_OK) {
        pthread_mutex_lock(&e->mu);
        set_producer(e, PRODUCER_IDLE);
        pthread_mutex_unlock(&e->mu);
        w->release(w->arg);
    }
    return rc;
}

void export_shutdown(int timeout_ms)
{
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;

    atomic_store(&stopping, true);
    while (atomic_load(&working) > 0 && time_mono_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&working) > 0)
        log_warn("export: %d exports still at work", atomic_load(&working));
}
