/*
 * decode.c - untrusted audio in memory -> 16 kHz mono s16, with FFmpeg's libraries.
 *
 * The only file that includes FFmpeg's headers. A custom AVIOContext reads (and seeks
 * in) the caller's buffer; the demuxer is probed by content and must be on our format
 * whitelist, the decoder on our codec whitelist; nested opens (mov drefs, playlists) are
 * refused; libswresample converts to the output format. Every call owns its contexts
 * and frees them before returning; the one process-wide setting is FFmpeg's log
 * callback (audio_init). Thread-safe.
 */
#include "audio/decode.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "util/log.h"

/* Demuxers by FFmpeg's short name: ADTS AAC, mov (MP4/M4A), MP3, WAV, Ogg, Matroska
 * (WebM), raw FLAC. */
#define FORMAT_WHITELIST "aac,mov,mp3,wav,ogg,matroska,flac"

/* Decoder names, for FFmpeg's own checks (find_stream_info opens decoders too). */
#define CODEC_WHITELIST                                                                            \
    "aac,mp3float,mp3,opus,libopus,vorbis,libvorbis,flac,pcm_s16le,pcm_s24le,pcm_s32le,pcm_u8,"    \
    "pcm_f32le,pcm_f64le"

/* The same list by id: the stream we decode must be one of these. */
static const enum AVCodecID allowed_codecs[] = {
    AV_CODEC_ID_AAC,    AV_CODEC_ID_MP3,       AV_CODEC_ID_OPUS,      AV_CODEC_ID_VORBIS,
    AV_CODEC_ID_FLAC,   AV_CODEC_ID_PCM_S16LE, AV_CODEC_ID_PCM_S24LE, AV_CODEC_ID_PCM_S32LE,
    AV_CODEC_ID_PCM_U8, AV_CODEC_ID_PCM_F32LE, AV_CODEC_ID_PCM_F64LE,
};

#define IO_BUFFER_SIZE 32768
#define LOG_LINE_MAX 512
#define FFMPEG_MAX_ALLOC (64 * 1024 * 1024) /* bytes: see init_once */

/* ---- logging ---- */

static void av_log_to_ours(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[LOG_LINE_MAX]; /* av_log_format_line2 truncates to the size it is given */
    int prefix = 1;
    size_t n;

    if (level > av_log_get_level())
        return;
    if (av_log_format_line2(avcl, level, fmt, vl, line, (int)sizeof(line), &prefix) < 0)
        return;
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0)
        return;
    /* Decoder complaints are about the client's bytes, not about us: keep them quiet. */
    log_msg(level <= AV_LOG_FATAL ? LOG_WARN : LOG_DEBUG, "ffmpeg: %s", line);
}

static void init_once(void)
{
    /* No single FFmpeg allocation over FFMPEG_MAX_ALLOC: a container may declare any
     * size for a chunk, and a demuxer allocates (and zeroes) what it declares before it
     * reads (the fuzzer's 4.9 KB WAV whose LIST chunk says 4 GB took 2 GB). Decoding
     * our audio needs a few MB at a time. Process-wide; FFmpeg is used only here. */
    av_max_alloc(FFMPEG_MAX_ALLOC);
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_log_to_ours);
}

void audio_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, init_once);
}

/* ---- I/O over the caller's buffer ---- */

struct mem_reader {
    const unsigned char *data;
    size_t len, pos;
};

static int mem_read(void *opaque, uint8_t *buf, int buf_size)
{
    struct mem_reader *r = opaque;
    size_t n;

    if (buf_size <= 0)
        return AVERROR(EINVAL);
    if (r->pos >= r->len)
        return AVERROR_EOF;
    n = r->len - r->pos;
    if (n > (size_t)buf_size)
        n = (size_t)buf_size;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    struct mem_reader *r = opaque;
    int64_t base;

    if (whence & AVSEEK_SIZE)
        return (int64_t)r->len;
    whence &= ~AVSEEK_FORCE;
    if (whence == SEEK_SET)
        base = 0;
    else if (whence == SEEK_CUR)
        base = (int64_t)r->pos;
    else if (whence == SEEK_END)
        base = (int64_t)r->len;
    else
        return AVERROR(EINVAL);
    /* r->len <= SIZE_MAX and was checked against max_bytes, so it fits an int64_t */
    if (offset < -base || offset > (int64_t)r->len - base)
        return AVERROR(EINVAL);
    r->pos = (size_t)(base + offset);
    return (int64_t)r->pos;
}

/* mov "dref" atoms, HLS/DASH playlists, image2 patterns...: never open anything else. */
static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
    (void)s;
    (void)pb;
    (void)url;
    (void)flags;
    (void)options;
    return AVERROR(EPERM);
}

/* ---- decoding ---- */

struct decode_state {
    const struct audio_limits *lim;
    SwrContext *swr;
    AVChannelLayout in_layout; /* what swr was set up for */
    int in_rate, in_format;
    double in_seconds; /* decoded input so far */
    int16_t *out;
    size_t n, cap, cap_max;
    unsigned long bad; /* packets or frames the decoder rejected */
    const char *why;
};

static bool codec_allowed(enum AVCodecID id)
{
    for (size_t i = 0; i < sizeof(allowed_codecs) / sizeof(allowed_codecs[0]); i++) {
        if (allowed_codecs[i] == id)
            return true;
    }
    return false;
}

/* FFmpeg's ENOMEM is almost always an allocation over FFMPEG_MAX_ALLOC that the input
 * asked for: the input's fault, not ours. */
static enum err err_of_av(int ret)
{
    (void)ret;
    return ERR_UNSUPPORTED;
}

/* Makes room for `more` output samples, never beyond cap_max. */
static enum err reserve(struct decode_state *st, size_t more)
{
    size_t want = st->n + more, cap = st->cap ? st->cap : AUDIO_RATE;
    int16_t *grown;

    if (want <= st->cap)
        return ERR_OK;
    if (want > st->cap_max) {
        st->why = "The audio is longer than the limit.";
        return ERR_TOO_LARGE;
    }
    while (cap < want)
        cap = cap > st->cap_max / 2 ? st->cap_max : cap * 2;
    grown = realloc(st->out, cap * sizeof(*grown));
    if (!grown)
        return ERR_NOMEM;
    st->out = grown;
    st->cap = cap;
    return ERR_OK;
}

static enum err setup_resampler(struct decode_state *st, const AVFrame *f)
{
    AVChannelLayout in = {0}, mono = AV_CHANNEL_LAYOUT_MONO;
    enum err rc = ERR_INTERNAL;

    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in, f->ch_layout.nb_channels);
    else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
        return ERR_NOMEM;
    if (swr_alloc_set_opts2(&st->swr, &mono, AV_SAMPLE_FMT_S16, AUDIO_RATE, &in,
                            (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL) < 0 ||
        swr_init(st->swr) < 0) {
        log_warn("audio: cannot resample %d Hz, %d channels", f->sample_rate,
                 f->ch_layout.nb_channels);
        goto out;
    }
    if (av_channel_layout_copy(&st->in_layout, &f->ch_layout) < 0) {
        rc = ERR_NOMEM;
        goto out;
    }
    st->in_rate = f->sample_rate;
    st->in_format = f->format;
    rc = ERR_OK;
out:
    av_channel_layout_uninit(&in);
    return rc;
}

/* Converts one decoded frame (or, with f == NULL, flushes the resampler). */
static enum err take_frame(struct decode_state *st, const AVFrame *f)
{
    int room, got;
    enum err rc;

    if (f) {
        if (f->nb_samples <= 0)
            return ERR_OK;
        if (f->sample_rate <= 0 || f->sample_rate > AUDIO_MAX_INPUT_RATE ||
            f->ch_layout.nb_channels <= 0 || f->ch_layout.nb_channels > AUDIO_MAX_INPUT_CHANNELS) {
            st->why = "The audio has an unsupported sample rate or number of channels.";
            return ERR_UNSUPPORTED;
        }
        /* the limit on seconds, checked on what actually decodes, frame by frame */
        st->in_seconds += (double)f->nb_samples / f->sample_rate;
        if (st->in_seconds > st->lim->max_seconds) {
            st->why = "The audio is longer than the limit.";
            return ERR_TOO_LARGE;
        }
        if (!st->swr) {
            rc = setup_resampler(st, f);
            if (rc != ERR_OK)
                return rc;
        } else if (f->sample_rate != st->in_rate || f->format != st->in_format ||
                   av_channel_layout_compare(&f->ch_layout, &st->in_layout) != 0) {
            st->why = "The audio changes format midway.";
            return ERR_UNSUPPORTED;
        }
    } else if (!st->swr) {
        return ERR_OK;
    }
    room = swr_get_out_samples(st->swr, f ? f->nb_samples : 0);
    if (room < 0)
        return ERR_INTERNAL;
    rc = reserve(st, (size_t)room);
    if (rc != ERR_OK)
        return rc;
    uint8_t *dst = (uint8_t *)(st->out + st->n);
    got = swr_convert(st->swr, &dst, room, f ? (const uint8_t **)f->extended_data : NULL,
                      f ? f->nb_samples : 0);
    if (got < 0)
        return ERR_INTERNAL;
    st->n += (size_t)got;
    return ERR_OK;
}

/* Takes every frame the decoder has ready. */
static enum err drain(struct decode_state *st, AVCodecContext *dec, AVFrame *frame)
{
    for (;;) {
        int ret = avcodec_receive_frame(dec, frame);
        enum err rc;

        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return ERR_OK;
        if (ret == AVERROR(ENOMEM))
            return ERR_NOMEM;
        if (ret < 0) {
            st->bad++;
            continue;
        }
        rc = take_frame(st, frame);
        av_frame_unref(frame);
        if (rc != ERR_OK)
            return rc;
    }
}

static enum err decode_stream(struct decode_state *st, AVFormatContext *fmt, int idx,
                              AVCodecContext *dec)
{
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    /* Opus packets can be 2.5 ms: 400 a second is the most a sane stream has. */
    unsigned long packets = 0, max_packets = (unsigned long)(st->lim->max_seconds * 1000) + 1000;
    enum err rc = ERR_NOMEM;
    int ret;

    if (!pkt || !frame)
        goto out;
    for (;;) {
        ret = av_read_frame(fmt, pkt);
        if (ret == AVERROR(ENOMEM))
            goto out;
        if (ret < 0)
            break; /* the end, or a truncated or damaged container: keep what decoded */
        if (pkt->stream_index != idx) {
            av_packet_unref(pkt);
            continue;
        }
        if (++packets > max_packets) {
            st->why = "The audio has too many packets.";
            rc = ERR_UNSUPPORTED;
            goto out;
        }
        ret = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (ret == AVERROR(ENOMEM))
            goto out;
        if (ret < 0 && ret != AVERROR(EAGAIN))
            st->bad++;
        rc = drain(st, dec, frame);
        if (rc != ERR_OK)
            goto out;
    }
    ret = avcodec_send_packet(dec, NULL); /* flush the decoder */
    rc = ret < 0 && ret != AVERROR_EOF ? err_of_av(ret) : drain(st, dec, frame);
    if (rc == ERR_OK)
        rc = take_frame(st, NULL); /* flush the resampler */
    if (rc == ERR_OK && st->bad >= 3 && st->bad * 100 > packets * AUDIO_MAX_BAD_PERCENT) {
        log_debug("audio: %lu of %lu packets undecodable", st->bad, packets);
        st->why = "The audio is damaged and cannot be decoded.";
        rc = ERR_UNSUPPORTED;
    }
out:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    return rc;
}

enum err audio_decode(const void *data, size_t len, const struct audio_limits *lim, int16_t **pcm,
                      size_t *n_samples, const char **why)
{
    struct mem_reader reader = {data, len, 0};
    struct decode_state st = {.lim = lim};
    AVFormatContext *fmt = NULL;
    AVIOContext *io = NULL;
    AVCodecContext *dec = NULL;
    AVDictionary *opts = NULL;
    const AVCodec *codec = NULL;
    unsigned char *iobuf = NULL;
    const AVCodecParameters *par;
    enum err rc = ERR_INVALID;
    int idx, ret;

    if (!lim || !pcm || !n_samples || !(lim->max_seconds > 0) || (!data && len > 0)) {
        st.why = "Invalid arguments.";
        goto out;
    }
    if (len == 0) {
        st.why = "The audio file is empty.";
        rc = ERR_UNSUPPORTED;
        goto out;
    }
    if (len > lim->max_bytes) {
        st.why = "The audio file is larger than the limit.";
        rc = ERR_TOO_LARGE;
        goto out;
    }
    rc = ERR_UNSUPPORTED;
    st.why = "The upload is not a supported audio file.";
    if (len == 0 || len > (size_t)INT64_MAX)
        goto out;
    audio_init();
    /* output bound: the time limit, plus a little for the resampler's tail */
    st.cap_max = (size_t)(lim->max_seconds * AUDIO_RATE) + AUDIO_RATE;

    rc = ERR_NOMEM;
    iobuf = av_malloc(IO_BUFFER_SIZE);
    if (!iobuf)
        goto out;
    io = avio_alloc_context(iobuf, IO_BUFFER_SIZE, 0, &reader, mem_read, NULL, mem_seek);
    if (!io)
        goto out;
    iobuf = NULL; /* io owns it now (and may replace it) */
    fmt = avformat_alloc_context();
    if (!fmt)
        goto out;
    fmt->pb = io;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->io_open = refuse_io_open;
    if (av_dict_set(&opts, "format_whitelist", FORMAT_WHITELIST, 0) < 0 ||
        av_dict_set(&opts, "codec_whitelist", CODEC_WHITELIST, 0) < 0)
        goto out;
    ret = avformat_open_input(&fmt, NULL, NULL, &opts); /* frees fmt on failure */
    if (ret < 0) {
        rc = err_of_av(ret);
        goto out;
    }
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) {
        rc = err_of_av(ret);
        goto out;
    }
    rc = ERR_UNSUPPORTED;
    idx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (idx < 0)
        goto out;
    par = fmt->streams[idx]->codecpar;
    if (!codec_allowed(par->codec_id))
        goto out;
    if (par->sample_rate > AUDIO_MAX_INPUT_RATE ||
        par->ch_layout.nb_channels > AUDIO_MAX_INPUT_CHANNELS) {
        st.why = "The audio has an unsupported sample rate or number of channels.";
        goto out;
    }
    codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
        goto out;
    rc = ERR_NOMEM;
    dec = avcodec_alloc_context3(codec);
    if (!dec)
        goto out;
    rc = ERR_UNSUPPORTED;
    if (avcodec_parameters_to_context(dec, par) < 0)
        goto out;
    dec->thread_count = 1; /* we run inside the caller's thread; no decoder threads */
    av_dict_free(&opts);
    if (av_dict_set(&opts, "codec_whitelist", CODEC_WHITELIST, 0) < 0) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (avcodec_open2(dec, codec, &opts) < 0)
        goto out;

    rc = decode_stream(&st, fmt, idx, dec);
    if (rc != ERR_OK)
        goto out;
    if (st.n < AUDIO_MIN_SAMPLES) {
        st.why = "No audio could be decoded from the upload.";
        rc = ERR_UNSUPPORTED;
        goto out;
    }
    *pcm = st.out;
    *n_samples = st.n;
    st.out = NULL;
    rc = ERR_OK;
out:
    if (rc != ERR_OK && why)
        *why = st.why ? st.why : "The audio could not be decoded.";
    if (rc == ERR_NOMEM && why)
        *why = "Out of memory.";
    free(st.out);
    swr_free(&st.swr);
    av_channel_layout_uninit(&st.in_layout);
    avcodec_free_context(&dec);
    av_dict_free(&opts);
    avformat_close_input(&fmt);
    if (io) {
        av_freep(&io->buffer);
        avio_context_free(&io);
    }
    av_free(iobuf);
    return rc;
}
