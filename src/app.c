/*
 * app.c - opens the backends the configuration names, in dependency order, and
 * closes them in reverse. Runs once at start-up; not called concurrently.
 */
#include "app.h"

#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "body_cache.h"
#include "imaging/editor.h"
#include "speech/transcriber.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/pool.h"

/* the database calls of edits and jobs in flight; storage waits on http, not here */
#define IO_THREADS 8

enum err app_open(const struct config *cfg, bool migrate, struct app *out)
{
    struct app app;
    enum err rc;

    memset(&app, 0, sizeof(app));
    app.cfg = cfg;
    app.image_limits.max_bytes = cfg->max_upload_bytes;
    app.image_limits.max_side = (int)cfg->max_image_side;
    app.image_limits.max_pixels = cfg->max_image_pixels;

    rc = httpc_open(0, &app.http);
    if (rc != ERR_OK) {
        log_error("app: cannot start the HTTP client (%s)", err_name(rc));
        goto fail;
    }
    rc = auth_open(cfg, true, &app.auth);
    if (rc != ERR_OK) {
        log_error("app: cannot load the signing secret (%s)", err_name(rc));
        goto fail;
    }
    rc = accounts_open(cfg, &app.accounts);
    if (rc != ERR_OK)
        goto fail;
    rc = db_open(cfg, &app.db);
    if (rc != ERR_OK) {
        log_error("app: cannot open the database (%s)", err_name(rc));
        goto fail;
    }
    if (migrate) {
        rc = db_migrate(app.db);
        if (rc != ERR_OK) {
            log_error("app: database migration failed (%s)", err_name(rc));
            goto fail;
        }
    }
    rc = storage_open(cfg, app.http, &app.storage);
    if (rc != ERR_OK) {
        log_error("app: cannot open storage (%s)", err_name(rc));
        goto fail;
    }
    *out = app;
    return ERR_OK;
fail:
    app_close(&app);
    return rc;
}

static void on_worker_exit(void)
{
    imaging_thread_done();
}

enum err app_start_workers(struct app *app)
{
    const struct config *cfg = app->cfg;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned workers =
        cfg->edit_workers > 0 ? (unsigned)cfg->edit_workers : (unsigned)(cores > 0 ? cores : 1);
    const char *why = NULL;
    enum err rc;

    rc = pool_open("cpu", workers, (size_t)cfg->edit_queue, on_worker_exit, &app->cpu);
    if (rc == ERR_OK)
        rc = pool_open("io", IO_THREADS, (size_t)cfg->edit_queue, on_worker_exit, &app->io);
    if (rc != ERR_OK) {
        log_error("app: cannot start the worker pools (%s)", err_name(rc));
        return rc;
    }
    rc = editor_open(cfg, app->http, app->cpu, &app->editor);
    if (rc != ERR_OK) {
        log_error("app: cannot open the editor (%s)", err_name(rc));
        return rc;
    }
    rc = body_cache_new((size_t)cfg->body_cache, &app->bodies);
    if (rc != ERR_OK)
        return rc;
    /* images are still edited without one: voice prompts then answer 503 */
    if (transcriber_open(cfg, strcmp(app->editor->ops->name, "local") == 0, app->http, app->cpu,
                         &app->transcriber, &why) != ERR_OK)
        log_warn("app: no transcriber, voice prompts are off (%s)", why ? why : "see above");
    log_info("app: %u cpu workers, %d io workers, at most %ld edits in flight", workers,
             IO_THREADS, cfg->edit_queue);
    return ERR_OK;
}

void app_close(struct app *app)
{
    httpc_shutdown(app->http); /* no callback runs after this: storage can go */
    pool_close(app->cpu);      /* what is queued runs, against a closed client */
    pool_close(app->io);
    transcriber_close(app->transcriber);
    editor_close(app->editor);
    body_cache_free(app->bodies);
    storage_close(app->storage);
    db_close(app->db);
    accounts_close(app->accounts);
    auth_close(app->auth);
    httpc_close(app->http);
    memset(app, 0, sizeof(*app));
}
