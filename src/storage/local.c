/*
 * local.c - the local-filesystem storage backend: objects are files under
 * DATA_DIR/media/{key}, written atomically (temp file, fsync, rename, fsync of the
 * directory) and served by GET /media/{key}.
 *
 * Keys reach this file already validated by storage.c (no "..", no leading "/",
 * a fixed character set). As a second fence, every file operation resolves its path
 * beneath a descriptor of the media root and through no symlink at all (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; where the kernel lacks it, a walk of one
 * O_NOFOLLOW openat per component), then works relative to the directory it reached
 * (mkdirat, renameat, unlinkat): a symlink planted anywhere under media/ leads nowhere.
 * list() walks the tree (directory by directory, names sorted), skipping temp files;
 * sweep() removes the old temp files a crash left (for gc).
 * The asynchronous put/get/del do their work inline and call back on the caller's
 * thread before returning. Owns the media root path and a descriptor of it. Thread-safe:
 * no mutable state but a flag set once (openat2 missing).
 */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/id.h"
#include "util/log.h"

struct storage_local {
    struct storage base;
    int root_fd;    /* DATA_DIR/media, O_PATH: every path resolves beneath it */
    char *root;     /* DATA_DIR/media */
    char *base_url; /* PUBLIC_BASE_URL/media/ */
    size_t base_url_len;
};

/* Set once openat2 answers ENOSYS (a kernel before 5.6): the walk is used from then on. */
static atomic_bool no_openat2;

void storage_local_test_without_openat2(bool without)
{
    atomic_store(&no_openat2, without);
}

/* Opens rel, relative to the directory dirfd, by one O_NOFOLLOW openat per component;
 * with make_dirs, missing directories on the way are made first (and rel names a
 * directory). A component that is empty, "." or ".." is refused (EINVAL). */
static int walk_at(int dirfd, const char *rel, int flags, mode_t mode, bool make_dirs)
{
    int fd = dirfd;

    for (;;) {
        const char *slash = strchr(rel, '/');
        size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
        char comp[256];
        int next;

        if (n == 0 || n >= sizeof(comp) ||
            (rel[0] == '.' && (n == 1 || (n == 2 && rel[1] == '.')))) {
            errno = EINVAL;
            next = -1;
        } else {
            memcpy(comp, rel, n);
            comp[n] = '\0';
            if (make_dirs && mkdirat(fd, comp, 0755) != 0 && errno != EEXIST)
                next = -1;
            else if (slash || make_dirs)
                next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            else
                next = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        }
        if (fd != dirfd) {
            int e = errno;
            close(fd);
            errno = e;
        }
        if (next < 0 || !slash)
            return next;
        fd = next;
        rel = slash + 1;
    }
}

/* Opens rel beneath the media root with flags, through no symlink and never outside
 * the root: -1 with errno on failure (ELOOP or EXDEV for a symlink or an escape). */
static int open_beneath(const struct storage_local *l, const char *rel, int flags, mode_t mode)
{
    if (!atomic_load(&no_openat2)) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, l->root_fd, rel, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        atomic_store(&no_openat2, true);
    }
    return walk_at(l->root_fd, rel, flags, mode, false);
}

/* The directory holding key (opened O_RDONLY, beneath the root); *leaf is key's last
 * component. With make_dirs, missing directories are made. */
static int open_parent(const struct storage_local *l, const char *key, bool make_dirs,
                       const char **leaf)
{
    const char *slash = strrchr(key, '/');
    char *dir;
    int fd;

    if (!slash) {
        *leaf = key;
        return openat(l->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    *leaf = slash + 1;
    dir = strndup(key, (size_t)(slash - key));
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    fd = open_beneath(l, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0 && errno == ENOENT && make_dirs)
        fd = walk_at(l->root_fd, dir, 0, 0, true);
    free(dir);
    return fd;
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
    if (l->root_fd >= 0)
        close(l->root_fd);
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
    l->root_fd = -1;
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
    l->root_fd = open(l->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (l->root_fd < 0) {
        log_error("storage: cannot open %s: %s", l->root, strerror(errno));
        rc = ERR_UNAVAILABLE;
        goto fail;
    }
    *out = &l->base;
    return ERR_OK;
fail:
    local_close(&l->base);
    return rc;
}

/* A fresh temp name for leaf in dirfd: leaf ".tmp-" and six random letters or digits
 * (the shape sweep_dir looks for), created O_EXCL. */
static int create_temp(int dirfd, const char *leaf, char **name)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned char r[6];
        char *tmp = NULL;
        int fd;

        if (!id_random(r, sizeof(r)))
            return -1;
        if (asprintf(&tmp, "%s.tmp-%c%c%c%c%c%c", leaf, alnum[r[0] % 62], alnum[r[1] % 62],
                     alnum[r[2] % 62], alnum[r[3] % 62], alnum[r[4] % 62], alnum[r[5] % 62]) < 0)
            return -1;
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            *name = tmp;
            return fd;
        }
        free(tmp);
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

static enum err write_object(struct storage_local *l, const char *key, const void *data, size_t len)
{
    const unsigned char *p = data;
    const char *leaf = NULL;
    char *tmp = NULL;
    size_t left = len;
    int dirfd, fd = -1;
    enum err rc = ERR_UNAVAILABLE;

    dirfd = open_parent(l, key, true, &leaf);
    if (dirfd < 0)
        goto out;
    fd = create_temp(dirfd, leaf, &tmp);
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
    if (renameat(dirfd, tmp, dirfd, leaf) != 0)
        goto out;
    free(tmp);
    tmp = NULL;            /* renamed: nothing to clean up */
    if (fsync(dirfd) != 0) /* the object is there; only its durability is in doubt */
        log_warn("storage: fsync of the directory of %s failed: %s", key, strerror(errno));
    rc = ERR_OK;
out:
    if (rc != ERR_OK)
        log_error("storage: cannot write %s: %s", key, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlinkat(dirfd, tmp, 0);
        free(tmp);
    }
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static enum err local_open_file(struct storage *s, const char *key, struct storage_file *out)
{
    struct storage_local *l = (struct storage_local *)s;
    struct stat st;
    int fd;

    fd = open_beneath(l, key, O_RDONLY, 0);
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
    const char *leaf = NULL;
    int dirfd = open_parent(l, key, false, &leaf);
    enum err rc = ERR_OK;

    if (dirfd < 0) {
        if (errno != ENOENT) {
            log_error("storage: cannot delete %s: %s", key, strerror(errno));
            rc = errno == ENOMEM ? ERR_NOMEM : ERR_UNAVAILABLE;
        }
        return rc;
    }
    if (unlinkat(dirfd, leaf, 0) != 0 && errno != ENOENT) {
        log_error("storage: cannot delete %s: %s", key, strerror(errno));
        rc = ERR_UNAVAILABLE;
    }
    close(dirfd);
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

/* A temp file of write_object: the object's name, ".tmp-" and six letters or digits. */
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

/* What a walk of the tree is for: a listing (objects under prefix) or a sweep (temp
 * files last modified at or before cutoff_ms, removed unless dry_run). */
struct tree_walk {
    const char *prefix; /* NULL: a sweep */
    int64_t cutoff_ms;
    bool dry_run;
    storage_list_fn fn;
    void *ctx;
};

static enum err walk_entry(const struct tree_walk *w, int dirfd, const char *key, const char *name);

/*
 * Walks the directory dirfd (rel: its path under the root, "" = the root), names
 * sorted. A listing skips dot names and temp files, and recurses only where keys under
 * the prefix may be; a sweep walks every directory (the storage probe writes under
 * users/.probe/). Only regular files count; subdirectories are opened with O_NOFOLLOW
 * relative to dirfd, so no symlink is ever followed.
 */
static enum err walk_tree(const struct tree_walk *w, int dirfd, const char *rel)
{
    struct dirent **names = NULL;
    enum err rc = ERR_OK;
    int n = scandirat(dirfd, ".", &names, NULL, alphasort);

    if (n < 0) {
        log_error("storage: cannot list %s: %s", *rel ? rel : "the media root", strerror(errno));
        return ERR_UNAVAILABLE;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *key = NULL;

        if (rc != ERR_OK || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            goto next;
        if (w->prefix && (name[0] == '.' || strstr(name, ".tmp-")))
            goto next;
        if ((*rel ? asprintf(&key, "%s/%s", rel, name) : asprintf(&key, "%s", name)) < 0) {
            key = NULL;
            rc = ERR_NOMEM;
            goto next;
        }
        rc = walk_entry(w, dirfd, key, name);
    next:
        free(key);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* One entry of a walk: name in dirfd, key its path under the root. */
static enum err walk_entry(const struct tree_walk *w, int dirfd, const char *key, const char *name)
{
    struct storage_object obj = {.key = key};
    struct stat st;
    enum err rc;
    int fd;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return ERR_OK; /* gone meanwhile */
    if (S_ISDIR(st.st_mode)) {
        if (w->prefix && !may_hold(key, w->prefix))
            return ERR_OK;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? ERR_OK : ERR_UNAVAILABLE;
        rc = walk_tree(w, fd, key);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode))
        return ERR_OK;
    obj.size = (uint64_t)st.st_size;
    obj.mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (w->prefix)
        return strncmp(key, w->prefix, strlen(w->prefix)) == 0 ? w->fn(w->ctx, &obj) : ERR_OK;
    if (!is_temp_name(name) || obj.mtime_ms > w->cutoff_ms)
        return ERR_OK; /* not a temp file, or a write may still be under way */
    if (!w->dry_run && unlinkat(dirfd, name, 0) != 0) {
        if (errno != ENOENT)
            log_error("storage: cannot remove the temp file %s: %s", key, strerror(errno));
        return ERR_OK;
    }
    return w->fn(w->ctx, &obj);
}

static enum err local_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx)
{
    struct tree_walk w = {.prefix = prefix, .fn = fn, .ctx = ctx};

    return walk_tree(&w, ((const struct storage_local *)s)->root_fd, "");
}

static enum err local_sweep(struct storage *s, int64_t cutoff_ms, bool dry_run, storage_list_fn fn,
                            void *ctx)
{
    struct tree_walk w = {.cutoff_ms = cutoff_ms, .dry_run = dry_run, .fn = fn, .ctx = ctx};

    return walk_tree(&w, ((const struct storage_local *)s)->root_fd, "");
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
