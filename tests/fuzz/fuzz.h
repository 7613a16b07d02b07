/*
 * fuzz.h - the libFuzzer entry points every target defines (tests/fuzz/fuzz_*.c).
 * LLVMFuzzerInitialize runs once before the first input (libFuzzer and replay.c
 * both call it); LLVMFuzzerTestOneInput runs one input and must leave no state that
 * changes the next run's behaviour.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (NULs inside stay: C readers stop at the first).
 * malloc'd; NULL on no memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        return NULL;
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
