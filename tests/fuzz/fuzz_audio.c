/*
 * fuzz_audio.c - audio decoding (audio/decode.c): untrusted bytes -> 16 kHz mono PCM
 * through FFmpeg's probes and the decoders we allow, with small limits. Whatever is
 * accepted must be at least AUDIO_MIN_SAMPLES and at most the seconds allowed.
 */
#include "audio/decode.h"
#include "fuzz.h"

#define MAX_SECONDS 5

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    audio_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct audio_limits lim = {.max_bytes = 256 * 1024, .max_seconds = MAX_SECONDS};
    int16_t *pcm = NULL;
    size_t n = 0;
    const char *why = NULL;

    if (audio_decode(data, size, &lim, &pcm, &n, &why) == ERR_OK) {
        if (!pcm || n < AUDIO_MIN_SAMPLES || n > (size_t)(MAX_SECONDS + 1) * AUDIO_RATE)
            abort();
    } else if (!why) {
        abort();
    }
    free(pcm);
    return 0;
}
