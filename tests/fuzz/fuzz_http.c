/*
 * fuzz_http.c - raw bytes on a connection to the real HTTP server (http_harness.h):
 * request lines, header framing, query strings, bodies (multipart, JSON, chunked),
 * several requests pipelined. The server must answer each with an HTTP response (JSON,
 * never the library's HTML) or close, and never crash or hang.
 */
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
    http_harness_exchange(data, size);
    return 0;
}
