/*
 * postgres.c - the PostgreSQL backend (db_postgres_ops) over libpq: a connection
 * pool, migrations under an advisory lock, queries. The same schema, counters,
 * ordering and error codes as sqlite.c, so both give byte-identical JSON. Where
 * sqlite.c reads in several statements inside a transaction (cheap in-process), this
 * file reads with one statement (one snapshot, one network round trip).
 *
 * Owns a fixed-size pool of connections (struct pconn), opened lazily: one at open()
 * so a bad URL or an unreachable server fails at start-up, more as threads need
 * them. An operation borrows one connection, runs its statements, and returns it;
 * a connection that broke, or is left inside a transaction, is closed on return and
 * reopened by a later borrow. Each connection prepares a statement the first time it
 * runs it and keeps it for its life (a reconnect forgets them; preparing at connect
 * would fail before the first migration created the tables). Thread-safe: the pool
 * is guarded by a mutex and a condition variable, and a connection is used by one
 * thread at a time. close() must not race with threads still using the database.
 * This is the only file that includes libpq-fe.h. The password never reaches a log:
 * connection targets are logged as a URL rebuilt without it.
 */
#include "db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timefmt.h"

#define POOL_PER_CORE 2
#define POOL_MIN 2
#define POOL_MAX 64
#define POOL_WAIT_MS 10000    /* a borrower waits this long for a free connection */
#define CONNECT_TIMEOUT_S "5" /* unless the URL says otherwise */
#define I64_LEN 24            /* "-9223372036854775808" and a NUL, with room */
/* pg_advisory_xact_lock key of the migrations: "NovaDraw" in ASCII */
#define MIGRATION_LOCK_KEY 0x4e6f766144726177LL

/* ---- schema ------------------------------------------------------------ */

/*
 * The same tables, indexes and counters as sqlite.c's migrations, in PostgreSQL
 * types: ids are uuid, times timestamptz (the API's milliseconds are converted
 * exactly on the way in and out, see TS() and MS()). The triggers keep
 * users.drawing_count/edited_count/tutorial_count in the statement that changes the
 * rows, with the same rules:
 *  - a new drawing counts once, and once more for tutorials if it has one;
 *  - a drawing counts as edited when its FIRST edit arrives;
 *  - deleting a drawing undoes all three, BEFORE the delete, so it still sees the
 *    edits that ON DELETE CASCADE is about to remove.
 * PostgreSQL forbids subqueries in a trigger's WHEN, so the first-edit test is in
 * the function body. Concurrent edits of one drawing cannot both count as first:
 * edit_append locks the drawing's row (UPDATE) before inserting the edit.
 */
static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users (\n"
    "  id uuid PRIMARY KEY,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  drawing_count bigint NOT NULL DEFAULT 0,\n"
    "  edited_count bigint NOT NULL DEFAULT 0,\n"
    "  tutorial_count bigint NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE tutorials (\n"
    "  id uuid PRIMARY KEY,\n"
    "  title text NOT NULL,\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE TABLE drawings (\n"
    "  id uuid PRIMARY KEY,\n"
    "  user_id uuid NOT NULL REFERENCES users(id),\n"
    "  tutorial_id uuid REFERENCES tutorials(id),\n"
    "  original_key text NOT NULL,\n"
    "  thumbnail_key text,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  updated_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX drawings_gallery ON drawings(user_id, created_at DESC, id DESC);\n"
    "CREATE TABLE edits (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  drawing_id uuid NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  image_key text NOT NULL,\n"
    "  thumbnail_key text,\n"
    "  prompt text NOT NULL,\n"
    "  source text NOT NULL CHECK (source IN ('text', 'audio')),\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX edits_drawing ON edits(drawing_id, id);\n"
    "CREATE FUNCTION drawings_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count + 1,\n"
    "         tutorial_count = tutorial_count + (NEW.tutorial_id IS NOT NULL)::int\n"
    "   WHERE id = NEW.user_id;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER drawings_count_insert AFTER INSERT ON drawings\n"
    "  FOR EACH ROW EXECUTE FUNCTION drawings_count_insert();\n"
    "CREATE FUNCTION drawings_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL)::int,\n"
    "         edited_count = edited_count -\n"
    "             (EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id))::int\n"
    "   WHERE id = OLD.user_id;\n"
    "  RETURN OLD;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER drawings_count_delete BEFORE DELETE ON drawings\n"
    "  FOR EACH ROW EXECUTE FUNCTION drawings_count_delete();\n"
    "CREATE FUNCTION edits_count_first() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF NOT EXISTS (SELECT 1 FROM edits\n"
    "                  WHERE drawing_id = NEW.drawing_id AND id <> NEW.id) THEN\n"
    "    UPDATE users\n"
    "       SET edited_count = edited_count + 1\n"
    "     WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER edits_count_first AFTER INSERT ON edits\n"
    "  FOR EACH ROW EXECUTE FUNCTION edits_count_first();\n",
    /* 2: the durable job queue */
    "CREATE TABLE jobs (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  kind text NOT NULL,\n"
    "  object_key text NOT NULL,\n"
    "  ref text,\n"
    "  attempts integer NOT NULL DEFAULT 0,\n"
    "  run_at timestamptz NOT NULL,\n"
    "  lease_until timestamptz,\n"
    "  last_error text,\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX jobs_due ON jobs(run_at, id);\n",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static const char create_migrations_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                              "  version bigint PRIMARY KEY,"
                                              "  applied_at timestamptz NOT NULL"
                                              ")";

/* ---- statements -------------------------------------------------------- */

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_MIGRATION_LOCK,
    ST_MIGRATION_APPLIED,
    ST_MIGRATION_RECORD,
    ST_USER_ENSURE,
    ST_USER_COUNTS,
    ST_TUTORIAL_ADD,
    ST_TUTORIAL_EXISTS,
    ST_TUTORIAL_LIST,
    ST_DRAWING_INSERT,
    ST_DRAWING_GET,
    ST_DRAWING_LOCK,
    ST_GALLERY_PAGE,
    ST_DRAWING_DELETE,
    ST_DRAWING_TOUCH,
    ST_EDIT_INSERT,
    ST_JOB_ADD,
    ST_JOB_CLAIM,
    ST_JOB_DONE,
    ST_JOB_RETRY,
    ST_KEYS_REFERENCED,
    ST_DATA_ORIG_GET,
    ST_DATA_EDIT_GET,
    ST_DATA_ORIG_SWAP,
    ST_DATA_EDIT_SWAP,
    ST_COUNT
};

_Static_assert(ST_COUNT <= 64, "struct pconn keeps one bit per statement");

/* API milliseconds <-> timestamptz, exactly (a timestamptz holds microseconds; the
 * interval product is computed in a double, exact below 2^53 microseconds) */
#define TS(p) "(timestamptz 'epoch' + " p "::int8 * interval '1 millisecond')"
#define MS(c) "(extract(epoch FROM " c ") * 1000)::int8"

#define GALLERY_ORDER "ORDER BY created_at DESC, id DESC"

/* Every value is a parameter; nothing is ever pasted into SQL text. */
/* (not formatted: clang-format would break the SQL apart around TS() and MS()) */
/* clang-format off */
#define DRAWING_WITH_EDITS \
    "d.id, d.user_id, d.tutorial_id, d.original_key, d.thumbnail_key, " \
    MS("d.created_at") ", " MS("d.updated_at") ", " \
    "e.image_key, e.thumbnail_key, e.prompt, e.source, " MS("e.created_at") " " \
    "FROM drawings AS d LEFT JOIN edits AS e ON e.drawing_id = d.id"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_MIGRATION_LOCK] = "SELECT pg_advisory_xact_lock($1::int8)",
    [ST_MIGRATION_APPLIED] = "SELECT 1 FROM schema_migrations WHERE version = $1::int8",
    [ST_MIGRATION_RECORD] =
        "INSERT INTO schema_migrations(version, applied_at) VALUES($1::int8, " TS("$2") ")",
    [ST_USER_ENSURE] = "INSERT INTO users(id, created_at) VALUES($1, " TS("$2") ") "
                       "ON CONFLICT (id) DO NOTHING",
    [ST_USER_COUNTS] = "SELECT drawing_count, edited_count, tutorial_count FROM users "
                       "WHERE id = $1",
    [ST_TUTORIAL_ADD] = "INSERT INTO tutorials(id, title, created_at) VALUES($1, $2, " TS("$3") ")",
    [ST_TUTORIAL_EXISTS] = "SELECT 1 FROM tutorials WHERE id = $1",
    [ST_TUTORIAL_LIST] =
        "SELECT id, title, " MS("created_at") " FROM tutorials ORDER BY created_at, id",
    [ST_DRAWING_INSERT] = "INSERT INTO drawings(id, user_id, tutorial_id, original_key, "
                          "thumbnail_key, created_at, updated_at) "
                          "VALUES($1, $2, $3, $4, $5, " TS("$6") ", " TS("$7") ")",
    /* a drawing and its edits in one statement: a row per edit, oldest first, or one
     * row with NULL edit columns when it has none */
    [ST_DRAWING_GET] = "SELECT " DRAWING_WITH_EDITS " WHERE d.id = $1 AND d.user_id = $2 "
                       "ORDER BY e.id",
    /* delete reads what it deletes under the row's lock, so no edit can slip in between */
    [ST_DRAWING_LOCK] = "SELECT " DRAWING_WITH_EDITS " WHERE d.id = $1 AND d.user_id = $2 "
                        "ORDER BY e.id FOR UPDATE OF d",
    /*
     * A whole gallery page in one statement (one round trip, one snapshot): the user's
     * total, then a row per (drawing, edit) in gallery order, edits oldest first, a
     * drawing without edits once with NULL edit columns. An empty page is one row of
     * the total and NULLs. As in sqlite.c, the page's ids come from the gallery index
     * alone (an index-only scan), so a deep OFFSET skips index entries, not table rows;
     * then the page's rows by primary key and their edits by edits_drawing.
     */
    [ST_GALLERY_PAGE] =
        "SELECT u.n, d.id, d.user_id, d.tutorial_id, d.original_key, d.thumbnail_key, "
        MS("d.created_at") ", " MS("d.updated_at") ", "
        "e.image_key, e.thumbnail_key, e.prompt, e.source, " MS("e.created_at") " "
        "FROM (SELECT coalesce((SELECT drawing_count FROM users WHERE id = $1), 0) AS n) AS u "
        "LEFT JOIN LATERAL (SELECT id, created_at FROM drawings WHERE user_id = $1 "
        GALLERY_ORDER " LIMIT $2::int8 OFFSET $3::int8) AS p ON true "
        "LEFT JOIN drawings AS d ON d.id = p.id "
        "LEFT JOIN edits AS e ON e.drawing_id = p.id "
        "ORDER BY p.created_at DESC, p.id DESC, e.id",
    [ST_DRAWING_DELETE] = "DELETE FROM drawings WHERE id = $1 AND user_id = $2",
    [ST_DRAWING_TOUCH] =
        "UPDATE drawings SET updated_at = " TS("$1") " WHERE id = $2 AND user_id = $3",
    [ST_EDIT_INSERT] = "INSERT INTO edits(drawing_id, image_key, thumbnail_key, prompt, source, "
                       "created_at) VALUES($1, $2, $3, $4, $5, " TS("$6") ")",
    [ST_JOB_ADD] = "INSERT INTO jobs(kind, object_key, ref, run_at, created_at) "
                   "VALUES($1, $2, $4, " TS("$3") ", " TS("$3") ")",
    /* exactly one server gets a job: a row locked by another claimer is skipped,
     * never waited for, and the lease is set in the same statement */
    [ST_JOB_CLAIM] = "UPDATE jobs SET lease_until = " TS("$2") " WHERE id = ("
                     "SELECT id FROM jobs WHERE run_at <= " TS("$1") " "
                     "AND (lease_until IS NULL OR lease_until <= " TS("$1") ") "
                     "ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                     "RETURNING id, kind, object_key, attempts, ref",
    [ST_JOB_DONE] = "DELETE FROM jobs WHERE id = $1::int8",
    [ST_JOB_RETRY] = "UPDATE jobs SET attempts = attempts + 1, run_at = " TS("$2") ", "
                     "lease_until = NULL, last_error = $3 WHERE id = $1::int8",
    [ST_KEYS_REFERENCED] = "SELECT original_key FROM drawings "
                           "UNION ALL SELECT thumbnail_key FROM drawings "
                           "WHERE thumbnail_key IS NOT NULL "
                           "UNION ALL SELECT image_key FROM edits "
                           "UNION ALL SELECT thumbnail_key FROM edits "
                           "WHERE thumbnail_key IS NOT NULL",
    [ST_DATA_ORIG_GET] = "SELECT original_key FROM drawings WHERE id = $1 "
                         "AND substr(original_key, 1, 5) = 'data:'",
    [ST_DATA_EDIT_GET] = "SELECT image_key FROM edits WHERE drawing_id = $1 "
                         "AND substr(image_key, 1, 5) = 'data:' ORDER BY id LIMIT 1",
    [ST_DATA_ORIG_SWAP] = "UPDATE drawings SET original_key = $3 WHERE id = $1 "
                          "AND original_key = $2",
    [ST_DATA_EDIT_SWAP] = "UPDATE edits SET image_key = $3 WHERE id = (SELECT id FROM edits "
                          "WHERE drawing_id = $1 AND image_key = $2 ORDER BY id LIMIT 1)",
};
/* clang-format on */

/*
 * Statements that may run again on a fresh connection when the first statement of a
 * borrow finds the old one dead (the server restarted, a proxy dropped it): running
 * them twice is harmless. A lone INSERT is not on the list: its COMMIT may have
 * happened before the connection died.
 */
static bool stmt_retry_safe(enum stmt which)
{
    switch (which) {
    case ST_BEGIN:
    case ST_PING:
    case ST_USER_ENSURE:
    case ST_USER_COUNTS:
    case ST_TUTORIAL_EXISTS:
    case ST_TUTORIAL_LIST:
    case ST_KEYS_REFERENCED:
        return true;
    default:
        return false;
    }
}

/* ---- connections and the pool ------------------------------------------ */

struct pconn {
    PGconn *pg;
    uint64_t prepared;  /* bit i: statement i is prepared on this connection */
    bool fresh;         /* no statement has succeeded since it was borrowed */
    struct pconn *next; /* the idle list, under db_pg.mu */
};

struct db_pg {
    struct db base; /* first: struct db * and struct db_pg * are interchangeable */
    char *url;      /* the DATABASE_URL, with its password: never logged */
    char *shown;    /* the same target without the password, for logs */
    size_t size;    /* at most this many connections */
    bool have_mu, have_cv;
    pthread_mutex_t mu; /* guards idle and opened */
    pthread_cond_t cv;  /* signalled when a connection is returned or given up */
    struct pconn *idle;
    size_t opened; /* connections that exist: idle, borrowed, or being opened */
};

static struct db_pg *from_db(struct db *db)
{
    return (struct db_pg *)db;
}

/* The length of a libpq message's first line: later lines may quote values. */
static int first_line(const char *msg)
{
    size_t n = msg ? strcspn(msg, "\r\n") : 0;

    return n > INT_MAX ? INT_MAX : (int)n;
}

/*
 * Maps a failed result (or a failure to send) to our code and logs the server's
 * primary message, which names tables and constraints, never values (those are in
 * DETAIL, not logged). Constraint failures are expected outcomes (a duplicate id,
 * an unknown tutorial) and are logged as warnings, as sqlite.c does.
 */
static enum err fail(struct pconn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    enum err e;

    if (!msg || !*msg)
        msg = PQerrorMessage(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        e = ERR_UNAVAILABLE;
    } else if (!state) {
        e = res ? ERR_INTERNAL : ERR_NOMEM;
    } else if (strcmp(state, "23503") == 0) {
        e = ERR_NOT_FOUND; /* foreign_key_violation: an unknown tutorial or drawing */
    } else if (strncmp(state, "23", 2) == 0) {
        e = ERR_CONFLICT; /* unique_violation and the other integrity constraints */
    } else if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
               strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0 ||
               strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0 ||
               strcmp(state, "55006") == 0) {
        /* connection, resources, shutdown/cancel, I/O, serialization/deadlock, locks:
         * the database is (for now) unable to do it, as SQLITE_BUSY/IOERR/FULL */
        e = ERR_UNAVAILABLE;
    } else {
        e = ERR_INTERNAL;
    }
    if (e == ERR_CONFLICT || e == ERR_NOT_FOUND)
        log_warn("postgres: %s: %.*s", what, first_line(msg), msg);
    else
        log_error("postgres: %s: %.*s (sqlstate %s)", what, first_line(msg), msg,
                  state ? state : "none");
    return e;
}

/* Server notices (e.g. "relation already exists, skipping") are not worth stderr. */
static void on_notice(void *arg, const PGresult *res)
{
    const char *msg = PQresultErrorMessage(res);

    (void)arg;
    log_debug("postgres: notice: %.*s", first_line(msg), msg);
}

static void conn_close(struct pconn *c)
{
    if (!c)
        return;
    PQfinish(c->pg); /* NULL is a no-op */
    free(c);
}

static enum err conn_open(const struct db_pg *p, struct pconn **out)
{
    /*
     * Our defaults come before the URL, so parameters in the URL win; the client
     * encoding comes after it, because every string we exchange is UTF-8.
     */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "novadraw", p->url, "UTF8", NULL};
    struct pconn *c = calloc(1, sizeof(*c));
    enum err rc = ERR_NOMEM;

    if (!c)
        goto out;
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg)
        goto out;
    if (PQstatus(c->pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(c->pg);
        log_error("postgres: cannot connect to %s: %.*s", p->shown, first_line(msg), msg);
        rc = ERR_UNAVAILABLE;
        goto out;
    }
    PQsetNoticeReceiver(c->pg, on_notice, NULL);
    *out = c;
    c = NULL;
    rc = ERR_OK;
out:
    conn_close(c);
    return rc;
}

/* Reconnects a broken connection with the same parameters; its statements are gone. */
static enum err conn_reset(const struct db_pg *p, struct pconn *c)
{
    c->prepared = 0;
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(c->pg);
        log_error("postgres: cannot reconnect to %s: %.*s", p->shown, first_line(msg), msg);
        return ERR_UNAVAILABLE;
    }
    return ERR_OK;
}

/*
 * False if an idle connection is dead or may be: the server said something while
 * it sat in the pool. We LISTEN to nothing and change no settings, so that is
 * its goodbye (a restart, pg_terminate_backend, an idle timeout: a FATAL message,
 * then the end of the stream), or, rarely, a notice worth a reconnect anyway.
 * Catching it here, before any statement is sent, makes reconnecting safe for
 * every statement.
 */
static bool conn_alive(PGconn *pg)
{
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};

    if (PQstatus(pg) != CONNECTION_OK || pfd.fd < 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

/* An absolute CLOCK_MONOTONIC deadline ms from now. */
static struct timespec deadline_after(long ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/*
 * Lends the caller a connection: an idle one, else a new one while the pool is
 * below its size, else the first one returned within POOL_WAIT_MS. Give it back
 * with pool_return().
 */
static enum err pool_borrow(struct db_pg *p, struct pconn **out)
{
    const struct timespec until = deadline_after(POOL_WAIT_MS);
    struct pconn *c = NULL;
    bool open_new = false;
    enum err rc = ERR_OK;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->idle) {
            c = p->idle;
            p->idle = c->next;
            c->next = NULL;
            break;
        }
        if (p->opened < p->size) {
            p->opened++; /* reserved; opened outside the lock */
            open_new = true;
            break;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            rc = ERR_UNAVAILABLE;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc != ERR_OK) {
        log_error("postgres: all %zu connections stayed busy for %d ms", p->size, POOL_WAIT_MS);
        return rc;
    }
    if (open_new) {
        rc = conn_open(p, &c);
    } else if (!conn_alive(c->pg)) {
        log_warn("postgres: a pooled connection to %s was closed; reconnecting", p->shown);
        rc = conn_reset(p, c);
    }
    if (rc != ERR_OK) {
        conn_close(c);
        pthread_mutex_lock(&p->mu);
        p->opened--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    c->fresh = true;
    *out = c;
    return ERR_OK;
}

/* Takes the connection back; closes it if it broke or was left in a transaction.
 * Accepts NULL. */
static void pool_return(struct db_pg *p, struct pconn *c)
{
    if (!c)
        return;
    if (PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_close(c);
        c = NULL;
    }
    pthread_mutex_lock(&p->mu);
    if (c) {
        c->next = p->idle;
        p->idle = c;
    } else {
        p->opened--;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- statement helpers ------------------------------------------------- */

/* Prepares statement which on c unless it already is. On failure *res is the
 * failed result (or NULL), for fail(). */
static bool prepare(struct pconn *c, enum stmt which, PGresult **res)
{
    char name[16];

    *res = NULL;
    if (c->prepared & (UINT64_C(1) << which))
        return true;
    snprintf(name, sizeof(name), "nd%d", (int)which);
    *res = PQprepare(c->pg, name, stmt_sql[which], 0, NULL);
    if (!*res || PQresultStatus(*res) != PGRES_COMMAND_OK)
        return false;
    PQclear(*res);
    *res = NULL;
    c->prepared |= UINT64_C(1) << which;
    return true;
}

/* One attempt: true with *res the rows/command result, or false with *res the
 * failed result (or NULL). */
static bool exec_once(struct pconn *c, enum stmt which, const char *const *params, int n,
                      PGresult **res)
{
    char name[16];
    ExecStatusType st;

    if (!prepare(c, which, res))
        return false;
    snprintf(name, sizeof(name), "nd%d", (int)which);
    *res = PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0); /* text in, text out */
    st = *res ? PQresultStatus(*res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * Runs a statement with n text parameters (NULL is SQL NULL). On success *out (if
 * not NULL) receives the result, which the caller PQclear()s. A dead connection met
 * by the first statement of a borrow is reconnected and, for statements safe to
 * repeat, the statement is run once more.
 */
static enum err q(const struct db_pg *p, struct pconn *c, enum stmt which,
                  const char *const *params, int n, const char *what, PGresult **out)
{
    PGresult *res = NULL;
    enum err rc;

    if (exec_once(c, which, params, n, &res))
        goto ok;
    if (c->fresh && PQstatus(c->pg) != CONNECTION_OK) {
        PQclear(res);
        res = NULL;
        log_warn("postgres: the connection to %s was lost; reconnecting", p->shown);
        rc = conn_reset(p, c);
        if (rc != ERR_OK)
            return rc;
        if (!stmt_retry_safe(which)) {
            log_error("postgres: %s: the connection was lost", what);
            return ERR_UNAVAILABLE;
        }
        if (exec_once(c, which, params, n, &res))
            goto ok;
    }
    rc = fail(c, res, what);
    PQclear(res);
    return rc;
ok:
    c->fresh = false;
    if (out)
        *out = res;
    else
        PQclear(res);
    return ERR_OK;
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ...). */
static enum err run(const struct db_pg *p, struct pconn *c, enum stmt which, const char *what)
{
    return q(p, c, which, NULL, 0, what, NULL);
}

/* Ends a failed transaction, if one is still open. */
static void rollback(const struct db_pg *p, struct pconn *c)
{
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);

    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        (void)run(p, c, ST_ROLLBACK, "rollback");
}

/* v as decimal text in buf, which it returns. */
static const char *i64_text(int64_t v, char buf[I64_LEN])
{
    snprintf(buf, I64_LEN, "%lld", (long long)v);
    return buf;
}

/* The number of rows an INSERT/UPDATE/DELETE changed. */
static long long rows_changed(const PGresult *res)
{
    const char *t = PQcmdTuples((PGresult *)res);

    return t && *t ? strtoll(t, NULL, 10) : 0;
}

/* A copy of a text column in the arena; SQL NULL gives NULL. */
static enum err col_text(const PGresult *res, int row, int col, struct arena *a, char **out)
{
    int n;

    if (PQgetisnull(res, row, col)) {
        *out = NULL;
        return ERR_OK;
    }
    n = PQgetlength(res, row, col);
    if (n < 0)
        return ERR_INTERNAL;
    *out = arena_strndup(a, PQgetvalue(res, row, col), (size_t)n);
    return *out ? ERR_OK : ERR_NOMEM;
}

/* A uuid column into a fixed buffer, refusing anything of the wrong length. */
static enum err col_uuid(const PGresult *res, int row, int col, char out[ID_UUID_LEN])
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != ID_UUID_LEN - 1) {
        log_error("postgres: a stored id is not a UUID");
        return ERR_INTERNAL;
    }
    memcpy(out, PQgetvalue(res, row, col), ID_UUID_LEN - 1);
    out[ID_UUID_LEN - 1] = '\0';
    return ERR_OK;
}

static enum err col_i64(const PGresult *res, int row, int col, int64_t *out)
{
    const char *t = PQgetvalue(res, row, col);
    char *end = NULL;
    long long v;

    if (PQgetisnull(res, row, col) || !t || !*t)
        goto bad;
    errno = 0;
    v = strtoll(t, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        goto bad;
    *out = v;
    return ERR_OK;
bad:
    log_error("postgres: a stored number is not an integer");
    return ERR_INTERNAL;
}

/* An arena array for a result's rows (NULL when there are none). */
static enum err rows_alloc(const PGresult *res, size_t size, struct arena *a, void **out)
{
    int rows = PQntuples(res);

    *out = NULL;
    if (rows <= 0)
        return ERR_OK;
    if ((size_t)rows > SIZE_MAX / size)
        return ERR_NOMEM;
    *out = arena_alloc(a, (size_t)rows * size);
    if (!*out)
        return ERR_NOMEM;
    memset(*out, 0, (size_t)rows * size);
    return ERR_OK;
}

/* ---- rows -------------------------------------------------------------- */

/* Columns of a drawing, then of one of its edits, in DRAWING_WITH_EDITS rows. */
#define COL_DRAWING 0
#define COL_EDIT 7

/* Row `row`'s (id, user_id, tutorial_id, original_key, thumbnail_key, created_at,
 * updated_at), starting at column col. */
static enum err read_drawing(const PGresult *res, int row, int col, struct arena *a,
                             struct drawing *d)
{
    enum err rc = col_uuid(res, row, col, d->id);

    if (rc == ERR_OK)
        rc = col_uuid(res, row, col + 1, d->user_id);
    if (rc == ERR_OK)
        rc = col_text(res, row, col + 2, a, &d->tutorial_id);
    if (rc == ERR_OK)
        rc = col_text(res, row, col + 3, a, &d->original_key);
    if (rc == ERR_OK)
        rc = col_text(res, row, col + 4, a, &d->thumbnail_key);
    if (rc == ERR_OK)
        rc = col_i64(res, row, col + 5, &d->created_at);
    if (rc == ERR_OK)
        rc = col_i64(res, row, col + 6, &d->updated_at);
    d->edits = NULL;
    d->n_edits = 0;
    return rc;
}

/* Row `row`'s (image_key, thumbnail_key, prompt, source, created_at), from column col. */
static enum err read_edit(const PGresult *res, int row, int col, struct arena *a, struct edit *e)
{
    enum err rc = col_text(res, row, col, a, &e->image_key);

    if (rc == ERR_OK)
        rc = col_text(res, row, col + 1, a, &e->thumbnail_key);
    if (rc == ERR_OK)
        rc = col_text(res, row, col + 2, a, &e->prompt);
    if (rc == ERR_OK)
        rc = col_text(res, row, col + 3, a, &e->source);
    if (rc == ERR_OK)
        rc = col_i64(res, row, col + 4, &e->created_at);
    return rc;
}

/*
 * Rows r..k-1 are one drawing (columns from dcol) and its edits, oldest first
 * (columns from ecol; NULL edit columns when it has none): *d gets both.
 */
static enum err read_group(const PGresult *res, int r, int k, int dcol, int ecol, struct arena *a,
                           struct drawing *d)
{
    size_t n_edits = 0;
    enum err rc = read_drawing(res, r, dcol, a, d);

    for (int m = r; m < k; m++)
        n_edits += !PQgetisnull(res, m, ecol);
    if (rc == ERR_OK && n_edits > 0) {
        d->edits = arena_alloc(a, n_edits * sizeof(struct edit)); /* n_edits <= rows */
        if (!d->edits)
            rc = ERR_NOMEM;
    }
    for (int m = r; m < k && rc == ERR_OK; m++) {
        if (!PQgetisnull(res, m, ecol))
            rc = read_edit(res, m, ecol, a, &d->edits[d->n_edits++]);
    }
    return rc;
}

/* True if row r of a gallery result starts a new drawing (column 1 is its id). */
static bool gallery_row_starts_drawing(const PGresult *res, int r)
{
    if (PQgetisnull(res, r, 1))
        return false;
    return r == 0 || PQgetisnull(res, r - 1, 1) ||
           strcmp(PQgetvalue(res, r, 1), PQgetvalue(res, r - 1, 1)) != 0;
}

/* The page and the total from an ST_GALLERY_PAGE result, into the arena. */
static enum err read_gallery(const PGresult *res, struct arena *a, struct drawing **out, size_t *n,
                             int64_t *total)
{
    int rows = PQntuples(res);
    struct drawing *page = NULL;
    size_t n_page = 0, j = 0;
    int64_t count = 0;
    enum err rc;

    if (rows < 1) {
        log_error("postgres: the gallery query returned no row");
        return ERR_INTERNAL;
    }
    rc = col_i64(res, 0, 0, &count);
    if (rc != ERR_OK)
        return rc;
    for (int r = 0; r < rows; r++)
        n_page += gallery_row_starts_drawing(res, r);
    if (n_page > 0) {
        page = arena_alloc(a, n_page * sizeof(*page)); /* n_page <= rows: no overflow */
        if (!page)
            return ERR_NOMEM;
    }
    for (int r = 0; r < rows && rc == ERR_OK;) {
        int k = r + 1;

        if (!gallery_row_starts_drawing(res, r)) {
            r++; /* the empty page's single row */
            continue;
        }
        while (k < rows && !gallery_row_starts_drawing(res, k))
            k++;
        rc = read_group(res, r, k, 1 + COL_DRAWING, 1 + COL_EDIT, a, &page[j++]);
        r = k;
    }
    if (rc != ERR_OK)
        return rc;
    *out = page;
    *n = n_page;
    *total = count;
    return ERR_OK;
}

/* user_id's drawing id with its edits, in one statement; lock: also lock the row until
 * the caller's transaction ends. */
static enum err load_drawing(const struct db_pg *p, struct pconn *c, const char *user_id,
                             const char *id, bool lock, struct arena *a, struct drawing *out)
{
    const char *params[2] = {id, user_id};
    PGresult *res = NULL;
    struct drawing d = {0};
    enum err rc;

    rc = q(p, c, lock ? ST_DRAWING_LOCK : ST_DRAWING_GET, params, 2, "read drawing", &res);
    if (rc != ERR_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    rc = read_group(res, 0, PQntuples(res), COL_DRAWING, COL_EDIT, a, &d);
    if (rc == ERR_OK)
        *out = d;
out:
    PQclear(res); /* NULL is a no-op */
    return rc;
}

static enum err insert_edit(const struct db_pg *p, struct pconn *c, const char *drawing_id,
                            const struct edit *e)
{
    char at[I64_LEN];
    const char *params[6] = {drawing_id, e->image_key, e->thumbnail_key,
                             e->prompt,  e->source,    i64_text(e->created_at, at)};

    return q(p, c, ST_EDIT_INSERT, params, 6, "insert edit", NULL);
}

static enum err user_upsert(const struct db_pg *p, struct pconn *c, const char *user_id)
{
    char now[I64_LEN];
    const char *params[2] = {user_id, i64_text(time_now_ms(), now)};

    return q(p, c, ST_USER_ENSURE, params, 2, "ensure user", NULL);
}

/* The user's counters; zeros if the user has no row yet. */
static enum err user_counts(const struct db_pg *p, struct pconn *c, const char *user_id,
                            struct drawing_stats *out)
{
    const char *params[1] = {user_id};
    struct drawing_stats s = {0};
    PGresult *res = NULL;
    enum err rc = q(p, c, ST_USER_COUNTS, params, 1, "read counters", &res);

    if (rc != ERR_OK)
        goto out;
    if (PQntuples(res) > 0) {
        rc = col_i64(res, 0, 0, &s.total_drawings);
        if (rc == ERR_OK)
            rc = col_i64(res, 0, 1, &s.edited_drawings);
        if (rc == ERR_OK)
            rc = col_i64(res, 0, 2, &s.tutorial_drawings);
        if (rc != ERR_OK)
            goto out;
    }
    *out = s;
out:
    PQclear(res);
    return rc;
}

/* ---- open, close, migrate ---------------------------------------------- */

/*
 * The connection target for logs: postgresql://user@host:port/dbname, rebuilt from
 * libpq's own parse of the URL, so no spelling of a password (user:pass@, or
 * ?password=) can leak through; "***" marks where one was given.
 */
static char *shown_target(const char *url)
{
    const char *user = "", *host = "", *port = "", *dbname = "";
    PQconninfoOption *opts;
    char *err = NULL, *s = NULL;
    bool password = false;

    opts = PQconninfoParse(url, &err);
    if (!opts) {
        PQfreemem(err); /* may quote the URL: not logged */
        return strdup("postgresql://(unparsable DATABASE_URL)");
    }
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            password = o->val[0] != '\0';
    }
    if (asprintf(&s, "postgresql://%s%s%s%s%s%s/%s", user, password ? ":***" : "",
                 *user || password ? "@" : "", host, *port ? ":" : "", port, dbname) < 0)
        s = NULL;
    PQconninfoFree(opts);
    return s;
}

static size_t pool_size(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n;

    if (cores < 1)
        cores = 1;
    n = (size_t)cores * POOL_PER_CORE;
    if (n < POOL_MIN)
        n = POOL_MIN;
    if (n > POOL_MAX)
        n = POOL_MAX;
    return n;
}

static void pg_close(struct db *db)
{
    struct db_pg *p = from_db(db);
    struct pconn *c, *next;

    if (!p)
        return;
    if (p->have_mu)
        pthread_mutex_lock(&p->mu);
    c = p->idle;
    p->idle = NULL;
    for (struct pconn *k = c; k; k = k->next)
        p->opened--;
    if (p->opened != 0)
        log_error("postgres: closed with %zu connections still borrowed", p->opened);
    if (p->have_mu)
        pthread_mutex_unlock(&p->mu);
    for (; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    if (p->have_cv)
        pthread_cond_destroy(&p->cv);
    if (p->have_mu)
        pthread_mutex_destroy(&p->mu);
    free(p->url);
    free(p->shown);
    free(p);
}

static enum err pg_open(const struct config *cfg, struct db **out)
{
    pthread_condattr_t ca;
    struct db_pg *p = NULL;
    struct pconn *c = NULL;
    enum err rc = ERR_INVALID;

    if (!cfg->database_url || !cfg->database_url[0]) {
        log_error("postgres: no DATABASE_URL configured");
        goto out;
    }
    if (!PQisthreadsafe()) {
        log_error("postgres: libpq was built without thread support");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = ERR_NOMEM;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    p->base.ops = &db_postgres_ops;
    p->url = strdup(cfg->database_url);
    p->shown = shown_target(cfg->database_url);
    if (!p->url || !p->shown)
        goto out;
    p->size = pool_size();
    rc = ERR_INTERNAL;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto out;
    p->have_mu = true;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&p->cv, &ca) == 0)
        p->have_cv = true;
    pthread_condattr_destroy(&ca);
    if (!p->have_cv)
        goto out;
    /* one connection now, so a bad URL or an unreachable server fails at start-up */
    rc = pool_borrow(p, &c);
    if (rc != ERR_OK)
        goto out;
    pool_return(p, c);
    log_info("postgres: connected to %s (pool of %zu)", p->shown, p->size);
    *out = &p->base;
    p = NULL;
out:
    if (p)
        pg_close(&p->base);
    return rc;
}

/* Applies migration version (1-based) unless it already is; one transaction each,
 * holding the migrations' advisory lock, so servers starting together apply it once
 * (the others wait for the lock, then find the version row). */
static enum err migrate_one(const struct db_pg *p, struct pconn *c, int64_t version,
                            const char *sql)
{
    char key[I64_LEN], ver[I64_LEN], now[I64_LEN];
    const char *lock_params[1] = {i64_text(MIGRATION_LOCK_KEY, key)};
    const char *params[2] = {i64_text(version, ver), i64_text(time_now_ms(), now)};
    PGresult *res = NULL;
    bool in_tx = false;
    enum err rc;

    rc = run(p, c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = q(p, c, ST_MIGRATION_LOCK, lock_params, 1, "lock migrations", NULL);
    if (rc == ERR_OK)
        rc = q(p, c, ST_MIGRATION_APPLIED, params, 1, "read migrations", &res);
    if (rc != ERR_OK)
        goto out;
    if (PQntuples(res) == 0) {
        PQclear(res);
        /* the migration's text is ours, several statements: the simple protocol */
        res = PQexec(c->pg, sql);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = fail(c, res, "migrate");
            goto out;
        }
        rc = q(p, c, ST_MIGRATION_RECORD, params, 2, "record migration", NULL);
        if (rc != ERR_OK)
            goto out;
        log_info("postgres: applied migration %lld", (long long)version);
    }
    rc = run(p, c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    PQclear(res);
    if (in_tx)
        rollback(p, c);
    return rc;
}

static enum err pg_migrate(struct db *db)
{
    struct db_pg *p = from_db(db);
    char key[I64_LEN];
    const char *lock_params[1] = {i64_text(MIGRATION_LOCK_KEY, key)};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    bool in_tx = false;
    enum err rc = pool_borrow(p, &c);

    if (rc != ERR_OK)
        goto out;
    /* CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin: under the lock */
    rc = run(p, c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = q(p, c, ST_MIGRATION_LOCK, lock_params, 1, "lock migrations", NULL);
    if (rc != ERR_OK)
        goto out;
    res = PQexec(c->pg, create_migrations_table);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail(c, res, "create schema_migrations");
        goto out;
    }
    rc = run(p, c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    for (size_t i = 0; i < N_MIGRATIONS && rc == ERR_OK; i++)
        rc = migrate_one(p, c, (int64_t)i + 1, migrations[i]);
out:
    PQclear(res);
    if (in_tx)
        rollback(p, c);
    pool_return(p, c);
    return rc;
}

static enum err pg_ping(struct db *db)
{
    struct db_pg *p = from_db(db);
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = run(p, c, ST_PING, "ping");
    pool_return(p, c);
    return rc;
}

/* ---- users and tutorials ----------------------------------------------- */

static enum err pg_user_ensure(struct db *db, const char *user_id)
{
    struct db_pg *p = from_db(db);
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = user_upsert(p, c, user_id);
    pool_return(p, c);
    return rc;
}

static enum err pg_tutorial_add(struct db *db, const struct tutorial *t)
{
    struct db_pg *p = from_db(db);
    char at[I64_LEN];
    const char *params[3] = {t->id, t->title, i64_text(t->created_at, at)};
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_TUTORIAL_ADD, params, 3, "add tutorial", NULL);
    pool_return(p, c);
    return rc;
}

static enum err pg_tutorial_exists(struct db *db, const char *id)
{
    struct db_pg *p = from_db(db);
    const char *params[1] = {id};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_TUTORIAL_EXISTS, params, 1, "find tutorial", &res);
    if (rc == ERR_OK && PQntuples(res) == 0)
        rc = ERR_NOT_FOUND;
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_tutorial_list(struct db *db, struct arena *a, struct tutorial **out, size_t *n)
{
    struct db_pg *p = from_db(db);
    struct tutorial *list = NULL;
    struct pconn *c = NULL;
    PGresult *res = NULL;
    void *mem = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_TUTORIAL_LIST, NULL, 0, "list tutorials", &res);
    if (rc == ERR_OK)
        rc = rows_alloc(res, sizeof(struct tutorial), a, &mem);
    if (rc != ERR_OK)
        goto out;
    list = mem;
    for (int r = 0; r < PQntuples(res) && rc == ERR_OK; r++) {
        rc = col_uuid(res, r, 0, list[r].id);
        if (rc == ERR_OK)
            rc = col_text(res, r, 1, a, &list[r].title);
        if (rc == ERR_OK)
            rc = col_i64(res, r, 2, &list[r].created_at);
    }
    if (rc != ERR_OK)
        goto out;
    *out = list;
    *n = (size_t)PQntuples(res);
out:
    PQclear(res);
    pool_return(p, c);
    return rc;
}

/* ---- drawings ---------------------------------------------------------- */

static enum err pg_drawing_insert(struct db *db, const struct drawing *d)
{
    struct db_pg *p = from_db(db);
    char created[I64_LEN], updated[I64_LEN];
    const char *params[7] = {d->id,
                             d->user_id,
                             d->tutorial_id,
                             d->original_key,
                             d->thumbnail_key,
                             i64_text(d->created_at, created),
                             i64_text(d->updated_at, updated)};
    struct pconn *c = NULL;
    bool in_tx = false;
    enum err rc = pool_borrow(p, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(p, c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    /* the owner's row carries the counters the triggers update */
    rc = user_upsert(p, c, d->user_id);
    if (rc == ERR_OK) /* unknown tutorial: ERR_NOT_FOUND */
        rc = q(p, c, ST_DRAWING_INSERT, params, 7, "insert drawing", NULL);
    for (size_t i = 0; i < d->n_edits && rc == ERR_OK; i++)
        rc = insert_edit(p, c, d->id, &d->edits[i]);
    if (rc != ERR_OK)
        goto out;
    rc = run(p, c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    if (in_tx)
        rollback(p, c);
    pool_return(p, c);
    return rc;
}

static enum err pg_drawing_get(struct db *db, const char *user_id, const char *id, struct arena *a,
                               struct drawing *out)
{
    struct db_pg *p = from_db(db);
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    /* one statement, so one snapshot for the drawing and its edits */
    if (rc == ERR_OK)
        rc = load_drawing(p, c, user_id, id, false, a, out);
    pool_return(p, c);
    return rc;
}

static enum err pg_drawing_list(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                                struct arena *a, struct drawing **out, size_t *n, int64_t *total)
{
    struct db_pg *p = from_db(db);
    char lim[I64_LEN], off[I64_LEN];
    const char *params[3] = {user_id, i64_text(limit, lim), i64_text(offset, off)};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    /* one statement: the total, the page and its edits from one snapshot */
    if (rc == ERR_OK)
        rc = q(p, c, ST_GALLERY_PAGE, params, 3, "list drawings", &res);
    if (rc == ERR_OK)
        rc = read_gallery(res, a, out, n, total);
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_drawing_delete(struct db *db, const char *user_id, const char *id,
                                  struct arena *a, struct drawing *out)
{
    struct db_pg *p = from_db(db);
    const char *params[2] = {id, user_id};
    PGresult *res = NULL;
    struct drawing d;
    struct pconn *c = NULL;
    bool in_tx = false;
    enum err rc = pool_borrow(p, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(p, c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = load_drawing(p, c, user_id, id, true, a, &d); /* not theirs: ERR_NOT_FOUND */
    if (rc == ERR_OK)                                  /* edits cascade; triggers count */
        rc = q(p, c, ST_DRAWING_DELETE, params, 2, "delete drawing", &res);
    if (rc != ERR_OK)
        goto out;
    if (rows_changed(res) != 1) {
        log_error("postgres: delete drawing: the row read was not deleted");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = run(p, c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    *out = d;
out:
    PQclear(res);
    if (in_tx)
        rollback(p, c);
    pool_return(p, c);
    return rc;
}

/* updated_at becomes the edit's created_at. */
static enum err pg_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                               const struct edit *e)
{
    struct db_pg *p = from_db(db);
    char at[I64_LEN];
    const char *params[3] = {i64_text(e->created_at, at), drawing_id, user_id};
    PGresult *res = NULL;
    struct pconn *c = NULL;
    bool in_tx = false;
    enum err rc = pool_borrow(p, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(p, c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    /* also locks the drawing's row, so concurrent edits of it take turns */
    rc = q(p, c, ST_DRAWING_TOUCH, params, 3, "touch drawing", &res);
    if (rc != ERR_OK)
        goto out;
    if (rows_changed(res) == 0) {
        rc = ERR_NOT_FOUND; /* absent, or not theirs */
        goto out;
    }
    rc = insert_edit(p, c, drawing_id, e); /* the first edit counts the drawing as edited */
    if (rc != ERR_OK)
        goto out;
    rc = run(p, c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    PQclear(res);
    if (in_tx)
        rollback(p, c);
    pool_return(p, c);
    return rc;
}

static enum err pg_stats(struct db *db, const char *user_id, struct drawing_stats *out)
{
    struct db_pg *p = from_db(db);
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = user_counts(p, c, user_id, out);
    pool_return(p, c);
    return rc;
}

/* ---- jobs and gc ------------------------------------------------------- */

static enum err pg_job_add(struct db *db, const char *kind, const char *key, const char *ref,
                           int64_t now_ms)
{
    struct db_pg *p = from_db(db);
    char at[I64_LEN];
    const char *params[4] = {kind, key, i64_text(now_ms, at), ref};
    struct pconn *c = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_JOB_ADD, params, 4, "add job", NULL);
    pool_return(p, c);
    return rc;
}

static enum err pg_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                             struct db_job *out)
{
    struct db_pg *p = from_db(db);
    char now[I64_LEN], until[I64_LEN];
    const char *params[2] = {i64_text(now_ms, now), i64_text(now_ms + lease_ms, until)};
    struct db_job j = {0};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_JOB_CLAIM, params, 2, "claim job", &res);
    if (rc != ERR_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    rc = col_i64(res, 0, 0, &j.id);
    if (rc == ERR_OK)
        rc = col_text(res, 0, 1, a, &j.kind);
    if (rc == ERR_OK)
        rc = col_text(res, 0, 2, a, &j.object_key);
    if (rc == ERR_OK)
        rc = col_i64(res, 0, 3, &j.attempts);
    if (rc == ERR_OK)
        rc = col_text(res, 0, 4, a, &j.ref);
    if (rc == ERR_OK && (!j.kind || !j.object_key))
        rc = ERR_INTERNAL;
    if (rc == ERR_OK)
        *out = j;
out:
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_job_done(struct db *db, int64_t id)
{
    struct db_pg *p = from_db(db);
    char idt[I64_LEN];
    const char *params[1] = {i64_text(id, idt)};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_JOB_DONE, params, 1, "finish job", &res);
    if (rc == ERR_OK && rows_changed(res) != 1)
        rc = ERR_NOT_FOUND;
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error)
{
    struct db_pg *p = from_db(db);
    char idt[I64_LEN], at[I64_LEN];
    const char *params[3] = {i64_text(id, idt), i64_text(next_run_at, at), error};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_JOB_RETRY, params, 3, "retry job", &res);
    if (rc == ERR_OK && rows_changed(res) != 1)
        rc = ERR_NOT_FOUND;
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_keys_referenced(struct db *db, db_key_fn fn, void *ctx)
{
    struct db_pg *p = from_db(db);
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, ST_KEYS_REFERENCED, NULL, 0, "list referenced keys", &res);
    for (int r = 0; rc == ERR_OK && r < PQntuples(res); r++) {
        if (!PQgetisnull(res, r, 0))
            rc = fn(ctx, PQgetvalue(res, r, 0));
    }
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_data_url_get(struct db *db, const char *drawing_id, bool original,
                                struct arena *a, char **out)
{
    struct db_pg *p = from_db(db);
    const char *params[1] = {drawing_id};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, original ? ST_DATA_ORIG_GET : ST_DATA_EDIT_GET, params, 1, "read data URL",
               &res);
    if (rc == ERR_OK && PQntuples(res) == 0)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK)
        rc = col_text(res, 0, 0, a, out);
    PQclear(res);
    pool_return(p, c);
    return rc;
}

static enum err pg_data_url_swap(struct db *db, const char *drawing_id, bool original,
                                 const char *data_url, const char *key)
{
    struct db_pg *p = from_db(db);
    const char *params[3] = {drawing_id, data_url, key};
    struct pconn *c = NULL;
    PGresult *res = NULL;
    enum err rc = pool_borrow(p, &c);

    if (rc == ERR_OK)
        rc = q(p, c, original ? ST_DATA_ORIG_SWAP : ST_DATA_EDIT_SWAP, params, 3,
               "swap data URL", &res);
    if (rc == ERR_OK && rows_changed(res) != 1)
        rc = ERR_NOT_FOUND;
    PQclear(res);
    pool_return(p, c);
    return rc;
}

const struct db_ops db_postgres_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .ping = pg_ping,
    .user_ensure = pg_user_ensure,
    .tutorial_add = pg_tutorial_add,
    .tutorial_exists = pg_tutorial_exists,
    .tutorial_list = pg_tutorial_list,
    .drawing_insert = pg_drawing_insert,
    .drawing_get = pg_drawing_get,
    .drawing_list = pg_drawing_list,
    .drawing_delete = pg_drawing_delete,
    .edit_append = pg_edit_append,
    .stats = pg_stats,
    .job_add = pg_job_add,
    .job_claim = pg_job_claim,
    .job_done = pg_job_done,
    .job_retry = pg_job_retry,
    .keys_referenced = pg_keys_referenced,
    .data_url_get = pg_data_url_get,
    .data_url_swap = pg_data_url_swap,
};
