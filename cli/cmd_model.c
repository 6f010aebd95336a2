/* cpet info / cpet forward: look inside a model, and compute what PyTorch would for given ids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "lora.h"
#include "model.h"
#include "safetensors.h"
#include "tensor.h"

int cmd_info(int argc, char **argv)
{
    const char *dir = NULL;
    int as_json = 0;
    const opt opts[] = {OPT_POSITIONAL(&dir, "MODEL_DIR", "an HF model directory or a .gguf file"),
                        OPT_SWITCH("--json", &as_json, "as one JSON object"), OPT_END};
    const opt_command cmd = {.name = "info", .about = "Prints the config, parameter count and every tensor.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    model m;
    cpet_err err;
    if (model_load(&m, dir, &err) != 0) return cli_report(&err);
    const model_config *c = &m.cfg;
    size_t n_params = 0;
    for (int i = 0; i < m.n_tensors; i++) n_params += m.tensors[i].n;
    if (as_json) {
        json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:I}", "model", dir,
                              "vocab_size", c->vocab_size, "hidden_size", c->hidden_size, "intermediate_size",
                              c->intermediate_size, "num_hidden_layers", c->n_layers, "num_attention_heads", c->n_heads,
                              "num_key_value_heads", c->n_kv_heads, "head_dim", c->head_dim, "rms_norm_eps",
                              (double)c->rms_norm_eps, "rope_theta", (double)c->rope_theta, "tie_word_embeddings",
                              c->tie_word_embeddings, "hidden_act", activation_name(c->hidden_act), "parameters",
                              (json_int_t)n_params);
        json_t *ts = json_array();
        for (int i = 0; i < m.n_tensors; i++) {
            json_t *shape = json_array();
            for (int d = 0; d < m.tensors[i].ndim; d++) json_array_append_new(shape, json_integer(m.tensors[i].shape[d]));
            json_array_append_new(ts, json_pack("{s:s, s:o}", "name", m.tensors[i].name, "shape", shape));
        }
        json_object_set_new(j, "tensors", ts);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(j);
    } else {
        printf("model           %s\n", dir);
        printf("architecture    LlamaForCausalLM\n");
        printf("layers          %d\nhidden_size     %d\nintermediate    %d\n", c->n_layers, c->hidden_size,
               c->intermediate_size);
        printf("heads           %d (kv %d, head_dim %d)\n", c->n_heads, c->n_kv_heads, c->head_dim);
        printf("vocab_size      %d\nactivation      %s\nrope_theta      %g\nrms_norm_eps    %g\n", c->vocab_size,
               activation_name(c->hidden_act), (double)c->rope_theta, (double)c->rms_norm_eps);
        printf("tied embeddings %s\nparameters      %zu (%.2f M)\n\n", c->tie_word_embeddings ? "yes" : "no", n_params,
               (double)n_params / 1e6);
        for (int i = 0; i < m.n_tensors; i++) {
            if (m.tensors[i].ndim == 2)
                printf("%-56s [%lld, %lld]\n", m.tensors[i].name, (long long)m.tensors[i].shape[0],
                       (long long)m.tensors[i].shape[1]);
            else
                printf("%-56s [%lld]\n", m.tensors[i].name, (long long)m.tensors[i].shape[0]);
        }
    }
    model_free(&m);
    return 0;
}

/* Reads input_ids (I32/I64, [B, T] or [T]) and optional labels (HF semantics: -100 = ignore). */
static int read_ids(const char *path, int **ids, int **targets, int *B, int *T, cpet_err *err)
{
    st_file f;
    if (st_open(&f, path, err) != 0) return -1;
    const st_tensor *t = st_find(&f, "input_ids");
    int rc = 0;
    if (!t) rc = cpet_fail(err, "%s: no tensor named 'input_ids'", path);
    else if (t->dtype != ST_I32 && t->dtype != ST_I64)
        rc = cpet_fail(err, "%s: input_ids has dtype %s, expected I32 or I64", path, st_dtype_name(t->dtype));
    else if (t->ndim < 1 || t->ndim > 2 || t->numel == 0)
        rc = cpet_fail(err, "%s: input_ids must be [batch, seq] or [seq]", path);
    if (rc != 0) {
        st_close(&f);
        return -1;
    }
    *B = t->ndim == 2 ? (int)t->shape[0] : 1;
    *T = (int)t->shape[t->ndim - 1];
    size_t n = t->numel;
    *ids = malloc(n * sizeof(int));
    *targets = NULL;
    const st_tensor *lab = st_find(&f, "labels");
    if (lab && (lab->numel != n || (lab->dtype != ST_I32 && lab->dtype != ST_I64))) {
        st_close(&f);
        free(*ids);
        return cpet_fail(err, "%s: labels must be I32/I64 with the shape of input_ids", path);
    }
    st_to_int(&f, t, *ids, err);
    if (lab) {
        *targets = malloc(n * sizeof(int));
        st_to_int(&f, lab, *targets, err);
    }
    if (lab) /* HF shifts labels: position t predicts labels[t + 1] */
        for (int b = 0; b < *B; b++)
            for (int s = 0; s < *T; s++) {
                size_t i = (size_t)b * *T + s;
                (*targets)[i] = s + 1 < *T ? (*targets)[i + 1] : -1;
                if ((*targets)[i] < 0) (*targets)[i] = -1;
            }
    st_close(&f);
    return 0;
}

int cmd_forward(int argc, char **argv)
{
    const char *dir = NULL, *adapter_dir = NULL, *ids_path = NULL, *out_path = NULL;
    int grads = 0;
    long threads = 0;
    opt output = OPT_REQUIRED("-o", &out_path, "OUT.safetensors", "logits, loss and (with --grads) gradients");
    output.alias = "--output";
    const opt opts[] = {OPT_POSITIONAL(&dir, "MODEL_DIR", "an HF model directory"),
                        OPT_REQUIRED("--input-ids", &ids_path, "FILE.safetensors", "int tensor input_ids [batch, seq] (and optional labels)"),
                        OPT_STRING("--adapter", &adapter_dir, "DIR", "a PEFT adapter: the base frozen, gradients of A/B only"),
                        OPT_SWITCH("--grads", &grads, "also the gradient of the loss for every trainable tensor"),
                        OPT_THREADS(&threads),
                        output,
                        OPT_END};
    const opt_command cmd = {
        .name = "forward",
        .about = "Reads input_ids [batch, seq] (and optional labels, -100 = ignore; default labels = input_ids) and writes\n"
                 "logits [batch, seq, vocab] and loss [1], the mean next-token cross-entropy. With --grads also:\n"
                 "  grad.<HF name>                 all base weights (no adapter)\n"
                 "  lora.grad.<PEFT param name>    adapter A/B only, base frozen (PEFT's in-memory names,\n"
                 "                                 e.g. ...q_proj.lora_A.default.weight)\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    if (threads) engine_set_threads((int)threads);
    cpet_err err;
    int *ids = NULL, *targets = NULL, B, T, rc = 1;
    if (read_ids(ids_path, &ids, &targets, &B, &T, &err) != 0) return cli_report(&err);
    model m;
    lora_adapter ad;
    memset(&ad, 0, sizeof ad);
    if (model_load(&m, dir, &err) != 0) {
        free(ids);
        free(targets);
        return cli_report(&err);
    }
    if (adapter_dir && lora_load(&ad, &m, adapter_dir, &err) != 0) goto done;
    if (grads) {
        if (adapter_dir ? lora_set_trainable(&ad, 1, &err) : model_set_trainable(&m, NULL, 1, &err)) goto done;
    }
    if (model_forward(&m, ids, targets, B, T, &err) != 0) goto done;
    if (m.n_targets > 0 && !isfinite(m.loss)) {
        cpet_fail(&err, "%s: loss is %f: the weights or the adapter contain NaN/Inf", dir, (double)m.loss);
        goto done;
    }
    if (grads && model_backward(&m, &err) != 0) goto done;

    int n_out = 2 + (grads ? (adapter_dir ? ad.n_tensors : m.n_tensors) : 0);
    st_entry *entries = calloc((size_t)n_out, sizeof *entries);
    char (*names)[200] = calloc((size_t)n_out, sizeof *names);
    int64_t lshape[3] = {B, T, m.cfg.vocab_size}, one = 1;
    float loss = m.loss;
    entries[0] = st_f32_entry("logits", model_logits(&m), 3, lshape);
    entries[1] = st_f32_entry("loss", &loss, 1, &one);
    int kept = 2;
    for (int i = 2; i < n_out; i++) {
        const param_tensor *t = adapter_dir ? &ad.tensors[i - 2] : &m.tensors[i - 2];
        if (!t->g) continue; /* a packed base: frozen, no gradient */
        if (adapter_dir) {
            char live[180];
            lora_live_name(t->name, live, sizeof live);
            snprintf(names[i], sizeof names[i], "lora.grad.%s", live);
        } else {
            snprintf(names[i], sizeof names[i], "grad.%s", t->name);
        }
        entries[kept++] = st_f32_entry(names[i], t->g, t->ndim, t->shape);
    }
    const char *meta[] = {"format", "pt", "producer", "cpet forward"};
    rc = st_write(out_path, entries, kept, meta, 2, &err) != 0;
    free(entries);
    free(names);
    if (rc == 0) fprintf(stderr, "loss %.6f over %d targets -> %s\n", (double)loss, m.n_targets, out_path);
done:
    if (rc != 0) cli_report(&err);
    lora_free(&ad);
    model_free(&m);
    free(ids);
    free(targets);
    return rc;
}

/* cpet init CONFIG.json -o DIR: a model with random weights (HF init, N(0, 0.02)) for benchmarks and
 * for checking a runtime against another on the same weights. */
int cmd_init(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *method = NULL;
    long seed = 0, group = 128;
    int head = 0, embeddings = 0;
    double std = 0.02;
    const opt opts[] = {OPT_POSITIONAL(&config, "CONFIG.json", "an HF config.json: the architecture"),
                        OPT_SEED(&seed),
                        OPT_NUMBER("--std", &std, "matrices ~ N(0, std); norm weights 1"),
                        OPT_STRING("--method", &method, "FORMAT", "layer linears packed directly: q4_0, q8_0, int4, int8, int3, nf4 or w8a8"),
                        OPT_INT("--group", &group, -1, 1 << 20, "with --method int4 / int3: group size"),
                        OPT_SWITCH("--lm-head", &head, "with --method: the LM head packed too"),
                        OPT_SWITCH("--embeddings", &embeddings, "with --method: the embedding table packed too"),
                        OPT_REQUIRED("-o", &out, "MODEL_DIR", "config.json and model.safetensors"),
                        OPT_END};
    const opt_command cmd = {.name = "init",
                             .about = "Random weights of any LLaMA shape, e.g. to benchmark a LLaMA-2-shaped model. With --method the\n"
                                      "matrices are packed one at a time, so a 7B shape never needs its 28 GB of f32.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    model_config c;
    model m;
    cpet_err err;
    qformat f = QF_COUNT;
    if (method && qformat_parse(method, &f) != 0) return cli_error("init: --method '%s' is not a packed format (q4_0, q8_0, int4, int8, int3, nf4, w8a8)", method);
    if (config_load(&c, config, &err) != 0) return cli_report(&err);
    if (method) {
        if (model_create_random_packed(&m, &c, f, (int)group, (float)std, (unsigned long long)seed, head, embeddings, &err) != 0)
            return cli_report(&err);
    } else {
        if (model_create(&m, &c, &err) != 0) return cli_report(&err);
        model_init_random(&m, (float)std, (unsigned long long)seed);
    }
    int rc = model_save(&m, out, &err);
    size_t n_params = m.n_params;
    model_free(&m);
    if (rc != 0) return cli_report(&err);
    fprintf(stderr, "init: %zu parameters -> %s\n", n_params, out);
    return 0;
}
