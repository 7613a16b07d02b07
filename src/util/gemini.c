/*
 * gemini.c - generateContent calls over util/httpc:
 *
 *   gemini_generate() (caller's thread)  build the JSON request, submit it as a
 *                                        retried call (httpc resends it on 429,
 *                                        500, 503, 504 or a lost connection)
 *   on_answer()       (the httpc thread) hand the last answer to the pool
 *   process()         (a pool thread)    parse, call done
 *
 * The request is written straight into one buffer with the data base64-encoded
 * in place, and kept for retries; the answer (up to 96 MiB) is parsed with
 * jansson on the pool, never on the client's thread.
 */
#include "util/gemini.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/header.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/pool.h"

#define MAX_IMAGE_BYTES (64u * 1024 * 1024)
#define MAX_ANSWER_BYTES (96u * 1024 * 1024)
#define WHY_MAX 160

struct gemini {
    struct httpc *http;
    struct pool *cpu;
    char *model;
    char *url;
    char *key_header; /* "x-goog-api-key: …": a secret */
    long timeout_ms;
    int retries;
};

struct call {
    struct gemini *g;
    char *body; /* the request JSON, sent again on a retry */
    size_t body_len;
    gemini_done_fn done;
    void *arg;
    struct httpc_response *res;
};

static void call_end(struct call *c, enum err rc, const struct gemini_answer *a, const char *why)
{
    c->done(c->arg, rc, a, why);
    free(c->body);
    httpc_response_free(c->res);
    free(c);
}

/* ---- the request ----------------------------------------------------------------- */

static char *build_body(const char *prompt, const char *mime, const void *data, size_t len,
                        bool image_out, size_t *out_len)
{
    static const char head[] = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":";
    static const char tail_image[] =
        "\"}}]}],\"generationConfig\":{\"responseModalities\":[\"TEXT\",\"IMAGE\"]}}";
    static const char tail_text[] =
        "\"}}]}],\"generationConfig\":{\"responseModalities\":[\"TEXT\"]}}";
    const char *tail = image_out ? tail_image : tail_text;
    json_t *jp = json_string(prompt), *jm = json_string(mime);
    char *tp = jp ? json_dumps(jp, JSON_ENCODE_ANY) : NULL;
    char *tm = jm ? json_dumps(jm, JSON_ENCODE_ANY) : NULL;
    char *body = NULL, *p;
    size_t total;

    json_decref(jp);
    json_decref(jm);
    if (!tp || !tm)
        goto out;
    total = sizeof(head) + strlen(tp) + strlen(tm) + base64_encoded_len(len) + strlen(tail) + 64;
    body = malloc(total);
    if (!body)
        goto out;
    p = body + snprintf(body, total, "%s%s},{\"inline_data\":{\"mime_type\":%s,\"data\":\"", head,
                        tp, tm);
    p += base64_encode_into(data, len, p);
    memcpy(p, tail, strlen(tail) + 1);
    *out_len = (size_t)(p - body) + strlen(tail);
out:
    free(tp);
    free(tm);
    return body;
}

static void on_answer(void *arg, struct httpc_response *res);

void gemini_generate(struct gemini *g, const char *prompt, const char *mime, const void *data,
                     size_t len, bool image_out, gemini_done_fn done, void *arg)
{
    struct call *c = calloc(1, sizeof(*c));
    struct httpc_request req = {
        .method = "POST",
        .url = g->url,
        .headers = {"Content-Type: application/json", g->key_header, NULL},
        .timeout_ms = g->timeout_ms,
        .max_response = MAX_ANSWER_BYTES,
        .attempts = g->retries + 1,
        .service = "gemini",
    };

    if (!c) {
        done(arg, ERR_NOMEM, NULL, NULL);
        return;
    }
    c->g = g;
    c->done = done;
    c->arg = arg;
    c->body = build_body(prompt, mime, data, len, image_out, &c->body_len);
    if (!c->body) {
        call_end(c, ERR_NOMEM, NULL, NULL);
        return;
    }
    req.body = c->body;
    req.body_len = c->body_len;
    /* after ERR_OK c is on_answer's: it may have run already */
    if (httpc_submit(g->http, &req, 0, on_answer, c) != ERR_OK)
        call_end(c, ERR_UNAVAILABLE, NULL, "The AI service is not available");
}

/* ---- the answer ---------------------------------------------------------------------- */

static void process(void *arg);

static void on_answer(void *arg, struct httpc_response *res)
{
    struct call *c = arg;

    c->res = res;
    /* parsing a multi-megabyte answer is CPU work: not on the client's thread */
    pool_continue(c->g->cpu, process, c);
}

/* A reason code from the model (SAFETY, IMAGE_SAFETY…), reduced to [A-Z0-9_]. */
static void reason_of(const json_t *v, char *out, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = 0;

    for (; s && *s && n + 1 < cap; s++)
        if ((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')
            out[n++] = *s;
    out[n] = '\0';
}

/* Reads a 200 answer into a, or returns why it cannot. */
static void read_answer(struct call *c, const char *body, size_t len)
{
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    json_t *cand, *parts, *part;
    unsigned char *img = NULL;
    struct buf text = {0};
    size_t img_len = 0, i;
    char block[48], finish[48];
    struct gemini_answer a = {0};
    enum err rc = ERR_OK;
    const char *why = NULL;

    if (!json_is_object(root)) {
        call_end(c, ERR_UPSTREAM, NULL, "The AI service sent an unreadable answer");
        goto out;
    }
    reason_of(json_object_get(json_object_get(root, "promptFeedback"), "blockReason"), block,
              sizeof(block));
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    reason_of(json_object_get(cand, "finishReason"), finish, sizeof(finish));
    if (!block[0] && !cand) {
        call_end(c, ERR_UPSTREAM, NULL, "The AI service sent no candidates");
        goto out;
    }
    parts = json_object_get(json_object_get(cand, "content"), "parts");
    json_array_foreach(parts, i, part) {
        json_t *inl, *data, *t;
        if (json_is_true(json_object_get(part, "thought")))
            continue; /* the model's scratch work, not its answer */
        t = json_object_get(part, "text");
        if (json_is_string(t) && !buf_add(&text, json_string_value(t), json_string_length(t))) {
            rc = ERR_NOMEM;
            break;
        }
        inl = json_object_get(part, "inlineData");
        if (!inl)
            inl = json_object_get(part, "inline_data");
        data = json_object_get(inl, "data");
        if (!img && json_is_string(data) &&
            base64_decode(json_string_value(data), json_string_length(data), MAX_IMAGE_BYTES,
                          &img, &img_len) != ERR_OK) {
            rc = ERR_UPSTREAM;
            why = "The AI service sent an unreadable image";
            break;
        }
    }
    a.image = img;
    a.image_len = img_len;
    a.text = text.p ? text.p : "";
    if (block[0])
        a.refusal = block;
    else if (finish[0] && strcmp(finish, "STOP") != 0 && !img)
        a.refusal = finish;
    call_end(c, rc, rc == ERR_OK ? &a : NULL, why);
out:
    free(img);
    buf_free(&text);
    json_decref(root);
}

/* The status word of Google's error body ({"error": {"status": "UNAVAILABLE"}}). */
static void error_status(const char *body, size_t len, char *out, size_t cap)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;

    reason_of(json_object_get(json_object_get(root, "error"), "status"), out, cap);
    json_decref(root);
}

static void process(void *arg)
{
    struct call *c = arg;
    struct httpc_response *res = c->res;
    char status[48] = "", why[WHY_MAX];
    enum err rc;

    c->res = NULL;
    if (res->transport == ERR_OK && res->status == 200) {
        read_answer(c, res->body, res->body_len);
        httpc_response_free(res);
        return;
    }
    if (res->transport == ERR_OK) {
        error_status(res->body, res->body_len, status, sizeof(status));
        log_warn("gemini: HTTP %ld %s (attempt %d)", res->status, status, res->attempts);
    } else if (res->transport == ERR_TIMEOUT) {
        log_warn("gemini: timed out after %.1f s (attempt %d)", res->seconds, res->attempts);
    } else {
        log_warn("gemini: no answer (%s, attempt %d)", err_name(res->transport), res->attempts);
    }
    rc = httpc_failure(res, "The AI service", status, why, sizeof(why));
    call_end(c, rc, NULL, why);
    httpc_response_free(res);
}

/* ---- open and close ------------------------------------------------------------------ */

void gemini_close(struct gemini *g)
{
    if (!g)
        return;
    free(g->model);
    free(g->url);
    header_free(g->key_header);
    free(g);
}

static bool model_safe(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return false;
    return true;
}

enum err gemini_open(const struct config *cfg, const char *model, struct httpc *http,
                     struct pool *cpu, struct gemini **out)
{
    struct gemini *g;
    size_t n;

    if (!cfg->gemini_api_key || !*cfg->gemini_api_key || !header_value_ok(cfg->gemini_api_key)) {
        log_error("gemini: GEMINI_API_KEY is missing or holds control characters");
        return ERR_INVALID;
    }
    if (!model_safe(model)) {
        log_error("gemini: '%s' is not a model name", model ? model : "");
        return ERR_INVALID;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        return ERR_NOMEM;
    g->http = http;
    g->cpu = cpu;
    g->timeout_ms = cfg->gemini_timeout * 1000;
    g->retries = (int)cfg->gemini_retries;
    g->model = strdup(model);
    n = strlen(cfg->gemini_base_url) + strlen(model) + 64;
    g->url = malloc(n);
    if (g->url)
        snprintf(g->url, n, "%s/v1beta/models/%s:generateContent", cfg->gemini_base_url, model);
    g->key_header = header_line("x-goog-api-key: ", cfg->gemini_api_key);
    if (!g->model || !g->url || !g->key_header) {
        gemini_close(g);
        return ERR_NOMEM;
    }
    *out = g;
    return ERR_OK;
}
