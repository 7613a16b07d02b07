/*
 * test_storage.c - the storage contract, run against the local backend: atomic
 * put, get, idempotent delete, refusal of keys that could escape the media root.
 * With NOVADRAW_TEST_S3_ENDPOINT set (tests/e2e/test_s3.py does, pointing at the
 * SigV4-verifying proxy) it runs against the s3 backend too, plus listing.
 * Also: the s3 backend's region and public URL derivation (pure).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "storage/storage.h"
#include "util/httpc.h"

static void storage_contract(struct storage *s)
{
    void *data = NULL;
    size_t len = 0;
    struct storage_file f;

    CHECK_EQ_INT(storage_put(s, "users/u/original/a.png", "abc", 3, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_OK);
    CHECK_EQ_INT(len, 3);
    CHECK(data && memcmp(data, "abc", 3) == 0);
    free(data);
    CHECK_EQ_INT(storage_put(s, "users/u/original/a.png", "abcd", 4, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_OK);
    CHECK_EQ_INT(len, 4);
    free(data);
    CHECK_EQ_INT(storage_put(s, "../etc/passwd", "x", 1, "text/plain"), ERR_INVALID);
    CHECK_EQ_INT(storage_put(s, "users/../../x.png", "x", 1, "image/png"), ERR_INVALID);
    CHECK_EQ_INT(storage_get(s, "users/../../x.png", &data, &len), ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_get(s, "users/u/original/none.png", &data, &len), ERR_NOT_FOUND);
    if (s->ops->open_file) {
        CHECK_EQ_INT(storage_open_file(s, "users/u/original/a.png", &f), ERR_OK);
        CHECK_EQ_INT(f.size, 4);
        close(f.fd);
        CHECK_EQ_INT(storage_open_file(s, "../novadraw.db", &f), ERR_NOT_FOUND);
    }
    CHECK_EQ_INT(storage_del(s, "users/u/original/a.png"), ERR_OK);
    CHECK_EQ_INT(storage_del(s, "users/u/original/a.png"), ERR_OK); /* deleting twice is fine */
    CHECK_EQ_INT(storage_get(s, "users/u/original/a.png", &data, &len), ERR_NOT_FOUND);
}

struct listed {
    int n;
    char keys[8][64];
    uint64_t sizes[8];
};

static enum err collect(void *ctx, const struct storage_object *o)
{
    struct listed *l = ctx;
    if (l->n < 8) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", o->key);
        l->sizes[l->n] = o->size;
    }
    l->n++;
    CHECK(o->mtime_ms > 1600000000000LL);
    return ERR_OK;
}

static enum err stop_early(void *ctx, const struct storage_object *o)
{
    (void)o;
    return ++*(int *)ctx == 2 ? ERR_CONFLICT : ERR_OK;
}

/* Listing, on every backend that lists: five objects in key order (the proxy may force
 * small pages on s3), a stop from the callback, an empty prefix. */
static void list_contract(struct storage *s)
{
    struct listed l = {0};
    char k[64];
    int calls = 0;

    /* five objects, listed in key order across pages (the proxy may force small pages) */
    for (int i = 4; i >= 0; i--) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_INT(storage_put(s, k, "0123456789", (size_t)i + 1, "image/png"), ERR_OK);
    }
    CHECK_EQ_INT(storage_put(s, "users/other/original/x.png", "x", 1, "image/png"), ERR_OK);
    CHECK_EQ_INT(storage_list(s, "users/list/", collect, &l), ERR_OK);
    CHECK_EQ_INT(l.n, 5);
    for (int i = 0; i < 5 && i < l.n; i++) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_STR(l.keys[i], k);
        CHECK_EQ_INT(l.sizes[i], i + 1);
    }
    CHECK_EQ_INT(storage_list(s, "users/list/", stop_early, &calls), ERR_CONFLICT);
    CHECK_EQ_INT(calls, 2);
    l.n = 0;
    CHECK_EQ_INT(storage_list(s, "users/none/", collect, &l), ERR_OK);
    CHECK_EQ_INT(l.n, 0);
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "users/list/original/%d.png", i);
        CHECK_EQ_INT(storage_del(s, k), ERR_OK);
    }
    CHECK_EQ_INT(storage_del(s, "users/other/original/x.png"), ERR_OK);
}

static void s3_contract(const char *endpoint)
{
    const char *key = getenv("NOVADRAW_TEST_S3_KEY"), *secret = getenv("NOVADRAW_TEST_S3_SECRET");
    const char *bucket = getenv("NOVADRAW_TEST_S3_BUCKET");
    struct config cfg = {0};
    struct httpc *http = NULL;
    struct storage *s = NULL;
    struct arena *a = arena_new();
    char probe[STORAGE_KEY_MAX];

    cfg.storage_kind = STORAGE_S3;
    cfg.storage_endpoint_url = (char *)endpoint;
    cfg.spaces_key = (char *)(key ? key : "S3RVER");
    cfg.spaces_secret = (char *)(secret ? secret : "S3RVER");
    cfg.spaces_bucket = (char *)(bucket ? bucket : "novadraw");
    cfg.storage_acl = "public-read";
    cfg.signed_url_ttl = 60;
    CHECK_EQ_INT(httpc_open(0, &http), ERR_OK);
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (!s) {
        httpc_close(http);
        arena_free(a);
        return;
    }
    CHECK_EQ_INT(storage_check(s), ERR_OK);
    storage_contract(s);
    CHECK_EQ_INT(storage_probe(s, probe), ERR_OK);

    list_contract(s);
    snprintf(probe, sizeof(probe), "%s/%s/users/u/a.png", endpoint, cfg.spaces_bucket);
    CHECK_EQ_STR(storage_url(s, "users/u/a.png", a), probe);
    storage_close(s);

    /* private: a presigned URL of the endpoint, not the public base */
    cfg.storage_acl = "private";
    cfg.spaces_public_url = "https://cdn.example";
    CHECK_EQ_INT(storage_open(&cfg, http, &s), ERR_OK);
    if (s) {
        const char *u = storage_url(s, "users/u/a.png", a);
        CHECK(u && strncmp(u, endpoint, strlen(endpoint)) == 0);
        CHECK(u && strstr(u, "&X-Amz-Expires=60&") != NULL);
        CHECK(u && strstr(u, "X-Amz-Signature=") != NULL);
    }
    storage_close(s);
    httpc_close(http);
    arena_free(a);
}

static void s3_settings(void)
{
    struct config cfg = {0};
    struct arena *a = arena_new();

    cfg.storage_endpoint_url = "https://nyc3.digitaloceanspaces.com";
    cfg.spaces_bucket = "novadraw";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "nyc3");
    CHECK_EQ_STR(storage_s3_public_base(&cfg, a), "https://nyc3.digitaloceanspaces.com/novadraw");
    cfg.storage_endpoint_url = "https://AMS3.DigitalOceanSpaces.com:443";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "ams3");
    cfg.storage_endpoint_url = "https://s3.eu-west-1.amazonaws.com";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "eu-west-1");
    cfg.storage_endpoint_url = "http://127.0.0.1:9000";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "us-east-1");
    cfg.storage_endpoint_url = "http://digitaloceanspaces.com";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "us-east-1");
    cfg.spaces_region = "fra1";
    CHECK_EQ_STR(storage_s3_region(&cfg, a), "fra1");
    cfg.spaces_public_url = "https://cdn.example.com/x";
    CHECK_EQ_STR(storage_s3_public_base(&cfg, a), "https://cdn.example.com/x");
    arena_free(a);
}

int main(void)
{
    char dir[] = "/tmp/novadraw-storage-XXXXXX";
    struct config cfg = {0};
    struct storage *s = NULL;
    struct arena *a = arena_new();
    char path[512];
    struct stat st;

    CHECK(mkdtemp(dir) != NULL);
    cfg.data_dir = dir;
    cfg.public_base_url = "http://127.0.0.1:8000";
    cfg.storage_kind = STORAGE_LOCAL;
    CHECK_EQ_INT(storage_open(&cfg, NULL, &s), ERR_OK); /* local sends no requests */
    storage_contract(s);

    /* local specifics: where files go, their mode, no temp files left, the URL */
    CHECK_EQ_INT(storage_put(s, "users/u/thumbnail/t.webp", "RIFF", 4, "image/webp"), ERR_OK);
    snprintf(path, sizeof(path), "%s/media/users/u/thumbnail/t.webp", dir);
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0644);
    snprintf(path, sizeof(path), "ls -A %s/media/users/u/thumbnail | grep -c tmp", dir);
    CHECK(system(path) != 0); /* grep finds no temp file */
    CHECK_EQ_STR(storage_url(s, "users/u/thumbnail/t.webp", a),
                 "http://127.0.0.1:8000/media/users/u/thumbnail/t.webp");

    /* the probe writes under users/.probe/, which no client can name, and cleans up */
    CHECK_EQ_INT(storage_check(s), ERR_OK);
    CHECK_EQ_INT(storage_probe(s, path), ERR_OK);
    CHECK(strncmp(path, "users/.probe/", 13) == 0 && !storage_key_valid(path));
    CHECK_EQ_INT(storage_list(s, "", NULL, NULL), ERR_INVALID);
    list_contract(s); /* the local backend lists too (for `novadraw gc`) */

    storage_close(s);
    arena_free(a);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    CHECK_EQ_INT(system(path), 0);

    s3_settings();
    if (getenv("NOVADRAW_TEST_S3_ENDPOINT"))
        s3_contract(getenv("NOVADRAW_TEST_S3_ENDPOINT"));
    return check_summary("storage");
}
