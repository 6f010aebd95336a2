#include "sparse_ffn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemv.h"

/* The row kernels below are AVX2 where the build's baseline has it and plain C otherwise (an ARM64 or a
 * portable x86 build); the tests hold both to sparse_ffn_reference. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SPARSE_AVX2 1
#endif
#include "ops.h"
#include "tensor.h"

/* ---- row-major [F, D] matrices, one row at a time ---- */

static void set_nibble_pair(uint8_t *p, size_t i, int code)
{
    p[i / 2] = (uint8_t)((i & 1) ? (p[i / 2] & 0x0F) | (code << 4) : (p[i / 2] & 0xF0) | code);
}

static int nibble(const uint8_t *p, size_t i) { return (i & 1) ? p[i / 2] >> 4 : p[i / 2] & 0x0F; }

static void rows_free(sparse_rows *r)
{
    cpet_free(r->i8);
    cpet_free(r->i4);
    free(r->scale);
    free(r->zero);
    memset(r, 0, sizeof *r);
}

/* copies of a packed [F, D] matrix's codes and grid, row-major */
static int rows_from(sparse_rows *r, const linear *l, cpet_err *err)
{
    memset(r, 0, sizeof *r);
    const qtensor *q = l->qw;
    if (!q) {
        r->w = l->w;
        return 0;
    }
    const int F = q->rows, D = q->cols;
    if (q->format == QF_INT8) {
        r->i8 = cpet_alloc((size_t)F * D);
        r->scale = malloc((size_t)F * sizeof(float));
        if (!r->i8 || !r->scale) return cpet_fail(err, "sparse ffn: out of memory");
        for (int f = 0; f < F; f++) {
            for (int d = 0; d < D; d++) r->i8[(size_t)f * D + d] = (int8_t)q->data[(size_t)f * D + d]; /* INT8 is never pack-only */
            r->scale[f] = q->scales[f];
        }
        return 0;
    }
    const int g = q->group, per_row = D / g;
    r->group = g;
    r->i4 = cpet_alloc((size_t)F * D / 2);
    r->scale = malloc((size_t)F * per_row * sizeof(float));
    r->zero = malloc((size_t)F * per_row * sizeof(float));
    if (!r->i4 || !r->scale || !r->zero) return cpet_fail(err, "sparse ffn: out of memory");
    for (int f = 0; f < F; f++) {
        for (int d = 0; d < D; d++) set_nibble_pair(r->i4, (size_t)f * D + d, qtensor_code(q, f, d));
        for (int k = 0; k < per_row; k++) {
            int z;
            qtensor_grid_of(q, f, k, &r->scale[(size_t)f * per_row + k], &z);
            r->zero[(size_t)f * per_row + k] = (float)z;
        }
    }
    return 0;
}

#if defined(SPARSE_AVX2)
/* 32 INT4 codes (16 bytes, element 2i low nibble) as 4 x 8 floats in element order */
static inline void unpack32(const uint8_t *p, __m256 v[4])
{
    const __m128i b = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    const __m128i c0 = _mm_unpacklo_epi8(lo, hi), c1 = _mm_unpackhi_epi8(lo, hi);
    v[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0));
    v[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c0, 8)));
    v[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1));
    v[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c1, 8)));
}

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_i8(const int8_t *codes, const float *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int d = 0;
    for (; d + 16 <= n; d += 16) {
        const __m128i b = _mm_loadu_si128((const __m128i *)(codes + d));
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), _mm256_loadu_ps(x + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8))), _mm256_loadu_ps(x + d + 8), a1);
    }
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; d < n; d++) s += (float)codes[d] * x[d];
    return s;
}

static void dot4_f32(const float *const *w, const float *x, int n, float *out)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        const __m256 xv = _mm256_loadu_ps(x + d);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w[0] + d), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w[1] + d), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w[2] + d), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w[3] + d), xv, a3);
    }
    out[0] = hsum(a0), out[1] = hsum(a1), out[2] = hsum(a2), out[3] = hsum(a3);
    for (; d < n; d++)
        for (int i = 0; i < 4; i++) out[i] += w[i][d] * x[d];
}

#else
static float dot_i8(const int8_t *codes, const float *x, int n)
{
    float s = 0;
    for (int d = 0; d < n; d++) s += (float)codes[d] * x[d];
    return s;
}

static void dot4_f32(const float *const *w, const float *x, int n, float *out)
{
    for (int i = 0; i < 4; i++) out[i] = dot_f32(w[i], x, n);
}
#endif

/* x . row j; xs: x summed per group (INT4). INT4 keeps one vector accumulator across groups, each group's
 * products scaled in the vector (no horizontal sum per group), and the zero points as one scalar sum. */
static float row_dot(const sparse_rows *r, int j, const float *x, const float *xs, int D)
{
    if (r->w) return dot_f32(r->w + (size_t)j * D, x, D);
    if (r->i8) return dot_i8(r->i8 + (size_t)j * D, x, D) * r->scale[j];
    const int g = r->group, per_row = D / g;
    const uint8_t *codes = r->i4 + (size_t)j * D / 2;
    const float *sc = r->scale + (size_t)j * per_row, *z = r->zero + (size_t)j * per_row;
    float zero_term = 0;
#if defined(SPARSE_AVX2)
    __m256 acc = _mm256_setzero_ps();
    for (int k = 0; k < per_row; k++) {
        __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
        const uint8_t *c = codes + (size_t)k * g / 2;
        const float *xk = x + (size_t)k * g;
        for (int d = 0; d < g; d += 32) { /* g is a multiple of 32 (sparse_ffn_init) */
            __m256 v[4];
            unpack32(c + d / 2, v);
            t0 = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(xk + d), t0);
            t1 = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(xk + d + 8), t1);
            t0 = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(xk + d + 16), t0);
            t1 = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(xk + d + 24), t1);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(sc[k]), _mm256_add_ps(t0, t1), acc);
        zero_term += sc[k] * z[k] * xs[k];
    }
    return hsum(acc) - zero_term;
#else
    float acc = 0;
    for (int k = 0; k < per_row; k++) {
        float t = 0;
        for (int d = 0; d < g; d++) t += (float)nibble(codes, (size_t)k * g + d) * x[(size_t)k * g + d];
        acc += sc[k] * t;
        zero_term += sc[k] * z[k] * xs[k];
    }
    return acc - zero_term;
#endif
}

static double row_value(const sparse_rows *r, int j, int d, int D)
{
    if (r->w) return r->w[(size_t)j * D + d];
    if (r->i8) return (double)r->i8[(size_t)j * D + d] * r->scale[j];
    const size_t k = (size_t)j * (D / r->group) + d / r->group;
    return ((double)nibble(r->i4, (size_t)j * D + d) - r->zero[k]) * r->scale[k];
}

/* ---- W_down neuron-major ---- */

static double down_value(const sparse_ffn *s, int j, int d)
{
    const size_t i = (size_t)j * s->D + d;
    if (s->down_f32) return s->down_f32[i];
    if (s->down_i8) return (double)s->down_i8[i] * s->down_scale[d];
    const size_t G = (size_t)(j / s->down_group) * s->D + d;
    return ((double)nibble(s->down_i4, i) - s->down_zero[G]) * s->down_scale[G];
}

static int down_from(sparse_ffn *s, const linear *down, cpet_err *err)
{
    const int D = s->D, F = s->F;
    const qtensor *q = down->qw; /* [D, F] */
    if (!q) {
        if (!(s->down_f32 = cpet_alloc((size_t)F * D * sizeof(float)))) return cpet_fail(err, "sparse ffn: out of memory");
        for (int d = 0; d < D; d++)
            for (int f = 0; f < F; f++) s->down_f32[(size_t)f * D + d] = down->w[(size_t)d * F + f];
        s->down_group = F;
        return 0;
    }
    if (q->format == QF_INT8) {
        s->down_i8 = cpet_alloc((size_t)F * D);
        s->down_scale = malloc((size_t)D * sizeof(float));
        if (!s->down_i8 || !s->down_scale) return cpet_fail(err, "sparse ffn: out of memory");
        for (int d = 0; d < D; d++) {
            s->down_scale[d] = q->scales[d];
            for (int f = 0; f < F; f++) s->down_i8[(size_t)f * D + d] = (int8_t)q->data[(size_t)d * F + f];
        }
        s->down_group = F;
        return 0;
    }
    const int g = q->group, groups = F / g;
    s->down_group = g;
    s->down_i4 = cpet_alloc((size_t)F * D / 2);
    s->down_scale = malloc((size_t)groups * D * sizeof(float));
    s->down_zero = malloc((size_t)groups * D * sizeof(float));
    if (!s->down_i4 || !s->down_scale || !s->down_zero) return cpet_fail(err, "sparse ffn: out of memory");
    for (int d = 0; d < D; d++) {
        for (int f = 0; f < F; f++) set_nibble_pair(s->down_i4, (size_t)f * D + d, qtensor_code(q, d, f));
        for (int k = 0; k < groups; k++) {
            int z;
            qtensor_grid_of(q, d, k, &s->down_scale[(size_t)k * D + d], &z);
            s->down_zero[(size_t)k * D + d] = (float)z;
        }
    }
    return 0;
}

static const char *weights_kind(const linear *l, sparse_weights *k)
{
    if (!l->qw) {
        *k = SPARSE_F32;
        return l->w ? NULL : "no weights";
    }
    if (l->qw->format == QF_INT8) *k = SPARSE_INT8;
    else if (l->qw->format == QF_INT4 && l->qw->group % 32 == 0) *k = SPARSE_INT4;
    else return qformat_name(l->qw->format);
    return NULL;
}

int sparse_ffn_init(sparse_ffn *s, const linear *gate, const linear *up, const linear *down, activation a, float threshold,
                    cpet_err *err)
{
    memset(s, 0, sizeof *s);
    if (gate->out != up->out || gate->in != up->in || down->in != gate->out || down->out != gate->in)
        return cpet_fail(err, "sparse ffn: gate %dx%d, up %dx%d and down %dx%d do not form a gated FFN", gate->out, gate->in, up->out,
                         up->in, down->out, down->in);
    if (gate->branches || up->branches || down->branches)
        return cpet_fail(err, "sparse ffn: an adapter branch on gate, up or down would be skipped by the row-wise path; merge it first");
    sparse_weights kinds[3];
    const linear *ls[3] = {gate, up, down};
    for (int i = 0; i < 3; i++) {
        const char *bad = weights_kind(ls[i], &kinds[i]);
        if (bad)
            return cpet_fail(err, "sparse ffn: %s weights are not supported (f32, int8, or int4 with groups of a multiple of 32)", bad);
    }
    if (kinds[0] != kinds[1] || kinds[1] != kinds[2])
        return cpet_fail(err, "sparse ffn: gate, up and down must share one format (f32, int8 or int4)");
    s->D = gate->in, s->F = gate->out, s->kind = kinds[0], s->act = a, s->threshold = threshold;
    s->gate = gate, s->up = up, s->down = down, s->dense_above = 1.01;
    if (rows_from(&s->gate_rows, gate, err) != 0 || rows_from(&s->up_rows, up, err) != 0 || down_from(s, down, err) != 0) {
        sparse_ffn_free(s);
        return -1;
    }
    return 0;
}

void sparse_ffn_free(sparse_ffn *s)
{
    rows_free(&s->gate_rows);
    rows_free(&s->up_rows);
    cpet_free(s->down_f32);
    cpet_free(s->down_i8);
    cpet_free(s->down_i4);
    free(s->down_scale);
    free(s->down_zero);
    memset(s, 0, sizeof *s);
}

/* ---- forward ---- */

static size_t lin_rows(const sparse_ffn *s)
{
    size_t a = linear_scratch_per_row(s->gate), b = linear_scratch_per_row(s->up), c = linear_scratch_per_row(s->down);
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* updown's scratch: x1 [n, F], acc [n, D], xs [n, D/32 + 1], group sums [n, F/down_group + 1] */
static size_t updown_scratch(const sparse_ffn *s, int n)
{
    return (size_t)n * ((size_t)s->F + s->D + s->D / 32 + 1 + s->F / s->down_group + 1);
}

size_t sparse_ffn_scratch(const sparse_ffn *s, int n)
{
    /* g [n, F], h [n, F], active [F], updown's, the linears' */
    return 2 * (size_t)n * s->F + s->F + updown_scratch(s, n) + (size_t)n * lin_rows(s) + 16;
}

#if defined(SPARSE_AVX2)
static inline void axpy_f32(float *o, float a, const float *w, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= n; d += 8) _mm256_storeu_ps(o + d, _mm256_fmadd_ps(va, _mm256_loadu_ps(w + d), _mm256_loadu_ps(o + d)));
    for (; d < n; d++) o[d] += a * w[d];
}

static inline void axpy_i8(float *o, float a, const int8_t *c, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        const __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + d))));
        _mm256_storeu_ps(o + d, _mm256_fmadd_ps(va, w, _mm256_loadu_ps(o + d)));
    }
    for (; d < n; d++) o[d] += a * (float)c[d];
}

/* o[0..n) += a * codes of elements e0..e0+n (e0 even) */
static inline void axpy_i4(float *o, float a, const uint8_t *codes, size_t e0, int n)
{
    const __m256 va = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 32 <= n; d += 32) {
        __m256 c[4];
        unpack32(codes + (e0 + (size_t)d) / 2, c);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(o + d + 8 * k, _mm256_fmadd_ps(va, c[k], _mm256_loadu_ps(o + d + 8 * k)));
    }
    for (; d < n; d++) o[d] += a * (float)nibble(codes, e0 + (size_t)d);
}

/* Four neurons at once: out is read and written once per four rows instead of once per row (with a 16 KB
 * row and a 16 KB output, one-row axpys spent a third of their time moving the output through L1). */
static inline void axpy4_f32(float *o, const float *a, const float *const *w, int n)
{
    const __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]), a2 = _mm256_set1_ps(a[2]), a3 = _mm256_set1_ps(a[3]);
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 v = _mm256_loadu_ps(o + d);
        v = _mm256_fmadd_ps(a0, _mm256_loadu_ps(w[0] + d), v);
        v = _mm256_fmadd_ps(a1, _mm256_loadu_ps(w[1] + d), v);
        v = _mm256_fmadd_ps(a2, _mm256_loadu_ps(w[2] + d), v);
        v = _mm256_fmadd_ps(a3, _mm256_loadu_ps(w[3] + d), v);
        _mm256_storeu_ps(o + d, v);
    }
    for (; d < n; d++) o[d] += a[0] * w[0][d] + a[1] * w[1][d] + a[2] * w[2][d] + a[3] * w[3][d];
}

static inline __m256 i8x8(const int8_t *c) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)c))); }

static inline void axpy4_i8(float *o, const float *a, const int8_t *const *c, int n)
{
    const __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]), a2 = _mm256_set1_ps(a[2]), a3 = _mm256_set1_ps(a[3]);
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 v = _mm256_loadu_ps(o + d);
        v = _mm256_fmadd_ps(a0, i8x8(c[0] + d), v);
        v = _mm256_fmadd_ps(a1, i8x8(c[1] + d), v);
        v = _mm256_fmadd_ps(a2, i8x8(c[2] + d), v);
        v = _mm256_fmadd_ps(a3, i8x8(c[3] + d), v);
        _mm256_storeu_ps(o + d, v);
    }
    for (; d < n; d++) o[d] += a[0] * c[0][d] + a[1] * c[1][d] + a[2] * c[2][d] + a[3] * c[3][d];
}

/* e[i]: element offsets (even) of the four rows' first codes in codes */
static inline void axpy4_i4(float *o, const float *a, const uint8_t *codes, const size_t *e, int n)
{
    const __m256 av[4] = {_mm256_set1_ps(a[0]), _mm256_set1_ps(a[1]), _mm256_set1_ps(a[2]), _mm256_set1_ps(a[3])};
    int d = 0;
    for (; d + 32 <= n; d += 32) {
        __m256 v[4] = {_mm256_loadu_ps(o + d), _mm256_loadu_ps(o + d + 8), _mm256_loadu_ps(o + d + 16), _mm256_loadu_ps(o + d + 24)};
        for (int i = 0; i < 4; i++) {
            __m256 c[4];
            unpack32(codes + (e[i] + (size_t)d) / 2, c);
            for (int j = 0; j < 4; j++) v[j] = _mm256_fmadd_ps(av[i], c[j], v[j]);
        }
        for (int j = 0; j < 4; j++) _mm256_storeu_ps(o + d + 8 * j, v[j]);
    }
    for (; d < n; d++)
        for (int i = 0; i < 4; i++) o[d] += a[i] * (float)nibble(codes, e[i] + (size_t)d);
}

#else
static inline void axpy_f32(float *o, float a, const float *w, int n)
{
    for (int d = 0; d < n; d++) o[d] += a * w[d];
}

static inline void axpy_i8(float *o, float a, const int8_t *c, int n)
{
    for (int d = 0; d < n; d++) o[d] += a * (float)c[d];
}

/* o[0..n) += a * codes of elements e0..e0+n (e0 even) */
static inline void axpy_i4(float *o, float a, const uint8_t *codes, size_t e0, int n)
{
    for (int d = 0; d < n; d++) o[d] += a * (float)nibble(codes, e0 + (size_t)d);
}

static inline void axpy4_f32(float *o, const float *a, const float *const *w, int n)
{
    for (int d = 0; d < n; d++) o[d] += a[0] * w[0][d] + a[1] * w[1][d] + a[2] * w[2][d] + a[3] * w[3][d];
}

static inline void axpy4_i8(float *o, const float *a, const int8_t *const *c, int n)
{
    for (int d = 0; d < n; d++) o[d] += a[0] * c[0][d] + a[1] * c[1][d] + a[2] * c[2][d] + a[3] * c[3][d];
}

static inline void axpy4_i4(float *o, const float *a, const uint8_t *codes, const size_t *e, int n)
{
    for (int d = 0; d < n; d++)
        for (int i = 0; i < 4; i++) o[d] += a[i] * (float)nibble(codes, e[i] + (size_t)d);
}
#endif

/* columns [d0, d1) of out [n, D] from the k active neurons' x1 [n, k] */
static void down_columns(const sparse_ffn *s, const float *x1, const int *active, int k, float *out, float *acc, const float *gsum,
                         int n, int d0, int d1)
{
    const int D = s->D, w = d1 - d0, groups = s->F / s->down_group + 1;
    for (int r = 0; r < n; r++) memset(out + (size_t)r * D + d0, 0, (size_t)w * sizeof(float));
    if (s->down_f32) {
        int q = 0;
        for (; q + 4 <= k; q += 4) {
            const float *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = s->down_f32 + (size_t)active[q + i] * D + d0;
            for (int r = 0; r < n; r++) {
                const float *a = x1 + (size_t)r * k + q;
                if (a[0] != 0.0f || a[1] != 0.0f || a[2] != 0.0f || a[3] != 0.0f) axpy4_f32(out + (size_t)r * D + d0, a, rows, w);
            }
        }
        for (; q < k; q++) {
            const float *row = s->down_f32 + (size_t)active[q] * D + d0;
            for (int r = 0; r < n; r++)
                if (x1[(size_t)r * k + q] != 0.0f) axpy_f32(out + (size_t)r * D + d0, x1[(size_t)r * k + q], row, w);
        }
        return;
    }
    for (int q = 0; q < k;) { /* one run of active neurons per grid group (INT8: a single group) */
        const int G = active[q] / s->down_group;
        for (int r = 0; r < n; r++) memset(acc + (size_t)r * D + d0, 0, (size_t)w * sizeof(float));
        for (; q + 4 <= k && active[q + 3] / s->down_group == G; q += 4) { /* four of the group at once */
            const size_t e[4] = {(size_t)active[q] * D + d0, (size_t)active[q + 1] * D + d0, (size_t)active[q + 2] * D + d0,
                                 (size_t)active[q + 3] * D + d0};
            for (int r = 0; r < n; r++) {
                const float *a = x1 + (size_t)r * k + q;
                if (a[0] == 0.0f && a[1] == 0.0f && a[2] == 0.0f && a[3] == 0.0f) continue;
                if (s->down_i8) {
                    const int8_t *c[4] = {s->down_i8 + e[0], s->down_i8 + e[1], s->down_i8 + e[2], s->down_i8 + e[3]};
                    axpy4_i8(acc + (size_t)r * D + d0, a, c, w);
                } else {
                    axpy4_i4(acc + (size_t)r * D + d0, a, s->down_i4, e, w);
                }
            }
        }
        for (; q < k && active[q] / s->down_group == G; q++) {
            const size_t e0 = (size_t)active[q] * D + d0;
            for (int r = 0; r < n; r++) {
                const float a = x1[(size_t)r * k + q];
                if (a == 0.0f) continue;
                if (s->down_i8) axpy_i8(acc + (size_t)r * D + d0, a, s->down_i8 + e0, w);
                else axpy_i4(acc + (size_t)r * D + d0, a, s->down_i4, e0, w);
            }
        }
        const float *sc = s->down_scale + (s->down_i8 ? 0 : (size_t)G * D) + d0, *z = s->down_zero ? s->down_zero + (size_t)G * D + d0 : NULL;
        for (int r = 0; r < n; r++) {
            float *o = out + (size_t)r * D + d0;
            const float *a = acc + (size_t)r * D + d0, sum = gsum[(size_t)r * groups + G];
            if (z)
                for (int d = 0; d < w; d++) o[d] += sc[d] * (a[d] - z[d] * sum);
            else
                for (int d = 0; d < w; d++) o[d] += sc[d] * a[d];
        }
    }
}

static void group_sums(const sparse_rows *r, const float *xn, float *xs, int n, int D)
{
    if (!r->i4) return;
    const int per_row = D / r->group;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < per_row; k++) {
            float t = 0;
            for (int d = 0; d < r->group; d++) t += xn[(size_t)i * D + (size_t)k * r->group + d];
            xs[(size_t)i * (D / 32 + 1) + k] = t;
        }
}

void sparse_ffn_updown(const sparse_ffn *s, const float *xn, const float *g, const int *active, int k, float *out, int n, float *scratch)
{
    const int D = s->D, F = s->F, groups = F / s->down_group + 1, xs_row = D / 32 + 1;
    float *x1 = scratch, *acc = x1 + (size_t)n * F, *xs = acc + (size_t)n * D, *gsum = xs + (size_t)n * xs_row;
    group_sums(&s->up_rows, xn, xs, n, D);
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int b = 0; b < (k + 3) / 4; b++) { /* blocks of four neurons: x is read once per four rows (f32) */
            const int q0 = 4 * b, m = k - q0 < 4 ? k - q0 : 4;
            for (int r = 0; r < n; r++) {
                const float *x = xn + (size_t)r * D;
                float u[4];
                if (m == 4 && s->up_rows.w) {
                    const float *rows[4];
                    for (int i = 0; i < 4; i++) rows[i] = s->up_rows.w + (size_t)active[q0 + i] * D;
                    dot4_f32(rows, x, D, u);
                } else {
                    for (int i = 0; i < m; i++)
                        u[i] = g[(size_t)r * F + active[q0 + i]] != 0.0f ? row_dot(&s->up_rows, active[q0 + i], x, xs + (size_t)r * xs_row, D) : 0.0f;
                }
                for (int i = 0; i < m; i++) x1[(size_t)r * k + q0 + i] = g[(size_t)r * F + active[q0 + i]] * u[i];
            }
        }
#pragma omp single
        if (!s->down_f32) { /* per row, the sum of x1 over each grid group's active neurons (the zero points' term) */
            memset(gsum, 0, (size_t)n * groups * sizeof(float));
            for (int q = 0; q < k; q++)
                for (int r = 0; r < n; r++) gsum[(size_t)r * groups + active[q] / s->down_group] += x1[(size_t)r * k + q];
        }
        const int T = omp_get_num_threads(), t = omp_get_thread_num(), chunk = ((D + T - 1) / T + 31) & ~31;
        const int d0 = t * chunk, d1 = d0 + chunk < D ? d0 + chunk : D;
        if (d0 < d1) down_columns(s, x1, active, k, out, acc, gsum, n, d0, d1);
    }
}

/* the gate rows the predictor kept: g = act(x . W_gate[j]) for predicted j, 0 elsewhere */
static void predicted_gate(const sparse_ffn *s, const float *xn, const uint8_t *predicted, float *g, int *list, float *xs, int n)
{
    const int D = s->D, F = s->F, xs_row = D / 32 + 1;
    int m = 0;
    for (int j = 0; j < F; j++)
        if (predicted[j]) list[m++] = j;
    memset(g, 0, (size_t)n * F * sizeof(float));
    group_sums(&s->gate_rows, xn, xs, n, D);
#pragma omp parallel for schedule(static)
    for (int q = 0; q < m; q++)
        for (int r = 0; r < n; r++) {
            const int j = list[q];
            g[(size_t)r * F + j] = act_value(s->act, row_dot(&s->gate_rows, j, xn + (size_t)r * D, xs + (size_t)r * xs_row, D), s->threshold);
        }
}

int sparse_ffn_forward(sparse_ffn *s, const float *xn, float *out, int n, const uint8_t *predicted, float *scratch)
{
    const int F = s->F;
    float *g = scratch, *h = g + (size_t)n * F, *ud = h + (size_t)n * F + F, *lin = ud + updown_scratch(s, n);
    int *active = (int *)(h + (size_t)n * F); /* F ints in F floats */
    if (predicted) {
        for (int f = 0; f < F; f++) s->predicted_sum += predicted[f] != 0;
        predicted_gate(s, xn, predicted, g, active, ud + (size_t)n * (F + s->D), n);
    } else {
        linear_forward(s->gate, xn, g, n, lin);
        for (size_t i = 0; i < (size_t)n * F; i++) g[i] = act_value(s->act, g[i], s->threshold);
    }
    int k = 0;
    for (int f = 0; f < F; f++) {
        int on = 0;
        for (int r = 0; r < n && !on; r++) on = g[(size_t)r * F + f] != 0.0f;
        if (on) active[k++] = f;
    }
    s->calls++;
    s->active_sum += k;
    if (!predicted && k > s->dense_above * F) { /* above the crossover: the dense kernels */
        float *u = ud;
        linear_forward(s->up, xn, u, n, lin);
        for (size_t i = 0; i < (size_t)n * F; i++) h[i] = g[i] * u[i];
        linear_forward(s->down, h, out, n, lin);
        return k;
    }
    sparse_ffn_updown(s, xn, g, active, k, out, n, ud);
    return k;
}

void sparse_ffn_reference(const sparse_ffn *s, const float *xn, float *out, int n, const uint8_t *predicted)
{
    const int D = s->D, F = s->F;
    for (int r = 0; r < n; r++) {
        const float *x = xn + (size_t)r * D;
        double *o = calloc((size_t)D, sizeof(double));
        for (int j = 0; j < F; j++) {
            if (predicted && !predicted[j]) continue;
            double gv = 0, uv = 0;
            for (int d = 0; d < D; d++) gv += row_value(&s->gate_rows, j, d, D) * x[d], uv += row_value(&s->up_rows, j, d, D) * x[d];
            const double a = act_value(s->act, (float)gv, s->threshold);
            if (a == 0) continue;
            for (int d = 0; d < D; d++) o[d] += a * uv * down_value(s, j, d);
        }
        for (int d = 0; d < D; d++) out[(size_t)r * D + d] = (float)o[d];
        free(o);
    }
}

/* ---- the crossover ---- */

static double time_of(const sparse_ffn *s, const float *x, const float *g, const int *active, int k, float *out, float *scratch, int dense)
{
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = omp_get_wtime();
        if (dense) {
            float *u = scratch, *h = u + s->F, *lin = h + s->F;
            linear_forward(s->up, x, u, 1, lin);
            for (int i = 0; i < s->F; i++) h[i] = g[i] * u[i];
            linear_forward(s->down, h, out, 1, lin);
        } else {
            sparse_ffn_updown(s, x, g, active, k, out, 1, scratch);
        }
        const double t = omp_get_wtime() - t0;
        if (rep > 0 && t < best) best = t; /* the first run warms the caches */
    }
    return best;
}

double sparse_ffn_calibrate(sparse_ffn *s)
{
    const int D = s->D, F = s->F;
    float *scratch = malloc((2 * (size_t)D + 2 * F + sparse_ffn_scratch(s, 1)) * sizeof(float));
    if (!scratch) return s->dense_above; /* no memory to measure: the sparse kernels stay on */
    float *x = scratch, *g = x + D, *out = g + F, *work = out + D;
    int *active = (int *)(work + sparse_ffn_scratch(s, 1));
    cpet_rng r;
    rng_seed(&r, 12345);
    for (int d = 0; d < D; d++) x[d] = rng_normal(&r);
    for (int f = 0; f < F; f++) g[f] = 0.5f + rng_uniform(&r);
    const double dense = time_of(s, x, g, active, F, out, work, 1);
    static const double levels[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    double prev = 0, t_prev = 0;
    s->dense_above = 1.01;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        int k = 0; /* an evenly spread pattern of the level's activity */
        for (int f = 0; f < F; f++)
            if ((int)((f + 1) * levels[i]) != (int)(f * levels[i])) active[k++] = f;
        const double t = time_of(s, x, g, active, k, out, work, 0);
        if (t > dense) { /* crossed between the previous level and this one: interpolate */
            s->dense_above = i == 0 ? 0.0 : prev + (levels[i] - prev) * (dense - t_prev) / (t - t_prev);
            break;
        }
        prev = levels[i], t_prev = t;
    }
    free(scratch);
    return s->dense_above;
}

/* ---- a model's decode: its layers' sparse FFNs ---- */

void sparse_decode_free(sparse_decode *d)
{
    if (!d) return;
    for (int l = 0; l < d->n_layers; l++) sparse_ffn_free(&d->layers[l]);
    free(d->layers);
    free(d);
}
