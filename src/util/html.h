/*
 * html.h - text into HTML: the one escaper of every value a page interpolates.
 *
 * Pure and thread-safe; appends to the caller's buffer (util/buf.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/*
 * Appends s with & < > " ' replaced by their character references, so the result
 * is safe both as element text and inside a quoted attribute value. NULL appends
 * nothing. False if the buffer failed (no memory, or past its max).
 */
bool html_escape(struct buf *b, const char *s);
