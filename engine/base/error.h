/* Errors travel up as a message in a caller-owned buffer; the engine never prints.
 * A failing function fills `err` with one line naming the file and the problem and returns -1. */
#ifndef CPET_ERROR_H
#define CPET_ERROR_H

#include <stdarg.h>
#include <stdio.h>

typedef struct {
    char msg[1024];
} cpet_err;

#if defined(__GNUC__)
#define CPET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CPET_PRINTF(a, b)
#endif

CPET_PRINTF(2, 3)
static inline int cpet_fail(cpet_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Puts a context prefix before the message already in err ("file" + ": " + "problem"); returns -1.
 * (Formatting err->msg into itself with cpet_fail would read and write one buffer.) */
CPET_PRINTF(2, 3)
static inline int cpet_prefix(cpet_err *err, const char *fmt, ...)
{
    if (err) {
        char prefix[512], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        snprintf(old, sizeof old, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%.400s: %.600s", prefix, old);
    }
    return -1;
}

#endif
