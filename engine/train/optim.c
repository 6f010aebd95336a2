#include "optim.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "tensor.h"

adamw_config adamw_defaults(void) { return (adamw_config){1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f}; }

int adamw_init(adamw *o, adamw_config cfg, cpet_err *err)
{
    (void)err;
    memset(o, 0, sizeof *o);
    o->cfg = cfg;
    return 0;
}

int adamw_add(adamw *o, param_tensor *tensors, int n, cpet_err *err)
{
    for (int i = 0; i < n; i++) {
        if (!tensors[i].trainable) continue;
        if (!tensors[i].g) return cpet_fail(err, "tensor '%s' is trainable but has no gradient buffer", tensors[i].name);
        int k = o->n_tensors++;
        o->tensors = realloc(o->tensors, (size_t)o->n_tensors * sizeof *o->tensors);
        o->m = realloc(o->m, (size_t)o->n_tensors * sizeof *o->m);
        o->v = realloc(o->v, (size_t)o->n_tensors * sizeof *o->v);
        o->tensors[k] = &tensors[i];
        o->m[k] = cpet_alloc_floats(tensors[i].n);
        o->v[k] = cpet_alloc_floats(tensors[i].n);
        if (!o->m[k] || !o->v[k]) return cpet_fail(err, "out of memory for optimizer state");
    }
    return 0;
}

void adamw_step(adamw *o, float lr)
{
    const adamw_config *c = &o->cfg;
    o->step++;
    const float bc1 = 1.0f - powf(c->beta1, (float)o->step), bc2 = 1.0f - powf(c->beta2, (float)o->step);
    for (int k = 0; k < o->n_tensors; k++) {
        param_tensor *t = o->tensors[k];
        float *p = t->p, *g = t->g, *m = o->m[k], *v = o->v[k];
        const float decay = t->decay ? lr * c->weight_decay : 0.0f;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < t->n; i++) {
            m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
            v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
            float mhat = m[i] / bc1, vhat = v[i] / bc2;
            p[i] -= decay * p[i] + lr * mhat / (sqrtf(vhat) + c->eps);
        }
    }
}

void adamw_free(adamw *o)
{
    for (int k = 0; k < o->n_tensors; k++) {
        cpet_free(o->m[k]);
        cpet_free(o->v[k]);
    }
    free(o->m);
    free(o->v);
    free(o->tensors);
    memset(o, 0, sizeof *o);
}

/* Sum of squares in fixed chunks, each in eight double lanes, the partial sums added in chunk order: the same
 * bits whatever the thread count, and the gradient norm no longer a serial pass (it was a tenth of a
 * training step at 2 threads beside llm.c). */
#define NORM_CHUNK 65536
static double chunk_sum_of_squares(const float *g, size_t n)
{
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
#else /* the same lanes and the same fused steps: the same bits on every build */
    double a[8] = {0}, lanes[4];
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) a[l] = fma((double)g[i + l], (double)g[i + l], a[l]);
    for (int l = 0; l < 4; l++) lanes[l] = a[l] + a[l + 4];
#endif
    double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

double sum_of_squares(const float *g, size_t n)
{
    const size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    if (chunks <= 1) return chunk_sum_of_squares(g, n);
    double *part = malloc(chunks * sizeof *part), total = 0;
    if (!part) return vec_dot(g, g, n);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        const size_t lo = c * NORM_CHUNK;
        part[c] = chunk_sum_of_squares(g + lo, lo + NORM_CHUNK < n ? NORM_CHUNK : n - lo);
    }
    for (size_t c = 0; c < chunks; c++) total += part[c];
    free(part);
    return total;
}

double clip_grad_norm(adamw *o, double max_norm)
{
    double ss = 0.0;
    for (int k = 0; k < o->n_tensors; k++) ss += sum_of_squares(o->tensors[k]->g, o->tensors[k]->n);
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6));
        for (int k = 0; k < o->n_tensors; k++) {
            float *g = o->tensors[k]->g;
            const size_t n = o->tensors[k]->n;
#pragma omp parallel for schedule(static) if (n > NORM_CHUNK)
            for (size_t i = 0; i < n; i++) g[i] *= scale;
        }
    }
    return norm;
}

float lr_at(const lr_schedule *s, long step)
{
    /* as transformers get_*_schedule_with_warmup: lr * step / warmup during warmup */
    if (s->warmup_steps > 0 && step < s->warmup_steps) return s->lr * (float)step / (float)s->warmup_steps;
    if (s->kind == SCHED_CONSTANT || s->total_steps <= s->warmup_steps) return s->lr;
    double progress = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    if (progress > 1.0) progress = 1.0;
    double factor = s->kind == SCHED_LINEAR ? 1.0 - progress : 0.5 * (1.0 + cos(M_PI * progress));
    return s->min_lr + (s->lr - s->min_lr) * (float)factor;
}

int schedule_parse(const char *name, schedule_kind *out)
{
    if (strcmp(name, "constant") == 0) *out = SCHED_CONSTANT;
    else if (strcmp(name, "linear") == 0) *out = SCHED_LINEAR;
    else if (strcmp(name, "cosine") == 0) *out = SCHED_COSINE;
    else return -1;
    return 0;
}

/* Optimizer state as safetensors: m.<tensor>, v.<tensor>, the step in the metadata. */
int adamw_save(const adamw *o, const char *path, cpet_err *err)
{
    st_entry *e = calloc(2 * (size_t)o->n_tensors + 1, sizeof *e);
    char (*names)[180] = calloc(2 * (size_t)o->n_tensors + 1, sizeof *names);
    for (int k = 0; k < o->n_tensors; k++) {
        const param_tensor *t = o->tensors[k];
        int64_t n = (int64_t)t->n;
        snprintf(names[2 * k], sizeof names[0], "m.%s", t->name);
        snprintf(names[2 * k + 1], sizeof names[0], "v.%s", t->name);
        e[2 * k] = st_f32_entry(names[2 * k], o->m[k], 1, &n);
        e[2 * k + 1] = st_f32_entry(names[2 * k + 1], o->v[k], 1, &n);
    }
    char step[32];
    snprintf(step, sizeof step, "%ld", o->step);
    const char *meta[] = {"step", step, "format", "cpet-adamw"};
    int rc = st_write(path, e, 2 * o->n_tensors, meta, 2, err);
    free(e);
    free(names);
    return rc;
}

int adamw_load(adamw *o, const char *path, cpet_err *err)
{
    st_file f;
    if (st_open(&f, path, err) != 0) return -1;
    const char *step = st_meta(&f, "step");
    int rc = step ? 0 : cpet_fail(err, "%s: no 'step' in the metadata", path);
    for (int k = 0; k < o->n_tensors && rc == 0; k++) {
        char name[180];
        for (int which = 0; which < 2 && rc == 0; which++) {
            snprintf(name, sizeof name, "%c.%s", which ? 'v' : 'm', o->tensors[k]->name);
            const st_tensor *t = st_find(&f, name);
            if (!t || t->numel != o->tensors[k]->n || t->dtype != ST_F32)
                rc = cpet_fail(err, "%s: optimizer state for '%s' is missing or has the wrong size", path, o->tensors[k]->name);
            else
                memcpy(which ? o->v[k] : o->m[k], t->data, t->nbytes);
        }
    }
    if (rc == 0) o->step = atol(step);
    st_close(&f);
    return rc;
}
