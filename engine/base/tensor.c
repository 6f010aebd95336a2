#include "tensor.h"

#include "params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Buffers of several MB (weights, packs, activations, KV caches) go on 2 MB pages where the kernel allows
 * them (transparent huge pages in madvise mode, the Debian default): a decode streams gigabytes of weights
 * per second, and on 4 KB pages every 4 KB costs a TLB miss. Measured, interleaved: a Q4_0 7B decode went
 * from 4.4 / 4.2 to 5.2 / 4.9 tok/s, for 8% more RSS (the last page of each buffer is whole). */
#define HUGE_PAGE (2u << 20)
void *cpet_alloc(size_t bytes)
{
    size_t rounded = (bytes + CPET_ALIGN - 1) / CPET_ALIGN * CPET_ALIGN;
    if (rounded == 0) rounded = CPET_ALIGN;
    void *p;
    if (rounded >= 2 * (size_t)HUGE_PAGE) {
        rounded = (rounded + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        if ((p = aligned_alloc(HUGE_PAGE, rounded))) madvise(p, rounded, MADV_HUGEPAGE); /* advice: may be refused */
    } else
        p = aligned_alloc(CPET_ALIGN, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

float *cpet_alloc_floats(size_t n) { return cpet_alloc(n * sizeof(float)); }

void cpet_free(void *p) { free(p); }

size_t cpet_layout(const size_t *bytes, size_t n, size_t *offsets)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        offsets[i] = total;
        total += (bytes[i] + CPET_ALIGN - 1) / CPET_ALIGN * CPET_ALIGN;
    }
    return total;
}

float cpet_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t cpet_f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

float cpet_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t cpet_f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t absb = bits & 0x7fffffffu;
    if (absb > 0x7f800000u) return sign | 0x7e00u;            /* NaN */
    if (absb >= 0x477ff000u) return sign | 0x7c00u;           /* overflow (incl. rounding) -> inf */
    if (absb < 0x38800000u) {                                 /* subnormal or zero in f16 */
        if (absb < 0x33000000u) return sign;                  /* below half the smallest subnormal */
        uint32_t man = (absb & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absb >> 23);                  /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t e = (absb >> 23) - 127 + 15;
    uint32_t man = absb & 0x7fffffu;
    uint32_t h = (e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;  /* carry into exponent is correct */
    return sign | (uint16_t)h;
}

uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(cpet_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(cpet_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(cpet_rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float rng_normal(cpet_rng *r)
{
    double u1 = ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void fill_uniform(float *x, size_t n, float lo, float hi, cpet_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(r);
}

void fill_normal(float *x, size_t n, float std, cpet_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = std * rng_normal(r);
}

double vec_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

double vec_norm(const float *a, size_t n) { return sqrt(vec_dot(a, a, n)); }

double vec_max_rel_diff(const float *a, const float *b, size_t n)
{
    double maxdiff = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > maxdiff || isnan(d)) maxdiff = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > maxref) maxref = fabs(b[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

int param_block_grads(param_tensor *tensors, int n_tensors, const float *params, size_t n, float **grads)
{
    if (!*grads && !(*grads = cpet_alloc_floats(n))) return -1;
    for (int i = 0; i < n_tensors; i++) tensors[i].g = *grads + (tensors[i].p - params);
    return 0;
}

int rng_below(cpet_rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

void rng_shuffle(cpet_rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)(rng_next(r) % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
