/*
 * export.h - a user's gallery as a ZIP archive, streamed (SPEC §11 Export).
 *
 * The archive holds drawings.json (the array of DrawingResponse, as the API writes
 * them) first, then, per drawing, {id}/original.png and {id}/edit-{N}.png. libarchive
 * writes it (the only includer of archive.h); a producer on the app's io pool reads the
 * drawings a page at a time and their images one at a time, and hands the archive's
 * bytes to a small bounded buffer that the HTTP side drains. Neither side waits for the
 * other on a thread: a full buffer parks the producer until the reader has drained it,
 * an empty one makes the reader sleep until the producer wakes it. The server's memory
 * is the buffer, one page of rows, one image and the ZIP's central directory (about
 * 100 bytes an entry, which the format needs at its end), whatever the archive's size.
 *
 * Thread-safe; an export is shared by its producer and its reader and freed by the
 * last of the two to let go.
 */
#pragma once

#include <stddef.h>

#include "app.h"

struct export;

/* The reader's wake-up (response_stream_wake) and its release, which the producer
 * calls once when it has ended. */
struct export_waker {
    void (*wake)(void *arg);
    void (*release)(void *arg);
    void *arg;
};

/*
 * Prepares the export of user_id's drawings that f lets through, in f's order (f and
 * its strings are copied). ERR_BUSY when too many exports are running. Nothing is read
 * until export_start().
 */
enum err export_new(struct app *app, const char *user_id, const struct gallery_filter *f,
                    struct export **out);

/* Starts the producer on the io pool. w is released once the producer ends; on an
 * error (ERR_BUSY: the pool's queue is full) it is released here and the producer never
 * runs. The export still needs export_done(). */
enum err export_start(struct export *e, const struct export_waker *w);

/* The archive's next bytes into buf (at most max): how many (> 0), 0 when none are
 * ready yet (the waker is called when they are), EXPORT_END when the archive is
 * complete, EXPORT_ERROR when it failed (logged): the transfer must end abnormally.
 * Never blocks. */
#define EXPORT_END (-1)
#define EXPORT_ERROR (-2)
long export_read(void *e, char *buf, size_t max);

/* The reader is done (complete, or the client left): the producer stops at its next
 * step. Accepts NULL. */
void export_done(void *e);

/* serve's shutdown, after the HTTP server has stopped taking requests and before it
 * stops: every producer ends (its transfer fails) and no reader sleeps any more; waits
 * up to timeout_ms for the producers at work to notice. */
void export_shutdown(int timeout_ms);
