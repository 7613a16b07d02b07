/*
 * request.c - the handler-facing helpers of struct request and struct response,
 * and the one place an enum err becomes an HTTP status and a FastAPI-shaped body.
 * Pure (no I/O); each request is used by one thread at a time.
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"

/* Repeated names: the last one wins, as in Starlette's multi-dicts. */
const char *request_query(const struct request *req, const char *key)
{
    for (size_t i = req->n_query; i-- > 0;)
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value;
    return NULL;
}

const struct form_field *request_field(const struct request *req, const char *name)
{
    for (size_t i = req->n_fields; i-- > 0;)
        if (strcmp(req->fields[i].name, name) == 0)
            return &req->fields[i];
    return NULL;
}

enum err request_fail(struct request *req, enum err err, const char *detail)
{
    req->error_detail = detail;
    return err;
}

enum err request_fail_token(struct request *req, bool expired)
{
    req->error_challenge = expired ? "Bearer error=\"invalid_token\", "
                                     "error_description=\"The access token expired\""
                                   : "Bearer error=\"invalid_token\"";
    return request_fail(req, ERR_UNAUTHORIZED, "Could not validate credentials");
}

/* Appends entry (stolen) to the 422 list. An entry that could not be built (NULL: out
 * of memory, or a string jansson refused) is never dropped quietly: the list is marked
 * lost, and response_error answers 500 rather than a 422 that leaves something out. */
static enum err add_invalid(struct request *req, json_t *entry)
{
    if (!req->error_list)
        req->error_list = json_array();
    if (!req->error_list || !entry || json_array_append_new(req->error_list, entry) != 0)
        req->error_list_lost = true;
    if (!req->error_list)
        json_decref(entry);
    return ERR_VALIDATION;
}

enum err request_invalid(struct request *req, const char *where, const char *name, const char *msg,
                         const char *type)
{
    return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:n}", "type", type, "loc", where, name,
                                      "msg", msg, "input"));
}

enum err request_invalid_entry(struct request *req, json_t *entry)
{
    return add_invalid(req, entry);
}

/* The length rules of a text field at ["body", name] (too_large: more than max
 * bytes arrived and were dropped); secret: the input is never echoed. */
static enum err text_ok(struct request *req, const char *name, const unsigned char *data,
                        size_t len, bool too_large, size_t min, size_t max, bool secret)
{
    long long chars = too_large ? (long long)max + 1 : utf8_count(data, len);
    char msg[96];

    if (chars < 0)
        return request_invalid(req, "body", name, "Input should be a valid string", "string_type");
    if ((size_t)chars < min) {
        snprintf(msg, sizeof(msg), "String should have at least %zu character%s", min,
                 min == 1 ? "" : "s");
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s?, s:{s:I}}", "type",
                                          "string_too_short", "loc", "body", name, "msg", msg,
                                          "input", secret ? NULL : (const char *)data, "ctx",
                                          "min_length", (json_int_t)min));
    }
    if ((size_t)chars > max) {
        /* the input is not echoed: it may be megabytes */
        snprintf(msg, sizeof(msg), "String should have at most %zu character%s", max,
                 max == 1 ? "" : "s");
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:{s:I}}", "type", "string_too_long",
                                          "loc", "body", name, "msg", msg, "ctx", "max_length",
                                          (json_int_t)max));
    }
    return ERR_OK;
}

enum err request_form_text(struct request *req, const char *name, bool required, size_t min,
                           size_t max, const char **out)
{
    const struct form_field *f = request_field(req, name);
    enum err rc;

    *out = NULL;
    if (!f || (!f->too_large && f->len == 0)) {
        if (!required)
            return ERR_OK;
        return request_invalid(req, "body", name, "Field required", "missing");
    }
    rc = text_ok(req, name, f->data, f->len, f->too_large, min, max, false);
    if (rc == ERR_OK)
        *out = (const char *)f->data;
    return rc;
}

enum err request_json_text(struct request *req, json_t *doc, const char *name, bool required,
                           size_t min, size_t max, bool secret, const char **out, size_t *len)
{
    json_t *v = json_object_get(doc, name);
    enum err rc;

    *out = NULL;
    *len = 0;
    if (!v || json_is_null(v)) {
        if (!required)
            return ERR_OK;
        return request_invalid(req, "body", name, "Field required", "missing");
    }
    if (!json_is_string(v))
        return request_invalid(req, "body", name, "Input should be a valid string", "string_type");
    rc = text_ok(req, name, (const unsigned char *)json_string_value(v), json_string_length(v),
                 false, min, max, secret);
    if (rc == ERR_OK) {
        *out = json_string_value(v);
        *len = json_string_length(v);
    }
    return rc;
}

/* The length of the UTF-8 sequence lead byte c starts, and the range of its second
 * byte (Unicode Table 3-7); 0 for a byte that starts none. */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            *lo = 0xa0; /* no overlong forms */
        if (c == 0xed)
            *hi = 0x9f; /* no surrogates */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            *lo = 0x90; /* no overlong forms */
        if (c == 0xf4)
            *hi = 0x8f; /* nothing past U+10FFFF */
        return 4;
    }
    return 0;
}

/*
 * s as an entry's "input": itself when it is UTF-8, else a copy (in the request's
 * arena) with each ill-formed sequence replaced by U+FFFD, one per maximal subpart
 * (Unicode 3.9), as Python's errors="replace" decodes it - what Starlette does to a
 * query string. jansson refuses strings that are not UTF-8, and an entry it refused
 * was lost from the 422 list ("?page=%ff" answered {"detail": []}). NULL stays NULL.
 */
static const char *input_utf8(struct request *req, const char *s)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    size_t n, k = 0;
    char *out;

    if (!s)
        return NULL;
    n = strlen(s);
    if (utf8_count((const unsigned char *)s, n) >= 0)
        return s;
    out = req->arena && n <= (SIZE_MAX - 1) / 3 ? arena_alloc(req->arena, 3 * n + 1) : NULL;
    if (!out)
        return replacement; /* out of memory: the entry still shows something was there */
    for (size_t i = 0; i < n;) {
        unsigned char lo, hi;
        size_t len = utf8_lead((unsigned char)s[i], &lo, &hi), good = 1;

        while (good < len && i + good < n) {
            unsigned char b = (unsigned char)s[i + good];
            if (good == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                break;
            good++;
        }
        if (len > 0 && good == len) {
            memcpy(out + k, s + i, len);
            k += len;
        } else {
            memcpy(out + k, replacement, 3);
            k += 3;
        }
        i += good; /* a bad lead byte alone, or the valid prefix of a cut sequence */
    }
    out[k] = '\0';
    return out;
}

/* Pydantic's lax int from a string: optional whitespace and sign, decimal digits. */
static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    if (!*s || !(isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return false;
    if (errno == ERANGE)
        v = v < 0 ? INT64_MIN : INT64_MAX; /* huge but well-formed: let the range speak */
    *out = v;
    return true;
}

enum err request_query_int(struct request *req, const char *name, int64_t def, int64_t min,
                           int64_t max, int64_t *out)
{
    const char *raw = request_query(req, name);
    int64_t v;
    char msg[96];

    if (!raw) {
        *out = def;
        return ERR_OK;
    }
    if (!parse_int(raw, &v))
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s}", "type", "int_parsing", "loc",
                                          "query", name, "msg",
                                          "Input should be a valid integer, unable to parse "
                                          "string as an integer",
                                          "input", input_utf8(req, raw)));
    if (v < min) {
        snprintf(msg, sizeof(msg), "Input should be greater than or equal to %lld", (long long)min);
        return add_invalid(req,
                           json_pack("{s:s, s:[s,s], s:s, s:s, s:{s:I}}", "type",
                                     "greater_than_equal", "loc", "query", name, "msg", msg,
                                     "input", input_utf8(req, raw), "ctx", "ge", (json_int_t)min));
    }
    if (v > max) {
        snprintf(msg, sizeof(msg), "Input should be less than or equal to %lld", (long long)max);
        return add_invalid(req,
                           json_pack("{s:s, s:[s,s], s:s, s:s, s:{s:I}}", "type", "less_than_equal",
                                     "loc", "query", name, "msg", msg, "input",
                                     input_utf8(req, raw), "ctx", "le", (json_int_t)max));
    }
    *out = v;
    return ERR_OK;
}

/* ---- more query readers ----------------------------------------------- */

enum err request_query_bool(struct request *req, const char *name, int *out)
{
    static const char *const yes[] = {"1", "on", "t", "true", "y", "yes"};
    static const char *const no[] = {"0", "off", "f", "false", "n", "no"};
    const char *raw = request_query(req, name);

    *out = -1;
    if (!raw)
        return ERR_OK;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(raw, yes[i]) == 0) {
            *out = 1;
            return ERR_OK;
        }
        if (strcasecmp(raw, no[i]) == 0) {
            *out = 0;
            return ERR_OK;
        }
    }
    return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s}", "type", "bool_parsing", "loc",
                                      "query", name, "msg",
                                      "Input should be a valid boolean, unable to interpret input",
                                      "input", input_utf8(req, raw)));
}

enum err request_query_choice(struct request *req, const char *name, const char *const *choices,
                              size_t n, size_t def, size_t *out)
{
    const char *raw = request_query(req, name);
    char *expected = "", *msg;

    if (!raw) {
        *out = def;
        return ERR_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(raw, choices[i]) == 0) {
            *out = i;
            return ERR_OK;
        }
    }
    /* pydantic: 'a', 'b' or 'c' */
    for (size_t i = 0; i < n && expected; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        expected = arena_printf(req->arena, "%s%s'%s'", expected, sep, choices[i]);
    }
    msg = expected ? arena_printf(req->arena, "Input should be %s", expected) : NULL;
    if (!msg)
        return ERR_NOMEM;
    return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s, s:{s:s}}", "type", "literal_error",
                                      "loc", "query", name, "msg", msg, "input",
                                      input_utf8(req, raw), "ctx", "expected", expected));
}

/* Reads exactly n decimal digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/*
 * The moment s names, in ms (rounded up), or the reason it names none, in
 * speedate's words (pydantic's datetime parser); *naive: a date-time without offset.
 */
static const char *parse_datetime(const char *s, int64_t *out, bool *naive)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
    int64_t ms, frac_ms = 0;
    bool round_up = false;

    *naive = false;
    if (strlen(s) < 10)
        return "input is too short";
    if (!digits(&p, 4, &y))
        return "invalid character in year";
    if (*p++ != '-')
        return "invalid date separator, expected `-`";
    if (!digits(&p, 2, &mo))
        return "invalid character in month";
    if (*p++ != '-')
        return "invalid date separator, expected `-`";
    if (!digits(&p, 2, &d))
        return "invalid character in day";
    if (mo < 1 || mo > 12)
        return "month value is outside expected range of 1-12";
    if (y < 1)
        return "year value is outside expected range"; /* year 0 */
    if (d < 1 || d > days_in_month(y, mo))
        return "day value is outside expected range";
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ' && *p != '_')
            return "invalid datetime separator, expected `T`, `t`, `_` or space";
        p++;
        if (!digits(&p, 2, &h))
            return "invalid character in hour";
        if (*p++ != ':')
            return "invalid time separator, expected `:`";
        if (!digits(&p, 2, &mi))
            return "invalid character in minute";
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return "invalid character in second";
            if (*p == '.' || *p == ',') {
                int n = 0;
                p++;
                if (!isdigit((unsigned char)*p))
                    return "invalid character in second fraction";
                for (; isdigit((unsigned char)*p); p++, n++) {
                    if (n < 3)
                        frac_ms = frac_ms * 10 + (*p - '0');
                    else if (*p != '0')
                        round_up = true;
                }
                if (n > 9)
                    return "second fraction value is more than 9 digits long";
                for (; n < 3; n++)
                    frac_ms *= 10;
            }
        }
        if (h > 23)
            return "hour value is outside expected range of 0-23";
        if (mi > 59)
            return "minute value is outside expected range of 0-59";
        if (sec > 59)
            return "second value is outside expected range of 0-59";
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
            if (!digits(&p, 2, &oh))
                return "invalid timezone hour";
            if (*p == ':')
                p++;
            if (!digits(&p, 2, &om))
                return "invalid timezone minute";
            if (oh > 23 || om > 59)
                return "timezone offset must be less than 24 hours";
        } else if (*p == '\0') {
            *naive = true;
        } else {
            return "invalid timezone sign";
        }
        if (*p)
            return "unexpected extra characters at the end of the input";
    }
    ms = days_from_civil(y, mo, d) * 86400000LL +
         ((int64_t)h * 3600 + (int64_t)mi * 60 + sec) * 1000 + frac_ms;
    ms -= (int64_t)sign * ((int64_t)oh * 3600 + (int64_t)om * 60) * 1000;
    *out = ms + (round_up ? 1 : 0);
    return NULL;
}

enum err request_query_datetime(struct request *req, const char *name, int64_t def, int64_t *out)
{
    const char *raw = request_query(req, name), *why;
    int64_t v = 0;
    bool naive = false;
    char *msg;

    if (!raw) {
        *out = def;
        return ERR_OK;
    }
    why = parse_datetime(raw, &v, &naive);
    if (why) {
        msg = arena_printf(req->arena, "Input should be a valid datetime or date, %s", why);
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s, s:{s:s}}", "type",
                                          "datetime_from_date_parsing", "loc", "query", name, "msg",
                                          msg ? msg : "Input should be a valid datetime or date",
                                          "input", input_utf8(req, raw), "ctx", "error", why));
    }
    if (naive)
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s}", "type", "timezone_aware",
                                          "loc", "query", name, "msg",
                                          "Input should have timezone info", "input",
                                          input_utf8(req, raw)));
    *out = v;
    return ERR_OK;
}

enum err request_query_text(struct request *req, const char *name, size_t min, size_t max,
                            const char **out)
{
    const char *raw = request_query(req, name), *text;
    long long chars;
    char msg[96];

    *out = NULL;
    if (!raw)
        return ERR_OK;
    text = input_utf8(req, raw);
    chars = utf8_count((const unsigned char *)text, strlen(text));
    if (chars >= 0 && (size_t)chars < min) {
        snprintf(msg, sizeof(msg), "String should have at least %zu character%s", min,
                 min == 1 ? "" : "s");
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s, s:{s:I}}", "type",
                                          "string_too_short", "loc", "query", name, "msg", msg,
                                          "input", text, "ctx", "min_length", (json_int_t)min));
    }
    if (chars < 0 || (size_t)chars > max) {
        /* the input is not echoed: it may be long */
        snprintf(msg, sizeof(msg), "String should have at most %zu character%s", max,
                 max == 1 ? "" : "s");
        return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:{s:I}}", "type", "string_too_long",
                                          "loc", "query", name, "msg", msg, "ctx", "max_length",
                                          (json_int_t)max));
    }
    *out = text;
    return ERR_OK;
}

/* The opaque tag of an entity tag (its quoted part), W/ dropped; len 0 if malformed. */
static const char *opaque_tag(const char *t, size_t n, size_t *len)
{
    *len = 0;
    if (n >= 2 && t[0] == 'W' && t[1] == '/') {
        t += 2;
        n -= 2;
    }
    if (n < 2 || t[0] != '"' || t[n - 1] != '"')
        return t;
    *len = n;
    return t;
}

bool request_etag_matches(const struct request *req, const char *etag, bool star)
{
    const char *h = req->if_none_match, *want;
    size_t want_len;

    if (!h || !etag)
        return false;
    want = opaque_tag(etag, strlen(etag), &want_len);
    if (want_len == 0)
        return false;
    while (*h) {
        const char *start, *end;
        size_t len;

        while (*h == ' ' || *h == '\t' || *h == ',')
            h++;
        start = h;
        /* a tag runs to the comma after its closing quote (commas may sit inside) */
        if (h[0] == 'W' && h[1] == '/')
            h += 2;
        if (*h == '"') {
            const char *close = strchr(h + 1, '"');
            h = close ? close + 1 : h + strlen(h);
        }
        while (*h && *h != ',')
            h++;
        end = h;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end - start == 1 && *start == '*') {
            if (star)
                return true;
            continue;
        }
        const char *tag = opaque_tag(start, (size_t)(end - start), &len);
        if (len > 0 && len == want_len && memcmp(tag, want, len) == 0)
            return true;
    }
    return false;
}

enum err request_uuid(struct request *req, const char *where, const char *name, const char *raw,
                      char out[ID_UUID_LEN])
{
    if (raw && id_uuid_parse(raw, strlen(raw), out))
        return ERR_OK;
    return add_invalid(req, json_pack("{s:s, s:[s,s], s:s, s:s?}", "type", "uuid_parsing", "loc",
                                      where, name, "msg", "Input should be a valid UUID", "input",
                                      input_utf8(req, raw)));
}

void response_header(struct response *res, const char *name, const char *value)
{
    if (value && res->n_headers < RESPONSE_MAX_HEADERS) {
        res->headers[res->n_headers].name = name;
        res->headers[res->n_headers].value = value;
        res->n_headers++;
    }
}

enum err response_json(struct response *res, int status, json_t *body)
{
    char *text;

    if (!body)
        return ERR_NOMEM;
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return ERR_NOMEM;
    free(res->body);
    res->body = text;
    res->body_len = strlen(text);
    res->status = status;
    res->content_type = "application/json";
    return ERR_OK;
}

enum err response_jsonw(struct response *res, int status, struct jsonw *w)
{
    size_t len = 0;
    char *text = jsonw_finish(w, &len);

    if (!text)
        return ERR_NOMEM;
    free(res->body);
    res->body = text;
    res->body_len = len;
    res->status = status;
    res->content_type = "application/json";
    return ERR_OK;
}

enum err response_detail(struct response *res, int status, const char *detail)
{
    return response_json(res, status, json_pack("{s:s}", "detail", detail));
}

static int status_of(enum err err, const char **detail)
{
    switch (err) {
    case ERR_INVALID:
        *detail = "Bad request";
        return 400;
    case ERR_UNSUPPORTED:
        *detail = "Unsupported file";
        return 400;
    case ERR_UNAUTHORIZED:
        *detail = "Could not validate credentials";
        return 401;
    case ERR_NOT_FOUND:
        *detail = "Not Found";
        return 404;
    case ERR_CONFLICT:
        *detail = "Conflict";
        return 409;
    case ERR_FORBIDDEN:
        *detail = "Forbidden";
        return 403;
    case ERR_RATE_LIMITED:
        *detail = "Too many requests";
        return 429;
    case ERR_TOO_LARGE:
        *detail = "Request body too large";
        return 413;
    case ERR_VALIDATION:
        *detail = "Validation error";
        return 422;
    case ERR_REFUSED:
        *detail = "The request was refused";
        return 422;
    case ERR_UPSTREAM:
        *detail = "The upstream service failed";
        return 502;
    case ERR_BUSY:
        *detail = "The server is busy, try again shortly";
        return 503;
    case ERR_UNAVAILABLE:
        *detail = "Service unavailable";
        return 503;
    case ERR_TIMEOUT:
        *detail = "The upstream service timed out";
        return 504;
    case ERR_OK: /* not an error: a handler bug if it gets here */
    case ERR_NOMEM:
    case ERR_INTERNAL:
        break;
    }
    *detail = "Internal Server Error";
    return 500;
}

void response_error(struct request *req, struct response *res, enum err err)
{
    const char *detail;
    int status = status_of(err, &detail);
    enum err rc;

    if (req->error_detail && status != 500)
        detail = req->error_detail;
    res->n_headers = 0;
    if (err == ERR_VALIDATION && req->error_list_lost) {
        rc = ERR_NOMEM; /* a 422 that lists only some of what is wrong is not sent */
    } else if (err == ERR_VALIDATION && req->error_list) {
        rc = response_json(res, status, json_pack("{s:O}", "detail", req->error_list));
    } else if (req->error_transcription && !req->error_drawing_id) {
        rc = response_json(
            res, status,
            json_pack("{s:s, s:s}", "detail", detail, "transcription", req->error_transcription));
    } else if (req->error_drawing_id) {
        rc = response_json(
            res, status,
            json_pack("{s:s, s:s}", "detail", detail, "drawing_id", req->error_drawing_id));
    } else {
        rc = response_detail(res, status, detail);
    }
    if (rc != ERR_OK) {
        /* out of memory while reporting: a static body, still valid JSON */
        static const char oom[] = "{\"detail\":\"Internal Server Error\"}";
        free(res->body);
        res->body = strdup(oom);
        res->body_len = res->body ? sizeof(oom) - 1 : 0;
        res->status = 500;
        res->content_type = "application/json";
        return;
    }
    if (status == 401)
        response_header(res, "WWW-Authenticate",
                        req->error_challenge ? req->error_challenge : "Bearer");
    if (err == ERR_BUSY)
        response_header(res, "Retry-After", "1");
}

enum err request_form_uuid(struct request *req, const char *name, char out[ID_UUID_LEN],
                           bool *present)
{
    const struct form_field *f = request_field(req, name);

    *present = false;
    if (!f || (!f->too_large && f->len == 0))
        return ERR_OK;
    if (f->too_large || !f->data || strlen((const char *)f->data) != f->len)
        return request_invalid(req, "body", name, "Input should be a valid UUID", "uuid_parsing");
    *present = true;
    return request_uuid(req, "body", name, (const char *)f->data, out);
}

/* application/json, or a +json type, whatever its parameters */
static bool is_json_type(const char *ct)
{
    size_t n;

    if (!ct)
        return false;
    n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
        return true;
    return n > 5 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

enum err request_json_body(struct request *req, json_t **out)
{
    json_error_t error;
    json_t *doc;

    *out = NULL;
    if (!req->body || req->body_len == 0)
        return add_invalid(req, json_pack("{s:s, s:[s], s:s, s:n}", "type", "missing", "loc",
                                          "body", "msg", "Field required", "input"));
    if (!is_json_type(req->content_type))
        return add_invalid(req, json_pack("{s:s, s:[s], s:s, s:n}", "type", "model_attributes_type",
                                          "loc", "body", "msg",
                                          "Input should be a valid dictionary or object to "
                                          "extract fields from",
                                          "input"));
    /* the whole body, NUL bytes included: a NUL inside is malformed, not an early end */
    doc = json_loadb((const char *)req->body, req->body_len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!doc)
        return add_invalid(req,
                           json_pack("{s:s, s:[s,I], s:s, s:{}, s:{s:s}}", "type", "json_invalid",
                                     "loc", "body", (json_int_t)error.position, "msg",
                                     "JSON decode error", "input", "ctx", "error", "Invalid JSON"));
    if (!json_is_object(doc)) {
        json_decref(doc);
        return add_invalid(req, json_pack("{s:s, s:[s], s:s, s:n}", "type", "model_attributes_type",
                                          "loc", "body", "msg",
                                          "Input should be a valid dictionary or object to "
                                          "extract fields from",
                                          "input"));
    }
    *out = doc;
    return ERR_OK;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one application/x-www-form-urlencoded name or value (n bytes at s) into out
 * (room for n + 1); '+' is a space, a bad escape is kept as it is. Returns its length. */
static size_t form_unescape(const unsigned char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && (hi = hex_digit(s[i + 1])) >= 0 &&
                   (lo = hex_digit(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (char)s[i];
        }
    }
    out[o] = '\0';
    return o;
}

enum err request_json_or_form_body(struct request *req, json_t **out)
{
    const char *ct = req->content_type;
    size_t n = strcspn(ct ? ct : "", ";");
    const unsigned char *p, *end;
    json_t *doc;
    char *buf;

    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (!ct || n != strlen("application/x-www-form-urlencoded") ||
        strncasecmp(ct, "application/x-www-form-urlencoded", n) != 0)
        return request_json_body(req, out);
    *out = NULL;
    doc = json_object();
    buf = arena_alloc(req->arena, req->body_len + 2); /* a name, a value, two NULs */
    if (!doc || !buf) {
        json_decref(doc);
        return ERR_NOMEM;
    }
    p = req->body ? req->body : (const unsigned char *)"";
    end = p + req->body_len;
    while (p < end) {
        const unsigned char *amp = memchr(p, '&', (size_t)(end - p));
        const unsigned char *pair_end = amp ? amp : end;
        const unsigned char *eq = memchr(p, '=', (size_t)(pair_end - p));
        size_t name_len, value_len;
        char *name = buf, *value;

        if (pair_end > p) {
            name_len = form_unescape(p, (size_t)((eq ? eq : pair_end) - p), name);
            value = name + name_len + 1;
            value_len = eq ? form_unescape(eq + 1, (size_t)(pair_end - eq - 1), value) : 0;
            if (!eq)
                value[0] = '\0';
            /* a name or value that is not UTF-8 (or holds NUL) is skipped or null: the
             * field is then missing or not a string, as the JSON route would say */
            if (strlen(name) == name_len && utf8_count((const unsigned char *)name, name_len) >= 0) {
                json_t *v = utf8_count((const unsigned char *)value, value_len) >= 0
                                ? json_stringn(value, value_len)
                                : json_integer(0);
                if (!v || json_object_set_new(doc, name, v) != 0) {
                    json_decref(doc);
                    return ERR_NOMEM;
                }
            }
        }
        p = pair_end + (amp ? 1 : 0);
    }
    *out = doc;
    return ERR_OK;
}

/* A 422 entry at ["body", name] echoing input (borrowed), with ctx {ctx_key: ctx_val}
 * when ctx_key is given. */
static enum err body_invalid(struct request *req, const char *name, const char *type,
                             const char *msg, const json_t *input, const char *ctx_key,
                             int64_t ctx_val)
{
    json_t *entry = json_pack("{s:s, s:[s,s], s:s, s:O}", "type", type, "loc", "body", name, "msg",
                              msg, "input", (json_t *)input);

    if (entry && ctx_key &&
        json_object_set_new(entry, "ctx", json_pack("{s:I}", ctx_key, (json_int_t)ctx_val)) != 0) {
        json_decref(entry);
        entry = NULL;
    }
    return add_invalid(req, entry);
}

enum err request_body_int(struct request *req, const json_t *obj, const char *name, int64_t min,
                          int64_t max, int64_t *out, bool *present)
{
    const json_t *v = json_object_get(obj, name);
    int64_t n = 0;
    char msg[96];

    *present = false;
    if (!v || json_is_null(v))
        return ERR_OK;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_boolean(v)) {
        n = json_is_true(v) ? 1 : 0;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* past int64: clamped, for the range check to speak (pydantic: a huge int) */
        if (d >= 9223372036854775808.0) {
            n = INT64_MAX;
        } else if (d < -9223372036854775808.0) {
            n = INT64_MIN;
        } else if (d != d || d != (double)(int64_t)d) {
            return body_invalid(req, name, "int_from_float",
                                "Input should be a valid integer, got a number with a "
                                "fractional part",
                                v, NULL, 0);
        } else {
            n = (int64_t)d;
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v) || !parse_int(s, &n))
            return body_invalid(req, name, "int_parsing",
                                "Input should be a valid integer, unable to parse string as an "
                                "integer",
                                v, NULL, 0);
    } else {
        return body_invalid(req, name, "int_type", "Input should be a valid integer", v, NULL, 0);
    }
    if (n < min) {
        snprintf(msg, sizeof(msg), "Input should be greater than or equal to %lld", (long long)min);
        return body_invalid(req, name, "greater_than_equal", msg, v, "ge", min);
    }
    if (n > max) {
        snprintf(msg, sizeof(msg), "Input should be less than or equal to %lld", (long long)max);
        return body_invalid(req, name, "less_than_equal", msg, v, "le", max);
    }
    *out = n;
    *present = true;
    return ERR_OK;
}
