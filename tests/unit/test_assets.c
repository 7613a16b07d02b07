/*
 * test_assets.c - http/assets.c and the table scripts/embed_assets.py generates:
 * lookup (sorted, exact), what every entry carries, the versioned folder, and
 * Accept-Encoding read as RFC 9110 says (q=0 refuses, * counts, case-insensitive).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "http/assets.h"

static void test_table(void)
{
    const struct asset *index = assets_find("/");
    char path[256];

    CHECK(assets_count > 3);
    for (size_t i = 0; i < assets_count; i++) {
        const struct asset *a = &assets_table[i];
        CHECK(a->path[0] == '/');
        CHECK(assets_find(a->path) == a);
        CHECK(a->etag[0] == '"' && strlen(a->etag) == 34 && a->etag[33] == '"');
        CHECK(a->content_type && *a->content_type);
        CHECK(!a->gz || (a->gz_size > 0 && a->gz_size < a->size));
        CHECK(a->immutable == (strncmp(a->path, assets_folder, strlen(assets_folder)) == 0));
        if (i > 0)
            CHECK(strcmp(assets_table[i - 1].path, a->path) < 0);
    }
    CHECK(strncmp(assets_folder, "/assets/", 8) == 0 && strlen(assets_folder) == 8 + 12 + 1);
    CHECK(index != NULL && !index->immutable);
    CHECK(index && strcmp(index->content_type, "text/html; charset=utf-8") == 0);
    /* index.html names the versioned folder, never the placeholder */
    CHECK(index && memmem(index->data, index->size, "{{ASSETS}}", 10) == NULL);
    CHECK(index && memmem(index->data, index->size, assets_folder, strlen(assets_folder)));
    snprintf(path, sizeof(path), "%sapp.js", assets_folder);
    CHECK(assets_find(path) && assets_find(path)->immutable);
    CHECK(assets_find("/openapi.json") != NULL);
    CHECK(assets_find("/docs/index.html") != NULL);
    CHECK(assets_find(NULL) == NULL);
    CHECK(assets_find("") == NULL);
    CHECK(assets_find("/index.html") == NULL);
    CHECK(assets_find("/assets/app.js") == NULL);
    CHECK(assets_find("/openapi.json/") == NULL);
}

static void test_accept_encoding(void)
{
    CHECK(assets_accepts_gzip("gzip"));
    CHECK(assets_accepts_gzip("gzip, deflate, br"));
    CHECK(assets_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(assets_accepts_gzip("x-gzip"));
    CHECK(assets_accepts_gzip("*"));
    CHECK(assets_accepts_gzip(" deflate ,gzip ; q=0.1"));
    CHECK(!assets_accepts_gzip(NULL));
    CHECK(!assets_accepts_gzip(""));
    CHECK(!assets_accepts_gzip("identity"));
    CHECK(!assets_accepts_gzip("gzip;q=0"));
    CHECK(!assets_accepts_gzip("gzip; q=0.000"));
    CHECK(!assets_accepts_gzip("gzipper, agzip"));
    CHECK(!assets_accepts_gzip("br, deflate"));
    CHECK(!assets_accepts_gzip(",,,;;;"));
}

int main(void)
{
    test_table();
    test_accept_encoding();
    return check_summary("assets");
}
