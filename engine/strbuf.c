#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

int strbuf_put(strbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) return -1;
        b->s = g, b->cap = cap;
    }
    if (n) memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

int strbuf_puts(strbuf *b, const char *p) { return strbuf_put(b, p, strlen(p)); }
