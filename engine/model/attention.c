#include <math.h>
#include <omp.h>
#include <string.h>

#include "blas.h"
#include "gemv.h"
#include "kernels.h"
#include "ops.h"

/* P = softmax(q k^T scale) for one (batch, head) pair into p [T, T], causal */
static void probs_of(float *p, const float *q, const float *k, int b, int h, int T, int H, int KV, int hd)
{
    const int group = H / KV, qs = H * hd, ks = KV * hd, g = h / group;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *qb = q + (size_t)b * T * qs + (size_t)h * hd;
    const float *kb = k + (size_t)b * T * ks + (size_t)g * hd;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, qb, qs, kb, ks, 0.0f, p, T);
    for (int i = 0; i < T; i++) {
        float *row = p + (size_t)i * T;
        float mx = -INFINITY;
        for (int j = 0; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j <= i; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.0f; /* causal mask */
    }
}

void attention_probs(float *att, const float *q, const float *k, int B, int T, int H, int KV, int hd)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) probs_of(att + (size_t)bh * T * T, q, k, bh / H, bh % H, T, H, KV, hd);
}

/* One (batch, head) pair per task; the small GEMMs run single-threaded inside the parallel loop. */
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T, int H,
                       int KV, int hd)
{
    const int group = H / KV, qs = H * hd, ks = KV * hd;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, g = h / group;
        float *p = att + (size_t)bh * T * T;
        probs_of(p, q, k, b, h, T, H, KV, hd);
        const float *vb = v + (size_t)b * T * ks + (size_t)g * hd;
        float *ob = out + (size_t)b * T * qs + (size_t)h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, vb, ks, 0.0f, ob, qs);
    }
}

/* dP = dO V^T;  dS = P * (dP - rowsum(P * dP)) * scale;  dQ += dS K;  dK += dS^T Q;  dV += P^T dO.
 * Parallel over (batch, kv head) so the query heads sharing a KV head accumulate without races. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int H, int KV, int hd)
{
    const int group = H / KV, qs = H * hd, ks = KV * hd;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bg = 0; bg < B * KV; bg++) {
        int b = bg / KV, g = bg % KV;
        float *ds = scratch + (size_t)omp_get_thread_num() * T * T;
        const float *kb = k + (size_t)b * T * ks + (size_t)g * hd;
        const float *vb = v + (size_t)b * T * ks + (size_t)g * hd;
        float *dkb = dk + (size_t)b * T * ks + (size_t)g * hd;
        float *dvb = dv + (size_t)b * T * ks + (size_t)g * hd;
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *p = att + ((size_t)b * H + h) * T * T;
            const float *qb = q + (size_t)b * T * qs + (size_t)h * hd;
            const float *dob = dout + (size_t)b * T * qs + (size_t)h * hd;
            float *dqb = dq + (size_t)b * T * qs + (size_t)h * hd;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dob, qs, vb, ks, 0.0f, ds, T);
            for (int i = 0; i < T; i++) {
                const float *pr = p + (size_t)i * T;
                float *dr = ds + (size_t)i * T;
                float dot = 0.0f;
                for (int j = 0; j <= i; j++) dot += pr[j] * dr[j];
                for (int j = 0; j <= i; j++) dr[j] = pr[j] * (dr[j] - dot) * scale;
                for (int j = i + 1; j < T; j++) dr[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, kb, ks, 1.0f, dqb, qs);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, qb, qs, 1.0f, dkb, ks);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dob, qs, 1.0f, dvb, ks);
        }
    }
}

/* Decoding against a KV cache: n new queries at positions pos0.., keys/values for positions 0..pos0+n-1
 * in k_cache/v_cache [pos, KV*hd]. scores: (pos0 + n) floats per OpenMP thread. Forward only. */
void attention_forward_cached(float *out, float *scores, const float *q, const float *k_cache, const float *v_cache,
                              int n, int pos0, int H, int KV, int hd)
{
    const int group = H / KV, qs = H * hd, ks = KV * hd, span = pos0 + n;
    const float scale = 1.0f / sqrtf((float)hd);
    const kernel_table *kt = kernels();
#pragma omp parallel for schedule(static)
    for (int ih = 0; ih < n * H; ih++) {
        int i = ih / H, h = ih % H, g = h / group, last = pos0 + i;
        const float *qi = q + (size_t)i * qs + (size_t)h * hd;
        float *s = scores + (size_t)omp_get_thread_num() * span, mx = -INFINITY, sum = 0.0f;
        kt->dot_f32_rows(qi, k_cache + (size_t)g * hd, (size_t)ks, last + 1, hd, s); /* q . k_j, dot_f32's bits */
        for (int j = 0; j <= last; j++) {
            s[j] = s[j] * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (int j = 0; j <= last; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float *o = out + (size_t)i * qs + (size_t)h * hd;
        for (int c = 0; c < hd; c++) o[c] = 0.0f;
        for (int j = 0; j <= last; j++) {
            const float *vj = v_cache + (size_t)j * ks + (size_t)g * hd;
            float p = s[j] / sum;
            for (int c = 0; c < hd; c++) o[c] += p * vj[c];
        }
    }
}
