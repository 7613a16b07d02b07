/*
 * ops_bench.c - what operating costs per request, measured without a server: one
 * metrics_http() call (one thread, then two threads on the same route: the worst
 * case for the shared counters), and one access-log record written to /dev/null and
 * down a pipe a reader drains. Prints nanoseconds per call.
 *   build/ops_bench [ITERATIONS]   (default 2,000,000)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"
#include "util/log.h"
#include "util/timefmt.h"

static long iterations = 2000000;

static void *count(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++)
        metrics_http(3, 0, 200, 1500000 + i % 1000);
    return NULL;
}

static double per_call(int64_t t0, long n)
{
    return (double)(time_mono_ns() - t0) / (double)n;
}

static void *drain(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    return NULL;
}

static void access_line(void)
{
    const struct log_field f[] = {
        {"method", "GET", 0}, {"route", "/api/drawings/gallery", 0}, {"status", NULL, 200},
        {"bytes", NULL, 9162}, {"ms", NULL, 1.37}, {"user", "550e8400-e29b-41d4-a716-446655440001", 0},
    };
    log_fields(LOG_INFO, "request", f, 6);
}

int main(int argc, char **argv)
{
    static const char *const routes[] = {"/health", "/a", "/b", "/api/drawings/gallery"};
    pthread_t t[2], reader;
    int null_fd, p[2];
    long lines = iterations / 10;
    int64_t t0;

    if (argc > 1)
        iterations = atol(argv[1]);
    metrics_routes(routes, 4);
    log_set_request("bench-request-id");

    t0 = time_mono_ns();
    count(NULL);
    printf("metrics_http, 1 thread:            %6.1f ns/call\n", per_call(t0, iterations));
    t0 = time_mono_ns();
    pthread_create(&t[0], NULL, count, NULL);
    pthread_create(&t[1], NULL, count, NULL);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    printf("metrics_http, 2 threads, 1 route:  %6.1f ns/call (wall time / calls per thread)\n",
           per_call(t0, iterations));

    null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDERR_FILENO);
    for (int fmt = 0; fmt < 2; fmt++) {
        log_set_format(fmt ? LOG_JSON : LOG_TEXT);
        t0 = time_mono_ns();
        for (long i = 0; i < lines; i++)
            access_line();
        printf("access line (%s) to /dev/null:   %6.1f ns/line\n", fmt ? "json" : "text",
               per_call(t0, lines));
    }
    if (pipe(p) == 0) {
        pthread_create(&reader, NULL, drain, &p[0]);
        dup2(p[1], STDERR_FILENO);
        log_set_format(LOG_TEXT);
        t0 = time_mono_ns();
        for (long i = 0; i < lines; i++)
            access_line();
        printf("access line (text) down a pipe:    %6.1f ns/line\n", per_call(t0, lines));
        dup2(null_fd, STDERR_FILENO);
        close(p[1]);
        pthread_join(reader, NULL);
    }
    return 0;
}
