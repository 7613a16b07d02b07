/*
 * editor_vocab.c - the local editor's vocabulary (one table: edit, name, phrases) and
 * the prompt parser that reads it (SPEC §8). No libvips here: this is pure text work.
 *
 * Owns nothing beyond a scratch copy of the prompt inside editor_parse(), freed before
 * it returns. Thread-safe: the table is read-only and the parser keeps no state.
 */
#include "editor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Words that may stand a few words apart from the rest of their phrase: "rotate it to
 * the left" reads as "rotate left". At most GAP_MAX words may sit in between, and the
 * gap never crosses a word that starts a new clause. */
#define GAP_MAX 6

const struct editor_word editor_vocabulary[] = {
    [EDIT_COLORFUL] = {EDIT_COLORFUL,
                       "colorful",
                       "stronger, more saturated colours",
                       {"colorful", "colourful", "vibrant", "vivid", "saturated", "saturate",
                        "more color", "more colour", "more colors", "more colours", "bright colors",
                        "bright colours", NULL}},
    [EDIT_GRAYSCALE] = {EDIT_GRAYSCALE,
                        "black and white",
                        "greyscale (every pixel R = G = B)",
                        {"black and white", "grayscale", "greyscale", "gray scale", "grey scale",
                         "monochrome", "b and w", "desaturate", "gray", "grey", "colorless",
                         "colourless", NULL}},
    [EDIT_SEPIA] = {EDIT_SEPIA,
                    "sepia",
                    "brown-toned old photograph",
                    {"sepia", "sepia tone", NULL}},
    [EDIT_INVERT] = {EDIT_INVERT,
                     "invert",
                     "photographic negative of the colours",
                     {"invert", "inverted", "inverse", "negative", "invert the colors",
                      "invert the colours", NULL}},
    [EDIT_BLUR] = {EDIT_BLUR,
                   "blur",
                   "gaussian blur, scaled to the image size",
                   {"blur", "blurry", "blurred", "blurrier", "soft", "softer", "soften",
                    "out of focus", NULL}},
    [EDIT_SHARPEN] = {EDIT_SHARPEN,
                      "sharpen",
                      "crisper edges (unsharp mask on lightness)",
                      {"sharpen", "sharper", "sharp", "crisp", "crisper", "more detail", "in focus",
                       NULL}},
    [EDIT_BRIGHTER] = {EDIT_BRIGHTER,
                       "brighter",
                       "lighter overall",
                       {"brighter", "brighten", "bright", "lighter", "lighten", "more light",
                        "less dark", NULL}},
    [EDIT_DARKER] = {EDIT_DARKER,
                     "darker",
                     "darker overall",
                     {"darker", "darken", "dark", "dimmer", "dim", "less bright", "moody", NULL}},
    [EDIT_CONTRAST] = {EDIT_CONTRAST,
                       "more contrast",
                       "stretches tones away from mid-grey",
                       {"more contrast", "contrast", "higher contrast", "high contrast",
                        "contrasty", "punchy", "punchier", NULL}},
    [EDIT_WARM] = {EDIT_WARM,
                   "warm",
                   "shifts colours towards red and yellow",
                   {"warm", "warmer", "warmth", "cozy", "cosy", NULL}},
    [EDIT_COOL] = {EDIT_COOL,
                   "cool",
                   "shifts colours towards blue",
                   {"cool", "cooler", "cold", "colder", "icy", "wintry", NULL}},
    [EDIT_ROTATE_LEFT] = {EDIT_ROTATE_LEFT,
                          "rotate left",
                          "a quarter turn counter-clockwise",
                          {"rotate left", "turn left", "spin left", "rotate counterclockwise",
                           "rotate anticlockwise", "rotate counter clockwise",
                           "rotate anti clockwise", "counterclockwise", "anticlockwise",
                           "counter clockwise", "anti clockwise", NULL}},
    [EDIT_ROTATE_RIGHT] = {EDIT_ROTATE_RIGHT,
                           "rotate right",
                           "a quarter turn clockwise",
                           {"rotate right", "turn right", "spin right", "rotate clockwise",
                            "clockwise", "rotate", "rotated", NULL}},
    [EDIT_UPSIDE_DOWN] = {EDIT_UPSIDE_DOWN,
                          "upside down",
                          "a half turn",
                          {"upside down", "rotate 180", "turn 180", "flip upside down",
                           "turn upside down", "turn around", NULL}},
    [EDIT_FLIP] = {EDIT_FLIP,
                   "flip",
                   "mirror left to right",
                   {"flip", "flipped", "mirror", "mirrored", "flip horizontally", "mirror image",
                    "horizontal flip", NULL}},
    [EDIT_FLIP_VERTICAL] = {EDIT_FLIP_VERTICAL,
                            "flip vertically",
                            "mirror top to bottom",
                            {"flip vertically", "flip vertical", "vertical flip",
                             "mirror vertically", NULL}},
    [EDIT_PIXELATE] = {EDIT_PIXELATE,
                       "pixelate",
                       "large square pixels",
                       {"pixelate", "pixelated", "pixelize", "pixelise", "pixel art", "8 bit",
                        "blocky", "mosaic", NULL}},
    [EDIT_POSTERIZE] = {EDIT_POSTERIZE,
                        "posterize",
                        "few flat colour levels, like a poster",
                        {"posterize", "posterise", "posterized", "pop art", "flat colors",
                         "flat colours", NULL}},
    [EDIT_SKETCH] = {EDIT_SKETCH,
                     "sketch",
                     "dark outlines on white, like a pencil drawing",
                     {"sketch", "pencil", "pencil drawing", "pencil sketch", "outline", "outlines",
                      "line art", "line drawing", "charcoal", NULL}},
    [EDIT_EMBOSS] = {EDIT_EMBOSS,
                     "emboss",
                     "grey relief, as if pressed into metal",
                     {"emboss", "embossed", "relief", "engraved", "stamped", NULL}},
    [EDIT_GLOW] = {EDIT_GLOW,
                   "glow",
                   "soft bright halo blended over the image",
                   {"glow", "glowing", "magical", "magic", "ethereal", "fairy", "fantasy",
                    "sparkle", "sparkly", "shine", "shiny", NULL}},
    [EDIT_WATERCOLOR] = {EDIT_WATERCOLOR,
                         "watercolor",
                         "smoothed, lightened patches of colour, like paint on paper",
                         {"watercolor", "watercolour", "water color", "water colour",
                          "watercolor painting", "watercolour painting", NULL}},
    [EDIT_NEON] = {EDIT_NEON,
                   "neon",
                   "bright coloured edges on black",
                   {"neon", "cyberpunk", "synthwave", "glowing edges", "neon lights", "electric",
                    NULL}},
    [EDIT_PASTEL] = {EDIT_PASTEL,
                     "pastel",
                     "soft, light, less saturated colours",
                     {"pastel", "pastels", "soft colors", "soft colours", "faded", "washed out",
                      "muted", NULL}},
    [EDIT_NIGHT] = {EDIT_NIGHT,
                    "night",
                    "dark blue night-time look",
                    {"night", "nighttime", "night time", "at night", "midnight", "moonlight",
                     "moonlit", NULL}},
    [EDIT_SUNSET] = {EDIT_SUNSET,
                     "sunset",
                     "golden-orange evening light",
                     {"sunset", "sunrise", "golden hour", "dusk", "evening", "sundown", NULL}},
    [EDIT_DESATURATE] = {EDIT_DESATURATE,
                         "less colorful",
                         "weaker, less saturated colours",
                         {"less colorful", "less colourful", "less saturated", NULL}},
    [EDIT_LESS_CONTRAST] = {EDIT_LESS_CONTRAST,
                            "less contrast",
                            "tones drawn towards mid-grey",
                            {"less contrast", "lower contrast", "low contrast", NULL}},
    [EDIT_VINTAGE] = {EDIT_VINTAGE,
                      "vintage",
                      "an old, faded, brown-toned photograph with dark corners",
                      {"vintage", "old photo", "old photograph", "antique", "old fashioned",
                       "retro", "look old", NULL}},
    [EDIT_PAINTING] = {EDIT_PAINTING,
                       "painting",
                       "brush-stroke smoothing, like an oil painting",
                       {"painting", "painted", "oil painting", NULL}},
    [EDIT_VIGNETTE] = {EDIT_VIGNETTE,
                       "vignette",
                       "corners darkened towards the edges",
                       {"vignette", NULL}},
    [EDIT_FRAME] = {EDIT_FRAME,
                    "frame",
                    "a border around the picture",
                    {"frame", "border", "framed", NULL}},
    [EDIT_SNOW] = {EDIT_SNOW,
                   "snow",
                   "falling snowflakes over the picture",
                   {"snow", "snowy", "snowing", "snowflakes", NULL}},
    [EDIT_DREAMY] = {EDIT_DREAMY,
                     "dreamy",
                     "soft focus, light and glowing",
                     {"dreamy", "dreamlike", NULL}},
    [EDIT_POP] = {EDIT_POP,
                  "pop",
                  "more colour and contrast at once",
                  {"pop", NULL}},
    [EDIT_CARTOON] = {EDIT_CARTOON,
                      "cartoon",
                      "flat colour areas with bold dark outlines",
                      {"cartoon", "cartoonish", "comic", "comic book", NULL}},
    [EDIT_CROP] = {EDIT_CROP,
                   "crop",
                   "cut away the empty margins around the drawing",
                   {"crop", "cropped", "trim", NULL}},
};

const size_t editor_vocabulary_len = sizeof(editor_vocabulary) / sizeof(editor_vocabulary[0]);

const char editor_refusal[] =
    "Could not understand the prompt. Try: colorful, black and white, sepia, invert, blur, "
    "sharpen, brighter, darker, more contrast, warm, cool, rotate left, rotate right, upside "
    "down, flip, flip vertically, pixelate, posterize, sketch, emboss, glow, watercolor, neon, "
    "pastel, night, sunset, less colorful, less contrast, vintage, painting, vignette, frame, "
    "snow, dreamy, pop, cartoon, crop.";

const char *editor_kind_name(enum edit_kind k)
{
    if ((int)k < 0 || (size_t)k >= editor_vocabulary_len)
        return NULL;
    return editor_vocabulary[k].name;
}

struct token {
    const char *s; /* not NUL-terminated */
    size_t len;
    bool used; /* already part of a matched phrase */
};

static bool is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Splits the lowercased copy buf (n bytes) into words; "&" is a word of its own that
 * reads "and". toks has room for n + 1 entries, which is more than n bytes can hold. */
static size_t tokenise(char *buf, size_t n, struct token *toks)
{
    size_t count = 0, i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)buf[i];

        if (c == '&') {
            toks[count++] = (struct token){"and", 3, false};
            i++;
        } else if (is_word_char(c)) {
            size_t start = i;

            while (i < n && is_word_char((unsigned char)buf[i]))
                i++;
            toks[count++] = (struct token){buf + start, i - start, false};
        } else {
            i++; /* punctuation, spaces, hyphens, any byte of a non-ASCII character */
        }
    }
    return count;
}

static bool tok_is(const struct token *t, const char *w, size_t wlen)
{
    return t->len == wlen && memcmp(t->s, w, wlen) == 0;
}

/* The next space-separated word of a phrase at *p: its start and length; advances *p. */
static size_t next_word(const char **p, const char **w)
{
    const char *s = *p;
    size_t n = 0;

    while (*s == ' ')
        s++;
    *w = s;
    while (s[n] != '\0' && s[n] != ' ')
        n++;
    *p = s + n;
    return n;
}

static bool allows_gap(const char *w, size_t n)
{
    static const char *const leads[] = {"rotate", "turn", "spin", "flip", "mirror"};

    for (size_t i = 0; i < sizeof(leads) / sizeof(leads[0]); i++) {
        if (strlen(leads[i]) == n && memcmp(leads[i], w, n) == 0)
            return true;
    }
    return false;
}

static bool ends_clause(const struct token *t)
{
    return tok_is(t, "and", 3) || tok_is(t, "then", 4) || tok_is(t, "but", 3) ||
           tok_is(t, "also", 4) || tok_is(t, "make", 4);
}

/*
 * Tries phrase at toks[i]. On a match, fills idx with the token index of each phrase word
 * and returns the number of words; 0 if it does not match. idx has room for nwords_max.
 */
static size_t match_phrase(const struct token *toks, size_t ntok, size_t i, const char *phrase,
                           size_t *idx, size_t nwords_max)
{
    const char *p = phrase, *w;
    size_t n = 0, wlen, at = i;

    wlen = next_word(&p, &w);
    if (wlen == 0 || toks[i].used || !tok_is(&toks[i], w, wlen))
        return 0;
    bool gap = allows_gap(w, wlen);
    idx[n++] = i;
    while ((wlen = next_word(&p, &w)) > 0) {
        size_t last = (gap && n == 1) ? at + 1 + GAP_MAX : at + 1; /* furthest index */
        size_t j;

        if (n >= nwords_max)
            return 0;
        for (j = at + 1; j < ntok && j <= last; j++) {
            if (toks[j].used)
                return 0;
            if (tok_is(&toks[j], w, wlen))
                break;
            if (ends_clause(&toks[j]))
                return 0;
        }
        if (j >= ntok || j > last)
            return 0;
        idx[n++] = j;
        at = j;
    }
    return n;
}

#define PHRASE_WORDS_MAX 8

/* Finds the best phrase starting at toks[i]: most words, then shortest span. Marks its
 * words used and returns its edit, or -1. */
static int match_at(struct token *toks, size_t ntok, size_t i)
{
    size_t best_idx[PHRASE_WORDS_MAX], idx[PHRASE_WORDS_MAX];
    size_t best_n = 0, best_span = 0;
    int best = -1;

    for (size_t k = 0; k < editor_vocabulary_len; k++) {
        for (const char *const *ph = editor_vocabulary[k].phrases; *ph; ph++) {
            size_t n = match_phrase(toks, ntok, i, *ph, idx, PHRASE_WORDS_MAX);
            size_t span = n ? idx[n - 1] - i : 0;

            if (n == 0)
                continue;
            if (n > best_n || (n == best_n && span < best_span)) {
                best_n = n;
                best_span = span;
                best = (int)editor_vocabulary[k].kind;
                memcpy(best_idx, idx, n * sizeof(idx[0]));
            }
        }
    }
    for (size_t m = 0; m < best_n; m++)
        toks[best_idx[m]].used = true;
    return best;
}

size_t editor_parse(const char *prompt, enum edit_kind *out, size_t max)
{
    bool seen[EDIT_KIND_COUNT] = {false};
    struct token *toks = NULL;
    char *buf = NULL;
    size_t n, ntok, found = 0;

    if (!prompt || !out || max == 0)
        goto out;
    n = strlen(prompt);
    buf = malloc(n + 1);
    toks = calloc(n + 1, sizeof(*toks));
    if (!buf || !toks)
        goto out;
    for (size_t i = 0; i <= n; i++)
        buf[i] = (char)lower((unsigned char)prompt[i]);
    ntok = tokenise(buf, n, toks);

    for (size_t i = 0; i < ntok && found < max; i++) {
        int k = toks[i].used ? -1 : match_at(toks, ntok, i);

        if (k < 0 || seen[k])
            continue;
        seen[k] = true;
        out[found++] = (enum edit_kind)k;
    }
out:
    free(toks);
    free(buf);
    return found;
}

/* Until the parser reads negation, degree and the rest (SPEC §16): every recognised
 * edit at plain strength, nothing reported as ignored. */
enum err editor_plan(const char *prompt, struct edit_plan *plan)
{
    enum edit_kind kinds[EDIT_KIND_COUNT];

    if (!plan)
        return ERR_INVALID;
    *plan = (struct edit_plan){0};
    if (!prompt)
        return ERR_INVALID;
    plan->n = editor_parse(prompt, kinds, EDIT_KIND_COUNT);
    for (size_t i = 0; i < plan->n; i++)
        plan->steps[i] = (struct edit_step){kinds[i], EDIT_PLAIN};
    plan->ignored = strdup("");
    return plan->ignored ? ERR_OK : ERR_NOMEM;
}

void edit_plan_free(struct edit_plan *plan)
{
    if (!plan)
        return;
    free(plan->ignored);
    *plan = (struct edit_plan){0};
}
