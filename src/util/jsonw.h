/*
 * jsonw.h - a streaming JSON writer for response bodies.
 *
 * jansson builds a tree and then walks it: for a 20-drawing gallery page that is
 * 140 us of a request that otherwise costs a few tens (bench/, measured). The
 * API's shapes are fixed, so hot responses are written straight into one growing
 * buffer instead. jansson stays for parsing and for small, irregular bodies.
 *
 * Commas and nesting are tracked for the caller. On out-of-memory or misuse the
 * writer goes into an error state and jsonw_finish() returns NULL. Not
 * thread-safe: one writer per response. The finished buffer is malloc'd and the
 * caller owns it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 16

struct jsonw {
    char *buf;
    size_t len, cap;
    int depth;
    bool failed;
    bool first[JSONW_MAX_DEPTH]; /* no element yet at this depth */
    bool after_key;              /* a key was written; its value comes next */
};

/* Starts with room for hint bytes (grows as needed). */
void jsonw_init(struct jsonw *w, size_t hint);
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
/* An object key; must be followed by exactly one value. */
void jsonw_key(struct jsonw *w, const char *key);
/* Values. jsonw_str(NULL) writes null. Strings are escaped per RFC 8259; bytes
 * that are not valid UTF-8 are replaced by U+FFFD. */
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
/* A number with a fixed count of decimals (0-9), e.g. 12.450 seconds. */
void jsonw_fixed(struct jsonw *w, double v, int decimals);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Key and value in one call. */
void jsonw_kv_str(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_fixed(struct jsonw *w, const char *key, double v, int decimals);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);

/* Returns the NUL-terminated text (caller frees) and its length, or NULL if anything
 * failed or the document is incomplete; the writer is reset either way. */
char *jsonw_finish(struct jsonw *w, size_t *len);
/* Drops everything. */
void jsonw_discard(struct jsonw *w);
