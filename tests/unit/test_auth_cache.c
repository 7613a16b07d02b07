/*
 * test_auth_cache.c - the verified-token cache: it answers what auth_verify answers
 * (user, iat), refuses what it refuses, forgets a token at its exp, stays within its
 * bound, evicts the least recently used entry of a full set, and leaves a deleted
 * account's tokens refused (db_user_admit still sees the iat).
 *
 * Whether a token is cached is seen by asking with an auth over another secret: only
 * the cache can then say yes.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth_cache.h"
#include "check.h"
#include "config.h"
#include "db/db.h"

static const char secret[] = "test-secret-0123456789abcdef-xyz";
static const char other_secret[] = "another-secret-0123456789abcdef";
static const char uid[] = "550e8400-e29b-41d4-a716-446655440001";
#define NOW 1800000000LL

static struct auth *auth, *other;

static char *mint(const char *user, int64_t now, long ttl)
{
    char *t = NULL;

    CHECK(auth_mint(auth, user, now, ttl, &t) == ERR_OK);
    return t;
}

/* the n-th user id: 550e8400-e29b-41d4-a716-0000000000nn */
static void user_n(int n, char out[ID_UUID_LEN])
{
    snprintf(out, ID_UUID_LEN, "550e8400-e29b-41d4-a716-%012d", n);
}

static bool cached(struct auth_cache *c, const char *token, int64_t now)
{
    char u[ID_UUID_LEN];

    return auth_cache_verify(c, other, token, now, u, NULL, NULL) == ERR_OK;
}

static void test_hit_and_miss(void)
{
    struct auth_cache *c = NULL;
    char u1[ID_UUID_LEN] = "", u2[ID_UUID_LEN] = "";
    int64_t iat1 = 0, iat2 = 0;
    char *t = mint(uid, NOW, 600);

    CHECK(auth_cache_new(64, &c) == ERR_OK);
    CHECK_EQ_INT(auth_cache_capacity(c), 64);
    CHECK(!cached(c, t, NOW)); /* not yet seen: verified with the wrong secret */
    CHECK_EQ_INT(auth_cache_count(c), 0);
    CHECK(auth_cache_verify(c, auth, t, NOW, u1, &iat1, NULL) == ERR_OK);
    CHECK_EQ_STR(u1, uid);
    CHECK_EQ_INT(iat1, NOW);
    CHECK_EQ_INT(auth_cache_count(c), 1);
    CHECK(auth_cache_verify(c, auth, t, NOW + 1, u2, &iat2, NULL) == ERR_OK); /* a hit */
    CHECK_EQ_STR(u2, uid);
    CHECK_EQ_INT(iat2, NOW);
    CHECK_EQ_INT(auth_cache_count(c), 1);
    CHECK(cached(c, t, NOW + 1));
    /* a refused token is not kept, and a near miss of a cached one is refused */
    CHECK(auth_cache_verify(c, auth, "not.a.token", NOW, u1, NULL, NULL) == ERR_UNAUTHORIZED);
    t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
    CHECK(auth_cache_verify(c, auth, t, NOW, u1, NULL, NULL) == ERR_UNAUTHORIZED);
    CHECK_EQ_INT(auth_cache_count(c), 1);
    /* no cache: auth_verify itself */
    CHECK(auth_cache_verify(NULL, auth, t, NOW, u1, NULL, NULL) == ERR_UNAUTHORIZED);
    free(t);
    auth_cache_free(c);
}

static void test_expiry(void)
{
    struct auth_cache *c = NULL;
    char u[ID_UUID_LEN];
    char *t = mint(uid, NOW, 60);

    CHECK(auth_cache_new(64, &c) == ERR_OK);
    CHECK(auth_cache_verify(c, auth, t, NOW, u, NULL, NULL) == ERR_OK);
    CHECK(cached(c, t, NOW + 59));
    /* at exp: refused, as auth_verify refuses it, and forgotten */
    CHECK(auth_cache_verify(c, auth, t, NOW + 60, u, NULL, NULL) == ERR_UNAUTHORIZED);
    CHECK(!cached(c, t, NOW + 59));
    CHECK_EQ_INT(auth_cache_count(c), 0);
    free(t);
    auth_cache_free(c);
}

static void test_bound(void)
{
    struct auth_cache *c = NULL;
    char u[ID_UUID_LEN], want[ID_UUID_LEN];

    CHECK(auth_cache_new(16, &c) == ERR_OK);
    CHECK_EQ_INT(auth_cache_capacity(c), 16);
    for (int i = 0; i < 500; i++) {
        char *t;

        user_n(i, want);
        t = mint(want, NOW, 600);
        CHECK(auth_cache_verify(c, auth, t, NOW, u, NULL, NULL) == ERR_OK);
        CHECK_EQ_STR(u, want);
        CHECK(auth_cache_count(c) <= 16);
        free(t);
    }
    CHECK_EQ_INT(auth_cache_count(c), 16);
    auth_cache_free(c);
    /* tiny capacities still hold one set */
    CHECK(auth_cache_new(0, &c) == ERR_OK);
    CHECK_EQ_INT(auth_cache_capacity(c), AUTH_CACHE_WAYS);
    auth_cache_free(c);
}

/* One set: the least recently used entry goes first; an expired one before it. */
static void test_eviction(void)
{
    struct auth_cache *c = NULL;
    char u[ID_UUID_LEN], id[ID_UUID_LEN];
    char *t[AUTH_CACHE_WAYS + 2];

    CHECK(auth_cache_new(AUTH_CACHE_WAYS, &c) == ERR_OK);
    for (int i = 0; i < AUTH_CACHE_WAYS + 2; i++) {
        user_n(100 + i, id);
        t[i] = mint(id, NOW, i == 2 ? 10 : 600); /* t[2] expires first */
    }
    for (int i = 0; i < AUTH_CACHE_WAYS; i++)
        CHECK(auth_cache_verify(c, auth, t[i], NOW, u, NULL, NULL) == ERR_OK);
    CHECK(cached(c, t[0], NOW + 1)); /* t[0] is now the most recently used */
    /* a new one takes the least recently used slot: t[1]'s */
    CHECK(auth_cache_verify(c, auth, t[AUTH_CACHE_WAYS], NOW + 2, u, NULL, NULL) == ERR_OK);
    CHECK(!cached(c, t[1], NOW + 3));
    CHECK(cached(c, t[0], NOW + 3));
    CHECK(cached(c, t[AUTH_CACHE_WAYS], NOW + 3));
    /* past t[2]'s exp, the next one takes its slot, though t[3] was used longer ago */
    CHECK(auth_cache_verify(c, auth, t[AUTH_CACHE_WAYS + 1], NOW + 20, u, NULL, NULL) == ERR_OK);
    CHECK(cached(c, t[3], NOW + 21));
    CHECK(cached(c, t[AUTH_CACHE_WAYS + 1], NOW + 21));
    CHECK(!cached(c, t[2], NOW + 5));
    CHECK_EQ_INT(auth_cache_count(c), AUTH_CACHE_WAYS);
    for (int i = 0; i < AUTH_CACHE_WAYS + 2; i++)
        free(t[i]);
    auth_cache_free(c);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A cached token of an account deleted after it was issued is still refused. */
static void test_deleted_account(void)
{
    char dir[] = "/tmp/novadraw-test-authcache-XXXXXX";
    struct config cfg = {0};
    struct auth_cache *c = NULL;
    struct db *db = NULL;
    char u[ID_UUID_LEN];
    int64_t iat = 0, now_ms;
    char *t;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    cfg.db_kind = DB_SQLITE;
    if (asprintf(&cfg.sqlite_path, "%s/novadraw.db", dir) < 0)
        exit(2);
    CHECK(db_open(&cfg, &db) == ERR_OK);
    CHECK(db_migrate(db) == ERR_OK);
    now_ms = (int64_t)time(NULL) * 1000;
    t = mint(uid, now_ms / 1000 - 10, 600);
    CHECK(auth_cache_new(64, &c) == ERR_OK);
    CHECK(auth_cache_verify(c, auth, t, now_ms / 1000, u, &iat, NULL) == ERR_OK);
    CHECK(db_user_admit(db, u, iat * 1000) == ERR_OK);
    CHECK(db_account_delete(db, uid, now_ms, NULL) == ERR_OK);
    iat = 0;
    CHECK(auth_cache_verify(c, auth, t, now_ms / 1000, u, &iat, NULL) == ERR_OK); /* still cached */
    CHECK_EQ_INT(iat, now_ms / 1000 - 10);
    CHECK(db_user_admit(db, u, iat * 1000) == ERR_UNAUTHORIZED);
    free(t);
    auth_cache_free(c);
    db_close(db);
    free(cfg.sqlite_path);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    CHECK(auth_open_secret(secret, strlen(secret), &auth) == ERR_OK);
    CHECK(auth_open_secret(other_secret, strlen(other_secret), &other) == ERR_OK);
    test_hit_and_miss();
    test_expiry();
    test_bound();
    test_eviction();
    test_deleted_account();
    auth_close(auth);
    auth_close(other);
    return check_summary("auth_cache");
}
