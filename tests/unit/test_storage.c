/*
 * test_storage.c - the storage contract, run against the local backend: atomic
 * put, get, idempotent delete, refusal of keys that could escape the media root.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "storage/storage.h"

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
    CHECK_EQ_INT(storage_open(&cfg, &s), ERR_OK);
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

    storage_close(s);
    arena_free(a);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    CHECK_EQ_INT(system(path), 0);
    return check_summary("storage");
}
