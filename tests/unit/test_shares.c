/*
 * test_shares.c - share links' pieces that need no server: the HTML escaper, tokens
 * (form, randomness, hash), the share page (escaping, meta tags, no owner), the
 * public drawing JSON, and request_body_int's pydantic rules.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_json.h"
#include "app.h"
#include "check.h"
#include "http/request.h"
#include "share_page.h"
#include "shares.h"
#include "util/html.h"

static char *escaped(const char *s)
{
    struct buf b = {0};

    CHECK(html_escape(&b, s));
    return buf_take(&b);
}

static void test_html_escape(void)
{
    char *t;
    struct buf b = {.max = 8};

    t = escaped("<script>alert(\"x\" & 'y')</script>");
    CHECK_EQ_STR(t, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
    free(t);
    t = escaped("plain text, caf\xc3\xa9");
    CHECK_EQ_STR(t, "plain text, caf\xc3\xa9");
    free(t);
    t = escaped("&amp;");
    CHECK_EQ_STR(t, "&amp;amp;"); /* escaped again, never trusted as a reference */
    free(t);
    t = escaped("");
    CHECK_EQ_STR(t, "");
    free(t);
    t = escaped(NULL);
    CHECK_EQ_STR(t, "");
    free(t);
    /* past the buffer's max: failed, not cut silently */
    CHECK(!html_escape(&b, "<<<"));
    CHECK(b.failed);
    buf_free(&b);
}

static void test_tokens(void)
{
    char a[SHARES_TOKEN_LEN + 1], b[SHARES_TOKEN_LEN + 1];
    unsigned char h1[DB_SHARE_HASH_LEN], h2[DB_SHARE_HASH_LEN];
    /* SHA-256("abc") */
    static const unsigned char abc[DB_SHARE_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    char long_token[200];

    CHECK(shares_token_new(a));
    CHECK(shares_token_new(b));
    CHECK_EQ_INT(strlen(a), SHARES_TOKEN_LEN);
    CHECK(shares_token_valid(a));
    CHECK(shares_token_valid(b));
    CHECK(strcmp(a, b) != 0);
    CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          SHARES_TOKEN_LEN);

    CHECK(!shares_token_valid(NULL));
    CHECK(!shares_token_valid(""));
    CHECK(!shares_token_valid("short"));
    memcpy(long_token, a, SHARES_TOKEN_LEN);
    long_token[SHARES_TOKEN_LEN] = 'A';
    long_token[SHARES_TOKEN_LEN + 1] = '\0';
    CHECK(!shares_token_valid(long_token)); /* 44 characters */
    long_token[SHARES_TOKEN_LEN - 1] = '\0';
    CHECK(!shares_token_valid(long_token)); /* 42 */
    memcpy(long_token, a, SHARES_TOKEN_LEN + 1);
    long_token[5] = '=';
    CHECK(!shares_token_valid(long_token));
    long_token[5] = '/';
    CHECK(!shares_token_valid(long_token));
    long_token[5] = '+';
    CHECK(!shares_token_valid(long_token));
    long_token[5] = '.';
    CHECK(!shares_token_valid(long_token));
    long_token[5] = '\xc3';
    CHECK(!shares_token_valid(long_token));

    shares_token_hash("abc", h1);
    CHECK(memcmp(h1, abc, sizeof(abc)) == 0);
    shares_token_hash(a, h1);
    shares_token_hash(a, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) == 0);
    shares_token_hash(b, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);
}

static struct config cfg;

static struct app *local_app(char *dir)
{
    static struct app app;

    cfg.data_dir = dir;
    cfg.public_base_url = "http://127.0.0.1:8000";
    cfg.storage_kind = STORAGE_LOCAL;
    app.cfg = &cfg;
    CHECK_EQ_INT(storage_open(&cfg, NULL, &app.storage), ERR_OK);
    return &app;
}

static void test_page(struct app *app, struct arena *a)
{
    const char *uid = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    struct edit e[2] = {
        {.image_key = "users/6f9619ff-8b86-d011-b42d-00c04fc964ff/edited/1.png",
         .prompt = "first",
         .source = "text"},
        {.image_key = "users/6f9619ff-8b86-d011-b42d-00c04fc964ff/edited/2.png",
         .prompt = "make it \"<b>bold</b>\" & 'loud'",
         .source = "text"},
    };
    struct drawing d = {
        .id = "11111111-2222-4333-8444-555555555555",
        .original_key = "users/6f9619ff-8b86-d011-b42d-00c04fc964ff/original/o.png",
        .edits = e,
        .n_edits = 2,
    };
    size_t len = 0;
    char *html, *title, *t;
    struct jsonw w;
    char long_prompt[400];

    memcpy(d.user_id, uid, ID_UUID_LEN);
    html = share_page_html(app, &d, "http://127.0.0.1:8000/s/tok<en>", a, &len);
    CHECK(html != NULL);
    if (html) {
        CHECK_EQ_INT(strlen(html), len);
        CHECK(strstr(html, "<meta property=\"og:title\" content=\"make it &quot;&lt;b&gt;bold"
                           "&lt;/b&gt;&quot; &amp; &#39;loud&#39;\">") != NULL);
        CHECK(strstr(html, "<meta property=\"og:image\" content=\"http://127.0.0.1:8000/media/"
                           "users/6f9619ff-8b86-d011-b42d-00c04fc964ff/edited/2.png\">") != NULL);
        CHECK(strstr(html, "<meta name=\"twitter:card\" content=\"summary_large_image\">") != NULL);
        CHECK(strstr(html, "content=\"http://127.0.0.1:8000/s/tok&lt;en&gt;\"") != NULL);
        CHECK(strstr(html, "<b>bold") == NULL); /* nothing of the prompt unescaped */
        CHECK(strstr(html, "/original/o.png") != NULL);
        /* one script, the web app's own, from this server's versioned assets */
        CHECK(strstr(html, "<script type=\"module\" src=\"/assets/") != NULL);
        CHECK(strstr(strstr(html, "<script") + 1, "<script") == NULL);
        /* the owner's id only inside image keys (SPEC §11's one exception) */
        for (const char *p = strstr(html, uid); p; p = strstr(p + 1, uid))
            CHECK(p - html >= 6 && strncmp(p - 6, "users/", 6) == 0);
        free(html);
    }

    /* no edits: the original is the image, a fixed title */
    d.n_edits = 0;
    html = share_page_html(app, &d, "http://x/s/t", a, &len);
    CHECK(html && strstr(html, "og:image\" content=\"http://127.0.0.1:8000/media/users/"
                               "6f9619ff-8b86-d011-b42d-00c04fc964ff/original/o.png\""));
    CHECK(html && strstr(html, "og:title\" content=\"A drawing on NovaDraw\""));
    free(html);

    /* a pending edit: its absolute /media/pending URL */
    d.n_edits = 1;
    e[0].image_pending = true;
    html = share_page_html(app, &d, "http://x/s/t", a, &len);
    CHECK(html && strstr(html, "og:image\" content=\"http://127.0.0.1:8000/media/pending/users/"));
    free(html);

    /* titles are cut on a character boundary */
    memset(long_prompt, 0, sizeof(long_prompt));
    for (int i = 0; i < 150; i++)
        memcpy(long_prompt + 2 * i, "\xc3\xa9", 2); /* é, 2 bytes each */
    e[0].prompt = long_prompt;
    title = share_page_title(&d, 90, a);
    CHECK(title && strlen(title) == 180 + 3 && strcmp(title + 180, "\xe2\x80\xa6") == 0);
    e[0].prompt = "short";
    CHECK_EQ_STR(share_page_title(&d, 90, a), "short");
    e[0].prompt = "exactly5";
    CHECK_EQ_STR(share_page_title(&d, 8, a), "exactly5");
    CHECK_EQ_STR(share_page_title(&d, 7, a), "exactly\xe2\x80\xa6");

    html = share_page_not_found(&len);
    CHECK(html && strstr(html, "Share link not found") && strlen(html) == len);
    free(html);

    /* the public JSON: the drawing without its owner */
    e[0].image_pending = false;
    jsonw_init(&w, 16);
    api_json_drawing_public(&w, &d, app, a);
    t = jsonw_finish(&w, NULL);
    CHECK(t && strstr(t, "\"user_id\"") == NULL && strstr(t, "\"updated_at\"") == NULL);
    CHECK(t && strstr(t, "\"id\":\"11111111-2222-4333-8444-555555555555\""));
    CHECK(t && strstr(t, "\"edited_images_urls\":[\"http://127.0.0.1:8000/media/users/"));
    CHECK(t && strstr(t, "\"thumbnail_url\":null"));
    CHECK(t && strstr(t, "\"created_at\":\"1970-01-01T00:00:00.000Z\""));
    free(t);
}

/* request_body_int on the member "n" of the JSON text doc; the 422 body, if any. */
static enum err body_int(const char *doc, int64_t *out, bool *present, char **rendered)
{
    struct arena *a = arena_new();
    struct request req = {.arena = a};
    struct response res = {.fd = -1};
    json_t *obj = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum err rc = request_body_int(&req, obj, "n", 60, 100, out, present);

    *rendered = NULL;
    if (rc != ERR_OK) {
        response_error(&req, &res, rc);
        *rendered = res.body;
    }
    json_decref(obj);
    json_decref(req.error_list);
    arena_free(a);
    return rc;
}

static void test_body_int(void)
{
    int64_t v = -1;
    bool present = true;
    char *r;

    CHECK_EQ_INT(body_int("{}", &v, &present, &r), ERR_OK);
    CHECK(!present);
    CHECK_EQ_INT(body_int("{\"n\": null}", &v, &present, &r), ERR_OK);
    CHECK(!present);
    CHECK_EQ_INT(body_int("{\"n\": 60}", &v, &present, &r), ERR_OK);
    CHECK(present && v == 60);
    CHECK_EQ_INT(body_int("{\"n\": 100.0}", &v, &present, &r), ERR_OK);
    CHECK(present && v == 100);
    CHECK_EQ_INT(body_int("{\"n\": \" 70 \"}", &v, &present, &r), ERR_OK);
    CHECK(present && v == 70);

    CHECK_EQ_INT(body_int("{\"n\": 59}", &v, &present, &r), ERR_VALIDATION);
    CHECK_EQ_STR(r, "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"body\",\"n\"],"
                    "\"msg\":\"Input should be greater than or equal to 60\",\"input\":59,"
                    "\"ctx\":{\"ge\":60}}]}");
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": 101}", &v, &present, &r), ERR_VALIDATION);
    CHECK_EQ_STR(r, "{\"detail\":[{\"type\":\"less_than_equal\",\"loc\":[\"body\",\"n\"],"
                    "\"msg\":\"Input should be less than or equal to 100\",\"input\":101,"
                    "\"ctx\":{\"le\":100}}]}");
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": \"abc\"}", &v, &present, &r), ERR_VALIDATION);
    CHECK_EQ_STR(r, "{\"detail\":[{\"type\":\"int_parsing\",\"loc\":[\"body\",\"n\"],"
                    "\"msg\":\"Input should be a valid integer, unable to parse string as an "
                    "integer\",\"input\":\"abc\"}]}");
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": 61.5}", &v, &present, &r), ERR_VALIDATION);
    CHECK(r && strstr(r, "\"type\":\"int_from_float\"") && strstr(r, "\"input\":61.5"));
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": [61]}", &v, &present, &r), ERR_VALIDATION);
    CHECK_EQ_STR(r, "{\"detail\":[{\"type\":\"int_type\",\"loc\":[\"body\",\"n\"],"
                    "\"msg\":\"Input should be a valid integer\",\"input\":[61]}]}");
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": {}}", &v, &present, &r), ERR_VALIDATION);
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": 1e300}", &v, &present, &r), ERR_VALIDATION);
    CHECK(r && strstr(r, "less_than_equal"));
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": -1e300}", &v, &present, &r), ERR_VALIDATION);
    CHECK(r && strstr(r, "greater_than_equal"));
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": \"99999999999999999999999\"}", &v, &present, &r),
                 ERR_VALIDATION);
    CHECK(r && strstr(r, "less_than_equal"));
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": true}", &v, &present, &r), ERR_VALIDATION);
    CHECK(r && strstr(r, "greater_than_equal")); /* true is 1, as pydantic's lax int */
    free(r);
    CHECK_EQ_INT(body_int("{\"n\": \"6\\u00000\"}", &v, &present, &r), ERR_VALIDATION);
    CHECK(r && strstr(r, "int_parsing"));
    free(r);
    CHECK_EQ_INT(v, 70); /* untouched by the failures */
}

int main(void)
{
    char dir[] = "/tmp/novadraw-test-shares-XXXXXX";
    struct arena *a = arena_new();
    struct app *app;

    test_html_escape();
    test_tokens();
    test_body_int();
    if (!mkdtemp(dir))
        return 2;
    app = local_app(dir);
    test_page(app, a);
    storage_close(app->storage);
    arena_free(a);
    rmdir(dir);
    return check_summary("shares");
}
