/*
 * decode.h - untrusted audio bytes in memory -> 16 kHz mono signed 16-bit PCM (SPEC §9).
 *
 * The format is recognised by content (FFmpeg's probes), never by a file name or a
 * client's Content-Type, and only these are ever opened: AAC in ADTS, M4A/MP4 (AAC, ALAC
 * is not allowed), MP3, WAV (PCM), Ogg (Opus, Vorbis, FLAC), WebM/Matroska (Opus,
 * Vorbis) and FLAC. Everything else is ERR_UNSUPPORTED. This header does not include
 * FFmpeg's headers; only decode.c does.
 *
 * Ownership: data is borrowed. On ERR_OK, *pcm is a new malloc'd array of *n_samples
 * samples owned by the caller (release with free()). Out-parameters are written only on
 * success; *why (when why is non-NULL) is set on every error to a static, client-safe
 * sentence.
 *
 * Thread-safe: each call builds private FFmpeg contexts. audio_init() sets FFmpeg's
 * process-wide log callback once (the one library global involved); audio_decode()
 * calls it itself, so calling it first is optional.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AUDIO_RATE 16000 /* output sample rate, Hz; output is always mono s16 */

/* Inputs whose decoded audio is shorter than this are refused (ERR_UNSUPPORTED). */
#define AUDIO_MIN_SAMPLES (AUDIO_RATE / 10) /* 0.1 s */

/* Bounds on the decode work a stream may ask for; anything outside is ERR_UNSUPPORTED. */
#define AUDIO_MAX_INPUT_RATE 192000
#define AUDIO_MAX_INPUT_CHANNELS 8

struct audio_limits {
    size_t max_bytes;   /* MAX_AUDIO_BYTES: larger inputs are refused before decoding */
    double max_seconds; /* MAX_AUDIO_SECONDS: decoding stops as soon as it is exceeded */
};

/* Routes FFmpeg's log to util/log (its errors at LOG_DEBUG, fatal ones at LOG_WARN;
 * below AV_LOG_ERROR is dropped). Idempotent and thread-safe (pthread_once). */
void audio_init(void);

/*
 * Decodes data (len bytes) to 16 kHz mono s16.
 *
 * Errors:
 *  - ERR_TOO_LARGE: len > lim->max_bytes (checked first, nothing is parsed), or the
 *    decoded audio exceeds lim->max_seconds: decoding stops at the first frame that
 *    crosses the limit. (A container's declared duration is not trusted either way.)
 *  - ERR_UNSUPPORTED: not audio, a format or codec we do not allow, a sample rate over
 *    AUDIO_MAX_INPUT_RATE or more than AUDIO_MAX_INPUT_CHANNELS channels, undecodable,
 *    or less than AUDIO_MIN_SAMPLES of audio decoded.
 *  - ERR_INVALID: NULL arguments. ERR_NOMEM, ERR_INTERNAL: our side failed.
 *
 * Damaged input. A truncated file (an upload cut short: FFmpeg reports no error for a
 * truncated ADTS stream, it just ends) keeps the audio that decoded before the cut,
 * provided it is at least AUDIO_MIN_SAMPLES long: the transcriber decides whether the
 * words make sense. Packets the decoder rejects as invalid are skipped, but if more than
 * AUDIO_MAX_BAD_PERCENT of them are rejected (at least 3), the input is refused as
 * undecodable (ERR_UNSUPPORTED) rather than turned into a fragment of noise.
 */
#define AUDIO_MAX_BAD_PERCENT 10

enum err audio_decode(const void *data, size_t len, const struct audio_limits *lim, int16_t **pcm,
                      size_t *n_samples, const char **why);
