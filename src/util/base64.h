/*
 * base64.h - standard base64 (RFC 4648 §4, with padding) over OpenSSL's block
 * coder, for images carried inside JSON (the Gemini API's inline_data).
 *
 * Ownership: outputs are malloc'd; the caller frees them. Pure and thread-safe.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

/* The encoded length of n bytes, without the terminating NUL. */
size_t base64_encoded_len(size_t n);

/* Encodes n bytes into out, which has room for base64_encoded_len(n) + 1 bytes
 * (NUL-terminated). Returns the length written. */
size_t base64_encode_into(const void *data, size_t n, char *out);

/*
 * Decodes text (len bytes, no whitespace, padding optional) into a new buffer.
 * ERR_INVALID if text is not base64, ERR_TOO_LARGE if the result would exceed
 * max_out bytes (checked before decoding), ERR_NOMEM.
 */
enum err base64_decode(const char *text, size_t len, size_t max_out, unsigned char **out,
                       size_t *out_len);
