/*
 * edits.c - the routes that go through the edit pipeline: POST /api/drawings
 * (save an upload as it is), POST /api/edit-image (upload and edit),
 * POST /api/edit-image-with-audio (the same, prompted by voice) and
 * POST /api/drawings/{id}/edits (edit a saved drawing again, by text or voice).
 * Handlers parse and validate every field, check the tutorial, then hand the work
 * to the pipeline (src/edits.c) and defer the answer: no HTTP thread decodes an
 * image or waits on storage or an editor.
 */
#include "handlers/handlers.h"

#include <stdint.h>
#include <string.h>

#include "api_json.h"
#include "app.h"
#include "drawings.h"
#include "edits.h"
#include "util/jsonw.h"

#define PROMPT_MAX_CHARS 1000

/* What the pipeline's callback needs to answer; lives in the request's arena. */
struct pending {
    struct request *req;
    struct response *res;
    bool save_only; /* POST /api/drawings: 201 DrawingResponse */
};

/* The seed's edit response: note "success" is the string "true". */
static enum err write_success(struct pending *p, const struct edit_outcome *o)
{
    struct jsonw w;

    jsonw_init(&w, 512);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "success", "true");
    jsonw_kv_str(&w, "prompt", o->prompt);
    jsonw_kv_str(&w, "result_image", o->result_url);
    jsonw_kv_fixed(&w, "processing_time", o->seconds, 3);
    jsonw_kv_str(&w, "drawing_id", o->drawing_id);
    jsonw_kv_str(&w, "user_id", p->req->user_id);
    if (o->transcription)
        jsonw_kv_str(&w, "transcription", o->transcription);
    api_json_edit_report(&w, o->applied, o->ignored);
    jsonw_obj_end(&w);
    return response_jsonw(p->res, 200, &w);
}

/* Runs on a pipeline thread; the request is ours until request_resume(). */
static void on_done(void *arg, const struct edit_outcome *o)
{
    struct pending *p = arg;
    struct request *req = p->req;
    enum err rc = o->rc;

    if (rc == ERR_OK && p->save_only) {
        struct jsonw w;
        jsonw_init(&w, 1024);
        api_json_drawing(&w, o->drawing, req->app, req->arena);
        rc = response_jsonw(p->res, 201, &w);
        if (rc == ERR_OK) /* the new drawing's own URL (RFC 9110 §15.3.2) */
            response_header(p->res, "Location",
                            arena_printf(req->arena, "/api/drawings/%s", o->drawing->id));
    } else if (rc == ERR_OK) {
        rc = write_success(p, o);
    }
    if (rc != ERR_OK) {
        /* the outcome's strings are borrowed: copy them into the request */
        if (o->why)
            request_fail(req, rc, arena_strdup(req->arena, o->why));
        if (o->drawing_id)
            req->error_drawing_id = arena_strdup(req->arena, o->drawing_id);
        /* a refused voice prompt says what was heard ("" when nothing was) */
        if (rc == ERR_REFUSED && o->transcription)
            req->error_transcription = arena_strdup(req->arena, o->transcription);
        response_error(req, p->res, rc);
    }
    request_resume(req);
}

static enum err start(struct request *req, struct response *res, const struct edit_order *o)
{
    struct pending *p = arena_alloc(req->arena, sizeof(*p));
    const char *why = NULL;
    enum err rc;

    if (!p)
        return ERR_NOMEM;
    /* a prompt the editor cannot do, or a language the transcriber cannot hear, is
     * refused before anything is stored */
    if (o->voice)
        rc = edits_check_language(req->app->edits, o->language, &why);
    else if (o->prompt)
        rc = edits_check_prompt(req->app->edits, o->prompt, &why);
    else
        rc = ERR_OK;
    if (rc != ERR_OK)
        return request_fail(req, rc, why);
    p->req = req;
    p->res = res;
    p->save_only = !o->voice && !o->prompt;
    request_defer(req);
    rc = edits_submit(req->app->edits, o, on_done, p);
    if (rc == ERR_BUSY)
        return request_fail(req, rc, "Too many edits in progress, try again shortly");
    return rc;
}

/* The voice fields: audio (required when there is no prompt) and language ("en"). */
static enum err form_voice(struct request *req, struct edit_order *o, bool required)
{
    const struct form_field *audio = request_field(req, "audio");
    enum err rc = ERR_OK;

    if (!audio) {
        if (required)
            rc = request_invalid(req, "body", "audio", "Field required", "missing");
    } else {
        o->voice = true;
        o->audio = audio->data;
        o->audio_len = audio->too_large ? SIZE_MAX : audio->len;
    }
    if (request_form_text(req, "language", false, 1, 35, &o->language) != ERR_OK)
        rc = ERR_VALIDATION;
    if (!o->language)
        o->language = "en";
    return rc;
}

/* An empty audio field is refused before the decoder sees it (FFmpeg's own words for
 * nothing at all are "Invalid arguments."). */
static enum err audio_empty(struct request *req, const struct edit_order *o)
{
    if (o->voice && o->audio_len == 0)
        return request_fail(req, ERR_UNSUPPORTED, "The audio file is empty.");
    return ERR_OK;
}

/* The tutorial of an upload, checked before anything is stored; *out in the arena. */
static enum err form_tutorial(struct request *req, const char *tutorial, const char **out)
{
    const char *why = NULL;
    enum err rc = drawings_check_tutorial(req->app, tutorial, &why);

    if (rc != ERR_OK)
        return request_fail(req, rc, why);
    *out = tutorial ? arena_strdup(req->arena, tutorial) : NULL;
    return tutorial && !*out ? ERR_NOMEM : ERR_OK;
}

enum upload_kind { SAVE, TEXT, VOICE };

/* The upload routes: an image, a text or voice prompt (or none), an optional tutorial. */
static enum err upload(struct request *req, struct response *res, const char *image_field,
                       enum upload_kind kind)
{
    const struct form_field *file = request_field(req, image_field);
    struct edit_order o = {.user_id = req->user_id};
    char tutorial[ID_UUID_LEN];
    bool has_tutorial = false;
    enum err rc = ERR_OK;

    /* every field is checked, so the client hears of every problem at once */
    if (!file)
        rc = request_invalid(req, "body", image_field, "Field required", "missing");
    if (kind == VOICE) {
        if (form_voice(req, &o, true) != ERR_OK)
            rc = ERR_VALIDATION;
    } else if (kind == TEXT &&
               request_form_text(req, "prompt", true, 1, PROMPT_MAX_CHARS, &o.prompt) != ERR_OK) {
        rc = ERR_VALIDATION;
    }
    if (request_form_uuid(req, "tutorial_id", tutorial, &has_tutorial) != ERR_OK)
        rc = ERR_VALIDATION;
    if (rc != ERR_OK)
        return rc;
    if (file->too_large || o.audio_len == SIZE_MAX)
        return request_fail(req, ERR_TOO_LARGE, "Request body too large");
    if (audio_empty(req, &o) != ERR_OK)
        return ERR_UNSUPPORTED;
    rc = form_tutorial(req, has_tutorial ? tutorial : NULL, &o.tutorial_id);
    if (rc != ERR_OK)
        return rc;
    o.image = file->data;
    o.image_len = file->len;
    return start(req, res, &o);
}

enum err handle_drawing_create(struct request *req, struct response *res)
{
    return upload(req, res, "file", SAVE);
}

enum err handle_edit_image(struct request *req, struct response *res)
{
    return upload(req, res, "file", TEXT);
}

enum err handle_edit_image_with_audio(struct request *req, struct response *res)
{
    return upload(req, res, "image", VOICE);
}

enum err handle_drawing_edit(struct request *req, struct response *res)
{
    struct edit_order o = {.user_id = req->user_id};
    char id[ID_UUID_LEN];
    enum err rc = ERR_OK;

    if (request_uuid(req, "path", "drawing_id", req->params[0], id) != ERR_OK)
        rc = ERR_VALIDATION;
    /* a text prompt, or audio (+ language) when there is none */
    if (request_field(req, "audio") && !request_field(req, "prompt")) {
        if (form_voice(req, &o, true) != ERR_OK)
            rc = ERR_VALIDATION;
    } else if (request_form_text(req, "prompt", true, 1, PROMPT_MAX_CHARS, &o.prompt) != ERR_OK) {
        rc = ERR_VALIDATION;
    }
    if (rc != ERR_OK)
        return rc;
    if (o.audio_len == SIZE_MAX)
        return request_fail(req, ERR_TOO_LARGE, "Request body too large");
    if (audio_empty(req, &o) != ERR_OK)
        return ERR_UNSUPPORTED;
    o.drawing_id = arena_strdup(req->arena, id);
    if (!o.drawing_id)
        return ERR_NOMEM;
    return start(req, res, &o);
}
