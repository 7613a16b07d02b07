/*
 * sql.h - the query table: every statement the database layer runs, by name. The
 * text of each is written once (queries.inc) and compiled for each dialect
 * (sql.c); only where the dialects really differ does an entry carry two texts.
 * Parameters are $1, $2, ... in both dialects; nothing is ever pasted into SQL.
 *
 * Pure data, read-only: thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum db_dialect { DIALECT_SQLITE, DIALECT_POSTGRES, DIALECT_COUNT };

enum sql_query {
    Q_BEGIN,
    Q_BEGIN_WRITE, /* a transaction that will write: SQLite takes the write lock now */
    Q_COMMIT,
    Q_ROLLBACK,
    Q_PING,
    Q_MIGRATION_LOCK,
    Q_MIGRATION_APPLIED,
    Q_MIGRATION_RECORD,
    Q_USER_ENSURE,
    Q_USER_COUNTS,
    Q_TUTORIAL_ADD,
    Q_TUTORIAL_EXISTS,
    Q_TUTORIAL_LIST,
    Q_DRAWING_INSERT,
    Q_DRAWING_GET,
    Q_DRAWING_LOCK,
    Q_GALLERY_PAGE,
    Q_DRAWING_DELETE,
    Q_DRAWING_TOUCH,
    Q_EDIT_INSERT,
    Q_JOB_ADD,
    Q_JOB_CLAIM,
    Q_JOB_DONE,
    Q_JOB_RETRY,
    Q_JOB_PENDING,
    Q_KEYS_REFERENCED,
    Q_PENDING_ADD,
    Q_PENDING_GET,
    Q_PENDING_DONE,
    Q_ACCOUNT_CREATE,
    Q_ACCOUNT_BY_EMAIL,
    Q_ACCOUNT_GET,
    Q_ACCOUNT_SET_PASSWORD,
    Q_ACCOUNT_DELETE_JOBS,
    Q_ACCOUNT_DELETE_DRAWINGS,
    Q_ACCOUNT_DELETE_USER,
    Q_TOMBSTONE_ADD,
    Q_TOMBSTONE_GET,
    Q_REFRESH_ADD,
    Q_REFRESH_LOCK,
    Q_REFRESH_SPEND,
    Q_REFRESH_REVOKE_FAMILY,
    Q_REFRESH_REVOKE_USER,
    Q_REFRESH_PRUNE,
    Q_LOGIN_LOCKED_UNTIL,
    Q_LOGIN_FAILURE_ADD,
    Q_LOGIN_FAILURE_PRUNE,
    Q_LOGIN_FAILURE_CLEAR,
    Q_DRAWINGS_LOCK_MANY,
    Q_DRAWINGS_DELETE_MANY,
    Q_SHARE_ADD,
    Q_SHARE_LIST,
    Q_SHARE_REVOKE,
    Q_SHARE_OPEN,
    /* gallery filters and search (queries.inc) */
    Q_USER_VERSION,
    Q_GALLERY_DATES_NEW,
    Q_GALLERY_DATES_OLD,
    Q_GALLERY_EDITED_NEW,
    Q_GALLERY_EDITED_OLD,
    Q_GALLERY_TUTORIAL_NEW,
    Q_GALLERY_TUTORIAL_OLD,
    Q_GALLERY_SEARCH_NEW,
    Q_GALLERY_SEARCH_OLD,
    Q_EDIT_WORDS_TODO,
    Q_EDIT_WORDS_SET,
    /* rate limits and idempotency keys (SPEC §14) */
    Q_RATE_HIT,
    Q_RATE_PRUNE,
    Q_SEARCH_MERGE,
    Q_IDEM_CLAIM,
    Q_IDEM_GET,
    Q_IDEM_EXISTS,
    Q_IDEM_COMPLETE,
    Q_IDEM_RELEASE,
    Q_IDEM_PRUNE,
    SQL_COUNT
};

/* The statement's text in a dialect. */
const char *sql_text(enum db_dialect d, enum sql_query q);

/* True if running q again on a fresh connection is harmless (a read, or an upsert
 * that changes nothing the second time): a backend may then retry it after
 * reconnecting. A lone INSERT is not: its COMMIT may have happened. */
bool sql_retry_safe(enum sql_query q);

/* True if q returns binary columns (a blob): PostgreSQL then asks for binary rows. */
bool sql_binary_rows(enum sql_query q);

/* The schema's migrations for a dialect, version i + 1 at index i; *n gets how many.
 * The first creates schema_migrations if needed and runs before any version check. */
const char *const *sql_migrations(enum db_dialect d, size_t *n);
const char *sql_migrations_table(enum db_dialect d);

/*
 * The search of the gallery's q in dialect d's syntax, from words (words.h: words
 * joined by single spaces, at least one; each only letters, digits and marks, so no
 * syntax can come from them): every word a prefix of a token, quoted ("w"* for FTS5,
 * 'w':* joined by & for a tsquery). For SQLite it begins with the scope tokens of the
 * search documents (migration 9): the user's, and the tutorial's when tutorial_id is not
 * NULL (both canonical uuids), so the index alone finds a user's matches; PostgreSQL
 * ignores both (its statement tests them). Passed as a parameter. malloc'd; NULL when
 * out of memory, words is empty, or (SQLite) user_id is missing.
 */
char *sql_search_text(enum db_dialect d, const char *words, const char *user_id,
                      const char *tutorial_id);
