/*
 * auth.c - HS256 access tokens over libjwt 1.10 (jwt.h is included only here).
 *
 * libjwt 1.10 is lax in ways measured on this machine: with a NULL or empty key it
 * accepts any token, it lets the token's header pick HS384/HS512 with our secret,
 * and it never looks at exp or nbf. So we always pass a non-empty key, demand
 * HS256 after decoding, and check exp, nbf, iat and sub ourselves. The signature is
 * also checked here first, with OpenSSL and a constant-time comparison, so no
 * timing of libjwt's string compare can leak how much of a forged one was right.
 *
 * Owns the secret (wiped on close). Thread-safe: struct auth is read-only.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define SECRET_BYTES 32
#define TOKEN_MAX 8192

struct auth {
    size_t len;
    unsigned char secret[]; /* not NUL-terminated */
};

enum err auth_open_secret(const char *secret, size_t len, struct auth **out)
{
    struct auth *a;

    if (!secret || len == 0 || len > 4096)
        return ERR_INVALID; /* an empty key would make libjwt accept anything */
    a = malloc(sizeof(*a) + len);
    if (!a)
        return ERR_NOMEM;
    a->len = len;
    memcpy(a->secret, secret, len);
    *out = a;
    return ERR_OK;
}

void auth_close(struct auth *a)
{
    if (!a)
        return;
    explicit_bzero(a->secret, a->len);
    free(a);
}

static bool is_hex_secret(const char *s, size_t n)
{
    if (n != 2 * SECRET_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Reads DATA_DIR/jwt_secret: 64 lowercase hex characters (the secret is that text). */
static enum err read_secret(const char *path, char buf[2 * SECRET_BYTES + 1])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n;
    enum err rc = ERR_INTERNAL;

    if (fd < 0)
        return errno == ENOENT ? ERR_NOT_FOUND : ERR_UNAVAILABLE;
    n = read(fd, buf, 2 * SECRET_BYTES + 1);
    if (n >= 2 * SECRET_BYTES && is_hex_secret(buf, 2 * SECRET_BYTES) &&
        (n == 2 * SECRET_BYTES || buf[2 * SECRET_BYTES] == '\n')) {
        buf[2 * SECRET_BYTES] = '\0';
        rc = ERR_OK;
    } else {
        log_error("auth: %s is not a generated secret (64 hex digits); remove it or set JWT_SECRET",
                  path);
    }
    close(fd);
    return rc;
}

/* Creates the secret file race-free: write a temp file, then link(2), which fails if
 * another process got there first (we then read theirs). */
static enum err create_secret(const char *dir, const char *path)
{
    char hex[2 * SECRET_BYTES + 2];
    char *tmp = NULL;
    int fd = -1;
    enum err rc = ERR_UNAVAILABLE;

    if (!id_random_hex(hex, SECRET_BYTES))
        return ERR_INTERNAL;
    hex[2 * SECRET_BYTES] = '\n';
    if (asprintf(&tmp, "%s/.jwt_secret.XXXXXX", dir) < 0) {
        tmp = NULL;
        rc = ERR_NOMEM;
        goto out;
    }
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0)
        goto out;
    if (write(fd, hex, 2 * SECRET_BYTES + 1) != 2 * SECRET_BYTES + 1 || fsync(fd) != 0)
        goto out;
    if (link(tmp, path) != 0 && errno != EEXIST)
        goto out;
    rc = ERR_OK;
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    explicit_bzero(hex, sizeof(hex));
    if (rc != ERR_OK)
        log_error("auth: cannot create %s: %s", path, strerror(errno));
    return rc;
}

enum err auth_open(const struct config *cfg, bool create, struct auth **out)
{
    char buf[2 * SECRET_BYTES + 1];
    char *path = NULL;
    enum err rc;

    if (cfg->jwt_secret)
        return auth_open_secret(cfg->jwt_secret, strlen(cfg->jwt_secret), out);

    if (create && mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("auth: cannot create DATA_DIR %s: %s", cfg->data_dir, strerror(errno));
        return ERR_UNAVAILABLE;
    }
    if (asprintf(&path, "%s/%s", cfg->data_dir, AUTH_SECRET_FILE) < 0)
        return ERR_NOMEM;
    rc = read_secret(path, buf);
    if (rc == ERR_NOT_FOUND && create) {
        rc = create_secret(cfg->data_dir, path);
        if (rc == ERR_OK) {
            log_info("auth: generated a new signing secret in %s", path);
            rc = read_secret(path, buf);
        }
    }
    if (rc == ERR_OK)
        rc = auth_open_secret(buf, 2 * SECRET_BYTES, out);
    explicit_bzero(buf, sizeof(buf));
    free(path);
    return rc;
}

/* Three non-empty base64url segments, nothing else. */
static bool token_shape_ok(const char *t)
{
    size_t n = strlen(t), dots = 0, seg = 0;

    if (n == 0 || n > TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '.') {
            if (seg == 0)
                return false;
            dots++;
            seg = 0;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        seg++;
    }
    return dots == 2 && seg > 0;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Checks the HS256 signature of "header.payload.sig" in constant time. */
static bool signature_ok(const struct auth *a, const char *token)
{
    const char *sig = strrchr(token, '.');
    unsigned char want[EVP_MAX_MD_SIZE], got[32];
    unsigned int want_len = 0;
    size_t n, nbits = 0, k = 0;
    unsigned acc = 0;
    bool ok;

    if (!sig)
        return false;
    n = strlen(sig + 1);
    if (n != 43) /* 32 bytes, unpadded */
        return false;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(sig[1 + i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            got[k++] = (unsigned char)(acc >> nbits);
        }
    }
    if (k != sizeof(got) || (acc & ((1u << nbits) - 1)) != 0)
        return false;
    if (!HMAC(EVP_sha256(), a->secret, (int)a->len, (const unsigned char *)token,
              (size_t)(sig - token), want, &want_len) ||
        want_len != sizeof(got))
        return false;
    ok = CRYPTO_memcmp(want, got, sizeof(got)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

/* An optional NumericDate claim (RFC 7519: integer or not): false if present but not a
 * finite number. Fractions are dropped toward the past, as the checks allow skew. */
static bool claim_time(jwt_t *jwt, const char *name, bool *present, long *value)
{
    char *json = jwt_get_grants_json(jwt, name);
    char *end = NULL;
    double v;
    bool ok = false;

    *present = false;
    if (!json)
        return true; /* absent */
    errno = 0;
    v = strtod(json, &end);
    if (end != json && *end == '\0' && errno == 0 && isfinite(v) && v > -1e15 && v < 1e15) {
        *present = true;
        *value = (long)floor(v);
        ok = true;
    }
    free(json);
    return ok;
}

enum err auth_verify(const struct auth *a, const char *token, int64_t now,
                     char user_id[ID_UUID_LEN], int64_t *issued_at, bool *expired)
{
    return auth_verify_until(a, token, now, user_id, issued_at, expired, NULL);
}

enum err auth_verify_until(const struct auth *a, const char *token, int64_t now,
                           char user_id[ID_UUID_LEN], int64_t *issued_at, bool *expired,
                           int64_t *expires)
{
    jwt_t *jwt = NULL;
    const char *sub;
    bool has_exp, has_nbf, has_iat, late;
    long exp, nbf, iat;
    char canon[ID_UUID_LEN];
    enum err rc = ERR_UNAUTHORIZED;

    if (expired)
        *expired = false;
    if (!a || a->len == 0 || !token || !token_shape_ok(token) || !signature_ok(a, token))
        goto out;
    if (jwt_decode(&jwt, token, a->secret, (int)a->len) != 0 || !jwt)
        goto out;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out;
    if (!claim_time(jwt, "exp", &has_exp, &exp) || !has_exp)
        goto out;
    late = now >= exp; /* decided last: "expired" only for a token otherwise good */
    if (!claim_time(jwt, "nbf", &has_nbf, &nbf) || (has_nbf && now + AUTH_SKEW_SECONDS < nbf))
        goto out;
    if (!claim_time(jwt, "iat", &has_iat, &iat) || (has_iat && now + AUTH_SKEW_SECONDS < iat))
        goto out;
    sub = jwt_get_grant(jwt, "sub");
    if (!sub || !id_uuid_parse(sub, strlen(sub), canon))
        goto out;
    if (late) {
        if (expired)
            *expired = true;
        goto out;
    }
    memcpy(user_id, canon, ID_UUID_LEN);
    if (issued_at)
        *issued_at = has_iat ? iat : -1;
    if (expires)
        *expires = exp;
    rc = ERR_OK;
out:
    jwt_free(jwt);
    return rc;
}

enum err auth_mint(const struct auth *a, const char *user_id, int64_t now, long ttl, char **out)
{
    jwt_t *jwt = NULL;
    char canon[ID_UUID_LEN];
    char *s = NULL;
    enum err rc = ERR_INVALID;

    if (!a || !user_id || !id_uuid_parse(user_id, strlen(user_id), canon) || ttl <= 0)
        goto out;
    rc = ERR_NOMEM;
    if (jwt_new(&jwt) != 0)
        goto out;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, a->secret, (int)a->len) != 0 ||
        jwt_add_grant(jwt, "sub", canon) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) != 0)
        goto out;
    s = jwt_encode_str(jwt);
    if (!s)
        goto out;
    *out = strdup(s);
    free(s); /* libjwt 1.10 allocates with malloc */
    rc = *out ? ERR_OK : ERR_NOMEM;
out:
    jwt_free(jwt);
    return rc;
}
