/*
 * header.c - header lines built from settings (see header.h).
 */
#include "util/header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool header_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

char *header_line(const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    char *line = malloc(n);

    if (line)
        snprintf(line, n, "%s%s", prefix, value);
    return line;
}

void header_free(char *line)
{
    if (!line)
        return;
    memset(line, 0, strlen(line)); /* a secret: do not leave it in freed memory */
    free(line);
}
