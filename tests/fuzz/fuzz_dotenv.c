/*
 * fuzz_dotenv.c - a .env file (config_parse_dotenv), then every pair it gave read as the
 * configuration (config_load: numbers, byte sizes, choices, URLs, the derived values),
 * with the notices config_notices would log.
 */
#include <stdio.h>

#include "config.h"
#include "fuzz.h"

#define MAX_PAIRS 64

struct pairs {
    char *k[MAX_PAIRS], *v[MAX_PAIRS];
    size_t n;
};

static void set(void *ctx, const char *k, const char *v)
{
    struct pairs *p = ctx;

    if (p->n == MAX_PAIRS)
        return;
    p->k[p->n] = strdup(k);
    p->v[p->n] = strdup(v);
    p->n++;
}

static const char *get(void *ctx, const char *name)
{
    struct pairs *p = ctx;

    for (size_t i = p->n; i-- > 0;)
        if (p->k[i] && strcmp(p->k[i], name) == 0)
            return p->v[i];
    return NULL;
}

static void emit(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pairs p = {0};
    struct config cfg;
    char *text = fuzz_strndup(data, size);
    FILE *errs = fopen("/dev/null", "w");

    if (!text || !errs)
        goto out;
    config_parse_dotenv(text, set, &p);
    if (config_load(&cfg, get, &p, errs) == 0)
        config_notices(&cfg, true, emit, NULL);
    config_free(&cfg);
out:
    for (size_t i = 0; i < p.n; i++) {
        free(p.k[i]);
        free(p.v[i]);
    }
    if (errs)
        fclose(errs);
    free(text);
    return 0;
}
