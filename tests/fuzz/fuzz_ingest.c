/*
 * fuzz_ingest.c - image ingest (imaging/ingest.c): untrusted bytes -> the normalised PNG
 * and the WebP thumbnail we store, through libvips' loaders for the formats we take,
 * with small limits so a bomb is refused rather than decoded. Whatever is accepted must
 * be a PNG of at most the limits, with a thumbnail.
 */
#include "fuzz.h"
#include "imaging/ingest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    if (imaging_init((*argv)[0]) != ERR_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ingest_limits lim = {.max_bytes = 256 * 1024, .max_side = 256,
                                             .max_pixels = 1024 * 1024};
    struct ingest_result r = {0};
    const char *why = NULL;

    ingest_sniff(data, size);
    if (ingest_image(data, size, &lim, &r, &why) == ERR_OK) {
        if (!r.png || !r.thumb || r.width < 1 || r.height < 1 || r.width > 256 ||
            r.height > 256 || !ingest_sniff(r.png, r.png_len) ||
            strcmp(ingest_sniff(r.png, r.png_len), "png") != 0)
            abort();
    } else if (!why) {
        abort(); /* every refusal has its sentence */
    }
    ingest_result_free(&r);
    return 0;
}
