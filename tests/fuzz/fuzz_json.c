/*
 * fuzz_json.c - JSON request bodies as the account, share and bulk routes read them:
 * the first byte picks the Content-Type, the rest is the body, read by
 * request_json_or_form_body (JSON, or a urlencoded form for the login route), then its
 * members as text (request_json_text, secret and not) and as an integer
 * (request_body_int). Every 422 list is rendered and must be answered whole.
 */
#include "fuzz.h"
#include "http/request.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "application/json", "application/x-www-form-urlencoded", "application/merge-patch+json",
        "text/plain", NULL, "application/json; charset=utf-8", "APPLICATION/JSON ;x",
        "application/x-www-form-urlencoded ; charset=x"};
    struct request req = {0};
    struct response res = {.fd = -1};
    json_t *doc = NULL;
    const char *text;
    size_t len;
    int64_t n;
    bool present;
    unsigned char *body = NULL;
    enum err rc;

    if (size == 0)
        return 0;
    req.arena = arena_new();
    body = (unsigned char *)fuzz_strndup(data + 1, size - 1); /* NUL-terminated, as server.c's */
    if (!req.arena || !body)
        goto out;
    req.content_type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    req.body = size > 1 ? body : NULL;
    req.body_len = size - 1;
    rc = request_json_or_form_body(&req, &doc);
    if (rc == ERR_OK) {
        if (!json_is_object(doc))
            abort();
        request_json_text(&req, doc, "email", true, 1, 320, false, &text, &len);
        request_json_text(&req, doc, "password", true, 8, 128, true, &text, &len);
        request_json_text(&req, doc, "name", false, 0, 3, false, &text, &len);
        request_body_int(&req, doc, "expires_in", 60, 31536000, &n, &present);
        rc = req.error_list ? ERR_VALIDATION : ERR_OK;
    }
    if (rc != ERR_OK) {
        response_error(&req, &res, rc);
        if (rc == ERR_VALIDATION && res.status != 422)
            abort(); /* every 422 list must be answered whole */
    }
out:
    json_decref(doc);
    json_decref(req.error_list);
    free(res.body);
    free(body);
    arena_free(req.arena);
    return 0;
}
