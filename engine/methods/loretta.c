#include "loretta.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "fileio.h"
#include "lora.h"
#include "safetensors.h"

#define PEFT_PREFIX "base_model.model."

int loretta_factors(size_t n, int *factors)
{
    int d = 0;
    while (n > 1 && d < TT_MAX_CORES) {
        size_t f = 16;
        while (f > 1 && n % f) f--;
        if (f == 1) /* no divisor up to 16: the smallest prime factor, a mode of its own */
            for (f = 17; n % f; f++) {
            }
        if (f > (size_t)1 << 30) return 0;
        factors[d++] = (int)f;
        n /= f;
    }
    return n == 1 && d >= 2 ? d : 0;
}

loretta_config loretta_defaults(int variant)
{
    loretta_config c = {.variant = variant, .rank = 8, .alpha = 16.0f, .bottleneck = 64, .tt_rank = 5};
    if (variant == LORETTA_REP) {
        snprintf(c.targets[0], sizeof c.targets[0], "q_proj");
        snprintf(c.targets[1], sizeof c.targets[1], "v_proj");
        c.n_targets = 2;
    } else {
        snprintf(c.targets[0], sizeof c.targets[0], "gate_proj");
        snprintf(c.targets[1], sizeof c.targets[1], "up_proj");
        c.n_targets = 2;
        snprintf(c.output_targets[0], sizeof c.output_targets[0], "down_proj");
        c.n_output_targets = 1;
    }
    return c;
}

/* ---- the branch: x -> x Wd (+ bd, ReLU) -> (.) Wu (+ bu), times the scaling ---- */

static void materialize(loretta_module *lm)
{
    tt_materialize(&lm->down, lm->w_down, lm->tt_work);
    tt_materialize(&lm->up, lm->w_up, lm->tt_work);
}

/* pre = x Wd (+ bd) [n, inner];  h = ReLU(pre) (adp) or pre */
static const float *inner_forward(const loretta_module *lm, const float *x, int n, float *pre, float *h)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, lm->inner, lm->in, 1.0f, x, lm->in, lm->w_down, lm->inner, 0.0f, pre,
                lm->inner);
    if (!lm->relu_bias) return pre;
    const float *bd = lm->t_bias_down->p;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < lm->inner; k++) {
            float v = pre[(size_t)i * lm->inner + k] += bd[k];
            h[(size_t)i * lm->inner + k] = v > 0.0f ? v : 0.0f;
        }
    return h;
}

static void loretta_forward(branch *b, const float *x, float *y, int n, float *scratch)
{
    loretta_module *lm = b->self;
    materialize(lm);
    const float *h = inner_forward(lm, x, n, scratch, scratch + (size_t)n * lm->inner);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, lm->out, lm->inner, lm->scaling, h, lm->inner, lm->w_up, lm->out, 1.0f, y,
                lm->out);
    if (lm->relu_bias)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < lm->out; o++) y[(size_t)i * lm->out + o] += lm->scaling * lm->t_bias_up->p[o];
}

/* gWu = s h^T dy;  gbu = s sum dy;  dh = s dy Wu^T (* [pre > 0]);  gWd = x^T dh;  gbd = sum dh;  dx += dh Wd^T;
 * the materialized gradients go into the cores through tt_backward */
static void loretta_backward(branch *b, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    loretta_module *lm = b->self;
    const size_t nk = (size_t)n * lm->inner;
    float *pre = scratch, *hbuf = scratch + nk, *dh = scratch + 2 * nk;
    const int train = *lm->trainable && lm->t_down->g;
    materialize(lm);
    const float *h = inner_forward(lm, x, n, pre, hbuf);
    if (train) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lm->inner, lm->out, n, lm->scaling, h, lm->inner, dy, lm->out, 0.0f, lm->g_up,
                    lm->out);
        tt_backward(&lm->up, lm->g_up, lm->t_up->g, lm->tt_work);
        if (lm->relu_bias)
            for (int i = 0; i < n; i++)
                for (int o = 0; o < lm->out; o++) lm->t_bias_up->g[o] += lm->scaling * dy[(size_t)i * lm->out + o];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lm->inner, lm->out, lm->scaling, dy, lm->out, lm->w_up, lm->out, 0.0f, dh,
                lm->inner);
    if (lm->relu_bias)
        for (size_t i = 0; i < nk; i++) dh[i] = pre[i] > 0.0f ? dh[i] : 0.0f;
    if (train) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lm->in, lm->inner, n, 1.0f, x, lm->in, dh, lm->inner, 0.0f, lm->g_down,
                    lm->inner);
        tt_backward(&lm->down, lm->g_down, lm->t_down->g, lm->tt_work);
        if (lm->relu_bias)
            for (int i = 0; i < n; i++)
                for (int k = 0; k < lm->inner; k++) lm->t_bias_down->g[k] += dh[(size_t)i * lm->inner + k];
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lm->in, lm->inner, 1.0f, dh, lm->inner, lm->w_down, lm->inner, 1.0f, dx,
                    lm->in);
}

static size_t loretta_scratch_per_row(const branch *b)
{
    const loretta_module *lm = b->self;
    return 3 * (size_t)lm->inner;
}

static const branch_ops rep_ops = {.kind = "loretta_rep", .place = BRANCH_PARALLEL, .forward = loretta_forward,
                                   .backward = loretta_backward, .scratch_per_row = loretta_scratch_per_row};
static const branch_ops adp_input_ops = {.kind = "loretta_adp", .place = BRANCH_ON_INPUT, .forward = loretta_forward,
                                         .backward = loretta_backward, .scratch_per_row = loretta_scratch_per_row};
static const branch_ops adp_output_ops = {.kind = "loretta_adp", .place = BRANCH_ON_OUTPUT, .forward = loretta_forward,
                                          .backward = loretta_backward, .scratch_per_row = loretta_scratch_per_row};

/* ---- structure ---- */

typedef struct {
    const loretta_config *cfg;
    linear *linears[1024];
    char names[1024][128];
    int places[1024];
    int n;
} chosen_list;

static int any_match(const char *module, const char (*targets)[64], int n)
{
    for (int i = 0; i < n; i++)
        if (lora_target_matches(module, targets[i])) return 1;
    return 0;
}

static void choose(linear *l, const char *name, void *ctx)
{
    chosen_list *c = ctx;
    if (c->n >= 1024) return;
    int place = any_match(name, c->cfg->targets, c->cfg->n_targets)
                    ? (c->cfg->variant == LORETTA_REP ? BRANCH_PARALLEL : BRANCH_ON_INPUT)
                    : c->cfg->variant == LORETTA_ADP && any_match(name, c->cfg->output_targets, c->cfg->n_output_targets) ? BRANCH_ON_OUTPUT
                                                                                                                      : -1;
    if (place < 0) return;
    c->linears[c->n] = l, c->places[c->n] = place;
    snprintf(c->names[c->n++], 128, "%s", name);
}

static const char *part_name_of(int variant, int up)
{
    return variant == LORETTA_REP ? (up ? "loretta_B" : "loretta_A") : (up ? "loretta_up" : "loretta_down");
}

static const char *part_name(const loretta_adapter *a, int up) { return part_name_of(a->cfg.variant, up); }

/* the shape of one matrix: its factors and rank, from the rule or read from a file */
typedef struct {
    int n[TT_MAX_CORES], d, rank;
} tt_shape;

static int rule_shape(tt_shape *s, int rows, int cols, int rank, const char *what, cpet_err *err)
{
    s->d = loretta_factors((size_t)rows * cols, s->n);
    s->rank = rank;
    if (!s->d) return cpet_fail(err, "%s: %d x %d does not split into 2 to %d tensor-train factors", what, rows, cols, TT_MAX_CORES);
    return 0;
}

static int module_init(loretta_adapter *a, loretta_module *lm, linear *l, const char *name, int place, const tt_shape *sd, const tt_shape *su,
                       cpet_rng *rng, cpet_err *err)
{
    const loretta_config *c = &a->cfg;
    snprintf(lm->module, sizeof lm->module, "%s", name);
    lm->target = l, lm->place = place, lm->trainable = &a->trainable;
    lm->relu_bias = c->variant == LORETTA_ADP;
    if (c->variant == LORETTA_REP)
        lm->in = l->in, lm->inner = c->rank, lm->out = l->out, lm->scaling = c->alpha / (float)c->rank;
    else
        lm->in = lm->out = place == BRANCH_ON_INPUT ? l->in : l->out, lm->inner = c->bottleneck, lm->scaling = 1.0f;
    char what[200];
    const tt_shape *shapes[2] = {sd, su};
    tt_matrix *tts[2] = {&lm->down, &lm->up};
    for (int up = 0; up < 2; up++) {
        const int rows = up ? lm->inner : lm->in, cols = up ? lm->out : lm->inner;
        snprintf(what, sizeof what, "%s.%s", name, part_name(a, up));
        /* every entry of the product has variance r^(d-1) s^(2d): 1 / (rows + cols), Xavier's */
        const tt_shape *s = shapes[up];
        const double std = pow(1.0 / ((rows + cols) * pow(s->rank, s->d - 1)), 1.0 / (2.0 * s->d));
        if (tt_init(tts[up], rows, cols, s->n, s->d, s->rank, (float)std, rng, what, err) != 0) return -1;
    }
    size_t work = tt_scratch(&lm->down) > tt_scratch(&lm->up) ? tt_scratch(&lm->down) : tt_scratch(&lm->up);
    const size_t nd = (size_t)lm->in * lm->inner, nu = (size_t)lm->inner * lm->out;
    lm->w_down = malloc(nd * sizeof(float)), lm->g_down = malloc(nd * sizeof(float));
    lm->w_up = malloc(nu * sizeof(float)), lm->g_up = malloc(nu * sizeof(float));
    lm->tt_work = malloc((work ? work : 1) * sizeof(float));
    if (!lm->w_down || !lm->g_down || !lm->w_up || !lm->g_up || !lm->tt_work) return cpet_fail(err, "%s: out of memory", name);
    lm->br.ops = c->variant == LORETTA_REP ? &rep_ops : place == BRANCH_ON_INPUT ? &adp_input_ops : &adp_output_ops;
    lm->br.self = lm;
    return 0;
}

static param_tensor *add_tensor(loretta_adapter *a, const char *module, const char *suffix, float *p, size_t n, int decay)
{
    param_tensor *t = &a->tensors[a->n_tensors++];
    snprintf(t->name, sizeof t->name, PEFT_PREFIX "%.100s.%.40s", module, suffix);
    t->p = p, t->n = n, t->ndim = 1, t->shape[0] = (int64_t)n, t->decay = decay;
    return t;
}

/* the modules from the chosen linears; shapes (2 per module) from a file, or NULL for the rule */
static int build(loretta_adapter *a, model *m, const loretta_config *cfg, const tt_shape *shapes, uint64_t seed, cpet_err *err)
{
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    if (cfg->variant == LORETTA_REP && (cfg->rank < 1 || cfg->alpha <= 0.0f))
        return cpet_fail(err, "LoRETTA rep: rank %d and alpha %g (rank >= 1, alpha > 0)", cfg->rank, cfg->alpha);
    if (cfg->variant == LORETTA_ADP && cfg->bottleneck < 1) return cpet_fail(err, "LoRETTA adp: bottleneck %d (at least 1)", cfg->bottleneck);
    if (cfg->tt_rank < 1) return cpet_fail(err, "LoRETTA: tensor-train rank %d (at least 1)", cfg->tt_rank);
    chosen_list *c = calloc(1, sizeof *c);
    if (!c) return cpet_fail(err, "out of memory");
    c->cfg = cfg;
    model_for_each_linear(m, choose, c);
    if (c->n == 0) {
        free(c);
        return cpet_fail(err, "LoRETTA: no linear of the model matches the target modules");
    }
    a->mods = calloc((size_t)c->n, sizeof *a->mods);
    a->tensors = calloc(4 * (size_t)c->n, sizeof *a->tensors);
    int rc = a->mods && a->tensors ? 0 : cpet_fail(err, "out of memory");
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < c->n && rc == 0; i++) {
        loretta_module *lm = &a->mods[i];
        a->n_mods++;
        tt_shape rule[2];
        const tt_shape *sd = shapes ? &shapes[2 * i] : &rule[0], *su = shapes ? &shapes[2 * i + 1] : &rule[1];
        if (!shapes) {
            const int in = cfg->variant == LORETTA_REP || c->places[i] == BRANCH_ON_INPUT ? c->linears[i]->in : c->linears[i]->out;
            const int out = cfg->variant == LORETTA_REP ? c->linears[i]->out : in, inner = cfg->variant == LORETTA_REP ? cfg->rank : cfg->bottleneck;
            if (rule_shape(&rule[0], in, inner, cfg->tt_rank, c->names[i], err) || rule_shape(&rule[1], inner, out, cfg->tt_rank, c->names[i], err)) {
                rc = -1;
                break;
            }
        }
        rc = module_init(a, lm, c->linears[i], c->names[i], c->places[i], sd, su, &rng, err);
        if (rc) break;
        char suffix[64];
        snprintf(suffix, sizeof suffix, "%s.cores", part_name(a, 0));
        lm->t_down = add_tensor(a, lm->module, suffix, lm->down.p, lm->down.off[lm->down.d], 1);
        snprintf(suffix, sizeof suffix, "%s.cores", part_name(a, 1));
        lm->t_up = add_tensor(a, lm->module, suffix, lm->up.p, lm->up.off[lm->up.d], 1);
        if (lm->relu_bias) { /* zero biases, as nn.Linear's are not: the reference's TT layers start them at 0 */
            float *bd = calloc((size_t)lm->inner, sizeof *bd), *bu = calloc((size_t)lm->out, sizeof *bu);
            if (!bd || !bu) {
                free(bd), free(bu);
                rc = cpet_fail(err, "out of memory");
                break;
            }
            lm->t_bias_down = add_tensor(a, lm->module, "loretta_down.bias", bd, (size_t)lm->inner, 0);
            lm->t_bias_up = add_tensor(a, lm->module, "loretta_up.bias", bu, (size_t)lm->out, 0);
        }
    }
    free(c);
    if (rc) {
        loretta_free(a);
        return -1;
    }
    for (int i = 0; i < a->n_tensors; i++) a->tensors[i].trainable = 1;
    loretta_attach(a);
    return 0;
}

int loretta_create(loretta_adapter *a, model *m, const loretta_config *cfg, uint64_t seed, cpet_err *err)
{
    return build(a, m, cfg, NULL, seed, err);
}

void loretta_attach(loretta_adapter *a)
{
    if (a->attached) return;
    for (int i = 0; i < a->n_mods; i++) linear_attach(a->mods[i].target, &a->mods[i].br);
    a->attached = 1;
}

void loretta_detach(loretta_adapter *a)
{
    if (!a->attached) return;
    for (int i = 0; i < a->n_mods; i++) linear_detach(a->mods[i].target, &a->mods[i].br);
    a->attached = 0;
}

int loretta_set_trainable(loretta_adapter *a, int trainable, cpet_err *err)
{
    a->trainable = trainable;
    for (int i = 0; trainable && i < a->n_tensors; i++)
        if (!a->tensors[i].g && !(a->tensors[i].g = calloc(a->tensors[i].n, sizeof(float))))
            return cpet_fail(err, "out of memory for LoRETTA gradients");
    return 0;
}

void loretta_zero_grad(loretta_adapter *a)
{
    for (int i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].g) memset(a->tensors[i].g, 0, a->tensors[i].n * sizeof(float));
}

size_t loretta_trainable_count(const loretta_adapter *a)
{
    size_t n = 0;
    for (int i = 0; i < a->n_tensors; i++) n += a->tensors[i].n;
    return n;
}

int loretta_merge(loretta_adapter *a, cpet_err *err)
{
    if (a->cfg.variant != LORETTA_REP)
        return cpet_fail(err, "LoRETTA adp cannot be merged into the base: a ReLU sits between its two maps");
    for (int i = 0; i < a->n_mods; i++)
        if (a->mods[i].target->qw || !a->mods[i].target->w)
            return cpet_fail(err, "LoRETTA merge: module '%s' has a packed base; merge into the f32 model, then compress", a->mods[i].module);
    for (int i = 0; i < a->n_mods; i++) { /* W [out, in] += s Wu^T Wd^T */
        loretta_module *lm = &a->mods[i];
        materialize(lm);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, lm->out, lm->in, lm->inner, lm->scaling, lm->w_up, lm->out, lm->w_down, lm->inner,
                    1.0f, lm->target->w, lm->in);
    }
    loretta_detach(a);
    return 0;
}

void loretta_free(loretta_adapter *a)
{
    loretta_detach(a);
    for (int i = 0; i < a->n_mods; i++) {
        loretta_module *lm = &a->mods[i];
        tt_free(&lm->down), tt_free(&lm->up);
        free(lm->w_down), free(lm->g_down), free(lm->w_up), free(lm->g_up), free(lm->tt_work);
        if (lm->t_bias_down) free(lm->t_bias_down->p);
        if (lm->t_bias_up) free(lm->t_bias_up->p);
    }
    for (int i = 0; i < a->n_tensors; i++) free(a->tensors[i].g);
    free(a->mods), free(a->tensors);
    memset(a, 0, sizeof *a);
}

/* ---- files ---- */

static json_t *string_array(const char (*names)[64], int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_string(names[i]));
    return arr;
}

int loretta_save(const loretta_adapter *a, const char *dir, cpet_err *err)
{
    char path[4096];
    if (make_dirs(dir, err) != 0) return -1;
    const loretta_config *c = &a->cfg;
    json_t *j = json_object();
    json_object_set_new(j, "peft_type", json_string(c->variant == LORETTA_REP ? "LORETTA_REP" : "LORETTA_ADP"));
    json_object_set_new(j, "task_type", json_string("CAUSAL_LM"));
    if (c->variant == LORETTA_REP) {
        json_object_set_new(j, "r", json_integer(c->rank));
        json_object_set_new(j, "lora_alpha", json_real(c->alpha));
    } else
        json_object_set_new(j, "bottleneck", json_integer(c->bottleneck));
    json_object_set_new(j, "tensor_rank", json_integer(c->tt_rank));
    json_object_set_new(j, "target_modules", string_array(c->targets, c->n_targets));
    json_object_set_new(j, "output_modules", string_array(c->output_targets, c->n_output_targets));
    path_join(path, sizeof path, dir, "adapter_config.json");
    int rc = json_write_file(path, j, err);
    json_decref(j);
    if (rc != 0) return -1;
    /* per module: each core as its own [r_{k-1}, n_k, r_k] tensor, then the biases */
    size_t cap = (size_t)a->n_mods * (2 * TT_MAX_CORES + 2);
    st_entry *entries = calloc(cap, sizeof *entries);
    char (*names)[200] = calloc(cap, sizeof *names);
    if (!entries || !names) {
        free(entries), free(names);
        return cpet_fail(err, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < a->n_mods; i++) {
        const loretta_module *lm = &a->mods[i];
        for (int up = 0; up < 2; up++) {
            const tt_matrix *t = up ? &lm->up : &lm->down;
            for (int k = 0; k < t->d; k++) {
                snprintf(names[n], sizeof names[n], PEFT_PREFIX "%s.%s.core_%d", lm->module, part_name(a, up), k);
                int64_t shape[3] = {k == 0 ? 1 : t->rank, t->n[k], k == t->d - 1 ? 1 : t->rank};
                entries[n] = st_f32_entry(names[n], t->p + t->off[k], 3, shape);
                n++;
            }
        }
        if (lm->relu_bias) {
            entries[n++] = st_f32_entry(lm->t_bias_down->name, lm->t_bias_down->p, 1, lm->t_bias_down->shape);
            entries[n++] = st_f32_entry(lm->t_bias_up->name, lm->t_bias_up->p, 1, lm->t_bias_up->shape);
        }
    }
    const char *meta[] = {"format", "pt"};
    path_join(path, sizeof path, dir, "adapter_model.safetensors");
    rc = st_write(path, entries, n, meta, 1, err);
    free(entries), free(names);
    return rc;
}

static int read_names(const json_t *arr, char (*dst)[64], int *n, const char *path, const char *key, cpet_err *err)
{
    *n = 0;
    if (arr && !json_is_array(arr)) return cpet_fail(err, "%s: '%s' is not a list", path, key);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || *n >= LORETTA_MAX_TARGETS) return cpet_fail(err, "%s: '%s' holds a non-string or more than %d names", path, key, LORETTA_MAX_TARGETS);
        snprintf(dst[(*n)++], 64, "%s", s);
    }
    return 0;
}

/* the factors and rank of one saved matrix from its cores' shapes */
static int read_shape(const st_file *f, const char *module, const char *part, tt_shape *s, cpet_err *err)
{
    char name[256];
    memset(s, 0, sizeof *s);
    for (int k = 0; k < TT_MAX_CORES; k++) {
        snprintf(name, sizeof name, PEFT_PREFIX "%s.%s.core_%d", module, part, k);
        const st_tensor *t = st_find(f, name);
        if (!t) break;
        if (t->ndim != 3 || t->shape[1] < 1) return cpet_fail(err, "%s: tensor '%s' is not a [r, n, r] core", f->path, name);
        if (k == 0) s->rank = (int)t->shape[2];
        s->n[s->d++] = (int)t->shape[1];
    }
    if (s->d < 2) return cpet_fail(err, "%s: module '%s' has no %s cores (%s.core_0, _1, ...)", f->path, module, part, part);
    return 0;
}

static int read_values(const st_file *f, const char *name, float *dst, int ndim, const int64_t *shape, cpet_err *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return cpet_fail(err, "%s: missing tensor '%s'", f->path, name);
    if (st_check_shape(f, t, ndim, shape, err) != 0) return -1;
    return st_to_f32(f, t, dst, err);
}

int loretta_load(loretta_adapter *a, model *m, const char *dir, cpet_err *err)
{
    char cfg_path[4096], st_path[4096];
    memset(a, 0, sizeof *a);
    if (path_join(cfg_path, sizeof cfg_path, dir, "adapter_config.json") || path_join(st_path, sizeof st_path, dir, "adapter_model.safetensors"))
        return cpet_fail(err, "%s: path too long", dir);
    json_t *j = json_read_file(cfg_path, err);
    if (!j) return -1;
    loretta_config c = {0};
    const char *type = json_string_value(json_object_get(j, "peft_type"));
    c.variant = type && !strcmp(type, "LORETTA_REP") ? LORETTA_REP : LORETTA_ADP;
    int rc = 0;
    if (!type || (strcmp(type, "LORETTA_REP") && strcmp(type, "LORETTA_ADP")))
        rc = cpet_fail(err, "%s: peft_type is not LORETTA_REP or LORETTA_ADP", cfg_path);
    c.rank = (int)json_integer_value(json_object_get(j, "r"));
    c.alpha = (float)json_number_value(json_object_get(j, "lora_alpha"));
    c.bottleneck = (int)json_integer_value(json_object_get(j, "bottleneck"));
    c.tt_rank = (int)json_integer_value(json_object_get(j, "tensor_rank"));
    if (rc == 0) rc = read_names(json_object_get(j, "target_modules"), c.targets, &c.n_targets, cfg_path, "target_modules", err);
    if (rc == 0) rc = read_names(json_object_get(j, "output_modules"), c.output_targets, &c.n_output_targets, cfg_path, "output_modules", err);
    json_decref(j);
    if (rc) return -1;
    st_file f;
    if (st_open(&f, st_path, err) != 0) return -1;
    /* the modules the config names, in the model's order, with the shapes their cores have */
    chosen_list *ch = calloc(1, sizeof *ch);
    tt_shape *shapes = ch ? calloc(2 * 1024, sizeof *shapes) : NULL;
    if (!shapes) rc = cpet_fail(err, "out of memory");
    if (rc == 0) {
        ch->cfg = &c;
        model_for_each_linear(m, choose, ch);
        for (int i = 0; i < ch->n && rc == 0; i++) {
            rc = read_shape(&f, ch->names[i], part_name_of(c.variant, 0), &shapes[2 * i], err) ||
                 read_shape(&f, ch->names[i], part_name_of(c.variant, 1), &shapes[2 * i + 1], err);
        }
    }
    if (rc == 0 && build(a, m, &c, shapes, 0, err) != 0) { /* the saved shapes do not fit this model */
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        rc = cpet_fail(err, "%s: %s", st_path, why);
    }
    for (int i = 0; rc == 0 && i < a->n_mods; i++) {
        loretta_module *lm = &a->mods[i];
        for (int up = 0; up < 2 && rc == 0; up++) {
            tt_matrix *t = up ? &lm->up : &lm->down;
            for (int k = 0; k < t->d && rc == 0; k++) {
                char name[256];
                snprintf(name, sizeof name, PEFT_PREFIX "%s.%s.core_%d", lm->module, part_name(a, up), k);
                int64_t shape[3] = {k == 0 ? 1 : t->rank, t->n[k], k == t->d - 1 ? 1 : t->rank};
                rc = read_values(&f, name, t->p + t->off[k], 3, shape, err);
            }
        }
        if (rc == 0 && lm->relu_bias)
            rc = read_values(&f, lm->t_bias_down->name, lm->t_bias_down->p, 1, lm->t_bias_down->shape, err) ||
                 read_values(&f, lm->t_bias_up->name, lm->t_bias_up->p, 1, lm->t_bias_up->shape, err);
        if (rc == 0 && (lm->down.rows * lm->down.cols != lm->in * lm->inner))
            rc = cpet_fail(err, "%s: module '%s' does not fit the model", st_path, lm->module);
    }
    free(shapes), free(ch);
    st_close(&f);
    if (rc) {
        if (a->mods) loretta_free(a);
        return -1;
    }
    return 0;
}
