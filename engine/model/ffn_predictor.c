#include "ffn_predictor.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "fileio.h"
#include "gemv.h"
#include "params.h"
#include "safetensors.h"
#include "tensor.h"

int ffn_predictor_alloc(ffn_predictor *p, int n_layers, int D, int H, int F, cpet_err *err)
{
    memset(p, 0, sizeof *p);
    if (n_layers <= 0 || D <= 0 || H <= 0 || F <= 0) return cpet_fail(err, "predictor: bad shape %d layers, %d -> %d -> %d", n_layers, D, H, F);
    p->n_layers = n_layers;
    p->gating = PREDICT_THRESHOLD;
    p->p = 0.5f;
    if (!(p->layers = calloc((size_t)n_layers, sizeof *p->layers))) return cpet_fail(err, "predictor: out of memory");
    for (int l = 0; l < n_layers; l++) {
        ffn_predictor_layer *y = &p->layers[l];
        y->D = D, y->H = H, y->F = F;
        y->w1 = cpet_alloc((size_t)H * D * sizeof(float));
        y->w2 = cpet_alloc((size_t)F * H * sizeof(float));
        if (!y->w1 || !y->w2) {
            ffn_predictor_free(p);
            return cpet_fail(err, "predictor: out of memory");
        }
    }
    return 0;
}

void ffn_predictor_free(ffn_predictor *p)
{
    for (int l = 0; p->layers && l < p->n_layers; l++) cpet_free(p->layers[l].w1), cpet_free(p->layers[l].w2);
    free(p->layers);
    memset(p, 0, sizeof *p);
}

size_t ffn_predictor_scratch(const ffn_predictor *p, int n)
{
    const ffn_predictor_layer *y = &p->layers[0];
    return (size_t)n * ((size_t)y->H + y->F) + (size_t)y->F;
}

static float logit_of(float prob) { return logf(prob / (1.0f - prob)); }

static int cmp_desc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* marks the k largest of z[F] in mask (ties: the lowest indices) */
static void mark_top_k(const float *z, int F, int k, uint8_t *mask, float *sorted)
{
    if (k >= F) {
        memset(mask, 1, (size_t)F);
        return;
    }
    if (k <= 0) return;
    memcpy(sorted, z, (size_t)F * sizeof(float));
    qsort(sorted, (size_t)F, sizeof(float), cmp_desc);
    const float kth = sorted[k - 1];
    int kept = 0;
    for (int f = 0; f < F && kept < k; f++) /* ties at the k-th value: the lowest indices */
        if (z[f] > kth) mask[f] = 1, kept++;
    for (int f = 0; f < F && kept < k; f++)
        if (z[f] == kth) mask[f] = 1, kept++;
}

int ffn_predictor_mask(const ffn_predictor *p, int layer, const float *x, int n, uint8_t *mask, float *scratch)
{
    const ffn_predictor_layer *y = &p->layers[layer];
    const int H = y->H, F = y->F;
    float *a = scratch, *z = a + (size_t)n * H, *sorted = z + (size_t)n * F;
    memset(mask, 0, (size_t)F);
    for (int r = 0; r < n; r += GEMV_MAX_N) {
        const int m = n - r < GEMV_MAX_N ? n - r : GEMV_MAX_N;
        gemv_f32(y->w1, x + (size_t)r * y->D, a + (size_t)r * H, m, H, y->D);
    }
    for (size_t i = 0; i < (size_t)n * H; i++) a[i] = a[i] > 0 ? a[i] : 0;
    for (int r = 0; r < n; r += GEMV_MAX_N) {
        const int m = n - r < GEMV_MAX_N ? n - r : GEMV_MAX_N;
        gemv_f32(y->w2, a + (size_t)r * H, z + (size_t)r * F, m, F, H);
    }
    if (p->gating == PREDICT_TOP_K) {
        for (int r = 0; r < n; r++) mark_top_k(z + (size_t)r * F, F, p->top_k, mask, sorted);
    } else {
        const float t = logit_of(p->p);
        for (int r = 0; r < n; r++)
            for (int f = 0; f < F; f++) mask[f] |= z[(size_t)r * F + f] >= t;
    }
    int k = 0;
    for (int f = 0; f < F; f++) k += mask[f] != 0;
    return k;
}

double predict_recall(const predict_counts *c) { return c->tp + c->fn > 0 ? c->tp / (c->tp + c->fn) : NAN; }
double predict_precision(const predict_counts *c) { return c->tp + c->fp > 0 ? c->tp / (c->tp + c->fp) : NAN; }
double predict_sparsity(const predict_counts *c)
{
    const double all = c->tp + c->fp + c->fn + c->tn;
    return all > 0 ? (c->tn + c->fn) / all : NAN;
}

void predict_count(predict_counts *c, const uint8_t *predicted, const uint8_t *truth, int n)
{
    for (int i = 0; i < n; i++) {
        const int p = predicted[i] != 0, t = truth[i] != 0;
        c->tp += p && t, c->fp += p && !t, c->fn += !p && t, c->tn += !p && !t;
    }
}

/* ---- files ---- */

int ffn_predictor_save(const ffn_predictor *p, const char *dir, cpet_err *err)
{
    char path[4200];
    if (make_dirs(dir, err) != 0) return -1;
    const int n = p->n_layers;
    st_entry *e = calloc((size_t)2 * n, sizeof *e);
    char (*names)[64] = calloc((size_t)2 * n, sizeof *names);
    if (!e || !names) {
        free(e), free(names);
        return cpet_fail(err, "predictor: out of memory");
    }
    for (int l = 0; l < n; l++) {
        const ffn_predictor_layer *y = &p->layers[l];
        snprintf(names[2 * l], 64, "layers.%d.w1", l), snprintf(names[2 * l + 1], 64, "layers.%d.w2", l);
        e[2 * l] = st_f32_entry(names[2 * l], y->w1, 2, (int64_t[]){y->H, y->D});
        e[2 * l + 1] = st_f32_entry(names[2 * l + 1], y->w2, 2, (int64_t[]){y->F, y->H});
    }
    snprintf(path, sizeof path, "%s/predictor.safetensors", dir);
    int rc = st_write(path, e, 2 * n, NULL, 0, err);
    free(e), free(names);
    if (rc != 0) return -1;
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)p->model_fingerprint);
    json_t *j = json_pack("{s:s, s:s, s:f, s:i, s:i, s:{s:i, s:i, s:i, s:s}}", "format", "cpet ffn predictor: per layer w1 [H, D], relu, w2 [F, H]",
                          "gating", p->gating == PREDICT_TOP_K ? "top_k" : "threshold", "p", (double)p->p, "top_k", p->top_k, "hidden",
                          p->layers[0].H, "model", "layers", p->model_layers, "hidden_size", p->model_hidden, "intermediate_size",
                          p->model_ffn, "fingerprint", fp);
    snprintf(path, sizeof path, "%s/predictor.json", dir);
    rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

int ffn_predictor_load(ffn_predictor *p, const char *dir, int n_layers, int D, int F, uint64_t fingerprint, cpet_err *err)
{
    char path[4200];
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/predictor.json", dir);
    json_t *j = json_read_file(path, err);
    if (!j) return -1;
    const json_t *mj = json_object_get(j, "model");
    const int layers = (int)json_integer_value(json_object_get(mj, "layers")), hidden = (int)json_integer_value(json_object_get(mj, "hidden_size")),
              ffn = (int)json_integer_value(json_object_get(mj, "intermediate_size")), H = (int)json_integer_value(json_object_get(j, "hidden"));
    const char *fp = json_string_value(json_object_get(mj, "fingerprint")), *gating = json_string_value(json_object_get(j, "gating"));
    char want[32];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)fingerprint);
    int rc = 0;
    if (layers != n_layers || hidden != D || ffn != F)
        rc = cpet_fail(err, "%s: a predictor for a model of %d layers, hidden %d, FFN %d; this one has %d, %d, %d", path, layers, hidden, ffn,
                       n_layers, D, F);
    else if (!fp || strcmp(fp, want) != 0)
        rc = cpet_fail(err, "%s: trained for another model (weights fingerprint %s, this model's %s)", path, fp ? fp : "missing", want);
    else if (!gating || (strcmp(gating, "threshold") != 0 && strcmp(gating, "top_k") != 0))
        rc = cpet_fail(err, "%s: gating '%s' is not threshold or top_k", path, gating ? gating : "");
    if (rc == 0) rc = ffn_predictor_alloc(p, n_layers, D, H, F, err);
    if (rc == 0) {
        p->gating = !strcmp(gating, "top_k") ? PREDICT_TOP_K : PREDICT_THRESHOLD;
        p->p = (float)json_number_value(json_object_get(j, "p"));
        p->top_k = (int)json_integer_value(json_object_get(j, "top_k"));
        p->model_layers = layers, p->model_hidden = hidden, p->model_ffn = ffn, p->model_fingerprint = fingerprint;
    }
    json_decref(j);
    if (rc != 0) return -1;
    snprintf(path, sizeof path, "%s/predictor.safetensors", dir);
    st_file f;
    if (st_open(&f, path, err) != 0) {
        ffn_predictor_free(p);
        return -1;
    }
    for (int l = 0; l < n_layers && rc == 0; l++) {
        char name[64];
        ffn_predictor_layer *y = &p->layers[l];
        for (int k = 0; k < 2 && rc == 0; k++) {
            snprintf(name, sizeof name, "layers.%d.w%d", l, k + 1);
            const st_tensor *t = st_find(&f, name);
            const int64_t shape[2] = {k ? F : H, k ? H : D};
            if (!t) rc = cpet_fail(err, "%s: tensor %s is missing", path, name);
            else rc = st_check_shape(&f, t, 2, shape, err) || st_to_f32(&f, t, k ? y->w2 : y->w1, err);
        }
    }
    st_close(&f);
    if (rc != 0) ffn_predictor_free(p);
    return rc;
}
