#include "edit_eval.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int edit_answer_matches(const char *a, const char *b)
{
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && (isspace((unsigned char)a[na - 1]) || a[na - 1] == '.')) na--;
    while (nb && (isspace((unsigned char)b[nb - 1]) || b[nb - 1] == '.')) nb--;
    return na == nb && !strncasecmp(a, b, na);
}

double edit_eq(double es, double bp) { return es + bp > 0 ? 2 * es * bp / (es + bp) : 0; }

/* BOS + prompt + " " + target, the position where the target starts and the whole sequence's logits */
static int forward_pair(model *m, const tokenizer *tok, const char *prompt, const char *target, int **ids_out, int *n_out, int *start_out,
                        cpet_err *err)
{
    int *p = NULL, np = 0, *t = NULL, nt = 0;
    size_t tl = strlen(target);
    char *spaced = malloc(tl + 2);
    if (!spaced) return cpet_fail(err, "scoring: out of memory");
    spaced[0] = ' ';
    memcpy(spaced + 1, target, tl + 1);
    int rc = tokenizer_encode(tok, prompt, strlen(prompt), &p, &np, err);
    if (rc == 0) rc = tokenizer_encode(tok, spaced, tl + 1, &t, &nt, err);
    free(spaced);
    if (rc != 0) return free(p), -1;
    const int n = 1 + np + nt;
    if (nt == 0) rc = cpet_fail(err, "scoring: an empty target after '%.60s'", prompt);
    else if (n > m->rope_len) rc = cpet_fail(err, "scoring: '%.60s' + its target take %d tokens, over the window of %d", prompt, n, m->rope_len);
    int *ids = rc == 0 ? malloc((size_t)n * sizeof(int)) : NULL;
    if (rc == 0 && !ids) rc = cpet_fail(err, "scoring: out of memory");
    if (rc == 0) {
        ids[0] = m->cfg.bos_token_id;
        memcpy(ids + 1, p, (size_t)np * sizeof(int));
        memcpy(ids + 1 + np, t, (size_t)nt * sizeof(int));
        rc = model_forward(m, ids, NULL, 1, n, err);
    }
    free(p), free(t);
    if (rc != 0) return free(ids), -1;
    *ids_out = ids, *n_out = n, *start_out = 1 + np;
    return 0;
}

int edit_token_accuracy(model *m, const tokenizer *tok, const char *prompt, const char *target, double *accuracy, cpet_err *err)
{
    int *ids, n, start;
    if (forward_pair(m, tok, prompt, target, &ids, &n, &start, err) != 0) return -1;
    const int V = m->cfg.vocab_size;
    int right = 0;
    for (int i = start; i < n; i++) { /* the token at i is predicted at i - 1 */
        const float *z = m->acts.logits + (size_t)(i - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;
        right += best == ids[i];
    }
    *accuracy = (double)right / (n - start);
    free(ids);
    return 0;
}

int edit_mean_logprob(model *m, const tokenizer *tok, const char *prompt, const char *target, double *mean_lp, cpet_err *err)
{
    int *ids, n, start;
    if (forward_pair(m, tok, prompt, target, &ids, &n, &start, err) != 0) return -1;
    const int V = m->cfg.vocab_size;
    double sum = 0;
    for (int i = start; i < n; i++) {
        const float *z = m->acts.logits + (size_t)(i - 1) * V;
        double mx = z[0], s = 0;
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++) s += exp(z[v] - mx);
        sum += z[ids[i]] - mx - log(s);
    }
    *mean_lp = sum / (n - start);
    free(ids);
    return 0;
}
