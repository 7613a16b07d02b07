/*
 * range.h - one byte range of a Range header (RFC 9110 §14), for the media routes.
 * Pure; thread-safe.
 */
#pragma once

#include <stdint.h>

enum range_result {
    RANGE_FULL,          /* no Range, or one we ignore (another unit, several ranges,
                          * malformed): answer 200 with the whole body */
    RANGE_PARTIAL,       /* answer 206 with bytes first..last (inclusive) */
    RANGE_UNSATISFIABLE, /* answer 416 with Content-Range: bytes * / size */
};

/*
 * Reads header (NULL: none) against a body of size bytes: "bytes=F-L", "bytes=F-"
 * or "bytes=-N" (the last N bytes), spaces around the range allowed, the unit
 * case-insensitive. L past the end is cut to the end; F at or past the end, N == 0,
 * or an empty body is unsatisfiable. *first and *last are written for RANGE_PARTIAL
 * only.
 */
enum range_result range_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *last);
