/*
 * routes.c - every route of the API, in matching order: literal paths before
 * parameterised ones. The one place to look up which code answers a URL.
 */
#include "handlers/handlers.h"

const struct route routes[] = {
    {HTTP_GET, "/health", handle_health, false, BODY_NONE},
    /* the embedded web app, API document and Swagger UI (web.c) */
    {HTTP_GET, "/", handle_web_index, false, BODY_NONE},
    {HTTP_GET, "/assets/{path*}", handle_web_asset, false, BODY_NONE},
    {HTTP_GET, "/openapi.json", handle_openapi, false, BODY_NONE},
    {HTTP_GET, "/docs", handle_docs, false, BODY_NONE},
    {HTTP_GET, "/docs/{path*}", handle_web_asset, false, BODY_NONE},
    {HTTP_GET, "/metrics", handle_metrics, false, BODY_NONE}, /* METRICS_TOKEN: its own check */
    {HTTP_GET, "/media/pending/{key*}", handle_media_pending, false, BODY_NONE},
    {HTTP_GET, "/media/{key*}", handle_media, false, BODY_NONE},
    {HTTP_POST, "/api/auth/register", handle_auth_register, false, BODY_JSON},
    {HTTP_POST, "/api/auth/login", handle_auth_login, false, BODY_JSON},
    {HTTP_POST, "/api/auth/refresh", handle_auth_refresh, false, BODY_JSON},
    {HTTP_POST, "/api/auth/logout", handle_auth_logout, false, BODY_JSON},
    {HTTP_POST, "/api/auth/session", handle_auth_session, false, BODY_JSON},
    {HTTP_POST, "/api/auth/session/refresh", handle_auth_session_refresh, false, BODY_NONE},
    {HTTP_DELETE, "/api/auth/session", handle_auth_session_delete, false, BODY_NONE},
    {HTTP_POST, "/api/auth/password", handle_auth_password, true, BODY_JSON},
    {HTTP_GET, "/api/auth/me", handle_auth_me, true, BODY_NONE},
    {HTTP_DELETE, "/api/auth/me", handle_auth_delete, true, BODY_JSON},
    {HTTP_GET, "/api/tutorials", handle_tutorials_list, true, BODY_NONE},
    {HTTP_GET, "/api/drawings/gallery", handle_gallery, true, BODY_NONE},
    {HTTP_GET, "/api/drawings/stats/summary", handle_stats, true, BODY_NONE},
    {HTTP_POST, "/api/drawings", handle_drawing_create, true, BODY_IMAGE,
     .guard = ROUTE_IDEMPOTENT},
    {HTTP_POST, "/api/edit-image", handle_edit_image, true, BODY_IMAGE,
     .guard = ROUTE_RATE_LIMITED | ROUTE_IDEMPOTENT},
    {HTTP_POST, "/api/edit-image-with-audio", handle_edit_image_with_audio, true,
     BODY_IMAGE_AUDIO, .guard = ROUTE_RATE_LIMITED | ROUTE_IDEMPOTENT},
    {HTTP_POST, "/api/drawings/bulk-delete", handle_drawings_bulk_delete, true, BODY_JSON,
     .guard = ROUTE_IDEMPOTENT},
    {HTTP_GET, "/api/drawings/export", handle_export, true, BODY_NONE}, /* streamed ZIP */
    {HTTP_GET, "/api/drawings/{drawing_id}/download", handle_drawing_download, true, BODY_NONE},
    {HTTP_POST, "/api/drawings/{drawing_id}/edits", handle_drawing_edit, true, BODY_AUDIO,
     .guard = ROUTE_RATE_LIMITED | ROUTE_IDEMPOTENT},
    {HTTP_GET, "/api/drawings/{drawing_id}", handle_drawing_get, true, BODY_NONE},
    {HTTP_DELETE, "/api/drawings/{drawing_id}", handle_drawing_delete, true, BODY_NONE},
    /* share links (SPEC §11): the two public views need no token; a token's path is
     * logged as its pattern, never with the token */
    {HTTP_POST, "/api/drawings/{drawing_id}/share", handle_share_create, true, BODY_JSON},
    {HTTP_GET, "/api/drawings/{drawing_id}/shares", handle_share_list, true, BODY_NONE},
    {HTTP_DELETE, "/api/shares/{token}", handle_share_revoke, true, BODY_NONE, true},
    {HTTP_GET, "/api/shared/{token}", handle_shared_get, false, BODY_NONE, true},
    {HTTP_GET, "/s/{token}", handle_share_page, false, BODY_NONE, true},
};

const size_t n_routes = sizeof(routes) / sizeof(routes[0]);
