/*
 * main.c - the novadraw command: configuration, then one subcommand.
 * `serve` builds the app, starts the HTTP server, waits for SIGTERM/SIGINT and
 * tears down in reverse. Exit status: 0 done, 1 failed, 2 bad usage or config.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "audio/decode.h"
#include "config.h"
#include "handlers/handlers.h"
#include "http/server.h"
#include "imaging/editor.h"
#include "speech/transcriber.h"
#include "util/log.h"
#include "util/timefmt.h"

#define EXIT_USAGE 2
#define SHUTDOWN_GRACE_SECONDS 30

static void usage(FILE *out)
{
    fprintf(out,
            "usage: novadraw COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  serve                              run the HTTP server\n"
            "  token --user UUID [--ttl SECONDS]  print an access token (default ttl 86400)\n"
            "  migrate                            bring the database schema up to date\n"
            "  tutorial add --title TEXT [--id UUID]\n"
            "  tutorial list\n"
            "  edit IN --prompt TEXT -o OUT       run the local editor on an image file\n"
            "  transcribe AUDIO [--language en] [--mode grammar|general]\n"
            "                                     print what the local transcriber hears\n"
            "  help                               this text and the configuration table\n"
            "\n"
            "configuration (environment, or .env in the working directory):\n");
    config_print_help(out);
}

static enum log_level level_of(const char *s)
{
    if (strcmp(s, "debug") == 0)
        return LOG_DEBUG;
    if (strcmp(s, "warn") == 0)
        return LOG_WARN;
    if (strcmp(s, "error") == 0)
        return LOG_ERROR;
    return LOG_INFO;
}

static int cmd_serve(const struct config *cfg, const char *argv0)
{
    struct app app;
    struct http_server *srv = NULL;
    sigset_t stop;
    int sig = 0, status = 1;

    /* block the stop signals before any thread exists, so only sigwait sees them */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (imaging_init(argv0) != ERR_OK)
        return 1;
    if (app_open(cfg, true, &app) != ERR_OK)
        goto out_imaging;
    if (http_server_start(&app, routes, n_routes, &srv) != ERR_OK)
        goto out_app;
    log_info("novadraw: serving at %s (database %s, storage %s)", cfg->public_base_url,
             app.db->ops->name, app.storage->ops->name);
    sigwait(&stop, &sig);
    log_info("novadraw: %s received, finishing requests in flight",
             sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(srv, SHUTDOWN_GRACE_SECONDS);
    status = 0;
    log_info("novadraw: stopped");
out_app:
    app_close(&app);
out_imaging:
    imaging_shutdown();
    return status;
}

static int cmd_token(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},
        {"ttl", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    long ttl = 86400;
    struct auth *auth = NULL;
    char *token = NULL;
    char canon[ID_UUID_LEN];
    int c, status = 1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'u':
            user = optarg;
            break;
        case 't':
            ttl = strtol(optarg, &end, 10);
            if (*end || ttl <= 0 || ttl > 10L * 365 * 86400) {
                fprintf(stderr, "novadraw token: --ttl must be seconds from 1 to 315360000\n");
                return EXIT_USAGE;
            }
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (!user || !id_uuid_parse(user, strlen(user), canon)) {
        fprintf(stderr, "novadraw token: --user must be a UUID\n");
        return EXIT_USAGE;
    }
    if (auth_open(cfg, &auth) != ERR_OK)
        return 1;
    if (auth_mint(auth, canon, time_now_ms() / 1000, ttl, &token) == ERR_OK) {
        printf("%s\n", token);
        status = 0;
    }
    free(token);
    auth_close(auth);
    return status;
}

static int cmd_migrate(const struct config *cfg)
{
    struct db *db = NULL;
    enum err rc = db_open(cfg, &db);

    if (rc == ERR_OK)
        rc = db_migrate(db);
    db_close(db);
    if (rc != ERR_OK) {
        log_error("migrate: failed (%s)", err_name(rc));
        return 1;
    }
    printf("database schema is up to date\n");
    return 0;
}

static int cmd_tutorial(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"title", required_argument, NULL, 'T'},
        {"id", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    struct db *db = NULL;
    struct arena *a = NULL;
    const char *sub = argc > 1 ? argv[1] : "";
    const char *title = NULL, *id = NULL;
    int c, status = 1;
    enum err rc;

    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0) {
        fprintf(stderr, "usage: novadraw tutorial add --title TEXT [--id UUID] | list\n");
        return EXIT_USAGE;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'T')
            title = optarg;
        else if (c == 'i')
            id = optarg;
        else
            return EXIT_USAGE;
    }
    if (strcmp(sub, "add") == 0 && (!title || !*title || strlen(title) > 200)) {
        fprintf(stderr, "novadraw tutorial add: --title is required (1-200 characters)\n");
        return EXIT_USAGE;
    }
    a = arena_new();
    if (!a)
        return 1;
    rc = db_open(cfg, &db);
    if (rc == ERR_OK)
        rc = db_migrate(db);
    if (rc != ERR_OK)
        goto out;
    if (strcmp(sub, "add") == 0) {
        struct tutorial t = {.title = (char *)title, .created_at = time_now_ms()};
        if (id ? !id_uuid_parse(id, strlen(id), t.id) : !id_uuid_new(t.id)) {
            fprintf(stderr, "novadraw tutorial add: --id must be a UUID\n");
            status = EXIT_USAGE;
            goto out;
        }
        rc = db_tutorial_add(db, &t);
        if (rc == ERR_CONFLICT) {
            fprintf(stderr, "novadraw tutorial add: %s exists already\n", t.id);
            goto out;
        }
        if (rc == ERR_OK) {
            printf("%s\n", t.id);
            status = 0;
        }
    } else {
        struct tutorial *ts = NULL;
        size_t n = 0;
        rc = db_tutorial_list(db, a, &ts, &n);
        for (size_t i = 0; rc == ERR_OK && i < n; i++) {
            char iso[TIMEFMT_ISO_LEN];
            timefmt_iso(ts[i].created_at, iso);
            printf("%s\t%s\t%s\n", ts[i].id, iso, ts[i].title);
        }
        if (rc == ERR_OK)
            status = 0;
    }
out:
    if (status == 1 && rc != ERR_OK)
        log_error("tutorial: failed (%s)", err_name(rc));
    db_close(db);
    arena_free(a);
    return status;
}

static bool read_file(const char *path, int64_t max, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return false;
    for (;;) {
        size_t k;
        if (n == cap) {
            unsigned char *grown;
            cap = cap ? cap * 2 : 65536;
            if ((int64_t)cap > max + 1)
                cap = (size_t)max + 1;
            grown = n < cap ? realloc(buf, cap) : NULL;
            if (!grown)
                break; /* over max, or out of memory */
            buf = grown;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    if (ferror(f) || (int64_t)n > max || !feof(f)) {
        fclose(f);
        free(buf);
        return false;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return true;
}

/* The same path as an upload: ingest (validate, normalise), then the local editor. */
static int cmd_edit(const struct config *cfg, int argc, char **argv, const char *argv0)
{
    static const struct option opts[] = {
        {"prompt", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *prompt = NULL, *outpath = NULL, *why = NULL;
    struct ingest_limits lim = {cfg->max_upload_bytes, (int)cfg->max_image_side,
                                cfg->max_image_pixels};
    struct ingest_result img = {0};
    unsigned char *in = NULL;
    void *edited = NULL;
    size_t len = 0, edited_len = 0;
    FILE *f = NULL;
    int c, status = 1;
    enum err rc;

    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'p')
            prompt = optarg;
        else if (c == 'o')
            outpath = optarg;
        else
            return EXIT_USAGE;
    }
    if (optind != argc - 1 || !prompt || !*prompt || !outpath) {
        fprintf(stderr, "usage: novadraw edit IN --prompt TEXT -o OUT\n");
        return EXIT_USAGE;
    }
    if (!read_file(argv[optind], cfg->max_upload_bytes, &in, &len)) {
        fprintf(stderr, "novadraw edit: cannot read %s (or it is over MAX_UPLOAD_BYTES)\n",
                argv[optind]);
        return 1;
    }
    if (imaging_init(argv0) != ERR_OK)
        goto out;
    rc = ingest_image(in, len, &lim, &img, &why);
    if (rc == ERR_OK)
        rc = editor_local_apply(img.png, img.png_len, prompt, &edited, &edited_len, &why);
    if (rc != ERR_OK) {
        fprintf(stderr, "novadraw edit: %s\n", why ? why : err_name(rc));
        goto out_vips;
    }
    f = fopen(outpath, "wb");
    if (!f || fwrite(edited, 1, edited_len, f) != edited_len || fclose(f) != 0) {
        fprintf(stderr, "novadraw edit: cannot write %s\n", outpath);
        f = NULL;
        goto out_vips;
    }
    f = NULL;
    status = 0;
out_vips:
    if (f)
        fclose(f);
    editor_output_free(edited);
    ingest_result_free(&img);
    imaging_shutdown();
out:
    free(in);
    return status;
}

/* The local transcriber's mode follows the editor: the edit grammar when the local
 * editor will read the text, the general model when a remote one will. */
static bool editor_is_local(const struct config *cfg)
{
    if (strcmp(cfg->editor, "local") == 0)
        return true;
    return strcmp(cfg->editor, "auto") == 0 && !(cfg->gemini_api_key && *cfg->gemini_api_key);
}

static bool transcriber_is_local(const struct config *cfg)
{
    if (strcmp(cfg->transcriber, "local") == 0)
        return true;
    return strcmp(cfg->transcriber, "auto") == 0 &&
           !(cfg->gemini_api_key && *cfg->gemini_api_key);
}

/* The same path as a voice prompt: decode (limits), then the transcriber. Prints the
 * transcript on stdout; the reason and the error's name on stderr. */
static int cmd_transcribe(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"language", required_argument, NULL, 'l'},
        {"mode", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    struct transcriber_local_options topt = {
        .mode = editor_is_local(cfg) ? TRANSCRIBER_GRAMMAR : TRANSCRIBER_GENERAL,
        .pool_size = 1,
    };
    struct audio_limits lim = {(size_t)cfg->max_audio_bytes, (double)cfg->max_audio_seconds};
    struct transcriber *tr = NULL;
    const char *language = "en", *why = NULL;
    unsigned char *in = NULL;
    int16_t *pcm = NULL;
    char *text = NULL;
    size_t len = 0, n = 0;
    struct stat st;
    int c, status = 1;
    enum err rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'l') {
            language = optarg;
        } else if (c == 'm' && strcmp(optarg, "grammar") == 0) {
            topt.mode = TRANSCRIBER_GRAMMAR;
        } else if (c == 'm' && strcmp(optarg, "general") == 0) {
            topt.mode = TRANSCRIBER_GENERAL;
        } else {
            fprintf(stderr, "usage: novadraw transcribe AUDIO [--language en] "
                            "[--mode grammar|general]\n");
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: novadraw transcribe AUDIO [--language en] "
                        "[--mode grammar|general]\n");
        return EXIT_USAGE;
    }
    if (!transcriber_is_local(cfg)) {
        fprintf(stderr, "novadraw transcribe: TRANSCRIBER=%s is not available in this build "
                        "(only local)\n",
                cfg->transcriber);
        return 1;
    }
    if (!transcriber_local_language_ok(language)) {
        fprintf(stderr,
                "novadraw transcribe: language '%s' is not supported by the local transcriber "
                "(supports: en) (invalid)\n",
                language);
        return EXIT_USAGE;
    }
    if (stat(argv[optind], &st) == 0 && st.st_size > cfg->max_audio_bytes) {
        fprintf(stderr, "novadraw transcribe: The audio file is larger than the limit. "
                        "(too_large)\n");
        return 1;
    }
    if (!read_file(argv[optind], cfg->max_audio_bytes, &in, &len)) {
        fprintf(stderr, "novadraw transcribe: cannot read %s\n", argv[optind]);
        return 1;
    }
    rc = audio_decode(in, len, &lim, &pcm, &n, &why);
    if (rc == ERR_OK)
        rc = transcriber_local_open(&topt, &tr, &why);
    if (rc == ERR_OK)
        rc = transcriber_transcribe(tr, pcm, n, language, &text, &why);
    if (rc != ERR_OK) {
        fprintf(stderr, "novadraw transcribe: %s (%s)\n", why ? why : "failed", err_name(rc));
        goto out;
    }
    printf("%s\n", text);
    status = 0;
out:
    free(text);
    transcriber_close(tr);
    free(pcm);
    free(in);
    return status;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    struct config_env *env;
    struct config cfg;
    int bad, status;

    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "token") != 0 && strcmp(cmd, "migrate") != 0 &&
        strcmp(cmd, "tutorial") != 0 && strcmp(cmd, "edit") != 0 &&
        strcmp(cmd, "transcribe") != 0) {
        if (*cmd)
            fprintf(stderr, "novadraw: unknown command '%s'\n\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }

    env = config_env_open(".env", stderr);
    if (!env)
        return EXIT_USAGE;
    bad = config_load(&cfg, config_env_get, env, stderr);
    config_env_close(env);
    if (bad) {
        config_free(&cfg);
        return EXIT_USAGE;
    }
    log_set_level(level_of(cfg.log_level));

    if (strcmp(cmd, "serve") == 0)
        status = cmd_serve(&cfg, argv[0]);
    else if (strcmp(cmd, "token") == 0)
        status = cmd_token(&cfg, argc - 1, argv + 1);
    else if (strcmp(cmd, "migrate") == 0)
        status = cmd_migrate(&cfg);
    else if (strcmp(cmd, "edit") == 0)
        status = cmd_edit(&cfg, argc - 1, argv + 1, argv[0]);
    else if (strcmp(cmd, "transcribe") == 0)
        status = cmd_transcribe(&cfg, argc - 1, argv + 1);
    else
        status = cmd_tutorial(&cfg, argc - 1, argv + 1);
    config_free(&cfg);
    return status;
}
