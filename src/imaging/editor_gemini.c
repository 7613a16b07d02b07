/*
 * editor_gemini.c - the Gemini editor (SPEC §8): one generateContent call per
 * edit through the shared client (util/gemini.h), which owns the wire format,
 * retries and timeouts. Here: what an answer means for an edit. An image is the
 * edit; a block or a finishReason other than STOP is the model refusing (422 with
 * the reason); text alone is a model that answered without an image (422).
 *
 * Ownership: the editor owns its client; the answer is borrowed during done.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "imaging/editor.h"
#include "util/gemini.h"
#include "util/log.h"

#define WHY_MAX 240

struct gemini_editor {
    struct editor base;
    struct gemini *client;
};

struct edit_call {
    editor_done_fn done;
    void *arg;
};

static void on_generated(void *arg, enum err rc, const struct gemini_answer *a, const char *why)
{
    struct edit_call *c = arg;
    char msg[WHY_MAX];

    if (rc != ERR_OK) {
        c->done(c->arg, rc, NULL, 0, why, NULL);
    } else if (a->refusal) {
        snprintf(msg, sizeof(msg), "The model refused this edit (%s)", a->refusal);
        c->done(c->arg, ERR_REFUSED, NULL, 0, msg, NULL);
    } else if (a->image) {
        c->done(c->arg, ERR_OK, a->image, a->image_len, NULL, NULL);
    } else if (a->text[0]) {
        snprintf(msg, sizeof(msg), "The model returned no image: %.160s", a->text);
        c->done(c->arg, ERR_REFUSED, NULL, 0, msg, NULL);
    } else {
        c->done(c->arg, ERR_REFUSED, NULL, 0, "The model returned no image", NULL);
    }
    free(c);
}

static void gemini_edit(struct editor *e, const void *png, size_t len, const char *prompt,
                        editor_done_fn done, void *arg)
{
    struct gemini_editor *g = (struct gemini_editor *)e;
    struct edit_call *c = malloc(sizeof(*c));

    if (!c) {
        done(arg, ERR_NOMEM, NULL, 0, NULL, NULL);
        return;
    }
    c->done = done;
    c->arg = arg;
    gemini_generate(g->client, prompt, "image/png", png, len, true, on_generated, c);
}

static void gemini_editor_close(struct editor *e)
{
    struct gemini_editor *g = (struct gemini_editor *)e;

    if (!g)
        return;
    gemini_close(g->client);
    free(g);
}

static const struct editor_ops gemini_ops = {
    .name = "gemini",
    .edit = gemini_edit,
    .close = gemini_editor_close,
};

enum err editor_gemini_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                            struct editor **out)
{
    struct gemini_editor *g = calloc(1, sizeof(*g));
    enum err rc;

    if (!g)
        return ERR_NOMEM;
    g->base.ops = &gemini_ops;
    rc = gemini_open(cfg, cfg->gemini_model, http, cpu, &g->client);
    if (rc != ERR_OK) {
        free(g);
        return rc;
    }
    log_info("editor: gemini, model %s", cfg->gemini_model);
    *out = &g->base;
    return ERR_OK;
}
