/*
 * fuzz_jwt.c - access-token verification (auth.c over libjwt). The first byte picks
 * how the rest is read:
 *   even: the token itself, as the text after "Bearer ";
 *   odd:  "HEADER\nPAYLOAD" (JSON texts), made into a token signed with HS256 and the
 *         server's own secret, so the claims' checks (alg, exp, nbf, iat, sub) are
 *         reached, not only the signature's.
 * A token that verifies must have given a canonical user id.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "fuzz.h"
#include "util/base64.h"
#include "util/id.h"

#define NOW 1800000000LL

static const char secret[] = "fuzz-secret-0123456789abcdef-xyz";
static struct auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (auth_open_secret(secret, sizeof(secret) - 1, &auth) != ERR_OK)
        abort();
    return 0;
}

/* base64url without padding of n bytes at out (room for base64_encoded_len(n) + 1) */
static size_t b64url(const void *in, size_t n, char *out)
{
    size_t len = base64_encode_into(in, n, out);

    while (len > 0 && out[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return len;
}

static char *signed_token(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hn = nl ? (size_t)(nl - data) : size, pn = nl ? size - hn - 1 : 0;
    char *t = malloc(base64_encoded_len(hn) + base64_encoded_len(pn) + 64 + 4);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t n;

    if (!t)
        return NULL;
    n = b64url(data, hn, t);
    t[n++] = '.';
    n += b64url(nl ? nl + 1 : data, pn, t + n);
    HMAC(EVP_sha256(), secret, (int)(sizeof(secret) - 1), (unsigned char *)t, n, mac, &maclen);
    t[n++] = '.';
    b64url(mac, maclen, t + n);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char user[ID_UUID_LEN], *token;
    int64_t iat = 0, exp = 0;
    bool expired = false;

    if (size == 0)
        return 0;
    token = data[0] & 1 ? signed_token(data + 1, size - 1) : fuzz_strndup(data + 1, size - 1);
    if (!token)
        return 0;
    if (auth_verify_until(auth, token, NOW, user, &iat, &expired, &exp) == ERR_OK &&
        !id_uuid_is_canonical(user))
        abort();
    free(token);
    return 0;
}
