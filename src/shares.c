/*
 * shares.c - share links' tokens and operations (shares.h): tokens from
 * getrandom(2), their SHA-256 (OpenSSL) as the database's key. Stateless and
 * thread-safe.
 */
#include "shares.h"

#include <string.h>

#include <openssl/sha.h>

#include "util/base64.h"
#include "util/timefmt.h"

bool shares_token_new(char out[SHARES_TOKEN_LEN + 1])
{
    unsigned char raw[SHARES_TOKEN_BYTES];
    char b64[SHARES_TOKEN_LEN + 2]; /* 44 characters with one '=', and NUL */

    _Static_assert(sizeof(b64) >= 4 * ((SHARES_TOKEN_BYTES + 2) / 3) + 1, "base64 room");
    if (!id_random(raw, sizeof(raw)))
        return false;
    base64_encode_into(raw, sizeof(raw), b64);
    for (size_t i = 0; i < SHARES_TOKEN_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[SHARES_TOKEN_LEN] = '\0';
    memset(raw, 0, sizeof(raw));
    return true;
}

bool shares_token_valid(const char *s)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; i <= SHARES_TOKEN_LEN && s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return i == SHARES_TOKEN_LEN && s[i] == '\0';
}

void shares_token_hash(const char *token, unsigned char out[DB_SHARE_HASH_LEN])
{
    _Static_assert(DB_SHARE_HASH_LEN == SHA256_DIGEST_LENGTH, "the hash is SHA-256");
    SHA256((const unsigned char *)token, strlen(token), out);
}

char *shares_url(const struct app *app, const char *token, struct arena *a)
{
    return arena_printf(a, "%s/s/%s", app->cfg->public_base_url, token);
}

enum err shares_create(struct app *app, const char *user_id, const char *drawing_id,
                       int64_t expires_in, struct arena *a, struct share *out)
{
    unsigned char hash[DB_SHARE_HASH_LEN];
    char token[SHARES_TOKEN_LEN + 1];
    struct share s = {0};
    enum err rc;

    if (expires_in != 0 && (expires_in < SHARES_EXPIRES_MIN || expires_in > SHARES_EXPIRES_MAX))
        return ERR_INVALID;
    if (!shares_token_new(token))
        return ERR_INTERNAL;
    s.token = arena_strdup(a, token);
    if (!s.token)
        return ERR_NOMEM;
    shares_token_hash(token, hash);
    s.created_at = time_now_ms();
    s.expires = expires_in != 0;
    s.expires_at = s.expires ? s.created_at + expires_in * 1000 : 0;
    rc = db_share_add(app->db, user_id, drawing_id, hash, &s);
    if (rc == ERR_OK)
        *out = s;
    return rc;
}

enum err shares_revoke(struct app *app, const char *user_id, const char *token)
{
    unsigned char hash[DB_SHARE_HASH_LEN];

    if (!shares_token_valid(token))
        return ERR_NOT_FOUND;
    shares_token_hash(token, hash);
    return db_share_revoke(app->db, user_id, hash);
}

enum err shares_open(struct app *app, const char *token, struct arena *a, struct drawing *out)
{
    unsigned char hash[DB_SHARE_HASH_LEN];

    if (!shares_token_valid(token))
        return ERR_NOT_FOUND;
    shares_token_hash(token, hash);
    return db_share_open(app->db, hash, time_now_ms(), a, out);
}
