/*
 * editor_gemini.c - the Gemini editor: one generateContent call per edit, over
 * the asynchronous HTTP client, so an edit waiting on the model holds a queue
 * node, not a thread.
 *
 *   edit()      (a cpu pool thread)  build the JSON request, submit it
 *   on_answer() (the httpc thread)   hand the answer to the cpu pool
 *   process()   (a cpu pool thread)  parse; retry later, or call done
 *
 * Wire format (SPEC §8): POST {base}/v1beta/models/{model}:generateContent with
 * the key in the x-goog-api-key header (never the URL), parts [text,
 * inline_data] and responseModalities [TEXT, IMAGE]. The answer's parts are read
 * in order, skipping "thought" parts; the image is the first inlineData part
 * (inline_data accepted too). A refusal is HTTP 200 with
 * promptFeedback.blockReason, or a finishReason other than STOP without an
 * image: 422 with the reason. 429/500/503/504 and lost connections are retried
 * with exponential back-off and jitter; a timeout is 504; the rest is 502.
 *
 * Ownership: the editor owns its URL and header strings; each call owns its
 * request body until done has run. The key is never logged or put in a detail.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "imaging/editor.h"
#include "util/base64.h"
#include "util/httpc.h"
#include "util/id.h"
#include "util/log.h"
#include "util/pool.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_S 30
#define MAX_IMAGE_BYTES (64u * 1024 * 1024)
#define MAX_ANSWER_BYTES (96u * 1024 * 1024)
#define WHY_MAX 240

struct gemini {
    struct editor base;
    struct httpc *http;
    struct pool *cpu;
    char *url;
    char *key_header; /* "x-goog-api-key: …": a secret */
    long timeout_ms;
    int retries;
};

struct call {
    struct gemini *g;
    char *body; /* the request JSON, sent again on a retry */
    size_t body_len;
    int attempt;
    editor_done_fn done;
    void *arg;
    struct httpc_response *res;
};

static void call_free(struct call *c)
{
    if (!c)
        return;
    free(c->body);
    httpc_response_free(c->res);
    free(c);
}

static void call_end(struct call *c, enum err rc, const void *out, size_t out_len,
                     const char *why)
{
    c->done(c->arg, rc, out, out_len, why);
    call_free(c);
}

/* ---- the request ----------------------------------------------------------------- */

/* {"contents":[{"role":"user","parts":[{"text":P},{"inline_data":{…,"data":B64}}]}],…}
 * written straight into one buffer: the image is encoded in place, never copied. */
static char *build_body(const char *prompt, const void *png, size_t len, size_t *out_len)
{
    static const char head[] = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":";
    static const char mid[] = "},{\"inline_data\":{\"mime_type\":\"image/png\",\"data\":\"";
    static const char tail[] =
        "\"}}]}],\"generationConfig\":{\"responseModalities\":[\"TEXT\",\"IMAGE\"]}}";
    json_t *s = json_string(prompt);
    char *text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    size_t tlen, total;
    char *body = NULL, *p;

    json_decref(s);
    if (!text)
        return NULL;
    tlen = strlen(text);
    total = sizeof(head) - 1 + tlen + sizeof(mid) - 1 + base64_encoded_len(len) + sizeof(tail);
    body = malloc(total);
    if (body) {
        p = body;
        memcpy(p, head, sizeof(head) - 1);
        p += sizeof(head) - 1;
        memcpy(p, text, tlen);
        p += tlen;
        memcpy(p, mid, sizeof(mid) - 1);
        p += sizeof(mid) - 1;
        p += base64_encode_into(png, len, p);
        memcpy(p, tail, sizeof(tail)); /* with its NUL */
        *out_len = (size_t)(p - body) + sizeof(tail) - 1;
    }
    free(text);
    return body;
}

static void on_answer(void *arg, struct httpc_response *res);

static enum err send_attempt(struct call *c, long delay_ms)
{
    struct gemini *g = c->g;
    struct httpc_request req = {
        .method = "POST",
        .url = g->url,
        .headers = {"Content-Type: application/json", g->key_header, NULL},
        .body = c->body,
        .body_len = c->body_len,
        .timeout_ms = g->timeout_ms,
        .max_response = MAX_ANSWER_BYTES,
    };

    return httpc_submit(g->http, &req, delay_ms, on_answer, c);
}

static void gemini_edit(struct editor *e, const void *png, size_t len, const char *prompt,
                        editor_done_fn done, void *arg)
{
    struct gemini *g = (struct gemini *)e;
    struct call *c = calloc(1, sizeof(*c));
    enum err rc;

    if (!c) {
        done(arg, ERR_NOMEM, NULL, 0, NULL);
        return;
    }
    c->g = g;
    c->done = done;
    c->arg = arg;
    c->body = build_body(prompt, png, len, &c->body_len);
    if (!c->body) {
        call_end(c, ERR_NOMEM, NULL, 0, NULL);
        return;
    }
    rc = send_attempt(c, 0);
    if (rc != ERR_OK)
        call_end(c, rc, NULL, 0, "The editing service is not available");
}

/* ---- the answer ---------------------------------------------------------------------- */

static void process(void *arg);

static void on_answer(void *arg, struct httpc_response *res)
{
    struct call *c = arg;

    c->res = res;
    /* parsing a multi-megabyte answer is CPU work: not on the client's thread */
    if (pool_submit_always(c->g->cpu, process, c) != ERR_OK)
        process(c);
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

static bool is_true(const json_t *v)
{
    return v && json_is_true(v);
}

/* Reads a 200 answer: the image, or why there is none. */
static void read_answer(struct call *c, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, 0, &jerr);
    json_t *cand, *parts, *part;
    char reason[48], why[WHY_MAX];
    const char *model_text = NULL;
    size_t i;

    if (!json_is_object(root)) {
        call_end(c, ERR_UPSTREAM, NULL, 0, "The editing service sent an unreadable answer");
        goto out;
    }
    reason_of(json_object_get(json_object_get(root, "promptFeedback"), "blockReason"), reason,
              sizeof(reason));
    if (reason[0]) {
        snprintf(why, sizeof(why), "The model refused this edit (%s)", reason);
        call_end(c, ERR_REFUSED, NULL, 0, why);
        goto out;
    }
    cand = json_array_get(json_object_get(root, "candidates"), 0);
    parts = json_object_get(json_object_get(cand, "content"), "parts");
    json_array_foreach(parts, i, part) {
        json_t *inl, *data;
        if (is_true(json_object_get(part, "thought")))
            continue; /* the model's scratch work, not its answer */
        inl = json_object_get(part, "inlineData");
        if (!inl)
            inl = json_object_get(part, "inline_data");
        data = json_object_get(inl, "data");
        if (json_is_string(data)) {
            unsigned char *img = NULL;
            size_t img_len = 0;
            enum err rc = base64_decode(json_string_value(data), json_string_length(data),
                                        MAX_IMAGE_BYTES, &img, &img_len);
            if (rc == ERR_OK)
                call_end(c, ERR_OK, img, img_len, NULL);
            else
                call_end(c, ERR_UPSTREAM, NULL, 0, "The editing service sent an unreadable image");
            free(img);
            goto out;
        }
        if (!model_text)
            model_text = json_string_value(json_object_get(part, "text"));
    }
    reason_of(json_object_get(cand, "finishReason"), reason, sizeof(reason));
    if (!cand) {
        call_end(c, ERR_UPSTREAM, NULL, 0, "The editing service sent no candidates");
    } else if (reason[0] && strcmp(reason, "STOP") != 0) {
        snprintf(why, sizeof(why), "The model refused this edit (%s)", reason);
        call_end(c, ERR_REFUSED, NULL, 0, why);
    } else if (model_text && *model_text) {
        snprintf(why, sizeof(why), "The model returned no image: %.160s", model_text);
        call_end(c, ERR_REFUSED, NULL, 0, why);
    } else {
        call_end(c, ERR_REFUSED, NULL, 0, "The model returned no image");
    }
out:
    json_decref(root);
}

/* Back-off before attempt n (1-based): 250 ms, 500 ms, 1 s … with full jitter on top,
 * or the server's Retry-After when it names a short wait. */
static long backoff_ms(int attempt, const char *retry_after)
{
    long ms = BACKOFF_BASE_MS;
    unsigned long r = 0;
    char *end;

    if (retry_after) {
        long s = strtol(retry_after, &end, 10);
        if (end != retry_after && *end == '\0' && s >= 0 && s <= RETRY_AFTER_MAX_S)
            return s * 1000;
    }
    for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    if (!id_random(&r, sizeof(r)))
        r = 0;
    return ms + (long)(r % (unsigned long)(ms + 1));
}

static bool retryable(const struct httpc_response *res)
{
    if (res->transport == ERR_UPSTREAM) /* refused or dropped connection */
        return true;
    return res->transport == ERR_OK && (res->status == 429 || res->status == 500 ||
                                        res->status == 503 || res->status == 504);
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
    char status[48], why[WHY_MAX];

    c->res = NULL;
    if (res->transport == ERR_OK && res->status == 200) {
        read_answer(c, res->body, res->body_len);
        httpc_response_free(res);
        return;
    }
    if (retryable(res) && c->attempt < c->g->retries) {
        long delay = backoff_ms(++c->attempt, res->retry_after);
        log_info("gemini: attempt %d failed (%s %ld), retrying in %ld ms", c->attempt,
                 err_name(res->transport), res->status, delay);
        httpc_response_free(res);
        if (send_attempt(c, delay) != ERR_OK)
            call_end(c, ERR_UNAVAILABLE, NULL, 0, "The editing service is not available");
        return;
    }
    if (res->transport == ERR_TIMEOUT) {
        log_warn("gemini: timed out after %.1f s", res->seconds);
        call_end(c, ERR_TIMEOUT, NULL, 0, "The editing service timed out");
    } else if (res->transport != ERR_OK) {
        log_warn("gemini: no answer (%s)", err_name(res->transport));
        call_end(c, res->transport == ERR_UNAVAILABLE ? ERR_UNAVAILABLE : ERR_UPSTREAM, NULL, 0,
                 "The editing service did not answer");
    } else {
        error_status(res->body, res->body_len, status, sizeof(status));
        log_warn("gemini: HTTP %ld %s", res->status, status);
        snprintf(why, sizeof(why), "The editing service failed (HTTP %ld%s%s)", res->status,
                 status[0] ? " " : "", status);
        call_end(c, res->status == 504 ? ERR_TIMEOUT : ERR_UPSTREAM, NULL, 0, why);
    }
    httpc_response_free(res);
}

/* ---- open and close ------------------------------------------------------------------ */

static void gemini_close(struct editor *e)
{
    struct gemini *g = (struct gemini *)e;

    if (!g)
        return;
    free(g->url);
    if (g->key_header) { /* a secret: do not leave it in freed memory */
        memset(g->key_header, 0, strlen(g->key_header));
        free(g->key_header);
    }
    free(g);
}

static const struct editor_ops gemini_ops = {
    .name = "gemini",
    .edit = gemini_edit,
    .close = gemini_close,
};

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static bool model_safe(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return false;
    return true;
}

enum err editor_gemini_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                            struct editor **out)
{
    struct gemini *g;
    size_t n;

    if (!cfg->gemini_api_key || !*cfg->gemini_api_key || !header_safe(cfg->gemini_api_key)) {
        log_error("editor: GEMINI_API_KEY is missing or holds control characters");
        return ERR_INVALID;
    }
    if (!model_safe(cfg->gemini_model)) {
        log_error("editor: GEMINI_MODEL '%s' is not a model name", cfg->gemini_model);
        return ERR_INVALID;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        return ERR_NOMEM;
    g->base.ops = &gemini_ops;
    g->http = http;
    g->cpu = cpu;
    g->timeout_ms = cfg->gemini_timeout * 1000;
    g->retries = (int)cfg->gemini_retries;
    n = strlen(cfg->gemini_base_url) + strlen(cfg->gemini_model) + 64;
    g->url = malloc(n);
    if (g->url)
        snprintf(g->url, n, "%s/v1beta/models/%s:generateContent", cfg->gemini_base_url,
                 cfg->gemini_model);
    n = strlen(cfg->gemini_api_key) + 32;
    g->key_header = malloc(n);
    if (g->key_header)
        snprintf(g->key_header, n, "x-goog-api-key: %s", cfg->gemini_api_key);
    if (!g->url || !g->key_header) {
        gemini_close(&g->base);
        return ERR_NOMEM;
    }
    log_info("editor: gemini, model %s at %s", cfg->gemini_model, cfg->gemini_base_url);
    *out = &g->base;
    return ERR_OK;
}
