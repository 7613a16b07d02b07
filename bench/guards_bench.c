/*
 * guards_bench.c - the database cost of SPEC §14's guards per edit, as the server pays
 * it: a rate-limit check (ratelimit_edit: one upsert), and an idempotency key's claim,
 * stored answer and replay (db_idem_claim, db_idem_complete; a replay is a claim that
 * reads the row). Configuration (DATABASE_URL, DATA_DIR) comes from the environment, as
 * for the server; migrates first. One thread; prints microseconds per operation.
 *   guards_bench [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "ratelimit.h"
#include "util/arena.h"
#include "util/id.h"
#include "util/timefmt.h"

static double us_per(int64_t t0, long n)
{
    return (double)(time_mono_ns() - t0) / 1e3 / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 500;
    struct config cfg;
    struct config_env *env = NULL;
    struct app app = {0};
    struct arena *a = NULL;
    struct ratelimit rl;
    struct db_idem row;
    char user[ID_UUID_LEN], key[32];
    const char *body = "{\"success\":\"true\",\"prompt\":\"make it black and white\","
                       "\"result_image\":\"http://127.0.0.1:8000/media/users/x/edited/y.png\"}";
    int64_t t0, now = time_now_ms();
    int status = 1;

    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: guards_bench [N]\n");
        return 2;
    }
    env = config_env_open(".env", stderr);
    if (!env || config_load(&cfg, config_env_get, env, stderr) != 0)
        goto out_env;
    cfg.rate_limit_edits = 1000000000L; /* never refused: every check is a full one */
    app.cfg = &cfg;
    a = arena_new();
    if (!a || db_open(&cfg, &app.db) != ERR_OK || db_migrate(app.db) != ERR_OK ||
        !id_uuid_new(user) || db_user_ensure(app.db, user) != ERR_OK)
        goto out;

    t0 = time_mono_ns();
    for (long i = 0; i < n; i++) {
        if (ratelimit_edit(&app, user, time_now_ms(), &rl) != ERR_OK)
            goto out;
    }
    printf("%s: rate-limit check       %8.1f us\n", db_name(app.db), us_per(t0, n));

    t0 = time_mono_ns();
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "bench-%ld", i);
        if (db_idem_claim(app.db, user, key, "fp", "owner", now, now + 600000, now - 86400000, a,
                          &row) != ERR_OK ||
            db_idem_complete(app.db, user, key, "owner", 200, "application/json", "", body) !=
                ERR_OK)
            goto out;
    }
    printf("%s: key claim + answer     %8.1f us\n", db_name(app.db), us_per(t0, n));

    t0 = time_mono_ns();
    for (long i = 0; i < n; i++) {
        bool seen = false;
        snprintf(key, sizeof(key), "bench-%ld", i);
        if (db_idem_exists(app.db, user, key, now - 86400000, &seen) != ERR_OK || !seen ||
            db_idem_claim(app.db, user, key, "fp", "other", now, now + 600000, now - 86400000, a,
                          &row) != ERR_CONFLICT)
            goto out;
    }
    printf("%s: replay (seen + claim)  %8.1f us\n", db_name(app.db), us_per(t0, n));
    status = 0;
out:
    if (status)
        fprintf(stderr, "guards_bench: a database call failed\n");
    db_close(app.db);
    arena_free(a);
    config_free(&cfg);
out_env:
    config_env_close(env);
    return status;
}
