#include "distill.h"

#include <math.h>
#include <stdlib.h>

double distill_hidden_mse(model *student, const float *teacher_hidden, float w, float *grad)
{
    student->taps.d_final_hidden = NULL;
    if (w == 0.0f) return 0.0;
    const size_t n = (size_t)student->acts.B * student->acts.T * student->cfg.hidden_size;
    const float *h = model_final_hidden(student);
    double sum = 0;
    const float scale = 2.0f * w / (float)n;
    for (size_t i = 0; i < n; i++) {
        const float d = h[i] - teacher_hidden[i];
        sum += (double)d * d;
        grad[i] = scale * d;
    }
    student->taps.d_final_hidden = grad;
    return w * sum / (double)n;
}

/* cos = s.t / (|s||t|):  d cos / ds = t / (|s||t|) - cos s / |s|^2;  dL/dz_ij = (p_ij - [i == j]) / N, z = cos / tau */
double token_contrastive_loss(const float *s, const float *t, int B, int T, int D, float tau, float *ds)
{
    const int N = B * T;
    double *ns = malloc((size_t)N * sizeof *ns), *nt = malloc((size_t)N * sizeof *nt), *z = malloc((size_t)T * sizeof *z);
    if (!ns || !nt || !z) {
        free(ns), free(nt), free(z);
        return NAN;
    }
    for (int i = 0; i < N; i++) {
        double a = 0, b = 0;
        for (int d = 0; d < D; d++) a += (double)s[(size_t)i * D + d] * s[(size_t)i * D + d], b += (double)t[(size_t)i * D + d] * t[(size_t)i * D + d];
        ns[i] = sqrt(a) + 1e-12, nt[i] = sqrt(b) + 1e-12;
    }
    double loss = 0;
    for (int b = 0; b < B; b++)
        for (int i = b * T; i < (b + 1) * T; i++) {
            const float *si = s + (size_t)i * D;
            double most = -INFINITY, sum = 0;
            for (int j = 0; j < T; j++) {
                const float *tj = t + (size_t)(b * T + j) * D;
                double dot = 0;
                for (int d = 0; d < D; d++) dot += (double)si[d] * tj[d];
                z[j] = dot / (ns[i] * nt[b * T + j]) / tau;
                most = fmax(most, z[j]);
            }
            for (int j = 0; j < T; j++) sum += exp(z[j] - most);
            loss += most + log(sum) - z[i - b * T];
            if (!ds) continue;
            float *g = ds + (size_t)i * D;
            for (int d = 0; d < D; d++) g[d] = 0.0f;
            for (int j = 0; j < T; j++) {
                const double coef = (exp(z[j] - most) / sum - (j == i - b * T)) / N / tau, cosij = z[j] * tau;
                const float *tj = t + (size_t)(b * T + j) * D;
                for (int d = 0; d < D; d++)
                    g[d] += (float)(coef * (tj[d] / (ns[i] * nt[b * T + j]) - cosij * si[d] / (ns[i] * ns[i])));
            }
        }
    free(ns), free(nt), free(z);
    return loss / N;
}

double distill_token_contrastive(model *student, const float *teacher_hidden, float w, float tau, float *grad)
{
    student->taps.d_final_hidden = NULL;
    if (w == 0.0f) return 0.0;
    const int B = student->acts.B, T = student->acts.T, D = student->cfg.hidden_size;
    const double loss = token_contrastive_loss(model_final_hidden(student), teacher_hidden, B, T, D, tau, grad);
    for (size_t i = 0; i < (size_t)B * T * D; i++) grad[i] *= w;
    student->taps.d_final_hidden = grad;
    return w * loss;
}
