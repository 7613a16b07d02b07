/*
 * handlers.h - the route table and its handlers. A handler parses its request,
 * calls the app's operations, and fills the response; it never sees the HTTP
 * library, SQL or a storage protocol. On error it returns the code (with a detail
 * set through request_fail/request_invalid) and http/request.c renders it.
 */
#pragma once

#include "http/router.h"

extern const struct route routes[];
extern const size_t n_routes;

/* drawings.c */
enum err handle_drawing_create(struct request *req, struct response *res);
enum err handle_drawing_get(struct request *req, struct response *res);
enum err handle_drawing_delete(struct request *req, struct response *res);
enum err handle_gallery(struct request *req, struct response *res);
enum err handle_stats(struct request *req, struct response *res);
enum err handle_export(struct request *req, struct response *res);
/* The gallery's query arguments (SPEC §5, §11: page, limit and the filters), every bad
 * one reported at once (ERR_VALIDATION); pure (tests/fuzz/fuzz_query.c). */
struct gallery_filter;
enum err handlers_gallery_args(struct request *req, int64_t *page, int64_t *limit,
                               struct gallery_filter *f, char tutorial[ID_UUID_LEN]);

/* edits.c */
enum err handle_edit_image(struct request *req, struct response *res);
enum err handle_edit_image_with_audio(struct request *req, struct response *res);
enum err handle_drawing_edit(struct request *req, struct response *res);

/* tutorials.c */
enum err handle_tutorials_list(struct request *req, struct response *res);

/* media.c */
enum err handle_media(struct request *req, struct response *res);
enum err handle_media_pending(struct request *req, struct response *res);

/* accounts.c */
enum err handle_auth_register(struct request *req, struct response *res);
enum err handle_auth_login(struct request *req, struct response *res);
enum err handle_auth_refresh(struct request *req, struct response *res);
enum err handle_auth_logout(struct request *req, struct response *res);
enum err handle_auth_me(struct request *req, struct response *res);
enum err handle_auth_password(struct request *req, struct response *res);
enum err handle_auth_delete(struct request *req, struct response *res);
/* the web app's cookie session (docs/web.md) */
enum err handle_auth_session(struct request *req, struct response *res);
enum err handle_auth_session_refresh(struct request *req, struct response *res);
enum err handle_auth_session_delete(struct request *req, struct response *res);
/* manage.c */
enum err handle_drawing_download(struct request *req, struct response *res);
enum err handle_drawings_bulk_delete(struct request *req, struct response *res);
/* shares.c */
enum err handle_share_create(struct request *req, struct response *res);
enum err handle_share_list(struct request *req, struct response *res);
enum err handle_share_revoke(struct request *req, struct response *res);
enum err handle_shared_get(struct request *req, struct response *res);
enum err handle_share_page(struct request *req, struct response *res);

/* web.c: the embedded web app, OpenAPI document and Swagger UI */
enum err handle_web_index(struct request *req, struct response *res);
enum err handle_web_asset(struct request *req, struct response *res);
enum err handle_openapi(struct request *req, struct response *res);
enum err handle_docs(struct request *req, struct response *res);
/* The Content-Security-Policy of every page we serve (SPEC §13), in req's arena;
 * NULL for no memory. */
const char *web_csp(struct request *req);

/* health.c */
enum err handle_health(struct request *req, struct response *res);
/* metrics.c: GET /metrics (SPEC §14) */
enum err handle_metrics(struct request *req, struct response *res);
