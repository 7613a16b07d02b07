/*
 * transcriber_gemini.c - transcription by Gemini: generateContent on a text
 * model (GEMINI_TRANSCRIBE_MODEL) with the audio inline as 16 kHz WAV and an
 * instruction to answer with the words only, through the shared client
 * (util/gemini.h), which owns retries, timeouts and the key.
 *
 * Ownership: the backend owns its client; the answer is borrowed during done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "speech/transcriber.h"
#include "util/gemini.h"
#include "util/log.h"

#define INSTRUCTION                                                                                \
    "Transcribe the speech in this audio exactly, in its own language. Answer with the "          \
    "transcript only, no quotes or comments. If there is no speech, answer with nothing."

struct gemini_stt {
    struct transcriber base;
    struct gemini *client;
};

struct stt_call {
    transcribe_done_fn done;
    void *arg;
};

static void on_generated(void *arg, enum err rc, const struct gemini_answer *a, const char *why)
{
    struct stt_call *c = arg;
    char msg[160];
    char *text;

    if (rc != ERR_OK) {
        c->done(c->arg, rc, NULL, why);
    } else if (a->refusal) {
        snprintf(msg, sizeof(msg), "The model refused to transcribe this audio (%s)", a->refusal);
        c->done(c->arg, ERR_REFUSED, NULL, msg);
    } else if (!(text = transcriber_trim(a->text))) {
        c->done(c->arg, ERR_NOMEM, NULL, NULL);
    } else {
        if (text[0])
            c->done(c->arg, ERR_OK, text, NULL);
        else
            c->done(c->arg, ERR_REFUSED, NULL, "No speech was recognised in the audio");
        free(text);
    }
    free(c);
}

static void gemini_transcribe(struct transcriber *t, const int16_t *pcm, size_t n,
                              const char *language, transcribe_done_fn done, void *arg)
{
    struct gemini_stt *g = (struct gemini_stt *)t;
    struct stt_call *c = malloc(sizeof(*c));
    unsigned char *wav;
    size_t wav_len = 0;

    (void)language; /* the model hears which language it is */
    if (!c) {
        done(arg, ERR_NOMEM, NULL, NULL);
        return;
    }
    c->done = done;
    c->arg = arg;
    wav = transcriber_wav(pcm, n, &wav_len);
    if (!wav) {
        free(c);
        done(arg, ERR_NOMEM, NULL, NULL);
        return;
    }
    gemini_generate(g->client, INSTRUCTION, "audio/wav", wav, wav_len, false, on_generated, c);
    free(wav); /* encoded into the request before gemini_generate returned */
}

static void gemini_stt_close(struct transcriber *t)
{
    struct gemini_stt *g = (struct gemini_stt *)t;

    if (!g)
        return;
    gemini_close(g->client);
    free(g);
}

static const struct transcriber_ops gemini_stt_ops = {
    .name = "gemini",
    .language_ok = transcriber_remote_language_ok,
    .transcribe = gemini_transcribe,
    .close = gemini_stt_close,
};

enum err transcriber_gemini_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                                 struct transcriber **out)
{
    struct gemini_stt *g = calloc(1, sizeof(*g));
    enum err rc;

    if (!g)
        return ERR_NOMEM;
    g->base.ops = &gemini_stt_ops;
    rc = gemini_open(cfg, cfg->gemini_transcribe_model, http, cpu, &g->client);
    if (rc != ERR_OK) {
        free(g);
        return rc;
    }
    log_info("transcriber: gemini, model %s", cfg->gemini_transcribe_model);
    *out = &g->base;
    return ERR_OK;
}
