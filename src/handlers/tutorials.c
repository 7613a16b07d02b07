/*
 * tutorials.c - GET /api/tutorials: the operator's catalogue, oldest first.
 */
#include "handlers/handlers.h"

#include "api_json.h"
#include "app.h"

enum err handle_tutorials_list(struct request *req, struct response *res)
{
    struct tutorial *ts = NULL;
    size_t n = 0;
    struct jsonw w;
    enum err rc = db_tutorial_list(req->app->db, req->arena, &ts, &n);

    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 256 + n * 128);
    api_json_tutorials(&w, ts, n);
    return response_jsonw(res, 200, &w);
}
