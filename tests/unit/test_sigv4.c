/*
 * test_sigv4.c - the SigV4 module against AWS's published examples (S3 API
 * reference, "Signature Calculations for the Authorization Header" and "Query
 * String Authentication"): GET Object, PUT Object, GET Bucket Lifecycle, GET
 * Bucket (list), the presigned GET; plus key encoding edge cases.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "storage/sigv4.h"

#define EXAMPLE_TIME ((time_t)1369353600) /* 20130524T000000Z */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct sigv4_key example_key = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "s3",
};

static const char *sig_of(const char *authorization)
{
    const char *p = authorization ? strstr(authorization, "Signature=") : NULL;
    return p ? p + strlen("Signature=") : "";
}

static void test_get_object(void)
{
    struct sigv4_kv headers[] = {{"Range", "bytes=0-9"}};
    struct sigv4_request r = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .headers = headers,
        .n_headers = 1,
        .payload_hash = EMPTY_SHA256,
    };
    struct sigv4_kv extra[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", EMPTY_SHA256},
        {"x-amz-date", "20130524T000000Z"},
    };
    struct sigv4_auth a = {0};
    char *canonical = NULL, *signed_headers = NULL;

    CHECK_EQ_INT(sigv4_canonical_request(&r, extra, 3, &canonical, &signed_headers), ERR_OK);
    CHECK_EQ_STR(canonical, "GET\n"
                            "/test.txt\n"
                            "\n"
                            "host:examplebucket.s3.amazonaws.com\n"
                            "range:bytes=0-9\n"
                            "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                            "x-amz-date:20130524T000000Z\n"
                            "\n"
                            "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256);
    CHECK_EQ_STR(signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
    free(canonical);
    free(signed_headers);

    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_OK);
    CHECK_EQ_STR(a.amz_date, "20130524T000000Z");
    CHECK_EQ_STR(a.authorization,
                 "AWS4-HMAC-SHA256 "
                 "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    sigv4_auth_free(&a);
}

static void test_put_object(void)
{
    static const char body[] = "Welcome to Amazon S3.";
    char hash[SIGV4_HEX_LEN];
    struct sigv4_kv headers[] = {
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
    };
    struct sigv4_request r = {
        .method = "PUT",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test$file.text",
        .headers = headers,
        .n_headers = 2,
        .payload_hash = hash,
    };
    struct sigv4_auth a = {0};

    sigv4_sha256_hex(body, strlen(body), hash);
    CHECK_EQ_STR(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_OK);
    CHECK(strstr(a.authorization ? a.authorization : "",
                 "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,") !=
          NULL);
    CHECK_EQ_STR(sig_of(a.authorization),
                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    sigv4_auth_free(&a);
}

static void test_get_lifecycle_and_list(void)
{
    struct sigv4_kv lifecycle[] = {{"lifecycle", NULL}};
    struct sigv4_kv list[] = {{"prefix", "J"}, {"max-keys", "2"}}; /* given unsorted */
    struct sigv4_request r = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/",
        .query = lifecycle,
        .n_query = 1,
        .payload_hash = EMPTY_SHA256,
    };
    struct sigv4_auth a = {0};

    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_OK);
    CHECK_EQ_STR(sig_of(a.authorization),
                 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    sigv4_auth_free(&a);

    r.query = list;
    r.n_query = 2;
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_OK);
    CHECK_EQ_STR(sig_of(a.authorization),
                 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    sigv4_auth_free(&a);
}

static void test_presign(void)
{
    struct sigv4_request r = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
    };
    struct sigv4_kv bad[] = {{"X-Amz-Expires", "1"}};
    char *q = NULL;

    CHECK_EQ_INT(sigv4_presign(&example_key, &r, EXAMPLE_TIME, 86400, &q), ERR_OK);
    CHECK_EQ_STR(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                    "aws4_request"
                    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                    "&X-Amz-Signature="
                    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(q);
    q = NULL;
    CHECK_EQ_INT(sigv4_presign(&example_key, &r, EXAMPLE_TIME, 0, &q), ERR_INVALID);
    CHECK_EQ_INT(sigv4_presign(&example_key, &r, EXAMPLE_TIME, 604801, &q), ERR_INVALID);
    r.query = bad;
    r.n_query = 1;
    CHECK_EQ_INT(sigv4_presign(&example_key, &r, EXAMPLE_TIME, 60, &q), ERR_INVALID);
    CHECK(q == NULL);
}

static void check_encode(const char *in, bool keep_slash, const char *want)
{
    char *got = sigv4_uri_encode(in, keep_slash);
    CHECK_EQ_STR(got, want);
    free(got);
}

static void test_encoding(void)
{
    check_encode("users/u/original/a.png", true, "users/u/original/a.png");
    check_encode("users/u/original/a.png", false, "users%2Fu%2Foriginal%2Fa.png");
    check_encode("a b", true, "a%20b");
    check_encode("a+b", true, "a%2Bb");
    check_encode("tilde~ok-._", true, "tilde~ok-._");
    check_encode("caf\xc3\xa9/\xe2\x98\x83", true, "caf%C3%A9/%E2%98%83"); /* café/☃ */
    check_encode("*=&?%#", true, "%2A%3D%26%3F%25%23");
    check_encode("test$file.text", true, "test%24file.text");
    check_encode("", true, "");
}

static void test_encoded_path_in_canonical_request(void)
{
    struct sigv4_kv q[] = {{"continuation-token", "a+b/c="}, {"list-type", "2"}};
    struct sigv4_request r = {
        .method = "GET",
        .host = "127.0.0.1:9000",
        .path = "/bucket/dir with space/\xc3\xa9+~.png",
        .query = q,
        .n_query = 2,
        .payload_hash = EMPTY_SHA256,
    };
    struct sigv4_kv extra[] = {{"Host", "127.0.0.1:9000"}};
    char *canonical = NULL, *signed_headers = NULL;

    CHECK_EQ_INT(sigv4_canonical_request(&r, extra, 1, &canonical, &signed_headers), ERR_OK);
    CHECK_EQ_STR(canonical, "GET\n"
                            "/bucket/dir%20with%20space/%C3%A9%2B~.png\n"
                            "continuation-token=a%2Bb%2Fc%3D&list-type=2\n"
                            "host:127.0.0.1:9000\n"
                            "\n"
                            "host\n" EMPTY_SHA256);
    free(canonical);
    free(signed_headers);
}

static void test_header_rules(void)
{
    struct sigv4_kv spaced[] = {{"X-Amz-Meta-Note", "  a   b \t c  "}};
    struct sigv4_kv twice[] = {{"Content-Type", "a"}, {"content-type", "b"}};
    struct sigv4_kv crlf[] = {{"x-amz-meta-x", "a\r\nx-evil: 1"}};
    struct sigv4_request r = {
        .method = "PUT",
        .host = "h",
        .path = "/b/k",
        .headers = spaced,
        .n_headers = 1,
        .payload_hash = EMPTY_SHA256,
    };
    struct sigv4_kv extra[] = {{"host", "h"}};
    char *canonical = NULL, *signed_headers = NULL;
    struct sigv4_auth a = {0};
    struct sigv4_key nokey = example_key;

    CHECK_EQ_INT(sigv4_canonical_request(&r, extra, 1, &canonical, &signed_headers), ERR_OK);
    CHECK(canonical && strstr(canonical, "\nx-amz-meta-note:a b c\n") != NULL);
    CHECK_EQ_STR(signed_headers, "host;x-amz-meta-note");
    free(canonical);
    free(signed_headers);

    r.headers = twice;
    r.n_headers = 2;
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_INVALID);
    r.headers = crlf;
    r.n_headers = 1;
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_INVALID);
    r.n_headers = 0;
    r.payload_hash = "not-a-hash";
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_INVALID);
    r.payload_hash = EMPTY_SHA256;
    nokey.region = "us/east";
    CHECK_EQ_INT(sigv4_sign(&nokey, &r, EXAMPLE_TIME, &a), ERR_INVALID);
    nokey = example_key;
    nokey.secret_key = "";
    CHECK_EQ_INT(sigv4_sign(&nokey, &r, EXAMPLE_TIME, &a), ERR_INVALID);
    CHECK(a.authorization == NULL);
    CHECK_EQ_INT(sigv4_sign(&example_key, &r, EXAMPLE_TIME, &a), ERR_OK);
    CHECK(a.authorization && strstr(a.authorization, example_key.secret_key) == NULL);
    sigv4_auth_free(&a);
}

int main(void)
{
    test_get_object();
    test_put_object();
    test_get_lifecycle_and_list();
    test_presign();
    test_encoding();
    test_encoded_path_in_canonical_request();
    test_header_rules();
    return check_summary("sigv4");
}
