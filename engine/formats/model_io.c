/* Checkpoint I/O of a model: config.json + model.safetensors (or a sharded index), plain f32 or with
 * packed linears (<name>.qweight, .scales, ... and their format in the metadata). */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "safetensors.h"
#include "tensor.h"

#define EMBED_NAME "model.embed_tokens.weight"
#define FFN_KEPT_NAME "cpet.pruned.ffn_kept"
#define KV_KEPT_NAME "cpet.pruned.kv_kept"
#define HIDDEN_KEPT_NAME "cpet.pruned.hidden_kept"

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

/* (layer, which) of the linear whose weight is tensor t ("model.layers.<l>.<module>.weight"), or -1 */
static int linear_slot(const model *m, const param_tensor *t, int *layer, int *which)
{
    int l, consumed = 0;
    if (!strcmp(t->name, "lm_head.weight")) { /* the LM head's slot: after the layers */
        *layer = m->cfg.n_layers;
        *which = 0;
        return 0;
    }
    if (sscanf(t->name, "model.layers.%d.%n", &l, &consumed) != 1 || consumed == 0 || l < 0 || l >= m->cfg.n_layers)
        return -1;
    for (int k = 0; k < LIN_PER_LAYER; k++) {
        size_t len = strlen(linear_module_suffix[k]);
        if (!strncmp(t->name + consumed, linear_module_suffix[k], len) && !strcmp(t->name + consumed + len, ".weight")) {
            *layer = l;
            *which = k;
            return 0;
        }
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
    int group = (int)json_integer_value(json_object_get(j, "group")), layer = -1, which = 0;
    const int is_embed = !strcmp(t->name, EMBED_NAME);
    if (!fs || qformat_parse(fs, &fmt) != 0 || (!is_embed && linear_slot(m, t, &layer, &which) != 0)) {
        json_decref(j);
        return cpet_fail(err, "%s: metadata '%s' does not describe a known packed format for a linear layer or the embeddings",
                         f->path, key);
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
        else memcpy(parts[i].dst, pt->data, pt->nbytes), st_release(pt);
    }
    if (rc != 0) {
        qtensor_free(&q);
        return -1;
    }
    return is_embed ? model_set_packed_embeddings(m, &q) : model_set_packed(m, layer, which, &q);
}

/* model_load_mapped's source: an F32 tensor of the right shape, 4-byte aligned in its file, is read in
 * place; anything else (F16, BF16, a shape error to report) is converted into the model's own storage. */
static const float *mapped_f32(const param_tensor *t, void *ctx)
{
    const st_file *f;
    const st_tensor *st = find_in_shards(ctx, t->name, &f);
    if (!st || st->dtype != ST_F32 || st->ndim != t->ndim || (uintptr_t)st->data % sizeof(float)) return NULL;
    for (int d = 0; d < t->ndim; d++)
        if (st->shape[d] != t->shape[d]) return NULL;
    return st->data;
}

/* A structured pruner's index map (absent: *map stays NULL): I32 [rows, cols] with the width before
 * pruning in the metadata key NAME.from, every index below it. */
static int read_index_map(const shard_set *shards, const char *name, int rows, int cols, int **map, int *from, cpet_err *err)
{
    const st_file *f = NULL;
    const st_tensor *t = find_in_shards(shards, name, &f);
    if (!t) return 0;
    char key[96];
    snprintf(key, sizeof key, "%s.from", name);
    const char *v = st_meta(f, key);
    int64_t shape[2] = {rows, cols};
    *from = v ? atoi(v) : 0;
    if (t->dtype != ST_I32) return cpet_fail(err, "%s: tensor '%s' must be I32", f->path, name);
    if (st_check_shape(f, t, 2, shape, err) != 0) return -1;
    if (*from < cols) return cpet_fail(err, "%s: metadata '%s' must give the width before pruning (>= %d)", f->path, key, cols);
    if (!(*map = malloc((size_t)rows * cols * sizeof(int)))) return cpet_fail(err, "out of memory reading %s", f->path);
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        memcpy(&(*map)[i], (const char *)t->data + 4 * i, 4);
        if ((*map)[i] < 0 || (*map)[i] >= *from)
            return cpet_fail(err, "%s: '%s' names index %d of %d", f->path, name, (*map)[i], *from);
    }
    return 0;
}

static int load(model *m, const char *dir, int mapped, cpet_err *err);

int model_load(model *m, const char *dir, cpet_err *err) { return load(m, dir, 0, err); }

int model_load_mapped(model *m, const char *dir, cpet_err *err) { return load(m, dir, 1, err); }

static int load(model *m, const char *dir, int mapped, cpet_err *err)
{
    char path[4096];
    model_config cfg;
    if (path_join(path, sizeof path, dir, "config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing file", path);
    if (config_load(&cfg, path, err) != 0) return -1;
    shard_set shards;
    if (shards_open(&shards, dir, err) != 0) {
        shards_close(&shards);
        return -1;
    }
    /* a config far larger than its checkpoint is refused before its storage is allocated: no format here
     * stores a weight in under 2 bits */
    double held = 0;
    for (int i = 0; i < shards.n; i++)
        for (int t = 0; t < shards.files[i].n_tensors; t++) held += (double)shards.files[i].tensors[t].nbytes;
    if (held < config_weight_count(&cfg) / 4) {
        shards_close(&shards);
        return cpet_fail(err, "%s: config.json describes %.0f weights, but the checkpoint's tensors hold only %.0f bytes", dir,
                         config_weight_count(&cfg), held);
    }
    /* a linear stored only packed gets no f32 storage: the model takes the bytes of its checkpoint */
    unsigned char *packed_only = calloc(model_packed_mask_len(&cfg), 1);
    char name[256];
    const st_file *pf = NULL;
    for (int l = 0; packed_only && l < cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, linear_module_suffix[k]);
            if (find_in_shards(&shards, name, &pf)) continue;
            snprintf(name, sizeof name, "model.layers.%d.%s.qweight", l, linear_module_suffix[k]);
            packed_only[l * LIN_PER_LAYER + k] = find_in_shards(&shards, name, &pf) != NULL;
        }
    if (packed_only && !cfg.tie_word_embeddings && !find_in_shards(&shards, "lm_head.weight", &pf))
        packed_only[cfg.n_layers * LIN_PER_LAYER] = find_in_shards(&shards, "lm_head.qweight", &pf) != NULL;
    if (packed_only && !find_in_shards(&shards, EMBED_NAME, &pf))
        packed_only[model_packed_mask_embed(&cfg)] = find_in_shards(&shards, "model.embed_tokens.qweight", &pf) != NULL;
    if (!packed_only || model_create_over(m, &cfg, packed_only, mapped ? mapped_f32 : NULL, &shards, err) != 0) {
        free(packed_only);
        shards_close(&shards);
        return packed_only ? cpet_prefix(err, "%s", dir) : cpet_fail(err, "out of memory loading %s", dir);
    }
    free(packed_only);
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        param_tensor *t = &m->tensors[i];
        if (t->external) continue; /* read in place */
        const st_file *sf = NULL;
        const st_tensor *st = find_in_shards(&shards, t->name, &sf);
        char packed[256];
        snprintf(packed, sizeof packed, "%.*sqweight", (int)(strlen(t->name) - 6), t->name);
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
        if (rc == 0) st_release(st);
    }
    if (rc == 0) rc = read_index_map(&shards, FFN_KEPT_NAME, cfg.n_layers, cfg.intermediate_size, &m->ffn_kept, &m->ffn_kept_from, err);
    if (rc == 0) rc = read_index_map(&shards, KV_KEPT_NAME, cfg.n_layers, cfg.n_kv_heads, &m->kv_kept, &m->kv_kept_from, err);
    if (rc == 0) rc = read_index_map(&shards, HIDDEN_KEPT_NAME, 1, cfg.hidden_size, &m->hidden_kept, &m->hidden_kept_from, err);
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
    int in_place = 0;
    for (int i = 0; i < m->n_tensors; i++) in_place |= m->tensors[i].external;
    if (rc == 0 && in_place) { /* the model keeps the mappings (MAP_PRIVATE, read-only) and unmaps them when freed */
        m->maps = calloc((size_t)shards.n, sizeof *m->maps);
        for (int i = 0; m->maps && i < shards.n; i++) {
            m->maps[m->n_maps++] = (struct model_map){shards.files[i].map, shards.files[i].map_size};
            shards.files[i].map = NULL;
        }
        if (!m->maps) rc = cpet_fail(err, "out of memory loading %s", dir);
    }
    shards_close(&shards);
    if (rc != 0) model_free(m);
    return rc;
}

int model_save(const model *m, const char *dir, cpet_err *err) { return model_save_as(m, dir, 0, err); }

static const linear *linear_of(const model *m, const param_tensor *t)
{
    int layer, which;
    if (linear_slot(m, t, &layer, &which) != 0) return NULL;
    return layer == m->cfg.n_layers ? &m->lm_head : &m->layers[layer].lin[which];
}

int model_save_as(const model *m, const char *dir, int dequantize, cpet_err *err)
{
    char path[4096];
    if (model_is_decode_only(m))
        return cpet_fail(err, "%s: the model holds only its decode packs (loaded for inference); load it again to save", dir);
    if (make_dirs(dir, err) != 0) return -1;
    if (path_join(path, sizeof path, dir, "config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (config_save(&m->cfg, path, err) != 0) return -1;
    size_t cap = (size_t)m->n_tensors * 5 + 2 * (size_t)m->cfg.n_layers + 4; /* + the pruners' index maps */
    st_entry *entries = calloc(cap, sizeof *entries);
    char (*names)[256] = calloc(cap, sizeof *names);
    const char **meta = calloc((size_t)m->n_tensors * 2 + 8, sizeof(char *));
    char **meta_owned = calloc(2 * (size_t)m->n_tensors + 1, sizeof(char *));
    int n = 0, n_meta = 1, n_owned = 0;
    meta[0] = "format";
    meta[1] = "pt";
    float **dequantized = calloc((size_t)m->n_tensors + 1, sizeof(float *)); /* of packed-only linears */
    int n_dequantized = 0, oom = !dequantized;
    for (int i = 0; i < m->n_tensors && !oom; i++) {
        const param_tensor *t = &m->tensors[i];
        const linear *lin = linear_of(m, t);
        const int is_embed = !strcmp(t->name, EMBED_NAME);
        const qtensor *q = dequantize ? NULL : is_embed ? m->embed_q : lin ? lin->qw : NULL;
        if (!q) {
            const float *values = t->p;
            if (!values) {
                float *w = malloc(t->n * sizeof(float));
                if ((oom = !w)) break;
                if (is_embed) qtensor_dequantize(m->embed_q, w);
                else model_linear_f32(lin, w);
                values = dequantized[n_dequantized++] = w;
            }
            entries[n++] = st_f32_entry(t->name, values, t->ndim, t->shape);
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
    char from_text[3][24]; /* which original neurons / KV groups / hidden dimensions the structured pruners kept */
    const struct {
        const char *name, *key;
        const int *map;
        int rows, cols, from;
    } maps[3] = {{FFN_KEPT_NAME, FFN_KEPT_NAME ".from", m->ffn_kept, m->cfg.n_layers, m->cfg.intermediate_size, m->ffn_kept_from},
                 {KV_KEPT_NAME, KV_KEPT_NAME ".from", m->kv_kept, m->cfg.n_layers, m->cfg.n_kv_heads, m->kv_kept_from},
                 {HIDDEN_KEPT_NAME, HIDDEN_KEPT_NAME ".from", m->hidden_kept, 1, m->cfg.hidden_size, m->hidden_kept_from}};
    for (int k = 0; k < 3; k++) {
        if (!maps[k].map) continue;
        entries[n++] = (st_entry){.name = maps[k].name, .dtype = ST_I32, .ndim = 2, .shape = {maps[k].rows, maps[k].cols},
                                  .data = maps[k].map};
        snprintf(from_text[k], sizeof from_text[k], "%d", maps[k].from);
        meta[2 * n_meta] = maps[k].key;
        meta[2 * n_meta + 1] = from_text[k];
        n_meta++;
    }
    path_join(path, sizeof path, dir, "model.safetensors");
    int rc = oom ? cpet_fail(err, "out of memory dequantizing the packed weights for %s", dir)
                 : st_write(path, entries, n, meta, n_meta, err);
    for (int i = 0; i < n_dequantized; i++) free(dequantized[i]);
    free(dequantized);
    for (int i = 0; i < n_owned; i++) free(meta_owned[i]);
    free(meta_owned);
    free(meta);
    free(entries);
    free(names);
    return rc;
}
