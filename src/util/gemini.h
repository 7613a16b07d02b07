/*
 * gemini.h - a client of Google's Gemini generateContent API, shared by the
 * Gemini editor (image in, image out) and the Gemini transcriber (audio in,
 * text out).
 *
 * One call sends a text part and one inline part, over the asynchronous HTTP
 * client (util/httpc.h): waiting on the model holds no thread. The client owns
 * the wire format and its failures: the key in the x-goog-api-key header (never
 * a URL or a log), retries of 429/500/503/504 and lost connections with
 * jittered back-off, a timeout as ERR_TIMEOUT, Google's error bodies, and the
 * answer's parts read in order with "thought" parts skipped. The caller gets the
 * answer's first image and its text, or the model's refusal.
 *
 * Ownership: the client borrows cfg's strings, the HTTP client and the pool,
 * which must outlive it. A call's prompt and data are copied (encoded) before
 * gemini_generate() returns. The answer handed to done is borrowed for the
 * duration of the call. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct config;
struct httpc;
struct pool;
struct gemini;

struct gemini_answer {
    const void *image;  /* the first inlineData part that is not a thought, or NULL */
    size_t image_len;
    const char *text;   /* the text parts that are not thoughts, joined; "" when none */
    const char *refusal; /* blockReason, or a finishReason other than STOP: "SAFETY"… */
};

/*
 * rc is ERR_OK with the answer (which may still hold a refusal, or no image: the
 * caller decides what it needed), or ERR_UPSTREAM / ERR_TIMEOUT / ERR_UNAVAILABLE
 * with why, a client-safe sentence naming the HTTP status and Google's status word.
 * Runs on a thread of the pool given to gemini_open().
 */
typedef void (*gemini_done_fn)(void *arg, enum err rc, const struct gemini_answer *a,
                               const char *why);

/* A client for model (a name of [A-Za-z0-9._-]), with GEMINI_API_KEY, GEMINI_BASE_URL,
 * GEMINI_TIMEOUT and GEMINI_RETRIES from cfg. ERR_INVALID for a missing key or a bad
 * model name (logged). */
enum err gemini_open(const struct config *cfg, const char *model, struct httpc *http,
                     struct pool *cpu, struct gemini **out);

/*
 * Sends [{"text": prompt}, {"inline_data": {"mime_type": mime, "data": base64(data)}}]
 * with responseModalities image_out ? ["TEXT","IMAGE"] : ["TEXT"], and calls
 * done(arg, …) exactly once, later, on a pool thread.
 */
void gemini_generate(struct gemini *g, const char *prompt, const char *mime, const void *data,
                     size_t len, bool image_out, gemini_done_fn done, void *arg);

void gemini_close(struct gemini *g); /* accepts NULL */
