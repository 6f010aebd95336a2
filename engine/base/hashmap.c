#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static size_t capacity_for(size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    return cap;
}

int str_map_init(str_map *m, size_t expected)
{
    m->cap = capacity_for(expected);
    m->count = 0;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->key_lens = calloc(m->cap, sizeof *m->key_lens);
    m->values = calloc(m->cap, sizeof *m->values);
    return m->keys && m->key_lens && m->values ? 0 : -1;
}

static size_t str_slot(const str_map *m, const char *key, size_t len)
{
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i] && !(m->key_lens[i] == len && memcmp(m->keys[i], key, len) == 0)) i = (i + 1) & (m->cap - 1);
    return i;
}

int str_map_put(str_map *m, const char *key, size_t len, int value)
{
    if ((m->count + 1) * 2 > m->cap) {
        str_map bigger;
        if (str_map_init(&bigger, m->cap) != 0) return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = str_slot(&bigger, m->keys[i], m->key_lens[i]);
                bigger.keys[j] = m->keys[i];
                bigger.key_lens[j] = m->key_lens[i];
                bigger.values[j] = m->values[i];
                bigger.count++;
            }
        free(m->keys);
        free(m->key_lens);
        free(m->values);
        *m = bigger;
    }
    size_t i = str_slot(m, key, len);
    if (!m->keys[i]) {
        m->keys[i] = malloc(len + 1);
        if (!m->keys[i]) return -1;
        memcpy(m->keys[i], key, len);
        m->keys[i][len] = 0;
        m->key_lens[i] = len;
        m->count++;
    }
    m->values[i] = value;
    return 0;
}

int str_map_get(const str_map *m, const char *key, size_t len, int *value)
{
    size_t i = str_slot(m, key, len);
    if (!m->keys[i]) return 0;
    *value = m->values[i];
    return 1;
}

void str_map_free(str_map *m)
{
    for (size_t i = 0; m->keys && i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

int u64_map_init(u64_map *m, size_t expected)
{
    m->cap = capacity_for(expected);
    m->count = 0;
    m->keys = malloc(m->cap * sizeof *m->keys);
    m->values = calloc(m->cap, sizeof *m->values);
    if (!m->keys || !m->values) return -1;
    memset(m->keys, 0xff, m->cap * sizeof *m->keys);
    return 0;
}

static size_t u64_slot(const u64_map *m, uint64_t key)
{
    size_t i = hash_u64(key) & (m->cap - 1);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    return i;
}

int u64_map_put(u64_map *m, uint64_t key, int value)
{
    if ((m->count + 1) * 2 > m->cap) {
        u64_map bigger;
        if (u64_map_init(&bigger, m->cap) != 0) return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i] != UINT64_MAX) {
                size_t j = u64_slot(&bigger, m->keys[i]);
                bigger.keys[j] = m->keys[i];
                bigger.values[j] = m->values[i];
                bigger.count++;
            }
        free(m->keys);
        free(m->values);
        *m = bigger;
    }
    size_t i = u64_slot(m, key);
    if (m->keys[i] == UINT64_MAX) {
        m->keys[i] = key;
        m->count++;
    }
    m->values[i] = value;
    return 0;
}

int u64_map_get(const u64_map *m, uint64_t key, int *value)
{
    size_t i = u64_slot(m, key);
    if (m->keys[i] == UINT64_MAX) return 0;
    *value = m->values[i];
    return 1;
}

void u64_map_free(u64_map *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}
