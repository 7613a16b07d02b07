/*
 * replay.c - runs inputs through a fuzz target's entry point without libFuzzer, so the
 * ordinary (gcc) test suite replays every seed and every regression input: each
 * argument is a file or a directory of files (a missing directory is skipped). Any
 * crash, sanitizer report or hang fails the test as it would fail the fuzzer, and so
 * does a peak RSS over REPLAY_MAX_RSS_MB (when set): libFuzzer's out-of-memory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long n;
    int rc = 1;

    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)n + 1); /* + 1: a zero-byte input still has an address */
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n)
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)n);
    rc = 0;
    if (getenv("REPLAY_MAX_RSS_MB")) {
        struct rusage ru;
        long max_kb = atol(getenv("REPLAY_MAX_RSS_MB")) * 1024;
        if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > max_kb) {
            fprintf(stderr, "replay: %s: peak RSS %ld KB, over %ld KB\n", path, ru.ru_maxrss,
                    max_kb);
            rc = 1;
        }
    }
out:
    free(data);
    fclose(f);
    return rc;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int failed = 0, runs = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;

        if (stat(argv[i], &st) != 0)
            continue; /* no regressions yet */
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[i]);
            runs++;
            continue;
        }
        d = opendir(argv[i]);
        if (!d)
            return 1;
        while ((e = readdir(d))) {
            char **grown;
            if (e->d_name[0] == '.')
                continue;
            grown = realloc(names, (n + 1) * sizeof(*names));
            if (!grown)
                return 1;
            names = grown;
            names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
            if (!names[n])
                return 1;
            sprintf(names[n], "%s/%s", argv[i], e->d_name);
            n++;
        }
        closedir(d);
        if (n > 1)
            qsort(names, n, sizeof(*names), cmp);
        for (size_t j = 0; j < n; j++) {
            failed |= run_file(names[j]);
            runs++;
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", runs);
    return failed;
}
