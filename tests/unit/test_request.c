/*
 * test_request.c - http/request.c: query and form readers with pydantic's rules and
 * messages, hostile values (signs, whitespace, overflow, leading zeros, invalid
 * UTF-8, NULs, huge inputs), the 422 list, and the error renderer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/request.h"

static struct arena *arena;

static struct request new_req(struct kv *q, size_t n)
{
    struct request r = {.arena = arena, .query = q, .n_query = n};
    return r;
}

/* The rendered 422 body of req's list (freed by the caller), and the list dropped. */
static char *render(struct request *req, enum err err, int *status)
{
    struct response res = {.fd = -1};

    response_error(req, &res, err);
    *status = res.status;
    json_decref(req->error_list);
    req->error_list = NULL;
    return res.body;
}

/* Reads one query int of value raw; returns the rc and the rendered body if any. */
static enum err query_int(const char *raw, int64_t min, int64_t max, int64_t *out, char **body)
{
    struct kv q[] = {{"page", raw}};
    struct request r = new_req(q, raw ? 1 : 0);
    enum err rc = request_query_int(&r, "page", 7, min, max, out);
    int status = 0;

    *body = NULL;
    if (rc != ERR_OK) {
        *body = render(&r, rc, &status);
        CHECK_EQ_INT(status, 422);
    }
    return rc;
}

#define CHECK_INT_OK(raw, want)                                                                    \
    do {                                                                                           \
        int64_t int_v = -12345;                                                                    \
        char *int_body;                                                                            \
        CHECK_EQ_INT(query_int(raw, INT64_MIN, INT64_MAX, &int_v, &int_body), ERR_OK);             \
        CHECK_EQ_INT(int_v, want);                                                                 \
        free(int_body);                                                                            \
    } while (0)

#define INT_PARSING(input)                                                                         \
    "{\"detail\":[{\"type\":\"int_parsing\",\"loc\":[\"query\",\"page\"],\"msg\":\"Input should "  \
    "be a valid integer, unable to parse string as an integer\",\"input\":\"" input "\"}]}"

#define CHECK_INT_BAD(raw, want_body)                                                              \
    do {                                                                                           \
        int64_t int_v = -12345;                                                                    \
        char *int_body;                                                                            \
        CHECK_EQ_INT(query_int(raw, INT64_MIN, INT64_MAX, &int_v, &int_body), ERR_VALIDATION);     \
        CHECK_EQ_INT(int_v, -12345);                                                               \
        CHECK_EQ_STR(int_body, want_body);                                                         \
        free(int_body);                                                                            \
    } while (0)

static void test_query_lookup(void)
{
    struct kv q[] = {{"page", "1"}, {"limit", ""}, {"page", "2"}, {"PAGE", "3"}, {"", "x"}};
    struct request r = new_req(q, 5);

    /* repeated: the last one wins, as in Starlette's multi-dicts */
    CHECK_EQ_STR(request_query(&r, "page"), "2");
    /* names are case-sensitive */
    CHECK_EQ_STR(request_query(&r, "PAGE"), "3");
    /* present with an empty value (also "?limit" without "=", as server.c stores it) */
    CHECK_EQ_STR(request_query(&r, "limit"), "");
    CHECK_EQ_STR(request_query(&r, ""), "x");
    CHECK(request_query(&r, "missing") == NULL);
    CHECK(request_query(&r, "pag") == NULL);
    r.n_query = 0;
    CHECK(request_query(&r, "page") == NULL);
}

static void test_query_int(void)
{
    char *b;
    int64_t v = 0;

    /* absent: the default, nothing recorded */
    CHECK_EQ_INT(query_int(NULL, 1, 100, &v, &b), ERR_OK);
    CHECK_EQ_INT(v, 7);
    CHECK(b == NULL);

    CHECK_INT_OK("1", 1);
    CHECK_INT_OK("0", 0);
    CHECK_INT_OK("-1", -1);
    /* pydantic's lax int: a sign, leading zeros, surrounding whitespace */
    CHECK_INT_OK("+5", 5);
    CHECK_INT_OK("-0", 0);
    CHECK_INT_OK("007", 7);
    CHECK_INT_OK("-007", -7);
    CHECK_INT_OK("00000000000000000000000000000000000042", 42);
    CHECK_INT_OK(" 3", 3);
    CHECK_INT_OK("3 ", 3);
    CHECK_INT_OK("\t 3 \n", 3);
    CHECK_INT_OK("9223372036854775807", INT64_MAX);
    CHECK_INT_OK("-9223372036854775808", INT64_MIN);

    CHECK_INT_BAD("", INT_PARSING(""));
    CHECK_INT_BAD(" ", INT_PARSING(" "));
    CHECK_INT_BAD("abc", INT_PARSING("abc"));
    CHECK_INT_BAD("1.5", INT_PARSING("1.5"));
    CHECK_INT_BAD("1e3", INT_PARSING("1e3"));
    CHECK_INT_BAD("0x10", INT_PARSING("0x10"));
    CHECK_INT_BAD("5 5", INT_PARSING("5 5"));
    CHECK_INT_BAD("+-5", INT_PARSING("+-5"));
    CHECK_INT_BAD("--5", INT_PARSING("--5"));
    CHECK_INT_BAD("+", INT_PARSING("+"));
    CHECK_INT_BAD("-", INT_PARSING("-"));
    CHECK_INT_BAD("+ 5", INT_PARSING("+ 5"));
    CHECK_INT_BAD("5abc", INT_PARSING("5abc"));
    CHECK_INT_BAD("1,000", INT_PARSING("1,000"));
    CHECK_INT_BAD("\xd9\xa3", INT_PARSING("\xd9\xa3")); /* ARABIC-INDIC DIGIT THREE */
    CHECK_INT_BAD("\"5\"", INT_PARSING("\\\"5\\\""));   /* the input is JSON-escaped */

    /* huge but well-formed: a range error at the cap, the input echoed as sent */
    {
        int64_t out = -12345;
        CHECK_EQ_INT(query_int("99999999999999999999", 1, 100, &out, &b), ERR_VALIDATION);
        CHECK_EQ_INT(out, -12345);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"less_than_equal\",\"loc\":[\"query\",\"page\"],"
                        "\"msg\":\"Input should be less than or equal to 100\","
                        "\"input\":\"99999999999999999999\",\"ctx\":{\"le\":100}}]}");
        free(b);
        CHECK_EQ_INT(query_int("-99999999999999999999", 1, 100, &out, &b), ERR_VALIDATION);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"query\","
                        "\"page\"],\"msg\":\"Input should be greater than or equal to 1\","
                        "\"input\":\"-99999999999999999999\",\"ctx\":{\"ge\":1}}]}");
        free(b);
        CHECK_EQ_INT(query_int("9223372036854775808", 1, INT64_MAX, &out, &b), ERR_OK);
        CHECK_EQ_INT(out, INT64_MAX);
        CHECK_EQ_INT(query_int("0", 1, 100, &out, &b), ERR_VALIDATION);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"query\","
                        "\"page\"],\"msg\":\"Input should be greater than or equal to 1\","
                        "\"input\":\"0\",\"ctx\":{\"ge\":1}}]}");
        free(b);
        CHECK_EQ_INT(query_int("101", 1, 100, &out, &b), ERR_VALIDATION);
        free(b);
        CHECK_EQ_INT(query_int("100", 1, 100, &out, &b), ERR_OK);
        CHECK_EQ_INT(out, 100);
        CHECK_EQ_INT(query_int("1", 1, 100, &out, &b), ERR_OK);
        CHECK_EQ_INT(out, 1);
    }

    /* a megabyte of digits: parsed without harm, a range error */
    {
        size_t n = 1 << 20;
        char *huge = malloc(n + 1);
        int64_t out = 0;
        CHECK(huge != NULL);
        if (huge) {
            memset(huge, '9', n);
            huge[n] = '\0';
            CHECK_EQ_INT(query_int(huge, 1, 100, &out, &b), ERR_VALIDATION);
            CHECK(b && strstr(b, "\"less_than_equal\"") != NULL);
            free(b);
            huge[n / 2] = 'x';
            CHECK_EQ_INT(query_int(huge, 1, 100, &out, &b), ERR_VALIDATION);
            CHECK(b && strstr(b, "\"int_parsing\"") != NULL);
            free(b);
            free(huge);
        }
    }
}

/* Invalid UTF-8 in an echoed input must not lose the entry: pydantic (Starlette
 * decodes the query with errors="replace") shows U+FFFD for each bad sequence. */
static void test_invalid_utf8_input(void)
{
    char id[ID_UUID_LEN];
    int status = 0;
    char *b;

    /* ?page=%ff */
    CHECK_INT_BAD("\xff", INT_PARSING("\xef\xbf\xbd"));
    /* a valid character kept, each bad sequence one U+FFFD (maximal subparts) */
    CHECK_INT_BAD("a\xc3\xa9\xff"
                  "b",
                  INT_PARSING("a\xc3\xa9\xef\xbf\xbd"
                              "b"));
    CHECK_INT_BAD("\xe2\x82", INT_PARSING("\xef\xbf\xbd"));             /* truncated 3-byte */
    CHECK_INT_BAD("\xe2\x82x", INT_PARSING("\xef\xbf\xbdx"));           /* cut by an ASCII byte */
    CHECK_INT_BAD("\xc0\xaf", INT_PARSING("\xef\xbf\xbd\xef\xbf\xbd")); /* overlong '/' */
    CHECK_INT_BAD("\xed\xa0\x80",
                  INT_PARSING("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")); /* surrogate */
    CHECK_INT_BAD("\xf4\x90\x80\x80",                                   /* past U+10FFFF */
                  INT_PARSING("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK_INT_BAD("\xf0\x9f\x98", INT_PARSING("\xef\xbf\xbd"));         /* truncated 4-byte */
    CHECK_INT_BAD("\xf0\x9f\x98\x80", INT_PARSING("\xf0\x9f\x98\x80")); /* valid emoji */

    /* a path parameter: /api/drawings/%ff */
    {
        struct request r = new_req(NULL, 0);
        CHECK_EQ_INT(request_uuid(&r, "path", "drawing_id", "\xff", id), ERR_VALIDATION);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_INT(status, 422);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"uuid_parsing\",\"loc\":[\"path\",\"drawing_id\"],"
                        "\"msg\":\"Input should be a valid UUID\",\"input\":\"\xef\xbf\xbd\"}]}");
        free(b);
    }
    /* two bad fields: both entries, in order */
    {
        struct kv q[] = {{"page", "\xfe"}, {"limit", "\x80"}};
        struct request r = new_req(q, 2);
        int64_t v;
        CHECK_EQ_INT(request_query_int(&r, "page", 1, 1, 100, &v), ERR_VALIDATION);
        CHECK_EQ_INT(request_query_int(&r, "limit", 20, 1, 100, &v), ERR_VALIDATION);
        CHECK_EQ_INT(json_array_size(r.error_list), 2);
        json_decref(r.error_list);
    }
    /* an entry that cannot be built is never dropped quietly: no partial 422 */
    {
        struct kv q[] = {{"page", "x"}};
        struct request r = new_req(q, 1);
        int64_t v;
        CHECK_EQ_INT(request_query_int(&r, "page", 1, 1, 100, &v), ERR_VALIDATION);
        CHECK_EQ_INT(request_invalid(&r, "query", "bad \xff name", "Field required", "missing"),
                     ERR_VALIDATION);
        CHECK(r.error_list_lost);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_INT(status, 500);
        CHECK_EQ_STR(b, "{\"detail\":\"Internal Server Error\"}");
        free(b);
    }
}

static struct form_field text_field(const char *name, const char *data, size_t len)
{
    struct form_field f = {.name = name, .data = (unsigned char *)data, .len = len};
    return f;
}

static void test_form_text(void)
{
    const char *out = "unset";
    int status = 0;
    char *b;

    {
        struct form_field f[] = {text_field("prompt", "make it blue", 12)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_text(&r, "prompt", true, 1, 1000, &out), ERR_OK);
        CHECK_EQ_STR(out, "make it blue");
        CHECK(r.error_list == NULL);
    }
    {
        /* absent and empty: missing when required, NULL when not */
        struct form_field f[] = {text_field("prompt", "", 0)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_text(&r, "prompt", false, 1, 1000, &out), ERR_OK);
        CHECK(out == NULL);
        CHECK_EQ_INT(request_form_text(&r, "other", false, 1, 1000, &out), ERR_OK);
        CHECK(out == NULL);
        CHECK(r.error_list == NULL);
        CHECK_EQ_INT(request_form_text(&r, "prompt", true, 1, 1000, &out), ERR_VALIDATION);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"prompt\"],"
                        "\"msg\":\"Field required\",\"input\":null}]}");
        free(b);
    }
    {
        /* lengths count code points, not bytes */
        struct form_field f[] = {text_field("p", "\xc3\xa9\xc3\xa9\xc3\xa9", 6)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 3, &out), ERR_OK);
        CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 2, &out), ERR_VALIDATION);
        CHECK_EQ_INT(request_form_text(&r, "p", true, 4, 10, &out), ERR_VALIDATION);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"body\",\"p\"],"
                        "\"msg\":\"String should have at most 2 characters\","
                        "\"ctx\":{\"max_length\":2}},"
                        "{\"type\":\"string_too_short\",\"loc\":[\"body\",\"p\"],"
                        "\"msg\":\"String should have at least 4 characters\","
                        "\"input\":\"\xc3\xa9\xc3\xa9\xc3\xa9\",\"ctx\":{\"min_length\":4}}]}");
        free(b);
    }
    {
        /* not UTF-8, or a NUL inside: string_type, the bytes never echoed */
        static const char *const bad[] = {"\xff", "ab\xc3", "\xc0\x80", "\xed\xa0\x80",
                                          "\xf4\x90\x80\x80"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct form_field f[] = {text_field("p", bad[i], strlen(bad[i]))};
            struct request r = {.arena = arena, .fields = f, .n_fields = 1};
            CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 100, &out), ERR_VALIDATION);
            b = render(&r, ERR_VALIDATION, &status);
            CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"p\"],"
                            "\"msg\":\"Input should be a valid string\",\"input\":null}]}");
            free(b);
        }
        struct form_field f[] = {text_field("p", "a\0b", 3)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 100, &out), ERR_VALIDATION);
        json_decref(r.error_list);
    }
    {
        /* a field over its cap: too long, never echoed */
        struct form_field f[] = {text_field("p", "", 0)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        f[0].too_large = true;
        CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 1000, &out), ERR_VALIDATION);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_STR(b, "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"body\",\"p\"],"
                        "\"msg\":\"String should have at most 1000 characters\","
                        "\"ctx\":{\"max_length\":1000}}]}");
        free(b);
    }
    {
        /* repeated fields: the last one wins */
        struct form_field f[] = {text_field("p", "first", 5), text_field("p", "second", 6)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 2};
        CHECK_EQ_INT(request_form_text(&r, "p", true, 1, 100, &out), ERR_OK);
        CHECK_EQ_STR(out, "second");
        CHECK(request_field(&r, "p") == &f[1]);
        CHECK(request_field(&r, "q") == NULL);
    }
}

static void test_form_uuid(void)
{
    char id[ID_UUID_LEN] = "";
    bool present = true;
    int status = 0;
    char *b;

    {
        struct request r = {.arena = arena};
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_OK);
        CHECK(!present);
    }
    {
        struct form_field f[] = {text_field("tutorial_id", "", 0)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        present = true;
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_OK);
        CHECK(!present);
    }
    {
        struct form_field f[] = {
            text_field("tutorial_id", "550E8400-E29B-41D4-A716-446655440000", 36)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_OK);
        CHECK(present);
        CHECK_EQ_STR(id, "550e8400-e29b-41d4-a716-446655440000");
    }
    {
        /* a NUL inside: not the UUID before it */
        struct form_field f[] = {
            text_field("tutorial_id", "550e8400-e29b-41d4-a716-446655440000\0x", 38)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_VALIDATION);
        CHECK(!present);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_STR(b,
                     "{\"detail\":[{\"type\":\"uuid_parsing\",\"loc\":[\"body\",\"tutorial_id\"],"
                     "\"msg\":\"Input should be a valid UUID\",\"input\":null}]}");
        free(b);
    }
    {
        struct form_field f[] = {text_field("tutorial_id", "not-a-uuid", 10)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_VALIDATION);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK_EQ_STR(b,
                     "{\"detail\":[{\"type\":\"uuid_parsing\",\"loc\":[\"body\",\"tutorial_id\"],"
                     "\"msg\":\"Input should be a valid UUID\",\"input\":\"not-a-uuid\"}]}");
        free(b);
    }
    {
        struct form_field f[] = {text_field("tutorial_id", "", 0)};
        struct request r = {.arena = arena, .fields = f, .n_fields = 1};
        f[0].too_large = true;
        CHECK_EQ_INT(request_form_uuid(&r, "tutorial_id", id, &present), ERR_VALIDATION);
        json_decref(r.error_list);
    }
    {
        /* path parameters: what uuid_parsing accepts and refuses */
        struct request r = {.arena = arena};
        CHECK_EQ_INT(request_uuid(&r, "path", "id", "550e8400e29b41d4a716446655440000", id),
                     ERR_OK);
        CHECK_EQ_INT(request_uuid(&r, "path", "id", "..", id), ERR_VALIDATION);
        CHECK_EQ_INT(request_uuid(&r, "path", "id", "", id), ERR_VALIDATION);
        CHECK_EQ_INT(request_uuid(&r, "path", "id", " 550e8400-e29b-41d4-a716-446655440000", id),
                     ERR_VALIDATION);
        CHECK_EQ_INT(request_uuid(&r, "path", "id", NULL, id), ERR_VALIDATION);
        CHECK_EQ_INT(json_array_size(r.error_list), 4);
        b = render(&r, ERR_VALIDATION, &status);
        CHECK(b && strstr(b, "\"input\":null") != NULL); /* NULL raw: input null */
        free(b);
    }
}

static void test_errors(void)
{
    static const struct {
        enum err err;
        int status;
        const char *body;
    } cases[] = {
        {ERR_INVALID, 400, "{\"detail\":\"Bad request\"}"},
        {ERR_UNSUPPORTED, 400, "{\"detail\":\"Unsupported file\"}"},
        {ERR_UNAUTHORIZED, 401, "{\"detail\":\"Could not validate credentials\"}"},
        {ERR_NOT_FOUND, 404, "{\"detail\":\"Not Found\"}"},
        {ERR_CONFLICT, 409, "{\"detail\":\"Conflict\"}"},
        {ERR_TOO_LARGE, 413, "{\"detail\":\"Request body too large\"}"},
        {ERR_VALIDATION, 422, "{\"detail\":\"Validation error\"}"},
        {ERR_REFUSED, 422, "{\"detail\":\"The request was refused\"}"},
        {ERR_UPSTREAM, 502, "{\"detail\":\"The upstream service failed\"}"},
        {ERR_BUSY, 503, "{\"detail\":\"The server is busy, try again shortly\"}"},
        {ERR_UNAVAILABLE, 503, "{\"detail\":\"Service unavailable\"}"},
        {ERR_TIMEOUT, 504, "{\"detail\":\"The upstream service timed out\"}"},
        {ERR_INTERNAL, 500, "{\"detail\":\"Internal Server Error\"}"},
        {ERR_NOMEM, 500, "{\"detail\":\"Internal Server Error\"}"},
        {ERR_OK, 500, "{\"detail\":\"Internal Server Error\"}"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request r = {.arena = arena};
        struct response res = {.fd = -1};
        response_error(&r, &res, cases[i].err);
        CHECK_EQ_INT(res.status, cases[i].status);
        CHECK_EQ_STR(res.body, cases[i].body);
        CHECK_EQ_STR(res.content_type, "application/json");
        CHECK_EQ_INT(res.body_len, strlen(cases[i].body));
        if (cases[i].status == 401) {
            CHECK_EQ_INT(res.n_headers, 1);
            CHECK_EQ_STR(res.headers[0].name, "WWW-Authenticate");
            CHECK_EQ_STR(res.headers[0].value, "Bearer");
        } else if (cases[i].err == ERR_BUSY) {
            CHECK_EQ_INT(res.n_headers, 1);
            CHECK_EQ_STR(res.headers[0].name, "Retry-After");
        } else {
            CHECK_EQ_INT(res.n_headers, 0);
        }
        free(res.body);
    }
    {
        /* a refused bearer token (RFC 6750 §3.1): the same body, a challenge that tells an
         * expired token apart (SPEC §16) */
        static const char *const want[] = {
            "Bearer error=\"invalid_token\"",
            "Bearer error=\"invalid_token\", error_description=\"The access token expired\"",
        };
        for (int expired = 0; expired < 2; expired++) {
            struct request r = {.arena = arena};
            struct response res = {.fd = -1};
            enum err rc = request_fail_token(&r, expired);
            CHECK_EQ_INT(rc, ERR_UNAUTHORIZED);
            response_error(&r, &res, rc);
            CHECK_EQ_INT(res.status, 401);
            CHECK_EQ_STR(res.body, "{\"detail\":\"Could not validate credentials\"}");
            CHECK_EQ_INT(res.n_headers, 1);
            CHECK_EQ_STR(res.headers[0].name, "WWW-Authenticate");
            CHECK_EQ_STR(res.headers[0].value, want[expired]);
            free(res.body);
        }
    }
    {
        /* a detail replaces the default, except on a 500; a drawing saved is named;
         * headers set before the error are dropped */
        struct request r = {.arena = arena};
        struct response res = {.fd = -1};
        response_header(&res, "ETag", "\"x\"");
        r.error_drawing_id = "550e8400-e29b-41d4-a716-446655440000";
        response_error(&r, &res, request_fail(&r, ERR_UPSTREAM, "The model failed \"badly\""));
        CHECK_EQ_INT(res.status, 502);
        CHECK_EQ_STR(res.body, "{\"detail\":\"The model failed \\\"badly\\\"\","
                               "\"drawing_id\":\"550e8400-e29b-41d4-a716-446655440000\"}");
        CHECK_EQ_INT(res.n_headers, 0);
        free(res.body);
    }
    {
        /* ERR_VALIDATION without a list: a plain detail; with one: the list */
        struct request r = {.arena = arena};
        struct response res = {.fd = -1};
        response_error(&r, &res, request_fail(&r, ERR_VALIDATION, "Could not understand"));
        CHECK_EQ_STR(res.body, "{\"detail\":\"Could not understand\"}");
        free(res.body);
        res.body = NULL;
        CHECK_EQ_INT(request_invalid(&r, "query", "q", "bad", "value_error"), ERR_VALIDATION);
        response_error(&r, &res, ERR_VALIDATION);
        CHECK_EQ_STR(res.body, "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"query\",\"q\"],"
                               "\"msg\":\"bad\",\"input\":null}]}");
        free(res.body);
        json_decref(r.error_list);
    }
    {
        /* at most RESPONSE_MAX_HEADERS headers; more are dropped, not overflowed */
        struct response res = {.fd = -1};
        for (int i = 0; i < RESPONSE_MAX_HEADERS + 3; i++)
            response_header(&res, "X", "y");
        CHECK_EQ_INT(res.n_headers, RESPONSE_MAX_HEADERS);
        CHECK_EQ_INT(response_detail(&res, 404, "gone \xff"), ERR_NOMEM); /* not UTF-8 */
        CHECK(res.body == NULL);
        CHECK_EQ_INT(response_detail(&res, 404, "gone"), ERR_OK);
        CHECK_EQ_STR(res.body, "{\"detail\":\"gone\"}");
        CHECK_EQ_INT(response_detail(&res, 410, "again"), ERR_OK); /* the old body freed */
        CHECK_EQ_INT(res.status, 410);
        free(res.body);
    }
}

/* Reads body (len bytes, content type ct) as a JSON body; the rendered 422 or NULL. */
static char *json_body(const char *ct, const char *body, size_t len, json_t **doc)
{
    struct request r = {
        .arena = arena, .content_type = ct, .body = (const unsigned char *)body, .body_len = len};
    enum err rc = request_json_body(&r, doc);
    int status = 0;
    char *out;

    if (rc == ERR_OK)
        return NULL;
    CHECK_EQ_INT(rc, ERR_VALIDATION);
    CHECK(*doc == NULL);
    out = render(&r, rc, &status);
    CHECK_EQ_INT(status, 422);
    return out;
}

#define NOT_AN_OBJECT                                                                              \
    "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],\"msg\":\"Input "         \
    "should be a valid dictionary or object to extract fields from\",\"input\":null}]}"

static void test_json_body(void)
{
    json_t *doc = NULL;
    char *out;

    out = json_body("application/json", "{\"ids\": [1]}", 12, &doc);
    CHECK(out == NULL && json_is_object(doc));
    json_decref(doc);
    out = json_body("application/json; charset=utf-8", "{}", 2, &doc);
    CHECK(out == NULL && json_is_object(doc));
    json_decref(doc);
    out = json_body("application/merge-patch+json", "{}", 2, &doc);
    CHECK(out == NULL && json_is_object(doc));
    json_decref(doc);

    out = json_body("application/json", NULL, 0, &doc);
    CHECK_EQ_STR(out, "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],\"msg\":\"Field "
                      "required\",\"input\":null}]}");
    free(out);
    out = json_body("text/plain", "{}", 2, &doc);
    CHECK_EQ_STR(out, NOT_AN_OBJECT);
    free(out);
    out = json_body(NULL, "{}", 2, &doc);
    CHECK_EQ_STR(out, NOT_AN_OBJECT);
    free(out);
    out = json_body("application/jsonx", "{}", 2, &doc);
    CHECK_EQ_STR(out, NOT_AN_OBJECT);
    free(out);
    out = json_body("application/json", "[1, 2]", 6, &doc);
    CHECK_EQ_STR(out, NOT_AN_OBJECT);
    free(out);
    out = json_body("application/json", "\"ids\"", 5, &doc);
    CHECK_EQ_STR(out, NOT_AN_OBJECT);
    free(out);
    /* malformed: truncated, a NUL inside, duplicate keys, trailing garbage */
    out = json_body("application/json", "{\"ids\": [", 9, &doc);
    CHECK(out && strstr(out, "\"type\":\"json_invalid\",\"loc\":[\"body\","));
    free(out);
    out = json_body("application/json", "{\"a\":\0 1}", 8, &doc);
    CHECK(out && strstr(out, "json_invalid"));
    free(out);
    out = json_body("application/json", "{\"a\":1,\"a\":2}", 13, &doc);
    CHECK(out && strstr(out, "json_invalid"));
    free(out);
    out = json_body("application/json", "{} {}", 5, &doc);
    CHECK(out && strstr(out, "json_invalid"));
    free(out);
}

/* ---- gallery query readers (SPEC §11) ---------------------------------- */

/* The rendered 422 body after reading query name=raw with fn, or NULL if accepted. */
#define READ_BAD(name, raw, call, want)                                                            \
    do {                                                                                           \
        struct kv q_[] = {{name, raw}};                                                            \
        struct request r = new_req(q_, 1);                                                         \
        int st_ = 0;                                                                               \
        CHECK_EQ_INT((call), ERR_VALIDATION);                                                      \
        char *b_ = render(&r, ERR_VALIDATION, &st_);                                               \
        CHECK_EQ_INT(st_, 422);                                                                    \
        CHECK_EQ_STR(b_, want);                                                                    \
        free(b_);                                                                                  \
    } while (0)

static void test_query_bool(void)
{
    static const char *const yes[] = {"true", "TRUE", "True", "1", "yes", "YeS", "on", "t", "y"};
    static const char *const no[] = {"false", "FALSE", "0", "no", "off", "OFF", "f", "n"};
    int v = 5;

    {
        struct request r = new_req(NULL, 0);
        CHECK_EQ_INT(request_query_bool(&r, "edited", &v), ERR_OK);
        CHECK_EQ_INT(v, -1);
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct kv q[] = {{"edited", yes[i]}};
        struct request r = new_req(q, 1);
        CHECK_EQ_INT(request_query_bool(&r, "edited", &v), ERR_OK);
        CHECK_EQ_INT(v, 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct kv q[] = {{"edited", no[i]}};
        struct request r = new_req(q, 1);
        CHECK_EQ_INT(request_query_bool(&r, "edited", &v), ERR_OK);
        CHECK_EQ_INT(v, 0);
    }
#define BOOL_BAD(raw, shown)                                                                       \
    READ_BAD("edited", raw, request_query_bool(&r, "edited", &v),                                  \
             "{\"detail\":[{\"type\":\"bool_parsing\",\"loc\":[\"query\",\"edited\"],"             \
             "\"msg\":\"Input should be a valid boolean, unable to interpret input\","             \
             "\"input\":\"" shown "\"}]}")
    BOOL_BAD("", "");
    BOOL_BAD("2", "2");
    BOOL_BAD("truee", "truee");
    BOOL_BAD(" true", " true");
    BOOL_BAD("\xff", "\xef\xbf\xbd");
#undef BOOL_BAD
}

static void test_query_choice(void)
{
    static const char *const sorts[] = {"newest", "oldest"};
    static const char *const three[] = {"a", "b", "c"};
    size_t v = 9;

    {
        struct request r = new_req(NULL, 0);
        CHECK_EQ_INT(request_query_choice(&r, "sort", sorts, 2, 0, &v), ERR_OK);
        CHECK_EQ_INT(v, 0);
    }
    {
        struct kv q[] = {{"sort", "oldest"}};
        struct request r = new_req(q, 1);
        CHECK_EQ_INT(request_query_choice(&r, "sort", sorts, 2, 0, &v), ERR_OK);
        CHECK_EQ_INT(v, 1);
    }
    READ_BAD("sort", "OLDEST", request_query_choice(&r, "sort", sorts, 2, 0, &v),
             "{\"detail\":[{\"type\":\"literal_error\",\"loc\":[\"query\",\"sort\"],"
             "\"msg\":\"Input should be 'newest' or 'oldest'\",\"input\":\"OLDEST\","
             "\"ctx\":{\"expected\":\"'newest' or 'oldest'\"}}]}");
    READ_BAD("sort", "", request_query_choice(&r, "sort", three, 3, 0, &v),
             "{\"detail\":[{\"type\":\"literal_error\",\"loc\":[\"query\",\"sort\"],"
             "\"msg\":\"Input should be 'a', 'b' or 'c'\",\"input\":\"\","
             "\"ctx\":{\"expected\":\"'a', 'b' or 'c'\"}}]}");
}

static int64_t dt_ok(const char *raw)
{
    struct kv q[] = {{"from", raw}};
    struct request r = new_req(q, 1);
    int64_t v = -42;

    CHECK_EQ_INT(request_query_datetime(&r, "from", 7, &v), ERR_OK);
    if (r.error_list) {
        json_decref(r.error_list);
        fprintf(stderr, "datetime %s refused\n", raw);
    }
    return v;
}

static void test_query_datetime(void)
{
    int64_t v = 0;

    {
        struct request r = new_req(NULL, 0);
        CHECK_EQ_INT(request_query_datetime(&r, "from", 7, &v), ERR_OK);
        CHECK_EQ_INT(v, 7);
    }
    CHECK_EQ_INT(dt_ok("1970-01-01"), 0);
    CHECK_EQ_INT(dt_ok("2025-01-25"), 1737763200000LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T14:30:22.123Z"), 1737815422123LL);
    CHECK_EQ_INT(dt_ok("2025-01-25t14:30:22.123z"), 1737815422123LL);
    CHECK_EQ_INT(dt_ok("2025-01-25 14:30:22Z"), 1737815422000LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T14:30Z"), 1737815400000LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T16:30:22.123+02:00"), 1737815422123LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T09:00:22.123-0530"), 1737815422123LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T14:30:22.1Z"), 1737815422100LL);
    /* a fraction finer than a millisecond rounds up: from <= t and t < to stay exact */
    CHECK_EQ_INT(dt_ok("2025-01-25T14:30:22.1230001Z"), 1737815422124LL);
    CHECK_EQ_INT(dt_ok("2025-01-25T14:30:22.123000000Z"), 1737815422123LL);
    CHECK_EQ_INT(dt_ok("2024-02-29"), 1709164800000LL);
    CHECK_EQ_INT(dt_ok("0001-01-01"), -62135596800000LL);
    CHECK_EQ_INT(dt_ok("9999-12-31T23:59:59.999Z"), 253402300799999LL);
    CHECK_EQ_INT(dt_ok("1969-12-31T23:59:59Z"), -1000);

#define DT_BAD(raw, why)                                                                           \
    READ_BAD("from", raw, request_query_datetime(&r, "from", 7, &v),                               \
             "{\"detail\":[{\"type\":\"datetime_from_date_parsing\",\"loc\":[\"query\",\"from\"]," \
             "\"msg\":\"Input should be a valid datetime or date, " why "\",\"input\":\"" raw      \
             "\",\"ctx\":{\"error\":\"" why "\"}}]}")
    DT_BAD("", "input is too short");
    DT_BAD("2025-1-5", "input is too short");
    DT_BAD("yesterday!", "invalid character in year");
    DT_BAD("2025/01/25", "invalid date separator, expected `-`");
    DT_BAD("2025-13-01", "month value is outside expected range of 1-12");
    DT_BAD("2025-02-29", "day value is outside expected range");
    DT_BAD("2025-04-31", "day value is outside expected range");
    DT_BAD("0000-01-01", "year value is outside expected range");
    DT_BAD("2025-01-25X10:00Z", "invalid datetime separator, expected `T`, `t`, `_` or space");
    DT_BAD("2025-01-25T24:00Z", "hour value is outside expected range of 0-23");
    DT_BAD("2025-01-25T10:60Z", "minute value is outside expected range of 0-59");
    DT_BAD("2025-01-25T10:00:60Z", "second value is outside expected range of 0-59");
    DT_BAD("2025-01-25T10:00:00ZZ", "unexpected extra characters at the end of the input");
    DT_BAD("2025-01-25T10:00:00+2", "invalid timezone hour");
    DT_BAD("2025-01-25T10:00:00+25:00", "timezone offset must be less than 24 hours");
    DT_BAD("2025-01-25T10:00:00 UTC", "invalid timezone sign");
    DT_BAD("2025-01-25T10:00:00.Z", "invalid character in second fraction");
    DT_BAD("2025-01-25T10:00:00.1234567890Z", "second fraction value is more than 9 digits long");
    DT_BAD("2025-01-25T1", "invalid character in hour");
    DT_BAD("2025-01-25junk", "invalid datetime separator, expected `T`, `t`, `_` or space");
#undef DT_BAD
    /* a date-time must say its offset; a date alone is UTC midnight */
    READ_BAD("from", "2025-01-25T10:00:00", request_query_datetime(&r, "from", 7, &v),
             "{\"detail\":[{\"type\":\"timezone_aware\",\"loc\":[\"query\",\"from\"],"
             "\"msg\":\"Input should have timezone info\",\"input\":\"2025-01-25T10:00:00\"}]}");
}

static void test_query_text(void)
{
    const char *v = "x";
    char *big = malloc(10001);

    {
        struct request r = new_req(NULL, 0);
        CHECK_EQ_INT(request_query_text(&r, "q", 1, 200, &v), ERR_OK);
        CHECK(v == NULL);
    }
    {
        struct kv q[] = {{"q", "Stra\xc3\x9f" "e"}};
        struct request r = new_req(q, 1);
        CHECK_EQ_INT(request_query_text(&r, "q", 1, 6, &v), ERR_OK); /* 6 characters, 7 bytes */
        CHECK_EQ_STR(v, "Stra\xc3\x9f" "e");
    }
    READ_BAD("q", "", request_query_text(&r, "q", 1, 200, &v),
             "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":[\"query\",\"q\"],"
             "\"msg\":\"String should have at least 1 character\",\"input\":\"\","
             "\"ctx\":{\"min_length\":1}}]}");
    READ_BAD("q", "abcdef", request_query_text(&r, "q", 1, 5, &v),
             "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"query\",\"q\"],"
             "\"msg\":\"String should have at most 5 characters\",\"ctx\":{\"max_length\":5}}]}");
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', 10000);
        big[10000] = '\0';
        READ_BAD("q", big, request_query_text(&r, "q", 1, 200, &v),
                 "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"query\",\"q\"],"
                 "\"msg\":\"String should have at most 200 characters\","
                 "\"ctx\":{\"max_length\":200}}]}");
        big[200] = '\0';
        struct kv q[] = {{"q", big}};
        struct request r = new_req(q, 1);
        CHECK_EQ_INT(request_query_text(&r, "q", 1, 200, &v), ERR_OK);
        free(big);
    }
}

static bool inm(const char *header, const char *etag, bool star)
{
    struct request r = new_req(NULL, 0);

    r.if_none_match = header;
    return request_etag_matches(&r, etag, star);
}

static void test_etag_matches(void)
{
    CHECK(!inm(NULL, "\"abc\"", true));
    CHECK(inm("\"abc\"", "\"abc\"", false));
    CHECK(!inm("\"abd\"", "\"abc\"", false));
    CHECK(!inm("abc", "\"abc\"", false)); /* unquoted: not a tag */
    CHECK(!inm("\"abc", "\"abc\"", false));
    CHECK(inm("W/\"abc\"", "\"abc\"", false)); /* weak comparison */
    CHECK(inm("\"abc\"", "W/\"abc\"", false));
    CHECK(inm("W/\"abc\"", "W/\"abc\"", false));
    CHECK(inm("\"x\", \"abc\"", "\"abc\"", false));
    CHECK(inm("\"x\",W/\"abc\" , \"y\"", "\"abc\"", false));
    CHECK(inm("  \"abc\"  ", "\"abc\"", false));
    CHECK(!inm("\"ab,c\"", "\"abc\"", false));
    CHECK(inm("\"ab,c\", \"abc\"", "\"abc\"", false)); /* a comma inside a tag */
    CHECK(!inm("\"abcd\"", "\"abc\"", false));
    CHECK(!inm("\"ab\"", "\"abc\"", false));
    CHECK(inm("*", "\"abc\"", true));
    CHECK(!inm("*", "\"abc\"", false));
    CHECK(!inm("", "\"abc\"", true));
    CHECK(!inm(",,,", "\"abc\"", true));
    CHECK(!inm("W/", "\"abc\"", true));
    CHECK(!inm("\"abc\"", "abc", true)); /* our own tag malformed: never a match */
}

int main(void)
{
    arena = arena_new();
    CHECK(arena != NULL);
    if (!arena)
        return 1;
    test_query_lookup();
    test_query_int();
    test_invalid_utf8_input();
    test_form_text();
    test_form_uuid();
    test_errors();
    test_json_body();
    test_query_bool();
    test_query_choice();
    test_query_datetime();
    test_query_text();
    test_etag_matches();
    arena_free(arena);
    return check_summary("request");
}
