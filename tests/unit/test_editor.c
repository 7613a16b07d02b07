/*
 * test_editor.c - unit tests for the local editor: the vocabulary table and prompt
 * parser (pure), and the libvips edits on raw pixels and on PNGs (geometry, alpha,
 * greyscale input, determinism, refusal), plus a concurrency check and a timing
 * printout of "make it colorful" on 2048x2048. Test images are built in memory.
 */
#include "imaging/editor.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vips/vips.h>

#include "check.h"
#include "imaging/ingest.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- parser ---- */

/* Parses prompt and checks the result is exactly the n kinds given (in order). */
static void expect_parse(const char *prompt, size_t n, ...)
{
    enum edit_kind got[EDIT_KIND_COUNT];
    size_t count = editor_parse(prompt, got, EDIT_KIND_COUNT);
    bool same = count == n;
    va_list ap;

    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        enum edit_kind want = (enum edit_kind)va_arg(ap, int);

        if (i >= count || got[i] != want)
            same = false;
    }
    va_end(ap);
    check_count++;
    if (!same) {
        check_failures++;
        fprintf(stderr, "parse \"%s\": got", prompt);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, " [%s]", editor_kind_name(got[i]));
        fprintf(stderr, " (expected %zu edits)\n", n);
    }
}

static void test_table(void)
{
    CHECK_EQ_INT(editor_vocabulary_len, EDIT_KIND_COUNT);
    for (size_t k = 0; k < editor_vocabulary_len; k++) {
        const struct editor_word *w = &editor_vocabulary[k];
        size_t np = 0;

        CHECK_EQ_INT(w->kind, k);
        CHECK(w->name != NULL && w->description != NULL);
        CHECK(w->phrases[0] != NULL);
        /* The canonical name and every phrase, alone, read as exactly this edit. */
        expect_parse(w->name, 1, (int)k);
        for (const char *const *p = w->phrases; *p; p++) {
            np++;
            expect_parse(*p, 1, (int)k);
            for (const char *c = *p; *c; c++) /* plain lowercase words for the grammar */
                CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == ' ');
        }
        CHECK(np <= EDITOR_MAX_PHRASES);
        CHECK(strstr(editor_refusal, w->name) != NULL);
    }
    /* the typed-only phrases: each alone reads as its edit, plain lowercase words too */
    for (size_t i = 0; i < editor_text_phrases_len; i++) {
        const struct editor_phrase *x = &editor_text_phrases[i];

        CHECK((size_t)x->kind < EDIT_KIND_COUNT && x->phrase != NULL);
        expect_parse(x->phrase, 1, (int)x->kind);
        for (const char *c = x->phrase; *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == ' ');
    }
    CHECK(editor_kind_name(EDIT_KIND_COUNT) == NULL);
    CHECK_EQ_STR(editor_kind_name(EDIT_GRAYSCALE), "black and white");
}

static void test_parse(void)
{
    expect_parse("make it look like a watercolor painting", 1, EDIT_WATERCOLOR);
    expect_parse("a bit brighter please", 1, EDIT_BRIGHTER);
    expect_parse("Make it colorful and magical", 2, EDIT_COLORFUL, EDIT_GLOW);
    expect_parse("turn it upside down and make it black & white", 2, EDIT_UPSIDE_DOWN,
                 EDIT_GRAYSCALE);
    expect_parse("rotate it to the left", 1, EDIT_ROTATE_LEFT);
    expect_parse("Rotate the picture 90 degrees to the right", 1, EDIT_ROTATE_RIGHT);
    expect_parse("turn left", 1, EDIT_ROTATE_LEFT);
    expect_parse("rotate it", 1, EDIT_ROTATE_RIGHT);
    expect_parse("more contrast", 1, EDIT_CONTRAST);
    expect_parse("increase the contrast", 1, EDIT_CONTRAST);
    expect_parse("black-and-white", 1, EDIT_GRAYSCALE);
    expect_parse("BLACK AND WHITE!!!", 1, EDIT_GRAYSCALE);
    expect_parse("b&w please", 1, EDIT_GRAYSCALE);
    expect_parse("greyscale", 1, EDIT_GRAYSCALE);
    expect_parse("grayscale", 1, EDIT_GRAYSCALE);
    expect_parse("vintage sepia look", 2, EDIT_VINTAGE, EDIT_SEPIA);
    expect_parse("soft and dreamy", 2, EDIT_BLUR, EDIT_DREAMY);
    expect_parse("pixel art", 1, EDIT_PIXELATE);
    expect_parse("8-bit pixel art", 1, EDIT_PIXELATE);
    expect_parse("pop art", 1, EDIT_POSTERIZE);
    expect_parse("like a cartoon", 1, EDIT_CARTOON);
    expect_parse("pencil sketch", 1, EDIT_SKETCH);
    expect_parse("just the outline", 1, EDIT_SKETCH);
    expect_parse("flip it upside down", 1, EDIT_UPSIDE_DOWN);
    expect_parse("mirror it", 1, EDIT_FLIP);
    expect_parse("flip it vertically", 1, EDIT_FLIP_VERTICAL);
    expect_parse("soft colors", 1, EDIT_PASTEL);
    expect_parse("neon cyberpunk glow", 2, EDIT_NEON, EDIT_GLOW);
    expect_parse("a sunset at night", 2, EDIT_SUNSET, EDIT_NIGHT);
    expect_parse("warmer, then cooler", 2, EDIT_WARM, EDIT_COOL);
    expect_parse("emboss + sharpen + invert", 3, EDIT_EMBOSS, EDIT_SHARPEN, EDIT_INVERT);
    /* order of appearance, duplicates once */
    expect_parse("sepia then invert then sepia", 2, EDIT_SEPIA, EDIT_INVERT);
    expect_parse("invert, sepia", 2, EDIT_INVERT, EDIT_SEPIA);
    expect_parse("blur blur blurry blur", 1, EDIT_BLUR);
    expect_parse("darker and darker", 1, EDIT_DARKER);
    /* the gap never crosses a clause */
    expect_parse("rotate it and make the left side warm", 2, EDIT_ROTATE_RIGHT, EDIT_WARM);
    /* words inside words do not count */
    expect_parse("a coolant blurb", 0);
    /* nothing */
    expect_parse("", 0);
    expect_parse("make it nicer", 0);
    expect_parse("\xc3\xa9\xc3\xa9 \xe2\x80\x9c!!\xe2\x80\x9d", 0);
    expect_parse("\xe2\x80\x9cSepia\xe2\x80\x9d", 1, EDIT_SEPIA);
    CHECK_EQ_INT(editor_parse(NULL, NULL, 0), 0);

    /* SPEC §16: negation, less, the plan (tests/unit/prompts.tsv has many more) */
    expect_parse("make it not blurry and sepia", 1, EDIT_SEPIA);
    expect_parse("no sepia", 0);
    expect_parse("no color", 1, EDIT_GRAYSCALE);
    expect_parse("less bright", 1, EDIT_DARKER);
    expect_parse("less blurry, more contrast", 2, EDIT_SHARPEN, EDIT_CONTRAST);

    struct edit_plan plan = {.n = 3};
    CHECK_EQ_INT(editor_plan(NULL, &plan), ERR_INVALID);
    CHECK(plan.n == 0 && plan.ignored == NULL);
    CHECK_EQ_INT(editor_plan("sepia", NULL), ERR_INVALID);
    CHECK_EQ_INT(editor_plan("Draw a CAT, then make it very blurry!", &plan), ERR_OK);
    CHECK_EQ_INT(plan.n, 1);
    CHECK_EQ_INT(plan.steps[0].kind, EDIT_BLUR);
    CHECK_EQ_INT(plan.steps[0].strength, EDIT_STRONG);
    CHECK_EQ_STR(plan.ignored, "draw cat");
    edit_plan_free(&plan);
    CHECK(plan.ignored == NULL && plan.n == 0);
    edit_plan_free(&plan); /* twice is fine */
    edit_plan_free(NULL);
    CHECK_EQ_INT(editor_plan("", &plan), ERR_OK);
    CHECK(plan.n == 0 && plan.ignored && plan.ignored[0] == '\0');
    edit_plan_free(&plan);
    /* "&" grows to "and" in ignored: the string is sized for it */
    CHECK_EQ_INT(editor_plan("&&& sepia &", &plan), ERR_OK);
    CHECK_EQ_STR(plan.ignored, "");
    edit_plan_free(&plan);
    CHECK_EQ_INT(editor_plan("x&y&z sepia", &plan), ERR_OK);
    CHECK_EQ_STR(plan.ignored, "x y z");
    edit_plan_free(&plan);

    /* max is honoured */
    enum edit_kind two[2];
    CHECK_EQ_INT(editor_parse("sepia invert blur sharpen", two, 2), 2);
    CHECK_EQ_INT(two[0], EDIT_SEPIA);
    CHECK_EQ_INT(two[1], EDIT_INVERT);

    /* a long prompt (1000+ chars) is bounded by its length */
    char longp[4001];
    for (size_t i = 0; i < sizeof(longp) - 1; i++)
        longp[i] = "sepia- "[i % 7];
    longp[sizeof(longp) - 1] = '\0';
    expect_parse(longp, 1, EDIT_SEPIA);
}

/* ---- images ---- */

struct raw {
    unsigned char *px;
    int w, h, bands;
};

/* A varied, noise-free test image: horizontal and vertical ramps and a smooth
 * diagonal pattern; bands 2 and 4 get alpha 0 on the left half, 255 on the right. */
static struct raw make_image(int w, int h, int bands)
{
    struct raw r = {malloc((size_t)w * h * bands), w, h, bands};

    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            unsigned char *p = r.px + ((size_t)y * w + x) * bands;
            unsigned char rr = (unsigned char)(x * 255 / (w - 1));
            unsigned char gg = (unsigned char)(y * 255 / (h - 1));
            unsigned char bb = (unsigned char)(((x + 2 * y) * 3) % 256);
            bool has_alpha = bands == 2 || bands == 4;

            if (bands <= 2) {
                p[0] = (unsigned char)((rr + gg + bb) / 3);
            } else {
                p[0] = rr;
                p[1] = gg;
                p[2] = bb;
            }
            if (has_alpha)
                p[bands - 1] = x < w / 2 ? 0 : 255;
        }
    }
    return r;
}

static const unsigned char *pixel(const unsigned char *px, int w, int bands, int x, int y)
{
    return px + ((size_t)y * w + x) * bands;
}

struct result {
    unsigned char *px;
    int w, h, bands;
};

static enum err edit_raw(const struct raw *in, const char *prompt, struct result *out)
{
    memset(out, 0, sizeof(*out));
    return editor_local_apply_raw(in->px, in->w, in->h, in->bands, prompt, &out->px, &out->w,
                                  &out->h, &out->bands);
}

static void test_grayscale_is_grey(void)
{
    for (int bands = 3; bands <= 4; bands++) {
        struct raw in = make_image(64, 48, bands);
        struct result r;
        bool grey = true;

        CHECK_EQ_INT(edit_raw(&in, "make it black and white", &r), ERR_OK);
        CHECK_EQ_INT(r.bands, bands);
        for (int i = 0; r.px && i < r.w * r.h; i++) {
            const unsigned char *p = r.px + (size_t)i * r.bands;
            if (p[0] != p[1] || p[1] != p[2])
                grey = false;
        }
        CHECK(grey);
        editor_output_free(r.px);
        free(in.px);
    }
}

static void test_invert_pixel(void)
{
    unsigned char px[4 * 3];
    struct raw in = {px, 2, 2, 3};
    struct result r;

    for (int i = 0; i < 4; i++) {
        px[i * 3] = 10;
        px[i * 3 + 1] = 20;
        px[i * 3 + 2] = 30;
    }
    CHECK_EQ_INT(edit_raw(&in, "invert", &r), ERR_OK);
    CHECK(r.px && r.px[0] == 245 && r.px[1] == 235 && r.px[2] == 225);
    editor_output_free(r.px);
}

/* A 300x200 flat image with a red marker at the top-left corner: after each geometric
 * edit the marker must be where the geometry says. */
static void check_marker(const char *prompt, int want_w, int want_h, int mx, int my)
{
    struct raw in = make_image(300, 200, 4);
    struct result r;

    for (int i = 0; i < in.w * in.h; i++) {
        unsigned char *p = in.px + (size_t)i * 4;
        p[0] = 10, p[1] = 20, p[2] = 30, p[3] = 255;
    }
    in.px[0] = 255, in.px[1] = 0, in.px[2] = 0, in.px[3] = 128;
    CHECK_EQ_INT(edit_raw(&in, prompt, &r), ERR_OK);
    CHECK_EQ_INT(r.w, want_w);
    CHECK_EQ_INT(r.h, want_h);
    if (r.px && r.w == want_w && r.h == want_h) {
        const unsigned char *p = pixel(r.px, r.w, r.bands, mx, my);
        int markers = 0;

        CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0 && p[3] == 128);
        for (int i = 0; i < r.w * r.h; i++)
            markers += r.px[(size_t)i * 4] == 255;
        CHECK_EQ_INT(markers, 1);
    }
    editor_output_free(r.px);
    free(in.px);
}

static void test_geometry(void)
{
    check_marker("rotate left", 200, 300, 0, 299);
    check_marker("rotate it to the right", 200, 300, 199, 0);
    check_marker("upside down", 300, 200, 299, 199);
    check_marker("flip", 300, 200, 299, 0);
    check_marker("flip it vertically", 300, 200, 0, 199);
    check_marker("rotate left and rotate right", 300, 200, 0, 0);
}

/* The left half of an RGBA/GA image is transparent: it must stay so. */
static void test_alpha_kept(void)
{
    static const char *const prompts[] = {
        "invert",     "sepia",   "blur",     "make it colorful", "glow",         "neon", "pixelate",
        "watercolor", "vintage", "painting", "vignette",         "frame",        "snow", "dreamy",
        "pop",        "cartoon", "sunset",   "less colorful",    "less contrast"};

    for (int bands = 2; bands <= 4; bands += 2) {
        struct raw in = make_image(120, 80, bands);

        for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
            struct result r;
            bool ok = true;

            CHECK_EQ_INT(edit_raw(&in, prompts[i], &r), ERR_OK);
            CHECK_EQ_INT(r.bands, 4);
            for (int y = 0; r.px && y < r.h; y++) {
                for (int x = 0; x < r.w; x++) {
                    unsigned char a = pixel(r.px, r.w, 4, x, y)[3];
                    if (a != (x < r.w / 2 ? 0 : 255))
                        ok = false;
                }
            }
            if (!ok)
                fprintf(stderr, "alpha changed by \"%s\" on %d bands\n", prompts[i], bands);
            CHECK(ok);
            editor_output_free(r.px);
        }
        free(in.px);
    }
}

/* True if the edit changed anything, comparing with the input widened to sRGB. */
static bool differs(const struct raw *in, const struct result *r)
{
    bool in_alpha = in->bands == 2 || in->bands == 4;

    if (r->w != in->w || r->h != in->h)
        return true;
    for (int i = 0; i < in->w * in->h; i++) {
        const unsigned char *a = in->px + (size_t)i * in->bands;
        const unsigned char *b = r->px + (size_t)i * r->bands;

        for (int c = 0; c < 3; c++) {
            unsigned char v = in->bands <= 2 ? a[0] : a[c];
            if (v != b[c])
                return true;
        }
        if (in_alpha && a[in->bands - 1] != b[3])
            return true;
    }
    return false;
}

static void test_every_op(void)
{
    static const int band_counts[] = {1, 2, 3, 4};

    for (size_t bi = 0; bi < 4; bi++) {
        int bands = band_counts[bi];
        struct raw in = make_image(96, 64, bands);

        for (size_t k = 0; k < editor_vocabulary_len; k++) {
            struct result r;
            enum err rc = edit_raw(&in, editor_vocabulary[k].name, &r);
            bool grey_noop = bands <= 2 && (k == EDIT_GRAYSCALE || k == EDIT_DESATURATE); /* grey */

            CHECK_EQ_INT(rc, ERR_OK);
            if (rc != ERR_OK) {
                fprintf(stderr, "  op %s on %d bands failed\n", editor_vocabulary[k].name, bands);
                continue;
            }
            CHECK_EQ_INT(r.bands, (bands == 2 || bands == 4) ? 4 : 3);
            if (!grey_noop && !differs(&in, &r)) {
                check_failures++;
                fprintf(stderr, "  op %s on %d bands changed nothing\n", editor_vocabulary[k].name,
                        bands);
            }
            check_count++;
            editor_output_free(r.px);
        }
        free(in.px);
    }
}

/* Tiny and thin images: every edit must still work and keep the size. */
static void test_tiny(void)
{
    static const int sizes[][2] = {{1, 1}, {2, 2}, {3, 2}, {1, 50}, {50, 1}, {7, 5}};

    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        int w = sizes[si][0], h = sizes[si][1];
        struct raw in = {malloc((size_t)w * h * 4), w, h, 4};

        for (int i = 0; i < w * h * 4; i++)
            in.px[i] = (unsigned char)(i * 37);
        for (size_t k = 0; k < editor_vocabulary_len; k++) {
            struct result r;
            bool quarter = k == EDIT_ROTATE_LEFT || k == EDIT_ROTATE_RIGHT;

            CHECK_EQ_INT(edit_raw(&in, editor_vocabulary[k].name, &r), ERR_OK);
            if (k == EDIT_CROP) { /* nothing to trim here: the centred 90%, at least 1 px */
                CHECK_EQ_INT(r.w, w * 9 / 10 > 0 ? (int)(w * 0.9 + 0.5) : 1);
                CHECK_EQ_INT(r.h, h * 9 / 10 > 0 ? (int)(h * 0.9 + 0.5) : 1);
            } else {
                CHECK_EQ_INT(r.w, quarter ? h : w);
                CHECK_EQ_INT(r.h, quarter ? w : h);
            }
            editor_output_free(r.px);
        }
        free(in.px);
    }
}

/* Runs one step of kind k at strength st on in (a plan, not a prompt). */
static enum err edit_one(const struct raw *in, enum edit_kind k, enum edit_strength st,
                         struct result *out)
{
    struct edit_plan plan = {.steps = {{k, st}}, .n = 1, .ignored = NULL};

    memset(out, 0, sizeof(*out));
    return editor_local_apply_raw_plan(in->px, in->w, in->h, in->bands, &plan, &out->px, &out->w,
                                       &out->h, &out->bands);
}

/* Mean absolute difference of the colour bands from the (RGB) input, same size. */
static double mean_diff(const struct raw *in, const struct result *r)
{
    double sum = 0.0;

    for (int i = 0; i < in->w * in->h; i++) {
        for (int c = 0; c < 3; c++)
            sum += abs((int)in->px[(size_t)i * 3 + c] - (int)r->px[(size_t)i * r->bands + c]);
    }
    return sum / (3.0 * in->w * in->h);
}

/* SPEC §16: for every edit with a degree, weak changes the pixels less than plain and
 * plain less than strong, on a colourful image; and each strength is deterministic. */
static void test_strength(void)
{
    struct raw in = make_image(160, 120, 3);

    for (size_t k = 0; k < EDIT_KIND_COUNT; k++) {
        static const enum edit_strength order[3] = {EDIT_WEAK, EDIT_PLAIN, EDIT_STRONG};
        double d[3] = {0.0, 0.0, 0.0};
        bool geometric = k == EDIT_ROTATE_LEFT || k == EDIT_ROTATE_RIGHT || k == EDIT_UPSIDE_DOWN ||
                         k == EDIT_FLIP || k == EDIT_FLIP_VERTICAL || k == EDIT_CROP;

        if (geometric)
            continue;
        for (int s = 0; s < 3; s++) {
            struct result r, again;

            CHECK_EQ_INT(edit_one(&in, (enum edit_kind)k, order[s], &r), ERR_OK);
            CHECK_EQ_INT(edit_one(&in, (enum edit_kind)k, order[s], &again), ERR_OK);
            if (!r.px || !again.px || r.w != in.w || r.h != in.h || r.bands != 3) {
                CHECK(!"edit failed or changed the size");
                editor_output_free(r.px);
                editor_output_free(again.px);
                continue;
            }
            CHECK(memcmp(r.px, again.px, (size_t)r.w * r.h * 3) == 0);
            d[s] = mean_diff(&in, &r);
            editor_output_free(r.px);
            editor_output_free(again.px);
        }
        check_count++;
        if (!(d[0] < d[1] && d[1] < d[2])) {
            check_failures++;
            fprintf(stderr, "  strength of %s: weak %.2f, plain %.2f, strong %.2f\n",
                    editor_kind_name((enum edit_kind)k), d[0], d[1], d[2]);
        }
    }
    free(in.px);
}

/* A drawing on a white page with a 30 px margin: crop trims to it (plus a small margin)
 * and cuts alpha to the same rectangle; a picture with no margin loses 5% a side. */
static void test_crop(void)
{
    struct raw in = make_image(200, 150, 4);
    struct result r;

    for (int y = 0; y < in.h; y++) {
        for (int x = 0; x < in.w; x++) {
            unsigned char *p = in.px + ((size_t)y * in.w + x) * 4;
            bool inside = x >= 30 && x < 170 && y >= 40 && y < 110;

            p[0] = inside ? (unsigned char)(x + 40) : 255;
            p[1] = inside ? 30 : 255;
            p[2] = inside ? (unsigned char)(y + 60) : 255;
            p[3] = inside && x >= 100 ? 255 : 200; /* a step of alpha inside the drawing */
        }
    }
    CHECK_EQ_INT(edit_one(&in, EDIT_CROP, EDIT_PLAIN, &r), ERR_OK);
    /* the box 30..169 x 40..109, plus 3 px (150 / 50) each side */
    CHECK_EQ_INT(r.w, 140 + 6);
    CHECK_EQ_INT(r.h, 70 + 6);
    CHECK_EQ_INT(r.bands, 4);
    if (r.px && r.w == 146 && r.h == 76) {
        /* output (x, y) is input (x + 27, y + 37), colour and alpha alike */
        for (int y = 0; y < r.h; y += 5) {
            for (int x = 0; x < r.w; x += 5) {
                const unsigned char *a = pixel(r.px, r.w, 4, x, y);
                const unsigned char *b = pixel(in.px, in.w, 4, x + 27, y + 37);

                CHECK(memcmp(a, b, 4) == 0);
            }
        }
    }
    editor_output_free(r.px);
    free(in.px);

    in = make_image(100, 60, 3);
    CHECK_EQ_INT(edit_one(&in, EDIT_CROP, EDIT_PLAIN, &r), ERR_OK);
    CHECK_EQ_INT(r.w, 90);
    CHECK_EQ_INT(r.h, 54);
    if (r.px && r.w == 90 && r.h == 54)
        CHECK(memcmp(pixel(r.px, 90, 3, 0, 0), pixel(in.px, 100, 3, 5, 3), 3) == 0);
    editor_output_free(r.px);
    free(in.px);
}

/* A picture with a blue sky over green grass: sunset turns the sky orange-gold (red above
 * blue, as a sunset sky is; the old grade made it sage green) and warms the grass without
 * making it orange; a picture without sky still gets warmer. */
static void test_sunset_sky(void)
{
    struct raw in = {malloc(120 * 90 * 3), 120, 90, 3};
    struct result r;

    for (int y = 0; y < in.h; y++) {
        for (int x = 0; x < in.w; x++) {
            unsigned char *p = in.px + ((size_t)y * in.w + x) * 3;
            bool sky = y < 50;

            p[0] = sky ? 110 : 70;
            p[1] = sky ? 180 : 150;
            p[2] = sky ? 240 : 60;
        }
    }
    CHECK_EQ_INT(edit_one(&in, EDIT_SUNSET, EDIT_PLAIN, &r), ERR_OK);
    if (r.px) {
        const unsigned char *sky = pixel(r.px, r.w, 3, 60, 10),
                            *grass = pixel(r.px, r.w, 3, 60, 85);

        CHECK(sky[0] > 200 && sky[0] > sky[1] + 40 && sky[1] > sky[2]); /* orange, not blue */
        CHECK(grass[1] > grass[0] && grass[0] >= 70 && grass[2] <= 60); /* still green, warmer */
    }
    editor_output_free(r.px);
    /* no sky: all grass */
    for (int i = 0; i < in.w * in.h; i++) {
        in.px[i * 3] = 70, in.px[i * 3 + 1] = 150, in.px[i * 3 + 2] = 60;
    }
    CHECK_EQ_INT(edit_one(&in, EDIT_SUNSET, EDIT_PLAIN, &r), ERR_OK);
    if (r.px) {
        const unsigned char *p = pixel(r.px, r.w, 3, 60, 10);

        CHECK(p[0] > 70 && p[2] < 60 && p[1] > p[0]);
    }
    editor_output_free(r.px);
    free(in.px);
}

/* Large images take the shrink-and-enlarge paths of glow and watercolor: the size and the
 * alpha must still come out exactly right. */
static void test_large_paths(void)
{
    static const char *const prompts[] = {"glow", "watercolor", "glow and watercolor"};
    struct raw in = make_image(1001, 853, 4);

    for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
        struct result r;
        bool ok = true;

        CHECK_EQ_INT(edit_raw(&in, prompts[i], &r), ERR_OK);
        CHECK_EQ_INT(r.w, 1001);
        CHECK_EQ_INT(r.h, 853);
        for (int y = 0; r.px && y < r.h; y++) {
            for (int x = 0; x < r.w; x++) {
                if (pixel(r.px, r.w, 4, x, y)[3] != (x < r.w / 2 ? 0 : 255))
                    ok = false;
            }
        }
        CHECK(ok);
        CHECK(r.px && differs(&in, &r));
        editor_output_free(r.px);
    }
    free(in.px);
}

/* Encodes raw pixels as a PNG (g_malloc'd). */
static void *to_png(const struct raw *in, size_t *len)
{
    VipsImage *img = vips_image_new_from_memory(in->px, (size_t)in->w * in->h * in->bands, in->w,
                                                in->h, in->bands, VIPS_FORMAT_UCHAR);
    void *buf = NULL;

    *len = 0;
    if (img && vips_pngsave_buffer(img, &buf, len, NULL))
        buf = NULL;
    VIPS_UNREF(img);
    return buf;
}

/* What an editor's done callback was given (the image is borrowed: keep its head). */
struct done_capture {
    int calls;
    enum err rc;
    size_t len;
    unsigned char head[8];
    const char *why;
    size_t steps; /* in the plan reported, or 0 without one */
};

static void capture_done(void *arg, enum err rc, const void *out, size_t out_len, const char *why,
                         const struct edit_plan *plan)
{
    struct done_capture *c = arg;

    c->steps = plan ? plan->n : 0;
    c->calls++;
    c->rc = rc;
    c->len = out_len;
    c->why = why;
    memset(c->head, 0, sizeof(c->head));
    if (out && out_len >= sizeof(c->head))
        memcpy(c->head, out, sizeof(c->head));
}

static void test_png(void)
{
    struct raw in = make_image(200, 150, 4);
    size_t len = 0, a_len = 0, b_len = 0;
    void *png = to_png(&in, &len), *a = NULL, *b = NULL;
    const char *why = NULL;
    const char *prompt = "make it colorful, sepia, blur, sharpen, watercolor, rotate left";
    VipsImage *img = NULL;

    CHECK(png != NULL);
    CHECK_EQ_INT(editor_local_apply(png, len, prompt, &a, &a_len, &why), ERR_OK);
    CHECK_EQ_INT(editor_local_apply(png, len, prompt, &b, &b_len, &why), ERR_OK);
    CHECK(a && b && a_len == b_len && memcmp(a, b, a_len) == 0); /* deterministic */
    CHECK(a && a_len > 8 && memcmp(a, "\x89PNG\r\n\x1a\n", 8) == 0);
    if (a && vips_pngload_buffer(a, a_len, &img, NULL) == 0) {
        CHECK_EQ_INT(img->Xsize, 150);
        CHECK_EQ_INT(img->Ysize, 200);
        CHECK_EQ_INT(img->Bands, 4);
        CHECK_EQ_INT(img->BandFmt, VIPS_FORMAT_UCHAR);
        VIPS_UNREF(img);
    } else {
        CHECK(!"edited PNG does not load");
    }
    editor_output_free(a);
    editor_output_free(b);

    /* nothing recognised */
    a = NULL;
    why = NULL;
    CHECK_EQ_INT(editor_local_apply(png, len, "make it nicer", &a, &a_len, &why), ERR_REFUSED);
    CHECK(a == NULL);
    CHECK(why != NULL && strstr(why, "Could not understand") && strstr(why, "sepia"));

    /* not a PNG */
    why = NULL;
    CHECK_EQ_INT(editor_local_apply("garbage!", 8, "sepia", &a, &a_len, &why), ERR_UNSUPPORTED);
    CHECK(why != NULL);
    CHECK_EQ_INT(editor_local_apply(png, len / 2, "sepia", &a, &a_len, &why), ERR_UNSUPPORTED);
    CHECK(a == NULL);

    /* through the interface */
    struct editor *ed = NULL;
    CHECK_EQ_INT(editor_local_open(&ed), ERR_OK);
    CHECK_EQ_STR(ed->ops->name, "local");
    struct done_capture cap = {0};
    editor_edit(ed, png, len, "invert", capture_done, &cap);
    CHECK_EQ_INT(cap.calls, 1);
    CHECK_EQ_INT(cap.rc, ERR_OK);
    CHECK(cap.len > 8 && memcmp(cap.head, "\x89PNG", 4) == 0);
    CHECK_EQ_INT(cap.steps, 1);
    editor_edit(ed, png, len, "make it nicer", capture_done, &cap);
    CHECK_EQ_INT(cap.calls, 2);
    CHECK_EQ_INT(cap.rc, ERR_REFUSED);
    CHECK(cap.why == editor_refusal);
    editor_close(ed);

    /* bad raw arguments */
    struct result r;
    struct raw bad = in;
    bad.bands = 5;
    CHECK_EQ_INT(edit_raw(&bad, "sepia", &r), ERR_INVALID);
    bad = in;
    bad.w = 0;
    CHECK_EQ_INT(edit_raw(&bad, "sepia", &r), ERR_INVALID);
    CHECK_EQ_INT(edit_raw(&in, "nothing here", &r), ERR_REFUSED);
    CHECK(r.px == NULL);

    g_free(png);
    free(in.px);
}

struct thread_arg {
    const void *png;
    size_t len;
    const void *want;
    size_t want_len;
    int mismatches;
};

static void *edit_thread(void *p)
{
    struct thread_arg *a = p;

    for (int i = 0; i < 4; i++) {
        void *out = NULL;
        size_t out_len = 0;

        if (editor_local_apply(a->png, a->len, "neon glow and upside down", &out, &out_len, NULL) !=
                ERR_OK ||
            out_len != a->want_len || memcmp(out, a->want, out_len) != 0)
            a->mismatches++;
        editor_output_free(out);
    }
    return NULL;
}

static void test_threads(void)
{
    struct raw in = make_image(160, 120, 3);
    size_t len = 0, want_len = 0;
    void *png = to_png(&in, &len), *want = NULL;
    struct thread_arg args[4];
    pthread_t th[4];

    CHECK_EQ_INT(editor_local_apply(png, len, "neon glow and upside down", &want, &want_len, NULL),
                 ERR_OK);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){png, len, want, want_len, 0};
        pthread_create(&th[i], NULL, edit_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].mismatches, 0);
    }
    editor_output_free(want);
    g_free(png);
    free(in.px);
}

static void test_timing(void)
{
    struct raw in = make_image(2048, 2048, 3);
    struct result r;
    double best = 1e9, best_png = 1e9;
    size_t len = 0;
    void *png = to_png(&in, &len);

    for (int i = 0; i < 5; i++) {
        double t0 = now_s();
        enum err rc = edit_raw(&in, "make it colorful", &r);
        double dt = now_s() - t0;

        CHECK_EQ_INT(rc, ERR_OK);
        editor_output_free(r.px);
        if (dt < best)
            best = dt;
    }
    for (int i = 0; i < 3; i++) {
        void *out = NULL;
        size_t out_len = 0;
        double t0 = now_s();
        enum err rc = editor_local_apply(png, len, "make it colorful", &out, &out_len, NULL);
        double dt = now_s() - t0;

        CHECK_EQ_INT(rc, ERR_OK);
        editor_output_free(out);
        if (dt < best_png)
            best_png = dt;
    }
    printf("timing: colorful 2048x2048 RGB: raw %.1f ms, PNG to PNG %.1f ms (best of 5/3)\n",
           best * 1e3, best_png * 1e3);
    g_free(png);
    free(in.px);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (imaging_init(argv[0]) != ERR_OK) {
        fprintf(stderr, "imaging_init failed\n");
        return 1;
    }
    test_table();
    test_parse();
    test_grayscale_is_grey();
    test_invert_pixel();
    test_geometry();
    test_alpha_kept();
    test_every_op();
    test_large_paths();
    test_strength();
    test_crop();
    test_sunset_sky();
    test_tiny();
    test_png();
    test_threads();
    if (!getenv("EDITOR_TEST_NO_TIMING"))
        test_timing();
    imaging_shutdown();
    return check_summary("test_editor");
}
