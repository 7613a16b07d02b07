/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign, the
 * derived signing key, and the two ways to carry the signature (Authorization
 * header, presigned query). OpenSSL provides SHA-256 and HMAC.
 *
 * Owns nothing between calls; every string it builds is bounded (SIGV4_MAX) and
 * either returned (caller frees) or freed before return. Key material derived
 * from the secret is wiped (OPENSSL_cleanse) before its memory is released.
 * Thread-safe: no state.
 */
#include "storage/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/buf.h"
#include "util/hex.h"

#define SIGV4_MAX (1u << 20)        /* no canonical request or header we build is larger */
#define SIGV4_ENCODE_MAX (1u << 16) /* longest raw path, name or value we accept */
#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_MAX_EXPIRES 604800 /* AWS: presigned URLs live at most 7 days */

/* ------------------------------------------------------------------ primitives */

static const char hexdigits_upper[] = "0123456789ABCDEF";

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(data ? data : "", len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        out[0] = '\0'; /* cannot happen with a working libcrypto; signing then fails */
        return;
    }
    hex_encode(md, 32, out);
}

static bool hmac256(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) !=
               NULL &&
           n == 32;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void encode_into(struct buf *b, const char *s, bool keep_slash)
{
    size_t n = strlen(s);

    if (n > SIGV4_ENCODE_MAX) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            buf_add(b, (const char *)&c, 1);
        } else {
            char pct[3] = {'%', hexdigits_upper[c >> 4], hexdigits_upper[c & 15]};
            buf_add(b, pct, 3);
        }
    }
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
    struct buf b = {.max = SIGV4_MAX};

    if (!s)
        return NULL;
    encode_into(&b, s, keep_slash);
    return buf_take(&b);
}

bool sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
        return false;
    return strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm) == SIGV4_DATE_LEN - 1;
}

/* True if s is a non-empty token safe inside a credential scope: no '/', ',', space, control. */
static bool scope_token_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '=')
            return false;
    }
    return true;
}

static bool hash_ok(const char *h)
{
    if (!h)
        return false;
    if (strcmp(h, SIGV4_UNSIGNED_PAYLOAD) == 0)
        return true;
    if (strlen(h) != 64)
        return false;
    for (; *h; h++) {
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ canonical parts */

struct canon_pair {
    char *name;  /* encoded query name, or lowercased header name */
    char *value; /* encoded query value, or trimmed header value */
};

static int pair_cmp(const void *a, const void *b)
{
    const struct canon_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void pairs_free(struct canon_pair *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

/* Header value: leading/trailing blanks dropped, inner runs of blanks made one space. */
static char *header_value_canonical(const char *v)
{
    struct buf b = {.max = SIGV4_MAX};
    bool pending_space = false;

    if (strlen(v) > SIGV4_ENCODE_MAX)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v; v++) {
        if (*v == '\r' || *v == '\n')
            goto bad; /* would forge another header line */
        if (*v == ' ' || *v == '\t') {
            pending_space = true;
            continue;
        }
        if (pending_space)
            buf_add(&b, " ", 1);
        pending_space = false;
        buf_add(&b, v, 1);
    }
    return buf_take(&b);
bad:
    buf_free(&b);
    return NULL;
}

static char *header_name_canonical(const char *n)
{
    size_t len = strlen(n);
    char *out;

    if (len == 0 || len > 256)
        return NULL;
    out = malloc(len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (i < len && (c <= ' ' || c >= 0x7f || c == ':')) {
            free(out);
            return NULL;
        }
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
    }
    return out;
}

/* Lowercased, trimmed and sorted headers; ERR_INVALID for a bad or repeated name. */
static enum err canon_headers(const struct sigv4_kv *a, size_t na, const struct sigv4_kv *b,
                              size_t nb, struct canon_pair **out, size_t *n_out)
{
    size_t n = na + nb;
    struct canon_pair *p = calloc(n ? n : 1, sizeof(*p));
    enum err rc = ERR_NOMEM;

    if (!p)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct sigv4_kv *kv = i < na ? &a[i] : &b[i - na];
        if (!kv->name || !kv->value) {
            rc = ERR_INVALID;
            goto fail;
        }
        p[i].name = header_name_canonical(kv->name);
        p[i].value = header_value_canonical(kv->value);
        if (!p[i].name || !p[i].value) {
            rc = ERR_INVALID;
            goto fail;
        }
    }
    qsort(p, n, sizeof(*p), pair_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(p[i - 1].name, p[i].name) == 0) {
            rc = ERR_INVALID; /* we never send a header twice */
            goto fail;
        }
    }
    *out = p;
    *n_out = n;
    return ERR_OK;
fail:
    pairs_free(p, n);
    return rc;
}

/* "a=1&b=2": names and values encoded, sorted by name then value. */
static enum err canon_query(const struct sigv4_kv *a, size_t na, const struct sigv4_kv *b,
                            size_t nb, char **out)
{
    size_t n = na + nb;
    struct canon_pair *p = calloc(n ? n : 1, sizeof(*p));
    struct buf s = {.max = SIGV4_MAX};
    enum err rc = ERR_NOMEM;

    if (!p)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct sigv4_kv *kv = i < na ? &a[i] : &b[i - na];
        if (!kv->name || !*kv->name) {
            rc = ERR_INVALID;
            goto out;
        }
        p[i].name = sigv4_uri_encode(kv->name, false);
        p[i].value = sigv4_uri_encode(kv->value ? kv->value : "", false);
        if (!p[i].name || !p[i].value)
            goto out;
    }
    qsort(p, n, sizeof(*p), pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_add(&s, "&", 1);
        buf_str(&s, p[i].name);
        buf_add(&s, "=", 1);
        buf_str(&s, p[i].value);
    }
    *out = buf_take(&s);
    rc = *out ? ERR_OK : ERR_NOMEM;
out:
    buf_free(&s);
    pairs_free(p, n);
    return rc;
}

static enum err canonical_request_q(const struct sigv4_request *r, const struct sigv4_kv *extra_h,
                                    size_t n_extra_h, const struct sigv4_kv *extra_q,
                                    size_t n_extra_q, const char *payload_hash, char **out,
                                    char **signed_headers, char **query_out)
{
    struct canon_pair *h = NULL;
    size_t nh = 0;
    char *query = NULL, *signed_list = NULL;
    struct buf b = {.max = SIGV4_MAX}, sl = {.max = SIGV4_MAX};
    enum err rc;

    if (!r || !r->method || !*r->method || !r->path || r->path[0] != '/' || !r->host || !*r->host ||
        !hash_ok(payload_hash) || (r->n_query && !r->query) || (r->n_headers && !r->headers))
        return ERR_INVALID;
    rc = canon_headers(r->headers, r->n_headers, extra_h, n_extra_h, &h, &nh);
    if (rc != ERR_OK)
        return rc;
    rc = canon_query(r->query, r->n_query, extra_q, n_extra_q, &query);
    if (rc != ERR_OK)
        goto out;

    for (size_t i = 0; i < nh; i++) {
        if (i)
            buf_add(&sl, ";", 1);
        buf_str(&sl, h[i].name);
    }
    signed_list = buf_take(&sl);

    buf_str(&b, r->method);
    buf_add(&b, "\n", 1);
    encode_into(&b, r->path, true);
    buf_add(&b, "\n", 1);
    buf_str(&b, query);
    buf_add(&b, "\n", 1);
    for (size_t i = 0; i < nh; i++) {
        buf_str(&b, h[i].name);
        buf_add(&b, ":", 1);
        buf_str(&b, h[i].value);
        buf_add(&b, "\n", 1);
    }
    buf_add(&b, "\n", 1);
    buf_str(&b, signed_list ? signed_list : "");
    buf_add(&b, "\n", 1);
    buf_str(&b, payload_hash);

    rc = ERR_NOMEM;
    if (!signed_list || b.failed)
        goto out;
    *out = buf_take(&b);
    if (!*out)
        goto out;
    *signed_headers = signed_list;
    signed_list = NULL;
    if (query_out) {
        *query_out = query;
        query = NULL;
    }
    rc = ERR_OK;
out:
    buf_free(&b);
    buf_free(&sl);
    free(signed_list);
    free(query);
    pairs_free(h, nh);
    return rc;
}

enum err sigv4_canonical_request(const struct sigv4_request *r, const struct sigv4_kv *extra,
                                 size_t n_extra, char **out, char **signed_headers)
{
    if (!r || !out || !signed_headers)
        return ERR_INVALID;
    return canonical_request_q(r, extra, n_extra, NULL, 0, r->payload_hash, out, signed_headers,
                               NULL);
}

/* ------------------------------------------------------------------ signing */

/* "20130524/us-east-1/s3/aws4_request" */
static char *credential_scope(const struct sigv4_key *k, const char *amz_date)
{
    char *s = NULL;
    if (asprintf(&s, "%.8s/%s/%s/aws4_request", amz_date, k->region, k->service) < 0)
        return NULL;
    return s;
}

/* Hex HMAC-SHA256 of the string to sign with the key derived from the secret. */
static enum err signature_of(const struct sigv4_key *k, const char *amz_date, const char *scope,
                             const char *canonical, char out[SIGV4_HEX_LEN])
{
    unsigned char kdate[32], kregion[32], kservice[32], ksigning[32], sig[32];
    char day[9], creq_hash[SIGV4_HEX_LEN];
    char *secret = NULL, *sts = NULL;
    size_t slen = strlen(k->secret_key);
    enum err rc = ERR_NOMEM;

    secret = malloc(slen + 5);
    if (!secret)
        goto out;
    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, k->secret_key, slen + 1);
    sigv4_sha256_hex(canonical, strlen(canonical), creq_hash);
    if (asprintf(&sts, SIGV4_ALGORITHM "\n%s\n%s\n%s", amz_date, scope, creq_hash) < 0) {
        sts = NULL;
        goto out;
    }
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    rc = ERR_INTERNAL;
    if (!creq_hash[0] || !hmac256(secret, slen + 4, day, kdate) ||
        !hmac256(kdate, 32, k->region, kregion) || !hmac256(kregion, 32, k->service, kservice) ||
        !hmac256(kservice, 32, "aws4_request", ksigning) || !hmac256(ksigning, 32, sts, sig))
        goto out;
    hex_encode(sig, 32, out);
    rc = ERR_OK;
out:
    if (secret) {
        OPENSSL_cleanse(secret, slen + 5);
        free(secret);
    }
    OPENSSL_cleanse(kdate, sizeof(kdate));
    OPENSSL_cleanse(kregion, sizeof(kregion));
    OPENSSL_cleanse(kservice, sizeof(kservice));
    OPENSSL_cleanse(ksigning, sizeof(ksigning));
    free(sts);
    return rc;
}

static bool key_ok(const struct sigv4_key *k)
{
    return k && scope_token_ok(k->access_key) && k->secret_key && *k->secret_key &&
           strlen(k->secret_key) <= 1024 && scope_token_ok(k->region) && scope_token_ok(k->service);
}

enum err sigv4_sign(const struct sigv4_key *k, const struct sigv4_request *r, time_t now,
                    struct sigv4_auth *out)
{
    struct sigv4_kv extra[3];
    char date[SIGV4_DATE_LEN], sig[SIGV4_HEX_LEN];
    char *canonical = NULL, *signed_headers = NULL, *scope = NULL, *auth = NULL;
    enum err rc;

    if (!key_ok(k) || !r || !out || !sigv4_amz_date(now, date))
        return ERR_INVALID;
    extra[0] = (struct sigv4_kv){"host", r->host};
    extra[1] = (struct sigv4_kv){"x-amz-content-sha256", r->payload_hash};
    extra[2] = (struct sigv4_kv){"x-amz-date", date};
    rc = canonical_request_q(r, extra, 3, NULL, 0, r->payload_hash, &canonical, &signed_headers,
                             NULL);
    if (rc != ERR_OK)
        return rc;
    rc = ERR_NOMEM;
    scope = credential_scope(k, date);
    if (!scope)
        goto out;
    rc = signature_of(k, date, scope, canonical, sig);
    if (rc != ERR_OK)
        goto out;
    if (asprintf(&auth, SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 k->access_key, scope, signed_headers, sig) < 0) {
        auth = NULL;
        rc = ERR_NOMEM;
        goto out;
    }
    memcpy(out->amz_date, date, SIGV4_DATE_LEN);
    out->authorization = auth;
    rc = ERR_OK;
out:
    free(canonical);
    free(signed_headers);
    free(scope);
    return rc;
}

void sigv4_auth_free(struct sigv4_auth *a)
{
    if (a) {
        free(a->authorization);
        a->authorization = NULL;
    }
}

enum err sigv4_presign(const struct sigv4_key *k, const struct sigv4_request *r, time_t now,
                       long expires, char **query_out)
{
    struct sigv4_request bare;
    struct sigv4_kv host = {"host", NULL}, q[5];
    char date[SIGV4_DATE_LEN], sig[SIGV4_HEX_LEN], exp[24];
    char *canonical = NULL, *signed_headers = NULL, *scope = NULL, *credential = NULL;
    char *query = NULL, *result = NULL;
    enum err rc;

    if (!key_ok(k) || !r || !query_out || expires < 1 || expires > SIGV4_MAX_EXPIRES ||
        !sigv4_amz_date(now, date))
        return ERR_INVALID;
    for (size_t i = 0; i < r->n_query; i++) {
        if (r->query[i].name && strncmp(r->query[i].name, "X-Amz-", 6) == 0)
            return ERR_INVALID; /* ours to set */
    }
    bare = *r;
    bare.headers = NULL;
    bare.n_headers = 0;
    host.value = r->host;
    snprintf(exp, sizeof(exp), "%ld", expires);
    rc = ERR_NOMEM;
    scope = credential_scope(k, date);
    if (!scope || asprintf(&credential, "%s/%s", k->access_key, scope) < 0) {
        credential = NULL;
        goto out;
    }
    q[0] = (struct sigv4_kv){"X-Amz-Algorithm", SIGV4_ALGORITHM};
    q[1] = (struct sigv4_kv){"X-Amz-Credential", credential};
    q[2] = (struct sigv4_kv){"X-Amz-Date", date};
    q[3] = (struct sigv4_kv){"X-Amz-Expires", exp};
    q[4] = (struct sigv4_kv){"X-Amz-SignedHeaders", "host"};
    rc = canonical_request_q(&bare, &host, 1, q, 5, SIGV4_UNSIGNED_PAYLOAD, &canonical,
                             &signed_headers, &query);
    if (rc != ERR_OK)
        goto out;
    rc = signature_of(k, date, scope, canonical, sig);
    if (rc != ERR_OK)
        goto out;
    rc = ERR_NOMEM;
    if (asprintf(&result, "%s&X-Amz-Signature=%s", query, sig) < 0)
        goto out;
    *query_out = result;
    rc = ERR_OK;
out:
    free(canonical);
    free(signed_headers);
    free(scope);
    free(credential);
    free(query);
    return rc;
}
