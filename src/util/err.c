/*
 * err.c - names of the error codes, for log lines. Pure and thread-safe.
 */
#include "err.h"

const char *err_name(enum err e)
{
    switch (e) {
    case ERR_OK:
        return "ok";
    case ERR_INVALID:
        return "invalid";
    case ERR_VALIDATION:
        return "validation";
    case ERR_UNAUTHORIZED:
        return "unauthorized";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_TOO_LARGE:
        return "too_large";
    case ERR_UNSUPPORTED:
        return "unsupported";
    case ERR_REFUSED:
        return "refused";
    case ERR_BUSY:
        return "busy";
    case ERR_UPSTREAM:
        return "upstream";
    case ERR_TIMEOUT:
        return "timeout";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_FORBIDDEN:
        return "forbidden";
    case ERR_RATE_LIMITED:
        return "rate_limited";
    case ERR_NOMEM:
        return "nomem";
    case ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}
