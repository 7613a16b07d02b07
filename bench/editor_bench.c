/*
 * editor_bench.c - times the local editor on one image: the edit itself
 * (decoded pixels in, pixels out: editor_local_apply_raw) and file to file
 * (PNG in, PNG out: editor_local_apply), median and best of N runs each.
 *
 *   build/editor_bench IN.png "make it colorful" [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "imaging/editor.h"
#include "imaging/ingest.h"
#include "util/timefmt.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
    printf("%-28s median %8.1f ms   best %8.1f ms   (%d runs)\n", what, ms[n / 2], ms[0], n);
}

int main(int argc, char **argv)
{
    int runs = argc > 3 ? atoi(argv[3]) : 9;
    VipsImage *img = NULL;
    void *png = NULL, *pixels = NULL;
    size_t png_len = 0, px_len = 0;
    double *ms;
    int status = 1;

    if (argc < 3 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: %s IN.png PROMPT [RUNS]\n", argv[0]);
        return 2;
    }
    if (imaging_init(argv[0]) != ERR_OK)
        return 1;
    ms = calloc((size_t)runs, sizeof(*ms));
    if (!g_file_get_contents(argv[1], (gchar **)&png, &png_len, NULL) ||
        !(img = vips_image_new_from_buffer(png, png_len, "", NULL)) ||
        !(pixels = vips_image_write_to_memory(img, &px_len)) || img->BandFmt != VIPS_FORMAT_UCHAR) {
        fprintf(stderr, "%s: cannot read an 8-bit image from %s\n", argv[0], argv[1]);
        goto out;
    }
    printf("%s: %dx%d, %d bands, %zu bytes of PNG; prompt \"%s\"\n", argv[1], img->Xsize,
           img->Ysize, img->Bands, png_len, argv[2]);
    for (int i = 0; i < runs; i++) {
        unsigned char *out = NULL;
        int w, h, b;
        int64_t t0 = time_mono_ns();
        if (editor_local_apply_raw(pixels, img->Xsize, img->Ysize, img->Bands, argv[2], &out, &w,
                                   &h, &b) != ERR_OK) {
            fprintf(stderr, "edit failed\n");
            goto out;
        }
        ms[i] = (double)(time_mono_ns() - t0) / 1e6;
        editor_output_free(out);
    }
    report("the edit (pixels to pixels)", ms, runs);
    for (int i = 0; i < runs; i++) {
        void *out = NULL;
        size_t out_len;
        const char *why;
        int64_t t0 = time_mono_ns();
        if (editor_local_apply(png, png_len, argv[2], &out, &out_len, &why) != ERR_OK) {
            fprintf(stderr, "edit failed\n");
            goto out;
        }
        ms[i] = (double)(time_mono_ns() - t0) / 1e6;
        editor_output_free(out);
    }
    report("file to file (PNG to PNG)", ms, runs);
    status = 0;
out:
    g_free(pixels);
    g_free(png);
    VIPS_UNREF(img);
    free(ms);
    imaging_shutdown();
    return status;
}
