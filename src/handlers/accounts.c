/*
 * accounts.c - the account routes (SPEC §12): /api/auth/register, login, refresh,
 * logout, password, me. Handlers only: they read and check the body on the HTTP
 * thread; what hashes a password runs on the app's cpu pool (accounts.h), with the
 * connection suspended meanwhile.
 *
 * The web app's session (docs/web.md): /api/auth/session signs in like login but
 * keeps the refresh token in an HttpOnly, SameSite=Strict cookie scoped to
 * /api/auth/session, never in the body; /api/auth/session/refresh rotates it (the
 * same rotation and theft detection as /api/auth/refresh) and answers a new access
 * token; DELETE /api/auth/session revokes its family and clears it. Each of the
 * three needs the X-NovaDraw-Session header and, when the browser names one, this
 * server's own origin (CSRF).
 */
#include "handlers/handlers.h"

#include <string.h>

#include "accounts.h"
#include "app.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timefmt.h"

enum call_kind { CALL_REGISTER, CALL_LOGIN, CALL_PASSWORD, CALL_DELETE, CALL_SESSION };

#define SESSION_COOKIE "novadraw_refresh"
#define SESSION_HEADER "X-NovaDraw-Session"
#define SESSION_ATTRS "; Path=/api/auth/session; HttpOnly; SameSite=Strict"


/* A password operation handed to the cpu pool; lives in the request's arena. */
struct call {
    enum call_kind kind;
    struct request *req;
    struct response *res;
    json_t *doc; /* the body; owned; the strings below are borrowed from it */
    const char *email, *password, *new_password;
    size_t password_len, new_password_len;
};

static enum err token_answer(struct response *res, int status, const struct token_answer *t)
{
    return response_json(res, status,
                         json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?}", "access_token",
                                   t->access_token, "token_type", "bearer", "expires_in",
                                   (json_int_t)t->expires_in, "refresh_token", t->refresh_token,
                                   "user_id", t->user_id, "email", t->email));
}

/* The token answer without its refresh token, which goes into the cookie instead. */
static enum err session_answer(struct request *req, struct response *res,
                               const struct token_answer *t)
{
    bool secure = strncmp(req->app->cfg->public_base_url, "https://", 8) == 0;
    const char *cookie = arena_printf(req->arena, SESSION_COOKIE "=%s; Max-Age=%ld" SESSION_ATTRS
                                      "%s", t->refresh_token, req->app->cfg->refresh_token_ttl,
                                      secure ? "; Secure" : "");
    enum err rc;

    if (!cookie)
        return ERR_NOMEM;
    rc = response_json(res, 200,
                       json_pack("{s:s, s:s, s:I, s:s, s:s?}", "access_token", t->access_token,
                                 "token_type", "bearer", "expires_in", (json_int_t)t->expires_in,
                                 "user_id", t->user_id, "email", t->email));
    if (rc == ERR_OK) {
        response_header(res, "Set-Cookie", cookie);
        response_header(res, "Cache-Control", "no-store");
    }
    return rc;
}

static void session_clear(struct response *res)
{
    response_header(res, "Set-Cookie", SESSION_COOKIE "=; Max-Age=0" SESSION_ATTRS);
    response_header(res, "Cache-Control", "no-store");
}

static enum err success(struct response *res, const char *message)
{
    if (message)
        return response_json(res, 200, json_pack("{s:b, s:s}", "success", 1, "message", message));
    return response_json(res, 200, json_pack("{s:b}", "success", 1));
}

/* The cpu pool: the operation, its answer, and the connection resumed. */
static void run_call(void *arg)
{
    struct call *c = arg;
    struct request *req = c->req;
    struct app *app = req->app;
    struct token_answer t;
    int64_t now = time_now_ms(), retry_after = 0;
    enum err rc = ERR_INTERNAL;

    switch (c->kind) {
    case CALL_REGISTER:
        rc = accounts_register(app, c->email, c->password, c->password_len, now, req->arena, &t);
        if (rc == ERR_CONFLICT)
            request_fail(req, rc, "Email already registered");
        if (rc == ERR_OK)
            rc = token_answer(c->res, 201, &t);
        if (rc == ERR_OK) /* the new account, as its owner reads it */
            response_header(c->res, "Location", "/api/auth/me");
        break;
    case CALL_LOGIN:
    case CALL_SESSION: /* the web app's sign-in: the same check, the cookie answer */
        rc = accounts_login(app, c->email, c->password, c->password_len, now, req->arena, &t,
                            &retry_after);
        if (rc == ERR_UNAUTHORIZED)
            request_fail(req, rc, "Incorrect email or password");
        else if (rc == ERR_RATE_LIMITED)
            request_fail(req, rc, "Too many failed sign-ins for this email; try again later");
        if (rc == ERR_OK)
            rc = c->kind == CALL_SESSION ? session_answer(req, c->res, &t)
                                         : token_answer(c->res, 200, &t);
        break;
    case CALL_PASSWORD:
        rc = accounts_change_password(app, req->user_id, c->password, c->password_len,
                                      c->new_password, c->new_password_len);
        if (rc == ERR_FORBIDDEN)
            request_fail(req, rc, "Incorrect password");
        if (rc == ERR_OK)
            rc = success(c->res, NULL);
        break;
    case CALL_DELETE:
        rc = accounts_delete(app, req->user_id, c->password, c->password_len, true, now, NULL);
        if (rc == ERR_FORBIDDEN)
            request_fail(req, rc, "Incorrect password");
        else if (rc == ERR_VALIDATION)
            request_invalid(req, "body", "password", "Field required", "missing");
        if (rc == ERR_OK)
            rc = success(c->res, "Account deleted");
        break;
    }
    if (rc != ERR_OK) {
        response_error(req, c->res, rc);
        if (rc == ERR_RATE_LIMITED)
            response_header(c->res, "Retry-After", arena_printf(req->arena, "%lld",
                                                                (long long)retry_after));
    }
    json_decref(c->doc);
    accounts_release(app->accounts);
    request_resume(req); /* req and res are not ours after this */
}

/* Hands c to the cpu pool, within the bound on password operations. */
static enum err start_pool(struct call *c)
{
    struct request *req = c->req;
    struct app *app = req->app;
    enum err rc;

    if (!app->cpu)
        return ERR_UNAVAILABLE;
    if (!accounts_admit(app->accounts))
        return ERR_BUSY; /* 503 with Retry-After */
    request_defer(req);
    rc = pool_submit(app->cpu, run_call, c);
    if (rc != ERR_OK) {
        accounts_release(app->accounts);
        return rc;
    }
    return ERR_OK;
}

/* A call owning doc (released here when there is no memory for the call). */
/* The end of a handler: c starts if its body was good (rc), else its body goes. */
static enum err start(struct call *c, enum err rc)
{
    if (rc == ERR_OK)
        rc = start_pool(c);
    if (rc != ERR_OK)
        json_decref(c->doc);
    return rc;
}

static struct call *call_new(struct request *req, struct response *res, enum call_kind kind,
                             json_t *doc)
{
    struct call *c = arena_alloc(req->arena, sizeof(*c));

    if (!c) {
        json_decref(doc);
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->req = req;
    c->res = res;
    c->doc = doc;
    return c;
}

/* Reads and normalises the e-mail member field; a 422 entry at ["body", field]. */
static enum err read_email(struct request *req, json_t *doc, const char *field, const char **out)
{
    const char *raw, *why = NULL;
    char *email;
    size_t len;
    enum err rc;

    /* generous here (characters are counted by the normaliser): the limit is a 422 */
    rc = request_json_text(req, doc, field, true, 1, 4 * ACCOUNTS_EMAIL_MAX, false, &raw, &len);
    if (rc != ERR_OK)
        return rc;
    if (!accounts_email_normalise(raw, len, req->arena, &email, &why)) {
        if (!why)
            return ERR_NOMEM;
        return request_invalid(req, "body", field, why, "value_error");
    }
    *out = email;
    return ERR_OK;
}

/* Registration and sign-in: the e-mail and password of a JSON body (or, to sign in,
 * OAuth2's form: username and password). */
static enum err credentials(struct request *req, struct response *res, enum call_kind kind)
{
    bool session = kind == CALL_SESSION;
    bool form = false;
    json_t *doc = NULL;
    struct call *c;
    enum err rc, rc_pw;

    rc = kind == CALL_LOGIN ? request_json_or_form_body(req, &doc) : request_json_body(req, &doc);
    if (kind == CALL_SESSION)
        kind = CALL_LOGIN; /* read as a sign-in */
    if (rc != ERR_OK)
        return rc;
    c = call_new(req, res, kind, doc);
    if (!c)
        return ERR_NOMEM;
    if (session)
        c->kind = CALL_SESSION;
    form = kind == CALL_LOGIN && !json_object_get(doc, "email") && json_object_get(doc, "username");
    rc = read_email(req, doc, form ? "username" : "email", &c->email);
    /* a new password has the §12 length; a sign-in only needs one that could be */
    rc_pw = request_json_text(req, doc, "password", true,
                              kind == CALL_REGISTER ? ACCOUNTS_PASSWORD_MIN : 1,
                              ACCOUNTS_PASSWORD_MAX, true, &c->password, &c->password_len);
    if (rc == ERR_OK)
        rc = rc_pw;
    return start(c, rc);
}

enum err handle_auth_register(struct request *req, struct response *res)
{
    if (!req->app->cfg->registration_open)
        return request_fail(req, ERR_FORBIDDEN, "Registration is closed");
    return credentials(req, res, CALL_REGISTER);
}

enum err handle_auth_login(struct request *req, struct response *res)
{
    return credentials(req, res, CALL_LOGIN);
}

/* The refresh_token member of the body; a 422 entry if absent or not a string. */
static enum err read_refresh_token(struct request *req, json_t **doc, const char **token)
{
    size_t len;
    enum err rc = request_json_body(req, doc);

    if (rc == ERR_OK)
        rc = request_json_text(req, *doc, "refresh_token", true, 1, 1024, true, token, &len);
    return rc;
}

enum err handle_auth_refresh(struct request *req, struct response *res)
{
    struct token_answer t;
    const char *token = NULL;
    json_t *doc = NULL;
    enum err rc = read_refresh_token(req, &doc, &token);

    if (rc == ERR_OK)
        rc = accounts_refresh(req->app, token, time_now_ms(), req->arena, &t);
    json_decref(doc);
    if (rc == ERR_UNAUTHORIZED)
        return request_fail(req, rc, "Invalid refresh token");
    if (rc != ERR_OK)
        return rc;
    return token_answer(res, 200, &t);
}

enum err handle_auth_logout(struct request *req, struct response *res)
{
    const char *token = NULL;
    json_t *doc = NULL;
    enum err rc = read_refresh_token(req, &doc, &token);

    if (rc == ERR_OK)
        rc = accounts_logout(req->app, token);
    json_decref(doc);
    if (rc != ERR_OK)
        return rc;
    return success(res, NULL);
}

enum err handle_auth_me(struct request *req, struct response *res)
{
    struct account acct;
    char created[TIMEFMT_ISO_LEN];
    enum err rc = db_account_get(req->app->db, req->user_id, req->arena, &acct);

    if (rc != ERR_OK)
        return rc == ERR_NOT_FOUND ? request_fail(req, ERR_UNAUTHORIZED,
                                                  "Could not validate credentials")
                                   : rc;
    timefmt_iso(acct.created_at, created);
    return response_json(res, 200,
                         json_pack("{s:s, s:s?, s:s}", "user_id", acct.id, "email", acct.email,
                                   "created_at", created));
}

enum err handle_auth_password(struct request *req, struct response *res)
{
    json_t *doc = NULL;
    struct call *c;
    enum err rc, rc_new;

    rc = request_json_body(req, &doc);
    if (rc != ERR_OK)
        return rc;
    c = call_new(req, res, CALL_PASSWORD, doc);
    if (!c)
        return ERR_NOMEM;
    rc = request_json_text(req, doc, "current_password", true, 1, ACCOUNTS_PASSWORD_MAX, true,
                           &c->password, &c->password_len);
    rc_new = request_json_text(req, doc, "new_password", true, ACCOUNTS_PASSWORD_MIN,
                               ACCOUNTS_PASSWORD_MAX, true, &c->new_password,
                               &c->new_password_len);
    if (rc == ERR_OK)
        rc = rc_new;
    return start(c, rc);
}

enum err handle_auth_delete(struct request *req, struct response *res)
{
    json_t *doc = NULL;
    struct call *c;
    enum err rc = ERR_OK;

    /* an account without a password (known from outside tokens) sends no body */
    if (req->body_len > 0)
        rc = request_json_body(req, &doc);
    if (rc != ERR_OK)
        return rc;
    c = call_new(req, res, CALL_DELETE, doc);
    if (!c)
        return ERR_NOMEM;
    if (doc)
        rc = request_json_text(req, doc, "password", false, 1, ACCOUNTS_PASSWORD_MAX, true,
                               &c->password, &c->password_len);
    return start(c, rc);
}

/* True when origin (an Origin header) is this server's: PUBLIC_BASE_URL's, or the
 * scheme and Host the request came with. */
static bool own_origin(struct request *req, const char *origin)
{
    const char *base = req->app->cfg->public_base_url;
    const char *host = request_header(req, "Host");
    size_t n = strcspn(base + (strncmp(base, "https://", 8) == 0 ? 8 : 7), "/") +
               (strncmp(base, "https://", 8) == 0 ? 8 : 7);

    if (strlen(origin) == n && strncmp(origin, base, n) == 0)
        return true;
    if (!host || !*host)
        return false;
    if (strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0)
        return true;
    return strncmp(origin, "https://", 8) == 0 && strcmp(origin + 8, host) == 0;
}

/* CSRF: a cross-site form, link or image cannot send a custom header, and a script
 * of another origin would need a CORS preflight that is never granted for it; a
 * browser that says where the request came from must name this origin. */
static enum err session_guard(struct request *req)
{
    const char *h = request_header(req, SESSION_HEADER);
    const char *origin = request_header(req, "Origin");
    const char *site = request_header(req, "Sec-Fetch-Site");

    if (!h || strcmp(h, "1") != 0)
        return request_fail(req, ERR_FORBIDDEN, "Missing " SESSION_HEADER " header");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return request_fail(req, ERR_FORBIDDEN, "Cross-site request refused");
    if (origin && !own_origin(req, origin))
        return request_fail(req, ERR_FORBIDDEN, "Cross-site request refused");
    return ERR_OK;
}

/* The session cookie's value from the Cookie header, in the arena; NULL if absent. */
static const char *session_cookie(struct request *req)
{
    const char *h = request_header(req, "Cookie");
    const size_t name_len = sizeof(SESSION_COOKIE) - 1;

    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (strncmp(p, SESSION_COOKIE "=", name_len + 1) == 0) {
            const char *v = p + name_len + 1;
            size_t n = strcspn(v, "; \t");
            return n > 0 && n <= 1024 ? arena_strndup(req->arena, v, n) : NULL;
        }
        p += strcspn(p, ";");
    }
    return NULL;
}

enum err handle_auth_session(struct request *req, struct response *res)
{
    enum err rc = session_guard(req);

    if (rc != ERR_OK)
        return rc;
    return credentials(req, res, CALL_SESSION);
}

enum err handle_auth_session_refresh(struct request *req, struct response *res)
{
    struct token_answer t;
    const char *token;
    enum err rc = session_guard(req);

    if (rc != ERR_OK)
        return rc;
    token = session_cookie(req);
    rc = token ? accounts_refresh(req->app, token, time_now_ms(), req->arena, &t)
               : ERR_UNAUTHORIZED;
    if (rc == ERR_UNAUTHORIZED) {
        rc = request_fail(req, rc, "Not signed in");
        response_error(req, res, rc);
        session_clear(res);
        return ERR_OK;
    }
    if (rc != ERR_OK)
        return rc;
    return session_answer(req, res, &t);
}

enum err handle_auth_session_delete(struct request *req, struct response *res)
{
    const char *token;
    enum err rc = session_guard(req);

    if (rc != ERR_OK)
        return rc;
    token = session_cookie(req);
    if (token) {
        rc = accounts_logout(req->app, token);
        if (rc != ERR_OK)
            return rc;
    }
    rc = success(res, NULL);
    if (rc == ERR_OK)
        session_clear(res);
    return rc;
}
