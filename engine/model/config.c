#include "config.h"

#include <jansson.h>
#include <limits.h>
#include <string.h>

#include "fileio.h"

static const struct {
    const char *name;
    activation act;
} act_names[] = {
    {"silu", ACT_SILU},         {"swish", ACT_SILU},   {"relu", ACT_RELU},
    {"gelu", ACT_GELU},         {"gelu_new", ACT_GELU_TANH}, {"gelu_pytorch_tanh", ACT_GELU_TANH},
    {"fatrelu", ACT_FATRELU},
};

const char *activation_name(activation a)
{
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (act_names[i].act == a) return act_names[i].name;
    return "?";
}

int activation_parse(const char *s, activation *out)
{
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(act_names[i].name, s) == 0) {
            *out = act_names[i].act;
            return 0;
        }
    return -1;
}

/* Reads an integer key that must lie in [lo, INT_MAX]; `required` keys that are absent are an error,
 * others keep *out. Jansson reads 64-bit integers: a value past int is refused, never truncated. */
static int get_int(json_t *root, const char *key, int *out, int required, int lo, const char *path, cpet_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return required ? cpet_fail(err, "%s: missing required key '%s'", path, key) : 0;
    if (!json_is_integer(v)) return cpet_fail(err, "%s: key '%s' must be an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > INT_MAX)
        return cpet_fail(err, "%s: key '%s' is %lld, outside [%d, %d]", path, key, (long long)x, lo, INT_MAX);
    *out = (int)x;
    return 0;
}

static int get_float(json_t *root, const char *key, float *out, const char *path, cpet_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return cpet_fail(err, "%s: key '%s' must be a number", path, key);
    *out = (float)json_number_value(v);
    return 0;
}

/* Families cpet knows but has not verified against Hugging Face transformers (their fixtures need a machine
 * with torch): refused by name, with what each would need. */
static const struct {
    const char *model_type, *architecture, *needs;
} unverified[] = {
    {"mistral", "MistralForCausalLM", "sliding-window attention"},
    {"qwen2", "Qwen2ForCausalLM", "q/k/v projection biases"},
    {"minicpm", "MiniCPMForCausalLM", "the embedding scale, depth-scaled residuals and width-scaled logits"},
};

static int refuse_unverified(const char *name, const char *path, cpet_err *err)
{
    for (size_t i = 0; i < sizeof unverified / sizeof *unverified; i++)
        if (!strcmp(name, unverified[i].model_type) || !strcmp(name, unverified[i].architecture))
            return cpet_fail(err, "%s: %s is not enabled yet: its %s are not verified against Hugging Face transformers' outputs (only "
                                  "LlamaForCausalLM and ProSparse's SparseLlamaForCausalLM are)",
                             path, unverified[i].architecture, unverified[i].needs);
    return 0;
}

static int check_architecture(json_t *root, const char *path, cpet_err *err)
{
    json_t *mt = json_object_get(root, "model_type");
    if (mt && !json_is_string(mt)) return cpet_fail(err, "%s: key 'model_type' must be a string", path);
    if (mt && refuse_unverified(json_string_value(mt), path, err) != 0) return -1;
    json_t *archs = json_object_get(root, "architectures");
    for (size_t i = 0; json_is_array(archs) && i < json_array_size(archs); i++)
        if (json_is_string(json_array_get(archs, i)) && refuse_unverified(json_string_value(json_array_get(archs, i)), path, err) != 0) return -1;
    /* ProSparse's checkpoints (SparseLlamaForCausalLM, model_type sparsellama) are LLaMA's modeling code
     * with the activation chosen by hidden_act (relu, fatrelu with hidden_act_param; its shiftrelu is not
     * read, so it is refused below) */
    if (mt && strcmp(json_string_value(mt), "llama") != 0 && strcmp(json_string_value(mt), "sparsellama") != 0)
        return cpet_fail(err, "%s: unknown architecture: model_type '%s' (cpet supports 'llama' and ProSparse's 'sparsellama')", path,
                         json_string_value(mt));
    json_t *arch = json_object_get(root, "architectures");
    if (arch && json_is_array(arch)) {
        for (size_t i = 0; i < json_array_size(arch); i++) {
            const char *a = json_string_value(json_array_get(arch, i));
            if (!a || (strcmp(a, "LlamaForCausalLM") != 0 && strcmp(a, "SparseLlamaForCausalLM") != 0))
                return cpet_fail(err, "%s: unknown architecture '%s' (cpet supports LlamaForCausalLM and ProSparse's SparseLlamaForCausalLM)",
                                 path, a ? a : "?");
        }
    }
    if (!mt && !arch) return cpet_fail(err, "%s: no model_type or architectures: unknown architecture", path);
    const char *unsupported_true[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, unsupported_true[i]);
        if (v && json_is_true(v)) return cpet_fail(err, "%s: '%s: true' is not supported", path, unsupported_true[i]);
    }
    return 0;
}

/* rope_theta lives at the top level (transformers < 5) or in rope_parameters (5.x); scaling is unsupported. */
static int read_rope(json_t *root, model_config *c, const char *path, cpet_err *err)
{
    if (get_float(root, "rope_theta", &c->rope_theta, path, err) != 0) return -1;
    const char *keys[] = {"rope_parameters", "rope_scaling"};
    for (int k = 0; k < 2; k++) {
        json_t *rp = json_object_get(root, keys[k]);
        if (!rp || json_is_null(rp)) continue;
        if (!json_is_object(rp)) return cpet_fail(err, "%s: key '%s' must be an object", path, keys[k]);
        if (get_float(rp, "rope_theta", &c->rope_theta, path, err) != 0) return -1;
        json_t *type = json_object_get(rp, "rope_type");
        if (!type) type = json_object_get(rp, "type");
        if (type && !(json_is_string(type) && strcmp(json_string_value(type), "default") == 0))
            return cpet_fail(err, "%s: %s.rope_type '%s' is not supported (only 'default')", path, keys[k],
                             json_is_string(type) ? json_string_value(type) : "?");
    }
    return 0;
}

int config_validate(const model_config *c, const char *path, cpet_err *err)
{
    const struct {
        const char *key;
        int v;
    } sizes[] = {{"vocab_size", c->vocab_size},      {"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
                 {"num_hidden_layers", c->n_layers}, {"num_attention_heads", c->n_heads},
                 {"num_key_value_heads", c->n_kv_heads}, {"head_dim", c->head_dim}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v <= 0) return cpet_fail(err, "%s: %s must be positive (got %d)", path, sizes[i].key, sizes[i].v);
    if (c->n_heads % c->n_kv_heads != 0)
        return cpet_fail(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
                         c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0) return cpet_fail(err, "%s: head_dim %d must be even for RoPE", path, c->head_dim);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0))
        return cpet_fail(err, "%s: rms_norm_eps and rope_theta must be positive", path);
    return 0;
}

int config_load(model_config *c, const char *path, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    json_t *root = json_read_file(path, err);
    if (!root) return -1;
    int rc = -1;
    if (!json_is_object(root)) {
        cpet_fail(err, "%s: not a JSON object", path);
        goto done;
    }
    if (check_architecture(root, path, err) != 0) goto done;
    c->rms_norm_eps = 1e-6f;
    c->rope_theta = 10000.0f;
    c->bos_token_id = c->eos_token_id = -1;
    c->max_position_embeddings = 2048;
    /* sizes are positive; token ids may be -1 (none), as cpet itself means it */
    if (get_int(root, "vocab_size", &c->vocab_size, 1, 1, path, err) || get_int(root, "hidden_size", &c->hidden_size, 1, 1, path, err) ||
        get_int(root, "intermediate_size", &c->intermediate_size, 1, 1, path, err) ||
        get_int(root, "num_hidden_layers", &c->n_layers, 1, 1, path, err) ||
        get_int(root, "num_attention_heads", &c->n_heads, 1, 1, path, err))
        goto done;
    c->n_kv_heads = c->n_heads;
    if (get_int(root, "num_key_value_heads", &c->n_kv_heads, 0, 1, path, err) ||
        get_int(root, "max_position_embeddings", &c->max_position_embeddings, 0, 1, path, err) ||
        get_int(root, "bos_token_id", &c->bos_token_id, 0, -1, path, err) ||
        get_int(root, "eos_token_id", &c->eos_token_id, 0, -1, path, err))
        goto done;
    c->head_dim = c->n_heads > 0 ? c->hidden_size / c->n_heads : 0;
    if (get_int(root, "head_dim", &c->head_dim, 0, 1, path, err) || get_float(root, "rms_norm_eps", &c->rms_norm_eps, path, err))
        goto done;
    if (read_rope(root, c, path, err) != 0) goto done;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie)) {
        cpet_fail(err, "%s: key 'tie_word_embeddings' must be true or false", path);
        goto done;
    }
    c->tie_word_embeddings = tie ? json_is_true(tie) : 0; /* LlamaConfig defaults to untied */
    json_t *act = json_object_get(root, "hidden_act");
    c->hidden_act = ACT_SILU;
    if (act) {
        if (!json_is_string(act) || activation_parse(json_string_value(act), &c->hidden_act) != 0) {
            cpet_fail(err, "%s: hidden_act '%s' is not supported (silu, relu, fatrelu, gelu, gelu_pytorch_tanh)", path,
                      json_is_string(act) ? json_string_value(act) : "?");
            goto done;
        }
    }
    if (get_float(root, "fatrelu_threshold", &c->act_threshold, path, err) != 0) goto done;
    /* ProSparse's checkpoints write hidden_act "fatrelu" with its threshold as hidden_act_param */
    if (c->hidden_act == ACT_FATRELU && !json_object_get(root, "fatrelu_threshold") &&
        get_float(root, "hidden_act_param", &c->act_threshold, path, err) != 0)
        goto done;
    if (c->act_threshold < 0.0f) {
        cpet_fail(err, "%s: the FATReLU threshold %g is negative", path, (double)c->act_threshold);
        goto done;
    }
    if (c->hidden_act == ACT_RELU && c->act_threshold != 0.0f) c->hidden_act = ACT_FATRELU;
    if (c->hidden_act == ACT_FATRELU && c->act_threshold == 0.0f) c->hidden_act = ACT_RELU;
    json_t *moe = json_object_get(root, "moefication");
    if (moe && (!json_is_object(moe) || get_int(moe, "experts", &c->moe_experts, 1, 1, path, err) ||
                get_int(moe, "top_k", &c->moe_top_k, 1, 1, path, err))) {
        if (!json_is_object(moe)) cpet_fail(err, "%s: 'moefication' must be an object {experts, top_k}", path);
        goto done;
    }
    if (moe && (c->moe_experts < 2 || c->moe_top_k < 1 || c->moe_top_k > c->moe_experts ||
                c->intermediate_size % c->moe_experts)) {
        cpet_fail(err, "%s: moefication: %d experts / top_k %d do not fit intermediate_size %d", path, c->moe_experts,
                  c->moe_top_k, c->intermediate_size);
        goto done;
    }
    rc = config_validate(c, path, err);
done:
    json_decref(root);
    return rc;
}

int config_save(const model_config *c, const char *path, cpet_err *err)
{
    json_t *j = json_object();
    json_object_set_new(j, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(j, "model_type", json_string("llama"));
    json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(j, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(j, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(j, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(j, "head_dim", json_integer(c->head_dim));
    json_object_set_new(j, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(j, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(j, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(j, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    /* FATReLU is not an HF activation: save as relu and keep the threshold beside it */
    json_object_set_new(j, "hidden_act", json_string(c->hidden_act == ACT_FATRELU ? "relu" : activation_name(c->hidden_act)));
    if (c->hidden_act == ACT_FATRELU) json_object_set_new(j, "fatrelu_threshold", json_real(c->act_threshold));
    if (c->bos_token_id >= 0) json_object_set_new(j, "bos_token_id", json_integer(c->bos_token_id));
    if (c->eos_token_id >= 0) json_object_set_new(j, "eos_token_id", json_integer(c->eos_token_id));
    if (c->moe_experts > 0)
        json_object_set_new(j, "moefication", json_pack("{s:i, s:i}", "experts", c->moe_experts, "top_k", c->moe_top_k));
    json_object_set_new(j, "attention_bias", json_false());
    json_object_set_new(j, "mlp_bias", json_false());
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    int rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

double config_weight_count(const model_config *c)
{
    const double d = c->hidden_size, f = c->intermediate_size, q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    const double embed = (double)c->vocab_size * d * (c->tie_word_embeddings ? 1 : 2);
    return embed + (double)c->n_layers * (2 * d * q + 2 * d * kv + 3 * d * f);
}
