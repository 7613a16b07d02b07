/*
 * drawings.c - saving and deleting drawings across ingest, storage and the
 * database, in the order that loses nothing: validate everything first, store
 * the objects, then record the row; undo the stored objects if recording fails.
 * A deleted row's objects are removed after the row is gone; one that cannot be
 * (storage down after the backend's retries) is queued as a "delete" job that the
 * server's worker (jobs.c) retries, and only if even that fails is it left as an
 * orphan for `novadraw gc` - never a row pointing at nothing.
 *
 * Thread-safe; holds no state of its own.
 */
#include "drawings.h"

#include <string.h>

#include "util/log.h"
#include "util/timefmt.h"

enum err drawings_store_image(struct app *app, const char *user_id,
                              enum storage_kind_of_object kind, const struct ingest_result *img,
                              int64_t now_ms, char key[STORAGE_KEY_MAX],
                              char thumb[STORAGE_KEY_MAX])
{
    enum err rc;

    if (!storage_key_new(user_id, kind, now_ms, key) ||
        !storage_key_new(user_id, STORAGE_THUMBNAIL, now_ms, thumb))
        return ERR_INTERNAL;
    rc = storage_put(app->storage, key, img->png, img->png_len, "image/png");
    if (rc != ERR_OK)
        return rc;
    rc = storage_put(app->storage, thumb, img->thumb, img->thumb_len, "image/webp");
    if (rc != ERR_OK) {
        storage_del(app->storage, key);
        return rc;
    }
    return ERR_OK;
}

enum err drawings_create(struct app *app, const char *user_id, const char *tutorial_id,
                         const void *image, size_t len, struct arena *a, struct drawing *out,
                         const char **why)
{
    struct ingest_result img = {0};
    struct drawing d;
    char key[STORAGE_KEY_MAX], thumb[STORAGE_KEY_MAX];
    int64_t now = time_now_ms();
    enum err rc;

    memset(&d, 0, sizeof(d));
    if (why)
        *why = NULL;
    if (tutorial_id) {
        rc = db_tutorial_exists(app->db, tutorial_id);
        if (rc != ERR_OK) {
            if (why && rc == ERR_NOT_FOUND)
                *why = "Tutorial not found";
            return rc;
        }
    }
    rc = ingest_image(image, len, &app->image_limits, &img, why);
    if (rc != ERR_OK)
        goto out;
    if (!id_uuid_new(d.id)) {
        rc = ERR_INTERNAL;
        goto out;
    }
    memcpy(d.user_id, user_id, ID_UUID_LEN);
    d.tutorial_id = tutorial_id ? arena_strdup(a, tutorial_id) : NULL;
    d.created_at = d.updated_at = now;
    rc = drawings_store_image(app, user_id, STORAGE_ORIGINAL, &img, now, key, thumb);
    if (rc != ERR_OK)
        goto out;
    d.original_key = arena_strdup(a, key);
    d.thumbnail_key = arena_strdup(a, thumb);
    if (!d.original_key || !d.thumbnail_key) {
        storage_del(app->storage, key);
        storage_del(app->storage, thumb);
        rc = ERR_NOMEM;
        goto out;
    }
    rc = db_drawing_insert(app->db, &d);
    if (rc != ERR_OK) {
        /* the row is not there: take its objects back */
        storage_del(app->storage, d.original_key);
        storage_del(app->storage, d.thumbnail_key);
        if (why && rc == ERR_NOT_FOUND)
            *why = "Tutorial not found"; /* removed from the catalogue meanwhile */
        goto out;
    }
    *out = d;
out:
    ingest_result_free(&img);
    return rc;
}

static void delete_object(struct app *app, const char *key)
{
    enum err rc;

    if (!key || strncmp(key, "data:", 5) == 0 || storage_del(app->storage, key) == ERR_OK)
        return; /* a data: URL was never stored */
    rc = db_job_add(app->db, "delete", key);
    if (rc == ERR_OK)
        log_warn("drawings: could not delete object %s; queued for retry", key);
    else
        log_warn("drawings: could not delete object %s nor queue it (%s); `novadraw gc` will "
                 "find it",
                 key, err_name(rc));
}

enum err drawings_delete(struct app *app, const char *user_id, const char *id, struct arena *a)
{
    struct drawing d;
    enum err rc = db_drawing_delete(app->db, user_id, id, a, &d);

    if (rc != ERR_OK)
        return rc;
    delete_object(app, d.original_key);
    delete_object(app, d.thumbnail_key);
    for (size_t i = 0; i < d.n_edits; i++) {
        delete_object(app, d.edits[i].image_key);
        delete_object(app, d.edits[i].thumbnail_key);
    }
    return ERR_OK;
}
