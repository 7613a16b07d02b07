/*
 * transcriber.c - picks the transcriber backend the configuration names, and
 * the small pieces every backend shares: language tags, WAV framing, trimming.
 */
#include "speech/transcriber.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/log.h"

bool transcriber_tag_valid(const char *language)
{
    size_t n = 0, run = 0;
    bool first = true;

    if (!language || strlen(language) > 35)
        return false;
    for (const char *p = language;; p++) {
        if (*p == '-' || *p == '_' || *p == '\0') {
            if (first ? (run < 2 || run > 3) : (run < 1 || run > 8))
                return false;
            if (*p == '\0')
                return true;
            first = false;
            run = 0;
            continue;
        }
        if (first ? !isalpha((unsigned char)*p) : !isalnum((unsigned char)*p))
            return false;
        run++;
        n++;
    }
}

enum err transcriber_remote_language_ok(struct transcriber *t, const char *language,
                                        const char **why)
{
    (void)t;
    if (!language || !*language || transcriber_tag_valid(language))
        return ERR_OK;
    *why = "language must be a language tag such as 'en' or 'pt-BR'";
    return ERR_INVALID;
}

void transcriber_primary_language(const char *language, char out[4])
{
    size_t n = 0;

    for (; language && n < 3 && isalpha((unsigned char)language[n]); n++)
        out[n] = (char)tolower((unsigned char)language[n]);
    out[n] = '\0';
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

unsigned char *transcriber_wav(const int16_t *pcm, size_t n, size_t *out_len)
{
    const uint32_t rate = 16000;
    unsigned char *wav;
    size_t data;

    if (n > (size_t)1 << 30)
        return NULL;
    data = n * 2;
    wav = malloc(44 + data);
    if (!wav)
        return NULL;
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, (uint32_t)(36 + data), 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);        /* fmt chunk size */
    put_le(wav + 20, 1, 2);         /* PCM */
    put_le(wav + 22, 1, 2);         /* mono */
    put_le(wav + 24, rate, 4);
    put_le(wav + 28, rate * 2, 4);  /* bytes per second */
    put_le(wav + 32, 2, 2);         /* block align */
    put_le(wav + 34, 16, 2);        /* bits per sample */
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, (uint32_t)data, 4);
    for (size_t i = 0; i < n; i++) /* little-endian whatever the host */
        put_le(wav + 44 + 2 * i, (uint16_t)pcm[i], 2);
    *out_len = 44 + data;
    return wav;
}

char *transcriber_trim(const char *text)
{
    size_t n;

    while (*text && isspace((unsigned char)*text))
        text++;
    n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    return strndup(text, n);
}

enum err transcriber_open(const struct config *cfg, bool local_editor, struct httpc *http,
                          struct pool *cpu, struct transcriber **out, const char **why)
{
    const char *kind = cfg->transcriber;

    if (strcmp(kind, "auto") == 0)
        kind = cfg->gemini_api_key && *cfg->gemini_api_key ? "gemini" : "local";
    if (strcmp(kind, "gemini") == 0)
        return transcriber_gemini_open(cfg, http, cpu, out);
    if (strcmp(kind, "openai") == 0)
        return transcriber_openai_open(cfg, http, cpu, out);
    {
        struct transcriber_local_options opt = {
            .mode = local_editor ? TRANSCRIBER_GRAMMAR : TRANSCRIBER_GENERAL,
            .pool_size = 2,
            .lazy = true, /* serve starts lean: decoders load on first use */
            .model_dir = cfg->speech_model_dir,
        };
        enum err rc = transcriber_local_open(&opt, out, why);
        if (rc == ERR_OK)
            log_info("transcriber: local (pocketsphinx, %s)",
                     local_editor ? "the edit grammar" : "the general English model");
        return rc;
    }
}
