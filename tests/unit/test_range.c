/*
 * test_range.c - the pure pieces of the HTTP answers: http/range.c (one byte range,
 * 206 vs 416 vs the whole) and http/gzip.c (Accept-Encoding negotiation, gzip that
 * zlib reads back), with malformed and hostile header values.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "http/gzip.h"
#include "http/range.h"

#define CHECK_RANGE(h, size, f, l)                                                                 \
    do {                                                                                           \
        uint64_t _f = 999, _l = 999;                                                               \
        CHECK_EQ_INT(range_parse(h, size, &_f, &_l), RANGE_PARTIAL);                              \
        CHECK_EQ_INT(_f, f);                                                                       \
        CHECK_EQ_INT(_l, l);                                                                       \
    } while (0)

static void test_range(void)
{
    uint64_t f = 7, l = 7;
    char big[6000];

    CHECK_RANGE("bytes=0-0", 10, 0, 0);
    CHECK_RANGE("bytes=0-9", 10, 0, 9);
    CHECK_RANGE("bytes=0-100", 10, 0, 9); /* cut to the end */
    CHECK_RANGE("bytes=3-", 10, 3, 9);
    CHECK_RANGE("bytes=-3", 10, 7, 9);
    CHECK_RANGE("bytes=-30", 10, 0, 9);
    CHECK_RANGE(" Bytes = 2-4 ", 10, 2, 4);
    CHECK_RANGE("bytes=9-9", 10, 9, 9);
    CHECK_RANGE("bytes=0-18446744073709551615", 10, 0, 9);

    CHECK_EQ_INT(range_parse("bytes=10-", 10, &f, &l), RANGE_UNSATISFIABLE);
    CHECK_EQ_INT(range_parse("bytes=10-20", 10, &f, &l), RANGE_UNSATISFIABLE);
    CHECK_EQ_INT(range_parse("bytes=-0", 10, &f, &l), RANGE_UNSATISFIABLE);
    CHECK_EQ_INT(range_parse("bytes=0-", 0, &f, &l), RANGE_UNSATISFIABLE);
    CHECK_EQ_INT(range_parse("bytes=-5", 0, &f, &l), RANGE_UNSATISFIABLE);
    CHECK(f == 7 && l == 7); /* written only for a partial answer */

    static const char *const whole[] = {
        "", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes=1-2,4-5", "bytes=1-2,",
        "items=0-1", "bytes 0-1", "bytes=--1", "bytes=+1-2", "bytes=1--2", "bytes=0x1-2",
        "bytes=18446744073709551616-", "bytes=-18446744073709551616", "bytes=1-2 junk",
        "bytes=1-2\r\n", "bytesx=1-2",
    };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        enum range_result r = range_parse(whole[i], 10, &f, &l);
        if (r != RANGE_FULL)
            fprintf(stderr, "should be the whole body: '%s'\n", whole[i]);
        CHECK_EQ_INT(r, RANGE_FULL);
    }
    CHECK_EQ_INT(range_parse(NULL, 10, &f, &l), RANGE_FULL);
    memcpy(big, "bytes=0-", 8);
    memset(big + 8, '9', sizeof(big) - 9);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(range_parse(big, 10, &f, &l), RANGE_FULL); /* overflows: ignored */
}

static void test_accept(void)
{
    static const char *const yes[] = {"gzip", "GZIP", "x-gzip", "gzip, deflate, br", "br, gzip",
                                      "gzip;q=1", "gzip;q=0.001", "gzip ; q=0.5", "*",
                                      "*;q=0.1", "deflate, *", "identity, gzip;q=1.0"};
    static const char *const no[] = {"", "identity", "deflate", "br", "gzip;q=0", "gzip;q=0.000",
                                     "*;q=0", "gzip;q=0, *", "gzip;q=2", "gzip;q=-1",
                                     "gzip;q=abc", "gzip;q=", "gzipx", "xgzip", ",,,", "gzip;q=1.5",
                                     "gzip;q=0.5x"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!gzip_accepted(yes[i]))
            fprintf(stderr, "should accept gzip: '%s'\n", yes[i]);
        CHECK(gzip_accepted(yes[i]));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (gzip_accepted(no[i]))
            fprintf(stderr, "should not accept gzip: '%s'\n", no[i]);
        CHECK(!gzip_accepted(no[i]));
    }
    CHECK(!gzip_accepted(NULL));
}

static void test_compress(void)
{
    size_t n = 20000, zlen = 0, back_len;
    char *in = malloc(n), *z = NULL;
    unsigned char *back = malloc(n + 1);
    z_stream s;

    for (size_t i = 0; i < n; i++)
        in[i] = "{\"id\": \"abc\", "[i % 14];
    CHECK(gzip_compress(in, n, &z, &zlen));
    CHECK(z && zlen > 18 && zlen < n);
    CHECK((unsigned char)z[0] == 0x1f && (unsigned char)z[1] == 0x8b); /* a gzip member */
    memset(&s, 0, sizeof(s));
    CHECK(inflateInit2(&s, 15 + 16) == Z_OK);
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)zlen;
    s.next_out = back;
    s.avail_out = (uInt)n + 1;
    CHECK(inflate(&s, Z_FINISH) == Z_STREAM_END);
    back_len = s.total_out;
    inflateEnd(&s);
    CHECK_EQ_INT(back_len, n);
    CHECK(memcmp(back, in, n) == 0);
    free(z);
    /* random bytes do not shrink: nothing written, sent as they are */
    z = (char *)0x1;
    srand(1);
    for (size_t i = 0; i < 2000; i++)
        in[i] = (char)rand();
    CHECK(!gzip_compress(in, 2000, &z, &zlen));
    CHECK(z == (char *)0x1);
    free(in);
    free(back);
}

int main(void)
{
    test_range();
    test_accept();
    test_compress();
    return check_summary("range");
}
