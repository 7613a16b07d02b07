/*
 * health.c - GET /health: 200 {"status": "ok", "version": …} while the database answers.
 */
#include "handlers/handlers.h"

#include "app.h"

enum err handle_health(struct request *req, struct response *res)
{
    if (db_ping(req->app->db) != ERR_OK)
        return request_fail(req, ERR_UNAVAILABLE, "Database unavailable");
    return response_json(res, 200, json_pack("{s:s, s:s}", "status", "ok", "version", NOVADRAW_VERSION));
}
