/*
 * app.c - opens the backends the configuration names, in dependency order, and
 * closes them in reverse. Runs once at start-up; not called concurrently.
 */
#include "app.h"

#include <string.h>

#include "util/httpc.h"
#include "util/log.h"

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
    rc = auth_open(cfg, &app.auth);
    if (rc != ERR_OK) {
        log_error("app: cannot load the signing secret (%s)", err_name(rc));
        goto fail;
    }
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

void app_close(struct app *app)
{
    httpc_shutdown(app->http); /* no callback runs after this: storage can go */
    storage_close(app->storage);
    db_close(app->db);
    auth_close(app->auth);
    httpc_close(app->http);
    memset(app, 0, sizeof(*app));
}
