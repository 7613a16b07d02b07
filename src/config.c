/*
 * config.c - the one table of configuration variables, its loader, the start-up
 * notices (settings that load but probably do not mean what was meant) and the .env
 * parser. Loading happens once at start-up; afterwards struct config is read-only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/cors.h" /* pure: the origin syntax CORS_ORIGINS is checked against */

enum var_type { V_STR, V_LONG, V_BYTES, V_CHOICE };

/* IMAGE_EDITOR's values; EDITOR holding one of them earns a notice (SPEC §16) */
#define EDITOR_CHOICES "auto|local|gemini"

#define V_SECRET 1u /* never print the value */

struct var {
    const char *name;
    enum var_type type;
    size_t offset;
    const char *def; /* NULL: unset by default */
    long long min, max;
    const char *choices; /* V_CHOICE: '|'-separated */
    unsigned flags;
    const char *help;
};

#define F(field) offsetof(struct config, field)
#define MIB (1024LL * 1024)

static const struct var vars[] = {
    {"HOST", V_STR, F(host), "127.0.0.1", 0, 0, NULL, 0, "listen address"},
    {"PORT", V_LONG, F(port), "8000", 1, 65535, NULL, 0, "listen port"},
    {"PUBLIC_BASE_URL", V_STR, F(public_base_url), NULL, 0, 0, NULL, 0,
     "how clients reach this server (default http://HOST:PORT)"},
    {"DATA_DIR", V_STR, F(data_dir), "./data", 0, 0, NULL, 0,
     "embedded database, local media, generated secret"},
    {"HTTP_THREADS", V_LONG, F(http_threads), "0", 0, 256, NULL, 0,
     "HTTP worker threads (0 = 2 per core)"},
    {"HTTP_TIMEOUT", V_LONG, F(http_timeout), "30", 1, 3600, NULL, 0,
     "seconds a connection may stay idle or trickle its request before it is closed"},
    {"HTTP_MAX_CONNECTIONS", V_LONG, F(http_max_connections), "2048", 1, 100000, NULL, 0,
     "open connections at most; more are refused at accept"},
    {"HTTP_MAX_CONNECTIONS_PER_IP", V_LONG, F(http_max_connections_per_ip), "0", 0, 100000,
     NULL, 0, "open connections at most from one client address (0 = no cap; behind a proxy "
              "every client has the proxy's address)"},
    {"HTTP_BODY_BUDGET", V_BYTES, F(http_body_budget), "256MiB", MIB, 64 * 1024 * MIB, NULL, 0,
     "request bodies held in memory at once; past it uploads get 503 + Retry-After"},
    {"BODY_CACHE", V_BYTES, F(body_cache), "64MiB", 0, 4096 * MIB, NULL, 0,
     "memory for gallery pages and drawings kept by their ETag, answered again without "
     "the database (0: off)"},
    {"LOG_LEVEL", V_CHOICE, F(log_level), "info", 0, 0, "debug|info|warn|error", 0,
     "least severe log level printed"},
    {"CORS_ORIGINS", V_STR, F(cors_origins), NULL, 0, 0, NULL, 0,
     "browser origins allowed to call the API: scheme://host[:port],... or * (default none)"},
    {"LOG_FORMAT", V_CHOICE, F(log_format), "text", 0, 0, "text|json", 0,
     "log lines as text, or one JSON object per line (ts, level, msg, fields)"},
    {"ACCESS_LOG", V_CHOICE, F(access_log), "on", 0, 0, "on|off", 0,
     "one log line per request (method, route, status, bytes, ms, request id, user)"},
    {"METRICS_TOKEN", V_STR, F(metrics_token), NULL, 0, 0, NULL, V_SECRET,
     "if set, GET /metrics needs it as a bearer token (default: open)"},
    {"SHUTDOWN_TIMEOUT", V_LONG, F(shutdown_timeout), "30", 0, 3600, NULL, 0,
     "seconds requests in flight get to finish after SIGTERM/SIGINT"},
    {"DATABASE_URL", V_STR, F(database_url), NULL, 0, 0, NULL, V_SECRET,
     "sqlite:///path.db or postgresql://user:pass@host:port/db (default SQLite in DATA_DIR)"},
    {"SPACES_KEY", V_STR, F(spaces_key), NULL, 0, 0, NULL, V_SECRET, "S3 access key"},
    {"SPACES_SECRET", V_STR, F(spaces_secret), NULL, 0, 0, NULL, V_SECRET, "S3 secret key"},
    {"STORAGE_ENDPOINT_URL", V_STR, F(storage_endpoint_url), NULL, 0, 0, NULL, 0,
     "S3 endpoint, e.g. https://nyc3.digitaloceanspaces.com (unset = local storage)"},
    {"SPACES_BUCKET", V_STR, F(spaces_bucket), "novadraw", 0, 0, NULL, 0, "bucket name"},
    {"SPACES_REGION", V_STR, F(spaces_region), NULL, 0, 0, NULL, 0,
     "SigV4 region (default from the endpoint host, else us-east-1)"},
    {"SPACES_PUBLIC_URL", V_STR, F(spaces_public_url), NULL, 0, 0, NULL, 0,
     "base of public object URLs (default STORAGE_ENDPOINT_URL/SPACES_BUCKET)"},
    {"STORAGE_ACL", V_CHOICE, F(storage_acl), "public-read", 0, 0, "public-read|private", 0,
     "object ACL; private serves signed, expiring URLs"},
    {"SIGNED_URL_TTL", V_LONG, F(signed_url_ttl), "3600", 1, 604800, NULL, 0,
     "lifetime of signed URLs, seconds"},
    {"JWT_SECRET", V_STR, F(jwt_secret), NULL, 0, 0, NULL, V_SECRET,
     "HS256 secret (default: generated into DATA_DIR/jwt_secret)"},
    {"JWT_ALGORITHM", V_CHOICE, F(jwt_algorithm), "HS256", 0, 0, "HS256", 0,
     "access-token algorithm"},
    {"ACCESS_TOKEN_TTL", V_LONG, F(access_token_ttl), "900", 60, 86400, NULL, 0,
     "lifetime of access tokens issued by the auth routes, seconds"},
    {"REFRESH_TOKEN_TTL", V_LONG, F(refresh_token_ttl), "2592000", 300, 31536000, NULL, 0,
     "lifetime of refresh tokens, seconds (default 30 days)"},
    {"REGISTRATION", V_CHOICE, F(registration), "open", 0, 0, "open|closed", 0,
     "closed: POST /api/auth/register answers 403; `novadraw user add` still works"},
    {"PASSWORD_MEMORY_KIB", V_LONG, F(password_memory_kib), "19456", 19456, 4194304, NULL, 0,
     "argon2id memory cost, KiB (OWASP's minimum: 19456 = 19 MiB)"},
    {"PASSWORD_ITERATIONS", V_LONG, F(password_iterations), "2", 2, 100, NULL, 0,
     "argon2id passes"},
    {"PASSWORD_QUEUE", V_LONG, F(password_queue), "64", 1, 100000, NULL, 0,
     "password hashes waiting or running before sign-ins get 503 + Retry-After"},
    {"IMAGE_EDITOR", V_CHOICE, F(editor), "auto", 0, 0, EDITOR_CHOICES, 0,
     "image editor (auto = gemini if GEMINI_API_KEY is set); EDITOR is not read"},
    {"GEMINI_API_KEY", V_STR, F(gemini_api_key), NULL, 0, 0, NULL, V_SECRET, "Gemini API key"},
    {"GEMINI_MODEL", V_STR, F(gemini_model), "gemini-2.5-flash-image", 0, 0, NULL, 0,
     "Gemini image model"},
    {"GEMINI_BASE_URL", V_STR, F(gemini_base_url), "https://generativelanguage.googleapis.com",
     0, 0, NULL, 0, "Gemini API base URL"},
    {"GEMINI_TRANSCRIBE_MODEL", V_STR, F(gemini_transcribe_model), "gemini-2.5-flash", 0, 0,
     NULL, 0, "Gemini model that transcribes voice prompts (TRANSCRIBER=gemini)"},
    {"GEMINI_TIMEOUT", V_LONG, F(gemini_timeout), "60", 1, 600, NULL, 0,
     "seconds one Gemini call may take (a timeout answers 504)"},
    {"GEMINI_RETRIES", V_LONG, F(gemini_retries), "2", 0, 10, NULL, 0,
     "retries of a Gemini call that got 429/500/503/504 or no answer"},
    {"JOB_LEASE_SECONDS", V_LONG, F(job_lease_seconds), "60", 1, 3600, NULL, 0,
     "how long a server holds a background job before another may take it over"},
    {"EDIT_WORKERS", V_LONG, F(edit_workers), "0", 0, 256, NULL, 0,
     "threads for image work (0 = one per core)"},
    {"EDIT_QUEUE", V_LONG, F(edit_queue), "4096", 1, 1000000, NULL, 0,
     "edits in flight before new ones get 503 + Retry-After"},
    {"RATE_LIMIT_EDITS", V_LONG, F(rate_limit_edits), "20", 0, 1000000, NULL, 0,
     "edits per user per minute over all edit routes, shared by every server (0 = off)"},
    {"TRANSCRIBER", V_CHOICE, F(transcriber), "auto", 0, 0, "auto|local|gemini|openai", 0,
     "speech-to-text (auto = gemini if GEMINI_API_KEY is set, else local)"},
    {"SPEECH_MODEL_DIR", V_STR, F(speech_model_dir), NULL, 0, 0, NULL, 0,
     "pocketsphinx model folder (default: the pocketsphinx-en-us package's)"},
    {"TRANSCRIBE_URL", V_STR, F(transcribe_url), NULL, 0, 0, NULL, 0,
     "OpenAI-compatible /v1/audio/transcriptions base URL"},
    {"TRANSCRIBE_API_KEY", V_STR, F(transcribe_api_key), NULL, 0, 0, NULL, V_SECRET,
     "key for TRANSCRIBE_URL"},
    {"TRANSCRIBE_MODEL", V_STR, F(transcribe_model), "whisper-1", 0, 0, NULL, 0,
     "model name sent to TRANSCRIBE_URL"},
    {"MAX_UPLOAD_BYTES", V_BYTES, F(max_upload_bytes), "10MiB", 1024, 1024 * MIB, NULL, 0,
     "largest image upload"},
    {"MAX_IMAGE_SIDE", V_LONG, F(max_image_side), "2048", 16, 16384, NULL, 0,
     "images are scaled to fit this many pixels a side"},
    {"MAX_IMAGE_PIXELS", V_BYTES, F(max_image_pixels), "40000000", 256, 1000000000LL, NULL, 0,
     "images with more pixels are refused before decoding"},
    {"MAX_AUDIO_BYTES", V_BYTES, F(max_audio_bytes), "10MiB", 1024, 1024 * MIB, NULL, 0,
     "largest audio upload"},
    {"MAX_AUDIO_SECONDS", V_LONG, F(max_audio_seconds), "60", 1, 3600, NULL, 0,
     "longest audio prompt"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static void report(FILE *errs, const struct var *v, const char *val, const char *why)
{
    if (v->flags & V_SECRET)
        fprintf(errs, "config: %s: %s\n", v->name, why);
    else
        fprintf(errs, "config: %s: %s (got '%s')\n", v->name, why, val);
}

/* Strict integer: optional sign, digits, nothing else. */
static bool parse_ll(const char *s, long long *out)
{
    char *end;
    long long x;

    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = x;
    return true;
}

/* A byte count: digits with an optional K/KB/KiB, M/MB/MiB, G/GB/GiB suffix (binary). */
static bool parse_bytes(const char *s, long long *out)
{
    char *end;
    long long x, mul = 1;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno)
        return false;
    if (*end) {
        char unit = (char)toupper((unsigned char)*end);
        const char *rest = end + 1;
        if (unit == 'K')
            mul = 1024;
        else if (unit == 'M')
            mul = 1024 * 1024;
        else if (unit == 'G')
            mul = 1024LL * 1024 * 1024;
        else
            return false;
        if (strcasecmp(rest, "") != 0 && strcasecmp(rest, "b") != 0 && strcasecmp(rest, "ib") != 0)
            return false;
    }
    if (x > INT64_MAX / mul)
        return false;
    *out = x * mul;
    return true;
}

static bool choice_ok(const char *choices, const char *val)
{
    size_t n = strlen(val);
    const char *p = choices;

    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, val, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static int load_var(struct config *cfg, const struct var *v, const char *val, FILE *errs)
{
    char *base = (char *)cfg + v->offset;
    long long x;

    switch (v->type) {
    case V_STR:
    case V_CHOICE:
        if (v->type == V_CHOICE && !choice_ok(v->choices, val)) {
            char why[160];
            snprintf(why, sizeof(why), "must be one of %s", v->choices);
            report(errs, v, val, why);
            return 1;
        }
        *(char **)base = strdup(val);
        return *(char **)base ? 0 : 1;
    case V_LONG:
    case V_BYTES:
        if (!(v->type == V_LONG ? parse_ll(val, &x) : parse_bytes(val, &x)) || x < v->min ||
            x > v->max) {
            char why[160];
            snprintf(why, sizeof(why), "must be %s from %lld to %lld",
                     v->type == V_LONG ? "an integer" : "a byte count", v->min, v->max);
            report(errs, v, val, why);
            return 1;
        }
        if (v->type == V_LONG)
            *(long *)base = (long)x;
        else
            *(int64_t *)base = (int64_t)x;
        return 0;
    }
    return 1;
}

static bool has(const char *s)
{
    return s && *s;
}

static char *xstrdup_printf(const char *fmt, const char *a, long b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p)
        snprintf(p, (size_t)n + 1, fmt, a, b);
    return p;
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

static void strip_trailing_slashes(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

static bool is_http_url(const char *s)
{
    return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strlen(s) > (s[4] == 's' ? 8u : 7u);
}

/* Checks that need more than one variable, and derived fields. */
static int derive(struct config *cfg, FILE *errs)
{
    int bad = 0;

    if (!has(cfg->host)) {
        fprintf(errs, "config: HOST: must not be empty\n");
        bad++;
    }
    if (!has(cfg->data_dir)) {
        fprintf(errs, "config: DATA_DIR: must not be empty\n");
        bad++;
    }
    cfg->public_base_url_derived = !cfg->public_base_url;
    if (!cfg->public_base_url && has(cfg->host))
        cfg->public_base_url = xstrdup_printf(strchr(cfg->host, ':') ? "http://[%s]:%ld"
                                                                       : "http://%s:%ld",
                                              cfg->host, cfg->port);
    else if (cfg->public_base_url && !is_http_url(cfg->public_base_url)) {
        fprintf(errs, "config: PUBLIC_BASE_URL: must be an http:// or https:// URL (got '%s')\n",
                cfg->public_base_url);
        bad++;
    }
    strip_trailing_slashes(cfg->public_base_url);
    {
        struct cors *c = NULL;
        const char *entry = NULL;
        size_t len = 0;
        if (cors_parse(cfg->cors_origins, &c, &entry, &len) != 0) {
            char shown[201]; /* the entry on one line: control characters as '?' */
            size_t n = len < sizeof(shown) - 1 ? len : sizeof(shown) - 1;
            for (size_t i = 0; i < n; i++)
                shown[i] = (unsigned char)entry[i] < 0x20 || entry[i] == 0x7f ? '?' : entry[i];
            shown[n] = '\0';
            fprintf(errs, "config: CORS_ORIGINS: each entry must be an origin "
                          "scheme://host[:port] (no path) or * (got '%s')\n",
                    shown);
            bad++;
        }
        cors_free(c);
    }
    cfg->registration_open = !cfg->registration || strcmp(cfg->registration, "open") == 0;

    /* database */
    if (!has(cfg->database_url)) {
        cfg->db_kind = DB_SQLITE;
        cfg->sqlite_path = has(cfg->data_dir) ? path_join(cfg->data_dir, "novadraw.db") : NULL;
    } else if (strncmp(cfg->database_url, "sqlite:///", 10) == 0 &&
               cfg->database_url[10] != '\0') {
        /* sqlite:///relative.db and sqlite:////abs/path.db, as SQLAlchemy spells them */
        cfg->db_kind = DB_SQLITE;
        cfg->sqlite_path = strdup(cfg->database_url + 10);
    } else if (strncmp(cfg->database_url, "postgresql://", 13) == 0 ||
               strncmp(cfg->database_url, "postgres://", 11) == 0) {
        cfg->db_kind = DB_POSTGRES;
    } else {
        fprintf(errs, "config: DATABASE_URL: must start with sqlite:/// or postgresql://\n");
        bad++;
    }

    /* storage: all three S3 variables, or none */
    {
        int n = has(cfg->spaces_key) + has(cfg->spaces_secret) + has(cfg->storage_endpoint_url);
        if (n == 0) {
            cfg->storage_kind = STORAGE_LOCAL;
        } else if (n < 3) {
            fprintf(errs, "config: %s: S3 storage needs SPACES_KEY, SPACES_SECRET and "
                          "STORAGE_ENDPOINT_URL together\n",
                    !has(cfg->spaces_key)      ? "SPACES_KEY"
                    : !has(cfg->spaces_secret) ? "SPACES_SECRET"
                                               : "STORAGE_ENDPOINT_URL");
            bad++;
        } else if (!is_http_url(cfg->storage_endpoint_url)) {
            fprintf(errs, "config: STORAGE_ENDPOINT_URL: must be an http:// or https:// URL "
                          "(got '%s')\n",
                    cfg->storage_endpoint_url);
            bad++;
        } else {
            cfg->storage_kind = STORAGE_S3;
        }
        strip_trailing_slashes(cfg->storage_endpoint_url);
        strip_trailing_slashes(cfg->spaces_public_url);
        if (cfg->spaces_public_url && !is_http_url(cfg->spaces_public_url)) {
            fprintf(errs, "config: SPACES_PUBLIC_URL: must be an http:// or https:// URL "
                          "(got '%s')\n",
                    cfg->spaces_public_url);
            bad++;
        }
    }

    if (cfg->jwt_secret && strlen(cfg->jwt_secret) < 16) {
        fprintf(errs, "config: JWT_SECRET: must be at least 16 characters\n");
        bad++;
    }

    if (strcmp(cfg->editor, "gemini") == 0 && !has(cfg->gemini_api_key)) {
        fprintf(errs, "config: IMAGE_EDITOR: gemini needs GEMINI_API_KEY\n");
        bad++;
    }
    if (strcmp(cfg->transcriber, "gemini") == 0 && !has(cfg->gemini_api_key)) {
        fprintf(errs, "config: TRANSCRIBER: gemini needs GEMINI_API_KEY\n");
        bad++;
    }
    if (strcmp(cfg->transcriber, "openai") == 0 && !has(cfg->transcribe_url)) {
        fprintf(errs, "config: TRANSCRIBER: openai needs TRANSCRIBE_URL\n");
        bad++;
    }
    if (!is_http_url(cfg->gemini_base_url)) {
        fprintf(errs, "config: GEMINI_BASE_URL: must be an http:// or https:// URL (got '%s')\n",
                cfg->gemini_base_url);
        bad++;
    }
    strip_trailing_slashes(cfg->gemini_base_url);
    if (cfg->transcribe_url && !is_http_url(cfg->transcribe_url)) {
        fprintf(errs, "config: TRANSCRIBE_URL: must be an http:// or https:// URL (got '%s')\n",
                cfg->transcribe_url);
        bad++;
    }
    strip_trailing_slashes(cfg->transcribe_url);
    return bad;
}

int config_load(struct config *cfg, config_get_fn get, void *ctx, FILE *errs)
{
    int bad = 0;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NVARS; i++) {
        const struct var *v = &vars[i];
        const char *val = get(ctx, v->name);
        /* an empty value means "unset", as in most .env loaders */
        if (val && *val)
            bad += load_var(cfg, v, val, errs);
        else if (v->def)
            bad += load_var(cfg, v, v->def, errs);
    }
    /* EDITOR is the shell's text editor (vim, nano, ...): never read as a setting,
     * only remembered for a notice when it looks meant for us */
    {
        const char *image = get(ctx, "IMAGE_EDITOR"), *shell = get(ctx, "EDITOR");
        cfg->editor_set = has(image);
        if (has(shell) && choice_ok(EDITOR_CHOICES, shell)) {
            cfg->ignored_editor = strdup(shell);
            if (!cfg->ignored_editor)
                bad++;
        }
    }
    if (bad == 0)
        bad += derive(cfg, errs);
    return bad;
}

bool config_host_is_wildcard(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    char inner[INET6_ADDRSTRLEN];
    size_t n = host ? strlen(host) : 0;

    if (n == 0)
        return false;
    if (inet_aton(host, &a4) == 1) /* what getaddrinfo() accepts, "0" included */
        return a4.s_addr == 0;
    if (host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(inner)) {
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        host = inner;
    }
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

/* emit()s one formatted line; false if it could not be built */
static bool notice(config_notice_fn emit, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool notice(config_notice_fn emit, void *ctx, const char *fmt, ...)
{
    va_list ap;
    char *line = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    emit(ctx, line);
    free(line);
    return true;
}

int config_notices(const struct config *cfg, bool serving, config_notice_fn emit, void *ctx)
{
    int n = 0;

    if (cfg->ignored_editor) {
        if (cfg->editor_set)
            n += notice(emit, ctx,
                        "config: EDITOR is ignored; IMAGE_EDITOR=%s chooses the image editor",
                        cfg->editor);
        else
            n += notice(emit, ctx,
                        "config: EDITOR is ignored; set IMAGE_EDITOR=%s to choose the image "
                        "editor",
                        cfg->ignored_editor);
    }
    if (serving && cfg->public_base_url_derived && config_host_is_wildcard(cfg->host))
        n += notice(emit, ctx,
                    "config: HOST=%s without PUBLIC_BASE_URL: local media URLs (and share "
                    "links) start with %s, which other machines cannot reach; set "
                    "PUBLIC_BASE_URL to the address clients use, e.g. "
                    "PUBLIC_BASE_URL=http://192.0.2.10:%ld",
                    cfg->host, cfg->public_base_url, cfg->port);
    return n;
}

void config_print_help(FILE *out)
{
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "  %-22s %s [default: %s]\n", vars[i].name, vars[i].help,
                vars[i].def ? vars[i].def : "unset");
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NVARS; i++) {
        if (vars[i].type == V_STR || vars[i].type == V_CHOICE) {
            char **p = (char **)((char *)cfg + vars[i].offset);
            free(*p);
            *p = NULL;
        }
    }
    free(cfg->sqlite_path);
    cfg->sqlite_path = NULL;
    free(cfg->ignored_editor);
    cfg->ignored_editor = NULL;
}

/* ---- .env ---------------------------------------------------------------- */

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int config_parse_dotenv(const char *text, void (*set)(void *ctx, const char *k, const char *v),
                        void *ctx)
{
    const char *p = text;
    int lineno = 0;
    size_t cap = strlen(text) + 1;
    char *key = malloc(cap), *val = malloc(cap);
    int rc = 0;

    if (!key || !val) {
        rc = -1;
        goto out;
    }
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *q = skip_blank(p);
        size_t kn = 0, vn = 0;

        lineno++;
        if (q >= end || *q == '#' || *q == '\r')
            goto next;
        if (strncmp(q, "export ", 7) == 0)
            q = skip_blank(q + 7);
        while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
            key[kn++] = *q++;
        key[kn] = '\0';
        q = skip_blank(q);
        if (kn == 0 || isdigit((unsigned char)key[0]) || q >= end || *q != '=') {
            rc = lineno;
            goto out;
        }
        q = skip_blank(q + 1);
        if (*q == '"' || *q == '\'') {
            char quote = *q++;
            while (q < end && *q != quote) {
                if (quote == '"' && *q == '\\' && q + 1 < end) {
                    q++;
                    val[vn++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
                    q++;
                } else {
                    val[vn++] = *q++;
                }
            }
            if (q >= end) {
                rc = lineno; /* unterminated quote */
                goto out;
            }
            q = skip_blank(q + 1);
            if (q < end && *q != '#' && *q != '\r') {
                rc = lineno;
                goto out;
            }
        } else {
            const char *s = q;
            while (q < end && *q != '\r' && !(*q == '#' && (q == s || q[-1] == ' ' || q[-1] == '\t')))
                val[vn++] = *q++;
            while (vn > 0 && (val[vn - 1] == ' ' || val[vn - 1] == '\t'))
                vn--;
        }
        val[vn] = '\0';
        set(ctx, key, val);
    next:
        p = eol ? eol + 1 : end;
    }
out:
    free(key);
    free(val);
    return rc;
}

struct config_env {
    size_t n, cap;
    char **keys, **vals;
};

static void env_set(void *ctx, const char *k, const char *v)
{
    struct config_env *env = ctx;

    for (size_t i = 0; i < env->n; i++) {
        if (strcmp(env->keys[i], k) == 0) {
            char *nv = strdup(v);
            if (nv) {
                free(env->vals[i]);
                env->vals[i] = nv;
            }
            return;
        }
    }
    if (env->n == env->cap) {
        size_t ncap = env->cap ? env->cap * 2 : 16;
        char **nk = realloc(env->keys, ncap * sizeof(*nk));
        if (!nk)
            return;
        env->keys = nk;
        char **nv = realloc(env->vals, ncap * sizeof(*nv));
        if (!nv)
            return;
        env->vals = nv;
        env->cap = ncap;
    }
    env->keys[env->n] = strdup(k);
    env->vals[env->n] = strdup(v);
    if (!env->keys[env->n] || !env->vals[env->n]) {
        free(env->keys[env->n]);
        free(env->vals[env->n]);
        return;
    }
    env->n++;
}

struct config_env *config_env_open(const char *dotenv_path, FILE *errs)
{
    struct config_env *env = calloc(1, sizeof(*env));
    FILE *f = NULL;
    char *text = NULL;
    size_t len = 0;

    if (!env)
        return NULL;
    if (!dotenv_path)
        return env;
    f = fopen(dotenv_path, "r");
    if (!f)
        return env; /* no .env: the environment alone */
    {
        FILE *mem = open_memstream(&text, &len);
        char chunk[4096];
        size_t k;
        if (!mem)
            goto fail;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fwrite(chunk, 1, k, mem);
        fclose(mem);
    }
    fclose(f);
    f = NULL;
    if (!text || memchr(text, '\0', len)) {
        fprintf(errs, "config: %s: not a text file\n", dotenv_path);
        goto fail;
    }
    {
        int line = config_parse_dotenv(text, env_set, env);
        if (line != 0) {
            fprintf(errs, "config: %s: line %d is not KEY=VALUE\n", dotenv_path, line);
            goto fail;
        }
    }
    free(text);
    return env;
fail:
    if (f)
        fclose(f);
    free(text);
    config_env_close(env);
    return NULL;
}

const char *config_env_get(void *ctx, const char *name)
{
    struct config_env *env = ctx;
    const char *v = getenv(name);

    if (v)
        return v;
    for (size_t i = 0; env && i < env->n; i++)
        if (strcmp(env->keys[i], name) == 0)
            return env->vals[i];
    return NULL;
}

void config_env_close(struct config_env *env)
{
    if (!env)
        return;
    for (size_t i = 0; i < env->n; i++) {
        free(env->keys[i]);
        free(env->vals[i]);
    }
    free(env->keys);
    free(env->vals);
    free(env);
}
