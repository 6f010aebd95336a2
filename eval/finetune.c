#include "finetune.h"

#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "train.h"

typedef struct {
    int *ids;
    int n, n_prompt; /* tokens; the first n_prompt are context */
} encoded_example;

static int encode_all(const tokenizer *t, const task_set *s, int bos, int eos, int window, encoded_example *out, cpet_err *err)
{
    for (int i = 0; i < s->n; i++) {
        const task_example *e = &s->items[i];
        int *p, np, *c, nc;
        if (tokenizer_encode(t, e->prompt, strlen(e->prompt), &p, &np, err) != 0) return -1;
        const char *answer = e->choices[e->label];
        if (tokenizer_encode(t, answer, strlen(answer), &c, &nc, err) != 0) {
            free(p);
            return -1;
        }
        int off = bos >= 0, total = off + np + nc + (eos >= 0), skip = total > window ? total - window : 0;
        int *ids = malloc((size_t)total * sizeof(int));
        if (off) ids[0] = bos;
        memcpy(ids + off, p, (size_t)np * sizeof(int));
        memcpy(ids + off + np, c, (size_t)nc * sizeof(int));
        if (eos >= 0) ids[off + np + nc] = eos;
        out[i].n = total - skip; /* long prompts lose their beginning, as in scoring */
        out[i].n_prompt = off + np - skip;
        out[i].ids = ids;
        if (skip) memmove(ids, ids + skip, (size_t)out[i].n * sizeof(int));
        free(p);
        free(c);
    }
    return 0;
}

int finetune_multiple_choice(model *m, adamw *opt, const tokenizer *t, const task_set *train, const finetune_config *cfg,
                             json_t *curve, long *tokens, cpet_err *err)
{
    if (train->n == 0) return cpet_fail(err, "finetune: the train split has no examples");
    encoded_example *ex = calloc((size_t)train->n, sizeof *ex);
    /* BOS and EOS as the tokenizer says (add_bos_token / add_eos_token); append_eos adds EOS regardless */
    int rc = encode_all(t, train, tokenizer_bos(t, cfg->bos_id), cfg->append_eos ? cfg->eos_id : tokenizer_eos(t, m->cfg.eos_token_id), m->rope_len,
                        ex, err);
    int *order = malloc((size_t)train->n * sizeof(int)), pos = train->n;
    cpet_rng rng;
    rng_seed(&rng, cfg->seed);
    lr_schedule sched = {SCHED_COSINE, cfg->lr, 0.0f, cfg->steps / 10, cfg->steps};
    *tokens = 0;
    for (int step = 0; step < cfg->steps && rc == 0; step++) {
        int rows[1024], B = cfg->batch < 1024 ? cfg->batch : 1024, T = 2;
        for (int b = 0; b < B; b++) { /* walk a fresh shuffle each epoch */
            if (pos == train->n) {
                for (int i = 0; i < train->n; i++) order[i] = i;
                rng_shuffle(&rng, order, train->n);
                pos = 0;
            }
            rows[b] = order[pos++];
            T = ex[rows[b]].n - 1 > T ? ex[rows[b]].n - 1 : T;
        }
        size_t cells = (size_t)(unsigned)B * (unsigned)T;
        int *ids = calloc(cells, sizeof(int)), *tgt = malloc(cells * sizeof(int));
        for (size_t i = 0; i < cells; i++) tgt[i] = -1;
        for (int b = 0; b < B; b++) {
            const encoded_example *e = &ex[rows[b]];
            memcpy(ids + (size_t)b * T, e->ids, (size_t)(e->n - 1) * sizeof(int));
            for (int p = e->n_prompt - 1; p < e->n - 1; p++) tgt[(size_t)b * T + p] = e->ids[p + 1];
            *tokens += e->n - 1;
        }
        step_result r;
        rc = train_step_hooked(m, opt, ids, tgt, B, T, lr_at(&sched, step), cfg->clip, cfg->hook, cfg->hook_ctx, &r, err);
        if (rc == 0 && curve) json_array_append_new(curve, json_pack("[i, f]", step + 1, (double)r.loss));
        if (rc == 0 && cfg->on_step) cfg->on_step(cfg->on_step_ctx, step + 1, cfg->steps, (double)r.loss);
        free(ids);
        free(tgt);
    }
    for (int i = 0; i < train->n; i++) free(ex[i].ids);
    free(ex);
    free(order);
    return rc;
}
