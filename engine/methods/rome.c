#include "rome.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "generate.h"
#include "tensor.h"

/* The reference's v_lr 0.5 and weight decay; its 20 steps and clamp 4 were set for GPT-2 XL's scale. On the
 * embedded default's reader, ten single edits take on their statement 3 times with them, 4 with 100 steps and
 * clamp 100 (docs/eren.md, "ROME's settings"). The reference's context prefixes: 10 of its 20 (each costs a forward
 * and backward per step); on that reader they lower the count to 1, and are kept because the reference has
 * them. */
rome_config rome_defaults(int layer) { return (rome_config){layer, 100, 0.5f, 1e-3f, 100.0f, 10, 0}; }

void rome_stats_free(rome_stats *s)
{
    free(s->C_inv);
    memset(s, 0, sizeof *s);
}

/* in place: C = L L^T (lower triangle), then C^-1 into C. Returns -1 if C is not positive definite. */
static int invert_spd(double *C, int n)
{
    double *L = calloc((size_t)n * n, sizeof(double)), *col = malloc((size_t)n * sizeof(double));
    if (!L || !col) return free(L), free(col), -2;
    for (int j = 0; j < n; j++) {
        double d = C[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= L[(size_t)j * n + k] * L[(size_t)j * n + k];
        if (d <= 0) return free(L), free(col), -1;
        L[(size_t)j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double s = C[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= L[(size_t)i * n + k] * L[(size_t)j * n + k];
            L[(size_t)i * n + j] = s / L[(size_t)j * n + j];
        }
    }
    for (int e = 0; e < n; e++) { /* column e of the inverse: L y = e_e, then L^T x = y */
        for (int i = 0; i < n; i++) {
            double s = i == e;
            for (int k = 0; k < i; k++) s -= L[(size_t)i * n + k] * col[k];
            col[i] = s / L[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {
            double s = col[i];
            for (int k = i + 1; k < n; k++) s -= L[(size_t)k * n + i] * col[k];
            col[i] = s / L[(size_t)i * n + i];
        }
        for (int i = 0; i < n; i++) C[(size_t)i * n + e] = col[i];
    }
    free(L), free(col);
    return 0;
}

int rome_stats_compute(model *m, const int *stream, long n_tokens, int layer, int seq, long max_tokens, double ridge, rome_stats *s,
                       cpet_err *err)
{
    memset(s, 0, sizeof *s);
    const int F = m->cfg.intermediate_size;
    if (layer < 0 || layer >= m->cfg.n_layers) return cpet_fail(err, "rome: layer %d of a %d-layer model", layer, m->cfg.n_layers);
    if (seq < 2 || seq > m->rope_len) return cpet_fail(err, "rome: statistics windows of %d tokens (window %d)", seq, m->rope_len);
    s->layer = layer, s->F = F;
    s->C_inv = calloc((size_t)F * F, sizeof(double));
    float *tmp = malloc((size_t)F * F * sizeof(float));
    int rc = s->C_inv && tmp ? 0 : cpet_fail(err, "rome: out of memory for a %d x %d covariance", F, F);
    const long limit = max_tokens > 0 && max_tokens < n_tokens ? max_tokens : n_tokens;
    enum { WINDOWS = 16 }; /* per forward: consecutive windows of the stream are the rows of one batch */
    for (long start = 0; rc == 0 && start + seq <= limit;) {
        const int nb = (int)((limit - start) / seq < WINDOWS ? (limit - start) / seq : WINDOWS);
        if ((rc = model_forward_layers(m, stream + start, nb, seq, layer + 1, err)) != 0) break; /* the keys are in layer `layer` */
        const float *H = m->acts.h + (size_t)layer * nb * seq * F; /* [nb * seq, F]: what the down projection reads */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, F, nb * seq, 1.0f, H, F, H, F, 0.0f, tmp, F);
        for (size_t i = 0; i < (size_t)F * F; i++) s->C_inv[i] += tmp[i];
        s->tokens += (long)nb * seq, start += (long)nb * seq;
    }
    free(tmp);
    if (rc == 0 && s->tokens == 0) rc = cpet_fail(err, "rome: %ld tokens are fewer than one window of %d", limit, seq);
    if (rc == 0) {
        double mean_diag = 0;
        for (size_t i = 0; i < (size_t)F * F; i++) s->C_inv[i] /= (double)s->tokens;
        for (int i = 0; i < F; i++) mean_diag += s->C_inv[(size_t)i * F + i] / F;
        for (int i = 0; i < F; i++) s->C_inv[(size_t)i * F + i] += ridge * mean_diag;
        const int inv = invert_spd(s->C_inv, F);
        if (inv != 0) rc = cpet_fail(err, inv == -2 ? "rome: out of memory" : "rome: the key covariance is not positive definite (raise the ridge)");
    }
    if (rc != 0) rome_stats_free(s);
    return rc;
}

/* BOS + prompt + " " + target as one sequence (the last target token only predicted) with targets on the
 * target's tokens alone: ids, tg [T]; the prompt's tokens too if wanted */
static int object_sequence(model *m, const tokenizer *tok, const char *prompt, const char *target, int **ids_out, int **tg_out, int *T_out,
                           int **prompt_ids, int *n_prompt, cpet_err *err)
{
    int *p = NULL, np = 0, *t = NULL, nt = 0;
    if (tokenizer_bos(tok, m->cfg.bos_token_id) < 0) /* the positions below count it */
        return cpet_fail(err, "rome: the tokenizer adds no BOS (add_bos_token false); ROME's sequences here start with one");
    char *spaced = malloc(strlen(target) + 2);
    if (!spaced) return cpet_fail(err, "rome: out of memory");
    spaced[0] = ' ';
    strcpy(spaced + 1, target);
    int rc = tokenizer_encode(tok, prompt, strlen(prompt), &p, &np, err);
    if (rc == 0) rc = tokenizer_encode(tok, spaced, strlen(spaced), &t, &nt, err);
    free(spaced);
    if (rc == 0 && nt == 0) rc = cpet_fail(err, "rome: an empty target");
    const int T = np + nt;
    if (rc == 0 && T > m->rope_len) rc = cpet_fail(err, "rome: the prompt and target take %d tokens, over the window of %d", T + 1, m->rope_len);
    int *ids = rc == 0 ? malloc((size_t)T * sizeof(int)) : NULL, *tg = rc == 0 ? malloc((size_t)T * sizeof(int)) : NULL;
    if (rc == 0 && (!ids || !tg)) rc = cpet_fail(err, "rome: out of memory");
    if (rc == 0) {
        ids[0] = m->cfg.bos_token_id;
        memcpy(ids + 1, p, (size_t)np * sizeof(int));
        memcpy(ids + 1 + np, t, (size_t)(nt - 1) * sizeof(int));
        for (int i = 0; i < T; i++) tg[i] = -1;
        for (int j = 0; j < nt; j++) tg[np + j] = t[j]; /* position np (the prompt's last token) predicts the first */
    }
    free(t);
    if (rc != 0) {
        free(p), free(ids), free(tg);
        return -1;
    }
    *ids_out = ids, *tg_out = tg, *T_out = T;
    if (prompt_ids) *prompt_ids = p, *n_prompt = np;
    else free(p);
    return 0;
}

/* the new object's mean token NLL after the prompt (m->loss with targets on the object only) */
static int object_nll(model *m, const int *ids, const int *targets, int T, double *nll, cpet_err *err)
{
    if (model_forward(m, ids, targets, 1, T, err) != 0) return -1;
    *nll = m->loss;
    return 0;
}

void rome_update_free(rome_update *up)
{
    free(up->delta), free(up->u);
    memset(up, 0, sizeof *up);
}

void rome_apply(model *m, const rome_update *up)
{
    float *w = m->layers[up->layer].lin[LIN_DOWN].w;
    for (int d = 0; d < up->D; d++)
        for (int f = 0; f < up->F; f++) w[(size_t)d * up->F + f] += (float)(up->delta[d] * up->u[f] / up->uk);
}

/* The reference's context templates: n texts the model generates from its start words, half of 5 tokens and
 * half of 10, sampled (temperature 1, top-p 0.95) from seed; each is used as "{text}. {prompt}". */
static int context_prefixes(model *m, const tokenizer *tok, int n, uint64_t seed, char ***out, cpet_err *err)
{
    static const char *const starts[5] = {"The", "Therefore", "Because", "I", "You"};
    char **texts = calloc((size_t)n + 1, sizeof *texts);
    if (!texts) return cpet_fail(err, "rome: out of memory");
    const int bos = tokenizer_bos(tok, m->cfg.bos_token_id), off = bos >= 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        int *ids = NULL, k = 0, total = 0;
        if ((rc = tokenizer_encode(tok, starts[i % 5], strlen(starts[i % 5]), &ids, &k, err)) != 0) break;
        const int len = i < n / 2 ? 5 : 10; /* tokens in all, the start word's included */
        int *in = malloc((size_t)(k + off) * sizeof(int)), *seq = malloc((size_t)(k + off + len) * sizeof(int));
        if (!in || !seq) rc = cpet_fail(err, "rome: out of memory");
        if (rc == 0) {
            if (off) in[0] = bos;
            memcpy(in + off, ids, (size_t)k * sizeof(int));
            gen_config g = {len > k ? len - k : 1, 1.0f, 0.95f, -1, seed * 1000003 + (uint64_t)i};
            rc = generate(m, in, k + off, &g, seq, &total, err);
        }
        char *text = NULL;
        size_t tl = 0;
        int end = off;
        while (rc == 0 && end < total && seq[end] >= 0 && seq[end] < tok->vocab_size && tok->token[seq[end]]) end++; /* the model's vocab may be padded */
        if (rc == 0) rc = tokenizer_decode(tok, seq + off, end - off, &text, &tl, err);
        if (rc == 0 && !(texts[i] = utf8_sanitize(text, tl, NULL))) rc = cpet_fail(err, "rome: out of memory");
        free(text), free(ids), free(in), free(seq);
    }
    if (rc != 0) {
        for (int i = 0; i < n; i++) free(texts[i]);
        free(texts);
        return -1;
    }
    *out = texts;
    return 0;
}

/* One context of an edit: its sequence and targets (object_sequence), and where the subject ends in it */
typedef struct {
    int *ids, *tg, T, subject_pos;
} rome_context;

static int context_make(model *m, const tokenizer *tok, const char *text, const char *subject, const char *target, rome_context *cx,
                        cpet_err *err)
{
    memset(cx, 0, sizeof *cx);
    const char *at = strstr(text, subject);
    if (!*subject || !at) return cpet_fail(err, "rome: the subject '%s' is not in the prompt '%s'", subject, text);
    int *pre = NULL, n_pre = 0, *p = NULL, np = 0;
    int rc = tokenizer_encode(tok, text, (size_t)(at - text) + strlen(subject), &pre, &n_pre, err);
    if (rc == 0) rc = object_sequence(m, tok, text, target, &cx->ids, &cx->tg, &cx->T, &p, &np, err);
    if (rc == 0 && (n_pre == 0 || n_pre > np || memcmp(pre, p, (size_t)n_pre * sizeof(int))))
        rc = cpet_fail(err, "rome: the prompt's tokens split the subject '%s' differently from the subject alone", subject);
    cx->subject_pos = n_pre; /* BOS is position 0 */
    free(pre), free(p);
    return rc;
}

int rome_compute(model *m, const tokenizer *tok, const rome_stats *s, const rome_config *c, const char *prompt, const char *subject,
                 const char *target, rome_update *up, rome_result *r, cpet_err *err)
{
    memset(r, 0, sizeof *r);
    memset(up, 0, sizeof *up);
    const int D = m->cfg.hidden_size, F = m->cfg.intermediate_size, l = c->layer;
    if (!s->C_inv || s->layer != l || s->F != F) return cpet_fail(err, "rome: statistics of layer %d, edit at layer %d", s->layer, l);
    linear *down = &m->layers[l].lin[LIN_DOWN];
    if (down->qw) return cpet_fail(err, "rome: layer %d's down projection is packed; ROME edits f32 weights", l);
    if (c->n_prefixes > 1000) return cpet_fail(err, "rome: %d context prefixes (at most 1000)", c->n_prefixes);
    const int n_ctx = 1 + (c->n_prefixes > 0 ? c->n_prefixes : 0);
    char **prefixes = NULL;
    rome_context *cx = calloc((size_t)n_ctx, sizeof *cx);
    int rc = cx ? 0 : cpet_fail(err, "rome: out of memory");
    if (rc == 0 && n_ctx > 1) rc = context_prefixes(m, tok, n_ctx - 1, c->seed, &prefixes, err);
    for (int j = 0; rc == 0 && j < n_ctx; j++) {
        char *text = NULL;
        if (j == 0) text = strdup(prompt);
        else if ((text = malloc(strlen(prefixes[j - 1]) + strlen(prompt) + 3))) sprintf(text, "%s. %s", prefixes[j - 1], prompt);
        rc = text ? context_make(m, tok, text, subject, target, &cx[j], err) : cpet_fail(err, "rome: out of memory");
        free(text);
    }
    for (int j = 0; prefixes && j < n_ctx - 1; j++) free(prefixes[j]);
    free(prefixes);
    float *delta = calloc((size_t)D, sizeof(float)), *d_delta = calloc((size_t)D, sizeof(float)), *k = calloc((size_t)F, sizeof(float));
    double *m1 = calloc((size_t)D, sizeof(double)), *m2 = calloc((size_t)D, sizeof(double)), *u = malloc((size_t)F * sizeof(double));
    if (rc == 0 && (!delta || !d_delta || !k || !m1 || !m2 || !u)) rc = cpet_fail(err, "rome: out of memory");
    /* k*: the key at the subject's last token, averaged over the contexts; the NLL before on the prompt */
    for (int j = 0; rc == 0 && j < n_ctx; j++) {
        double nll;
        if ((rc = object_nll(m, cx[j].ids, cx[j].tg, cx[j].T, &nll, err)) != 0) break;
        if (j == 0) r->nll_before = nll, r->subject_pos = cx[0].subject_pos;
        const float *h = m->acts.h + ((size_t)l * cx[j].T + cx[j].subject_pos) * F;
        for (int f = 0; f < F; f++) k[f] += h[f] / (float)n_ctx;
    }
    r->contexts = n_ctx;
    double wk_norm = 0;
    for (int d = 0; rc == 0 && d < D; d++) { /* ||W k*|| */
        double s2 = 0;
        for (int f = 0; f < F; f++) s2 += (double)down->w[(size_t)d * F + f] * k[f];
        wk_norm += s2 * s2;
    }
    wk_norm = sqrt(wk_norm);
    /* the contexts as one batch, right-padded (causal attention: padding never reaches a real position). Every
     * context's targets are the same object tokens, so the batch's mean token NLL is the mean over contexts of
     * each context's mean NLL: the reference's loss, in one forward and backward per step. */
    int T_max = 0;
    for (int j = 0; j < n_ctx; j++) T_max = cx[j].T > T_max ? cx[j].T : T_max;
    const size_t rows = n_ctx > 0 && n_ctx <= 1001 ? (size_t)n_ctx : 1, cells = rows * (size_t)(T_max > 0 && T_max <= 1 << 20 ? T_max : 1);
    int *batch_ids = calloc(cells, sizeof(int)), *batch_tg = malloc(cells * sizeof(int)), *pos = malloc(rows * sizeof(int));
    if (rc == 0 && (!batch_ids || !batch_tg || !pos)) rc = cpet_fail(err, "rome: out of memory");
    for (int j = 0; rc == 0 && j < n_ctx; j++) {
        for (int t = 0; t < T_max; t++) {
            batch_ids[(size_t)j * T_max + t] = t < cx[j].T ? cx[j].ids[t] : cx[j].ids[0];
            batch_tg[(size_t)j * T_max + t] = t < cx[j].T ? cx[j].tg[t] : -1;
        }
        pos[j] = cx[j].subject_pos;
    }
    residual_intervention iv = {l, pos, delta, d_delta};
    const residual_intervention *saved = m->intervention;
    m->intervention = &iv;
    for (int step = 1; rc == 0 && step <= c->steps; step++) { /* Adam on delta */
        memset(d_delta, 0, (size_t)D * sizeof(float));
        if ((rc = model_forward(m, batch_ids, batch_tg, n_ctx, T_max, err)) == 0) rc = model_backward(m, err);
        if (rc != 0) break;
        const double b1 = 0.9, b2 = 0.999, c1 = 1 - pow(b1, step), c2 = 1 - pow(b2, step);
        double norm = 0;
        for (int d = 0; d < D; d++) {
            const double g = d_delta[d] + 2.0 * c->weight_decay * delta[d];
            m1[d] = b1 * m1[d] + (1 - b1) * g, m2[d] = b2 * m2[d] + (1 - b2) * g * g;
            delta[d] -= (float)(c->lr * (m1[d] / c1) / (sqrt(m2[d] / c2) + 1e-8));
            norm += (double)delta[d] * delta[d];
        }
        norm = sqrt(norm);
        const double cap = c->clamp * wk_norm;
        if (cap > 0 && norm > cap)
            for (int d = 0; d < D; d++) delta[d] = (float)(delta[d] * cap / norm);
    }
    m->intervention = saved;
    free(batch_ids), free(batch_tg), free(pos);
    if (rc == 0) { /* u = C^-1 k*: W += delta u^T / (u^T k*) makes W k* gain exactly delta */
        double uk = 0;
        for (int i = 0; i < F; i++) {
            double s2 = 0;
            for (int j = 0; j < F; j++) s2 += s->C_inv[(size_t)i * F + j] * k[j];
            u[i] = s2;
            uk += s2 * k[i];
        }
        if (!(uk > 0)) rc = cpet_fail(err, "rome: the key has no weight under the covariance (u.k = %g)", uk);
        double n2 = 0;
        for (int d = 0; d < D; d++) n2 += (double)delta[d] * delta[d];
        r->delta_norm = sqrt(n2);
        if (rc == 0) {
            *up = (rome_update){l, D, F, delta, u, uk};
            delta = NULL, u = NULL; /* owned by the update now */
        }
    }
    for (int j = 0; cx && j < n_ctx; j++) free(cx[j].ids), free(cx[j].tg);
    free(cx), free(delta), free(d_delta), free(k), free(m1), free(m2), free(u);
    return rc;
}

int rome_edit(model *m, const tokenizer *tok, const rome_stats *s, const rome_config *c, const char *prompt, const char *subject,
              const char *target, rome_result *r, cpet_err *err)
{
    rome_update up;
    if (rome_compute(m, tok, s, c, prompt, subject, target, &up, r, err) != 0) return -1;
    rome_apply(m, &up);
    rome_update_free(&up);
    int *ids = NULL, *tg = NULL, T = 0; /* the new object's NLL on the edited model */
    int rc = object_sequence(m, tok, prompt, target, &ids, &tg, &T, NULL, NULL, err);
    if (rc == 0) rc = object_nll(m, ids, tg, T, &r->nll_after, err);
    free(ids), free(tg);
    return rc;
}
