/*
 * fuzz_multipart.c - multipart/form-data bodies (libmicrohttpd's post processor and
 * server.c's fields, caps and their text, UUID and file readers) on the real server
 * (http_harness.h). The first byte picks the route and the boundary's spelling in the
 * Content-Type; the rest is the body, sent with a true Content-Length.
 */
#include <stdio.h>

#include "fuzz.h"
#include "http_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    http_harness_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {"/api/drawings", "/api/edit-image-with-audio",
                                        "/api/voice", "/api/drawings"};
    static const char *const types[] = {"multipart/form-data; boundary=B",
                                        "multipart/form-data; boundary=\"B\"",
                                        "multipart/form-data; charset=utf-8; boundary=B",
                                        "multipart/form-data;boundary=B"};
    char head[256];
    int n;
    uint8_t *req;

    if (size == 0)
        return 0;
    n = snprintf(head, sizeof(head),
                 "POST %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\nContent-Length: "
                 "%zu\r\nConnection: close\r\n\r\n",
                 paths[data[0] & 3], types[(data[0] >> 2) & 3], size - 1);
    req = malloc((size_t)n + size - 1);
    if (!req)
        return 0;
    memcpy(req, head, (size_t)n);
    memcpy(req + n, data + 1, size - 1);
    http_harness_exchange(req, (size_t)n + size - 1);
    free(req);
    return 0;
}
