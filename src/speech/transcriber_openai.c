/*
 * transcriber_openai.c - an OpenAI-compatible speech-to-text server (OpenAI,
 * whisper.cpp's server, speaches): POST {TRANSCRIBE_URL}/v1/audio/transcriptions
 * as multipart/form-data with file (our WAV), model, language (the primary
 * subtag) and response_format=json; the answer is {"text": "…"}. The key, when
 * set, travels as a bearer token, never in a URL or a log. The request is a
 * retried call of util/httpc, whose policy decides what is retried and how long
 * to wait (GEMINI_RETRIES and GEMINI_TIMEOUT are not reused: the attempt count
 * is fixed at 3 and the timeout at 60 s per attempt).
 *
 * Ownership: the backend owns its URL and header; a call owns its request body
 * until done has run.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "speech/transcriber.h"
#include "util/header.h"
#include "util/httpc.h"
#include "util/id.h"
#include "util/log.h"
#include "util/pool.h"

#define ATTEMPTS 3
#define TIMEOUT_MS 60000L
#define MAX_ANSWER (1u * 1024 * 1024)
#define PATH "/v1/audio/transcriptions"

struct openai {
    struct transcriber base;
    struct httpc *http;
    struct pool *cpu;
    char *url;
    char *auth_header; /* "Authorization: Bearer …" (a secret), or NULL */
    char *model;
};

struct call {
    struct openai *o;
    char *body;
    size_t body_len;
    char content_type[96];
    transcribe_done_fn done;
    void *arg;
    struct httpc_response *res;
};

static void call_end(struct call *c, enum err rc, const char *text, const char *why)
{
    c->done(c->arg, rc, text, why);
    free(c->body);
    httpc_response_free(c->res);
    free(c);
}

/* The multipart body: model, language, response_format, then the file. */
static char *build_body(struct call *c, const char *model, const char *lang, const int16_t *pcm,
                        size_t n)
{
    char boundary[40], head[1024];
    unsigned char *wav = NULL;
    size_t wav_len = 0, hlen, tlen;
    char tail[64];
    char *body = NULL;

    memcpy(boundary, "novadraw-", 9);
    if (!id_random_hex(boundary + 9, 12))
        return NULL;
    snprintf(c->content_type, sizeof(c->content_type),
             "Content-Type: multipart/form-data; boundary=%s", boundary);
    hlen = (size_t)snprintf(
        head, sizeof(head),
        "--%s\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n%s\r\n"
        "%s%s%s%s%s"
        "--%s\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n",
        boundary, model, lang[0] ? "--" : "", lang[0] ? boundary : "",
        lang[0] ? "\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\n" : "", lang,
        lang[0] ? "\r\n" : "", boundary, boundary);
    if (hlen >= sizeof(head))
        return NULL;
    tlen = (size_t)snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
    wav = transcriber_wav(pcm, n, &wav_len);
    if (!wav)
        return NULL;
    body = malloc(hlen + wav_len + tlen);
    if (body) {
        memcpy(body, head, hlen);
        memcpy(body + hlen, wav, wav_len);
        memcpy(body + hlen + wav_len, tail, tlen);
        c->body_len = hlen + wav_len + tlen;
    }
    free(wav);
    return body;
}

static void process(void *arg)
{
    struct call *c = arg;
    struct httpc_response *res = c->res;
    char why[160];
    enum err rc;

    c->res = NULL;
    if (res->transport == ERR_OK && res->status == 200) {
        json_t *root = json_loadb(res->body ? res->body : "", res->body_len, 0, NULL);
        const char *text = json_string_value(json_object_get(root, "text"));
        char *trimmed = text ? transcriber_trim(text) : NULL;

        if (!text)
            call_end(c, ERR_UPSTREAM, NULL, "The transcription service sent an unreadable answer");
        else if (!trimmed)
            call_end(c, ERR_NOMEM, NULL, NULL);
        else if (!trimmed[0])
            call_end(c, ERR_REFUSED, NULL, "No speech was recognised in the audio");
        else
            call_end(c, ERR_OK, trimmed, NULL);
        free(trimmed);
        json_decref(root);
    } else {
        if (res->transport == ERR_OK)
            log_warn("openai: HTTP %ld (attempt %d)", res->status, res->attempts);
        else
            log_warn("openai: no answer (%s, attempt %d)", err_name(res->transport), res->attempts);
        rc = httpc_failure(res, "The transcription service", NULL, why, sizeof(why));
        call_end(c, rc, NULL, why);
    }
    httpc_response_free(res);
}

static void on_answer(void *arg, struct httpc_response *res)
{
    struct call *c = arg;

    c->res = res;
    pool_continue(c->o->cpu, process, c);
}

static void openai_transcribe(struct transcriber *t, const int16_t *pcm, size_t n,
                              const char *language, transcribe_done_fn done, void *arg)
{
    struct openai *o = (struct openai *)t;
    struct call *c = calloc(1, sizeof(*c));
    char lang[4] = "";
    struct httpc_request req = {
        .method = "POST",
        .url = o->url,
        .headers = {NULL, o->auth_header, NULL}, /* the content type once it is known */
        .timeout_ms = TIMEOUT_MS,
        .max_response = MAX_ANSWER,
        .attempts = ATTEMPTS,
        .service = "openai",
    };

    if (!c) {
        done(arg, ERR_NOMEM, NULL, NULL);
        return;
    }
    c->o = o;
    c->done = done;
    c->arg = arg;
    if (language && *language)
        transcriber_primary_language(language, lang);
    c->body = build_body(c, o->model, lang, pcm, n);
    if (!c->body) {
        call_end(c, ERR_NOMEM, NULL, NULL);
        return;
    }
    req.headers[0] = c->content_type;
    req.body = c->body;
    req.body_len = c->body_len;
    /* after ERR_OK c is on_answer's: it may have run already */
    if (httpc_submit(o->http, &req, 0, on_answer, c) != ERR_OK)
        call_end(c, ERR_UNAVAILABLE, NULL, "The transcription service is not available");
}

static void openai_close(struct transcriber *t)
{
    struct openai *o = (struct openai *)t;

    if (!o)
        return;
    free(o->url);
    free(o->model);
    header_free(o->auth_header);
    free(o);
}

static const struct transcriber_ops openai_ops = {
    .name = "openai",
    .language_ok = transcriber_remote_language_ok,
    .transcribe = openai_transcribe,
    .close = openai_close,
};

enum err transcriber_openai_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                                 struct transcriber **out)
{
    const char *base = cfg->transcribe_url;
    struct openai *o;
    size_t n, blen;

    if (!base || !*base || !header_value_ok(cfg->transcribe_model) ||
        (cfg->transcribe_api_key && !header_value_ok(cfg->transcribe_api_key))) {
        log_error("transcriber: TRANSCRIBE_URL is missing, or a setting holds control characters");
        return ERR_INVALID;
    }
    o = calloc(1, sizeof(*o));
    if (!o)
        return ERR_NOMEM;
    o->base.ops = &openai_ops;
    o->http = http;
    o->cpu = cpu;
    o->model = strdup(cfg->transcribe_model);
    /* a base URL, or the full endpoint */
    blen = strlen(base);
    n = blen + sizeof(PATH);
    o->url = malloc(n);
    if (o->url) {
        bool full = blen >= sizeof(PATH) - 1 && strcmp(base + blen - (sizeof(PATH) - 1), PATH) == 0;
        snprintf(o->url, n, "%s%s", base, full ? "" : PATH);
    }
    if (cfg->transcribe_api_key && *cfg->transcribe_api_key)
        o->auth_header = header_line("Authorization: Bearer ", cfg->transcribe_api_key);
    if (!o->url || !o->model ||
        (cfg->transcribe_api_key && *cfg->transcribe_api_key && !o->auth_header)) {
        openai_close(&o->base);
        return ERR_NOMEM;
    }
    log_info("transcriber: openai-compatible, model %s at TRANSCRIBE_URL", o->model);
    *out = &o->base;
    return ERR_OK;
}
