/*
 * driver.h - what a database backend implements, and all it implements: opening
 * and closing, lending a connection, running one statement of the query table
 * (sql.h) with typed parameters, and reading its rows. Every operation of db.h is
 * written once, in db.c, over these primitives; a backend never sees an operation.
 *
 * Internal to src/db. Ownership: a connection is lent by acquire() and given back
 * by release(); a connection runs one statement at a time, whose rows are valid
 * until the next step() or finish(); text and blob pointers a row hands out live
 * as long as that row. Arguments are borrowed for the duration of exec().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "db/sql.h"

/* A parameter of a statement. */
enum db_arg_type { ARG_NULL, ARG_TEXT, ARG_INT, ARG_BLOB };

struct db_arg {
    enum db_arg_type type;
    const void *p; /* ARG_TEXT: a NUL-terminated string; ARG_BLOB: len bytes */
    size_t len;
    int64_t i; /* ARG_INT */
};

/* Text, or SQL NULL when s is NULL. */
#define ARG_T(s) ((struct db_arg){.type = (s) ? ARG_TEXT : ARG_NULL, .p = (s)})
#define ARG_I(v) ((struct db_arg){.type = ARG_INT, .i = (v)})
#define ARG_B(b, n) ((struct db_arg){.type = ARG_BLOB, .p = (b), .len = (n)})

struct db_conn;

struct db_driver {
    const char *name;        /* "sqlite" | "postgres" */
    enum db_dialect dialect; /* which text of sql.h it runs */
    enum err (*open)(const struct config *cfg, struct db **out);
    void (*close)(struct db *db);

    /* A connection for one operation: this thread's (sqlite) or one from a pool
     * (postgres). release() accepts NULL, finishes the statement and rolls back a
     * transaction left open. */
    enum err (*acquire)(struct db *db, struct db_conn **out);
    void (*release)(struct db *db, struct db_conn *c);

    /* Runs statement q (ending the one before). Its rows are then read with step();
     * a statement without rows is complete when exec returns. finish() ends it and
     * drops the borrowed arguments; it is a no-op when nothing runs. */
    enum err (*exec)(struct db_conn *c, enum sql_query q, const struct db_arg *args, size_t n);
    /* ERR_OK: the next row is there; ERR_NOT_FOUND: no more rows; else a failure. */
    enum err (*step)(struct db_conn *c);
    void (*finish)(struct db_conn *c);
    /* Rows the last INSERT/UPDATE/DELETE changed. */
    int64_t (*changes)(struct db_conn *c);

    /* The current row's columns (0-based). bytes: text or blob, NULL for SQL NULL. */
    const void *(*bytes)(struct db_conn *c, int col, size_t *len);
    enum err (*i64)(struct db_conn *c, int col, int64_t *out);

    /* Runs a script of several statements without parameters (a migration). */
    enum err (*script)(struct db_conn *c, const char *sql);
};

/* Every backend's struct starts with this. */
struct db {
    const struct db_driver *drv;
    struct idset *seen;              /* users known to exist (and not deleted); db.c's */
    _Atomic int64_t seen_since_ms;   /* when seen was last emptied (db_user_admit) */
    struct vcache *totals;           /* search totals by (user, filter) at a version; db.c's */
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_postgres_driver;
