/*
 * test_db.c - the database contract: every backend must pass the same checks of
 * argument handling, migrations, users, tutorials, drawings, edits, ownership,
 * counters, ordering, threads and concurrent migrators.
 *
 * SQLite always runs, on a file in a temporary directory it removes. PostgreSQL
 * runs too when NOVADRAW_TEST_DATABASE_URL names a server whose user may create
 * databases (scripts/pg.sh start gives one): the test creates two fresh databases
 * with psql and drops them afterwards. No libpq here: postgres.c is its only user.
 */
#include "db/db.h"

#include <ftw.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/words.h"

#define CHECK_OK(expr) CHECK_EQ_INT((expr), ERR_OK)
#define CHECK_ERR(expr, e) CHECK_EQ_INT((expr), (e))

#define N_DRAWINGS 25
#define BASE_MS 1700000000000LL
#define N_THREADS 4
#define PER_THREAD 50

/* ---- a model of what user A should have -------------------------------- */

struct model {
    char id[ID_UUID_LEN];
    int64_t created_at;
    bool tutorial;
    size_t n_edits;
    bool deleted;
};

static struct model model[N_DRAWINGS];

static size_t edits_for(int i)
{
    if (i % 4 == 0)
        return 2;
    if (i % 5 == 1)
        return 1;
    return 0;
}

static void new_uuid(char out[ID_UUID_LEN])
{
    if (!id_uuid_new(out)) {
        fprintf(stderr, "no randomness\n");
        exit(2);
    }
}

/* Builds drawing i of user_id in arena a, edits included. */
static void make_drawing(struct arena *a, const char *user_id, const char *id, int i,
                         const char *tutorial_id, int64_t created_at, size_t n_edits,
                         struct drawing *d)
{
    memset(d, 0, sizeof(*d));
    memcpy(d->id, id, ID_UUID_LEN);
    memcpy(d->user_id, user_id, ID_UUID_LEN);
    d->tutorial_id = tutorial_id ? arena_strdup(a, tutorial_id) : NULL;
    d->original_key = arena_printf(a, "users/%s/original/%d.png", user_id, i);
    d->thumbnail_key = arena_printf(a, "users/%s/thumb/%d.webp", user_id, i);
    d->created_at = created_at;
    d->updated_at = created_at;
    d->n_edits = n_edits;
    d->edits = n_edits ? arena_alloc(a, n_edits * sizeof(struct edit)) : NULL;
    for (size_t k = 0; k < n_edits; k++) {
        struct edit *e = &d->edits[k];
        e->image_key = arena_printf(a, "users/%s/edit/%d-%zu.png", user_id, i, k);
        e->thumbnail_key =
            k % 2 ? NULL : arena_printf(a, "users/%s/edit/%d-%zu.webp", user_id, i, k);
        e->prompt = arena_printf(a, "prompt %d.%zu", i, k);
        e->source = k % 2 ? "audio" : "text";
        e->created_at = created_at + (int64_t)k + 1;
    }
}

static int model_index(const char *id)
{
    for (int i = 0; i < N_DRAWINGS; i++) {
        if (strcmp(model[i].id, id) == 0)
            return i;
    }
    return -1;
}

/* Checks that a returned drawing matches the model, edits included. */
static void check_drawing(const struct drawing *d, const char *user_a)
{
    int i = model_index(d->id);
    char *want;

    CHECK(i >= 0);
    if (i < 0)
        return;
    CHECK_EQ_STR(d->user_id, user_a);
    CHECK_EQ_INT(d->created_at, model[i].created_at);
    CHECK_EQ_INT(d->tutorial_id != NULL, model[i].tutorial);
    CHECK_EQ_INT(d->n_edits, model[i].n_edits);
    if (asprintf(&want, "users/%s/original/%d.png", user_a, i) > 0) {
        CHECK_EQ_STR(d->original_key, want);
        free(want);
    }
    for (size_t k = 0; k < d->n_edits && k < model[i].n_edits; k++) {
        if (asprintf(&want, "prompt %d.%zu", i, k) > 0) {
            CHECK_EQ_STR(d->edits[k].prompt, want);
            free(want);
        }
        CHECK_EQ_STR(d->edits[k].source, k % 2 ? "audio" : "text");
        CHECK_EQ_INT(d->edits[k].thumbnail_key == NULL, k % 2 == 1);
        CHECK_EQ_INT(d->edits[k].created_at, model[i].created_at + (int64_t)k + 1);
    }
}

static struct drawing_stats model_stats(void)
{
    struct drawing_stats s = {0};

    for (int i = 0; i < N_DRAWINGS; i++) {
        if (model[i].deleted)
            continue;
        s.total_drawings++;
        s.edited_drawings += model[i].n_edits > 0;
        s.tutorial_drawings += model[i].tutorial;
    }
    return s;
}

static void check_stats(struct db *db, const char *user_id)
{
    struct drawing_stats got = {0}, want = model_stats();

    CHECK_OK(db_stats(db, user_id, &got));
    CHECK_EQ_INT(got.total_drawings, want.total_drawings);
    CHECK_EQ_INT(got.edited_drawings, want.edited_drawings);
    CHECK_EQ_INT(got.tutorial_drawings, want.tutorial_drawings);
}

/* ---- the parts --------------------------------------------------------- */

static void test_args(struct db *db)
{
    struct arena *a = arena_new();
    struct drawing d, *list;
    struct drawing_stats st;
    struct edit e = {.image_key = "k", .prompt = "p", .source = "text"};
    size_t n;
    int64_t total;
    char u[ID_UUID_LEN];

    new_uuid(u);
    CHECK_ERR(db_user_ensure(db, "not-a-uuid"), ERR_INVALID);
    CHECK_ERR(db_user_ensure(db, "6F9619FF-8B86-D011-B42D-00C04FC964FF"), ERR_INVALID);
    CHECK_ERR(db_user_ensure(db, NULL), ERR_INVALID);
    CHECK_ERR(db_user_ensure(NULL, u), ERR_INVALID);
    CHECK_ERR(db_drawing_get(db, u, "x", a, &d), ERR_NOT_FOUND);
    CHECK_ERR(db_drawing_get(db, "x", u, a, &d), ERR_NOT_FOUND);
    CHECK_ERR(db_drawing_get(db, u, u, NULL, &d), ERR_INVALID);
    CHECK_ERR(db_drawing_delete(db, u, "x", a, &d), ERR_NOT_FOUND);
    CHECK_ERR(db_edit_append(db, u, "x", &e, NULL, 0), ERR_NOT_FOUND);
    CHECK_ERR(db_drawing_list(db, u, 0, 0, a, &list, &n, &total), ERR_INVALID);
    CHECK_ERR(db_drawing_list(db, u, 0, 1001, a, &list, &n, &total), ERR_INVALID);
    CHECK_ERR(db_drawing_list(db, u, -1, 20, a, &list, &n, &total), ERR_INVALID);
    CHECK_ERR(db_drawing_list(db, u, 0, 20, a, NULL, &n, &total), ERR_INVALID);
    CHECK_ERR(db_tutorial_exists(db, "nope"), ERR_NOT_FOUND);
    CHECK_ERR(db_tutorial_add(db, NULL), ERR_INVALID);
    CHECK_ERR(db_stats(db, u, NULL), ERR_INVALID);
    CHECK_ERR(db_drawing_insert(db, NULL, NULL, 0), ERR_INVALID);

    /* a user never seen has nothing */
    CHECK_OK(db_stats(db, u, &st));
    CHECK_EQ_INT(st.total_drawings + st.edited_drawings + st.tutorial_drawings, 0);
    list = (struct drawing *)1;
    CHECK_OK(db_drawing_list(db, u, 0, 20, a, &list, &n, &total));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(total, 0);
    arena_free(a);
}

static void test_tutorials(struct db *db, char t_old[ID_UUID_LEN], char t_new[ID_UUID_LEN])
{
    struct arena *a = arena_new();
    struct tutorial t = {0}, *list = NULL;
    size_t n = 0;
    char missing[ID_UUID_LEN];

    new_uuid(t_old);
    new_uuid(t_new);
    new_uuid(missing);
    memcpy(t.id, t_new, ID_UUID_LEN);
    t.title = "Draw a cat";
    t.created_at = BASE_MS + 10;
    CHECK_OK(db_tutorial_add(db, &t));
    CHECK_ERR(db_tutorial_add(db, &t), ERR_CONFLICT);
    memcpy(t.id, t_old, ID_UUID_LEN);
    t.title = "Draw a dog";
    t.created_at = BASE_MS;
    CHECK_OK(db_tutorial_add(db, &t));

    CHECK_OK(db_tutorial_exists(db, t_new));
    CHECK_OK(db_tutorial_exists(db, t_old));
    CHECK_ERR(db_tutorial_exists(db, missing), ERR_NOT_FOUND);

    CHECK_OK(db_tutorial_list(db, a, &list, &n));
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_STR(list[0].id, t_old); /* oldest first */
        CHECK_EQ_STR(list[0].title, "Draw a dog");
        CHECK_EQ_INT(list[0].created_at, BASE_MS);
        CHECK_EQ_STR(list[1].id, t_new);
        CHECK_EQ_STR(list[1].title, "Draw a cat");
    }
    arena_free(a);
}

static void test_insert(struct db *db, const char *user_a, const char *tutorial)
{
    struct arena *a = arena_new();
    struct drawing d;
    char missing[ID_UUID_LEN];

    /* inserted out of order, so the gallery order must come from created_at */
    for (int k = 0; k < N_DRAWINGS; k++) {
        int i = (k * 7) % N_DRAWINGS;
        new_uuid(model[i].id);
        model[i].created_at = BASE_MS + 1000 * (int64_t)i;
        model[i].tutorial = i % 3 == 0;
        model[i].n_edits = edits_for(i);
        make_drawing(a, user_a, model[i].id, i, model[i].tutorial ? tutorial : NULL,
                     model[i].created_at, model[i].n_edits, &d);
        CHECK_OK(db_drawing_insert(db, &d, NULL, 0));
    }

    /* failures leave nothing behind */
    CHECK_ERR(db_drawing_insert(db, &d, NULL, 0), ERR_CONFLICT);
    new_uuid(missing);
    new_uuid(d.id);
    d.tutorial_id = missing;
    CHECK_ERR(db_drawing_insert(db, &d, NULL, 0), ERR_NOT_FOUND);
    d.tutorial_id = "not-a-uuid";
    CHECK_ERR(db_drawing_insert(db, &d, NULL, 0), ERR_INVALID);
    d.tutorial_id = NULL;
    make_drawing(a, user_a, d.id, 99, NULL, BASE_MS, 1, &d);
    d.edits[0].source = "video";
    CHECK_ERR(db_drawing_insert(db, &d, NULL, 0), ERR_INVALID);
    CHECK_ERR(db_drawing_get(db, user_a, d.id, a, &d), ERR_NOT_FOUND);
    check_stats(db, user_a);
    arena_free(a);
}

/* Pages of 20, 5 and 0: newest first, no duplicates, edits attached, total 25. */
static void test_list(struct db *db, const char *user_a, const char *user_b)
{
    static const int64_t offsets[] = {0, 20, 25};
    static const size_t sizes[] = {20, 5, 0};
    struct arena *a = arena_new();
    bool seen[N_DRAWINGS] = {0};
    int expect = N_DRAWINGS - 1; /* newest is the last created */

    for (size_t p = 0; p < 3; p++) {
        struct drawing *list = NULL;
        size_t n = 99;
        int64_t total = -1;

        enum err rc = db_drawing_list(db, user_a, offsets[p], 20, a, &list, &n, &total);

        CHECK_OK(rc);
        if (rc != ERR_OK)
            continue; /* out-parameters are untouched on failure */
        CHECK_EQ_INT(n, sizes[p]);
        CHECK_EQ_INT(total, N_DRAWINGS);
        for (size_t k = 0; k < n; k++) {
            int i = model_index(list[k].id);
            CHECK_EQ_INT(i, expect);
            if (i >= 0) {
                CHECK(!seen[i]);
                seen[i] = true;
            }
            check_drawing(&list[k], user_a);
            expect--;
        }
    }
    for (int i = 0; i < N_DRAWINGS; i++)
        CHECK(seen[i]);

    /* another user's gallery is empty */
    {
        struct drawing *list = NULL;
        size_t n = 99;
        int64_t total = -1;
        CHECK_OK(db_drawing_list(db, user_b, 0, 20, a, &list, &n, &total));
        CHECK_EQ_INT(n, 0);
        CHECK_EQ_INT(total, 0);
    }
    arena_free(a);
}

/* Equal created_at: the tie breaks on id, descending. */
static void test_ties(struct db *db)
{
    struct arena *a = arena_new();
    char u[ID_UUID_LEN], ids[3][ID_UUID_LEN];
    struct drawing d, *list = NULL;
    size_t n = 0;
    int64_t total = 0;

    new_uuid(u);
    CHECK_OK(db_user_ensure(db, u));
    for (int i = 0; i < 3; i++) {
        new_uuid(ids[i]);
        make_drawing(a, u, ids[i], i, NULL, BASE_MS, 0, &d);
        CHECK_OK(db_drawing_insert(db, &d, NULL, 0));
    }
    CHECK_OK(db_drawing_list(db, u, 0, 2, a, &list, &n, &total));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(total, 3);
    if (n == 2)
        CHECK(strcmp(list[0].id, list[1].id) > 0);
    arena_free(a);
}

static void test_get_delete(struct db *db, const char *user_a, const char *user_b)
{
    struct arena *a = arena_new();
    struct drawing d;
    int victim = 12; /* has a tutorial and two edits */
    const char *id = model[victim].id;

    CHECK(model[victim].tutorial && model[victim].n_edits == 2);
    CHECK_OK(db_drawing_get(db, user_a, id, a, &d));
    check_drawing(&d, user_a);
    CHECK_ERR(db_drawing_get(db, user_b, id, a, &d), ERR_NOT_FOUND);

    CHECK_ERR(db_drawing_delete(db, user_b, id, a, &d), ERR_NOT_FOUND);
    CHECK_OK(db_drawing_get(db, user_a, id, a, &d));
    check_stats(db, user_a);

    memset(&d, 0, sizeof(d));
    CHECK_OK(db_drawing_delete(db, user_a, id, a, &d));
    CHECK_EQ_STR(d.id, id);
    CHECK(d.original_key && strstr(d.original_key, "/original/12.png"));
    CHECK(d.thumbnail_key && strstr(d.thumbnail_key, "/thumb/12.webp"));
    CHECK_EQ_INT(d.n_edits, 2);
    if (d.n_edits == 2) {
        CHECK(strstr(d.edits[0].image_key, "/edit/12-0.png") != NULL);
        CHECK(strstr(d.edits[0].thumbnail_key, "/edit/12-0.webp") != NULL);
        CHECK(strstr(d.edits[1].image_key, "/edit/12-1.png") != NULL);
    }
    model[victim].deleted = true;
    CHECK_ERR(db_drawing_get(db, user_a, id, a, &d), ERR_NOT_FOUND);
    CHECK_ERR(db_drawing_delete(db, user_a, id, a, &d), ERR_NOT_FOUND);
    check_stats(db, user_a);
    arena_free(a);
}

static void test_edit_append(struct db *db, const char *user_a, const char *user_b)
{
    struct arena *a = arena_new();
    struct edit e = {.image_key = "users/a/edit/x.png", .prompt = "add a hat", .source = "text"};
    struct drawing_stats before, after;
    struct drawing d;
    int target = 2; /* no edits yet */
    const char *id = model[target].id;
    char missing[ID_UUID_LEN];

    CHECK_EQ_INT(model[target].n_edits, 0);
    CHECK_OK(db_stats(db, user_a, &before));

    e.created_at = BASE_MS + 500000;
    CHECK_OK(db_edit_append(db, user_a, id, &e, NULL, 0));
    CHECK_OK(db_stats(db, user_a, &after));
    CHECK_EQ_INT(after.edited_drawings, before.edited_drawings + 1);
    CHECK_EQ_INT(after.total_drawings, before.total_drawings);

    e.created_at = BASE_MS + 600000;
    e.source = "audio";
    e.thumbnail_key = "users/a/edit/y.webp";
    CHECK_OK(db_edit_append(db, user_a, id, &e, NULL, 0));
    CHECK_OK(db_stats(db, user_a, &after));
    CHECK_EQ_INT(after.edited_drawings, before.edited_drawings + 1);

    CHECK_ERR(db_edit_append(db, user_b, id, &e, NULL, 0), ERR_NOT_FOUND);
    new_uuid(missing);
    CHECK_ERR(db_edit_append(db, user_a, missing, &e, NULL, 0), ERR_NOT_FOUND);
    e.source = "telepathy";
    CHECK_ERR(db_edit_append(db, user_a, id, &e, NULL, 0), ERR_INVALID);

    CHECK_OK(db_drawing_get(db, user_a, id, a, &d));
    CHECK_EQ_INT(d.n_edits, 2);
    CHECK_EQ_INT(d.updated_at, BASE_MS + 600000);
    CHECK_EQ_INT(d.created_at, model[target].created_at);
    if (d.n_edits == 2) {
        CHECK_EQ_STR(d.edits[0].source, "text");
        CHECK(d.edits[0].thumbnail_key == NULL);
        CHECK_EQ_STR(d.edits[1].source, "audio");
        CHECK_EQ_STR(d.edits[1].thumbnail_key, "users/a/edit/y.webp");
    }
    model[target].n_edits = 2; /* its prompts differ from the model's: checked above */
    check_stats(db, user_a);
    arena_free(a);
}

/* Share links: created only on the owner's drawing, listed newest first with their
 * views, opened by hash (a view each, none once expired), revoked by the owner only,
 * gone with their drawing. */
static void test_shares(struct db *db, const char *user_b)
{
    struct arena *a = arena_new();
    unsigned char h[4][DB_SHARE_HASH_LEN];
    struct share s = {.token = "tok-0", .created_at = BASE_MS + 1000};
    struct share *list = NULL;
    struct drawing d, got;
    size_t n = 99;
    char owner[ID_UUID_LEN], id[ID_UUID_LEN], other[ID_UUID_LEN];

    new_uuid(owner);
    new_uuid(id);
    new_uuid(other);
    for (int i = 0; i < 4; i++)
        memset(h[i], 0xa0 + i, DB_SHARE_HASH_LEN);
    make_drawing(a, owner, id, 100, NULL, BASE_MS, 1, &d);
    CHECK_OK(db_drawing_insert(db, &d, NULL, 0));

    /* arguments */
    CHECK_ERR(db_share_add(NULL, owner, id, h[0], &s), ERR_INVALID);
    CHECK_ERR(db_share_add(db, owner, id, NULL, &s), ERR_INVALID);
    CHECK_ERR(db_share_add(db, owner, id, h[0], NULL), ERR_INVALID);
    CHECK_ERR(db_share_add(db, "x", id, h[0], &s), ERR_INVALID);
    s.expires = true;
    s.expires_at = s.created_at; /* expiring as it is made */
    CHECK_ERR(db_share_add(db, owner, id, h[0], &s), ERR_INVALID);
    s.expires = false;
    CHECK_ERR(db_share_list(db, owner, id, NULL, &list, &n), ERR_INVALID);
    CHECK_ERR(db_share_revoke(db, "x", h[0]), ERR_INVALID);
    CHECK_ERR(db_share_open(db, NULL, BASE_MS, a, &got), ERR_INVALID);

    /* only on the owner's drawing */
    CHECK_ERR(db_share_add(db, user_b, id, h[0], &s), ERR_NOT_FOUND);
    CHECK_ERR(db_share_add(db, owner, other, h[0], &s), ERR_NOT_FOUND);
    CHECK_ERR(db_share_add(db, owner, "not-a-uuid", h[0], &s), ERR_NOT_FOUND);
    CHECK_ERR(db_share_list(db, user_b, id, a, &list, &n), ERR_NOT_FOUND);
    CHECK_ERR(db_share_list(db, owner, other, a, &list, &n), ERR_NOT_FOUND);
    CHECK_ERR(db_share_list(db, owner, "x", a, &list, &n), ERR_NOT_FOUND);
    CHECK_OK(db_share_list(db, owner, id, a, &list, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_ERR(db_share_open(db, h[0], BASE_MS, a, &got), ERR_NOT_FOUND);

    /* three links: the last two made in the same millisecond; one expires */
    CHECK_OK(db_share_add(db, owner, id, h[0], &s));
    CHECK_ERR(db_share_add(db, owner, id, h[0], &s), ERR_CONFLICT); /* one link per hash */
    s = (struct share){.token = "tok-1", .created_at = BASE_MS + 2000, .expires = true,
                       .expires_at = BASE_MS + 62000};
    CHECK_OK(db_share_add(db, owner, id, h[1], &s));
    s = (struct share){.token = "tok-2", .created_at = BASE_MS + 2000};
    CHECK_OK(db_share_add(db, owner, id, h[2], &s));
    CHECK_OK(db_share_list(db, owner, id, a, &list, &n));
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(list[0].token, "tok-2");
        CHECK_EQ_STR(list[1].token, "tok-1");
        CHECK_EQ_STR(list[2].token, "tok-0");
        CHECK_EQ_INT(list[0].created_at, BASE_MS + 2000);
        CHECK(!list[0].expires && !list[2].expires);
        CHECK(list[1].expires);
        CHECK_EQ_INT(list[1].expires_at, BASE_MS + 62000);
        CHECK_EQ_INT(list[0].views + list[1].views + list[2].views, 0);
    }

    /* opening counts a view and gives the drawing, edits included */
    memset(&got, 0, sizeof(got));
    CHECK_OK(db_share_open(db, h[2], BASE_MS + 3000, a, &got));
    CHECK_EQ_STR(got.id, id);
    CHECK_EQ_STR(got.user_id, owner);
    CHECK_EQ_INT(got.n_edits, 1);
    CHECK_EQ_STR(got.original_key, d.original_key);
    CHECK_OK(db_share_open(db, h[2], BASE_MS + 3000, a, &got));
    CHECK_OK(db_share_open(db, h[1], BASE_MS + 61999, a, &got)); /* a millisecond left */
    CHECK_ERR(db_share_open(db, h[1], BASE_MS + 62000, a, &got), ERR_NOT_FOUND); /* expired */
    CHECK_ERR(db_share_open(db, h[1], BASE_MS + 99000, a, &got), ERR_NOT_FOUND);
    CHECK_ERR(db_share_open(db, h[3], BASE_MS, a, &got), ERR_NOT_FOUND); /* no such link */
    CHECK_OK(db_share_list(db, owner, id, a, &list, &n));
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(list[0].views, 2);
        CHECK_EQ_INT(list[1].views, 1); /* the expired opens counted nothing */
        CHECK_EQ_INT(list[2].views, 0);
    }

    /* revoking: the owner's only, once */
    CHECK_ERR(db_share_revoke(db, user_b, h[2]), ERR_NOT_FOUND);
    CHECK_OK(db_share_open(db, h[2], BASE_MS + 3000, a, &got));
    CHECK_OK(db_share_revoke(db, owner, h[2]));
    CHECK_ERR(db_share_revoke(db, owner, h[2]), ERR_NOT_FOUND);
    CHECK_ERR(db_share_revoke(db, owner, h[3]), ERR_NOT_FOUND);
    CHECK_ERR(db_share_open(db, h[2], BASE_MS + 3000, a, &got), ERR_NOT_FOUND);
    CHECK_OK(db_share_revoke(db, owner, h[1])); /* an expired link can be revoked */
    CHECK_OK(db_share_list(db, owner, id, a, &list, &n));
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_EQ_STR(list[0].token, "tok-0");

    /* the links go with their drawing */
    CHECK_OK(db_share_open(db, h[0], BASE_MS + 3000, a, &got));
    CHECK_OK(db_drawing_delete(db, owner, id, a, &got));
    CHECK_ERR(db_share_open(db, h[0], BASE_MS + 3000, a, &got), ERR_NOT_FOUND);
    CHECK_ERR(db_share_revoke(db, owner, h[0]), ERR_NOT_FOUND);
    CHECK_ERR(db_share_list(db, owner, id, a, &list, &n), ERR_NOT_FOUND);
    arena_free(a);
}

/* More distinct users than the cache holds, so it clears and refills. */
static void test_user_cache(struct db *db)
{
    char u[ID_UUID_LEN];
    int bad = 0;

    for (int i = 0; i < 40000; i++) {
        new_uuid(u);
        if (db_user_ensure(db, u) != ERR_OK || db_user_ensure(db, u) != ERR_OK)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- rate counts and idempotency keys (SPEC §14) ----------------------- */

struct hitter {
    pthread_t tid;
    struct db *db;
    const char *user;
    int64_t seen[PER_THREAD]; /* the counts each hit got back */
    int failures;
};

static void *hit_main(void *p)
{
    struct hitter *h = p;

    for (int i = 0; i < PER_THREAD; i++) {
        if (db_rate_hit(h->db, h->user, 42, &h->seen[i]) != ERR_OK)
            h->failures++;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* every hit counted once, from two handles at once: the counts returned are 1..N */
static void test_rate(struct db *db, struct db *db2, const char *user)
{
    struct hitter h[N_THREADS];
    int64_t all[N_THREADS * PER_THREAD], n = 0;

    for (int i = 0; i < N_THREADS; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        h[i].db = i % 2 ? db2 : db;
        h[i].user = user;
        CHECK(pthread_create(&h[i].tid, NULL, hit_main, &h[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(h[i].tid, NULL);
        CHECK_EQ_INT(h[i].failures, 0);
        memcpy(all + i * PER_THREAD, h[i].seen, sizeof(h[i].seen));
    }
    qsort(all, N_THREADS * PER_THREAD, sizeof(all[0]), cmp_i64);
    for (int i = 0; i < N_THREADS * PER_THREAD; i++)
        CHECK_EQ_INT(all[i], i + 1);
    CHECK_OK(db_rate_hit(db, user, 43, &n)); /* a new minute starts at 1 */
    CHECK_EQ_INT(n, 1);
    CHECK_OK(db_rate_prune(db, 43, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_OK(db_rate_hit(db, user, 43, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_ERR(db_rate_hit(db, "nope", 43, &n), ERR_INVALID);
}

static void test_idem(struct db *db, struct db *db2, const char *user)
{
    struct arena *a = arena_new();
    struct db_idem row;
    char other[ID_UUID_LEN];
    bool seen = true;
    int64_t n = 0, t = BASE_MS;

    CHECK_OK(db_idem_exists(db, user, "k1", t - 1000, &seen));
    CHECK(!seen);
    CHECK_OK(db_idem_claim(db, user, "k1", "fp1", "o1", t, t + 1000, t - 86400000, a, &row));
    CHECK_OK(db_idem_exists(db2, user, "k1", t - 1000, &seen));
    CHECK(seen);
    /* running, within its lease: anyone else gets the row (same or other request) */
    CHECK_ERR(db_idem_claim(db2, user, "k1", "fp1", "o2", t + 10, t + 1000, t - 86400000, a, &row),
              ERR_CONFLICT);
    CHECK(!row.done);
    CHECK(strcmp(row.fingerprint, "fp1") == 0);
    /* past the lease: the same request takes it over, another does not */
    CHECK_ERR(db_idem_claim(db2, user, "k1", "fp2", "o2", t + 2000, t + 3000, t - 86400000, a, &row),
              ERR_CONFLICT);
    CHECK_OK(db_idem_claim(db2, user, "k1", "fp1", "o2", t + 2000, t + 3000, t - 86400000, a, &row));
    /* the old owner can no longer complete or release it */
    CHECK_ERR(db_idem_complete(db, user, "k1", "o1", 200, "application/json", "", "{}"),
              ERR_NOT_FOUND);
    CHECK_OK(db_idem_release(db, user, "k1", "o1"));
    CHECK_OK(db_idem_complete(db2, user, "k1", "o2", 201, "application/json", "Location: /x\n",
                              "{\"a\":\"\u00e9\"}"));
    CHECK_ERR(db_idem_complete(db2, user, "k1", "o2", 500, NULL, NULL, "{}"), ERR_NOT_FOUND);
    CHECK_ERR(db_idem_claim(db, user, "k1", "fp1", "o3", t + 9000, t + 9999, t - 86400000, a, &row),
              ERR_CONFLICT);
    CHECK(row.done);
    CHECK_EQ_INT(row.status, 201);
    CHECK(strcmp(row.body, "{\"a\":\"\u00e9\"}") == 0);
    CHECK(strcmp(row.headers, "Location: /x\n") == 0);
    CHECK(strcmp(row.content_type, "application/json") == 0);
    /* another user's key of the same name is another key */
    new_uuid(other);
    CHECK_OK(db_user_ensure(db, other));
    CHECK_OK(db_idem_claim(db, other, "k1", "fp9", "o9", t, t + 1000, t - 86400000, a, &row));
    CHECK_OK(db_idem_release(db, other, "k1", "o9"));
    /* released: free at once */
    CHECK_OK(db_idem_claim(db, user, "k2", "fp1", "o4", t, t + 1000, t - 86400000, a, &row));
    CHECK_OK(db_idem_release(db, user, "k2", "o4"));
    CHECK_OK(db_idem_claim(db, user, "k2", "fp5", "o5", t, t + 1000, t - 86400000, a, &row));
    /* expired (created at or before the cut): made new, whatever it held */
    CHECK_OK(db_idem_claim(db, user, "k1", "fp7", "o7", t + 86400000 + 1, t + 86400000 + 2,
                           t + 5000, a, &row)); /* k1 was taken over at t + 2000 */
    CHECK_OK(db_idem_prune(db, t + 1, &n));
    CHECK_EQ_INT(n, 1); /* k2 */
    CHECK_OK(db_idem_prune(db, t + 86400000 + 1, &n));
    CHECK_EQ_INT(n, 1); /* k1 */
    CHECK_ERR(db_idem_claim(db, user, "", "fp", "o", t, t, t, a, &row), ERR_INVALID);
    arena_free(a);
}

/* ---- threads ----------------------------------------------------------- */

struct worker {
    pthread_t tid;
    struct db *db;
    const char *shared_user;
    const char *tutorial;
    int index;
    int failures;
    char own_user[ID_UUID_LEN];
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct arena *a = arena_new();
    int64_t last_total = 0;

    new_uuid(w->own_user);
    for (int i = 0; i < PER_THREAD && a; i++) {
        struct drawing d, *list = NULL;
        struct edit e = {.image_key = "k.png", .prompt = "p", .source = "audio"};
        char id[ID_UUID_LEN];
        size_t n = 0;
        int64_t total = 0;
        int64_t at = BASE_MS + 1000000 * (int64_t)w->index + i;

        new_uuid(id);
        if (db_user_ensure(w->db, w->shared_user) != ERR_OK ||
            db_user_ensure(w->db, w->own_user) != ERR_OK)
            w->failures++;
        make_drawing(a, w->shared_user, id, i, i % 5 == 0 ? w->tutorial : NULL, at, 0, &d);
        if (db_drawing_insert(w->db, &d, NULL, 0) != ERR_OK)
            w->failures++;
        if (i % 2 == 0) {
            e.created_at = at + 1;
            if (db_edit_append(w->db, w->shared_user, id, &e, NULL, 0) != ERR_OK)
                w->failures++;
        }
        new_uuid(id);
        make_drawing(a, w->own_user, id, i, NULL, at, 1, &d);
        if (db_drawing_insert(w->db, &d, NULL, 0) != ERR_OK)
            w->failures++;
        if (db_drawing_list(w->db, w->shared_user, 0, 10, a, &list, &n, &total) != ERR_OK ||
            (n != 10 && n != (size_t)total))
            w->failures++;
        if (total < last_total || total < i + 1)
            w->failures++;
        last_total = total;
        if (db_drawing_list(w->db, w->own_user, 0, 100, a, &list, &n, &total) != ERR_OK ||
            total != i + 1 || n != (size_t)total || list[0].n_edits != 1)
            w->failures++;
    }
    if (!a)
        w->failures++;
    arena_free(a);
    return NULL;
}

static void test_threads(struct db *db, const char *tutorial)
{
    struct worker w[N_THREADS];
    struct arena *a = arena_new();
    struct drawing_stats st;
    struct drawing *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    char shared[ID_UUID_LEN];

    new_uuid(shared);
    for (int i = 0; i < N_THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].db = db;
        w[i].shared_user = shared;
        w[i].tutorial = tutorial;
        w[i].index = i;
        CHECK_EQ_INT(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(w[i].tid, NULL);
        CHECK_EQ_INT(w[i].failures, 0);
        CHECK_OK(db_stats(db, w[i].own_user, &st));
        CHECK_EQ_INT(st.total_drawings, PER_THREAD);
        CHECK_EQ_INT(st.edited_drawings, PER_THREAD);
        CHECK_EQ_INT(st.tutorial_drawings, 0);
    }
    CHECK_OK(db_stats(db, shared, &st));
    CHECK_EQ_INT(st.total_drawings, N_THREADS * PER_THREAD);
    CHECK_EQ_INT(st.edited_drawings, N_THREADS * PER_THREAD / 2);
    CHECK_EQ_INT(st.tutorial_drawings, N_THREADS * PER_THREAD / 5);
    CHECK_OK(db_drawing_list(db, shared, 0, 1000, a, &list, &n, &total));
    CHECK_EQ_INT(n, N_THREADS * PER_THREAD);
    CHECK_EQ_INT(total, N_THREADS * PER_THREAD);
    for (size_t i = 1; i < n; i++) {
        CHECK(list[i - 1].created_at > list[i].created_at); /* all distinct, newest first */
    }
    arena_free(a);
}

/* ---- two migrators at once --------------------------------------------- */

struct migrator {
    pthread_t tid;
    const struct config *cfg;
    pthread_barrier_t *start;
    enum err open_rc, migrate_rc, stats_rc;
};

/* Its own handle, hence its own connections: as good as another process. */
static void *migrator_main(void *p)
{
    struct migrator *m = p;
    struct drawing_stats st;
    struct db *db = NULL;
    char u[ID_UUID_LEN];

    new_uuid(u);
    m->open_rc = db_open(m->cfg, &db);
    pthread_barrier_wait(m->start);
    if (m->open_rc == ERR_OK) {
        m->migrate_rc = db_migrate(db);
        m->stats_rc = db_stats(db, u, &st);
    }
    db_close(db);
    return NULL;
}

/* Two handles migrate a database that has no schema yet, at the same moment. */
static void test_concurrent_migrate(const struct config *cfg)
{
    struct migrator m[2];
    pthread_barrier_t start;

    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        memset(&m[i], 0, sizeof(m[i]));
        m[i].cfg = cfg;
        m[i].start = &start;
        CHECK_EQ_INT(pthread_create(&m[i].tid, NULL, migrator_main, &m[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(m[i].tid, NULL);
        CHECK_OK(m[i].open_rc);
        CHECK_OK(m[i].migrate_rc);
        CHECK_OK(m[i].stats_rc);
    }
    pthread_barrier_destroy(&start);
}

/* ---- main -------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The whole contract against the database cfg names, which must be empty; fresh
 * names another empty one, for the concurrent migrators. */
/* ---- the job queue ----------------------------------------------------- */

#define N_QUEUE_JOBS 40
#define N_CLAIMERS 4

struct claimer {
    struct db *db;
    int64_t now;
    int64_t got[N_QUEUE_JOBS + 1];
    size_t n;
    int errors;
};

static void *claim_all(void *arg)
{
    struct claimer *cl = arg;
    struct arena *a = arena_new();
    struct db_job j;
    enum err rc;

    while (a && (rc = db_job_claim(cl->db, cl->now, 60000, a, &j)) != ERR_NOT_FOUND) {
        if (rc != ERR_OK || cl->n > N_QUEUE_JOBS) {
            cl->errors++;
            break;
        }
        cl->got[cl->n++] = j.id;
    }
    arena_free(a);
    return NULL;
}

/* Several handles (servers) claiming at once: every job goes to exactly one. */
static void test_jobs_concurrent(struct db *db, struct db *db2, int64_t t)
{
    struct claimer cl[N_CLAIMERS];
    pthread_t th[N_CLAIMERS];
    int64_t all[N_CLAIMERS * (N_QUEUE_JOBS + 1)];
    size_t n_all = 0;
    int64_t up0 = -1, del0 = -1, up = -1, del = -1;

    CHECK_OK(db_job_pending(db, &up0, &del0)); /* GET /metrics' novadraw_jobs_pending */
    for (int i = 0; i < N_QUEUE_JOBS; i++)
        CHECK_OK(db_job_add(i % 2 ? db : db2, JOB_DELETE, "users/x/original/many.png"));
    CHECK_OK(db_job_pending(db2, &up, &del));
    CHECK_EQ_INT(up, up0);
    CHECK_EQ_INT(del, del0 + N_QUEUE_JOBS);
    for (int i = 0; i < N_CLAIMERS; i++) {
        memset(&cl[i], 0, sizeof(cl[i]));
        cl[i].db = i % 2 ? db2 : db;
        cl[i].now = t;
        CHECK_EQ_INT(pthread_create(&th[i], NULL, claim_all, &cl[i]), 0);
    }
    for (int i = 0; i < N_CLAIMERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(cl[i].errors, 0);
        for (size_t k = 0; k < cl[i].n; k++)
            all[n_all++] = cl[i].got[k];
    }
    CHECK_EQ_INT(n_all, N_QUEUE_JOBS);
    for (size_t i = 0; i < n_all; i++) {
        for (size_t k = i + 1; k < n_all; k++)
            CHECK(all[i] != all[k]);
        CHECK_OK(db_job_done(db, all[i]));
    }
    CHECK_OK(db_job_pending(db, &up, &del));
    CHECK_EQ_INT(del, del0);
}

struct key_probe {
    const char *want;
    bool seen;
    size_t n;
};

static enum err on_key(void *ctx, const char *key)
{
    struct key_probe *kp = ctx;

    kp->n++;
    if (strcmp(key, kp->want) == 0)
        kp->seen = true;
    return ERR_OK;
}

/*
 * Objects storage refused: kept with their rows in one transaction, each with an
 * upload job, read back (bytes exact, binary included), flagged pending in every
 * read until done, and gone with their drawing.
 */
static void test_pending(struct db *db, const char *user_a, int64_t t)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0, 0xff, '\r', '\n', 0};
    static const unsigned char webp[] = {'R', 'I', 'F', 'F', 0, 1};
    struct arena *a = arena_new();
    struct drawing d, got, *list = NULL;
    struct edit e = {.image_key = "users/a/edited/stored.png",
                     .thumbnail_key = "users/a/thumbnail/stored.webp",
                     .prompt = "p",
                     .source = "text",
                     .created_at = BASE_MS};
    struct db_pending kept[2] = {
        {"users/a/original/pend.png", "image/png", png, sizeof(png)},
        {"users/a/thumbnail/pend.webp", "image/webp", webp, sizeof(webp)},
    };
    struct db_pending p, bad = {NULL, "image/png", png, 1};
    struct db_job j;
    size_t n = 0;
    int64_t total = 0;

    CHECK(a != NULL);
    if (!a)
        return;
    memset(&d, 0, sizeof(d));
    new_uuid(d.id);
    memcpy(d.user_id, user_a, ID_UUID_LEN);
    d.original_key = (char *)kept[0].key;
    d.thumbnail_key = (char *)kept[1].key;
    d.created_at = d.updated_at = BASE_MS + 999999; /* the newest: first in the gallery */
    CHECK_ERR(db_drawing_insert(db, &d, &bad, 1), ERR_INVALID);
    CHECK_ERR(db_drawing_insert(db, &d, NULL, 1), ERR_INVALID);
    CHECK_OK(db_drawing_insert(db, &d, kept, 2));
    CHECK_OK(db_edit_append(db, user_a, d.id, &e, NULL, 0));

    CHECK_OK(db_drawing_get(db, user_a, d.id, a, &got));
    CHECK(got.original_pending && got.thumbnail_pending);
    CHECK(got.n_edits == 1 && !got.edits[0].image_pending && !got.edits[0].thumbnail_pending);
    CHECK_OK(db_drawing_list(db, user_a, 0, 1, a, &list, &n, &total));
    CHECK(n == 1 && strcmp(list[0].id, d.id) == 0 && list[0].original_pending &&
          list[0].thumbnail_pending);

    CHECK_OK(db_pending_get(db, kept[0].key, a, &p));
    CHECK_EQ_STR(p.content_type, "image/png");
    CHECK(p.len == sizeof(png) && memcmp(p.bytes, png, sizeof(png)) == 0);
    CHECK_ERR(db_pending_get(db, "users/a/original/none.png", a, &p), ERR_NOT_FOUND);

    /* one upload job per kept object, oldest first */
    CHECK_OK(db_job_claim(db, t + 20000000, 60000, a, &j));
    CHECK(j.kind == JOB_UPLOAD && strcmp(j.object_key, kept[0].key) == 0);
    CHECK_OK(db_job_done(db, j.id));
    CHECK_OK(db_job_claim(db, t + 20000000, 60000, a, &j));
    CHECK(j.kind == JOB_UPLOAD && strcmp(j.object_key, kept[1].key) == 0);
    CHECK_OK(db_job_done(db, j.id));

    /* stored: no longer pending anywhere */
    CHECK_OK(db_pending_done(db, kept[0].key));
    CHECK_ERR(db_pending_done(db, kept[0].key), ERR_NOT_FOUND);
    CHECK_OK(db_drawing_get(db, user_a, d.id, a, &got));
    CHECK(!got.original_pending && got.thumbnail_pending);

    /* an edit's pending image, appended with it */
    e.image_key = "users/a/edited/pend.png";
    e.thumbnail_key = "users/a/thumbnail/pend-e.webp";
    kept[0].key = e.image_key;
    CHECK_OK(db_edit_append(db, user_a, d.id, &e, kept, 1));
    CHECK_OK(db_drawing_get(db, user_a, d.id, a, &got));
    CHECK(got.n_edits == 2 && got.edits[1].image_pending && !got.edits[1].thumbnail_pending);
    CHECK_OK(db_job_claim(db, t + 20000000, 60000, a, &j));
    CHECK_OK(db_job_done(db, j.id));

    /* deleting the drawing forgets its pending bytes */
    CHECK_OK(db_drawing_delete(db, user_a, d.id, a, &got));
    CHECK(got.thumbnail_pending && got.n_edits == 2 && got.edits[1].image_pending);
    CHECK_ERR(db_pending_get(db, kept[1].key, a, &p), ERR_NOT_FOUND);
    CHECK_ERR(db_pending_get(db, e.image_key, a, &p), ERR_NOT_FOUND);
    CHECK_ERR(db_pending_done(db, kept[1].key), ERR_NOT_FOUND);
    arena_free(a);
}

/* db_drawings_delete_many: one user's drawings among a list of ids, in one transaction;
 * others' ids, unknown ones, malformed ones and repeats are skipped. */
static const struct drawing *find_id(const struct drawing *ds, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ds[i].id, id) == 0)
            return &ds[i];
    }
    return NULL;
}

static void test_delete_many(struct db *db)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G'};
    struct arena *a = arena_new();
    char user_c[ID_UUID_LEN], user_d[ID_UUID_LEN], c[4][ID_UUID_LEN], d0[ID_UUID_LEN];
    char unknown[ID_UUID_LEN];
    struct drawing d, *out = NULL;
    struct drawing_stats st;
    struct db_pending kept = {NULL, "image/png", png, sizeof(png)};
    const struct drawing *got;
    size_t n = 0;
    const char *too_many[DB_DELETE_MANY_MAX + 1];

    CHECK(a != NULL);
    if (!a)
        return;
    new_uuid(user_c);
    new_uuid(user_d);
    new_uuid(unknown);
    new_uuid(d0);
    for (int i = 0; i < 4; i++) {
        new_uuid(c[i]);
        make_drawing(a, user_c, c[i], 100 + i, NULL, BASE_MS + i, i == 0 ? 2 : i == 2 ? 1 : 0,
                     &d);
        kept.key = d.original_key;
        CHECK_OK(db_drawing_insert(db, &d, &kept, i == 2 ? 1 : 0)); /* c[2]'s is pending */
    }
    make_drawing(a, user_d, d0, 200, NULL, BASE_MS, 1, &d);
    CHECK_OK(db_drawing_insert(db, &d, NULL, 0));

    /* arguments */
    const char *one[] = {c[3]};
    CHECK_ERR(db_drawings_delete_many(NULL, user_c, one, 1, a, &out, &n), ERR_INVALID);
    CHECK_ERR(db_drawings_delete_many(db, user_c, one, 0, a, &out, &n), ERR_INVALID);
    CHECK_ERR(db_drawings_delete_many(db, user_c, NULL, 1, a, &out, &n), ERR_INVALID);
    CHECK_ERR(db_drawings_delete_many(db, "nobody", one, 1, a, &out, &n), ERR_INVALID);
    CHECK_ERR(db_drawings_delete_many(db, user_c, one, 1, a, NULL, &n), ERR_INVALID);
    for (size_t i = 0; i <= DB_DELETE_MANY_MAX; i++)
        too_many[i] = c[3];
    CHECK_ERR(db_drawings_delete_many(db, user_c, too_many, DB_DELETE_MANY_MAX + 1, a, &out, &n),
              ERR_INVALID);
    /* nothing of theirs: nothing deleted, and that is no error */
    const char *none[] = {d0, unknown, "not-a-uuid", "C0FFEE00-0000-4000-8000-000000000000"};
    n = 99;
    CHECK_OK(db_drawings_delete_many(db, user_c, none, 4, a, &out, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(db_drawing_get(db, user_d, d0, a, &d));

    /* a mix: two of theirs with edits, one pending, another user's, unknown, repeats */
    const char *mix[] = {c[0], d0, unknown, "not-a-uuid", c[1], c[0], c[2]};
    CHECK_OK(db_drawings_delete_many(db, user_c, mix, 7, a, &out, &n));
    CHECK_EQ_INT(n, 3);
    got = find_id(out, n, c[0]);
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ_STR(got->user_id, user_c);
        CHECK(strstr(got->original_key, "/original/100.png") != NULL);
        CHECK(strstr(got->thumbnail_key, "/thumb/100.webp") != NULL);
        CHECK(!got->original_pending);
        CHECK_EQ_INT(got->n_edits, 2);
        if (got->n_edits == 2) { /* oldest first */
            CHECK(strstr(got->edits[0].image_key, "/edit/100-0.png") != NULL);
            CHECK(strstr(got->edits[0].thumbnail_key, "/edit/100-0.webp") != NULL);
            CHECK(strstr(got->edits[1].image_key, "/edit/100-1.png") != NULL);
            CHECK(got->edits[1].thumbnail_key == NULL);
        }
    }
    got = find_id(out, n, c[1]);
    CHECK(got != NULL && got->n_edits == 0 && got->edits == NULL);
    got = find_id(out, n, c[2]);
    CHECK(got != NULL && got->n_edits == 1 && got->original_pending);
    CHECK(find_id(out, n, d0) == NULL && find_id(out, n, c[3]) == NULL);

    for (int i = 0; i < 3; i++)
        CHECK_ERR(db_drawing_get(db, user_c, c[i], a, &d), ERR_NOT_FOUND);
    CHECK_OK(db_drawing_get(db, user_c, c[3], a, &d));
    CHECK_OK(db_drawing_get(db, user_d, d0, a, &d));
    CHECK_EQ_INT(d.n_edits, 1);
    /* the pending bytes went with their drawing */
    struct db_pending p;
    if (find_id(out, n, c[2]))
        CHECK_ERR(db_pending_get(db, find_id(out, n, c[2])->original_key, a, &p), ERR_NOT_FOUND);
    /* the counters followed (the triggers ran for each row) */
    CHECK_OK(db_stats(db, user_c, &st));
    CHECK_EQ_INT(st.total_drawings, 1);
    CHECK_EQ_INT(st.edited_drawings, 0);
    CHECK_OK(db_stats(db, user_d, &st));
    CHECK_EQ_INT(st.total_drawings, 1);
    CHECK_EQ_INT(st.edited_drawings, 1);

    /* again: all gone already */
    CHECK_OK(db_drawings_delete_many(db, user_c, mix, 7, a, &out, &n));
    CHECK_EQ_INT(n, 0);
    /* the most ids at once */
    for (size_t i = 0; i < DB_DELETE_MANY_MAX; i++)
        too_many[i] = i == DB_DELETE_MANY_MAX - 1 ? c[3] : unknown;
    CHECK_OK(db_drawings_delete_many(db, user_c, too_many, DB_DELETE_MANY_MAX, a, &out, &n));
    CHECK(n == 1 && strcmp(out[0].id, c[3]) == 0);
    CHECK_OK(db_stats(db, user_c, &st));
    CHECK_EQ_INT(st.total_drawings, 0);
    arena_free(a);
}

static void test_jobs(struct db *db, struct db *db2, const char *user_a)
{
    struct arena *a = arena_new();
    struct db_job j1, j2, j3, j;
    struct drawing *list = NULL;
    struct key_probe kp = {0};
    size_t n = 0;
    int64_t total = 0;
    int64_t t = time_now_ms() + 1000;

    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_ERR(db_job_add(db, (enum job_kind)7, "k"), ERR_INVALID);
    CHECK_ERR(db_job_add(db, JOB_DELETE, NULL), ERR_INVALID);
    CHECK_ERR(db_job_add(NULL, JOB_DELETE, "k"), ERR_INVALID);
    CHECK_ERR(db_job_claim(db, t, 0, a, &j), ERR_INVALID);
    CHECK_ERR(db_job_claim(db, t, 1000, NULL, &j), ERR_INVALID);
    CHECK_ERR(db_job_done(db, 0), ERR_INVALID);
    CHECK_ERR(db_job_retry(db, -1, t, "x"), ERR_INVALID);
    CHECK_ERR(db_keys_referenced(db, NULL, NULL), ERR_INVALID);
    CHECK_ERR(db_job_claim(db, t, 60000, a, &j), ERR_NOT_FOUND); /* empty queue */

    CHECK_OK(db_job_add(db, JOB_DELETE, "users/a/original/1.png"));
    CHECK_OK(db_job_add(db, JOB_DELETE, "users/a/original/2.png"));
    CHECK_OK(db_job_add(db2, JOB_DELETE, "users/a/original/3.png"));
    /* not due yet for a clock before they were added */
    CHECK_ERR(db_job_claim(db, t - 60000, 60000, a, &j), ERR_NOT_FOUND);
    /* oldest first, each once, whichever handle asks */
    CHECK_OK(db_job_claim(db, t, 60000, a, &j1));
    CHECK_OK(db_job_claim(db2, t, 60000, a, &j2));
    CHECK_OK(db_job_claim(db, t, 60000, a, &j3));
    CHECK_ERR(db_job_claim(db2, t, 60000, a, &j), ERR_NOT_FOUND);
    CHECK_EQ_STR(j1.object_key, "users/a/original/1.png");
    CHECK_EQ_STR(j2.object_key, "users/a/original/2.png");
    CHECK_EQ_STR(j3.object_key, "users/a/original/3.png");
    CHECK_EQ_INT(j1.kind, JOB_DELETE);
    CHECK_EQ_INT(j1.attempts, 0);

    CHECK_OK(db_job_done(db, j2.id));
    CHECK_ERR(db_job_done(db, j2.id), ERR_NOT_FOUND);
    CHECK_OK(db_job_retry(db, j3.id, t + 100000, "boom"));
    CHECK_ERR(db_job_retry(db, j2.id, t, "gone"), ERR_NOT_FOUND);
    /* j1 still leased, j3 not due */
    CHECK_ERR(db_job_claim(db, t + 50000, 60000, a, &j), ERR_NOT_FOUND);
    /* the lease ran out (its server died): j1 is claimable again */
    CHECK_OK(db_job_claim(db2, t + 60000, 60000, a, &j));
    CHECK_EQ_INT(j.id, j1.id);
    CHECK_EQ_INT(j.attempts, 0);
    CHECK_OK(db_job_claim(db, t + 100000, 60000, a, &j));
    CHECK_EQ_INT(j.id, j3.id);
    CHECK_EQ_INT(j.attempts, 1);
    CHECK_ERR(db_job_claim(db, t + 100000, 60000, a, &j), ERR_NOT_FOUND);
    CHECK_OK(db_job_done(db, j1.id));
    CHECK_OK(db_job_done(db2, j3.id));
    CHECK_ERR(db_job_claim(db, t + 10000000, 60000, a, &j), ERR_NOT_FOUND);

    test_jobs_concurrent(db, db2, t);
    CHECK_ERR(db_job_claim(db, t + 10000000, 60000, a, &j), ERR_NOT_FOUND);

    /* kinds come back as they went in */
    CHECK_OK(db_job_add(db, JOB_UPLOAD, "users/a/original/r.png"));
    CHECK_OK(db_job_claim(db, t + 10000000, 60000, a, &j));
    CHECK_EQ_INT(j.kind, JOB_UPLOAD);
    CHECK_EQ_STR(j.object_key, "users/a/original/r.png");
    CHECK_OK(db_job_done(db, j.id));

    test_pending(db, user_a, t);

    /* every referenced key is reported */
    CHECK_OK(db_drawing_list(db, user_a, 0, 1, a, &list, &n, &total));
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        kp.want = list[0].original_key;
        CHECK_OK(db_keys_referenced(db, on_key, &kp));
        CHECK(kp.seen);
        CHECK(kp.n >= (size_t)total);
    }
    arena_free(a);
}

/* Accounts, refresh-token families, the sign-in throttle and tombstones. */
static void test_accounts(struct db *db, const char *user_a)
{
    struct arena *a = arena_new();
    struct account acct = {.email = "ann@example.com", .password_hash = "$argon2id$stub",
                           .created_at = BASE_MS};
    struct account got;
    struct refresh_grant g;
    unsigned char h1[DB_HASH_LEN], h2[DB_HASH_LEN], h3[DB_HASH_LEN], other[DB_HASH_LEN],
        eh[DB_HASH_LEN];
    char family[ID_UUID_LEN], fam2[ID_UUID_LEN], taken[ID_UUID_LEN];
    int64_t until = -1, n = -1, now = BASE_MS + 1000000;

    if (!a)
        return;
    new_uuid(acct.id);
    new_uuid(family);
    new_uuid(fam2);
    memset(h1, 1, sizeof(h1));
    memset(h2, 2, sizeof(h2));
    memset(h3, 3, sizeof(h3));
    memset(other, 4, sizeof(other));
    memset(eh, 5, sizeof(eh));

    /* create, read by e-mail and id, the e-mail unique */
    CHECK_OK(db_account_create(db, &acct));
    CHECK_OK(db_account_by_email(db, "ann@example.com", a, &got));
    CHECK_EQ_STR(got.id, acct.id);
    CHECK_EQ_STR(got.password_hash, "$argon2id$stub");
    CHECK_EQ_INT(got.created_at, BASE_MS);
    CHECK_ERR(db_account_by_email(db, "nobody@example.com", a, &got), ERR_NOT_FOUND);
    new_uuid(taken);
    {
        struct account dup = acct;
        memcpy(dup.id, taken, ID_UUID_LEN);
        CHECK_ERR(db_account_create(db, &dup), ERR_CONFLICT);
    }
    CHECK_OK(db_account_get(db, user_a, a, &got)); /* a user from outside tokens */
    CHECK(got.email == NULL && got.password_hash == NULL);

    /* refresh: rotate once; the spent one again revokes the family */
    CHECK_OK(db_refresh_add(db, h1, family, acct.id, now, now + 60000));
    CHECK_OK(db_refresh_add(db, other, fam2, acct.id, now, now + 60000));
    CHECK_OK(db_refresh_rotate(db, h1, h2, now + 1, now + 60001, a, &g));
    CHECK_EQ_STR(g.user_id, acct.id);
    CHECK_EQ_STR(g.family, family);
    CHECK_EQ_STR(g.email, "ann@example.com");
    CHECK_ERR(db_refresh_rotate(db, h1, h3, now + 2, now + 60002, a, &g), ERR_CONFLICT);
    CHECK_EQ_STR(g.user_id, acct.id);
    CHECK_ERR(db_refresh_rotate(db, h2, h3, now + 3, now + 60003, a, &g), ERR_UNAUTHORIZED);
    CHECK_ERR(db_refresh_rotate(db, h3, h1, now + 3, now + 60003, a, &g), ERR_UNAUTHORIZED);
    /* expiry, and logout of the other family */
    CHECK_ERR(db_refresh_rotate(db, other, h3, now + 60000, now + 120000, a, &g), ERR_UNAUTHORIZED);
    CHECK_OK(db_refresh_revoke(db, other));
    CHECK_ERR(db_refresh_revoke(db, other), ERR_NOT_FOUND);
    CHECK_OK(db_refresh_add(db, h1, family, acct.id, now, now + 10));
    CHECK_OK(db_refresh_prune(db, acct.id, now + 10));
    CHECK_ERR(db_refresh_revoke(db, h1), ERR_NOT_FOUND);

    /* a new password revokes every refresh token */
    CHECK_OK(db_refresh_add(db, h1, family, acct.id, now, now + 60000));
    CHECK_OK(db_account_set_password(db, acct.id, "$argon2id$new"));
    CHECK_OK(db_account_get(db, acct.id, a, &got));
    CHECK_EQ_STR(got.password_hash, "$argon2id$new");
    CHECK_ERR(db_refresh_rotate(db, h1, h2, now, now + 60000, a, &g), ERR_UNAUTHORIZED);
    CHECK_ERR(db_account_set_password(db, taken, "$x"), ERR_NOT_FOUND);

    /* the throttle: locked once `limit` failures are in the window, until the oldest
     * of them leaves it; a success forgets them */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(db_login_locked_until(db, eh, now + i, 900000, 3, &until));
        CHECK_EQ_INT(until, 0);
        CHECK_OK(db_login_failed(db, eh, now + i, 900000));
    }
    CHECK_OK(db_login_locked_until(db, eh, now + 10, 900000, 3, &until));
    CHECK_EQ_INT(until, now + 900000);
    CHECK_OK(db_login_locked_until(db, eh, now + 900000, 900000, 3, &until));
    CHECK_EQ_INT(until, 0);
    CHECK_OK(db_login_locked_until(db, other, now + 10, 900000, 3, &until));
    CHECK_EQ_INT(until, 0);
    CHECK_OK(db_login_cleared(db, eh));
    CHECK_OK(db_login_locked_until(db, eh, now + 10, 900000, 1, &until));
    CHECK_EQ_INT(until, 0);

    /* deletion: rows, tokens and the user go; a tombstone refuses older tokens */
    {
        struct drawing d = {.original_key = "users/x/original/a.png",
                            .thumbnail_key = "users/x/thumbs/a.webp",
                            .created_at = now, .updated_at = now};
        struct edit e = {.image_key = "users/x/edited/a.png", .thumbnail_key = NULL,
                         .prompt = "make it blue", .source = "text", .created_at = now};
        new_uuid(d.id);
        memcpy(d.user_id, acct.id, ID_UUID_LEN);
        CHECK_OK(db_drawing_insert(db, &d, NULL, 0));
        CHECK_OK(db_edit_append(db, acct.id, d.id, &e, NULL, 0));
        CHECK_OK(db_refresh_add(db, h3, family, acct.id, now, now + 60000));
        CHECK_OK(db_user_admit(db, acct.id, now));
        CHECK_OK(db_account_delete(db, acct.id, now + 5000, &n));
        CHECK_EQ_INT(n, 3); /* original, thumbnail, edit */
        {
            /* queued, in the same transaction: exactly those three keys */
            int seen = 0;
            struct db_job j;
            while (db_job_claim(db, now + 6000, 60000, a, &j) == ERR_OK) {
                CHECK(j.kind == JOB_DELETE);
                if (strcmp(j.object_key, d.original_key) == 0)
                    seen |= 1;
                else if (strcmp(j.object_key, d.thumbnail_key) == 0)
                    seen |= 2;
                else if (strcmp(j.object_key, e.image_key) == 0)
                    seen |= 4;
                else
                    seen |= 8;
                CHECK_OK(db_job_done(db, j.id));
            }
            CHECK_EQ_INT(seen, 7);
        }
        CHECK_ERR(db_drawing_get(db, acct.id, d.id, a, &d), ERR_NOT_FOUND);
        CHECK_ERR(db_account_get(db, acct.id, a, &got), ERR_NOT_FOUND);
        CHECK_ERR(db_refresh_rotate(db, h3, h1, now, now + 60000, a, &g), ERR_UNAUTHORIZED);
        CHECK_ERR(db_user_admit(db, acct.id, now + 4000), ERR_UNAUTHORIZED);
        CHECK_ERR(db_user_admit(db, acct.id, now + 5000), ERR_UNAUTHORIZED);
        CHECK_ERR(db_user_admit(db, acct.id, -1), ERR_UNAUTHORIZED);
        CHECK_OK(db_user_admit(db, acct.id, now + 6000)); /* a token made after it */
        CHECK_ERR(db_account_delete(db, taken, now, NULL), ERR_NOT_FOUND);
        /* the e-mail is free again */
        new_uuid(acct.id);
        CHECK_OK(db_account_create(db, &acct));
    }
    arena_free(a);
}

/* ---- gallery filters, search, version (SPEC §11) ------------------------ */

#define GF_N 8
#define GF_BASE (BASE_MS + 10000000)

struct gf {
    struct db *db;
    const char *user;
    char ids[GF_N][ID_UUID_LEN];
    size_t appended[GF_N]; /* edits added after the fixture */
};

/* Drawing i of the search fixture: its prompts, "|"-separated ("" for none). */
static const char *const gf_prompts[GF_N] = {
    "make it colorful",
    "add a sepia tone",
    "",
    "Cafe\xcc\x81 au lait|Stra\xc3\x9f" "e at night", /* café with a combining accent */
    "sepia|tone it down 42x",
    "don't_stop: foo-bar example.com 3.14",
    "\xc3\x89" "COLE na\xc3\xafve \xef\xac\x81sh", /* ÉCOLE naïve ﬁsh */
    "NEAR OR AND \"quoted\" (paren) *star* a:b & !c",
};

/* The ids f lets through, as a string of fixture indexes in page order ("431"). */
static void gf_expect(struct gf *g, const struct gallery_filter *f, int64_t offset, int64_t limit,
                      const char *want, int64_t want_total, int line)
{
    struct arena *a = arena_new();
    struct drawing *list = NULL;
    size_t n = 0;
    int64_t total = -1;
    char got[GF_N + 1] = "";
    enum err rc = db_gallery_list(g->db, g->user, f, offset, limit, a, &list, &n, &total);

    CHECK_OK(rc);
    for (size_t i = 0; rc == ERR_OK && i < n && i < GF_N; i++) {
        int k = -1;
        for (int j = 0; j < GF_N; j++)
            if (strcmp(list[i].id, g->ids[j]) == 0)
                k = j;
        got[i] = k < 0 ? '?' : (char)('0' + k);
        /* the edits come along, oldest first */
        size_t want_edits = k >= 0 ? g->appended[k] : 0;
        if (k >= 0 && gf_prompts[k][0])
            for (const char *p = gf_prompts[k]; p; p = strchr(p + 1, '|'))
                want_edits++;
        CHECK_EQ_INT(list[i].n_edits, want_edits);
    }
    if (strcmp(got, want) != 0 || total != want_total)
        fprintf(stderr, "test_db.c:%d: got \"%s\" (count %lld), want \"%s\" (count %lld)\n",
                line, got, (long long)total, want, (long long)want_total);
    CHECK_EQ_STR(got, want);
    CHECK_EQ_INT(total, want_total);
    arena_free(a);
}

/* The drawings whose prompts every word of q prefixes. */
static void gf_search(struct gf *g, const char *q, const char *want, int line)
{
    char *words = words_normalize(q, strlen(q));
    struct gallery_filter f = GALLERY_FILTER_NONE;

    CHECK(words != NULL);
    f.words = words;
    gf_expect(g, &f, 0, 100, want, (int64_t)strlen(want), line);
    free(words);
}

static void test_gallery_filters(struct db *db, const char *t_old, const char *t_new)
{
    struct arena *a = arena_new();
    char user[ID_UUID_LEN], other[ID_UUID_LEN], buf[1200];
    struct gf g = {.db = db, .user = user};
    struct gallery_filter f = GALLERY_FILTER_NONE;
    const char *tut[GF_N] = {t_old, NULL, t_new, NULL, t_old, NULL, NULL, NULL};
    struct drawing d;
    int64_t v0 = -1, v1 = -1, v2 = -1, v3 = -1;

    new_uuid(user);
    new_uuid(other);
    CHECK_OK(db_user_version(db, user, &v0));
    CHECK_EQ_INT(v0, -1); /* no row yet: a version no row has */
    for (int i = 0; i < GF_N; i++) {
        struct edit edits[2];
        size_t n = 0;

        new_uuid(g.ids[i]);
        make_drawing(a, user, g.ids[i], 100 + i, tut[i], GF_BASE + i * 1000, 0, &d);
        snprintf(buf, sizeof(buf), "%s", gf_prompts[i]);
        for (char *p = buf, *bar; *p && n < 2; p = bar ? bar + 1 : p + strlen(p)) {
            bar = strchr(p, '|');
            if (bar)
                *bar = '\0';
            edits[n] = (struct edit){.image_key = arena_printf(a, "users/%s/e/%d-%zu.png", user, i, n),
                                     .prompt = arena_strdup(a, p),
                                     .source = "text",
                                     .created_at = GF_BASE + i * 1000 + (int64_t)n};
            n++;
        }
        /* the first edit with the drawing, the second appended */
        d.n_edits = n > 0 ? 1 : 0;
        d.edits = n > 0 ? edits : NULL;
        CHECK_OK(db_drawing_insert(db, &d, NULL, 0));
        if (n > 1)
            CHECK_OK(db_edit_append(db, user, g.ids[i], &edits[1], NULL, 0));
    }
    /* another user's drawing matches the same words: never shown */
    new_uuid(buf);
    make_drawing(a, other, buf, 200, t_old, GF_BASE + 500, 1, &d);
    d.edits[0].prompt = "colorful sepia tone caf";
    CHECK_OK(db_drawing_insert(db, &d, NULL, 0));

    /* no filter; sort; dates (from <= created_at < to) */
    gf_expect(&g, &f, 0, 100, "76543210", 8, __LINE__);
    f.oldest_first = true;
    gf_expect(&g, &f, 0, 100, "01234567", 8, __LINE__);
    gf_expect(&g, &f, 2, 3, "234", 8, __LINE__);
    f = GALLERY_FILTER_NONE;
    f.from_ms = GF_BASE + 1000;
    f.to_ms = GF_BASE + 4000;
    gf_expect(&g, &f, 0, 100, "321", 3, __LINE__);
    f.from_ms = GF_BASE + 4000;
    f.to_ms = GF_BASE + 1000; /* from after to: nothing */
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    f.from_ms = GF_BASE + 7001;
    f.to_ms = GALLERY_TIME_MAX;
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    /* bounds just around all of them (the count is then the user's counter), and just
     * inside the first or the last */
    f.from_ms = GF_BASE;
    f.to_ms = GF_BASE + 7001;
    gf_expect(&g, &f, 0, 100, "76543210", 8, __LINE__);
    gf_expect(&g, &f, 6, 100, "10", 8, __LINE__);
    f.to_ms = GF_BASE + 7000;
    gf_expect(&g, &f, 0, 100, "6543210", 7, __LINE__);
    f.from_ms = GF_BASE + 1;
    f.to_ms = GF_BASE + 7001;
    gf_expect(&g, &f, 0, 100, "7654321", 7, __LINE__);

    /* tutorial; edited; both; with paging and the count of all that match */
    f = GALLERY_FILTER_NONE;
    f.tutorial_id = t_old;
    gf_expect(&g, &f, 0, 100, "40", 2, __LINE__);
    f.tutorial_id = t_new;
    gf_expect(&g, &f, 0, 100, "2", 1, __LINE__);
    f.edited = 1;
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    f.tutorial_id = t_old;
    f.oldest_first = true;
    gf_expect(&g, &f, 0, 100, "04", 2, __LINE__);
    f = GALLERY_FILTER_NONE;
    f.edited = 0;
    gf_expect(&g, &f, 0, 100, "2", 1, __LINE__);
    f.edited = 1;
    gf_expect(&g, &f, 0, 100, "7654310", 7, __LINE__);
    gf_expect(&g, &f, 2, 2, "54", 7, __LINE__);
    f.from_ms = GF_BASE + 3000;
    f.oldest_first = true;
    gf_expect(&g, &f, 0, 100, "34567", 5, __LINE__);

    /* search: every word a prefix of a word of the drawing's prompts, any edit */
    gf_search(&g, "colo", "0", __LINE__);
    gf_search(&g, "sepia tone", "41", __LINE__);
    gf_search(&g, "TONE sePIA", "41", __LINE__);
    gf_search(&g, "sepia down", "4", __LINE__); /* words of two different edits */
    gf_search(&g, "sepia zzz", "", __LINE__);
    gf_search(&g, "caf", "3", __LINE__);
    gf_search(&g, "caf\xc3\xa9", "3", __LINE__);     /* café, composed: NFKC */
    gf_search(&g, "CAF\xc3\x89", "3", __LINE__);     /* CAFÉ */
    gf_search(&g, "cafe", "", __LINE__);              /* accents are kept */
    gf_search(&g, "strasse", "3", __LINE__);          /* ß folds to ss */
    gf_search(&g, "STRA\xc3\x9f" "E", "3", __LINE__); /* STRAßE */
    gf_search(&g, "\xc3\xa9" "cole", "6", __LINE__);
    gf_search(&g, "ecole", "", __LINE__);
    gf_search(&g, "fish", "6", __LINE__); /* the ﬁ ligature is f, i */
    gf_search(&g, "na\xc3\xaf", "6", __LINE__);
    gf_search(&g, "42", "4", __LINE__);
    gf_search(&g, "42x", "4", __LINE__);
    gf_search(&g, "3 14", "5", __LINE__); /* 3.14: two words */
    gf_search(&g, "don t stop", "5", __LINE__);
    gf_search(&g, "t", "541", __LINE__); /* don't: don, t */
    gf_search(&g, "stop", "5", __LINE__);  /* _ separates */
    gf_search(&g, "bar foo", "5", __LINE__);
    gf_search(&g, "example com", "5", __LINE__);
    gf_search(&g, "com", "5", __LINE__);
    /* query syntax of either engine is only words */
    gf_search(&g, "NEAR OR AND", "7", __LINE__);
    gf_search(&g, "\"quoted\" (paren) *star*", "7", __LINE__);
    gf_search(&g, "a:b & !c", "7", __LINE__);
    gf_search(&g, "sepia OR colorful", "", __LINE__);
    gf_search(&g, "NEAR(sepia tone)", "", __LINE__);
    gf_search(&g, "sepia*", "41", __LINE__);
    gf_search(&g, "'sepia':* | colo:*", "", __LINE__);
    gf_search(&g, "zzz", "", __LINE__);

    /* search with the other filters, both orders */
    f = GALLERY_FILTER_NONE;
    f.words = "sepia";
    f.tutorial_id = t_old;
    gf_expect(&g, &f, 0, 100, "4", 1, __LINE__);
    f.tutorial_id = NULL;
    f.to_ms = GF_BASE + 2000;
    gf_expect(&g, &f, 0, 100, "1", 1, __LINE__);
    f.to_ms = GALLERY_TIME_MAX;
    f.oldest_first = true;
    gf_expect(&g, &f, 0, 100, "14", 2, __LINE__);
    gf_expect(&g, &f, 1, 1, "4", 2, __LINE__);
    f.edited = 0;
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    f.words = ""; /* no word: refused */
    {
        struct drawing *list = NULL;
        size_t n = 0;
        int64_t total = 0;
        CHECK_ERR(db_gallery_list(db, user, &f, 0, 10, a, &list, &n, &total), ERR_INVALID);
        f.words = NULL;
        f.edited = 2;
        CHECK_ERR(db_gallery_list(db, user, &f, 0, 10, a, &list, &n, &total), ERR_INVALID);
    }

    /* the version: every change of what the gallery shows moves it, reads do not */
    CHECK_OK(db_user_version(db, user, &v1));
    CHECK(v1 > 0);
    gf_search(&g, "colo", "0", __LINE__);
    CHECK_OK(db_drawing_get(db, user, g.ids[0], a, &d));
    CHECK_OK(db_user_version(db, user, &v2));
    CHECK_EQ_INT(v2, v1);
    {
        struct edit e = {.image_key = "users/x/e/new.png",
                         .prompt = "Zebra stripes",
                         .source = "text",
                         .created_at = GF_BASE + 99};
        CHECK_OK(db_edit_append(db, user, g.ids[2], &e, NULL, 0));
        g.appended[2] = 1;
    }
    CHECK_OK(db_user_version(db, user, &v2));
    CHECK(v2 > v1);
    gf_search(&g, "zeb str", "2", __LINE__); /* indexed as it is appended */
    f = GALLERY_FILTER_NONE;
    f.edited = 0;
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    CHECK_OK(db_drawing_delete(db, user, g.ids[4], a, &d));
    CHECK_OK(db_user_version(db, user, &v3));
    CHECK(v3 > v2);
    gf_search(&g, "sepia", "1", __LINE__); /* deleted: out of the index */
    gf_search(&g, "down", "", __LINE__);
    /* a tutorial's counts follow a deletion and a first edit */
    f = GALLERY_FILTER_NONE;
    f.tutorial_id = t_old;
    gf_expect(&g, &f, 0, 100, "0", 1, __LINE__);
    f.edited = 1;
    gf_expect(&g, &f, 0, 100, "0", 1, __LINE__);
    f.tutorial_id = t_new; /* 2 had no edit until the one appended above */
    gf_expect(&g, &f, 0, 100, "2", 1, __LINE__);
    f.edited = 0;
    gf_expect(&g, &f, 0, 100, "", 0, __LINE__);
    f.edited = -1;
    f.from_ms = GF_BASE; /* bounds around all: still the counters */
    f.to_ms = GF_BASE + 7001;
    gf_expect(&g, &f, 0, 100, "2", 1, __LINE__);
    /* another user's changes leave this user's version alone */
    CHECK_OK(db_drawing_delete(db, other, buf, a, &d));
    CHECK_OK(db_user_version(db, user, &v1));
    CHECK_EQ_INT(v1, v3);
    /* a pending object stored changes its URL: the version moves */
    {
        static const unsigned char png[] = {0x89, 'P', 'N', 'G'};
        struct db_pending kept = {"users/x/original/gf-pend.png", "image/png", png, sizeof(png)};
        struct db_job j;
        char pid[ID_UUID_LEN];

        new_uuid(pid);
        make_drawing(a, user, pid, 300, NULL, GF_BASE - 5000, 0, &d);
        d.original_key = (char *)kept.key;
        CHECK_OK(db_drawing_insert(db, &d, &kept, 1));
        while (db_job_claim(db, time_now_ms() + 100000000, 60000, a, &j) == ERR_OK)
            CHECK_OK(db_job_done(db, j.id)); /* leave no job for test_jobs */
        CHECK_OK(db_user_version(db, user, &v1));
        CHECK(v1 > v3);
        CHECK_OK(db_pending_done(db, kept.key));
        CHECK_OK(db_user_version(db, user, &v2));
        CHECK(v2 > v1);
        CHECK_OK(db_drawing_delete(db, user, pid, a, &d));
    }
    CHECK_ERR(db_user_version(db, "not-a-uuid", &v1), ERR_INVALID);
    arena_free(a);
}

static void contract(const struct config *cfg, const struct config *fresh)
{
    struct db *db = NULL, *db2 = NULL;
    struct drawing_stats st;
    char user_a[ID_UUID_LEN], user_b[ID_UUID_LEN];
    char t_old[ID_UUID_LEN], t_new[ID_UUID_LEN];

    memset(model, 0, sizeof(model));
    CHECK_OK(db_open(cfg, &db));
    if (!db)
        return;
    CHECK_OK(db_migrate(db));
    CHECK_OK(db_migrate(db)); /* idempotent */
    CHECK_OK(db_ping(db));

    new_uuid(user_a);
    new_uuid(user_b);
    CHECK_OK(db_user_ensure(db, user_a));
    CHECK_OK(db_user_ensure(db, user_a)); /* cached */
    CHECK_OK(db_user_ensure(db, user_b));

    test_args(db);
    test_tutorials(db, t_old, t_new);
    test_insert(db, user_a, t_old);
    test_list(db, user_a, user_b);
    test_ties(db);
    test_get_delete(db, user_a, user_b);
    test_edit_append(db, user_a, user_b);
    check_stats(db, user_a);
    test_shares(db, user_b);
    test_user_cache(db);
    test_accounts(db, user_a);
    test_threads(db, t_new);
    test_gallery_filters(db, t_old, t_new);

    /* a second handle on the same database (another process, say) agrees */
    CHECK_OK(db_open(cfg, &db2));
    CHECK_OK(db_migrate(db2));
    CHECK_OK(db_stats(db2, user_a, &st));
    CHECK_EQ_INT(st.total_drawings, N_DRAWINGS - 1);
    test_jobs(db, db2, user_a);
    test_rate(db, db2, user_b);
    test_idem(db, db2, user_b);
    db_close(db2);
    test_delete_many(db);

    db_close(db);
    db_close(NULL);
    test_concurrent_migrate(fresh);
}

static void run_sqlite(void)
{
    char dir[] = "/tmp/novadraw-test-db-XXXXXX";
    struct config cfg = {0}, fresh = {0};

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    cfg.db_kind = DB_SQLITE;
    fresh.db_kind = DB_SQLITE;
    if (asprintf(&cfg.sqlite_path, "%s/nested/dir/novadraw.db", dir) < 0 ||
        asprintf(&fresh.sqlite_path, "%s/fresh.db", dir) < 0)
        exit(2);
    contract(&cfg, &fresh);
    free(cfg.sqlite_path);
    free(fresh.sqlite_path);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    CHECK(access(dir, F_OK) != 0);
}

/* ---- PostgreSQL -------------------------------------------------------- */

/* Runs one SQL command with psql against url, output discarded; true if it succeeded. */
static bool psql(const char *url, const char *sql)
{
    char *const argv[] = {
        "psql", "-X",        "-q", "-o",        "/dev/null", "-v", "ON_ERROR_STOP=1",
        "-d",   (char *)url, "-c", (char *)sql, NULL};
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, "psql", NULL, NULL, argv, environ) != 0) {
        perror("psql");
        return false;
    }
    if (waitpid(pid, &status, 0) != pid)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* url with its database name replaced (scheme://auth@host:port/NAME?query); the
 * caller frees it. As libpq reads it: the path starts at the first '/' after "://". */
static char *url_with_db(const char *url, const char *name)
{
    const char *auth = strstr(url, "://");
    const char *path, *rest;
    char *out = NULL;

    if (!auth)
        return NULL;
    auth += 3;
    path = auth + strcspn(auth, "/?");
    rest = *path == '/' ? path + 1 + strcspn(path + 1, "?") : path;
    if (asprintf(&out, "%.*s/%s%s", (int)(path - url), url, name, rest) < 0)
        return NULL;
    return out;
}

/*
 * The server drops every connection of the database (a restart, a failover): the
 * next calls find out before sending anything and reconnect, writes included.
 */
static void test_reconnect(const char *admin_url, const struct config *cfg, const char *dbname)
{
    struct arena *a = arena_new();
    struct db *db = NULL;
    struct drawing_stats st;
    struct drawing *list = NULL;
    struct tutorial t = {.title = "After the storm", .created_at = BASE_MS};
    size_t n = 0;
    int64_t total = 0;
    char u[ID_UUID_LEN], sql[256];

    new_uuid(u);
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid()",
             dbname);
    CHECK_OK(db_open(cfg, &db));
    if (!db)
        goto out;
    CHECK_OK(db_stats(db, u, &st));
    CHECK(psql(admin_url, sql));
    CHECK_OK(db_stats(db, u, &st));
    CHECK_OK(db_drawing_list(db, u, 0, 20, a, &list, &n, &total));
    CHECK_OK(db_ping(db));

    CHECK(psql(admin_url, sql));
    new_uuid(t.id);
    CHECK_OK(db_tutorial_add(db, &t)); /* a lone INSERT, not repeatable: never sent twice */
    CHECK_OK(db_tutorial_exists(db, t.id));
out:
    db_close(db);
    arena_free(a);
}

static void run_postgres(const char *url)
{
    struct config cfg = {0}, fresh = {0}, down = {0};
    char name[32], fresh_name[48], sql[128];
    unsigned char rnd[6];
    struct db *db = (struct db *)1;
    bool made = false, made_fresh = false;

    if (!id_random(rnd, sizeof(rnd)))
        exit(2);
    snprintf(name, sizeof(name), "t_unit_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5]);
    snprintf(fresh_name, sizeof(fresh_name), "%s_fresh", name);
    cfg.db_kind = fresh.db_kind = down.db_kind = DB_POSTGRES;
    cfg.database_url = url_with_db(url, name);
    fresh.database_url = url_with_db(url, fresh_name);
    CHECK(cfg.database_url && fresh.database_url);
    if (!cfg.database_url || !fresh.database_url)
        goto out;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    made = psql(url, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fresh_name);
    made_fresh = psql(url, sql);
    CHECK(made && made_fresh);
    if (!made || !made_fresh)
        goto out;

    contract(&cfg, &fresh);
    test_reconnect(url, &cfg, name);

    /* nobody listening: unavailable, not a crash or a hang */
    down.database_url = "postgresql://novadraw:secret@127.0.0.1:1/novadraw?connect_timeout=2";
    CHECK_ERR(db_open(&down, &db), ERR_UNAVAILABLE);
    CHECK(db == (struct db *)1); /* untouched on failure */
out:
    if (made) {
        snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
        CHECK(psql(url, sql));
    }
    if (made_fresh) {
        snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", fresh_name);
        CHECK(psql(url, sql));
    }
    free(cfg.database_url);
    free(fresh.database_url);
}

int main(void)
{
    const char *pg = getenv("NOVADRAW_TEST_DATABASE_URL");

    log_set_level(LOG_ERROR); /* expected conflicts are logged as warnings */
    run_sqlite();
    printf("db: sqlite done (%d checks, %d failed so far)\n", check_count, check_failures);
    if (pg && *pg) {
        run_postgres(pg);
        printf("db: postgres done (%d checks, %d failed so far)\n", check_count, check_failures);
    } else {
        printf("db: NOVADRAW_TEST_DATABASE_URL not set; PostgreSQL not tested\n");
    }
    return check_summary("db");
}
