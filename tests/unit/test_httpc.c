/*
 * test_httpc.c - the HTTP client's retry policy (what is retried, the back-off), what a
 * failed answer means (httpc_failure), and a retried call against a refused port: done
 * runs once, after every attempt; a shutdown answers a waiting request once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "util/httpc.h"

/* ---- policy ---- */

static void test_retryable(void)
{
    struct httpc_response r = {.transport = ERR_OK};
    const long yes[] = {429, 500, 503, 504};
    const long no[] = {200, 204, 400, 404, 501, 502};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        r.status = yes[i];
        CHECK(httpc_retryable(&r));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        r.status = no[i];
        CHECK(!httpc_retryable(&r));
    }
    r.status = 0;
    r.transport = ERR_UPSTREAM;
    CHECK(httpc_retryable(&r));
    r.transport = ERR_TIMEOUT;
    CHECK(!httpc_retryable(&r));
    r.transport = ERR_UNAVAILABLE;
    CHECK(!httpc_retryable(&r));
}

static void test_backoff(void)
{
    for (int i = 0; i < 50; i++) {
        long first = httpc_backoff_ms(1, NULL), late = httpc_backoff_ms(20, NULL);
        CHECK(first >= 250 && first <= 500);
        CHECK(late >= 8000 && late <= 16000);
    }
    CHECK_EQ_INT(httpc_backoff_ms(1, "3"), 3000);
    CHECK_EQ_INT(httpc_backoff_ms(1, "0"), 0);
    CHECK(httpc_backoff_ms(1, "31") <= 500);   /* too long a wait: ours instead */
    CHECK(httpc_backoff_ms(1, "soon") <= 500); /* not a number of seconds */
    CHECK(httpc_backoff_ms(1, "-1") <= 500);
}

static void test_failure(void)
{
    struct httpc_response r = {.transport = ERR_TIMEOUT};
    char why[160], tiny[8];

    CHECK_EQ_INT(httpc_failure(&r, "The AI service", NULL, why, sizeof(why)), ERR_TIMEOUT);
    CHECK_EQ_STR(why, "The AI service timed out");
    r.transport = ERR_UPSTREAM;
    CHECK_EQ_INT(httpc_failure(&r, "The AI service", NULL, why, sizeof(why)), ERR_UPSTREAM);
    CHECK_EQ_STR(why, "The AI service did not answer");
    r.transport = ERR_UNAVAILABLE;
    CHECK_EQ_INT(httpc_failure(&r, "The AI service", "", why, sizeof(why)), ERR_UNAVAILABLE);
    CHECK_EQ_STR(why, "The AI service did not answer");
    r.transport = ERR_OK;
    r.status = 429;
    CHECK_EQ_INT(httpc_failure(&r, "The AI service", "RESOURCE_EXHAUSTED", why, sizeof(why)),
                 ERR_BUSY);
    CHECK_EQ_STR(why, "The AI service is busy, try again shortly (HTTP 429 RESOURCE_EXHAUSTED)");
    r.status = 504;
    CHECK_EQ_INT(httpc_failure(&r, "The transcription service", NULL, why, sizeof(why)),
                 ERR_TIMEOUT);
    CHECK_EQ_STR(why, "The transcription service failed (HTTP 504)");
    r.status = 400;
    CHECK_EQ_INT(httpc_failure(&r, "X", "INVALID_ARGUMENT", why, sizeof(why)), ERR_UPSTREAM);
    CHECK_EQ_STR(why, "X failed (HTTP 400 INVALID_ARGUMENT)");
    CHECK_EQ_INT(httpc_failure(&r, "The AI service", NULL, tiny, sizeof(tiny)), ERR_UPSTREAM);
    CHECK_EQ_STR(tiny, "The AI "); /* truncated to 7 bytes, terminated */
}

/* ---- a retried call ---- */

struct outcome {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls; /* how often done ran */
    enum err transport;
    int attempts;
};

static void on_done(void *arg, struct httpc_response *res)
{
    struct outcome *o = arg;

    pthread_mutex_lock(&o->mu);
    o->calls++;
    o->transport = res->transport;
    o->attempts = res->attempts;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    httpc_response_free(res);
}

static void wait_done(struct outcome *o)
{
    pthread_mutex_lock(&o->mu);
    while (o->calls == 0)
        pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
}

/* A local port nothing listens on: bound, then closed. 0 if none could be had. */
static int refused_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void test_retried_call(void)
{
    struct httpc *c = NULL;
    struct outcome o = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    struct outcome waiting = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    char url[64];
    int port = refused_port();
    struct httpc_request req = {
        .method = "POST",
        .url = url,
        .headers = {"Content-Type: text/plain", NULL},
        .body = "x",
        .body_len = 1,
        .timeout_ms = 5000,
        .attempts = 3,
        .service = "test",
    };

    CHECK(port > 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    CHECK_EQ_INT(httpc_open(0, &c), ERR_OK);
    if (!c)
        return;
    /* refused three times, with two back-offs (0.75 to 1.5 s) in between */
    CHECK_EQ_INT(httpc_submit(c, &req, 0, on_done, &o), ERR_OK);
    wait_done(&o);
    CHECK_EQ_INT(o.transport, ERR_UPSTREAM);
    CHECK_EQ_INT(o.attempts, 3);

    /* a request still waiting when the client shuts down is answered, once */
    req.attempts = 0;
    CHECK_EQ_INT(httpc_submit(c, &req, 60000, on_done, &waiting), ERR_OK);
    httpc_shutdown(c);
    wait_done(&waiting);
    CHECK_EQ_INT(waiting.transport, ERR_UNAVAILABLE);
    CHECK_EQ_INT(waiting.attempts, 0);
    CHECK_EQ_INT(httpc_submit(c, &req, 0, on_done, &waiting), ERR_UNAVAILABLE);
    httpc_close(c);
    CHECK_EQ_INT(o.calls, 1);
    CHECK_EQ_INT(waiting.calls, 1);
}

int main(void)
{
    test_retryable();
    test_backoff();
    test_failure();
    test_retried_call();
    return check_summary("httpc");
}
