/*
 * postgres.c - the PostgreSQL driver (driver.h) over libpq: a connection pool,
 * prepared statements, parameters, rows.
 *
 * Owns a fixed-size pool of connections (struct db_conn), opened lazily: one at
 * open() so a bad URL or an unreachable server fails at start-up, more as threads
 * need them. An operation borrows one connection, runs its statements, and returns
 * it; a connection that broke, or is left inside a transaction it could not roll
 * back, is closed on return and reopened by a later borrow. Each connection prepares
 * a statement the first time it runs it and keeps it for its life (a reconnect
 * forgets them; preparing at connect would fail before the first migration created
 * the tables). Thread-safe: the pool is guarded by a mutex and a condition variable,
 * and a connection is used by one thread at a time. close() must not race with
 * threads still using the database. This is the only file that includes
 * libpq-fe.h. The password never reaches a log: connection targets are logged as a
 * URL rebuilt without it.
 */
#include "db/driver.h"

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

#define POOL_PER_CORE 2
#define POOL_MIN 2
#define POOL_MAX 64
#define POOL_WAIT_MS 10000    /* a borrower waits this long for a free connection */
#define CONNECT_TIMEOUT_S "5" /* unless the URL says otherwise */
#define MAX_ARGS 12           /* parameters of the longest statement (9), with room */
#define I64_LEN 24            /* "-9223372036854775808" and a NUL, with room */


struct db_pg;

struct db_conn {
    struct db_pg *owner;
    PGconn *pg;
    bool prepared[SQL_COUNT]; /* statement i is prepared on this connection */
    bool fresh;           /* no statement has succeeded since it was borrowed */
    PGresult *res;        /* the statement being read, or NULL */
    int row;              /* its current row; -1 before the first step */
    struct db_conn *next; /* the idle list, under db_pg.mu */
};

struct db_pg {
    struct db base; /* first: struct db * and struct db_pg * are interchangeable */
    char *url;      /* the DATABASE_URL, with its password: never logged */
    char *shown;    /* the same target without the password, for logs */
    size_t size;    /* at most this many connections */
    bool have_mu, have_cv;
    pthread_mutex_t mu; /* guards idle and opened */
    pthread_cond_t cv;  /* signalled when a connection is returned or given up */
    struct db_conn *idle;
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
static enum err fail(struct db_conn *c, const PGresult *res, const char *what)
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

static void conn_close(struct db_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg); /* NULL is a no-op */
    free(c);
}

static enum err conn_open(struct db_pg *p, struct db_conn **out)
{
    /*
     * Our defaults come before the URL, so parameters in the URL win; the client
     * encoding comes after it, because every string we exchange is UTF-8.
     */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "novadraw", p->url, "UTF8", NULL};
    struct db_conn *c = calloc(1, sizeof(*c));
    enum err rc = ERR_NOMEM;

    if (!c)
        goto out;
    c->owner = p;
    c->row = -1;
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
static enum err conn_reset(const struct db_pg *p, struct db_conn *c)
{
    memset(c->prepared, 0, sizeof(c->prepared));
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
static enum err pool_borrow(struct db_pg *p, struct db_conn **out)
{
    const struct timespec until = deadline_after(POOL_WAIT_MS);
    struct db_conn *c = NULL;
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
static void pool_return(struct db_pg *p, struct db_conn *c)
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

/* ---- statements -------------------------------------------------------- */

static void pg_finish(struct db_conn *c)
{
    PQclear(c->res); /* NULL is a no-op */
    c->res = NULL;
    c->row = -1;
}

/* One attempt: true with c->res the rows/command result, or false with c->res the
 * failed result (or NULL). Integers go as text; blobs in binary. */
static bool exec_once(struct db_conn *c, enum sql_query q, const struct db_arg *args, size_t n)
{
    char name[16], ints[MAX_ARGS][I64_LEN];
    const char *values[MAX_ARGS];
    int lengths[MAX_ARGS], formats[MAX_ARGS];
    ExecStatusType st;

    snprintf(name, sizeof(name), "nd%d", (int)q);
    if (!c->prepared[q]) {
        c->res = PQprepare(c->pg, name, sql_text(DIALECT_POSTGRES, q), 0, NULL);
        if (!c->res || PQresultStatus(c->res) != PGRES_COMMAND_OK)
            return false;
        PQclear(c->res);
        c->res = NULL;
        c->prepared[q] = true;
    }
    for (size_t i = 0; i < n; i++) {
        values[i] = args[i].type == ARG_NULL ? NULL : args[i].p;
        lengths[i] = 0;
        formats[i] = args[i].type == ARG_BLOB;
        if (args[i].type == ARG_INT) {
            snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)args[i].i);
            values[i] = ints[i];
        } else if (args[i].type == ARG_BLOB) {
            values[i] = args[i].len ? args[i].p : "";
            lengths[i] = (int)args[i].len;
        }
    }
    c->res = PQexecPrepared(c->pg, name, (int)n, values, lengths, formats, sql_binary_rows(q));
    st = c->res ? PQresultStatus(c->res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * A dead connection met by the first statement of a borrow is reconnected and, for
 * statements safe to repeat (sql_retry_safe), the statement is run once more.
 */
static enum err pg_exec(struct db_conn *c, enum sql_query q, const struct db_arg *args, size_t n)
{
    enum err rc;

    pg_finish(c);
    for (size_t i = 0; i < n; i++) {
        if (n > MAX_ARGS || (args[i].type == ARG_BLOB && args[i].len > INT_MAX)) {
            log_error("postgres: too many or too large parameters");
            return ERR_INVALID;
        }
    }
    if (exec_once(c, q, args, n))
        goto ok;
    if (c->fresh && PQstatus(c->pg) != CONNECTION_OK) {
        pg_finish(c);
        log_warn("postgres: the connection to %s was lost; reconnecting", c->owner->shown);
        rc = conn_reset(c->owner, c);
        if (rc != ERR_OK)
            return rc;
        if (!sql_retry_safe(q)) {
            log_error("postgres: statement %d: the connection was lost", (int)q);
            return ERR_UNAVAILABLE;
        }
        if (exec_once(c, q, args, n))
            goto ok;
    }
    rc = fail(c, c->res, "run");
    pg_finish(c);
    return rc;
ok:
    c->fresh = false;
    return ERR_OK;
}

static enum err pg_step(struct db_conn *c)
{
    if (!c->res || c->row + 1 >= PQntuples(c->res))
        return ERR_NOT_FOUND;
    c->row++;
    return ERR_OK;
}

static int64_t pg_changes(struct db_conn *c)
{
    const char *t = c->res ? PQcmdTuples(c->res) : NULL;

    return t && *t ? strtoll(t, NULL, 10) : 0;
}

static const void *pg_bytes(struct db_conn *c, int col, size_t *len)
{
    if (PQgetisnull(c->res, c->row, col))
        return NULL;
    *len = (size_t)PQgetlength(c->res, c->row, col);
    return PQgetvalue(c->res, c->row, col);
}

static enum err pg_i64(struct db_conn *c, int col, int64_t *out)
{
    const char *t = PQgetvalue(c->res, c->row, col);
    char *end = NULL;
    long long v;

    if (PQgetisnull(c->res, c->row, col) || !t || !*t)
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

/* The migration's text is ours, several statements: the simple protocol. */
static enum err pg_script(struct db_conn *c, const char *sql)
{
    enum err rc = ERR_OK;

    pg_finish(c);
    c->res = PQexec(c->pg, sql);
    if (!c->res || PQresultStatus(c->res) != PGRES_COMMAND_OK)
        rc = fail(c, c->res, "migrate");
    pg_finish(c);
    return rc;
}

static enum err pg_acquire(struct db *db, struct db_conn **out)
{
    return pool_borrow(from_db(db), out);
}

/* Ends the statement and a transaction left open, then returns c to the pool. */
static void pg_release(struct db *db, struct db_conn *c)
{
    PGTransactionStatusType ts;

    if (!c)
        return;
    pg_finish(c);
    ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    pool_return(from_db(db), c);
}

/* ---- open and close ---------------------------------------------------- */

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
    struct db_conn *c, *next;

    if (!p)
        return;
    if (p->have_mu)
        pthread_mutex_lock(&p->mu);
    c = p->idle;
    p->idle = NULL;
    for (struct db_conn *k = c; k; k = k->next)
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
    struct db_conn *c = NULL;
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
    p->base.drv = &db_postgres_driver;
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

const struct db_driver db_postgres_driver = {
    .name = "postgres",
    .dialect = DIALECT_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .release = pg_release,
    .exec = pg_exec,
    .step = pg_step,
    .finish = pg_finish,
    .changes = pg_changes,
    .bytes = pg_bytes,
    .i64 = pg_i64,
    .script = pg_script,
};
