/*
 * transcribe_bench.c - numbers for the local transcriber: resident memory added by
 * loading the model and each decoder (RSS from /proc/self/statm), and decode +
 * transcription time per second of audio, in grammar and general modes. Run by
 * bench/transcribe.sh with audio files as arguments. Owns what it allocates; one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio/decode.h"
#include "speech/transcriber.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static int run_mode(enum transcriber_mode mode, const char *name, int argc, char **argv)
{
    struct transcriber_local_options one = {.mode = mode, .pool_size = 1};
    struct transcriber_local_options two = {.mode = mode, .pool_size = 2};
    struct audio_limits lim = {100u << 20, 600.0};
    struct transcriber *t = NULL, *t2 = NULL;
    double r0 = rss_mib(), t0 = now_s(), r1, r2, load_s, audio_s = 0, dec_s = 0, asr_s = 0;
    const char *why = NULL;
    int ok = 0, refused = 0;

    if (transcriber_local_open(&one, &t, &why) != ERR_OK) {
        fprintf(stderr, "open: %s\n", why);
        return 1;
    }
    load_s = now_s() - t0;
    r1 = rss_mib();
    if (transcriber_local_open(&two, &t2, &why) != ERR_OK) {
        transcriber_close(t);
        return 1;
    }
    r2 = rss_mib();
    transcriber_close(t2);
    for (int i = 0; i < argc; i++) {
        size_t len = 0, n = 0;
        unsigned char *data = slurp(argv[i], &len);
        int16_t *pcm = NULL;
        char *text = NULL;
        double a;

        if (!data)
            continue;
        a = now_s();
        if (audio_decode(data, len, &lim, &pcm, &n, &why) == ERR_OK) {
            double b = now_s();
            enum err rc = transcriber_local_run(t, pcm, n, "en", &text, NULL, &why);

            asr_s += now_s() - b;
            dec_s += b - a;
            audio_s += (double)n / AUDIO_RATE;
            ok += rc == ERR_OK;
            refused += rc == ERR_REFUSED;
        }
        free(text);
        free(pcm);
        free(data);
    }
    transcriber_close(t);
    printf("%-8s load %.2f s; RSS +%.1f MiB for the model and 1 decoder, +%.1f MiB for a "
           "second pool of 2; %d files, %.1f s of audio: decode %.1f ms and transcribe %.0f ms "
           "per second of audio (%d transcribed, %d refused)\n",
           name, load_s, r1 - r0, r2 - r1, argc, audio_s, 1000 * dec_s / audio_s,
           1000 * asr_s / audio_s, ok, refused);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: transcribe_bench AUDIO...\n");
        return 2;
    }
    if (run_mode(TRANSCRIBER_GRAMMAR, "grammar", argc - 1, argv + 1) != 0)
        return 1;
    return run_mode(TRANSCRIBER_GENERAL, "general", argc - 1, argv + 1);
}
