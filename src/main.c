/*
 * main.c - the novadraw command: configuration, then one subcommand.
 * `serve` builds the app, starts the job worker and the HTTP server, waits for
 * SIGTERM/SIGINT and tears down in reverse. Exit status: 0 done, 1 failed, 2 bad usage or config.
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accounts.h"
#include "app.h"
#include "audio/decode.h"
#include "edits.h"
#include "config.h"
#include "export.h"
#include "gc.h"
#include "jobs.h"
#include "handlers/handlers.h"
#include "http/server.h"
#include "imaging/editor.h"
#include "util/httpc.h"
#include "storage/storage.h"
#include "speech/transcriber.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timefmt.h"
#include "util/utf8.h"

#define EXIT_USAGE 2

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
            "  storage check                      show the storage settings (no secrets); exit 0\n"
            "                                     if the store is reachable and writable\n"
            "  gc [--dry-run] [--older-than DURATION]\n"
            "                                     delete objects under users/ that no row\n"
            "                                     references, older than DURATION (24h, 30m,\n"
            "                                     3600s; default 24h)\n"
            "  user add --email E [--password-file F]\n"
            "                                     create an account (password from stdin, or\n"
            "                                     the first line of F); prints its id\n"
            "  user delete --email E              delete an account, its drawings and objects\n"
            "  transcribe AUDIO [--language en] [--mode grammar|general]\n"
            "  transcribe --json AUDIO... (one JSON line per file, one decoder for all)\n"
            "                                     print what the local transcriber hears\n"
            "  routes                             print the HTTP route table (METHOD PATTERN)\n"
            "  version, --version                 print the version\n"
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

/* Thousands of edits in flight hold a client socket and a socket to the editor
 * each: take all the descriptors the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("novadraw: cannot raise the open-file limit");
    }
}

static void warn_line(void *ctx, const char *line)
{
    (void)ctx;
    log_warn("%s", line);
}

/* After the first stop signal: a second one ends the process at once. */
static void *second_signal(void *arg)
{
    sigset_t *stop = arg;
    int sig = 0;

    if (sigwait(stop, &sig) == 0) {
        log_warn("novadraw: second %s: exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        _exit(128 + sig);
    }
    return NULL;
}

static int cmd_serve(const struct config *cfg, const char *argv0)
{
    struct app app;
    struct http_server *srv = NULL;
    struct jobs *jobs = NULL;
    sigset_t stop;
    int sig = 0, status = 1;

    /* block the stop signals before any thread exists, so only sigwait sees them */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_fd_limit();
    if (imaging_init(argv0) != ERR_OK)
        return 1;
    if (app_open(cfg, true, &app) != ERR_OK)
        goto out_imaging;
    if (app_start_workers(&app) != ERR_OK || edits_open(&app, &app.edits) != ERR_OK)
        goto out_app;
    if (jobs_start(&app, &jobs) != ERR_OK)
        goto out_app;
    if (http_server_start(&app, routes, n_routes, &srv) != ERR_OK)
        goto out_app;
    log_info("novadraw: serving at %s (database %s, storage %s, editor %s)",
             cfg->public_base_url, db_name(app.db), app.storage->ops->name,
             edits_editor_name(app.edits));
    sigwait(&stop, &sig);
    log_info("novadraw: %s received, finishing requests in flight (up to %ld s)",
             sig == SIGINT ? "SIGINT" : "SIGTERM", cfg->shutdown_timeout);
    {
        pthread_t t;
        if (pthread_create(&t, NULL, second_signal, &stop) == 0)
            pthread_detach(t);
    }
    jobs_quit(jobs); /* no new background work either; the job in hand finishes */
    /* stop taking requests and let those in flight finish; edits still running after
     * that end as 503, which resumes their connections; then the threads stop */
    http_server_quiesce(srv, (int)cfg->shutdown_timeout);
    if (!edits_stop(app.edits, 1)) {
        /* MHD cannot stop with connections still suspended, and those edits' threads
         * still use the app: nothing can be torn down safely */
        log_error("novadraw: exiting with edits unfinished");
        _exit(1);
    }
    export_shutdown(10 * 1000); /* exports still running end (cut); none sleeps in MHD */
    http_server_free(srv); /* handlers may call into the edits until this returns */
    jobs_stop(jobs); /* wakes it now; waits for the job in hand */
    jobs = NULL;
    status = 0;
    log_info("novadraw: stopped");
out_app:
    jobs_stop(jobs);
    edits_close(app.edits);
    app_close(&app);
out_imaging:
    imaging_shutdown();
    return status;
}

/* The route table, one "METHOD PATTERN" a line, in matching order (the OpenAPI
 * document's drift test compares it with docs/openapi.json). */
static int cmd_routes(void)
{
    for (size_t i = 0; i < n_routes; i++)
        printf("%s %s\n", http_method_name(routes[i].method), routes[i].pattern);
    return fflush(stdout) == 0 ? 0 : 1;
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
    enum err rc;

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
    /* a new secret here would sign a token the server refuses (SPEC §16) */
    rc = auth_open(cfg, false, &auth);
    if (rc == ERR_NOT_FOUND) {
        fprintf(stderr,
                "novadraw token: no signing secret: JWT_SECRET is unset and %s/" AUTH_SECRET_FILE
                " does not exist. Run this where the server runs (same DATA_DIR or "
                "JWT_SECRET); `novadraw serve` generates the secret on its first start\n",
                cfg->data_dir);
        return EXIT_USAGE;
    }
    if (rc != ERR_OK)
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

static const char *yes_no(enum err rc)
{
    return rc == ERR_OK ? "yes" : "no";
}

/* Settings without secrets, then HEAD bucket and a PUT+DELETE probe. */
static int cmd_storage(const struct config *cfg, int argc, char **argv)
{
    struct httpc *http = NULL;
    struct storage *s = NULL;
    struct arena *a = NULL;
    char probe_key[STORAGE_KEY_MAX] = "";
    enum err reach = ERR_UNAVAILABLE, write = ERR_UNAVAILABLE, rc;

    if (argc != 2 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: novadraw storage check\n");
        return EXIT_USAGE;
    }
    a = arena_new();
    if (!a)
        return 1;
    if (cfg->storage_kind == STORAGE_S3) {
        const char *region = storage_s3_region(cfg, a);
        const char *public_base = storage_s3_public_base(cfg, a);
        bool private_acl = strcmp(cfg->storage_acl, "private") == 0;
        printf("backend:     s3\n");
        printf("endpoint:    %s\n", cfg->storage_endpoint_url);
        printf("bucket:      %s\n", cfg->spaces_bucket);
        printf("region:      %s%s\n", region ? region : "?",
               cfg->spaces_region ? "" : " (derived)");
        printf("acl:         %s\n", cfg->storage_acl);
        if (private_acl)
            printf("object URLs: presigned, valid %ld s\n", cfg->signed_url_ttl);
        else
            printf("public URLs: %s/KEY\n", public_base ? public_base : "?");
        printf("access key:  %s\n", cfg->spaces_key && *cfg->spaces_key ? "set" : "not set");
        printf("secret key:  %s\n", cfg->spaces_secret && *cfg->spaces_secret ? "set" : "not set");
    } else {
        printf("backend:     local\n");
        printf("directory:   %s/media\n", cfg->data_dir);
        printf("public URLs: %s/media/KEY\n", cfg->public_base_url);
    }
    fflush(stdout);
    rc = httpc_open(0, &http);
    if (rc == ERR_OK)
        rc = storage_open(cfg, http, &s);
    if (rc != ERR_OK) {
        printf("reachable:   no (cannot open the backend: %s)\n", err_name(rc));
        printf("writable:    no\n");
        goto out;
    }
    reach = storage_check(s);
    printf("reachable:   %s%s%s%s\n", yes_no(reach), reach == ERR_OK ? "" : " (",
           reach == ERR_OK ? "" : err_name(reach), reach == ERR_OK ? "" : ")");
    fflush(stdout);
    write = storage_probe(s, probe_key);
    printf("writable:    %s (PUT and DELETE %s%s%s)\n", yes_no(write), probe_key,
           write == ERR_OK ? "" : ": ", write == ERR_OK ? "" : err_name(write));
out:
    storage_close(s);
    httpc_close(http);
    arena_free(a);
    return reach == ERR_OK && write == ERR_OK ? 0 : 1;
}

/* Deletes unreferenced objects older than the grace; prints each one. */
static int cmd_gc(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"older-than", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int64_t grace = 24 * 3600 * 1000LL;
    bool dry_run = false;
    struct db *db = NULL;
    struct httpc *http = NULL;
    struct storage *st = NULL;
    struct gc_stats stats = {0};
    enum err rc;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            dry_run = true;
            break;
        case 'o':
            if (!gc_parse_duration(optarg, &grace)) {
                fprintf(stderr, "novadraw gc: --older-than takes a duration like 24h, 30m or "
                                "3600s\n");
                return EXIT_USAGE;
            }
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: novadraw gc [--dry-run] [--older-than DURATION]\n");
        return EXIT_USAGE;
    }
    rc = db_open(cfg, &db);
    if (rc == ERR_OK)
        rc = db_migrate(db);
    if (rc == ERR_OK)
        rc = httpc_open(0, &http);
    if (rc == ERR_OK)
        rc = storage_open(cfg, http, &st);
    if (rc == ERR_OK)
        rc = gc_run(db, st, time_now_ms(), grace, dry_run, stdout, &stats);
    storage_close(st);
    httpc_close(http);
    db_close(db);
    if (rc != ERR_OK) {
        log_error("gc: failed (%s)", err_name(rc));
        return 1;
    }
    printf("gc: %zu objects listed, %zu unreferenced and older than %lld s, %s%zu deleted, "
           "%zu failed, %zu temp files of interrupted writes %s\n",
           stats.listed, stats.unreferenced, (long long)(grace / 1000),
           dry_run ? "dry run: " : "", stats.deleted, stats.failed, stats.temp_files,
           dry_run ? "found" : "removed");
    return stats.failed ? 1 : 0;
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
    return strcmp(cfg->transcriber, "auto") == 0 && !(cfg->gemini_api_key && *cfg->gemini_api_key);
}

/* One JSON line for one file of `transcribe --json`: {"file", "text", "edits"} when it
 * is accepted, {"file", "error", "heard"} when not; "scores" with the probe's numbers. */
static void transcribe_json_line(const struct config *cfg, struct transcriber *tr, const char *path,
                                 const char *language, bool scores)
{
    struct audio_limits lim = {(size_t)cfg->max_audio_bytes, (double)cfg->max_audio_seconds};
    struct transcriber_probe p = {0};
    enum edit_kind kinds[EDIT_KIND_COUNT];
    unsigned char *in = NULL;
    int16_t *pcm = NULL;
    char *text = NULL, *heard = NULL, *line = NULL;
    const char *why = NULL;
    size_t len = 0, n = 0, k;
    json_t *o = json_pack("{s:s}", "file", path), *edits;
    enum err rc = ERR_INVALID;

    if (!o)
        goto out;
    if (!read_file(path, cfg->max_audio_bytes, &in, &len)) {
        why = "cannot read the file";
        goto out;
    }
    rc = audio_decode(in, len, &lim, &pcm, &n, &why);
    if (rc == ERR_OK)
        rc = transcriber_local_run(tr, pcm, n, language, &text, &heard, &why);
    if (rc == ERR_OK) {
        json_object_set_new(o, "text", json_string(text));
        edits = json_array();
        k = editor_parse(text, kinds, EDIT_KIND_COUNT);
        for (size_t i = 0; i < k && edits; i++)
            json_array_append_new(edits, json_string(editor_kind_name(kinds[i])));
        json_object_set_new(o, "edits", edits);
    }
    if (scores && pcm && transcriber_local_probe(tr, pcm, n, &p) == ERR_OK)
        json_object_set_new(o, "scores",
                            json_pack("{s:s?, s:s?, s:f, s:f, s:i, s:b}", "grammar", p.hyp,
                                      "general", p.general, "oog", p.oog_per_frame, "worst",
                                      p.worst_word_per_frame, "frames", p.frames, "refused",
                                      p.refused));
out:
    if (o && rc != ERR_OK) {
        json_object_set_new(o, "error", json_string(err_name(rc)));
        json_object_set_new(o, "why", json_string(why ? why : ""));
        json_object_set_new(o, "heard", json_string(heard ? heard : ""));
    }
    line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", line ? line : "{\"error\": \"nomem\"}");
    fflush(stdout);
    free(line);
    json_decref(o);
    free(p.hyp);
    free(p.general);
    free(text);
    free(heard);
    free(pcm);
    free(in);
}

/* The same path as a voice prompt: decode (limits), then the transcriber. Prints the
 * transcript on stdout; the reason and the error's name on stderr. */
static int cmd_transcribe(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"language", required_argument, NULL, 'l'},
        {"mode", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"scores", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, scores = false;
    struct transcriber_local_options topt = {
        .mode = editor_is_local(cfg) ? TRANSCRIBER_GRAMMAR : TRANSCRIBER_GENERAL,
        .pool_size = 1,
        .model_dir = cfg->speech_model_dir, /* NULL: the package's */
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
        } else if (c == 'j') {
            json = true;
        } else if (c == 's') {
            json = scores = true;
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
    if (optind > argc - 1 || (!json && optind != argc - 1)) {
        fprintf(stderr, "usage: novadraw transcribe AUDIO [--language en] "
                        "[--mode grammar|general]\n");
        return EXIT_USAGE;
    }
    if (!transcriber_is_local(cfg)) {
        fprintf(stderr,
                "novadraw transcribe: runs the local transcriber only (TRANSCRIBER=%s; "
                "the server uses that one)\n",
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
    if (json) {
        rc = transcriber_local_open(&topt, &tr, &why);
        if (rc != ERR_OK) {
            fprintf(stderr, "novadraw transcribe: %s (%s)\n", why ? why : "failed", err_name(rc));
            return 1;
        }
        for (int i = optind; i < argc; i++)
            transcribe_json_line(cfg, tr, argv[i], language, scores);
        transcriber_close(tr);
        return 0;
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
        rc = transcriber_local_run(tr, pcm, n, language, &text, NULL, &why);
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

/* The first line of f, without its line end, into buf (size n); false if it does
 * not fit or cannot be read. */
static bool read_secret_line(FILE *f, char *buf, size_t n)
{
    size_t len;

    if (!fgets(buf, (int)n, f))
        return false;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] != '\n' && !feof(f))
        return false; /* longer than the buffer */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return true;
}

static int cmd_user(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"email", required_argument, NULL, 'e'},
        {"password-file", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *sub = argc > 1 ? argv[1] : "", *email_raw = NULL, *pw_file = NULL, *why = NULL;
    char password[4 * ACCOUNTS_PASSWORD_MAX + 2], id[ID_UUID_LEN];
    struct arena *a = NULL;
    struct app app;
    char *email = NULL;
    int c, status = 1;
    long long chars;
    enum err rc;

    memset(&app, 0, sizeof(app));
    if (strcmp(sub, "add") != 0 && strcmp(sub, "delete") != 0) {
        fprintf(stderr, "usage: novadraw user add --email E [--password-file F] | "
                        "delete --email E\n");
        return EXIT_USAGE;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e')
            email_raw = optarg;
        else if (c == 'p' && strcmp(sub, "add") == 0)
            pw_file = optarg;
        else
            return EXIT_USAGE;
    }
    a = arena_new();
    if (!a)
        return 1;
    if (!email_raw || !accounts_email_normalise(email_raw, strlen(email_raw), a, &email, &why)) {
        fprintf(stderr, "novadraw user %s: --email: %s\n", sub,
                why ? why : "an e-mail address is required");
        status = EXIT_USAGE;
        goto out;
    }
    if (strcmp(sub, "add") == 0) {
        FILE *f = pw_file ? fopen(pw_file, "r") : stdin;
        bool ok = f && read_secret_line(f, password, sizeof(password));
        if (f && f != stdin)
            fclose(f);
        chars = ok ? utf8_count((const unsigned char *)password, strlen(password)) : -1;
        if (chars < ACCOUNTS_PASSWORD_MIN || chars > ACCOUNTS_PASSWORD_MAX) {
            fprintf(stderr, "novadraw user add: the password (first line of %s) must be %d-%d "
                            "characters of UTF-8\n",
                    pw_file ? pw_file : "stdin", ACCOUNTS_PASSWORD_MIN, ACCOUNTS_PASSWORD_MAX);
            status = EXIT_USAGE;
            goto out;
        }
    }
    if (app_open(cfg, true, &app) != ERR_OK)
        goto out;
    if (strcmp(sub, "add") == 0) {
        rc = accounts_create(&app, email, password, strlen(password), time_now_ms(), id);
        if (rc == ERR_CONFLICT)
            fprintf(stderr, "novadraw user add: %s is registered already\n", email);
        else if (rc != ERR_OK)
            fprintf(stderr, "novadraw user add: failed (%s)\n", err_name(rc));
        else {
            printf("%s\n", id);
            status = 0;
        }
    } else {
        struct account acct;
        int64_t n = 0;
        rc = db_account_by_email(app.db, email, a, &acct);
        if (rc == ERR_OK)
            rc = accounts_delete(&app, acct.id, NULL, 0, false, time_now_ms(), &n);
        if (rc == ERR_NOT_FOUND)
            fprintf(stderr, "novadraw user delete: no account for %s\n", email);
        else if (rc != ERR_OK)
            fprintf(stderr, "novadraw user delete: failed (%s)\n", err_name(rc));
        else {
            printf("deleted %s; %lld stored objects queued for deletion (a running server "
                   "removes them)\n",
                   acct.id, (long long)n);
            status = 0;
        }
    }
out:
    explicit_bzero(password, sizeof(password));
    app_close(&app);
    arena_free(a);
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
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("novadraw %s\n", NOVADRAW_VERSION);
        return 0;
    }
    if (strcmp(cmd, "routes") == 0) /* no configuration needed: the table is compiled in */
        return cmd_routes();
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "token") != 0 && strcmp(cmd, "migrate") != 0 &&
        strcmp(cmd, "tutorial") != 0 && strcmp(cmd, "edit") != 0 && strcmp(cmd, "storage") != 0 &&
        strcmp(cmd, "gc") != 0 && strcmp(cmd, "transcribe") != 0 && strcmp(cmd, "user") != 0) {
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
    log_set_format(strcmp(cfg.log_format, "json") == 0 ? LOG_JSON : LOG_TEXT);
    config_notices(&cfg, strcmp(cmd, "serve") == 0, warn_line, NULL);
    if (!net_global_init()) { /* before any thread: libcurl's global state */
        fprintf(stderr, "novadraw: the HTTP client library failed to initialise\n");
        config_free(&cfg);
        return 1;
    }

    if (strcmp(cmd, "serve") == 0)
        status = cmd_serve(&cfg, argv[0]);
    else if (strcmp(cmd, "token") == 0)
        status = cmd_token(&cfg, argc - 1, argv + 1);
    else if (strcmp(cmd, "migrate") == 0)
        status = cmd_migrate(&cfg);
    else if (strcmp(cmd, "edit") == 0)
        status = cmd_edit(&cfg, argc - 1, argv + 1, argv[0]);
    else if (strcmp(cmd, "storage") == 0)
        status = cmd_storage(&cfg, argc - 1, argv + 1);
    else if (strcmp(cmd, "gc") == 0)
        status = cmd_gc(&cfg, argc - 1, argv + 1);
    else if (strcmp(cmd, "transcribe") == 0)
        status = cmd_transcribe(&cfg, argc - 1, argv + 1);
    else if (strcmp(cmd, "user") == 0)
        status = cmd_user(&cfg, argc - 1, argv + 1);
    else
        status = cmd_tutorial(&cfg, argc - 1, argv + 1);
    net_global_cleanup();
    config_free(&cfg);
    return status;
}
