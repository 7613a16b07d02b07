/*
 * s3_put.c - the upload half of bench/s3_upload.sh: PUTs one file N times through
 * the configured storage backend (storage_put, as an upload does) and prints the
 * elapsed time. Configuration comes from the environment, as for the server.
 * Owns one buffer, one HTTP client and one backend; one thread calls (the client's
 * thread sends).
 *   s3_put FILE N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "storage/storage.h"
#include "util/httpc.h"
#include "util/net.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct config_env *env = NULL;
    struct httpc *http = NULL;
    struct storage *s = NULL;
    unsigned char *buf = NULL;
    long n, size;
    FILE *f = NULL;
    double t0, t1;
    int status = 1;

    if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0 || n > 100000) {
        fprintf(stderr, "usage: s3_put FILE N\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || size > (64L << 20) ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "s3_put: cannot read %s (or over 64 MiB)\n", argv[1]);
        goto out_file;
    }
    buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto out_file;
    env = config_env_open(".env", stderr);
    if (!env)
        goto out_file;
    if (config_load(&cfg, config_env_get, env, stderr) != 0 || !net_global_init())
        goto out_cfg;
    if (httpc_open(0, &http) != ERR_OK || storage_open(&cfg, http, &s) != ERR_OK)
        goto out_storage;
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof(key), "users/bench/original/%06ld.png", i);
        if (storage_put(s, key, buf, (size_t)size, "image/png") != ERR_OK) {
            fprintf(stderr, "s3_put: PUT %s failed\n", key);
            goto out_storage;
        }
    }
    t1 = now_s();
    printf("%.6f\n", t1 - t0);
    status = 0;
out_storage:
    storage_close(s);
    httpc_close(http);
out_cfg:
    config_free(&cfg);
    config_env_close(env);
    net_global_cleanup();
out_file:
    if (f)
        fclose(f);
    free(buf);
    return status;
}
