/*
 * test_audio.c - unit tests for audio_decode(): WAV files built in memory (rates,
 * channels, lengths), the byte and second limits, garbage and non-audio bytes, absurd
 * sample rates and channel counts, truncation, and decoding from several threads.
 */
#include "audio/decode.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* A PCM s16le WAV of a 440 Hz tone: malloc'd, *len bytes. */
static unsigned char *make_wav(unsigned rate, unsigned channels, double seconds, size_t *len)
{
    size_t frames = (size_t)(rate * seconds), data = frames * channels * 2;
    unsigned char *w = calloc(1, 44 + data);

    if (!w)
        return NULL;
    memcpy(w, "RIFF", 4);
    put32(w + 4, (uint32_t)(36 + data));
    memcpy(w + 8, "WAVEfmt ", 8);
    put32(w + 16, 16);
    put16(w + 20, 1); /* PCM */
    put16(w + 22, channels);
    put32(w + 24, rate);
    put32(w + 28, rate * channels * 2);
    put16(w + 32, channels * 2);
    put16(w + 34, 16);
    memcpy(w + 36, "data", 4);
    put32(w + 40, (uint32_t)data);
    for (size_t i = 0; i < frames; i++) {
        int v = (int)(8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / rate));
        for (unsigned c = 0; c < channels; c++)
            put16(w + 44 + (i * channels + c) * 2, (unsigned)(v & 0xffff));
    }
    *len = 44 + data;
    return w;
}

static const struct audio_limits lim_default = {10u << 20, 60.0};

static void expect_decoded(unsigned rate, unsigned channels, double seconds)
{
    size_t len = 0, n = 0;
    unsigned char *w = make_wav(rate, channels, seconds, &len);
    int16_t *pcm = NULL;
    const char *why = NULL;
    enum err rc;
    double want = seconds * AUDIO_RATE;
    int peak = 0;

    CHECK(w != NULL);
    rc = audio_decode(w, len, &lim_default, &pcm, &n, &why);
    CHECK_EQ_INT(rc, ERR_OK);
    if (rc == ERR_OK) {
        /* within 1% (resampler edges) */
        CHECK((double)n > want * 0.99 && (double)n < want * 1.01 + 64);
        for (size_t i = 0; i < n; i++)
            peak = abs(pcm[i]) > peak ? abs(pcm[i]) : peak;
        CHECK(peak > 4000 && peak < 12000); /* the tone survived the downmix */
    } else {
        fprintf(stderr, "  %u Hz x%u %.2fs: %s\n", rate, channels, seconds, why ? why : "?");
    }
    free(pcm);
    free(w);
}

static void test_wav_formats(void)
{
    expect_decoded(16000, 1, 1.0);
    expect_decoded(8000, 1, 0.5);
    expect_decoded(44100, 2, 1.5);
    expect_decoded(48000, 2, 2.0);
    expect_decoded(22050, 6, 1.0);
}

static void expect_err(const void *data, size_t len, const struct audio_limits *lim, enum err want,
                       const char *what)
{
    int16_t *pcm = (int16_t *)(uintptr_t)1; /* must stay untouched on failure */
    size_t n = 12345;
    const char *why = NULL;
    enum err rc = audio_decode(data, len, lim, &pcm, &n, &why);

    check_count++;
    if (rc != want) {
        check_failures++;
        fprintf(stderr, "%s: got %s, expected %s\n", what, err_name(rc), err_name(want));
    }
    CHECK(pcm == (int16_t *)(uintptr_t)1 && n == 12345);
    CHECK(why != NULL && why[0] != '\0');
}

static void test_not_audio(void)
{
    unsigned char garbage[4096];
    static const char text[] = "make it black and white, please. This is a text file.\n";
    static const unsigned char png_sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                            0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < sizeof(garbage); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (unsigned char)x;
    }
    expect_err(garbage, sizeof(garbage), &lim_default, ERR_UNSUPPORTED, "garbage");
    expect_err(text, sizeof(text) - 1, &lim_default, ERR_UNSUPPORTED, "text");
    expect_err(png_sig, sizeof(png_sig), &lim_default, ERR_UNSUPPORTED, "png header");
    expect_err("", 0, &lim_default, ERR_UNSUPPORTED, "empty");
    expect_err(NULL, 0, &lim_default, ERR_UNSUPPORTED, "empty, NULL"); /* an empty form field */
    {
        int16_t *pcm = NULL;
        size_t n = 0;
        const char *why = NULL;
        CHECK_EQ_INT(audio_decode(NULL, 0, &lim_default, &pcm, &n, &why), ERR_UNSUPPORTED);
        CHECK_EQ_STR(why, "The audio file is empty.");
    }
    expect_err(NULL, 10, &lim_default, ERR_INVALID, "NULL data");
    expect_err(text, 10, NULL, ERR_INVALID, "NULL limits");
}

static void test_limits(void)
{
    size_t len = 0;
    unsigned char *w = make_wav(16000, 1, 3.0, &len);
    struct audio_limits bytes = {len - 1, 60.0}, exact = {len, 60.0}, secs = {10u << 20, 2.0};
    int16_t *pcm = NULL;
    size_t n = 0;

    CHECK(w != NULL);
    expect_err(w, len, &bytes, ERR_TOO_LARGE, "one byte over max_bytes");
    CHECK_EQ_INT(audio_decode(w, len, &exact, &pcm, &n, NULL), ERR_OK);
    free(pcm);
    expect_err(w, len, &secs, ERR_TOO_LARGE, "3 s over a 2 s limit");
    /* a header that claims a huge data chunk changes nothing: seconds are counted */
    put32(w + 40, 0x7ffffff0u);
    expect_err(w, len, &secs, ERR_TOO_LARGE, "lying header, 3 s over 2 s");
    free(w);
}

static void test_damaged(void)
{
    size_t len = 0, n = 0;
    unsigned char *w = make_wav(16000, 1, 1.0, &len);
    int16_t *pcm = NULL;

    CHECK(w != NULL);
    /* truncated to half: what decoded is kept (documented in decode.h) */
    CHECK_EQ_INT(audio_decode(w, 44 + 16000, &lim_default, &pcm, &n, NULL), ERR_OK);
    CHECK(n >= 7900 && n <= 8100);
    free(pcm);
    /* so short that nothing useful is left */
    expect_err(w, 44 + 800, &lim_default, ERR_UNSUPPORTED, "0.025 s of audio");
    /* header only */
    expect_err(w, 44, &lim_default, ERR_UNSUPPORTED, "header only");
    /* absurd sample rate and channel count */
    put32(w + 24, 4000000);
    put32(w + 28, 8000000);
    expect_err(w, len, &lim_default, ERR_UNSUPPORTED, "4 MHz sample rate");
    free(w);
    w = make_wav(16000, 1, 1.0, &len);
    CHECK(w != NULL);
    put16(w + 22, 64);
    put16(w + 32, 128);
    put32(w + 28, 16000 * 128);
    expect_err(w, len, &lim_default, ERR_UNSUPPORTED, "64 channels");
    free(w);
}

#define THREADS 4

static void *decode_thread(void *arg)
{
    const unsigned char *w = arg;
    size_t len = 44 + 16000 * 2 * 2, n = 0;
    bool ok = true;

    for (int i = 0; i < 10 && ok; i++) {
        int16_t *pcm = NULL;
        ok = audio_decode(w, len, &lim_default, &pcm, &n, NULL) == ERR_OK && n > 15800;
        free(pcm);
    }
    return ok ? arg : NULL;
}

static void test_threads(void)
{
    size_t len = 0;
    unsigned char *w = make_wav(16000, 2, 1.0, &len);
    pthread_t th[THREADS];

    CHECK(w != NULL && len == 44 + 16000 * 2 * 2);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, decode_thread, w) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        CHECK(ret == w);
    }
    free(w);
}

int main(void)
{
    audio_init();
    test_wav_formats();
    test_not_audio();
    test_limits();
    test_damaged();
    test_threads();
    return check_summary("audio");
}
