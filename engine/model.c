#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "fileio.h"
#include "ops.h"
#include "compress.h"
#include "safetensors.h"
#include "tensor.h"

const char *const linear_module_suffix[LIN_PER_LAYER] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

static param_tensor *add_tensor(model *m, float **cursor, const char *name, int ndim, int64_t d0, int64_t d1)
{
    param_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
    t->n = (size_t)d0 * (size_t)t->shape[1];
    t->decay = ndim == 2;
    t->p = *cursor;
    /* keep every tensor 64-byte aligned inside the one buffer */
    *cursor += (t->n + 15) / 16 * 16;
    return t;
}

/* Lays out every tensor in HF order; with params == NULL only counts floats. */
static size_t layout(model *m, float *params)
{
    const model_config *c = &m->cfg;
    const int D = c->hidden_size, F = c->intermediate_size, qd = c->n_heads * c->head_dim,
              kvd = c->n_kv_heads * c->head_dim;
    float *cursor = params;
    char name[160];
    m->n_tensors = 0;
    m->embed = add_tensor(m, &cursor, "model.embed_tokens.weight", 2, c->vocab_size, D)->p;
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        const int outs[LIN_PER_LAYER] = {qd, kvd, kvd, D, F, F, D};
        const int ins[LIN_PER_LAYER] = {D, D, D, qd, D, D, F};
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        lw->attn_norm = add_tensor(m, &cursor, name, 1, D, 1)->p;
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            if (i == LIN_GATE) {
                snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
                lw->ffn_norm = add_tensor(m, &cursor, name, 1, D, 1)->p;
            }
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, linear_module_suffix[i]);
            lw->lin[i].w = add_tensor(m, &cursor, name, 2, outs[i], ins[i])->p;
            lw->lin[i].out = outs[i];
            lw->lin[i].in = ins[i];
        }
    }
    m->final_norm = add_tensor(m, &cursor, "model.norm.weight", 1, D, 1)->p;
    m->lm_head.in = D;
    m->lm_head.out = c->vocab_size;
    m->lm_head.w = c->tie_word_embeddings ? m->embed : add_tensor(m, &cursor, "lm_head.weight", 2, c->vocab_size, D)->p;
    return (size_t)(cursor - params);
}

int model_create(model *m, const model_config *cfg, cpet_err *err)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (config_validate(cfg, "config", err) != 0) return -1;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    m->tensors = calloc((size_t)cfg->n_layers * 9 + 4, sizeof *m->tensors);
    if (!m->layers || !m->tensors) return cpet_fail(err, "out of memory allocating the model");
    size_t n = layout(m, NULL);
    m->params = cpet_alloc_floats(n);
    if (!m->params) return cpet_fail(err, "out of memory: %zu parameters", n);
    m->n_params = n;
    layout(m, m->params);
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].n; j++) m->tensors[i].p[j] = 1.0f;
    m->rope_len = cfg->max_position_embeddings;
    size_t half = (size_t)cfg->head_dim / 2;
    m->rope_cos = cpet_alloc_floats((size_t)m->rope_len * half);
    m->rope_sin = cpet_alloc_floats((size_t)m->rope_len * half);
    rope_tables(m->rope_cos, m->rope_sin, m->rope_len, cfg->head_dim, cfg->rope_theta);
    m->taps.d_layer_out = calloc((size_t)cfg->n_layers, sizeof(float *));
    m->taps.d_ffn_act = calloc((size_t)cfg->n_layers, sizeof(float *));
    return 0;
}

void model_init_random(model *m, float std, unsigned long long seed)
{
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        param_tensor *t = &m->tensors[i];
        if (t->ndim == 2)
            fill_normal(t->p, t->n, std, &rng);
        else
            for (size_t j = 0; j < t->n; j++) t->p[j] = 1.0f;
    }
}

static void free_acts(activations *a)
{
    cpet_free(a->fwd_block);
    cpet_free(a->bwd_block);
    cpet_free(a->branch_scratch);
    memset(a, 0, sizeof *a);
}

void model_free(model *m)
{
    for (int i = 0; m->quant && i < m->cfg.n_layers * LIN_PER_LAYER; i++)
        if (m->quant[i].format != QF_COUNT) qtensor_free(&m->quant[i]);
    free(m->quant);
    for (int l = 0; m->moe && l < m->cfg.n_layers; l++) moe_free(&m->moe[l]);
    free(m->moe);
    free_acts(&m->acts);
    cpet_free(m->params);
    cpet_free(m->grads);
    cpet_free(m->rope_cos);
    cpet_free(m->rope_sin);
    free(m->tensors);
    free(m->layers);
    free(m->taps.d_layer_out);
    free(m->taps.d_ffn_act);
    memset(m, 0, sizeof *m);
}

param_tensor *model_find_tensor(model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

linear *model_find_linear(model *m, const char *module_name)
{
    if (strcmp(module_name, "lm_head") == 0) return &m->lm_head;
    int l, consumed = 0;
    if (sscanf(module_name, "model.layers.%d.%n", &l, &consumed) != 1 || consumed == 0) return NULL;
    if (l < 0 || l >= m->cfg.n_layers) return NULL;
    for (int i = 0; i < LIN_PER_LAYER; i++)
        if (strcmp(module_name + consumed, linear_module_suffix[i]) == 0) return &m->layers[l].lin[i];
    return NULL;
}

void model_for_each_linear(model *m, void (*fn)(linear *l, const char *module_name, void *ctx), void *ctx)
{
    char name[128];
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, linear_module_suffix[i]);
            fn(&m->layers[l].lin[i], name, ctx);
        }
    fn(&m->lm_head, "lm_head", ctx);
}

/* ---- loading ---- */

typedef struct {
    st_file *files;
    int n;
} shard_set;

static void shards_close(shard_set *s)
{
    for (int i = 0; i < s->n; i++) st_close(&s->files[i]);
    free(s->files);
}

/* model.safetensors, or every shard named in model.safetensors.index.json */
static int shards_open(shard_set *s, const char *dir, cpet_err *err)
{
    char path[4096];
    memset(s, 0, sizeof *s);
    if (path_join(path, sizeof path, dir, "model.safetensors") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (path_exists(path)) {
        s->files = calloc(1, sizeof *s->files);
        if (st_open(&s->files[0], path, err) != 0) return -1;
        s->n = 1;
        return 0;
    }
    char index[4096];
    if (path_join(index, sizeof index, dir, "model.safetensors.index.json") != 0 || !path_exists(index))
        return cpet_fail(err, "%s: missing file (and no model.safetensors.index.json)", path);
    json_t *j = json_read_file(index, err);
    if (!j) return -1;
    json_t *map = json_object_get(j, "weight_map");
    if (!json_is_object(map)) {
        json_decref(j);
        return cpet_fail(err, "%s: no weight_map object", index);
    }
    s->files = calloc(json_object_size(map) + 1, sizeof *s->files);
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v)
    {
        const char *shard = json_string_value(v);
        if (!shard) {
            json_decref(j);
            return cpet_fail(err, "%s: weight_map['%s'] is not a file name", index, key);
        }
        int seen = 0;
        path_join(path, sizeof path, dir, shard);
        for (int i = 0; i < s->n && !seen; i++) seen = strcmp(s->files[i].path, path) == 0;
        if (seen) continue;
        if (st_open(&s->files[s->n], path, err) != 0) {
            json_decref(j);
            return -1;
        }
        s->n++;
    }
    json_decref(j);
    return 0;
}

/* (layer, which) of the linear whose weight is `w`, or -1 */
static int linear_slot(const model *m, const float *w, int *layer, int *which)
{
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (m->layers[l].lin[k].w == w) {
                *layer = l;
                *which = k;
                return 0;
            }
    return -1;
}

static const st_tensor *find_in_shards(const shard_set *s, const char *name, const st_file **file)
{
    for (int i = 0; i < s->n; i++) {
        const st_tensor *t = st_find(&s->files[i], name);
        if (t) {
            *file = &s->files[i];
            return t;
        }
    }
    return NULL;
}

/* A packed linear: <base>.qweight (+ .scales, .zeros, .absmax_q, .absmax_scale) and its description in
 * the metadata key "cpet.quant.<base>.weight". */
static int load_packed(model *m, const shard_set *shards, param_tensor *t, const st_file *f, cpet_err *err)
{
    char key[256], name[256];
    snprintf(key, sizeof key, "cpet.quant.%s", t->name);
    const char *desc = st_meta(f, key);
    if (!desc) return cpet_fail(err, "%s: '%.*sqweight' has no '%s' entry in the metadata", f->path, (int)(strlen(t->name) - 6), t->name, key);
    json_error_t jerr;
    json_t *j = json_loads(desc, 0, &jerr);
    qformat fmt;
    const char *fs = json_string_value(json_object_get(j, "format"));
    int group = (int)json_integer_value(json_object_get(j, "group")), layer, which;
    if (!fs || qformat_parse(fs, &fmt) != 0 || linear_slot(m, t->p, &layer, &which) != 0) {
        json_decref(j);
        return cpet_fail(err, "%s: metadata '%s' does not describe a known packed format for a linear layer", f->path, key);
    }
    qtensor q;
    int rc = qtensor_alloc(&q, fmt, (int)t->shape[0], (int)t->shape[1], group, err);
    if (rc == 0) q.absmax_mean = (float)json_number_value(json_object_get(j, "absmax_mean"));
    json_decref(j);
    if (rc != 0) return cpet_prefix(err, "%s: %s", f->path, t->name);
    size_t groups = (size_t)q.rows * q.cols / (size_t)q.group;
    struct {
        const char *suffix;
        void *dst;
        size_t bytes;
        st_dtype dtype;
    } parts[] = {
        {"qweight", q.data, q.data_bytes, ST_U8},
        {"scales", q.scales, (fmt == QF_INT8 || fmt == QF_W8A8 ? (size_t)q.rows : groups) * 4, ST_F32},
        {"zeros", q.zeros, groups, ST_U8},
        {"absmax_q", q.absmax_q, groups, ST_U8},
        {"absmax_scale", q.absmax_scale, (groups + 255) / 256 * 4, ST_F32},
    };
    size_t base_len = strlen(t->name) - strlen("weight");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && rc == 0; i++) {
        if (!parts[i].dst) continue;
        snprintf(name, sizeof name, "%.*s%s", (int)base_len, t->name, parts[i].suffix);
        const st_file *pf;
        const st_tensor *pt = find_in_shards(shards, name, &pf);
        if (!pt) rc = cpet_fail(err, "%s: tensor '%s' is missing (a %s weight needs it)", f->path, name, qformat_name(fmt));
        else if (pt->nbytes != parts[i].bytes || pt->dtype != parts[i].dtype)
            rc = cpet_fail(err, "%s: tensor '%s' has %zu bytes of %s, expected %zu of %s", pf->path, name, pt->nbytes,
                           st_dtype_name(pt->dtype), parts[i].bytes, st_dtype_name(parts[i].dtype));
        else memcpy(parts[i].dst, pt->data, pt->nbytes);
    }
    if (rc != 0) {
        qtensor_free(&q);
        return -1;
    }
    return model_set_packed(m, layer, which, &q);
}

int model_load(model *m, const char *dir, cpet_err *err)
{
    char path[4096];
    model_config cfg;
    if (path_join(path, sizeof path, dir, "config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing file", path);
    if (config_load(&cfg, path, err) != 0) return -1;
    if (model_create(m, &cfg, err) != 0) return -1;
    shard_set shards;
    if (shards_open(&shards, dir, err) != 0) {
        shards_close(&shards);
        model_free(m);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        param_tensor *t = &m->tensors[i];
        const st_file *sf = NULL;
        const st_tensor *st = find_in_shards(&shards, t->name, &sf);
        char packed[256];
        snprintf(packed, sizeof packed, "%.*sqweight", (int)(strlen(t->name) - 6), t->name);
        const st_file *pf = NULL;
        if (!st && strlen(t->name) > 6 && find_in_shards(&shards, packed, &pf)) {
            rc = load_packed(m, &shards, t, pf, err);
            continue;
        }
        if (!st) {
            rc = cpet_fail(err, "%s: tensor '%s' is missing (config.json has %d layers%s)", shards.files[0].path,
                           t->name, cfg.n_layers, cfg.tie_word_embeddings ? ", tied embeddings" : "");
            break;
        }
        rc = st_check_shape(sf, st, t->ndim, t->shape, err);
        if (rc == 0) rc = st_to_f32(sf, st, t->p, err);
    }
    if (rc == 0 && cfg.moe_experts > 0) {
        m->moe = calloc((size_t)cfg.n_layers, sizeof *m->moe);
        for (int l = 0; l < cfg.n_layers && rc == 0; l++) {
            moe_layer *e = &m->moe[l];
            *e = (moe_layer){cfg.moe_experts, cfg.moe_top_k, cfg.hidden_size, cfg.intermediate_size,
                             malloc((size_t)cfg.intermediate_size * sizeof(int)),
                             cpet_alloc_floats((size_t)cfg.moe_experts * cfg.hidden_size)};
            char name[128];
            const st_file *f = NULL;
            snprintf(name, sizeof name, "model.layers.%d.mlp.moe_router", l);
            const st_tensor *r = find_in_shards(&shards, name, &f);
            int64_t rshape[2] = {cfg.moe_experts, cfg.hidden_size}, eshape[1] = {cfg.intermediate_size};
            if (!r) rc = cpet_fail(err, "%s: tensor '%s' is missing (config.json has moefication)", shards.files[0].path, name);
            if (rc == 0) rc = st_check_shape(f, r, 2, rshape, err);
            if (rc == 0) rc = st_to_f32(f, r, e->router, err);
            snprintf(name, sizeof name, "model.layers.%d.mlp.moe_expert", l);
            const st_tensor *x = rc == 0 ? find_in_shards(&shards, name, &f) : NULL;
            if (rc == 0 && !x) rc = cpet_fail(err, "%s: tensor '%s' is missing (config.json has moefication)", shards.files[0].path, name);
            if (rc == 0) rc = st_check_shape(f, x, 1, eshape, err);
            if (rc == 0 && x->dtype != ST_I32) rc = cpet_fail(err, "%s: tensor '%s' must be I32", f->path, name);
            for (int j = 0; rc == 0 && j < cfg.intermediate_size; j++) {
                int32_t v;
                memcpy(&v, (const char *)x->data + 4 * j, 4);
                if (v < 0 || v >= cfg.moe_experts) rc = cpet_fail(err, "%s: '%s' names expert %d of %d", f->path, name, v, cfg.moe_experts);
                e->expert_of[j] = v;
            }
        }
    }
    shards_close(&shards);
    if (rc != 0) model_free(m);
    return rc;
}

int model_save(const model *m, const char *dir, cpet_err *err) { return model_save_as(m, dir, 0, err); }

static const qtensor *packed_of(const model *m, const float *w)
{
    int layer, which;
    if (linear_slot(m, w, &layer, &which) != 0) return NULL;
    return m->layers[layer].lin[which].qw;
}

int model_save_as(const model *m, const char *dir, int dequantize, cpet_err *err)
{
    char path[4096];
    if (make_dirs(dir, err) != 0) return -1;
    if (path_join(path, sizeof path, dir, "config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (config_save(&m->cfg, path, err) != 0) return -1;
    size_t cap = (size_t)m->n_tensors * 5 + 2 * (size_t)m->cfg.n_layers + 1;
    st_entry *entries = calloc(cap, sizeof *entries);
    char (*names)[256] = calloc(cap, sizeof *names);
    const char **meta = calloc((size_t)m->n_tensors * 2 + 2, sizeof(char *));
    char **meta_owned = calloc(2 * (size_t)m->n_tensors + 1, sizeof(char *));
    int n = 0, n_meta = 1, n_owned = 0;
    meta[0] = "format";
    meta[1] = "pt";
    for (int i = 0; i < m->n_tensors; i++) {
        const param_tensor *t = &m->tensors[i];
        const qtensor *q = dequantize ? NULL : packed_of(m, t->p);
        if (!q) {
            entries[n++] = st_f32_entry(t->name, t->p, t->ndim, t->shape);
            continue;
        }
        size_t base = strlen(t->name) - strlen("weight"), groups = (size_t)q->rows * q->cols / (size_t)q->group;
        struct {
            const char *suffix;
            const void *data;
            int64_t count;
            st_dtype dtype;
        } parts[] = {
            {"qweight", q->data, (int64_t)q->data_bytes, ST_U8},
            {"scales", q->scales, (int64_t)(q->format == QF_INT8 || q->format == QF_W8A8 ? (size_t)q->rows : groups), ST_F32},
            {"zeros", q->zeros, (int64_t)groups, ST_U8},
            {"absmax_q", q->absmax_q, (int64_t)groups, ST_U8},
            {"absmax_scale", q->absmax_scale, (int64_t)((groups + 255) / 256), ST_F32},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            if (!parts[k].data) continue;
            snprintf(names[n], sizeof names[0], "%.*s%s", (int)base, t->name, parts[k].suffix);
            entries[n] = (st_entry){.name = names[n], .dtype = parts[k].dtype, .ndim = 1, .shape = {parts[k].count}, .data = parts[k].data};
            n++;
        }
        char *key = malloc(256), *desc = malloc(256);
        snprintf(key, 256, "cpet.quant.%s", t->name);
        snprintf(desc, 256, "{\"format\": \"%s\", \"group\": %d, \"rows\": %d, \"cols\": %d, \"absmax_mean\": %.9g}",
                 qformat_name(q->format), q->group, q->rows, q->cols, (double)q->absmax_mean);
        meta_owned[n_owned++] = key;
        meta_owned[n_owned++] = desc;
        meta[2 * n_meta] = key;
        meta[2 * n_meta + 1] = desc;
        n_meta++;
    }
    for (int l = 0; m->moe && l < m->cfg.n_layers; l++) {
        const moe_layer *e = &m->moe[l];
        snprintf(names[n], sizeof names[0], "model.layers.%d.mlp.moe_router", l);
        entries[n] = (st_entry){.name = names[n], .dtype = ST_F32, .ndim = 2, .shape = {e->experts, e->dim}, .data = e->router};
        n++;
        snprintf(names[n], sizeof names[0], "model.layers.%d.mlp.moe_expert", l);
        entries[n] = (st_entry){.name = names[n], .dtype = ST_I32, .ndim = 1, .shape = {e->ffn}, .data = e->expert_of};
        n++;
    }
    path_join(path, sizeof path, dir, "model.safetensors");
    int rc = st_write(path, entries, n, meta, n_meta, err);
    for (int i = 0; i < n_owned; i++) free(meta_owned[i]);
    free(meta_owned);
    free(meta);
    free(entries);
    free(names);
    return rc;
}

/* ---- trainable sets and gradients ---- */

static float *grad_of(model *m, const float *p)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].p == p) return m->tensors[i].trainable ? m->tensors[i].g : NULL;
    return NULL;
}

/* Points the layer structs' gradient pointers at the grads buffer for trainable tensors, NULL otherwise. */
static void refresh_grad_pointers(model *m)
{
    for (int i = 0; i < m->n_tensors; i++) {
        param_tensor *t = &m->tensors[i];
        t->g = m->grads ? m->grads + (t->p - m->params) : NULL;
    }
#define GRAD_OF(ptr) grad_of(m, (ptr))
    for (int l = 0; l < m->cfg.n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        lw->d_attn_norm = GRAD_OF(lw->attn_norm);
        lw->d_ffn_norm = GRAD_OF(lw->ffn_norm);
        for (int i = 0; i < LIN_PER_LAYER; i++) lw->lin[i].dw = GRAD_OF(lw->lin[i].w);
    }
    m->d_embed = GRAD_OF(m->embed);
    m->d_final_norm = GRAD_OF(m->final_norm);
    m->lm_head.dw = GRAD_OF(m->lm_head.w);
#undef GRAD_OF
}


int model_set_trainable(model *m, const char *substr, int trainable, cpet_err *err)
{
    int any = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (!substr || strstr(m->tensors[i].name, substr)) {
            m->tensors[i].trainable = trainable;
            any = 1;
        }
    if (!any) return cpet_fail(err, "no model tensor matches '%s'", substr);
    if (trainable && !m->grads) {
        m->grads = cpet_alloc_floats(m->n_params);
        if (!m->grads) return cpet_fail(err, "out of memory allocating %zu gradients", m->n_params);
    }
    refresh_grad_pointers(m);
    return 0;
}

void model_zero_grad(model *m)
{
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ---- forward ---- */

size_t model_branch_scratch_per_row(const model *m)
{
    size_t most = linear_scratch_per_row(&m->lm_head);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < LIN_PER_LAYER; i++) {
            size_t s = linear_scratch_per_row(&m->layers[l].lin[i]);
            most = s > most ? s : most;
        }
    return most;
}

/* Carves named buffers out of one block; with base == NULL only sums the sizes. */
static float *carve(char **cursor, size_t floats)
{
    float *p = (float *)*cursor;
    *cursor += (floats * sizeof(float) + 63) / 64 * 64;
    return p;
}

static size_t forward_layout(activations *a, const model_config *c, int B, int T, char *base)
{
    const size_t BT = (size_t)B * T, L = (size_t)c->n_layers, D = (size_t)c->hidden_size,
                 F = (size_t)c->intermediate_size, QD = (size_t)c->n_heads * c->head_dim,
                 KVD = (size_t)c->n_kv_heads * c->head_dim;
    char *cur = base;
    a->x_in = carve(&cur, L * BT * D);
    a->xn1 = carve(&cur, L * BT * D);
    a->rstd1 = carve(&cur, L * BT);
    a->q = carve(&cur, L * BT * QD);
    a->k = carve(&cur, L * BT * KVD);
    a->v = carve(&cur, L * BT * KVD);
    a->att = carve(&cur, L * (size_t)B * c->n_heads * T * T);
    a->att_out = carve(&cur, L * BT * QD);
    a->x_mid = carve(&cur, L * BT * D);
    a->xn2 = carve(&cur, L * BT * D);
    a->rstd2 = carve(&cur, L * BT);
    a->gate = carve(&cur, L * BT * F);
    a->up = carve(&cur, L * BT * F);
    a->h = carve(&cur, L * BT * F);
    a->x_final = carve(&cur, BT * D);
    a->xf = carve(&cur, BT * D);
    a->rstdf = carve(&cur, BT);
    a->logits = carve(&cur, BT * (size_t)c->vocab_size);
    a->lse = carve(&cur, BT);
    a->targets = (int *)carve(&cur, BT);
    a->ids = (int *)carve(&cur, BT);
    return (size_t)(cur - base);
}

static size_t backward_layout(activations *a, const model_config *c, int B, int T, int threads, char *base)
{
    const size_t BT = (size_t)B * T, D = (size_t)c->hidden_size, F = (size_t)c->intermediate_size,
                 QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim;
    char *cur = base;
    a->dres = carve(&cur, BT * D);
    a->dxn = carve(&cur, BT * D);
    a->dq = carve(&cur, BT * QD);
    a->dk = carve(&cur, BT * KVD);
    a->dv = carve(&cur, BT * KVD);
    a->datt_out = carve(&cur, BT * QD);
    a->dgate = carve(&cur, BT * F);
    a->dup = carve(&cur, BT * F);
    a->dh = carve(&cur, BT * F);
    a->dlogits = carve(&cur, BT * (size_t)c->vocab_size);
    a->att_scratch = carve(&cur, (size_t)threads * T * T);
    return (size_t)(cur - base);
}

static int ensure_forward_buffers(model *m, int B, int T, cpet_err *err)
{
    activations *a = &m->acts;
    size_t need_scratch = model_branch_scratch_per_row(m) * (size_t)B * T;
    if (need_scratch > a->branch_scratch_floats) {
        cpet_free(a->branch_scratch);
        a->branch_scratch = cpet_alloc_floats(need_scratch);
        if (!a->branch_scratch) return cpet_fail(err, "out of memory for branch scratch");
        a->branch_scratch_floats = need_scratch;
    }
    if (a->fwd_block && a->B == B && a->T == T) return 0;
    cpet_free(a->fwd_block);
    cpet_free(a->bwd_block);
    a->fwd_block = a->bwd_block = NULL;
    size_t bytes = forward_layout(a, &m->cfg, B, T, NULL);
    a->fwd_block = cpet_alloc(bytes);
    if (!a->fwd_block) return cpet_fail(err, "out of memory: activations for batch %d x seq %d need %zu MB", B, T, bytes >> 20);
    forward_layout(a, &m->cfg, B, T, a->fwd_block);
    a->B = B;
    a->T = T;
    return 0;
}

int model_forward(model *m, const int *ids, const int *targets, int B, int T, cpet_err *err)
{
    const model_config *c = &m->cfg;
    if (T > m->rope_len)
        return cpet_fail(err, "sequence length %d exceeds max_position_embeddings %d", T, m->rope_len);
    if (ensure_forward_buffers(m, B, T, err) != 0) return -1;
    activations *a = &m->acts;
    const int N = B * T, D = c->hidden_size, F = c->intermediate_size, H = c->n_heads, KV = c->n_kv_heads,
              hd = c->head_dim, QD = H * hd, KVD = KV * hd;
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return cpet_fail(err, "token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, c->vocab_size);
    for (int i = 0; i < N; i++) {
        int t = targets ? targets[i] : ((i % T) + 1 < T ? ids[i + 1] : -1);
        if (t >= c->vocab_size) return cpet_fail(err, "target id %d at position %d is outside the vocabulary", t, i);
        a->targets[i] = t < 0 ? -1 : t;
    }
    memcpy(a->ids, ids, (size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) memcpy(a->x_in + (size_t)i * D, m->embed + (size_t)ids[i] * D, D * sizeof(float));

    float *scratch = a->branch_scratch;
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *lw = &m->layers[l];
        const size_t oD = (size_t)l * N * D, oF = (size_t)l * N * F, oQ = (size_t)l * N * QD, oK = (size_t)l * N * KVD,
                     oR = (size_t)l * N;
        float *x = a->x_in + oD, *xn1 = a->xn1 + oD, *q = a->q + oQ, *k = a->k + oK, *v = a->v + oK,
              *att_out = a->att_out + oQ, *x_mid = a->x_mid + oD, *xn2 = a->xn2 + oD, *gate = a->gate + oF,
              *up = a->up + oF, *h = a->h + oF;
        float *out = l + 1 < c->n_layers ? a->x_in + oD + (size_t)N * D : a->x_final;

        rmsnorm_forward(xn1, a->rstd1 + oR, x, lw->attn_norm, N, D, c->rms_norm_eps);
        linear_forward(&lw->lin[LIN_Q], xn1, q, N, scratch);
        linear_forward(&lw->lin[LIN_K], xn1, k, N, scratch);
        linear_forward(&lw->lin[LIN_V], xn1, v, N, scratch);
        rope_forward(q, m->rope_cos, m->rope_sin, N, T, 0, H, hd);
        rope_forward(k, m->rope_cos, m->rope_sin, N, T, 0, KV, hd);
        attention_forward(att_out, a->att + (size_t)l * B * H * T * T, q, k, v, B, T, H, KV, hd);
        linear_forward(&lw->lin[LIN_O], att_out, x_mid, N, scratch);
        for (size_t i = 0; i < (size_t)N * D; i++) x_mid[i] += x[i];

        rmsnorm_forward(xn2, a->rstd2 + oR, x_mid, lw->ffn_norm, N, D, c->rms_norm_eps);
        linear_forward(&lw->lin[LIN_GATE], xn2, gate, N, scratch);
        linear_forward(&lw->lin[LIN_UP], xn2, up, N, scratch);
        gated_act_forward(h, gate, up, (size_t)N * F, c->hidden_act, c->act_threshold);
        if (m->moe) moe_mask(&m->moe[l], xn2, h, N); /* only the routed experts' neurons stay on */
        linear_forward(&lw->lin[LIN_DOWN], h, out, N, scratch);
        for (size_t i = 0; i < (size_t)N * D; i++) out[i] += x_mid[i];
    }
    rmsnorm_forward(a->xf, a->rstdf, a->x_final, m->final_norm, N, D, c->rms_norm_eps);
    linear_forward(&m->lm_head, a->xf, a->logits, N, scratch);
    m->loss = cross_entropy_forward(a->lse, a->logits, a->targets, N, c->vocab_size, &m->n_targets);
    return 0;
}

float *model_logits(const model *m) { return m->acts.logits; }

int model_alloc_backward(model *m, cpet_err *err)
{
    activations *a = &m->acts;
    int threads = engine_threads();
    if (a->bwd_block && a->bwd_threads >= threads) return 0;
    cpet_free(a->bwd_block);
    a->bwd_threads = threads;
    size_t bytes = backward_layout(a, &m->cfg, a->B, a->T, threads, NULL);
    a->bwd_block = cpet_alloc(bytes);
    if (!a->bwd_block) return cpet_fail(err, "out of memory: backward buffers need %zu MB", bytes >> 20);
    backward_layout(a, &m->cfg, a->B, a->T, threads, a->bwd_block);
    return 0;
}
