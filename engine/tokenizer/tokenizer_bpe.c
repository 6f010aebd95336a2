/* What both BPE styles share: UTF-8 reading, the id list, and the merge loop over a word's symbols. */
#include "tokenizer_bpe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* Decodes one UTF-8 sequence; returns its length, or 0 if invalid. */
int tok_utf8_next(const unsigned char *s, size_t n, int *cp)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return 0;
    int v = len == 1 ? (int)c : (int)(c & (0x7F >> len));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const int min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_cp[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0; /* overlong, surrogate */
    *cp = v;
    return len;
}

long tok_utf8_invalid_at(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int cp, l = tok_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!l) return (long)i;
        i += (size_t)l;
    }
    return -1;
}

void id_push(id_list *l, int id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ids = realloc(l->ids, (size_t)l->cap * sizeof(int));
    }
    l->ids[l->n++] = id;
}

/* ---- the merges: a min-heap of adjacent pairs by (rank, position), stale entries skipped ---- */

typedef struct {
    int rank, pos;
} pair_entry;

static int pair_less(pair_entry a, pair_entry b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(pair_entry *h, int *n, pair_entry e)
{
    int i = (*n)++;
    while (i > 0 && pair_less(e, h[(i - 1) / 2])) h[i] = h[(i - 1) / 2], i = (i - 1) / 2;
    h[i] = e;
}

static pair_entry heap_pop(pair_entry *h, int *n)
{
    pair_entry top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && pair_less(h[c + 1], h[c])) c++;
        if (!pair_less(h[c], last)) break;
        h[i] = h[c], i = c;
    }
    h[i] = last;
    return top;
}

static int pair_rank(const tokenizer *t, int a, int b)
{
    int r;
    return u64_map_get(&t->merge_rank, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &r) ? r : -1;
}

int bpe_merge(const tokenizer *t, int *sym, int len)
{
    if (len < 2) return len;
    int *next = malloc((size_t)len * sizeof(int)), *prev = malloc((size_t)len * sizeof(int)), n_heap = 0;
    pair_entry *heap = malloc((size_t)(3 * len) * sizeof *heap); /* len - 1 pairs at first, at most 2 more per merge */
    for (int i = 0; i < len; i++) next[i] = i + 1 < len ? i + 1 : -1, prev[i] = i - 1;
    for (int i = 0; i + 1 < len; i++) {
        const int r = pair_rank(t, sym[i], sym[i + 1]);
        if (r >= 0) heap_push(heap, &n_heap, (pair_entry){r, i});
    }
    while (n_heap) {
        const pair_entry e = heap_pop(heap, &n_heap);
        const int j = next[e.pos];
        if (sym[e.pos] < 0 || j < 0 || pair_rank(t, sym[e.pos], sym[j]) != e.rank) continue; /* merged away since */
        sym[e.pos] = t->merge_result[e.rank];
        sym[j] = -1;
        next[e.pos] = next[j];
        if (next[j] >= 0) prev[next[j]] = e.pos;
        int r;
        if (prev[e.pos] >= 0 && (r = pair_rank(t, sym[prev[e.pos]], sym[e.pos])) >= 0) heap_push(heap, &n_heap, (pair_entry){r, prev[e.pos]});
        if (next[e.pos] >= 0 && (r = pair_rank(t, sym[e.pos], sym[next[e.pos]])) >= 0) heap_push(heap, &n_heap, (pair_entry){r, e.pos});
    }
    int o = 0;
    for (int i = 0; i < len; i++)
        if (sym[i] >= 0) sym[o++] = sym[i];
    free(next), free(prev), free(heap);
    return o;
}

/* the vocabulary lookup both styles read their special and fallback tokens with */
int tokenizer_id(const tokenizer *t, const char *token)
{
    int id;
    return str_map_get(&t->token_to_id, token, strlen(token), &id) ? id : -1;
}
