/*
 * idset.h - a bounded, thread-safe set of UUIDs: "have we seen this id?" in one
 * short probe, without a query. Bounded memory: when half full it is emptied and
 * starts again, so a caller must treat "not in the set" as "ask the source".
 * (db.c keeps the users known to exist in one.)
 *
 * Ownership: idset_new() allocates, idset_free() frees (accepts NULL). Ids are
 * canonical UUID text, borrowed for the call. Thread-safe: a mutex guards the set.
 */
#pragma once

#include <stdbool.h>

#include "util/err.h"

struct idset;

enum err idset_new(struct idset **out);
void idset_free(struct idset *s);

/* True if id is in the set. False for NULL s or an id that is not a canonical UUID. */
bool idset_has(struct idset *s, const char *id);
/* Adds id (canonical UUID text; anything else is ignored). Accepts NULL s. */
void idset_add(struct idset *s, const char *id);
/* Empties the set. Accepts NULL s. */
void idset_clear(struct idset *s);
