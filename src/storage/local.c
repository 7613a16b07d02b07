/*
 * local.c - the local-filesystem storage backend: objects are files under
 * DATA_DIR/media/{key}, written atomically (temp file, fsync, rename, fsync of the
 * directory) and served by GET /media/{key}.
 *
 * Keys reach this file already validated by storage.c (no "..", no leading "/",
 * a fixed character set); files are opened with O_NOFOLLOW as a second fence.
 * list() walks the tree (directory by directory, names sorted), skipping temp files;
 * sweep() removes the old temp files a crash left (for gc).
 * The asynchronous put/get/del do their work inline and call back on the caller's
 * thread before returning. Owns the media root path. Thread-safe: no mutable state.
 */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

struct storage_local {
    struct storage base;
    char *root;     /* DATA_DIR/media */
    char *base_url; /* PUBLIC_BASE_URL/media/ */
    size_t base_url_len;
};

static char *path_of(const struct storage_local *l, const char *key)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", l->root, key) < 0)
        return NULL;
    return p;
}

/* mkdir -p for the directories of path (not its last component). */
static int make_parents(char *path)
{
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return 0;
}

static enum err errno_to_err(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
        return ERR_NOT_FOUND;
    case ENOMEM:
        return ERR_NOMEM;
    default:
        return ERR_UNAVAILABLE;
    }
}

static void local_close(struct storage *s)
{
    struct storage_local *l = (struct storage_local *)s;
    free(l->root);
    free(l->base_url);
    free(l);
}

static enum err local_open(const struct config *cfg, struct httpc *http, struct storage **out)
{
    struct storage_local *l = calloc(1, sizeof(*l));
    enum err rc = ERR_NOMEM;

    (void)http; /* no requests: files only */
    if (!l)
        return ERR_NOMEM;
    l->base.ops = &storage_local_ops;
    if (asprintf(&l->root, "%s/media", cfg->data_dir) < 0) {
        l->root = NULL;
        goto fail;
    }
    if (asprintf(&l->base_url, "%s/media/", cfg->public_base_url) < 0) {
        l->base_url = NULL;
        goto fail;
    }
    l->base_url_len = strlen(l->base_url);
    if ((mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(l->root, 0755) != 0 && errno != EEXIST)) {
        log_error("storage: cannot create %s: %s", l->root, strerror(errno));
        rc = ERR_UNAVAILABLE;
        goto fail;
    }
    *out = &l->base;
    return ERR_OK;
fail:
    local_close(&l->base);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    int fd, rc = -1;

    if (!dir)
        return -1;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(dir);
    return rc;
}

static enum err write_object(struct storage_local *l, const char *key, const void *data, size_t len)
{
    char *path = path_of(l, key), *tmp = NULL;
    const unsigned char *p = data;
    size_t left = len;
    int fd = -1;
    enum err rc = ERR_NOMEM;

    if (!path)
        goto out;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
        tmp = NULL;
        goto out;
    }
    rc = ERR_UNAVAILABLE;
    if (make_parents(tmp) != 0)
        goto out;
    fd = mkstemp(tmp);
    if (fd < 0)
        goto out;
    while (left > 0) {
        ssize_t k = write(fd, p, left);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        p += k;
        left -= (size_t)k;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    free(tmp);
    tmp = NULL;                  /* renamed: nothing to clean up */
    if (fsync_dir_of(path) != 0) /* the object is there; only its durability is in doubt */
        log_warn("storage: fsync of the directory of %s failed: %s", key, strerror(errno));
    rc = ERR_OK;
out:
    if (rc != ERR_OK)
        log_error("storage: cannot write %s: %s", key, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(path);
    return rc;
}

static enum err local_open_file(struct storage *s, const char *key, struct storage_file *out)
{
    struct storage_local *l = (struct storage_local *)s;
    char *path = path_of(l, key);
    struct stat st;
    int fd;

    if (!path)
        return ERR_NOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return errno_to_err(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ERR_NOT_FOUND;
    }
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return ERR_OK;
}

static enum err read_object(struct storage *s, const char *key, void **data, size_t *len)
{
    struct storage_file f;
    unsigned char *buf = NULL;
    size_t got = 0;
    enum err rc = local_open_file(s, key, &f);

    if (rc != ERR_OK)
        return rc;
    rc = ERR_NOMEM;
    buf = malloc(f.size ? f.size : 1);
    if (!buf)
        goto out;
    rc = ERR_UNAVAILABLE;
    while (got < f.size) {
        ssize_t k = read(f.fd, buf + got, f.size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto out;
        got += (size_t)k;
    }
    *data = buf;
    *len = got;
    buf = NULL;
    rc = ERR_OK;
out:
    free(buf);
    close(f.fd);
    return rc;
}

static enum err remove_object(struct storage_local *l, const char *key)
{
    char *path = path_of(l, key);
    enum err rc = ERR_OK;

    if (!path)
        return ERR_NOMEM;
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("storage: cannot delete %s: %s", key, strerror(errno));
        rc = ERR_UNAVAILABLE;
    }
    free(path);
    return rc;
}

/* The asynchronous ops: the work inline, then the callback, on the caller's thread. */

static enum err local_put(struct storage *s, const char *key, const void *data, size_t len,
                          const char *content_type, storage_done_fn done, void *arg)
{
    (void)content_type; /* the extension carries it for /media */
    done(arg, write_object((struct storage_local *)s, key, data, len));
    return ERR_OK;
}

static enum err local_get(struct storage *s, const char *key, storage_got_fn got, void *arg)
{
    void *data = NULL;
    size_t len = 0;
    enum err rc = read_object(s, key, &data, &len);

    got(arg, rc, rc == ERR_OK ? data : NULL, rc == ERR_OK ? len : 0);
    return ERR_OK;
}

static enum err local_del(struct storage *s, const char *key, storage_done_fn done, void *arg)
{
    done(arg, remove_object((struct storage_local *)s, key));
    return ERR_OK;
}

static char *local_url(struct storage *s, const char *key, struct arena *a)
{
    struct storage_local *l = (struct storage_local *)s;
    size_t nb = l->base_url_len, nk = strlen(key);
    char *url = arena_alloc(a, nb + nk + 1);

    if (url) {
        memcpy(url, l->base_url, nb);
        memcpy(url + nb, key, nk + 1);
    }
    return url;
}

/* Keys under prefix could be below the directory key: prefix and key agree as far
 * as the shorter goes. */
static bool may_hold(const char *key, const char *prefix)
{
    size_t nk = strlen(key), np = strlen(prefix);

    return strncmp(key, prefix, nk < np ? nk : np) == 0;
}

/* Lists the files of directory rel ("" = the root), recursing into directories that
 * may hold keys under prefix. Dot names and temp files of unfinished writes are not
 * objects; neither is anything but a regular file (symlinks are not followed). */
static enum err list_dir(const struct storage_local *l, const char *rel, const char *prefix,
                         storage_list_fn fn, void *ctx)
{
    struct dirent **names = NULL;
    char *dir = NULL;
    enum err rc = ERR_OK;
    int n;

    if (*rel ? asprintf(&dir, "%s/%s", l->root, rel) < 0 : !(dir = strdup(l->root))) {
        dir = NULL;
        return ERR_NOMEM;
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        rc = errno == ENOENT ? ERR_OK : ERR_UNAVAILABLE; /* nothing stored yet */
        if (rc != ERR_OK)
            log_error("storage: cannot list %s: %s", *rel ? rel : "the media root",
                      strerror(errno));
        names = NULL;
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *key = NULL, *path = NULL;
        struct stat st;

        if (rc != ERR_OK || name[0] == '.' || strstr(name, ".tmp-"))
            goto next;
        if ((*rel ? asprintf(&key, "%s/%s", rel, name) : asprintf(&key, "%s", name)) < 0) {
            key = NULL;
            rc = ERR_NOMEM;
            goto next;
        }
        path = path_of(l, key);
        if (!path) {
            rc = ERR_NOMEM;
            goto next;
        }
        if (lstat(path, &st) != 0)
            goto next; /* deleted meanwhile */
        if (S_ISDIR(st.st_mode)) {
            if (may_hold(key, prefix))
                rc = list_dir(l, key, prefix, fn, ctx);
        } else if (S_ISREG(st.st_mode) && strncmp(key, prefix, strlen(prefix)) == 0) {
            struct storage_object obj = {
                .key = key,
                .size = (uint64_t)st.st_size,
                .mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
            };
            rc = fn(ctx, &obj);
        }
    next:
        free(path);
        free(key);
        free(names[i]);
    }
    free(names);
    free(dir);
    return rc;
}

static enum err local_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx)
{
    return list_dir((const struct storage_local *)s, "", prefix, fn, ctx);
}

/* A temp file of write_object: the object's name, ".tmp-" and mkstemp's six characters. */
static bool is_temp_name(const char *name)
{
    size_t n = strlen(name);

    if (n < 12 || memcmp(name + n - 11, ".tmp-", 5) != 0)
        return false;
    for (size_t i = n - 6; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}

/* Walks directory rel ("" = the root) for temp files last modified at or before
 * cutoff_ms, removing each (unless dry_run) and reporting it. Dot directories are
 * walked too (the storage probe writes under users/.probe/); symlinks are not
 * followed. */
static enum err sweep_dir(const struct storage_local *l, const char *rel, int64_t cutoff_ms,
                          bool dry_run, storage_list_fn fn, void *ctx)
{
    struct dirent **names = NULL;
    char *dir = NULL;
    enum err rc = ERR_OK;
    int n;

    if (*rel ? asprintf(&dir, "%s/%s", l->root, rel) < 0 : !(dir = strdup(l->root))) {
        dir = NULL;
        return ERR_NOMEM;
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        rc = errno == ENOENT ? ERR_OK : ERR_UNAVAILABLE;
        if (rc != ERR_OK)
            log_error("storage: cannot list %s: %s", *rel ? rel : "the media root",
                      strerror(errno));
        names = NULL;
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *key = NULL, *path = NULL;
        struct stat st;

        if (rc != ERR_OK || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            goto next;
        if ((*rel ? asprintf(&key, "%s/%s", rel, name) : asprintf(&key, "%s", name)) < 0) {
            key = NULL;
            rc = ERR_NOMEM;
            goto next;
        }
        path = path_of(l, key);
        if (!path) {
            rc = ERR_NOMEM;
            goto next;
        }
        if (lstat(path, &st) != 0)
            goto next; /* gone meanwhile */
        if (S_ISDIR(st.st_mode)) {
            rc = sweep_dir(l, key, cutoff_ms, dry_run, fn, ctx);
        } else if (S_ISREG(st.st_mode) && is_temp_name(name)) {
            struct storage_object obj = {
                .key = key,
                .size = (uint64_t)st.st_size,
                .mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
            };
            if (obj.mtime_ms > cutoff_ms)
                goto next; /* a write may still be under way */
            if (!dry_run && unlink(path) != 0) {
                if (errno != ENOENT)
                    log_error("storage: cannot remove the temp file %s: %s", key, strerror(errno));
                goto next;
            }
            rc = fn(ctx, &obj);
        }
    next:
        free(path);
        free(key);
        free(names[i]);
    }
    free(names);
    free(dir);
    return rc;
}

static enum err local_sweep(struct storage *s, int64_t cutoff_ms, bool dry_run, storage_list_fn fn,
                            void *ctx)
{
    return sweep_dir((const struct storage_local *)s, "", cutoff_ms, dry_run, fn, ctx);
}

const struct storage_ops storage_local_ops = {
    .name = "local",
    .open = local_open,
    .close = local_close,
    .put = local_put,
    .get = local_get,
    .del = local_del,
    .url = local_url,
    .open_file = local_open_file,
    .list = local_list,
    .sweep = local_sweep,
};
