/*
 * transcriber.h - speech (16 kHz mono s16 PCM, from audio/decode.h) -> text (SPEC §9).
 *
 * The transcriber interface is a vtable every backend (local, openai, gemini, ...)
 * implements, like the editor's. Each backend's struct begins with a pointer to its
 * table. This header includes no speech library; only transcriber_local.c does.
 *
 * Ownership: pcm and language are borrowed. On ERR_OK, *text is a new malloc'd,
 * NUL-terminated string owned by the caller (free()). Out-parameters are written only on
 * success; on an error *why (when why is non-NULL) is set to a static, client-safe
 * sentence. Whoever opens a transcriber closes it; close accepts NULL.
 *
 * Thread-safe: transcribe() may be called from any number of threads at once on the
 * same transcriber (the local one hands out decoders from a pool and blocks while all
 * are busy).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct transcriber;
struct transcriber_ops {
    const char *name; /* "local" | "openai" | "gemini" */
    /*
     * pcm: n samples, 16 kHz mono s16. language: a BCP 47 tag ("en", "en-US"), NULL or ""
     * for the default. Errors: ERR_INVALID (a language this backend does not do; *why
     * names the ones it does), ERR_REFUSED (nothing intelligible, or - for the local
     * grammar mode - speech that is not an edit command), ERR_UPSTREAM/ERR_TIMEOUT
     * (remote backends), ERR_NOMEM, ERR_INTERNAL.
     */
    enum err (*transcribe)(struct transcriber *t, const int16_t *pcm, size_t n,
                           const char *language, char **text, const char **why);
    void (*close)(struct transcriber *t);
};
struct transcriber {
    const struct transcriber_ops *ops; /* first member of every backend's struct */
};

static inline enum err transcriber_transcribe(struct transcriber *t, const int16_t *pcm, size_t n,
                                              const char *language, char **text, const char **why)
{
    return t->ops->transcribe(t, pcm, n, language, text, why);
}

static inline void transcriber_close(struct transcriber *t)
{
    if (t)
        t->ops->close(t);
}

/* ---- the local backend: pocketsphinx with its US English model ---- */

enum transcriber_mode {
    /* With the local editor: a JSGF grammar generated from editor_vocabulary[] (plus a
     * few filler words), and speech that does not fit it is refused (ERR_REFUSED) rather
     * than forced into a command. The text always parses with editor_parse(). */
    TRANSCRIBER_GRAMMAR,
    /* With a remote editor: pocketsphinx's general English language model. */
    TRANSCRIBER_GENERAL,
};

#define TRANSCRIBER_POOL_MAX 16

struct transcriber_local_options {
    enum transcriber_mode mode;
    size_t pool_size;      /* decoders loaded at open, 1..TRANSCRIBER_POOL_MAX; 0 = 2 */
    const char *model_dir; /* holds en-us/, cmudict-en-us.dict, en-us.lm.bin, en-us-phone.lm.bin;
                              NULL = the pocketsphinx-en-us package's directory */
};

extern const struct transcriber_ops transcriber_local_ops;

/* Loads the model and pool_size decoders (seconds, tens of MB each: do it once at
 * start-up). ERR_UNAVAILABLE if the model files are missing or do not load (*why says
 * which); ERR_INVALID for bad options. *out is written only on success. */
enum err transcriber_local_open(const struct transcriber_local_options *opt,
                                struct transcriber **out, const char **why);

/* True for the tags the local transcriber accepts: "en" and "en-*" / "en_*", any case. */
int transcriber_local_language_ok(const char *language);

/*
 * Runs one utterance without the checks transcribe() applies (language, out-of-grammar,
 * editor_parse) and reports the raw hypothesis (*hyp: malloc'd, NULL when no words), the
 * out-of-grammar score per frame (grammar mode; 0 in general mode) and the number of
 * speech frames. For calibration, tests and benchmarks. Outputs may be NULL.
 */
enum err transcriber_local_probe(struct transcriber *t, const int16_t *pcm, size_t n, char **hyp,
                                 double *oog_per_frame, int *frames);
