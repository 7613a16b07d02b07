/*
 * http_harness.c - see http_harness.h. One server per process, started by the first
 * target's initialiser and never stopped (the process ends with the fuzzer).
 */
#include "http_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "db/db.h"
#include "handlers/handlers.h"
#include "http/server.h"
#include "util/log.h"

#define ANSWER_MAX (256 * 1024)
#define WAIT_MS 5000 /* for the server to answer or close: its HTTP_TIMEOUT is 1 s */
#define QUIET_MS 2

static struct config cfg;
static struct app app;
static struct http_server *server;
static char port_text[16];

static const char *cfg_get(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "PORT") == 0)
        return port_text;
    if (strcmp(name, "HTTP_THREADS") == 0)
        return "2";
    if (strcmp(name, "HTTP_TIMEOUT") == 0)
        return "1"; /* see http_harness_exchange */
    if (strcmp(name, "MAX_UPLOAD_BYTES") == 0 || strcmp(name, "MAX_AUDIO_BYTES") == 0)
        return "65536";
    if (strcmp(name, "JWT_SECRET") == 0)
        return "fuzz-secret-0123456789abcdef-xyz";
    return NULL;
}

/* multipart routes: the fields the upload and edit routes read */
static enum err h_form(struct request *req, struct response *res)
{
    const char *prompt = NULL;
    char tutorial[ID_UUID_LEN];
    bool has_tutorial = false;
    const struct form_field *file = request_field(req, "file"), *audio = request_field(req, "audio");
    bool bad = false;

    bad |= request_form_text(req, "prompt", false, 1, 2000, &prompt) != ERR_OK;
    bad |= request_form_uuid(req, "tutorial_id", tutorial, &has_tutorial) != ERR_OK;
    if (bad)
        return ERR_VALIDATION;
    if (file && file->too_large)
        return request_fail(req, ERR_TOO_LARGE, "File too large");
    return response_json(res, 200,
                         json_pack("{s:I, s:I, s:b}", "file", (json_int_t)(file ? file->len : 0),
                                   "audio", (json_int_t)(audio ? audio->len : 0), "prompt",
                                   prompt != NULL));
}

static enum err h_json(struct request *req, struct response *res)
{
    json_t *doc = NULL;
    const char *text;
    size_t len;
    int64_t n;
    bool present;
    enum err rc = request_json_or_form_body(req, &doc);

    if (rc != ERR_OK)
        return rc;
    request_json_text(req, doc, "email", true, 1, 320, false, &text, &len);
    request_body_int(req, doc, "expires_in", 60, 31536000, &n, &present);
    json_decref(doc);
    if (req->error_list)
        return ERR_VALIDATION;
    return response_detail(res, 200, "ok");
}

static enum err h_gallery(struct request *req, struct response *res)
{
    int64_t page, limit;
    struct gallery_filter f;
    char tutorial[ID_UUID_LEN];
    enum err rc = handlers_gallery_args(req, &page, &limit, &f, tutorial);

    if (rc != ERR_OK)
        return rc;
    if (request_etag_matches(req, "\"abc\"", true)) {
        res->status = 304;
        return ERR_OK;
    }
    response_header(res, "ETag", "\"abc\"");
    return response_detail(res, 200, "ok");
}

static enum err h_item(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    enum err rc = request_uuid(req, "path", "drawing_id", req->params[0], id);

    if (rc != ERR_OK)
        return rc;
    return response_detail(res, 200, id);
}

static const struct route fuzz_routes[] = {
    {HTTP_POST, "/api/drawings", h_form, false, BODY_IMAGE, false},
    {HTTP_POST, "/api/edit-image-with-audio", h_form, false, BODY_IMAGE_AUDIO, false},
    {HTTP_POST, "/api/voice", h_form, false, BODY_AUDIO, false},
    {HTTP_POST, "/api/auth/login", h_json, false, BODY_JSON, false},
    {HTTP_GET, "/api/drawings", h_gallery, false, BODY_NONE, false},
    {HTTP_GET, "/api/drawings/{drawing_id}", h_item, false, BODY_NONE, false},
    {HTTP_DELETE, "/api/drawings/{drawing_id}", h_item, true, BODY_NONE, false},
    {HTTP_GET, "/s/{token}", h_item, false, BODY_NONE, true},
};

void http_harness_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FILE *errs = stderr;

    if (server)
        return;
    log_set_level(LOG_ERROR);
    /* a free port: the kernel's pick, released for the server to take */
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        abort();
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)ntohs(sa.sin_port));
    close(fd);
    if (config_load(&cfg, cfg_get, NULL, errs) != 0)
        abort();
    app.cfg = &cfg;
    if (auth_open(&cfg, false, &app.auth) != ERR_OK)
        abort();
    if (http_server_start(&app, fuzz_routes, sizeof(fuzz_routes) / sizeof(fuzz_routes[0]),
                          &server) != ERR_OK)
        abort();
}

static int connect_server(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        abort();
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINTR)
            abort();
    }
    return fd;
}

static void fail_answer(const char *why, const char *a, size_t n)
{
    fprintf(stderr, "http_harness: %s: %.*s\n", why, (int)(n < 400 ? n : 400), a);
    abort();
}

/*
 * Each answer in buf starts with a status line. One of ours (it carries X-Request-Id)
 * is JSON unless it is a 304. One without is libmicrohttpd's own, sent before our code
 * sees the request: the library's compiled-in HTML pages for a malformed request (400),
 * a head too large (413/414/431) and the like cannot be replaced in 0.9.75, so only
 * their status is checked: an error, never a success.
 */
static void check_answers(const char *buf, size_t n)
{
    const char *a = buf, *end = buf + n;

    if (n == 0)
        return; /* the server may close without a word (a body without end) */
    if (n < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
        fail_answer("not an HTTP answer", buf, n);
    while (a < end) {
        const char *next = memmem(a + 1, (size_t)(end - a - 1), "\nHTTP/1.", 8);
        size_t len = next ? (size_t)(next + 1 - a) : (size_t)(end - a);
        const char *head_end = memmem(a, len, "\r\n\r\n", 4);
        size_t head = head_end ? (size_t)(head_end - a) : len;
        int status = len > 12 ? atoi(a + 9) : 0;

        if (memmem(a, head, "X-Request-Id:", 13)) {
            if (status != 304 && !memmem(a, head, "Content-Type: application/json", 30))
                fail_answer("an answer of ours that is not JSON", a, len);
        } else if (status < 400) {
            fail_answer("a success that is not ours", a, len);
        }
        a += len;
    }
}

/* Reads what is there into buf (wrapping at its end); false at the end of the stream. */
static bool read_some(int fd, char *buf, size_t *got)
{
    ssize_t n = recv(fd, buf + *got, ANSWER_MAX - *got, 0);

    if (n <= 0)
        return false;
    *got += (size_t)n;
    if (*got == ANSWER_MAX)
        *got = 0; /* a long pipeline: keep reading, check the last part only */
    return true;
}

/*
 * Three phases: send (reading meanwhile: a server answering early must not deadlock
 * us), wait until the server has been quiet for QUIET_MS, then half-close and read
 * until it closes. The pause matters: MHD's edge-triggered epoll misses a FIN that
 * arrives in one read with the last bytes sent, and keeps the connection until its
 * timeout (1 s here).
 */
void http_harness_exchange(const uint8_t *data, size_t size)
{
    static char buf[ANSWER_MAX];
    int fd = connect_server();
    size_t sent = 0, got = 0;
    struct pollfd p = {.fd = fd};
    bool open = true;

    while (open && sent < size) {
        p.events = POLLIN | POLLOUT;
        if (poll(&p, 1, WAIT_MS) <= 0)
            break;
        if (p.revents & POLLOUT) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n < 0 && errno != EINTR && errno != EAGAIN)
                break; /* the server closed: read what it said */
            if (n > 0)
                sent += (size_t)n;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            open = read_some(fd, buf, &got);
    }
    p.events = POLLIN;
    while (open && poll(&p, 1, QUIET_MS) > 0)
        open = read_some(fd, buf, &got);
    shutdown(fd, SHUT_WR);
    while (open) {
        if (poll(&p, 1, WAIT_MS) <= 0) {
            /* a known libmicrohttpd 0.9.75 defect, seen only under load: a connection
             * whose last bytes and FIN came in one read is neither answered nor closed
             * by its timeout nor by the watchdog's shutdown(); reported, not fatal
             * (tests/fuzz/README.md) */
            fprintf(stderr, "http_harness: not closed within %d ms of the FIN\n", WAIT_MS);
            break;
        }
        open = read_some(fd, buf, &got);
    }
    close(fd);
    if (getenv("FUZZ_HTTP_PRINT")) /* to see what the server said to an input */
        fprintf(stderr, "%.*s\n----\n", (int)got, buf);
    check_answers(buf, got);
}
