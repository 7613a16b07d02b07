/*
 * test_json.c - the API's JSON shapes, validation lists and pagination arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "app.h"
#include "check.h"
#include "drawings.h"
#include "http/request.h"
#include "http/router.h"

static struct config cfg;

/* An app with only what drawings_url() reads: the config and local storage. */
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

static char *gallery_text(const struct drawing *ds, size_t n, int64_t total, int64_t page,
                          int64_t limit, struct app *s, struct arena *a)
{
    struct jsonw w;
    jsonw_init(&w, 16); /* tiny, so growth is exercised */
    api_json_gallery(&w, ds, n, total, page, limit, s, a);
    return jsonw_finish(&w, NULL);
}

static char *drawing_text(const struct drawing *d, struct app *s, struct arena *a)
{
    struct jsonw w;
    jsonw_init(&w, 16);
    api_json_drawing(&w, d, s, a);
    return jsonw_finish(&w, NULL);
}

static void test_writer(void)
{
    struct jsonw w;
    char *got;
    size_t len = 0;

    jsonw_init(&w, 8);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "q\"k", "a\"b\\c\n\t\r\x01/\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xa8");
    jsonw_kv_str(&w, "bad", "x\xff\xc3(\xed\xa0\x80y"); /* invalid UTF-8, a surrogate */
    jsonw_kv_int(&w, "n", -9007199254740993LL);
    jsonw_key(&w, "l");
    jsonw_arr_begin(&w);
    jsonw_null(&w);
    jsonw_bool(&w, false);
    jsonw_arr_begin(&w);
    jsonw_arr_end(&w);
    jsonw_obj_begin(&w);
    jsonw_obj_end(&w);
    jsonw_arr_end(&w);
    jsonw_kv_str(&w, "z", NULL);
    jsonw_obj_end(&w);
    got = jsonw_finish(&w, &len);
    CHECK_EQ_STR(got,
                 "{\"q\\\"k\":\"a\\\"b\\\\c\\n\\t\\r\\u0001/\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xa8\","
                 "\"bad\":\"x\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy\","
                 "\"n\":-9007199254740993,\"l\":[null,false,[],{}],\"z\":null}");
    CHECK_EQ_INT(len, got ? strlen(got) : 0);
    {
        json_error_t err;
        json_t *parsed = got ? json_loads(got, 0, &err) : NULL; /* jansson agrees it is JSON */
        CHECK(parsed != NULL);
        json_decref(parsed);
    }
    free(got);

    /* misuse ends in NULL, never in broken JSON */
    jsonw_init(&w, 8);
    jsonw_obj_begin(&w);
    CHECK(jsonw_finish(&w, NULL) == NULL); /* unclosed */
    jsonw_init(&w, 8);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "k");
    jsonw_obj_end(&w); /* key without value */
    CHECK(jsonw_finish(&w, NULL) == NULL);
    jsonw_init(&w, 8);
    jsonw_arr_end(&w);
    CHECK(jsonw_finish(&w, NULL) == NULL);
    jsonw_init(&w, 8);
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++)
        jsonw_arr_begin(&w);
    CHECK(jsonw_finish(&w, NULL) == NULL);
}

static void test_drawing(struct app *s, struct arena *a)
{
    struct edit e = {.image_key = "users/u/edited/e.png",
                     .thumbnail_key = "users/u/thumbnail/e.webp",
                     .prompt = "make it \"pop\"",
                     .source = "text",
                     .applied = "black and white, blur",
                     .ignored = "cat",
                     .created_at = 1737815423000LL};
    struct drawing d = {.id = "550e8400-e29b-41d4-a716-446655440000",
                        .user_id = "550e8400-e29b-41d4-a716-446655440001",
                        .tutorial_id = NULL,
                        .original_key = "users/u/original/o.png",
                        .thumbnail_key = "users/u/thumbnail/o.webp",
                        .created_at = 1737815422123LL,
                        .updated_at = 1737815423000LL,
                        .edits = &e,
                        .n_edits = 1};
    char *got = drawing_text(&d, s, a);

    CHECK_EQ_STR(got,
                 "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\","
                 "\"user_id\":\"550e8400-e29b-41d4-a716-446655440001\","
                 "\"tutorial_id\":null,"
                 "\"uploaded_image_url\":\"http://127.0.0.1:8000/media/users/u/original/o.png\","
                 "\"edited_images_urls\":[\"http://127.0.0.1:8000/media/users/u/edited/e.png\"],"
                 "\"created_at\":\"2025-01-25T14:30:22.123Z\","
                 "\"updated_at\":\"2025-01-25T14:30:23.000Z\","
                 "\"thumbnail_url\":\"http://127.0.0.1:8000/media/users/u/thumbnail/o.webp\","
                 "\"edits\":[{\"url\":\"http://127.0.0.1:8000/media/users/u/edited/e.png\","
                 "\"thumbnail_url\":\"http://127.0.0.1:8000/media/users/u/thumbnail/e.webp\","
                 "\"prompt\":\"make it \\\"pop\\\"\",\"source\":\"text\","
                 "\"applied\":[\"black and white\",\"blur\"],\"ignored\":\"cat\","
                 "\"created_at\":\"2025-01-25T14:30:23.000Z\"}]}");
    free(got);

    got = gallery_text(&d, 0, 15, 2, 20, s, a);
    CHECK_EQ_STR(got, "{\"success\":true,\"data\":[],\"count\":15,\"page\":2,\"limit\":20}");
    free(got);
}

/* Images storage refused: served by the server until stored, inline only on request. */
static void test_pending_urls(struct app *s, struct arena *a)
{
    unsigned char png[] = {0x89, 'P', 'N', 'G'};
    struct ingest_result img = {.png = png, .png_len = sizeof(png)};
    const char *key = "users/u/edited/e.png";

    CHECK_EQ_STR(drawings_url(s, key, false, NULL, a),
                 "http://127.0.0.1:8000/media/users/u/edited/e.png");
    CHECK_EQ_STR(drawings_url(s, key, true, NULL, a),
                 "http://127.0.0.1:8000/media/pending/users/u/edited/e.png");
    CHECK_EQ_STR(drawings_url(s, key, true, &img, a), "data:image/png;base64,iVBORw==");
    /* a stored image is never inlined, even when its bytes are at hand */
    CHECK_EQ_STR(drawings_url(s, key, false, &img, a),
                 "http://127.0.0.1:8000/media/users/u/edited/e.png");
    CHECK(drawings_url(s, NULL, true, &img, a) == NULL);
}

static void test_small_shapes(void)
{
    struct drawing_stats st = {15, 12, 5};
    struct tutorial t = {
        .id = "550e8400-e29b-41d4-a716-446655440009", .title = "Cats", .created_at = 0};
    struct jsonw w;
    char *got;

    jsonw_init(&w, 16);
    api_json_stats(&w, &st);
    got = jsonw_finish(&w, NULL);

    CHECK_EQ_STR(got, "{\"success\":true,\"total_drawings\":15,\"edited_drawings\":12,"
                      "\"tutorial_drawings\":5}");
    free(got);
    jsonw_init(&w, 16);
    api_json_tutorials(&w, &t, 1);
    got = jsonw_finish(&w, NULL);
    CHECK_EQ_STR(
        got, "{\"success\":true,\"data\":[{\"id\":\"550e8400-e29b-41d4-a716-"
             "446655440009\",\"title\":\"Cats\",\"created_at\":\"1970-01-01T00:00:00.000Z\"}]}");
    free(got);
}

static void test_pagination(void)
{
    CHECK_EQ_INT(api_page_offset(1, 20), 0);
    CHECK_EQ_INT(api_page_offset(2, 20), 20);
    CHECK_EQ_INT(api_page_offset(3, 100), 200);
    CHECK_EQ_INT(api_page_offset(0, 20), -1);
    CHECK_EQ_INT(api_page_offset(1, 0), -1);
    CHECK_EQ_INT(api_page_offset(INT64_MAX, 100), -1); /* no overflow */
    CHECK_EQ_INT(api_page_offset(INT64_MAX / 100, 100), (INT64_MAX / 100 - 1) * 100);
}

static void test_validation(struct arena *a)
{
    struct kv q[] = {{"page", "0"}, {"limit", "abc"}, {"x", "1"}};
    struct request req = {.arena = a, .query = q, .n_query = 3};
    struct response res = {.fd = -1};
    int64_t page = -7, limit = -7, other;
    char id[ID_UUID_LEN];

    CHECK_EQ_INT(request_query_int(&req, "page", 1, 1, INT64_MAX, &page), ERR_VALIDATION);
    CHECK_EQ_INT(request_query_int(&req, "limit", 20, 1, 100, &limit), ERR_VALIDATION);
    CHECK_EQ_INT(page, -7); /* out-parameters untouched on error */
    CHECK_EQ_INT(request_query_int(&req, "missing", 20, 1, 100, &other), ERR_OK);
    CHECK_EQ_INT(other, 20);
    response_error(&req, &res, ERR_VALIDATION);
    CHECK_EQ_INT(res.status, 422);
    CHECK_EQ_STR(res.body,
                 "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"query\",\"page\"],"
                 "\"msg\":\"Input should be greater than or equal to 1\",\"input\":\"0\","
                 "\"ctx\":{\"ge\":1}},"
                 "{\"type\":\"int_parsing\",\"loc\":[\"query\",\"limit\"],"
                 "\"msg\":\"Input should be a valid integer, unable to parse string as an "
                 "integer\",\"input\":\"abc\"}]}");
    free(res.body);
    json_decref(req.error_list);

    {
        struct kv q2[] = {{"limit", "101"}, {"page", " 3 "}, {"p2", "1.5"}};
        struct request r2 = {.arena = a, .query = q2, .n_query = 3};
        CHECK_EQ_INT(request_query_int(&r2, "limit", 20, 1, 100, &limit), ERR_VALIDATION);
        CHECK_EQ_INT(request_query_int(&r2, "page", 1, 1, INT64_MAX, &page), ERR_OK);
        CHECK_EQ_INT(page, 3);
        CHECK_EQ_INT(request_query_int(&r2, "p2", 1, 1, 10, &other), ERR_VALIDATION);
        CHECK_EQ_INT(json_array_size(r2.error_list), 2);
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r2.error_list, 0), "type")),
                     "less_than_equal");
        CHECK_EQ_INT(request_uuid(&r2, "path", "drawing_id", "stats", id), ERR_VALIDATION);
        CHECK_EQ_INT(
            request_uuid(&r2, "path", "drawing_id", "550E8400-E29B-41D4-A716-446655440000", id),
            ERR_OK);
        CHECK_EQ_STR(id, "550e8400-e29b-41d4-a716-446655440000");
        json_decref(r2.error_list);
    }
    {
        struct request r3 = {.arena = a};
        struct response res3 = {.fd = -1};
        response_error(&r3, &res3, request_fail(&r3, ERR_NOT_FOUND, "Drawing not found"));
        CHECK_EQ_INT(res3.status, 404);
        CHECK_EQ_STR(res3.body, "{\"detail\":\"Drawing not found\"}");
        free(res3.body);
        res3.body = NULL;
        r3.error_detail = NULL;
        response_error(&r3, &res3, ERR_UNAUTHORIZED);
        CHECK_EQ_INT(res3.status, 401);
        CHECK_EQ_STR(res3.headers[0].name, "WWW-Authenticate");
        free(res3.body);
        res3.body = NULL;
        res3.n_headers = 0;
        r3.error_detail = "select * from secrets"; /* a 500 never shows a detail */
        response_error(&r3, &res3, ERR_INTERNAL);
        CHECK_EQ_STR(res3.body, "{\"detail\":\"Internal Server Error\"}");
        free(res3.body);
    }
}

static enum err h(struct request *req, struct response *res)
{
    (void)req;
    (void)res;
    return ERR_OK;
}

static void test_router(struct arena *a)
{
    static const struct route rt[] = {
        {HTTP_GET, "/api/drawings/gallery", h, true, BODY_NONE},
        {HTTP_GET, "/api/drawings/stats/summary", h, true, BODY_NONE},
        {HTTP_POST, "/api/drawings", h, true, BODY_IMAGE},
        {HTTP_GET, "/api/drawings/{drawing_id}", h, true, BODY_NONE},
        {HTTP_DELETE, "/api/drawings/{drawing_id}", h, true, BODY_NONE},
        {HTTP_GET, "/media/{key*}", h, false, BODY_NONE},
    };
    struct route_match m;

    router_match(rt, 6, HTTP_GET, "/api/drawings/stats/summary", a, &m);
    CHECK(m.route == &rt[1]);
    router_match(rt, 6, HTTP_GET, "/api/drawings/abc", a, &m);
    CHECK(m.route == &rt[3]);
    CHECK_EQ_STR(m.params[0], "abc");
    router_match(rt, 6, HTTP_DELETE, "/api/drawings/abc", a, &m);
    CHECK(m.route == &rt[4]);
    router_match(rt, 6, HTTP_PUT, "/api/drawings/abc", a, &m);
    CHECK(m.route == NULL && m.path_known);
    CHECK_EQ_STR(m.allow, "GET, HEAD, DELETE");
    router_match(rt, 6, HTTP_GET, "/api/drawings", a, &m);
    CHECK(m.route == NULL && m.path_known);
    CHECK_EQ_STR(m.allow, "POST");
    router_match(rt, 6, HTTP_GET, "/api/drawings/", a, &m);
    CHECK(m.route == NULL && !m.path_known);
    router_match(rt, 6, HTTP_GET, "/api/drawings/a/b", a, &m);
    CHECK(m.route == NULL && !m.path_known);
    router_match(rt, 6, HTTP_HEAD, "/media/users/x/a.png", a, &m);
    CHECK(m.route == &rt[5]);
    CHECK_EQ_STR(m.params[0], "users/x/a.png");
    router_match(rt, 6, HTTP_GET, "/media/", a, &m);
    CHECK(m.route == NULL);
    router_match(rt, 6, HTTP_GET, "nope", a, &m);
    CHECK(m.route == NULL);
}

int main(void)
{
    char dir[] = "/tmp/novadraw-json-XXXXXX";
    struct arena *a = arena_new();
    struct app *s;

    CHECK(mkdtemp(dir) != NULL);
    s = local_app(dir);
    test_writer();
    test_drawing(s, a);
    test_pending_urls(s, a);
    test_small_shapes();
    test_pagination();
    test_validation(a);
    test_router(a);
    storage_close(s->storage);
    arena_free(a);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        CHECK_EQ_INT(system(cmd), 0);
    }
    return check_summary("json");
}
