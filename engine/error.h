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
__attribute__((format(printf, 2, 3)))
#endif
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

#endif
