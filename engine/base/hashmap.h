/* Open-addressing hash maps: byte string -> int and 64-bit key -> int. Grows by doubling. */
#ifndef CPET_HASHMAP_H
#define CPET_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **keys;
    size_t *key_lens;
    int *values;
    size_t cap, count;
} str_map;

int str_map_init(str_map *m, size_t expected);
int str_map_put(str_map *m, const char *key, size_t len, int value); /* copies key; overwrites */
int str_map_get(const str_map *m, const char *key, size_t len, int *value); /* 1 if found */
void str_map_free(str_map *m);

typedef struct {
    uint64_t *keys; /* UINT64_MAX marks an empty slot */
    int *values;
    size_t cap, count;
} u64_map;

int u64_map_init(u64_map *m, size_t expected);
int u64_map_put(u64_map *m, uint64_t key, int value);
int u64_map_get(const u64_map *m, uint64_t key, int *value);
void u64_map_free(u64_map *m);

#endif
