/*
 * test_log.c - log records (text and JSON) and the metrics text: hostile strings stay
 * on one line, JSON records parse, long records are cut whole, the request id follows
 * a pool task to its worker, and every metrics family is listed before any count.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"
#include "util/log.h"
#include "util/pool.h"

static char *captured(FILE *f)
{
    long n;
    char *s;

    fflush(stderr);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    rewind(f);
    if (ftruncate(fileno(f), 0) != 0)
        CHECK(0);
    return s;
}

/* Runs fn with stderr going to a file; returns what was written (malloc'd). */
static char *capture(void (*fn)(void))
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    char *out;

    dup2(fileno(f), STDERR_FILENO);
    fn();
    out = captured(f);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(f);
    return out;
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void hostile_text(void)
{
    log_set_format(LOG_TEXT);
    log_set_request("rid-1");
    log_info("path %s", "/a\r\n2026-01-01T00:00:00.000Z error forged\x1b[31m");
    log_set_request(NULL);
}

static void numbers(void)
{
    const struct log_field f[] = {
        {"a", NULL, 0}, {"b", NULL, 404}, {"c", NULL, 0.75}, {"d", NULL, 1.3704},
        {"e", NULL, -2.5}, {"f", NULL, 1234567890123.0}, {"g", "", 0},
    };

    log_set_format(LOG_TEXT);
    log_fields(LOG_WARN, "n", f, 7);
}

static void hostile_json(void)
{
    const struct log_field f[] = {
        {"route", "/x\"}\n{\"forged\":1}", 0},
        {"bad_utf8", "\xff\xfe ok \xc3\xa9", 0},
        {"status", NULL, 404},
    };

    log_set_format(LOG_JSON);
    log_set_request("rid-2");
    log_fields(LOG_INFO, "request \\ \"quoted\"", f, 3);
    log_set_request(NULL);
    log_warn("no request %s", "\t\x01");
}

static void long_json(void)
{
    char *big = malloc(10000);
    struct log_field f[3];

    memset(big, '"', 9999); /* each one escapes to two bytes */
    big[9999] = '\0';
    f[0] = (struct log_field){"small", "kept", 0};
    f[1] = (struct log_field){"huge", big, 0};
    f[2] = (struct log_field){"n", NULL, 7};
    log_set_format(LOG_JSON);
    log_set_request("rid-3");
    log_fields(LOG_INFO, "long", f, 3);
    log_msg(LOG_INFO, "%s", big); /* a long message is cut, the record stays whole */
    log_set_request(NULL);
    free(big);
}

static void test_text(void)
{
    char *out = capture(hostile_text);

    CHECK(out && lines(out) == 1);
    CHECK(out && strstr(out, " info req=rid-1 path /a??2026-01-01T00:00:00.000Z error forged?[31m\n"));
    free(out);
}

static void test_numbers(void)
{
    char *out = capture(numbers);

    CHECK(out && strstr(out, " warn n a=0 b=404 c=0.75 d=1.37 e=-2.5 f=1234567890123 g=-\n"));
    free(out);
}

static void test_json(void)
{
    char *out = capture(hostile_json);
    char *save = NULL;
    int n = 0;

    CHECK(out && lines(out) == 2);
    for (char *ln = out ? strtok_r(out, "\n", &save) : NULL; ln; ln = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(ln, 0, &e);

        CHECK(j != NULL);
        if (!j)
            continue;
        CHECK(json_is_string(json_object_get(j, "ts")));
        CHECK(json_is_string(json_object_get(j, "level")));
        CHECK(json_object_get(j, "forged") == NULL);
        if (n == 0) {
            CHECK_EQ_STR(json_string_value(json_object_get(j, "msg")), "request \\ \"quoted\"");
            CHECK_EQ_STR(json_string_value(json_object_get(j, "route")), "/x\"}\n{\"forged\":1}");
            CHECK_EQ_STR(json_string_value(json_object_get(j, "bad_utf8")),
                         "\xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9");
            CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 404);
            CHECK_EQ_STR(json_string_value(json_object_get(j, "request_id")), "rid-2");
        } else {
            CHECK_EQ_STR(json_string_value(json_object_get(j, "level")), "warn");
            CHECK_EQ_STR(json_string_value(json_object_get(j, "msg")), "no request \t\x01");
            CHECK(json_object_get(j, "request_id") == NULL);
        }
        json_decref(j);
        n++;
    }
    CHECK_EQ_INT(n, 2);
    free(out);

    out = capture(long_json);
    save = NULL;
    n = 0;
    CHECK(out && lines(out) == 2);
    for (char *ln = out ? strtok_r(out, "\n", &save) : NULL; ln; ln = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(ln, 0, &e);

        CHECK(j != NULL);
        CHECK(strlen(ln) < 4096);
        if (j && n == 0) {
            CHECK_EQ_STR(json_string_value(json_object_get(j, "small")), "kept");
            CHECK(json_object_get(j, "huge") == NULL); /* dropped whole */
            CHECK_EQ_INT(json_integer_value(json_object_get(j, "n")), 7);
        }
        if (j)
            CHECK_EQ_STR(json_string_value(json_object_get(j, "request_id")), "rid-3");
        json_decref(j);
        n++;
    }
    free(out);
}

/* ---- the request id follows a task to a pool thread ---- */

static char seen[LOG_REQUEST_ID_MAX + 1];
static atomic_int done;

static void task(void *arg)
{
    (void)arg;
    snprintf(seen, sizeof(seen), "%s", log_request());
    atomic_store(&done, 1);
}

static void test_pool_carries_id(void)
{
    struct pool *p = NULL;

    CHECK(pool_open("t", 1, 8, NULL, &p) == ERR_OK);
    log_set_request("carried.id-9");
    CHECK(pool_submit(p, task, NULL) == ERR_OK);
    log_set_request(NULL);
    CHECK_EQ_STR(log_request(), "");
    while (!atomic_load(&done)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_STR(seen, "carried.id-9");
    pool_close(p);
    log_set_request(NULL);
}

/* ---- metrics text ---- */

static void test_metrics_text(void)
{
    static const char *const routes[] = {"/health", "/api/drawings/{drawing_id}"};
    static const char *const families[] = {
        "novadraw_http_requests_total counter", "novadraw_http_request_duration_seconds histogram",
        "novadraw_edits_in_flight gauge", "novadraw_edit_duration_seconds histogram",
        "novadraw_transcriptions_total counter", "novadraw_storage_operations_total counter",
        "novadraw_jobs_pending gauge", "novadraw_build_info gauge",
        "process_cpu_seconds_total counter", "process_open_fds gauge"};
    struct metrics_gauges g = {.jobs_upload = 2, .jobs_delete = 0};
    char *text = NULL;
    size_t len = 0;

    metrics_routes(routes, 2);
    CHECK(metrics_render(&g, &text, &len) == ERR_OK);
    for (size_t i = 0; text && i < sizeof(families) / sizeof(families[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "# TYPE %s\n", families[i]);
        CHECK(strstr(text, want) != NULL);
    }
    CHECK(text && !strstr(text, "novadraw_http_requests_total{"));
    CHECK(text && strstr(text, "novadraw_jobs_pending{kind=\"upload\"} 2\n"));
    free(text);

    metrics_http(1, 0 /* GET */, 404, 3000000); /* 3 ms */
    metrics_http(99, 2 /* POST */, 418, 20000000000LL); /* unmatched, other, past 10 s */
    metrics_storage("put", ERR_OK);
    metrics_storage("get", ERR_NOT_FOUND);
    metrics_transcription("local", "refused");
    metrics_edit_begin();
    metrics_edit_end("gemini", 1500000000LL);
    CHECK(metrics_render(NULL, &text, &len) == ERR_OK);
    CHECK(text && strstr(text, "novadraw_http_requests_total{method=\"GET\",route=\"/api/drawings/"
                               "{drawing_id}\",status=\"404\"} 1\n"));
    CHECK(text && strstr(text, "novadraw_http_requests_total{method=\"POST\",route=\"unmatched\","
                               "status=\"other\"} 1\n"));
    CHECK(text && strstr(text, "route=\"/api/drawings/{drawing_id}\",le=\"0.0025\"} 0\n"));
    CHECK(text && strstr(text, "route=\"/api/drawings/{drawing_id}\",le=\"0.005\"} 1\n"));
    CHECK(text && strstr(text, "{route=\"unmatched\",le=\"10\"} 0\n"));
    CHECK(text && strstr(text, "{route=\"unmatched\",le=\"+Inf\"} 1\n"));
    CHECK(text && strstr(text, "novadraw_storage_operations_total{op=\"get\",result=\"not_found\"} 1\n"));
    CHECK(text && strstr(text, "novadraw_transcriptions_total{transcriber=\"local\",result=\"refused\"} 1\n"));
    CHECK(text && strstr(text, "novadraw_edit_duration_seconds_count{editor=\"gemini\"} 1\n"));
    CHECK(text && strstr(text, "novadraw_edits_in_flight 0\n"));
    CHECK(text && !strstr(text, "novadraw_jobs_pending{")); /* unknown: family only */
    free(text);
}

int main(void)
{
    test_text();
    test_numbers();
    test_json();
    test_pool_carries_id();
    test_metrics_text();
    return check_summary("log");
}
