#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"

int eval_multiple_choice(model *m, const tokenizer *t, const task_set *s, int bos_id, int batch, mc_result *out,
                         int *predictions, double *choice_logprobs, cpet_err *err)
{
    bos_id = tokenizer_bos(t, bos_id); /* the tokenizer's add_bos_token decides */
    int n_req = 0;
    for (int i = 0; i < s->n; i++) n_req += s->items[i].n_choices;
    score_request *req = calloc((size_t)n_req + 1, sizeof *req);
    int **owned = calloc(2 * (size_t)n_req + 1, sizeof(int *)), n_owned = 0, k = 0, rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        const task_example *e = &s->items[i];
        int *ctx, n_ctx;
        if (tokenizer_encode(t, e->prompt, strlen(e->prompt), &ctx, &n_ctx, err) != 0) {
            rc = cpet_prefix(err, "example %s", e->id);
            break;
        }
        if (bos_id >= 0) { /* prepend BOS */
            ctx = realloc(ctx, (size_t)(n_ctx + 1) * sizeof(int));
            memmove(ctx + 1, ctx, (size_t)n_ctx * sizeof(int));
            ctx[0] = bos_id;
            n_ctx++;
        }
        if (n_ctx == 0) {
            free(ctx);
            rc = cpet_fail(err, "example %s: empty prompt and no BOS token to condition on", e->id);
            break;
        }
        owned[n_owned++] = ctx;
        for (int c = 0; c < e->n_choices; c++) {
            int *cont, n_cont;
            if (tokenizer_encode(t, e->choices[c], strlen(e->choices[c]), &cont, &n_cont, err) != 0 || n_cont == 0) {
                if (n_cont == 0) free(cont);
                rc = cpet_fail(err, "example %s: choice %d cannot be scored (empty or not UTF-8)", e->id, c);
                break;
            }
            owned[n_owned++] = cont;
            req[k++] = (score_request){ctx, n_ctx, cont, n_cont};
        }
    }
    double *lp = malloc(((size_t)n_req + 1) * sizeof(double));
    if (rc == 0) rc = score_continuations(m, req, n_req, batch, lp, NULL, err);
    if (rc == 0) {
        double correct = 0, correct_norm = 0, chance = 0;
        out->tokens = 0;
        for (int q = 0; q < n_req; q++) out->tokens += req[q].n_context + req[q].n_continuation;
        k = 0;
        for (int i = 0; i < s->n; i++) {
            const task_example *e = &s->items[i];
            int best = 0, best_norm = 0;
            for (int c = 0; c < e->n_choices; c++) {
                double norm = lp[k + c] / (double)strlen(e->choices[c]);
                if (lp[k + c] > lp[k + best]) best = c;
                if (norm > lp[k + best_norm] / (double)strlen(e->choices[best_norm])) best_norm = c;
                if (choice_logprobs) choice_logprobs[k + c] = lp[k + c];
            }
            correct += best == e->label;
            correct_norm += best_norm == e->label;
            chance += 1.0 / e->n_choices;
            if (predictions) predictions[i] = best;
            k += e->n_choices;
        }
        out->n = s->n;
        out->acc = s->n ? correct / s->n : NAN;
        out->acc_norm = s->n ? correct_norm / s->n : NAN;
        out->acc_stderr = s->n > 1 ? sqrt(out->acc * (1 - out->acc) / (s->n - 1)) : NAN;
        out->chance = s->n ? chance / s->n : NAN;
    }
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    free(req);
    free(lp);
    return rc;
}

int eval_perplexity(model *m, const tokenizer *t, char *const *docs, const size_t *lens, int n_docs, int bos_id,
                    int batch, ppl_result *out, cpet_err *err)
{
    return eval_perplexity_docs(m, t, docs, lens, n_docs, bos_id, batch, out, NULL, NULL, err);
}

/* windows (document, offset, length) by length, then by place: a deterministic order */
static int by_length(const void *a, const void *b)
{
    const int *x = a, *y = b;
    if (x[2] != y[2]) return x[2] < y[2] ? -1 : 1;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

int eval_perplexity_docs(model *m, const tokenizer *t, char *const *docs, const size_t *lens, int n_docs, int bos_id,
                         int batch, ppl_result *out, double *doc_nll, long *doc_tokens, cpet_err *err)
{
    bos_id = tokenizer_bos(t, bos_id);
    if (doc_nll) memset(doc_nll, 0, (size_t)n_docs * sizeof *doc_nll);
    if (doc_tokens) memset(doc_tokens, 0, (size_t)n_docs * sizeof *doc_tokens);
    const int W = m->rope_len;
    /* windows: (doc tokens, offset, length) */
    int **toks = calloc((size_t)n_docs + 1, sizeof(int *)), *ntok = calloc((size_t)n_docs + 1, sizeof(int));
    int n_win = 0, cap = 64, rc = 0;
    int (*win)[3] = malloc((size_t)cap * sizeof *win);
    for (int d = 0; d < n_docs && rc == 0; d++) {
        int *ids, n;
        if (tokenizer_encode(t, docs[d], lens[d], &ids, &n, err) != 0) {
            rc = cpet_prefix(err, "document %d", d + 1);
            break;
        }
        toks[d] = malloc((size_t)(n + 1) * sizeof(int));
        int off = 0;
        if (bos_id >= 0) toks[d][off++] = bos_id;
        memcpy(toks[d] + off, ids, (size_t)n * sizeof(int));
        ntok[d] = n + off;
        free(ids);
        for (int s = 0; s + 1 < ntok[d]; s += W) {
            if (n_win == cap) win = realloc(win, (size_t)(cap *= 2) * sizeof *win);
            win[n_win][0] = d;
            win[n_win][1] = s;
            win[n_win][2] = ntok[d] - s < W ? ntok[d] - s : W;
            n_win++;
        }
    }
    /* windows in order of length, so a batch pads little (documents run from a line to the whole window);
     * each window's NLL is summed in double: the figures do not depend on the batch size */
    qsort(win, (size_t)n_win, sizeof *win, by_length);
    double *win_nll = calloc((size_t)n_win + 1, sizeof *win_nll);
    if (rc == 0 && !win_nll) rc = cpet_fail(err, "perplexity: out of memory");
    for (int w0 = 0; w0 < n_win && rc == 0; w0 += batch) {
        int nb = n_win - w0 < batch ? n_win - w0 : batch, T = 2;
        for (int b = 0; b < nb; b++) T = win[w0 + b][2] > T ? win[w0 + b][2] : T;
        size_t cells = (size_t)(unsigned)nb * (unsigned)T;
        int *ids = calloc(cells, sizeof(int)), *tgt = malloc(cells * sizeof(int));
        if (!ids || !tgt) rc = cpet_fail(err, "perplexity: out of memory");
        for (size_t i = 0; rc == 0 && i < cells; i++) tgt[i] = -1;
        for (int b = 0; b < nb && rc == 0; b++) {
            const int *w = win[w0 + b], *src = toks[w[0]] + w[1];
            memcpy(ids + (size_t)b * T, src, (size_t)w[2] * sizeof(int));
            for (int i = 0; i + 1 < w[2]; i++) tgt[(size_t)b * T + i] = src[i + 1];
        }
        if (rc == 0) rc = model_forward(m, ids, tgt, nb, T, err);
        if (rc == 0) { /* per token: log-sum-exp minus the target's logit */
            const float *logits = model_logits(m), *lse = m->acts.lse;
            const int V = m->cfg.vocab_size;
            for (int b = 0; b < nb; b++) {
                const int w = w0 + b;
                for (int i = 0; i + 1 < win[w][2]; i++) {
                    size_t at = (size_t)b * T + i;
                    win_nll[w] += (double)lse[at] - logits[at * V + tgt[at]];
                }
            }
        }
        free(ids);
        free(tgt);
    }
    double nll = 0;
    long count = 0;
    for (int w = 0; w < n_win && rc == 0; w++) {
        const int d = win[w][0];
        nll += win_nll[w];
        count += win[w][2] - 1;
        if (doc_nll) doc_nll[d] += win_nll[w];
        if (doc_tokens) doc_tokens[d] += win[w][2] - 1;
    }
    free(win_nll);
    for (int d = 0; d < n_docs; d++) free(toks[d]);
    free(toks);
    free(ntok);
    free(win);
    if (rc != 0) return rc;
    if (count == 0) return cpet_fail(err, "perplexity: no tokens to predict");
    out->nll = nll;
    out->tokens = count;
    out->ppl = exp(nll / count);
    return 0;
}
