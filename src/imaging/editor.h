/*
 * editor.h - image editing from an English prompt (SPEC §8).
 *
 * Two layers:
 *  - the editor interface, a vtable every backend (local, Gemini, ...) implements: it
 *    takes our normalised PNG and a prompt and returns an edited PNG;
 *  - the local (embedded, default) backend's pure parts: the one vocabulary table of
 *    edits and the phrases that trigger them, and the prompt parser. The voice-prompt
 *    feature builds its speech grammar from the same table.
 *
 * This header does not include libvips; only the .c files in src/imaging do.
 *
 * Output buffers (edited PNGs and raw pixels) come from GLib's allocator (g_malloc):
 * release them with editor_output_free(), never with free().
 *
 * Everything here is thread-safe once imaging_init() has run: the table is read-only,
 * the parser is pure and each edit builds a private libvips pipeline.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

/* ---- the backend interface ---- */

/*
 * How an edit ends. rc is ERR_OK with the edited image (out, out_len bytes), or an
 * error with why, a client-safe sentence or NULL. plan is what the local editor read in
 * the prompt (what it applied and what it ignored, SPEC §16); NULL for a remote editor.
 * All three are borrowed: valid only during the call, so copy or consume them before
 * returning. Errors: ERR_REFUSED (the prompt was not
 * understood, or the model refused: 422), ERR_UPSTREAM (502), ERR_TIMEOUT (504),
 * ERR_UNSUPPORTED (the input was not an image we can edit), ERR_NOMEM, ERR_INTERNAL.
 * The returned bytes are untrusted for a remote editor: run them through ingest.
 */
struct edit_plan;
typedef void (*editor_done_fn)(void *arg, enum err rc, const void *out, size_t out_len,
                               const char *why, const struct edit_plan *plan);

struct editor;
struct editor_ops {
    const char *name; /* "local" | "gemini" */
    /*
     * Edits png (our normalised PNG, len bytes; borrowed until done runs) as prompt
     * asks (borrowed until done runs) and calls done(arg, ...) exactly once: on this
     * thread before returning (local), or later on a CPU pool thread (remote, which
     * never blocks the caller on the network).
     */
    void (*edit)(struct editor *e, const void *png, size_t len, const char *prompt,
                 editor_done_fn done, void *arg);
    /* optional (NULL: every prompt may work): ERR_REFUSED with a static *why when the
     * prompt cannot be done, checked before anything is stored. Pure and quick. */
    enum err (*check)(struct editor *e, const char *prompt, const char **why);
    void (*close)(struct editor *e); /* accepts NULL */
};
struct editor {
    const struct editor_ops *ops; /* first member of every backend's struct */
};

static inline void editor_edit(struct editor *e, const void *png, size_t len, const char *prompt,
                               editor_done_fn done, void *arg)
{
    e->ops->edit(e, png, len, prompt, done, arg);
}

static inline void editor_close(struct editor *e)
{
    if (e)
        e->ops->close(e);
}

/* Releases a buffer returned by the editor_local_* functions. Accepts NULL. */
void editor_output_free(void *buf);

/* The local backend. It holds no state; *out is a static object, close is a no-op. */
extern const struct editor_ops editor_local_ops;
enum err editor_local_open(struct editor **out);

/*
 * The Gemini backend (editor_gemini.c): generateContent over the asynchronous HTTP
 * client, parsing and retries scheduled on the cpu pool. Borrows cfg, http and cpu,
 * which must outlive it. Settings: GEMINI_API_KEY, GEMINI_MODEL, GEMINI_BASE_URL,
 * GEMINI_TIMEOUT (seconds per attempt), GEMINI_RETRIES.
 */
struct config;
struct httpc;
struct pool;
enum err editor_gemini_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                            struct editor **out);

/* Opens the editor cfg->editor names ("auto": gemini if GEMINI_API_KEY is set). */
enum err editor_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                     struct editor **out);

/* ---- the local backend's vocabulary ---- */

enum edit_kind {
    EDIT_COLORFUL,
    EDIT_GRAYSCALE,
    EDIT_SEPIA,
    EDIT_INVERT,
    EDIT_BLUR,
    EDIT_SHARPEN,
    EDIT_BRIGHTER,
    EDIT_DARKER,
    EDIT_CONTRAST,
    EDIT_WARM,
    EDIT_COOL,
    EDIT_ROTATE_LEFT,
    EDIT_ROTATE_RIGHT,
    EDIT_UPSIDE_DOWN,
    EDIT_FLIP,
    EDIT_FLIP_VERTICAL,
    EDIT_PIXELATE,
    EDIT_POSTERIZE,
    EDIT_SKETCH,
    EDIT_EMBOSS,
    EDIT_GLOW,
    EDIT_WATERCOLOR,
    EDIT_NEON,
    EDIT_PASTEL,
    EDIT_NIGHT,
    EDIT_SUNSET,
    EDIT_DESATURATE,    /* "less colorful": the opposite of colorful */
    EDIT_LESS_CONTRAST, /* "less contrast" */
    EDIT_VINTAGE,       /* "make it look old", "old photo" */
    EDIT_PAINTING,      /* "turn it into a painting" */
    EDIT_VIGNETTE,
    EDIT_FRAME, /* "add a frame", "border" */
    EDIT_SNOW,
    EDIT_DREAMY,
    EDIT_POP, /* "make it pop" */
    EDIT_CARTOON,
    EDIT_CROP,
    EDIT_KIND_COUNT /* not an edit: the number of edits */
};

#define EDITOR_MAX_PHRASES 24

/* One row per edit. Phrases are lowercase ASCII words separated by single spaces; the
 * list ends at the first NULL. */
struct editor_word {
    enum edit_kind kind;
    const char *name;                            /* canonical, e.g. "black and white" */
    const char *description;                     /* one line, for docs and 422 bodies */
    const char *phrases[EDITOR_MAX_PHRASES + 1]; /* NULL-terminated */
};

/* Indexed by enum edit_kind: editor_vocabulary[k].kind == k. */
extern const struct editor_word editor_vocabulary[];
extern const size_t editor_vocabulary_len; /* == EDIT_KIND_COUNT */

/* More phrases the prompt parser reads (typed prompts only): word forms and synonyms kept
 * out of the speech grammar, which builds on editor_vocabulary[] alone. Same format. */
struct editor_phrase {
    enum edit_kind kind;
    const char *phrase;
};
extern const struct editor_phrase editor_text_phrases[];
extern const size_t editor_text_phrases_len;

/* The canonical name of k, or NULL if k is out of range. */
const char *editor_kind_name(enum edit_kind k);

/*
 * Finds the edits a prompt asks for: the kinds of editor_plan()'s steps, in order (so
 * negated edits are left out and "less X" reads as X's opposite). Pure; no allocation
 * beyond scratch space (freed before return). The prompt is lowercased and split into
 * words at anything that is not an ASCII letter or digit ("&" reads as "and", an
 * apostrophe inside a word is dropped: "don't" is "dont"); every vocabulary phrase is
 * looked for on word boundaries, longest phrase first, each word used by at most one
 * phrase. "rotate"/"turn"/"spin"/"flip" may be separated from their direction by a few
 * words ("rotate it to the left"). Edits are written to out in the order they appear in
 * the prompt, each at most once. Returns the number written (at most max;
 * max >= EDIT_KIND_COUNT always suffices); 0 if nothing is recognised, prompt is NULL,
 * or scratch space cannot be allocated. The full rules head editor_vocab.c.
 */
size_t editor_parse(const char *prompt, enum edit_kind *out, size_t max);

/*
 * How strongly an edit is applied: degree words in the prompt ("slightly", "a bit",
 * "a little" weaker; "very", "much", "really", "super" stronger). A stronger edit
 * changes the pixels measurably more than a plain one, a plain one more than a weak
 * one; edits without a degree (rotate, flip, crop) ignore it.
 */
enum edit_strength { EDIT_WEAK = -1, EDIT_PLAIN = 0, EDIT_STRONG = 1 };

struct edit_step {
    enum edit_kind kind;
    enum edit_strength strength;
};

/*
 * What the local editor reads in a prompt (SPEC §16): the edits to apply, in the order
 * the prompt names them, each kind at most once, none negated ("not blurry", "without
 * sepia"); "less X" becomes X's opposite where the vocabulary has one. ignored holds
 * the prompt's words that no edit used, lowercased and separated by single spaces ("" if
 * every word was used). The plan owns ignored (malloc'd); release with edit_plan_free().
 */
struct edit_plan {
    struct edit_step steps[EDIT_KIND_COUNT];
    size_t n;
    char *ignored;
};

/*
 * Reads prompt into *plan (overwritten; release with edit_plan_free() whatever the
 * result). Pure: no state, allocations only for the plan's strings and scratch space.
 * ERR_OK also when nothing is recognised (plan->n == 0); ERR_INVALID for NULL
 * arguments; ERR_NOMEM.
 */
enum err editor_plan(const char *prompt, struct edit_plan *plan);

/* Frees what plan owns and zeroes it. Accepts NULL and a zeroed plan. */
void edit_plan_free(struct edit_plan *plan);

/* The sentence returned with ERR_REFUSED when a prompt names no edit (static). */
extern const char editor_refusal[];

/* ---- the local backend's entry points ---- */

/*
 * Applies every edit recognised in prompt, in order, to png (our own normalised PNG:
 * 8-bit sRGB or grey, optionally with alpha). The result is an 8-bit sRGB PNG, with
 * alpha iff the input had it, the same size unless rotated, metadata stripped.
 * Deterministic. Errors: ERR_REFUSED (nothing recognised; *why = editor_refusal),
 * ERR_UNSUPPORTED (not a decodable PNG), ERR_INVALID (bad arguments), ERR_NOMEM,
 * ERR_INTERNAL. *out (release with editor_output_free) is written only on success.
 */
enum err editor_local_apply(const void *png, size_t len, const char *prompt, void **out,
                            size_t *out_len, const char **why);

/* The same with a prompt already read: applies plan (borrowed; ERR_REFUSED if it has no
 * steps). */
enum err editor_local_apply_plan(const void *png, size_t len, const struct edit_plan *plan,
                                 void **out, size_t *out_len, const char **why);

/*
 * The same edit on decoded pixels, without PNG decode or encode (used by benchmarks).
 * pixels: width*height*bands bytes, 8-bit, interleaved, rows top to bottom, no padding;
 * bands 1 (grey), 2 (grey+alpha), 3 (sRGB) or 4 (sRGB+alpha); borrowed. On ERR_OK,
 * *out_pixels is a new g_malloc'd buffer of out_w*out_h*out_bands bytes (out_bands is 3,
 * or 4 when the input had alpha), released with editor_output_free(). Errors as
 * editor_local_apply (ERR_REFUSED when nothing is recognised). Outputs written only on
 * success.
 */
enum err editor_local_apply_raw(const unsigned char *pixels, int width, int height, int bands,
                                const char *prompt, unsigned char **out_pixels, int *out_w,
                                int *out_h, int *out_bands);

/* The same with a plan instead of a prompt (plan borrowed; ERR_REFUSED if it has no steps):
 * lets tests and benchmarks choose each step's strength. */
enum err editor_local_apply_raw_plan(const unsigned char *pixels, int width, int height, int bands,
                                     const struct edit_plan *plan, unsigned char **out_pixels,
                                     int *out_w, int *out_h, int *out_bands);
