/*
 * vips_log.c - libvips's error buffer, made one line, into the log. Thread-safe.
 */
#include "imaging/vips_log.h"

#include <string.h>
#include <vips/vips.h>

#include "util/log.h"

void vips_log_error(const char *module, const char *what)
{
    char *msg = vips_error_buffer_copy(); /* copies and clears, under libvips's lock */
    size_t n = strlen(msg);

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    log_warn("%s: %s: %s", module, what, n ? msg : "(no libvips message)");
    g_free(msg);
}
