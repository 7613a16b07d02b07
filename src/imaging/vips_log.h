/*
 * vips_log.h - libvips's error buffer into our log, for the imaging modules only
 * (it is the one place that text goes; it never reaches a client).
 */
#pragma once

/* Writes libvips's pending error text as one warning line "module: what: text" and
 * clears the buffer. Thread-safe (libvips locks its buffer). */
void vips_log_error(const char *module, const char *what);
