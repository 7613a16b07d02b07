/*
 * test_config.c - the variable table, validation messages and the .env parser.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

struct fake_env {
    const char *const *pairs; /* NULL-terminated key, value, key, value, ... */
};

static const char *fake_get(void *ctx, const char *name)
{
    const struct fake_env *e = ctx;
    for (size_t i = 0; e->pairs[i]; i += 2)
        if (strcmp(e->pairs[i], name) == 0)
            return e->pairs[i + 1];
    return NULL;
}

/* Loads pairs; returns the error count and the error text (malloc'd) in *errs. */
static int load(struct config *cfg, const char *const *pairs, char **errs)
{
    struct fake_env env = {pairs};
    size_t len = 0;
    FILE *f = open_memstream(errs, &len);
    int bad = config_load(cfg, fake_get, &env, f);
    fclose(f);
    return bad;
}

static void test_defaults(void)
{
    const char *const none[] = {NULL};
    struct config cfg;
    char *errs = NULL;

    CHECK_EQ_INT(load(&cfg, none, &errs), 0);
    CHECK_EQ_STR(cfg.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.port, 8000);
    CHECK_EQ_STR(cfg.public_base_url, "http://127.0.0.1:8000");
    CHECK_EQ_STR(cfg.data_dir, "./data");
    CHECK_EQ_STR(cfg.sqlite_path, "./data/novadraw.db");
    CHECK_EQ_INT(cfg.db_kind, DB_SQLITE);
    CHECK_EQ_INT(cfg.storage_kind, STORAGE_LOCAL);
    CHECK_EQ_INT(cfg.max_upload_bytes, 10 * 1024 * 1024);
    CHECK_EQ_INT(cfg.max_image_side, 2048);
    CHECK_EQ_INT(cfg.max_image_pixels, 40000000);
    CHECK_EQ_INT(cfg.signed_url_ttl, 3600);
    CHECK_EQ_STR(cfg.editor, "auto");
    CHECK_EQ_STR(cfg.gemini_model, "gemini-2.5-flash-image");
    CHECK(cfg.jwt_secret == NULL);
    config_free(&cfg);
    free(errs);
}

static void test_values(void)
{
    const char *const pairs[] = {"PORT", "9001", "MAX_UPLOAD_BYTES", "2MiB",
                                 "PUBLIC_BASE_URL", "https://draw.example.com/",
                                 "DATABASE_URL", "sqlite:////tmp/x.db",
                                 "SPACES_KEY", "k", "SPACES_SECRET", "s",
                                 "STORAGE_ENDPOINT_URL", "https://nyc3.digitaloceanspaces.com/",
                                 "JWT_SECRET", "0123456789abcdef0123", NULL};
    struct config cfg;
    char *errs = NULL;

    CHECK_EQ_INT(load(&cfg, pairs, &errs), 0);
    CHECK_EQ_INT(cfg.port, 9001);
    CHECK_EQ_INT(cfg.max_upload_bytes, 2 * 1024 * 1024);
    CHECK_EQ_STR(cfg.public_base_url, "https://draw.example.com");
    CHECK_EQ_STR(cfg.sqlite_path, "/tmp/x.db");
    CHECK_EQ_INT(cfg.storage_kind, STORAGE_S3);
    CHECK_EQ_STR(cfg.storage_endpoint_url, "https://nyc3.digitaloceanspaces.com");
    CHECK_EQ_STR(cfg.jwt_secret, "0123456789abcdef0123");
    config_free(&cfg);
    free(errs);
}

static void test_errors_name_every_variable(void)
{
    const char *const pairs[] = {"PORT", "abc", "MAX_UPLOAD_BYTES", "lots", "IMAGE_EDITOR",
                                 "banana", "HTTP_THREADS", "-1", NULL};
    struct config cfg;
    char *errs = NULL;

    CHECK_EQ_INT(load(&cfg, pairs, &errs), 4);
    CHECK(strstr(errs, "PORT") != NULL);
    CHECK(strstr(errs, "MAX_UPLOAD_BYTES") != NULL);
    CHECK(strstr(errs, "config: IMAGE_EDITOR: must be one of auto|local|gemini (got 'banana')") !=
          NULL);
    CHECK(strstr(errs, "HTTP_THREADS") != NULL);
    config_free(&cfg);
    free(errs);
}

static void test_range_and_secrets(void)
{
    const char *const port[] = {"PORT", "70000", NULL};
    const char *const secret[] = {"JWT_SECRET", "hunter2", NULL};
    const char *const s3[] = {"SPACES_KEY", "AKIDSECRETVALUE", NULL};
    const char *const gem[] = {"IMAGE_EDITOR", "gemini", NULL};
    const char *const db[] = {"DATABASE_URL", "mysql://u:pw@h/db", NULL};
    struct config cfg;
    char *errs = NULL;

    CHECK_EQ_INT(load(&cfg, port, &errs), 1);
    CHECK(strstr(errs, "PORT") && strstr(errs, "70000"));
    config_free(&cfg);
    free(errs);

    CHECK_EQ_INT(load(&cfg, secret, &errs), 1);
    CHECK(strstr(errs, "JWT_SECRET") != NULL);
    CHECK(strstr(errs, "hunter2") == NULL); /* secrets never printed */
    config_free(&cfg);
    free(errs);

    CHECK_EQ_INT(load(&cfg, s3, &errs), 1);
    CHECK(strstr(errs, "SPACES_SECRET") != NULL);
    CHECK(strstr(errs, "AKIDSECRETVALUE") == NULL);
    config_free(&cfg);
    free(errs);

    CHECK_EQ_INT(load(&cfg, gem, &errs), 1);
    CHECK(strstr(errs, "IMAGE_EDITOR: gemini needs GEMINI_API_KEY") != NULL);
    config_free(&cfg);
    free(errs);

    CHECK_EQ_INT(load(&cfg, db, &errs), 1);
    CHECK(strstr(errs, "DATABASE_URL") != NULL);
    CHECK(strstr(errs, "pw") == NULL);
    config_free(&cfg);
    free(errs);
}

/* Collects config_notices() lines, one per line. */
struct lines {
    char text[2048];
    int n;
};

static void collect_line(void *ctx, const char *line)
{
    struct lines *l = ctx;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "%s\n", line);
    l->n++;
}

/* Loads pairs (which must be valid) and returns the notices for serve or another command. */
static int notices(const char *const *pairs, bool serving, struct lines *out)
{
    struct config cfg;
    char *errs = NULL;
    int n = -1;

    memset(out, 0, sizeof(*out));
    if (load(&cfg, pairs, &errs) == 0)
        n = config_notices(&cfg, serving, collect_line, out);
    else
        fprintf(stderr, "unexpected config errors: %s", errs);
    config_free(&cfg);
    free(errs);
    CHECK_EQ_INT(out->n, n);
    return n;
}

/* EDITOR is the shell's text editor: never a setting, a notice only when it holds a
 * value IMAGE_EDITOR would take (SPEC §16). */
static void test_editor_variable(void)
{
    const char *const vim[] = {"EDITOR", "vim", NULL};
    const char *const vim_bad_too[] = {"EDITOR", "banana", "PORT", "9000", NULL};
    const char *const gem[] = {"EDITOR", "gemini", NULL};
    const char *const both[] = {"EDITOR", "gemini", "IMAGE_EDITOR", "local", NULL};
    const char *const image_only[] = {"IMAGE_EDITOR", "local", NULL};
    const char *const upper[] = {"EDITOR", "Gemini", NULL};
    struct config cfg;
    struct lines l;
    char *errs = NULL;

    /* EDITOR=vim: loads, editor is the default, not a word anywhere */
    CHECK_EQ_INT(load(&cfg, vim, &errs), 0);
    CHECK_EQ_STR(cfg.editor, "auto");
    CHECK(cfg.ignored_editor == NULL);
    CHECK_EQ_STR(errs, "");
    config_free(&cfg);
    free(errs);
    CHECK_EQ_INT(notices(vim, true, &l), 0);
    CHECK_EQ_INT(notices(vim_bad_too, true, &l), 0);
    CHECK_EQ_INT(notices(upper, true, &l), 0); /* IMAGE_EDITOR would refuse it too */

    /* EDITOR=gemini: not obeyed (it would need GEMINI_API_KEY), one notice for every
     * command */
    CHECK_EQ_INT(load(&cfg, gem, &errs), 0);
    CHECK_EQ_STR(cfg.editor, "auto");
    CHECK_EQ_STR(cfg.ignored_editor, "gemini");
    config_free(&cfg);
    free(errs);
    CHECK_EQ_INT(notices(gem, false, &l), 1);
    CHECK_EQ_STR(l.text,
                 "config: EDITOR is ignored; set IMAGE_EDITOR=gemini to choose the image editor\n");

    /* both: IMAGE_EDITOR decides, and the notice says which it is */
    CHECK_EQ_INT(load(&cfg, both, &errs), 0);
    CHECK_EQ_STR(cfg.editor, "local");
    config_free(&cfg);
    free(errs);
    CHECK_EQ_INT(notices(both, true, &l), 1);
    CHECK_EQ_STR(l.text, "config: EDITOR is ignored; IMAGE_EDITOR=local chooses the image editor\n");

    CHECK_EQ_INT(notices(image_only, true, &l), 0);
}

static void test_wildcard_host(void)
{
    const char *const any4[] = {"HOST", "0.0.0.0", "PORT", "8080", NULL};
    const char *const any6[] = {"HOST", "::", NULL};
    const char *const any4_public[] = {"HOST", "0.0.0.0", "PUBLIC_BASE_URL",
                                       "https://draw.example.com", NULL};
    const char *const local[] = {"HOST", "192.168.1.20", NULL};
    struct config cfg;
    struct lines l;
    char *errs = NULL;

    CHECK(config_host_is_wildcard("0.0.0.0"));
    CHECK(config_host_is_wildcard("0"));
    CHECK(config_host_is_wildcard("::"));
    CHECK(config_host_is_wildcard("[::]"));
    CHECK(config_host_is_wildcard("::0"));
    CHECK(config_host_is_wildcard("0:0:0:0:0:0:0:0"));
    CHECK(!config_host_is_wildcard("127.0.0.1"));
    CHECK(!config_host_is_wildcard("::1"));
    CHECK(!config_host_is_wildcard("localhost"));
    CHECK(!config_host_is_wildcard("0.0.0.1"));
    CHECK(!config_host_is_wildcard("["));
    CHECK(!config_host_is_wildcard(""));
    CHECK(!config_host_is_wildcard(NULL));

    /* the URL base stays what it was: http://HOST:PORT, IPv6 in brackets */
    CHECK_EQ_INT(load(&cfg, any4, &errs), 0);
    CHECK_EQ_STR(cfg.public_base_url, "http://0.0.0.0:8080");
    CHECK(cfg.public_base_url_derived);
    config_free(&cfg);
    free(errs);
    CHECK_EQ_INT(load(&cfg, any6, &errs), 0);
    CHECK_EQ_STR(cfg.public_base_url, "http://[::]:8000");
    config_free(&cfg);
    free(errs);

    CHECK_EQ_INT(notices(any4, true, &l), 1);
    CHECK_EQ_STR(l.text, "config: HOST=0.0.0.0 without PUBLIC_BASE_URL: local media URLs (and "
                         "share links) start with http://0.0.0.0:8080, which other machines "
                         "cannot reach; set PUBLIC_BASE_URL to the address clients use, e.g. "
                         "PUBLIC_BASE_URL=http://192.0.2.10:8080\n");
    CHECK_EQ_INT(notices(any4, false, &l), 0); /* serve's concern only */
    CHECK_EQ_INT(notices(any6, true, &l), 1);
    CHECK(strstr(l.text, "HOST=:: without PUBLIC_BASE_URL") != NULL);
    CHECK(strstr(l.text, "http://[::]:8000") != NULL);
    CHECK_EQ_INT(notices(any4_public, true, &l), 0);
    CHECK_EQ_INT(notices(local, true, &l), 0);
}

struct kvs {
    char keys[8][32], vals[8][64];
    int n;
};

static void collect(void *ctx, const char *k, const char *v)
{
    struct kvs *s = ctx;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", k);
        snprintf(s->vals[s->n], sizeof(s->vals[0]), "%s", v);
        s->n++;
    }
}

static void test_dotenv(void)
{
    struct kvs s = {0};
    const char *text = "# comment\n"
                       "PORT=9000\n"
                       "export HOST = 0.0.0.0 \n"
                       "\n"
                       "A=\"two words # not a comment\"\n"
                       "B='single $quoted'\n"
                       "C=plain # trailing comment\n"
                       "D=\"esc\\\"aped\\n\"\r\n"
                       "E=\n";

    CHECK_EQ_INT(config_parse_dotenv(text, collect, &s), 0);
    CHECK_EQ_INT(s.n, 7);
    CHECK_EQ_STR(s.keys[0], "PORT");
    CHECK_EQ_STR(s.vals[0], "9000");
    CHECK_EQ_STR(s.keys[1], "HOST");
    CHECK_EQ_STR(s.vals[1], "0.0.0.0");
    CHECK_EQ_STR(s.vals[2], "two words # not a comment");
    CHECK_EQ_STR(s.vals[3], "single $quoted");
    CHECK_EQ_STR(s.vals[4], "plain");
    CHECK_EQ_STR(s.vals[5], "esc\"aped\n");
    CHECK_EQ_STR(s.vals[6], "");

    s.n = 0;
    CHECK_EQ_INT(config_parse_dotenv("OK=1\nnot a line\n", collect, &s), 2);
    s.n = 0;
    CHECK_EQ_INT(config_parse_dotenv("A=\"unterminated\n", collect, &s), 1);
    s.n = 0;
    CHECK_EQ_INT(config_parse_dotenv("1X=2\n", collect, &s), 1);
    s.n = 0;
    CHECK_EQ_INT(config_parse_dotenv("A='x' junk\n", collect, &s), 1);
}

int main(void)
{
    test_defaults();
    test_values();
    test_errors_name_every_variable();
    test_range_and_secrets();
    test_editor_variable();
    test_wildcard_host();
    test_dotenv();
    return check_summary("config");
}
