/* ROME (engine/methods/rome.h): only the chosen layer's down projection changes, the layer's output at the
 * subject gains exactly the fitted delta (W' k* = v*), and the new object becomes the most likely
 * continuation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "methods/rome.h"
#include "tokenizer.h"

static void load(const char *dir, model *m, tokenizer *tok)
{
    char path[600];
    cpet_err err;
    snprintf(path, sizeof path, "%s/model", dir);
    cr_assert_eq(model_load(m, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/model/tokenizer.json", dir);
    cr_assert_eq(tokenizer_load(tok, path, &err), 0, "%s", err.msg);
}

Test(rome, one_matrix_changes_and_the_new_object_becomes_most_likely, .timeout = 600)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 32, 64, 3);
    cpet_err err;
    model m, orig;
    tokenizer tok, tok2;
    load(dir, &m, &tok), load(dir, &orig, &tok2);
    /* statistics over a token stream from the tokenizer's own text */
    const char *text = "the river runs through the old city a city by the river has a bridge the bridge is old";
    int *ids, n;
    cr_assert_eq(tokenizer_encode(&tok, text, strlen(text), &ids, &n, &err), 0);
    int stream[1024];
    for (int i = 0; i < 1024; i++) stream[i] = ids[i % n];
    free(ids);
    const int layer = 1;
    rome_stats st;
    cr_assert_eq(rome_stats_compute(&m, stream, 1024, layer, 32, 0, 0.05, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.tokens, 1024);
    rome_config c = rome_defaults(layer);
    c.steps = 40;
    c.n_prefixes = 0; /* the prompt alone: its own key is k*, so W' k = W k + delta holds exactly below */
    rome_result r;
    const char *prompt = "the old city by the river"; /* the subject ends the prompt: its delta reaches the next-token logits directly */
    cr_assert_eq(rome_edit(&m, &tok, &st, &c, prompt, "river", "bridge", &r, &err), 0, "%s", err.msg);
    cr_assert_lt(r.nll_after, r.nll_before, "%g -> %g", r.nll_before, r.nll_after);
    /* every tensor but layer 1's down projection is bit for bit the original */
    int changed = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const int same = !memcmp(m.tensors[i].p, orig.tensors[i].p, m.tensors[i].n * sizeof(float));
        if (!same) {
            changed++;
            cr_assert(strstr(m.tensors[i].name, "layers.1.mlp.down_proj"), "%s changed", m.tensors[i].name);
        }
    }
    cr_assert_eq(changed, 1);
    /* The update on its own terms. rome_compute on the unedited copy gives the same (delta, u, uk) as the
     * edit (the fit is deterministic); with k_t the keys the unedited model computes at the prompt's positions
     * (the down projection's input), u = C^-1 k* for k* = k at the subject, uk = u.k*, and layer 1's output at
     * every position t moves by exactly delta (u.k_t) / uk: at the subject, W' k* = W k* + delta. */
    rome_update up;
    rome_result r0;
    cr_assert_eq(rome_compute(&orig, &tok2, &st, &c, prompt, "river", "bridge", &up, &r0, &err), 0, "%s", err.msg);
    cr_assert_eq(r0.subject_pos, r.subject_pos);
    int *p, np;
    cr_assert_eq(tokenizer_encode(&tok, prompt, strlen(prompt), &p, &np, &err), 0);
    int seq[64];
    seq[0] = m.cfg.bos_token_id;
    memcpy(seq + 1, p, (size_t)np * sizeof(int));
    const int T = np + 1, D = m.cfg.hidden_size, F = m.cfg.intermediate_size, sp = r.subject_pos;
    cr_assert_eq(model_forward(&orig, seq, NULL, 1, T, &err), 0);
    float *before = malloc((size_t)T * D * sizeof(float));
    memcpy(before, orig.acts.x_in + (size_t)(layer + 1) * T * D, (size_t)T * D * sizeof(float));
    const float *K = orig.acts.h + (size_t)layer * T * F; /* [T, F] */
    double uk = 0, delta_sq = 0;
    for (int f = 0; f < F; f++) {
        double cu = 0;
        for (int g = 0; g < F; g++) cu += st.C_inv[(size_t)f * F + g] * K[(size_t)sp * F + g];
        cr_assert_float_eq(up.u[f], cu, 1e-4 * (1 + fabs(cu)), "u[%d] = %g, C^-1 k* = %g", f, up.u[f], cu);
        uk += up.u[f] * K[(size_t)sp * F + f];
    }
    cr_assert_float_eq(up.uk, uk, 1e-4 * fabs(uk));
    for (int d = 0; d < D; d++) delta_sq += (double)up.delta[d] * up.delta[d];
    cr_assert_float_eq(sqrt(delta_sq), r.delta_norm, 1e-3 * (1 + r.delta_norm), "the edit's delta and the recomputed one");
    cr_assert_eq(model_forward(&m, seq, NULL, 1, T, &err), 0);
    const float *after = m.acts.x_in + (size_t)(layer + 1) * T * D;
    for (int t = 0; t < T; t++) {
        double ut = 0;
        for (int f = 0; f < F; f++) ut += up.u[f] * K[(size_t)t * F + f];
        const double share = ut / up.uk; /* 1 at the subject */
        if (t == sp) cr_assert_float_eq(share, 1.0, 1e-5, "%.9g", share);
        for (int d = 0; d < D; d++) {
            const double moved = (double)after[(size_t)t * D + d] - before[(size_t)t * D + d], want = up.delta[d] * share;
            cr_assert_float_eq(moved, want, 1e-3 * (1 + sqrt(delta_sq) * fabs(share)), "position %d, dim %d: moved %g, delta (u.k)/uk %g", t, d,
                               moved, want);
        }
    }
    free(before);
    rome_update_free(&up);
    /* the new object is the greedy continuation */
    int *bt, nb;
    cr_assert_eq(tokenizer_encode(&tok, " bridge", 7, &bt, &nb, &err), 0);
    const float *z = model_logits(&m) + (size_t)(T - 1) * m.cfg.vocab_size;
    int best = 0;
    for (int v = 1; v < m.cfg.vocab_size; v++)
        if (z[v] > z[best]) best = v;
    cr_assert_eq(best, bt[0], "the edited model continues with ' bridge' (nll %g -> %g, delta %g)", r.nll_before, r.nll_after, r.delta_norm);
    /* with generated prefixes (the reference's context templates): the key and the loss average over the
     * prompt and its prefixed forms, and the object still becomes more likely after the bare prompt */
    {
        model m3;
        tokenizer tok3;
        load(dir, &m3, &tok3);
        rome_config cp = c;
        cp.n_prefixes = 4, cp.seed = 5;
        rome_result r3;
        cr_assert_eq(rome_edit(&m3, &tok3, &st, &cp, prompt, "river", "bridge", &r3, &err), 0, "%s", err.msg);
        cr_assert_eq(r3.contexts, 5);
        cr_assert_lt(r3.nll_after, r3.nll_before, "%g -> %g", r3.nll_before, r3.nll_after);
        model_free(&m3), tokenizer_free(&tok3);
    }
    /* a subject not in the prompt, too many prefixes: clear errors */
    rome_config many = c;
    many.n_prefixes = 1001;
    cr_assert_neq(rome_edit(&m, &tok, &st, &many, prompt, "river", "bridge", &r, &err), 0);
    cr_assert(strstr(err.msg, "1001 context prefixes"), "%s", err.msg);
    cr_assert_neq(rome_edit(&m, &tok, &st, &c, prompt, "castle", "bridge", &r, &err), 0);
    cr_assert(strstr(err.msg, "castle"), "%s", err.msg);
    free(p), free(bt);
    rome_stats_free(&st);
    tokenizer_free(&tok), tokenizer_free(&tok2);
    model_free(&m), model_free(&orig);
}

/* What ROME's value fit rests on: its contexts run as one right-padded batch, and with the same number of
 * target tokens in each, the batch's loss and its gradient with respect to the residual delta are the mean
 * of each context's own (run alone, unpadded). Two contexts of different lengths, two targets each. */
Test(rome, a_padded_batch_of_contexts_gives_the_mean_of_their_gradients)
{
    model m;
    tokenizer tok;
    load_tiny_model(32, 64, 3, &m, &tok);
    cpet_err err;
    const int D = m.cfg.hidden_size, V = m.cfg.vocab_size, T_max = 9;
    const int len[2] = {6, 9}, subject[2] = {2, 5};
    int ids[2][9], tg[2][9];
    for (int j = 0; j < 2; j++) {
        for (int t = 0; t < T_max; t++) ids[j][t] = t < len[j] ? (7 * t + 3 * j + 1) % V : 0;
        for (int t = 0; t < T_max; t++) tg[j][t] = -1;
        for (int t = len[j] - 3; t < len[j] - 1; t++) tg[j][t] = ids[j][t + 1]; /* the last two tokens: the object */
    }
    float delta[64], grad_alone[2][64], grad_batch[64];
    for (int d = 0; d < D; d++) delta[d] = 0.05f * (float)((d * 37) % 11 - 5);
    double loss_alone[2];
    for (int j = 0; j < 2; j++) {
        memset(grad_alone[j], 0, sizeof grad_alone[j]);
        int pos[1] = {subject[j]};
        residual_intervention iv = {1, pos, delta, grad_alone[j]};
        m.intervention = &iv;
        cr_assert_eq(model_forward(&m, ids[j], tg[j], 1, len[j], &err), 0, "%s", err.msg);
        loss_alone[j] = m.loss;
        cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    }
    int batch_ids[2 * 9], batch_tg[2 * 9], pos[2] = {subject[0], subject[1]};
    for (int j = 0; j < 2; j++) memcpy(batch_ids + j * T_max, ids[j], sizeof ids[j]), memcpy(batch_tg + j * T_max, tg[j], sizeof tg[j]);
    memset(grad_batch, 0, sizeof grad_batch);
    residual_intervention iv = {1, pos, delta, grad_batch};
    m.intervention = &iv;
    cr_assert_eq(model_forward(&m, batch_ids, batch_tg, 2, T_max, &err), 0, "%s", err.msg);
    cr_assert_float_eq(m.loss, (loss_alone[0] + loss_alone[1]) / 2, 1e-5, "%g vs %g, %g", m.loss, loss_alone[0], loss_alone[1]);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    double scale = 0;
    for (int d = 0; d < D; d++) scale = fmax(scale, fabs(grad_alone[0][d]) + fabs(grad_alone[1][d]));
    cr_assert_gt(scale, 0, "the delta reaches the loss");
    for (int d = 0; d < D; d++)
        cr_assert_float_eq(grad_batch[d], (grad_alone[0][d] + grad_alone[1][d]) / 2, 1e-5 * scale, "d %d: %g vs %g, %g", d, grad_batch[d],
                           grad_alone[0][d], grad_alone[1][d]);
    m.intervention = NULL;
    model_free(&m), tokenizer_free(&tok);
}

/* The key statistics against a direct sum: windows of 32 tokens run one at a time, k k^T accumulated in
 * double per token, divided by the count, the ridge added; ROME's inverse times that is the identity.
 * 1,000 tokens: 31 whole windows (two batches of windows and a short one), the rest unused. */
Test(rome, key_statistics_are_the_inverse_of_the_mean_outer_product_plus_ridge)
{
    model m;
    tokenizer tok;
    load_tiny_model(32, 64, 3, &m, &tok);
    cpet_err err;
    const int F = m.cfg.intermediate_size, layer = 1, seq = 32, n_tokens = 1000;
    int *stream = malloc(n_tokens * sizeof(int));
    for (int i = 0; i < n_tokens; i++) stream[i] = (int)((i * 2654435761u) % (unsigned)m.cfg.vocab_size);
    rome_stats st;
    cr_assert_eq(rome_stats_compute(&m, stream, n_tokens, layer, seq, 0, 0.05, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.tokens, 31 * seq);
    double *C = calloc((size_t)F * F, sizeof(double));
    for (int w = 0; w < 31; w++) {
        cr_assert_eq(model_forward(&m, stream + w * seq, NULL, 1, seq, &err), 0, "%s", err.msg);
        const float *H = m.acts.h + (size_t)layer * seq * F;
        for (int t = 0; t < seq; t++)
            for (int i = 0; i < F; i++)
                for (int j = 0; j < F; j++) C[(size_t)i * F + j] += (double)H[t * F + i] * H[t * F + j];
    }
    double mean_diag = 0;
    for (int i = 0; i < F * F; i++) C[i] /= 31.0 * seq;
    for (int i = 0; i < F; i++) mean_diag += C[(size_t)i * F + i] / F;
    for (int i = 0; i < F; i++) C[(size_t)i * F + i] += 0.05 * mean_diag;
    double worst = 0;
    for (int i = 0; i < F; i++)
        for (int j = 0; j < F; j++) {
            double x = 0;
            for (int k = 0; k < F; k++) x += st.C_inv[(size_t)i * F + k] * C[(size_t)k * F + j];
            worst = fmax(worst, fabs(x - (i == j)));
        }
    cr_assert_lt(worst, 1e-3, "C^-1 C is the identity to %g", worst);
    free(C), free(stream);
    rome_stats_free(&st);
    model_free(&m), tokenizer_free(&tok);
}
