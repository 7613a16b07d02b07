/*
 * sqlite.c - the SQLite driver (driver.h): connections, prepared statements,
 * parameters, rows.
 *
 * Owns one sqlite3 connection per thread that has touched the database, each with
 * its own lazily prepared statements. Every connection is on a mutex-guarded list
 * in struct db_sqlite; a connection is closed either when its thread exits (the
 * pthread key's destructor takes it off the list first) or by close(), whichever
 * comes first. Thread-safe: a connection is only used by the thread that opened it,
 * so connections are opened NOMUTEX. close() must not race with threads that are
 * still using the database (stop and join them first). This is the only file that
 * includes sqlite3.h.
 */
#include "db/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000
#define WAL_RETRY_MS 10
#define SQLITE_MMAP_BYTES "268435456" /* 256 MiB of address space, not memory */
#define SQLITE_CACHE_KIB "-8192"      /* per connection: 8 MiB */

struct db_sqlite;

/* A thread's connection; cur is the statement being run (exec .. finish). */
struct db_conn {
    struct db_sqlite *owner;
    sqlite3 *db;
    sqlite3_stmt *stmts[SQL_COUNT]; /* prepared on first use */
    sqlite3_stmt *cur;
    bool row_ready;              /* exec stepped onto the first row; step() hands it out */
    struct db_conn *prev, *next; /* owner->conns, under owner->mu */
};

struct db_sqlite {
    struct db base; /* first: struct db * and struct db_sqlite * are interchangeable */
    char *path;
    pthread_key_t key; /* this thread's struct db_conn */
    bool have_key, have_mu;
    pthread_mutex_t mu; /* guards conns */
    struct db_conn *conns;
    atomic_bool no_wal; /* WAL refused once (a filesystem without it): no more waiting */
    int lock_fd;        /* the flock of first_connection; closed after every connection */
};

static struct db_sqlite *from_db(struct db *db)
{
    return (struct db_sqlite *)db;
}

/*
 * Maps a SQLite result code to ours and logs SQLite's message (which names tables
 * and columns, never bound values). Constraint failures are expected outcomes
 * (a duplicate id, an unknown tutorial) and are logged as warnings.
 */
static enum err fail(sqlite3 *db, int src, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
    enum err e;

    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
        e = ERR_UNAVAILABLE;
        break;
    case SQLITE_CONSTRAINT:
        e = src == SQLITE_CONSTRAINT_FOREIGNKEY ? ERR_NOT_FOUND : ERR_CONFLICT;
        break;
    case SQLITE_NOMEM:
        e = ERR_NOMEM;
        break;
    default:
        e = ERR_INTERNAL;
        break;
    }
    if (e == ERR_CONFLICT || e == ERR_NOT_FOUND)
        log_warn("sqlite: %s: %s", what, msg);
    else
        log_error("sqlite: %s: %s (code %d)", what, msg, src);
    return e;
}

static void conn_close(struct db_conn *c)
{
    int src;

    if (!c)
        return;
    for (size_t i = 0; i < SQL_COUNT; i++)
        sqlite3_finalize(c->stmts[i]); /* NULL is a no-op */
    src = sqlite3_close(c->db);        /* NULL is a no-op */
    if (src != SQLITE_OK)
        log_error("sqlite: close: %s", sqlite3_errstr(src));
    free(c);
}

/* The thread that owned c is exiting. */
static void conn_destructor(void *p)
{
    struct db_conn *c = p;
    struct db_sqlite *s = c->owner;

    /* off the list first, so close() can never see it again: no double close */
    pthread_mutex_lock(&s->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

/*
 * Switches the database to WAL (a persistent setting, so usually a no-op). Turning
 * WAL on needs an exclusive lock. While another connection (or process) holds one,
 * SQLite answers SQLITE_BUSY at once, without its busy handler, or it keeps the old mode
 * and names it (seen with two servers creating one database together: the second one
 * then ran in rollback mode, blind to the first's WAL, and applied the migrations
 * again). So both are retried for up to the busy timeout. A database that still refuses
 * WAL (e.g. a filesystem without shared memory) is worth a warning, not a failure, and
 * is not waited for again.
 */
static enum err set_wal(struct db_conn *c)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = WAL_RETRY_MS * 1000000L};
    sqlite3_stmt *st = NULL;
    const unsigned char *mode = NULL;
    enum err rc = ERR_OK;
    int src;

    src = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "journal_mode");
        goto out;
    }
    for (int waited = 0;; waited += WAL_RETRY_MS) {
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            mode = sqlite3_column_text(st, 0);
            /* "delete": the mode it had, kept because another held the file (retried) */
            if (!mode || strcmp((const char *)mode, "delete") != 0)
                break;
        } else if ((src & 0xff) != SQLITE_BUSY) {
            break;
        }
        if (waited >= BUSY_TIMEOUT_MS || atomic_load(&c->owner->no_wal))
            break;
        sqlite3_reset(st);
        nanosleep(&pause, NULL);
    }
    if (src != SQLITE_ROW) {
        rc = fail(c->db, src, "journal_mode");
        goto out;
    }
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        atomic_store(&c->owner->no_wal, true);
        log_warn("sqlite: journal_mode is %s, not wal", mode ? (const char *)mode : "unknown");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static enum err conn_open(struct db_sqlite *s, struct db_conn **out)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    struct db_conn *c = calloc(1, sizeof(*c));
    enum err rc = ERR_NOMEM;
    int src;

    if (!c)
        goto out;
    c->owner = s;
    src = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "open");
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    rc = set_wal(c);
    if (rc != ERR_OK)
        goto out;
    /*
     * WAL with synchronous=NORMAL: a commit is durable against a crash of this
     * process (the WAL is written before COMMIT returns); only a power loss or OS
     * crash can roll back the last few commits, never corrupt the database.
     */
    /*
     * Reads through a shared memory map of the file (no read() and copy per page, one
     * copy of each page for every thread's connection) and a larger page cache for
     * what the map does not hold (the WAL's pages).
     */
    src = sqlite3_exec(c->db,
                       "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                       "PRAGMA mmap_size=" SQLITE_MMAP_BYTES "; PRAGMA cache_size=" SQLITE_CACHE_KIB
                       ";",
                       NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "pragma");
        goto out;
    }
    *out = c;
    c = NULL;
    rc = ERR_OK;
out:
    conn_close(c);
    return rc;
}

/* This thread's connection, opened on first use. */
static enum err conn_get(struct db *db, struct db_conn **out)
{
    struct db_sqlite *s = from_db(db);
    struct db_conn *c = pthread_getspecific(s->key);
    enum err rc = ERR_OK;

    if (c)
        goto out;
    rc = conn_open(s, &c);
    if (rc != ERR_OK)
        goto out;
    if (pthread_setspecific(s->key, c) != 0) {
        log_error("sqlite: cannot store the thread's connection");
        conn_close(c);
        rc = ERR_NOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
out:
    if (rc == ERR_OK)
        *out = c;
    return rc;
}

/* ---- statements -------------------------------------------------------- */

/* Binds args to st by the parameters' names ($1 is args[0]), whatever their order. */
static enum err bind_args(struct db_conn *c, sqlite3_stmt *st, const struct db_arg *args, size_t n)
{
    int count = sqlite3_bind_parameter_count(st);

    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        long k = name && name[0] == '$' ? strtol(name + 1, NULL, 10) : 0;
        const struct db_arg *a;
        int src;

        if (k < 1 || (size_t)k > n) {
            log_error("sqlite: parameter %d has no argument", i);
            return ERR_INTERNAL;
        }
        a = &args[k - 1];
        switch (a->type) {
        case ARG_TEXT:
            src = sqlite3_bind_text(st, i, a->p, -1, SQLITE_STATIC);
            break;
        case ARG_INT:
            src = sqlite3_bind_int64(st, i, a->i);
            break;
        case ARG_BLOB:
            src = sqlite3_bind_blob64(st, i, a->len ? a->p : "", a->len, SQLITE_STATIC);
            break;
        default:
            src = sqlite3_bind_null(st, i);
            break;
        }
        if (src != SQLITE_OK)
            return fail(c->db, src, "bind");
    }
    return ERR_OK;
}

static void sqlite_finish(struct db_conn *c)
{
    if (!c->cur)
        return;
    sqlite3_reset(c->cur);
    sqlite3_clear_bindings(c->cur); /* drops the borrowed strings */
    c->cur = NULL;
    c->row_ready = false;
}

static enum err sqlite_exec(struct db_conn *c, enum sql_query q, const struct db_arg *args,
                            size_t n)
{
    enum err rc;
    int src;

    sqlite_finish(c);
    if (!c->stmts[q]) {
        src = sqlite3_prepare_v3(c->db, sql_text(DIALECT_SQLITE, q), -1, SQLITE_PREPARE_PERSISTENT,
                                 &c->stmts[q], NULL);
        if (src != SQLITE_OK) {
            c->stmts[q] = NULL;
            return fail(c->db, src, "prepare");
        }
    }
    c->cur = c->stmts[q];
    rc = bind_args(c, c->cur, args, n);
    if (rc != ERR_OK)
        return rc;
    src = sqlite3_step(c->cur);
    if (src == SQLITE_ROW)
        c->row_ready = true;
    else if (src != SQLITE_DONE)
        return fail(c->db, src, "run");
    return ERR_OK;
}

static enum err sqlite_step(struct db_conn *c)
{
    int src;

    if (c->row_ready) {
        c->row_ready = false;
        return ERR_OK;
    }
    src = c->cur ? sqlite3_step(c->cur) : SQLITE_DONE;
    if (src == SQLITE_ROW)
        return ERR_OK;
    return src == SQLITE_DONE ? ERR_NOT_FOUND : fail(c->db, src, "read");
}

static int64_t sqlite_changes(struct db_conn *c)
{
    return sqlite3_changes64(c->db);
}

static const void *sqlite_bytes(struct db_conn *c, int col, size_t *len)
{
    const void *p;
    int type = sqlite3_column_type(c->cur, col);

    if (type == SQLITE_NULL)
        return NULL;
    p = type == SQLITE_BLOB ? sqlite3_column_blob(c->cur, col)
                            : (const void *)sqlite3_column_text(c->cur, col);
    *len = (size_t)sqlite3_column_bytes(c->cur, col);
    return p ? p : ""; /* an empty blob */
}

static enum err sqlite_i64(struct db_conn *c, int col, int64_t *out)
{
    if (sqlite3_column_type(c->cur, col) != SQLITE_INTEGER) {
        log_error("sqlite: a stored number is not an integer");
        return ERR_INTERNAL;
    }
    *out = sqlite3_column_int64(c->cur, col);
    return ERR_OK;
}

static enum err sqlite_script(struct db_conn *c, const char *sql)
{
    int src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    return src == SQLITE_OK ? ERR_OK : fail(c->db, src, "migrate");
}

static enum err sqlite_acquire(struct db *db, struct db_conn **out)
{
    return conn_get(db, out);
}

/* Ends the statement, and a transaction an operation left open. */
static void sqlite_release(struct db *db, struct db_conn *c)
{
    (void)db;
    if (!c)
        return;
    sqlite_finish(c);
    if (!sqlite3_get_autocommit(c->db) &&
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        log_error("sqlite: rollback: %s", sqlite3_errmsg(c->db));
}

/* ---- open and close ---------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* mkdir -p of the directory that will hold path. */
static enum err make_parent_dirs(const char *path)
{
    char *p = strdup(path);
    enum err rc = ERR_NOMEM;

    if (!p)
        goto out;
    rc = ERR_OK;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0) {
            int e = errno;
            if (e != EEXIST && !is_dir(p)) {
                log_error("sqlite: cannot create directory %s: %s", p, strerror(e));
                rc = ERR_UNAVAILABLE;
                goto out;
            }
        }
        *s = '/';
    }
out:
    free(p);
    return rc;
}

static void sqlite_close(struct db *db)
{
    struct db_sqlite *s = from_db(db);
    struct db_conn *c, *next;

    if (!s)
        return;
    /* deleting the key first means no destructor can run for it from now on */
    if (s->have_key)
        pthread_key_delete(s->key);
    if (s->have_mu)
        pthread_mutex_lock(&s->mu);
    c = s->conns;
    s->conns = NULL;
    if (s->have_mu)
        pthread_mutex_unlock(&s->mu);
    for (; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    if (s->have_mu)
        pthread_mutex_destroy(&s->mu);
    if (s->lock_fd >= 0) /* only now: a close drops the process's fcntl locks on the file */
        close(s->lock_fd);
    free(s->path);
    free(s);
}

/*
 * The first connection, made under an exclusive flock(2) of the database file, so that
 * servers starting together on a new database do not race while it is created: the
 * first to get the lock turns the empty file into a WAL database (SQLite writes its
 * first page at once), and the others open a WAL database. (Two processes opening an
 * empty file at once could otherwise end up one in WAL and one in rollback mode, each
 * blind to the other: both applied the migrations.) flock is independent of SQLite's
 * own fcntl locks, but closing any descriptor of the file drops those for the whole
 * process: the descriptor stays open (unlocked) until sqlite_close has closed every
 * connection. Where flock is refused, this is an ordinary open.
 */
static enum err first_connection(struct db_sqlite *s, struct db_conn **c)
{
    enum err rc;

    s->lock_fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        log_error("sqlite: cannot open %s: %s", s->path, strerror(errno));
        return ERR_UNAVAILABLE;
    }
    while (flock(s->lock_fd, LOCK_EX) != 0 && errno == EINTR)
        ;
    rc = conn_get(&s->base, c);
    flock(s->lock_fd, LOCK_UN);
    return rc;
}

static enum err sqlite_open(const struct config *cfg, struct db **out)
{
    struct db_sqlite *s = NULL;
    struct db_conn *c;
    enum err rc = ERR_INVALID;

    if (!cfg->sqlite_path || !cfg->sqlite_path[0]) {
        log_error("sqlite: no database path configured");
        goto out;
    }
    if (!sqlite3_threadsafe()) {
        log_error("sqlite: the library was built without thread support");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = make_parent_dirs(cfg->sqlite_path);
    if (rc != ERR_OK)
        goto out;
    rc = ERR_NOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->base.drv = &db_sqlite_driver;
    s->lock_fd = -1;
    s->path = strdup(cfg->sqlite_path);
    if (!s->path)
        goto out;
    rc = ERR_INTERNAL;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto out;
    s->have_mu = true;
    if (pthread_key_create(&s->key, conn_destructor) != 0)
        goto out;
    s->have_key = true;
    /* open this thread's connection now, so a bad path fails at start-up */
    rc = first_connection(s, &c);
    if (rc != ERR_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s)
        sqlite_close(&s->base);
    return rc;
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite",
    .dialect = DIALECT_SQLITE,
    .open = sqlite_open,
    .close = sqlite_close,
    .acquire = sqlite_acquire,
    .release = sqlite_release,
    .exec = sqlite_exec,
    .step = sqlite_step,
    .finish = sqlite_finish,
    .changes = sqlite_changes,
    .bytes = sqlite_bytes,
    .i64 = sqlite_i64,
    .script = sqlite_script,
};
