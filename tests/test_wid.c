/* WID (wid.h): every kind of compactor's gradient against finite differences, the merged student against
 * the compactor model with its pruned channels zeroed, a short run that prunes to the asked size, and a
 * tied LM head refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "helpers.h"
#include "model.h"
#include "tensor.h"
#include "wid.h"

static model_config wid_config(int tied)
{
    model_config c = small_config(4, 2, ACT_SILU, tied, 10000.0f);
    c.hidden_size = 32, c.intermediate_size = 24, c.head_dim = 8;
    return c;
}

/* identity plus noise, so that no gradient hides behind a symmetric start */
static void perturb(wid_compactors *c, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < c->n; i++)
        for (size_t k = 0; k < (size_t)c->size[i] * c->size[i]; k++) c->p[i][k] += 0.1f * (2 * rng_uniform(&r) - 1);
}

static int index_of(const wid_compactors *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return i;
    return -1;
}

typedef struct {
    model *m;
    wid_compactors *c;
    int ids[12], targets[12];
} wid_ctx;

static double wid_value(void *p)
{
    wid_ctx *x = p;
    cpet_err err;
    return wid_loss_and_grads(x->m, x->c, x->ids, x->targets, 2, 6, &err);
}

Test(wid, compactor_gradients_match_finite_differences)
{
    cpet_err err;
    model_config cfg = wid_config(0);
    model m;
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 2);
    wid_compactors c;
    cr_assert_eq(wid_compactors_init(&c, &m, &err), 0, "%s", err.msg);
    perturb(&c, 3);
    wid_ctx x = {.m = &m, .c = &c};
    for (int i = 0; i < 12; i++) x.ids[i] = (i * 5 + 2) % cfg.vocab_size, x.targets[i] = (i * 11 + 1) % cfg.vocab_size;
    cr_assert(isfinite(wid_value(&x)));
    static const char *const names[] = {"model.embed_tokens.compactor", "model.layers.0.self_attn.q_proj.left", "model.layers.1.self_attn.o_proj.right",
                                        "model.layers.0.mlp.gate_proj.right", "model.layers.1.mlp.down_proj.left", "model.layers.0.mlp.down_proj.right",
                                        "lm_head.left"};
    float *g[7];
    for (int k = 0; k < 7; k++) { /* copies: the checker reruns the loss */
        const int i = index_of(&c, names[k]);
        cr_assert_geq(i, 0, "no compactor %s", names[k]);
        const size_t n = (size_t)c.size[i] * c.size[i];
        g[k] = malloc(n * sizeof(float));
        memcpy(g[k], c.g[i], n * sizeof(float));
    }
    for (int k = 0; k < 7; k++) {
        const int i = index_of(&c, names[k]);
        const double e = fd_check(wid_value, &x, c.p[i], g[k], (size_t)c.size[i] * c.size[i], 3e-3f, 4, 30 + k);
        cr_expect_lt(e, 2e-3, "%s: error %g", names[k], e);
        free(g[k]);
    }
    wid_compactors_free(&c);
    model_free(&m);
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

Test(wid, the_merged_student_computes_the_compactor_model)
{
    cpet_err err;
    model_config cfg = wid_config(0);
    model student, teacher;
    cr_assert_eq(model_create(&student, &cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(model_create(&teacher, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&student, 0.3f, 4);
    memcpy(teacher.params, student.params, student.n_params * sizeof(float));
    wid_compactors c, zeroed;
    cr_assert_eq(wid_compactors_init(&c, &student, &err), 0, "%s", err.msg);
    cr_assert_eq(wid_compactors_init(&zeroed, &teacher, &err), 0, "%s", err.msg);
    perturb(&c, 5);
    perturb(&zeroed, 5);
    /* keep hidden dimensions 0..23 but 3 (24 of 32) and 18 of 24 neurons per layer */
    int hk[24], fk[2 * 18];
    for (int a = 0, d = 0; a < 24; d++)
        if (d != 3) hk[a++] = d;
    for (int l = 0; l < 2; l++)
        for (int a = 0; a < 18; a++) fk[l * 18 + a] = a + (l ? 6 : 0);
    cr_assert_eq(wid_merge(&student, &c, hk, 24, fk, 18, &err), 0, "%s", err.msg);
    cr_assert_eq(student.cfg.hidden_size, 24);
    cr_assert_eq(student.cfg.intermediate_size, 18);
    /* the teacher with the same compactors, the pruned channels zeroed by hand: a left compactor's column, a
     * right compactor's (and C's) row */
    for (int i = 0; i < zeroed.n; i++) {
        const int n = zeroed.size[i], row = zeroed.side[i] == 1;
        const char *nm = zeroed.name[i];
        const int ffn = (strstr(nm, "gate_proj.right") || strstr(nm, "up_proj.right") || strstr(nm, "down_proj.left")) != 0;
        const int layer = strncmp(nm, "model.layers.", 13) ? -1 : atoi(nm + 13);
        for (int k = 0; k < n; k++) {
            int kept = 0;
            if (ffn)
                for (int a = 0; a < 18; a++) kept |= fk[layer * 18 + a] == k;
            else
                for (int a = 0; a < 24; a++) kept |= hk[a] == k;
            if (kept) continue;
            for (int j = 0; j < n; j++) zeroed.p[i][row ? (size_t)k * n + j : (size_t)j * n + k] = 0.0f;
        }
    }
    wid_fold(&teacher, &zeroed);
    int ids[10];
    for (int i = 0; i < 10; i++) ids[i] = (i * 13 + 4) % cfg.vocab_size;
    const size_t n = 10 * (size_t)cfg.vocab_size;
    float *a = malloc(n * 4);
    cr_assert_eq(model_forward(&teacher, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
    memcpy(a, model_logits(&teacher), n * 4);
    cr_assert_eq(model_forward(&student, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
    cr_assert_lt(max_diff(a, model_logits(&student), n), 1e-4, "student vs compactor model: %g", max_diff(a, model_logits(&student), n));
    free(a);
    wid_compactors_free(&c), wid_compactors_free(&zeroed);
    model_free(&student), model_free(&teacher);
}

Test(wid, a_short_run_prunes_to_the_asked_size_and_a_tied_head_is_refused)
{
    cpet_err err;
    model_config cfg = wid_config(0);
    model m;
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 6);
    int *ids = malloc(8 * 16 * sizeof(int));
    for (int i = 0; i < 8 * 16; i++) ids[i] = (i * 7) % cfg.vocab_size;
    calib_data cal = {ids, 8, 16};
    compress_options o = {.sparsity = 0.25, .train = compress_training_defaults()};
    o.train.steps = 20, o.train.batch = 2, o.train.lr = 1e-3f;
    json_t *log = json_object();
    o.log = log;
    cr_assert_eq(compress_model(&m, "wid", &o, &cal, &err), 0, "%s", err.msg);
    cr_assert_eq(m.cfg.hidden_size, 24);
    cr_assert_eq(m.cfg.intermediate_size, 18);
    cr_assert_eq(json_array_size(json_object_get(log, "wid_loss")), 20);
    json_decref(log);
    model_free(&m);
    model_config tied = wid_config(1);
    cr_assert_eq(model_create(&m, &tied, &err), 0, "%s", err.msg);
    cr_assert_neq(compress_model(&m, "wid", &o, &cal, &err), 0);
    cr_assert(strstr(err.msg, "tied") && !strchr(err.msg, '\n'), "%s", err.msg);
    cr_assert_eq(m.cfg.hidden_size, 32, "nothing changed");
    model_free(&m);
    free(ids);
}
