/*
 * editor_local.c - the embedded default editor (SPEC §8): applies the edits that
 * editor_parse() recognises in a prompt, in order, with libvips.
 *
 * Every edit is a row of one table: up to four steps, each a small function of an 8-bit
 * image with its parameters, that together take 3-band sRGB to 3-band sRGB, and how the
 * edit honours strength (SPEC §16: mixed with the input, or its own parameters scaled).
 * Alpha is split off first and only geometric edits (rotate, flip, crop) touch it, so
 * transparency survives every colour edit. Grey input is widened to sRGB. Nothing here is
 * random (snow, grain and brush strokes come from a fixed integer hash), so the same input
 * and plan give the same bytes. docs/editor.md describes every edit.
 *
 * Owns no state: each call builds and releases a private pipeline, so it is thread-safe
 * once imaging_init() has run. Output buffers come from GLib (g_malloc); release them
 * with editor_output_free().
 */
#include "editor.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "imaging/vips_log.h"
#include "util/log.h"

#define WHY_INTERNAL "The image could not be edited"
#define WHY_CORRUPT "The image is corrupt or truncated"

#define PNG_COMPRESSION 6

/* Rec. 601 luma weights: how bright each primary looks. */
#define LUMA_R 0.299
#define LUMA_G 0.587
#define LUMA_B 0.114

/* One step of an edit: in to *out, with its parameters p (what each means is the step's
 * to say; unused ones are 0). The last slot, p[P_AMOUNT], is not from the table: it is the
 * strength the step runs at (1 plain, below 1 weaker, above 1 stronger); steps of edits
 * that scale by mixing (BY_MIX below) always get 1. */
typedef int (*step_fn)(VipsImage *in, VipsImage **out, const double *p);

#define STEPS_MAX 4
#define PARAMS_MAX 10
#define P_AMOUNT (PARAMS_MAX - 1)

struct step {
    step_fn fn;
    double p[PARAMS_MAX];
};

/* A context object whose local array holds intermediates; unref it to drop them all. */
static VipsImage **scratch(VipsImage **ctx, int n)
{
    *ctx = vips_image_new();
    return (VipsImage **)vips_object_local_array(VIPS_OBJECT(*ctx), n);
}

/* out = a * in + b per band, rounded to nearest and clipped to 0..255, as uchar. a and b
 * have n entries (1, or one per band). vips_linear's uchar output truncates, hence +0.5. */
static int linear_uchar(VipsImage *in, VipsImage **out, const double *a, const double *b, int n)
{
    double b2[4];

    for (int i = 0; i < n; i++)
        b2[i] = b[i] + 0.5;
    return vips_linear(in, out, (double *)a, b2, n, "uchar", TRUE, NULL);
}

static int linear1_uchar(VipsImage *in, VipsImage **out, double a, double b)
{
    return linear_uchar(in, out, &a, &b, 1);
}

/* Multiplies each pixel by a 3x3 (or 1x3) matrix given row by row, then rounds and
 * clips to uchar (vips_recomb returns float). */
static int recomb_uchar(VipsImage *in, VipsImage **out, const double *m, int rows)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int rc = -1;

    t[0] = vips_image_new_matrix_from_array(3, rows, m, 3 * rows);
    if (!t[0])
        goto out;
    if (vips_recomb(in, &t[1], t[0], NULL))
        goto out;
    if (linear1_uchar(t[1], out, 1.0, 0.0))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A blur radius that looks alike at any size: the shorter side / divisor, in [lo, hi]. */
static double blur_sigma(VipsImage *in, double divisor, double lo, double hi)
{
    double s = (double)VIPS_MIN(in->Xsize, in->Ysize) / divisor;

    return VIPS_CLIP(lo, s, hi);
}

/* Bilinear enlargement of an 8-bit image to exactly out_w x out_h (pixel centres aligned,
 * edges held), in one pass over the output: for smooth effects computed on a shrunk copy,
 * several times cheaper than vips_resize, whose careful interpolation they do not need. */
static int enlarge_uchar(VipsImage *small, int out_w, int out_h, VipsImage **out)
{
    int w = small->Xsize, h = small->Ysize, bands = small->Bands, rc = -1;
    size_t len = 0, n = (size_t)out_w * out_h * bands;
    unsigned char *src = NULL, *big = NULL;
    int *x0 = NULL;
    float *fx = NULL;

    if (small->BandFmt != VIPS_FORMAT_UCHAR) {
        vips_error("editor", "enlarge: not 8-bit");
        return -1;
    }
    src = vips_image_write_to_memory(small, &len);
    if (!src)
        goto out;
    big = g_malloc(n);
    x0 = g_malloc(sizeof(int) * out_w);
    fx = g_malloc(sizeof(float) * out_w);
    for (int x = 0; x < out_w; x++) {
        double sx = VIPS_CLIP(0.0, (x + 0.5) * w / out_w - 0.5, w - 1.0);

        x0[x] = VIPS_MIN((int)sx, w >= 2 ? w - 2 : 0);
        fx[x] = w > 1 ? (float)(sx - x0[x]) : 0.0f;
    }
    for (int y = 0; y < out_h; y++) {
        double sy = VIPS_CLIP(0.0, (y + 0.5) * h / out_h - 0.5, h - 1.0);
        int y0 = VIPS_MIN((int)sy, h >= 2 ? h - 2 : 0), y1 = h > 1 ? y0 + 1 : y0;
        float fy = h > 1 ? (float)(sy - y0) : 0.0f;
        const unsigned char *r0 = src + (size_t)y0 * w * bands, *r1 = src + (size_t)y1 * w * bands;
        unsigned char *row = big + (size_t)y * out_w * bands;

        for (int x = 0; x < out_w; x++) {
            int xa = x0[x] * bands, xb = w > 1 ? xa + bands : xa;

            for (int k = 0; k < bands; k++) {
                float top = r0[xa + k] + (r0[xb + k] - r0[xa + k]) * fx[x];
                float bottom = r1[xa + k] + (r1[xb + k] - r1[xa + k]) * fx[x];

                row[(size_t)x * bands + k] = (unsigned char)(top + (bottom - top) * fy + 0.5f);
            }
        }
    }
    *out = vips_image_new_from_memory_copy(big, n, out_w, out_h, bands, VIPS_FORMAT_UCHAR);
    if (*out)
        rc = 0;
out:
    g_free(src);
    g_free(big);
    g_free(x0);
    g_free(fx);
    return rc;
}

/* Runs fn (with p) on a copy of in shrunk by f and enlarges the result back to in's exact
 * size: about 1/f^2 of the cost, for effects that look the same at a coarser scale. The
 * small result is rendered to memory at once (1/f^2 of the picture) and enlarged
 * bilinearly (enlarge_uchar). */
static int at_scale(VipsImage *in, VipsImage **out, int f, step_fn fn, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int rc = -1;

    if (vips_shrink(in, &t[0], f, f, NULL))
        goto out;
    if (fn(t[0], &t[3], p))
        goto out;
    if (enlarge_uchar(t[3], in->Xsize, in->Ysize, &t[1]))
        goto out;
    rc = vips_copy(t[1], out, "interpretation", in->Type, NULL);
out:
    g_object_unref(ctx);
    return rc;
}

/* Screen blend of two uchar images: 255 - (255 - a)(255 - b) / 255. Brightens. */
static int screen(VipsImage *a, VipsImage *b, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (vips_invert(a, &t[0], NULL) || vips_invert(b, &t[1], NULL))
        goto out;
    if (vips_multiply(t[0], t[1], &t[2], NULL))
        goto out;
    if (linear1_uchar(t[2], out, -1.0 / 255.0, 255.0))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

static int mix_uchar(VipsImage *in, VipsImage *edited, double f, VipsImage **out);

/* ---- the steps; an edit's steps take and give 8-bit images ---- */

/* p: a 3x3 colour matrix, row by row. */
static int step_recomb(VipsImage *in, VipsImage **out, const double *p)
{
    return recomb_uchar(in, out, p, 3);
}

/* p: saturation scale around Rec. 601 luma, then an overall gain. */
static int step_saturate(VipsImage *in, VipsImage **out, const double *p)
{
    const double w[3] = {LUMA_R, LUMA_G, LUMA_B};
    double m[9];

    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            m[r * 3 + c] = p[1] * ((1.0 - p[0]) * w[c] + (r == c ? p[0] : 0.0));
    }
    return recomb_uchar(in, out, m, 3);
}

/* One band of luma. */
static int step_luma(VipsImage *in, VipsImage **out, const double *p)
{
    static const double m[3] = {LUMA_R, LUMA_G, LUMA_B};

    (void)p;
    return recomb_uchar(in, out, m, 1);
}

/* Three copies of a one-band image, tagged sRGB. */
static int step_grey_to_rgb(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 1);
    VipsImage *bands[3] = {in, in, in};
    int rc = -1;

    (void)p;
    if (vips_bandjoin(bands, &t[0], 3, NULL))
        goto out;
    if (vips_copy(t[0], out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Black and white: luma in all three bands; weaker keeps half the colour, stronger adds
 * contrast (x1.3 around mid-grey). */
static int step_grey(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    double amount = p[P_AMOUNT];
    int rc = -1;

    if (step_luma(in, &t[0], NULL) || step_grey_to_rgb(t[0], &t[1], NULL))
        goto out;
    if (amount < 1.0)
        rc = mix_uchar(in, t[1], amount, out);
    else if (amount > 1.0)
        rc = linear1_uchar(t[1], out, 1.3, 128.0 * (1.0 - 1.3));
    else
        rc = vips_copy(t[1], out, NULL);
out:
    g_object_unref(ctx);
    return rc;
}

/* p: a, b: a * v + b on every band. */
static int step_linear(VipsImage *in, VipsImage **out, const double *p)
{
    return linear1_uchar(in, out, p[0], p[1]);
}

/* p: a for R, G, B, then b for R, G, B. */
static int step_linear3(VipsImage *in, VipsImage **out, const double *p)
{
    return linear_uchar(in, out, p, p + 3, 3);
}

/* The negative; weaker is a lower-contrast negative, stronger a harder one (the negative
 * mixed in at (1 + amount) / 2: 0.75, 1, 1.35). */
static int step_invert(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *neg = NULL;
    double f = (1.0 + p[P_AMOUNT]) / 2.0;
    int rc;

    if (f == 1.0)
        return vips_invert(in, out, NULL);
    if (vips_invert(in, &neg, NULL))
        return -1;
    rc = mix_uchar(in, neg, f, out);
    g_object_unref(neg);
    return rc;
}

/* p: sigma. */
static int step_gaussblur(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_gaussblur(in, out, p[0], NULL);
}

/* p: the blur_sigma() of in: divisor, lo, hi; sigma times the amount. */
static int step_blur_scaled(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_gaussblur(in, out, blur_sigma(in, p[0], p[1], p[2]) * p[P_AMOUNT], NULL);
}

/* p: sigma, m2. Works on lightness and returns LabS; step_srgb and step_uchar follow. */
static int step_sharpen(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_sharpen(in, out, "sigma", p[0], "m2", p[1], NULL);
}

static int step_srgb(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_colourspace(in, out, VIPS_INTERPRETATION_sRGB, NULL);
}

static int step_uchar(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_cast_uchar(in, out, NULL);
}

/* p: degrees clockwise, a multiple of 90. */
static int step_rotate(VipsImage *in, VipsImage **out, const double *p)
{
    static const VipsAngle quarter[4] = {VIPS_ANGLE_D0, VIPS_ANGLE_D90, VIPS_ANGLE_D180,
                                         VIPS_ANGLE_D270};

    return vips_rot(in, out, quarter[(int)p[0] / 90 % 4], NULL);
}

/* p: 0 mirrors left to right, 1 top to bottom. */
static int step_flip(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_flip(in, out, p[0] ? VIPS_DIRECTION_VERTICAL : VIPS_DIRECTION_HORIZONTAL, NULL);
}

/* Blocks of about 1/48 of the shorter side (at least 4 px; times the amount): averaged, then
 * enlarged without smoothing, then trimmed or edge-extended back to the original size. */
static int step_pixelate(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int block = (int)(VIPS_MAX(4, side / 48) * p[P_AMOUNT] + 0.5);
    int rc = -1;

    if (block > side)
        block = side;
    if (block < 2) { /* a 1-pixel-wide image is already pixelated */
        rc = vips_copy(in, out, NULL);
        goto out;
    }
    if (vips_shrink(in, &t[0], block, block, NULL))
        goto out;
    if (vips_zoom(t[0], &t[1], block, block, NULL))
        goto out;
    if (vips_embed(t[1], out, 0, 0, in->Xsize, in->Ysize, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* p: n, the levels per channel (evenly spaced from 0 to 255), through a lookup table;
 * 8 when weaker, 3 when stronger. */
static int step_levels(VipsImage *in, VipsImage **out, const double *p)
{
    unsigned char table[256];
    int n = p[P_AMOUNT] < 1.0 ? 8 : p[P_AMOUNT] > 1.0 ? 3 : (int)p[0], rc;
    VipsImage *lut;

    for (int i = 0; i < 256; i++)
        table[i] = (unsigned char)(((i * n) / 256) * 255 / (n - 1)); /* 5: 0, 63, 127, 191, 255 */
    lut = vips_image_new_from_memory_copy(table, 256, 256, 1, 1, VIPS_FORMAT_UCHAR);
    if (!lut)
        return -1;
    rc = vips_maplut(in, out, lut, NULL);
    g_object_unref(lut);
    return rc;
}

static int step_sobel(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_sobel(in, out, NULL);
}

/* A directional difference, as float (it may be negative). */
static int step_emboss(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *m = vips_image_new_matrixv(3, 3, -2.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 2.0);
    int rc;

    (void)p;
    if (!m)
        return -1;
    rc = vips_conv(in, out, m, "precision", VIPS_PRECISION_FLOAT, NULL);
    g_object_unref(m);
    return rc;
}

/* p: the window's side. */
static int step_median(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_median(in, out, (int)p[0], NULL);
}

/* Paint blotches: a median filter, which flattens detail into patches while keeping their
 * edges. libvips's median costs about the same for any window, so on large images it runs
 * on a copy shrunk by f (a window of 5 there spans 5f pixels). */
static int step_patches(VipsImage *in, VipsImage **out, const double *p)
{
    static const double window = 5.0;
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int f = side / 400;

    (void)p;
    if (f >= 2)
        return at_scale(in, out, f, step_median, &window);
    if (side < 3) /* no room for a window: nothing to flatten */
        return vips_copy(in, out, NULL);
    return vips_median(in, out, side >= 200 ? 5 : 3, NULL);
}

/* A Gaussian blur for wide radii, on a copy shrunk by f when sigma allows: it looks the
 * same for a soft halo. Same size as in, uchar. */
static int wide_blur(VipsImage *in, VipsImage **out, double sigma)
{
    int f = (int)(sigma / 4.0);
    double small_sigma;

    if (f < 2 || in->Xsize < 4 * f || in->Ysize < 4 * f)
        return vips_gaussblur(in, out, sigma, NULL);
    small_sigma = sigma / f;
    return at_scale(in, out, f, step_gaussblur, &small_sigma);
}

/* p: gain and offset of a brightened copy, then the blur_sigma() of in (divisor, lo, hi)
 * of its wide blur, which is screened over in. */
static int step_halo(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int rc = -1;

    if (linear1_uchar(in, &t[0], p[0], p[1]))
        goto out;
    if (wide_blur(t[0], &t[1], blur_sigma(in, p[2], p[3], p[4])))
        goto out;
    rc = screen(in, t[1], out);
out:
    g_object_unref(ctx);
    return rc;
}

/* p: sigma of a blurred copy screened over in. */
static int step_screen_blur(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *blurred = NULL;
    int rc = vips_gaussblur(in, &blurred, p[0], NULL);

    if (rc == 0)
        rc = screen(in, blurred, out);
    VIPS_UNREF(blurred);
    return rc;
}

/* ---- helpers for the effects below ---- */

/* out = in + f * (edited - in), rounded and clipped to uchar: f 1 is edited, below 1 part
 * of the way, above 1 beyond it (how BY_MIX edits get weaker or stronger). */
static int mix_uchar(VipsImage *in, VipsImage *edited, double f, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (vips_linear1(edited, &t[0], f, 0.0, NULL) || vips_linear1(in, &t[1], 1.0 - f, 0.0, NULL))
        goto out;
    if (vips_add(t[0], t[1], &t[2], NULL))
        goto out;
    rc = linear1_uchar(t[2], out, 1.0, 0.0);
out:
    g_object_unref(ctx);
    return rc;
}

/* A w x h uchar image of one colour (n bands). */
static int flat_image(int w, int h, const double *colour, int n, VipsImage **out)
{
    VipsImage *black = NULL;
    double zero[4] = {0.0, 0.0, 0.0, 0.0};
    int rc;

    if (vips_black(&black, w, h, "bands", n, NULL))
        return -1;
    rc = linear_uchar(black, out, zero, colour, n);
    g_object_unref(black);
    return rc;
}

/* vips_embed of in at (x, y) on a w x h canvas of one colour (3 bands). */
static int embed_colour(VipsImage *in, VipsImage **out, int x, int y, int w, int h,
                        const double *colour)
{
    VipsArrayDouble *bg = vips_array_double_new(colour, 3);
    int rc =
        vips_embed(in, out, x, y, w, h, "extend", VIPS_EXTEND_BACKGROUND, "background", bg, NULL);

    vips_area_unref(VIPS_AREA(bg));
    return rc;
}

/* A float image from bands * w * h floats, enlarged bilinearly (pixel centres aligned, edges
 * held) to exactly out_w x out_h: for slowly varying fields (masks, gradients) computed on
 * a coarse grid. Done here in one pass rather than by vips_resize, which interpolates
 * far more carefully than a smooth field needs and costs several times as much. */
static int field_image(const float *v, int w, int h, int bands, int out_w, int out_h,
                       VipsImage **out)
{
    size_t n = (size_t)out_w * out_h * bands;
    float *big = g_malloc(sizeof(float) * n);
    int *x0 = g_malloc(sizeof(int) * out_w);
    float *fx = g_malloc(sizeof(float) * out_w);
    int rc = -1;

    for (int x = 0; x < out_w; x++) {
        double sx = VIPS_CLIP(0.0, (x + 0.5) * w / out_w - 0.5, w - 1.0);

        x0[x] = VIPS_MIN((int)sx, w - 2 >= 0 ? w - 2 : 0);
        fx[x] = w > 1 ? (float)(sx - x0[x]) : 0.0f;
    }
    for (int y = 0; y < out_h; y++) {
        double sy = VIPS_CLIP(0.0, (y + 0.5) * h / out_h - 0.5, h - 1.0);
        int y0 = VIPS_MIN((int)sy, h - 2 >= 0 ? h - 2 : 0), y1 = h > 1 ? y0 + 1 : y0;
        float fy = h > 1 ? (float)(sy - y0) : 0.0f;
        float *row = big + (size_t)y * out_w * bands;

        for (int x = 0; x < out_w; x++) {
            int xa = x0[x], xb = w > 1 ? xa + 1 : xa;

            for (int k = 0; k < bands; k++) {
                float a = v[((size_t)y0 * w + xa) * bands + k],
                      b = v[((size_t)y0 * w + xb) * bands + k];
                float c = v[((size_t)y1 * w + xa) * bands + k],
                      d = v[((size_t)y1 * w + xb) * bands + k];
                float top = a + (b - a) * fx[x], bottom = c + (d - c) * fx[x];

                row[(size_t)x * bands + k] = top + (bottom - top) * fy;
            }
        }
    }
    *out = vips_image_new_from_memory_copy(big, sizeof(float) * n, out_w, out_h, bands,
                                           VIPS_FORMAT_FLOAT);
    if (*out)
        rc = 0;
    g_free(big);
    g_free(x0);
    g_free(fx);
    return rc;
}

/* The coarse grid for a field over a w x h image: at most FIELD_MAX cells a side. */
#define FIELD_MAX 256

static void field_size(int w, int h, int *fw, int *fh)
{
    *fw = VIPS_MIN(w, FIELD_MAX);
    *fh = VIPS_MIN(h, FIELD_MAX);
}

static double clip01(double v)
{
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* A fixed 32-bit integer hash (a variant of the "lowbias32" mixer): the only source of
 * scatter in the effects, so every run gives the same bytes. */
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
    return hash32(a ^ hash32(b ^ hash32(c + 0x9e3779b9U)));
}

/* Multiplies in by 1 - k * (distance from the centre)^2 ramped from mid-way out, with the
 * distance measured in half-widths and half-heights, so corners darken most at any size
 * and aspect. */
static int darken_corners(VipsImage *in, double k, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int fw, fh, rc = -1;
    float *v;

    field_size(in->Xsize, in->Ysize, &fw, &fh);
    v = g_malloc(sizeof(float) * (size_t)fw * fh);
    for (int y = 0; y < fh; y++) {
        double dy = (y + 0.5) / fh * 2.0 - 1.0;

        for (int x = 0; x < fw; x++) {
            double dx = (x + 0.5) / fw * 2.0 - 1.0;
            double d = sqrt((dx * dx + dy * dy) / 2.0); /* 0 centre, 1 corners */
            double r = clip01((d - 0.35) / 0.65);

            v[y * fw + x] = (float)(1.0 - k * r * r);
        }
    }
    if (field_image(v, fw, fh, 1, in->Xsize, in->Ysize, &t[0]))
        goto out;
    if (vips_multiply(in, t[0], &t[1], NULL))
        goto out;
    rc = linear1_uchar(t[1], out, 1.0, 0.0);
out:
    g_free(v);
    g_object_unref(ctx);
    return rc;
}

/* Local contrast ("clarity"): in + a * (in - wide blur of in), sigma the shorter side /
 * divisor. */
static int clarity(VipsImage *in, double a, double divisor, VipsImage **out);

/* ---- the effects (SPEC §16): each a step of 3-band uchar sRGB ---- */

/* p: k, how dark the corners get (times the amount). */
static int step_vignette(VipsImage *in, VipsImage **out, const double *p)
{
    return darken_corners(in, VIPS_MIN(0.9, p[0] * p[P_AMOUNT]), out);
}

/* Deterministic film grain: a 256 x 256 tile of hashed noise, repeated; p: amplitude in
 * levels (+-), then 0 for grain or the length L of brush strokes: the noise smeared along
 * a diagonal of L px (on the tile wrapped around, so it repeats without seams). */
#define GRAIN_TILE 256

static int step_grain(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 9);
    signed char *tile = g_malloc(GRAIN_TILE * GRAIN_TILE);
    VipsImage *noise;
    int len = (int)p[1] | 1, rc = -1;
    double gain = p[0] / 100.0;

    for (uint32_t y = 0; y < GRAIN_TILE; y++) {
        for (uint32_t x = 0; x < GRAIN_TILE; x++)
            tile[y * GRAIN_TILE + x] = (signed char)((int)(hash3(x, y, 7) % 201) - 100);
    }
    t[0] = vips_image_new_from_memory_copy(tile, GRAIN_TILE * GRAIN_TILE, GRAIN_TILE, GRAIN_TILE, 1,
                                           VIPS_FORMAT_CHAR);
    if (!t[0])
        goto out;
    noise = t[0];
    if (len > 1) {
        t[5] = vips_image_new_matrix(len, len);
        if (!t[5])
            goto out;
        for (int i = 0; i < len; i++)
            *VIPS_MATRIX(t[5], i, len - 1 - i) = 1.0;
        if (vips_replicate(t[0], &t[6], 3, 3, NULL) ||
            vips_conv(t[6], &t[7], t[5], "precision", VIPS_PRECISION_FLOAT, NULL) ||
            vips_extract_area(t[7], &t[8], GRAIN_TILE, GRAIN_TILE, GRAIN_TILE, GRAIN_TILE, NULL))
            goto out;
        noise = t[8];
        gain /= sqrt(len);
    }
    if (vips_replicate(noise, &t[1], in->Xsize / GRAIN_TILE + 1, in->Ysize / GRAIN_TILE + 1, NULL))
        goto out;
    if (vips_extract_area(t[1], &t[2], 0, 0, in->Xsize, in->Ysize, NULL))
        goto out;
    if (vips_linear1(t[2], &t[3], gain, 0.0, NULL))
        goto out;
    if (vips_add(in, t[3], &t[4], NULL))
        goto out;
    rc = linear1_uchar(t[4], out, 1.0, 0.0);
out:
    g_free(tile);
    g_object_unref(ctx);
    return rc;
}

/* A border over the edge pixels: a dark outer frame, a light mat and a thin dark line
 * against the picture; p: the width as a fraction of the shorter side (times the
 * amount), at least 1 px. A picture too small for any of it is all frame. */
static int step_frame(VipsImage *in, VipsImage **out, const double *p)
{
    static const double outer[3] = {46.0, 42.0, 40.0}, mat[3] = {242.0, 238.0, 229.0},
                        line[3] = {72.0, 66.0, 60.0};
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int w = in->Xsize, h = in->Ysize;
    int side = VIPS_MIN(w, h);
    int width = VIPS_MAX(1, (int)(p[0] * p[P_AMOUNT] * side + 0.5));
    int lw, ow, mw, rc = -1;

    if (2 * width >= side) {
        rc = flat_image(w, h, outer, 3, out);
        goto out;
    }
    lw = width >= 6 ? VIPS_MAX(1, width / 12) : 0;      /* the thin line */
    ow = width >= 3 ? (int)(width * 0.4 + 0.5) : width; /* the frame */
    mw = width - lw - ow;                               /* the mat: the rest */
    if (vips_extract_area(in, &t[0], width, width, w - 2 * width, h - 2 * width, NULL))
        goto out;
    if (embed_colour(t[0], &t[1], lw, lw, t[0]->Xsize + 2 * lw, t[0]->Ysize + 2 * lw, line))
        goto out;
    if (embed_colour(t[1], &t[2], mw, mw, t[1]->Xsize + 2 * mw, t[1]->Ysize + 2 * mw, mat))
        goto out;
    if (embed_colour(t[2], out, ow, ow, w, h, outer))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Snowflakes: soft white discs of three sizes at hashed positions, the scene a little
 * cooler and lighter below them. The number of flakes grows with the area and the
 * amount; sizes scale with the shorter side. */
static int step_snow(VipsImage *in, VipsImage **out, const double *p)
{
    static const double white[3] = {250.0, 252.0, 255.0};
    /* per layer: radius as a fraction of the shorter side, flakes per 100 x 100 px, peak */
    static const struct {
        double radius, density, peak;
    } layers[3] = {{1.0 / 260, 7.0, 240.0}, {1.0 / 140, 2.0, 250.0}, {1.0 / 75, 0.45, 215.0}};
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int w = in->Xsize, h = in->Ysize, side = VIPS_MIN(w, h);
    double amount = p[P_AMOUNT];
    unsigned char *mask = g_malloc0((size_t)w * h);
    int rc = -1;

    for (int l = 0; l < 3; l++) {
        double r = VIPS_MAX(0.8, layers[l].radius * side);
        long n = (long)((double)w * h / 10000.0 * layers[l].density * amount + 0.5);

        if (l == 0 && n < 1)
            n = 1;
        for (long i = 0; i < n; i++) {
            uint32_t hx = hash3((uint32_t)i, (uint32_t)l, 1),
                     hy = hash3((uint32_t)i, (uint32_t)l, 2);
            double cx = (double)(hx % (uint32_t)(w * 16)) / 16.0;
            double cy = (double)(hy % (uint32_t)(h * 16)) / 16.0;
            double rr = r * (0.7 + 0.6 * (hash3((uint32_t)i, (uint32_t)l, 3) % 1000) / 1000.0);
            int x0 = VIPS_MAX(0, (int)(cx - rr - 1)), x1 = VIPS_MIN(w - 1, (int)(cx + rr + 1));
            int y0 = VIPS_MAX(0, (int)(cy - rr - 1)), y1 = VIPS_MIN(h - 1, (int)(cy + rr + 1));

            for (int y = y0; y <= y1; y++) {
                for (int x = x0; x <= x1; x++) {
                    double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
                    double d = sqrt(dx * dx + dy * dy);
                    /* full inside, a soft edge about a third of the radius (at least 1 px) */
                    double edge = VIPS_MAX(1.0, rr / 3.0);
                    double v = clip01((rr - d) / edge + 0.5) * layers[l].peak;
                    unsigned char *m = mask + (size_t)y * w + x;

                    if (v > *m)
                        *m = (unsigned char)(v + 0.5);
                }
            }
        }
    }
    t[0] = vips_image_new_from_memory_copy(mask, (size_t)w * h, w, h, 1, VIPS_FORMAT_UCHAR);
    if (!t[0])
        goto out;
    {
        /* the scene: a little less saturated, cooler and lifted, as under falling snow */
        double a = 0.12 * VIPS_MIN(amount, 1.5);
        double m[6] = {1.0 - a,       1.0 - a * 0.6, 1.0 - a * 0.2,
                       255 * a * 0.6, 255 * a * 0.6, 255 * a * 0.9};

        if (linear_uchar(in, &t[1], m, m + 3, 3))
            goto out;
    }
    if (flat_image(w, h, white, 3, &t[2]))
        goto out;
    if (vips_ifthenelse(t[0], t[2], t[1], out, "blend", TRUE, NULL))
        goto out;
    rc = 0;
out:
    g_free(mask);
    g_object_unref(ctx);
    return rc;
}

/* Sunset, sky-aware: a smooth mask of the sky (blue-ish or bright pixels in the upper part
 * of the picture, found on a coarse grid) gets an orange-to-gold gradient shaded by its
 * own lightness, so clouds and the sun stay visible; everything else gets a warm evening
 * grade. Without a sky the mask is empty and the whole picture gets that grade. */
static int step_sunset(VipsImage *in, VipsImage **out, const double *p)
{
    static const double top[3] = {232.0, 96.0, 72.0}, mid[3] = {248.0, 146.0, 70.0},
                        low[3] = {255.0, 206.0, 120.0};
    static const double evening[6] = {1.08, 0.96, 0.80, 10.0, 2.0, 0.0};
    VipsImage *ctx, **t = scratch(&ctx, 10);
    int w = in->Xsize, h = in->Ysize, fw, fh, rc = -1;
    float *mask = NULL, *grad = NULL, *smooth = NULL;
    unsigned char *px = NULL;
    size_t len;

    (void)p;
    field_size(w, h, &fw, &fh);
    /* the picture on the coarse grid, as bytes */
    if (vips_shrink(in, &t[0], (double)w / fw, (double)h / fh, NULL))
        goto out;
    if (vips_embed(t[0], &t[1], 0, 0, fw, fh, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    px = vips_image_write_to_memory(t[1], &len);
    if (!px)
        goto out;
    mask = g_malloc(sizeof(float) * fw * fh);
    smooth = g_malloc(sizeof(float) * fw * fh);
    grad = g_malloc(sizeof(float) * 3 * h);
    for (int y = 0; y < h; y++) { /* the gradient: one column, top to the horizon at 65% */
        double g = clip01((y + 0.5) / h / 0.65);

        for (int k = 0; k < 3; k++) {
            double v = g < 0.5 ? top[k] + (mid[k] - top[k]) * g * 2.0
                               : mid[k] + (low[k] - mid[k]) * (g - 0.5) * 2.0;
            grad[(size_t)y * 3 + k] = (float)(v / 255.0);
        }
    }
    for (int y = 0; y < fh; y++) {
        double yy = (y + 0.5) / fh;
        double up = clip01((0.8 - yy) / 0.3); /* the upper half counts, fading out by 80% */

        for (int x = 0; x < fw; x++) {
            const unsigned char *c = px + ((size_t)y * fw + x) * 3;
            double r = c[0], gg = c[1], b = c[2];
            double luma = LUMA_R * r + LUMA_G * gg + LUMA_B * b;
            double blue = clip01((b - r - 15.0) / 50.0) * clip01((b - gg + 40.0) / 40.0);
            double bright = clip01((luma - 185.0) / 50.0);

            mask[y * fw + x] = (float)(up * VIPS_MAX(blue, 0.85 * bright));
        }
    }
    /* smooth the mask (3 x 3 box) so the sky's edge blends */
    for (int y = 0; y < fh; y++) {
        for (int x = 0; x < fw; x++) {
            double sum = 0.0;
            int n = 0;

            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx, yy = y + dy;

                    if (xx >= 0 && xx < fw && yy >= 0 && yy < fh) {
                        sum += mask[yy * fw + xx];
                        n++;
                    }
                }
            }
            smooth[y * fw + x] = (float)(255.0 * sum / n);
        }
    }
    /* the sky: gradient * (0.45 + 0.75 * luma / 255) */
    if (field_image(grad, 1, h, 3, 1, h, &t[9]))
        goto out;
    if (vips_embed(t[9], &t[2], 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    if (field_image(smooth, fw, fh, 1, w, h, &t[3]))
        goto out;
    if (step_luma(in, &t[4], NULL))
        goto out;
    if (vips_linear1(t[4], &t[5], 0.75, 0.45 * 255.0, NULL))
        goto out;
    if (vips_multiply(t[2], t[5], &t[6], NULL) || linear1_uchar(t[6], &t[7], 1.0, 0.0))
        goto out;
    /* the rest: warm evening light */
    if (linear_uchar(in, &t[8], evening, evening + 3, 3))
        goto out;
    VIPS_UNREF(t[4]);
    if (vips_cast_uchar(t[3], &t[4], NULL))
        goto out;
    if (vips_ifthenelse(t[4], t[7], t[8], out, "blend", TRUE, NULL))
        goto out;
    rc = 0;
out:
    g_free(px);
    g_free(mask);
    g_free(smooth);
    g_free(grad);
    g_object_unref(ctx);
    return rc;
}

/* p: window. Two passes of a median filter: flat patches with kept edges. */
static int smooth_twice(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *t = NULL;
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int window = VIPS_MIN((int)p[0], side % 2 ? side : side - 1);
    int rc;

    if (window < 3)
        return vips_copy(in, out, NULL);
    if (vips_median(in, &t, window, NULL))
        return -1;
    rc = vips_median(t, out, window, NULL);
    g_object_unref(t);
    return rc;
}

/* Edge-preserving smoothing for painting and cartoon: two median passes with a window of
 * p[0] px, on a copy shrunk so the shorter side is about p[1] px when larger, enlarged back
 * (the strokes then scale with the picture). */
static int paint_smooth(VipsImage *in, VipsImage **out, double window, double target)
{
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int f = (int)(side / target);
    double q[1] = {window};

    if (f >= 2)
        return at_scale(in, out, f, smooth_twice, q);
    return smooth_twice(in, out, q);
}

/* A 3 x 3 sharpening kernel on uchar: brush edges crisp again after enlarging. */
static int crisp(VipsImage *in, VipsImage **out, double a)
{
    VipsImage *m = vips_image_new_matrixv(3, 3, 0.0, -a, 0.0, -a, 1.0 + 4.0 * a, -a, 0.0, -a, 0.0);
    VipsImage *t = NULL;
    int rc;

    if (!m)
        return -1;
    rc = vips_conv(in, &t, m, "precision", VIPS_PRECISION_FLOAT, NULL);
    if (rc == 0)
        rc = linear1_uchar(t, out, 1.0, 0.0);
    g_object_unref(m);
    VIPS_UNREF(t);
    return rc;
}

/* Painting: brush-stroke patches (the window grows with the amount: 5, 7 or 9 px on a copy
 * of about 400 px), a little more colour, crisp stroke edges, and the texture of diagonal
 * strokes of 9 px. */
static int step_painting(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    double sat[2] = {1.0 + 0.2 * p[P_AMOUNT], 1.0}, grain[2] = {14.0, 9.0};
    double window = p[P_AMOUNT] < 1.0 ? 5.0 : p[P_AMOUNT] > 1.0 ? 9.0 : 7.0;
    int rc = -1;

    if (paint_smooth(in, &t[0], window, 400.0))
        goto out;
    if (step_saturate(t[0], &t[1], sat))
        goto out;
    if (crisp(t[1], &t[2], 0.5))
        goto out;
    rc = step_grain(t[2], out, grain);
out:
    g_object_unref(ctx);
    return rc;
}

/* Cartoon: smoothed flat colours, quantised to a few levels per channel (rounded, so
 * colours keep their lightness), with bold dark outlines where the smoothed lightness has
 * an edge (found on the same shrunk copy, so lines scale with the picture). The amount
 * sets the levels (8, 6, 4) and how faint an edge still gets a line. */
static int step_cartoon(VipsImage *in, VipsImage **out, const double *p)
{
    static const double ink[3] = {28.0, 24.0, 26.0};
    VipsImage *ctx, **t = scratch(&ctx, 12);
    double amount = p[P_AMOUNT];
    int levels = amount < 1.0 ? 8 : amount > 1.0 ? 4 : 6;
    double threshold = amount < 1.0 ? 110.0 : amount > 1.0 ? 55.0 : 80.0;
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int f = VIPS_MAX(1, side / 512);
    double q[1] = {5.0}, sat[2] = {1.3, 1.0};
    unsigned char table[256];
    VipsImage *small;
    int rc = -1;

    /* flat colours on the shrunk copy */
    if (f >= 2) {
        if (vips_shrink(in, &t[0], f, f, NULL))
            goto out;
        small = t[0];
    } else {
        small = in;
    }
    if (smooth_twice(small, &t[1], q))
        goto out;
    /* used twice below: rendered once */
    {
        VipsImage *mem = vips_image_copy_memory(t[1]);

        if (!mem)
            goto out;
        g_object_unref(t[1]);
        t[1] = mem;
    }
    /* outlines: Sobel of the smoothed lightness, thresholded, on the shrunk copy */
    if (step_luma(t[1], &t[2], NULL) || vips_sobel(t[2], &t[3], NULL))
        goto out;
    if (vips_moreeq_const1(t[3], &t[4], threshold, NULL))
        goto out;
    /* back to full size: colours and the line mask (softly: its edge blends) */
    if (f >= 2) {
        if (enlarge_uchar(t[1], in->Xsize, in->Ysize, &t[7]) ||
            enlarge_uchar(t[4], in->Xsize, in->Ysize, &t[8]))
            goto out;
    } else {
        t[7] = t[1];
        t[8] = t[4];
        g_object_ref(t[7]);
        g_object_ref(t[8]);
    }
    if (step_saturate(t[7], &t[9], sat))
        goto out;
    for (int i = 0; i < 256; i++) {
        int level = (i * (levels - 1) + 127) / 255;

        table[i] = (unsigned char)(level * 255 / (levels - 1));
    }
    {
        VipsImage *lut = vips_image_new_from_memory_copy(table, 256, 256, 1, 1, VIPS_FORMAT_UCHAR);

        if (!lut)
            goto out;
        vips_object_local(ctx, lut);
        if (vips_maplut(t[9], &t[10], lut, NULL))
            goto out;
    }
    if (flat_image(in->Xsize, in->Ysize, ink, 3, &t[11]))
        goto out;
    if (vips_ifthenelse(t[8], t[11], t[10], out, "blend", TRUE, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

static int clarity(VipsImage *in, double a, double divisor, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (wide_blur(in, &t[0], blur_sigma(in, divisor, 1.0, 40.0)))
        goto out;
    if (vips_linear1(in, &t[1], 1.0 + a, 0.0, NULL) || vips_linear1(t[0], &t[2], -a, 0.0, NULL))
        goto out;
    {
        VipsImage *sum = NULL;

        if (vips_add(t[1], t[2], &sum, NULL))
            goto out;
        rc = linear1_uchar(sum, out, 1.0, 0.0);
        g_object_unref(sum);
    }
out:
    g_object_unref(ctx);
    return rc;
}

/* p: a, divisor (see clarity). */
static int step_clarity(VipsImage *in, VipsImage **out, const double *p)
{
    return clarity(in, p[0], p[1], out);
}

/* Dreamy: the picture averaged with a wide, lifted blur of itself (soft focus that keeps
 * the outlines faintly), then screened with that blur for a glow. */
static int step_dreamy(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int rc = -1;

    (void)p;
    if (linear1_uchar(in, &t[0], 0.9, 30.0))
        goto out;
    if (wide_blur(t[0], &t[1], blur_sigma(in, 45.0, 1.5, 30.0)))
        goto out;
    if (mix_uchar(in, t[1], 0.55, &t[2]))
        goto out;
    if (screen(t[2], t[1], &t[3]))
        goto out;
    rc = mix_uchar(t[2], t[3], 0.5, out);
out:
    g_object_unref(ctx);
    return rc;
}

/* ---- the edits: each a few steps from 3-band uchar sRGB to 3-band uchar sRGB ---- */

/* How an edit honours strength (SPEC §16). */
enum strength_how {
    BY_MIX,   /* the steps run plain; the result is mixed with the input (amount 0.5) or
                 pushed beyond it (1.7), clipped */
    BY_STEPS, /* the steps read the amount (p[P_AMOUNT]) and scale their own parameters */
    GEOMETRIC /* no strength; also applied to the alpha band */
};

/* The amount a strength stands for. */
static double strength_amount(enum edit_strength s)
{
    return s == EDIT_WEAK ? 0.5 : s == EDIT_STRONG ? 1.7 : 1.0;
}

/* Crop: cuts colour and alpha to the same rectangle (below). */
static int crop_both(VipsImage **colour, VipsImage **alpha);

/* Indexed by enum edit_kind: the steps in order, up to the first without fn; how strength
 * works; both, if set, replaces the steps for an edit that needs colour and alpha at once. */
static const struct {
    struct step steps[STEPS_MAX];
    enum strength_how how;
    int (*both)(VipsImage **colour, VipsImage **alpha);
} edits[EDIT_KIND_COUNT] = {
    [EDIT_COLORFUL] = {{{step_saturate, {1.6, 1.05}}}},
    [EDIT_GRAYSCALE] = {{{step_grey}}, BY_STEPS},
    [EDIT_SEPIA] = {{{step_recomb,
                      {0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131}}}},
    [EDIT_INVERT] = {{{step_invert}}, BY_STEPS},
    [EDIT_BLUR] = {{{step_blur_scaled, {150.0, 1.5, 12.0}}}, BY_STEPS},
    [EDIT_SHARPEN] = {{{step_sharpen, {1.5, 4.0}}, {step_srgb}, {step_uchar}}},
    [EDIT_BRIGHTER] = {{{step_linear, {1.1, 25.0}}}},
    [EDIT_DARKER] = {{{step_linear, {0.75, 0.0}}}},
    [EDIT_CONTRAST] = {{{step_linear, {1.35, 128.0 * (1.0 - 1.35)}}}}, /* around mid-grey */
    [EDIT_WARM] = {{{step_linear3, {1.08, 1.02, 0.85, 12.0, 4.0, -6.0}}}},
    [EDIT_COOL] = {{{step_linear3, {0.86, 1.0, 1.1, -6.0, 3.0, 14.0}}}},
    [EDIT_ROTATE_LEFT] = {{{step_rotate, {270}}}, GEOMETRIC},
    [EDIT_ROTATE_RIGHT] = {{{step_rotate, {90}}}, GEOMETRIC},
    [EDIT_UPSIDE_DOWN] = {{{step_rotate, {180}}}, GEOMETRIC},
    [EDIT_FLIP] = {{{step_flip, {0}}}, GEOMETRIC},
    [EDIT_FLIP_VERTICAL] = {{{step_flip, {1}}}, GEOMETRIC},
    [EDIT_PIXELATE] = {{{step_pixelate}}, BY_STEPS},
    /* bolder colours, then five levels per channel (8 weaker, 3 stronger) */
    [EDIT_POSTERIZE] = {{{step_saturate, {1.3, 1.0}}, {step_levels, {5}}}, BY_STEPS},
    /* edges of the lightness, strengthened and drawn dark on white */
    [EDIT_SKETCH] = {{{step_luma}, {step_sobel}, {step_linear, {-3.0, 255.0}}, {step_grey_to_rgb}}},
    /* a directional difference of the lightness around mid-grey */
    [EDIT_EMBOSS] = {{{step_luma}, {step_emboss}, {step_linear, {1.0, 128.0}}, {step_grey_to_rgb}}},
    /* a wide blur of a brightened copy, screened over the image */
    [EDIT_GLOW] = {{{step_halo, {1.1, 10.0, 60.0, 3.0, 24.0}}, {step_saturate, {1.2, 1.0}}}},
    /* median-smoothed patches, a soft blur, lifted towards the white of paper */
    [EDIT_WATERCOLOR] = {{{step_patches},
                          {step_gaussblur, {1.2}},
                          {step_saturate, {1.25, 1.0}},
                          {step_linear, {0.85, 40.0}}}},
    /* colour edges, amplified, on black, with a little glow */
    [EDIT_NEON] = {{{step_saturate, {1.8, 1.0}},
                    {step_sobel},
                    {step_linear, {3.0, 0.0}},
                    {step_screen_blur, {2.0}}}},
    /* colour grades: saturation, then a * v + b per band */
    [EDIT_PASTEL] = {{{step_saturate, {0.6, 1.0}},
                      {step_linear3, {0.6, 0.6, 0.6, 100.0, 100.0, 100.0}}}},
    [EDIT_NIGHT] = {{{step_saturate, {0.4, 1.0}},
                     {step_linear3, {0.35, 0.45, 0.75, 0.0, 4.0, 22.0}}}},
    /* a golden gradient on the sky, warm evening light on the rest */
    [EDIT_SUNSET] = {{{step_saturate, {1.1, 1.0}}, {step_sunset}}},
    [EDIT_DESATURATE] = {{{step_saturate, {0.5, 1.0}}}},
    [EDIT_LESS_CONTRAST] = {{{step_linear, {0.7, 128.0 * (1.0 - 0.7)}}}},
    /* mostly sepia, faded blacks and whites, dark corners, a little grain */
    [EDIT_VINTAGE] = {{{step_recomb, {0.52, 0.58, 0.14, 0.30, 0.62, 0.13, 0.22, 0.43, 0.30}},
                       {step_linear3, {0.82, 0.80, 0.74, 34.0, 30.0, 28.0}},
                       {step_vignette, {0.45}},
                       {step_grain, {6.0}}}},
    [EDIT_PAINTING] = {{{step_painting}}, BY_STEPS},
    [EDIT_VIGNETTE] = {{{step_vignette, {0.55}}}, BY_STEPS},
    [EDIT_FRAME] = {{{step_frame, {0.04}}}, BY_STEPS},
    [EDIT_SNOW] = {{{step_snow}}, BY_STEPS},
    [EDIT_DREAMY] = {{{step_dreamy}, {step_saturate, {0.85, 1.0}}}},
    /* more colour, more contrast, more local contrast */
    [EDIT_POP] = {{{step_saturate, {1.35, 1.0}},
                   {step_linear, {1.12, 128.0 * (1.0 - 1.12)}},
                   {step_clarity, {0.45, 40.0}}}},
    [EDIT_CARTOON] = {{{step_cartoon}}, BY_STEPS},
    [EDIT_CROP] = {{{NULL}}, GEOMETRIC, crop_both},
};

/* Runs an edit's steps on in at amount: each step's output is the next one's input. */
static int run_steps(const struct step *steps, double amount, VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, STEPS_MAX);
    VipsImage *cur = in;
    int rc = -1;

    for (int i = 0; i < STEPS_MAX && steps[i].fn; i++) {
        bool last = i + 1 == STEPS_MAX || !steps[i + 1].fn;
        double p[PARAMS_MAX];

        memcpy(p, steps[i].p, sizeof(p));
        p[P_AMOUNT] = amount;
        if (steps[i].fn(cur, last ? out : &t[i], p))
            goto out;
        cur = t[i];
    }
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Makes next the current image, dropping the reference to the previous one. */
static void advance(VipsImage **img, VipsImage *next)
{
    g_object_unref(*img);
    *img = next;
}

/* ---- crop ---- */

/* The bounding box of what differs from the top-left pixel in in (1 or 3 bands), by
 * vips_find_trim (which median-filters first, so specks do not count); w, h 0 if none. */
static int content_box(VipsImage *in, VipsRect *box)
{
    double *corner = NULL;
    int n = 0, left, top, width, height, rc = -1;
    VipsArrayDouble *bg;

    if (vips_getpoint(in, &corner, &n, 0, 0, NULL))
        return -1;
    bg = vips_array_double_new(corner, n);
    if (vips_find_trim(in, &left, &top, &width, &height, "background", bg, "threshold", 10.0,
                       NULL) == 0) {
        *box = (VipsRect){left, top, width, height};
        rc = 0;
    }
    vips_area_unref(VIPS_AREA(bg));
    g_free(corner);
    return rc;
}

/*
 * Crop: the rectangle is found once, on the colour image (and on alpha when there is one:
 * the union of both boxes, so nothing drawn or opaque is cut), widened by a margin of 2%
 * of the shorter side (at least 1 px) and clipped to the picture; colour and alpha are
 * both cut to it. When there is no margin to trim (the drawing reaches every edge, or the
 * picture is one flat colour, or it is under 3 px a side) it keeps the centred 90%.
 */
static int crop_both(VipsImage **colour, VipsImage **alpha)
{
    VipsImage *c = *colour, *t = NULL;
    int w = c->Xsize, h = c->Ysize;
    VipsRect all = {0, 0, w, h}, box = {0, 0, 0, 0}, abox;

    if (w >= 3 && h >= 3) {
        if (content_box(c, &box))
            return -1;
        if (*alpha) {
            if (content_box(*alpha, &abox))
                return -1;
            if (vips_rect_isempty(&box))
                box = abox;
            else if (!vips_rect_isempty(&abox))
                vips_rect_unionrect(&box, &abox, &box);
        }
    }
    if (vips_rect_isempty(&box) || vips_rect_equalsrect(&box, &all)) {
        int cw = VIPS_MAX(1, (int)(w * 0.9 + 0.5)), ch = VIPS_MAX(1, (int)(h * 0.9 + 0.5));

        box = (VipsRect){(w - cw) / 2, (h - ch) / 2, cw, ch};
    } else {
        int margin = VIPS_MAX(1, VIPS_MIN(w, h) / 50);

        vips_rect_marginadjust(&box, margin);
        vips_rect_intersectrect(&box, &all, &box);
    }
    if (vips_extract_area(c, &t, box.left, box.top, box.width, box.height, NULL))
        return -1;
    advance(colour, t);
    if (*alpha) {
        t = NULL;
        if (vips_extract_area(*alpha, &t, box.left, box.top, box.width, box.height, NULL))
            return -1;
        advance(alpha, t);
    }
    return 0;
}

/* ---- applying a plan ---- */

/* Applies one edit at a strength to *colour (3-band uchar sRGB), and to *alpha (may be
 * NULL) if it is geometric, and checks the colour kept its shape. */
static int apply_one(const struct edit_step *op, VipsImage **colour, VipsImage **alpha)
{
    enum edit_kind k = op->kind;
    double amount = strength_amount(op->strength);
    VipsImage *t = NULL, *mixed = NULL;

    if ((unsigned)k >= EDIT_KIND_COUNT || (!edits[k].steps[0].fn && !edits[k].both)) {
        vips_error("editor", "no implementation for edit %d", (int)k);
        return -1;
    }
    if (edits[k].both) {
        if (edits[k].both(colour, alpha))
            return -1;
    } else if (edits[k].how == BY_STEPS) {
        if (run_steps(edits[k].steps, amount, *colour, &t))
            return -1;
        advance(colour, t);
    } else {
        if (run_steps(edits[k].steps, 1.0, *colour, &t))
            return -1;
        if (edits[k].how == BY_MIX && amount != 1.0) {
            int rc = mix_uchar(*colour, t, amount, &mixed);

            g_object_unref(t);
            if (rc)
                return -1;
            t = mixed;
        }
        advance(colour, t);
        if (*alpha && edits[k].how == GEOMETRIC) {
            t = NULL;
            if (run_steps(edits[k].steps, 1.0, *alpha, &t))
                return -1;
            advance(alpha, t);
        }
    }
    if ((*colour)->Bands != 3 || (*colour)->BandFmt != VIPS_FORMAT_UCHAR) {
        vips_error("editor", "%s gave %d bands of format %d", editor_kind_name(k), (*colour)->Bands,
                   (int)(*colour)->BandFmt);
        return -1;
    }
    return 0;
}

/*
 * The whole edit on a decoded image (borrowed): split alpha, widen grey to sRGB, apply
 * each edit, re-attach alpha. *out is a lazy pipeline holding references to in.
 */
static int apply_image(VipsImage *in, const struct edit_step *ops, size_t n, VipsImage **out)
{
    VipsImage *colour = NULL, *alpha = NULL, *t = NULL;
    bool has_alpha = in->Bands == 2 || in->Bands == 4;
    int colour_bands = has_alpha ? in->Bands - 1 : in->Bands;
    int rc = -1;

    if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Bands < 1 || in->Bands > 4) {
        vips_error("editor", "unexpected input: %d bands of format %d", in->Bands,
                   (int)in->BandFmt);
        goto out;
    }
    if (vips_extract_band(in, &colour, 0, "n", colour_bands, NULL))
        goto out;
    if (has_alpha && vips_extract_band(in, &alpha, colour_bands, NULL))
        goto out;
    if (colour_bands == 1) {
        if (step_grey_to_rgb(colour, &t, NULL))
            goto out;
    } else if (vips_copy(colour, &t, "interpretation", VIPS_INTERPRETATION_sRGB, NULL)) {
        goto out; /* tagged, so colour conversions know where they start */
    }
    advance(&colour, t);
    t = NULL;
    for (size_t i = 0; i < n; i++) {
        if (apply_one(&ops[i], &colour, &alpha))
            goto out;
    }
    if (alpha) {
        if (vips_bandjoin2(colour, alpha, &t, NULL))
            goto out;
        advance(&colour, t);
        t = NULL;
    }
    if (vips_copy(colour, out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    rc = 0;
out:
    VIPS_UNREF(colour);
    VIPS_UNREF(alpha);
    return rc;
}

enum err editor_local_apply_plan(const void *png, size_t len, const struct edit_plan *plan,
                                 void **out, size_t *out_len, const char **why)
{
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0;
    enum err rc = ERR_INVALID;
    const char *reason = WHY_INTERNAL;

    if (!png || len == 0 || !plan || !out || !out_len)
        goto out;
    if (plan->n == 0) {
        rc = ERR_REFUSED;
        reason = editor_refusal;
        goto out;
    }
    rc = ERR_UNSUPPORTED;
    reason = WHY_CORRUPT;
    if (vips_pngload_buffer((void *)png, len, &in, "fail_on", VIPS_FAIL_ON_ERROR, NULL)) {
        vips_log_error("editor", "PNG decode");
        goto out;
    }
    /* Decode once into memory: rotations need random access. */
    img = vips_image_copy_memory(in);
    if (!img) {
        vips_log_error("editor", "PNG decode");
        goto out;
    }
    VIPS_UNREF(in);
    rc = ERR_INTERNAL;
    reason = WHY_INTERNAL;
    if (apply_image(img, plan->steps, plan->n, &in)) {
        vips_log_error("editor", "edit");
        goto out;
    }
    if (vips_pngsave_buffer(in, &buf, &buf_len, "strip", TRUE, "compression", PNG_COMPRESSION,
                            NULL)) {
        vips_log_error("editor", "PNG encode");
        goto out;
    }
    *out = buf;
    *out_len = buf_len;
    buf = NULL;
    rc = ERR_OK;
out:
    VIPS_UNREF(in);
    VIPS_UNREF(img);
    g_free(buf);
    if (rc != ERR_OK && why)
        *why = reason;
    return rc;
}

enum err editor_local_apply(const void *png, size_t len, const char *prompt, void **out,
                            size_t *out_len, const char **why)
{
    struct edit_plan plan;
    enum err rc = editor_plan(prompt, &plan);

    if (rc == ERR_OK)
        rc = editor_local_apply_plan(png, len, &plan, out, out_len, why);
    else if (why)
        *why = WHY_INTERNAL;
    edit_plan_free(&plan);
    return rc;
}

enum err editor_local_apply_raw_plan(const unsigned char *pixels, int width, int height, int bands,
                                     const struct edit_plan *plan, unsigned char **out_pixels,
                                     int *out_w, int *out_h, int *out_bands)
{
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0;
    enum err rc = ERR_INVALID;

    if (!pixels || width <= 0 || height <= 0 || bands < 1 || bands > 4 || !plan || !out_pixels ||
        !out_w || !out_h || !out_bands)
        goto out;
    if ((uint64_t)width * (uint64_t)height * (uint64_t)bands > (uint64_t)SIZE_MAX / 2)
        goto out;
    rc = ERR_REFUSED;
    if (plan->n == 0)
        goto out;
    rc = ERR_INTERNAL;
    /* Wraps the caller's buffer without copying; it is only read, and only before return. */
    in = vips_image_new_from_memory(pixels, (size_t)width * height * bands, width, height, bands,
                                    VIPS_FORMAT_UCHAR);
    if (!in) {
        vips_log_error("editor", "raw input");
        goto out;
    }
    if (apply_image(in, plan->steps, plan->n, &img)) {
        vips_log_error("editor", "edit");
        goto out;
    }
    buf = vips_image_write_to_memory(img, &buf_len);
    if (!buf) {
        vips_log_error("editor", "render");
        rc = ERR_NOMEM;
        goto out;
    }
    *out_pixels = buf;
    *out_w = img->Xsize;
    *out_h = img->Ysize;
    *out_bands = img->Bands;
    buf = NULL;
    rc = ERR_OK;
out:
    VIPS_UNREF(img);
    VIPS_UNREF(in);
    g_free(buf);
    return rc;
}

enum err editor_local_apply_raw(const unsigned char *pixels, int width, int height, int bands,
                                const char *prompt, unsigned char **out_pixels, int *out_w,
                                int *out_h, int *out_bands)
{
    struct edit_plan plan = {0};
    enum err rc = ERR_INVALID;

    if (!prompt)
        return rc;
    rc = editor_plan(prompt, &plan);
    if (rc == ERR_OK)
        rc = editor_local_apply_raw_plan(pixels, width, height, bands, &plan, out_pixels, out_w,
                                         out_h, out_bands);
    edit_plan_free(&plan);
    return rc;
}

void editor_output_free(void *buf)
{
    g_free(buf);
}

/* ---- the backend vtable ---- */

static void local_edit(struct editor *e, const void *png, size_t len, const char *prompt,
                       editor_done_fn done, void *arg)
{
    struct edit_plan plan;
    void *out = NULL;
    size_t out_len = 0;
    const char *why = WHY_INTERNAL;
    enum err rc = editor_plan(prompt, &plan);

    (void)e;
    if (rc == ERR_OK)
        rc = editor_local_apply_plan(png, len, &plan, &out, &out_len, &why);
    done(arg, rc, out, out_len, why, rc == ERR_OK ? &plan : NULL);
    editor_output_free(out);
    edit_plan_free(&plan);
}

static enum err local_check(struct editor *e, const char *prompt, const char **why)
{
    enum edit_kind kinds[EDIT_KIND_COUNT];

    (void)e;
    if (editor_parse(prompt, kinds, EDIT_KIND_COUNT) > 0)
        return ERR_OK;
    *why = editor_refusal;
    return ERR_REFUSED;
}

static void local_close(struct editor *e)
{
    (void)e; /* the one instance is static */
}

const struct editor_ops editor_local_ops = {
    .name = "local",
    .edit = local_edit,
    .check = local_check,
    .close = local_close,
};

static struct editor local_instance = {.ops = &editor_local_ops};

enum err editor_local_open(struct editor **out)
{
    if (!out)
        return ERR_INVALID;
    *out = &local_instance;
    return ERR_OK;
}
