#include "lora.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "fileio.h"
#include "safetensors.h"
#include "tensor.h"

#define PEFT_PREFIX "base_model.model."

/* ---- the branch ---- */

/* t = x A^T [n, r], and with a mixer u = t M^T (else u = t) */
static float *lora_down(const lora_module *lm, const float *x, int n, float *t, float *u)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lm->r, lm->in, 1.0f, x, lm->in, lm->A->p, lm->in, 0.0f, t,
                lm->r);
    if (!lm->M) return t;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lm->r, lm->r, 1.0f, t, lm->r, lm->M->p, lm->r, 0.0f, u, lm->r);
    return u;
}

static void lora_forward(branch *b, const float *x, float *y, int n, float *scratch)
{
    const lora_module *lm = b->self;
    const float *u = lora_down(lm, x, n, scratch, scratch + (size_t)n * lm->r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lm->out, lm->r, lm->scaling, u, lm->r, lm->B->p, lm->r, 1.0f,
                y, lm->out);
}

/* t, u recomputed (cheaper than storing them for every module);  du = s dy B;  dB += s dy^T u;
 * with a mixer dM += du^T t and dt = du M (else dt = du);  dA += dt^T x;  dx += dt A */
static void lora_backward(branch *b, const float *x, const float *dy, float *dx, int n, float *scratch)
{
    const lora_module *lm = b->self;
    const size_t nr = (size_t)n * lm->r;
    float *t = scratch, *u = scratch + nr, *du = scratch + 2 * nr, *dt = lm->M ? scratch + 3 * nr : du;
    int train = *lm->trainable && lm->A->g;
    if (train || lm->M) {
        const float *down = lora_down(lm, x, n, t, u);
        if (train)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lm->out, lm->r, n, lm->scaling, dy, lm->out, down, lm->r,
                        1.0f, lm->B->g, lm->r);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, lm->r, lm->out, lm->scaling, dy, lm->out, lm->B->p, lm->r,
                0.0f, du, lm->r);
    if (lm->M) {
        if (train && lm->M->trainable)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lm->r, lm->r, n, 1.0f, du, lm->r, t, lm->r, 1.0f, lm->M->g,
                        lm->r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, lm->r, lm->r, 1.0f, du, lm->r, lm->M->p, lm->r, 0.0f, dt,
                    lm->r);
    }
    if (train && lm->A->trainable) /* LoRA-FA freezes A: no dA */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lm->r, lm->in, n, 1.0f, dt, lm->r, x, lm->in, 1.0f, lm->A->g,
                    lm->in);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, lm->in, lm->r, 1.0f, dt, lm->r, lm->A->p, lm->in, 1.0f,
                    dx, lm->in);
}

static size_t lora_scratch_per_row(const branch *b)
{
    const lora_module *lm = b->self;
    return (lm->M ? 4 : 3) * (size_t)lm->r;
}

static const branch_ops lora_branch_ops = {.kind = "lora", .forward = lora_forward, .backward = lora_backward, .scratch_per_row = lora_scratch_per_row};

/* ---- structure ---- */

/* PEFT matches a target name against the module path: equal, or the path ends with "." + name. */
int lora_target_matches(const char *module, const char *target)
{
    if (strcmp(target, "all-linear") == 0) return strcmp(module, "lm_head") != 0;
    size_t lm = strlen(module), lt = strlen(target);
    if (lm == lt) return strcmp(module, target) == 0;
    return lm > lt && module[lm - lt - 1] == '.' && strcmp(module + lm - lt, target) == 0;
}

typedef struct {
    char (*names)[128];
    linear **linears;
    int n;
} linear_list;

static void collect_linear(linear *l, const char *name, void *ctx)
{
    linear_list *list = ctx;
    snprintf(list->names[list->n], 128, "%s", name);
    list->linears[list->n++] = l;
}

static void list_linears(model *m, linear_list *list)
{
    int total = m->cfg.n_layers * LIN_PER_LAYER + 1;
    list->names = calloc((size_t)total, sizeof *list->names);
    list->linears = calloc((size_t)total, sizeof *list->linears);
    list->n = 0;
    model_for_each_linear(m, collect_linear, list);
}

static void free_list(linear_list *list)
{
    free(list->names);
    free(list->linears);
}

static float lora_scaling(const lora_adapter *a, int r, float alpha)
{
    return a->use_rslora ? alpha / sqrtf((float)r) : alpha / (float)r;
}

/* Allocates modules and one parameter buffer; ranks[i] per module. */
static int lora_alloc(lora_adapter *a, linear_list *chosen, const int *ranks, const float *alphas, cpet_err *err)
{
    a->n_mods = chosen->n;
    a->mods = calloc((size_t)chosen->n + 1, sizeof *a->mods);
    const int per_module = a->mixer ? 3 : 2; /* A, B (, M) */
    a->tensors = calloc((size_t)per_module * chosen->n + 1, sizeof *a->tensors);
    size_t total = 0;
    for (int i = 0; i < chosen->n; i++) {
        size_t na = (size_t)ranks[i] * chosen->linears[i]->in, nb = (size_t)chosen->linears[i]->out * ranks[i],
               nm = a->mixer ? (size_t)ranks[i] * ranks[i] : 0;
        total += (na + 15) / 16 * 16 + (nb + 15) / 16 * 16 + (nm + 15) / 16 * 16;
    }
    a->params = cpet_alloc_floats(total);
    if (!a->mods || !a->tensors || !a->params) return cpet_fail(err, "out of memory allocating a LoRA adapter");
    a->n_params = total;
    float *cursor = a->params;
    for (int i = 0; i < chosen->n; i++) {
        lora_module *lm = &a->mods[i];
        linear *l = chosen->linears[i];
        snprintf(lm->module, sizeof lm->module, "%s", chosen->names[i]);
        lm->r = ranks[i];
        lm->in = l->in;
        lm->out = l->out;
        lm->scaling = lora_scaling(a, ranks[i], alphas[i]);
        lm->target = l;
        lm->trainable = &a->trainable;
        lm->br.ops = &lora_branch_ops;
        lm->br.self = lm;
        for (int k = 0; k < per_module; k++) {
            param_tensor *t = &a->tensors[a->n_tensors++];
            snprintf(t->name, sizeof t->name, PEFT_PREFIX "%s.lora_%s.weight", lm->module, k == 2 ? "AB" : k ? "B" : "A");
            t->ndim = 2;
            t->shape[0] = k == 1 ? l->out : ranks[i];
            t->shape[1] = k == 0 ? l->in : ranks[i];
            t->n = (size_t)t->shape[0] * t->shape[1];
            t->p = cursor;
            t->decay = 1;
            t->trainable = k < 2 || a->mixer == LORA_MIXER_TRAINED;
            cursor += (t->n + 15) / 16 * 16;
            if (k == 2) lm->M = t;
            else if (k) lm->B = t;
            else lm->A = t;
        }
    }
    return 0;
}

void lora_attach(lora_adapter *a)
{
    if (a->attached) return;
    for (int i = 0; i < a->n_mods; i++) linear_attach(a->mods[i].target, &a->mods[i].br);
    a->attached = 1;
}

void lora_detach(lora_adapter *a)
{
    if (!a->attached) return;
    for (int i = 0; i < a->n_mods; i++) linear_detach(a->mods[i].target, &a->mods[i].br);
    a->attached = 0;
}

static int add_targets(lora_adapter *a, const char *const *targets, int n, const char *path, cpet_err *err)
{
    if (n > LORA_MAX_TARGETS) return cpet_fail(err, "%s: more than %d target_modules", path, LORA_MAX_TARGETS);
    for (int i = 0; i < n; i++) {
        if (strlen(targets[i]) >= sizeof a->target_modules[0])
            return cpet_fail(err, "%s: target module name '%s' too long", path, targets[i]);
        snprintf(a->target_modules[a->n_targets++], sizeof a->target_modules[0], "%s", targets[i]);
    }
    return 0;
}

/* Every target name must match some linear of the model, as PEFT requires. */
static int check_targets_exist(const lora_adapter *a, const linear_list *all, const char *path, cpet_err *err)
{
    for (int t = 0; t < a->n_targets; t++) {
        int found = 0;
        for (int i = 0; i < all->n && !found; i++) found = lora_target_matches(all->names[i], a->target_modules[t]);
        if (!found)
            return cpet_fail(err, "%s: target module '%s' is not a linear layer of this model", path,
                             a->target_modules[t]);
    }
    return 0;
}

int lora_create(lora_adapter *a, model *m, int r, float alpha, int use_rslora, const char *const *targets,
                int n_targets, unsigned long long seed, cpet_err *err)
{
    return lora_create_mixed(a, m, r, alpha, use_rslora, LORA_MIXER_NONE, targets, n_targets, seed, err);
}

int lora_create_mixed(lora_adapter *a, model *m, int r, float alpha, int use_rslora, int mixer, const char *const *targets,
                      int n_targets, unsigned long long seed, cpet_err *err)
{
    memset(a, 0, sizeof *a);
    if (r <= 0) return cpet_fail(err, "LoRA rank must be positive (got %d)", r);
    a->mixer = mixer;
    a->r = r;
    a->alpha = alpha;
    a->use_rslora = use_rslora;
    if (add_targets(a, targets, n_targets, "lora", err) != 0) return -1;
    linear_list all, chosen;
    list_linears(m, &all);
    int rc = check_targets_exist(a, &all, "lora", err);
    chosen.names = calloc((size_t)all.n, sizeof *chosen.names);
    chosen.linears = calloc((size_t)all.n, sizeof *chosen.linears);
    chosen.n = 0;
    int *ranks = calloc((size_t)all.n, sizeof *ranks);
    float *alphas = calloc((size_t)all.n, sizeof *alphas);
    for (int i = 0; i < all.n && rc == 0; i++)
        for (int t = 0; t < a->n_targets; t++)
            if (lora_target_matches(all.names[i], a->target_modules[t])) {
                memcpy(chosen.names[chosen.n], all.names[i], 128);
                ranks[chosen.n] = r;
                alphas[chosen.n] = alpha;
                chosen.linears[chosen.n++] = all.linears[i];
                break;
            }
    if (rc == 0) rc = lora_alloc(a, &chosen, ranks, alphas, err);
    if (rc == 0) {
        cpet_rng rng;
        rng_seed(&rng, seed);
        for (int i = 0; i < a->n_mods; i++) {
            float bound = 1.0f / sqrtf((float)a->mods[i].in);
            fill_uniform(a->mods[i].A->p, a->mods[i].A->n, -bound, bound, &rng);
        }
        for (int i = 0; i < a->n_mods && a->mixer; i++) { /* M as A: kaiming_uniform(a=sqrt(5)), fan_in r */
            float bound = 1.0f / sqrtf((float)a->mods[i].r);
            fill_uniform(a->mods[i].M->p, a->mods[i].M->n, -bound, bound, &rng);
        }
        lora_attach(a);
    }
    free(ranks);
    free(alphas);
    free_list(&chosen);
    free_list(&all);
    if (rc != 0) lora_free(a);
    return rc;
}

/* alpha_pattern / rank_pattern keys match module paths like target names do */
static int pattern_lookup(json_t *pattern, const char *module, double *out)
{
    const char *key;
    json_t *v;
    json_object_foreach(pattern, key, v)
    {
        if (json_is_number(v) && lora_target_matches(module, key)) {
            *out = json_number_value(v);
            return 1;
        }
    }
    return 0;
}

static int read_adapter_config(lora_adapter *a, const char *path, json_t **alpha_pattern, cpet_err *err)
{
    json_t *j = json_read_file(path, err);
    if (!j) return -1;
    int rc = -1;
    if (!json_is_object(j)) {
        cpet_fail(err, "%s: not a JSON object", path);
        goto done;
    }
    json_t *pt = json_object_get(j, "peft_type");
    if (pt && !(json_is_string(pt) && strcmp(json_string_value(pt), "LORA") == 0)) {
        cpet_fail(err, "%s: peft_type '%s' is not supported (only LORA)", path, json_is_string(pt) ? json_string_value(pt) : "?");
        goto done;
    }
    json_t *r = json_object_get(j, "r"), *al = json_object_get(j, "lora_alpha");
    if (!json_is_integer(r) || json_integer_value(r) <= 0 || (al && !json_is_number(al))) {
        cpet_fail(err, "%s: 'r' must be a positive integer and 'lora_alpha' a number", path);
        goto done;
    }
    a->r = (int)json_integer_value(r);
    a->alpha = al ? (float)json_number_value(al) : 8.0f;
    a->use_rslora = json_is_true(json_object_get(j, "use_rslora"));
    if (json_is_true(json_object_get(j, "use_moslora")))
        a->mixer = json_is_true(json_object_get(j, "moslora_mixer_frozen")) ? LORA_MIXER_FROZEN : LORA_MIXER_TRAINED;
    const char *must_be_false[] = {"use_dora", "fan_in_fan_out"};
    for (int i = 0; i < 2; i++)
        if (json_is_true(json_object_get(j, must_be_false[i]))) {
            cpet_fail(err, "%s: '%s: true' is not supported", path, must_be_false[i]);
            goto done;
        }
    json_t *bias = json_object_get(j, "bias");
    if (bias && !(json_is_string(bias) && strcmp(json_string_value(bias), "none") == 0)) {
        cpet_fail(err, "%s: bias '%s' is not supported (only 'none')", path, json_is_string(bias) ? json_string_value(bias) : "?");
        goto done;
    }
    /* PEFT replaces these modules by trained copies saved beside the LoRA weights; cpet would silently run
     * the base ones, so the outputs would differ from PEFT's */
    json_t *mts = json_object_get(j, "modules_to_save");
    if (mts && !json_is_null(mts) && !(json_is_array(mts) && json_array_size(mts) == 0)) {
        char list[512] = "";
        size_t len = 0;
        if (json_is_array(mts))
            for (size_t i = 0; i < json_array_size(mts) && len < sizeof list; i++) {
                const char *name = json_string_value(json_array_get(mts, i));
                int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", name ? name : "?");
                len += w > 0 ? (size_t)w : 0;
            }
        else snprintf(list, sizeof list, "%s", json_is_string(mts) ? json_string_value(mts) : "?");
        cpet_fail(err, "%s: modules_to_save [%s] is not supported (PEFT would replace those modules with trained copies; "
                       "merge the adapter in PEFT or retrain without them)", path, list);
        goto done;
    }
    json_t *tm = json_object_get(j, "target_modules");
    if (json_is_string(tm)) {
        const char *one = json_string_value(tm);
        if (add_targets(a, &one, 1, path, err) != 0) goto done;
    } else if (json_is_array(tm)) {
        for (size_t i = 0; i < json_array_size(tm); i++) {
            const char *name = json_string_value(json_array_get(tm, i));
            if (!name) {
                cpet_fail(err, "%s: target_modules[%zu] is not a string", path, i);
                goto done;
            }
            if (add_targets(a, &name, 1, path, err) != 0) goto done;
        }
    } else {
        cpet_fail(err, "%s: target_modules must be a list of module names", path);
        goto done;
    }
    json_t *ap = json_object_get(j, "alpha_pattern");
    *alpha_pattern = json_is_object(ap) ? json_incref(ap) : json_object();
    rc = 0;
done:
    json_decref(j);
    return rc;
}

/* "base_model.model.<module>.lora_A.weight" -> module and which (0 = A, 1 = B, 2 = the MoSLoRA mixer
 * lora_AB); -1 if none of them */
static int parse_peft_name(const char *name, char *module, size_t n)
{
    size_t lp = strlen(PEFT_PREFIX), len = strlen(name);
    const char *suffixes[] = {".lora_A.weight", ".lora_B.weight", ".lora_AB.weight"};
    if (strncmp(name, PEFT_PREFIX, lp) != 0) return -1;
    for (int k = 0; k < 3; k++) {
        size_t ls = strlen(suffixes[k]);
        if (len > lp + ls && strcmp(name + len - ls, suffixes[k]) == 0 && len - lp - ls < n) {
            memcpy(module, name + lp, len - lp - ls);
            module[len - lp - ls] = 0;
            return k;
        }
    }
    return -1;
}

/* An adapter of the unpruned model on a model that struct-ffn, struct-heads or hidden pruning shrank
 * (m->ffn_kept, m->kv_kept, m->hidden_kept): each module keeps the rows of B (its outputs) and the columns
 * of A (its inputs) that the pruners kept -- gate/up: neurons (rows), down: neurons (columns); q: the query
 * heads of kept KV groups (rows), k/v: the kept groups (rows), o: the kept query heads (columns); hidden
 * dimensions: the columns of A of every module that reads the residual stream (q, k, v, gate, up, the LM
 * head) and the rows of B of those that write it (o, down). The projection the pruning implies: a pruned
 * unit's LoRA terms have nothing left to act on. */
typedef struct {
    int *map; /* new index -> original, or NULL: not projected */
    int n, from;
} projection;

static void unit_map(projection *p, const int *kept, int n_kept, int unit, int from_units)
{
    p->n = n_kept * unit, p->from = from_units * unit;
    if (!(p->map = malloc((size_t)p->n * sizeof(int)))) return;
    for (int i = 0; i < p->n; i++) p->map[i] = kept[i / unit] * unit + i % unit;
}

static void pruned_projection(const model *m, const char *module, projection *rows_of_b, projection *cols_of_a)
{
    memset(rows_of_b, 0, sizeof *rows_of_b), memset(cols_of_a, 0, sizeof *cols_of_a);
    int l = -1, consumed = 0;
    const char *rest = module;
    if (sscanf(module, "model.layers.%d.%n", &l, &consumed) == 1 && consumed > 0 && l >= 0 && l < m->cfg.n_layers) rest = module + consumed;
    else if (strcmp(module, "lm_head")) return;
    const int F = m->cfg.intermediate_size, KV = m->cfg.n_kv_heads, group = m->cfg.n_heads / KV, hd = m->cfg.head_dim;
    const int is_ffn = !strncmp(rest, "mlp.", 4), is_attn = !strncmp(rest, "self_attn.", 10);
    const int writes = !strcmp(rest, "self_attn.o_proj") || !strcmp(rest, "mlp.down_proj");
    if (m->ffn_kept && is_ffn) unit_map(writes ? cols_of_a : rows_of_b, m->ffn_kept + (size_t)l * F, F, 1, m->ffn_kept_from);
    if (m->kv_kept && is_attn) {
        const int per_group = rest[10] == 'q' || rest[10] == 'o' ? group * hd : hd;
        unit_map(writes ? cols_of_a : rows_of_b, m->kv_kept + (size_t)l * KV, KV, per_group, m->kv_kept_from);
    }
    if (m->hidden_kept && (is_ffn || is_attn || l < 0))
        unit_map(writes ? rows_of_b : cols_of_a, m->hidden_kept, m->cfg.hidden_size, 1, m->hidden_kept_from);
}

/* tensor st (the unpruned shape) into dst, keeping the rows in rows.map and the columns in cols.map (each
 * when set) */
static int read_projected(const st_file *f, const st_tensor *st, const projection *rows, const projection *cols, float *dst, cpet_err *err)
{
    if (!rows->map && !cols->map) return st_to_f32(f, st, dst, err);
    float *full = malloc(st->numel * sizeof(float));
    if (!full) return cpet_fail(err, "out of memory projecting '%s'", st->name);
    int rc = st_to_f32(f, st, full, err);
    const int64_t n_rows = rows->map ? rows->n : st->shape[0], n_cols = cols->map ? cols->n : st->shape[1];
    for (int64_t i = 0; rc == 0 && i < n_rows; i++)
        for (int64_t j = 0; j < n_cols; j++)
            dst[i * n_cols + j] = full[(rows->map ? rows->map[i] : i) * st->shape[1] + (cols->map ? cols->map[j] : j)];
    free(full);
    return rc;
}

int lora_load(lora_adapter *a, model *m, const char *dir, cpet_err *err)
{
    memset(a, 0, sizeof *a);
    char cfg_path[4096], st_path[4096];
    if (path_join(cfg_path, sizeof cfg_path, dir, "adapter_config.json") != 0 ||
        path_join(st_path, sizeof st_path, dir, "adapter_model.safetensors") != 0)
        return cpet_fail(err, "%s: path too long", dir);
    if (!path_exists(cfg_path)) return cpet_fail(err, "%s: missing file", cfg_path);
    if (!path_exists(st_path)) return cpet_fail(err, "%s: missing file", st_path);
    json_t *alpha_pattern = NULL;
    if (read_adapter_config(a, cfg_path, &alpha_pattern, err) != 0) return -1;
    st_file f;
    if (st_open(&f, st_path, err) != 0) {
        json_decref(alpha_pattern);
        return -1;
    }
    linear_list all, chosen;
    list_linears(m, &all);
    chosen.names = calloc((size_t)all.n, sizeof *chosen.names);
    chosen.linears = calloc((size_t)all.n, sizeof *chosen.linears);
    chosen.n = 0;
    int *ranks = calloc((size_t)all.n, sizeof *ranks);
    float *alphas = calloc((size_t)all.n, sizeof *alphas);
    const st_tensor **src = calloc(3 * (size_t)all.n, sizeof *src);
    projection *proj_b = calloc((size_t)all.n + 1, sizeof *proj_b), *proj_a = calloc((size_t)all.n + 1, sizeof *proj_a);
    int rc = check_targets_exist(a, &all, cfg_path, err);
    for (int i = 0; i < f.n_tensors && rc == 0; i++) {
        char module[128];
        int which = parse_peft_name(f.tensors[i].name, module, sizeof module);
        if (which < 0 && strstr(f.tensors[i].name, ".recovery_a")) continue; /* CA-LoRA's extension (recovery.h) */
        if (which == 2 && !a->mixer) {
            rc = cpet_fail(err, "%s: tensor '%s' is a MoSLoRA mixer, but %s does not say use_moslora", st_path,
                           f.tensors[i].name, cfg_path);
            break;
        }
        if (which < 0) {
            rc = cpet_fail(err, "%s: tensor '%s' is not a LoRA A/B weight (expected " PEFT_PREFIX
                                "<module>.lora_A.weight)", st_path, f.tensors[i].name);
            break;
        }
        linear *l = model_find_linear(m, module);
        if (!l) {
            rc = cpet_fail(err, "%s: tensor '%s' is for module '%s', which the model does not have", st_path,
                           f.tensors[i].name, module);
            break;
        }
        int slot = -1;
        for (int c = 0; c < chosen.n && slot < 0; c++)
            if (chosen.linears[c] == l) slot = c;
        if (slot < 0) {
            slot = chosen.n++;
            chosen.linears[slot] = l;
            snprintf(chosen.names[slot], 128, "%s", module);
        }
        src[3 * slot + which] = &f.tensors[i];
    }
    for (int c = 0; c < chosen.n && rc == 0; c++) {
        const st_tensor *ta = src[3 * c], *tb = src[3 * c + 1], *tm = src[3 * c + 2];
        if (!ta || !tb) {
            rc = cpet_fail(err, "%s: module '%s' has lora_%c but not lora_%c", st_path, chosen.names[c], ta ? 'A' : 'B',
                           ta ? 'B' : 'A');
            break;
        }
        ranks[c] = ta->ndim == 2 ? (int)ta->shape[0] : 0;
        int64_t want_a[2] = {ranks[c], chosen.linears[c]->in}, want_b[2] = {chosen.linears[c]->out, ranks[c]};
        pruned_projection(m, chosen.names[c], &proj_b[c], &proj_a[c]);
        /* a side already at the pruned shape (or a mismatch the checks below report) is not projected */
        if (proj_b[c].map && tb->ndim == 2 && tb->shape[0] == proj_b[c].from) want_b[0] = proj_b[c].from;
        else free(proj_b[c].map), proj_b[c].map = NULL;
        if (proj_a[c].map && ta->ndim == 2 && ta->shape[1] == proj_a[c].from) want_a[1] = proj_a[c].from;
        else free(proj_a[c].map), proj_a[c].map = NULL;
        if (ranks[c] <= 0) rc = cpet_fail(err, "%s: tensor '%s' must be 2-D [r, in]", st_path, ta->name);
        if (rc == 0) rc = st_check_shape(&f, ta, 2, want_a, err);
        if (rc == 0) rc = st_check_shape(&f, tb, 2, want_b, err);
        int64_t want_m[2] = {ranks[c], ranks[c]};
        if (rc == 0 && a->mixer && !tm) rc = cpet_fail(err, "%s: module '%s' has no lora_AB mixer (use_moslora)", st_path, chosen.names[c]);
        if (rc == 0 && a->mixer) rc = st_check_shape(&f, tm, 2, want_m, err);
        double alpha = a->alpha;
        pattern_lookup(alpha_pattern, chosen.names[c], &alpha);
        alphas[c] = (float)alpha;
    }
    if (rc == 0 && chosen.n == 0) rc = cpet_fail(err, "%s: no LoRA tensors", st_path);
    if (rc == 0) rc = lora_alloc(a, &chosen, ranks, alphas, err);
    for (int c = 0; c < a->n_mods && rc == 0; c++) {
        const projection none = {0};
        rc = read_projected(&f, src[3 * c], &none, &proj_a[c], a->mods[c].A->p, err);
        if (rc == 0) rc = read_projected(&f, src[3 * c + 1], &proj_b[c], &none, a->mods[c].B->p, err);
        if (rc == 0 && a->mixer) rc = st_to_f32(&f, src[3 * c + 2], a->mods[c].M->p, err);
    }
    if (rc == 0) lora_attach(a);
    for (int c = 0; c < all.n; c++) free(proj_a[c].map), free(proj_b[c].map);
    free(proj_a);
    free(proj_b);
    free(src);
    free(ranks);
    free(alphas);
    free_list(&chosen);
    free_list(&all);
    st_close(&f);
    json_decref(alpha_pattern);
    if (rc != 0) lora_free(a);
    return rc;
}

int lora_save(const lora_adapter *a, const char *dir, cpet_err *err) { return lora_save_with(a, NULL, 0, dir, err); }

int lora_save_with(const lora_adapter *a, const param_tensor *extra, int n_extra, const char *dir, cpet_err *err)
{
    char path[4096];
    if (make_dirs(dir, err) != 0) return -1;
    json_t *j = json_object();
    json_t *targets = json_array();
    for (int i = 0; i < a->n_targets; i++) json_array_append_new(targets, json_string(a->target_modules[i]));
    json_object_set_new(j, "peft_type", json_string("LORA"));
    json_object_set_new(j, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(j, "base_model_name_or_path", json_null());
    json_object_set_new(j, "r", json_integer(a->r));
    json_object_set_new(j, "lora_alpha", json_real(a->alpha));
    json_object_set_new(j, "use_rslora", json_boolean(a->use_rslora));
    json_object_set_new(j, "target_modules", targets);
    json_object_set_new(j, "lora_dropout", json_real(0.0));
    json_object_set_new(j, "bias", json_string("none"));
    json_object_set_new(j, "fan_in_fan_out", json_false());
    json_object_set_new(j, "use_dora", json_false());
    json_object_set_new(j, "init_lora_weights", json_true());
    json_object_set_new(j, "inference_mode", json_true());
    json_object_set_new(j, "modules_to_save", json_null());
    json_object_set_new(j, "rank_pattern", json_object());
    json_object_set_new(j, "alpha_pattern", json_object());
    if (a->mixer) { /* an extension: PEFT proper has no mixer (lora.h) */
        json_object_set_new(j, "use_moslora", json_true());
        json_object_set_new(j, "moslora_mixer_frozen", json_boolean(a->mixer == LORA_MIXER_FROZEN));
    }
    path_join(path, sizeof path, dir, "adapter_config.json");
    int rc = json_write_file(path, j, err);
    json_decref(j);
    if (rc != 0) return -1;
    st_entry *entries = calloc((size_t)a->n_tensors + n_extra + 1, sizeof *entries);
    for (int i = 0; i < a->n_tensors; i++)
        entries[i] = st_f32_entry(a->tensors[i].name, a->tensors[i].p, 2, a->tensors[i].shape);
    for (int i = 0; i < n_extra; i++)
        entries[a->n_tensors + i] = st_f32_entry(extra[i].name, extra[i].p, extra[i].ndim, extra[i].shape);
    const char *meta[] = {"format", "pt"};
    path_join(path, sizeof path, dir, "adapter_model.safetensors");
    rc = st_write(path, entries, a->n_tensors + n_extra, meta, 1, err);
    free(entries);
    return rc;
}

int lora_module_add_delta(const lora_module *lm, float *w, cpet_err *err)
{
    float *bm = NULL; /* with a mixer: W += s (B M) A */
    if (lm->M) {
        if (!(bm = malloc((size_t)lm->out * lm->r * sizeof(float)))) return cpet_fail(err, "out of memory merging '%s'", lm->module);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lm->out, lm->r, lm->r, 1.0f, lm->B->p, lm->r, lm->M->p, lm->r, 0.0f,
                    bm, lm->r);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lm->out, lm->in, lm->r, lm->scaling, bm ? bm : lm->B->p, lm->r, lm->A->p,
                lm->in, 1.0f, w, lm->in);
    free(bm);
    return 0;
}

int lora_merge(lora_adapter *a, cpet_err *err)
{
    for (int i = 0; i < a->n_mods; i++) /* a packed base has no f32 weights to merge into */
        if (a->mods[i].target->qw || !a->mods[i].target->w)
            return cpet_fail(err, "lora merge: module %d's base is packed (quantized); merging would have to requantize it",
                             i);
    for (int i = 0; i < a->n_mods; i++)
        if (lora_module_add_delta(&a->mods[i], a->mods[i].target->w, err) != 0) return -1;
    lora_detach(a);
    return 0;
}

/* W's place in m: (layer, which), or (n_layers, 0) for the LM head; -1 if l is not m's */
static int linear_slot(const model *m, const linear *l, int *layer, int *which)
{
    for (int i = 0; i < m->cfg.n_layers; i++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (&m->layers[i].lin[k] == l) return *layer = i, *which = k, 0;
    if (&m->lm_head == l) return *layer = m->cfg.n_layers, *which = 0, 0;
    return -1;
}

int lora_merge_requantize(lora_adapter *a, model *m, cpet_err *err)
{
    if (model_is_decode_only(m)) return cpet_fail(err, "lora merge: the model keeps only decode packs; load it without them to merge");
    for (int i = 0; i < a->n_mods; i++) {
        lora_module *lm = &a->mods[i];
        const qtensor *old = lm->target->qw;
        if (!old) continue;
        int layer, which;
        if (linear_slot(m, lm->target, &layer, &which) != 0)
            return cpet_fail(err, "lora merge: module '%s' is not a linear of this model", lm->module);
        float *w = malloc((size_t)lm->out * lm->in * sizeof(float));
        if (!w) return cpet_fail(err, "out of memory merging '%s'", lm->module);
        qtensor_dequantize(old, w);
        if (lora_module_add_delta(lm, w, err) != 0) return free(w), -1;
        qtensor q;
        const int decode = old->q8_activations, packed = old->pack != NULL;
        int rc = quantize_rtn(&q, old->format, w, lm->out, lm->in, old->group, err);
        free(w);
        if (rc != 0) return cpet_prefix(err, "lora merge: re-quantizing '%s'", lm->module);
        model_set_packed(m, layer, which, &q); /* frees the old packed matrix */
        qtensor *now = (qtensor *)lm->target->qw;
        now->q8_activations = decode;
        if (packed && qtensor_pack_decode(now) != 0) return cpet_fail(err, "out of memory re-packing '%s' for decode", lm->module);
    }
    for (int i = 0; i < a->n_mods; i++) /* the f32 bases */
        if (!a->mods[i].target->qw && a->mods[i].target->w && lora_module_add_delta(&a->mods[i], a->mods[i].target->w, err) != 0) return -1;
    lora_detach(a);
    return 0;
}

int lora_set_trainable(lora_adapter *a, int trainable, cpet_err *err)
{
    a->trainable = trainable;
    if (trainable && param_block_grads(a->tensors, a->n_tensors, a->params, a->n_params, &a->grads) != 0)
        return cpet_fail(err, "out of memory for LoRA gradients");
    return 0;
}

void lora_freeze_a(lora_adapter *a)
{
    for (int i = 0; i < a->n_mods; i++) a->mods[i].A->trainable = 0;
}

void lora_zero_grad(lora_adapter *a)
{
    if (a->grads) memset(a->grads, 0, a->n_params * sizeof(float));
}

void lora_free(lora_adapter *a)
{
    lora_detach(a);
    cpet_free(a->params);
    cpet_free(a->grads);
    free(a->mods);
    free(a->tensors);
    memset(a, 0, sizeof *a);
}

void lora_live_name(const char *saved_name, char *out, size_t n)
{
    const char *w = ".weight";
    size_t len = strlen(saved_name), lw = strlen(w);
    if (len > lw && strcmp(saved_name + len - lw, w) == 0)
        snprintf(out, n, "%.*s.default.weight", (int)(len - lw), saved_name);
    else
        snprintf(out, n, "%s", saved_name);
}
