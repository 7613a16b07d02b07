/*
 * test_auth.c - token verification against the attacks libjwt 1.10 lets through
 * on its own: alg none, HS384 with our secret, no exp, future nbf, bad sub.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    return auth_verify(a, tok, NOW, out, NULL, NULL);
}

/* The verdict and whether it is "expired" (good but for exp). */
static enum err verify_why(struct auth *a, const char *header, const char *payload, bool *expired)
{
    char *t = make_token(header, payload, EVP_sha256(), secret);
    char out[ID_UUID_LEN];
    enum err rc = auth_verify(a, t, NOW, out, NULL, expired);
    free(t);
    return rc;
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

/* The generated secret: serve (create) makes it once; token (no create) only reads it,
 * and where there is none it writes nothing (SPEC §16). */
static void test_secret_file(void)
{
    char dir[] = "/tmp/novadraw-auth-XXXXXX", sub[64], path[96], tok_user[ID_UUID_LEN];
    struct config cfg;
    struct auth *a = NULL, *b = NULL;
    char *tok = NULL;
    struct stat st;

    memset(&cfg, 0, sizeof(cfg));
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(sub, sizeof(sub), "%s/data", dir);
    snprintf(path, sizeof(path), "%s/" AUTH_SECRET_FILE, sub);
    cfg.data_dir = sub;

    CHECK_EQ_INT(auth_open(&cfg, false, &a), ERR_NOT_FOUND);
    CHECK(a == NULL);
    CHECK(stat(sub, &st) != 0); /* not even DATA_DIR was made */

    CHECK_EQ_INT(auth_open(&cfg, true, &a), ERR_OK);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ_INT(auth_open(&cfg, false, &b), ERR_OK); /* token now finds serve's secret */
    CHECK_EQ_INT(auth_mint(b, uid, NOW, 60, &tok), ERR_OK);
    CHECK_EQ_INT(auth_verify(a, tok, NOW, tok_user, NULL, NULL), ERR_OK);
    free(tok);
    auth_close(a);
    auth_close(b);

    /* JWT_SECRET needs no file at all */
    cfg.jwt_secret = (char *)secret;
    cfg.data_dir = dir; /* holds no jwt_secret */
    a = NULL;
    CHECK_EQ_INT(auth_open(&cfg, false, &a), ERR_OK);
    auth_close(a);

    unlink(path);
    rmdir(sub);
    rmdir(dir);
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
        CHECK_EQ_INT(auth_verify(a, tok, NOW, out, &iat, NULL), ERR_OK);
        CHECK_EQ_INT(iat, NOW); /* account deletion compares it with the deletion time */
    }
    CHECK_EQ_STR(out, uid);
    CHECK_EQ_INT(auth_verify(a, tok, NOW + 3599, out, NULL, NULL), ERR_OK);
    /* no leeway on exp */
    CHECK_EQ_INT(auth_verify(a, tok, NOW + 3600, out, NULL, NULL), ERR_UNAUTHORIZED);
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
        CHECK_EQ_INT(auth_verify(a, t, NOW, out, NULL, NULL), ERR_OK);
        CHECK_EQ_STR(out, uid); /* canonical lowercase */
        /* tampering: a changed payload byte, a truncated or extended signature */
        t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(verify(a, t), ERR_UNAUTHORIZED);
        t[strlen(t) - 3] = '\0';
        CHECK_EQ_INT(verify(a, t), ERR_UNAUTHORIZED);
        free(t);
    }

    /* expired is told apart only for a token that is good but for its exp (RFC 6750
     * error_description, SPEC §16); a forged or malformed one is never "expired" */
    {
        bool expired = true;
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW - 1);
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_UNAUTHORIZED);
        CHECK(expired);
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW);
        expired = false;
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_UNAUTHORIZED); /* exp == now */
        CHECK(expired);
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW + 60);
        expired = true;
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_OK);
        CHECK(!expired);
        /* forged: an expired payload under another secret */
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}", uid, NOW - 1);
        {
            char *t = make_token(HS256, payload, EVP_sha256(), "another-secret-entirely-000000");
            expired = true;
            CHECK_EQ_INT(auth_verify(a, t, NOW, out, NULL, &expired), ERR_UNAUTHORIZED);
            CHECK(!expired);
            free(t);
        }
        /* expired and otherwise bad: sub not a UUID, a future nbf/iat, no exp at all */
        snprintf(payload, sizeof(payload), "{\"sub\":\"bob\",\"exp\":%lld}", NOW - 1);
        expired = true;
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_UNAUTHORIZED);
        CHECK(!expired);
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld,\"nbf\":%lld}", uid,
                 NOW - 1, NOW + 3600);
        expired = true;
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_UNAUTHORIZED);
        CHECK(!expired);
        snprintf(payload, sizeof(payload), "{\"sub\":\"%s\"}", uid);
        expired = true;
        CHECK_EQ_INT(verify_why(a, HS256, payload, &expired), ERR_UNAUTHORIZED);
        CHECK(!expired);
        expired = true;
        CHECK_EQ_INT(verify_why(a, "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload, &expired),
                     ERR_UNAUTHORIZED);
        CHECK(!expired);
    }

    /* shapes */
    CHECK_EQ_INT(verify(a, ""), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "garbage"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a.b"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a.b.c.d"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "..."), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify(a, "a b.c.d"), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(auth_verify(a, NULL, NOW, out, NULL, NULL), ERR_UNAUTHORIZED);

    auth_close(a);
    auth_close(NULL);
    test_secret_file();
    return check_summary("auth");
}
