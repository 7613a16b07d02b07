/*
 * config.h - the process configuration: one table of environment variables
 * (SPEC §3), also read from a .env file; the real environment wins.
 *
 * struct config owns all its strings; config_free() releases them. After
 * config_load() succeeds the struct is read-only and shared by every thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum db_kind { DB_SQLITE, DB_POSTGRES };
enum storage_kind { STORAGE_LOCAL, STORAGE_S3 };

struct config {
    /* server */
    char *host;
    long port;
    char *public_base_url;        /* no trailing slash */
    bool public_base_url_derived; /* PUBLIC_BASE_URL unset: made from HOST and PORT */
    char *data_dir;
    long http_threads;
    long http_timeout;                /* seconds idle or trickling before a connection closes */
    long http_max_connections;        /* MHD's connection limit */
    long http_max_connections_per_ip; /* 0: no cap */
    int64_t http_body_budget;         /* bytes of request bodies held at once */
    int64_t body_cache;               /* bytes of kept bodies (body_cache.h); 0: none */
    char *log_level;
    char *cors_origins; /* CORS_ORIGINS as given (validated by http/cors.h), or NULL */
    char *log_format;     /* "text" | "json" */
    char *access_log;     /* "on" | "off": one line per request */
    char *metrics_token;  /* NULL: /metrics is open */
    long shutdown_timeout; /* seconds for requests in flight after SIGTERM */

    /* database */
    char *database_url;
    enum db_kind db_kind;
    char *sqlite_path; /* derived: the file for DB_SQLITE */

    /* storage */
    char *spaces_key, *spaces_secret, *storage_endpoint_url;
    char *spaces_bucket, *spaces_region, *spaces_public_url;
    char *storage_acl;
    long signed_url_ttl;
    enum storage_kind storage_kind;

    /* auth */
    char *jwt_secret; /* NULL: generated into DATA_DIR (see auth.h) */
    char *jwt_algorithm;

    /* accounts (SPEC §12) */
    long access_token_ttl, refresh_token_ttl; /* seconds */
    char *registration;                       /* "open" | "closed" */
    bool registration_open;                   /* derived */
    long password_memory_kib, password_iterations;
    long password_queue; /* password hashes waiting or running before 503 */

    /* editing and transcription */
    char *editor;         /* IMAGE_EDITOR */
    bool editor_set;      /* IMAGE_EDITOR was given (not the default) */
    char *ignored_editor; /* EDITOR's value if IMAGE_EDITOR would accept it, else NULL */
    char *gemini_api_key, *gemini_model, *gemini_base_url, *gemini_transcribe_model;
    long gemini_timeout, gemini_retries;
    long edit_workers, edit_queue;
    long rate_limit_edits; /* per user per minute; 0: off */
    long job_lease_seconds;
    char *transcriber;
    char *speech_model_dir; /* NULL: the package's */
    char *transcribe_url, *transcribe_api_key, *transcribe_model;

    /* limits */
    int64_t max_upload_bytes;
    long max_image_side;
    int64_t max_image_pixels;
    int64_t max_audio_bytes;
    long max_audio_seconds;
};

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*config_get_fn)(void *ctx, const char *name);

/*
 * Fills cfg from get(). Every bad variable is reported on errs as one line naming
 * it (values of secrets are never printed). Returns the number of errors; on a
 * non-zero return cfg is still safe to config_free().
 */
int config_load(struct config *cfg, config_get_fn get, void *ctx, FILE *errs);

/* The environment, then the .env file in the working directory, as one lookup.
 * Returns NULL and reports on errs if .env exists but cannot be parsed. */
struct config_env;
struct config_env *config_env_open(const char *dotenv_path, FILE *errs);
const char *config_env_get(void *env, const char *name);
void config_env_close(struct config_env *env);

/*
 * Parses .env text: KEY=VALUE lines, '#' comments, optional "export ", single or
 * double quotes (double quotes understand \n, \", \\). Calls set() for each pair.
 * Returns 0, or the 1-based number of the first malformed line.
 */
int config_parse_dotenv(const char *text, void (*set)(void *ctx, const char *k, const char *v),
                        void *ctx);

/*
 * Start-up notices about settings that load fine but likely do not do what was
 * meant (SPEC §16): EDITOR holding an image-editor value (EDITOR is the shell's text
 * editor and is not read), and, when serving, a wildcard HOST (0.0.0.0, ::) with
 * no PUBLIC_BASE_URL, whose URLs other machines cannot reach. Calls emit() once per
 * notice with one line (no newline); returns how many. Pure: no output of its own.
 */
typedef void (*config_notice_fn)(void *ctx, const char *line);
int config_notices(const struct config *cfg, bool serving, config_notice_fn emit, void *ctx);

/* True if host is an unspecified ("any") address: 0.0.0.0 (or inet_aton's short
 * forms such as 0), ::, [::]. */
bool config_host_is_wildcard(const char *host);

/* Prints the variable table (names, defaults, meaning) for `novadraw help`. */
void config_print_help(FILE *out);

void config_free(struct config *cfg);
