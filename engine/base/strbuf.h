/* A growable NUL-terminated byte string: templates filled, notes joined, token strings decoded, files
 * assembled. */
#ifndef CPET_STRBUF_H
#define CPET_STRBUF_H

#include <stddef.h>

typedef struct {
    char *s; /* NULL until the first put; always NUL-terminated after one */
    size_t len, cap;
} strbuf;

/* Appends n bytes of p; 0, or -1 when out of memory (the string keeps what it had). */
int strbuf_put(strbuf *b, const char *p, size_t n);
int strbuf_puts(strbuf *b, const char *p);
int strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
