/* prosparse: the cell's model replaced by one `cpet sparsify` trained from it (one per seed, made before the
 * matrix runs, since it does not depend on the task), optionally with the FATReLU threshold shift; its
 * activation sparsity measured on a text, then scored. Training stays out of the cells so that a model is
 * trained once, not once per task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "fileio.h"
#include "method.h"
#include "methods/prosparse.h"

static const method_param params[] = {
    {.key = "model", .type = PARAM_STRING, .default_json = "\"\"", .doc = "the directory cpet sparsify wrote from the cell's model; {seed} is replaced by the seed"},
    {.key = "threshold", .type = PARAM_NUMBER, .default_json = "0", .doc = "FATReLU threshold applied on load (0: ReLU as trained; the paper's shift is 0.01)"},
    {.key = "sparsity_text", .type = PARAM_STRING, .default_json = "\"\"", .doc = "the text whose x1 sparsity is measured (per layer too); required"},
};

/* The trained weights into the cell's model, which must have the same tensors (it is the model sparsify started from). */
static int take_weights(model *dst, const model *src, const char *dir, cpet_err *err)
{
    if (dst->n_tensors != src->n_tensors || dst->n_params != src->n_params)
        return cpet_fail(err, "%s has %d tensors / %zu parameters, the cell's model %d / %zu: not trained from it", dir, src->n_tensors,
                         src->n_params, dst->n_tensors, dst->n_params);
    for (int i = 0; i < dst->n_tensors; i++) {
        const param_tensor *a = &dst->tensors[i], *b = &src->tensors[i];
        if (strcmp(a->name, b->name) != 0 || a->n != b->n)
            return cpet_fail(err, "%s: tensor %s does not match the cell model's %s", dir, b->name, a->name);
        if (!a->p) return cpet_fail(err, "prosparse: the cell's model is compressed (%s is packed); use compression none", a->name);
    }
    for (int i = 0; i < dst->n_tensors; i++) memcpy(dst->tensors[i].p, src->tensors[i].p, dst->tensors[i].n * sizeof(float));
    dst->cfg.hidden_act = src->cfg.hidden_act;
    dst->cfg.act_threshold = src->cfg.act_threshold;
    return 0;
}

/* The training log's lambda, loss and batch sparsity per step, as curves. */
static int add_curves(const char *dir, json_t *curves, cpet_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sparsify.json", dir);
    json_t *log = json_read_file(path, err);
    if (!log) return -1;
    const char *keys[] = {"lambda", "loss", "sparsity"}, *names[] = {"lambda", "train_loss", "train_sparsity"};
    for (int k = 0; k < 3; k++) {
        json_t *curve = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(log, "log"), i, row)
            json_array_append_new(curve, json_pack("[O, O]", json_object_get(row, "step"), json_object_get(row, keys[k])));
        json_object_set_new(curves, names[k], curve);
    }
    json_decref(log);
    return 0;
}

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    char dir[4096];
    if (method_expand_path(c, "model", dir, sizeof dir, err) != 0) return -1;
    const char *text_path = json_string_value(json_object_get(c->params, "sparsity_text"));
    if (!text_path || !text_path[0]) return cpet_fail(err, "params.sparsity_text (a text file) is required");
    const double threshold = method_param_number(c, "threshold");
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/sparsify.json", dir);
    if (!path_exists(cfg)) return cpet_fail(err, "%s: missing; make the model first with cpet sparsify %s ... -o %s", cfg, c->model_path, dir);
    model trained;
    if (model_load(&trained, dir, err) != 0) return -1;
    int rc = take_weights(c->m, &trained, dir, err);
    model_free(&trained);
    if (rc == 0 && threshold > 0) rc = prosparse_set_threshold(c->m, (float)threshold, err);
    if (rc == 0) rc = add_curves(dir, r->curves, err);
    corpus text;
    int *stream = NULL;
    long n = 0;
    if (rc == 0 && (rc = corpus_read(&text, text_path, err)) == 0) {
        corpus_keep_evenly(&text, c->text_limit);
        rc = corpus_tokenize(&text, c->tok, c->m->cfg.bos_token_id, &stream, &n, err);
        corpus_free(&text);
    }
    prosparse_counts counts;
    prosparse_counts_init(&counts, c->m);
    const int seq = c->m->cfg.max_position_embeddings < 128 ? c->m->cfg.max_position_embeddings : 128;
    if (rc == 0 && prosparse_measure(c->m, stream, n, seq, 8, &counts, NULL, err) != 0) rc = cpet_prefix(err, "%s", text_path);
    free(stream);
    if (rc != 0) return -1;
    json_object_set_new(r->metrics, "sparsity", json_real(prosparse_sparsity_of(&counts, -1)));
    for (int l = 0; l < counts.n_layers; l++) {
        char key[48];
        snprintf(key, sizeof key, "sparsity_layer_%d", l);
        json_object_set_new(r->metrics, key, json_real(prosparse_sparsity_of(&counts, l)));
    }
    return method_score_multiple_choice(c, r, err);
}

const method method_prosparse = {
    .name = "prosparse",
    .doc = "a model cpet sparsify made from the cell's model (ReLU, L1 schedule), optional FATReLU; x1 sparsity measured, then scored",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
