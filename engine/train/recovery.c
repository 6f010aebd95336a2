#include "recovery.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "blas.h"
#include "fileio.h"
#include "lora.h"
#include "safetensors.h"
#include "ops.h"
#include "tensor.h"

/* ---- the branch: h = x a1^T, g = GELU(h), y += s g a2^T ---- */

static void recovery_forward(branch *b, const float *x, float *y, int n, float *scratch)
{
    const recovery_module *rm = b->self;
    const size_t nr = (size_t)n * rm->r;
    float *h = scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rm->r, rm->in, 1.0f, x, rm->in, rm->a1->p, rm->in, 0.0f, h, rm->r);
    for (size_t i = 0; i < nr; i++) h[i] = act_value(ACT_GELU, h[i], 0.0f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rm->out, rm->r, rm->scaling, h, rm->r, rm->a2->p, rm->r, 1.0f, y,
                rm->out);
}

/* h recomputed (cheaper than storing it per module);  dg = s dy a2;  da2 += s dy^T GELU(h);
 * dh = dg GELU'(h);  da1 += dh^T x;  dx += dh a1 */
static void recovery_backward(branch *b, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    const recovery_module *rm = b->self;
    const size_t nr = (size_t)n * rm->r;
    float *h = scratch, *g = scratch + nr, *dh = scratch + 2 * nr;
    const int train = *rm->trainable && rm->a1->g;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rm->r, rm->in, 1.0f, x, rm->in, rm->a1->p, rm->in, 0.0f, h, rm->r);
    for (size_t i = 0; i < nr; i++) g[i] = act_value(ACT_GELU, h[i], 0.0f);
    if (train)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rm->out, rm->r, n, rm->scaling, dy, rm->out, g, rm->r, 1.0f,
                    rm->a2->g, rm->r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, rm->r, rm->out, rm->scaling, dy, rm->out, rm->a2->p, rm->r, 0.0f,
                dh, rm->r);
    for (size_t i = 0; i < nr; i++) dh[i] *= act_derivative(ACT_GELU, h[i], 0.0f);
    if (train)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rm->r, rm->in, n, 1.0f, dh, rm->r, x, rm->in, 1.0f, rm->a1->g,
                    rm->in);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, rm->in, rm->r, 1.0f, dh, rm->r, rm->a1->p, rm->in, 1.0f, dx,
                    rm->in);
}

static size_t recovery_scratch_per_row(const branch *b)
{
    const recovery_module *rm = b->self;
    return 3 * (size_t)rm->r;
}

static const branch_ops recovery_branch_ops = {
    .kind = "recovery", .forward = recovery_forward, .backward = recovery_backward, .scratch_per_row = recovery_scratch_per_row};

/* ---- structure ---- */

typedef struct {
    recovery_set *s;
    const char *const *targets;
    int n_targets, counting, filled;
    size_t floats;
} build_ctx;

static void visit_linear(linear *l, const char *name, void *p)
{
    build_ctx *c = p;
    int match = 0;
    for (int t = 0; t < c->n_targets && !match; t++) match = lora_target_matches(name, c->targets[t]);
    if (!match) return;
    recovery_set *s = c->s;
    if (c->counting) {
        s->n_mods++;
        c->floats += (size_t)s->r * l->in + (size_t)l->out * s->r;
        return;
    }
    recovery_module *rm = &s->mods[c->filled++];
    snprintf(rm->module, sizeof rm->module, "%s", name);
    rm->r = s->r, rm->in = l->in, rm->out = l->out, rm->scaling = s->alpha / (float)s->r;
    rm->target = l;
    rm->trainable = &s->trainable;
    rm->br = (branch){.ops = &recovery_branch_ops, .self = rm};
    for (int k = 0; k < 2; k++) {
        param_tensor *t = &s->tensors[s->n_tensors++];
        snprintf(t->name, sizeof t->name, "base_model.model.%s.recovery_a%d.weight", name, k + 1);
        t->ndim = 2;
        t->shape[0] = k ? l->out : s->r;
        t->shape[1] = k ? s->r : l->in;
        t->n = (size_t)t->shape[0] * t->shape[1];
        t->p = s->params + c->floats;
        t->decay = 1;
        t->trainable = 1;
        c->floats += t->n;
        if (k) rm->a2 = t;
        else rm->a1 = t;
    }
}

int recovery_create(recovery_set *s, model *m, int r, float alpha, const char *const *targets, int n_targets,
                    unsigned long long seed, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    if (r <= 0) return cpet_fail(err, "recovery modules: rank must be positive (got %d)", r);
    if (n_targets > RECOVERY_MAX_TARGETS) return cpet_fail(err, "recovery modules: more than %d targets", RECOVERY_MAX_TARGETS);
    s->r = r;
    s->alpha = alpha;
    for (int t = 0; t < n_targets; t++) {
        if (strlen(targets[t]) >= sizeof s->targets[0]) return cpet_fail(err, "recovery modules: target '%s' too long", targets[t]);
        snprintf(s->targets[s->n_targets++], sizeof s->targets[0], "%s", targets[t]);
    }
    build_ctx c = {.s = s, .targets = targets, .n_targets = n_targets, .counting = 1};
    model_for_each_linear(m, visit_linear, &c);
    if (s->n_mods == 0) return cpet_fail(err, "recovery modules: no linear of the model matches the targets");
    s->mods = calloc((size_t)s->n_mods, sizeof *s->mods);
    s->tensors = calloc(2 * (size_t)s->n_mods, sizeof *s->tensors);
    s->params = cpet_alloc_floats(c.floats);
    s->n_params = c.floats;
    if (!s->mods || !s->tensors || !s->params) {
        recovery_free(s);
        return cpet_fail(err, "out of memory allocating recovery modules");
    }
    c.counting = 0, c.floats = 0;
    model_for_each_linear(m, visit_linear, &c);
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < s->n_mods; i++) { /* a2 stays 0: the branch adds nothing until it trains */
        float bound = 1.0f / sqrtf((float)s->mods[i].in);
        fill_uniform(s->mods[i].a1->p, s->mods[i].a1->n, -bound, bound, &rng);
    }
    recovery_attach(s);
    return 0;
}

int recovery_set_trainable(recovery_set *s, int trainable, cpet_err *err)
{
    s->trainable = trainable;
    if (trainable && param_block_grads(s->tensors, s->n_tensors, s->params, s->n_params, &s->grads) != 0)
        return cpet_fail(err, "out of memory for recovery-module gradients");
    return 0;
}

void recovery_zero_grad(recovery_set *s)
{
    if (s->grads) memset(s->grads, 0, s->n_params * sizeof(float));
}

void recovery_attach(recovery_set *s)
{
    if (s->attached) return;
    for (int i = 0; i < s->n_mods; i++) linear_attach(s->mods[i].target, &s->mods[i].br);
    s->attached = 1;
}

void recovery_detach(recovery_set *s)
{
    if (!s->attached) return;
    for (int i = 0; i < s->n_mods; i++) linear_detach(s->mods[i].target, &s->mods[i].br);
    s->attached = 0;
}

void recovery_free(recovery_set *s)
{
    recovery_detach(s);
    cpet_free(s->params);
    cpet_free(s->grads);
    free(s->mods);
    free(s->tensors);
    memset(s, 0, sizeof *s);
}

/* ---- files ---- */

int recovery_save_config(const recovery_set *s, const char *dir, cpet_err *err)
{
    char path[4096];
    if (make_dirs(dir, err) != 0) return -1;
    if (path_join(path, sizeof path, dir, "recovery_config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    json_t *targets = json_array();
    for (int t = 0; t < s->n_targets; t++) json_array_append_new(targets, json_string(s->targets[t]));
    json_t *j = json_pack("{s:s, s:i, s:f, s:o, s:s}", "kind", "calora_recovery", "r", s->r, "alpha", (double)s->alpha,
                          "target_modules", targets, "activation", "gelu");
    int rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

int recovery_load(recovery_set *s, model *m, const char *dir, cpet_err *err)
{
    char cfg_path[4096], st_path[4096];
    memset(s, 0, sizeof *s);
    if (path_join(cfg_path, sizeof cfg_path, dir, "recovery_config.json") != 0 ||
        path_join(st_path, sizeof st_path, dir, "adapter_model.safetensors") != 0)
        return cpet_fail(err, "%s: path too long", dir);
    json_t *j = json_read_file(cfg_path, err);
    if (!j) return -1;
    json_t *r = json_object_get(j, "r"), *al = json_object_get(j, "alpha"), *tm = json_object_get(j, "target_modules");
    const char *targets[RECOVERY_MAX_TARGETS];
    int n = 0, rc = 0;
    if (!json_is_integer(r) || json_integer_value(r) <= 0 || !json_is_number(al) || !json_is_array(tm) ||
        json_array_size(tm) == 0 || json_array_size(tm) > RECOVERY_MAX_TARGETS)
        rc = cpet_fail(err, "%s: needs a positive integer r, a number alpha and a list target_modules", cfg_path);
    for (size_t i = 0; rc == 0 && i < json_array_size(tm); i++)
        if (!(targets[n++] = json_string_value(json_array_get(tm, i))))
            rc = cpet_fail(err, "%s: target_modules[%zu] is not a string", cfg_path, i);
    if (rc == 0 && recovery_create(s, m, (int)json_integer_value(r), (float)json_number_value(al), targets, n, 0, err) != 0)
        rc = cpet_prefix(err, "%s", cfg_path);
    json_decref(j);
    if (rc != 0) return -1;
    st_file f;
    if (st_open(&f, st_path, err) != 0) {
        recovery_free(s);
        return -1;
    }
    for (int i = 0; rc == 0 && i < s->n_tensors; i++) {
        param_tensor *t = &s->tensors[i];
        const st_tensor *st = st_find(&f, t->name);
        if (!st) rc = cpet_fail(err, "%s: tensor '%s' is missing (recovery_config.json names its module)", st_path, t->name);
        if (rc == 0) rc = st_check_shape(&f, st, 2, t->shape, err);
        if (rc == 0) rc = st_to_f32(&f, st, t->p, err);
    }
    st_close(&f);
    if (rc != 0) recovery_free(s);
    return rc;
}

int recovery_load_if_present(recovery_set *s, model *m, const char *dir, cpet_err *err)
{
    char path[4096];
    memset(s, 0, sizeof *s);
    if (path_join(path, sizeof path, dir, "recovery_config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    return path_exists(path) ? recovery_load(s, m, dir, err) : 0;
}
