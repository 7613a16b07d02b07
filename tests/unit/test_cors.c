/*
 * test_cors.c - http/cors.c: origin syntax, the CORS_ORIGINS list (good and bad
 * settings) and the allowed check against hostile Origin values.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/cors.h"

static bool valid(const char *s)
{
    return cors_origin_valid(s, strlen(s));
}

static void test_origin_syntax(void)
{
    static const char *const good[] = {
        "http://localhost",       "https://app.example.com", "http://127.0.0.1:8000",
        "https://EXAMPLE.com:443", "http://[::1]:5173",       "capacitor://localhost",
        "http://a",               "app+x.y-z://host",        "http://[::ffff:1.2.3.4]",
    };
    static const char *const bad[] = {
        "",
        "null",
        "file://",
        "http://",
        "http:/x",
        "://x",
        "1http://x",
        "http://x/",
        "http://x/path",
        "http://user@x",
        "http://x:0",
        "http://x:65536",
        "http://x:080",
        "http://x:",
        "http://x:8a",
        "http://x..y",
        "http://.x",
        "http://x.",
        "http://x y",
        "http://x\r\nSet-Cookie: a=b",
        "http://[::1",
        "http://[]",
        "http://[zz::1]",
        "http://x?y",
        "http://x#y",
        "http://a:b:80",
        "*",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!valid(good[i]))
            fprintf(stderr, "should be valid: %s\n", good[i]);
        CHECK(valid(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (valid(bad[i]))
            fprintf(stderr, "should be invalid: %s\n", bad[i]);
        CHECK(!valid(bad[i]));
    }
    CHECK(!cors_origin_valid(NULL, 0));
    /* an embedded NUL: the length counts, the bytes after it are not a host */
    CHECK(!cors_origin_valid("http://a\0b", 10));
    {
        /* too long: a 10 KB origin, and one just over the bound */
        size_t n = 10 * 1024;
        char *big = malloc(n + 1);
        memcpy(big, "http://", 7);
        memset(big + 7, 'a', n - 7);
        big[n] = '\0';
        CHECK(!valid(big));
        big[CORS_ORIGIN_MAX + 1] = '\0';
        CHECK(!valid(big));
        big[CORS_ORIGIN_MAX] = '\0'; /* at the bound */
        CHECK(valid(big));
        free(big);
    }
}

static struct cors *parse_ok(const char *spec)
{
    struct cors *c = (struct cors *)1;
    const char *bad = NULL;
    size_t bad_len = 0;
    CHECK_EQ_INT(cors_parse(spec, &c, &bad, &bad_len), 0);
    return c;
}

static void parse_bad(const char *spec, const char *want_bad)
{
    struct cors *c = (struct cors *)1;
    const char *bad = NULL;
    size_t bad_len = 0;
    CHECK_EQ_INT(cors_parse(spec, &c, &bad, &bad_len), -1);
    CHECK(c == NULL);
    CHECK(bad != NULL && bad >= spec && bad + bad_len <= spec + strlen(spec));
    if (bad && strlen(want_bad) == bad_len)
        CHECK(memcmp(bad, want_bad, bad_len) == 0);
    else
        CHECK(!"the offending entry is named");
}

static void test_parse_and_allow(void)
{
    struct cors *c;

    /* nothing configured: nothing allowed */
    c = parse_ok(NULL);
    CHECK(c == NULL && !cors_enabled(c) && !cors_allowed(c, "http://localhost"));
    c = parse_ok("");
    CHECK(c == NULL);
    c = parse_ok("  ");
    CHECK(c == NULL);

    c = parse_ok(" https://app.example.com , http://localhost:5173");
    CHECK(c && cors_enabled(c));
    CHECK(cors_allowed(c, "https://app.example.com"));
    CHECK(cors_allowed(c, "HTTPS://APP.EXAMPLE.COM")); /* case-insensitive */
    CHECK(cors_allowed(c, "http://localhost:5173"));
    CHECK(!cors_allowed(c, "http://localhost"));       /* another port: another origin */
    CHECK(!cors_allowed(c, "https://app.example.com:443"));
    CHECK(!cors_allowed(c, "https://app.example.com.evil.com"));
    CHECK(!cors_allowed(c, "https://evil.com"));
    CHECK(!cors_allowed(c, "null"));
    CHECK(!cors_allowed(c, "file://"));
    CHECK(!cors_allowed(c, ""));
    CHECK(!cors_allowed(c, NULL));
    CHECK(!cors_allowed(c, "https://app.example.com\r\n"));
    cors_free(c);

    c = parse_ok("*");
    CHECK(c && cors_enabled(c));
    CHECK(cors_allowed(c, "https://anything.example"));
    CHECK(cors_allowed(c, "http://127.0.0.1:1"));
    CHECK(!cors_allowed(c, "null"));   /* sandboxed frames and file pages: never */
    CHECK(!cors_allowed(c, "file://"));
    CHECK(!cors_allowed(c, "http://x/"));
    {
        char big[10 * 1024];
        memcpy(big, "http://", 7);
        memset(big + 7, 'b', sizeof(big) - 8);
        big[sizeof(big) - 1] = '\0';
        CHECK(!cors_allowed(c, big));
    }
    cors_free(c);
    cors_free(NULL);

    parse_bad("http://ok.example,null", "null");
    parse_bad("http://ok.example,", "");
    parse_bad(",http://ok.example", "");
    parse_bad("https://x.example/", "https://x.example/");
    parse_bad("localhost:3000", "localhost:3000");
    parse_bad("http://a.example, http://b.example:99999", "http://b.example:99999");
    parse_bad("*,file://", "file://");
}

int main(void)
{
    test_origin_syntax();
    test_parse_and_allow();
    return check_summary("cors");
}
