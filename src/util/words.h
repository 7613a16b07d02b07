/*
 * words.h - the words of a text, as the gallery search defines them (SPEC §11): the
 * text is NFKC-normalised, then a word is a run of Unicode letters and digits
 * (general categories L and N; combining marks M that follow one stay in the word,
 * so "café" written with a combining accent and scripts such as Devanagari keep their
 * words whole), case-folded. Everything else separates words.
 *
 * The one definition both databases index and every query is split by: stored search
 * text and query words come from words_normalize() alone, so SQLite (FTS5) and
 * PostgreSQL (tsvector) see the same tokens and never tokenize on their own.
 *
 * Pure; thread-safe. Ownership: the returned string is malloc'd, the caller frees it.
 */
#pragma once

#include <stddef.h>

/* A word is cut to at most this many bytes (on a character boundary): PostgreSQL's
 * lexemes must stay under 2 KiB. A query word is cut the same way, so a prefix still
 * matches. */
#define WORDS_MAX_BYTES 2040

/*
 * The words of text (len bytes; ill-formed UTF-8 separates words like punctuation),
 * case-folded, each cut to WORDS_MAX_BYTES, joined by single spaces in text order
 * ("" when there is none). NULL when out of memory.
 */
char *words_normalize(const char *text, size_t len);
