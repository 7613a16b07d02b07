/*
 * fuzz_sigv4.c - SigV4 canonicalisation and signing (storage/sigv4.c) of whatever a
 * key, a bucket setting or a listing may hold. The input is lines:
 *   METHOD \n HOST \n PATH \n (NAME=VALUE \n)* \n (NAME:VALUE \n)*
 * query parameters until the first empty line, headers after it. Each request is
 * canonicalised, signed and presigned, and its path URI-encoded both ways.
 */
#include "fuzz.h"
#include "storage/sigv4.h"

#define MAX_KV 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* the next line of *p (cut in place), or NULL at the end */
static char *next_line(char **p)
{
    char *s = *p, *nl;

    if (!s)
        return NULL;
    nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sigv4_key key = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         "us-east-1", "s3"};
    struct sigv4_kv query[MAX_KV], headers[MAX_KV];
    struct sigv4_request r = {0};
    struct sigv4_auth a = {0};
    char *text = fuzz_strndup(data, size), *p = text, *line, *canon = NULL, *signed_h = NULL;
    char *presigned = NULL, *enc;
    bool in_headers = false;

    if (!text)
        return 0;
    r.method = next_line(&p);
    r.host = next_line(&p);
    r.path = next_line(&p);
    if (!r.method || !r.host || !r.path)
        goto out;
    while ((line = next_line(&p))) {
        char *sep;
        if (!in_headers && !*line) {
            in_headers = true;
            continue;
        }
        sep = strchr(line, in_headers ? ':' : '=');
        if (sep)
            *sep = '\0';
        if (in_headers && r.n_headers < MAX_KV) {
            headers[r.n_headers].name = line;
            headers[r.n_headers++].value = sep ? sep + 1 : "";
        } else if (!in_headers && r.n_query < MAX_KV) {
            query[r.n_query].name = line;
            query[r.n_query++].value = sep ? sep + 1 : NULL;
        }
    }
    r.query = query;
    r.headers = headers;
    r.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    if (sigv4_canonical_request(&r, NULL, 0, &canon, &signed_h) == ERR_OK && (!canon || !signed_h))
        abort();
    if (sigv4_sign(&key, &r, 1369353600, &a) == ERR_OK && !a.authorization)
        abort();
    sigv4_presign(&key, &r, 1369353600, 1 + (long)(size % 604800), &presigned);
    enc = sigv4_uri_encode(r.path, true);
    free(enc);
    enc = sigv4_uri_encode(r.path, false);
    free(enc);
out:
    free(canon);
    free(signed_h);
    free(presigned);
    sigv4_auth_free(&a);
    free(text);
    return 0;
}
