/*
 * transcriber_local.c - the local transcriber: pocketsphinx 5prealpha (Debian's "0.8"
 * API) with the pocketsphinx-en-us model. The only file that includes pocketsphinx's or
 * sphinxbase's headers.
 *
 * Owns a pool of decoders (each with the acoustic model and dictionary loaded once),
 * handed out under a mutex + condition variable, since one decoder is not thread-safe;
 * the JSGF grammar text built at open from editor_vocabulary[]. The one process-wide
 * setting is sphinxbase's log callback (set once). transcribe() is thread-safe.
 *
 * Grammar mode refuses out-of-grammar speech: the same audio is also decoded with a
 * free phone loop (allphone search). A grammar path always exists, but when the speech
 * is not a command its acoustic score is below the phone loop's; the difference per
 * frame is compared with OOG_MAX_PER_FRAME. The text must also parse as an edit. A
 * refusal decodes the audio once more with the general language model: its words are
 * what the refusal reports as heard. Every search starts a new stream, so no front-end
 * state carries over between utterances (the same audio, the same text).
 */
#include "speech/transcriber.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/err.h>

#include "imaging/editor.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timefmt.h"

#ifndef POCKETSPHINX_MODELDIR
#define POCKETSPHINX_MODELDIR "/usr/share/pocketsphinx/model"
#endif
#define DEFAULT_MODEL_DIR POCKETSPHINX_MODELDIR "/en-us"
#define DEFAULT_POOL_SIZE 2

/*
 * Out-of-grammar threshold: (phone-loop acoustic score - grammar acoustic score) per
 * frame, in pocketsphinx's scaled log units. Calibrated on espeak-ng speech (4 voices x 2
 * speeds): correctly recognised commands scored 7..43, 8 other sentences 24..63 (or no
 * grammar path at all). 45 kept every correct command and refused 2/3 of the other
 * sentences: a partial guard, see docs/voice.md.
 */
#define OOG_MAX_PER_FRAME 45.0

/*
 * Word and phone insertion penalties of the grammar decoder (pocketsphinx's defaults are
 * 0.65 and 1.0). Lower ones make extra words and longer chains of items costlier, so
 * that speech which is not a command less often finds a command-shaped path. Measured on
 * the labelled set (tests/voice/labels.txt): commands right 62 -> 64 of 88, other
 * sentences refused 24 -> 38 of 60.
 */
#define GRAMMAR_WIP "0.2"
#define GRAMMAR_PIP "0.5"

/* Fewer speech frames than this (10 ms each) is no speech at all. */
#define MIN_SPEECH_FRAMES 20

#define LANG_REFUSAL "This language is not supported by the local transcriber (supports: en)."

/*
 * The grammar around the vocabulary's phrases (each alternative is checked against the
 * dictionary; the ones with unknown words are left out):
 *   command = [please] item ((and | then | and then) item)* [please]
 *   item    = [lead] [degree] phrase [suffix]  |  verb it [to the] rest-of-phrase
 * The second form comes from phrases that start with a verb editor_parse() lets stand
 * apart from its direction ("rotate it to the left" for "rotate left").
 */
static const char *const leads[] = {
    "make it",
    "make the picture",
    "make the image",
    "make the drawing",
    "make",
    "add a",
    "add",
    "turn it",
    "give it a",
    "give it",
    "can you make it",
    "please make it",
    "apply a",
    "do a",
    "it",
};
static const char *const degrees[] = {"a bit", "a little",     "a lot",  "very",     "much",
                                      "more",  "a little bit", "really", "much more"};
static const char *const suffixes[] = {"tone",   "effect", "filter",  "look",   "style",
                                       "please", "colors", "colours", "version"};
static const char *const gap_verbs[] = {"rotate", "turn", "spin", "flip", "mirror"};

/* Vocabulary words the CMU dictionary lacks, with pronunciations (CMU phone set). */
static const struct {
    const char *word, *phones;
} extra_words[] = {
    {"pixelate", "P IH K S AH L EY T"}, {"pixelated", "P IH K S AH L EY T IH D"},
    {"pixelize", "P IH K S AH L AY Z"}, {"grayscale", "G R EY S K EY L"},
    {"greyscale", "G R EY S K EY L"},
};

struct decoder_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ps_decoder_t *dec[TRANSCRIBER_POOL_MAX];
    bool busy[TRANSCRIBER_POOL_MAX];
    size_t n;       /* decoders loaded */
    size_t want;    /* at most this many: loaded one at a time as requests need them */
    bool loading;   /* a thread is loading one (outside mu); others wait on cv */
};

struct transcriber_local {
    struct transcriber base; /* first */
    enum transcriber_mode mode;
    char *hmm, *dict, *lm, *phone_lm; /* model paths */
    char *jsgf;                       /* grammar mode: the grammar text */
    struct decoder_pool pool;
};

/* ---- logging ---- */

static void sphinx_log(void *user, err_lvl_t lvl, const char *fmt, ...)
{
    char line[512]; /* vsnprintf truncates */
    va_list ap;
    size_t n;

    (void)user;
    if (lvl < ERR_WARN)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* its ERRORs are routine ("final result does not match the grammar" for speech that is
     * not a command); model loading failures are reported by transcriber_local_open() */
    if (n > 0)
        log_msg(lvl >= ERR_FATAL ? LOG_WARN : LOG_DEBUG, "pocketsphinx: %s", line);
}

static void sphinx_log_init(void)
{
    err_set_logfp(NULL); /* the configuration dump goes to this file pointer, not the callback */
    err_set_callback(sphinx_log, NULL);
}

static char *path_join(const char *dir, const char *name)
{
    struct buf b = {0};

    buf_str(&b, dir);
    buf_str(&b, "/");
    buf_str(&b, name);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- decoders ---- */

static bool word_known(ps_decoder_t *ps, const char *w, size_t n)
{
    char word[64]; /* vocabulary words are short; longer ones are simply "unknown" */
    char *pron;

    if (n == 0 || n >= sizeof(word))
        return false;
    memcpy(word, w, n);
    word[n] = '\0';
    pron = ps_lookup_word(ps, word);
    if (!pron)
        return false;
    ckd_free(pron);
    return true;
}

static bool phrase_known(ps_decoder_t *ps, const char *phrase)
{
    const char *p = phrase;

    while (*p) {
        size_t n = strcspn(p, " ");

        if (!word_known(ps, p, n))
            return false;
        p += n;
        while (*p == ' ')
            p++;
    }
    return true;
}

/* Appends "<name> = alt | alt | ...;" with the alternatives the dictionary knows. */
static void add_rule(struct buf *b, ps_decoder_t *ps, const char *name, const char *const *alts,
                     size_t n)
{
    size_t used = 0;

    buf_str(b, "<");
    buf_str(b, name);
    buf_str(b, "> = ");
    for (size_t i = 0; i < n; i++) {
        if (!phrase_known(ps, alts[i]))
            continue;
        if (used++)
            buf_str(b, " | ");
        buf_str(b, alts[i]);
    }
    buf_str(b, ";\n");
}

static bool is_gap_verb(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(gap_verbs) / sizeof(gap_verbs[0]); i++) {
        if (strlen(gap_verbs[i]) == n && memcmp(gap_verbs[i], w, n) == 0)
            return true;
    }
    return false;
}

/* The JSGF grammar (see the comment on leads[]). Phrases with a word the dictionary
 * lacks ("8 bit") are left out (logged at debug). */
static enum err build_jsgf(ps_decoder_t *ps, char **out)
{
    struct buf b = {0};
    size_t used = 0, skipped = 0, verbs = 0;

    buf_str(&b, "#JSGF V1.0;\ngrammar novadraw;\n");
    add_rule(&b, ps, "lead", leads, sizeof(leads) / sizeof(leads[0]));
    add_rule(&b, ps, "degree", degrees, sizeof(degrees) / sizeof(degrees[0]));
    add_rule(&b, ps, "suffix", suffixes, sizeof(suffixes) / sizeof(suffixes[0]));
    buf_str(&b, "<edit> = ");
    for (size_t k = 0; k < editor_vocabulary_len; k++) {
        for (const char *const *ph = editor_vocabulary[k].phrases; *ph; ph++) {
            if (!phrase_known(ps, *ph)) {
                log_debug("transcriber: phrase '%s' left out of the grammar (not in the "
                          "dictionary)",
                          *ph);
                skipped++;
                continue;
            }
            if (used++)
                buf_str(&b, " | ");
            buf_str(&b, *ph);
        }
    }
    buf_str(&b, ";\n<apart> = ");
    for (size_t k = 0; k < editor_vocabulary_len; k++) {
        for (const char *const *ph = editor_vocabulary[k].phrases; *ph; ph++) {
            size_t n = strcspn(*ph, " ");

            if ((*ph)[n] != ' ' || !is_gap_verb(*ph, n) || !phrase_known(ps, *ph))
                continue;
            if (verbs++)
                buf_str(&b, " | ");
            buf_add(&b, *ph, n);
            buf_str(&b, " (it | the picture | the image) [to the]");
            buf_str(&b, *ph + n);
        }
    }
    if (verbs == 0)
        buf_str(&b, "<VOID>");
    buf_str(&b, ";\n<item> = [<lead>] [<degree>] <edit> [<suffix>] | <apart>;\n"
                "public <command> = [please] <item> ( ( and | then | and then ) <item> )* "
                "[please];\n");
    if (b.failed || used == 0) {
        free(b.p);
        return b.failed ? ERR_NOMEM : ERR_INTERNAL;
    }
    log_debug("transcriber: grammar of %zu phrases (%zu left out), %zu bytes", used, skipped,
              b.len);
    *out = b.p;
    return ERR_OK;
}

static enum err decoder_new(struct transcriber_local *t, ps_decoder_t **out)
{
    cmd_ln_t *cfg;
    ps_decoder_t *ps;

    if (t->mode == TRANSCRIBER_GENERAL)
        cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", t->hmm, "-dict", t->dict, "-lm", t->lm,
                          "-cmn", "batch", NULL);
    else
        cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", t->hmm, "-dict", t->dict, "-allphone_ci",
                          "yes", "-cmn", "batch", "-wip", GRAMMAR_WIP, "-pip", GRAMMAR_PIP, NULL);
    if (!cfg)
        return ERR_UNAVAILABLE;
    ps = ps_init(cfg);
    cmd_ln_free_r(cfg); /* ps keeps its own reference */
    if (!ps)
        return ERR_UNAVAILABLE;
    if (t->mode == TRANSCRIBER_GRAMMAR) {
        for (size_t i = 0; i < sizeof(extra_words) / sizeof(extra_words[0]); i++) {
            if (!word_known(ps, extra_words[i].word, strlen(extra_words[i].word)) &&
                ps_add_word(ps, extra_words[i].word, extra_words[i].phones, TRUE) < 0)
                goto fail;
        }
        if (!t->jsgf && build_jsgf(ps, &t->jsgf) != ERR_OK)
            goto fail;
        if (ps_set_jsgf_string(ps, "grammar", t->jsgf) != 0 ||
            ps_set_allphone_file(ps, "phones", t->phone_lm) != 0 ||
            ps_set_lm_file(ps, "general", t->lm) != 0 || ps_set_search(ps, "grammar") != 0)
            goto fail;
    }
    *out = ps;
    return ERR_OK;
fail:
    ps_free(ps);
    return ERR_UNAVAILABLE;
}

/*
 * A free decoder, waiting for one if all are busy. While fewer than pool.want are
 * loaded and none is loading, the caller loads one more itself (outside the mutex: a
 * second or so) instead of waiting: a lazy transcriber starts with none, so the first
 * request pays for the model load and nothing is refused. NULL if none is loaded and
 * loading failed.
 */
static ps_decoder_t *pool_take(struct transcriber_local *t, size_t *slot)
{
    struct decoder_pool *p = &t->pool;
    ps_decoder_t *ps = NULL;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (size_t i = 0; i < p->n; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                ps = p->dec[i];
                *slot = i;
                break;
            }
        }
        if (ps)
            break;
        if (p->n < p->want && !p->loading) {
            ps_decoder_t *fresh = NULL;
            int64_t t0 = time_mono_ns();
            enum err rc;

            p->loading = true;
            pthread_mutex_unlock(&p->mu);
            rc = decoder_new(t, &fresh); /* only the loader touches t->jsgf */
            pthread_mutex_lock(&p->mu);
            p->loading = false;
            pthread_cond_broadcast(&p->cv);
            if (rc == ERR_OK) {
                log_info("transcriber: decoder %zu loaded in %.0f ms", p->n + 1,
                         (double)(time_mono_ns() - t0) / 1e6);
                *slot = p->n;
                p->dec[p->n] = fresh;
                p->busy[p->n++] = true;
                ps = fresh;
                break;
            }
            log_error("transcriber: cannot load the pocketsphinx model");
            if (p->n == 0)
                break; /* nothing to wait for */
            continue;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return ps;
}

static void pool_give(struct decoder_pool *p, size_t slot)
{
    pthread_mutex_lock(&p->mu);
    p->busy[slot] = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- recognition ---- */

/*
 * A copy of pcm with +-DITHER_LSB of deterministic noise. Synthetic or digitally silent
 * audio has runs of exact zeros whose log energy throws pocketsphinx's front end off
 * (measured: "make it brighter" lost entirely for two espeak voices out of four);
 * pocketsphinx's own -dither is random per decoder, so the same audio would not always
 * give the same text. This is the same idea, seeded the same way for every utterance.
 */
#define DITHER_LSB 3

static int16_t *dithered(const int16_t *pcm, size_t n)
{
    int16_t *out;
    uint32_t x = 12345;

    if (n > SIZE_MAX / sizeof(*out))
        return NULL;
    out = malloc(n ? n * sizeof(*out) : 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int v;

        x = x * 1103515245u + 12345u;
        v = pcm[i] + (int)((x >> 16) % (2 * DITHER_LSB + 1)) - DITHER_LSB;
        out[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
    }
    return out;
}

struct utt {
    char *hyp; /* malloc'd, NULL if no words */
    int frames;
    long long ascr; /* summed acoustic score of the best path (log base 1.0001) */
};

/* The samples of one 10 ms frame at 16 kHz; a bound on the frames of n samples. */
#define FRAME_SAMPLES 160
#define FRAMES_MAX(n) ((n) / FRAME_SAMPLES + 16)

/* Runs one search over the utterance. fr (FRAMES_MAX(n) entries, or NULL) receives the
 * best path's acoustic score spread over the frames of each segment. */
static enum err run_search(ps_decoder_t *ps, const char *search, const int16_t *pcm, size_t n,
                           struct utt *u, double *fr)
{
    const char *hyp;
    int32 score = 0;

    memset(u, 0, sizeof(*u));
    if (search && ps_set_search(ps, search) != 0)
        return ERR_INTERNAL;
    /* a new stream for every utterance: the front end's noise estimate and the voice
     * activity detector start from scratch, so nothing carries over between requests */
    if (ps_start_stream(ps) < 0 || ps_start_utt(ps) < 0)
        return ERR_INTERNAL;
    if (ps_process_raw(ps, pcm, n, FALSE, TRUE) < 0) {
        ps_end_utt(ps);
        return ERR_INTERNAL;
    }
    if (ps_end_utt(ps) < 0)
        return ERR_INTERNAL;
    u->frames = ps_get_n_frames(ps);
    hyp = ps_get_hyp(ps, &score);
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        int32 ascr = 0, lscr = 0, lback = 0;

        int sf = 0, ef = 0;

        ps_seg_prob(seg, &ascr, &lscr, &lback);
        u->ascr += ascr;
        ps_seg_frames(seg, &sf, &ef);
        if (fr && sf >= 0 && ef >= sf && (size_t)ef < FRAMES_MAX(n)) {
            for (int f = sf; f <= ef; f++)
                fr[f] = (double)ascr / (ef - sf + 1);
        }
    }
    while (hyp && *hyp == ' ')
        hyp++;
    if (hyp && *hyp) {
        u->hyp = strdup(hyp);
        if (!u->hyp)
            return ERR_NOMEM;
    }
    return ERR_OK;
}

/* What one recognition found (grammar mode runs three searches on the same audio). */
struct heard {
    struct utt g;  /* the mode's hypothesis: the grammar's, or the general model's */
    char *general; /* grammar mode: the general model's hypothesis (malloc'd or NULL) */
    double oog;    /* grammar mode: (phone loop - grammar) acoustic score per frame */
    double worst;  /* grammar mode: the same, for the grammar's worst-fitting word */
};

static void heard_free(struct heard *h)
{
    free(h->g.hyp);
    free(h->general);
    memset(h, 0, sizeof(*h));
}

static bool out_of_grammar(const struct heard *h);

/* Grammar mode on one decoder: the phone loop and the grammar; when the guard refuses
 * the grammar's hypothesis (or always, for probes), also the general model, whose words
 * are what the refusal reports as heard. */
static enum err recognise_grammar(ps_decoder_t *ps, const int16_t *pcm, size_t n,
                                  bool always_general, struct heard *h)
{
    struct utt ph, lm;
    enum edit_kind kinds[EDIT_KIND_COUNT];
    double *fr = calloc(FRAMES_MAX(n), sizeof(*fr));
    enum err rc = fr ? run_search(ps, "phones", pcm, n, &ph, fr) : ERR_NOMEM;

    if (rc != ERR_OK)
        goto out;
    free(ph.hyp);
    rc = run_search(ps, "grammar", pcm, n, &h->g, NULL);
    if (rc != ERR_OK)
        goto out;
    if (h->g.frames > 0)
        h->oog = (double)(ph.ascr - h->g.ascr) / h->g.frames;
    /* each word of the grammar's path against the phone loop over the same frames */
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        int32 ascr = 0, lscr = 0, lback = 0;
        int sf = 0, ef = 0;
        double loop = 0.0;

        ps_seg_prob(seg, &ascr, &lscr, &lback);
        ps_seg_frames(seg, &sf, &ef);
        if (!w || w[0] == '<' || w[0] == '[' || sf < 0 || ef - sf < 4 ||
            (size_t)ef >= FRAMES_MAX(n))
            continue;
        for (int f = sf; f <= ef; f++)
            loop += fr[f];
        if ((loop - ascr) / (ef - sf + 1) > h->worst)
            h->worst = (loop - ascr) / (ef - sf + 1);
    }
    if (!always_general && h->g.hyp && !out_of_grammar(h) &&
        editor_parse(h->g.hyp, kinds, EDIT_KIND_COUNT) > 0)
        goto out;
    rc = run_search(ps, "general", pcm, n, &lm, NULL);
    if (rc != ERR_OK)
        goto out;
    h->general = lm.hyp;
out:
    free(fr);
    return rc;
}

/* Dither, take a decoder, run the mode's searches, give it back. */
static enum err recognise(struct transcriber_local *t, const int16_t *pcm, size_t n,
                          bool always_general, struct heard *h)
{
    int16_t *in = dithered(pcm, n);
    ps_decoder_t *ps;
    size_t slot = 0;
    enum err rc;

    memset(h, 0, sizeof(*h));
    if (!in)
        return ERR_NOMEM;
    ps = pool_take(t, &slot);
    if (!ps) {
        free(in);
        return ERR_UNAVAILABLE;
    }
    if (t->mode == TRANSCRIBER_GRAMMAR)
        rc = recognise_grammar(ps, in, n, always_general, h);
    else
        rc = run_search(ps, NULL, in, n, &h->g, NULL);
    pool_give(&t->pool, slot);
    free(in);
    return rc;
}

int transcriber_local_language_ok(const char *language)
{
    if (!language || !*language)
        return 1;
    if (strncasecmp(language, "en", 2) != 0)
        return 0;
    if (language[2] == '\0')
        return 1;
    if (language[2] != '-' && language[2] != '_')
        return 0;
    for (const char *c = language + 3; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return 0;
    }
    return language[3] != '\0' && strlen(language) <= 35;
}

/* The out-of-grammar guard (see the comment at the top and docs/voice.md): true when
 * the grammar's hypothesis should be refused as speech that is not a command. */
static bool out_of_grammar(const struct heard *h)
{
    return h->oog > OOG_MAX_PER_FRAME;
}

enum err transcriber_local_run(struct transcriber *base, const int16_t *pcm, size_t n,
                               const char *language, char **text, char **heard_text,
                               const char **why)
{
    struct transcriber_local *t = (struct transcriber_local *)base;
    struct heard h = {0};
    enum edit_kind kinds[EDIT_KIND_COUNT];
    enum err rc = ERR_INVALID;
    const char *reason = "Invalid arguments.";

    if (heard_text)
        *heard_text = NULL;
    if (!pcm || !text)
        goto out;
    if (!transcriber_local_language_ok(language)) {
        reason = LANG_REFUSAL;
        goto out;
    }
    rc = recognise(t, pcm, n, false, &h);
    reason = "Transcription failed.";
    if (rc != ERR_OK)
        goto out;

    rc = ERR_REFUSED;
    reason = "Could not understand the audio: no speech was recognised.";
    if (t->mode == TRANSCRIBER_GRAMMAR) {
        log_debug("transcriber: grammar '%s', general '%s', %d frames, out-of-grammar "
                  "%.0f/frame",
                  h.g.hyp ? h.g.hyp : "", h.general ? h.general : "", h.g.frames, h.oog);
        /* what was heard, for the refusal: the general model's words say what the user
         * said better than a grammar that forces every sentence into a command */
        if (heard_text && (h.general || h.g.hyp)) {
            *heard_text = strdup(h.general ? h.general : h.g.hyp);
            if (!*heard_text) {
                rc = ERR_NOMEM;
                goto out;
            }
        }
    }
    if (!h.g.hyp || h.g.frames < MIN_SPEECH_FRAMES)
        goto out;
    if (t->mode == TRANSCRIBER_GRAMMAR) {
        reason = "Could not understand the prompt"; /* SPEC §16, with what was heard */
        if (out_of_grammar(&h))
            goto out;
        if (editor_parse(h.g.hyp, kinds, EDIT_KIND_COUNT) == 0)
            goto out;
    }
    *text = h.g.hyp;
    h.g.hyp = NULL;
    rc = ERR_OK;
out:
    if (rc != ERR_OK && why)
        *why = rc == ERR_NOMEM ? "Out of memory." : reason;
    if (rc != ERR_REFUSED && heard_text) {
        free(*heard_text);
        *heard_text = NULL;
    }
    heard_free(&h);
    return rc;
}

enum err transcriber_local_probe(struct transcriber *base, const int16_t *pcm, size_t n,
                                 struct transcriber_probe *p)
{
    struct transcriber_local *t = (struct transcriber_local *)base;
    struct heard h = {0};
    enum err rc;

    if (!t || base->ops != &transcriber_local_ops || !pcm || !p)
        return ERR_INVALID;
    memset(p, 0, sizeof(*p));
    rc = recognise(t, pcm, n, true, &h);
    if (rc == ERR_OK) {
        p->hyp = h.g.hyp;
        p->general = h.general;
        h.g.hyp = h.general = NULL;
        p->oog_per_frame = h.oog;
        p->worst_word_per_frame = h.worst;
        p->frames = h.g.frames;
        p->refused = t->mode == TRANSCRIBER_GRAMMAR && out_of_grammar(&h);
    }
    heard_free(&h);
    return rc;
}

static void local_close(struct transcriber *base)
{
    struct transcriber_local *t = (struct transcriber_local *)base;

    if (!t)
        return;
    for (size_t i = 0; i < t->pool.n; i++)
        ps_free(t->pool.dec[i]);
    pthread_cond_destroy(&t->pool.cv);
    pthread_mutex_destroy(&t->pool.mu);
    free(t->jsgf);
    free(t->hmm);
    free(t->dict);
    free(t->lm);
    free(t->phone_lm);
    free(t);
}

static enum err local_language_ok(struct transcriber *base, const char *language, const char **why)
{
    (void)base;
    if (transcriber_local_language_ok(language))
        return ERR_OK;
    *why = LANG_REFUSAL;
    return ERR_INVALID;
}

/* The interface's call: recognition runs here, on the caller's (CPU pool) thread. */
/* The interface's call: recognition runs here, on the caller's (CPU pool) thread. A
 * refusal carries what was heard as its text. */
static void local_transcribe(struct transcriber *base, const int16_t *pcm, size_t n,
                             const char *language, transcribe_done_fn done, void *arg)
{
    char *text = NULL, *heard_text = NULL;
    const char *why = NULL;
    enum err rc = transcriber_local_run(base, pcm, n, language, &text, &heard_text, &why);

    done(arg, rc, rc == ERR_OK ? text : heard_text, why);
    free(text);
    free(heard_text);
}

const struct transcriber_ops transcriber_local_ops = {
    .name = "local",
    .language_ok = local_language_ok,
    .transcribe = local_transcribe,
    .close = local_close,
};

enum err transcriber_local_open(const struct transcriber_local_options *opt,
                                struct transcriber **out, const char **why)
{
    static pthread_once_t log_once = PTHREAD_ONCE_INIT;
    struct transcriber_local *t = NULL;
    const char *dir;
    size_t want;
    enum err rc = ERR_INVALID;
    const char *reason = "Invalid transcriber options.";

    if (!opt || !out || (opt->mode != TRANSCRIBER_GRAMMAR && opt->mode != TRANSCRIBER_GENERAL))
        goto out;
    want = opt->pool_size ? opt->pool_size : DEFAULT_POOL_SIZE;
    if (want > TRANSCRIBER_POOL_MAX)
        goto out;
    dir = opt->model_dir ? opt->model_dir : DEFAULT_MODEL_DIR;
    pthread_once(&log_once, sphinx_log_init);

    rc = ERR_NOMEM;
    reason = "Out of memory.";
    t = calloc(1, sizeof(*t));
    if (!t)
        goto out;
    t->base.ops = &transcriber_local_ops;
    t->mode = opt->mode;
    if (pthread_mutex_init(&t->pool.mu, NULL) != 0) {
        free(t);
        t = NULL;
        goto out;
    }
    if (pthread_cond_init(&t->pool.cv, NULL) != 0) {
        pthread_mutex_destroy(&t->pool.mu);
        free(t);
        t = NULL;
        goto out;
    }
    t->hmm = path_join(dir, "en-us");
    t->dict = path_join(dir, "cmudict-en-us.dict");
    t->lm = path_join(dir, "en-us.lm.bin");
    t->phone_lm = path_join(dir, "en-us-phone.lm.bin");
    if (!t->hmm || !t->dict || !t->lm || !t->phone_lm)
        goto out;
    rc = ERR_UNAVAILABLE;
    reason = "The speech model (package pocketsphinx-en-us) could not be loaded.";
    t->pool.want = want;
    if (opt->lazy) {
        /* the files must be there; their load waits for the first request */
        if (access(t->hmm, R_OK) != 0 || access(t->dict, R_OK) != 0 ||
            access(t->lm, R_OK) != 0 || access(t->phone_lm, R_OK) != 0) {
            log_error("transcriber: the pocketsphinx model is missing from %s", dir);
            goto out;
        }
    }
    while (!opt->lazy && t->pool.n < want) {
        ps_decoder_t *ps = NULL;

        rc = decoder_new(t, &ps);
        if (rc != ERR_OK) {
            log_error("transcriber: cannot load the pocketsphinx model from %s", dir);
            goto out;
        }
        t->pool.dec[t->pool.n++] = ps;
    }
    log_info("transcriber: local (%s), up to %zu decoders%s",
             t->mode == TRANSCRIBER_GRAMMAR ? "grammar" : "general", want,
             opt->lazy ? ", loaded on first use" : "");
    *out = &t->base;
    t = NULL;
    rc = ERR_OK;
out:
    if (rc != ERR_OK && why)
        *why = reason;
    local_close(t ? &t->base : NULL);
    return rc;
}
