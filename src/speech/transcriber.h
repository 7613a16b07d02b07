/*
 * transcriber.h - speech (16 kHz mono s16 PCM, from audio/decode.h) to text
 * (SPEC §9), behind one interface with three backends chosen by TRANSCRIBER:
 *
 *   local   pocketsphinx, offline (transcriber_local.c)
 *   openai  an OpenAI-compatible POST /v1/audio/transcriptions server: OpenAI,
 *           whisper.cpp's server, speaches (transcriber_openai.c)
 *   gemini  generateContent on a text model with the audio inline
 *           (transcriber_gemini.c, over util/gemini.h)
 *
 * Like the editor, a transcription ends in a callback: the local backend calls
 * it before returning (on the caller's CPU thread), the remote ones later, on a
 * CPU pool thread, without a thread waiting on the network. Remote backends are
 * sent the audio as 16 kHz mono WAV, which every one of them takes.
 *
 * Ownership: pcm and language are borrowed until done runs; the text and why
 * given to done are borrowed for the duration of the call. Whoever opens a
 * transcriber closes it; close accepts NULL. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct config;
struct httpc;
struct pool;

/*
 * rc ERR_OK with text (trimmed, never empty), or: ERR_REFUSED (nothing intelligible,
 * or - local with the local editor - speech that is not an edit command: 422),
 * ERR_UPSTREAM / ERR_TIMEOUT / ERR_UNAVAILABLE (remote services: 502/504/503),
 * ERR_NOMEM, ERR_INTERNAL; why is a client-safe sentence or NULL.
 */
typedef void (*transcribe_done_fn)(void *arg, enum err rc, const char *text, const char *why);
/* With ERR_REFUSED, text is what was heard (NULL if nothing): the 422 reports it. */

struct transcriber;
struct transcriber_ops {
    const char *name; /* "local" | "openai" | "gemini" */
    /* ERR_OK if the backend can do language (a BCP 47 tag: "en", "en-US"; NULL or ""
     * means English), else ERR_INVALID with a static *why naming what it can do.
     * Pure and quick: checked before anything is stored. */
    enum err (*language_ok)(struct transcriber *t, const char *language, const char **why);
    /* pcm: n samples, 16 kHz mono s16. Calls done exactly once. */
    void (*transcribe)(struct transcriber *t, const int16_t *pcm, size_t n, const char *language,
                       transcribe_done_fn done, void *arg);
    void (*close)(struct transcriber *t);
};
struct transcriber {
    const struct transcriber_ops *ops; /* first member of every backend's struct */
};

static inline enum err transcriber_language_ok(struct transcriber *t, const char *language,
                                               const char **why)
{
    return t->ops->language_ok(t, language, why);
}

static inline void transcriber_transcribe(struct transcriber *t, const int16_t *pcm, size_t n,
                                          const char *language, transcribe_done_fn done, void *arg)
{
    t->ops->transcribe(t, pcm, n, language, done, arg);
}

static inline void transcriber_close(struct transcriber *t)
{
    if (t)
        t->ops->close(t);
}

/*
 * Opens the backend cfg->transcriber names ("auto": gemini if GEMINI_API_KEY is set,
 * else local). local_editor says whether the local editor is in use: then the local
 * transcriber listens for the editor's vocabulary only (a grammar) and refuses other
 * speech. http and cpu are borrowed and must outlive the transcriber. *why (static)
 * says what went wrong, e.g. a missing speech model.
 */
enum err transcriber_open(const struct config *cfg, bool local_editor, struct httpc *http,
                          struct pool *cpu, struct transcriber **out, const char **why);

/* The remote backends (also reached through transcriber_open). */
enum err transcriber_openai_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                                 struct transcriber **out);
enum err transcriber_gemini_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                                 struct transcriber **out);

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
    size_t pool_size;      /* decoders, 1..TRANSCRIBER_POOL_MAX; 0 = 2 */
    bool lazy;             /* load decoders when requests need them, not at open */
    const char *model_dir; /* holds en-us/, cmudict-en-us.dict, en-us.lm.bin, en-us-phone.lm.bin;
                              NULL = the pocketsphinx-en-us package's directory */
};

extern const struct transcriber_ops transcriber_local_ops;

/* Loads the model and pool_size decoders (seconds, tens of MB each: do it once at
 * start-up), or with lazy only checks that the model files are there: then each
 * decoder loads when a request first needs it (the server's lean start). ERR_UNAVAILABLE if the model files are missing or do not load (*why says
 * which); ERR_INVALID for bad options. *out is written only on success. */
enum err transcriber_local_open(const struct transcriber_local_options *opt,
                                struct transcriber **out, const char **why);

/* True for the tags the local transcriber accepts: "en" and "en-*" / "en_*", any case. */
int transcriber_local_language_ok(const char *language);

/* What one utterance gave, before the checks transcribe() applies (language,
 * editor_parse). For calibration, tests and benchmarks; the strings are malloc'd (NULL
 * when no words) and the caller frees them. */
struct transcriber_probe {
    char *hyp;            /* the mode's hypothesis (grammar or general model) */
    char *general;        /* grammar mode: the general model's hypothesis */
    double oog_per_frame; /* grammar mode: phone loop - grammar acoustic score */
    double worst_word_per_frame; /* grammar mode: the same for its worst-fitting word */
    int frames;           /* speech frames (10 ms) */
    bool refused;         /* grammar mode: the out-of-grammar guard refuses it */
};
enum err transcriber_local_probe(struct transcriber *t, const int16_t *pcm, size_t n,
                                 struct transcriber_probe *p);

/*
 * Runs the local transcriber synchronously: the text (malloc'd, caller frees) or the
 * error with a static *why. On ERR_REFUSED *heard (if not NULL) is what was heard
 * (malloc'd, or NULL when nothing was). For the CLI and benchmarks; the server goes
 * through transcriber_transcribe().
 */
enum err transcriber_local_run(struct transcriber *t, const int16_t *pcm, size_t n,
                               const char *language, char **text, char **heard, const char **why);

/* ---- pieces the backends share (transcriber.c) ---- */

/* True for a plausible BCP 47 tag: 2-3 letters, then "-" or "_" and 1-8 letters or digits,
 * repeated; at most 35 characters. */
bool transcriber_tag_valid(const char *language);

/* The remote backends' language_ok: any plausible tag (the service knows its languages). */
enum err transcriber_remote_language_ok(struct transcriber *t, const char *language,
                                        const char **why);

/* The primary language subtag, lowercased, into out ("en-US" -> "en"). */
void transcriber_primary_language(const char *language, char out[4]);

/* A 44-byte-header RIFF/WAVE file of pcm (16 kHz mono s16), malloc'd. NULL on no
 * memory or more than 2 GiB of audio. */
unsigned char *transcriber_wav(const int16_t *pcm, size_t n, size_t *out_len);

/* Copies text without leading and trailing white space, malloc'd; NULL on no memory. */
char *transcriber_trim(const char *text);
