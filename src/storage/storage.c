/*
 * storage.c - the storage name table, key generation and validation, and the
 * wrappers every caller goes through: a bad key is refused here, once, before
 * any backend sees it. Pure apart from dispatch; thread-safe.
 */
#include "storage.h"

#include <stdio.h>
#include <string.h>

#include "util/id.h"
#include "util/timefmt.h"

enum err storage_open(const struct config *cfg, struct storage **out)
{
    switch (cfg->storage_kind) {
    case STORAGE_LOCAL:
        return storage_local_ops.open(cfg, out);
    case STORAGE_S3:
        return storage_s3_ops.open(cfg, out);
    }
    return ERR_UNSUPPORTED;
}

void storage_close(struct storage *s)
{
    if (s)
        s->ops->close(s);
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* The characters a key may hold; '/' and '.' get extra rules below. */
static const unsigned char key_char[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['_'] = 1, ['-'] = 1, ['.'] = 1,
};

bool storage_key_valid(const char *key)
{
    size_t n, seg = 0;

    if (!key)
        return false;
    n = strnlen(key, STORAGE_KEY_MAX);
    if (n == 0 || n >= STORAGE_KEY_MAX || key[0] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (c == '/') {
            if (seg == 0)
                return false; /* empty segment: "a//b" */
            seg = 0;
            continue;
        }
        if (!key_char[(unsigned char)c] || (seg == 0 && c == '.'))
            return false; /* a foreign byte, or ".", "..", hidden files */
        seg++;
    }
    return seg > 0 && (has_suffix(key, n, ".png") || has_suffix(key, n, ".webp"));
}

bool storage_key_new(const char *user_id, enum storage_kind_of_object kind, int64_t now_ms,
                     char out[STORAGE_KEY_MAX])
{
    static const char *const dirs[] = {"original", "edited", "thumbnail"};
    char stamp[TIMEFMT_KEY_LEN];
    char hex[33];
    int n;

    if (!id_uuid_is_canonical(user_id) || (unsigned)kind > STORAGE_THUMBNAIL ||
        !id_random_hex(hex, 16))
        return false;
    timefmt_key(now_ms, stamp);
    n = snprintf(out, STORAGE_KEY_MAX, "users/%s/%s/%s_%s.%s", user_id, dirs[kind], stamp, hex,
                 kind == STORAGE_THUMBNAIL ? "webp" : "png");
    return n > 0 && n < STORAGE_KEY_MAX;
}

const char *storage_content_type(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (has_suffix(key, n, ".png"))
        return "image/png";
    if (has_suffix(key, n, ".webp"))
        return "image/webp";
    return "application/octet-stream";
}

enum err storage_put(struct storage *s, const char *key, const void *data, size_t len,
                     const char *content_type)
{
    if (!s || !storage_key_valid(key) || (!data && len) || !content_type)
        return ERR_INVALID;
    return s->ops->put(s, key, data, len, content_type);
}

enum err storage_get(struct storage *s, const char *key, void **data, size_t *len)
{
    if (!s || !data || !len)
        return ERR_INVALID;
    if (!storage_key_valid(key))
        return ERR_NOT_FOUND;
    return s->ops->get(s, key, data, len);
}

enum err storage_del(struct storage *s, const char *key)
{
    if (!s || !storage_key_valid(key))
        return ERR_INVALID;
    return s->ops->del(s, key);
}

char *storage_url(struct storage *s, const char *key, struct arena *a)
{
    /* Keys come from our own rows, validated when they were written; a URL touches no
     * file, and this runs ~80 times per gallery page, so only the cheap checks here. */
    if (!s || !a || !key || !*key)
        return NULL;
    if (strncmp(key, "data:", 5) == 0) /* the fallback: the image itself, kept in the row */
        return arena_strdup(a, key);
    return s->ops->url(s, key, a);
}

enum err storage_open_file(struct storage *s, const char *key, struct storage_file *out)
{
    if (!s || !out || !s->ops->open_file || !storage_key_valid(key))
        return ERR_NOT_FOUND;
    return s->ops->open_file(s, key, out);
}

enum err storage_check(struct storage *s)
{
    if (!s)
        return ERR_INVALID;
    return s->ops->check ? s->ops->check(s) : ERR_OK;
}

enum err storage_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx)
{
    if (!s || !prefix || !fn)
        return ERR_INVALID;
    if (!s->ops->list)
        return ERR_UNSUPPORTED;
    return s->ops->list(s, prefix, fn, ctx);
}

enum err storage_probe(struct storage *s, char key_out[STORAGE_KEY_MAX])
{
    static const char probe[] = "novadraw storage probe\n";
    char hex[33];
    enum err rc;

    if (!s || !key_out)
        return ERR_INVALID;
    if (!id_random_hex(hex, 16))
        return ERR_INTERNAL;
    /* fixed shape and length: always fits; bypasses storage_key_valid on purpose */
    snprintf(key_out, STORAGE_KEY_MAX, "users/.probe/%s.png", hex);
    rc = s->ops->put(s, key_out, probe, sizeof(probe) - 1, "application/octet-stream");
    if (rc != ERR_OK)
        return rc;
    return s->ops->del(s, key_out);
}
