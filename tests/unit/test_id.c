/*
 * test_id.c - UUIDs, random hex, time formats and storage keys; the small util helpers
 * they share code with (hex, grow, header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "storage/storage.h"
#include "util/grow.h"
#include "util/header.h"
#include "util/hex.h"
#include "util/id.h"
#include "util/timefmt.h"

static void test_uuid(void)
{
    char a[ID_UUID_LEN], b[ID_UUID_LEN], out[ID_UUID_LEN];

    CHECK(id_uuid_new(a));
    CHECK(id_uuid_new(b));
    CHECK(strcmp(a, b) != 0);
    CHECK(id_uuid_is_canonical(a));
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);

    CHECK(id_uuid_parse("550E8400-E29B-41D4-A716-446655440000", 36, out));
    CHECK_EQ_STR(out, "550e8400-e29b-41d4-a716-446655440000");
    CHECK(id_uuid_parse("550e8400e29b41d4a716446655440000", 32, out));
    CHECK_EQ_STR(out, "550e8400-e29b-41d4-a716-446655440000");
    CHECK(id_uuid_parse("{550e8400-e29b-41d4-a716-446655440000}", 38, out));
    CHECK(id_uuid_parse("urn:uuid:550e8400-e29b-41d4-a716-446655440000", 45, out));
    CHECK(!id_uuid_parse("550e8400-e29b-41d4-a716-44665544000", 35, out));
    CHECK(!id_uuid_parse("550e8400-e29b-41d4-a716-44665544000g", 36, out));
    CHECK(!id_uuid_parse("550e8400xe29b-41d4-a716-446655440000", 36, out));
    CHECK(!id_uuid_parse("", 0, out));
    CHECK(!id_uuid_parse("stats", 5, out));
    CHECK(!id_uuid_is_canonical("550E8400-E29B-41D4-A716-446655440000"));
}

static void test_time(void)
{
    char iso[TIMEFMT_ISO_LEN], key[TIMEFMT_KEY_LEN];

    timefmt_iso(1737815422123LL, iso);
    CHECK_EQ_STR(iso, "2025-01-25T14:30:22.123Z");
    timefmt_key(1737815422123LL, key);
    CHECK_EQ_STR(key, "20250125_143022_123");
    timefmt_iso(0, iso);
    CHECK_EQ_STR(iso, "1970-01-01T00:00:00.000Z");
    CHECK(time_now_ms() > 1700000000000LL);
    timefmt_iso(-1, iso);
    CHECK_EQ_STR(iso, "1969-12-31T23:59:59.999Z");
    timefmt_iso(951782400000LL, iso); /* a leap day in a century leap year */
    CHECK_EQ_STR(iso, "2000-02-29T00:00:00.000Z");

    /* the hand-rolled civil calendar agrees with gmtime_r across four centuries */
    for (int64_t ms = -2208988800000LL; ms < 10413792000000LL; ms += 86399999LL * 7 + 12345) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        char want[64];
        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(((ms % 1000) + 1000) % 1000));
        timefmt_iso(ms, iso);
        if (strcmp(iso, want) != 0) {
            CHECK_EQ_STR(iso, want);
            break;
        }
    }
}

static void test_keys(void)
{
    const char *uid = "550e8400-e29b-41d4-a716-446655440001";
    char k1[STORAGE_KEY_MAX], k2[STORAGE_KEY_MAX];

    CHECK(storage_key_new(uid, STORAGE_ORIGINAL, 1737815422123LL, k1));
    CHECK(storage_key_new(uid, STORAGE_ORIGINAL, 1737815422123LL, k2));
    CHECK(strcmp(k1, k2) != 0); /* 128 random bits apart */
    CHECK(strncmp(k1, "users/550e8400-e29b-41d4-a716-446655440001/original/20250125_143022_123_",
                  72) == 0);
    CHECK_EQ_INT(strlen(k1), 72 + 32 + 4);
    CHECK(storage_key_valid(k1));
    CHECK(storage_key_new(uid, STORAGE_THUMBNAIL, 0, k1));
    CHECK(strstr(k1, "/thumbnail/") && strcmp(k1 + strlen(k1) - 5, ".webp") == 0);
    CHECK(storage_key_new(uid, STORAGE_EDITED, 0, k1));
    CHECK(strstr(k1, "/edited/") != NULL);
    CHECK(!storage_key_new("not-a-uuid", STORAGE_ORIGINAL, 0, k1));
    CHECK(!storage_key_new("550E8400-E29B-41D4-A716-446655440001", STORAGE_ORIGINAL, 0, k1));

    CHECK(storage_key_valid("users/u/original/a.png"));
    CHECK(!storage_key_valid("../etc/passwd.png"));
    CHECK(!storage_key_valid("users/../../x.png"));
    CHECK(!storage_key_valid("/etc/x.png"));
    CHECK(!storage_key_valid("users//x.png"));
    CHECK(!storage_key_valid("users/.hidden.png"));
    CHECK(!storage_key_valid("users/x.db"));
    CHECK(!storage_key_valid("users/x y.png"));
    CHECK(!storage_key_valid("users/x%2e.png"));
    CHECK(!storage_key_valid(""));
    CHECK(!storage_key_valid(NULL));
    CHECK_EQ_STR(storage_content_type("a/b.png"), "image/png");
    CHECK_EQ_STR(storage_content_type("a/b.webp"), "image/webp");
    {
        char longkey[STORAGE_KEY_MAX + 10];
        memset(longkey, 'a', sizeof(longkey));
        memcpy(longkey + sizeof(longkey) - 5, ".png", 5);
        CHECK(!storage_key_valid(longkey));
    }
}

static void test_random_hex(void)
{
    char h[33];
    CHECK(id_random_hex(h, 16));
    CHECK_EQ_INT(strlen(h), 32);
    CHECK(strspn(h, "0123456789abcdef") == 32);
}

static void test_helpers(void)
{
    static const unsigned char bytes[] = {0x00, 0x9f, 0xa0, 0xff};
    char hex[9], *line;
    size_t cap = 0;
    int *v = NULL, *w;

    hex_encode(bytes, sizeof(bytes), hex);
    CHECK_EQ_STR(hex, "009fa0ff");
    CHECK_EQ_INT(hex_value('7'), 7);
    CHECK_EQ_INT(hex_value('b'), 11);
    CHECK_EQ_INT(hex_value('F'), 15);
    CHECK_EQ_INT(hex_value('g'), -1);

    w = grow(v, &cap, 1, sizeof(*v), 4, (size_t)-1 / 2); /* first: 4 */
    CHECK(w && cap == 4);
    v = w;
    CHECK(grow(v, &cap, 4, sizeof(*v), 4, (size_t)-1 / 2) == v); /* room already */
    w = grow(v, &cap, 9, sizeof(*v), 4, (size_t)-1 / 2);         /* doubles twice */
    CHECK(w && cap == 16);
    v = w;
    CHECK(!grow(v, &cap, 40, sizeof(*v), 4, 16 * sizeof(*v))); /* over the limit */
    CHECK_EQ_INT(cap, 16);
    free(v);

    CHECK(header_value_ok("abc DEF-1"));
    CHECK(!header_value_ok("a\r\nb"));
    CHECK(!header_value_ok("a\x7f"));
    line = header_line("Authorization: Bearer ", "k3y");
    CHECK(line);
    if (line)
        CHECK_EQ_STR(line, "Authorization: Bearer k3y");
    header_free(line);
    header_free(NULL);
}

int main(void)
{
    test_uuid();
    test_time();
    test_keys();
    test_random_hex();
    test_helpers();
    return check_summary("id");
}
