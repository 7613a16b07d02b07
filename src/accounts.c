/*
 * accounts.c - the account operations of SPEC §12 over db.h, password.h and
 * auth.h. See accounts.h for the rules; the comments here say why.
 */
#include "accounts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "password.h"
#include "util/digest.h"
#include "util/log.h"
#include "util/utf8.h"

struct accounts {
    struct password_cost cost;
    atomic_long in_flight;
    long max_in_flight;
    long access_ttl, refresh_ttl; /* seconds */
    /* a hash of nothing anyone knows, verified for unknown e-mails so that they cost
     * what known ones do; made on first use (start-up stays quick) */
    pthread_mutex_t mu;
    char *decoy;
};

enum err accounts_open(const struct config *cfg, struct accounts **out)
{
    struct accounts *acc = calloc(1, sizeof(*acc));

    if (!acc)
        return ERR_NOMEM;
    acc->cost = (struct password_cost){.memory_kib = (uint32_t)cfg->password_memory_kib,
                                       .iterations = (uint32_t)cfg->password_iterations,
                                       .lanes = 1};
    acc->max_in_flight = cfg->password_queue;
    acc->access_ttl = cfg->access_token_ttl;
    acc->refresh_ttl = cfg->refresh_token_ttl;
    pthread_mutex_init(&acc->mu, NULL);
    *out = acc;
    return ERR_OK;
}

void accounts_close(struct accounts *acc)
{
    if (!acc)
        return;
    pthread_mutex_destroy(&acc->mu);
    free(acc->decoy);
    free(acc);
}

bool accounts_admit(struct accounts *acc)
{
    if (atomic_fetch_add(&acc->in_flight, 1) >= acc->max_in_flight) {
        atomic_fetch_sub(&acc->in_flight, 1);
        return false;
    }
    return true;
}

void accounts_release(struct accounts *acc)
{
    atomic_fetch_sub(&acc->in_flight, 1);
}

/* ---- e-mails ---------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (n bytes left), 0 if it is not one or is a
 * control character (C0, DEL, C1). */
static size_t email_char(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len = utf8_next(s, n, &cp);

    return len && cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0) ? len : 0;
}

bool accounts_email_normalise(const char *raw, size_t len, struct arena *a, char **out,
                              const char **why)
{
    const unsigned char *s = (const unsigned char *)raw;
    size_t start = 0, end = len, chars = 0, at = 0, n_at = 0;
    char *e;

    *out = NULL;
    *why = "value is not a valid email address: An email address must have an @-sign.";
    while (start < end && (s[start] == ' ' || s[start] == '\t'))
        start++;
    while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    if (end - start > 4 * ACCOUNTS_EMAIL_MAX) {
        *why = "value is not a valid email address: The email address is too long.";
        return false;
    }
    for (size_t i = start; i < end;) {
        size_t k = email_char(s + i, end - i);
        if (k == 0 || s[i] == ' ') {
            *why = "value is not a valid email address: The email address contains invalid "
                   "characters.";
            return false;
        }
        if (s[i] == '@') {
            n_at++;
            at = i;
        }
        chars++;
        i += k;
    }
    if (chars > ACCOUNTS_EMAIL_MAX) {
        *why = "value is not a valid email address: The email address is too long.";
        return false;
    }
    if (n_at != 1) {
        if (n_at > 1)
            *why = "value is not a valid email address: The email address is not valid. It "
                   "must have exactly one @-sign.";
        return false;
    }
    if (at == start) {
        *why = "value is not a valid email address: There must be something before the "
               "@-sign.";
        return false;
    }
    {
        const unsigned char *dom = s + at + 1, *dot;
        size_t dlen = end - at - 1;
        dot = dlen ? memchr(dom, '.', dlen) : NULL;
        if (!dot || dom[0] == '.' || dom[dlen - 1] == '.') {
            *why = "value is not a valid email address: The part after the @-sign is not valid. "
                   "It should have a period.";
            return false;
        }
    }
    e = arena_strndup(a, raw + start, end - start);
    if (!e) {
        *why = NULL;
        return false;
    }
    for (char *p = e; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    *out = e;
    *why = NULL;
    return true;
}

/* ---- tokens ------------------------------------------------------------------ */

static void hash_text(const char *s, unsigned char out[DB_HASH_LEN])
{
    digest_sha256(s, strlen(s), out);
}

/* The token answer for user_id: refresh (copied), a new access token, the e-mail. */
static enum err answer(struct app *app, const char *user_id, const char *email,
                       const char refresh[ID_TOKEN_LEN], int64_t now_ms, struct arena *a,
                       struct token_answer *out)
{
    struct accounts *acc = app->accounts;
    char *access = NULL;
    enum err rc = auth_mint(app->auth, user_id, now_ms / 1000, acc->access_ttl, &access);

    if (rc != ERR_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    out->access_token = arena_strdup(a, access);
    free(access);
    out->email = email ? arena_strdup(a, email) : NULL;
    if (!out->access_token || (email && !out->email))
        return ERR_NOMEM;
    out->expires_in = acc->access_ttl;
    memcpy(out->refresh_token, refresh, ID_TOKEN_LEN);
    memcpy(out->user_id, user_id, ID_UUID_LEN);
    return ERR_OK;
}

/* A new login (a refresh-token family) for user_id, recorded, and its token answer. */
static enum err issue(struct app *app, const char *user_id, const char *email, int64_t now_ms,
                      struct arena *a, struct token_answer *out)
{
    char refresh[ID_TOKEN_LEN], family[ID_UUID_LEN];
    unsigned char h[DB_HASH_LEN];
    enum err rc;

    if (!id_random_token(refresh) || !id_uuid_new(family))
        return ERR_INTERNAL;
    hash_text(refresh, h);
    rc = db_refresh_add(app->db, h, family, user_id, now_ms,
                        now_ms + app->accounts->refresh_ttl * 1000);
    if (rc == ERR_OK)
        rc = answer(app, user_id, email, refresh, now_ms, a, out);
    explicit_bzero(refresh, sizeof(refresh));
    return rc;
}

/* ---- operations --------------------------------------------------------------- */

enum err accounts_create(struct app *app, const char *email, const char *password,
                         size_t password_len, int64_t now_ms, char id[ID_UUID_LEN])
{
    struct account acct = {.email = (char *)email, .created_at = now_ms};
    enum err rc;

    if (!id_uuid_new(acct.id))
        return ERR_INTERNAL;
    rc = password_hash(&app->accounts->cost, password, password_len, &acct.password_hash);
    if (rc != ERR_OK)
        return rc;
    rc = db_account_create(app->db, &acct);
    free(acct.password_hash);
    if (rc != ERR_OK)
        return rc; /* ERR_CONFLICT: the e-mail is taken */
    log_info("accounts: user %s registered", acct.id);
    memcpy(id, acct.id, ID_UUID_LEN);
    return ERR_OK;
}

enum err accounts_register(struct app *app, const char *email, const char *password,
                           size_t password_len, int64_t now_ms, struct arena *a,
                           struct token_answer *out)
{
    char id[ID_UUID_LEN];
    enum err rc = accounts_create(app, email, password, password_len, now_ms, id);

    if (rc != ERR_OK)
        return rc;
    return issue(app, id, email, now_ms, a, out);
}

/* Verifies password against the decoy hash: what an unknown e-mail costs. */
static void verify_decoy(struct accounts *acc, const char *password, size_t len)
{
    char *decoy;

    pthread_mutex_lock(&acc->mu);
    if (!acc->decoy) {
        unsigned char nobody[32];
        if (id_random(nobody, sizeof(nobody)))
            password_hash(&acc->cost, nobody, sizeof(nobody), &acc->decoy);
    }
    decoy = acc->decoy;
    pthread_mutex_unlock(&acc->mu);
    if (decoy)
        (void)password_verify(decoy, password, len); /* never set again: safe unlocked */
}

enum err accounts_login(struct app *app, const char *email, const char *password,
                        size_t password_len, int64_t now_ms, struct arena *a,
                        struct token_answer *out, int64_t *retry_after)
{
    struct accounts *acc = app->accounts;
    unsigned char eh[DB_HASH_LEN];
    struct account acct;
    int64_t until = 0;
    enum err rc, found;

    *retry_after = 0;
    hash_text(email, eh);
    rc = db_login_locked_until(app->db, eh, now_ms, ACCOUNTS_FAILURE_WINDOW_MS,
                               ACCOUNTS_MAX_FAILURES, &until);
    if (rc != ERR_OK)
        return rc;
    if (until > now_ms) {
        *retry_after = (until - now_ms + 999) / 1000;
        return ERR_RATE_LIMITED;
    }
    found = db_account_by_email(app->db, email, a, &acct);
    if (found != ERR_OK && found != ERR_NOT_FOUND)
        return found;
    if (found == ERR_NOT_FOUND || !acct.password_hash) {
        verify_decoy(acc, password, password_len);
        rc = ERR_UNAUTHORIZED;
    } else {
        rc = password_verify(acct.password_hash, password, password_len);
        if (rc == ERR_INVALID) {
            log_error("accounts: user %s: the stored password hash is unreadable", acct.id);
            rc = ERR_UNAUTHORIZED;
        }
    }
    if (rc == ERR_UNAUTHORIZED) {
        enum err rec = db_login_failed(app->db, eh, now_ms, ACCOUNTS_FAILURE_WINDOW_MS);
        return rec == ERR_OK ? ERR_UNAUTHORIZED : rec;
    }
    if (rc != ERR_OK)
        return rc;
    (void)db_login_cleared(app->db, eh);
    if (password_needs_rehash(acct.password_hash, &acc->cost)) {
        /* the cost was raised since: store the password at today's cost */
        char *h = NULL;
        if (password_hash(&acc->cost, password, password_len, &h) == ERR_OK &&
            db_account_set_password(app->db, acct.id, h) == ERR_OK)
            log_info("accounts: user %s: password re-hashed at the current cost", acct.id);
        free(h);
    }
    (void)db_refresh_prune(app->db, acct.id, now_ms);
    return issue(app, acct.id, acct.email, now_ms, a, out);
}

enum err accounts_refresh(struct app *app, const char *refresh_token, int64_t now_ms,
                          struct arena *a, struct token_answer *out)
{
    struct accounts *acc = app->accounts;
    unsigned char h[DB_HASH_LEN], next_h[DB_HASH_LEN];
    char next[ID_TOKEN_LEN];
    struct refresh_grant g;
    enum err rc;

    if (!id_token_is_wellformed(refresh_token))
        return ERR_UNAUTHORIZED;
    if (!id_random_token(next))
        return ERR_INTERNAL;
    hash_text(refresh_token, h);
    hash_text(next, next_h);
    rc = db_refresh_rotate(app->db, h, next_h, now_ms, now_ms + acc->refresh_ttl * 1000, a, &g);
    if (rc == ERR_CONFLICT) {
        log_warn("accounts: user %s: a spent refresh token was presented again; its login "
                 "(family %s) is revoked",
                 g.user_id, g.family);
        return ERR_UNAUTHORIZED;
    }
    if (rc == ERR_OK)
        rc = answer(app, g.user_id, g.email, next, now_ms, a, out);
    explicit_bzero(next, sizeof(next));
    return rc;
}

enum err accounts_logout(struct app *app, const char *refresh_token)
{
    unsigned char h[DB_HASH_LEN];
    enum err rc;

    if (!id_token_is_wellformed(refresh_token))
        return ERR_OK;
    hash_text(refresh_token, h);
    rc = db_refresh_revoke(app->db, h);
    return rc == ERR_NOT_FOUND ? ERR_OK : rc;
}

/* ERR_OK if password is user_id's; ERR_FORBIDDEN if not or it has none. */
static enum err check_password(struct app *app, const char *user_id, const char *password,
                               size_t len, bool *has_password)
{
    struct arena *a = arena_new();
    struct account acct;
    enum err rc;

    if (!a)
        return ERR_NOMEM;
    rc = db_account_get(app->db, user_id, a, &acct);
    if (rc == ERR_OK) {
        *has_password = acct.password_hash != NULL;
        if (!acct.password_hash)
            rc = ERR_FORBIDDEN;
        else if (!password)
            rc = ERR_VALIDATION;
        else
            rc = password_verify(acct.password_hash, password, len);
        if (rc == ERR_UNAUTHORIZED || rc == ERR_INVALID)
            rc = ERR_FORBIDDEN;
    }
    arena_free(a);
    return rc;
}

enum err accounts_change_password(struct app *app, const char *user_id, const char *current,
                                  size_t current_len, const char *next, size_t next_len)
{
    bool has = false;
    char *h = NULL;
    enum err rc = check_password(app, user_id, current, current_len, &has);

    if (rc == ERR_NOT_FOUND)
        rc = ERR_FORBIDDEN; /* a user known only from outside tokens has no password */
    if (rc != ERR_OK)
        return rc;
    rc = password_hash(&app->accounts->cost, next, next_len, &h);
    if (rc == ERR_OK)
        rc = db_account_set_password(app->db, user_id, h); /* and revokes refresh tokens */
    free(h);
    if (rc == ERR_OK)
        log_info("accounts: user %s changed their password; refresh tokens revoked", user_id);
    return rc;
}

enum err accounts_delete(struct app *app, const char *user_id, const char *password,
                         size_t password_len, bool check, int64_t now_ms, int64_t *n_objects)
{
    bool has = false;
    enum err rc;

    if (check) {
        rc = check_password(app, user_id, password, password_len, &has);
        if (rc == ERR_FORBIDDEN && !has)
            rc = ERR_OK; /* no password to ask for */
        if (rc == ERR_NOT_FOUND)
            rc = ERR_OK; /* known only from outside tokens: the row may not exist yet */
        if (rc != ERR_OK)
            return rc;
    }
    rc = db_account_delete(app->db, user_id, now_ms, n_objects);
    if (rc == ERR_OK)
        log_info("accounts: user %s deleted; %lld objects queued for deletion", user_id,
                 n_objects ? (long long)*n_objects : -1LL);
    return rc;
}
