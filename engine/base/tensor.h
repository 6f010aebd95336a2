/* Flat f32 buffers: aligned allocation, half-precision conversion, a seeded RNG, small vector helpers. */
#ifndef CPET_TENSOR_H
#define CPET_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define CPET_ALIGN 64

void *cpet_alloc(size_t bytes);          /* 64-byte aligned, zeroed; NULL on failure */
float *cpet_alloc_floats(size_t n);      /* same, for n floats */
void cpet_free(void *p);
/* llm.c's malloc_and_point, as a size table: lays n buffers of bytes[i] end to end, each starting on a
 * CPET_ALIGN boundary; offsets[i] receives each one's byte offset. Returns the total bytes (a multiple
 * of CPET_ALIGN) for one cpet_alloc, into which the caller points at base + offsets[i]. */
size_t cpet_layout(const size_t *bytes, size_t n, size_t *offsets);

float cpet_bf16_to_f32(uint16_t h);
uint16_t cpet_f32_to_bf16(float f);      /* round to nearest even, as torch does */
float cpet_f16_to_f32(uint16_t h);
uint16_t cpet_f32_to_f16(float f);       /* round to nearest even */

/* splitmix64-seeded xoshiro256**: one stream per seed, no global state. */
typedef struct {
    uint64_t s[4];
} cpet_rng;

/* One step of splitmix64: advances *state and returns a well-mixed 64-bit value. */
uint64_t splitmix64(uint64_t *state);
void rng_seed(cpet_rng *r, uint64_t seed);
uint64_t rng_next(cpet_rng *r);
float rng_uniform(cpet_rng *r);          /* [0, 1) */
int rng_below(cpet_rng *r, int n);       /* uniform in [0, n): rng_next % n */
void rng_shuffle(cpet_rng *r, int *a, int n); /* Fisher-Yates from the end: j = rng_next % (i + 1) */
/* FNV-1a over n bytes, continuing from h (start from FNV1A64_INIT): cheap fingerprints of weights */
#define FNV1A64_INIT 0xcbf29ce484222325ull
uint64_t fnv1a64(uint64_t h, const void *p, size_t n);
float rng_normal(cpet_rng *r);           /* standard normal (Box-Muller) */
void fill_uniform(float *x, size_t n, float lo, float hi, cpet_rng *r);
void fill_normal(float *x, size_t n, float std, cpet_rng *r);

double vec_dot(const float *a, const float *b, size_t n);
double vec_norm(const float *a, size_t n);
/* max |a-b| / max(|b|) over the vector: the relative error tests use against fixtures */
double vec_max_rel_diff(const float *a, const float *b, size_t n);

#endif
