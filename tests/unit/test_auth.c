/*
 * test_auth.c - token verification against the attacks libjwt 1.10 lets through
 * on its own: alg none, HS384 with our secret, no exp, future nbf, bad sub.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "check.h"

static const char secret[] = "test-secret-0123456789abcdef-xyz";
static const char uid[] = "550e8400-e29b-41d4-a716-446655440001";
#define NOW 1800000000LL

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* header.payload.signature with the given digest (NULL: unsigned, "alg":"none"). */
static char *make_token(const char *header, const char *payload, const EVP_MD *md,
                        const char *key)
{
    char *t = malloc(4096);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t n;

    b64url((const unsigned char *)header, strlen(header), t);
    n = strlen(t);
    t[n++] = '.';
    b64url((const unsigned char *)payload, strlen(payload), t + n);
    n = strlen(t);
    if (md) {
        HMAC(md, key, (int)strlen(key), (unsigned char *)t, n, mac, &maclen);
        t[n++] = '.';
        b64url(mac, maclen, t + n);
    } else {
        t[n++] = '.';
        t[n] = '\0';
    }
    return t;
}

static enum err verify(struct auth *a, const char *tok)
{
    char out[ID_UUID_LEN];
    return auth_verify(a, tok, NOW, out, NULL);
}

static void expect(struct auth *a, const char *header, const char *payload, const EVP_MD *md,
                   const char *key, enum err want, int line)
{
    char *t = make_token(header, payload, md, key);
    enum err got = verify(a, t);
    check_count++;
    if (got != want) {
        check_failures++;
        fprintf(stderr, "%s:%d: got %d, want %d for %s / %s\n", __FILE__, line, got, want, header,
                payload);
    }
    free(t);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define EXPECT(h, p, md, k, want) expect(a, h, p, md, k, want, __LINE__)

int main(void)
{
    struct auth *a = NULL;
    char *tok = NULL;
    char out[ID_UUID_LEN];
    char payload[512];

    CHECK_EQ_INT(auth_open_secret("", 0, &a), ERR_INVALID); /* an empty key is refused */
    CHECK_EQ_INT(auth_open_secret(secret, strlen(secret), &a), ERR_OK);

    /* round trip */
    CHECK_EQ_INT(auth_mint(a, uid, NOW, 3600, &tok), ERR_OK);
    {
        int64_t iat = 0;
        CHECK_EQ_INT(auth_verify(a, tok, NOW, out, &iat), ERR_OK);
        CHECK_EQ_INT(iat, NOW); /* account deletion compares it with the deletion time */
    }
    CHECK_EQ_STR(out, uid);
    CHECK_EQ_INT(auth_verify(a, tok, NOW + 3599, out, NULL), ERR_OK);
    CHECK_EQ_INT(auth_verify(a, tok, NOW + 3600, out, NULL), ERR_UNAUTHORIZED); /* no leeway on exp */
    free(tok);
    CHECK_EQ_INT(auth_mint(a, "not-a-uuid", NOW, 3600, &tok), ERR_INVALID);

    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_OK);
    /* the algorithm is ours to choose, not the token's */
    EXPECT("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, secret, ERR_UNAUTHORIZED);
    EXPECT("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload, EVP_sha384(), secret,
           ERR_UNAUTHORIZED);
    EXPECT("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(), secret,
           ERR_UNAUTHORIZED);
    EXPECT("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret,
           ERR_UNAUTHORIZED);
    EXPECT(HS256, payload, EVP_sha256(), "another-secret-entirely-000000", ERR_UNAUTHORIZED);

    /* claims */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\"}", uid);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED); /* no exp */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":\"%lld\"}", uid, NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED); /* exp not a number */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld.5}", uid, NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_OK); /* NumericDate may have a fraction */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW - 3600);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED); /* expired */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld,\"nbf\":%lld}", uid,
             NOW + 7200, NOW + 3600);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED); /* not yet valid */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld,\"nbf\":%lld}", uid,
             NOW + 7200, NOW + 10);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_OK); /* within the skew */
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld,\"iat\":%lld}", uid,
             NOW + 7200, NOW + 3600);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED); /* issued in the future */
    snprintf(payload, sizeof(payload), "{\"sub\":\"bob\",\"exp\":%lld}", NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED);
    snprintf(payload, sizeof(payload), "{\"exp\":%lld}", NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED);
    snprintf(payload, sizeof(payload), "{\"sub\":123,\"exp\":%lld}", NOW + 60);
    EXPECT(HS256, payload, EVP_sha256(), secret, ERR_UNAUTHORIZED);
    snprintf(payload, sizeof(payload), "{\"sub\":\"550E8400-E29B-41D4-A716-446655440001\","
                                       "\"exp\":%lld}",
             NOW + 60);
    {
        char *t = make_token(HS256, payload, EVP_sha256(), secret);
        CHECK_EQ_INT(auth_verify(a, t, NOW, out, NULL), ERR_OK);
        CHECK_EQ_STR(out, uid); /* canonical lowercase */
        /* tampering: a changed payload byte, a truncated or extended signature */
        t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(verify(a, t), ERR_UNAUTHORIZED);
        t[strlen(t) - 3] = '\0';
        CHECK_EQ_INT(verify(a, t), ERR_UNAUTHORIZED);
        free(t);
    }

    /* shapes */
    CHECK_EQ_INT(verify(a, ""), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "garbage"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a.b"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a.b.c.d"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "..."), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a b.c.d"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(auth_verify(a, NULL, NOW, out, NULL), ERR_UNAUTHORIZED);

    auth_close(a);
    auth_close(NULL);
    return check_summary("auth");
}
